#!/usr/bin/env bash
# Privileges as tcpdump does them (issue 9, item 7), as root:
#  - -Z USER drops after the first source of any kind: a capture file,
#    files read by -j workers (every thread), an XDP source, a sender;
#    /proc shows USER's ids, no capabilities (bounding set included) and
#    no_new_privs, and the capture still works after the drop;
#  - output files never follow a planted symbolic link (pcap writer,
#    dump.lua -w, chart files, the REPL history); a hard link is
#    replaced, not truncated;
#  - a pktsh with file capabilities (AT_SECURE) refuses -e, the REPL,
#    scripts on stdin and code-choosing environment variables, and runs
#    only root-owned scripts;
#  - no error message or README line recommends setcap on pktsh.
# Traffic: only between our namespaces (tests/lib/netns.sh), 50 frames.
. tests/lib/sh.sh

if [ "$(id -u)" != 0 ]; then skip "privileges" "needs root"; exit 0; fi
if ! id nobody >/dev/null 2>&1 || ! command -v setpriv >/dev/null; then
  skip "privileges" "needs the user nobody and setpriv (util-linux)"; exit 0
fi
NB_UID=$(id -u nobody); NB_GID=$(id -g nobody)
# nobody must reach the files: $TMP is private (0700).
chmod 755 "$TMP"
SH=$TMP/shared; mkdir "$SH"; chmod 1777 "$SH"
cp tests/pcaps/dnscap__dns.pcap tests/pcaps/dnscap__dns6.pcap "$SH/"
chmod 644 "$SH"/*.pcap

# dropped NAME STATUS_TEXT: the /proc/PID/status checks after -Z nobody.
dropped() {
  local name=$1 st=$2
  expect_match "$name: uid is nobody's (real, effective, saved, fs)" "$(echo "$st" | grep ^Uid:)" \
    "^Uid:\s+$NB_UID\s+$NB_UID\s+$NB_UID\s+$NB_UID$"
  expect_match "$name: gid is nobody's" "$(echo "$st" | grep ^Gid:)" \
    "^Gid:\s+$NB_GID\s+$NB_GID\s+$NB_GID\s+$NB_GID$"
  expect_match "$name: no supplementary root group" "$(echo "$st" | grep ^Groups:)" \
    "^Groups:(\s+$NB_GID)?\s*$"
  local c
  for c in CapInh CapPrm CapEff CapBnd CapAmb; do
    expect_match "$name: $c empty" "$(echo "$st" | grep "^$c:")" "^$c:\s+0+$"
  done
  expect_match "$name: NoNewPrivs set" "$(echo "$st" | grep ^NoNewPrivs:)" "^NoNewPrivs:\s+1$"
}

# --- -Z with a capture file ---------------------------------------------
out=$("$PKTSH" -Z nobody -e "
  local src = assert(pktsh.open('$SH/dnscap__dns.pcap'))
  io.write(io.open('/proc/self/status'):read('*a'))
  local n = 0
  src:each(function() n = n + 1 end)
  print('PACKETS', n)
  -- a program started now inherits the drop and cannot undo it
  os.execute('grep -E \"^(CapBnd|NoNewPrivs):\" /proc/self/status | sed s/^/CHILD-/')" 2>&1)
dropped "-Z nobody, capture file" "$out"
expect_match "-Z nobody, capture file: the file reads whole after the drop" "$out" "^PACKETS	133$|
PACKETS	133"
expect_match "-Z nobody, capture file: a child keeps an empty bounding set" "$out" "CHILD-CapBnd:\s+0+"
expect_match "-Z nobody, capture file: ... and no_new_privs" "$out" "CHILD-NoNewPrivs:\s+1"

# --- -Z with files read by -j workers: every thread dropped ------------------
cat > "$TMP/zw.lua" <<'LUA'
local M = {}
function M.work(src)
  local s = io.open("/proc/thread-self/status"):read("*a")
  local n = 0
  src:each(function() n = n + 1 end)
  local ok = s:match("\nCapBnd:%s*0+\n") and s:match("\nCapEff:%s*0+\n")
    and s:match("\nNoNewPrivs:%s*1\n") and s:match("\nUid:%s*" .. arg[3] .. "%s")
  return {n = n, dropped = ok and 1 or 0}
end
function M.main()
  local r, st = pktsh.parallel({arg[1], arg[2]}, {workers = 2}, M.work)
  if not r then print("ERR", st) return end
  print("WORKERS", r.n, r.dropped)
  io.write(io.open("/proc/self/status"):read("*a"))
end
return pktsh.main(M)
LUA
out=$("$PKTSH" -Z nobody -j 2 "$TMP/zw.lua" "$SH/dnscap__dns.pcap" "$SH/dnscap__dns6.pcap" "$NB_UID" 2>&1)
n6=$("$PKTSH" -e "local n = 0 pktsh.open('$SH/dnscap__dns6.pcap'):each(function() n = n + 1 end) print(n)")
expect_match "-Z nobody -j 2 on files: both workers read, both threads dropped" "$out" \
  "^WORKERS	$((133 + n6))	2$"
dropped "-Z nobody -j 2 on files, main thread" "$out"

# --- -Z refused when it cannot be honoured ----------------------------------
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$PKTSH" -Z nobody -e "
  print(pktsh.open('$SH/dnscap__dns.pcap'))
  print(pktsh.open('$SH/dnscap__dns.pcap'))" 2>&1)
expect_match "-Z without root: the open fails and says why" "$out" "^nil	-Z nobody: only root can become another user"
expect_eq "-Z without root: every later open fails too" "$(echo "$out" | grep -c '^nil	-Z nobody: only root')" 2

# --- output files never follow a planted link --------------------------------
echo "VICTIM DATA" > "$TMP/victim"; chmod 644 "$TMP/victim"
victim_sum=$(md5sum < "$TMP/victim")
setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$TMP/victim" "$SH/out.pcap"
out=$("$PKTSH" -e "print(pktsh.pcap_writer('$SH/out.pcap'))" 2>&1)
expect_match "planted symlink: the writer refuses it, naming the problem" "$out" \
  "^nil	'$SH/out.pcap' is a symbolic link: pktsh does not write through a link"
expect_eq "planted symlink: the victim is untouched" "$(md5sum < "$TMP/victim")" "$victim_sum"
expect_eq "planted symlink: the link is left as it was" "$(readlink "$SH/out.pcap")" "$TMP/victim"
out=$("$PKTSH" scripts/dump.lua -w "$SH/out.pcap" "$SH/dnscap__dns.pcap" 2>&1); rc=$?
expect_match "planted symlink: dump.lua -w fails with the reason" "$rc:$out" "^[1-9][0-9]*:.*symbolic link"
expect_eq "planted symlink: ... victim still untouched" "$(md5sum < "$TMP/victim")" "$victim_sum"
out=$("$PKTSH" -e "print(require('pktsh.report.export').write_file('$SH/out.pcap', 'chart'))" 2>&1)
expect_match "planted symlink: chart files refuse it too" "$out" "^nil	.*symbolic link"
expect_eq "planted symlink: ... victim still untouched" "$(md5sum < "$TMP/victim")" "$victim_sum"
rm -f "$SH/out.pcap"

# A hard link (root can make one to anything) is replaced, not truncated.
ln "$TMP/victim" "$SH/hard.pcap"
out=$("$PKTSH" scripts/dump.lua -w "$SH/hard.pcap" "$SH/dnscap__dns.pcap" 2>&1); rc=$?
expect_eq "hard link at the output path: dump.lua -w succeeds" "$rc" 0
expect_eq "hard link at the output path: the victim is untouched" "$(md5sum < "$TMP/victim")" "$victim_sum"
if command -v tcpdump >/dev/null; then
  expect_eq "hard link at the output path: the new file is a whole capture" \
    "$(tcpdump -n -r "$SH/hard.pcap" 2>/dev/null | wc -l)" 133
fi
expect_eq "no temporary file is left beside the output" "$(ls -A "$SH" | grep -c '^\.')" 0

# The REPL's history file: readline would write through a link.
if command -v script >/dev/null; then
  setpriv --reuid=nobody --regid=nogroup --clear-groups ln -s "$TMP/victim" "$SH/history"
  out=$(printf 'x = 1\n' | PKTSH_HISTORY="$SH/history" timeout 20 script -qec "$PKTSH" /dev/null 2>&1)
  expect_match "planted symlink as the REPL history: not used, and said" "$out" \
    "not using the history file $SH/history: it is a symbolic link"
  expect_eq "planted symlink as the REPL history: the victim is untouched" "$(md5sum < "$TMP/victim")" "$victim_sum"
else
  skip "planted symlink as the REPL history" "no script(1) for a terminal"
fi

# An existing regular file is replaced; a FIFO is written as it is; "-" is stdout.
echo old > "$SH/plain.pcap"
"$PKTSH" scripts/dump.lua -w "$SH/plain.pcap" "$SH/dnscap__dns.pcap" >/dev/null 2>&1
expect_eq "an existing file is replaced by the capture" \
  "$("$PKTSH" -e "local n = 0 pktsh.open('$SH/plain.pcap'):each(function() n = n + 1 end) print(n)")" 133
mkfifo "$TMP/fifo"
( cat "$TMP/fifo" > "$TMP/from-fifo.pcap" ) &
cat_pid=$!
"$PKTSH" scripts/dump.lua -w "$TMP/fifo" "$SH/dnscap__dns.pcap" >/dev/null 2>&1
wait "$cat_pid"
expect_eq "a FIFO at the output path is written through" \
  "$("$PKTSH" -e "local n = 0 pktsh.open('$TMP/from-fifo.pcap'):each(function() n = n + 1 end) print(n)")" 133
expect_eq "'-' writes the capture to standard output" \
  "$("$PKTSH" scripts/dump.lua -w - "$SH/dnscap__dns.pcap" 2>/dev/null | "$PKTSH" -e "local n = 0 pktsh.open('-'):each(function() n = n + 1 end) print(n)")" 133

# --- secure-execution mode: a copy of pktsh with a file capability ---------
SEC=$TMP/sec; mkdir "$SEC"; chmod 755 "$SEC"
cp "$PKTSH" "$SEC/pktsh"; chmod 755 "$SEC/pktsh"
if ! command -v setcap >/dev/null || ! setcap cap_net_raw+ep "$SEC/pktsh" 2>/dev/null; then
  skip "secure-execution mode" "cannot set a file capability here (setcap missing or no xattrs)"
else
  printf 'print("SCRIPT RAN", select("#", ...), package.path == "" and "nopath" or package.path)\n' \
    > "$SEC/ok.lua"
  printf 'print("CAPS", io.open("/proc/self/status"):read("*a"):match("CapEff:%%s*(%%x+)"))\n' \
    > "$SEC/caps.lua"
  printf 'print(pcall(require, "evil"))\n' > "$SEC/req.lua"
  chmod 644 "$SEC"/*.lua
  cp "$SEC/ok.lua" "$SH/theirs.lua"; chown nobody "$SH/theirs.lua"
  mkdir "$TMP/open"; chmod 777 "$TMP/open"; cp "$SEC/ok.lua" "$TMP/open/ok.lua"
  echo 'print("EVIL RAN")' > "$SH/evil.lua"; chmod 644 "$SH/evil.lua"
  asnobody() { (cd "$SH" && setpriv --reuid=nobody --regid=nogroup --clear-groups env -u LUA_PATH "$@" 2>&1); }
  out=$(asnobody "$SEC/pktsh" "$SEC/caps.lua")
  expect_match "secure mode: the copy really runs with CAP_NET_RAW" "$out" "^CAPS	0*2000$"
  # refused: each says what and why, runs nothing
  out=$(asnobody "$SEC/pktsh" -e 'print("CHUNK RAN")'); rc=$?
  expect_match "secure mode: -e refused" "$rc:$out" "^1:pktsh: refusing -e: this pktsh has file capabilities"
  out=$(asnobody "$SEC/pktsh" </dev/null); rc=$?
  expect_match "secure mode: the REPL refused" "$rc:$out" "^1:pktsh: refusing the REPL"
  out=$(asnobody "$SEC/pktsh" -i "$SEC/ok.lua" </dev/null); rc=$?
  expect_match "secure mode: -i refused" "$rc:$out" "^1:pktsh: refusing the REPL"
  out=$(asnobody "$SEC/pktsh" - < "$SEC/ok.lua"); rc=$?
  expect_match "secure mode: a script on stdin refused" "$rc:$out" "^1:pktsh: refusing a script on standard input"
  for v in PKTSH_PATH LUA_PATH LUA_CPATH LUA_INIT; do
    out=$(asnobody "$v=$SH" "$SEC/pktsh" "$SEC/ok.lua"); rc=$?
    expect_match "secure mode: $v refused" "$rc:$out" "^1:pktsh: refusing $v from the environment"
  done
  out=$(asnobody "$SEC/pktsh" "$SH/theirs.lua"); rc=$?
  expect_match "secure mode: a script the caller owns is refused" "$rc:$out" \
    "^1:pktsh: refusing to run '$SH/theirs.lua': .*owned by root"
  out=$(asnobody "$SEC/pktsh" "$TMP/open/ok.lua"); rc=$?
  expect_match "secure mode: a script in a directory others can write is refused" "$rc:$out" \
    "^1:pktsh: refusing to run '$TMP/open/ok.lua': .*\($TMP/open is not\)"
  # allowed: a root-owned script, with no path to the caller's modules
  out=$(asnobody "$SEC/pktsh" "$SEC/ok.lua" a b); rc=$?
  expect_eq "secure mode: a root-owned script runs, with no package.path" "$rc:$out" "0:SCRIPT RAN	2	nopath"
  out=$(asnobody "$SEC/pktsh" "$SEC/req.lua")
  expect_match "secure mode: require does not look in the caller's directory" "$out" "^false	module 'evil' not found"
  out=$("$SEC/pktsh" -e 'print("ROOT CHUNK")' 2>&1)
  expect_eq "root running the same copy is not in secure mode" "$out" "ROOT CHUNK"
fi

# --- no advice to setcap the interpreter ------------------------------------------
expect_eq "no message in the binary recommends setcap" "$(strings "$PKTSH" | grep -ci setcap)" 0
expect_eq "the README does not recommend setcap cap_net_raw,cap_net_admin+ep" \
  "$(grep -c 'setcap cap_net' README.md)" 0

# --- XDP and a sender under -Z, between two namespaces ---------------------------
. tests/lib/netns.sh
netns_require "privileges: XDP and sender under -Z"
netns_setup || { fail "privileges: netns setup" "could not create the veth pair"; exit 0; }

cat > "$TMP/xz.lua" <<'LUA'
-- an XDP source copying UDP to port 5000; its rules are added after the drop
local src = assert(pktsh.open{xdp = arg[1], rules = {"proto=udp,dport=5000"}, duration = 6})
io.write(io.open("/proc/self/status"):read("*a"))
print("READY"); io.stdout:flush()
local n = 0
src:each(function(p)
  local u = p:udp()
  if u and u.dport == 5000 then n = n + 1 end
  if n == 50 then return false end
end)
print("COPIED", n)
src:close()
LUA
netns_bg "$NS_B" 20 "$TMP/xz.out" "$TMP/xz.err" "$PKTSH" -Z nobody "$TMP/xz.lua" "$IF_B"
xpid=$BG_PID
if netns_wait_for "$TMP/xz.out" "^READY" 10; then
  out=$(netns_exec "$NS_A" "$PKTSH" -Z nobody -e "
    local s = assert(pktsh.sender('$IF_A'))
    io.write(io.open('/proc/self/status'):read('*a'))
    local f = pktsh.build.udp4{src = '198.18.0.1', dst = '198.18.0.2', sport = 4000, dport = 5000,
                               payload = 'pktsh-test'}
    print('SENT', s:send(f, 50))" 2>&1)
  dropped "-Z nobody, sender" "$out"
  expect_match "-Z nobody, sender: sends after the drop" "$out" "SENT	50"
fi
netns_wait "$xpid"; rc=$?
out=$(cat "$TMP/xz.out")
dropped "-Z nobody, XDP source" "$out"
expect_match "-Z nobody, XDP source: copies arrive after the drop" "$out" "COPIED	50"
expect_eq "-Z nobody, XDP source: exit 0" "$rc/$NETNS_TIMED_OUT" "0/0"
expect_eq "-Z nobody, XDP source: no XDP program left" \
  "$(ip -n "$NS_B" link show "$IF_B" | grep -c 'prog/xdp')" 0
out=$(netns_exec "$NS_B" "$PKTSH" -Z nobody -e "
  print(pktsh.xdp('$IF_B', {attach = 'dispatcher'}))
  print(io.open('/proc/self/status'):read('*a'):match('Uid:%s*(%d+)'))" 2>&1)
expect_match "-Z with attach = \"dispatcher\" is refused, root kept for a later source" "$out" \
  "^nil	attach = \"dispatcher\" cannot be used with -Z.*
0$"
