"""Abuse (issue 6): a 10 MB line, on SMTP (a command line, a line inside DATA, a line
inside an AUTH exchange on submission) and on POP3 (a command line before and after
login, a line inside an AUTH exchange).

Each gets one clear protocol error (500 5.5.2, 554 5.6.0 for DATA, -ERR Line too
long.), the same session goes on working, nothing cut or corrupted is delivered, and
the memory of the session process stays bounded: its peak resident size (VmHWM in
/proc/<pid>/status, read while the session is still open) grows by less than
GROWTH_MAX for 10 MB read, and stays under ABSOLUTE_MAX (the plain build only: under
ASan freed memory stays resident in its quarantine, and under valgrind the process
is valgrind's). These are resource bounds, not timings.

The map of the whole abuse list to its tests is in tests/abuse/test_flood.py.
"""
import os

from abuse_util import OWNER_ADDR, b64, submission
from conftest import (BUILD, Pop3, children, greet, message, process_socket_inodes,
                      send_mail, tcp_connection_inodes)

TEN_MB = 10 * 1024 * 1024
GROWTH_MAX = 8 * 1024 * 1024        # the buffers are capped at 64 KiB; a 10 MB line
ABSOLUTE_MAX = 32 * 1024 * 1024     # held in memory would show as >= 10 MB


def session_pid(master_pid):
    """The one session process of master_pid that holds a TCP connection."""
    conns = tcp_connection_inodes()
    pids = [p for p in children(master_pid) if process_socket_inodes(p) & conns]
    assert len(pids) == 1, pids
    return pids[0]


def vm_hwm(pid):
    """Peak resident set size of pid in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                kb, unit = line.split()[1:3]
                assert unit == "kB"
                return int(kb) * 1024
    raise AssertionError("no VmHWM")


class Peak:
    """VmHWM of a session process before and after: the growth and the final peak
    are bounded."""

    def __init__(self, master_pid):
        self.pid = session_pid(master_pid)
        self.before = vm_hwm(self.pid)

    def check(self):
        after = vm_hwm(self.pid)
        # Under ASan freed memory stays resident in its quarantine, and under
        # valgrind the process is valgrind's: the bound is the plain build's.
        if BUILD != "build/asan" and os.environ.get("LB_VALGRIND") != "1":
            assert after - self.before < GROWTH_MAX, (self.before, after)
            assert after < ABSOLUTE_MAX, after
        return after


def long_line(head=b"", size=TEN_MB, chunk=1 << 20):
    """The pieces of one line of `size` octets starting with head, no CRLF."""
    yield head
    left = size - len(head)
    while left > 0:
        n = min(chunk, left)
        yield b"x" * n
        left -= n


def send_pieces(c, pieces):
    for p in pieces:
        c.send(p)


# --------------------------------------------------------------------------- SMTP

def test_smtp_10mb_command_line(server, connect):
    c = connect(server.port)
    greet(c)
    peak = Peak(server.proc.pid)
    send_pieces(c, long_line(b"MAIL FROM:<"))
    c.send(b"\r\nNOOP\r\n")
    # One reply for the whole line, and the tail of it is not read as a command.
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.2"), (code, text)
    code, text = c.reply()
    assert code == 250, (code, text)
    peak.check()
    # The same session still delivers.
    code, text = send_mail(c, message("after a 10 MB command line"))
    assert code == 250, text
    assert len(server.messages("new")) == 1


def test_smtp_10mb_line_in_data(server, connect):
    c = connect(server.port)
    greet(c)
    peak = Peak(server.proc.pid)
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd(f"RCPT TO:<{OWNER_ADDR}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    c.send(message("carrier of a 10 MB line").encode())
    send_pieces(c, long_line(b"long: "))
    c.send(b"\r\nafter the long line\r\n.\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (554, "5.6.0"), (code, text)
    peak.check()
    # Nothing delivered, nothing left in tmp/: no cut or corrupted copy.
    assert server.messages("new") == [] and server.messages("cur") == []
    assert os.listdir(os.path.join(server.maildir, "tmp")) == []
    assert c.cmd("NOOP")[0] == 250
    m = message("after a 10 MB DATA line")
    code, text = send_mail(c, m)
    assert code == 250, text
    [path] = server.messages("new")
    with open(path, "rb") as f:
        assert f.read().endswith(m.encode())
    assert "refused" in server.read_log()


def test_submission_10mb_lines_in_and_out_of_auth(mailsys):
    """On 587 after STARTTLS the command line limit is longer (SASL responses);
    a 10 MB command line and a 10 MB AUTH LOGIN response are refused the same way,
    the exchange ends, and the owner then logs in and submits on that session."""
    pw = mailsys.add_app_password("long-lines")
    c = submission(mailsys)
    peak = Peak(mailsys.smtpd.pid)
    send_pieces(c, long_line(b"AUTH PLAIN "))
    c.send(b"\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.2"), (code, text)
    assert c.cmd("AUTH LOGIN")[0] == 334
    send_pieces(c, long_line())
    c.send(b"\r\n")
    code, text = c.reply()
    assert (code, text[0][:5]) == (500, "5.5.2"), (code, text)
    # The exchange is over: the next line is a command again.
    assert c.cmd("NOOP")[0] == 250
    peak.check()
    assert c.cmd("AUTH PLAIN " + b64(f"\0{mailsys.user}\0{pw}"))[0] == 235
    code, text = send_mail(c, message("submitted after 10 MB lines"),
                           mail_from=f"<{OWNER_ADDR}>", rcpt=f"<{OWNER_ADDR}>")
    assert code == 250, text
    assert "auth result=fail" not in mailsys.read_log("smtpd")


# --------------------------------------------------------------------------- POP3

def test_pop3_10mb_command_lines(mailsys):
    mailsys.deliver(count=1)
    c = Pop3(mailsys.pop3_port)
    try:
        peak = Peak(mailsys.pop3d.pid)
        send_pieces(c, long_line(b"USER "))
        c.send(b"\r\nNOOP\r\n")
        assert c.line() == b"-ERR Line too long."
        assert c.line() == b"+OK"
        c.stls()
        # Inside an AUTH exchange: the exchange ends, no login is attempted.
        assert c.cmd("AUTH PLAIN") == "+ "
        send_pieces(c, long_line())
        c.send(b"\r\n")
        assert c.line() == b"-ERR Line too long."
        assert c.cmd("NOOP") == "+OK"
        assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
        # In TRANSACTION: a 10 MB RETR argument.
        send_pieces(c, long_line(b"RETR 1"))
        c.send(b"\r\n")
        assert c.line() == b"-ERR Line too long."
        assert c.cmd("STAT").startswith("+OK 1 ")
        peak.check()
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()
    log = mailsys.read_log("pop3d")
    assert "auth result=fail" not in log
    # Nothing was deleted: the message is still there (moved to cur/ at QUIT).
    assert len(mailsys.messages("new") + mailsys.messages("cur")) == 1
