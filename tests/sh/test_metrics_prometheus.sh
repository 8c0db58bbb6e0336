#!/usr/bin/env bash
# dnsstats --metrics under a real Prometheus (Debian's prometheus), all
# inside a network namespace: a capture is replayed into a veth, dnsstats
# counts it live and serves /metrics on the namespace's loopback,
# Prometheus scrapes it every second; once it has scraped the whole
# capture (two scrapes at least), its HTTP API must give the numbers
# dnsstats --json gives for the same capture file. promtool checks the
# exposition; a second target serves hostile raw label values, which
# Prometheus must take whole.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "metrics: prometheus"
for c in prometheus promtool curl; do
  if ! command -v $c >/dev/null 2>&1; then
    skip "metrics: prometheus" "$c not installed (Debian prometheus, curl)"; exit 0
  fi
done
netns_setup

N=$("$PKTSH" tests/lib/fleetcap.lua "$TMP/fleet.pcap")
"$PKTSH" scripts/dnsstats.lua --json --top 20 "$TMP/fleet.pcap" > "$TMP/file.json"
MPORT=9553 HPORT=9554 PPORT=9090      # the namespace's own loopback

cat > "$TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: pktsh
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
  - job_name: hostile
    static_configs:
      - targets: ['127.0.0.1:$HPORT']
EOF
check "promtool check config" promtool check config "$TMP/prometheus.yml"

netns_bg "$NS_B" 120 "$TMP/prom.out" "$TMP/prom.err" prometheus \
  --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/tsdb" \
  --web.listen-address=127.0.0.1:$PPORT
PROM_PID=$BG_PID
netns_bg "$NS_B" 100 "$TMP/live.json" "$TMP/live.err" "$PKTSH" scripts/dnsstats.lua \
  --top 20 --json --metrics 127.0.0.1:$MPORT --metrics-interval 0.5 "$IF_B" port 53
LIVE_PID=$BG_PID
netns_bg "$NS_B" 100 "$TMP/hostile.out" "$TMP/hostile.err" "$PKTSH" tests/lib/hostile_metrics.lua \
  127.0.0.1:$HPORT 90
HOSTILE_PID=$BG_PID

# in the namespace: curl URL -> body ("" when it fails)
get() { netns_exec "$NS_B" curl -s -m 5 "$@" 2>/dev/null; }
ready=0
for _ in $(seq 1 100); do
  if get "http://127.0.0.1:$PPORT/-/ready" | grep -q Ready &&
     get "http://127.0.0.1:$MPORT/metrics" | grep -q '^pktsh_dns_packets_total 0$'; then
    ready=1; break
  fi
  sleep 0.2
done
expect_eq "prometheus and dnsstats are up" "$ready" 1

netns_exec "$NS_A" timeout 60 "$PKTSH" tests/lib/replay.lua "$IF_A" "$TMP/fleet.pcap" > "$TMP/sent" 2>&1
expect_eq "replayed" "$(cat "$TMP/sent")" "sent $N"

# Prometheus has the whole capture once a scrape saw the last snapshot
rc=3
for _ in $(seq 1 60); do
  netns_exec "$NS_B" "$PKTSH" tests/lib/promcheck.lua "http://127.0.0.1:$PPORT" "$TMP/file.json" \
    > "$TMP/check.out" 2>&1
  rc=$?
  [ $rc -ne 3 ] && break
  sleep 0.5
done
if [ $rc -eq 3 ]; then
  fail "prometheus has the whole capture" "pktsh_dns_packets_total never reached $N in two scrapes or more: $(tail -3 "$TMP/live.err")"
else
  cat "$TMP/check.out"
fi

get "http://127.0.0.1:$MPORT/metrics" > "$TMP/expo.txt"
out=$(promtool check metrics < "$TMP/expo.txt" 2>&1)
if echo "$out" | grep -qi "error"; then fail "promtool check metrics: dnsstats" "$out"
else pass "promtool check metrics: dnsstats"; fi
# quote"d.example: dnsstats shows it quote\"d.example, the exposition escapes both
if grep -qF 'pktsh_dns_top_qname_queries{qname="quote\\\"d.example."} 2' "$TMP/expo.txt"; then
  pass "exposition: a hostile name escaped"
else fail "exposition: a hostile name escaped" "$(grep quote "$TMP/expo.txt")"; fi
om=$(get -H 'Accept: application/openmetrics-text;version=1.0.0' "http://127.0.0.1:$MPORT/metrics")
expect_eq "OpenMetrics ends in # EOF" "$(printf '%s\n' "$om" | tail -1)" "# EOF"

# the hostile target: every series ingested, the scrape healthy
want=$(head -1 "$TMP/hostile.out" | sed -n 's/^serving //p')
prom_q() { get "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1"; }
got=""
for _ in $(seq 1 20); do
  got=$(prom_q 'count(pktsh_test_hostile)' | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)"\].*/\1/p')
  [ -n "$got" ] && break
  sleep 0.5
done
expect_eq "prometheus took every hostile series" "$got" "$want"
expect_eq "hostile target up" "$(prom_q 'up{job="hostile"}' | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)"\].*/\1/p')" 1
get "http://127.0.0.1:$HPORT/metrics" > "$TMP/hostile.txt"
out=$(promtool check metrics < "$TMP/hostile.txt" 2>&1)
if echo "$out" | grep -qi "error"; then fail "promtool check metrics: hostile values" "$out"
else pass "promtool check metrics: hostile values"; fi
val=$(prom_q 'pktsh_test_hostile{v="e\nf"}' | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)"\].*/\1/p')
expect_eq "a newline in a label value comes back as a newline" "$val" 3

# dnsstats ends on SIGTERM with the same numbers in its own JSON
kill -TERM "$LIVE_PID"; netns_wait "$LIVE_PID"
kill -TERM "$HOSTILE_PID" "$PROM_PID"; netns_wait "$HOSTILE_PID"; netns_wait "$PROM_PID"
field() { "$PKTSH" -e "local j = require('pktsh.report.json').decode(io.open('$1'):read('*a'))
                       print($2)" 2>/dev/null; }
for k in packets dns queries responses 'latency.matched' 'transport.tcp' 'ip["6"]'; do
  expect_eq "live --json: $k" "$(field "$TMP/live.json" "j.$k")" "$(field "$TMP/file.json" "j.$k")"
done
