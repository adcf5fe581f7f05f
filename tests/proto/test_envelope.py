"""MAIL and RCPT (RFC 5321 §4.1.1.2-3): path syntax, ESMTP parameters (SIZE, BODY,
SMTPUTF8), the recipient policy (the owner's addresses only, never a relay, whatever
the trick) and max_recipients."""
import pytest

from conftest import greet, message, send_mail
from proto_helpers import (check, expect, delivered, assert_nothing_delivered,
                           split_message)


def mail_session(server, connect, mail="<sender@example.net>"):
    c = connect(server.port)
    greet(c)
    expect(c, f"MAIL FROM:{mail}", 250, "2.1.0")
    return c


def finish(c, body=None):
    check(c.cmd("DATA"), 354)
    c.send((body or message()).encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")


# --- MAIL FROM ----------------------------------------------------------------------

def test_null_sender_accepted(server, connect):
    c = connect(server.port)
    greet(c)
    check(send_mail(c, message(), mail_from="<>"), 250, "2.0.0")
    data, = delivered(server)
    assert data.startswith(b"Return-Path: <>\r\nReceived: ")


@pytest.mark.parametrize("line,sender", [
    ("MAIL FROM: <sender@example.net>", b"sender@example.net"),     # Outlook
    ("MAIL FROM:   <sender@example.net>", b"sender@example.net"),
    ("MAIL FROM: <>", b""),
    ("MAIL FROM:<Sender.Name+tag@Sub.Example.NET>", b"Sender.Name+tag@Sub.Example.NET"),
    ('MAIL FROM:<"john doe"@example.net>', b'"john doe"@example.net'),
    ("MAIL FROM:<sender@[192.0.2.1]>", b"sender@[192.0.2.1]"),
    ("MAIL FROM:<sender@[IPv6:2001:db8::1]>", b"sender@[IPv6:2001:db8::1]"),
    ("MAIL FROM:<@relay.example.net:sender@example.net>", b"sender@example.net"),
    ("MAIL FROM:<@a.example,@b.example:sender@example.net>", b"sender@example.net"),
])
def test_mail_from_forms_accepted(server, connect, line, sender):
    c = connect(server.port)
    greet(c)
    expect(c, line, 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    finish(c)
    data, = delivered(server)
    assert data.startswith(b"Return-Path: <" + sender + b">\r\n")


@pytest.mark.parametrize("arg", [
    "sender@example.net",                 # no angle brackets
    "<sender@example.net",
    "<sender@>",
    "<@example.net>",
    "<sender>",
    "<sender@example..net>",
    "<sender@-example.net>",
    "<sender@example.net.>",
    "<.sender@example.net>",
    "<sender.@example.net>",
    "<send..er@example.net>",
    "<send er@example.net>",
    "<sender@exa mple.net>",
    "<sender@exa_mple.net>",
    "<sender@[]>",
    "<sender@[1.2.3.4>",
    "<\"unterminated@example.net>",
    "<sender@example.net>>",
    "<sender@example.net>x",
    "<a@b@example.net>",
    "<Postmaster>",                       # only a RCPT may omit the domain
    "",
])
def test_mail_bad_address_syntax_is_501_517(server, connect, arg):
    c = connect(server.port)
    greet(c)
    expect(c, f"MAIL FROM:{arg}", 501, "5.1.7")
    # Still no transaction.
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "MAIL FROM:<sender@example.net>", 250, "2.1.0")


def test_mail_local_part_too_long_is_501_517(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<%s@example.net>" % ("a" * 64), 250, "2.1.0")
    expect(c, "RSET", 250, "2.0.0")
    expect(c, "MAIL FROM:<%s@example.net>" % ("a" * 65), 501, "5.1.7")


def test_mail_domain_too_long_is_501_517(server, connect):
    c = connect(server.port)
    greet(c)
    dom = ".".join(["d" * 50] * 6)        # 305 octets
    expect(c, f"MAIL FROM:<a@{dom}>", 501, "5.1.7")


@pytest.mark.parametrize("params", [
    "SIZE=1000", "size=1000", "BODY=7BIT", "BODY=8BITMIME", "body=8bitmime",
    "SIZE=0", "SIZE=1000 BODY=8BITMIME", "BODY=8BITMIME SIZE=1000 SMTPUTF8",
    "SMTPUTF8", "SIZE=1000  BODY=7BIT",
])
def test_mail_supported_parameters(server, connect, params):
    c = connect(server.port)
    greet(c)
    expect(c, f"MAIL FROM:<sender@example.net> {params}", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    finish(c)
    delivered(server)


@pytest.mark.parametrize("params", [
    "RET=HDRS", "ENVID=abc", "AUTH=<>", "BODY=BINARYMIME", "BODY=", "BODY",
    "SIZE=", "SIZE", "SIZE=abc", "SIZE=-1", "SIZE=1 SIZE=2", "SIZE=123456789012345678901",
    "SMTPUTF8=yes", "FOO", "FOO=BAR", "SIZE=10 XYZ",
])
def test_mail_unsupported_parameter_is_555(server, connect, params):
    c = connect(server.port)
    greet(c)
    expect(c, f"MAIL FROM:<sender@example.net> {params}", 555, "5.5.4")
    expect(c, "MAIL FROM:<sender@example.net>", 250, "2.1.0")


@pytest.mark.parametrize("params", ["NOTIFY=NEVER", "ORCPT=rfc822;alice@example.test",
                                    "FOO", "SIZE=10"])
def test_rcpt_parameters_are_555(server, connect, params):
    c = mail_session(server, connect)
    expect(c, f"RCPT TO:<alice@example.test> {params}", 555, "5.5.4")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


def test_body_8bitmime_message_stored_byte_exact(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<sender@example.net> BODY=8BITMIME", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("DATA"), 354)
    body = ("Subject: caf\u00e9\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\nGr\u00fc\u00dfe, \u65e5\u672c\r\n"
            ).encode() + bytes(range(0x80, 0x100)) + b"\r\n"
    c.send(body + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    assert split_message(data)[1] == body


# --- SMTPUTF8 (RFC 6531) ------------------------------------------------------------

def test_non_ascii_sender_without_smtputf8_is_553(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<j\u00f6ran@example.net>", 553, "5.6.7")
    expect(c, "MAIL FROM:<joran@b\u00fccher.example>", 553, "5.6.7")
    expect(c, "MAIL FROM:<j\u00f6ran@example.net> BODY=8BITMIME", 553, "5.6.7")


def test_non_ascii_recipient_without_smtputf8_is_553(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO:<alice+caf\u00e9@example.test>", 553, "5.6.7")
    expect(c, "RCPT TO:<\u00e5lice@example.test>", 553, "5.6.7")


def test_smtputf8_sender_and_recipient_accepted(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<j\u00f6ran@b\u00fccher.example> SMTPUTF8", 250, "2.1.0")
    expect(c, "RCPT TO:<alice+caf\u00e9@example.test>", 250, "2.1.5")
    # Non-ASCII but not ours: still refused as such, not as a syntax error.
    expect(c, "RCPT TO:<\u00e5lice@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<alice@exampl\u00e9.test>", 550, "5.7.1")
    body = "Subject: \u00fcml\u00e4ut\r\n\r\nH\u00e9llo\r\n"
    finish(c, body)
    data, = delivered(server)
    assert data.startswith("Return-Path: <j\u00f6ran@b\u00fccher.example>\r\n".encode())
    assert "\tfor <alice+caf\u00e9@example.test>;".encode() in data
    assert b" with UTF8SMTP id " in data
    assert data.endswith(body.encode())


# --- Recipients: ours ------------------------------------------------------------------

@pytest.mark.parametrize("rcpt", [
    "alice@example.test", "alice@example.net", "ALICE@EXAMPLE.TEST", "Alice@Example.Net",
    "alice+tag@example.test", "alice+a.b-c@example.net", "alice+@example.test",
    "ALICE+Lists@example.test", "postmaster@example.test", "POSTMASTER@example.net",
    "postmaster+x@example.test", "Postmaster", "postmaster", "PostMaster",
    '"alice"@example.test',
])
def test_owner_recipients_accepted(server, connect, rcpt):
    c = mail_session(server, connect)
    expect(c, f"RCPT TO:<{rcpt}>", 250, "2.1.5")
    finish(c)
    data, = delivered(server)
    assert f"\tfor <{rcpt}>; ".encode() in data


def test_rcpt_with_space_after_colon_accepted(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO: <alice@example.test>", 250, "2.1.5")
    finish(c)
    delivered(server)


def test_rcpt_with_source_route_to_us_accepted(server, connect):
    c = mail_session(server, connect)
    # RFC 5321 §C: the route is ignored; the mailbox is ours.
    expect(c, "RCPT TO:<@other.org:alice@example.test>", 250, "2.1.5")
    finish(c)
    data, = delivered(server)
    assert b"\tfor <alice@example.test>; " in data


@pytest.mark.parametrize("rcpt", ["bob@example.test", "bob@example.net", "alic@example.test",
                                  "alicex@example.test", "bob+alice@example.test",
                                  "root@example.test", "abuse@example.test"])
def test_unknown_local_user_is_550_511(server, connect, rcpt):
    c = mail_session(server, connect)
    expect(c, f"RCPT TO:<{rcpt}>", 550, "5.1.1")
    check(c.cmd("DATA"), 554, "5.5.1")
    assert_nothing_delivered(server)


@pytest.mark.parametrize("rcpt", [
    "alice@other.org", "postmaster@other.org", "alice@example.test.other.org",
    "alice@sub.example.test", "alice@example.testx", "alice@xexample.test",
    "alice@[127.0.0.1]", "alice@[IPv6:::1]", "postmaster@[127.0.0.1]",
])
def test_other_domains_and_literals_are_550_571(server, connect, rcpt):
    c = mail_session(server, connect)
    expect(c, f"RCPT TO:<{rcpt}>", 550, "5.7.1")
    check(c.cmd("DATA"), 554, "5.5.1")
    assert_nothing_delivered(server)


@pytest.mark.parametrize("rcpt", [
    "<alice%other.org@example.test>",          # percent hack
    "<victim%other.org@example.test>",
    "<other.org!alice@example.test>",          # bang path
    "<other.org!victim@example.test>",
    "<victim!other.org@example.test>",
    "<@example.test:victim@other.org>",        # source route through us
    "<@example.test,@example.net:victim@other.org>",
    '<"alice@other.org"@example.test>',        # quoted local part
    '<"victim@other.org"@example.test>',
    '<"victim%other.org"@example.test>',
    '<"alice@other.org">',
    "<alice@other.org@example.test>",          # two at-signs
    "<victim@other.org@example.test>",
    "<alice@example.test@other.org>",
    "<victim@other.org>",
    "<victim@other.org.>",
    "<victim@[192.0.2.1]>",
    "<victim@[example.test]>",
    "alice@other.org",
    "<alice@example.test> <victim@other.org>",
    "<alice@example.test>,<victim@other.org>",
])
def test_open_relay_tricks_never_get_250(make_server, connect, rcpt):
    s = make_server(max_bad_commands=50)
    c = mail_session(s, connect)
    code, lines = c.cmd(f"RCPT TO:{rcpt}")
    assert code in (550, 553, 501, 555), (rcpt, code, lines)
    assert lines[0][:2] == "5.", (rcpt, code, lines)
    check(c.cmd("DATA"), 554, "5.5.1")
    assert_nothing_delivered(s)


def test_relay_tricks_exact_codes(make_server, connect):
    s = make_server(max_bad_commands=50)
    c = mail_session(s, connect)
    expect(c, "RCPT TO:<alice%other.org@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<other.org!alice@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<@example.test:victim@other.org>", 550, "5.7.1")
    expect(c, '<"alice@other.org"@example.test>'.join(["RCPT TO:", ""]), 550, "5.1.1")
    expect(c, "RCPT TO:<alice@other.org@example.test>", 501, "5.1.3")
    expect(c, "RCPT TO:<alice@[127.0.0.1]>", 550, "5.7.1")
    expect(c, "RCPT TO:<alice@other.org>", 550, "5.7.1")


@pytest.mark.parametrize("arg", ["alice@example.test", "<alice@example.test", "<alice>",
                                 "<@example.test>", "<alice@>", "<alice@example..test>",
                                 "<alice@example.test>x", "<>", "<alice@[]>", "",
                                 "<al ice@example.test>", "<\"alice@example.test>"])
def test_rcpt_bad_syntax_is_501_513(server, connect, arg):
    c = mail_session(server, connect)
    expect(c, f"RCPT TO:{arg}", 501, "5.1.3")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


def test_rcpt_local_part_too_long(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO:<alice+%s@example.test>" % ("t" * 58), 250, "2.1.5")   # 64
    expect(c, "RCPT TO:<alice+%s@example.test>" % ("t" * 59), 501, "5.1.3")   # 65


def test_failed_and_good_recipients_mixed(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO:<bob@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "RCPT TO:<victim@other.org>", 550, "5.7.1")
    finish(c)
    data, = delivered(server)
    assert b"\tfor <alice@example.test>; " in data


def test_several_recipients_one_file(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+x@example.net>", 250, "2.1.5")
    expect(c, "RCPT TO:<postmaster@example.test>", 250, "2.1.5")
    finish(c)
    data, = delivered(server)
    # More than one recipient: no "for" clause (RFC 5321 §4.4 privacy).
    trace, _ = split_message(data)
    assert b"for <" not in trace


def test_data_after_all_recipients_failed_is_554(server, connect):
    c = mail_session(server, connect)
    expect(c, "RCPT TO:<bob@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<victim@other.org>", 550, "5.7.1")
    expect(c, "DATA", 554, "5.5.1")
    # Not in DATA mode: commands still work, and the transaction is still open.
    expect(c, "NOOP", 250, "2.0.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    finish(c)
    delivered(server)


# --- max_recipients (RFC 5321 §4.5.3.1.10) ------------------------------------------

def test_max_recipients_gives_452(make_server, connect):
    s = make_server(max_recipients=3)
    c = mail_session(s, connect)
    for r in ("alice@example.test", "alice+1@example.test", "postmaster@example.net"):
        expect(c, f"RCPT TO:<{r}>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+4@example.test>", 452, "4.5.3")
    expect(c, "RCPT TO:<alice+5@example.test>", 452, "4.5.3")
    finish(c)
    delivered(s)
    # The count starts again with the next transaction.
    expect(c, "MAIL FROM:<sender@example.net>", 250, "2.1.0")
    for r in ("alice@example.test", "alice+1@example.test", "alice+2@example.test"):
        expect(c, f"RCPT TO:<{r}>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+4@example.test>", 452, "4.5.3")


def test_refused_recipients_do_not_use_up_max_recipients(make_server, connect):
    s = make_server(max_recipients=2)
    c = mail_session(s, connect)
    expect(c, "RCPT TO:<bob@example.test>", 550, "5.1.1")
    expect(c, "RCPT TO:<bob@other.org>", 550, "5.7.1")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+2@example.test>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+3@example.test>", 452, "4.5.3")


def test_default_max_recipients_is_100(server, connect):
    c = mail_session(server, connect)
    for i in range(100):
        expect(c, f"RCPT TO:<alice+{i}@example.test>", 250, "2.1.5")
    expect(c, "RCPT TO:<alice+100@example.test>", 452, "4.5.3")
