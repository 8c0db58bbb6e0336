#!/usr/bin/env bash
# Streaming (issue 16 item 8): a capture read from a pipe is delivered as
# soon as its records are there, not when a batch fills or the pipe ends;
# pcap writers write out at least once a second (at once with dump.lua
# -U), so a reader at the other end of a pipe sees packets while pktsh
# runs and kill -9 leaves a readable file; dump.lua -l flushes each line.
# Live parts: host B of a veth pair (tests/lib/netns.sh), a few hundred
# UDP frames to port 5000 from host A.
. tests/lib/sh.sh

# The first N records of a classic pcap, and the rest (python3 splits at
# a record boundary).
split_pcap() {  # FILE N HEAD REST
  python3 - "$@" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
n, pos = int(sys.argv[2]), 24
for _ in range(n):
    caplen = struct.unpack_from("<I", data, pos + 8)[0]
    pos += 16 + caplen
open(sys.argv[3], "wb").write(data[:pos])
open(sys.argv[4], "wb").write(data[pos:])
EOF
}

# count_lines_after FILE SECONDS: lines in FILE after SECONDS.
lines_after() { sleep "$2"; wc -l <"$1" | tr -d ' '; }

if command -v python3 >/dev/null; then
  split_pcap tests/pcaps/dnscap__dns.pcap 3 "$TMP/head.pcap" "$TMP/rest.pcap"
  # 3 packets, then a pause of 3 s before the rest: they show at once
  ( cat "$TMP/head.pcap"; sleep 3; cat "$TMP/rest.pcap" ) |
    "$PKTSH" scripts/dump.lua -l - >"$TMP/pipe.out" 2>"$TMP/pipe.err" &
  pid=$!
  expect_eq "a pipe's first packets are printed before the writer goes on" \
    "$(lines_after "$TMP/pipe.out" 1.5)" 3
  wait "$pid"
  expect_eq "... and then the rest, to the end of the pipe" "$(wc -l <"$TMP/pipe.out" | tr -d ' ')" 133
  # without -l, standard output (not a terminal) is buffered as stdio does
  ( cat "$TMP/head.pcap"; sleep 2; cat "$TMP/rest.pcap" ) |
    "$PKTSH" scripts/dump.lua - >"$TMP/buf.out" 2>/dev/null &
  pid=$!
  expect_eq "without -l, lines to a file wait for the buffer" "$(lines_after "$TMP/buf.out" 1)" 0
  wait "$pid"
  # Ctrl-C while the pipe is quiet ends the read at once
  ( cat "$TMP/head.pcap"; sleep 5 ) | "$PKTSH" scripts/dump.lua -l - >"$TMP/int.out" 2>"$TMP/int.err" &
  pid=$!
  sleep 1
  start=$(date +%s%N)
  kill -INT "$pid" 2>/dev/null
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  ms=$((($(date +%s%N) - start) / 1000000))
  wait "$pid"; rc=$?
  expect_eq "Ctrl-C while a pipe is quiet: exit 0" "$rc" 0
  [ "$ms" -lt 1000 ] && pass "... at once (${ms} ms)" || fail "... at once" "${ms} ms"
  # a pcapng stream goes through libpcap, and streams too
  python3 - tests/pcaps/zeek__pcapng-multi-interface.pcapng "$TMP/ng.head" "$TMP/ng.rest" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
pos, blocks = 0, []
while pos < len(data):
    t, n = struct.unpack_from("<II", data, pos)
    blocks.append((t, pos, n)); pos += n
cut = [b for b in blocks if b[0] == 6][1]       # after the first packet block
open(sys.argv[2], "wb").write(data[:cut[1]])
open(sys.argv[3], "wb").write(data[cut[1]:])
EOF
  ( cat "$TMP/ng.head"; sleep 3; cat "$TMP/ng.rest" ) |
    "$PKTSH" scripts/dump.lua -l - >"$TMP/ng.out" 2>/dev/null &
  pid=$!
  expect_eq "a pcapng pipe's first packet is printed at once" "$(lines_after "$TMP/ng.out" 1.5)" 1
  wait "$pid"
else
  skip "pipes" "python3 is not installed (make deps)"
fi

# --- live: writers and readers on both ends of a pipe ---------------------
. tests/lib/netns.sh
netns_require "streaming, live"
netns_setup || { fail "stream: netns setup" "could not create the veth pair"; exit 0; }
if ! command -v tcpdump >/dev/null; then skip "streaming, live" "tcpdump not installed"; exit 0; fi

cat > "$TMP/send.lua" <<'LUA'
-- send.lua IFACE N GAP: N UDP frames to port 5000, GAP seconds apart
local s = assert(pktsh.sender(arg[1]))
for i = 1, tonumber(arg[2]) do
  assert(s:send(pktsh.build.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 10000 + i,
                                 dport = 5000, payload = 32}))
  if not pktsh.sleep(tonumber(arg[3])) then break end
end
LUA
send() { netns_exec "$NS_A" "$PKTSH" "$TMP/send.lua" "$IF_A" "$@" >/dev/null 2>&1; }
# stop_b PID: ends a pipeline started in host B (every process in it)
stop_b() {
  local p
  for p in $(ip netns pids "$NS_B"); do kill -TERM "$p" 2>/dev/null; done
  netns_wait "$1"
}

# tcpdump -U -w - | pktsh dump.lua -l -: each packet printed as it comes
netns_bg "$NS_B" 20 "$TMP/td.out" "$TMP/td.err" sh -c \
  "tcpdump -U -n -i $IF_B -w - udp port 5000 2>/dev/null | $PKTSH scripts/dump.lua -l -"
pid=$BG_PID
sleep 1.5
send 5 0.01
expect_eq "tcpdump -U -w - | dump.lua -l -: packets shown while tcpdump runs" \
  "$(lines_after "$TMP/td.out" 1)" 5
stop_b "$pid"

# dump.lua -w - IFACE | tcpdump -r -: packets reach tcpdump while pktsh runs
for mode in -U ""; do
  netns_bg "$NS_B" 20 "$TMP/w$mode.out" "$TMP/w.err" sh -c \
    "$PKTSH scripts/dump.lua $mode -w - $IF_B udp port 5000 | tcpdump -n -l -r - 2>/dev/null"
  pid=$BG_PID
  sleep 1.5
  send 5 0.01
  wait_s=$([ -n "$mode" ] && echo 1 || echo 2.5)
  expect_eq "dump.lua ${mode:+$mode }-w - | tcpdump -r -: packets reach tcpdump within ${wait_s} s" \
    "$(lines_after "$TMP/w$mode.out" "$wait_s")" 5
  stop_b "$pid"
done

# kill -9 after 2 s of capture: the file holds the packets written out so far
netns_bg "$NS_A" 20 "$TMP/s.out" "$TMP/s.err" "$PKTSH" "$TMP/send.lua" "$IF_A" 300 0.01
sender=$BG_PID
netns_bg "$NS_B" 20 "$TMP/k.out" "$TMP/k.err" "$PKTSH" scripts/dump.lua -w "$TMP/k.pcap" "$IF_B" udp port 5000
pid=$BG_PID
sleep 2.2
kill -KILL "$pid"; { netns_wait "$pid"; } 2>/dev/null
n=$(tcpdump -n -r "$TMP/k.pcap" 2>"$TMP/k.tderr" | wc -l)
if [ "$n" -gt 0 ] && ! grep -qi "truncated\|bogus" "$TMP/k.tderr"; then
  pass "kill -9 after 2 s: tcpdump reads the $n packets written out so far"
else
  fail "kill -9 after 2 s leaves the packets so far" "$n packets, $(stat -c %s "$TMP/k.pcap") bytes: $(cat "$TMP/k.tderr")"
fi
kill -TERM "$sender" 2>/dev/null; netns_wait "$sender"
