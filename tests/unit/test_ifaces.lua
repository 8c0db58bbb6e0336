-- pktsh.interfaces (pktsh.source.ifaces, src/source/ifaces.c): what a
-- capture can open, as tcpdump -D lists it.
local T = require "t"

local list = assert(pktsh.interfaces())

T.test("lo is listed, up, running, loopback", function()
  local lo
  for _, i in ipairs(list) do if i.name == "lo" then lo = i end end
  T.ok(lo, "no lo")
  T.ok(lo.up and lo.running and lo.loopback and not lo.wireless, "lo's flags")
end)

T.test("text: tcpdump -D's line", function()
  T.eq(pktsh.interfaces.text({name = "lo", flags = 7, up = true, running = true, loopback = true}, 3),
       "3.lo [Up, Running, Loopback]")
  T.eq(pktsh.interfaces.text({name = "eth0", flags = 0x13, up = true, running = true, status = "connected"}, 1),
       "1.eth0 [Up, Running, Connected]")
  T.eq(pktsh.interfaces.text({name = "wlan0", flags = 0x18, wireless = true, status = "disconnected"}, 2),
       "2.wlan0 [Wireless, Not associated]")
  T.eq(pktsh.interfaces.text({name = "any", description = "Pseudo-device", flags = 0}, 4),
       "4.any (Pseudo-device)")
end)

if os.execute("command -v tcpdump >/dev/null 2>&1") == 0 then
  T.test("the same list as tcpdump -D", function()
    local ours, theirs
    for _ = 1, 3 do   -- another test may add or remove an interface meanwhile
      local t = {}
      for n, i in ipairs(assert(pktsh.interfaces())) do t[n] = pktsh.interfaces.text(i, n) end
      ours = table.concat(t, "\n") .. "\n"
      local p = io.popen("tcpdump -D 2>/dev/null")
      theirs = p:read("*a"); p:close()
      if ours == theirs then break end
    end
    T.eq(ours, theirs)
  end)
else
  T.skip("the same list as tcpdump -D", "tcpdump is not installed")
end

-- The one test of "is this an interface?" (pktsh.open and pktsh.parallel
-- had a copy each; count.lua asks it of --fanout's source).
T.test("interfaces.exists: lo is one; files, paths and other names are not", function()
  local exists = pktsh.interfaces.exists
  T.eq(exists("lo"), true, "lo")
  T.eq(exists("pktsh-nosuch9"), false, "no such interface")
  T.eq(exists("tests/pcaps/dnscap__dns.pcap"), false, "a capture file")
  T.eq(exists("../net/lo"), false, "a path, even one /sys would resolve")
  T.eq(exists("."), false, "."); T.eq(exists(".."), false, "..")
  T.eq(exists(nil), false, "nil"); T.eq(exists(1), false, "a number")
end)

T.done()
