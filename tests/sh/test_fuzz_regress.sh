#!/usr/bin/env bash
# Inputs the fuzzer (tests/fuzz/fuzz_pcap.c, `make fuzz`) once crashed on,
# replayed through build/pktsh with every decoder and the DNS parser
# (tests/lib/readall.lua) and through pktsh.dnsflow: no crash, no Lua
# error; each file reads or is refused with a clean error. In the
# guard-page mode, as the fuzzer ran: an over-read by a Lua decoder is a
# crash here too.
. tests/lib/sh.sh
export PKTSH_GUARD=1
shopt -s nullglob
files=(tests/fuzz/regress/*)
if [ ${#files[@]} -eq 0 ]; then
  skip "fuzz regressions" "tests/fuzz/regress is empty"
  exit 0
fi
for f in "${files[@]}"; do
  name=$(basename "$f")
  out=$("$PKTSH" tests/lib/readall.lua "$f" 2>&1); rc=$?
  if [ $rc -eq 0 ] && printf '%s' "$out" | grep -Eq "^$f ([0-9]+|error: .*)"; then
    pass "$name: read by every decoder"
  else
    fail "$name: read by every decoder" "exit $rc: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
  fi
  check "$name: through dnsflow and the DNS parser" "$PKTSH" tests/lib/flowall.lua "$f"
done
# dnsstats' engine (the C scan, TCP in C, the general path), with capture
# time intervals and a duration too (a time near 2^63 once made them
# loop forever): it ends within the timeout, with its report or a clean
# error (exit 1 and one dnsstats: line), never a Lua error.
for f in "${files[@]}"; do
  for opts in "" "--interval 1" "--interval 1 --duration 2"; do
    out=$(timeout 60 "$PKTSH" scripts/dnsstats.lua --json $opts "$f" 2>&1); rc=$?
    if { [ $rc -eq 0 ] || { [ $rc -eq 1 ] && printf '%s' "$out" | tail -1 | grep -q '^dnsstats: '; }; } &&
       ! printf '%s' "$out" | grep -q 'traceback'; then
      pass "$(basename "$f"): through dnsstats $opts"
    else
      fail "$(basename "$f"): through dnsstats $opts" "exit $rc: $(printf '%s' "$out" | tail -3 | tr '\n' ' ')"
    fi
  done
done
