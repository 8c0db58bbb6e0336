#!/usr/bin/env bash
# scripts/dump.lua: summaries, filters, -c, -v, -x, --json, -w, errors.
. tests/lib/sh.sh
P=tests/pcaps
dump() { "$PKTSH" scripts/dump.lua "$@"; }

out=$(dump $P/dnscap__dns.pcap 2>"$TMP/err")
expect_eq "one line per packet" "$(echo "$out" | wc -l)" 133
expect_eq "summary on stderr" "$(cat "$TMP/err")" "133 packets"
expect_eq "first line" "$(echo "$out" | head -1)" \
  "15:23:01.075993 IP 172.17.0.10.53199 > 8.8.8.8.53: 59311+ A? google.com. (28)"
out=$(dump $P/dnscap__dns.pcap udp port 53 2>"$TMP/err")
expect_eq "filter words are joined" "$(echo "$out" | wc -l)" 82
expect_eq "filter summary" "$(cat "$TMP/err")" "82 packets, 133 read, 51 filtered out"
expect_eq "-c stops early" "$(dump -c 3 -q $P/dnscap__dns.pcap | wc -l)" 3

out=$(dump -v -c 1 $P/dnscap__vlan11.pcap 2>/dev/null)
expect_match "-v prints the layers" "$(echo "$out" | tr '\n' ' ')" "Ethernet.*802.1Q|Ethernet.*[Vv][Ll][Aa][Nn].*Internet Protocol Version 4.*User Datagram Protocol"
out=$(dump -x -c 1 $P/tcpdump__dns_udp.pcap 2>/dev/null)
expect_match "-x prints hex as tcpdump -x" "$(echo "$out" | sed -n 2p)" "^	0x0000:  4500 0054 59cd 0000 4011 94ae c0a8 010b$"

# --json: every line parses and carries the promised keys.
dump --json $P/dnscap__vlan11.pcap >"$TMP/j" 2>/dev/null
J="$TMP/j" check "--json lines parse with the required keys" "$PKTSH" -e '
  local json = require "pktsh.report.json"
  local n = 0
  for line in io.lines(os.getenv("J")) do
    n = n + 1
    local o = assert(json.decode(line))
    assert(o.n == n and o.ts and o.len and o.caplen, line)
    if o.proto == "udp" then assert(o.src and o.dst and o.sport and o.dport, line) end
    assert(o.vlan == 11, line)
  end
  assert(n == 133, n)'
check "--json keeps ns timestamps" grep -q '"ts":1476976981.075993000,' "$TMP/j"
line=$(dump --json -c 1 $P/tcpdump__802.1ad_QinQ.pcap 2>/dev/null)
expect_match "--json leaves out absent fields" "$line" '^\{"n":1,"ts":[0-9.]+,"len":[0-9]+,"caplen":[0-9]+,"vlan":200\}$'

# -w writes a pcap tcpdump reads; -w - writes to stdout.
dump -w "$TMP/w.pcap" $P/dnscap__dns.pcap icmp 2>"$TMP/err"
expect_eq "-w summary" "$(cat "$TMP/err")" "41 packets, 133 read, 92 filtered out, 41 written to $TMP/w.pcap"
if command -v tcpdump >/dev/null; then
  expect_eq "-w file read by tcpdump" "$(tcpdump -nr "$TMP/w.pcap" 2>/dev/null | wc -l)" 41
  expect_eq "-w - to a pipe" "$(dump -q -w - $P/dnscap__dns.pcap | tcpdump -nr - 2>/dev/null | wc -l)" 133
else
  skip "-w file read by tcpdump" "tcpdump not installed"
fi
expect_eq "reads a capture from stdin" "$(cat $P/dnscap__dns.pcap | dump -q - | wc -l)" 133

# Errors: usage 2, unreadable input 1, and every packet before a torn record.
dump -z $P/dnscap__dns.pcap >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "unknown option exits 2" "$rc" 2
expect_match "unknown option named" "$(cat "$TMP/err")" "unknown option '-z'"
dump >/dev/null 2>&1; expect_eq "no source exits 2" "$?" 2
dump -c x $P/dnscap__dns.pcap >/dev/null 2>&1; expect_eq "bad -c exits 2" "$?" 2
dump "$TMP/none.pcap" 2>"$TMP/err"; rc=$?
expect_eq "missing file exits 1" "$rc" 1
expect_match "missing file named" "$(cat "$TMP/err")" "none.pcap"
dump $P/dnscap__dns.pcap 'port banana' 2>"$TMP/err"; rc=$?
expect_eq "bad filter exits 1" "$rc" 1
expect_match "bad filter named" "$(cat "$TMP/err")" "bad filter 'port banana'"
dump $P/libpcap__pcap-invalid-version-1.pcap 2>"$TMP/err"; rc=$?
expect_eq "corrupt capture exits 1" "$rc" 1
size=$(stat -c %s $P/dnscap__dns.pcap)
head -c $((size - 20)) $P/dnscap__dns.pcap > "$TMP/torn.pcap"
n=$(dump "$TMP/torn.pcap" 2>"$TMP/err" | wc -l); rc=${PIPESTATUS[0]}
expect_eq "torn capture: every complete packet" "$n" 132
expect_match "torn capture: truncation reported" "$(cat "$TMP/err")" "truncated"
dump -w "$TMP/nodir/x.pcap" $P/dnscap__dns.pcap 2>"$TMP/err"; rc=$?
expect_eq "unwritable -w exits 1" "$rc" 1
dump -h | grep -q "^usage: pktsh scripts/dump.lua" && pass "-h" || fail "-h" "no usage"
