"""msmtp (the sendmail replacement many self-hosters use for cron and scripts) sending
through submission: port 587 with STARTTLS and port 465 with implicit TLS, AUTH LOGIN
and AUTH PLAIN with an app password, the server's certificate checked against the test
certificate (tls_trust_file). The message goes to a remote recipient, so it travels on
through the queue to a receiving server (sink.py) found through dnsmasq's MX record.

msmtp reads the message with LF line ends on stdin and sends CRLF, dot-stuffed; the
host is an IP literal and `domain` sets its EHLO name, so it looks nothing up.
"""
import os
import shutil

import pytest

from clients.clientutil import msmtp_conf, run_msmtp
from conftest import wait_for

OWNER_ADDR = "alice@example.test"
REMOTE = "bob@remote.example.org"
MSMTP = shutil.which("msmtp")

MESSAGE = (f"From: Alice <{OWNER_ADDR}>\n"
           f"To: Bob <{REMOTE}>\n"
           "Subject: from msmtp\n"
           "Date: Sat, 01 Mar 2025 10:00:00 +0000\n"
           "Message-ID: <msmtp-submission-1@example.test>\n"
           "Content-Type: text/plain; charset=utf-8\n"
           "Content-Transfer-Encoding: 8bit\n"
           "\n"
           "Hallo Bob,\n"
           ".a line starting with a dot\n"
           ".\n"
           "Grüße ✓\n").encode()


@pytest.mark.skipif(MSMTP is None,
                    reason="msmtp is not installed (scripts/install-deps.sh)")
@pytest.mark.parametrize("port_kind,auth", [("587", "login"), ("587", "plain"),
                                            ("465", "login"), ("465", "plain")],
                         ids=["starttls-login", "starttls-plain", "implicit-login",
                              "implicit-plain"])
def test_msmtp_submission_to_remote(make_mailsys, dns_server, sink, tls_files, tmp_path,
                                    port_kind, auth):
    s = sink()
    dns = dns_server(mx=[("remote.example.org", "mx.remote.example.org", 10)],
                     a=[("mx.remote.example.org", "127.0.0.1")])
    m = make_mailsys(dns_resolver=dns, mx_port=s.port, retry_initial="1s",
                     retry_max="2s", delay_warning="0")
    pw = m.add_app_password("msmtp")
    starttls = port_kind == "587"
    conf = msmtp_conf(tmp_path, m.sub_port if starttls else m.subs_port, starttls,
                      f"from {OWNER_ADDR}", f"auth {auth}", f"user {OWNER_ADDR}",
                      f"password {pw}", f"tls_trust_file {tls_files[0]}")
    run_msmtp(conf, REMOTE, MESSAGE)
    ((info, data),) = s.wait_messages(1)
    assert info["mail_from"] == OWNER_ADDR
    assert info["rcpt_tos"] == [REMOTE]
    # Our Received: says how it came in, then the message exactly as msmtp sent it.
    first, rest = data.split(b"\r\n", 1)
    assert first == b"Received: from client.example.net ([127.0.0.1])"
    assert rest.startswith(b"\tby mx.example.test (Letterbox) with ESMTPSA (TLS")
    assert data.endswith(MESSAGE.replace(b"\n", b"\r\n"))
    wait_for(lambda: os.listdir(os.path.join(m.state_dir, "queue", "msg")) == [],
             what="queue empty")
    smtpd_log = m.read_log("smtpd")
    assert f'mech={auth.upper()}' in smtpd_log
    assert 'via="app:msmtp"' in smtpd_log
    assert pw not in smtpd_log
    assert m.messages("new") == []      # no bounce
