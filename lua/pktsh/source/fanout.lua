-- fanout.lua - a live source with workers = N (module pktsh.source.fanout):
-- N AF_PACKET rings in one PACKET_FANOUT group. Read in this thread it is
-- an ordinary source (ring after ring); g:parallel(work, ...) hands each
-- ring to a worker thread (pktsh.parallel, lua/pktsh/host/parallel.lua).
require "pktsh.cdef"
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"
local source = require "pktsh.source"
local Source = source.Source

local M = {}
local format = string.format

-- A source's statistics as pktsh.parallel reports them: with
-- `interrupted`, and `error`, the error that ended its input (a torn
-- capture, a failed read), if one did.
function M.stats_table(src)
  local st = src:stats()
  st.interrupted = src.interrupted and true or false
  st.error = src:error() and tostring(src:error()) or nil
  return st
end

-- Sums statistics (numbers add, interrupted if any was, the first error).
function M.add_stats(list)
  local total = {interrupted = false}
  for _, st in ipairs(list) do
    for k, v in pairs(st) do
      if type(v) == "number" then total[k] = (total[k] or 0) + v end
    end
    total.interrupted = total.interrupted or st.interrupted or false
    total.error = total.error or st.error
  end
  return total
end

-- The sum of the workers' statistics; stats.workers keeps each one.
function M.sum_stats(list)
  local total = M.add_stats(list)
  total.workers = list
  return total
end

local Group = {}
Group.__index = Group
M.Group = Group

-- Opens n rings on ifname in one new fanout group (opts.fanout, default
-- "hash"; opts.defrag), then drops privileges if -Z asked for it.
function M.open(ifname, opts)
  errors.argcheck(type(ifname) == "string", 1, "open", "string")
  opts = opts or {}
  local live = require "pktsh.source.live"
  local n = opts.workers or C.pktsh_jobs()
  if type(n) ~= "number" or n < 1 or n % 1 ~= 0 or n > 1024 then
    return nil, format("workers must be a whole number from 1 to 1024, not %s", tostring(n))
  end
  local _, derr = source.duration(opts)
  if derr then return nil, derr end
  local ro = {}
  for k, v in pairs(opts) do if k ~= "merge" and k ~= "workers" then ro[k] = v end end
  ro.fanout = ro.fanout or "hash"
  ro.fanout_group = ro.fanout_group or tonumber(C.pktsh_fanout_group_new())
  ro.duration = nil
  local g = setmetatable({name = ifname, kind = "live", workers = n, filter = opts.filter,
                          fanout = ro.fanout, opts = opts, rings = {},
                          cursor = 0}, Group)
  for i = 1, n do
    local ring, err = live.open_ring(ifname, ro)
    if not ring then g:close(); return nil, err end
    g.rings[i] = live.wrap(ring, ifname, ro)
  end
  local ok, err = require("pktsh.host.privs").drop(g)
  if not ok then return nil, err end
  local first = g.rings[1]
  g.linktype, g.snaplen, g.ifindex, g.tstamp = first.linktype, first.snaplen, first.ifindex, first.tstamp
  g:_limit(opts.duration)
  return g
end

-- The group read in this thread, ring after ring (for the REPL and for
-- scripts that do not need the cores): the usual source methods.
setmetatable(Group, {__index = Source})
Group.__tostring = function(g)
  return format("pktsh source %s (live, %d workers, fanout %s)%s", g.name, g.workers,
                g.fanout, g.closed and " closed" or "")
end
Group.__fields = {"parallel", "next", "each", "packets", "stats", "error", "close",
                  "linktype", "snaplen", "name", "kind", "filter", "workers", "fanout"}

-- One look at every ring without waiting, then a wait of ms on the next
-- one (in turn, so that each is waited on): _await's poll.
local function poll_rings(self, ms)
  local rings, n = self.rings, #self.rings
  for _ = 1, n do
    self.cursor = self.cursor % n + 1
    local r = rings[self.cursor]
    local got = C.pktsh_ring_next(r.handle, r.box, 0, r.errbuf)
    if got ~= 0 then self.current = r; return got end
  end
  local r = rings[self.cursor % n + 1]
  local got = C.pktsh_ring_next(r.handle, r.box, math.floor(ms / n) + 1, r.errbuf)
  if got ~= 0 then self.cursor = self.cursor % n + 1; self.current = r end
  return got
end

function Group:_next(timeout)
  if #self.rings == 0 then return nil end
  local n, why = self:_await(poll_rings, timeout)
  if n == nil then return why == "timeout" and source.EMPTY or nil end
  local r = self.current
  if n < 0 then self.current = nil; return nil, errors.message(r.errbuf) end
  return r.box[0]
end

function Group:_release()
  if self.current then C.pktsh_ring_release(self.current.handle); self.current = nil end
end

-- The group's counters: the sum over its rings, each ring's in .rings.
function Group:stats()
  local list = {}
  for i, r in ipairs(self.rings) do list[i] = M.stats_table(r) end
  local st = M.sum_stats(list)
  st.interrupted = self.interrupted or st.interrupted
  return st
end

function Group:_close()
  for _, r in ipairs(self.rings) do r:close() end
end

-- g:parallel(work, ...) is pktsh.parallel(g, g's options, work, ...).
function Group:parallel(work, ...)
  return require("pktsh.host.parallel").parallel(self, self.opts, work, ...)
end

return M
