"""Python's smtplib against the real daemon. Every connection passes
local_hostname: without it smtplib calls socket.getfqdn(), a DNS lookup.

What smtplib puts on the wire is reproduced here (CRLF line ends; send_message
flattens with BytesGenerator), so each delivered file is compared byte for byte
after the two trace fields smtpd prepends.
"""
import email.generator
import email.policy
import io
import smtplib
import ssl

import pytest

from conftest import strip_trace, RCPT
from clientutil import delivered, received_protocol

HELO = "client.example.net"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def crlf(s):
    """What sendmail() sends for a str message: smtplib._fix_eols, then ASCII."""
    return s.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n").encode("ascii")


def flattened(msg, utf8=False):
    """The bytes send_message() transmits for msg (before dot-stuffing)."""
    buf = io.BytesIO()
    if utf8:
        g = email.generator.BytesGenerator(buf, policy=msg.policy.clone(utf8=True))
    else:
        g = email.generator.BytesGenerator(buf)
    g.flatten(msg, linesep="\r\n")
    return buf.getvalue()


# A str: sendmail() turns its LF line ends into CRLF (bytes go out as they are, and a
# bare LF is refused: RFC 5321 2.3.8).
RAW = ("From: Sender <sender@example.net>\n"
       "To: <alice@example.test>\n"
       "Subject: smtplib sendmail\n"
       "Message-ID: <sendmail-1@example.net>\n"
       "\n"
       "first line\n"
       ".leading dot\n"
       "..two\n"
       ".\n"
       "last line\n")


def test_sendmail(server):
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        assert s.sendmail("sender@example.net", [RCPT], RAW) == {}
    (got,) = delivered(server)
    assert strip_trace(got) == crlf(RAW)
    assert b"Received: from client.example.net ([127.0.0.1])" in got
    assert received_protocol(got) == "ESMTP"


def test_send_message_utf8_subject_and_body(server):
    msg = email.message.EmailMessage()
    msg["From"] = "Jörg Sender <sender@example.net>"
    msg["To"] = RCPT
    msg["Subject"] = "Grüße — ünïcödé ✓ 日本"
    msg["Message-ID"] = "<utf8-body@example.net>"
    msg["Date"] = "Sat, 01 Mar 2025 10:00:00 +0000"
    msg.set_content("Hallo Alice,\n\nGrüße aus Köln. ½ € ✓ 日本語\n.dot line\n")
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        assert s.send_message(msg) == {}
    (got,) = delivered(server)
    assert strip_trace(got) == flattened(msg)
    back = email.message_from_bytes(strip_trace(got), policy=email.policy.default)
    assert back["Subject"] == "Grüße — ünïcödé ✓ 日本"
    assert back.get_content().replace("\r\n", "\n") == \
        "Hallo Alice,\n\nGrüße aus Köln. ½ € ✓ 日本語\n.dot line\n"


def test_send_message_smtputf8_address(server):
    """An internationalised sender: smtplib sends raw UTF-8 headers and adds SMTPUTF8
    itself, so with mail_options=["SMTPUTF8"] the parameter goes out twice ("MAIL
    FROM:<josé@...> size=N SMTPUTF8 SMTPUTF8 BODY=8BITMIME"): that must still work."""
    msg = email.message.EmailMessage()
    msg["From"] = "José <josé@exämple.net>"
    msg["To"] = RCPT
    msg["Subject"] = "SMTPUTF8 ✓"
    msg["Message-ID"] = "<smtputf8-1@example.net>"
    msg.set_content("Olá!\n")
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        assert s.send_message(msg, mail_options=["SMTPUTF8"]) == {}
    (got,) = delivered(server)
    assert got.startswith("Return-Path: <josé@exämple.net>\r\n".encode())
    assert received_protocol(got) == "UTF8SMTP"
    assert strip_trace(got) == flattened(msg, utf8=True)
    assert "From: José <josé@exämple.net>\r\n".encode() in got


def test_sendmail_with_smtputf8_mail_option(server):
    data = ("From: <ñandú@example.net>\r\nTo: <alice@example.test>\r\n"
            "Subject: ¿qué tal?\r\n\r\ncuerpo en UTF-8: ñ\r\n").encode()
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        assert s.sendmail("ñandú@example.net", [RCPT], data,
                          mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
    (got,) = delivered(server)
    assert got.startswith("Return-Path: <ñandú@example.net>\r\n".encode())
    assert strip_trace(got) == data


def test_starttls(server):
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=tls_context())
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")   # not offered twice
        assert s.sendmail("sender@example.net", [RCPT], RAW) == {}
    (got,) = delivered(server)
    assert strip_trace(got) == crlf(RAW)
    assert received_protocol(got) == "ESMTPS"


def test_smtp_ssl_implicit_tls(server):
    with smtplib.SMTP_SSL("127.0.0.1", server.tls_port, local_hostname=HELO, timeout=10,
                          context=tls_context()) as s:
        assert s.sendmail("sender@example.net", [RCPT], RAW) == {}
    (got,) = delivered(server)
    assert strip_trace(got) == crlf(RAW)
    assert received_protocol(got) == "ESMTPS"


def test_several_messages_on_one_connection(server):
    sent = []
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        for i in range(5):
            m = RAW.replace("sendmail-1", f"multi-{i}") + f"message {i}\n"
            assert s.sendmail("sender@example.net", [RCPT], m) == {}
            sent.append(crlf(m))
        s.rset()
        assert s.noop()[0] == 250
    got = delivered(server, 5)
    assert sorted(strip_trace(g) for g in got) == sorted(sent)
    # One session, five transactions: the ids share the session part.
    ids = sorted(g.split(b" id ")[1].split(b"\r\n")[0] for g in got)
    assert len({i.rsplit(b".", 1)[0] for i in ids}) == 1
    assert [i.rsplit(b".", 1)[1] for i in ids] == [b"1", b"2", b"3", b"4", b"5"]


def test_foreign_recipient_refused(server):
    with smtplib.SMTP("127.0.0.1", server.port, local_hostname=HELO, timeout=10) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("sender@example.net", ["bob@elsewhere.example"], RAW)
        code, text = e.value.recipients["bob@elsewhere.example"]
        assert code == 550 and text.startswith(b"5.7.1"), (code, text)
        # Mixed: the local recipient gets it, the refused one is reported.
        refused = s.sendmail("sender@example.net", ["bob@elsewhere.example", RCPT], RAW)
        assert list(refused) == ["bob@elsewhere.example"]
        assert refused["bob@elsewhere.example"][0] == 550
    (got,) = delivered(server)
    assert strip_trace(got) == crlf(RAW)
    assert b"for <alice@example.test>" in got
