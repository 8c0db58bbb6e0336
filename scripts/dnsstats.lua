-- dnsstats.lua - DNS traffic statistics from a capture file or a live
-- interface: messages by transport and IP version, query types, response
-- codes, the busiest names and clients, and response latency.
--
--   pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]
--
-- Messages come from pktsh.dnsflow (UDP, TCP with reassembly, IPv4/IPv6
-- fragments) and are read with pktsh.dns.question. Memory is bounded
-- whatever the capture's size: names and clients go through space-saving
-- top-k tables (pktsh.topk), latencies into bounded histograms
-- (pktsh.hist), and at most MAX_PENDING queries wait for their answer.
local usage = [[
usage: pktsh scripts/dnsstats.lua [options] SOURCE [FILTER...]

DNS statistics: messages, queries, responses, malformed messages, by
transport and IP version; query types; response codes (extended RCODEs
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
  --ascii        ASCII bars
  -h, --help     show this help

exit status: 0 on success (Ctrl-C included: the statistics so far are
printed); 1 if the source cannot be read; 2 for a usage error.
]]

local ffi = require "ffi"
local bit = require "bit"
local band = bit.band

local MAX_PENDING = 200000

local cli = require "pktsh.cli"

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
  }, {top = 10, ports = {53}, timeout = 5, capacity = 10000})
  o.capacity = math.max(o.capacity, o.top)
  return o
end

------------------------------------------------------------------------
-- The counting: work(src, o) -> a plain table (pktsh.parallel merges
-- the workers' tables with merge below).

local function new_stats(o)
  local hist, topk = pktsh.hist, pktsh.topk
  return {
    packets = 0, dns = 0, queries = 0, responses = 0, malformed = 0,
    transport = {udp = 0, tcp = 0}, ip = {["4"] = 0, ["6"] = 0},
    qtypes = {}, rcodes = {},
    qnames = topk.new(o.capacity), clients = topk.new(o.capacity),
    -- latency in ns: exact per value while there are few distinct values,
    -- and log2 bins with 128 sub-buckets (under 0.4% off) always
    lat_exact = hist.new{max_keys = 20000}, lat_log = hist.new{log = true, sub = 128},
    matched = 0, unanswered = 0, unmatched = 0,
  }
end

-- A closure that takes one packet at a time, and a function to finish.
local function counter(o, st)
  local dns = pktsh.dns
  local question, header = dns.question, dns.header
  local fe = pktsh.dnsflow.new{ports = o.ports}
  local qtypes, rcodes, transport, ipv = st.qtypes, st.rcodes, st.transport, st.ip
  local qnames, clients = st.qnames, st.clients
  local lat_exact, lat_log = st.lat_exact, st.lat_log
  -- pending queries, keyed by id * 65536 + client port; the rest of the
  -- match (client, server, name) is checked on the answer. A second
  -- query on the same key and other fields waits in `other`, keyed by
  -- the whole match as a string.
  -- A waiting query is one record {ts, client, server, name} in `pend`;
  -- answered records go back to `spare`, so matching allocates nothing.
  local pend, spare, nspare = {}, {}, 0
  local function release(r)
    nspare = nspare + 1
    spare[nspare] = r
  end
  local other, n_other = {}, 0
  local pending = 0
  local timeout = o.timeout * 1e9
  local next_sweep

  local function sweep(now, age)
    local cut = now and now - (age or timeout)
    for k, r in pairs(pend) do
      if not cut or r[1] < cut then
        pend[k] = nil
        release(r)
        pending = pending - 1
        st.unanswered = st.unanswered + 1
      end
    end
    for k, e in pairs(other) do
      if not cut or e < cut then
        other[k] = nil
        n_other = n_other - 1
        st.unanswered = st.unanswered + 1
      end
    end
  end

  local function latency(d)
    st.matched = st.matched + 1
    -- once the exact histogram has overflowed only the log2 one is read
    -- (see latency(st) below): stop feeding it
    if lat_exact.other == 0 then lat_exact:add(d) end
    lat_log:add(d)
  end

  local function emit(ptr, len, meta)
    st.dns = st.dns + 1
    local tr = meta.transport
    transport[tr] = transport[tr] + 1
    local v = meta.ipver == 4 and "4" or "6"
    ipv[v] = ipv[v] + 1
    local id, flags, rcode, qname, qtype = question(ptr, len)
    if not id then
      st.malformed = st.malformed + 1
      -- a readable header still says query or response
      id, flags = header(ptr, len)
      if not id then return end
      if flags >= 0x8000 then st.responses = st.responses + 1
      else st.queries = st.queries + 1 end
      return
    end
    local ts = meta.ts
    if flags < 0x8000 then
      st.queries = st.queries + 1
      local craw, sraw = meta.srckey, meta.dstkey
      clients:add(craw)
      if not qname then return end
      qtypes[qtype] = (qtypes[qtype] or 0) + 1
      qnames:add(qname)
      if band(flags, 0x7800) ~= 0 then return end      -- not a QUERY opcode
      local key = id * 65536 + meta.sport
      local old = pend[key]
      if old then
        if old[2] == craw and old[3] == sraw and old[4] == qname then
          -- the same query again: the first copy went unanswered
          st.unanswered = st.unanswered + 1
          old[1] = ts
        else
          local k = key .. "|" .. craw .. sraw .. meta.dport .. "|" .. qname
          if not other[k] then n_other = n_other + 1
          else st.unanswered = st.unanswered + 1 end
          other[k] = ts
        end
      else
        local r
        if nspare > 0 then
          r = spare[nspare]; spare[nspare] = nil; nspare = nspare - 1
          r[1], r[2], r[3], r[4] = ts, craw, sraw, qname
        else
          r = {ts, craw, sraw, qname}
        end
        pend[key] = r
        pending = pending + 1
        if pending > MAX_PENDING then
          -- too many waiting: the timed-out ones go, then (if that was
          -- not a quarter) older and older ones, newest kept
          local age = timeout
          sweep(ts, age)
          while pending > MAX_PENDING * 0.75 and age > 1e6 do
            age = age / 2
            sweep(ts, age)
          end
          if pending > MAX_PENDING * 0.75 then sweep() end
        end
      end
    else
      st.responses = st.responses + 1
      rcodes[rcode] = (rcodes[rcode] or 0) + 1
      if not qname then st.unmatched = st.unmatched + 1; return end
      local key = id * 65536 + meta.dport
      local r = pend[key]
      local craw, sraw = meta.dstkey, meta.srckey
      if r and r[2] == craw and r[3] == sraw and r[4] == qname then
        pend[key] = nil
        release(r)
        pending = pending - 1
        latency(ts - r[1])
      elseif n_other > 0 then
        local k = key .. "|" .. craw .. sraw .. meta.sport .. "|" .. qname
        local q = other[k]
        if q then
          other[k] = nil
          n_other = n_other - 1
          latency(ts - q)
        else
          st.unmatched = st.unmatched + 1
        end
      else
        st.unmatched = st.unmatched + 1
      end
    end
    if not next_sweep then next_sweep = ts + timeout end
    if ts >= next_sweep then
      sweep(ts)
      next_sweep = ts + timeout
    end
  end

  local function feed(p)
    fe:feed(p, emit)
  end
  local function finish()
    fe:flush()
    sweep()
    local fs = fe:stats()
    st.malformed = st.malformed + (fs.malformed or 0)
    st.flow = fs
  end
  return feed, finish
end

-- Reads src to the end (or the duration, or Ctrl-C); returns the table.
-- tick(st, ts_ns) is called at every --interval of capture time (files)
-- or wall time (live).
local function work(src, o, tick)
  local st = new_stats(o)
  local feed, finish = counter(o, st)
  local live = src.kind == "live"
  local C = ffi.C
  local t_end, err
  local interval = o.interval and tick and o.interval * 1e9
  local dur = o.duration and not live and o.duration * 1e9
  local check = dur or (interval and not live)
  local next_tick
  local n = 0
  while true do
    local b, e = src:next()
    if not b then err = e; break end
    local pkts, cnt = b.pkt, b.count
    local stop = false
    for i = 0, cnt - 1 do
      local p = pkts[i]
      if check then
        local ts = tonumber(p.ts)
        if dur then
          t_end = t_end or ts + dur
          if ts >= t_end then stop = true; cnt = i; break end
        end
        if interval and not live then
          next_tick = next_tick or ts + interval
          if ts >= next_tick then
            st.packets = n + i
            tick(st, next_tick)
            next_tick = next_tick + interval * math.floor((ts - next_tick) / interval + 1)
          end
        end
      end
      feed(p)
    end
    n = n + cnt
    if stop then break end
    if interval and live then
      local now = tonumber(C.pktsh_mono_ns())
      next_tick = next_tick or now + interval
      if now >= next_tick then
        st.packets = n
        tick(st, nil)
        next_tick = now + interval
      end
    end
  end
  st.packets = n
  finish()
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

-- Text of an address key: a number is an IPv4 address (dnsflow's srckey),
-- a 16-byte string an IPv6 one.
local function addr_text(raw)
  if type(raw) == "number" then
    return string.format("%d.%d.%d.%d", math.floor(raw / 16777216), math.floor(raw / 65536) % 256,
                         math.floor(raw / 256) % 256, raw % 256)
  end
  if type(raw) ~= "string" then return tostring(raw) end
  if #raw == 4 then return string.format("%d.%d.%d.%d", raw:byte(1, 4)) end
  if #raw == 16 then
    local a = ffi.new("struct pktsh_in6")
    ffi.copy(a.b, raw, 16)
    return require("pktsh.packet").in6_str(a)
  end
  return raw
end

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
    malformed = st.malformed, transport = st.transport, ip = st.ip,
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
  add(string.format("queries %d   responses %d   malformed %d", st.queries, st.responses, st.malformed))
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
    local c = pktsh.topk.new(st.clients.capacity)
    -- the same table with addresses as text
    for k, v in pairs(st.clients.counts) do c.counts[addr_text(k)] = v end
    for k, v in pairs(st.clients.errs) do c.errs[addr_text(k)] = v end
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
      local chart = pktsh.chart
      if not o.json and chart.isatty(1) then
        local screen = chart.screen(io.stdout, true)
        tick = function(s) screen:draw(report(s, o, "dnsstats " .. o.source .. " (running)")) end
      else
        tick = line_ticker(o)
      end
    end
    st = work(src, o, tick)
    src:close()
  end
  -- the objects again over the tables the workers handed back
  pktsh.topk.from(st.qnames); pktsh.topk.from(st.clients)
  pktsh.hist.from(st.lat_exact); pktsh.hist.from(st.lat_log)
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
