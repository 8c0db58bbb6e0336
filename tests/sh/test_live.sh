#!/usr/bin/env bash
# Live capture between two network namespaces (tests/lib/netns.sh): host A
# sends with pktsh.sender, host B captures with pktsh.open(IFACE) or
# scripts/dump.lua. Traffic stays on the veth pair (198.18.0.0/15,
# 2001:2::/48), every run is bounded in packets (a few thousand) and time
# (a `duration` in each capture plus a watchdog), and the namespaces are
# removed on exit, failure or signal.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "live"
if ! netns_setup; then fail "live: namespace setup" "netns_setup failed"; exit 1; fi

# --- helpers ---------------------------------------------------------------

# The Lua scripts run in the namespaces; they report "key=value" words.
cat > "$TMP/cap.lua" <<'LUA'
-- cap.lua IFACE: counts frames until one carries "pktsh-END" (or the
-- capture's duration ends). CAP_OPTS: open() options as a Lua table;
-- CAP_SLEEP: seconds to sleep after opening, before reading.
local ffi = require "ffi"
local opts = assert(loadstring("return " .. (os.getenv("CAP_OPTS") or "{}")))()
if opts.duration == nil then opts.duration = 8 end
if opts.block_timeout_ms == nil and opts.immediate == nil then opts.block_timeout_ms = 10 end
local src, err = pktsh.open(arg[1], opts)
if not src then io.stderr:write("open failed: ", tostring(err), "\n"); os.exit(1) end
io.stderr:write("ready\n"); io.stderr:flush()
local sl = tonumber(os.getenv("CAP_SLEEP") or "0")
if sl > 0 then os.execute("sleep " .. sl); io.stderr:write("awake\n"); io.stderr:flush() end
local c = {all = 0, test = 0, v4 = 0, v6 = 0, udp = 0, tcp = 0, icmp = 0, d5000 = 0,
           vlan100 = 0, vlan200 = 0, untagged = 0, vbad = 0, ["end"] = 0, tsbad = 0}
local now = pktsh.now()
src:each(function(p)
  c.all = c.all + 1
  local s = ffi.string(p.data, p.caplen)
  if s:find("pktsh-END", 1, true) then c["end"] = 1; return false end
  if not s:find("pktsh-test", 1, true) then return end
  c.test = c.test + 1
  if p:ip4() then c.v4 = c.v4 + 1 elseif p:ip6() then c.v6 = c.v6 + 1 end
  local u = p:udp()
  if u then c.udp = c.udp + 1; if u.dport == 5000 then c.d5000 = c.d5000 + 1 end end
  if p:tcp() then c.tcp = c.tcp + 1 end
  if p:icmp() then c.icmp = c.icmp + 1 end
  local v = p:vlan_id(1)
  if v == 100 then c.vlan100 = c.vlan100 + 1
  elseif v == 200 then c.vlan200 = c.vlan200 + 1
  elseif v == nil then c.untagged = c.untagged + 1
  else c.vbad = c.vbad + 1 end
  -- ns timestamps from the ring, within a minute of now
  if p.tsrc ~= 1 or math.abs(tonumber(p.ts) - now) > 60e9 then c.tsbad = c.tsbad + 1 end
end)
local st = src:stats()
local out = {}
for k, v in pairs(c) do out[#out + 1] = k .. "=" .. v end
for _, k in ipairs({"packets", "drops", "received", "bytes", "batches", "freeze_q"}) do
  out[#out + 1] = "st_" .. k .. "=" .. tostring(st[k])
end
out[#out + 1] = "interrupted=" .. (src.interrupted and 1 or 0)
table.sort(out)
print(table.concat(out, " "))
src:close()
LUA

cat > "$TMP/send.lua" <<'LUA'
-- send.lua IFACE: sends SEND_SPEC, a Lua list of {frame, count[, marker=true]}
-- with b = pktsh.build in scope; prints sent=N (markers not counted).
local b = pktsh.build
local spec = assert(loadstring("local b = ...; return " .. os.getenv("SEND_SPEC")))(b)
local s, err = pktsh.sender(arg[1], {bypass = os.getenv("SEND_BYPASS") == "1"})
if not s then io.stderr:write(err, "\n"); os.exit(1) end
local sent = 0
for _, item in ipairs(spec) do
  local want = item[2] or 1
  local n, _, e = s:send(item[1], want)
  if n ~= want then io.stderr:write("send: ", tostring(n), " of ", want, ": ", tostring(e), "\n"); os.exit(1) end
  if not item.marker then sent = sent + n end
end
print("sent=" .. sent)
LUA

# kv KEY FILE: the value of KEY=... in FILE.
kv() { grep -o "\b$1=[^ ]*" "$2" 2>/dev/null | head -1 | cut -d= -f2; }

# Payload markers: the capture counts frames with "pktsh-test" and stops
# at the first "pktsh-END" (sent last: a veth keeps the order).
T='payload = "pktsh-test-frame"'
END='{b.udp4{dport = 5000, vlan = VLAN, payload = "pktsh-END"}, 1, marker = true}'
end_marker() { echo "${END/VLAN/${1:-nil}}"; }

# capture NAME OPTS [SLEEP]: starts cap.lua in B; waits until it is ready.
capture() {
  local name=$1
  netns_bg "$NS_B" 15 "$TMP/$name.out" "$TMP/$name.err" \
    env CAP_OPTS="$2" CAP_SLEEP="${3:-0}" "$PKTSH" "$TMP/cap.lua" "$IF_B"
  CAP_PID=$BG_PID
  if ! netns_wait_for "$TMP/$name.err" '^(ready|open failed)' 5; then
    fail "$name: capture starts" "no 'ready' in 5 s: $(head -c 300 "$TMP/$name.err")"
    return 1
  fi
  if grep -q '^open failed' "$TMP/$name.err"; then
    netns_wait "$CAP_PID"
    fail "$name: capture opens" "$(head -c 300 "$TMP/$name.err")"
    return 1
  fi
}
# send NAME SPEC: sends from A; the count goes to $SENT.
send() {
  SENT=
  netns_exec "$NS_A" env SEND_SPEC="$2" timeout 20 "$PKTSH" "$TMP/send.lua" "$IF_A" \
    >"$TMP/$1.sent" 2>"$TMP/$1.senderr"
  SENT=$(kv sent "$TMP/$1.sent")
  [ -n "$SENT" ] || { fail "$1: send" "$(head -c 300 "$TMP/$1.senderr")"; return 1; }
}
# finish NAME: waits for the capture; fails if the watchdog had to stop it.
finish() {
  netns_wait "$CAP_PID"; local rc=$?
  if [ "$NETNS_TIMED_OUT" = 1 ] || [ "$rc" -ne 0 ]; then
    fail "$1: capture ends by itself" "rc $rc, timed out $NETNS_TIMED_OUT: $(tail -c 300 "$TMP/$1.err")"
    return 1
  fi
}
# rx_count IFACE-IN-B: the interface's received-packet counter.
rx_count() { netns_exec "$NS_B" cat "/sys/class/net/$IF_B/statistics/rx_packets"; }

# --- the sender alone (interface counters on B) -----------------------------

r0=$(rx_count)
send "sender" "{{b.udp4{$T}, 1000}, {b.udp6{$T}, 500}, {b.udp4{vlan = 100, $T}, 250}}"
expect_eq "sender: reports every frame sent" "$SENT" 1750
expect_eq "sender: B's interface received exactly what A sent" "$(( $(rx_count) - r0 ))" 1750

netns_exec "$NS_A" "$PKTSH" -e "
  local f = pktsh.build.udp4{payload = 'pktsh-test-frame'}
  local s = assert(pktsh.sender('$IF_A', {tx_ring = false}))
  assert(s:send(f, 300) == 300)
  local st = s:stats()
  assert(st.packets == 300 and st.bytes == 300 * #f and st.errors == 0, require('pktsh.report.json').encode(st))
  assert(s:info().tx_ring == false)
  s:close(); s:close()
  assert(s:stats().packets == 300)
  assert(select(2, s:send(f)) == 'sender is closed')
  print('ok')" >"$TMP/plain.out" 2>&1
expect_eq "sender: send(2) path, stats, close twice" "$(tail -1 "$TMP/plain.out")" ok

out=$(netns_exec "$NS_A" "$PKTSH" -e "print(pktsh.sender('pktshnope0'))" 2>&1)
expect_match "sender: a missing interface is named" "$out" "^nil.*pktshnope0"
out=$(netns_exec "$NS_A" "$PKTSH" -e "local s = pktsh.sender('$IF_A'); print(s:send('short'))" 2>&1)
expect_match "sender: a frame shorter than a header is refused" "$out" "^nil.*14 bytes"
out=$(netns_exec "$NS_A" "$PKTSH" -e "local s = pktsh.sender('$IF_A'); print(s:send(pktsh.build.udp4{payload = 3000}))" 2>&1)
expect_match "sender: a frame over the MTU is refused, saying so" "$out" "^nil.*$IF_A.*MTU"
out=$(netns_exec "$NS_A" "$PKTSH" -e "local s, b = pktsh.sender('$IF_A'), pktsh.build
  print(s:send(b.udp4{payload = 1472}), s:send(b.udp4{vlan = 1, payload = 1472}),
        s:send(b.udp4{payload = 1472}, 3), s:send(b.udp4{vlan = 1, payload = 1473}))" 2>&1)
expect_match "sender: full-size frames (1514, 1518 tagged) go, 1519 does not" "$out" "^1	1	3	nil	.*MTU"
# A refused batch leaves the TX ring usable: the next send goes out whole.
r0=$(rx_count)
netns_exec "$NS_A" "$PKTSH" -e "
  local s = assert(pktsh.sender('$IF_A'))
  local f = pktsh.build.udp4{payload = 'pktsh-test-frame'}
  os.execute('ip link set $IF_A down')
  print(s:send(f, 700))
  os.execute('ip link set $IF_A up; sleep 1.5')   -- carrier, and MLD of the rejoin
  print(s:send(f, 700), s:stats().errors)" >"$TMP/down.out" 2>&1
expect_match "sender: a down interface is reported" "$(head -1 "$TMP/down.out")" "^nil.*$IF_A.*down"
expect_eq "sender: after a refusal the ring sends again" "$(tail -1 "$TMP/down.out")" "700	700"
expect_eq "sender: ... and B gets exactly those" "$(( $(rx_count) - r0 ))" 700

if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
  out=$(netns_exec "$NS_A" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$PKTSH" -e "print(pktsh.sender('$IF_A'))" 2>&1)
  expect_match "sender: without CAP_NET_RAW the error says what to do" "$out" \
    "sending on $IF_A needs CAP_NET_RAW: run pktsh as root \(-Z USER.*AmbientCapabilities"
else
  skip "sender: without CAP_NET_RAW the error says what to do" "no nobody user or setpriv"
fi

# Speed (reported, not judged): the same frame 200000 times on the TX ring.
for bypass in 0 1; do
  netns_exec "$NS_A" timeout 30 "$PKTSH" -e "
    local s = assert(pktsh.sender('$IF_A', {bypass = $bypass == 1}))
    local f = pktsh.build.udp4{payload = 18}
    local t = pktsh.now(); local n = s:send(f, 200000); t = (pktsh.now() - t) / 1e9
    print(string.format('# sender: %d frames of %d bytes in %.3f s: %.0f kpps (TX ring, qdisc bypass %s)',
      n, #f, t, n / t / 1e3, $bypass == 1 and 'on' or 'off'))" 2>&1
done

# --- live capture -------------------------------------------------------------

# Is the live source there yet? Everything below needs it.
probe=$(netns_exec "$NS_B" "$PKTSH" -e "local s, e = pktsh.open('$IF_B', {duration = 0.1}); print(s and 'yes' or e)" 2>&1)
if [ "$probe" != yes ]; then
  skip "live capture" "pktsh.open('$IF_B') failed: $probe"
  exit 0
fi

# Every frame sent is received and counted: IPv4, IPv6, VLAN-tagged.
if capture all "{}"; then
  send all "{{b.udp4{$T}, 1000}, {b.udp6{$T}, 1000}, {b.udp4{vlan = 100, $T}, 500},
            {b.udp6{vlan = 200, dport = 53, $T}, 500}, {b.tcp4{$T}, 100}, {b.icmp4_echo{$T}, 100},
            $(end_marker)}"
  if finish all; then
    f="$TMP/all.out"
    expect_eq "all: every frame sent was captured" "$(kv test "$f")" "$SENT"
    expect_eq "all: IPv4 frames" "$(kv v4 "$f")" 1700
    expect_eq "all: IPv6 frames" "$(kv v6 "$f")" 1500
    expect_eq "all: UDP frames, decoded through the tags" "$(kv udp "$f")" 3000
    expect_eq "all: TCP frames" "$(kv tcp "$f")" 100
    expect_eq "all: ICMP frames" "$(kv icmp "$f")" 100
    expect_eq "all: VLAN 100 visible (tag put back from the ring's metadata)" "$(kv vlan100 "$f")" 500
    expect_eq "all: VLAN 200 visible over IPv6" "$(kv vlan200 "$f")" 500
    expect_eq "all: untagged frames stay untagged" "$(kv untagged "$f")" 2200
    expect_eq "all: no other VLAN id" "$(kv vbad "$f")" 0
    expect_eq "all: ns software timestamps near now" "$(kv tsbad "$f")" 0
    expect_eq "all: no drops" "$(kv st_drops "$f")" 0
    pk=$(kv st_packets "$f"); n=$(kv all "$f")
    [ -n "$pk" ] && [ "$pk" -ge "$n" ] && pass "all: stats().packets counts what was delivered" ||
      fail "all: stats().packets counts what was delivered" "packets=$pk, each() saw $n"
    by=$(kv st_bytes "$f")
    [ -n "$by" ] && [ "$by" -gt $((SENT * 50)) ] && pass "all: stats().bytes" || fail "all: stats().bytes" "bytes=$by"
  fi
fi

# The kernel filter lets exactly the matching frames through.
if capture filter '{filter = "udp dst port 5000"}'; then
  send filter "{{b.udp4{$T}, 300}, {b.udp4{dport = 5001, $T}, 200}, {b.udp4{sport = 5000, dport = 9, $T}, 50},
               {b.tcp4{dport = 5000, $T}, 100}, {b.udp6{$T}, 100}, {b.udp6{dport = 5001, $T}, 100},
               {b.icmp4_echo{$T}, 50}, $(end_marker)}"
  if finish filter; then
    f="$TMP/filter.out"
    expect_eq "filter: exactly the matching frames (v4 + v6)" "$(kv test "$f")" 400
    expect_eq "filter: all of them to port 5000" "$(kv d5000 "$f")" 400
    expect_eq "filter: nothing else reached Lua" "$(kv all "$f")" 401
    rcv=$(kv st_received "$f"); pk=$(kv st_packets "$f")
    [ -n "$pk" ] && [ "$pk" -le 401 ] && pass "filter: stats().packets counts only matches" ||
      fail "filter: stats().packets counts only matches" "packets=$pk received=$rcv"
  fi
fi

# A VLAN filter on frames whose tags the kernel moved into metadata.
if capture vlanfilter '{filter = "vlan 100"}'; then
  send vlanfilter "{{b.udp4{vlan = 100, $T}, 200}, {b.udp4{vlan = 200, $T}, 200}, {b.udp4{$T}, 200},
                   {b.udp6{vlan = 100, $T}, 100}, $(end_marker 100)}"
  if finish vlanfilter; then
    f="$TMP/vlanfilter.out"
    expect_eq "vlan filter: exactly the VLAN 100 frames" "$(kv test "$f")" 300
    expect_eq "vlan filter: ids visible" "$(kv vlan100 "$f")" 300
  fi
fi

# direction: B sees A's frames as incoming, not outgoing; A sees them outgoing.
if capture dirin '{direction = "in", filter = "udp"}'; then
  send dirin "{{b.udp4{$T}, 100}, $(end_marker)}"
  finish dirin && expect_eq "direction in: B counts A's frames" "$(kv test "$TMP/dirin.out")" 100
fi
if capture dirout '{direction = "out", filter = "udp", duration = 1.5}'; then
  send dirout "{{b.udp4{$T}, 100}, $(end_marker)}"
  finish dirout && expect_eq "direction out: B sees none of A's frames" "$(kv all "$TMP/dirout.out")" 0
fi
# The capture on the sending side: the sender's frames go through the
# qdisc layer (no bypass), where taps see them.
netns_bg "$NS_A" 15 "$TMP/aout.out" "$TMP/aout.err" env CAP_OPTS='{direction = "out", filter = "udp"}' \
  "$PKTSH" "$TMP/cap.lua" "$IF_A"
CAP_PID=$BG_PID
if netns_wait_for "$TMP/aout.err" '^(ready|open failed)' 5 && grep -q '^ready' "$TMP/aout.err"; then
  send aout "{{b.udp4{$T}, 100}, $(end_marker)}"
  finish aout && expect_eq "direction out: A sees its own frames leave" "$(kv test "$TMP/aout.out")" 100
else
  netns_wait "$CAP_PID"; fail "direction out on A" "$(head -c 300 "$TMP/aout.err")"
fi

# Drops are reported, not hidden: a tiny ring and a reader that sleeps.
# Kernel minimums: block_size a multiple of the page size; 2 blocks.
if capture drops '{block_size = 4096, block_count = 2, filter = "udp"}' 2; then
  send drops "{{b.udp4{$T}, 2000}}"; flood=$SENT
  if netns_wait_for "$TMP/drops.err" '^awake' 10; then
    sleep 0.5   # the reader drains the ring; then the END marker fits
    send drops-end "{$(end_marker)}"
  fi
  if finish drops; then
    f="$TMP/drops.out"
    d=$(kv st_drops "$f"); got=$(kv test "$f")
    [ -n "$d" ] && [ "$d" -gt 0 ] && pass "drops: a full ring reports drops ($d)" ||
      fail "drops: a full ring reports drops" "drops=$d captured=$got"
    expect_eq "drops: captured + dropped == sent" "$((got + d))" "$flood"
  fi
fi

# Errors name what is wrong.
lua_err() {  # IFACE OPTS -> the error of pktsh.open
  netns_exec "$NS_B" "$PKTSH" -e "print(select(2, pktsh.open('$1', $2)))" 2>&1
}
expect_match "missing interface is named" "$(lua_err pktshnope0 '{duration = 1}')" "pktshnope0"
expect_match "bad filter names the expression" "$(lua_err "$IF_B" '{filter = "port banana"}')" "port banana"
out=$(lua_err "$IF_B" '{tstamp = "hw", duration = 1}')
expect_match "tstamp hw on a veth: no hardware timestamps, named" "$out" "$IF_B.*hardware|hardware.*$IF_B"
if id nobody >/dev/null 2>&1 && command -v setpriv >/dev/null; then
  out=$(netns_exec "$NS_B" setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$PKTSH" -e "print(select(2, pktsh.open('$IF_B', {duration = 1})))" 2>&1)
  expect_match "capture without CAP_NET_RAW says which capability" "$out" "CAP_NET_RAW"
fi

# dump.lua -w from a live interface: tcpdump reads the same count.
netns_bg "$NS_B" 15 "$TMP/w.out" "$TMP/w.err" "$PKTSH" scripts/dump.lua -w "$TMP/live.pcap" -c 300 "$IF_B" udp
CAP_PID=$BG_PID
sleep 0.5   # dump.lua prints nothing when ready; give it time to open
send w "{{b.udp4{$T}, 200}, {b.udp6{vlan = 100, $T}, 100}}"
netns_wait "$CAP_PID"; rc=$?
expect_eq "dump -w IFACE -c 300: exits 0 by itself" "$rc/$NETNS_TIMED_OUT" 0/0
expect_match "dump -w IFACE: summary" "$(cat "$TMP/w.err")" "300 packets"
if command -v tcpdump >/dev/null; then
  expect_eq "dump -w IFACE: tcpdump reads every packet" "$(tcpdump -nr "$TMP/live.pcap" 2>/dev/null | wc -l)" 300
  expect_eq "dump -w IFACE: VLAN tags are in the file" \
    "$(tcpdump -nr "$TMP/live.pcap" vlan 100 2>/dev/null | wc -l)" 100
else
  skip "dump -w IFACE: tcpdump reads every packet" "tcpdump not installed"
fi

# Ctrl-C stops scripts/dump.lua on an interface: summary, exit 0.
netns_bg "$NS_B" 15 "$TMP/int.out" "$TMP/int.err" "$PKTSH" scripts/dump.lua "$IF_B" udp
CAP_PID=$BG_PID
sleep 0.5
send int "{{b.udp4{$T}, 10}}"
for i in $(seq 1 40); do [ "$(wc -l < "$TMP/int.out")" -ge 10 ] && break; sleep 0.05; done
kill -INT "$CAP_PID"
netns_wait "$CAP_PID"; rc=$?
expect_eq "SIGINT: dump.lua IFACE exits 0" "$rc/$NETNS_TIMED_OUT" 0/0
expect_eq "SIGINT: every packet was printed" "$(wc -l < "$TMP/int.out")" 10
expect_match "SIGINT: the summary is printed" "$(cat "$TMP/int.err")" "^10 packets"

# -Z nobody: after the capture opens, the process really is nobody.
if id nobody >/dev/null 2>&1; then
  uid=$(id -u nobody); gid=$(id -g nobody)
  netns_bg "$NS_B" 15 "$TMP/z.out" "$TMP/z.err" "$PKTSH" -Z nobody scripts/dump.lua "$IF_B" udp
  CAP_PID=$BG_PID
  st=
  for i in $(seq 1 50); do
    st=$(cat "/proc/$CAP_PID/status" 2>/dev/null)
    echo "$st" | grep -Eq "^Uid:[[:space:]]+$uid[[:space:]]" && break
    sleep 0.1
  done
  expect_match "-Z nobody: real, effective, saved and fs uid" "$(echo "$st" | grep ^Uid:)" \
    "^Uid:\s+$uid\s+$uid\s+$uid\s+$uid$"
  expect_match "-Z nobody: every gid" "$(echo "$st" | grep ^Gid:)" "^Gid:\s+$gid\s+$gid\s+$gid\s+$gid$"
  expect_match "-Z nobody: no supplementary root group" "$(echo "$st" | grep ^Groups:)" "^Groups:(\s+$gid)?\s*$"
  expect_match "-Z nobody: no capabilities left" "$(echo "$st" | grep ^CapEff:)" "^CapEff:\s+0+$"
  expect_match "-Z nobody: an empty bounding set" "$(echo "$st" | grep ^CapBnd:)" "^CapBnd:\s+0+$"
  expect_match "-Z nobody: no_new_privs" "$(echo "$st" | grep ^NoNewPrivs:)" "^NoNewPrivs:\s+1$"
  send z "{{b.udp4{$T}, 5}}"
  for i in $(seq 1 40); do [ "$(wc -l < "$TMP/z.out")" -ge 5 ] && break; sleep 0.05; done
  kill -INT "$CAP_PID" 2>/dev/null
  netns_wait "$CAP_PID"; rc=$?
  expect_eq "-Z nobody: still captures after dropping" "$(wc -l < "$TMP/z.out")" 5
  expect_eq "-Z nobody: exits 0 on SIGINT" "$rc/$NETNS_TIMED_OUT" 0/0
else
  skip "-Z nobody" "no user nobody"
fi
