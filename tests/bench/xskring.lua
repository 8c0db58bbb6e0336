-- xskring.lua IFACE MODE - the AF_PACKET ring source on the traffic the
-- AF_XDP bench sends: pktsh's XDP program with no rule (every packet
-- passes, as it would past a rule set that redirects nothing) in MODE,
-- then the ring counts packets and lengths until Ctrl-C. Prints what
-- tests/bench/xskloop.c prints.
local fw = assert(pktsh.xdp(arg[1], {mode = arg[2]}))
local src = assert(pktsh.open(arg[1]))
print("listening")
io.stdout:flush()
local packets, bytes = 0, 0
for p in src:packets() do
  packets = packets + 1
  bytes = bytes + p.len
end
local st = src:stats()
print(string.format("count packets=%d bytes=%d", packets, bytes))
print(string.format("stats drops=%d", st.drops))
fw:close()
