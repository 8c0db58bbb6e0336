#!/usr/bin/env bash
# The command line: options, scripts, -e, errors and exit codes, exports,
# PKTSH_PATH and make install.
. tests/lib/sh.sh

out=$("$PKTSH" -h); rc=$?
expect_eq "-h exits 0" "$rc" 0
expect_match "-h shows usage" "$out" "usage: pktsh \[options\] \[SCRIPT"
expect_match "--version" "$("$PKTSH" --version)" "^pktsh [0-9]+\.[0-9]+\.[0-9]+ \(LuaJIT"

out=$("$PKTSH" --bogus 2>&1); rc=$?
expect_eq "unknown option exits 2" "$rc" 2
expect_match "unknown option is named" "$out" "unknown option '--bogus'"
out=$("$PKTSH" -e 2>&1); rc=$?
expect_eq "-e without a chunk exits 2" "$rc" 2

expect_eq "-e runs chunks in order" "$("$PKTSH" -e 'x = 20' -e 'print(x + 1)')" 21
out=$("$PKTSH" -e 'print(' 2>&1); rc=$?
expect_eq "syntax error in -e exits 1" "$rc" 1
expect_match "syntax error is reported" "$out" "^pktsh: .*unexpected symbol|'\)' expected|near <eof>"

cat > "$TMP/args.lua" <<'LUA'
local a, b = ...
print(arg[0], arg[1], arg[2], #arg, a, b)
LUA
expect_eq "script gets arg and ..." "$("$PKTSH" "$TMP/args.lua" one -x)" "$TMP/args.lua	one	-x	2	one	-x"
expect_eq "script from stdin" "$(echo 'print(6*7)' | "$PKTSH" -)" 42

cat > "$TMP/boom.lua" <<'LUA'
local function inner() error("boom here") end
local function outer() inner() end
outer()
LUA
out=$("$PKTSH" "$TMP/boom.lua" 2>&1); rc=$?
expect_eq "script error exits 1" "$rc" 1
expect_match "script error message" "$out" "^pktsh: .*boom.lua:1: boom here"
expect_match "script error traceback" "$(echo "$out" | tr '\n' ' ')" "stack traceback:.*in function 'inner'"

out=$("$PKTSH" "$TMP/missing.lua" 2>&1); rc=$?
expect_eq "missing script exits 1" "$rc" 1
expect_match "missing script is named" "$out" "cannot open .*missing.lua"

out=$("$PKTSH" -e 'os.exit(3)' 2>&1); rc=$?
expect_eq "os.exit status is kept" "$rc" 3

out=$("$PKTSH" -e 'local s, e = pktsh.open("/nonexistent.pcap"); print(s, e)')
expect_match "open of a missing file is nil, err" "$out" "^nil	cannot open '/nonexistent.pcap'"
out=$("$PKTSH" -e 'pktsh.open(42)' 2>&1); rc=$?
expect_match "API misuse raises" "$out" "bad argument #1 to 'open' \(string expected\)"

# Only pktsh_* is exported from the binary, so ffi.C sees the host API.
# (Data symbols are copy relocations of libraries' variables, not ours.)
bad=$(nm -D --defined-only "$PKTSH" | awk '$2 == "T" && $3 !~ /^pktsh_/ && $3 !~ /^_/ {print $3}' | tr '\n' ' ')
expect_eq "only pktsh_* functions exported" "$bad" ""
n=$(nm -D --defined-only "$PKTSH" | grep -c ' T pktsh_')
expect_match "pktsh_* functions exported" "$n" "^[1-9][0-9]+$"

# PKTSH_PATH loads the library from a directory instead of the binary.
cp -r lua "$TMP/lib"
sed -i '1i PKTSH_FROM_PATH = true' "$TMP/lib/pktsh/init.lua"
expect_eq "PKTSH_PATH overrides the built-in library" \
  "$(PKTSH_PATH="$TMP/lib" "$PKTSH" -e 'print(PKTSH_FROM_PATH)')" true
expect_eq "built-in library without PKTSH_PATH" "$("$PKTSH" -e 'print(PKTSH_FROM_PATH)')" nil

# make install honours PREFIX and DESTDIR.
if make -s install DESTDIR="$TMP/root" PREFIX=/opt/pk >"$TMP/install.log" 2>&1; then
  expect_eq "installed binary runs" "$("$TMP/root/opt/pk/bin/pktsh" -e 'print(pktsh.version)')" \
    "$("$PKTSH" -e 'print(pktsh.version)')"
  [ -f "$TMP/root/opt/pk/share/pktsh/scripts/dump.lua" ] && pass "scripts installed" \
    || fail "scripts installed" "no dump.lua under share/pktsh/scripts"
else
  fail "make install" "$(tail -3 "$TMP/install.log")"
fi
