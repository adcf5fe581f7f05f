"""Python's poplib against letterbox-pop3d: what a scripted mail client does, over
STLS and over the implicit-TLS port. poplib's own parsing (status lines, CAPA,
multi-line bodies, dot-unstuffing, octet counts) checks the wire format once more."""
import hashlib
import poplib

import pytest

from conftest import RCPT, client_tls_context, message
from pop3util import maildir_state


def connect(ms):
    p = poplib.POP3("127.0.0.1", ms.pop3_port, timeout=30)
    return p


def test_full_session_with_stls(mailsys):
    # Dot-stuffed for SMTP: stored as ".A line...", "." and "..".
    body = "First line.\r\n..A line with one dot.\r\n..\r\n...\r\nLast.\r\n"
    mailsys.deliver(body=message(subject="dots", body=body))
    subjects = mailsys.deliver(count=2)
    p = connect(mailsys)
    try:
        assert p.getwelcome() == b"+OK Letterbox POP3 ready."
        caps = p.capa()
        assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
        # No password in the clear.
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] Plaintext"):
            p.user(mailsys.user)
        assert p.stls(context=client_tls_context()).startswith(b"+OK")
        caps = p.capa()
        assert caps["SASL"] == ["PLAIN", "LOGIN"]
        assert caps["EXPIRE"] == ["NEVER"]
        for cap in ("TOP", "UIDL", "USER", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"):
            assert cap in caps, cap
        assert "STLS" not in caps
        assert p.user(mailsys.user) == b"+OK"
        assert p.pass_(mailsys.password) == b"+OK Logged in."

        files = mailsys.messages("new")
        count, size = p.stat()
        assert count == 3
        resp, lines, _ = p.list()
        listed = {int(n): int(s) for n, s in (x.split() for x in lines)}
        assert sum(listed.values()) == size
        resp, lines, _ = p.uidl()
        uidls = {int(n): u.decode() for n, u in (x.split() for x in lines)}
        assert p.uidl(2) == f"+OK 2 {uidls[2]}".encode()
        assert p.list(3) == f"+OK 3 {listed[3]}".encode()

        # Download everything; poplib unstuffs and counts the octets (CRLF included).
        for n in (1, 2, 3):
            resp, lines, octets = p.retr(n)
            assert resp == f"+OK {listed[n]} octets".encode()
            assert octets == listed[n]
            with open(files[n - 1], "rb") as f:
                assert b"\r\n".join(lines) + b"\r\n" == f.read()
        resp, lines, _ = p.retr(1)
        assert lines[-5:] == [b"First line.", b".A line with one dot.", b".", b"..",
                              b"Last."]

        resp, lines, _ = p.top(2, 0)
        assert f"Subject: {subjects[0]}".encode() in lines and lines[-1] == b""
        resp, lines, _ = p.top(3, 1)
        assert lines[-1] == b"Hello." and b"" in lines

        assert p.dele(1).startswith(b"+OK")
        with pytest.raises(poplib.error_proto, match="deleted"):
            p.retr(1)
        assert p.rset() == b"+OK 3 messages."
        assert p.dele(1).startswith(b"+OK")
        assert p.dele(3).startswith(b"+OK")
        assert p.stat() == (1, listed[2])
        assert p.noop() == b"+OK"
        with pytest.raises(poplib.error_proto, match="No such message"):
            p.retr(4)
        assert p.quit() == b"+OK Logging out, 2 messages deleted."
    finally:
        p.close()
    assert maildir_state(mailsys) == {"new": [], "cur": [uidls[2] + ":2,S"]}


def test_leave_on_server_by_uidl(mailsys):
    """A client that keeps mail on the server and fetches only what it has not seen,
    by UIDL, across sessions; later it deletes what it has."""
    mailsys.deliver(count=2)
    seen = {}

    def fetch_new():
        p = poplib.POP3_SSL("127.0.0.1", mailsys.pop3s_port, timeout=30,
                            context=client_tls_context())
        try:
            p.user(RCPT)                  # the owner's address as login name
            p.pass_(mailsys.password)
            _, lines, _ = p.uidl()
            got = 0
            for line in lines:
                n, uid = line.split()
                if uid not in seen:
                    _, msg, _ = p.retr(int(n))
                    seen[uid] = hashlib.sha256(b"\r\n".join(msg)).hexdigest()
                    got += 1
            p.quit()
            return got
        finally:
            p.close()

    assert fetch_new() == 2
    assert fetch_new() == 0
    mailsys.deliver(count=1)
    assert fetch_new() == 1
    assert len(seen) == 3
    # Everything retrieved is Seen in cur/.
    assert all(n.endswith(":2,S") for n in maildir_state(mailsys)["cur"])
    # Now delete what we have.
    p = poplib.POP3_SSL("127.0.0.1", mailsys.pop3s_port, timeout=30,
                        context=client_tls_context())
    try:
        p.user(mailsys.user)
        p.pass_(mailsys.password)
        _, lines, _ = p.uidl()
        for line in lines:
            n, uid = line.split()
            assert uid in seen
            p.dele(int(n))
        assert p.quit() == b"+OK Logging out, 3 messages deleted."
    finally:
        p.close()
    assert maildir_state(mailsys) == {"new": [], "cur": []}


def test_pop3_ssl(mailsys):
    mailsys.deliver(count=1)
    p = poplib.POP3_SSL("127.0.0.1", mailsys.pop3s_port, timeout=30,
                        context=client_tls_context())
    try:
        caps = p.capa()
        assert "USER" in caps and "STLS" not in caps
        p.user(mailsys.user)
        p.pass_(mailsys.password)
        assert p.stat()[0] == 1
        with pytest.raises(poplib.error_proto, match="Already logged in"):
            p.user(mailsys.user)
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()


def test_apop_and_rpop_refused(mailsys):
    p = connect(mailsys)
    try:
        p.stls(context=client_tls_context())
        # No timestamp in the greeting: poplib itself declines APOP...
        with pytest.raises(poplib.error_proto, match="APOP not supported"):
            p.apop(mailsys.user, mailsys.password)
        # ...and the server refuses it when sent anyway.
        with pytest.raises(poplib.error_proto, match=r"\[AUTH\] APOP is not supported"):
            p._shortcmd(f"APOP {mailsys.user} c4c9334bac560ecc979e58001b3e22fb")
        # RPOP (RFC 1081) does not exist here.
        with pytest.raises(poplib.error_proto, match="Unknown command"):
            p.rpop(mailsys.user)
        # The session is still usable.
        p.user(mailsys.user)
        assert p.pass_(mailsys.password) == b"+OK Logged in."
        assert p.quit().startswith(b"+OK")
    finally:
        p.close()


def test_wrong_state_and_errors_raise(mailsys):
    p = connect(mailsys)
    try:
        with pytest.raises(poplib.error_proto, match="Log in first"):
            p.stat()
        with pytest.raises(poplib.error_proto, match="Log in first"):
            p.list()
        p.stls(context=client_tls_context())
        with pytest.raises(poplib.error_proto, match="No username given"):
            p.pass_(mailsys.password)
        p.user(mailsys.user)
        p.pass_(mailsys.password)
        assert p.stat() == (0, 0)
        with pytest.raises(poplib.error_proto, match="No such message"):
            p.top(1, 0)
        assert p.quit() == b"+OK Logging out, 0 messages deleted."
    finally:
        p.close()
