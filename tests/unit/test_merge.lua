-- pktsh.host.merge (pktsh.parallel.merge, .merge_with, .top): the one
-- merge of worker results.
local T = require "t"
local P = require "pktsh.host.merge"

T.test("merge: numbers add, tables merge key by key", function()
  local a = {n = 1, proto = {udp = 2}, src = {["198.18.0.1"] = {packets = 1}}, name = "x", on = true}
  local b = {n = 2, proto = {udp = 3, tcp = 1}, src = {["198.18.0.2"] = {packets = 4}}, name = "x", on = true}
  T.deq(P.merge(a, b), {n = 3, proto = {udp = 5, tcp = 1}, name = "x", on = true,
                         src = {["198.18.0.1"] = {packets = 1}, ["198.18.0.2"] = {packets = 4}}})
  T.raises(function() P.merge({s = {k = "a"}}, {s = {k = "b"}}) end,
           'cannot merge "a" and "b" at result%.s%.k')
  T.raises(function() P.merge({x = 1}, {x = {}}) end, "cannot merge 1 and a table at result%.x")
end)

T.test("merge: rules by key name, at any depth", function()
  local m = P.merge_with({first = "min", last = "max", samples = "concat", tag = "keep",
                          weird = function(a, b, key) return key .. a .. b end})
  local got = m({flows = {f1 = {first = 5, last = 9, n = 1}}, samples = {1, 2}, tag = "a", weird = "x"},
                {flows = {f1 = {first = 3, last = 7, n = 2}, f2 = {first = 1}}, samples = {3}, tag = "b", weird = "y"})
  T.deq(got, {flows = {f1 = {first = 3, last = 9, n = 3}, f2 = {first = 1}},
              samples = {1, 2, 3}, tag = "a", weird = "weirdxy"})
  T.raises(function() P.merge_with({x = "median"}) end, "must be a function or one of")
end)

T.test("top: largest first, ties in key order", function()
  local map = {a = 3, b = 5, c = 3, d = 1}
  T.deq(P.top(map, 3), {{key = "b", value = 5}, {key = "a", value = 3}, {key = "c", value = 3}})
  T.deq(P.top({x = {n = 1}, y = {n = 2}}, nil, "n"), {{key = "y", value = {n = 2}}, {key = "x", value = {n = 1}}})
end)

T.done()
