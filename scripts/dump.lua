-- dump.lua - print packets like `tcpdump -n`, or write them to a pcap.
--
--   pktsh scripts/dump.lua [options] SOURCE [FILTER...]
--   pktsh scripts/dump.lua [options] -i IFACE | -r FILE [FILTER...]
--
-- SOURCE is a pcap/pcapng file ("-" for standard input) or a network
-- interface; FILTER is a tcpdump expression (the remaining words are
-- joined, as tcpdump does). Options are read as tcpdump reads them:
-- bundled (-nnvX) and with attached values (-c1, -s0, -wout.pcap).
local usage = [[
usage: pktsh scripts/dump.lua [options] SOURCE [FILTER...]
       pktsh scripts/dump.lua [options] -i IFACE | -r FILE [FILTER...]

Prints one line per packet, like tcpdump -n. SOURCE is a capture file
("-" for standard input) or a network interface.

tcpdump's options:
  -i IFACE    capture on IFACE          -r FILE     read FILE
  -c COUNT    stop after COUNT packets  -n, -nn     accepted (never resolves)
  -e          print the link-level header on each line
  -S          print TCP sequence numbers as they are (by default each
              conversation's are relative to its first, as tcpdump's)
  -t          no time stamp; -tt seconds since the epoch; -ttt the time
              since the previous packet; -tttt the date too; -ttttt the
              time since the first packet
  -v          print each packet's layers as a tree after its line, and
              DNS as tcpdump -v does (-vv every section, -vvv the TTLs)
  -x, -X      print the packet in hex (-X: and ASCII) from the network
              header on; -xx, -XX from the link header on
  -l          flush standard output after each line
  -D          list the interfaces a capture can open, and their state
  -s SNAPLEN  capture at most SNAPLEN bytes of each packet (0: 262144);
              -s, -p and -Q are ignored for a file, as tcpdump does
  -w FILE     write the packets to FILE (pcap, ns time stamps) instead of
              printing them; "-" writes to standard output
  -G SECS     with -w: a new file every SECS seconds, FILE being a
              strftime pattern (dns-%Y%m%d-%H%M%S.pcap)
  -C SIZE     with -w: a new file once the current one is larger than
              SIZE million bytes (SIZEk, SIZEm, SIZEg: KiB, MiB, GiB);
              files FILE, FILE1, FILE2, ...
  -W COUNT    with -C: reuse COUNT files in a ring (FILE0 .. FILE<COUNT-1>);
              with -G alone: stop after COUNT files
  -U          with -w: write each packet out at once (else at least
              once a second)
  -Z USER     become USER (no capabilities left) once SOURCE is open
  -p          do not put the interface into promiscuous mode
  -Q DIR      direction: in, out or both (default both)

pktsh's options:
  --pcapng        write pcapng rather than pcap (with -w)
  --comment TEXT  the pcapng file's comment (with --pcapng)
  --json, -T json print one JSON object per packet: n, ts, len, caplen,
                  src, dst, proto, sport, dport (the innermost IP
                  datagram's), vlan, tunnels (the encapsulations around
                  it, outside in: pkt:tunnels()), truncated, and for DNS
                  dns = {id, qr, opcode, rcode, qname, qtype} (absent
                  fields left out)
  -T fields -e FIELD [-e FIELD ...] [-E OPT=VALUE ...]
                  print the fields named, as tshark -T fields does: one
                  line per packet, an empty column for an absent field;
                  -E header=y|n, separator=/t|/s|C, occurrence=f|l|a,
                  aggregator=C|/s, quote=d|s|n (-T before -e)
  --fields        list the field names -T fields knows
  -q              do not print the summary on standard error at the end
  -h, --help      show this help

exit status: 0 on success; 1 if the source cannot be read (after
printing every packet before the problem); 2 for a usage error.
]]

local bit = require "bit"
local cli = require "pktsh.host.cli"
local lineformat = require "pktsh.proto.lineformat"

local function die(status, fmt, ...) cli.die("dump", status, fmt, ...) end

-- -C SIZE: millions of bytes, or KiB, MiB, GiB with a suffix.
local UNITS = {[""] = 1000000, k = 1024, m = 1048576, g = 1073741824}

local function size_arg(v)
  local n, unit = v:match("^(%d+)([kKmMgG]?)$")
  local mult = n and UNITS[unit:lower()]
  if not mult or tonumber(n) < 1 then return nil, "a whole number >= 1 (with k, m or g)" end
  return tonumber(n) * mult
end

local function format_arg(v)
  if v == "fields" or v == "json" or v == "text" then return v end
  return nil, "fields, json or text"
end

local spec = {
  ["-i"] = {"source", "string"}, ["-r"] = {"source", "string"},
  ["-n"] = {"numeric", count = true}, ["-l"] = {"linebuf"}, ["-U"] = {"packetbuf"},
  ["-c"] = {"count", "whole", 1}, ["-v"] = {"verbose", count = true},
  ["-x"] = {"hex", count = true}, ["-X"] = {"hexascii", count = true},
  ["-t"] = {"tstamp", count = true}, ["-D"] = {"list_ifaces", standalone = true},
  ["-s"] = {"snaplen", "whole", 0}, ["-w"] = {"write", "string"},
  ["-G"] = {"seconds", "whole", 1}, ["-C"] = {"size", size_arg},
  ["-W"] = {"files", "whole", 1}, ["-Z"] = {"user", "string"},
  ["-p"] = {"promisc", value = false}, ["-Q"] = {"direction", {"in", "out", "both"}},
  ["-q"] = {"quiet"}, ["-S"] = {"absolute"}, ["--json"] = {"json"}, ["--pcapng"] = {"pcapng"},
  ["--comment"] = {"comment", "string"}, ["-T"] = {"format", format_arg},
  ["-E"] = {"fieldopts", "string", list = true},
  ["--fields"] = {"list_fields", standalone = true},
  -- tcpdump's -e (the link header), or tshark's -e FIELD after -T fields
  ["-e"] = function(o)
    if o.format == "fields" then return {"fields", "string", list = true} end
    return {"link"}
  end,
}

local function check_write(o)
  if (o.seconds or o.size or o.files or o.packetbuf or o.pcapng) and not o.write then
    die(2, "-G, -C, -W, -U and --pcapng go with -w FILE")
  end
  if o.files and not (o.seconds or o.size) then die(2, "-W goes with -C or -G") end
  if o.write == "-" and (o.seconds or o.size) then
    die(2, "-G and -C need a file name for -w, not '-'")
  end
  if o.comment and not o.pcapng then die(2, "--comment goes with --pcapng") end
end

local function check_fields(o)
  if o.json then o.format = o.format or "json" end
  if o.format == "json" then o.json = true end
  if o.format == "fields" and not o.fields then die(2, "-T fields needs at least one -e FIELD") end
  if o.fieldopts and o.format ~= "fields" then die(2, "-E goes with -T fields") end
  local fields = require "pktsh.proto.fields"
  o.field_opts = {}
  for _, s in ipairs(o.fieldopts or {}) do
    local ok, why = fields.option(s, o.field_opts)
    if not ok then die(2, "-E %s: %s", s, why) end
  end
  if o.fields then
    local ex, err = fields.extractor(o.fields)
    if not ex then die(2, "%s", err) end
    o.extractor = ex
  end
end

local function parse_args(argv)
  local o = cli.parse("dump", usage, argv, spec)
  check_write(o)
  check_fields(o)
  if o.snaplen == 0 then o.snaplen = nil end   -- -s 0: the default, as tcpdump
  return o
end

---------------------------------------------------------------------------
-- Listings: -D and --fields

local function list_ifaces()
  local list, err = pktsh.interfaces()
  if not list then die(1, "%s", err) end
  for n, i in ipairs(list) do io.stdout:write(pktsh.interfaces.text(i, n), "\n") end
  os.exit(0)
end

local function list_fields()
  for _, f in ipairs(require("pktsh.proto.fields").list()) do
    io.stdout:write(string.format("%-26s %s\n", f.name, f.description))
  end
  os.exit(0)
end

---------------------------------------------------------------------------
-- Output

local proto_names = pktsh.keys.proto_names   -- "tcp", "udp", ... by protocol number
local json_string = require("pktsh.report.json").encode

-- The DNS part of a JSON line: id, qr, opcode, rcode (responses), and
-- the first question's qname and qtype.
local function json_dns(p)
  local dns = pktsh.dns
  local off, n = dns.span(p, false, true)
  if not off then return nil end
  local id, flags, rcode, qname, qtype = dns.question(p.data + off, n)
  if not id then return nil end
  local qr = bit.band(flags, 0x8000) ~= 0
  local f = {string.format('"id":%d,"qr":%s,"opcode":%s', id, tostring(qr),
    json_string(dns.opcode_name(bit.band(bit.rshift(flags, 11), 15))))}
  if qr then f[#f + 1] = '"rcode":' .. json_string(dns.rcode_name(rcode)) end
  if qname then
    f[#f + 1] = string.format('"qname":%s,"qtype":%s', json_string(qname), json_string(dns.type_name(qtype)))
  end
  return '"dns":{' .. table.concat(f, ",") .. "}"
end

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
  f[#f + 1] = json_dns(p)
  local tun = p:tunnels()
  if #tun > 0 then f[#f + 1] = '"tunnels":' .. pktsh.json.encode(tun) end
  if p.truncated then f[#f + 1] = '"truncated":true' end
  return "{" .. table.concat(f, ",") .. "}\n"
end

local function hex_opts(o)
  if o.hexascii then return {ascii = true, link = o.hexascii > 1} end
  if o.hex then return {link = o.hex > 1} end
end

local function text_printer(o)
  -- A line walks names, labels and options in short loops of their own;
  -- LuaJIT gives up a trace that unrolls more than 15 of them (its
  -- default), and an abandoned trace leaves the per-packet path in the
  -- interpreter: with 100 a DNS line takes about a third less CPU.
  jit.opt.start("loopunroll=100")
  local fmt = lineformat.new{tstamp = o.tstamp, link = o.link, verbose = o.verbose,
    absolute = o.absolute}
  local hex = not o.verbose and hex_opts(o)
  return function(p)
    local stamp, body = fmt:parts(p)
    io.stdout:write(stamp, body, hex and lineformat.hex(p, hex) or "", "\n")
    if o.verbose then io.stdout:write(p:show(), "\n\n") end
  end
end

local function fields_printer(o)
  local fields = require "pktsh.proto.fields"
  local fo, n = o.field_opts, #o.fields
  if fo.header then
    io.stdout:write(table.concat(o.fields, fo.separator or "\t"), "\n")
  end
  return function(p)
    io.stdout:write(fields.format(o.extractor:values(p), fo, n), "\n")
  end
end

-- The per-packet action chosen by the options; n is the packet's number.
-- Returns false to stop (the -W file limit).
local function printer(o, out)
  if o.write then
    return function(p)
      local ok, err = out:write(p)
      if ok == false then io.stderr:write(err, "\n"); return false end
      if not ok then die(1, "%s", err) end
    end
  end
  if o.json then return function(p, n) io.stdout:write(json_line(n, p)) end end
  if o.format == "fields" then return fields_printer(o) end
  return text_printer(o)
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

local function written(out, o)
  local names = out.names or {o.write}
  if #names <= 1 then return string.format("%d written to %s", out:count(), o.write) end
  return string.format("%d written to %d files, %s to %s", out:count(), #names,
                       names[1], names[#names])
end

local function report(src, o, out, n)
  if o.quiet then return end
  local st = src:stats()
  if src.kind == "live" then return report_live(st, n) end
  local parts = {plural(n, "packet")}
  if o.filter then
    parts[#parts + 1] = string.format("%d read, %d filtered out", st.received, st.filtered)
  end
  if out then parts[#parts + 1] = written(out, o) end
  if src.interrupted then parts[#parts + 1] = "interrupted" end
  io.stderr:write(table.concat(parts, ", "), "\n")
end

---------------------------------------------------------------------------

local function open_source(o)
  if o.user then
    local ok, err = require("pktsh.host.privs").request(o.user)
    if not ok then die(2, "-Z: %s", err) end
  end
  local opts = {filter = o.filter}
  -- -s, -p and -Q are capture options: for a file, tcpdump ignores them
  local f = o.source ~= "-" and io.open(o.source, "rb")
  if f then f:close() end
  if not f and o.source ~= "-" then
    opts.snaplen, opts.promisc, opts.direction = o.snaplen, o.promisc, o.direction
  end
  local src, err = pktsh.open(o.source, opts)
  if not src then die(1, "%s", err) end
  return src
end

local function open_output(o, src)
  local wopts = {linktype = src.linktype, snaplen = src.snaplen,
    format = o.pcapng and "pcapng" or "pcap", comment = o.comment,
    ifname = src.kind == "live" and o.source or nil,
    flush = o.packetbuf and "packet" or nil}
  local out, err
  if o.seconds or o.size then
    wopts.seconds, wopts.size, wopts.files = o.seconds, o.size, o.files
    wopts.start = src.kind == "live" and os.time() or nil
    out, err = pktsh.pcap_rotate(o.write, wopts)
  else
    out, err = pktsh.pcap_writer(o.write == "-" and "/dev/stdout" or o.write, wopts)
  end
  if not out then die(1, "%s", err) end
  return out
end

local function main(argv)
  local o = parse_args(argv)
  if o.list_ifaces then list_ifaces() end
  if o.list_fields then list_fields() end
  if o.linebuf then io.stdout:setvbuf("line") end
  local src = open_source(o)
  local out = o.write and open_output(o, src)
  local each = printer(o, out)
  local n, limit = 0, o.count
  local ok, err = src:each(function(p)
    n = n + 1
    if each(p, n) == false then n = n - 1; return false end
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
