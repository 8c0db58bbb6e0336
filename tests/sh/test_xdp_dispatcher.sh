#!/usr/bin/env bash
# XDP through libxdp's dispatcher, and the clean-up of programs whose
# owner died (src/xdpowner.c), between two network namespaces
# (tests/lib/netns.sh). Every process shares one bpffs of the test's own
# ($LIBXDP_BPFFS), as processes on one host share /sys/fs/bpf.
#
# Where the dispatcher cannot load (this needs freplace programs, which
# some kernels refuse), the side-by-side test is skipped with pktsh's
# reason, and the clean-up is tested on a program of pktsh's attached
# alone with `ip link ... xdp pinned` to the owner record: the lasting
# attachment a dispatcher would make, without the dispatcher.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xdp dispatcher"
if ! netns_setup; then fail "xdp dispatcher: namespace setup" "netns_setup failed"; exit 1; fi

BPFFS=$TMP/bpffs
mkdir "$BPFFS"
if ! mount -t bpf bpf "$BPFFS" 2>"$TMP/mount.err"; then
  skip "xdp dispatcher" "cannot mount a bpffs: $(cat "$TMP/mount.err")"; exit 0
fi
eval "set -- $(trap -p EXIT)"
trap "umount -l '$BPFFS' 2>/dev/null; $3" EXIT
export LIBXDP_BPFFS=$BPFFS

xdp_on_b() { ip -n "$NS_B" link show "$IF_B" | grep -c 'prog/xdp'; }
records() { ls "$BPFFS/pktsh" 2>/dev/null | grep -c -- '-'; }
kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
send() {  # send COUNT -> sent=N: UDP to port 5000 from A
  netns_exec "$NS_A" timeout 30 "$PKTSH" -e "
    local s = assert(pktsh.sender('$IF_A'))
    print('sent=' .. s:send(pktsh.build.udp4{dport = 5000, payload = 'pktsh-test'}, $1))"
}
cleanup_b() { netns_exec "$NS_B" "$PKTSH" scripts/firewall.lua --cleanup "$@"; }

# --- the dispatcher ---------------------------------------------------------

cat > "$TMP/disp.lua" <<'LUA'
-- disp.lua IFACE [SECONDS]: attaches with attach = "dispatcher", prints
-- how it attached (and why not through the dispatcher), counts packets.
local fw, err = pktsh.xdp(arg[1], {attach = "dispatcher"})
if not fw then print("err " .. err); os.exit(1) end
local i = fw:info()
print("attach=" .. i.attach .. " prog=" .. i.prog_id)
print("note " .. (i.note or "")); io.stdout:flush()
local stop = pktsh.now() + tonumber(arg[2] or 0) * 1e9
while pktsh.now() < stop do os.execute("sleep 0.1") end
print("packets=" .. fw:stats().packets)
fw:close()
LUA
r=$(netns_exec "$NS_B" timeout 30 "$PKTSH" "$TMP/disp.lua" "$IF_B" 2>"$TMP/disp.err")
attach=$(kv attach "$r")
note=$(echo "$r" | sed -n 's/^note //p')
if [ "$attach" = dispatcher ]; then
  pass "dispatcher: attached through libxdp's dispatcher"
elif [ "$attach" = link ]; then
  expect_match "dispatcher: the fallback says why" "$note" "dispatcher.*(freplace|bpffs|libxdp|CAP_)"
  expect_match "dispatcher: the reason is printed once" "$(cat "$TMP/disp.err")" "^pktsh: libxdp"
else
  fail "dispatcher: attach" "$r $(cat "$TMP/disp.err")"
fi
expect_eq "dispatcher: nothing left after exit" "$(xdp_on_b) $(records)" "0 0"

if [ "$attach" = dispatcher ]; then
  # Side by side: another program loaded by xdp-loader counts packets in a
  # map; pktsh's counts them too; both see every packet.
  cat > "$TMP/other.c" <<'C'
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __u64); } seen SEC(".maps");
SEC("xdp") int other(struct xdp_md *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&seen, &k);
	if (v) __sync_fetch_and_add(v, 1);
	return XDP_PASS;
}
char _license[] SEC("license") = "GPL";
C
  if ! clang -O2 -g -target bpf -I"/usr/include/$(gcc -dumpmachine)" -c "$TMP/other.c" \
       -o "$TMP/other.o" 2>"$TMP/cc.err"; then
    skip "dispatcher: side by side" "cannot build the other program: $(head -1 "$TMP/cc.err")"
  elif ! netns_exec "$NS_B" xdp-loader load -m native -p "$BPFFS/other" "$IF_B" "$TMP/other.o" \
       >"$TMP/xl.out" 2>&1; then
    skip "dispatcher: side by side" "xdp-loader: $(tail -1 "$TMP/xl.out")"
  else
    netns_bg "$NS_B" 30 "$TMP/d.out" "$TMP/d.err" "$PKTSH" "$TMP/disp.lua" "$IF_B" 3
    dpid=$BG_PID
    netns_wait_for "$TMP/d.out" "^attach=" 10
    out=$(send 100)
    netns_wait "$dpid"
    seen=$(bpftool map dump pinned "$BPFFS/other/seen" 2>/dev/null | grep -o '"value": [0-9]*' | grep -o '[0-9]*$')
    expect_eq "dispatcher: pktsh's program beside another" "$(kv attach "$(cat "$TMP/d.out")")" dispatcher
    [ "$(kv packets "$(cat "$TMP/d.out")")" -ge 100 ] && [ "${seen:-0}" -ge 100 ] &&
      pass "dispatcher: both programs see the traffic" ||
      fail "dispatcher: both programs see the traffic" "pktsh: $(tail -1 "$TMP/d.out"), other: $seen"
    # kill -9: the program stays (libxdp's pins hold it), the clean-up removes it.
    netns_bg "$NS_B" 30 "$TMP/k.out" "$TMP/k.err" "$PKTSH" "$TMP/disp.lua" "$IF_B" 20
    kpid=$BG_PID
    netns_wait_for "$TMP/k.out" "^attach=" 10
    prog=$(kv prog "$(cat "$TMP/k.out")")
    { kill -9 "$kpid"; netns_wait "$kpid"; } 2>/dev/null
    listed() { netns_exec "$NS_B" xdp-loader status "$IF_B" 2>/dev/null | grep -c "$1"; }
    expect_eq "dispatcher: kill -9 leaves the program in the dispatcher" "$(listed xdp_rules)" 1
    r=$(cleanup_b)
    expect_match "dispatcher: firewall.lua --cleanup detaches it" "$r" "prog [0-9]+: detached"
    expect_eq "dispatcher: pktsh's program gone, the other one kept" "$(listed xdp_rules) $(listed other)" "0 1"
    netns_exec "$NS_B" xdp-loader unload "$IF_B" --all >/dev/null 2>&1
  fi
else
  skip "dispatcher: side by side with xdp-loader's program" "${note:-no dispatcher}"
  skip "dispatcher: kill -9, then firewall.lua --cleanup" \
    "no dispatcher here; the clean-up is tested below on a program attached alone"
fi

# --- owner records and the clean-up ---------------------------------------------

cat > "$TMP/own.lua" <<'LUA'
-- own.lua IFACE: loads pktsh's program unattached and records this process
-- as its owner on IFACE (as an attach through the dispatcher does), then
-- prints its XDP packet count every 0.1 s until it is killed.
local fw = assert(pktsh.xdp(nil))
assert(fw:_own(arg[1]))
print("ready"); io.stdout:flush()
while true do
  print("packets=" .. fw:stats().packets); io.stdout:flush()
  os.execute("sleep 0.1")
end
LUA
owner() {  # owner -> starts own.lua in B; sets OPID and REC, attaches REC to IF_B
  netns_bg "$NS_B" 60 "$TMP/own.out" "$TMP/own.err" "$PKTSH" "$TMP/own.lua" "$IF_B"
  OPID=$BG_PID
  REC=
  netns_wait_for "$TMP/own.out" "^ready" 10 || return 1
  REC=$(ls "$BPFFS/pktsh" | grep "^$OPID-" | head -1)
  [ -n "$REC" ] && ip -n "$NS_B" link set dev "$IF_B" xdpdrv pinned "$BPFFS/pktsh/$REC"
}
stop_owner() { { kill -9 "$OPID"; netns_wait "$OPID"; } 2>/dev/null; }

if ! owner; then
  fail "owner: record made and attached" "$(cat "$TMP/own.err") rec=[$REC]"
  stop_owner; exit 1
fi
expect_match "owner: the record names pid, start time, netns, ifindex, program" \
  "$REC" "^$OPID-[0-9]+-[0-9]+-[0-9]+-[0-9]+$"
expect_eq "owner: the recorded program is attached" "$(xdp_on_b)" 1
out=$(send 50)
sleep 0.3
n=$(tail -1 "$TMP/own.out" | sed -n 's/^packets=//p')
[ "${n:-0}" -ge 50 ] && pass "owner: the program sees the traffic ($n)" ||
  fail "owner: the program sees the traffic" "packets=$n, $out"

r=$(cleanup_b)
expect_match "cleanup: a live owner's program is kept" "$r" "\(running\).*kept: its owner runs"
expect_eq "cleanup: still attached, record kept" "$(xdp_on_b) $(records)" "1 1"

# The same pid started at another time is another process (pid reuse).
IFS=- read -r pid start nsid ifidx prog <<<"$REC"
mv "$BPFFS/pktsh/$REC" "$BPFFS/pktsh/$pid-$((start + 1))-$nsid-$ifidx-$prog"
r=$(cleanup_b)
expect_match "cleanup: a reused pid is not the owner" "$r" "pid $pid \(gone\).*: detached"
expect_eq "cleanup: detached, record removed, the process untouched" \
  "$(xdp_on_b) $(records) $(kill -0 "$OPID" 2>/dev/null && echo running)" "0 0 running"
stop_owner

# kill -9: the program stays; a clean-up from another network namespace
# leaves it, a dry run only lists it, firewall.lua --cleanup removes it.
owner || fail "owner: second record" "$(cat "$TMP/own.err")"
stop_owner
expect_eq "kill -9: the program outlives its owner" "$(xdp_on_b) $(records)" "1 1"
r=$("$PKTSH" scripts/firewall.lua --cleanup 2>&1)
expect_match "cleanup: another namespace's record is left" "$r" "\(gone\).*kept: recorded in another network namespace"
r=$(cleanup_b --dry-run)
expect_match "cleanup --dry-run: lists the record" "$r" "pid $OPID \(gone\) .*: kept"
expect_eq "cleanup --dry-run: changes nothing" "$(xdp_on_b) $(records)" "1 1"
r=$(cleanup_b --json)
expect_match "cleanup: a dead owner's program is detached" "$r" "\"action\":\"detached\""
expect_eq "cleanup: no program, no record left" "$(xdp_on_b) $(records)" "0 0"
out=$(send 10)
expect_eq "cleanup: traffic flows" "$(kv sent "$out")" 10

# The next attach cleans up first: through the dispatcher (as asked), and
# a link attach that finds a dead pktsh's program in its way.
for how in dispatcher link; do
  owner || fail "owner: record for the $how attach" "$(cat "$TMP/own.err")"
  stop_owner
  r=$(netns_exec "$NS_B" timeout 30 "$PKTSH" -e "
    local fw = assert(pktsh.xdp('$IF_B', {attach = '$how'}))
    print('attach=' .. fw:info().attach); fw:close()" 2>&1)
  expect_match "$how attach: a dead owner's program is cleaned up first" "$r" "attach=(link|dispatcher)"
  expect_eq "$how attach: nothing left after" "$(xdp_on_b) $(records)" "0 0"
done

# Closing a rule set removes its record.
r=$(netns_exec "$NS_B" "$PKTSH" -e "
  local fw = assert(pktsh.xdp(nil)); assert(fw:_own('$IF_B'))
  local n = #assert(pktsh.xdp.cleanup{dry_run = true}); fw:close()
  print(n, #assert(pktsh.xdp.cleanup{dry_run = true}))" 2>&1)
expect_eq "close: the record goes with the rule set" "$r" "1	0"
r=$(netns_exec "$NS_B" "$PKTSH" -e "local fw = assert(pktsh.xdp(nil)); print(fw:_own('pkNone9'))" 2>&1)
expect_match "own: a bad interface is nil, err" "$r" "^nil	no such interface 'pkNone9'"
