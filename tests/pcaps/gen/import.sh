#!/usr/bin/env bash
# tests/pcaps/gen/import.sh GITDIR REPO PATH NAME LICENCE TAGS EXERCISES [DECODE_AS]
#
# Copies one public capture, byte for byte, from a fetched repository
# (GITDIR: a bare git directory whose HEAD is the commit taken) to
# tests/pcaps/NAME, appends its row to tests/pcaps/MANIFEST.tsv (the
# columns of /work/shared/pcaps/README.md, then licence) and, for a
# capture tagged dns, writes its tshark oracle (gen/oracle.sh). Needs
# capinfos, tcpdump and tshark. A row already there for NAME is replaced.
set -euo pipefail
[ $# -ge 7 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
gitdir=$1 repo=$2 path=$3 name=$4 licence=$5 tags=$6 what=$7 decode_as=${8:-}
cd "$(dirname "$0")/../../.."
P=tests/pcaps
out=$P/$name
commit=$(git --git-dir="$gitdir" rev-parse HEAD)
git --git-dir="$gitdir" show "HEAD:$path" >"$out"

case $(od -An -tx1 -N4 "$out" | tr -d ' ') in
  d4c3b2a1) format="pcap (usec, little-endian)" ;;
  a1b2c3d4) format="pcap (usec, big-endian)" ;;
  4d3cb2a1) format="pcap (nsec, little-endian)" ;;
  a1b23c4d) format="pcap (nsec, big-endian)" ;;
  0a0d0d0a) format="pcapng" ;;
  *) echo "import: $path is not a pcap or pcapng file" >&2; exit 1 ;;
esac
head=$(tcpdump -n -r "$out" -c 1 2>&1 >/dev/null | grep -m1 'link-type' || true)
link=$(printf '%s' "$head" | sed -n 's/.*link-type \(.*\), snapshot length.*/\1/p')
snap=$(printf '%s' "$head" | sed -n 's/.*snapshot length \([0-9]*\).*/\1/p')
packets=$(capinfos -M -c "$out" | awk '/Number of packets/ { print $NF }')
lines=$(tcpdump -n -r "$out" 2>/dev/null | wc -l)
da=(); [ -n "$decode_as" ] && da=(-d "$decode_as")
dnsf=$(tshark -n -r "$out" "${da[@]}" -Y 'dns || mdns || llmnr' 2>/dev/null | wc -l)
cut=$(tshark -n -r "$out" -T fields -e frame.len -e frame.cap_len 2>/dev/null | awk '$1 > $2' | wc -l)
bad=$(tshark -n -r "$out" "${da[@]}" -Y _ws.malformed 2>/dev/null | wc -l)
malformed=no
case ",$tags," in
  *,malformed,*) malformed="packet-level (intentional)" ;;
  *) [ "$bad" -gt 0 ] && malformed="tshark flags $bad malformed frame(s)" ;;
esac
oracle=""
case ",$tags," in
  *,dns,*)
    oracle="oracle/${name%.pcap*}.dns.tsv"
    if [ -n "$decode_as" ]; then
      n=${name%.pcap*}
      tshark -n -r "$out" -d "$decode_as" -Y 'dns || mdns || llmnr' -T fields \
        -e frame.number -e ip.src -e ipv6.src -e dns.flags.response -e dns.id \
        -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.resp.ext_rcode \
        -e dns.time -e frame.time_epoch -e frame.protocols \
        -E header=y -E separator=/t -E occurrence=a -E aggregator=, >"$P/$oracle" 2>/dev/null
    else
      bash tests/pcaps/gen/oracle.sh "$out"
    fi ;;
esac
bytes=$(stat -c %s "$out")
sum=$(sha256sum "$out" | cut -d' ' -f1)
row=$(printf '%s\t' "$name" "$repo" "${commit:0:12}" "$path" "$format" "$link" "$snap" "$packets" \
  "$lines" "$dnsf" "$cut" "$bad" "$malformed" "$tags" "$what" "$oracle" "$decode_as" "$bytes" "$sum")
awk -F'\t' -v n="$name" '$1 != n' $P/MANIFEST.tsv >$P/MANIFEST.tsv.new
printf '%s%s\n' "$row" "$licence" >>$P/MANIFEST.tsv.new
mv $P/MANIFEST.tsv.new $P/MANIFEST.tsv
echo "$name: $packets packets, $dnsf DNS frames (tshark), $bytes bytes"
