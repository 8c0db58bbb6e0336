-- decodetext.lua - packets as text: a tcpdump -n like one-line summary,
-- a layered tree (tshark -V lite) and a hex dump. Off the hot path: this
-- module reads bytes only through the checked accessors (p:u8, p:u16, ...)
-- so a truncated or hostile packet prints a marker such as "[|udp]" and
-- never reads past caplen.
local ffi = require "ffi"
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local addr = require "pktsh.proto.addr"
local be32 = require("pktsh.proto.bytes").be32
local dnstext = require "pktsh.proto.dnstext"
local tunneltext = require "pktsh.proto.tunneltext"
local tcptext = require "pktsh.proto.tcptext"
local udpapp = require "pktsh.proto.udpapp"
local numbers = require "pktsh.proto.numbers"
local DLT, ETH, IP = numbers.DLT, numbers.ETH, numbers.IPPROTO
local NEW, OK = numbers.PKT.NEW, numbers.PKT.OK
local FRAG = numbers.FRAG

local band, rshift = bit.band, bit.rshift
local fmt, concat = string.format, table.concat

local M = {}

---------------------------------------------------------------------------
-- Small helpers

-- HH:MM:SS.ffffff in local time, as tcpdump prints it.
-- A ns time stamp as whole seconds and microseconds (truncated, usec >= 0).
local function sec_usec(ts)
  ts = ffi.cast("int64_t", ts)
  local sec = tonumber(ts / 1000000000LL)
  local usec = tonumber((ts % 1000000000LL) / 1000LL)
  if usec < 0 then sec, usec = sec - 1, usec + 1000000 end
  return sec, usec
end
M.sec_usec = sec_usec

local function clock(ts)
  local sec, usec = sec_usec(ts)
  return os.date("%H:%M:%S", sec) .. fmt(".%06d", usec)
end
M.clock = clock

local function in4_at(p, off)
  local a, b, c, d = p:u8(off), p:u8(off + 1), p:u8(off + 2), p:u8(off + 3)
  if not d then return nil end
  return fmt("%d.%d.%d.%d", a, b, c, d)
end

local in6_buf = ffi.new("struct pktsh_in6")
local function in6_at(p, off)
  if off + 16 > p.caplen then return nil end
  ffi.copy(in6_buf, p.data + off, 16)
  return addr.in6_str(in6_buf)
end

-- The text of the IPv4 (n = 4) or IPv6 (n = 16) address at p.data + off,
-- as tostring(ip.src) writes it, from a cache: a capture names the same
-- hosts again and again, and a lookup costs far less than the formatting
-- and its garbage. Emptied when full, so it holds at most ADDR_MAX.
local ADDR_MAX = 4096
local addr_cache, addr_n = {}, 0

local function addr_text(p, off, n)
  local d = p.data
  -- IPv4's key is a number, IPv6's a string: the two never meet
  local k = n == 4 and be32(d, off) or ffi.string(d + off, 16)
  local s = addr_cache[k]
  if s then return s end
  if addr_n >= ADDR_MAX then addr_cache, addr_n = {}, 0 end
  s = addr.text(d + off, n)
  addr_cache[k], addr_n = s, addr_n + 1
  return s
end

local mac_buf = ffi.new("struct pktsh_mac")
local function mac_at(p, off)
  if off + 6 > p.caplen then return nil end
  ffi.copy(mac_buf, p.data + off, 6)
  return addr.mac_str(mac_buf)
end

-- tcpdump's "length" values come from the headers, not the capture.
local wire_end = packet.datagram_end

-- tcpdump's note for a datagram whose length claims more than what
-- carries it gives it, bound (the frame on the wire: captured before
-- segmentation offload, or cut by the capturing host; a snaplen cut is
-- not one: the wire had the bytes; a PPPoE length; an outer IP or UDP
-- length): the walker's, from pktsh.proto.tunneltext.prefix.
local function missing(p, v6, bound)
  return tunneltext.missing(wire_end(p), bound, v6)
end

M.tcp_flags = tcptext.flags

local proto_names = {[IP.ICMP] = "ICMP", [IP.IGMP] = "IGMP", [IP.TCP] = "TCP", [IP.UDP] = "UDP",
  [IP.HOPOPTS] = "IPv6 hop-by-hop", [IP.IPV6] = "IPv6", [IP.ROUTING] = "IPv6 routing",
  [IP.FRAGMENT] = "IPv6 fragment", [IP.GRE] = "GRE", [IP.NONE] = "IPv6 no next header",
  [IP.DSTOPTS] = "IPv6 destination options", [IP.ESP] = "ESP", [IP.AH] = "AH", [IP.ICMPV6] = "ICMPv6",
  [IP.SCTP] = "SCTP",
  [89] = "OSPF", [103] = "PIM", [112] = "VRRP"}   -- named only here
M.proto_names = proto_names

---------------------------------------------------------------------------
-- Transport summaries. `a`/`b` are the address texts, `pre` the "IP " /
-- "IP6 " prefix; each returns the text after it.

local endpoints = tcptext.endpoints

local function udp_text(p, a, b, off, wend)
  local sp, dp = p:u16(off), p:u16(off + 2)
  local u = p:udp()
  if not u then
    local ulen = off + 8 <= p.l3end and p:u16(off + 4)
    if ulen and ulen < 8 then
      return endpoints(a, b, sp, dp) .. fmt("UDP, bad length %d < 8", ulen)
    end
    return endpoints(a, b, sp, dp) .. " [|udp]"
  end
  local dns = dnstext.packet(p)
  if dns then return endpoints(a, b, sp, dp, dns) end
  -- a first fragment carries only part of the datagram the length names
  if off + u.len > wend and p.fragment == FRAG.NONE then
    return endpoints(a, b, sp, dp, fmt("UDP, bad length %d > %d", u.len - 8, wend - off - 8))
  end
  local app = udpapp.text(p, sp, dp, off + 8, math.min(u.len, wend - off) - 8, p.l3end)
  return endpoints(a, b, sp, dp, app or fmt("UDP, length %d", u.len - 8))
end

local unreach4 = {[0] = "net %s unreachable", [1] = "host %s unreachable",
  [9] = "net %s unreachable - admin prohibited", [10] = "host %s unreachable - admin prohibited",
  [13] = "host %s unreachable - admin prohibited filter"}

-- "192.168.1.102 udp port 59207 unreachable" from the quoted datagram.
local function unreach_text(p, code)
  local q = p:inner()
  local ip = q and q:ip4()
  if not ip then return fmt("unreachable - code %d", code), true end
  local dst = tostring(ip.dst)
  if code == 2 then return fmt("%s protocol %d unreachable", dst, ip.proto) end
  if code == 3 then
    local _, dp = q:ports()
    local pn = ip.proto == IP.TCP and "tcp" or ip.proto == IP.UDP and "udp" or nil
    if dp and pn then return fmt("%s %s port %d unreachable", dst, pn, dp) end
    return fmt("%s protocol %d port unreachable", dst, ip.proto)
  end
  if code == 4 then
    return fmt("%s unreachable - need to frag (mtu %d)", dst, p:u16(p.l4off + 6))
  end
  if unreach4[code] then return fmt(unreach4[code], dst) end
  return fmt("%s unreachable - code %d", dst, code)
end

local icmp4_names = {[0] = "echo reply", [8] = "echo request", [9] = "router advertisement",
  [10] = "router solicitation", [13] = "time stamp query", [14] = "time stamp reply",
  [4] = "source quench", [12] = "parameter problem", [17] = "address mask request",
  [18] = "address mask reply"}

local function icmp_text(p, a, b, off, wend)
  local h = p:icmp()
  local s = endpoints(a, b)
  if not h then return s .. "[|icmp]" end
  local ty, code, len = h.type, h.code, wend - off
  local what, trunc
  if ty == 0 or ty == 8 then
    what = fmt("%s, id %d, seq %d", icmp4_names[ty], h.id, h.seq)
  elseif ty == 3 then
    what, trunc = unreach_text(p, code)
  elseif ty == 11 then
    what = code == 0 and "time exceeded in-transit" or "ip reassembly time exceeded"
  elseif ty == 5 then
    what = fmt("redirect to %s", in4_at(p, off + 4))
  else
    what = icmp4_names[ty] or fmt("type-#%d", ty)
  end
  return s .. fmt("ICMP %s, length %d%s", what, len, trunc and " [|icmp]" or "")
end

local icmp6_names = {[1] = "destination unreachable", [2] = "packet too big",
  [3] = "time exceeded in-transit", [4] = "parameter problem",
  [128] = "echo request", [129] = "echo reply",
  [130] = "multicast listener query", [131] = "multicast listener report",
  [132] = "multicast listener done", [133] = "router solicitation",
  [134] = "router advertisement", [135] = "neighbor solicitation",
  [136] = "neighbor advertisement", [137] = "redirect",
  [143] = "multicast listener report v2"}

local function icmp6_text(p, a, b, off, wend)
  local h = p:icmp6()
  local s = endpoints(a, b)
  if not h then return s .. "ICMP6 [|icmp6]" end
  local ty = h.type
  local name = icmp6_names[ty] or fmt("type-#%d", ty)
  -- errors quote the offending datagram; tcpdump marks one cut away
  local cut = ty >= 1 and ty <= 4 and not p:inner()
  if ty == 128 or ty == 129 then
    name = fmt("%s, id %d, seq %d", name, h.id, h.seq)
  elseif ty == 135 or ty == 136 then
    local t = in6_at(p, off + 8)
    if t then name = fmt("%s, %s %s", name, ty == 135 and "who has" or "tgt is", t) end
  end
  return s .. fmt("ICMP6, %s, length %d%s", name, wend - off, cut and " [|icmp6]" or "")
end

-- Protocols tcpdump has no printer for (IPv6 extension headers met as an
-- IPv4 payload, and any it does not know): its " ip-proto-N LEN".
local TCPDUMP_DEFAULT = {[IP.HOPOPTS] = true, [IP.ROUTING] = true, [IP.FRAGMENT] = true,
  [IP.DSTOPTS] = true}

-- conv: the conversations for relative TCP sequence numbers, or nil
local function l4_text(p, a, b, wend, conv)
  local proto, off = p.l4proto, p.l4off
  if proto == IP.TCP then return tcptext.text(p, a, b, off, wend, conv) end
  if proto == IP.UDP then return udp_text(p, a, b, off, wend) end
  local v4 = p.ethertype == ETH.IP4
  if proto == IP.ICMP then
    if v4 then return icmp_text(p, a, b, off, wend) end
    return endpoints(a, b) .. "[ICMP requires IPv4] (invalid)"
  end
  if proto == IP.ICMPV6 then
    if not v4 then return icmp6_text(p, a, b, off, wend) end
    return endpoints(a, b) .. "[ICMPv6 requires IPv6] (invalid)"
  end
  if proto == IP.NONE then return endpoints(a, b) .. "no next header" end
  local name = proto_names[proto]
  if not name or TCPDUMP_DEFAULT[proto] then
    return endpoints(a, b) .. fmt(" ip-proto-%d %d", proto, wend - off)
  end
  return endpoints(a, b) .. fmt("%s, length %d", name, wend - off)
end

---------------------------------------------------------------------------
-- IP summaries

local function ip4_problem(p)
  local off, cap = p.l3off, p.caplen
  if off + 20 > cap then return " [|ip]" end
  local vhl = p:u8(off)
  local hlen = band(vhl, 15) * 4
  if rshift(vhl, 4) ~= 4 then return fmt("IP%d", rshift(vhl, 4)) end
  if hlen < 20 then return fmt("bad-hlen %d", hlen) end
  if off + hlen > cap then return " [|ip]" end
  local tot = p:u16(off + 2)
  if tot < hlen then return fmt("bad-len %d", tot) end
  return " [|ip]"
end

local function ip4_text(p, bound, conv)
  if p.l3state ~= OK then return "IP " .. ip4_problem(p) end
  local ip = p:ip4()
  local a, b = addr_text(p, p.l3off + 12, 4), addr_text(p, p.l3off + 16, 4)
  local wend = wire_end(p)
  if p.fragment == FRAG.LATER then
    return fmt("IP %s%s > %s: ip-proto-%d", missing(p, false, bound), a, b, ip.proto)
  end
  return "IP " .. missing(p, false, bound) .. l4_text(p, a, b, wend, conv)
end

-- Names of the IPv6 extension headers before the transport, tcpdump style,
-- and whether the chain ran past the datagram.
local ext6_names = {[IP.HOPOPTS] = "HBH", [IP.ROUTING] = "RT", [IP.DSTOPTS] = "DSTOPT",
  [IP.AH] = "AH", [IP.FRAGMENT] = "frag"}

-- The data a fragment header at off says follows it, as tcpdump 4.99.3
-- works it out: from the payload length, not the bytes captured (a
-- size_t: below 0 it wraps).
local function frag6_len(p, off)
  local n = 40 + p:u16(p.l3off + 4) - (off - p.l3off) - 8
  if n >= 0 then return tostring(n) end
  return (tostring(0ULL - (-n)):gsub("ULL$", ""))
end

local function ip6_exts(p)
  local names, off, stop = {}, p.l3off + 40, p.l3end
  local nh = p:u8(p.l3off + 6)
  for _ = 1, 16 do
    local name = ext6_names[nh]
    if not name then break end
    if off + 8 > stop then return names, nh, true end
    if nh == IP.FRAGMENT then
      local fo = p:u16(off + 2)
      names[#names + 1] = fmt("frag (%d|%s)", band(fo, 0xfff8), frag6_len(p, off))
      if band(fo, 0xfff8) ~= 0 then return names, p:u8(off), false, true end
      nh, off = p:u8(off), off + 8
    else
      names[#names + 1] = name
      local n = nh == IP.AH and (p:u8(off + 1) + 2) * 4 or (p:u8(off + 1) + 1) * 8
      if off + n > stop then return names, nh, true end
      nh, off = p:u8(off), off + n
    end
  end
  return names, nh, false
end

-- The extension names go after "a > b: ", as tcpdump prints them; then
-- a TCP or UDP header shows its ports alone ("53 > 46433: "): tcpdump
-- gives the addresses to the ports only when the transport follows the
-- IPv6 header directly.
local function after_exts(p, s, a, b, pre)
  local off = p.l4off
  if (p.l4proto == IP.TCP or p.l4proto == IP.UDP) and off + 4 <= p.l3end then
    local sp, dp = p:u16(off), p:u16(off + 2)
    local ends = endpoints(a, b, sp, dp)
    if s:sub(1, #ends) == ends then
      return fmt("%s > %s: %s%d > %d: ", a, b, pre, sp, dp) .. s:sub(#ends + 1)
    end
  end
  return (s:gsub(": ", ": " .. pre, 1))
end

local ext6_trunc = {[IP.HOPOPTS] = "[|hbhopt]", [IP.ROUTING] = "[|srcrt]", [IP.DSTOPTS] = "[|dstopt]",
  [IP.AH] = "[|AH]", [IP.FRAGMENT] = "[|frag]"}

local function ip6_text(p, bound, conv)
  if p.l3state ~= OK then
    if p.l3off + 40 > p.caplen then return " [|ip6]" end
    return fmt("IP6 version %d", rshift(p:u8(p.l3off), 4))
  end
  local a, b = addr_text(p, p.l3off + 8, 16), addr_text(p, p.l3off + 24, 16)
  local names, nh, trunc, later = ip6_exts(p)
  local pre = #names > 0 and (concat(names, " ") .. " ") or ""
  local head = "IP6 " .. missing(p, true, bound)
  if later then   -- tcpdump stops after the fragment header
    return fmt("%s%s > %s: %s", head, a, b, pre:sub(1, -2))
  end
  if trunc or p.l4off == 0 then
    if nh == IP.ESP or nh == IP.NONE then
      return fmt("%s%s > %s: %s%s", head, a, b, pre, nh == IP.ESP and "ESP" or "no next header")
    end
    return fmt("%s%s > %s: %s%s", head, a, b, pre, ext6_trunc[nh] or "[|ip6]")
  end
  local s = l4_text(p, a, b, wire_end(p), conv)
  if pre ~= "" then s = after_exts(p, s, a, b, pre) end
  return head .. s
end

---------------------------------------------------------------------------
-- L2 summaries

local function arp_text(p)
  local off = p.l3off
  local len = p.len - off
  if off + 8 > p.caplen then return "ARP, [|arp]" end
  local htype, ptype, hl, pl, op = p:u16(off), p:u16(off + 2), p:u8(off + 4), p:u8(off + 5), p:u16(off + 6)
  if htype ~= 1 or ptype ~= ETH.IP4 or hl ~= 6 or pl ~= 4 then
    return fmt("ARP, hardware %d, protocol 0x%04x, op %d, length %d", htype, ptype, op, len)
  end
  if off + 28 > p.caplen then return "ARP, [|arp]" end
  local sha, spa, tpa = mac_at(p, off + 8), in4_at(p, off + 14), in4_at(p, off + 24)
  if op == 1 then return fmt("ARP, Request who-has %s tell %s, length %d", tpa, spa, len) end
  if op == 2 then return fmt("ARP, Reply %s is-at %s, length %d", spa, sha, len) end
  return fmt("ARP, op %d %s > %s, length %d", op, spa, tpa, len)
end

local link_names = {[DLT.NULL] = "NULL", [DLT.EN10MB] = "ether", [DLT.RAW] = "raw", [DLT.RAW_LT] = "raw",
  [DLT.LOOP] = "loop", [DLT.LINUX_SLL] = "sll", [DLT.IPV4] = "ipv4", [DLT.IPV6] = "ipv6",
  [DLT.LINUX_SLL2] = "sll2", [DLT.NFLOG] = "nflog"}

local function vlan_prefix(p)
  if p.nvlan == 0 then return "" end
  local t = {}
  for i = 1, p.nvlan do
    local v = p:vlan(i)
    t[#t + 1] = v and fmt("vlan %d ", v.id) or "vlan ? "
  end
  return concat(t)
end

-- What carries the innermost datagram, outside in, tcpdump style: each
-- tunnel's outer header, then a colon, then what it carries.
local erspan_types = {"I", "II", "III"}
local function tunnel_text(e)
  local ip = e.src and (e.src:find(":", 1, true) and "IP6 " or "IP ") or ""
  local ty = e.type
  if ty == "pppoe" then return fmt("PPPoE [ses 0x%x] ", e.session) end
  if ty == "mpls" then
    local t = {}
    for i, l in ipairs(e.labels) do t[i] = fmt("(label %d) ", l) end
    return "MPLS " .. concat(t)
  end
  if ty == "gre" then
    local t = {fmt("%s%s > %s: GREv%d", ip, e.src, e.dst, e.version)}
    if e.call then t[#t + 1] = fmt("call %d", e.call) end
    if e.key then t[#t + 1] = fmt("key=0x%x", e.key) end
    if e.seq then t[#t + 1] = fmt("seq %d", e.seq) end
    return concat(t, ", ") .. ": "
  end
  if ty == "cmd" then return fmt("Cisco MetaData, sgt %d: ", e.sgt) end
  if ty == "erspan" then
    return fmt("ERSPAN type %s%s: ", erspan_types[e.version] or "?",
      e.session and fmt(", session %d", e.session) or "")
  end
  if ty == "vxlan" or ty == "geneve" then
    return fmt("%s%s.%d > %s.%d: %s, vni %d: ", ip, e.src, e.sport, e.dst, e.dport,
      ty == "vxlan" and "VXLAN" or "Geneve", e.vni)
  end
  return fmt("%s%s > %s: ", ip, e.src, e.dst)      -- IP in IP
end

-- The summary after its time stamp. o (optional, pktsh.proto.lineformat's):
-- eflag (tcpdump -e: the link header is printed before, so no VLAN tags
-- and no "IP "/"IP6 " names the IP headers), nl (what ends a VXLAN
-- header: tcpdump's "\n", or ": " to stay on one line, the default),
-- conv (pktsh.proto.tcptext.conversations: TCP sequence numbers relative
-- to each conversation's first, as tcpdump prints them without -S).
local function body(p, o)
  if p.l2state == NEW then packet.decode_l2(p) end
  if p.l3state == NEW then packet.decode_l3(p) end
  if p.l2state ~= OK then
    local n = link_names[p.linktype]
    if not n then return fmt("linktype %d, length %d", p.linktype, p.len) end
    return vlan_prefix(p) .. fmt("[|%s]", p.nvlan > 0 and "vlan" or n)
  end
  local et = p.ethertype
  local pre, stop, bound = tunneltext.prefix(p, o)
  local s
  if stop then s = ""                   -- tcpdump ends the line in the tunnel
  elseif et == ETH.IP4 then s = ip4_text(p, bound, o and o.conv)
  elseif et == ETH.IP6 then s = ip6_text(p, bound, o and o.conv)
  elseif et == ETH.ARP then s = arp_text(p)
  elseif p.linktype == DLT.EN10MB and et < 0x0600 then s = fmt("802.3, length %d", p.len)
  elseif et == 0 then s = fmt("unknown network protocol, length %d", p.len)
  else s = fmt("ethertype 0x%04x, length %d", et, p.len) end
  if o and o.eflag then
    -- the link header names the outermost protocol; tunnels name theirs
    if pre ~= "" then s = s:gsub("^IP6? ", "", 1) end
    return pre .. s
  end
  return vlan_prefix(p) .. pre .. s
end

function M.summary(p)
  return clock(p.ts) .. " " .. body(p)
end
M.body = body   -- the summary without its time (pktsh.proto.lineformat)

---------------------------------------------------------------------------
-- Hex dump: "0000  45 00 00 54 ...  E..T" (16 bytes a line).

function M.hex(p, off, n)
  off = off or 0
  n = n or (p.caplen - off)
  if off < 0 then off = 0 end
  if off + n > p.caplen then n = p.caplen - off end
  local lines = {}
  for base = off, off + n - 1, 16 do
    local hx, asc = {}, {}
    for i = base, math.min(base + 15, off + n - 1) do
      local c = p.data[i]
      hx[#hx + 1] = fmt("%02x", c)
      asc[#asc + 1] = (c >= 32 and c < 127) and string.char(c) or "."
    end
    lines[#lines + 1] = fmt("%04x  %-47s  %s", base, concat(hx, " "), concat(asc))
  end
  return concat(lines, "\n")
end

---------------------------------------------------------------------------
-- Layered tree (tshark -V lite).

local function add(t, depth, s, ...)
  t[#t + 1] = string.rep("    ", depth) .. fmt(s, ...)
end

local function show_l2(p, t)
  local lt = p.linktype
  if lt == DLT.EN10MB and p:eth() then
    local e = p:eth()
    add(t, 0, "Ethernet II, src %s, dst %s, type 0x%04x", tostring(e.src), tostring(e.dst), e.type)
  elseif lt == DLT.LINUX_SLL and p.caplen >= 16 then
    add(t, 0, "Linux cooked (SLL), packet type %d, protocol 0x%04x", p:u16(0), p:u16(14))
  elseif lt == DLT.LINUX_SLL2 and p.caplen >= 20 then
    add(t, 0, "Linux cooked v2 (SLL2), protocol 0x%04x, ifindex %d, packet type %d",
      p:u16(0), p:u32(4), p:u8(10))
  elseif lt == DLT.NULL or lt == DLT.LOOP then
    add(t, 0, "Loopback, family %s", tostring(p:u32(0)))
  end
  for i = 1, p.nvlan do
    local v = p:vlan(i)
    if v then add(t, 0, "802.1Q VLAN, id %d, pcp %d, dei %d, type 0x%04x", v.id, v.pcp, v.dei, v.type) end
  end
end

local function show_ip4(p, t)
  local ip = p:ip4()
  if not ip then add(t, 0, "IPv4 %s", ip4_problem(p)); return end
  add(t, 0, "Internet Protocol Version 4, src %s, dst %s", tostring(ip.src), tostring(ip.dst))
  add(t, 1, "header length %d, tos 0x%02x, total length %d, id %d", ip.hlen, ip.tos, ip.len, ip.id)
  add(t, 1, "flags [%s%s], fragment offset %d, ttl %d, protocol %d (%s), checksum 0x%04x",
    ip.df and "DF" or "", ip.mf and (ip.df and ",MF" or "MF") or "", ip.frag_off, ip.ttl,
    ip.proto, proto_names[ip.proto] or "?", ip.sum)
  if ip.hlen > 20 then add(t, 1, "options %d bytes", ip.hlen - 20) end
end

local function show_ip6(p, t)
  local ip = p:ip6()
  if not ip then add(t, 0, "IPv6 [|ip6]"); return end
  add(t, 0, "Internet Protocol Version 6, src %s, dst %s", tostring(ip.src), tostring(ip.dst))
  add(t, 1, "traffic class 0x%02x, flow label 0x%05x, payload length %d, next header %d, hop limit %d",
    ip.tclass, ip.flow, ip.plen, ip.nxt, ip.hlim)
  local names, nh, trunc = ip6_exts(p)
  if #names > 0 then add(t, 1, "extension headers: %s", concat(names, ", ")) end
  if trunc then add(t, 1, "extension header %d truncated", nh) end
end

local function show_l4(p, t)
  local tc, u, ic, ic6 = p:tcp(), p:udp(), p:icmp(), p:icmp6()
  if tc then
    add(t, 0, "Transmission Control Protocol, src port %d, dst port %d", tc.sport, tc.dport)
    add(t, 1, "seq %d, ack %d, header length %d, flags 0x%02x [%s], window %d, checksum 0x%04x, urgent %d",
      tc.seq, tc.ack, tc.hlen, tc.flags, tcptext.flags(tc.flags), tc.win, tc.sum, tc.urp)
    if tc.hlen > 20 then add(t, 1, "options %d bytes", tc.hlen - 20) end
  elseif u then
    add(t, 0, "User Datagram Protocol, src port %d, dst port %d, length %d, checksum 0x%04x",
      u.sport, u.dport, u.len, u.sum)
  elseif ic or ic6 then
    local h = ic or ic6
    add(t, 0, "%s, type %d, code %d, checksum 0x%04x, rest 0x%08x", ic and "ICMP" or "ICMPv6",
      h.type, h.code, h.sum, h.rest)
    local q = p:inner()
    if q then
      add(t, 1, "quoted datagram (%d bytes): %s", q.caplen, body(q))
    end
  elseif p.l3state == OK then
    local name = proto_names[p.l4proto] or fmt("ip-proto-%d", p.l4proto)
    if p.fragment == FRAG.LATER then
      add(t, 0, "Fragment of protocol %d (%s)", p.l4proto, name)
    elseif p.l4off == 0 then
      add(t, 0, "No transport header (next header %d, %s)", p.l4proto, name)
    else
      add(t, 0, "Protocol %d (%s), header not decoded or truncated", p.l4proto, name)
    end
  end
  local off, n = p:payload()
  if off then add(t, 0, "Payload: offset %d, %d bytes", off, n) end
end

local tsrc_names = {[numbers.TSRC.FILE] = "file", [numbers.TSRC.SW] = "sw",
  [numbers.TSRC.HW] = "hw", [numbers.TSRC.XDP] = "xdp"}

-- A multi-line description of every layer, then the hex dump.
function M.show(p)
  if p.l3state == NEW then packet.decode_l3(p) end
  local t = {}
  add(t, 0, "Frame: %d bytes on wire, %d captured, linktype %d, time %s (%s)",
    p.len, p.caplen, p.linktype,
    os.date("%Y-%m-%d ", tonumber(ffi.cast("int64_t", p.ts) / 1000000000LL)) .. clock(p.ts), tsrc_names[p.tsrc] or "?")
  show_l2(p, t)
  for _, e in ipairs(p:tunnels()) do add(t, 0, "Tunnel: %s", (tunnel_text(e):gsub(": $", ""))) end
  if p.l2state ~= OK then
    add(t, 0, "[link header truncated]")
  elseif p.ethertype == ETH.IP4 then
    show_ip4(p, t); show_l4(p, t)
  elseif p.ethertype == ETH.IP6 then
    show_ip6(p, t); show_l4(p, t)
  else
    add(t, 0, "%s", body(p))
  end
  for _, l in ipairs(dnstext.tree(p) or {}) do t[#t + 1] = l end
  t[#t + 1] = M.hex(p)
  return concat(t, "\n")
end

return M
