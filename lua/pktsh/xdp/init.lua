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
local C = ffi.C
local errors = require "pktsh.host.errors"
local rules = require "pktsh.xdp.rules"

local M = {}

local Fw = {}
Fw.__index = Fw
Fw.__fields = {"add", "rules", "stats", "info", "copies", "clear", "close",
               "engine", "set_engine", "set_default", "test_run", "ifname"}

local Rule = {}
Rule.__index = Rule
Rule.__fields = {"stats", "remove", "spec", "id", "priority"}

local AUTO_LINEAR_MAX = 32     -- engine "auto": linear scan up to this many rules
local NO_RULE = C.PKTSH_XDP_NO_RULE

-- The rule text and table forms (pktsh.xdp.rules), the owner records
-- (pktsh.xdp.owners) and the copies source (pktsh.source.xdpcopies) are
-- modules of their own; these names keep them where users look.
M.protocols, M.check_rule, M.parse_rule_text = rules.protocols, rules.check_rule, rules.parse_rule_text
-- Detaches the programs a dead pktsh left in libxdp's dispatcher (see
-- firewall.lua --cleanup): one record per owner.
function M.cleanup(opts) return require("pktsh.xdp.owners").cleanup(opts) end
-- pktsh.open{xdp = ifname, rules = ..., ...}: the packets the rules copy.
function M.source(spec, opts) return require("pktsh.source.xdpcopies").source(spec, opts) end

local modes = {native = C.PKTSH_XDP_NATIVE, skb = C.PKTSH_XDP_SKB}
local attaches = {link = C.PKTSH_XDP_LINK, dispatcher = C.PKTSH_XDP_DISPATCHER}
local engines = {auto = true, linear = C.PKTSH_XDP_LINEAR, classifier = C.PKTSH_XDP_CLASSIFIER}
local engine_names = {[tonumber(C.PKTSH_XDP_LINEAR)] = "linear",
                      [tonumber(C.PKTSH_XDP_CLASSIFIER)] = "classifier"}
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

-- What the rule set is: ifname, mode, attach, engine, rules, default...
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

-- The engine in use: "linear" or "classifier".
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

local xdp_actions = {[C.PKTSH_XDP_ABORTED] = "aborted", [C.PKTSH_XDP_DROP] = "drop",
                     [C.PKTSH_XDP_PASS] = "pass", [C.PKTSH_XDP_TX] = "tx",
                     [C.PKTSH_XDP_REDIRECT] = "redirect"}

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

-- The packets the rules copy, as a source (pktsh.source.xdpcopies).
function Fw:copies(opts)
  errors.argcheck(opts == nil or type(opts) == "table", 1, "copies", "table or nil")
  local ok, err = closed_check(self)
  if not ok then return nil, err end
  return require("pktsh.source.xdpcopies").open(self, opts)
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


do
  local repl = require "pktsh.host.repl"
  repl.doc(M, help_xdp)
  repl.doc("xdp", help_xdp)
  repl.doc(M.source, help_xdp)
  repl.doc(M.cleanup, help_xdp)
  repl.doc(Fw, help_xdp)
end

M.Fw, M.Rule = Fw, Rule
return setmetatable(M, {__call = function(_, ...) return M.open(...) end})
