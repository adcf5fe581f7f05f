"""Helpers for the POP3 client-program tests (fetchmail, mpop, Thunderbird, Dovecot).

Mail is seeded with Python's smtplib through the real smtpd, so what a POP3 client
fetches is what a sender sent; the Maildir files are read before they are fetched
(deleting clients leave nothing behind to compare with afterwards).
"""
import os
import poplib
import smtplib
import ssl
import stat
import time

import pytest

from conftest import RCPT

HELO = "client.example.net"


@pytest.fixture
def owner_reachable(tmp_path):
    """Give "others" search permission (x, not r) on tmp_path and the directories
    above it for the test, and take it back afterwards.

    pytest makes its temporary tree 0700 root. Daemons open the Maildir as root
    before dropping privileges, but a program that reaches a path as the test account
    cannot: Letterbox's app-password store (the `letterbox passwd` command and the
    auth process open state_dir by path as the owner, as in production under
    /var/lib/letterbox) and Dovecot's mail processes (which open mail_location as
    mail_uid)."""
    changed = []
    d = str(tmp_path)
    while True:
        mode = os.stat(d).st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(d, stat.S_IMODE(mode) | stat.S_IXOTH)
            changed.append((d, stat.S_IMODE(mode)))
        if d == os.path.dirname(d):
            break
        d = os.path.dirname(d)
    yield
    for d, mode in reversed(changed):
        os.chmod(d, mode)


def seed_messages(tag):
    """Three messages (CRLF bytes, not yet dot-stuffed) with what POP3 must carry
    unchanged: lines starting with dots (byte-stuffing), a lone-dot line, a body line
    starting with "From " (mbox quoting), 8-bit UTF-8, a 998-octet line, and one
    message larger than pop3d's 32 KiB read chunk."""
    stamp = time.time_ns()

    def msg(i, subject, body):
        return (f"From: Sender <sender@example.net>\r\n"
                f"To: Alice <{RCPT}>\r\n"
                f"Subject: {subject}\r\n"
                f"Date: Sat, 01 Mar 2025 10:00:0{i} +0000\r\n"
                f"Message-ID: <{tag}-{i}-{stamp}@example.net>\r\n"
                f"MIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: 8bit\r\n"
                f"\r\n{body}").encode()

    return [
        msg(0, f"{tag} dots", ".leading dot\r\n..two dots\r\n.\r\nFrom the mbox\r\n"
            ">From quoted\r\nlast line\r\n"),
        msg(1, f"{tag} utf-8 Grüße", "Grüße ✓ — 8-bit body\r\n" + "x" * 998 + "\r\n"),
        msg(2, f"{tag} big", "".join(f"line {n:06d} " + "y" * 60 + "\r\n"
                                     for n in range(1500))),
    ]


def seed(mailsys, tag, messages=None):
    """Send messages (default seed_messages(tag)) to smtpd with smtplib; return the
    Maildir as {UIDL (base name): file bytes} once all of them are there."""
    messages = messages if messages is not None else seed_messages(tag)
    before = len(maildir_contents(mailsys))
    with smtplib.SMTP("127.0.0.1", mailsys.smtp_port, local_hostname=HELO,
                      timeout=30) as s:
        for m in messages:
            s.sendmail("sender@example.net", [RCPT], m, mail_options=["BODY=8BITMIME"])
    got = maildir_contents(mailsys)
    assert len(got) == before + len(messages), sorted(got)
    return got


def base_name(name):
    return name.split(":", 1)[0]


def maildir_files(maildir):
    """{base name: path} of every message file in new/ and cur/."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for n in os.listdir(d):
            if not n.startswith("."):
                assert base_name(n) not in out, n
                out[base_name(n)] = os.path.join(d, n)
    return out


def maildir_contents(mailsys):
    """{base name: bytes} of every message in the Maildir."""
    out = {}
    for base, path in maildir_files(mailsys.maildir).items():
        with open(path, "rb") as f:
            out[base] = f.read()
    return out


def maildir_empty(mailsys):
    return maildir_files(mailsys.maildir) == {}


def lf(data):
    """data with CRLF line ends turned into LF, as clients that store mail locally
    in Unix form do (fetchmail's stripcr, mpop)."""
    return data.replace(b"\r\n", b"\n")


def pop3_listing(port, user, password, implicit_tls=False, retr=True):
    """Python's poplib (a third client) over TLS: [(number, size, uidl, content)]."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if implicit_tls:
        p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=30)
    else:
        p = poplib.POP3("127.0.0.1", port, timeout=30)
        p.stls(context=ctx)
    try:
        p.user(user)
        p.pass_(password)
        return listing(p, retr)
    finally:
        p.quit()


def listing(p, retr=True):
    """[(number, size, uidl, content or None)] of a logged-in poplib.POP3."""
    sizes = {int(n): int(s) for n, s in (l.split() for l in p.list()[1])}
    uidls = {int(n): u.decode() for n, u in (l.split() for l in p.uidl()[1])}
    assert sizes.keys() == uidls.keys(), (sizes, uidls)
    out = []
    for n in sorted(sizes):
        content = b"".join(l + b"\r\n" for l in p.retr(n)[1]) if retr else None
        out.append((n, sizes[n], uidls[n], content))
    return out


def log_lines(mailsys, word):
    """pop3d log lines that contain word."""
    return [l for l in mailsys.read_log("pop3d").splitlines() if word in l]
