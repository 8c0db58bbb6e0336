-- term.lua - the terminal side of reports (module pktsh.report.term):
-- Unicode or ASCII, terminal detection and size, bars, sparklines,
-- numbers, and redrawing a block of lines in place.
--
--   term.style(opts)       -> true for Unicode, false for ASCII: ASCII when
--                             opts.ascii, PKTSH_ASCII is set, TERM is dumb,
--                             or the locale (LC_ALL, LC_CTYPE, LANG) is not UTF-8
--   term.bar(frac, width, unicode)   a bar of frac (0..1) of width cells
--   term.spark(list, unicode)        one cell per value, scaled to the max
--   term.screen(out)       -> s with s:draw(text): on a terminal the block
--                             replaces the previous one, fitted to the
--                             terminal's width and height; otherwise printed
--   term.columns(), term.rows()      the terminal's size (SIGWINCH follows it)
local M = {}

local floor = math.floor
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

local ffi = require "ffi"
local C = ffi.C

-- The file descriptor of fd (a number, io.stdout or io.stderr), or nil.
local function fd_of(fd)
  if fd == nil or fd == io.stdout then return 1 end
  if fd == io.stderr then return 2 end
  return type(fd) == "number" and fd or nil
end

local size_rows, size_cols = ffi.new("int32_t[1]"), ffi.new("int32_t[1]")

-- The size of the terminal at fd: rows, columns; nil if it is not one.
function M.size(fd)
  fd = fd_of(fd)
  if not fd or C.pktsh_term_size(fd, size_rows, size_cols) ~= 0 then return nil end
  return size_rows[0], size_cols[0]
end

-- Is file descriptor fd (default 1, or an io file: stdout/stderr) a terminal?
function M.isatty(fd)
  return M.size(fd) ~= nil
end

-- Terminal width: the terminal's own (it follows a resize), else
-- $COLUMNS, else 80.
function M.columns(fd)
  local _, c = M.size(fd)
  if c and c >= 20 then return c end
  c = tonumber(env("COLUMNS") or "")
  if c and c >= 20 then return c end
  return 80
end

-- Terminal height: the terminal's own, else $LINES, else 24.
function M.rows(fd)
  local r = M.size(fd)
  if r and r >= 5 then return r end
  r = tonumber(env("LINES") or "")
  if r and r >= 5 then return r end
  return 24
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

-- s padded on the left to w cells.
function M.lpad(s, w)
  s = tostring(s)
  local n = M.width(s)
  if n >= w then return s end
  return rep(" ", w - n) .. s
end

-- s padded on the right to w cells.
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

-- text fitted to cols x rows: every line cut to the width (marked), so a
-- line is one screen row, and at most rows - 1 lines (the last row holds
-- the cursor), the first ones kept (reports put their headline counters
-- there) and the cut marked. Returns the text and its row count.
local function fit(text, cols, rows, unicode)
  local lines = {}
  for line in text:gmatch("([^\n]*)\n") do lines[#lines + 1] = M.cut(line, cols, unicode) end
  local room = rows - 1
  if #lines > room then
    local hidden = #lines - (room - 1)
    for i = #lines, room, -1 do lines[i] = nil end
    lines[room] = M.cut(format("%s %d more line%s (the terminal is %d rows high)",
                               unicode and "…" or "...", hidden, hidden == 1 and "" or "s", rows),
                        cols, unicode)
  end
  return concat(lines, "\n") .. "\n", #lines
end

-- Draws a block of text: on a terminal it replaces the block drawn before,
-- fitted to the terminal: cursor up over the rows it took, each line
-- overwritten and cleared to its end, then the rest of the screen cleared
-- (not the whole screen from the top: tmux and others save a screen
-- cleared from its first row into the scrollback, a copy per redraw).
-- After a resize (SIGWINCH) the whole screen is cleared first, since the
-- terminal may have rewrapped the old block. Otherwise the block is
-- printed after the previous one, separated by a blank line.
function Screen:draw(text)
  if text:sub(-1) ~= "\n" then text = text .. "\n" end
  local out = self.out
  if self.tty then
    local rows, cols = M.size(self.fd)
    rows, cols = rows or 24, cols or 80
    local winch = C.pktsh_winch()
    local n
    text, n = fit(text, cols, rows, M.style(self.opts))
    if winch ~= self.winch or rows ~= self.h or cols ~= self.w then
      if self.lines > 0 then out:write("\27[H\27[2J") end
    elseif self.lines > 0 then
      out:write(format("\27[%dA\r", self.lines))
    end
    text = text:gsub("\n", "\27[K\n") .. "\27[J"
    self.winch, self.h, self.w, self.lines = winch, rows, cols, n
  elseif self.drawn then
    out:write("\n")
  end
  out:write(text)
  out:flush()
  self.drawn = true
end

-- Whether the terminal was resized since the last draw (redraw then).
function Screen:resized()
  return self.tty and self.drawn and C.pktsh_winch() ~= self.winch or false
end

-- Forgets the last block, so that the next draw starts below it.
function Screen:keep()
  self.lines = 0
end

-- opts: what term.style takes (ascii = true for the cut marks).
function M.screen(out, tty, opts)
  out = out or io.stdout
  local fd = (out == io.stdout and 1) or (out == io.stderr and 2) or nil
  if tty == nil then tty = fd ~= nil and M.isatty(fd) end
  return setmetatable({out = out, fd = fd or 1, tty = tty, lines = 0, opts = opts}, Screen)
end

return M
