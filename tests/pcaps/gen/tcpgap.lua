-- tcpgap.lua - writes the generated DNS-over-TCP captures with holes
-- (issue 12, "TCP gaps") into OUTDIR:
--
--   build/pktsh tests/pcaps/gen/tcpgap.lua tests/pcaps
--
--   gen__dns-tcp-gap.pcap      one connection, 16 queries and 16 responses,
--       each response in its own segment(s), the large ones in 300-byte
--       segments; two response segments are missing (lost before the
--       capture point): one in the middle of a large response (the
--       segment after it begins inside the message), one a whole response
--   gen__dns-tcp-midflow.pcap  the same connection's responses from the
--       middle on, no handshake: the first segment is inside a message
--
-- Oracles: tshark's decode (tests/pcaps/gen/oracle.sh).
local b = pktsh.build
local u16 = b.u16
local lib = dofile("tests/pcaps/gen/lib.lua")
local pcap = lib.write

local dir = assert(arg[1], "usage: tcpgap.lua OUTDIR")

local function dns(...) return u16(#lib.dns(...)) .. lib.dns(...) end   -- with the TCP length prefix

local C, S = "198.18.1.10", "198.18.1.53"
local CP, SP = 40100, 53
local cseq, sseq = 1000, 500000

local frames = {}
local seg = lib.tcp_seg{client = C, server = S, cport = CP, sport = SP,
                        acks = function() return cseq, sseq end,
                        frames = function() return frames end}

seg(true, "S", nil, cseq - 1)
seg(false, "SA", nil, sseq - 1)
seg(true, "A", nil, cseq)

-- queries, one segment each
local N = 16
for i = 1, N do
  local q = dns(i, 0x0100, "q" .. i .. ".example.com", 0)
  seg(true, "PA", q, cseq)
  cseq = cseq + #q
end

-- The responses, each written at once as a server writes them: one
-- segment each, but every fourth is large (40 A records) and goes in
-- segments of at most 300 bytes.
local segs = {}      -- {seq, data, response number, part}
local stream = {}
local at = sseq
for i = 1, N do
  local r = dns(i, 0x8180, "q" .. i .. ".example.com", i % 4 == 0 and 40 or 1 + i % 3)
  stream[#stream + 1] = r
  for p = 1, #r, 300 do
    segs[#segs + 1] = {at + p - 1, r:sub(p, p + 299), i, (p - 1) / 300 + 1}
  end
  at = at + #r
end
stream = table.concat(stream)
-- Lost before the capture point: the 2nd part of response 4 (its 3rd
-- part then begins inside the message), and the whole of response 10.
local responses = {}
for _, g in ipairs(segs) do
  if not (g[3] == 4 and g[4] == 2) and g[3] ~= 10 then
    seg(false, "PA", g[2], g[1])
    responses[#responses + 1] = {frame = frames[#frames], r = g[3], part = g[4]}
  end
end
sseq = sseq + #stream
seg(true, "FA", nil, cseq)
seg(false, "FA", nil, sseq)
pcap(dir .. "/gen__dns-tcp-gap.pcap", frames)

-- Mid-flow: the response segments from the 2nd part of response 8 on
-- (it begins inside that message), no handshake, no queries.
local mid, on = {}, false
for _, g in ipairs(responses) do
  on = on or (g.r == 8 and g.part == 2)
  if on then mid[#mid + 1] = g.frame end
end
pcap(dir .. "/gen__dns-tcp-midflow.pcap", mid)
print("2 captures written to " .. dir)
