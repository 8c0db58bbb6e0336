-- dnsstats.lua - DNS traffic statistics from a capture file or a live
-- interface: messages by transport and IP version, query types, response
-- codes, the busiest names and clients, and response latency.
--
--   pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]
--
-- The counting is the library's (pktsh.app.dnsstats: one pipeline, in C
-- for plain UDP and TCP, pktsh.dnsflow for the rest); this file is the
-- command line and the output: the text report, --json, Prometheus
-- metrics (pktsh.app.dnsmetrics over the engine's state) and dnstap (the
-- engine hands every message to it in C).
local usage = [[
usage: pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]

DNS statistics: messages, queries, responses, malformed messages,
responses with the TC bit, messages cut short by the capture (counted by
their header and question where those are whole), by transport and IP
version; query types; response codes (extended RCODEs
included); the top query names (case-insensitive) and clients; response
latency (p50/p90/p99/max) from queries matched to responses by id,
addresses, ports and name; unanswered queries. SOURCE is a capture file
("-" for standard input) or a network interface; FILTER is a tcpdump
expression.

options:
  --top N        list the N busiest names and clients (default 10)
  --ports LIST   ports that carry DNS, comma-separated (default 53;
                 e.g. 53,5353,5355,8053)
  --interval S   every S seconds (wall clock live, capture time for
                 files), redraw the tables so far on a terminal, or print
                 one line of that interval's counts (not on a terminal,
                 with --json, or with -j N live): every interval, empty
                 ones and the last partial one included; rates per
                 second of the interval's own length; fields named
                 total_* are cumulative, the rest of the interval
  --duration S   stop after S seconds (live: wall clock; a file: capture
                 time from its first packet)
  -j N           N fanout workers on a live interface (pktsh.parallel;
                 default: pktsh -j, else 1)
  --timeout S    a query unanswered for S seconds of capture time counts
                 as unanswered (default 5; the rest at the end do too);
                 its id again within S is a retransmission
  --pending N    at most N queries wait for their answer at once (default
                 1048576, about 40 MiB); past that the oldest counts as
                 unanswered early (the report says how many)
  --capacity M   counters per top-k table (default 10000); counts are
                 exact until more distinct keys than that are seen, then
                 over by at most n/M (each row shows its bound)
  --no-tunnels   count only DNS that is not inside a tunnel (IP in IP,
                 GRE, ERSPAN, VXLAN, Geneve); by default DNS is counted
                 wherever it is (also inside PPPoE, MPLS, VLAN tags)
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

local MAX_PENDING = 1048576

local cli = require "pktsh.host.cli"
local dnsstats = require "pktsh.app.dnsstats"

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
    ["--pending"] = {"max_pending", "whole", 1},
    ["--json"] = {"json"}, ["--ascii"] = {"ascii"}, ["--ports"] = {"ports", port_list},
    ["--no-tunnels"] = {"no_tunnels"},
    ["--metrics"] = {"metrics", "string"}, ["--metrics-file"] = {"metrics_file", "string"},
    ["--metrics-interval"] = {"metrics_interval", "number", 0.01},
    ["--dnstap"] = {"dnstap", "string"},
  }, {top = 10, ports = {53}, timeout = 5, capacity = 10000, max_pending = MAX_PENDING,
      metrics_interval = 1})
  o.capacity = math.max(o.capacity, o.top)
  return o
end

------------------------------------------------------------------------
-- Output

local function names(map, namer)
  local t = {}
  for k, v in pairs(map) do
    local name = namer(tonumber(k))
    t[name] = (t[name] or 0) + v
  end
  return t
end

local function top_list(st, which, k)
  local json = pktsh.json
  local out = json.array()
  for i, x in ipairs(dnsstats.top(st, which, k)) do out[i] = json.array({x.key, x.count}) end
  return out
end

local function to_json(st, o)
  local json, dns = pktsh.json, pktsh.dns
  local lat = dnsstats.latency(st)
  for _, k in ipairs({"p50_ms", "p90_ms", "p99_ms", "max_ms"}) do
    if lat[k] == nil then lat[k] = 0 / 0 end      -- encoded as null
  end
  return json.encode{
    packets = st.packets, dns = st.dns, queries = st.queries, responses = st.responses,
    malformed = st.malformed, truncated = st.truncated, tc = st.tc, transport = st.transport, ip = st.ip,
    qtypes = names(st.qtypes, dns.type_name), rcodes = names(st.rcodes, dns.rcode_name),
    top_qnames = top_list(st, "qnames", o.top), top_clients = top_list(st, "clients", o.top),
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
  add(string.format("queries %d   responses %d   malformed %d   TC %d   cut by the capture %d",
                    st.queries, st.responses, st.malformed, st.tc or 0, st.truncated or 0))
  local fl = st.flow
  if fl and fl.evicted and fl.evicted > 0 then
    -- state the bounds made room for: messages in them may be lost
    add(string.format("evicted (oldest first, to stay within bounds): %d TCP flows, "
                      .. "%d fragmented datagrams", fl.tcp_evicted, fl.frag_evicted))
  end
  if (st.pending_evicted or 0) > 0 then
    add(string.format("%d queries counted unanswered early: more than %d waited at once (--pending)",
                      st.pending_evicted, o.max_pending))
  end
  local lat = dnsstats.latency(st)
  add(string.format("latency: %d matched, %d unanswered%s; p50 %s  p90 %s  p99 %s  max %s",
                    lat.matched, lat.unanswered,
                    st.unmatched > 0 and string.format(", %d responses without a query", st.unmatched) or "",
                    fmt_ms(lat.p50_ms), fmt_ms(lat.p90_ms), fmt_ms(lat.p99_ms), fmt_ms(lat.max_ms)))
  local function table_of(map, namer, label)
    local h = hist.new{label = label}
    for k, v in pairs(map) do h:add(namer(tonumber(k)), v) end
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
  for _, t in ipairs({{"qnames", "query name"}, {"clients", "client"}}) do
    if o.top > 0 and st[t[1]].n > 0 then
      add("")
      local tbl = dnsstats.top_table(st, t[1], o.top)
      add(tbl:render{rows = o.top, ascii = o.ascii, title = t[2]}:gsub("\n$", ""))
    end
  end
  return table.concat(out, "\n") .. "\n"
end

-- One line per interval when not on a terminal. Fields of the interval:
-- its length (interval_s), packets, dns, queries, responses, malformed,
-- matched, unanswered, qps (queries per second of that length), p50_ms
-- (of its latencies), drops and freeze_q (live; per worker with -j);
-- fields named total_* are cumulative.
local function interval_line(r, live)
  local f = {}
  local function add(k, v) f[#f + 1] = k .. " " .. v end
  local when
  if live then
    when = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(tonumber(r.start) / 1e9)) .. "Z"
  else
    local s = r.start / 1e9
    when = os.date("!%Y-%m-%dT%H:%M:%S", math.floor(s)) .. string.format(".%03dZ", math.floor(s % 1 * 1000))
  end
  add("interval_s", string.format("%.3f", r.seconds))
  for _, k in ipairs({"packets", "dns", "queries", "responses", "malformed", "matched", "unanswered"}) do
    add(k, string.format("%d", r[k]))
  end
  add("qps", r.qps and string.format("%.1f", r.qps) or "-")
  add("p50_ms", r.p50_ms and string.format("%.3f", r.p50_ms) or "-")
  if r.drops then
    add("drops", string.format("%d", r.drops))
    add("freeze_q", string.format("%d", r.freeze_q))
    if #r.workers > 1 then
      local d, q = {}, {}
      for i, w in ipairs(r.workers) do d[i], q[i] = string.format("%d", w.drops), string.format("%d", w.freeze_q) end
      add("drops_per_worker", table.concat(d, ","))
      add("freeze_q_per_worker", table.concat(q, ","))
    end
  end
  for _, k in ipairs({"packets", "dns", "queries", "responses", "unanswered"}) do
    add("total_" .. k, string.format("%d", r.total[k]))
  end
  if r.gap then add("empty_intervals", string.format("%d", r.gap)) end
  return when .. " " .. table.concat(f, " ") .. "\n"
end

local function line_ticker(live)
  return function(r)
    io.stdout:write(interval_line(r, live))
    io.stdout:flush()
  end
end

local function engine_opts(o)
  return {ports = o.ports, timeout = o.timeout, capacity = o.capacity,
          max_pending = o.max_pending, duration = o.duration, outer_only = o.no_tunnels}
end

-- Prometheus metrics and dnstap, opened before the source (a port below
-- 1024 needs root, and -Z drops it once the source is open). Returns
-- snap(st, live) for the engine (nil without metrics) and finish(st).
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
    local dm = require("pktsh.app.dnsmetrics").new{top = o.top, capacity = o.capacity}
    local srv, err
    if o.metrics then
      -- rendered when a scrape finds the last snapshot older than the
      -- interval (and every interval for --metrics-file): nothing when
      -- nobody scrapes
      srv, err = pktsh.metrics.serve(o.metrics, nil, {max_age = o.metrics_interval})
      if not srv then die(1, "%s", err) end
      o.snap_wanted = function()
        local w, e = srv:wanted()
        if e then warn(e) end
        return w
      end
    end
    o.metrics_server = srv
    snap = function(st, live)
      -- the end's too: rendered only for a scrape waiting, or the file
      if not (o.metrics_file or o.snap_wanted()) then return end
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
      if snap then snap(st, {pending = 0}) end
    end
    if o.metrics_server then o.metrics_server:close() end
  end
  return snap, finish
end

local function main(argv)
  local o = parse_args(argv)
  local opts = {filter = o.filter}
  local f = io.open(o.source, "rb")
  local live = not f and o.source ~= "-"
  if f then f:close() elseif o.duration and o.source ~= "-" then opts.duration = o.duration end
  local workers = o.workers or pktsh.jobs()
  if workers < 1 then workers = 1 end
  local st, err
  local lines = o.interval and (o.json or not pktsh.term.isatty(1))
  if workers > 1 and (o.metrics or o.dnstap) then
    die(2, "--metrics and --dnstap take one worker (-j 1): workers hand their counts back "
        .. "only at the end (--metrics-file is written then)")
  end
  local snap, finish_outputs = outputs(o, not live)
  if workers > 1 then
    opts.workers = workers
    opts.merge = dnsstats.merge
    local eo = engine_opts(o)
    if o.interval and live then
      -- the workers hand over snapshots; the parent prints a merged line
      -- every interval (on a terminal too: the tables stay in the workers)
      eo.publish = math.min(o.interval / 4, 0.25)
      local tick = line_ticker(true)
      local prev, last = nil, pktsh.now()
      opts.every = o.interval
      opts.on_every = function(snaps, final)
        local cur = dnsstats.sum_snapshots(snaps)
        local now = pktsh.now()
        local r = dnsstats.interval(prev, cur, (now - last) / 1e9)
        -- the workers often end just after a line (--duration is a
        -- whole number of intervals): that sliver, when empty, is no line
        if final and prev and r.packets == 0 and (r.drops or 0) == 0 and r.seconds < o.interval / 2 then
          return
        end
        r.start = last
        prev, last = cur, now
        tick(r)
      end
    elseif o.interval then
      io.stderr:write("dnsstats: --interval is not shown with -j > 1 on files\n")
    end
    st, err = pktsh.parallel(o.source, opts, dnsstats.work, eo)
    if not st then die(1, "%s", err) end
  else
    local src
    src, err = pktsh.open(o.source, opts)
    if not src then die(1, "%s", err) end
    local tick
    if lines then
      tick = line_ticker(src.kind == "live")
    elseif o.interval then
      -- on a terminal: the tables so far, redrawn in place
      local screen = pktsh.term.screen(io.stdout, true, {ascii = o.ascii})
      tick = function(_, eng)
        screen:draw(report(eng:state(), o, "dnsstats " .. o.source .. " (running)"))
      end
    end
    local eo = engine_opts(o)
    eo.interval = o.interval
    eo.tap, eo.snap, eo.snap_wanted, eo.snap_top = o.tap, snap, o.snap_wanted, o.top
    eo.metrics_interval = o.metrics_file and o.metrics_interval or false
    st = dnsstats.work(src, eo, tick)
    src:close()
  end
  dnsstats.objects(st)
  if workers > 1 and snap then snap(st, {pending = 0}) end
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

local exports = {main = function() return main(arg) end}
return pktsh.main(exports)
