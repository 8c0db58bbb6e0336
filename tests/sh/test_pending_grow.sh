#!/usr/bin/env bash
# The pending table's index doubling in place (src/accel/pending.c,
# grow) with probe runs laid out by hand: tests/c/pending_grow.c, built
# here with the project's own sources.
. tests/lib/sh.sh
CC=${CC:-cc}
if ! $CC -O1 -g -std=gnu11 -Isrc -Ibuild/gen $(pkg-config --cflags luajit 2>/dev/null) \
     -o "$TMP/grow" tests/c/pending_grow.c src/accel/pending.c src/err.c -lm \
     2>"$TMP/cc.err"; then
  fail "pending_grow builds" "$(tail -5 "$TMP/cc.err" | tr '\n' ' ')"
  exit 0
fi
"$TMP/grow"
