#!/usr/bin/env bash
# What libbpf and libxdp print goes through pktsh (src/xdp/bpflog.c):
# nothing by default, their warnings from pktsh.verbose(1) (-v in the XDP
# scripts) on, their debug lines from pktsh.verbose(2) (-vv) on. The
# warnings come from loading the XDP program as nobody (refused); the
# debug lines from loading it as root and attaching it to lo in a network
# namespace of this test's own (unshare -n: no traffic, and the
# namespace, with the program, goes when pktsh exits).
. tests/lib/sh.sh
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null || ! command -v setpriv >/dev/null \
   || ! id nobody >/dev/null 2>&1; then
  skip "bpflog" "needs root, unshare and setpriv (util-linux) and the user nobody"; exit 0
fi
# as_nobody LEVEL: loads the program as nobody; prints stderr's libbpf lines
as_nobody() {
  timeout 20 setpriv --reuid nobody --regid "$(id -g nobody)" --clear-groups --inh-caps=-all \
    "$PKTSH" -e "pktsh.verbose($1); print(pktsh.xdp('lo'))" 2>&1 >/dev/null | grep -c '^libbpf: '
}
# as_root LEVEL: attaches to lo in a new namespace; "ok" and the number of
# libbpf lines on stderr
as_root() {
  timeout 20 unshare -n "$PKTSH" -e "pktsh.verbose($1)
    local fw, e = pktsh.xdp('lo', {mode = 'skb'})
    io.stderr:write(fw and 'attached\n' or ('not attached: ' .. e .. '\n'))
    if fw then fw:close() end" 2>"$TMP/root.err"
  grep -c '^libbpf: ' "$TMP/root.err"
}
expect_eq "verbose 0: libbpf's refusal is not printed" "$(as_nobody 0)" 0
n=$(as_nobody 1)
if [ "$n" -gt 0 ]; then pass "verbose 1: libbpf's warnings are printed ($n lines)"
else fail "verbose 1: libbpf's warnings are printed" "no libbpf line"; fi
n=$(as_root 1)
if ! grep -q '^attached' "$TMP/root.err"; then
  skip "bpflog debug lines" "cannot attach XDP to lo here: $(tail -1 "$TMP/root.err")"; exit 0
fi
expect_eq "verbose 1: no debug line when loading succeeds" "$n" 0
n=$(as_root 2)
if [ "$n" -gt 0 ]; then pass "verbose 2: libbpf's debug lines are printed ($n lines)"
else fail "verbose 2: libbpf's debug lines are printed" "no libbpf line"; fi
