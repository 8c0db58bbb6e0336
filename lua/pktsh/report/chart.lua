-- chart.lua - what pktsh.hist, pktsh.topk and pktsh.rate share: the loop
-- that drives a source for the one-liners, their help texts, and the one
-- merge of their states (pktsh.host.merge). Drawing is pktsh.report.term,
-- files and SVG pktsh.report.export, the key functions pktsh.proto.keys.
local M = {}


------------------------------------------------------------------------
-- Help texts for the globals hist, top, rate and by (install_globals in
-- init.lua calls this before the first help()).

local documented = false
-- Registers the help texts of the globals hist, top, rate and by in g.
function M.document(g)
  if documented then return end
  documented = true
  local repl = require "pktsh.host.repl"
  local common = [[
  src: a source, or a file or interface name to open
  key: a function of a packet (by.NAME) or a key name ("dport")
  opts.seconds  stop after this long (live: wall clock; a file: packet time)
  opts.weight = "bytes"   count bytes, not packets
  opts.ascii    ASCII bars (also when the locale is not UTF-8, or TERM=dumb)
  opts.quiet    draw nothing; opts.rows  rows shown
  On a terminal the chart is redrawn in place while it runs.]]
  local hist_text = [[
hist(src, key [, opts]) -> histogram (pktsh.hist), drawn as it fills
  hist(open"eth0", by.dport, {seconds = 10})
  hist("f.pcap", by.len)            -- log2 bins (by.len suggests them)
  hist("f.pcap", by.len, {width = 100})   -- linear bins of 100
]] .. common .. [[

  opts.log / width / lo / sub   log2 bins / linear bins (see pktsh.hist)
  opts.window = S   one histogram per S seconds of packet time, each drawn
  result: h:render() h:json() h:csv() h:svg("h.svg") h:quantile(0.99)
          pktsh.hist.merge(a, b) merges workers' histograms]]
  local top_text = [[
top(src, key [, opts]) -> top-k table (pktsh.topk, space-saving), drawn as it fills
  top(open"f.pcap", by.src)
  top("eth0", by.qname, {seconds = 30, rows = 20})
]] .. common .. [[

  opts.capacity  counters kept (default 1000): counts are upper bounds,
                 over by at most err <= n / capacity (shown as ±err)
  result: t:top(10) t:render() t:json() t:csv() t:svg("t.svg")]]
  local rate_text = [[
rate(src [, opts]) -> packets and bytes per interval (pktsh.rate), as sparklines
  rate(open"eth0", {seconds = 60, interval = 1})
  opts.interval (seconds, default 1), seconds, quiet, ascii
  result: r:series() r:render() r:json() r:csv() r:svg("r.svg")]]
  if g.hist then repl.doc(g.hist, hist_text) end
  if g.top then repl.doc(g.top, top_text) end
  if g.rate then repl.doc(g.rate, rate_text) end
  if type(rawget(g, "by")) == "table" then repl.doc(rawget(g, "by"), require("pktsh.proto.keys").by_help()) end
  repl.doc("hist", hist_text)
  repl.doc("top", top_text)
  repl.doc("rate", rate_text)
  repl.doc("by", require("pktsh.proto.keys").by_help())
end

------------------------------------------------------------------------
-- Merging: one merge for every kind of result (pktsh.host.merge).

M.merge = require("pktsh.host.merge").merge

-- The loop of the one-liners: each(p) for every packet of src during
-- `seconds` (nil: to the end; the source's duration: wall clock on a live
-- source, capture time on a file), and tick() at most every `refresh`
-- seconds, between batches. Returns the error that ended the input, or nil.
function M.drive(src, seconds, refresh, each, tick)
  local mono = require("pktsh").mono
  local restore = seconds and src:_limit(seconds)
  local last = mono()
  local b, err = src:next()
  while b do
    local pkts = b.pkt
    for i = 0, b.count - 1 do each(pkts[i]) end
    if tick and refresh > 0 then
      local now = mono()
      if now - last >= refresh * 1e9 then tick(); last = now end
    end
    b, err = src:next()
  end
  if restore then restore() end
  return err
end

-- The REPL's one-liners (hist, top, rate) take a source or the name of a
-- capture file or interface: run(src, ...) behind that. They are typed
-- as statements, where a `nil, err` answer is thrown away: so a source
-- that cannot be opened, an unknown key or a read error is raised (the
-- REPL shows it, `pktsh -e` exits 1 with it) after what was drawn.
function M.with_source(run)
  return function(src, ...)
    if type(src) == "string" then
      local s, err = require("pktsh").open(src)
      if not s then error(err, 2) end
      src = s
    end
    local r, err = run(src, ...)
    if r == nil and err ~= nil then error(err, 2) end
    return r
  end
end

return M
