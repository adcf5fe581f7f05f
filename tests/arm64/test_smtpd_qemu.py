"""The arm64 letterbox-smtpd (make CROSS=aarch64-linux-gnu-) under qemu-user on
loopback: it starts with a generated config, says ready, accepts one message and
delivers it into the Maildir. Skipped, saying why, without qemu-aarch64 or the cross
build, unless LB_ARM64=1 (make check-arm64, CI), which makes their absence a failure.

qemu-aarch64 runs without -L: the arm64 libraries are Debian's multiarch packages
(libc6:arm64 ...), whose loader is /lib/ld-linux-aarch64.so.1. With -L
/usr/aarch64-linux-gnu the cross toolchain's older ld.so (libc6-arm64-cross) is paired
with the multiarch libc.so.6, and every forked child spins forever."""
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, os.environ.get("LB_ARM64_BUILD", "build/arm64"))
SMTPD = os.path.join(BUILD, "letterbox-smtpd")


def need(cond, why):
    if cond:
        return
    if os.environ.get("LB_ARM64") == "1":
        pytest.fail(why + " (LB_ARM64=1: make check-arm64 must have it)")
    pytest.skip(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_arm64_smtpd_delivers_under_qemu():
    need(shutil.which("qemu-aarch64") is not None,
         "qemu-aarch64 is missing: scripts/install-deps-arm64.sh")
    need(os.access(SMTPD, os.X_OK),
         SMTPD + " is missing: make CROSS=aarch64-linux-gnu- all")
    need(os.geteuid() == 0, "needs root (the daemon drops to nobody)")
    with open(SMTPD, "rb") as f:
        head = f.read(20)
    # ELF, 64-bit, e_machine 183 (EM_AARCH64)
    assert head[:4] == b"\x7fELF" and head[4] == 2 and head[18:20] == (183).to_bytes(2, "little")
    d = tempfile.mkdtemp(prefix="lb-arm64-")
    os.chmod(d, 0o755)
    nobody = pwd.getpwnam("nobody")
    md = os.path.join(d, "Maildir")
    for sub in ("", "tmp", "new", "cur"):
        os.makedirs(os.path.join(md, sub), exist_ok=True)
    os.makedirs(os.path.join(d, "state"))
    for root, dirs, _ in os.walk(d):
        for x in dirs:
            os.chown(os.path.join(root, x), nobody.pw_uid, nobody.pw_gid)
    port = free_port()
    conf = os.path.join(d, "letterbox.conf")
    with open(conf, "w") as f:
        f.write("hostname arm64.example.test\ndomains example.test\n"
                "local_parts alice postmaster\nmaildir %s\nuser nobody\n"
                "smtp_listen 127.0.0.1:%d\nstate_dir %s/state\n"
                "dns_resolver 127.0.0.1:9\n" % (md, port, d))
    r, w = os.pipe()
    log = open(os.path.join(d, "smtpd.log"), "w")
    p = subprocess.Popen(["qemu-aarch64", SMTPD, "-d", "-f", conf, "-r", str(w)],
                         pass_fds=(w,), stdout=log, stderr=subprocess.STDOUT)
    os.close(w)
    try:
        with os.fdopen(r) as rf:
            assert rf.readline().strip() == "ready", open(log.name).read()
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
            code, _ = s.ehlo("client.example.test")
            assert code == 250
            s.sendmail("bob@example.net", ["alice@example.test"],
                       "Subject: arm64 smoke\r\n\r\nfrom qemu-aarch64\r\n")
        files = os.listdir(os.path.join(md, "new"))
        assert len(files) == 1
        with open(os.path.join(md, "new", files[0]), "rb") as f:
            body = f.read()
        assert b"Subject: arm64 smoke\r\n" in body and b"from qemu-aarch64" in body
    finally:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        log.close()
        shutil.rmtree(d, ignore_errors=True)
