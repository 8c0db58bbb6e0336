#!/usr/bin/env bash
# scripts/dnsstats.lua: --json against numbers derived from the tshark
# oracles (tests/pcaps/oracle), and latency percentiles against dns.time.
# (Split from test_dnsstats.sh, which has the rest.)
. tests/lib/sh.sh
P=tests/pcaps
ds() { "$PKTSH" scripts/dnsstats.lua "$@"; }

if ! command -v python3 >/dev/null; then
  skip "dnsstats against the oracles" "python3 not installed"
else
  # Expected counts from an oracle: messages (dns.id values), queries,
  # responses, qtypes of queries, full rcodes of responses, matched pairs.
  # Rows of ICMP-quoted DNS and mDNS are left out: pktsh does not count
  # DNS quoted in ICMP errors, and 5353 is not a default port.
  # One python3 run for every oracle (its start costs seconds on a busy
  # machine): `oracle.py DIR NAME[:DROP]...` writes DIR/NAME.json, the
  # counts as compact JSON with sorted keys (pktsh.json.encode's form),
  # without the key DROP.
  cat >"$TMP/oracle.py" <<'PY'
import csv, json, sys
def expect(path):
  rows = list(csv.DictReader(open(path), delimiter="\t"))
  e = {"dns": 0, "queries": 0, "responses": 0, "qtypes": {}, "rcodes": {}, "matched": 0}
  for r in rows:
    protos = r["frame.protocols"]
    if "icmp" in protos or "mdns" in protos:
        continue
    ids = [x for x in r["dns.id"].split(",") if x]
    resp = [x for x in r["dns.flags.response"].split(",") if x]
    e["dns"] += len(ids)
    types = r["dns.qry.type"].split(",")
    rc = r["dns.flags.rcode"].split(",")
    ext = r["dns.resp.ext_rcode"].split(",")
    # one question per message: types line up with messages; rcodes of
    # responses line up with the responses; ext_rcode only with one message
    for i, q in enumerate(resp):
        t = types[i] if len(types) == len(resp) else ""
        if q == "0":
            e["queries"] += 1
            if t:
                e["qtypes"][t] = e["qtypes"].get(t, 0) + 1
        else:
            e["responses"] += 1
            rv = rc.pop(0) if rc and rc[0] else ""
            if rv:
                x = ext[0] if len(resp) == 1 and ext[0] else "0"
                full = int(rv, 0) | (int(x, 0) << 4)
                e["rcodes"][str(full)] = e["rcodes"].get(str(full), 0) + 1
    e["matched"] += len([x for x in r["dns.time"].split(",") if x])
  return e
out = sys.argv[1]
for spec in sys.argv[2:]:
  name, _, drop = spec.partition(":")
  e = expect("tests/pcaps/oracle/%s.dns.tsv" % name)
  e.pop(drop, None)
  open("%s/%s.json" % (out, name), "w").write(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n")
PY
  # IANA numbers for the names dnsstats prints
  cat >"$TMP/got.lua" <<'LUA'
local j = pktsh.json.decode(io.read("*a"))
local dns = pktsh.dns
local qt, rc = {}, {}
for k, v in pairs(j.qtypes) do qt[tostring(dns.type_number(k))] = v end
local rnum = {}
for n = 0, 4095 do rnum[dns.rcode_name(n)] = n end
for k, v in pairs(j.rcodes) do rc[tostring(rnum[k])] = v end
local got = {dns = j.dns, queries = j.queries, responses = j.responses,
  qtypes = qt, rcodes = rc, matched = j.latency.matched}
if os.getenv("DROP") then got[os.getenv("DROP")] = nil end
print(pktsh.json.encode(got))
LUA
  ORACLES="dnscap__dns dnscap__dns6 dnscap__dnso1tcp dnscap__dnsotcp-many1pkt \
           dnscap__dnsotcp-manyopkts dnscap__frags dnscap__sll2 dnscap__vlan11 \
           ndpi__dns-google-nsid tcpdump__dns-badvers tcpdump__dns-uri tcpdump__dns_tcp \
           tcpdump__dns_udp tcpdump__dns_udp_2 tcpdump__dns_udp_8053 tcpdump__dnssec \
           tcpdump__edns-opts zeek__ipv6-fragmented-dns zeek__pcapng-multi-interface \
           zeek__icmp-destunreach-udp gen__dns-tcp-gap \
           ndpi__dns ndpi__vxlan ndpi__6in4tunnel ndpi__dns_fragmented ndpi__dns-invalid-chars \
           ndpi__malformed_dns zeek__geneve-vxlan-dns-truncated zeek__vxlan-triple-v2 zeek__gre-pptp \
           zeek__gre-sample zeek__dns-loc-29-trunc zeek__dns-sshfp-trunc zeek__dns-dns-corrupt \
           zeek__dns-dns-edns-bad-length zeek__dns-dns-invalid-names tcpdump__dns-badcookie \
           tcpdump__LINKTYPE_IPV4 tcpdump__LINKTYPE_IPV6 tcpdump__ipv4_invalid_total_length \
           tcpdump__dns_tcp_8053 gen__dns-truncated-ip gen__dns-pairing gen__dns-tcp-snaplen \
           gen__dns-bad-records"
  TUNNELS=$(awk -F'\t' '$14 ~ /tunnel/ { sub(/\.pcap$/, "", $1); print $1 }' $P/MANIFEST.tsv)
  # zeek__dns-dns-invalid-names: a question name whose pointer loops;
  # tshark still reads the type after it, dnsstats drops the question
  # gen__dns-tcp-snaplen: a row of several messages, one cut before its
  # question, has fewer types than messages, which oracle.py cannot line
  # up (the query names and types are compared below)
  drop() { case $1 in zeek__dns-dns-invalid-names|gen__dns-tcp-snaplen) echo qtypes ;; esac; }
  mkdir -p "$TMP/want"
  python3 "$TMP/oracle.py" "$TMP/want" $(for f in $ORACLES $TUNNELS; do echo "$f:$(drop $f)"; done)
  for f in $ORACLES; do
    pcap=$(ls $P/$f.pcap* 2>/dev/null | head -1)
    ports=53; case $f in *_8053) ports=53,8053 ;; esac
    got=$(ds --json --ports $ports "$pcap" 2>"$TMP/err" | DROP=$(drop $f) "$PKTSH" "$TMP/got.lua" 2>&1)
    expect_eq "oracle $f" "$got" "$(cat "$TMP/want/$f.json")"
  done
  # Messages cut short by the capture (issue 12 item 3): the names of
  # the queries as tshark reads them, and the cut ones counted
  f=$P/gen__dns-truncated-ip.pcap
  want=$(awk -F'\t' 'NR > 1 && $4 == "0" { print tolower($6) }' $P/oracle/gen__dns-truncated-ip.dns.tsv | sort)
  got=$(ds --json --top 100 "$f" | "$PKTSH" -e 'for _, r in ipairs(pktsh.json.decode(io.read("*a")).top_qnames) do for _ = 1, r[2] do print(r[1]) end end' | sort)
  expect_eq "oracle gen__dns-truncated-ip: query names" "$got" "$want"
  got=$(ds --json "$f" | "$PKTSH" -e 'local j = pktsh.json.decode(io.read("*a")); print(j.truncated .. " " .. j.tc .. " " .. j.malformed)')
  expect_eq "gen__dns-truncated-ip: 9 cut by the capture, no TC, none malformed" "$got" "9 0 0"
  # over TCP (a snaplen under the segments): the cut messages counted,
  # the stream in step (tshark's 22 messages above)
  f=$P/gen__dns-tcp-snaplen.pcap
  want=$(awk -F'\t' 'NR > 1 && $2 == "198.18.1.10" { n = split($6, a, ","); for (i = 1; i <= n; i++) print tolower(a[i]) }' \
    $P/oracle/gen__dns-tcp-snaplen.dns.tsv | sort)
  got=$(ds --json --top 100 "$f" | "$PKTSH" -e 'for _, r in ipairs(pktsh.json.decode(io.read("*a")).top_qnames) do for _ = 1, r[2] do print(r[1]) end end' | sort)
  expect_eq "oracle gen__dns-tcp-snaplen: query names" "$got" "$want"
  got=$(ds --json "$f" | "$PKTSH" -e 'local j = pktsh.json.decode(io.read("*a")); print(j.dns .. " " .. j.truncated .. " " .. j.tc .. " " .. j.malformed .. " " .. j.qtypes.A)')
  expect_eq "gen__dns-tcp-snaplen: 22 messages, 4 cut by the capture, no TC, none malformed, 14 A questions" \
    "$got" "22 4 0 0 14"
  # Whole messages whose records do not fit them (tests/pcaps/gen/records.lua):
  # malformed as often as tshark flags a frame (MANIFEST), the responses
  # among them unmatched (the oracle's dns.time, above)
  f=gen__dns-bad-records.pcap
  want=$(awk -F'\t' -v f=$f '$1 == f { print $12 }' $P/MANIFEST.tsv)
  got=$(ds --json "$P/$f" | "$PKTSH" -e 'local j = pktsh.json.decode(io.read("*a")); print(j.malformed)')
  expect_eq "gen__dns-bad-records: malformed as tshark flags them" "$got" "$want"
  # Encapsulations (issue 12): DNS inside PPPoE, MPLS, VLAN stacks and
  # tunnels is counted as tshark decodes it (the C scan's path), and
  # --no-tunnels counts only DNS outside IP-in-IP, GRE, VXLAN and Geneve.
  for f in $TUNNELS; do
    pcap=$P/$f.pcap
    got=$(ds --json "$pcap" 2>"$TMP/err" | "$PKTSH" "$TMP/got.lua" 2>&1)
    expect_eq "oracle $f" "$got" "$(cat "$TMP/want/$f.json")"
    n=$(ds --json --no-tunnels "$pcap" | "$PKTSH" -e 'print(pktsh.json.decode(io.read("*a")).dns)')
    case $f in
      *pppoe*|*mpls*|*vlan3*) want=$("$PKTSH" -e 'print(pktsh.json.decode(io.read("*a")).dns)' <"$TMP/want/$f.json") ;;
      *) want=0 ;;
    esac
    expect_eq "--no-tunnels $f" "$n" "$want"
  done
  # A datagram ends where what carries it ends (a PPPoE length, an outer
  # IP or UDP length): the responses those lengths cut are counted cut,
  # as tshark reads them (tests/pcaps/gen/lengths.lua)
  cut() { ds --json "$P/$1.pcap" | "$PKTSH" -e 'local j = pktsh.json.decode(io.read("*a")); print(j.truncated .. " " .. j.malformed)'; }
  expect_eq "gen__pppoe-lengths: 4 responses cut (by the session, the frame, the snaplen), none malformed" \
    "$(cut gen__pppoe-lengths)" "4 0"
  expect_eq "gen__tunnel-lengths: 6 responses cut (by a UDP or outer IP length, the frame), none malformed" \
    "$(cut gen__tunnel-lengths)" "6 0"
  # mDNS: only with its port listed (the oracle's rows are all mDNS)
  n=$(ds --json --ports 5353 $P/zeek__mdns.pcap | "$PKTSH" -e 'print(pktsh.json.decode(io.read("*a")).dns)')
  want=$(awk -F'\t' 'NR > 1 && $12 ~ /mdns/ { n += split($5, a, ",") } END { print n + 0 }' $P/oracle/zeek__mdns.dns.tsv)
  expect_eq "mDNS counted with --ports 5353 (oracle $want messages)" "$n" "$want"
  n=$(ds --json $P/zeek__mdns.pcap | "$PKTSH" -e 'print(pktsh.json.decode(io.read("*a")).dns)')
  expect_eq "mDNS not counted by default (port 53 only)" "$n" 0
fi

# Latency percentiles against the oracle dns.time values (nearest rank);
# gen__dns-pairing's include retransmissions (from the first copy).
if command -v python3 >/dev/null; then
  for f in dnscap__dns gen__dns-pairing; do
    want=$(python3 -c '
import csv, math, sys
t = sorted(float(x) * 1000 for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") for x in r["dns.time"].split(",") if x)
rank = lambda q: t[max(0, math.ceil(q * len(t)) - 1)]
print("%.3f %.3f %.3f %.3f" % (rank(0.5), rank(0.9), rank(0.99), t[-1]))' $P/oracle/$f.dns.tsv)
    ds --json $P/$f.pcap >"$TMP/jl"
    got=$(J="$TMP/jl" "$PKTSH" -e 'local l = pktsh.json.decode(io.open(os.getenv("J")):read("*a")).latency
      print(string.format("%.3f %.3f %.3f %.3f", l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms))')
    expect_eq "$f: latency p50/p90/p99/max match dns.time" "$got" "$want"
  done
fi
