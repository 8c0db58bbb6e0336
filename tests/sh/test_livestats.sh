#!/usr/bin/env bash
# Live statistics across workers (issue 14, item 7): while a -j N run is
# going, the parent reads each ring's counters (packets, bytes, drops,
# freeze_q) and sums them: scripts/count.lua -j 2 --interval prints them
# as it goes, pktsh.parallel's on_stats gets them. The per-worker numbers
# add up to the sums on every line, lines show counts that are still
# growing, and drops a slow worker causes show up before it ends.
# Traffic: only between our namespaces, 3000 frames a run.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "livestats"
if ! netns_setup; then fail "livestats: namespace setup" "netns_setup failed"; exit 1; fi

# 3000 frames on 64 flows (both workers get some), replayed at 1500/s.
"$PKTSH" -e "
  local b, w = pktsh.build, assert(pktsh.pcap_writer('$TMP/flows.pcap'))
  for k = 0, 2999 do
    w:write(b.udp4{sport = 10000 + k % 64, dport = 5000, payload = 'pktsh-test'}, 1.7e18 + k * 1e6)
  end
  w:close()"
replay() {  # PPS
  netns_exec "$NS_A" "$PKTSH" scripts/replay.lua --pps "$1" "$TMP/flows.pcap" "$IF_A" >"$TMP/replay.out" 2>&1
}

# lines FILE: checks the --interval lines of count.lua; prints
# "lines sums_ok growing partial last_total".
check_lines() {
  "$PKTSH" -e "
    local n, sums, grow, partial, prev, last = 0, 0, 0, 0, -1, 0
    for line in io.lines('$1') do
      local total = line:match('^count: [%d.]+s packets=(%d+)')
      if total then
        total = tonumber(total); n = n + 1
        local s = 0
        for p in line:gmatch('| w%d+ packets=(%d+)') do s = s + tonumber(p) end
        if s == total then sums = sums + 1 end
        if total >= prev then grow = grow + 1 end
        if total > 0 and total < 3000 then partial = partial + 1 end
        prev, last = total, total
      end
    end
    print(table.concat({n > 1 and 'lines' or ('lines=' .. n), sums == n and 'sums' or 'badsums',
          grow == n and 'growing' or 'shrinking', partial > 0 and 'partial' or 'nopartial', last}, ' '))"
}

netns_bg "$NS_B" 20 "$TMP/c2.out" "$TMP/c2.err" "$PKTSH" scripts/count.lua -j 2 --interval 0.25 --seconds 6 "$IF_B" udp port 5000
pid=$BG_PID
netns_wait_for "$TMP/c2.err" '^count: ' 10   # the rings are open: lines come
replay 1500
netns_wait "$pid"; rc=$?
expect_eq "count.lua -j 2 --interval: exit 0" "$rc" 0
expect_eq "count.lua -j 2 --interval: lines while it runs, workers add up, counts grow, the last is the total" \
  "$(check_lines "$TMP/c2.err")" "lines sums growing partial 3000"
expect_match "count.lua -j 2 --interval: per-worker drops and freeze_q on each line" \
  "$(grep '^count: ' "$TMP/c2.err" | head -1)" "drops=[0-9]+ freeze_q=[0-9]+ \| w1 packets=[0-9]+ drops=[0-9]+ freeze_q=[0-9]+ \| w2 packets=[0-9]+ drops=[0-9]+ freeze_q=[0-9]+$"
expect_match "count.lua -j 2: the totals agree" "$(tail -1 "$TMP/c2.err")" "^count: 3000 packets.*2 workers"

# One worker (no threads): the same lines, from the source's own loop.
netns_bg "$NS_B" 20 "$TMP/c1.out" "$TMP/c1.err" "$PKTSH" scripts/count.lua --interval 0.25 --seconds 6 "$IF_B" udp port 5000
pid=$BG_PID
netns_wait_for "$TMP/c1.err" '^count: ' 10
replay 1500
netns_wait "$pid"
expect_eq "count.lua --interval, one worker: lines while it runs" \
  "$(check_lines "$TMP/c1.err")" "lines sums growing partial 3000"

# Drops while the workers run: small rings, and workers that do not read
# for their first 3 s (from their own start, which is after on_stats's
# clock starts): drops on_stats sees before 3 s it saw while every worker
# slept, and certainly before the workers ended.
cat > "$TMP/slow.lua" <<'LUA'
local ffi = require "ffi"
local M = {}
function M.work(src)
  ffi.C.pktsh_sleep_until(ffi.C.pktsh_mono_ns() + 3e9, 0)
  local n = 0
  src:each(function() n = n + 1 end)
  return {n = n}
end
function M.main(iface)
local seen = {}
local r, st = pktsh.parallel(iface, {workers = 2, filter = "udp port 5000", duration = 6,
  block_size = 4096, block_count = 2, block_timeout_ms = 5, interval = 0.2,
  on_stats = function(s)
    local per = 0
    for _, w in ipairs(s.workers) do per = per + w.drops end
    seen[#seen + 1] = {t = s.elapsed, drops = s.drops, per = per, n = #s.workers}
    if #seen == 1 then io.stderr:write("ticking\n"); io.stderr:flush() end
  end}, M.work)
if not r then print("ERR " .. tostring(st)) return end
local early, agree = 0, 0
for _, x in ipairs(seen) do
  if x.drops > 0 and x.t < 3 then early = early + 1 end
  if x.per == x.drops and x.n == 2 then agree = agree + 1 end
end
print(string.format("lines=%d early_drops=%s agree=%s final_drops=%d last_seen=%d counted=%d",
  #seen, early > 0 and "yes" or "no", agree == #seen and "yes" or "no", st.drops,
  seen[#seen] and seen[#seen].drops or -1, r.n))
end
return pktsh.main(M)
LUA
netns_bg "$NS_B" 20 "$TMP/slow.out" "$TMP/slow.err" "$PKTSH" "$TMP/slow.lua" "$IF_B"
pid=$BG_PID
netns_wait_for "$TMP/slow.err" '^ticking' 10   # the workers run (and sleep)
replay 3000
netns_wait "$pid"
out=$(cat "$TMP/slow.out")
expect_match "on_stats: drops of slow workers are seen while they run" "$out" "early_drops=yes agree=yes"
fd=$(printf '%s' "$out" | grep -o 'final_drops=[0-9]*' | cut -d= -f2)
ls=$(printf '%s' "$out" | grep -o 'last_seen=[0-9]*' | cut -d= -f2)
cn=$(printf '%s' "$out" | grep -o 'counted=[0-9]*' | cut -d= -f2)
if [ -n "$fd" ] && [ "$fd" -gt 0 ] && [ "$fd" -ge "$ls" ] && [ $((fd + cn)) -le 3000 ]; then
  pass "on_stats: the final stats keep every drop seen live ($ls live, $fd final, $cn read)"
else
  fail "on_stats: final drops" "$out $(cat "$TMP/slow.err")"
fi

# Misuse raises.
out=$("$PKTSH" -e "print(pcall(pktsh.parallel, '$TMP/flows.pcap', {on_stats = 5}, function() return {} end))" 2>&1)
expect_match "on_stats must be a function" "$out" "opts.on_stats must be a function"
