#!/usr/bin/env bash
# Threads (issue 9, item 8), also `make check-threads`.
#  - Writers opened and closed by fanout workers: -j 8 with writers per
#    worker (rotated, as tcpdump -C does) used to corrupt the writer list
#    (double free, segfault); every file must come out whole.
#  - The emergency flush (a second SIGTERM) walks the list while 8 workers
#    open, write and close writers: every file still ends on a record.
#  - Worker threads block every signal the host handles; the main thread
#    none of SIGINT, SIGTERM, SIGALRM.
#  - The same, the worker unit tests, the metrics server's and the dnstap
#    writer's (tests/unit/test_metrics.lua, test_dnstap.lua) and
#    tests/sh/test_workers.sh again under ThreadSanitizer
#    (build/pktsh-tsan, built here when it can be): any report fails.
# Live traffic only between our namespaces (tests/lib/netns.sh), 3200 frames.
. tests/lib/sh.sh
. tests/lib/netns.sh

read_all() {  # BIN FILE -> "packets" or "ERR why"
  "$1" -e "local src, e = pktsh.open('$2')
    if not src then print('ERR ' .. e) return end
    local n = 0
    local ok, err = src:each(function() n = n + 1 end)
    print(ok and n or ('ERR ' .. tostring(err)))" 2>&1
}

# all_whole BIN DIR [PREFIX]: every PREFIX*.pcap in DIR reads to its end
# without error; prints "files packets" or the first problem.
all_whole() {
  local f r files=0 total=0
  for f in "$2"/${3:-}*.pcap; do
    [ -e "$f" ] || continue
    r=$(read_all "$1" "$f")
    case $r in ''|*[!0-9]*) echo "$f: $r"; return;; esac
    files=$((files + 1)); total=$((total + r))
  done
  echo "$files $total"
}

# --- the work the tests run -------------------------------------------------
# wstress.lua DIR FILE...: each worker opens and closes 300 writers.
cat > "$TMP/wstress.lua" <<'LUA'
local M = {}
function M.main()
  local files = {}
  for i = 2, #arg do files[#files + 1] = arg[i] end
  local r, err = pktsh.parallel(files, {}, M.work, arg[1])
  print(r and ("WRITERS " .. r.n) or ("ERR " .. tostring(err)))
end
function M.work(src, d)
  local me = pktsh.worker()
  local n = 0
  for i = 1, 300 do
    local w = assert(pktsh.pcap_writer(string.format("%s/w%d-%d.pcap", d, me, i % 4)))
    assert(w:write("0123456789abcdef", 1))
    n = n + 1
    assert(w:close())
  end
  src:each(function() end)
  return {n = n}
end
return pktsh.main(M)
LUA

# wflood.lua DIR SECONDS FILE...: each worker writes and rotates writers
# without pause, until SECONDS pass (the test signals it long before).
cat > "$TMP/wflood.lua" <<'LUA'
local M = {}
function M.main()
  local files = {}
  for i = 3, #arg do files[#files + 1] = arg[i] end
  pktsh.parallel(files, {}, M.work, arg[1], tonumber(arg[2]))
end
function M.work(_, d, s)
  local me, stop = pktsh.worker(), pktsh.now() + s * 1e9
  local frame = string.rep("x", 200)
  local i = 0
  while pktsh.now() < stop do
    i = i + 1
    local w = assert(pktsh.pcap_writer(string.format("%s/f%d-%d.pcap", d, me, i % 3)))
    for _ = 1, 500 do assert(w:write(frame, 1)) end
    assert(w:close())
  end
  return {}
end
return pktsh.main(M)
LUA

# spin.lua SECONDS FILE...: workers busy for SECONDS (to look at their masks).
cat > "$TMP/spin.lua" <<'LUA'
local M = {}
function M.spin(_, s)
  local stop = pktsh.now() + s * 1e9
  while pktsh.now() < stop do end
  return {}
end
function M.main()
  local files = {}
  for i = 2, #arg do files[#files + 1] = arg[i] end
  print("READY"); io.stdout:flush()
  pktsh.parallel(files, {}, M.spin, tonumber(arg[1]))
end
return pktsh.main(M)
LUA

F=tests/pcaps/dnscap__dns.pcap
EIGHT="$F $F $F $F $F $F $F $F"

# writers_per_worker BIN LABEL
writers_per_worker() {
  local bin=$1 label=$2 d
  d=$(mktemp -d "$TMP/ww.XXXX")
  out=$(timeout 300 "$bin" -j 8 "$TMP/wstress.lua" "$d" $EIGHT 2>&1); rc=$?
  expect_eq "$label: -j 8, 300 writers opened and closed per worker: exit 0" "$rc" 0
  expect_match "$label: ... every writer counted" "$out" "^WRITERS 2400$"
  expect_eq "$label: ... every file whole" "$(all_whole "$PKTSH" "$d")" "32 32"
}

# flood_and_kill BIN LABEL: a second SIGTERM exits through the emergency
# flush while the workers write.
flood_and_kill() {
  local bin=$1 label=$2 d pid i
  d=$(mktemp -d "$TMP/wf.XXXX")
  "$bin" -j 8 "$TMP/wflood.lua" "$d" 60 $EIGHT >"$d.out" 2>&1 &
  pid=$!
  for i in $(seq 1 300); do
    [ "$(ls "$d" | grep -c '\.pcap$')" -ge 16 ] && break
    sleep 0.1
  done
  sleep 0.5
  kill -TERM "$pid"; sleep 0.2; kill -TERM "$pid" 2>/dev/null
  for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  wait "$pid"; rc=$?
  expect_eq "$label: a second SIGTERM while 8 workers write exits 143" "$rc" 143
  local r
  r=$(all_whole "$PKTSH" "$d")
  expect_match "$label: ... and every file ends on a whole record" "$r" "^[1-9][0-9]* [0-9]+$"
}

# --- with the ordinary binary -------------------------------------------------
for run in 1 2 3; do writers_per_worker "$PKTSH" "writers per worker (run $run)"; done
flood_and_kill "$PKTSH" "emergency flush"

# Signal masks, thread by thread.
want=0
for s in 1 2 3 14 15 20 21 22 28; do want=$((want | (1 << (s - 1)))); done
"$PKTSH" -j 4 "$TMP/spin.lua" 3 $F $F $F $F >"$TMP/spin.out" 2>&1 &
pid=$!
sleep 1
tasks=0 ok_workers=0 main_ok=0
for t in /proc/$pid/task/*; do
  [ -e "$t/status" ] || continue
  blk=$((16#$(awk '/^SigBlk:/ {print $2}' "$t/status")))
  if [ "${t##*/}" = "$pid" ]; then
    [ $((blk & ((1 << 1) | (1 << 14) | (1 << 13)))) -eq 0 ] && main_ok=1
  else
    tasks=$((tasks + 1))
    [ $((blk & want)) -eq $want ] && ok_workers=$((ok_workers + 1))
  fi
done
wait "$pid"
expect_eq "4 workers block SIGINT, SIGTERM, SIGALRM, SIGHUP, SIGQUIT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH" \
  "$ok_workers/$tasks" "4/4"
expect_eq "the main thread blocks none of SIGINT, SIGTERM, SIGALRM" "$main_ok" 1

# Live: 8 fanout workers, each writing every packet to its own file and,
# every CHURN packets, opening, writing and closing another writer.
cat > "$TMP/wlive.lua" <<'LUA'
local M = {}
function M.work(src, dir, churn)
    local me, n = pktsh.worker(), 0
    local w = assert(pktsh.pcap_writer(string.format("%s/l%d.pcap", dir, me), src))
    src:each(function(p)
      assert(w:write(p))
      n = n + 1
      if n % churn == 0 then
        local c = assert(pktsh.pcap_writer(string.format("%s/churn%d-%d.pcap", dir, me, n % 3), src))
        assert(c:write(p))
        assert(c:close())
      end
    end)
    assert(w:close())
    return {n = n}
end
function M.main()
  local r, st = pktsh.parallel(arg[1], {duration = tonumber(arg[3]), filter = "udp port 5000"},
                               M.work, arg[2], tonumber(arg[4]))
  print(r and ("CAPTURED " .. r.n) or ("ERR " .. tostring(st)))
end
return pktsh.main(M)
LUA
cat > "$TMP/send.lua" <<'LUA'
local s = assert(pktsh.sender(arg[1]))
for i = 1, 64 do
  assert(s:send(pktsh.build.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = 10000 + i,
                                 dport = 5000, payload = 32}, 50))
end
print(s:stats().packets)
LUA

# live_writers BIN LABEL SECONDS: the capture runs SECONDS at most; once
# every frame sent is in the workers' files (written out at least once a
# second) it is stopped with SIGINT. A duration alone would end it while
# a slow build (TSan) still had frames queued in the rings.
live_writers() {  # BIN LABEL SECONDS
  local bin=$1 label=$2 secs=$3 d i
  d=$(mktemp -d "$TMP/wl.XXXX")
  netns_bg "$NS_B" $((secs + 30)) "$d.out" "$d.err" "$bin" -j 8 "$TMP/wlive.lua" "$IF_B" "$d" "$secs" "${CHURN:-1}"
  local cap=$BG_PID
  sleep 3
  local sent
  sent=$(netns_exec "$NS_A" "$PKTSH" "$TMP/send.lua" "$IF_A" 2>&1)
  for i in $(seq 1 $((secs * 2))); do
    [ "$(all_whole "$PKTSH" "$d" l)" = "8 $sent" ] && break
    sleep 0.5
  done
  kill -INT "$cap" 2>/dev/null
  netns_wait "$cap"; rc=$?
  expect_eq "$label: -j 8 live, a writer per worker and one more opened and closed per packet: exit 0" "$rc" 0
  expect_eq "$label: ... every frame sent was captured" "$(cat "$d.out")" "CAPTURED $sent"
  expect_eq "$label: ... and is in its worker's file, whole" "$(all_whole "$PKTSH" "$d" l)" "8 $sent"
  expect_match "$label: ... the writers opened and closed meanwhile are whole" \
    "$(all_whole "$PKTSH" "$d" churn)" "^[1-9][0-9]* [1-9][0-9]*$"
  if command -v tcpdump >/dev/null; then
    local n=0 f
    for f in "$d"/l*.pcap; do n=$((n + $(tcpdump -n -r "$f" 2>/dev/null | wc -l))); done
    expect_eq "$label: ... tcpdump reads them all" "$n" "$sent"
  fi
}

netns_ok=0
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v nsenter >/dev/null &&
   netns_setup 2>/dev/null; then
  netns_ok=1
  live_writers "$PKTSH" "live writers" 60
else
  skip "threads: live writers per worker" "needs root, network namespaces and veth"
fi

# --- under ThreadSanitizer ------------------------------------------------------
TSAN=$PWD/build/pktsh-tsan
if ! make --no-print-directory -s build/pktsh-tsan >"$TMP/tsan-build.log" 2>&1; then
  skip "ThreadSanitizer" "cannot build build/pktsh-tsan: $(tail -2 "$TMP/tsan-build.log" | tr '\n' ' ')"
  exit 0
fi
mkdir "$TMP/tsan"
export TSAN_OPTIONS="log_path=$TMP/tsan/report halt_on_error=0 exitcode=66"
# tsan_clean LABEL: no report written since the last call.
tsan_clean() {
  local n
  n=$(ls "$TMP/tsan" | wc -l)
  if [ "$n" -eq 0 ]; then pass "$1: ThreadSanitizer reports nothing"
  else
    fail "$1: ThreadSanitizer reports nothing" \
      "$(grep -h '^SUMMARY' "$TMP"/tsan/* | sort | uniq -c | head -5 | tr '\n' ' ')"
    mkdir -p "$TMP/tsan-old"; mv "$TMP"/tsan/* "$TMP/tsan-old/"
  fi
}

writers_per_worker "$TSAN" "TSan writers per worker"
tsan_clean "TSan writers per worker"
flood_and_kill "$TSAN" "TSan emergency flush"
tsan_clean "TSan emergency flush"
# the workers, and the threads that serve /metrics and write dnstap
for t in test_parallel test_metrics test_dnstap; do
  out=$(timeout 600 "$TSAN" tests/unit/$t.lua 2>&1); rc=$?
  expect_eq "TSan tests/unit/$t.lua: exit 0, $(echo "$out" | grep -c '^ok') checks" \
    "$rc/$(echo "$out" | grep -c '^not ok')" "0/0"
  tsan_clean "TSan tests/unit/$t.lua"
done
if [ "$netns_ok" = 1 ]; then
  live_writers "$TSAN" "TSan live writers" 120
  tsan_clean "TSan live writers"
  out=$(PKTSH_BIN=$TSAN TEST_SLOW_FACTOR=5 timeout 600 bash tests/sh/test_workers.sh 2>&1)
  expect_eq "TSan tests/sh/test_workers.sh: $(echo "$out" | grep -c '^ok') checks pass" \
    "$(echo "$out" | grep '^not ok' | head -3)" ""
  tsan_clean "TSan tests/sh/test_workers.sh"
  # The parent reads ring counters and swaps filters while workers read.
  for t in test_livestats test_setfilter; do
    out=$(PKTSH_BIN=$TSAN timeout 600 bash tests/sh/$t.sh 2>&1)
    expect_eq "TSan tests/sh/$t.sh: $(echo "$out" | grep -c '^ok') checks pass" \
      "$(echo "$out" | grep '^not ok' | head -3)" ""
    tsan_clean "TSan tests/sh/$t.sh"
  done
else
  skip "TSan live workers" "needs root, network namespaces and veth"
fi
