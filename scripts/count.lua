-- count.lua - packets and bytes per protocol and per source address, on
-- as many cores as you like: the example of pktsh.parallel.
--
--   pktsh scripts/count.lua [options] SOURCE [FILTER...]
--
-- SOURCE is an interface (live capture, needs CAP_NET_RAW) or a capture
-- file; FILTER is a tcpdump expression. The counting is one function,
-- M.count(src), written as for one source; pktsh.parallel runs it on N
-- rings of a fanout group with -j N and adds the workers' tables up.
-- Each worker loads this file as a module (the top level only defines
-- things, up to pktsh.main at the end) and runs M.count; M.main, the
-- command line and the printing, runs once, in the parent.
local usage = [[
usage: pktsh scripts/count.lua [options] SOURCE [FILTER...]

Counts packets and bytes per protocol and per source address.

options:
  -j N          N worker threads on one PACKET_FANOUT group (default: the
                -j given to pktsh, else 1; a file is read by one worker)
  --fanout MODE hash (default), lb, cpu, rollover or qm (an interface only)
  --defrag      defragment IPv4 before hashing (fanout flag; an interface only)
  --seconds S   stop a live capture after S seconds (else at Ctrl-C)
  --interval S  every S seconds, print the packets, drops and freeze_q
                so far to standard error: summed, then per worker (read
                while the workers run)
  --top K       list the K busiest sources (default 20; 0 for all)
  --json        print the merged counts as one JSON object instead
  -h, --help    show this help

The summary (packets, drops, workers) goes to standard error.
exit status: 0 on success (Ctrl-C included), 1 if the source cannot be
read (the counts up to the problem are printed first), 2 for a usage error.
]]

local M = {}

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("count", status, fmt, ...) end

local function parse_args(argv)
  return cli.parse("count", usage, argv, {
    ["-j"] = {"workers", "whole", 1}, ["--top"] = {"top", "whole", 0},
    ["--fanout"] = {"fanout", {"hash", "lb", "cpu", "rollover", "qm"}}, ["--defrag"] = {"defrag"},
    ["--json"] = {"json"}, ["--seconds"] = {"seconds", "number"},
    ["--interval"] = {"interval", "number"},
  }, {top = 20})
end

local names = pktsh.keys.proto_names   -- "tcp", "udp", ... by protocol number

-- The work: an ordinary loop over one source, returning plain counters.
-- In a worker, src is that worker's ring and the table goes back to the
-- parent, which adds all of them up (numbers add, tables merge by key).
function M.count(src)
  local packets, bytes, proto, by_src = 0, 0, {}, {}
  src:each(function(p)
    local len = p.len
    packets, bytes = packets + 1, bytes + len
    local ip = p:ip()
    local name
    if ip then
      local n = p:proto()
      name = names[n] or ("ip proto " .. tostring(n))
      local s = tostring(ip.src)
      local e = by_src[s]
      if not e then e = {packets = 0, bytes = 0}; by_src[s] = e end
      e.packets, e.bytes = e.packets + 1, e.bytes + len
    else
      local eth = p:eth()
      name = eth and string.format("ether 0x%04x", eth.type) or "other"
    end
    local e = proto[name]
    if not e then e = {packets = 0, bytes = 0}; proto[name] = e end
    e.packets, e.bytes = e.packets + 1, e.bytes + len
  end)
  return {packets = packets, bytes = bytes, proto = proto, src = by_src}
end

-- The --interval line: totals and the rate since the last line, then
-- each worker's counters.
local last
local function live_line(st)
  local rate = (st.packets - (last and last.packets or 0)) /
               (st.elapsed - (last and last.elapsed or 0))
  local parts = {string.format("count: %.1fs packets=%d (%.0f/s) drops=%d freeze_q=%d",
                               st.elapsed, st.packets, rate, st.drops or 0, st.freeze_q or 0)}
  for i, w in ipairs(st.workers or {}) do
    parts[#parts + 1] = string.format("w%d packets=%d drops=%d freeze_q=%d", i, w.packets,
                                      w.drops or 0, w.freeze_q or 0)
  end
  io.stderr:write(table.concat(parts, " | "), "\n")
  io.stderr:flush()
  last = st
end

local function table_of(title, map, limit)
  local rows = pktsh.parallel.top(map, limit ~= 0 and limit or nil, "packets")
  print(string.format("%-40s %12s %14s", title, "packets", "bytes"))
  for _, r in ipairs(rows) do
    print(string.format("%-40s %12d %14d", r.key, r.value.packets, r.value.bytes))
  end
  local n = 0
  for _ in pairs(map) do n = n + 1 end
  if n > #rows then print(string.format("(%d more)", n - #rows)) end
end

function M.main(...)
  local o = parse_args({...})
  -- a fanout group is made of rings on an interface; a file has none
  local live_only = o.fanout and "--fanout" or o.defrag and "--defrag"
  if live_only and not pktsh.interfaces.exists(o.source) then
    die(2, "%s works on an interface (a PACKET_FANOUT group), and %s is not one", live_only, o.source)
  end
  local result, stats = pktsh.parallel(o.source, {
    workers = o.workers, filter = o.filter, fanout = o.fanout, defrag = o.defrag,
    duration = o.seconds, interval = o.interval, on_stats = o.interval and live_line or nil,
  }, M.count)
  if not result then die(1, "%s", stats) end

  if o.json then
    print(pktsh.json.encode(result))
  else
    table_of("protocol", result.proto, 0)
    print()
    table_of("source", result.src, o.top)
    print()
    print(string.format("%-40s %12d %14d", "total", result.packets, result.bytes))
  end
  io.stdout:flush()

  local w = #stats.workers
  io.stderr:write(string.format("count: %d packets, %d bytes from %s; %d dropped by the kernel; %d worker%s%s\n",
    result.packets, result.bytes, o.source, stats.drops or 0, w, w == 1 and "" or "s",
    stats.interrupted and "; interrupted" or ""))
  -- a torn capture or a failed read: reported as every tool reports it
  if stats.error then die(1, "%s", stats.error) end
end

return pktsh.main(M)
