-- tapcheck.lua NAME FILE.tap FILE.json: what dnstap-ldns reads from a
-- dnstap file dnsstats wrote against that run's --json (with --top large
-- enough for every name): as many messages as dnsstats counted, as many
-- queries and responses, and the queries of each name (CLIENT_QUERY
-- lines) equal to dnsstats' top_qnames. Prints ok/not ok lines.
local name, tap, jsonfile = arg[1], arg[2], arg[3]
local j = require("pktsh.report.json").decode(assert(io.open(jsonfile)):read("*a"))
local p = io.popen("dnstap-ldns -r " .. tap)
local n, kinds, names = 0, {CQ = 0, CR = 0}, {}
for line in p:lines() do
  n = n + 1
  local kind, rest = line:match("^%S+ %S+ (%u%u) %S+ %u+ %d+b (.*)$")
  kinds[kind] = (kinds[kind] or 0) + 1
  -- "name." IN TYPE, the name as ldns writes it (a quote stays bare)
  local qname = rest and rest:match('^"(.*)%." %S+ %S+$')
  if kind == "CQ" and qname then
    qname = qname == "" and "." or qname:lower()
    names[qname] = (names[qname] or 0) + 1
  end
end
p:close()
local function check(what, got, want)
  if got == want then print(string.format("ok - %s: %s = %s", name, what, tostring(want)))
  else print(string.format("not ok - %s: %s: got %s, want %s", name, what, tostring(got), tostring(want))) end
end
check("dnstap messages", n, j.dns)
check("CLIENT_QUERY", kinds.CQ, j.queries)
check("CLIENT_RESPONSE", kinds.CR, j.responses)
local bad, count = nil, 0
for _, x in ipairs(j.top_qnames) do
  -- dnsstats escapes a quote (\"); ldns does not
  local k = x[1] == "." and "." or x[1]:gsub('\\"', '"')
  count = count + 1
  if names[k] ~= x[2] then bad = bad or string.format("%s: %s against %s", k, tostring(names[k]), x[2]) end
end
local m = 0
for _ in pairs(names) do m = m + 1 end
check("query names", bad or m, count)
