-- rules.lua - XDP rules as text and tables (module pktsh.xdp.rules): the
-- parsing and validation of a rule, Lua without root or a kernel (the
-- numbers are src/pktsh.h's). pktsh.xdp (the rule set) installs what
-- check_rule returns.
local bit = require "bit"
local addr = require "pktsh.proto.addr"
local numbers = require "pktsh.proto.numbers"

local M = {}

M.COPY_WHOLE = require("ffi").C.PKTSH_XDP_COPY_WHOLE  -- a rule's copy: the whole packet
local F = numbers.enum("PKTSH_XDP_F_", "SRC DST SPORT DPORT PROTO VLAN")  -- pktsh_xdp_rule.flags
local IP = numbers.IPPROTO

M.protocols = {icmp6 = IP.ICMPV6}
for _, name in ipairs{"ICMP", "IGMP", "IPIP", "TCP", "UDP", "IPV6", "GRE", "ESP", "AH",
                      "ICMPV6", "SCTP", "UDPLITE"} do
  M.protocols[name:lower()] = IP[name]
end
-- The protocols whose ports the XDP program reads (bpf/xdp_rules.bpf.c, has_ports).
local PORT_PROTOS = {[IP.TCP] = true, [IP.UDP] = true, [IP.SCTP] = true, [IP.UDPLITE] = true}

local actions = {pass = true, drop = true, redirect = true}
local rule_keys = {proto = true, src = true, dst = true, sport = true, dport = true,
                   vlan = true, priority = true, action = true, copy = true}

local function parse_port(v, field)
  local lo, hi
  if type(v) == "number" then
    lo, hi = v, v
  elseif type(v) == "string" then
    local a, b = v:match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
    if a then lo, hi = tonumber(a), tonumber(b)
    elseif v:match("^%s*%d+%s*$") then lo = tonumber(v); hi = lo
    else return nil, string.format("%s: bad port or range '%s' (use 53 or \"1000-2000\")", field, v) end
  else
    return nil, string.format("%s: expected a port or \"lo-hi\", not %s", field, type(v))
  end
  for _, p in ipairs({lo, hi}) do
    if p % 1 ~= 0 or p < 0 or p > 65535 then
      return nil, string.format("%s: port %s out of range (0-65535)", field, tostring(p))
    end
  end
  if lo > hi then
    return nil, string.format("%s: empty range %d-%d", field, lo, hi)
  end
  return lo, hi
end

local function parse_proto(v)
  if type(v) == "number" then
    if v % 1 ~= 0 or v < 0 or v > 255 then
      return nil, string.format("proto: %s out of range (0-255)", tostring(v))
    end
    return v
  end
  if type(v) == "string" then
    local n = M.protocols[v:lower()] or (v:match("^%d+$") and tonumber(v))
    if n and n <= 255 then return n end
  end
  local names = {}
  for k in pairs(M.protocols) do names[#names + 1] = k end
  table.sort(names)
  return nil, string.format("proto: unknown protocol '%s' (a number or one of %s)",
                            tostring(v), table.concat(names, ", "))
end

-- Validates a rule spec: a normalised copy, or nil and an error naming
-- the field. Unknown keys are errors, so a typo cannot widen a rule.
function M.check_rule(spec)
  if type(spec) ~= "table" then return nil, "a rule is a table" end
  local keys = {}
  for k in pairs(spec) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not rule_keys[k] then
      return nil, string.format("unknown rule key '%s' (known: action, copy, dport, dst, " ..
                                "priority, proto, sport, src, vlan)", k)
    end
  end
  local r = {flags = 0, family = 0}
  local err
  if spec.src ~= nil then
    r.family, r.src, r.src_len = addr.parse_cidr(spec.src, "src")
    if not r.family then return nil, r.src end
    r.flags = bit.bor(r.flags, F.SRC)
  end
  if spec.dst ~= nil then
    local fam, b, len = addr.parse_cidr(spec.dst, "dst")
    if not fam then return nil, b end
    if r.family ~= 0 and fam ~= r.family then
      return nil, "dst: address family differs from src"
    end
    r.family, r.dst, r.dst_len = fam, b, len
    r.flags = bit.bor(r.flags, F.DST)
  end
  if spec.proto ~= nil then
    r.proto, err = parse_proto(spec.proto)
    if not r.proto then return nil, err end
    if r.family == 4 and r.proto == IP.ICMPV6 then return nil, "proto: icmpv6 with an IPv4 address" end
    if r.family == 6 and r.proto == IP.ICMP then return nil, "proto: icmp (v4) with an IPv6 address; use icmpv6" end
    r.flags = bit.bor(r.flags, F.PROTO)
  end
  for i, f in ipairs({"sport", "dport"}) do
    if spec[f] ~= nil then
      local lo, hi = parse_port(spec[f], f)
      if not lo then return nil, hi end
      if r.proto and not PORT_PROTOS[r.proto] then
        return nil, string.format("%s: proto %d has no ports (tcp, udp, sctp, udplite do)", f, r.proto)
      end
      r[f .. "_lo"], r[f .. "_hi"] = lo, hi
      r.flags = bit.bor(r.flags, i == 1 and F.SPORT or F.DPORT)
    end
  end
  if spec.vlan ~= nil then
    local v = spec.vlan
    if type(v) == "string" and v:match("^%d+$") then v = tonumber(v) end
    if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v > numbers.VLAN_ID_MASK then
      return nil, string.format("vlan: bad VLAN id '%s' (0-%d)", tostring(spec.vlan), numbers.VLAN_ID_MASK)
    end
    r.vlan = v
    r.flags = bit.bor(r.flags, F.VLAN)
  end
  local a = spec.action or "pass"
  if not actions[a] then
    return nil, string.format("action: unknown action '%s' (pass, drop or redirect)", tostring(a))
  end
  if a == "redirect" then
    return nil, "action: redirect (to AF_XDP) is not implemented yet"
  end
  r.drop = a == "drop"
  local c = spec.copy
  if c == nil or c == false or c == 0 then r.copy = 0
  elseif c == true then r.copy = M.COPY_WHOLE
  elseif type(c) == "number" and c % 1 == 0 and c > 0 and c <= 65535 then r.copy = c
  else return nil, string.format("copy: expected true or a byte count (1-65535), not '%s'", tostring(c)) end
  local p = spec.priority or 0
  if type(p) ~= "number" or p % 1 ~= 0 or math.abs(p) > 2^31 then
    return nil, string.format("priority: expected a whole number, not '%s'", tostring(spec.priority))
  end
  r.priority = p
  return r
end

-- "proto=udp,sport=53,action=drop,copy=128" -> a rule spec (numbers
-- where a number is meant; copy=all or copy=true for whole packets).
function M.parse_rule_text(text)
  if type(text) ~= "string" then return nil, "a rule is text like proto=udp,dport=53,action=drop" end
  local spec = {}
  for item in text:gmatch("[^,%s]+") do
    local k, v = item:match("^([%w_]+)=(.*)$")
    if not k or v == "" then
      return nil, string.format("bad rule item '%s' (want key=value)", item)
    end
    if k == "copy" and (v == "all" or v == "true") then spec.copy = true
    elseif (k == "copy" or k == "priority" or k == "vlan" or k == "sport" or k == "dport")
           and v:match("^%-?%d+$") then spec[k] = tonumber(v)
    else spec[k] = v end
  end
  return spec
end

function M.selftest()
  local r = assert(M.check_rule(assert(M.parse_rule_text("proto=udp,dport=53,vlan=7,action=drop,copy=all"))))
  assert(r.flags == bit.bor(F.PROTO, F.DPORT, F.VLAN) and r.proto == IP.UDP and r.drop)
  assert(r.dport_lo == 53 and r.dport_hi == 53 and r.vlan == 7 and r.copy == M.COPY_WHOLE)
  r = assert(M.check_rule{src = "198.18.0.0/15", sport = "1000-2000"})
  assert(r.flags == bit.bor(F.SRC, F.SPORT) and r.family == 4 and r.src_len == 15 and not r.drop)
  assert(r.copy == 0 and r.sport_lo == 1000 and r.sport_hi == 2000)
  for _, bad in ipairs{{vlan = numbers.VLAN_ID_MASK + 1}, {proto = "icmp", dport = 53},
                       {src = "2001:2::/48", proto = "icmp"}, {sprot = 53}, {copy = -1}} do
    assert(not M.check_rule(bad))
  end
end

return M
