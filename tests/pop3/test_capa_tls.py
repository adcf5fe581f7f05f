"""CAPA (RFC 2449), STLS (RFC 2595) with the command-injection case, the implicit-TLS
port (RFC 8314), and a daemon configured without TLS at all."""
import os
import pwd
import signal
import socket

import pytest

from conftest import (DOMAIN, OWNER, POP3D, TEST_PAM_SERVICE, client_tls_context,
                      free_port, start_daemon)
from pop3util import capa, is_closed

BASE = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER",
        "IMPLEMENTATION Letterbox"]
LOGIN = ["USER", "SASL PLAIN LOGIN"]


def drain(sock):
    """Everything the server sends until it closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_greeting(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    assert c.greeting == b"+OK Letterbox POP3 ready."


def test_capa_in_the_clear(mailsys, pop3):
    """Without TLS no way to log in is offered, and STLS is."""
    c = pop3(mailsys.pop3_port)
    assert sorted(capa(c)) == sorted(BASE + ["STLS"])


def test_capa_after_stls(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    c.stls()
    assert sorted(capa(c)) == sorted(BASE + LOGIN)


def test_capa_implicit_tls(mailsys, pop3):
    c = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert sorted(capa(c)) == sorted(BASE + LOGIN)


def test_capa_in_transaction(mailsys, pop3):
    c = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert sorted(capa(c)) == sorted(BASE)


def test_capa_loopback_plaintext_allowed(make_mailsys, pop3):
    ms = make_mailsys(plaintext_auth_loopback="yes")
    c = pop3(ms.pop3_port)
    assert sorted(capa(c)) == sorted(BASE + LOGIN + ["STLS"])
    # In TRANSACTION (logged in without TLS), neither logins nor STLS.
    assert c.login(ms.user, ms.password) == "+OK Logged in."
    assert sorted(capa(c)) == sorted(BASE)


def test_capa_with_argument(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    assert c.cmd("CAPA TOP") == "-ERR Invalid arguments."
    assert c.cmd("capa").startswith("+OK")
    assert "TOP" in [line.decode() for line in c.multi()]


# ---------------------------------------------------------------- STLS

def test_stls_then_session(mailsys, pop3):
    mailsys.deliver(count=1)
    c = pop3(mailsys.pop3_port)
    assert c.cmd("STLS") == "+OK Begin TLS negotiation."
    c.sock = client_tls_context().wrap_socket(c.sock, server_hostname="localhost")
    assert c.sock.version() is not None
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert c.cmd("STAT").startswith("+OK 1 ")
    assert 'starttls="TLSv1' in mailsys.read_log()


def test_stls_errors(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    assert c.cmd("STLS now") == "-ERR Invalid arguments."
    c.stls()
    assert c.cmd("STLS") == "-ERR TLS is already active."
    assert c.cmd("NOOP") == "+OK"
    t = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert t.cmd("STLS") == "-ERR TLS is already active."
    assert t.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert t.cmd("STLS") == "-ERR Already logged in."


def test_stls_pipelined_input_is_refused(mailsys, pop3):
    """RFC 2595 §4 / CVE-2011-0411: a command sent in the clear right behind STLS
    would be taken as sent inside TLS. The server refuses and closes, before TLS."""
    c = pop3(mailsys.pop3_port)
    c.send(b"STLS\r\nUSER injected\r\n")
    assert c.line() == b"-ERR Data after STLS, closing connection."
    assert is_closed(c)
    log = mailsys.read_log()
    assert "sent data after STLS" in log
    assert "starttls=" not in log


def test_stls_pipelined_client_hello_is_refused(mailsys, pop3):
    """Even a TLS ClientHello sent with STLS is input that came before "+OK"."""
    c = pop3(mailsys.pop3_port)
    hello = bytes.fromhex("16030100") + b"\x2e\x01\x00\x00\x2a\x03\x03" + b"\x00" * 32
    c.send(b"STLS\r\n" + hello)
    assert c.line() == b"-ERR Data after STLS, closing connection."
    assert is_closed(c)


def test_stls_failed_handshake(mailsys, pop3):
    """Garbage instead of a ClientHello: the session ends, the daemon serves on."""
    c = pop3(mailsys.pop3_port)
    assert c.cmd("STLS") == "+OK Begin TLS negotiation."
    c.send(b"this is not TLS\r\n" * 4)
    # At most a TLS alert comes back, then the end of the connection.
    assert b"OK" not in drain(c.sock)
    d = pop3(mailsys.pop3_port)
    d.stls()
    assert d.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert "TLS handshake failed" in mailsys.read_log()


# ---------------------------------------------------------------- implicit TLS

def test_plaintext_on_implicit_tls_port(mailsys, pop3):
    """A client speaking POP3 in the clear to the TLS port gets no greeting and is
    closed; the daemon serves the next client."""
    s = socket.create_connection(("127.0.0.1", mailsys.pop3s_port), timeout=30)
    try:
        s.sendall(b"USER alice\r\nPASS not-sent-in-clear\r\n")
        assert b"OK" not in drain(s)
    finally:
        s.close()
    c = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert c.greeting == b"+OK Letterbox POP3 ready."
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert "not-sent-in-clear" not in mailsys.read_log()


def test_implicit_tls_is_tls13_or_12(mailsys, pop3):
    c = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    assert c.cmd("NOOP") == "+OK"


# ---------------------------------------------------------------- no TLS configured

@pytest.fixture
def pop3d_without_tls(tmp_path, test_account):
    """letterbox-pop3d from a config with no certificate: no STLS, no pop3s."""
    root = tmp_path / "notls"
    root.mkdir()
    os.chmod(root, 0o755)
    user = test_account[0]
    pw = pwd.getpwnam(user)
    state = root / "state"
    state.mkdir(mode=0o700)
    os.chown(state, pw.pw_uid, pw.pw_gid)
    port = free_port()
    conf = root / "letterbox.conf"
    conf.write_text("\n".join([
        "hostname mx.example.test", f"domains {DOMAIN}", f"local_parts {OWNER}",
        f"maildir {root / 'Maildir'}", f"user {user}", f"pop3_listen 127.0.0.1:{port}",
        f"pam_service {TEST_PAM_SERVICE}", f"state_dir {state}",
        "plaintext_auth_loopback yes"]) + "\n")
    log_path = str(root / "pop3d.log")
    proc, log = start_daemon(POP3D, str(conf), log_path)
    yield port, log_path
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except Exception:
        proc.kill()
        proc.wait()
    log.close()
    with open(log_path) as f:
        text = f.read()
    assert "killed by signal" not in text, text
    assert "AddressSanitizer" not in text and "runtime error" not in text, text
    assert test_account[1] not in text


def test_no_tls_configured(pop3d_without_tls, pop3, test_account):
    port, _ = pop3d_without_tls
    c = pop3(port)
    lines = capa(c)
    assert "STLS" not in lines
    assert "USER" in lines     # plaintext_auth_loopback yes, and we are on loopback
    assert c.cmd("STLS") == "-ERR STLS is not available."
    assert c.login(*test_account) == "+OK Logged in."
    assert c.cmd("STAT") == "+OK 0 0"
