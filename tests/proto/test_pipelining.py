"""PIPELINING (RFC 2920): whole groups of commands in one write, replies in order and
complete, body and end-of-data followed by the next commands, several messages in one
burst."""
import threading

from conftest import greet, message
from proto_helpers import (check, replies, replies_until_close, codes, delivered,
                           assert_nothing_delivered, split_message)


def test_envelope_group_in_one_write(make_server, connect):
    s = make_server()
    c = connect(s.port)
    greet(c)
    c.send(b"MAIL FROM:<sender@example.net>\r\n"
           b"RCPT TO:<alice@example.test>\r\n"
           b"RCPT TO:<victim@other.org>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"RCPT TO:<alice+x@example.net>\r\n"
           b"RCPT TO:bad-syntax\r\n"
           b"RCPT TO:<postmaster>\r\n"
           b"DATA\r\n")
    rs = replies(c, 7)
    check(rs[0], 250, "2.1.0")
    check(rs[1], 250, "2.1.5")
    check(rs[2], 550, "5.7.1")
    check(rs[3], 550, "5.1.1")
    check(rs[4], 250, "2.1.5")
    check(rs[5], 501, "5.1.3")
    check(rs[6], 250, "2.1.5")
    check(c.reply(), 354)
    c.send(message().encode() + b".\r\nQUIT\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [250, 221], rs
    delivered(s)


def test_group_with_every_recipient_failing_then_data(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"MAIL FROM:<sender@example.net>\r\n"
           b"RCPT TO:<victim@other.org>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"DATA\r\n"
           b"NOOP\r\n")
    rs = replies(c, 5)
    assert codes(rs) == [250, 550, 550, 554, 250], rs
    check(rs[3], 554, "5.5.1")
    assert_nothing_delivered(server)


def test_ehlo_and_envelope_in_one_write(server, connect):
    c = connect(server.port)
    c.reply()
    c.send(b"EHLO client.example.net\r\nMAIL FROM:<sender@example.net>\r\n"
           b"RCPT TO:<alice@example.test>\r\nDATA\r\n")
    code, lines = c.reply()
    assert code == 250 and "PIPELINING" in lines
    rs = replies(c, 3)
    assert codes(rs) == [250, 250, 354], rs
    c.send(message().encode() + b".\r\n")
    check(c.reply(), 250, "2.0.0")
    delivered(server)


def test_body_dot_and_next_transaction_pipelined(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"MAIL FROM:<one@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    assert codes(replies(c, 3)) == [250, 250, 354]
    first = message("first").encode()
    second = message("second").encode()
    c.send(first + b".\r\n"
           b"MAIL FROM:<two@example.net>\r\n"
           b"RCPT TO:<bob@example.test>\r\n"
           b"RCPT TO:<alice@example.net>\r\n"
           b"DATA\r\n")
    rs = replies(c, 5)
    assert codes(rs) == [250, 250, 550, 250, 354], rs
    check(rs[0], 250, "2.0.0")
    c.send(second + b".\r\nQUIT\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [250, 221], rs
    msgs = sorted(delivered(server, 2), key=lambda m: b"<two@" in m[:40])
    assert msgs[0].startswith(b"Return-Path: <one@example.net>\r\n")
    assert split_message(msgs[0])[1] == first
    assert msgs[1].startswith(b"Return-Path: <two@example.net>\r\n")
    assert split_message(msgs[1])[1] == second


def test_two_messages_in_one_burst(server, connect):
    c = connect(server.port)
    greet(c)
    one = message("one", body="..stuffed\r\nfirst\r\n").encode()
    two = message("two", body="second\r\n").encode()
    c.send(b"MAIL FROM:<one@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
           one + b".\r\n" +
           b"MAIL FROM:<two@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n" +
           two + b".\r\n" +
           b"QUIT\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [250, 250, 354, 250, 250, 250, 354, 250, 221], rs
    msgs = delivered(server, 2)
    bodies = sorted(split_message(m)[1] for m in msgs)
    assert bodies == sorted([one.replace(b"..stuffed", b".stuffed"), two])


def test_rejected_body_then_pipelined_commands(server, connect):
    """A message refused at the dot must not swallow the commands after it."""
    c = connect(server.port)
    greet(c)
    c.send(b"MAIL FROM:<one@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    assert codes(replies(c, 3)) == [250, 250, 354]
    c.send(b"Subject: bad\r\n\r\nbare\rCR\r\n.\r\n"
           b"MAIL FROM:<two@example.net>\r\nRCPT TO:<alice@example.test>\r\nDATA\r\n")
    rs = replies(c, 4)
    assert codes(rs) == [554, 250, 250, 354], rs
    check(rs[0], 554, "5.6.0")
    c.send(message().encode() + b".\r\nQUIT\r\n")
    assert codes(replies_until_close(c)) == [250, 221]
    data, = delivered(server)
    assert data.startswith(b"Return-Path: <two@example.net>\r\n")


def test_many_pipelined_commands_all_answered_in_order(make_server, connect):
    """A long group: every command gets exactly one reply, in order, while the client
    keeps writing (it reads in a second thread, as RFC 2920 §3.5 expects)."""
    s = make_server(max_bad_commands=1000)
    c = connect(s.port)
    greet(c)
    n = 2000                         # 500 refused recipients, under max_bad_commands
    cmds = []
    expected = []
    for i in range(n):
        k = i % 4
        if k == 0:
            cmds.append(b"MAIL FROM:<s%d@example.net>\r\n" % i)
            expected.append(250)
        elif k == 1:
            cmds.append(b"RCPT TO:<alice+%d@example.test>\r\n" % i)
            expected.append(250)
        elif k == 2:
            cmds.append(b"RCPT TO:<nobody%d@example.test>\r\n" % i)
            expected.append(550)
        else:
            cmds.append(b"RSET\r\n")
            expected.append(250)
    got = []

    def reader():
        try:
            for _ in range(n + 1):
                got.append(c.reply()[0])
        except ConnectionError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    c.send(b"".join(cmds) + b"QUIT\r\n")
    t.join(timeout=20)
    assert not t.is_alive()
    assert got == expected + [221]
    assert_nothing_delivered(s)


def test_many_pipelined_good_commands(make_server, connect):
    s = make_server()
    c = connect(s.port)
    greet(c)
    n = 20000
    burst = b"MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.test>\r\nRSET\r\n" * (n // 3)
    got = []

    def reader():
        try:
            for _ in range(3 * (n // 3)):
                got.append(c.reply()[0])
        except ConnectionError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    c.send(burst + b"QUIT\r\n")
    t.join(timeout=20)
    assert not t.is_alive()
    assert len(got) == 3 * (n // 3)
    assert set(got) == {250}
    check(c.reply(), 221, "2.0.0")
    assert_nothing_delivered(s)


def test_long_burst_of_short_commands_is_answered_not_dropped(server, connect):
    """Replies are longer than the commands (RSET: 6 octets in, 14 out): the reply
    queue must be flushed as it fills, not overflow and cut off a client that reads
    its replies (RFC 2920 §3.1: the server keeps going while the client reads)."""
    c = connect(server.port)
    greet(c)
    n = 100000
    got = []

    def reader():
        try:
            for _ in range(n + 1):
                got.append(c.reply()[0])
        except ConnectionError:
            pass

    t = threading.Thread(target=reader)
    t.start()
    try:
        c.send(b"RSET\r\n" * n + b"QUIT\r\n")
    except OSError:
        pass                               # reported below, by the replies we got
    t.join(timeout=30)
    assert not t.is_alive()
    assert len(got) == n + 1, (len(got), "reply queue full" in server.read_log())
    assert got[-1] == 221 and set(got[:-1]) == {250}


def test_commands_after_quit_are_ignored(server, connect):
    c = connect(server.port)
    greet(c)
    c.send(b"NOOP\r\nQUIT\r\nNOOP\r\nMAIL FROM:<a@example.net>\r\n")
    rs = replies_until_close(c)
    assert codes(rs) == [250, 221], rs


def test_client_that_never_reads_its_replies_is_dropped(make_server, connect):
    """The other side of the rule above: replies are bounded, so a client that only
    writes is cut off once a flush has waited idle_timeout."""
    s = make_server(idle_timeout="1s")
    c = connect(s.port)
    greet(c)
    try:
        c.send(b"RSET\r\n" * 3000000)      # 18 MB in, 42 MB of replies never read
    except OSError:
        pass
    replies_until_close(c)
    assert "cannot send replies; closing" in s.read_log()
