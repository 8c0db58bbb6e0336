-- pktsh.app.dnsmetrics over the dnsstats engine: a metrics snapshot's
-- partial state (eng:state(top): only the entries that can be among the
-- top ones) renders the same exposition as the whole state, and work()
-- takes snapshots when snap_wanted() asks (a scrape waits), not on a
-- clock when metrics_interval is false.
local T = require "t"
local dnsstats = require "pktsh.app.dnsstats"
local dnsmetrics = require "pktsh.app.dnsmetrics"

local PKTSH = os.getenv("PKTSH_BIN") or "build/pktsh"
local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir) == 0)
local CAP = dir .. "/dns.pcap"
assert(os.execute(string.format("%s tests/bench/gendns.lua %s 30000 2>/dev/null", PKTSH, CAP)) == 0)

-- An engine fed the whole capture (not finished: queries still waiting).
local function fed(o)
  local eng = assert(dnsstats.new(o))
  local src = assert(pktsh.open(CAP))
  while true do
    local b = src:next()
    if not b then break end
    eng:feed(b)
  end
  src:close()
  return eng
end

-- entries copied out: a whole state is packed (pktsh.topk.packed)
local function entries(t)
  if t.packed then return t.packed.size end
  local n = 0
  for _ in pairs(t.counts) do n = n + 1 end
  return n
end

T.test("a snapshot's partial state renders as the whole state does", function()
  -- a table of 1000 counters, full: ties at most cuts (the 3 busiest
  -- names are 4 entries), the error bound above 0
  local eng = fed{capacity = 1000}
  for _, k in ipairs{0, 1, 2, 3, 10, 60} do
    local part, whole = eng:state(k), eng:state()
    for _, which in ipairs{"qnames", "clients"} do
      local n, all = entries(part[which]), entries(whole[which])
      T.ok(n >= k and n < all, string.format("top %d: %d of %d %s copied", k, n, all, which))
    end
    T.eq(part.qnames.max_err, (whole.qnames:bound()), "top " .. k .. ": the whole table's bound")
    T.eq(part.lat_exact, nil, "no exact latencies")
    local a = dnsmetrics.new{top = k, capacity = 1000}:update(part, {pending = 1}):text()
    local b = dnsmetrics.new{top = k, capacity = 1000}:update(whole, {pending = 1}):text()
    T.eq(a, b, "top " .. k .. ": the same exposition")
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
