-- The pcap writer: round trips through pktsh, tcpdump and tshark.
local T = require "t"
local P = "tests/pcaps/"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local out = p:read("*a")
  p:close()
  return out
end

local function have(tool)
  return os.execute("command -v " .. tool .. " >/dev/null 2>&1") == 0
end

local function copy_capture(from, to, filter)
  local src = assert(pktsh.open(from, {filter = filter}))
  local w = assert(pktsh.pcap_writer(to, {linktype = src.linktype, snaplen = src.snaplen}))
  assert(src:each(function(p) assert(w:write(p)) end))
  T.eq(w:count(), src:stats().packets, "written count")
  local size = w:size()
  assert(w:close())
  -- after close: the counts it had (the file's size once flushed)
  T.eq(w:count(), src:stats().packets, "count after close")
  T.eq(w:size(), size, "size after close")
  local f = assert(io.open(to, "rb")); T.eq(f:seek("end"), size, "size is the file's"); f:close()
  return src:stats().packets
end

T.test("copy of a capture is read back identically", function()
  local out = os.tmpname()
  local n = copy_capture(P .. "dnscap__dns.pcap", out)
  T.eq(n, 133)
  local a, b = assert(pktsh.open(P .. "dnscap__dns.pcap")), assert(pktsh.open(out))
  local pa, pb = a:packets(), b:packets()
  for i = 1, 133 do
    local x, y = pa(), pb()
    T.eq(y.ts, x.ts, "ts " .. i)
    T.eq(y.len, x.len, "len " .. i)
    T.eq(require("ffi").string(y.data, y.caplen), require("ffi").string(x.data, x.caplen), "bytes " .. i)
  end
  T.eq(pb(), nil)
  os.remove(out)
end)

if have("tcpdump") then
  T.test("tcpdump reads what the writer wrote", function()
    local out = os.tmpname()
    copy_capture(P .. "dnscap__vlan11.pcap", out, "vlan and udp port 53")
    local theirs = sh("tcpdump -n -r " .. P .. "dnscap__vlan11.pcap 'vlan and udp port 53'")
    local ours = sh("tcpdump -n -r " .. out)
    T.ok(#ours > 0, "tcpdump printed nothing")
    T.eq(ours, theirs, "tcpdump output")
    os.remove(out)
  end)
else
  T.skip("tcpdump reads what the writer wrote", "tcpdump not installed")
end

if have("tshark") then
  T.test("nanosecond timestamps and lengths survive (tshark)", function()
    local out = os.tmpname()
    local w = assert(pktsh.pcap_writer(out, {linktype = "RAW", snaplen = 64}))
    T.eq(w.linktype, 12)
    local pkt = string.rep("\69", 1) .. string.rep("\0", 99)   -- 100 bytes
    assert(w:write(pkt, 1700000000123456789LL))
    assert(w:write(pkt, 1700000001000000001LL, 1500))
    assert(w:close())
    local lines = sh("tshark -r " .. out .. " -T fields -e frame.time_epoch -e frame.len -e frame.cap_len")
    T.eq(lines, "1700000000.123456789\t100\t64\n1700000001.000000001\t1500\t64\n")
    local back = assert(pktsh.open(out))
    local b = assert(back:next())
    T.eq(b.pkt[0].ts, 1700000000123456789LL)
    T.eq(b.pkt[0].caplen, 64); T.eq(b.pkt[1].len, 1500)
    os.remove(out)
  end)
else
  T.skip("nanosecond timestamps and lengths survive (tshark)", "tshark not installed")
end

T.test("records larger than the write buffer", function()
  local out = os.tmpname()
  local w = assert(pktsh.pcap_writer(out, {snaplen = 600000}))
  local big = string.rep("x", 500000)
  assert(w:write("small", 1))
  assert(w:write(big, 2))
  assert(w:write("after", 3))
  assert(w:close())
  local src = assert(pktsh.open(out))
  local sizes = {}
  src:each(function(p) sizes[#sizes + 1] = p.caplen end)
  T.deq(sizes, {5, 500000, 5})
  os.remove(out)
end)

T.test("errors: bad path, link type, mismatch, closed", function()
  local w, err = pktsh.pcap_writer("/nonexistent/dir/x.pcap")
  T.eq(w, nil); T.ok(err:find("/nonexistent/dir/x.pcap", 1, true), err)
  w, err = pktsh.pcap_writer(os.tmpname(), {linktype = "BANANA"})
  T.eq(w, nil); T.ok(err:find("BANANA"), err)
  local out = os.tmpname()
  w = assert(pktsh.pcap_writer(out, {linktype = "RAW"}))
  local src = assert(pktsh.open(P .. "tcpdump__dns_udp.pcap"))
  local ok, e = w:write(src:next().pkt[0])
  T.eq(ok, nil); T.ok(e:find("link type"), e)
  T.raises(function() w:write(42) end, "bad argument")
  assert(w:close())
  T.eq(w:count(), 0)
  ok, e = w:write("x")
  T.eq(ok, nil); T.ok(e:find("closed"))
  os.remove(out)
end)

T.test("a forgotten writer is flushed by the collector", function()
  local out = os.tmpname()
  do
    local w = assert(pktsh.pcap_writer(out))
    for i = 1, 10 do w:write(string.rep("a", 60), i) end
  end
  collectgarbage(); collectgarbage()
  local src = assert(pktsh.open(out))
  local n = 0
  T.eq(src:each(function() n = n + 1 end), true)
  T.eq(n, 10)
  os.remove(out)
end)

-- pcapng: the section's comment, interface blocks (named, one per link
-- type, added on demand), packet comments; read by tshark and by pktsh.
if have("tshark") then
  T.test("pcapng: interface blocks and comments (tshark)", function()
    local out = os.tmpname()
    local w = assert(pktsh.pcap_writer(out, {format = "pcapng", linktype = "EN10MB",
      comment = "section note", ifname = "veth-a", ifdescr = "uplink"}))
    local src = assert(pktsh.open(P .. "dnscap__dns.pcap"))
    local first = src:next().pkt[0]
    assert(w:write(first, {comment = "the first one"}))
    local raw = string.char(0x45) .. string.rep("\0", 27)
    assert(w:write(raw, 1500000000123456789ULL, nil, {interface = assert(w:add_interface{linktype = "RAW", name = "tun0"})}))
    assert(w:write(string.char(0x45) .. string.rep("\0", 19), 1500000001000000000))  -- no interface: EN10MB's
    T.eq(w:count(), 3, "count")
    assert(w:close())
    src:close()
    local rows = sh("tshark -r " .. out .. " -T fields -E separator=, -e frame.interface_id" ..
      " -e frame.interface_name -e frame.encap_type -e frame.comment -e frame.time_epoch")
    T.eq(rows, "0,veth-a,1,the first one,1476976981.075993000\n" ..
               "1,tun0,7,,1500000000.123456789\n" ..
               "0,veth-a,1,,1500000001.000000000\n", "tshark's view")
    T.ok(sh("capinfos " .. out):find("Capture comment:%s+section note"), "section comment")
    T.ok(sh("tshark -r " .. out .. " -T fields -e frame.interface_description -c1"):find("uplink"), "description")
    os.remove(out)
  end)

  -- Two interfaces of one link type: tcpdump and pktsh read both (libpcap,
  -- and so pktsh, refuse interfaces of different link types in one file).
  T.test("pcapng: two Ethernet interfaces, read by tcpdump and pktsh", function()
    local out = os.tmpname()
    local w = assert(pktsh.pcap_writer(out, {format = "pcapng", ifname = "eth0"}))
    local eth1 = assert(w:add_interface{linktype = "EN10MB", name = "eth1"})
    local src = assert(pktsh.open(P .. "dnscap__dns.pcap"))
    local i = 0
    for p in src:packets() do
      i = i + 1
      assert(w:write(p, i % 2 == 0 and {interface = eth1} or nil))
    end
    assert(w:close())
    T.eq(sh("tshark -r " .. out .. " -T fields -e frame.interface_name 2>/dev/null | sort | uniq -c | awk '{print $1, $2}'"),
         "67 eth0\n66 eth1\n", "interfaces")
    if have("tcpdump") then
      T.eq(sh("tcpdump -nr " .. out), sh("tcpdump -nr " .. P .. "dnscap__dns.pcap"), "tcpdump")
    end
    local back, n = assert(pktsh.open(out)), 0
    for _ in back:packets() do n = n + 1 end
    T.eq(n, 133, "pktsh reads it back")
    os.remove(out)
  end)
else
  T.skip("pcapng: interface blocks and comments", "tshark not installed")
end

T.done()
