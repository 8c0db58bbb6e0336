-- rotate.lua - tcpdump's -w with -G, -C and -W: a writer that moves on
-- to a new file every so many seconds or bytes (pktsh.pcap_rotate).
--
--   local r = pktsh.pcap_rotate("dns-%Y%m%d-%H%M%S.pcap", {seconds = 3600,
--     size = 100e6, files = 24, linktype = src.linktype, format = "pcapng"})
--   r:write(pkt)     -> true; nil, err; or false, "Maximum file limit reached: 24"
--   r:close()        -> true or nil, err
--   r.names          -- every file name opened, in order
--
-- As tcpdump names them: with `seconds` (-G) the pattern goes through
-- strftime (local time) at the start of each file; with `size` (-C, in
-- bytes: a file that has grown past it is closed before the next packet)
-- the files are numbered: NAME, NAME1, NAME2, ... or, with `files` (-W),
-- NAME0 .. NAME(W-1) padded to W's digits, reused in a ring. With
-- `seconds` alone, `files` ends the capture after that many files.
-- One difference: the seconds are the packets' time stamps, not the
-- clock's, so a capture file splits by when its packets were captured
-- (for a live capture the two agree). opts.start (seconds since the
-- epoch) names and opens the first file at once, as tcpdump does for a
-- live capture; without it the first packet's time does.
-- Every other option goes to pktsh.pcap_writer for each file.
local writer = require "pktsh.source.writer"

local M = {}
local Rotator = {}
Rotator.__index = Rotator
Rotator.__fields = {"write", "flush", "count", "close", "names", "path"}

-- The digits -W N needs for file numbers 0 .. N-1 (tcpdump's getWflagChars).
local function digits(w)
  local c = 0
  w = (w or 0) - 1
  while w > 0 do c, w = c + 1, math.floor(w / 10) end
  return c
end

function Rotator:name(count, chars)
  local base = self.seconds and os.date(self.path, self.gtime) or self.path
  if count == 0 and chars == 0 then return base end
  return base .. string.format("%0" .. math.max(chars, 1) .. "d", count)
end

function Rotator:open_file(count, chars)
  local name = self:name(count, chars)
  local w, err = writer.open(name, self.opts)
  if not w then return nil, err end
  self.cur = w
  self.names[#self.names + 1] = name
  return true
end

function Rotator:close_file()
  local w = self.cur
  self.cur = nil
  self.done = self.done + w:count()
  return w:close()
end

-- Before a packet of time t: a new file when -G's time is up, or -C's size.
function Rotator:turn(t)
  local chars = self.size and self.chars or 0
  if self.seconds and t - self.gtime >= self.seconds then
    self.gtime, self.gcount = t, self.gcount + 1
    local ok, err = self:close_file()
    if not ok then return nil, err end
    if not self.size and self.files and self.gcount >= self.files then
      self.limit = string.format("Maximum file limit reached: %d", self.files)
      return false, self.limit
    end
    self.ccount = 0
    return self:open_file(0, chars)
  end
  if self.size and self.cur:size() > self.size then
    local ok, err = self:close_file()
    if not ok then return nil, err end
    self.ccount = self.ccount + 1
    if self.files and self.ccount >= self.files then self.ccount = 0 end
    return self:open_file(self.ccount, self.chars)
  end
  return true
end

function Rotator:write(p, o)
  if self.closed then return nil, "writer is closed" end
  if self.limit then return false, self.limit end
  local t = math.floor(tonumber(p.ts) / 1e9)
  if not self.cur then
    self.gtime = self.gtime or t
    local ok, err = self:open_file(0, self.size and self.chars or 0)
    if not ok then return nil, err end
  else
    local ok, err = self:turn(t)
    if not ok then return ok, err end
  end
  return self.cur:write(p, o)
end

function Rotator:flush()
  if self.cur then return self.cur:flush() end
  return true
end

function Rotator:count()
  return self.done + (self.cur and self.cur:count() or 0)
end

-- Closes the last file; a capture that had no packet still leaves one.
function Rotator:close()
  if self.closed then return true end
  if not self.cur and #self.names == 0 then
    self.gtime = self.gtime or os.time()
    local ok, err = self:open_file(0, self.size and self.chars or 0)
    if not ok then self.closed = true; return nil, err end
  end
  self.closed = true
  if self.cur then return self:close_file() end
  return true
end

-- pattern: the -w name; opts: seconds, size (bytes), files, start, and
-- pcap_writer's options. The rotator, or nil, err.
function M.new(pattern, opts)
  opts = opts or {}
  for _, k in ipairs{"seconds", "size", "files"} do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v <= 0 or v % 1 ~= 0) then
      return nil, string.format("%s must be a whole number > 0, not %s", k, tostring(v))
    end
  end
  local r = setmetatable({path = pattern, opts = opts, seconds = opts.seconds,
    size = opts.size, files = opts.files, chars = digits(opts.files),
    gtime = opts.start and math.floor(opts.start), gcount = 0, ccount = 0,
    done = 0, names = {}}, Rotator)
  if opts.start then
    local ok, err = r:open_file(0, r.size and r.chars or 0)
    if not ok then return nil, err end
  end
  return r
end

return M
