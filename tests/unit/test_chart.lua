-- pktsh.chart (lua/pktsh/report/chart.lua): the one merge of report
-- states, and the one-liners' loop (hist.run, topk.global) over a capture
-- with the key functions.
local T = require "t"
local hist, topk, chart, keys = pktsh.hist, pktsh.topk, pktsh.chart, pktsh.keys
local wire = require("stream").wire

T.test("chart.merge dispatches on the state kind (pktsh.parallel's opts.merge)", function()
  local a = {n = 1, h = hist.new{}, t = topk.new(5), sub = {x = 2}}
  local b = {n = 2, h = hist.new{}, t = topk.new(5), sub = {x = 3, y = 1}}
  a.h:add(1); b.h:add(1); b.h:add(2); a.t:add("k"); b.t:add("k")
  local m = chart.merge(wire(a), wire(b))
  T.eq(m.n, 3, "numbers add"); T.eq(m.sub.x, 5, "nested"); T.eq(m.sub.y, 1, "one side")
  T.eq(m.h:get(1), 2, "hist merged"); T.eq(m.h.n, 3, "hist n")
  T.eq(m.t.counts.k, 2, "topk merged"); T.eq(getmetatable(m.t), topk.T, "object again")
end)

T.test("by keys and hist()/top() on a capture", function()
  local P = "tests/pcaps/dnscap__dns.pcap"
  local src = assert(pktsh.open(P))
  local h = assert(hist.run(src, "dport", {quiet = true}))
  T.eq(h:get(53), 41, "41 packets to port 53"); T.eq(h.n + h.missing, 133, "every packet")
  local t = assert(topk.global(P, "qname", {quiet = true}))
  T.eq(t.counts["google.com"], 48, "qname google.com")
  local l = assert(hist.global(P, "len", {quiet = true}))
  T.eq(l.kind, "log2", "by.len suggests log bins")
  local out = {}
  local sink = {write = function(_, ...) for _, s in ipairs({...}) do out[#out + 1] = s end end,
                flush = function() end}
  local w = assert(hist.run(assert(pktsh.open(P)), "proto", {window = 10, out = sink, ascii = true}))
  T.eq(w.n + w.missing, 133, "windows add up to the run")
  T.ok(table.concat(out):find("window"), "windows drawn")
  T.eq(select(2, hist.run(assert(pktsh.open(P)), "nope")) ~= nil, true, "unknown key is an error")
  T.ok(by and by.src and by.qname == keys.by.qname, "global by")
end)

T.done()
