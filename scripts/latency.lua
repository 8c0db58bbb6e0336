-- latency.lua - latency probes: one-way delay to a second interface of
-- this host, and round trips of ICMP echo requests, from transmit stamps
-- (the sender's error queue) and receive stamps (the capture ring).
--
--   pktsh scripts/latency.lua [options] TX-IFACE
local usage = [[
usage: pktsh scripts/latency.lua [options] TX-IFACE

Sends probes on TX-IFACE at a rate and prints their latency: p50, p90,
p99 and max, and a histogram (needs CAP_NET_RAW).

  --rx IFACE     one-way: capture the probes (UDP) on IFACE, an interface
                 of this host at the other end of the link (same clock)
  --echo DST     round trip: the probes are ICMP (ICMPv6) echo requests
                 to DST; its replies come back on TX-IFACE
  --src ADDR     this host's address on TX-IFACE (with --echo)
  --dmac MAC     DST's Ethernet address (default: the kernel's ARP entry)
  --count N      probes (default 100)
  --rate N       probes a second (default 100)
  --hw           hardware stamps (the NIC's clock) instead of software
  --port N       UDP port of the one-way probes (default 7)
  --wait-ms N    how long to wait for the last probes (default 1000)
  --json         print the results as one JSON object
  -h, --help     show this help

Software stamps: the kernel's, when the driver takes the probe and when
the receiving interface gets it (CLOCK_REALTIME on both). Hardware
stamps: the NIC's; a one-way delay over two NICs needs their clocks in
step (phc2sys).
exit status: 0 if probes came back, 1 if none did or on an error, 2 for
a usage error.
]]

local cli = require "pktsh.host.cli"
local latency = require "pktsh.app.latency"

local function die(status, fmt, ...) cli.die("latency", status, fmt, ...) end

local o = cli.parse("latency", usage, arg, {
  ["--rx"] = {"rx", "string"}, ["--echo"] = {"echo", "string"},
  ["--src"] = {"src", "string"}, ["--dmac"] = {"dmac", "string"},
  ["--count"] = {"count", "whole", 1}, ["--rate"] = {"rate", "number"},
  ["--hw"] = {"hw"}, ["--port"] = {"port", "whole", 1},
  ["--wait-ms"] = {"wait_ms", "whole", 0}, ["--json"] = {"json"},
})
if #o.words > 0 then die(2, "unexpected '%s' (try -h)", o.words[1]) end
if not o.rx and not o.echo then die(2, "give --rx IFACE, --echo DST, or both") end
if o.echo and not o.src then die(2, "--echo needs --src (this host's address)") end

local r, err = latency.run{
  tx = o.source, rx = o.rx, echo = o.echo ~= nil, src = o.src, dst = o.echo, dmac = o.dmac,
  count = o.count, rate = o.rate, tstamp = o.hw and "hw" or "sw", port = o.port,
  wait_ms = o.wait_ms,
}
if not r then die(1, "%s", err) end

local kind = {sw = "software", hw = "hardware"}
local function us(v) return v and string.format("%.1f us", v / 1e3) or "-" end

local function report(title, sm)
  print(string.format("%s: %d of %d probes (%d lost)  p50 %s  p90 %s  p99 %s  max %s",
                      title, sm.n, r.sent, sm.lost, us(sm.p50), us(sm.p90), us(sm.p99), us(sm.max)))
  print(latency.histogram(sm))
end

if o.json then
  local out = {sent = r.sent, tx_stamp = r.tx_stamp, rx_stamp = r.rx_stamp, dups = r.dups}
  for _, k in ipairs({"oneway", "rtt"}) do
    local sm = r[k]
    if sm then
      out[k] = {n = sm.n, lost = sm.lost, p50_ns = sm.p50, p90_ns = sm.p90, p99_ns = sm.p99,
                min_ns = sm.min, max_ns = sm.max, mean_ns = sm.mean}
    end
  end
  print(pktsh.json.encode(out))
else
  print(string.format("latency: %d probes at %g/s on %s; stamps: %s transmit (SO_TIMESTAMPING, "
                      .. "error queue), %s receive (capture ring)%s", r.sent, o.rate or 100,
                      o.source, kind[r.tx_stamp], kind[r.rx_stamp],
                      r.interrupted and "; interrupted" or ""))
  if r.oneway then report(string.format("one-way %s -> %s", o.source, o.rx), r.oneway) end
  if r.rtt then report(string.format("round trip %s -> %s", o.source, o.echo), r.rtt) end
  if r.tx_missing > 0 then
    print(string.format("(%d probes have no transmit stamp)", r.tx_missing))
  end
end
local n = (r.oneway and r.oneway.n or 0) + (r.rtt and r.rtt.n or 0)
os.exit(n > 0 and 0 or 1)
