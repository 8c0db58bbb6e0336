-- tcpopts.lua - gen__tcp-options.pcap: TCP segments whose summaries
-- exercise what tcpdump prints of a TCP header: every option kind it
-- names (mss, wscale, sackOK, SACK blocks, timestamps, md5, uto,
-- tcp-ao, fast open, RFC 6994 experiments, scps, cc, echo, unknown
-- kinds), malformed options ([bad opt], [len N]), options cut by the
-- snapshot length, urgent pointers, data offsets too small and too
-- large, and conversations over IPv4 and IPv6 whose sequence numbers
-- tcpdump makes relative (a SYN restarting one, equal ports on both
-- sides). MPTCP is left out: its fields are not printed as tcpdump's.
--
--   pktsh tests/pcaps/gen/tcpopts.lua tests/pcaps
local lib = dofile("tests/pcaps/gen/lib.lua")
local b = pktsh.build
local char = string.char
local u16, u32 = b.u16, b.u32

local dir = arg[1] or "tests/pcaps"
local frames, add = lib.collector()

-- an option: kind, then (unless nop/eol) its length and data
local function opt(kind, data) return char(kind, 2 + #data) .. data end
local NOP, EOL = "\1", "\0"
local function pad(s) return s .. string.rep(NOP, (4 - #s % 4) % 4) end

-- one conversation: c (client) and s (server) ends, IPv4 or IPv6
local function conv(tcp, c, s, cport, sport, ciss, siss)
  local cseq, sseq = ciss, siss
  local function seg(from_c, flags, o)
    o = o or {}
    local t = {flags = flags, payload = o.payload or "", options = o.options and pad(o.options),
      urp = o.urp, doff = o.doff, win = o.win}
    if from_c then
      t.src, t.dst, t.sport, t.dport, t.seq, t.ack = c, s, cport, sport, cseq, sseq
    else
      t.src, t.dst, t.sport, t.dport, t.seq, t.ack = s, c, sport, cport, sseq, cseq
    end
    if not flags:find("A") then t.ack = 0 end
    add(tcp(t), o.snap)
    local n = #(o.payload or "") + ((flags:find("S") or flags:find("F")) and 1 or 0)
    if from_c then cseq = (cseq + n) % 2^32 else sseq = (sseq + n) % 2^32 end
  end
  return seg, function() return cseq, sseq end
end

local linux_syn = opt(2, u16(1460)) .. opt(4, "") .. opt(8, u32(1022106786) .. u32(0)) .. NOP .. opt(3, "\7")
local ts = function(v, e) return NOP .. NOP .. opt(8, u32(v) .. u32(e)) end

-- IPv4: a handshake, data both ways, SACK, a restart, a close
local seg, seqs = conv(b.tcp4, "198.18.5.10", "198.18.5.53", 51388, 8000, 4000000000, 1599198940)
seg(true, "S", {options = linux_syn})
seg(false, "SA", {options = opt(2, u16(1400)) .. NOP .. NOP .. opt(4, "") .. NOP .. opt(3, "\9")})
seg(true, "A", {options = ts(1, 2)})
seg(true, "PA", {payload = string.rep("q", 300), options = ts(3, 4)})
seg(false, "A", {options = ts(5, 6)})
local c1, s1 = seqs()
-- the server SACKs two blocks of the client's (relative to the client's
-- first sequence number), the client one of the server's
seg(false, "A", {options = NOP .. NOP .. opt(5, u32(c1 + 100) .. u32(c1 + 200) .. u32(c1 + 300) .. u32(c1 + 400))})
seg(true, "A", {options = NOP .. NOP .. opt(5, u32(s1 + 10) .. u32(s1 + 20))})
seg(true, "PAU", {payload = "urgent!", urp = 7})
seg(false, "PA", {payload = string.rep("r", 1000), options = ts(7, 8)})
seg(true, "FA")
seg(false, "FA")
-- the same ports again: a new SYN restarts the conversation
seg, seqs = conv(b.tcp4, "198.18.5.10", "198.18.5.53", 51388, 8000, 12345, 67890)
seg(true, "S", {options = linux_syn})
seg(false, "SA", {options = opt(2, u16(1460))})
seg(true, "A")
seg(true, "PA", {payload = "after the restart"})
-- equal ports on both sides (tcpdump orders the ends by address)
seg = conv(b.tcp4, "198.18.5.99", "198.18.5.7", 5000, 5000, 100, 200)
seg(false, "SA")
seg(true, "A")
seg(true, "PA", {payload = "tie"})
seg(false, "A")

-- IPv6, with every other option kind tcpdump prints
seg = conv(b.tcp6, "2001:2::10", "2001:2::53", 40000, 443, 1, 3000000000)
seg(true, "S", {options = opt(2, u16(1440)) .. opt(34, "")})                      -- tfo cookiereq
seg(false, "SA", {options = opt(34, "\1\2\3\4\5\6\7\8")})                        -- tfo cookie
seg(true, "A", {options = opt(34, "\1\2\3")})                                    -- tfo, odd length
seg(true, "PA", {payload = "x", options = opt(254, "\249\137\170\187\204\221")})  -- exp-tfo
seg(false, "A", {options = opt(254, "\1\2\3\4")})                                -- exp, other magic
seg(false, "A", {options = opt(19, string.rep("\171", 16))})                    -- md5
seg(true, "A", {options = opt(28, u16(0x8009))})                                 -- uto, minutes
seg(true, "A", {options = opt(28, u16(600))})                                    -- uto, seconds
seg(true, "A", {options = opt(29, "\5\6\1\2\3\4\5\6\7\8\9\10\11\12")})          -- tcp-ao
seg(true, "A", {options = opt(29, "\5")})                                        -- tcp-ao, too short
seg(false, "A", {options = opt(20, "\1\2") .. opt(11, u32(7)) .. opt(6, u32(9))}) -- scps, cc, echo
seg(false, "A", {options = opt(7, u32(11)) .. opt(12, u32(12)) .. opt(13, u32(13))})
seg(false, "A", {options = opt(99, "\1\2\3") .. opt(100, "")})                   -- unknown kinds
seg(false, "A", {options = opt(5, "\1\2\3\4\5")})                                -- sack, not 8n
seg(false, "A", {options = opt(2, u16(1460) .. "\0")})                          -- mss [len 5]
seg(false, "A", {options = opt(2, u16(1460)) .. EOL .. "\1\2\3"})                -- eol, then bytes

-- malformed and cut headers (IPv4, absolute: no ACK on most)
seg = conv(b.tcp4, "198.18.6.1", "198.18.6.2", 1111, 2222, 77, 88)
seg(true, "S", {options = "\2\1\0\0"})                                           -- length 1: bad
seg(true, "S", {options = opt(2, u16(1)) .. "\3\9\0\0"})                        -- past the header
seg(true, "S", {options = "\2\4"})                                                -- data past it
seg(true, "S", {options = opt(8, u32(1)) .. "\0\0"})                             -- TS of 6 bytes: bad
seg(true, "S", {options = linux_syn, snap = 14 + 20 + 20 + 9})                   -- cut in TS's data
seg(true, "S", {options = linux_syn, snap = 14 + 20 + 20 + 2})                   -- cut in mss's data
seg(true, "S", {options = linux_syn, snap = 14 + 20 + 20 + 4})                   -- cut at a kind byte
seg(true, "S", {options = linux_syn, snap = 14 + 20 + 20 + 5})                   -- cut at a length byte
seg(true, "PA", {options = EOL .. "\0\0\0" .. string.rep("\0", 8), payload = "data",
  snap = 14 + 20 + 20 + 6})                                                       -- eol, header cut
seg(true, "S", {doff = 4})                                                        -- too short
seg(true, "S", {doff = 15, payload = "abc"})                                      -- past the datagram
seg(true, "S", {options = "\1\1\1\1", snap = 14 + 20 + 12})                      -- fixed header cut

lib.write(dir .. "/gen__tcp-options.pcap", frames)
