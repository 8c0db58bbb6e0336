#!/usr/bin/env bash
# dnsstats' outputs for other systems, from capture files: --dnstap FILE
# read back by dnstap-ldns (as many messages, queries and responses as
# dnsstats counts, the same query names), --metrics-file checked by
# promtool and against --json, -Z with both (their threads start after
# the drop), and the usage errors.
. tests/lib/sh.sh
D="$PKTSH scripts/dnsstats.lua"
have() { command -v "$1" >/dev/null 2>&1; }
"$PKTSH" tests/lib/fleetcap.lua "$TMP/fleet.pcap" >/dev/null

if have dnstap-ldns; then
  for f in "$TMP/fleet.pcap" tests/pcaps/*.pcap tests/pcaps/*.pcapng; do
    case $f in *invalid-version*) continue;; esac
    # Both messages cut by the snaplen inside VXLAN in Geneve (48 bytes):
    # the tap carries the bytes captured, which dnstap-ldns cannot parse
    # ("parse failed"), so it has no names to compare
    case $f in *geneve-vxlan-dns-truncated*) continue;; esac
    # Two queries whose records do not fit them: dnsstats counts their
    # names (tshark shows them), dnstap-ldns cannot parse them
    case $f in *dns-bad-records*) continue;; esac
    n=$(basename "$f")
    $D --top 100000 --json --dnstap "$TMP/$n.tap" "$f" > "$TMP/$n.json" 2>"$TMP/$n.err" ||
      { fail "$n: dnsstats --dnstap" "$(cat "$TMP/$n.err")"; continue; }
    "$PKTSH" tests/lib/tapcheck.lua "$n" "$TMP/$n.tap" "$TMP/$n.json"
  done
  expect_match "dnstap: the summary on stderr" "$(cat "$TMP/fleet.pcap.err")" \
    "^dnsstats: dnstap: 637 messages written to .*fleet.pcap.tap \(0 dropped"
else
  skip "dnstap files" "dnstap-ldns not installed (Debian dnstap-ldns)"
fi

field() {  # field FILE EXPR: a value from a JSON report
  "$PKTSH" -e "local j = require('pktsh.report.json').decode(io.open('$1'):read('*a'))
               print($2)" 2>/dev/null
}
metric() {  # metric FILE SAMPLE: the value of one sample line
  awk -v s="$2" '$1 == s { print $2 }' "$1"
}

$D --json --top 20 --metrics-file "$TMP/m.prom" "$TMP/fleet.pcap" > "$TMP/m.json"
expect_eq "metrics file: packets" "$(metric "$TMP/m.prom" pktsh_dns_packets_total)" "$(field "$TMP/m.json" j.packets)"
expect_eq "metrics file: queries" "$(metric "$TMP/m.prom" pktsh_dns_queries_total)" "$(field "$TMP/m.json" j.queries)"
expect_eq "--json: TC responses" "$(field "$TMP/m.json" j.tc)" 13
expect_eq "metrics file: TC" "$(metric "$TMP/m.prom" pktsh_dns_tc_responses_total)" 13
expect_eq "--json: cut by the capture" "$(field "$TMP/m.json" j.truncated)" 0
expect_eq "metrics file: cut by the capture" "$(metric "$TMP/m.prom" pktsh_dns_truncated_messages_total)" 0
expect_eq "metrics file: NXDOMAIN" "$(metric "$TMP/m.prom" 'pktsh_dns_responses_by_rcode_total{rcode="NXDOMAIN"}')" \
  "$(field "$TMP/m.json" j.rcodes.NXDOMAIN)"
expect_eq "metrics file: matched" "$(metric "$TMP/m.prom" pktsh_dns_response_latency_seconds_count)" \
  "$(field "$TMP/m.json" j.latency.matched)"
expect_eq "metrics file: unanswered at the end" "$(metric "$TMP/m.prom" pktsh_dns_unanswered_queries_total)" \
  "$(field "$TMP/m.json" j.latency.unanswered)"
expect_eq "metrics file: udp over IPv6, responses" \
  "$(metric "$TMP/m.prom" 'pktsh_dns_messages_total{transport="udp",ip_version="6",direction="response"}')" 60
expect_eq "metrics file: top name" "$(metric "$TMP/m.prom" 'pktsh_dns_top_qname_queries{qname="host1.example."}')" \
  "$(field "$TMP/m.json" 'j.top_qnames[1][2]')"
expect_eq "metrics file: the rest as other" "$(metric "$TMP/m.prom" 'pktsh_dns_top_qname_queries{qname="other"}')" 0
expect_eq "metrics file: no temporary file left" "$(ls -A "$TMP" | grep -c '^\.m\.prom')" 0
if have promtool; then
  out=$(promtool check metrics < "$TMP/m.prom" 2>&1)
  if echo "$out" | grep -qi error; then fail "metrics file: promtool" "$out"; else pass "metrics file: promtool"; fi
else
  skip "metrics file: promtool" "promtool not installed (Debian prometheus)"
fi
# --top 2: two names and the rest summed as other
$D --json --top 2 --metrics-file "$TMP/t.prom" "$TMP/fleet.pcap" > /dev/null
expect_eq "metrics file: --top 2 series" "$(grep -c '^pktsh_dns_top_qname_queries{' "$TMP/t.prom")" 3
expect_eq "metrics file: --top 2 sum" \
  "$(awk '/^pktsh_dns_top_qname_queries\{/ { s += $2 } END { print s }' "$TMP/t.prom")" 320

# --top 0: no names at all, every query in other
$D --json --top 0 --metrics-file "$TMP/t0.prom" --metrics-interval 0.01 "$TMP/fleet.pcap" > /dev/null
expect_eq "metrics file: --top 0" "$(grep '^pktsh_dns_top_qname_queries{' "$TMP/t0.prom")" \
  'pktsh_dns_top_qname_queries{qname="other"} 320'

# -j 2 on a file: one worker's table anyway; the file is written at the end
$D -j 2 --json --metrics-file "$TMP/j.prom" "$TMP/fleet.pcap" > /dev/null
expect_eq "-j 2: metrics file" "$(metric "$TMP/j.prom" pktsh_dns_queries_total)" 320
out=$($D -j 2 --metrics 127.0.0.1:0 lo 2>&1); rc=$?
expect_eq "-j 2 --metrics: usage error" "$rc" 2
expect_match "-j 2 --metrics: says why" "$out" "one worker"

out=$($D --metrics nonsense "$TMP/fleet.pcap" 2>&1); rc=$?
expect_eq "--metrics nonsense: exit 1" "$rc" 1
expect_match "--metrics nonsense: says why" "$out" "HOST:PORT"
out=$($D --dnstap tcp:nohost "$TMP/fleet.pcap" 2>&1); rc=$?
expect_eq "--dnstap tcp:nohost: exit 1" "$rc" 1
expect_match "--dnstap tcp:nohost: says why" "$out" "tcp:HOST:PORT"

# -Z: the HTTP and dnstap threads start after the drop (privs.c drops
# only while one thread runs), and the files are the user's
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
  chmod o+x "$TMP"; mkdir -m 1777 "$TMP/z"
  out=$("$PKTSH" -Z nobody scripts/dnsstats.lua --json --metrics 127.0.0.1:0 --metrics-file "$TMP/z/z.prom" \
        --dnstap "$TMP/z/z.tap" "$TMP/fleet.pcap" 2>&1 >/dev/null); rc=$?
  expect_eq "-Z nobody with --metrics and --dnstap: exit 0" "$rc" 0
  expect_eq "-Z: stderr" "$out" "dnsstats: dnstap: 637 messages written to $TMP/z/z.tap (0 dropped: queue full; 0 lost: output down)"
  expect_eq "-Z: the files are nobody's" "$(stat -c %U "$TMP/z/z.prom" "$TMP/z/z.tap" | sort -u)" nobody
  expect_eq "-Z: metrics" "$(metric "$TMP/z/z.prom" pktsh_dns_packets_total)" 637
else
  skip "-Z with --metrics and --dnstap" "needs root and a user nobody"
fi
