-- encaps.lua - writes the generated encapsulation captures of issue 12
-- (tests/pcaps/gen__*.pcap), one per encapsulation, each a DNS query and
-- its response (and a UDP packet on another port, which is not DNS):
--
--   build/pktsh tests/pcaps/gen/encaps.lua tests/pcaps
--
-- No public capture of these kinds is in the repo; the frames are built
-- with pktsh.build (inner datagrams, outer IP headers) and the headers
-- between by hand, from their RFCs. Their oracles (tests/pcaps/oracle)
-- are tshark's decode of these files (tests/pcaps/gen/oracle.sh).
-- Addresses are from 198.18.0.0/15 and 2001:2::/48.
local b = pktsh.build
local u16, u32 = b.u16, b.u32
local char = string.char
local rshift = require("bit").rshift

local lib = dofile("tests/pcaps/gen/lib.lua")
local pcap = lib.write

local dir = assert(arg[1], "usage: encaps.lua OUTDIR")

-- A DNS message: one question (name, qtype), flags, no records.
local function dns(id, flags, name, qtype)
  assert(qtype == 1)
  return lib.dns(id, flags, name, 0)
end

local function strip(frame) return frame:sub(15) end   -- the Ethernet header

-- Inner datagrams: a query, its response, a UDP packet on port 5000.
local function inner(v6, name, id)
  local c, s = v6 and "2001:2::10" or "198.18.1.10", v6 and "2001:2::53" or "198.18.1.53"
  local mk = v6 and b.udp6 or b.udp4
  return {
    strip(mk{src = c, dst = s, sport = 40000 + id, dport = 53, payload = dns(id, 0x0100, name, 1)}),
    strip(mk{src = s, dst = c, sport = 53, dport = 40000 + id, payload = dns(id, 0x8183, name, 1)}),
    strip(mk{src = c, dst = s, sport = 40001, dport = 5000, payload = "not dns"}),
  }
end

local MAC = "\2\0\0\0\0\2\2\0\0\0\0\1"
local function eth(et) return MAC .. u16(et) end

local function ip4(proto, payload, src, dst)
  return strip(b.ip4{proto = proto, payload = payload, src = src or "198.18.0.1", dst = dst or "198.18.0.2"})
end
local function ip6(proto, payload, src, dst)
  return strip(b.ip6{proto = proto, payload = payload, src = src or "2001:2::1", dst = dst or "2001:2::2"})
end
local function udp4(sport, dport, payload)     -- outer UDP, checksum 0 (RFC 7348)
  return ip4(17, u16(sport) .. u16(dport) .. u16(8 + #payload) .. "\0\0" .. payload)
end
local function v(d) return rshift(d:byte(1), 4) == 6 end
local function et_of(d) return v(d) and 0x86dd or 0x0800 end


-- Each capture: file name, inner address family, wrapper of an inner datagram.
local caps = {
  {"gen__pppoe-qinq", false, function(d)
    -- 802.1ad + 802.1Q, PPPoE session 0x1234, PPP IPv4 (0x0021)
    return MAC .. u16(0x88a8) .. u16(100) .. u16(0x8100) .. u16(200) .. u16(0x8864) ..
           char(0x11, 0) .. u16(0x1234) .. u16(#d + 2) .. u16(0x0021) .. d
  end},
  {"gen__pppoe6", true, function(d)
    return eth(0x8864) .. char(0x11, 0) .. u16(0x0042) .. u16(#d + 2) .. u16(0x0057) .. d
  end},
  {"gen__mpls", false, function(d)
    -- two labels (16, 17), the bottom one with S set; TTL 64
    return eth(0x8847) .. u32(16 * 4096 + 64) .. u32(17 * 4096 + 256 + 64) .. d
  end},
  {"gen__mpls6", true, function(d)
    return eth(0x8847) .. u32(18 * 4096 + 256 + 64) .. d
  end},
  {"gen__vlan3", false, function(d)
    -- three stacked tags
    return MAC .. u16(0x88a8) .. u16(10) .. u16(0x8100) .. u16(20) .. u16(0x8100) .. u16(30) ..
           u16(0x0800) .. d
  end},
  {"gen__gre", false, function(d)
    return eth(0x0800) .. ip4(47, u16(0) .. u16(0x0800) .. d)
  end},
  {"gen__gre-keyseq", true, function(d)
    -- key 0xabcd, sequence 7, IPv6 inside
    return eth(0x0800) .. ip4(47, u16(0x3000) .. u16(0x86dd) .. u32(0xabcd) .. u32(7) .. d)
  end},
  {"gen__gre-teb", false, function(d)
    return eth(0x0800) .. ip4(47, u16(0x2000) .. u16(0x6558) .. u32(5) .. eth(0x0800) .. d)
  end},
  {"gen__erspan2", false, function(d)
    -- GRE with S, ERSPAN type II (version 1), session 42, VLAN 0
    return eth(0x0800) .. ip4(47, u16(0x1000) .. u16(0x88be) .. u32(1) ..
           u16(0x1000) .. u16(42) .. u32(0) .. eth(0x0800) .. d)
  end},
  {"gen__erspan3", false, function(d)
    -- ERSPAN type III (version 2), session 43, timestamp, SGT 0, frame type 0
    return eth(0x0800) .. ip4(47, u16(0x1000) .. u16(0x22eb) .. u32(1) ..
           u16(0x2000) .. u16(43) .. u32(0x01020304) .. u16(0) .. u16(0) .. eth(0x0800) .. d)
  end},
  {"gen__vxlan", false, function(d)
    return eth(0x0800) .. udp4(50000, 4789, char(8, 0, 0, 0) .. u32(1000 * 256) .. eth(et_of(d)) .. d)
  end},
  {"gen__geneve", true, function(d)
    -- Geneve, one 8-byte option (length 2 words), carrying Ethernet
    local opt = u16(0x0102) .. char(0x80, 1) .. u32(0xdeadbeef)
    return eth(0x0800) .. udp4(50001, 6081, char(2, 0) .. u16(0x6558) .. u32(2000 * 256) ..
           opt .. eth(et_of(d)) .. d)
  end},
  {"gen__4in4", false, function(d) return eth(0x0800) .. ip4(4, d) end},
  {"gen__6in4", true, function(d) return eth(0x0800) .. ip4(41, d) end},
  {"gen__4in6", false, function(d) return eth(0x86dd) .. ip6(4, d) end},
  {"gen__6in6", true, function(d) return eth(0x86dd) .. ip6(41, d) end},
  {"gen__vxlan-in-gre-qinq", false, function(d)
    -- nested: QinQ, GRE over IPv4, VXLAN over the inner IPv4, Ethernet, IPv4
    local vx = udp4(50002, 4789, char(8, 0, 0, 0) .. u32(7 * 256) .. eth(0x0800) .. d)
    return MAC .. u16(0x88a8) .. u16(5) .. u16(0x8100) .. u16(6) .. u16(0x0800) ..
           ip4(47, u16(0) .. u16(0x0800) .. vx, "198.18.2.1", "198.18.2.2")
  end},
}


for n, c in ipairs(caps) do
  local frames = {}
  for _, d in ipairs(inner(c[2], "host" .. n .. ".example.com", n)) do
    frames[#frames + 1] = c[3](d)
  end
  pcap(dir .. "/" .. c[1] .. ".pcap", frames)
end
print(#caps .. " captures written to " .. dir)
