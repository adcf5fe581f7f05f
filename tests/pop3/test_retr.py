"""RETR and TOP on the wire (RFC 1939 §3, §7): CRLF lines, byte-stuffing, NUL bytes
turned into 0x80, the header/body separator added where missing, sizes that match
what is sent, and messages changed behind the session's back (removed, moved to
cur/, flags changed, unreadable).

Messages "from another delivery agent" are placed in the Maildir by hand. Their names
start with an old timestamp, so they come before the ones smtpd delivers; every
expected byte string is computed by an independent reference (wire()) from the file.
"""
import os
import random
import re

import pytest

from pop3util import (base_name, listing, maildir_state, open_session, place, raw_body,
                      retr, stat, unstuff)


def wire(data, top=None):
    """Reference: the response body POP3 must send for a stored message (without the
    final ".\\r\\n"). A line ends at CRLF or bare LF; bare CR stays inside its line;
    NUL becomes 0x80; a line starting with "." gets another; the last line gets its
    CRLF; a message with no empty line gets one at its end. top: header, empty line
    and that many body lines."""
    parts = re.split(rb"\r?\n", data)
    complete, last = parts[:-1], parts[-1]
    lines = complete + ([last] if last else [])
    out, in_header, body_left = [], True, top
    for line in lines:
        if not in_header and top is not None:
            if body_left == 0:
                return b"".join(out)
            body_left -= 1
        line = line.replace(b"\0", b"\x80")
        out.append((b"." if line.startswith(b".") else b"") + line + b"\r\n")
        if in_header and line == b"":
            in_header = False
            if top == 0:
                return b"".join(out)
    if in_header:
        out.append(b"\r\n")
    return b"".join(out)


def crlf_size(data):
    """The size POP3 announces for a file: its octets with every bare LF as CRLF."""
    return len(data) + len(re.findall(rb"(?<!\r)\n", data))


def number_of(c, ms, name):
    """The message number of the file whose base name is name (from UIDL)."""
    for num, uid in listing(c, "UIDL").items():
        if uid == base_name(name):
            return num
    raise AssertionError(f"{name} not listed")


# ---------------------------------------------------------------- Letterbox mail

def test_retr_of_delivered_mail_is_the_file(mailsys, pop3):
    """For Letterbox-delivered (CRLF) mail, RETR sends the file, byte-stuffed, and
    LIST/STAT give exactly the octets of the unstuffed body."""
    body = ("..\r\n"               # a line "." (SMTP-stuffed by the sender)
            "...\r\n"              # ".."
            "..hidden\r\n"         # ".hidden"
            "x.\r\n"
            "\r\n"
            "last line\r\n")
    msg = ("From: <sender@example.net>\r\nTo: <alice@example.test>\r\n"
           "Subject: dots\r\n\r\n" + body)
    mailsys.deliver(body=msg)
    mailsys.deliver(count=1)
    c = open_session(pop3, mailsys)
    files = mailsys.messages("new")
    total = 0
    for i, path in enumerate(files, 1):
        with open(path, "rb") as f:
            data = f.read()
        _, raw = retr(c, i)
        assert raw == wire(data)
        assert unstuff(raw) == data
        size = int(c.cmd(f"LIST {i}").split()[2])
        assert size == len(unstuff(raw)) == len(data)
        total += size
    assert stat(c) == (2, total)
    _, raw = retr(c, 1)
    assert raw.endswith(b"Subject: dots\r\n\r\n..\r\n...\r\n..hidden\r\nx.\r\n\r\n"
                        b"last line\r\n")
    # Every line of the raw body ends in CRLF; no bare CR or LF.
    assert raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b"")


def test_retr_status_line_gives_the_size(mailsys, pop3):
    mailsys.deliver(count=1)
    c = open_session(pop3, mailsys)
    size = os.path.getsize(mailsys.messages("new")[0])
    assert c.cmd("RETR 1") == f"+OK {size} octets"
    assert len(unstuff(raw_body(c))) == size


# ---------------------------------------------------------------- foreign files

def test_lf_file_without_size_in_name(mailsys, pop3):
    data = (b"From: other@example.net\nSubject: LF only\n\nline one\n.dot line\n"
            b"..two dots\n.\nend\n")
    name = "1000000001.M1P1.foreign-mda"
    place(mailsys, name, data)
    mailsys.deliver(count=1)
    c = open_session(pop3, mailsys)
    assert number_of(c, mailsys, name) == 1
    expected_size = len(data) + data.count(b"\n")
    assert c.cmd("LIST 1") == f"+OK 1 {expected_size}"
    r, raw = retr(c, 1)
    assert r == f"+OK {expected_size} octets"
    assert raw == (b"From: other@example.net\r\nSubject: LF only\r\n\r\nline one\r\n"
                   b"..dot line\r\n...two dots\r\n..\r\nend\r\n")
    assert len(unstuff(raw)) == expected_size
    other = os.path.getsize(mailsys.messages("new")[-1])
    assert stat(c) == (2, expected_size + other)
    # TOP on it too.
    assert c.cmd("TOP 1 1").startswith("+OK")
    assert raw_body(c) == b"From: other@example.net\r\nSubject: LF only\r\n\r\nline one\r\n"


def test_mixed_line_ends_and_bare_cr(mailsys, pop3):
    data = b"A: 1\r\nB: 2\n\r\nbody\rwith bare CR\r\nlf\n.x\r\nno newline at end"
    name = "1000000001.M2P1.mixed"
    place(mailsys, name, data)
    c = open_session(pop3, mailsys)
    assert c.cmd("LIST 1") == f"+OK 1 {crlf_size(data)}"
    _, raw = retr(c, 1)
    assert raw == (b"A: 1\r\nB: 2\r\n\r\nbody\rwith bare CR\r\nlf\r\n..x\r\n"
                   b"no newline at end\r\n")
    assert raw == wire(data)


def test_nul_bytes_become_0x80(mailsys, pop3):
    data = b"Subject: nul\0here\r\nX: y\r\n\r\n\0start\r\nmid\0dle\r\nend\0\r\n"
    name = f"1000000001.M3P1.nul,S={len(data)}"
    place(mailsys, name, data)
    c = open_session(pop3, mailsys)
    assert c.cmd("LIST 1") == f"+OK 1 {len(data)}"
    _, raw = retr(c, 1)
    assert b"\0" not in raw
    assert raw == data.replace(b"\0", b"\x80")
    assert c.cmd("TOP 1 1").startswith("+OK")
    top = raw_body(c)
    assert b"\0" not in top
    assert top == b"Subject: nul\x80here\r\nX: y\r\n\r\n\x80start\r\n"


def test_missing_header_body_separator_is_added(mailsys, pop3):
    cases = [b"Subject: only a header\r\nX-A: b\r\n",   # no empty line, ends in CRLF
             b"Subject: no final newline",              # nor a line end
             b"Subject: lf header\nX: y\n"]
    for i, data in enumerate(cases):
        place(mailsys, f"100000000{i}.M9P1.nosep", data)
    c = open_session(pop3, mailsys)
    assert stat(c)[0] == 3
    expected = [b"Subject: only a header\r\nX-A: b\r\n\r\n",
                b"Subject: no final newline\r\n\r\n",
                b"Subject: lf header\r\nX: y\r\n\r\n"]
    for i, want in enumerate(expected, 1):
        _, raw = retr(c, i)
        assert raw == want == wire(cases[i - 1])
        assert c.cmd(f"TOP {i} 0").startswith("+OK")
        assert raw_body(c) == want
        assert c.cmd(f"TOP {i} 5").startswith("+OK")
        assert raw_body(c) == want


def test_empty_file(mailsys, pop3):
    place(mailsys, "1000000001.M4P1.empty,S=0", b"")
    c = open_session(pop3, mailsys)
    assert c.cmd("LIST 1") == "+OK 1 0"
    _, raw = retr(c, 1)
    assert raw == b"\r\n"            # only the added empty line
    assert c.cmd("UIDL 1") == "+OK 1 1000000001.M4P1.empty,S=0"


# ---------------------------------------------------------------- TOP

def test_top(mailsys, pop3):
    header = b"From: a@example.net\r\nSubject: top\r\n.Odd: header line\r\n"
    lines = [b"line 1", b".line 2", b"", b"line 4", b".", b"line 6"]
    data = header + b"\r\n" + b"".join(x + b"\r\n" for x in lines)
    place(mailsys, f"1000000001.M5P1.top,S={len(data)}", data)
    c = open_session(pop3, mailsys)
    stuffed_header = header.replace(b"\r\n.Odd", b"\r\n..Odd")
    assert c.cmd("TOP 1 0") == f"+OK {len(data)} octets"
    assert raw_body(c) == stuffed_header + b"\r\n"
    for k in range(len(lines) + 3):
        assert c.cmd(f"TOP 1 {k}").startswith("+OK")
        want = wire(data, top=k)
        got = raw_body(c)
        assert got == want, k
        # The header, the empty line and min(k, n) body lines.
        assert got.count(b"\r\n") == 4 + min(k, len(lines))
    assert c.cmd("TOP 1 18446744073709551615").startswith("+OK")
    assert raw_body(c) == wire(data)
    # TOP 1 00 is TOP 1 0.
    assert c.cmd("TOP 1 00").startswith("+OK")
    assert raw_body(c) == stuffed_header + b"\r\n"
    # TOP is not a retrieval: the message is not marked Seen at QUIT.
    assert c.cmd("QUIT").startswith("+OK")
    assert maildir_state(mailsys)["cur"] == [f"1000000001.M5P1.top,S={len(data)}:2,"]


# ---------------------------------------------------------------- streaming

@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_messages_match_reference(mailsys, pop3, seed):
    """Large messages of random lines (CRLF and bare LF ends, dots, NULs, bare CRs,
    long lines) so that every case falls on the 32 KiB read boundaries somewhere;
    the wire bytes must match the reference, the sizes the reference sizes."""
    rnd = random.Random(seed)
    datas = []
    for k in range(3):
        parts = [b"Subject: random %d\r\nX-Seed: %d\n\r\n" % (k, seed)]
        size = 0
        while size < 300_000:
            kind = rnd.random()
            if kind < 0.3:
                line = b"." * rnd.randint(1, 3) + bytes(rnd.choice(b"abc.\0")
                                                      for _ in range(rnd.randint(0, 10)))
            elif kind < 0.4:
                line = bytes(rnd.choice(b"xyz\r\0.") for _ in range(rnd.randint(0, 40)))
            elif kind < 0.45:
                line = b"L" * rnd.randint(1000, 40000)
            else:
                line = bytes(rnd.randint(0x20, 0xff) for _ in range(rnd.randint(0, 200)))
            line = line.replace(b"\n", b"")
            end = rnd.choice([b"\r\n", b"\r\n", b"\n"])
            parts.append(line + end)
            size += len(line) + len(end)
        data = b"".join(parts)
        datas.append(data)
        place(mailsys, f"100000000{k}.M{seed}P1.random{k}", data)
    c = open_session(pop3, mailsys)
    for k, data in enumerate(datas, 1):
        assert c.cmd(f"LIST {k}") == f"+OK {k} {crlf_size(data)}"
        _, raw = retr(c, k)
        assert raw == wire(data), k
        assert len(unstuff(raw)) == crlf_size(data)
        n = rnd.randint(0, 2000)
        assert c.cmd(f"TOP {k} {n}").startswith("+OK")
        assert raw_body(c) == wire(data, top=n), (k, n)
    assert c.cmd("QUIT").startswith("+OK")


def test_pipelined_retr_of_a_large_message(mailsys, pop3):
    """Many RETRs of a 600 KB message sent at once: bounded queue, answers in order."""
    line = b"0123456789" * 7 + b"\r\n"
    data = b"Subject: big\r\n\r\n" + line * (600_000 // len(line))
    place(mailsys, f"1000000001.M6P1.big,S={len(data)}", data)
    c = open_session(pop3, mailsys)
    c.send(b"RETR 1\r\n" * 12 + b"STAT\r\n")
    for _ in range(12):
        assert c.line() == f"+OK {len(data)} octets".encode()
        assert raw_body(c) == data
    assert c.line() == b"+OK 1 %d" % len(data)


def test_dovecot_w_size_is_used(mailsys, pop3):
    """Dovecot names LF files with ",S=<file size>,W=<CRLF size>": W is the size."""
    data = b"Subject: dovecot\n\nline\n"
    name = f"1000000001.M7P1.imap,S={len(data)},W={crlf_size(data)}"
    place(mailsys, name, data, sub="cur")
    c = open_session(pop3, mailsys)
    assert c.cmd("LIST 1") == f"+OK 1 {crlf_size(data)}"
    _, raw = retr(c, 1)
    assert len(unstuff(raw)) == crlf_size(data)
    assert raw == wire(data)


def test_symlinks_are_not_followed(mailsys, pop3):
    """A symbolic link in the Maildir is never read through (O_NOFOLLOW): whatever
    it points to stays unsent, with or without a size in its name."""
    target = os.path.join(mailsys.root, "secret.txt")
    with open(target, "wb") as f:
        f.write(b"Subject: secret\r\n\r\nTOP-SECRET-CONTENT\r\n")
    os.chmod(target, 0o644)
    os.symlink(target, os.path.join(mailsys.maildir, "new", "1000000001.M8P1.link,S=40"))
    os.symlink(target, os.path.join(mailsys.maildir, "new", "1000000002.M8P1.link"))
    mailsys.deliver(count=1)
    c = open_session(pop3, mailsys)
    count, _ = stat(c)
    sent = b""
    for n in range(1, count + 1):
        r = c.cmd(f"RETR {n}")
        if r.startswith("+OK"):
            sent += raw_body(c)
        else:
            assert r == "-ERR [SYS/TEMP] Cannot read the message."
        r = c.cmd(f"TOP {n} 5")
        if r.startswith("+OK"):
            sent += raw_body(c)
    assert b"Subject: test 0" in sent           # the real message was sent
    assert b"TOP-SECRET-CONTENT" not in sent
    assert c.cmd("QUIT").startswith("+OK")
    with open(target, "rb") as f:
        assert b"TOP-SECRET-CONTENT" in f.read()
