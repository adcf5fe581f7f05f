"""A client that vanishes in the middle of DATA: nothing is delivered, nothing partial
is left behind, and the server goes on serving.

The body is cut at several points (mid-line, just before the final dot, inside the
end-of-data marker), with a FIN, a RST, and over TLS with and without close_notify.
Large bodies (> 64 KiB) make sure the session has a non-empty file open in tmp/ (named,
or unnamed with O_TMPFILE) before the drop, so the test proves it is discarded rather
than never having been created.
"""
import os
import socket
import struct

import pytest

from conftest import greet, message, send_mail, wait_for, RCPT
from faults import delivery_files

SMALL = 1024
LARGE = 200 * 1024          # > SMTP_BODY_CHUNK (64 KiB): spilled to tmp/ before the end

# Where the body stops: bytes sent after the (complete) body lines.
CUTS = {
    "mid-line": b"a line that never ends",
    "before-dot": b"",                   # body ends with CRLF, the "." never comes
    "dot-only": b".",                    # "\r\n." without its CRLF
    "dot-cr": b".\r",                    # "\r\n.\r" one byte short of the marker
}


def body_lines(size):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n"
    n = max(1, size // len(line))
    return (message("dropped").encode() + line * n)


def start_data(c):
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354


def tmp_files(srv):
    return os.listdir(os.path.join(srv.maildir, "tmp"))


def wait_spilled(srv):
    """Wait until the session has written part of the body into its tmp/ file."""
    wait_for(lambda: delivery_files(srv), what="a session writing a file in tmp/")


def wait_sessions_gone(srv):
    wait_for(lambda: not srv.session_pids(), what="the session process to end")


def abort(sock, how):
    if how == "rst":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def assert_nothing_delivered(srv):
    assert srv.messages("new") == []
    assert srv.messages("cur") == []
    assert tmp_files(srv) == [], "the session left its tmp/ file behind"


def assert_still_serves(srv, connect, **kw):
    c = connect(srv.tls_port if kw.get("implicit_tls") else srv.port, **kw)
    greet(c)
    msg = message("after the drop")
    code, text = send_mail(c, msg)
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    files = srv.messages("new")
    assert len(files) == 1
    assert open(files[0], "rb").read().endswith(msg.encode())


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["small", "large"])
def test_drop_in_data_plain(server, connect, size, cut, how):
    c = connect(server.port)
    greet(c)
    start_data(c)
    c.send(body_lines(size) + CUTS[cut])
    if size == LARGE:
        wait_spilled(server)
    abort(c.sock, how)
    wait_sessions_gone(server)
    assert_nothing_delivered(server)
    assert "message discarded" in server.read_log()
    assert_still_serves(server, connect)


@pytest.mark.parametrize("how", ["abrupt", "close_notify", "rst"])
@pytest.mark.parametrize("mode", ["implicit", "starttls"])
def test_drop_in_data_tls(server, connect, mode, how):
    if mode == "implicit":
        c = connect(server.tls_port, implicit_tls=True)
        greet(c)
    else:
        c = connect(server.port)
        greet(c)
        assert c.cmd("STARTTLS")[0] == 220
        c.starttls()
        assert c.cmd("EHLO client.example.net")[0] == 250
    start_data(c)
    c.send(body_lines(LARGE) + CUTS["before-dot"])
    wait_spilled(server)
    if how == "close_notify":
        raw = c.sock.unwrap()           # a clean TLS close, but no end of data
        raw.close()
    elif how == "rst":
        abort(c.sock, "rst")
    else:
        c.sock.close()                  # TCP FIN, no close_notify
    wait_sessions_gone(server)
    assert_nothing_delivered(server)
    assert_still_serves(server, connect, implicit_tls=True)


def test_drop_after_pipelined_messages_keeps_the_acknowledged_ones(server, connect):
    """Two messages acknowledged, the third cut off: exactly the two are delivered."""
    c = connect(server.port)
    greet(c)
    sent = []
    for i in range(2):
        m = message(f"kept {i}")
        code, text = send_mail(c, m)
        assert code == 250, text
        sent.append(m.encode())
    start_data(c)
    c.send(body_lines(LARGE))
    wait_spilled(server)
    abort(c.sock, "fin")
    wait_sessions_gone(server)
    assert tmp_files(server) == []
    got = sorted(open(f, "rb").read() for f in server.messages("new"))
    assert len(got) == 2
    for m in sent:
        assert sum(g.endswith(m) for g in got) == 1
