"""The outbound queue end to end: a message submitted on 465 goes through the queue, the
queue runner and a delivery process to a receiving server (tests/outbound/sink.py),
found through a real DNS server (dnsmasq, outbound/conftest.py) whose MX records point
at 127.0.0.1, with mx_port set to the sink's port. The schedule is shortened (retry
after 1-2 s, give up after a few seconds) so retries and expiry happen within a test.

Covered: delivery at the first attempt; a 451 then a retry, one copy; a recipient
refused with 550 bounced (RFC 3464 report in the owner's Maildir) beside one
delivered; an MX that never answers, retried, then given up and bounced; a smarthost
that wants AUTH LOGIN inside STARTTLS, with its certificate checked (and a wrong CA
refused); delivery processes and the runner killed with -9 mid-transaction (nothing
lost); `letterbox queue list|flush|delete`; DKIM signatures that verify.
"""
import email
import email.policy
import os
import re
import signal
import smtplib
import subprocess
import time

import dkim
import pytest

from conftest import (SMTPD, children, client_tls_context, free_port, process_state,
                      start_daemon, wait_for)

OWNER_ADDR = "alice@example.test"
REMOTE_DOMAIN = "remote.example.org"
BOB = f"bob@{REMOTE_DOMAIN}"
CAROL = f"carol@{REMOTE_DOMAIN}"
MX_HOST = f"mx.{REMOTE_DOMAIN}"
EHLO_NAME = "client.example.net"
SMARTHOST_USER, SMARTHOST_PASS = "relayuser", "Smart-h0st-secret"

# Retries after about 1 s, then 2 s; given up after queue_lifetime; no delay warnings.
FAST = {"retry_initial": "1s", "retry_max": "2s", "queue_lifetime": "1h",
        "delay_warning": "0", "connect_timeout": "3s", "command_timeout": "10s"}


def mx_dns(dns_server, *domains):
    """A dnsmasq answering MX <domain> -> mx.<domain> -> 127.0.0.1."""
    return dns_server(mx=[(d, f"mx.{d}", 10) for d in domains],
                      a=[(f"mx.{d}", "127.0.0.1") for d in domains])


def message(subject, to=BOB, extra=""):
    return (f"From: Alice <{OWNER_ADDR}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Date: Sat, 01 Mar 2025 10:00:00 +0000\r\n"
            f"Message-ID: <{time.time_ns()}@example.test>\r\n{extra}\r\n"
            f"Hello from the queue.\r\n.A line that starts with a dot.\r\n")


def submit(m, rcpts, msg, password=None):
    """Submit msg on 465 as the owner (an app password); returns the queue id."""
    pw = password or m.add_app_password(f"dev{time.time_ns()}")
    before = set(queued_ids_logged(m))
    with smtplib.SMTP_SSL("127.0.0.1", m.subs_port, local_hostname=EHLO_NAME,
                          context=client_tls_context(), timeout=10) as s:
        s.login(OWNER_ADDR, pw)
        assert s.sendmail(OWNER_ADDR, rcpts, msg) == {}
    (qid,) = wait_for(lambda: set(queued_ids_logged(m)) - before, what="queue_id logged")
    return qid


def queued_ids_logged(m):
    return re.findall(r" queued id=\S+ .* queue_id=(\S+)", m.read_log("smtpd"))


def queue_dir(m, sub):
    return os.path.join(m.state_dir, "queue", sub)


def queue_empty(m):
    return os.listdir(queue_dir(m, "msg")) == [] and os.listdir(queue_dir(m, "state")) == []


def state(m, qid):
    """The state file of qid as a dict of its first-word keys (rcpt lines listed), or
    None when there is none (not tried yet, or gone)."""
    try:
        with open(os.path.join(queue_dir(m, "state"), qid)) as f:
            text = f.read()
    except FileNotFoundError:
        return None
    out = {"rcpt": []}
    for line in text.splitlines():
        key, _, rest = line.partition(" ")
        if key == "rcpt":
            out["rcpt"].append(rest)
        else:
            out[key] = rest
    return out


def delivery_lines(m, qid=None, result=None):
    lines = [line for line in m.read_log("smtpd").splitlines()
             if " delivery queue_id=" in line]
    if qid:
        lines = [x for x in lines if f"queue_id={qid} " in x]
    if result:
        lines = [x for x in lines if f" result={result} " in x]
    return lines


def bounces(m):
    """The parsed messages in the owner's Maildir new/ (bounces, here)."""
    out = []
    for path in m.messages("new"):
        with open(path, "rb") as f:
            out.append(email.message_from_bytes(f.read(), policy=email.policy.default))
    return out


def report_blocks(msg):
    """(per-message fields, [per-recipient fields]) of a multipart/report's
    message/delivery-status part (RFC 3464 §2)."""
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    (status,) = [p for p in msg.iter_parts()
                 if p.get_content_type() == "message/delivery-status"]
    blocks = status.get_payload()
    return blocks[0], blocks[1:]


# ---------------------------------------------------------------- (a) first time

def test_delivered_at_first_attempt(make_mailsys, dns_server, sink, tls_files):
    # The sink offers STARTTLS: the MX route takes it (opportunistic, RFC 7435).
    s = sink(tls_files=tls_files)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    msg = message("first attempt")
    qid = submit(m, [BOB], msg)
    ((info, data),) = s.wait_messages(1)
    assert info["mail_from"] == OWNER_ADDR
    assert info["rcpt_tos"] == [BOB]
    assert info["peer"][0] == "127.0.0.1"
    assert info["helo"] == "mx.example.test"
    assert info["tls"] is True
    assert info["auth_user"] is None
    # What left is what was queued: our Received: on top, no Return-Path (that is the
    # final delivery's), the body dot-unstuffed by us and stuffed again on the wire.
    assert data.startswith(b"Received: from " + EHLO_NAME.encode() + b" ([127.0.0.1])")
    assert b"Return-Path:" not in data
    assert data.endswith(msg.encode())
    assert b"DKIM-Signature:" not in data          # no keys: sent unsigned
    wait_for(lambda: queue_empty(m), what="queue empty")
    (line,) = wait_for(lambda: delivery_lines(m, qid), what="delivery logged")
    assert f"to=<{BOB}> relay={MX_HOST} result=sent attempt=1 reply=\"250 2.0.0 " in line
    # Logged once the files are gone: the queue can be seen empty a moment before.
    wait_for(lambda: f"queue_id={qid} removed" in m.read_log("smtpd"), what="removal logged")
    assert m.messages("new") == []                 # no bounce, no warning
    assert s.events() == ["accepted 1"]


# ---------------------------------------------------------------- (b) 451, then retry

def test_tempfail_then_retry_one_copy(make_mailsys, dns_server, sink):
    s = sink(tempfail_first=1)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    qid = submit(m, [BOB], message("retry"))
    s.wait_messages(1)
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert len(s.messages()) == 1
    assert s.events() == ["tempfail", "accepted 1"]
    lines = delivery_lines(m, qid)
    assert len(lines) == 2, lines
    assert " result=deferred attempt=1 reply=\"451 4.3.0 " in lines[0]
    assert " result=sent attempt=2 " in lines[1]
    assert m.messages("new") == []


# ---------------------------------------------------------------- (c) one refused

def test_one_recipient_refused_is_bounced(make_mailsys, dns_server, sink):
    s = sink(reject=[CAROL])
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    msg = message("half refused", to=f"{BOB}, {CAROL}")
    qid = submit(m, [BOB, CAROL], msg)
    ((info, _),) = s.wait_messages(1)
    assert info["rcpt_tos"] == [BOB]
    (bounce,) = wait_for(lambda: bounces(m), what="bounce in the Maildir")
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert bounce["To"].addresses[0].addr_spec == OWNER_ADDR
    assert bounce["Auto-Submitted"] == "auto-replied"
    per_msg, rcpts = report_blocks(bounce)
    assert "mx.example.test" in per_msg["Reporting-MTA"]
    assert len(rcpts) == 1, "only the refused recipient is reported"
    (r,) = rcpts
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Final-Recipient"].split(";")[1].strip() == CAROL
    assert MX_HOST in r["Remote-MTA"]
    assert "550 5.1.1" in r["Diagnostic-Code"]
    # The original's header comes back (text/rfc822-headers or message/rfc822).
    assert "Subject: half refused" in bounce.as_string()
    assert s.events() == [f"rcpt-rejected {CAROL}", "accepted 1"]
    assert len(delivery_lines(m, qid, "sent")) == 1
    assert len(delivery_lines(m, qid, "bounced")) == 1


def test_message_refused_at_data_bounces_every_recipient(make_mailsys, dns_server, sink):
    """554 at the end of data: the message failed for each recipient of the
    transaction; one report lists both."""
    s = sink(reject_data=True)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    qid = submit(m, [BOB, CAROL], message("refused at data", to=f"{BOB}, {CAROL}"))
    (bounce,) = wait_for(lambda: bounces(m), what="bounce in the Maildir")
    wait_for(lambda: queue_empty(m), what="queue empty")
    _, rcpts = report_blocks(bounce)
    assert sorted(r["Final-Recipient"].split(";")[1].strip() for r in rcpts) == \
        sorted([BOB, CAROL])
    for r in rcpts:
        assert r["Action"] == "failed"
        assert r["Status"] == "5.7.1"
        assert "554 5.7.1" in r["Diagnostic-Code"]
    assert s.messages() == [] and s.events() == ["rejected-data"]
    assert len(delivery_lines(m, qid, "bounced")) == 2


# ---------------------------------------------------------------- (d) unreachable

def test_unreachable_retried_then_bounced(make_mailsys, dns_server):
    port = free_port()          # nothing listens there
    lifetime = 6
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=port,
                     **{**FAST, "queue_lifetime": f"{lifetime}s"})
    t0 = time.monotonic()
    qid = submit(m, [BOB], message("nobody home"))
    seen = {"attempts": 0}

    def bounced():
        st = state(m, qid)
        if st is not None:
            seen["attempts"] = max(seen["attempts"], int(st["attempts"]))
            assert st["rcpt"][0].split()[1] == "deferred", st
        return bounces(m)

    (bounce,) = wait_for(bounced, timeout=lifetime + 15, what="the bounce")
    elapsed = time.monotonic() - t0
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert seen["attempts"] >= 2, seen          # retried before giving up
    assert elapsed >= lifetime - 1.5, elapsed   # not before queue_lifetime
    deferred = delivery_lines(m, qid, "deferred")
    assert len(deferred) >= 3, deferred
    assert "expired after" in m.read_log("smtpd")
    _, (r,) = report_blocks(bounce)
    assert r["Action"] == "failed"
    assert r["Status"] == "4.4.7" or r["Status"].startswith("5."), r["Status"]
    assert r["Final-Recipient"].split(";")[1].strip() == BOB
    assert str(port) in r["Diagnostic-Code"] or "connect" in r["Diagnostic-Code"].lower()


def test_delay_warning_once_then_delivered(make_mailsys, dns_server, sink):
    # A server that keeps saying 451: after delay_warning the owner gets one "delayed"
    # report (RFC 3464 Action: delayed, class 4, Will-Retry-Until), not one per retry;
    # the message stays queued and goes out once the server takes it.
    s = sink(tempfail_first=4)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **{**FAST, "delay_warning": "2s"})
    qid = submit(m, [BOB], message("slow server"))
    (warning,) = wait_for(lambda: bounces(m), timeout=20, what="the delay warning")
    assert warning["Subject"] == "Delayed Mail (still being retried)"
    assert warning["To"].addresses[0].addr_spec == OWNER_ADDR
    _, (r,) = report_blocks(warning)
    assert r["Action"] == "delayed"
    assert r["Status"].startswith("4."), r["Status"]
    assert r["Final-Recipient"].split(";")[1].strip() == BOB
    assert r["Will-Retry-Until"]
    assert "451" in r["Diagnostic-Code"]
    ((info, _),) = s.wait_messages(1, timeout=30)
    assert info["rcpt_tos"] == [BOB]
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert len(bounces(m)) == 1, "one warning, and no bounce for a delivered message"
    assert len(delivery_lines(m, qid, "deferred")) == 4
    assert len(delivery_lines(m, qid, "sent")) == 1


# ---------------------------------------------------------------- (e) smarthost

def smarthost_conf(tmp_path, host, port, ca, **extra):
    pwfile = tmp_path / "smarthost.pw"
    pwfile.write_text(SMARTHOST_PASS + "\n")
    os.chmod(pwfile, 0o600)             # root reads it before the privileges go
    return {"smarthost": f"{host}:{port}", "smarthost_tls": "starttls",
            "smarthost_user": SMARTHOST_USER, "smarthost_password_file": str(pwfile),
            "tls_ca_file": ca, **FAST, **extra}


def test_smarthost_auth_login_over_starttls(make_mailsys, dns_server, sink, tls_files,
                                            tmp_path):
    """The smarthost offers AUTH LOGIN only, only after STARTTLS, and refuses MAIL
    without it; its certificate (CN/SAN localhost) is checked against tls_ca_file.
    The remote domain has no MX at all: everything goes to the smarthost."""
    s = sink(require_auth_login=f"{SMARTHOST_USER}:{SMARTHOST_PASS}", tls_files=tls_files)
    dns = dns_server(a=[("localhost", "127.0.0.1")])
    m = make_mailsys(dns_resolver=dns,
                     **smarthost_conf(tmp_path, "localhost", s.port, tls_files[0]))
    qid = submit(m, [BOB, CAROL], message("via smarthost"))
    ((info, data),) = s.wait_messages(1)
    assert info["auth_user"] == SMARTHOST_USER
    assert info["tls"] is True
    assert info["mail_from"] == OWNER_ADDR
    assert info["rcpt_tos"] == [BOB, CAROL]        # one transaction for both
    assert b"Subject: via smarthost" in data
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert s.events() == [f"auth-ok {SMARTHOST_USER}", "accepted 1"]
    lines = delivery_lines(m, qid, "sent")
    assert len(lines) == 2 and all("relay=localhost " in x for x in lines), lines
    assert SMARTHOST_PASS not in m.read_log("smtpd")


def test_smarthost_implicit_tls_ip_literal(make_mailsys, dns_server, sink, tls_files,
                                           tmp_path):
    """smarthost_tls implicit (RFC 8314, port 465 style), named by its IP literal: the
    certificate's IP SAN is what is checked; AUTH LOGIN inside that TLS."""
    s = sink(require_auth_login=f"{SMARTHOST_USER}:{SMARTHOST_PASS}", tls_files=tls_files,
             implicit_tls=True)
    m = make_mailsys(dns_resolver=dns_server(a=[("localhost", "127.0.0.1")]),
                     **smarthost_conf(tmp_path, "127.0.0.1", s.port, tls_files[0],
                                      smarthost_tls="implicit"))
    qid = submit(m, [BOB], message("implicit smarthost"))
    ((info, _),) = s.wait_messages(1)
    assert info["auth_user"] == SMARTHOST_USER and info["tls"] is True
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert len(delivery_lines(m, qid, "sent")) == 1
    assert SMARTHOST_PASS not in m.read_log("smtpd")


def test_smarthost_wrong_ca_is_deferred(make_mailsys, dns_server, sink, tls_files,
                                        tmp_path):
    """smarthost_verify yes (the default) and a CA that did not sign the smarthost's
    certificate: no TLS session, so no password sent and no message; it stays queued."""
    other = tmp_path / "other-ca"
    other.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(other / "key.pem"), "-out", str(other / "cert.pem")],
                   check=True, capture_output=True)
    s = sink(require_auth_login=f"{SMARTHOST_USER}:{SMARTHOST_PASS}", tls_files=tls_files)
    m = make_mailsys(dns_resolver=dns_server(a=[("localhost", "127.0.0.1")]),
                     **smarthost_conf(tmp_path, "127.0.0.1", s.port,
                                      str(other / "cert.pem"), smarthost_verify="yes"))
    qid = submit(m, [BOB], message("wrong CA"))
    # Two attempts (the state file is saved after each), both refused at the TLS
    # handshake.
    st = wait_for(lambda: (lambda x: x if x and int(x["attempts"]) >= 2 else None)(
        state(m, qid)), timeout=15, what="two attempts saved")
    assert st["rcpt"][0].split()[1] == "deferred"
    assert "certificate verify failed" in st["rcpt"][0], st
    lines = delivery_lines(m, qid, "deferred")
    assert len(lines) >= 2 and all("certificate" in x for x in lines), lines
    assert s.messages() == []
    assert not any(e.startswith("auth-") for e in s.events()), s.events()
    assert not queue_empty(m)
    assert m.messages("new") == []                 # no bounce: only deferred
    assert SMARTHOST_PASS not in m.read_log("smtpd")


# ---------------------------------------------------------------- (f) kill -9

def runner_pid(m):
    """The queue runner's PID: the latest "session=queue queue runner:" log line."""
    pids = re.findall(r"letterbox-smtpd\[(\d+)\]: session=queue queue runner:",
                      m.read_log("smtpd"))
    return int(pids[-1]) if pids else None


def live_children(pid):
    return [p for p in children(pid) if process_state(p) not in ("Z", None)]


def held_in_data(m, s):
    """The runner and its delivery process(es) once the sink holds the DATA reply."""
    if "delaying" not in s.events():
        return None
    rp = runner_pid(m)
    kids = live_children(rp) if rp else []
    return (rp, kids) if kids else None


@pytest.mark.parametrize("victim", ["delivery", "runner"])
def test_kill_9_mid_delivery_loses_nothing(make_mailsys, dns_server, sink, victim):
    """kill -9 the delivery process (or the runner, whose delivery process then gets
    SIGKILL from the kernel) while the remote server holds the end-of-data reply. The
    message was not acknowledged to us, so it is sent again: at least once, never
    lost, and the queue ends empty."""
    s = sink(delay_data=2, delay_first=1)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    # smtpd says "ready" before it forks its helpers: the runner's line may come later.
    assert wait_for(lambda: runner_pid(m), what="the queue runner") in children(m.smtpd.pid)
    qid = submit(m, [BOB], message(f"kill {victim}"))
    rp, kids = wait_for(lambda: held_in_data(m, s), what="delivery held in DATA")
    targets = kids if victim == "delivery" else [rp]
    for pid in targets:
        os.kill(pid, signal.SIGKILL)
    for pid in kids:
        wait_for(lambda: process_state(pid) in ("Z", None), what=f"{pid} gone")
    if victim == "runner":
        # The daemon starts a new runner, which finds the message on disk.
        wait_for(lambda: runner_pid(m) not in (None, rp), what="a new runner")
        assert runner_pid(m) in children(m.smtpd.pid)
    wait_for(lambda: queue_empty(m), timeout=20, what="queue empty")
    msgs = s.wait_messages(1)
    assert 1 <= len(msgs) <= 2
    assert all(info["rcpt_tos"] == [BOB] for info, _ in msgs)
    assert len(delivery_lines(m, qid, "sent")) == 1
    assert m.messages("new") == []                 # nothing bounced
    log = m.read_log("smtpd")
    if victim == "delivery":
        assert "delivery process" in log and "died" in log, log
    else:
        assert "queue runner exited" in log, log
    assert m.smtpd.poll() is None


def test_smtpd_killed_then_restarted_delivers(make_mailsys, dns_server, sink):
    """The whole daemon dies (-9) with a message in the queue and a delivery under way;
    its helpers follow (PDEATHSIG). Started again, it delivers from the files."""
    s = sink(delay_data=2, delay_first=1)
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=s.port,
                     **FAST)
    submit(m, [BOB], message("daemon killed"))
    rp, kids = wait_for(lambda: held_in_data(m, s), what="delivery held in DATA")
    helpers = live_children(m.smtpd.pid)
    m.smtpd.kill()
    m.smtpd.wait()
    for pid in helpers + kids:
        wait_for(lambda: process_state(pid) in ("Z", None), what=f"helper {pid} gone")
    assert not queue_empty(m)
    # Started again on the same configuration (and ports), as an init system would.
    old = m.procs[0]
    old[1].close()
    m.smtpd, log = start_daemon(SMTPD, m.conf_path, m.smtpd_log + ".2")
    m.procs[0] = (m.smtpd, log)
    wait_for(lambda: queue_empty(m), timeout=20, what="queue empty after restart")
    msgs = s.wait_messages(1)
    assert 1 <= len(msgs) <= 2
    with open(m.smtpd_log + ".2") as f:
        log2 = f.read()
    assert " result=sent " in log2
    # make_mailsys checks the first log; this one gets the same checks.
    assert "killed by signal" not in log2 and "runtime error" not in log2
    assert "AddressSanitizer" not in log2 and m.password not in log2


# ---------------------------------------------------------------- (g) the CLI

@pytest.fixture
def queue_cli():
    """queue_cli(m, args...): `letterbox -f <m's config> queue args...`, unchecked."""
    def run(m, *args):
        return m.cli("queue", *args, check=False)
    return run


def test_cli_queue_list_delete_flush(make_mailsys, dns_server, sink, queue_cli):
    port = free_port()          # nothing listens there yet
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=port,
                     **{**FAST, "retry_initial": "1h", "retry_max": "1h"})
    r = queue_cli(m, "list")
    assert r.returncode == 0, r.stderr
    assert "0 message(s) in the queue" in r.stdout

    # Two messages, each deferred once (refused connection); next try in an hour.
    q1 = submit(m, [BOB], message("to be deleted"))
    q2 = submit(m, [CAROL], message("to be flushed"))
    for q in (q1, q2):
        wait_for(lambda: state(m, q) is not None, what=f"{q} tried once")
    r = queue_cli(m, "list")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "2 message(s) in the queue" in out
    for q, rcpt in ((q1, BOB), (q2, CAROL)):
        assert re.search(rf"^{re.escape(q)}  \d+ octets  from <{OWNER_ADDR}>  attempts 1$",
                         out, re.M), out
        assert re.search(rf"^  to <{re.escape(rcpt)}>  deferred  \(.*{port}.*\)$", out,
                         re.M), out

    # delete: gone without a bounce; a second delete or an unknown id is an error.
    r = queue_cli(m, "delete", q1)
    assert r.returncode == 0, r.stderr
    assert f"deleted {q1}" in r.stdout
    assert not os.path.exists(os.path.join(queue_dir(m, "msg"), q1))
    assert state(m, q1) is None
    assert queue_cli(m, "delete", q1).returncode != 0
    assert queue_cli(m, "delete", "no-such-id").returncode != 0
    assert queue_cli(m, "delete", "../msg").returncode != 0
    r = queue_cli(m, "list")
    assert "1 message(s) in the queue" in r.stdout and q1 not in r.stdout

    # flush: the server is there now; without the flush the next try is an hour away.
    s = sink(port=port)
    r = queue_cli(m, "flush")
    assert r.returncode == 0, r.stderr
    ((info, data),) = s.wait_messages(1, timeout=15)
    assert info["rcpt_tos"] == [CAROL]
    assert b"Subject: to be flushed" in data
    wait_for(lambda: queue_empty(m), what="queue empty")
    assert "0 message(s) in the queue" in queue_cli(m, "list").stdout
    assert m.messages("new") == []                 # deleting sends no bounce
    assert "queue: flush" in m.read_log("smtpd")


def test_cli_queue_flush_one_id(make_mailsys, dns_server, sink, queue_cli):
    port = free_port()
    m = make_mailsys(dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN), mx_port=port,
                     **{**FAST, "retry_initial": "1h", "retry_max": "1h"})
    q1 = submit(m, [BOB], message("stays"))
    q2 = submit(m, [CAROL], message("goes"))
    for q in (q1, q2):
        wait_for(lambda: state(m, q) is not None, what=f"{q} tried once")
    s = sink(port=port)
    r = queue_cli(m, "flush", q2)
    assert r.returncode == 0, r.stderr
    ((info, _),) = s.wait_messages(1, timeout=15)
    assert info["rcpt_tos"] == [CAROL]
    wait_for(lambda: state(m, q2) is None and
             not os.path.exists(os.path.join(queue_dir(m, "msg"), q2)), what="q2 gone")
    assert os.path.exists(os.path.join(queue_dir(m, "msg"), q1))
    assert len(s.messages()) == 1


def test_cli_queue_flush_without_runner(make_mailsys, queue_cli):
    """No submission configured: no runner to ask; said so, not a silent success."""
    m = make_mailsys(smtpd=False)
    r = queue_cli(m, "flush")
    assert r.returncode != 0
    assert "runner" in r.stderr


# ---------------------------------------------------------------- (h) DKIM

def parse_records(text):
    """{b"name.": b"joined TXT text"} from `letterbox dkim show|keygen` zone lines."""
    recs = {}
    for line in text.splitlines():
        mm = re.match(r'^(\S+) IN TXT (.*)$', line)
        if mm:
            recs[mm.group(1).encode()] = "".join(re.findall(r'"([^"]*)"',
                                                           mm.group(2))).encode()
    return recs


def test_dkim_signed_and_verified(make_mailsys, dns_server, sink):
    """Keys are loaded when smtpd starts: make them first (pop3d only running), then
    start smtpd. The message at the sink carries an ed25519-sha256 and an rsa-sha256
    signature and both verify with dkimpy against `letterbox dkim show`'s records (a
    dnsfunc, no DNS)."""
    s = sink()
    m = make_mailsys(smtpd=False, dns_resolver=mx_dns(dns_server, REMOTE_DOMAIN),
                     mx_port=s.port, **FAST)
    r = m.cli("dkim", "keygen", check=False)
    assert r.returncode == 0, r.stderr
    show = m.cli("dkim", "show", check=False)
    assert show.returncode == 0, show.stderr
    records = parse_records(show.stdout)
    assert set(records) == {b"letterbox-ed25519._domainkey.example.test.",
                            b"letterbox-rsa._domainkey.example.test."}, show.stdout
    m.smtpd, log = start_daemon(SMTPD, m.conf_path, m.smtpd_log)
    m.procs.insert(0, (m.smtpd, log))
    assert "dkim=on" in wait_for(
        lambda: (lambda t: t if "queue runner:" in t else None)(m.read_log("smtpd")),
        what="runner started")
    submit(m, [BOB], message("signed"))
    ((_, data),) = s.wait_messages(1)
    sigs = re.findall(rb"^DKIM-Signature:.*?\r\n(?![ \t])", data, re.S | re.M)
    assert len(sigs) == 2, data[:3000]
    asked = []

    def dnsfunc(name, timeout=5):
        asked.append(name)
        return records.get(name)

    algs = []
    for idx in range(2):
        d = dkim.DKIM(data)
        assert d.verify(idx=idx, dnsfunc=dnsfunc), (idx, sigs[idx])
        algs.append(d.signature_fields[b"a"])
        assert d.signature_fields[b"d"] == b"example.test"
    assert sorted(algs) == [b"ed25519-sha256", b"rsa-sha256"]
    assert dkim.verify(data, dnsfunc=dnsfunc)
    assert set(asked) == set(records)
    # Changed in transit: no longer verifies.
    tampered = data.replace(b"Hello from the queue.", b"Hello from elsewhere.")
    for idx in range(2):
        try:
            ok = dkim.DKIM(tampered).verify(idx=idx, dnsfunc=dnsfunc)
        except dkim.ValidationError:
            ok = False
        assert not ok, idx
    wait_for(lambda: queue_empty(m), what="queue empty")
