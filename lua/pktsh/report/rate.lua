-- rate.lua - packets and bytes per time interval: a bounded time series
-- with sparklines, JSON, CSV and an SVG line chart, mergeable across workers.
--
--   local r = pktsh.rate.new{interval = 1, keep = 600}   -- seconds; buckets kept
--   r:add(ts_ns [, bytes [, packets]])     -- a packet (pkt.ts) of `bytes`
--   r:series() -> {{t = seconds, packets =, bytes =}, ...} oldest first,
--                 gaps filled with zeros
--   r:spark{field = "packets", ascii =}   -> one line of cells
--   r:render{ascii =, width =}            -> lines: pps and bit/s sparklines
--                                            with mean and peak
--   r:json() r:csv() r:svg{path =, field =}
--   pktsh.rate.merge(a, b)                -- same interval; sums per bucket
--
-- Buckets are keyed by floor(ts / interval), so workers that saw different
-- packets of the same time merge exactly. At most `keep` buckets are held:
-- older ones are folded into the totals (r.old_packets, r.old_bytes).
-- Packets much older than the newest bucket (out of order by more than
-- `keep` intervals) count in the totals only.
local chart = require "pktsh.report.chart"
local export = require "pktsh.report.export"
local term = require "pktsh.report.term"

local M = {}
local R = {}
R.__index = R
M.R = R

local floor, format, concat = math.floor, string.format, table.concat

function M.new(o)
  if type(o) == "number" then o = {interval = o} end
  o = o or {}
  local interval = o.interval or 1
  if type(interval) ~= "number" or interval <= 0 then
    error("bad argument #1 to 'rate.new' (interval > 0 expected)", 2)
  end
  return setmetatable({chart = "rate", interval = interval, keep = o.keep or 600,
                       packets = 0, bytes = 0, old_packets = 0, old_bytes = 0,
                       pk = {}, by = {}, first = nil, last = nil}, R)
end

-- The rate object again over a plain table (as workers return it).
function M.from(t) return setmetatable(t, R) end

-- Drops buckets older than keep intervals before the newest.
local function trim(self)
  local first, last, keep = self.first, self.last, self.keep
  if last - first + 1 <= keep then return end
  local pk, by = self.pk, self.by
  local new_first = last - keep + 1
  for i = first, new_first - 1 do
    local p = pk[i]
    if p then
      self.old_packets = self.old_packets + p
      self.old_bytes = self.old_bytes + by[i]
      pk[i], by[i] = nil, nil
    end
    if i - first > 10 * keep then   -- a long gap: the rest are empty
      for k in pairs(pk) do
        if k < new_first then
          self.old_packets, self.old_bytes = self.old_packets + pk[k], self.old_bytes + by[k]
          pk[k], by[k] = nil, nil
        end
      end
      break
    end
  end
  self.first = new_first
end

function R:add(ts, bytes, packets)
  bytes, packets = bytes or 0, packets or 1
  local i = floor(tonumber(ts) / (self.interval * 1e9))
  self.packets = self.packets + packets
  self.bytes = self.bytes + bytes
  local first, last = self.first, self.last
  if not first then
    self.first, self.last = i, i
  elseif i > last then
    self.last = i
    if i - first + 1 > self.keep then trim(self) end
  elseif i < first then
    if last - i + 1 > self.keep then
      self.old_packets, self.old_bytes = self.old_packets + packets, self.old_bytes + bytes
      return
    end
    self.first = i
  end
  local pk = self.pk
  pk[i] = (pk[i] or 0) + packets
  self.by[i] = (self.by[i] or 0) + bytes
end

function R:series()
  local out = {}
  if not self.first then return out end
  local pk, by, iv = self.pk, self.by, self.interval
  for i = self.first, self.last do
    out[#out + 1] = {t = i * iv, packets = pk[i] or 0, bytes = by[i] or 0}
  end
  return out
end

-- Values of one field per bucket, as a list (the last `n` buckets).
function R:values(field, n)
  field = field or "packets"
  local s = self:series()
  local out = {}
  for i = math.max(1, #s - (n or #s) + 1), #s do out[#out + 1] = s[i][field] end
  return out
end

function R:spark(o)
  o = o or {}
  return term.spark(self:values(o.field, o.cells), term.style(o))
end

local function stats(list, iv)
  local sum, peak = 0, 0
  for _, v in ipairs(list) do sum = sum + v; if v > peak then peak = v end end
  return (#list > 0 and sum / #list or 0) / iv, peak / iv
end

function R:render(o)
  o = o or {}
  local uni = term.style(o)
  local cols = o.width or term.columns()
  local cells = math.max(10, cols - 40)
  local p = self:values("packets", cells)
  local b = self:values("bytes", cells)
  for i = 1, #b do b[i] = b[i] * 8 end
  local iv = self.interval
  local pm, pp = stats(self:values("packets"), iv)
  local bm, bp = stats(self:values("bytes"), iv)
  local out = {
    format("%-7s %s  mean %s peak %s", "pkt/s", term.spark(p, uni), term.si(pm), term.si(pp)),
    format("%-7s %s  mean %s peak %s", "bit/s", term.spark(b, uni), term.si(bm * 8), term.si(bp * 8)),
  }
  if o.footer ~= false then
    out[#out + 1] = format("%s packets, %s bytes over %d x %ss", term.num(self.packets),
                           term.num(self.bytes), #self:series(), term.num(iv))
  end
  return concat(out, "\n") .. "\n"
end

function R:__tostring()
  return format("rate: %s packets in %d buckets of %ss - :render() :series() :json() :csv() :svg(path)",
                term.num(self.packets), #self:series(), term.num(self.interval))
end

-- The rate as a plain table (chart = "rate", interval, packets, bytes, series).
function R:table()
  return {chart = "rate", interval = self.interval, packets = self.packets, bytes = self.bytes,
          series = self:series()}
end

function R:json() return require("pktsh.report.json").encode(self:table()) end

function R:csv()
  local out = {export.csv_line({"t", "packets", "bytes"})}
  for _, s in ipairs(self:series()) do out[#out + 1] = export.csv_line({s.t, s.packets, s.bytes}) end
  return concat(out)
end

local function svg_of(self, o)
  local field = o.field or "packets"
  local xs, ys = {}, {}
  for i, s in ipairs(self:series()) do
    xs[i] = s.t
    ys[i] = s[field] / self.interval * (field == "bytes" and 8 or 1)
  end
  return export.svg_line{title = o.title or (field == "bytes" and "bit/s" or "packets/s"),
                         xs = xs, ys = ys, xlabel = "time (s since the epoch)"}
end

function R:svg(o) return export.svg(self, o, svg_of) end

local function merge_both(a, b)
  if a.interval ~= b.interval then error("rate.merge: different intervals", 2) end
  M.from(a)
  for i, p in pairs(b.pk) do
    a.pk[i] = (a.pk[i] or 0) + p
    a.by[i] = (a.by[i] or 0) + (b.by[i] or 0)
    if not a.first or i < a.first then a.first = i end
    if not a.last or i > a.last then a.last = i end
  end
  a.packets, a.bytes = a.packets + b.packets, a.bytes + b.bytes
  a.old_packets, a.old_bytes = a.old_packets + b.old_packets, a.old_bytes + b.old_bytes
  a.keep = math.max(a.keep, b.keep)
  if a.first then trim(a) end
  return a
end

function M.merge(a, b) return chart.merge_pair(M.from, merge_both, a, b) end
R.merge = M.merge

-- Runs a source into a rate series, redrawing it in place on a terminal.
-- opts: interval (default 1), keep, seconds (or duration), refresh
-- (seconds between redraws on a terminal, default 1; 0 = only at the end),
-- quiet, out, ascii: the same as hist.run and topk.run take.
function M.run(src, opts)
  opts = opts or {}
  local r = M.new{interval = opts.interval or 1, keep = opts.keep}
  local err = chart.drive_shown(src, chart.screen(opts), opts.seconds or opts.duration,
    opts.refresh or 1,
    function(p) r:add(p.ts, p.len) end, function() return r:render(opts) end)
  if err then return nil, err end
  return r
end

-- The REPL's rate(src [, opts]): src may be a file or interface name.
M.global = chart.with_source(function(...) return M.run(...) end)

return M
