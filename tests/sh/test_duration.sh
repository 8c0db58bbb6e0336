#!/usr/bin/env bash
# Live time limits while traffic flows (issue 16 item 2): the `duration`
# of a source is checked on every batch, not only when a wait comes back
# empty. Host A sends UDP at a steady ~200 packets/s for 12 s; each
# capture on host B is asked to stop after 3 s and must end long before
# the traffic does: pktsh.open(iface, {duration = 3}), count.lua
# --seconds 3 (one thread and -j 2), dnsstats --duration 3, and, where
# XDP runs, xdpdump.lua -d 3. The bound (3 s + 3 s of slack) is far from
# the 12 s a capture took when it waited for a quiet moment.
# Traffic: only between our namespaces, 198.18.0.0/15, at most 2,400 frames
# per run.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "duration"
netns_setup || { fail "duration: netns setup" "could not create the veth pair"; exit 0; }

# steady.lua IFACE: 2,400 UDP frames to port 5353, one every 5 ms.
cat > "$TMP/steady.lua" <<'LUA'
local s = assert(pktsh.sender(arg[1]))
local f = pktsh.build.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 40000, dport = 5353,
                           payload = "\0\1\1\0\0\1\0\0\0\0\0\0\1a\0\0\1\0\1"}
for _ = 1, 2400 do
  assert(s:send(f))
  if not pktsh.sleep(0.005) then break end
end
LUA

cat > "$TMP/open3.lua" <<'LUA'
local src = assert(pktsh.open(arg[1], {duration = 3, filter = "udp port 5353"}))
local n = 0
src:each(function() n = n + 1 end)
print(n)
LUA

SENDER=${SENDER_BIN:-$PKTSH}

# timed NAME CMD...: starts the traffic, runs CMD in host B, stops the
# traffic; ok when CMD ended within 6 s and saw packets (its output
# matches the regex in $WANT).
timed() {
  local name=$1; shift
  local start ms rc sender
  netns_bg "$NS_A" 30 "$TMP/send.out" "$TMP/send.err" "$SENDER" "$TMP/steady.lua" "$IF_A"
  sender=$BG_PID
  sleep 0.5
  start=$(date +%s%N)
  netns_bg "$NS_B" 20 "$TMP/t.out" "$TMP/t.err" "$@"
  netns_wait "$BG_PID"; rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  kill -TERM "$sender" 2>/dev/null
  netns_wait "$sender"
  if [ "$ms" -lt 6000 ] && [ "$rc" = 0 ] && grep -Eq -- "$WANT" "$TMP/t.out" "$TMP/t.err"; then
    pass "$name: stopped after ${ms} ms while traffic flowed"
  else
    fail "$name: stops after 3 s while traffic flows" \
      "rc=$rc after ${ms} ms: $(head -c 300 "$TMP/t.out" "$TMP/t.err" | tr '\n' ' ')"
  fi
}

WANT='^[1-9][0-9]+$' timed "pktsh.open(iface, {duration = 3})" "$PKTSH" "$TMP/open3.lua" "$IF_B"
WANT='"packets":[1-9]' timed "count.lua --seconds 3" "$PKTSH" scripts/count.lua --json --seconds 3 "$IF_B" udp port 5353
WANT='"packets":[1-9]' timed "count.lua -j 2 --seconds 3" "$PKTSH" scripts/count.lua -j 2 --json --seconds 3 "$IF_B" udp port 5353
WANT='"packets":[1-9]' timed "dnsstats --duration 3" "$PKTSH" scripts/dnsstats.lua --json --ports 5353 --duration 3 "$IF_B" udp
if netns_exec "$NS_B" "$PKTSH" -e 'local fw = assert(pktsh.xdp(arg and "'"$IF_B"'", {mode = "skb"})); fw:close()' >/dev/null 2>&1; then
  WANT='^[1-9][0-9]* packets' timed "xdpdump.lua -d 3" "$PKTSH" scripts/xdpdump.lua --skb -d 3 -w /dev/null "$IF_B" proto=udp,dport=5353
else
  skip "xdpdump.lua -d 3" "XDP cannot attach here"
fi
