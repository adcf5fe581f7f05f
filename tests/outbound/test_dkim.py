"""DKIM signing (dkim/) checked by an independent verifier, dkimpy (python3-dkim).

Keys come from `letterbox dkim keygen` with a configuration written here; messages
are signed by tests/outbound/dkimsign.c (the configuration's keys, dkim_sign_fd) and
verified by dkimpy with a dnsfunc that answers from what `letterbox dkim show`
printed, so no DNS query is ever made. Every signed message carries two signatures,
ed25519-sha256 (RFC 8463, verified through python3-nacl) and rsa-sha256, and both must
verify; tampering must make them fail, so the verifier is not passing everything.
"""
import os
import re
import stat
import subprocess

import dkim
import pytest

from conftest import BUILD, TOP

LETTERBOX = os.path.join(TOP, BUILD, "letterbox")
DKIMSIGN = os.path.join(TOP, BUILD, "tests", "dkimsign")
DOMAIN = "example.test"


@pytest.fixture(scope="session")
def dkimsign():
    """tests/outbound/dkimsign.c's binary, built (or brought up to date) by make."""
    argv = ["make", "-s", "-C", TOP]
    if BUILD == "build/asan":
        argv.append("SANITIZE=address,undefined")
    subprocess.run(argv + [os.path.join(BUILD, "tests", "dkimsign")], check=True)
    return DKIMSIGN


def write_config(root, extra=()):
    conf = os.path.join(root, "letterbox.conf")
    lines = [
        "hostname mx.example.test",
        f"domains {DOMAIN}",
        "local_parts alice",
        f"maildir {root}/Maildir",
        f"state_dir {root}/state",
        *extra,
    ]
    with open(conf, "w") as f:
        f.write("\n".join(lines) + "\n")
    return conf


def letterbox(conf, *args):
    return subprocess.run([LETTERBOX, "-f", conf, *args], capture_output=True, text=True)


def parse_records(text):
    """{b"name.": b"joined TXT text"} from zone file lines, one record a line."""
    recs = {}
    for line in text.splitlines():
        m = re.match(r'^(\S+) IN TXT (.*)$', line)
        assert m, line
        parts = re.findall(r'"([^"]*)"', m.group(2))
        assert all(len(p) <= 255 for p in parts), line
        if len(parts) > 1:
            assert m.group(2).startswith("( ") and m.group(2).endswith(" )"), line
        recs[m.group(1).encode()] = "".join(parts).encode()
    return recs


class Keys:
    def __init__(self, root, conf, records):
        self.root, self.conf, self.records = root, conf, records
        self.asked = []

    def dnsfunc(self, name, timeout=5):
        self.asked.append(name)
        return self.records.get(name)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("dkim"))
    conf = write_config(root)
    r = letterbox(conf, "dkim", "keygen")
    assert r.returncode == 0, r.stderr
    recs = parse_records(r.stdout)
    assert set(recs) == {b"letterbox-ed25519._domainkey.example.test.",
                         b"letterbox-rsa._domainkey.example.test."}
    return Keys(root, conf, recs)


def sign(dkimsign, keys, msg, prefix=b"", conf=None):
    """The signed message (signature fields + msg), or None when refused (exit 1)."""
    path = os.path.join(keys.root, "msg")
    with open(path, "wb") as f:
        f.write(prefix + msg)
    r = subprocess.run([dkimsign, "-o", str(len(prefix)), conf or keys.conf, path],
                       capture_output=True)
    if r.returncode == 1:
        return None
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith(msg)
    return r.stdout


def signatures(signed):
    """The DKIM-Signature fields at the top of signed, unfolded."""
    fields = re.findall(rb"DKIM-Signature:.*?\r\n(?![ \t])", signed, re.S)
    return [re.sub(rb"\r\n[ \t]", b" ", f) for f in fields]


def verify_all(keys, signed):
    """Both signatures verify with dkimpy; returns their a= values."""
    sigs = signatures(signed)
    assert len(sigs) == 2, signed[:2000]
    for raw in signed.split(b"\r\n"):
        if raw == b"":
            break
        assert len(raw.expandtabs(8)) < 78 or not raw.startswith((b"DKIM", b"\t")), raw
    algs = []
    for idx in range(2):
        d = dkim.DKIM(signed)
        assert d.verify(idx=idx, dnsfunc=keys.dnsfunc), (idx, sigs[idx])
        algs.append(d.signature_fields[b"a"])
    assert algs == [b"ed25519-sha256", b"rsa-sha256"]
    assert dkim.verify(signed, dnsfunc=keys.dnsfunc)
    return sigs


def verify_none(keys, signed):
    for idx in range(2):
        try:
            ok = dkim.DKIM(signed).verify(idx=idx, dnsfunc=keys.dnsfunc)
        except dkim.ValidationError:
            ok = False
        assert not ok, idx


def tag(sig, name):
    m = re.search(rb"[; ]" + name + rb"=([^;]*)", sig)
    return re.sub(rb"\s+", b"", m.group(1)) if m else None


SIMPLE = (b"From: Alice <alice@example.test>\r\n"
          b"To: Bob <bob@example.org>\r\n"
          b"Subject: hello\r\n"
          b"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
          b"Message-ID: <1@example.test>\r\n"
          b"\r\n"
          b"Hello Bob.\r\n")


def test_keygen_files_and_records(keys):
    d = os.path.join(keys.root, "state", "dkim")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in ("letterbox.ed25519.pem", "letterbox.rsa.pem"):
        p = os.path.join(d, name)
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
        with open(p) as f:
            assert f.readline() == "-----BEGIN PRIVATE KEY-----\n"    # PKCS#8
    ed = keys.records[b"letterbox-ed25519._domainkey.example.test."]
    rsa = keys.records[b"letterbox-rsa._domainkey.example.test."]
    assert re.fullmatch(rb"v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=", ed)
    assert rsa.startswith(b"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA")
    # The same records from `show`; keygen again keeps the keys and says so.
    r = letterbox(keys.conf, "dkim", "show")
    assert r.returncode == 0 and parse_records(r.stdout) == keys.records
    before = {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)}
    r = letterbox(keys.conf, "dkim", "keygen")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("exists; kept") == 2
    assert parse_records(r.stdout) == keys.records
    assert {n: open(os.path.join(d, n), "rb").read() for n in os.listdir(d)} == before


def test_show_without_keys_exits_1(tmp_path):
    conf = write_config(str(tmp_path))
    r = letterbox(conf, "dkim", "show")
    assert r.returncode == 1 and r.stdout == ""
    assert "letterbox dkim keygen" in r.stderr
    assert letterbox(conf, "dkim", "bogus").returncode == 64


def test_keygen_does_not_follow_a_symlinked_key_directory(tmp_path):
    # As root, keygen writes in a directory the owner could swap for a symlink.
    root = str(tmp_path)
    conf = write_config(root)
    elsewhere = os.path.join(root, "elsewhere")
    os.makedirs(os.path.join(root, "state"))
    os.mkdir(elsewhere)
    os.symlink(elsewhere, os.path.join(root, "state", "dkim"))
    r = letterbox(conf, "dkim", "keygen")
    assert r.returncode == 73 and "dkim" in r.stderr
    assert os.listdir(elsewhere) == []


def test_keygen_as_root_gives_the_keys_to_user(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = str(tmp_path)
    os.chmod(root, 0o755)
    conf = write_config(root, ["user nobody"])
    r = letterbox(conf, "dkim", "keygen")
    assert r.returncode == 0, r.stderr
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    d = os.path.join(root, "state", "dkim")
    for p in (os.path.join(root, "state"), d, *(os.path.join(d, n) for n in os.listdir(d))):
        assert os.stat(p).st_uid == nobody, p


def test_simple_message(dkimsign, keys):
    keys.asked.clear()
    signed = sign(dkimsign, keys, SIMPLE)
    sigs = verify_all(keys, signed)
    assert set(keys.asked) == set(keys.records)
    for s in sigs:
        assert tag(s, b"c") == b"relaxed/relaxed"
        assert tag(s, b"d") == b"example.test"
        assert tag(s, b"h") == b"from:from:subject:date:to:message-id"
        assert tag(s, b"l") is None
    assert tag(sigs[0], b"s") == b"letterbox-ed25519"
    assert tag(sigs[1], b"s") == b"letterbox-rsa"


def test_tampering_breaks_both_signatures(dkimsign, keys):
    signed = sign(dkimsign, keys, SIMPLE)
    verify_all(keys, signed)
    verify_none(keys, signed.replace(b"Hello Bob.", b"Hello Eve."))
    verify_none(keys, signed.replace(b"Subject: hello", b"Subject: hullo"))
    # Oversigned From (RFC 6376 §8.15): a From added anywhere breaks them.
    i = signed.index(b"From: Alice")
    verify_none(keys, signed[:i] + b"From: Mallory <m@evil.test>\r\n" + signed[i:])
    verify_none(keys, signed.replace(b"\r\n\r\nHello", b"\r\nFrom: m@evil.test\r\n\r\nHello"))
    # What relaxed canonicalization forgives still verifies: refolding, case, WSP.
    verify_all(keys, signed.replace(b"Subject: hello", b"subject:\r\n\t hello  "))
    verify_all(keys, signed.replace(b"Hello Bob.\r\n", b"Hello   Bob. \t\r\n\r\n\r\n"))


def test_folded_headers_and_odd_whitespace(dkimsign, keys):
    msg = (b"Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
           b"FROM:Alice\t <alice@example.test>   \r\n"
           b"To:\r\n bob@example.org,\r\n\tcarol@example.org\r\n"
           b"Subject:   lots   of\t space \r\n\t  folded \t\r\n  twice\r\n"
           b"Date:Mon, 1 Jan 2024 00:00:00 +0000\r\n"
           b"X-Not-Signed: \t whatever\r\n"
           b"Content-Type: text/plain;\r\n\tcharset=utf-8;\r\n\tformat=flowed\r\n"
           b"MIME-Version: 1.0\r\n"
           b"\r\n"
           b"  leading space\r\n"
           b"tabs\t\tinside \t and trailing \t \r\n"
           b"\r\n"
           b" \t \r\n"
           b"after a blank line\r\n"
           b"\r\n\r\n \r\n")
    sigs = verify_all(keys, sign(dkimsign, keys, msg))
    assert tag(sigs[0], b"h") == b"from:from:subject:date:to:mime-version:content-type"


def test_messages_without_from_are_refused(dkimsign, keys):
    assert sign(dkimsign, keys, b"To: bob@example.org\r\nSubject: x\r\n\r\nbody\r\n") is None
    assert sign(dkimsign, keys, b"Sender: alice@example.test\r\n"
                b"Reply-To: alice@example.test\r\n\r\nFrom: in the body\r\n") is None


@pytest.mark.parametrize("msg", [
    b"From: alice@example.test\r\nSubject: empty body\r\n\r\n",
    b"From: alice@example.test\r\nSubject: only empty lines\r\n\r\n\r\n\r\n\r\n",
    b"From: alice@example.test\r\nSubject: no empty line, no body\r\n",
], ids=["empty", "empty-lines", "no-body"])
def test_empty_body(dkimsign, keys, msg):
    sigs = verify_all(keys, sign(dkimsign, keys, msg))
    # RFC 6376 §3.4.4: the relaxed empty body hashes as no octets at all.
    assert tag(sigs[0], b"bh") == b"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="


def test_body_without_final_crlf(dkimsign, keys):
    msg = SIMPLE + b"\r\nno CRLF after this line"
    sigs = verify_all(keys, sign(dkimsign, keys, msg))
    # The same body hash as with the CRLF (§3.4.4: it is added).
    with_crlf = signatures(sign(dkimsign, keys, msg + b"\r\n"))
    assert tag(sigs[0], b"bh") == tag(with_crlf[0], b"bh")


def test_8bit_message(dkimsign, keys):
    msg = ("From: Zoë <zoe@example.test>\r\n"
           "To: Jürgen <j@example.org>\r\n"
           "Subject: Grüße — ünïcödé ☃\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n"
           "\r\n"
           "Ça va très bien, merci. 日本語のテキスト\r\n").encode() + \
        b"latin-1 \xe9t\xe9 and raw \x80\xff bytes\r\n"
    sigs = verify_all(keys, sign(dkimsign, keys, msg))
    assert tag(sigs[0], b"h") == (b"from:from:subject:to:content-type:"
                                  b"content-transfer-encoding")


def test_long_body(dkimsign, keys):
    line = b"The quick brown fox jumps over the lazy dog \t 0123456789 abcdefghij\r\n"
    body = line * (5 * 1024 * 1024 // len(line))
    body += b"\r\n" * 5000 + b"x" * 2000 + b"\r\n" + b"\r\n" * 5000   # blanks, long line
    msg = SIMPLE + body
    assert len(msg) > 5 * 1024 * 1024
    verify_all(keys, sign(dkimsign, keys, msg))


def test_repeated_headers(dkimsign, keys):
    msg = (b"Received: from one\r\n"
           b"Received: from two\r\n"
           b"From: alice@example.test\r\n"
           b"To: bob@example.org\r\n"
           b"Subject: two To fields\r\n"
           b"To: carol@example.org\r\n"
           b"\r\n"
           b"body\r\n")
    signed = sign(dkimsign, keys, msg)
    sigs = verify_all(keys, signed)
    assert tag(sigs[0], b"h") == b"from:from:subject:to:to"
    # Bottom-up (RFC 6376 §5.4.2): swapping the two To fields breaks the signatures,
    # and so does a third To, added above or below.
    swap = b"\x00swap\x00"
    verify_none(keys, signed.replace(b"bob@example.org", swap).replace(
        b"carol@example.org", b"bob@example.org").replace(swap, b"carol@example.org"))
    verify_none(keys, signed.replace(b"\r\n\r\nbody", b"\r\nTo: eve@example.org\r\n\r\nbody"))
    # Received fields are not signed: a relay may add one.
    verify_all(keys, b"Received: from three\r\n" + signed)


def test_message_at_an_offset(dkimsign, keys):
    # dkim_sign_fd reads from off on: a queue file may hold an envelope first.
    signed = sign(dkimsign, keys, SIMPLE, prefix=b"X" * 70000 + b"\r\n\r\n")
    verify_all(keys, signed)


def test_openssl_made_keys(dkimsign, keys, tmp_path):
    """Keys from `openssl genpkey` (standard PKCS#8 PEM) load and verify too."""
    root = str(tmp_path)
    ed, rsa = os.path.join(root, "ed.pem"), os.path.join(root, "rsa.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", ed],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt",
                    "rsa_keygen_bits:2048", "-out", rsa], check=True, capture_output=True)
    conf = write_config(root, ["dkim_selector sel2", f"dkim_ed25519_key {ed}",
                               f"dkim_rsa_key {rsa}", "dkim_domain mail.example.test"])
    r = letterbox(conf, "dkim", "show")
    assert r.returncode == 0, r.stderr
    other = Keys(root, conf, parse_records(r.stdout))
    assert set(other.records) == {b"sel2-ed25519._domainkey.mail.example.test.",
                                  b"sel2-rsa._domainkey.mail.example.test."}
    sigs = verify_all(other, sign(dkimsign, other, SIMPLE, conf=conf))
    assert tag(sigs[0], b"d") == b"mail.example.test"
    # Against the first keys' records, they fail.
    verify_none(keys, sign(dkimsign, other, SIMPLE, conf=conf).replace(
        b"sel2-", b"letterbox-").replace(b"d=mail.example.test", b"d=example.test"))


def test_bad_key_is_an_error(dkimsign, tmp_path):
    root = str(tmp_path)
    bad = os.path.join(root, "bad.pem")
    with open(bad, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    conf = write_config(root, [f"dkim_ed25519_key {bad}"])
    msg = os.path.join(root, "m")
    with open(msg, "wb") as f:
        f.write(SIMPLE)
    r = subprocess.run([dkimsign, conf, msg], capture_output=True, text=True)
    assert r.returncode == 78 and bad in r.stderr
    r = letterbox(conf, "dkim", "show")
    assert r.returncode == 65 and bad in r.stderr
    # Neither key there: nothing to sign with.
    conf = write_config(root)
    assert subprocess.run([dkimsign, conf, msg], capture_output=True).returncode == 2
