#!/usr/bin/env bash
# Scripts use only the public API (issue 10 item 4; STYLE.md): no script
# under scripts/ requires the FFI or calls ffi.C / ffi.cdef, and nothing
# in scripts/ or the library runs a shell (os.execute, io.popen): the
# sleep firewall.lua and the REPL's watch() took through
# os.execute("sleep 0.1") made Ctrl-C wait for the child (issue 16 item 1);
# pktsh.sleep is the one wait.
. tests/lib/sh.sh

bad=""
for f in scripts/*.lua; do
  # code, not comments: drop "-- ..." before looking
  if sed 's/--.*//' "$f" | grep -Eq 'require *\(? *"ffi"|ffi\.(C|cdef|new|cast|typeof)'; then
    bad="$bad $f"
  fi
done
expect_eq "no script under scripts/ uses the FFI" "${bad# }" ""

shells=$(grep -rnE 'os\.execute|io\.popen' lua/pktsh scripts | sed 's/:.*//' | sort -u | tr '\n' ' ')
expect_eq "no script or library module runs a shell" "${shells% }" ""

# the toolbox scripts use instead
out=$("$PKTSH" -e 'for _, k in ipairs{"now", "mono", "sleep", "stopping", "verbose"} do
  io.write(k, "=", type(pktsh[k]), " ") end')
expect_eq "pktsh.now/mono/sleep/stopping are public" "$out" \
  "now=function mono=function sleep=function stopping=function verbose=function "
