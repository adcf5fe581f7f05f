"""`letterbox check` against real things: a loopback dnsmasq serving good and broken
zones (tests/outbound/conftest.py; the check's dns_resolver always points at it),
certificates from a test CA made with the openssl command (good, self-signed, expired,
about to expire, for another name), a Maildir and index that agree or not, and the
open-relay test against a running letterbox-smtpd and against a deliberately open
fake server (which proves that test can fail).

Output: one line per finding, "ok    ...", "WARN  ..." or "FAIL  ...", each record to
publish on a line of its own in zone file syntax; exit 0 all ok, 1 warnings, 2
failures. Root is needed (the daemons' account owns the directories)."""
import os
import pwd
import re
import socket
import subprocess
import threading

import pytest

from conftest import (CLI, SMTPD, free_port, retry_port_race, start_daemon, STOP_WAIT)
from outbound.conftest import start_dnsmasq, stop_dnsmasq

HOST = "mx.example.test"
DOMAIN = "example.test"
IP4, IP6 = "192.0.2.1", "2001:db8::1"
REV4 = "1.2.0.192.in-addr.arpa"
REV6 = ".".join(reversed("20010db8000000000000000000000001")) + ".ip6.arpa"
ED_SEL, RSA_SEL = "letterbox-ed25519", "letterbox-rsa"
SPF = "v=spf1 mx -all"
DMARC = f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{DOMAIN}"
FINDING = re.compile(r"^(ok|WARN|FAIL)  +(.*)$")

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="letterbox check tests need root (directory owners)")


# --- certificates --------------------------------------------------------------------

CA_CONF = """[ca]
default_ca = test_ca
[test_ca]
dir = {d}
database = {d}/index.txt
new_certs_dir = {d}/new
serial = {d}/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
"""


class Pki:
    """A test CA in d and the certificates it (or nobody) signed, each (cert, key)."""

    def __init__(self, d):
        self.d = d
        os.makedirs(f"{d}/new")
        open(f"{d}/index.txt", "w").close()
        with open(f"{d}/serial", "w") as f:
            f.write("1000\n")
        with open(f"{d}/ca.cnf", "w") as f:
            f.write(CA_CONF.format(d=d))
        self.ca = f"{d}/ca.pem"
        self.run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-days", "30", "-subj", "/CN=Letterbox Test CA",
                 "-addext", "basicConstraints=critical,CA:true",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", f"{d}/ca.key", "-out", self.ca)

    def run(self, *args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    def issue(self, name, cn=HOST, days=90, dates=None, self_signed=False):
        """A certificate for cn (also its subjectAltName) valid for days from now, or
        between dates=("YYYYMMDDHHMMSSZ", ...) (openssl ca can backdate: expired)."""
        key, csr, cert = (f"{self.d}/{name}.{x}" for x in ("key", "csr", "pem"))
        if self_signed:
            self.run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                     "ec_paramgen_curve:P-256", "-nodes", "-days", str(days),
                     "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
                     "-keyout", key, "-out", cert)
            return cert, key
        self.run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{cn}",
                 "-keyout", key, "-out", csr)
        when = ["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days",
                                                                           str(days)]
        self.run("ca", "-batch", "-notext", "-config", f"{self.d}/ca.cnf", "-cert", self.ca,
                 "-keyfile", f"{self.d}/ca.key", "-in", csr, "-out", cert, *when)
        return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return Pki(str(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def good_cert(pki):
    return pki.issue("good")


# --- DKIM keys, made once by `letterbox dkim keygen` ----------------------------------

@pytest.fixture(scope="module")
def dkim(tmp_path_factory):
    """{"ed": path, "rsa": path, "records": {selector: text}, "lines": [dkim show]}."""
    d = str(tmp_path_factory.mktemp("dkim"))
    conf = os.path.join(d, "keygen.conf")
    with open(conf, "w") as f:
        f.write(f"hostname {HOST}\ndomains {DOMAIN}\nmaildir {d}/Maildir\n"
                f"state_dir {d}/state\nuser nobody\n")
    subprocess.run([CLI, "-f", conf, "dkim", "keygen"], check=True, capture_output=True)
    lines = subprocess.run([CLI, "-f", conf, "dkim", "show"], check=True,
                           capture_output=True, text=True).stdout.splitlines()
    records = {}
    for line in lines:
        sel = line.split(".", 1)[0]
        records[sel] = "".join(re.findall(r'"([^"]*)"', line))
    assert set(records) == {ED_SEL, RSA_SEL}, lines
    return {"ed": f"{d}/state/dkim/letterbox.ed25519.pem",
            "rsa": f"{d}/state/dkim/letterbox.rsa.pem", "records": records,
            "lines": lines}


def txt_pieces(text):
    """dnsmasq's --txt-record text: 255-octet <character-string>s, comma-separated."""
    return ",".join(text[i:i + 255] for i in range(0, len(text), 255))


def good_zone(dkim):
    return {
        "mx": [(DOMAIN, HOST, 10)],
        "a": [(HOST, IP4), (HOST, IP6)],      # dnsmasq makes their PTRs too
        "txt": [(DOMAIN, SPF), (f"_dmarc.{DOMAIN}", DMARC)] +
               [(f"{sel}._domainkey.{DOMAIN}", txt_pieces(text))
                for sel, text in dkim["records"].items()],
    }


# --- the set-up under check -----------------------------------------------------------

class Setup:
    """A configuration as an owner would have it: Maildir and state_dir owned by the
    daemons' account (nobody), a certificate, DKIM keys, the DNS server."""

    def __init__(self, root, cert, dkim, ca=None):
        self.root = root
        self.maildir = os.path.join(root, "Maildir")
        self.state = os.path.join(root, "state")
        self.conf = os.path.join(root, "letterbox.conf")
        self.smtp_port = free_port()
        self.keys = {"tls_cert": cert[0], "tls_key": cert[1],
                     "dkim_ed25519_key": dkim["ed"], "dkim_rsa_key": dkim["rsa"]}
        if ca:
            self.keys["tls_ca_file"] = ca
        pw = pwd.getpwnam("nobody")
        for d in (self.maildir, *(os.path.join(self.maildir, s)
                                  for s in ("tmp", "new", "cur")), self.state):
            os.makedirs(d, 0o700, exist_ok=True)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        self.dns = None
        self.procs = []

    def zone(self, **records):
        """Serve these records (see start_dnsmasq) from now on."""
        proc, self.dns = start_dnsmasq(self.root, **records)
        self.procs.append(proc)

    def write(self, **extra):
        lines = [f"hostname {HOST}", f"domains {DOMAIN}", "local_parts alice postmaster",
                 f"maildir {self.maildir}", f"state_dir {self.state}", "user nobody",
                 f"smtp_listen 127.0.0.1:{self.smtp_port}",
                 f"dns_resolver {self.dns or '127.0.0.1:9'}"]
        settings = {**self.keys, **extra}
        lines += [f"{k} {v}" for k, v in settings.items() if v is not None]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def check(self, *args):
        r = subprocess.run([CLI, "-f", self.conf, "check", *args], capture_output=True,
                           text=True, timeout=120)
        return Report(r)

    def stop(self):
        for p in self.procs:
            stop_dnsmasq(p)


class Report:
    """A check's output: .rc, .findings [(tag, text)], .records (zone file lines)."""

    def __init__(self, r):
        self.rc, self.out, self.err = r.returncode, r.stdout, r.stderr
        self.findings, self.records = [], []
        for line in r.stdout.splitlines():
            m = FINDING.match(line)
            if m:
                self.findings.append((m.group(1), m.group(2)))
            elif re.match(r"^\S+\. IN ", line):
                self.records.append(line)

    def tagged(self, tag):
        return [text for t, text in self.findings if t == tag]

    def __repr__(self):
        return f"exit {self.rc}\n{self.out}{self.err}"


@pytest.fixture
def setup(tmp_path, good_cert, pki, dkim):
    """A Setup whose certificate comes from the test CA (tls_ca_file)."""
    made = []

    def make(cert=None, ca=pki.ca):
        root = tmp_path / f"setup{len(made)}"
        root.mkdir()
        s = Setup(str(root), cert or good_cert, dkim, ca)
        made.append(s)
        return s

    yield make
    for s in made:
        s.stop()


def zone_check(setup, dkim, **changes):
    """Check the DNS of a set-up serving the good zone with changes (None removes a
    kind); everything but DNS is as in the good set-up. The Report."""
    s = setup()
    zone = good_zone(dkim)
    for kind, rows in changes.items():
        if rows is None:
            zone.pop(kind, None)
        else:
            zone[kind] = rows
    s.zone(**zone)
    s.write()
    return s.check("--no-relay-test")


def only_failure(rep, start):
    """The report failed exactly one finding, the one starting with start."""
    assert rep.rc == 2, rep
    fails = rep.tagged("FAIL")
    assert len(fails) == 1 and fails[0].startswith(start), rep
    return fails[0]


# --- the whole thing ------------------------------------------------------------------

def test_good_setup_every_check_ok(setup, dkim):
    """A good zone, a CA-signed certificate for hostname, a Maildir and index that
    agree, and smtpd running the same configuration: exit 0, every line "ok", no record
    to publish; each part of the check said something."""
    s = setup()
    s.zone(**good_zone(dkim))
    s.write()
    proc, log = retry_port_race(lambda: start_daemon(SMTPD, s.conf,
                                                     os.path.join(s.root, "smtpd.log")))
    try:
        rep = s.check()
    finally:
        proc.terminate()
        proc.wait(timeout=STOP_WAIT)
        log.close()
    assert rep.rc == 0, rep
    assert all(tag == "ok" for tag, _ in rep.findings), rep
    assert rep.records == [], rep
    text = "\n".join(t for _, t in rep.findings)
    for what in (f"config {s.conf}: loads", "user nobody exists",
                 f"maildir {s.maildir}: owner", f"state_dir {s.state}: owner",
                 "loads with its key", f"chain verifies against {s.keys['tls_ca_file']}",
                 "certificate valid until", f"certificate names hostname {HOST}",
                 "Maildir and index agree", f"A/AAAA of hostname {HOST}: {IP4}, {IP6}",
                 f"MX of {DOMAIN}: 10 {HOST}", f'SPF of {DOMAIN}: "{SPF}"',
                 f"DMARC of {DOMAIN}: p=quarantine",
                 f"DKIM {ED_SEL}._domainkey.{DOMAIN}: the key of",
                 f"DKIM {RSA_SEL}._domainkey.{DOMAIN}: the key of",
                 f"PTR of {IP4}: {HOST}", f"PTR of {IP6}: {HOST}",
                 "not an open relay: smtpd at 127.0.0.1 refused all 4"):
        assert what in text, (what, rep)
    assert rep.out.rstrip().endswith("0 failure(s), 0 warning(s)"), rep


def test_public_address_must_be_in_a_record(setup, dkim):
    """public_address names the address to check: in the A records and with a PTR, ok;
    one that is not in them fails and prints the A record to publish."""
    s = setup()
    s.zone(**good_zone(dkim))
    s.write(public_address=IP4)
    rep = s.check("--no-relay-test")
    assert rep.rc == 0, rep
    assert any(t == f"PTR of {IP4}: {HOST}, whose A/AAAA holds {IP4} again (FCrDNS)"
               for t in rep.tagged("ok")), rep
    assert not any(f"PTR of {IP6}" in t for _, t in rep.findings), rep

    s.write(public_address="198.51.100.7")
    rep = s.check("--no-relay-test")
    assert rep.rc == 2, rep
    assert f"{HOST}. IN A 198.51.100.7" in rep.records, rep
    assert "7.100.51.198.in-addr.arpa. IN PTR mx.example.test." in rep.records, rep


# --- broken zones, one at a time ------------------------------------------------------

def test_no_mx(setup, dkim):
    """No MX: FAIL with the MX record; SPF's "mx" will cover us once it is there (a
    warning saying so, without suggesting the SPF record it already is)."""
    rep = zone_check(setup, dkim, mx=None)
    assert only_failure(rep, f"MX of {DOMAIN}: none")
    assert rep.records == [f"{DOMAIN}. IN MX 10 {HOST}."], rep
    assert rep.tagged("WARN") == [f'SPF of {DOMAIN}: "{SPF}" allows {HOST} by "mx" once '
                                  f'the MX of {DOMAIN} names it'], rep


def test_mx_to_another_host(setup, dkim):
    """MX naming someone else: FAIL with the MX to publish; SPF's "mx" then does not
    cover us either (a warning)."""
    rep = zone_check(setup, dkim, mx=[(DOMAIN, "mail.other.example", 10)],
                     a=[(HOST, IP4), (HOST, IP6), ("mail.other.example", "198.51.100.1")])
    fail = only_failure(rep, f"MX of {DOMAIN}: 10 mail.other.example")
    assert fail.endswith(f"not {HOST}"), rep
    assert rep.records == [f"{DOMAIN}. IN MX 10 {HOST}."], rep
    assert rep.tagged("WARN") == [f'SPF of {DOMAIN}: "{SPF}" allows {HOST} by "mx" once '
                                  f'the MX of {DOMAIN} names it'], rep


def test_null_mx(setup, dkim):
    rep = zone_check(setup, dkim, mx=[(DOMAIN, ".", 0)])
    assert "null MX" in only_failure(rep, f"MX of {DOMAIN}: 0 ."), rep
    assert f"{DOMAIN}. IN MX 10 {HOST}." in rep.records, rep


def test_no_spf(setup, dkim):
    zone = good_zone(dkim)
    rep = zone_check(setup, dkim, txt=[r for r in zone["txt"] if r[0] != DOMAIN])
    only_failure(rep, f"SPF of {DOMAIN}: none")
    assert rep.records == [f'{DOMAIN}. IN TXT "{SPF}"'], rep


def test_spf_not_covering_us_is_a_warning(setup, dkim):
    """An SPF record that allows only another network: exit 1, the record suggested."""
    zone = good_zone(dkim)
    txt = [r for r in zone["txt"] if r[0] != DOMAIN] + \
        [(DOMAIN, "v=spf1 ip4:198.51.100.0/24 -all")]
    rep = zone_check(setup, dkim, txt=txt)
    assert rep.rc == 1, rep
    assert rep.tagged("FAIL") == [], rep
    warn = rep.tagged("WARN")
    assert len(warn) == 1 and warn[0].startswith(f"SPF of {DOMAIN}") and \
        f"does not allow {HOST}" in warn[0], rep
    assert rep.records == [f'{DOMAIN}. IN TXT "{SPF}"'], rep


def test_spf_covering_by_ip_and_include_unknown(setup, dkim):
    """ip4: holding our address covers us (ok); an include: before any match cannot be
    followed without more look-ups (a warning saying so, no record)."""
    zone = good_zone(dkim)
    others = [r for r in zone["txt"] if r[0] != DOMAIN]
    rep = zone_check(setup, dkim, txt=others + [(DOMAIN, "v=spf1 ip4:192.0.2.0/24 -all")])
    assert rep.rc == 0, rep
    rep = zone_check(setup, dkim,
                     txt=others + [(DOMAIN, "v=spf1 include:_spf.example.net -all")])
    assert rep.rc == 1, rep
    assert any("include:_spf.example.net" in w for w in rep.tagged("WARN")), rep
    assert rep.records == [], rep


def test_two_spf_records_fail(setup, dkim):
    zone = good_zone(dkim)
    rep = zone_check(setup, dkim, txt=zone["txt"] + [(DOMAIN, "v=spf1 a -all")])
    only_failure(rep, f"SPF of {DOMAIN}: 2 records")


def test_dkim_missing(setup, dkim):
    """The ed25519 key's record absent: FAIL, and the line `letterbox dkim show`
    prints for it (the same code prints both)."""
    zone = good_zone(dkim)
    txt = [r for r in zone["txt"] if not r[0].startswith(ED_SEL)]
    rep = zone_check(setup, dkim, txt=txt)
    only_failure(rep, f"DKIM {ED_SEL}._domainkey.{DOMAIN}: no key record published")
    want = [line for line in dkim["lines"] if line.startswith(ED_SEL)]
    assert rep.records == want, rep


def test_dkim_wrong_key(setup, dkim, tmp_path):
    """A record with another key: FAIL naming it, and the right record to publish
    instead (the RSA one here, which dkim show prints in 255-octet strings)."""
    zone = good_zone(dkim)
    other = "v=DKIM1; k=rsa; p=" + "A" * 300
    txt = [r for r in zone["txt"] if not r[0].startswith(RSA_SEL)] + \
        [(f"{RSA_SEL}._domainkey.{DOMAIN}", txt_pieces(other))]
    rep = zone_check(setup, dkim, txt=txt)
    fail = only_failure(rep, f"DKIM {RSA_SEL}._domainkey.{DOMAIN}: the published key "
                             "differs")
    assert dkim["rsa"] in fail, rep
    want = [line for line in dkim["lines"] if line.startswith(RSA_SEL)]
    assert rep.records == want, rep
    assert want[0].count('"') > 2, want     # split into character-strings


def test_no_dmarc(setup, dkim):
    zone = good_zone(dkim)
    rep = zone_check(setup, dkim, txt=[r for r in zone["txt"] if not r[0].startswith("_dmarc")])
    only_failure(rep, f"DMARC of {DOMAIN}: none at _dmarc.{DOMAIN}")
    assert rep.records == [f'_dmarc.{DOMAIN}. IN TXT "{DMARC}"'], rep


def test_dmarc_without_policy(setup, dkim):
    zone = good_zone(dkim)
    txt = [r for r in zone["txt"] if not r[0].startswith("_dmarc")] + \
        [(f"_dmarc.{DOMAIN}", "v=DMARC1; rua=mailto:postmaster@example.test")]
    rep = zone_check(setup, dkim, txt=txt)
    only_failure(rep, f'DMARC of {DOMAIN}: "v=DMARC1; rua=mailto:postmaster@example.test"'
                      ' lacks a valid p=')
    assert rep.records == [f'_dmarc.{DOMAIN}. IN TXT "{DMARC}"'], rep


def test_no_ptr(setup, dkim):
    """hostname's A without a PTR (dnsmasq --address makes none): FAIL for that
    address, with the PTR record and who publishes it."""
    rep = zone_check(setup, dkim, a=None, addr=[(HOST, IP4)])
    only_failure(rep, f"PTR of {IP4}: none")
    assert rep.records == [f"{REV4}. IN PTR {HOST}."], rep
    assert "your ISP or hosting provider" in rep.out, rep


def test_wrong_ptr(setup, dkim):
    rep = zone_check(setup, dkim, a=None, addr=[(HOST, IP4)],
                     ptr=[(REV4, "dsl-192-0-2-1.isp.example")])
    only_failure(rep, f"PTR of {IP4}: dsl-192-0-2-1.isp.example; not {HOST}")
    assert rep.records == [f"{REV4}. IN PTR {HOST}."], rep


def test_wrong_ipv6_ptr(setup, dkim):
    """The IPv6 address is checked too, with its ip6.arpa name."""
    rep = zone_check(setup, dkim, a=[(HOST, IP4)], addr=[(HOST, IP6)])
    only_failure(rep, f"PTR of {IP6}: none")
    assert rep.records == [f"{REV6}. IN PTR {HOST}."], rep


def test_no_address_for_hostname(setup, dkim):
    """No A/AAAA for hostname: FAIL with the record (the address is unknown without
    public_address, so the line says what goes there); and no PTR can be checked."""
    rep = zone_check(setup, dkim, a=None)
    assert rep.rc == 2, rep
    assert f"A/AAAA of hostname {HOST}: none" in rep.tagged("FAIL"), rep
    assert rep.records == [f"{HOST}. IN A <this server's public IPv4 address>"], rep
    assert any(w.startswith("PTR: no public address") for w in rep.tagged("WARN")), rep


def test_no_dns_skips_dns(setup, dkim):
    """--no-dns asks no DNS at all: a resolver with nothing behind it stays unasked."""
    s = setup()
    s.write()           # dns_resolver 127.0.0.1:9: nothing listens
    rep = s.check("--no-dns", "--no-relay-test")
    assert rep.rc == 0, rep
    assert not any(k in t for _, t in rep.findings for k in ("MX", "SPF", "PTR")), rep


# --- certificates -------------------------------------------------------------------

def cert_check(setup, cert, ca):
    s = setup(cert=cert, ca=ca)
    s.write()
    return s.check("--no-dns", "--no-relay-test")


def test_self_signed_chain_fails_without_ca_file(setup, pki):
    cert = pki.issue("self", self_signed=True)
    rep = cert_check(setup, cert, None)
    only_failure(rep, "certificate chain does not verify against the system's trust store")
    assert "is self-signed" in rep.out, rep
    rep = cert_check(setup, cert, cert[0])      # it is its own trust anchor
    assert rep.rc == 0, rep


def test_expired_certificate(setup, pki):
    cert = pki.issue("expired", dates=("20200101000000Z", "20200201000000Z"))
    rep = cert_check(setup, cert, pki.ca)
    only_failure(rep, "certificate expired on 2020-02-01")


def test_certificate_near_expiry_warns(setup, pki):
    cert = pki.issue("soon", days=5)
    rep = cert_check(setup, cert, pki.ca)
    assert rep.rc == 1, rep
    warn = rep.tagged("WARN")
    assert len(warn) == 1 and re.match(r"certificate expires in [45] day\(s\)", warn[0]), rep


def test_certificate_for_another_name(setup, pki):
    cert = pki.issue("other", cn="other.example.net")
    rep = cert_check(setup, cert, pki.ca)
    only_failure(rep, f"certificate does not name hostname {HOST} (it names: "
                      "other.example.net)")


def test_key_of_another_certificate(setup, pki, good_cert):
    other = pki.issue("other-key")
    rep = cert_check(setup, (good_cert[0], other[1]), pki.ca)
    only_failure(rep, "certificate: ")


def test_no_certificate_is_a_warning(setup):
    s = setup()
    s.keys.pop("tls_cert")
    s.keys.pop("tls_key")
    s.write()
    rep = s.check("--no-dns", "--no-relay-test")
    assert rep.rc == 1, rep
    assert [w for w in rep.tagged("WARN") if w.startswith("no tls_cert")], rep


# --- configuration, directories, Maildir and index -------------------------------------

def test_unloadable_config_fails(setup):
    s = setup()
    s.write(no_such_key="1")
    rep = s.check()
    assert rep.rc == 2, rep
    assert rep.findings == [("FAIL", rep.findings[0][1])], rep
    assert "no_such_key" in rep.findings[0][1], rep


def test_public_address_must_be_an_address(setup):
    """The new setting is checked as the daemons load the file (they refuse it too)."""
    s = setup()
    s.write(public_address="mx.example.test")
    rep = s.check()
    assert rep.rc == 2, rep
    assert 'public_address: "mx.example.test" is not an IPv4 or IPv6 address' in \
        rep.findings[0][1], rep
    smtpd_n = subprocess.run([SMTPD, "-n", "-f", s.conf], capture_output=True, text=True)
    assert smtpd_n.returncode != 0 and "public_address" in smtpd_n.stderr
    s.write(public_address=IP6)
    assert s.check("--no-dns", "--no-relay-test").rc == 0


def test_listener_tls_consistency_as_smtpd_n(setup):
    """submissions_listen without a certificate: what letterbox-smtpd -n refuses, the
    check reports with the same reason."""
    s = setup()
    s.keys.pop("tls_cert")
    s.keys.pop("tls_key")
    s.write(submissions_listen=f"127.0.0.1:{free_port()}")
    rep = s.check()
    smtpd_n = subprocess.run([SMTPD, "-n", "-f", s.conf], capture_output=True, text=True)
    assert smtpd_n.returncode != 0
    assert rep.rc == 2 and "submissions_listen needs tls_cert and tls_key" in \
        rep.findings[0][1], rep
    assert "submissions_listen needs tls_cert and tls_key" in smtpd_n.stderr


def test_missing_user_and_wrong_owner(setup):
    s = setup()
    s.write()
    os.chown(s.state, 0, 0)
    os.chmod(s.maildir, 0o777)
    rep = s.check("--no-dns", "--no-relay-test")
    assert rep.rc == 2, rep
    assert [f for f in rep.tagged("FAIL") if f.startswith(f"state_dir {s.state}: owned by "
                                                          "uid 0, not by nobody")], rep
    assert [w for w in rep.tagged("WARN") if w.startswith(f"maildir {s.maildir}: mode "
                                                          "0777")], rep
    text = open(s.conf).read().replace("user nobody", "user no-such-user-lb")
    with open(s.conf, "w") as f:
        f.write(text)
    rep = s.check("--no-dns", "--no-relay-test")
    assert "user no-such-user-lb: no such account" in rep.tagged("FAIL"), rep


def test_index_disagreeing_with_maildir_fails(setup):
    """A message that arrived behind the index's back: `index verify`'s mismatch, as a
    FAIL with its detail; after `index sync`, ok again."""
    s = setup()
    s.write()
    subprocess.run([CLI, "-f", s.conf, "index", "sync"], check=True, capture_output=True)
    assert s.check("--no-dns", "--no-relay-test").rc == 0
    name = os.path.join(s.maildir, "new", "1700000000.M1P1.host,S=5")
    with open(name, "w") as f:
        f.write("x\r\n\r\n")
    rep = s.check("--no-dns", "--no-relay-test")
    only_failure(rep, "Maildir and index disagree")
    assert "mismatch: " in rep.out and "1700000000.M1P1.host,S=5" in rep.out, rep
    subprocess.run([CLI, "-f", s.conf, "index", "sync"], check=True, capture_output=True)
    assert s.check("--no-dns", "--no-relay-test").rc == 0


def test_damaged_index_fails(setup):
    s = setup()
    s.write()
    subprocess.run([CLI, "-f", s.conf, "index", "sync"], check=True, capture_output=True)
    ixdir = os.path.join(s.maildir, "letterbox-index")
    for n in os.listdir(ixdir):
        if n.endswith(".db"):
            with open(os.path.join(ixdir, n), "r+b") as f:
                f.write(b"\xde\xad" * 512)
    rep = s.check("--no-dns", "--no-relay-test")
    assert rep.rc == 2, rep
    assert [f for f in rep.tagged("FAIL") if "index" in f], rep


# --- the open-relay test -------------------------------------------------------------

def test_relay_test_against_mailsys(make_mailsys):
    """The real smtpd (with submission and POP3, as make_mailsys runs it) refuses
    every way of relaying: ok. (Its certificate is the suite's self-signed one for
    localhost, so the check fails elsewhere; only the relay line matters here.)"""
    ms = make_mailsys()
    r = subprocess.run([CLI, "-f", ms.conf_path, "check", "--no-dns"], capture_output=True,
                       text=True, timeout=120)
    rep = Report(r)
    assert (f"not an open relay: smtpd at 127.0.0.1 refused all 4 ways to relay to "
            "relay-test@example.com") in rep.tagged("ok"), rep
    assert not [f for f in rep.tagged("FAIL") if "relay" in f.lower()], rep
    # smtpd's own account: four refusals of the check's sender (the source route is
    # logged as what is left of it, the quote as \x22), none accepted.
    refused = re.findall(r"refused client=127\.0\.0\.1 from=<check@letterbox\.invalid> "
                         r"to=(<\S+>) result=(5\d\d) reason=(\S+)", ms.read_log("smtpd"))
    assert [(to, reason) for to, _, reason in refused] == [
        ("<relay-test@example.com>", "relay-denied"),
        ("<relay-test%example.com@example.test>", "unknown-user"),
        ("<\\x22relay-test@example.com\\x22@example.test>", "unknown-user"),
        ("<relay-test@example.com>", "relay-denied")], refused


class OpenRelay:
    """A deliberately open SMTP server: 250 to everything (354 to DATA, which must never
    come). .commands: the lines it received."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.commands = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            f = conn.makefile("rb")
            conn.sendall(b"220 open.example ESMTP\r\n")
            for line in f:
                cmd = line.rstrip(b"\r\n").decode()
                self.commands.append(cmd)
                verb = cmd.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    conn.sendall(b"250-open.example\r\n250 PIPELINING\r\n")
                elif verb == "DATA":
                    conn.sendall(b"354 go on\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.1.5 ok\r\n")

    def close(self):
        self.thread.join(timeout=30)
        self.sock.close()


def test_relay_test_fails_against_an_open_relay(setup):
    """The test can fail: against a server that accepts anything, each RCPT is an
    OPEN RELAY failure; no DATA is ever sent, and the transaction is RSET and QUIT."""
    s = setup()
    fake = OpenRelay()
    s.smtp_port = fake.port
    s.write()
    rep = s.check("--no-dns")
    fake.close()
    assert rep.rc == 2, rep
    fails = rep.tagged("FAIL")
    assert len(fails) == 4 and all(f.startswith("OPEN RELAY: smtpd at 127.0.0.1 accepted "
                                                "RCPT TO:") for f in fails), rep
    assert "DATA" not in fake.commands, fake.commands
    assert fake.commands[1] == "MAIL FROM:<check@letterbox.invalid>", fake.commands
    assert fake.commands[2:6] == [
        "RCPT TO:<relay-test@example.com>", "RCPT TO:<relay-test%example.com@example.test>",
        'RCPT TO:<"relay-test@example.com"@example.test>',
        "RCPT TO:<@example.test:relay-test@example.com>"], fake.commands
    assert fake.commands[-2:] == ["RSET", "QUIT"], fake.commands


def test_relay_to_is_configurable(setup):
    s = setup()
    fake = OpenRelay()
    s.smtp_port = fake.port
    s.write()
    rep = s.check("--no-dns", "--relay-to", "probe@relay.example")
    fake.close()
    assert rep.rc == 2, rep
    assert "RCPT TO:<probe@relay.example>" in fake.commands, fake.commands


def test_smtpd_not_running_is_a_warning(setup):
    s = setup()
    s.write()           # nothing listens on smtp_port
    rep = s.check("--no-dns")
    assert rep.rc == 1, rep
    warn = rep.tagged("WARN")
    assert len(warn) == 1 and warn[0].startswith("smtpd not reachable at 127.0.0.1"), rep


def test_wildcard_listener_is_tested_on_loopback(setup):
    """smtp_listen 0.0.0.0:PORT: the test connects to 127.0.0.1:PORT."""
    s = setup()
    fake = OpenRelay()
    s.write()
    text = open(s.conf).read().replace(f"smtp_listen 127.0.0.1:{s.smtp_port}",
                                       f"smtp_listen 0.0.0.0:{fake.port}")
    with open(s.conf, "w") as f:
        f.write(text)
    rep = s.check("--no-dns")
    fake.close()
    assert any(f.startswith("OPEN RELAY: smtpd at 127.0.0.1") for f in rep.tagged("FAIL")), rep


def test_usage():
    r = subprocess.run([CLI, "check", "--bogus"], capture_output=True, text=True)
    assert r.returncode == 64 and "usage: letterbox" in r.stderr
