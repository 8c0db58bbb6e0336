#!/usr/bin/env bash
# A failed open never closes standard input (issue 9, item 1). A piped
# REPL session opens a file libpcap refuses, then a capture whose
# payloads are Lua: if the failure had closed fd 0, the capture would
# take fd 0 and the REPL would read and run the capture's bytes. Nothing
# from the file may run, and the REPL must keep reading the pipe: a line
# sent after the capture was opened still runs.
. tests/lib/sh.sh

# 300 packets whose payload is a line of Lua that leaves a mark and prints
# FROMFILE; larger than libpcap's and stdio's buffers, so a REPL reading
# the file would reach whole lines of it.
cat > "$TMP/mk.lua" <<'LUA'
local b = pktsh.build
local w = assert(pktsh.pcap_writer(arg[1]))
local lua = string.format("\nio.open(%q, 'a'):write('x') print('FROMFILE')\n", arg[2])
for _ = 1, 300 do
  assert(w:write(b.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 1, dport = 2,
                        payload = lua}, 1))
end
assert(w:close())
LUA
"$PKTSH" "$TMP/mk.lua" "$TMP/x.pcap" "$TMP/PWNED" || { fail "build the capture" "mk.lua failed"; exit 0; }
printf 'not a capture\n%.0s' $(seq 50) > "$TMP/notpcap.txt"

# The session reads a FIFO we write to in two steps: the open lines and a
# READY marker, then (once READY is out) a line that must still run.
mkfifo "$TMP/in"
"$PKTSH" <"$TMP/in" >"$TMP/out" 2>"$TMP/err" &
pid=$!
exec 3>"$TMP/in"
printf 'print(pktsh.open("%s"))\nsrc = pktsh.open("%s")\nprint("READY", src ~= nil)\n' \
  "$TMP/notpcap.txt" "$TMP/x.pcap" >&3
for _ in $(seq 100); do
  grep -q READY "$TMP/out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
# A REPL that stopped reading the pipe makes this write fail (SIGPIPE in
# the subshell only).
( printf 'print("LATER")\nn = 0 src:each(function() n = n + 1 end) print("COUNT", n)\n' >&3 ) 2>/dev/null
exec 3>&-
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then kill "$pid"; fail "REPL ends at the end of the pipe" "still running after 10 s"; fi
wait "$pid"; rc=$?
out=$(cat "$TMP/out")

expect_match "the capture opened after the failed open" "$out" "^READY	true$"
expect_eq "nothing from the capture ran" "$(grep -c FROMFILE "$TMP/out")/$([ -e "$TMP/PWNED" ] && echo marked || echo clean)" "0/clean"
expect_eq "the REPL kept reading the pipe: a later line ran" "$(grep -cx LATER "$TMP/out")" 1
expect_match "... and the capture reads whole" "$out" "COUNT	300"
expect_eq "piped session exits 0" "$rc" 0
expect_match "the failed open said why" "$out" "cannot read '.*notpcap.txt'"
