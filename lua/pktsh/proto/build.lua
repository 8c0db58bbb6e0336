-- build.lua - small frame builders for tests and traffic, in the spirit of
-- scapy: each returns a whole Ethernet frame as a Lua string, with
-- lengths and checksums (IPv4 header, UDP/TCP/ICMP, the IPv6 pseudo
-- header) filled in.
--
--   local b = pktsh.build
--   b.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 1234, dport = 53,
--          payload = "hello", vlan = 100}
--   b.udp6{dst = "2001:2::2", dport = 5000, payload = 64}   -- 64 filler bytes
--   b.tcp4{dport = 80, flags = "S"}     -- or a number; letters F S R P A U E C
--   b.icmp4_echo{id = 1, seq = 2}       b.icmp6_echo{...}
--
-- Common fields: smac, dmac (default 02:00:00:00:00:01 -> :02, addresses no
-- host owns, so a receiving stack drops the frame quietly instead of
-- answering), vlan (an id, {id, pcp=}, or a list of ids for stacked tags,
-- outer first), ttl (hop limit for IPv6), tos, id (IPv4), flow (IPv6),
-- payload (a string, or a number of filler bytes), pad (true: pad the
-- frame to the 60-byte Ethernet minimum). Addresses default to
-- 198.18.0.1 -> 198.18.0.2 and 2001:2::1 -> 2001:2::2.
-- Bad arguments raise an error (this is a tool for writing tests).
local bit = require "bit"
local addr = require "pktsh.proto.addr"
local numbers = require "pktsh.proto.numbers"
local ETH, IP = numbers.ETH, numbers.IPPROTO
local band, bor, rshift, lshift, bnot = bit.band, bit.bor, bit.rshift, bit.lshift, bit.bnot
local char, byte, rep = string.char, string.byte, string.rep

local M = {}

-- v as 2 (u16) or 4 (u32) bytes in network order.
local function u16(v) return char(band(rshift(v, 8), 0xff), band(v, 0xff)) end
local function u32(v)
  return char(band(rshift(v, 24), 0xff), band(rshift(v, 16), 0xff),
              band(rshift(v, 8), 0xff), band(v, 0xff))
end
M.u16, M.u32 = u16, u32

local function mac(s, what)
  if type(s) == "string" and #s == 6 and not s:find(":") then return s end
  local t = {}
  for h in tostring(s):gmatch("[^:%-]+") do
    local v = tonumber(h, 16)
    if not v or #h > 2 then t = nil; break end
    t[#t + 1] = char(v)
  end
  if not t or #t ~= 6 then error(string.format("bad %s '%s'", what, tostring(s)), 3) end
  return table.concat(t)
end

local function in4(s, what)
  local r = type(s) == "string" and addr.parse4(s)
  if not r then error(string.format("bad IPv4 %s '%s'", what, tostring(s)), 3) end
  return r
end

local function in6(s, what)
  local r = type(s) == "string" and addr.parse6(s)
  if not r then error(string.format("bad IPv6 %s '%s'", what, tostring(s)), 3) end
  return r
end

-- The Internet checksum of s (folded, complemented), starting from the
-- partial sum init.
local function csum(s, init)
  local sum, n = init or 0, #s
  local i = 1
  while i + 7 <= n do
    local a, b, c, d, e, f, g, h = byte(s, i, i + 7)
    sum = sum + a * 256 + b + c * 256 + d + e * 256 + f + g * 256 + h
    i = i + 8
  end
  while i + 1 <= n do
    local a, b = byte(s, i, i + 1)
    sum = sum + a * 256 + b
    i = i + 2
  end
  if i == n then sum = sum + byte(s, i) * 256 end
  while sum > 0xffff do sum = band(sum, 0xffff) + rshift(sum, 16) end
  return band(bnot(sum), 0xffff)
end
M.checksum = csum

local function payload_of(o)
  local p = o.payload
  if p == nil then return "" end
  if type(p) == "number" then
    local filler = "pktsh-test-payload "
    return rep(filler, math.floor(p / #filler) + 1):sub(1, p)
  end
  if type(p) ~= "string" then error("payload must be a string or a length", 3) end
  return p
end

local function num(o, k, default, max)
  local v = o[k]
  if v == nil then return default end
  if type(v) ~= "number" or v < 0 or v > max or v % 1 ~= 0 then
    error(string.format("bad %s '%s'", k, tostring(v)), 4)
  end
  return v
end

-- Ethernet header (with VLAN tags) for an ethertype.
local function eth(o, ethertype)
  local h = {mac(o.dmac or "02:00:00:00:00:02", "dmac"),
             mac(o.smac or "02:00:00:00:00:01", "smac")}
  local v = o.vlan
  if v ~= nil then
    local tags
    if type(v) == "number" then tags = {{id = v}}
    elseif type(v) == "table" and v.id then tags = {v}
    elseif type(v) == "table" then
      tags = {}
      for i, id in ipairs(v) do tags[i] = type(id) == "table" and id or {id = id} end
    else error("bad vlan '" .. tostring(v) .. "'", 3) end
    for i, t in ipairs(tags) do
      if type(t.id) ~= "number" or t.id < 0 or t.id > numbers.VLAN_ID_MASK then
        error("bad vlan id '" .. tostring(t.id) .. "'", 3)
      end
      -- 802.1ad for the outer of stacked tags, as switches do, unless told.
      local tpid = t.tpid or ((#tags > 1 and i == 1) and ETH.QINQ or ETH.VLAN)
      h[#h + 1] = u16(tpid) .. u16(bor(lshift(band(t.pcp or 0, 7), 13), t.id))
    end
  end
  h[#h + 1] = u16(ethertype)
  return table.concat(h)
end
-- The Ethernet header (o.src, o.dst, o.vlan tags) before ethertype.
M.eth = function(o, ethertype) return eth(o or {}, ethertype or ETH.IP4) end

local function finish(o, frame)
  if o.pad and #frame < 60 then frame = frame .. rep("\0", 60 - #frame) end
  return frame
end

-- IPv4 header for a payload of plen bytes.
local function ip4_header(o, proto, plen)
  local src, dst = in4(o.src or "198.18.0.1", "src"), in4(o.dst or "198.18.0.2", "dst")
  local total = 20 + plen
  if total > 0xffff then error("IPv4 datagram too long", 3) end
  local flags = o.df and 0x4000 or 0
  local h = char(0x45, num(o, "tos", 0, 255)) .. u16(total) ..
            u16(num(o, "id", 1, 0xffff)) .. u16(flags) ..
            char(num(o, "ttl", 64, 255), proto) .. "\0\0" .. src .. dst
  local sum = csum(h)
  return h:sub(1, 10) .. u16(sum) .. h:sub(13), src, dst
end

local function ip6_header(o, nh, plen)
  local src, dst = in6(o.src or "2001:2::1", "src"), in6(o.dst or "2001:2::2", "dst")
  if plen > 0xffff then error("IPv6 payload too long (no jumbograms)", 3) end
  local vtf = bor(0x60000000, lshift(num(o, "tos", 0, 255), 20), num(o, "flow", 0, 0xfffff))
  local hlim = o.hlim or o.ttl or 64
  return u32(vtf) .. u16(plen) .. char(nh, num({hlim = hlim}, "hlim", 64, 255)) .. src .. dst,
         src, dst
end

-- Partial sum of a pseudo header (not complemented, not folded).
local function pseudo_sum(src, dst, proto, len)
  local s = src .. dst
  local sum = 0
  for i = 1, #s, 2 do
    local a, b = byte(s, i, i + 1)
    sum = sum + a * 256 + b
  end
  return sum + proto + rshift(len, 16) + band(len, 0xffff)
end

-- Transport checksum over the pseudo header and the segment, with the
-- checksum field at byte offset off (0-based) of seg.
local function l4_sum(seg, off, src, dst, proto, zero_is_ffff)
  local s = csum(seg, pseudo_sum(src, dst, proto, #seg))
  if s == 0 and zero_is_ffff then s = 0xffff end
  return seg:sub(1, off) .. u16(s) .. seg:sub(off + 3)
end

local function ip_frame(o, v6, proto, seg, sumoff, zero_is_ffff)
  if v6 then
    local h, src, dst = ip6_header(o, proto, #seg)
    if sumoff then seg = l4_sum(seg, sumoff, src, dst, proto, zero_is_ffff) end
    return finish(o, eth(o, ETH.IP6) .. h .. seg)
  end
  local h, src, dst = ip4_header(o, proto, #seg)
  if sumoff then seg = l4_sum(seg, sumoff, src, dst, proto, zero_is_ffff) end
  return finish(o, eth(o, ETH.IP4) .. h .. seg)
end

local function udp(o, v6)
  local pl = payload_of(o)
  local seg = u16(num(o, "sport", 12345, 0xffff)) .. u16(num(o, "dport", 5000, 0xffff)) ..
              u16(8 + #pl) .. "\0\0" .. pl
  if o.nosum and not v6 then return ip_frame(o, v6, IP.UDP, seg, nil) end
  return ip_frame(o, v6, IP.UDP, seg, 6, true)
end

function M.udp4(o) return udp(o or {}, false) end
function M.udp6(o) return udp(o or {}, true) end

local tcp_flag_bits = {F = 0x01, S = 0x02, R = 0x04, P = 0x08, A = 0x10,
                       U = 0x20, E = 0x40, C = 0x80}

local function tcp_flags(f)
  if f == nil then return 0x02 end
  if type(f) == "number" then return band(f, 0xff) end
  local v = 0
  for c in tostring(f):upper():gmatch(".") do
    local b = tcp_flag_bits[c]
    if not b then error("bad TCP flag '" .. c .. "' (use F S R P A U E C)", 4) end
    v = bor(v, b)
  end
  return v
end

-- The option bytes as given: a whole number of 32-bit words, as the data
-- offset counts them.
local function tcp_options(o)
  local opts = o.options or ""
  if type(opts) ~= "string" or #opts % 4 ~= 0 or #opts > 40 then
    error("options: a string of 0-40 bytes, a multiple of 4 (pad with \\1 or \\0)", 4)
  end
  return opts
end

local function tcp(o, v6)
  local pl = payload_of(o)
  local opts = tcp_options(o)
  local doff = num(o, "doff", 5 + #opts / 4, 15)
  local seg = u16(num(o, "sport", 12345, 0xffff)) .. u16(num(o, "dport", 5000, 0xffff)) ..
              u32(num(o, "seq", 1, 0xffffffff)) .. u32(num(o, "ack", 0, 0xffffffff)) ..
              char(doff * 16, tcp_flags(o.flags)) .. u16(num(o, "win", 65535, 0xffff)) ..
              "\0\0" .. u16(num(o, "urp", 0, 0xffff)) .. opts .. pl
  return ip_frame(o, v6, IP.TCP, seg, 16, false)
end

-- An Ethernet frame with a TCP segment over IPv4 (tcp4) or IPv6 (tcp6):
-- src, dst, sport, dport, seq, ack, flags ("SA"...), win, urp, options
-- (the option bytes, padded to 32-bit words), doff (the data offset in
-- words, to build a wrong one), payload.
function M.tcp4(o) return tcp(o or {}, false) end
function M.tcp6(o) return tcp(o or {}, true) end

-- ICMP echo request (type 8; o.type = 0 for a reply).
function M.icmp4_echo(o)
  o = o or {}
  local pl = payload_of(o)
  local msg = char(num(o, "type", 8, 255), num(o, "code", 0, 255)) .. "\0\0" ..
              u16(num(o, "id", 1, 0xffff)) .. u16(num(o, "seq", 1, 0xffff)) .. pl
  msg = msg:sub(1, 2) .. u16(csum(msg)) .. msg:sub(5)
  -- The IPv4 id is the header's; the echo id above is the message's.
  local ipo = setmetatable({id = o.ip_id}, {__index = o})
  return ip_frame(ipo, false, IP.ICMP, msg, nil)
end

-- ICMPv6 echo request (type 128; o.type = 129 for a reply).
function M.icmp6_echo(o)
  o = o or {}
  local pl = payload_of(o)
  local msg = char(num(o, "type", 128, 255), num(o, "code", 0, 255)) .. "\0\0" ..
              u16(num(o, "id", 1, 0xffff)) .. u16(num(o, "seq", 1, 0xffff)) .. pl
  return ip_frame(o, true, IP.ICMPV6, msg, 2, false)
end

-- Any IPv4 / IPv6 datagram with a ready-made payload (no transport sum).
-- An Ethernet frame with a bare IPv4 (ip4) or IPv6 (ip6) packet: src,
-- dst, proto (default 253), payload.
function M.ip4(o)
  o = o or {}
  return ip_frame(o, false, num(o, "proto", 253, 255), payload_of(o), nil)
end
-- An Ethernet frame with a bare IPv6 packet (see ip4).
function M.ip6(o)
  o = o or {}
  return ip_frame(o, true, num(o, "proto", 253, 255), payload_of(o), nil)
end

return M
