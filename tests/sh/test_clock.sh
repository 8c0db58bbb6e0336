#!/usr/bin/env bash
# The one wait (src/host/clock.c, pktsh.sleep) ends at Ctrl-C and SIGTERM
# (issue 16 item 1): a script sleeping, firewall.lua between its counter
# lines, and the REPL's watch() (firewall.lua -i --no-watch) at Ctrl-C on
# a terminal. They used to sleep through os.execute("sleep 0.1"), and
# system() ignores SIGINT while its child runs.
# XDP parts: host B of a veth pair (tests/lib/netns.sh), generic mode,
# no traffic; the program goes with the namespace.
. tests/lib/sh.sh

# ends_soon NAME SIGNAL WANT_RC CMD...: starts CMD, signals it after 0.7 s,
# ok if it ends with WANT_RC within 2 s of the signal.
ends_soon() {
  local name=$1 sig=$2 want=$3; shift 3
  "$@" >"$TMP/out" 2>"$TMP/err" &
  local pid=$! start ms i rc
  sleep 0.7
  start=$(date +%s%N)
  kill -"$sig" "$pid"
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  ms=$((($(date +%s%N) - start) / 1000000))
  kill -KILL "$pid" 2>/dev/null
  wait "$pid"; rc=$?
  if [ "$rc" = "$want" ] && [ "$ms" -lt 2000 ]; then pass "$name (${ms} ms)"
  else fail "$name" "rc=$rc after ${ms} ms: $(head -c 200 "$TMP/err")"; fi
}

ends_soon "pktsh.sleep(30) ends at SIGINT, the script goes on" INT 0 \
  "$PKTSH" -e 'print(pktsh.sleep(30)); print(pktsh.stopping())'
expect_eq "... sleep said it was stopped" "$(cat "$TMP/out")" $'false\ntrue'
ends_soon "pktsh.sleep(30) ends at SIGTERM" TERM 0 "$PKTSH" -e 'pktsh.sleep(30)'
# a loop of sleeps that does not look at their answer still ends soon
ends_soon "a loop of sleeps ends at SIGINT" INT 0 \
  "$PKTSH" -e 'for i = 1, 100 do pktsh.sleep(1) end'

# --- firewall.lua, and the REPL's watch() -----------------------------------
. tests/lib/netns.sh
netns_require "firewall at Ctrl-C"
netns_setup || { fail "firewall: netns setup" "could not create the veth pair"; exit 0; }

netns_bg "$NS_B" 20 "$TMP/fw.out" "$TMP/fw.err" "$PKTSH" scripts/firewall.lua --skb \
  --interval 1 "$IF_B" proto=udp,dport=9,action=drop
pid=$BG_PID
if netns_wait_for "$TMP/fw.out" "all: " 5; then
  sleep 0.3
  start=$(date +%s%N)
  kill -INT "$pid"
  netns_wait "$pid"; rc=$?
  ms=$((($(date +%s%N) - start) / 1000000))
  if [ "$rc" = 0 ] && [ "$ms" -lt 2000 ]; then pass "firewall.lua ends at one SIGINT (${ms} ms)"
  else fail "firewall.lua ends at one SIGINT" "rc=$rc after ${ms} ms (timed out: $NETNS_TIMED_OUT)"; fi
else
  skip "firewall.lua at SIGINT" "it did not start: $(head -c 200 "$TMP/fw.err")"
  kill -TERM "$pid" 2>/dev/null; netns_wait "$pid"
fi

if ! command -v python3 >/dev/null; then
  skip "watch() at Ctrl-C" "python3 is not installed (make deps)"; exit 0
fi
HOME=$TMP PYTHONPATH=$PWD/tests/lib NS_B=$NS_B IF_B=$IF_B timeout 60 python3 - <<'EOF'
import os, time
from ptysession import Session, check, prompt, BIN, ENV

# pktsh -i firewall.lua --no-watch in host B, on a terminal
enter = ("umount -l /sys 2>/dev/null; mount -t sysfs sysfs /sys 2>/dev/null; "
         "mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec \"$@\"")
argv = ["nsenter", "--net=/run/netns/" + os.environ["NS_B"], "unshare", "--mount",
        "--propagation", "private", "sh", "-c", enter, "sh", BIN, "-i",
        "scripts/firewall.lua", "--no-watch", "--skb", os.environ["IF_B"]]
s = Session(argv=argv, env=dict(ENV, PKTSH_HISTORY=""))
ok = prompt(s)
check("firewall -i --no-watch gives a prompt", ok, s)
s.line("watch()")
ok = s.expect(r"all: \d+ packets", 5)
time.sleep(1.2)
s.send("\x03", 0.2)
ok = ok and s.expect(r"\^C\n> ", 3)
s.line("6*7")
check("Ctrl-C ends watch() and the prompt comes back", ok and s.expect(r"\n42\n> ", 3), s)
s.send("\x04")
check("... and Ctrl-D exits 0", s.wait() == 0, s, "rc=%s " % s.rc)
EOF
[ $? -eq 0 ] || echo "not ok - watch() pty driver failed"
