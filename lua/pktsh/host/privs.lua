-- privs.lua - `pktsh -Z USER`: every opener hands what it opened (a
-- source, a fanout group, an XDP rule set, a sender) to drop(), and the
-- first one gives root up (src/privs.c), as tcpdump does after opening
-- its input. When the drop fails, the object is closed: nothing is used
-- with the privileges -Z was meant to remove.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}

-- obj, or nil and why (obj closed).
function M.drop(obj)
  local e = errors.new()
  if C.pktsh_privdrop(e) ~= 0 then
    obj:close()
    return nil, errors.message(e)
  end
  return obj
end

-- A script's -Z USER (scripts/dump.lua -Z): the first source opened
-- after this gives root up for USER. true, or nil and why.
function M.request(user)
  if type(user) ~= "string" or C.pktsh_privs_request(user) ~= 0 then
    return nil, string.format("no user '%s'", tostring(user))
  end
  return true
end

-- Whether -Z still has to drop (for what cannot be undone after it).
function M.pending()
  return C.pktsh_privs_pending() ~= 0
end

return M
