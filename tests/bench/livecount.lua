-- livecount.lua IFACE - the simplest live script: counts packets and
-- bytes until Ctrl-C, then prints them with the ring's statistics.
local src = assert(pktsh.open(arg[1]))
local packets, bytes = 0, 0
assert(src:each(function(p)
  packets = packets + 1
  bytes = bytes + p.len
end))
local st = src:stats()
print(string.format("count packets=%d bytes=%d", packets, bytes))
io.stderr:write(string.format("stats packets=%d received=%d drops=%d\n",
                              st.packets, st.received, st.drops))
