#!/usr/bin/env bash
# AF_XDP: redirect rules feeding pktsh's AF_XDP source, between two network
# namespaces (tests/lib/netns.sh). Host A sends with pktsh.sender; host B
# runs a rule set with redirect rules, an AF_XDP source on its queue, and
# an AF_PACKET capture that sees what reaches the stack, driven line by
# line through a fifo (ctl.lua). For native and skb mode: exactly the
# matching packets (IPv4 and IPv6) arrive at the socket and not at the
# stack, the rest passes, removing the rule restores traffic, the
# counters equal what was sent, and a queue without a socket follows the
# default verdict and is counted. Traffic stays on the veth pair
# (198.18.0.0/15, 2001:2::/48) and is bounded in count.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xsk"
if ! netns_setup; then fail "xsk: namespace setup" "netns_setup failed"; exit 1; fi

cat > "$TMP/ctl.lua" <<'LUA'
-- ctl.lua IFACE FIFO: serves tests/lib/ctl.sh's commands (ctlserve.lua).
local ffi = require "ffi"
local ctl = require "ctlserve"
local iface = arg[1]
local st = {rules = {}}
local src, cap
local cmds = ctl.rule_commands(st)
function cmds.open(mode)
  if src then src:close() end
  if st.fw then st.fw:close() end
  if cap then cap:close() end
  local fw, err = pktsh.xdp(iface, {mode = mode})
  st.fw, st.rules = fw, {}
  if not fw then return "err " .. err end
  src, err = pktsh.open{xsk = iface, rules = fw}
  if not src then return "err " .. err end
  cap = assert(pktsh.open(iface, {filter = "udp", block_timeout_ms = 10}))
  local i = src:info()[1]
  return string.format("ok zerocopy=%s", tostring(i.zerocopy))
end
function cmds.default(rest) local ok, e = st.fw:set_default(rest); return ok and "ok" or ("err " .. e) end
function cmds.closesrc() src:close(); return "ok" end
function cmds.rstats(rest)
  local s = st.rules[tonumber(rest)]:stats()
  return string.format("packets=%d bytes=%d no_socket=%d", s.packets, s.bytes, s.no_socket)
end
function cmds.fwstats()
  local s = st.fw:stats()
  return string.format("redirected=%d no_socket=%d passed=%d dropped=%d",
                       s.redirected, s.no_socket, s.passed, s.dropped)
end
function cmds.xstats()
  local s = src:stats()
  return string.format("packets=%d bytes=%d drops=%d unstamped=%d sockets=%d",
                       s.packets, s.bytes, s.drops, s.unstamped, #s.sockets)
end
-- Reads s until it has been quiet for 0.3 s; counts the test packets.
local function drain(s, c, prefix)
  if not s or s.closed then return end
  while true do
    s.deadline = ffi.C.pktsh_mono_ns() + 3e8
    local b = s:next()
    if not b then break end
    for i = 0, b.count - 1 do
      local p = b.pkt[i]
      if ffi.string(p.data, p.caplen):find("pktsh-test", 1, true) then
        local u = p:udp()
        local k = prefix .. (p:ip4() and "4" or "6") .. "_" .. (u and u.dport or 0)
        c[k] = (c[k] or 0) + 1
        c[prefix] = c[prefix] + 1
        if p.tsrc == 3 and math.abs(tonumber(p.ts) - pktsh.now()) < 60e9 then c.stamped = c.stamped + 1 end
      end
    end
  end
end
function cmds.count()
  local c = {xsk = 0, cap = 0, stamped = 0}
  drain(src, c, "xsk")
  drain(cap, c, "cap")
  local t = {}
  for k, v in pairs(c) do t[#t + 1] = k .. "=" .. v end
  table.sort(t)
  return table.concat(t, " ")
end
ctl.serve(cmds, arg[2])
if src then src:close() end
if st.fw then st.fw:close() end
LUA

. tests/lib/ctl.sh
ctl_start "$NS_B" "$TMP/ctl.lua" "$IF_B"
kv() { ctl_kv "$1" "$2" 0; }

T='payload = "pktsh-test"'
MIX="{{b.udp4{dport = 5000, $T}, 300}, {b.udp4{dport = 6000, $T}, 200},
      {b.udp6{dport = 5000, $T}, 150}, {b.udp6{dport = 6000, $T}, 100}}"
LEN4=$(netns_exec "$NS_A" "$PKTSH" -e "print(#pktsh.build.udp4{payload = 'pktsh-test'})")
LEN6=$(netns_exec "$NS_A" "$PKTSH" -e "print(#pktsh.build.udp6{payload = 'pktsh-test'})")

for mode in native skb; do
  r=$(ctl open "$mode")
  case $r in
    ok*) pass "$mode: AF_XDP source opens on the rule set ($r)" ;;
    *) if echo "$r" | grep -qi "permission\|not supported\|Address family"; then
         skip "xsk $mode" "cannot open AF_XDP sockets here: $r"; continue
       fi
       fail "$mode: AF_XDP source opens" "$r"; continue ;;
  esac
  expect_eq "$mode: the program is attached" "$(xdp_on_b)" 1
  r=$(ctl add proto=udp,dport=5000,action=redirect); id=${r#ok }
  out=$(send "$MIX"); got=$(ctl count)
  expect_eq "$mode: sender sent all" "$(kv sent "$out")" 750
  expect_eq "$mode: exactly the matching packets reach the socket (v4, v6)" \
    "$(kv xsk "$got") $(kv xsk4_5000 "$got") $(kv xsk6_5000 "$got")" "450 300 150"
  expect_eq "$mode: ... and not the stack; the rest passes" \
    "$(kv cap "$got") $(kv cap4_5000 "$got") $(kv cap6_5000 "$got") $(kv cap4_6000 "$got") $(kv cap6_6000 "$got")" \
    "300 0 0 200 100"
  expect_eq "$mode: packets carry the program's timestamp" "$(kv stamped "$got")" 450
  st=$(ctl rstats "$id")
  expect_eq "$mode: rule counters equal what was sent" "$(kv packets "$st") $(kv bytes "$st") $(kv no_socket "$st")" \
    "450 $((300 * LEN4 + 150 * LEN6)) 0"
  st=$(ctl fwstats)
  expect_eq "$mode: rule set counters: redirected, no socket" "$(kv redirected "$st") $(kv no_socket "$st")" "450 0"
  st=$(ctl xstats)
  expect_eq "$mode: source counters: packets, bytes, drops" \
    "$(kv packets "$st") $(kv bytes "$st") $(kv drops "$st") $(kv unstamped "$st")" \
    "450 $((300 * LEN4 + 150 * LEN6)) 0 0"
  expect_eq "$mode: removing the rule" "$(ctl del "$id")" ok
  out=$(send "{{b.udp4{dport = 5000, $T}, 100}, {b.udp6{dport = 5000, $T}, 20}}"); got=$(ctl count)
  expect_eq "$mode: removing the rule restores traffic" "$(kv cap "$got") $(kv xsk "$got")" "120 0"

  # A queue without a socket: the default verdict, counted.
  r=$(ctl add proto=udp,dport=5000,action=redirect); id=${r#ok }
  expect_eq "$mode: source closed" "$(ctl closesrc)" ok
  st=$(ctl xstats)
  expect_eq "$mode: after close, stats are the totals at the close" \
    "$(kv packets "$st") $(kv sockets "$st")" "450 1"
  out=$(send "{{b.udp4{dport = 5000, $T}, 50}}"); got=$(ctl count)
  expect_eq "$mode: no socket: default pass" "$(kv cap "$got")" 50
  expect_eq "$mode: default drop" "$(ctl default drop)" ok
  out=$(send "{{b.udp4{dport = 5000, $T}, 30}}"); got=$(ctl count)
  expect_eq "$mode: no socket: default drop" "$(kv cap "$got")" 0
  st=$(ctl rstats "$id")
  expect_eq "$mode: no socket: counted per rule" "$(kv packets "$st") $(kv no_socket "$st")" "80 80"
  st=$(ctl fwstats)
  expect_eq "$mode: no socket: counted per rule set" "$(kv no_socket "$st") $(kv redirected "$st")" "80 450"
done

echo quit >&7
exec 7>&-
netns_wait "$CTL_PID"
for i in $(seq 1 50); do [ "$(xdp_on_b)" = 0 ] && break; sleep 0.1; done
expect_eq "after close: no XDP program on the interface" "$(xdp_on_b)" 0
socks=$(netns_exec "$NS_B" awk '$1 == "XDP" { print $3 }' /proc/net/protocols)
expect_eq "after close: no AF_XDP socket in the namespace" "${socks:-0}" 0
