#!/usr/bin/env bash
# Transmit stamps (issue 14, item 1) on a veth pair (tests/lib/netns.sh):
# pktsh.sender(IF, {tstamp = "sw"}) numbers the frames the driver accepts,
# s:send / s:send_batch / s:flush return the first id, and
# s:tx_timestamps() gives one record per frame, ids one to one with the
# sends, software stamps in order and within the send's own clock window.
# Through the TX ring and through send(2), for runs longer than the
# kernel's default error queue holds, and while a shaping qdisc drops
# attempts (the kernel numbers those too; the sender maps them away).
# Hardware stamps: veth has none (a clear error); PKTSH_FAKE_HWTSTAMP=ok
# stands in for the driver so the hardware and "both" paths open.
# Traffic: only between our namespaces, a few thousand frames.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "txstamp"
if ! netns_setup; then fail "txstamp: namespace setup" "netns_setup failed"; exit 1; fi

# stamps.lua IFACE MODE N [ring|plain|batch]: sends N frames, then checks
# the stamps; prints key=value words.
cat > "$TMP/stamps.lua" <<'LUA'
local ifname, mode, n, path = arg[1], arg[2], tonumber(arg[3]), arg[4] or "ring"
local s = assert(pktsh.sender(ifname, {tstamp = mode, tx_ring = path ~= "plain"}))
local f = pktsh.build.udp4{dport = 5000, payload = "pktsh-test-frame"}
local t0 = pktsh.now()
local sent, first
if path == "batch" then
  local list = {}
  for i = 1, n do list[i] = pktsh.build.udp4{dport = 5000, sport = 1000 + i % 50, payload = 20 + i % 7} end
  sent, first = s:send_batch(list)
else
  sent, first = s:send(f, n)
end
local recs = {}
local deadline = pktsh.now() + 3e9
while #recs < sent and pktsh.now() < deadline do
  for _, r in ipairs(assert(s:tx_timestamps{wait_ms = 100})) do recs[#recs + 1] = r end
end
-- (a qdisc may hold frames after send returns: the window ends here)
local t1 = pktsh.now()
local seen, dup, order, window, nosw, prev = {}, 0, 0, 0, 0, nil
local lo, hi = math.huge, -1
for _, r in ipairs(recs) do
  if seen[r.id] then dup = dup + 1 end
  seen[r.id] = true
  lo, hi = math.min(lo, r.id), math.max(hi, r.id)
  if not r.sw then nosw = nosw + 1
  else
    local ts = tonumber(r.sw)
    if ts < t0 - 1e6 or ts > t1 + 1e6 then window = window + 1 end
    if prev and r.sw < prev then order = order + 1 end
    prev = r.sw
  end
end
local st = s:stats()
print(string.format("sent=%d first=%d next=%d recs=%d lo=%d hi=%d dup=%d order=%d window=%d "
                    .. "nosw=%d stamps=%d lost=%d retries=%d", sent, first, s:next_id(), #recs,
                    #recs > 0 and lo or -1, hi, dup, order, window, nosw, st.stamps,
                    st.stamps_lost, st.retries))
LUA

kv() { printf '%s' "$2" | grep -o "\b$1=[^ ]*" | head -1 | cut -d= -f2; }

check_run() {  # NAME N OUT
  local name=$1 n=$2 out=$3
  expect_match "$name: every frame sent, ids from 0" "$out" "^sent=$n first=0 next=$n "
  expect_eq "$name: one record per frame" "$(kv recs "$out")" "$n"
  expect_eq "$name: ids 0 .. $((n - 1))" "$(kv lo "$out") $(kv hi "$out") $(kv dup "$out")" "0 $((n - 1)) 0"
  expect_eq "$name: software stamps in send order" "$(kv order "$out")" 0
  expect_eq "$name: every stamp within the send's clock window" "$(kv window "$out") $(kv nosw "$out")" "0 0"
  expect_eq "$name: stats count the records" "$(kv stamps "$out") $(kv lost "$out")" "$n 0"
}

out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/stamps.lua" "$IF_A" sw 3000 ring 2>&1)
check_run "TX ring, 3000 frames" 3000 "$out"
out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/stamps.lua" "$IF_A" sw 1000 plain 2>&1)
check_run "send(2), 1000 frames" 1000 "$out"
out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/stamps.lua" "$IF_A" sw 700 batch 2>&1)
check_run "send_batch of 700 different frames" 700 "$out"

# More frames than the kernel's default error queue holds (~250 stamps):
# the sender drains it as it sends.
out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/stamps.lua" "$IF_A" sw 20000 ring 2>&1)
check_run "TX ring, 20000 frames" 20000 "$out"

# Ids across calls, the queue/flush form, next_id.
out=$(netns_exec "$NS_A" "$PKTSH" -e "
  local s = assert(pktsh.sender('$IF_A', {tstamp = 'sw'}))
  local f = pktsh.build.udp4{dport = 5000}
  local a = {s:send(f, 5)}
  local b = {s:send(f)}
  assert(s:queue(f)); assert(s:queue(f)); assert(s:queue(f))
  local c = {s:flush()}
  local d = {s:send_batch{f, f}}
  os.execute('sleep 0.2')
  local t = s:tx_timestamps{flush = true}
  print(a[1], a[2], b[1], b[2], c[1], c[2], d[1], d[2], s:next_id(), #t, t[#t].id)" 2>&1)
expect_eq "ids: send, send, queue+flush, send_batch number on" "$out" "5	0	1	5	3	6	2	9	11	11	10"

# A shaping qdisc drops attempts (ENOBUFS): the kernel numbers each
# attempt, the sender retries, and the stamps still map to the frames.
if netns_exec "$NS_A" tc qdisc add dev "$IF_A" root tbf rate 2mbit burst 1600 limit 3000 2>"$TMP/tc.err"; then
  for path in ring plain; do
    out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/stamps.lua" "$IF_A" sw 600 $path 2>&1)
    r=$(kv retries "$out")
    if [ -n "$r" ] && [ "$r" -gt 0 ]; then
      pass "drops ($path): the qdisc made the sender retry ($r times)"
    else
      fail "drops ($path): the qdisc made the sender retry" "$out"
    fi
    check_run "drops ($path), 600 frames" 600 "$out"
  done
  netns_exec "$NS_A" tc qdisc del dev "$IF_A" root
else
  skip "drops" "cannot add a tbf qdisc: $(cat "$TMP/tc.err")"
fi

# Pacing (rate = N frames a second): frame k of a call leaves no earlier
# than the call's start plus its chunk's offset (a chunk is a
# millisecond's worth of frames, one send(2)); the transmit stamps show
# when each frame left. Without pacing the frames leave in a millisecond.
cat > "$TMP/pace.lua" <<'LUA'
local ifname, how, n, rate = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
local s = assert(pktsh.sender(ifname, {tstamp = "sw", rate = rate, tx_ring = how ~= "plain"}))
local frames = {}
for i = 1, n do frames[i] = pktsh.build.udp4{dport = 5000, sport = 1000 + i % 50, payload = 20 + i % 7} end
local src
if how == "pkts" then          -- a batch from a capture file: send_batch(src:next())
  local path = os.tmpname()
  local w = assert(pktsh.pcap_writer(path, {linktype = "EN10MB"}))
  for i = 1, n do w:write(frames[i], i * 1000) end
  w:close()
  src = assert(pktsh.open(path, {batch = n}))
  os.remove(path)
end
local batch = src and src:next()
local t0 = pktsh.now()
local sent, first
if how == "batch" then sent, first = s:send_batch(frames)
elseif how == "pkts" then sent, first = s:send_batch(batch)
elseif how == "queue" then
  for i = 1, n do assert(s:queue(frames[i])) end
  assert(s:flush())
  sent, first = s:next_id(), 0
else sent, first = s:send(frames[1], n) end
local recs, deadline = {}, pktsh.now() + 3e9
while #recs < sent and pktsh.now() < deadline do
  for _, r in ipairs(assert(s:tx_timestamps{wait_ms = 100})) do recs[#recs + 1] = r end
end
local gap, chunk = 1e9 / rate, math.max(1, math.floor(rate / 1000))
local early, last = 0, 0
for _, r in ipairs(recs) do
  local k = r.id - first
  local due = t0 + math.floor(k / chunk) * chunk * gap
  if tonumber(r.sw) < due - 5e4 then early = early + 1 end
  last = math.max(last, tonumber(r.sw) - t0)
end
print(string.format("sent=%d first=%d recs=%d early=%d span_ms=%.1f", sent, first, #recs, early, last / 1e6))
LUA
for run in "send 60 500" "plain 60 500" "batch 60 500" "queue 60 500" "pkts 60 500" "send 2000 20000" "pkts 2000 20000"; do
  set -- $run
  out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/pace.lua" "$IF_A" "$1" "$2" "$3" 2>&1)
  expect_match "rate $3, $1 of $2: every frame once, none before its time" "$out" \
    "^sent=$2 first=0 recs=$2 early=0 "
done
out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('$IF_A', {rate = 0}))" 2>&1)
expect_match "rate: 0 is refused, named" "$out" "^nil	rate must be a number of frames a second above 0, not 0"

# Rewrite then send (README "Sending"): packets of a capture file sent
# again as they were (s:send(pkt), and pkt:copy() kept past its batch)
# and with their destination MAC rewritten (pkt:raw(), a new string);
# B captures them, byte for byte.
cat > "$TMP/resend.lua" <<'LUA'
local path = arg[2] .. "/in.pcap"
local w = assert(pktsh.pcap_writer(path, {linktype = "EN10MB"}))
for i = 1, 10 do w:write(pktsh.build.udp4{dport = 5000, payload = "pktsh-test-" .. i}, i * 1000) end
w:write(pktsh.build.udp4{dport = 5000, payload = "pktsh-END"}, 11000)
w:close()
local s = assert(pktsh.sender(arg[1]))
local src = assert(pktsh.open(path))
local dmac, kept, last = "\2\170\187\0\0\1", {}, nil
src:each(function(p)
  if p:raw():find("pktsh-END", 1, true) then last = p:copy(); return end
  local b = p:raw()
  assert(s:send(dmac .. b:sub(7)) == 1)    -- rewritten
  assert(s:send(p) == 1)                   -- as it was
  kept[#kept + 1] = p:copy()
end)
src:close()
for _, q in ipairs(kept) do assert(s:send(q) == 1) end   -- copies, after the batch went
os.execute("sleep 0.05")
assert(s:send(last) == 1)
LUA
cat > "$TMP/recv.lua" <<'LUA'
local src = assert(pktsh.open(arg[1], {filter = "udp port 5000", immediate = true, duration = 8}))
io.stderr:write("ready\n"); io.stderr:flush()
local want = {}
for i = 1, 10 do want[i] = pktsh.build.udp4{dport = 5000, payload = "pktsh-test-" .. i} end
local new, same, other = 0, 0, 0
src:each(function(p)
  local b = p:raw()
  if b:find("pktsh-END", 1, true) then return false end
  local i = tonumber(b:match("pktsh%-test%-(%d+)"))
  if i and b == "\2\170\187\0\0\1" .. want[i]:sub(7) then new = new + 1
  elseif i and b == want[i] then same = same + 1
  else other = other + 1 end
end)
print(string.format("rewritten=%d as_captured=%d other=%d", new, same, other))
LUA
netns_bg "$NS_B" 15 "$TMP/recv.out" "$TMP/recv.err" "$PKTSH" "$TMP/recv.lua" "$IF_B"
rpid=$BG_PID
if netns_wait_for "$TMP/recv.err" '^ready' 5; then
  out=$(netns_exec "$NS_A" "$PKTSH" "$TMP/resend.lua" "$IF_A" "$TMP" 2>&1)
  netns_wait "$rpid"
  expect_eq "rewrite then send: 10 rewritten, 20 as captured (packets and their copies)" \
    "$(cat "$TMP/recv.out") $out" "rewritten=10 as_captured=20 other=0 "
else
  netns_wait "$rpid"
  fail "rewrite then send: capture starts" "$(head -c 300 "$TMP/recv.err")"
fi

# Hardware: veth has none.
out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('$IF_A', {tstamp = 'hw'}))" 2>&1)
expect_match "hw: veth says it has no hardware transmit stamps" "$out" \
  "^nil	interface '$IF_A' has no hardware transmit timestamps \(SIOCSHWTSTAMP: .*\); use tstamp = \"sw\""
out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('$IF_A', {tstamp = 'both'}))" 2>&1)
expect_match "both: the same error" "$out" "^nil	.*no hardware transmit timestamps"
out=$(netns_exec "$NS_A" env PKTSH_FAKE_HWTSTAMP=1 "$PKTSH" -e "print(pktsh.sender('$IF_A', {tstamp = 'hw'}))" 2>&1)
expect_match "hw: EPERM from the driver asks for CAP_NET_ADMIN" "$out" "^nil	hardware transmit stamps on '$IF_A' need CAP_NET_ADMIN"
out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('$IF_A', {tstamp = 'fast'}))" 2>&1)
expect_match "tstamp: a bad mode is named" "$out" "^nil	tstamp must be \"sw\", \"hw\" or \"both\", not fast"

# With a stand-in driver the hardware paths open; veth gives software
# stamps only, so "both" records come out after the wait with hw nil.
out=$(netns_exec "$NS_A" env PKTSH_FAKE_HWTSTAMP=ok "$PKTSH" -e "
  local s = assert(pktsh.sender('$IF_A', {tstamp = 'both'}))
  local i = s:info()
  assert(s:send(pktsh.build.udp4{dport = 5000}, 50) == 50)
  local early = #s:tx_timestamps()
  os.execute('sleep 0.2')
  local t = s:tx_timestamps()
  local sw = 0
  for _, r in ipairs(t) do if r.sw and not r.hw then sw = sw + 1 end end
  assert(s:send(pktsh.build.udp4{dport = 5000}, 10) == 10)
  local f = s:tx_timestamps{flush = true}
  print(i.tstamp, i.swhw, early, #t, sw, #f, f[1].id)
  local h = assert(pktsh.sender('$IF_A', {tstamp = 'hw'}))
  assert(h:send(pktsh.build.udp4{dport = 5000}, 10) == 10)
  print(#h:tx_timestamps{wait_ms = 100})" 2>&1)
expect_eq "fake hw: both opens with OPT_TX_SWHW; records wait for hw, age out or flush with sw only" \
  "$(echo "$out" | head -1)" "both	true	0	50	50	10	50"
expect_eq "fake hw: hw alone gets no stamp from veth" "$(echo "$out" | tail -1)" "0"

out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('$IF_A'):tx_timestamps())" 2>&1)
expect_match "no tstamp: tx_timestamps says why" "$out" "^nil	the sender on $IF_A was opened without tstamp"
