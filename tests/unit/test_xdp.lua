-- XDP rules without a network: rule validation, and both matching engines
-- against a reference matcher written here, on random rule sets and
-- random packets run through the program with BPF_PROG_TEST_RUN.
local T = require "t"
local bit = require "bit"
local xdp = require "pktsh.xdp"
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
  {{action = "redirect"}, "^action: redirect .*not implemented yet"},
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
  T.eq(xdp.parse6("::"), string.rep("\0", 16), "::")
  T.eq(xdp.parse6("2001:2::1"):byte(16), 1, "2001:2::1")
  T.eq(xdp.parse6("1:2:3:4:5:6:7:8:9"), nil, "nine groups")
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
  T.skip("parse failures pass (fail open)", why)
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

local function ref_match(r, p)
  if r.src or r.dst then
    if r.family ~= p.family then return false end
    if r.src and not prefix_ok(p.src, r.src, r.src_len) then return false end
    if r.dst and not prefix_ok(p.dst, r.dst, r.dst_len) then return false end
  end
  if r.proto and (p.family == 0 or p.proto ~= r.proto) then return false end
  if (r.sport_lo or r.dport_lo) and not p.ports then return false end
  if r.sport_lo and (p.sport < r.sport_lo or p.sport > r.sport_hi) then return false end
  if r.dport_lo and (p.dport < r.dport_lo or p.dport > r.dport_hi) then return false end
  if r.vlan and p.vlan ~= r.vlan then return false end
  return true
end

local function ref_first(handles, p)
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
  s.action = pick({"pass", "drop"})
  if rnd(3) == 1 then s.priority = rnd(5) end
  return s
end

local function rand_packet()
  local kind = rnd(7)
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
  else -- ARP-like: not IP
    frame = b.eth({vlan = o.vlan}, 0x0806) .. string.rep("\0", 28)
    p.family = 0; p.ports = false
    return frame, p
  end
  p.family = v6 and 6 or 4
  p.src = v6 and xdp.parse6(o.src) or (xdp.parse4(o.src) .. string.rep("\0", 12))
  p.dst = v6 and xdp.parse6(o.dst) or (xdp.parse4(o.dst) .. string.rep("\0", 12))
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
      local pos, h = ref_first(hs, f[2])
      local want_action = h and (h.r.drop and "drop" or "pass") or "pass"
      for _, engine in ipairs({"linear", "classifier"}) do
        local t = got[engine][i]
        if t.position ~= pos or t.action ~= want_action then
          error(string.format("set %d (%d rules), packet %d, %s: got rule %s (%s), want %s (%s)\n  rule got: %s\n  rule want: %s",
            set, n, i, engine, tostring(t.position), t.action, tostring(pos), want_action,
            t.rule and tostring(t.rule) or "-", h and tostring(h) or "-"))
        end
        checked = checked + 1
      end
    end
  end
  T.ok(checked >= 3000, "checked " .. checked)
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
end)

T.test("parse failures pass (fail open)", function()
  assert(fw:clear())
  assert(fw:set_default("drop"))
  local before = assert(fw:stats()).parse_errors
  local frame = b.udp4{dport = 53}
  for _, cut in ipairs({20, 34 + 4, 14 + 2}) do   -- short IPv4, short UDP
    T.eq(assert(fw:test_run(frame:sub(1, cut))).action, "pass", "cut at " .. cut)
  end
  local v6 = b.udp6{dport = 53}
  T.eq(assert(fw:test_run(v6:sub(1, 54 + 3))).action, "pass", "short v6 udp")
  T.eq(assert(fw:stats()).parse_errors - before, 4, "counted")
  T.eq(assert(fw:test_run(frame)).action, "drop", "a whole packet takes the default")
  assert(fw:set_default("pass"))
end)

fw:close()
T.done()
