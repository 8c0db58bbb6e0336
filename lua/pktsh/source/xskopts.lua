-- xskopts.lua - opening an AF_XDP source (module pktsh.source.xskopts):
-- the options of pktsh.open{xsk = ...} checked, then the rule sets, the
-- UMEM(s) and one socket per queue made; pktsh.source.xsk is the source.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local format = string.format

local counts = {"frame_size", "frames", "rx_size", "tx_size", "fill_size", "comp_size",
                "batch", "busy_poll", "busy_poll_budget", "linger_us", "tx_timeout_ms"}
local known = {xsk = true, rules = true, queues = true, mode = true, attach = true,
               engine = true, default = true, shared_umem = true, zerocopy = true,
               need_wakeup = true, prefer_busy_poll = true, duration = true, guard = true,
               workers = true, merge = true, stamp = true}
for _, k in ipairs(counts) do known[k] = true end

local zerocopies = {auto = C.PKTSH_XSK_ZC_AUTO, [true] = C.PKTSH_XSK_ZC_ON,
                    [false] = C.PKTSH_XSK_ZC_OFF}

local stamps = {batch = C.PKTSH_XSK_STAMP_BATCH, xdp = C.PKTSH_XSK_STAMP_XDP}

local function is_fw(x)
  return type(x) == "table" and getmetatable(x) == require("pktsh.xdp").Fw
end

local function check_counts(o)
  for _, k in ipairs(counts) do
    local v = o[k]
    if v ~= nil and (type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v >= 2^31) then
      return nil, format("%s must be a whole number, not %s", k, tostring(v))
    end
  end
  return true
end

local function check_queues(q)
  if q == nil then return true end
  if type(q) ~= "table" or #q == 0 then return nil, "queues must be a list of rx queue numbers" end
  local seen = {}
  for _, v in ipairs(q) do
    if type(v) ~= "number" or v % 1 ~= 0 or v < 0 or v >= 2^31 then
      return nil, format("queues: %s is not a queue number", tostring(v))
    end
    if seen[v] then return nil, format("queues: %d twice", v) end
    seen[v] = true
  end
  return true
end

-- The interfaces, as a list.
local function ifnames_of(x)
  if type(x) == "string" then return {x} end
  if #x == 0 then return nil, "xsk: an interface name or a list of them" end
  local seen = {}
  for _, n in ipairs(x) do
    if type(n) ~= "string" then return nil, "xsk: interface names are strings" end
    if seen[n] then return nil, format("xsk: '%s' twice", n) end
    seen[n] = true
  end
  return x
end

-- What feeds ifname: "own" (a redirect-everything rule set of pktsh's),
-- false (nothing: the sockets only send), a rule set, or a list of rule
-- specs for a rule set of pktsh's.
local function rules_for(r, ifname)
  if r == nil then return "own" end
  if r == false then return false end
  if is_fw(r) then return r.ifname == ifname and r or "own" end
  if type(r) ~= "table" then
    return nil, "rules must be a rule set (pktsh.xdp), a list of rules, false, or a table by interface"
  end
  if r[1] == nil and next(r) ~= nil then return rules_for(r[ifname], ifname) end
  if is_fw(r[1]) then
    for _, fw in ipairs(r) do if fw.ifname == ifname then return fw end end
    return "own"
  end
  if #r == 0 then return nil, "rules is empty (leave it out to redirect every packet)" end
  return r
end

-- Checks spec (and opts, which adds to it): a plain table of what to
-- open, or nil, err.
function M.parse(spec, opts)
  local o, keys = require("pktsh.source").options(spec, opts)
  for _, k in ipairs(keys) do
    if k == "filter" then
      return nil, "filter: an AF_XDP source is filtered by its rules (rules = {...}), " ..
                  "not by a tcpdump expression"
    elseif not known[k] then
      return nil, format("unknown option '%s' for an AF_XDP source", k)
    end
  end
  local ok, err = check_counts(o)
  if not ok then return nil, err end
  ok, err = check_queues(o.queues)
  if not ok then return nil, err end
  if zerocopies[o.zerocopy == nil and "auto" or o.zerocopy] == nil then
    return nil, format('zerocopy must be "auto", true or false, not %s', tostring(o.zerocopy))
  end
  if stamps[o.stamp == nil and "batch" or o.stamp] == nil then
    return nil, format('stamp must be "batch" or "xdp", not %s', tostring(o.stamp))
  end
  if o.duration ~= nil and (type(o.duration) ~= "number" or o.duration < 0) then
    return nil, "duration must be a number of seconds"
  end
  if o.workers ~= nil and (type(o.workers) ~= "number" or o.workers < 1 or o.workers % 1 ~= 0) then
    return nil, "workers must be a whole number from 1"
  end
  o.ifnames, err = ifnames_of(o.xsk)
  if not o.ifnames then return nil, err end
  o.feed = {}
  for _, n in ipairs(o.ifnames) do
    local f
    f, err = rules_for(o.rules, n)
    if f == nil then return nil, err end
    o.feed[n] = f
  end
  o.parallel = {workers = o.workers, merge = o.merge}
  return o
end

-- struct pktsh_xsk_opts from the checked options.
local function c_opts(o)
  local x = ffi.new("struct pktsh_xsk_opts")
  for _, k in ipairs({"frame_size", "frames", "rx_size", "tx_size", "fill_size", "comp_size", "batch"}) do
    x[k] = o[k] or 0
  end
  x.zerocopy = zerocopies[o.zerocopy == nil and "auto" or o.zerocopy]
  x.need_wakeup = o.need_wakeup == false and 0 or 1
  x.busy_poll_us = o.busy_poll or 0
  x.busy_poll_budget = o.busy_poll_budget or 0
  x.prefer_busy_poll = o.prefer_busy_poll and 1 or 0
  x.linger_us = o.linger_us or 0
  x.guard = o.guard and 1 or 0
  x.stamp = stamps[o.stamp or "batch"]
  return x
end

-- A rule set of pktsh's own on ifname with specs (default: redirect
-- every packet); a rule without an action redirects.
local function own_rules(ifname, specs, o)
  local fw, err = require("pktsh.xdp").open(ifname, {mode = o.mode, attach = o.attach,
                                                     engine = o.engine, default = o.default})
  if not fw then return nil, err end
  local list = {}
  for i, r in ipairs(specs == "own" and {{}} or specs) do
    local t = r
    if type(r) == "string" then
      t, err = require("pktsh.xdp.rules").parse_rule_text(r)
      if not t then fw:close(); return nil, format("rule %d: %s", i, err) end
    elseif type(r) ~= "table" then
      fw:close()
      return nil, format("rule %d: a table or key=value text, not %s", i, type(r))
    end
    local c = {}
    for k, v in pairs(t) do c[k] = v end
    c.action = c.action or "redirect"
    list[i] = c
  end
  local ok
  ok, err = fw:add(list)
  if not ok then fw:close(); return nil, err end
  return fw
end

-- Everything made so far, closed (after a failure).
local function undo(made)
  for i = #made.socks, 1, -1 do C.pktsh_xsk_close(made.socks[i].handle) end
  for _, u in ipairs(made.umems) do C.pktsh_xsk_umem_release(u) end
  for _, fw in ipairs(made.own_fws) do fw:close() end
end

-- The queues to open on each interface: {ifname, queue} pairs.
local function plan(o)
  local pairs_, e = {}, errors.new()
  local n = ffi.new("uint32_t[1]")
  for _, ifname in ipairs(o.ifnames) do
    if C.pktsh_xsk_queues(ifname, n, e) ~= 0 then return nil, errors.message(e) end
    local qs = o.queues
    if not qs then
      qs = {}
      for q = 0, n[0] - 1 do qs[#qs + 1] = q end
    end
    for _, q in ipairs(qs) do pairs_[#pairs_ + 1] = {ifname, q} end
  end
  return pairs_
end

-- The fill and RX rings' default entries for an interface with n sockets:
-- room for the frames that arrive while the consumer is away (a ring of
-- 16384 lasts 4 ms at 4 Mpps), within 32768 frames (64 MiB of UMEM) an
-- interface, as RSS spreads its traffic over its queues, and no fewer
-- than 4096 a socket. The README's "Loss and ring sizes" says why.
local RING_MAX, RING_MIN, RING_BUDGET = 16384, 4096, 32768
function M.default_ring(n)
  local r = RING_MAX
  while r > RING_MIN and r * n > RING_BUDGET do r = r / 2 end
  return r
end

-- Sets the ring sizes left out: one given sets the other, else by the
-- most sockets any interface has.
local function default_rings(o, x, want)
  local per, most = {}, 1
  for _, w in ipairs(want) do
    per[w[1]] = (per[w[1]] or 0) + 1
    most = math.max(most, per[w[1]])
  end
  local r = o.fill_size or o.rx_size or M.default_ring(most)
  x.rx_size = o.rx_size or r
  x.fill_size = o.fill_size or r
end

local function open_sockets(o, made, want, fws)
  local x = c_opts(o)
  default_rings(o, x, want)
  local e = errors.new()
  local out = ffi.new("struct pktsh_xsk *[1]")
  local uout = ffi.new("struct pktsh_xsk_umem *[1]")
  local umem
  for i, w in ipairs(want) do
    if not umem or o.shared_umem == false then
      if C.pktsh_xsk_umem_new(uout, o.shared_umem == false and 1 or #want, x, e) ~= 0 then
        return nil, errors.message(e)
      end
      umem = uout[0]
      made.umems[#made.umems + 1] = umem
    end
    local fw = fws[w[1]]
    if C.pktsh_xsk_open(out, w[1], w[2], umem, fw and fw.handle or nil, x, e) ~= 0 then
      return nil, errors.message(e)
    end
    made.socks[i] = {handle = out[0], ifname = w[1], queue = w[2]}
  end
  return true
end

-- Opens what o (from parse) asks for; wrap(list, extra) makes the source.
function M.build(o, wrap)
  local made = {socks = {}, umems = {}, own_fws = {}}
  local fws = {}
  for _, ifname in ipairs(o.ifnames) do
    local f = o.feed[ifname]
    if f == "own" or (f and not is_fw(f)) then
      local fw, err = own_rules(ifname, f, o)
      if not fw then undo(made); return nil, err end
      made.own_fws[#made.own_fws + 1] = fw
      f = fw
    end
    fws[ifname] = f or nil
  end
  local want, err = plan(o)
  local ok = want ~= nil
  if ok then ok, err = open_sockets(o, made, want, fws) end
  if not ok then undo(made); return nil, err end
  local info = ffi.new("struct pktsh_xsk_info")
  for _, s in ipairs(made.socks) do
    C.pktsh_xsk_info(s.handle, info)
    s.ifindex = info.ifindex
    s.handle = ffi.gc(s.handle, C.pktsh_xsk_close)
  end
  for i, u in ipairs(made.umems) do made.umems[i] = ffi.gc(u, C.pktsh_xsk_umem_release) end
  local src = wrap(made.socks, {owned = true, umems = made.umems, own_fws = made.own_fws,
                                rules = fws, duration = o.duration, popts = o.parallel,
                                tx_timeout_ms = o.tx_timeout_ms or 1000})
  return require("pktsh.host.privs").drop(src)
end

return M
