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

function M.flags(f)
  local t = {}
  for _, fc in ipairs(flag_chars) do
    if band(f, fc[1]) ~= 0 then t[#t + 1] = fc[2] end
  end
  if #t == 0 then return "none" end
  return concat(t)
end

local function u32(x) return x % TWO32 end

---------------------------------------------------------------------------
-- Conversations: the first sequence numbers of each, so that later ones
-- print relative to them, as tcpdump does without -S. tcpdump's table
-- only grows; this one holds at most `cap` conversations in its newer
-- half and as many in its older one (looked up second, moved to the newer
-- on use, dropped whole when the newer fills): a capture of a million
-- connections cannot grow it without bound, and a conversation forgotten
-- starts again from its next segment, printed absolute once.

local Conv = {}
Conv.__index = Conv

function M.conversations(cap)
  return setmetatable({new = {}, old = {}, n = 0, cap = cap or 65536}, Conv)
end

function Conv:find(k)
  local e = self.new[k]
  if e then return e end
  e = self.old[k]
  if e then self.old[k] = nil; self:put(k, e) end
  return e
end

function Conv:put(k, e)
  if self.n >= self.cap then
    self.old, self.new, self.n = self.new, {}, 0
  end
  self.new[k] = e
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
  local e = self:find(k)
  if not e or band(flags, SYN) ~= 0 then
    if rev then e = {seq = u32(ack - 1), ack = seq}
    else e = {seq = seq, ack = u32(ack - 1)} end
    if self.new[k] then self.new[k] = e else self:put(k, e) end
  elseif rev then
    seq, ack = u32(seq - e.ack), u32(ack - e.seq)
  else
    seq, ack = u32(seq - e.seq), u32(ack - e.ack)
  end
  return seq, ack, e.seq, e.ack, rev
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

-- A reader of the option bytes, none past `stop` (the end of the
-- datagram or of the capture, whichever is first). tcpdump 4.99.3 meets
-- that end two ways: reading an option's type or length byte (a longjmp:
-- " [|tcp]"), or checking an option's data before reading it (its trunc
-- label: " [|tcp]", and ">" once an option was printed whole). The two
-- are raised as CUT and TRUNC; the data is read only after r.check.
local CUT, TRUNC = {}, {}

local function reader(p, stop)
  local r = {}
  function r.check(o, n)
    if o + n > stop then error(TRUNC, 0) end
  end
  function r.u8(o)
    if o + 1 > stop then error(CUT, 0) end
    return p:u8(o)
  end
  r.u16, r.u32 = function(o) return p:u16(o) end, function(o) return p:u32(o) end
  function r.hex(o, n)
    local t = {}
    for i = 0, n - 1 do t[#t + 1] = fmt("%02x", p:u8(o + i)) end
    return concat(t)
  end
  return r
end

local function fastopen(r, o, n, exp, out)
  if exp then out[#out + 1] = "tfo" end
  if n == 0 then out[#out + 1] = " cookiereq"; return end
  if n % 2 ~= 0 or n < 4 or n > 16 then out[#out + 1] = " (invalid)"; return end
  out[#out + 1] = " cookie " .. r.hex(o, n)
end

local function zerolen(opt) return opt == OPT.EOL or opt == OPT.NOP end

-- An option's data (at o, its length byte len, left header bytes after
-- its type and length bytes) appended to out as tcpdump prints it, in
-- the order it reads it. Returns the data length, and false when the
-- option is bad (tcpdump's "[bad opt]": the data runs past the header).
local function opt_body(r, opt, o, len, left, ctx, out)
  local function put(s) out[#out + 1] = s end
  -- tcpdump's LENCHECK: n data bytes within the header (else a bad
  -- option), then within the capture (else TRUNC)
  local function lencheck(n)
    if n > left then return false end
    r.check(o, n)
    return true
  end
  if opt == OPT.MSS or opt == OPT.UTO or opt == OPT.SCPS then
    if not lencheck(2) then return 2, false end
    local v = r.u16(o)
    if opt == OPT.MSS then put(fmt(" %d", v))
    elseif opt == OPT.SCPS then put(fmt(" cap %02x id %d", rshift(v, 8), band(v, 0xff)))
    else put(fmt(" 0x%x %d", v, band(v, 1) ~= 0 and rshift(v, 1) * 60 or rshift(v, 1))) end
    return 2, true
  elseif opt == OPT.WSCALE then
    if not lencheck(1) then return 1, false end
    put(fmt(" %d", r.u8(o)))
    return 1, true
  elseif opt == OPT.SACK then
    local n = len - 2
    if n % 8 ~= 0 then put(" invalid sack"); return n, true end
    put(fmt(" %d ", n / 8))
    -- tcpdump takes the blocks relative to the acknowledged direction
    local base = ctx.rev and ctx.thseq or ctx.thack
    for i = 0, n - 1, 8 do
      if not lencheck(i + 4) then return n, false end
      local a = r.u32(o + i)
      if not lencheck(i + 8) then return n, false end
      put(fmt("{%d:%d}", u32(a - base), u32(r.u32(o + i + 4) - base)))
    end
    return n, true
  elseif opt == OPT.CC or opt == OPT.CCNEW or opt == OPT.CCECHO or opt == OPT.ECHO
      or opt == OPT.ECHOREPLY then
    if not lencheck(4) then return 4, false end
    put(fmt(" %d", r.u32(o)))
    return 4, true
  elseif opt == OPT.TS then
    if not lencheck(8) then return 8, false end
    put(fmt(" val %d ecr %d", r.u32(o), r.u32(o + 4)))
    return 8, true
  elseif opt == OPT.MD5 then
    -- tcpdump built with libcrypto, as Debian's is, and no -M secret
    if not lencheck(16) then return 16, false end
    put(ctx.payload_cut and " snaplen too short, " or " shared secret not supplied with -M, ")
    put("can't check - " .. r.hex(o, 16))
    return 16, true
  elseif opt == OPT.TCPAO then
    local n = len - 2
    if n < 2 then put(" (invalid)"); return n, true end
    if not lencheck(1) then return n, false end
    put(fmt(" keyid %d", r.u8(o)))
    if not lencheck(2) then return n, false end
    put(fmt(" rnextkeyid %d", r.u8(o + 1)))
    if n > 2 then
      put(" mac 0x")
      for i = 2, n - 1 do
        if not lencheck(i + 1) then return n, false end
        put(fmt("%02x", r.u8(o + i)))
      end
    end
    return n, true
  elseif zerolen(opt) or opt == OPT.SACKOK then
    return 0, true
  end
  local n = len - 2
  if opt == OPT.MPTCP then
    -- its length and subtype; tcpdump's fields of each subtype are not
    -- ported (README)
    if not lencheck(n) or len < 3 then return n, false end
    put(fmt(" %d %s", len, mptcp_subtypes[rshift(r.u8(o), 4)] or "unknown"))
  elseif opt == OPT.TFO then
    if not lencheck(n) then return n, false end
    put(" ")
    fastopen(r, o, n, false, out)
  elseif opt == OPT.EXP2 then
    if not lencheck(n) or n < 2 then return n, false end
    put("-")
    local magic = r.u16(o)
    if magic == 0xf989 then fastopen(r, o + 2, n - 2, true, out)
    else put(fmt("%04x", magic)) end
  else
    if n > 0 then put(" 0x") end
    for i = 0, n - 1 do
      if not lencheck(i + 1) then return n, false end
      put(fmt("%02x", r.u8(o + i)))
    end
  end
  return n, true
end

-- The n option bytes at off appended to out as tcpdump's loop prints
-- them; "ok", or "bad" with whether an option was finished before (then
-- tcpdump closes the bracket after "[bad opt]").
local function options_text(r, off, left, ctx, out)
  local o, sep = off, false
  while left > 0 do
    if sep then out[#out + 1] = "," end
    local opt, len = r.u8(o), 1
    o = o + 1
    if not zerolen(opt) then
      len = r.u8(o)
      o = o + 1
      if len < 2 or len > left then return "bad", sep end
      left = left - 1
    end
    left = left - 1
    out[#out + 1] = opt_names[opt] or fmt("unknown-%d", opt)
    local n, good = opt_body(r, opt, o, len, left, ctx, out)
    if not good then return "bad", sep end
    if n + (zerolen(opt) and 1 or 2) ~= len then out[#out + 1] = fmt("[len %d]", len) end
    o, left, sep = o + n, left - n, true
    out.whole = true
    if opt == OPT.EOL then break end
  end
  return "ok"
end

-- ", options [...]" for the n option bytes at off, read no further than
-- stop (ctx: thseq, thack and rev, the bases SACK blocks are relative to,
-- 0 for absolute numbers; payload_cut, the payload not all captured), and
-- whether the line goes on: "ok"; "bad" (tcpdump stops after
-- "[bad opt]"); "cut" (a read past stop: the text so far and " [|tcp]").
local function options(p, off, n, stop, ctx)
  local out = {", options ["}
  local ok, res, closed = pcall(options_text, reader(p, stop), off, n, ctx, out)
  if not ok then
    if res == CUT then return concat(out) .. " [|tcp]", "cut" end
    if res == TRUNC then return concat(out) .. " [|tcp]" .. (out.whole and ">" or ""), "cut" end
    error(res, 0)
  end
  if res == "bad" then return concat(out) .. "[bad opt]" .. (closed and "]" or ""), "bad" end
  return concat(out) .. "]", "ok"
end
M.options = options

---------------------------------------------------------------------------
-- The segment.

local function endpoints(a, b, sp, dp)
  return fmt("%s.%d > %s.%d: ", a, sp, b, dp)
end

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
function M.text(p, a, b, off, wend, conv)
  local t = p:tcp()
  if not t then return header_problem(p, a, b, off, wend) end
  local f, seq, ack = t.flags, t.seq, t.ack
  local s = endpoints(a, b, t.sport, t.dport) .. fmt("Flags [%s]", M.flags(f))
  local length = wend - off - t.hlen
  local ctx = {thseq = 0, thack = 0, payload_cut = off + t.hlen + length > p.l3end}
  if conv and band(f, ACK) ~= 0 then
    seq, ack, ctx.thseq, ctx.thack, ctx.rev = conv:relative(a, b, t.sport, t.dport, seq, ack, f)
  end
  if length < 0 then
    return s .. fmt(" [bad hdr length %d - too long, > %d]", t.hlen, wend - off)
  end
  local parts = {s}
  if length > 0 or band(f, SYN + FIN + RST) ~= 0 then
    parts[#parts + 1] = length > 0 and fmt(", seq %d:%d", seq, u32(seq + length))
      or fmt(", seq %d", seq)
  end
  if band(f, ACK) ~= 0 then parts[#parts + 1] = fmt(", ack %d", ack) end
  parts[#parts + 1] = fmt(", win %d", t.win)
  if band(f, URG) ~= 0 then parts[#parts + 1] = fmt(", urg %d", t.urp) end
  if t.hlen > 20 then
    local text, how = options(p, off + 20, t.hlen - 20, p.l3end, ctx)
    parts[#parts + 1] = text
    if how ~= "ok" then return concat(parts) end
  end
  parts[#parts + 1] = fmt(", length %d", length)
  s = concat(parts)
  if length == 0 then return s end
  if off + t.hlen > p.l3end then  -- options ended (EOL) before the cut
    return s .. fmt(" [remaining caplen(%d) < header length(%d)] [|tcp]", p.l3end - off, t.hlen)
  end
  -- tcpapp follows tcpdump's port order, in which DNS (53) comes after
  -- HTTP, FTP, SSH...: a segment between 80 and 53 prints as HTTP
  return s .. (tcpapp.text(p, t.sport, t.dport, off + t.hlen, length, f) or dnstext.packet(p) or "")
end

return M
