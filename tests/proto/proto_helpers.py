"""Small assertions shared by the protocol tests (tests/proto only)."""
import os

from conftest import RCPT


def check(reply, code, esc=None):
    """Assert a (code, lines) reply has this code and, if given, this enhanced
    status code on every line (RFC 2034 §4)."""
    got, lines = reply
    assert got == code, reply
    if esc is not None:
        for line in lines:
            assert line.split(" ", 1)[0] == esc, reply
    return lines


def expect(c, line, code, esc=None):
    """Send one command and check its reply."""
    return check(c.cmd(line), code, esc)


def replies(c, n):
    """Read n replies in order."""
    return [c.reply() for _ in range(n)]


def replies_until_close(c):
    """Every reply the server sends until it closes the connection."""
    out = []
    while True:
        try:
            out.append(c.reply())
        except (ConnectionError, OSError):
            return out


def codes(rs):
    return [r[0] for r in rs]


def tmp_empty(server):
    return os.listdir(os.path.join(server.maildir, "tmp")) == []


def assert_nothing_delivered(server):
    """Nothing in new/ or cur/, and no partial file left in tmp/."""
    assert server.messages("new") == []
    assert server.messages("cur") == []
    assert tmp_empty(server)


def delivered(server, n=1):
    """The contents of the n files in new/ (oldest name first); tmp/ must be empty and
    every name must carry ,S=<file size>."""
    files = server.messages("new")
    assert len(files) == n, files
    assert server.messages("cur") == []
    assert tmp_empty(server)
    out = []
    for f in files:
        with open(f, "rb") as fh:
            data = fh.read()
        assert f.endswith(",S=%d" % len(data)), (f, len(data))
        out.append(data)
    return out


def split_message(data):
    """(trace, rest): the Return-Path + Received fields Letterbox added, and the message
    exactly as the client sent it (after unstuffing)."""
    assert data.startswith(b"Return-Path: <")
    i = data.index(b"\r\nReceived: ")
    # Received: is folded onto continuation lines starting with a tab.
    j = i + 2
    while True:
        k = data.index(b"\r\n", j)
        if data[k + 2:k + 3] != b"\t":
            return data[:k + 2], data[k + 2:]
        j = k + 2


def mail_rcpt_data(c, mail_from="<sender@example.net>", rcpt=f"<{RCPT}>"):
    """MAIL, RCPT, DATA with their expected 250/250/354."""
    check(c.cmd(f"MAIL FROM:{mail_from}"), 250, "2.1.0")
    check(c.cmd(f"RCPT TO:{rcpt}"), 250, "2.1.5")
    check(c.cmd("DATA"), 354)
