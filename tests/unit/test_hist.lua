-- pktsh.hist (lua/pktsh/report/hist.lua): counts, bins, quantiles, and
-- merges of parts equal to one run.
local T = require "t"
local ffi = require "ffi"
local hist, serial = pktsh.hist, pktsh.serial
local stream, wire = require("stream").stream, require("stream").wire
local fits = require "fits"

T.test("hist values: counts, other beyond max_keys, quantiles", function()
  local h = hist.new{max_keys = 3}
  for _, v in ipairs({5, 1, 5, 2, 5, 9, 10}) do h:add(v) end
  h:add(nil)
  T.eq(h.n, 7, "n"); T.eq(h.missing, 1, "missing"); T.eq(h.other, 2, "other")
  T.eq(h:get(5), 3, "count of 5")
  local h2 = hist.new{}
  for v = 1, 100 do h2:add(v) end
  T.eq(h2:quantile(0.5), 50, "p50"); T.eq(h2:quantile(0.99), 99, "p99"); T.eq(h2:quantile(1), 100, "max")
  T.near(h2:mean(), 50.5, 1e-9, "mean")
end)

T.test("hist quantiles: several at once equal one at a time, nearest rank by hand", function()
  -- by hand: the first value whose running count reaches q * n
  local function by_hand(vals, q)
    table.sort(vals)
    for i, v in ipairs(vals) do if i >= q * #vals - 1e-9 then return v end end
    return vals[#vals]
  end
  local rnd, vals = 12345, {}
  local h = hist.new{max_keys = 100000}
  for _ = 1, 5000 do
    rnd = (rnd * 1103515245 + 12345) % 2147483648
    local v = rnd % 977 + (rnd % 7) / 8
    vals[#vals + 1] = v; h:add(v)
  end
  local qs = {0.99, 0, 0.5, 1e-12, 0.25, 1, 0.9, 0.999, 0.5}
  local got = h:quantiles(qs)
  for j, q in ipairs(qs) do
    T.eq(got[j], h:quantile(q), "q " .. q .. " alone")
    local want = q <= 0 and h.min or q >= 1 and h.max or by_hand(vals, q)
    T.eq(got[j], want, "q " .. q .. " by hand")
  end
  local l = hist.new{log = true, sub = 16}
  for _, v in ipairs(vals) do l:add(v * 1000) end
  local lq = l:quantiles(qs)
  for j, q in ipairs(qs) do T.eq(lq[j], l:quantile(q), "log2 q " .. q) end
  T.ok(lq[3] >= lq[5] and lq[1] >= lq[7], "in order")
  T.eq(#hist.new{}:quantiles{0.5}, 0, "empty: nil")
end)

T.test("hist linear and log2 bins", function()
  local h = hist.new{width = 10, lo = 5}
  for _, v in ipairs({5, 14.9, 15, 40, -1}) do h:add(v) end
  T.eq(h:get(0), 2, "[5,15)"); T.eq(h:get(1), 1, "[15,25)"); T.eq(h:get(3), 1, "[35,45)")
  T.eq(h:get(-1), 1, "[-5,5)")
  local bins = h:bins()
  T.eq(bins[1].lo, -5, "first bin lo"); T.eq(#bins, 5, "empty bins filled between")
  local l = hist.new{log = true}
  for _, v in ipairs({0, 0.5, 1, 2, 3, 4, 1023, 1024}) do l:add(v) end
  T.eq(l:get(0), 2, "< 1"); T.eq(l:get(1), 1, "[1,2)"); T.eq(l:get(2), 2, "[2,4)")
  T.eq(l:get(3), 1, "[4,8)"); T.eq(l:get(10), 1, "[512,1024)"); T.eq(l:get(11), 1, "[1024,2048)")
  local s = hist.new{log = true, sub = 64}
  for v = 1000, 200000, 7 do s:add(v) end
  local exact = 1000 + 7 * math.floor((0.5 * (200000 - 1000) / 7))
  T.ok(math.abs(s:quantile(0.5) - exact) / exact < 0.02, "sub-bucket p50 within 2%: " .. s:quantile(0.5))
  for _, b in ipairs(s:bins()) do T.ok(b.hi > b.lo, "bins increase") end
end)

T.test("hist log2 bin index is exact; add_array equals add", function()
  -- reference: math.frexp, interpreted
  local function ref(v, sub)
    if v < 1 then return 0 end
    local m, e = math.frexp(v)
    if sub == 1 then return e end
    return (e - 1) * sub + math.floor((m * 2 - 1) * sub) + 1
  end
  local vals = {}
  for e = 0, 62 do
    local p = 2 ^ e
    vals[#vals + 1] = p; vals[#vals + 1] = p * (1 - 2 ^ -52); vals[#vals + 1] = p * 1.5
  end
  local s = 7
  for _ = 1, 2000 do
    s = (s * 1103515245 + 12345) % 2147483648
    vals[#vals + 1] = (s / 2147483648) * 2 ^ (s % 60)
  end
  for _, sub in ipairs({1, 7, 128}) do
    for _, v in ipairs(vals) do
      local got = hist.log_index(v, sub)
      if got ~= ref(v, sub) then error(("log_index(%.17g, %d) = %s, want %s"):format(v, sub, got, ref(v, sub))) end
    end
  end
  T.eq(hist.log_index(math.huge, 4), math.huge, "inf")
  T.eq(hist.log_index(0 / 0, 4), math.huge, "nan is not a table index error")
  local arr = ffi.new("double[?]", #vals)
  for i, v in ipairs(vals) do arr[i - 1] = v end
  for _, o in ipairs({{log = true}, {log = true, sub = 128}, {width = 1e6, lo = 3}, {max_keys = 100}}) do
    local a, b = hist.new(o), hist.new(o)
    for _, v in ipairs(vals) do a:add(v) end
    b:add_array(arr, #vals)
    T.ok(T.same(a.counts, b.counts), "counts of " .. serial.encode(o))
    T.eq(b.n, a.n, "n"); T.eq(b.min, a.min, "min"); T.eq(b.max, a.max, "max")
    T.near(b.sum, a.sum, 1e-6 * math.abs(a.sum), "sum")
  end
end)

T.test("hist merge of parts equals one run (through serial)", function()
  local data = stream(20000, 7)
  for _, o in ipairs({{}, {width = 50}, {log = true, sub = 4}}) do
    local one, parts = hist.new(o), {hist.new(o), hist.new(o), hist.new(o)}
    for i, v in ipairs(data) do one:add(v); parts[i % 3 + 1]:add(v) end
    local m = hist.merge(wire(parts[1]), wire(parts[2]))
    m = hist.merge(m, wire(parts[3]))
    T.deq(m:table(), one:table(), "merged " .. (o.width and "linear" or o.log and "log" or "values"))
  end
  T.raises(function() hist.merge(hist.new{log = true}, hist.new{width = 3}) end, "different")
end)

-- Issue 16 item 3: a table rendered for W columns is no wider than W (the
-- top-k rows were 3 wider: their fixed columns take 18 cells, not 15).
T.test("hist rows fit the width they are rendered for", function()
  local h = hist.new{}
  for i = 1, 50 do h:add(i % 6) end
  fits{hist = function(w) return h:render{width = w, ascii = true} end}
end)

T.done()
