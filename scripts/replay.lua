-- replay.lua - sends a capture file again onto an interface, as tcpreplay
-- does: pktsh.replay (the TX ring) with the file's timing, a multiple of
-- it, a packet or bit rate, or as fast as the device takes frames.
--
--   pktsh scripts/replay.lua [options] FILE IFACE
local usage = [[
usage: pktsh scripts/replay.lua [options] FILE IFACE

Sends the packets of FILE (pcap or pcapng) onto IFACE, with the file's
own timing unless told otherwise (needs CAP_NET_RAW).

options:
  --speed X      the file's timing, X times faster (0.5: half speed)
  --pps N        N packets a second, evenly spaced
  --mbps N       N megabits a second
  --topspeed     as fast as the interface takes them
  --loop N       send the file N times (default 1)
  --filter EXPR  only the packets EXPR keeps (tcpdump syntax)
  --limit N      N packets at most
  --bypass       skip the interface's queueing discipline (faster)
  --json         print the statistics as one JSON object
  -h, --help     show this help

At the end: packets and bytes sent, the rate achieved, and how late
packets went against their schedule (p50/p90/p99/max: when the send
began minus when the packet was due).
exit status: 0 when every packet went (Ctrl-C included), 1 on an error,
2 for a usage error.
]]

local cli = require "pktsh.host.cli"

local function die(status, fmt, ...) cli.die("replay", status, fmt, ...) end

local o = cli.parse("replay", usage, arg, {
  ["--speed"] = {"speed", "number"}, ["--pps"] = {"pps", "number"},
  ["--mbps"] = {"mbps", "number"}, ["--topspeed"] = {"topspeed"},
  ["--loop"] = {"loop", "whole", 1}, ["--filter"] = {"expr", "string"},
  ["--limit"] = {"limit", "whole", 1}, ["--bypass"] = {"bypass"}, ["--json"] = {"json"},
})
local iface = o.words[1]
if not iface or #o.words > 1 then die(2, "give FILE and IFACE (a filter goes in --filter)") end

local st, err = pktsh.replay(o.source, iface, {
  speed = o.speed, pps = o.pps, mbps = o.mbps, topspeed = o.topspeed, loop = o.loop,
  filter = o.expr, limit = o.limit, bypass = o.bypass,
})
if not st then die(1, "%s", err) end

if o.json then
  print(pktsh.json.encode(st))
else
  print(string.format("replay: %d packets (%d bytes) in %.3f s: %.0f pps, %.2f Mbps; "
                      .. "%d pass%s, %d skipped, %d errors, %d retries%s",
                      st.packets, st.bytes, st.seconds, st.pps, st.mbps, st.loops,
                      st.loops == 1 and "" or "es", st.skipped, st.errors, st.retries,
                      st.interrupted and "; interrupted" or ""))
  local t = st.timing
  if t then
    local function us(v) return string.format("%.1f", v / 1e3) end
    print(string.format("timing error (us late): p50 %s  p90 %s  p99 %s  max %s  mean %s  (%d packets)",
                        us(t.p50), us(t.p90), us(t.p99), us(t.max), us(t.mean), t.n))
  end
end
if st.error then io.stderr:write("replay: ", st.error, "\n"); os.exit(1) end
