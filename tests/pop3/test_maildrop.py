"""The maildrop (RFC 1939 §8): the lock, UIDL values, the UPDATE state at QUIT and
only there (new/ -> cur/ with ":2,", Seen for retrieved messages), and what happens
to the Maildir when a session is dropped, killed, or meets files that another
program removed, renamed or made unreadable meanwhile."""
import hashlib
import os
import re
import signal
import subprocess

import pytest

from pop3util import (all_files, gone, listing, log_count, maildir_state, open_session,
                      place, plain, raw_body, read_file, retr, session_pid, stat, unstuff,
                      wait_log)

UIDL_RE = re.compile(r"[\x21-\x7e]{1,70}")


def hand_delivered(ms, count):
    """count messages placed as Letterbox names them (CRLF, ",S=" size), for the
    tests that run pop3d alone: a session killed on purpose is counted in every log
    of the mail system, and smtpd's would have none."""
    names = []
    for i in range(count):
        data = (b"From: <sender@example.net>\r\nSubject: hand %d\r\n\r\nBody %d.\r\n"
                % (i, i))
        name = f"{1700000000 + i}.M{i}P1R0.mx.example.test,S={len(data)}"
        place(ms, name, data)
        names.append(name)
    return names


def x_uidl(base):
    """The UIDL of a base name that cannot be one: "x-" and its BLAKE2b-128."""
    return "x-" + hashlib.blake2b(base.encode("utf-8", "surrogateescape"),
                                  digest_size=16).hexdigest()


# ---------------------------------------------------------------- UIDL

def test_uidl_is_the_base_name_and_stable(mailsys, pop3):
    mailsys.deliver(count=3)
    c = open_session(pop3, mailsys)
    first = listing(c, "UIDL")
    names = [os.path.basename(p) for p in mailsys.messages("new")]
    assert first == {i + 1: n for i, n in enumerate(names)}
    for uid in first.values():
        assert UIDL_RE.fullmatch(uid), uid
    assert c.cmd("RETR 2").startswith("+OK")
    raw_body(c)
    assert c.cmd("QUIT").startswith("+OK")
    # Moved to cur/ (with and without S): same UIDLs, same numbers.
    assert maildir_state(mailsys)["new"] == []
    c = open_session(pop3, mailsys)
    assert listing(c, "UIDL") == first
    for num, uid in first.items():
        assert c.cmd(f"UIDL {num}") == f"+OK {num} {uid}"
    assert c.cmd("QUIT").startswith("+OK")
    # A rebuilt index changes nothing: UIDLs do not come from it. (rebuild refuses
    # while smtpd's indexer has the index open, so smtpd is stopped first.)
    mailsys.smtpd.send_signal(signal.SIGTERM)
    mailsys.smtpd.wait(timeout=10)
    r = mailsys.cli("index", "rebuild", check=False)
    assert r.returncode == 0, r.stderr
    c = open_session(pop3, mailsys)
    assert listing(c, "UIDL") == first


def test_uidl_of_names_that_cannot_be_uidls(mailsys, pop3):
    """RFC 1939 §7: 1 to 70 characters in 0x21..0x7E. A longer base name, or one with
    other bytes, gets "x-" and a hash of it, stable whatever happens to the file."""
    b70 = "1000000001.M1P1." + "a" * (70 - 16)
    b71 = "1000000002.M1P1." + "b" * (71 - 16)
    b150 = "1000000003.M1P1." + "c" * (150 - 16)
    spaced = "1000000004.M1P1.with space"
    utf8 = "1000000005.M1P1.h\u00e9te"
    b150d = "1000000006.M1P1." + "c" * (150 - 17) + "d"
    for name in (b70, b71, b150, spaced, utf8, b150d):
        place(mailsys, name, b"Subject: x\r\n\r\nbody\r\n")
    c = open_session(pop3, mailsys)
    uidl = listing(c, "UIDL")
    assert len(uidl) == 6
    assert uidl[1] == b70
    assert uidl[2] == x_uidl(b71)
    assert uidl[3] == x_uidl(b150)
    assert uidl[4] == x_uidl(spaced)
    assert uidl[5] == x_uidl(utf8)
    assert uidl[6] == x_uidl(b150d)
    assert len(set(uidl.values())) == 6
    for uid in uidl.values():
        assert UIDL_RE.fullmatch(uid), uid
    assert c.cmd("UIDL 3") == f"+OK 3 {x_uidl(b150)}"
    assert c.cmd("RETR 3").startswith("+OK")
    raw_body(c)
    assert c.cmd("QUIT").startswith("+OK")
    # Now in cur/, one of them with S: the same UIDLs.
    assert maildir_state(mailsys)["new"] == []
    assert f"{b150}:2,S" in maildir_state(mailsys)["cur"]
    c = open_session(pop3, mailsys)
    assert listing(c, "UIDL") == uidl


# ---------------------------------------------------------------- UPDATE

def test_quit_moves_kept_mail_and_marks_retrieved_seen(mailsys, pop3):
    mailsys.deliver(count=4)
    names = maildir_state(mailsys)["new"]
    c = open_session(pop3, mailsys)
    retr(c, 1)
    assert c.cmd("TOP 2 0").startswith("+OK")
    raw_body(c)
    retr(c, 3)
    retr(c, 3)                                   # twice: one S
    assert c.cmd("DELE 4").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 1 messages deleted."
    assert maildir_state(mailsys) == {
        "new": [], "cur": sorted([names[0] + ":2,S", names[1] + ":2,", names[2] + ":2,S"])}


def test_seen_flag_in_ascii_order(mailsys, pop3):
    """maildir(5): flags in ASCII order. S goes between the existing ones."""
    flags = ["", "F", "T", "DFT", "RT", "a", "FRSab", "P"]
    expect = ["S", "FS", "ST", "DFST", "RST", "Sa", "FRSab", "PS"]
    for i, f in enumerate(flags):
        place(mailsys, f"100000000{i}.M1P1.flags{i}:2,{f}", b"Subject: f\r\n\r\nx\r\n",
              sub="cur")
    place(mailsys, "1000000009.M1P1.untouched:2,FT", b"Subject: u\r\n\r\nx\r\n", sub="cur")
    c = open_session(pop3, mailsys)
    for i in range(len(flags)):
        retr(c, i + 1)
    assert c.cmd("QUIT").startswith("+OK")
    assert maildir_state(mailsys) == {
        "new": [],
        "cur": sorted([f"100000000{i}.M1P1.flags{i}:2,{e}" for i, e in enumerate(expect)]
                      + ["1000000009.M1P1.untouched:2,FT"])}


def test_dele_takes_effect_only_at_quit(mailsys, pop3):
    mailsys.deliver(count=2)
    before = maildir_state(mailsys)
    c = open_session(pop3, mailsys)
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("DELE 2").startswith("+OK")
    assert maildir_state(mailsys) == before
    # Another session cannot see the deletions either: it cannot even get in.
    d = pop3(mailsys.pop3_port)
    d.stls()
    assert d.login(mailsys.user, mailsys.password).startswith("-ERR [IN-USE]")
    assert maildir_state(mailsys) == before
    assert c.cmd("QUIT") == "+OK Logging out, 2 messages deleted."
    assert maildir_state(mailsys) == {"new": [], "cur": []}


def test_dropped_connection_changes_nothing(mailsys, pop3):
    mailsys.deliver(count=3)
    c = open_session(pop3, mailsys)
    before = maildir_state(mailsys)
    assert c.cmd("DELE 1").startswith("+OK")
    retr(c, 2)
    c.close()                                    # no QUIT
    wait_log(mailsys, "disconnect client=")
    assert "logout" not in mailsys.read_log()
    assert maildir_state(mailsys) == before
    c = open_session(pop3, mailsys)
    assert stat(c)[0] == 3


def test_dropped_plain_tcp_connection_changes_nothing(make_mailsys, pop3):
    """The same when the TCP connection just ends (no TLS close_notify either)."""
    ms = make_mailsys(plaintext_auth_loopback="yes")
    ms.deliver(count=2)
    c = pop3(ms.pop3_port)
    assert c.login(ms.user, ms.password) == "+OK Logged in."
    before = maildir_state(ms)
    assert c.cmd("DELE 2").startswith("+OK")
    retr(c, 1)
    c.close()
    wait_log(ms, "disconnected without QUIT; nothing deleted")
    assert maildir_state(ms) == before


def test_kill9_in_transaction_changes_nothing(make_mailsys, pop3):
    ms = make_mailsys(smtpd=False)
    hand_delivered(ms, 3)
    before = maildir_state(ms)
    c = open_session(pop3, ms)
    assert c.cmd("DELE 1").startswith("+OK")
    retr(c, 2)
    pid = session_pid(ms, c)
    os.kill(pid, signal.SIGKILL)
    ms.expected_kills = 1
    wait_log(ms, "killed by signal")
    assert gone(pid)
    assert maildir_state(ms) == before
    # The lock died with the process.
    d = open_session(pop3, ms, source="127.0.0.2")
    assert stat(d)[0] == 3
    assert d.cmd("QUIT").startswith("+OK")
    assert len(maildir_state(ms)["cur"]) == 3


def test_update_failure_is_reported(mailsys, pop3):
    """A deletion that fails (an immutable file) is answered -ERR [SYS/TEMP]; the
    other deletions and moves are done."""
    mailsys.deliver(count=3)
    names = maildir_state(mailsys)["new"]
    stuck = os.path.join(mailsys.maildir, "new", names[0])
    r = subprocess.run(["chattr", "+i", stuck], capture_output=True)
    if r.returncode != 0:
        pytest.skip("chattr +i not supported here: " + r.stderr.decode())
    try:
        c = open_session(pop3, mailsys)
        assert c.cmd("DELE 1").startswith("+OK")
        assert c.cmd("DELE 2").startswith("+OK")
        assert c.cmd("QUIT") == "-ERR [SYS/TEMP] Some deleted messages were not removed."
        assert maildir_state(mailsys) == {"new": [names[0]], "cur": [names[2] + ":2,"]}
    finally:
        subprocess.run(["chattr", "-i", stuck], check=True)


# ---------------------------------------------------------------- the lock

def test_second_session_is_in_use_until_kill9(make_mailsys, pop3):
    ms = make_mailsys(smtpd=False)
    hand_delivered(ms, 2)
    a = open_session(pop3, ms)
    assert a.cmd("DELE 1").startswith("+OK")
    b = pop3(ms.pop3_port, source="127.0.0.3")
    b.stls()
    assert b.login(ms.user, ms.password) == \
        "-ERR [IN-USE] Mailbox is locked by another POP3 session."
    # Still in AUTHORIZATION.
    assert b.cmd("STAT") == "-ERR Log in first."
    # By SASL too.
    assert b.cmd("AUTH PLAIN " + plain(ms.user, ms.password)).startswith("-ERR [IN-USE]")
    pid = session_pid(ms, a)
    os.kill(pid, signal.SIGKILL)
    ms.expected_kills = 1
    wait_log(ms, "killed by signal")
    # The same waiting client now gets in, and the killed session's DELE is void.
    assert b.login(ms.user, ms.password) == "+OK Logged in."
    assert stat(b)[0] == 2
    assert b.cmd("QUIT").startswith("+OK")
    assert len(maildir_state(ms)["cur"]) == 2


def test_lock_released_at_quit_and_at_disconnect(mailsys, pop3):
    a = open_session(pop3, mailsys)
    assert a.cmd("QUIT").startswith("+OK")
    b = open_session(pop3, mailsys)
    b.close()
    wait_log(mailsys, "disconnect client=", count=2)
    c = open_session(pop3, mailsys)
    assert c.cmd("NOOP") == "+OK"
    assert log_count(mailsys, "IN-USE") == 0 and "mailbox in use" not in mailsys.read_log()


# ---------------------------------------------------------------- changes behind the back

def test_message_removed_behind_the_back(mailsys, pop3):
    mailsys.deliver(count=3)
    names = maildir_state(mailsys)["new"]
    c = open_session(pop3, mailsys)
    os.unlink(os.path.join(mailsys.maildir, "new", names[1]))
    assert c.cmd("RETR 2") == "-ERR Message was removed by another program."
    assert c.cmd("TOP 2 0") == "-ERR Message was removed by another program."
    # The session goes on.
    assert c.cmd("NOOP") == "+OK"
    _, raw = retr(c, 3)
    assert unstuff(raw) == read_file(mailsys, "new", names[2])
    # Deleting the vanished message is no error at QUIT.
    assert c.cmd("DELE 2").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 1 messages deleted."
    assert maildir_state(mailsys) == {"new": [],
                                      "cur": [names[0] + ":2,", names[2] + ":2,S"]}


def test_removed_message_not_retrieved_is_not_flagged(mailsys, pop3):
    mailsys.deliver(count=1)
    name = maildir_state(mailsys)["new"][0]
    c = open_session(pop3, mailsys)
    os.unlink(os.path.join(mailsys.maildir, "new", name))
    assert c.cmd("RETR 1").startswith("-ERR")
    # Put back as it was: the failed RETR did not count as a retrieval.
    place(mailsys, name, b"Subject: back\r\n\r\nx\r\n")
    assert c.cmd("QUIT").startswith("+OK")
    assert maildir_state(mailsys) == {"new": [], "cur": [name + ":2,"]}


def test_unreadable_message_is_not_marked_seen(mailsys, pop3):
    """A message the session cannot read: -ERR [SYS/TEMP], and since the client never
    got it, it must not be marked Seen at QUIT."""
    mailsys.deliver(count=2)
    names = maildir_state(mailsys)["new"]
    path = os.path.join(mailsys.maildir, "new", names[0])
    os.chown(path, 0, 0)
    os.chmod(path, 0o600)
    c = open_session(pop3, mailsys)
    assert c.cmd("RETR 1") == "-ERR [SYS/TEMP] Cannot read the message."
    assert c.cmd("TOP 1 0") == "-ERR [SYS/TEMP] Cannot read the message."
    retr(c, 2)
    assert c.cmd("QUIT").startswith("+OK")
    assert maildir_state(mailsys) == {"new": [],
                                      "cur": [names[0] + ":2,", names[1] + ":2,S"]}


def test_message_renamed_behind_the_back(mailsys, pop3):
    """Another program (Dovecot over IMAP) moves a message from new/ to cur/ and
    changes flags of one in cur/: the session still finds both, by base name."""
    mailsys.deliver(count=4)
    c = open_session(pop3, mailsys)
    assert c.cmd("QUIT").startswith("+OK")     # all four now in cur/ with ":2,"
    mailsys.deliver(count=2)
    files = all_files(mailsys)
    in_cur = sorted(b for b, (sub, _) in files.items() if sub == "cur")
    in_new = sorted(b for b, (sub, _) in files.items() if sub == "new")
    c = open_session(pop3, mailsys)
    uidl = listing(c, "UIDL")
    num = {uid: n for n, uid in uidl.items()}
    md = mailsys.maildir
    # new/ -> cur/ with flags, and flag changes within cur/.
    os.rename(f"{md}/new/{in_new[0]}", f"{md}/cur/{in_new[0]}:2,F")
    os.rename(f"{md}/new/{in_new[1]}", f"{md}/cur/{in_new[1]}:2,T")
    os.rename(f"{md}/cur/{in_cur[0]}:2,", f"{md}/cur/{in_cur[0]}:2,T")
    os.rename(f"{md}/cur/{in_cur[1]}:2,", f"{md}/cur/{in_cur[1]}:2,R")
    os.rename(f"{md}/cur/{in_cur[2]}:2,", f"{md}/cur/{in_cur[2]}:2,F")
    for base in (in_new[0], in_cur[0]):
        _, raw = retr(c, num[base])
        assert unstuff(raw) == read_file(mailsys, "cur", all_files(mailsys)[base][1])
    assert c.cmd(f"TOP {num[in_cur[1]]} 0").startswith("+OK")
    assert b"Subject: " in raw_body(c)
    # Same UIDLs after the renames.
    assert listing(c, "UIDL") == uidl
    assert c.cmd(f"DELE {num[in_new[1]]}").startswith("+OK")
    assert c.cmd(f"DELE {num[in_cur[2]]}").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 2 messages deleted."
    assert maildir_state(mailsys) == {"new": [], "cur": sorted([
        f"{in_new[0]}:2,FS", f"{in_cur[0]}:2,ST", f"{in_cur[1]}:2,R", f"{in_cur[3]}:2,"])}


def test_messages_arriving_during_a_session_wait(mailsys, pop3):
    """Mail delivered while a session is open is not part of it (RFC 1939 §8: the
    maildrop as it was at login) and is left in new/ at QUIT."""
    mailsys.deliver(count=1)
    first = maildir_state(mailsys)["new"]
    c = open_session(pop3, mailsys)
    assert stat(c)[0] == 1
    mailsys.deliver(count=1)
    late = [n for n in maildir_state(mailsys)["new"] if n not in first]
    assert len(late) == 1
    assert stat(c)[0] == 1
    assert c.cmd("RETR 2") == "-ERR No such message."
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("QUIT") == "+OK Logging out, 1 messages deleted."
    assert maildir_state(mailsys) == {"new": late, "cur": []}
    c = open_session(pop3, mailsys)
    assert listing(c, "UIDL") == {1: late[0]}
