#!/usr/bin/env bash
# test_repl.sh - the interactive REPL, driven through a pseudo-terminal
# (python3's pty module), plus the piped-stdin mode. One line per check.
set -u
cd "$(dirname "$0")/../.."
BIN=${PKTSH_BIN:-$PWD/build/pktsh}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- piped stdin: no prompt, same evaluation rules ------------------------
check_pipe() {
  local name=$1 input=$2 want=$3 got
  got=$(printf '%s' "$input" | HOME=$tmp timeout 10 "$BIN" 2>&1)
  if [ "$got" = "$want" ]; then echo "ok - $name"
  else echo "not ok - $name: got $(printf %q "$got"), want $(printf %q "$want")"; fi
}
check_pipe "piped: 1+1 prints 2" $'1+1\n' "2"
check_pipe "piped: multi-line function" $'function f(x)\n  return x * 2\nend\nf(21)\n' "42"
check_pipe "piped: several results tab-separated" $'1, "a", nil\n' $'1\ta\tnil'
check_pipe "piped: nested table sorted" $'{b = 2, a = {1, 2}, 3}\n' "{3, a = {1, 2}, b = 2}"
check_pipe "piped: =expr shorthand" $'=2^10\n' "1024"
got=$(printf 'error("boom")\n3*3\n' | HOME=$tmp timeout 10 "$BIN" 2>"$tmp/err"); rc=$?
if [ "$got" = 9 ] && grep -q '^pktsh: .*boom' "$tmp/err" && [ "$rc" = 1 ]; then
  echo "ok - piped: error reported, session goes on, exit 1"
else
  echo "not ok - piped: error handling: out=$(printf %q "$got") rc=$rc err=$(head -c 200 "$tmp/err")"
fi
got=$(printf 'x = 1\n' | HOME=$tmp timeout 10 "$BIN" 2>&1); rc=$?
if [ -z "$got" ] && [ "$rc" = 0 ]; then echo "ok - piped: statements print nothing, exit 0"
else echo "not ok - piped: statement: out=$(printf %q "$got") rc=$rc"; fi
if [ ! -e "$tmp/.pktsh_history" ]; then echo "ok - piped: no history file written"
else echo "not ok - piped: a history file was written"; rm -f "$tmp/.pktsh_history"; fi

# completion of FFI objects described through repl.register, and help(obj)
got=$(HOME=$tmp timeout 10 "$BIN" -e '
local ffi, repl = require "ffi", require "pktsh.host.repl"
ffi.cdef "struct repl_test_pkt { int len; }"
local m = {udp = function() end}
local ct = ffi.metatype("struct repl_test_pkt", {__index = m})
repl.register(ct, {name = "packet", fields = {"len"}, methods = m})
p = ffi.cast("const struct repl_test_pkt *", ct())
repl.doc(m.udp, "udp doc")
print(table.concat(repl.complete("x = p.", "p."), " "), table.concat(repl.complete("p:", "p:"), " "),
  repl.describe(p.udp), (repl.describe(p):match("^a packet")))' 2>&1)
want=$'p.len p.udp	p:udp(	udp doc	a packet'
if [ "$got" = "$want" ]; then echo "ok - completion and help of registered FFI objects"
else echo "not ok - registered FFI objects: got $(printf %q "$got")"; fi

# --- the terminal ---------------------------------------------------------
if ! command -v python3 >/dev/null; then
  echo "skipped: repl through a pty: python3 is not installed (make deps)"
  exit 0
fi

PKTSH_BIN=$BIN HOME=$tmp PYTHONPATH=$PWD/tests/lib timeout 300 python3 - <<'EOF'
import os, sys, time
from ptysession import Session, check, prompt, BIN, HOME, HIST, ENV

# Session 1: printing, multi-line input, errors, help, completion.
s = Session()
check("banner and prompt", s.expect(r"pktsh 0\.1\.0 \(LuaJIT [^)]*\) .*help\(\) for help, Ctrl-D to exit\n> "), s)
s.line("1+1")
check("autoprint 1+1", s.expect(r"\n2\n> "), s)
s.line("t = {b = 2, a = 'x', {n = 1}, [10] = true}")
s.line("t")
check("table pretty print", s.expect(r'\{\{n = 1\}, \[10\] = true, a = "x", b = 2\}\n> '), s)
s.line("c = {name = 'c'}; c.self = c")
s.line("c")
check("cycle marked", s.expect(r'\{name = "c", self = <cycle: [^>]*>\}'), s)
s.line("function sq(x)")
check("continuation prompt", s.expect(r"\n>> "), s)
s.line("  return x * x")
s.line("end")
s.line("sq(12)")
check("multi-line function definition", s.expect(r"\n144\n> "), s)
s.line("error('boom')")
ok = s.expect(r"pktsh: .*boom.*stack traceback")
s.line("6*7")
check("error then session continues", ok and s.expect(r"\n42\n> "), s)
s.line("help()")
check("help() lists the API", s.expect(r"pktsh\.open.*src:each.*pkt:udp\(\).*pcap_writer.*Ctrl-D", 5), s)
s.line("help(sq)")
check("help(fn) describes a function", s.expect(r"function: .*defined at stdin:1"), s)
# completion: a global, pktsh.<field>, nested a.b.c, a method after ':'
s.line("zz_unique_global = 5")
s.send("zz_uniq\t")
s.line("")
check("tab completes a global", s.expect(r"zz_unique_global\n5\n> "), s)
s.send("type(pktsh.install_g\t")
s.line(")")
check("tab completes pktsh. fields", s.expect(r"pktsh\.install_globals\)\nfunction\n> "), s)
s.line("nest = {inner = {deepvalue = 7}}")
s.send("nest.inner.dee\t")
s.line("")
check("tab completes nested a.b.c", s.expect(r"nest\.inner\.deepvalue\n7\n> "), s)
s.line("obj = setmetatable({}, {__index = {frobnicate = function(self) return 'frobbed' end}})")
s.send("obj:frob\t")
s.line(")")
check("tab completes a method after ':'", s.expect(r"obj:frobnicate\(\)\nfrobbed\n> "), s)
s.send("zz_uniq_not_there = 1")
s.send("\x03")
s.line("8+8")
check("Ctrl-C at the prompt clears the line", s.expect(r"\^C\n> 8\+8\n16\n> "), s)
s.line("function half(")
s.send("\x03")
s.line("9+9")
check("Ctrl-C drops a pending multi-line chunk", s.expect(r"\^C\n> 9\+9\n18\n> "), s)
s.line("while true do end")
s.send("\x03", 0.6)
ok = s.expect(r"\ninterrupted\n> ")
s.line("3+4")
check("Ctrl-C interrupts while true do end", ok and s.expect(r"\n7\n> "), s)
s.line("n = 0; for i = 1, 1e12 do n = n + 1 end")
time.sleep(0.5)
s.send("\x03", 0.6)
ok = s.expect(r"\ninterrupted\n> ")
s.line("n > 0")
check("Ctrl-C stops a long loop, state kept", ok and s.expect(r"\ntrue\n> "), s)
if os.geteuid() == 0:
    # a live capture waiting for packets: Ctrl-C returns to the prompt and
    # the source is still usable
    s.line('src = open("lo", {filter = "udp port 9"}); n = 0')
    s.line('src:each(function() n = n + 1 end)')
    time.sleep(0.5)
    s.send("\x03", 0.6)
    ok = s.expect(r"\n(true|interrupted)\n> ")
    s.line('src:stats().packets == n, src.kind')
    check("Ctrl-C stops a live capture, source still usable",
          ok and s.expect(r'\ntrue\tlive\n> '), s)
    s.line('src:close()')
else:
    print("skipped: Ctrl-C stops a live capture: needs root")
s.line("'hist' .. 'ory' .. 42")
s.expect(r"history42\n> ")
s.send("\x04")
check("Ctrl-D exits 0", s.wait() == 0, s, "rc=%s " % s.rc)

try:
    hist = open(HIST).read()
except OSError as e:
    hist = ""
check("history file written", "'hist' .. 'ory' .. 42" in hist and
      "function sq(x)\n  return x * x\nend" in hist, None, "history: %r" % hist[-200:])
check("history file is private", os.path.exists(HIST) and (os.stat(HIST).st_mode & 0o077) == 0,
      None, "mode %o" % (os.stat(HIST).st_mode if os.path.exists(HIST) else 0))

# Session 2: history comes back, multi-line entries whole.
s = Session()
prompt(s)
s.send("\x1b[A")
s.line("")
check("history reloaded in a new session", s.expect(r"\nhistory42\n> "), s)
s.send("\x12function sq", 0.3)  # Ctrl-R: search the history, Enter runs it
s.line("")
s.line("sq(3)")
check("multi-line history entry reloaded whole", s.expect(r"\n9\n> "), s)
s.send("\x04")
s.wait()

# Session 3: PKTSH_HISTORY; a JIT-compiled endless loop needs a second Ctrl-C.
alt = os.path.join(HOME, "alt_history")
s = Session(env=dict(ENV, PKTSH_HISTORY=alt))
prompt(s)
s.line("alt_marker = 1")
s.line("function spin() local i = 0 while true do i = i + 1 end end")
s.line("spin()")
time.sleep(0.3)
s.send("\x03", 0.3)
s.send("\x03", 0.1)
rc = s.wait()
check("second Ctrl-C within a second exits 130", rc == 130, s, "rc=%s " % rc)
check("PKTSH_HISTORY honoured and saved before that exit",
      os.path.exists(alt) and "alt_marker" in open(alt).read(), None, "no %s" % alt)

# Session 4: -i runs the script, then the REPL has its globals.
script = os.path.join(HOME, "s.lua")
with open(script, "w") as f:
    f.write("from_script = 'hello'\n")
s = Session(args=("-i", script))
prompt(s)
s.line("from_script")
check("-i script keeps its globals", s.expect(r"\nhello\n> "), s)
s.send("\x04")
check("-i session exits 0 on Ctrl-D", s.wait() == 0, s)
EOF
rc=$?
[ "$rc" -eq 0 ] || echo "not ok - pty driver exited $rc"
