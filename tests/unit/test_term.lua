-- pktsh.term (lua/pktsh/report/term.lua): bars and sparklines in Unicode
-- and ASCII, and the charts drawn with them.
local T = require "t"
local term, hist = pktsh.term, pktsh.hist

T.test("bars and sparklines, Unicode and ASCII", function()
  T.eq(term.bar(1, 4, true), "████", "full")
  T.eq(term.bar(0.5, 3, true), "█▌", "halves")
  T.eq(term.bar(1e-9, 10, true), "▏", "tiny is visible")
  T.eq(term.bar(0, 10, true), "", "zero is empty")
  T.eq(term.bar(0.5, 10, false), "#####", "ascii")
  T.eq(term.spark({0, 4}, false), "_#", "ascii spark")
  T.eq(term.spark({0, 7}, true), "▁█", "unicode spark")
  T.eq(term.style{ascii = true}, false, "--ascii")
  local text = hist.new{}:render{ascii = true}
  T.ok(not text:find("[\128-\255]"), "ascii render has no UTF-8")
  local h = hist.new{}
  for i = 1, 10 do h:add(i % 3) end
  local r = h:render{ascii = true, width = 60}
  T.ok(r:find("#"), "ascii bars"); T.ok(not r:find("[\128-\255]"), "pure ascii")
  T.ok(h:render{unicode = true, width = 60}:find("█"), "unicode bars")
end)

T.done()
