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
