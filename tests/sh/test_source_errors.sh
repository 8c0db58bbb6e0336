#!/usr/bin/env bash
# Every script reports a source error the same way (issue 16 item 4): on a
# capture cut in the middle of a record, each prints what it read, then
# "NAME: FILE: truncated capture: ... at offset N ..." on standard error,
# and exits 1. count.lua used to exit 0 and say nothing (pktsh.parallel's
# results carried no error), with one worker or -j 2.
. tests/lib/sh.sh

head -c 1000 tests/pcaps/dnscap__dns.pcap >"$TMP/torn.pcap"
want="truncated capture: record header at offset 998 has 2 of 16 bytes"

# torn NAME ARGS...: runs scripts/NAME.lua ARGS... torn.pcap
torn() {
  local name=$1; shift
  "$PKTSH" "scripts/$name.lua" "$@" "$TMP/torn.pcap" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  local label="$name.lua${*:+ $*} on a torn capture"
  expect_eq "$label: exit 1" "$rc" 1
  expect_eq "$label: the error, the last line on stderr" "$(tail -n 1 "$TMP/err")" \
    "$name: $TMP/torn.pcap: $want"
}

torn count
torn count -j 2
torn count --json
torn dump
torn dnsstats
torn dnsstats --json
torn toptalkers
torn histogram --by len
# what was read before the error is still shown
"$PKTSH" scripts/count.lua --json "$TMP/torn.pcap" 2>/dev/null >"$TMP/out"
expect_match "count.lua prints the counts read before the error" "$(cat "$TMP/out")" '"packets":6,'
