"""Delivery status notifications (queue/dsn.c) as a mail reader sees them.

tests/outbound/dsnwrite.c delivers a report about a message file into a Maildir; the
file it leaves in new/ is parsed with Python's email package (policy.default) and
checked against RFC 6522 (multipart/report: text/plain, message/delivery-status,
text/rfc822-headers), RFC 3464 (the delivery-status fields, parsed block by block with
HeaderParser), RFC 3834 (Auto-Submitted) and the Maildir's own rules (CRLF only,
",S=" the file's size).
"""
import email
import email.policy
import email.utils
import os
import re
import subprocess

import pytest

from conftest import BUILD, TOP

DSNWRITE = os.path.join(TOP, BUILD, "tests", "dsnwrite")
HOST = "mail.example.test"
SENDER = "alice@example.test"

ORIGINAL = (b"Received: from client (client [192.0.2.9])\r\n"
            b"\tby mail.example.test (Letterbox) with ESMTPSA id q1\r\n"
            b"From: Alice <alice@example.test>\r\n"
            b"To: Bob <bob@example.com>\r\n"
            b"Subject: Lunch on Friday?\r\n"
            b"Message-ID: <orig-1@example.test>\r\n"
            b"\r\n"
            b"Shall we?\r\n"
            b"Subject: a body line, not a header\r\n")


@pytest.fixture(scope="session")
def dsnwrite():
    """tests/outbound/dsnwrite.c's binary, built (or brought up to date) by make for the
    build tree in LB_BUILD."""
    argv = ["make", "-s", "-C", TOP]
    if BUILD == "build/asan":
        argv.append("SANITIZE=address,undefined")
    subprocess.run(argv + [os.path.join(BUILD, "tests", "dsnwrite")], check=True)
    return DSNWRITE


def write_dsn(dsnwrite, tmp_path, rcpts, message=ORIGINAL, extra=()):
    """Deliver a report for message about rcpts, each (action, addr, status, mta,
    diag), and check_report() it; return (raw bytes, parsed message, its parts, the
    per-recipient fields)."""
    msgfile = tmp_path / "message"
    msgfile.write_bytes(message)
    maildir = tmp_path / "Maildir"
    argv = [dsnwrite, "-h", HOST, "-s", SENDER, *extra, str(maildir), str(msgfile)]
    for r in rcpts:
        argv += list(r)
    out = subprocess.run(argv, check=True, capture_output=True).stdout
    name = out.decode().strip()
    assert os.listdir(maildir / "new") == [name]
    assert os.listdir(maildir / "tmp") == []
    assert os.listdir(maildir / "cur") == []
    path = maildir / "new" / name
    raw = path.read_bytes()
    # Maildir++ ",S=": the size in (CRLF) octets is the file's size.
    m = re.search(r",S=(\d+)$", name)
    assert m and int(m.group(1)) == len(raw) == os.path.getsize(path)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    return (raw, msg, *check_report(raw, msg, len(rcpts)))


def assert_crlf(raw):
    assert b"\0" not in raw
    assert re.search(rb"(?<!\r)\n", raw) is None, "bare LF"
    assert re.search(rb"\r(?!\n)", raw) is None, "bare CR"
    assert raw.endswith(b"\r\n")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def raw_parts(raw, boundary):
    """The three body parts' bytes (header + body) between the delimiters."""
    delim = b"\r\n--" + boundary.encode()
    chunks = raw.split(delim)
    assert chunks[-1] == b"--\r\n", "closing delimiter"
    return [c[2:] for c in chunks[1:-1]]       # each starts after its delimiter's CRLF


def status_blocks(body):
    """RFC 3464 §2.1: the delivery-status body is blocks of header fields separated by
    empty lines; each parsed with HeaderParser."""
    assert body.endswith(b"\r\n")
    blocks = [b for b in body.split(b"\r\n\r\n") if b.strip()]
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    return [parser.parsebytes(b + b"\r\n\r\n") for b in blocks]


def check_report(raw, msg, nrcpt):
    """What every report must be; returns (its parts, the per-recipient fields)."""
    assert_crlf(raw)
    assert msg["Return-Path"] == "<>"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    assert msg["From"].addresses[0].addr_spec == f"MAILER-DAEMON@{HOST}"
    assert msg["From"].addresses[0].display_name == "Mail Delivery System"
    assert msg["To"].addresses[0].addr_spec == SENDER
    assert email.utils.parsedate_to_datetime(str(msg["Date"])) is not None
    assert re.fullmatch(r"<[^<>@\s]+@" + re.escape(HOST) + ">", str(msg["Message-ID"]))
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    assert not msg.defects
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]
    for p in parts:
        assert not p.defects
    # The email package's own view of the report: one Message per block.
    blocks = parts[1].get_payload()
    assert len(blocks) == 1 + nrcpt
    # And block by block from the bytes, as RFC 3464 defines it.
    body = raw_parts(raw, msg.get_param("boundary"))[1].split(b"\r\n\r\n", 1)[1]
    assert all(b < 0x80 for b in body), "message/delivery-status is 7-bit"
    fields = status_blocks(body)
    assert len(fields) == 1 + nrcpt
    per_msg = fields[0]
    assert per_msg["Reporting-MTA"] == f"dns; {HOST}"
    assert per_msg["X-Letterbox-Queue-ID"] == "QDSNTEST"
    assert email.utils.parsedate_to_datetime(per_msg["Arrival-Date"]) is not None
    for b, f in zip(blocks, fields):
        assert dict(b.items()) == dict(f.items())
    return parts, fields[1:]


def returned_header(parts):
    """The text/rfc822-headers part: its bytes, and those parsed."""
    hdr = parts[2].get_payload(decode=True)
    return hdr, email.message_from_bytes(hdr, policy=email.policy.default)


def test_failed(dsnwrite, tmp_path):
    raw, msg, parts, rcpts = write_dsn(dsnwrite, tmp_path, [
        ("failed", "bob@example.com", "5.1.1", "mx.example.com",
         "550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown")])
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    r = rcpts[0]
    assert r["Final-Recipient"] == "rfc822; bob@example.com"
    assert r["Action"] == "failed"
    assert r["Status"] == "5.1.1"
    assert r["Remote-MTA"] == "dns; mx.example.com"
    assert r["Diagnostic-Code"] == ("smtp; 550 5.1.1 <bob@example.com>: Recipient "
                                    "address rejected: User unknown")
    assert email.utils.parsedate_to_datetime(r["Last-Attempt-Date"]) is not None
    assert "Will-Retry-Until" not in r
    text = parts[0].get_content()
    assert "bob@example.com" in text and "User unknown" in text
    assert parts[0].get_content_charset() == "us-ascii"
    # The original header, and nothing of the body.
    hdr, returned = returned_header(parts)
    assert returned["Subject"] == "Lunch on Friday?"
    assert returned["Message-ID"] == "<orig-1@example.test>"
    assert hdr == ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n"
    assert b"Shall we?" not in raw and b"a body line" not in raw


def test_mixed_failed_and_delayed(dsnwrite, tmp_path):
    _, msg, parts, rcpts = write_dsn(dsnwrite, tmp_path, [
        ("delayed", "carol@example.net", "4.4.1", "-",
         "connect to mx.example.net[192.0.2.7]:25: Connection refused"),
        ("failed", "bob@example.com", "5.1.1", "mx.example.com", "550 5.1.1 no such user"),
        ("failed", "dave@nowhere.example", "5.1.2", "-", "-"),
    ])
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert [r["Action"] for r in rcpts] == ["delayed", "failed", "failed"]
    assert [r["Status"] for r in rcpts] == ["4.4.1", "5.1.1", "5.1.2"]
    assert rcpts[0]["Diagnostic-Code"] == ("X-Letterbox; connect to "
                                           "mx.example.net[192.0.2.7]:25: Connection refused")
    assert "Remote-MTA" not in rcpts[0]
    assert email.utils.parsedate_to_datetime(rcpts[0]["Will-Retry-Until"]) is not None
    assert "Will-Retry-Until" not in rcpts[1] and "Will-Retry-Until" not in rcpts[2]
    assert "Diagnostic-Code" not in rcpts[2]
    text = " ".join(parts[0].get_content().split())
    assert "still being tried" in text
    for a in ("carol@example.net", "bob@example.com", "dave@nowhere.example"):
        assert f"<{a}>" in text


def test_delayed(dsnwrite, tmp_path):
    _, msg, parts, rcpts = write_dsn(dsnwrite, tmp_path, [
        ("delayed", "carol@example.net", "4.4.2", "mx.example.net",
         "421 4.4.2 mx.example.net: timeout")])
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    assert rcpts[0]["Action"] == "delayed"
    assert rcpts[0]["Status"] == "4.4.2"
    until = email.utils.parsedate_to_datetime(rcpts[0]["Will-Retry-Until"])
    text = " ".join(parts[0].get_content().split())
    assert "WARNING ONLY" in text
    assert email.utils.format_datetime(until)[5:16].lstrip("0") in text
    _, returned = returned_header(parts)
    assert returned["Subject"] == "Lunch on Friday?"


def test_bare_lf_message_and_offset(dsnwrite, tmp_path):
    """A stored message with bare LFs comes back with CRLFs; -o skips a queue
    envelope before the message."""
    message = b"ENVELOPE\n" + ORIGINAL.replace(b"\r\n", b"\n")
    raw, _, parts, _ = write_dsn(dsnwrite, tmp_path, [
        ("failed", "bob@example.com", "5.0.0", "-", "-")], message=message,
        extra=("-o", "9"))
    hdr, _ = returned_header(parts)
    assert hdr == ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n"
    assert b"ENVELOPE" not in raw


def test_hostile_strings(dsnwrite, tmp_path):
    """CRLF injection, 8-bit and overlong text from a remote server stay inside their
    fields; a non-ASCII address is given RFC 6533 style."""
    diag = "550-5.1.1 first line\r\n550 5.1.1 second line\r\nX-Injected: yes " + "w" * 3000
    _, _, parts, rcpts = write_dsn(dsnwrite, tmp_path, [
        ("failed", "bj\u00f6rn@example.com", "5.1.1", "mx.example.com\r\nX-Evil: 1", diag)])
    r = rcpts[0]
    assert "X-Injected" not in r and "X-Evil" not in r
    assert r["Final-Recipient"] == "utf-8; bj\\x{F6}rn@example.com"
    assert r["Remote-MTA"] == "dns; mx.example.com X-Evil: 1"
    assert r["Diagnostic-Code"].startswith("smtp; 550-5.1.1 first line 550 5.1.1 second")
    assert parts[0].get_content_charset() == "utf-8"
    assert "bj\u00f6rn@example.com" in parts[0].get_content()


def test_long_header_cut(dsnwrite, tmp_path):
    """A header over 64 KiB is cut at a line end, and the text says so."""
    lines = [b"Subject: Lunch on Friday?\r\n"]
    lines += [b"X-Filler-%05d: %s\r\n" % (i, b"f" * 60) for i in range(2000)]
    message = b"".join(lines) + b"\r\nbody\r\n"
    _, _, parts, _ = write_dsn(dsnwrite, tmp_path, [
        ("failed", "bob@example.com", "5.1.1", "-", "-")], message=message)
    hdr, _ = returned_header(parts)
    assert len(hdr) <= 65536
    assert message.startswith(hdr) and hdr.endswith(b"\r\n")
    assert b"X-Filler-01999" not in hdr
    assert "is longer than 65536 octets" in " ".join(parts[0].get_content().split())
