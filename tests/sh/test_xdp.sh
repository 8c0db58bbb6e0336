#!/usr/bin/env bash
# XDP rules between two network namespaces (tests/lib/netns.sh): host A
# sends with pktsh.sender, host B runs the XDP program (native mode on its
# veth) and an AF_PACKET capture behind it, driven line by line through a
# fifo (ctl.lua below). Traffic stays on the veth pair (198.18.0.0/15,
# 2001:2::/48) and is bounded in count; every pktsh runs under a watchdog;
# the namespaces go on exit, failure or signal, and the test checks that
# no XDP program is left on the interface.
. tests/lib/sh.sh
. tests/lib/netns.sh
netns_require "xdp"
if ! netns_setup; then fail "xdp: namespace setup" "netns_setup failed"; exit 1; fi

cat > "$TMP/ctl.lua" <<'LUA'
-- ctl.lua IFACE FIFO: serves tests/lib/ctl.sh's commands (ctlserve.lua).
local ffi = require "ffi"
local ctl = require "ctlserve"
local iface = arg[1]
local st = {rules = {}}
local cap = assert(pktsh.open(iface, {filter = "udp or icmp6 or icmp", block_timeout_ms = 10}))
local cmds = ctl.rule_commands(st)
function cmds.open(optstr)
  if st.fw then st.fw:close() end
  local o = assert(loadstring("return " .. (optstr ~= "" and optstr or "{}")))()
  local fw, e = pktsh.xdp(iface, o)
  st.fw, st.rules = fw, {}
  return fw and "ok" or ("err " .. tostring(e))
end
function cmds.engine(rest) local ok, e = st.fw:set_engine(rest); return ok and "ok" or ("err " .. e) end
function cmds.rstats(rest)
  local s = st.rules[tonumber(rest)]:stats()
  return string.format("packets=%d bytes=%d copied=%d copy_lost=%d", s.packets, s.bytes, s.copied, s.copy_lost)
end
function cmds.stats()
  local s = st.fw:stats()
  return string.format("packets=%d dropped=%d passed=%d copied=%d copy_lost=%d parse_errors=%d",
                       s.packets, s.dropped, s.passed, s.copied, s.copy_lost, s.parse_errors)
end
-- count: reads the capture until the END marker; counts test packets.
function cmds.count()
  local c = {test = 0, v4 = 0, v6 = 0, ["end"] = 0}
  local deadline = pktsh.now() + 5e9
  cap.deadline = ffi.C.pktsh_mono_ns() + 5e9   -- next() gives up then
  while c["end"] == 0 and pktsh.now() < deadline do
    local b = cap:next()
    if not b then break end
    for i = 0, b.count - 1 do
      local p = b.pkt[i]
      local s = ffi.string(p.data, p.caplen)
      if s:find("pktsh-END", 1, true) then c["end"] = 1
      elseif s:find("pktsh-test", 1, true) then
        c.test = c.test + 1
        if p:ip4() then c.v4 = c.v4 + 1 else c.v6 = c.v6 + 1 end
      end
    end
  end
  return string.format("test=%d v4=%d v6=%d end=%d", c.test, c.v4, c.v6, c["end"])
end
-- copies FILE: writes what the rules copied during 1.5 s.
function cmds.copies(rest)
  local src = assert(st.fw:copies{duration = 1.5})
  local w = assert(pktsh.pcap_writer(rest, src))
  src:each(function(p) w:write(p) end)
  local k = w:count()
  w:close(); src:close()
  return "written=" .. k
end
ctl.serve(cmds, arg[2])
if st.fw then st.fw:close() end
LUA

# The controller in B.
. tests/lib/ctl.sh
ctl_start "$NS_B" "$TMP/ctl.lua" "$IF_B"
export SEND_END=1           # every send ends with the END marker ctl count waits for
kv() { ctl_kv "$@"; }

r=$(ctl open '{mode = "native"}')
if [ "$r" != ok ]; then
  echo "$r" | grep -qi "permission\|not supported\|operation" && { skip "xdp" "cannot attach XDP here: $r"; exit 0; }
  fail "xdp: attach in native mode" "$r"; exit 1
fi
pass "xdp: attached in native mode"
expect_eq "xdp: ip link shows the program" "$(xdp_on_b)" 1

T='payload = "pktsh-test"'
MIX="{{b.udp4{dport = 5000, $T}, 100}, {b.udp4{dport = 6000, $T}, 50}}"

out=$(send "$MIX"); got=$(ctl count)
expect_eq "no rule: every packet arrives" "$(kv test "$got") $(kv end "$got")" "150 1"

for engine in linear classifier; do
  expect_eq "$engine: engine set" "$(ctl engine $engine)" ok
  r=$(ctl add proto=udp,dport=5000,action=drop); id=${r#ok }
  out=$(send "$MIX"); got=$(ctl count)
  expect_eq "$engine: sender sent all" "$(kv sent "$out")" 150
  expect_eq "$engine: drop rule stops exactly the matching packets" "$(kv test "$got")" 50
  st=$(ctl rstats "$id")
  expect_eq "$engine: rule counter equals the packets sent" "$(kv packets "$st")" 100
  expect_eq "$engine: rule bytes" "$(kv bytes "$st")" $((100 * 52))
  expect_eq "$engine: remove" "$(ctl del "$id")" ok
  out=$(send "$MIX"); got=$(ctl count)
  expect_eq "$engine: removing it restores traffic" "$(kv test "$got")" 150

  # CIDR edges: /31 holds .0 and .1, not .2 and .3.
  r=$(ctl add src=198.18.0.0/31,action=drop); id=${r#ok }
  out=$(send "{{b.udp4{src = '198.18.0.0', $T}, 10}, {b.udp4{src = '198.18.0.1', $T}, 10},
                {b.udp4{src = '198.18.0.2', $T}, 10}, {b.udp4{src = '198.18.0.3', $T}, 10}}")
  got=$(ctl count)
  expect_eq "$engine: CIDR /31 edges" "$(kv test "$got") $(kv packets "$(ctl rstats "$id")")" "20 20"
  ctl del "$id" >/dev/null

  # Port range edges: 1000 and 2000 are inside, 999 and 2001 are not.
  r=$(ctl add proto=udp,dport=1000-2000,action=drop); id=${r#ok }
  out=$(send "{{b.udp4{dport = 999, $T}, 10}, {b.udp4{dport = 1000, $T}, 10},
                {b.udp4{dport = 2000, $T}, 10}, {b.udp4{dport = 2001, $T}, 10}}")
  got=$(ctl count)
  expect_eq "$engine: port range edges" "$(kv test "$got") $(kv packets "$(ctl rstats "$id")")" "20 20"
  ctl del "$id" >/dev/null

  # IPv6: a /64 and a port; v4 to the same port and another /64 pass.
  r=$(ctl add src=2001:2::/64,proto=udp,dport=5000,action=drop); id=${r#ok }
  out=$(send "{{b.udp6{src = '2001:2::1', dport = 5000, $T}, 30}, {b.udp6{src = '2001:2:0:1::1', dport = 5000, $T}, 10},
                {b.udp4{dport = 5000, $T}, 10}, {b.udp6{src = '2001:2::1', dport = 5001, $T}, 10}}")
  got=$(ctl count)
  expect_eq "$engine: IPv6 rule" "$(kv v6 "$got") $(kv v4 "$got") $(kv packets "$(ctl rstats "$id")")" "20 10 30"
  ctl del "$id" >/dev/null
done

# Copies of dropped packets into a pcap: exactly the dropped count.
ctl engine auto >/dev/null
r=$(ctl add proto=udp,dport=5000,action=drop,copy=128); id=${r#ok }
out=$(send "{{b.udp4{dport = 5000, payload = 200}, 200}, {b.udp4{dport = 6000, $T}, 7}}")
got=$(ctl count)
expect_eq "copy: dropped packets do not arrive" "$(kv test "$got")" 7
w=$(ctl copies "$TMP/dropped.pcap")
expect_eq "copy: records written" "$w" "written=200"
n=$(tcpdump -n -r "$TMP/dropped.pcap" 2>"$TMP/td.err" | grep -c 'UDP')
expect_eq "copy: tcpdump reads exactly the dropped packets" "$n" 200
st=$(ctl rstats "$id")
expect_eq "copy: rule counters" "$(kv packets "$st") $(kv copied "$st") $(kv copy_lost "$st")" "200 200 0"
ctl del "$id" >/dev/null

# A tiny ring under a flood: copies are lost (counted), verdicts are not.
expect_eq "tiny ring: reopen" "$(ctl open '{ring_size = 4096}')" ok
r=$(ctl add proto=udp,dport=5000,action=drop,copy=all); id=${r#ok }
out=$(send "{{b.udp4{dport = 5000, payload = 1000}, 20000}, {b.udp4{dport = 6000, $T}, 5}}")
got=$(ctl count)
st=$(ctl rstats "$id")
expect_eq "tiny ring: every matching packet still dropped" "$(kv test "$got") $(kv packets "$st")" "5 20000"
lost=$(kv copy_lost "$st")
[ "${lost:-0}" -gt 0 ] && pass "tiny ring: copy_lost > 0 ($lost)" || fail "tiny ring: copy_lost > 0" "$st"
expect_eq "tiny ring: copied + lost = matched" "$(( $(kv copied "$st") + lost ))" 20000

echo quit >&7
exec 7>&-
netns_wait "$CTL_PID"
for i in $(seq 1 50); do [ "$(xdp_on_b)" = 0 ] && break; sleep 0.1; done
expect_eq "after close: no XDP program on the interface" "$(xdp_on_b)" 0

# xdpdump: drop and record, flushed on Ctrl-C, readable by tcpdump.
netns_bg "$NS_B" 30 "$TMP/dump.out" "$TMP/dump.err" "$PKTSH" scripts/xdpdump.lua "$IF_B" \
  "proto=udp,dport=5000,action=drop,copy=128" -w "$TMP/xdpdump.pcap"
dpid=$BG_PID
if netns_wait_for "$TMP/dump.err" "listening" 10; then
  out=$(send "{{b.udp4{dport = 5000, payload = 300}, 123}}")
  sleep 0.5
  kill -INT "$dpid"
  netns_wait "$dpid"; rc=$?
  expect_eq "xdpdump: Ctrl-C ends it cleanly" "$rc" 0
  n=$(tcpdump -n -r "$TMP/xdpdump.pcap" 2>/dev/null | grep -c 'UDP')
  expect_eq "xdpdump: tcpdump reads every dropped packet" "$n" 123
  expect_match "xdpdump: summary" "$(cat "$TMP/dump.err")" "123 packets written"
else
  fail "xdpdump: starts" "$(cat "$TMP/dump.err")"
  kill -9 "$dpid" 2>/dev/null; netns_wait "$dpid"
fi
expect_eq "xdpdump: detached at exit" "$(xdp_on_b)" 0

# kill -9 leaves no program behind (the bpf_link dies with the process).
netns_bg "$NS_B" 30 "$TMP/k.out" "$TMP/k.err" "$PKTSH" scripts/firewall.lua "$IF_B" \
  "proto=udp,dport=5000,action=drop" --interval 0.2
kpid=$BG_PID
if netns_wait_for "$TMP/k.out" "dropped" 10; then
  expect_eq "kill -9: attached while running" "$(xdp_on_b)" 1
  { kill -9 "$kpid"; netns_wait "$kpid"; } 2>/dev/null
  for i in $(seq 1 50); do [ "$(xdp_on_b)" = 0 ] && break; sleep 0.1; done
  expect_eq "kill -9: no XDP program left on the interface" "$(xdp_on_b)" 0
  out=$(send "{{b.udp4{dport = 5000, $T}, 10}}")
  expect_eq "kill -9: traffic flows again" "$(kv sent "$out")" 10
else
  fail "kill -9: firewall starts" "$(cat "$TMP/k.err")"
  kill -9 "$kpid" 2>/dev/null; netns_wait "$kpid"
fi

# pktsh.open{xdp = IFACE, ...}: a source over the copies of its own rule set.
cat > "$TMP/xsrc.lua" <<'LUA'
-- xsrc.lua IFACE [SNAPLEN [RULE...]]: counts the test packets the source
-- gives until the END marker, then closes it (detaching the program).
local ffi = require "ffi"
local rules = {}
for i = 3, #arg do rules[#rules + 1] = arg[i] end
local snap = tonumber(arg[2] or "")
local src, err = pktsh.open{xdp = arg[1], duration = 20, snaplen = snap,
                            rules = #rules > 0 and rules or nil}
if not src then print("err " .. err); os.exit(1) end
print("ready " .. src.name .. " " .. src.kind); io.stdout:flush()
local n, maxcap, ended = 0, 0, 0
for p in src:packets() do
  local s = ffi.string(p.data, p.caplen)
  if s:find("pktsh-END", 1, true) then ended = 1; break end
  if s:find("pktsh-test", 1, true) or (p:udp() and p:udp().dport == 5000) then
    n = n + 1
    if p.caplen > maxcap then maxcap = p.caplen end
  end
end
local st = src:stats()
local fw = src.fw
local info = fw:info()
src:close()
print(string.format("count=%d end=%d maxcap=%d drops=%d rules=%d attach=%s closed=%s",
  n, ended, maxcap, st.drops, info.rules, info.attach, tostring(fw.handle == nil)))
LUA
xsrc() {  # xsrc NAME SEND_SPEC [SNAPLEN [RULE...]] -> sent=N and the source's last line
  local name=$1 spec=$2; shift 2
  netns_bg "$NS_B" 40 "$TMP/xs.out" "$TMP/xs.err" "$PKTSH" "$TMP/xsrc.lua" "$IF_B" "$@"
  local pid=$BG_PID
  if ! netns_wait_for "$TMP/xs.out" "^(ready|err)" 10; then
    fail "$name: source opens" "$(cat "$TMP/xs.err")"; kill -9 "$pid" 2>/dev/null; netns_wait "$pid"; return
  fi
  local sent
  sent=$(send "$spec")
  netns_wait "$pid"
  echo "$sent $(tail -1 "$TMP/xs.out")"
}
r=$(xsrc "open{xdp}" "{{b.udp4{dport = 6000, $T}, 300}, {b.udp6{dport = 6001, $T}, 40}}")
expect_eq "open{xdp}: every packet copied (count = sent)" "$(kv count "$r") $(kv end "$r") $(kv sent "$r")" "340 1 340"
expect_eq "open{xdp}: one copy-all rule, attached through a link" "$(kv rules "$r") $(kv attach "$r")" "1 link"
expect_eq "open{xdp}: closing the source closes its rule set" "$(kv closed "$r")" true
expect_eq "open{xdp}: detached after close" "$(xdp_on_b)" 0
r=$(xsrc "open{xdp} rules" "{{b.udp4{dport = 5000, payload = 200}, 120}, {b.udp4{dport = 6000, $T}, 30}}" \
  64 "proto=udp,dport=5000")
expect_eq "open{xdp}, rules: only what the rule matches, snaplen bytes" \
  "$(kv count "$r") $(kv maxcap "$r") $(kv drops "$r")" "120 64 0"
r=$(netns_exec "$NS_B" "$PKTSH" -e "print(pktsh.open{xdp = 'pkNone9'})" 2>&1)
expect_match "open{xdp}: a bad interface is nil, err" "$r" "^nil	no such interface 'pkNone9'"
expect_eq "open{xdp}: nothing left on the interface" "$(xdp_on_b)" 0
