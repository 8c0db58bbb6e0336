-- File sources: formats, link types, filters, batches, statistics, and
-- every way a capture can be broken.
local T = require "t"
local ffi = require "ffi"
local P = "tests/pcaps/"

local function count(src)
  local n = 0
  local ok, err = src:each(function() n = n + 1 end)
  return n, ok, err
end

-- Writes bytes to a temporary file and returns its name.
local function tmpfile(bytes)
  local name = os.tmpname()
  local f = assert(io.open(name, "wb"))
  f:write(bytes)
  f:close()
  return name
end

-- Every capture in the manifest that libpcap opens yields its packets.
T.test("packet counts match the manifest", function()
  local manifest = assert(io.open(P .. "MANIFEST.tsv"))
  manifest:read("*l")
  local checked = 0
  for line in manifest:lines() do
    local cols = {}
    for c in (line .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
    local file, packets, malformed = cols[1], tonumber(cols[8]), cols[13]
    if not malformed:find("FILE%-LEVEL") then
      local src, err = pktsh.open(P .. file)
      T.ok(src, err)
      local n, ok, e = count(src)
      T.ok(ok, file .. ": " .. tostring(e))
      T.eq(n, packets, file .. " packets")
      src:close()
      checked = checked + 1
    end
  end
  manifest:close()
  T.ok(checked >= 30, "checked only " .. checked)
end)

T.test("microsecond pcap: timestamps in ns, mapped", function()
  local src = assert(pktsh.open(P .. "dnscap__dns.pcap"))
  T.eq(src.format, "pcap"); T.eq(src.nsec, false); T.eq(src.linktype, 1)
  local b = assert(src:next())
  T.eq(b.pkt[0].ts, 1476976981075993000LL, "first ts")
  T.eq(b.pkt[1].ts, 1476976981077982000LL, "second ts")
  T.eq(b.pkt[0].len, 70); T.eq(b.pkt[1].len, 222)
  T.eq(b.pkt[0].tsrc, ffi.C.PKTSH_TSRC_FILE)
end)

T.test("nanosecond pcap with LINUX_SLL", function()
  local src = assert(pktsh.open(P .. "tcpdump__tcp-handshake-nano.pcap"))
  T.eq(src.nsec, true); T.eq(src.linktype, 113)
  local b = assert(src:next())
  T.eq(b.count, 3)
  T.eq(b.pkt[0].ts, 1418145369924505488LL)
  T.eq(b.pkt[2].ts, 1418145370052115157LL)
  T.eq(b.pkt[2].caplen, 68)
end)

T.test("pcapng through libpcap", function()
  local src = assert(pktsh.open(P .. "zeek__pcapng-multi-interface.pcapng"))
  T.eq(src.format, "pcapng")
  local last = 0LL
  local n = count(src)
  T.eq(n, 6)
  src = assert(pktsh.open(P .. "ndpi__dns-google-nsid.pcapng"))
  src:each(function(p)
    T.ok(p.ts >= last, "timestamps in order")
    T.ok(p.caplen > 0 and p.caplen <= p.len)
    last = p.ts
  end)
end)

T.test("empty pcapng ends at once", function()
  local src = assert(pktsh.open(P .. "tcpdump__empty.pcapng"))
  T.eq(src:next(), nil)
  T.eq(src:each(function() end), true)
end)

T.test("link types of RAW and SLL2 captures", function()
  T.eq(assert(pktsh.open(P .. "dnscap__frags.pcap")).linktype, 228)
  T.eq(assert(pktsh.open(P .. "tcpdump__ipv6-next-header-oobr-1.pcap")).linktype, 229)
  T.eq(assert(pktsh.open(P .. "dnscap__sll2.pcap")).linktype, 276)
end)

T.test("filter runs before Lua and is counted", function()
  local src = assert(pktsh.open(P .. "dnscap__dns.pcap", {filter = "udp port 53"}))
  T.eq(count(src), 82)
  local st = src:stats()
  T.eq(st.received, 133); T.eq(st.packets, 82); T.eq(st.filtered, 51)
  src = assert(pktsh.open(P .. "dnscap__vlan11.pcap", {filter = "vlan 11 and udp port 53"}))
  T.eq(count(src), 82)
  src = assert(pktsh.open(P .. "ndpi__dns-google-nsid.pcapng", {filter = "ip6"}))
  T.ok(count(src) > 0, "ip6 filter on pcapng")
end)

T.test("a filter that does not compile names the expression", function()
  local src, err = pktsh.open(P .. "dnscap__dns.pcap", {filter = "udp port banana"})
  T.eq(src, nil)
  T.ok(err:find("udp port banana", 1, true), err)
  T.ok(pktsh.check_filter("tcp and port 80"))
  T.eq(pktsh.check_filter("tcp and"), nil)
end)

T.test("missing file and interface", function()
  local src, err = pktsh.open("/nonexistent/x.pcap")
  T.eq(src, nil)
  T.ok(err:find("/nonexistent/x.pcap", 1, true) and err:find("no such"), err)
end)

T.test("file-level malformed capture is a clean error", function()
  local src, err = pktsh.open(P .. "libpcap__pcap-invalid-version-1.pcap")
  T.eq(src, nil)
  T.ok(err:find("pcap%-invalid%-version%-1%.pcap") and err:find("version"), err)
  local junk = tmpfile(string.rep("not a capture file at all ", 10))
  src, err = pktsh.open(junk)
  os.remove(junk)
  T.eq(src, nil)
  T.ok(err:find("unknown file format") or err:find("format"), err)
end)

T.test("torn last record: complete packets first, then the error", function()
  local whole = T.slurp(P .. "dnscap__dns.pcap")
  for _, cut in ipairs({10, 16, 17, 40}) do
    local name = tmpfile(whole:sub(1, #whole - cut))
    local src = assert(pktsh.open(name))
    local n, ok, err = count(src)
    os.remove(name)
    T.eq(n, 132, "packets before the torn record (cut " .. cut .. ")")
    T.eq(ok, nil)
    T.ok(err:find("truncated"), err)
    T.eq(src:error(), err)
  end
end)

T.test("torn pcapng through libpcap", function()
  local whole = T.slurp(P .. "ndpi__dns-google-nsid.pcapng")
  local name = tmpfile(whole:sub(1, #whole - 30))
  local src = assert(pktsh.open(name))
  local n, ok, err = count(src)
  os.remove(name)
  T.eq(n, 13)
  T.eq(ok, nil)
  T.ok(err and #err > 0, "an error is reported")
end)

T.test("corrupt record length", function()
  local whole = T.slurp(P .. "dnscap__dns.pcap")
  -- third record's caplen field: header 24 + 2 records
  local src0 = assert(pktsh.open(P .. "dnscap__dns.pcap"))
  local b = src0:next()
  local off = 24 + 16 + b.pkt[0].caplen + 16 + b.pkt[1].caplen
  local bad = whole:sub(1, off + 8) .. "\255\255\255\127" .. whole:sub(off + 13)
  local name = tmpfile(bad)
  local src = assert(pktsh.open(name))
  local n, ok, err = count(src)
  os.remove(name)
  T.eq(n, 2)
  T.eq(ok, nil)
  T.ok(err:find("corrupt"), err)
end)

T.test("batches honour the batch size", function()
  local src = assert(pktsh.open(P .. "dnscap__dns.pcap", {batch = 7}))
  local sizes = 0
  while true do
    local b = src:next()
    if not b then break end
    T.ok(b.count <= 7)
    sizes = sizes + b.count
  end
  T.eq(sizes, 133)
  T.eq(src:stats().batches, math.ceil(133 / 7))
  T.eq(pktsh.open(P .. "dnscap__dns.pcap", {batch = 0}), nil)
end)

T.test("each stops when fn returns false; packets() iterates", function()
  local src = assert(pktsh.open(P .. "dnscap__dns.pcap"))
  local n = 0
  T.eq(src:each(function() n = n + 1; return n < 5 end), true)
  T.eq(n, 5)
  local m = 0
  for _ in src:packets() do m = m + 1 end
  T.eq(m, 128, "packets() goes on after the batch each() left")
end)

T.test("closed source", function()
  local src = assert(pktsh.open(P .. "dnscap__dns.pcap"))
  src:close()
  local b, err = src:next()
  T.eq(b, nil)
  T.ok(err:find("closed"))
  src:close()
  T.ok(tostring(src):find("closed"))
end)

T.test("forgotten sources are closed by the collector", function()
  for _ = 1, 3000 do
    pktsh.open(P .. "tcpdump__dns_udp.pcap")
    if _ % 100 == 0 then collectgarbage() end
  end
  collectgarbage()
  local src, err = pktsh.open(P .. "tcpdump__dns_udp.pcap")
  T.ok(src, err)
end)

T.test("pcapng path and mapped path agree", function()
  -- convert with tcpdump? use the writer: same packets, nanosecond pcap
  local src = assert(pktsh.open(P .. "ndpi__dns-google-nsid.pcapng"))
  local name = os.tmpname()
  local w = assert(pktsh.pcap_writer(name, {linktype = src.linktype}))
  local ts = {}
  src:each(function(p) assert(w:write(p)); ts[#ts + 1] = p.ts end)
  assert(w:close())
  local back = assert(pktsh.open(name))
  T.eq(back.nsec, true)
  local i = 0
  back:each(function(p) i = i + 1; T.eq(p.ts, ts[i], "ts " .. i) end)
  T.eq(i, 14)
  os.remove(name)
end)

T.test("records across read-buffer boundaries, any batch size", function()
  -- Sizes that do not divide the reader's 256 KiB buffer, plus one
  -- record larger than the buffer.
  local name = os.tmpname()
  local w = assert(pktsh.pcap_writer(name, {snaplen = 400000}))
  local sizes = {}
  for i = 1, 4000 do
    local n = (i * 7919) % 1500 + 1
    if i == 1234 then n = 300000 end
    sizes[i] = n
    assert(w:write(string.char(i % 256):rep(n), i))
  end
  assert(w:close())
  for _, batch in ipairs({1, 3, 256, 4096}) do
    local src = assert(pktsh.open(name, {batch = batch}))
    local i = 0
    assert(src:each(function(p)
      i = i + 1
      T.eq(p.caplen, sizes[i], "caplen of " .. i)
      T.eq(p.data[0], i % 256, "first byte of " .. i)
      T.eq(p.data[p.caplen - 1], i % 256, "last byte of " .. i)
      T.eq(p.ts, i, "ts of " .. i)
    end))
    T.eq(i, 4000, "packets with batch " .. batch)
  end
  os.remove(name)
end)

T.test("NULL, LOOP and RAW link types through a file", function()
  local ip4 = "\69\0\0\28\0\1\0\0\64\17\0\0\198\18\0\1\198\18\0\2" ..
              "\0\53\4\210\0\8\0\0"
  local cases = {
    {"NULL", 0, "\2\0\0\0" .. ip4},      -- AF_INET in host (little-endian) order
    {"LOOP", 108, "\0\0\0\2" .. ip4},    -- AF_INET in network order
    {"RAW", 12, ip4},
  }
  for _, c in ipairs(cases) do
    local name = os.tmpname()
    local w = assert(pktsh.pcap_writer(name, {linktype = c[1]}))
    assert(w:write(c[3], 1))
    assert(w:close())
    local src = assert(pktsh.open(name))
    T.eq(src.linktype, c[2], c[1] .. " link type")
    local p = assert(src:next()).pkt[0]
    T.eq(tostring(p:ip4().src), "198.18.0.1", c[1] .. " source")
    T.eq(p:udp().dport, 1234, c[1] .. " port")
    src:close()
    os.remove(name)
  end
end)

T.test("stats after close: the totals at the close, no read of freed memory", function()
  local src = assert(pktsh.open("tests/pcaps/dnscap__dns.pcap", {filter = "udp"}))
  assert(src:next())
  local before = src:stats()
  src:close()
  local after = src:stats()
  T.eq(after.packets, before.packets, "packets kept")
  T.eq(after.received, before.received, "received kept")
  T.eq(after.filtered, before.filtered, "filtered kept")
  after.packets = -1
  T.eq(src:stats().packets, before.packets, "a copy each time")
end)

T.done()
