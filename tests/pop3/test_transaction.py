"""The TRANSACTION state (RFC 1939 §5, §7): STAT, LIST, UIDL, RETR, TOP, DELE, RSET,
NOOP, QUIT; wrong state, missing, extra and bad arguments, message numbers that do
not exist or are deleted."""
import os

import pytest

from pop3util import (err, listing, maildir_state, open_session, raw_body, retr, stat,
                      unstuff)

# Commands that take a message number, with what completes them.
NUMBERED = {"RETR": "{}", "DELE": "{}", "LIST": "{}", "UIDL": "{}", "TOP": "{} 0"}


@pytest.fixture
def three(make_mailsys):
    """A mail system with three delivered messages; bad commands never close here."""
    ms = make_mailsys(max_bad_commands=1000)
    ms.deliver(count=3)
    return ms


def test_stat_list_uidl(three, pop3):
    c = open_session(pop3, three)
    files = three.messages("new")
    sizes = [os.path.getsize(f) for f in files]
    assert stat(c) == (3, sum(sizes))
    assert listing(c, "LIST") == {i + 1: str(s) for i, s in enumerate(sizes)}
    assert listing(c, "UIDL") == {i + 1: os.path.basename(f) for i, f in enumerate(files)}
    for i, f in enumerate(files):
        assert c.cmd(f"LIST {i + 1}") == f"+OK {i + 1} {sizes[i]}"
        assert c.cmd(f"UIDL {i + 1}") == f"+OK {i + 1} {os.path.basename(f)}"


def test_commands_need_transaction_state(three, pop3):
    c = pop3(three.pop3_port)
    c.stls()
    for cmd in ("STAT", "LIST", "LIST 1", "UIDL", "UIDL 1", "RETR 1", "TOP 1 0",
                "DELE 1", "RSET"):
        assert c.cmd(cmd) == "-ERR Log in first.", cmd
    assert c.cmd("NOOP") == "+OK"
    assert c.login(three.user, three.password) == "+OK Logged in."
    assert stat(c)[0] == 3          # the DELE above did nothing


@pytest.mark.parametrize("verb", sorted(NUMBERED))
def test_bad_message_numbers(three, pop3, verb):
    c = open_session(pop3, three)
    for bad in ("0", "4", "99", "18446744073709551616", "99999999999999999999999999",
                "-1", "+1", "1x", "x1", "abc", "0x1", "1.0", "١"):
        r = c.cmd(f"{verb} " + NUMBERED[verb].format(bad))
        assert r == "-ERR No such message.", (verb, bad, r)
    # Leading zeros are still a number.
    r = c.cmd(f"{verb} " + NUMBERED[verb].format("001"))
    assert r.startswith("+OK"), r
    if verb in ("RETR", "TOP"):
        raw_body(c)
    # Nothing was marked by the bad ones; the session is intact.
    assert stat(c)[0] == (2 if verb == "DELE" else 3)
    assert c.cmd("QUIT").startswith("+OK")
    assert len(maildir_state(three)["cur"]) == (2 if verb == "DELE" else 3)


def test_missing_and_extra_arguments(three, pop3):
    c = open_session(pop3, three)
    # Required argument missing.
    for cmd in ("RETR", "DELE", "TOP", "RETR ", "DELE  "):
        assert c.cmd(cmd) == "-ERR Invalid arguments.", cmd
    assert c.cmd("TOP 1") == "-ERR Usage: TOP message lines"
    # Arguments where none are allowed.
    for cmd in ("STAT 1", "RSET 1", "NOOP x", "QUIT now", "CAPA x"):
        assert c.cmd(cmd) == "-ERR Invalid arguments.", cmd
    # One argument too many.
    for cmd in ("LIST 1 2", "UIDL 1 2", "RETR 1 2", "DELE 1 2"):
        assert c.cmd(cmd) == "-ERR No such message.", cmd
    for cmd in ("TOP 1 2 3", "TOP 1 x", "TOP 1 -1", "TOP 1 ",
                "TOP 1 99999999999999999999999"):
        assert c.cmd(cmd) == "-ERR Invalid number of lines.", cmd
    # "QUIT now" did not quit, no DELE took effect.
    assert stat(c)[0] == 3
    assert c.cmd("QUIT").startswith("+OK")
    assert len(maildir_state(three)["cur"]) == 3


def test_unknown_commands(three, pop3):
    c = open_session(pop3, three)
    for cmd in ("XYZZY", "", " ", "LAST", "UTF8", "LANG", "RPOP alice", "STATUS",
                "RETRIEVE 1", "\x7f\x01", "NOOPNOOP"):
        assert c.cmd(cmd) == "-ERR Unknown command.", repr(cmd)
    assert c.cmd("NOOP") == "+OK"


def test_extra_spaces_before_the_argument(three, pop3):
    """RFC 1939 §3 asks for one space; more are tolerated (but not inside PASS)."""
    c = open_session(pop3, three)
    assert c.cmd("LIST   2").startswith("+OK 2 ")
    assert c.cmd("UIDL  3").startswith("+OK 3 ")


def test_dele_rset(three, pop3):
    c = open_session(pop3, three)
    before = maildir_state(three)
    count, total = stat(c)
    size2 = int(c.cmd("LIST 2").split()[2])
    assert c.cmd("DELE 2") == "+OK Marked to be deleted."
    # A deleted message is not there for any command (RFC 1939 §5).
    for cmd in ("DELE 2", "RETR 2", "TOP 2 0", "LIST 2", "UIDL 2"):
        assert c.cmd(cmd) == "-ERR Message is deleted.", cmd
    assert stat(c) == (2, total - size2)
    assert sorted(listing(c, "LIST")) == [1, 3]
    assert sorted(listing(c, "UIDL")) == [1, 3]
    # The others keep their numbers.
    assert c.cmd("LIST 3").startswith("+OK 3 ")
    # Nothing happens to the files before QUIT.
    assert maildir_state(three) == before
    assert c.cmd("RSET") == "+OK 3 messages."
    assert stat(c) == (count, total)
    assert sorted(listing(c, "LIST")) == [1, 2, 3]
    _, body = retr(c, 2)
    assert len(unstuff(body)) == size2
    # RSET undoes every deletion.
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELE 3").startswith("+OK")
    assert c.cmd("RSET") == "+OK 3 messages."
    assert c.cmd("DELE 2").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 1 messages deleted."
    after = maildir_state(three)
    assert after["new"] == []
    kept = sorted(n.split(":2,")[0] for n in after["cur"])
    assert kept == [before["new"][0], before["new"][2]]


def test_rset_then_quit_deletes_nothing(three, pop3):
    c = open_session(pop3, three)
    for i in (1, 2, 3):
        assert c.cmd(f"DELE {i}").startswith("+OK")
    assert stat(c) == (0, 0)
    assert c.cmd("LIST") == "+OK"
    assert c.multi() == []
    assert c.cmd("RSET") == "+OK 3 messages."
    assert c.cmd("QUIT") == "+OK Logging out, 0 messages deleted."
    assert len(maildir_state(three)["cur"]) == 3


def test_dele_all_then_quit(three, pop3):
    c = open_session(pop3, three)
    for i in (1, 2, 3):
        assert c.cmd(f"DELE {i}").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 3 messages deleted."
    assert maildir_state(three) == {"new": [], "cur": []}
    # A new session sees an empty maildrop.
    c = open_session(pop3, three)
    assert stat(c) == (0, 0)
    assert c.cmd("LIST") == "+OK" and c.multi() == []
    assert c.cmd("UIDL") == "+OK" and c.multi() == []
    assert c.cmd("RETR 1") == "-ERR No such message."


def test_noop_in_both_states(three, pop3):
    c = pop3(three.pop3_port)
    assert c.cmd("NOOP") == "+OK"
    c.stls()
    assert c.cmd("NOOP") == "+OK"
    assert c.login(three.user, three.password) == "+OK Logged in."
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("noop") == "+OK"


def test_quit_in_authorization(three, pop3):
    c = pop3(three.pop3_port)
    before = maildir_state(three)
    assert c.cmd("QUIT") == "+OK Logging out."
    assert c.sock.recv(1) == b""
    assert maildir_state(three) == before


def test_quit_moves_to_cur(three, pop3):
    c = open_session(pop3, three)
    names = maildir_state(three)["new"]
    assert c.cmd("QUIT") == "+OK Logging out, 0 messages deleted."
    assert c.sock.recv(1) == b""
    assert maildir_state(three) == {"new": [], "cur": sorted(n + ":2," for n in names)}


def test_empty_maildrop(mailsys, pop3):
    c = open_session(pop3, mailsys)
    assert stat(c) == (0, 0)
    for cmd in ("RETR 1", "TOP 1 0", "DELE 1", "LIST 1", "UIDL 1"):
        assert err(c.cmd(cmd)), cmd
    assert c.cmd("RSET") == "+OK 0 messages."
    assert c.cmd("QUIT") == "+OK Logging out, 0 messages deleted."
