-- shapecheck.lua - dnsstats' --json output against a generator's ground
-- truth (tests/bench/genshapes.c, gendns.lua with a truth file).
--   pktsh tests/bench/shapecheck.lua TRUTH.json DNSSTATS.json [CAPACITY]
--
-- Prints "OK" or "MISMATCH: " and each difference ("queries 999 want
-- 1000"); exits 0 or 1. Exact: packets, dns, queries, responses,
-- malformed, transport, ip, qtypes and rcodes (by name), latency.matched
-- and latency.unanswered (the truth holds for dnsstats' default --timeout,
-- which it names). The top names and clients are counted by space-saving
-- tables, exact until more than CAPACITY (default 10000, dnsstats'
-- --capacity) distinct keys are seen, then over by at most
-- queries/CAPACITY: every name (client) dnsstats lists must be counted
-- within that bound of its true count (one the truth does not list was
-- seen no more often than the truth's last), and each of the truth's ten
-- busiest must be dnsstats' row of the same rank whenever the bound
-- cannot reorder it (its count apart from its neighbours' by more).
--
--   pktsh tests/bench/shapecheck.lua --top10 TRUTH.json DNSSTATS.json
-- for names, then clients, "ROWS/DISTINCT:KEYS": of the truth's ten
-- busiest whose counts are distinct (from the ranks next to them), how
-- many are dnsstats' row of the same rank, and how many of dnsstats' ten
-- first rows are truly among the ten busiest (ties with the tenth
-- included), e.g. "10/10:10 0/1:6": what the rows a user sees get
-- right, bound or not.
local json, dns = pktsh.json, pktsh.dns

local top10 = arg[1] == "--top10"
local tpath, gpath = arg[top10 and 2 or 1], arg[top10 and 3 or 2]
local capacity = tonumber(arg[3] or 10000)
if top10 then capacity = 10000 end
if not tpath or not gpath or not capacity then
  io.stderr:write("usage: pktsh tests/bench/shapecheck.lua [--top10] TRUTH.json DNSSTATS.json [CAPACITY]\n")
  os.exit(2)
end

local function load(path)
  local f, err = io.open(path)
  if not f then io.stderr:write("shapecheck: ", err, "\n"); os.exit(2) end
  local s = f:read("*a")
  f:close()
  local v, derr = json.decode(s)
  if type(v) ~= "table" then
    io.stderr:write("shapecheck: ", path, ": ", tostring(derr or "not a JSON object"), "\n")
    os.exit(2)
  end
  return v
end

local truth, got = load(tpath), load(gpath)

-- The ranks (1 to 10) whose truth count differs from the ranks next to
-- it by more than gap: f(i) for each.
local function distinct_ranks(truth_top, gap, f)
  for i = 1, math.min(10, #truth_top) do
    local c, up, down = truth_top[i][2], truth_top[i - 1], truth_top[i + 1]
    if (not up or up[2] - c > gap) and (not down or c - down[2] > gap) then f(i) end
  end
end

if top10 then
  local out = {}
  for _, k in ipairs{"top_qnames", "top_clients"} do
    local t, g, n, same, among = truth[k] or {}, got[k] or {}, 0, 0, 0
    distinct_ranks(t, 0, function(i)
      n = n + 1
      if g[i] and tostring(g[i][1]) == t[i][1] then same = same + 1 end
    end)
    local tenth, busy = t[math.min(10, #t)], {}
    for _, e in ipairs(t) do if tenth and e[2] >= tenth[2] then busy[e[1]] = true end end
    for i = 1, math.min(10, #g) do if busy[tostring(g[i][1])] then among = among + 1 end end
    out[#out + 1] = same .. "/" .. n .. ":" .. among
  end
  print(table.concat(out, " "))
  os.exit(0)
end
local bad = {}
local function want(what, g, t)
  if g ~= t then bad[#bad + 1] = string.format("%s %s want %s", what, tostring(g), tostring(t)) end
end

for _, k in ipairs{"packets", "dns", "queries", "responses", "malformed"} do
  want(k, got[k], truth[k])
end
for _, k in ipairs{"udp", "tcp"} do want("transport." .. k, (got.transport or {})[k], truth.transport[k]) end
for _, k in ipairs{"4", "6"} do want("ip." .. k, (got.ip or {})[k], truth.ip[k]) end
local lat = got.latency or {}
want("latency.matched", lat.matched, truth.matched)
want("latency.unanswered", lat.unanswered, truth.unanswered)

-- qtypes and rcodes: the truth keys them by number, dnsstats by name
local function by_name(map, namer)
  local t = {}
  for k, v in pairs(map) do
    local n = namer(tonumber(k))
    t[n] = (t[n] or 0) + v
  end
  return t
end
local function same_map(what, g, t)
  g = g or {}
  for k, v in pairs(t) do want(what .. "." .. k, g[k], v) end
  for k, v in pairs(g) do if t[k] == nil then want(what .. "." .. k, v, nil) end end
end
same_map("qtypes", got.qtypes, by_name(truth.qtypes, dns.type_name))
same_map("rcodes", got.rcodes, by_name(truth.rcodes, dns.rcode_name))

-- The top names and clients, within the space-saving bound: both tables
-- count every well-formed query.
local named = 0
for _, v in pairs(truth.qtypes) do named = named + v end
local slack = math.floor(named / capacity)
local function check_top(what, top, truth_top)
  if not truth_top then return end
  local exact, last = {}, 0
  for _, e in ipairs(truth_top) do
    exact[e[1]] = e[2]
    last = e[2]
  end
  top = top or {}
  for _, e in ipairs(top) do
    local key, c = tostring(e[1]), e[2]
    local x = exact[key]
    if x then
      if c < x or c > x + slack then
        bad[#bad + 1] = string.format("%s %s counted %d want %d..%d", what, key, c, x, x + slack)
      end
    elseif c > last + slack then
      bad[#bad + 1] = string.format("%s %s counted %d, more than any past the truth's top (%d + %d)",
                                    what, key, c, last, slack)
    end
  end
  distinct_ranks(truth_top, slack, function(i)
    if not top[i] or tostring(top[i][1]) ~= truth_top[i][1] then
      bad[#bad + 1] = string.format("%s %d: %s want %s", what, i, top[i] and tostring(top[i][1]) or "none",
                                    truth_top[i][1])
    end
  end)
end
check_top("name", got.top_qnames, truth.top_qnames)
check_top("client", got.top_clients, truth.top_clients)

if #bad == 0 then
  print("OK")
else
  print("MISMATCH: " .. table.concat(bad, "; "))
  os.exit(1)
end
