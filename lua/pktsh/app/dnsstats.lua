-- dnsstats.lua - the DNS statistics engine (module pktsh.app.dnsstats;
-- scripts/dnsstats.lua is its command line and output).
--
--   local dnsstats = require "pktsh.app.dnsstats"
--   local st = dnsstats.work(src, {ports = {53}, timeout = 5, capacity = 10000})
--   dnsstats.latency(st)          -> {matched, unanswered, p50_ms, p90_ms, p99_ms, max_ms}
--   dnsstats.top(st, "qnames", k) -> {{key = text, count, err, guaranteed}, ...}
--   dnsstats.top(st, "clients", k)
--   dnsstats.counters(st)         -> the counters as one flat table (stable names)
--   dnsstats.merge(a, b)          -> two workers' states as one
--
-- One pipeline, a batch at a time: the C scan (src/accel/dnsscan.c)
-- walks every packet of the batch, makes the DNS messages of plain UDP
-- packets, hands TCP segments and UDP fragments to the C reassemblers
-- (src/proto/dnstcp.c, ipfrag.c) and counts every message in C
-- (src/accel/dnsstats.c); in general mode (general = true, which the
-- tests use to compare the two paths) it leaves every packet to
-- pktsh.dnsflow, by index, in one list per batch, which shares both
-- reassemblers, and their messages come back to the same counting in
-- packet order. No Lua runs per packet, and nothing is
-- allocated per packet: names and clients are counted by key in C, and
-- text is made at report time for the rows shown.
--
-- The state (work's result, and eng:state()) is a plain table with stable
-- names, so workers hand it back and pktsh.parallel merges it:
--   packets, dns, queries, responses, malformed, transport {udp, tcp},
--   ip {["4"], ["6"]}, qtypes {[type] = n}, rcodes {[rcode] = n},
--   qnames, clients (packed pktsh.topk states, pktsh.topk.packed: names
--   keyed by 53 bits of their keyed hash and labelled with their wire
--   form, clients keyed by IPv4 address or 2^52 + 52 bits of a keyed hash
--   of the IPv6 address and labelled with its 16 bytes; dnsstats.top
--   makes the text of the rows it returns only. Filtered space-saving
--   (src/accel/topk.c) with m = capacity counters over n counted keys:
--   exact while at most m keys were seen; after that every count is an
--   upper bound, at most its true count + err, err <= the smallest count
--   <= n/m, and every key counted more than n/m times is kept),
--   lat_exact, lat_log (pktsh.hist states, ns: per value while at most
--   20,000 values were distinct, log2 with 128 sub-buckets always),
--   truncated (messages the capture cut short: the UDP length or the TCP
--   length prefix runs past the captured bytes; counted as far as they are there, see
--   pktsh_dnsstats_counts), tc (responses with the TC bit), messages (by transport, IP
--   version and direction: messages.udp["4"].query; from the engine's
--   slots), matched, unanswered, unmatched, pending_evicted, flow (pktsh.dnsflow's
--   counters, TCP's from C), ring {received, drops, freeze_q} (live), and
--   error and interrupted when the input ended so.
--
-- Options (work, new): ports (list, default {53}), timeout (s before a
-- query counts as unanswered, 5), capacity (top-k counters, 10000),
-- max_pending (queries waiting at once, 1048576: 24 bytes each and an
-- 8-byte index slot at load one half at most, about 40 MiB full; more
-- waiting evicts the oldest, counted unanswered and in pending_evicted),
-- max_flows, max_buffer, tcp_timeout, frag_timeout, max_frags (pktsh.dnsflow's),
-- general (true: every packet through pktsh.dnsflow, for tests),
-- outer_only (true: DNS inside a tunnel, an IP datagram in another, is
-- passed over: IP in IP, GRE, ERSPAN, VXLAN, Geneve; PPPoE, MPLS and VLAN
-- tags are no tunnel), tap (a pktsh.dnstap: every message the engine
-- sees goes there too, in C).
-- work also takes duration (s; files: capture time), interval (s) with
-- a tick(record) function, and publish (s, in a pktsh.parallel worker:
-- hand the parent a snapshot that often; see dnsstats.interval), and
-- snap (a function(state, live)) with metrics_interval (s, default 1;
-- false: none on a clock) and snap_wanted (a function, optional):
-- called every metrics_interval of wall time and whenever snap_wanted()
-- is true (both looked at between batches, and while a live link is
-- quiet), with eng:state(snap_top) (default 10: no exact latencies),
-- and once at the end with the whole state; live holds what only the
-- running engine knows: pending (queries waiting), flow, rings (the
-- source's stats, live).
local ffi = require "ffi"
local bit = require "bit"
require "pktsh.cdef"
local C = ffi.C
local hist = require "pktsh.report.hist"
local topk = require "pktsh.report.topk"
local dnsflow = require "pktsh.proto.dnsflow"
local dns = require "pktsh.proto.dns"
local addr = require "pktsh.proto.addr"

local M = {}

M.defaults = {ports = {53}, timeout = 5, capacity = 10000, max_pending = 1048576,
              tcp_timeout = 60, max_flows = 10000, max_buffer = 32 * 1048576}

local NEVER = math.huge
-- "no limit" for the scan, exactly: a crafted pcapng can carry any
-- 64-bit time, and a limit at or past 2^63 (an interval after such a
-- time) does not convert to int64_t; those are no limit too.
local NO_LIMIT = 0x7fffffffffffffffLL
local LIMIT_MAX = 2^63 - 2^10
local SUB = C.PKTSH_DNSSTATS_LOG_SUB

-- A value in log2 bin i (pktsh.hist's log_index with SUB sub-buckets):
-- its lower edge, whose log_index is i; 0.5 for bin 0 (below 1).
local function bin_value(i)
  if i == 0 then return 0.5 end
  local e, j = math.floor((i - 1) / SUB), (i - 1) % SUB
  return 2 ^ e * (1 + j / SUB)
end

local Engine = {}
Engine.__index = Engine
M.Engine = Engine

local function opt(o, k) if o[k] == nil then return M.defaults[k] end return o[k] end

local function port_bits(ports)
  local bits = ffi.new("uint8_t[?]", C.PKTSH_DNS_PORTMAP_BYTES)
  for _, pt in ipairs(ports) do
    local i = math.floor(pt / 8)
    bits[i] = bit.bor(bits[i], bit.lshift(1, pt % 8))
  end
  return bits
end

-- A new engine, or nil and the reason.
function M.new(o)
  o = o or {}
  local ports = opt(o, "ports")
  local co = ffi.new("struct pktsh_dnsstats_opts")
  local bits = port_bits(ports)
  co.ports, co.timeout, co.tcp_timeout = bits, opt(o, "timeout") * 1e9, opt(o, "tcp_timeout") * 1e9
  co.max_buffer, co.capacity = opt(o, "max_buffer"), opt(o, "capacity")
  co.max_pending, co.max_flows = opt(o, "max_pending"), opt(o, "max_flows")
  co.frag_timeout, co.max_frags = (o.frag_timeout or 30) * 1e9, o.max_frags or 1000
  co.general = o.general and 1 or 0
  co.outer_only = o.outer_only and 1 or 0
  local err = ffi.new("struct pktsh_err")
  local h = C.pktsh_dnsstats_new(co, err)
  if h == nil then return nil, ffi.string(err.msg) end
  h = ffi.gc(h, C.pktsh_dnsstats_free)
  if o.tap then C.pktsh_dnsstats_tap(h, o.tap.handle) end
  local self = setmetatable({h = h, capacity = co.capacity, pi = 0, tap = o.tap,
                             nextbox = ffi.new("uint32_t[1]"),
                             cbuf = ffi.new("struct pktsh_dnsstats_counts"),
                             lat = ffi.new("struct pktsh_dnsstats_latency")}, Engine)
  -- the general path shares the scan's TCP reassembler
  self.fe = dnsflow.new{ports = ports, tcp = C.pktsh_dnsstats_tcp(h),
                        frags = C.pktsh_dnsstats_frags(h), max_buffer = co.max_buffer,
                        outer_only = o.outer_only}
  self.emit = function(ptr, len, meta, p)
    C.pktsh_dnsstats_add(h, ptr, len, p, meta.ipver == 6 and 1 or 0, meta.sport, meta.dport,
                         meta.ts, meta.transport == "tcp" and 1 or 0, self.pi,
                         meta.truncated and 1 or 0)
  end
  return self
end

-- Counts batch b from packet `from` (default 0) up to the first packet
-- at or after `before` (ns; default: the whole batch). Returns the index
-- where it stopped (b.count when it reached the end).
function Engine:feed(b, from, before)
  local h, pkts = self.h, b.pkt
  local nd = C.pktsh_dnsstats_scan(h, pkts, from or 0, b.count, before or NO_LIMIT, self.nextbox)
  local stop = self.nextbox[0]
  if nd > 0 then
    local idx, fe, emit = C.pktsh_dnsstats_deferred(h), self.fe, self.emit
    for j = 0, nd - 1 do
      local i = idx[j]
      self.pi = i
      fe:feed(pkts[i], emit)
    end
    fe:advance(tonumber(pkts[stop - 1].ts))
    C.pktsh_dnsstats_batch_end(h)
  end
  return stop
end

-- The end of the input: queries still waiting count as unanswered.
function Engine:finish()
  self.fe:flush()
  C.pktsh_dnsstats_finish(self.h)
end

-- The engine's counters (struct pktsh_dnsstats_counts), read now.
function Engine:counts()
  C.pktsh_dnsstats_counts(self.h, self.cbuf)
  return self.cbuf
end

local function types(h, which)
  local n = C.pktsh_dnsstats_types(h, which, nil, nil, 0)
  local keys, counts = ffi.new("uint32_t[?]", n + 1), ffi.new("double[?]", n + 1)
  C.pktsh_dnsstats_types(h, which, keys, counts, n)
  local t = {}
  for i = 0, n - 1 do t[tonumber(keys[i])] = counts[i] end
  return t
end

-- Arrays for copying a C table out (keys, counts, errs), grown as needed
-- and kept: allocating tens of kB of cdata at each call cost more than
-- the copy (0.1 ms each, at every metrics snapshot).
local scr = {n = 0}
local function scratch(n)
  if scr.n < n then
    scr = {n = n, keys = ffi.new("uint64_t[?]", n), counts = ffi.new("double[?]", n),
           errs = ffi.new("double[?]", n)}
  end
  return scr.keys, scr.counts, scr.errs
end

-- A C top-k table as a packed pktsh.topk state: its counters and
-- labels copied out in a few strings, the text made later for the rows
-- a report shows (dnsstats.top, a metrics snapshot's top rows), never
-- for every counter.
local function topk_state(h, which, capacity)
  local t = C.pktsh_dnsstats_topk(h, which)
  local size = C.pktsh_topk64_entries(t, nil, nil, nil, 0)
  local keys, counts, errs = scratch(size + 1)
  C.pktsh_topk64_entries(t, keys, counts, errs, size)
  local offs = ffi.new("uint32_t[?]", size + 1)
  local total = C.pktsh_topk64_labels(t, nil, 0, offs)
  local buf = ffi.new("uint8_t[?]", total + 1)
  C.pktsh_topk64_labels(t, buf, total, offs)
  local n = C.pktsh_topk64_total(t)
  local dkeys = ffi.new("double[?]", size + 1)
  for i = 0, size - 1 do dkeys[i] = tonumber(keys[i]) end
  return topk.packed(capacity, n, size, dkeys, counts, errs, ffi.string(buf, total), offs)
end

-- The latency bins (which: exact values or log2 bins) as a pktsh.hist.
local function latency_hist(self, which)
  local h, l = self.h, self.lat
  C.pktsh_dnsstats_latency_stats(h, l)
  local exact = which == C.PKTSH_DNSSTATS_LAT_EXACT
  local out = exact and hist.new{max_keys = C.PKTSH_DNSSTATS_EXACT_MAX}
              or hist.new{log = true, sub = SUB}
  local n = C.pktsh_dnsstats_latency(h, which, nil, nil, 0)
  local _, keys, counts = scratch(n + 1)
  C.pktsh_dnsstats_latency(h, which, keys, counts, n)
  for i = 0, n - 1 do
    local k = keys[i]
    -- a value of bin k: its lower edge (log_index of it is k), 0.5 for bin 0
    if not exact then k = bin_value(k) end
    out:add(k, counts[i])
  end
  if exact and l.exact_over ~= 0 then out.other = l.n end
  if l.n > 0 then out.n, out.sum, out.min, out.max = l.n, l.sum, l.min, l.max end
  return out
end

-- Messages by transport, IP version and direction, from the slots
-- ((tcp * 2 + v6) * KINDS + kind): {udp = {["4"] = {query = n, ...}}}.
local KINDS = C.PKTSH_DNS_KINDS
local DIRS = {[C.PKTSH_DNS_QUERY] = "query", [C.PKTSH_DNS_RESPONSE] = "response",
              [C.PKTSH_DNS_BAD_QUERY] = "query", [C.PKTSH_DNS_BAD_RESPONSE] = "response"}
local function messages(c)
  local out = {}
  for tcp = 0, 1 do
    local tr = tcp == 1 and "tcp" or "udp"
    out[tr] = {}
    for v6 = 0, 1 do
      local dirs = {}
      for k = 0, KINDS - 1 do
        local n = c.slots[(tcp * 2 + v6) * KINDS + k]
        if n > 0 then dirs[DIRS[k]] = (dirs[DIRS[k]] or 0) + n end
      end
      out[tr][v6 == 1 and "6" or "4"] = dirs
    end
  end
  return out
end

-- The state (see the top of the file), as plain tables.
-- With top (a metrics snapshot's), lat_exact is left out: the top-k
-- tables are packed as always (dnsstats.top makes the text of the `top`
-- rows exported only), and the log2 latencies give the quantiles.
function Engine:state(top)
  local c, h = self:counts(), self.h
  local fs = self.fe:stats()
  fs.udp = c.udp
  -- the scan's rebuilt datagrams, as dnsflow counts its own
  fs.fragmented = fs.fragmented + c.fragmented
  fs.malformed = fs.malformed + c.frag_malformed
  return {
    packets = c.packets, dns = c.dns, queries = c.queries, responses = c.responses,
    malformed = c.malformed + (fs.malformed or 0), truncated = c.truncated, tc = c.tc,
    messages = messages(c), transport = {udp = c.udp, tcp = c.tcp}, ip = {["4"] = c.ip4, ["6"] = c.ip6},
    qtypes = types(h, C.PKTSH_DNSSTATS_QTYPES), rcodes = types(h, C.PKTSH_DNSSTATS_RCODES),
    qnames = topk_state(h, C.PKTSH_DNSSTATS_NAMES, self.capacity),
    clients = topk_state(h, C.PKTSH_DNSSTATS_CLIENTS, self.capacity),
    lat_exact = not top and latency_hist(self, C.PKTSH_DNSSTATS_LAT_EXACT) or nil,
    lat_log = latency_hist(self, C.PKTSH_DNSSTATS_LAT_LOG),
    matched = c.matched, unanswered = c.unanswered, unmatched = c.unmatched,
    pending_evicted = c.pending_evicted, flow = fs,
  }
end

-- The counters an --interval line needs, cumulative: a snapshot that
-- workers can hand over and that sums (dnsstats.interval takes two).
local SNAP = {"packets", "dns", "queries", "responses", "malformed", "matched",
              "unanswered", "unmatched", "udp", "tcp", "truncated", "tc"}
function Engine:snapshot(src)
  local c, h = self:counts(), self.h
  local s = {lat = {}}
  for _, k in ipairs(SNAP) do s[k] = c[k] end
  local n = C.pktsh_dnsstats_latency(h, C.PKTSH_DNSSTATS_LAT_LOG, nil, nil, 0)
  local keys, counts = ffi.new("double[?]", n + 1), ffi.new("double[?]", n + 1)
  C.pktsh_dnsstats_latency(h, C.PKTSH_DNSSTATS_LAT_LOG, keys, counts, n)
  for i = 0, n - 1 do s.lat[tonumber(keys[i]) + 1] = counts[i] end
  if src and src.kind == "live" then
    local rs = src:stats()
    s.drops, s.freeze_q, s.received = rs.drops, rs.freeze_q, rs.received
  end
  return s
end

------------------------------------------------------------------------
-- Intervals

-- Snapshots summed (workers'), into a fresh one; per-worker drops and
-- freeze_q kept in lists.
function M.sum_snapshots(list)
  local s = {lat = {}, workers = {}}
  for i, x in ipairs(list) do
    for _, k in ipairs(SNAP) do s[k] = (s[k] or 0) + (x[k] or 0) end
    for b, c in pairs(x.lat) do s.lat[b] = (s.lat[b] or 0) + c end
    if x.drops then
      s.drops, s.freeze_q = (s.drops or 0) + x.drops, (s.freeze_q or 0) + x.freeze_q
      s.received = (s.received or 0) + x.received
      s.workers[i] = {drops = x.drops, freeze_q = x.freeze_q}
    end
  end
  return s
end

-- The interval between two snapshots (prev may be nil: the start),
-- seconds long: {seconds, packets, dns, queries, responses, malformed,
-- matched, unanswered, unmatched (the counts of the interval),
-- qps (queries / seconds), p50_ms (of the latencies of the interval, from
-- log2 bins), drops, freeze_q (of the interval; per worker in workers),
-- total = cur (cumulative)}.
function M.interval(prev, cur, seconds)
  local r = {seconds = seconds, total = cur, workers = {}}
  for _, k in ipairs(SNAP) do r[k] = cur[k] - (prev and prev[k] or 0) end
  local h = hist.new{log = true, sub = SUB}
  for b, c in pairs(cur.lat) do
    local d = c - (prev and prev.lat[b] or 0)
    if d > 0 then h:add(bin_value(b - 1), d) end
  end
  local p50 = h:quantile(0.5)
  r.p50_ms = p50 and p50 / 1e6
  r.qps = seconds > 0 and r.queries / seconds or nil
  if cur.drops then
    r.drops = cur.drops - (prev and prev.drops or 0)
    r.freeze_q = cur.freeze_q - (prev and prev.freeze_q or 0)
    for i, w in pairs(cur.workers or {}) do
      local pw = prev and prev.workers and prev.workers[i] or {drops = 0, freeze_q = 0}
      r.workers[i] = {drops = w.drops - pw.drops, freeze_q = w.freeze_q - pw.freeze_q}
    end
  end
  return r
end

------------------------------------------------------------------------
-- Reading a source

-- Capture-time intervals of a file: a record for each boundary up to ts
-- (empty ones included; a gap of more than MAX_EMPTY intervals is one
-- record), the last snapshot kept in w.
local MAX_EMPTY = 10000
local function file_ticks(w, eng, ts, tick)
  local iv = w.interval
  local snap = eng:snapshot()
  local first = true
  while ts >= w.next_tick do
    local gap = math.floor((ts - w.next_tick) / iv)
    if not first and gap > MAX_EMPTY then
      local r = M.interval(w.snap, snap, gap * iv / 1e9)
      r.start, r.gap = w.next_tick - iv, gap
      tick(r, eng)
      w.next_tick = w.next_tick + gap * iv
    else
      local r = M.interval(w.snap, snap, iv / 1e9)
      r.start = w.next_tick - iv
      tick(r, eng)
      w.snap = snap
      w.next_tick = w.next_tick + iv
    end
    first = false
  end
  w.snap = snap
end

-- A live interval: the record since the last one, its length measured.
local function live_tick(w, eng, src, tick, now)
  local snap = eng:snapshot(src)
  local r = M.interval(w.snap, snap, (now - w.last) / 1e9)
  r.start = w.last_wall
  tick(r, eng)
  w.snap, w.last, w.last_wall = snap, now, C.pktsh_now_ns()
end

-- Reads src to its end (or o.duration, or Ctrl-C) and returns the state.
function M.work(src, o, tick)
  o = o or {}
  local eng = assert(M.new(o))
  local live = src.kind == "live"
  local interval = o.interval and o.interval * 1e9
  local dur = o.duration and not live and o.duration * 1e9
  local w = {interval = interval}
  local t_end, err
  local now = tonumber(C.pktsh_mono_ns())
  w.last, w.last_wall = now, C.pktsh_now_ns()
  local publish = o.publish and o.publish * 1e9
  local next_pub = publish and now + publish
  local par = publish and require("pktsh.host.parallel")
  local wait = live and ((interval and tick) or publish or o.snap) and 0.05 or nil
  -- metrics snapshots, looked at between batches and while the link is
  -- quiet (src.on_idle): every metrics_interval of wall time (a first at
  -- once; none with false), and whenever snap_wanted() says so
  local snap, wanted, next_snap = o.snap, o.snap_wanted, 0
  local snap_every = o.metrics_interval ~= false and (o.metrics_interval or 1) * 1e9
  local function maybe_snapshot()
    local t = tonumber(C.pktsh_mono_ns())
    if not ((snap_every and t >= next_snap) or (wanted and wanted())) then return end
    snap(eng:state(o.snap_top or 10), {pending = eng:counts().pending,
                                       rings = live and {src:stats()} or nil})
    next_snap = tonumber(C.pktsh_mono_ns()) + (snap_every or 0)
  end
  if snap then
    maybe_snapshot()
    src.on_idle = maybe_snapshot
  end
  while true do
    local b, e = src:next(wait)
    if b == nil then err = e; break end
    if b then
      local i, n = 0, b.count
      if n > 0 and not live then
        local t0 = tonumber(b.pkt[0].ts)
        t_end = t_end or (dur and t0 + dur)
        if interval and tick and not w.next_tick then w.next_tick = t0 + interval end
      end
      while i < n do
        local before = math.min(t_end or NEVER, (tick and w.next_tick) or NEVER)
        local stop = eng:feed(b, i, before < LIMIT_MAX and before or nil)
        if stop > i then w.last_ts = tonumber(b.pkt[stop - 1].ts) end
        i = stop
        if i < n then
          local ts = tonumber(b.pkt[i].ts)
          if t_end and ts >= t_end then break end
          file_ticks(w, eng, ts, tick)
        end
      end
      if t_end and i < n then break end
    end
    if snap then maybe_snapshot() end
    if live then
      now = tonumber(C.pktsh_mono_ns())
      if interval and tick and now - w.last >= interval then live_tick(w, eng, src, tick, now) end
      if next_pub and now >= next_pub then
        par.publish(eng:snapshot(src))
        next_pub = now + publish
      end
    end
  end
  if interval and tick and not live and w.next_tick then
    -- the last, partial interval: from its start to the last packet's time
    local start = w.next_tick - interval
    local r = M.interval(w.snap, eng:snapshot(), math.max(0, (w.last_ts or start) - start) / 1e9)
    r.start, r.last = start, true
    tick(r, eng)
  end
  eng:finish()
  if snap then src.on_idle = nil end
  local st = eng:state()
  if live then
    local rs = src:stats()
    st.ring = {received = rs.received, drops = rs.drops, freeze_q = rs.freeze_q}
  end
  if publish then par.publish(eng:snapshot(src)) end
  if snap then
    -- the end: every query still waiting counted unanswered, the flows flushed
    snap(st, {pending = 0, rings = live and {src:stats()} or nil})
  end
  if err then st.error = tostring(err) end
  st.interrupted = src.interrupted or nil
  return st
end

------------------------------------------------------------------------
-- Reading a state

-- Two states (workers') as one: numbers add, tables of counts merge,
-- hist and topk states by their rules.
function M.merge(a, b)
  local merge = require("pktsh.host.merge").merge
  local ea, eb = a.error, b.error
  local ia, ib = a.interrupted, b.interrupted
  a.error, b.error, a.interrupted, b.interrupted = nil, nil, nil, nil
  merge(a, b)
  a.error = ea or eb
  a.interrupted = ia or ib
  return a
end

-- The states' objects again (after a trip through a worker).
function M.objects(st)
  topk.from(st.qnames); topk.from(st.clients)
  if st.lat_exact then hist.from(st.lat_exact) end    -- a snapshot's state has none
  hist.from(st.lat_log)
  return st
end

-- Latency: matched, unanswered, and p50/p90/p99/max in ms (nil when
-- nothing matched): nearest rank over the exact values while they were
-- kept, else the log2 bins (under 0.4% off).
function M.latency(st)
  M.objects(st)
  local h = st.lat_exact
  if h.other > 0 then h = st.lat_log end
  local q = h:quantiles{0.5, 0.9, 0.99}
  local function ms(v) return v and v / 1e6 end
  return {matched = st.matched, unanswered = st.unanswered,
          p50_ms = ms(q[1]), p90_ms = ms(q[2]), p99_ms = ms(q[3]),
          max_ms = st.lat_log.max and st.lat_log.max / 1e6 or nil}
end

-- A client's text from its top-k key or label.
local function client_text(k)
  if type(k) == "number" then
    return string.format("%d.%d.%d.%d", math.floor(k / 16777216), math.floor(k / 65536) % 256,
                         math.floor(k / 256) % 256, k % 256)
  end
  local a = ffi.new("struct pktsh_in6")
  ffi.copy(a.b, k, 16)
  return addr.in6_str(a)
end

local function name_text(wire)
  if type(wire) ~= "string" then return tostring(wire) end
  return dns.name_text(wire) or wire
end

-- The k busiest of st.qnames or st.clients, their text made now (for
-- these k only): {key = text, count, err, guaranteed, id = the counted key}.
function M.top(st, which, k)
  M.objects(st)
  local t = st[which]
  local text = which == "qnames" and name_text or client_text
  local list = t:top(k)
  for _, x in ipairs(list) do
    x.id = x.id or x.key
    x.key = text(x.key)
  end
  return list
end

-- What a report draws (v:render{rows = k}): the table's k busiest with
-- their text, as M.top picks them, and its bounds stated over every
-- counter. A view: labelling the table's rows instead let rows tied at
-- the k-th count trade places (ties go by label, and text sorts after
-- wire form), so a tied row was drawn in wire form.
function M.top_table(st, which, k)
  M.objects(st)
  local t = st[which]
  local rows = M.top(st, which, k)
  local view = setmetatable({n = t.n, size = t.size, capacity = t.capacity}, {__index = topk.T})
  function view.top(_, want)
    local out = {}
    for i = 1, math.min(want or #rows, #rows) do out[i] = rows[i] end
    return out
  end
  function view.bound() return t:bound() end
  function view.floor() return t:floor() end
  return view
end

-- Every counter as one flat table of numbers with stable names (for
-- metrics): dns_messages, dns_queries, ..., latency quantiles in ms.
function M.counters(st)
  local lat = M.latency(st)
  local fl = st.flow or {}
  return {
    packets = st.packets, dns_messages = st.dns, dns_queries = st.queries,
    dns_responses = st.responses, dns_malformed = st.malformed,
    dns_truncated = st.truncated or 0, dns_tc = st.tc or 0,
    dns_udp = st.transport.udp, dns_tcp = st.transport.tcp,
    dns_ipv4 = st.ip["4"], dns_ipv6 = st.ip["6"],
    matched = st.matched, unanswered = st.unanswered, unmatched = st.unmatched,
    pending_evicted = st.pending_evicted or 0,
    latency_p50_ms = lat.p50_ms, latency_p90_ms = lat.p90_ms, latency_p99_ms = lat.p99_ms,
    latency_max_ms = lat.max_ms,
    tcp_flows = fl.tcp_flows, tcp_evicted = fl.tcp_evicted, frag_evicted = fl.frag_evicted,
    ring_drops = st.ring and st.ring.drops, ring_freeze_q = st.ring and st.ring.freeze_q,
  }
end

return M
