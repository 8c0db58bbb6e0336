-- XDP rules without a network: rule validation, and both matching engines
-- against a reference matcher written here, on random rule sets and
-- random packets (whole ones, and ones the program cannot parse to their
-- end) run through the program with BPF_PROG_TEST_RUN.
local T = require "t"
local bit = require "bit"
local xdp = require "pktsh.xdp"
local addr = require "pktsh.proto.addr"
local craft = require "craft"
local b = pktsh.build

-- --- validation (no privileges needed) -------------------------------------

local bad = {
  {{src = "198.18.0.0/33"}, "^src: bad CIDR"},
  {{src = "198.18.0.300"}, "^src: bad CIDR"},
  {{dst = "2001:2::/129"}, "^dst: bad CIDR"},
  {{dst = "2001:2:::1"}, "^dst: bad CIDR"},
  {{src = "198.18.0.1", dst = "2001:2::1"}, "^dst: address family"},
  {{dport = 70000}, "^dport: port 70000 out of range"},
  {{sport = "10-5"}, "^sport: empty range"},
  {{sport = "ten"}, "^sport: bad port"},
  {{proto = "bogus"}, "^proto: unknown protocol 'bogus'"},
  {{proto = 300}, "^proto: 300 out of range"},
  {{proto = "icmp", dport = 1}, "^dport: proto 1 has no ports"},
  {{vlan = 4096}, "^vlan: bad VLAN id"},
  {{colour = "red"}, "^unknown rule key 'colour'"},
  {{action = "reject"}, "^action: unknown action"},
  {{copy = -1}, "^copy: expected"},
  {{priority = 1.5}, "^priority: expected a whole number"},
}
T.test("bad rules: an error naming the field", function()
  for _, c in ipairs(bad) do
    local r, err = xdp.check_rule(c[1])
    T.eq(r, nil, "rule " .. pktsh.json.encode(c[1]))
    T.ok(err:find(c[2]), string.format("%q does not match %q", err, c[2]))
  end
end)

T.test("good rules are accepted and normalised", function()
  local r = assert(xdp.check_rule{src = "198.18.0.0/15", dport = "1000-2000", proto = "UDP",
                                  vlan = 7, action = "drop", copy = true, priority = -3})
  T.eq(r.family, 4, "family")
  T.eq(r.src_len, 15, "prefix")
  T.eq(r.dport_lo, 1000, "lo"); T.eq(r.dport_hi, 2000, "hi")
  T.eq(r.proto, 17, "proto")
  T.eq(r.copy, 0xffffffff, "copy whole")
  local r6 = assert(xdp.check_rule{dst = "2001:2::ffff:198.18.0.1/120", proto = "icmpv6"})
  T.eq(r6.family, 6, "v6 family")
  T.eq(#r6.dst, 16, "v6 bytes")
  T.eq(r6.dst:byte(13), 198, "embedded IPv4")
  T.eq(addr.parse6("::"), string.rep("\0", 16), "::")
  T.eq(addr.parse6("2001:2::1"):byte(16), 1, "2001:2::1")
  T.eq(addr.parse6("1:2:3:4:5:6:7:8:9"), nil, "nine groups")
  local rr = assert(xdp.check_rule{proto = "udp", dport = 53, action = "redirect", copy = 64})
  T.eq(rr.action, "redirect", "redirect accepted")
  T.eq(rr.drop, false, "redirect does not drop")
  local nr, nerr = xdp.check_rule{action = "redirect", redirect = {queue = 1}}
  T.eq(nr, nil, "redirect = {queue = ...} refused")
  T.ok(nerr and nerr:find("only go to the AF_XDP socket of its own rx queue", 1, true), tostring(nerr))
end)

T.test("pktsh.xdp: bad options", function()
  local fw, err = pktsh.xdp("lo", {mode = "turbo"})
  T.eq(fw, nil, "fw")
  T.ok(err:find("mode must be one of"), err)
  fw, err = pktsh.xdp("lo", {colour = 1})
  T.ok(err:find("unknown option 'colour'"), err)
end)

T.test("pktsh.open{xdp = ...}: mistakes come back as nil, err", function()
  local cases = {
    {{xdp = "pktsh-nosuch0"}, "^no such interface 'pktsh%-nosuch0'"},
    {{xdp = "lo", colour = 1}, "^unknown option 'colour' for an XDP source"},
    {{xdp = "lo", filter = "udp"}, "^filter: an XDP source is filtered by its rules"},
    {{xdp = "lo", workers = 2}, "^workers: an XDP source has one reader"},
    {{xdp = "lo", snaplen = 0}, "^snaplen must be"},
    {{xdp = "lo", rules = {"proto"}}, "^rule 1: bad rule item 'proto'"},
    {{xdp = "lo", rules = {}}, "^rules is empty"},
    {{xdp = "lo", mode = "turbo"}, "^mode must be one of"},
  }
  for _, c in ipairs(cases) do
    local src, err = pktsh.open(c[1])
    T.eq(src, nil, "source for " .. pktsh.json.encode(c[1]))
    T.ok(type(err) == "string" and err:find(c[2]), string.format("%q does not match %q", tostring(err), c[2]))
  end
  -- the second argument adds to the first
  local src, err = pktsh.open({xdp = "pktsh-nosuch0"}, {snaplen = 64})
  T.ok(not src and err:find("no such interface"), tostring(err))
  T.raises(function() pktsh.open{} end, "{xdp = ifname, ...} expected", "a table without xdp")
  T.raises(function() pktsh.open{xdp = 3} end, "{xdp = ifname, ...} expected", "xdp not a name")
end)

T.test("pktsh.xdp.cleanup: bad options; a dry run changes nothing", function()
  local r, err = xdp.cleanup{colour = 1}
  T.eq(r, nil, "result")
  T.ok(err:find("unknown option 'colour' for cleanup"), err)
  r, err = xdp.cleanup{dry_run = true}
  -- Without a bpffs there is no record to list: an error that says so.
  T.ok(r ~= nil or err:find("no bpffs at"), tostring(err))
end)

-- --- engines against the reference ----------------------------------------

local fw, why = nil, nil
local ok_root = io.popen("id -u"):read("*l") == "0"
if ok_root then
  fw, why = pktsh.xdp(nil, {engine = "linear"})
else
  why = "needs root (loading BPF programs)"
end
if not fw then
  T.skip("engines agree with the reference matcher", why)
  T.skip("rule add/remove and counters via BPF_PROG_TEST_RUN", why)
  T.skip("a redirect rule without a socket: the default verdict, counted", why)
  T.skip("unparsed: packets the program cannot parse to their end", why)
  T.skip("the C side refuses a prefix length out of range", why)
  T.done()
end

-- Reference: does packet p (a plain table) match normalised rule r?
local function prefix_ok(addr, raddr, len)
  local full = math.floor(len / 8)
  if addr:sub(1, full) ~= raddr:sub(1, full) then return false end
  local rem = len % 8
  if rem == 0 then return true end
  local m = bit.band(bit.lshift(0xff, 8 - rem), 0xff)
  return bit.band(addr:byte(full + 1), m) == bit.band(raddr:byte(full + 1), m)
end

-- p.family is 0 when no IP header was parsed; p.ports false when the
-- packet has none (ICMP, a later fragment); p.proto_unknown and
-- p.ports_unknown when it has them but they could not be read: then a
-- drop rule naming them matches and a pass rule does not.
local function ref_match(r, p)
  if r.src or r.dst then
    if r.family ~= p.family then return false end
    if r.src and not prefix_ok(p.src, r.src, r.src_len) then return false end
    if r.dst and not prefix_ok(p.dst, r.dst, r.dst_len) then return false end
  end
  if r.proto then
    if p.family == 0 then return false end
    if p.proto_unknown then
      if not r.drop then return false end
    elseif p.proto ~= r.proto then return false end
  end
  if r.sport_lo or r.dport_lo then
    if p.ports_unknown then
      if not r.drop then return false end
    else
      if not p.ports then return false end
      if r.sport_lo and (p.sport < r.sport_lo or p.sport > r.sport_hi) then return false end
      if r.dport_lo and (p.dport < r.dport_lo or p.dport > r.dport_hi) then return false end
    end
  end
  if r.vlan and p.vlan ~= r.vlan then return false end
  return true
end

-- The matching rule's position and handle, or nil; tiny and overlapping
-- fragments (p.attack) meet no rule under default drop.
local function ref_first(handles, p, default_drop)
  if p.attack and default_drop then return nil end
  for i, h in ipairs(handles) do
    if ref_match(h.r, p) then return i, h end
  end
end

-- Random values from small pools, so that rules and packets meet often.
local rnd = math.random
local function pick(t) return t[rnd(#t)] end
local v4hosts = {"198.18.0.1", "198.18.0.2", "198.18.1.1", "198.18.128.9", "198.19.255.255", "198.18.0.0"}
local v6hosts = {"2001:2::1", "2001:2::2", "2001:2:0:1::1", "2001:2:0:ff00::9", "2001:2::ffff"}
local ports = {0, 1, 53, 80, 443, 1023, 1024, 5000, 65534, 65535}
local function rand_port_spec()
  local x = rnd(4)
  if x == 1 then return pick(ports) end
  local lo = pick(ports)
  local hi = math.min(65535, lo + pick({0, 1, 10, 1000, 65535}))
  return lo .. "-" .. hi
end
local function rand_prefix(v6)
  local h = v6 and pick(v6hosts) or pick(v4hosts)
  local len = v6 and pick({0, 32, 48, 63, 64, 100, 127, 128}) or pick({0, 8, 15, 16, 23, 24, 31, 32})
  return h .. "/" .. len
end

local function rand_rule()
  local s = {}
  local v6 = rnd(3) == 1
  if rnd(2) == 1 then s.src = rand_prefix(v6) end
  if rnd(3) == 1 then s.dst = rand_prefix(v6) end
  local pr = rnd(6)
  if pr == 1 then s.proto = "tcp" elseif pr == 2 then s.proto = "udp"
  elseif pr == 3 then s.proto = v6 and "icmpv6" or "icmp" end
  local portable = s.proto == nil or s.proto == "tcp" or s.proto == "udp"
  if portable and rnd(3) == 1 then s.sport = rand_port_spec() end
  if portable and rnd(2) == 1 then s.dport = rand_port_spec() end
  if rnd(5) == 1 then s.vlan = pick({1, 7, 4095}) end
  s.action = pick({"pass", "drop", "redirect"})
  if rnd(3) == 1 then s.priority = rnd(5) end
  return s
end

-- Packets the program cannot parse to their end, on top of o (ports,
-- addresses, VLAN) and p (the reference's view of a whole packet).
local function rand_unparsed(o, p)
  local kind = rnd(8)
  local v6 = kind >= 5
  o.src = v6 and pick(v6hosts) or pick(v4hosts)
  o.dst = v6 and pick(v6hosts) or pick(v4hosts)
  p.family = v6 and 6 or 4
  p.src = v6 and addr.parse6(o.src) or (addr.parse4(o.src) .. string.rep("\0", 12))
  p.dst = v6 and addr.parse6(o.dst) or (addr.parse4(o.dst) .. string.rep("\0", 12))
  p.proto = 6
  local seg = craft.tcp(o)
  local frame
  if kind == 1 then          -- transport header cut short by the frame
    frame = craft.ip4{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg}:sub(1, -9)
    p.ports_unknown = true
  elseif kind == 2 then      -- tiny first fragment
    frame = craft.ip4{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg:sub(1, 8), mf = true}
    p.ports_unknown, p.attack = true, true
  elseif kind == 3 then      -- overlapping fragment
    frame = craft.ip4{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg:sub(9), off = 8}
    p.ports_unknown, p.attack = true, true
  elseif kind == 4 then      -- a later fragment: no ports
    frame = craft.ip4{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg, off = 64}
    p.ports = false
  elseif kind == 5 then      -- more extension headers than the walk takes
    frame = craft.ip6{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg, chain = craft.dsts(9)}
    p.proto_unknown, p.ports_unknown = true, true
  elseif kind == 6 then      -- a later IPv6 fragment
    frame = craft.ip6{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg, chain = {{frag = 64}}}
    p.ports = false
  elseif kind == 7 then      -- IPv6 tiny first fragment
    frame = craft.ip6{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg:sub(1, 12),
                      chain = {"dst", {frag = 0, m = true}}}
    p.ports_unknown, p.attack = true, true
  else                       -- IPv6 header cut short: nothing parsed
    frame = craft.ip6{src = o.src, dst = o.dst, vlan = o.vlan, l4 = seg}:sub(1, -30)
    p.family, p.ports = 0, false
  end
  return frame, p
end

local function rand_packet()
  local kind = rnd(10)
  local o = {sport = pick(ports), dport = pick(ports)}
  if rnd(4) == 1 then o.vlan = pick({1, 7, 4095, 100}) end
  local p = {vlan = o.vlan, ports = true, sport = o.sport, dport = o.dport}
  local v6 = kind >= 4 and kind <= 6
  o.src = v6 and pick(v6hosts) or pick(v4hosts)
  o.dst = v6 and pick(v6hosts) or pick(v4hosts)
  local frame
  if kind == 1 then frame = b.udp4(o); p.proto = 17
  elseif kind == 2 then frame = b.tcp4(o); p.proto = 6
  elseif kind == 3 then frame = b.icmp4_echo(o); p.proto = 1; p.ports = false
  elseif kind == 4 then frame = b.udp6(o); p.proto = 17
  elseif kind == 5 then frame = b.tcp6(o); p.proto = 6
  elseif kind == 6 then frame = b.icmp6_echo(o); p.proto = 58; p.ports = false
  elseif kind <= 9 then return rand_unparsed(o, p)
  else -- ARP-like: not IP
    frame = b.eth({vlan = o.vlan}, 0x0806) .. string.rep("\0", 28)
    p.family = 0; p.ports = false
    return frame, p
  end
  p.family = v6 and 6 or 4
  p.src = v6 and addr.parse6(o.src) or (addr.parse4(o.src) .. string.rep("\0", 12))
  p.dst = v6 and addr.parse6(o.dst) or (addr.parse4(o.dst) .. string.rep("\0", 12))
  return frame, p
end

local function sorted_handles()
  local hs = {}
  for i, t in ipairs(fw:rules()) do hs[i] = t.rule end
  return hs
end

T.test("engines agree with the reference matcher", function()
  math.randomseed(tonumber(os.getenv("PKTSH_SEED") or "") or 4)
  local checked = 0
  for set = 1, 30 do
    assert(fw:clear())
    local default_drop = set % 2 == 0
    assert(fw:set_default(default_drop and "drop" or "pass"))
    local n = ({1, 3, 10, 40, 200, 1000})[set % 6 + 1]
    local specs = {}
    for i = 1, n do specs[i] = rand_rule() end
    assert(fw:add(specs))
    local hs = sorted_handles()
    local frames = {}
    for i = 1, 60 do frames[i] = {rand_packet()} end
    local got = {}
    for _, engine in ipairs({"linear", "classifier"}) do
      assert(fw:set_engine(engine))
      T.eq(fw:engine(), engine, "engine in use")
      got[engine] = {}
      for i, f in ipairs(frames) do
        local t = assert(fw:test_run(f[1]))
        got[engine][i] = t
      end
    end
    for i, f in ipairs(frames) do
      local pos, h = ref_first(hs, f[2], default_drop)
      -- A redirect rule's packets have no socket here (nothing is
      -- attached): they take the default, as unmatched packets do.
      local def = default_drop and "drop" or "pass"
      local want_action = h and (h.r.action == "redirect" and def or h.r.action) or def
      for _, engine in ipairs({"linear", "classifier"}) do
        local t = got[engine][i]
        if t.position ~= pos or t.action ~= want_action then
          error(string.format("set %d (%d rules), packet %d, %s: got rule %s (%s), want %s (%s)\n  rule got: %s\n  rule want: %s\n  packet: %s",
            set, n, i, engine, tostring(t.position), t.action, tostring(pos), want_action,
            t.rule and tostring(t.rule) or "-", h and tostring(h) or "-",
            pktsh.json.encode{family = f[2].family, proto = f[2].proto, ports = f[2].ports,
                              sport = f[2].sport, dport = f[2].dport, vlan = f[2].vlan,
                              ports_unknown = f[2].ports_unknown, proto_unknown = f[2].proto_unknown,
                              attack = f[2].attack, bytes = #f[1]}))
        end
        checked = checked + 1
      end
    end
  end
  T.ok(checked >= 3000, "checked " .. checked)
  assert(fw:set_default("pass"))
end)

T.test("rule add/remove and counters via BPF_PROG_TEST_RUN", function()
  assert(fw:clear())
  assert(fw:set_engine("auto"))
  local frame = b.udp4{dst = "198.18.0.2", dport = 53, payload = 22}
  local r = assert(fw:add{proto = "udp", dport = 53, action = "drop", copy = 48})
  local t = assert(fw:test_run(frame, 10))
  T.eq(t.action, "drop", "dropped")
  T.eq(t.rule, r, "the rule")
  local st = assert(r:stats())
  T.eq(st.packets, 10, "packets")
  T.eq(st.bytes, 10 * #frame, "bytes")
  T.eq(st.copied + st.copy_lost, 10, "copies")
  local hi = assert(fw:add{proto = "udp", dport = "50-60", priority = -1})
  t = assert(fw:test_run(frame))
  T.eq(t.rule, hi, "the higher-priority rule wins")
  T.eq(t.action, "pass", "and passes")
  assert(hi:remove())
  T.eq(hi:stats(), nil, "removed rule has no counters")
  T.eq(assert(fw:test_run(frame)).rule, r, "back to the first rule")
  assert(r:remove())
  t = assert(fw:test_run(frame))
  T.eq(t.rule, nil, "no rule")
  T.eq(t.action, "pass", "default pass")
  assert(fw:set_default("drop"))
  T.eq(assert(fw:test_run(frame)).action, "drop", "default drop")
  assert(fw:set_default("pass"))
  local r2 = assert(fw:add{proto = "udp", dport = 53})
  T.eq(assert(r2:stats()).packets, 0, "a reused id starts from zero")
  -- The copy source sees what the rule copied, as Ethernet packets.
  local src = assert(fw:copies{duration = 0.5})
  local n, len = 0, nil
  for p in src:packets() do n = n + 1; len = p.caplen; T.eq(p:udp().dport, 53, "copied udp") end
  T.ok(n >= 1, "copies read: " .. n)
  T.eq(len, 48, "copy length")
  T.eq(src.linktype, 1, "EN10MB")
  src:close()
  assert(r2:remove())
end)

T.test("a redirect rule without a socket: the default verdict, counted", function()
  assert(fw:clear())
  local frame = b.udp4{dst = "198.18.0.2", dport = 53, payload = 22}
  local r = assert(fw:add{proto = "udp", dport = 53, action = "redirect"})
  local before = assert(fw:stats())
  local t = assert(fw:test_run(frame, 7))
  T.eq(t.rule, r, "the redirect rule matches")
  T.eq(t.action, "pass", "no socket on the queue: default pass")
  assert(fw:set_default("drop"))
  T.eq(assert(fw:test_run(frame, 3)).action, "drop", "no socket: default drop")
  assert(fw:set_default("pass"))
  local st = assert(r:stats())
  T.eq(st.packets, 10, "rule packets")
  T.eq(st.no_socket, 10, "rule no_socket")
  local after = assert(fw:stats())
  T.eq(after.no_socket - before.no_socket, 10, "rule set no_socket")
  T.eq(after.redirected - before.redirected, 0, "nothing redirected")
  T.eq(assert(fw:rules())[1].action, "redirect", "listed as redirect")
  assert(fw:clear())
end)

-- --- packets the program cannot parse to their end ---------------------------
-- Each is still judged: rules on what was parsed (a field the packet has
-- but whose bytes could not be read matches a drop rule naming it, never
-- a pass rule), then the default; tiny and overlapping fragments skip the
-- rules under default drop. Every case runs on both engines and checks
-- the verdict, the rule, and that exactly its cause was counted.

local causes = {"truncated_l2", "truncated_l3", "malformed_l3", "truncated_l4",
                "ext_headers_limit", "tiny_fragment", "fragment_overlap"}

-- Installs rules (in order) under a default and runs frame once: the
-- result, the change in every counter, the rule handles.
local function judge(engine, default, rules, frame)
  assert(fw:clear())
  assert(fw:set_engine(engine))
  assert(fw:set_default(default))
  local hs = {}
  for i, r in ipairs(rules) do hs[i] = assert(fw:add(r)) end
  local before = assert(fw:stats())
  local t = assert(fw:test_run(frame))
  local after = assert(fw:stats())
  local d = {}
  for k, v in pairs(after) do d[k] = v - (before[k] or 0) end
  return t, d, hs
end

local tcp80 = craft.tcp{dport = 80, payload = 16}
local tcp22 = craft.tcp{dport = 22}
local allow80 = {proto = "tcp", dport = 80}
local allow_tcp = {proto = "tcp"}
local drop22 = {proto = "tcp", dport = 22, action = "drop"}
local v4 = craft.ip4{l4 = tcp80}
local v6 = craft.ip6{l4 = tcp80}

-- {name, frame, default, rules, verdict, matching rule (index) or nil,
--  cause counted or nil}
local cases = {
  -- RFC 1858: the first fragment holds 8 bytes of TCP, the flags follow.
  {"IPv4 tiny first fragment, default drop + allow tcp/80",
   craft.ip4{l4 = tcp80:sub(1, 8), mf = true}, "drop", {allow80}, "drop", nil, "tiny_fragment"},
  {"IPv4 tiny first fragment skips a portless pass rule under default drop",
   craft.ip4{l4 = tcp80:sub(1, 8), mf = true}, "drop", {allow_tcp}, "drop", nil, "tiny_fragment"},
  {"IPv4 tiny first fragment meets a drop rule on its ports (default pass)",
   craft.ip4{l4 = tcp22:sub(1, 8), mf = true}, "pass", {drop22}, "drop", 1, "tiny_fragment"},
  {"IPv4 tiny first fragment: a pass rule on ports does not match, the next rule does",
   craft.ip4{l4 = tcp80:sub(1, 8), mf = true}, "pass", {allow80, {proto = "tcp", action = "drop"}},
   "drop", 2, "tiny_fragment"},
  {"IPv4 first fragment holding the whole TCP header",
   craft.ip4{l4 = tcp80, mf = true}, "drop", {allow80}, "pass", 1, nil},
  -- RFC 3128: a later fragment at offset 8 rewrites the TCP flags.
  {"IPv4 fragment at offset 1 (8 bytes) over a TCP header, default drop",
   craft.ip4{l4 = tcp80:sub(9, 24), off = 8}, "drop", {allow_tcp}, "drop", nil, "fragment_overlap"},
  {"IPv4 fragment at offset 2 over a TCP header, default pass: the rules run",
   craft.ip4{l4 = tcp80:sub(17, 24), off = 16}, "pass", {allow_tcp, drop22}, "pass", 1, "fragment_overlap"},
  {"IPv4 fragment at offset 2 meets a drop rule on ports (default pass)",
   craft.ip4{l4 = tcp80:sub(17, 24), off = 16}, "pass", {drop22}, "drop", 1, "fragment_overlap"},
  {"IPv4 later fragment (offset 24): no ports, a port drop rule does not match",
   craft.ip4{l4 = tcp80:sub(25, 32), off = 24}, "pass", {drop22}, "pass", nil, nil},
  {"IPv4 later fragment (offset 24) meets a portless rule",
   craft.ip4{l4 = tcp80:sub(25, 32), off = 24}, "drop", {allow_tcp}, "pass", 1, nil},
  {"IPv4 UDP fragment at offset 8 is no overlap",
   craft.ip4{proto = 17, l4 = "12345678", off = 8}, "drop", {{proto = "udp"}}, "pass", 1, nil},
  -- Transport headers cut short.
  {"TCP header cut short by the frame, default drop + allow tcp/80",
   v4:sub(1, 14 + 20 + 8), "drop", {allow80}, "drop", nil, "truncated_l4"},
  {"TCP header cut short by the IP total length (the frame padded)",
   craft.ip4{l4 = tcp80, tot = 28}, "drop", {allow80}, "drop", nil, "truncated_l4"},
  {"a rule without ports matches a packet whose ports are unknown",
   v4:sub(1, 14 + 20 + 8), "drop", {{src = "198.18.0.0/15"}}, "pass", 1, "truncated_l4"},
  {"a rule on the protocol matches when the protocol is known",
   v4:sub(1, 14 + 20 + 8), "drop", {allow80, allow_tcp}, "pass", 2, "truncated_l4"},
  {"a drop rule on ports matches ports that could not be read",
   craft.ip4{l4 = tcp22, tot = 28}, "pass", {drop22}, "drop", 1, "truncated_l4"},
  {"IPv6 UDP header cut short",
   craft.ip6{proto = 17, l4 = "1234"}, "drop", {{proto = "udp", dport = 53}}, "drop", nil, "truncated_l4"},
  {"IPv4 total length 0 (BIG TCP): the frame bounds the datagram",
   craft.ip4{l4 = tcp80, tot = 0}, "drop", {allow80}, "pass", 1, nil},
  -- IPv6 extension headers.
  {"IPv6 with 9 extension headers and a src drop rule (default pass)",
   craft.ip6{chain = craft.dsts(9), l4 = tcp80}, "pass", {{src = "2001:2::/48", action = "drop"}},
   "drop", 1, "ext_headers_limit"},
  {"IPv6 with 9 extension headers, default pass, no rule matches",
   craft.ip6{chain = craft.dsts(9), l4 = tcp80}, "pass",
   {{src = "2001:3::/48", action = "drop"}, {proto = "tcp", dport = 80, action = "pass", copy = 64}},
   "pass", nil, "ext_headers_limit"},
  {"IPv6 with 9 extension headers, default drop + allow tcp/80",
   craft.ip6{chain = craft.dsts(9), l4 = tcp80}, "drop", {allow80}, "drop", nil, "ext_headers_limit"},
  {"IPv6 with 9 extension headers meets a drop rule on protocol and port",
   craft.ip6{chain = craft.dsts(9), l4 = tcp22}, "pass", {drop22}, "drop", 1, "ext_headers_limit"},
  {"IPv6 with 8 extension headers: the ports are read",
   craft.ip6{chain = craft.dsts(8), l4 = tcp80}, "pass", {{proto = "tcp", dport = 80, action = "drop"}},
   "drop", 1, nil},
  {"IPv6 extension header cut short: the addresses still count",
   craft.ip6{chain = {"dst"}, l4 = tcp80}:sub(1, 14 + 40 + 4), "pass",
   {{src = "2001:2::/48", action = "drop"}}, "drop", 1, "truncated_l3"},
  {"IPv6 tiny first fragment",
   craft.ip6{chain = {{frag = 0, m = true}}, l4 = tcp80:sub(1, 8)}, "drop", {allow80},
   "drop", nil, "tiny_fragment"},
  {"IPv6 first fragment without the whole header chain (RFC 7112)",
   craft.ip6{chain = {{frag = 0, m = true}, "dst"}, l4 = tcp80, plen = 12}, "drop",
   {{src = "2001:2::/48"}}, "drop", nil, "tiny_fragment"},
  {"IPv6 atomic fragment (offset 0, no more; RFC 6946) with TCP cut short: truncated, not tiny",
   craft.ip6{chain = {"dst", {frag = 0}}, l4 = tcp80:sub(1, 8)}, "drop", {allow80}, "drop", nil, "truncated_l4"},
  {"IPv6 first fragment after two headers, whole",
   craft.ip6{chain = {"hop", "dst", {frag = 0, m = true}}, l4 = tcp80}, "drop", {allow80}, "pass", 1, nil},
  {"IPv6 fragment at offset 8 over a TCP header",
   craft.ip6{chain = {{frag = 8, m = true}}, l4 = tcp80:sub(9, 24)}, "drop", {allow_tcp},
   "drop", nil, "fragment_overlap"},
  {"IPv6 later fragment (offset 24) meets a portless rule",
   craft.ip6{chain = {{frag = 24}}, l4 = tcp80:sub(25, 32)}, "drop", {allow_tcp}, "pass", 1, nil},
  -- IP headers: nothing parsed, so only rules without address, protocol
  -- and ports can match.
  {"IPv4 header cut short, default drop",
   v4:sub(1, 14 + 12), "drop", {allow80}, "drop", nil, "truncated_l3"},
  {"IPv4 header cut short: an address rule does not match",
   v4:sub(1, 14 + 12), "pass", {{src = "198.18.0.0/15", action = "drop"}}, "pass", nil, "truncated_l3"},
  {"IPv4 header cut short: a VLAN rule matches",
   craft.ip4{l4 = tcp80, vlan = 7}:sub(1, 18 + 12), "drop", {{vlan = 7}}, "pass", 1, "truncated_l3"},
  {"IPv4 options cut short",
   craft.ip4{ihl = 6, l4 = tcp80}:sub(1, 14 + 22), "drop", {allow80}, "drop", nil, "truncated_l3"},
  {"IPv4 version 5", craft.ip4{version = 5, l4 = tcp80}, "drop", {allow80}, "drop", nil, "malformed_l3"},
  {"IPv4 IHL 4", craft.ip4{ihl = 4, l4 = tcp80}, "drop", {allow80}, "drop", nil, "malformed_l3"},
  {"IPv4 total length shorter than the header",
   craft.ip4{tot = 12, l4 = tcp80}, "drop", {allow80}, "drop", nil, "malformed_l3"},
  {"IPv6 header cut short", v6:sub(1, 14 + 30), "drop", {allow80}, "drop", nil, "truncated_l3"},
  {"IPv6 version 4", v6:sub(1, 14) .. "\x40" .. v6:sub(16), "drop", {allow80}, "drop", nil, "malformed_l3"},
  -- Ethernet (BPF_PROG_TEST_RUN refuses frames shorter than 14 bytes, so
  -- only a VLAN tag can be cut short here).
  {"VLAN tag cut short", craft.ip4{vlan = 7, l4 = tcp80}:sub(1, 16), "drop", {allow80}, "drop", nil, "truncated_l2"},
  -- Not IP (today's behaviour, kept): whole, so no cause; judged by the
  -- rules without IP fields, then the default.
  {"ARP under default drop", b.eth({}, 0x0806) .. string.rep("\0", 28), "drop", {allow80}, "drop", nil, nil},
  {"ARP under default pass", b.eth({}, 0x0806) .. string.rep("\0", 28), "pass",
   {{proto = "tcp", action = "drop"}}, "pass", nil, nil},
  {"tagged ARP meets a VLAN rule", b.eth({vlan = 7}, 0x0806) .. string.rep("\0", 28), "pass",
   {{vlan = 7, action = "drop"}}, "drop", 1, nil},
}

for _, c in ipairs(cases) do
  local name, frame, default, rules, want, want_rule, cause = unpack(c, 1, 7)
  T.test("unparsed: " .. name, function()
    for _, engine in ipairs({"linear", "classifier"}) do
      local t, d, hs = judge(engine, default, rules, frame)
      local what = engine .. ", " .. name
      T.eq(t.action, want, what .. ": verdict")
      T.eq(t.rule, want_rule and hs[want_rule] or nil, what .. ": rule")
      T.eq(d.matched + d.unmatched, 1, what .. ": matched + unmatched")
      for _, k in ipairs(causes) do
        T.eq(d[k], k == cause and 1 or 0, what .. ": " .. k)
      end
      T.eq(d.parse_errors, cause and 1 or 0, what .. ": parse_errors")
    end
  end)
end

-- The C side checks every prefix length again (src/xdp/xdpclass.c,
-- prefix_of), for source and destination, whatever Lua checked before:
-- a rule struct made by hand reaches it.
T.test("the C side refuses a prefix length out of range", function()
  local ffi = require "ffi"
  local C = ffi.C
  local function commit(family, field, len)
    local r = ffi.new("struct pktsh_xdp_rule[1]")
    r[0].family, r[0].action = family, C.PKTSH_XDP_PASS
    r[0].flags = field == "src_len" and C.PKTSH_XDP_F_SRC or C.PKTSH_XDP_F_DST
    r[0][field] = len
    if C.pktsh_xdp_commit(fw.handle, r, 1, C.PKTSH_XDP_LINEAR, 0, fw.errbuf) ~= 0 then
      return require("pktsh.host.errors").message(fw.errbuf)
    end
    return "ok"
  end
  for _, c in ipairs({{4, 33}, {4, -1}, {6, 129}, {6, -1}}) do
    for _, field in ipairs({"src_len", "dst_len"}) do
      T.eq(commit(c[1], field, c[2]), "rule 0: bad prefix length",
           string.format("IPv%d %s %d", c[1], field, c[2]))
    end
  end
  for _, c in ipairs({{4, 0}, {4, 32}, {6, 0}, {6, 128}}) do
    for _, field in ipairs({"src_len", "dst_len"}) do
      T.eq(commit(c[1], field, c[2]), "ok", string.format("IPv%d %s %d", c[1], field, c[2]))
    end
  end
  assert(fw:clear())
end)

fw:close()
T.done()
