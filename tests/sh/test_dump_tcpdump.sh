#!/usr/bin/env bash
# scripts/dump.lua driven with tcpdump's and tshark's flags, as a user
# types them, its output compared with tcpdump's and tshark's own on the
# same captures; rotation files and pcapng read back by tcpdump, tshark
# and capinfos. The live part (-i, -l, -U, --pcapng's interface name)
# runs between two namespaces (198.18.0.0/15), bounded in packets and time.
. tests/lib/sh.sh
P=tests/pcaps
F=$P/dnscap__dns.pcap
export TZ=UTC
dump() { "$PKTSH" scripts/dump.lua "$@"; }
have() { command -v "$1" >/dev/null; }

# --- reading: -r, -n/-nn, -c1, bundles, the line options against tcpdump -----
expect_eq "-r FILE is SOURCE" "$(dump -q -r $F | md5sum)" "$(dump -q $F | md5sum)"
expect_eq "-c1 attached, -nn accepted" "$(dump -nn -c1 -q $F | wc -l)" 1
expect_eq "bundled -nnc2" "$(dump -nnc2 -q $F | wc -l)" 2
expect_eq "-r FILE then FILTER words" "$(dump -q -r $F udp port 53 | wc -l)" 82
if have tcpdump; then
  for flags in "-nn" "-nn -e" "-t" "-tt" "-ttt" "-tttt" "-ttttt" "-x" "-xx" "-X" "-XX" "-e -tttt -X"; do
    for f in $F $P/tcpdump__dns_udp.pcap $P/tcpdump__edns-opts.pcap; do
      # shellcheck disable=SC2086
      expect_eq "dump.lua $flags = tcpdump $flags ($(basename $f))" \
        "$(dump -q $flags -r $f | md5sum)" "$(tcpdump -n $flags -r $f 2>/dev/null | md5sum)"
    done
  done
  # (other tests may add or remove an interface between the two listings)
  for _ in 1 2 3; do ours=$(dump -D); theirs=$(tcpdump -D 2>/dev/null); [ "$ours" = "$theirs" ] && break; done
  expect_eq "-D lists what tcpdump -D lists, with the state" "$ours" "$theirs"
else
  skip "dump.lua flags against tcpdump" "tcpdump is not installed"
fi
expect_match "-D: lo with its state" "$(dump -D)" "^[0-9]+\.lo \[Up, Running, Loopback\]$"
expect_eq "-s, -p, -Q are ignored for a file (as tcpdump does)" "$(dump -q -s 40 -p -Q in -c1 -x $F | wc -l)" 5
out=$(dump -v -c1 -r $F 2>/dev/null | tr '\n' ' ')
expect_match "-v: the DNS layer in the tree" "$out" \
  "Domain Name System: 59311\+ A\? google.com. \(28\) +DNS id 59311, query, QUERY, flags \[rd\], rcode NOERROR +question google.com IN A"

# --- DNS: --json, -T fields (against tshark), --fields --------------------------
out=$(dump --json -c2 $P/tcpdump__dns-badvers.pcap 2>/dev/null | sed -n 2p)
expect_match "--json: a response's dns id, qr, rcode, qname, qtype" "$out" \
  '"dns":\{"id":36787,"qr":true,"opcode":"QUERY","rcode":"BADVERS","qname":".","qtype":"TXT"\}\}$'
out=$(dump --json -c1 $F 2>/dev/null)
expect_match "--json: a query has no rcode" "$out" '"dns":\{"id":59311,"qr":false,"opcode":"QUERY","qname":"google.com","qtype":"A"\}\}$'
expect_eq "-T json is --json" "$(dump -T json -q $F | md5sum)" "$(dump --json -q $F | md5sum)"
E="-e frame.number -e ip.src -e ipv6.src -e udp.srcport -e dns.id -e dns.qry.name -e dns.qry.type -e dns.flags.rcode -e dns.a"
for f in $F $P/dnscap__dns6.pcap $P/tcpdump__edns-opts.pcap; do
  if have tshark; then
    # shellcheck disable=SC2086
    expect_eq "-T fields $E = tshark's ($(basename $f))" \
      "$(dump -q -T fields $E $f)" "$(tshark -r $f -T fields $E 2>/dev/null)"
  fi
done
if have tshark; then
  expect_eq "-T fields -E header=y,separator=, quote=d = tshark's" \
    "$(dump -q -T fields -e ip.src -e dns.qry.name -E header=y -E separator=, -E quote=d -c 4 $F)" \
    "$(tshark -r $F -c 4 -T fields -e ip.src -e dns.qry.name -E header=y -E separator=, -E quote=d 2>/dev/null)"
else
  skip "-T fields against tshark" "tshark is not installed"
fi
out=$(dump --fields)
expect_match "--fields lists dns.qry.name with a description" "$out" "^dns\.qry\.name +[A-Za-z]"
expect_eq "--fields: every listed name is accepted by -T fields" \
  "$(dump -q -T fields $(echo "$out" | awk '{printf "-e %s ", $1}') -c1 $F | awk -F'\t' '{print NF}')" "$(echo "$out" | wc -l)"
dump -T fields -e ip.nope $F >/dev/null 2>"$TMP/err"; rc=$?
expect_eq "-T fields -e UNKNOWN: exit 2" "$rc" 2
expect_match "-T fields -e UNKNOWN: named" "$(cat "$TMP/err")" "unknown field 'ip.nope' \(dump.lua --fields lists them\)"
dump -T fields $F >/dev/null 2>&1; expect_eq "-T fields without -e: exit 2" "$?" 2

# --- writing: --pcapng, -G, -C, -W ----------------------------------------------
mkdir "$TMP/w" && cd "$TMP/w" || exit 1
R=$OLDPWD
wdump() { "$PKTSH" "$R/scripts/dump.lua" "$@"; }
wdump -q -w ng.pcapng --pcapng --comment "pktsh test run" "$R/$F"
if have tcpdump; then
  expect_eq "--pcapng: tcpdump -r reads every packet, same lines" \
    "$(tcpdump -nr ng.pcapng 2>/dev/null | md5sum)" "$(tcpdump -nr "$R/$F" 2>/dev/null | md5sum)"
fi
if have capinfos; then
  out=$(capinfos ng.pcapng 2>&1)
  expect_match "--pcapng: a pcapng file (capinfos)" "$out" "File type: +Wireshark/\.\.\. - pcapng"
  expect_match "--pcapng --comment: the section's comment" "$out" "Capture comment: +pktsh test run"
  expect_match "--pcapng: one interface block, Ethernet" "$(echo "$out" | tr '\n' ' ')" \
    "Number of interfaces in file: 1 .*Encapsulation = Ethernet"
else
  skip "--pcapng through capinfos" "capinfos is not installed"
fi
expect_eq "--pcapng: pktsh reads it back" "$(wdump -q ng.pcapng | md5sum)" "$(wdump -q "$R/$F" | md5sum)"

# -G: capture time for a file; strftime names; each file holds its second.
wdump -w 'g-%H%M%S.pcap' -G 5 "$R/$F" 2>"$TMP/err"
expect_match "-G: the summary names the files" "$(cat "$TMP/err")" "^133 packets, 133 written to [0-9]+ files, g-152301.pcap to g-1524[0-9]{2}.pcap$"
total=0 bad=
for g in g-*.pcap; do
  n=$(wdump -q "$g" | wc -l); total=$((total + n))
  first=$(wdump -q -tt -c1 "$g" | cut -d. -f1)
  last=$(wdump -q -tt "$g" | tail -1 | cut -d. -f1)
  # named by strftime of its first packet's second; no packet 5 s later
  [ "g-$(date -u -d "@$first" +%H%M%S).pcap" = "$g" ] || bad="$bad $g:$first"
  [ $((last - first)) -lt 5 ] || bad="$bad $g:$first-$last"
done
expect_eq "-G 5: every packet in one file, named by strftime" "$total/$bad" "133/"
if have tcpdump; then
  expect_eq "-G: tcpdump reads the rotated files" "$(cat g-*.pcap | wc -c | grep -c .)/$(for g in g-*.pcap; do tcpdump -r "$g" 2>/dev/null; done | wc -l)" "1/133"
fi
wdump -w 'gw-%H%M%S.pcap' -G 5 -W 2 "$R/$F" 2>"$TMP/err"
expect_eq "-G -W 2: stops after 2 files" "$(ls gw-*.pcap | wc -l)" 2
expect_match "-G -W 2: the summary" "$(cat "$TMP/err")" "^[0-9]+ packets, [0-9]+ written to 2 files"

# -C: FILE, FILE1, FILE2...; each file passes the size only by its last packet.
wdump -q -w c.pcap -C 5k "$R/$F"
expect_eq "-C 5k: the files" "$(ls c.pcap*)" "$(printf 'c.pcap\nc.pcap1\nc.pcap2\nc.pcap3')"
big=
for c in c.pcap c.pcap1 c.pcap2; do [ "$(stat -c %s $c)" -gt 5120 ] || big="$big $c"; done
expect_eq "-C 5k: a new file once one is larger than 5 KiB" "$big" ""
expect_eq "-C: every packet once, in order" \
  "$(for c in c.pcap c.pcap1 c.pcap2 c.pcap3; do wdump -q $c; done | md5sum)" "$(wdump -q "$R/$F" | md5sum)"
# -C -W: a ring of FILE0, FILE1 holding the newest packets.
wdump -q -w ring.pcap -C 5k -W 2 "$R/$F"
expect_eq "-C 5k -W 2: a ring of two files" "$(ls ring.pcap*)" "$(printf 'ring.pcap0\nring.pcap1')"
expect_eq "-C -W: the last packet is in the ring" "$(wdump -q ring.pcap1 | tail -1)" "$(wdump -q "$R/$F" | tail -1)"
if have tcpdump; then
  expect_eq "-C -W: tcpdump reads the ring files" \
    "$(tcpdump -r ring.pcap0 2>/dev/null | wc -l)/$(tcpdump -r ring.pcap1 2>/dev/null | wc -l)" \
    "$(wdump -q ring.pcap0 | wc -l)/$(wdump -q ring.pcap1 | wc -l)"
fi
wdump -w - -G 5 "$R/$F" >/dev/null 2>&1; expect_eq "-G with -w -: exit 2" "$?" 2
wdump -C 5k "$R/$F" >/dev/null 2>&1; expect_eq "-C without -w: exit 2" "$?" 2
wdump -w x.pcap -C 0 "$R/$F" >/dev/null 2>&1; expect_eq "-C 0: exit 2" "$?" 2

# -Z: the output file is written as the user (as tcpdump's is).
if id nobody >/dev/null 2>&1; then
  mkdir -m 1777 z
  wdump -q -Z nobody -w z/z.pcap "$R/$F"; rc=$?
  expect_eq "-Z nobody: the -w file belongs to nobody" "$rc $(stat -c %U z/z.pcap 2>&1)" "0 nobody"
  wdump -q -Z nobody -w z.pcap "$R/$F" 2>"$TMP/err"; rc=$?
  expect_eq "-Z nobody: root's directory is no longer writable" "$rc" 1
  wdump -Z nosuchuser0 "$R/$F" >/dev/null 2>"$TMP/err"; rc=$?
  expect_eq "-Z UNKNOWN: exit 2" "$rc" 2
  expect_match "-Z UNKNOWN: named" "$(cat "$TMP/err")" "-Z: no user 'nosuchuser0'"
else
  skip "-Z nobody" "no user nobody"
fi
cd "$R" || exit 1

# --- live: -i, -l, -U, --pcapng's interface ---------------------------------------
. tests/lib/netns.sh
netns_require "dump.lua live flags"
if ! netns_setup; then fail "dump.lua live: namespace setup" "netns_setup failed"; exit 1; fi
send() {  # send N: N UDP datagrams to port 5000 from A
  netns_exec "$NS_A" timeout 20 "$PKTSH" -e "
    local s, b = assert(pktsh.sender('$IF_A')), pktsh.build
    assert(s:send(b.udp4{src = '198.18.0.1', dst = '198.18.0.2', sport = 4000, dport = 5000, payload = 'pktsh-test'}, $1) == $1)"
}
# wait_lines FILE N: up to 10 s for FILE to hold N lines
wait_lines() { for _ in $(seq 1 200); do [ "$(wc -l < "$1")" -ge "$2" ] && return 0; sleep 0.05; done; return 1; }

# -l: each line reaches a file as it is printed, while the capture runs.
netns_bg "$NS_B" 20 "$TMP/l.out" "$TMP/l.err" "$PKTSH" scripts/dump.lua -l -c 6 -i "$IF_B" udp port 5000
pid=$BG_PID
sleep 1   # dump.lua prints nothing when ready; give it time to open
send 3
wait_lines "$TMP/l.out" 3; seen=$?
running=$([ -d /proc/$pid ] && echo running)
send 3
netns_wait "$pid"; rc=$?
expect_eq "-l: lines are out while the capture runs" "$seen $running" "0 running"
expect_eq "-i IFACE -c 6: six lines, exit 0" "$(wc -l < "$TMP/l.out") $rc $NETNS_TIMED_OUT" "6 0 0"
expect_match "-i IFACE: the line" "$(head -1 "$TMP/l.out")" "^[0-9:.]+ IP 198\.18\.0\.1\.4000 > 198\.18\.0\.2\.5000: UDP, length 10$"
expect_match "-i IFACE: tcpdump's three lines" "$(tr '\n' ' ' < "$TMP/l.err")" \
  "^6 packets captured [0-9]+ packets received by filter [0-9]+ packets dropped by kernel $"

# -U --pcapng: each packet is in the file as soon as it is captured; the
# interface block names the interface.
netns_bg "$NS_B" 20 "$TMP/u.out" "$TMP/u.err" "$PKTSH" scripts/dump.lua -U --pcapng -w "$TMP/u.pcapng" -c 6 -i "$IF_B" udp port 5000
pid=$BG_PID
sleep 1
send 3
n=0
for _ in $(seq 1 200); do
  n=$(dump -q "$TMP/u.pcapng" 2>/dev/null | wc -l); [ "$n" -ge 3 ] && break; sleep 0.05
done
running=$([ -d /proc/$pid ] && echo running)
send 3
netns_wait "$pid"; rc=$?
expect_eq "-U: packets are in the file while the capture runs" "$n $running" "3 running"
expect_eq "-U --pcapng -c 6: exit 0" "$rc $NETNS_TIMED_OUT" "0 0"
if have tcpdump; then
  expect_eq "-U --pcapng: tcpdump reads the six" "$(tcpdump -nr "$TMP/u.pcapng" 2>/dev/null | grep -c 'UDP, length 10')" 6
fi
if have tshark; then
  expect_eq "--pcapng live: the interface block names $IF_B" \
    "$(tshark -r "$TMP/u.pcapng" -T fields -e frame.interface_name 2>/dev/null | sort -u)" "$IF_B"
else
  skip "--pcapng interface name" "tshark is not installed"
fi
