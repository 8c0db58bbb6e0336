-- tunneltext.lua - what carries a packet's innermost datagram, as tcpdump
-- prints it in front of that datagram's line (module
-- pktsh.proto.tunneltext; pktsh.proto.decodetext's summary and
-- pktsh.proto.lineformat's lines use it):
--
--   tunneltext.prefix(p, {eflag = false, nl = ": "})
--     -> "IP 198.18.0.1 > 198.18.0.2: GREv0, key=0x5, length 85: "
--
-- Read from the walker's layer records (pktsh_walk_layers), outside in,
-- by tcpdump 4.99's printing rules, one per encapsulation:
--   IP in IP, and the IP header under GRE or a UDP tunnel: "IP a > b: "
--     ("IP6 " for IPv6; the UDP ports after the addresses), with
--     "truncated-ip - N bytes missing! " before the addresses when its
--     length claims more than what carries it gives it (M.missing);
--   MPLS: "MPLS (label L, tc T[, [S]], ttl N)" per entry, then " ";
--   PPPoE session: "PPPoE  [ses 0xS] " (the empty code name is tcpdump's;
--     "[len L > N!]" before the session when its length is past the frame);
--   GRE: "GREv0[, off 0xO][, key=0xK][, seq N], length L: " (the offset
--     when the checksum is there; v1: call, seq, ack),
--     L the GRE packet's length by the outer IP header;
--   VXLAN: "VXLAN, flags [I] (0x08), vni N" and a newline (o.nl), as
--     tcpdump ends the line there; the inner frame's line follows;
--   an Ethernet header inside a tunnel whose length (by the UDP length
--     around it) is less than the bytes the IP lengths leave:
--     "[length L < caplen C] (invalid)", and the line ends there;
--   Geneve: "Geneve, Flags [...], vni 0xN[, options [B bytes]]: ";
--   ERSPAN (II, III) over GRE: "ERSPAN type II, session S: " (tcpdump
--     4.99 prints gre-proto-0x88be and stops there; later ones dissect
--     it);
--   Cisco MetaData over GRE: "gre-proto-0x8909", and the line ends there
--     (tcpdump does not dissect it; the walker goes on to the IP inside
--     for the fields and DNS, as Wireshark does).
-- With o.eflag (tcpdump -e) no "IP "/"IP6 " names the IP headers (the
-- link header says what follows), GRE and Geneve name their protocol
-- ("proto IPv4 (0x0800)"), PPP its protocol and length, and an Ethernet
-- header inside a tunnel prints as the outer one does ("MAC > MAC,
-- ethertype IPv4 (0x0800), length N: "). The lengths are the walker's
-- (struct pktsh_layer: end, what an IP header claims; bound, where what
-- carries a header ends it, as tcpdump reads the lengths).
local bit = require "bit"
local packet = require "pktsh.proto.packet"
local addr = require "pktsh.proto.addr"

local band, rshift = bit.band, bit.rshift
local fmt, concat = string.format, table.concat
local L = packet.LAYER
local ETH = require("pktsh.proto.numbers").ETH

local M = {}

-- tcpdump's names of ethertypes (its ethertype_values): what -e prints
-- in a link header (pktsh.proto.lineformat) and a tunnel header.
local ETHERTYPES = {[ETH.IP4] = "IPv4", [0x8847] = "MPLS unicast",
  [0x8848] = "MPLS multicast", [ETH.IP6] = "IPv6", [ETH.VLAN] = "802.1Q",
  [ETH.QINQ_OLD] = "802.1Q-9100", [ETH.QINQ] = "802.1Q-QinQ", [0x9200] = "802.1Q-9200",
  [0x88e5] = "802.1AE MACsec", [0x0200] = "PUP", [ETH.ARP] = "ARP",
  [0x8035] = "Reverse ARP", [0x0600] = "NS", [0x0500] = "Sprite",
  [0x1000] = "Trail", [0x6001] = "MOP DL", [0x6002] = "MOP RC", [0x6003] = "DN",
  [0x6004] = "LAT", [0x6007] = "SCA", [0x6558] = "TEB", [0x8038] = "Lanbridge",
  [0x803c] = "DEC DNS", [0x803e] = "DEC DTS", [0x805b] = "VEXP",
  [0x805c] = "VPROD", [0x809b] = "Appletalk", [0x80f3] = "Appletalk ARP",
  [0x8137] = "IPX", [0x880b] = "PPP", [0x8808] = "MPCP", [0x8809] = "Slow Protocols",
  [0x8863] = "PPPoE D", [0x8864] = "PPPoE S", [0x888e] = "EAPOL",
  [0x8899] = "Realtek protocols", [0x886f] = "MS NLB heartbeat", [0x8870] = "Jumbo",
  [0x894f] = "NSH", [0x9000] = "Loopback", [0xfefe] = "OSI", [0x00fe] = "GRE-OSI",
  [0xabcd] = "CFM (old)", [0x8902] = "CFM", [0x893a] = "IEEE1905.1",
  [0x88cc] = "LLDP", [0x88ca] = "TIPC", [0x0707] = "GeoNet (old)",
  [0x8947] = "GeoNet", [0x1111] = "CALM FAST", [0x88a2] = "AoE", [0x88f7] = "PTP",
  [0xd28b] = "Arista Vendor Specific Protocol"}
M.ETHERTYPES = ETHERTYPES
local PPP_NAMES = {[0x21] = "IP", [0x57] = "IP6", [0x281] = "MPLS"}

local function ethertype(t) return fmt("%s (0x%04x)", ETHERTYPES[t] or "unknown", t) end

-- tcpdump's note for an IP datagram whose length (ending at claimed)
-- runs past what carries it (ending at bound: the frame on the wire, a
-- PPPoE length, the outer IP or UDP length); "" when it does not. The
-- IPv6 note has no space before the addresses (tcpdump's).
function M.missing(claimed, bound, v6)
  local n = claimed - bound
  if n <= 0 then return "" end
  return fmt("truncated-ip%s - %d bytes missing!%s", v6 and "6" or "", n, v6 and "" or " ")
end

-- The MAC address at off, as tcpdump writes it (lineformat's -e too).
local function mac(p, off)
  local t = {}
  for i = 0, 5 do t[i + 1] = fmt("%02x", p:u8(off + i)) end
  return concat(t, ":")
end
M.mac = mac

-- "IP a > b" of an IP layer record (with ports when sp, dp).
local function ip_head(p, r, o, sp, dp)
  local v4 = r.kind == L.IP4
  local n = v4 and 4 or 16
  local base = r.off + (v4 and 12 or 8)
  local a, b = addr.text(p.data + base, n), addr.text(p.data + base + n, n)
  if sp then a, b = a .. "." .. sp, b .. "." .. dp end
  return fmt("%s%s%s > %s: ", o.eflag and "" or (v4 and "IP " or "IP6 "),
             M.missing(r["end"], r.bound, not v4), a, b)
end

local function gre(p, r, outer, o)
  local off, flags = r.off, p:u16(r.off)
  local t = {fmt("GREv%d", r.sub)}
  local at = off + 4
  if r.sub == 1 then
    t[#t + 1] = fmt("call %d", p:u16(off + 6))
    at = off + 8
    if band(flags, 0x1000) ~= 0 then t[#t + 1] = fmt("seq %d", p:u32(at)); at = at + 4 end
    if band(flags, 0x0080) ~= 0 then t[#t + 1] = fmt("ack %d", p:u32(at)) end
  else
    -- with a checksum tcpdump prints the offset (the checksum only with -v)
    if band(flags, 0x8000) ~= 0 then t[#t + 1] = fmt("off 0x%x", p:u16(at + 2)); at = at + 4 end
    if band(flags, 0x2000) ~= 0 then t[#t + 1] = fmt("key=0x%x", p:u32(at)); at = at + 4 end
    if band(flags, 0x1000) ~= 0 then t[#t + 1] = fmt("seq %d", p:u32(at)) end
  end
  if o.eflag then t[#t + 1] = "proto " .. ethertype(p:u16(off + 2)) end
  if outer then t[#t + 1] = fmt("length %d", outer["end"] - off) end
  return concat(t, ", ") .. ": "
end

local GENEVE_FLAGS = {{0x80, "O"}, {0x40, "C"}, {0x20, "R1"}, {0x10, "R2"}}

local function geneve(p, r, o)
  local off = r.off
  local f, t = p:u8(off + 1), {}
  for _, x in ipairs(GENEVE_FLAGS) do
    if band(f, x[1]) ~= 0 then t[#t + 1] = x[2] end
  end
  local s = fmt("Geneve, Flags [%s], vni 0x%x", #t > 0 and concat(t) or "none",
                rshift(p:u32(off + 4), 8))
  if p:u8(off + 7) ~= 0 then s = s .. fmt(", rsvd 0x%x", p:u8(off + 7)) end
  if o.eflag then s = s .. ", proto " .. ethertype(p:u16(off + 2)) end
  local opts = band(p:u8(off), 0x3f) * 4
  if opts > 0 then s = s .. fmt(", options [%d bytes]", opts) end
  return s .. ": "
end

local function vxlan(p, r, o)
  local f = p:u8(r.off)
  local head = fmt("VXLAN, flags [%s] (0x%02x), ", band(f, 8) ~= 0 and "I" or "invalid", f)
  if band(f, 8) == 0 then return head .. "ERROR: I flag not set" .. o.nl end
  return head .. fmt("vni %d", rshift(p:u32(r.off + 4), 8)) .. o.nl
end

local function mpls(p, r)
  local e = p:u32(r.off)
  return fmt(" (label %d, tc %d%s, ttl %d)", rshift(e, 12), band(rshift(e, 9), 7),
             band(e, 0x100) ~= 0 and ", [S]" or "", band(e, 0xff))
end

-- PPP's protocol and length with -e; len: the PPP frame's (from its
-- address or protocol field on), by what carries it.
local function ppp_e(r, o, len)
  if not o.eflag then return "" end
  return fmt("%s (0x%04x), length %d: ", PPP_NAMES[r.sub] or "unknown", r.sub, len)
end

-- A length past the frame (on the wire) is noted, and the frame's used.
local function pppoe(p, r, o)
  local ses, len, room = p:u16(r.off + 2), p:u16(r.off + 4), r.bound - r.off - 6
  local s = "PPPoE " .. (len > room and fmt(" [len %d > %d!]", len, room) or "") ..
            (ses ~= 0 and fmt(" [ses 0x%x]", ses) or "") .. " "
  return s .. ppp_e(r, o, math.min(len, room))
end

-- An Ethernet header inside a tunnel (tcpdump prints it only with -e);
-- its length is the one the headers around it give (a UDP length under
-- VXLAN and Geneve), snap where the IP lengths around it end what
-- tcpdump reads. A length shorter than that is invalid: the second
-- value says the line ends there.
local function invalid(p, r, snap)
  local len, cap = r.bound - r.off, math.min(p.caplen, snap) - r.off
  return len < cap, len, cap
end

local function ether(p, r, o, snap)
  local bad, len, cap = invalid(p, r, snap)
  if bad then return fmt("[length %d < caplen %d] (invalid)", len, cap), true end
  if not o.eflag then return "" end
  return fmt("%s > %s, ethertype %s, length %d: ", mac(p, r.off + 6), mac(p, r.off),
             ethertype(p:u16(r.off + 12)), len)
end

-- Where tcpdump stops reading p: the capture, or the end an IP header
-- around the innermost datagram claims if less (tcpdump cuts its snapshot
-- at each IP length; pktsh.proto.dnstext reads no further); nil when
-- tcpdump stops at an invalid Ethernet header in a tunnel.
function M.snap(p)
  local n, lay = packet.layers(p)
  local snap = p.caplen
  for j = 0, n - 1 do
    local r = lay[j]
    if (r.kind == L.IP4 or r.kind == L.IP6) and r.len > 0 then snap = math.min(snap, r["end"]) end
    if r.kind == L.ETH and invalid(p, r, snap) then return nil end
  end
  return snap
end

-- The prefix text for p (see the top); o.eflag, o.nl (default ": ").
-- Two more values: true when the line ends with the prefix (tcpdump
-- stops at an invalid header), and the bound of the line's own IP
-- header (for its M.missing note), p.len when it has none.
function M.prefix(p, o)
  local n, lay = packet.layers(p)
  local last_ip
  for j = 0, n - 1 do
    local r = lay[j]
    if (r.kind == L.IP4 or r.kind == L.IP6) and r.len > 0 then last_ip = j end
  end
  -- most packets: their own IP header first, nothing around it to print
  -- (and no tables to make for it, on every line)
  if last_ip == 0 then return "", false, lay[0].bound end
  o = {eflag = o and o.eflag, nl = o and o.nl or ": "}
  local t = {}
  -- the innermost IP header read whole is the line's own (decodetext
  -- prints it); what comes after it is not printed here
  local outer, snap = nil, p.caplen
  for j = 0, n - 1 do
    local r, k = lay[j], lay[j].kind
    if j == last_ip then break end
    if k == L.IP4 or k == L.IP6 then
      outer = r
      if r.len > 0 then snap = math.min(snap, r["end"]) end
      local nx = lay[j + 1]
      if j + 1 < n and nx.kind == L.UDP then
        t[#t + 1] = ip_head(p, r, o, p:u16(nx.off), p:u16(nx.off + 2))
      elseif r.len > 0 then
        t[#t + 1] = ip_head(p, r, o)
      end
    elseif k == L.MPLS then
      if j == 0 or lay[j - 1].kind ~= L.MPLS then t[#t + 1] = "MPLS" end
      t[#t + 1] = mpls(p, r)
      if band(p:u8(r.off + 2), 1) ~= 0 then t[#t + 1] = " " end
    elseif k == L.PPPOE then
      t[#t + 1] = pppoe(p, r, o)
    elseif k == L.PPP then
      t[#t + 1] = ppp_e(r, o, r.bound - r.off)
    elseif k == L.GRE then
      t[#t + 1] = gre(p, r, outer, o)
    elseif k == L.ERSPAN and r.sub > 1 then
      t[#t + 1] = fmt("ERSPAN type %s, session %d: ", r.sub == 2 and "II" or "III",
                      band(p:u16(r.off + 2), 0x3ff))
    elseif k == L.CMD then
      t[#t + 1] = "gre-proto-0x8909"
      return concat(t), true, p.len
    elseif k == L.VXLAN then
      t[#t + 1] = vxlan(p, r, o)
    elseif k == L.GENEVE then
      t[#t + 1] = geneve(p, r, o)
    elseif k == L.ETH then
      local s, stop = ether(p, r, o, snap)
      t[#t + 1] = s
      if stop then return concat(t), true, p.len end
    end
  end
  return concat(t), false, last_ip and lay[last_ip].bound or p.len
end

function M.selftest()
  local b = require "pktsh.proto.build"
  local inner = b.udp4{dport = 9, payload = "x"}:sub(15)
  local p = packet.from_bytes(b.ip4{proto = 47, payload = "\0\0\8\0" .. inner})
  local len = 4 + #inner
  assert(M.prefix(p) == "IP 198.18.0.1 > 198.18.0.2: GREv0, length " .. len .. ": ", M.prefix(p))
  assert(M.prefix(p, {eflag = true}) ==
         fmt("198.18.0.1 > 198.18.0.2: GREv0, proto IPv4 (0x%04x), length %d: ", ETH.IP4, len))
  assert(M.prefix(packet.from_bytes(b.udp4{payload = "x"})) == "", "no tunnel")
  return true
end

return M
