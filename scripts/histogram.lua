-- histogram.lua - the distribution of one packet field, from a capture
-- file or a live interface, drawn with bars; per time window if asked.
--
--   pktsh scripts/histogram.lua SOURCE --by FIELD [--window S] [--log] [FILTER...]
local usage = [[
usage: pktsh scripts/histogram.lua [options] SOURCE --by FIELD [FILTER...]

Counts packets per value of FIELD and draws the histogram. SOURCE is a
capture file ("-" for standard input) or a network interface; FILTER is
a tcpdump expression.

options:
  --by FIELD     what to count by: %s
  --log          log2 bins (0, [1,2), [2,4), ...; the default for len, caplen)
  --width W      linear bins W wide (numbers only)
  --window S     one histogram per S seconds of capture time, each drawn
                 (in place on a terminal), then the whole run
  --duration S   stop after S seconds (live: wall clock; a file: capture time)
  --bytes        count bytes instead of packets
  --rows N       rows shown (default 20; binned: 64)
  --json | --csv write the final histogram as JSON or CSV instead
  --svg FILE     also write the final histogram as an SVG file
  --ascii        ASCII bars (also when the locale is not UTF-8 or TERM=dumb)
  -h, --help     show this help

exit status: 0 on success; 1 if the source cannot be read; 2 for a usage error.
]]

local keys = pktsh.keys

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("histogram", status, fmt, ...) end

local function parse_args(argv)
  local o = cli.parse("histogram", usage:format(keys.by_names()), argv, {
    ["--by"] = {"by", "string"}, ["--log"] = {"log"}, ["--width"] = {"width", "number"},
    ["--window"] = {"window", "number"}, ["--duration"] = {"duration", "number"},
    ["--rows"] = {"rows", "whole"}, ["--bytes"] = {"bytes"}, ["--json"] = {"json"},
    ["--csv"] = {"csv"}, ["--svg"] = {"svg", "string"}, ["--ascii"] = {"ascii"},
  })
  if not o.by then die(2, "--by FIELD is needed (one of: %s)", keys.by_names()) end
  if not keys.by[o.by] then die(2, "unknown field '%s' (one of: %s)", o.by, keys.by_names()) end
  if o.log and o.width then die(2, "--log and --width do not go together") end
  return o
end

local function main(argv)
  local o = parse_args(argv)
  -- the source ends after --duration (capture time for a file)
  local src, err = pktsh.open(o.source, {filter = o.filter, duration = o.duration})
  if not src then die(1, "%s", err) end
  local data = o.json or o.csv
  local h
  h, err = pktsh.hist.run(src, o.by, {
    log = o.log, width = o.width, window = o.window, rows = o.rows,
    weight = o.bytes and "bytes" or nil, ascii = o.ascii,
    title = o.by .. (o.bytes and " (bytes)" or ""),
    quiet = data and not o.window,
    out = data and io.stderr or io.stdout,
  })
  if not h then die(1, "%s", err) end
  if o.json then io.stdout:write(h:json(), "\n") end
  if o.csv then io.stdout:write(h:csv()) end
  if o.svg then
    local ok, werr = h:svg{path = o.svg, title = o.by .. " - " .. o.source}
    if not ok then die(1, "%s", werr) end
  end
  src:close()
end

main(arg)
