#!/usr/bin/env bash
# scripts/dnsstats.lua: the --json keys, matching rules, the two paths,
# the text report, options and errors (against tshark's oracles:
# test_dnsstats_oracle.sh).
. tests/lib/sh.sh
P=tests/pcaps
ds() { "$PKTSH" scripts/dnsstats.lua "$@"; }

# The --json key set is exactly the one promised.
ds --json $P/dnscap__dns.pcap >"$TMP/j"
J="$TMP/j" check "--json has exactly the promised keys" "$PKTSH" -e '
  local j = assert(pktsh.json.decode(io.open(os.getenv("J")):read("*a")))
  local want = {"packets","dns","queries","responses","malformed","truncated","tc","transport","ip","qtypes",
                "rcodes","top_qnames","top_clients","latency"}
  local n = 0
  for k in pairs(j) do n = n + 1 end
  assert(n == #want, "key count " .. n)
  for _, k in ipairs(want) do assert(j[k] ~= nil, k) end
  assert(j.transport.udp == 82 and j.transport.tcp == 0)
  assert(j.ip["4"] == 82 and j.ip["6"] == 0)
  assert(j.top_qnames[1][1] == "google.com" and j.top_qnames[1][2] == 24, "top name")
  assert(j.top_clients[1][1] == "172.17.0.10" and j.top_clients[1][2] == 41, "top client")
  local l = j.latency
  for _, k in ipairs({"matched","unanswered","p50_ms","p90_ms","p99_ms","max_ms"}) do assert(l[k], k) end
  assert(l.p50_ms <= l.p90_ms and l.p90_ms <= l.p99_ms and l.p99_ms <= l.max_ms, "ordered")'

# Matching rules on a made-up capture: a response matches its query by id,
# addresses and ports, whatever its question (Wireshark's dns.time pairs
# them so; gen__dns-pairing above has the other classes); an answer later
# than --timeout (5 s) leaves its query unanswered; a repeated query is a
# retransmission: the latency counts from its first copy.
OUT="$TMP/match.pcap" "$PKTSH" -e '
local b, w = pktsh.build, assert(pktsh.pcap_writer(os.getenv("OUT")))
local function msg(id, resp, name, qtype)
  local q = {}
  for l in name:gmatch("[^.]+") do q[#q + 1] = string.char(#l) .. l end
  qtype = qtype or 1
  return string.char(math.floor(id / 256), id % 256, resp and 0x81 or 1, resp and 0x80 or 0, 0, 1, 0, 0, 0, 0, 0, 0)
         .. table.concat(q) .. "\0" .. string.char(math.floor(qtype / 256), qtype % 256) .. "\0\1"
end
local function q4(t, id, name, cport) w:write(b.udp4{src = "198.18.0.1", dst = "198.18.0.53", sport = cport or 1000, dport = 53, payload = msg(id, false, name)}, t * 1e9) end
local function r4(t, id, name, cport) w:write(b.udp4{src = "198.18.0.53", dst = "198.18.0.1", sport = 53, dport = cport or 1000, payload = msg(id, true, name)}, t * 1e9) end
local T0 = 1.7e9
q4(T0, 1, "a.example"); r4(T0 + 0.010, 1, "a.example")           -- matched, 10 ms
q4(T0, 2, "b.example")                                             -- answered 7 s later
q4(T0 + 1, 3, "c.example")                                         -- never answered
q4(T0 + 2, 4, "d.example"); q4(T0 + 2.5, 4, "d.example")           -- repeated
r4(T0 + 2.6, 4, "d.example")                                       -- matched, 600 ms
r4(T0 + 3, 5, "x.example")                                         -- no query
w:write(b.udp6{src = "2001:2::1", dst = "2001:2::53", sport = 1001, dport = 53, payload = msg(6, false, "e.example")}, (T0 + 3) * 1e9)
w:write(b.udp6{src = "2001:2::53", dst = "2001:2::1", sport = 53, dport = 1001, payload = msg(6, true, "E.Example")}, (T0 + 3.02) * 1e9)
q4(T0 + 4, 7, "f.example", 1002); r4(T0 + 4.001, 7, "g.example", 1002)   -- other name
r4(T0 + 7, 2, "b.example")
w:close()
w = assert(pktsh.pcap_writer(os.getenv("OUT") .. ".qtypes"))
for _, qt in ipairs({511, 512, 65280, 1}) do    -- unusual query types, each once
  w:write(b.udp4{src = "198.18.0.9", dst = "198.18.0.53", sport = 2000 + qt % 1000, dport = 53,
                 payload = msg(100, false, "t.example", qt)}, (T0 + 8) * 1e9)
end
w:close()'
got=$(ds --json "$TMP/match.pcap" | python3 -c 'import json,sys; l=json.load(sys.stdin)["latency"]; print(l["matched"], l["unanswered"], "%.3f" % l["max_ms"])' 2>&1)
expect_eq "matching: 4 matched, 2 unanswered, max 600 ms" "$got" "4 2 600.000"
out=$(ds --ascii "$TMP/match.pcap")
expect_match "matching: responses without a query" "$out" "4 matched, 2 unanswered, 2 responses without a query"
got=$(ds --json "$TMP/match.pcap.qtypes" | python3 -c 'import json,sys; q=json.load(sys.stdin)["qtypes"]; print(q.get("TYPE511"), q.get("TYPE512"), q.get("TYPE65280"), q.get("A"))' 2>&1)
expect_eq "query types 511, 512, 65280 counted by name" "$got" "1 1 1 1"
got=$(ds --json --timeout 10 "$TMP/match.pcap" | python3 -c 'import json,sys; l=json.load(sys.stdin)["latency"]; print(l["matched"], l["unanswered"])' 2>&1)
expect_eq "matching: --timeout 10 lets the 7 s answer match" "$got" "5 1"

# A time bound past the end of the capture (--duration, which the scan
# checks per packet) changes nothing: every capture here, and a generated
# one with all the bench's kinds of traffic, gives the same JSON with and
# without it. (The C scan against the general path, pktsh.dnsflow, on
# every capture: tests/unit/test_dnsstats_paths.lua.)
"$PKTSH" tests/bench/gendns.lua "$TMP/gen.pcap" 20000 >/dev/null 2>&1
# and the queue's edge: 1023-1025 UDP messages fill dnsstats' queue of 1024
# just before a TCP message that dnsflow hands over
OUT="$TMP/edge" "$PKTSH" -e '
local b = pktsh.build
for _, k in ipairs({1023, 1024, 1025}) do
  local w = assert(pktsh.pcap_writer(os.getenv("OUT") .. k .. ".pcap"))
  local q = "\0\1\1\0\0\1\0\0\0\0\0\0\1a\0\0\1\0\1"
  for i = 1, k do
    w:write(b.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 1000 + i, dport = 53, payload = q}, 1.7e18 + i)
  end
  w:write(b.tcp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 999, dport = 53, flags = "PA",
                 payload = "\0" .. string.char(#q) .. q}, 1.7e18 + k + 1)
  w:close()
end'
for k in 1023 1024 1025; do
  expect_eq "queue edge $k: every message counted" \
    "$(ds --json "$TMP/edge$k.pcap" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["dns"], j["transport"]["tcp"])')" "$((k + 1)) 1"
done
same=0 differ=""
for f in $P/*.pcap $P/*.pcapng "$TMP/gen.pcap" "$TMP/match.pcap" "$TMP"/edge*.pcap; do
  for ports in 53 53,5353,8053; do
    a=$(ds --json --ports $ports "$f" 2>&1); b=$(ds --json --ports $ports --duration 1e9 "$f" 2>&1)
    if [ "$a" = "$b" ]; then same=$((same + 1)); else differ="$differ $(basename "$f"):$ports"; fi
  done
done
expect_eq "a --duration past the end gives the same statistics on every capture" "${differ:-none}" none
expect_match "... for all captures" "$same" "^([4-9][0-9]|[1-9][0-9][0-9])$"

# Text report
out=$(ds --ascii $P/dnscap__dns.pcap)
expect_match "text: counts line" "$out" "DNS messages 82 \(udp 82, tcp 0; IPv4 82, IPv6 0\)"
expect_match "text: queries and responses" "$out" "queries 41 +responses 41 +malformed 0"
expect_match "text: latency" "$out" "latency: 41 matched, 0 unanswered; p50 [0-9.]+ ms"
expect_match "text: qtypes by name" "$out" "A +24"
expect_match "text: rcode names" "$out" "NOERROR +41"
expect_match "text: top names" "$out" "google.com +24"
expect_match "text: error bound stated" "$out" "exact: 2 distinct of 10000 counters"
expect_eq "--ascii: no UTF-8" "$(printf '%s' "$out" | LC_ALL=C grep -c $'[\x80-\xff]')" 0
out=$(ds --top 1 --capacity 1 --ascii $P/dnscap__dns.pcap)
expect_match "--capacity 1: bound stated" "$out" "space-saving, 1 counters: counts are upper bounds"
expect_eq "--top 1: one row" "$(printf '%s\n' "$out" | grep -c '^   2 ')" 0
out=$(ds --interval 5 $P/dnscap__dns.pcap | grep -c '^20[0-9-]*T.* packets [0-9]* dns')
expect_match "--interval: plain lines when not a terminal" "$out" "^[1-9][0-9]*$"
# --interval on a file (issue 16): capture-time intervals of 0.5 s from
# the first packet, every one printed (empty ones too) up to the last,
# partial one (85.499 s of capture: 171 lines, the last 0.499 s long);
# each starts where the one before ended; qps is queries over the
# interval's own length; the per-interval counts add up to the totals.
out=$(ds --interval 0.5 $P/dnscap__dns.pcap | "$PKTSH" -e '
  local n, pk, q, empty, gaps, badq, last, prev = 0, 0, 0, 0, 0, 0, nil, nil
  for l in io.lines() do
    local when, rest = l:match("^(%S+Z) (interval_s .*)$")
    if when then
      local f = {}
      for k, v in rest:gmatch("(%S+) (%S+)") do f[k] = v end
      local h, m, s = when:match("T(%d+):(%d+):([%d.]+)Z")
      local t = h * 3600 + m * 60 + s
      if prev and math.abs(t - prev - 0.5) > 1e-6 then gaps = gaps + 1 end
      prev, n, last = t, n + 1, f
      pk, q = pk + f.packets, q + f.queries
      if tonumber(f.packets) == 0 then empty = empty + 1 end
      if math.abs(f.qps - f.queries / f.interval_s) > 0.05 then badq = badq + 1 end
    end
  end
  print(n, empty > 100, gaps, badq, pk, q, last.interval_s, last.total_packets)')
expect_eq "--interval on a file: every interval, rates over its length, the last partial one" \
  "$out" "171	true	0	0	133	41	0.499	133"
n=$(ds --json --duration 1 $P/dnscap__dns.pcap | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])' 2>/dev/null)
expect_match "--duration: fewer packets" "$n" "^([0-9]|[1-9][0-9]|1[0-2][0-9])$"
n=$(ds --json $P/dnscap__dns.pcap 'host 8.8.8.8' | python3 -c 'import json,sys; print(json.load(sys.stdin)["packets"])' 2>/dev/null)
expect_eq "filter words" "$n" 82
n=$(ds --json -j 2 $P/dnscap__dns.pcap | python3 -c 'import json,sys; print(json.load(sys.stdin)["dns"])' 2>/dev/null)
expect_eq "-j 2 on a file" "$n" 82

# Errors
ds --bogus $P/dnscap__dns.pcap >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "unknown option exits 2" "$rc" 2
expect_match "unknown option named" "$(cat "$TMP/err")" "unknown option '--bogus'"
ds >/dev/null 2>&1; expect_eq "no source exits 2" "$?" 2
ds --top x $P/dnscap__dns.pcap >/dev/null 2>&1; expect_eq "bad --top exits 2" "$?" 2
ds --ports 53,99999 $P/dnscap__dns.pcap >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "bad --ports exits 2" "$rc" 2
ds "$TMP/none.pcap" >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "missing file exits 1" "$rc" 1
expect_match "missing file named" "$(cat "$TMP/err")" "dnsstats: .*none.pcap"
ds $P/libpcap__pcap-invalid-version-1.pcap >/dev/null 2>&1; expect_eq "not a capture exits 1" "$?" 1
ds -h | grep -q -- '--interval S'; expect_eq "-h prints usage" "$?" 0
# malformed captures: no crash, counted
for f in tcpdump__dns-badlabel tcpdump__dns_fwdptr tcpdump__dns-zlip-1 tcpdump__dns-zlip-3 \
         tcpdump__udp-length-heapoverflow; do
  check "malformed $f read cleanly" "$PKTSH" scripts/dnsstats.lua --json $P/$f.pcap
done

# Churn: 3,000 clients and names through 50 counters. Every row must be
# labelled: a key of 2^63 or more once became one double in compiled
# code and another in the interpreter, and its label was lost (clients
# shown as numbers).
F="$TMP/churn.pcap" LUA_PATH="tests/lib/?.lua;;" "$PKTSH" -e 'math.randomseed(2); require("hostile").capture(os.getenv("F"), 3000, false)'
got=$(ds --json --capacity 50 --top 50 "$TMP/churn.pcap" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(len(d["top_clients"]), sum(1 for c, n in d["top_clients"] if ":" not in c))')
expect_eq "churn: every top client shown as its address" "$got" "50 0"

# A half-open flood one past max_flows (10,000): the oldest flow is
# evicted, and the report says so.
F="$TMP/syn.pcap" "$PKTSH" -e '
local w = assert(pktsh.pcap_writer(os.getenv("F")))
for i = 1, 10005 do
  assert(w:write(pktsh.build.tcp4{src = "198.18.0." .. (1 + i % 200), dst = "198.18.0.53",
                                  sport = 1024 + i, dport = 53, flags = "S"}, i * 1000))
end
assert(w:close())'
out=$(ds "$TMP/syn.pcap")
expect_match "flood: evictions shown" "$out" "evicted \(oldest first, to stay within bounds\): 5 TCP flows, 0 fragmented datagrams"
