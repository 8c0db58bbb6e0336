-- addr.lua - addresses (module pktsh.proto.addr): the one parser and the
-- one printer of MAC, IPv4 and IPv6 addresses and CIDR prefixes, for the
-- decoders, the frame builders, the XDP rules and the reports alike.
--
-- Text is read as inet_pton(3) reads it: IPv4 is four decimal parts of
-- one to three digits, no leading zero ("0001.2.3.4" and "01.2.3.4" are
-- not addresses), each at most 255; IPv6 is RFC 4291 text (one "::" at
-- most, a trailing dotted quad allowed). Text is written as RFC 5952 says.
-- Addresses in packets are the small structs below, whose metatypes make
-- `ip.src` a cheap reference that prints as text and compares with text
-- (`ip.src == "198.18.0.1"`).
local ffi = require "ffi"
local bit = require "bit"
local be32 = require("pktsh.proto.bytes").be32

local band, bor, rshift, lshift = bit.band, bit.bor, bit.rshift, bit.lshift

local M = {}

ffi.cdef [[
struct pktsh_mac { uint8_t b[6]; };
struct pktsh_in4 { uint8_t b[4]; };
struct pktsh_in6 { uint8_t b[16]; };
]]

---------------------------------------------------------------------------
-- Printing

-- "aa:bb:cc:dd:ee:ff" of a 6-byte MAC address.
function M.mac_str(a)
  local b = a.b
  return string.format("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
end

-- "a.b.c.d" of a 4-byte IPv4 address.
function M.in4_str(a)
  local b = a.b
  return string.format("%d.%d.%d.%d", b[0], b[1], b[2], b[3])
end

-- RFC 5952: lower case, leading zeros dropped, the longest run (first on
-- a tie) of two or more zero groups shown as "::".
function M.in6_str(a)
  local b, g = a.b, {}
  for i = 0, 7 do g[i + 1] = bor(lshift(b[2 * i], 8), b[2 * i + 1]) end
  local bs, bl, s, l = 0, 0, 0, 0
  for i = 1, 8 do
    if g[i] == 0 then
      if l == 0 then s = i end
      l = l + 1
      if l > bl then bs, bl = s, l end
    else
      l = 0
    end
  end
  local parts = {}
  local i = 1
  while i <= 8 do
    if bl >= 2 and i == bs then
      parts[#parts + 1] = (i == 1) and ":" or ""
      if i + bl > 8 then parts[#parts + 1] = "" end
      i = i + bl
    else
      parts[#parts + 1] = string.format("%x", g[i])
      i = i + 1
    end
  end
  return table.concat(parts, ":")
end

local in4_buf, in6_buf = ffi.new("struct pktsh_in4"), ffi.new("struct pktsh_in6")

-- The text of an address given as its bytes (a Lua string of 4 or 16
-- bytes, or a pointer and a length of 4 or 16).
function M.text(raw, n)
  n = n or #raw
  if n == 4 then ffi.copy(in4_buf, raw, 4); return M.in4_str(in4_buf) end
  if n == 16 then ffi.copy(in6_buf, raw, 16); return M.in6_str(in6_buf) end
  error("addr.text: 4 or 16 bytes, not " .. tostring(n), 2)
end

---------------------------------------------------------------------------
-- Parsing: text -> bytes (a Lua string of 4, 16 or 6 bytes), or nil.

local function part4(p)
  if #p > 3 or (#p > 1 and p:sub(1, 1) == "0") then return nil end
  local v = tonumber(p)
  if v > 255 then return nil end
  return v
end

-- The 4 bytes of a dotted-quad IPv4 address (inet_pton rules), or nil.
function M.parse4(s)
  if type(s) ~= "string" then return nil end
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  a, b, c, d = part4(a), part4(b), part4(c), part4(d)
  if not (a and b and c and d) then return nil end
  return string.char(a, b, c, d)
end

local function groups(s)
  local t = {}
  if s == "" then return t end
  for g in (s .. ":"):gmatch("([^:]*):") do
    if not g:match("^%x%x?%x?%x?$") then return nil end
    t[#t + 1] = tonumber(g, 16)
  end
  return t
end

-- The 16 bytes of an IPv6 address in text (inet_pton rules), or nil.
function M.parse6(s)
  if type(s) ~= "string" or s:find("[^%x:%.]") then return nil end
  local v4 = s:match(":(%d+%.[%d%.]*)$")
  local tail4
  if v4 then
    tail4 = M.parse4(v4)
    if not tail4 then return nil end
    s = s:sub(1, #s - #v4) .. "0:0"
  end
  local head, tail = s:match("^(.-)::(.*)$")
  local hg, tg
  if head then
    if tail:find("::", 1, true) then return nil end
    hg, tg = groups(head), groups(tail)
    if not hg or not tg or #hg + #tg > 7 then return nil end
    for _ = 1, 8 - #hg - #tg do hg[#hg + 1] = 0 end
    for _, x in ipairs(tg) do hg[#hg + 1] = x end
  else
    hg = groups(s)
    if not hg or #hg ~= 8 then return nil end
  end
  local out = {}
  for i = 1, 8 do out[i] = string.char(rshift(hg[i], 8), band(hg[i], 255)) end
  local r = table.concat(out)
  if tail4 then r = r:sub(1, 12) .. tail4 end
  return r
end

-- "00:11:22:33:44:55" (or with "-"), or nil.
function M.parse_mac(s)
  if type(s) ~= "string" then return nil end
  local t = {}
  for x in s:gmatch("[^:%-]+") do
    if not x:match("^%x%x?$") then return nil end
    t[#t + 1] = string.char(tonumber(x, 16))
  end
  if #t ~= 6 then return nil end
  return table.concat(t)
end

-- An address of either family: its bytes and 4 or 6, or nil.
function M.parse(s)
  local b = M.parse4(s)
  if b then return b, 4 end
  b = M.parse6(s)
  if b then return b, 6 end
  return nil
end

-- CIDR text ("198.18.0.0/15", "2001:2::/48", or a bare address) -> family
-- (4 or 6), 16 bytes (IPv4 in the first 4, zeros after), prefix length;
-- or nil and an error that names `field`.
function M.parse_cidr(v, field)
  field = field or "address"
  if type(v) ~= "string" then
    return nil, string.format("%s: expected an address or CIDR string, not %s", field, type(v))
  end
  local text, len = v:match("^([^/]+)/(%d+)$")
  if not text then text = v end
  local b, fam = M.parse(text)
  if not b then
    return nil, string.format("%s: bad CIDR '%s'", field, v)
  end
  local max = fam == 4 and 32 or 128
  len = len and tonumber(len) or max
  if len > max then
    return nil, string.format("%s: bad CIDR '%s' (prefix length %d > %d)", field, v, len, max)
  end
  if fam == 4 then return 4, b .. string.rep("\0", 12), len end
  return 6, b, len
end

---------------------------------------------------------------------------
-- The address structs' metatypes

-- a == b where either side may be a string in text form or another
-- address of the same type.
local function addr_eq(n, parse)
  return function(a, b)
    if type(a) == "string" then a, b = b, a end
    if type(b) == "string" then
      local raw = parse(b)
      return raw ~= nil and ffi.string(a.b, n) == raw
    end
    if type(b) ~= "cdata" or type(a) ~= "cdata" then return false end
    return ffi.sizeof(b) == n and ffi.string(a.b, n) == ffi.string(b.b, n)
  end
end

local function u32(a) return be32(a.b, 0) end

ffi.metatype("struct pktsh_in4", {
  __tostring = M.in4_str, __eq = addr_eq(4, M.parse4),
  __index = {
    str = M.in4_str,
    u32 = u32,                                   -- host-order number
    raw = function(a) return ffi.string(a.b, 4) end,
  },
})
ffi.metatype("struct pktsh_in6", {
  __tostring = M.in6_str, __eq = addr_eq(16, M.parse6),
  __index = {
    str = M.in6_str,
    raw = function(a) return ffi.string(a.b, 16) end,
  },
})
ffi.metatype("struct pktsh_mac", {
  __tostring = M.mac_str, __eq = addr_eq(6, M.parse_mac),
  __index = {
    str = M.mac_str,
    raw = function(a) return ffi.string(a.b, 6) end,
  },
})

function M.selftest()
  assert(M.parse4("198.18.0.1") == "\198\18\0\1")
  for _, bad in ipairs({"0001.2.3.4", "01.2.3.4", "256.1.1.1", "1.2.3", "1.2.3.4.5", "a.b.c.d"}) do
    assert(M.parse4(bad) == nil, bad)
  end
  assert(M.text(M.parse6("2001:2::53")) == "2001:2::53")
  assert(M.text(M.parse6("::ffff:198.18.0.1")) == "::ffff:c612:1")
  for _, bad in ipairs({"1::2::3", "12345::", "1:2:3:4:5:6:7", "::1.2.3.04", "g::"}) do
    assert(M.parse6(bad) == nil, bad)
  end
  local fam, b, len = M.parse_cidr("198.18.0.0/15")
  assert(fam == 4 and #b == 16 and len == 15)
  assert(M.parse_cidr("2001:2::/129") == nil)
  assert(M.parse_mac("00-11-22-33-44-55") == "\0\17\34\51\68\85")
  return true
end

return M
