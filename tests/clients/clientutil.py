"""Helpers for the client-program tests."""
import os
import re
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def delivered(srv, n=1):
    """The contents of the n files in new/ (fails if there are not exactly n)."""
    files = srv.messages("new")
    assert len(files) == n, files
    out = []
    for f in files:
        data = open(f, "rb").read()
        assert f.endswith(",S=%d" % len(data)), f
        out.append(data)
    return out


def received_protocol(data):
    """The "with" protocol of the Received: field smtpd added (ESMTP, ESMTPS, ...)."""
    m = re.search(rb"\) with ([A-Z0-9]+)", data)
    assert m, data[:300]
    return m.group(1).decode()


def run_without_dns(argv, trace_path, **kw):
    """Run argv under strace and fail if it touched name resolution: opened
    resolv.conf or /etc/hosts, or connected to port 53 (skips without strace).
    Returns the CompletedProcess."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed")
    r = subprocess.run([strace, "-f", "-qq", "-o", str(trace_path),
                        "-e", "trace=connect,openat,open", *argv], **kw)
    trace = open(trace_path).read()
    if "+++ exited" not in trace and "connect(" not in trace and "open" not in trace:
        pytest.skip("strace produced no trace here")
    bad = [l for l in trace.splitlines()
           if "resolv.conf" in l or '"/etc/hosts"' in l or "htons(53)" in l]
    assert not bad, "the client looked a name up:\n" + "\n".join(bad)
    return r


def need(program):
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


def msmtp_conf(tmp_path, port, starttls, *lines):
    """tmp_path/msmtprc with one account, "test": 127.0.0.1:port in TLS (STARTTLS or
    implicit), EHLO name client.example.net (so msmtp looks nothing up), its log in
    tmp_path/msmtp.log; lines are the account's other settings ("auth off", ...)."""
    conf = tmp_path / "msmtprc"
    conf.write_text("\n".join([
        "defaults", "syslog off", f"logfile {tmp_path / 'msmtp.log'}", "",
        "account test", "host 127.0.0.1", f"port {port}", "domain client.example.net",
        "tls on", f"tls_starttls {'on' if starttls else 'off'}", *lines]) + "\n")
    os.chmod(conf, 0o600)       # msmtp refuses a config others can read
    return conf


def run_msmtp(conf, rcpt, message, trace=None):
    """`msmtp -C conf -a test rcpt` with message (LF line ends) on stdin, under
    run_without_dns() when trace is a path for its trace; fails with msmtp's output
    and log unless it exits 0. Returns the CompletedProcess."""
    argv = [need("msmtp"), "-C", str(conf), "-a", "test", rcpt]
    kw = dict(input=message, capture_output=True, timeout=60)
    r = run_without_dns(argv, trace, **kw) if trace else subprocess.run(argv, **kw)
    log = conf.parent / "msmtp.log"
    assert r.returncode == 0, (r.stdout.decode() + r.stderr.decode() +
                               (log.read_text() if log.exists() else ""))
    return r
