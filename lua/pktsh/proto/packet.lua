-- packet.lua - the packet metatype over struct pktsh_pkt and its decoders.
--
-- A packet is a descriptor (src/pktsh.h) that points into a receiver's
-- memory. Decoders are lazy: the first call walks L2 and L3 once and
-- caches the offsets in the descriptor (l2state, l3off, l3end, l4off, ...),
-- later calls only check the cache. Scripts only ever see descriptors
-- through const pointers or as const values (a write to any field is an
-- error); the decoders alone write the cache, through a cast.
--
-- A released descriptor (its batch gone, src/batch.c) is STALE: no
-- bytes, and every decoder and accessor raises instead of answering; the
-- check sits on the path that decodes, so the hot path (already decoded)
-- pays nothing for it. Each decoder returns a typed view,
-- `const struct pktsh_hdr_X *` cast over the packet bytes, after checking
-- that the whole header lies inside the captured bytes, or nil. Views read
-- network-order fields through getters (h.sport, h.ttl, ...), so the hot
-- path allocates nothing once the JIT sinks the pointer casts.
--
-- Text (summary, show, hex) lives in pktsh.decodetext, loaded on first use.
local ffi = require "ffi"
local bit = require "bit"
require "pktsh.cdef"

local band, bor, rshift, lshift, bswap = bit.band, bit.bor, bit.rshift, bit.lshift, bit.bswap
local cast, min = ffi.cast, math.min

local M = {}

-- Header layouts. Multi-byte fields are stored in network order under a
-- leading underscore; the metatypes below expose host-order getters under
-- the plain name. Addresses are small structs with their own metatypes so
-- `ip.src` is a cheap reference that prints as text.
local bytes = require "pktsh.proto.bytes"
local addr = require "pktsh.proto.addr"  -- struct pktsh_mac, pktsh_in4, pktsh_in6 and their text
ffi.cdef [[
struct pktsh_hdr_eth { struct pktsh_mac dst; struct pktsh_mac src; uint16_t _type; };
struct pktsh_hdr_vlan { uint16_t _tci; uint16_t _type; };
struct pktsh_hdr_ip4 {
  uint8_t _vhl; uint8_t tos; uint16_t _len; uint16_t _id; uint16_t _off;
  uint8_t ttl; uint8_t proto; uint16_t _sum;
  struct pktsh_in4 src; struct pktsh_in4 dst;
};
struct pktsh_hdr_ip6 {
  uint32_t _vtf; uint16_t _plen; uint8_t nxt; uint8_t hlim;
  struct pktsh_in6 src; struct pktsh_in6 dst;
};
struct pktsh_hdr_tcp {
  uint16_t _sport; uint16_t _dport; uint32_t _seq; uint32_t _ack;
  uint8_t _off; uint8_t _flags; uint16_t _win; uint16_t _sum; uint16_t _urp;
};
struct pktsh_hdr_udp { uint16_t _sport; uint16_t _dport; uint16_t _len; uint16_t _sum; };
struct pktsh_hdr_icmp { uint8_t type; uint8_t code; uint16_t _sum; uint16_t _id; uint16_t _seq; };
]]

-- The numbers the decoders share with C (src/pktsh.h's enums: link
-- types, ethertypes, IP protocols), also for other modules.
local numbers = require "pktsh.proto.numbers"
M.DLT, M.ETH = numbers.DLT, numbers.ETH
local DLT, ETH, IP = numbers.DLT, numbers.ETH, numbers.IPPROTO
M.PROTO = {ICMP = IP.ICMP, TCP = IP.TCP, UDP = IP.UDP, ICMP6 = IP.ICMPV6}

local ETH_IP4, ETH_IP6 = ETH.IP4, ETH.IP6
local ETH_VLAN, ETH_QINQ, ETH_QINQ_OLD = ETH.VLAN, ETH.QINQ, ETH.QINQ_OLD
local DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2 = DLT.EN10MB, DLT.LINUX_SLL, DLT.LINUX_SLL2
local IP_TCP, IP_UDP, IP_ICMP, IP_ICMPV6 = IP.TCP, IP.UDP, IP.ICMP, IP.ICMPV6
local IP_AH, IP_FRAGMENT, IP_ESP, IP_NONE = IP.AH, IP.FRAGMENT, IP.ESP, IP.NONE
local IP_HOPOPTS, IP_ROUTING, IP_DSTOPTS = IP.HOPOPTS, IP.ROUTING, IP.DSTOPTS
local NEW, OK, BAD, STALE = numbers.PKT.NEW, numbers.PKT.OK, numbers.PKT.BAD, numbers.PKT.STALE
local FRAG_NONE, FRAG_FIRST, FRAG_LATER = numbers.FRAG.NONE, numbers.FRAG.FIRST, numbers.FRAG.LATER
local VLAN_ID_MASK = numbers.VLAN_ID_MASK

M.STALE_ERROR = "packet used after its batch was released; keep it with pkt:copy()"
-- Raises that error at the first caller outside the library (the
-- script's line that used the packet), however deep the library's
-- path to the check was.
local function stale()
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if not info or not info.source:find("pktsh/[%w_]+%.lua$") then break end
    level = level + 1
  end
  error(M.STALE_ERROR, level)
end

local pkt_t = ffi.typeof("struct pktsh_pkt")
local cpkt_t = ffi.typeof("const struct pktsh_pkt")   -- owned packets
local wpkt_p = ffi.typeof("struct pktsh_pkt *")       -- the decoders' writes
local u8p = ffi.typeof("const uint8_t *")
local eth_p = ffi.typeof("const struct pktsh_hdr_eth *")
local vlan_p = ffi.typeof("const struct pktsh_hdr_vlan *")
local ip4_p = ffi.typeof("const struct pktsh_hdr_ip4 *")
local ip6_p = ffi.typeof("const struct pktsh_hdr_ip6 *")
local tcp_p = ffi.typeof("const struct pktsh_hdr_tcp *")
local udp_p = ffi.typeof("const struct pktsh_hdr_udp *")
local icmp_p = ffi.typeof("const struct pktsh_hdr_icmp *")

-- Network-order loads. bswap works on 32 bits, so a 16-bit field is
-- swapped into the top half and shifted down.
-- The header views spell n16 out as rshift(bswap(x), 16): a helper this
-- small, hot in every field read, was sometimes blacklisted by the JIT
-- (see the note on the decoders below) and sent traces to the interpreter.
local function n16(x) return rshift(bswap(x), 16) end
local function n32(x)
  local v = bswap(x)
  if v < 0 then v = v + 4294967296 end
  return v
end
M.n16, M.n32 = n16, n32

-- The decoders below spell 16-bit network-order loads out
-- (bor(lshift(d[o], 8), d[o + 1])) instead of calling a helper: LuaJIT
-- sometimes blacklisted such a tiny helper, hot in every packet (its abort
-- penalties are randomised), and then every trace through it fell back to
-- the interpreter: tests/bench/parse.lua ran at 130 or 260 ns/packet, or
-- worse, from one run to the next. Spelt out, 20 runs of 20 were fast.
local be32 = bytes.be32

---------------------------------------------------------------------------
-- Header views: `__index` maps a field name to a getter, then to methods.

-- How a header prints (tostring, the REPL): its name and fields in wire
-- order, host-order values; checksums and types in hex.
local shown = {
  ["struct pktsh_hdr_eth"] = {"eth", "dst", "src", "type"},
  ["struct pktsh_hdr_vlan"] = {"vlan", "id", "pcp", "dei", "type"},
  ["struct pktsh_hdr_ip4"] = {"ip4", "version", "hlen", "tos", "len", "id", "df", "mf",
                              "frag_off", "ttl", "proto", "sum", "src", "dst"},
  ["struct pktsh_hdr_ip6"] = {"ip6", "version", "tclass", "flow", "plen", "nxt", "hlim",
                              "src", "dst"},
  ["struct pktsh_hdr_tcp"] = {"tcp", "sport", "dport", "seq", "ack", "flags", "win", "sum", "urp"},
  ["struct pktsh_hdr_udp"] = {"udp", "sport", "dport", "len", "sum"},
  ["struct pktsh_hdr_icmp"] = {"icmp", "type", "code", "sum", "id", "seq"},
}
local hex_fields = {sum = true, flags = true}

local function header_text(h, list)
  local parts = {}
  for i = 2, #list do
    local k = list[i]
    local v = h[k]
    if type(v) == "number" and (hex_fields[k] or (k == "type" and list[1] ~= "icmp")) then
      v = string.format("0x%04x", v)
    end
    parts[#parts + 1] = k .. " = " .. tostring(v)
  end
  return list[1] .. " {" .. table.concat(parts, ", ") .. "}"
end

local function view(ctype, getters, methods)
  methods = methods or {}
  local list = shown[ctype]
  ffi.metatype(ctype, {
    __index = function(h, k)
      local g = getters[k]
      if g then return g(h) end
      return methods[k]
    end,
    __tostring = function(h) return header_text(h, list) end,
  })
  return getters, methods
end

view("struct pktsh_hdr_eth", {
  type = function(h) return rshift(bswap(h._type), 16) end,
})

view("struct pktsh_hdr_vlan", {
  tci = function(h) return rshift(bswap(h._tci), 16) end,
  id = function(h) return band(rshift(bswap(h._tci), 16), VLAN_ID_MASK) end,
  pcp = function(h) return rshift(rshift(bswap(h._tci), 16), 13) end,
  dei = function(h) return band(rshift(rshift(bswap(h._tci), 16), 12), 1) end,
  type = function(h) return rshift(bswap(h._type), 16) end,
})

view("struct pktsh_hdr_ip4", {
  version = function(h) return rshift(h._vhl, 4) end,
  ihl = function(h) return band(h._vhl, 15) end,            -- in 32-bit words
  hlen = function(h) return band(h._vhl, 15) * 4 end,       -- in bytes
  len = function(h) return rshift(bswap(h._len), 16) end,
  id = function(h) return rshift(bswap(h._id), 16) end,
  flags = function(h) return rshift(rshift(bswap(h._off), 16), 13) end,
  df = function(h) return band(rshift(bswap(h._off), 16), 0x4000) ~= 0 end,
  mf = function(h) return band(rshift(bswap(h._off), 16), 0x2000) ~= 0 end,
  frag_off = function(h) return band(rshift(bswap(h._off), 16), 0x1fff) * 8 end,  -- bytes
  sum = function(h) return rshift(bswap(h._sum), 16) end,
  hlim = function(h) return h.ttl end,
}, {
  src_str = function(h) return addr.in4_str(h.src) end,
  dst_str = function(h) return addr.in4_str(h.dst) end,
})

view("struct pktsh_hdr_ip6", {
  version = function(h) return rshift(n32(h._vtf), 28) end,
  tclass = function(h) return band(rshift(n32(h._vtf), 20), 255) end,
  flow = function(h) return band(n32(h._vtf), 0xfffff) end,
  plen = function(h) return rshift(bswap(h._plen), 16) end,
  len = function(h) return rshift(bswap(h._plen), 16) + 40 end,
  proto = function(h) return h.nxt end,   -- first next header; pkt:proto() is the transport
  ttl = function(h) return h.hlim end,
}, {
  src_str = function(h) return addr.in6_str(h.src) end,
  dst_str = function(h) return addr.in6_str(h.dst) end,
})

M.TCP = {FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10,
  URG = 0x20, ECE = 0x40, CWR = 0x80}
view("struct pktsh_hdr_tcp", {
  sport = function(h) return rshift(bswap(h._sport), 16) end,
  dport = function(h) return rshift(bswap(h._dport), 16) end,
  seq = function(h) return n32(h._seq) end,
  ack = function(h) return n32(h._ack) end,
  doff = function(h) return rshift(h._off, 4) end,           -- in 32-bit words
  hlen = function(h) return rshift(h._off, 4) * 4 end,       -- in bytes
  flags = function(h) return h._flags end,
  win = function(h) return rshift(bswap(h._win), 16) end,
  sum = function(h) return rshift(bswap(h._sum), 16) end,
  urp = function(h) return rshift(bswap(h._urp), 16) end,
  syn = function(h) return band(h._flags, 0x02) ~= 0 end,
  ackf = function(h) return band(h._flags, 0x10) ~= 0 end,
  fin = function(h) return band(h._flags, 0x01) ~= 0 end,
  rst = function(h) return band(h._flags, 0x04) ~= 0 end,
  psh = function(h) return band(h._flags, 0x08) ~= 0 end,
})

view("struct pktsh_hdr_udp", {
  sport = function(h) return rshift(bswap(h._sport), 16) end,
  dport = function(h) return rshift(bswap(h._dport), 16) end,
  len = function(h) return rshift(bswap(h._len), 16) end,
  sum = function(h) return rshift(bswap(h._sum), 16) end,
})

view("struct pktsh_hdr_icmp", {
  sum = function(h) return rshift(bswap(h._sum), 16) end,
  id = function(h) return rshift(bswap(h._id), 16) end,
  seq = function(h) return rshift(bswap(h._seq), 16) end,
  rest = function(h) return bor(lshift(rshift(bswap(h._id), 16), 16), rshift(bswap(h._seq), 16)) end,
})

---------------------------------------------------------------------------
-- L2: link header -> l3off, ethertype, VLAN tags.

local function is_vlan(t) return t == ETH_VLAN or t == ETH_QINQ or t == ETH_QINQ_OLD end

-- BSD address families used by DLT_NULL / DLT_LOOP (10 is Linux's AF_INET6).
local function af_ethertype(af)
  if af == 2 then return ETH_IP4 end
  if af == 10 or af == 24 or af == 28 or af == 30 then return ETH_IP6 end
  return 0
end

-- Offset after the link header, and the ethertype it names (or 0).
-- Returns nil when the header itself is not captured.
local function link_header(p, lt, d, cap)
  if lt == DLT_EN10MB then
    if cap < 14 then return nil end
    return 14, bor(lshift(d[12], 8), d[13])
  elseif lt == DLT.RAW or lt == DLT.RAW_LT or lt == DLT.RAW_BSD then
    if cap < 1 then return nil end
    local v = rshift(d[0], 4)
    return 0, (v == 4 and ETH_IP4) or (v == 6 and ETH_IP6) or 0
  elseif lt == DLT.IPV4 then
    return 0, ETH_IP4
  elseif lt == DLT.IPV6 then
    return 0, ETH_IP6
  elseif lt == DLT_LINUX_SLL then
    if cap < 16 then return nil end
    return 16, bor(lshift(d[14], 8), d[15])
  elseif lt == DLT_LINUX_SLL2 then
    if cap < 20 then return nil end
    return 20, bor(lshift(d[0], 8), d[1])
  elseif lt == DLT.NULL or lt == DLT.LOOP then
    if cap < 4 then return nil end
    local af = be32(d, 0)
    -- DLT_NULL holds the family in the capturing host's order: a value
    -- with only high bits set was written by the other byte order.
    if lt == DLT.NULL and af > 0xffff then af = n32(be32(d, 0)) end
    return 4, af_ethertype(af)
  end
  return nil
end

-- Reads the link header(s): sets l3off, the ethertype and VLAN tags (l2state).
local function decode_l2(p)
  if p.l2state == STALE then stale() end
  local w = cast(wpkt_p, p)
  local d, cap = p.data, p.caplen
  local off, et = link_header(p, p.linktype, d, cap)
  if not off then
    w.l2state = BAD
    return
  end
  local n = 0
  -- Walk 802.1Q / 802.1ad tags; 8 is far beyond real stacks and bounds the loop.
  while is_vlan(et) and n < 8 do
    if off + 4 > cap then w.l2state = BAD; w.nvlan = n; return end
    local id = band(bor(lshift(d[off], 8), d[off + 1]), VLAN_ID_MASK)
    if n == 0 then w.vlanid0 = id elseif n == 1 then w.vlanid1 = id end
    et = bor(lshift(d[off + 2], 8), d[off + 2 + 1])
    off = off + 4
    n = n + 1
  end
  w.nvlan = n
  w.l3off = off
  w.ethertype = et
  w.l2state = OK
end

---------------------------------------------------------------------------
-- L3: IPv4 / IPv6 -> l3end, l4off, l4proto, fragment.

-- w: the descriptor, writable.
local function decode_ip4(w, d, off, cap)
  if off + 20 > cap then return false end
  local vhl = d[off]
  local hlen = band(vhl, 15) * 4
  if rshift(vhl, 4) ~= 4 or hlen < 20 or off + hlen > cap then return false end
  local tot = bor(lshift(d[off + 2], 8), d[off + 2 + 1])
  if tot < hlen then return false end
  w.l3end = min(off + tot, cap)
  local fo = bor(lshift(d[off + 6], 8), d[off + 6 + 1])
  w.l4proto = d[off + 9]
  if band(fo, 0x1fff) ~= 0 then
    w.fragment = FRAG_LATER
  else
    w.fragment = band(fo, 0x2000) ~= 0 and FRAG_FIRST or FRAG_NONE
    w.l4off = off + hlen
  end
  return true
end

-- Extension headers of the "length in 8-octet units, not counting the
-- first" kind: hop-by-hop, routing, destination options.
local function ext_generic(nh) return nh == IP_HOPOPTS or nh == IP_ROUTING or nh == IP_DSTOPTS end

local function decode_ip6(w, d, off, cap)
  if off + 40 > cap then return false end
  if rshift(d[off], 4) ~= 6 then return false end
  local plen = bor(lshift(d[off + 4], 8), d[off + 4 + 1])
  -- A zero payload length is a jumbogram (or a TSO capture): use the capture.
  local stop = plen == 0 and cap or min(off + 40 + plen, cap)
  w.l3end = stop
  local nh, o = d[off + 6], off + 40
  for _ = 1, 16 do                 -- each step advances >= 8 bytes; 16 bounds it anyway
    if ext_generic(nh) then
      if o + 8 > stop then w.l4proto = nh; return true end
      nh, o = d[o], o + (d[o + 1] + 1) * 8
    elseif nh == IP_AH then        -- AH: length in 4-octet units, minus 2
      if o + 8 > stop then w.l4proto = nh; return true end
      nh, o = d[o], o + (d[o + 1] + 2) * 4
    elseif nh == IP_FRAGMENT then
      if o + 8 > stop then w.l4proto = nh; return true end
      local fo = bor(lshift(d[o + 2], 8), d[o + 2 + 1])
      nh = d[o]
      if band(fo, 0xfff8) ~= 0 then
        w.fragment = FRAG_LATER
        w.l4proto = nh
        return true
      end
      if band(fo, 1) ~= 0 then w.fragment = FRAG_FIRST end
      o = o + 8
    else
      break
    end
  end
  w.l4proto = nh
  -- ESP, no-next and unknown headers have no transport header we read.
  if o <= stop and nh ~= IP_ESP and nh ~= IP_NONE then w.l4off = o end
  return true
end

-- Reads the IP header(s): sets the transport protocol and offset (l3state).
local function decode_l3(p)
  if p.l3state == STALE then stale() end
  if p.l2state == NEW then decode_l2(p) end
  local w = cast(wpkt_p, p)
  w.l3state, w.l4off, w.fragment, w.l4proto, w.l3end = BAD, 0, FRAG_NONE, 0, 0
  if p.l2state ~= OK then return end
  local et, off, cap = p.ethertype, p.l3off, p.caplen
  local ok = false
  if et == ETH_IP4 then
    ok = decode_ip4(w, p.data, off, cap)
  elseif et == ETH_IP6 then
    ok = decode_ip6(w, p.data, off, cap)
  end
  if ok then w.l3state = OK end
end
M.decode_l2, M.decode_l3 = decode_l2, decode_l3

-- The decoders' cold path, for a packet whose L3 state is not OK: decodes
-- a new one (where a stale one raises) and returns the state.
local function l3_cold(p)
  if p.l3state ~= BAD then decode_l3(p) end
  return p.l3state
end

---------------------------------------------------------------------------
-- Decoders (methods of the packet metatype).

local P = {}   -- packet methods
M.methods = P

-- The Ethernet header (dst, src, type), or nil: not Ethernet, or too short.
function P.eth(p)
  if p.linktype ~= DLT_EN10MB or p.caplen < 14 then
    if p.l2state == STALE then stale() end
    return nil
  end
  return cast(eth_p, p.data)
end

-- The i-th VLAN tag (1 = outer, the default), or nil.
function P.vlan(p, i)
  if p.l2state ~= OK and p.l2state ~= BAD then decode_l2(p) end
  i = i or 1
  if i < 1 or i > p.nvlan then return nil end
  local lt, base = p.linktype, 14
  if lt == DLT_LINUX_SLL then base = 16 elseif lt == DLT_LINUX_SLL2 then base = 20
  elseif lt ~= DLT_EN10MB then return nil end
  local off = base + (i - 1) * 4
  if off + 4 > p.caplen then return nil end
  return cast(vlan_p, p.data + off)
end

-- VLAN id of the outer (i = 1) or inner (i = 2) tag, or nil.
function P.vlan_id(p, i)
  if p.l2state ~= OK and p.l2state ~= BAD then decode_l2(p) end
  i = i or 1
  if i < 1 or i > 2 or i > p.nvlan then return nil end
  return i == 1 and p.vlanid0 or p.vlanid1
end

-- The IPv4 header (src, dst, ttl, proto, len, id, df, mf, frag_off, sum...), or nil.
function P.ip4(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype ~= ETH_IP4 then return nil end
  return cast(ip4_p, p.data + p.l3off)
end

-- The IPv6 header (src, dst, hlim, nxt, plen, tclass, flow), or nil.
function P.ip6(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype ~= ETH_IP6 then return nil end
  return cast(ip6_p, p.data + p.l3off)
end

-- IPv4 or IPv6 header view (check h.version, or pkt.ethertype).
function P.ip(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype == ETH_IP4 then return cast(ip4_p, p.data + p.l3off) end
  return cast(ip6_p, p.data + p.l3off)
end

-- Transport protocol number (after IPv6 extension headers), or nil.
function P.proto(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  return p.l4proto
end

-- Offset of the transport header when it has `need` bytes inside the
-- datagram and the protocol matches, else nil.
local function l4(p, proto, need)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.l4proto ~= proto then return nil end
  local off = p.l4off
  if off == 0 or off + need > p.l3end then return nil end
  return off
end

-- The TCP header (sport, dport, seq, ack, flags, win, sum...), or nil:
-- not TCP, a fragment after the first, or too short.
function P.tcp(p)
  local off = l4(p, IP_TCP, 20)
  if not off or p.data[off + 12] < 0x50 then return nil end  -- data offset < 5
  return cast(tcp_p, p.data + off)
end

-- The UDP header (sport, dport, len, sum), or nil: not UDP, a later
-- fragment, or too short.
function P.udp(p)
  local off = l4(p, IP_UDP, 8)
  if not off or bor(lshift(p.data[off + 4], 8), p.data[off + 4 + 1]) < 8 then return nil end
  return cast(udp_p, p.data + off)
end

-- The ICMP header (type, code, sum, id, seq), or nil.
function P.icmp(p)
  local off = l4(p, IP_ICMP, 8)
  if not off or p.ethertype ~= ETH_IP4 then return nil end
  return cast(icmp_p, p.data + off)
end

-- The ICMPv6 header (type, code, sum, id, seq), or nil.
function P.icmp6(p)
  local off = l4(p, IP_ICMPV6, 8)
  if not off or p.ethertype ~= ETH_IP6 then return nil end
  return cast(icmp_p, p.data + off)
end

-- Offset and length of the transport payload, or nil. UDP honours its
-- length field, TCP its data offset; both stay inside the IP datagram and
-- the captured bytes (l3end is the smaller of the two).
function P.payload(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  local proto, off, stop = p.l4proto, p.l4off, p.l3end
  if off == 0 then return nil end
  if proto == IP_UDP then
    if off + 8 > stop then return nil end
    local ulen = bor(lshift(p.data[off + 4], 8), p.data[off + 4 + 1])
    if ulen < 8 then return nil end
    return off + 8, min(off + ulen, stop) - off - 8
  elseif proto == IP_TCP then
    if off + 20 > stop then return nil end
    local h = rshift(p.data[off + 12], 4) * 4
    if h < 20 or off + h > stop then return nil end
    return off + h, stop - off - h
  elseif proto == IP_ICMP or proto == IP_ICMPV6 then
    if off + 8 > stop then return nil end
    return off + 8, stop - off - 8
  end
  return off, stop - off
end

-- Source and destination ports of TCP or UDP, or nil (no allocation).
function P.ports(p)
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  local proto = p.l4proto
  if proto ~= IP_TCP and proto ~= IP_UDP then return nil end
  local off = p.l4off
  if off == 0 or off + 4 > p.l3end then return nil end
  local d = p.data
  return bor(lshift(d[off], 8), d[off + 1]), bor(lshift(d[off + 2], 8), d[off + 2 + 1])
end

---------------------------------------------------------------------------
-- Checked accessors: nil when any byte is outside the capture.

local function inside(p, off, n)
  return type(off) == "number" and off >= 0 and off + n <= p.caplen
end

-- Out of range: nil, or the error for a stale packet (which has no bytes).
local function outside(p)
  if p.l2state == STALE then stale() end
  return nil
end

-- The byte at offset off of the captured bytes, or nil past caplen.
function P.u8(p, off)
  if not inside(p, off, 1) then return outside(p) end
  return p.data[off]
end

-- The 16-bit big-endian number at offset off, or nil past caplen.
function P.u16(p, off)
  if not inside(p, off, 2) then return outside(p) end
  return bor(lshift(p.data[off], 8), p.data[off + 1])
end

-- The 32-bit big-endian number at offset off, or nil past caplen.
function P.u32(p, off)
  if not inside(p, off, 4) then return outside(p) end
  return be32(p.data, off)
end

-- n bytes from offset off as a Lua string, or nil past caplen.
function P.bytes(p, off, n)
  if type(n) ~= "number" or n < 0 or not inside(p, off, n) then return outside(p) end
  return ffi.string(p.data + off, n)
end

-- Raises for a stale packet (for the methods with no decoding of their own).
local function live(p)
  if p.l2state == STALE then stale() end
end

---------------------------------------------------------------------------
-- Owned packets: a const descriptor plus a buffer kept alive by a
-- weak-keyed anchor table (the key is the descriptor, so the buffer lives
-- exactly as long as the packet does).

local anchors = setmetatable({}, {__mode = "k"})

-- A packet over n bytes at ptr, kept alive by `anchor` (or copied if
-- anchor is nil). Decode cache starts empty.
local function make(ptr, n, wirelen, linktype, ts, tsrc, ifindex, anchor)
  local q = cpkt_t()
  local w = cast(wpkt_p, q)
  if not anchor then
    anchor = ffi.new("uint8_t[?]", n > 0 and n or 1)
    ffi.copy(anchor, ptr, n)
    ptr = anchor
  end
  anchors[q] = anchor
  w.data = cast(u8p, ptr)
  w.caplen, w.len = n, wirelen
  w.linktype, w.ts, w.tsrc, w.ifindex = linktype, ts, tsrc, ifindex or 0
  return q
end

-- An owned packet from a Lua string. linktype defaults to Ethernet, ts
-- (ns) to 0, wirelen to #s.
function M.from_bytes(s, linktype, ts, wirelen)
  assert(type(s) == "string", "from_bytes: string expected")
  return make(s, #s, wirelen or #s, linktype or DLT_EN10MB, ts or 0, numbers.TSRC.FILE, 0, nil)
end

-- An owned copy, valid after its batch is released.
function P.copy(p)
  live(p)
  return make(p.data, p.caplen, p.len, p.linktype, p.ts, p.tsrc, p.ifindex, nil)
end

-- The captured bytes as a Lua string.
function P.raw(p)
  live(p)
  return ffi.string(p.data, p.caplen)
end

-- ICMP types that quote the offending datagram.
local quoting4 = {[3] = true, [4] = true, [5] = true, [11] = true, [12] = true}
local quoting6 = {[1] = true, [2] = true, [3] = true, [4] = true}

-- The datagram quoted by an ICMP / ICMPv6 error, as a packet (raw IP link
-- type); nil for other messages. Inside an owned packet it shares the
-- bytes (and keeps them alive); a batch's packet is released with its
-- batch, so the quoted bytes are copied: the inner packet is owned.
function P.inner(p)
  local h = P.icmp(p) or P.icmp6(p)
  if not h then return nil end
  local q = p.ethertype == ETH_IP4 and quoting4 or quoting6
  if not q[h.type] then return nil end
  local off = p.l4off + 8
  local n = p.l3end - off
  if n <= 0 then return nil end
  local lt = p.ethertype == ETH_IP4 and DLT.IPV4 or DLT.IPV6
  return make(p.data + off, n, n, lt, p.ts, p.tsrc, p.ifindex, anchors[p])
end

---------------------------------------------------------------------------
-- Text (pktsh.decodetext is loaded on first use, so the hot path and
-- module start-up do not pay for it).

local text
local function T()
  text = text or require "pktsh.proto.decodetext"
  return text
end
-- One line about the packet, as tcpdump -n prints it (tostring(pkt) too).
function P.summary(p) live(p); return T().summary(p) end
-- The packet as a layered tree (frame, link, network, transport) and
-- a hex dump, as text: print(pkt:show()); the REPL prints it.
function P.show(p) live(p); return T().show(p) end
-- A hex dump of the captured bytes (from off, n of them) as text.
function P.hex(p, off, n) live(p); return T().hex(p, off, n) end

-- pkt:dns(): a stub until pktsh.dns loads and installs the real method.
function P.dns(p, ...) return require("pktsh.proto.dns").packet_dns(p, ...) end

ffi.metatype(pkt_t, {
  __index = P,
  __tostring = function(p) live(p); return T().summary(p) end,
})

---------------------------------------------------------------------------

function M.selftest()
  local s = "\0\1\2\3\4\5\6\7\8\9\10\11\8\0" ..
    "\69\0\0\28\0\1\0\0\64\17\0\0\198\18\0\1\198\18\0\2" ..
    "\0\53\4\210\0\8\0\0"
  local p = M.from_bytes(s)
  local ip, u = p:ip4(), p:udp()
  assert(ip and tostring(ip.src) == "198.18.0.1" and ip.dst == "198.18.0.2")
  assert(u and u.sport == 53 and u.dport == 1234 and u.len == 8)
  assert(p:tcp() == nil and p:ip6() == nil)
  local off, n = p:payload()
  assert(off == 42 and n == 0)
  for i = 0, #s - 1 do
    local q = M.from_bytes(s:sub(1, i))
    assert(q:udp() == nil and type(q:summary()) == "string")
  end
  return true
end

return M
