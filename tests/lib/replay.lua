-- replay.lua IFACE FILE [PPS]: sends every frame of a capture file out of
-- IFACE as it is (default 20,000 frames a second at most, so a live
-- capture on the other end of a veth keeps up). Prints "sent N".
local ifname, path, pps = arg[1], arg[2], tonumber(arg[3] or 20000)
local s = assert(pktsh.sender(ifname, {tx_ring = false}))
local src = assert(pktsh.open(path))
local ffi = require "ffi"
local n, t0 = 0, pktsh.now()
for p in src:packets() do
  assert(s:send(ffi.string(p.data, p.caplen)))
  n = n + 1
  while (pktsh.now() - t0) < n / pps * 1e9 do end
end
print("sent " .. n)
