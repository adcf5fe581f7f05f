"""RFC 5321 session commands: greeting, EHLO/HELO, NOOP, RSET, QUIT, HELP, VRFY, EXPN,
unknown verbs, commands out of order, argument errors, the bad-command limit and the
idle timeout."""
import pytest

from conftest import greet, message, send_mail
from proto_helpers import (check, expect, replies_until_close, codes, delivered,
                           assert_nothing_delivered, mail_rcpt_data)


def test_greeting_is_220_with_hostname(server, connect):
    c = connect(server.port)
    code, lines = c.reply()
    assert code == 220
    assert lines == ["mx.example.test ESMTP Letterbox"]


def test_ehlo_lists_the_extensions(server, connect):
    c = connect(server.port)
    lines = greet(c)
    assert lines[0] == "mx.example.test"
    ext = lines[1:]
    assert "PIPELINING" in ext
    assert "SIZE 36700160" in ext            # the default max_message_size, 35M
    assert "8BITMIME" in ext
    assert "ENHANCEDSTATUSCODES" in ext
    assert "SMTPUTF8" in ext
    assert "STARTTLS" in ext                 # a certificate is configured, not in TLS yet
    # Not offered: no AUTH on port 25, no DSN, no CHUNKING yet.
    assert not any(e.split()[0] in ("AUTH", "DSN", "CHUNKING", "BINARYMIME") for e in ext)
    assert len(ext) == len(set(ext))


def test_ehlo_size_follows_config(make_server, connect):
    s = make_server(max_message_size="2K")
    c = connect(s.port)
    assert "SIZE 2048" in greet(c)


def test_ehlo_without_domain_is_501(server, connect):
    c = connect(server.port)
    c.reply()
    expect(c, "EHLO", 501, "5.5.4")
    expect(c, "HELO", 501, "5.5.4")
    # Still not greeted: MAIL is out of sequence.
    expect(c, "MAIL FROM:<a@example.net>", 503, "5.5.1")


def test_ehlo_address_literal_thunderbird_style(server, connect):
    c = connect(server.port)
    c.reply()
    code, lines = c.cmd("EHLO [127.0.0.1]")
    assert code == 250
    assert send_mail(c, message())[0] == 250
    data, = delivered(server)
    assert b"Received: from [127.0.0.1] ([127.0.0.1])" in data


def test_helo_single_line_and_mail_works(server, connect):
    c = connect(server.port)
    c.reply()
    code, lines = c.cmd("HELO client.example.net")
    assert code == 250
    assert lines == ["mx.example.test"]
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    # HELO means plain SMTP in the Received: with-clause (RFC 3848).
    assert b" with SMTP id " in data
    assert b"Received: from client.example.net ([127.0.0.1])" in data


def test_ehlo_twice_and_helo_after_ehlo(server, connect):
    c = connect(server.port)
    greet(c)
    assert c.cmd("EHLO again.example.net")[0] == 250
    assert c.cmd("HELO third.example.net")[0] == 250
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    assert b"Received: from third.example.net (" in data
    assert b" with SMTP id " in data


def test_ehlo_resets_the_transaction(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    assert c.cmd("EHLO client.example.net")[0] == 250
    expect(c, "DATA", 503, "5.5.1")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")


def test_helo_argument_with_comment_characters_is_sanitised(server, connect):
    c = connect(server.port)
    c.reply()
    assert c.cmd("EHLO evil(x)\\y.example.net trailing words")[0] == 250
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    assert b"Received: from evil?x??y.example.net ([127.0.0.1])" in data


def test_noop(server, connect):
    c = connect(server.port)
    c.reply()
    expect(c, "NOOP", 250, "2.0.0")          # allowed before EHLO
    greet_lines = c.cmd("EHLO client.example.net")
    assert greet_lines[0] == 250
    expect(c, "NOOP", 250, "2.0.0")
    expect(c, "NOOP with an argument", 250, "2.0.0")   # RFC 5321 §4.1.1.9 allows one
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "NOOP", 250, "2.0.0")          # does not touch the transaction
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


def test_rset_clears_the_transaction(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "RSET", 250, "2.0.0")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "DATA", 503, "5.5.1")
    # A new transaction after RSET works and the session keeps its EHLO.
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    assert data.startswith(b"Return-Path: <sender@example.net>\r\n")
    assert b" with ESMTP id " in data


def test_rset_before_ehlo_and_without_transaction(server, connect):
    c = connect(server.port)
    c.reply()
    expect(c, "RSET", 250, "2.0.0")
    # RSET does not greet the client.
    expect(c, "MAIL FROM:<a@example.net>", 503, "5.5.1")
    assert c.cmd("EHLO client.example.net")[0] == 250
    expect(c, "RSET", 250, "2.0.0")
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")


def test_rset_with_argument_is_501(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RSET now", 501, "5.5.4")
    # The refused RSET did not reset anything.
    expect(c, "MAIL FROM:<a@example.net>", 503, "5.5.1")


def test_quit_closes_with_221(server, connect):
    c = connect(server.port)
    greet(c)
    rs = c.cmd("QUIT")
    check(rs, 221, "2.0.0")
    assert c.closed()


def test_quit_before_ehlo(server, connect):
    c = connect(server.port)
    c.reply()
    check(c.cmd("QUIT"), 221, "2.0.0")
    assert c.closed()


def test_quit_with_argument_is_501_and_session_goes_on(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "QUIT now", 501, "5.5.4")
    expect(c, "NOOP", 250, "2.0.0")


def test_quit_in_transaction_delivers_nothing(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("QUIT"), 221, "2.0.0")
    assert c.closed()
    assert_nothing_delivered(server)


def test_help_is_214(server, connect):
    c = connect(server.port)
    c.reply()
    lines = expect(c, "HELP", 214, "2.0.0")
    assert len(lines) >= 1
    text = " ".join(lines)
    for verb in ("EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT"):
        assert verb in text
    expect(c, "HELP MAIL", 214, "2.0.0")


@pytest.mark.parametrize("who", ["alice", "alice@example.test", "nosuchuser",
                                 "nosuchuser@example.test", "postmaster",
                                 "someone@other.org"])
def test_vrfy_is_252_and_discloses_nothing(server, connect, who):
    c = connect(server.port)
    greet(c)
    code, lines = c.cmd(f"VRFY {who}")
    assert code == 252
    assert lines[0].startswith("2.")
    # The same text whoever is asked about: nothing tells an existing user apart.
    ref = connect(server.port)
    greet(ref)
    assert ref.cmd("VRFY zz-certainly-not-a-user") == (code, lines)
    assert who.encode() not in "\n".join(lines).encode()


def test_vrfy_without_argument_is_501(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "VRFY", 501, "5.5.4")


def test_expn_is_502(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "EXPN staff", 502, "5.5.1")
    expect(c, "EXPN alice", 502, "5.5.1")
    expect(c, "NOOP", 250, "2.0.0")


@pytest.mark.parametrize("line", ["FOO", "XYZZY bar", "MAILFROM:<a@example.net>",
                                  "EHLOX client", "BDAT 10 LAST", "ETRN example.test", "TURN",
                                  "X" * 40, ""])
def test_unknown_verb_is_500(server, connect, line):
    c = connect(server.port)
    greet(c)
    expect(c, line, 500, "5.5.1")
    expect(c, "NOOP", 250, "2.0.0")


def test_auth_on_the_mx_port_is_503(server, connect):
    # AUTH is submission's (587/465); the MX port neither offers nor takes it, and the
    # password in the line is never checked (Postfix says the same without SASL).
    c = connect(server.port)
    greet(c)
    expect(c, "AUTH PLAIN AGFsaWNlAHNlY3JldA==", 503, "5.5.1")
    expect(c, "NOOP", 250, "2.0.0")
    assert "auth result=" not in server.read_log()


def test_verbs_are_case_insensitive(server, connect):
    c = connect(server.port)
    c.reply()
    assert c.cmd("ehlo client.example.net")[0] == 250
    expect(c, "mail from:<sender@example.net>", 250, "2.1.0")
    expect(c, "Rcpt To:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("dAtA"), 354)
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    expect(c, "noop", 250, "2.0.0")
    check(c.cmd("quit"), 221, "2.0.0")
    delivered(server)


# --- commands in the wrong order: 503 5.5.1 ------------------------------------------

def test_mail_before_ehlo_is_503(server, connect):
    c = connect(server.port)
    c.reply()
    expect(c, "MAIL FROM:<a@example.net>", 503, "5.5.1")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "DATA", 503, "5.5.1")
    greet_code = c.cmd("EHLO client.example.net")[0]
    assert greet_code == 250
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")


def test_rcpt_before_mail_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")


def test_data_before_mail_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "DATA", 503, "5.5.1")
    # Nothing was started: the session is still usable.
    check(send_mail(c, message()), 250, "2.0.0")


def test_data_before_rcpt_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "DATA", 503, "5.5.1")
    # The transaction is still open: RCPT then DATA proceed.
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("DATA"), 354)
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    delivered(server)


def test_nested_mail_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "MAIL FROM:<b@example.net>", 503, "5.5.1")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "MAIL FROM:<b@example.net>", 503, "5.5.1")
    check(c.cmd("DATA"), 354)
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    # The first MAIL FROM stands.
    assert data.startswith(b"Return-Path: <a@example.net>\r\n")


def test_starttls_in_transaction_is_503(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "STARTTLS", 503, "5.5.1")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


# --- arguments: 501 5.5.4 -----------------------------------------------------------

@pytest.mark.parametrize("line", ["MAIL", "MAIL FROM", "MAIL <a@example.net>",
                                  "MAIL TO:<a@example.net>", "MAIL FROM<a@example.net>"])
def test_mail_argument_errors_are_501(server, connect, line):
    c = connect(server.port)
    greet(c)
    expect(c, line, 501, "5.5.4")
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")


@pytest.mark.parametrize("line", ["RCPT", "RCPT TO", "RCPT <alice@example.test>",
                                  "RCPT FROM:<alice@example.test>"])
def test_rcpt_argument_errors_are_501(server, connect, line):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, line, 501, "5.5.4")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


def test_data_with_argument_is_501(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    expect(c, "DATA now", 501, "5.5.4")
    # Not in DATA mode: this is a command, not body text.
    expect(c, "NOOP", 250, "2.0.0")
    check(c.cmd("DATA"), 354)
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")


def test_starttls_with_argument_is_501(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "STARTTLS now", 501, "5.5.4")
    expect(c, "NOOP", 250, "2.0.0")


def test_expn_without_argument_is_501(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "EXPN", 501, "5.5.4")


def test_extra_spaces_after_verb_are_tolerated(server, connect):
    c = connect(server.port)
    greet(c)
    expect(c, "MAIL  FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT   TO:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("DATA "), 354)
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")


# --- limits on a misbehaving client --------------------------------------------------

def test_max_bad_commands_gives_421_and_closes(make_server, connect):
    s = make_server(max_bad_commands=3)
    c = connect(s.port)
    greet(c)
    expect(c, "FOO", 500, "5.5.1")
    expect(c, "MAIL", 501, "5.5.4")
    c.send(b"RCPT TO:<alice@example.test>\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [503, 421], rs
    check(rs[1], 421, "4.7.0")


def test_refused_recipients_count_as_bad_commands(make_server, connect):
    s = make_server(max_bad_commands=2)
    c = connect(s.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    expect(c, "RCPT TO:<bob@example.test>", 550, "5.1.1")
    c.send(b"RCPT TO:<bob@other.org>\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [550, 421], rs
    assert_nothing_delivered(s)


def test_good_commands_do_not_count(make_server, connect):
    s = make_server(max_bad_commands=2)
    c = connect(s.port)
    greet(c)
    expect(c, "FOO", 500, "5.5.1")
    for _ in range(30):
        expect(c, "NOOP", 250, "2.0.0")
        expect(c, "RSET", 250, "2.0.0")
    check(send_mail(c, message()), 250, "2.0.0")


def test_idle_timeout_gives_421(make_server, connect):
    s = make_server(idle_timeout="1s")
    c = connect(s.port)
    greet(c)
    expect(c, "MAIL FROM:<a@example.net>", 250, "2.1.0")
    rs = replies_until_close(c)          # waits about a second
    assert codes(rs) == [421], rs
    check(rs[0], 421, "4.4.2")
    assert_nothing_delivered(s)


def test_multiple_messages_per_session(server, connect):
    c = connect(server.port)
    greet(c)
    for i in range(5):
        code, lines = send_mail(c, message(f"msg {i}"), mail_from=f"<s{i}@example.net>")
        check((code, lines), 250, "2.0.0")
    # Each reply names a different queue id.
    msgs = delivered(server, 5)
    senders = sorted(m.split(b"\r\n", 1)[0] for m in msgs)
    assert senders == [b"Return-Path: <s%d@example.net>" % i for i in range(5)]
    check(c.cmd("QUIT"), 221, "2.0.0")
