-- live.lua - live capture on an interface (AF_PACKET TPACKET_V3 ring) as
-- a source. A batch is one block of the ring; it goes back to the kernel
-- when the next batch is asked for.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local bpf = require "pktsh.source.bpf"
local source = require "pktsh.source"

local M = {}
local Live = source.kind()

local directions = {both = C.PKTSH_DIR_BOTH, ["in"] = C.PKTSH_DIR_IN, out = C.PKTSH_DIR_OUT}
local tstamps = {sw = C.PKTSH_TSTAMP_SW, hw = C.PKTSH_TSTAMP_HW, both = C.PKTSH_TSTAMP_BOTH}
local tstamp_names = {[C.PKTSH_TSTAMP_SW] = "sw", [C.PKTSH_TSTAMP_HW] = "hw",
                      [C.PKTSH_TSTAMP_BOTH] = "both"}
local hwclocks = {raw = C.PKTSH_HWCLOCK_RAW, sys = C.PKTSH_HWCLOCK_SYS}
local fanouts = {hash = C.PKTSH_FANOUT_HASH, lb = C.PKTSH_FANOUT_LB,
                 cpu = C.PKTSH_FANOUT_CPU, rollover = C.PKTSH_FANOUT_ROLLOVER,
                 qm = C.PKTSH_FANOUT_QM}
M.fanouts = fanouts

local known = {filter = true, snaplen = true, promisc = true, block_size = true,
               block_count = true, block_timeout_ms = true, immediate = true,
               direction = true, tstamp = true, duration = true, fanout = true,
               fanout_group = true, defrag = true, workers = true, guard = true,
               hwclock = true, lock_filter = true}

local function choice(t, v, what, default)
  if v == nil then return default end
  local x = t[v]
  if x == nil then
    local names = {}
    for k in pairs(t) do names[#names + 1] = '"' .. k .. '"' end
    table.sort(names)
    return nil, string.format("%s must be one of %s, not %s", what,
                              table.concat(names, ", "), tostring(v))
  end
  return x
end

local function count_opt(o, name)
  local v = o[name]
  if v ~= nil and (type(v) ~= "number" or v < 0 or v % 1 ~= 0 or v >= 2^32) then
    return nil, string.format("%s must be a whole number, not %s", name, tostring(v))
  end
  return v or 0
end

-- A filter program lives as long as the options struct pointing at it.
local anchors = setmetatable({}, {__mode = "k"})

-- struct pktsh_ring_opts from the Lua options, or nil and the reason.
function M.ring_opts(o)
  for k in pairs(o) do
    if not known[k] then return nil, string.format("unknown option '%s'", tostring(k)) end
  end
  local r = ffi.new("struct pktsh_ring_opts")
  for _, name in ipairs({"snaplen", "block_size", "block_count", "block_timeout_ms", "fanout_group"}) do
    local v, err = count_opt(o, name)
    if not v then return nil, err end
    r[name] = v
  end
  local choices = {
    {"direction", directions, o.direction, C.PKTSH_DIR_BOTH},
    {"tstamp", tstamps, o.tstamp, C.PKTSH_TSTAMP_SW},
    {"fanout_mode", fanouts, o.fanout, C.PKTSH_FANOUT_NONE, "fanout"},
    {"hwclock", hwclocks, o.hwclock, C.PKTSH_HWCLOCK_RAW},
  }
  for _, c in ipairs(choices) do
    local v, err = choice(c[2], c[3], c[5] or c[1], c[4])
    if not v then return nil, err end
    r[c[1]] = v
  end
  local prog, n = bpf.program(o.filter)
  if not prog and n then return nil, n end
  if prog then
    r.insns, r.ninsns = prog, n
    anchors[r] = prog
  else
    r.filter = o.filter
  end
  r.lock_filter = o.lock_filter and 1 or 0
  r.promisc = o.promisc == false and 0 or 1
  r.immediate = o.immediate and 1 or 0
  r.fanout_defrag = o.defrag and 1 or 0
  r.guard = o.guard and 1 or 0
  return r
end

-- The program for a new filter on this ring: insns, n (n 0 and no
-- program: keep every packet), or nil, err. f is an expression, a
-- program (see pktsh.source.bpf), or nil / "" for none.
function M.filter_program(ring, f)
  local prog, n = bpf.program(f)
  if prog then return prog, n end
  if n then return nil, n end
  if f == nil or f == "" then return nil, 0 end
  local buf = ffi.new("struct pktsh_bpf_insn[?]", C.PKTSH_BPF_MAXINSNS)
  local e = errors.new()
  local got = C.pktsh_ring_filter_compile(ring, f, buf, C.PKTSH_BPF_MAXINSNS, e)
  if got < 0 then return nil, errors.message(e) end
  return buf, got
end

-- Puts the program on the ring: true, or nil, err.
function M.attach(ring, prog, n)
  local e = errors.new()
  if C.pktsh_ring_set_filter(ring, prog, n, e) ~= 0 then return nil, errors.message(e) end
  return true
end

-- src:set_filter(f): a new filter from the next packet on (see
-- Source:set_filter).
function Live:_set_filter(f)
  local prog, n = M.filter_program(self.handle, f)
  if not prog and n ~= 0 then return nil, n end
  local ok, err = M.attach(self.handle, prog, n)
  if not ok then return nil, err end
  return true
end

local function fetch(self, ms)
  return C.pktsh_ring_next(self.handle, self.box, ms, self.errbuf)
end

function Live:_next(timeout)
  return self:_fetch(fetch, timeout)
end

function Live:_release()
  C.pktsh_ring_release(self.handle)
end

function Live:_stats()
  C.pktsh_ring_stats(self.handle, self.statbuf, self.errbuf)
  return self.statbuf
end

function Live:_close()
  ffi.gc(self.handle, nil)
  C.pktsh_ring_close(self.handle)
  self.handle = nil
end

-- A source over an open ring (struct pktsh_ring *), which it then owns.
function M.wrap(ring, name, opts)
  local info = ffi.new("struct pktsh_ring_info")
  C.pktsh_ring_info(ring, info)
  local src = setmetatable({
    handle = ffi.gc(ring, C.pktsh_ring_close),
    box = ffi.new("struct pktsh_batch *[1]"),
    errbuf = errors.new(),
    statbuf = ffi.new("struct pktsh_src_stats"),
    name = name, kind = "live", filter = opts.filter,
    linktype = info.linktype, snaplen = info.snaplen, ifindex = info.ifindex,
    tstamp = tstamp_names[tonumber(info.tstamp)] or "sw",
    hwclock = info.hwclock == C.PKTSH_HWCLOCK_SYS and "sys" or "raw",
  }, Live)
  src:_limit(opts.duration)
  return src
end

-- Opens one ring; nil, err on failure.
function M.open_ring(ifname, opts)
  local ro, err = M.ring_opts(opts)
  if not ro then return nil, err end
  local _, derr = source.duration(opts)
  if derr then return nil, derr end
  local e = errors.new()
  local out = ffi.new("struct pktsh_ring *[1]")
  if C.pktsh_ring_open(out, ifname, ro, e) ~= 0 then
    return nil, errors.message(e)
  end
  return out[0]
end

function M.open(ifname, opts)
  local ring, err = M.open_ring(ifname, opts)
  if not ring then return nil, err end
  return require("pktsh.host.privs").drop(M.wrap(ring, ifname, opts))
end

return M
