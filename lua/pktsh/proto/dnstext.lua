-- dnstext.lua - DNS messages as tcpdump prints them: the text after
-- "a.53 > b.40000: " in `tcpdump -n` (`42308+ A? example.com. (29)`,
-- `42308 NXDomain 0/1/0 (91)`), at tcpdump's verbosity levels (-v names
-- the records, -vv prints every section, -vvv the TTLs).
--
--   dnstext.message(p, off, length, snap, opts) -> text
--       p: a packet; off: where the message (or, over TCP, its 2-byte
--       length prefix) starts in p.data; length: the payload length the
--       transport header gives (tcpdump's `length`); snap: the end of what
--       may be read (the capture, cut to the IP datagram); opts: tcp,
--       mdns (booleans), verbose (0-3).
--   dnstext.packet(p [, verbose]) -> the DNS text of a packet on a DNS port,
--       or nil (what the one-line summary, p:summary(), ends with)
--   dnstext.tree(p) -> the lines of the DNS layer in p:show(), or nil
--   dnstext.port_kind(sport, dport, tcp) -> "dns", "mdns" or nil: the ports
--       tcpdump decodes as DNS (53 over UDP and TCP, 5353 over UDP).
--
-- This is a port of tcpdump 4.99's print-domain.c, kept close to the
-- original so its output matches byte for byte, the odd parts included
-- (" Resp17" lacks its space, a cut message ends in " [|domain]", label
-- bytes print as ASCII with M- and ^ escapes rather than RFC 1035 ones).
-- Every read goes through get8 (bounded by snap, the checked accessor
-- p:u8 under it): a read past the end ends the text with " [|domain]",
-- as tcpdump's GET_ macros do. Compression pointers must point strictly
-- backwards, so every walk ends.
local buffer = require "string.buffer"
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local numbers = require "pktsh.proto.numbers"
local tunneltext = require "pktsh.proto.tunneltext"
local PKT, FRAG, IP = numbers.PKT, numbers.FRAG, numbers.IPPROTO

local band, bor, lshift, rshift, bxor = bit.band, bit.bor, bit.lshift, bit.rshift, bit.bxor
local fmt, concat = string.format, table.concat

local M = {}

local TRUNC = {}   -- raised by a read past the end: tcpdump's longjmp

-- The state of the message being printed (calls do not nest). out is
-- one buffer reused for every message: a table of pieces joined at the
-- end (a fresh one per message, grown to a hundred pieces, each a string
-- of its own) cost more than the printing.
local pkt, snap
local out = buffer.new(256)

local function emit(s) out:put(s) end
local function ttest(pos, n) return pos >= 0 and pos + n <= snap end

local function get8(pos)
  if not ttest(pos, 1) then error(TRUNC, 0) end
  return pkt:u8(pos)
end
local function get16(pos) return bor(lshift(get8(pos), 8), get8(pos + 1)) end
local function get32(pos) return get16(pos) * 65536 + get16(pos + 2) end

---------------------------------------------------------------------------
-- Names of numbers, as tcpdump spells them.

local TYPES = {[1] = "A", [2] = "NS", [3] = "MD", [4] = "MF", [5] = "CNAME",
  [6] = "SOA", [7] = "MB", [8] = "MG", [9] = "MR", [10] = "NULL", [11] = "WKS",
  [12] = "PTR", [13] = "HINFO", [14] = "MINFO", [15] = "MX", [16] = "TXT",
  [17] = "RP", [18] = "AFSDB", [19] = "X25", [20] = "ISDN", [21] = "RT",
  [22] = "NSAP", [23] = "NSAP_PTR", [24] = "SIG", [25] = "KEY", [26] = "PX",
  [27] = "GPOS", [28] = "AAAA", [29] = "LOC", [30] = "NXT", [31] = "EID",
  [32] = "NIMLOC", [33] = "SRV", [34] = "ATMA", [35] = "NAPTR", [36] = "KX",
  [37] = "CERT", [38] = "A6", [39] = "DNAME", [40] = "SINK", [41] = "OPT",
  [42] = "APL", [43] = "DS", [44] = "SSHFP", [45] = "IPSECKEY", [46] = "RRSIG",
  [47] = "NSEC", [48] = "DNSKEY", [99] = "SPF", [100] = "UINFO", [101] = "UID",
  [102] = "GID", [103] = "UNSPEC", [104] = "UNSPECA", [249] = "TKEY",
  [250] = "TSIG", [251] = "IXFR", [252] = "AXFR", [253] = "MAILB",
  [254] = "MAILA", [255] = "ANY", [256] = "URI"}
local CLASSES = {[1] = "IN", [3] = "CHAOS", [4] = "HS", [255] = "ANY"}
local OPS = {[0] = "", " inv_q", " stat", " op3", " notify", " update", " op6",
  " op7", " op8", " updateA", " updateD", " updateDA", " updateM", " updateMA",
  " zoneInit", " zoneRef"}
local RCODES = {[0] = "", " FormErr", " ServFail", " NXDomain", " NotImp",
  " Refused", " YXDomain", " YXRRSet", " NXRRSet", " NotAuth", " NotZone",
  " Resp11", " Resp12", " Resp13", " Resp14", " NoChange", " BadVers", "Resp17",
  " Resp18", " Resp19", " Resp20", "Resp21", " Resp22", " BadCookie"}
local EOPTS = {[1] = "LLQ", [2] = "UL", [3] = "NSID", [5] = "DAU", [6] = "DHU",
  [7] = "N3U", [8] = "ECS", [9] = "EXPIRE", [10] = "COOKIE", [11] = "KEEPALIVE",
  [12] = "PADDING", [13] = "CHAIN", [14] = "KEY-TAG", [16] = "CLIENT-TAG",
  [17] = "SERVER-TAG"}
local DAU = {[0] = "DELETE", [1] = "RSAMD5", [2] = "DH", [3] = "DS", [5] = "RSASHA1",
  [6] = "DSA-NSEC3-SHA1", [7] = "RSASHA1-NSEC3-SHA1", [8] = "RSASHA256",
  [10] = "RSASHA512", [12] = "ECC-GOST", [13] = "ECDSAP256SHA256",
  [14] = "ECDSAP384SHA384", [15] = "ED25519", [16] = "ED448", [252] = "INDIRECT",
  [253] = "PRIVATEDNS", [254] = "PRIVATEOID"}
local DHU = {[1] = "SHA-1", [2] = "SHA-256", [3] = "GOST_R_34.11-94", [4] = "SHA-384"}
local N3U = {[1] = "SHA-1"}

local function rcode_text(rc)
  return RCODES[rc] or fmt(" Resp%d", rc % 4096)   -- 12 bits
end

---------------------------------------------------------------------------
-- Bytes as text.

-- One byte as tcpdump's fn_print_char: M- for the high bit, ^ for controls.
local function char_text(c)
  local s = ""
  if c >= 0x80 then c, s = band(c, 0x7f), "M-" end
  if c < 0x20 or c > 0x7e then c, s = bxor(c, 0x40), s .. "^" end
  return s .. string.char(c)
end

-- The length of the run of bytes from pos (at most n) that print as
-- themselves.
local function plain_run(pos, n)
  local d, k = pkt.data, 0
  while k < n and d[pos + k] >= 0x20 and d[pos + k] <= 0x7e do k = k + 1 end
  return k
end

-- Prints n bytes from pos, stopping at snap; true when all were there.
-- A run of plain bytes (a label's usual letters and digits) goes out as
-- one string rather than a byte at a time.
local function printn(pos, n)
  if pos >= 0 then
    local k = plain_run(pos, math.min(n, snap - pos))
    if k > 0 then
      out:putcdata(pkt.data + pos, k)   -- no string made for the run
      pos, n = pos + k, n - k
    end
  end
  while n > 0 and pos < snap do
    emit(char_text(get8(pos)))
    pos, n = pos + 1, n - 1
  end
  return n == 0
end

local function in4_text(pos)
  return fmt("%d.%d.%d.%d", get8(pos), get8(pos + 1), get8(pos + 2), get8(pos + 3))
end

-- addrtostr6: the longest run of two or more zero words as "::", and the
-- IPv4-compatible and -mapped forms with a dotted quad. The tables are
-- reused (an answer may hold many addresses; calls do not nest).
local in6_parts, in6_words, in6_bytes = {}, {}, {}

local function in6_words_text(w)
  local best, blen, cur, clen = -1, 0, -1, 0
  for i = 0, 7 do
    if w[i] == 0 then
      if cur == -1 then cur, clen = i, 1 else clen = clen + 1 end
    elseif cur ~= -1 then
      if best == -1 or clen > blen then best, blen = cur, clen end
      cur = -1
    end
  end
  if cur ~= -1 and (best == -1 or clen > blen) then best, blen = cur, clen end
  if best ~= -1 and blen < 2 then best = -1 end
  local t, n = in6_parts, 0
  for i = 0, 7 do
    if best ~= -1 and i >= best and i < best + blen then
      if i == best then n = n + 1; t[n] = ":" end
    else
      if i ~= 0 then n = n + 1; t[n] = ":" end
      if i == 6 and best == 0 and (blen == 6 or (blen == 5 and w[5] == 0xffff)) then
        n = n + 1
        t[n] = fmt("%d.%d.%d.%d", rshift(w[6], 8), band(w[6], 255),
                   rshift(w[7], 8), band(w[7], 255))
        break
      end
      n = n + 1
      t[n] = fmt("%x", w[i])
    end
  end
  if best ~= -1 and best + blen == 8 then n = n + 1; t[n] = ":" end
  return concat(t, "", 1, n)
end

local function in6_bytes_text(b)
  local w = in6_words
  for i = 0, 7 do w[i] = bor(lshift(b[2 * i], 8), b[2 * i + 1]) end
  return in6_words_text(w)
end
M.in6_text = in6_bytes_text

local function in6_text(pos)
  local b = in6_bytes
  for i = 0, 15 do b[i] = get8(pos + i) end
  return in6_bytes_text(b)
end

---------------------------------------------------------------------------
-- Names (print-domain.c: ns_nskip, labellen, blabel_print, fqdn_print).

local MAXCDNAME = 255

-- The position after the name at cp, or nil.
local function nskip(cp)
  if not ttest(cp, 1) then return nil end
  local i = get8(cp)
  cp = cp + 1
  while i ~= 0 do
    local t = band(i, 0xc0)
    if t == 0xc0 then return cp + 1 end
    if t == 0x80 then return nil end
    if t == 0x40 then
      if band(i, 0x3f) ~= 1 or not ttest(cp, 1) then return nil end
      local bits = get8(cp)
      if bits == 0 then bits = 256 end
      cp = cp + 1 + rshift(bits + 7, 3)
    else
      cp = cp + i
    end
    if not ttest(cp, 1) then return nil end
    i = get8(cp)
    cp = cp + 1
  end
  return cp
end

local function labellen(cp)
  if not ttest(cp, 1) then return -1 end
  local i = get8(cp)
  local t = band(i, 0xc0)
  if t == 0x40 then
    local elt = band(i, 0x3f)
    if elt ~= 1 then emit(fmt("<ELT %d>", elt)); return -1 end
    if not ttest(cp + 1, 1) then return -1 end
    local bits = get8(cp + 1)
    if bits == 0 then bits = 256 end
    return rshift(bits + 7, 3) + 1
  end
  if t == 0x80 then emit("<BAD LABEL TYPE>"); return -1 end
  return i
end

-- A bit-string label (RFC 2673) as \[x..../bits].
local function blabel(cp)
  if not ttest(cp, 1) then return nil end
  local bits = get8(cp)
  if bits == 0 then bits = 256 end
  local lim = cp + 1 + rshift(bits + 3, 2)
  emit("\\[x")
  local bp, b = cp + 1, bits
  while bp < lim and b > 7 do
    emit(fmt("%02x", get8(bp)))
    b, bp = b - 8, bp + 1
  end
  if b > 4 then
    emit(fmt("%02x", band(get8(bp), lshift(0xff, 8 - b))))
  elseif b > 0 then
    emit(fmt("%1x", band(band(rshift(get8(bp), 4), 0x0f), lshift(0x0f, 4 - b))))
  end
  emit(fmt("/%d]", bits))
  return lim
end

-- The state of the name being printed (calls do not nest): one table
-- reused, not one a name.
local st = {}

-- One step of a name: a pointer jump, a bit label or a label. Returns
-- the new cp and label length, or nil to stop the name.
local function name_step(i, cp, l, bp)
  local t = band(i, 0xc0)
  if t == 0xc0 then
    if not st.compress then st.rp, st.compress = cp + 1, true end
    if not ttest(cp, 1) then return nil end
    local offset = band(bor(lshift(i, 8), get8(cp)), 0x3fff)
    if offset >= st.max then emit("<BAD PTR>"); return nil end
    st.max = offset
    cp = bp + offset
    if not ttest(cp, 1) then return nil end
    st.i = get8(cp)
    l = labellen(cp)
    if l == -1 then return nil end
    return cp + 1, l, true
  elseif t == 0x40 then
    local elt = band(i, 0x3f)
    if elt ~= 1 then emit(fmt("<ELT %d>", elt)); return nil end
    if not blabel(cp) then return nil end
  elseif t == 0x80 then
    emit("<BAD LABEL TYPE>")
    return nil
  else
    local n = st.chars + l <= MAXCDNAME and l or MAXCDNAME - st.chars
    if n > 0 and not printn(cp, n) then return nil end
    st.chars = st.chars + l
  end
  return cp, l
end

-- Prints the name at cp (bp: where pointers count from); returns the
-- position after the name, or nil.
local function fqdn(cp, bp)
  local l = labellen(cp)
  if l == -1 or not ttest(cp, 1) then return nil end
  local max = cp - bp
  if max < 0 then max = max + 4294967296 end
  st.compress, st.rp, st.chars, st.max, st.i = false, nil, 0, max, nil
  local i = get8(cp)
  cp = cp + 1
  if band(i, 0xc0) ~= 0xc0 then st.rp = cp + l end
  if i == 0 then emit("."); return st.rp end
  while i ~= 0 and cp < snap do
    local jumped
    cp, l, jumped = name_step(i, cp, l, bp)
    if not cp then return nil end
    if jumped then
      i = st.i
    else
      cp = cp + l
      if st.chars <= MAXCDNAME then emit(".") end
      st.chars = st.chars + 1
      if not ttest(cp, 1) then return nil end
      i = get8(cp)
      l = labellen(cp)
      if l == -1 then return nil end
      cp = cp + 1
      if not st.compress then st.rp = st.rp + l + 1 end
    end
  end
  if st.chars > MAXCDNAME then emit("<DOMAIN NAME TOO LONG>") end
  return st.rp
end
M._fqdn = fqdn

local function cstring(cp)
  if not ttest(cp, 1) then return nil end
  local n = get8(cp)
  if not printn(cp + 1, n) then return nil end
  return cp + 1 + n
end

---------------------------------------------------------------------------
-- EDNS options (eopt_print).

local function invalid() emit(" (invalid)") end

local function ecs_text(cp, n)
  if n < 4 then return invalid() end
  local family, src, scope = get16(cp), get8(cp + 2), get8(cp + 3)
  local bits = family == 1 and 32 or family == 2 and 128
  if not bits or n - 4 > bits / 8 then return invalid() end
  if src > bits or scope > bits or rshift(src + 7, 3) ~= n - 4 then return invalid() end
  local b = {}
  for i = 0, 15 do b[i] = i < n - 4 and get8(cp + 4 + i) or 0 end
  local a = family == 1 and fmt("%d.%d.%d.%d", b[0], b[1], b[2], b[3]) or in6_bytes_text(b)
  emit(fmt("%s/%d/%d", a, src, scope))
end

local function alg_list(cp, n, names)
  for i = 0, n - 1 do
    if i > 0 then emit(" ") end
    local a = get8(cp + i)
    emit(names[a] or fmt("Alg_%d", a))
  end
end

local function hex_bytes(cp, n, split)
  for i = 0, n - 1 do
    if i == split then emit(" ") end
    emit(fmt("%02x", get8(cp + i)))
  end
end

local function eopt_data(opt, cp, n)
  if opt == 8 then ecs_text(cp, n)
  elseif opt == 10 then
    if n < 8 or (n > 8 and n < 16) or n > 40 then invalid() else hex_bytes(cp, n, 8) end
  elseif opt == 11 then
    if n ~= 2 then invalid() else emit(fmt("%0.1f sec", get16(cp) / 10.0)) end
  elseif opt == 9 then
    if n ~= 4 then invalid() else emit(fmt("%d sec", get32(cp))) end
  elseif opt == 12 then emit(fmt("(%d)", n))
  elseif opt == 14 then
    if n % 2 ~= 0 then invalid() else
      for i = 0, n - 1, 2 do
        if i > 0 then emit(" ") end
        emit(fmt("%d", get16(cp + i)))
      end
    end
  elseif opt == 5 then alg_list(cp, n, DAU)
  elseif opt == 6 then alg_list(cp, n, DHU)
  elseif opt == 7 then alg_list(cp, n, N3U)
  elseif opt == 13 then fqdn(cp, cp + n)
  else hex_bytes(cp, n) end
end

local function eopt(cp)
  if not ttest(cp, 2) then return nil end
  local opt = get16(cp)
  emit(EOPTS[opt] or fmt("Opt%d", opt))
  if not ttest(cp + 2, 2) then return nil end
  local n = get16(cp + 2)
  cp = cp + 4
  if not ttest(cp, n) then return nil end
  if n > 0 then
    emit(" ")
    eopt_data(opt, cp, n)
  end
  return cp + n
end

---------------------------------------------------------------------------
-- Questions and records (ns_qprint, ns_rprint).

local function qprint(cp, bp, mdns)
  local np = cp
  cp = nskip(cp)
  if not cp or not ttest(cp, 4) then return nil end
  local t = get16(cp)
  emit(" " .. (TYPES[t] or fmt("Type%d", t)))
  local i = get16(cp + 2)
  local class = mdns and band(i, 0x7fff) or i
  if class ~= 1 then emit(" " .. (CLASSES[class] or fmt("(Class %d)", class))) end
  if mdns then emit(band(i, 0x8000) ~= 0 and " (QU)" or " (QM)") end
  emit("? ")
  cp = fqdn(np, bp)
  return cp and cp + 4 or nil
end

local RELTS = {{31536000, "y"}, {604800, "w"}, {86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}

-- unsigned_relts_print: 3600 -> "1h".
local function relts(secs)
  if secs == 0 then return "0s" end
  local t = {}
  for _, u in ipairs(RELTS) do
    if secs >= u[1] then
      local k = math.floor(secs / u[1])
      t[#t + 1] = fmt("%d%s", k, u[2])
      secs = secs - k * u[1]
    end
  end
  return concat(t)
end

local function soa_rdata(cp, bp)
  emit(" ")
  cp = fqdn(cp, bp)
  if not cp then return nil end
  emit(" ")
  cp = fqdn(cp, bp)
  if not cp or not ttest(cp, 20) then return nil end
  for k = 0, 4 do emit(fmt(" %d", get32(cp + 4 * k))) end
  return true
end

local function a6_rdata(cp, bp)
  local pbit = get8(cp)
  local pbyte = rshift(band(pbit, 0xf8), 3)
  if pbit > 128 then emit(fmt(" %d(bad plen)", pbit)); return true end
  if pbit < 128 then
    local b = {}
    for i = 0, 15 do b[i] = i >= pbyte and get8(cp + 1 + i - pbyte) or 0 end
    emit(fmt(" %d %s", pbit, in6_bytes_text(b)))
  end
  if pbit > 0 then
    emit(" ")
    if not fqdn(cp + 1 + 16 - pbyte, bp) then return nil end
  end
  return true
end

local function tsig_rdata(cp, bp, verbose)
  if verbose == 0 then return true end
  emit(" ")
  cp = fqdn(cp, bp)
  if not cp then return nil end
  cp = cp + 6
  if not ttest(cp, 2) then return nil end
  emit(fmt(" fudge=%d", get16(cp)))
  cp = cp + 2
  if not ttest(cp, 2) then return nil end
  emit(fmt(" maclen=%d", get16(cp)))
  cp = cp + 2 + get16(cp)
  for _, what in ipairs{"origid", "error", "otherlen"} do
    if not ttest(cp, 2) then return nil end
    emit(fmt(" %s=%d", what, get16(cp)))
    cp = cp + 2
  end
  return true
end

local function opt_rdata(cp, rp, class, flags)
  emit(fmt(" UDPsize=%d", class))
  if band(flags, 0x8000) ~= 0 then emit(" DO") end
  if cp < rp then
    emit(" [")
    while cp < rp do
      cp = eopt(cp)
      if not cp then return nil end
      if cp < rp then emit(",") end
    end
    emit("]")
  end
  return true
end

-- The rdata of a record of type t at [cp, rp): true, or nil to stop.
local function rdata(t, cp, rp, bp, len, class, flags, verbose)
  if t == 1 then
    if not ttest(cp, 4) then return nil end
    emit(" " .. in4_text(cp))
  elseif t == 2 or t == 5 or t == 12 or t == 39 then
    emit(" ")
    return fqdn(cp, bp) ~= nil
  elseif t == 6 then
    if verbose == 0 then return true end
    return soa_rdata(cp, bp)
  elseif t == 15 then
    emit(" ")
    if not ttest(cp, 2) or not fqdn(cp + 2, bp) then return nil end
    emit(fmt(" %d", get16(cp)))
  elseif t == 16 then
    while cp < rp do
      emit(' "')
      cp = cstring(cp)
      if not cp then return nil end
      emit('"')
    end
  elseif t == 33 then
    emit(" ")
    if not ttest(cp, 6) or not fqdn(cp + 6, bp) then return nil end
    emit(fmt(":%d %d %d", get16(cp + 4), get16(cp), get16(cp + 2)))
  elseif t == 28 then
    if not ttest(cp, 16) then return nil end
    emit(" " .. in6_text(cp))
  elseif t == 38 then
    if not ttest(cp, 1) then return nil end
    return a6_rdata(cp, bp)
  elseif t == 256 then
    if not ttest(cp, len) then return nil end
    emit(fmt(" %d %d ", get16(cp), get16(cp + 2)))
    -- len - 4 is unsigned in tcpdump: a short record prints to the end
    return printn(cp + 4, len >= 4 and len - 4 or len - 4 + 4294967296) or nil
  elseif t == 41 then
    return opt_rdata(cp, rp, class, flags)
  elseif t == 104 then
    if not ttest(cp, len) then return nil end
    return printn(cp, len) or nil
  elseif t == 250 then
    if cp + len > snap then return nil end
    return tsig_rdata(cp, bp, verbose)
  end
  return true
end

-- One record at cp; the position after it, snap when it cannot be
-- skipped, or nil to stop with [|domain].
local function rprint(cp, bp, mdns, verbose)
  if verbose > 0 then
    emit(" ")
    cp = fqdn(cp, bp)
    if not cp then return nil end
  else
    cp = nskip(cp)
  end
  if not cp or not ttest(cp, 10) then return snap end
  local t, i = get16(cp), get16(cp + 2)
  local class = mdns and band(i, 0x7fff) or i
  if class ~= 1 and t ~= 41 then emit(" " .. (CLASSES[class] or fmt("(Class %d)", class))) end
  if mdns and band(i, 0x8000) ~= 0 then emit(" (Cache flush)") end
  local flags = 0
  if t == 41 then
    flags = get16(cp + 6)
  elseif verbose > 2 then
    emit(" [" .. relts(get32(cp + 4)) .. "]")
  end
  local len = get16(cp + 8)
  cp = cp + 10
  local rp = cp + len
  emit(" " .. (TYPES[t] or fmt("Type%d", t)))
  if rp > snap then return nil end
  if not rdata(t, cp, rp, bp, len, class, flags, verbose) then return nil end
  return rp
end

-- `count` records from cp, after `lead` (" ns:", " ar:", or "" for the
-- answers): the position after them, or nil to stop with [|domain].
local function section(cp, bp, count, lead, mdns, verbose, first_unchecked)
  if count == 0 then return cp end
  if not first_unchecked and cp >= snap then return nil end
  emit(lead)
  cp = rprint(cp, bp, mdns, verbose)
  if not cp then return nil end
  count = count - 1
  while cp < snap and count > 0 do
    emit(",")
    cp = rprint(cp, bp, mdns, verbose)
    if not cp then return nil end
    count = count - 1
  end
  if count > 0 then return nil end
  return cp
end

---------------------------------------------------------------------------
-- The message (domain_print).

-- The full RCODE: the header's, with the extended bits of an OPT record
-- found by skipping the records before it.
local function full_rcode(bp, flags, qd, an, ns, ar)
  local rcode = band(flags, 15)
  local cp = bp + 12
  for _ = 1, qd do
    cp = nskip(cp)
    if not cp then return rcode end
    cp = cp + 4
    if cp >= snap then return rcode end
  end
  for _ = 1, an + ns do
    cp = nskip(cp)
    if not cp then return rcode end
    cp = cp + 8
    if cp + 2 > snap then return rcode end
    cp = cp + 2 + get16(cp)
    if cp >= snap then return rcode end
  end
  for _ = 1, ar do
    cp = nskip(cp)
    if not cp or cp + 2 > snap then return rcode end
    local t = get16(cp)
    cp = cp + 4
    if cp + 1 > snap then return rcode end
    if t == 41 then return bor(rcode, lshift(get8(cp), 4)) end
    cp = cp + 4
    if cp + 2 > snap then return rcode end
    cp = cp + 2 + get16(cp)
    if cp >= snap then return rcode end
  end
  return rcode
end

-- A response: flags, counts and the answers (every section with -vv).
local function response(bp, flags, h, mdns, verbose)
  emit(fmt("%d%s%s%s%s%s%s", h.id, OPS[band(rshift(flags, 11), 15)],
    rcode_text(full_rcode(bp, flags, h.qd, h.an, h.ns, h.ar)),
    band(flags, 0x0400) ~= 0 and "*" or "", band(flags, 0x0080) ~= 0 and "" or "-",
    band(flags, 0x0200) ~= 0 and "|" or "", band(flags, 0x0020) ~= 0 and "$" or ""))
  if h.qd ~= 1 then emit(fmt(" [%dq]", h.qd)) end
  local cp = bp + 12
  for k = 1, h.qd do
    if k ~= 1 then emit(",") end
    if verbose > 1 then
      emit(" q:")
      cp = qprint(cp, bp, mdns)
    else
      cp = nskip(cp)
      cp = cp and cp + 4
    end
    if not cp then return nil end
  end
  emit(fmt(" %d/%d/%d", h.an, h.ns, h.ar))
  cp = section(cp, bp, h.an, "", mdns, verbose, true)
  if not cp or verbose < 2 then return cp end
  cp = section(cp, bp, h.ns, " ns:", mdns, verbose)
  if not cp then return nil end
  return section(cp, bp, h.ar, " ar:", mdns, verbose)
end

-- A query: flags, the odd counts, the questions (every section with -vv).
local function query(bp, flags, h, mdns, verbose)
  local op = band(rshift(flags, 11), 15)
  emit(fmt("%d%s%s%s", h.id, OPS[op], band(flags, 0x0100) ~= 0 and "+" or "",
    band(flags, 0x0010) ~= 0 and "%" or ""))
  if band(flags, 0x6cf) ~= 0 then emit(fmt(" [b2&3=0x%x]", flags)) end
  if op == 1 then
    if h.qd ~= 0 then emit(fmt(" [%dq]", h.qd)) end
    if h.an ~= 1 then emit(fmt(" [%da]", h.an)) end
  else
    if h.an ~= 0 then emit(fmt(" [%da]", h.an)) end
    if h.qd ~= 1 then emit(fmt(" [%dq]", h.qd)) end
  end
  if h.ns ~= 0 then emit(fmt(" [%dn]", h.ns)) end
  if h.ar ~= 0 then emit(fmt(" [%dau]", h.ar)) end
  local cp, qd = bp + 12, h.qd
  if qd > 0 then
    cp = qprint(cp, bp, mdns)
    if not cp then return nil end
    qd = qd - 1
    while cp < snap and qd > 0 do
      cp = qprint(cp, bp, mdns)
      if not cp then return nil end
      qd = qd - 1
    end
  end
  if qd > 0 then return nil end
  if verbose < 2 then return cp end
  cp = section(cp, bp, h.an, "", mdns, verbose, true)
  if not cp then return nil end
  cp = section(cp, bp, h.ns, " ns:", mdns, verbose)
  if not cp then return nil end
  return section(cp, bp, h.ar, " ar:", mdns, verbose)
end

-- The TCP length prefix: the message start, or nil after the complaint.
local function tcp_prefix(bp, length)
  if length < 2 then
    emit(fmt(" [DNS over TCP: length %d < 2]", length))
    invalid()
    return nil
  end
  local n = get16(bp)
  if n ~= length - 2 then
    emit(fmt(" [prefix length(%d) != length(%d)]", n, length - 2))
    invalid()
    return nil
  end
  emit(" ")
  return bp + 2, length - 2
end

-- The header's counts (one table reused: calls do not nest).
local header = {}

local function body(bp, length, o)
  if o.tcp then
    bp, length = tcp_prefix(bp, length)
    if not bp then return end
  end
  if length < 12 then
    emit(fmt("domain [length %d < 12]", length))
    return invalid()
  end
  if not ttest(bp, 12) then error(TRUNC, 0) end
  local flags = get16(bp + 2)
  local h = header
  h.id, h.qd, h.an, h.ns, h.ar = get16(bp), get16(bp + 4), get16(bp + 6),
    get16(bp + 8), get16(bp + 10)
  local verbose = o.verbose or 0
  local cp
  if band(flags, 0x8000) ~= 0 then
    cp = response(bp, flags, h, o.mdns, verbose)
  else
    cp = query(bp, flags, h, o.mdns, verbose)
  end
  if not cp then error(TRUNC, 0) end
  emit(fmt(" (%d)", length))
end

local NO_OPTS = {}

function M.message(p, off, length, limit, o)
  pkt, snap = p, math.min(limit, p.caplen)
  out:reset()
  local ok, err = pcall(body, off, length, o or NO_OPTS)
  if not ok then
    if err ~= TRUNC then pkt = nil; error(err, 0) end
    emit(" [|domain]")
  end
  local s = out:tostring()
  pkt = nil
  return s
end

function M.port_kind(sport, dport, tcp)
  if sport == 53 or dport == 53 then return "dns" end
  if not tcp and (sport == 5353 or dport == 5353) then return "mdns" end
  return nil
end

-- End of the IP datagram by its header: tcpdump reads no further.
local datagram_end = packet.datagram_end

local packet_opts = {}   -- M.packet's options for M.message, reused

-- The DNS text of a packet on a DNS port (UDP 53 or 5353, TCP 53 with
-- payload), as tcpdump prints it after the transport; nil for any other.
-- Over TCP the text starts with a space (it follows "length N").
function M.packet(p, verbose)
  if p.l2state == PKT.NEW then packet.decode_l2(p) end
  if p.l3state == PKT.NEW then packet.decode_l3(p) end
  local proto, off = p.l4proto, p.l4off
  if p.l3state ~= PKT.OK or off == 0 or p.fragment == FRAG.LATER then return nil end
  if proto ~= IP.UDP and proto ~= IP.TCP then return nil end
  local sp, dp = p:u16(off), p:u16(off + 2)
  local kind = dp and M.port_kind(sp, dp, proto == IP.TCP)
  if not kind then return nil end
  local wend = datagram_end(p)
  -- inside a tunnel tcpdump reads no further than the IP lengths around
  -- (nor past an invalid header: no DNS text)
  local limit = wend
  if p.depth > 1 then
    local stop = tunneltext.snap(p)
    if not stop then return nil end
    limit = math.min(wend, stop)
  end
  local o = packet_opts
  o.mdns, o.tcp, o.verbose = kind == "mdns", proto == IP.TCP, verbose or 0
  if proto == IP.UDP then
    local ulen = p:u16(off + 4)
    if not ulen or ulen < 8 then return nil end
    return M.message(p, off + 8, math.min(wend - off, ulen) - 8, limit, o)
  end
  local t = p:tcp()
  if not t or off + t.hlen > p.l3end or wend - off - t.hlen <= 0 then return nil end
  return M.message(p, off + t.hlen, wend - off - t.hlen, limit, o)
end

-- The DNS layer of the tree: tcpdump's -vv text as its heading, then
-- the message field by field (pktsh.dns.show), or why it does not parse.
function M.tree(p)
  local text = M.packet(p, 2)
  if not text then return nil end
  local dns = require "pktsh.proto.dns"
  local lines = {"Domain Name System: " .. text:gsub("^ ", "")}
  local off, n = dns.span(p, true, false)
  local msg, err
  if off then msg, err = dns.parse(p.data + off, n) else err = n end
  if not msg then
    lines[2] = "    not decoded: " .. tostring(err)
    return lines
  end
  for _, l in ipairs(dns.show(msg)) do lines[#lines + 1] = "    " .. l end
  return lines
end

return M
