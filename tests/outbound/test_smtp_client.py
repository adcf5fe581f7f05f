"""relay/smtp_client.c against real SMTP servers on 127.0.0.1, through
tests/outbound/smtpsend.c (one connection, one or two transactions, every reply
printed).

- aiosmtpd (python3-aiosmtpd), run by its Controller in a thread of this process: plain
  delivery, RCPT 550 beside 250, 451 at the end of data, STARTTLS then AUTH LOGIN with
  the certificate verified (and refused under a wrong name or an unknown CA), AUTH
  PLAIN, implicit TLS, dot-stuffing, BODY=8BITMIME, SMTPUTF8, PIPELINING with 100
  recipients, a reused connection, and a 35 MB message with the client's memory
  measured.
- Scripted servers (a thread that speaks raw SMTP from a script) for what a friendly
  server never does: proof that a pipelined group is one write, MAIL or every RCPT
  refused, EHLO refused, a 554 greeting, bad, overlong or missing replies, plaintext
  injected after STARTTLS, a connection dropped mid-transaction, bare LF in the file.
- letterbox-smtpd itself (tests/conftest.py's make_server): STARTTLS, verified, to the
  owner's Maildir.
"""
import base64
import hashlib
import os
import select
import socket
import ssl
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from conftest import (BUILD, RCPT, TOP, Closed, LineConn, free_port, made_by,
                      strip_trace, wait_for)

SMTPSEND = os.path.join(TOP, BUILD, "tests", "smtpsend")
USER, PASSWORD = "relayuser", "s3cret-Pa55word"
ASAN = BUILD == "build/asan"


@pytest.fixture(scope="session")
def smtpsend():
    """tests/outbound/smtpsend.c's binary, built (or brought up to date) by make."""
    argv = ["make", "-s", "-C", TOP]
    if ASAN:
        argv.append("SANITIZE=address,undefined")
    subprocess.run(argv + [os.path.join(BUILD, "tests", "smtpsend")], check=True)
    return SMTPSEND


class Result:
    """smtpsend's output, parsed."""

    def __init__(self, proc, out, err):
        self.proc, self.out, self.err = proc, out, err
        self.open = None
        self.tls = None
        self.caps = {}
        self.rounds = []        # [{"rcpt": {addr: (code, enh, text)}, "msg": ..., "send": rc}]
        self.rset = []
        cur = None
        for line in out.splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "open":
                self.open = _reply(rest)
            elif kind == "tls":
                self.tls = rest
            elif kind == "caps":
                self.caps = {k: v == "1" for k, v in (w.split("=") for w in rest.split())}
            elif kind == "rcpt":
                if cur is None:
                    cur = {"rcpt": {}}
                    self.rounds.append(cur)
                addr, _, r = rest.partition(" ")
                cur["rcpt"][addr] = _reply(r)
            elif kind == "msg":
                cur["msg"] = _reply(rest)
            elif kind == "send":
                cur["send"] = int(rest)
                cur = None
            elif kind == "rset":
                self.rset.append(int(rest))
            elif kind == "vmhwm_kb":
                self.vmhwm_kb = int(rest)

    @property
    def rcpt(self):
        return self.rounds[0]["rcpt"]

    @property
    def msg(self):
        return self.rounds[0]["msg"]

    @property
    def send(self):
        return self.rounds[0]["send"]


def _reply(s):
    code, enh, text = (s.split(" ", 2) + ["", ""])[:3]
    return int(code), "" if enh == "-" else enh, text


@pytest.fixture
def send(smtpsend, tmp_path):
    """send(port, message_bytes, rcpts, *options, sender=..., timeout=60) runs smtpsend
    and returns its Result; -d is always given (the conversation goes to .err).
    measure=True adds -m: the client's peak RSS, in .vmhwm_kb (its own VmHWM: the
    parent's rusage would count this Python process's pages from before the exec)."""
    count = [0]

    def run(port, message, rcpts, *opts, sender="sender@example.net", timeout=60,
            measure=False):
        count[0] += 1
        path = tmp_path / f"msg{count[0]}.eml"
        path.write_bytes(message)
        argv = [smtpsend, "-d", *opts, "127.0.0.1", str(port), sender, str(path), *rcpts]
        if measure:
            argv.insert(1, "-m")
        p = subprocess.run(argv, capture_output=True, timeout=timeout)
        assert p.returncode == 0, p.stderr.decode(errors="replace")
        return Result(p, p.stdout.decode(), p.stderr.decode(errors="replace"))

    return run


# --- aiosmtpd -----------------------------------------------------------------------

class Sink:
    """aiosmtpd handler: keeps every message; refuses the recipients in reject with
    550 5.1.1; answers the end of data with data_reply; adds PIPELINING to EHLO when
    asked (aiosmtpd reads pipelined commands but does not advertise it)."""

    def __init__(self, reject=(), data_reply=None, pipelining=False):
        self.reject = set(reject)
        self.data_reply = data_reply
        self.pipelining = pipelining
        self.messages = []
        self.auth = []

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.reject:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({
            "from": envelope.mail_from,
            "mail_options": list(envelope.mail_options),
            "rcpts": list(envelope.rcpt_tos),
            "content": envelope.original_content,
            "tls": session.ssl is not None,
            "authenticated": session.authenticated,
        })
        return self.data_reply or "250 2.0.0 Ok: queued"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        self.auth.append((mechanism, auth_data.login, auth_data.password))
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        # handled=False: aiosmtpd itself answers a failure (535 5.7.8).
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def server_tls_context(tls_files):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*tls_files)
    return ctx


@pytest.fixture
def aio():
    """aio(handler, **controller_kwargs) -> a running aiosmtpd Controller (.port);
    stopped after the test."""
    def start(handler, **kw):
        for attempt in range(3):
            c = Controller(handler, hostname="127.0.0.1", port=free_port(),
                           server_hostname="mx.aiosmtpd.test", **kw)
            try:
                c.start()
            except Exception:
                if attempt == 2:
                    raise
                continue
            return c
        raise AssertionError("not reached")

    yield from made_by(start, Controller.stop)


MESSAGE = (b"From: <sender@example.net>\r\nTo: <a@example.org>\r\nSubject: relay test\r\n"
           b"Message-ID: <relay-1@example.net>\r\n\r\nHello.\r\n")


def test_plain_delivery(aio, send):
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"])
    assert r.open[0] == 250
    assert r.caps["size"] and r.caps["8bitmime"] and not r.caps["pipelining"]
    assert r.rcpt["a@example.org"][0] == 250
    assert r.msg == (250, "2.0.0", "Ok: queued")
    assert r.send == 0
    (m,) = sink.messages
    assert m["content"] == MESSAGE
    assert m["from"] == "sender@example.net"
    assert m["rcpts"] == ["a@example.org"]
    # aiosmtpd offers SIZE: the size is announced; 7-bit: no BODY=.
    assert f"SIZE={len(MESSAGE)}" in m["mail_options"]
    assert not any(o.startswith("BODY=") for o in m["mail_options"])
    assert not m["tls"]
    assert "> QUIT" in r.err


def test_rcpt_refused_beside_accepted(aio, send):
    sink = Sink(reject={"nobody@example.org"})
    c = aio(sink)
    r = send(c.port, MESSAGE, ["nobody@example.org", "a@example.org"])
    assert r.rcpt["nobody@example.org"] == (550, "5.1.1", "No such user here")
    assert r.rcpt["a@example.org"][0] == 250
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert m["rcpts"] == ["a@example.org"]


def test_all_rcpts_refused_sends_no_message(aio, send):
    sink = Sink(reject={"x@example.org", "y@example.org"})
    c = aio(sink)
    r = send(c.port, MESSAGE, ["x@example.org", "y@example.org"])
    assert [v[0] for v in r.rcpt.values()] == [550, 550]
    assert r.msg[0] == 0 and "no recipient accepted" in r.msg[2]
    assert r.send == 0
    assert "> RSET" in r.err and "> DATA" not in r.err
    assert sink.messages == []


def test_451_at_end_of_data(aio, send):
    sink = Sink(data_reply="451 4.3.0 Try again later")
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"])
    assert r.rcpt["a@example.org"][0] == 250
    assert r.msg == (451, "4.3.0", "Try again later")
    assert r.send == 0


def test_starttls_then_auth_login_verified(aio, send, tls_files):
    """AUTH LOGIN only, and only after STARTTLS; the certificate is checked against
    its own file as the CA, under the name localhost."""
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files), auth_require_tls=True,
            auth_exclude_mechanism=["PLAIN"], authenticator=sink.authenticator)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-c",
             tls_files[0], "-n", "localhost", "-u", USER, "-p", PASSWORD)
    assert r.open[0] == 235, r.err
    assert r.tls and r.tls.startswith("TLSv1.")
    assert r.caps["auth_login"] and not r.caps["auth_plain"]
    assert r.msg[0] == 250
    assert sink.auth == [("LOGIN", USER.encode(), PASSWORD.encode())]
    (m,) = sink.messages
    assert m["tls"] and m["authenticated"]
    assert m["content"] == MESSAGE
    # AUTH was not offered before TLS, so the client went EHLO, STARTTLS, EHLO, AUTH.
    order = [line.split("> ", 1)[1].split()[0] for line in r.err.splitlines()
             if " > " in line]
    assert order[:4] == ["EHLO", "STARTTLS", "EHLO", "AUTH"], order
    assert "verified=yes" in r.err
    # Nothing of the password reaches the log, plain or base64.
    assert PASSWORD not in r.err
    assert base64.b64encode(PASSWORD.encode()).decode() not in r.err
    assert base64.b64encode(USER.encode()).decode() not in r.err


def test_auth_plain_when_offered(aio, send, tls_files):
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files), auth_require_tls=True,
            authenticator=sink.authenticator)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-u", USER,
             "-p", PASSWORD)
    assert r.open[0] == 235, r.err
    assert sink.auth == [("PLAIN", USER.encode(), PASSWORD.encode())]
    assert r.msg[0] == 250
    assert "AUTH PLAIN <hidden>" in r.err
    blob = base64.b64encode(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()).decode()
    assert blob not in r.err


def test_auth_wrong_password(aio, send, tls_files):
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files), auth_require_tls=True,
            auth_exclude_mechanism=["PLAIN"], authenticator=sink.authenticator)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-u", USER,
             "-p", "wrong")
    assert r.open == (535, "5.7.8", "Authentication credentials invalid")
    assert r.rounds == []
    assert sink.messages == []


def test_no_auth_without_tls(aio, send):
    """A server that would take AUTH in plaintext does not get the password."""
    sink = Sink()
    c = aio(sink, auth_require_tls=False, authenticator=sink.authenticator)
    r = send(c.port, MESSAGE, ["a@example.org"], "-u", USER, "-p", PASSWORD)
    assert r.open[0] == 0 and "without TLS" in r.open[2]
    assert sink.auth == []
    assert "> AUTH" not in r.err


def test_verify_wrong_name(aio, send, tls_files):
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files))
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-c",
             tls_files[0], "-n", "mx.wrong.example")
    assert r.open[0] == 0
    assert "certificate verify failed" in r.open[2] and "hostname mismatch" in r.open[2]
    assert sink.messages == []
    # The same with the right name passes: it was the name, not the chain.
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-c",
             tls_files[0], "-n", "localhost")
    assert r.open[0] == 250 and r.msg[0] == 250


def test_verify_unknown_ca(aio, send, tls_files):
    """Without -c the system's trust anchors are used: a self-signed certificate fails."""
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files))
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-n",
             "localhost")
    assert r.open[0] == 0 and "certificate verify failed" in r.open[2], r.open
    assert sink.messages == []


def test_verify_ip_address(aio, send, tls_files):
    """A name that is an IP address is checked against the certificate's IP SAN (and
    not sent as SNI)."""
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files))
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-c",
             tls_files[0], "-n", "127.0.0.1")
    assert r.open[0] == 250 and r.msg[0] == 250
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls", "-v", "-c",
             tls_files[0], "-n", "127.0.0.2")
    assert r.open[0] == 0 and "mismatch" in r.open[2]


def test_opportunistic_uses_tls_without_checking(aio, send, tls_files):
    sink = Sink()
    c = aio(sink, tls_context=server_tls_context(tls_files))
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "opportunistic", "-v")
    assert r.open[0] == 250 and r.tls
    assert "verified=no" in r.err
    (m,) = sink.messages
    assert m["tls"]


def test_opportunistic_without_starttls(aio, send):
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "opportunistic")
    assert r.open[0] == 250 and r.tls is None
    assert r.msg[0] == 250


def test_starttls_required_but_not_offered(aio, send):
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "starttls")
    assert r.open[0] == 0 and "STARTTLS required" in r.open[2]
    assert "> QUIT" in r.err
    assert sink.messages == []


def test_implicit_tls(aio, send, tls_files):
    sink = Sink()
    c = aio(sink, ssl_context=server_tls_context(tls_files))
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "implicit", "-v", "-c",
             tls_files[0], "-n", "localhost")
    assert r.open[0] == 250, r.err
    assert r.tls and not r.caps["starttls"]
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert m["content"] == MESSAGE
    # A plaintext client on a TLS port gets no greeting: a TLS failure, not a hang.


def test_implicit_tls_against_plaintext_server(aio, send):
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"], "-t", "implicit", "-T", "3000")
    assert r.open[0] == 0 and "TLS" in r.open[2], r.open


def test_dot_stuffing(aio, send):
    body = (b"first\r\n.leading dot\r\n..two dots\r\n.\r\n. space\r\nlast .\r\n"
            b".")       # a last line without CRLF, a lone dot at that
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE + body, ["a@example.org"])
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert m["content"] == MESSAGE + body + b"\r\n"


def test_8bitmime(aio, send):
    body = "Grüße aus Köln, ½ € ✓\r\n".encode()
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE + body, ["a@example.org"])
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert "BODY=8BITMIME" in m["mail_options"]
    assert m["content"] == MESSAGE + body


def test_8bit_in_prepend_only(aio, send):
    sink = Sink()
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org"], "-H", "X-Note: caf\u00e9")
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert "BODY=8BITMIME" in m["mail_options"]
    assert m["content"] == "X-Note: caf\u00e9\r\n".encode() + MESSAGE


def test_prepend_and_offset(aio, send):
    """The prepended fields come first; the file is read from the offset on."""
    sink = Sink()
    c = aio(sink)
    junk = b"QUEUE-ENVELOPE-HEADER\n" * 3
    sig = "DKIM-Signature: v=1; a=ed25519-sha256; d=example.net; s=x;\r\n\tb=AAAA"
    r = send(c.port, junk + MESSAGE, ["a@example.org"], "-H", sig, "-o", str(len(junk)))
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert m["content"] == sig.encode() + b"\r\n" + MESSAGE
    assert f"SIZE={len(MESSAGE) + len(sig) + 2}" in m["mail_options"]


def test_smtputf8(aio, send):
    rcpt = "jörg@exämple.org"
    sink = Sink()
    c = aio(sink, enable_SMTPUTF8=False)    # refused here, nothing sent
    r = send(c.port, MESSAGE, [rcpt, "a@example.org"])
    assert r.rcpt[rcpt] == (550, "5.6.7", "server lacks SMTPUTF8")
    assert r.rcpt["a@example.org"] == (550, "5.6.7", "server lacks SMTPUTF8")
    assert r.msg == (550, "5.6.7", "server lacks SMTPUTF8")
    assert r.send == 0 and "> MAIL" not in r.err
    assert sink.messages == []

    sink = Sink()
    c = aio(sink, enable_SMTPUTF8=True)
    r = send(c.port, MESSAGE, [rcpt])
    assert r.caps["smtputf8"]
    assert r.msg[0] == 250, r.err
    (m,) = sink.messages
    assert "SMTPUTF8" in m["mail_options"]
    assert m["rcpts"] == [rcpt]


def test_pipelining_100_recipients(aio, send):
    rcpts = [f"user{i:03d}@example.org" for i in range(100)]
    rejected = set(rcpts[::10])
    sink = Sink(reject=rejected, pipelining=True)
    c = aio(sink)
    r = send(c.port, MESSAGE, rcpts)
    assert r.caps["pipelining"]
    for a in rcpts:
        assert r.rcpt[a][0] == (550 if a in rejected else 250), a
    assert r.msg[0] == 250
    (m,) = sink.messages
    assert m["rcpts"] == [a for a in rcpts if a not in rejected]


def test_reuse_with_rset(aio, send):
    sink = Sink(pipelining=True)
    c = aio(sink)
    r = send(c.port, MESSAGE, ["a@example.org", "b@example.org"], "-2")
    assert len(r.rounds) == 2 and r.rset == [0]
    assert [rd["msg"][0] for rd in r.rounds] == [250, 250]
    assert [rd["send"] for rd in r.rounds] == [0, 0]
    assert len(sink.messages) == 2
    assert r.err.count("relay=127.0.0.1 connected") == 1


def test_large_message_streamed(aio, send):
    """35 MB through the client: it arrives intact and the client never holds it."""
    line = b"x" * 996 + b"\r\n"
    body = line * (35 * 1024 * 1024 // len(line))
    msg = MESSAGE + body
    sink = Sink()
    c = aio(sink, data_size_limit=64 * 1024 * 1024)
    r = send(c.port, msg, ["a@example.org"], "-T", "120000", measure=True, timeout=300)
    assert r.msg[0] == 250, r.msg
    (m,) = sink.messages
    assert len(m["content"]) == len(msg)
    assert hashlib.sha256(m["content"]).digest() == hashlib.sha256(msg).digest()
    assert f"SIZE={len(msg)}" in m["mail_options"]
    if not ASAN:
        assert r.vmhwm_kb < 12 * 1024, r.vmhwm_kb


def test_message_file_unreadable(aio, send, smtpsend, tmp_path):
    """A directory as the message: nothing can be read, nothing is sent, and the
    connection stays in sync."""
    sink = Sink()
    c = aio(sink)
    p = subprocess.run([smtpsend, "-2", "127.0.0.1", str(c.port), "s@example.net",
                        str(tmp_path), "a@example.org"], capture_output=True, text=True,
                       timeout=30)
    r = Result(p, p.stdout, p.stderr)
    assert r.rounds[0]["msg"][0] == 0 and "reading the message" in r.rounds[0]["msg"][2]
    assert r.rounds[0]["send"] == 0 and r.rset == [0]
    assert sink.messages == []


# --- scripted servers ----------------------------------------------------------------

class Peer(LineConn):
    """The server's end of one connection: raw lines in, raw bytes out."""

    def line(self):
        """One line without CRLF (bytes), or None at EOF."""
        try:
            return super().line()
        except Closed:
            return None

    def expect(self, prefix):
        line = self.line()
        assert line is not None and line.startswith(prefix.encode()), (prefix, line)
        return line

    def quiet(self, wait=0.3):
        """True if nothing more arrives within wait seconds."""
        if self.buf:
            return False
        r, _, _ = select.select([self.sock], [], [], wait)
        return not r

    def body(self):
        """The DATA lines up to the lone dot (still stuffed), joined with CRLF."""
        out = []
        while True:
            line = self.line()
            assert line is not None, "EOF inside DATA"
            if line == b".":
                return b"".join(x + b"\r\n" for x in out)
            out.append(line)

    def greet(self, ehlo_lines=()):
        self.send("220 scripted.test ESMTP\r\n")
        self.expect("EHLO ")
        lines = ["scripted.test", *ehlo_lines]
        self.send("".join(f"250{'-' if i < len(lines) - 1 else ' '}{x}\r\n"
                          for i, x in enumerate(lines)))

    def starttls_answer(self, reply):
        """Greet offering STARTTLS, wait for the client's STARTTLS and answer reply."""
        self.greet(["STARTTLS"])
        self.expect("STARTTLS")
        self.send(reply)

    def quit(self):
        self.expect("QUIT")
        self.send("221 bye\r\n")


class Scripted:
    """An SMTP server on 127.0.0.1 whose side of the conversation is script(peer), run
    in a thread: scripts[0] on the first connection, scripts[1] on the next, ...;
    join() re-raises what a script asserted."""

    def __init__(self, *scripts):
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(len(scripts))
        self.port = self.lsock.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self._run, args=(scripts,), daemon=True)
        self.thread.start()

    def _run(self, scripts):
        try:
            self.lsock.settimeout(30)
            for script in scripts:
                conn, _ = self.lsock.accept()
                conn.settimeout(30)
                with conn:
                    script(Peer(conn))
        except BaseException as e:      # noqa: B902 - handed to the test thread
            self.error = e
        finally:
            self.lsock.close()

    def join(self):
        self.thread.join(60)
        assert not self.thread.is_alive(), "script still running"
        if self.error is not None:
            raise self.error


def converse(send, script, message, rcpts, *opts, **kw):
    """send() to a Scripted(script) server; its Result once the script has ended."""
    s = Scripted(script)
    r = send(s.port, message, rcpts, *opts, **kw)
    s.join()
    return r


def test_pipelined_group_is_one_write(send):
    """MAIL, 100 RCPTs and DATA all arrive before the server has said anything."""
    rcpts = [f"r{i}@example.org" for i in range(100)]

    def script(p):
        p.greet(["PIPELINING", "SIZE 1000000"])
        lines = []
        while True:
            line = p.line()
            lines.append(line)
            if line == b"DATA":
                break
        assert lines[0].startswith(b"MAIL FROM:<sender@example.net> SIZE=")
        assert lines[1:-1] == [f"RCPT TO:<{a}>".encode() for a in rcpts]
        assert p.quiet(0.2)
        p.send("250 2.1.0 ok\r\n" + "".join(
            "550 5.1.1 no\r\n" if i == 7 else "250 2.1.5 ok\r\n" for i in range(100)) +
            "354 go ahead\r\n")
        assert p.body() == MESSAGE
        p.send("250 2.0.0 queued as X\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, rcpts, "-T", "3000")
    assert r.rcpt["r7@example.org"] == (550, "5.1.1", "no")
    assert r.rcpt["r8@example.org"] == (250, "2.1.5", "ok")
    assert r.msg == (250, "2.0.0", "queued as X")


def test_without_pipelining_one_command_at_a_time(send):
    def script(p):
        p.greet()
        for expect in ("MAIL FROM:<sender@example.net>", "RCPT TO:<a@example.org>",
                       "RCPT TO:<b@example.org>", "DATA"):
            assert p.line() == expect.encode()
            assert p.quiet(0.2), f"more sent before the reply to {expect}"
            p.send("354 go\r\n" if expect == "DATA" else "250 ok\r\n")
        assert p.body() == MESSAGE
        p.send("250 done\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org", "b@example.org"])
    assert r.msg == (250, "", "done") and r.send == 0


def test_pipelined_no_recipient_accepted(send):
    """Every RCPT refused: DATA's 503 is read, RSET is sent, never the message."""
    def script(p):
        p.greet(["PIPELINING"])
        assert p.expect("MAIL ")
        p.expect("RCPT ")
        p.expect("RCPT ")
        p.expect("DATA")
        p.send("250 ok\r\n550 5.1.1 no\r\n550 5.1.1 no\r\n"
               "554 5.5.1 Error: no valid recipients\r\n")
        p.expect("RSET")
        p.send("250 reset\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org", "b@example.org"])
    assert r.msg == (554, "5.5.1", "Error: no valid recipients")
    assert [v[0] for v in r.rcpt.values()] == [550, 550]
    assert r.send == 0


def test_pipelined_data_354_without_recipients(send):
    """A server that says 354 with no valid recipient gets a lone dot (RFC 2920 3.1)."""
    def script(p):
        p.greet(["PIPELINING"])
        p.expect("MAIL ")
        p.expect("RCPT ")
        p.expect("DATA")
        p.send("250 ok\r\n550 no\r\n354 go\r\n")
        assert p.body() == b""
        p.send("554 no valid recipients\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org"])
    assert r.rcpt["a@example.org"][0] == 550
    assert r.msg[0] == 0 and r.send == 0


def test_mail_refused(send):
    def script(p):
        p.greet(["PIPELINING"])
        p.expect("MAIL ")
        p.expect("RCPT ")
        p.expect("RCPT ")
        p.expect("DATA")
        p.send("552 5.3.4 Message size exceeds fixed limit\r\n"
               "503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n503 5.5.1 need MAIL\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org", "b@example.org"])
    want = (552, "5.3.4", "Message size exceeds fixed limit")
    assert r.msg == want
    assert r.rcpt == {"a@example.org": want, "b@example.org": want}
    assert r.send == 0


def test_helo_fallback(send):
    def script(p):
        p.send("220 old.test\r\n")
        p.expect("EHLO client.example.net")
        p.send("502 5.5.2 what?\r\n")
        p.expect("HELO client.example.net")
        p.send("250 old.test\r\n")
        # No extensions: no SIZE=, no BODY=, one command at a time.
        assert p.line() == b"MAIL FROM:<sender@example.net>"
        p.send("250 ok\r\n")
        p.expect("RCPT ")
        p.send("250 ok\r\n")
        p.expect("DATA")
        p.send("354 go\r\n")
        assert p.body() == MESSAGE + "é\r\n".encode()
        p.send("250 ok\r\n")
        p.quit()

    r = converse(send, script, MESSAGE + "é\r\n".encode(), ["a@example.org"])
    assert r.open == (250, "", "old.test")
    assert r.msg[0] == 250


def test_554_greeting(send):
    def script(p):
        p.send("554 5.7.1 go away\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org"])
    assert r.open == (554, "5.7.1", "go away")
    assert r.rounds == []


@pytest.mark.parametrize("reply,reason", [
    ("250-first\r\n251 second\r\n", "malformed reply"),
    ("25 short\r\n", "malformed reply"),
    ("250 ok\n", "bare LF"),
    ("250-" + "x" * 3000 + "\r\n250 ok\r\n", "longer than"),
    ("".join("250-x\r\n" for _ in range(100)) + "250 last\r\n", "malformed reply"),
])
def test_bad_reply(send, reply, reason):
    def script(p):
        p.send("220 scripted.test\r\n")
        p.expect("EHLO ")
        p.send(reply)
        assert p.line() is None         # no QUIT: the conversation is lost

    r = converse(send, script, MESSAGE, ["a@example.org"])
    assert r.open[0] == 0 and reason in r.open[2], r.open


def test_reply_timeout(send):
    done = threading.Event()

    def script(p):
        p.greet(["PIPELINING"])
        p.expect("MAIL ")
        p.expect("RCPT ")
        p.expect("DATA")
        p.send("250 ok\r\n25")          # half a reply, then silence
        done.wait(20)

    s = Scripted(script)
    t0 = time.monotonic()
    r = send(s.port, MESSAGE, ["a@example.org"], "-T", "1000")
    elapsed = time.monotonic() - t0
    done.set()
    s.join()
    assert r.msg[0] == 0 and "timed out" in r.msg[2]
    assert r.rcpt["a@example.org"][0] == 0
    assert r.send == -1
    assert elapsed < 10


def test_plaintext_injected_after_starttls(send):
    """A reply that arrives with the STARTTLS 220 would be read as if it came inside
    TLS: the client gives up instead (CVE-2011-0411, client side)."""
    def script(p):
        p.starttls_answer("220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n")
        p.line()

    r = converse(send, script, MESSAGE, ["a@example.org"], "-t", "starttls")
    assert r.open[0] == 0 and "after the STARTTLS reply" in r.open[2]


def test_starttls_refused(send):
    def script(p):
        p.starttls_answer("454 4.7.0 TLS not available\r\n")
        p.quit()

    r = converse(send, script, MESSAGE, ["a@example.org"], "-t", "starttls")
    assert r.open == (454, "4.7.0", "TLS not available")


def test_opportunistic_handshake_failure_retries_plaintext(send):
    """RFC 7435: after a failed handshake the opportunistic client comes back without
    STARTTLS on a new connection."""
    def script(p):
        p.starttls_answer("220 go ahead\r\n")
        p.sock.recv(4096)               # the ClientHello
        p.send(b"this is not TLS\r\n")

    def plain(p):
        p.greet(["STARTTLS"])
        p.expect("MAIL ")       # no STARTTLS this time
        p.send("250 ok\r\n")
        p.expect("RCPT ")
        p.send("250 ok\r\n")
        p.expect("DATA")
        p.send("354 go\r\n")
        assert p.body() == MESSAGE
        p.send("250 plain\r\n")
        p.quit()

    s = Scripted(script, plain)
    r = send(s.port, MESSAGE, ["a@example.org"], "-t", "opportunistic")
    s.join()
    assert r.open[0] == 250 and r.tls is None
    assert r.msg == (250, "", "plain")
    assert "trying again without TLS" in r.err


def test_connection_dropped_mid_transaction(send):
    def script(p):
        p.greet()
        p.expect("MAIL ")
        p.send("250 ok\r\n")
        p.expect("RCPT ")
        p.send("550 5.1.1 no\r\n")
        p.expect("RCPT ")
        # gone

    r = converse(send, script, MESSAGE, ["x@example.org", "a@example.org"])
    assert r.rcpt["x@example.org"] == (550, "5.1.1", "no")
    assert r.rcpt["a@example.org"][0] == 0
    assert r.msg[0] == 0 and "closed" in r.msg[2]
    assert r.send == -1


def test_bare_lf_and_cr_become_crlf(send):
    """Whatever the file holds, only CRLF ends a line on the wire: no "." line can be
    smuggled in with a bare LF or CR."""
    raw = b"Subject: x\n\nline1\n.\nline2\r.\rline3\r\n.\r\n"
    want = b"Subject: x\r\n\r\nline1\r\n..\r\nline2\r\n..\r\nline3\r\n..\r\n"

    def script(p):
        p.greet()
        p.expect("MAIL ")
        p.send("250 ok\r\n")
        p.expect("RCPT ")
        p.send("250 ok\r\n")
        p.expect("DATA")
        p.send("354 go\r\n")
        got = b""
        while not got.endswith(b"\r\n.\r\n"):
            got += p.sock.recv(65536) if not p.buf else p.buf
            p.buf = b""
        assert got == want + b".\r\n", got
        p.send("250 ok\r\n")
        p.quit()

    r = converse(send, script, raw, ["a@example.org"])
    assert r.msg[0] == 250


def test_bad_addresses_not_sent(send):
    def script(p):
        p.greet(["PIPELINING"])
        p.expect("MAIL FROM:<>")
        assert p.line() == b"RCPT TO:<ok@example.org>"
        p.expect("DATA")
        p.send("250 ok\r\n250 ok\r\n354 go\r\n")
        p.body()
        p.send("250 ok\r\n")
        p.quit()

    r = converse(send, script, MESSAGE,
                 ["bad>@example.org", "ok@example.org", "x\x7f@y"], sender="")
    assert r.rcpt["bad>@example.org"] == (553, "5.1.3", "invalid recipient address (not sent)")
    assert r.rcpt["ok@example.org"][0] == 250
    assert r.msg[0] == 250


# --- letterbox-smtpd ---------------------------------------------------------------

def test_to_letterbox_smtpd(make_server, send, tls_files):
    """Our own receiver: PIPELINING, STARTTLS verified under localhost, the owner's
    mail delivered byte for byte and an unknown local part refused with 5.1.1."""
    srv = make_server()
    msg = MESSAGE.replace(b"a@example.org", RCPT.encode()) + b".dot line\r\n"
    r = send(srv.port, msg, [RCPT, "nobody@example.test"], "-t", "starttls", "-v",
             "-c", tls_files[0], "-n", "localhost")
    assert r.open[0] == 250, r.err
    assert r.caps["pipelining"] and r.caps["8bitmime"] and r.caps["size"]
    assert r.tls
    assert r.rcpt[RCPT][0] == 250
    assert r.rcpt["nobody@example.test"][:2] == (550, "5.1.1")
    assert r.msg[0] == 250 and r.send == 0
    files = wait_for(lambda: srv.messages("new"), what="the delivered file")
    assert len(files) == 1
    with open(files[0], "rb") as f:
        assert strip_trace(f.read()) == msg
