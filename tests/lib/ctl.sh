# ctl.sh - drives a pktsh session in a network namespace through a pipe,
# a command a line (source it after tests/lib/netns.sh, with NS_A/NS_B and
# IF_A/IF_B from netns_setup). The script's side is tests/lib/ctlserve.lua.
#   ctl_start NS SCRIPT ARGS...   starts `pktsh SCRIPT ARGS... FIFO` in NS
#                                 (240 s watchdog); sets CTL_PID
#   ctl COMMAND...                sends one line, prints the reply (the
#                                 text after "R<n> "), or "timeout" after 30 s
#   send SPEC                     pktsh tests/lib/send.lua IF_A in NS_A:
#                                 prints sent=N (SEND_END=1: the END marker too)
#   ctl_kv KEY TEXT [DEFAULT]     the value of KEY=... in "k=v k=v" TEXT
#   xdp_on_b                      1 when IF_B has an XDP program, else 0
export LUA_PATH="$PWD/tests/lib/?.lua;${LUA_PATH:-;;}"

ctl_start() {
  local ns=$1; shift
  mkfifo "$TMP/ctl.in"
  netns_bg "$ns" 240 "$TMP/ctl.out" "$TMP/ctl.err" "$PKTSH" "$@" "$TMP/ctl.in"
  CTL_PID=$BG_PID
  exec 7>"$TMP/ctl.in"
  echo 0 >"$TMP/ctl.seq"      # a file: ctl runs inside $(...) subshells
}

ctl() {
  local seq=$(( $(cat "$TMP/ctl.seq") + 1 ))
  echo "$seq" >"$TMP/ctl.seq"
  echo "$*" >&7
  if ! netns_wait_for "$TMP/ctl.out" "^R$seq " 30; then echo "timeout"; return 1; fi
  grep "^R$seq " "$TMP/ctl.out" | head -1 | cut -d' ' -f2-
}

send() {
  SEND_SPEC=$1 netns_exec "$NS_A" timeout 60 "$PKTSH" "$PWD/tests/lib/send.lua" "$IF_A"
}

ctl_kv() {
  local v; v=$(echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"); echo "${v:-${3:-}}"
}

xdp_on_b() { ip -n "$NS_B" link show "$IF_B" | grep -c 'prog/xdp'; }
