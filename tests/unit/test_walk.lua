-- test_walk.lua - the one L2/L3 walker (src/proto/walk.c) through the
-- packet decoders: encapsulations (issue 12) against tshark's decode of
-- the generated captures (tests/pcaps/gen__*.pcap, oracles in
-- tests/pcaps/oracle), the text and JSON they give, and its bounds.
local T = require "t"
local b = pktsh.build
local u16 = b.u16

local DIR = "tests/pcaps/"

local manifest = require "manifest"
local function oracle(name) return manifest.oracle("oracle/" .. name .. ".dns.tsv") end

local function each(path, fn)
  local src = assert(pktsh.open(path))
  local n = 0
  src:each(function(p) n = n + 1; fn(p, n) end)
  src:close()
  return n
end

-- the encapsulation captures: tagged "tunnel" in the manifest
local captures = {}
for _, row in ipairs(manifest.rows()) do
  if row.tags:find("tunnel", 1, true) then captures[#captures + 1] = row.file:match("(.+)%.pcap$") end
end
T.ok(#captures >= 17, "generated captures present")

-- Every IP header, outside in, by pkt:ip(i): tshark lists the IPv4
-- sources (ip.src) and the IPv6 ones (ipv6.src) of a frame in that order.
for _, name in ipairs(captures) do
  T.test(name .. ": every IP layer as tshark decodes it", function()
    local rows = oracle(name)
    each(DIR .. name .. ".pcap", function(p, n)
      local r = rows[n]
      if not r then return end
      local v4, v6 = {}, {}
      for i = 1, 8 do
        local ip = p:ip(i)
        if not ip then break end
        local t = ip.version == 4 and v4 or v6
        t[#t + 1] = tostring(ip.src)
      end
      T.eq(table.concat(v4, ","), r["ip.src"], name .. " frame " .. n .. " ip.src")
      T.eq(table.concat(v6, ","), r["ipv6.src"], name .. " frame " .. n .. " ipv6.src")
      -- the innermost by default, and by -1
      local inner = p:ip()
      T.eq(tostring(inner.src), tostring(p:ip(-1).src), "ip() is ip(-1)")
      local sport, dport = p:ports()
      T.ok(sport == 53 or dport == 53, name .. ": the inner ports")
      -- the tunnel stack names what tshark's frame.protocols shows
      local protos = r["frame.protocols"]
      for _, e in ipairs(p:tunnels()) do
        local want = ({pppoe = "pppoes", mpls = "mpls", gre = "gre", erspan = "erspan",
          vxlan = "vxlan", geneve = "geneve"})[e.type]
        if want then T.ok(protos:find(want, 1, true), name .. ": " .. e.type .. " in " .. protos) end
      end
    end)
  end)
end

T.test("pkt:tunnels() fields", function()
  local function first(name)
    local t
    each(DIR .. name .. ".pcap", function(p, n) if n == 1 then t = p:tunnels() end end)
    return t
  end
  T.deq(first("gen__pppoe-qinq"), {{type = "pppoe", session = 0x1234}})
  T.deq(first("gen__mpls"), {{type = "mpls", labels = {16, 17}}})
  T.deq(first("gen__gre-keyseq"), {{type = "gre", src = "198.18.0.1", dst = "198.18.0.2",
    version = 0, key = 0xabcd, seq = 7}})
  T.deq(first("gen__erspan3")[2], {type = "erspan", version = 3, session = 43})
  T.deq(first("gen__6in4"), {{type = "6in4", src = "198.18.0.1", dst = "198.18.0.2"}})
  local t = first("gen__vxlan-in-gre-qinq")
  T.eq(#t, 2)
  T.eq(t[1].type, "gre"); T.eq(t[1].src, "198.18.2.1")
  T.eq(t[2].type, "vxlan"); T.eq(t[2].vni, 7); T.eq(t[2].dport, 4789)
  T.deq(first("gen__vlan3"), {})
end)

T.test("outer layers: pkt:udp(1), pkt:eth(2), pkt:vlan(3)", function()
  each(DIR .. "gen__vxlan.pcap", function(p, n)
    if n ~= 1 then return end
    T.eq(p:udp(1).dport, 4789, "outer UDP")
    T.eq(p:udp().dport, 53, "inner UDP")
    T.eq(p:eth(2).type, 0x0800, "the Ethernet header inside VXLAN")
    T.eq(p:eth(3), nil, "no third Ethernet header")
    T.eq(p:ip(3), nil, "no third IP header")
    T.eq(p:ip(-3), nil, "no IP header outside the outermost")
  end)
  each(DIR .. "gen__vlan3.pcap", function(p, n)
    if n ~= 1 then return end
    T.eq(p:vlan(3).id, 30, "third tag")
    T.eq(p.nvlan, 3, "tags (the cache, once walked)")
  end)
  T.raises(function() each(DIR .. "gen__gre.pcap", function(p) return p:ip("x") end) end,
    "bad IP layer", "a bad layer index")
end)

T.test("summary and show name the tunnels, tcpdump style", function()
  local want = {
    ["gen__pppoe-qinq"] = "vlan 100 vlan 200 PPPoE  [ses 0x1234] IP 198.18.1.10.40001 > 198.18.1.53.53: 1+ A? host1.example.com. (35)",
    ["gen__mpls"] = "MPLS (label 16, tc 0, ttl 64) (label 17, tc 0, [S], ttl 64) IP 198.18.1.10",
    ["gen__gre-keyseq"] = "IP 198.18.0.1 > 198.18.0.2: GREv0, key=0xabcd, seq 7, length 95: IP6 2001:2::10",
    ["gen__erspan2"] = "GREv0, seq 1, length 93: ERSPAN type II, session 42: IP 198.18.1.10",
    ["gen__vxlan"] = "IP 198.18.0.1.50000 > 198.18.0.2.4789: VXLAN, flags [I] (0x08), vni 1000: IP 198.18.1.10",
    ["gen__4in6"] = "IP6 2001:2::1 > 2001:2::2: IP 198.18.1.10",
    ["gen__vlan3"] = "vlan 10 vlan 20 vlan 30 IP 198.18.1.10",
  }
  for name, s in pairs(want) do
    each(DIR .. name .. ".pcap", function(p, n)
      if n == 1 then
        T.ok(p:summary():find(s, 1, true), name .. ": " .. p:summary())
      end
    end)
  end
  each(DIR .. "gen__geneve.pcap", function(p, n)
    if n == 1 then T.ok(p:show():find("Tunnel: IP 198.18.0.1.50001 > 198.18.0.2.6081: Geneve, vni 2000", 1, true)) end
  end)
end)

T.test("dump.lua --json: innermost addresses and the tunnel stack", function()
  local f = io.popen(os.getenv("PKTSH_BIN") .. " scripts/dump.lua --json -q " .. DIR .. "gen__vxlan-in-gre-qinq.pcap")
  local j = pktsh.json.decode(f:read("*l"))
  f:close()
  T.eq(j.src, "198.18.1.10"); T.eq(j.dport, 53); T.eq(j.vlan, 5)
  T.eq(#j.tunnels, 2); T.eq(j.tunnels[1].type, "gre"); T.eq(j.tunnels[2].vni, 7)
end)

-- Hand-made nests: the walk is bounded however deep they go.
local function frame_of(d) return ("\2\0\0\0\0\2\2\0\0\0\0\1") .. u16(0x0800) .. d end
local function wrap4(d) return b.ip4{proto = 4, payload = d}:sub(15) end

local packet = require "pktsh.proto.packet"
local function one(frame, fn) fn(packet.from_bytes(frame, 1, 1)) end

T.test("nesting is bounded: IP in IP 40 deep, 200 VLAN tags", function()
  local d = b.udp4{dport = 53, payload = "x"}:sub(15)
  for _ = 1, 40 do d = wrap4(d) end
  one(frame_of(d), function(p)
    T.eq(p:ip(8) ~= nil, true, "the walk goes 8 IP headers deep")
    T.eq(p:ip(9), nil, "and no deeper")
    T.eq(p:udp(), nil, "the datagram it stops on carries IP, not UDP")
    T.ok(#p:tunnels() <= 8)
    T.ok(p:summary():find("IP", 1, true))
  end)
  local tags = {}
  for i = 1, 200 do tags[i] = u16(0x8100) .. u16(i) end
  local f = "\2\0\0\0\0\2\2\0\0\0\0\1" .. table.concat(tags) .. u16(0x0800) .. b.udp4{dport = 53}:sub(15)
  one(f, function(p)
    T.eq(p:udp(), nil, "past the header limit: no UDP")
    T.ok(p.nvlan <= 64, "tags walked: " .. p.nvlan)
    T.ok(p:summary())
  end)
end)

T.test("a tunnel whose inner datagram is cut stays on the outer one", function()
  local inner = b.udp4{dport = 53, payload = "abc"}:sub(15)
  local f = frame_of(b.ip4{proto = 47, payload = u16(0) .. u16(0x0800) .. inner:sub(1, 10)}:sub(15))
  one(f, function(p)
    T.eq(p:proto(), 47, "GRE")
    T.eq(tostring(p:ip().src), "198.18.0.1")
    T.eq(p:ip(2), nil)
  end)
end)

T.test("truncated and offloaded frames: pkt.truncated, tcpdump's note, TSO lengths", function()
  local want = {}
  for line in io.popen("TZ=UTC tcpdump -n -r " .. DIR .. "gen__dns-truncated-ip.pcap 2>/dev/null"):lines() do
    want[#want + 1] = line:match("truncated%-ip6? %- %d+ bytes missing!") or false
  end
  local cut = 0
  each(DIR .. "gen__dns-truncated-ip.pcap", function(p, n)
    local note = p:summary():match("truncated%-ip6? %- %d+ bytes missing!") or false
    if #want > 0 then T.eq(note, want[n], "frame " .. n .. " as tcpdump") end
    T.eq(p.truncated, note ~= false, "frame " .. n .. " pkt.truncated")
    if p.truncated then
      cut = cut + 1
      local sport, dport = p:ports()
      T.eq(sport, 53, "ports decoded"); T.ok(dport > 41000)
      local off, len = p:payload()
      T.eq(off + len, p.caplen, "the payload is what was captured")
    end
  end)
  T.eq(cut, 9, "cut frames")
  each(DIR .. "gen__dns-offload.pcap", function(p, n)
    T.eq(p.truncated, false, "offload frame " .. n)
    if n == 4 then            -- IPv4 total length 0: the frame's
      T.eq(p:ip4().len, 0)
      local off, len = p:payload()
      T.eq(off + len, p.caplen, "TSO datagram ends with the frame")
      T.ok(p:summary():find("length " .. len, 1, true), p:summary())
    end
  end)
end)

-- The bound what carries a datagram imposes (issue 12): the datagram ends
-- at its IP length or its carrier's end, whichever is first; tshark reads
-- it so (pkt.l3wend, the accessors, -T fields, DNS), tcpdump notes the
-- bytes its IP length claims past its carrier (dump.lua's lines).
T.test("a datagram ends where what carries it ends: PPPoE, UDP and IP lengths", function()
  local MAC = "\2\0\0\0\0\2\2\0\0\0\0\1"
  local inner = b.udp4{src = "198.18.1.1", dst = "198.18.1.2", sport = 7, dport = 9,
                       payload = ("p"):rep(20)}:sub(15)                     -- 48 bytes
  local function pppoe(d, len, pad)
    return MAC .. u16(0x8864) .. "\17\0\0\1" .. u16(len) .. "\0\33" .. d .. (pad or "")
  end
  local function check(what, frame, plen, wend, trunc, note, wire)
    local p = packet.from_bytes(frame, 1, 1, wire)
    local off, n = p:payload()
    T.eq(n, plen, what .. ": payload bytes")
    T.eq(p.l3wend, wend, what .. ": l3wend")
    T.eq(p.l3end, math.min(wend, p.caplen), what .. ": l3end")
    T.eq(p.truncated, trunc, what .. ": pkt.truncated")
    T.ok(p:summary():find(note, 1, true), what .. ": " .. p:summary())
    return p
  end
  -- the session 6 bytes short of the IP length: the bytes are there
  check("PPPoE short", pppoe(inner, 2 + 48 - 6), 14, 14 + 8 + 42, true,
        "PPPoE  [ses 0x1] IP truncated-ip - 6 bytes missing! 198.18.1.1.7 > 198.18.1.2.9: UDP, length 20")
  -- longer than the IP length: padding inside the session
  check("PPPoE padding", pppoe(inner, 2 + 48 + 6, ("\0"):rep(6)), 20, 14 + 8 + 48, false,
        "IP 198.18.1.1.7 > ")
  -- past the frame (the capturing host cut it): the frame's end
  local f = pppoe(inner, 2 + 48):sub(1, -11)
  check("PPPoE past the frame", f, 10, #f, true, "PPPoE  [len 50 > 40!] [ses 0x1] IP truncated-ip - 10 bytes missing! ")
  -- a snaplen cut: the wire had the bytes (no note, still truncated)
  check("PPPoE snaplen", f, 10, #f + 10, true, "PPPoE  [ses 0x1] IP 198.18.1.1.7 > ", #f + 10)
  -- an outer UDP length 6 bytes short of the VXLAN payload
  local vx = "\8\0\0\0\0\0\1\0" .. MAC .. u16(0x0800) .. inner
  local outer = b.udp4{sport = 50000, dport = 4789, payload = vx}
  outer = outer:sub(1, 38) .. u16(8 + #vx - 6) .. outer:sub(41)
  check("VXLAN, UDP short", outer, 14, #outer - 6, true, "vni 1: [length 56 < caplen 62] (invalid)")
  -- an outer IP length 6 bytes short of the IP-in-IP datagram
  local ipip = b.ip4{proto = 4, payload = inner}
  ipip = ipip:sub(1, 16) .. u16(20 + 48 - 6) .. ipip:sub(19)
  check("IP in IP, outer short", ipip, 14, #ipip - 6, true,
        "IP 198.18.0.1 > 198.18.0.2: IP truncated-ip - 6 bytes missing! 198.18.1.1.7 > ")
  -- the outer datagram past the frame: Wireshark ends the inner one with
  -- the frame, tcpdump notes the outer one only (pkt.truncated: a header
  -- claims more than was captured)
  local p = check("IP in IP, past the frame", ipip:sub(1, 16) .. u16(20 + 48 + 10) .. ipip:sub(19),
                  20, #ipip, true, "IP truncated-ip - 10 bytes missing! 198.18.0.1 > 198.18.0.2: IP 198.18.1.1.7 > ")
  T.eq(select(2, p:summary():gsub("missing", "")), 1, "one note")
end)

-- GRE carrying Cisco MetaData (0x8909: the ethertype of what follows,
-- version, length, options, SGT): tshark decodes the IP inside, tcpdump
-- prints gre-proto-0x8909 and stops.
T.test("GRE with Cisco MetaData: the walker steps over it, the line stays tcpdump's", function()
  local inner = b.udp4{src = "198.18.1.1", dst = "198.18.1.2", sport = 40000, dport = 53,
                       payload = "\0\7\1\0\0\1\0\0\0\0\0\0\1a\0\0\1\0\1"}:sub(15)
  local gre = u16(0x2000) .. u16(0x8909) .. "\0\0\0\40" .. u16(0x0800) .. "\1\1" .. u16(1) .. u16(9)
  local f = b.ip4{proto = 47, payload = gre .. inner}
  one(f, function(p)
    T.eq(tostring(p:ip().src), "198.18.1.1", "the IP inside")
    T.eq(tostring(p:ip(1).src), "198.18.0.1", "the outer IP")
    T.eq(select(2, p:ports()), 53, "its ports")
    local t = p:tunnels()
    T.eq(#t, 2, "GRE and MetaData")
    T.eq(t[2].type, "cmd"); T.eq(t[2].sgt, 9)
    T.eq(p:summary():match(": (.*)$"), "GREv0, key=0x28, length " .. (#gre + #inner) .. ": gre-proto-0x8909",
         p:summary())
  end)
  -- cut inside the MetaData header: the walk stays on the outer datagram
  one(f:sub(1, 34 + 12), function(p)
    T.eq(tostring(p:ip().src), "198.18.0.1", "cut")
  end)
end)

T.done()
