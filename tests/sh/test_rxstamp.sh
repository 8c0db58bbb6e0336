#!/usr/bin/env bash
# Receive stamps (issue 14, item 2) on a veth pair: every live packet
# carries ts plus ts_sw / ts_hw with tsrc saying which ts is; tstamp =
# "both" reads with recvmmsg (SCM_TIMESTAMPING holds both stamps) and
# delivers the same packets, lengths, VLAN tags and statistics as the
# ring. veth has no hardware stamps: "hw" and "both" say so, and with
# PKTSH_FAKE_HWTSTAMP=ok standing in for the driver they open and give
# software stamps (ts_hw 0). hwclock = "sys" needs a PTP clock: veth has
# none. Traffic: only between our namespaces, a few hundred frames.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "rxstamp"
if ! netns_setup; then fail "rxstamp: namespace setup" "netns_setup failed"; exit 1; fi

# cap.lua IFACE OPTS: counts test frames until "pktsh-END"; prints
# key=value words about their stamps.
cat > "$TMP/cap.lua" <<'LUA'
local opts = assert(loadstring("return " .. arg[2]))()
opts.duration = opts.duration or 8
opts.block_timeout_ms = 10
local src, err = pktsh.open(arg[1], opts)
if not src then io.stderr:write("open failed: ", tostring(err), "\n"); os.exit(1) end
io.stderr:write("ready\n"); io.stderr:flush()
local c = {n = 0, bytes = 0, vlan = 0, sw_is_ts = 0, hw0 = 0, tsrc1 = 0, near = 0, order = 0, copy = 0}
local now, prev = pktsh.now(), nil
src:each(function(p)
  local s = require("ffi").string(p.data, p.caplen)
  if s:find("pktsh-END", 1, true) then return false end
  if not s:find("pktsh-test", 1, true) then return end
  c.n, c.bytes = c.n + 1, c.bytes + p.len
  if p:vlan_id(1) == 100 then c.vlan = c.vlan + 1 end
  if p.ts_sw == p.ts then c.sw_is_ts = c.sw_is_ts + 1 end
  if p.ts_hw == 0 then c.hw0 = c.hw0 + 1 end
  if p.tsrc == 1 then c.tsrc1 = c.tsrc1 + 1 end
  if math.abs(tonumber(p.ts_sw) - now) < 60e9 then c.near = c.near + 1 end
  if prev and p.ts_sw < prev then c.order = c.order + 1 end
  prev = p.ts_sw
  local q = p:copy()
  if q.ts_sw == p.ts_sw and q.ts_hw == p.ts_hw then c.copy = c.copy + 1 end
end)
local st = src:stats()
local out = {"tstamp=" .. src.tstamp, "st_packets=" .. st.packets, "st_drops=" .. st.drops}
for k, v in pairs(c) do out[#out + 1] = k .. "=" .. v end
table.sort(out)
print(table.concat(out, " "))
LUA

kv() { grep -o "\b$1=[^ ]*" "$2" 2>/dev/null | head -1 | cut -d= -f2; }

send() {
  netns_exec "$NS_A" "$PKTSH" -e "
    local b, s = pktsh.build, assert(pktsh.sender('$IF_A'))
    assert(s:send(b.udp4{dport = 5000, payload = 'pktsh-test-frame'}, 200) == 200)
    assert(s:send(b.udp6{dport = 5000, payload = 'pktsh-test-frame-6'}, 100) == 100)
    assert(s:send(b.udp4{dport = 5000, vlan = 100, payload = 'pktsh-test-frame'}, 50) == 50)
    os.execute('sleep 0.05')
    assert(s:send(b.udp4{dport = 5000, payload = 'pktsh-END'}) == 1)" 2>&1
}

# capture NAME OPTS [ENV...]: a capture in B while A sends; its output in $TMP/NAME.out
capture() {
  local name=$1 opts=$2; shift 2
  netns_bg "$NS_B" 15 "$TMP/$name.out" "$TMP/$name.err" env "$@" "$PKTSH" "$TMP/cap.lua" "$IF_B" "$opts"
  local pid=$BG_PID
  if ! netns_wait_for "$TMP/$name.err" '^(ready|open failed)' 5; then
    fail "$name: capture starts" "$(head -c 300 "$TMP/$name.err")"; netns_wait "$pid"; return 1
  fi
  if grep -q '^open failed' "$TMP/$name.err"; then netns_wait "$pid"; return 1; fi
  send >/dev/null
  netns_wait "$pid"
}

# What 350 frames of which 50 carry a VLAN tag give, with software stamps.
check_sw() {  # NAME MODE
  local f=$TMP/$1.out
  expect_eq "$1: tstamp is $2" "$(kv tstamp "$f")" "$2"
  expect_eq "$1: all 350 frames, 50 with their VLAN tag put back" "$(kv n "$f") $(kv vlan "$f")" "350 50"
  expect_eq "$1: wire bytes" "$(kv bytes "$f")" "$((200 * 58 + 100 * 80 + 50 * 62))"
  expect_eq "$1: ts is the software stamp, tsrc 1, ts_hw 0" \
    "$(kv sw_is_ts "$f") $(kv tsrc1 "$f") $(kv hw0 "$f")" "350 350 350"
  expect_eq "$1: stamps are now, in arrival order" "$(kv near "$f") $(kv order "$f")" "350 0"
  expect_eq "$1: pkt:copy() keeps both stamps" "$(kv copy "$f")" 350
  expect_eq "$1: stats" "$(kv st_drops "$f")" 0
}

capture sw '{tstamp = "sw"}' X=1 && check_sw sw sw
capture both '{tstamp = "both"}' PKTSH_FAKE_HWTSTAMP=ok && check_sw both both
capture hw '{tstamp = "hw"}' PKTSH_FAKE_HWTSTAMP=ok && check_sw hw hw
# The same frames, the same counts, either way.
expect_eq "both and the ring agree on packets and bytes" \
  "$(kv st_packets "$TMP/both.out") $(kv bytes "$TMP/both.out")" \
  "$(kv st_packets "$TMP/sw.out") $(kv bytes "$TMP/sw.out")"
capture both-in '{tstamp = "both", direction = "in", filter = "udp port 5000", snaplen = 128}' \
  PKTSH_FAKE_HWTSTAMP=ok && check_sw both-in both

# Without hardware stamps.
for mode in hw both; do
  out=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open('$IF_B', {tstamp = '$mode'}))" 2>&1)
  expect_match "$mode: veth has no hardware receive stamps, and says so" "$out" \
    "^nil	interface '$IF_B' has no hardware receive timestamps \(SIOCSHWTSTAMP: .*\); use tstamp = \"sw\""
done
out=$(netns_exec "$NS_B" env PKTSH_FAKE_HWTSTAMP=34 "$PKTSH" -e "print(pktsh.open('$IF_B', {tstamp = 'hw'}))" 2>&1)
expect_match "hw: a NIC that cannot stamp every packet (ERANGE)" "$out" \
  "^nil	interface '$IF_B' cannot stamp every received packet in hardware"
out=$(netns_exec "$NS_B" env PKTSH_FAKE_HWTSTAMP=ok "$PKTSH" -e "print(pktsh.open('$IF_B', {tstamp = 'both', hwclock = 'sys'}))" 2>&1)
expect_match "hwclock sys: veth has no PTP clock" "$out" \
  "^nil	interface '$IF_B' has no PTP hardware clock to convert its hardware stamps with"
out=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open('$IF_B', {hwclock = 'sys'}))" 2>&1)
expect_match "hwclock sys without hardware stamps is a mistake" "$out" "^nil	hwclock = \"sys\" converts hardware stamps"
out=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open('$IF_B', {tstamp = 'ptp'}))" 2>&1)
expect_match "tstamp: a bad value is named" "$out" '^nil	tstamp must be one of "both", "hw", "sw", not ptp'

# The offset arithmetic of hwclock = "sys" (PTP_SYS_OFFSET_EXTENDED samples).
out=$("$PKTSH" -e "
  local ffi = require 'ffi'
  local s = ffi.new('int64_t[9]', {1000, 500, 1100,  2000, 1460, 2040,  3000, 2400, 3300})
  local w = ffi.new('int64_t[1]')
  print(tonumber(ffi.C.pktsh_phc_offset(s, 3, w)), tonumber(w[0]))" 2>&1)
expect_eq "phc offset: the narrowest window's midpoint minus the clock" "$out" "560	40"
