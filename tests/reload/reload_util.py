"""Helpers for the reload tests (tests/reload): certificates made per test, the
certificate a server presents, the configuration rewritten in place, SIGHUP, and the
daemon's opener process.

Each test module overrides the session-wide `tls_files` fixture with `own_tls_files`,
so the files it replaces are its own. The key is 0600 in a 0700 directory, both
root's: the daemon, which drops to `nobody` or the test account, can only read them
through its opener, as with a real /etc/letsencrypt.
"""
import os
import re
import signal
import ssl
import subprocess

from conftest import wait_for


def make_pair(d, cn):
    """A new EC key and self-signed certificate (CN=cn) as d/<cn>.cert.pem and
    d/<cn>.key.pem; returns (cert, key)."""
    cert, key = os.path.join(d, f"{cn}.cert.pem"), os.path.join(d, f"{cn}.key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o600)
    return cert, key


def own_tls_files(tmp_path):
    """(cert, key) live paths for one test, holding a first pair (CN=first)."""
    d = tmp_path / "tls"
    d.mkdir(mode=0o700)
    cert, key = make_pair(str(d), "first")
    live = (str(d / "cert.pem"), str(d / "key.pem"))
    install(live, (cert, key))
    return live


def install(live, pair):
    """Put pair in place of the live files, each renamed over the old one (as certbot
    and install(1) do: no reader sees half a file)."""
    for src, dst in zip(pair, live):
        tmp = dst + ".new"
        with open(src, "rb") as f, open(tmp, "wb") as g:
            g.write(f.read())
        os.chmod(tmp, 0o600)
        os.replace(tmp, dst)


def der(cert_path):
    with open(cert_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def _ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_der(sock):
    """The certificate an ssl socket's server presented, DER."""
    return sock.getpeercert(binary_form=True)


def served_cert(port):
    """The certificate a new implicit-TLS connection to port is given, DER."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with _ctx().wrap_socket(s, server_hostname="localhost") as t:
            return peer_der(t)


def set_conf(path, **keys):
    """Rewrite the configuration file with keys set (replacing the lines of those keys,
    or appended); a value of None removes the key."""
    with open(path) as f:
        lines = f.read().splitlines()
    out = [ln for ln in lines if ln.split(" ", 1)[0] not in keys]
    out += [f"{k} {v}" for k, v in keys.items() if v is not None]
    with open(path + ".new", "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(path + ".new", path)


def hup(pid):
    os.kill(pid, signal.SIGHUP)


def wait_log(read_log, pattern, count=1, what=None):
    """Wait until pattern (a regex) matched at least count lines of the log; the
    matches."""
    rx = re.compile(pattern, re.M)

    def seen():
        found = rx.findall(read_log())
        return found if len(found) >= count else None
    return wait_for(seen, timeout=20, what=what or pattern)


def opener_pid(daemon_pid):
    """The daemon's opener: the process that stayed root with the daemon's command line
    (the daemon forked it twice, so it is not its child; the configuration's path
    makes the command line unique to one test's daemon)."""
    def read(pid, name):
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    want = read(daemon_pid, "cmdline")
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == daemon_pid:
            continue
        try:
            if read(name, "cmdline") == want and \
                    re.search(rb"^Uid:\s+0\s", read(name, "status"), re.M):
                return int(name)
        except OSError:
            continue
    return None


def opener_wakeups(pid):
    """How many times the opener has woken up (each request wakes it): a count that
    grows with each look the daemon takes at its files."""
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"^voluntary_ctxt_switches:\s+(\d+)", f.read(), re.M)[1])
