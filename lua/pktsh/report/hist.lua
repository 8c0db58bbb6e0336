-- hist.lua - histograms: exact counts per value, linear bins, log2 bins
-- (optionally split into sub-buckets per power of two, HDR style), with
-- terminal, JSON, CSV and SVG output, and a merge for fanout workers.
--
--   local h = pktsh.hist.new{}                    -- a count per distinct value
--   local h = pktsh.hist.new{width = 100}         -- linear bins [0,100) [100,200) ...
--   local h = pktsh.hist.new{width = 10, lo = 5}  -- [5,15) [15,25) ...
--   local h = pktsh.hist.new{log = true}          -- 0 (v < 1), [1,2) [2,4) [4,8) ...
--   local h = pktsh.hist.new{log = true, sub = 64}-- 64 buckets per power of two
--   h:add(v [, weight])       nil (and NaN) is counted as missing; weight defaults to 1
--   h:quantile(q), h:mean()   (bin midpoints for binned kinds, clamped to min/max)
--   h:quantiles{q1, q2, ...}  the same for several q, sorting once
--   h:bins()                  {lo=, hi=, key=, label=, count=} in order
--   h:render{rows=, width=, ascii=, title=}  -> text with bars
--   h:json() h:csv() h:svg{title=}           -> strings
--   pktsh.hist.merge(a, b)    a and b (objects or their plain tables, as
--                             workers return them) summed into a
--   pktsh.hist.from(t)        the object again over a plain table
--
--   h:get(k)                  the count of value k (per-value kinds) or of
--                             bin k (binned kinds: the key bins() gives), or 0
--
-- The state is a plain table (chart = "hist", kind, counts, keys, n, ...):
-- pktsh.parallel hands it between workers as it is. Memory is bounded:
-- log2 kinds hold at most 64 * sub bins; the per-value kind keeps at most
-- max_keys values (default 10000) and counts the rest as `other`; linear
-- bins are sparse (only bins that were hit are stored).
--
-- Values come from packets, and LuaJIT hashes a number table key by its
-- value, unkeyed: counts keyed by ports (or latencies, from a crafted
-- capture) a sender chose could be made one long chain, every add
-- walking it. So a number (a value, a bin index) is keyed by
-- pktsh.hash.num of it (keyed, 53 bits) in counts, the number itself in
-- keys[]; strings key counts as they are (LuaJIT finds them by random
-- ids). Read counts through h:get and h:bins.
--
-- pktsh.hist.run(src, key, opts) drives a source (see the function).
local chart = require "pktsh.report.chart"
local export = require "pktsh.report.export"
local pktkeys = require "pktsh.proto.keys"
local term = require "pktsh.report.term"
local ffi = require "ffi"
require "pktsh.cdef"
-- bins come again and again: hash.num's memo; values (latencies) seldom do
local hash_num, hash_value = require("pktsh.accel.hash").num, ffi.C.pktsh_hash_num

local M = {}
local H = {}
H.__index = H
M.H = H

local floor, min, max = math.floor, math.min, math.max
local format, concat = string.format, table.concat
local type = type

local argcheck = require("pktsh.host.errors").argcheck

function M.new(opts)
  opts = opts or {}
  argcheck(type(opts) == "table", 1, "hist.new", "table or nil")
  local h = {chart = "hist", counts = {}, keys = {}, n = 0, sum = 0, missing = 0,
             label = opts.label or opts.name}
  if opts.log then
    h.kind = "log2"
    h.sub = opts.sub or 1
    argcheck(type(h.sub) == "number" and h.sub >= 1 and h.sub <= 1024 and h.sub % 1 == 0,
             1, "hist.new", "sub: a whole number from 1 to 1024")
  elseif opts.width then
    argcheck(type(opts.width) == "number" and opts.width > 0, 1, "hist.new", "width > 0")
    h.kind = "linear"
    h.width = opts.width
    h.lo = opts.lo or 0
  else
    h.kind = "values"
    h.max_keys = opts.max_keys or 10000
    h.nkeys = 0
    h.other = 0
  end
  return setmetatable(h, H)
end

-- The object over a plain table (after it crossed from a worker).
function M.from(t)
  t.keys = t.keys or {}
  return setmetatable(t, H)
end

-- counts' key for k: a number's keyed hash, a string itself.
local function slot(k)
  if type(k) == "number" then return hash_num(k) end
  return k
end

function H:get(k)
  return self.counts[slot(k)] or 0
end

-- Bin index of a number for the binned kinds: with v = m * 2^e and
-- 0.5 <= m < 1 (as math.frexp gives them), bin (e - 1) * sub + 1 + the
-- sub-bucket of m. e comes from the bits of the double (math.frexp is not
-- compiled by LuaJIT, and log/^ are calls into libm), and m * 2 - 1 from
-- one division by a power of two, so the result is exact.
local bit = require "bit"
local band, rshift = bit.band, bit.rshift
local huge = math.huge
local pun = require("ffi").new("union { double d; int32_t w[2]; }")
local HI = require("ffi").abi("le") and 1 or 0
local half_pow2 = {}                    -- [e] = 2^(e - 1), e = 1 .. 1024
for e = 1, 1024 do half_pow2[e] = 2 ^ (e - 1) end

local function frexp_bits(v)
  pun.d = v
  local e = band(rshift(pun.w[HI], 20), 0x7ff) - 1022
  return e
end

-- The index of v's log2 bin (0 for v < 1), with sub buckets per power of two.
local function log_index(v, sub)
  if v < 1 then return 0 end
  local e = frexp_bits(v)
  if e > 1024 then return huge end      -- inf, nan
  if sub == 1 then return e end
  return (e - 1) * sub + floor((v / half_pow2[e] - 1) * sub) + 1
end

M.log_index = log_index

-- [lo, hi) of bin i.
local function bin_range(h, i)
  if h.kind == "linear" then
    return h.lo + i * h.width, h.lo + (i + 1) * h.width
  end
  if i == 0 then return 0, 1 end
  local sub = h.sub
  local e = floor((i - 1) / sub)           -- octave: [2^e, 2^(e+1))
  local j = (i - 1) % sub
  local base = 2 ^ e
  return base * (1 + j / sub), base * (1 + (j + 1) / sub)
end

-- [lo, hi) of bin i of a binned histogram (linear or log2).
M.bin_range = bin_range

function H:add(v, w)
  w = w or 1
  if v == nil or v ~= v then self.missing = self.missing + w; return end
  local counts = self.counts
  local kind = self.kind
  local tv = type(v)
  if tv == "number" then
    self.sum = self.sum + v * w
    local mn, mx = self.min, self.max
    if mn == nil or v < mn then self.min = v end
    if mx == nil or v > mx then self.max = v end
  end
  self.n = self.n + w
  if kind == "values" then
    local k = tv == "number" and hash_value(v) or v
    local c = counts[k]
    if c then counts[k] = c + w
    elseif self.nkeys < self.max_keys then
      counts[k] = w
      if tv == "number" then self.keys[k] = v end
      self.nkeys = self.nkeys + 1
    else
      self.other = self.other + w
    end
    return
  end
  if tv ~= "number" then
    error(format("hist: a %s histogram needs numbers, not %s", kind, tv), 2)
  end
  local i
  if kind == "log2" then i = log_index(v, self.sub)
  else i = floor((v - self.lo) / self.width) end
  local k = hash_num(i)
  local c = counts[k]
  if c then counts[k] = c + w else counts[k] = w; self.keys[k] = i end
end

-- Adds arr[0] .. arr[n - 1] (a C array of numbers), weight 1 each: for
-- hot loops that collect values in an FFI buffer and count them in one
-- go, in a loop LuaJIT compiles tightly.
function H:add_array(arr, n)
  if n <= 0 then return end
  local kind = self.kind
  local counts, keys, sum = self.counts, self.keys, self.sum
  local mn, mx = self.min or huge, self.max or -huge
  if kind == "values" then
    local nkeys, max_keys, other = self.nkeys, self.max_keys, self.other
    for i = 0, n - 1 do
      local v = arr[i]
      sum = sum + v
      mn, mx = min(mn, v), max(mx, v)
      local k = hash_value(v)
      local c = counts[k]
      if c then counts[k] = c + 1
      elseif nkeys < max_keys then counts[k] = 1; keys[k] = v; nkeys = nkeys + 1
      else other = other + 1 end
    end
    self.nkeys, self.other = nkeys, other
    self.sum, self.n, self.min, self.max = sum, self.n + n, mn, mx
    return
  end
  local log2, sub, lo, width = kind == "log2", self.sub, self.lo, self.width
  for i = 0, n - 1 do
    local v = arr[i]
    sum = sum + v
    mn, mx = min(mn, v), max(mx, v)
    local b
    if log2 then b = log_index(v, sub) else b = floor((v - lo) / width) end
    local k = hash_num(b)
    local c = counts[k]
    if c then counts[k] = c + 1 else counts[k] = 1; keys[k] = b end
  end
  self.sum, self.n, self.min, self.max = sum, self.n + n, mn, mx
end

-- How many values were added (n).
function H:count() return self.n end

function H:mean()
  if self.n == 0 or self.min == nil then return nil end
  return self.sum / self.n
end

local function fmtv(v)
  return term.num(v)
end

local function keystr(k)
  if type(k) == "number" then return fmtv(k) end
  return tostring(k)
end

-- Bins in order: binned kinds by value (empty bins between the first and
-- last included when there are at most `span` of them, default 64);
-- per-value kinds by count (largest first), or by value with order = "key".
function H:bins(order, span)
  local list = {}
  local keys = self.keys
  if self.kind == "values" then
    for k, c in pairs(self.counts) do
      local v = keys[k]
      if v == nil then v = k end
      list[#list + 1] = {key = v, label = keystr(v), count = c}
    end
    if order == "key" then
      table.sort(list, function(a, b)
        local ta, tb = type(a.key), type(b.key)
        if ta ~= tb then return ta == "number" end
        return a.key < b.key
      end)
    else
      table.sort(list, function(a, b)
        if a.count ~= b.count then return a.count > b.count end
        local ta, tb = type(a.key), type(b.key)
        if ta ~= tb then return ta == "number" end
        return a.key < b.key
      end)
    end
    return list
  end
  local idx = {}
  for k in pairs(self.counts) do idx[#idx + 1] = keys[k] end
  table.sort(idx)
  if #idx == 0 then return list end
  local first, last = idx[1], idx[#idx]
  local fill = (last - first + 1) <= (span or 64)
  local function push(i)
    local lo, hi = bin_range(self, i)
    local label
    if self.kind == "log2" and i == 0 then label = "< 1"
    else label = format("[%s, %s)", fmtv(lo), fmtv(hi)) end
    list[#list + 1] = {key = i, lo = lo, hi = hi, label = label, count = self:get(i)}
  end
  if fill then
    for i = first, last do push(i) end
  else
    for _, i in ipairs(idx) do push(i) end
  end
  return list
end

-- The q-quantile (0 <= q <= 1) by nearest rank: exact for per-value
-- histograms of numbers, the bin's midpoint (clamped to min and max) for
-- binned ones. nil when empty.
function H:quantile(q)
  return self:quantiles({q})[1]
end

-- The values or bin indices that have counts, in order (numbers: sorted
-- by table.sort's own comparison, no Lua function called per step), and
-- their counts.
local function ranked(self)
  local at, keys = {}, self.keys
  for k in pairs(self.counts) do
    local v = keys[k]
    if type(v) == "number" then at[#at + 1] = v end
  end
  table.sort(at)
  local counts = {}
  for i = 1, #at do counts[i] = self:get(at[i]) end
  return at, counts
end

-- h:quantile for each q of the list qs (any order), from one walk over
-- the values sorted once: a report asks for p50, p90 and p99 of up to
-- max_keys values. A list of the same length (nil where empty).
function H:quantiles(qs)
  local out = {}
  if self.n == 0 or self.min == nil then return out end
  local at, counts
  local function value(i)                 -- the answer at rank position i
    if self.kind == "values" then return at[i] end
    local lo, hi = bin_range(self, at[i])
    return max(self.min, min(self.max, (lo + hi) / 2))
  end
  local order = {}
  for j, q in ipairs(qs) do
    if q <= 0 then out[j] = self.min
    elseif q >= 1 then out[j] = self.max
    else order[#order + 1] = j end
  end
  if #order == 0 then return out end
  table.sort(order, function(a, b) return qs[a] < qs[b] end)
  at, counts = ranked(self)
  local total = 0
  for i = 1, #counts do total = total + counts[i] end
  local i, acc = 0, 0
  for _, j in ipairs(order) do
    local want = qs[j] * total
    while i < #at and (i == 0 or acc < want - 1e-9) do
      i = i + 1
      acc = acc + counts[i]
    end
    out[j] = acc >= want - 1e-9 and i > 0 and value(i) or self.max
  end
  return out
end

local function title_of(h, o)
  return o.title or h.label or (h.kind == "values" and "value" or h.kind)
end

-- The chart as text: one row per bin with its count, share and a bar.
-- opts: rows (default 20 for per-value, 64 for binned), width (columns,
-- default the terminal's), ascii/unicode, title, order ("key"), footer (false: none).
function H:render(o)
  o = o or {}
  local uni = term.style(o)
  local rows = o.rows or (self.kind == "values" and 20 or 64)
  local list = self:bins(o.order)
  local shown, rest = {}, 0
  for i, b in ipairs(list) do
    if i <= rows then shown[#shown + 1] = b else rest = rest + b.count end
  end
  local others = rest + (self.other or 0)
  local lw, cw = 5, 5
  for _, b in ipairs(shown) do
    lw = math.max(lw, term.width(b.label))
    cw = math.max(cw, #term.num(b.count))
  end
  if lw > 40 then lw = 40 end
  local cols = o.width or term.columns()
  -- "LABEL  COUNT %5.1f%%  " around the bar takes lw + cw + 11 cells
  local barw = cols - lw - cw - 11
  if barw < 10 then barw = 10 end
  local peak = 0
  for _, b in ipairs(shown) do if b.count > peak then peak = b.count end end
  local total = self.n
  local out = {}
  out[#out + 1] = format("%s  %s  %s", term.rpad(term.cut(title_of(self, o), lw, uni), lw),
                         term.lpad("count", cw), "    %")
  for _, b in ipairs(shown) do
    out[#out + 1] = format("%s  %s %5.1f%%  %s", term.lpad(term.cut(b.label, lw, uni), lw),
                           term.lpad(term.num(b.count), cw),
                           total > 0 and b.count / total * 100 or 0,
                           term.bar(peak > 0 and b.count / peak or 0, barw, uni))
  end
  if others > 0 then
    out[#out + 1] = format("%s  %s %5.1f%%", term.lpad(format("(%d others)", #list - #shown +
                           ((self.other or 0) > 0 and 1 or 0)), lw),
                           term.lpad(term.num(others), cw), total > 0 and others / total * 100 or 0)
  end
  if o.footer ~= false then
    local f = {"n=" .. term.num(total)}
    if self.min ~= nil then
      f[#f + 1] = "min=" .. fmtv(self.min)
      f[#f + 1] = "mean=" .. fmtv(self:mean())
      f[#f + 1] = "p50=" .. fmtv(self:quantile(0.5))
      f[#f + 1] = "p99=" .. fmtv(self:quantile(0.99))
      f[#f + 1] = "max=" .. fmtv(self.max)
    end
    if self.missing > 0 then f[#f + 1] = "missing=" .. term.num(self.missing) end
    out[#out + 1] = concat(f, " ")
  end
  return concat(out, "\n") .. "\n"
end

function H:__tostring()
  local nb = 0
  for _ in pairs(self.counts) do nb = nb + 1 end
  return format("hist %s (%s): n=%s in %d bins - :render() :json() :csv() :svg(path)",
                title_of(self, {}), self.kind, term.num(self.n), nb)
end

-- A plain description for JSON (and tests): the bins in order.
function H:table(o)
  o = o or {}
  local t = {chart = "hist", kind = self.kind, label = self.label, n = self.n,
             missing = self.missing, bins = {}}
  if self.min ~= nil then
    t.min, t.max, t.sum, t.mean = self.min, self.max, self.sum, self:mean()
    t.p50, t.p90, t.p99 = self:quantile(0.5), self:quantile(0.9), self:quantile(0.99)
  end
  if self.kind == "values" then t.other = self.other end
  if self.kind == "linear" then t.width, t.lo = self.width, self.lo end
  if self.kind == "log2" then t.sub = self.sub end
  for i, b in ipairs(self:bins(o.order, o.span)) do
    if self.kind == "values" then t.bins[i] = {key = b.key, count = b.count}
    else t.bins[i] = {lo = b.lo, hi = b.hi, count = b.count} end
  end
  return t
end

function H:json(o)
  return require("pktsh.report.json").encode(self:table(o))
end

function H:csv(o)
  local out = {}
  if self.kind == "values" then
    out[1] = export.csv_line({self.label or "key", "count"})
    for _, b in ipairs(self:bins(o and o.order)) do out[#out + 1] = export.csv_line({b.key, b.count}) end
    if (self.other or 0) > 0 then out[#out + 1] = export.csv_line({"(other)", self.other}) end
  else
    out[1] = export.csv_line({"lo", "hi", "count"})
    for _, b in ipairs(self:bins(nil, o and o.span)) do
      out[#out + 1] = export.csv_line({b.lo, b.hi, b.count})
    end
  end
  return concat(out)
end

-- The bars of the SVG document (export.svg_bars).
local function svg_of(self, o)
  local rows = o.rows or (self.kind == "values" and 40 or 128)
  local labels, values, notes = {}, {}, {}
  for i, b in ipairs(self:bins(o.order)) do
    if i > rows then break end
    labels[i], values[i] = b.label, b.count
    notes[i] = self.n > 0 and format("(%.1f%%)", b.count / self.n * 100) or nil
  end
  return export.svg_bars{title = o.title or title_of(self, o), labels = labels,
                         values = values, notes = notes,
                         footer = format("n=%s", term.num(self.n))}
end

-- A standalone SVG document (a string); with o.path (or a string
-- argument) it is written there and the result is true or nil, err.
function H:svg(o) return export.svg(self, o, svg_of) end

local function merge_both(a, b)
  if a.kind ~= b.kind or a.width ~= b.width or a.lo ~= b.lo or a.sub ~= b.sub then
    error(format("hist.merge: different histograms (%s and %s)", a.kind, b.kind), 2)
  end
  M.from(a); M.from(b)
  local ca, ka, kb = a.counts, a.keys, b.keys
  for k, c in pairs(b.counts) do
    local x = ca[k]
    if x then ca[k] = x + c
    elseif a.kind == "values" and a.nkeys >= a.max_keys then
      a.other = a.other + c
    else
      ca[k] = c
      ka[k] = kb[k]
      if a.kind == "values" then a.nkeys = a.nkeys + 1 end
    end
  end
  if a.kind == "values" then a.other = a.other + (b.other or 0) end
  a.n, a.sum, a.missing = a.n + b.n, a.sum + b.sum, a.missing + b.missing
  if b.min ~= nil and (a.min == nil or b.min < a.min) then a.min = b.min end
  if b.max ~= nil and (a.max == nil or b.max > a.max) then a.max = b.max end
  return M.from(a)
end

-- Sums b into a (both objects or plain tables of the same kind and bins).
function M.merge(a, b) return chart.merge_pair(M.from, merge_both, a, b) end
H.merge = M.merge

------------------------------------------------------------------------
-- Driving a source

-- Runs a source through key(pkt) into a histogram and draws it.
--   opts.seconds (or duration): stop after this long (live: wall clock;
--     a file: packet time from its first packet)
--   opts.window: a new histogram every `window` seconds of packet time;
--     each finished one is drawn (in place on a terminal) and passed to
--     opts.on_window(h, t0_seconds); the sparkline of packets per window
--     is shown beneath
--   opts.refresh: seconds between redraws while running on a terminal
--     (default 1; 0 = only at the end)
--   opts.log / width / lo / sub / max_keys: the histogram (see new); a
--     key from pktsh.keys.by may suggest log bins (by.len)
--   opts.weight = "bytes": count bytes instead of packets
--   opts.quiet: draw nothing; opts.out: where to draw (default io.stdout)
--   opts.rows, ascii, width, title: as for render
-- Returns the histogram of the whole run (a merge of every window), or
-- nil, err when the source ended in an error.
function M.run(src, key, opts)
  opts = opts or {}
  local name
  key, name = chart.args("hist", src, key)
  if not key then return nil, name end
  local hint = pktkeys.by_hint[key] or {}
  local hopts = {log = opts.log, width = opts.width, lo = opts.lo, sub = opts.sub,
                 max_keys = opts.max_keys, label = opts.title or name}
  if hopts.log == nil and hopts.width == nil and hint.log then hopts.log = true end
  local total = M.new(hopts)
  local cur = opts.window and M.new(hopts) or total
  local bytes = opts.weight == "bytes"
  local seconds = opts.seconds or opts.duration
  local window = opts.window and opts.window * 1e9
  local screen = chart.screen(opts)
  local refresh = opts.refresh or 1
  local w_start, per_window = nil, {}
  local ropts = {rows = opts.rows, ascii = opts.ascii, unicode = opts.unicode,
                 width = opts.width_cols, title = opts.title or name}
  local function text_of(h, head)
    local text = h:render(ropts)
    if head then text = head .. "\n" .. text end
    if #per_window > 1 then
      local tail = {}
      for i = math.max(1, #per_window - 59), #per_window do tail[#tail + 1] = per_window[i] end
      text = text .. "per window: " .. term.spark(tail, term.style(ropts)) .. "\n"
    end
    return text
  end
  local function draw(h, head)
    if screen then screen:draw(text_of(h, head)) end
  end
  local function close_window(t0)
    per_window[#per_window + 1] = cur.n
    if opts.on_window then opts.on_window(cur, t0 / 1e9) end
    draw(cur, format("window %s +%ss", os.date("!%H:%M:%S", floor(t0 / 1e9)), term.num(opts.window)))
    M.merge(total, cur)
    cur = M.new(hopts)
  end
  local err = chart.drive_shown(src, screen, seconds, window and 0 or refresh, function(p)
    if window then
      local ts = tonumber(p.ts)
      w_start = w_start or ts - ts % window
      if ts >= w_start + window then
        close_window(w_start)
        -- empty windows in a gap are counted, not drawn
        local skip = floor((ts - w_start) / window)
        for _ = 2, math.min(skip, 1000) do per_window[#per_window + 1] = 0 end
        w_start = w_start + skip * window
      end
    end
    cur:add(key(p), bytes and p.len or 1)
  end, function() return text_of(cur) end, not window)
  if window then
    if cur.n > 0 then close_window(w_start or 0) end
    if screen then screen:keep() end
    if screen and per_window[1] then
      screen:draw(format("all %d windows\n", #per_window) .. total:render(ropts))
    end
  end
  if err then return nil, err end
  return total
end

-- The REPL's hist(src, key [, opts]): src may be a file or interface name.
M.global = chart.with_source(function(...) return M.run(...) end)

return M
