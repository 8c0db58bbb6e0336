#!/usr/bin/env bash
# test_bench_shapes.sh - tests/bench/dnsshapes without timing, on small
# captures of every traffic shape: the generators are deterministic and
# write frames tcpdump reads with good checksums and only test addresses;
# the C loop (cideal -s) reads every message their truth says they wrote;
# dnsstats' counts equal that truth (tests/bench/shapecheck.lua), at the
# default --capacity and at --capacity 100, where the top-k tables evict
# and prune at this size.
set -u
cd "$(dirname "$0")/../.."
. tests/lib/sh.sh
N=2000

if ! cc -O2 -o "$TMP/genshapes" tests/bench/genshapes.c -lm 2>"$TMP/cc.err" ||
   ! cc -O2 -o "$TMP/cideal" tests/bench/cideal.c \
       $(pkg-config --cflags --libs libpcap 2>/dev/null || echo -lpcap) 2>>"$TMP/cc.err"; then
  fail "genshapes.c and cideal.c compile" "$(head -3 "$TMP/cc.err")"
  exit 1
fi
pass "genshapes.c and cideal.c compile"

gen() {   # gen SHAPE OUT: OUT.pcap and OUT.json
  if [ "$1" = mix ]; then
    "$PKTSH" tests/bench/gendns.lua "$2.pcap" $N "$2.json" 2>/dev/null
  else
    "$TMP/genshapes" "$1" "$2.pcap" $N "$2.json"
  fi
}
field() { sed -n "s/.*\"$2\":\\([0-9]*\\).*/\\1/p" "$1"; }   # field FILE NAME (first)

shapes="$("$TMP/genshapes" -l | cut -d: -f1) mix"
for s in $shapes; do
  f=$TMP/$s
  if ! gen "$s" "$f" || ! gen "$s" "$f.again"; then
    fail "$s: generated" "the generator failed"
    continue
  fi
  if cmp -s "$f.pcap" "$f.again.pcap" && cmp -s "$f.json" "$f.again.json"; then
    pass "$s: the same capture and truth twice"
  else
    fail "$s: the same capture and truth twice" "two runs differ"
  fi
  expect_eq "$s: the truth counts $N packets" "$(field "$f.json" packets)" "$N"

  if command -v tcpdump >/dev/null; then
    tcpdump -vvnr "$f.pcap" >"$f.td" 2>/dev/null
    n=$(tcpdump -nr "$f.pcap" 2>/dev/null | tee "$f.tdn" | wc -l)
    bad=$(grep -c -i -e 'bad cksum' -e 'bad udp cksum' -e 'incorrect' "$f.td")
    expect_eq "$s: tcpdump reads $N packets, no bad checksum" "$n $bad" "$N 0"
    # source and destination (port, if any, still attached) of every packet
    stray=$(awk '{ print $3; print $5 }' "$f.tdn" | grep -v -E '^(198\.1[89]\.|2001:2:0:|2001:2::)' | head -3)
    expect_eq "$s: only 198.18.0.0/15 and 2001:2::/48" "$stray" ""
  else
    skip "$s: tcpdump reads the capture" "no tcpdump"
  fi

  c=$("$TMP/cideal" -s "$f.pcap")
  dns=$(printf '%s\n' "$c" | sed -n 's/.* dns=\([0-9]*\) dnsbad=\([0-9]*\) .*/\1 \2/p')
  tcp=$(printf '%s\n' "$c" | sed -n 's/^streams tcpmsgs=\([0-9]*\) .*/\1/p')
  read -r d b <<<"$dns"
  expect_eq "$s: the C loop reads every message (all, malformed, over TCP)" \
    "$((d + b)) $b $tcp" "$(field "$f.json" dns) $(field "$f.json" malformed) $(field "$f.json" tcp)"

  "$PKTSH" scripts/dnsstats.lua --json "$f.pcap" >"$f.out" 2>"$f.err"
  got=$("$PKTSH" tests/bench/shapecheck.lua "$f.json" "$f.out" 2>&1)
  expect_eq "$s: dnsstats' counts equal the truth" "$got" OK

  # the top-k tables evict and their labels go at this capacity: the
  # top names keep their text (issue 11 item 4: they were shown as hashes)
  "$PKTSH" scripts/dnsstats.lua --json --capacity 100 "$f.pcap" >"$f.out100" 2>"$f.err"
  got=$("$PKTSH" tests/bench/shapecheck.lua "$f.json" "$f.out100" 100 2>&1)
  expect_eq "$s: dnsstats --capacity 100 counts equal the truth" "$got" OK
done

# The C loop's TCP reassembly against dnsstats' on captures made elsewhere
# (one message per segment, several per segment, one across segments).
for f in tests/pcaps/dnscap__dnso1tcp.pcap tests/pcaps/dnscap__dnsotcp-many1pkt.pcap \
         tests/pcaps/dnscap__dnsotcp-manyopkts.pcap tests/pcaps/tcpdump__dns_tcp.pcap; do
  [ -e "$f" ] || continue
  c=$("$TMP/cideal" -s "$f" | sed -n 's/^streams tcpmsgs=\([0-9]*\) .*/\1/p')
  d=$("$PKTSH" scripts/dnsstats.lua --json "$f" | sed -n 's/.*"tcp":\([0-9]*\).*/\1/p')
  expect_eq "the C loop and dnsstats find the same DNS-over-TCP messages in ${f##*/}" "$c" "$d"
done
