-- lib.lua - what the capture generators in this folder share:
--   write(path, frames [, linktype [, snaplen]])  a pcap file (microseconds,
--       little-endian; snaplen 65535 unless given), frames a list of
--       strings or {data =, ts = seconds, len = length on the wire}
--   dns(id, flags, name, an)  a DNS message: one question (name, A, IN),
--       an A records pointing at it (198.18.9.i), no other records
--   collector()  frames, add: add(f [, snap]) appends frame f to frames,
--       0.01 s after the one before, cut to snap bytes when given
--   tcp_seg(o)  seg(from_client, flags, data, seq): an IPv4 TCP segment
--       between o.client:o.cport and o.server:o.sport appended to
--       o.frames() (0.01 s after the one before), acknowledging what
--       o.acks() returns (the client's next seq, the server's); cut to
--       o.snap bytes when given
local char = string.char
local rshift = require("bit").rshift

local function le32(x) return char(x % 256, rshift(x, 8) % 256, rshift(x, 16) % 256, rshift(x, 24) % 256) end
local function le16(x) return char(x % 256, rshift(x, 8) % 256) end

local function write(path, frames, linktype, snaplen)
  local f = assert(io.open(path, "wb"))
  f:write(le32(0xa1b2c3d4), le16(2), le16(4), le32(0), le32(0), le32(snaplen or 65535),
          le32(linktype or 1))
  for i, fr in ipairs(frames) do
    local d = type(fr) == "table" and fr.data or fr
    local ts = type(fr) == "table" and fr.ts or 1700000000 + i + i / 1000
    local sec = math.floor(ts)
    f:write(le32(sec), le32(math.floor((ts - sec) * 1e6 + 0.5)), le32(#d),
            le32(type(fr) == "table" and fr.len or #d), d)
  end
  f:close()
end

local function u16(v) return char(rshift(v, 8) % 256, v % 256) end

local function dns(id, flags, name, an)
  local q = {}
  for label in name:gmatch("[^.]+") do q[#q + 1] = char(#label) .. label end
  local m = u16(id) .. u16(flags) .. u16(1) .. u16(an) .. u16(0) .. u16(0) ..
            table.concat(q) .. "\0" .. u16(1) .. u16(1)
  for i = 1, an do
    m = m .. "\192\12" .. u16(1) .. u16(1) .. "\0\0\14\16" .. u16(4) .. char(198, 18, 9, i % 256)
  end
  return m
end

local function collector()
  local frames = {}
  return frames, function(f, snap)
    frames[#frames + 1] = {data = snap and f:sub(1, snap) or f, len = #f,
                           ts = 1700000000 + #frames / 100}
  end
end

local function tcp_seg(o)
  return function(from_client, flags, data, seq)
    local cseq, sseq = o.acks()
    local t = from_client and {src = o.client, dst = o.server, sport = o.cport, dport = o.sport,
                               seq = seq, ack = sseq}
                           or {src = o.server, dst = o.client, sport = o.sport, dport = o.cport,
                               seq = seq, ack = cseq}
    t.flags, t.payload = flags, data or ""
    local f, frames = pktsh.build.tcp4(t), o.frames()
    frames[#frames + 1] = {data = o.snap and f:sub(1, o.snap) or f, len = #f,
                           ts = 1700000000 + #frames / 100}
  end
end

return {write = write, dns = dns, collector = collector, tcp_seg = tcp_seg}
