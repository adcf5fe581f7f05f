"""Input the server must survive: pipelined commands (RFC 2449 §6.6), overlong lines,
NUL, bare LF and bare CR, too many bad commands, the idle timeout (RFC 1939 §3's
autologout timer, which never enters UPDATE), random bytes, and random command
sequences checked against a model of the maildrop. The fixture fails the test if any
session died of a signal or a sanitizer spoke."""
import random
import socket
import ssl
import threading
import time

from conftest import Pop3
from pop3util import (is_closed, listing, maildir_state, open_session, raw_body, retr,
                      stat, unstuff, wait_log)

POP3_LINE_MAX = 2050        # longest line with its CRLF: SASL_LINE_MAX + 2


# ---------------------------------------------------------------- pipelining

def test_pipelined_transaction_commands(mailsys, pop3):
    mailsys.deliver(count=3)
    files = mailsys.messages("new")
    c = open_session(pop3, mailsys)
    count, total = stat(c)
    c.send(b"STAT\r\nLIST\r\nUIDL 2\r\nRETR 1\r\nTOP 2 0\r\nNOOP\r\nDELE 3\r\n"
           b"DELE 3\r\nSTAT\r\nLIST 3\r\nRSET\r\nSTAT\r\nBOGUS\r\nCAPA\r\nNOOP\r\n")
    assert c.line().decode() == f"+OK 3 {total}"
    assert c.line() == b"+OK"
    assert len(c.multi()) == 3
    assert c.line().decode().startswith("+OK 2 ")
    assert c.line().startswith(b"+OK")
    with open(files[0], "rb") as f:
        assert unstuff(raw_body(c)) == f.read()
    assert c.line().startswith(b"+OK")
    assert b"Subject: " in raw_body(c)
    assert c.line() == b"+OK"
    assert c.line() == b"+OK Marked to be deleted."
    assert c.line() == b"-ERR Message is deleted."
    assert c.line().startswith(b"+OK 2 ")
    assert c.line() == b"-ERR Message is deleted."
    assert c.line() == b"+OK 3 messages."
    assert c.line().decode() == f"+OK 3 {total}"
    assert c.line() == b"-ERR Unknown command."
    assert c.line().startswith(b"+OK")
    assert b"PIPELINING" in c.multi()
    assert c.line() == b"+OK"
    # Nothing left over.
    assert c.buf == b""
    assert c.cmd("NOOP") == "+OK"


def test_pipelined_login(mailsys, pop3):
    """USER, PASS and the first commands in one send, after STLS."""
    mailsys.deliver(count=2)
    c = pop3(mailsys.pop3_port)
    c.stls()
    c.send(f"CAPA\r\nUSER {mailsys.user}\r\nPASS {mailsys.password}\r\nSTAT\r\n"
           f"UIDL\r\nQUIT\r\n".encode())
    assert c.line().startswith(b"+OK")
    assert b"USER" in c.multi()
    assert c.line() == b"+OK"
    assert c.line() == b"+OK Logged in."
    assert c.line().startswith(b"+OK 2 ")
    assert c.line() == b"+OK"
    assert len(c.multi()) == 2
    assert c.line() == b"+OK Logging out, 0 messages deleted."
    assert is_closed(c)
    assert len(maildir_state(mailsys)["cur"]) == 2


def test_many_pipelined_commands(mailsys, pop3):
    """500 commands in one send: 500 answers, in order."""
    mailsys.deliver(count=2)
    c = open_session(pop3, mailsys)
    cmds = []
    for i in range(500):
        cmds.append(["NOOP", "STAT", "LIST 1", "UIDL 2", "LIST 3", "XYZ"][i % 6])
    c.send("".join(x + "\r\n" for x in cmds).encode())
    for i, cmd in enumerate(cmds):
        r = c.line().decode()
        if cmd == "NOOP":
            assert r == "+OK", i
        elif cmd == "STAT":
            assert r.startswith("+OK 2 "), i
        elif cmd == "LIST 1":
            assert r.startswith("+OK 1 "), i
        elif cmd == "UIDL 2":
            assert r.startswith("+OK 2 "), i
        elif cmd == "LIST 3":
            assert r == "-ERR No such message.", i
        else:
            # Unknown verbs count as bad commands: the 20th closes.
            assert r == "-ERR Unknown command.", i
            if (i + 1) // 6 == 20:
                assert c.line() == b"-ERR Too many bad commands, closing connection."
                assert is_closed(c)
                return
    raise AssertionError("the 20th unknown command did not close the connection")


# ---------------------------------------------------------------- bad lines

def test_line_length_limit(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    # Exactly the longest line (CRLF included): read as a command.
    assert c.cmd("NOOP " + "x" * (POP3_LINE_MAX - 7)) == "-ERR Invalid arguments."
    # One octet more: too long, and the session continues.
    assert c.cmd("NOOP " + "x" * (POP3_LINE_MAX - 6)) == "-ERR Line too long."
    assert c.cmd("NOOP") == "+OK"
    # Far longer, sent in pieces: one answer, then the next command.
    c.send(b"NOOP ")
    for _ in range(20):
        c.send(b"y" * 10000)
    c.send(b"\r\nNOOP\r\n")
    assert c.line() == b"-ERR Line too long."
    assert c.line() == b"+OK"
    # In TRANSACTION too.
    c.stls()
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert c.cmd("LIST " + "1" * 5000) == "-ERR Line too long."
    assert c.cmd("STAT") == "+OK 0 0"


def test_nul_bare_lf_bare_cr(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    assert c.cmd(b"NO\0OP") == "-ERR NUL byte in command."
    assert c.cmd(b"\0") == "-ERR NUL byte in command."
    c.send(b"NOOP\n")
    assert c.line() == b"-ERR Lines end with CRLF."
    assert c.cmd(b"NO\rOP") == "-ERR Lines end with CRLF."
    c.send(b"\n")
    assert c.line() == b"-ERR Lines end with CRLF."
    assert c.cmd("NOOP") == "+OK"
    # What comes before a bare LF is refused, never executed; what follows is a
    # line of its own.
    c.send(b"QUIT\nSTAT\r\n")
    assert c.line() == b"-ERR Lines end with CRLF."
    assert c.line() == b"-ERR Log in first."
    assert c.cmd("NOOP") == "+OK"


def test_too_many_bad_commands(make_mailsys, pop3):
    ms = make_mailsys(max_bad_commands=5)
    c = pop3(ms.pop3_port)
    assert c.cmd("XYZZY") == "-ERR Unknown command."
    assert c.cmd("STAT") == "-ERR Log in first."
    assert c.cmd("NOOP now") == "-ERR Invalid arguments."
    assert c.cmd(b"NO\0OP") == "-ERR NUL byte in command."
    assert c.cmd("NOOP") == "+OK"       # a good one in between does not reset
    assert c.cmd("USER alice") == ("-ERR [AUTH] Plaintext authentication disallowed on "
                                   "non-secure (SSL/TLS) connections.")
    assert c.line() == b"-ERR Too many bad commands, closing connection."
    assert is_closed(c)
    assert "too many bad commands" in ms.read_log()


def test_too_many_bad_commands_in_transaction_deletes_nothing(make_mailsys, pop3):
    ms = make_mailsys(max_bad_commands=5)
    ms.deliver(count=2)
    before = maildir_state(ms)
    c = open_session(pop3, ms)
    assert c.cmd("DELE 1").startswith("+OK")
    c.send(b"A\r\nB\r\nC\r\nD\r\nE\r\nNOOP\r\n")
    for _ in range(5):
        assert c.line() == b"-ERR Unknown command."
    assert c.line() == b"-ERR Too many bad commands, closing connection."
    assert is_closed(c)
    wait_log(ms, "disconnect client=")
    assert maildir_state(ms) == before


# ---------------------------------------------------------------- idle timeout

def test_idle_timeout(make_mailsys, pop3):
    """Both states, at once: the server says -ERR and closes; nothing is deleted or
    moved (no UPDATE). A client dribbling bytes of a line it never finishes is idle
    as well (the timer runs from the end of the last command)."""
    ms = make_mailsys(pop3_idle_timeout="2s")
    ms.deliver(count=2)
    before = maildir_state(ms)
    start = time.monotonic()
    a = pop3(ms.pop3_port, source="127.0.0.2")
    b = open_session(pop3, ms)
    assert b.cmd("DELE 1").startswith("+OK")
    retr(b, 2)
    d = pop3(ms.pop3_port, source="127.0.0.3")
    got = {}

    def dribble():
        d.sock.settimeout(0.3)
        data = b""
        for _ in range(60):        # 18 s at most
            try:
                chunk = d.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
                continue
            except socket.timeout:
                pass
            except OSError:
                break
            try:
                d.sock.sendall(b"x")
            except OSError:
                break
        got["d"] = data

    t = threading.Thread(target=dribble)
    t.start()
    assert a.line() == b"-ERR Disconnected for inactivity."
    assert is_closed(a)
    assert b.line() == b"-ERR Disconnected for inactivity."
    assert is_closed(b)
    t.join(timeout=30)
    assert got.get("d", b"").startswith(b"-ERR Disconnected for inactivity.\r\n"), got
    # A lower bound only: not before the configured time.
    assert time.monotonic() - start >= 1.9
    assert maildir_state(ms) == before
    assert ms.read_log().count("timeout") >= 3


# ---------------------------------------------------------------- garbage

def test_random_bytes_never_crash(mailsys, pop3):
    """Seeded random bytes, in the clear, after STLS, logged in, and inside a SASL
    exchange. Each connection ends with -ERR lines or a close; the daemon serves on
    and no session dies (checked by the fixture)."""
    mailsys.deliver(count=2)
    rnd = random.Random(1939)
    alphabet = b"\0\r\n .\xff\x80ABCDELISTRETRTOPUIDLAUTHUSERPASS0123456789*=+/"
    for round_ in range(12):
        stage = round_ % 4
        c = Pop3(mailsys.pop3_port, source=f"127.0.0.{100 + round_}", timeout=10)
        try:
            if stage >= 1:
                c.stls()
            if stage == 2:
                assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
            if stage == 3:
                assert c.cmd("AUTH LOGIN") == "+ VXNlcm5hbWU6"
            for _ in range(40):
                if rnd.random() < 0.5:
                    blob = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 3000)))
                else:
                    blob = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(1, 300)))
                try:
                    c.send(blob)
                except OSError:
                    break
            try:
                c.send(b"\r\nQUIT\r\n")
                c.sock.settimeout(10)
                while c.sock.recv(65536):
                    pass
            except (OSError, ssl.SSLError):
                pass
        finally:
            c.close()
    # The daemon still works, and the maildrop was not touched by the garbage.
    c = open_session(pop3, mailsys)
    assert stat(c)[0] == 2


def test_random_commands_against_a_model(make_mailsys, pop3):
    """Random TRANSACTION commands with good and bad arguments; every answer is
    checked against a model of the maildrop (numbers, deletions, sizes, UIDLs), and
    QUIT must leave exactly the model's messages."""
    ms = make_mailsys(max_bad_commands=1000)
    ms.deliver(count=5)
    c = open_session(pop3, ms)
    sizes = {n: int(v) for n, v in listing(c, "LIST").items()}
    uids = listing(c, "UIDL")
    deleted = set()
    rnd = random.Random(5034)
    args = ["0", "1", "2", "3", "4", "5", "6", "-1", "x", "99999999999999999999", "1 1",
            "", "00002"]
    for step in range(600):
        verb = rnd.choice(["STAT", "LIST", "UIDL", "RETR", "TOP", "DELE", "RSET", "NOOP"])
        arg = rnd.choice(args) if verb not in ("STAT", "RSET", "NOOP") else ""
        if verb == "TOP" and arg:
            arg += " " + rnd.choice(["0", "1", "5", "x"])
        line = verb + (" " + arg if arg else "")
        r = c.cmd(line)
        # The message the command names, if it names one that exists.
        parts = arg.split(" ")
        num = None
        if (parts[0].isdigit() and 1 <= int(parts[0]) <= 5 and
                len(parts) == (2 if verb == "TOP" else 1)):
            num = int(parts[0])
        if verb == "STAT":
            live = [n for n in sizes if n not in deleted]
            assert r == f"+OK {len(live)} {sum(sizes[n] for n in live)}", (step, line)
        elif verb == "NOOP":
            assert r == "+OK"
        elif verb == "RSET":
            deleted.clear()
            assert r == "+OK 5 messages."
        elif verb in ("LIST", "UIDL") and not arg:
            assert r == "+OK", (step, line)
            got = {int(x.split(b" ")[0]): x.split(b" ")[1].decode() for x in c.multi()}
            want = sizes if verb == "LIST" else uids
            assert got == {n: str(v) for n, v in want.items() if n not in deleted}
        elif verb in ("RETR", "DELE", "LIST", "UIDL") and arg == "":
            assert r == "-ERR Invalid arguments.", (step, line)
        elif verb == "TOP" and arg == "":
            assert r == "-ERR Invalid arguments.", (step, line)
        elif verb == "TOP" and arg.split(" ")[-1] == "x":
            assert r.startswith("-ERR"), (step, line)
        elif verb == "TOP" and len(arg.split(" ")) > 2:
            assert r.startswith("-ERR"), (step, line)
        elif num is None:
            assert r == "-ERR No such message.", (step, line)
        elif num in deleted:
            assert r == "-ERR Message is deleted.", (step, line)
        elif verb == "DELE":
            assert r == "+OK Marked to be deleted."
            deleted.add(num)
        elif verb == "LIST":
            assert r == f"+OK {num} {sizes[num]}"
        elif verb == "UIDL":
            assert r == f"+OK {num} {uids[num]}"
        else:
            assert r == f"+OK {sizes[num]} octets", (step, line)
            body = unstuff(raw_body(c))
            if verb == "RETR":
                assert len(body) == sizes[num]
    assert c.cmd("QUIT") == f"+OK Logging out, {len(deleted)} messages deleted."
    left = {uids[n] for n in uids if n not in deleted}
    assert {n.split(":2,")[0] for n in maildir_state(ms)["cur"]} == left
    assert maildir_state(ms)["new"] == []
