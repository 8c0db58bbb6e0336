-- test_pending.lua - pktsh.pending (src/pending.c): put/take/replace,
-- the bound, expiry, growth, and random operations against a Lua table
-- (the deletions shift entries back: every key must stay findable).
local T = require "t"
local ffi = require "ffi"
local pending = pktsh.pending

local key_t = ffi.typeof("struct { uint32_t a, b; uint8_t pad[8]; }")

local function key(a, b)
  local k = key_t()
  k.a, k.b = a, b or 0
  return k
end

T.test("put, take, replace", function()
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = 10})
  T.eq(t:put(key(1), 100), "new", "first put")
  T.eq(t:put(key(2), 200), "new", "second key")
  T.eq(t:put(key(1), 150), "replaced", "same key again")
  T.eq(t:count(), 2, "count")
  T.eq(t:take(key(1)), 150, "take gives the newest value")
  T.eq(t:take(key(1)), nil, "taken once")
  T.eq(t:take(key(3)), nil, "never put")
  T.eq(t:count(), 1, "count after take")
  t:close()
  T.eq(t:count(), 0, "closed count")
end)

T.test("string keys of the table's length; others raise", function()
  local t = assert(pending.new{key = 4})
  T.eq(t:put("abcd", 1), "new", "string key")
  T.eq(t:take("abcd"), 1, "string take")
  local ok, err = pcall(t.put, t, "abc", 1)
  T.ok(not ok and err:find("3 bytes"), "short key: " .. tostring(err))
end)

T.test("bad sizes are nil, err", function()
  local t, err = pending.new{key = 0}
  T.ok(t == nil and err:find("key length"), tostring(err))
  t, err = pending.new{key = 8, max = 0}
  T.ok(t == nil and err:find("entries"), tostring(err))
end)

T.test("full at max: nil, 'full'; a replace still works", function()
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = 3})
  for i = 1, 3 do T.eq(t:put(key(i), i), "new", "put " .. i) end
  local r, why = t:put(key(4), 4)
  T.eq(r, nil, "fourth"); T.eq(why, "full", "reason")
  T.eq(t:put(key(2), 20), "replaced", "replace when full")
  T.eq(t:take(key(2)), 20, "replaced value")
  T.eq(t:put(key(4), 4), "new", "room again")
end)

T.test("expire removes values below the cut, keeps the rest findable", function()
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = 100000})
  for i = 1, 5000 do t:put(key(i, i * 7), i) end
  T.eq(t:count(), 5000, "grown past the first array")
  T.eq(t:expire(2001), 2000, "expired")
  T.eq(t:count(), 3000, "left")
  T.eq(t:take(key(2000, 14000)), nil, "expired key gone")
  for i = 2001, 5000 do
    if t:take(key(i, i * 7)) ~= i then error("lost key " .. i) end
  end
  T.eq(t:count(), 0, "all taken")
  T.eq(t:expire(math.huge), 0, "empty expire")
end)

T.test("10^5 random operations agree with a Lua table", function()
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = 5000})
  local ref, nref = {}, 0
  local s = 2463534242
  local function rnd(n)
    s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
    return (s % n + n) % n
  end
  for step = 1, 100000 do
    -- few distinct keys so that probe runs collide and deletions shift
    local a = rnd(3000)
    local op = rnd(3)
    if op < 2 then
      local r = t:put(key(a), step)
      local want = ref[a] and "replaced" or (nref < 5000 and "new" or nil)
      if r ~= want then error(("step %d put %d: %s, want %s"):format(step, a, tostring(r), tostring(want))) end
      if r == "new" then nref = nref + 1 end
      if r then ref[a] = step end
    else
      local v = t:take(key(a))
      if v ~= ref[a] then error(("step %d take %d: %s, want %s"):format(step, a, tostring(v), tostring(ref[a]))) end
      if v then ref[a] = nil; nref = nref - 1 end
    end
    if step % 20000 == 0 then
      local cut = step - 5000
      local gone = 0
      for k, v in pairs(ref) do if v < cut then ref[k] = nil; gone = gone + 1 end end
      nref = nref - gone
      T.eq(t:expire(cut), gone, "expire at step " .. step)
    end
  end
  T.eq(t:count(), nref, "count")
  for k, v in pairs(ref) do T.eq(t:take(key(k)), v, "key " .. k) end
end)

T.test("batch: puts and takes in one call, stops before a full put", function()
  local rec_t = ffi.typeof("struct { uint32_t a, b; uint8_t pad[8]; double v; }")
  local recs = ffi.new(ffi.typeof("$[?]", rec_t), 6)
  local ops, out = ffi.new("uint8_t[6]"), ffi.new("double[6]")
  local P, K, S = pending.PUT, pending.TAKE, pending.SKIP
  local plan = {{P, 1, 10}, {P, 2, 20}, {P, 1, 11}, {K, 1}, {S, 9}, {K, 3}}
  for i, x in ipairs(plan) do
    ops[i - 1], recs[i - 1].a, recs[i - 1].v = x[1], x[2], x[3] or 0
  end
  local t = assert(pending.new{key = 16, max = 2})
  local done = t:batch(recs, ffi.sizeof(rec_t), ffi.offsetof(rec_t, "v"), ops, 6, out)
  T.eq(done, 6, "all done")
  T.eq(out[0], 0, "new"); T.eq(out[2], 1, "replaced"); T.eq(out[3], 11, "taken value")
  T.ok(out[5] ~= out[5], "absent key: NaN")
  T.eq(t:count(), 1, "key 2 left")
  -- full: key 2 is there, max 2; put 4 and 5 -> stops before 5
  ops[0], recs[0].a, ops[1], recs[1].a, ops[2], recs[2].a = P, 4, P, 5, K, 4
  done = t:batch(recs, ffi.sizeof(rec_t), ffi.offsetof(rec_t, "v"), ops, 3, out)
  T.eq(done, 1, "stopped before the put that found it full")
  T.eq(t:take(key_t()), nil, "nothing else changed")
end)

T.test("expiry costs what expires: entries in put order, O(1) each", function()
  local t = assert(pending.new{key = 8, max = 300000})
  local k = ffi.new("uint64_t[1]")
  for i = 1, 200000 do k[0] = i; t:put(k, i) end
  -- a replaced entry is the newest again: it outlives its old time
  k[0] = 5; T.eq(t:put(k, 200001), "replaced", "replace")
  local v0 = t:stats().visits
  for cut = 11, 1001, 10 do t:expire(cut) end            -- 10 at a time
  local s = t:stats()
  T.eq(t:count(), 200000 - 999, "left (5 was replaced)")
  -- each expiry looks at what it removes and the first entry it keeps
  T.ok(s.visits - v0 <= 2 * 1000 + 101, "visits " .. (s.visits - v0))
  k[0] = 5; T.eq(t:take(k), 200001, "the replaced entry was kept")
  k[0] = 1000; T.eq(t:take(k), nil, "expired")
  k[0] = 1001; T.eq(t:take(k), 1001, "kept")
end)

T.test("expire past every value empties the table at once, and it is used again", function()
  -- 600,000 entries: the index and the entries are mapped (past 2 MiB)
  local t = assert(pending.new{key = 8, max = 1000000})
  local k = ffi.new("uint64_t[1]")
  for i = 1, 600000 do k[0] = i; t:put(k, i) end
  k[0] = 7; t:put(k, 5)                -- values out of put order
  T.eq(t:expire(600000), 599998, "the walk stops at the first it keeps (600000)")
  T.eq(t:count(), 2, "600000 and 7 (put late, value 5) left")
  T.eq(t:expire(600001), 2, "past every value: all of them, at once")
  T.eq(t:count(), 0, "empty")
  k[0] = 600000; T.eq(t:take(k), nil, "cleared")
  T.eq(t:put(k, 3e5), "new", "put again after the clear")
  T.eq(t:expire(math.huge), 1, "once more")
  for i = 1, 600000 do k[0] = i * 3; t:put(k, i) end
  T.eq(t:count(), 600000, "filled again")
  for i = 1, 600000, 997 do k[0] = i * 3; T.eq(t:take(k), i, "found " .. i) end
  k[0] = 7; T.eq(t:take(k), nil, "a cleared key is gone")
  T.eq(t:expire(math.huge), 600000 - 602, "emptied again")
end)

T.test("evict: a full table drops its oldest entry for a new one", function()
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = 3, evict = true})
  for i = 1, 3 do T.eq(t:put(key(i), i), "new", "put " .. i) end
  T.eq(t:put(key(1), 10), "replaced", "1 is the newest now")
  T.eq(t:put(key(4), 4), "evicted", "room made")
  T.eq(t:evicted(), 1, "counted")
  T.eq(t:take(key(2)), nil, "the oldest (2) went")
  T.eq(t:take(key(1)), 10, "1 kept")
  T.eq(t:count(), 2, "3 and 4 left")
  -- many evictions: the table stays consistent and bounded
  local u = assert(pending.new{key = 8, max = 1000, evict = true})
  local k = ffi.new("uint64_t[1]")
  for i = 1, 50000 do k[0] = i * 2654435761; u:put(k, i) end
  T.eq(u:count(), 1000, "bounded")
  T.eq(u:evicted(), 49000, "evicted")
  for i = 49001, 50000 do k[0] = i * 2654435761; T.eq(u:take(k), i, "newest kept") end
  T.eq(u:count(), 0, "all taken")
end)

-- An evicting put reuses the empty slot its first probe found unless the
-- eviction emptied one on that probe: random puts and takes into a full
-- table, against a Lua table with the same oldest-first eviction.
T.test("evict: 6*10^4 random operations on a full table agree with a Lua table", function()
  local MAX = 400
  local t = assert(pending.new{key = ffi.sizeof(key_t), max = MAX, evict = true})
  local ref, nref, fifo, head = {}, 0, {}, 1
  local s = 88172645
  local function rnd(n)
    s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
    return (s % n + n) % n
  end
  local function oldest()
    while ref[fifo[head][1]] ~= fifo[head][2] do head = head + 1 end
    return fifo[head][1]
  end
  local evicted = 0
  for step = 1, 60000 do
    local a = rnd(1500)
    if rnd(4) < 3 then
      local want = ref[a] and "replaced" or (nref < MAX and "new" or "evicted")
      local r = t:put(key(a), step)
      if r ~= want then error(("step %d put %d: %s, want %s"):format(step, a, tostring(r), tostring(want))) end
      if r == "evicted" then ref[oldest()] = nil; evicted = evicted + 1 end
      if r ~= "replaced" and r ~= "evicted" then nref = nref + 1 end
      ref[a] = step
      fifo[#fifo + 1] = {a, step}
    else
      local v = t:take(key(a))
      if v ~= ref[a] then error(("step %d take %d: %s, want %s"):format(step, a, tostring(v), tostring(ref[a]))) end
      if v then ref[a] = nil; nref = nref - 1 end
    end
  end
  T.ok(evicted > 10000, "evictions: " .. evicted)
  T.eq(t:count(), nref, "count")
  for k, v in pairs(ref) do T.eq(t:take(key(k)), v, "key " .. k) end
  T.eq(t:count(), 0, "all taken")
end)

T.test("collected tables free themselves", function()
  for _ = 1, 200 do pending.new{key = 64, max = 1000} end
  collectgarbage(); collectgarbage()
  T.ok(true)
end)

T.done()
