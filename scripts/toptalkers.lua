-- toptalkers.lua - the busiest sources (or any key) by packets or bytes,
-- with a rate sparkline, from a capture file or a live interface.
--
--   pktsh scripts/toptalkers.lua [options] SOURCE [FILTER...]
local usage = [[
usage: pktsh scripts/toptalkers.lua [options] SOURCE [FILTER...]

The top talkers: the keys (source addresses by default) that sent the
most bytes, counted in bounded memory (space-saving: each count is over
by at most its ±err, and err <= total / capacity), with the traffic rate
as a sparkline. SOURCE is a capture file ("-" for standard input) or a
network interface; FILTER is a tcpdump expression.

options:
  --by FIELD     what to rank: %s (default src)
  --packets      rank by packets instead of bytes
  --top N        rows shown (default 10)
  --capacity M   counters kept (default 1000)
  --interval S   redraw every S seconds on a terminal (default 1)
  --duration S   stop after S seconds (live: wall clock; a file: capture time)
  --json | --csv write the table as JSON or CSV instead
  --svg FILE     also write the table as an SVG file
  --ascii        ASCII bars
  -h, --help     show this help

exit status: 0 on success; 1 if the source cannot be read; 2 for a usage error.
]]

local keys, term = pktsh.keys, pktsh.term

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("toptalkers", status, fmt, ...) end

local function parse_args(argv)
  local o = cli.parse("toptalkers", usage:format(keys.by_names()), argv, {
    ["--by"] = {"by", "string"}, ["--packets"] = {"packets"}, ["--top"] = {"top", "whole"},
    ["--capacity"] = {"capacity", "whole"}, ["--interval"] = {"interval", "number"},
    ["--duration"] = {"duration", "number"}, ["--json"] = {"json"}, ["--csv"] = {"csv"},
    ["--svg"] = {"svg", "string"}, ["--ascii"] = {"ascii"},
  }, {by = "src", top = 10, capacity = 1000, interval = 1})
  if not keys.by[o.by] then die(2, "unknown field '%s' (one of: %s)", o.by, keys.by_names()) end
  o.capacity = math.max(o.capacity, o.top)
  return o
end

local function main(argv)
  local o = parse_args(argv)
  -- the source ends after --duration (capture time for a file)
  local src, err = pktsh.open(o.source, {filter = o.filter, duration = o.duration})
  if not src then die(1, "%s", err) end
  local key = keys.by[o.by]
  local t = pktsh.topk.new(o.capacity)
  local r = pktsh.rate.new{interval = 1}
  local data = o.json or o.csv
  local screen = not data and term.screen(io.stdout, nil, {ascii = o.ascii})
  local ropts = {rows = o.top, ascii = o.ascii,
                 title = o.by .. (o.packets and " (packets)" or " (bytes)")}
  local function draw()
    screen:draw(t:render(ropts) .. r:render{ascii = o.ascii, footer = false})
  end
  local last = pktsh.mono()
  local tty = screen and screen.tty
  while true do
    -- on a terminal, come back now and then without packets: a resize
    -- (or the interval) redraws an idle table too
    local b, e = src:next(tty and 0.25 or nil)
    if not b then err = e; break end
    for i = 0, b.count - 1 do
      local p = b.pkt[i]
      local k = key(p)
      if k ~= nil then t:add(k, o.packets and 1 or p.len) end
      r:add(p.ts, p.len)
    end
    if tty then
      local now = pktsh.mono()
      if now - last >= o.interval * 1e9 or screen:resized() then draw(); last = now end
    end
  end
  if o.json then io.stdout:write(t:json(o.top), "\n")
  elseif o.csv then io.stdout:write(t:csv(o.top))
  else draw() end
  if o.svg then
    local ok, werr = t:svg{path = o.svg, rows = o.top, title = "top " .. o.by .. " - " .. o.source}
    if not ok then die(1, "%s", werr) end
  end
  src:close()
  if err then die(1, "%s", err) end
end

main(arg)
