"""Abuse (issue 6): NUL and random bytes, other protocols' bytes (a TLS ClientHello
on a plaintext port, HTTP requests) and STARTTLS command injection on submission,
against the SMTP (25), submission (587) and POP3 (110) ports.

Whatever arrives, every line that comes back is a well-formed reply of the port's
protocol, the daemon stays up and serves the next client, and no session dies of a
signal or a sanitizer report (the fixtures' assert_log_clean).

Cross-protocol requests: an HTTP verb (CONNECT, GET, POST) or a header field name
("Host:") as an SMTP command ends the session at once with 221 2.7.0, as Postfix's
smtpd_forbidden_commands and is_header() do, so an HTML form POSTed to port 25
cannot have its body run as SMTP commands (lib/cmdtab.c, smtpd/commands.c). POP3 does
the same with "-ERR Not a POP3 command", so a form's USER/PASS lines never reach a
login (pop3d/commands.c).

The map of the whole abuse list to its tests is in tests/abuse/test_flood.py.
"""
import random
import re
import ssl

import pytest

from abuse_util import OWNER_ADDR, b64, submission
from conftest import Client, Pop3, client_tls_context, greet, message, send_mail

SMTP_REPLY = re.compile(rb"^[2-5][0-9][0-9]([ -][\x20-\x7e]*)?$")
POP3_REPLY = re.compile(rb"^(\+OK|-ERR)( [\x20-\x7e]*)?$")


def client_hello():
    """The bytes a real TLS client sends first (OpenSSL through Python's ssl)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_tls_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[:1] == b"\x16"             # a handshake record
    return hello


def random_junk(seed):
    """Eight chunks of seeded garbage: plain random bytes, runs of NUL or 0xff, with
    and without line ends."""
    rnd = random.Random(seed)
    out = []
    for _ in range(8):
        n = rnd.choice([1, 5, 100, 999, 1000, 1001, 3000, 70000])
        kind = rnd.choice(["random", "nul", "ff", "crlf"])
        if kind == "nul":
            chunk = b"\x00" * n
        elif kind == "ff":
            chunk = b"\xff" * n
        else:
            chunk = rnd.randbytes(n)
            if kind == "crlf":
                chunk = chunk.replace(b"\n", b"\r\n")
        out.append(chunk)
    return out


class Reset(list):
    """The lines read before the server reset the connection (it closed with our
    input unread, so the kernel may have dropped its last reply on our side)."""


def all_lines_until_close(conn):
    """Every line the server sends until it closes: a list, or a Reset if it ended
    with a reset. A partial last line is kept, for the format check to see."""
    lines = []
    while True:
        try:
            lines.append(conn.line())
        except (ConnectionResetError, BrokenPipeError):
            return Reset(lines + ([conn.buf] if conn.buf else []))
        except ssl.SSLError:
            return Reset(lines + ([conn.buf] if conn.buf else []))
        except ConnectionError:           # conftest.Closed: an orderly close
            return lines + ([conn.buf] if conn.buf else [])


def joined(before, got):
    """before + got, still a Reset if got is one."""
    return Reset(before + got) if isinstance(got, Reset) else before + got


def assert_smtp_replies(lines):
    # A reset may have dropped every reply on our side (input unread at the close).
    assert lines or isinstance(lines, Reset), "no reply at all"
    for line in lines:
        assert SMTP_REPLY.match(line), lines
    return [int(line[:3]) for line in lines if line[3:4] != b"-"]


def assert_pop3_replies(lines):
    assert lines or isinstance(lines, Reset), "no reply at all"
    for line in lines:
        assert POP3_REPLY.match(line), lines


def spray(conn, chunks, end):
    """Send chunks, then end; a server that closes mid-way is fine. True if a send
    failed: only a reset from the server makes one fail (after its orderly close the
    first send still goes), and the kernel reports a reset once, so the reads after it
    see an orderly end while the replies the reset dropped (the 421, say) are lost all
    the same. Over TLS the failure comes as an SSLError, also an OSError."""
    for chunk in list(chunks) + [end]:
        try:
            conn.send(chunk)
        except OSError:
            return True
    return False


def smtp_served(port, implicit_tls=False):
    c = Client(port, implicit_tls=implicit_tls)
    try:
        greet(c)
        code, text = send_mail(c, message("served after garbage"))
        assert code == 250, text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()


def submission_served(ms, pw):
    c = submission(ms)
    try:
        assert c.cmd("AUTH LOGIN")[0] == 334
        assert c.cmd(b64(ms.user))[0] == 334
        assert c.cmd(b64(pw))[0] == 235
        code, text = send_mail(c, message("submitted after garbage"),
                               mail_from=f"<{OWNER_ADDR}>", rcpt=f"<{OWNER_ADDR}>")
        assert code == 250, text
    finally:
        c.close()


def pop3_served(ms):
    c = Pop3(ms.pop3_port)
    try:
        c.stls()
        assert c.login(ms.user, ms.password) == "+OK Logged in."
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()


SEEDS = range(5)


@pytest.fixture(scope="module")
def hello():
    return client_hello()


def junk_cases(hello_bytes):
    return {f"seed{seed}": random_junk(seed) for seed in SEEDS} | {
        "nul": [b"\x00" * 5000, b"\x00\r\n" * 50],
        "ff": [b"\xff" * 5000, b"\xff\r\n" * 50],
        "tls-clienthello": [hello_bytes],
        "telnet": [b"\xff\xfb\x01\xff\xfd\x03"],
    }


def test_smtp_and_submission_garbage(make_mailsys, hello):
    """Every junk case on port 25, on 587 before STARTTLS and on 587 inside TLS: only
    well-formed replies, the last a 221 (our QUIT) or a 421 (too many bad commands),
    and a normal client is served after each."""
    ms = make_mailsys()
    pw = ms.add_app_password("after-garbage")
    for name, chunks in junk_cases(hello).items():
        for where in ("25", "587", "587-tls"):
            port = ms.smtp_port if where == "25" else ms.sub_port
            c = Client(port)
            try:
                if where == "587-tls":
                    greet(c)
                    assert c.cmd("STARTTLS")[0] == 220
                    c.starttls()
                lines = [] if where == "587-tls" else [c.line()]
                was_reset = spray(c, chunks, b"\r\nQUIT\r\n")
                lines = joined(lines, all_lines_until_close(c))
                if was_reset and not isinstance(lines, Reset):
                    lines = Reset(lines)
                if where == "587-tls" and not lines:
                    # Inside TLS a reset shows as an EOF without close_notify (the
                    # ssl module's suppress_ragged_eofs), with the replies lost.
                    lines = Reset(lines)
                reset = isinstance(lines, Reset)
            finally:
                c.close()
            finals = assert_smtp_replies(lines)
            # Our QUIT's 221, or 421 after too many bad commands (a reset may have
            # dropped that last line on our side).
            assert reset or finals[-1] in (221, 421), (name, where, lines)
            assert ms.smtpd.poll() is None, (name, where)
        smtp_served(ms.smtp_port)
    submission_served(ms, pw)
    # Garbage never reached the auth process as a login.
    assert "auth result=ok" in ms.read_log("smtpd")
    assert "auth result=fail" not in ms.read_log("smtpd")


def test_pop3_garbage(make_mailsys, hello):
    ms = make_mailsys()
    for name, chunks in junk_cases(hello).items():
        for tls in (False, True):
            c = Pop3(ms.pop3_port)
            try:
                lines = [c.greeting]
                if tls:
                    c.stls()
                    lines.append(b"+OK")
                was_reset = spray(c, chunks, b"\r\nQUIT\r\n")
                lines = joined(lines, all_lines_until_close(c))
                if was_reset and not isinstance(lines, Reset):
                    lines = Reset(lines)
            finally:
                c.close()
            assert_pop3_replies(lines)
            assert ms.pop3d.poll() is None, name
        pop3_served(ms)
    assert "auth result=fail" not in ms.read_log("pop3d")


# -------------------------------------------------------------- other protocols

HTTP_GET = b"GET / HTTP/1.1\r\nHost: mx.example.test\r\nUser-Agent: abuse\r\n\r\n"
SMTP_IN_FORM = (b"EHLO attacker.example\r\nMAIL FROM:<attacker@example.net>\r\n"
                b"RCPT TO:<alice@example.test>\r\nDATA\r\nSubject: via a browser\r\n"
                b"\r\nspam\r\n.\r\nQUIT\r\n")
HTTP_POST = (b"POST /form HTTP/1.1\r\nHost: mx.example.test:25\r\n"
             b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
             % len(SMTP_IN_FORM)) + SMTP_IN_FORM


@pytest.mark.parametrize("request_bytes", [
    HTTP_GET, HTTP_POST, b"CONNECT mx.example.test:25 HTTP/1.1\r\n\r\n",
    b"get / HTTP/1.0\r\n\r\n", b"Host: mx.example.test\r\n" + SMTP_IN_FORM,
], ids=["GET", "POST", "CONNECT", "get", "header"])
def test_http_request_ends_the_session(server, connect, request_bytes):
    """The first line of another protocol gets 221 2.7.0 and the close: nothing
    after it is read, so the form's MAIL/RCPT/DATA deliver nothing."""
    c = connect(server.port)
    assert c.reply()[0] == 220
    c.send(request_bytes)
    lines = all_lines_until_close(c)
    assert len(lines) == 1, lines
    assert lines[0].startswith(b"221 2.7.0 "), lines
    assert server.messages("new") == []
    assert "non-SMTP command" in server.read_log()
    smtp_served(server.port)


def test_http_after_ehlo_and_on_submission(mailsys, connect):
    """Mid-session and on the submission port as well."""
    for port in (mailsys.smtp_port, mailsys.sub_port):
        c = connect(port)
        greet(c)
        c.send(HTTP_POST)
        lines = all_lines_until_close(c)
        assert [line[:10] for line in lines] == [b"221 2.7.0 "], lines
    assert mailsys.messages("new") == []


def test_smtp_words_that_look_like_http_are_still_commands(server, connect):
    """Only the exact verbs and field names: a verb that merely starts like one is an
    ordinary unknown command, and an argument ending in ":" is no field name."""
    c = connect(server.port)
    greet(c)
    assert c.cmd("GETX /")[0] == 500
    assert c.cmd("POSTMASTER")[0] == 500
    assert c.cmd(":")[0] == 500
    assert c.cmd("MAIL FROM:")[0] == 501
    assert c.cmd("VRFY Host:")[0] == 252
    # A field name is one, whatever its name.
    code, text = c.cmd("GET: x")
    assert (code, text[0][:5]) == (221, "2.7.0"), text
    assert c.closed()


POP3_IN_FORM = b"USER alice\r\nPASS guess\r\nSTAT\r\nQUIT\r\n"


@pytest.mark.parametrize("request_bytes", [
    b"GET / HTTP/1.1\r\nHost: mail.example.test:110\r\n\r\n",
    (b"POST /form HTTP/1.1\r\nHost: mail.example.test:110\r\nContent-Length: %d\r\n\r\n"
     % len(POP3_IN_FORM)) + POP3_IN_FORM,
    b"CONNECT mail.example.test:110 HTTP/1.1\r\n\r\n",
    b"Host: mail.example.test\r\n" + POP3_IN_FORM,
], ids=["GET", "POST", "CONNECT", "header"])
def test_http_request_ends_a_pop3_session(make_mailsys, request_bytes):
    """On POP3 too, the first line of another protocol gets one -ERR and the close, in
    the clear and inside STLS: the form's USER/PASS never reach a login."""
    ms = make_mailsys()
    for tls in (False, True):
        c = Pop3(ms.pop3_port)
        try:
            if tls:
                c.stls()
            c.send(request_bytes)
            lines = all_lines_until_close(c)
        finally:
            c.close()
        assert lines == [b"-ERR Not a POP3 command, closing connection."], (tls, lines)
    assert ms.read_log("pop3d").count("closing: non-POP3 command") == 2
    assert "auth result=" not in ms.read_log("pop3d")
    pop3_served(ms)


def test_pop3_words_that_look_like_http_are_still_commands(mailsys):
    """Only the exact verbs and field names, as on SMTP."""
    c = Pop3(mailsys.pop3_port)
    try:
        for cmd in ("GETX /", "POSTMASTER", ":", "NOOP:x"):
            assert c.cmd(cmd) == "-ERR Unknown command.", cmd
        assert c.cmd("CAPA").startswith("+OK")
    finally:
        c.close()


# -------------------------------------------------------------- STARTTLS injection

def test_starttls_injection_on_submission(mailsys, connect):
    """Port 25's case is tests/proto/test_starttls.py; on 587 the injected command
    would carry credentials: refused before any TLS, never sent to the auth process."""
    cred = b64(f"\0{mailsys.user}\0{mailsys.password}")
    c = connect(mailsys.sub_port)
    greet(c)
    c.send(f"STARTTLS\r\nAUTH PLAIN {cred}\r\n".encode())
    lines = all_lines_until_close(c)
    assert [line[:3] for line in lines] == [b"554"], lines
    assert "auth result=" not in mailsys.read_log("smtpd")
