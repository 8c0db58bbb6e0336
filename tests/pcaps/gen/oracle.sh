#!/usr/bin/env bash
# tests/pcaps/gen/oracle.sh FILE.pcap... - writes tests/pcaps/oracle/NAME.dns.tsv
# for each capture: tshark's decode, with the command and fields the
# shared oracles were made with (/work/shared/pcaps/README.md).
set -euo pipefail
cd "$(dirname "$0")/../../.."
for f in "$@"; do
  n=$(basename "$f"); n=${n%.pcap*}
  tshark -n -r "$f" -Y 'dns || mdns || llmnr' -T fields \
    -e frame.number -e ip.src -e ipv6.src -e dns.flags.response -e dns.id \
    -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.resp.ext_rcode \
    -e dns.time -e frame.time_epoch -e frame.protocols \
    -E header=y -E separator=/t -E occurrence=a -E aggregator=, \
    >"tests/pcaps/oracle/$n.dns.tsv" 2>/dev/null
done
