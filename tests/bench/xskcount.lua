-- xskcount.lua IFACE MODE LINGER_US BATCH RING - the AF_XDP source as a
-- script uses it: every packet redirected to the socket (pktsh's own
-- rule set), counted with its length in a packets() loop until Ctrl-C.
-- Prints "listening" when the socket is in the map, then what
-- tests/bench/xskloop.c prints.
local ring = tonumber(arg[5])
local src = assert(pktsh.open{xsk = arg[1], mode = arg[2], linger_us = tonumber(arg[3]),
                              batch = tonumber(arg[4]), rx_size = ring, fill_size = ring})
print("listening")
io.stdout:flush()
local packets, bytes = 0, 0
for p in src:packets() do
  packets = packets + 1
  bytes = bytes + p.len
end
local st = src:stats()
print(string.format("count packets=%d bytes=%d", packets, bytes))
print(string.format("stats rx_dropped=%d rx_ring_full=%d fill_empty=%d",
                    st.rx_dropped, st.rx_ring_full, st.rx_fill_ring_empty_descs))
