#!/usr/bin/env bash
# test_bench_smoke.sh - the `make bench` code without timing: the generator
# is deterministic and writes a capture tcpdump reads, and the C ideal,
# parse_raw.lua and parse.lua (when the decoders exist) agree on the
# checksum line, on a small synthetic capture and on tests/pcaps.
set -u
cd "$(dirname "$0")/../.."
PKTSH=${PKTSH_BIN:-$PWD/build/pktsh}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
N=2000

ok() { echo "ok - $1"; }
notok() { echo "not ok - $1"; }
skip() { echo "skipped: $1: $2"; }

if ! "$PKTSH" tests/bench/gendns.lua "$tmp/a.pcap" $N 2>"$tmp/gen.err"; then
  notok "gendns.lua writes $N packets: $(tail -1 "$tmp/gen.err")"
  exit 1
fi
"$PKTSH" tests/bench/gendns.lua "$tmp/b.pcap" $N 2>/dev/null
if cmp -s "$tmp/a.pcap" "$tmp/b.pcap"; then ok "gendns.lua is deterministic"
else notok "gendns.lua is deterministic: two runs differ"; fi

if command -v tcpdump >/dev/null; then
  n=$(tcpdump -nr "$tmp/a.pcap" 2>/dev/null | wc -l)
  bad=$(tcpdump -vvnr "$tmp/a.pcap" 2>/dev/null | grep -c -i -e 'bad cksum' -e 'bad udp cksum' -e 'incorrect' -e malformed -e '\[|')
  if [ "$n" = $N ] && [ "$bad" = 0 ]; then ok "tcpdump reads $N packets with good checksums"
  else notok "tcpdump reads $N packets with good checksums: $n packets, $bad complaints"; fi
else
  skip "tcpdump reads the capture" "no tcpdump"
fi

if ! cc -O2 -o "$tmp/cideal" tests/bench/cideal.c \
     $(pkg-config --cflags --libs libpcap 2>/dev/null || echo -lpcap) 2>"$tmp/cc.err"; then
  notok "cideal.c compiles: $(head -3 "$tmp/cc.err")"
  exit 1
fi
ok "cideal.c compiles"

want=$("$tmp/cideal" "$tmp/a.pcap" | grep '^sum ')
case "$want" in
  *"packets=$N "*"dnsbad=0 "*) ok "cideal parses the synthetic capture" ;;
  *) notok "cideal parses the synthetic capture: $want" ;;
esac

# same NAME SCRIPT: the script's sum line equals cideal's on the synthetic
# capture and (ALL=1) on every Ethernet capture in tests/pcaps.
same() {
  local name=$1 script=$2 all=$3 got f w bad=""
  got=$("$PKTSH" "$script" "$tmp/a.pcap" 2>&1 | grep -e '^sum ' -e '^skipped' || true)
  case "$got" in skipped*) skip "$name agrees with cideal" "decoders missing"; return ;; esac
  if [ "$got" = "$want" ]; then ok "$name agrees with cideal on the synthetic capture"
  else notok "$name agrees with cideal on the synthetic capture: got '$got', want '$want'"; fi
  [ "$all" = 1 ] || return 0
  for f in tests/pcaps/*.pcap tests/pcaps/*.pcapng; do
    [ -e "$f" ] || continue
    # cideal reads Ethernet, VLAN tags and IP: the decoders see through
    # tunnels and offloaded lengths it does not (tests/unit/test_walk.lua)
    awk -F'\t' -v f="${f##*/}" '$1 == f && $14 ~ /tunnel|offload|encap/ { found = 1 } END { exit !found }' \
      tests/pcaps/MANIFEST.tsv && continue
    w=$("$tmp/cideal" "$f" 2>/dev/null | grep '^sum ') || continue
    got=$("$PKTSH" "$script" "$f" 2>/dev/null | grep '^sum ')
    [ "$got" = "$w" ] || bad="$bad ${f##*/}"
  done
  if [ -z "$bad" ]; then ok "$name agrees with cideal on tests/pcaps"
  else notok "$name agrees with cideal on tests/pcaps:$bad"; fi
}
same parse_raw.lua tests/bench/parse_raw.lua 1
same parse.lua tests/bench/parse.lua 1

# tiletcp.lua: the text rows' TCP capture, N frames of tests/pcaps' TCP
# captures, which dump.lua prints as tcpdump does
if "$PKTSH" tests/bench/tiletcp.lua "$tmp/t.pcap" $N 2>"$tmp/tile.err"; then
  if command -v tcpdump >/dev/null; then
    TZ=UTC tcpdump -nr "$tmp/t.pcap" 2>/dev/null >"$tmp/t.td"
    TZ=UTC "$PKTSH" scripts/dump.lua -q -r "$tmp/t.pcap" >"$tmp/t.pk" 2>/dev/null
    n=$("$PKTSH" -e "local n = 0
      for p in assert(pktsh.open('$tmp/t.pcap')):packets() do if p:proto() == 6 then n = n + 1 end end
      print(n)")
    if [ "$n" = $N ]; then ok "tiletcp.lua writes $N TCP segments"
    else notok "tiletcp.lua writes $N TCP segments: $n"; fi
    if cmp -s "$tmp/t.td" "$tmp/t.pk"; then ok "tiletcp.lua's capture: dump.lua's lines are tcpdump's"
    else notok "tiletcp.lua's capture: dump.lua's lines are tcpdump's: $(diff "$tmp/t.td" "$tmp/t.pk" | head -2)"; fi
  else
    skip "tiletcp.lua's capture" "no tcpdump"
  fi
else
  notok "tiletcp.lua writes $N frames: $(tail -1 "$tmp/tile.err")"
fi
