-- replay.lua - a capture file sent again onto an interface, as tcpreplay
-- does: through the sender's TX ring, with the file's own timing (or a
-- multiple of it), a packet rate, a bit rate, or as fast as the device
-- takes frames.
--
--   local st = assert(pktsh.replay("dns.pcap", "veth0", {speed = 2}))
--   st.packets, st.pps, st.timing.p99         -- see M.replay
--
-- Timed modes keep a schedule: packet k is due at start + its offset;
-- pktsh sleeps to the next due time (clock_nanosleep, then a short spin),
-- queues every frame that is due into the TX ring and sends them with one
-- send(2). A frame's timing error is when that send(2) began minus when
-- the frame was due; its distribution is in the result. With topspeed
-- each batch of the file goes into the ring whole and out with one send
-- per ring's worth.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}

local DEFAULT_SPIN_US = 50
local DEFAULT_RING = 2048
local LEAD_NS = 1e6

local known = {speed = true, pps = true, mbps = true, topspeed = true, loop = true,
               filter = true, limit = true, bypass = true, tx_ring = true,
               ring_frames = true, spin_us = true, sender = true}

local function positive(o, k)
  local v = o[k]
  if v ~= nil and (type(v) ~= "number" or v ~= v or v <= 0 or v == math.huge) then
    return nil, string.format("%s must be a number above 0, not %s", k, tostring(v))
  end
  return true
end

local function check(opts)
  for k in pairs(opts) do
    if not known[k] then return nil, string.format("unknown replay option '%s'", tostring(k)) end
  end
  for _, k in ipairs({"speed", "pps", "mbps", "limit", "loop"}) do
    local ok, err = positive(opts, k)
    if not ok then return nil, err end
  end
  local modes = 0
  for _, k in ipairs({"speed", "pps", "mbps", "topspeed"}) do
    if opts[k] then modes = modes + 1 end
  end
  if modes > 1 then return nil, "give one of speed, pps, mbps and topspeed" end
  if opts.loop and opts.loop % 1 ~= 0 then return nil, "loop must be a whole number" end
  return true
end

-- The due time of each packet, as a function of the packet, the bytes
-- sent before it and its index; nil for topspeed.
local function schedule(opts)
  if opts.topspeed then return nil end
  if opts.pps then
    local gap = 1e9 / opts.pps
    return function(_, _, k) return k * gap end
  end
  if opts.mbps then
    local ns_per_byte = 8e3 / opts.mbps
    return function(_, bytes) return bytes * ns_per_byte end
  end
  local speed = opts.speed or 1
  local first
  return function(p)
    local ts = p.ts
    if not first then first = ts end
    return tonumber(ts - first) / speed
  end, function() first = nil end
end

-- The state of one run, shared by the loops below.
local function new_run(s, opts)
  local info = s:info()
  return {
    s = s, h = s.handle, err = s.err, opts = opts,
    ring = info.tx_ring and info.ring_frames or 1,
    spin = (opts.spin_us or DEFAULT_SPIN_US) * 1e3,
    due = ffi.new("double[?]", math.max(info.ring_frames, 1)),
    queued = 0, packets = 0, bytes = 0, skipped = 0, sent_bytes = 0,
    hist = require("pktsh.report.hist").new{log = true, sub = 32},
    late_max = 0, limit = opts.limit or math.huge,
  }
end

-- Sends what is queued; the timing error of each frame goes into the
-- histogram. Returns false on a device error (run.fail is set).
local function flush(run)
  if run.queued == 0 then return true end
  local t = tonumber(C.pktsh_mono_ns())
  local first = tonumber(C.pktsh_sender_next_id(run.h))
  run.err.msg[0] = 0
  local n = C.pktsh_sender_flush(run.h, run.err)
  local sent = tonumber(C.pktsh_sender_next_id(run.h)) - first
  local due, hist = run.due, run.hist
  for i = 0, run.queued - 1 do
    local late = t - due[i]
    if late < 0 then late = 0 end
    hist:add(late)
  end
  run.queued = 0
  if n < 0 or (sent < n and run.err.msg[0] ~= 0) then
    run.fail = errors.message(run.err)
    return false
  end
  return true
end

-- Queues one packet due at `due` (mono ns); sleeps first if it is early.
-- false when the run must end (an error, or Ctrl-C during the wait).
local function timed_one(run, p, due)
  local now = tonumber(C.pktsh_mono_ns())
  if due > now then
    if not flush(run) then return false end
    while C.pktsh_sleep_until(due, run.spin) ~= 0 do   -- a signal
      if C.pktsh_stopping() ~= 0 then return false end
    end
  elseif run.queued >= run.ring then
    if not flush(run) then return false end
  end
  run.err.msg[0] = 0
  if C.pktsh_sender_queue(run.h, p.data, p.caplen, run.err) ~= 0 then
    if run.err.msg[0] == 0 then return false end      -- interrupted
    run.skipped = run.skipped + 1                     -- too short, over the MTU
    return true
  end
  run.due[run.queued] = due
  run.queued = run.queued + 1
  run.packets = run.packets + 1
  run.bytes = run.bytes + p.caplen
  return true
end

-- One pass over the file with a schedule; t0 is when its offset 0 is
-- (nil: LEAD_NS after the first packet is read, so that opening the file
-- and compiling the loop do not make the first packets late). Returns the
-- due time of the last packet, or nil to stop.
local function timed_pass(run, src, at, t0)
  local last = t0 or 0
  while run.packets < run.limit do
    local b, err = src:next()
    if not b then
      if err then run.fail = err end
      break
    end
    if not t0 then
      t0 = tonumber(C.pktsh_mono_ns()) + LEAD_NS
      run.t_start = t0
    end
    for i = 0, b.count - 1 do
      if run.packets >= run.limit then break end
      local p = b.pkt[i]
      local due = t0 + at(p, run.bytes, run.packets)
      if due > last then last = due end
      if not timed_one(run, p, due) then run.stop = true; return nil end
    end
    if C.pktsh_stopping() ~= 0 then run.stop = true; return nil end
  end
  if not flush(run) then return nil end
  return last
end

-- One pass as fast as the device goes: each batch into the ring whole.
local function fast_pass(run, src)
  local skipped = ffi.new("uint32_t[1]")
  while run.packets < run.limit do
    local b, err = src:next()
    if not b then
      if err then run.fail = err end
      return
    end
    local n = math.min(b.count, run.limit - run.packets)
    run.err.msg[0] = 0
    local sent = C.pktsh_sender_send_pkts(run.h, b.pkt, n, skipped, run.err)
    if sent < 0 then run.fail = errors.message(run.err); return end
    local bytes = 0
    for i = 0, n - 1 do bytes = bytes + b.pkt[i].caplen end
    run.packets = run.packets + sent
    run.skipped = run.skipped + skipped[0]
    run.bytes = run.bytes + bytes
    if run.err.msg[0] ~= 0 then run.fail = errors.message(run.err); return end
    if C.pktsh_stopping() ~= 0 then run.stop = true; return end
  end
end

local function quantiles(h)
  if h.n == 0 then return nil end
  local q = h:quantiles{0.5, 0.9, 0.99}
  return {p50 = q[1], p90 = q[2], p99 = q[3], max = h.max, mean = h:mean(), n = h.n}
end

local function result(run, t_start, loops, s)
  local secs = (tonumber(C.pktsh_mono_ns()) - t_start) / 1e9
  local st = s:stats()
  return {
    packets = run.packets, bytes = run.bytes, skipped = run.skipped,
    errors = st.errors, retries = st.retries, loops = loops, seconds = secs,
    pps = secs > 0 and run.packets / secs or 0,
    mbps = secs > 0 and run.bytes * 8 / secs / 1e6 or 0,
    timing = not run.opts.topspeed and quantiles(run.hist) or nil,
    interrupted = run.stop and C.pktsh_stopping() ~= 0 or nil,
  }
end

-- pktsh.replay(file, iface, opts): sends the packets of a pcap or pcapng
-- file onto iface. opts (at most one of the first four):
--   speed = X     the file's timing, X times faster (default 1)
--   pps = N       N packets a second, evenly spaced
--   mbps = N      N megabits a second of the frames' bytes
--   topspeed      as fast as the device takes them
--   loop = N      N passes over the file (timed passes follow each other)
--   filter        only the packets this filter keeps (tcpdump syntax or a
--                 classic BPF program)
--   limit = N     N packets at most
--   bypass, tx_ring, ring_frames  the sender's options (ring_frames
--                 default 2048); or sender = an open pktsh.sender
--   spin_us       how long before a due time to stop sleeping and spin
--                 (default 50)
-- Returns {packets, bytes, skipped (frames the interface cannot take:
-- shorter than an Ethernet header, over the MTU), errors, retries, loops,
-- seconds, pps, mbps, timing = {p50, p90, p99, max, mean, n} (ns late,
-- timed modes), interrupted}, or nil, err.
function M.replay(file, iface, opts)
  errors.argcheck(type(file) == "string", 1, "replay", "file name")
  errors.argcheck(type(iface) == "string" or iface == nil, 2, "replay", "interface name")
  errors.argcheck(opts == nil or type(opts) == "table", 3, "replay", "table or nil")
  opts = opts or {}
  local ok, why = check(opts)
  if not ok then return nil, why end
  local s = opts.sender
  if not s then
    local err
    s, err = require("pktsh.source.sender").open(iface, {bypass = opts.bypass,
      tx_ring = opts.tx_ring, ring_frames = opts.ring_frames or DEFAULT_RING})
    if not s then return nil, err end
  end
  local run = new_run(s, opts)
  local at, restart = schedule(opts)
  local t0, loops = nil, 0
  for _ = 1, opts.loop or 1 do
    local src, err = require("pktsh").open(file, {filter = opts.filter})
    if not src then run.fail = err; break end
    loops = loops + 1
    if at then
      if restart then restart() end
      local last = timed_pass(run, src, at, t0)
      -- the next pass starts where this one ended (pps and mbps keep counting)
      t0 = run.t_start
      if last and restart then t0 = math.max(last, tonumber(C.pktsh_mono_ns())) end
    else
      run.t_start = run.t_start or tonumber(C.pktsh_mono_ns())
      fast_pass(run, src)
    end
    src:close()
    if run.fail or run.stop or run.packets >= run.limit then break end
  end
  local res = result(run, run.t_start or tonumber(C.pktsh_mono_ns()), loops, s)
  if not opts.sender then s:close() end
  if run.fail and run.packets == 0 then return nil, run.fail end
  res.error = run.fail
  return res
end

return setmetatable(M, {__call = function(_, ...) return M.replay(...) end})
