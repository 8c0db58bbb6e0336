-- hostile.lua - DNS inputs crafted against weaknesses pktsh had (issue
-- 9): keys for the unkeyed hashes of the pending and top-k tables
-- (tests/unit/test_hash.lua, tests/bench/hashflood.lua), compression
-- pointer chains (tests/unit/test_dns.lua), TCP flows that never finish
-- a message (tests/unit/test_dnsflow.lua).
--   hostile.old_hash(s)             the old pktsh_hash_bytes of a string
--   hostile.capture(path, n, crafted)  n DNS queries over IPv6: crafted, all
--       with one old pending-table hash; else random ids, ports, clients
--   hostile.old_slot_key(i)       a 64-bit key the old top-k index put in
--       slot 0 (any table up to 2^24 slots); distinct for distinct i
--   hostile.pointer_message{chain = K, records = N [, size = bytes]}
--       a DNS response of N A records (as many as fit in size, default
--       65000, when N is nil) whose owner names are a pointer into a
--       chain of K more, each pointing just before itself, down to one
--       name of 245 octets: every name costs K + 1 hops and 245 octets;
--       cname = true: CNAME records whose target is such a name too
--   hostile.pointer_capture(path, count, opts)   count such responses
--       over UDP/IPv4 (port 53), opts as for pointer_message
--   hostile.incomplete_capture(path [, one])   2,000 TCP flows, each the
--       first 64,400 bytes of a 65,535-byte DNS message, never finished
--       (one: in one segment each)
local ffi = require "ffi"
local bit = require "bit"
local bxor, rshift, lshift, bor = bit.bxor, bit.rshift, bit.lshift, bit.bor

local M = {}

local C1, C2, C3 = 0xff51afd7ed558ccdULL, 0x9e3779b97f4a7c15ULL, 0xc4ceb9fe1a85ec53ULL

local function le64(s, i)          -- 8 bytes of s from 0-based i (zero past the end)
  local v = 0ULL
  for j = 7, 0, -1 do v = v * 256 + (s:byte(i + j + 1) or 0) end
  return v
end

-- The multiplicative inverse of an odd number mod 2^64 (Newton).
local function inverse(a)
  local x = a
  for _ = 1, 6 do x = x * (2ULL - a * x) end
  return x
end

local function unxorshift(y, s)    -- x from y = x ^ (x >> s)
  local x = y
  for _ = 1, math.ceil(64 / s) do x = bxor(y, rshift(x, s)) end
  return x
end

local function mix(h)
  h = bxor(h, rshift(h, 29)); h = h * C3
  return bxor(h, rshift(h, 32))
end
local function unmix(h)
  h = unxorshift(h, 32); h = h * inverse(C3)
  return unxorshift(h, 29)
end

-- The unkeyed pktsh_hash_bytes of src/pending.c before the fix.
local function old_hash(s)
  local len = #s
  local a, b = bxor(0x9e3779b97f4a7c15ULL, len), 0x2545f4914f6cdd1dULL
  local i = 0
  while i + 16 < len do
    a = bxor(a, le64(s, i)) * C1; b = bxor(b, le64(s, i + 8)) * C2
    a = bxor(a, rshift(a, 32)); b = bxor(b, rshift(b, 29))
    i = i + 16
  end
  local w0, w1 = 0ULL, 0ULL
  if len >= 16 then w0, w1 = le64(s, len - 16), le64(s, len - 8)
  elseif len > 8 then w0, w1 = le64(s, 0), le64(s, len - 8)
  else w0 = le64(s:sub(1, len), 0) end
  a = bxor(a, w0) * C1; b = bxor(b, w1) * C2
  return mix(bxor(a, bor(rshift(b, 31), lshift(b, 33))))
end

-- The 8 bytes at 24..31 of a 48-byte key that make old_hash(key) == target.
-- The b lane of the old hash takes them in its second round; every step
-- after is invertible.
local function solve_old(key, target)
  local a, b = bxor(0x9e3779b97f4a7c15ULL, 48), 0x2545f4914f6cdd1dULL
  a = bxor(a, le64(key, 0)) * C1; a = bxor(a, rshift(a, 32))
  b = bxor(b, le64(key, 8)) * C2; b = bxor(b, rshift(b, 29))
  local b1 = b
  a = bxor(a, le64(key, 16)) * C1; a = bxor(a, rshift(a, 32))
  a = bxor(a, le64(key, 32)) * C1
  local bf = bxor(unmix(target), a)
  bf = bor(lshift(bf, 31), rshift(bf, 33))               -- undo the rotation by 33
  local b2 = bxor(bf * inverse(C2), le64(key, 40))
  local u = bxor(unxorshift(b2, 29) * inverse(C2), b1)
  local out = {}
  for j = 0, 7 do out[j + 1] = string.char(tonumber(bit.band(rshift(u, 8 * j), 255))) end
  return table.concat(out)
end

-- the match key dnsstats hashed for its pending table then (name hash,
-- id, ports, IP version, client, server: 48 bytes)
local key_t = ffi.typeof([[struct { uint64_t name; uint16_t id, cport, sport, ipver;
                                    uint8_t client[16], server[16]; }]])
local QNAME = "\5flood\7example\0"

local function in6_text(b)
  local g = {}
  for i = 1, 16, 2 do g[#g + 1] = string.format("%x", b:byte(i) * 256 + b:byte(i + 1)) end
  return table.concat(g, ":")
end

-- A query from client (16 bytes) with id and source port.
local function query(client, id, cport)
  local msg = string.char(bit.rshift(id, 8), id % 256, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0) ..
              QNAME .. "\0\1\0\1"
  return pktsh.build.udp6{src = in6_text(client), dst = "2001:2::53", sport = cport,
                          dport = 53, payload = msg}
end

-- The capture: n queries from one /64 whose keys in the pending table
-- (struct pktsh_dns_key, name by the old name hash) all had the same old
-- hash, or (crafted = false) random interface ids, ids and ports.
function M.capture(path, n, crafted)
  local w = assert(pktsh.pcap_writer(path))
  local prefix = "\32\1\0\2\0\0\0\1"
  local server = assert(require("pktsh.proto.addr").parse6("2001:2::53"))
  local target = 0x123456789abcdefULL
  for i = 1, n do
    local id, cport = (i * 7919) % 65536, 1024 + (i * 31) % 60000
    local iid
    if crafted then
      local k = key_t()
      k.name, k.id, k.cport, k.sport, k.ipver = old_hash(QNAME), id, cport, 53, 6
      ffi.copy(k.client, prefix .. "\0\0\0\0\0\0\0\0", 16)
      ffi.copy(k.server, server, 16)
      iid = solve_old(ffi.string(k, 48), target)
      ffi.copy(k.client + 8, iid, 8)
      assert(old_hash(ffi.string(k, 48)) == target, "crafting failed")
    else
      local t = {}
      for j = 1, 8 do t[j] = string.char(math.random(0, 255)) end
      iid = table.concat(t)
      id, cport = math.random(0, 65535), math.random(1024, 65535)
    end
    assert(w:write(query(prefix .. iid, id, cport), i * 1000))
  end
  assert(w:close())
end

M.old_hash = old_hash

-- The top-k index's old slot function (src/topk.c before the fix) mixed
-- k by k ^= k >> 33, k *= C1, k ^= k >> 33: undone from i << 24.
function M.old_slot_key(i)
  local y = lshift(ffi.new("uint64_t", i), 24)
  return unxorshift(unxorshift(y, 33) * inverse(C1), 33)
end

local function be16(n) return string.char(math.floor(n / 256) % 256, n % 256) end
local function u32(n) return be16(math.floor(n / 65536)) .. be16(n % 65536) end

function M.pointer_message(o)
  local a_rr = "\0\1\0\1\0\0\14\16\0\4\198\18\0\1"     -- A IN, TTL 3600, 198.18.0.1
  -- record 1 brings the name, record 2 (an unknown type, rdata kept raw)
  -- the chain, each pointer to the one before it, the first to the name
  local base = string.rep(string.char(60) .. string.rep("a", 60), 4) .. "\0"   -- 245 octets
  local r = 12 + #base + #a_rr + 2 + 10
  local chain = {}
  for i = 0, o.chain - 1 do chain[i + 1] = be16(0xc000 + (i == 0 and 12 or r + 2 * (i - 1))) end
  chain = table.concat(chain)
  local last = r + #chain - 2
  assert(last < 0x4000, "chain too long for 14-bit offsets")
  local head = base .. a_rr .. "\192\12\255\0\0\1\0\0\0\0" .. be16(#chain) .. chain
  local rr = be16(0xc000 + last) .. a_rr
  if o.cname then rr = be16(0xc000 + last) .. "\0\5\0\1\0\0\14\16\0\2" .. be16(0xc000 + last) end
  local n = o.records or math.floor(((o.size or 65000) - 12 - #head) / #rr)
  return "\18\52\129\128\0\0" .. be16(n + 2) .. "\0\0\0\0" .. head .. rr:rep(n)
end

function M.pointer_capture(path, count, o)
  local w = assert(pktsh.pcap_writer(path))
  local msg = M.pointer_message(o)
  local frame = pktsh.build.udp4{src = "198.18.0.53", dst = "198.18.0.1", sport = 53,
                                 dport = 40000, payload = msg}
  for i = 1, count do assert(w:write(frame, i * 1000)) end
  assert(w:close())
  return #msg
end

-- A capture of 2,000 TCP flows (no SYN), one after the other, each the
-- first 64,400 bytes of a 65,535-byte message, never finished: in 46
-- segments of 1,400 bytes, or (one = true) in one segment, as a capture
-- taken before segmentation offload has them (126 MiB in all against
-- the default cap of 32 MiB; a flow made from one segment skipped the
-- cap, and the old code held 135 MB).
function M.incomplete_capture(path, one)
  local w = assert(pktsh.pcap_writer(path))
  local size = one and 64400 or 1400
  local template = pktsh.build.tcp4{src = "198.18.1.1", dst = "198.18.0.53", sport = 1,
                                    dport = 53, flags = "PA", payload = ("m"):rep(size)}
  local segs = 64400 / size
  for f = 1, 2000 do
    for j = 0, segs - 1 do
      -- bytes of its own in every segment (equal Lua strings would be shared)
      local data = u32(f) .. u32(j) .. ("m"):rep(size - 8)
      if j == 0 then data = be16(65535) .. data:sub(3) end
      local frame = template:sub(1, 34) .. be16(10000 + f) .. template:sub(37, 38) ..
                    u32(1 + size * j) .. template:sub(43, 54) .. data
      assert(w:write(frame, ((f - 1) * segs + j + 1) * 1000))
    end
  end
  assert(w:close())
end

return M
