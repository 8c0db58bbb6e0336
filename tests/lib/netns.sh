# netns.sh - two hosts joined by a veth pair, for live tests. Source it
# after tests/lib/sh.sh:
#
#   . tests/lib/sh.sh
#   . tests/lib/netns.sh
#   netns_require "live"          # prints "skipped: live: why" and exits 0 if it cannot run
#   netns_setup                   # $NS_A/$NS_B, $IF_A/$IF_B, addresses below
#   netns_exec "$NS_B" CMD...     # run CMD in a namespace (foreground)
#   netns_bg "$NS_B" 10 OUT ERR CMD...   # background, killed after 10 s;
#   ...                                  # its pid is in $BG_PID
#   netns_wait "$BG_PID"; rc=$?   # wait for it, stop its watchdog;
#                                 # NETNS_TIMED_OUT=1 if the watchdog fired
#   netns_wait_for FILE REGEX SECS   # poll for a "ready" line
#   netns_wait_capture PID NSOCK SECS   # poll until PID catches SIGINT and holds NSOCK sockets
#
# Use netns_exec/netns_bg rather than `ip netns exec CMD &`: ip forks and
# waits, so `kill $!` stops ip and leaves CMD running. Here $BG_PID is
# CMD's own pid (nsenter, unshare and sh all exec), so a signal from the
# test or the watchdog (SIGTERM after SECS, SIGKILL 2 s later) reaches it,
# and /proc/$BG_PID/status is CMD's.
#
# Hosts: A has $IF_A = 198.18.0.1/24, 2001:2::1/64 (MAC $MAC_A); B has
# $IF_B = 198.18.0.2/24, 2001:2::2/64 (MAC $MAC_B). Nothing else is
# routed: traffic cannot leave the pair. Namespace names carry the test's
# pid and a counter, so parallel runs never collide.
#
# Clean-up: on EXIT, INT and TERM (chained before any EXIT trap already
# set, such as sh.sh's), every background job started here is killed by
# pid, any process still inside our namespaces is killed, and the
# namespaces are deleted (which deletes the veth pair).
#
# IPv6 noise: the interfaces get no link-local address (addr_gen_mode 1),
# no DAD (accept_dad 0, addresses added with nodad), no router
# solicitations and no RA processing. Joining the solicited-node groups
# of 2001:2::1/::2 still sends a few MLD reports (the kernel has no switch
# for those) in the first second after the link comes up; netns_setup
# waits NETNS_SETTLE seconds (default 1) so they are over before a test
# starts. A test that counts every packet should still use a filter
# ("udp", "udp port 5000") or count only its own packets.
#
# bpffs: a fresh /sys for the namespace hides /sys/fs/bpf;
# netns_exec and netns_bg mount a bpffs there again when it is missing.

NETNS_LIST=()      # namespaces to delete
NETNS_PIDS=()      # background jobs to kill
NETNS_SEQ=0
NETNS_SETTLE=${NETNS_SETTLE:-1}

# netns_require NAME: skip (exit 0) unless we can make namespaces and veths.
netns_require() {
  local name=${1:-netns}
  if [ "$(id -u)" != 0 ]; then
    skip "$name" "needs root (network namespaces and veth pairs)"; exit 0
  fi
  if ! command -v ip >/dev/null 2>&1 || ! ip netns list >/dev/null 2>&1; then
    skip "$name" "'ip netns' not available (install iproute2)"; exit 0
  fi
  if ! command -v nsenter >/dev/null 2>&1 || ! command -v unshare >/dev/null 2>&1; then
    skip "$name" "nsenter/unshare not available (install util-linux)"; exit 0
  fi
  local probe="pktsh-probe-$$-$RANDOM"
  if ! ip netns add "$probe" 2>/dev/null; then
    skip "$name" "cannot create a network namespace here"; exit 0
  fi
  if ! ip -n "$probe" link add pa type veth peer name pb 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null
    skip "$name" "cannot create a veth pair (no veth module?)"; exit 0
  fi
  ip netns del "$probe" 2>/dev/null
  return 0
}

netns_cleanup() {
  local p ns running
  # Only our own jobs still running (a finished job's pid may be reused).
  running=" $(jobs -p 2>/dev/null | tr '\n' ' ') "
  for p in "${!NETNS_WATCHDOG[@]}"; do   # TERM: a watchdog ends its sleep
    kill -TERM "${NETNS_WATCHDOG[$p]}" 2>/dev/null
    wait "${NETNS_WATCHDOG[$p]}" 2>/dev/null
  done
  NETNS_WATCHDOG=()
  for p in "${NETNS_PIDS[@]}"; do
    [[ $running == *" $p "* ]] && { kill -9 "$p"; wait "$p"; } 2>/dev/null
  done
  for ns in "${NETNS_LIST[@]}"; do
    # Anything still running inside one of our namespaces is ours.
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  done
  for ns in "${NETNS_LIST[@]}"; do ip netns del "$ns" 2>/dev/null; done
  NETNS_LIST=(); NETNS_PIDS=()
}

# Installs the traps once, running netns_cleanup before the EXIT trap that
# was already there.
_netns_traps() {
  [ -n "${_NETNS_TRAPPED:-}" ] && return
  _NETNS_TRAPPED=1
  local prev=""
  eval "set -- $(trap -p EXIT)"
  [ $# -ge 3 ] && prev=$3
  trap "netns_cleanup; $prev" EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

_netns_sysctl() {  # NS KEY=VALUE...
  local ns=$1; shift
  ip netns exec "$ns" sysctl -q -w "$@" >/dev/null 2>&1
}

# netns_setup: makes the two hosts; exports NS_A NS_B IF_A IF_B MAC_A MAC_B.
netns_setup() {
  _netns_traps
  NETNS_SEQ=$((NETNS_SEQ + 1))
  local tag="$$-$NETNS_SEQ"
  NS_A="pktsh-$tag-a"; NS_B="pktsh-$tag-b"
  # Interface names live inside the namespaces, so short fixed ones do.
  IF_A="pkA$NETNS_SEQ"; IF_B="pkB$NETNS_SEQ"
  MAC_A="02:00:c6:12:00:01"; MAC_B="02:00:c6:12:00:02"
  export NS_A NS_B IF_A IF_B MAC_A MAC_B
  ip netns add "$NS_A" || return 1
  NETNS_LIST+=("$NS_A")
  ip netns add "$NS_B" || return 1
  NETNS_LIST+=("$NS_B")
  ip -n "$NS_A" link add "$IF_A" address "$MAC_A" type veth \
     peer name "$IF_B" address "$MAC_B" netns "$NS_B" || return 1
  local ns if
  for ns in "$NS_A" "$NS_B"; do
    if [ "$ns" = "$NS_A" ]; then if=$IF_A; else if=$IF_B; fi
    _netns_sysctl "$ns" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      "net.ipv6.conf.$if.accept_dad=0" "net.ipv6.conf.$if.dad_transmits=0" \
      "net.ipv6.conf.$if.router_solicitations=0" "net.ipv6.conf.$if.accept_ra=0" \
      "net.ipv6.conf.$if.addr_gen_mode=1"
    ip -n "$ns" link set lo up
  done
  ip -n "$NS_A" addr add 198.18.0.1/24 dev "$IF_A" || return 1
  ip -n "$NS_B" addr add 198.18.0.2/24 dev "$IF_B" || return 1
  ip -n "$NS_A" -6 addr add 2001:2::1/64 dev "$IF_A" nodad || return 1
  ip -n "$NS_B" -6 addr add 2001:2::2/64 dev "$IF_B" nodad || return 1
  ip -n "$NS_A" link set "$IF_A" up || return 1
  ip -n "$NS_B" link set "$IF_B" up || return 1
  # Both ends report carrier once both are up.
  local i
  for i in $(seq 1 50); do
    ip -n "$NS_A" link show "$IF_A" | grep -q 'state UP' &&
      ip -n "$NS_B" link show "$IF_B" | grep -q 'state UP' && break
    sleep 0.1
  done
  sleep "$NETNS_SETTLE"
  return 0
}

# netns_exec NS CMD...: runs CMD in NS with the namespace's own /sys
# (and a bpffs on /sys/fs/bpf), as `ip netns exec` does, but CMD keeps the
# pid this shell started: `ip netns exec` forks and waits, so a signal
# sent to $! would reach ip, not CMD, and leave CMD running.
_NETNS_ENTER='umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys 2>/dev/null
  [ -d /sys/fs/bpf ] && mount -t bpf bpf /sys/fs/bpf 2>/dev/null
  exec "$@"'
netns_exec() {
  local ns=$1; shift
  nsenter --net="/run/netns/$ns" unshare --mount --propagation private \
    sh -c "$_NETNS_ENTER" netns_exec "$@"
}

# netns_bg NS SECONDS OUT ERR CMD...: starts CMD in NS in the background,
# output to the files OUT and ERR. A watchdog sends CMD itself (not a
# wrapper) SIGTERM after SECONDS, then SIGKILL 2 s later. Sets BG_PID.
netns_bg() {
  local ns=$1 secs=$2 out=$3 err=$4; shift 4
  _netns_traps
  # exec: the background subshell becomes nsenter, then CMD (same pid).
  ( exec nsenter --net="/run/netns/$ns" unshare --mount --propagation private \
      sh -c "$_NETNS_ENTER" netns_exec "$@" ) >"$out" 2>"$err" </dev/null &
  BG_PID=$!
  NETNS_PIDS+=("$BG_PID")
  _netns_watchdog "$BG_PID" "$secs"
}

# Watchdog for a pid; its own pid goes into NETNS_WATCHDOG[pid]. It holds
# no file descriptor of the test (a $(...) never waits for it) and waits
# with bash's read -t on a private fifo, so it leaves no sleep behind.
declare -A NETNS_WATCHDOG=()
_netns_watchdog() {
  local pid=$1 secs=$2
  local mark="${TMP:-/tmp}/.netns-watchdog-$pid" fifo="${TMP:-/tmp}/.netns-fifo-$pid"
  rm -f "$mark" "$fifo"; mkfifo "$fifo"
  (
    trap 'exit 0' TERM
    exec 3<>"$fifo"
    read -r -t "$secs" -u 3
    kill -0 "$pid" 2>/dev/null || exit 0
    : >"$mark"
    kill -TERM "$pid" 2>/dev/null || exit 0
    read -r -t 2 -u 3
    kill -KILL "$pid" 2>/dev/null
  ) </dev/null >/dev/null 2>&1 &
  NETNS_WATCHDOG[$pid]=$!
}

# netns_wait PID: waits for a job from netns_bg and stops its watchdog.
# Returns the job's exit status (143/137 if the watchdog had to stop it;
# NETNS_TIMED_OUT is then 1).
netns_wait() {
  local pid=$1 rc w
  wait "$pid"; rc=$?
  w=${NETNS_WATCHDOG[$pid]:-}
  NETNS_TIMED_OUT=0
  if [ -n "$w" ]; then
    kill -TERM "$w" 2>/dev/null; wait "$w" 2>/dev/null
    [ -e "${TMP:-/tmp}/.netns-watchdog-$pid" ] && NETNS_TIMED_OUT=1
    rm -f "${TMP:-/tmp}/.netns-watchdog-$pid" "${TMP:-/tmp}/.netns-fifo-$pid"
    unset "NETNS_WATCHDOG[$pid]"
  fi
  return $rc
}

# netns_wait_for FILE REGEX SECONDS: polls until FILE matches (0) or time
# runs out (1). For "the capture is ready" lines.
netns_wait_for() {
  local file=$1 re=$2 secs=$3 i
  for i in $(seq 1 $((secs * 20))); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

# netns_wait_capture PID NSOCK SECONDS: polls until PID has its SIGINT
# handler installed and holds NSOCK sockets or more (a capture's rings:
# one per worker), then 0; 1 when time runs out. A fixed sleep before
# sending or signalling loses packets or the signal under a slow build
# (TSan) or a loaded machine.
netns_wait_capture() {
  local pid=$1 nsock=$2 secs=$3 i caught n
  for i in $(seq 1 $((secs * 20))); do
    caught=$(sed -n 's/^SigCgt:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)
    if [ -n "$caught" ] && (( 0x$caught & 2 )); then
      n=$(ls -l "/proc/$pid/fd" 2>/dev/null | grep -c 'socket:')
      [ "$n" -ge "$nsock" ] && { sleep 0.2; return 0; }
    fi
    sleep 0.05
  done
  return 1
}
