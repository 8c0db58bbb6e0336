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

-- The next batch (struct pktsh_batch *), or nil at the end, or nil, err.
-- The packets in a batch are valid until the next call (or close); after
-- it the batch is empty and using one of its packets is an error
-- (src/batch.c). The caller takes the whole batch: each() and packets()
-- go on with the batch after it.
function Source:next()
  if self.closed then return nil, "source is closed" end
  if self.pending then self:_release(self.pending); self.pending = nil end
  local b, err = self:_next()
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
  while C.pktsh_stopping() == 0 do
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
      if C.pktsh_stopping() ~= 0 then self.interrupted = true; return nil end
      b, i = self:_cursor()
      if not b then return nil end
    end
    self.pos = i + 1
    return b.pkt[i]
  end
end

-- For receivers the kernel feeds: calls fetch(self) (a count > 0, 0 for
-- nothing yet, -1 for an error in self.errbuf) until it gives a batch
-- (self.box[0]), Ctrl-C stops the input, or self.deadline passes; the
-- two last end the input as its end would. self.on_idle(), when set, is
-- called each time a fetch comes back empty (every poll interval of a
-- quiet link, 100 ms): what a caller does by the clock (a metrics
-- snapshot) still happens while no packet comes.
function Source:_wait(fetch)
  local deadline = self.deadline
  while true do
    local n = fetch(self)
    if n > 0 then return self.box[0] end
    if n < 0 then return nil, errors.message(self.errbuf) end
    if C.pktsh_stopping() ~= 0 then self.interrupted = true; return nil end
    if deadline and C.pktsh_mono_ns() >= deadline then return nil end
    if self.on_idle then self.on_idle() end
  end
end

-- The error that ended the input, if one did.
function Source:error()
  return self.err
end

-- Running totals; after close, the totals at the close (the receiver's
-- memory is gone by then).
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
Source.__fields = {"next", "each", "packets", "stats", "error", "close",
                   "linktype", "snaplen", "name", "kind", "filter"}

local function is_interface(name)
  if name:find("/", 1, true) then return false end
  local f = io.open("/sys/class/net/" .. name .. "/ifindex", "r")
  if f then f:close() end
  return f ~= nil
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
