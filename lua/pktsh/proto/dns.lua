-- dns.lua - the DNS message decoder (module pktsh.dns, also `pktsh.dns`).
--
-- API (stable; scripts/dnsstats.lua and the charts build on it)
-- ---------------------------------------------------------------
-- Every function takes the message as (ptr, len) - a `const uint8_t *`
-- (or anything ffi.cast can turn into one) and its length - or as a Lua
-- string (len optional). The caller bounds len: for UDP that is the
-- payload pkt:payload() gives (it honours the UDP length), for TCP one
-- message after its 2-byte length prefix (pktsh.dnsflow does both).
-- Nothing reads at or past len. Every failure returns nil and a reason.
--
-- Fast path (no tables; the only garbage is the qname string, interned;
-- the work is done in C, src/dnsq.c):
--   id, flags, qd, an, ns, ar = dns.header(ptr, len)
--   id, flags, rcode, qname, qtype, qclass = dns.question(ptr, len)
--       flags  the 16-bit flags word: QR = band(flags, 0x8000) ~= 0,
--              opcode = band(rshift(flags, 11), 15), header RCODE = band(flags, 15)
--       rcode  the full RCODE: for responses (QR=1) with ARCOUNT > 0 the
--              records are skipped (no strings) to find the OPT record and
--              its extended RCODE is folded in (ext << 4 | header rcode);
--              for queries, or when the scan cannot reach the OPT record
--              (truncated capture), the header RCODE.
--       qname  the first question's name, lower-cased, presentation form
--              (RFC 1035 escapes, no trailing dot; the root is "."), or nil
--              when QDCOUNT is 0 (qtype, qclass nil too)
--       qclass with the mDNS QU / unicast-response bit (0x8000) kept
--   A question name that is malformed, or a question cut short, is a failure.
--   q = dns.question_struct(ptr, len)   -- or nil, err: the same parse into
--       one reused struct (q.id, q.flags, q.rcode, q.qtype, q.qdcount,
--       q.name/q.name_len, q.wire/q.wire_len: the name uncompressed with
--       lower-cased labels, q.name_hash: pktsh.hash.name of the wire
--       form), no strings
--   q = dns.question_wire(ptr, len)     -- the same without the text (name_len 0)
--   text = dns.name_text(ptr, len)      -- the text of a wire name (as in q.wire)
--
-- Full parse (tables; for pkt:dns(), printing and tests):
--   msg, err = dns.parse(ptr_or_string, len)
--   msg, err = dns.parse_partial(ptr_or_string, len): a message that does
--       not parse as far as it does (err says where it stopped)
--   msg = {id, flags, qr (bool), opcode, aa, tc, rd, ra, z, ad, cd (bools),
--          rcode (full, with the OPT extended rcode), hrcode (header's 4 bits),
--          qdcount, ancount, nscount, arcount, len,
--          questions = {{name, type, class, qu}},
--          answers = {rr...}, authority = {rr...}, additional = {rr...},
--          edns = nil | {udp_size, ext_rcode, version, ["do"] (bool), z,
--                        options = {{code, data}}}}
--   rr  = {name, type, class, ttl, rdlength, rdata (raw string), plus by type:
--          A/AAAA: address (text)   CNAME/NS/PTR/DNAME/MB/MD/MF/MG/MR: target
--          MX: preference, exchange   SRV: priority, weight, port, target
--          TXT/SPF: strings {raw strings}   SOA: mname, rname, serial,
--          refresh, retry, expire, minimum   OPT: udp_size, ext_rcode,
--          version, do, z, options}  (class keeps the mDNS cache-flush bit)
--   Names in the full parse keep their case. Records of other types keep
--   only the raw rdata; a record with rdlength 0 (dynamic update) too.
--   Names: compression pointers must point strictly backwards (each target
--   below the previous one), label types 0x40/0x80 and names over 255
--   octets are failures, so no input can loop. Work is bounded too: a
--   name follows at most 127 pointers ("too many compression pointers"),
--   and a message's names together may take at most 32 steps (a label
--   octet, a pointer) per byte of the message, plus 4096 ("compressed
--   names expand too far"): a 64 KB message of 4,000 records whose names
--   each ran down a chain of 8,000 pointers took 225 ms, it now fails in
--   well under one. dns.work() -> the steps the last parse took.
--
--   pkt:dns([any_port]) -> msg or nil, err: the DNS message in one packet
--       (UDP, or TCP with the whole message after its length prefix), when
--       a port is 53, 5353 or 5355, or any port with any_port = true.
--       No reassembly: use pktsh.dnsflow for a stream of messages.
--   dns.type_name(n), dns.rcode_name(n), dns.class_name(n), dns.opcode_name(n)
--       IANA mnemonics ("A", "AAAA", "URI", "CAA", "ANY" for 255; "NXDOMAIN",
--       "BADVERS" for 16, "BADCOOKIE"); unknown as "TYPE65280", "RCODE3841",
--       "CLASS7", "OPCODE9". dns.type_number("AAAA") -> 28 (also "TYPE65280").
--   dns.summary(msg) -> one line like tcpdump's;  dns.show(msg) -> lines
--       (a table of strings) for a -v tree.
--   dns.escape_string(s) -> RFC 1035 escaped text of a character string.
local ffi = require "ffi"
local bit = require "bit"
require "pktsh.cdef"
local bytes = require "pktsh.proto.bytes"

local band, bor, rshift, lshift = bit.band, bit.bor, bit.rshift, bit.lshift
local cast, fstring = ffi.cast, ffi.string
local concat, format = table.concat, string.format

local M = {}

local u8p = ffi.typeof("const uint8_t *")
local C = ffi.C

---------------------------------------------------------------------------
-- Names of numbers (IANA DNS parameters registry).

local TYPES = {
  [1] = "A", [2] = "NS", [3] = "MD", [4] = "MF", [5] = "CNAME", [6] = "SOA",
  [7] = "MB", [8] = "MG", [9] = "MR", [10] = "NULL", [11] = "WKS",
  [12] = "PTR", [13] = "HINFO", [14] = "MINFO", [15] = "MX", [16] = "TXT",
  [17] = "RP", [18] = "AFSDB", [19] = "X25", [20] = "ISDN", [21] = "RT",
  [22] = "NSAP", [23] = "NSAP-PTR", [24] = "SIG", [25] = "KEY", [26] = "PX",
  [27] = "GPOS", [28] = "AAAA", [29] = "LOC", [30] = "NXT", [31] = "EID",
  [32] = "NIMLOC", [33] = "SRV", [34] = "ATMA", [35] = "NAPTR", [36] = "KX",
  [37] = "CERT", [38] = "A6", [39] = "DNAME", [40] = "SINK", [41] = "OPT",
  [42] = "APL", [43] = "DS", [44] = "SSHFP", [45] = "IPSECKEY",
  [46] = "RRSIG", [47] = "NSEC", [48] = "DNSKEY", [49] = "DHCID",
  [50] = "NSEC3", [51] = "NSEC3PARAM", [52] = "TLSA", [53] = "SMIMEA",
  [55] = "HIP", [56] = "NINFO", [57] = "RKEY", [58] = "TALINK", [59] = "CDS",
  [60] = "CDNSKEY", [61] = "OPENPGPKEY", [62] = "CSYNC", [63] = "ZONEMD",
  [64] = "SVCB", [65] = "HTTPS", [66] = "DSYNC", [99] = "SPF", [100] = "UINFO",
  [101] = "UID", [102] = "GID", [103] = "UNSPEC", [104] = "NID", [105] = "L32",
  [106] = "L64", [107] = "LP", [108] = "EUI48", [109] = "EUI64",
  [128] = "NXNAME", [249] = "TKEY", [250] = "TSIG", [251] = "IXFR",
  [252] = "AXFR", [253] = "MAILB", [254] = "MAILA", [255] = "ANY",
  [256] = "URI", [257] = "CAA", [258] = "AVC", [259] = "DOA",
  [260] = "AMTRELAY", [261] = "RESINFO", [262] = "WALLET", [263] = "CLA",
  [264] = "IPN", [32768] = "TA", [32769] = "DLV",
}
local RCODES = {
  [0] = "NOERROR", [1] = "FORMERR", [2] = "SERVFAIL", [3] = "NXDOMAIN",
  [4] = "NOTIMP", [5] = "REFUSED", [6] = "YXDOMAIN", [7] = "YXRRSET",
  [8] = "NXRRSET", [9] = "NOTAUTH", [10] = "NOTZONE", [11] = "DSOTYPENI",
  [16] = "BADVERS",   -- also BADSIG in TSIG records
  [17] = "BADKEY", [18] = "BADTIME", [19] = "BADMODE", [20] = "BADNAME",
  [21] = "BADALG", [22] = "BADTRUNC", [23] = "BADCOOKIE",
}
local CLASSES = {[1] = "IN", [3] = "CH", [4] = "HS", [254] = "NONE", [255] = "ANY"}
local OPCODES = {[0] = "QUERY", [1] = "IQUERY", [2] = "STATUS", [4] = "NOTIFY",
  [5] = "UPDATE", [6] = "DSO"}
M.TYPES, M.RCODES, M.CLASSES, M.OPCODES = TYPES, RCODES, CLASSES, OPCODES

-- Names are built once per number and kept, so the hot path only indexes.
local function namer(tab, prefix)
  local cache = {}
  return function(n)
    local s = cache[n]
    if s then return s end
    if type(n) ~= "number" then return nil end
    s = tab[n] or (prefix .. format("%d", n))
    cache[n] = s
    return s
  end
end
M.type_name = namer(TYPES, "TYPE")
M.rcode_name = namer(RCODES, "RCODE")
M.class_name = namer(CLASSES, "CLASS")
M.opcode_name = namer(OPCODES, "OPCODE")

local TYPENUM = {}
for k, v in pairs(TYPES) do TYPENUM[v] = k end
function M.type_number(s)
  if type(s) ~= "string" then return nil end
  s = s:upper()
  return TYPENUM[s] or tonumber(s:match("^TYPE(%d+)$"))
end

---------------------------------------------------------------------------
-- Input: (ptr, len) or (string [, len]). A string is anchored by the caller
-- for the duration of the call.

local function input(x, len)
  if type(x) == "string" then
    if len == nil or len > #x then len = #x end
    return cast(u8p, x), len
  end
  if type(len) ~= "number" then error("dns: length expected", 3) end
  return cast(u8p, x), len
end

local be16, be32 = bytes.be16, bytes.be32

---------------------------------------------------------------------------
-- Names. Presentation form per RFC 1035 5.1: printable bytes as they are,
-- the specials . \ " ; ( ) @ $ behind a backslash, the rest as \DDD.

-- cls[c]: 0 as is, 1 backslash + byte, 2 \DDD.   low[c]: ASCII lower case.
local cls = ffi.new("uint8_t[256]")
local low = ffi.new("uint8_t[256]")
for c = 0, 255 do
  if c <= 0x20 or c >= 0x7f then cls[c] = 2 end
  low[c] = (c >= 65 and c <= 90) and c + 32 or c
end
for ch in ('.\\";()@$'):gmatch(".") do cls[ch:byte()] = 1 end

-- 255 octets at most 4 output bytes each, plus dots.
local nbuf = ffi.new("uint8_t[1100]")

-- Appends byte c (escaped) at n; returns the new n.
local function put(c, n)
  local k = cls[c]
  if k == 0 then
    nbuf[n] = c
    return n + 1
  elseif k == 1 then
    nbuf[n] = 92; nbuf[n + 1] = c
    return n + 2
  end
  nbuf[n] = 92
  nbuf[n + 1] = 48 + rshift(c * 41, 12)       -- c / 100 for c < 256
  local r = c % 100
  nbuf[n + 2] = 48 + rshift(r * 205, 11)       -- r / 10 for r < 100
  nbuf[n + 3] = 48 + r % 10
  return n + 4
end

-- Work a message's names may take: steps (label octets and length
-- bytes, pointers) per byte of the message, and a floor for small ones.
-- A name of 255 octets reached by a 2-byte pointer expands 128 times;
-- records of names compressed that far run 16-36 steps a byte, real
-- traffic under 4.
local MAX_HOPS = C.PKTSH_DNS_MAX_HOPS
local WORK_PER_BYTE, WORK_MIN = 32, 4096
local budget, work_used = 0, 0   -- of the parse under way (calls do not nest)

-- Reads the name at pos in d[0, len). Returns the name and the position
-- after it in the original sequence, or nil and a reason. lower: fold
-- ASCII case. want = false: validate and skip only (no string). Every
-- step is charged to budget.
local function read_name(d, len, pos, lower, want)
  local n, wire, limit, after, hops = 0, 1, pos, nil, 0
  local map = lower and low or nil
  while true do
    if pos >= len then return nil, "name truncated" end
    local l = d[pos]
    if l == 0 then
      if not after then after = pos + 1 end
      break
    elseif l < 0x40 then
      local e = pos + 1 + l
      if e > len then return nil, "label truncated" end
      wire = wire + 1 + l
      if wire > 255 then return nil, "name longer than 255 octets" end
      if budget <= l then return nil, "compressed names expand too far" end
      budget = budget - 1 - l
      if want ~= false then
        if n > 0 then nbuf[n] = 46; n = n + 1 end
        if map then
          for i = pos + 1, e - 1 do n = put(map[d[i]], n) end
        else
          for i = pos + 1, e - 1 do n = put(d[i], n) end
        end
      end
      pos = e
    elseif l >= 0xc0 then
      if pos + 1 >= len then return nil, "pointer truncated" end
      local t = bor(lshift(band(l, 0x3f), 8), d[pos + 1])
      if t >= limit then return nil, "compression pointer not backwards" end
      hops = hops + 1
      if hops > MAX_HOPS then return nil, "too many compression pointers" end
      if budget < 1 then return nil, "compressed names expand too far" end
      budget = budget - 1
      if not after then after = pos + 2 end
      limit, pos = t, t
    else
      return nil, "bad label type"
    end
  end
  if want == false then return true, after end
  if n == 0 then return ".", after end
  return fstring(nbuf, n), after
end

---------------------------------------------------------------------------
-- Fast path.

function M.header(x, len)
  local d
  d, len = input(x, len)
  if len < 12 then return nil, "short header" end
  return be16(d, 0), be16(d, 2), be16(d, 4), be16(d, 6), be16(d, 8), be16(d, 10)
end

-- The first question and the full RCODE come from C (src/dnsq.c): the
-- same walk in Lua traced badly inside a large packet loop.
local qbuf = ffi.new("struct pktsh_dns_q")
local qerrors = {
  [C.PKTSH_DNS_SHORT_HEADER] = "short header",
  [C.PKTSH_DNS_NAME_TRUNCATED] = "name truncated",
  [C.PKTSH_DNS_LABEL_TRUNCATED] = "label truncated",
  [C.PKTSH_DNS_NAME_TOO_LONG] = "name longer than 255 octets",
  [C.PKTSH_DNS_POINTER_TRUNCATED] = "pointer truncated",
  [C.PKTSH_DNS_POINTER_NOT_BACKWARDS] = "compression pointer not backwards",
  [C.PKTSH_DNS_BAD_LABEL_TYPE] = "bad label type",
  [C.PKTSH_DNS_QUESTION_TRUNCATED] = "question truncated",
  [C.PKTSH_DNS_TOO_MANY_POINTERS] = "too many compression pointers",
  [C.PKTSH_DNS_RECORD_TRUNCATED] = "record truncated",
}

-- The same parse into one reused struct pktsh_dns_q (id, flags, rcode,
-- qdcount, qtype, qclass, name/name_len, wire/wire_len, name_hash), or nil
-- and the reason: for loops that read a few fields and want no strings.
-- question_wire leaves the text out. The struct is overwritten by the
-- next call to any of these.
local function parse_into(parse, x, len)
  local d
  d, len = input(x, len)
  local rc = parse(d, len, qbuf)
  if rc ~= 0 then return nil, qerrors[-rc] end
  return qbuf
end

function M.question_struct(x, len) return parse_into(C.pktsh_dns_question, x, len) end
-- Why the rest of a message parsed by question_struct or question_wire
-- (its other questions, its records) does not read as Wireshark reads it
-- (q.records_error, src/proto/dnsq.c), or nil when it does.
function M.records_error(q) return qerrors[q.records_error] end
function M.question_wire(x, len) return parse_into(C.pktsh_dns_question_wire, x, len) end

local textbuf = ffi.new("char[1024]")

function M.name_text(x, len)
  local d
  d, len = input(x, len)
  if len > 256 then return nil, "name longer than 255 octets" end
  local n = C.pktsh_dns_name_text(d, len, textbuf)
  if n < 0 then return nil, "not a wire name" end
  return fstring(textbuf, n)
end

function M.question(x, len)
  local q, err = M.question_struct(x, len)
  if not q then return nil, err end
  if q.qdcount == 0 then return q.id, q.flags, q.rcode end
  return q.id, q.flags, q.rcode, fstring(q.name, q.name_len), q.qtype, q.qclass
end

---------------------------------------------------------------------------
-- Full parse.

local function addr4(d, o)
  return format("%d.%d.%d.%d", d[o], d[o + 1], d[o + 2], d[o + 3])
end

local function addr6(d, o)
  local a = ffi.new("struct pktsh_in6")
  ffi.copy(a.b, d + o, 16)
  return tostring(a)
end

local name_types = {[2] = true, [3] = true, [4] = true, [5] = true, [7] = true,
  [8] = true, [9] = true, [12] = true, [39] = true}

-- Decodes rdata of rr (type t) at [p, e) into rr's fields; nil, err if bad.
local function rdata(d, len, rr, t, p, e)
  local n = e - p
  if n == 0 and t ~= 41 then return true end
  if t == 1 then
    if n ~= 4 then return nil, "bad A rdata length" end
    rr.address = addr4(d, p)
  elseif t == 28 then
    if n ~= 16 then return nil, "bad AAAA rdata length" end
    rr.address = addr6(d, p)
  elseif name_types[t] then
    local a
    rr.target, a = read_name(d, len, p, false)
    if not rr.target then return nil, a end
    if a ~= e then return nil, "bad rdata length" end
  elseif t == 15 then
    if n < 3 then return nil, "bad MX rdata" end
    rr.preference = be16(d, p)
    local a
    rr.exchange, a = read_name(d, len, p + 2, false)
    if not rr.exchange then return nil, a end
    if a ~= e then return nil, "bad rdata length" end
  elseif t == 33 then
    if n < 7 then return nil, "bad SRV rdata" end
    rr.priority, rr.weight, rr.port = be16(d, p), be16(d, p + 2), be16(d, p + 4)
    local a
    rr.target, a = read_name(d, len, p + 6, false)
    if not rr.target then return nil, a end
    if a ~= e then return nil, "bad rdata length" end
  elseif t == 6 then
    local a, b
    rr.mname, a = read_name(d, len, p, false)
    if not rr.mname then return nil, a end
    if a > e then return nil, "bad SOA rdata" end
    rr.rname, b = read_name(d, len, a, false)
    if not rr.rname then return nil, b end
    if b + 20 ~= e then return nil, "bad SOA rdata" end
    rr.serial, rr.refresh, rr.retry = be32(d, b), be32(d, b + 4), be32(d, b + 8)
    rr.expire, rr.minimum = be32(d, b + 12), be32(d, b + 16)
  elseif t == 16 or t == 99 then
    local s, q = {}, p
    while q < e do
      local l = d[q]
      if q + 1 + l > e then return nil, "bad TXT rdata" end
      s[#s + 1] = fstring(d + q + 1, l)
      q = q + 1 + l
    end
    rr.strings = s
  elseif t == 41 then
    local opts, q = {}, p
    while q < e do
      if q + 4 > e then return nil, "bad OPT option" end
      local l = be16(d, q + 2)
      if q + 4 + l > e then return nil, "bad OPT option length" end
      opts[#opts + 1] = {code = be16(d, q), data = fstring(d + q + 4, l)}
      q = q + 4 + l
    end
    rr.options = opts
  end
  return true
end

-- Reads count records from pos into list; returns the new pos or nil, err.
local function records(d, len, pos, count, list, msg)
  for _ = 1, count do
    local name, a = read_name(d, len, pos, false)
    if not name then return nil, a end
    if a + 10 > len then return nil, "record truncated" end
    local t, c, ttl, rdl = be16(d, a), be16(d, a + 2), be32(d, a + 4), be16(d, a + 8)
    local p = a + 10
    if p + rdl > len then return nil, "rdata truncated" end
    local rr = {name = name, type = t, class = c, ttl = ttl, rdlength = rdl,
      rdata = fstring(d + p, rdl)}
    if t == 41 then
      if name ~= "." then return nil, "OPT record not at the root" end
      if msg.edns then return nil, "more than one OPT record" end
      rr.udp_size, rr.ext_rcode = c, rshift(ttl, 24)
      rr.version, rr.z = band(rshift(ttl, 16), 255), band(ttl, 0x7fff)
      rr["do"] = band(ttl, 0x8000) ~= 0
    end
    local ok, err = rdata(d, len, rr, t, p, p + rdl)
    if not ok then return nil, err end
    if t == 41 then
      msg.edns = {udp_size = rr.udp_size, ext_rcode = rr.ext_rcode,
        version = rr.version, z = rr.z, ["do"] = rr["do"], options = rr.options}
    end
    list[#list + 1] = rr
    pos = p + rdl
  end
  return pos
end

-- The budget of one message of len bytes, from now; what it used.
local function charge(len) budget = WORK_PER_BYTE * len + WORK_MIN end
local function used(len) return WORK_PER_BYTE * len + WORK_MIN - budget end

function M.work() return work_used end

local parse

function M.parse(x, len)
  local d
  d, len = input(x, len)
  charge(len)
  local msg, err = parse(d, len)
  work_used = used(len)
  if not msg then return nil, err end
  return msg
end

-- The same parse, keeping what it read before a failure: msg (with the
-- header, and the questions and records that parsed) and the reason it
-- stopped, or nil, err when not even the header is there.
function M.parse_partial(x, len)
  local d
  d, len = input(x, len)
  charge(len)
  local msg, err, part = parse(d, len)
  work_used = used(len)
  if msg then return msg end
  return part, err
end

parse = function(d, len)
  if len < 12 then return nil, "short header" end
  local flags = be16(d, 2)
  local msg = {
    id = be16(d, 0), flags = flags, len = len,
    qr = band(flags, 0x8000) ~= 0, opcode = band(rshift(flags, 11), 15),
    aa = band(flags, 0x0400) ~= 0, tc = band(flags, 0x0200) ~= 0,
    rd = band(flags, 0x0100) ~= 0, ra = band(flags, 0x0080) ~= 0,
    z = band(flags, 0x0040) ~= 0, ad = band(flags, 0x0020) ~= 0,
    cd = band(flags, 0x0010) ~= 0, hrcode = band(flags, 15),
    qdcount = be16(d, 4), ancount = be16(d, 6), nscount = be16(d, 8),
    arcount = be16(d, 10),
    questions = {}, answers = {}, authority = {}, additional = {},
  }
  msg.rcode = msg.hrcode
  local pos = 12
  for _ = 1, msg.qdcount do
    local name, a = read_name(d, len, pos, false)
    if not name then return nil, a, msg end
    if a + 4 > len then return nil, "question truncated", msg end
    local c = be16(d, a + 2)
    msg.questions[#msg.questions + 1] = {name = name, type = be16(d, a),
      class = c, qu = c >= 0x8000}
    pos = a + 4
  end
  local err
  pos, err = records(d, len, pos, msg.ancount, msg.answers, msg)
  if not pos then return nil, err, msg end
  pos, err = records(d, len, pos, msg.nscount, msg.authority, msg)
  if not pos then return nil, err, msg end
  pos, err = records(d, len, pos, msg.arcount, msg.additional, msg)
  if not pos then return nil, err, msg end
  if msg.edns then msg.rcode = msg.hrcode + msg.edns.ext_rcode * 16 end
  return msg
end

-- Validates a name (for tests and callers that only need the length):
-- the position after it, or nil, err.
function M.skip_name(x, len, pos)
  local d
  d, len = input(x, len)
  charge(len)
  local ok, after = read_name(d, len, pos or 0, false, false)
  work_used = used(len)
  if not ok then return nil, after end
  return after
end

-- The name at pos in the message, as text: name, next pos | nil, err.
function M.name(x, len, pos, lower)
  local d
  d, len = input(x, len)
  charge(len)
  local name, after = read_name(d, len, pos or 12, lower)
  work_used = used(len)
  return name, after
end

---------------------------------------------------------------------------
-- Text.

function M.escape_string(s)
  return (s:gsub('[%c"\\\128-\255]', function(c)
    local b = c:byte()
    if c == '"' or c == "\\" then return "\\" .. c end
    return format("\\%03d", b)
  end))
end

-- A resource record's data as text ("1.2.3.4", "ns1.example.", ...).
local function rr_text(rr)
  local t = rr.type
  local tn = M.type_name(t)
  if rr.address then return tn .. " " .. rr.address end
  if t == 15 and rr.exchange then return format("MX %s %d", rr.exchange, rr.preference) end
  if t == 33 and rr.target then
    return format("SRV %s:%d %d %d", rr.target, rr.port, rr.priority, rr.weight)
  end
  if rr.target then return tn .. " " .. rr.target end
  if t == 6 and rr.mname then
    return format("SOA %s %s %d %d %d %d %d", rr.mname, rr.rname, rr.serial,
      rr.refresh, rr.retry, rr.expire, rr.minimum)
  end
  if rr.strings then
    local s = {}
    for i, x in ipairs(rr.strings) do s[i] = '"' .. M.escape_string(x) .. '"' end
    return tn .. " " .. concat(s, " ")
  end
  if t == 41 then
    return format("OPT UDPsize=%d%s%s", rr.udp_size, rr["do"] and " DO" or "",
      #rr.options > 0 and format(" (%d options)", #rr.options) or "")
  end
  return format("%s [%d bytes]", tn, rr.rdlength)
end
M.rr_text = rr_text

-- One line, in the spirit of tcpdump: "1234+ A? example.com. (29)" for a
-- query, "1234 NXDomain 1/0/1 A 192.0.2.1 (45)" for a response.
function M.summary(msg)
  local q = msg.questions[1]
  local qs = q and format("%s? %s", M.type_name(q.type), q.name) or ""
  if not msg.qr then
    local op = msg.opcode ~= 0 and (" " .. M.opcode_name(msg.opcode)) or ""
    return format("%d%s%s %s (%d)", msg.id, msg.rd and "+" or "", op, qs, msg.len)
  end
  local parts = {}
  for i, rr in ipairs(msg.answers) do
    if i > 3 then parts[#parts + 1] = "..."; break end
    parts[#parts + 1] = rr_text(rr)
  end
  return format("%d%s %s %s %d/%d/%d%s%s (%d)", msg.id, msg.aa and "*" or "",
    M.rcode_name(msg.rcode), qs, msg.ancount, msg.nscount, msg.arcount,
    #parts > 0 and " " or "", concat(parts, ", "), msg.len)
end

function M.show(msg)
  local out = {}
  local fl = {}
  for _, f in ipairs{"qr", "aa", "tc", "rd", "ra", "ad", "cd"} do
    if msg[f] then fl[#fl + 1] = f end
  end
  out[1] = format("DNS id %d, %s, %s, flags [%s], rcode %s", msg.id,
    msg.qr and "response" or "query", M.opcode_name(msg.opcode),
    concat(fl, " "), M.rcode_name(msg.rcode))
  for _, q in ipairs(msg.questions) do
    out[#out + 1] = format("  question %s %s %s%s", q.name, M.class_name(band(q.class, 0x7fff)),
      M.type_name(q.type), q.qu and " (QU)" or "")
  end
  for _, sec in ipairs{{"answer", msg.answers}, {"authority", msg.authority},
                       {"additional", msg.additional}} do
    for _, rr in ipairs(sec[2]) do
      if rr.type == 41 then
        out[#out + 1] = format("  %s %s", sec[1], rr_text(rr))
      else
        out[#out + 1] = format("  %s %s %s %d %s", sec[1], rr.name,
          M.class_name(band(rr.class, 0x7fff)), rr.ttl, rr_text(rr))
      end
    end
  end
  if msg.edns then
    local e = msg.edns
    out[#out + 1] = format("  edns version %d, udp size %d, ext rcode %d%s",
      e.version, e.udp_size, e.ext_rcode, e["do"] and ", DO" or "")
    for _, o in ipairs(e.options) do
      out[#out + 1] = format("    option %d, %d bytes", o.code, #o.data)
    end
  end
  return out
end

---------------------------------------------------------------------------
-- pkt:dns()

local dns_ports = {[53] = true, [5353] = true, [5355] = true}
local FRAG_NONE, IP_TCP = C.PKTSH_FRAG_NONE, C.PKTSH_IPPROTO_TCP

-- The one reader of "the DNS message in this packet": the offset and
-- length of the message a packet carries on a DNS port (53, 5353, 5355;
-- any_port: any) over UDP, or over TCP after its length prefix; or nil
-- and why not. A TCP message that continues in later segments is refused,
-- or with `partial` cut to what this segment holds (enough for a header
-- and question). Reassembly across segments and fragments is dnsflow's.
function M.span(p, any_port, partial)
  local sp, dp = p:ports()
  if not sp then return nil, "not TCP or UDP" end
  if not any_port and not dns_ports[sp] and not dns_ports[dp] then
    return nil, "not a DNS port"
  end
  if p.fragment ~= FRAG_NONE then return nil, "IP fragment" end
  local off, n = p:payload()
  if not off then return nil, "no payload" end
  if p.l4proto == IP_TCP then
    if n < 2 then return nil, "no TCP DNS message" end
    local l = be16(p.data, off)
    if l + 2 > n then
      if not partial then return nil, "TCP DNS message continues in later segments" end
      l = n - 2
    end
    off, n = off + 2, l
  end
  if n == 0 then return nil, "no payload" end
  return off, n
end

-- pkt:dns(): the DNS message in the packet (UDP or TCP on port 53, 5353,
-- 5355; any port with any_port) parsed as pktsh.dns.parse does, or nil.
local function packet_dns(p, any_port)
  local off, n = M.span(p, any_port)
  if not off then return nil, n end
  return M.parse(p.data + off, n)
end
M.packet_dns = packet_dns

-- Installed on the packet metatype (replacing packet.lua's loading stub).
local okp, packet = pcall(require, "pktsh.proto.packet")
if okp and packet.methods then packet.methods.dns = packet_dns end

function M.selftest()
  local q = "\18\52\1\0\0\1\0\0\0\0\0\0\7Example\3com\0\0\1\0\1"
  local id, flags, rcode, qname, qtype = M.question(q)
  assert(id == 0x1234 and flags == 0x0100 and rcode == 0 and qname == "example.com" and qtype == 1)
  local m = assert(M.parse(q))
  assert(m.questions[1].name == "Example.com" and not m.qr)
  for i = 0, #q - 1 do assert(M.question(q:sub(1, i)) == nil) end
  assert(M.type_name(65280) == "TYPE65280" and M.rcode_name(3841) == "RCODE3841")
  return true
end

return M
