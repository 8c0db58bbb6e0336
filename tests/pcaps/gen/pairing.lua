-- pairing.lua - writes gen__dns-pairing.pcap into OUTDIR: which response
-- answers which query, the classes where a pairing by (addresses, ports,
-- id, question) and Wireshark's pairing (dns.time: the conversation and
-- the id alone) part:
--
--   build/pktsh tests/pcaps/gen/pairing.lua tests/pcaps
--
-- Each exchange on its own client port, one second between frames:
--   another name in the response than in the query; another type; a
--   response without a question (FORMERR, QDCOUNT 0); NOTIFY (opcode 4)
--   and UPDATE (opcode 5); a query whose question is malformed, answered;
--   a retransmitted query (latency from the first copy), also with
--   another name; an id used again after its answer; a duplicated
--   response; a response whose question is malformed; a response cut by
--   the capture (no dns.time in Wireshark); IPv6; a query repeated 6 s
--   later (a new query) and 3.5 s later (a retransmission: the latency
--   counts from the first copy).
--
-- Oracle: tshark's decode (tests/pcaps/gen/oracle.sh).
local b = pktsh.build
local u16 = b.u16
local lib = dofile("tests/pcaps/gen/lib.lua")

local dir = assert(arg[1], "usage: pairing.lua OUTDIR")
local dns = lib.dns

local C, S, C6, S6 = "198.18.2.10", "198.18.2.53", "2001:2::2:10", "2001:2::2:53"

local frames, port, now = {}, 43000, 1700000000
local function add(frame, cut)
  now = now + 1
  frames[#frames + 1] = {data = cut and frame:sub(1, cut) or frame, ts = now, len = #frame}
end
-- a header and raw bytes after it
local function raw(id, flags, qd, rest)
  return u16(id) .. u16(flags) .. u16(qd) .. u16(0) .. u16(0) .. u16(0) .. rest
end
local function with_type(msg, qtype) return msg:sub(1, -5) .. u16(qtype) .. u16(1) end

-- one exchange: a list of {"q" or "r", payload [, cut]} on a fresh port
local function exchange(steps, v6)
  port = port + 1
  local mk, c, s = v6 and b.udp6 or b.udp4, v6 and C6 or C, v6 and S6 or S
  for _, st in ipairs(steps) do
    if st[1] == "wait" then now = now + st[2] goto next end
    local q = st[1] == "q"
    local f = mk{src = q and c or s, dst = q and s or c, sport = q and port or 53,
                 dport = q and 53 or port, payload = st[2]}
    add(f, st[3] and #f - st[3])
    ::next::
  end
end

exchange{{"q", dns(1, 0x0100, "a.example.com", 0)}, {"r", dns(1, 0x8180, "b.example.com", 1)}}
exchange{{"q", dns(2, 0x0100, "a.example.com", 0)},
         {"r", with_type(dns(2, 0x8180, "a.example.com", 0), 28)}}
exchange{{"q", dns(3, 0x0100, "a.example.com", 0)}, {"r", raw(3, 0x8181, 0, "")}}
exchange{{"q", with_type(dns(4, 0x2000, "zone.example", 0), 6)},
         {"r", with_type(dns(4, 0xa400, "zone.example", 0), 6)}}
exchange{{"q", with_type(dns(5, 0x2800, "zone.example", 0), 6)},
         {"r", with_type(dns(5, 0xa805, "zone.example", 0), 6)}}
exchange{{"q", raw(6, 0x0100, 1, "\192\255")}, {"r", raw(6, 0x8181, 0, "")}}
exchange{{"q", dns(7, 0x0100, "a.example.com", 0)}, {"q", dns(7, 0x0100, "a.example.com", 0)},
         {"r", dns(7, 0x8180, "a.example.com", 1)}}
exchange{{"q", dns(8, 0x0100, "a.example.com", 0)}, {"q", dns(8, 0x0100, "c.example.com", 0)},
         {"r", dns(8, 0x8180, "c.example.com", 1)}}
exchange{{"q", dns(9, 0x0100, "a.example.com", 0)}, {"r", dns(9, 0x8180, "a.example.com", 1)},
         {"q", dns(9, 0x0100, "a.example.com", 0)}, {"r", dns(9, 0x8180, "a.example.com", 2)}}
exchange{{"q", dns(10, 0x0100, "a.example.com", 0)}, {"r", dns(10, 0x8180, "a.example.com", 1)},
         {"r", dns(10, 0x8180, "a.example.com", 1)}}
exchange{{"q", dns(11, 0x0100, "a.example.com", 0)}, {"r", raw(11, 0x8180, 1, "\192\255")}}
exchange{{"q", dns(12, 0x0100, "a.example.com", 0)}, {"r", dns(12, 0x8180, "a.example.com", 3), 20}}
exchange({{"q", dns(13, 0x0100, "a.example.com", 0)}, {"r", dns(13, 0x8180, "d.example.com", 1)}},
         true)
exchange({{"q", dns(14, 0x0100, "a.example.com", 0)}, {"q", dns(14, 0x0100, "a.example.com", 0)},
          {"r", dns(14, 0x8183, "a.example.com", 0)}}, true)
-- the same query 6 s later (5 s: Wireshark's retransmission timer and
-- dnsstats' --timeout) is a new query: the latency counts from it
exchange{{"q", dns(15, 0x0100, "a.example.com", 0)}, {"wait", 5},
         {"q", dns(15, 0x0100, "a.example.com", 0)}, {"r", dns(15, 0x8180, "a.example.com", 1)}}
exchange{{"q", dns(16, 0x0100, "a.example.com", 0)}, {"wait", 2.5},
         {"q", dns(16, 0x0100, "a.example.com", 0)}, {"r", dns(16, 0x8180, "a.example.com", 1)}}
lib.write(dir .. "/gen__dns-pairing.pcap", frames)
print("1 capture written to " .. dir)
