-- fields.lua - packet fields by their Wireshark names, for `tshark -T
-- fields` habits (scripts/dump.lua -T fields -e ip.src -e dns.qry.name).
--
--   local fields = require "pktsh.proto.fields"
--   local ex = fields.extractor{"ip.src", "dns.qry.name"}   -- or nil, err
--   ex:values(p) -> {v1, v2}: per field nil (absent), a string, or a list
--                   of strings (a field that occurs more than once)
--   fields.list() -> {{name, description}} in a stable order
--   fields.format(values, opts) -> one line as tshark prints it (opts:
--       separator, occurrence "a"/"f"/"l", aggregator, quote "n"/"d"/"s")
--
-- Values are printed as tshark 4 prints them: addresses as text, ports
-- and counts in decimal, identifiers and flag words in hex (dns.id
-- "0x5934", tcp.flags "0x0018"), booleans as 0/1, times with nine
-- decimals, DNS names without the final dot and the root as "<Root>".
-- A field some packets lack is absent, so its column is empty. The
-- fields that need earlier packets (frame.number, frame.time_relative,
-- frame.time_delta, tcp.seq, tcp.ack, which tshark makes relative to the
-- connection's first sequence numbers) count the packets this extractor
-- has seen; a direction first seen without a SYN starts at 1, as in
-- tshark. Through tunnels the eth.*, vlan.id, ip.*, ipv6.* and udp.*
-- fields list every layer's value, outer first, as tshark's do
-- (-E occurrence=l gives the innermost); tcp.* and dns.* are the
-- innermost datagram's. Differences from tshark: no reassembly (DNS
-- fields come from the one message in a UDP datagram or a TCP segment,
-- nothing from IP fragments but the first), nothing from inside ICMP
-- errors, and the DNS fields of a message that does not parse are those
-- of the part that does.
local ffi = require "ffi"
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local numbers = require "pktsh.proto.numbers"

local band, rshift = bit.band, bit.rshift
local fmt = string.format

local M = {}

---------------------------------------------------------------------------
-- Helpers

local function hex16(v) return v and fmt("0x%04x", v) end
local function num(v) return v and tostring(v) end
local function bool(v) if v == nil then return nil end return v and "1" or "0" end

local function sec_nsec(ts)
  ts = ffi.cast("int64_t", ts)
  local s, n = ts / 1000000000LL, ts % 1000000000LL
  if n < 0 then s, n = s - 1, n + 1000000000LL end
  return s, n
end

-- A time in ns (int64) as seconds with nine decimals.
local function seconds(ns)
  ns = ffi.cast("int64_t", ns)
  local sign = ""
  if ns < 0 then sign, ns = "-", -ns end
  local s, n = sec_nsec(ns)
  return fmt("%s%d.%09d", sign, tonumber(s), tonumber(n))
end

local function eth(p)
  return p.linktype == numbers.DLT.EN10MB and p.caplen >= 14
end

-- Every 802.1Q tag's id, outer first, in every layer (the link's and
-- those inside tunnels); tshark shows 802.1ad tags as ieee8021ad.id.
local function vlan_ids(p)
  local t = {}
  local n, lay = packet.layers(p)
  for j = 0, n - 1 do
    local l = lay[j]
    if l.kind == packet.LAYER.VLAN and l.sub == numbers.ETH.VLAN then
      local v = p:u16(l.off)
      if v then t[#t + 1] = tostring(band(v, numbers.VLAN_ID_MASK)) end
    end
  end
  return #t > 0 and t or nil
end

-- A field of every header of a kind, outer first, as tshark lists them
-- (tunnels: the outer header's value, then the inner ones'). get(p, i)
-- gives the i-th header, false for a layer without one, nil after the
-- last; f a value, a list or nil.
local MAX_LAYERS = 16

local function every(get, f)
  return function(p)
    local t = {}
    for i = 1, MAX_LAYERS do
      local h = get(p, i)
      if h == nil then break end
      local v = h and f(h, p)
      if type(v) == "table" then
        for _, x in ipairs(v) do t[#t + 1] = x end
      elseif v then
        t[#t + 1] = v
      end
    end
    if #t == 0 then return nil end
    return #t == 1 and t[1] or t
  end
end

-- Control bytes as Wireshark's format_text() prints them: C escapes,
-- else three octal digits.
local CTRL = {[7] = "\\a", [8] = "\\b", [9] = "\\t", [10] = "\\n", [11] = "\\v",
              [12] = "\\f", [13] = "\\r"}
local function ctrl(c)
  local b = c:byte()
  return CTRL[b] or fmt("\\%03o", b)
end

-- A DNS name as tshark prints it: the root as <Root>, the RFC 1035
-- escapes of the parser undone, control bytes escaped as tshark does
-- (pktsh.dns writes no final dot either).
local function dns_name(s)
  if s == nil then return nil end
  if s == "." or s == "" then return "<Root>" end
  s = s:gsub("\\(%d%d%d)", function(d) return string.char(tonumber(d)) end)
  s = s:gsub("\\(.)", "%1")
  return (s:gsub("[%z\1-\31\127]", ctrl))
end

---------------------------------------------------------------------------
-- DNS: the message of a packet, parsed once per packet.

local dns

local function message(p, ctx)
  if ctx.dns_for == p then return ctx.dns end
  dns = dns or require "pktsh.proto.dns"
  ctx.dns_for, ctx.dns = p, nil
  local off, n = dns.span(p)
  if not off then return nil end
  local m = dns.parse_partial(p.data + off, n)
  ctx.dns = m
  return m
end

local function dns_field(f)
  return function(p, ctx)
    local m = message(p, ctx)
    return m and f(m)
  end
end

-- A section count: an UPDATE message (opcode 5) names its first three
-- zones, prerequisites and updates (RFC 2136), as tshark's fields do.
local function count_of(key, update)
  return dns_field(function(m)
    if (band(rshift(m.flags, 11), 15) == 5) == update then return num(m[key]) end
  end)
end

-- A response-only flag (tshark shows these only when QR is set).
local function resp_flag(bitv)
  return dns_field(function(m) if m.qr then return bool(band(m.flags, bitv) ~= 0) end end)
end
local function flag(bitv)
  return dns_field(function(m) return bool(band(m.flags, bitv) ~= 0) end)
end

-- Values of every record (all sections) that f gives one for.
local function records(f)
  return dns_field(function(m)
    local t = {}
    for _, sec in ipairs{m.answers, m.authority, m.additional} do
      for _, rr in ipairs(sec) do
        local v = f(rr)
        if v then t[#t + 1] = v end
      end
    end
    return #t > 0 and t or nil
  end)
end

local function questions(f)
  return dns_field(function(m)
    local t = {}
    for i, q in ipairs(m.questions) do t[i] = f(q, m) end
    return #t > 0 and t or nil
  end)
end

---------------------------------------------------------------------------
-- TCP sequence numbers relative to each direction's first one.

local FLOWS = 65536   -- directions remembered; then the oldest half goes

local function flow_key(ip, t, rev)
  local a, b = tostring(ip.src), tostring(ip.dst)
  if rev then return b .. "|" .. a .. "|" .. t.dport .. "|" .. t.sport end
  return a .. "|" .. b .. "|" .. t.sport .. "|" .. t.dport
end

local function base_get(ctx, k)
  return ctx.seq_new[k] or ctx.seq_old[k]
end

local function base_set(ctx, k, v)
  if ctx.seq_count >= FLOWS then
    ctx.seq_old, ctx.seq_new, ctx.seq_count = ctx.seq_new, {}, 0
  end
  ctx.seq_new[k] = v
  ctx.seq_count = ctx.seq_count + 1
end

-- This packet's relative seq and ack (computed once per packet).
local function relative(p, ctx)
  if ctx.rel_for == p then return ctx.rel_seq, ctx.rel_ack end
  ctx.rel_for, ctx.rel_seq, ctx.rel_ack = p, nil, nil
  local t, ip = p:tcp(), p:ip()
  if not t or not ip then return nil end
  local k, rk = flow_key(ip, t), flow_key(ip, t, true)
  local base = base_get(ctx, k)
  -- a SYN starts a connection afresh (the 4-tuple may be reused); a
  -- direction first seen without one (the capture began mid-flow) starts
  -- at 1, as tshark counts it
  if not base or t.syn then
    base = t.syn and t.seq or (t.seq - 1) % 4294967296
    base_set(ctx, k, base)
  end
  if t.syn and not t.ackf then ctx.seq_new[rk], ctx.seq_old[rk] = nil, nil end
  local rbase = base_get(ctx, rk)
  if not rbase and t.ackf then rbase = (t.ack - 1) % 4294967296; base_set(ctx, rk, rbase) end
  ctx.rel_seq = (t.seq - base) % 4294967296
  -- without the ACK flag the field means nothing: tshark shows 0
  ctx.rel_ack = t.ackf and rbase and (t.ack - rbase) % 4294967296 or 0
  return ctx.rel_seq, ctx.rel_ack
end

---------------------------------------------------------------------------
-- The table.

-- The end of the IP datagram by its header (not the capture).
local datagram_end = packet.datagram_end

-- IP layers of one version and the UDP headers of every IP layer (the
-- ones a tunnel rides in and the innermost); TCP: the innermost only.
local function ip_of(version)
  return function(p, i)
    local ip = p:ip(i)
    if not ip then return nil end
    return ip.version == version and ip or false
  end
end
local function udp_of(p, i)
  if not p:ip(i) then return nil end
  return p:udp(i) or false
end
local function eth_of(p, i) return eth(p) and p:eth(i) or nil end

local function ip4(f) return every(ip_of(4), f) end
local function ip6(f) return every(ip_of(6), f) end
local function udp(f) return every(udp_of, f) end
local function ethf(f) return every(eth_of, f) end
local function tcp(f) return function(p) local t = p:tcp(); return t and f(t, p) end end

local LIST = {
  {"frame.number", "the packet's number, from 1", function(p, ctx) return num(ctx.number) end},
  {"frame.time_epoch", "time stamp, seconds since the epoch", function(p) return seconds(p.ts) end},
  {"frame.time_relative", "seconds since the first packet", function(p, ctx) return seconds(p.ts - ctx.first) end},
  {"frame.time_delta", "seconds since the previous packet", function(p, ctx) return seconds(p.ts - ctx.prev) end},
  {"frame.len", "length on the wire", function(p) return num(p.len) end},
  {"frame.cap_len", "bytes captured", function(p) return num(p.caplen) end},
  {"eth.src", "Ethernet sources", ethf(function(e) return tostring(e.src) end)},
  {"eth.dst", "Ethernet destinations", ethf(function(e) return tostring(e.dst) end)},
  {"eth.addr", "Ethernet destination and source", ethf(function(e) return {tostring(e.dst), tostring(e.src)} end)},
  -- an 802.3 frame's field is a length (tshark: eth.len), not a type
  {"eth.type", "the Ethernet header's type", ethf(function(e) return e.type >= 0x0600 and hex16(e.type) end)},
  {"vlan.id", "802.1Q VLAN ids, outer first", vlan_ids},
  {"ip.src", "IPv4 source", ip4(function(ip) return tostring(ip.src) end)},
  {"ip.dst", "IPv4 destination", ip4(function(ip) return tostring(ip.dst) end)},
  {"ip.addr", "IPv4 source and destination", ip4(function(ip) return {tostring(ip.src), tostring(ip.dst)} end)},
  {"ip.proto", "IPv4 protocol number", ip4(function(ip) return num(ip.proto) end)},
  {"ip.ttl", "IPv4 time to live", ip4(function(ip) return num(ip.ttl) end)},
  {"ip.id", "IPv4 identification", ip4(function(ip) return hex16(ip.id) end)},
  {"ip.len", "IPv4 total length", ip4(function(ip) return num(ip.len) end)},
  {"ip.hdr_len", "IPv4 header length", ip4(function(ip) return num(ip.hlen) end)},
  {"ip.dsfield", "IPv4 DS field (TOS)", ip4(function(ip) return fmt("0x%02x", ip.tos) end)},
  {"ip.flags.df", "IPv4 don't fragment", ip4(function(ip) return bool(ip.df) end)},
  {"ip.flags.mf", "IPv4 more fragments", ip4(function(ip) return bool(ip.mf) end)},
  {"ip.frag_offset", "IPv4 fragment offset (8-byte units)", ip4(function(ip) return num(ip.frag_off / 8) end)},
  {"ip.checksum", "IPv4 header checksum", ip4(function(ip) return hex16(ip.sum) end)},
  {"ipv6.src", "IPv6 source", ip6(function(ip) return tostring(ip.src) end)},
  {"ipv6.dst", "IPv6 destination", ip6(function(ip) return tostring(ip.dst) end)},
  {"ipv6.addr", "IPv6 source and destination", ip6(function(ip) return {tostring(ip.src), tostring(ip.dst)} end)},
  {"ipv6.nxt", "IPv6 next header", ip6(function(ip) return num(ip.nxt) end)},
  {"ipv6.hlim", "IPv6 hop limit", ip6(function(ip) return num(ip.hlim) end)},
  {"ipv6.plen", "IPv6 payload length", ip6(function(ip) return num(ip.plen) end)},
  {"tcp.srcport", "TCP source port", tcp(function(t) return num(t.sport) end)},
  {"tcp.dstport", "TCP destination port", tcp(function(t) return num(t.dport) end)},
  {"tcp.port", "TCP source and destination ports", tcp(function(t) return {num(t.sport), num(t.dport)} end)},
  {"tcp.len", "TCP payload length (by the headers)", tcp(function(t, p)
    local n = datagram_end(p) - p.l4off - t.hlen
    return num(n > 0 and n or 0) end)},
  {"tcp.flags", "TCP flags", tcp(function(t) return hex16(t.flags) end)},
  {"tcp.flags.syn", "TCP SYN", tcp(function(t) return bool(t.syn) end)},
  {"tcp.flags.ack", "TCP ACK", tcp(function(t) return bool(t.ackf) end)},
  {"tcp.flags.fin", "TCP FIN", tcp(function(t) return bool(t.fin) end)},
  {"tcp.flags.reset", "TCP RST", tcp(function(t) return bool(t.rst) end)},
  {"tcp.flags.push", "TCP PSH", tcp(function(t) return bool(t.psh) end)},
  {"tcp.seq", "TCP sequence number, relative", function(p, ctx) return num((relative(p, ctx))) end},
  {"tcp.ack", "TCP acknowledgment number, relative", function(p, ctx)
    local _, a = relative(p, ctx); return num(a) end},
  {"tcp.seq_raw", "TCP sequence number", tcp(function(t) return num(t.seq) end)},
  {"tcp.ack_raw", "TCP acknowledgment number", tcp(function(t) return num(t.ack) end)},
  {"tcp.window_size_value", "TCP window field", tcp(function(t) return num(t.win) end)},
  {"tcp.checksum", "TCP checksum", tcp(function(t) return hex16(t.sum) end)},
  {"udp.srcport", "UDP source port", udp(function(u) return num(u.sport) end)},
  {"udp.dstport", "UDP destination port", udp(function(u) return num(u.dport) end)},
  {"udp.port", "UDP source and destination ports", udp(function(u) return {num(u.sport), num(u.dport)} end)},
  {"udp.length", "UDP length field", udp(function(u) return num(u.len) end)},
  {"udp.checksum", "UDP checksum", udp(function(u) return hex16(u.sum) end)},
  {"icmp.type", "ICMP type", function(p) local h = p:icmp(); return h and num(h.type) end},
  {"icmp.code", "ICMP code", function(p) local h = p:icmp(); return h and num(h.code) end},
  {"icmpv6.type", "ICMPv6 type", function(p) local h = p:icmp6(); return h and num(h.type) end},
  {"icmpv6.code", "ICMPv6 code", function(p) local h = p:icmp6(); return h and num(h.code) end},
  {"dns.id", "DNS transaction id", dns_field(function(m) return hex16(m.id) end)},
  {"dns.flags", "DNS flags word", dns_field(function(m) return hex16(m.flags) end)},
  {"dns.flags.response", "DNS QR: a response", flag(0x8000)},
  {"dns.flags.opcode", "DNS opcode", dns_field(function(m) return num(band(rshift(m.flags, 11), 15)) end)},
  {"dns.flags.authoritative", "DNS AA (responses)", resp_flag(0x0400)},
  {"dns.flags.truncated", "DNS TC", flag(0x0200)},
  {"dns.flags.recdesired", "DNS RD", flag(0x0100)},
  {"dns.flags.recavail", "DNS RA (responses)", resp_flag(0x0080)},
  {"dns.flags.z", "DNS Z bit", flag(0x0040)},
  {"dns.flags.authenticated", "DNS AD (in a query only when set)", dns_field(function(m)
    local ad = band(m.flags, 0x0020) ~= 0
    if m.qr or ad then return bool(ad) end end)},
  {"dns.flags.checkdisable", "DNS CD", flag(0x0010)},
  {"dns.flags.rcode", "DNS header RCODE (responses)", dns_field(function(m)
    if m.qr then return num(band(m.flags, 15)) end end)},
  {"dns.count.queries", "DNS QDCOUNT", count_of("qdcount", false)},
  {"dns.count.answers", "DNS ANCOUNT", count_of("ancount", false)},
  {"dns.count.auth_rr", "DNS NSCOUNT", count_of("nscount", false)},
  {"dns.count.zones", "DNS ZOCOUNT (UPDATE)", count_of("qdcount", true)},
  {"dns.count.prerequisites", "DNS PRCOUNT (UPDATE)", count_of("ancount", true)},
  {"dns.count.updates", "DNS UPCOUNT (UPDATE)", count_of("nscount", true)},
  {"dns.count.add_rr", "DNS ARCOUNT", dns_field(function(m) return num(m.arcount) end)},
  {"dns.qry.name", "DNS question names", questions(function(q) return dns_name(q.name) end)},
  {"dns.qry.type", "DNS question types", questions(function(q) return num(q.type) end)},
  {"dns.qry.class", "DNS question classes", questions(function(q) return hex16(band(q.class, 0x7fff)) end)},
  {"dns.resp.name", "DNS record owner names", records(function(rr) return dns_name(rr.name) end)},
  {"dns.resp.type", "DNS record types", records(function(rr) return num(rr.type) end)},
  {"dns.resp.class", "DNS record classes (OPT aside)", records(function(rr)
    if rr.type ~= 41 then return hex16(band(rr.class, 0x7fff)) end end)},
  {"dns.resp.ttl", "DNS record TTLs (OPT aside)", records(function(rr)
    if rr.type ~= 41 then return num(rr.ttl) end end)},
  {"dns.a", "DNS A addresses", records(function(rr) if rr.type == 1 then return rr.address end end)},
  {"dns.aaaa", "DNS AAAA addresses", records(function(rr) if rr.type == 28 then return rr.address end end)},
  {"dns.cname", "DNS CNAME targets", records(function(rr) if rr.type == 5 then return dns_name(rr.target) end end)},
  {"dns.ns", "DNS NS targets", records(function(rr) if rr.type == 2 then return dns_name(rr.target) end end)},
  {"dns.ptr.domain_name", "DNS PTR targets", records(function(rr) if rr.type == 12 then return dns_name(rr.target) end end)},
  {"dns.mx.mail_exchange", "DNS MX exchanges", records(function(rr) if rr.type == 15 then return dns_name(rr.exchange) end end)},
}

local BY_NAME = {}
for _, f in ipairs(LIST) do BY_NAME[f[1]] = f[3] end

function M.list()
  local t = {}
  for i, f in ipairs(LIST) do t[i] = {name = f[1], description = f[2]} end
  return t
end

---------------------------------------------------------------------------
-- Extractors

local Extractor = {}
Extractor.__index = Extractor

function Extractor:values(p)
  if p.l3state == numbers.PKT.NEW then packet.decode_l3(p) end
  local ctx = self.ctx
  ctx.number = ctx.number + 1
  if ctx.number == 1 then ctx.first, ctx.prev = p.ts, p.ts end
  local out = {}
  for i, f in ipairs(self.fns) do
    local v = f(p, ctx)
    if v == false then v = nil end
    out[i] = v
  end
  ctx.prev = p.ts
  ctx.dns_for, ctx.rel_for = nil, nil
  return out
end

-- An extractor of the named fields, or nil and the unknown name.
function M.extractor(names)
  local fns = {}
  for i, n in ipairs(names) do
    fns[i] = BY_NAME[n]
    if not fns[i] then
      return nil, string.format("unknown field '%s' (dump.lua --fields lists them)", tostring(n))
    end
  end
  return setmetatable({names = names, fns = fns, ctx = {number = 0, seq_new = {},
    seq_old = {}, seq_count = 0}}, Extractor)
end

-- tshark's -E options: separator, occurrence, aggregator, quote.
local QUOTES = {n = "", d = '"', s = "'"}

local function occurrences(v, o)
  if type(v) ~= "table" then return v end
  if o.occurrence == "f" then return v[1] end
  if o.occurrence == "l" then return v[#v] end
  return table.concat(v, o.aggregator or ",")
end

function M.format(values, o, n)
  o = o or {}
  local q = QUOTES[o.quote or "n"]
  local t = {}
  for i = 1, n or #values do
    local v = occurrences(values[i], o)
    t[i] = v and (q .. v .. q) or ""
  end
  return table.concat(t, o.separator or "\t")
end

-- "separator=,": tshark's -E text -> key, value (or nil, why).
local SPECIAL = {["/t"] = "\t", ["/s"] = " "}

function M.option(s, o)
  local k, v = s:match("^(%w+)=(.*)$")
  if not k then return nil, "not KEY=VALUE" end
  if k == "separator" or k == "aggregator" then
    v = SPECIAL[v] or v
    if #v ~= 1 then return nil, k .. " must be one character, /t or /s" end
  elseif k == "occurrence" then
    if v ~= "f" and v ~= "l" and v ~= "a" then return nil, "occurrence must be f, l or a" end
  elseif k == "quote" then
    if not QUOTES[v] then return nil, "quote must be d, s or n" end
  elseif k == "header" then
    if v ~= "y" and v ~= "n" then return nil, "header must be y or n" end
    v = v == "y"
  else
    return nil, "unknown option '" .. k .. "' (header, separator, occurrence, aggregator, quote)"
  end
  o[k] = v
  return o
end

return M
