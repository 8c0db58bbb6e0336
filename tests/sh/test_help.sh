#!/usr/bin/env bash
# The REPL on a terminal (python3's pty), as a user meets it:
# - help (issue 16 item 12): help() covers live capture, charts, XDP, DNS,
#   sending, workers and outputs; help(fn) shows a library function's
#   signature and description; pktsh.<Tab> offers lazily loaded modules
#   and src:<Tab> hides _private methods; p:udp() prints a readable
#   header, p:raw() a hex dump, p:show() and p:hex() their text.
# - file names inside strings (issue 16 item 7): a path completes from
#   any directory, '/' and '-' included, and the quote is closed.
# (Every public function's help: tests/unit/test_repl.lua.)
. tests/lib/sh.sh
if ! command -v python3 >/dev/null; then skip "REPL help" "python3 is not installed (make deps)"; exit 0; fi
mkdir -p "$TMP/a-dir/sub.d" && : >"$TMP/a-dir/sub.d/cap-1_x.pcap"

HOME=$TMP PKTSH_BIN=$PKTSH PYTHONPATH=$PWD/tests/lib DIR=$TMP timeout 120 python3 - <<'PY'
import os
from ptysession import Session, check, prompt
D = os.environ["DIR"]
s = Session([], env=dict(os.environ, TERM="xterm", LANG="C.UTF-8", PKTSH_HISTORY=""))
check("a prompt", prompt(s), s)

s.line("help()")
ok = all(s.expect(p, 3) for p in [r"live capture", r"Charts", r"XDP rules", r"DNS",
                                   r"Sending and building", r"Parallel workers", r"Outputs"])
check("help() covers capture, charts, XDP, DNS, sending, workers, outputs", ok and prompt(s), s)
s.line("help(pktsh.sleep)")
check("help(pktsh.sleep): signature and description",
      s.expect(r"\npktsh\.sleep\(seconds\)\n  Sleeps `seconds`, or less when Ctrl-C", 3) and prompt(s), s)
s.line("help(pktsh.hist.new)")
check("help(pktsh.hist.new): no 'function: 0x'",
      s.expect(r"\npktsh\.hist\.new\(opts\)\n  local h = pktsh\.hist\.new\{\}", 3) and prompt(s), s)

s.send("type(pktsh.xd\t")
s.line(")")
check("pktsh.xd<Tab> completes a module not loaded yet", s.expect(r"pktsh\.xdp\)\ntable\n> ", 3), s)
s.line('src = open"tests/pcaps/dnscap__dns.pcap"')
prompt(s)
s.send("src:\t\t", 0.5)
ok = s.expect(r"src:close\(\s+src:each\(\s+src:error\(\s+src:next\(\s+src:packets\(\s+src:stats\(", 3)
check("src:<Tab><Tab> lists the methods, no _private ones", ok and "_await" not in s.text(), s)
s.send("\x03", 0.3)
prompt(s)

s.line("p = src:next().pkt[0]")
s.line("p:udp()")
check("p:udp() prints the header's fields",
      s.expect(r"\nudp \{sport = 53199, dport = 53, len = 36, sum = 0xbc60\}\n> ", 3), s)
s.line("p:raw()")
check("p:raw() prints a hex dump",
      s.expect(r"\n70 bytes:\n0000  56 84 7a fe 97 99 02 42 ac 11 00 0a 08 00 45 00  V\.z", 3) and prompt(s), s)
s.line("p:show()")
check("p:show() prints the tree", s.expect(r"\nUser Datagram Protocol, src port 53199, dst port 53", 3) and prompt(s), s)
s.line("p:hex()")
check("p:hex() prints the dump", s.expect(r"\n0040  6d 00 00 01 00 01 ", 3) and prompt(s), s)

# file names inside strings, from any directory
s.send('x = "%s/a-d\t' % D, 0.4)
s.send("\t", 0.4)
s.send("\t", 0.4)
s.line("")
check("a path in a string completes through '/' and '-', the quote closed",
      s.expect(r'x = "%s/a-dir/sub\.d/cap-1_x\.pcap" ?\n> ' % D, 3), s)
s.line("x")
check("... and is the string", s.expect(r"\n%s/a-dir/sub\.d/cap-1_x\.pcap\n> " % D, 3), s)
s.send('y = open"tests/pcaps/dnscap__ic\t', 0.4)
s.line("")
s.line("y")
check("a relative path in open\"...\" completes",
      s.expect(r'y = open"tests/pcaps/dnscap__icmp\.pcap" ?\n> y\npktsh source tests/pcaps/dnscap__icmp\.pcap', 3)
      and prompt(s), s)
s.send("\x04")
check("Ctrl-D exits 0", s.wait() == 0, s)
PY
[ $? -eq 0 ] || echo "not ok - the REPL pty driver failed"
