-- xdpdump.lua - record (and optionally drop) packets at the XDP hook.
--
--   pktsh scripts/xdpdump.lua [options] IFACE [RULE...]
local usage = [[
usage: pktsh scripts/xdpdump.lua [options] IFACE [RULE...]

Attaches pktsh's XDP program to IFACE with the RULEs and writes every
packet a rule copies to a pcap file (or prints one line per packet). A
RULE is key=value pairs joined by commas, as fw:add takes them:

  proto=udp,sport=53,action=drop,copy=128   drop UDP from port 53, keep 128 bytes
  src=198.18.0.0/15,dport=1000-2000         copy (whole packets) and pass

keys: proto src dst sport dport vlan priority action (pass, drop) copy
(a byte count, or all). A rule without copy= copies whole packets; with
no RULE at all every packet is copied and passed.

options:
  -w FILE       write a pcap (nanosecond timestamps); '-' is standard output
  -c COUNT      stop after COUNT packets
  -d SECONDS    stop after SECONDS
  --skb         generic (skb) mode instead of native
  --dispatcher  attach through libxdp's dispatcher (falls back to a link)
  --engine E    auto (default), linear or classifier
  --ring BYTES  copy ring size (a power of two; default 32 MiB)
  -q            no summary at the end
  -v, -vv       show libbpf's and libxdp's messages (-vv: their debug lines)
  -h, --help    show this help

Ctrl-C (or SIGTERM) stops it; the file is complete and tcpdump reads it.
The program is detached when xdpdump exits, however it exits.
exit status: 0 on success, 1 if the program cannot be attached, 2 for a
usage error.
]]

local xdp = pktsh.xdp

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("xdpdump", status, fmt, ...) end

local opt = cli.parse("xdpdump", usage, arg, {
  ["-w"] = {"file", "string"}, ["-c"] = {"count", "whole", 1},
  ["-d"] = {"duration", "number"}, ["--skb"] = {"mode", value = "skb"},
  ["--dispatcher"] = {"attach", value = "dispatcher"}, ["--engine"] = {"engine", {"auto", "linear", "classifier"}},
  ["--ring"] = {"ring", "whole", 1}, ["-q"] = {"quiet"},
  ["-v"] = {"verbose"}, ["-vv"] = {"verbose", value = 2},
})
opt.iface, opt.rules = opt.source, opt.words
if opt.verbose then pktsh.verbose(opt.verbose == true and 1 or opt.verbose) end

-- Usage mistakes in a rule exit 2 before anything is attached.
for n, text in ipairs(opt.rules) do
  local spec, err = xdp.parse_rule_text(text)
  if not spec then die(2, "rule %d: %s", n, err) end
  local ok, why = xdp.check_rule(spec)
  if not ok then die(2, "rule %d (%s): %s", n, text, why) end
end

-- The source owns the rule set (src.fw): without rules it copies every
-- packet and passes it; a rule without copy= copies what it matches.
local src, err = pktsh.open{xdp = opt.iface, rules = #opt.rules > 0 and opt.rules or nil,
                            mode = opt.mode, attach = opt.attach, engine = opt.engine,
                            ring_size = opt.ring, duration = opt.duration}
if not src then die(1, "%s", err) end
local fw = src.fw
local nrules = #fw:rules()

local w
if opt.file then
  w, err = pktsh.pcap_writer(opt.file, src)
  if not w then src:close(); die(1, "%s", err) end
end
local info = fw:info()
if not opt.quiet then
  io.stderr:write(string.format("xdpdump: listening on %s (%s, %s, %s engine), %d rule%s\n",
    opt.iface, info.mode, info.attach, info.engine, nrules, nrules == 1 and "" or "s"))
  io.stderr:flush()
end

local n, limit = 0, opt.count
src:each(function(p)
  n = n + 1
  if w then w:write(p) else io.stdout:write(p:summary(), "\n") end
  if limit and n >= limit then return false end
end)

if w then w:close() end
local st = fw:stats()
if not opt.quiet then
  io.stderr:write(string.format("%d packets%s; at XDP: %d seen, %d dropped, %d copied, %d copies lost (ring full)\n",
    n, opt.file and (" written to " .. opt.file) or "", st.packets, st.dropped, st.copied, st.copy_lost))
  for k, r in ipairs(fw:rules()) do
    io.stderr:write(string.format("  rule %d %s: %d packets, %d copied, %d lost\n",
      k, tostring(r.rule), r.packets, r.copied, r.copy_lost))
  end
end
src:close()
