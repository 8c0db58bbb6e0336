#!/usr/bin/env bash
# scripts/histogram.lua and scripts/toptalkers.lua; the hist/top globals.
. tests/lib/sh.sh
P=tests/pcaps
hg() { "$PKTSH" scripts/histogram.lua "$@"; }
tt() { "$PKTSH" scripts/toptalkers.lua "$@"; }

out=$(hg $P/dnscap__dns.pcap --by dport --ascii)
expect_match "histogram --by dport" "$out" "53 +41 +50.0%"
expect_eq "--ascii: no UTF-8" "$(printf '%s' "$out" | LC_ALL=C grep -c $'[\x80-\xff]')" 0
out=$(LANG=C.UTF-8 LC_ALL= hg $P/dnscap__dns.pcap --by dport)
expect_match "Unicode bars with a UTF-8 locale" "$out" "█"
out=$(LANG=C LC_ALL= LC_CTYPE= hg $P/dnscap__dns.pcap --by dport)
expect_eq "ASCII bars with the C locale" "$(printf '%s' "$out" | LC_ALL=C grep -c $'[\x80-\xff]')" 0
out=$(hg $P/dnscap__dns.pcap --by len --ascii)
expect_match "--by len: log2 bins" "$out" "\[64, 128\) +82"
out=$(hg $P/dnscap__dns.pcap --by len --width 100 --ascii)
expect_match "--width: linear bins" "$out" "\[0, 100\)"
out=$(hg $P/dnscap__dns.pcap --by proto --window 10 --ascii)
expect_match "--window: one block per window" "$(echo "$out" | grep -c '^window ')" "^[2-9]$"
expect_match "--window: the whole run at the end" "$out" "all [0-9]+ windows"
hg $P/dnscap__dns.pcap --by len --json >"$TMP/h.json"
J="$TMP/h.json" check "--json parses" "$PKTSH" -e '
  local j = assert(pktsh.json.decode(io.open(os.getenv("J")):read("*a")))
  assert(j.chart == "hist" and j.kind == "log2" and j.n == 133, j.n)'
expect_eq "--csv header" "$(hg $P/dnscap__dns.pcap --by qtype --csv | head -1)" "qtype,count"
hg $P/dnscap__dns.pcap --by src --svg "$TMP/h.svg" >/dev/null
if command -v python3 >/dev/null; then
  check "--svg parses as XML" python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' "$TMP/h.svg"
else
  check "--svg written" grep -q '</svg>' "$TMP/h.svg"
fi
expect_match "filter words" "$(hg $P/dnscap__dns.pcap --by proto --ascii icmp)" "icmp +41"

hg $P/dnscap__dns.pcap >/dev/null 2>"$TMP/err"; expect_eq "no --by exits 2" "$?" 2
expect_match "no --by: says so" "$(cat "$TMP/err")" "--by FIELD is needed"
hg $P/dnscap__dns.pcap --by nope >/dev/null 2>"$TMP/err"; expect_eq "unknown field exits 2" "$?" 2
hg --frob $P/dnscap__dns.pcap >/dev/null 2>&1; expect_eq "unknown option exits 2" "$?" 2
hg "$TMP/none.pcap" --by len >/dev/null 2>"$TMP/err"; expect_eq "missing file exits 1" "$?" 1
expect_match "missing file named" "$(cat "$TMP/err")" "none.pcap"

out=$(tt $P/dnscap__dns.pcap --ascii)
expect_match "toptalkers: busiest source by bytes" "$out" "1 +8.8.8.8 +10479"
expect_match "toptalkers: rate line" "$out" "pkt/s"
out=$(tt $P/dnscap__dns.pcap --packets --by dst --json)
expect_match "toptalkers --json" "$out" '"chart":"topk"'
out=$(tt $P/dnscap__dns.pcap --capacity 1 --top 1 --ascii)
expect_match "toptalkers: bound stated when over capacity" "$out" "over by at most err"
tt --by nope $P/dnscap__dns.pcap >/dev/null 2>&1; expect_eq "toptalkers: unknown field exits 2" "$?" 2

# REPL globals, and start-up stays lazy
out=$("$PKTSH" -e "hist('$P/dnscap__dns.pcap', by.qtype, {ascii = true})")
expect_match "hist global" "$out" "A +48"
out=$("$PKTSH" -e "top(open'$P/dnscap__dns.pcap', by.src, {ascii = true})")
expect_match "top global" "$out" "1 +172.17.0.10 +65"
out=$(echo 'help(hist)' | "$PKTSH")
expect_match "help(hist)" "$out" "hist\(src, key"
out=$("$PKTSH" -e 'print(package.loaded["pktsh.report.hist"], package.loaded["pktsh.report.chart"])')
expect_eq "charts not loaded at start-up" "$out" "nil	nil"
