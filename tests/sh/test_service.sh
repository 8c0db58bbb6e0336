#!/usr/bin/env bash
# make install's service: pktsh-dnsstats@.service is installed with its
# paths filled in, systemd-analyze verify accepts it, and its ExecStart,
# run as systemd would run it (the instance an interface in a network
# namespace, the capability bounding set the unit's), serves /metrics,
# drops to the user with no capability left, and ends cleanly on SIGTERM.
. tests/lib/sh.sh
PFX=$TMP/prefix
if ! make --no-print-directory install PREFIX="$PFX" >"$TMP/install.log" 2>&1; then
  fail "make install" "$(tail -5 "$TMP/install.log")"; exit 0
fi
UNIT=$PFX/lib/systemd/system/pktsh-dnsstats@.service
check "unit installed" test -f "$UNIT"
check "sysusers.d entry installed" grep -q '^u pktsh ' "$PFX/lib/sysusers.d/pktsh.conf"
expect_eq "no placeholder left" "$(grep -c '@[A-Z]*@' "$UNIT")" 0
expect_match "ExecStart: the installed binary and script, -Z, --metrics" "$(grep -A1 '^ExecStart=' "$UNIT")" \
  "^ExecStart=$PFX/bin/pktsh -Z \\$\\{PKTSH_USER\\} $PFX/share/pktsh/scripts/dnsstats.lua"
expect_match "capabilities: only capture and the drop" "$(grep '^CapabilityBoundingSet=' "$UNIT")" \
  "^CapabilityBoundingSet=CAP_NET_RAW CAP_NET_ADMIN CAP_SETUID CAP_SETGID CAP_SETPCAP$"
expect_match "ambient capabilities: capture only" "$(grep '^AmbientCapabilities=' "$UNIT")" \
  "^AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$"
if command -v systemd-analyze >/dev/null 2>&1; then
  cp "$UNIT" "$TMP/pktsh-dnsstats@veth0.service"
  check "systemd-analyze verify" systemd-analyze verify "$TMP/pktsh-dnsstats@veth0.service"
else
  skip "systemd-analyze verify" "systemd-analyze not installed (Debian systemd)"
fi

. tests/lib/netns.sh
netns_require "service: ExecStart"
if ! command -v setpriv >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
  skip "service: ExecStart" "needs setpriv (util-linux), curl and a user nobody"; exit 0
fi
netns_setup

# ExecStart as systemd expands it: ${VAR} one word, $VAR split, %I the instance
cmd=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$UNIT" | sed 's/\\$//' | tr '\n' ' ' | sed 's/^ExecStart=//')
cmd=${cmd//%I/$IF_B}
PKTSH_USER=nobody PKTSH_DNSSTATS_METRICS=127.0.0.1:9553 PKTSH_DNSSTATS_FILTER="port 53" \
  PKTSH_DNSSTATS_OPTS="--top 5"
eval "set -- $cmd"
netns_bg "$NS_B" 60 "$TMP/svc.out" "$TMP/svc.err" setpriv \
  --bounding-set -all,+net_raw,+net_admin,+setuid,+setgid,+setpcap -- "$@"
SVC=$BG_PID
body=""
for _ in $(seq 1 50); do
  body=$(netns_exec "$NS_B" curl -s -m 2 http://127.0.0.1:9553/metrics 2>/dev/null)
  [ -n "$body" ] && break
  sleep 0.2
done
expect_match "the service serves /metrics" "$body" '^pktsh_build_info\{version="[^"]+"\} 1$'
st=/proc/$SVC/status
expect_eq "runs as the user" "$(awk '/^Uid:/ { print $2 }' "$st")" "$(id -u nobody)"
expect_eq "no capability left" "$(awk '/^Cap(Eff|Prm|Bnd|Amb):/ { print $2 }' "$st" | sort -u)" 0000000000000000
expect_eq "no_new_privs" "$(awk '/^NoNewPrivs:/ { print $2 }' "$st")" 1
# (a starter thread that loads libmicrohttpd ends once the server runs)
for _ in $(seq 1 20); do [ "$(awk '/^Threads:/ { print $2 }' "$st")" = 2 ] && break; sleep 0.1; done
expect_eq "threads: the loop, /metrics" "$(awk '/^Threads:/ { print $2 }' "$st")" 2
kill -TERM "$SVC"
netns_wait "$SVC"; rc=$?
expect_eq "SIGTERM: exit 0" "$rc" 0
expect_match "the final report" "$(cat "$TMP/svc.out")" "^dnsstats $IF_B"
