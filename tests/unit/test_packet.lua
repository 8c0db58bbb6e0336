-- test_packet.lua - the packet metatype and its decoders, on hand-made
-- bytes: every layer good, malformed and truncated at every length.
local T = require "t"
local ffi = require "ffi"
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local addr = require "pktsh.proto.addr"

local char, rep = string.char, string.rep
local from = packet.from_bytes

---------------------------------------------------------------------------
-- Byte builders

local function be16(n) return char(bit.rshift(n, 8) % 256, n % 256) end
local function be32(n) return be16(math.floor(n / 65536) % 65536) .. be16(n % 65536) end
local function mac(s) return (s:gsub("(%x%x):?", function(x) return char(tonumber(x, 16)) end)) end
local function a4(s) return assert(addr.parse4(s)) end
local function a6(s) return assert(addr.parse6(s)) end

local function eth(etype, payload)
  return mac("00:11:22:33:44:55") .. mac("66:77:88:99:aa:bb") .. be16(etype) .. payload
end

-- o: proto, payload, src, dst, opts, ihl, len, id, off (bytes), mf, df, ttl
local function ip4(o)
  local opts = o.opts or ""
  local ihl = o.ihl or (5 + #opts / 4)
  local len = o.len or (20 + #opts + #o.payload)
  local ff = math.floor((o.off or 0) / 8) + (o.mf and 0x2000 or 0) + (o.df and 0x4000 or 0)
  return char(0x40 + ihl, 0) .. be16(len) .. be16(o.id or 0x1234) .. be16(ff) ..
    char(o.ttl or 64, o.proto) .. be16(0) .. a4(o.src or "198.18.0.1") ..
    a4(o.dst or "198.18.0.2") .. opts .. o.payload
end

local function ip6(nxt, payload, o)
  o = o or {}
  return char(0x60, 0, 0, 0) .. be16(o.plen or #payload) .. char(nxt, 64) ..
    a6(o.src or "2001:2::1") .. a6(o.dst or "2001:2::2") .. payload
end

-- Generic IPv6 extension header (HBH, routing, dest opts) of 8*k bytes.
local function ext6(nh, size)
  return char(nh, size / 8 - 1) .. rep("\0", size - 2)
end

local function udp(sp, dp, payload, ulen)
  return be16(sp) .. be16(dp) .. be16(ulen or (8 + #payload)) .. be16(0) .. payload
end

-- o: sport, dport, seq, ack, flags, win, opts, payload, doff
local function tcp(o)
  local opts = o.opts or ""
  local doff = o.doff or (5 + #opts / 4)
  return be16(o.sport or 1234) .. be16(o.dport or 80) .. be32(o.seq or 1) ..
    be32(o.ack or 0) .. char(doff * 16, o.flags or 0x02) .. be16(o.win or 1000) ..
    be16(0) .. be16(0) .. opts .. (o.payload or "")
end

local function icmp(ty, code, rest, payload)
  return char(ty, code) .. be16(0) .. rest .. (payload or "")
end

local TS = 1476976981075993000LL   -- 2016-10-20 15:23:01.075993 UTC

local function udp4_frame(payload)
  return eth(0x0800, ip4{proto = 17, payload = udp(53199, 53, payload or rep("q", 28))})
end

---------------------------------------------------------------------------

T.test("selftest", function() T.eq(packet.selftest(), true, "selftest") end)

T.test("descriptor fields", function()
  local s = udp4_frame()
  local p = from(s, 1, TS, 1000)
  T.eq(p.caplen, #s, "caplen")
  T.eq(p.len, 1000, "len")
  T.eq(p.ts, TS, "ts")
  T.eq(p.tsrc, 0, "tsrc")
  T.eq(p.linktype, 1, "linktype")
  T.eq(p.data[12], 8, "data")
end)

T.test("ethernet + IPv4 + UDP", function()
  local p = from(udp4_frame(), 1, TS)
  local e = p:eth()
  T.eq(tostring(e.src), "66:77:88:99:aa:bb", "eth src")
  T.eq(tostring(e.dst), "00:11:22:33:44:55", "eth dst")
  T.ok(e.src == "66:77:88:99:aa:bb", "mac == string")
  T.eq(e.type, 0x0800, "type")
  local ip = p:ip4()
  T.eq(tostring(ip.src), "198.18.0.1", "src")
  T.eq(ip:dst_str(), "198.18.0.2", "dst")
  T.ok(ip.src == "198.18.0.1" and ip.src ~= "198.18.0.2", "in4 == string")
  T.ok(ip.src ~= "not an address", "bad text is not equal")
  T.eq(ip.src:u32(), 0xc6120001, "u32")
  T.eq(ip.version, 4, "version"); T.eq(ip.hlen, 20, "hlen"); T.eq(ip.ttl, 64, "ttl")
  T.eq(ip.proto, 17, "proto"); T.eq(ip.len, 56, "len"); T.eq(ip.id, 0x1234, "id")
  T.ok(p:ip() ~= nil and p:ip().version == 4, "ip()")
  T.eq(p:ip6(), nil, "ip6"); T.eq(p:tcp(), nil, "tcp"); T.eq(p:icmp(), nil, "icmp")
  local u = p:udp()
  T.eq(u.sport, 53199, "sport"); T.eq(u.dport, 53, "dport"); T.eq(u.len, 36, "ulen")
  local off, n = p:payload()
  T.eq(off, 42, "payload off"); T.eq(n, 28, "payload len")
  local sp, dp = p:ports()
  T.eq(sp, 53199, "ports"); T.eq(dp, 53, "ports")
  T.eq(p:proto(), 17, "proto()")
  -- port 53: the payload prints as DNS, as tcpdump prints it
  T.eq(p:summary(), "15:23:01.075993 IP 198.18.0.1.53199 > 198.18.0.2.53: 29041 zoneInit+% [b2&3=0x7171] [29041a] [29041q] [29041n] [29041au] [|domain]", "summary")
  T.eq(tostring(p), p:summary(), "tostring")
end)

T.test("VLAN, QinQ (0x88a8, 0x9100)", function()
  local inner = ip4{proto = 17, payload = udp(1, 2, "x")}
  local p = from(eth(0x8100, be16(0x6000 + 11) .. be16(0x0800) .. inner))
  T.eq(p:vlan().id, 11, "id"); T.eq(p:vlan().pcp, 3, "pcp"); T.eq(p:vlan().type, 0x0800, "type")
  T.eq(p:vlan_id(), 11, "vlan_id"); T.eq(p.nvlan, 1, "nvlan"); T.eq(p:vlan(2), nil, "no inner")
  T.eq(p:udp().dport, 2, "udp under vlan")
  T.ok(p:summary():find(" vlan 11 IP 198.18.0.1.1 > 198.18.0.2.2: UDP, length 1", 1, true), p:summary())
  for _, outer in ipairs{0x88a8, 0x9100, 0x8100} do
    local q = from(eth(outer, be16(200) .. be16(0x8100) .. be16(2001) .. be16(0x0800) .. inner))
    T.eq(q:vlan(1).id, 200, "outer"); T.eq(q:vlan(2).id, 2001, "inner")
    T.eq(q:vlan_id(2), 2001, "vlan_id(2)"); T.eq(q.nvlan, 2, "nvlan")
    T.eq(q:ip4().proto, 17, "ip under qinq"); T.eq(q:udp().sport, 1, "udp")
    T.ok(q:summary():find("vlan 200 vlan 2001 IP", 1, true), q:summary())
  end
  -- a tag cut short
  local t = from(eth(0x8100, be16(5)))
  T.eq(t:ip(), nil, "cut tag"); T.eq(t:vlan(), nil, "cut tag view")
end)

T.test("IPv4 options and fragments", function()
  local p = from(eth(0x0800, ip4{proto = 17, opts = "\1\1\1\0", payload = udp(7, 9, "abc")}))
  T.eq(p:ip4().hlen, 24, "hlen"); T.eq(p:udp().sport, 7, "udp after options")
  T.eq(select(2, p:payload()), 3, "payload")
  local first = from(eth(0x0800, ip4{proto = 17, mf = true, payload = udp(7, 9, "abcdefgh", 100)}))
  T.ok(first:ip4().mf and first:ip4().frag_off == 0, "first frag fields")
  T.eq(first.fragment, 1, "first fragment")
  T.eq(first:udp().sport, 7, "first fragment has UDP")
  T.eq(select(2, first:payload()), 8, "payload bounded by the datagram")
  local later = from(eth(0x0800, ip4{proto = 17, off = 1480, df = false, payload = "rest of it"}))
  T.eq(later:ip4().frag_off, 1480, "frag_off"); T.eq(later.fragment, 2, "later fragment")
  T.eq(later:udp(), nil, "no UDP in a later fragment"); T.eq(later:payload(), nil, "no payload")
  T.ok(later:summary():find("ip-proto-17", 1, true), later:summary())
  local df = from(eth(0x0800, ip4{proto = 6, df = true, payload = tcp{}}))
  T.ok(df:ip4().df and not df:ip4().mf, "DF")
end)

T.test("IPv4 malformed", function()
  local good = ip4{proto = 17, payload = udp(1, 2, "x")}
  local bad_ihl = from(eth(0x0800, char(0x44) .. good:sub(2)))
  T.eq(bad_ihl:ip4(), nil, "IHL 4"); T.eq(bad_ihl:ip(), nil, "ip()"); T.eq(bad_ihl:udp(), nil, "udp")
  T.ok(bad_ihl:summary():find("IP bad-hlen 16", 1, true), bad_ihl:summary())
  local short_tot = from(eth(0x0800, ip4{proto = 17, len = 19, payload = udp(1, 2, "x")}))
  T.eq(short_tot:ip4(), nil, "total length < IHL*4")
  local opts_cut = from(eth(0x0800, ip4{proto = 17, ihl = 15, payload = ""}))
  T.eq(opts_cut:ip4(), nil, "IHL past caplen")
  local v6in4 = from(eth(0x0800, char(0x65) .. good:sub(2)))
  T.eq(v6in4:ip4(), nil, "version 6 under 0x0800")
  -- IP total length larger than the capture: decoded, bounded by caplen
  local long = from(eth(0x0800, ip4{proto = 17, len = 12336, payload = udp(1, 2, "xy")}))
  T.ok(long:udp(), "udp under a long IP length")
  T.eq(select(2, long:payload()), 2, "payload bounded by caplen")
  -- Ethernet padding: the IP length wins over caplen
  local pad = from(eth(0x0800, ip4{proto = 6, payload = tcp{payload = "hi"}}) .. rep("\0", 10))
  T.eq(select(2, pad:payload()), 2, "padding not payload")
end)

T.test("IPv6 and extension headers", function()
  local p = from(eth(0x86dd, ip6(17, udp(5353, 53, "hello"))))
  local ip = p:ip6()
  T.eq(tostring(ip.src), "2001:2::1", "src"); T.ok(ip.dst == "2001:2::2", "dst ==")
  T.ok(ip.dst == "2001:2:0:0:0:0:0:2", "dst == long form")
  T.eq(ip.version, 6, "version"); T.eq(ip.plen, 13, "plen"); T.eq(ip.hlim, 64, "hlim")
  T.eq(p:ip4(), nil, "ip4"); T.eq(p:ip().version, 6, "ip()")
  T.eq(p:udp().sport, 5353, "udp")
  T.ok(p:summary():find("IP6 2001:2::1.5353 > 2001:2::2.53: domain [length 5 < 12] (invalid)", 1, true), p:summary())
  -- HBH -> routing -> dest opts -> fragment(first, M) -> AH -> TCP
  local frag = char(51, 0) .. be16(1) .. be32(7)
  local ah = char(6, 4) .. rep("\0", 22)       -- (4+2)*4 = 24 bytes
  local chain = char(43, 0) .. rep("\0", 6) .. char(60, 1) .. rep("\0", 14) ..
    char(44, 0) .. rep("\0", 6) .. frag .. ah .. tcp{sport = 22, payload = "data"}
  local q = from(eth(0x86dd, ip6(0, chain)))
  T.eq(q:proto(), 6, "transport after the chain"); T.eq(q.fragment, 1, "first fragment")
  T.eq(q:tcp().sport, 22, "tcp after extension headers")
  T.eq(select(2, q:payload()), 4, "tcp payload")
  T.ok(q:summary():find("HBH RT DSTOPT frag (0|", 1, true), q:summary())
  -- later fragment: no transport
  local r = from(eth(0x86dd, ip6(44, char(17, 0) .. be16(1448) .. be32(7) .. "rest")))
  T.eq(r.fragment, 0, "not decoded yet"); T.eq(r:udp(), nil, "later fragment"); T.eq(r.fragment, 2, "later")
  T.eq(r:proto(), 17, "proto of a later fragment")
  -- ESP and no-next stop the walk
  local esp = from(eth(0x86dd, ip6(0, ext6(50, 8) .. rep("e", 16))))
  T.eq(esp:proto(), 50, "ESP"); T.eq(esp:udp(), nil, "nothing after ESP"); T.eq(esp:payload(), nil, "no payload")
  local nn = from(eth(0x86dd, ip6(59, "")))
  T.eq(nn:proto(), 59, "no next"); T.ok(nn:ip6(), "header ok")
  -- extension header longer than the datagram
  local cut = from(eth(0x86dd, ip6(0, char(17, 4) .. rep("\0", 6))))
  T.ok(cut:ip6(), "fixed header ok"); T.eq(cut:udp(), nil, "no udp"); T.eq(cut:payload(), nil, "no payload")
  T.ok(cut:summary():find("[|hbhopt]", 1, true), cut:summary())
  local short = from(eth(0x86dd, ip6(17, udp(1, 2, "x")):sub(1, 39)))
  T.eq(short:ip6(), nil, "short IPv6")
end)

T.test("IPv6 text (RFC 5952)", function()
  local cases = {
    {"2001:db8:0:0:0:0:0:1", "2001:db8::1"}, {"0:0:0:0:0:0:0:0", "::"},
    {"0:0:0:0:0:0:0:1", "::1"}, {"1:0:0:0:0:0:0:0", "1::"},
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
    {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"}, {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
    {"2001:DB8:00AB::0001", "2001:db8:ab::1"}, {"fe80::215:17ff:fecc:e546", "fe80::215:17ff:fecc:e546"},
    {"::ffff:192.0.2.1", "::ffff:c000:201"},
  }
  for _, c in ipairs(cases) do
    local a = ffi.new("struct pktsh_in6")
    ffi.copy(a, a6(c[1]), 16)
    T.eq(tostring(a), c[2], c[1])
    T.ok(a == c[2] and a == c[1], "== " .. c[1])
  end
  T.eq(addr.parse6("1::2::3"), nil, "two ::"); T.eq(addr.parse6("12345::"), nil, "5 digits")
  T.eq(addr.parse4("256.1.1.1"), nil, "octet > 255")
end)

T.test("TCP", function()
  local opts = char(2, 4) .. be16(1460) .. char(1, 1, 4, 2) .. char(8, 10) .. rep("\0", 8) .. char(1, 1)
  T.eq(#opts % 4, 0, "options padded")
  local p = from(eth(0x0800, ip4{proto = 6, payload = tcp{sport = 51388, dport = 53, seq = 4225482808,
    ack = 914165549, flags = 0x18, win = 229, opts = opts, payload = "0123456789"}}), 1, TS)
  local t = p:tcp()
  T.eq(t.sport, 51388, "sport"); T.eq(t.dport, 53, "dport")
  T.eq(t.seq, 4225482808, "seq > 2^31"); T.eq(t.ack, 914165549, "ack")
  T.eq(t.doff, 5 + #opts / 4, "doff"); T.eq(t.hlen, 20 + #opts, "hlen")
  T.eq(t.flags, 0x18, "flags"); T.ok(t.psh and t.ackf and not t.syn, "flag getters")
  T.eq(t.win, 229, "win")
  local off, n = p:payload()
  T.eq(off, 14 + 20 + 20 + #opts, "payload after options"); T.eq(n, 10, "payload length")
  T.eq(p:summary(), "15:23:01.075993 IP 198.18.0.1.51388 > 198.18.0.2.53: Flags [P.], " ..
    "seq 4225482808:4225482818, ack 914165549, win 229, " ..
    "options [mss 1460,nop,nop,sackOK,TS val 0 ecr 0,nop,nop], length 10" ..
    " [prefix length(12337) != length(8)] (invalid)", "summary (port 53: DNS, as tcpdump)")
  local sa = from(eth(0x0800, ip4{proto = 6, payload = tcp{flags = 0x12, seq = 5, ack = 9, win = 7}}), 1, TS)
  T.ok(sa:summary():find("Flags [S.], seq 5, ack 9, win 7, length 0", 1, true), sa:summary())
  local bad = from(eth(0x0800, ip4{proto = 6, payload = tcp{doff = 4}}))
  T.eq(bad:tcp(), nil, "data offset < 5"); T.eq(bad:payload(), nil, "no payload")
  local past = from(eth(0x0800, ip4{proto = 6, payload = tcp{doff = 15}}))
  T.ok(past:tcp(), "fixed header present"); T.eq(past:payload(), nil, "options past the datagram")
  T.ok(past:summary():find("[bad hdr length 60 - too long, > 20]", 1, true), past:summary())
  local short = from(eth(0x0800, ip4{proto = 6, payload = tcp{}:sub(1, 19)}))
  T.eq(short:tcp(), nil, "19 bytes")
end)

T.test("UDP length field", function()
  local zl = from(eth(0x0800, ip4{proto = 17, payload = udp(1024, 53, rep("\192\12", 20), 8)}))
  T.eq(zl:udp().len, 8, "ulen 8")
  T.eq(select(2, zl:payload()), 0, "UDP length wins over IP length")
  T.ok(zl:summary():find("domain [length 0 < 12] (invalid)", 1, true), zl:summary())
  local big = from(eth(0x0800, ip4{proto = 17, payload = udp(1, 2, "abcd", 400)}))
  T.eq(select(2, big:payload()), 4, "bounded by the datagram")
  local tiny = from(eth(0x0800, ip4{proto = 17, payload = udp(1, 2, "abcd", 7)}))
  T.eq(tiny:udp(), nil, "ulen < 8"); T.eq(tiny:payload(), nil, "no payload")
  T.ok(tiny:summary():find("bad length 7", 1, true), tiny:summary())
  local cut = from(eth(0x0800, ip4{proto = 17, len = 12336, payload = udp(12336, 12336, "")}):sub(1, 38))
  T.eq(cut:udp(), nil, "cut header")
  -- the IP length claims more than the frame: tcpdump's note first
  T.ok(cut:summary():find("IP truncated-ip - 12312 bytes missing! 198.18.0.1.12336 > 198.18.0.2.12336:  [|udp]", 1, true), cut:summary())
  T.ok(cut.truncated, "pkt.truncated")
end)

T.test("ICMP and the quoted datagram", function()
  local echo = from(eth(0x0800, ip4{proto = 1, payload = icmp(8, 0, be16(1) .. be16(1), rep("p", 56))}), 1, TS)
  local h = echo:icmp()
  T.eq(h.type, 8, "type"); T.eq(h.code, 0, "code"); T.eq(h.id, 1, "id"); T.eq(h.seq, 1, "seq")
  T.eq(echo:inner(), nil, "echo quotes nothing")
  T.eq(echo:summary(), "15:23:01.075993 IP 198.18.0.1 > 198.18.0.2: ICMP echo request, id 1, seq 1, length 64", "summary")
  local quoted = ip4{proto = 17, src = "192.168.1.1", dst = "192.168.1.102", len = 100,
    payload = udp(53, 59207, "")}
  local un = from(eth(0x0800, ip4{proto = 1, src = "192.168.1.102", dst = "192.168.1.1",
    payload = icmp(3, 3, be32(0), quoted)}))
  local q = un:inner()
  T.ok(q, "inner")
  T.eq(tostring(q:ip4().src), "192.168.1.1", "inner src")
  T.eq(q:udp().sport, 53, "inner udp"); T.eq(q:udp().dport, 59207, "inner dport")
  T.eq(q.linktype, 228, "inner is raw IPv4")
  T.ok(un:summary():find("ICMP 192.168.1.102 udp port 59207 unreachable", 1, true), un:summary())
  T.ok(un:show():find("quoted datagram", 1, true), "show quotes")
  -- the inner packet keeps the outer bytes alive
  un = nil; collectgarbage(); collectgarbage()
  T.eq(q:udp().sport, 53, "inner after outer dropped")
  local short = from(eth(0x0800, ip4{proto = 1, payload = icmp(3, 1, "")}))
  T.eq(short:icmp(), nil, "4-byte ICMP")
  T.ok(short:summary():find("[|icmp]", 1, true), short:summary())
end)

T.test("ICMPv6", function()
  local echo = from(eth(0x86dd, ip6(58, icmp(128, 0, be16(7) .. be16(9), "abcd"))))
  local h = echo:icmp6()
  T.eq(h.type, 128, "type"); T.eq(h.id, 7, "id"); T.eq(h.seq, 9, "seq")
  T.eq(echo:icmp(), nil, "icmp() is IPv4 only")
  T.ok(echo:summary():find("ICMP6, echo request, id 7, seq 9, length 12", 1, true), echo:summary())
  local quoted = ip6(17, udp(40000, 53, "q"), {src = "2001:db8::5", dst = "2001:db8:dead::1"})
  local un = from(eth(0x86dd, ip6(58, icmp(1, 0, be32(0), quoted))))
  local q = un:inner()
  T.eq(tostring(q:ip6().dst), "2001:db8:dead::1", "inner dst"); T.eq(q:udp().dport, 53, "inner udp")
  -- ICMPv6 after a hop-by-hop header (MLD)
  local mld = from(eth(0x86dd, ip6(0, char(58, 0) .. rep("\0", 6) .. icmp(143, 0, be32(1), rep("\0", 20)))))
  T.eq(mld:icmp6().type, 143, "after HBH")
  T.ok(mld:summary():find(": HBH ICMP6, multicast listener report v2", 1, true), mld:summary())
end)

T.test("ARP and other ethertypes", function()
  local arp = be16(1) .. be16(0x0800) .. char(6, 4) .. be16(1) .. mac("00:80:ea:81:88:63") ..
    a4("172.21.79.97") .. mac("00:00:00:00:00:00") .. a4("172.21.79.100")
  local p = from(eth(0x0806, arp), 1, TS)
  T.eq(p:summary(), "15:23:01.075993 ARP, Request who-has 172.21.79.100 tell 172.21.79.97, length 28", "arp")
  T.eq(p:ip(), nil, "no ip")
  local l = from(eth(0x88cc, rep("\0", 30)), 1, TS)
  T.eq(l:summary(), "15:23:01.075993 ethertype 0x88cc, length 44", "lldp")
end)

T.test("link types", function()
  local v4 = ip4{proto = 17, payload = udp(1, 53, "x")}
  local v6 = ip6(17, udp(1, 53, "x"))
  local function le32(n) return char(n % 256, 0, 0, 0) end
  local cases = {
    {12, v4, 4}, {12, v6, 6}, {101, v4, 4}, {101, v6, 6}, {228, v4, 4}, {229, v6, 6},
    {113, be16(0) .. be16(1) .. be16(6) .. rep("\1", 8) .. be16(0x0800) .. v4, 4},
    {113, be16(4) .. be16(1) .. be16(6) .. rep("\1", 8) .. be16(0x86dd) .. v6, 6},
    {276, be16(0x0800) .. be16(0) .. be32(3) .. be16(1) .. char(0, 6) .. rep("\1", 8) .. v4, 4},
    {0, le32(2) .. v4, 4}, {0, le32(24) .. v6, 6}, {0, le32(28) .. v6, 6}, {0, le32(30) .. v6, 6},
    {0, be32(2) .. v4, 4}, {0, le32(10) .. v6, 6},
    {108, be32(2) .. v4, 4}, {108, be32(30) .. v6, 6},
  }
  for i, c in ipairs(cases) do
    local p = from(c[2], c[1])
    local ip = p:ip()
    T.ok(ip and ip.version == c[3], "case " .. i .. " linktype " .. c[1])
    T.eq(p:udp().dport, 53, "udp, case " .. i)
    T.eq(p:eth(), nil, "no eth, case " .. i)
  end
  -- by the version, as tcpdump and Wireshark read them (tcpdump's
  -- LINKTYPE_IPV4_invalid capture: IPv6 under linktype IPV4)
  T.eq(from(v4, 229):ip().version, 4, "IPv4 bytes on an IPv6 link")
  T.eq(from(v6, 228):ip().version, 6, "IPv6 bytes on an IPv4 link")
  T.eq(from(v4, 9999):ip(), nil, "unknown link type")
  T.ok(from(v4, 9999):summary():find("linktype 9999", 1, true), "unknown link summary")
  -- SLL with a VLAN tag
  local sll = be16(0) .. be16(1) .. be16(6) .. rep("\1", 8) .. be16(0x8100) .. be16(42) .. be16(0x0800) .. v4
  local q = from(sll, 113)
  T.eq(q:vlan().id, 42, "sll vlan"); T.eq(q:udp().dport, 53, "sll vlan udp")
end)

T.test("checked accessors", function()
  local p = from("\1\2\3\4\5")
  T.eq(p:u8(0), 1, "u8"); T.eq(p:u8(4), 5, "u8 last"); T.eq(p:u8(5), nil, "u8 past")
  T.eq(p:u16(3), 0x0405, "u16"); T.eq(p:u16(4), nil, "u16 past")
  T.eq(p:u32(1), 0x02030405, "u32"); T.eq(p:u32(2), nil, "u32 past")
  T.eq(p:u8(-1), nil, "negative"); T.eq(p:u8("x"), nil, "not a number")
  T.eq(p:bytes(1, 3), "\2\3\4", "bytes"); T.eq(p:bytes(3, 3), nil, "bytes past")
  T.eq(p:bytes(0, 0), "", "no bytes"); T.eq(p:bytes(0, -1), nil, "negative n")
  local big = from(rep("\255", 4))
  T.eq(big:u32(0), 4294967295, "u32 unsigned")
end)

T.test("copy and from_bytes own their bytes", function()
  local buf = ffi.new("uint8_t[?]", 64)
  local s = udp4_frame("abcd")
  ffi.copy(buf, s, #s)
  local p = ffi.new("struct pktsh_pkt")
  p.data, p.caplen, p.len, p.linktype, p.ts = buf, #s, #s, 1, TS
  T.eq(p:udp().dport, 53, "descriptor over a buffer")
  local c = p:copy()
  ffi.fill(buf, 64, 0)
  buf = nil; collectgarbage(); collectgarbage()
  T.eq(c:udp().dport, 53, "copy survives its source")
  T.eq(c.ts, TS, "ts copied")
  T.eq(c:raw(), s, "raw bytes")
  local copies = {}
  for i = 1, 200 do copies[i] = from(udp4_frame(tostring(i))) end
  collectgarbage(); collectgarbage()
  for i = 1, 200 do
    local off, n = copies[i]:payload()
    T.eq(copies[i]:bytes(off, n), tostring(i), "from_bytes " .. i)
  end
end)

T.test("show and hex", function()
  local p = from(udp4_frame("hello"), 1, TS)
  local s = p:show()
  for _, want in ipairs{"Frame: 47 bytes", "Ethernet II", "Internet Protocol Version 4, src 198.18.0.1",
    "User Datagram Protocol, src port 53199, dst port 53", "Payload: offset 42, 5 bytes",
    "0000  00 11 22 33 44 55 66 77 88 99 aa bb 08 00 45 00"} do
    T.ok(s:find(want, 1, true), "show has " .. want .. "\n" .. s)
  end
  local h = p:hex()
  T.eq(select(2, h:gsub("\n", "")), 2, "three lines")
  T.ok(h:find("0020  ", 1, true) and h:find("hello", 1, true), h)
  T.eq(p:hex(42, 5), "002a  68 65 6c 6c 6f" .. rep(" ", 47 - 14) .. "  hello", "hex slice")
end)

-- Samples covering every decoder, cut at every length and fuzzed: no
-- decoder may raise, and every view must lie inside caplen.
local samples = {
  udp4_frame(),
  eth(0x0800, ip4{proto = 6, opts = "\1\1\1\0", payload = tcp{opts = "\2\4\5\180", payload = "xyz"}}),
  eth(0x0800, ip4{proto = 1, payload = icmp(3, 3, be32(0), ip4{proto = 17, payload = udp(1, 53, "")})}),
  eth(0x8100, be16(11) .. be16(0x88a8) .. be16(12) .. be16(0x86dd) ..
    ip6(0, char(44, 0) .. rep("\0", 6) .. char(58, 0) .. be16(1) .. be32(1) ..
      icmp(1, 0, be32(0), ip6(17, udp(5, 53, "q"))))),
  eth(0x86dd, ip6(51, char(6, 1) .. rep("\0", 10) .. tcp{payload = "t"})),
  eth(0x0806, be16(1) .. be16(0x0800) .. char(6, 4) .. be16(2) .. rep("\7", 20)),
  be16(0) .. be16(1) .. be16(6) .. rep("\1", 8) .. be16(0x0800) .. ip4{proto = 17, payload = udp(1, 2, "x")},
}
local sample_lt = {1, 1, 1, 1, 1, 1, 113}

local function check_inside(p)
  local cap = p.caplen
  local function at(h) return ffi.cast("const uint8_t *", h) - p.data end
  local e, ip, t, u, i4, i6 = p:eth(), p:ip(), p:tcp(), p:udp(), p:icmp(), p:icmp6()
  if e then assert(14 <= cap) end
  if ip then assert(at(ip) + (ip.version == 4 and ip.hlen or 40) <= cap, "ip past caplen") end
  if t then assert(at(t) + 20 <= cap, "tcp past caplen") end
  if u then assert(at(u) + 8 <= cap, "udp past caplen") end
  if i4 then assert(at(i4) + 8 <= cap, "icmp past caplen") end
  if i6 then assert(at(i6) + 8 <= cap, "icmp6 past caplen") end
  for k = 1, 3 do local v = p:vlan(k); if v then assert(at(v) + 4 <= cap, "vlan past caplen") end end
  local off, n = p:payload()
  if off then assert(off >= 0 and n >= 0 and off + n <= cap, "payload past caplen") end
  p:ports(); p:proto(); p:vlan_id(); p:vlan_id(2)
  assert(type(p:summary()) == "string" and type(p:show()) == "string" and type(p:hex()) == "string")
  local q = p:inner()
  if q then
    assert(q.data >= p.data and q.data + q.caplen <= p.data + cap, "inner past caplen")
    q:udp(); q:tcp(); q:icmp6(); q:summary(); q:show()
  end
end

T.test("truncated at every length", function()
  for i, s in ipairs(samples) do
    for n = 0, #s do
      local ok, err = pcall(check_inside, from(s:sub(1, n), sample_lt[i], TS, #s))
      if not ok then error(string.format("sample %d cut at %d: %s", i, n, err)) end
    end
  end
end)

T.test("fuzzed bytes", function()
  math.randomseed(1)
  for iter = 1, 3000 do
    local i = math.random(#samples)
    local b = {samples[i]:byte(1, -1)}
    for _ = 1, math.random(1, 6) do b[math.random(#b)] = math.random(0, 255) end
    local s = char(unpack(b)):sub(1, math.random(0, #b))
    local ok, err = pcall(check_inside, from(s, sample_lt[i]))
    if not ok then error(string.format("iteration %d: %s", iter, err)) end
  end
end)

T.test("hot path does not allocate", function()
  local p = from(udp4_frame())
  local w = ffi.cast("struct pktsh_pkt *", p)   -- the test plays the receiver
  local function loop(n)
    local sum = 0
    for _ = 1, n do
      w.l2state, w.l3state = 0, 0          -- as a receiver leaves a fresh descriptor
      local u = p:udp()
      if u then sum = sum + u.sport + u.dport end
      local ip = p:ip4()
      if ip then sum = sum + ip.ttl end
    end
    return sum
  end
  loop(1000)
  collectgarbage(); collectgarbage("stop")
  local before = collectgarbage("count")
  loop(200000)
  local grown = collectgarbage("count") - before
  collectgarbage("restart")
  T.ok(grown < 4, string.format("allocated %.1f KB over 200000 packets", grown))
end)

T.done()
