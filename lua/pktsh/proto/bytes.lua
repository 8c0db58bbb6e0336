-- bytes.lua - network-order loads from a byte pointer (module
-- pktsh.proto.bytes): the one be16 and be32 of the decoders, the DNS
-- reader, pktsh.dnsflow and the address structs. Callers copy them into
-- locals at load, as they do bit.*; a call to either is inlined in a
-- trace like a local function's.
local bit = require "bit"

local bor, lshift = bit.bor, bit.lshift

local M = {}

function M.be16(d, o) return bor(lshift(d[o], 8), d[o + 1]) end

-- Unsigned: bit operations give signed 32-bit numbers.
function M.be32(d, o)
  local v = bor(lshift(d[o], 24), lshift(d[o + 1], 16), lshift(d[o + 2], 8), d[o + 3])
  if v < 0 then v = v + 4294967296 end
  return v
end

function M.selftest()
  local d = require("ffi").new("uint8_t[6]", {0x12, 0x34, 0xff, 0xfe, 0xfd, 0xfc})
  assert(M.be16(d, 0) == 0x1234 and M.be16(d, 2) == 0xfffe)
  assert(M.be32(d, 0) == 0x1234fffe and M.be32(d, 2) == 0xfffefdfc)
end

return M
