#!/usr/bin/env bash
# AF_XDP sockets under stress and at the end of their life, between two
# network namespaces (tests/lib/netns.sh): full rings (a reader that does
# not read) are counted in the source's statistics and never hang it;
# the busy-poll and linger waits still deliver everything; opening
# mistakes come back as errors that say what to do; kill -9 leaves no XDP
# program and no AF_XDP socket behind. Traffic is bounded (198.18.0.0/15).
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xsk life"
if ! netns_setup; then fail "xsk life: namespace setup" "netns_setup failed"; exit 1; fi

cat > "$TMP/send.lua" <<'LUA'
-- send.lua IFACE N PORT: N test frames to PORT; prints sent=N.
local s = assert(pktsh.sender(arg[1]))
local n = assert(s:send(pktsh.build.udp4{dport = tonumber(arg[3]), payload = "pktsh-test"},
                        tonumber(arg[2])))
print("sent=" .. n)
LUA
cat > "$TMP/hold.lua" <<'LUA'
-- hold.lua IFACE GO OPTS: opens a source (only UDP port 5000 goes to it)
-- with OPTS, says ready, reads nothing until the file GO exists, then
-- reads for 1 s and prints what it got and its counters; then does it
-- again for GO.2 to show the rings work again.
local ffi = require "ffi"
local o = assert(loadstring("return " .. arg[3]))()
o.xsk, o.rules = arg[1], {"proto=udp,dport=5000"}
local src, err = pktsh.open(o)
if not src then print("err " .. err); os.exit(1) end
local i = src:info()[1]
print(string.format("ready busy_poll=%s need_wakeup=%s frame_size=%d comp_size=%d tx_size=%d note=%s",
                    tostring(i.busy_poll), tostring(i.need_wakeup), i.frame_size, i.comp_size,
                    i.tx_size, tostring(i.note)))
io.stdout:flush()
for round = 1, 2 do
  local go = arg[2] .. (round == 1 and "" or ".2")
  while not io.open(go) do os.execute("sleep 0.05") end
  local n = 0
  local t0 = os.time()
  src.deadline = ffi.C.pktsh_mono_ns() + 1e9
  for p in src:packets() do
    if ffi.string(p.data, p.caplen):find("pktsh-test", 1, true) then n = n + 1 end
  end
  local st = src:stats()
  print(string.format("round=%d got=%d packets=%d drops=%d rx_ring_full=%d rx_dropped=%d " ..
                      "fill_empty=%d secs=%d", round, n, st.packets, st.drops, st.rx_ring_full,
                      st.rx_dropped, st.rx_fill_ring_empty_descs, os.time() - t0))
  io.stdout:flush()
end
src:close()
LUA
kv() { local v; v=$(echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"); echo "${v:-0}"; }
send() { netns_exec "$NS_A" timeout 60 "$PKTSH" "$TMP/send.lua" "$IF_A" "$1" 5000; }
# hold NAME OPTS N1 N2: the two rounds; ROUND1 and ROUND2 are their lines.
hold() {
  local name=$1 opts=$2 n1=$3 n2=$4
  rm -f "$TMP/go" "$TMP/go.2"
  netns_bg "$NS_B" 60 "$TMP/h.out" "$TMP/h.err" "$PKTSH" "$TMP/hold.lua" "$IF_B" "$TMP/go" "$opts"
  local pid=$BG_PID
  ROUND1="" ROUND2=""
  if ! netns_wait_for "$TMP/h.out" "^(ready|err)" 10 || ! grep -q ^ready "$TMP/h.out"; then
    fail "$name: opens" "$(cat "$TMP/h.out" "$TMP/h.err" | head -3)"; kill -9 "$pid"; netns_wait "$pid"; return 1
  fi
  READY=$(grep ^ready "$TMP/h.out")
  send "$n1" >/dev/null; touch "$TMP/go"
  netns_wait_for "$TMP/h.out" "^round=1" 20
  send "$n2" >/dev/null; touch "$TMP/go.2"
  netns_wait "$pid"
  ROUND1=$(grep ^round=1 "$TMP/h.out") ROUND2=$(grep ^round=2 "$TMP/h.out")
}

# Tiny rings and a reader that does not read: the kernel drops, the
# counters say so, and nothing hangs; once read again, the rings work.
if hold "full rings" "{rx_size = 64, fill_size = 64, tx_size = 64, frames = 128}" 1000 40; then
  r=$ROUND1
  got=$(kv got "$r") drops=$(kv drops "$r")
  [ "$got" -gt 0 ] && [ "$got" -le 128 ] && pass "full rings: the rings' worth arrives ($got)" ||
    fail "full rings: the rings' worth arrives" "$r"
  expect_eq "full rings: delivered + dropped = sent" "$((got + drops))" 1000
  [ "$(kv rx_dropped "$r")" -gt 0 ] && [ "$(kv fill_empty "$r")" -gt 0 ] &&
    pass "full rings: reported as an empty fill ring ($r)" || fail "full rings: reported" "$r"
  [ "$(kv secs "$r")" -le 3 ] && pass "full rings: no hang" || fail "full rings: no hang" "$r"
  expect_eq "full rings: the next packets all arrive" "$(kv got "$ROUND2")" 40
fi

# The busy-poll and linger waits deliver every packet.
if hold "busy poll" "{busy_poll = 50, busy_poll_budget = 64, prefer_busy_poll = true}" 500 30; then
  expect_eq "busy poll: every packet arrives" "$(kv got "$ROUND1") $(kv got "$ROUND2")" "500 30"
  expect_match "busy poll: the options are taken or the note says why" "$READY" \
    "busy_poll=true|SO_(PREFER_)?BUSY_POLL"
fi
if hold "linger" "{linger_us = 300, batch = 64}" 700 30; then
  expect_eq "linger: every packet arrives" "$(kv got "$ROUND1") $(kv got "$ROUND2")" "700 30"
fi

# Sizes and need_wakeup by option: taken, and every packet still arrives.
if hold "sizes" "{need_wakeup = false, frame_size = 4096, comp_size = 512, tx_size = 256}" 300 30; then
  expect_eq "sizes: every packet arrives" "$(kv got "$ROUND1") $(kv got "$ROUND2")" "300 30"
  expect_eq "sizes: need_wakeup off, 4096-byte frames, the ring sizes asked for" \
    "$(kv need_wakeup "$READY") $(kv frame_size "$READY") $(kv comp_size "$READY") $(kv tx_size "$READY")" \
    "false 4096 512 256"
fi

# Mistakes in opening come back as nil, err.
try() { netns_exec "$NS_B" "$PKTSH" -e "$1" 2>&1; }
expect_match "zerocopy = true on veth: an error naming the driver" \
  "$(try "print(pktsh.open{xsk = '$IF_B', zerocopy = true})")" "^nil	zerocopy = true: the driver of '$IF_B' \\(veth\\) has no AF_XDP zero-copy"
expect_match "zerocopy = auto on veth: copy mode, the note names the driver" \
  "$(try "local s = assert(pktsh.open{xsk = '$IF_B'}); local i = s:info()[1]; print(i.zerocopy, i.note)")" \
  "^false	copy mode: the driver of '$IF_B' \\(veth\\) has no AF_XDP zero-copy"
expect_match "zerocopy = false: copy mode, no note" \
  "$(try "local s = assert(pktsh.open{xsk = '$IF_B', zerocopy = false}); local i = s:info()[1]; print(i.zerocopy, i.note)")" \
  "^false	nil$"
expect_match "after open: the fill ring is full, the socket's other frames are free" \
  "$(try "local s = assert(pktsh.open{xsk = '$IF_B', fill_size = 1024, tx_size = 512})
          local i = s:info()[1]; print(i.fill_frames, i.free_frames, i.frames)")" "^1024	512	1536$"
expect_match "defaults: fill and RX rings of 16384 for a lone socket, the UMEM has fill + TX frames" \
  "$(try "local s = assert(pktsh.open{xsk = '$IF_B'})
          local i = s:info()[1]; print(i.rx_size, i.fill_size, i.tx_size, i.fill_frames, i.free_frames, i.frames)")" \
  "^16384	16384	2048	16384	2048	18432$"
expect_match "defaults: one ring size given sets the other" \
  "$(try "local s = assert(pktsh.open{xsk = '$IF_B', fill_size = 1024})
          local i = s:info()[1]; print(i.rx_size, i.fill_size)")" "^1024	1024$"
# Four queues: RSS spreads an interface's traffic, so its rings share
# 32768 frames (8192 a socket).
if ip -n "$NS_B" link add q4a numrxqueues 4 numtxqueues 4 type veth peer name q4b \
     numrxqueues 4 numtxqueues 4 && ip -n "$NS_B" link set q4a up && ip -n "$NS_B" link set q4b up; then
  expect_match "defaults: four queues, rings of 8192 each" \
    "$(try "local s = assert(pktsh.open{xsk = 'q4a', mode = 'skb'}); local t = {}
            for _, i in ipairs(s:info()) do t[#t + 1] = i.rx_size .. '/' .. i.fill_size end
            print(table.concat(t, ' '))")" "^8192/8192 8192/8192 8192/8192 8192/8192$"
else
  fail "defaults: four queues" "cannot make a veth with 4 queues"
fi
# The UMEM asks for huge pages (a 4 KiB page every other frame is a TLB
# miss per packet or two).
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null ||
   [ ! -e /sys/kernel/mm/transparent_hugepage/enabled ]; then
  skip "UMEM in huge pages" "transparent huge pages are off on this kernel"
else
  thp=$(try "local s = assert(pktsh.open{xsk = '$IF_B', fill_size = 16384})
             local f = assert(io.open('/proc/self/smaps_rollup')); local t = f:read('*a'); f:close()
             print(t:match('AnonHugePages:%s*(%d+)'))")
  [ "${thp:-0}" -ge 2048 ] 2>/dev/null && pass "UMEM in huge pages (${thp} kB)" ||
    fail "UMEM in huge pages" "AnonHugePages: $thp kB"
fi
expect_match "a queue the interface does not have" \
  "$(try "print(pktsh.open{xsk = '$IF_B', queues = {3}})")" "^nil	'$IF_B' has 1 rx queue \\(0 to 0\\), not queue 3"
expect_match "a missing interface" "$(try "print(pktsh.open{xsk = 'pkNone9'})")" "^nil	no such interface 'pkNone9'"
expect_match "a second source on the same queue" \
  "$(try "local a = assert(pktsh.open{xsk = '$IF_B', rules = false}); print(pktsh.open{xsk = '$IF_B', rules = false})")" \
  "^nil	queue 0 of '$IF_B' already has an AF_XDP socket"
expect_match "a rule set on another interface feeds nothing" \
  "$(try "local fw = assert(pktsh.xdp('lo', {mode = 'skb'})); local s = assert(pktsh.open{xsk = '$IF_B', rules = fw}); print(s.rules['$IF_B'] ~= fw, s.rules['$IF_B'] ~= nil)")" \
  "^true	true$"

# kill -9: the program and the socket go with the process.
xdp_on_b() { ip -n "$NS_B" link show "$IF_B" | grep -c 'prog/xdp'; }
socks_b() { netns_exec "$NS_B" awk '$1 == "XDP" { print $3 }' /proc/net/protocols; }
netns_bg "$NS_B" 30 "$TMP/k.out" "$TMP/k.err" "$PKTSH" -e "
  local s = assert(pktsh.open{xsk = '$IF_B'}); print('listening'); io.stdout:flush()
  for p in s:packets() do end"
kpid=$BG_PID
if netns_wait_for "$TMP/k.out" "listening" 10; then
  expect_eq "kill -9: program and socket while running" "$(xdp_on_b) $(socks_b)" "1 1"
  { kill -9 "$kpid"; netns_wait "$kpid"; } 2>/dev/null
  for i in $(seq 1 50); do [ "$(xdp_on_b)" = 0 ] && [ "$(socks_b)" = 0 ] && break; sleep 0.1; done
  expect_eq "kill -9: no XDP program and no AF_XDP socket left" "$(xdp_on_b) $(socks_b)" "0 0"
else
  fail "kill -9: source starts" "$(cat "$TMP/k.err")"; kill -9 "$kpid"; netns_wait "$kpid"
fi
