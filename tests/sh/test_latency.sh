#!/usr/bin/env bash
# scripts/latency.lua (issue 14, item 5) with software stamps on veth:
# one-way probes between the two ends of a veth pair inside one
# namespace (one clock), and ICMP echo round trips from namespace A to B
# (B's kernel answers). Every probe comes back once with a transmit stamp
# from the sender's error queue and a receive stamp from the ring; the
# summary is ordered (p50 <= p90 <= p99 <= max) and the text output has
# the histogram and names the stamp source. Traffic: only between our
# namespaces, a few hundred probes.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "latency"
if ! netns_setup; then fail "latency: namespace setup" "netns_setup failed"; exit 1; fi
# The second pair, both ends in A.
ip -n "$NS_A" link add lA type veth peer name lB &&
  ip -n "$NS_A" link set lA up && ip -n "$NS_A" link set lB up || {
  fail "latency: second veth pair" "cannot make it"; exit 1; }
sleep 0.5

jcheck() {  # NAME JSON KIND COUNT
  local out
  out=$(printf '%s' "$2" | "$PKTSH" -e "
    local t = pktsh.json.decode(io.read('*a'))
    local s = t['$3']
    if not s then print('no ' .. '$3'); return end
    local ordered = s.p50_ns > 0 and s.p50_ns <= s.p90_ns and s.p90_ns <= s.p99_ns and s.p99_ns <= s.max_ns
                    and s.min_ns <= s.p50_ns and s.min_ns > 0 and s.max_ns < 1e9  -- one clock: TX before RX
    print(t.sent, s.n, s.lost, t.dups, ordered, t.tx_stamp, t.rx_stamp)" 2>&1)
  expect_eq "$1: every probe back once, p50 <= p90 <= p99 <= max, software stamps" "$out" \
    "$4	$4	0	0	true	sw	sw"
}

out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --rx lB --count 300 --rate 1000 --json lA 2>&1)
jcheck "one-way" "$out" oneway 300

out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 198.18.0.2 --src 198.18.0.1 \
  --dmac "$MAC_B" --count 200 --rate 500 --json "$IF_A" 2>&1)
jcheck "round trip (ICMP echo)" "$out" rtt 200
# B's replies taught A B's address: no --dmac needed now.
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 198.18.0.2 --src 198.18.0.1 \
  --count 50 --rate 500 --json "$IF_A" 2>&1)
jcheck "round trip, MAC from the kernel's ARP table" "$out" rtt 50
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 2001:2::2 --src 2001:2::1 \
  --dmac "$MAC_B" --count 50 --rate 500 --json "$IF_A" 2>&1)
jcheck "round trip, ICMPv6" "$out" rtt 50

# The text output, as the closing report shows it.
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --rx lB --count 200 --rate 1000 lA 2>&1)
echo "$out" | sed 's/^/# /'
expect_match "text: names the stamps" "$out" "^latency: 200 probes at 1000/s on lA; stamps: software transmit \(SO_TIMESTAMPING, error queue\), software receive \(capture ring\)"
expect_match "text: the one-way line" "$out" "one-way lA -> lB: 200 of 200 probes \(0 lost\)  p50 [0-9.]+ us  p90 [0-9.]+ us  p99 [0-9.]+ us  max [0-9.]+ us"
expect_match "text: a histogram" "$out" "[0-9]+ - [0-9]+ +us +[0-9]+ #+"

# Errors.
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --rx lB --hw lA 2>&1); rc=$?
expect_match "--hw on veth: no hardware stamps, said so" "$rc $out" "^1 latency: interface 'lA' has no hardware transmit timestamps"
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 198.18.0.2 lA 2>&1); rc=$?
expect_match "--echo without --src: usage error" "$rc $out" "^2 latency: --echo needs --src"
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua lA 2>&1); rc=$?
expect_match "neither --rx nor --echo: usage error" "$rc $out" "^2 latency: give --rx IFACE, --echo DST, or both"
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 198.18.0.99 --src 198.18.0.1 lA 2>&1); rc=$?
expect_match "an unknown MAC: told to give --dmac" "$rc $out" "^1 latency: echo: the MAC of 198.18.0.99 is unknown"
# Nothing answers: probes are lost, exit 1.
out=$(netns_exec "$NS_A" "$PKTSH" scripts/latency.lua --echo 198.18.0.77 --src 198.18.0.1 --dmac "$MAC_B" \
  --count 5 --rate 100 --wait-ms 200 "$IF_A" 2>&1); rc=$?
expect_eq "no answer: exit 1" "$rc" 1
expect_match "no answer: every probe lost" "$out" "^round trip $IF_A -> 198.18.0.77: 0 of 5 probes \(5 lost\)"
