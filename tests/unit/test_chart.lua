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

-- Issue 10 item 5: hist, top and rate share one way to take their
-- arguments, draw and export; each must keep answering the same way.
T.test("hist, top and rate: same arguments, drawing, svg and merge", function()
  local P = "tests/pcaps/dnscap__dns.pcap"
  local runs = {
    hist = function(src, o) return hist.run(src, "dport", o) end,
    top = function(src, o) return topk.run(src, "qname", o) end,
    rate = function(src, o) return pktsh.rate.run(src, o) end,
  }
  for name, run in pairs(runs) do
    local out = {}
    local sink = {write = function(_, ...) for _, s in ipairs({...}) do out[#out + 1] = s end end,
                  flush = function() end}
    local r = assert(run(assert(pktsh.open(P)), {out = sink, ascii = true}))
    T.ok(#out > 0, name .. " drawn at the end")
    local drawn = table.concat(out)
    T.eq(drawn, r:render{ascii = true, rows = name == "top" and 10 or nil, title = name ~= "rate"
                         and (name == "hist" and "dport" or "qname") or nil}, name .. " drawn once, as render")
    out = {}
    assert(run(assert(pktsh.open(P)), {out = sink, quiet = true}))
    T.eq(#out, 0, name .. " quiet draws nothing")
    local text = r:svg()
    T.ok(text:find("^<%?xml"), name .. " svg() is the document")
    T.eq(r:svg{}, text, name .. " svg{} too")
    local path = os.tmpname()
    T.eq(r:svg(path), true, name .. " svg(path) writes")
    T.eq(T.slurp(path), text, name .. " the same document")
    os.remove(path)
    local ok, err = r:svg("/nonexistent-dir/x.svg")
    T.ok(ok == nil and type(err) == "string" and err ~= "", name .. " svg: unwritable is nil, err")
    -- seconds and its alias duration stop all three at the same packet
    local seen = {hist = function(h) return h.n + h.missing end,
                  top = function(t) return t.n end, rate = function(x) return x.packets end}
    local by_s = seen[name](assert(run(assert(pktsh.open(P)), {quiet = true, seconds = 5})))
    local by_d = seen[name](assert(run(assert(pktsh.open(P)), {quiet = true, duration = 5})))
    T.ok(by_s > 0 and by_s < seen[name](r), name .. ": seconds = 5 stops early (" .. by_s .. ")")
    T.eq(by_d, by_s, name .. ": duration is seconds")
    local mod = ({hist = hist, top = topk, rate = pktsh.rate})[name]
    T.eq(mod.merge(nil, nil), nil, name .. " merge of nothing")
    T.eq(getmetatable(mod.merge(nil, pktsh.serial.decode(pktsh.serial.encode(r)))), getmetatable(r),
         name .. " merge(nil, b) is b as an object")
    T.eq(mod.merge(r, nil), r, name .. " merge(a, nil) is a")
  end
  for fname, run in pairs({hist = hist.run, top = topk.run}) do
    T.raises(function() run(nil, "dport") end,
             "test_chart.lua:%d+: bad argument #1 to '" .. fname .. "' %(source expected%)")
    T.raises(function() run(assert(pktsh.open(P)), 42) end,
             "bad argument #2 to '" .. fname .. "' %(key function or name expected%)")
    local none, err = run(assert(pktsh.open(P)), "nope")
    T.ok(none == nil and err:find("^no key 'nope' %(try one of: "), fname .. ": unknown key: " .. tostring(err))
  end
  T.raises(function() hist.merge(hist.new{log = true}, hist.new{width = 3}) end,
           "test_chart.lua:%d+: hist.merge: different histograms")
  T.raises(function() pktsh.rate.merge(pktsh.rate.new(1), pktsh.rate.new(2)) end,
           "test_chart.lua:%d+: rate.merge: different intervals")
end)

T.done()
