#!/usr/bin/env bash
# Fanout workers on a veth pair: pktsh.parallel with 2 rings in one
# PACKET_FANOUT group. Hash keeps each flow on one worker and both
# workers get flows; lb spreads packets; the merged counts equal what the
# sender sent and what a serial run over a tcpdump capture of the same
# traffic says; a worker's error comes back as nil, err; Ctrl-C stops the
# workers and the script still prints and exits 0.
# Traffic: only between our namespaces, 198.18.0.0/15 and 2001:2::/48,
# a few thousand frames per case.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "workers"
netns_setup || { fail "workers: netns setup" "could not create the veth pair"; exit 0; }

FLOWS=64 PER_FLOW=50
TOTAL=$((FLOWS * PER_FLOW))

# send.lua IFACE FLOWS PER_FLOW [mix]: FLOWS UDP flows to port 5000
# (source ports 10000+i), PER_FLOW frames each; with "mix", every third
# flow is UDP over IPv6 and every fifth TCP, from several sources.
cat > "$TMP/send.lua" <<'LUA'
local b = pktsh.build
local s = assert(pktsh.sender(arg[1]))
local flows, per, mix = tonumber(arg[2]), tonumber(arg[3]), arg[4] == "mix"
for i = 1, flows do
  local f
  if mix and i % 5 == 0 then
    f = b.tcp4{src = "198.18.1." .. (i % 7 + 1), dst = "198.18.0.2", sport = 10000 + i, dport = 5000, flags = "A", payload = i}
  elseif mix and i % 3 == 0 then
    f = b.udp6{src = "2001:2::" .. (i % 4 + 10), dst = "2001:2::2", sport = 10000 + i, dport = 5000, payload = 20 + i}
  else
    f = b.udp4{src = mix and ("198.18.0." .. (i % 9 + 10)) or "198.18.0.1", dst = "198.18.0.2",
               sport = 10000 + i, dport = 5000, payload = 32}
  end
  assert(s:send(f, per))
end
print(s:stats().packets)
LUA

# flows.lua IFACE MODE WORKERS SECONDS [fail]: which worker saw each flow.
cat > "$TMP/flows.lua" <<'LUA'
local M = {}
function M.flows(src, fail)
  local me = pktsh.worker() or 0
  if fail and me == 2 then error("worker two failed") end
  local t = {n = 0, flows = {}}
  src:each(function(p)
    local sport = p:udp().sport
    t.n = t.n + 1
    local f = t.flows[sport] or {}
    t.flows[sport] = f
    f[me] = (f[me] or 0) + 1
  end)
  return t
end
function M.main()
  local r, st = pktsh.parallel(arg[1], {workers = tonumber(arg[3]), fanout = arg[2],
                                        duration = tonumber(arg[4]), filter = "udp port 5000"},
    M.flows, arg[5])
  if not r then print("ERR " .. st); return end
  local flows, split = 0, 0
  for _, f in pairs(r.flows) do
    local k = 0
    for _ in pairs(f) do k = k + 1 end
    flows = flows + 1
    if k > 1 then split = split + 1 end
  end
  local per = {}
  for i, w in ipairs(st.workers) do per[i] = w.packets end
  print(string.format("total=%d packets=%d flows=%d split=%d drops=%d workers=%s",
                      r.n, st.packets, flows, split, st.drops, table.concat(per, ",")))
end
return pktsh.main(M)
LUA

# Bounds on how soon a stop is seen catch a stop that waits for a timeout
# or never comes; a slow build (TSan, test_threads.sh) scales them.
SLOW=${TEST_SLOW_FACTOR:-1}

send() {  # FLOWS PER_FLOW [mix]
  netns_exec "$NS_A" "$PKTSH" "$TMP/send.lua" "$IF_A" "$@" 2>"$TMP/send.err"
}

# Starts a capture in B, sends, waits for it: its stdout in $TMP/cap.out.
capture_and_send() {  # SEND_ARGS -- PKTSH_ARGS...
  local send_args=()
  while [ "$1" != "--" ]; do send_args+=("$1"); shift; done; shift
  netns_bg "$NS_B" 20 "$TMP/cap.out" "$TMP/cap.err" "$PKTSH" "$@"
  local pid=$BG_PID
  netns_wait_capture "$pid" 1 20 || fail "capture ready" "no SIGINT handler and ring in 20 s"
  sent=$(send "${send_args[@]}")
  netns_wait "$pid"; rc=$?
  out=$(cat "$TMP/cap.out")
}

# --- hash: flows stay whole, both workers busy, nothing lost -----------
capture_and_send $FLOWS $PER_FLOW -- "$TMP/flows.lua" "$IF_B" hash 2 3
expect_eq "hash: the sender sent them all" "$sent" "$TOTAL"
expect_eq "hash: exit 0" "$rc" 0
expect_match "hash: merged count equals the total sent" "$out" "^total=$TOTAL packets=$TOTAL flows=$FLOWS split=0 drops=0 "
expect_match "hash: both workers got packets" "$out" "workers=[1-9][0-9]*,[1-9][0-9]*$"
w1=$(echo "$out" | sed -n 's/.*workers=\([0-9]*\),\([0-9]*\)$/\1/p')
w2=$(echo "$out" | sed -n 's/.*workers=\([0-9]*\),\([0-9]*\)$/\2/p')
expect_eq "hash: per-worker packets add up" "$((w1 + w2))" "$TOTAL"

# --- lb: packets spread round robin, still nothing lost ----------------
capture_and_send $FLOWS $PER_FLOW -- "$TMP/flows.lua" "$IF_B" lb 2 3
expect_eq "lb: exit 0" "$rc" 0
expect_match "lb: merged count equals the total sent" "$out" "^total=$TOTAL packets=$TOTAL flows=$FLOWS "
expect_match "lb: flows are split between workers" "$out" "split=[1-9]"
expect_match "lb: both workers got packets" "$out" "workers=[1-9][0-9]*,[1-9][0-9]*$"

# --- merged result equals a serial run over the same traffic ------------
if command -v tcpdump >/dev/null; then
  netns_bg "$NS_B" 20 "$TMP/td.out" "$TMP/td.err" tcpdump -n -U -i "$IF_B" -w "$TMP/same.pcap" port 5000
  td=$BG_PID
  if netns_wait_for "$TMP/td.err" "listening on" 5; then
    capture_and_send $FLOWS $PER_FLOW mix -- scripts/count.lua -j 2 --seconds 3 --json "$IF_B" port 5000
    kill -INT "$td" 2>/dev/null; netns_wait "$td"
    expect_eq "count.lua -j 2: exit 0" "$rc" 0
    expect_match "count.lua -j 2: counted every packet" "$out" "\"packets\":$TOTAL,"
    expect_match "count.lua -j 2: two workers" "$(cat "$TMP/cap.err")" "$TOTAL packets.*2 workers"
    serial=$("$PKTSH" scripts/count.lua --json "$TMP/same.pcap" 2>"$TMP/serial.err")
    expect_eq "count.lua: 2 live workers = serial run over tcpdump's capture" "$out" "$serial"
    expect_match "count.lua: the mix has IPv4, IPv6 and TCP" "$serial" '"tcp":.*"udp":.*"2001:2::'
  else
    fail "serial comparison: tcpdump started" "$(cat "$TMP/td.err")"
    kill "$td" 2>/dev/null; netns_wait "$td"
  fi
else
  skip "serial comparison" "tcpdump not installed"
fi

# --- a worker's error comes back as nil, err; the others stop -----------
start=$(date +%s%N)
netns_bg "$NS_B" 20 "$TMP/err.out" "$TMP/err.err" "$PKTSH" "$TMP/flows.lua" "$IF_B" hash 2 10 fail
netns_wait "$BG_PID"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
out=$(cat "$TMP/err.out")
expect_eq "worker error: script goes on, exit 0" "$rc" 0
expect_match "worker error: nil, err naming the worker" "$out" "^ERR worker 2 of 2: .*worker two failed"
expect_match "worker error: with a traceback" "$out" "stack traceback"
[ "$ms" -lt $((3000 * SLOW > 8000 ? 8000 : 3000 * SLOW)) ] && pass "worker error: the other worker stopped early (${ms} ms)" \
  || fail "worker error: the other worker stopped early" "took ${ms} ms of a 10 s capture"

# --- Ctrl-C: workers end, the parent prints its counts, exit 0 ----------
netns_bg "$NS_B" 20 "$TMP/int.out" "$TMP/int.err" "$PKTSH" -j 2 scripts/count.lua "$IF_B" port 5000
pid=$BG_PID
netns_wait_capture "$pid" 2 20 || fail "capture ready" "no SIGINT handler and 2 rings in 20 s"
sent=$(send $FLOWS $PER_FLOW)
sleep 0.5                       # the ring's block timeout hands the rest over
start=$(date +%s%N)
kill -INT "$pid"
netns_wait "$pid"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "Ctrl-C: exit 0" "$rc" 0
expect_match "Ctrl-C: the parent printed the merged counts" "$(cat "$TMP/int.out")" "total +$TOTAL "
expect_match "Ctrl-C: summary says 2 workers, interrupted" "$(cat "$TMP/int.err")" "2 workers; interrupted"
[ "$ms" -lt $((1500 * SLOW)) ] && pass "Ctrl-C: ended in ${ms} ms" || fail "Ctrl-C: ended quickly" "${ms} ms"

# Ctrl-C with no traffic at all: workers waiting for packets wake up.
netns_bg "$NS_B" 20 "$TMP/idle.out" "$TMP/idle.err" "$PKTSH" -j 2 scripts/count.lua "$IF_B" port 5999
pid=$BG_PID
netns_wait_capture "$pid" 2 20 || fail "capture ready" "no SIGINT handler and 2 rings in 20 s"
start=$(date +%s%N)
kill -INT "$pid"
netns_wait "$pid"; rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
expect_eq "Ctrl-C idle: exit 0" "$rc" 0
expect_match "Ctrl-C idle: prints zero" "$(cat "$TMP/idle.out")" "total +0 +0"
[ "$ms" -lt $((1000 * SLOW)) ] && pass "Ctrl-C idle: waiting workers woke in ${ms} ms" \
  || fail "Ctrl-C idle: waiting workers woke quickly" "${ms} ms"
