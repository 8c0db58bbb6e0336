-- udpapps.lua - gen__udp-apps.pcap: datagrams whose summaries exercise
-- what tcpdump prints without -v for BOOTP/DHCP, NTP and DHCPv6 (whole
-- and cut by the snapshot length), a port pair where an earlier printer
-- in tcpdump's order wins, IPv6 extension headers and fragments before
-- UDP and TCP (tcpdump prints the ports alone there), later fragments,
-- IP payloads tcpdump has no printer for, ICMP on the wrong IP version,
-- and UDP headers cut short.
--
--   pktsh tests/pcaps/gen/udpapps.lua tests/pcaps
local lib = dofile("tests/pcaps/gen/lib.lua")
local b = pktsh.build
local char, rep = string.char, string.rep
local u16, u32 = b.u16, b.u32

local dir = arg[1] or "tests/pcaps"
local frames, add = lib.collector()

local mac = "\0\12\41\89\253\33"
local function bootp(op, htype, hlen)
  return char(op, htype, hlen, 0) .. u32(0x3903f326) .. rep("\0", 20) .. mac .. rep("\0", 10) ..
         rep("\0", 192) .. "\99\130\83\99" .. "\53\1\3\255"
end
local function v4(sport, dport, payload, snap)
  add(b.udp4{src = "198.18.7.1", dst = "198.18.7.2", sport = sport, dport = dport, payload = payload}, snap)
end

v4(68, 67, bootp(1, 1, 6))                       -- request from a MAC
v4(67, 68, bootp(2, 1, 6))                       -- reply
v4(68, 67, bootp(1, 6, 6))                       -- not Ethernet: no "from"
v4(68, 67, bootp(9, 1, 6))                       -- unknown op
v4(68, 67, bootp(1, 1, 6), 14 + 20 + 8 + 30)     -- cut in the client's MAC
v4(68, 67, bootp(1, 1, 6), 14 + 20 + 8 + 2)      -- cut before htype/hlen
v4(68, 67, bootp(1, 1, 6), 14 + 20 + 8)          -- nothing of it
local function ntp(li_vn_mode) return char(li_vn_mode) .. rep("\0", 47) end
v4(40000, 123, ntp(0x23))                        -- v4 client
v4(123, 40000, ntp(0x24))                        -- v4 server
v4(123, 123, ntp(0x1e))                          -- v3 control message
v4(123, 123, ntp(0x17))                          -- reserved mode
v4(40000, 123, ntp(0x23), 14 + 20 + 8)           -- cut
v4(68, 123, bootp(1, 1, 6))                      -- BOOTP comes first
v4(40001, 40002, "just data")                    -- no printer

local function v6(sport, dport, payload, snap)
  add(b.udp6{src = "2001:2::1", dst = "2001:2::2", sport = sport, dport = dport, payload = payload}, snap)
end
for _, t in ipairs{1, 2, 3, 7, 11, 12, 13, 15, 99} do
  v6(546, 547, char(t) .. "\1\2\3" .. "\0\1\0\4\0\0\0\0")
end
v6(546, 547, "\1\1\2", nil)                      -- 3 bytes: cut
v6(546, 547, "\1\1\2\3\0\0", 14 + 40 + 8 + 2)    -- cut by the capture

-- IPv6 extension headers before the transport
local function raw_udp(sp, dp, data) return u16(sp) .. u16(dp) .. u16(8 + #data) .. "\0\0" .. data end
local function raw_tcp(sp, dp) return u16(sp) .. u16(dp) .. u32(1) .. u32(0) .. "\80\2" .. u16(512) .. "\0\0\0\0" end
local function ip6(nh, payload) return b.ip6{src = "2001:2::1", dst = "2001:2::2", proto = nh, payload = payload} end
local hbh = function(nh) return char(nh, 0, 1, 4, 0, 0, 0, 0) end   -- PadN 4
local dns = "\1\2\1\0\0\1\0\0\0\0\0\0\3www\7example\0\0\1\0\1"
add(ip6(0, hbh(17) .. raw_udp(40000, 53, dns)))                    -- HBH, UDP: DNS
add(ip6(0, hbh(17) .. raw_udp(40000, 40001, "xyz")))              -- HBH, UDP
add(ip6(60, hbh(6) .. raw_tcp(40000, 8000)))                       -- DSTOPT, TCP
local frag = function(nh, off, more, id) return char(nh, 0) .. u16(off * 8 + (more and 1 or 0)) .. u32(id) end
add(ip6(44, frag(17, 0, true, 7) .. raw_udp(40000, 40001, rep("a", 40)):sub(1, 32)))   -- first
add(ip6(44, frag(17, 4, false, 7) .. rep("a", 16)))                                   -- later
add(ip6(44, frag(6, 0, true, 8) .. raw_tcp(40000, 8000)))                            -- first, TCP
add(ip6(0, hbh(44) .. frag(17, 5, false, 9) .. rep("b", 8)))                          -- HBH, later

-- IP payloads tcpdump has no printer for (" ip-proto-N LEN"), none at all,
-- and ICMP and ICMPv6 on the wrong IP version
local function v4proto(proto, payload) add(b.ip4{src = "198.18.7.1", dst = "198.18.7.2", proto = proto, payload = payload}) end
v4proto(44, rep("\0", 16))                     -- an IPv6 fragment header
v4proto(250, "abcdefgh")                          -- unassigned
v4proto(59, "")                                   -- no next header
v4proto(58, "\128\0\0\0\0\1\0\1")             -- ICMPv6 in IPv4
add(ip6(250, "abcdefgh"))                         -- unassigned, IPv6
add(ip6(1, "\8\0\0\0\0\1\0\1"))               -- ICMP in IPv6

-- UDP headers cut short (cut IP headers: zeek__trunc-ip4-trunc and
-- zeek__trunc-ip6-trunc)
add(b.udp4{payload = "x"}, 14 + 20 + 3)         -- UDP ports
add(b.udp4{payload = "x"}, 14 + 20 + 6)         -- UDP length

lib.write(dir .. "/gen__udp-apps.pcap", frames)
