-- stream.lua - what the report tests share: a deterministic stream of
-- Zipf-like keys, and the serialiser's round trip a worker's result takes.
local serial = require "pktsh.host.serial"
local M = {}

-- A deterministic stream: xorshift32, Zipf-like keys.
function M.stream(n, seed, distinct)
  local s = seed or 12345
  local out = {}
  for i = 1, n do
    s = bit.bxor(s, bit.lshift(s, 13)); s = bit.bxor(s, bit.rshift(s, 17)); s = bit.bxor(s, bit.lshift(s, 5))
    local u = (s % 1000000) / 1000000
    out[i] = math.floor((distinct or 5000) ^ u)        -- heavy head, long tail
  end
  return out
end

-- Through the serialiser, as a worker's result travels.
function M.wire(x) return serial.decode(serial.encode(x)) end

return M
