-- Keyed hashing (src/hash.c, pktsh.hash) and the tables built on it:
-- SipHash-1-3 against published vectors, the name hash, one key per process (different
-- in every run, the same in every worker), and the pending and top-k
-- tables fed keys crafted against the unkeyed hashes they used before:
-- those keys must cost what random keys cost. Work is counted (the
-- tables' probe counters), not timed.
local T = require "t"
local ffi = require "ffi"
local bit = require "bit"
require "pktsh.cdef"
local C = ffi.C
local hash = pktsh.hash
local PKTSH = os.getenv("PKTSH_BIN") or "build/pktsh"
local lshift = bit.lshift

T.test("SipHash-1-3: published vectors (key 0; Python's hash() and Rust's digest crate)", function()
  local seq = {}
  for i = 0, 63 do seq[i + 1] = string.char(i) end
  seq = table.concat(seq)
  -- SipHash-1-3 with an all-zero key of bytes 00 01 02 ... (n bytes),
  -- as CPython 3.11 (sys.hash_info.algorithm siphash13, PYTHONHASHSEED=0) gives them
  local want = {
    [0] = 0xd1fba762150c532cULL, [7] = 0x2f098ab0c751325aULL, [8] = 0xead411e67ebe2eeaULL,
    [15] = 0xf30eb725bb91c9eaULL, [16] = 0x8972188433a5c5b7ULL, [48] = 0xfe1f2445ba50237fULL,
  }
  for n, h in pairs(want) do
    T.eq(hash.siphash13(0, 0, seq:sub(1, n)), h, n .. " bytes")
  end
  T.eq(hash.siphash13(0, 0, "siphash"), 0x8264ceeccb16bcbeULL, "siphash")
  T.eq(hash.siphash13(0, 0, "digest-sip_hash"), 0xce31007e34130c0aULL, "digest-sip_hash")
  -- the key matters, and every length from 0 to 24 reads its tail right
  T.ok(hash.siphash13(1, 0, "siphash") ~= hash.siphash13(0, 0, "siphash"), "key ignored")
  local seen = {}
  for n = 0, 24 do
    local h = tostring(hash.siphash13(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, seq, n))
    T.ok(not seen[h], "two lengths hash alike: " .. n); seen[h] = true
  end
end)

-- Runs a chunk in a new pktsh process; its output.
local function run(code, opts)
  local p = io.popen(string.format("%s %s -e %q 2>&1", PKTSH, opts or "", code))
  local out = p:read("*a")
  p:close()
  return out
end

T.test("the key is per process: two runs hash differently, one run alike", function()
  local code = "io.write(tostring(pktsh.hash.bytes('example')), ' ', tostring(pktsh.hash.bytes('example')))"
  local a1, a2 = run(code):match("^(%d+)ULL (%d+)ULL$")
  local b1 = run(code):match("^(%d+)ULL")
  T.ok(a1 and b1, "output")
  T.eq(a1, a2, "the same bytes twice in one process")
  T.ok(a1 ~= b1, "two processes drew the same key: " .. a1)
end)

T.test("DNS name hashes are the process's name hash of the wire name, case folded", function()
  local q = "\18\52\1\0\0\1\0\0\0\0\0\0\7ExAmPle\3COM\0\0\1\0\1"
  local s = assert(pktsh.dns.question_struct(q))
  T.eq(s.name_hash, hash.name("\7example\3com\0"), "name_hash")
  -- a name whose buffer goes on: only its bytes count
  local buf = ffi.new("uint8_t[32]", "\7example\3com\0\255\255\255")
  T.eq(hash.name(buf, 13), s.name_hash, "bytes past the name")
end)

T.test("DNS name hashes of every length equal hash.name, message tight or not", function()
  -- names of 1 to 253 bytes of labels (upper case in them), in a message
  -- that ends right after the question (its last bytes copied 8 and 1 at
  -- a time) and in one with 40 bytes more (16 at a time)
  local hdr = "\18\52\1\0\0\1\0\0\0\0\0\0"
  for n = 1, 253 do
    local labels, left, i = {}, n, 0
    while left > 0 do
      local l = math.min(left - 1, 1 + (i * 7) % 40)
      if l < 1 then break end
      labels[#labels + 1] = string.char(l) .. ("AbCdEfGhIj"):rep(5):sub(1, l)
      left, i = left - l - 1, i + 1
    end
    local wire = table.concat(labels) .. "\0"
    local want = hash.name(wire:lower())
    for _, tail in ipairs{"", ("\255"):rep(40)} do
      local q = pktsh.dns.question_struct(hdr .. wire .. "\0\1\0\1" .. tail)
      T.ok(q, "parsed, " .. #wire .. " bytes")
      T.eq(q.name_hash, want, #wire .. " bytes, tail " .. #tail)
      T.eq(ffi.string(q.wire, q.wire_len), wire:lower(), "wire, " .. #wire .. " bytes")
    end
  end
end)

T.test("the name hash: every length and every byte counts, below 2^61 - 1", function()
  -- zero padding to a whole word must not make two lengths alike
  local seen, n = {}, 0
  for len = 0, 40 do
    for _, fill in ipairs(len == 0 and {""} or {"\0", "a"}) do
      local h = hash.name(string.rep(fill, len))
      T.ok(h < 0x1fffffffffffffffULL, "below the prime")
      local k = tostring(h)
      T.ok(not seen[k], ("%d bytes of %q hash as another"):format(len, fill)); seen[k] = true
      n = n + 1
    end
  end
  -- one byte changed anywhere in a long name, both halves of every word
  local base = string.rep("x", 255)
  local hb = hash.name(base)
  for i = 1, 255 do
    local s = base:sub(1, i - 1) .. "y" .. base:sub(i + 1)
    T.ok(hash.name(s) ~= hb, "byte " .. i .. " ignored")
  end
  T.eq(hash.name(base .. "zzz"), hash.name(base .. "zzz"), "the same twice")
  -- 100k distinct names, 100k distinct hashes (2^-61 a pair: a
  -- collision here is a bug, not chance)
  local hs = {}
  for i = 1, 100000 do
    local k = tostring(hash.name("\6q" .. string.format("%05d", i) .. "\7example\3com\0"))
    T.ok(not hs[k], "collision at " .. i)
    hs[k] = true
  end
end)

T.test("workers share the process key: every worker's hashes equal the parent's", function()
  -- pktsh.parallel's merge raises on two different strings, so a merged
  -- result means every worker returned the parent's values
  local script = [[
local M = {}
local q = "\18\52\1\0\0\1\0\0\0\0\0\0\7example\3com\0\0\1\0\1"
function M.mine()
  return {h = tostring(pktsh.hash.bytes("example")),
          n = tostring(pktsh.dns.question_struct(q).name_hash)}
end
function M.main()
  local files = {}
  for f in io.popen("ls tests/pcaps/*.pcap | grep -v invalid"):lines() do files[#files + 1] = f end
  local r, st = pktsh.parallel(files, {workers = 3}, M.mine)
  if not r then print("ERR " .. tostring(st)); return end
  local m = M.mine()
  print(r.h == m.h and r.n == m.n and "same" or "differ", #st.workers)
end
return pktsh.main(M)
]]
  local path = os.tmpname()
  local f = assert(io.open(path, "w")); f:write(script); f:close()
  local p = io.popen(PKTSH .. " " .. path .. " 2>&1")
  local out = p:read("*a")
  p:close()
  os.remove(path)
  T.eq(out, "same\t3\n", "workers")
end)

T.test("LuaJIT hashes strings under a random seed and finds them by random ids", function()
  -- Lua tables keyed by strings made from packets (dnsflow's flows and
  -- fragments, text keys of top-k and histograms) are safe only if
  -- these are on: a random string-hash seed, the dense hash when a
  -- chain grows (the sparse hash skips bytes: IPv6 flow keys differing
  -- in the skipped ones would all collide), and random string ids, by
  -- which tables find string keys
  T.ok(jit.security, "jit.security missing: a LuaJIT without hardened string hashing")
  T.ok(jit.security("prng") >= 1, "prng")
  T.ok(jit.security("strhash") >= 1, "strhash")
  T.ok(jit.security("strid") >= 1, "strid")
end)

local crafted = require "hostile"

-- A path no file has (the writer may refuse to replace one).
local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p .. ".pcap"
end

-- Mean slots read per lookup when the capture's queries go through
-- dnsstats' engine (the C scan, its pending table).
local function pending_cost(path)
  local eng = require("fed")(path, {max_pending = 200000, timeout = 1e6})
  local s = ffi.new("struct pktsh_table_stats")
  C.pktsh_dnsstats_pending_stats(eng.h, s)
  local c = eng:counts()
  assert(c.pending == c.queries, "every query stored")
  return tonumber(s.probes) / tonumber(s.lookups), s, c.queries
end

T.test("pending: queries crafted against the old unkeyed hash cost what random ones do", function()
  math.randomseed(9)
  local N = 3000
  local craftedp, random = tmpname(), tmpname()
  crafted.capture(craftedp, N, true)
  crafted.capture(random, N, false)
  local c, cs, n1 = pending_cost(craftedp)
  local r, rs, n2 = pending_cost(random)
  os.remove(craftedp); os.remove(random)
  T.eq(n1, N, "crafted queries stored"); T.eq(n2, N, "random queries stored")
  print(string.format("# pending probes per lookup: crafted %.3f (max %d), random %.3f (max %d)",
                      c, cs.max_probe, r, rs.max_probe))
  T.ok(c <= 2 * r, string.format("crafted keys cost %.1fx random ones", c / r))
  T.ok(cs.max_probe < cs.probe_limit, "a lookup went past the probe limit")
end)

T.test("top-k: keys crafted against the old unkeyed slot hash cost what random ones do", function()
  local function cost(keys, n)
    local c = assert(pktsh.topk.column(8192))
    c:add(keys, n)
    local s = c:stats()
    return s.probes / s.lookups, s
  end
  local N = 6000
  local bad, random = ffi.new("uint64_t[?]", N), ffi.new("uint64_t[?]", N)
  math.randomseed(11)
  for i = 0, N - 1 do
    bad[i] = crafted.old_slot_key(i + 1)
    random[i] = ffi.new("uint64_t", math.random(0, 2 ^ 31)) * 2 ^ 31 + math.random(0, 2 ^ 31)
  end
  local c, cs = cost(bad, N)
  local r = cost(random, N)
  print(string.format("# top-k probes per lookup: crafted %.3f (max %d), random %.3f", c, cs.max_probe, r))
  T.ok(c <= 2 * r, string.format("crafted keys cost %.1fx random ones", c / r))
end)

-- The filter of a full top-k table (filtered space-saving) counts a key
-- not kept in a cell of its keyed hash. Keys a sender crafted to share
-- one cell under an unkeyed choice (the key's own low bits, or the old
-- slot function) would fill that cell at once and evict a counter each,
-- as if there were no filter: they must enter as rarely as random keys.
T.test("top-k filter: keys crafted to share one filter cell enter as rarely as random ones", function()
  local m, N = 1024, 20000
  local function entered(keys)
    local c = assert(pktsh.topk.column(m))
    local heavy = ffi.new("uint64_t[?]", m)
    for i = 0, m - 1 do heavy[i] = 0x100000000ULL + i end
    for _ = 1, 40 do c:add(heavy, m) end            -- full, the smallest count 40
    return c:add(keys, N)
  end
  local low, slot0, random = ffi.new("uint64_t[?]", N), ffi.new("uint64_t[?]", N),
                             ffi.new("uint64_t[?]", N)
  math.randomseed(12)
  for i = 0, N - 1 do
    low[i] = lshift(ffi.new("uint64_t", i + 1), 24)  -- the low 24 bits alike
    slot0[i] = crafted.old_slot_key(i + 1)
    random[i] = ffi.new("uint64_t", math.random(0, 2 ^ 31)) * 2 ^ 31 + math.random(0, 2 ^ 31)
  end
  local r, a, b = entered(random), entered(low), entered(slot0)
  print(string.format("# top-k keys entered of %d new: random %d, low bits alike %d, old slot 0 %d",
                      N, r, a, b))
  T.ok(r < N / 100, "random keys entered: " .. r)
  T.ok(a <= 2 * r + 20, "keys with their low bits alike entered: " .. a)
  T.ok(b <= 2 * r + 20, "keys of the old slot 0 entered: " .. b)
end)

T.test("top-k: raw keys given as hashed are caught by the probe limit", function()
  -- keys = "hashed" trusts the keys' own bits (their halves XORed):
  -- keys whose halves are equal all go to slot 0 and pile up until the
  -- limit makes the table draw random tables of its own
  local N = 2000
  local keys = ffi.new("uint64_t[?]", N)
  for i = 0, N - 1 do keys[i] = lshift(ffi.new("uint64_t", i + 1), 32) + (i + 1) end
  local c = assert(pktsh.topk.column(4096, {keys = "hashed"}))
  c:add(keys, N)
  local s = c:stats()
  T.ok(s.rekeys >= 1, "no rekey")
  T.ok(s.max_probe <= s.probe_limit + 1, "max probe " .. s.max_probe)
  local t = c:table()
  T.eq(t.size, N, "every key counted once")
  local hashed = assert(pktsh.topk.column(4096))
  hashed:add(keys, N)
  T.eq(hashed:stats().rekeys, 0, "raw keys hashed: no rekey")
end)

T.test("pending: sequential keys spread (short probes, no rekey)", function()
  -- the limit's own test, with tables a sender knows, is
  -- tests/sh/test_table_rekey.sh
  local t = assert(pktsh.pending.new{key = 8, max = 100000})
  local k = ffi.new("uint64_t[1]")
  for i = 1, 50000 do k[0] = i; assert(t:put(k, i) == "new") end
  for i = 1, 50000 do k[0] = i; T.eq(t:take(k), i, "take " .. i) end
  local s = t:stats()
  T.eq(s.rekeys, 0, "rekeys")
  T.ok(s.max_probe < s.probe_limit, "max probe " .. s.max_probe)
  T.ok(s.probes / s.lookups < 2, "mean probe " .. s.probes / s.lookups)
end)

-- LuaJIT 2.1's main position of a number key in a table's hash part of
-- mask + 1 nodes (lj_tab.h: hashnum, hashrot on x64): keys sharing one
-- are a chain every lookup of them walks.
local pun = ffi.new("union { double d; uint32_t u[2]; }")
local tobit, band, bxor, rol = bit.tobit, bit.band, bit.bxor, bit.rol
local function lj_bucket(v, mask)
  pun.d = v
  local lo, hi = pun.u[0], lshift(pun.u[1], 1)
  lo = bxor(lo, hi); hi = rol(hi, 14)
  lo = tobit(lo - hi); hi = rol(hi, 5)
  hi = bxor(hi, lo); hi = tobit(hi - rol(lo, 13))
  return band(hi, mask)
end

-- The longest chain the number keys of t would form in 256 nodes.
local function longest_chain(t)
  local per, most = {}, 0
  for k in pairs(t) do
    if type(k) == "number" then
      local b = lj_bucket(k, 255)
      per[b] = (per[b] or 0) + 1
      if per[b] > most then most = per[b] end
    end
  end
  return most
end

T.test("hist and top-k: ports crafted to share one LuaJIT hash chain do not", function()
  local ports = {}
  for p = 1, 65535 do if lj_bucket(p, 255) == 0 then ports[#ports + 1] = p end end
  T.ok(#ports >= 200, "crafted " .. #ports)
  local raw = {}
  for _, p in ipairs(ports) do raw[p] = true end
  T.eq(longest_chain(raw), #ports, "as raw keys: one chain")
  local h, t = pktsh.hist.new{}, pktsh.topk.new(1000)
  for _ = 1, 3 do
    for _, p in ipairs(ports) do h:add(p); t:add(p) end
  end
  T.ok(longest_chain(h.counts) <= 12, "hist chain " .. longest_chain(h.counts))
  T.ok(longest_chain(t.counts) <= 12, "top-k chain " .. longest_chain(t.counts))
  T.eq(h:get(ports[1]), 3, "counted"); T.eq((t:get(ports[2])), 3, "counted")
  T.eq(t:top(1)[1].count, 3, "top"); T.eq(h:bins()[1].count, 3, "bins")
  local lin = pktsh.hist.new{width = 1}
  for _, p in ipairs(ports) do lin:add(p + 0.5) end
  T.ok(longest_chain(lin.counts) <= 12, "linear bins chain " .. longest_chain(lin.counts))
  T.eq(lin:bins()[1].lo, ports[1], "bins in order")
end)

T.done()
