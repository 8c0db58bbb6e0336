-- dnsmetrics.lua - dnsstats' statistics as Prometheus metrics (module
-- pktsh.app.dnsmetrics): the families, their names and help, and how a
-- dnsstats statistics table fills them.
--
--   local dm = require("pktsh.app.dnsmetrics").new{top = 10, capacity = 10000}
--   dm:update(st, live)       -- st: dnsstats' table; live: what only the
--                             -- running engine knows (below)
--   dm.registry               -- a pktsh.metrics registry: :text(), serve/publish
--
-- st is the state of pktsh.app.dnsstats' engine (eng:state(), work's
-- result; its fields: packets, dns, queries, responses, malformed,
-- transport {udp, tcp}, ip {"4", "6"}, qtypes {number: n}, rcodes
-- {number: n}, qnames and clients (pktsh.topk states, their text made by
-- dnsstats.top), lat_log (a log2 pktsh.hist of latencies in ns), matched,
-- unanswered, unmatched; optional: messages (counts by transport, IP
-- version and direction: messages["udp"]["4"]["query"]), tc (responses
-- with the TC bit), truncated (messages the capture cut short), flow). live holds: pending (queries
-- waiting), flow (pktsh.dnsflow's stats), rings (a list of source stats,
-- one per ring: packets, drops, freeze_q), dnstap (a pktsh.dnstap's
-- stats), each optional.
--
-- Names follow Prometheus' conventions: a pktsh_dns_ prefix, counters
-- end in _total, times in seconds. Counters are set from dnsstats'
-- totals (they only grow while a run lasts).
local metrics = require "pktsh.report.metrics"
local dnsstats = require "pktsh.app.dnsstats"

local M = {}
local D = {}
D.__index = D

local format = string.format

-- Latency buckets: powers of two from 2^10 ns (about 1 us) to 2^35 ns
-- (about 34 s), the octave edges of dnsstats' log2 histogram, so every
-- bin falls in exactly one bucket.
M.LATENCY_BUCKETS = metrics.log2_buckets(2 ^ 10, 2 ^ 35, 1e-9)

local function families(reg, o)
  local c = function(name, help, labels) return reg:counter(name, help, {labels = labels}) end
  local g = function(name, help, labels, extra)
    local opts = {labels = labels}
    for k, v in pairs(extra or {}) do opts[k] = v end
    return reg:gauge(name, help, opts)
  end
  local bound = format("the busiest %d of a space-saving table of %d counters: a count is over the "
                       .. "true one by at most queries/%d (exact while fewer keys were seen); "
                       .. "%s=\"other\" holds the remaining queries", o.top, o.capacity, o.capacity, "%s")
  return {
    info = g("pktsh_build_info", "pktsh version (always 1)", {"version"}),
    packets = c("pktsh_dns_packets_total", "Packets read from the source"),
    messages = c("pktsh_dns_messages_total",
                 "DNS messages by transport, IP version and direction (query, response, "
                 .. "unknown: shorter than a header)", {"transport", "ip_version", "direction"}),
    queries = c("pktsh_dns_queries_total", "DNS queries (QR 0), malformed ones included"),
    responses = c("pktsh_dns_responses_total", "DNS responses (QR 1), malformed ones included"),
    malformed = c("pktsh_dns_malformed_total",
                  "DNS messages whose question could not be read, and broken TCP length prefixes"),
    tc = c("pktsh_dns_tc_responses_total",
           "DNS responses with the TC bit: cut short by the server, the client retries over TCP"),
    truncated = c("pktsh_dns_truncated_messages_total",
                  "DNS messages the capture cut short (the UDP length or TCP length prefix runs past "
                  .. "the bytes captured): counted by their header and question where those were "
                  .. "captured"),
    tcp_gaps = c("pktsh_dns_tcp_gaps_total", "TCP streams that lost bytes (a gap never filled)"),
    evicted = c("pktsh_dns_state_evicted_total",
                "TCP flows and fragmented datagrams given up to stay within the memory bounds",
                {"state"}),
    qtypes = c("pktsh_dns_queries_by_type_total", "DNS queries with a question, by query type",
               {"qtype"}),
    rcodes = c("pktsh_dns_responses_by_rcode_total",
               "DNS responses with a question, by response code (extended RCODEs included)",
               {"rcode"}),
    latency = reg:histogram("pktsh_dns_response_latency_seconds",
                            "Time from a query to its response (matched by id, addresses, ports "
                            .. "and name)", {scale = 1e-9, buckets = M.LATENCY_BUCKETS}),
    unanswered = c("pktsh_dns_unanswered_queries_total",
                   "Queries with no response within the timeout (or sent again first)"),
    unmatched = c("pktsh_dns_unmatched_responses_total", "Responses to no query seen"),
    pending = g("pktsh_dns_pending_queries", "Queries waiting for their response now"),
    top_qnames = g("pktsh_dns_top_qname_queries", "Queries per name (lower-cased, with its final "
                   .. "dot): " .. format(bound, "qname"), {"qname"}, {top = o.top, max_series = o.top + 1}),
    top_clients = g("pktsh_dns_top_client_queries", "Queries per client address: "
                    .. format(bound, "client"), {"client"}, {top = o.top, max_series = o.top + 1}),
    topk_bound = g("pktsh_dns_topk_error_bound",
                   "The most any top-k count is over its true value now (0: exact)", {"table"}),
    ring_packets = c("pktsh_capture_packets_total", "Packets the capture ring delivered", {"ring"}),
    ring_drops = c("pktsh_capture_drops_total", "Packets the kernel dropped: the ring was full",
                   {"ring"}),
    ring_freezes = c("pktsh_capture_queue_freezes_total",
                     "Times the ring's queue froze (every block full)", {"ring"}),
    tap = c("pktsh_dnstap_messages_total",
            "dnstap messages: written, dropped (the queue was full), lost (the output was down)",
            {"outcome"}),
    tap_up = g("pktsh_dnstap_connected", "1 while the dnstap output is open"),
  }
end

function M.new(o)
  o = o or {}
  local self = setmetatable({registry = metrics.new(), top = o.top or 10,
                             capacity = o.capacity or 10000,
                             client_text = o.client_text or tostring}, D)
  self.f = families(self.registry, {top = self.top, capacity = self.capacity})
  self.f.info:set(1, pktsh.version)
  return self
end

local function by_name(fam, map, namer)
  local sums = {}
  for k, v in pairs(map or {}) do
    local name = namer(k)
    sums[name] = (sums[name] or 0) + v
  end
  for name, v in pairs(sums) do fam:set(v, name) end
end

local function messages(fam, st)
  for tr, byip in pairs(st.messages or {}) do
    for ip, bydir in pairs(byip) do
      for dir, n in pairs(bydir) do fam:set(n, tr, ip, dir) end
    end
  end
end

-- A top-k table of st (which: "qnames", "clients") as gauges: its
-- busiest `top` (their text from dnsstats.top) and the rest as other.
local function top_gauges(fam, st, which, top, text)
  fam:reset()
  local t = st[which]
  if not t then return end
  local shown = 0
  if top > 0 then
    for _, x in ipairs(dnsstats.top(st, which, top)) do
      fam:set(x.count, text(x.key))
      shown = shown + x.count
    end
  end
  fam:other_series():set(math.max(0, (t.n or 0) - shown))
end

-- A name as dnsstats shows it ("example.com", "." for the root) with
-- its final dot: no name then reads "other".
local function qname_text(name)
  name = tostring(name)
  if name == "." then return name end
  return name .. "."
end

function D:update(st, live)
  local f, dns = self.f, pktsh.dns
  live = live or {}
  f.packets:set(st.packets or 0)
  messages(f.messages, st)
  f.queries:set(st.queries or 0)
  f.responses:set(st.responses or 0)
  f.malformed:set(st.malformed or 0)
  f.tc:set(st.tc or 0)
  f.truncated:set(st.truncated or 0)
  local fl = live.flow or st.flow or {}
  f.tcp_gaps:set(fl.tcp_gaps or 0)
  f.evicted:set(fl.tcp_evicted or 0, "tcp_flow")
  f.evicted:set(fl.frag_evicted or 0, "fragment")
  by_name(f.qtypes, st.qtypes, dns.type_name)
  by_name(f.rcodes, st.rcodes, dns.rcode_name)
  if st.lat_log then f.latency:set_hist(st.lat_log) end
  f.unanswered:set(st.unanswered or 0)
  f.unmatched:set(st.unmatched or 0)
  f.pending:set(live.pending or 0)
  top_gauges(f.top_qnames, st, "qnames", self.top, qname_text)
  top_gauges(f.top_clients, st, "clients", self.top, self.client_text)
  for name, t in pairs{qname = st.qnames, client = st.clients} do
    if t and t.bound then f.topk_bound:set(t.max_err or (t:bound()), name) end
  end
  for i, r in ipairs(live.rings or {}) do
    local ring = tostring(i - 1)
    f.ring_packets:set(r.packets or 0, ring)
    f.ring_drops:set(r.drops or 0, ring)
    f.ring_freezes:set(r.freeze_q or 0, ring)
  end
  local tap = live.dnstap
  if tap then
    f.tap:set(tap.written, "written")
    f.tap:set(tap.dropped, "dropped")
    f.tap:set(tap.lost, "lost")
    f.tap_up:set(tap.connected and 1 or 0)
  end
  return self.registry
end

return M
