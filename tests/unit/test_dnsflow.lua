-- pktsh.dnsflow's state under attack: half-open TCP floods, streams of
-- incomplete messages, fragment floods. State is bounded in entries and
-- bytes, the oldest goes first, and the work per segment stays constant
-- (counted: stats().state_visits, the entries expiry and eviction look
-- at). Normal captures are covered by the oracle tests; holes in TCP
-- flows (issue 12) are tested here too.
local T = require "t"
local dnsflow = require "pktsh.proto.dnsflow"
local packet = require "pktsh.proto.packet"
local ffi = require "ffi"
local b = pktsh.build
local PKTSH = os.getenv("PKTSH_BIN") or "build/pktsh"

local char = string.char
local function be16(n) return char(math.floor(n / 256) % 256, n % 256) end

local QUERY = "\66\66\1\0\0\1\0\0\0\0\0\0\7example\3com\0\0\1\0\1"
local function nothing() end

-- A UDP datagram from port 53 to 1234 carrying msg (checksum 0: none).
local function udp53(msg) return be16(53) .. be16(1234) .. be16(8 + #msg) .. "\0\0" .. msg end

-- A packet of one IPv4 fragment from 198.18.0.53 to 198.18.1.1: part at
-- byte off (a multiple of 8) of datagram id, more to come unless last
-- (the header checksum is left 0: dnsflow does not check it).
local function frag4(id, off, part, last, ts)
  local ip = "\69\0" .. be16(20 + #part) .. be16(id) .. be16((last and 0 or 0x2000) + off / 8) ..
    "\64\17\0\0" .. "\198\18\0\53" .. "\198\18\1\1"
  return packet.from_bytes(("\2\0\0\0\0\1"):rep(2) .. "\8\0" .. ip .. part, 1, ts or 1)
end

local function seg(sport, seq, flags, payload, ts)
  return packet.from_bytes(b.tcp4{src = "198.18.1.1", dst = "198.18.0.53", sport = sport,
                                  dport = 53, seq = seq, flags = flags, payload = payload},
                           1, ts or 0)
end

T.test("half-open flood: new flows evict the oldest in O(1), none refused", function()
  local N, MAX = 20000, 1000
  local fe = dnsflow.new{ports = {53}, max_flows = MAX}
  -- a real flow opens first, its message split over two segments
  local m = be16(#QUERY) .. QUERY
  local got = 0
  local function count() got = got + 1 end
  fe:feed(seg(999, 100, "S", ""), count)
  fe:feed(seg(999, 101, "PA", m:sub(1, 5)), count)
  for i = 1, N do fe:feed(seg(1000 + i % 60000, 7, "S", "", i), count) end
  local st = fe:stats()
  T.eq(st.tcp_dropped, 0, "new flows refused")
  T.eq(st.tcp_flows, N + 1, "flows made")
  T.eq(st.flows, MAX, "flows held")
  T.eq(st.tcp_evicted, N + 1 - MAX, "evicted")
  T.ok(st.state_visits <= N + 1, "state visited per SYN: " .. st.state_visits / N)
  -- the real flow was the oldest: gone, its rest now starts a stream of
  -- its own (no whole message at its start)
  fe:feed(seg(999, 106, "PA", m:sub(6)), count)
  T.eq(got, 0, "nothing emitted from the evicted flow")
  -- flows in use stay: a flow active while the flood runs survives it
  fe = dnsflow.new{ports = {53}, max_flows = MAX}
  got = 0
  fe:feed(seg(999, 100, "S", ""), count)
  fe:feed(seg(999, 101, "PA", m:sub(1, 5)), count)
  for i = 1, N do
    fe:feed(seg(1000 + i % 60000, 7, "S", "", i), count)
    if i % 500 == 0 then fe:feed(seg(999, 106, "A", "", i), count) end   -- keep-alive
  end
  fe:feed(seg(999, 106, "PA", m:sub(6)), count)
  T.eq(got, 1, "the active flow's message")
end)

T.test("half-open flood: a SYN costs what an ordinary segment does (work counted)", function()
  local fe = dnsflow.new{ports = {53}, max_flows = 1000}
  local whole = be16(#QUERY) .. QUERY
  local ordinary, flood = {}, {}
  for i = 1, 5000 do
    ordinary[i] = seg(20000 + i, 1, "PA", whole, i)
    flood[i] = seg(1000 + i, 7, "S", "", i)
  end
  -- some long-lived flows, so that expiry has work to skip
  for i = 1, 5000 do fe:feed(flood[i], nothing) end
  local v0 = fe:stats().state_visits
  for i = 1, 5000 do fe:feed(ordinary[i], nothing) end
  local v1 = fe:stats().state_visits
  for i = 1, 5000 do fe:feed(seg(40000 + i, 7, "S", "", 5000 + i), nothing) end
  local v2 = fe:stats().state_visits
  print(string.format("# state visits per segment: ordinary %.3f, SYN at max_flows %.3f",
                      (v1 - v0) / 5000, (v2 - v1) / 5000))
  T.ok((v2 - v1) / 5000 <= 1.01, "SYN visits " .. (v2 - v1) / 5000)
  T.ok((v1 - v0) / 5000 <= 0.01, "ordinary visits " .. (v1 - v0) / 5000)
end)

T.test("expiry walks only what expires, once a second of capture time", function()
  local fe = dnsflow.new{ports = {53}, tcp_timeout = 10}
  for i = 1, 3000 do fe:feed(seg(1000 + i, 7, "S", "", i * 1e6), nothing) end   -- 3 ms apart
  local v0 = fe:stats().state_visits
  -- 20 s later: every flow expires, each looked at once
  fe:feed(seg(999, 7, "S", "", 20e9), nothing)
  local st = fe:stats()
  T.eq(st.flows, 1, "expired")
  T.ok(st.state_visits - v0 <= 3002, "visits " .. st.state_visits - v0)
  -- a second of packets on live flows: at most one expiry run
  v0 = st.state_visits
  for i = 1, 1000 do fe:feed(seg(999, 8, "A", "", 20e9 + i * 1e5), nothing) end
  T.ok(fe:stats().state_visits - v0 <= 2, "visits " .. fe:stats().state_visits - v0)
end)

T.test("the byte cap holds on the stateless path; evictions counted", function()
  -- flows that never sent a SYN, each holding the start of a 64 KiB
  -- message: once at the cap, the oldest go
  local CAP = 1048576
  local fe = dnsflow.new{ports = {53}, max_buffer = CAP}
  -- (a header whose counts fit: a flow resynchronises only at one)
  local first = be16(65535) .. "\0\1\1\0\0\1\0\0\0\0\0\0" .. ("x"):rep(1386)
  local rest = ("y"):rep(1400)
  for j = 0, 9 do
    for f = 1, 100 do
      fe:feed(seg(10000 + f, 1 + (j == 0 and 0 or 1400 * j), "PA", j == 0 and first or rest, j), nothing)
    end
    local st = fe:stats()
    T.ok(st.buffered <= CAP, "buffered " .. st.buffered)
  end
  local st = fe:stats()
  T.ok(st.buffered_peak <= CAP, "peak " .. st.buffered_peak)
  T.ok(st.tcp_evicted > 0, "evictions counted")
  T.ok(st.evicted == st.tcp_evicted + st.frag_evicted, "evicted total")
  fe:flush()
  T.eq(fe:stats().buffered, 0, "nothing held after flush")
end)

T.test("the byte cap holds for fragments; the oldest datagram goes", function()
  local CAP = 262144
  local fe = dnsflow.new{ports = {53}, max_buffer = CAP, max_frags = 100000}
  local udp = udp53(("z"):rep(1400))
  -- first fragments (MF, offset 0) of 1,000 datagrams, 1,400 bytes each
  for id = 1, 1000 do
    fe:feed(frag4(id, 0, udp, false, id), nothing)
    T.ok(fe:stats().buffered <= CAP, "buffered " .. fe:stats().buffered)
  end
  local st = fe:stats()
  T.ok(st.frag_evicted > 800, "evicted " .. st.frag_evicted)
  T.eq(st.frag_dropped, 0, "refused")
end)

T.test("fragment bounds: datagrams at once, 64 pieces, 65535 bytes, the timeout", function()
  -- max_frags: a new datagram past it evicts the one begun first, in
  -- O(1) (one datagram looked at each)
  local fe = dnsflow.new{ports = {53}, max_frags = 10}
  for id = 1, 30 do fe:feed(frag4(id, 0, ("z"):rep(64), false, id), nothing) end
  local st = fe:stats()
  T.eq(st.frags, 10, "held"); T.eq(st.frag_evicted, 20, "evicted")
  T.eq(st.state_visits, 20, "one look an eviction")
  -- 64 fragments make a datagram, a 65th one drops it
  local msg = udp53("\66\66\129\128\0\0\0\0\0\0\0\0" .. ("p"):rep(64 * 8 - 20))
  -- datagram m in n eight-byte fragments, top down (each lands before
  -- the ones already there): what comes out, and the stats
  local function pieces(m, n)
    local got
    local f = dnsflow.new{ports = {53}}
    for k = n - 1, 0, -1 do
      f:feed(frag4(7, k * 8, m:sub(k * 8 + 1, k * 8 + 8), k == n - 1),
             function(ptr, len) got = ffi.string(ptr, len) end)
    end
    return got, f:stats()
  end
  local got, st64 = pieces(msg, 64)
  T.eq(got, msg:sub(9), "64 pieces: rebuilt"); T.eq(st64.frag_dropped, 0, "none dropped")
  got, st = pieces(msg .. ("q"):rep(8), 65)
  T.eq(got, nil, "65 pieces: nothing"); T.eq(st.frag_dropped, 1, "dropped")
  T.eq(st.frags, 0, "nothing held")
  -- a fragment that would end past 65535 bytes drops its datagram
  fe = dnsflow.new{ports = {53}}
  fe:feed(frag4(8, 0, ("z"):rep(64), false), nothing)
  fe:feed(frag4(8, 65528, ("z"):rep(16), true), nothing)
  st = fe:stats()
  T.eq(st.frag_dropped, 1, "past 65535: dropped"); T.eq(st.frags, 0, "nothing held")
  -- an incomplete datagram goes once it is 30 s old, by capture time
  fe = dnsflow.new{ports = {53}}
  fe:feed(frag4(9, 0, ("z"):rep(64), false, 1e9), nothing)
  fe:feed(frag4(10, 0, ("z"):rep(64), false, 30e9), nothing)
  T.eq(fe:stats().frag_timeouts, 0, "29 s: kept")
  fe:feed(frag4(11, 0, ("z"):rep(64), false, 32e9), nothing)
  st = fe:stats()
  T.eq(st.frag_timeouts, 1, "31 s: timed out"); T.eq(st.frags, 2, "the younger two held")
end)

-- One datagram in IPv4 fragments fed in any order, as pieces of
-- (offset, bytes): what dnsflow emits, or nil.
local function rebuilt(pieces, id)
  local fe = dnsflow.new{ports = {53}}
  local out
  for _, pc in ipairs(pieces) do
    fe:feed(frag4(id, pc[1], pc[2], pc[3]), function(ptr, len) out = ffi.string(ptr, len) end)
  end
  return out, fe:stats()
end

T.test("fragments in any order, overlapping or repeated: the first copy of a byte wins", function()
  local msg = "\66\66\129\128\0\1\0\0\0\0\0\0\7example\3com\0\0\16\0\1" .. ("t"):rep(3000)
  local udp = udp53(msg)
  local function cut(a, b) return udp:sub(a + 1, b) end        -- bytes [a, b)
  local n = #udp
  local p1, p2, p3, p4 = {0, cut(0, 800)}, {800, cut(800, 1600)}, {1600, cut(1600, 2400)},
    {2400, cut(2400, n), true}
  local id = 0
  local function check(name, pieces, want)
    id = id + 1
    local got, st = rebuilt(pieces, id)
    T.eq(got, want, name)
    return st
  end
  check("in order", {p1, p2, p3, p4}, msg)
  check("reversed", {p4, p3, p2, p1}, msg)
  check("shuffled", {p3, p1, p4, p2}, msg)
  -- a later copy of bytes 400..1200 with other bytes: the first wins
  local over = {400, ("X"):rep(800)}
  check("an overlap after the bytes it covers", {p1, p2, over, p3, p4}, msg)
  -- the overlap first: its bytes win where it came first
  local want = (udp:sub(1, 400) .. ("X"):rep(800) .. udp:sub(1201)):sub(9)
  check("an overlap before the bytes it covers", {over, p1, p2, p3, p4}, want)
  local st = check("a repeated fragment", {p1, p1, p2, p3, p4}, msg)
  T.eq(st.frag_dups, 1, "the repeat counted")
  check("a gap: nothing until it is filled", {p1, p3, p4}, nil)
  check("the gap filled last", {p1, p3, p4, p2}, msg)
end)

-- The jit.* helper modules that name a trace abort's reason (LuaJIT's
-- own, installed beside it), or nil.
local function vmdef()
  for _, dir in ipairs{"/usr/share/luajit-2.1.0-beta3", "/usr/share/luajit-2.1",
                       "/usr/local/share/luajit-2.1"} do
    local f = io.open(dir .. "/jit/vmdef.lua")
    if f then
      f:close()
      package.path = package.path .. ";" .. dir .. "/?.lua"
      return require "jit.vmdef"
    end
  end
end

-- A capture of fragmented responses spends its time in reassembly; a
-- closure made per datagram (and table.sort calling back into Lua) once
-- left that path to the interpreter, at twice the cost (issue 11).
local COMPILED = "reassembly stays compiled: no trace of dnsflow.lua aborts on what LuaJIT cannot compile"
local vm = vmdef()
if not vm or not jit.attach then
  T.skip(COMPILED, "LuaJIT's jit/vmdef.lua (names trace aborts) not found")
else T.test(COMPILED, function()
  local util = require "jit.util"
  local nyi = {}
  local function on_trace(what, _, func, pc, otr, oex)
    if what ~= "abort" then return end
    local info = util.funcinfo(func, pc)
    local why = vm.traceerr[otr] or tostring(otr)
    if type(oex) == "number" and why:find("bytecode") then     -- as jit/v.lua names it
      why = why:gsub("%%d", (vm.bcnames:sub(oex * 6 + 1, oex * 6 + 6):gsub(" +$", "")))
    elseif oex then
      why = why:format(oex)
    end
    if (info.source or ""):find("proto/dnsflow.lua", 1, true) and why:find("NYI") then
      nyi[#nyi + 1] = (info.loc or "?") .. ": " .. why
    end
  end
  local fe = dnsflow.new{ports = {53}}
  local udp = udp53("\66\66\129\128\0\1\0\0\0\0\0\0\7example\3com\0\0\16\0\1" .. ("t"):rep(2000))
  local first, rest = udp:sub(1, 1480), udp:sub(1481)
  local got = 0
  local function count() got = got + 1 end
  jit.attach(on_trace, "trace")
  for id = 1, 3000 do
    fe:feed(frag4(id, 0, first, false, id), count)
    fe:feed(frag4(id, 1480, rest, true, id), count)
  end
  jit.attach(on_trace)
  T.eq(got, 3000, "datagrams rebuilt")
  T.eq(#nyi, 0, table.concat(nyi, "; "))
end) end

-- Peak RSS (VmHWM, KiB) of pktsh running code over the capture at path.
local function peak(code, path)
  local p = io.popen(string.format("F=%q %s -e %q 2>&1", path, PKTSH, code))
  local out = p:read("*a")
  p:close()
  return out
end

for _, one in ipairs({false, true}) do
  local how = one and "one segment each" or "46 segments each"
  T.test("2,000 incomplete 64 KiB messages (" .. how .. "): the cap holds, and the memory", function()
    local path = os.tmpname()
    os.remove(path)
    path = path .. ".pcap"
    require("hostile").incomplete_capture(path, one)
    local hwm = [[
      local kb = 0
      for l in io.lines("/proc/self/status") do kb = tonumber(l:match("^VmHWM:%s*(%d+)")) or kb end
      return kb
    ]]
    local base = peak("local src = pktsh.open(os.getenv(\"F\")); for _ in src:packets() do end; "
                      .. "io.write((function() " .. hwm .. " end)())", path)
    local run = peak("local fe = pktsh.dnsflow.new{ports = {53}}; local src = pktsh.open(os.getenv(\"F\")); "
                     .. "for p in src:packets() do fe:feed(p, function() end) end; "
                     .. "local s = fe:stats(); "
                     .. "io.write((function() " .. hwm .. " end)(), ' ', s.buffered_peak, ' ', s.tcp_evicted, "
                     .. "' ', s.tcp_dropped)", path)
    os.remove(path)
    local rss0 = tonumber(base)
    local rss, bpeak, evicted, dropped = run:match("^(%d+) (%d+) (%d+) (%d+)$")
    T.ok(rss0 and rss, "outputs: " .. base .. " / " .. run)
    rss, bpeak, evicted = tonumber(rss), tonumber(bpeak), tonumber(evicted)
    print(string.format("# peak RSS %.1f MiB (reading alone %.1f MiB), bytes held at most %.1f MiB, "
                        .. "%d flows evicted, %s segments dropped", rss / 1024, rss0 / 1024,
                        bpeak / 1048576, evicted, dropped))
    T.ok(bpeak <= 32 * 1048576, "bytes held " .. bpeak)
    T.ok(evicted >= 1000, "evicted " .. evicted)
    T.eq(dropped, "0", "segments dropped: the oldest flows make room instead")
    -- the cap, plus malloc's and LuaJIT's overheads, against 126 MiB sent
    T.ok(rss - rss0 <= 48 * 1024, string.format("RSS grew by %.1f MiB", (rss - rss0) / 1024))
  end)
end

-- Holes (issue 12): the message a hole breaks is given up and counted
-- (tcp_gaps); the flow resynchronises at the next segment that begins a
-- plausible DNS message, as Wireshark does, also from mid-flow.
local function ids(path)
  local fe = dnsflow.new{ports = {53}}
  local src = assert(pktsh.open(path))
  local got = {}
  src:each(function(p)
    fe:feed(p, function(ptr, len, meta)
      -- a message the capture cut: its id from its first 2 bytes, "T" after
      if meta.truncated then
        got[#got + 1] = len >= 2 and (ptr[0] * 256 + ptr[1]) .. "T" or "T"
        return
      end
      local id = pktsh.dns.header(ptr, len)
      got[#got + 1] = id or "bad"
    end)
  end)
  src:close()
  local st = fe:stats()
  fe:flush()
  return got, st
end

T.test("a hole in a TCP flow: counted, the broken message dropped, resync at the next message", function()
  local got, st = ids("tests/pcaps/gen__dns-tcp-gap.pcap")
  -- 16 queries, then the responses but 4 (a part lost) and 10 (lost)
  local want = {}
  for i = 1, 16 do want[#want + 1] = i end
  for _, i in ipairs{1, 2, 3, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16} do want[#want + 1] = i end
  T.deq(got, want, "messages (tshark's oracle agrees: test_dns_oracle)")
  T.eq(st.tcp_gaps, 2, "holes counted")
  T.eq(st.tcp_unfinished, 0, "nothing left at FIN")
  T.eq(st.malformed, 0, "no message read from inside another")
end)

T.test("a capture that begins mid-flow resynchronises at the first message", function()
  local got, st = ids("tests/pcaps/gen__dns-tcp-midflow.pcap")
  T.deq(got, {9, 11, 12, 13, 14, 15, 16}, "messages")
  T.eq(st.tcp_gaps, 2, "the start inside a message, and the lost response")
  T.eq(st.buffered, 0, "nothing held while waiting for a message")
end)

-- Segments cut by the capture (a snaplen under the segment: the sequence
-- space whole): no hole. A cut message is emitted with meta.truncated,
-- the flow passes over its rest by its length prefix, and a cut that
-- hides where a message begins resynchronises the flow (tcp_cut_resyncs)
-- at the next segment that begins one, without a gap.
local SNAPLEN = {
  {"segments cut by the snaplen: cut messages, in step, no gap", "gen__dns-tcp-snaplen.pcap",
   -- tshark's oracle agrees (test_dnsflow_oracle); 8, 12, 15 and 18
   -- lost in the cut (18 with its prefix alone captured: no message)
   {1, 2, 3, "4T", 5, 6, "7T", 9, 10, 11, 13, 14, 16, 17, 19, 20, 21, "22T", 23, "24T", 25, 26},
   7, 3},
  -- 29 cut (its next two segments and the start of the 4th passed over),
  -- 30 cut in that 4th, 31 lost in the cut; 33 whole over two segments,
  -- 34 cut; 35 cut in its 2nd segment, its 3rd passed over
  {"cut messages that go on in the next segments: passed over to their end",
   "gen__dns-tcp-snaplen-span.pcap", {27, 28, "29T", "30T", 32, 33, "34T", "35T", 36}, 6, 1},
}
for _, c in ipairs(SNAPLEN) do
  T.test(c[1], function()
    local got, st = ids("tests/pcaps/" .. c[2])
    T.deq(got, c[3], "messages")
    T.eq(st.tcp_gaps, 0, "no gap")
    T.eq(st.tcp_cut, c[4], "segments cut")
    T.eq(st.tcp_cut_resyncs, c[5], "cuts that hid where a message begins")
    T.eq(st.malformed, 0, "nothing read from inside a message")
  end)
end

T.test("cut messages hold no bytes: a length prefix is all the state", function()
  local fe = dnsflow.new{ports = {53}}
  local n, cut = 0, 0
  local function count(_, _, meta) n = n + 1; if meta.truncated then cut = cut + 1 end end
  fe:feed(seg(40002, 100, "S", ""), count)
  -- 300 messages of 60,000 bytes, each cut after 100 of its first
  -- segment's 1,400 bytes, the rest in segments never captured at all
  -- but their first 40 bytes
  local body = be16(60000) .. QUERY .. string.rep("\0", 1400 - 2 - #QUERY)
  local seq = 101
  for _ = 1, 300 do
    local f = b.tcp4{src = "198.18.1.1", dst = "198.18.0.53", sport = 40002, dport = 53,
                     seq = seq, flags = "PA", payload = body}
    fe:feed(packet.from_bytes(f:sub(1, 54 + 100), 1, 0, #f), count)
    for at = seq + 1400, seq + 60002 - 1, 1400 do
      local len = math.min(1400, seq + 60002 - at)
      local g = b.tcp4{src = "198.18.1.1", dst = "198.18.0.53", sport = 40002, dport = 53,
                       seq = at, flags = "PA", payload = string.rep("\255", len)}
      fe:feed(packet.from_bytes(g:sub(1, 54 + 40), 1, 0, #g), count)
    end
    seq = seq + 60002
  end
  local st = fe:stats()
  T.eq(n, 300, "messages")
  T.eq(cut, 300, "all cut")
  T.eq(st.buffered_peak, 0, "no byte held")
  T.eq(st.tcp_gaps, 0, "no gap")
  T.eq(st.tcp_cut_resyncs, 0, "in step throughout")
  T.eq(st.tcp_cut, 300 * 43, "every segment cut")
  fe:feed(seg(40002, seq, "PA", be16(#QUERY) .. QUERY), count)
  T.eq(n, 301, "the next whole message")
end)

T.test("a reordered segment of whole messages inside a hole still counts", function()
  local m = be16(#QUERY) .. QUERY
  local fe = dnsflow.new{ports = {53}}
  local n = 0
  local function count() n = n + 1 end
  fe:feed(seg(40000, 100, "S", ""), count)
  fe:feed(seg(40000, 101, "PA", m), count)
  fe:feed(seg(40000, 101 + 2 * #m, "PA", m), count)   -- the one before is late
  fe:feed(seg(40000, 101 + #m, "PA", m), count)       -- here it is
  fe:feed(seg(40000, 101 + #m, "PA", m), count)       -- and its retransmission
  T.eq(n, 3, "messages")
  T.eq(fe:stats().tcp_gaps, 1, "the hole counted when it was seen")
  T.eq(fe:stats().tcp_dups, 1, "the retransmission ignored")
end)

T.test("a segment inside a message after a hole waits; garbage never makes messages", function()
  local fe = dnsflow.new{ports = {53}}
  local n = 0
  local function count() n = n + 1 end
  fe:feed(seg(40001, 100, "S", ""), count)
  -- 200 segments of bytes that do not begin a DNS message, after a hole
  for i = 1, 200 do
    fe:feed(seg(40001, 5000 + 100 * i, "PA", string.rep("\255", 100)), count)
  end
  local st = fe:stats()
  T.eq(n, 0, "no message")
  T.ok(st.buffered <= 64 * 1024 + 16 * 64, "held: " .. st.buffered)
  T.eq(st.tcp_gaps, 1, "one hole")
  -- then a message: taken
  fe:feed(seg(40001, 5000 + 100 * 201, "PA", be16(#QUERY) .. QUERY), count)
  T.eq(n, 1, "resynchronised")
end)

T.done()
