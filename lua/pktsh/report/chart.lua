-- chart.lua - what pktsh.hist, pktsh.topk and pktsh.rate share: bars and
-- sparklines in Unicode or ASCII, terminal detection, redrawing a block of
-- lines in place, CSV and XML escaping, SVG bar and line charts, and a
-- merge that knows the charts' plain-table states.
--
--   chart.style(opts)       -> true for Unicode, false for ASCII: ASCII when
--                              opts.ascii, PKTSH_ASCII is set, TERM is dumb,
--                              or the locale (LC_ALL, LC_CTYPE, LANG) is not UTF-8
--   chart.bar(frac, width, unicode)   a bar of frac (0..1) of width cells
--   chart.spark(list, unicode)        one cell per value, scaled to the max
--   chart.screen(out)       -> s with s:draw(text): on a terminal the block
--                              replaces the previous one; otherwise printed
--   chart.svg_bars{title=, labels=, values=, notes=} -> a standalone SVG
--   chart.svg_line{title=, xs=, ys=, xlabel=, ylabel=} -> a standalone SVG
--   chart.merge(a, b)       -> states of the same kind merged (hist, topk,
--                              rate by their own rules, numbers added,
--                              tables key by key): pktsh.parallel's opts.merge
local M = {}

local floor, max, min = math.floor, math.max, math.min
local format, rep, concat = string.format, string.rep, table.concat

------------------------------------------------------------------------
-- The terminal

local function env(name)
  local v = os.getenv(name)
  if v == "" then return nil end
  return v
end

-- Unicode (true) or ASCII (false) for this output.
function M.style(opts)
  if opts then
    if opts.ascii then return false end
    if opts.unicode then return true end
  end
  if env("PKTSH_ASCII") then return false end
  if env("TERM") == "dumb" then return false end
  local loc = env("LC_ALL") or env("LC_CTYPE") or env("LANG") or ""
  local l = loc:lower()
  return l:find("utf%-?8") ~= nil
end

local ffi
local have_tty
local function tty_init()
  if have_tty ~= nil then return have_tty end
  ffi = require "ffi"
  have_tty = pcall(ffi.cdef, [[
    int isatty(int fd);
    struct pktsh_chart_winsize { unsigned short row, col, xpixel, ypixel; };
    int ioctl(int fd, unsigned long request, ...);
  ]])
  if not have_tty then
    -- already declared by someone: check that calls work
    have_tty = pcall(function() return ffi.C.isatty(1) end)
  end
  return have_tty
end

-- Is file descriptor fd (default 1, or an io file: stdout/stderr) a terminal?
function M.isatty(fd)
  if fd == nil or fd == io.stdout then fd = 1 elseif fd == io.stderr then fd = 2 end
  if type(fd) ~= "number" then return false end
  if not tty_init() then return false end
  return ffi.C.isatty(fd) == 1
end

-- Terminal width: $COLUMNS, the terminal's own size, else 80.
function M.columns(fd)
  local c = tonumber(env("COLUMNS") or "")
  if c and c >= 20 then return c end
  if M.isatty(fd or 1) then
    local ws = ffi.new("struct pktsh_chart_winsize")
    if ffi.C.ioctl(fd or 1, 0x5413, ws) == 0 and ws.col >= 20 then return ws.col end
  end
  return 80
end

------------------------------------------------------------------------
-- Bars, sparklines, numbers

local EIGHTHS = {"▏", "▎", "▍", "▌", "▋", "▊", "▉"}
local FULL = "█"
local SPARKS = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}
local ASPARKS = {"_", ".", "-", ":", "=", "+", "*", "#"}

-- A horizontal bar: frac of width cells, in eighths of a cell with Unicode.
-- A non-zero frac always shows something.
function M.bar(frac, width, unicode)
  if frac ~= frac or frac <= 0 then return "" end
  if frac > 1 then frac = 1 end
  if not unicode then
    local n = floor(frac * width + 0.5)
    if n == 0 then return "." end
    return rep("#", n)
  end
  local e = floor(frac * width * 8 + 0.5)
  if e == 0 then e = 1 end
  local s = rep(FULL, floor(e / 8))
  local r = e % 8
  if r > 0 then s = s .. EIGHTHS[r] end
  return s
end

-- A sparkline: one cell per value, scaled from 0 (or lo) to the max (or hi).
function M.spark(list, unicode, lo, hi)
  local cells = unicode and SPARKS or ASPARKS
  lo = lo or 0
  if not hi then
    hi = lo
    for i = 1, #list do if list[i] > hi then hi = list[i] end end
  end
  local out = {}
  for i = 1, #list do
    local v = list[i]
    local k
    if hi <= lo then k = (v > lo) and 8 or 1
    else k = floor((v - lo) / (hi - lo) * 7 + 0.5) + 1 end
    if k < 1 then k = 1 elseif k > 8 then k = 8 end
    out[i] = cells[k]
  end
  return concat(out)
end

-- Display width of a string (UTF-8 code points; every one is one cell here).
function M.width(s)
  local _, n = s:gsub("[^\128-\191]", "")
  return n
end

function M.lpad(s, w)
  s = tostring(s)
  local n = M.width(s)
  if n >= w then return s end
  return rep(" ", w - n) .. s
end

function M.rpad(s, w)
  s = tostring(s)
  local n = M.width(s)
  if n >= w then return s end
  return s .. rep(" ", w - n)
end

-- Cuts s to w cells, marking the cut.
function M.cut(s, w, unicode)
  s = tostring(s)
  if M.width(s) <= w then return s end
  local mark = unicode and "…" or "~"
  local out, n = {}, 0
  for ch in s:gmatch("[%z\1-\127\192-\255][\128-\191]*") do
    if n >= w - 1 then break end
    out[#out + 1] = ch
    n = n + 1
  end
  return concat(out) .. mark
end

-- A number for a table cell: integers exactly, others with 3 significant digits.
function M.num(v)
  if v == nil then return "-" end
  if v ~= v then return "nan" end
  if v == floor(v) and math.abs(v) < 1e15 then return format("%d", v) end
  if math.abs(v) >= 100 then return format("%.0f", v) end
  return format("%.3g", v)
end

-- A number with an SI suffix (1.2k, 34M), for axes and rates.
function M.si(v)
  local a = math.abs(v)
  if a < 1000 then return M.num(floor(v * 100 + 0.5) / 100) end
  local units = {"k", "M", "G", "T", "P"}
  local i = 0
  while a >= 1000 and i < #units do a = a / 1000; v = v / 1000; i = i + 1 end
  return format(a < 10 and "%.1f%s" or "%.0f%s", v, units[i])
end

------------------------------------------------------------------------
-- Redrawing in place

local Screen = {}
Screen.__index = Screen

-- Draws a block of text: on a terminal it replaces the block drawn before
-- (cursor up, clear to the end of the screen); otherwise it is printed
-- after the previous one, separated by a blank line.
function Screen:draw(text)
  if text:sub(-1) ~= "\n" then text = text .. "\n" end
  local out = self.out
  if self.tty then
    if self.lines > 0 then out:write(format("\27[%dA\r\27[J", self.lines)) end
    local _, n = text:gsub("\n", "")
    self.lines = n
  elseif self.drawn then
    out:write("\n")
  end
  out:write(text)
  out:flush()
  self.drawn = true
end

-- Forgets the last block, so that the next draw starts below it.
function Screen:keep()
  self.lines = 0
end

function M.screen(out, tty)
  out = out or io.stdout
  if tty == nil then
    tty = (out == io.stdout and M.isatty(1)) or (out == io.stderr and M.isatty(2)) or false
  end
  return setmetatable({out = out, tty = tty, lines = 0}, Screen)
end

------------------------------------------------------------------------
-- CSV, XML, files

-- One CSV field (RFC 4180 quoting when needed).
function M.csv(v)
  if v == nil then return "" end
  if type(v) == "number" then return M.num(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

function M.csv_line(list)
  local t = {}
  for i = 1, #list do t[i] = M.csv(list[i]) end
  return concat(t, ",") .. "\n"
end

-- Text for XML character data and attribute values. Control bytes that
-- XML 1.0 forbids become U+FFFD; invalid UTF-8 bytes too.
function M.xml(s)
  s = tostring(s)
  s = s:gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
                          ['"'] = "&quot;", ["'"] = "&apos;"})
  s = s:gsub("[%z\1-\8\11\12\14-\31\127]", "\239\191\189")
  -- keep well-formed UTF-8 sequences, replace stray bytes
  local out, i, n = {}, 1, #s
  while i <= n do
    local c = s:byte(i)
    local len = c < 0x80 and 1 or (c >= 0xc2 and c < 0xe0) and 2 or
                (c >= 0xe0 and c < 0xf0) and 3 or (c >= 0xf0 and c < 0xf5) and 4 or 0
    local ok = len > 0 and i + len - 1 <= n
    if ok then
      for k = i + 1, i + len - 1 do
        local b = s:byte(k)
        if b < 0x80 or b > 0xbf then ok = false; break end
      end
    end
    if ok then out[#out + 1] = s:sub(i, i + len - 1); i = i + len
    else out[#out + 1] = "\239\191\189"; i = i + 1 end
  end
  return concat(out)
end

-- Writes text to path ("-" for standard output): true or nil, err. The
-- file is opened as the pcap writer opens its own (src/outfile.c): never
-- through a symbolic link someone planted at the path.
function M.write_file(path, text)
  if path == "-" then io.stdout:write(text); io.stdout:flush(); return true end
  local errors = require "pktsh.host.errors"
  local err = errors.new()
  if require("ffi").C.pktsh_output_write(path, text, #text, err) ~= 0 then
    return nil, errors.message(err)
  end
  return true
end

------------------------------------------------------------------------
-- SVG

local SVG_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'
  .. '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
  .. 'viewBox="0 0 %d %d" font-family="monospace" font-size="12">\n'
  .. '<rect width="100%%" height="100%%" fill="#ffffff"/>\n'

-- A horizontal bar chart: one row per label. notes (optional) are shown
-- after each value (percentages, error bounds).
function M.svg_bars(o)
  local labels, values, notes = o.labels or {}, o.values or {}, o.notes or {}
  local n = #labels
  local lw = 8
  for i = 1, n do lw = max(lw, min(48, M.width(tostring(labels[i])))) end
  local row, top = 18, o.title and 34 or 10
  local labelw = lw * 7.2 + 16
  local barw = o.bar_width or 480
  local W = floor(labelw + barw + 200)
  local H = top + n * row + 24
  local vmax = 0
  for i = 1, n do if values[i] > vmax then vmax = values[i] end end
  local out = {format(SVG_HEAD, W, H, W, H)}
  if o.title then
    out[#out + 1] = format('<text x="10" y="20" font-size="14" font-weight="bold">%s</text>\n',
                           M.xml(o.title))
  end
  for i = 1, n do
    local y = top + (i - 1) * row
    local w = vmax > 0 and values[i] / vmax * barw or 0
    local label = M.cut(labels[i], 48, true)
    out[#out + 1] = format('<text x="%.1f" y="%d" text-anchor="end">%s</text>\n',
                           labelw - 8, y + 13, M.xml(label))
    out[#out + 1] = format('<rect x="%.1f" y="%d" width="%.2f" height="%d" fill="%s">'
                           .. '<title>%s: %s</title></rect>\n',
                           labelw, y + 2, w, row - 4, o.color or "#4878a8",
                           M.xml(label), M.xml(M.num(values[i])))
    out[#out + 1] = format('<text x="%.1f" y="%d">%s%s</text>\n', labelw + w + 6, y + 13,
                           M.xml(M.num(values[i])), notes[i] and (" " .. M.xml(notes[i])) or "")
  end
  if o.footer then
    out[#out + 1] = format('<text x="10" y="%d" fill="#555555">%s</text>\n', H - 8, M.xml(o.footer))
  end
  out[#out + 1] = "</svg>\n"
  return concat(out)
end

-- A line (with area) chart of ys over xs.
function M.svg_line(o)
  local xs, ys = o.xs or {}, o.ys or {}
  local n = #ys
  local W, H = o.width or 720, o.height or 260
  local L, R, T, B = 64, 16, o.title and 34 or 12, 36
  local pw, ph = W - L - R, H - T - B
  local ymax = 0
  for i = 1, n do if ys[i] > ymax then ymax = ys[i] end end
  if ymax == 0 then ymax = 1 end
  local x0, x1 = xs[1] or 0, xs[n] or 1
  if x1 <= x0 then x1 = x0 + 1 end
  local function px(x) return L + (x - x0) / (x1 - x0) * pw end
  local function py(y) return T + ph - y / ymax * ph end
  local out = {format(SVG_HEAD, W, H, W, H)}
  if o.title then
    out[#out + 1] = format('<text x="10" y="20" font-size="14" font-weight="bold">%s</text>\n',
                           M.xml(o.title))
  end
  out[#out + 1] = format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888888"/>\n',
                         L, T + ph, L + pw, T + ph)
  out[#out + 1] = format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888888"/>\n',
                         L, T, L, T + ph)
  for k = 0, 4 do
    local y = ymax * k / 4
    out[#out + 1] = format('<text x="%d" y="%.1f" text-anchor="end" fill="#555555">%s</text>\n',
                           L - 6, py(y) + 4, M.xml(M.si(y)))
  end
  out[#out + 1] = format('<text x="%d" y="%d" fill="#555555">%s</text>\n', L, H - 8,
                         M.xml(M.num(x0)))
  out[#out + 1] = format('<text x="%d" y="%d" text-anchor="end" fill="#555555">%s</text>\n',
                         L + pw, H - 8, M.xml(M.num(x1)))
  if o.xlabel then
    out[#out + 1] = format('<text x="%d" y="%d" text-anchor="middle" fill="#555555">%s</text>\n',
                           L + pw / 2, H - 8, M.xml(o.xlabel))
  end
  if n > 0 then
    local pts = {}
    for i = 1, n do pts[i] = format("%.1f,%.1f", px(xs[i] or i), py(ys[i])) end
    out[#out + 1] = format('<polygon points="%.1f,%.1f %s %.1f,%.1f" fill="#4878a8" '
                           .. 'fill-opacity="0.25" stroke="none"/>\n',
                           px(xs[1] or 1), py(0), concat(pts, " "), px(xs[n] or n), py(0))
    out[#out + 1] = format('<polyline points="%s" fill="none" stroke="#4878a8" '
                           .. 'stroke-width="1.5"/>\n', concat(pts, " "))
  end
  out[#out + 1] = "</svg>\n"
  return concat(out)
end


------------------------------------------------------------------------
-- Keys: chart.by.NAME(pkt) -> a value to count, or nil when the packet has
-- none (the REPL's global `by`). by_hint[fn] tells hist its name and
-- whether log bins suit it.

local PROTO_NAMES = {[1] = "icmp", [2] = "igmp", [6] = "tcp", [17] = "udp", [47] = "gre",
  [50] = "esp", [51] = "ah", [58] = "icmp6", [132] = "sctp"}
M.proto_names = PROTO_NAMES

local by = {}
local by_hint = setmetatable({}, {__mode = "k"})
local by_doc = {}
M.by, M.by_hint = by, by_hint

local function key(name, doc, fn, hint)
  by[name] = fn
  hint = hint or {}
  hint.name = name
  by_hint[fn] = hint
  by_doc[#by_doc + 1] = {name, doc}
end

-- The DNS question of a packet on port 53/5353/5355 (UDP, or TCP with the
-- whole message in the segment): qname, qtype, rcode, or nil.
local dns
local function question(p)
  local proto = p:proto()
  if proto ~= 17 and proto ~= 6 then return nil end
  local sp, dp = p:ports()
  if not (sp == 53 or dp == 53 or sp == 5353 or dp == 5353 or sp == 5355 or dp == 5355) then
    return nil
  end
  local off, len = p:payload()
  if not off then return nil end
  if proto == 6 then
    if len < 2 then return nil end
    local mlen = p.data[off] * 256 + p.data[off + 1]
    off, len = off + 2, math.min(len - 2, mlen)
  end
  dns = dns or require "pktsh.proto.dns"
  local id, flags, rcode, qname, qtype = dns.question(p.data + off, len)
  if not id then return nil end
  return qname, qtype, rcode, flags
end
M.question = question

key("src", "source IP address (text)", function(p)
  local ip = p:ip(); return ip and tostring(ip.src) end)
key("dst", "destination IP address (text)", function(p)
  local ip = p:ip(); return ip and tostring(ip.dst) end)
key("sport", "TCP/UDP source port", function(p) local s = p:ports(); return s end)
key("dport", "TCP/UDP destination port", function(p) local _, d = p:ports(); return d end)
key("port", "the lower of the two TCP/UDP ports (the service, usually)", function(p)
  local s, d = p:ports(); if not s then return nil end; return s < d and s or d end)
key("proto", "transport protocol name (tcp, udp, icmp, icmp6, or the number)", function(p)
  local n = p:proto(); if not n then return nil end; return PROTO_NAMES[n] or n end)
key("len", "wire length in bytes (log2 bins)", function(p) return p.len end, {log = true})
key("caplen", "captured length in bytes (log2 bins)", function(p) return p.caplen end, {log = true})
key("vlan", "outer VLAN id", function(p) return p:vlan_id(1) end)
key("ttl", "IPv4 TTL or IPv6 hop limit", function(p) local ip = p:ip(); return ip and ip.ttl end)
key("ipver", "IP version (4 or 6)", function(p)
  if p:ip4() then return 4 elseif p:ip6() then return 6 end end)
key("flow", "\"src:sport > dst:dport proto\"", function(p)
  local ip = p:ip(); if not ip then return nil end
  local s, d = p:ports()
  if s then return string.format("%s:%d > %s:%d", tostring(ip.src), s, tostring(ip.dst), d) end
  return tostring(ip.src) .. " > " .. tostring(ip.dst)
end)
key("pair", "the two addresses, in sorted order (a conversation)", function(p)
  local ip = p:ip(); if not ip then return nil end
  local a, b = tostring(ip.src), tostring(ip.dst)
  if b < a then a, b = b, a end
  return a .. " <> " .. b
end)
key("qname", "DNS question name, lower case", function(p) return (question(p)) end)
key("qtype", "DNS question type name (A, AAAA, ...)", function(p)
  local _, t = question(p); if not t then return nil end
  return dns.type_name(t) end)
key("rcode", "DNS response code name of responses (NOERROR, NXDOMAIN, ...)", function(p)
  local _, _, r, flags = question(p)
  if not flags or flags < 0x8000 then return nil end
  return dns.rcode_name(r)
end)

-- "src, dst, ..." for messages.
function M.by_names()
  local t = {}
  for _, d in ipairs(by_doc) do t[#t + 1] = d[1] end
  return concat(t, ", ")
end

function M.by_list()
  local t = {}
  for _, d in ipairs(by_doc) do t[#t + 1] = d[1] end
  return t
end

-- One line per key, for help(by).
function M.by_help()
  local t = {"by.NAME(pkt) -> a value to count (nil: the packet has none); hist and top take them:"}
  for _, d in ipairs(by_doc) do t[#t + 1] = format("  by.%-7s %s", d[1], d[2]) end
  t[#t + 1] = "  any function of a packet works too: hist(src, function(p) return p.len % 64 end)"
  return concat(t, "\n")
end

------------------------------------------------------------------------
-- Help texts for the globals hist, top, rate and by (install_globals in
-- init.lua calls this before the first help()).

local documented = false
function M.document(g)
  if documented then return end
  documented = true
  local repl = require "pktsh.host.repl"
  local common = [[
  src: a source, or a file or interface name to open
  key: a function of a packet (by.NAME) or a key name ("dport")
  opts.seconds  stop after this long (live: wall clock; a file: packet time)
  opts.weight = "bytes"   count bytes, not packets
  opts.ascii    ASCII bars (also when the locale is not UTF-8, or TERM=dumb)
  opts.quiet    draw nothing; opts.rows  rows shown
  On a terminal the chart is redrawn in place while it runs.]]
  local hist_text = [[
hist(src, key [, opts]) -> histogram (pktsh.hist), drawn as it fills
  hist(open"eth0", by.dport, {seconds = 10})
  hist("f.pcap", by.len)            -- log2 bins (by.len suggests them)
  hist("f.pcap", by.len, {width = 100})   -- linear bins of 100
]] .. common .. [[

  opts.log / width / lo / sub   log2 bins / linear bins (see pktsh.hist)
  opts.window = S   one histogram per S seconds of packet time, each drawn
  result: h:render() h:json() h:csv() h:svg("h.svg") h:quantile(0.99)
          pktsh.hist.merge(a, b) merges workers' histograms]]
  local top_text = [[
top(src, key [, opts]) -> top-k table (pktsh.topk, space-saving), drawn as it fills
  top(open"f.pcap", by.src)
  top("eth0", by.qname, {seconds = 30, rows = 20})
]] .. common .. [[

  opts.capacity  counters kept (default 1000): counts are upper bounds,
                 over by at most err <= n / capacity (shown as ±err)
  result: t:top(10) t:render() t:json() t:csv() t:svg("t.svg")]]
  local rate_text = [[
rate(src [, opts]) -> packets and bytes per interval (pktsh.rate), as sparklines
  rate(open"eth0", {seconds = 60, interval = 1})
  opts.interval (seconds, default 1), seconds, quiet, ascii
  result: r:series() r:render() r:json() r:csv() r:svg("r.svg")]]
  if g.hist then repl.doc(g.hist, hist_text) end
  if g.top then repl.doc(g.top, top_text) end
  if g.rate then repl.doc(g.rate, rate_text) end
  if type(rawget(g, "by")) == "table" then repl.doc(rawget(g, "by"), M.by_help()) end
  repl.doc("hist", hist_text)
  repl.doc("top", top_text)
  repl.doc("rate", rate_text)
  repl.doc("by", M.by_help())
end

------------------------------------------------------------------------
-- Merging plain-table states

local kinds = {hist = "pktsh.report.hist", topk = "pktsh.report.topk", rate = "pktsh.report.rate",
               metrics = "pktsh.report.metrics"}

-- Merges b into a and returns a. States of pktsh.hist, pktsh.topk and
-- pktsh.rate (tables whose `chart` field names their kind) merge by their
-- module's rule; numbers add; other tables merge key by key; equal
-- strings and booleans stay. Usable as pktsh.parallel's opts.merge.
function M.merge(a, b)
  if a == nil then return b end
  if b == nil then return a end
  local ta, tb = type(a), type(b)
  if ta == "number" and tb == "number" then return a + b end
  if ta == "table" and tb == "table" then
    local kind = a.chart
    if kind and kinds[kind] and b.chart == kind then
      return require(kinds[kind]).merge(a, b)
    end
    for k, v in pairs(b) do a[k] = M.merge(a[k], v) end
    return a
  end
  if a == b then return a end
  error(format("cannot merge %s and %s", tostring(a), tostring(b)), 0)
end

-- The loop of the one-liners: each(p) for every packet of src during
-- `seconds` (nil: to the end; wall clock on a live source, capture time
-- on a file), and tick() at most every `refresh` seconds, between
-- batches. Returns the error that ended the input, or nil.
function M.drive(src, seconds, refresh, each, tick)
  local C = require("ffi").C
  local live = src.kind == "live"
  local saved = src.deadline
  if live and seconds then src.deadline = C.pktsh_mono_ns() + seconds * 1e9 end
  local last, t_end, err = C.pktsh_mono_ns(), nil, nil
  local stop = false
  while not stop do
    local b, e = src:next()
    if not b then err = e; break end
    local pkts = b.pkt
    for i = 0, b.count - 1 do
      local p = pkts[i]
      if not live and seconds then
        local ts = tonumber(p.ts)
        t_end = t_end or ts + seconds * 1e9
        if ts >= t_end then stop = true; break end
      end
      each(p)
    end
    if tick and refresh > 0 then
      local now = C.pktsh_mono_ns()
      if now - last >= refresh * 1e9 then tick(); last = now end
    end
  end
  if live then src.deadline = saved end
  return err
end

-- The REPL's one-liners (hist, top, rate) take a source or the name of a
-- capture file or interface: run(src, ...) behind that.
function M.with_source(run)
  return function(src, ...)
    if type(src) == "string" then
      local s, err = require("pktsh").open(src)
      if not s then return nil, err end
      src = s
    end
    return run(src, ...)
  end
end

return M
