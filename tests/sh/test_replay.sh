#!/usr/bin/env bash
# scripts/replay.lua and pktsh.replay (issue 14, item 4) on a veth pair:
# A replays test captures, B captures what arrives with its receive stamps.
# Every packet arrives once and in order; with the file's timing each
# packet's offset from the first matches the file's within what replay
# reports as its own worst lateness (plus 2 ms); --speed, --pps and
# --mbps are never early (a schedule can only be late); --loop, --filter,
# --limit, --topspeed; frames the interface cannot take are skipped and
# counted; usage errors. No timing threshold of our own: the bound is
# the one replay states.
# Traffic: only between our namespaces, a few hundred frames a run.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "replay"
if ! netns_setup; then fail "replay: namespace setup" "netns_setup failed"; exit 1; fi

# gaps.pcap: 40 numbered frames, 5 to 25 ms apart; mix.pcap: 60 frames
# on ports 5000/5001 of three sizes, 1 ms apart; bad.pcap: 10 good
# frames, one of 10 bytes and one of 3000.
"$PKTSH" -e "
  local b = pktsh.build
  local function frame(k, port, size)
    return b.udp4{dport = port or 5000, payload = 'pktsh-seq' .. b.u32(k) .. string.rep('x', size or 0)}
  end
  local w = assert(pktsh.pcap_writer('$TMP/gaps.pcap'))
  local t, x = 1.7e18, 7
  for k = 0, 39 do
    w:write(frame(k), t)
    x = (x * 1103515245 + 12345) % 2147483648
    t = t + (5 + x % 21) * 1e6
  end
  w:close()
  w = assert(pktsh.pcap_writer('$TMP/mix.pcap'))
  for k = 0, 59 do w:write(frame(k, 5000 + k % 2, (k % 3) * 400), 1.7e18 + k * 1e6) end
  w:close()
  w = assert(pktsh.pcap_writer('$TMP/bad.pcap'))
  for k = 0, 11 do
    local f = frame(k)
    if k == 4 then f = f:sub(1, 10) elseif k == 8 then f = frame(k, 5000, 2950) end
    w:write(f, 1.7e18 + k * 1e6)
  end
  w:close()"

# rx.lua IFACE N: numbered frames until N arrived (or 12 s): one line
# "k rx_ns len" each, then "done n".
cat > "$TMP/rx.lua" <<'LUA'
local src = assert(pktsh.open(arg[1], {filter = "udp", duration = 12, block_timeout_ms = 5}))
io.stderr:write("ready\n"); io.stderr:flush()
local want, n = tonumber(arg[2]), 0
src:each(function(p)
  local off = p:payload()
  if not off or p:bytes(off, 9) ~= "pktsh-seq" then return end
  print(p:u32(off + 9), tostring(p.ts_sw):gsub("LL", ""), p.len, p:udp().dport)
  n = n + 1
  if n >= want then return false end
end)
print("done " .. n)
LUA

# replay NAME N ARGS...: B captures N frames while A runs replay.lua ARGS.
replay() {
  local name=$1 n=$2; shift 2
  netns_bg "$NS_B" 20 "$TMP/$name.rx" "$TMP/$name.rxerr" "$PKTSH" "$TMP/rx.lua" "$IF_B" "$n"
  local pid=$BG_PID
  netns_wait_for "$TMP/$name.rxerr" '^ready' 5 || fail "$name: capture starts" "$(cat "$TMP/$name.rxerr")"
  netns_exec "$NS_A" "$PKTSH" scripts/replay.lua --json "$@" "$IF_A" >"$TMP/$name.json" 2>"$TMP/$name.err"
  RC=$?
  netns_wait "$pid"
  local rxrc=$?
  [ "$rxrc" = 0 ] || fail "$name: the capture ends by itself" "rc $rxrc: $(tail -c 600 "$TMP/$name.rxerr")"
  JSON=$(cat "$TMP/$name.json")
}

# jget KEY: a number from $JSON (timing keys too).
jget() { printf '%s' "$JSON" | "$PKTSH" -e "local t = pktsh.json.decode(io.read('*a'))
  local v = t; for k in ('$1'):gmatch('[^.]+') do v = v and v[k] end; print(v and string.format('%.0f', v) or 'nil')"; }

# B stamps frames on receipt: the receive path may delay one stamp more
# than another by this much (ns), on top of replay's own stated lateness.
RX_SLACK=2000000

# check_schedule NAME TAG FILE DIVISOR N: offsets from the first packet
# (TAG's capture) match the file's (divided by DIVISOR) within replay's
# stated worst lateness + RX_SLACK.
check_schedule() {
  local name=$1 tag=$2 file=$3 div=$4 n=$5 max
  max=$(jget timing.max)
  out=$("$PKTSH" -e "
    local src = assert(pktsh.open('$file'))
    local orig = {}
    src:each(function(p) orig[#orig + 1] = tonumber(p.ts) end)
    local rx, n, order = {}, 0, 0
    for line in io.lines('$TMP/$tag.rx') do
      local k, ts = line:match('^(%d+)%s+(%d+)')
      if k then
        k = tonumber(k)
        if k ~= n then order = order + 1 end
        rx[k + 1] = tonumber(ts); n = n + 1
      end
    end
    local worst, bound, early = 0, $max + $RX_SLACK, 0
    for i = 2, #orig do
      local want = (orig[i] - orig[1]) / $div
      local got = rx[i] and (rx[i] - rx[1])
      if got then
        local d = math.abs(got - want)
        if d > worst then worst = d end
      end
    end
    print(n, order, worst <= bound and 'within' or ('off by ' .. worst .. ' ns, bound ' .. bound))")
  expect_eq "$name: every packet once, in order, offsets within the stated error" "$out" "$n	0	within"
}

# --- the file's own timing -----------------------------------------------------
replay orig 40 "$TMP/gaps.pcap"
expect_eq "original timing: exit 0" "$RC" 0
expect_eq "original timing: 40 packets, none skipped" "$(jget packets) $(jget skipped) $(jget errors)" "40 0 0"
check_schedule "original timing" orig "$TMP/gaps.pcap" 1 40
if [ "$(jget timing.n)" = 40 ] && [ "$(jget timing.p50)" -le "$(jget timing.p99)" ] &&
   [ "$(jget timing.p99)" -le "$(jget timing.max)" ]; then
  pass "original timing: error stats for every packet, p50 <= p99 <= max"
else
  fail "original timing: error stats" "$JSON"
fi

replay speed 40 --speed 2 "$TMP/gaps.pcap"
check_schedule "--speed 2" speed "$TMP/gaps.pcap" 2 40

# --- rates: never early -----------------------------------------------------------
# The spans are B's receive stamps, so they carry the receive path's jitter
# (the first frame's stamp can be late by more than the last's): the same
# RX_SLACK as check_schedule. A rate ignored would be off by 100 ms and more.
span() {  # NAME: last rx minus first rx (ns)
  awk '/^[0-9]/ { if (!f) f = $2; l = $2 } END { printf "%.0f", l - f }' "$TMP/$1.rx"
}
replay pps 60 --pps 400 "$TMP/mix.pcap"
want=$((59 * 1000000000 / 400 - $(jget timing.max) - RX_SLACK))
[ "$(span pps)" -ge "$want" ] && pass "--pps 400: 60 packets over >= 59/400 s less the stated lateness" \
  || fail "--pps 400: never early" "span $(span pps) < $want"
expect_eq "--pps: the reported rate is the packets over the time" "$(jget packets)" 60

bytes_before_last=$("$PKTSH" -e "local n, b, last = 0, 0, 0
  assert(pktsh.open('$TMP/mix.pcap')):each(function(p) b = b + p.caplen; last = p.caplen end)
  print(b - last)")
replay mbps 60 --mbps 2 "$TMP/mix.pcap"
want=$((bytes_before_last * 8 * 1000 / 2 - $(jget timing.max) - RX_SLACK))
[ "$(span mbps)" -ge "$want" ] && pass "--mbps 2: the bytes before the last at 2 Mbit/s, never early" \
  || fail "--mbps 2: never early" "span $(span mbps) < $want"

# --- loop, filter, limit, topspeed -------------------------------------------------------
replay loop 180 --loop 3 --topspeed "$TMP/mix.pcap"
expect_eq "--loop 3 --topspeed: 180 packets, 3 passes" "$(jget packets) $(jget loops)" "180 3"
expect_eq "--loop 3: B got the file three times over, in order" \
  "$(grep -c '^[0-9]' "$TMP/loop.rx") $(awk '/^[0-9]/ { printf "%s,", $1 }' "$TMP/loop.rx" | md5sum | cut -c1-8)" \
  "180 $(for i in 1 2 3; do seq -s, 0 59 | tr -d '\n'; echo -n ,; done | md5sum | cut -c1-8)"
if [ -z "$(jget timing.n | grep -v nil)" ]; then pass "--topspeed: no schedule, no timing error"; else fail "--topspeed: no timing" "$JSON"; fi

replay filter 30 --filter "udp port 5001" --pps 2000 "$TMP/mix.pcap"
expect_eq "--filter: only port 5001 (30 packets)" "$(jget packets) $(awk '/^[0-9]/ { print $4 }' "$TMP/filter.rx" | sort -u)" "30 5001"
replay limit 7 --limit 7 --topspeed "$TMP/mix.pcap"
expect_eq "--limit 7" "$(jget packets) $(grep -c '^[0-9]' "$TMP/limit.rx")" "7 7"

replay bad 10 --pps 1000 "$TMP/bad.pcap"
expect_eq "a 10-byte and a 3000-byte record: skipped, the rest sent" \
  "$(jget packets) $(jget skipped) $(grep -c '^[0-9]' "$TMP/bad.rx")" "10 2 10"

# --- the text output and usage errors ----------------------------------------------------
out=$(netns_exec "$NS_A" "$PKTSH" scripts/replay.lua --pps 5000 "$TMP/mix.pcap" "$IF_A" 2>&1)
expect_match "text: the summary line" "$out" "^replay: 60 packets \([0-9]+ bytes\) in [0-9.]+ s: [0-9]+ pps, [0-9.]+ Mbps; 1 pass, 0 skipped, 0 errors"
expect_match "text: the timing error line" "$out" "timing error \(us late\): p50 [0-9.]+  p90 [0-9.]+  p99 [0-9.]+  max [0-9.]+"
out=$("$PKTSH" scripts/replay.lua "$TMP/mix.pcap" 2>&1); rc=$?
expect_eq "no interface: usage error (exit 2)" "$rc" 2
out=$(netns_exec "$NS_A" "$PKTSH" scripts/replay.lua --pps 10 --speed 2 "$TMP/mix.pcap" "$IF_A" 2>&1); rc=$?
expect_match "two schedules: refused" "$rc $out" "^1 replay: give one of speed, pps, mbps and topspeed"
out=$(netns_exec "$NS_A" "$PKTSH" scripts/replay.lua "$TMP/none.pcap" "$IF_A" 2>&1); rc=$?
expect_match "a missing file is named" "$rc $out" "^1 replay: .*none.pcap"
out=$(netns_exec "$NS_A" "$PKTSH" scripts/replay.lua "$TMP/mix.pcap" pktshnope0 2>&1); rc=$?
expect_match "a missing interface is named" "$rc $out" "^1 replay: no such network interface 'pktshnope0'"
