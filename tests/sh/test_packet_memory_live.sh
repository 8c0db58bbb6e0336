#!/usr/bin/env bash
# tests/sh/test_packet_memory.sh for the sources the kernel feeds, between
# two network namespaces (tests/lib/netns.sh): a live TPACKET_V3 ring and
# the XDP program's copy ring. A packet and a header view kept after the
# source closed: a clean error and zero bytes (the ring's pages are
# replaced, never unmapped; under valgrind for the live ring); guard mode
# makes a read at data[caplen] fault. Traffic: a few hundred frames on
# the veth pair, every pktsh under a watchdog.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "packet memory, live"
if ! netns_setup; then fail "packet memory, live: namespace setup" "netns_setup failed"; exit 1; fi
STALE="packet used after its batch was released; keep it with pkt:copy()"

cat > "$TMP/keep.lua" <<'LUA'
-- keep.lua SPEC MODE: opens SPEC (an interface, or "xdp:IFACE" for the
-- copies of a copy-all rule set), keeps the first test packet and its UDP
-- view, then: MODE "close" closes the source and uses both; MODE "over"
-- reads one byte past the packet's caplen.
local spec, mode = arg[1], arg[2]
local iface = spec:match("^xdp:(.*)")
local src = iface and assert(pktsh.open{xdp = iface, duration = 10})
  or assert(pktsh.open(spec, {duration = 10, block_timeout_ms = 10, filter = "udp port 5000",
                              guard = mode == "over" or nil}))
io.stderr:write("ready\n"); io.stderr:flush()
local p, view
for q in src:packets() do
  if q:raw():find("pktsh-test", 1, true) then p, view = q, q:udp(); break end
end
assert(p, "no test packet")
if mode == "over" then
  io.stdout:write("last ", p.data[p.caplen - 1], "\n"); io.stdout:flush()
  io.stdout:write("read ", p.data[p.caplen], "\n")
  os.exit(0)
end
src:close()
local ok, err = pcall(function() return p:summary() end)
print(ok and "packet:readable" or ("packet:" .. err))
print("view:" .. view.dport)
LUA

# run NAME SPEC MODE [ENV...]: keep.lua in B while A sends; sets RC, OUT.
run() {
  local name=$1 spec=$2 mode=$3; shift 3
  local vg=()
  [ "$mode" = close ] && [ "${spec#xdp:}" = "$spec" ] && command -v valgrind >/dev/null &&
    vg=(valgrind -q --error-exitcode=99)
  netns_bg "$NS_B" 60 "$TMP/k.out" "$TMP/k.err" env "$@" "${vg[@]}" "$PKTSH" "$TMP/keep.lua" "$spec" "$mode"
  local pid=$BG_PID
  if ! netns_wait_for "$TMP/k.err" "^ready" 30; then
    fail "$name: source opens" "$(tail -3 "$TMP/k.err")"; kill -9 "$pid" 2>/dev/null; netns_wait "$pid"; RC=-1; return
  fi
  netns_exec "$NS_A" timeout 20 "$PKTSH" -e "local s = assert(pktsh.sender('$IF_A'))
    s:send(pktsh.build.udp4{dport = 5000, payload = 'pktsh-test-frame'}, 200)" >/dev/null 2>&1
  netns_wait "$pid" 2>/dev/null; RC=$?   # (bash reports the SIGSEGV on stderr)
  OUT=$(cat "$TMP/k.out")
}

run "live ring" "$IF_B" close
expect_eq "live ring: close, then use: clean error, zero view, no invalid read" \
  "$RC|$(echo "$OUT" | grep -c "^packet:.*$STALE")|$(echo "$OUT" | grep '^view:')" "0|1|view:0"
run "live ring" "$IF_B" over
expect_eq "live ring, {guard = true}: data[caplen] dies of SIGSEGV after data[caplen - 1]" \
  "$RC $(echo "$OUT" | head -1 | cut -c1-4)" "139 last"

xdp_probe=$(netns_exec "$NS_B" "$PKTSH" -e "local s, e = pktsh.open{xdp = '$IF_B'}; print(s and 'yes' or e); if s then s:close() end" 2>&1)
if [ "$xdp_probe" != yes ]; then
  skip "xdp copies" "pktsh.open{xdp = '$IF_B'} failed: $xdp_probe"
  exit 0
fi
run "xdp copies" "xdp:$IF_B" close
expect_eq "xdp copies: close, then use: clean error, zero view" \
  "$RC|$(echo "$OUT" | grep -c "^packet:.*$STALE")|$(echo "$OUT" | grep '^view:')" "0|1|view:0"
run "xdp copies" "xdp:$IF_B" over PKTSH_GUARD=1
expect_eq "xdp copies, PKTSH_GUARD=1: data[caplen] dies of SIGSEGV after data[caplen - 1]" \
  "$RC $(echo "$OUT" | head -1 | cut -c1-4)" "139 last"
