-- pktsh.app.dnsmetrics over the dnsstats engine: a metrics snapshot's
-- state (eng:state(top): top-k tables packed, the text made for the
-- rows exported only; no exact latencies) renders the same exposition as
-- the whole state, and work()
-- takes snapshots when snap_wanted() asks (a scrape waits), not on a
-- clock when metrics_interval is false.
local T = require "t"
local ffi = require "ffi"
local dnsstats = require "pktsh.app.dnsstats"
local dnsmetrics = require "pktsh.app.dnsmetrics"

local PKTSH = os.getenv("PKTSH_BIN") or "build/pktsh"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local CAP = dir .. "/dns.pcap"
assert(os.execute(string.format("%s tests/bench/gendns.lua %s 30000 2>/dev/null", PKTSH, CAP)) == 0)

-- An engine fed the whole capture (not finished: queries still waiting).
local feed = require "fed"
local function fed(o) return feed(CAP, o) end

-- Counts the label strings made from packed table t's labels (every
-- one is cut out of p.labels by packed_entry): a function that returns
-- how many so far.
local function count_labels(t)
  local p, made = t.packed, 0
  local labels = p.labels
  p.labels = {sub = function(_, i, j) made = made + 1; return labels:sub(i, j) end}
  return function() return made end
end

-- How many of packed p's counters with a label are at or above its
-- j-th largest count.
local function at_or_above(p, j)
  local counts = ffi.cast("const double *", p.counts)
  local offs = p.offs and ffi.cast("const uint32_t *", p.offs)
  local all = {}
  for i = 0, p.size - 1 do all[#all + 1] = counts[i] end
  table.sort(all, function(a, b) return a > b end)
  local floor, n = all[math.min(j, #all)], 0
  for i = 0, p.size - 1 do
    if counts[i] >= floor and offs and offs[i + 1] > offs[i] then n = n + 1 end
  end
  return n
end

T.test("a snapshot's state renders as the whole state does, its text made for the rows exported", function()
  -- a table of 1000 counters, full: ties at most cuts (the 3 busiest
  -- names are 4 entries), the error bound above 0
  local eng = fed{capacity = 1000}
  for _, k in ipairs{0, 1, 2, 3, 10, 60} do
    local part, whole = eng:state(k), eng:state()
    T.eq(part.lat_exact, nil, "no exact latencies")
    local made = {}
    for _, which in ipairs{"qnames", "clients"} do
      T.ok(part[which].packed and part[which].packed.size == 1000, which .. ": packed, every counter")
      made[which] = count_labels(part[which])
    end
    local a = dnsmetrics.new{top = k, capacity = 1000}:update(part, {pending = 1}):text()
    local b = dnsmetrics.new{top = k, capacity = 1000}:update(whole, {pending = 1}):text()
    T.eq(a, b, "top " .. k .. ": the same exposition")
    for _, which in ipairs{"qnames", "clients"} do
      -- the rows top(k) needs only: those at or above the (k + 1)-th
      -- largest count, whatever order the counters come in (none for
      -- top 0: no rows are exported)
      T.ok(part[which].counts == nil, which .. ": no Lua entry per counter")
      T.eq(made[which](), k == 0 and 0 or at_or_above(part[which].packed, k + 1),
           string.format("top %d: %s labels made for the rows it needs", k, which))
      print(string.format("# top %d: %d %s labels made of %d counters", k, made[which](), which,
                          part[which].packed.size))
    end
    T.ok(whole.qnames:bound() > 0, "top " .. k .. ": a bound above 0")
  end
end)

T.test("work: snapshots when wanted, none on a clock with metrics_interval false", function()
  local asked, calls, partial = 0, 0, 0
  local st = dnsstats.work(assert(pktsh.open(CAP)), {
    metrics_interval = false, snap_top = 5,
    snap_wanted = function() asked = asked + 1; return asked % 3 == 0 end,
    snap = function(s)
      calls = calls + 1
      if s.lat_exact == nil then partial = partial + 1 end
    end})
  T.ok(asked >= 6, "looked at between batches: " .. asked)
  T.eq(calls, math.floor(asked / 3) + 1, "one per want, and the end")
  T.eq(partial, calls - 1, "partial states but the end's")
  T.ok(st.lat_exact, "the result is whole")
  -- nothing wanted: only the end
  calls = 0
  dnsstats.work(assert(pktsh.open(CAP)), {metrics_interval = false,
                                         snap_wanted = function() return false end,
                                         snap = function() calls = calls + 1 end})
  T.eq(calls, 1, "only the end")
end)

os.execute("rm -rf " .. dir)
T.done()
