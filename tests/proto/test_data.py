"""DATA (RFC 5321 §4.1.1.4, §4.5.2) and what lands in the Maildir: trace fields, the
message byte-exact with CRLF, dot-unstuffing, ,S=<size>, line lengths, the hop limit,
several messages per session, and the data timeout."""
import re

from conftest import greet, message, send_mail
from proto_helpers import (check, expect, delivered, assert_nothing_delivered,
                           split_message, mail_rcpt_data, replies_until_close, codes)


def deliver(server, connect, wire_body):
    """One message with wire_body (already dot-stuffed, without the final dot); returns
    the file's content split into (trace, message)."""
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(wire_body + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    return split_message(data)


def test_354_then_250_with_id(server, connect):
    c = connect(server.port)
    greet(c)
    check(c.cmd("MAIL FROM:<sender@example.net>"), 250, "2.1.0")
    check(c.cmd("RCPT TO:<alice@example.test>"), 250, "2.1.5")
    code, lines = c.cmd("DATA")
    assert code == 354
    assert "<CR><LF>.<CR><LF>" in lines[0]
    c.send(message().encode() + b".\r\n")
    lines = check(c.reply(), 250, "2.0.0")
    assert re.fullmatch(r"2\.0\.0 Ok: delivered as [0-9a-f]{16}\.1", lines[0]), lines


def test_trace_headers(server, connect):
    c = connect(server.port)
    greet(c)
    check(send_mail(c, message()), 250, "2.0.0")
    data, = delivered(server)
    trace, _ = split_message(data)
    lines = trace.split(b"\r\n")
    assert lines[0] == b"Return-Path: <sender@example.net>"
    assert lines[1] == b"Received: from client.example.net ([127.0.0.1])"
    assert re.fullmatch(rb"\tby mx\.example\.test \(Letterbox\) with ESMTP id [0-9a-f]{16}\.1",
                        lines[2]), lines[2]
    assert re.fullmatch(rb"\tfor <alice@example\.test>; [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} "
                        rb"\d{4} \d\d:\d\d:\d\d [+-]\d{4}", lines[3]), lines[3]
    assert lines[4] == b""
    # Every line of the file ends in CRLF, and there is no stray CR or LF.
    assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")


def test_message_stored_byte_exact_with_crlf(server, connect):
    body = (b"From: Sender <sender@example.net>\r\n"
            b"To: alice@example.test\r\n"
            b"Subject: exact\r\n"
            b"X-Folded: first\r\n\t  second\r\n"
            b"\r\n"
            b"line one\r\n"
            b"  leading blanks and trailing blanks  \r\n"
            b"\ttab\r\n"
            b"\r\n\r\n"
            b"Received: in the body is not a hop\r\n"
            b"From the body\r\n"
            b"\x01\x02\x7f\x1b[0m controls except NUL, CR and LF\r\n"
            b"last line\r\n")
    _, msg = deliver(server, connect, body)
    assert msg == body


def test_message_without_header_body_separator(server, connect):
    body = b"just a line of text, no header at all\r\n"
    _, msg = deliver(server, connect, body)
    assert msg == body


def test_empty_message(server, connect):
    trace, msg = deliver(server, connect, b"")
    assert msg == b""


def test_dot_unstuffing(server, connect):
    wire = (b"Subject: dots\r\n\r\n"
            b"..foo\r\n"
            b"..\r\n"
            b"...\r\n"
            b".. leading dot and space\r\n"
            b"a.b\r\n"
            b"end.\r\n"
            b"..\r\n")
    _, msg = deliver(server, connect, wire)
    assert msg == (b"Subject: dots\r\n\r\n"
                   b".foo\r\n"
                   b".\r\n"
                   b"..\r\n"
                   b". leading dot and space\r\n"
                   b"a.b\r\n"
                   b"end.\r\n"
                   b".\r\n")


def test_dot_unstuffing_first_line_and_split_writes(server, connect):
    """The stuffed dot and the end marker split over many small writes."""
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    wire = b"..first\r\nSubject: x\r\n\r\n..\r\nbody\r\n.\r\n"
    for i in range(len(wire)):
        c.send(wire[i:i + 1])
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    assert split_message(data)[1] == b".first\r\nSubject: x\r\n\r\n.\r\nbody\r\n"


def test_size_in_name_counts_crlf_octets(server, connect):
    body = message(body="x" * 5000 + "\r\n" + "y\r\n" * 300).encode()
    c = connect(server.port)
    greet(c)
    check(send_mail(c, body), 250, "2.0.0")
    f, = server.messages("new")
    size = len(open(f, "rb").read())
    assert f.endswith(f",S={size}")
    name = f.rsplit("/", 1)[1]
    # time.M<usec>P<pid>R<random>.host,S=<size> (design.md); within a UIDL's 70.
    assert re.fullmatch(r"\d+\.M\d{6}P\d+R[0-9a-f]+\.[^/:,]+,S=\d+", name), name
    assert len(name) <= 70
    delivered(server)


def test_large_message_streams_through(server, connect):
    """Several MB, written in chunks bigger than the server's buffers."""
    line = b"0123456789" * 7 + b"\r\n"
    body = message().encode() + line * 60000          # about 4.3 MB
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(body + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    data, = delivered(server)
    assert split_message(data)[1] == body


def test_line_of_exactly_1000_octets_accepted(server, connect):
    line = b"a" * 998 + b"\r\n"
    _, msg = deliver(server, connect, b"Subject: long\r\n\r\n" + line)
    assert msg.endswith(line)


def test_lines_up_to_65536_octets_accepted(server, connect):
    line = b"b" * 65536 + b"\r\n"
    _, msg = deliver(server, connect, b"Subject: longer\r\n\r\n" + line + b"end\r\n")
    assert msg.endswith(line + b"end\r\n")


def test_line_over_65536_octets_rejected(server, connect):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: too long\r\n\r\n" + b"c" * 65537 + b"\r\n.\r\n")
    check(c.reply(), 554, "5.6.0")
    assert_nothing_delivered(server)
    check(send_mail(c, message()), 250, "2.0.0")
    delivered(server)


def test_message_without_final_crlf_gets_crlf_from_marker(server, connect):
    # "text" CRLF "." CRLF: the CRLF before the dot belongs to the last line.
    _, msg = deliver(server, connect, b"Subject: x\r\n\r\nno newline at end\r\n")
    assert msg.endswith(b"no newline at end\r\n")


def test_multiple_messages_in_one_session(server, connect):
    c = connect(server.port)
    greet(c)
    bodies = [message(f"n{i}", body=f"body {i}\r\n").encode() for i in range(4)]
    ids = []
    for i, b in enumerate(bodies):
        lines = check(send_mail(c, b, mail_from=f"<s{i}@example.net>"), 250, "2.0.0")
        ids.append(lines[0].rsplit(" ", 1)[1])
    assert len(set(ids)) == 4
    assert [i.rsplit(".", 1)[1] for i in ids] == ["1", "2", "3", "4"]
    msgs = delivered(server, 4)
    got = {split_message(m)[0].split(b"\r\n")[0]: split_message(m)[1] for m in msgs}
    for i, b in enumerate(bodies):
        assert got[b"Return-Path: <s%d@example.net>" % i] == b
    check(c.cmd("QUIT"), 221, "2.0.0")


def test_rset_after_rejected_data_and_next_message(server, connect):
    c = connect(server.port)
    greet(c)
    mail_rcpt_data(c)
    c.send(b"Subject: bad\r\n\r\nbare\nLF\r\n.\r\n")
    check(c.reply(), 554, "5.6.0")
    # After the end of DATA the transaction is over, accepted or not.
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "RSET", 250, "2.0.0")
    check(send_mail(c, message("good")), 250, "2.0.0")
    data, = delivered(server)
    assert b"Subject: good\r\n" in data


def test_transaction_is_reset_after_delivery(server, connect):
    c = connect(server.port)
    greet(c)
    check(send_mail(c, message()), 250, "2.0.0")
    expect(c, "RCPT TO:<alice@example.test>", 503, "5.5.1")
    expect(c, "DATA", 503, "5.5.1")
    expect(c, "MAIL FROM:<next@example.net>", 250, "2.1.0")


# --- hop limit (RFC 5321 §6.3) ------------------------------------------------------

def hops(n):
    return "".join(f"Received: from h{i}.example.net by h{i+1}.example.net; "
                   f"Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(n))


def test_hop_limit_config(make_server, connect):
    s = make_server(max_hops=3)
    c = connect(s.port)
    greet(c)
    check(send_mail(c, message(extra_headers=hops(4))), 554, "5.4.6")
    assert_nothing_delivered(s)
    # Any case, and dot-stuffed at the start of a line, still counts.
    check(send_mail(c, message(extra_headers="received: x\r\nRECEIVED: y\r\n"
                                             "ReCeIvEd: z\r\n..Received: not a hop\r\n"
                                             ".Received: w\r\n")), 554, "5.4.6")
    assert_nothing_delivered(s)
    check(send_mail(c, message(extra_headers=hops(3))), 250, "2.0.0")
    data, = delivered(s)
    assert data.count(b"Received: ") == 4          # theirs and ours


def test_hop_limit_default_is_50(server, connect):
    c = connect(server.port)
    greet(c)
    check(send_mail(c, message(extra_headers=hops(51))), 554, "5.4.6")
    assert_nothing_delivered(server)
    check(send_mail(c, message(extra_headers=hops(50))), 250, "2.0.0")
    delivered(server)


def test_received_in_body_is_not_a_hop(make_server, connect):
    s = make_server(max_hops=1)
    c = connect(s.port)
    greet(c)
    check(send_mail(c, message(body="Received: a\r\nReceived: b\r\nReceived: c\r\n")),
          250, "2.0.0")
    delivered(s)


def test_other_headers_are_not_hops(make_server, connect):
    s = make_server(max_hops=1)
    c = connect(s.port)
    greet(c)
    check(send_mail(c, message(extra_headers="X-Received: a\r\nX-Received: b\r\n"
                                             "Received-SPF: pass\r\nReceivedx: c\r\n"
                                             "Received: one\r\n")), 250, "2.0.0")
    delivered(s)


# --- timeouts -----------------------------------------------------------------------

def test_data_timeout_discards_partial_message(make_server, connect):
    s = make_server(data_timeout="1s")
    c = connect(s.port)
    greet(c)
    mail_rcpt_data(c)
    # More than one 64 KiB chunk, so a tmp/ file exists when the timeout hits.
    c.send(message().encode() + (b"y" * 78 + b"\r\n") * 1000)
    rs = replies_until_close(c)          # waits about a second
    assert codes(rs) == [421], rs
    check(rs[0], 421, "4.4.2")
    assert_nothing_delivered(s)
