-- dnsstats.lua - DNS traffic statistics from a capture file or a live
-- interface: messages by transport and IP version, query types, response
-- codes, the busiest names and clients, and response latency.
--
--   pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]
--
-- Messages of plain UDP packets come from C (pktsh_dns_scan, a batch at
-- a time), the rest from pktsh.dnsflow (TCP with reassembly, IPv4/IPv6
-- fragments, other link types); both read the question as
-- pktsh.dns.question does, and give the same numbers (tested). Memory is bounded
-- whatever the capture's size: names and clients go through space-saving
-- top-k tables (pktsh.topk), latencies into bounded histograms
-- (pktsh.hist), and at most MAX_PENDING queries wait for their answer.
local usage = [[
usage: pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]

DNS statistics: messages, queries, responses, malformed messages,
truncated responses (the TC bit), by transport and IP version; query types; response codes (extended RCODEs
included); the top query names (case-insensitive) and clients; response
latency (p50/p90/p99/max) from queries matched to responses by id,
addresses, ports and name; unanswered queries. SOURCE is a capture file
("-" for standard input) or a network interface; FILTER is a tcpdump
expression.

options:
  --top N        list the N busiest names and clients (default 10)
  --ports LIST   ports that carry DNS, comma-separated (default 53;
                 e.g. 53,5353,5355,8053)
  --interval S   every S seconds, show the table so far (redrawn in place
                 on a terminal) or, when not on a terminal, one line of
                 counts for those S seconds (capture time for files)
  --duration S   stop after S seconds (live: wall clock; a file: capture
                 time from its first packet)
  -j N           N fanout workers on a live interface (pktsh.parallel;
                 default: pktsh -j, else 1)
  --timeout S    a query unanswered for S seconds of capture time counts
                 as unanswered (default 5; the rest at the end do too)
  --capacity M   counters per top-k table (default 10000); counts are
                 exact until more distinct keys than that are seen, then
                 over by at most n/M (each row shows its bound)
  --json         print one JSON object at the end instead of the tables
  --metrics ADDR serve Prometheus metrics at http://ADDR/metrics (ADDR:
                 HOST:PORT, [IPV6]:PORT or :PORT), a snapshot every
                 --metrics-interval seconds
  --metrics-file PATH
                 write the same metrics to PATH (atomically, for
                 node_exporter's textfile collector) at every snapshot
  --metrics-interval S
                 seconds between snapshots (default 1)
  --dnstap SPEC  write every DNS message as dnstap to SPEC: a file,
                 unix:PATH or tcp:HOST:PORT
  --ascii        ASCII bars
  -h, --help     show this help

exit status: 0 on success (Ctrl-C included: the statistics so far are
printed); 1 if the source cannot be read; 2 for a usage error.
]]

local ffi = require "ffi"
local bit = require "bit"
local band, rshift = bit.band, bit.rshift

local MAX_PENDING = 200000

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("dnsstats", status, fmt, ...) end

local function port_list(v)
  local ports = {}
  for p in (v .. ","):gmatch("([^,]*),") do
    local n = tonumber(p)
    if not n or n < 1 or n > 65535 or n % 1 ~= 0 then
      return nil, "port numbers (1-65535) separated by commas"
    end
    ports[#ports + 1] = n
  end
  return ports
end

local function parse_args(argv)
  local o = cli.parse("dnsstats", usage, argv, {
    ["--top"] = {"top", "whole", 0}, ["--interval"] = {"interval", "number", 0.001},
    ["--duration"] = {"duration", "number", 0.001}, ["--timeout"] = {"timeout", "number", 0.001},
    ["--capacity"] = {"capacity", "whole", 1}, ["-j"] = {"workers", "whole", 1},
    ["--json"] = {"json"}, ["--ascii"] = {"ascii"}, ["--ports"] = {"ports", port_list},
    ["--metrics"] = {"metrics", "string"}, ["--metrics-file"] = {"metrics_file", "string"},
    ["--metrics-interval"] = {"metrics_interval", "number", 0.01},
    ["--dnstap"] = {"dnstap", "string"},
  }, {top = 10, ports = {53}, timeout = 5, capacity = 10000, metrics_interval = 1})
  o.capacity = math.max(o.capacity, o.top)
  return o
end

------------------------------------------------------------------------
-- The counting: work(src, o) -> a plain table (pktsh.parallel merges
-- the workers' tables with merge below).

local function new_stats(o)
  local hist, topk = pktsh.hist, pktsh.topk
  return {
    packets = 0, dns = 0, queries = 0, responses = 0, malformed = 0, truncated = 0,
    transport = {udp = 0, tcp = 0}, ip = {["4"] = 0, ["6"] = 0},
    qtypes = {}, rcodes = {},
    qnames = topk.new(o.capacity), clients = topk.new(o.capacity),
    -- latency in ns: exact per value while there are few distinct values,
    -- and log2 bins with 128 sub-buckets (under 0.4% off) always
    lat_exact = hist.new{max_keys = 20000}, lat_log = hist.new{log = true, sub = 128},
    matched = 0, unanswered = 0, unmatched = 0,
    -- by transport, IP version and direction (what pktsh.app.dnsmetrics exports)
    messages = {udp = {["4"] = {}, ["6"] = {}}, tcp = {["4"] = {}, ["6"] = {}}},
  }
end

-- Messages are not counted one by one as dnsflow hands them over: each
-- is copied into a queue entry (msg_t), and the queue is counted in
-- several short loops, one per statistic. LuaJIT compiles short loops
-- into tight traces; one loop doing everything ran at less than half the
-- speed (its trace had too many exits to compile them all).
--
-- key is what a response is matched to its query by, in the pending
-- table (pktsh.pending): id, client and server addresses and ports, and
-- the name by its 64-bit hash (two names in flight with the same id,
-- addresses and ports and colliding hashes are the only way to
-- mismatch). The client is the source of a query, the destination of a
-- response.
-- The queue entry is struct pktsh_dns_msg (src/pktsh.h), filled in C for
-- the messages of plain UDP packets (pktsh_dns_scan) and for those
-- dnsflow finds in the rest (pktsh_dns_msg_add, from emit below).
local msg_t = ffi.typeof("struct pktsh_dns_msg")
local QUEUE = 1024               -- messages
-- Small on purpose: every page is a fault when first touched, and faults
-- are costly in VMs (a 512 KiB array took 2 ms to set up).
local ARENA = 64 * 1024          -- bytes of names (wire form, 255 at most)
-- msg.kind: a query, a response, malformed ones whose header still says
-- which, and unreadable ones (shorter than a header)
local C = ffi.C
local QUERY, RESPONSE = C.PKTSH_DNS_QUERY, C.PKTSH_DNS_RESPONSE
local BAD_QUERY, BAD_RESPONSE, UNREADABLE = C.PKTSH_DNS_BAD_QUERY, C.PKTSH_DNS_BAD_RESPONSE,
  C.PKTSH_DNS_UNREADABLE
-- where a message counts in the query type and rcode arrays: a query
-- type from 512 up goes to QSLOT_BIG (and is counted by its qtype), a
-- message without one to QSLOT_NONE
local QSLOT_BIG, QSLOT_NONE, RSLOT_NONE = C.PKTSH_DNS_QSLOT_BIG, C.PKTSH_DNS_QSLOT_NONE,
  C.PKTSH_DNS_RSLOT_NONE
-- why pktsh_dns_scan returned before the end of the batch
local SCAN_FULL, SCAN_GENERAL = C.PKTSH_DNS_SCAN_FULL, C.PKTSH_DNS_SCAN_GENERAL

-- The top-k tables count names and clients by number, in C
-- (pktsh.topk.column), a batch's keys at a time: a Lua string per
-- message, or even a Lua table lookup, cost more than all the rest of the
-- counting. A name counts by its 64-bit keyed hash and is labelled with
-- its text when it enters the table; a client counts by msg.client_key,
-- an IPv4 address as a number, an IPv6 address by a keyed hash of it,
-- labelled with its 16 bytes (addr_text makes either readable). Keys a
-- sender chooses (addresses) are hashed under random tables by the
-- top-k tables themselves, in C and in Lua; name hashes are keyed
-- already. The name table counts the hashes' low 53 bits (KEY53), which
-- a double holds exactly: LuaJIT 2.1.0-beta3 rounds a uint64_t of 2^63
-- or more to a different double in compiled code than in the
-- interpreter, so a label set by one would be missed by the other. Two
-- names (or IPv6 clients) share a count with a chance of about one in
-- 2^52 per pair.
local KEY53 = 0x1fffffffffffffULL

-- A client's text from its top-k key or label.
local function addr_text(k)
  if type(k) == "number" then
    return string.format("%d.%d.%d.%d", math.floor(k / 16777216), math.floor(k / 65536) % 256,
                         math.floor(k / 256) % 256, k % 256)
  end
  local a = ffi.new("struct pktsh_in6")
  ffi.copy(a.b, k, 16)
  return pktsh.addr.in6_str(a)
end

-- A closure that takes one packet at a time, one that counts what is
-- queued (call it before reading st), and one to finish.
local function counter(o, st)
  local name_text = pktsh.dns.name_text
  local fe = pktsh.dnsflow.new{ports = o.ports}
  local qtypes, rcodes, transport, ipv = st.qtypes, st.rcodes, st.transport, st.ip
  -- names and clients, counted in C; st.qnames and st.clients are made
  -- from them by publish()
  local qnames = assert(pktsh.topk.column(o.capacity, {keys = "hashed"}))
  local clients = assert(pktsh.topk.column(o.capacity))
  local column = ffi.new("uint64_t[?]", QUEUE)
  local row = ffi.new("uint16_t[?]", QUEUE)        -- column entry -> queue index
  local lat_exact, lat_log = st.lat_exact, st.lat_log
  local queue = ffi.new(ffi.typeof("$[?]", msg_t), QUEUE)
  local arena = ffi.new("uint8_t[?]", ARENA)
  local lats = ffi.new("double[?]", QUEUE)
  -- the queue's fill: scan.nmsgs messages, scan.used bytes of names
  local scan = ffi.new("struct pktsh_dns_scan")
  scan.msgs, scan.cap, scan.arena, scan.arena_cap = queue, QUEUE, arena, ARENA
  scan.tap = o.tap and o.tap.handle or nil          -- every message to dnstap too
  local portmap = ffi.new("uint8_t[?]", C.PKTSH_DNS_PORTMAP_BYTES)  -- a bit per port
  for _, pt in ipairs(o.ports) do
    local byte = math.floor(pt / 8)
    portmap[byte] = bit.bor(portmap[byte], bit.lshift(1, pt % 8))
  end
  -- queries waiting for their response, by msg_t.key, valued by time
  local pend = assert(pktsh.pending.new{key = ffi.sizeof(queue[0].key), max = MAX_PENDING})
  local timeout = o.timeout * 1e9
  local next_sweep

  -- Queries older than `before` (all when nil) go as unanswered.
  local function expire(before)
    st.unanswered = st.unanswered + pend:expire(before or math.huge)
  end

  -- Too many waiting: the timed-out ones go, then (if that was not a
  -- quarter) older and older ones, the newest kept.
  local function make_room(now)
    local age = timeout
    expire(now - age)
    while pend:count() > MAX_PENDING * 0.75 and age > 1e6 do
      age = age / 2
      expire(now - age)
    end
    if pend:count() > MAX_PENDING * 0.75 then expire() end
  end

  -- Counting into arrays indexed by kind, qtype and rcode keeps this
  -- loop free of branches that depend on the message. Messages count by
  -- transport, IP version and kind at once, in one slot of joint_n
  -- (msg.slot, set in C: (tcp * 2 + v6) * 5 + kind); every total by
  -- kind, transport, IP version or direction is a sum of those 20
  -- (after the loop, per queue), so the exported breakdown costs the
  -- loop nothing.
  local joint_n = ffi.new("double[20]")
  local DIRS = {[QUERY] = "query", [BAD_QUERY] = "query", [RESPONSE] = "response",
                [BAD_RESPONSE] = "response", [UNREADABLE] = "unknown"}
  local qtype_n, rcode_n = ffi.new("double[?]", QSLOT_NONE + 1), ffi.new("double[?]", RSLOT_NONE + 1)
  local qtypes_seen, rcodes_seen = {}, {}

  -- The totals st shows, from joint_n.
  local function joint_totals()
    local kind_n, by = {[0] = 0, 0, 0, 0, 0}, {}
    for tcp = 0, 1 do
      for v6 = 0, 1 do
        local tr, ip = tcp == 1 and "tcp" or "udp", v6 == 1 and "6" or "4"
        local dirs, sum = {}, 0
        for k = 0, 4 do
          local c = joint_n[(tcp * 2 + v6) * 5 + k]
          kind_n[k], sum = kind_n[k] + c, sum + c
          if c > 0 then dirs[DIRS[k]] = (dirs[DIRS[k]] or 0) + c end
        end
        st.messages[tr][ip] = dirs
        by[tr], by[ip] = (by[tr] or 0) + sum, (by[ip] or 0) + sum
      end
    end
    transport.udp, transport.tcp, ipv["4"], ipv["6"] = by.udp, by.tcp, by["4"], by["6"]
    st.queries = kind_n[QUERY] + kind_n[BAD_QUERY]
    st.responses = kind_n[RESPONSE] + kind_n[BAD_RESPONSE]
    st.malformed = kind_n[BAD_QUERY] + kind_n[BAD_RESPONSE] + kind_n[UNREADABLE]
  end

  -- truncated: responses with the TC bit (QR and TC both set), counted
  -- without a branch
  local function count_messages(n)
    local tc = 0
    local big = qtype_n[QSLOT_BIG]
    for i = 0, n - 1 do
      local m = queue[i]
      local f = m.flags
      tc = tc + band(rshift(f, 15), rshift(f, 9))
      local j, t, r = m.slot, m.qslot, m.rslot
      joint_n[j] = joint_n[j] + 1
      if qtype_n[t] == 0 then qtypes_seen[#qtypes_seen + 1] = t end
      qtype_n[t] = qtype_n[t] + 1
      if rcode_n[r] == 0 then rcodes_seen[#rcodes_seen + 1] = r end
      rcode_n[r] = rcode_n[r] + 1
    end
    if qtype_n[QSLOT_BIG] ~= big then           -- rare: count those by type
      for i = 0, n - 1 do
        local m = queue[i]
        if m.qslot == QSLOT_BIG then qtypes[m.qtype] = (qtypes[m.qtype] or 0) + 1 end
      end
    end
    for _, t in ipairs(qtypes_seen) do if t < QSLOT_BIG then qtypes[t] = qtype_n[t] end end
    for _, r in ipairs(rcodes_seen) do if r ~= RSLOT_NONE then rcodes[r] = rcode_n[r] end end
    st.dns = st.dns + n
    st.truncated = st.truncated + tc
    joint_totals()
  end

  local function count_clients(n)
    local j = 0
    for i = 0, n - 1 do
      local m = queue[i]
      if m.kind == QUERY then
        column[j], row[j] = m.client_key, i
        j = j + 1
      end
    end
    local fresh = clients.fresh
    for f = 0, clients:add(column, j) - 1 do
      local key = queue[row[fresh[f]]].key
      if key.ipver == 6 then clients:label(tonumber(column[fresh[f]]), ffi.string(key.client, 16)) end
    end
  end

  local function count_names(n)
    local j = 0
    for i = 0, n - 1 do
      local m = queue[i]
      if m.kind == QUERY and m.qdcount > 0 then
        column[j], row[j] = band(m.key.name, KEY53), i
        j = j + 1
      end
    end
    local fresh = qnames.fresh
    for f = 0, qnames:add(column, j) - 1 do
      local m = queue[row[fresh[f]]]
      qnames:label(tonumber(column[fresh[f]]), name_text(arena + m.name_off, m.name_len))
    end
  end

  -- The top-k objects everything else reads.
  local function publish()
    st.qnames, st.clients = qnames:table(), clients:table()
  end

  -- Queries wait in pend; a response takes its query out and its latency
  -- goes into lats. Returns how many latencies. The table is worked in
  -- one call per batch (pend:batch): ops says which messages put, which
  -- take; out gets what each found.
  local PUT, TAKE, SKIP = pktsh.pending.PUT, pktsh.pending.TAKE, pktsh.pending.SKIP
  local ops, out = ffi.new("uint8_t[?]", QUEUE), ffi.new("double[?]", QUEUE)
  local stride, ts_off = ffi.sizeof(msg_t), ffi.offsetof(msg_t, "ts")
  local function match(n)
    local unmatched = 0
    for i = 0, n - 1 do
      local m = queue[i]
      local kind, op = m.kind, SKIP
      if kind == QUERY then
        if m.qdcount > 0 and band(m.flags, 0x7800) == 0 then op = PUT end    -- QUERY opcode
      elseif kind == RESPONSE then
        if m.qdcount > 0 then op = TAKE else unmatched = unmatched + 1 end
      end
      ops[i] = op
    end
    local done = 0
    while true do
      done = done + pend:batch(queue + done, stride, ts_off, ops + done, n - done, out + done)
      if done == n then break end
      make_room(queue[done].ts)              -- a put found the table full
    end
    local nl, unanswered = 0, 0
    for i = 0, n - 1 do
      local op, v = ops[i], out[i]
      if op == PUT then
        -- the same query again: the first copy went unanswered
        unanswered = unanswered + v
      elseif op == TAKE then
        if v ~= v then unmatched = unmatched + 1                   -- NaN: no query
        else
          local d = queue[i].ts - v
          if d > timeout then
            -- answered too late: the query had timed out
            unanswered, unmatched = unanswered + 1, unmatched + 1
          else
            lats[nl] = d
            nl = nl + 1
          end
        end
      end
    end
    st.unanswered, st.unmatched = st.unanswered + unanswered, st.unmatched + unmatched
    return nl
  end

  local function count_latencies(nl)
    st.matched = st.matched + nl
    -- once the exact histogram has overflowed only the log2 one is read
    -- (see latency(st) below): stop feeding it
    if lat_exact.other == 0 then lat_exact:add_array(lats, nl) end
    lat_log:add_array(lats, nl)
  end

  local function drain()
    local n = scan.nmsgs
    if n == 0 then return end
    scan.nmsgs, scan.used = 0, 0
    count_messages(n)
    count_clients(n)
    count_names(n)
    count_latencies(match(n))
    local ts = queue[n - 1].ts
    if not next_sweep then next_sweep = ts + timeout end
    if ts >= next_sweep then
      expire(ts - timeout)
      next_sweep = ts + timeout
    end
  end

  -- A message dnsflow found (TCP, fragments, the rest): into the queue
  -- by the same C code that queues those of plain UDP packets.
  local function emit(ptr, len, meta, p)
    -- room first: the C scan may have filled the queue just before
    if scan.nmsgs >= QUEUE or scan.used > ARENA - C.PKTSH_DNS_MSG_ARENA then drain() end
    C.pktsh_dns_msg_add(scan, ptr, len, p.data + p.l3off, meta.ipver == 6 and 1 or 0,
                        meta.sport, meta.dport, meta.ts, meta.transport == "tcp" and 1 or 0)
  end

  local function feed(p)
    fe:feed(p, emit)
  end

  -- What only the running counter knows, for the metrics: the name and
  -- client columns themselves (their top few, without publish()).
  local function live()
    return {pending = pend:count(), flow = fe:stats(), qnames = qnames, clients = clients}
  end

  -- A whole batch: plain UDP packets through pktsh_dns_scan, the rest
  -- through dnsflow, in their order.
  local function feed_batch(pkts, n)
    local i = 0
    while i < n do
      i = C.pktsh_dns_scan(pkts, i, n, portmap, scan)
      local why = scan.stop
      if why == SCAN_FULL then drain()
      elseif why == SCAN_GENERAL then fe:feed(pkts[i], emit); i = i + 1 end
    end
    if n > 0 then fe:advance(tonumber(pkts[n - 1].ts)) end
  end
  local function finish()
    fe:flush()
    drain()
    expire()
    pend:close()
    local fs = fe:stats()
    st.malformed = st.malformed + (fs.malformed or 0)
    fs.udp = fs.udp + scan.udp                -- the messages the scan made
    st.flow = fs
    publish()
  end
  return feed, drain, finish, publish, feed_batch, live
end

-- Reads src to the end (or the duration, or Ctrl-C); returns the table.
-- tick(st, ts_ns) is called at every --interval of capture time (files)
-- or wall time (live); snap(st, live) every --metrics-interval of wall
-- time and once at the end, with what only the counter knows (live()
-- plus the source's statistics).
local function work(src, o, tick, snap)
  local st = new_stats(o)
  local feed, drain, finish, publish, feed_batch, running = counter(o, st)
  local snap_every = snap and o.metrics_interval * 1e9
  local next_snap = snap and tonumber(C.pktsh_mono_ns())
  local function snapshot(l)
    l.rings = src.kind == "live" and {src:stats()} or nil
    snap(st, l)
  end
  local n = 0
  -- every --metrics-interval of wall time: between batches, and while
  -- the link is quiet (src.on_idle); a first one at once
  local function maybe_snapshot()
    if tonumber(C.pktsh_mono_ns()) < next_snap then return end
    st.packets = n
    snapshot(running())
    next_snap = tonumber(C.pktsh_mono_ns()) + snap_every
  end
  if snap then
    maybe_snapshot()
    src.on_idle = maybe_snapshot
  end
  local live = src.kind == "live"
  local t_end, err
  local interval = o.interval and tick and o.interval * 1e9
  local dur = o.duration and not live and o.duration * 1e9
  local check = dur or (interval and not live)
  local next_tick
  while true do
    local b, e = src:next()
    if not b then err = e; break end
    local pkts, cnt = b.pkt, b.count
    local stop = false
    -- packet by packet only when a packet's time may end the run or a tick
    if not check then feed_batch(pkts, cnt) end
    for i = 0, check and cnt - 1 or -1 do
      local p = pkts[i]
      local ts = tonumber(p.ts)
      if dur then
        t_end = t_end or ts + dur
        if ts >= t_end then stop = true; cnt = i; break end
      end
      if interval and not live then
        next_tick = next_tick or ts + interval
        if ts >= next_tick then
          st.packets = n + i
          drain()
          publish()
          tick(st, next_tick)
          next_tick = next_tick + interval * math.floor((ts - next_tick) / interval + 1)
        end
      end
      feed(p)
    end
    n = n + cnt
    drain()
    if snap then maybe_snapshot() end
    if stop then break end
    if interval and live then
      local now = tonumber(C.pktsh_mono_ns())
      next_tick = next_tick or now + interval
      if now >= next_tick then
        st.packets = n
        publish()
        tick(st, nil)
        next_tick = now + interval
      end
    end
  end
  st.packets = n
  finish()
  -- the end: every query still waiting counted unanswered, the flows flushed
  if snap then snapshot({pending = 0, flow = st.flow}) end
  if err then st.error = tostring(err) end
  st.interrupted = src.interrupted or nil
  return st
end

local function merge(a, b)
  local chart = pktsh.chart
  local ea, eb = a.error, b.error
  local ia, ib = a.interrupted, b.interrupted
  a.error, b.error, a.interrupted, b.interrupted = nil, nil, nil, nil
  local fa, fb = a.flow, b.flow
  a.flow, b.flow = nil, nil
  chart.merge(a, b)
  a.flow = chart.merge(fa, fb)
  a.error = ea or eb
  a.interrupted = ia or ib
  return a
end

------------------------------------------------------------------------
-- Output

local function names(map, namer)
  local t = {}
  for k, v in pairs(map) do
    local name = namer(k)
    t[name] = (t[name] or 0) + v
  end
  return t
end

local function latency(st)
  local h = st.lat_exact
  if h.other > 0 then h = st.lat_log end
  local function ms(q)
    local v = h:quantile(q)
    if v == nil then return nil end
    return v / 1e6
  end
  return {matched = st.matched, unanswered = st.unanswered,
          p50_ms = ms(0.5), p90_ms = ms(0.9), p99_ms = ms(0.99),
          max_ms = st.lat_log.max and st.lat_log.max / 1e6 or nil}
end

local function top_list(t, k, conv)
  local json = pktsh.json
  local out = json.array()
  for i, x in ipairs(t:top(k)) do out[i] = json.array({conv and conv(x.key) or x.key, x.count}) end
  return out
end

local function to_json(st, o)
  local json, dns = pktsh.json, pktsh.dns
  local lat = latency(st)
  for _, k in ipairs({"p50_ms", "p90_ms", "p99_ms", "max_ms"}) do
    if lat[k] == nil then lat[k] = 0 / 0 end      -- encoded as null
  end
  return json.encode{
    packets = st.packets, dns = st.dns, queries = st.queries, responses = st.responses,
    malformed = st.malformed, truncated = st.truncated, transport = st.transport, ip = st.ip,
    qtypes = names(st.qtypes, dns.type_name), rcodes = names(st.rcodes, dns.rcode_name),
    top_qnames = top_list(st.qnames, o.top), top_clients = top_list(st.clients, o.top, addr_text),
    latency = lat,
  }
end

local function fmt_ms(v)
  if v == nil then return "-" end
  if v >= 100 then return string.format("%.0f ms", v) end
  if v >= 1 then return string.format("%.2f ms", v) end
  return string.format("%.3f ms", v)
end

-- The text report (also what --interval redraws).
local function report(st, o, title)
  local hist, dns = pktsh.hist, pktsh.dns
  local ropts = {ascii = o.ascii, footer = false}
  local out = {}
  local function add(s) out[#out + 1] = s end
  add(title)
  add(string.format("packets %d   DNS messages %d (udp %d, tcp %d; IPv4 %d, IPv6 %d)",
                    st.packets, st.dns, st.transport.udp, st.transport.tcp, st.ip["4"], st.ip["6"]))
  add(string.format("queries %d   responses %d   malformed %d   truncated (TC) %d", st.queries,
                    st.responses, st.malformed, st.truncated or 0))
  local fl = st.flow
  if fl and fl.evicted and fl.evicted > 0 then
    -- state the bounds made room for: messages in them may be lost
    add(string.format("evicted (oldest first, to stay within bounds): %d TCP flows, "
                      .. "%d fragmented datagrams", fl.tcp_evicted, fl.frag_evicted))
  end
  local lat = latency(st)
  add(string.format("latency: %d matched, %d unanswered%s; p50 %s  p90 %s  p99 %s  max %s",
                    lat.matched, lat.unanswered,
                    st.unmatched > 0 and string.format(", %d responses without a query", st.unmatched) or "",
                    fmt_ms(lat.p50_ms), fmt_ms(lat.p90_ms), fmt_ms(lat.p99_ms), fmt_ms(lat.max_ms)))
  local function table_of(map, namer, label)
    local h = hist.new{label = label}
    for k, v in pairs(map) do h:add(namer(k), v) end
    return h
  end
  if next(st.qtypes) then
    add("")
    add(table_of(st.qtypes, dns.type_name, "qtype"):render(ropts):gsub("\n$", ""))
  end
  if next(st.rcodes) then
    add("")
    add(table_of(st.rcodes, dns.rcode_name, "rcode"):render(ropts):gsub("\n$", ""))
  end
  if o.top > 0 and st.qnames.n > 0 then
    add("")
    add(st.qnames:render{rows = o.top, ascii = o.ascii, title = "query name"}:gsub("\n$", ""))
  end
  if o.top > 0 and st.clients.n > 0 then
    add("")
    -- the same table with addresses as text
    local c = pktsh.topk.new(st.clients.capacity)
    for _, x in ipairs(st.clients:top()) do
      local a = addr_text(x.key)
      c:set(a, x.count, x.err)
    end
    c.n, c.size = st.clients.n, st.clients.size
    add(c:render{rows = o.top, ascii = o.ascii, title = "client"}:gsub("\n$", ""))
  end
  return table.concat(out, "\n") .. "\n"
end

-- One line per interval when not on a terminal: the counts of that interval.
local function line_ticker(o)
  local last = {packets = 0, dns = 0, queries = 0, responses = 0, malformed = 0, matched = 0}
  return function(st, ts)
    local when = ts and os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(ts / 1e9))
                  or os.date("%H:%M:%S")
    local d = {}
    for k, v in pairs(last) do d[k] = st[k] - v; last[k] = st[k] end
    local lat = latency(st)
    io.stdout:write(string.format("%s packets %d dns %d queries %d responses %d malformed %d "
                                  .. "q/s %.1f p50_ms %s\n", when, d.packets, d.dns, d.queries,
                                  d.responses, d.malformed, d.queries / o.interval,
                                  lat.p50_ms and string.format("%.3f", lat.p50_ms) or "-"))
    io.stdout:flush()
  end
end

-- Prometheus metrics and dnstap, opened before the source (a port below
-- 1024 needs root, and -Z drops it once the source is open). Returns
-- snap(st, live) for work (nil without metrics) and finish(st).
local function outputs(o, offline)
  local warned = {}
  local function warn(e)
    if not warned[e] then io.stderr:write("dnsstats: ", e, "\n"); warned[e] = true end
  end
  if o.dnstap then
    -- reading a file, nothing is live to fall behind: the reader waits
    -- for the writer rather than drop
    local tap, err = pktsh.dnstap.open(o.dnstap, {wait = offline})
    if not tap then die(1, "%s", err) end
    o.tap = tap
  end
  local snap
  if o.metrics or o.metrics_file then
    local dm = require("pktsh.app.dnsmetrics").new{top = o.top, capacity = o.capacity,
                                                     client_text = addr_text}
    local srv, err
    if o.metrics then
      srv, err = pktsh.metrics.serve(o.metrics)
      if not srv then die(1, "%s", err) end
    end
    o.metrics_server = srv
    snap = function(st, live)
      live.dnstap = o.tap and o.tap:stats()
      local reg = dm:update(st, live)
      local ok, e
      if srv then ok, e = srv:publish(reg); if not ok then warn(e) end end
      if o.metrics_file then ok, e = reg:write(o.metrics_file); if not ok then warn(e) end end
    end
  end
  local function finish(st)
    if o.tap then
      local ok, e = o.tap:close()
      if not ok then warn(e) end
      local ts = o.tap:stats()
      io.stderr:write(string.format("dnsstats: dnstap: %d messages written to %s (%d dropped: "
                                    .. "queue full; %d lost: output down)\n", ts.written, o.dnstap,
                                    ts.dropped, ts.lost))
      -- the final counts of what was written, in the last snapshot
      if snap then snap(st, {pending = 0, flow = st.flow}) end
    end
    if o.metrics_server then o.metrics_server:close() end
  end
  return snap, finish
end

local function main(argv)
  local o = parse_args(argv)
  local dns_ok, derr = pcall(function() return pktsh.dns and pktsh.dnsflow end)
  if not dns_ok or not pktsh.dns or not pktsh.dnsflow then
    die(1, "the DNS modules are missing: %s", tostring(derr))
  end
  local opts = {filter = o.filter}
  local f = io.open(o.source, "rb")
  if f then f:close() elseif o.duration and o.source ~= "-" then opts.duration = o.duration end
  local workers = o.workers or pktsh.jobs()
  if workers < 1 then workers = 1 end
  local st, err
  if workers > 1 and (o.metrics or o.dnstap) then
    die(2, "--metrics and --dnstap take one worker (-j 1): workers hand their counts back "
        .. "only at the end (--metrics-file is written then)")
  end
  local snap, finish_outputs = outputs(o, f ~= nil or o.source == "-")
  if workers > 1 then
    if o.interval then io.stderr:write("dnsstats: --interval is not shown with -j > 1\n") end
    opts.workers = workers
    opts.merge = merge
    st, err = pktsh.parallel(o.source, opts, function(src, oo) return work(src, oo) end,
                             {ports = o.ports, timeout = o.timeout, capacity = o.capacity})
    if not st then die(1, "%s", err) end
  else
    local src
    src, err = pktsh.open(o.source, opts)
    if not src then die(1, "%s", err) end
    local tick
    if o.interval then
      local term = pktsh.term
      if not o.json and term.isatty(1) then
        local screen = term.screen(io.stdout, true)
        tick = function(s) screen:draw(report(s, o, "dnsstats " .. o.source .. " (running)")) end
      else
        tick = line_ticker(o)
      end
    end
    st = work(src, o, tick, snap)
    src:close()
  end
  -- the objects again over the tables the workers handed back
  pktsh.topk.from(st.qnames); pktsh.topk.from(st.clients)
  pktsh.hist.from(st.lat_exact); pktsh.hist.from(st.lat_log)
  if workers > 1 and snap then snap(st, {pending = 0, flow = st.flow}) end
  finish_outputs(st)
  if o.json then
    io.stdout:write(to_json(st, o), "\n")
  else
    if o.interval then io.stdout:write("\n") end
    io.stdout:write(report(st, o, "dnsstats " .. o.source .. (st.interrupted and " (interrupted)" or "")))
  end
  io.stdout:flush()
  if st.error then die(1, "%s", st.error) end
end

main(arg)
