-- flowflood.lua [N] - pktsh.dnsflow under a half-open TCP flood: the time
-- per segment of N SYNs to new flows once max_flows (10,000) is reached,
-- against N ordinary segments (one whole DNS message each), in one run.
--   build/pktsh tests/bench/flowflood.lua 200000
local packet = require "pktsh.proto.packet"
local N = tonumber(arg[1] or 200000)
local fe = pktsh.dnsflow.new{ports = {53}}
local q = "\66\66\1\0\0\1\0\0\0\0\0\0\7example\3com\0\0\1\0\1"
local whole = string.char(0, #q) .. q
local function seg(src, sport, flags, payload, ts)
  return packet.from_bytes(pktsh.build.tcp4{src = src, dst = "198.18.0.53", sport = sport, dport = 53,
                                            flags = flags, payload = payload}, 1, ts)
end
local ordinary, syn = {}, {}
for i = 1, N do
  local src = string.format("198.18.%d.%d", math.floor(i / 250) % 250, i % 250 + 1)
  ordinary[i] = seg(src, 1024 + i % 60000, "PA", whole, i * 1000)
  syn[i] = seg(src, 1024 + i % 60000, "S", "", (N + i) * 1000)
end
local function run(list)
  local t0 = os.clock()
  for i = 1, #list do fe:feed(list[i], function() end) end
  return (os.clock() - t0) / #list * 1e9
end
-- fill the table first, so that every SYN below meets max_flows
for i = 1, 10000 do fe:feed(seg("198.19.0.1", i, "S", "", i), function() end) end
local a = run(ordinary)
local b = run(syn)
print(string.format("ordinary %.0f ns/segment, SYN at max_flows %.0f ns/segment: %.1fx", a, b, b / a))
