"""SIZE (RFC 1870): the advertised limit, a declared size refused at MAIL, an actual
body over the limit refused at the final dot with nothing stored, and the session
carrying on afterwards."""
from conftest import greet, message, send_mail
from proto_helpers import (check, expect, delivered, assert_nothing_delivered,
                           split_message, mail_rcpt_data, replies_until_close, codes)

LIMIT = 2048


def limited(make_server, connect):
    s = make_server(max_message_size="2K")
    c = connect(s.port)
    assert f"SIZE {LIMIT}" in greet(c)
    return s, c


def body_of(n):
    """A message of exactly n octets (CRLF counted), ending in CRLF."""
    head = b"Subject: size\r\n\r\n"
    fill = n - len(head) - 2
    assert fill >= 0
    return head + b"x" * fill + b"\r\n"


def test_declared_size_over_limit_refused_at_mail(make_server, connect):
    s, c = limited(make_server, connect)
    expect(c, f"MAIL FROM:<sender@example.net> SIZE={LIMIT + 1}", 552, "5.3.4")
    expect(c, "MAIL FROM:<sender@example.net> SIZE=99999999999999999999", 552, "5.3.4")
    # No transaction was opened.
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, f"MAIL FROM:<sender@example.net> SIZE={LIMIT}", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")


def test_declared_size_with_null_sender(make_server, connect):
    s, c = limited(make_server, connect)
    expect(c, "MAIL FROM:<> SIZE=1000000", 552, "5.3.4")
    expect(c, "MAIL FROM:<> SIZE=100", 250, "2.1.0")


def test_body_over_limit_refused_at_final_dot(make_server, connect):
    s, c = limited(make_server, connect)
    mail_rcpt_data(c)
    c.send(body_of(LIMIT + 1) + b".\r\n")
    check(c.reply(), 552, "5.3.4")
    assert_nothing_delivered(s)
    # The session goes on, and the next message is accepted.
    expect(c, "NOOP", 250, "2.0.0")
    small = message("small")
    check(send_mail(c, small), 250, "2.0.0")
    data, = delivered(s)
    assert split_message(data)[1] == small.encode()


def test_body_far_over_limit_with_small_declared_size(make_server, connect):
    """A client that lies in SIZE= is still stopped; memory and disk stay bounded."""
    s, c = limited(make_server, connect)
    expect(c, "MAIL FROM:<sender@example.net> SIZE=100", 250, "2.1.0")
    expect(c, "RCPT TO:<alice@example.test>", 250, "2.1.5")
    check(c.cmd("DATA"), 354)
    c.send(b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 3000 + b".\r\n")
    check(c.reply(), 552, "5.3.4")
    assert_nothing_delivered(s)
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(s)


def test_body_exactly_at_limit_accepted(make_server, connect):
    s, c = limited(make_server, connect)
    mail_rcpt_data(c)
    body = body_of(LIMIT)
    c.send(body + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(s)
    assert split_message(data)[1] == body


def test_size_counts_unstuffed_octets(make_server, connect):
    """Stuffing dots are not message content: a body of exactly the limit whose lines
    all start with '.' is within the limit."""
    s, c = limited(make_server, connect)
    mail_rcpt_data(c)
    lines = [b"." + b"d" * 60 + b"\r\n"] * (LIMIT // 63)
    content = b"".join(lines)
    content += b"e" * (LIMIT - len(content) - 2) + b"\r\n"
    assert len(content) == LIMIT
    wire = content.replace(b"\r\n.", b"\r\n..")
    wire = b"." + wire if wire.startswith(b".") else wire
    c.send(wire + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(s)
    assert split_message(data)[1] == content


def test_over_limit_by_one_with_crlf_counted(make_server, connect):
    s, c = limited(make_server, connect)
    mail_rcpt_data(c)
    # LIMIT - 1 octets of text plus CRLF: LIMIT + 1 octets once the CRLF is counted.
    c.send(b"a" * (LIMIT - 1) + b"\r\n.\r\n")
    check(c.reply(), 552, "5.3.4")
    assert_nothing_delivered(s)


def test_oversized_body_then_pipelined_next_transaction(make_server, connect):
    s, c = limited(make_server, connect)
    mail_rcpt_data(c)
    c.send(body_of(LIMIT * 4) + b".\r\nMAIL FROM:<next@example.net>\r\n"
           b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    rs = [c.reply() for _ in range(4)]
    assert codes(rs) == [552, 250, 250, 354], rs
    check(rs[0], 552, "5.3.4")
    c.send(message().encode() + b".\r\nQUIT\r\n")
    assert codes(replies_until_close(c)) == [250, 221]
    data, = delivered(s)
    assert data.startswith(b"Return-Path: <next@example.net>\r\n")


def test_default_limit_is_advertised_and_large_declared_size_accepted(server, connect):
    c = connect(server.port)
    assert "SIZE 36700160" in greet(c)
    expect(c, "MAIL FROM:<sender@example.net> SIZE=36700160", 250, "2.1.0")
    expect(c, "RSET", 250, "2.0.0")
    expect(c, "MAIL FROM:<sender@example.net> SIZE=36700161", 552, "5.3.4")
