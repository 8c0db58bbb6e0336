#!/usr/bin/env bash
# `pktsh capture.pcap [FILTER]` and `pktsh -i IFACE [FILTER]` start the REPL
# with the global `src` open (commands piped in, as a user would type
# them; the banner line through a pty); -i before a script or alone keeps
# its meaning. The live part runs between two namespaces (198.18.0.0/15),
# bounded in packets and time.
. tests/lib/sh.sh
P=tests/pcaps
repl() { printf '%s\n' "${@:2}" | HOME=$TMP timeout 20 "$PKTSH" $1 2>&1; }

# --- a capture file --------------------------------------------------------
out=$(printf '%s\n' 'print(src.kind, src.linktype)' 'n = 0 for p in src:packets() do n = n + 1 end' 'n' |
  HOME=$TMP timeout 20 "$PKTSH" $P/dnscap__dns.pcap 2>&1); rc=$?
expect_eq "pktsh FILE: REPL with src open on it" "$out" $'file\t1\n133'
expect_eq "pktsh FILE: exit 0" "$rc" 0
out=$(echo 'n = 0 for p in src:packets() do n = n + 1 end print(n)' |
  HOME=$TMP timeout 20 "$PKTSH" $P/dnscap__dns.pcap udp port 53 2>&1)
expect_eq "pktsh FILE FILTER...: the words are the filter" "$out" 82
out=$(echo 'src:next().pkt[0]' | HOME=$TMP timeout 20 "$PKTSH" $P/tcpdump__dns_udp.pcap 2>&1)
expect_match "pktsh FILE: a packet prints as its summary" "$out" "^[0-9:.]+ IP .* [0-9]+\+ "
out=$(echo 'src.kind' | HOME=$TMP timeout 20 "$PKTSH" $P/zeek__pcapng-multi-interface.pcapng 2>&1)
expect_eq "pktsh FILE: pcapng too" "$out" file
out=$(echo 1 | HOME=$TMP timeout 20 "$PKTSH" $P/dnscap__dns.pcap 'port banana' 2>&1); rc=$?
expect_eq "pktsh FILE 'bad filter': exit 1" "$rc" 1
expect_match "pktsh FILE 'bad filter': named" "$out" "^pktsh: .*bad filter 'port banana'"

# A Lua script is still a script; -i after it still enters the REPL.
echo 'x = 6 * 7' > "$TMP/s.lua"
expect_eq "pktsh SCRIPT still runs Lua" "$(echo 'x' | "$PKTSH" "$TMP/s.lua" 2>&1)" ""
expect_eq "pktsh -i SCRIPT: REPL after it" "$(echo 'x' | HOME=$TMP "$PKTSH" -i "$TMP/s.lua" 2>&1)" 42
expect_eq "pktsh -i alone: the REPL" "$(echo '1+1' | HOME=$TMP "$PKTSH" -i 2>&1)" 2
expect_eq "pktsh -i -e: REPL after the chunk" "$(echo 'y' | HOME=$TMP "$PKTSH" -i -e 'y = 5' 2>&1)" 5

# -i IFACE that does not exist: the open's error, exit 1, no REPL.
out=$(echo 'print("repl ran")' | HOME=$TMP timeout 20 "$PKTSH" -i pktshnope0 2>&1); rc=$?
expect_eq "pktsh -i NOSUCH: exit 1" "$rc" 1
expect_eq "pktsh -i NOSUCH: the error, no REPL" "$out" "pktsh: cannot open 'pktshnope0': no such file or interface"

# The banner on a terminal shows what src is.
if command -v python3 >/dev/null; then
  out=$(HOME=$TMP timeout 20 python3 - "$PKTSH" "$P/dnscap__dns.pcap" <<'PY'
import os, pty, sys, time, select
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], [sys.argv[1], sys.argv[2], "udp"])
buf, end = b"", time.time() + 10
while b"> " not in buf and time.time() < end:
    if select.select([fd], [], [], 0.2)[0]:
        buf += os.read(fd, 4096)
os.write(fd, b"\x04")
os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace"))
PY
)
  expect_match "pktsh FILE on a terminal: the banner says src = open(...)" "$(echo "$out" | tr -d '\r' | tr '\n' ' ')" \
    "help\(\) for help.*src = open\(\"tests/pcaps/dnscap__dns.pcap\", \{filter = \"udp\"\}\)"
else
  skip "pktsh FILE on a terminal" "python3 is not installed"
fi

# --- -i IFACE, live -----------------------------------------------------------
. tests/lib/netns.sh
netns_require "repl -i IFACE"
if ! netns_setup; then fail "repl -i: namespace setup" "netns_setup failed"; exit 1; fi
cat > "$TMP/cmds" <<'LUA'
io.stderr:write("ready ", src.kind, "\n") io.stderr:flush()
n = 0 for p in src:packets() do n = n + 1 if n == 5 then break end end
print("got", n, src:stats().packets >= 5)
LUA
netns_bg "$NS_B" 15 "$TMP/live.out" "$TMP/live.err" \
  sh -c "HOME=$TMP exec \"\$0\" -i $IF_B udp port 5000 < $TMP/cmds" "$PKTSH"
if netns_wait_for "$TMP/live.err" "^ready" 10; then
  netns_exec "$NS_A" timeout 20 "$PKTSH" -e "
    local s = assert(pktsh.sender('$IF_A'))
    local b = pktsh.build
    s:send(b.udp4{src = '198.18.0.1', dst = '198.18.0.2', sport = 4000, dport = 5001, payload = 'other'}, 5)
    assert(s:send(b.udp4{src = '198.18.0.1', dst = '198.18.0.2', sport = 4000, dport = 5000, payload = 'pktsh-test'}, 5) == 5)"
fi
netns_wait "$BG_PID"; rc=$?
expect_eq "pktsh -i IFACE FILTER: REPL with src live on IFACE, filtered" \
  "$(cat "$TMP/live.out") rc=$rc timeout=$NETNS_TIMED_OUT" $'got\t5\ttrue rc=0 timeout=0'
expect_match "pktsh -i IFACE: src is live" "$(cat "$TMP/live.err")" "^ready live"
