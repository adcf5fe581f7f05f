"""Every input is bounded: sessions in total and per address, idle/data/session time,
trickling clients, bad commands, and a burst of connections. Over a bound the client
gets a 421 and a close, never a crash; nothing half-received is delivered; and the
server serves a normal client afterwards.

No test measures time: each waits for the server's own reply or close (socket timeouts
are only a safety net far above the configured limits).
"""
import os
import socket
import time

import pytest

from conftest import Client, greet, message, send_mail, wait_for, RCPT
from faults import delivery_files


def assert_busy_and_closed(c):
    code, text = c.reply()
    assert code == 421, text
    assert text[0].startswith("4.7.0"), text
    assert c.closed()


def assert_timeout_and_closed(c):
    code, text = c.reply()
    assert code == 421, text
    assert text[0].startswith("4.4.2"), text
    assert c.closed()


def wait_sessions(srv, n):
    """Wait until at most n session processes exist (exited ones are reaped)."""
    wait_for(lambda: len(srv.session_pids()) <= n, what=f"at most {n} sessions")


def deliver_one(srv, connect, subject="normal client"):
    c = connect(srv.port)
    greet(c)
    m = message(subject)
    code, text = send_mail(c, m)
    assert code == 250, text
    assert c.cmd("QUIT")[0] == 221
    return m


def assert_nothing_delivered(srv):
    assert srv.messages("new") == []
    assert os.listdir(os.path.join(srv.maildir, "tmp")) == []


def test_max_sessions(make_server, connect):
    srv = make_server(max_sessions=3, max_sessions_per_ip=10)
    held = [connect(srv.port) for _ in range(3)]
    for c in held:
        assert c.reply()[0] == 220
    assert_busy_and_closed(connect(srv.port))
    assert_busy_and_closed(connect(srv.tls_port))   # the limit spans all listeners
    assert len(srv.session_pids()) == 3
    assert held[0].cmd("QUIT")[0] == 221
    wait_sessions(srv, 2)
    deliver_one(srv, connect)
    # The other sessions were never disturbed.
    for c in held[1:]:
        assert c.cmd("NOOP")[0] == 250
    assert "too many sessions" in srv.read_log()


def test_max_sessions_per_ip(make_server, connect):
    srv = make_server(max_sessions=10, max_sessions_per_ip=2)
    held = [connect(srv.port) for _ in range(2)]
    for c in held:
        assert c.reply()[0] == 220
    assert_busy_and_closed(connect(srv.port))
    # Another address is not affected (127.0.0.0/8 is all loopback).
    other = connect(srv.port, source="127.0.0.2")
    assert other.reply()[0] == 220
    assert other.cmd("QUIT")[0] == 221
    held[1].close()
    wait_sessions(srv, 1)
    deliver_one(srv, connect)
    assert held[0].cmd("NOOP")[0] == 250


@pytest.mark.parametrize("stage", ["greeting", "after-ehlo", "after-rcpt"])
def test_idle_timeout(make_server, connect, stage):
    srv = make_server(idle_timeout="1s")
    c = connect(srv.port)
    if stage == "greeting":
        assert c.reply()[0] == 220
    else:
        greet(c)
    if stage == "after-rcpt":
        assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
        assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
    assert_timeout_and_closed(c)
    wait_sessions(srv, 0)
    assert_nothing_delivered(srv)
    deliver_one(srv, connect)


def test_idle_timeout_in_tls_handshake(make_server, connect):
    """A client that connects to the TLS port and never says hello is dropped."""
    srv = make_server(idle_timeout="1s")
    s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=10)
    try:
        assert s.recv(100) == b""
    finally:
        s.close()
    wait_sessions(srv, 0)


@pytest.mark.parametrize("size", [100, 100 * 1024], ids=["buffered", "spilled"])
def test_data_timeout(make_server, connect, size):
    srv = make_server(data_timeout="1s", idle_timeout="30s")
    c = connect(srv.port)
    greet(c)
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    body = message("stalled").encode()
    c.send(body + (b"x" * 70 + b"\r\n") * (size // 72) + b"a partial line")
    if size > 64 * 1024:
        wait_for(lambda: delivery_files(srv), what="the body being written to tmp/")
    assert_timeout_and_closed(c)
    wait_sessions(srv, 0)
    assert_nothing_delivered(srv)
    assert "timeout in DATA" in srv.read_log()
    deliver_one(srv, connect)


def test_session_timeout_bounds_a_busy_client(make_server, connect):
    """A client that keeps talking never hits the idle timeout, but the session one."""
    srv = make_server(session_timeout="2s", idle_timeout="30s")
    c = connect(srv.port)
    greet(c)
    for _ in range(500):           # far more than 2 s of NOOPs
        try:
            code, text = c.cmd("NOOP")
        except (ConnectionError, OSError):
            pytest.fail("closed without a 421")
        if code != 250:
            break
        time.sleep(0.05)
    else:
        pytest.fail("session_timeout never ended the session")
    assert code == 421 and text[0].startswith("4.4.2"), (code, text)
    assert c.closed()
    wait_sessions(srv, 0)


def trickle(c, data, pause=0.2, limit=200):
    """Send data one byte per pause until the server talks or closes; return all it
    said until it closed. Fails if the server lets it go on for `limit` bytes."""
    said = b""
    c.sock.settimeout(pause)
    for i in range(limit):
        try:
            c.sock.send(data[i % len(data):i % len(data) + 1])
            said = c.sock.recv(4096)
            break                  # the server spoke (or closed: b"")
        except socket.timeout:
            continue               # silence: one more byte
        except OSError:
            break                  # closed under us: collect what was said
    else:
        pytest.fail(f"the server accepted {limit} trickled bytes without a bound")
    c.sock.settimeout(10)
    try:
        while True:
            more = c.sock.recv(4096)
            if not more:
                break
            said += more
    except (ConnectionResetError, socket.timeout):
        pass
    return said


@pytest.mark.parametrize("where", ["command", "data"])
def test_slowloris_is_bounded_by_the_session_timeout(make_server, connect, where):
    # One byte every 0.2 s never lets the 1 s idle/data timeouts fire (they are per
    # read); the session timeout must end it.
    srv = make_server(session_timeout="3s", idle_timeout="1s", data_timeout="1s")
    c = connect(srv.port)
    greet(c)
    if where == "command":
        data = b"NOOP" + b" x" * 400       # never a CRLF
    else:
        assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
        assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        data = b"Subject: slow\r\n\r\nand steady\r\n"
    said = trickle(c, data)
    assert said.startswith(b"421 4.4.2 "), said
    wait_sessions(srv, 0)
    assert_nothing_delivered(srv)
    deliver_one(srv, connect)


def test_max_bad_commands(make_server, connect):
    srv = make_server(max_bad_commands=3)
    c = connect(srv.port)
    greet(c)
    assert c.cmd("XYZZY")[0] == 500
    assert c.cmd("RCPT TO:<alice@example.test>")[0] == 503     # out of order
    code, text = c.cmd("BOGUS")
    if code != 421:                # the error reply itself, then the 421
        assert code == 500, text
        code, text = c.reply()
    assert code == 421 and text[0].startswith("4.7.0"), (code, text)
    assert c.closed()
    wait_sessions(srv, 0)
    deliver_one(srv, connect)


def test_refused_recipients_count_as_bad_commands(make_server, connect):
    srv = make_server(max_bad_commands=3)
    c = connect(srv.port)
    greet(c)
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    codes = [c.cmd(f"RCPT TO:<victim{i}@elsewhere.example>")[0] for i in range(2)]
    assert codes == [550, 550]
    code, text = c.cmd("RCPT TO:<victim2@elsewhere.example>")
    if code != 421:
        assert code == 550, text
        code, text = c.reply()
    assert code == 421, text
    assert c.closed()


def test_connection_burst(make_server, connect):
    """200 connections at once against max_sessions 100: exactly 100 are served, the
    rest get 421 and a close, the daemon survives, and a client is served after."""
    srv = make_server(max_sessions=100, max_sessions_per_ip=1000)
    burst = [Client(srv.port, timeout=30) for _ in range(200)]
    try:
        firsts = [c.reply() for c in burst]
        served = [c for c, (code, _) in zip(burst, firsts) if code == 220]
        refused = [c for c, (code, _) in zip(burst, firsts) if code == 421]
        assert len(served) == 100, [f for f in firsts if f[0] not in (220, 421)]
        assert len(refused) == 100
        for c in refused:
            assert c.closed()
        assert len(srv.session_pids()) == 100
        assert srv.proc.poll() is None
        # The served ones really are sessions.
        for c in served[:5] + served[-5:]:
            assert c.cmd("EHLO client.example.net")[0] == 250
    finally:
        for c in burst:
            c.close()
    wait_sessions(srv, 0)
    assert srv.proc.poll() is None
    deliver_one(srv, connect)


def test_trickled_command_is_bounded_by_the_idle_timeout(make_server, connect):
    # The idle timeout runs from the end of the previous command, not from the last
    # byte: a command trickled in must be complete within it, even though the session
    # timeout (1 h) is far away.
    srv = make_server(session_timeout="1h", idle_timeout="1s")
    c = connect(srv.port)
    greet(c)
    said = trickle(c, b"NOOP" + b" x" * 400)
    assert said.startswith(b"421 4.4.2 "), said
    assert "timeout" in srv.read_log()
    deliver_one(srv, connect)


def test_client_that_never_pauses_meets_the_session_timeout(make_server, connect):
    # A sender that always has more bytes ready never makes the server wait in poll();
    # the session deadline must still end it (it is checked on every read).
    srv = make_server(session_timeout="2s", data_timeout="1m", idle_timeout="1m",
                      max_message_size="1G")
    c = connect(srv.port)
    greet(c)
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354
    chunk = (b"x" * 998 + b"\r\n") * 64
    closed = False
    try:
        for _ in range(200000):          # bounded: at most ~12 GB, far past 2 s
            c.send(chunk)
    except (BrokenPipeError, ConnectionResetError):
        closed = True
    assert closed, "the server kept reading past its session timeout"
    wait_sessions(srv, 0)
    assert_nothing_delivered(srv)
    deliver_one(srv, connect)
