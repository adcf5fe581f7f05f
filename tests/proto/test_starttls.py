"""STARTTLS (RFC 3207) and implicit TLS (RFC 8314): the handshake, the state reset,
what EHLO offers before and after, command injection before the handshake, the
Received: with-clause, and a server without a certificate."""
import socket
import ssl
import warnings

import pytest

from conftest import greet, message, send_mail, client_tls_context
from proto_helpers import (check, expect, replies_until_close, codes, delivered,
                           assert_nothing_delivered, split_message, mail_rcpt_data)


def starttls(c):
    check(c.cmd("STARTTLS"), 220, "2.0.0")
    c.starttls()


def test_starttls_handshake_and_delivery(server, connect):
    c = connect(server.port)
    lines = greet(c)
    assert "STARTTLS" in lines
    starttls(c)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    code, lines = c.cmd("EHLO client.example.net")
    assert code == 250
    assert "STARTTLS" not in lines
    for ext in ("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
        assert ext in lines
    assert any(line.startswith("SIZE ") for line in lines)
    check(send_mail(c, message("over tls")), 250, "2.0.0")
    check(c.cmd("QUIT"), 221, "2.0.0")
    data, = delivered(server)
    trace, msg = split_message(data)
    assert b" with ESMTPS (TLSv1." in trace
    assert b"Subject: over tls\r\n" in msg


def test_starttls_resets_state_mail_needs_new_ehlo(server, connect):
    c = connect(server.port)
    greet(c)
    starttls(c)
    # RFC 3207 §4.2: the client must say EHLO again; nothing before TLS is kept.
    expect(c, "MAIL FROM:<sender@example.net>", 503, "5.5.1")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    assert c.cmd("EHLO client.example.net")[0] == 250
    expect(c, "MAIL FROM:<sender@example.net>", 250, "2.1.0")


def test_starttls_forgets_helo_name(server, connect):
    c = connect(server.port)
    c.reply()
    assert c.cmd("EHLO before-tls.example.net")[0] == 250
    starttls(c)
    assert c.cmd("EHLO after-tls.example.net")[0] == 250
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    assert b"Received: from after-tls.example.net (" in data
    assert b"before-tls" not in data


def test_helo_after_starttls_is_smtps(server, connect):
    c = connect(server.port)
    greet(c)
    starttls(c)
    assert c.cmd("HELO client.example.net")[0] == 250
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    assert b" with SMTPS (TLSv1." in data


def test_starttls_twice_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    starttls(c)
    expect(c, "STARTTLS", 503, "5.5.1")          # not greeted again yet
    assert c.cmd("EHLO client.example.net")[0] == 250
    expect(c, "STARTTLS", 503, "5.5.1")          # greeted, but TLS is already on
    # The session is unharmed.
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(server)


def test_starttls_before_ehlo_is_503(server, connect):
    c = connect(server.port)
    c.reply()
    expect(c, "STARTTLS", 503, "5.5.1")
    assert c.cmd("EHLO client.example.net")[0] == 250
    starttls(c)
    assert c.cmd("EHLO client.example.net")[0] == 250


@pytest.mark.parametrize("injected", [b"NOOP\r\n",
                                      b"MAIL FROM:<evil@example.net>\r\n",
                                      b"EHLO x\r\nMAIL FROM:<evil@example.net>\r\n"
                                      b"RCPT TO:<alice@example.test>\r\n",
                                      b"\r\n", b"N"])
def test_starttls_command_injection_refused(server, connect, injected):
    c = connect(server.port)
    greet(c)
    c.send(b"STARTTLS\r\n" + injected)
    rs = replies_until_close(c)
    assert codes(rs) == [554], rs
    assert rs[0][1][0].startswith("5.")
    assert c.closed()
    assert_nothing_delivered(server)
    # No TLS was started: a handshake on a fresh plaintext socket to the same session
    # is impossible (it is closed); the daemon still serves others.
    d = connect(server.port)
    greet(d)
    check(send_mail(d, message()), 250, "2.0.0")


def test_starttls_injection_after_pipelined_group(server, connect):
    """STARTTLS at the end of a pipelined group is fine; text after it is not."""
    c = connect(server.port)
    greet(c)
    c.send(b"NOOP\r\nRSET\r\nSTARTTLS\r\n")
    rs = [c.reply() for _ in range(3)]
    assert codes(rs) == [250, 250, 220], rs
    c.starttls()
    assert c.cmd("EHLO client.example.net")[0] == 250


def test_starttls_handshake_failure_closes(server, connect):
    c = connect(server.port)
    greet(c)
    check(c.cmd("STARTTLS"), 220, "2.0.0")
    c.send(b"this is not a TLS ClientHello\r\n" * 10)
    assert replies_until_close(c) == []
    assert_nothing_delivered(server)


def test_pipelining_inside_tls(server, connect):
    c = connect(server.port)
    greet(c)
    starttls(c)
    c.send(b"EHLO client.example.net\r\nMAIL FROM:<sender@example.net>\r\n"
           b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    rs = [c.reply() for _ in range(4)]
    assert codes(rs) == [250, 250, 250, 354], rs
    c.send(message().encode() + b".\r\nQUIT\r\n")
    assert codes(replies_until_close(c)) == [250, 221]
    delivered(server)


def test_large_message_over_tls(server, connect):
    c = connect(server.port)
    greet(c)
    starttls(c)
    assert c.cmd("EHLO client.example.net")[0] == 250
    mail_rcpt_data(c)
    body = message().encode() + (b"t" * 998 + b"\r\n") * 3000
    c.send(body + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    assert split_message(data)[1] == body


# --- implicit TLS (RFC 8314) --------------------------------------------------------

def test_implicit_tls_end_to_end(server, connect):
    c = connect(server.tls_port, implicit_tls=True)
    code, lines = c.reply()
    assert code == 220
    code, lines = c.cmd("EHLO client.example.net")
    assert code == 250
    assert "STARTTLS" not in lines
    assert "PIPELINING" in lines
    expect(c, "STARTTLS", 503, "5.5.1")
    check(send_mail(c, message("implicit")), 250, "2.0.0")
    check(c.cmd("QUIT"), 221, "2.0.0")
    data, = delivered(server)
    assert b" with ESMTPS (TLSv1." in data
    assert b"Subject: implicit\r\n" in data


def test_implicit_tls_rejects_plaintext(server, connect):
    s = socket.create_connection(("127.0.0.1", server.tls_port), timeout=10)
    try:
        s.sendall(b"EHLO client.example.net\r\n")
        data = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        # No SMTP spoken in plaintext on the TLS port.
        assert b"220" not in data and b"250" not in data
    finally:
        s.close()
    # The daemon is still there.
    c = connect(server.tls_port, implicit_tls=True)
    assert c.reply()[0] == 220


def test_tls_1_1_refused(server):
    ctx = client_tls_context()
    try:
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this OpenSSL cannot even offer TLS 1.1")
    s = socket.create_connection(("127.0.0.1", server.tls_port), timeout=10)
    try:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            ctx.wrap_socket(s, server_hostname="localhost")
    finally:
        s.close()


# --- no certificate ------------------------------------------------------------------

def test_without_tls_no_starttls_offered_and_502(make_server, connect):
    s = make_server(with_tls=False)
    c = connect(s.port)
    lines = greet(c)
    assert "STARTTLS" not in lines
    expect(c, "STARTTLS", 502, "5.5.1")
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(s)
    assert b" with ESMTP id " in data
