#!/usr/bin/env bash
# The BPF object builds whichever C compiler CC names: the kernel headers'
# multiarch directory (asm/types.h) must be found for gcc and clang alike
# (clang's -dumpmachine says x86_64-pc-linux-gnu, which is no directory).
# Built into a build directory of the test's own.
. tests/lib/sh.sh
for cc in gcc clang; do
  if ! command -v "$cc" >/dev/null; then
    skip "BPF object with CC=$cc" "$cc is not installed"
    continue
  fi
  obj="$TMP/$cc/obj/xdp_rules.bpf.o"
  if make -s --no-print-directory B="$TMP/$cc" CC="$cc" "$obj" >"$TMP/$cc.log" 2>&1; then
    machine=$(readelf -h "$obj" 2>/dev/null | sed -n 's/^ *Machine: *//p')
    expect_match "BPF object with CC=$cc" "$machine" "BPF"
  else
    fail "BPF object with CC=$cc" "$(tail -3 "$TMP/$cc.log" | tr '\n' ' ')"
  fi
done
