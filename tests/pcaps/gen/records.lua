-- records.lua - DNS messages whose records do not fit them, as classes:
--
--   pktsh tests/pcaps/gen/records.lua tests/pcaps
--
-- gen__dns-bad-records.pcap: whole messages (nothing cut by the capture)
-- whose question reads but whose records run out, each response after
-- its query. Wireshark decodes every owner name (following compression
-- pointers wherever they point), every record's fixed fields and its
-- data by RDLENGTH; reading past the end of the message throws
-- "Malformed Packet", and a response it throws on gets no dns.time. A
-- pointer loop only ends the name, and bytes after the last record are
-- only "extraneous". The cases, in order (the frame pairs in the file):
--
--   1 a whole response (one A record): answered
--   2 ANCOUNT 2, one record there: malformed
--   3 a record cut inside its fixed fields: malformed
--   4-6 the last record's RDLENGTH past the end (A, TXT, type 65280):
--       malformed
--   7 RDLENGTH past the end and a second record claimed: malformed
--   8 an owner name pointing past the end: malformed
--   9 an owner name pointing forward into record data whose "labels" run
--     off the end: malformed
--   10 an owner name pointing at itself (a loop): answered
--   11 an owner name pointing into the header (a reserved label type):
--      malformed
--   12 bytes after the last record: answered
--   13 QDCOUNT 2, the second question cut: malformed
--   14 an authority record whose owner's labels run off the end:
--      malformed
--   15 case 2 over IPv6: malformed
--   16 a query claiming an answer it does not carry (malformed), then a
--      whole response: answered (a malformed query is still asked)
--   17 a query whose OPT record is cut (malformed), then a whole
--      response: answered
local lib = dofile("tests/pcaps/gen/lib.lua")
local b = pktsh.build
local char = string.char
local u16, u32 = b.u16, b.u32

local dir = arg[1] or "tests/pcaps"
local frames, add = lib.collector()
local C4, S4, C6, S6 = "198.18.4.10", "198.18.4.53", "2001:2::4:10", "2001:2::4:53"

local QNAME = "\3www\7example\3com\0"
local Q = QNAME .. u16(1) .. u16(1)
local function header(id, flags, qd, an, ns, ar)
  return u16(id) .. u16(flags) .. u16(qd) .. u16(an) .. u16(ns) .. u16(ar)
end
-- a record: owner, type, class IN, TTL 60, RDLENGTH (given or #rdata)
local function rr(owner, rtype, rdata, rdlength)
  return owner .. u16(rtype) .. u16(1) .. u32(60) .. u16(rdlength or #rdata) .. rdata
end
local A = rr("\192\12", 1, char(198, 18, 9, 1))

local case = 0
-- query (id, flags 0x0100, or the raw query given), then the response
-- made by resp(id) (nil: none)
local function exchange(resp, v6, query)
  case = case + 1
  local id = 0x400 + case
  local mk = v6 and b.udp6 or b.udp4
  local c, s = v6 and C6 or C4, v6 and S6 or S4
  add(mk{src = c, dst = s, sport = 41000 + case, dport = 53,
         payload = query and query(id) or header(id, 0x0100, 1, 0, 0, 0) .. Q})
  add(mk{src = s, dst = c, sport = 53, dport = 41000 + case, payload = resp(id)})
end
local function answer(an, body, qd, ns) return function(id)
  return header(id, 0x8180, qd or 1, an, ns or 0, 0) .. Q .. body
end end

exchange(answer(1, A))                                          -- 1
exchange(answer(2, A))                                          -- 2
exchange(answer(1, A:sub(1, 8)))                                -- 3
exchange(answer(1, rr("\192\12", 1, char(1, 2, 3, 4), 24)))     -- 4
exchange(answer(1, rr("\192\12", 16, "\3abc", 24)))             -- 5
exchange(answer(1, rr("\192\12", 65280, "\1\2\3", 24)))         -- 6
exchange(answer(2, rr("\192\12", 1, char(1, 2, 3, 4), 24)))     -- 7
exchange(answer(1, rr("\195\255", 1, char(1, 2, 3, 4))))        -- 8
do                                                              -- 9
  local at = 12 + #Q + 12                -- the record's data
  exchange(answer(1, rr(u16(0xc000 + at), 1, char(1, 2, 3, 4))))
end
exchange(answer(1, rr(u16(0xc000 + 12 + #Q), 1, char(1, 2, 3, 4))))  -- 10
exchange(answer(1, rr("\192\2", 1, char(1, 2, 3, 4))))         -- 11
exchange(answer(1, A .. "\255\255\255"))                        -- 12
exchange(answer(1, "\3www", 2))                                 -- 13
exchange(answer(1, A .. "\4zone\7example", nil, 1))             -- 14
exchange(answer(2, A), true)                                    -- 15
exchange(answer(1, A), false, function(id)                      -- 16
  return header(id, 0x0100, 1, 1, 0, 0) .. Q
end)
exchange(answer(1, A), false, function(id)                      -- 17
  return header(id, 0x0100, 1, 0, 0, 1) .. Q .. "\0" .. u16(41) .. u16(1232) .. "\0\0"
end)
lib.write(dir .. "/gen__dns-bad-records.pcap", frames)
print("1 capture written to " .. dir)
