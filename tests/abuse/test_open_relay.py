"""Abuse (issue 6): the open-relay battery, on every SMTP port, with a live path out.

The remote domain has a real MX (a loopback dnsmasq, tests/outbound/conftest.py)
pointing at a sink SMTP server (mx_port), and IP literals [127.0.0.1] lead to the same
sink: anything smtpd relayed would arrive there. Contexts:
  - port 25 and the implicit-TLS MX port, unauthenticated;
  - submission (587 before and after STARTTLS, 465) before AUTH;
  - submission after a failed AUTH ("authenticated as nobody"): a user that does not
    exist, an empty user, "=" (an empty response), the owner with a wrong password,
    an authzid other than the authcid with the right password (RFC 4616 §2), and
    AUTH LOGIN with an unknown and an empty user.
Tricks: the percent hack, bang paths (with and without our domain), source routes
through us and ending elsewhere, quoted local parts holding "@" or "%", two "@",
trailing dots, IP literals ([127.0.0.1], [IPv6:::1], mapped v4), upper case, our
domain as a prefix of another (example.test.remote.example), postmaster@remote.
Each gets its exact code: 550 5.7.1 (not ours), 550 5.1.1 (our domain, no such
user), 501 5.1.3 (no valid path), 530 5.7.0 / 503 5.5.1 (submission without AUTH).
The few that name the owner's own mailbox (a subaddress tag holding "%" or "!", a
source route ending at us) are delivered to the owner's Maildir, which is no relay.
At the end the queue is empty (`letterbox queue list`, <state_dir>/queue) and the
sink has received nothing until the owner, logged in, sends one message to the same
remote domain: it arrives there, alone, so the path out was live all along.

The map of the whole abuse list to its tests is in tests/abuse/test_flood.py.
"""
import time

import pytest

from abuse_util import OWNER_ADDR, b64, queue_files, submission
from conftest import Client, greet, wait_for
from outbound.conftest import start_dnsmasq, start_sink, stop_dnsmasq

REMOTE = "remote.example"
FAST = {"retry_initial": "1s", "retry_max": "2s", "connect_timeout": "3s",
        "command_timeout": "10s", "delay_warning": "0", "max_bad_commands": "1000"}

NOT_OURS = (550, "5.7.1")
NO_SUCH_USER = (550, "5.1.1")
BAD_PATH = (501, "5.1.3")

# RCPT argument -> the exact refusal on an MX port.
TRICKS = [
    # percent hack
    (f"<alice%{REMOTE}@example.test>", NO_SUCH_USER),
    (f"<victim%{REMOTE}@example.test>", NO_SUCH_USER),
    (f"<victim%{REMOTE}>", BAD_PATH),
    (f"<victim@{REMOTE}%example.test>", BAD_PATH),
    (f"<alice@example.test%{REMOTE}>", BAD_PATH),
    # bang paths
    (f"<{REMOTE}!alice@example.test>", NO_SUCH_USER),
    (f"<{REMOTE}!victim@example.test>", NO_SUCH_USER),
    (f"<{REMOTE}!victim>", BAD_PATH),
    # source routes (RFC 5321 App. C: the route is ignored, the mailbox decides)
    (f"<@example.test:victim@{REMOTE}>", NOT_OURS),
    (f"<@example.test,@example.net:victim@{REMOTE}>", NOT_OURS),
    (f"<@a.example,@b.example:victim@{REMOTE}>", NOT_OURS),
    (f"<@[127.0.0.1]:victim@{REMOTE}>", BAD_PATH),
    # quoted local parts
    (f'<"victim@{REMOTE}"@example.test>', NO_SUCH_USER),
    (f'<"alice@{REMOTE}"@example.test>', NO_SUCH_USER),
    (f'<"victim%{REMOTE}"@example.test>', NO_SUCH_USER),
    (f'<"alice\\"@{REMOTE}"@example.test>', NO_SUCH_USER),
    (f'<"victim@{REMOTE}">', BAD_PATH),
    (f'<"alice"@{REMOTE}>', NOT_OURS),
    # "@" tricks
    (f"<victim@{REMOTE}@example.test>", BAD_PATH),
    (f"<alice@example.test@{REMOTE}>", BAD_PATH),
    (f"<alice+victim@{REMOTE}@example.test>", BAD_PATH),
    (f"<alice\\@{REMOTE}@example.test>", BAD_PATH),
    (f"<alice@example.test:{REMOTE}>", BAD_PATH),
    # trailing dots
    (f"<victim@{REMOTE}.>", BAD_PATH),
    ("<alice@example.test.>", BAD_PATH),
    # IP literals: all of them lead to the sink
    ("<victim@[127.0.0.1]>", NOT_OURS),
    ("<alice@[127.0.0.1]>", NOT_OURS),
    ("<postmaster@[127.0.0.1]>", NOT_OURS),
    ("<alice@[IPv6:::1]>", NOT_OURS),
    ("<alice@[IPv6:::ffff:127.0.0.1]>", NOT_OURS),
    # case, look-alike and sub-domains, our host name
    (f"<victim@{REMOTE.upper()}>", NOT_OURS),
    (f"<ALICE@EXAMPLE.TEST.{REMOTE.upper()}>", NOT_OURS),
    (f"<alice@example.test.{REMOTE}>", NOT_OURS),
    ("<alice@sub.example.test>", NOT_OURS),
    ("<alice@mx.example.test>", NOT_OURS),
    ("<alice@localhost>", NOT_OURS),
    # postmaster is ours only in our domains
    (f"<postmaster@{REMOTE}>", NOT_OURS),
    (f"<Postmaster@{REMOTE.upper()}>", NOT_OURS),
    (f"<victim@{REMOTE}>", NOT_OURS),
    # two paths in one command
    (f"<victim@{REMOTE}>,<alice@example.test>", BAD_PATH),
]

# Tricks that name the owner's own mailbox: delivered, to the Maildir only.
OWNER_TRICKS = [
    f"<@{REMOTE}:alice@example.test>",              # a source route ending at us
    f"<alice+victim%{REMOTE}@example.test>",         # the tag is just text
    f"<alice+{REMOTE}!victim@example.test>",
    f'<"alice+victim@{REMOTE}"@example.test>',
]


@pytest.fixture
def relay_sys(tmp_path, make_mailsys):
    """(mailsys, sink): remote.example's MX and [127.0.0.1] both reach the sink."""
    (tmp_path / "sink").mkdir()
    sink = start_sink(tmp_path / "sink")
    dns_proc, dns_addr = start_dnsmasq(tmp_path, mx=[(REMOTE, f"mx.{REMOTE}", 10)],
                                       a=[(f"mx.{REMOTE}", "127.0.0.1")])
    try:
        ms = make_mailsys(dns_resolver=dns_addr, mx_port=sink.port, **FAST)
        yield ms, sink
    finally:
        sink.stop()
        stop_dnsmasq(dns_proc)


def check(reply, expected):
    code, text = reply
    assert (code, text[0].split(" ", 1)[0]) == expected, reply


def queue_is_empty(ms):
    listing = ms.cli("queue", "list").stdout
    assert listing.strip().endswith("0 message(s) in the queue"), listing
    assert queue_files(ms) == []


def assert_nothing_relayed(ms, sink):
    """Nothing queued, nothing at the sink; then the owner's own message to the same
    remote domain does arrive there, and only it."""
    queue_is_empty(ms)
    assert sink.messages() == [], sink.messages()
    pw = ms.add_app_password(f"control{time.time_ns()}")
    c = submission(ms)
    try:
        assert c.cmd("AUTH PLAIN " + b64(f"\0{ms.user}\0{pw}"))[0] == 235
        assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250
        assert c.cmd(f"RCPT TO:<control@{REMOTE}>")[0] == 250
        assert c.cmd("DATA")[0] == 354
        c.send(f"From: <{OWNER_ADDR}>\r\nTo: <control@{REMOTE}>\r\nSubject: control\r\n"
               f"\r\nThe only message that may leave.\r\n.\r\n".encode())
        assert c.reply()[0] == 250
    finally:
        c.close()
    ((info, data),) = sink.wait_messages(1)
    assert info["rcpt_tos"] == [f"control@{REMOTE}"]
    assert b"Subject: control\r\n" in data
    wait_for(lambda: queue_files(ms) == [], what="the control message out of the queue")
    assert len(sink.messages()) == 1


def owner_messages(ms):
    out = []
    for path in ms.messages("new"):
        with open(path, "rb") as f:
            out.append(f.read())
    return out


# ------------------------------------------------------------------ MX ports

@pytest.mark.parametrize("port", ["smtp", "smtps"])
def test_mx_port_refuses_every_trick(relay_sys, port):
    ms, sink = relay_sys
    c = Client(ms.smtp_port) if port == "smtp" else Client(ms.smtps_port,
                                                           implicit_tls=True)
    try:
        greet(c)
        # AUTH is no way in on an MX port, whatever it says.
        check(c.cmd("AUTH PLAIN " + b64(f"\0{ms.user}\0{ms.password}")), (503, "5.5.1"))
        assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
        for rcpt, expected in TRICKS:
            reply = c.cmd(f"RCPT TO:{rcpt}")
            assert reply[0] != 250, (rcpt, reply)
            check(reply, expected)
        check(c.cmd("DATA"), (554, "5.5.1"))          # no valid recipient
        # The owner's own mailbox, however it is spelled, is delivered: locally.
        for rcpt in OWNER_TRICKS:
            assert c.cmd("RSET")[0] == 250
            assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
            check(c.cmd(f"RCPT TO:{rcpt}"), (250, "2.1.5"))
            assert c.cmd("DATA")[0] == 354
            c.send(f"Subject: {rcpt}\r\n\r\nfor the owner\r\n.\r\n".encode())
            check(c.reply(), (250, "2.0.0"))
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    subjects = [data.split(b"\r\nSubject: ", 1)[1].split(b"\r\n", 1)[0].decode()
                for data in owner_messages(ms)]
    assert sorted(subjects) == sorted(OWNER_TRICKS)
    assert_nothing_relayed(ms, sink)


# ------------------------------------------------------------ submission ports

def assert_no_transaction(c, ms):
    """Without AUTH: MAIL is refused (530), so every RCPT is out of sequence (503),
    the owner's own address included."""
    for sender in (OWNER_ADDR, f"victim@{REMOTE}", ""):
        check(c.cmd(f"MAIL FROM:<{sender}>"), (530, "5.7.0"))
    for rcpt, _ in TRICKS + [(f"<{OWNER_ADDR}>", None)]:
        reply = c.cmd(f"RCPT TO:{rcpt}")
        assert reply[0] != 250, (rcpt, reply)
        check(reply, (503, "5.5.1"))
    check(c.cmd("DATA"), (503, "5.5.1"))


@pytest.mark.parametrize("where", ["587", "587-starttls", "465"])
def test_submission_before_auth(relay_sys, where):
    ms, sink = relay_sys
    port = ms.subs_port if where == "465" else ms.sub_port
    tls = {"587": "none", "587-starttls": "starttls", "465": "implicit"}[where]
    c = submission(ms, port, tls)
    try:
        assert_no_transaction(c, ms)
    finally:
        c.close()
    assert owner_messages(ms) == []
    assert_nothing_relayed(ms, sink)


def failed_auth_variants(ms):
    """(name, [(line, expected reply)]) of logins that must fail."""
    return [
        ("unknown user", [("AUTH PLAIN " + b64(b"\0nosuchuser\0Some-pass-1"),
                           (535, "5.7.8"))]),
        ("empty user", [("AUTH PLAIN " + b64(b"\0\0Some-pass-1"), (535, "5.7.8"))]),
        ("empty response", [("AUTH PLAIN =", (535, "5.7.8"))]),
        ("owner, wrong password", [("AUTH PLAIN " + b64(f"\0{ms.user}\0wrong-Pass-9"),
                                    (535, "5.7.8"))]),
        ("authzid admin, right password", [
            ("AUTH PLAIN " + b64(f"admin\0{ms.user}\0{ms.password}"), (535, "5.7.8"))]),
        ("authzid owner, authcid other", [
            ("AUTH PLAIN " + b64(f"{ms.user}\0nosuchuser\0{ms.password}"),
             (535, "5.7.8"))]),
        ("LOGIN unknown user", [("AUTH LOGIN", (334, "VXNlcm5hbWU6")),
                                (b64("nosuchuser"), (334, "UGFzc3dvcmQ6")),
                                (b64(ms.password), (535, "5.7.8"))]),
        # "=" means empty only as an initial response (RFC 4954 §4); here it is bad
        # base64, and an empty line is an empty user name.
        ("LOGIN '=' user", [("AUTH LOGIN", (334, "VXNlcm5hbWU6")),
                            ("=", (501, "5.5.2"))]),
        ("LOGIN empty user", [("AUTH LOGIN", (334, "VXNlcm5hbWU6")),
                              ("", (501, "5.5.2"))]),
    ]


def test_submission_after_failed_auth(relay_sys):
    """Each failed login on its own connection from its own address (the throttle
    would otherwise delay the next), then the whole battery: never a transaction."""
    ms, sink = relay_sys
    for i, (name, steps) in enumerate(failed_auth_variants(ms)):
        c = submission(ms, source=f"127.0.0.{40 + i}")
        try:
            for line, expected in steps:
                reply = c.cmd(line)
                assert (reply[0], reply[1][0].split(" ", 1)[0]) == expected, \
                    (name, line, reply)
            assert_no_transaction(c, ms)
        finally:
            c.close()
    log = ms.read_log("smtpd")
    assert "auth result=ok" not in log
    assert " login user=" not in log
    assert owner_messages(ms) == []
    assert_nothing_relayed(ms, sink)
