-- tcpbin.lua - the binary application protocols tcpdump 4.99 (-n, not
-- -v) prints after a TCP segment's ", length N" (pktsh.proto.tcpapp
-- picks the printer by port): telnet's option negotiation, Redis' RESP,
-- PPTP, BEEP, MSDP, BGP, RPKI-RTR and LDP.
--
-- Ported from tcpdump 4.99.3's print-telnet.c, print-resp.c,
-- print-pptp.c, print-beep.c, print-msdp.c, print-bgp.c, print-rpki-rtr.c
-- and print-ldp.c. Each printer takes (s, avail, len): the segment's
-- bytes as a string, how many of them were captured, and its length
-- from the IP header; it reads nothing at or past avail.
local B = {}

local byte, sub, fmt = string.byte, string.sub, string.format
local concat = table.concat
local bit = require "bit"
local band, rshift = bit.band, bit.rshift

local LF, CR = 10, 13

-- Reading past the captured bytes ends a tcpdump printer (its longjmp
-- out of GET_U_1): what it printed so far, then " [|proto]". The binary
-- printers below raise CUT there, and run under guarded.
local CUT = {}

local function u8(s, avail, i)
  if i >= avail then error(CUT) end
  return byte(s, i + 1)
end

local function u16(s, avail, i) return u8(s, avail, i) * 256 + u8(s, avail, i + 1) end

local function u32(s, avail, i) return u16(s, avail, i) * 65536 + u16(s, avail, i + 2) end

-- fn_print_char: M- for the high bit, ^X for control characters.
local function escape_char(ch)
  local c, pre = byte(ch), ""
  if c >= 0x80 then c, pre = c - 0x80, "M-" end
  if c < 0x20 or c == 0x7f then c, pre = bit.bxor(c, 0x40), pre .. "^" end
  return pre .. string.char(c)
end

local function escape(s) return (s:gsub("[^\32-\126]", escape_char)) end

-- fn(s, avail, len, out) appends its text to out; the text, or nil for none.
local function guarded(name, fn, s, avail, len)
  local out = {}
  local ok, err = pcall(fn, s, avail, len, out)
  if not ok and err ~= CUT then error(err, 0) end
  if not ok then out[#out + 1] = " [|" .. name .. "]" end
  if #out == 0 then return nil end
  return concat(out)
end

-- fetch_token: the printable token at 0-based index i and the index after
-- it and its trailing blanks; nil when there is none (binary, too long,
---------------------------------------------------------------------------
-- print-telnet.c: the IAC commands at the start of the segment,
-- " [telnet WILL ECHO, DO NAWS]"; text prints nothing.

local IAC, SB, SE = 255, 250, 240
local TELCMDS = {[0] = "EOF", "SUSP", "ABORT", "EOR", "SE", "NOP", "DMARK", "BRK", "IP",
  "AO", "AYT", "EC", "EL", "GA", "SB", "WILL", "WONT", "DO", "DONT", "IAC"}
local TELOPTS = {[0] = "BINARY", "ECHO", "RCP", "SUPPRESS GO AHEAD", "NAME", "STATUS",
  "TIMING MARK", "RCTE", "NAOL", "NAOP", "NAOCRD", "NAOHTS", "NAOHTD", "NAOFFD",
  "NAOVTS", "NAOVTD", "NAOLFD", "EXTEND ASCII", "LOGOUT", "BYTE MACRO",
  "DATA ENTRY TERMINAL", "SUPDUP", "SUPDUP OUTPUT", "SEND LOCATION",
  "TERMINAL TYPE", "END OF RECORD", "TACACS UID", "OUTPUT MARKING", "TTYLOC",
  "3270 REGIME", "X.3 PAD", "NAWS", "TSPEED", "LFLOW", "LINEMODE", "XDISPLOC",
  "OLD-ENVIRON", "AUTHENTICATION", "ENCRYPT", "NEW-ENVIRON"}
local NTELOPTS = 40
-- The names of a subnegotiation's first bytes, by option (37
-- authentication, 38 encryption, other options); false: no name.
local SUBCMDS = {[37] = {[0] = "IS", "SEND", "REPLY", "NAME"},
  [38] = {[0] = "IS", "SUPPORT", "REPLY", "START", "END", "REQUEST-START",
          "REQUEST-END", "END_KEYID", "DEC_KEYID"}}
local SUBCMDS_OTHER = {[0] = "IS", "SEND", "INFO"}
local SUBTYPES = {[37] = {[0] = "NULL", "KERBEROS_V4", "KERBEROS_V5", "SPX", "MINK",
  "SRP", "RSA", "SSL", false, false, "LOKI", "SSA", "KEA_SJ", "KEA_SJ_INTEG", "DSS", "NTLM"},
  [38] = {[0] = "NULL", "DES_CFB64", "DES_OFB64", "DES3_CFB64", "DES3_OFB64", false,
          "CAST5_40_CFB64", "CAST5_40_OFB64", "CAST128_CFB64", "CAST128_OFB64"}}

local function name_or_hex(tab, x) return tab[x] or fmt("%#x", x) end

-- telnet_parse: one command at i with n bytes left in the segment; its
-- length (which may run one past the segment, as tcpdump's does) or
-- nil; its text is appended to out.
local function telnet_cmd(s, avail, i, n, out)
  local start = i
  local function fetch()
    if n < 1 then return nil end
    local c = u8(s, avail, i)
    i, n = i + 1, n - 1
    return c
  end
  local function at(k) return u8(s, avail, k) end
  local c = fetch()
  if c ~= IAC then return nil end
  c = fetch()
  if not c then return nil end
  if c == IAC then out[#out + 1] = "IAC IAC"; return i - start end
  if c < 236 then return nil end
  local name = TELCMDS[c - 236]
  if c < SB then out[#out + 1] = name; return i - start end
  local x = fetch()
  if not x then return nil end
  out[#out + 1] = x < NTELOPTS and name .. " " .. TELOPTS[x] or name .. " " .. fmt("%#x", x)
  if c ~= SB then return i - start end
  -- IAC SB x ... IAC SE
  local p = i
  while n > p + 1 - i do
    if at(p) == IAC and at(p + 1) == SE then break end
    p = p + 1
  end
  if at(p) ~= IAC then return nil end
  if p > i then
    out[#out + 1] = " " .. name_or_hex(SUBCMDS[x] or SUBCMDS_OTHER, fetch())
    if SUBTYPES[x] and p > i then out[#out + 1] = " " .. name_or_hex(SUBTYPES[x], fetch()) end
  end
  while p > i do
    local v = fetch()
    if not v then return nil end
    out[#out + 1] = " " .. fmt("%#x", v)
  end
  out[#out + 1] = " SE"
  return i + 2 - start
end

-- telnet_print: the commands one after the other until one is not.
local function telnet_cmds(s, avail, len, out)
  local i, n = 0, len
  while n ~= 0 do                    -- n < 0: a command ran past the end
    if u8(s, avail, i) ~= IAC then break end
    local l = telnet_cmd(s, avail, i, n, {})
    if not l then break end
    out[#out + 1] = #out == 0 and " [telnet " or ", "
    telnet_cmd(s, avail, i, n, out)
    i, n = i + l, n - l
  end
  if #out > 0 then out[#out + 1] = "]" end
end

local function telnet(s, avail, len) return guarded("telnet", telnet_cmds, s, avail, len) end

---------------------------------------------------------------------------
-- print-beep.c: the frame's keyword. tcpdump compares 4 bytes with "MSG"
-- and "END" (their '\0' included), so "MSG " is not one.

local BEEP = {{"MSG\0", " BEEP MSG"}, {"RPY ", " BEEP RPY"}, {"ERR ", " BEEP ERR"},
  {"ANS ", " BEEP ANS"}, {"NUL ", " BEEP NUL"}, {"SEQ ", " BEEP SEQ"}, {"END\0", " BEEP END"}}

local function beep(s, avail, len)
  if avail >= 4 and len >= 4 then
    local head = sub(s, 1, 4)
    for _, k in ipairs(BEEP) do
      if head == k[1] then return k[2] end
    end
  end
  return " BEEP (payload or undecoded)"
end

---------------------------------------------------------------------------
-- print-msdp.c: the messages of the segment, by type.

local MSDP_SA = {[1] = " SA", [3] = " SA-Response"}

local function msdp_msgs(s, avail, len, out)
  out[1] = ": msdp"
  local t, l = u8(s, avail, 0), u16(s, avail, 1)
  if l > 1500 or l < 3 or t == 0 or t > 7 then error(CUT) end  -- "not really truncated"
  local i, n = 0, len
  while n ~= 0 do
    t, l = u8(s, avail, i), u16(s, avail, i + 1)
    if l > 1400 then out[#out + 1] = fmt(" [len %d]", l) end
    if l < 3 or n < l then error(CUT) end
    i, n = i + 3, n - 3
    if MSDP_SA[t] then
      local entries = u8(s, avail, i)
      out[#out + 1] = MSDP_SA[t] .. fmt(" %d entries", entries)
      if entries * 12 + 8 < l then out[#out + 1] = " [w/data]" end
    elseif t == 2 then
      out[#out + 1] = " SA-Request"
      out[#out + 1] = fmt(" for %d.%d.%d.%d", u8(s, avail, i + 1),
        u8(s, avail, i + 2), u8(s, avail, i + 3), u8(s, avail, i + 4))
    elseif t == 4 then
      out[#out + 1] = " Keepalive" .. (l ~= 3 and fmt("[len=%d] ", l) or "")
    elseif t == 5 then
      out[#out + 1] = " Notification"
    else
      out[#out + 1] = fmt(" [type=%d len=%d]", t, l)
    end
    i, n = i + l - 3, n - (l - 3)
  end
end

local function msdp(s, avail, len) return guarded("msdp", msdp_msgs, s, avail, len) end

---------------------------------------------------------------------------
-- print-resp.c: Redis' RESP items, pipelined; an array's elements follow
-- it as items of their own (counted here, not recursed into, so nesting
-- costs no stack). Every error is tcpdump's " [|resp]".

local INT_MAX = 2147483647

local function resp_quote(s) return ' "' .. escape(s) .. '"' end

-- FIND_CRLF: the index of the CR of the next CR LF at or after i.
local function find_crlf(s, avail, i, n)
  while true do
    if n < 2 or i + 2 > avail then error(CUT) end
    if byte(s, i + 1) == CR and byte(s, i + 2) == LF then return i end
    i, n = i + 1, n - 1
  end
end

-- resp_get_length: the number (or -2 cut, -3 too large, -4 negative,
-- -5 invalid) and the index after it.
local function resp_length(s, avail, i, n)
  if n == 0 then return -2, i end
  local neg = u8(s, avail, i) == 45        -- '-'
  if neg then i, n = i + 1, n - 1 end
  local v, digits, big = 0, false, false
  while true do
    if n == 0 then return -2, i end
    local c = u8(s, avail, i)
    if c < 48 or c > 57 then
      if not digits then return -5, i + 1 end
      break
    end
    if v > (INT_MAX - INT_MAX % 10) / 10 then big = true
    elseif v * 10 == INT_MAX - INT_MAX % 10 and c - 48 > INT_MAX % 10 then big, v = true, v * 10
    else v = v * 10 + c - 48 end
    i, n, digits = i + 1, n - 1, true
  end
  if u8(s, avail, i) ~= CR then return -5, i + 1 end
  i, n = i + 1, n - 1
  if n == 0 then return -2, i end
  if u8(s, avail, i) ~= LF then return -5, i + 1 end
  i = i + 1
  if neg then
    if big or v ~= 1 then return -4, i end
    return -1, i
  end
  return big and -3 or v, i
end

local RESP_ODD = {[-1] = " null", [-3] = " length too large", [-4] = " length negative and not -1"}

-- An inline command: a line after any CRs and LFs, ended by CRs and LFs.
local function resp_inline(s, avail, i, n, out)
  local function skip_eol(k, found)
    while true do
      if n == 0 or k >= avail then
        if found then return k end
        error(CUT)
      end
      local c = byte(s, k + 1)
      if c ~= CR and c ~= LF then return k end
      found, k, n = true, k + 1, n - 1
    end
  end
  local start = skip_eol(i, false)
  local k = start
  while true do
    if n < 1 then error(CUT) end
    local c = u8(s, avail, k)
    if c == CR or c == LF then break end
    k, n = k + 1, n - 1
  end
  out[#out + 1] = resp_quote(sub(s, start + 1, k))
  return skip_eol(k, false) - i
end

-- One item at i (n bytes left): the bytes it takes and the number of
-- array elements that follow it.
local function resp_item(s, avail, i, n, out)
  local op = u8(s, avail, i)
  if op == 43 or op == 58 or op == 45 then            -- + : -
    local e = find_crlf(s, avail, i + 1, n - 1)
    out[#out + 1] = resp_quote(sub(s, i + 2, e))
    return e + 2 - i, 0
  end
  if op ~= 36 and op ~= 42 then return resp_inline(s, avail, i, n, out), 0 end
  local v, k = resp_length(s, avail, i + 1, n - 1)
  if v == -2 then error(CUT) end
  if op == 42 then                                    -- '*': an array
    if v > 0 then return k - i, v end
    out[#out + 1] = v == 0 and " empty" or RESP_ODD[v] or " invalid"
    return k - i, 0
  end
  if v < 0 then                                       -- '$': a bulk string
    out[#out + 1] = RESP_ODD[v] or " invalid"
    return k - i, 0
  end
  local left = n - (k - i)
  if v == 0 then
    out[#out + 1] = " empty"
  else
    if left < v or k + v > avail then error(CUT) end
    out[#out + 1] = resp_quote(sub(s, k + 1, k + v))
    k, left = k + v, left - v
  end
  return find_crlf(s, avail, k, left) + 2 - i, 0
end

local function resp_items(s, avail, len, out)
  out[1] = ": RESP"
  local i, n, pending = 0, len, 0
  while n > 0 or pending > 0 do
    if n == 0 then error(CUT) end
    if pending > 0 then pending = pending - 1 end
    local used, elems = resp_item(s, avail, i, n, out)
    i, n, pending = i + used, n - used, pending + elems
  end
end

local function resp(s, avail, len) return guarded("resp", resp_items, s, avail, len) end

---------------------------------------------------------------------------
-- print-pptp.c: the control message's fields, in the order and with the
-- names tcpdump prints them; offsets from the end of the 12-byte header.

local PPTP_TYPES = {[0] = "NOT_DEFINED", "SCCRQ", "SCCRP", "StopCCRQ", "StopCCRP", "ECHORQ",
  "ECHORP", "OCRQ", "OCRP", "ICRQ", "ICRP", "ICCN", "CCRQ", "CDN", "WEN", "SLI"}
local PPTP_BTYPE = {"A", "D", "Any"}
local PPTP_FTYPE = {"A", "S", "E"}

-- nd_printjnp: up to n bytes, to the first NUL, escaped; cut at avail.
local function printjnp(s, avail, i, n, out)
  for k = i, i + n - 1 do
    local c = u8(s, avail, k)
    if c == 0 then return end
    out[#out + 1] = escape_char(string.char(c))
  end
end

-- One field: {kind, offset, label or format, extra}.
local PPTP_FIELD = {
  u8 = function(s, a, i, f, out) out[#out + 1] = fmt(f[3], u8(s, a, i)) end,
  u16 = function(s, a, i, f, out) out[#out + 1] = fmt(f[3], u16(s, a, i)) end,
  u32 = function(s, a, i, f, out) out[#out + 1] = fmt(f[3], u32(s, a, i)) end,
  ver = function(s, a, i, _, out)
    local v = u16(s, a, i)
    out[#out + 1] = fmt(" PROTO_VER(%d.%d)", rshift(v, 8), band(v, 0xff))
  end,
  res1 = function(s, a, i, _, out)
    local v = u8(s, a, i)
    if v ~= 0 then out[#out + 1] = fmt(" [ERROR: reserved=%d must be zero]", v) end
  end,
  res2 = function(s, a, i, _, out)
    local v = u16(s, a, i)
    if v ~= 0 then out[#out + 1] = fmt(" [ERROR: reserved=%d must be zero]", v) end
  end,
  fcap = function(s, a, i, _, out)
    out[#out + 1] = " FRAME_CAP("
    local v = u32(s, a, i)
    out[#out + 1] = (band(v, 1) ~= 0 and "A" or "") .. (band(v, 2) ~= 0 and "S" or "") .. ")"
  end,
  bcap = function(s, a, i, _, out)
    local v = u32(s, a, i)
    out[#out + 1] = " BEARER_CAP(" .. (band(v, 2) ~= 0 and "D" or "") .. (band(v, 1) ~= 0 and "A" or "") .. ")"
  end,
  btype = function(s, a, i, _, out) out[#out + 1] = " BEARER_TYPE(" .. (PPTP_BTYPE[u32(s, a, i)] or "?") .. ")" end,
  ftype = function(s, a, i, _, out) out[#out + 1] = " FRAME_TYPE(" .. (PPTP_FTYPE[u32(s, a, i)] or "?") .. ")" end,
  str = function(s, a, i, f, out)
    out[#out + 1] = f[3]
    printjnp(s, a, i, f[4], out)
    out[#out + 1] = ")"
  end,
  -- a string as long as the 16-bit length at offset f[4], at most 64
  strn = function(s, a, i, f, out)
    out[#out + 1] = f[3]
    printjnp(s, a, i, math.min(64, u16(s, a, 12 + f[4])), out)
    out[#out + 1] = ")"
  end,
}

local CALL_ID, PEER = {"u16", 0, " CALL_ID(%d)"}, {"u16", 2, " PEER_CALL_ID(%d)"}
local function result(o) return {"u8", o, " RESULT_CODE(%d)"} end
local function err(o) return {"u8", o, " ERR_CODE(%d)"} end
local function winsiz(o) return {"u16", o, " RECV_WIN(%d)"} end
local function delay(o) return {"u16", o, " PROC_DELAY(%d)"} end
local function peer0() return {"u16", 0, " PEER_CALL_ID(%d)"} end
local SCC_TAIL = {{"fcap", 4}, {"bcap", 8}, {"u16", 12, " MAX_CHAN(%d)"},
  {"u16", 14, " FIRM_REV(%d)"}, {"str", 16, " HOSTNAME(", 64}, {"str", 80, " VENDOR(", 64}}
local function with_scc_tail(t)
  for _, f in ipairs(SCC_TAIL) do t[#t + 1] = f end
  return t
end

local PPTP_MSGS = {
  with_scc_tail{{"ver", 0}, {"res2", 2}},
  with_scc_tail{{"ver", 0}, result(2), err(3)},
  {{"u8", 0, " REASON(%d)"}, {"res1", 1}, {"res2", 2}},
  {result(0), err(1), {"res2", 2}},
  {{"u32", 0, " ID(%d)"}},
  {{"u32", 0, " ID(%d)"}, result(4), err(5), {"res2", 6}},
  {CALL_ID, {"u16", 2, " CALL_SER_NUM(%d)"}, {"u32", 4, " MIN_BPS(%d)"},
   {"u32", 8, " MAX_BPS(%d)"}, {"btype", 12}, {"ftype", 16}, winsiz(20), delay(22),
   {"u16", 24, " PHONE_NO_LEN(%d)"}, {"res2", 26}, {"strn", 28, " PHONE_NO(", 24},
   {"str", 92, " SUB_ADDR(", 64}},
  {CALL_ID, PEER, result(4), err(5), {"u16", 6, " CAUSE_CODE(%d)"},
   {"u32", 8, " CONN_SPEED(%d)"}, winsiz(12), delay(14), {"u32", 16, " PHY_CHAN_ID(%d)"}},
  {CALL_ID, {"u16", 2, " CALL_SER_NUM(%d)"}, {"btype", 4}, {"u32", 8, " PHY_CHAN_ID(%d)"},
   {"u16", 12, " DIALED_NO_LEN(%d)"}, {"u16", 14, " DIALING_NO_LEN(%d)"},
   {"strn", 16, " DIALED_NO(", 12}, {"strn", 80, " DIALING_NO(", 14}, {"str", 144, " SUB_ADDR(", 64}},
  {CALL_ID, PEER, result(4), err(5), winsiz(6), delay(8), {"res2", 10}},
  {peer0(), {"res2", 2}, {"u32", 4, " CONN_SPEED(%d)"}, winsiz(8), delay(10), {"ftype", 12}},
  {CALL_ID, {"res2", 2}},
  {CALL_ID, result(2), err(3), {"u16", 4, " CAUSE_CODE(%d)"}, {"res2", 6},
   {"str", 8, " CALL_STATS(", 128}},
  {peer0(), {"res2", 2}, {"u32", 4, " CRC_ERR(%d)"}, {"u32", 8, " FRAMING_ERR(%d)"},
   {"u32", 12, " HARDWARE_OVERRUN(%d)"}, {"u32", 16, " BUFFER_OVERRUN(%d)"},
   {"u32", 20, " TIMEOUT_ERR(%d)"}, {"u32", 24, " ALIGN_ERR(%d)"}},
  {peer0(), {"res2", 2}, {"u32", 4, " SEND_ACCM(0x%08x)"}, {"u32", 8, " RECV_ACCM(0x%08x)"}},
}

local function pptp_msg(s, avail, _, out)
  out[1] = ": pptp"
  local cookie = u32(s, avail, 4)
  if cookie ~= 0x1a2b3c4d then
    out[#out + 1] = fmt(" UNEXPECTED Magic-Cookie!!(%08x) Magic-Cookie=%08x", cookie, cookie)
  end
  local t = u16(s, avail, 8)
  out[#out + 1] = PPTP_TYPES[t] and " CTRL_MSGTYPE=" .. PPTP_TYPES[t] or fmt(" UNKNOWN_CTRL_MSGTYPE(%d)", t)
  PPTP_FIELD.res2(s, avail, 10, nil, out)
  for _, f in ipairs(PPTP_MSGS[t] or {}) do PPTP_FIELD[f[1]](s, avail, 12 + f[2], f, out) end
end

local function pptp(s, avail, len) return guarded("pptp", pptp_msg, s, avail, len) end

---------------------------------------------------------------------------
-- print-bgp.c and print-rpki-rtr.c print only their name without -v;
-- print-ldp.c the first PDU's header, right after the length.

local function bgp() return ": BGP" end
local function rpki_rtr() return ", RPKI-RTR" end

local function ldp_header(s, avail, len, out)
  if len <= 18 then return end                  -- a common and a message header
  for k = 0, 9 do u8(s, avail, k) end           -- ND_TCHECK_SIZE of the common header
  local version, pdu_len = u16(s, avail, 0), u16(s, avail, 2)
  if version ~= 1 then
    out[1] = fmt("LDP version %d packet not supported", version)
  elseif pdu_len < 6 then
    out[1] = fmt("LDP, pdu-length: %d (too short, < 6)", pdu_len)
  else
    out[1] = fmt("LDP, Label-Space-ID: %d.%d.%d.%d:%d, pdu-length: %d", u8(s, avail, 4),
      u8(s, avail, 5), u8(s, avail, 6), u8(s, avail, 7), u16(s, avail, 8), pdu_len)
  end
end

local function ldp(s, avail, len) return guarded("ldp", ldp_header, s, avail, len) end

B.telnet, B.beep, B.msdp, B.resp = telnet, beep, msdp, resp
B.pptp, B.bgp, B.rpki_rtr, B.ldp = pptp, bgp, rpki_rtr, ldp

return B
