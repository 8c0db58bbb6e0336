-- xskcount.lua IFACE MODE LINGER_US BATCH RING [ring] - a consumer of the
-- AF_XDP bench as a script would be: every packet redirected to the
-- AF_XDP source (pktsh's own rule set), or with "ring" the AF_PACKET ring
-- source behind pktsh's XDP program with no rule (every packet passes, as
-- past a rule set that redirects nothing), counted with its length in a
-- packets() loop until Ctrl-C. Prints "listening" when it is ready, then
-- what tests/bench/xskloop.c prints.
local iface, mode, ring = arg[1], arg[2], tonumber(arg[5])
local src, fw
if arg[6] == "ring" then
  fw = assert(pktsh.xdp(iface, {mode = mode}))
  src = assert(pktsh.open(iface))
else
  src = assert(pktsh.open{xsk = iface, mode = mode, linger_us = tonumber(arg[3]),
                          batch = tonumber(arg[4]), rx_size = ring, fill_size = ring})
end
print("listening")
io.stdout:flush()
local packets, bytes = 0, 0
for p in src:packets() do
  packets = packets + 1
  bytes = bytes + p.len
end
local st = src:stats()
print(string.format("count packets=%d bytes=%d", packets, bytes))
if fw then
  print(string.format("stats drops=%d", st.drops))
  fw:close()
else
  print(string.format("stats rx_dropped=%d rx_ring_full=%d fill_empty=%d",
                      st.rx_dropped, st.rx_ring_full, st.rx_fill_ring_empty_descs))
end
