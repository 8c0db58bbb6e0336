-- test_charts.lua - pktsh.hist, pktsh.topk, pktsh.rate, pktsh.chart: the
-- math, merges equal to one run, the space-saving bound, and well-formed
-- JSON, CSV and SVG.
local T = require "t"
local ffi = require "ffi"
local hist, topk, rate, chart = pktsh.hist, pktsh.topk, pktsh.rate, pktsh.chart
local term, keys = pktsh.term, pktsh.keys
local json, serial = pktsh.json, pktsh.serial

-- A deterministic stream: xorshift32, Zipf-like keys.
local function stream(n, seed, distinct)
  local s = seed or 12345
  local out = {}
  for i = 1, n do
    s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
    local u = (s % 1000000) / 1000000
    out[i] = math.floor((distinct or 5000) ^ u)        -- heavy head, long tail
  end
  return out
end

-- Through the serialiser, as a worker's result travels.
local function wire(x) return serial.decode(serial.encode(x)) end

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

T.test("topk exact below capacity", function()
  local t = topk.new(100)
  for _, v in ipairs(stream(5000, 3, 80)) do t:add(v) end
  local truth = {}
  for _, v in ipairs(stream(5000, 3, 80)) do truth[v] = (truth[v] or 0) + 1 end
  for _, x in ipairs(t:top()) do T.eq(x.count, truth[x.key], "exact count"); T.eq(x.err, 0, "no err") end
end)

local function check_bound(t, truth, n, m, what)
  local maxerr = 0
  for _, x in ipairs(t:top()) do
    local tr = truth[x.key] or 0
    T.ok(x.count >= tr, what .. ": count is an upper bound")
    T.ok(x.count - x.err <= tr, what .. ": count - err is a lower bound")
    T.ok(x.err <= n / m + 1e-9, what .. ": err <= n/m")
    if x.err > maxerr then maxerr = x.err end
  end
  -- every key heavier than n/m is kept
  for k, c in pairs(truth) do
    if c > n / m then T.ok(t:get(k) > 0, what .. ": heavy key " .. tostring(k) .. " kept") end
  end
  return maxerr
end

T.test("space-saving bound: upper/lower bounds, err <= n/m, heavy keys kept", function()
  local data = stream(50000, 99, 20000)
  local truth = {}
  for _, v in ipairs(data) do truth[v] = (truth[v] or 0) + 1 end
  for _, m in ipairs({10, 50, 200}) do
    local t = topk.new(m)
    for _, v in ipairs(data) do t:add(v) end
    T.eq(t.size, m, "full"); T.eq(t.n, #data, "n")
    local e = check_bound(t, truth, #data, m, "m=" .. m)
    local be, g = t:bound()
    T.eq(be, e, "bound() is the largest err"); T.near(g, #data / m, 1e-9, "guarantee n/m")
    -- guaranteed entries really are in the true top k
    local sorted = {}
    for k, c in pairs(truth) do sorted[#sorted + 1] = c end
    table.sort(sorted, function(a, b) return a > b end)
    for i, x in ipairs(t:top(5)) do
      if x.guaranteed then T.ok(truth[x.key] >= sorted[6], "guaranteed entry " .. i) end
    end
  end
end)

T.test("topk: add says when a key is new; labels follow the kept keys", function()
  local t = topk.new(4)
  T.eq(t:add(1), true, "new"); T.eq(t:add(1), false, "seen")
  t:label(1, "one")
  for k = 2, 4 do if t:add(k) then t:label(k, "k" .. k) end end
  T.eq(t:add(2), false, "kept"); t:add(1)
  T.eq(t:top(1)[1].key, "one", "label shown"); T.eq(t:top(1)[1].id, 1, "counted key")
  for k = 10, 400 do if t:add(k) then t:label(k, "k" .. k) end end
  local nl = 0
  for _ in pairs(t.labels) do nl = nl + 1 end
  T.ok(nl <= 2 * 4 + 64 + 1, "labels bounded: " .. nl)
  for _, x in ipairs(t:top()) do T.eq(type(x.key), "string", "every kept key labelled") end
  local u = topk.new(4)
  for _, k in ipairs({1, 1, 1, 500}) do if u:add(k) then u:label(k, "u" .. k) end end
  local m = topk.merge(wire(t), wire(u))
  local top = m:top(1)[1]
  T.eq(top.id, 1, "merged heaviest"); T.ok(top.key == "one" or top.key == "u1", "merged label")
end)

T.test("topk.column (C): exact below capacity, bounds when full, fresh keys, labels", function()
  local data = stream(50000, 99, 20000)
  local truth = {}
  for _, v in ipairs(data) do truth[v] = (truth[v] or 0) + 1 end
  local col = ffi.new("uint64_t[?]", 1000)
  local function feed(c, list)
    local fresh_seen = {}
    for base = 1, #list, 1000 do
      local n = math.min(1000, #list - base + 1)
      for i = 0, n - 1 do col[i] = list[base + i] end
      local nf = c:add(col, n)
      for f = 0, nf - 1 do
        local k = tonumber(col[c.fresh[f]])
        fresh_seen[#fresh_seen + 1] = k
        c:label(k, "k" .. k)
      end
    end
    return fresh_seen
  end
  -- below capacity: exact, and every distinct key fresh exactly once
  local c = assert(topk.column(25000))
  local fresh = feed(c, data)
  local distinct = 0
  for _ in pairs(truth) do distinct = distinct + 1 end
  T.eq(#fresh, distinct, "fresh once per distinct key")
  local t = c:table()
  T.eq(t.n, #data, "n"); T.eq(t.size, distinct, "size")
  for k, v in pairs(truth) do T.eq((t:get(k)), v, "exact count of " .. k) end
  T.eq(t:top(1)[1].key, "k" .. t:top(1)[1].id, "labelled")
  -- full: the space-saving bounds, as the Lua table
  for _, m in ipairs({10, 200}) do
    local cm = assert(topk.column(m))
    feed(cm, data)
    local tm = cm:table()
    T.eq(tm.size, m, "full"); T.eq(tm.n, #data, "n")
    local keyed = topk.new(m)          -- the same counts keyed by number, for check_bound
    for _, x in ipairs(tm:top()) do keyed:set(x.id, x.count, x.err) end
    keyed.n, keyed.size = tm.n, tm.size
    for _, x in ipairs(tm:top()) do
      local tr = truth[x.id] or 0
      T.ok(x.count >= tr and x.count - x.err <= tr and x.err <= #data / m + 1e-9, "bounds of " .. x.id)
    end
    for k, v in pairs(truth) do
      if v > #data / m then T.ok(keyed:get(k) > 0, "heavy key " .. k .. " kept") end
    end
    local nl = 0
    for _ in pairs(cm.labels) do nl = nl + 1 end
    T.ok(nl <= 2 * m + 64 + 1, "labels bounded: " .. nl)
    local merged = topk.merge(wire(tm), wire(tm))
    T.eq(merged.n, 2 * #data, "a column's table merges")
  end
  T.raises(function() topk.column(0) end, "whole number of counters")
end)

T.test("topk: top(k) picks the same entries as sorting them all", function()
  local t = topk.new(500)
  for _, v in ipairs(stream(30000, 5, 3000)) do t:add(v) end
  T.eq(t.size, 500, "full")
  local all = t:top()
  for _, k in ipairs({1, 3, 10, 100}) do
    local some = t:top(k)
    T.eq(#some, k, "k = " .. k)
    for i = 1, k do
      T.eq(some[i].key, all[i].key, k .. ": key " .. i)
      T.eq(some[i].count, all[i].count, k .. ": count " .. i)
      local next_count = all[k + 1] and all[k + 1].count or 0
      T.eq(some[i].guaranteed, some[i].count - some[i].err >= next_count, k .. ": guaranteed " .. i)
    end
  end
end)

T.test("topk merge: bounds hold, exact parts merge exactly", function()
  local data = stream(40000, 5, 20000)
  local truth = {}
  for _, v in ipairs(data) do truth[v] = (truth[v] or 0) + 1 end
  local parts = {topk.new(100), topk.new(100), topk.new(100)}
  for i, v in ipairs(data) do parts[i % 3 + 1]:add(v) end
  local m = topk.merge(wire(parts[1]), wire(parts[2]))
  m = topk.merge(m, wire(parts[3]))
  T.eq(m.n, #data, "merged n"); T.eq(m.size, 100, "merged size")
  check_bound(m, truth, #data, 100, "merged")
  -- below capacity the merge is exact and equals one run
  local small = stream(3000, 11, 60)
  local one, a, b = topk.new(100), topk.new(100), topk.new(100)
  for i, v in ipairs(small) do one:add(v); (i % 2 == 0 and a or b):add(v) end
  local mm = topk.merge(wire(a), wire(b))
  T.deq(mm:table(), one:table(), "exact merge equals one run")
end)

T.test("chart.merge dispatches on the state kind (pktsh.parallel's opts.merge)", function()
  local a = {n = 1, h = hist.new{}, t = topk.new(5), sub = {x = 2}}
  local b = {n = 2, h = hist.new{}, t = topk.new(5), sub = {x = 3, y = 1}}
  a.h:add(1); b.h:add(1); b.h:add(2); a.t:add("k"); b.t:add("k")
  local m = chart.merge(wire(a), wire(b))
  T.eq(m.n, 3, "numbers add"); T.eq(m.sub.x, 5, "nested"); T.eq(m.sub.y, 1, "one side")
  T.eq(m.h:get(1), 2, "hist merged"); T.eq(m.h.n, 3, "hist n")
  T.eq(m.t.counts.k, 2, "topk merged"); T.eq(getmetatable(m.t), topk.T, "object again")
end)

T.test("rate: buckets, gaps, bound, merge", function()
  local r = rate.new{interval = 1, keep = 5}
  local base = 1.7e18
  r:add(base, 100); r:add(base + 0.5e9, 100); r:add(base + 2e9, 50)
  local s = r:series()
  T.eq(#s, 3, "buckets with gap filled"); T.eq(s[1].packets, 2, "first"); T.eq(s[2].packets, 0, "gap")
  T.eq(s[3].bytes, 50, "bytes")
  r:add(base + 10e9, 1)
  T.eq(#r:series(), 5, "at most keep buckets"); T.eq(r.old_packets, 3, "old folded into totals")
  T.eq(r.packets, 4, "total")
  local a, b, one = rate.new(1), rate.new(1), rate.new(1)
  for i = 0, 99 do
    local ts = base + i * 0.37e9
    one:add(ts, i); ((i % 2 == 0) and a or b):add(ts, i)
  end
  T.deq(rate.merge(wire(a), wire(b)):series(), one:series(), "merge equals one run")
  T.eq(#r:spark{ascii = true}, 5, "one cell per bucket")
end)

T.test("bars and sparklines, Unicode and ASCII", function()
  T.eq(term.bar(1, 4, true), "████", "full")
  T.eq(term.bar(0.5, 3, true), "█▌", "halves")
  T.eq(term.bar(1e-9, 10, true), "▏", "tiny is visible")
  T.eq(term.bar(0, 10, true), "", "zero is empty")
  T.eq(term.bar(0.5, 10, false), "#####", "ascii")
  T.eq(term.spark({0, 4}, false), "_#", "ascii spark")
  T.eq(term.spark({0, 7}, true), "▁█", "unicode spark")
  T.eq(term.style{ascii = true}, false, "--ascii")
  local text = hist.new{}:render{ascii = true}
  T.ok(not text:find("[\128-\255]"), "ascii render has no UTF-8")
  local h = hist.new{}
  for i = 1, 10 do h:add(i % 3) end
  local r = h:render{ascii = true, width = 60}
  T.ok(r:find("#"), "ascii bars"); T.ok(not r:find("[\128-\255]"), "pure ascii")
  T.ok(h:render{unicode = true, width = 60}:find("█"), "unicode bars")
end)

local function xml_ok(path)
  local ok = os.execute("python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "
                        .. path .. " 2>/dev/null")
  return ok == 0 or ok == true
end

T.test("JSON, CSV and SVG are well-formed", function()
  local h = hist.new{log = true}
  local t = topk.new(3)
  local r = rate.new(1)
  for i, v in ipairs(stream(2000, 1, 300)) do
    h:add(v); t:add("k<&\"'>" .. v); r:add(1.7e18 + i * 1e7, v)
  end
  t:add("\1bad\255utf8")
  for _, obj in ipairs({h, t, r}) do
    local j = assert(json.decode(obj:json()), "json parses")
    T.eq(j.chart, obj.chart, "json kind")
    local csv = obj:csv()
    local cols
    for line in csv:gmatch("[^\n]+") do
      local n = select(2, line:gsub('"[^"]*"', "q"):gsub(",", ",")) + 1
      cols = cols or n
      T.eq(n, cols, obj.chart .. " csv: same columns on every line")
    end
    local path = os.tmpname()
    T.ok(obj:svg{path = path, title = "t <&> \"x\""}, "svg written")
    local s = T.slurp(path)
    T.ok(s:find("^<%?xml") and s:find("</svg>\n$"), "svg document")
    if os.execute("python3 -c 'import xml.dom.minidom' 2>/dev/null") == 0 then
      T.ok(xml_ok(path), obj.chart .. " svg parses as XML")
    else
      T.ok(select(2, s:gsub("<text", "")) == select(2, s:gsub("</text>", "")), "balanced")
    end
    os.remove(path)
  end
  local tj = json.decode(t:json())
  T.eq(tj.capacity, 3, "capacity"); T.ok(tj.bound > 0, "bound stated")
end)

T.test("by keys and hist()/top() on a capture", function()
  local P = "tests/pcaps/dnscap__dns.pcap"
  local src = assert(pktsh.open(P))
  local h = assert(hist.run(src, "dport", {quiet = true}))
  T.eq(h:get(53), 41, "41 packets to port 53"); T.eq(h.n + h.missing, 133, "every packet")
  local t = assert(topk.global(P, "qname", {quiet = true}))
  T.eq(t.counts["google.com"], 48, "qname google.com")
  local l = assert(hist.global(P, "len", {quiet = true}))
  T.eq(l.kind, "log2", "by.len suggests log bins")
  local out = {}
  local sink = {write = function(_, ...) for _, s in ipairs({...}) do out[#out + 1] = s end end,
                flush = function() end}
  local w = assert(hist.run(assert(pktsh.open(P)), "proto", {window = 10, out = sink, ascii = true}))
  T.eq(w.n + w.missing, 133, "windows add up to the run")
  T.ok(table.concat(out):find("window"), "windows drawn")
  T.eq(select(2, hist.run(assert(pktsh.open(P)), "nope")) ~= nil, true, "unknown key is an error")
  T.ok(by and by.src and by.qname == keys.by.qname, "global by")
end)

T.done()
