#!/usr/bin/env bash
# Ctrl-C and SIGTERM: loops over sources wind down, scripts print their
# statistics, and every pcap being written is complete for tcpdump.
. tests/lib/sh.sh

if ! command -v tcpdump >/dev/null; then
  skip "signals" "tcpdump not installed"; exit 0
fi

# tcpdump's count of packets in a file, and whether it complained.
tcpdump_count() {
  tcpdump -n -r "$1" 2>"$TMP/tcpdump.err" | wc -l
}
tcpdump_clean() {
  ! grep -qi "truncated\|bogus\|error" "$TMP/tcpdump.err"
}

# Starts pktsh in the background with a watchdog that kills it after 10 s.
start() {
  "$PKTSH" "$@" >"$TMP/out" 2>"$TMP/err" &
  pid=$!
  ( sleep 10; kill -9 "$pid" 2>/dev/null ) &
  watchdog=$!
}
finish() {
  wait "$pid"; local rc=$?
  kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  return $rc
}

# Starts a script, waits until it has written something, signals it.
run_and_signal() {  # SIGNAL DELAY SCRIPT ARGS...
  local sig=$1 delay=$2; shift 2
  start "$@"
  sleep "$delay"
  kill -"$sig" "$pid"
  finish
}

cat > "$TMP/loop.lua" <<'LUA'
-- Copies a capture into a pcap over and over until stopped.
local w = assert(pktsh.pcap_writer(arg[1]))
local n = 0
repeat
  local src = assert(pktsh.open("tests/pcaps/dnscap__dns.pcap"))
  src:each(function(p) assert(w:write(p)); n = n + 1 end)
until src.interrupted
io.stderr:write("stopped after ", n, " packets\n")
print(n)
LUA

for sig in INT TERM; do
  run_and_signal $sig 0.7 "$TMP/loop.lua" "$TMP/$sig.pcap"; rc=$?
  expect_eq "SIG$sig: source loop winds down, exit 0" "$rc" 0
  n=$(cat "$TMP/out")
  expect_match "SIG$sig: the script went on to report" "$n" "^[0-9]+$"
  expect_eq "SIG$sig: tcpdump reads every packet written" "$(tcpdump_count "$TMP/$sig.pcap")" "$n"
  tcpdump_clean && pass "SIG$sig: file ends on a record" || fail "SIG$sig: file ends on a record" "$(cat "$TMP/tcpdump.err")"
done

cat > "$TMP/busy.lua" <<'LUA'
-- Writes without a source loop: only the interrupt hook can stop it.
-- The busy work between packets bounds the file's growth.
local pkt = string.rep("\0", 14) .. string.rep("x", 50)
local w = assert(pktsh.pcap_writer(arg[1]))
local x = 0
while true do
  for j = 1, 5000 do x = x + j % 7 end
  w:write(pkt, x)
end
LUA
run_and_signal TERM 0.7 "$TMP/busy.lua" "$TMP/busy.pcap"; rc=$?
expect_eq "busy script: SIGTERM ends it (exit 143)" "$rc" 143
expect_match "busy script: says interrupted" "$(cat "$TMP/err")" "interrupted"
kill -0 "$pid" 2>/dev/null && fail "busy script: gone" "still running" || pass "busy script: gone"
n=$(tcpdump_count "$TMP/busy.pcap")
expect_match "busy script: packets were written" "$n" "^[1-9][0-9]*$"
tcpdump_clean && pass "busy script: pcap complete after SIGTERM" || fail "busy script: pcap complete after SIGTERM" "$(cat "$TMP/tcpdump.err")"

# A script that ignores the first request is stopped by the second, and
# its writers are still flushed on a record boundary.
cat > "$TMP/stubborn.lua" <<'LUA'
local pkt = string.rep("\0", 14) .. string.rep("y", 50)
local w = assert(pktsh.pcap_writer(arg[1]))
local x = 0
while true do
  pcall(function()
    while true do
      for j = 1, 5000 do x = x + j % 7 end
      w:write(pkt, x)
    end
  end)
end
LUA
start "$TMP/stubborn.lua" "$TMP/stubborn.pcap"
sleep 0.7; kill -INT $pid; sleep 0.7; kill -INT $pid
finish; rc=$?
expect_eq "second Ctrl-C exits at once (130)" "$rc" 130
n=$(tcpdump_count "$TMP/stubborn.pcap")
expect_match "second Ctrl-C: packets were flushed" "$n" "^[1-9][0-9]*$"
tcpdump_clean && pass "second Ctrl-C: pcap complete" || fail "second Ctrl-C: pcap complete" "$(cat "$TMP/tcpdump.err")"

# SIGKILL cannot be caught: what was flushed before it is still readable
# (the write(2) it interrupts may leave the last record torn).
run_and_signal KILL 0.7 "$TMP/busy.lua" "$TMP/killed.pcap" 2>/dev/null
n=$(tcpdump_count "$TMP/killed.pcap")
expect_match "SIGKILL: flushed packets readable" "$n" "^[1-9][0-9]*$"
