#!/usr/bin/env bash
# Where `pktsh NAME.lua` finds its script, and the arguments of -e chunks
# (issue 16 item 13): after `make install`, `pktsh dump.lua` works from any
# directory (the scripts beside the binary, share/pktsh/scripts, for any
# PREFIX or DESTDIR); $PKTSH_SCRIPTS comes first; a file in the current
# directory, or a path with a '/', is taken as it is. -e chunks get ARGS as
# `arg` and `...`, with a SCRIPT or after `--`.
. tests/lib/sh.sh
P=$PWD/tests/pcaps/dnscap__dns.pcap

if make -s install DESTDIR="$TMP/root" PREFIX=/opt/pk >"$TMP/install.log" 2>&1; then
  BIN=$TMP/root/opt/pk/bin/pktsh
  mkdir -p "$TMP/elsewhere"
  out=$(cd "$TMP/elsewhere" && "$BIN" dump.lua -c 1 "$P" 2>&1); rc=$?
  expect_eq "installed: pktsh dump.lua from another directory: exit 0" "$rc" 0
  expect_match "... and dump.lua ran" "$out" "^15:23:01\.075993 IP 172\.17\.0\.10\.53199 > 8\.8\.8\.8\.53: UDP"
  out=$(cd "$TMP/elsewhere" && "$BIN" count.lua --json "$P" 2>/dev/null)
  expect_match "installed: count.lua (a script that is a module) too" "$out" '"packets":133,'
else
  fail "make install" "$(tail -3 "$TMP/install.log")"
fi

mkdir -p "$TMP/mine" "$TMP/cwd"
echo 'print("mine", ...)' >"$TMP/mine/dump.lua"
out=$(cd "$TMP/cwd" && PKTSH_SCRIPTS="$TMP/nonexistent:$TMP/mine" "$PKTSH" dump.lua x y 2>&1)
expect_eq "\$PKTSH_SCRIPTS: its directories, in order" "$out" $'mine\tx\ty'
echo 'print("here")' >"$TMP/cwd/dump.lua"
out=$(cd "$TMP/cwd" && PKTSH_SCRIPTS="$TMP/mine" "$PKTSH" dump.lua 2>&1)
expect_eq "a script in the current directory comes first" "$out" "here"
out=$(cd "$TMP/cwd" && PKTSH_SCRIPTS="$TMP/mine" "$PKTSH" ./nosuch.lua 2>&1); rc=$?
expect_eq "a path with '/' is not searched: exit 1" "$rc" 1
expect_match "... saying it cannot open it" "$out" "cannot open \./nosuch\.lua"

# -e chunks get ARGS
expect_eq "-e CHUNK -- ARGS: arg and ..." "$("$PKTSH" -e 'print(arg[0], arg[1], arg[2], select("#", ...), ...)' -- a b)" \
  $'-e\ta\tb\t2\ta\tb'
expect_eq "-e CHUNK SCRIPT ARGS: the chunk sees the script's ARGS" \
  "$(cd "$TMP/cwd" && "$PKTSH" -e 'io.write(arg[1], " ", (...), " ")' dump.lua first 2>&1)" "first first here"
expect_eq "-e without ARGS: an empty ..." "$("$PKTSH" -e 'print(select("#", ...), #arg)')" $'0\t0'
