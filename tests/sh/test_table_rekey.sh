#!/usr/bin/env bash
# The hash tables' probe limit (src/accel/pending.c, src/accel/topk.c) when the
# process's hash tables are known to a sender: tests/c/leaked_tables.c
# replaces them with zeros; the tables must notice, draw their own and
# stay fast. Built here with the project's own sources.
. tests/lib/sh.sh
CC=${CC:-cc}
if ! $CC -O1 -g -std=gnu11 -Isrc -Ibuild/gen $(pkg-config --cflags luajit 2>/dev/null) \
     -o "$TMP/leaked" tests/c/leaked_tables.c src/accel/pending.c src/accel/topk.c src/err.c -lm \
     2>"$TMP/cc.err"; then
  fail "leaked_tables builds" "$(tail -5 "$TMP/cc.err" | tr '\n' ' ')"
  exit 0
fi
"$TMP/leaked"
