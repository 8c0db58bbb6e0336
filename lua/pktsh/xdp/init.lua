-- xdp.lua - XDP rules on an interface (DESIGN.md, "Rules (XDP)").
--
--   local fw = assert(pktsh.xdp("eth0", {mode = "native"}))
--   local r = assert(fw:add{proto = "udp", src = "198.18.0.0/15", dport = 53,
--                           action = "drop", copy = 256})
--   r:stats()    fw:rules()    fw:stats()    r:remove()    fw:close()
--   for p in fw:copies():packets() do ... end
--
-- This module owns the rule list: it validates rules, keeps them in
-- match order (priority, lower first, then the order they were added)
-- and hands the whole set to the C host, which installs it atomically
-- (src/xdpclass.c). Counters live in the kernel, per rule and per CPU.
local ffi = require "ffi"
local bit = require "bit"
local C = ffi.C
local errors = require "pktsh.host.errors"
local Source = require("pktsh.source").Source

local M = {}

local Fw = {}
Fw.__index = Fw
Fw.__fields = {"add", "rules", "stats", "info", "copies", "clear", "close",
               "engine", "set_engine", "set_default", "test_run", "ifname"}

local Rule = {}
Rule.__index = Rule
Rule.__fields = {"stats", "remove", "spec", "id", "priority"}

local AUTO_LINEAR_MAX = 32     -- engine "auto": linear scan up to this many rules
local NO_RULE = 0xffffffff
local COPY_WHOLE = 0xffffffff
local POLL_MS = 100

M.protocols = {icmp = 1, igmp = 2, ipip = 4, tcp = 6, udp = 17, ipv6 = 41,
               gre = 47, esp = 50, ah = 51, icmpv6 = 58, icmp6 = 58,
               sctp = 132, udplite = 136}
local PORT_PROTOS = {[6] = true, [17] = true, [132] = true, [136] = true}

local modes = {native = C.PKTSH_XDP_NATIVE, skb = C.PKTSH_XDP_SKB}
local attaches = {link = C.PKTSH_XDP_LINK, dispatcher = C.PKTSH_XDP_DISPATCHER}
local engines = {auto = true, linear = C.PKTSH_XDP_LINEAR, classifier = C.PKTSH_XDP_CLASSIFIER}
local engine_names = {[tonumber(C.PKTSH_XDP_LINEAR)] = "linear",
                      [tonumber(C.PKTSH_XDP_CLASSIFIER)] = "classifier"}
local actions = {pass = true, drop = true, redirect = true}
local rule_keys = {proto = true, src = true, dst = true, sport = true, dport = true,
                   vlan = true, priority = true, action = true, copy = true}

-- --- parsing ----------------------------------------------------------------

-- "a.b.c.d" -> 4-byte string, or nil.
local function parse4(s)
  local a, b, c, d = s:match("^(%d+)%.(%d+)%.(%d+)%.(%d+)$")
  if not a then return nil end
  local t = {tonumber(a), tonumber(b), tonumber(c), tonumber(d)}
  for i = 1, 4 do
    if t[i] > 255 or #select(i, a, b, c, d) > 3 then return nil end
  end
  return string.char(t[1], t[2], t[3], t[4])
end
M.parse4 = parse4

-- RFC 4291 text (with "::" and a trailing dotted quad) -> 16 bytes, or nil.
local function parse6(s)
  if s:find("[^%x:%.]") then return nil end
  local tail4 = ""
  local v4 = s:match(":(%d+%.%d+%.%d+%.%d+)$")
  if v4 then
    tail4 = parse4(v4)
    if not tail4 then return nil end
    s = s:sub(1, #s - #v4) .. "0:0"
  end
  local head, rest = s:match("^(.-)::(.*)$")
  local function groups(part)
    local g = {}
    if part == "" then return g end
    for x in (part .. ":"):gmatch("([^:]*):") do
      if not x:match("^%x%x?%x?%x?$") then return nil end
      g[#g + 1] = tonumber(x, 16)
    end
    return g
  end
  local g
  if head then
    if rest:find("::", 1, true) then return nil end
    local h, r = groups(head), groups(rest)
    if not h or not r or #h + #r > 7 then return nil end
    g = h
    for _ = 1, 8 - #h - #r do g[#g + 1] = 0 end
    for _, v in ipairs(r) do g[#g + 1] = v end
  else
    g = groups(s)
    if not g or #g ~= 8 then return nil end
  end
  local out = {}
  for i = 1, 8 do out[i] = string.char(bit.rshift(g[i], 8), bit.band(g[i], 0xff)) end
  local bytes = table.concat(out)
  if v4 then bytes = bytes:sub(1, 12) .. tail4 end
  return bytes
end
M.parse6 = parse6

-- CIDR text -> family, 16 bytes (IPv4 in the first 4), prefix length.
local function parse_cidr(v, field)
  if type(v) ~= "string" then
    return nil, string.format("%s: expected an address or CIDR string, not %s", field, type(v))
  end
  local addr, len = v:match("^([^/]+)/(%d+)$")
  if not addr then addr = v end
  local b4, b6 = parse4(addr), nil
  if not b4 then b6 = parse6(addr) end
  if not b4 and not b6 then
    return nil, string.format("%s: bad CIDR '%s'", field, v)
  end
  local max = b4 and 32 or 128
  len = len and tonumber(len) or max
  if len > max then
    return nil, string.format("%s: bad CIDR '%s' (prefix length %d > %d)", field, v, len, max)
  end
  if b4 then return 4, b4 .. string.rep("\0", 12), len end
  return 6, b6, len
end

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
    r.family, r.src, r.src_len = parse_cidr(spec.src, "src")
    if not r.family then return nil, r.src end
    r.flags = bit.bor(r.flags, 1)
  end
  if spec.dst ~= nil then
    local fam, b, len = parse_cidr(spec.dst, "dst")
    if not fam then return nil, b end
    if r.family ~= 0 and fam ~= r.family then
      return nil, "dst: address family differs from src"
    end
    r.family, r.dst, r.dst_len = fam, b, len
    r.flags = bit.bor(r.flags, 2)
  end
  if spec.proto ~= nil then
    r.proto, err = parse_proto(spec.proto)
    if not r.proto then return nil, err end
    if r.family == 4 and r.proto == 58 then return nil, "proto: icmpv6 with an IPv4 address" end
    if r.family == 6 and r.proto == 1 then return nil, "proto: icmp (v4) with an IPv6 address; use icmpv6" end
    r.flags = bit.bor(r.flags, 16)
  end
  for i, f in ipairs({"sport", "dport"}) do
    if spec[f] ~= nil then
      local lo, hi = parse_port(spec[f], f)
      if not lo then return nil, hi end
      if r.proto and not PORT_PROTOS[r.proto] then
        return nil, string.format("%s: proto %d has no ports (tcp, udp, sctp, udplite do)", f, r.proto)
      end
      r[f .. "_lo"], r[f .. "_hi"] = lo, hi
      r.flags = bit.bor(r.flags, i == 1 and 4 or 8)
    end
  end
  if spec.vlan ~= nil then
    local v = spec.vlan
    if type(v) == "string" and v:match("^%d+$") then v = tonumber(v) end
    if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v > 4095 then
      return nil, string.format("vlan: bad VLAN id '%s' (0-4095)", tostring(spec.vlan))
    end
    r.vlan = v
    r.flags = bit.bor(r.flags, 32)
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
  elseif c == true then r.copy = COPY_WHOLE
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

-- --- the rule set ------------------------------------------------------------

local function order(a, b)
  if a.priority ~= b.priority then return a.priority < b.priority end
  return a.seq < b.seq
end

local function fill(c, r, id)
  c.id = id
  c.flags = r.flags
  c.family = r.family
  if r.src then ffi.copy(c.src, r.src, 16) end
  if r.dst then ffi.copy(c.dst, r.dst, 16) end
  c.src_len = r.src_len or 0
  c.dst_len = r.dst_len or 0
  c.sport_lo, c.sport_hi = r.sport_lo or 0, r.sport_hi or 0
  c.dport_lo, c.dport_hi = r.dport_lo or 0, r.dport_hi or 0
  c.proto = r.proto or 0
  c.vlan = r.vlan or 0
  c.drop = r.drop and 1 or 0
  c.copy = r.copy
end

function Fw:_engine_for(n)
  local e = self.engine_opt
  if e == "auto" then
    return n <= AUTO_LINEAR_MAX and C.PKTSH_XDP_LINEAR or C.PKTSH_XDP_CLASSIFIER
  end
  return engines[e]
end

-- Installs self.list (sorted) in the kernel.
function Fw:_commit()
  local list = self.list
  table.sort(list, order)
  local n = #list
  local arr = ffi.new("struct pktsh_xdp_rule[?]", n > 0 and n or 1)
  for i, h in ipairs(list) do fill(arr[i - 1], h.r, h.id) end
  if C.pktsh_xdp_commit(self.handle, arr, n, self:_engine_for(n),
                        self.default_drop and 1 or 0, self.errbuf) ~= 0 then
    return nil, errors.message(self.errbuf)
  end
  return true
end

local function closed_check(self)
  if not self.handle then return nil, "XDP rule set is closed" end
  return true
end

-- fw:add(spec) -> rule, or nil, err; fw:add{spec, spec, ...} -> a list of
-- rules, installed together (one switch, fast for thousands of rules).
function Fw:add(spec)
  errors.argcheck(type(spec) == "table", 1, "add", "table")
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local specs, bulk = {spec}, false
  if spec[1] ~= nil then specs, bulk = spec, true end
  local added = {}
  for i, s in ipairs(specs) do
    local r
    r, err = M.check_rule(s)
    if not r then
      for _, h in ipairs(added) do self.free[#self.free + 1] = h.id end
      return nil, bulk and string.format("rule %d: %s", i, err) or err
    end
    local id = table.remove(self.free)
    if not id then
      if self.next_id >= self.max_rules then
        for _, h in ipairs(added) do self.free[#self.free + 1] = h.id end
        return nil, string.format("too many rules (at most %d)", self.max_rules)
      end
      id = self.next_id
      self.next_id = id + 1
    end
    self.seq = self.seq + 1
    local spec_copy = {}
    for k, v in pairs(s) do spec_copy[k] = v end
    added[#added + 1] = setmetatable({fw = self, id = id, r = r, spec = spec_copy,
                                      priority = r.priority, seq = self.seq}, Rule)
  end
  for _, h in ipairs(added) do self.list[#self.list + 1] = h end
  ok, err = self:_commit()
  if not ok then
    -- The commit may have sorted the list: take the new rules out by identity.
    local keep = {}
    local new = {}
    for _, h in ipairs(added) do new[h] = true; self.free[#self.free + 1] = h.id end
    for _, h in ipairs(self.list) do if not new[h] then keep[#keep + 1] = h end end
    self.list = keep
    return nil, err
  end
  for _, h in ipairs(added) do self.byid[h.id] = h end
  if bulk then return added end
  return added[1]
end

local function remove_handles(self, set)
  local keep, removed = {}, {}
  for _, h in ipairs(self.list) do
    if set[h] then removed[#removed + 1] = h else keep[#keep + 1] = h end
  end
  local old = self.list
  self.list = keep
  local ok, err = self:_commit()
  if not ok then self.list = old; return nil, err end
  for _, h in ipairs(removed) do
    h.removed = true
    self.byid[h.id] = nil
    self.free[#self.free + 1] = h.id
  end
  return true
end

-- Removes every rule.
function Fw:clear()
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local set = {}
  for _, h in ipairs(self.list) do set[h] = true end
  return remove_handles(self, set)
end

function Rule:remove()
  if self.removed then return nil, "rule already removed" end
  local ok, err = closed_check(self.fw)
  if not ok then return nil, err end
  return remove_handles(self.fw, {[self] = true})
end

local function counters(fw, id)
  local c = fw.cbuf
  if C.pktsh_xdp_rule_counters(fw.handle, id, c, fw.errbuf) ~= 0 then
    return nil, errors.message(fw.errbuf)
  end
  return {packets = tonumber(c.packets), bytes = tonumber(c.bytes),
          copied = tonumber(c.copied), copy_lost = tonumber(c.copy_lost)}
end

-- {packets=, bytes=, copied=, copy_lost=} since the rule was added.
function Rule:stats()
  if self.removed then return nil, "rule removed" end
  local ok, err = closed_check(self.fw)
  if not ok then return nil, err end
  return counters(self.fw, self.id)
end

-- One line of text, the syntax scripts/firewall.lua reads.
function Rule:__tostring()
  local parts = {}
  for _, k in ipairs({"proto", "src", "dst", "sport", "dport", "vlan", "priority", "action", "copy"}) do
    local v = self.spec[k]
    if v ~= nil then parts[#parts + 1] = k .. "=" .. tostring(v) end
  end
  if self.spec.action == nil then parts[#parts + 1] = "action=pass" end
  return table.concat(parts, ",")
end

-- Every rule in match order, with its counters.
function Fw:rules()
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local out = {}
  for i, h in ipairs(self.list) do
    local t = {}
    for k, v in pairs(h.spec) do t[k] = v end
    t.action = t.action or "pass"
    t.priority = h.priority
    t.id, t.position, t.rule = h.id, i, h
    local c = counters(self, h.id) or {}
    for k, v in pairs(c) do t[k] = v end
    out[i] = t
  end
  return out
end

-- Whole-program counters: packets, bytes, matched, unmatched (took the
-- default), passed, dropped, copied, copy_lost (ring full), wakeups; and
-- the packets not parsed to their end (judged all the same), by cause:
-- truncated_l2, truncated_l3, malformed_l3, truncated_l4,
-- ext_headers_limit, tiny_fragment, fragment_overlap, with parse_errors
-- their sum.
local stat_names = {"packets", "bytes", "parse_errors", "matched", "unmatched",
                    "passed", "dropped", "copied", "copy_lost", "wakeups",
                    "truncated_l2", "truncated_l3", "malformed_l3", "truncated_l4",
                    "ext_headers_limit", "tiny_fragment", "fragment_overlap"}
function Fw:stats()
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local s = ffi.new("struct pktsh_xdp_stats")
  if C.pktsh_xdp_stats(self.handle, s, self.errbuf) ~= 0 then
    return nil, errors.message(self.errbuf)
  end
  local t = {}
  for _, k in ipairs(stat_names) do t[k] = tonumber(s[k]) end
  t.rules = #self.list
  return t
end

function Fw:info()
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local i = ffi.new("struct pktsh_xdp_info")
  C.pktsh_xdp_info(self.handle, i)
  return {ifname = self.ifname, ifindex = i.ifindex, prog_id = i.prog_id,
          mode = i.mode == C.PKTSH_XDP_SKB and "skb" or
                 i.mode == C.PKTSH_XDP_NATIVE and "native" or "unattached",
          attach = i.attach == C.PKTSH_XDP_DISPATCHER and "dispatcher" or
                   i.attach == C.PKTSH_XDP_LINK and "link" or "none",
          engine = engine_names[tonumber(i.engine)], engine_option = self.engine_opt,
          rules = i.nrules, max_rules = i.max_rules, ring_size = i.ring_size,
          class_words = i.class_words, class_words_used = i.class_words_used,
          copy_max = i.copy_max, note = i.note[0] ~= 0 and ffi.string(i.note) or nil,
          default = self.default_drop and "drop" or "pass"}
end

function Fw:engine()
  local info = self:info()
  return info and info.engine
end

-- "auto" (linear up to a few rules, else the classifier), "linear" or
-- "classifier"; the rule set is reinstalled with it.
function Fw:set_engine(name)
  if not engines[name] then
    return nil, string.format("engine must be \"auto\", \"linear\" or \"classifier\", not %s", tostring(name))
  end
  local old = self.engine_opt
  self.engine_opt = name
  local ok, err = self:_commit()
  if not ok then self.engine_opt = old; return nil, err end
  return true
end

-- The action for packets no rule matches: "pass" (the default) or "drop".
function Fw:set_default(action)
  if action ~= "pass" and action ~= "drop" then
    return nil, string.format("default must be \"pass\" or \"drop\", not %s", tostring(action))
  end
  local old = self.default_drop
  self.default_drop = action == "drop"
  local ok, err = self:_commit()
  if not ok then self.default_drop = old; return nil, err end
  return true
end

local xdp_actions = {[0] = "aborted", [1] = "drop", [2] = "pass", [3] = "tx", [4] = "redirect"}

-- Runs the program on one frame with BPF_PROG_TEST_RUN (no network):
-- {action = "pass"|"drop"|..., rule = the matching rule or nil,
--  position = its place in match order, ns = average ns per run}.
-- While the program is attached, live traffic may race for `rule`.
function Fw:test_run(frame, rep)
  errors.argcheck(type(frame) == "string", 1, "test_run", "string")
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  local t = self.tbuf
  if C.pktsh_xdp_test_run(self.handle, frame, #frame, rep or 1, t, self.errbuf) ~= 0 then
    return nil, errors.message(self.errbuf)
  end
  local id = tonumber(t.rule_id)
  return {action = xdp_actions[tonumber(t.action)] or tonumber(t.action),
          rule = id ~= NO_RULE and self.byid[id] or nil,
          position = id ~= NO_RULE and tonumber(t.position) + 1 or nil,
          ns = tonumber(t.ns_per_run), ["repeat"] = tonumber(t["repeat"])}
end

-- --- copies: a source over the ring buffer ------------------------------------

local Copies = setmetatable({}, {__index = Source})
Copies.__index = Copies
Copies.__tostring = Source.__tostring
Copies.__fields = Source.__fields

local function fetch_copies(self)
  return C.pktsh_xdp_copies_next(self.fw.handle, self.box, POLL_MS, self.errbuf)
end

function Copies:_next()
  if not self.fw.handle then return nil end
  return self:_wait(fetch_copies)
end

function Copies:_release()
  if self.fw.handle then C.pktsh_xdp_copies_release(self.fw.handle) end
end

function Copies:_stats()
  if self.fw.handle then C.pktsh_xdp_copies_stats(self.fw.handle, self.statbuf) end
  return self.statbuf
end

function Copies:_close()
  local fw = self.fw
  if fw.handle then C.pktsh_xdp_copies_release(fw.handle) end
  if fw.copies_src == self then fw.copies_src = nil end
  if self.owns_fw then fw:close() end       -- pktsh.open{xdp = ...}
end

-- The packets rules copy, as a source ({duration = seconds} to stop on
-- its own). One reader per rule set: the ring has one consumer position.
function Fw:copies(opts)
  errors.argcheck(opts == nil or type(opts) == "table", 1, "copies", "table or nil")
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "duration" then return nil, string.format("unknown option '%s' for copies", tostring(k)) end
  end
  if self.copies_src and not self.copies_src.closed then
    return nil, "this rule set's copies are already being read (close that source first)"
  end
  local info = self:info()
  local src = setmetatable({
    fw = self, box = ffi.new("struct pktsh_batch *[1]"), errbuf = errors.new(),
    statbuf = ffi.new("struct pktsh_src_stats"),
    name = "xdp:" .. (self.ifname or "-"), kind = "xdp",
    linktype = 1, snaplen = info.copy_max, ifindex = info.ifindex,
  }, Copies)
  if opts.duration then src.deadline = C.pktsh_mono_ns() + opts.duration * 1e9 end
  self.copies_src = src
  return src
end

-- Detaches the program at once and frees everything.
function Fw:close()
  if not self.handle then return end
  local src = self.copies_src
  self.copies_src = nil
  if src then src:close() end     -- a source that owns us closes us first
  local h = self.handle
  if not h then return end
  self.handle = nil
  ffi.gc(h, nil)
  C.pktsh_xdp_close(h)
  for _, r in ipairs(self.list) do r.removed = true end
end

function Fw:__tostring()
  if not self.handle then return "pktsh xdp (closed)" end
  local i = self:info()
  return string.format("pktsh xdp on %s (%s, %s, %d rules, %s engine)", i.ifname or "-",
                       i.mode, i.attach, i.rules, i.engine or "?")
end

-- --- opening ------------------------------------------------------------------

local known = {mode = true, engine = true, attach = true, default = true, ring_size = true,
               class_words = true, wakeup_every = true}

local function choice(t, v, what, default)
  if v == nil then return default end
  if t[v] == nil then
    local names = {}
    for k in pairs(t) do names[#names + 1] = '"' .. k .. '"' end
    table.sort(names)
    return nil, string.format("%s must be one of %s, not %s", what, table.concat(names, ", "), tostring(v))
  end
  return v
end

-- pktsh.xdp(ifname [, opts]) -> rule set, or nil, err. ifname nil loads
-- the program without attaching it (for fw:test_run).
function M.open(ifname, opts)
  errors.argcheck(ifname == nil or type(ifname) == "string", 1, "xdp", "string or nil")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "xdp", "table or nil")
  opts = opts or {}
  for k in pairs(opts) do
    if not known[k] then return nil, string.format("unknown option '%s' for xdp", tostring(k)) end
  end
  local mode, err = choice(modes, opts.mode, "mode", "native")
  if not mode then return nil, err end
  local attach
  attach, err = choice(attaches, opts.attach, "attach", "link")
  if not attach then return nil, err end
  if attach == "dispatcher" and ifname and require("pktsh.host.privs").pending() then
    return nil, 'attach = "dispatcher" cannot be used with -Z: once root is given up, ' ..
                'pktsh could not detach the program from the dispatcher; use attach = "link"'
  end
  local engine
  engine, err = choice(engines, opts.engine, "engine", "auto")
  if not engine then return nil, err end
  local default
  default, err = choice({pass = true, drop = true}, opts.default, "default", "pass")
  if not default then return nil, err end
  for _, k in ipairs({"ring_size", "class_words", "wakeup_every"}) do
    local v = opts[k]
    if v ~= nil and (type(v) ~= "number" or v % 1 ~= 0 or v <= 0 or v >= 2^32) then
      return nil, string.format("%s must be a positive whole number", k)
    end
  end
  local o = ffi.new("struct pktsh_xdp_opts")
  o.mode = ifname and modes[mode] or C.PKTSH_XDP_UNATTACHED
  o.attach = attaches[attach]
  o.ring_size = opts.ring_size or 0
  o.class_words = opts.class_words or 0
  o.wakeup_every = opts.wakeup_every or 0
  local e = errors.new()
  local out = ffi.new("struct pktsh_xdp *[1]")
  if C.pktsh_xdp_open(out, ifname, o, e) ~= 0 then
    return nil, errors.message(e)
  end
  local info = ffi.new("struct pktsh_xdp_info")
  C.pktsh_xdp_info(out[0], info)
  local fw = setmetatable({
    handle = ffi.gc(out[0], C.pktsh_xdp_close), errbuf = e,
    cbuf = ffi.new("struct pktsh_xdp_counters"), tbuf = ffi.new("struct pktsh_xdp_test"),
    ifname = ifname, engine_opt = engine, default_drop = default == "drop",
    list = {}, byid = {}, free = {}, next_id = 0, seq = 0,
    max_rules = tonumber(info.max_rules),
  }, Fw)
  local ok
  ok, err = fw:_commit()
  if not ok then fw:close(); return nil, err end
  if attach == "dispatcher" and info.attach ~= C.PKTSH_XDP_DISPATCHER and info.note[0] ~= 0 then
    io.stderr:write("pktsh: ", ffi.string(info.note), "\n")
  end
  if not ifname then return fw end       -- loaded for test_run: not a source
  return require("pktsh.host.privs").drop(fw)
end

-- --- owner records: programs left by a dead pktsh ----------------------------

local owner_actions = {[0] = "kept", "detached", "gone", "failed"}

local function owners(clean)
  local e = errors.new()
  local n = ffi.new("uint32_t[1]")
  if C.pktsh_xdp_owners(nil, 0, n, 0, e) ~= 0 then return nil, errors.message(e) end
  local cap = n[0] + 16         -- records may appear meanwhile
  local buf = ffi.new("struct pktsh_xdp_owner[?]", cap)
  if C.pktsh_xdp_owners(buf, cap, n, clean and 1 or 0, e) ~= 0 then
    return nil, errors.message(e)
  end
  local out = {}
  for i = 0, math.min(n[0], cap) - 1 do
    local o = buf[i]
    out[#out + 1] = {pid = o.pid, alive = o.alive ~= 0, here = o.here ~= 0,
                     start = tonumber(o.start), netns = tonumber(o.netns),
                     ifindex = o.ifindex, prog_id = o.prog_id, name = ffi.string(o.name),
                     action = owner_actions[tonumber(o.action)],
                     note = o.note[0] ~= 0 and ffi.string(o.note) or nil}
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return out
end

-- Programs attached through libxdp's dispatcher outlive a killed pktsh;
-- each has an owner record (<bpffs>/pktsh/, bpffs being $LIBXDP_BPFFS or
-- /sys/fs/bpf). cleanup() detaches those whose owner has died and removes
-- their records ({dry_run = true}: only lists them). Every record comes
-- back as {pid=, alive=, here=, ifindex=, prog_id=, action=, note=}:
-- action "kept" (owner alive, another network namespace, or a dry run),
-- "detached", "gone" (no longer attached) or "failed" (note says why).
function M.cleanup(opts)
  errors.argcheck(opts == nil or type(opts) == "table", 1, "cleanup", "table or nil")
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "dry_run" then return nil, string.format("unknown option '%s' for cleanup", tostring(k)) end
  end
  return owners(not opts.dry_run)
end

-- Records this process as the owner of the rule set's program on ifname,
-- as an attach through the dispatcher does (for tests of cleanup()).
function Fw:_own(ifname)
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  if C.pktsh_xdp_own(self.handle, ifname, self.errbuf) ~= 0 then
    return nil, errors.message(self.errbuf)
  end
  return true
end

-- --- pktsh.open{xdp = ifname, ...}: the copies as a source ----------------------

local source_keys = {xdp = true, rules = true, snaplen = true, duration = true}
for k in pairs(known) do source_keys[k] = true end

-- pktsh.open{xdp = ifname [, rules = {...}] [, snaplen = N] [, duration = S],
-- and pktsh.xdp's options} -> a source of the packets the XDP program
-- copies, owning its rule set (src.fw): closing the source detaches it.
-- Without rules every packet is copied and passed (as xdpdump does); a
-- rule (a table as fw:add takes, or "key=value,..." text) without `copy`
-- copies the packets it matches, snaplen bytes of each (default: whole,
-- up to 4096). opts, if given, adds to spec.
function M.source(spec, opts)
  errors.argcheck(type(spec) == "table" and type(spec.xdp) == "string", 1, "open",
                  "string or {xdp = ifname, ...}")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "open", "table or nil")
  local o = {}
  for k, v in pairs(spec) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if k == "filter" then
      return nil, "filter: an XDP source is filtered by its rules (rules = {...}), " ..
                  "not by a tcpdump expression"
    elseif k == "workers" then
      return nil, "workers: an XDP source has one reader (its copy ring); use a " ..
                  "live interface for fanout workers"
    elseif not source_keys[k] then
      return nil, string.format("unknown option '%s' for an XDP source", k)
    end
  end
  local copy = true
  if o.snaplen ~= nil then
    if type(o.snaplen) ~= "number" or o.snaplen % 1 ~= 0 or o.snaplen < 1 then
      return nil, "snaplen must be a whole number of bytes (1 or more)"
    end
    copy = o.snaplen < 65535 and o.snaplen or true
  end
  if o.duration ~= nil and (type(o.duration) ~= "number" or o.duration < 0) then
    return nil, "duration must be a number of seconds"
  end
  local specs = {}
  if o.rules == nil then
    specs[1] = {copy = copy}
  elseif type(o.rules) ~= "table" then
    return nil, "rules must be a list of rules"
  else
    for i, r in ipairs(o.rules) do
      local t = r
      if type(r) == "string" then
        local err
        t, err = M.parse_rule_text(r)
        if not t then return nil, string.format("rule %d: %s", i, err) end
      elseif type(r) ~= "table" then
        return nil, string.format("rule %d: a table or key=value text, not %s", i, type(r))
      end
      local c = {}
      for k, v in pairs(t) do c[k] = v end
      if c.copy == nil then c.copy = copy end
      specs[i] = c
    end
    if #specs == 0 then return nil, "rules is empty (leave it out to copy every packet)" end
  end
  local xo = {}
  for k in pairs(known) do xo[k] = o[k] end
  local fw, err = M.open(o.xdp, xo)
  if not fw then return nil, err end
  local ok
  ok, err = fw:add(specs)
  if not ok then fw:close(); return nil, err end
  local src
  src, err = fw:copies{duration = o.duration}
  if not src then fw:close(); return nil, err end
  src.owns_fw = true
  return src
end

-- --- help ----------------------------------------------------------------------

local help_xdp = [[
pktsh.xdp(ifname [, opts]) -> an XDP rule set on ifname, or nil, err
  opts: mode ("native" | "skb"), attach ("link" | "dispatcher"), engine
        ("auto" | "linear" | "classifier"), default ("pass" | "drop"),
        ring_size, class_words, wakeup_every
  fw:add{proto=, src=, dst=, sport=, dport=, vlan=, priority=, action=, copy=}
                      -> a rule (fw:add{rule, rule, ...}: a list of rules)
  r:stats() r:remove() fw:rules() fw:stats() fw:info() fw:set_engine(e)
  fw:set_default(a) fw:test_run(frame [, repeat]) fw:copies() fw:close()
  fw:stats(): packets bytes matched unmatched passed dropped copied copy_lost
        wakeups; packets not parsed to their end (still judged: pass rules
        naming a field that cannot be read do not match, drop rules do) by
        cause: truncated_l2 truncated_l3 malformed_l3 truncated_l4
        ext_headers_limit tiny_fragment fragment_overlap (sum: parse_errors)
pktsh.open{xdp = ifname [, rules = {...}] [, snaplen = N] [, duration = S], ...}
                      -> a source of what the rules copy; without rules every
                         packet is copied and passed (as xdpdump does)
pktsh.xdp.cleanup([{dry_run = true}])
                      -> detaches programs a dead pktsh left in libxdp's
                         dispatcher; one table per owner record
pktsh.xdp(nil, opts)  loads the program unattached (for fw:test_run)]]

local help_source = [[
an XDP source: the packets XDP rules copy (pktsh.open{xdp = ifname, ...} or fw:copies())
  src:next() src:each(fn) src:packets() src:stats() src:close()
  src.fw          the rule set (pktsh.open{xdp=...} owns it: closing the
                  source detaches the program)
  pkt.tsrc == 3 (xdp); timestamps are the kernel's, on the wall clock
  src:stats().drops: copies lost because the ring was full]]

do
  local repl = require "pktsh.host.repl"
  repl.doc(M, help_xdp)
  repl.doc("xdp", help_xdp)
  repl.doc(M.source, help_xdp)
  repl.doc(M.cleanup, help_xdp)
  repl.doc(Fw, help_xdp)
  repl.doc(Copies, help_source)
end

M.Fw, M.Rule, M.Copies = Fw, Rule, Copies
return setmetatable(M, {__call = function(_, ...) return M.open(...) end})
