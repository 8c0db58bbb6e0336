#!/usr/bin/env bash
# luacheck over the library and the tools: no global is set or read by
# mistake, no variable is left unused (STYLE.md: modules keep to `local M`).
. tests/lib/sh.sh
if ! command -v luacheck >/dev/null; then
  skip "luacheck" "luacheck not installed (Debian package lua-check)"; exit 0
fi
out=$(luacheck --no-color --config tests/lint/luacheckrc $(find lua/pktsh -name "*.lua" | sort) scripts/*.lua 2>&1); rc=$?
if [ $rc -eq 0 ]; then pass "luacheck: lua/ and scripts/ clean"
else fail "luacheck" "$(echo "$out" | grep -v 'OK$' | grep -v '^Checking' | head -20 | tr '\n' ' ')"; fi
