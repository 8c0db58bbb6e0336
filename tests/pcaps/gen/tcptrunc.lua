-- tcptrunc.lua - writes the generated capture of DNS over TCP cut by a
-- small snaplen (issue 12, "truncated frames", over TCP) into OUTDIR:
--
--   build/pktsh tests/pcaps/gen/tcptrunc.lua tests/pcaps
--
--   gen__dns-tcp-snaplen.pcap  one connection captured at a snaplen of
--       SNAP bytes (every frame cut to it, its length on the wire whole;
--       the sequence space is whole, only captured bytes are short):
--       segments of several queries each, cut inside a question, inside
--       a header, inside a length prefix, right after a prefix, and at a
--       message boundary (whole messages lost in the cut); responses
--       whole, cut, spanning segments (whole, cut in the first segment,
--       cut after a first whole segment) and a segment that ends one cut
--       message and begins the next
--
-- Oracle: tshark's decode (tests/pcaps/gen/oracle.sh).
local b = pktsh.build
local u16 = b.u16
local lib = dofile("tests/pcaps/gen/lib.lua")

local dir = assert(arg[1], "usage: tcptrunc.lua OUTDIR")

local SNAP = 160                      -- 54 bytes of headers: 106 of TCP payload
local C, S = "198.18.1.10", "198.18.1.53"
local CP, SP = 40200, 53
local cseq, sseq = 7000, 900000

local frames = {}
local seg = lib.tcp_seg{client = C, server = S, cport = CP, sport = SP, snap = SNAP,
                        acks = function() return cseq, sseq end,
                        frames = function() return frames end}

-- A message with its length prefix, n bytes long with it: a query (or a
-- response with an answers) whose name is sized to fit.
local id = 0
local function msg(n, flags, an)
  id = id + 1
  local k = n - 20 - 16 * (an or 0)          -- prefix 2, header 12, name k + 2, 4
  assert(k >= 3, "message too short")
  local name = ("m" .. id .. "." .. string.rep("x", k)):sub(1, k - 4) .. ".com"
  local m = lib.dns(id, flags or 0x0100, name, an or 0)
  assert(#m + 2 == n)
  return u16(#m) .. m
end

-- The client's segments, each written at once: lists of message sizes.
local function client(sizes)
  local t = {}
  for i, n in ipairs(sizes) do t[i] = msg(n) end
  local data = table.concat(t)
  seg(true, "PA", data, cseq)
  cseq = cseq + #data
end

-- The server's stream, written in segments of at most size bytes, or
-- of the sizes listed.
local function server(data, size)
  local p = 1
  for i = 1, math.huge do
    if p > #data then break end
    local n = type(size) == "table" and size[i] or size
    seg(false, "PA", data:sub(p, p + n - 1), sseq + p - 1)
    p = p + n
  end
  sseq = sseq + #data
end

local function resp(n, rcode, an) return msg(n, 0x8180 + (rcode or 0), an) end

local function start()
  seg(true, "S", nil, cseq - 1)
  seg(false, "SA", nil, sseq - 1)
  seg(true, "A", nil, cseq)
end

local function fin()
  seg(true, "FA", nil, cseq)
  seg(false, "FA", nil, sseq)
end

start()

client{30, 30, 30, 40}       -- three whole, the 4th cut in its question
client{50, 50, 40, 40}       -- the 3rd cut in its header (4 bytes), the 4th lost
client{35, 35, 35, 40}       -- the 4th cut inside its length prefix
client{53, 53, 40}           -- cut at a message boundary: the 3rd lost
client{52, 52, 40}           -- cut right after the 3rd one's prefix
client{34, 34}               -- whole

server(resp(40), 1000)                                  -- whole
server(resp(34 + 16 * 5, 3, 5), 1000)                   -- cut in its answers
server(resp(50) .. resp(90, 2, 3), 1000)                -- the 2nd cut in its question
server(resp(36 + 16 * 10, 0, 10), 100)                  -- spans 2 whole segments
server(resp(45), 1000)                                  -- whole
fin()
lib.write(dir .. "/gen__dns-tcp-snaplen.pcap", frames, 1, SNAP)

-- The same connection (its handshake and first query) where cut
-- messages go on in the next segments.
frames, cseq, sseq = {}, 7000, 900000
start()
client{30}
server(resp(40), 1000)                                  -- whole
server(resp(34 + 16 * 60, 3, 60) .. resp(50) .. resp(50), 300)
-- a large NXDOMAIN cut in its answers, its next two segments passed
-- over; the 4th ends it and cuts the next response (10 bytes), the
-- third is lost in that cut
server(resp(60), 1000)                                  -- back in step
server(resp(160, 2, 8) .. resp(80, 5), {100, 140})      -- 2nd segment: the end, then a cut
server(resp(36 + 16 * 17, 0, 17), {100, 150, 58})       -- whole, cut, passed over
server(resp(45), 1000)                                  -- whole
fin()
lib.write(dir .. "/gen__dns-tcp-snaplen-span.pcap", frames, 1, SNAP)
print("2 captures written to " .. dir)
