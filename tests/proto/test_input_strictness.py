"""Strict input: only CRLF ends a line. Bare LF, bare CR and NUL in DATA reject the
message at the real end of data; SMTP smuggling look-alike end markers never end a
message nor start a second one; bad command lines get 500 5.5.2 and the session goes
on; overlong lines are bounded; garbage does not crash the daemon."""
import os
import random

import pytest

from conftest import greet, message, send_mail, Client
from proto_helpers import (check, expect, replies, replies_until_close, codes, delivered,
                           assert_nothing_delivered, split_message, mail_rcpt_data)


# --- DATA content -------------------------------------------------------------------

@pytest.mark.parametrize("bad", [
    b"bare LF\nhere\r\n",
    b"bare LF at end\n",
    b"\nleading bare LF\r\n",
    b"bare CR\rhere\r\n",
    b"bare CR before CRLF\r\r\n",
    b"CR LF reversed\n\r",
    b"NUL \x00 byte\r\n",
    b"\x00\r\n",
    b"LF in header\n",
])
def test_bad_body_octets_rejected_at_final_dot(server, connect, bad):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: strict\r\n\r\nok line\r\n" + bad + b"more\r\n.\r\n")
    check(c.reply(), 554, "5.6.0")
    assert_nothing_delivered(server)
    # Exactly one reply: the next command is answered as a command.
    expect(c, "NOOP", 250, "2.0.0")
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(server)


def test_bad_octet_in_header_rejected(server, connect):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: a\rb\r\n\r\nbody\r\n.\r\n")
    check(c.reply(), 554, "5.6.0")
    assert_nothing_delivered(server)


def test_bad_octet_after_large_body_leaves_no_tmp_file(server, connect):
    """The bad byte arrives after the first chunk has been written to tmp/."""
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(message().encode() + (b"w" * 998 + b"\r\n") * 200 + b"late\nLF\r\n" +
           (b"v" * 998 + b"\r\n") * 100 + b".\r\n")
    check(c.reply(), 554, "5.6.0")
    assert_nothing_delivered(server)


# --- SMTP smuggling -----------------------------------------------------------------

SMUGGLED = (b"MAIL FROM:<spoofed@example.net>\r\n"
            b"RCPT TO:<alice@example.test>\r\n"
            b"DATA\r\n"
            b"From: <ceo@example.test>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\n.\n",
                                      b"\r\n.\r", b"\r.\r", b"\n.\r", b"\r.\n",
                                      b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"])
def test_smuggling_fake_end_of_data(server, connect, fake_end):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"From: <sender@example.net>\r\nSubject: carrier\r\n\r\ncarrier body" +
           fake_end + SMUGGLED + b"\r\n.\r\n" + b"QUIT\r\n")
    rs = replies_until_close(c)
    # One reply for the whole DATA (rejected), then QUIT: no MAIL/RCPT/DATA replies.
    assert codes(rs) == [554, 221], rs
    check(rs[0], 554, "5.6.0")
    assert_nothing_delivered(server)


@pytest.mark.parametrize("fake_end", [b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\n.\n"])
def test_smuggling_fake_end_split_across_writes(server, connect, fake_end):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    stream = b"Subject: carrier\r\n\r\nbody" + fake_end + SMUGGLED + b"\r\n.\r\n"
    for i in range(0, len(stream), 3):
        c.send(stream[i:i + 3])
    check(c.reply(), 554, "5.6.0")
    expect(c, "NOOP", 250, "2.0.0")
    assert_nothing_delivered(server)


def test_smuggling_with_real_end_then_text_is_two_messages_only_if_crlf(server, connect):
    """The genuine CRLF.CRLF does end the message: what follows is commands, and that
    is the one and only way to send a second message."""
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: first\r\n\r\nbody\r\n.\r\n" + SMUGGLED + b".\r\nQUIT\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [250, 250, 250, 354, 250, 221], rs
    delivered(server, 2)


def test_lone_dot_lines_that_are_not_the_end(server, connect):
    """'.' followed by anything but CRLF is content (stuffed or not), never the end."""
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: dots\r\n\r\n. \r\n.x\r\n.\t\r\n.end\r\n.\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    assert split_message(data)[1] == b"Subject: dots\r\n\r\n \r\nx\r\n\t\r\nend\r\n"


# --- command lines ------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    (b"NOOP\n", [(500, "5.5.2")]),
    (b"\n", [(500, "5.5.2")]),
    (b"MAIL FROM:<sender@example.net>\n", [(500, "5.5.2")]),
    # "NO" LF is one bad line; "OP" CRLF is then an unknown verb.
    (b"NO\nOP\r\n", [(500, "5.5.2"), (500, "5.5.1")]),
])
def test_bare_lf_command_is_500_552(server, connect, raw, expected):
    c = connect(server.port)
    greet(c)
    c.send(raw)
    for code, esc in expected:
        check(c.reply(), code, esc)
    # A bare-LF MAIL was not taken as a command.
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "NOOP", 250, "2.0.0")


@pytest.mark.parametrize("raw", [b"NO\rOP\r\n", b"NOOP\r\r\n", b"\rNOOP\r\n"])
def test_bare_cr_command_is_500_552(server, connect, raw):
    c = connect(server.port)
    greet(c)
    c.send(raw)
    check(c.reply(), 500, "5.5.2")
    expect(c, "NOOP", 250, "2.0.0")


@pytest.mark.parametrize("raw", [b"NO\x00OP\r\n", b"\x00\r\n", b"NOOP\x00\r\n",
                                 b"MAIL FROM:<a@example.net>\x00\r\n",
                                 b"RCPT TO:<alice@example.test\x00@other.org>\r\n"])
def test_nul_in_command_is_500_552(server, connect, raw):
    c = connect(server.port)
    greet(c)
    c.send(raw)
    check(c.reply(), 500, "5.5.2")
    expect(c, "NOOP", 250, "2.0.0")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")


def test_command_line_of_1000_octets_accepted(server, connect):
    c = connect(server.port)
    greet(c)
    line = "NOOP " + "x" * (1000 - 2 - 5)
    assert len(line) + 2 == 1000
    expect(c, line, 250, "2.0.0")


def test_command_line_over_1000_octets_is_500_and_session_continues(server, connect):
    c = connect(server.port)
    greet(c)
    line = "NOOP " + "x" * (1001 - 2 - 5)
    expect(c, line, 500, "5.5.2")
    expect(c, "NOOP", 250, "2.0.0")
    # The tail of an overlong MAIL is not run as a command.
    c.send(b"MAIL FROM:<" + b"a" * 2000 + b"@example.net>\r\nRCPT TO:<alice@example.test>\r\n")
    rs = replies(c, 2)
    assert codes(rs) == [500, 503], rs
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(server)


def test_overlong_line_hiding_a_command_in_its_tail(server, connect):
    """The part after the 1000th octet must not be read as a new command."""
    c = connect(server.port)
    greet(c)
    c.send(b"X" * 1000 + b"QUIT\r\nNOOP\r\n")
    rs = replies(c, 2)
    assert codes(rs) == [500, 250], rs
    check(rs[0], 500, "5.5.2")


def test_one_megabyte_line_without_newline(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"A" * (1 << 20))
    check(c.reply(), 500, "5.5.2")
    # Still skipping the same line: no further reply until its end...
    c.send(b"B" * 100000 + b"\r\nNOOP\r\n")
    check(c.reply(), 250, "2.0.0")
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(server)


def test_long_lines_count_towards_bad_commands(make_server, connect):
    s = make_server(max_bad_commands=3)
    c = connect(s.port)
    greet(c)
    c.send((b"Z" * 1200 + b"\r\n") * 3)
    rs = replies_until_close(c)
    assert codes(rs) == [500, 500, 500, 421], rs
    check(rs[3], 421, "4.7.0")


def test_bad_lines_count_towards_bad_commands(make_server, connect):
    s = make_server(max_bad_commands=4)
    c = connect(s.port)
    greet(c)
    c.send(b"NOOP\nNO\rOP\r\nNO\x00OP\r\nNOOP\r\nBOGUS\r\nNOOP\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [500, 500, 500, 250, 500, 421], rs


def test_max_bad_commands_default_is_20(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"BOGUS\r\n" * 25)
    rs = replies_until_close(c)
    assert codes(rs) == [500] * 20 + [421], rs
    assert_nothing_delivered(server)


# --- garbage ------------------------------------------------------------------------

def served_normally(server, connect):
    c = connect(server.port)
    greet(c)
    check(send_mail(c, message("after garbage")), 250, "2.0.0")
    check(c.cmd("QUIT"), 221, "2.0.0")


@pytest.mark.parametrize("seed", range(6))
def test_random_bytes_do_not_crash(server, connect, seed):
    rnd = random.Random(seed)
    c = Client(server.port)
    try:
        c.reply()
        if seed % 2:
            c.cmd("EHLO client.example.net")
        for _ in range(8):
            n = rnd.choice([1, 7, 100, 999, 1000, 1001, 5000, 70000])
            chunk = rnd.randbytes(n)
            if rnd.random() < 0.5:
                chunk = chunk.replace(b"\n", b"\r\n")
            try:
                c.send(chunk)
            except OSError:
                break
        replies_until_close_or_quit(c)
    finally:
        c.close()
    log = server.read_log()
    assert "killed by signal" not in log
    served_normally(server, connect)


def replies_until_close_or_quit(c):
    try:
        c.send(b"\r\nQUIT\r\n")
    except OSError:
        return
    replies_until_close(c)


def test_random_bytes_in_data(server, connect):
    rnd = random.Random(1234)
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    junk = rnd.randbytes(200000).replace(b"\r\n.\r\n", b"")
    c.send(junk + b"\r\n.\r\n")
    check(c.reply(), 554, "5.6.0")
    assert_nothing_delivered(server)
    expect(c, "NOOP", 250, "2.0.0")


@pytest.mark.parametrize("junk", [
    b"\xff\xfb\x01\xff\xfd\x03",                      # telnet negotiation
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",             # HTTP
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a TLS ClientHello on port 25
    b"EHLO " + bytes(range(1, 256)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n",
    b"\r\n" * 1000,
    b"MAIL FROM:<" + b"<" * 900 + b">\r\n",
    b"RCPT TO:<" + b"@x," * 300 + b">\r\n",
])
def test_protocol_junk(server, connect, junk):
    c = connect(server.port)
    greet(c)
    c.send(junk)
    c.send(b"\r\nQUIT\r\n")
    rs = replies_until_close(c)
    assert rs and rs[-1][0] in (221, 421), rs
    served_normally(server, connect)


def test_disconnect_mid_command_and_mid_data(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"MAIL FROM:<half")
    c.close()
    d = connect(server.port)
    greet(d)
    mail_rcpt_data(d)
    d.send(b"Subject: cut\r\n\r\nhalf a mess")
    d.close()
    served_normally(server, connect)
    # Only the complete message was delivered.
    assert len(server.messages("new")) == 1
