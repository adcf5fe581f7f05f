"""TLS on every port, as an outside scanner and real clients see it (issue 6).

smtpd (MX with STARTTLS, smtps, submission with STARTTLS, submissions) and pop3d
(STLS, POP3S) run with a certificate chain made here: a root CA, an intermediate CA
and a leaf for localhost; tls_cert holds the leaf and the intermediate, and clients
trust the root only. On every port:

- sslscan (Debian's, on the system OpenSSL the daemons use too): SSLv2, SSLv3,
  TLS 1.0 and 1.1 refused, TLS 1.2 and 1.3 offered; only the ciphers of Mozilla's
  "intermediate" profile (ECDHE with AES-GCM or ChaCha20-Poly1305); X25519, P-256
  and P-384 only; no renegotiation, no heartbleed, no compression;
- the chain is served: Python's ssl and openssl s_client verify it against the root
  alone, and s_client sees the leaf then the intermediate;
- session tickets are issued by default (TLS 1.2 and 1.3) and resume a session, and
  with `tls_session_tickets no` none is, while mail still goes in and out over TLS.

Nothing resolves a name: every connection goes to 127.0.0.1; "localhost" is only
the SNI and the name checked in the certificate.
"""
import os
import re
import shutil
import socket
import ssl
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import (RCPT, LineConn, MailSystem, assert_log_clean, message,
                      retry_port_race)

# name: (MailSystem attribute, protocol, implicit TLS)
PORTS = {
    "smtp": ("smtp_port", "smtp", False),
    "smtps": ("smtps_port", "smtp", True),
    "submission": ("sub_port", "smtp", False),
    "submissions": ("subs_port", "smtp", True),
    "pop3": ("pop3_port", "pop3", False),
    "pop3s": ("pop3s_port", "pop3", True),
}

# Mozilla's "intermediate" profile, guidelines 6.0 (lib/tls.c).
TLS12_ALLOWED = {
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
}
TLS13_ALLOWED = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                 "TLS_CHACHA20_POLY1305_SHA256"}
# What Thunderbird, Outlook, Python, msmtp, fetchmail and mpop negotiate with an RSA
# certificate: these must stay.
TLS12_REQUIRED = {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384"}
# Never acceptable, whatever the allowlist above says.
WEAK = ("NULL", "ADH", "AECDH", "ANON", "EXP", "RC4", "DES", "MD5", "CBC", "PSK",
        "SRP", "IDEA", "SEED")
GROUPS_ALLOWED = {"x25519", "secp256r1 (NIST P-256)", "secp384r1 (NIST P-384)"}


# --- The certificate chain -----------------------------------------------------

def openssl(*args, cwd):
    return subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True,
                          text=True)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Root CA -> intermediate CA -> leaf for localhost (and 127.0.0.1). Paths of
    root.pem, chain.pem (leaf + intermediate), leaf.pem, int.pem, leaf.key."""
    d = tmp_path_factory.mktemp("chain")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "2", "-subj", "/CN=Letterbox Test Root CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout", "root.key", "-out", "root.pem", cwd=d)
    (d / "int.ext").write_text(
        "basicConstraints=critical,CA:TRUE,pathlen:0\n"
        "keyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-new", *ec, "-subj", "/CN=Letterbox Test Intermediate CA",
            "-keyout", "int.key", "-out", "int.csr", cwd=d)
    openssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-set_serial", "2", "-days", "2", "-extfile", "int.ext", "-out", "int.pem",
            cwd=d)
    (d / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "leaf.key", "-out", "leaf.csr", cwd=d)
    openssl("x509", "-req", "-in", "leaf.csr", "-CA", "int.pem", "-CAkey", "int.key",
            "-set_serial", "3", "-days", "2", "-extfile", "leaf.ext", "-out", "leaf.pem",
            cwd=d)
    (d / "chain.pem").write_text((d / "leaf.pem").read_text() + (d / "int.pem").read_text())
    return {k: str(d / f) for k, f in (("root", "root.pem"), ("chain", "chain.pem"),
                                        ("leaf", "leaf.pem"), ("int", "int.pem"),
                                        ("key", "leaf.key"))}


def start_mailsys(tmp_path_factory, chain, account, **extra):
    root = tmp_path_factory.mktemp("sys")
    os.chmod(root, 0o755)
    return retry_port_race(lambda: MailSystem(str(root), (chain["chain"], chain["key"]),
                                              account, extra))


def stop_mailsys(m):
    m.stop()
    for which in ("pop3d", "smtpd"):
        log = m.read_log(which)
        assert_log_clean(log, m.expected_kills)
        assert m.password not in log, "password in the log"


@pytest.fixture(scope="module")
def ms(tmp_path_factory, chain, test_account):
    """smtpd + pop3d with the chain and every other TLS setting at its default."""
    m = start_mailsys(tmp_path_factory, chain, test_account)
    yield m
    stop_mailsys(m)


@pytest.fixture(scope="module")
def ms_notickets(tmp_path_factory, chain, test_account):
    m = start_mailsys(tmp_path_factory, chain, test_account, tls_session_tickets="no")
    yield m
    stop_mailsys(m)


def test_leaf_alone_does_not_verify(chain):
    """The control for test_chain_served: against the root alone the leaf does not
    verify; with the intermediate it does. So a client trusting only the root can
    verify the server only if the server sends the intermediate."""
    d = os.path.dirname(chain["root"])
    r = subprocess.run(["openssl", "verify", "-CAfile", chain["root"], chain["leaf"]],
                       cwd=d, capture_output=True, text=True)
    assert r.returncode != 0 and "unable to get local issuer certificate" in r.stdout \
        + r.stderr, r
    r = openssl("verify", "-CAfile", chain["root"], "-untrusted", chain["int"],
                chain["leaf"], cwd=d)
    assert r.stdout.strip().endswith(": OK")


# --- Clients -------------------------------------------------------------------

def smtp_reply(c):
    """(code, [lines]) of one SMTP reply."""
    lines = []
    while True:
        line = c.line().decode()
        lines.append(line[4:])
        if line[3:4] != "-":
            return int(line[:3]), lines


def smtp_cmd(c, line):
    c.send(line + "\r\n")
    return smtp_reply(c)


def pop3_cmd(c, line, multi=False):
    c.send(line + "\r\n")
    status = c.line().decode()
    body = []
    while multi and status.startswith("+OK"):
        line = c.line()
        if line == b".":
            break
        body.append(line[1:] if line.startswith(b"..") else line)
    return status, body


def open_tls(m, name, ctx, session=None):
    """A LineConn inside TLS on port `name` of m, after the greeting (and for SMTP
    EHLO inside TLS), so that the TLS 1.3 tickets that follow the handshake have been
    read. STARTTLS / STLS first on the ports that need it."""
    attr, proto, implicit = PORTS[name]
    sock = socket.create_connection(("127.0.0.1", getattr(m, attr)), timeout=30)

    def wrap(s):
        return ctx.wrap_socket(s, server_hostname="localhost", session=session)

    c = LineConn(wrap(sock) if implicit else sock)
    if proto == "smtp":
        assert smtp_reply(c)[0] == 220
        if not implicit:
            code, lines = smtp_cmd(c, "EHLO client.example.net")
            assert code == 250 and "STARTTLS" in lines
            assert smtp_cmd(c, "STARTTLS")[0] == 220
            c.sock = wrap(c.sock)
        assert smtp_cmd(c, "EHLO client.example.net")[0] == 250
    else:
        assert c.line().startswith(b"+OK")
        if not implicit:
            assert pop3_cmd(c, "STLS")[0].startswith("+OK")
            c.sock = wrap(c.sock)
        status, capa = pop3_cmd(c, "CAPA", multi=True)
        assert status.startswith("+OK") and b"USER" in capa
    return c


def verifying_context(chain, version=None):
    """Trusts the test root only; checks the chain and the name localhost."""
    ctx = ssl.create_default_context(cafile=chain["root"])
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


# --- sslscan -------------------------------------------------------------------

@pytest.fixture(scope="module")
def sslscan():
    path = shutil.which("sslscan")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("sslscan is missing (scripts/install-deps.sh installs it)")
        pytest.skip("sslscan is not installed (scripts/install-deps.sh installs it)")
    return path


def scan(sslscan, m, name):
    """sslscan's XML report for port `name` of m, as its <ssltest> element."""
    attr, proto, implicit = PORTS[name]
    args = [sslscan, "--no-colour", "--xml=-", "--sni-name=localhost", "--timeout=10"]
    if not implicit:
        args.append(f"--starttls-{proto}")
    r = subprocess.run(args + [f"127.0.0.1:{getattr(m, attr)}"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r
    doc = ET.fromstring(r.stdout)
    assert doc.find("error") is None, r.stdout       # sslscan exits 0 even then
    test = doc.find("ssltest")
    assert test is not None, r.stdout
    return test


@pytest.mark.parametrize("name", PORTS)
def test_sslscan(sslscan, ms, name):
    t = scan(sslscan, ms, name)
    report = ET.tostring(t, encoding="unicode")

    protocols = {(p.get("type"), p.get("version")): p.get("enabled")
                 for p in t.iter("protocol")}
    assert protocols == {("ssl", "2"): "0", ("ssl", "3"): "0", ("tls", "1.0"): "0",
                         ("tls", "1.1"): "0", ("tls", "1.2"): "1",
                         ("tls", "1.3"): "1"}, report

    ciphers = list(t.iter("cipher"))
    accepted = {(c.get("sslversion"), c.get("cipher")) for c in ciphers}
    for c in ciphers:
        v, n = c.get("sslversion"), c.get("cipher")
        assert v in ("TLSv1.2", "TLSv1.3"), report
        assert n in (TLS12_ALLOWED if v == "TLSv1.2" else TLS13_ALLOWED), (n, report)
        assert not any(w in n.upper() for w in WEAK), (n, report)
        assert int(c.get("bits")) >= 128, (n, report)
        assert c.get("strength") in ("strong", "acceptable"), (n, report)
        # Forward secret: an ephemeral elliptic-curve key exchange of >= 253 bits,
        # never finite-field DHE.
        assert c.get("curve") and int(c.get("ecdhebits")) >= 253, (n, report)
        assert c.get("dhebits") is None, (n, report)
    assert {("TLSv1.2", n) for n in TLS12_REQUIRED} <= accepted, report
    assert {("TLSv1.3", n) for n in TLS13_ALLOWED} <= accepted, report

    groups = {(g.get("sslversion"), g.get("name")) for g in t.iter("group")}
    for g in t.iter("group"):
        assert g.get("name") in GROUPS_ALLOWED and int(g.get("bits")) >= 128, report
    for v in ("TLSv1.2", "TLSv1.3"):
        assert (v, "x25519") in groups and (v, "secp256r1 (NIST P-256)") in groups, report

    reneg = t.find("renegotiation")
    assert reneg is not None and reneg.get("supported") == "0", report
    hb = list(t.iter("heartbleed"))
    assert hb and all(h.get("vulnerable") == "0" for h in hb), report
    # sslscan says nothing of compression when its OpenSSL (the system's, which the
    # daemons use too) is built without zlib, as Debian's is; if it ever does say,
    # it must be off (the daemons also set SSL_OP_NO_COMPRESSION).
    for comp in t.iter("compression"):
        assert comp.get("supported") == "0", report

    cert = t.find("certificates/certificate")
    assert cert is not None, report
    assert cert.findtext("subject") == "localhost", report
    pk = cert.find("pk")
    assert pk.get("type") == "RSA" and int(pk.get("bits")) >= 2048, report
    sig = cert.findtext("signature-algorithm").lower()
    assert "sha1" not in sig and "md5" not in sig, report


# --- The chain is served -------------------------------------------------------

@pytest.mark.parametrize("name", PORTS)
def test_chain_served(ms, chain, name):
    # Python's ssl trusting the root only: the handshake verifies leaf -> intermediate
    # -> root and the name, which it can only with the intermediate from the server.
    c = open_tls(ms, name, verifying_context(chain))
    assert c.sock.getpeercert()["subject"] == ((("commonName", "localhost"),),)
    assert c.sock.compression() is None
    c.close()

    # openssl s_client: exactly the leaf, then the intermediate, verified.
    attr, proto, implicit = PORTS[name]
    args = ["openssl", "s_client", "-connect", f"127.0.0.1:{getattr(ms, attr)}",
            "-servername", "localhost", "-verify_hostname", "localhost",
            "-CAfile", chain["root"], "-verify_return_error", "-showcerts"]
    if not implicit:
        args += ["-starttls", proto]
    r = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=60)
    out = r.stdout
    assert r.returncode == 0, r
    assert out.count("-----BEGIN CERTIFICATE-----") == 2, out
    assert "Verify return code: 0 (ok)" in out, out
    sent = re.findall(r"^ (\d+) s:(.+)\n +i:(.+)$", out, re.M)
    assert sent == [("0", "CN = localhost", "CN = Letterbox Test Intermediate CA"),
                    ("1", "CN = Letterbox Test Intermediate CA",
                     "CN = Letterbox Test Root CA")], out


# --- Session tickets -----------------------------------------------------------

VERSIONS = [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3]


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("name", PORTS)
def test_tickets_by_default(ms, chain, name, version):
    """A ticket is issued and resumes the session in another connection, which is
    served by whichever session process is idle: the ticket key is the parent's."""
    ctx = verifying_context(chain, version)
    c = open_tls(ms, name, ctx)
    assert c.sock.version() == version.name.replace("v1_", "v1.")
    session = c.sock.session
    c.close()
    assert session.has_ticket and session.ticket_lifetime_hint > 0
    c = open_tls(ms, name, ctx, session=session)
    assert c.sock.session_reused
    c.close()


@pytest.mark.parametrize("version", VERSIONS, ids=["tls1.2", "tls1.3"])
@pytest.mark.parametrize("name", PORTS)
def test_no_tickets_when_off(ms_notickets, chain, name, version):
    ctx = verifying_context(chain, version)
    c = open_tls(ms_notickets, name, ctx)
    assert c.sock.version() == version.name.replace("v1_", "v1.")
    session = c.sock.session
    c.close()
    assert not session.has_ticket


def test_mail_over_tls_without_tickets(ms_notickets, chain):
    """With tickets off the daemons still work: a message in over STARTTLS on the MX
    port, read back over STLS and over POP3S."""
    m = ms_notickets
    ctx = verifying_context(chain)
    subject = "over TLS without tickets"
    c = open_tls(m, "smtp", ctx)
    assert smtp_cmd(c, "MAIL FROM:<sender@example.net>")[0] == 250
    assert smtp_cmd(c, f"RCPT TO:<{RCPT}>")[0] == 250
    assert smtp_cmd(c, "DATA")[0] == 354
    c.send(message(subject=subject) + ".\r\n")
    assert smtp_reply(c)[0] == 250
    assert smtp_cmd(c, "QUIT")[0] == 221
    c.close()
    for name in ("pop3", "pop3s"):
        c = open_tls(m, name, ctx)
        assert pop3_cmd(c, f"USER {m.user}")[0].startswith("+OK")
        assert pop3_cmd(c, f"PASS {m.password}")[0].startswith("+OK")
        status, lines = pop3_cmd(c, "RETR 1", multi=True)
        assert status.startswith("+OK")
        assert f"Subject: {subject}".encode() in lines
        assert not c.sock.session.has_ticket
        assert pop3_cmd(c, "QUIT")[0].startswith("+OK")
        c.close()


def test_mail_over_resumed_sessions(ms, chain):
    """A resumed session carries mail like a full one: in on the MX port (STARTTLS),
    out over POP3S, both resumed from their tickets."""
    ctx = verifying_context(chain, ssl.TLSVersion.TLSv1_2)
    subject = "over resumed TLS sessions"
    sessions = {}
    for name in ("smtp", "pop3s"):
        c = open_tls(ms, name, ctx)
        sessions[name] = c.sock.session
        c.close()
    c = open_tls(ms, "smtp", ctx, session=sessions["smtp"])
    assert c.sock.session_reused
    assert smtp_cmd(c, "MAIL FROM:<sender@example.net>")[0] == 250
    assert smtp_cmd(c, f"RCPT TO:<{RCPT}>")[0] == 250
    assert smtp_cmd(c, "DATA")[0] == 354
    c.send(message(subject=subject) + ".\r\n")
    assert smtp_reply(c)[0] == 250
    assert smtp_cmd(c, "QUIT")[0] == 221
    c.close()
    c = open_tls(ms, "pop3s", ctx, session=sessions["pop3s"])
    assert c.sock.session_reused
    assert pop3_cmd(c, f"USER {ms.user}")[0].startswith("+OK")
    assert pop3_cmd(c, f"PASS {ms.password}")[0].startswith("+OK")
    status, lines = pop3_cmd(c, "UIDL", multi=True)
    assert status.startswith("+OK") and lines
    found = False
    for i in range(1, len(lines) + 1):
        _, msg = pop3_cmd(c, f"RETR {i}", multi=True)
        found = found or f"Subject: {subject}".encode() in msg
    assert found
    assert pop3_cmd(c, "QUIT")[0].startswith("+OK")
    c.close()
