-- test_dns.lua - pktsh.dns on hand-made messages, and pktsh.dnsflow on
-- hand-made packets: every RR type, compression (backward only), the
-- 255-octet limit, escaping, EDNS, truncation at every length.
local T = require "t"
local ffi = require "ffi"
local bit = require "bit"
local dns = require "pktsh.proto.dns"
local dnsflow = require "pktsh.proto.dnsflow"
local packet = require "pktsh.proto.packet"
local addr = require "pktsh.proto.addr"

local char, rep = string.char, string.rep

local function be16(n) return char(bit.rshift(n, 8) % 256, n % 256) end
local function be32(n) return be16(math.floor(n / 65536) % 65536) .. be16(n % 65536) end

-- wire name from text ("a.b" -> \1a\1b\0); "" is the root
local function wname(s)
  local out = {}
  if s ~= "" then
    for l in (s .. "."):gmatch("(.-)%.") do out[#out + 1] = char(#l) .. l end
  end
  return table.concat(out) .. "\0"
end

local function header(o)
  return be16(o.id or 0x1234) .. be16(o.flags or 0x0100) .. be16(o.qd or 0) ..
    be16(o.an or 0) .. be16(o.ns or 0) .. be16(o.ar or 0)
end

local function rr(name, t, class, ttl, rdata)
  return name .. be16(t) .. be16(class) .. be32(ttl) .. be16(#rdata) .. rdata
end

local function opt(udp, ext, ver, flags, options)
  options = options or ""
  return rr("\0", 41, udp, ext * 16777216 + ver * 65536 + flags, options)
end

T.test("header and flags", function()
  local m = header{id = 0xbeef, flags = 0x8583, qd = 0}
  local msg = assert(dns.parse(m))
  T.eq(msg.id, 0xbeef, "id")
  T.ok(msg.qr and msg.aa and msg.rd and msg.ra and not msg.tc, "flags")
  T.eq(msg.opcode, 0, "opcode")
  T.eq(msg.rcode, 3, "rcode")
  T.eq(dns.rcode_name(msg.rcode), "NXDOMAIN", "rcode name")
  local id, flags, qd, an, ns, ar = dns.header(m)
  T.eq(id, 0xbeef, "header id"); T.eq(flags, 0x8583, "header flags")
  T.eq(qd + an + ns + ar, 0, "counts")
  local i2, f2, rc, qn = dns.question(m)
  T.eq(i2, 0xbeef, "question id"); T.eq(rc, 3, "question rcode"); T.eq(qn, nil, "no qname")
  T.eq(dns.header("\1\2\3"), nil, "short header")
end)

T.test("names of numbers", function()
  T.eq(dns.type_name(1), "A"); T.eq(dns.type_name(28), "AAAA")
  T.eq(dns.type_name(256), "URI"); T.eq(dns.type_name(257), "CAA")
  T.eq(dns.type_name(65280), "TYPE65280"); T.eq(dns.type_name(255), "ANY")
  T.eq(dns.rcode_name(0), "NOERROR"); T.eq(dns.rcode_name(16), "BADVERS")
  T.eq(dns.rcode_name(23), "BADCOOKIE"); T.eq(dns.rcode_name(3841), "RCODE3841")
  T.eq(dns.class_name(1), "IN"); T.eq(dns.class_name(7), "CLASS7")
  T.eq(dns.opcode_name(5), "UPDATE"); T.eq(dns.type_number("aaaa"), 28)
  T.eq(dns.type_number("TYPE65280"), 65280)
end)

-- One message with every decoded RR type, names compressed.
local function every_rr()
  local q = wname("Example.COM")                           -- at offset 12
  local ptr = "\192\12"
  local body = q .. be16(255) .. be16(1) ..
    rr(ptr, 1, 1, 300, "\192\0\2\1") ..
    rr(ptr, 28, 1, 300, "\32\1\13\184" .. rep("\0", 11) .. "\1") ..
    rr(ptr, 5, 1, 60, "\3www" .. ptr) ..
    rr(ptr, 2, 1, 60, "\3ns1" .. ptr) ..
    rr(ptr, 12, 1, 60, wname("host.example.net")) ..
    rr(ptr, 15, 1, 60, be16(10) .. "\4mail" .. ptr) ..
    rr(ptr, 16, 1, 60, "\5hello\0\3a\1b") ..
    rr(ptr, 33, 1, 60, be16(1) .. be16(2) .. be16(5060) .. "\3sip" .. ptr) ..
    rr(ptr, 6, 1, 60, "\2ns" .. ptr .. "\5admin" .. ptr .. be32(2024010101) ..
      be32(7200) .. be32(3600) .. be32(1209600) .. be32(300)) ..
    rr(ptr, 65280, 1, 60, "\1\2\3")
  return header{id = 7, flags = 0x8180, qd = 1, an = 10, ar = 1} .. body ..
    opt(1232, 0, 0, 0x8000, be16(10) .. be16(8) .. "cookie!!")
end

T.test("every RR type", function()
  local msg = assert(dns.parse(every_rr()))
  T.eq(#msg.answers, 10, "answers")
  T.eq(msg.questions[1].name, "Example.COM", "qname keeps case")
  T.eq(msg.questions[1].type, 255, "qtype")
  local a = msg.answers
  T.eq(a[1].address, "192.0.2.1", "A")
  T.eq(a[2].address, "2001:db8::1", "AAAA")
  T.eq(a[3].target, "www.Example.COM", "CNAME via pointer")
  T.eq(a[4].target, "ns1.Example.COM", "NS")
  T.eq(a[5].target, "host.example.net", "PTR")
  T.eq(a[6].preference, 10, "MX pref"); T.eq(a[6].exchange, "mail.Example.COM", "MX")
  T.deq(a[7].strings, {"hello", "", "a\1b"}, "TXT")
  T.eq(a[8].port, 5060, "SRV port"); T.eq(a[8].target, "sip.Example.COM", "SRV target")
  T.eq(a[8].priority, 1, "SRV prio"); T.eq(a[8].weight, 2, "SRV weight")
  T.eq(a[9].mname, "ns.Example.COM", "SOA mname"); T.eq(a[9].rname, "admin.Example.COM", "SOA rname")
  T.eq(a[9].serial, 2024010101, "SOA serial"); T.eq(a[9].minimum, 300, "SOA minimum")
  T.eq(a[10].rdata, "\1\2\3", "unknown type keeps raw rdata")
  T.eq(dns.type_name(a[10].type), "TYPE65280", "unknown type name")
  T.ok(msg.edns and msg.edns["do"], "DO bit")
  T.eq(msg.edns.udp_size, 1232, "udp size")
  T.eq(msg.edns.options[1].code, 10, "option code")
  T.eq(msg.edns.options[1].data, "cookie!!", "option data")
  T.eq(msg.rcode, 0, "rcode")
  -- text forms do not fail
  T.ok(dns.summary(msg):find("NOERROR", 1, true), "summary")
  T.ok(#dns.show(msg) > 10, "show")
  -- the fast path agrees
  local id, flags, rc, qn, qt, qc = dns.question(every_rr())
  T.eq(id, 7); T.eq(flags, 0x8180); T.eq(rc, 0)
  T.eq(qn, "example.com", "fast qname lower-cased"); T.eq(qt, 255); T.eq(qc, 1)
end)

T.test("EDNS extended rcode: BADVERS, BADCOOKIE, large", function()
  for _, c in ipairs{{1, 0, 16}, {1, 7, 23}, {240, 1, 3841}} do
    local m = header{flags = 0x8100 + c[2], qd = 1, ar = 1} .. wname("a.b") ..
      be16(1) .. be16(1) .. opt(4096, c[1], 0, 0)
    local msg = assert(dns.parse(m))
    T.eq(msg.rcode, c[3], "full rcode")
    T.eq(msg.hrcode, c[2], "header rcode")
    local _, _, rc = dns.question(m)
    T.eq(rc, c[3], "fast path rcode")
  end
  T.eq(dns.rcode_name(16), "BADVERS")
  -- behind many records (the fast path's general scan)
  local body = ""
  for i = 1, 12 do body = body .. rr("\192\12", 1, 1, 1, char(10, 0, 0, i)) end
  local m = header{flags = 0x8180, qd = 1, an = 12, ar = 1} .. wname("x.y") ..
    be16(1) .. be16(1) .. body .. opt(512, 1, 0, 0)
  local _, _, rc = dns.question(m)
  T.eq(rc, 16, "ext rcode after 12 answers")
  T.eq(assert(dns.parse(m)).rcode, 16, "full parse")
  -- owner names with labels (not a pointer) before the OPT
  m = header{flags = 0x8180, qd = 1, an = 1, ar = 1} .. wname("x.y") ..
    be16(1) .. be16(1) .. rr(wname("x.y"), 1, 1, 1, "\1\2\3\4") .. opt(512, 1, 0, 0)
  _, _, rc = dns.question(m)
  T.eq(rc, 16, "ext rcode after a label-named record")
  -- a query's rcode is the header's
  m = header{flags = 0x0100, qd = 1, ar = 1} .. wname("x.y") .. be16(1) .. be16(1) .. opt(512, 1, 0, 0)
  _, _, rc = dns.question(m)
  T.eq(rc, 0, "query rcode")
  -- OPT not at the root, two OPT records: malformed
  m = header{flags = 0x8100, ar = 1} .. rr(wname("a"), 41, 512, 0, "")
  T.eq(dns.parse(m), nil, "OPT owner not root")
  m = header{flags = 0x8100, ar = 2} .. opt(512, 0, 0, 0) .. opt(512, 0, 0, 0)
  T.eq(dns.parse(m), nil, "two OPT")
end)

T.test("compression: backward pointers only", function()
  local q = header{qd = 1} .. wname("a.b") .. be16(1) .. be16(1)
  -- a pointer forward (to itself + more)
  local fwd = header{flags = 0x8180, qd = 1, an = 1} .. wname("a.b") .. be16(1) .. be16(1) ..
    "\192\40" .. be16(1) .. be16(1) .. be32(0) .. be16(4) .. "\1\2\3\4"
  local msg, err = dns.parse(fwd)
  T.eq(msg, nil, "forward pointer rejected"); T.ok(err:find("backwards"), err)
  -- a pointer to itself
  local self = header{qd = 1} .. "\192\12" .. be16(1) .. be16(1)
  T.eq(dns.parse(self), nil, "self pointer")
  T.eq(dns.question(self), nil, "self pointer (fast path)")
  -- a loop through two pointers: 12 -> label + pointer to 12
  local loop = header{qd = 1} .. "\1a\192\12" .. be16(1) .. be16(1)
  T.eq(dns.parse(loop), nil, "pointer back into its own name")
  T.eq(dns.question(loop), nil, "loop (fast path)")
  -- a chain of ever-earlier pointers is fine
  local chain = header{qd = 2, flags = 0} .. wname("x.y") .. be16(1) .. be16(1) ..
    "\1z\192\12" .. be16(1) .. be16(1)
  msg = assert(dns.parse(chain))
  T.eq(msg.questions[2].name, "z.x.y", "pointer chain")
  -- a pointer truncated
  T.eq(dns.parse(header{qd = 1} .. "\192"), nil, "truncated pointer")
  -- label types 0x40 and 0x80
  T.eq(dns.parse(header{qd = 1} .. "\65a\0" .. be16(1) .. be16(1)), nil, "label type 0x40")
  T.eq(dns.question(header{qd = 1} .. "\129a\0" .. be16(1) .. be16(1)), nil, "label type 0x80")
  T.ok(dns.parse(q), "plain query")
end)

T.test("compression: hops per name and work per message are bounded", function()
  local crafted = require "hostile"
  local function parse(o)
    local m = crafted.pointer_message(o)
    local msg, err = dns.parse(m)
    local work = dns.work()
    T.ok(work <= 32 * #m + 4096, string.format("%d steps for %d bytes", work, #m))
    return msg, err, work, m
  end
  -- 127 pointers per name are allowed, 128 are not
  local msg, err = parse{chain = 126, records = 3}
  T.ok(msg, err)
  T.eq(#msg.answers, 5, "answers")
  T.eq(msg.answers[5].name, (rep("a", 60) .. "."):rep(3) .. rep("a", 60), "name down the chain")
  msg, err = parse{chain = 127, records = 3}
  T.eq(msg, nil, "128 pointers")
  T.eq(err, "too many compression pointers")
  -- the old bomb: 4,000 names down a chain of 8,000 pointers (32 million
  -- hops, 225 ms a message before) fails at the first name
  local work
  msg, err, work = parse{chain = 8000}
  T.eq(err, "too many compression pointers")
  T.ok(work < 1000, "steps: " .. work)
  -- 4,000 names of 127 pointers each: under the budget (23 steps a
  -- byte), parsed; two such names a record: over it, refused
  msg, err, work = parse{chain = 126}
  T.ok(msg and #msg.answers > 4000, err)
  msg, err = parse{chain = 126, cname = true}
  T.eq(err, "compressed names expand too far")
  -- the same through pkt:dns()
  local m = crafted.pointer_message{chain = 8000}
  local p = packet.from_bytes(pktsh.build.udp4{sport = 53, dport = 40000, payload = m})
  msg, err = p:dns()
  T.eq(msg, nil, "pkt:dns()"); T.eq(err, "too many compression pointers")
  -- the fast path reads the first question, at 12: its pointers can
  -- only go into the 12-byte header, 6 hops at most (here 12 -> 10 ->
  -- ... -> 0, where the id's zero byte is the root)
  local hdr = "\0\0\192\0\192\2\192\4\192\6\192\8"      -- flags..arcount as pointers
  local _, _, _, qname = dns.question(hdr .. "\192\10\0\1\0\1")
  T.eq(qname, ".", "the longest chain a first question can have")
end)

-- The fast path also walks what follows the first question, as Wireshark
-- reads it: owner names with their pointers followed anywhere, fixed
-- fields, data by RDLENGTH. A record past the end is "Malformed Packet"
-- there (a response gets no dns.time); a pointer loop or bytes after the
-- last record are not. tests/pcaps/gen/records.lua has the same classes
-- against tshark.
T.test("question_wire: the records after the question, as Wireshark reads them", function()
  local q = wname("www.example.com") .. be16(1) .. be16(1)
  local a = rr("\192\12", 1, 1, 60, "\198\18\9\1")
  local function rest(m)
    local s = assert(dns.question_wire(m))
    return dns.records_error(s)
  end
  local function resp(o, body) o.flags = 0x8180; o.qd = o.qd or 1; return header(o) .. q .. body end
  T.eq(rest(resp({an = 1}, a)), nil, "a whole answer")
  T.eq(rest(resp({an = 1}, a .. "\255\255")), nil, "bytes after the last record")
  T.eq(rest(resp({an = 2}, a)), "name truncated", "ANCOUNT past the records there")
  T.eq(rest(resp({an = 1}, a:sub(1, 8))), "record truncated", "fixed fields cut")
  T.eq(rest(resp({an = 1}, a:sub(1, -2))), "record truncated", "RDLENGTH past the end")
  T.eq(rest(resp({an = 1}, "\195\255" .. a:sub(3))), "name truncated", "pointer past the end")
  T.eq(rest(resp({an = 1}, "\192\2" .. a:sub(3))), "bad label type", "pointer into the header")
  local at = 12 + #q
  T.eq(rest(resp({an = 1}, be16(0xc000 + at) .. a:sub(3))), nil, "a pointer loop ends the name")
  T.eq(rest(resp({an = 1}, rr(be16(0xc000 + at + 12), 1, 1, 60, "\1\2\3\4"))), "label truncated",
       "a pointer forward into data that runs off the end")
  T.eq(rest(resp({an = 1}, "\1x" .. be16(0xc000 + 16) .. a:sub(3))), nil,
       "a pointer forward to a name inside the message")
  T.eq(rest(resp({qd = 2}, "\3www")), "label truncated", "a second question cut")
  T.eq(rest(resp({qd = 2}, wname("a") .. be16(1))), "question truncated", "its type cut")
  T.eq(rest(resp({ar = 2}, opt(1232, 1, 0, 0) .. "\0")), "record truncated", "OPT, then a cut record")
  local s = assert(dns.question_wire(resp({ar = 2}, opt(1232, 1, 0, 0) .. "\0")))
  T.eq(s.rcode, 16, "the OPT record's extended RCODE still read before the cut")
  -- queries are walked too (tshark marks them malformed)
  T.eq(rest(header{qd = 1, an = 1} .. q), "name truncated", "a query claiming an answer")
  T.eq(rest(header{qd = 1} .. q), nil, "a plain query")
  -- work is bounded however the pointers go: 4,000 owner names of 127
  -- pointers each (tests/lib/hostile.lua) walk to an answer
  local m = require("hostile").pointer_message{chain = 126}
  T.ok(#m > 60000, "a message of " .. #m .. " bytes")
  local h = assert(dns.question_wire(m))
  T.ok(h.records_error >= 0, "walked: " .. tostring(dns.records_error(h)))
end)

-- Owner names that point at the question's are not walked again, only
-- charged to the budget (dnsq.c, step_name): the budget must run out at
-- the record where walking every label would have run it out. n answers
-- point at a 250-byte question name, then one owner points forward into
-- a label that runs off the end: an error while budget is left for its
-- hop, none once it is spent. The expected side comes from the walk as
-- written before the shortcut, label by label.
T.test("question_wire: owner names pointing at the question spend the budget exactly", function()
  local labels = {rep("a", 63), rep("b", 63), rep("c", 63), rep("d", 57)}
  local q = wname(table.concat(labels, ".")) .. be16(1) .. be16(1)
  local a = rr("\192\12", 1, 1, 60, "\198\18\9\1")
  local flips = 0
  for n = 0, 40 do
    local body = rep(a, n)
    local at = 12 + #q + #body
    local last = rr(be16(0xc000 + at + 16), 1, 1, 60, "\1\2\3\4") .. "\40x"
    local m = header{flags = 0x8180, qd = 1, an = n + 1} .. q .. body .. last
    local budget = 4 * #m + 1024
    for _ = 1, n do                       -- the walk, label by label
      if budget <= 2 then budget = 0; break end
      budget = budget - 2
      for _, l in ipairs(labels) do
        if budget <= 1 + #l then budget = 0; break end
        budget = budget - (1 + #l)
      end
    end
    local want = budget > 2 and "label truncated" or nil
    local s = assert(dns.question_wire(m))
    T.eq(dns.records_error(s), want, n .. " answers")
    if want == nil then flips = flips + 1 end
  end
  T.ok(flips > 0 and flips < 41, "the budget runs out within the range: " .. flips)
end)

T.test("names: 255-octet limit", function()

  -- 4 labels of 63 = 4*64 + 1 = 257 octets: too long; 3*64 + 62 bytes ok
  local long = rep(char(63) .. rep("a", 63), 4) .. "\0"
  local _, err = dns.parse(header{qd = 1} .. long .. be16(1) .. be16(1))
  T.ok(err and err:find("255"), "257 octets rejected: " .. tostring(err))
  T.eq(dns.question(header{qd = 1} .. long .. be16(1) .. be16(1)), nil, "fast path too")
  local ok255 = rep(char(63) .. rep("a", 63), 3) .. char(61) .. rep("b", 61) .. "\0"
  T.eq(#ok255, 255, "built 255")
  local msg = assert(dns.parse(header{qd = 1} .. ok255 .. be16(1) .. be16(1)))
  T.eq(#msg.questions[1].name, 63 * 3 + 61 + 3, "255 octets accepted")
  local ok256 = rep(char(63) .. rep("a", 63), 3) .. char(62) .. rep("b", 62) .. "\0"
  T.eq(dns.parse(header{qd = 1} .. ok256 .. be16(1) .. be16(1)), nil, "256 rejected")
  -- the fast path at the bound (dnsq.c checks both limits as one): 255
  -- read, 256 too long; a label past the end of the message is cut,
  -- whether or not it would also make the name too long, but a name too
  -- long before the cut label is too long
  local _, _, _, qn = dns.question(header{qd = 1} .. ok255 .. be16(1) .. be16(1))
  T.eq(qn and #qn, 63 * 3 + 61 + 3, "fast path: 255 octets read")
  T.eq(select(2, dns.question(header{qd = 1} .. ok256 .. be16(1) .. be16(1))),
       "name longer than 255 octets", "fast path: 256 too long")
  local l63 = rep(char(63) .. rep("a", 63), 3)
  T.eq(select(2, dns.question(header{qd = 1} .. l63 .. char(63) .. rep("b", 10))),
       "label truncated", "fast path: a cut label that would pass 255 is cut")
  T.eq(select(2, dns.question(header{qd = 1} .. l63 .. char(61) .. rep("b", 10))),
       "label truncated", "fast path: a cut label within 255 is cut")
  T.eq(select(2, dns.question(header{qd = 1} .. l63 .. char(63) .. rep("b", 63) .. "\5ab")),
       "name longer than 255 octets", "fast path: too long, then cut")
  -- too long only through compression
  local part = rep(char(63) .. rep("c", 63), 3) .. "\0"          -- 193 octets at 12
  local m = header{qd = 2} .. part .. be16(1) .. be16(1) ..
    char(63) .. rep("d", 63) .. "\192\12" .. be16(1) .. be16(1)
  T.eq(dns.parse(m), nil, "257 octets via a pointer")
end)

T.test("names: RFC 1035 escaping", function()
  local m = header{qd = 1} .. "\4a.b\\\3\1\32\255\3COM\0" .. be16(1) .. be16(1)
  local msg = assert(dns.parse(m))
  T.eq(msg.questions[1].name, "a\\.b\\\\.\\001\\032\\255.COM", "escaped")
  local _, _, _, qn = dns.question(m)
  T.eq(qn, "a\\.b\\\\.\\001\\032\\255.com", "escaped, lower-cased")
  -- root
  msg = assert(dns.parse(header{qd = 1} .. "\0" .. be16(2) .. be16(1)))
  T.eq(msg.questions[1].name, ".", "root")
  T.eq(dns.escape_string('a"b\0'), 'a\\"b\\000', "character string")
  -- other specials
  m = header{qd = 1} .. "\6();@$\"\0" .. be16(1) .. be16(1)
  T.eq(assert(dns.parse(m)).questions[1].name, '\\(\\)\\;\\@\\$\\"', "specials")
end)

T.test("question_struct: fields, specials, name hash by lower-cased name", function()
  local m = header{qd = 1} .. "\6();@$\"\0" .. be16(28) .. be16(1)
  local q = assert(dns.question_struct(m))
  T.eq(ffi.string(q.name, q.name_len), '\\(\\)\\;\\@\\$\\"', "specials escaped")
  T.eq(q.qtype, 28, "qtype"); T.eq(q.qdcount, 1, "qdcount")
  local function h(name)
    return assert(dns.question_struct(header{qd = 1} .. wname(name) .. be16(1) .. be16(1))).name_hash
  end
  T.ok(h("WWW.Example.COM") == h("www.example.com"), "case-insensitive hash")
  T.ok(h("www.example.com") ~= h("www.example.org"), "other name, other hash")
  T.ok(h("a.bc") ~= h("ab.c"), "label boundaries count")
  -- the wire form: labels lower-cased, pointers followed; its text
  local w = assert(dns.question_wire(header{qd = 1} .. "\3WwW\3a.B\0" .. be16(1) .. be16(1)))
  T.eq(w.name_len, 0, "question_wire makes no text")
  T.eq(ffi.string(w.wire, w.wire_len), "\3www\3a.b\0", "wire form")
  T.eq(dns.name_text(w.wire, w.wire_len), "www.a\\.b", "text of the wire form")
  T.eq(dns.name_text("\0"), ".", "root")
  -- every octet value, at offsets across 16- and 8-byte chunks: only A-Z fold
  local labels, want = {}, {}
  for b = 0, 255, 51 do
    local l = {}
    for c = b, math.min(b + 50, 255) do l[#l + 1] = string.char(c) end
    l = table.concat(l)
    labels[#labels + 1] = string.char(#l) .. l
    want[#want + 1] = string.char(#l) .. l:gsub("%u", string.lower)
  end
  for shift = 0, 15 do
    for first = 1, #labels, 3 do             -- three labels a name: under 255 octets
      local last = math.min(first + 2, #labels)
      local pre = string.rep("\1x", shift)
      local body = pre .. table.concat(labels, "", first, last) .. "\0"
      local q = assert(dns.question_wire(header{qd = 1} .. body .. be16(1) .. be16(1)))
      T.eq(ffi.string(q.wire, q.wire_len), pre .. table.concat(want, "", first, last) .. "\0",
           "case folding, shift " .. shift)
    end
  end
  T.eq(dns.name_text("\3ab"), nil, "label past the end")
  T.eq(dns.name_text("\3abc"), nil, "no root label")
  local none, err = dns.question_struct("\0\1")
  T.eq(none, nil, "short"); T.eq(err, "short header", "reason")
end)

T.test("mDNS bits kept", function()
  local m = header{id = 0, flags = 0x8400, qd = 1, an = 1} .. wname("_ipp._tcp.local") ..
    be16(12) .. be16(0x8001) .. rr("\192\12", 1, 0x8001, 120, "\10\0\0\1")
  local msg = assert(dns.parse(m))
  T.ok(msg.questions[1].qu, "QU bit")
  T.eq(msg.answers[1].class, 0x8001, "cache-flush bit kept")
  local _, _, _, _, _, qc = dns.question(m)
  T.eq(qc, 0x8001, "qclass with QU")
end)

T.test("bad rdata lengths and truncation at every length never raise", function()
  T.eq(dns.parse(header{flags = 0x8000, an = 1} .. rr("\0", 1, 1, 0, "\1\2\3")), nil, "A of 3 bytes")
  T.eq(dns.parse(header{flags = 0x8000, an = 1} .. rr("\0", 28, 1, 0, "\1\2\3")), nil, "AAAA of 3 bytes")
  T.ok(dns.parse(header{flags = 0x8000, an = 1} .. rr("\0", 1, 254, 0, "")), "empty rdata (update)")
  local full = every_rr()
  for i = 0, #full do
    local s = full:sub(1, i)
    local ok, a, b = pcall(dns.parse, s)
    T.ok(ok, "parse raised at length " .. i)
    if i < #full then T.ok(a == nil and type(b) == "string", "parse fails with a reason at " .. i) end
    ok = pcall(dns.question, s)
    T.ok(ok, "question raised at length " .. i)
    ok = pcall(dns.header, s)
    T.ok(ok, "header raised at length " .. i)
    -- through a pointer and an explicit length shorter than the buffer
    local buf = ffi.new("uint8_t[?]", #full)
    ffi.copy(buf, full, #full)
    ok, a = pcall(dns.parse, buf, i)
    T.ok(ok and (i == #full) == (a ~= nil), "pointer form at " .. i)
  end
  -- random bytes after a valid header
  local seed = 12345
  for _ = 1, 2000 do
    local t = {}
    for k = 1, 40 do seed = (seed * 1103515245 + 12345) % 2147483648; t[k] = char(seed % 256) end
    local s = header{flags = 0x8180, qd = 1, an = 2, ns = 1, ar = 2} .. table.concat(t)
    T.ok(pcall(dns.parse, s) and pcall(dns.question, s), "random")
  end
end)

---------------------------------------------------------------------------
-- pkt:dns() and dnsflow on built frames

local function a4(s) return assert(addr.parse4(s)) end
local function a6(s) return assert(addr.parse6(s)) end
local ETH = rep("\0", 12)

local function ip4(proto, payload, o)
  o = o or {}
  local ff = math.floor((o.off or 0) / 8) + (o.mf and 0x2000 or 0)
  return ETH .. "\8\0" .. char(0x45, 0) .. be16(20 + #payload) .. be16(o.id or 1) ..
    be16(ff) .. char(64, proto) .. be16(0) .. a4(o.src or "198.18.0.1") ..
    a4(o.dst or "198.18.0.2") .. payload
end

local function ip6(nxt, payload, o)
  o = o or {}
  return ETH .. "\134\221" .. char(0x60, 0, 0, 0) .. be16(#payload) .. char(nxt, 64) ..
    a6(o.src or "2001:2::1") .. a6(o.dst or "2001:2::2") .. payload
end

local function udp(sp, dp, data, ulen)
  return be16(sp) .. be16(dp) .. be16(ulen or 8 + #data) .. be16(0) .. data
end

local function tcp(sp, dp, seq, flags, data)
  return be16(sp) .. be16(dp) .. be32(seq) .. be32(0) .. char(0x50, flags) ..
    be16(65535) .. be16(0) .. be16(0) .. data
end

local QUERY = header{id = 0x4242, flags = 0x0100, qd = 1} .. wname("example.com") .. be16(1) .. be16(1)

local function collect(fe, frames)
  local got = {}
  for _, f in ipairs(frames) do
    local p = packet.from_bytes(f, 1, 1e9)
    fe:feed(p, function(ptr, len, meta)
      got[#got + 1] = {msg = ffi.string(ptr, len), transport = meta.transport,
        ipver = meta.ipver, src = meta.src, dst = meta.dst, sport = meta.sport,
        dport = meta.dport, frag = meta.fragmented, srcraw = meta.srcraw}
    end)
  end
  return got
end

T.test("pkt:dns()", function()
  local p = packet.from_bytes(ip4(17, udp(1234, 53, QUERY)))
  local m = assert(p:dns())
  T.eq(m.id, 0x4242); T.eq(m.questions[1].name, "example.com")
  p = packet.from_bytes(ip4(17, udp(1234, 8053, QUERY)))
  T.eq(p:dns(), nil, "other port")
  T.ok(p:dns(true), "any port")
  p = packet.from_bytes(ip4(6, tcp(1234, 53, 1, 0x18, be16(#QUERY) .. QUERY)))
  T.ok(p:dns(), "TCP with the length prefix")
  -- UDP length honoured: 8 means no payload
  p = packet.from_bytes(ip4(17, udp(1234, 53, QUERY, 8)))
  T.eq(p:dns(), nil, "UDP length 8")
end)

T.test("dnsflow: UDP on IPv4 and IPv6, ports, ICMP-quoted not counted", function()
  local fe = dnsflow.new{ports = {53}}
  local got = collect(fe, {
    ip4(17, udp(1234, 53, QUERY)),
    ip6(17, udp(53, 1234, QUERY)),
    ip4(17, udp(1234, 5353, QUERY)),                 -- not a listed port
    ip4(17, udp(1234, 53, QUERY, 8)),                -- empty
    ip4(1, char(3, 3, 0, 0, 0, 0, 0, 0) .. ip4(17, udp(1234, 53, QUERY)):sub(15)),
  })
  T.eq(#got, 2, "messages")
  T.eq(got[1].msg, QUERY); T.eq(got[1].transport, "udp"); T.eq(got[1].ipver, 4)
  T.eq(got[1].src, "198.18.0.1"); T.eq(got[1].dst, "198.18.0.2"); T.eq(got[1].dport, 53)
  T.eq(got[1].srcraw, a4("198.18.0.1"))
  T.eq(got[2].ipver, 6); T.eq(got[2].src, "2001:2::1"); T.eq(got[2].sport, 53)
  local fe2 = dnsflow.new{ports = {5353}}
  T.eq(#collect(fe2, {ip4(17, udp(1234, 5353, QUERY))}), 1, "5353 when listed")
end)

T.test("dnsflow: TCP several messages per segment, one split over segments", function()
  local fe = dnsflow.new{ports = {53}}
  local m = be16(#QUERY) .. QUERY
  local two = m .. m
  local got = collect(fe, {
    ip4(6, tcp(40000, 53, 100, 0x02, "")),                   -- SYN
    ip4(6, tcp(40000, 53, 101, 0x18, two)),                   -- two messages
    ip4(6, tcp(40000, 53, 101 + #two, 0x18, m:sub(1, 5))),    -- split ...
    ip4(6, tcp(40000, 53, 106 + #two, 0x18, m:sub(6))),       -- ... done
    ip4(6, tcp(40000, 53, 101, 0x18, two)),                   -- retransmission
  })
  T.eq(#got, 3, "messages")
  for _, g in ipairs(got) do T.eq(g.msg, QUERY); T.eq(g.transport, "tcp") end
  T.eq(fe:stats().tcp_dups, 1, "retransmission ignored")
  -- out of order: the second half first
  fe = dnsflow.new{ports = {53}}
  got = collect(fe, {
    ip6(6, tcp(40000, 53, 100, 0x02, "")),
    ip6(6, tcp(40000, 53, 106, 0x18, m:sub(6))),
    ip6(6, tcp(40000, 53, 101, 0x18, m:sub(1, 5))),
  })
  T.eq(#got, 1, "out-of-order segments reassembled")
  T.eq(got[1].msg, QUERY); T.eq(got[1].ipver, 6)
  -- a segment lost: the flow is dropped at FIN and counted
  fe = dnsflow.new{ports = {53}}
  got = collect(fe, {
    ip4(6, tcp(40000, 53, 100, 0x02, "")),
    ip4(6, tcp(40000, 53, 101, 0x18, m:sub(1, 5))),
    ip4(6, tcp(40000, 53, 106 + #m, 0x11, "")),               -- FIN
  })
  T.eq(#got, 0, "incomplete message not emitted")
  T.eq(fe:stats().tcp_unfinished, 1, "counted")
  T.eq(fe:stats().buffered, 0, "nothing held")
end)

T.test("dnsflow: IPv4 and IPv6 fragments", function()
  local big = header{id = 9, flags = 0x8180, qd = 1, an = 1} .. wname("frag.test") ..
    be16(16) .. be16(1) .. rr("\192\12", 16, 1, 60, char(200) .. rep("x", 200))
  local dgram = udp(53, 1234, big)
  local f1, f2 = dgram:sub(1, 120), dgram:sub(121)
  local fe = dnsflow.new{ports = {53}}
  local got = collect(fe, {
    ip4(17, f2, {id = 7, off = 120}),                     -- last first
    ip4(17, f1, {id = 7, mf = true}),
    ip4(17, f1, {id = 7, mf = true}),                     -- duplicate after completion: a new datagram
  })
  T.eq(#got, 1, "one datagram")
  T.eq(got[1].msg, big); T.ok(got[1].frag, "fragmented")
  local st = fe:stats()
  T.eq(st.frag_datagrams, 1)
  fe:flush()
  T.eq(fe:stats().frag_timeouts, 1, "the stray fragment times out at the end")
  -- duplicates and a missing fragment
  fe = dnsflow.new{ports = {53}}
  got = collect(fe, {ip4(17, f1, {id = 8, mf = true}), ip4(17, f1, {id = 8, mf = true})})
  T.eq(#got, 0); T.eq(fe:stats().frag_dups, 1, "duplicate counted")
  -- IPv6: fragment header (44)
  local function fh(off, more, id) return char(17, 0) .. be16(off + (more and 1 or 0)) .. be32(id) end
  fe = dnsflow.new{ports = {53}}
  got = collect(fe, {ip6(44, fh(0, true, 99) .. f1), ip6(44, fh(120, false, 99) .. f2)})
  T.eq(#got, 1, "IPv6 datagram")
  T.eq(got[1].msg, big); T.eq(got[1].ipver, 6); T.eq(got[1].src, "2001:2::1")
  -- timeouts on capture time
  fe = dnsflow.new{ports = {53}, frag_timeout = 1}
  local p1 = packet.from_bytes(ip4(17, f1, {id = 5, mf = true}), 1, 1e9)
  local p2 = packet.from_bytes(ip4(17, f2, {id = 5, off = 120}), 1, 5e9)
  local n = 0
  fe:feed(p1, function() n = n + 1 end)
  fe:feed(p2, function() n = n + 1 end)
  T.eq(n, 0, "expired before the last fragment")
  T.eq(fe:stats().frag_timeouts, 1, "timeout counted")
  -- bounded: max_frags, the oldest datagram evicted for a new one
  fe = dnsflow.new{ports = {53}, max_frags = 2}
  got = collect(fe, {ip4(17, f1, {id = 1, mf = true}), ip4(17, f1, {id = 2, mf = true}),
    ip4(17, f1, {id = 3, mf = true}),
    ip4(17, f2, {id = 1, off = 120}), ip4(17, f2, {id = 3, off = 120})})
  st = fe:stats()
  -- id 3 evicts id 1, whose second half then evicts id 2
  T.eq(st.frag_evicted, 2, "over max_frags: the oldest evicted")
  T.eq(st.frag_dropped, 0, "nothing refused")
  T.eq(#got, 1, "the newest completes, the evicted one does not")
end)

T.done()
