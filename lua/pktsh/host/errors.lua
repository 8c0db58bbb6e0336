-- errors.lua - the C side reports failure as an int status plus a
-- struct pktsh_err; this turns that into Lua's `nil, err`.
local ffi = require "ffi"

local M = {}

function M.new()
  return ffi.new("struct pktsh_err")
end

function M.message(err)
  return ffi.string(err.msg)
end

-- Raised only for misuse of the API (a wrong argument type), never for
-- conditions of the world such as a missing file.
function M.argcheck(cond, n, fname, expected)
  if not cond then
    error(string.format("bad argument #%d to '%s' (%s expected)", n, fname, expected), 3)
  end
end

function M.selftest()
  local e = M.new()
  assert(M.message(e) == "" and e.errnum == 0, "a new error is empty")
  local ok, err = pcall(function() M.argcheck(false, 2, "f", "string") end)
  assert(not ok and err:find("bad argument #2 to 'f' %(string expected%)"), err)
  M.argcheck(true, 1, "f", "string")
end

return M
