-- pcap.lua - the pcap writer of the capture generators in this folder
-- (microseconds, little-endian): write(path, frames [, linktype]), frames
-- a list of strings or {data =, ts = seconds, len = length on the wire}.
local char = string.char
local rshift = require("bit").rshift

local function le32(x) return char(x % 256, rshift(x, 8) % 256, rshift(x, 16) % 256, rshift(x, 24) % 256) end
local function le16(x) return char(x % 256, rshift(x, 8) % 256) end

local function write(path, frames, linktype)
  local f = assert(io.open(path, "wb"))
  f:write(le32(0xa1b2c3d4), le16(2), le16(4), le32(0), le32(0), le32(65535), le32(linktype or 1))
  for i, fr in ipairs(frames) do
    local d = type(fr) == "table" and fr.data or fr
    local ts = type(fr) == "table" and fr.ts or 1700000000 + i + i / 1000
    local sec = math.floor(ts)
    f:write(le32(sec), le32(math.floor((ts - sec) * 1e6 + 0.5)), le32(#d),
            le32(type(fr) == "table" and fr.len or #d), d)
  end
  f:close()
end

return {write = write}
