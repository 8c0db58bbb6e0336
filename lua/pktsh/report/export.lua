-- export.lua - reports as files (module pktsh.report.export): CSV and XML
-- escaping, files written safely, standalone SVG bar and line charts.
--
--   export.svg_bars{title=, labels=, values=, notes=} -> a standalone SVG
--   export.svg_line{title=, xs=, ys=, xlabel=, ylabel=} -> a standalone SVG
--   export.svg(obj, o, svg_of) -> what the :svg(o) of hist, topk, rate answer
local term = require "pktsh.report.term"

local M = {}

local floor, max, min = math.floor, math.max, math.min
local format, concat = string.format, table.concat

------------------------------------------------------------------------
-- CSV, XML, files

-- One CSV field (RFC 4180 quoting when needed).
function M.csv(v)
  if v == nil then return "" end
  if type(v) == "number" then return term.num(v) end
  local s = tostring(v)
  if s:find('[,"\r\n]') or s:find("^%s") or s:find("%s$") then
    return '"' .. s:gsub('"', '""') .. '"'
  end
  return s
end

-- One CSV line of the values in list (quoted where CSV needs it).
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

-- What the :svg(o) method of a chart object (hist, topk, rate) answers:
-- o is a table of options or a path; svg_of(obj, o) makes the document.
-- With o.path it is written there and the answer is true or nil, err;
-- else the answer is the document (a string).
function M.svg(obj, o, svg_of)
  if type(o) == "string" then o = {path = o} end
  o = o or {}
  local text = svg_of(obj, o)
  if o.path then return M.write_file(o.path, text) end
  return text
end

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
  for i = 1, n do lw = max(lw, min(48, term.width(tostring(labels[i])))) end
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
    local label = term.cut(labels[i], 48, true)
    out[#out + 1] = format('<text x="%.1f" y="%d" text-anchor="end">%s</text>\n',
                           labelw - 8, y + 13, M.xml(label))
    out[#out + 1] = format('<rect x="%.1f" y="%d" width="%.2f" height="%d" fill="%s">'
                           .. '<title>%s: %s</title></rect>\n',
                           labelw, y + 2, w, row - 4, o.color or "#4878a8",
                           M.xml(label), M.xml(term.num(values[i])))
    out[#out + 1] = format('<text x="%.1f" y="%d">%s%s</text>\n', labelw + w + 6, y + 13,
                           M.xml(term.num(values[i])), notes[i] and (" " .. M.xml(notes[i])) or "")
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
                           L - 6, py(y) + 4, M.xml(term.si(y)))
  end
  out[#out + 1] = format('<text x="%d" y="%d" fill="#555555">%s</text>\n', L, H - 8,
                         M.xml(term.num(x0)))
  out[#out + 1] = format('<text x="%d" y="%d" text-anchor="end" fill="#555555">%s</text>\n',
                         L + pw, H - 8, M.xml(term.num(x1)))
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

return M
