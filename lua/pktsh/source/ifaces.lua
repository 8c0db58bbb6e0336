-- ifaces.lua - the interfaces a capture can open (pktsh.interfaces), as
-- libpcap lists them for tcpdump -D.
--
--   for _, i in ipairs(pktsh.interfaces()) do print(i.name, i.up) end
--   -> {name, description (or nil), up, running, loopback, wireless
--       (booleans), status ("connected", "disconnected", "unknown" or nil
--       where it does not apply), flags (the raw bits)} in libpcap's order
--   pktsh.interfaces.text(i, n) -> tcpdump -D's line for entry n:
--       "1.eth0 [Up, Running, Connected]"
--   pktsh.interfaces.exists(name) -> whether name is a network interface
--       here (what pktsh.open and pktsh.parallel open live)
local ffi = require "ffi"
local bit = require "bit"
local errors = require "pktsh.host.errors"
require "pktsh.cdef"

local C = ffi.C
local band = bit.band

local M = {}

local STATUS = {[C.PKTSH_IF_STATUS_UNKNOWN] = "unknown",
  [C.PKTSH_IF_STATUS_CONNECTED] = "connected",
  [C.PKTSH_IF_STATUS_DISCONNECTED] = "disconnected"}

local function entry(d)
  local f = d.flags
  local desc = ffi.string(d.description)
  return {name = ffi.string(d.name), description = desc ~= "" and desc or nil,
    flags = f, up = band(f, C.PKTSH_IF_UP) ~= 0,
    running = band(f, C.PKTSH_IF_RUNNING) ~= 0,
    loopback = band(f, C.PKTSH_IF_LOOPBACK) ~= 0,
    wireless = band(f, C.PKTSH_IF_WIRELESS) ~= 0,
    status = STATUS[band(f, C.PKTSH_IF_STATUS_MASK)]}
end

-- The list, or nil and why.
function M.list()
  local err, max = errors.new(), 64
  while true do
    local buf = ffi.new("struct pktsh_iface[?]", max)
    local n = C.pktsh_ifaces(buf, max, err)
    if n < 0 then return nil, errors.message(err) end
    if n <= max then
      local t = {}
      for i = 0, n - 1 do t[i + 1] = entry(buf[i]) end
      return t
    end
    max = n
  end
end

local WIRELESS_STATUS = {unknown = ", Association status unknown",
  connected = ", Associated", disconnected = ", Not associated"}
local WIRED_STATUS = {unknown = ", Connection status unknown",
  connected = ", Connected", disconnected = ", Disconnected"}

-- tcpdump -D's text for interface i, numbered n.
function M.text(i, n)
  local s = string.format("%d.%s", n, i.name)
  if i.description then s = s .. " (" .. i.description .. ")" end
  if i.flags == 0 then return s end
  local names = {}
  if i.up then names[#names + 1] = "Up" end
  if i.running then names[#names + 1] = "Running" end
  if i.loopback then names[#names + 1] = "Loopback" end
  if i.wireless then names[#names + 1] = "Wireless" end
  local state = #names > 0 and table.concat(names, ", ") or "none"
  local status = (i.wireless and WIRELESS_STATUS or WIRED_STATUS)[i.status] or ""
  return s .. " [" .. state .. status .. "]"
end

-- Whether name is a network interface of this network namespace. A name
-- with a slash (a path), "." or ".." never is, whatever /sys holds.
function M.exists(name)
  if type(name) ~= "string" or name:find("/", 1, true) or name == "." or name == ".." then
    return false
  end
  local f = io.open("/sys/class/net/" .. name .. "/ifindex", "r")
  if f then f:close() end
  return f ~= nil
end

return setmetatable(M, {__call = function(_, ...) return M.list(...) end})
