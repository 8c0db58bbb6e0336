-- promcheck.lua PROM_URL FILE.json: compares what a Prometheus server
-- scraped from dnsstats --metrics with dnsstats --json on the same
-- capture (FILE.json). Prints "ok - ..." / "not ok - ..." lines, and the
-- raw answer of one query as a "# " comment. Counts the live side may
-- not have settled yet can be waited for: exits 3 (nothing printed)
-- while pktsh_dns_packets_total is not the capture's yet, or Prometheus
-- has scraped fewer than two times.
local base, jsonfile = arg[1], arg[2]
local json = require "pktsh.report.json"

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function query(q)
  local p = io.popen("curl -s -m 5 '" .. base .. "/api/v1/query?query=" .. urlencode(q) .. "'")
  local body = p:read("*a")
  p:close()
  local t = json.decode(body)
  if not t or t.status ~= "success" then return nil, body end
  return t.data.result, body
end

-- {labels text -> value} of a vector query; the label named `by` as key.
local function vector(q, by)
  local res, body = query(q)
  if not res then return nil, body end
  local out = {}
  for _, r in ipairs(res) do out[by and r.metric[by] or ""] = tonumber(r.value[2]) end
  return out, body
end

local function scalar(q)
  local v = vector(q)
  return v and v[""]
end

local want = json.decode(assert(io.open(jsonfile)):read("*a"))
if scalar("pktsh_dns_packets_total") ~= want.packets then os.exit(3) end
-- one scrape can land before the replay ends; wait for a second one
local up = vector('count_over_time(up{job="pktsh"}[5m])')
local scrapes = up and up[""] or 0
if scrapes < 2 then os.exit(3) end

local failed = 0
local function check(name, got, exp)
  if got == exp then print("ok - prometheus: " .. name .. " = " .. tostring(exp))
  else
    failed = failed + 1
    print(string.format("not ok - prometheus: %s: got %s, want %s", name, tostring(got), tostring(exp)))
  end
end

local function check_map(name, got, exp, keyf)
  local n = 0
  for k, v in pairs(exp) do
    n = n + 1
    local key = keyf and keyf(k) or k
    if (got or {})[key] ~= v then
      check(string.format("%s{%q}", name, key), (got or {})[key], v)
      return
    end
  end
  local m = 0
  for _ in pairs(got or {}) do m = m + 1 end
  check(name .. ": series", m, n)
end

check("pktsh_dns_packets_total", scalar("pktsh_dns_packets_total"), want.packets)
check("sum(pktsh_dns_messages_total)", scalar("sum(pktsh_dns_messages_total)"), want.dns)
check("pktsh_dns_queries_total", scalar("pktsh_dns_queries_total"), want.queries)
check("pktsh_dns_responses_total", scalar("pktsh_dns_responses_total"), want.responses)
check("pktsh_dns_malformed_total", scalar("pktsh_dns_malformed_total"), want.malformed)
check("pktsh_dns_tc_responses_total", scalar("pktsh_dns_tc_responses_total"), want.tc)
check("pktsh_dns_truncated_messages_total", scalar("pktsh_dns_truncated_messages_total"), want.truncated)
check_map("sum by (transport)", vector("sum by (transport) (pktsh_dns_messages_total)", "transport"),
          want.transport)
check_map("sum by (ip_version)", vector("sum by (ip_version) (pktsh_dns_messages_total)", "ip_version"),
          want.ip)
check_map("pktsh_dns_queries_by_type_total", vector("pktsh_dns_queries_by_type_total", "qtype"), want.qtypes)
check_map("pktsh_dns_responses_by_rcode_total", vector("pktsh_dns_responses_by_rcode_total", "rcode"),
          want.rcodes)
local names, clients = {}, {}
for _, x in ipairs(want.top_qnames) do names[x[1] .. "."] = x[2] end
for _, x in ipairs(want.top_clients) do clients[x[1]] = x[2] end
local gn = vector('pktsh_dns_top_qname_queries{qname!="other"}', "qname")
check_map("pktsh_dns_top_qname_queries", gn, names)
check_map("pktsh_dns_top_client_queries", vector('pktsh_dns_top_client_queries{client!="other"}', "client"),
          clients)
check("pktsh_dns_response_latency_seconds_count", scalar("pktsh_dns_response_latency_seconds_count"),
      want.latency.matched)
-- a query still waiting is unanswered only once it times out (or at the end)
check("unanswered + pending", scalar("pktsh_dns_unanswered_queries_total + pktsh_dns_pending_queries"),
      want.latency.unanswered)
check("pktsh_capture_drops_total", scalar('sum(pktsh_capture_drops_total)'), 0)
print("# prometheus scraped dnsstats " .. scrapes .. " times")
local _, body = query('pktsh_dns_top_qname_queries{qname=~".*quote.*|.*back.*"}')
print("# " .. body:gsub("\n", " "))
_, body = query("sum by (transport, ip_version) (pktsh_dns_messages_total)")
print("# " .. body:gsub("\n", " "))
os.exit(failed == 0 and 0 or 1)
