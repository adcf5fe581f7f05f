"""msmtp (a sendmail replacement many self-hosters use for cron and scripts) against
the real daemon, over STARTTLS and implicit TLS, with certificate checks off (the test
certificate is self-signed). msmtp reads the message with LF line ends on stdin and
sends CRLF, dot-stuffed; `domain` sets its EHLO name so it looks nothing up.
"""
import pytest

from conftest import strip_trace, RCPT
from clientutil import delivered, msmtp_conf, received_protocol, run_msmtp

MESSAGE = ("From: Sender <sender@example.net>\n"
           "To: Alice <alice@example.test>\n"
           "Subject: from msmtp\n"
           "Date: Sat, 01 Mar 2025 10:00:00 +0000\n"
           "Message-ID: <msmtp-1@example.net>\n"
           "Content-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: 8bit\n"
           "\n"
           "Hallo Alice,\n"
           ".a line starting with a dot\n"
           ".\n"
           "Grüße ✓\n").encode()


def account(tmp_path, port, starttls):
    """msmtp's config: no AUTH, no certificate check (the test certificate is
    self-signed)."""
    return msmtp_conf(tmp_path, port, starttls, "from sender@example.net", "auth off",
                      "tls_certcheck off")


def expected():
    return MESSAGE.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "implicit-tls"])
def test_msmtp(server, tmp_path, starttls):
    conf = account(tmp_path, server.port if starttls else server.tls_port, starttls)
    run_msmtp(conf, RCPT, MESSAGE)
    (got,) = delivered(server)
    assert strip_trace(got) == expected()
    assert received_protocol(got) == "ESMTPS"
    assert got.startswith(b"Return-Path: <sender@example.net>\r\n"
                          b"Received: from client.example.net ([127.0.0.1])")


def test_msmtp_makes_no_dns_lookup(server, tmp_path):
    conf = account(tmp_path, server.port, True)
    run_msmtp(conf, RCPT, MESSAGE, trace=tmp_path / "trace")
    (got,) = delivered(server)
    assert strip_trace(got) == expected()
