-- trunc.lua - writes the generated captures of truncated and offloaded
-- frames (issue 12) into OUTDIR:
--
--   build/pktsh tests/pcaps/gen/trunc.lua tests/pcaps
--
--   gen__dns-truncated-ip.pcap  DNS over UDP whose IP total length (and UDP
--       length) claim more than the frame holds, as a host that captured
--       before segmentation or cut the frame writes them (length on the
--       wire = bytes captured): cut after the question, inside it, inside
--       the header; IPv4 and IPv6; plus whole ones
--   gen__dns-offload.pcap      TSO/GRO captures: DNS over TCP in an IPv4
--       datagram with total length 0, and one larger than the MTU, each
--       whole in the frame
--
-- Oracles: tshark's decode (tests/pcaps/gen/oracle.sh).
local b = pktsh.build
local u16 = b.u16
local lib = dofile("tests/pcaps/gen/lib.lua")
local pcap = lib.write

local dir = assert(arg[1], "usage: trunc.lua OUTDIR")

local dns = lib.dns

local C, S, C6, S6 = "198.18.1.10", "198.18.1.53", "2001:2::10", "2001:2::53"

local frames = {}
local function add(frame, cut)
  frames[#frames + 1] = {data = cut and frame:sub(1, cut) or frame, ts = 1700000000 + #frames / 100}
end

-- Where the question of a message ends in its frame (Ethernet, IPv4 or
-- IPv6, UDP: 42 or 62 bytes before the DNS message).
local function qend(v6, name) return (v6 and 62 or 42) + 12 + #name + 2 + 4 end

for i = 1, 12 do
  local v6 = i % 3 == 0
  local name = "t" .. i .. ".example.com"
  local mk = v6 and b.udp6 or b.udp4
  local c, s = v6 and C6 or C, v6 and S6 or S
  add(mk{src = c, dst = s, sport = 41000 + i, dport = 53, payload = dns(i, 0x0100, name, 0)})
  local r = mk{src = s, dst = c, sport = 53, dport = 41000 + i,
               payload = dns(i, 0x8180 + i % 4, name, 60)}
  local kind = i % 4
  if kind == 0 then add(r)                                 -- whole
  elseif kind == 1 then add(r, qend(v6, name) + 20)        -- after the question
  elseif kind == 2 then add(r, qend(v6, name) - 3)         -- inside the question
  else add(r, (v6 and 62 or 42) + 8) end                   -- inside the header
end
pcap(dir .. "/gen__dns-truncated-ip.pcap", frames)

-- Offload: the IPv4 total length 0 (TSO), and a datagram over the MTU.
frames = {}
local function tcp_dns(seq, flags, msgs, zero)
  local pl = {}
  for _, m in ipairs(msgs) do pl[#pl + 1] = u16(#m) .. m end
  local f = b.tcp4{src = S, dst = C, sport = 53, dport = 42000, seq = seq, flags = flags,
                   payload = table.concat(pl)}
  if zero then f = f:sub(1, 16) .. "\0\0" .. f:sub(19) end
  return f
end
add(b.tcp4{src = C, dst = S, sport = 42000, dport = 53, seq = 99, flags = "S"})
add(b.tcp4{src = S, dst = C, sport = 53, dport = 42000, seq = 9999, flags = "SA"})
local q = dns(100, 0x0100, "tso.example.com", 0)
add(b.tcp4{src = C, dst = S, sport = 42000, dport = 53, seq = 100, flags = "PA",
           payload = u16(#q) .. q})
-- two responses in one datagram of total length 0
local r1, r2 = dns(100, 0x8180, "tso.example.com", 3), dns(100, 0x8180, "tso.example.com", 5)
add(tcp_dns(10000, "PA", {r1, r2}, true))
-- a GRO datagram: 200 answers, about 3,300 bytes in one frame
local big = dns(100, 0x8183, "tso.example.com", 200)
add(tcp_dns(10000 + 4 + #r1 + #r2, "PA", {big}))
pcap(dir .. "/gen__dns-offload.pcap", frames)
print("2 captures written to " .. dir)
