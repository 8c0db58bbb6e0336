-- tiletcp.lua OUT N - a TCP capture for the text-output bench: the TCP
-- segments (on Ethernet, tunnels included) of the captures tests/pcaps
-- tags tcp (handshakes, options, HTTP, DNS over TCP, gaps, cut segments),
-- over and over to N packets, 1 us apart. Offloaded captures are left
-- out: tcpdump stops at their IP length of 0 (README, dump.lua).
local out, n = arg[1], tonumber(arg[2] or "300000")
local frames = {}
for line in io.lines("tests/pcaps/MANIFEST.tsv") do
  local cols = {}
  for c in (line .. "\t"):gmatch("([^\t]*)\t") do cols[#cols + 1] = c end
  local tags = cols[14] or ""
  if tags:find("tcp", 1, true) and not tags:find("offload", 1, true) and cols[1] ~= "file" then
    local src = pktsh.open("tests/pcaps/" .. cols[1])
    if src then
      for p in src:packets() do
        if p.linktype == 1 and p:proto() == 6 then frames[#frames + 1] = p:raw() end
      end
      src:close()
    end
  end
end
assert(#frames > 0, "no TCP captures in tests/pcaps/MANIFEST.tsv")
local w = assert(pktsh.pcap_writer(out))
local t = 1.7e18
for i = 1, n do
  w:write(frames[(i - 1) % #frames + 1], t)
  t = t + 1000
end
w:close()
