-- pktsh.rate (lua/pktsh/report/rate.lua): buckets, gaps, the bound on
-- buckets kept, and a merge equal to one run.
local T = require "t"
local rate = pktsh.rate
local wire = require("stream").wire

T.test("rate: buckets, gaps, bound, merge", function()
  local r = rate.new{interval = 1, keep = 5}
  local base = 1.7e18
  r:add(base, 100); r:add(base + 0.5e9, 100); r:add(base + 2e9, 50)
  local s = r:series()
  T.eq(#s, 3, "buckets with gap filled"); T.eq(s[1].packets, 2, "first"); T.eq(s[2].packets, 0, "gap")
  T.eq(s[3].bytes, 50, "bytes")
  r:add(base + 10e9, 1)
  T.eq(#r:series(), 5, "at most keep buckets"); T.eq(r.old_packets, 3, "old folded into totals")
  T.eq(r.packets, 4, "total")
  local a, b, one = rate.new(1), rate.new(1), rate.new(1)
  for i = 0, 99 do
    local ts = base + i * 0.37e9
    one:add(ts, i); ((i % 2 == 0) and a or b):add(ts, i)
  end
  T.deq(rate.merge(wire(a), wire(b)):series(), one:series(), "merge equals one run")
  T.eq(#r:spark{ascii = true}, 5, "one cell per bucket")
end)

T.done()
