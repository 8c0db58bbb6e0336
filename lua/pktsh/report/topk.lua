-- topk.lua - the heaviest keys of a stream in bounded memory: the
-- space-saving algorithm (Metwally, Agrawal, El Abbadi 2005).
--
--   local t = pktsh.topk.new(m)        -- m counters (default 1000)
--   t:add(key [, weight])              -- weight > 0, default 1; true when
--                                      -- key was not in the table before
--   t:label(key, text)                 -- the text shown for key
--   t:get(key) -> count, err           -- 0, 0 when not kept
--   t:set(key, count [, err])          -- for a table built by hand
--   t:top(k)  -> {{key=, count=, err=, guaranteed=}, ...} largest first
--   t:render{rows=, ascii=, title=} t:json() t:csv() t:svg{title=|path}
--   pktsh.topk.merge(a, b)             -- objects or plain tables (workers)
--   pktsh.topk.from(t)                 -- the object over a plain table
--
-- At most m keys are kept. While fewer than m distinct keys were seen the
-- counts are exact. After that a new key replaces one with the smallest
-- count c_min and starts at c_min + weight with err = c_min. So, with n
-- the total weight:
--   - every count is an upper bound: true <= count, and count - err <= true;
--   - err <= c_min <= n / m for every key (the "error bound", t:bound());
--   - every key whose true count exceeds n / m is in the table;
--   - an entry is `guaranteed` in the true top k when count - err is at
--     least the next entry's count.
-- Merging two summaries adds counts key by key; a key missing from a full
-- summary is charged that summary's c_min in both count and err (its true
-- count there is at most c_min), then the m largest are kept. The merged
-- counts stay upper bounds, count - err stays a lower bound, and err stays
-- at most n / m with n the total of both.
--
-- Labels: a caller that counts long keys by a number (a hash) sets the
-- text only when add says the key is new. Labels of evicted keys are
-- dropped once they outnumber the table's capacity, so memory stays
-- bounded. In top() (and everything drawn from it) a labelled entry's key
-- is its label, the counted key is in `id`.
--
-- Packed tables (M.packed): a counting core in C (dnsstats') hands its
-- counters over as a few strings of doubles, and labels end to end,
-- instead of a Lua table entry and a label string per counter; top(k),
-- floor, bound and render read those directly and make the label
-- strings of the rows they return only, so a report costs the same
-- whatever the capacity. Anything that changes the table (add, set,
-- merge) or asks by key (get) turns it into the ordinary form first.
-- A packed table is a plain table too (strings and numbers): workers
-- hand it back as it is.
--
-- A minimum is found without a heap: one scan collects every key at the
-- current minimum count, and evictions pop from that list (skipping keys
-- whose count has grown since); a new scan happens only when it runs out.
--
-- Keys come from packets, and LuaJIT hashes a number table key by its
-- value, unkeyed: a sender choosing ports (or any numbers) can make them
-- one long chain, every add walking it (255 crafted ports cost 30 times
-- random ones). So counts, errs and labels are keyed by pktsh.hash.num
-- of a number key (keyed, 53 bits), the key itself in keys[]; strings
-- key them as they are (LuaJIT finds strings by random ids). Read them
-- through t:get and t:top.
local chart = require "pktsh.report.chart"
local export = require "pktsh.report.export"
local term = require "pktsh.report.term"
local ffi = require "ffi"
require "pktsh.cdef"
local C = ffi.C
local hash_num = require("pktsh.accel.hash").num

-- The table key of a key: a number's keyed hash, anything else itself.
local function slot(key)
  if type(key) == "number" then return hash_num(key) end
  return key
end

local M = {}
local T = {}
T.__index = T
M.T = T

local format, concat = string.format, table.concat
local huge = math.huge

function M.new(m)
  if type(m) == "table" then m = m.capacity or m.m end
  m = m or 1000
  if type(m) ~= "number" or m < 1 or m % 1 ~= 0 then
    error("bad argument #1 to 'topk.new' (a whole number of counters >= 1 expected)", 2)
  end
  return setmetatable({chart = "topk", capacity = m, n = 0, size = 0, counts = {}, errs = {},
                       keys = {}, cand = {}, ci = 1, cn = 0, cmin = 0}, T)
end

function M.from(t)
  t.cand, t.ci, t.cn, t.cmin = t.cand or {}, t.ci or 1, t.cn or 0, t.cmin or 0
  t.keys = t.keys or {}
  return setmetatable(t, T)
end

------------------------------------------------------------------------
-- Packed tables (see the top of the file)

local dbl_ptr, u32_ptr = ffi.typeof("const double *"), ffi.typeof("const uint32_t *")

-- A packed table of m counters that counted n keys: size entries, keys,
-- counts and errs (double[size]; keys whole numbers below 2^53), and
-- optionally labels (a string of every entry's label end to end) with
-- offs (uint32_t[size + 1]: entry i's label is bytes offs[i] to
-- offs[i + 1]; an empty one is no label).
function M.packed(m, n, size, keys, counts, errs, labels, offs)
  local t = M.new(m)
  t.n, t.size = n, size
  t.counts, t.errs = nil, nil
  local bytes = 8 * size
  t.packed = {size = size, keys = ffi.string(keys, bytes), counts = ffi.string(counts, bytes),
              errs = ffi.string(errs, bytes), labels = labels,
              offs = labels and ffi.string(offs, 4 * (size + 1)) or nil}
  return t
end

-- Entry i of packed p: its key, count, err and label (nil without).
local function packed_entry(p, i)
  local keys, counts, errs = ffi.cast(dbl_ptr, p.keys), ffi.cast(dbl_ptr, p.counts),
                             ffi.cast(dbl_ptr, p.errs)
  local text
  if p.offs then
    local offs = ffi.cast(u32_ptr, p.offs)
    if offs[i + 1] > offs[i] then text = p.labels:sub(offs[i] + 1, offs[i + 1]) end
  end
  return keys[i], counts[i], errs[i], text
end

-- The ordinary form of a packed table (labels given by label() kept).
local function unpack_table(self)
  local p = self.packed
  if not p then return self end
  local shown = self.shown
  self.packed, self.shown = nil, nil
  self.counts, self.errs, self.keys = {}, {}, {}
  for i = 0, p.size - 1 do
    local key, count, err, text = packed_entry(p, i)
    self:set(key, count, err)
    if shown and shown[key] ~= nil then text = shown[key] end
    if text ~= nil then self:label(key, text) end
  end
  self.size = p.size
  return self
end

-- The smallest count (when the table is full) and the largest err of a
-- packed table.
local function packed_extremes(p)
  local counts, errs = ffi.cast(dbl_ptr, p.counts), ffi.cast(dbl_ptr, p.errs)
  local lo, e = huge, 0
  for i = 0, p.size - 1 do
    if counts[i] < lo then lo = counts[i] end
    if errs[i] > e then e = errs[i] end
  end
  return lo, e
end

-- Sets the count (and err) of key, as a table built by hand needs.
function T:set(key, count, err)
  unpack_table(self)
  local k = slot(key)
  if k ~= key then self.keys[k] = key end
  self.counts[k] = count
  self.errs[k] = err and err > 0 and err or nil
end

-- A key with the smallest count, and that count (the table is full).
-- Collects every key at the minimum count as the eviction candidates.
local function rescan(self, counts)
  local cmin = huge
  for _, c in pairs(counts) do if c < cmin then cmin = c end end
  local cand, cn = self.cand, 0
  for k, c in pairs(counts) do
    if c == cmin then cn = cn + 1; cand[cn] = k end
  end
  for i = cn + 1, #cand do cand[i] = nil end
  self.ci, self.cn, self.cmin = 1, cn, cmin
end
-- Interpreted: compiled by LuaJIT 2.1.0-beta3, these pairs() scans
-- over a table whose keys were just replaced found no key at all (seen
-- with one counter: an endless eviction loop). The scan is rare.
jit.off(rescan)

-- A key with the smallest count, and that count: the next candidate still
-- at the minimum, else a rescan.
local function pop_min(self, counts)
  for _ = 1, 2 do
    local cand, cmin = self.cand, self.cmin
    for i = self.ci, self.cn do
      local k = cand[i]
      if counts[k] == cmin then
        self.ci = i + 1
        return k, cmin
      end
    end
    rescan(self, counts)
  end
  error("topk: a full table has no key to evict")
end

function T:add(key, w)
  if key == nil then return end
  if self.packed then unpack_table(self) end
  w = w or 1
  self.n = self.n + w
  local counts = self.counts
  local k = slot(key)
  local c = counts[k]
  if c then counts[k] = c + w; return false end
  if k ~= key then self.keys[k] = key end
  local size = self.size
  if size < self.capacity then
    counts[k] = w
    self.size = size + 1
    return true
  end
  local victim, cmin = pop_min(self, counts)
  counts[victim] = nil
  self.errs[victim] = nil
  self.keys[victim] = nil
  counts[k] = cmin + w
  self.errs[k] = cmin
  return true
end

-- Drops the labels of keys no longer counted.
local function prune_labels(self)
  local counts, n = self.counts, 0
  for k in pairs(self.labels) do
    if counts[k] == nil then self.labels[k] = nil else n = n + 1 end
  end
  self.nlabels = n
end

function T:label(key, text)
  if self.packed then
    -- kept beside the packed labels, for the rows a report shows
    self.shown = self.shown or {}
    self.shown[key] = text
    return
  end
  local labels = self.labels
  if not labels then labels = {}; self.labels = labels; self.nlabels = 0 end
  key = slot(key)
  if labels[key] == nil then
    local n = (self.nlabels or 0) + 1
    self.nlabels = n
    if n > 2 * self.capacity + 64 then prune_labels(self) end
  end
  labels[key] = text
end

-- The count and error of one key (0, c_min-or-0 when it is not kept).
function T:get(key)
  unpack_table(self)
  local k = slot(key)
  local c = self.counts[k]
  if c then return c, self.errs[k] or 0 end
  return 0, 0
end

-- The smallest count kept when the table is full (0 otherwise): a key not
-- in the table has a true count of at most this.
function T:floor()
  if self.size < self.capacity then return 0 end
  if self.packed then return (packed_extremes(self.packed)) end
  local m = huge
  for _, c in pairs(self.counts) do if c < m then m = c end end
  return m
end

-- The error bound: the largest err of any kept key, and the guarantee
-- n / m (every err is at most that).
function T:bound()
  if self.packed then
    local _, e = packed_extremes(self.packed)
    return e, self.n / self.capacity
  end
  local e = 0
  for _, x in pairs(self.errs) do if x > e then e = x end end
  return e, self.n / self.capacity
end

local function less(a, b)
  if a.count ~= b.count then return a.count > b.count end
  local ta, tb = type(a.key), type(b.key)
  if ta ~= tb then return ta < tb end
  return a.key < b.key
end

-- e into list (n entries, in order), which keeps the k + 1 first; the new n.
local function keep(list, n, k, e)
  local j = n
  while j >= 1 and less(e, list[j]) do list[j + 1] = list[j]; j = j - 1 end
  list[j + 1] = e
  if n <= k then return n + 1 end
  list[n + 1] = nil
  return n
end

-- The (k + 1)-th largest of counts[0 .. size - 1] (-inf when there are
-- no more than k + 1): numbers only, a sorted run of k + 1 kept.
local function kth_count(counts, size, k)
  if size <= k + 1 then return -math.huge end
  local best, n = {}, 0
  for i = 0, size - 1 do
    local c = counts[i]
    if n <= k or c > best[n] then
      local j = n <= k and n or n - 1
      while j >= 1 and best[j] < c do best[j + 1] = best[j]; j = j - 1 end
      best[j + 1] = c
      if n <= k then n = n + 1 end
    end
  end
  return best[k + 1]
end

-- Entries of a packed table, made by entry(i) for index i: the k + 1
-- largest in order into list, or every one (sorted) when k is nil. The
-- label strings are made for the entries at or above the (k + 1)-th
-- largest count only (ties there go by label): how many does not
-- depend on the order the counters come in.
local function packed_list(self, k, list)
  local p, shown = self.packed, self.shown
  local counts = ffi.cast(dbl_ptr, p.counts)
  local function entry(i)
    local key, c, err, text = packed_entry(p, i)
    if shown and shown[key] ~= nil then text = shown[key] end
    return {key = text or key, id = text and key or nil, count = c, err = err}
  end
  if not k then
    for i = 0, p.size - 1 do list[i + 1] = entry(i) end
    table.sort(list, less)
    return
  end
  local floor, n = kth_count(counts, p.size, k), 0
  for i = 0, p.size - 1 do
    if counts[i] >= floor then n = keep(list, n, k, entry(i)) end
  end
end

-- The k largest (all with k nil), largest first.
function T:top(k)
  local list = {}
  local errs, labels, keys = self.errs, self.labels, self.keys
  local function entry(s, c)                -- s: the key's slot
    local text = labels and labels[s]
    local key = keys[s]
    if key == nil then key = s end
    return {key = text or key, id = text and key or nil, count = c, err = errs[s] or 0}
  end
  if self.packed then
    packed_list(self, k, list)
  elseif k and k < self.size / 4 then
    -- the k + 1 largest, kept in order as they come: sorting a table of
    -- thousands to print ten cost milliseconds
    local n = 0
    for key, c in pairs(self.counts) do
      if n <= k or c >= list[n].count then n = keep(list, n, k, entry(key, c)) end
    end
  else
    for key, c in pairs(self.counts) do list[#list + 1] = entry(key, c) end
    table.sort(list, less)
  end
  k = k or #list
  local out = {}
  for i = 1, math.min(k, #list) do
    local e = list[i]
    local next_count = list[k + 1] and list[k + 1].count or 0
    if self.size >= self.capacity and not list[k + 1] then next_count = self:floor() end
    e.guaranteed = e.count - e.err >= next_count
    out[i] = e
  end
  return out
end

-- Plain description: {n, capacity, bound, max_err, top = {{key, count, err}...}}.
function T:table(k)
  local e, guarantee = self:bound()
  local t = {chart = "topk", n = self.n, capacity = self.capacity, max_err = e,
             bound = guarantee, top = {}}
  for i, x in ipairs(self:top(k)) do
    t.top[i] = {key = x.key, count = x.count, err = x.err, guaranteed = x.guaranteed}
  end
  return t
end

function T:json(k)
  if type(k) == "table" then k = k.rows end
  return require("pktsh.report.json").encode(self:table(k))
end

function T:csv(k)
  if type(k) == "table" then k = k.rows end
  local out = {export.csv_line({"rank", "key", "count", "err", "percent"})}
  for i, x in ipairs(self:top(k)) do
    out[#out + 1] = export.csv_line({i, x.key, x.count, x.err,
                                    self.n > 0 and format("%.3f", x.count / self.n * 100) or 0})
  end
  return concat(out)
end

-- A line stating the error bound, for under a table.
function T:bound_text()
  local e, g = self:bound()
  if self.size < self.capacity then
    return format("exact: %s distinct of %d counters", term.num(self.size), self.capacity)
  end
  return format("space-saving, %d counters: counts are upper bounds, over by at most err "
                .. "(max %s, guaranteed <= n/%d = %s)", self.capacity, term.num(e),
                self.capacity, term.num(math.floor(g * 100 + 0.5) / 100))
end

-- The table as text: rank, key, count, share, error and a bar.
-- o: rows (default 10), ascii/unicode, width (columns), title, footer (false: none).
function T:render(o)
  if type(o) == "number" then o = {rows = o} end
  o = o or {}
  local uni = term.style(o)
  local list = self:top(o.rows or 10)
  local kw, cw = #(o.title or "key"), 5
  for _, x in ipairs(list) do
    kw = math.max(kw, term.width(tostring(x.key)))
    cw = math.max(cw, #term.num(x.count))
  end
  if kw > 48 then kw = 48 end
  local exact = self.size < self.capacity
  local cols = o.width or term.columns()
  -- the other columns: "%4d  KEY  COUNT  %5.1f%%" and "  " before the
  -- bar take 18 cells, "  %7s" (err) 9 more
  local barw = cols - kw - cw - (exact and 18 or 27)
  if barw < 8 then barw = 8 end
  local peak = list[1] and list[1].count or 0
  local out = {}
  local head = format("%4s  %s  %s  %6s", "#", term.rpad(term.cut(o.title or "key", kw, uni), kw),
                      term.lpad("count", cw), "%")
  if not exact then head = head .. format("  %7s", "±err") end
  out[1] = head
  for i, x in ipairs(list) do
    local line = format("%4d  %s  %s  %5.1f%%", i, term.rpad(term.cut(tostring(x.key), kw, uni), kw),
                        term.lpad(term.num(x.count), cw),
                        self.n > 0 and x.count / self.n * 100 or 0)
    if not exact then line = line .. format("  %7s", x.err > 0 and term.num(x.err) or "0") end
    out[#out + 1] = line .. "  " .. term.bar(peak > 0 and x.count / peak or 0, barw, uni)
  end
  if o.footer ~= false then
    out[#out + 1] = term.cut(format("n=%s; %s", term.num(self.n), self:bound_text()), cols, uni)
  end
  return concat(out, "\n") .. "\n"
end

function T:__tostring()
  return format("topk: n=%s, %d of %d counters - :top(k) :render() :json() :csv() :svg(path)",
                term.num(self.n), self.size, self.capacity)
end

local function svg_of(self, o)
  local labels, values, notes = {}, {}, {}
  for i, x in ipairs(self:top(o.rows or 20)) do
    labels[i], values[i] = tostring(x.key), x.count
    notes[i] = x.err > 0 and format("(±%s)", term.num(x.err)) or nil
  end
  return export.svg_bars{title = o.title or "top", labels = labels, values = values,
                         notes = notes,
                         footer = format("n=%s; %s", term.num(self.n), self:bound_text())}
end

function T:svg(o) return export.svg(self, o, svg_of) end

local function merge_both(a, b)
  M.from(a); M.from(b)
  unpack_table(a); unpack_table(b)
  local fa, fb = a:floor(), b:floor()
  local m = math.max(a.capacity, b.capacity)
  local ca, cb, ea, eb, ka, kb = a.counts, b.counts, a.errs, b.errs, a.keys, b.keys
  -- entries by their keys (ties in key order), their slots in k
  local list = {}
  for k, c in pairs(ca) do
    local c2, e2 = cb[k], eb[k]
    if c2 == nil then c2, e2 = fb, fb end
    local key = ka[k]
    if key == nil then key = k end
    list[#list + 1] = {key = key, k = k, count = c + c2, err = (ea[k] or 0) + (e2 or 0)}
  end
  for k, c in pairs(cb) do
    if ca[k] == nil then
      local key = kb[k]
      if key == nil then key = k end
      list[#list + 1] = {key = key, k = k, count = c + fa, err = (eb[k] or 0) + fa}
    end
  end
  table.sort(list, less)
  local counts, errs, keys = {}, {}, {}
  local size = math.min(m, #list)
  for i = 1, size do
    local x = list[i]
    counts[x.k] = x.count
    if x.err > 0 then errs[x.k] = x.err end
    if x.k ~= x.key then keys[x.k] = x.key end
  end
  a.counts, a.errs, a.keys, a.size, a.capacity = counts, errs, keys, size, m
  a.n = a.n + b.n
  if a.labels or b.labels then
    local la, lb = a.labels or {}, b.labels or {}
    local labels = {}
    for k in pairs(counts) do labels[k] = la[k] or lb[k] end
    a.labels, a.nlabels = labels, size
  end
  a.cand, a.ci, a.cn, a.cmin = {}, 1, 0, 0
  return a
end

-- Merges b into a (see the top of the file) and returns a as an object.
function M.merge(a, b) return chart.merge_pair(M.from, merge_both, a, b) end
T.merge = M.merge

------------------------------------------------------------------------
-- Driving a source

-- Runs a source through key(pkt) into a top-k table and draws it.
-- opts: capacity (counters, default 1000), rows (default 10),
-- weight = "bytes", seconds/duration, refresh (seconds between redraws on
-- a terminal, default 1), quiet, out, ascii, title.
-- Returns the table, or nil, err when the source ended in an error.
function M.run(src, key, opts)
  opts = opts or {}
  local name
  key, name = chart.args("top", src, key)
  if not key then return nil, name end
  local t = M.new(opts.capacity or 1000)
  local bytes = opts.weight == "bytes"
  local ropts = {rows = opts.rows or 10, ascii = opts.ascii, unicode = opts.unicode,
                 title = opts.title or name}
  local err = chart.drive_shown(src, chart.screen(opts), opts.seconds or opts.duration, opts.refresh or 1,
    function(p)
      local k = key(p)
      if k ~= nil then t:add(k, bytes and p.len or 1) end
    end,
    function() return t:render(ropts) end)
  if err then return nil, err end
  return t
end

-- The REPL's top(src, key [, opts]): src may be a file or interface name.
M.global = chart.with_source(function(...) return M.run(...) end)

------------------------------------------------------------------------
-- Columns: the counting core in C (src/accel/topk.c) for 64-bit keys, fed
-- a whole FFI array at a time, for hot loops: the counts of M.new's
-- table until it is full, then filtered space-saving (a key not kept
-- counts in a filter cell and enters, at c_min + 1 with err c_min, only
-- once its cell reaches c_min: the bounds at the top of the file hold,
-- and add's fresh keys are those that entered). c:table() is an
-- ordinary top-k object with the same counts, keys as Lua numbers (the nearest
-- double to each key). Keep keys below 2^53 (mask hashes): a double
-- holds those exactly, and c:label(tonumber(key)) then names the same
-- number c:table() does (LuaJIT 2.1.0-beta3 rounds a uint64_t of 2^63
-- or more differently in compiled code and in the interpreter).
--   local c = pktsh.topk.column(m [, {keys = "hashed"}])
--   local nf = c:add(keys, n)       -- keys: uint64_t[n]; c.fresh[0 .. nf-1]
--                                   -- index the keys that entered the table
--   c:label(tonumber(key), text)    -- as t:label; kept while the key is
--   local t = c:table()
--   c:stats()                       -- {lookups, probes, rekeys, max_probe,
--                                   -- probe_limit}: what the index cost
-- Keys from packets are hashed under random tables before they index the
-- C table, so no sender can make them collide. keys = "hashed" says they
-- are pktsh.hash values (keyed) already and skips that; raw keys given
-- so can be chosen to collide (the table then draws random tables of
-- its own, counted in rekeys).


local Column = {}
Column.__index = Column
M.Column = Column

local key_kinds = {raw = C.PKTSH_TOPK_KEYS_RAW, hashed = C.PKTSH_TOPK_KEYS_HASHED}

-- A top-k table of m counters for 64-bit keys, counted in C (above).
function M.column(m, opts)
  m = m or 1000
  if type(m) ~= "number" or m < 1 or m % 1 ~= 0 then
    error("bad argument #1 to 'topk.column' (a whole number of counters >= 1 expected)", 2)
  end
  local kind = key_kinds[opts and opts.keys or "raw"]
  if not kind then error("bad argument #2 to 'topk.column' (keys = \"raw\" or \"hashed\")", 2) end
  local err = ffi.new("struct pktsh_err")
  local h = C.pktsh_topk64_new(m, kind, err)
  if h == nil then return nil, ffi.string(err.msg) end
  return setmetatable({h = ffi.gc(h, C.pktsh_topk64_free), capacity = m, n = 0,
                       fresh = ffi.new("uint32_t[?]", 1024), fresh_cap = 1024,
                       labels = {}, nlabels = 0}, Column)
end

function Column:add(keys, n)
  if n > self.fresh_cap then
    self.fresh, self.fresh_cap = ffi.new("uint32_t[?]", n), n
  end
  self.n = self.n + n
  return C.pktsh_topk64_add(self.h, keys, n, self.fresh)
end

-- What the index cost: lookups, probes, rekeys, max_probe, probe_limit.
function Column:stats() return require("pktsh.accel.hash").table_stats(C.pktsh_topk64_stats, self.h) end

-- The entries: keys (uint64_t[]), counts, errs (double[]) and their
-- number, in arrays the column keeps (valid until the next call): a
-- snapshot every second should not make a megabyte of garbage.
local function entries(self)
  local size = C.pktsh_topk64_entries(self.h, nil, nil, nil, 0)
  if not self.ekeys or self.ecap < size then
    self.ekeys, self.ecap = ffi.new("uint64_t[?]", size), size
    self.ecounts, self.eerrs = ffi.new("double[?]", size), ffi.new("double[?]", size)
  end
  local keys, counts, errs = self.ekeys, self.ecounts, self.eerrs
  C.pktsh_topk64_entries(self.h, keys, counts, errs, size)
  return keys, counts, errs, size
end

-- Labels (by slot, as the top-k tables have them) of keys no longer
-- kept go once they outnumber the table twice. A column's keys seldom
-- come twice here: the hash is called, not hash.num's memo.
local slot_of = C.pktsh_hash_num

function Column:label(key, text)
  key = slot_of(key)
  if self.labels[key] == nil then
    self.nlabels = self.nlabels + 1
    if self.nlabels > 2 * self.capacity + 64 then
      local keys, _, _, size = entries(self)
      local kept = {}
      for i = 0, size - 1 do
        local k = slot_of(tonumber(keys[i]))
        kept[k] = self.labels[k]
      end
      self.labels, self.nlabels = kept, size
    end
  end
  self.labels[key] = text
end

-- The k largest entries as top() gives them ({key = label or key, id,
-- count, err}, largest first, ties in top()'s order), straight from the
-- C table: what a periodic snapshot needs, without the whole table in
-- Lua.
function Column:top(k)
  if k < 1 then return {} end
  local keys, counts, errs, size = entries(self)
  local labels = self.labels
  local best = {}                          -- entries, in top()'s order
  local probe = {}                         -- compared before a table is made
  for i = 0, size - 1 do
    local c, n = counts[i], #best
    if n < k or c >= best[n].count then
      local key = tonumber(keys[i])
      local text = labels[slot_of(key)]
      probe.key, probe.count = text or key, c
      if n < k or less(probe, best[n]) then
        local e = {key = text or key, id = text and key or nil, count = c, err = errs[i]}
        local j = n < k and n + 1 or n
        while j > 1 and less(e, best[j - 1]) do best[j] = best[j - 1]; j = j - 1 end
        best[j] = e
      end
    end
  end
  return best
end

-- The largest error of any count, and the guarantee n / capacity.
function Column:bound()
  local _, _, errs, size = entries(self)
  local e = 0
  for i = 0, size - 1 do if errs[i] > e then e = errs[i] end end
  return e, self.n / self.capacity
end

-- An ordinary top-k table with the same counts (keys as Lua numbers).
function Column:table()
  local keys, counts, errs, size = entries(self)
  local t = M.new(self.capacity)
  local labels = self.labels
  for i = 0, size - 1 do
    local key = tonumber(keys[i])
    local k = slot_of(key)
    t:set(key, counts[i], errs[i])
    if labels[k] ~= nil then t:label(key, labels[k]) end
  end
  t.n, t.size = self.n, size
  return t
end

return M
