#!/usr/bin/env bash
# XDP, live: frames the program cannot parse to their end still meet the
# rules and the default verdict. Host A sends crafted frames (tiny and
# overlapping fragments, a TCP header cut short by the IP length, IPv6
# with 9 extension headers; tests/lib/craft.lua) with pktsh.sender; host B
# runs the XDP program (native mode on its veth) with an AF_PACKET
# capture behind it, counts byte for byte which frames got through, and
# reads the program's counters. Before the fix every crafted frame got
# through. Traffic stays on the veth pair (198.18.0.0/15, 2001:2::/48),
# 20 copies of each frame; every pktsh runs under a watchdog and the
# namespaces go on exit, failure or signal (tests/lib/netns.sh).
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xdp unparsed"
if ! netns_setup; then fail "xdp unparsed: namespace setup" "netns_setup failed"; exit 1; fi
export PKTSH_TEST_PATH="$TMP/?.lua;$PWD/tests/lib/?.lua"
N=20

# The frames, by name; both hosts load this list.
cat > "$TMP/xframes.lua" <<'LUA'
local craft = require "craft"
local b = pktsh.build
local tcp80, tcp22 = craft.tcp{dport = 80, payload = 16}, craft.tcp{dport = 22, payload = 16}
local tcp23 = craft.tcp{dport = 23, payload = 16}
return {
  whole80 = craft.ip4{l4 = tcp80},                                   -- control
  tiny80 = craft.ip4{l4 = tcp80:sub(1, 8), mf = true},               -- RFC 1858
  whole_trusted = craft.ip4{l4 = craft.tcp{dport = 1234}, src = "198.18.0.5"},   -- control
  overlap = craft.ip4{l4 = tcp80:sub(9, 24), off = 8, src = "198.18.0.5"},       -- RFC 3128
  cut80 = craft.ip4{l4 = tcp80, tot = 28},                           -- IP length 28, frame longer
  ext9_80 = craft.ip6{chain = craft.dsts(9), l4 = tcp80},
  ext9_blocked = craft.ip6{chain = craft.dsts(9), l4 = tcp23, src = "2001:2::1"},
  ext9_other = craft.ip6{chain = craft.dsts(9), l4 = tcp23, src = "2001:2::3"},
  ext9_22 = craft.ip6{chain = craft.dsts(9), l4 = tcp22, src = "2001:2::3"},
  tiny22 = craft.ip4{l4 = tcp22:sub(1, 8), mf = true},
  whole23 = craft.ip6{l4 = tcp23, src = "2001:2::3"},                -- control
  ["end"] = b.udp4{dport = 9, payload = "pktsh-END"},
}
LUA

cat > "$TMP/recv.lua" <<'LUA'
-- recv.lua IFACE DEFAULT RULE...: attaches the program, says "ready",
-- counts the frames of xframes.lua that arrive until the end marker,
-- then prints "name=count ..." and the program's counters.
package.path = os.getenv("PKTSH_TEST_PATH") .. ";" .. package.path
local frames = require "xframes"
local byframe = {}
for name, f in pairs(frames) do byframe[f] = name end
local cap = assert(pktsh.open(arg[1], {block_timeout_ms = 10, duration = 20}))
local fw = assert(pktsh.xdp(arg[1], {mode = "native", default = arg[2]}))
for i = 3, #arg do assert(fw:add(assert(pktsh.xdp.parse_rule_text(arg[i])))) end
print("ready"); io.stdout:flush()
local got = {}
for p in cap:packets() do
  local name = byframe[p:raw()]
  if name then got[name] = (got[name] or 0) + 1 end
  if name == "end" then break end
end
local out = {}
for name in pairs(frames) do out[#out + 1] = name .. "=" .. (got[name] or 0) end
local st = fw:stats()
for _, k in ipairs({"tiny_fragment", "fragment_overlap", "truncated_l4", "ext_headers_limit",
                    "parse_errors", "dropped"}) do
  out[#out + 1] = k .. "=" .. tostring(st[k])
end
table.sort(out)
fw:close(); cap:close()
print(table.concat(out, " "))
LUA

cat > "$TMP/send.lua" <<'LUA'
-- send.lua IFACE N NAME...: sends each named frame N times, then the end marker.
package.path = os.getenv("PKTSH_TEST_PATH") .. ";" .. package.path
local frames = require "xframes"
local s = assert(pktsh.sender(arg[1]))
for i = 3, #arg do assert(s:send(assert(frames[arg[i]], arg[i]), tonumber(arg[2])) == tonumber(arg[2])) end
os.execute("sleep 0.1")
assert(s:send(frames["end"], 1) == 1)
print("sent")
LUA

kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
xdp_on_b() { ip -n "$NS_B" link show "$IF_B" | grep -c 'prog/xdp'; }

# run DEFAULT "RULE..." FRAME...: one receiver and one send; prints the
# receiver's last line.
run() {
  local default=$1 rules=$2; shift 2
  # shellcheck disable=SC2086
  netns_bg "$NS_B" 40 "$TMP/recv.out" "$TMP/recv.err" "$PKTSH" "$TMP/recv.lua" "$IF_B" "$default" $rules
  local pid=$BG_PID
  if ! netns_wait_for "$TMP/recv.out" "^ready" 15; then
    echo "error: $(tr '\n' ' ' < "$TMP/recv.err")"; kill -9 "$pid" 2>/dev/null; netns_wait "$pid"; return
  fi
  netns_exec "$NS_A" timeout 30 "$PKTSH" "$TMP/send.lua" "$IF_A" "$N" "$@" >"$TMP/send.out" 2>&1
  netns_wait "$pid"
  tail -1 "$TMP/recv.out"
}

# Default drop, TCP/80 allowed, and all TCP from 198.18.0.5 (and the end marker).
r=$(run drop "proto=tcp,dport=80 src=198.18.0.5/32,proto=tcp proto=udp,dport=9" \
  whole80 whole_trusted tiny80 overlap cut80 ext9_80)
case $r in error:*)
  if echo "$r" | grep -qi "permission\|not supported\|operation"; then
    skip "xdp unparsed" "cannot attach XDP here: $r"; exit 0
  fi;;
esac
expect_eq "default drop: the end marker, whole TCP/80 and TCP from 198.18.0.5 arrive" \
  "$(kv end "$r") $(kv whole80 "$r") $(kv whole_trusted "$r")" "1 $N $N"
expect_eq "default drop + allow tcp/80: a tiny first fragment (8 bytes of TCP) is dropped" "$(kv tiny80 "$r")" 0
expect_eq "default drop: an overlapping fragment (offset 1) is dropped, its source allowed or not" "$(kv overlap "$r")" 0
expect_eq "default drop + allow tcp/80: a TCP header cut short by the IP length is dropped" "$(kv cut80 "$r")" 0
expect_eq "default drop + allow tcp/80: IPv6 with 9 extension headers is dropped" "$(kv ext9_80 "$r")" 0
expect_eq "default drop: each cause counted" \
  "$(kv tiny_fragment "$r") $(kv fragment_overlap "$r") $(kv truncated_l4 "$r") $(kv ext_headers_limit "$r")" \
  "$N $N $N $N"
expect_eq "default drop: parse_errors is their sum, every one dropped" \
  "$(kv parse_errors "$r") $(kv dropped "$r")" "$((4 * N)) $((4 * N))"

# Default pass, one source blocked.
r=$(run pass "src=2001:2::1/128,action=drop" whole23 ext9_blocked ext9_other)
expect_eq "default pass: the end marker and whole TCP/23 arrive" "$(kv end "$r") $(kv whole23 "$r")" "1 $N"
expect_eq "default pass: 9 extension headers do not get past a src drop rule" "$(kv ext9_blocked "$r")" 0
expect_eq "default pass: 9 extension headers from another source arrive" "$(kv ext9_other "$r")" "$N"
expect_eq "default pass: counted" "$(kv ext_headers_limit "$r")" "$((2 * N))"

# Default pass, TCP/22 blocked: ports that cannot be read meet the drop rule.
r=$(run pass "proto=tcp,dport=22,action=drop" whole23 ext9_22 tiny22)
expect_eq "default pass, TCP/22 blocked: whole TCP/23 arrives" "$(kv end "$r") $(kv whole23 "$r")" "1 $N"
expect_eq "default pass, TCP/22 blocked: 9 extension headers do not get past it" "$(kv ext9_22 "$r")" 0
expect_eq "default pass, TCP/22 blocked: a tiny first fragment does not get past it" "$(kv tiny22 "$r")" 0
expect_eq "default pass, TCP/22 blocked: counted" "$(kv ext_headers_limit "$r") $(kv tiny_fragment "$r")" "$N $N"

for i in $(seq 1 50); do [ "$(xdp_on_b)" = 0 ] && break; sleep 0.1; done
expect_eq "no XDP program left on the interface" "$(xdp_on_b)" 0
