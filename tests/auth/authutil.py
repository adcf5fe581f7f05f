"""Helpers for the auth suite (tests/auth): logging in by each mechanism, the auth
process's log lines, finding the auth process, and running logins side by side.

The auth process logs one line per attempt:
  letterbox-pop3d[PID]: session=auth auth result=ok|fail|tempfail|throttled service=pop3
      mech=USER|PLAIN|LOGIN user="..." client=IP via="..." session=ID failures=N
Every wait here is for an observable event (a reply, a log line, a process), bounded.
"""
import base64
import os
import re
import threading
import time

import pytest

from conftest import Pop3, children, process_socket_inodes, process_state, wait_for

AUTH_FAILED = "-ERR [AUTH] Authentication failed."
THROTTLED = ("-ERR [SYS/TEMP] Too many failed logins from your address, "
             "try again later.")
TEMPFAIL = "-ERR [SYS/TEMP] Authentication is not available now, try again later."
LOGGED_IN = "+OK Logged in."
LOGIN_USER_CHALLENGE = "+ VXNlcm5hbWU6"       # base64("Username:")
LOGIN_PASS_CHALLENGE = "+ UGFzc3dvcmQ6"       # base64("Password:")
MECHS = ("USER", "PLAIN", "LOGIN")

AUTH_LINE = re.compile(
    r'letterbox-pop3d\[(?P<pid>\d+)\]: session=auth auth result=(?P<result>\S+) '
    r'service=(?P<service>\S+) mech=(?P<mech>\S+) user="(?P<user>[^"]*)" '
    r'client=(?P<client>\S+) via="(?P<via>[^"]*)" session=(?P<session>\S+) '
    r'failures=(?P<failures>\d+)$')


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


def login(c, mech, user, password):
    """Log in on c with one mechanism; the final status line."""
    if mech == "USER":
        assert c.cmd(f"USER {user}") == "+OK"
        return c.cmd(f"PASS {password}")
    if mech == "PLAIN":
        return c.cmd("AUTH PLAIN " + plain(user, password))
    assert mech == "LOGIN", mech
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd(b64(user)) == LOGIN_PASS_CHALLENGE
    return c.cmd(b64(password))


def authsys(make_mailsys, **extra):
    """pop3d alone (no smtpd needed), passwords allowed in the clear on 127.0.0.0/8 so
    that attempts from many loopback addresses need no TLS."""
    return make_mailsys(smtpd=False, plaintext_auth_loopback="yes", **extra)


def connect(ms, source, **kw):
    c = Pop3(ms.pop3_port, source=source, **kw)
    assert c.greeting.startswith(b"+OK"), c.greeting
    return c


def attempt(ms, source, user, password, mech="USER"):
    """One login on a new connection from source: the status line."""
    c = connect(ms, source)
    try:
        return login(c, mech, user, password)
    finally:
        c.close()


def timed_attempt(ms, source, user, password, mech="USER"):
    """(status line, seconds from sending the first command to the final reply)."""
    c = connect(ms, source)
    try:
        t0 = time.monotonic()
        r = login(c, mech, user, password)
        return r, time.monotonic() - t0
    finally:
        c.close()


def auth_lines(ms, **match):
    """The auth process's attempt lines (dicts), optionally only those whose fields
    equal the given values (failures as int)."""
    out = []
    for line in ms.read_log("pop3d").splitlines():
        m = AUTH_LINE.search(line)
        if not m:
            continue
        d = m.groupdict()
        d["failures"] = int(d["failures"])
        d["pid"] = int(d["pid"])
        if all(d.get(k) == v for k, v in match.items()):
            out.append(d)
    return out


def wait_auth_lines(ms, n, **match):
    """Wait until at least n matching auth lines are in the log; return them."""
    return wait_for(lambda: (lambda got: got if len(got) >= n else None)(
        auth_lines(ms, **match)), timeout=60, what=f"{n} auth lines {match}")


def tcp_inodes():
    """Inodes of every TCP socket of this host, listening ones included."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                out.update(int(line.split()[9]) for line in f)
        except FileNotFoundError:
            pass
    return out


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None


def authd_pid(ms):
    """The pid of ms's auth process: the one its latest attempt line names (log one
    attempt first). Checked in /proc: a live child of pop3d with the daemon's own
    command line (forked, not executed) and no TCP socket at all (sessions closed the
    listening sockets too, so this alone does not single it out)."""
    lines = auth_lines(ms)
    assert lines, "no auth line in the log yet"
    pid = lines[-1]["pid"]
    assert pid in children(ms.pop3d.pid), (pid, children(ms.pop3d.pid))
    assert process_state(pid) not in (None, "Z")
    assert cmdline(pid) == cmdline(ms.pop3d.pid)
    assert not process_socket_inodes(pid) & tcp_inodes()
    return pid


def workers(pid):
    """The live worker processes of the auth process pid."""
    return [p for p in children(pid) if process_state(p) not in (None, "Z")]


class Race:
    """Logins run side by side in threads; .order records who finished first."""

    def __init__(self):
        self.order = []
        self.results = {}
        self.errors = []
        self.threads = []
        self.lock = threading.Lock()

    def start(self, name, fn, *args):
        def run():
            try:
                r = fn(*args)
            except Exception as e:           # reported by join()
                with self.lock:
                    self.errors.append((name, e))
                return
            with self.lock:
                self.results[name] = r
                self.order.append(name)
        t = threading.Thread(target=run, name=name)
        self.threads.append(t)
        t.start()
        return t

    def join(self, timeout=60):
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive(), f"{t.name} did not finish"
        assert not self.errors, self.errors


slow = pytest.mark.skipif(
    os.environ.get("LB_BUILD") == "build/asan",
    reason="about 2 minutes of deliberate throttle delays (2+4+8+6x15 s plus PAM's "
           "~2 s per failure); they exercise the throttle's timing, which the release "
           "build checks, not memory safety, and would double the ASan run")

