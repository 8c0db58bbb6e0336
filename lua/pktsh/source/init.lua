-- source.lua - the one shape every receiver has (DESIGN.md, "Sources"):
-- next, each, packets, stats, close. A receiver supplies _next (a batch,
-- nil at the end, or nil and an error), _release, _stats and _close.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Source = {}
Source.__index = Source
M.Source = Source

-- How long one wait for input may last: the bound on how late Ctrl-C,
-- `duration` and a next(timeout) are noticed by sources the kernel feeds.
local POLL_MS = 100
M.POLL_MS = POLL_MS

-- Whether the input should end now: Ctrl-C or SIGTERM (signals.c), or in
-- a worker the parent stopping the group (workers.c).
local function stopping()
  return C.pktsh_stopping() ~= 0 or C.pktsh_worker_stopping() ~= 0
end
M.stopping = stopping

-- The batch next(timeout) gives when nothing came in time.
local EMPTY = ffi.new("struct pktsh_batch")
M.EMPTY = EMPTY

-- The next batch (struct pktsh_batch *), or nil at the end, or nil, err.
-- The packets in a batch are valid until the next call (or close); after
-- it the batch is empty and using one of its packets is an error
-- (src/batch.c). The caller takes the whole batch: each() and packets()
-- go on with the batch after it. With timeout (seconds), a source the
-- kernel feeds gives an empty batch (count 0) when no packet came in that
-- long, so that a loop can do timed work; a file never waits that long.
-- The input ends (nil) at its end, at Ctrl-C, and once its `duration`
-- is over: that is checked before every batch, however fast they come.
function Source:next(timeout)
  if self.closed then return nil, "source is closed" end
  C.pktsh_writers_tick(0)              -- files written from this loop fill as it runs
  if self.pending then self:_release(self.pending); self.pending = nil end
  if self.deadline and C.pktsh_mono_ns() >= self.deadline then return nil end
  local b, err = self:_next(timeout)
  if b == EMPTY then return b end
  if not b then
    self.err = err
    return nil, err
  end
  self.pending, self.pos = b, b.count
  return b
end

-- The current batch and the index of its first unread packet, fetching a
-- new batch when the current one is used up: each() and packets() share
-- this cursor, so one can stop early and the other go on from there.
function Source:_cursor()
  local b = self.pending
  if b ~= nil and self.pos < b.count then return b, self.pos end
  local err
  b, err = self:next()
  if not b then return nil, err end
  self.pos = 0
  return b, 0
end

-- Calls fn(pkt) for every packet until the end, Ctrl-C, or fn returning
-- false. Returns true, or nil and the error that ended the input (every
-- complete packet before the error was delivered).
function Source:each(fn)
  errors.argcheck(type(fn) == "function" or type(fn) == "table", 1, "each", "function")
  while not stopping() do
    local b, i = self:_cursor()
    if not b then
      if i then return nil, i end
      return true
    end
    local pkts, n = b.pkt, b.count
    while i < n do
      local more = fn(pkts[i])
      i = i + 1
      if more == false then self.pos = i; return true end
    end
    self.pos = n
  end
  self.interrupted = true
  return true
end

-- Iterator: `for pkt in src:packets() do ... end`. An error that ends the
-- input ends the loop too; it is left in src.err (see src:error()).
function Source:packets()
  return function()
    local b, i = self.pending, self.pos
    if b == nil or i >= b.count then
      if stopping() then self.interrupted = true; return nil end
      b, i = self:_cursor()
      if not b then return nil end
    end
    self.pos = i + 1
    return b.pkt[i]
  end
end

-- The one wait of every source: calls poll(self, ms) (n > 0: something
-- to take, n < 0: an error, 0: nothing within ms) until it gives non-zero,
-- Ctrl-C stops the input, the source's duration is over (self.deadline,
-- on the monotonic clock), or timeout seconds pass. Returns n; or nil and
-- "timeout"; or nil when the input ends (self.interrupted set for Ctrl-C).
-- self.on_idle(), when set, is called each time a poll comes back empty
-- (every poll interval of a quiet link): what a caller does by the clock
-- (a metrics snapshot) still happens while no packet comes.
function Source:_await(poll, timeout)
  local deadline, give_up = self.deadline, nil
  if timeout then give_up = C.pktsh_mono_ns() + timeout * 1e9 end
  while true do
    local ms, now = POLL_MS, C.pktsh_mono_ns()
    if deadline then
      local left = tonumber(deadline - now)
      if left <= 0 then return nil end
      if left < ms * 1e6 then ms = math.ceil(left / 1e6) end
    end
    if give_up then
      local left = tonumber(give_up - now)
      if left <= 0 then return nil, "timeout" end
      if left < ms * 1e6 then ms = math.ceil(left / 1e6) end
    end
    local n = poll(self, ms)
    if self._tick then self._tick() end   -- pktsh.parallel's on_stats
    if n ~= 0 then return n end
    if stopping() then self.interrupted = true; return nil end
    C.pktsh_writers_tick(0)
    if self.on_idle then self.on_idle() end
  end
end

-- _next for receivers the kernel feeds: fetch(self, ms) is _await's poll
-- and leaves the batch in self.box[0].
function Source:_fetch(fetch, timeout)
  local n, why = self:_await(fetch, timeout)
  if n == nil then return why == "timeout" and EMPTY or nil end
  if n < 0 then return nil, errors.message(self.errbuf) end
  return self.box[0]
end

-- Ends the input `seconds` from now on the monotonic clock (nil: no
-- limit), as opts.duration does at open; files count capture time
-- instead (source/file.lua). Returns a function that puts the previous
-- limit back (the one-liners' `seconds` on a source given to them).
function Source:_limit(seconds)
  local saved = self.deadline
  self.deadline = seconds and C.pktsh_mono_ns() + seconds * 1e9 or nil
  return function() self.deadline = saved end
end

-- opts.duration, checked: seconds or nil, or nil and the reason.
function M.duration(opts)
  local d = opts.duration
  if d ~= nil and (type(d) ~= "number" or d ~= d or d < 0) then
    return nil, "duration must be a number of seconds"
  end
  return d
end

-- src:set_filter(f): the source's filter from its next packet on: a
-- tcpdump expression, a classic BPF program (a list of {code, jt, jf,
-- k} or tcpdump -dd text, see pktsh.source.bpf), or nil or "" for none.
-- true, or nil, err (the old filter then stays). A live ring swaps its
-- kernel filter in one step (each packet is judged by the old filter or
-- by the new one); a fanout group swaps every ring's.
function Source:set_filter(f)
  if self.closed then return nil, "source is closed" end
  if not self._set_filter then
    return nil, string.format("a %s source cannot change its filter", tostring(self.kind))
  end
  local ok, err = self:_set_filter(f)
  if not ok then return nil, err end
  self.filter = f ~= "" and f or nil
  return true
end

-- The error that ended the input, if one did.
function Source:error()
  return self.err
end

-- The counters: received, drops, freeze_q (the kernel's, since the last
-- call), packets, bytes, batches (delivered to Lua). After close, the
-- totals at the close (the receiver's memory is gone by then).
function Source:stats()
  if self.closed then
    local t = {}
    for k, v in pairs(self.final or {}) do t[k] = v end
    return t
  end
  local st = self:_stats()
  local t = {
    received = tonumber(st.received), packets = tonumber(st.packets),
    bytes = tonumber(st.bytes), batches = tonumber(st.batches),
    drops = tonumber(st.drops), freeze_q = tonumber(st.freeze_q),
  }
  return t
end

-- Closes the source (its packets become stale); closing twice is fine.
function Source:close()
  if self.closed then return end
  self.final = self:stats()
  self.closed = true
  self.pending = nil
  self:_close()
end

function Source:__tostring()
  return string.format("pktsh source %s (%s)%s", self.name, self.kind,
                       self.closed and " closed" or "")
end

-- Methods listed for help() and completion.
Source.__fields = {"next", "each", "packets", "stats", "error", "close", "set_filter",
                   "linktype", "snaplen", "name", "kind", "filter"}

-- The metatable of a new kind of receiver: Source's methods (which it may
-- override), its printing and its fields for help().
function M.kind()
  local K = setmetatable({}, {__index = Source})
  K.__index, K.__tostring, K.__fields = K, Source.__tostring, Source.__fields
  return K
end

local is_interface = require("pktsh.source.ifaces").exists

-- The options of a table spec with opts' fields over them (a copy), and
-- their names sorted: the first unknown option reported is always the same.
function M.options(spec, opts)
  local o = {}
  for k, v in pairs(spec) do o[k] = v end
  for k, v in pairs(opts or {}) do o[k] = v end
  local keys = {}
  for k in pairs(o) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return o, keys
end

-- pktsh.open(spec, opts): a pcap/pcapng path ("-" for stdin) or the name
-- of a network interface. A path wins over an interface of the same name.
function M.open(spec, opts)
  errors.argcheck(type(spec) == "string", 1, "open", "string")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "open", "table or nil")
  opts = opts or {}
  local f = io.open(spec, "rb")
  if f or spec == "-" then
    if f then f:close() end
    return require("pktsh.source.file").open(spec, opts)
  end
  if is_interface(spec) then
    if opts.workers then return require("pktsh.source.fanout").open(spec, opts) end
    return require("pktsh.source.live").open(spec, opts)
  end
  return nil, string.format("cannot open '%s': no such file or interface", spec)
end

return M
