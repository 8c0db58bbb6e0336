-- cuts.lua - DNS messages that are too short to read, as classes:
--
--   pktsh tests/pcaps/gen/cuts.lua tests/pcaps
--
-- gen__dns-short.pcap: a response of which 1 to 12 bytes are there, cut
-- by the snapshot length, cut on the wire (the IP and UDP lengths claim
-- the rest, as a host that captured before segmentation writes them) and
-- whole (the UDP length says so). Wireshark reads a message from its 4th
-- byte on (id and flags: a query or a response, its RCODE), malformed
-- when whole; below that it shows no DNS at all.
--
-- gen__dns-cut-fragments.pcap: DNS over UDP in IP fragments that the
-- capture cut short (the frame ends before the IP length says: on the
-- wire, or by the snapshot length), IPv4 and IPv6. Wireshark does not reassemble a fragment whose bytes are not all in
-- the capture; it dissects a first fragment's payload as it stands and
-- shows a later one as a fragment. The cases: a cut first fragment of a
-- response (after the question, inside the header; its later fragments
-- whole, or none), a cut later fragment behind a whole first one, and
-- wholly captured fragments (reassembled) beside them. Every response
-- has its query, unfragmented, before it.
local lib = dofile("tests/pcaps/gen/lib.lua")
local b = pktsh.build
local bit = require "bit"
local char, byte = string.char, string.byte
local u16, u32 = b.u16, b.u32

local dir = arg[1] or "tests/pcaps"
local frames, add = lib.collector()

local C4, S4, C6, S6 = "198.18.3.10", "198.18.3.53", "2001:2::3:10", "2001:2::3:53"

-- The IPv4 header checksum of header h (checksum field zero).
local function csum(h)
  local s = 0
  for i = 1, #h, 2 do s = s + byte(h, i) * 256 + byte(h, i + 1) end
  while s > 0xffff do s = bit.band(s, 0xffff) + bit.rshift(s, 16) end
  return u16(bit.bxor(s, 0xffff))
end

-- The fragments of frame f (Ethernet, IPv4 or IPv6, its whole IP
-- payload split every `size` bytes, a multiple of 8): one frame each.
local function fragments(f, v6, size, id)
  local hl = v6 and 40 or 20
  local eth, ip, pl = f:sub(1, 14), f:sub(15, 14 + hl), f:sub(15 + hl)
  local out = {}
  for off = 0, #pl - 1, size do
    local part, more = pl:sub(off + 1, off + size), off + size < #pl
    if v6 then
      local fh = char(17, 0) .. u16(off + (more and 1 or 0)) .. u32(id)
      out[#out + 1] = eth .. ip:sub(1, 4) .. u16(8 + #part) .. char(44) .. ip:sub(8) .. fh .. part
    else
      local h = ip:sub(1, 2) .. u16(20 + #part) .. u16(id) .. u16((more and 0x2000 or 0) + off / 8) ..
                ip:sub(9, 10) .. "\0\0" .. ip:sub(13, 20)
      out[#out + 1] = eth .. h:sub(1, 10) .. csum(h) .. h:sub(13) .. part
    end
  end
  return out
end

-- A query and its response of `an` answers, the response in fragments of
-- 128 bytes of IP payload; cut(i, frag) gives fragment i's cut: nil
-- (whole), {wire = n} (the frame ends after n bytes) or {snap = n}
-- (the capture kept n of its bytes); keep(i) false leaves fragment i out.
local case = 0
local function exchange(v6, an, cut, keep)
  case = case + 1
  local c, s = v6 and C6 or C4, v6 and S6 or S4
  local mk = v6 and b.udp6 or b.udp4
  local name = "f" .. case .. ".frag.example"
  add(mk{src = c, dst = s, sport = 40000 + case, dport = 53, payload = lib.dns(case, 0x0100, name, 0)})
  local r = mk{src = s, dst = c, sport = 53, dport = 40000 + case, payload = lib.dns(case, 0x8180, name, an)}
  for i, fr in ipairs(fragments(r, v6, 128, 0x100 + case)) do
    local k = cut and cut(i) or {}
    if not keep or keep(i) then
      if k.wire then frames[#frames + 1] = {data = fr:sub(1, k.wire), len = k.wire,
                                            ts = 1700000000 + #frames / 100}
      else add(fr, k.snap) end
    end
  end
end

local hdr = function(v6) return 14 + (v6 and 48 or 20) end   -- up to the fragment's data
for _, v6 in ipairs{false, true} do
  local h = hdr(v6)
  local q = h + 8 + 12 + 17 + 2 + 4 + 6                     -- past the question
  exchange(v6, 20)                                          -- whole: reassembled
  exchange(v6, 20, function(i) return i == 1 and {wire = q} or nil end)        -- first cut on the wire
  exchange(v6, 20, function(i) return i == 1 and {snap = q} or nil end)        -- first cut by snaplen
  exchange(v6, 20, function(i) return i == 1 and {wire = h + 8 + 6} or nil end) -- inside the header
  exchange(v6, 20, function(i) return i == 1 and {wire = q} or nil end,
           function(i) return i == 1 end)                   -- first cut, alone
  exchange(v6, 20, function(i) return i == 2 and {wire = h + 40} or nil end)   -- a later one cut
  exchange(v6, 20, function(i) return i == 2 and {snap = h + 40} or nil end)
end
lib.write(dir .. "/gen__dns-cut-fragments.pcap", frames)

frames, add = lib.collector()
local m = lib.dns(7, 0x8183, "short.example", 1)
for n = 1, 12 do
  local f = b.udp4{src = S4, dst = C4, sport = 53, dport = 40000 + n, payload = m}
  add(f, 42 + n)                                                           -- snaplen
  frames[#frames + 1] = {data = f:sub(1, 42 + n), len = 42 + n, ts = 1700000000 + #frames / 100}
  add(b.udp6{src = S6, dst = C6, sport = 53, dport = 40000 + n, payload = m:sub(1, n)})   -- whole
end
lib.write(dir .. "/gen__dns-short.pcap", frames)
print("2 captures written to " .. dir)
