-- tcptext.lua - a TCP segment as tcpdump 4.99 prints it in its one-line
-- summary: flags, sequence numbers, window, urgent pointer, the options,
-- the length, and what the payload is (DNS, pktsh.proto.tcpapp's text).
--
-- Sequence numbers are absolute unless the caller keeps a conversation
-- table (M.conversations, tcpdump's default; -S turns it off): a summary
-- alone has no state. The options are read through the checked accessors
-- and never past the datagram or the capture; a cut option ends the line
-- with tcpdump's " [|tcp]".
local bit = require "bit"
local dnstext = require "pktsh.proto.dnstext"
local tcpapp = require "pktsh.proto.tcpapp"

local band, rshift = bit.band, bit.rshift
local fmt, concat = string.format, table.concat

local M = {}

local FIN, SYN, RST, ACK, URG = 0x01, 0x02, 0x04, 0x10, 0x20
local TWO32 = 4294967296

local flag_chars = {{0x01, "F"}, {0x02, "S"}, {0x04, "R"}, {0x08, "P"},
  {0x10, "."}, {0x20, "U"}, {0x40, "E"}, {0x80, "W"}}

local function flags_text(f)
  local t = {}
  for _, fc in ipairs(flag_chars) do
    if band(f, fc[1]) ~= 0 then t[#t + 1] = fc[2] end
  end
  if #t == 0 then return "none" end
  return concat(t)
end

-- The 256 flag texts, made once: every segment prints one.
local flag_texts = {}
for f = 0, 255 do flag_texts[f] = flags_text(f) end

function M.flags(f) return flag_texts[f] or flags_text(f) end

local function u32(x) return x % TWO32 end

---------------------------------------------------------------------------
-- Conversations: the first sequence numbers of each, so that later ones
-- print relative to them, as tcpdump does without -S. tcpdump's table
-- only grows; this one holds at most `cap` conversations in its newer
-- half and as many in its older one (looked up second, moved to the newer
-- on use, dropped whole when the newer fills): a capture of a million
-- connections cannot grow it without bound, and a conversation forgotten
-- starts again from its next segment, printed absolute once.
-- A conversation's two bases are numbers in two tables by its key, not
-- a table each: the collector walks every table at every cycle, and a
-- hundred thousand of them made most of its work.

local Conv = {}
Conv.__index = Conv

local function half() return {seq = {}, ack = {}} end

function M.conversations(cap)
  return setmetatable({new = half(), old = half(), n = 0, cap = cap or 65536}, Conv)
end

-- The bases (forward seq and ack) of conversation k, or nil.
function Conv:find(k)
  local h = self.new
  local s = h.seq[k]
  if s then return s, h.ack[k] end
  h = self.old
  s = h.seq[k]
  if not s then return nil end
  local a = h.ack[k]
  h.seq[k], h.ack[k] = nil, nil
  self:put(k, s, a)
  return s, a
end

function Conv:put(k, s, a)
  if self.n >= self.cap then
    self.old, self.new, self.n = self.new, half(), 0
  end
  self.new.seq[k], self.new.ack[k] = s, a
  self.n = self.n + 1
end

-- tcpdump picks one direction of a conversation as the forward one (the
-- lower port's side; equal ports, the lower address's): rev says a
-- segment goes the other way. Any fixed choice prints the same numbers.
-- Returns seq, ack (relative unless the conversation is new or restarts
-- with a SYN), thseq, thack (the bases, for SACK blocks) and rev.
function Conv:relative(a, b, sp, dp, seq, ack, flags)
  local rev = sp > dp or (sp == dp and a > b)
  local k = rev and fmt("%s %s %d %d", b, a, dp, sp) or fmt("%s %s %d %d", a, b, sp, dp)
  local es, ea = self:find(k)
  if not es or band(flags, SYN) ~= 0 then
    if rev then es, ea = u32(ack - 1), seq
    else es, ea = seq, u32(ack - 1) end
    local h = self.new
    if h.seq[k] then h.seq[k], h.ack[k] = es, ea else self:put(k, es, ea) end
  elseif rev then
    seq, ack = u32(seq - ea), u32(ack - es)
  else
    seq, ack = u32(seq - es), u32(ack - ea)
  end
  return seq, ack, es, ea, rev
end

---------------------------------------------------------------------------
-- Options (RFC 793, 7323, 2018, 5482, 5925, 7413, 6994), printed as
-- tcpdump 4.99.3's tcp_print does.

local OPT = {EOL = 0, NOP = 1, MSS = 2, WSCALE = 3, SACKOK = 4, SACK = 5, ECHO = 6,
  ECHOREPLY = 7, TS = 8, CC = 11, CCNEW = 12, CCECHO = 13, MD5 = 19, SCPS = 20,
  UTO = 28, TCPAO = 29, MPTCP = 30, TFO = 34, EXP2 = 254}

local opt_names = {[OPT.EOL] = "eol", [OPT.NOP] = "nop", [OPT.MSS] = "mss",
  [OPT.WSCALE] = "wscale", [OPT.SACKOK] = "sackOK", [OPT.SACK] = "sack",
  [OPT.ECHO] = "echo", [OPT.ECHOREPLY] = "echoreply", [OPT.TS] = "TS",
  [OPT.CC] = "cc", [OPT.CCNEW] = "ccnew", [OPT.CCECHO] = "",  -- sic, 4.99.3
  [OPT.MD5] = "md5", [OPT.SCPS] = "scps", [OPT.UTO] = "uto",
  [OPT.TCPAO] = "tcp-ao", [OPT.MPTCP] = "mptcp", [OPT.TFO] = "tfo",
  [OPT.EXP2] = "exp"}

local mptcp_subtypes = {[0] = "capable", "join", "dss", "add-addr", "rem-addr",
  "prio", "fail", "fast-close"}

-- The option walk reads no byte past STOP (the end of the datagram or of
-- the capture, whichever is first). tcpdump 4.99.3 meets that end two
-- ways: reading an option's type or length byte (a longjmp: " [|tcp]"),
-- or checking an option's data before reading it (its trunc label:
-- " [|tcp]", and ">" once an option was printed whole): CUT and TRUNC
-- here. BAD is its "[bad opt]": an option's data past the header.
-- P, STOP and OUT (the text so far) are the walk's, set by options for
-- one header: module state rather than closures, which the JIT cannot
-- compile (this runs for every segment dump.lua prints).
local GOOD, BAD, TRUNC, CUT = 0, 1, 2, 3
local P, STOP, OUT

local function put(s) OUT[#OUT + 1] = s end

-- tcpdump's LENCHECK: n data bytes at o within the left header bytes,
-- then within what may be read.
local function lencheck(o, n, left)
  if n > left then return BAD end
  if o + n > STOP then return TRUNC end
  return GOOD
end

local function hex(o, n)
  local t = {}
  for i = 0, n - 1 do t[i + 1] = fmt("%02x", P:u8(o + i)) end
  return concat(t)
end

-- Data bytes from..n-1 at o in hex, each checked before it is read (as
-- tcpdump does): GOOD, or the check that stopped it.
local function hex_checked(o, from, n, left)
  for i = from, n - 1 do
    local st = lencheck(o, i + 1, left)
    if st ~= GOOD then return st end
    put(fmt("%02x", P:u8(o + i)))
  end
  return GOOD
end

local function fastopen(o, n, exp)
  if exp then put("tfo") end
  if n == 0 then put(" cookiereq"); return end
  if n % 2 ~= 0 or n < 4 or n > 16 then put(" (invalid)"); return end
  put(" cookie " .. hex(o, n))
end

local function zerolen(opt) return opt == OPT.EOL or opt == OPT.NOP end

-- An option's data (at o, its length byte len, left header bytes after
-- its type and length bytes) put as tcpdump prints it, in the order it
-- reads it. Returns the data length and GOOD, BAD or TRUNC. sack_base:
-- what SACK blocks are relative to (0: absolute); payload_cut: the
-- segment's payload not all captured (md5 says so).
local function opt_body(opt, o, len, left, sack_base, payload_cut)
  local st
  if opt == OPT.MSS or opt == OPT.UTO or opt == OPT.SCPS then
    st = lencheck(o, 2, left)
    if st ~= GOOD then return 2, st end
    local v = P:u16(o)
    if opt == OPT.MSS then put(fmt(" %d", v))
    elseif opt == OPT.SCPS then put(fmt(" cap %02x id %d", rshift(v, 8), band(v, 0xff)))
    else put(fmt(" 0x%x %d", v, band(v, 1) ~= 0 and rshift(v, 1) * 60 or rshift(v, 1))) end
    return 2, GOOD
  elseif opt == OPT.WSCALE then
    st = lencheck(o, 1, left)
    if st ~= GOOD then return 1, st end
    put(fmt(" %d", P:u8(o)))
    return 1, GOOD
  elseif opt == OPT.SACK then
    local n = len - 2
    if n % 8 ~= 0 then put(" invalid sack"); return n, GOOD end
    put(fmt(" %d ", n / 8))
    for i = 0, n - 1, 8 do
      st = lencheck(o, i + 4, left)          -- tcpdump checks the halves apart
      if st == GOOD then st = lencheck(o, i + 8, left) end
      if st ~= GOOD then return n, st end
      put(fmt("{%d:%d}", u32(P:u32(o + i) - sack_base), u32(P:u32(o + i + 4) - sack_base)))
    end
    return n, GOOD
  elseif opt == OPT.CC or opt == OPT.CCNEW or opt == OPT.CCECHO or opt == OPT.ECHO
      or opt == OPT.ECHOREPLY then
    st = lencheck(o, 4, left)
    if st ~= GOOD then return 4, st end
    put(fmt(" %d", P:u32(o)))
    return 4, GOOD
  elseif opt == OPT.TS then
    st = lencheck(o, 8, left)
    if st ~= GOOD then return 8, st end
    put(fmt(" val %d ecr %d", P:u32(o), P:u32(o + 4)))
    return 8, GOOD
  elseif opt == OPT.MD5 then
    -- tcpdump built with libcrypto, as Debian's is, and no -M secret
    st = lencheck(o, 16, left)
    if st ~= GOOD then return 16, st end
    put(payload_cut and " snaplen too short, " or " shared secret not supplied with -M, ")
    put("can't check - " .. hex(o, 16))
    return 16, GOOD
  elseif opt == OPT.TCPAO then
    local n = len - 2
    if n < 2 then put(" (invalid)"); return n, GOOD end
    st = lencheck(o, 1, left)
    if st ~= GOOD then return n, st end
    put(fmt(" keyid %d", P:u8(o)))
    st = lencheck(o, 2, left)
    if st ~= GOOD then return n, st end
    put(fmt(" rnextkeyid %d", P:u8(o + 1)))
    if n > 2 then
      put(" mac 0x")
      st = hex_checked(o, 2, n, left)
      if st ~= GOOD then return n, st end
    end
    return n, GOOD
  elseif zerolen(opt) or opt == OPT.SACKOK then
    return 0, GOOD
  end
  local n = len - 2
  if opt == OPT.MPTCP then
    -- its length and subtype; tcpdump's fields of each subtype are not
    -- ported (README)
    st = lencheck(o, n, left)
    if st ~= GOOD then return n, st end
    if len < 3 then return n, BAD end
    put(fmt(" %d %s", len, mptcp_subtypes[rshift(P:u8(o), 4)] or "unknown"))
  elseif opt == OPT.TFO then
    st = lencheck(o, n, left)
    if st ~= GOOD then return n, st end
    put(" ")
    fastopen(o, n, false)
  elseif opt == OPT.EXP2 then
    st = lencheck(o, n, left)
    if st ~= GOOD then return n, st end
    if n < 2 then return n, BAD end
    put("-")
    local magic = P:u16(o)
    if magic == 0xf989 then fastopen(o + 2, n - 2, true)
    else put(fmt("%04x", magic)) end
  else
    if n > 0 then put(" 0x") end
    st = hex_checked(o, 0, n, left)
    if st ~= GOOD then return n, st end
  end
  return n, GOOD
end

-- The left option bytes at o, put as tcpdump's loop prints them: GOOD,
-- BAD, TRUNC or CUT, and whether an option was printed whole before
-- (then tcpdump closes the bracket after "[bad opt]", and adds ">" after
-- a TRUNC's " [|tcp]").
local function options_text(o, left, sack_base, payload_cut)
  local whole = false
  while left > 0 do
    if whole then put(",") end
    if o + 1 > STOP then return CUT, whole end
    local opt, len = P:u8(o), 1
    o = o + 1
    if not zerolen(opt) then
      if o + 1 > STOP then return CUT, whole end
      len = P:u8(o)
      o = o + 1
      if len < 2 or len > left then return BAD, whole end
      left = left - 1
    end
    left = left - 1
    put(opt_names[opt] or fmt("unknown-%d", opt))
    local n, st = opt_body(opt, o, len, left, sack_base, payload_cut)
    if st ~= GOOD then return st, whole end
    if n + (zerolen(opt) and 1 or 2) ~= len then put(fmt("[len %d]", len)) end
    o, left, whole = o + n, left - n, true
    if opt == OPT.EOL then break end
  end
  return GOOD, whole
end

-- ", options [...]" for the n option bytes at off, read no further than
-- stop, and whether the line goes on: "ok"; "bad" (tcpdump stops after
-- "[bad opt]"); "cut" (a read past stop: the text so far and " [|tcp]").
-- Most segments carry nop,nop,TS alone: that layout is printed at once.
local function options(p, off, n, stop, sack_base, payload_cut)
  if n == 12 and off + 12 <= stop and p:u32(off) == 0x0101080a then
    return fmt(", options [nop,nop,TS val %d ecr %d]", p:u32(off + 4), p:u32(off + 8)), "ok"
  end
  P, STOP, OUT = p, stop, {", options ["}
  local st, whole = options_text(off, n, sack_base, payload_cut)
  local s = concat(OUT)
  P, OUT = nil, nil
  if st == CUT then return s .. " [|tcp]", "cut" end
  if st == TRUNC then return s .. " [|tcp]" .. (whole and ">" or ""), "cut" end
  if st == BAD then return s .. "[bad opt]" .. (whole and "]" or ""), "bad" end
  return s .. "]", "ok"
end

---------------------------------------------------------------------------
-- The segment.

-- "a.p > b.q: ", or "a > b: " without ports: the start of a transport's
-- line, for decodetext's UDP and ICMP lines too (its IPv6 extension
-- headers go after it, found by this very text). tail: the text that
-- follows, if any (one string made rather than two).
local function endpoints(a, b, sp, dp, tail)
  if sp and dp then return fmt("%s.%d > %s.%d: %s", a, sp, b, dp, tail or "") end
  return fmt("%s > %s: %s", a, b, tail or "")
end
M.endpoints = endpoints

-- No header to print: the ports and " [|tcp]" (the 20 bytes not all
-- there), or a data offset under 20 bytes; without the ports, only the
-- addresses.
local function header_problem(p, a, b, off, wend)
  if off + 4 > p.l3end then return fmt("%s > %s: [|tcp]", a, b) end
  local s = endpoints(a, b, p:u16(off), p:u16(off + 2))
  if off + 20 > p.l3end then return s .. " [|tcp]" end
  local hlen = rshift(p:u8(off + 12), 4) * 4
  return s .. fmt(" tcp %d [bad hdr length %d - too short, < 20]", wend - off - hlen, hlen)
end

-- The text after "IP " for a TCP segment at off whose datagram ends at
-- wend (by its header). conv: a conversation table (M.conversations) for
-- relative sequence numbers, or nil for absolute ones.
-- The pieces of a segment's text, joined once at the end (joining them
-- one by one made a longer copy at each step). One table, reused:
-- segments are printed one at a time.
local parts, nparts = {}, 0
local function put_part(s) nparts = nparts + 1; parts[nparts] = s end
local function joined(last)
  put_part(last)
  return concat(parts, "", 1, nparts)
end

-- The sequence numbers, ack, window and urgent pointer after the flags.
local function numbers_text(t, f, seq, ack, length)
  if length > 0 then
    put_part(fmt(", seq %d:%d", seq, u32(seq + length)))
  elseif band(f, SYN + FIN + RST) ~= 0 then
    put_part(fmt(", seq %d", seq))
  end
  if band(f, ACK) ~= 0 then put_part(fmt(", ack %d", ack)) end
  put_part(fmt(", win %d", t.win))
  if band(f, URG) ~= 0 then put_part(fmt(", urg %d", t.urp)) end
end

function M.text(p, a, b, off, wend, conv)
  local t = p:tcp()
  if not t then return header_problem(p, a, b, off, wend) end
  local f, seq, ack = t.flags, t.seq, t.ack
  nparts = 0
  put_part(endpoints(a, b, t.sport, t.dport))
  put_part("Flags [")
  put_part(M.flags(f))
  put_part("]")
  local hlen = t.hlen
  local length = wend - off - hlen
  local sack_base = 0
  if conv and band(f, ACK) ~= 0 then
    local thseq, thack, rev
    seq, ack, thseq, thack, rev = conv:relative(a, b, t.sport, t.dport, seq, ack, f)
    -- SACK blocks are relative to the direction they acknowledge
    sack_base = rev and thseq or thack
  end
  if length < 0 then
    return joined(fmt(" [bad hdr length %d - too long, > %d]", hlen, wend - off))
  end
  numbers_text(t, f, seq, ack, length)
  if hlen > 20 then
    local text, how = options(p, off + 20, hlen - 20, p.l3end, sack_base,
                              off + hlen + length > p.l3end)
    if how ~= "ok" then return joined(text) end
    put_part(text)
  end
  if length == 0 then return joined(fmt(", length %d", length)) end
  put_part(fmt(", length %d", length))
  if off + hlen > p.l3end then  -- options ended (EOL) before the cut
    return joined(fmt(" [remaining caplen(%d) < header length(%d)] [|tcp]", p.l3end - off, hlen))
  end
  -- tcpapp follows tcpdump's port order, in which DNS (53) comes after
  -- HTTP, FTP, SSH...: a segment between 80 and 53 prints as HTTP (the
  -- text so far is joined first: parts is free again for any caller)
  local s = concat(parts, "", 1, nparts)
  return s .. (tcpapp.text(p, t.sport, t.dport, off + hlen, length, f) or dnstext.packet(p) or "")
end

return M
