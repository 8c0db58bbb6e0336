-- count.lua - packets and bytes per protocol and per source address, on
-- as many cores as you like: the example of pktsh.parallel.
--
--   pktsh scripts/count.lua [options] SOURCE [FILTER...]
--
-- SOURCE is an interface (live capture, needs CAP_NET_RAW) or a capture
-- file; FILTER is a tcpdump expression. The counting is one function,
-- count(src), written as for one source; pktsh.parallel runs it on N rings
-- of a fanout group with -j N and adds the workers' tables up.
local usage = [[
usage: pktsh scripts/count.lua [options] SOURCE [FILTER...]

Counts packets and bytes per protocol and per source address.

options:
  -j N          N worker threads on one PACKET_FANOUT group (default: the
                -j given to pktsh, else 1; a file is read by one worker)
  --fanout MODE hash (default), lb, cpu, rollover or qm
  --defrag      defragment IPv4 before hashing (fanout flag)
  --seconds S   stop a live capture after S seconds (else at Ctrl-C)
  --top K       list the K busiest sources (default 20; 0 for all)
  --json        print the merged counts as one JSON object instead
  -h, --help    show this help

The summary (packets, drops, workers) goes to standard error.
exit status: 0 on success (Ctrl-C included), 1 if the source cannot be
read, 2 for a usage error.
]]

local function die(status, fmt, ...)
  io.stderr:write("count: ", string.format(fmt, ...), "\n")
  os.exit(status)
end

local function parse_args(argv)
  local o = {filter = {}, top = 20}
  local i = 1
  local function value(a)
    i = i + 1
    if argv[i] == nil then die(2, "option %s needs a value", a) end
    return argv[i]
  end
  local function whole(a, min)
    local v = value(a)
    local n = tonumber(v)
    if not n or n % 1 ~= 0 or n < min then die(2, "%s needs a whole number >= %d, not '%s'", a, min, v) end
    return n
  end
  while i <= #argv do
    local a = argv[i]
    if a == "-h" or a == "--help" then io.stdout:write(usage); os.exit(0)
    elseif a == "-j" then o.workers = whole(a, 1)
    elseif a == "--top" then o.top = whole(a, 0)
    elseif a == "--fanout" then o.fanout = value(a)
    elseif a == "--defrag" then o.defrag = true
    elseif a == "--json" then o.json = true
    elseif a == "--seconds" then
      o.seconds = tonumber(value(a))
      if not o.seconds or o.seconds <= 0 then die(2, "--seconds needs a positive number, not '%s'", argv[i]) end
    elseif a:sub(1, 1) == "-" and #a > 1 then die(2, "unknown option '%s' (try -h)", a)
    elseif not o.source then o.source = a
    else o.filter[#o.filter + 1] = a
    end
    i = i + 1
  end
  if not o.source then io.stderr:write(usage); os.exit(2) end
  o.filter = #o.filter > 0 and table.concat(o.filter, " ") or nil
  return o
end

local names = {[1] = "icmp", [6] = "tcp", [17] = "udp", [58] = "icmp6", [132] = "sctp"}

-- The work: an ordinary loop over one source, returning plain counters.
-- In a worker, src is that worker's ring and the table goes back to the
-- parent, which adds all of them up (numbers add, tables merge by key).
local function count(src)
  local packets, bytes, proto, by_src = 0, 0, {}, {}
  src:each(function(p)
    local len = p.len
    packets, bytes = packets + 1, bytes + len
    local ip, name = p:ip(), nil
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

local o = parse_args(arg)
local result, stats = pktsh.parallel(o.source, {
  workers = o.workers, filter = o.filter, fanout = o.fanout, defrag = o.defrag,
  duration = o.seconds,
}, count)
if not result then die(1, "%s", stats) end

if o.json then
  print(pktsh.json.encode(result))
else
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
  table_of("protocol", result.proto, 0)
  print()
  table_of("source", result.src, o.top)
  print()
  print(string.format("%-40s %12d %14d", "total", result.packets, result.bytes))
end

local w = #stats.workers
io.stderr:write(string.format("count: %d packets, %d bytes from %s; %d dropped by the kernel; %d worker%s%s\n",
  result.packets, result.bytes, o.source, stats.drops or 0, w, w == 1 and "" or "s",
  stats.interrupted and "; interrupted" or ""))
