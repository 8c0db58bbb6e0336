-- Time for scripts (src/host/clock.c, lua/pktsh/init.lua): pktsh.now,
-- pktsh.mono, pktsh.sleep and pktsh.stopping, without signals (those are
-- in tests/sh/test_clock.sh).
local T = require "t"

T.test("now is the wall clock, mono never goes back", function()
  T.ok(math.abs(pktsh.now() / 1e9 - os.time()) < 2, "now ~ os.time()")
  local a = pktsh.mono()
  local b = pktsh.mono()
  T.ok(type(a) == "number" and b >= a, "mono")
end)

T.test("sleep waits the time and says it was not stopped", function()
  local t0 = pktsh.mono()
  T.eq(pktsh.sleep(0.12), true)
  local ms = (pktsh.mono() - t0) / 1e6
  T.ok(ms >= 120, "slept " .. ms .. " ms")
  t0 = pktsh.mono()
  T.eq(pktsh.sleep(0), true)
  T.eq(pktsh.sleep(-5), true)
  T.ok((pktsh.mono() - t0) / 1e6 < 100, "no wait for 0 or less")
end)

T.test("sleep refuses what is not a number of seconds", function()
  T.raises(function() pktsh.sleep("1") end, "bad argument #1 to 'sleep'")
  T.raises(function() pktsh.sleep(0 / 0) end, "bad argument #1 to 'sleep'")
end)

T.test("stopping is false until a signal", function()
  T.eq(pktsh.stopping(), false)
end)

T.done()
