-- metrics.lua - counters, gauges and histograms with labels, exposed
-- for Prometheus: the text format 0.0.4 and OpenMetrics 1.0.0, served
-- over HTTP from a C thread (src/report/metrics.c) or written to a file
-- for node_exporter's textfile collector.
--
--   local reg = pktsh.metrics.new()
--   local q = reg:counter("app_queries_total", "Queries seen", {labels = {"transport"}})
--   q:inc(1, "udp")                        -- or q:labels("udp"):inc()
--   local g = reg:gauge("app_top_name_queries", "...", {labels = {"name"}, top = 10})
--   local h = reg:histogram("app_latency_seconds", "...", {scale = 1e-9,
--                           buckets = pktsh.metrics.log2_buckets(2^10, 2^34, 1e-9)})
--   h:observe(1.5e6)                       -- into a pktsh.hist of its own
--   h:set_hist(some_hist)                  -- or export a pktsh.hist as it is
--   reg:text()  reg:text("openmetrics")    -- the exposition
--   reg:write(path)                        -- atomically (write + rename)
--   local srv = assert(pktsh.metrics.serve("127.0.0.1:9153", reg))
--   srv:publish()                          -- the loop publishes; HTTP reads the latest
--   serve(addr, reg, {max_age = 1})        -- or on demand: publish when srv:wanted()
--   pktsh.metrics.merge(a, b)              -- registries from workers, summed
--
-- Families: counters (names end in _total; add and set only upwards by
-- convention: set is there to mirror a count kept elsewhere), gauges,
-- histograms (a pktsh.hist per label set, exported as cumulative
-- _bucket{le=...}, _sum and _count; see histogram_lines). A family's
-- label values are given positionally, in the order of opts.labels.
--
-- Label values come from packets (query names, addresses): any bytes.
-- Each is made safe once, when its series is created: invalid UTF-8
-- becomes U+FFFD, and backslash, double quote and newline are escaped,
-- so the exposition always parses. Values that come out equal share one
-- series (their counts add).
--
-- Cardinality is bounded twice: a family keeps at most max_series label
-- sets (default 10000; later new ones are counted in the `other` series,
-- every label set to opts.other, default "other"), and with opts.top = K
-- only the K largest series are exported, the rest summed into `other`.
-- A real label value equal to opts.other is that same series.
--
-- The state is plain tables (families, series, hist tables): workers
-- hand registries back through pktsh.parallel and merge() sums them
-- (pktsh.chart.merge does it for a registry inside a result).
local cdef = require "pktsh.cdef"
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local hist = require "pktsh.report.hist"

local M = {}
local R = {}       -- registry methods
R.__index = R
local F = {}       -- family methods
F.__index = F
local S = {}       -- series methods
S.__index = S
M.R, M.F, M.S = R, F, S

local format, concat, sort = string.format, table.concat, table.sort
local byte, sub, find, gsub = string.byte, string.sub, string.find, string.gsub
local huge, floor, abs = math.huge, math.floor, math.abs
local type, pairs, ipairs, tostring, select = type, pairs, ipairs, tostring, select

local DEFAULT_MAX_SERIES = 10000

------------------------------------------------------------------------
-- Text: numbers, names, label values

-- A sample value or an le bound: integers plainly, others in the
-- shortest form that reads back the same; NaN and infinities as the
-- formats spell them.
local function num(v)
  if v ~= v then return "NaN" end
  if v == huge then return "+Inf" end
  if v == -huge then return "-Inf" end
  if v % 1 == 0 and abs(v) < 1e15 then return format("%.0f", v) end
  for p = 15, 17 do
    local s = format("%." .. p .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end
M.num = num

-- Continuation bytes c of a sequence starting with lead byte b, as Go's
-- utf8.ValidString (what Prometheus checks) takes them: the second
-- byte's range depends on the lead (no overlong forms, no surrogates,
-- nothing past U+10FFFF).
local function seq_len(s, i, b)
  local n, lo, hi
  if b >= 0xc2 and b <= 0xdf then n, lo, hi = 2, 0x80, 0xbf
  elseif b == 0xe0 then n, lo, hi = 3, 0xa0, 0xbf
  elseif b == 0xed then n, lo, hi = 3, 0x80, 0x9f
  elseif b >= 0xe1 and b <= 0xef then n, lo, hi = 3, 0x80, 0xbf
  elseif b == 0xf0 then n, lo, hi = 4, 0x90, 0xbf
  elseif b == 0xf4 then n, lo, hi = 4, 0x80, 0x8f
  elseif b >= 0xf1 and b <= 0xf3 then n, lo, hi = 4, 0x80, 0xbf
  else return nil end
  local c = byte(s, i + 1)
  if not c or c < lo or c > hi then return nil end
  for j = i + 2, i + n - 1 do
    c = byte(s, j)
    if not c or c < 0x80 or c > 0xbf then return nil end
  end
  return n
end

local REPLACEMENT = "\239\191\189"    -- U+FFFD

-- s with every byte that is not part of valid UTF-8 replaced by U+FFFD.
local function valid_utf8(s)
  if not find(s, "[\128-\255]") then return s end
  local out, i, n, start = {}, 1, #s, 1
  while i <= n do
    local b = byte(s, i)
    if b < 0x80 then
      i = i + 1
    else
      local l = seq_len(s, i, b)
      if l then
        i = i + l
      else
        out[#out + 1] = sub(s, start, i - 1)
        out[#out + 1] = REPLACEMENT
        i = i + 1
        start = i
      end
    end
  end
  out[#out + 1] = sub(s, start)
  return concat(out)
end
M.valid_utf8 = valid_utf8

local label_escapes = {["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n"}

-- A label value as it goes between the quotes of the exposition.
local function label_value(v)
  if type(v) == "number" then return num(v) end
  v = valid_utf8(tostring(v))
  if find(v, '[\\"\n]') then v = gsub(v, '[\\"\n]', label_escapes) end
  return v
end
M.label_value = label_value

-- HELP text: 0.0.4 escapes backslash and newline, OpenMetrics also the
-- double quote.
local function help_text(s, om)
  s = valid_utf8(s)
  if om then return (gsub(s, '[\\"\n]', label_escapes)) end
  return (gsub(s, "[\\\n]", label_escapes))
end

local function valid_name(s) return type(s) == "string" and find(s, "^[%a_:][%w_:]*$") ~= nil end
local function valid_label(s)
  return type(s) == "string" and find(s, "^[%a_][%w_]*$") ~= nil and sub(s, 1, 2) ~= "__"
end

------------------------------------------------------------------------
-- Families and series

function M.new()
  return setmetatable({chart = "metrics", families = {}, order = {}}, R)
end

-- The objects again over a registry's plain tables (after a worker).
function M.from(t)
  setmetatable(t, R)
  for _, f in pairs(t.families) do
    setmetatable(f, F)
    for _, s in pairs(f.series) do
      setmetatable(s, S)
      if s.h then hist.from(s.h) end
    end
  end
  return t
end

local function family(reg, kind, name, help, opts, fname)
  opts = opts or {}
  errors.argcheck(valid_name(name), 1, fname, "a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
  errors.argcheck(type(help) == "string", 2, fname, "help text")
  errors.argcheck(type(opts) == "table", 3, fname, "table of options or nil")
  if kind == "counter" and not find(name, "_total$") then
    error(format("bad argument #1 to '%s' (a counter's name ends in _total: %s)", fname, name), 3)
  end
  local labels = opts.labels or {}
  for i, l in ipairs(labels) do
    errors.argcheck(valid_label(l) and not (kind == "histogram" and l == "le"), 3, fname,
                    format("labels[%d]: a label name, not __* (nor le for a histogram)", i))
  end
  local old = reg.families[name]
  if old then
    if old.kind ~= kind or #old.lnames ~= #labels then
      error(format("%s: metric %s exists already as a %s with %d labels", fname, name,
                   old.kind, #old.lnames), 3)
    end
    return old
  end
  local f = setmetatable({name = name, help = help, kind = kind, lnames = labels,
                          series = {}, nseries = 0, overflow = 0,
                          max_series = opts.max_series or DEFAULT_MAX_SERIES,
                          top = opts.top, other = opts.other or "other",
                          scale = opts.scale or 1, buckets = opts.buckets,
                          hopts = opts.hist or {log = true}}, F)
  reg.families[name] = f
  reg.order[#reg.order + 1] = name
  return f
end

function R:counter(name, help, opts) return family(self, "counter", name, help, opts, "counter") end
function R:gauge(name, help, opts) return family(self, "gauge", name, help, opts, "gauge") end
function R:histogram(name, help, opts) return family(self, "histogram", name, help, opts, "histogram") end
function R:get(name) return self.families[name] end

-- The exposition's label text of values given (escaped), and its key.
local function label_text(f, ...)
  local labels = f.lnames
  local n = #labels
  if n == 0 then return "" end
  local parts = {}
  for i = 1, n do
    local v = select(i, ...)
    if v == nil then
      error(format("%s: label %s has no value (%d expected)", f.name, labels[i], n), 3)
    end
    parts[i] = labels[i] .. '="' .. label_value(v) .. '"'
  end
  return concat(parts, ",")
end

local function new_series(f, key)
  local s = setmetatable({key = key, v = 0}, S)
  if f.kind == "histogram" then s.h = hist.new(f.hopts) end
  f.series[key] = s
  f.nseries = f.nseries + 1
  return s
end

local function other_key(f)
  local vals = {}
  for i = 1, #f.lnames do vals[i] = f.other end
  return label_text(f, unpack(vals, 1, #f.lnames))
end

-- The series of these label values (created on first use; past
-- max_series, the `other` one).
function F:labels(...)
  local key = label_text(self, ...)
  local s = self.series[key]
  if s then return s end
  if self.nseries >= self.max_series and #self.lnames > 0 then
    self.overflow = self.overflow + 1
    local ok = other_key(self)
    return self.series[ok] or new_series(self, ok)
  end
  return new_series(self, key)
end

function F:other_series()
  local ok = other_key(self)
  return self.series[ok] or new_series(self, ok)
end

function F:inc(v, ...) local s = self:labels(...); s.v = s.v + (v or 1); return s end
function F:set(v, ...) local s = self:labels(...); s.v = v; return s end
function F:observe(v, ...) local s = self:labels(...); s.h:add(v); return s end
function F:set_hist(h, ...)
  local s = self:labels(...)
  s.h = h
  return s
end
-- Drops every series (for gauges rebuilt at each snapshot).
function F:reset()
  self.series, self.nseries = {}, 0
end

function S:inc(v) self.v = self.v + (v or 1) end
function S:dec(v) self.v = self.v - (v or 1) end
function S:set(v) self.v = v end
function S:observe(v) self.h:add(v) end
function S:get() return self.v end

------------------------------------------------------------------------
-- Histograms

-- Upper bounds 2^k * scale for 2^k from lo to hi (powers of two; lo and
-- hi are rounded to them): the octave edges of a log2 pktsh.hist, so
-- every bin falls in exactly one bucket.
function M.log2_buckets(lo, hi, scale)
  scale = scale or 1
  local out, e = {}, floor(math.log(lo) / math.log(2) + 0.5)
  local last = floor(math.log(hi) / math.log(2) + 0.5)
  while e <= last do
    out[#out + 1] = 2 ^ e * scale
    e = e + 1
  end
  return out
end

-- Calls fn(le, count) for each bin of a pktsh.hist table with a count
-- (not in order), le its upper bound, scaled. A per-value histogram's
-- bin is its value; a binned one's is [lo, hi), exported with le = hi
-- (a value equal to an edge is in the bin above, as pktsh.hist counts
-- it). Straight from the table: h:bins() would make a label for each of
-- thousands of bins.
local function each_bin(h, scale, fn)
  local keys, values = h.keys or {}, h.kind == "values"
  for k, c in pairs(h.counts) do
    local v = keys[k]
    if v == nil then v = k end
    if type(v) == "number" and c > 0 then
      if not values then
        local _, hi = hist.bin_range(h, v)
        v = hi
      end
      fn(v * scale, c)
    end
  end
end

-- The first index of sorted list whose value is >= x (#list + 1: none).
local function first_ge(list, x)
  local lo, hi = 1, #list + 1
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if list[mid] >= x then hi = mid else lo = mid + 1 end
  end
  return lo
end

-- Cumulative counts at each bound of `buckets` (or at each bin's edge
-- when there are none). A bin that straddles a bound counts in the
-- bucket above it. Returns {{le, cumulative}, ...} ending in +Inf.
-- With buckets, the bins are summed into them as they come (a snapshot
-- of a log2 latency histogram has thousands: no table for each).
local function cumulative(h, scale, buckets)
  local out, acc = {}, 0
  if not buckets then
    local bins = {}
    each_bin(h, scale, function(le, c) bins[#bins + 1] = {le, c} end)
    sort(bins, function(a, b) return a[1] < b[1] end)
    for _, b in ipairs(bins) do
      acc = acc + b[2]
      if b[1] ~= huge then out[#out + 1] = {b[1], acc} end
    end
  else
    local per = {}
    each_bin(h, scale, function(le, c)
      local i = first_ge(buckets, le)
      per[i] = (per[i] or 0) + c
    end)
    for i, le in ipairs(buckets) do
      acc = acc + (per[i] or 0)
      out[i] = {le, acc}
    end
  end
  out[#out + 1] = {huge, h.n}
  return out
end

-- A pktsh.hist table's copy (merge changes its first argument only).
local function hist_copy(h)
  local function copy(t)
    local c = {}
    for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
    return c
  end
  return hist.from(copy(h))
end

-- acc plus h, acc made from a copy of h when there is none yet.
local function hist_sum(acc, h)
  if not h then return acc end
  if not acc then return hist_copy(h) end
  return hist.merge(acc, h)
end

local function series_size(f, s)
  if f.kind == "histogram" then return s.h and s.h.n or 0 end
  return s.v
end

------------------------------------------------------------------------
-- Exposition

-- The series of f to export, in order: by key, or (top K) the K
-- largest then the rest summed into `other`.
local function exported(f)
  local list = {}
  for _, s in pairs(f.series) do list[#list + 1] = s end
  if not f.top or #list <= f.top then
    sort(list, function(a, b) return a.key < b.key end)
    return list
  end
  local ok = other_key(f)
  local rest = setmetatable({key = ok, v = 0}, S)
  local keep = {}
  for _, s in ipairs(list) do if s.key ~= ok then keep[#keep + 1] = s end end
  sort(keep, function(a, b)
    local x, y = series_size(f, a), series_size(f, b)
    if x ~= y then return x > y end
    return a.key < b.key
  end)
  local shown = {}
  local function fold(s)
    if f.kind == "histogram" then rest.h = hist_sum(rest.h, s.h)
    else rest.v = rest.v + s.v end
  end
  for i, s in ipairs(keep) do
    if i <= f.top then shown[#shown + 1] = s else fold(s) end
  end
  if f.series[ok] then fold(f.series[ok]) end
  shown[#shown + 1] = rest
  return shown
end

local function braces(key, extra)
  if key == "" then return extra and "{" .. extra .. "}" or "" end
  return "{" .. key .. (extra and "," .. extra or "") .. "}"
end

local function histogram_lines(f, s, out)
  local h = s.h
  if not h then return end
  for _, b in ipairs(cumulative(h, f.scale, f.buckets)) do
    out[#out + 1] = f.name .. "_bucket" .. braces(s.key, 'le="' .. num(b[1]) .. '"') .. " " .. num(b[2])
  end
  out[#out + 1] = f.name .. "_sum" .. braces(s.key) .. " " .. num((h.sum or 0) * f.scale)
  out[#out + 1] = f.name .. "_count" .. braces(s.key) .. " " .. num(h.n)
end

-- The sample lines of f (the same in both formats).
local function sample_lines(f)
  local out = {}
  local list = exported(f)
  if #list == 0 and #f.lnames == 0 then
    list = {setmetatable({key = "", v = 0, h = f.kind == "histogram" and hist.new(f.hopts) or nil}, S)}
  end
  for _, s in ipairs(list) do
    if f.kind == "histogram" then histogram_lines(f, s, out)
    else out[#out + 1] = f.name .. braces(s.key) .. " " .. num(s.v) end
  end
  return out
end

-- A family's HELP and TYPE lines in one format, made once (help does
-- not change; the cache is keyed by it all the same).
local header_cache = setmetatable({}, {__mode = "k"})
local function header_lines(f, om, out)
  local c = header_cache[f]
  if not c or c.help ~= f.help then
    c = {help = f.help}
    for _, o in ipairs{false, true} do
      -- OpenMetrics names a counter family without its _total, which stays on the sample
      local fname = (o and f.kind == "counter") and sub(f.name, 1, -7) or f.name
      c[o] = "# HELP " .. fname .. " " .. help_text(f.help, o) .. "\n# TYPE " .. fname .. " " .. f.kind
    end
    header_cache[f] = c
  end
  out[#out + 1] = c[om]
end

local function render(reg, formats)
  local texts = {}
  for i = 1, #formats do texts[i] = {} end
  for _, name in ipairs(reg.order) do
    local f = reg.families[name]
    local samples = concat(sample_lines(f), "\n")
    for i, fmt in ipairs(formats) do
      local out = texts[i]
      header_lines(f, fmt == "openmetrics", out)
      if samples ~= "" then out[#out + 1] = samples end
    end
  end
  for i, fmt in ipairs(formats) do
    local out = texts[i]
    if fmt == "openmetrics" then out[#out + 1] = "# EOF" end
    out[#out + 1] = ""
    texts[i] = concat(out, "\n")
  end
  return unpack(texts)
end

-- The exposition: "prometheus" (text 0.0.4, the default) or "openmetrics".
function R:text(fmt)
  local om = fmt == "openmetrics"
  errors.argcheck(fmt == nil or om or fmt == "prometheus", 1, "text", '"prometheus" or "openmetrics"')
  return (render(self, {om and "openmetrics" or "prometheus"}))
end

-- Both, rendered together (the samples once): prometheus, openmetrics.
function R:texts()
  return render(self, {"prometheus", "openmetrics"})
end

-- Writes the 0.0.4 text to path atomically: a new file renamed over it
-- (src/outfile.c), as node_exporter's textfile collector wants.
function R:write(path)
  local text = self:text()
  local err = errors.new()
  if C.pktsh_output_write(path, text, #text, err) ~= 0 then return nil, errors.message(err) end
  return true
end

function R:__tostring()
  local n = 0
  for _, f in pairs(self.families) do n = n + f.nseries end
  return format("metrics registry: %d families, %d series - :text() :write(path)", #self.order, n)
end

------------------------------------------------------------------------
-- Merging (workers)

local function merge_series(f, s, b)
  if f.kind == "histogram" then
    if b.h then s.h = s.h and hist.merge(s.h, b.h) or b.h end
  else
    s.v = s.v + b.v
  end
end

-- Sums registry b into a (objects or plain tables); returns a.
function M.merge(a, b)
  if a == nil then return b and M.from(b) end
  if b == nil then return M.from(a) end
  M.from(a); M.from(b)
  for _, name in ipairs(b.order) do
    local fb, fa = b.families[name], a.families[name]
    if not fa then
      a.families[name] = fb
      a.order[#a.order + 1] = name
    else
      if fa.kind ~= fb.kind then
        error(format("metrics.merge: %s is a %s on one side, a %s on the other", name, fa.kind, fb.kind), 2)
      end
      for key, sb in pairs(fb.series) do
        local sa = fa.series[key]
        if not sa then
          if fa.nseries >= fa.max_series and #fa.lnames > 0 then sa = fa:other_series()
          else sa = new_series(fa, key); sa.h = nil end
        end
        merge_series(fa, sa, sb)
      end
      fa.overflow = fa.overflow + (fb.overflow or 0)
    end
  end
  return a
end
R.merge = M.merge

------------------------------------------------------------------------
-- Serving

local Srv = {}
Srv.__index = Srv
M.Srv = Srv

-- Every entry point of src/pktsh.h looked up now. The server's thread
-- loads libmicrohttpd (and GnuTLS, a dozen libraries) while the loop
-- runs; a dlopen holds the dynamic loader's lock throughout, and ffi.C
-- looks a function up (dlsym) the first time it is called, under that
-- same lock: the loop stalled on its first new call for the whole load
-- (tens of ms). Looked up, a function is cached and never asked again.
local resolved = false
local function resolve_entry_points()
  if resolved then return end
  for _, name in ipairs(cdef.functions) do pcall(function() return C[name] end) end
  resolved = true
end
M.resolve_entry_points = resolve_entry_points

-- Serves /metrics on addr ("HOST:PORT", "[V6]:PORT", ":PORT"; port 0
-- picks a free one) from a thread; reg (optional) is what publish()
-- renders by default. opts.max_age (seconds): a scrape that finds the
-- last snapshot older asks for a new one (srv:wanted() is true until
-- the next publish) and waits for it, half a second at most; a loop
-- that publishes only when wanted renders nothing nobody reads. nil,
-- err when the address cannot be bound.
function M.serve(addr, reg, opts)
  errors.argcheck(type(addr) == "string", 1, "metrics.serve", "address string")
  errors.argcheck(opts == nil or type(opts) == "table", 3, "metrics.serve", "table of options or nil")
  local max_age = opts and opts.max_age
  errors.argcheck(max_age == nil or (type(max_age) == "number" and max_age > 0), 3,
                  "metrics.serve", "max_age: seconds > 0")
  resolve_entry_points()
  local box, err = ffi.new("struct pktsh_metrics_srv *[1]"), errors.new()
  if C.pktsh_metrics_serve(box, addr, err) ~= 0 then return nil, errors.message(err) end
  local h = ffi.gc(box[0], C.pktsh_metrics_close)
  if max_age then C.pktsh_metrics_max_age(h, max_age) end
  return setmetatable({h = h, reg = reg, err = err}, Srv)
end

-- true when a scrape waits for a fresh snapshot (see opts.max_age), a
-- cheap look for a loop to take between batches; nil, err when the
-- server could not start.
function Srv:wanted()
  if not self.h then return nil, "metrics server closed" end
  local w = C.pktsh_metrics_wanted(self.h, self.err)
  if w < 0 then return nil, errors.message(self.err) end
  return w == 1
end

-- Renders reg (or the registry given to serve) in both formats and
-- makes it what requests get from now on.
function Srv:publish(reg)
  reg = reg or self.reg
  if not self.h then return nil, "metrics server closed" end
  errors.argcheck(type(reg) == "table" and reg.text, 1, "publish", "registry")
  local prom, om = reg:texts()
  if C.pktsh_metrics_publish(self.h, prom, #prom, om, #om, self.err) ~= 0 then
    return nil, errors.message(self.err)
  end
  return true
end

function Srv:info()
  if not self.h then return nil, "metrics server closed" end
  local i = ffi.new("struct pktsh_metrics_info")
  C.pktsh_metrics_info(self.h, i)
  return {addr = ffi.string(i.addr), serving = i.serving == 1, published = tonumber(i.published),
          requests = tonumber(i.requests), scrapes = tonumber(i.scrapes),
          openmetrics = tonumber(i.openmetrics), not_found = tonumber(i.not_found)}
end

function Srv:address() return (self:info() or {}).addr end

function Srv:close()
  if self.h then
    C.pktsh_metrics_close(ffi.gc(self.h, nil))
    self.h = nil
  end
end

function Srv:__tostring()
  local i = self:info()
  if not i then return "metrics server (closed)" end
  return format("metrics server on http://%s/metrics: %d scrapes", i.addr, i.scrapes)
end

return M
