#!/usr/bin/env bash
# What a user reads when something is wrong (issue 16 item 9):
# - error messages are whole, past the 255 bytes they were cut at;
# - the one-liners hist/top/rate raise what went wrong (they printed
#   nothing and pktsh -e exited 0);
# - without privileges, pktsh.xdp's one line is all that is printed:
#   libbpf's four lines come only with -v;
# - a bad option value is a usage error: exit 2, naming the option.
# (pktsh.json's valid UTF-8 and short floats: tests/unit/test_json.lua.)
. tests/lib/sh.sh
P=tests/pcaps/dnscap__dns.pcap

# --- long messages ------------------------------------------------------------
long="udp port 53 and $(printf 'host 198.18.0.1 or %.0s' $(seq 1 20))bogus"
out=$("$PKTSH" -e 'local s, e = pktsh.open("'$P'", {filter = "'"$long"'"}); io.write(e)')
expect_match "a 400-byte error is whole" "$out" "or bogus': unknown host 'bogus'\$"
expect_eq "... all of it" "$([ ${#out} -gt 400 ] && echo long)" long
huge=$(printf 'x%.0s' $(seq 1 9000))
out=$("$PKTSH" -e 'local s, e = pktsh.open("'$P'", {filter = "'"$huge"'"}); io.write(#e, " ", e:sub(-3))')
expect_eq "a message past the buffer ends in '...'" "$out" "8191 ..."

# --- one-liners ----------------------------------------------------------------
one_liner() {
  local name=$1 chunk=$2 want=$3
  "$PKTSH" -e "$chunk" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  expect_eq "$name: exit 1" "$rc" 1
  expect_match "$name: says why" "$(head -n 1 "$TMP/err")" "$want"
}
one_liner "hist('eth9', by.len)" "hist('pktsh-nosuch9', by.len)" \
  "^pktsh: \(-e\):1: cannot open 'pktsh-nosuch9': no such file or interface"
one_liner "hist(file, 'nosuch')" "hist('$P', 'nosuch')" "^pktsh: \(-e\):1: no key 'nosuch' \(try one of: src,"
one_liner "top(file, 'nosuch')" "top('$P', 'nosuch')" "no key 'nosuch'"
head -c 1000 $P >"$TMP/torn.pcap"
one_liner "rate(torn file)" "rate('$TMP/torn.pcap', {ascii = true})" "truncated capture: record header at offset 998"
expect_match "... after drawing what it read" "$(cat "$TMP/out")" "6 packets, 878 bytes"
out=$("$PKTSH" -e "hist('$P', by.qtype, {ascii = true})" 2>&1)
expect_match "a good hist() still draws and exits 0" "$out" "A +48"

# --- libbpf's messages ------------------------------------------------------------
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
  for s in xdpdump firewall; do
    nobody "$PKTSH" scripts/$s.lua --skb lo >"$TMP/out" 2>"$TMP/err"
    rc=$?
    expect_eq "$s.lua without privileges: exit 1" "$rc" 1
    expect_eq "$s.lua without privileges: one line, pktsh's" "$(cat "$TMP/err")" \
      "$s: loading the XDP program: permission denied (XDP needs root, or CAP_BPF and CAP_NET_ADMIN)"
  done
  nobody "$PKTSH" scripts/xdpdump.lua -v --skb lo >"$TMP/out" 2>"$TMP/err"
  expect_match "xdpdump.lua -v shows libbpf's messages" "$(cat "$TMP/err")" "^libbpf: "
  expect_match "... then pktsh's" "$(tail -n 1 "$TMP/err")" "^xdpdump: loading the XDP program: permission denied"
  out=$(nobody "$PKTSH" -e 'print(pktsh.xdp("lo", {mode = "skb"}))' 2>&1)
  expect_eq "pktsh.xdp without privileges: nil, err and nothing else" "$out" \
    "nil	loading the XDP program: permission denied (XDP needs root, or CAP_BPF and CAP_NET_ADMIN)"
else
  skip "libbpf's messages" "needs root and setpriv to run as nobody"
fi

# --- usage errors exit 2, naming the option ------------------------------------------
usage() {
  local want=$1; shift
  "$PKTSH" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  expect_eq "$* is a usage error: exit 2" "$rc" 2
  expect_eq "... naming the option" "$(cat "$TMP/err")" "$want"
}
usage "dump: -Q needs one of in, out, both, not 'bogus'" scripts/dump.lua -Q bogus lo
usage "count: --fanout needs one of hash, lb, cpu, rollover, qm, not 'bogus'" \
  scripts/count.lua --fanout bogus lo
# a fanout option on a file exited 1, as a read error does
usage "count: --fanout works on an interface (a PACKET_FANOUT group), and $P is not one" \
  scripts/count.lua --fanout hash $P
usage "count: --defrag works on an interface (a PACKET_FANOUT group), and $P is not one" \
  scripts/count.lua --defrag $P
usage "firewall: --engine needs one of auto, linear, classifier, not 'x'" scripts/firewall.lua --engine x lo
usage "firewall: --default needs one of pass, drop, not 'x'" scripts/firewall.lua --default x lo
usage "xdpdump: --engine needs one of auto, linear, classifier, not 'x'" scripts/xdpdump.lua --engine x lo
