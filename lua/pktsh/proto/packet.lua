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
local C = ffi.C

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
local DLT_EN10MB, DLT_LINUX_SLL, DLT_LINUX_SLL2 = DLT.EN10MB, DLT.LINUX_SLL, DLT.LINUX_SLL2
local IP_TCP, IP_UDP, IP_ICMP, IP_ICMPV6 = IP.TCP, IP.UDP, IP.ICMP, IP.ICMPV6
local OK, BAD, STALE = numbers.PKT.OK, numbers.PKT.BAD, numbers.PKT.STALE
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
-- The walk: link header, VLAN tags, IP and its extension headers, once per
-- packet, by the one walker (pktsh_walk, src/proto/walk.c) through the
-- FFI. It fills the descriptor's cache: l2state, l3off, ethertype, nvlan,
-- vlanid0/1 (L2), l3state, l3end, l3wend, l4off, l4proto, fragment, fragdata,
-- depth (L3). A call to C from a compiled trace costs a few ns; the walk
-- in C costs less than the same walk in Lua did.

local walk_c = C.pktsh_walk

-- Walks the packet's headers (pktsh_walk): L2 and L3 at once.
local function walk(p)
  if p.l2state == STALE then stale() end
  walk_c(p)
end
-- (decode_l2 and decode_l3 are the same walk; both names stay for callers.)
M.walk, M.decode_l2, M.decode_l3 = walk, walk, walk
local decode_l2, decode_l3 = walk, walk

-- The decoders' cold path, for a packet whose L3 state is not OK: decodes
-- a new one (where a stale one raises) and returns the state.
local function l3_cold(p)
  if p.l3state ~= BAD then decode_l3(p) end
  return p.l3state
end

---------------------------------------------------------------------------
-- Layers. The cache describes the innermost IP datagram (pkt.depth IP
-- headers down: 1 without tunnels), so pkt:ip(), pkt:udp(), pkt:ports()...
-- see through tunnels. An optional index picks another IP header: 1 the
-- outermost, 2 the next, -1 the innermost (the default), -2 the one
-- around it. The walker fills a scratch descriptor's cache for that header
-- (pktsh_walk_at); views point into the packet's bytes, never into the
-- scratch, so it is reused by every call.

local scratch = ffi.new("struct pktsh_pkt[1]")
local walk_at = C.pktsh_walk_at

local function at(p, i)
  if type(i) ~= "number" then
    error("bad IP layer '" .. tostring(i) .. "' (1 the outermost, -1 the innermost)", 3)
  end
  local r = walk_at(p, i, scratch)
  if r == STALE then stale() end
  if r ~= OK then return nil end
  return scratch[0]
end

-- Every header a walk passes after the link header (struct pktsh_layer:
-- off, len, end, kind, next, sub), for the text and pkt:tunnels().
local MAX_HEADERS = C.PKTSH_WALK_MAX_HEADERS
local lay = ffi.new("struct pktsh_layer[?]", MAX_HEADERS)
local function layers(p)
  local n = C.pktsh_walk_layers(p, lay, MAX_HEADERS)
  if n < 0 then stale() end
  return n, lay
end
M.layers = layers
M.LAYER = {}
for _, k in ipairs{"VLAN", "PPPOE", "MPLS", "IP4", "IP6", "IP6EXT", "GRE", "ERSPAN",
                   "PPP", "UDP", "VXLAN", "GENEVE", "ETH", "CMD"} do
  M.LAYER[k] = C["PKTSH_LAYER_" .. k]
end

---------------------------------------------------------------------------
-- Decoders (methods of the packet metatype). i: the IP layer (above).

local P = {}   -- packet methods
M.methods = P

-- The Ethernet header: 1 (the default) the link's, 2 the first one inside
-- a tunnel (VXLAN, GRE bridging, ERSPAN...), and so on.
function P.eth(p, i)
  local link = p.linktype == DLT_EN10MB and p.caplen >= 14
  if i == nil or i == 1 then
    if not link then
      if p.l2state == STALE then stale() end
      return nil
    end
    return cast(eth_p, p.data)
  end
  local k = link and 1 or 0
  local n = layers(p)
  for j = 0, n - 1 do
    if lay[j].kind == C.PKTSH_LAYER_ETH then
      k = k + 1
      if k == i then return cast(eth_p, p.data + lay[j].off) end
    end
  end
  return nil
end

-- The i-th VLAN tag after the link header (1 = outer, the default), or nil.
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

-- The IPv4 header (src, dst, ttl, proto, len, id, df, mf, frag_off, sum...), or nil;
-- i picks an IP layer (as pkt:ip(i)).
function P.ip4(p, i)
  if i then p = at(p, i); if not p then return nil end end
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype ~= ETH_IP4 then return nil end
  return cast(ip4_p, p.data + p.l3off)
end

-- The IPv6 header (src, dst, hlim, nxt, plen, tclass, flow), or nil;
-- i picks an IP layer (as pkt:ip(i)).
function P.ip6(p, i)
  if i then p = at(p, i); if not p then return nil end end
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype ~= ETH_IP6 then return nil end
  return cast(ip6_p, p.data + p.l3off)
end

-- IPv4 or IPv6 header view (check h.version, or pkt.ethertype).
function P.ip(p, i)
  if i then p = at(p, i); if not p then return nil end end
  if p.l3state ~= OK and l3_cold(p) ~= OK then return nil end
  if p.ethertype == ETH_IP4 then return cast(ip4_p, p.data + p.l3off) end
  return cast(ip6_p, p.data + p.l3off)
end

-- Transport protocol number (after IPv6 extension headers), or nil.
function P.proto(p, i)
  if i then p = at(p, i); if not p then return nil end end
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
-- not TCP, a fragment after the first, or too short. i picks an IP
-- layer (as pkt:ip(i)).
function P.tcp(p, i)
  if i then p = at(p, i); if not p then return nil end end
  local off = l4(p, IP_TCP, 20)
  if not off or p.data[off + 12] < 0x50 then return nil end  -- data offset < 5
  return cast(tcp_p, p.data + off)
end

-- The UDP header (sport, dport, len, sum), or nil: not UDP, a later
-- fragment, or too short. i picks an IP
-- layer (as pkt:ip(i)).
function P.udp(p, i)
  if i then p = at(p, i); if not p then return nil end end
  local off = l4(p, IP_UDP, 8)
  if not off or bor(lshift(p.data[off + 4], 8), p.data[off + 4 + 1]) < 8 then return nil end
  return cast(udp_p, p.data + off)
end

-- The ICMP header (type, code, sum, id, seq), or nil;
-- i picks an IP layer (as pkt:ip(i)).
function P.icmp(p, i)
  if i then p = at(p, i); if not p then return nil end end
  local off = l4(p, IP_ICMP, 8)
  if not off or p.ethertype ~= ETH_IP4 then return nil end
  return cast(icmp_p, p.data + off)
end

-- The ICMPv6 header (type, code, sum, id, seq), or nil;
-- i picks an IP layer (as pkt:ip(i)).
function P.icmp6(p, i)
  if i then p = at(p, i); if not p then return nil end end
  local off = l4(p, IP_ICMPV6, 8)
  if not off or p.ethertype ~= ETH_IP6 then return nil end
  return cast(icmp_p, p.data + off)
end

-- Offset and length of the transport payload, or nil. UDP honours its
-- length field, TCP its data offset; both stay inside the IP datagram and
-- the captured bytes (l3end is the smaller of the two).
function P.payload(p, i)
  if i then p = at(p, i); if not p then return nil end end
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
function P.ports(p, i)
  if i then p = at(p, i); if not p then return nil end end
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
-- The end of p's IP datagram according to its header, bounded neither by
-- the capture nor by what carries it (tcpdump's lengths come from the
-- header); a zero IPv6 payload length (a jumbogram) ends where the
-- capture does. For tcpdump's printers (decodetext, dnstext); p has an
-- IP layer. Where the datagram ends as Wireshark reads it (bounded by
-- its carrier) is the walker's p.l3wend.
function M.datagram_end(p)
  local off = p.l3off
  if p.ethertype == ETH_IP4 then
    local tot = p:u16(off + 2)
    return tot == 0 and p.l3end or off + tot    -- 0: TSO, the frame's
  end
  local plen = p:u16(off + 4)
  if plen == 0 then return p.l3end end
  return off + 40 + plen
end

-- A packet made of the bytes of string s (linktype default EN10MB, ts in
-- ns default 0, wirelen default #s), decoded as a captured one is.
function M.from_bytes(s, linktype, ts, wirelen)
  assert(type(s) == "string", "from_bytes: string expected")
  return make(s, #s, wirelen or #s, linktype or DLT_EN10MB, ts or 0, numbers.TSRC.FILE, 0, nil)
end

-- An owned copy, valid after its batch is released.
function P.copy(p)
  live(p)
  local q = make(p.data, p.caplen, p.len, p.linktype, p.ts, p.tsrc, p.ifindex, nil)
  local w = cast(wpkt_p, q)
  w.ts_sw, w.ts_hw = p.ts_sw, p.ts_hw
  return q
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
-- Tunnels: what carries the innermost datagram, outside in.

local L = M.LAYER

-- The addresses of the IP header a layer record describes, as text.
-- (A record of a whole header: the walker lists an IP header it could
-- not read with len 0.)
local function ip_addrs(p, r)
  if r.kind == L.IP4 then
    return addr.text(p.data + r.off + 12, 4), addr.text(p.data + r.off + 16, 4)
  end
  return addr.text(p.data + r.off + 8, 16), addr.text(p.data + r.off + 24, 16)
end

local ipip_names = {[4] = {[4] = "4in4", [6] = "6in4"}, [6] = {[4] = "4in6", [6] = "6in6"}}

-- One entry per encapsulation, outside in: {type = "pppoe", session},
-- {type = "mpls", labels = {...}}, {type = "4in4"|"6in4"|"4in6"|"6in6",
-- src, dst}, {type = "gre", src, dst, version, key, seq, call},
-- {type = "erspan", version, session}, {type = "cmd", sgt} (Cisco
-- MetaData in GRE), {type = "vxlan"|"geneve", src, dst, sport, dport, vni}. src and dst are the outer IP header's (the
-- tunnel's endpoints); VLAN tags are pkt:vlan()'s. Empty without any.
function P.tunnels(p)
  local n = layers(p)
  local t, outer, mpls = {}, nil, nil
  local u16, u32 = P.u16, P.u32
  for j = 0, n - 1 do
    local r = lay[j]
    local k, off = r.kind, r.off
    if k ~= L.MPLS then mpls = nil end
    if k == L.PPPOE then
      t[#t + 1] = {type = "pppoe", session = u16(p, off + 2)}
    elseif k == L.MPLS then
      if not mpls then mpls = {type = "mpls", labels = {}}; t[#t + 1] = mpls end
      mpls.labels[#mpls.labels + 1] = rshift(u32(p, off), 12)
    elseif (k == L.IP4 or k == L.IP6) and r.len == 0 then
      outer = nil
    elseif k == L.IP4 or k == L.IP6 then
      if outer then            -- an IP header right inside another: IP-in-IP
        local src, dst = ip_addrs(p, outer)
        local v_in, v_out = k == L.IP4 and 4 or 6, outer.kind == L.IP4 and 4 or 6
        t[#t + 1] = {type = ipip_names[v_out][v_in], src = src, dst = dst}
      end
      outer = r
    elseif k == L.GRE and outer then
      local src, dst = ip_addrs(p, outer)
      local flags, e = u16(p, off), {type = "gre", src = src, dst = dst, version = r.sub}
      local o = off + 4
      if r.sub == 1 then
        e.call = u16(p, off + 6)
        o = off + 8
      elseif band(flags, C.PKTSH_GRE_CSUM) ~= 0 then
        o = o + 4
      end
      if r.sub == 0 and band(flags, C.PKTSH_GRE_KEY) ~= 0 then e.key = u32(p, o); o = o + 4 end
      if band(flags, C.PKTSH_GRE_SEQ) ~= 0 then e.seq = u32(p, o) end
      t[#t + 1] = e
    elseif k == L.CMD then
      t[#t + 1] = {type = "cmd", sgt = r.sub}
    elseif k == L.ERSPAN then
      local e = {type = "erspan", version = r.sub}
      if r.sub > 1 then e.session = band(u16(p, off + 2), 0x3ff) end
      t[#t + 1] = e
    elseif (k == L.VXLAN or k == L.GENEVE) and outer then
      local src, dst = ip_addrs(p, outer)
      local u = lay[j - 1]
      t[#t + 1] = {type = k == L.VXLAN and "vxlan" or "geneve", src = src, dst = dst,
                   sport = u16(p, u.off), dport = u16(p, u.off + 2),
                   vni = rshift(u32(p, off + 4), 8)}
    end
    if k ~= L.IP4 and k ~= L.IP6 and k ~= L.IP6EXT and k ~= L.UDP then outer = nil end
  end
  return t
end

-- pkt.truncated: true when an IP header's length claims more bytes than
-- were captured (a snaplen, or a frame cut before capture, or captured
-- before segmentation): what is present is decoded.
local props = {
  truncated = function(p)
    if p.l3state ~= OK and p.l3state ~= BAD then decode_l3(p) end
    return p.trunc ~= 0
  end,
}

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

-- Methods first, then the computed fields (pkt.truncated); the JIT
-- resolves a constant key's lookup once per trace.
ffi.metatype(pkt_t, {
  __index = function(p, k)
    local m = P[k]
    if m ~= nil then return m end
    local g = props[k]
    if g then return g(p) end
    return nil
  end,
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
