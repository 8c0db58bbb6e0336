-- sender.lua - sending whole Ethernet frames on an interface.
--   local s = assert(pktsh.sender("veth0"))    -- opts: {tx_ring=, bypass=, tstamp=, ring_frames=, rate=}
--   local n, id = s:send(pktsh.build.udp4{dst = "198.18.0.2", dport = 5000})
--   s:send(frame, 100000)     -- the same frame 100000 times (TX ring)
--   s:send_batch({f1, f2, f3})  -- different frames, one send(2) (TX ring)
--   s:queue(f); s:flush()     -- the same, a frame at a time
--   s:tx_timestamps()         -- {{id=, sw=, hw=}, ...} with tstamp
--   s:stats()                 -- {packets=, bytes=, errors=, retries=, stamps=, stamps_lost=}
--   s:close()
-- Frames are numbered from 0 in the order the driver accepted them: send
-- returns how many went and the first one's id. opts.bypass = true skips
-- the interface's queueing discipline (PACKET_QDISC_BYPASS): faster, but
-- captures on the sending interface itself do not see the frames.
-- opts.tx_ring = false sends with one send(2) per frame. opts.tstamp =
-- "sw", "hw" or "both" asks for transmit stamps (README "Time").
-- opts.rate = N paces every call to N frames a second (see pace below).
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Sender = {}
Sender.__index = Sender
Sender.__fields = {"send", "send_batch", "queue", "flush", "next_id", "tx_timestamps",
                   "stats", "info", "close", "ifname", "tstamp"}

local pkt_t = ffi.typeof("struct pktsh_pkt")
local batch_p = ffi.typeof("struct pktsh_batch *")
local stamps_t = ffi.typeof("struct pktsh_tx_stamp[?]")
local MAX_COUNT = 0x7fffffff
local STAMP_CHUNK = 1024

local tstamps = {sw = C.PKTSH_TXTS_SW, hw = C.PKTSH_TXTS_HW, both = C.PKTSH_TXTS_BOTH}
local tstamp_names = {[C.PKTSH_TXTS_SW] = "sw", [C.PKTSH_TXTS_HW] = "hw",
                      [C.PKTSH_TXTS_BOTH] = "both"}
local known = {tx_ring = true, bypass = true, tstamp = true, ring_frames = true, rate = true}
local SPIN_NS = 50e3       -- the last 50 us before a due time are spun, not slept

local function sender_opts(opts)
  for k in pairs(opts) do
    if not known[k] then return nil, string.format("unknown option '%s' for a sender", tostring(k)) end
  end
  local o = ffi.new("struct pktsh_sender_opts")
  o.tx_ring = opts.tx_ring == false and 0 or 1
  o.qdisc_bypass = opts.bypass and 1 or 0
  if opts.tstamp ~= nil then
    local t = tstamps[opts.tstamp]
    if not t then
      return nil, string.format('tstamp must be "sw", "hw" or "both", not %s', tostring(opts.tstamp))
    end
    o.tstamp = t
  end
  local rf = opts.ring_frames
  if rf ~= nil and (type(rf) ~= "number" or rf < 1 or rf % 1 ~= 0) then
    return nil, "ring_frames must be a whole number of slots"
  end
  o.ring_frames = rf or 0
  local rate = opts.rate
  if rate ~= nil and (type(rate) ~= "number" or rate ~= rate or rate <= 0 or rate == math.huge) then
    return nil, string.format("rate must be a number of frames a second above 0, not %s", tostring(rate))
  end
  return o
end

-- pktsh.sender(ifname [, opts]): a sender, or nil and the reason.
function M.open(ifname, opts)
  errors.argcheck(type(ifname) == "string", 1, "sender", "string")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "sender", "table or nil")
  local o, why = sender_opts(opts or {})
  if not o then return nil, why end
  opts = opts or {}
  local err = errors.new()
  local out = ffi.new("struct pktsh_sender *[1]")
  if C.pktsh_sender_open(out, ifname, o, err) ~= 0 then
    return nil, errors.message(err)
  end
  local s = setmetatable({
    handle = ffi.gc(out[0], C.pktsh_sender_close),
    err = err, ifname = ifname, tstamp = tstamp_names[o.tstamp],
    statbuf = ffi.new("struct pktsh_sender_stats"),
    skipped = ffi.new("uint32_t[1]"),
    -- pacing (opts.rate): ns between frames, frames per send(2) (about a
    -- millisecond's worth), the mono ns the next frame is due, and how
    -- many frames are queued
    gap = opts.rate and 1e9 / opts.rate, chunk = opts.rate and math.max(1, math.floor(opts.rate / 1000)),
    due = 0, queued = 0,
  }, Sender)
  if s.gap then           -- a chunk fits the ring (queue would flush it unpaced)
    local info = s:info()
    if info.tx_ring then s.chunk = math.min(s.chunk, info.ring_frames) end
  end
  return require("pktsh.host.privs").drop(s)
end

local function bytes_of(frame, fname, n)
  if type(frame) == "string" then return frame, #frame end
  if ffi.istype(pkt_t, frame) then return frame.data, frame.caplen end
  errors.argcheck(false, n or 1, fname, "string or packet")
end

-- The id the next frame sent will have.
function Sender:next_id()
  if not self.handle then return nil, "sender is closed" end
  return tonumber(C.pktsh_sender_next_id(self.handle))
end

-- Pacing, with opts.rate: frames go a millisecond's worth (`chunk`) per
-- send(2); a chunk whose first frame is frame k of the call leaves no
-- earlier than the call's start plus k / rate, and a call starts no
-- earlier than the previous call's last chunk plus its length / rate. A
-- sender idle longer than that starts afresh (no burst to catch up); one
-- that falls behind within a call catches up. pace_start begins a call;
-- pace(self, n) waits until the next n frames may go: false when Ctrl-C
-- cut the wait short.
local function pace_start(self)
  local now = tonumber(C.pktsh_mono_ns())
  if self.due < now then self.due = now end
end

local function pace(self, n)
  while C.pktsh_sleep_until(self.due, SPIN_NS) ~= 0 do
    if C.pktsh_stopping() ~= 0 then return false end
  end
  self.due = self.due + n * self.gap
  return true
end

-- A paced send or batch first sends what queue left (its frames go first).
local function flush_queued(self)
  if self.queued == 0 then return true end
  local n, err = self:flush()
  if not n then return nil, err end
  return true
end

-- Results of a call that sent n frames from id `first`: n, first; with
-- fewer than asked, the reason as a third value; none: nil, err.
local function outcome(self, n, want, first)
  if n < 0 then return nil, errors.message(self.err) end
  if n < want and self.err.msg[0] ~= 0 then return n, first, errors.message(self.err) end
  if n < want and C.pktsh_stopping() ~= 0 then return n, first, "interrupted" end
  return n, first
end

-- s:send(frame [, count]): frame is a string or a packet (its captured
-- bytes). Returns the number of frames sent and the id of the first (the
-- others follow it), or nil, err when none was. Fewer than count means an
-- error or Ctrl-C cut it short; the third result then says why.
function Sender:send(frame, count)
  local h = self.handle
  if not h then return nil, "sender is closed" end
  count = count or 1
  errors.argcheck(type(count) == "number" and count >= 0 and count % 1 == 0
                  and count <= MAX_COUNT, 2, "send", "non-negative whole number")
  local data, len = bytes_of(frame, "send")
  self.err.msg[0] = 0
  local first = tonumber(C.pktsh_sender_next_id(h))
  if not self.gap then
    return outcome(self, C.pktsh_sender_send(h, data, len, count, self.err), count, first)
  end
  local ok, why = flush_queued(self)
  if not ok then return nil, why end
  first = tonumber(C.pktsh_sender_next_id(h))
  pace_start(self)
  local sent = 0
  while sent < count do
    local k = math.min(self.chunk, count - sent)
    if not pace(self, k) then break end
    local n = C.pktsh_sender_send(h, data, len, k, self.err)
    if n > 0 then sent = sent + n end
    if n < k then
      if sent == 0 then return outcome(self, n, count, first) end
      break
    end
  end
  return outcome(self, sent, count, first)
end

-- s:queue(frame): copies a frame into the next TX ring slot (sent at the
-- next flush, or when the ring is full). true, or nil, err for a frame
-- that cannot be sent (too short, over the MTU) or a send that failed.
function Sender:queue(frame)
  local h = self.handle
  if not h then return nil, "sender is closed" end
  local data, len = bytes_of(frame, "queue")
  self.err.msg[0] = 0
  if self.gap and self.queued >= self.chunk then      -- paced: a chunk at a time
    local n, err = self:flush()
    if not n then return nil, err end
  end
  if C.pktsh_sender_queue(h, data, len, self.err) ~= 0 then
    return nil, self.err.msg[0] ~= 0 and errors.message(self.err) or "interrupted"
  end
  self.queued = self.queued + 1
  return true
end

-- s:flush(): sends what is queued, with one send(2): n, first id (as
-- send). Paced, it first waits until the first queued frame is due.
function Sender:flush()
  local h = self.handle
  if not h then return nil, "sender is closed" end
  self.err.msg[0] = 0
  local first = tonumber(C.pktsh_sender_next_id(h))
  if self.gap and self.queued > 0 then
    pace_start(self)
    if not pace(self, self.queued) then return nil, "interrupted" end
  end
  self.queued = 0
  local n = C.pktsh_sender_flush(h, self.err)
  if n < 0 then return nil, errors.message(self.err) end
  return n, first
end

-- s:send_batch(frames): a list of frames (strings or packets), or a batch
-- from src:next() (its packets), through the TX ring with one send(2) per
-- ring's worth. Returns n sent, the first id, and with a batch the
-- number of packets skipped (shorter than a header, over the MTU);
-- a frame of a list that cannot be sent is an error.
function Sender:send_batch(frames)
  local h = self.handle
  if not h then return nil, "sender is closed" end
  self.err.msg[0] = 0
  local first = tonumber(C.pktsh_sender_next_id(h))
  if type(frames) == "cdata" and ffi.istype(batch_p, frames) then
    return self:_send_pkts(frames.pkt, frames.count, first)
  end
  errors.argcheck(type(frames) == "table", 1, "send_batch", "list of frames or a batch")
  for i = 1, #frames do
    local data, len = bytes_of(frames[i], "send_batch")
    local ok = true
    if self.gap then ok = self:queue(frames[i])
    elseif C.pktsh_sender_queue(h, data, len, self.err) ~= 0 then ok = false end
    if not ok then
      local sent = tonumber(C.pktsh_sender_next_id(h)) - first
      local why = self.err.msg[0] ~= 0 and errors.message(self.err) or "interrupted"
      if sent == 0 then return nil, string.format("frame %d: %s", i, why) end
      return sent, first, string.format("frame %d: %s", i, why)
    end
  end
  local n = self.gap and (self:flush() or -1) or C.pktsh_sender_flush(h, self.err)
  local sent = tonumber(C.pktsh_sender_next_id(h)) - first
  if n < 0 and sent == 0 then return nil, errors.message(self.err) end
  return outcome(self, sent, #frames, first)
end

-- A batch's n packets from pkts: n sent, the first id, packets skipped;
-- paced, a chunk per send(2).
function Sender:_send_pkts(pkts, count, first)
  local h, skipped = self.handle, self.skipped
  if not self.gap then
    local n = C.pktsh_sender_send_pkts(h, pkts, count, skipped, self.err)
    if n < 0 then return nil, errors.message(self.err) end
    return n, first, tonumber(skipped[0])
  end
  local ok, why = flush_queued(self)
  if not ok then return nil, why end
  first = tonumber(C.pktsh_sender_next_id(h))
  pace_start(self)
  local sent, skip, off = 0, 0, 0
  while off < count do
    local k = math.min(self.chunk, count - off)
    if not pace(self, k) then break end
    local n = C.pktsh_sender_send_pkts(h, pkts + off, k, skipped, self.err)
    if n < 0 then
      if sent == 0 then return nil, errors.message(self.err) end
      break
    end
    sent, skip, off = sent + n, skip + tonumber(skipped[0]), off + k
  end
  return sent, first, skip
end

local function stamp(v)
  if v == 0 then return nil end
  return v
end

-- s:tx_timestamps([opts]): the transmit stamps that came back, oldest
-- first: a list of {id =, sw =, hw =} (sw and hw int64 ns, nil when the
-- frame has none). opts.wait_ms: wait that long for the first when none
-- is there (default 0); opts.flush: records still waiting for their
-- second stamp (tstamp = "both") come out now; opts.max: at most this
-- many. nil, err without tstamp.
function Sender:tx_timestamps(opts)
  local h = self.handle
  if not h then return nil, "sender is closed" end
  errors.argcheck(opts == nil or type(opts) == "table", 1, "tx_timestamps", "table or nil")
  opts = opts or {}
  local wait, flush, max = opts.wait_ms or 0, opts.flush and 1 or 0, opts.max or math.huge
  local buf = self.stampbuf or stamps_t(STAMP_CHUNK)
  self.stampbuf = buf
  local out = {}
  while #out < max do
    local cap = math.min(STAMP_CHUNK, max - #out)
    local n = C.pktsh_sender_tx_stamps(h, buf, cap, wait, flush, self.err)
    if n < 0 then return nil, errors.message(self.err) end
    for i = 0, n - 1 do
      local r = buf[i]
      out[#out + 1] = {id = tonumber(r.id), sw = stamp(r.sw), hw = stamp(r.hw)}
    end
    if n < cap then break end
    wait = 0
  end
  return out
end

function Sender:stats()
  if not self.handle then return self.final_stats end
  local st = self.statbuf
  C.pktsh_sender_stats(self.handle, st)
  return {packets = tonumber(st.packets), bytes = tonumber(st.bytes),
          errors = tonumber(st.errors), retries = tonumber(st.retries),
          stamps = tonumber(st.stamps), stamps_lost = tonumber(st.stamps_lost)}
end

-- What the sender really uses: {ifindex=, tx_ring=, bypass=,
-- max_ring_frame=, ring_frames=, tstamp=, swhw=, rate=}.
function Sender:info()
  if not self.handle then return nil, "sender is closed" end
  local i = ffi.new("struct pktsh_sender_info")
  C.pktsh_sender_info(self.handle, i)
  return {ifindex = i.ifindex, tx_ring = i.tx_ring == 1,
          bypass = i.qdisc_bypass == 1, max_ring_frame = i.max_ring_frame,
          ring_frames = i.ring_frames, tstamp = tstamp_names[i.tstamp],
          swhw = i.swhw == 1, rate = self.gap and 1e9 / self.gap or nil}
end

function Sender:close()
  local h = self.handle
  if not h then return end
  self.final_stats = self:stats()
  self.handle = nil
  ffi.gc(h, nil)
  C.pktsh_sender_close(h)
end

function Sender:__tostring()
  return string.format("pktsh sender on %s%s", self.ifname,
                       self.handle and "" or " (closed)")
end

-- pktsh.sender is this module; calling it opens a sender.
return setmetatable(M, {__call = function(_, ...) return M.open(...) end})
