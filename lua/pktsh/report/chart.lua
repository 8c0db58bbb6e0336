-- chart.lua - what pktsh.hist, pktsh.topk and pktsh.rate share: the loop
-- that drives a source for the one-liners, their help texts, and the one
-- merge of their states (pktsh.host.merge). Drawing is pktsh.report.term,
-- files and SVG pktsh.report.export, the key functions pktsh.proto.keys.
local term = require "pktsh.report.term"

local M = {}
local format = string.format


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

-- What the merge(a, b) of a chart module (hist, topk, rate) answers: a
-- side that is nil gives the other (as an object, from(t)); both(a, b)
-- merges two that are there (plain tables as workers send them, or
-- objects). A tail call: an error both raises at level 2 is its caller's.
function M.merge_pair(from, both, a, b)
  if a == nil then return b and from(b) end
  if b == nil then return from(a) end
  return both(a, b)
end

------------------------------------------------------------------------
-- Running a one-liner: its arguments, its loop, its screen.

-- The arguments of the one-liner fname(src, key): the key function and
-- its name (given, or the one pktsh.proto.keys knows it by), or nil, err
-- for an unknown key name. A wrong argument is raised at run's caller.
function M.args(fname, src, key)
  local keys = require "pktsh.proto.keys"
  local name
  if type(key) == "string" then
    name, key = key, keys.by[key]
    if not key then return nil, format("no key '%s' (try one of: %s)", name, keys.by_names()) end
  end
  if type(src) ~= "table" or not src.next then
    error(format("bad argument #1 to '%s' (source expected)", fname), 3)
  end
  if type(key) ~= "function" then
    error(format("bad argument #2 to '%s' (key function or name expected)", fname), 3)
  end
  return key, name or (keys.by_hint[key] or {}).name
end

-- Where a one-liner draws: opts.out (default standard output), nothing
-- (nil) with opts.quiet.
function M.screen(opts)
  if opts.quiet then return nil end
  return term.screen(opts.out or io.stdout)
end

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

-- M.drive with the chart on screen (nil: nothing drawn): text() is
-- redrawn in place every `refresh` seconds on a terminal, and drawn once
-- more at the end unless last is false. Returns M.drive's answer.
function M.drive_shown(src, screen, seconds, refresh, each, text, last)
  local err = M.drive(src, seconds, refresh, each,
                      screen and screen.tty and function() screen:draw(text()) end)
  if screen and last ~= false then screen:draw(text()) end
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
