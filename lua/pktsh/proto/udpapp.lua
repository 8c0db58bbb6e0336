-- udpapp.lua - what tcpdump 4.99.3 prints, without -v, for the payload of
-- a UDP datagram on a few well-known ports besides DNS (dnstext's):
-- BOOTP/DHCP (67, 68), NTP (123) and DHCPv6 (546, 547). Other ports keep
-- "UDP, length N". Bytes are read through the checked accessors and
-- never past the datagram or the capture: a cut message ends as
-- tcpdump's does, with " [|proto]".
local bit = require "bit"

local band, rshift = bit.band, bit.rshift
local fmt = string.format

local M = {}

local function bootp(p, off, len, stop)
  if off + 1 > stop then return " [|bootp]" end
  local op = p:u8(off)
  local s = "BOOTP/DHCP, " .. (op == 1 and "Request" or op == 2 and "Reply"
    or fmt("unknown (0x%02x)", op))
  if off + 3 > stop then return s .. " [|bootp]" end
  if p:u8(off + 1) == 1 and p:u8(off + 2) == 6 and op == 1 then
    if off + 34 > stop then return s .. " [|bootp]" end
    local m = {}
    for i = 0, 5 do m[#m + 1] = fmt("%02x", p:u8(off + 28 + i)) end
    s = s .. " from " .. table.concat(m, ":")
  end
  return s .. fmt(", length %d", len)
end

local ntp_modes = {[0] = "unspecified", "symmetric active", "symmetric passive", "Client",
  "Server", "Broadcast", "Control Message", "Reserved"}

local function ntp(p, off, len, stop)
  if off + 1 > stop then return " [|ntp]" end
  local status = p:u8(off)
  return fmt("NTPv%d, %s, length %d", band(rshift(status, 3), 7), ntp_modes[band(status, 7)], len)
end

local dhcp6_types = {"solicit", "advertise", "request", "confirm", "renew", "rebind", "reply",
  "release", "decline", "reconfigure", "inf-req", "relay-fwd", "relay-reply", "leasequery",
  "leasequery-reply"}

local function dhcp6(p, off, _, stop)
  if off + 4 > stop then return "dhcp6 [|dhcp6]" end
  local t = p:u8(off)
  return "dhcp6 " .. (dhcp6_types[t] or fmt("msgtype-%d", t))
end

-- tcpdump's dispatch by port, in its order, from DNS on: each entry the
-- ports that select it and its printer here, or false for one not ported
-- (the datagram stays "UDP, length N", so that a port pair meeting one of
-- those first never prints as a later one).
local DISPATCH = {
  {{525, 69}, false},                              -- timed, TFTP
  {{67, 68}, bootp},
  {{520, 654, 500, 4500, 7500, 8500, 161, 162}, false},  -- RIP, AODV, ISAKMP, SNMP
  {{123}, ntp},
  {{88, 750, 1701, 137, 138, 2103, 2104, 7000, 7001, 7002, 7003, 7004, 7005, 7006, 7007,
    7008, 7009, 521}, false},                      -- Kerberos, L2TP, NetBIOS, Zephyr, RX, RIPng
  {{546, 547}, dhcp6},
}

local RANK = {}          -- port -> its entry's place in DISPATCH
for i, d in ipairs(DISPATCH) do
  for _, port in ipairs(d[1]) do RANK[port] = i end
end

-- The text after "a.p > b.q: " for the payload at off (len bytes, as
-- tcpdump counts them: the smaller of the UDP and IP lengths), or nil.
-- stop: the end of what may be read (the datagram's or the capture's).
function M.text(p, sp, dp, off, len, stop)
  local i, j = RANK[sp], RANK[dp]
  if j and (not i or j < i) then i = j end
  local printer = i and DISPATCH[i][2]
  return printer and printer(p, off, len, stop) or nil
end

return M
