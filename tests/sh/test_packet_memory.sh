#!/usr/bin/env bash
# Packets never outlive their memory (src/batch.c), checked where Lua's
# reads are visible: under valgrind (a packet, a header view and an ICMP
# inner packet used after their source closed or was collected), and in
# the guard-page mode (PKTSH_GUARD=1 / {guard = true}), where a read one
# byte past caplen faults. Then every capture in tests/pcaps goes through
# every decoder, the printers, pkt:dns(), dnsflow and the C DNS scan
# (dnsstats) in guard mode: an over-read anywhere would kill pktsh.
# Live rings and XDP copies get the same checks in network namespaces.
. tests/lib/sh.sh
P=tests/pcaps
files=$(ls $P/*.pcap $P/*.pcapng)
STALE="packet used after its batch was released; keep it with pkt:copy()"

# --- use after close / after collection, under valgrind --------------------
cat > "$TMP/after.lua" <<'LUA'
-- after.lua FILE MODE: keeps a packet, a header view, the raw pointer and
-- an ICMP error's inner packet, ends the source (MODE close, gc or next),
-- then uses them all. Prints one word per use.
local path, mode = arg[1], arg[2]
local src = assert(pktsh.open(path, {batch = 2}))
local p, view, inner, text, data
for q in src:packets() do
  if not p and q:ip() then p, view, data = q, q:ip(), q.data end
  if not inner and q:inner() then inner = q:inner(); text = inner:summary() end
  if p and (inner or mode ~= "inner") then break end
end
assert(p, "no IP packet in " .. path)
if mode == "gc" then src = nil; collectgarbage(); collectgarbage()
elseif mode == "next" then while src:next() do end
else src:close() end
local ok, err = pcall(function() return p:summary() end)
print(ok and "packet:readable" or ("packet:" .. err))
-- a view is a plain pointer into the reader's memory: it reads zeros or
-- later packets' bytes, never freed or unmapped memory
print("view:" .. tostring(view.version) .. ":" .. tostring(data[0]))
if inner then print("inner:" .. (inner:summary() == text and "same" or "changed")) end
LUA
vg=()
if command -v valgrind >/dev/null; then
  vg=(valgrind -q --error-exitcode=99)
else
  skip "valgrind" "not installed: the use-after-close checks run without it"
fi
for c in "close dnscap__dns.pcap" "gc dnscap__dns.pcap" "next dnscap__dns.pcap" \
         "close zeek__pcapng-multi-interface.pcapng" "inner zeek__icmp-destunreach-udp.pcap"; do
  set -- $c
  out=$("${vg[@]}" "$PKTSH" "$TMP/after.lua" "$P/$2" "$1" 2>"$TMP/vg.err"); rc=$?
  expect_eq "$1 then use ($2): clean error, no invalid read (exit $rc)" \
    "$rc $(printf '%s' "$out" | grep -c "^packet:.*$STALE")" "0 1"
  [ $rc -eq 0 ] || sed 's/^/#   /' "$TMP/vg.err" | head -20
done
expect_match "inner: the ICMP error's quoted datagram survives its source" \
  "$("$PKTSH" "$TMP/after.lua" "$P/zeek__icmp-destunreach-udp.pcap" inner)" "inner:same"

# The REPL idiom of issue 16, piped: the kept packet is an error, not
# another packet.
out=$(printf '%s\n' "f = open('$P/dnscap__dns.pcap', {batch = 8})" "first = f:next().pkt[0]" \
  "first" "f:next()" "f:next()" "first" "first:udp()" | "$PKTSH" 2>&1)
expect_eq "REPL: first = f:next().pkt[0]; f:next(); f:next(); first -> the error" \
  "$(printf '%s' "$out" | grep -c "$STALE") $(printf '%s' "$out" | grep -c 'google.com. (28)')" "2 1"

# --- the guard-page mode works ---------------------------------------------
# A deliberately broken read, one byte past caplen, in a child: it must die
# of SIGSEGV in guard mode (option or environment) and only there.
over='local src = pktsh.open(arg[1], OPTS)
local n = 0
src:each(function(p) local _ = p.data[p.caplen - 1]; n = n + 1 end)   -- the last byte: fine
io.stderr:write("last bytes read: ", n, "\n")
local p = pktsh.open(arg[1], OPTS):next().pkt[5]
io.stdout:write("read ", p.data[p.caplen], "\n")'
run_over() {  # OPTS [ENV...] -> exit status
  local opts=$1; shift
  # (in a subshell, whose stderr takes bash's "Segmentation fault" line)
  ( env "$@" "$PKTSH" -e "arg = {'$P/dnscap__dns.pcap'}" -e "${over//OPTS/$opts}" \
      >"$TMP/over.out" 2>"$TMP/over.err"; exit $? ) 2>/dev/null
}
run_over "{}"; rc=$?
expect_eq "without guard mode the over-read goes unnoticed" "$rc $(cat "$TMP/over.out" | cut -c1-4)" "0 read"
run_over "{guard = true}"; rc=$?
expect_eq "{guard = true}: a read at data[caplen] dies of SIGSEGV" "$rc $(cat "$TMP/over.err" | head -1)" \
  "139 last bytes read: 133"
run_over "{}" PKTSH_GUARD=1; rc=$?
expect_eq "PKTSH_GUARD=1: a read at data[caplen] dies of SIGSEGV" "$rc $(cat "$TMP/over.err" | head -1)" \
  "139 last bytes read: 133"
run_over "{batch = 7}" PKTSH_GUARD=1 ; rc=$?
expect_eq "PKTSH_GUARD=1, small batches: SIGSEGV too" "$rc" 139
# pcapng goes through libpcap and the arena: guarded all the same
( PKTSH_GUARD=1 "$PKTSH" -e "local p = pktsh.open('$P/zeek__pcapng-multi-interface.pcapng'):next().pkt[0]
print(p.data[p.caplen])" >/dev/null 2>&1; exit $? ) 2>/dev/null; rc=$?
expect_eq "PKTSH_GUARD=1, pcapng: SIGSEGV" "$rc" 139

# --- every capture, every reader of packet bytes, in guard mode ---------------
PKTSH_GUARD=1 "$PKTSH" tests/lib/readall.lua $files >"$TMP/ra.out" 2>"$TMP/ra.err"; rc=$?
expect_eq "guard mode: every decoder, printer and pkt:dns() on every capture (exit $rc)" \
  "$rc $(grep -c . "$TMP/ra.out")" "0 $(echo $files | wc -w)"
[ $rc -eq 0 ] || tail -3 "$TMP/ra.err" | sed 's/^/#   /'
out=$(PKTSH_GUARD=1 "$PKTSH" tests/lib/flowall.lua $files 2>&1); rc=$?
expect_match "guard mode: dnsflow and dns.parse on every capture (exit $rc)" "$rc $out" "^0 messages [1-9]"
bad=""
for f in $files; do
  PKTSH_GUARD=1 "$PKTSH" scripts/dnsstats.lua --json "$f" >/dev/null 2>"$TMP/ds.err"
  rc=$?
  # 0, or 1 for a capture that is refused or ends in an error; never a signal
  [ $rc -le 1 ] || bad="$bad $(basename "$f"):$rc"
done
expect_eq "guard mode: dnsstats (the C DNS scan) on every capture" "${bad:-none}" none
