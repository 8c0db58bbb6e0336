-- keys.lua - key functions of packets (module pktsh.proto.keys, the
-- REPL's global `by`): keys.by.NAME(pkt) -> a value to count, or nil when
-- the packet has none; hist, top and the scripts count by them. They read
-- packets only through the decoders (pktsh.proto.packet, pktsh.proto.dns).
local M = {}

local format, concat = string.format, table.concat

------------------------------------------------------------------------
-- Keys: keys.by.NAME(pkt) -> a value to count, or nil when the packet has
-- none (the REPL's global `by`). by_hint[fn] tells hist its name and
-- whether log bins suit it.

local IP = require("pktsh.proto.numbers").IPPROTO
local PROTO_NAMES = {[IP.ICMP] = "icmp", [IP.IGMP] = "igmp", [IP.TCP] = "tcp", [IP.UDP] = "udp",
  [IP.GRE] = "gre", [IP.ESP] = "esp", [IP.AH] = "ah", [IP.ICMPV6] = "icmp6", [IP.SCTP] = "sctp"}
M.proto_names = PROTO_NAMES

local by = {}
local by_hint = setmetatable({}, {__mode = "k"})
local by_doc = {}
M.by, M.by_hint = by, by_hint

local function key(name, doc, fn, hint)
  by[name] = fn
  hint = hint or {}
  hint.name = name
  by_hint[fn] = hint
  by_doc[#by_doc + 1] = {name, doc}
end

-- The DNS question of a packet on port 53/5353/5355 (UDP, or TCP with the
-- message's start in the segment): qname, qtype, rcode, flags, or nil.
local dns
local function question(p)
  dns = dns or require "pktsh.proto.dns"
  local off, len = dns.span(p, false, true)
  if not off then return nil end
  local id, flags, rcode, qname, qtype = dns.question(p.data + off, len)
  if not id then return nil end
  return qname, qtype, rcode, flags
end
M.question = question

key("src", "source IP address (text)", function(p)
  local ip = p:ip(); return ip and tostring(ip.src) end)
key("dst", "destination IP address (text)", function(p)
  local ip = p:ip(); return ip and tostring(ip.dst) end)
key("sport", "TCP/UDP source port", function(p) local s = p:ports(); return s end)
key("dport", "TCP/UDP destination port", function(p) local _, d = p:ports(); return d end)
key("port", "the lower of the two TCP/UDP ports (the service, usually)", function(p)
  local s, d = p:ports(); if not s then return nil end; return s < d and s or d end)
key("proto", "transport protocol name (tcp, udp, icmp, icmp6, or the number)", function(p)
  local n = p:proto(); if not n then return nil end; return PROTO_NAMES[n] or n end)
key("len", "wire length in bytes (log2 bins)", function(p) return p.len end, {log = true})
key("caplen", "captured length in bytes (log2 bins)", function(p) return p.caplen end, {log = true})
key("vlan", "outer VLAN id", function(p) return p:vlan_id(1) end)
key("ttl", "IPv4 TTL or IPv6 hop limit", function(p) local ip = p:ip(); return ip and ip.ttl end)
key("ipver", "IP version (4 or 6)", function(p)
  if p:ip4() then return 4 elseif p:ip6() then return 6 end end)
key("flow", "\"src:sport > dst:dport proto\"", function(p)
  local ip = p:ip(); if not ip then return nil end
  local s, d = p:ports()
  if s then return string.format("%s:%d > %s:%d", tostring(ip.src), s, tostring(ip.dst), d) end
  return tostring(ip.src) .. " > " .. tostring(ip.dst)
end)
key("pair", "the two addresses, in sorted order (a conversation)", function(p)
  local ip = p:ip(); if not ip then return nil end
  local a, b = tostring(ip.src), tostring(ip.dst)
  if b < a then a, b = b, a end
  return a .. " <> " .. b
end)
key("qname", "DNS question name, lower case", function(p) return (question(p)) end)
key("qtype", "DNS question type name (A, AAAA, ...)", function(p)
  local _, t = question(p); if not t then return nil end
  return dns.type_name(t) end)
key("rcode", "DNS response code name of responses (NOERROR, NXDOMAIN, ...)", function(p)
  local _, _, r, flags = question(p)
  if not flags or flags < 0x8000 then return nil end
  return dns.rcode_name(r)
end)

-- "src, dst, ..." for messages.
function M.by_names()
  local t = {}
  for _, d in ipairs(by_doc) do t[#t + 1] = d[1] end
  return concat(t, ", ")
end

-- The names of the key functions in `by`, in the order help lists them.
function M.by_list()
  local t = {}
  for _, d in ipairs(by_doc) do t[#t + 1] = d[1] end
  return t
end

-- One line per key, for help(by).
function M.by_help()
  local t = {"by.NAME(pkt) -> a value to count (nil: the packet has none); hist and top take them:"}
  for _, d in ipairs(by_doc) do t[#t + 1] = format("  by.%-7s %s", d[1], d[2]) end
  t[#t + 1] = "  any function of a packet works too: hist(src, function(p) return p.len % 64 end)"
  return concat(t, "\n")
end

function M.selftest()
  local b, packet = require "pktsh.proto.build", require "pktsh.proto.packet"
  -- a query for Example.com, type A, from 198.18.0.1:1234 on VLAN 7
  local q = "\18\52\1\0\0\1\0\0\0\0\0\0\7Example\3com\0\0\1\0\1"
  local p = packet.from_bytes(b.udp4{sport = 1234, dport = 53, vlan = 7, ttl = 9, payload = q})
  local want = {src = "198.18.0.1", dst = "198.18.0.2", sport = 1234, dport = 53, port = 53,
                proto = "udp", vlan = 7, ttl = 9, ipver = 4, qname = "example.com", qtype = "A",
                flow = "198.18.0.1:1234 > 198.18.0.2:53", pair = "198.18.0.1 <> 198.18.0.2",
                len = p.len, caplen = p.caplen}
  for name, v in pairs(want) do assert(by[name](p) == v, name) end
  assert(by.rcode(p) == nil, "a query has no rcode")
  local t = packet.from_bytes(b.tcp6{sport = 80, dport = 40000})
  assert(by.proto(t) == "tcp" and by.ipver(t) == 6 and by.port(t) == 80 and by.qname(t) == nil)
  local e = packet.from_bytes(b.eth({}, 0x88b5) .. "x")    -- not IP: no key but the lengths
  for _, name in ipairs(M.by_list()) do
    assert(by[name] and by_hint[by[name]].name == name, name)
    if name ~= "len" and name ~= "caplen" then assert(by[name](e) == nil, name) end
  end
  assert(M.by_names():find("qname") and M.by_help():find("by.qname"))
end

return M
