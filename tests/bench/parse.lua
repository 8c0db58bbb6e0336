-- parse.lua - the bench parse written on the packet decoders, the way the
-- API is meant to be used: pkt:ip(), pkt:udp()/pkt:tcp(), pkt:payload()
-- and the checked accessor pkt:u8(). Prints the same "sum" line as
-- tests/bench/cideal.c (see the rules at its top).
--   build/pktsh tests/bench/parse.lua FILE
-- Prints "skipped (decoders missing)" and exits 0 when the packet
-- metatype has no decoders yet.
local path = arg[1]
if not path then
  io.stderr:write("usage: pktsh tests/bench/parse.lua FILE\n")
  os.exit(2)
end
local ffi = require "ffi"
local C = ffi.C

local methods = require("pktsh.proto.packet").methods
local probe = ffi.new("struct pktsh_pkt")
for _, m in ipairs{"ip", "proto", "udp", "tcp", "payload", "u8"} do
  if not (methods and type(methods[m]) == "function") or not pcall(function() return probe[m] end) then
    print("skipped (decoders missing)")
    os.exit(0)
  end
end

local t0 = C.pktsh_mono_ns()
local src, err = pktsh.open(path)
if not src then
  io.stderr:write("parse: ", tostring(err), "\n")
  os.exit(1)
end
local eth = src.linktype == 1

local ip4, ip6, udp, tcp, dns, dnsbad, labels, namebytes, qtypes =
  0, 0, 0, 0, 0, 0, 0, 0, 0

-- Walks the first question name of the DNS message at [off, e).
local function question(p, off, e)
  local qd = p:u16(off + 4)
  if not qd or qd == 0 or off + 12 > e then return end
  local start = off + 12
  local pos, nl = start, 0
  local l
  -- The common case without a loop: a per-label loop would be the hottest
  -- loop and become LuaJIT's root trace (see parse_raw.lua).
  if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 1; if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 2; if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 3; if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 4; if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 5; if pos >= e then dnsbad = dnsbad + 1; return end
  l = p:u8(pos); if l == 0 or l >= 0x40 then goto stop end
  pos = pos + 1 + l; nl = 6; if pos >= e then dnsbad = dnsbad + 1; return end
  while true do
    l = p:u8(pos); if l == 0 or l >= 0x40 then break end
    pos = pos + 1 + l; nl = nl + 1
    if pos >= e or pos - start > 255 then dnsbad = dnsbad + 1; return end
  end
  ::stop::
  if pos - start > 255 then dnsbad = dnsbad + 1; return end
  if l == 0 then
    namebytes = namebytes + (pos - start)
    pos = pos + 1
  elseif l >= 0xc0 and pos + 2 <= e then
    namebytes = namebytes + (pos - start)
    pos = pos + 2
  else
    dnsbad = dnsbad + 1
    return
  end
  dns = dns + 1
  labels = labels + nl
  if pos + 2 <= e then qtypes = qtypes + p:u16(pos) end
end

local function each(p)
  local ip = p:ip()
  if not ip then return end
  if p.ethertype == 0x0800 then ip4 = ip4 + 1 else ip6 = ip6 + 1 end
  local proto = p:proto()
  if proto == 17 then
    local u = p:udp()
    if not u then return end
    udp = udp + 1
    if u.sport == 53 or u.dport == 53 then
      local off, n = p:payload()
      if off then question(p, off, off + n) end
    end
  elseif proto == 6 then
    local t = p:tcp()
    if not t then return end
    local off, n = p:payload()      -- nil when the data offset runs past the datagram
    if not off then return end
    tcp = tcp + 1
    if t.sport == 53 or t.dport == 53 then question(p, off + 2, off + n) end
  end
end

local ok, perr = true, nil
if eth then ok, perr = src:each(each)
else ok, perr = src:each(function() end) end
if not ok then
  io.stderr:write("parse: ", tostring(perr), "\n")
  os.exit(1)
end
local st = src:stats()
local packets = st.packets
io.stderr:write(string.format("stats packets=%d received=%d drops=%d\n",
                              st.packets, st.received, st.drops))
src:close()
local t1 = C.pktsh_mono_ns()
print(string.format("sum packets=%d ip4=%d ip6=%d udp=%d tcp=%d dns=%d dnsbad=%d " ..
                    "labels=%d namebytes=%d qtypes=%d",
                    packets, ip4, ip6, udp, tcp, dns, dnsbad, labels, namebytes, qtypes))
print(string.format("time_ns %d", tonumber(t1 - t0)))
