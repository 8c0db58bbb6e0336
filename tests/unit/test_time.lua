-- Time and transmit without a network (issue 14): filter programs as
-- classic BPF (Lua lists, tcpdump -dd and -ddd text) on a capture file,
-- set_filter on a file between batches, option checks of pktsh.sender,
-- pktsh.replay and the latency probes, the PTP offset arithmetic, and
-- pktsh_sleep_until.
local T = require "t"
local ffi = require "ffi"
local bpf = require "pktsh.source.bpf"

local PCAP = "tests/pcaps/dnscap__dns.pcap"

local function count(opts)
  local src = assert(pktsh.open(PCAP, opts))
  local n = 0
  assert(src:each(function() n = n + 1 end))
  return n, src
end

T.test("bpf selftest", function() T.eq(bpf.selftest(), true, "selftest") end)

-- "udp" for Ethernet, as tcpdump -dd -y EN10MB udp prints it (IPv4
-- proto 17, IPv6 next header 17 or a fragment header followed by 17).
local UDP_DD = [[
{ 0x28, 0, 0, 0x0000000c },
{ 0x15, 0, 2, 0x00000800 },
{ 0x30, 0, 0, 0x00000017 },
{ 0x15, 6, 7, 0x00000011 },
{ 0x15, 0, 6, 0x000086dd },
{ 0x30, 0, 0, 0x00000014 },
{ 0x15, 3, 0, 0x00000011 },
{ 0x15, 0, 3, 0x0000002c },
{ 0x30, 0, 0, 0x00000036 },
{ 0x15, 0, 1, 0x00000011 },
{ 0x6, 0, 0, 0x00040000 },
{ 0x6, 0, 0, 0x00000000 },
]]

T.test("a file with tcpdump -dd text counts what the expression does", function()
  local want = count{filter = "udp"}
  T.ok(want > 0, "the capture has UDP")
  T.eq(count{filter = UDP_DD}, want, "-dd text")
  local ddd = {}
  for a, b, c, d in UDP_DD:gmatch("{ (0x%x+), (%d+), (%d+), (0x%x+) }") do
    ddd[#ddd + 1] = string.format("%d %d %d %d", tonumber(a), b, c, tonumber(d))
  end
  T.eq(count{filter = #ddd .. "\n" .. table.concat(ddd, "\n") .. "\n"}, want, "-ddd text")
  local list = {}
  for a, b, c, d in UDP_DD:gmatch("{ (0x%x+), (%d+), (%d+), (0x%x+) }") do
    list[#list + 1] = {code = tonumber(a), jt = tonumber(b), jf = tonumber(c), k = tonumber(d)}
  end
  T.eq(count{filter = list}, want, "a Lua list with named fields")
end)

T.test("bad programs are refused, saying why", function()
  local _, e = pktsh.open(PCAP, {filter = {{0x15, 9, 9, 0}}})
  T.ok(e and e:find("bad filter program: a jump out of range"), tostring(e))
  _, e = pktsh.open(PCAP, {filter = {}})
  T.ok(e and e:find("no instructions"), tostring(e))
  local big = {}
  for i = 1, 4097 do big[i] = {6, 0, 0, 0} end
  _, e = pktsh.open(PCAP, {filter = big})
  T.ok(e and e:find("4097 instructions; the kernel takes 4096"), tostring(e))
  _, e = pktsh.open(PCAP, {filter = "{ 0x6, 0, 0, zz }"})
  T.ok(e and e:find("'zz' is not a number"), tostring(e))
  _, e = pktsh.open(PCAP, {filter = 17})
  T.ok(e and e:find("filter must be"), tostring(e))
end)

T.test("set_filter on a file: from the next batch, and back to none", function()
  local all = count{}
  local udp = count{filter = "udp"}
  local src = assert(pktsh.open(PCAP, {batch = 8}))
  local n, switched = 0, false
  src:each(function()
    n = n + 1
    if n == 8 and not switched then switched = assert(src:set_filter("udp")) end
  end)
  T.ok(n < all and n > 8, "fewer than all after the swap: " .. n)
  T.eq(src.filter, "udp", "src.filter")
  local src2 = assert(pktsh.open(PCAP, {filter = "udp"}))
  assert(src2:set_filter(nil))
  local m = 0
  src2:each(function() m = m + 1 end)
  T.eq(m, all, "no filter after set_filter(nil)")
  T.eq(src2.filter, nil, "src.filter")
  local src3 = assert(pktsh.open(PCAP, {filter = "udp"}))
  local ok, e = src3:set_filter("udp port nonsense")
  T.eq(ok, nil, "bad expression")
  T.ok(e:find("bad filter 'udp port nonsense'"), e)
  local k = 0
  src3:each(function() k = k + 1 end)
  T.eq(k, udp, "the old filter stays")
  src3:close()
  T.eq(select(2, src3:set_filter("udp")), "source is closed", "closed")
end)

T.test("sender options are checked before any socket", function()
  local _, e = pktsh.sender("lo", {tstamp = "ptp"})
  T.ok(e:find('tstamp must be "sw", "hw" or "both", not ptp'), e)
  _, e = pktsh.sender("lo", {ring_frames = 0})
  T.ok(e:find("ring_frames must be a whole number"), e)
  _, e = pktsh.sender("lo", {rate = -1})
  T.ok(e:find("rate must be a number of frames a second above 0, not %-1"), e)
  _, e = pktsh.sender("lo", {speed = 1})
  T.ok(e:find("unknown option 'speed' for a sender"), e)
  T.ok(not pcall(pktsh.sender, 5), "a non-string interface raises")
end)

T.test("help covers sending: the sender's options, build, rewrite-then-send, replay", function()
  local repl = require "pktsh.host.repl"
  for _, v in ipairs({"sender", pktsh.sender, pktsh.replay}) do
    local text = repl.describe(v)
    for _, word in ipairs({"tx_ring", "bypass", "ring_frames", "tstamp", "rate = N",
                           "tx_timestamps", "pktsh.build.udp4", "pkt:raw()", "pkt:copy()",
                           "pktsh.replay"}) do
      T.ok(text:find(word, 1, true), tostring(v) .. " help names " .. word)
    end
  end
  T.ok(repl.describe("time"):find("ts_sw", 1, true), "help'time'")
  T.ok(repl.describe("filter"):find("set_filter", 1, true), "help'filter'")
end)

T.test("replay options are checked first", function()
  local cases = {
    {{pps = 1, speed = 2}, "give one of speed, pps, mbps and topspeed"},
    {{pps = -1}, "pps must be a number above 0"},
    {{loop = 1.5}, "loop must be a whole number"},
    {{bogus = 1}, "unknown replay option 'bogus'"},
    {{mbps = 0}, "mbps must be a number above 0"},
  }
  for _, c in ipairs(cases) do
    local r, e = pktsh.replay(PCAP, "lo", c[1])
    T.eq(r, nil, c[2])
    T.ok(e:find(c[2], 1, true), e)
  end
  local _, e = pktsh.replay(PCAP, "pktshnope0", {})
  T.ok(e:find("no such network interface 'pktshnope0'"), e)
end)

T.test("latency options are checked first", function()
  local lat = require "pktsh.app.latency"
  local _, e = lat.run{tx = "lo"}
  T.ok(e:find("give rx"), e)
  _, e = lat.run{tx = "lo", echo = true}
  T.ok(e:find("echo needs src and dst"), e)
  _, e = lat.run{tx = "lo", rx = "lo", count = 0}
  T.ok(e:find("count must be"), e)
  _, e = lat.run{tx = "lo", rx = "lo", tstamp = "ptp"}
  T.ok(e:find('tstamp must be "sw" or "hw"'), e)
end)

T.test("PTP offset: the narrowest window wins", function()
  local s = ffi.new("int64_t[9]", {100, 40, 300, 1000, 960, 1010, 2000, 1000, 2500})
  local w = ffi.new("int64_t[1]")
  T.eq(tonumber(ffi.C.pktsh_phc_offset(s, 3, w)), 45, "offset: 1005 - 960")
  T.eq(tonumber(w[0]), 10, "window")
  local bad = ffi.new("int64_t[3]", {10, 5, 9})   -- after before before: unusable
  T.eq(tonumber(ffi.C.pktsh_phc_offset(bad, 1, w)), 0, "no sample")
  T.eq(tonumber(w[0]), -1, "no window")
end)

T.test("sleep_until is never early", function()
  local C = ffi.C
  for _, spin in ipairs({0, 200e3}) do
    local due = C.pktsh_mono_ns() + 3e6
    T.eq(C.pktsh_sleep_until(due, spin), 0, "on time")
    T.ok(C.pktsh_mono_ns() >= due, "not early (spin " .. spin .. ")")
  end
  T.eq(C.pktsh_sleep_until(C.pktsh_mono_ns() - 1e6, 0), 0, "a time past returns at once")
end)

T.done()
