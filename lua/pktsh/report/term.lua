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
--                             replaces the previous one; otherwise printed
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

return M
