#!/usr/bin/env bash
# Every capture, the malformed and truncated ones above all, goes through
# every decoder and printer under valgrind: no invalid read, no crash, and
# each file either reads or is refused with a clean error.
. tests/lib/sh.sh
P=tests/pcaps
files=$(ls $P/*.pcap $P/*.pcapng)

# Without valgrind the same run still checks for crashes.
runner=()
if command -v valgrind >/dev/null; then
  runner=(valgrind -q --error-exitcode=99 --log-file="$TMP/vg.log")
else
  skip "valgrind" "valgrind not installed; running without it"
fi
"${runner[@]}" "$PKTSH" tests/lib/readall.lua $files >"$TMP/out" 2>"$TMP/err"; rc=$?
if [ $rc -eq 0 ]; then
  pass "all captures decoded without memory errors or crashes"
else
  fail "all captures decoded without memory errors or crashes" \
    "exit $rc: $(head -c 600 "$TMP/vg.log" 2>/dev/null) $(tail -3 "$TMP/err")"
fi

# Each file: the manifest's packet count, or a clean refusal. (awk splits
# the columns: `read` with a tab IFS would merge empty ones, such as a
# generated capture's source commit, and shift the rest.)
while IFS='|' read -r file packets malformed; do
  line=$(grep -F "$P/$file " "$TMP/out")
  case $malformed in
    FILE-LEVEL*) expect_match "$file refused cleanly" "$line" "error: cannot read .*$file" ;;
    *) expect_eq "$file read whole" "$line" "$P/$file $packets" ;;
  esac
done < <(awk -F'\t' 'NR > 1 { print $1 "|" $8 "|" $13 }' $P/MANIFEST.tsv)

# dnsstats' C paths (the UDP scan, the pending table, the top-k columns)
# under valgrind, on captures of every shape it handles.
if command -v valgrind >/dev/null; then
  bad=""
  for f in dnscap__dns6 dnscap__vlan11 dnscap__dnsotcp-manyopkts dnscap__frags dnscap__sll2 \
           tcpdump__udp-length-heapoverflow tcpdump__dns-zlip-1 zeek__q-in-q; do
    valgrind -q --error-exitcode=99 "$PKTSH" scripts/dnsstats.lua --json --capacity 2 \
      "$P/$f.pcap" >/dev/null 2>"$TMP/vgds" || bad="$bad $f"
  done
  expect_eq "dnsstats without memory errors" "${bad:-none}" none
fi

# A script that dies holding a source and a writer leaks nothing.
if command -v valgrind >/dev/null; then
  cat > "$TMP/dies.lua" <<LUA
local s = pktsh.open("$P/dnscap__dns.pcap", {filter = "udp"})
local w = pktsh.pcap_writer("$TMP/dies.pcap")
s:each(function(p) w:write(p) end)
error("boom")
LUA
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=99 "$PKTSH" "$TMP/dies.lua" >/dev/null 2>"$TMP/leak"; rc=$?
  expect_eq "script error: exit 1, no leak" "$rc" 1
  expect_eq "script error: writer flushed" "$(tcpdump -nr "$TMP/dies.pcap" 2>/dev/null | wc -l)" 82
fi
