-- pending.lua - requests waiting for their answer (module pktsh.pending):
-- a bounded table in C (src/accel/pending.c) from fixed-length byte keys
-- to a number, typically the time a request was seen. Nothing is
-- allocated per entry, so it suits a table that a million queries a
-- second go through; entries are kept in put order, so timeouts leave it
-- in O(1) each.
--
--   local pending = pktsh.pending
--   local t = pending.new{key = 48, max = 200000 [, evict = true]}
--   t:put(key, ts)      -> "new" | "replaced" | nil, "full"; with evict, a
--                          put into a full table drops the oldest entry
--                          and returns "evicted" (counted in t:evicted())
--   t:take(key)         -> the value (removing the entry), or nil
--   t:expire(before)    -> removes entries from the oldest put on while
--                          their value is below `before`; how many went.
--                          With values put in order (times) that is every
--                          entry below `before`, at O(1) each
--   t:count()           -> entries held
--   t:stats()           -> {lookups, probes, rekeys, max_probe, probe_limit,
--       visits}: what lookups cost (probes / lookups slots each; keys are
--       hashed under random tables, src/accel/hash.c, so no sender can
--       line them up), and the entries expiry and eviction looked at
--   t:batch(recs, stride, value_off, ops, n, out) -> records done
--       puts (ops[i] == pending.PUT) and takes (pending.TAKE) for n records
--       of an FFI array, in one call: a record's key at its start, its
--       value (double) at value_off; out[i] is 0/1/2 (new/replaced/
--       new after an eviction) for a put, the value or NaN for a take. It stops before a put that finds
--       the table full and returns that index (else n).
--   t:close()           (also when collected)
--
-- A key is a pointer to `key` bytes (an FFI struct or array: fill it in
-- place for each lookup) or a Lua string of exactly that length. Keys
-- are compared byte for byte, padding included: clear a reused struct.
local ffi = require "ffi"
local C = ffi.C
local errors = require "pktsh.host.errors"

local M = {}
local Pending = {}
Pending.__index = Pending

local function finalize(h) C.pktsh_pending_free(h) end

function M.new(opts)
  opts = opts or {}
  errors.argcheck(type(opts) == "table", 1, "pending.new", "table")
  local key_len, max = opts.key, opts.max or 100000
  errors.argcheck(type(key_len) == "number", 1, "pending.new", "key length in opts.key")
  local err = errors.new()
  local h = C.pktsh_pending_new(key_len, max, err)
  if h == nil then return nil, errors.message(err) end
  if opts.evict then C.pktsh_pending_set_evict(h, 1) end
  return setmetatable({h = ffi.gc(h, finalize), key_len = key_len, max = max,
                       out = ffi.new("double[1]")}, Pending)
end

local function check(self, key, fname)
  if self.h == nil then error(fname .. ": the table is closed", 3) end
  if type(key) == "string" and #key ~= self.key_len then
    error(string.format("%s: key of %d bytes, the table's are %d", fname, #key, self.key_len), 3)
  end
end

M.SKIP, M.PUT, M.TAKE = C.PKTSH_PENDING_SKIP, C.PKTSH_PENDING_PUT, C.PKTSH_PENDING_TAKE

function Pending:batch(recs, stride, value_off, ops, n, out)
  if self.h == nil then error("batch: the table is closed", 2) end
  return C.pktsh_pending_batch(self.h, recs, stride, value_off, ops, n, out)
end

local put_result = {[0] = "new", [1] = "replaced", [2] = "evicted"}

function Pending:put(key, value)
  check(self, key, "put")
  local r = C.pktsh_pending_put(self.h, key, value)
  if r < 0 then return nil, "full" end
  return put_result[r]
end

function Pending:take(key)
  check(self, key, "take")
  if C.pktsh_pending_take(self.h, key, self.out) == 0 then return nil end
  return self.out[0]
end

function Pending:expire(before)
  if self.h == nil then return 0 end
  return C.pktsh_pending_expire(self.h, before)
end

function Pending:count()
  if self.h == nil then return 0 end
  return C.pktsh_pending_count(self.h)
end

function Pending:evicted()
  if self.h == nil then return 0 end
  return tonumber(C.pktsh_pending_evicted(self.h))
end

function Pending:stats()
  if self.h == nil then error("stats: the table is closed", 2) end
  local s = require("pktsh.accel.hash").table_stats(C.pktsh_pending_stats, self.h)
  s.visits = tonumber(C.pktsh_pending_visits(self.h))
  return s
end

function Pending:close()
  if self.h ~= nil then
    C.pktsh_pending_free(ffi.gc(self.h, nil))
    self.h = nil
  end
end

return M
