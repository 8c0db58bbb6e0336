#!/usr/bin/env bash
# What libbpf and libxdp print goes through pktsh (src/xdp/bpflog.c):
# nothing by default, their warnings from pktsh.verbose(1) (-v in the XDP
# scripts) on, their debug lines only from pktsh.verbose(2) (-vv) on.
# (Warnings as nobody, with and without -v: tests/sh/test_messages.sh.)
# The debug lines come from loading the XDP program as root and attaching
# it to lo in a network namespace of this test's own (unshare -n: no
# traffic, and the namespace, with the program, goes when pktsh exits).
. tests/lib/sh.sh
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
  skip "bpflog" "needs root and unshare (util-linux)"; exit 0
fi
# as_root LEVEL: attaches to lo in a new namespace; prints the number of
# libbpf lines on stderr ("attached" or why not is in $TMP/root.err)
as_root() {
  timeout 20 unshare -n "$PKTSH" -e "pktsh.verbose($1)
    local fw, e = pktsh.xdp('lo', {mode = 'skb'})
    io.stderr:write(fw and 'attached\n' or ('not attached: ' .. e .. '\n'))
    if fw then fw:close() end" 2>"$TMP/root.err"
  grep -c '^libbpf: ' "$TMP/root.err"
}
n=$(as_root 1)
if ! grep -q '^attached' "$TMP/root.err"; then
  skip "bpflog debug lines" "cannot attach XDP to lo here: $(tail -1 "$TMP/root.err")"; exit 0
fi
expect_eq "verbose 1: no debug line when loading succeeds" "$n" 0
expect_eq "verbose 0: nothing" "$(as_root 0)" 0
n=$(as_root 2)
if [ "$n" -gt 0 ]; then pass "verbose 2: libbpf's debug lines are printed ($n lines)"
else fail "verbose 2: libbpf's debug lines are printed" "no libbpf line"; fi
