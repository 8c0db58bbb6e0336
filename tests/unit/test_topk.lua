-- pktsh.topk (lua/pktsh/report/topk.lua): space-saving top-k, in Lua and
-- in C (topk.column): exact below capacity, the error bound when full,
-- labels, top(k), and merges.
local T = require "t"
local ffi = require "ffi"
local topk = pktsh.topk
local stream, wire = require("stream").stream, require("stream").wire
local fits = require "fits"

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

-- The C table leaves an evicted key's index slot stale and rebuilds the
-- index now and then: after many evictions every kept key is still
-- found (counted again, not fresh), a key not kept enters fresh once its
-- filter cell lets it, and the counts stay those of a table that found
-- them.
T.test("topk.column: kept keys found, evicted ones fresh, through stale slots and rebuilds", function()
  local m = 64
  local c = assert(topk.column(m, {keys = "hashed"}))
  local col = ffi.new("uint64_t[1]")
  local function add(k) col[0] = k; return c:add(col, 1) end
  local x = 1
  for i = 1, 20000 do                     -- mostly fresh keys: an eviction each
    x = (x * 1103515245 + 12345) % 2147483648
    add(i % 5 == 0 and (x % 16) or (1000 + x))
  end
  local t = c:table()
  T.eq(t.size, m, "full")
  local kept = {}
  for _, e in ipairs(t:top()) do kept[#kept + 1] = {key = e.key, count = e.count} end
  local refound = 0
  for _, e in ipairs(kept) do if add(e.key) == 0 then refound = refound + 1 end end
  T.eq(refound, #kept, "every kept key found again")
  local after = c:table()
  for _, e in ipairs(kept) do T.eq((after:get(e.key)), e.count + 1, "count of " .. e.key .. " went on") end
  -- a key not kept counts in its filter cell and enters once that cell
  -- is at the smallest count (filtered space-saving): within floor + 1
  -- counts, with its count an upper bound and count - err a lower one
  local floor, tries = after:floor(), 1
  while add(99999999) == 0 do
    tries = tries + 1
    if tries > floor + 1 then break end
  end
  T.ok(tries <= floor + 1, string.format("a new key entered after %d counts (floor %d)", tries, floor))
  T.eq(add(99999999), 0, "and is found next time")
  local cn, en = c:table():get(99999999)
  T.ok(cn >= tries + 1 and cn - en <= tries + 1, string.format("its bounds: %d, %d for %d", cn, en, tries + 1))
end)

-- A filter cell also counts the entries whose hash lands in it, and a
-- key whose cell has none is known absent without a look at the index
-- (most of a long tail's keys). Those counts must follow every entry in
-- and out, and be made again when a rekey moves the keys to other cells:
-- a kept key taken for absent would lose its count and enter twice.
-- Keys whose halves are equal all hash to slot 0 under keys = "hashed",
-- so they pile up there until the probe limit draws tables of the
-- table's own, with the filter in place.
T.test("topk.column: kept keys are found after evictions and a rekey of a full table", function()
  local m = 256
  local c = assert(topk.column(m, {keys = "hashed"}))
  local col = ffi.new("uint64_t[1]")
  local function add(k) col[0] = k; return c:add(col, 1) end
  -- keys that are hashes, as "hashed" promises, of 53 bits as dnsstats'
  -- (a table's keys read back as Lua numbers): heavy 1..24, a long tail
  local function h(v)
    return tonumber(bit.band(ffi.new("uint64_t", v) * 0x9E3779B97F4A7C15ULL, 0x1FFFFFFFFFFFFFULL))
  end
  local x, heavy = 7, {}
  for i = 1, 30000 do
    x = (x * 1103515245 + 12345) % 2147483648
    local v = i % 4 == 0 and (1 + x % 24) or (100000 + x)
    if v <= 24 then heavy[v] = (heavy[v] or 0) + 1 end
    add(h(v))
  end
  local r0 = c:stats().rekeys
  for i = 1, 3000 do
    local k = ffi.new("uint64_t", i) * 4294967296ULL + i
    for _ = 1, 3 do add(k) end
  end
  T.ok(c:stats().rekeys > r0, "colliding keys made the full table rekey")
  local before = c:table()
  local kept, n = {}, 0
  for _, e in ipairs(before:top()) do kept[#kept + 1] = e end
  for _, e in ipairs(kept) do
    if add(e.key) == 0 then n = n + 1 end
  end
  T.eq(n, #kept, "every kept key found, none entered again")
  local after = c:table()
  local went_on = 0
  for _, e in ipairs(kept) do
    if after:get(e.key) == e.count + 1 then went_on = went_on + 1 end
  end
  T.eq(went_on, #kept, "every kept key's count went on by one")
  for k, n in pairs(heavy) do   -- above n/m: space-saving keeps it
    if n > after.n / m then T.ok(after:get(h(k)) > 0, "heavy key " .. k .. " kept") end
  end
end)

-- Filtered space-saving (src/accel/topk.c): once the C table is full a
-- key not kept counts in a filter cell and takes a counter (and copies
-- its label) only when that cell reaches the smallest count, so a long
-- tail of keys seen once or twice no longer evicts a counter each; the
-- space-saving bounds hold as they did, the heavy keys are kept and, on
-- a Zipf-like stream, the top rows are the exact top.
T.test("topk.column: filtered once full: a long tail evicts little, the bounds hold", function()
  local m = 200
  local data = stream(60000, 31, 40000)
  local truth, misses, seen = {}, 0, {}
  for _, v in ipairs(data) do truth[v] = (truth[v] or 0) + 1 end
  local c = assert(topk.column(m))
  local col = ffi.new("uint64_t[?]", 1000)
  local entered = 0
  for base = 1, #data, 1000 do
    local n = math.min(1000, #data - base + 1)
    for i = 0, n - 1 do col[i] = data[base + i] end
    entered = entered + c:add(col, n)
  end
  -- plain space-saving admits every key it does not hold: at least every
  -- first sight of a key past the m first
  for _, v in ipairs(data) do
    if not seen[v] then seen[v] = true; misses = misses + 1 end
  end
  T.ok(misses > 10 * m, "the stream overflows the table: " .. misses)
  T.ok(entered < misses / 4, string.format("%d keys entered of %d first sights", entered, misses))
  local t = c:table()
  T.eq(t.size, m, "full"); T.eq(t.n, #data, "n")
  local keyed = topk.new(m)
  for _, x in ipairs(t:top()) do keyed:set(x.key, x.count, x.err) end
  keyed.n, keyed.size = t.n, t.size
  check_bound(keyed, truth, #data, m, "filtered")
  local sorted = {}
  for k, v in pairs(truth) do sorted[#sorted + 1] = {k, v} end
  table.sort(sorted, function(a, b) return a[2] > b[2] end)
  local top = t:top(10)
  for i = 1, 10 do
    if sorted[i][2] > sorted[i + 1][2] and (i == 1 or sorted[i - 1][2] > sorted[i][2]) then
      T.eq(top[i].key, sorted[i][1], "row " .. i .. " is the true one")
    end
  end
end)

T.test("topk.column: the filter gives way to plain space-saving past its cells' 2^24", function()
  -- a full table of two keys; a third key is filtered while the counts
  -- are small, and enters (err: the smallest count) once they pass what a
  -- filter cell holds: at the latest when its cell reaches the smallest
  -- count the filter last saw (1000), which makes it look again
  local c = assert(topk.column(2))
  local col = ffi.new("uint64_t[?]", 65536)
  local function add(key, times)
    local entered = 0
    while times > 0 do
      local n = math.min(times, 65536)
      for i = 0, n - 1 do col[i] = key end
      entered = entered + c:add(col, n)
      times = times - n
    end
    return entered
  end
  add(1, 1000); add(2, 1000)
  T.eq(add(3, 1), 0, "filtered while the counts are small")
  local big = 2 ^ 24
  add(1, big); add(2, big)
  T.eq(add(3, 1000), 1, "enters past the cells' limit")
  local t = c:table()
  local row
  for _, x in ipairs(t:top()) do if x.key == 3 then row = x end end
  T.ok(row, "key 3 kept")
  T.eq(row.err, 1000 + big, "err: the count it replaced")
  T.ok(row.count > row.err and row.count <= row.err + 1000, "count: err + its adds since")
  T.eq(t.n, 2 * (1000 + big) + 1001, "n")
end)

-- Issue 11 item 4: a C table's counters handed over packed (a few
-- strings, no Lua entry or label string per counter) read the same as
-- the ordinary table: top(k) with its labels, ties and guarantees,
-- floor, bound, render, merges through the serialiser, and label().
T.test("topk.packed reads as the ordinary table, labels made for the rows shown", function()
  local m = 300
  local t = topk.new(m)
  for _, v in ipairs(stream(30000, 7, 5000)) do
    if t:add(v) then t:label(v, "name" .. v) end
  end
  local entries = t:top()
  local n = #entries
  local keys, counts, errs = ffi.new("double[?]", n), ffi.new("double[?]", n), ffi.new("double[?]", n)
  local offs, text = ffi.new("uint32_t[?]", n + 1), {}
  for i, x in ipairs(entries) do
    -- every third entry unlabelled (an empty label), in a scrambled order
    local j = (i * 7) % n
    keys[j], counts[j], errs[j] = x.id or x.key, x.count, x.err
    text[j] = (j % 3 == 0) and "" or x.key
  end
  local bytes = {}
  for j = 0, n - 1 do offs[j] = #table.concat(bytes); bytes[#bytes + 1] = text[j] end
  local labels = table.concat(bytes)
  offs[n] = #labels
  local want = topk.new(m)
  for j = 0, n - 1 do
    want:set(keys[j], counts[j], errs[j])
    if text[j] ~= "" then want:label(keys[j], text[j]) end
  end
  want.n, want.size = t.n, n
  local p = topk.packed(m, t.n, n, keys, counts, errs, labels, offs)
  T.ok(p.packed and p.counts == nil and p.labels == nil, "packed: no table or label per counter")
  for _, k in ipairs({1, 5, 10, 50}) do T.deq(p:top(k), want:top(k), "top(" .. k .. ")") end
  T.deq(p:top(), want:top(), "top()")
  T.eq(p:floor(), want:floor(), "floor")
  T.deq({p:bound()}, {want:bound()}, "bound")
  T.eq(p:render{rows = 10, width = 100, ascii = true}, want:render{rows = 10, width = 100, ascii = true},
       "render")
  -- label() on a packed table: the text a report shows for its rows
  local top1 = p:top(1)[1]
  p:label(top1.id, "shown")
  T.eq(p:top(1)[1].key, "shown", "a label given is shown"); T.ok(p.packed, "still packed")
  want:label(top1.id, "shown")
  -- merges (workers): through the serialiser, packed with ordinary and packed
  local mp = topk.merge(wire(p), wire(want))
  local mw = topk.merge(wire(want), wire(want))
  T.deq(mp:top(20), mw:top(20), "packed merges as the ordinary table")
  T.eq(mp.n, 2 * t.n, "merged n")
  local q = topk.packed(m, t.n, n, keys, counts, errs, labels, offs)
  T.eq(q:get(keys[0]), want:get(keys[0]), "get unpacks")
  T.ok(q.packed == nil, "unpacked by get")
end)

-- Issue 16 item 3: a table rendered for W columns is no wider than W (the
-- top-k rows were 3 wider: their fixed columns take 18 cells, not 15).
T.test("top-k rows fit the width they are rendered for", function()
  local t = topk.new(5)
  for i = 1, 50 do t:add("10.0.0." .. (i % 4), i) end
  local small = topk.new(1)     -- approximate: the err column too
  for i = 1, 10 do small:add("k" .. i) end
  fits{topk = function(w) return t:render{width = w, ascii = true} end,
       approx = function(w) return small:render{width = w, ascii = true} end}
end)

T.done()
