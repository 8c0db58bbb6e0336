-- hash.lua - keyed hashing of packet bytes (module pktsh.hash).
--
--   pktsh.hash.bytes(s [, len]) -> uint64_t cdata
--       SipHash-1-3 of a Lua string (or of len bytes at a pointer) under
--       the process key: drawn from getrandom() once per process, the
--       same in every worker thread of it, different in every run. Key a
--       table by this, never by an unkeyed hash of packet bytes.
--   pktsh.hash.name(s [, len]) -> uint64_t cdata
--       the hash of a DNS name in wire form, as pktsh.dns gives it in
--       q.name_hash (pass the lower-cased wire form to match that): a
--       universal hash under the process's multipliers (2^-61 collision
--       chance), below 2^61 - 1; cheaper than bytes, but not for values
--       shown outside the process
--   pktsh.hash.siphash13(k0, k1, s [, len]) -> uint64_t cdata
--       the same function under the key (k0, k1) (tests check it against
--       published vectors)
--   pktsh.hash.num(x) -> a number: the Lua table key to use for the
--       number x when a sender chooses x (53 bits of the keyed hash of its
--       8 bytes, a whole double; -0 as 0); the same for x in every Lua
--       state of the process
--   pktsh.hash.table_stats(fn, handle) -> {lookups, probes, rekeys,
--       max_probe, probe_limit}: for the C tables' :stats()
--
-- Lua tables keyed by strings made from packets need none of this:
-- LuaJIT 2.1 (since mid-2020) hashes strings under a random seed and
-- falls back to a dense hash when a chain grows, and a table finds a
-- string by its interned id, which is drawn at random (jit.security:
-- prng, strhash, strid; tests/unit/test_hash.lua checks they are on).
-- A number is hashed by its value, unkeyed: key Lua tables by a keyed
-- hash (hash.num), not by numbers a sender chooses.
local ffi = require "ffi"
local bit = require "bit"
require "pktsh.cdef"
local C = ffi.C
local band = bit.band
local hash_num = C.pktsh_hash_num

local M = {}

-- hash.num remembers its last 4096 answers, by the number's low bits:
-- the same port, length or histogram bin comes again and again, and a
-- lookup here costs a tenth of the hash. A sender can only make it miss.
local MEMO = 4096
local memo_x, memo_k = ffi.new("double[?]", MEMO), ffi.new("double[?]", MEMO)
memo_x[0], memo_k[0] = 0, hash_num(0)
for i = 1, MEMO - 1 do memo_x[i], memo_k[i] = 0.5, hash_num(0.5) end

function M.num(x)
  local i = band(x, MEMO - 1)
  if memo_x[i] == x then return memo_k[i] end
  local k = hash_num(x)
  memo_x[i], memo_k[i] = x, k
  return k
end

local function input(x, len, fname)
  if type(x) == "string" then
    if len == nil or len > #x then len = #x end
    return x, len
  end
  if type(len) ~= "number" then error(fname .. ": length expected with a pointer", 3) end
  return x, len
end

function M.bytes(x, len)
  local p, n = input(x, len, "hash.bytes")
  return C.pktsh_hash(p, n)
end

function M.name(x, len)
  local p, n = input(x, len, "hash.name")
  return C.pktsh_name_hash(p, n)
end

function M.siphash13(k0, k1, x, len)
  local p, n = input(x, len, "hash.siphash13")
  return C.pktsh_siphash13(k0, k1, p, n)
end

local stats_t = ffi.typeof("struct pktsh_table_stats")

function M.table_stats(fn, h)
  local s = stats_t()
  fn(h, s)
  return {lookups = tonumber(s.lookups), probes = tonumber(s.probes),
          rekeys = tonumber(s.rekeys), max_probe = s.max_probe, probe_limit = s.probe_limit}
end

function M.selftest()
  assert(M.siphash13(0, 0, "siphash") == 0x8264ceeccb16bcbeULL)
  assert(M.bytes("abc") == M.bytes("abcd", 3))
  return true
end

return M
