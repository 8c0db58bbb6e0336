#!/usr/bin/env bash
# AF_XDP sending: a host M between two hosts bridges their veths through
# AF_XDP sockets (scripts/xskfwd.lua, native and skb mode), and every
# packet gets through, without a copy when the sockets share a UMEM and
# with one when they do not; the rewrite hook drops and replaces frames;
# a socket with no rules only sends; frames are all accounted for after
# the traffic; with -j 2 on two-queue veths each worker has its own queue.
#
#   H1 (IF1 198.18.0.1) -- (MIF1) M (MIF2) -- (IF2 198.18.0.2) H2
#
# Traffic is bounded in count and paced, stays in namespaces this test
# makes (tests/lib/netns.sh removes them), 198.18.0.0/15 and 2001:2::/48.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xsk forward"
if ! netns_setup; then fail "xsk forward: namespace setup" "netns_setup failed"; exit 1; fi
H1=$NS_A IF1=$IF_A M=$NS_B MIF1=$IF_B
if ! netns_setup; then fail "xsk forward: namespace setup" "netns_setup failed"; exit 1; fi
H2=$NS_B IF2=$IF_B MIF2=$IF_A
ip -n "$NS_A" link set "$MIF2" netns "$M" && ip -n "$M" link set dev "$MIF2" up ||
  { fail "xsk forward: moving the second veth" "ip link set netns failed"; exit 1; }

cat > "$TMP/send.lua" <<'LUA'
-- send.lua IFACE: SEND_SPEC (a list of {frame, count}) paced at 100 frames
-- per 10 ms (a loaded machine may take the bridge off its core for a
-- while; its rings hold 200 ms of this); prints sent=N.
local b = pktsh.build
local spec = assert(loadstring("local b = ...; return " .. os.getenv("SEND_SPEC")))(b)
local s = assert(pktsh.sender(arg[1]))
-- The pause comes every 100 frames over the whole list, not after each
-- item: a fork per item of 10 frames took seconds on a loaded machine.
local sent, since = 0, 0
for _, item in ipairs(spec) do
  local left = item[2] or 1
  while left > 0 do
    local k = math.min(left, 100 - since)
    local n, e = s:send(item[1], k)
    if n ~= k then io.stderr:write("send: ", tostring(e), "\n"); os.exit(1) end
    sent, left, since = sent + n, left - n, since + n
    if since == 100 then os.execute("sleep 0.01"); since = 0 end
  end
end
print("sent=" .. sent)
LUA

cat > "$TMP/count.lua" <<'LUA'
-- count.lua IFACE SECONDS: counts the test packets the stack of this host
-- sees (AF_PACKET), by UDP port, for SECONDS; prints ready first.
local src = assert(pktsh.open(arg[1], {filter = "udp", duration = tonumber(arg[2]),
                                       block_timeout_ms = 10}))
print("ready"); io.stdout:flush()
local c, total = {}, 0
for p in src:packets() do
  local s = require("ffi").string(p.data, p.caplen)
  if s:find("pktsh-test", 1, true) then
    local u = p:udp()
    local k = (p:ip4() and "v4_" or "v6_") .. (u and u.dport or 0)
    c[k] = (c[k] or 0) + 1
    total = total + 1
  end
end
local t = {"total=" .. total}
for k, v in pairs(c) do t[#t + 1] = k .. "=" .. v end
table.sort(t)
print(table.concat(t, " "))
LUA

kv() { local v; v=$(echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"); echo "${v:-0}"; }
# count_on NS IFACE SECONDS: starts a counter; COUNT_PID, output in $TMP/count.out
count_on() {
  netns_bg "$1" $(($3 + 20)) "$TMP/count.out" "$TMP/count.err" "$PKTSH" "$TMP/count.lua" "$2" "$3"
  COUNT_PID=$BG_PID
  netns_wait_for "$TMP/count.out" "^ready" 10 || fail "counter starts" "$(cat "$TMP/count.err")"
}
# count_wait: waits for the counter; its line in COUNTED (not in a $(...):
# only this shell can wait for its jobs).
count_wait() { netns_wait "$COUNT_PID"; COUNTED=$(tail -1 "$TMP/count.out"); }
send() { SEND_SPEC=$2 netns_exec "$1" timeout 120 "$PKTSH" "$TMP/send.lua" "$3"; }
T='payload = "pktsh-test"'
# fwd_start NAME ARGS...: xskfwd in M; FWD_PID
fwd_start() {
  local name=$1; shift
  netns_bg "$M" 90 "$TMP/fwd.out" "$TMP/fwd.err" "$PKTSH" "$@"
  FWD_PID=$BG_PID
  if ! netns_wait_for "$TMP/fwd.err" "bridging|rror|annot" 10 || ! grep -q bridging "$TMP/fwd.err"; then
    fail "$name: xskfwd starts" "$(head -3 "$TMP/fwd.err")"
    kill -9 "$FWD_PID" 2>/dev/null; netns_wait "$FWD_PID"; return 1
  fi
}
fwd_stop() { kill -INT "$FWD_PID"; netns_wait "$FWD_PID"; FWD_RC=$?; SUMMARY=$(tail -1 "$TMP/fwd.err"); }

for mode in native skb; do
  skbopt=""; [ $mode = skb ] && skbopt=--skb
  fwd_start "$mode" scripts/xskfwd.lua $skbopt "$MIF1" "$MIF2" || continue
  count_on "$H2" "$IF2" 6
  out=$(send "$H1" "{{b.udp4{dport = 5000, $T}, 2000}, {b.udp6{dport = 5001, $T}, 500}}" "$IF1")
  count_wait; got=$COUNTED
  expect_eq "$mode: every packet gets through the bridge (H1 to H2, v4 and v6)" \
    "$(kv sent "$out") $(kv total "$got") $(kv v4_5000 "$got") $(kv v6_5001 "$got")" "2500 2500 2000 500"
  count_on "$H1" "$IF1" 4
  out=$(send "$H2" "{{b.udp4{src = '198.18.0.2', dst = '198.18.0.1', smac = '02:00:00:00:00:02', dmac = '02:00:00:00:00:01', dport = 5002, $T}, 700}}" "$IF2")
  count_wait; got=$COUNTED
  expect_eq "$mode: ... and back (H2 to H1)" "$(kv sent "$out") $(kv v4_5002 "$got")" "700 700"
  fwd_stop; summary=$SUMMARY
  expect_eq "$mode: xskfwd ends cleanly on Ctrl-C" "$FWD_RC" 0
  expect_match "$mode: xskfwd counts both ways, without copies" "$summary" \
    "^xskfwd: [0-9]+ frames $MIF1>$MIF2, [0-9]+ $MIF2>$MIF1 \\([0-9]+ without a copy\\)"
  ab=$(echo "$summary" | sed -n 's/^xskfwd: \([0-9]*\) frames.*/\1/p')
  zc=$(echo "$summary" | sed -n 's/.*(\([0-9]*\) without a copy).*/\1/p')
  [ "${ab:-0}" -ge 2500 ] && [ "${zc:-0}" -ge 3200 ] && pass "$mode: forwarded $ab one way, $zc frames without a copy" ||
    fail "$mode: forwarded counts" "$summary"
  expect_match "$mode: nothing lost" "$summary" "lost: 0 in the kernel's RX rings, 0 on TX"
done

# The rewrite hook: drop port 7, replace port 8 by a frame to port 9.
RW='function(p) local u = p:udp(); if u and u.dport == 7 then return false end
  if u and u.dport == 8 then return pktsh.build.udp4{dport = 9, payload = "pktsh-test"} end end'
if fwd_start rewrite scripts/xskfwd.lua --one-way --rewrite "$RW" "$MIF1" "$MIF2"; then
  count_on "$H2" "$IF2" 5
  out=$(send "$H1" "{{b.udp4{dport = 7, $T}, 100}, {b.udp4{dport = 8, $T}, 150}, {b.udp4{dport = 6000, $T}, 120}}" "$IF1")
  count_wait; got=$COUNTED
  expect_eq "rewrite: dropped, replaced, passed unchanged" \
    "$(kv v4_7 "$got") $(kv v4_8 "$got") $(kv v4_9 "$got") $(kv v4_6000 "$got")" "0 0 150 120"
  fwd_stop; summary=$SUMMARY
  expect_match "rewrite: counted" "$summary" "rewrite: 150 replaced, 100 dropped"
fi

cat > "$TMP/fwd.lua" <<'LUA'
-- fwd.lua IF_A IF_B SHARED SECONDS: forwards A to B for SECONDS (UMEM
-- shared or not), then prints the counters and checks that every frame is
-- back where it belongs.
local shared = arg[3] == "shared"
local src = assert(pktsh.open{xsk = {arg[1], arg[2]}, shared_umem = shared,
                              rules = {[arg[2]] = false}, duration = tonumber(arg[4])})
print("ready"); io.stdout:flush()
while true do
  local b = src:next()
  if not b then break end
  assert(src:forward(b, arg[2]))
end
assert(src:flush(1) == 0, "frames still in flight")
local st = src:stats()
-- With no traffic, each UMEM's frames are free, in a fill ring or kept
-- for copies (none held, none in flight).
local per_umem, free, umems = {}, 0, 0
for _, i in ipairs(src:info()) do
  local key = shared and 1 or (i.ifname .. i.queue)
  if not per_umem[key] then per_umem[key] = true; free = free + i.free_frames; umems = umems + 1 end
  free = free + i.fill_frames + i.cached + i.held + i.in_flight
end
local frames = src:info()[1].frames * (shared and 1 or umems)
print(string.format("tx=%d zerocopy=%d dropped=%d drops=%d frames=%d accounted=%d",
                    st.tx_packets, st.tx_zerocopy, st.tx_dropped, st.drops, frames, free))
src:close()
LUA
for shared in shared separate; do
  netns_bg "$M" 40 "$TMP/f.out" "$TMP/f.err" "$PKTSH" "$TMP/fwd.lua" "$MIF1" "$MIF2" $shared 4
  fpid=$BG_PID
  if ! netns_wait_for "$TMP/f.out" "^ready" 10; then
    fail "$shared UMEM: forwarder starts" "$(cat "$TMP/f.err")"; kill -9 $fpid; netns_wait $fpid; continue
  fi
  count_on "$H2" "$IF2" 3
  out=$(send "$H1" "{{b.udp4{dport = 5000, $T}, 1000}}" "$IF1")
  count_wait; got=$COUNTED
  netns_wait "$fpid"
  r=$(tail -1 "$TMP/f.out")
  expect_eq "$shared UMEM: every packet forwarded" "$(kv v4_5000 "$got")" 1000
  if [ $shared = shared ]; then
    [ "$(kv zerocopy "$r")" -ge 1000 ] && pass "shared UMEM: sent without a copy ($r)" || fail "shared UMEM: zero-copy" "$r"
  else
    expect_eq "separate UMEMs: every frame copied" "$(kv zerocopy "$r")" 0
  fi
  expect_eq "$shared UMEM: no loss" "$(kv dropped "$r") $(kv drops "$r")" "0 0"
  expect_eq "$shared UMEM: every frame accounted for" "$(kv accounted "$r")" "$(kv frames "$r")"
done

# A socket with no rules only sends: frames built in Lua reach H1.
count_on "$H1" "$IF1" 3
r=$(netns_exec "$M" "$PKTSH" -e "
  local src = assert(pktsh.open{xsk = '$MIF1', rules = false})
  local f = pktsh.build.udp4{src = '198.18.0.2', dst = '198.18.0.1', dport = 5003, payload = 'pktsh-test'}
  local n = 0
  for i = 1, 300 do n = n + assert(src:send(f)) end
  print('queued=' .. n .. ' inflight=' .. src:flush(1) .. ' tx=' .. src:stats().tx_packets)" 2>&1)
count_wait; got=$COUNTED
expect_eq "send only: frames sent from Lua arrive" "$(kv queued "$r") $(kv inflight "$r") $(kv v4_5003 "$got")" "300 0 300"

# -j 2 on two-queue veths: each worker reads its own queue.
ip -n "$H1" link add qA numtxqueues 2 numrxqueues 2 type veth peer name qB netns "$M" \
  numtxqueues 2 numrxqueues 2 && ip -n "$H1" link set dev qA up && ip -n "$M" link set dev qB up ||
  { fail "-j 2: two-queue veth" "ip link add failed"; exit 1; }
cat > "$TMP/jcount.lua" <<'LUA'
-- jcount.lua IFACE SECONDS: counts the test packets each worker gets.
local M = {}
function M.count(s)
  local n = 0
  for p in s:packets() do
    if require("ffi").string(p.data, p.caplen):find("pktsh-test", 1, true) then n = n + 1 end
  end
  return {["w" .. pktsh.worker()] = n, total = n, sockets = #s:info(),
          queue = {[pktsh.worker()] = s:info()[1].queue}}
end
function M.main(iface, seconds)
  local src = assert(pktsh.open{xsk = iface, duration = tonumber(seconds)})
  print("ready"); io.stdout:flush()
  local res = assert(src:parallel(M.count))
  print(string.format("total=%d w1=%d w2=%d sockets=%d q1=%d q2=%d", res.total, res.w1 or 0,
                      res.w2 or 0, res.sockets, res.queue[1], res.queue[2]))
end
return pktsh.main(M)
LUA
netns_bg "$M" 40 "$TMP/j.out" "$TMP/j.err" "$PKTSH" -j 2 "$TMP/jcount.lua" qB 4
jpid=$BG_PID
if netns_wait_for "$TMP/j.out" "^ready" 10; then
  sleep 0.5
  out=$(send "$H1" "{$(for p in $(seq 6000 6063); do printf '{b.udp4{sport = %d, dport = %d, %s}, 10}, ' $p $p "$T"; done)}" qA)
  netns_wait "$jpid"
  r=$(tail -1 "$TMP/j.out")
  expect_eq "-j 2: every packet counted, one socket per worker" \
    "$(kv total "$r") $(kv sockets "$r") $(kv q1 "$r") $(kv q2 "$r")" "640 2 0 1"
  [ "$(kv w1 "$r")" -gt 0 ] && [ "$(kv w2 "$r")" -gt 0 ] && pass "-j 2: both queues carried traffic ($r)" ||
    fail "-j 2: both queues carried traffic" "$r"
else
  fail "-j 2: starts" "$(cat "$TMP/j.err")"; kill -9 "$jpid"; netns_wait "$jpid"
fi

# -j 2 forwarding: worker k bridges queue k of both two-queue veths.
ip -n "$H2" link add qC numtxqueues 2 numrxqueues 2 type veth peer name qD netns "$M" \
  numtxqueues 2 numrxqueues 2 && ip -n "$H2" link set dev qC up && ip -n "$M" link set dev qD up ||
  { fail "-j 2 bridge: two-queue veth" "ip link add failed"; exit 1; }
if fwd_start "-j 2 bridge" -j 2 scripts/xskfwd.lua --one-way qB qD; then
  count_on "$H2" qC 5
  out=$(send "$H1" "{$(for p in $(seq 7000 7063); do printf '{b.udp4{sport = %d, dport = %d, %s}, 20}, ' $p $p "$T"; done)}" qA)
  count_wait; got=$COUNTED
  fwd_stop; summary=$SUMMARY
  expect_eq "-j 2 bridge: every packet gets through" "$(kv sent "$out") $(kv total "$got")" "1280 1280"
  expect_match "-j 2 bridge: the workers' counts merge" "$summary" "^xskfwd: 1[0-9]{3} frames qB>qD"
fi
