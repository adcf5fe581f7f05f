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
