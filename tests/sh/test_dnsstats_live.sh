#!/usr/bin/env bash
# dnsstats on a live interface, in one thread and with -j 2 fanout workers:
# every DNS message sent is counted, and every query is matched to its
# answer (the kernel's flow hash is symmetric, so both go to one worker).
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "dnsstats live"
netns_setup

N=300
cat > "$TMP/senddns.lua" <<'LUA'
-- senddns.lua IFACE N: N DNS queries and their answers, each pair on its
-- own client port.
local ifname, n = arg[1], tonumber(arg[2])
local s = assert(pktsh.sender(ifname))
local function u16(v) return string.char(math.floor(v / 256), v % 256) end
local function message(id, name, response)
  local q = {}
  for label in name:gmatch("[^.]+") do q[#q + 1] = string.char(#label) .. label end
  return u16(id) .. u16(response and 0x8180 or 0x0100) .. u16(1) .. u16(0) .. u16(0) .. u16(0)
    .. table.concat(q) .. "\0" .. u16(1) .. u16(1)
end
for i = 1, n do
  local port, name = 20000 + i, "host" .. (i % 7) .. ".example"
  assert(s:send(pktsh.build.udp4{src = "198.18.0.1", dst = "198.18.0.2", sport = port,
                                 dport = 53, payload = message(i, name, false)}))
  assert(s:send(pktsh.build.udp4{src = "198.18.0.2", dst = "198.18.0.1", sport = 53,
                                 dport = port, payload = message(i, name, true)}))
end
print("sent " .. 2 * n)
LUA

# run NAME ARGS...: dnsstats in B while A sends; its JSON in $TMP/NAME.json
run() {
  local name=$1; shift
  netns_bg "$NS_B" 20 "$TMP/$name.json" "$TMP/$name.err" \
    "$PKTSH" "$@" scripts/dnsstats.lua "$IF_B" udp --json --duration 4
  local pid=$BG_PID
  sleep 1.5                               # the rings are open by now
  netns_exec "$NS_A" timeout 20 "$PKTSH" "$TMP/senddns.lua" "$IF_A" "$N" >"$TMP/$name.sent" 2>&1
  netns_wait "$pid"
}

field() {  # field FILE EXPR: a value from the JSON report
  "$PKTSH" -e "local j = require('pktsh.report.json').decode(io.open('$1'):read('*a'))
               print($2)" 2>/dev/null
}

for mode in serial workers; do
  if [ $mode = serial ]; then run $mode; else run $mode -j 2; fi
  rc=$?
  expect_eq "$mode: exits 0" "$rc" 0
  expect_eq "$mode: sender" "$(cat "$TMP/$mode.sent")" "sent $((2 * N))"
  f=$TMP/$mode.json
  expect_eq "$mode: messages" "$(field "$f" 'j.dns, j.queries, j.responses, j.transport.udp')" \
    "$((2 * N))	$N	$N	$((2 * N))"
  expect_eq "$mode: every query matched" "$(field "$f" 'j.latency.matched, j.latency.unanswered')" "$N	0"
  expect_eq "$mode: top name" "$(field "$f" 'j.top_qnames[1][1], j.top_qnames[1][2]')" \
    "host1.example	$(( (N + 6) / 7 ))"
  expect_eq "$mode: qtypes and rcodes" "$(field "$f" 'j.qtypes.A, j.rcodes.NOERROR')" "$N	$N"
done

# --interval on a live interface (issue 16): a line every interval of wall
# clock, idle ones included (nothing arrives for the first 1.5 s), each
# with its measured length; rates over that length; the per-interval
# counts add up to the totals; with -j 2 the workers' numbers are merged
# while they run, drops and freeze_q per worker.
lines() {  # lines NAME ARGS...: interval lines in $TMP/NAME.lines
  local name=$1; shift
  netns_bg "$NS_B" 20 "$TMP/$name.lines" "$TMP/$name.err" \
    "$PKTSH" "$@" scripts/dnsstats.lua "$IF_B" udp --json --interval 0.5 --duration 4
  local pid=$BG_PID
  sleep 1.5
  netns_exec "$NS_A" timeout 20 "$PKTSH" "$TMP/senddns.lua" "$IF_A" "$N" >/dev/null 2>&1
  netns_wait "$pid"
}
check_lines() {  # check_lines NAME: the lines' sums and shapes
  "$PKTSH" -e "
    local n, dns, idle, bad, last = 0, 0, 0, {}, nil
    for l in io.lines('$TMP/$1.lines') do
      if l:find(' interval_s ') then
        local f = {}
        for k, v in l:gsub('^%S+ ', ''):gmatch('(%S+) (%S+)') do f[k] = v end
        n, last = n + 1, f
        local s, q = tonumber(f.interval_s), tonumber(f.queries)
        dns = dns + tonumber(f.dns)
        if tonumber(f.packets) == 0 then idle = idle + 1 end
        if not (s > 0 and s < 1.5) then bad[#bad + 1] = 'length ' .. f.interval_s end
        if f.qps ~= '-' and math.abs(tonumber(f.qps) - q / s) > 0.1 + q / s * 0.002 then
          bad[#bad + 1] = 'qps ' .. f.qps .. ' for ' .. q .. ' in ' .. s
        end
        if '$1' == 'jlines' and not f.drops_per_worker then bad[#bad + 1] = 'no per-worker drops' end
      end
    end
    print(n >= 6 and 'lines' or 'lines ' .. n, idle >= 2 and 'idle' or 'idle ' .. idle,
          dns, last and last.total_dns, #bad == 0 and 'fine' or table.concat(bad, '; '))"
}
lines slines
expect_eq "serial --interval: a line per interval, idle ones too, counts add up" \
  "$(check_lines slines)" "lines	idle	$((2 * N))	$((2 * N))	fine"
lines jlines -j 2
expect_eq "-j 2 --interval: merged lines while the workers run, drops per worker" \
  "$(check_lines jlines)" "lines	idle	$((2 * N))	$((2 * N))	fine"
