-- dump.lua - print packets like `tcpdump -n`, or write them to a pcap.
--
--   pktsh scripts/dump.lua [options] SOURCE [FILTER...]
--
-- SOURCE is a pcap/pcapng file ("-" for standard input) or a network
-- interface; FILTER is a tcpdump expression (the remaining words are
-- joined, as tcpdump does).
local usage = [[
usage: pktsh scripts/dump.lua [options] SOURCE [FILTER...]

Prints one line per packet, like tcpdump -n. SOURCE is a capture file
("-" for standard input) or a network interface.

options:
  -v          print each packet as a layered tree
  -x          print a hex dump of each packet after its line
  -w FILE     write the packets to FILE (pcap, ns timestamps) instead of
              printing them; "-" writes to standard output
  -U          with -w: write each packet out at once (else at least
              once a second)
  -l          flush standard output after every line (for a pipe)
  -c COUNT    stop after COUNT packets
  --json      print one JSON object per packet: n, ts, len, caplen, src,
              dst, proto, sport, dport, vlan (absent fields left out)
  -q          do not print the summary on standard error at the end

live capture:
  -s SNAPLEN  capture at most SNAPLEN bytes of each packet (default 262144)
  -p          do not put the interface into promiscuous mode
  -Q DIR      direction: in, out or both (default both)
  -Z USER     (a pktsh option: pktsh -Z USER scripts/dump.lua ...)
  -h, --help  show this help

exit status: 0 on success; 1 if the source cannot be read (after
printing every packet before the problem); 2 for a usage error.
]]

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("dump", status, fmt, ...) end

local function parse_args(argv)
  return cli.parse("dump", usage, argv, {
    ["-v"] = {"verbose"}, ["-x"] = {"hex"}, ["-q"] = {"quiet"},
    ["--json"] = {"json"}, ["-p"] = {"promisc", value = false},
    ["-U"] = {"packet_buffered"}, ["-l"] = {"line_buffered"},
    ["-w"] = {"write", "string"}, ["-Q"] = {"direction", {"in", "out", "both"}},
    ["-c"] = {"count", "whole", 1}, ["-s"] = {"snaplen", "whole", 1},
  })
end

local proto_names = pktsh.keys.proto_names   -- "tcp", "udp", ... by protocol number

-- One JSON line; ts keeps all nine digits of the nanoseconds.
local function json_line(n, p)
  local ts = p.ts
  local f = {string.format('"n":%d,"ts":%d.%09d,"len":%d,"caplen":%d', n,
    tonumber(ts / 1000000000), tonumber(ts % 1000000000), p.len, p.caplen)}
  local ip = p:ip()
  if ip then
    f[#f + 1] = string.format('"src":"%s","dst":"%s"', tostring(ip.src), tostring(ip.dst))
    local proto = p:proto()
    f[#f + 1] = string.format('"proto":"%s"', proto_names[proto] or tostring(proto))
    local sport, dport = p:ports()
    if sport then f[#f + 1] = string.format('"sport":%d,"dport":%d', sport, dport) end
  end
  local vlan = p:vlan_id(1)
  if vlan then f[#f + 1] = string.format('"vlan":%d', vlan) end
  return "{" .. table.concat(f, ",") .. "}\n"
end

-- The per-packet action chosen by the options; n is the packet's number.
local function printer(o, out)
  if o.write then
    return function(p)
      local ok, err = out:write(p)
      if not ok then die(1, "%s", err) end
    end
  end
  return function(p, n)
    if o.json then
      io.stdout:write(json_line(n, p))
    else
      io.stdout:write(p:summary(), "\n")
      if o.verbose then io.stdout:write(p:show(), "\n\n") end
      if o.hex and not o.verbose then io.stdout:write(p:hex(), "\n") end
    end
  end
end

local function plural(n, word)
  return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

-- tcpdump's three lines for a live capture.
local function report_live(st, n)
  io.stderr:write(plural(n, "packet"), " captured\n",
                  plural(st.received, "packet"), " received by filter\n",
                  plural(st.drops, "packet"), " dropped by kernel\n")
end

local function report(src, o, out, n)
  if o.quiet then return end
  local st = src:stats()
  if src.kind == "live" then return report_live(st, n) end
  local parts = {plural(n, "packet")}
  if o.filter then
    parts[#parts + 1] = string.format("%d read, %d filtered out", st.received, st.filtered)
  end
  if out then parts[#parts + 1] = string.format("%d written to %s", out:count(), o.write) end
  if src.interrupted then parts[#parts + 1] = "interrupted" end
  io.stderr:write(table.concat(parts, ", "), "\n")
end

local function main(argv)
  local o = parse_args(argv)
  if o.line_buffered then io.stdout:setvbuf("line") end
  local opts = {filter = o.filter}
  if o.snaplen or o.promisc == false or o.direction then
    opts.snaplen, opts.promisc, opts.direction = o.snaplen, o.promisc, o.direction
  end
  local src, err = pktsh.open(o.source, opts)
  if not src then die(1, "%s", err) end
  local out
  if o.write then
    local path = o.write == "-" and "/dev/stdout" or o.write
    out, err = pktsh.pcap_writer(path, {linktype = src.linktype, snaplen = src.snaplen,
                                        flush = o.packet_buffered and "packet" or nil})
    if not out then die(1, "%s", err) end
  end
  local each = printer(o, out)
  local n, limit = 0, o.count
  local ok
  ok, err = src:each(function(p)
    n = n + 1
    each(p, n)
    if limit then return n < limit end
  end)
  io.stdout:flush()
  if out then
    local closed, cerr = out:close()
    if not closed then die(1, "%s", cerr) end
  end
  report(src, o, out, n)
  if not ok then die(1, "%s", err) end
end

main(arg)
