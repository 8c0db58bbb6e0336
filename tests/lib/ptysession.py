"""ptysession.py - pktsh on a pseudo-terminal, for the tests of what a user
types and sees (tests/sh/test_repl.sh, test_clock.sh, ...).

    import sys; sys.path.insert(0, "tests/lib")
    from ptysession import Session, check, prompt
    s = Session(["-i", "x.lua"])          # BIN is $PKTSH_BIN, HOME is $HOME
    s.line("1+1"); s.expect(r"\n2\n> ")
"""
import os, pty, re, select, signal, struct, sys, time, fcntl, termios

BIN, HOME = os.environ["PKTSH_BIN"], os.environ["HOME"]
HIST = os.path.join(HOME, ".pktsh_history")
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": HOME,
       "TERM": "xterm", "LANG": "C.UTF-8"}
# escape sequences and carriage returns readline emits while redrawing
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\x1b[=>]|\r|\x07")


class Session:
    """pktsh on a pty; expect() searches output not yet matched."""

    def __init__(self, args=(), env=None, argv=None, rows=24, cols=200):
        # argv: a whole command line instead of pktsh ARGS (nsenter ...)
        pid, fd = pty.fork()
        if pid == 0:
            argv = argv or [BIN, *args]
            os.execvpe(argv[0], argv, env or ENV)
        fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.pid, self.fd, self.raw, self.mark, self.rc = pid, fd, b"", 0, None

    def text(self):
        return ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def pump(self, t):
        r, _, _ = select.select([self.fd], [], [], t)
        if not r:
            return True
        try:
            d = os.read(self.fd, 65536)
        except OSError:
            d = b""
        self.raw += d
        return bool(d)

    def expect(self, pat, timeout=5.0):
        rx, end = re.compile(pat, re.S), time.time() + timeout
        while True:
            m = rx.search(self.text(), self.mark)
            if m:
                self.mark = m.end()
                return True
            if time.time() > end or not self.pump(0.05):
                return False

    def send(self, s, settle=0.15):
        # A pause between keystrokes: a Ctrl-C flushes unread tty input.
        os.write(self.fd, s.encode())
        time.sleep(settle)

    def line(self, s):
        self.send(s + "\r")

    def wait(self, timeout=5.0):
        end = time.time() + timeout
        while time.time() < end:
            self.pump(0.05)
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(st)
                return self.rc
        os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        return None

    def tail(self):
        return repr(self.text()[self.mark:][-300:])


def check(name, ok, s=None, why=""):
    if ok:
        print("ok - " + name)
    else:
        print("not ok - %s: %s%s" % (name, why, s.tail() if s else ""))
    sys.stdout.flush()


def prompt(s):
    return s.expect(r"(^|\n)> $", 5) or s.expect(r"\n> ", 0.1)


