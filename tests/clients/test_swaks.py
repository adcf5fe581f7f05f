"""swaks against the real daemon: plain, pipelined, STARTTLS, implicit TLS, an 8-bit
body, dot-stuffing, and a 5 MB attachment. Each checks the delivered file byte for
byte (swaks sends the --data text, CRLF line ends, then CRLF "." CRLF).

swaks runs with --server 127.0.0.1:PORT, --helo and --from, and with a Perl shim
(perl/LetterboxNoDNS.pm) because it looks up its own host name with gethostbyname()
whatever the options say; test_swaks_makes_no_dns_lookup proves nothing is looked up.
"""
import email
import email.policy
import os
import subprocess

import pytest

from conftest import strip_trace, RCPT
from clientutil import HERE, delivered, need, received_protocol, run_without_dns

HEADERS = (b"From: Sender <sender@example.net>\r\n"
           b"To: Alice <alice@example.test>\r\n"
           b"Subject: from swaks\r\n"
           b"Date: Sat, 01 Mar 2025 10:00:00 +0000\r\n"
           b"Message-ID: <swaks-1@example.net>\r\n"
           b"X-Custom:  kept   as is\r\n"
           b"\r\n")


def swaks_argv(port, *extra):
    return ["perl", "-I", os.path.join(HERE, "perl"), "-MLetterboxNoDNS", need("swaks"),
            "--server", f"127.0.0.1:{port}", "--helo", "client.example.net",
            "--from", "sender@example.net", "--to", RCPT, *extra]


def swaks(port, tmp_path, data, *extra):
    """Send data (bytes, CRLF, no final newline) with swaks; return its transcript."""
    f = tmp_path / "data.eml"
    f.write_bytes(data)
    r = subprocess.run(swaks_argv(port, "--data", f"@{f}", *extra), capture_output=True,
                       timeout=60)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out + r.stderr.decode("utf-8", "replace")
    assert "<-  250 2.0.0 Ok" in out or "<~  250 2.0.0 Ok" in out, out
    return out


def test_plain(server, tmp_path):
    data = HEADERS + b"Hello Alice,\r\n\r\nthree lines\r\nof body"
    swaks(server.port, tmp_path, data)
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"
    assert got.startswith(b"Return-Path: <sender@example.net>\r\n"
                          b"Received: from client.example.net ([127.0.0.1])")
    assert received_protocol(got) == "ESMTP"


def test_pipelining(server, tmp_path):
    data = HEADERS + b"pipelined"
    out = swaks(server.port, tmp_path, data, "--pipeline")
    # swaks really pipelined: MAIL, RCPT and DATA went out before their replies.
    assert out.index(" -> DATA") < out.index("<-  250 2.1.0")
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"


def test_starttls(server, tmp_path):
    data = HEADERS + b"over STARTTLS"
    out = swaks(server.port, tmp_path, data, "--tls")
    assert "STARTTLS" in out and "TLS started" in out, out
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"
    assert received_protocol(got) == "ESMTPS"


def test_implicit_tls(server, tmp_path):
    data = HEADERS + b"over implicit TLS"
    out = swaks(server.tls_port, tmp_path, data, "--tls-on-connect")
    assert "TLS started" in out, out
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"
    assert received_protocol(got) == "ESMTPS"


def test_8bit_body(server, tmp_path):
    body = ("Grüße aus Köln — 日本語のテキスト — ½ € ✓\r\n").encode() + \
        bytes(range(0x80, 0x100)) + b"\r\nlatin-1 \xe9t\xe9"
    data = HEADERS.replace(b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=utf-8\r\n"
                           b"Content-Transfer-Encoding: 8bit\r\n\r\n") + body
    swaks(server.port, tmp_path, data)
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"


def test_dot_stuffing(server, tmp_path):
    body = (b".a line starting with a dot\r\n"
            b"..two dots\r\n"
            b".\r\n"                 # a line that is only a dot (not the end)
            b" .space dot\r\n"
            b"...\r\n"
            b"end")
    data = HEADERS + body
    out = swaks(server.port, tmp_path, data)
    assert " -> ..a line starting with a dot" in out   # swaks stuffed it on the wire
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"


def test_5mb_attachment(server, tmp_path):
    blob = os.urandom(5 * 1024 * 1024)
    att = tmp_path / "blob.bin"
    att.write_bytes(blob)
    r = subprocess.run(swaks_argv(server.port, "--header", "Subject: big attachment",
                                  "--attach", f"@{att}", "--body", "see attached",
                                  "--suppress-data"),
                       capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, out + r.stderr.decode("utf-8", "replace")
    (got,) = delivered(server)
    assert len(got) > 5 * 1024 * 1024 * 4 // 3
    msg = email.message_from_bytes(strip_trace(got), policy=email.policy.default)
    assert msg["Subject"] == "big attachment"
    parts = [p for p in msg.walk() if not p.is_multipart()]
    bodies = [p.get_payload(decode=True) for p in parts]
    assert blob in bodies, "the attachment did not arrive intact"
    assert any(b.strip() == b"see attached" for b in bodies)
    # Every line arrived with CRLF and none was cut (base64 lines are short).
    assert b"\n" not in got.replace(b"\r\n", b"")


def test_swaks_makes_no_dns_lookup(server, tmp_path):
    data = HEADERS + b"no DNS"
    f = tmp_path / "data.eml"
    f.write_bytes(data)
    r = run_without_dns(swaks_argv(server.port, "--data", f"@{f}"), tmp_path / "trace",
                        capture_output=True, timeout=60)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    (got,) = delivered(server)
    assert strip_trace(got) == data + b"\r\n"
