-- xsk.lua - AF_XDP sockets as a source (module pktsh.source.xsk; C side
-- src/source/xsk.c and xsktx.c): one socket per rx queue of one or more
-- interfaces, fed by the redirect rules of each interface's XDP rule set,
-- their frames in one shared UMEM (or one per socket). A batch points
-- straight into the UMEM; its frames go back to the fill ring when it is
-- released. The same source sends: src:send(pkt_or_bytes [, ifname]) and
-- src:forward(batch [, ifname]), a received frame as it is (zero-copy)
-- when the sockets share the UMEM.
--
--   local src = assert(pktsh.open{xsk = "eth0"})            -- every packet
--   local src = assert(pktsh.open{xsk = "eth0", rules = fw, queues = {0, 1}})
--   for p in src:packets() do ... end
require "pktsh.cdef"
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local Source = require("pktsh.source").Source
local opts_mod = require "pktsh.source.xskopts"

local M = {}
local format = string.format

local POLL_MS = 100                -- how late Ctrl-C and `duration` are noticed

local Xsk = setmetatable({}, {__index = Source})
Xsk.__index = Xsk
Xsk.__fields = {"next", "each", "packets", "stats", "error", "close", "send", "forward",
                "flush", "info", "parallel", "rules", "ifnames", "name", "kind"}
M.Xsk = Xsk

local pkt_t = ffi.typeof("struct pktsh_pkt")
local batch_t = ffi.typeof("struct pktsh_batch *")

function Xsk:__tostring()
  return format("pktsh source %s (xsk, %d socket%s)%s", self.name, #self.socks,
                #self.socks == 1 and "" or "s", self.closed and " closed" or "")
end

-- --- receiving -------------------------------------------------------------

-- A batch from whichever socket has one, waiting POLL_MS at a time until
-- Ctrl-C, the end of `duration`, or (in a worker) the parent's stop.
function Xsk:_next()
  if self.n == 0 then return nil end
  local deadline = self.deadline
  while true do
    local got = C.pktsh_xsk_next(self.arr, self.n, self.cursor, self.box, POLL_MS, self.errbuf)
    if got > 0 then
      self.rx = self.socks[self.cursor[0] + 1]
      return self.box[0]
    end
    if got < 0 then return nil, errors.message(self.errbuf) end
    if C.pktsh_stopping() ~= 0 or (self.worker and C.pktsh_worker_stopping() ~= 0) then
      self.interrupted = true
      return nil
    end
    if deadline and C.pktsh_mono_ns() >= deadline then return nil end
  end
end

function Xsk:_release()
  local rx = self.rx
  if rx then C.pktsh_xsk_release(rx.handle); self.rx = nil end
end

-- --- sending ----------------------------------------------------------------

-- The socket that sends on ifname: the one on the queue the current batch
-- came in on, if this source has it, else the interface's first.
function Xsk:_tx(ifname, fname)
  if ifname == nil then
    errors.argcheck(#self.ifnames == 1, 2, fname, "interface name (this source has several)")
    ifname = self.ifnames[1]
  end
  local list = self.by_if[ifname]
  if not list then
    errors.argcheck(false, 2, fname, "one of this source's interfaces (" ..
                    table.concat(self.ifnames, ", ") .. "), not " .. tostring(ifname))
  end
  local rx = self.rx
  return rx and list.by_queue[rx.queue] or list[1]
end

local function tx_result(self, s, got, want)
  if got == want then
    -- Outside a receive loop nothing else would start the TX ring soon.
    if not self.rx then C.pktsh_xsk_flush(s.handle, 0, self.errbuf) end
    return want
  end
  if got < 0 then return nil, errors.message(self.errbuf) end
  if C.pktsh_stopping() ~= 0 then return got, "interrupted" end
  return got, format("the TX ring of %s queue %d stayed full for %d ms (%d of %d sent)",
                     s.ifname, s.queue, self.tx_timeout_ms, got, want)
end

-- src:send(pkt_or_bytes [, ifname]) -> 1, or nil, err (or 0, why after
-- the TX timeout). A packet this source (or one sharing its UMEM)
-- received, in the batch not yet released, goes as it is; anything else
-- is copied into a free frame.
function Xsk:send(x, ifname)
  if self.closed then return nil, "source is closed" end
  local s = self:_tx(ifname, "send")
  local got
  if type(x) == "string" then
    got = C.pktsh_xsk_send(s.handle, x, #x, self.tx_timeout_ms, self.errbuf)
  elseif ffi.istype(pkt_t, x) then
    got = C.pktsh_xsk_forward(s.handle, x, 1, self.tx_timeout_ms, self.errbuf)
  else
    errors.argcheck(false, 1, "send", "string or packet")
  end
  return tx_result(self, s, got, 1)
end

-- src:forward(batch [, ifname]) -> how many were queued (all of the
-- batch's packets, or fewer and why). The TX ring is started at the end.
function Xsk:forward(b, ifname)
  if self.closed then return nil, "source is closed" end
  if ffi.istype(pkt_t, b) then return self:send(b, ifname) end
  errors.argcheck(ffi.istype(batch_t, b), 1, "forward", "batch or packet")
  local s = self:_tx(ifname, "forward")
  local n = b.count
  if n == 0 then return 0 end
  return tx_result(self, s, C.pktsh_xsk_forward(s.handle, b.pkt, n, self.tx_timeout_ms,
                                                self.errbuf), n)
end

-- src:flush([seconds]) starts every TX ring and, given seconds, waits up
-- to that long for every frame sent to complete. Returns the frames
-- still in flight (0: all sent).
function Xsk:flush(seconds)
  if self.closed then return nil, "source is closed" end
  local ms = seconds and math.floor(seconds * 1000) or 0
  local left = 0
  for _, s in ipairs(self.socks) do
    local n = C.pktsh_xsk_flush(s.handle, ms, self.errbuf)
    if n < 0 then return nil, errors.message(self.errbuf) end
    left = left + n
  end
  return left
end

-- --- counters ------------------------------------------------------------------

local stat_names = {"packets", "bytes", "batches", "unstamped", "tx_packets", "tx_bytes",
                    "tx_zerocopy", "tx_completed", "tx_dropped", "kicks", "rx_dropped",
                    "rx_invalid_descs", "tx_invalid_descs", "rx_ring_full",
                    "rx_fill_ring_empty_descs", "tx_ring_empty_descs"}
M.stat_names = stat_names

-- One socket's counters, or nil, err.
local function sock_stats(s, st, e)
  if C.pktsh_xsk_stats(s.handle, st, e) ~= 0 then return nil, errors.message(e) end
  local t = {ifname = s.ifname, queue = s.queue}
  for _, k in ipairs(stat_names) do t[k] = tonumber(st[k]) end
  t.drops = t.rx_dropped + t.rx_ring_full
  t.received = t.packets + t.drops
  return t
end

-- The sum over the sockets (see stat_names; drops = rx_dropped +
-- rx_ring_full: redirected to a socket but lost in the kernel), and each
-- socket's own in .sockets. After close: the totals at the close.
function Xsk:stats()
  if self.closed then return Source.stats(self) end
  local total = {sockets = {}, freeze_q = 0}
  for _, k in ipairs(stat_names) do total[k] = 0 end
  total.drops, total.received = 0, 0
  for i, s in ipairs(self.socks) do
    local t, err = sock_stats(s, self.statbuf, self.errbuf)
    if not t then return nil, err end
    total.sockets[i] = t
    for k, v in pairs(t) do
      if type(v) == "number" and k ~= "queue" then total[k] = total[k] + v end
    end
  end
  total.interrupted = self.interrupted or false
  return total
end

-- What each socket got: {ifname=, queue=, zerocopy=, need_wakeup=,
-- busy_poll=, napi_id=, ring sizes, frames, free_frames, fill_frames,
-- in_flight, held, cached, note=}. A frame is in one place at a time:
-- with no traffic, the UMEM's free_frames plus every socket's fill_frames,
-- held, in_flight and cached (and what the RX rings hold) are its frames.
function Xsk:info()
  local out = {}
  local i = ffi.new("struct pktsh_xsk_info")
  for k, s in ipairs(self.socks) do
    C.pktsh_xsk_info(s.handle, i)
    out[k] = {ifname = s.ifname, ifindex = i.ifindex, queue = i.queue, fd = i.fd,
              zerocopy = i.zerocopy ~= 0, need_wakeup = i.need_wakeup ~= 0,
              busy_poll = i.busy_poll ~= 0, napi_id = i.napi_id,
              rx_size = i.rx_size, tx_size = i.tx_size, fill_size = i.fill_size,
              comp_size = i.comp_size, frame_size = i.frame_size, frames = i.frames,
              umem_sockets = i.umem_sockets, tx_budget = i.tx_budget,
              free_frames = i.free_frames, fill_frames = i.fill_frames,
              in_flight = i.in_flight, held = i.held, cached = i.cached,
              note = i.note[0] ~= 0 and ffi.string(i.note) or nil}
  end
  return out
end

-- --- closing ---------------------------------------------------------------------

function Xsk:_close()
  self.rx = nil
  if self.owned then
    for _, s in ipairs(self.socks) do
      ffi.gc(s.handle, nil)
      C.pktsh_xsk_close(s.handle)
    end
    for _, u in ipairs(self.umems) do
      ffi.gc(u, nil)
      C.pktsh_xsk_umem_release(u)
    end
    for _, fw in ipairs(self.own_fws) do fw:close() end
  end
  self.socks, self.n = {}, 0
end

-- src:parallel(work, ...) is pktsh.parallel(src, opts, work, ...): the
-- sockets spread over worker threads, queue by queue.
function Xsk:parallel(work, ...)
  return require("pktsh.host.parallel").parallel(self, self.popts or {}, work, ...)
end

-- --- building one ---------------------------------------------------------------

-- A source over the sockets in list ({handle=, ifname=, queue=}, ...);
-- fields of extra go into it.
function M.wrap(list, extra)
  local src = setmetatable({
    socks = list, n = #list, arr = ffi.new("struct pktsh_xsk *[?]", math.max(#list, 1)),
    cursor = ffi.new("uint32_t[1]", math.max(#list, 1) - 1),
    box = ffi.new("struct pktsh_batch *[1]"), errbuf = errors.new(),
    statbuf = ffi.new("struct pktsh_xsk_stats"),
    by_if = {}, ifnames = {}, kind = "xsk", linktype = C.PKTSH_DLT_EN10MB, snaplen = 4096,
    tx_timeout_ms = 1000, umems = {}, own_fws = {}, rules = {},
  }, Xsk)
  for k, v in pairs(extra or {}) do src[k] = v end
  for i, s in ipairs(list) do
    src.arr[i - 1] = s.handle
    local l = src.by_if[s.ifname]
    if not l then
      l = {by_queue = {}}
      src.by_if[s.ifname] = l
      src.ifnames[#src.ifnames + 1] = s.ifname
    end
    l[#l + 1] = s
    l.by_queue[s.queue] = s
  end
  src.name = src.name or ("xsk:" .. table.concat(src.ifnames, ","))
  if src.duration then src.deadline = tonumber(C.pktsh_mono_ns()) + src.duration * 1e9 end
  return src
end

-- pktsh.open{xsk = ifname or {ifname, ...}, ...} -> a source, or nil, err.
-- The options are in pktsh.source.xskopts (and the README).
function M.open(spec, opts)
  errors.argcheck(type(spec) == "table" and (type(spec.xsk) == "string" or type(spec.xsk) == "table"),
                  1, "open", "{xsk = ifname, ...}")
  errors.argcheck(opts == nil or type(opts) == "table", 2, "open", "table or nil")
  local o, err = opts_mod.parse(spec, opts)
  if not o then return nil, err end
  if require("pktsh.host.parallel").worker() then
    -- A worker re-running the script: its sockets are the parent's.
    return M.wrap({}, {ifnames_opt = o.ifnames, popts = o.parallel, duration = o.duration})
  end
  return opts_mod.build(o, M.wrap)
end

-- In a worker thread: a source over this worker's share of the sockets
-- the parent opened (job = what the parent's source put in the job).
function M.worker_source(job, index, count)
  local list = {}
  for _, s in ipairs(job.socks) do
    if s.slot % count == index - 1 then
      local h = C.pktsh_xsk_lookup(s.ifindex, s.queue)
      if h == nil then error(format("worker %d: no open AF_XDP socket on %s queue %d",
                                    index, s.ifname, s.queue), 0) end
      list[#list + 1] = {handle = h, ifname = s.ifname, ifindex = s.ifindex, queue = s.queue}
    end
  end
  return M.wrap(list, {tx_timeout_ms = job.tx_timeout_ms, deadline = job.deadline,
                       name = job.name, owned = false, worker = true})
end

-- What a worker needs to find its sockets (pktsh.parallel puts it in the
-- job): sockets numbered by queue, so that a worker gets the same queue
-- on every interface (a bridge forwards within one thread).
function Xsk:_job()
  local socks, slots, seen = {}, {}, {}
  for _, s in ipairs(self.socks) do
    if not seen[s.queue] then slots[#slots + 1] = s.queue; seen[s.queue] = true end
  end
  table.sort(slots)
  local slot_of = {}
  for i, q in ipairs(slots) do slot_of[q] = i - 1 end
  for i, s in ipairs(self.socks) do
    socks[i] = {ifname = s.ifname, ifindex = s.ifindex, queue = s.queue, slot = slot_of[s.queue]}
  end
  return {socks = socks, nslots = #slots, tx_timeout_ms = self.tx_timeout_ms,
          deadline = self.deadline, name = self.name}
end

local help = [[
an AF_XDP source: pktsh.open{xsk = ifname or {ifname, ...} [, rules = fw | {rule, ...} | false]
                             [, queues = {0, 1, ...}] [, mode = "native" | "skb"], ...}
  src:next() src:each(fn) src:packets() src:stats() src:info() src:close()
  src:send(pkt_or_bytes [, ifname])   a received packet goes as it is (zero-copy)
  src:forward(batch [, ifname])       every packet of a batch
  src:flush([seconds])                start the TX rings (and wait for completions)
  src:parallel(work, ...)             the sockets over -j N worker threads
  stats: packets bytes batches drops (rx_dropped + rx_ring_full) rx_dropped
         rx_ring_full rx_fill_ring_empty_descs rx_invalid_descs tx_invalid_descs
         tx_ring_empty_descs tx_packets tx_bytes tx_zerocopy tx_completed
         tx_dropped kicks unstamped; .sockets: each socket's
  src.rules[ifname]: the rule set feeding each interface's sockets]]
require("pktsh.host.repl").doc(Xsk, help)
require("pktsh.host.repl").doc(M.open, help)

return M
