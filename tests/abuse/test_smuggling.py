"""Abuse (issue 6): SMTP smuggling on submission after AUTH, where a smuggled
envelope would be relayed with the owner's authority.

The carrier is a logged-in owner's message (to a remote recipient, so it would be
queued, or to the owner); a look-alike end of data with a bare LF or bare CR around
the dot is followed by a smuggled MAIL/RCPT/DATA to another remote recipient and a
forged From:, then the genuine CRLF.CRLF and QUIT. Only CRLF "." CRLF ends the data
(smtpd/dotstuff.c) and a message with a bare CR or LF is refused there (554 5.6.0,
README "Input rules"): exactly the replies [554 5.6.0, 221], never a 250 for the
smuggled commands, nothing in the queue or the Maildir. The same variants on port 25
are tests/proto/test_input_strictness.py::test_smuggling_*.

The map of the whole abuse list to its tests is in tests/abuse/test_flood.py.
"""
import os

import pytest

from abuse_util import OWNER_ADDR, logged_in, queue_files, replies_until_close

CARRIER_RCPT = "bob@remote.example"
SMUGGLED = (b"MAIL FROM:<" + OWNER_ADDR.encode() + b">\r\n"
            b"RCPT TO:<victim@remote.example>\r\n"
            b"DATA\r\n"
            b"From: <ceo@example.test>\r\nTo: <victim@remote.example>\r\n"
            b"Subject: smuggled\r\n\r\nsmuggled body\r\n")
FAKE_ENDS = [b"\n.\n", b"\n.\r\n", b"\r.\r", b"\r\n.\r", b"\r.\r\n", b"\r\n.\n",
             b"\n.\r", b"\r.\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"]


@pytest.fixture
def sub_sys(make_mailsys):
    ms = make_mailsys()
    return ms, ms.add_app_password("smuggler")


@pytest.mark.parametrize("rcpt", [CARRIER_RCPT, OWNER_ADDR], ids=["remote", "local"])
@pytest.mark.parametrize("fake_end", FAKE_ENDS, ids=repr)
def test_smuggling_after_auth(sub_sys, fake_end, rcpt):
    ms, pw = sub_sys
    c = logged_in(ms, pw)
    try:
        assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{rcpt}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(f"From: <{OWNER_ADDR}>\r\nTo: <{rcpt}>\r\nSubject: carrier\r\n\r\n"
               f"carrier body".encode() + fake_end + SMUGGLED + b"\r\n.\r\nQUIT\r\n")
        rs = replies_until_close(c)
    finally:
        c.close()
    assert [r[0] for r in rs] == [554, 221], rs
    assert rs[0][1][0].startswith("5.6.0 "), rs
    assert queue_files(ms) == []
    assert ms.messages("new") == [] and ms.messages("cur") == []
    assert os.listdir(os.path.join(ms.maildir, "tmp")) == []
    log = ms.read_log("smtpd")
    assert "victim@remote.example" not in log
    assert " queued id=" not in log


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r.\r\n", b"\n.\n"], ids=repr)
def test_smuggling_split_across_tls_records(sub_sys, fake_end):
    """The look-alike end cut into 1-octet TLS records: no state is lost between
    reads."""
    ms, pw = sub_sys
    c = logged_in(ms, pw)
    try:
        assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{CARRIER_RCPT}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        stream = b"Subject: carrier\r\n\r\nbody" + fake_end + SMUGGLED + b"\r\n.\r\n"
        for i in range(len(stream)):
            c.send(stream[i:i + 1])
        code, text = c.reply()
        assert (code, text[0][:5]) == (554, "5.6.0"), (code, text)
        # One reply only: the session is back in command mode, the transaction gone.
        assert c.cmd("NOOP")[0] == 250
        assert c.cmd(f"RCPT TO:<{CARRIER_RCPT}>")[0] == 503
    finally:
        c.close()
    assert queue_files(ms) == []


def test_genuine_end_is_the_only_way_to_a_second_message(sub_sys):
    """Positive control: after a real CRLF.CRLF the same bytes are commands, and the
    owner's two messages are both queued, each with its own envelope."""
    ms, pw = sub_sys
    c = logged_in(ms, pw)
    try:
        assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250
        assert c.cmd(f"RCPT TO:<{CARRIER_RCPT}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(b"Subject: first\r\n\r\nbody\r\n.\r\n" + SMUGGLED + b".\r\nQUIT\r\n")
        rs = replies_until_close(c)
    finally:
        c.close()
    assert [r[0] for r in rs] == [250, 250, 250, 354, 250, 221], rs
    assert ms.read_log("smtpd").count(" queued id=") == 2
