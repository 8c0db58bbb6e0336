#!/usr/bin/env bash
# Reports redrawn in place fit the terminal (issue 16 item 3), driven in
# tmux as a user sees them: toptalkers --packets on a 100-column terminal
# and dnsstats --interval 1 on 80x24 leave one copy of their table, not a
# stack of them; a table taller than the terminal is cut with a marker and
# keeps its first (headline) lines; a resize (SIGWINCH) redraws the whole
# screen at the new size. Counts copies in tmux's whole history.
. tests/lib/sh.sh

if ! command -v tmux >/dev/null || ! command -v python3 >/dev/null; then
  skip "terminal reports" "tmux or python3 is not installed (make deps)"; exit 0
fi
# a server (socket) of its own per window: a new server on the socket of
# one still exiting fails ("server exited unexpectedly")
N=0
SOCK="pktsh-test-$$-0"
trap 'tmux -L "$SOCK" kill-server 2>/dev/null; rm -rf "$TMP"' EXIT
new_server() {
  tmux -L "$SOCK" kill-server 2>/dev/null
  N=$((N + 1)); SOCK="pktsh-test-$$-$N"
}

# slow.py FILE SECONDS: the capture FILE on stdout, its records spread
# over SECONDS (a pipe that fills as a live capture would).
cat > "$TMP/slow.py" <<'EOF'
import struct, sys, time
data = open(sys.argv[1], "rb").read()
out, pos, recs = sys.stdout.buffer, 24, []
while pos < len(data):
    n = 16 + struct.unpack_from("<I", data, pos + 8)[0]
    recs.append(data[pos:pos + n]); pos += n
out.write(data[:24]); out.flush()
for r in recs:
    out.write(r); out.flush()
    time.sleep(float(sys.argv[2]) / len(recs))
EOF

# in_tmux COLSxROWS CMD: runs CMD (a shell line) in a fresh tmux window of
# that size; $TMP/screen is then the window's whole history.
in_tmux() {
  local cols=${1%x*} rows=${1#*x} i
  new_server
  rm -f "$TMP/done"
  tmux -L "$SOCK" -f /dev/null new-session -d -x "$cols" -y "$rows" -s t \
    "cd '$PWD' && env LANG=C.UTF-8 TERM=xterm $2; touch '$TMP/done'; sleep 60"
  for i in $(seq 1 600); do [ -e "$TMP/done" ] && break; sleep 0.05; done
  tmux -L "$SOCK" capture-pane -p -S - -t t >"$TMP/screen"
}
copies() { grep -c -- "$1" "$TMP/screen"; }
widest() { awk '{ if (length($0) > w) w = length($0) } END { print w + 0 }' "$TMP/screen"; }

# toptalkers --packets, 100 columns: each redraw replaces the last
in_tmux 100x24 "python3 $TMP/slow.py tests/pcaps/dnscap__dns.pcap 3 |
  $PKTSH scripts/toptalkers.lua --packets --interval 0.2 --ascii -"
expect_eq "toptalkers --packets at 100 columns: one copy of the table" "$(copies '#  src (packets)')" 1
[ "$(widest)" -le 100 ] && pass "... no line wider than the terminal" \
  || fail "... no line wider than the terminal" "$(widest) columns"

# dnsstats --interval 1 at 80x24: the running table fits, headline kept
in_tmux 80x24 "$PKTSH scripts/dnsstats.lua --interval 1 --ascii tests/pcaps/dnscap__dns.pcap"
expect_eq "dnsstats --interval 1 at 80x24: one copy of the running table" \
  "$(copies 'dnsstats tests/pcaps/dnscap__dns.pcap (running)')" 1
expect_match "... its headline counters stayed on screen" "$(cat "$TMP/screen")" \
  "\(running\)"$'\n'"packets [0-9]+ +DNS messages"
# ... on 80x12 the running table is taller than the terminal: cut, marked
in_tmux 80x12 "$PKTSH scripts/dnsstats.lua --interval 1 --ascii tests/pcaps/dnscap__dns.pcap"
expect_eq "dnsstats --interval 1 at 80x12: one copy of the running table" \
  "$(copies 'dnsstats tests/pcaps/dnscap__dns.pcap (running)')" 1
expect_match "... cut to the terminal's height, the cut marked" "$(cat "$TMP/screen")" \
  "^\.\.\. [0-9]+ more lines? \(the terminal is 12 rows high\)"
expect_match "... below its headline counters" "$(cat "$TMP/screen")" "^packets [0-9]+ +DNS messages"

# a resize while toptalkers runs: the screen is redrawn at the new width
new_server
rm -f "$TMP/done"
tmux -L "$SOCK" -f /dev/null new-session -d -x 120 -y 30 -s t \
  "cd '$PWD' && env LANG=C.UTF-8 TERM=xterm sh -c 'python3 $TMP/slow.py tests/pcaps/dnscap__dns.pcap 4 |
   $PKTSH scripts/toptalkers.lua --packets --interval 0.2 --ascii -'; touch '$TMP/done'; sleep 60"
sleep 1.5
tmux -L "$SOCK" resize-window -t t -x 70 -y 20
for i in $(seq 1 200); do [ -e "$TMP/done" ] && break; sleep 0.05; done
tmux -L "$SOCK" capture-pane -p -t t >"$TMP/screen"
expect_eq "after a resize (SIGWINCH) one copy of the table is on screen" "$(copies '#  src (packets)')" 1
[ "$(widest)" -le 70 ] && pass "... drawn at the new width" || fail "... drawn at the new width" "$(widest) columns"
