"""msmtp (a sendmail replacement many self-hosters use for cron and scripts) against
the real daemon, over STARTTLS and implicit TLS, with certificate checks off (the test
certificate is self-signed). msmtp reads the message with LF line ends on stdin and
sends CRLF, dot-stuffed; `domain` sets its EHLO name so it looks nothing up.
"""
import os
import subprocess

import pytest

from conftest import strip_trace, RCPT
from clientutil import delivered, need, received_protocol, run_without_dns

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


def msmtp_conf(tmp_path, port, starttls):
    conf = tmp_path / "msmtprc"
    conf.write_text(f"""defaults
syslog off
logfile {tmp_path / 'msmtp.log'}

account test
host 127.0.0.1
port {port}
domain client.example.net
from sender@example.net
auth off
tls on
tls_starttls {'on' if starttls else 'off'}
tls_certcheck off
""")
    os.chmod(conf, 0o600)       # msmtp refuses a config others can read
    return conf


def msmtp_argv(conf):
    return [need("msmtp"), "-C", str(conf), "-a", "test", RCPT]


def run_msmtp(conf, tmp_path, traced=False):
    argv = msmtp_argv(conf)
    kw = dict(input=MESSAGE, capture_output=True, timeout=60)
    r = run_without_dns(argv, tmp_path / "trace", **kw) if traced else \
        subprocess.run(argv, **kw)
    log = tmp_path / "msmtp.log"
    assert r.returncode == 0, (r.stdout.decode() + r.stderr.decode() +
                               (log.read_text() if log.exists() else ""))
    return r


def expected():
    return MESSAGE.replace(b"\n", b"\r\n")


@pytest.mark.parametrize("starttls", [True, False], ids=["starttls", "implicit-tls"])
def test_msmtp(server, tmp_path, starttls):
    conf = msmtp_conf(tmp_path, server.port if starttls else server.tls_port, starttls)
    run_msmtp(conf, tmp_path)
    (got,) = delivered(server)
    assert strip_trace(got) == expected()
    assert received_protocol(got) == "ESMTPS"
    assert got.startswith(b"Return-Path: <sender@example.net>\r\n"
                          b"Received: from client.example.net ([127.0.0.1])")


def test_msmtp_makes_no_dns_lookup(server, tmp_path):
    conf = msmtp_conf(tmp_path, server.port, True)
    run_msmtp(conf, tmp_path, traced=True)
    (got,) = delivered(server)
    assert strip_trace(got) == expected()
