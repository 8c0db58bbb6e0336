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
-- seen no more often than the truth's last), and the truth's busiest must
-- be dnsstats' first whenever the bound cannot reorder them.
local json, dns = pktsh.json, pktsh.dns

local tpath, gpath = arg[1], arg[2]
local capacity = tonumber(arg[3] or 10000)
if not tpath or not gpath or not capacity then
  io.stderr:write("usage: pktsh tests/bench/shapecheck.lua TRUTH.json DNSSTATS.json [CAPACITY]\n")
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
  local t1, t2 = truth_top[1], truth_top[2]
  if t1 and (not t2 or t1[2] > t2[2] + slack) and (not top[1] or top[1][1] ~= t1[1]) then
    bad[#bad + 1] = string.format("busiest %s %s want %s", what, top[1] and tostring(top[1][1]) or "none", t1[1])
  end
end
check_top("name", got.top_qnames, truth.top_qnames)
check_top("client", got.top_clients, truth.top_clients)

if #bad == 0 then
  print("OK")
else
  print("MISMATCH: " .. table.concat(bad, "; "))
  os.exit(1)
end
