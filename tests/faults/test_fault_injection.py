"""Fault injection: ENOSPC and EIO from write, fsync and rename (faultshim.c, preloaded
into the running daemons and switched by its control file) wherever Letterbox makes
something durable. Each fault gets a 4xx or -ERR, or (the index) costs nothing but
time, and no message is ever lost, left partial or duplicated.

- SMTP delivery into the Maildir (O_TMPFILE files linked into new/, and named tmp/
  files renamed into new/ where O_TMPFILE fails): the message whose write, fdatasync,
  link/rename or fsync(new/) fails gets 452 4.3.1 (ENOSPC) or 451 4.3.0 (EIO) after
  DATA; nothing is left in tmp/, new/ or cur/ and no file stays open; the messages
  acknowledged before are intact; the same connection and the next one deliver again.
- The index (Berkeley DB, written by the indexer alone): a delivery never waits for
  it, so every message still gets 250. A failed commit (write) is rolled back and
  the indexer reopens; a failed sync or unlink (the checkpoint at close, the recovery
  and __db.register at open; Berkeley DB never renames here) keeps a restarted
  indexer from opening. Either way it tries again and, once the disk works,
  reconciles with the Maildir: every message exactly once, UIDs dense.
- The outbound queue (submission): a message whose queue file cannot be committed
  gets 452/451 and leaves nothing in the queue and no copy in the owner's Maildir
  (a local recipient of the same message); a failed Maildir commit takes the queue
  file back. A state file that cannot be saved after an attempt loses nothing: the
  message is tried again and delivered once; a remote 250 whose state could not be
  saved is sent again (at least once, queue/queue.h).
- POP3 UPDATE (QUIT after RETR/DELE): a failed unlink or directory fsync answers
  -ERR [SYS/TEMP] (RFC 1939 §6, RFC 2449 §8); a failed new/ -> cur/ move leaves that
  message where it was (+OK: every deletion was done); no message is lost, none is
  in both new/ and cur/, none changes, and the next session sees the same maildrop.

test_shim_fires_only_where_told proves the shim itself works, so no test here passes
because nothing was injected: each one also checks the shim's log.
"""
import errno
import hashlib
import os
import signal
import smtplib
import time

import pytest

from conftest import (RCPT, Client, Pop3, client_tls_context, greet, message, send_mail,
                      strip_trace, wait_for)
from faultutil import (fault_mailsys, fault_server, faults, index_helpers,  # noqa: F401
                       session_tmp_fds, shim)
from index_helpers import (check_consistent, deliver, indexer_pid, token_counts,
                           wait_verified)
from outbound.conftest import dns_server, sink  # noqa: F401

ERRNOS = ["ENOSPC", "EIO"]
# RFC 3463: 4.3.1 mail system full, 4.3.0 other mail system status (smtpd/cmd_data.c).
REPLY = {"ENOSPC": (452, "4.3.1"), "EIO": (451, "4.3.0")}


def real(path):
    return os.path.realpath(path)


# ---------------------------------------------------------------- the shim itself

def test_shim_fires_only_where_told(fault_server, faults):
    srv = fault_server(with_tls=False)
    md = real(srv.maildir)
    c = Client(srv.port)
    try:
        greet(c)
        # A rule for a path nothing uses: nothing injected, delivery works.
        faults.set(f"write,fdatasync,linkat EIO {md}/no-such-dir/ 0 0")
        assert send_mail(c, message("untouched"))[0] == 250
        assert faults.log() == []
        # The right path, switched while the daemon runs: exactly COUNT failures after
        # SKIP matching calls, then the calls go through again.
        faults.set(f"write EIO {md}/tmp/ 1 1")
        assert send_mail(c, message("faulted"))[0] == 451
        assert send_mail(c, message("after the count"))[0] == 250
        (rec,) = faults.log()
        assert rec["call"] == "write" and rec["errno"] == "EIO"
        assert rec["path"].startswith(f"{md}/tmp/")
        # A new file starts the counts again.
        faults.set(f"write ENOSPC {md}/tmp/ 0 1")
        assert send_mail(c, message("at DATA"))[0] == 452    # the Return-Path: write
        assert len(faults.log("write")) == 2
        faults.clear()
        assert send_mail(c, message("cleared"))[0] == 250
        assert len(faults.log()) == 2
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert len(srv.messages("new")) == 3


# ---------------------------------------------------------------- SMTP delivery

def delivery_rule(op, err, md, named):
    """The rule that fails one step of the Maildir commit (maildir/maildir.c) of the
    next message, after its Return-Path: line was written."""
    return {
        # The body (one write: the message is under 64 KiB); the first write of the
        # file, its Return-Path:, went through at DATA.
        "write": f"write {err} {md}/tmp/ 1 1",
        "fdatasync": f"fdatasync {err} {md}/tmp/ 0 1",
        # Publishing: link(2) of the unnamed file, or rename(2) of the named one.
        "rename": f"{'renameat2' if named else 'linkat'} {err} {md}/new/ 0 1",
        # The directory, after the name is in it: the name is taken back.
        "fsync": f"fsync {err} {md}/new 0 1",
    }[op]


def injected(faults):
    """The faults injected, but for the O_TMPFILE refusal of the named_tmp runs."""
    return [r for r in faults.log() if r["call"] != "tmpfile"]


def assert_maildir_holds(srv, acked):
    """new/ holds exactly the acknowledged messages, each once and whole; cur/ and
    tmp/ are empty."""
    assert os.listdir(os.path.join(srv.maildir, "tmp")) == []
    assert srv.messages("cur") == []
    files = srv.messages("new")
    got = sorted(strip_trace(open(f, "rb").read()) for f in files)
    assert got == sorted(m.encode() for m in acked)
    for f in files:
        assert f.endswith(",S=%d" % os.path.getsize(f)), f


@pytest.mark.parametrize("named", [False, True], ids=["o_tmpfile", "named_tmp"])
@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["write", "fdatasync", "rename", "fsync"])
def test_delivery_fault_gives_4xx_and_leaves_nothing(fault_server, faults, op, err,
                                                     named):
    md_rules = []
    if named:
        # O_TMPFILE refused at start-up: smtpd falls back to named tmp/ files + rename.
        md_rules = ["tmpfile EOPNOTSUPP * 0 0"]
        faults.set(*md_rules)
    srv = fault_server(with_tls=False)
    md = real(srv.maildir)
    assert ("using named tmp/ files" in srv.read_log()) == named
    acked = []
    c = Client(srv.port)
    try:
        greet(c)
        m1 = message("before the fault")
        assert send_mail(c, m1)[0] == 250
        acked.append(m1)

        faults.set(*md_rules, delivery_rule(op, err, md, named))
        m2 = message("faulted")
        code, text = send_mail(c, m2)
        assert (code, text[0][:5]) == REPLY[err], (code, text)
        call = {"write": "write", "fdatasync": "fdatasync", "fsync": "fsync",
                "rename": "renameat2" if named else "linkat"}[op]
        assert [r["call"] for r in injected(faults)] == [call]
        assert_maildir_holds(srv, acked)
        assert session_tmp_fds(srv.session_pids(), srv.maildir) == []
        why = os.strerror(getattr(errno, err))
        assert f" result={code} " in srv.read_log() and f" errno={why}" in srv.read_log()

        # The disk works again: the same connection delivers the same message...
        faults.set(*md_rules)
        assert send_mail(c, m2)[0] == 250
        acked.append(m2)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    # ...and so does a new one.
    c = Client(srv.port)
    try:
        greet(c)
        m3 = message("next connection")
        assert send_mail(c, m3)[0] == 250
        acked.append(m3)
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()
    assert_maildir_holds(srv, acked)
    assert len(injected(faults)) == 1


# ---------------------------------------------------------------- the index

def verify_rc(srv):
    return index_helpers.cli(srv.conf_path, "verify").returncode


INDEX_RULES = {
    # Berkeley DB writes its log at each commit (pwrite), its pages and region files
    # with pwrite and write.
    "write": "write,pwrite,pwrite64,writev",
    # Commits do not sync (DB_TXN_WRITE_NOSYNC); a checkpoint (at close) does, and so
    # does the recovery that every open runs.
    "fsync": "fsync,fdatasync",
    # It never renames; the only name it changes at open is our __db.register, removed
    # so that the first user recovers (maildir/index.c).
    "unlink": "unlink,unlinkat",
}


@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["write", "fsync", "unlink"])
def test_index_fault_delays_the_index_only(fault_server, faults, op, err):
    srv = fault_server(with_tls=False)
    ix = real(srv.maildir) + "/letterbox-index"
    why = os.strerror(getattr(errno, err))
    deliver(srv.port, 2, prefix="before")
    wait_verified(srv.conf_path)
    faults.set(f"{INDEX_RULES[op]} {err} {ix}/ 0 0")
    toks = deliver(srv.port, 5, prefix="during")
    if op == "write":
        # The indexer's transaction fails and is rolled back; so does every reopen.
        expect = f"{why}; reopening"
    else:
        # Nothing syncs or unlinks while the indexer runs: stop it (its close
        # checkpoints), and the one started in its place cannot open the index.
        wait_verified(srv.conf_path)
        old = indexer_pid(srv)
        os.kill(old, signal.SIGTERM)
        wait_for(lambda: indexer_pid(srv) != old, what="a new indexer")
        toks += deliver(srv.port, 5, prefix="while-down")
        expect = f"open environment: {why}" if op == "fsync" else \
            f"letterbox-index/__db.register: {why}"
    # Every delivery got its 250 (deliver() asserts it); the index fell behind.
    wait_for(lambda: expect in srv.read_log(), what=f"{expect!r} logged by the indexer")
    assert faults.log() and all(r["path"].startswith(ix + "/") for r in faults.log())
    assert {r["call"] for r in faults.log()} <= set(INDEX_RULES[op].split(","))
    if op == "write":
        # (The CLI itself is not faulted: with it in the environment, a restarted
        # indexer would open without recovering, so this is only asked here.)
        assert verify_rc(srv) == 1

    faults.clear()
    toks += deliver(srv.port, 2, prefix="after")
    wait_verified(srv.conf_path, timeout=30)
    d = check_consistent(srv.conf_path, srv.maildir)       # UIDs 1..N, each name once
    assert len(d.recs) == 2 + len(toks)
    counts = token_counts(srv.maildir)
    assert sorted(counts) == sorted(["before-0", "before-1"] + toks)
    assert set(counts.values()) == {1}


# ---------------------------------------------------------------- the outbound queue

OWNER_ADDR = RCPT
REMOTE = "remote.example.org"
BOB = f"bob@{REMOTE}"
DOWN = "down.example.org"          # its MX is an address where nothing listens
CAROL = f"carol@{DOWN}"
FAST = {"retry_initial": "1s", "retry_max": "2s", "queue_lifetime": "1h",
        "delay_warning": "0", "connect_timeout": "3s", "command_timeout": "10s"}


def queue_files(m):
    q = os.path.join(m.state_dir, "queue")
    return {sub: sorted(os.listdir(os.path.join(q, sub))) for sub in ("tmp", "msg", "state")}


def queue_empty(m):
    return queue_files(m) == {"tmp": [], "msg": [], "state": []}


def outbound_message(subject, to):
    return (f"From: Alice <{OWNER_ADDR}>\r\nTo: {', '.join(to)}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@example.test>\r\n\r\nHello.\r\n")


def submit(m, password, rcpts, msg):
    """One transaction on 465 as the owner: the reply to the end of data."""
    with smtplib.SMTP_SSL("127.0.0.1", m.subs_port, local_hostname="client.example.net",
                          context=client_tls_context(), timeout=20) as s:
        s.login(OWNER_ADDR, password)
        assert s.mail(OWNER_ADDR)[0] == 250
        for r in rcpts:
            assert s.rcpt(r)[0] == 250
        code, text = s.data(msg.encode())
        return code, text.decode()


def owner_copies(m):
    """The messages in the owner's Maildir (new/), as the client sent them."""
    return [strip_trace(open(f, "rb").read()) for f in m.messages("new")]


def queue_rule(op, err, qdir):
    """One step of committing the queue file (queue_begin, maildir_delivery_commit on
    the queue's spool) after the envelope was written."""
    return {
        "write": f"write {err} {qdir}/tmp/ 1 1",
        "fdatasync": f"fdatasync {err} {qdir}/tmp/ 0 1",
        "rename": f"linkat {err} {qdir}/msg/ 0 1",
        "fsync": f"fsync {err} {qdir}/msg 0 1",
    }[op]


@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["write", "fdatasync", "rename", "fsync"])
def test_queue_commit_fault_gives_4xx_and_keeps_nothing(fault_mailsys, faults,
                                                       dns_server, sink, op, err):
    s = sink()
    dns = dns_server(mx=[(REMOTE, f"mx.{REMOTE}", 10)], a=[(f"mx.{REMOTE}", "127.0.0.1")])
    m = fault_mailsys(dns_resolver=dns, mx_port=s.port, **FAST)
    pw = m.add_app_password("phone")
    qdir = real(os.path.join(m.state_dir, "queue"))
    assert "using named tmp/ files" not in m.read_log("smtpd")

    # To a remote and to the owner: the queue first, then the Maildir (cmd_data.c).
    msg = outbound_message("faulted", [BOB, OWNER_ADDR])
    faults.set(queue_rule(op, err, qdir))
    code, text = submit(m, pw, [BOB, OWNER_ADDR], msg)
    assert (code, text[:5]) == REPLY[err], (code, text)
    assert len(faults.log()) == 1 and faults.log()[0]["path"].startswith(qdir)
    assert queue_empty(m), queue_files(m)
    assert os.listdir(os.path.join(m.maildir, "tmp")) == []
    assert owner_copies(m) == [], "a refused message reached the owner's Maildir"

    faults.clear()
    assert submit(m, pw, [BOB, OWNER_ADDR], msg)[0] == 250
    ((info, data),) = s.wait_messages(1)
    assert info["rcpt_tos"] == [BOB] and data.endswith(msg.encode())
    wait_for(lambda: queue_empty(m), what="the queue empty after delivery")
    assert owner_copies(m) == [msg.encode()]
    assert len(s.messages()) == 1
    assert len(faults.log()) == 1


@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["rename", "fsync"])
def test_maildir_fault_takes_the_queue_file_back(fault_mailsys, faults, dns_server, sink,
                                                 op, err):
    s = sink()
    dns = dns_server(mx=[(REMOTE, f"mx.{REMOTE}", 10)], a=[(f"mx.{REMOTE}", "127.0.0.1")])
    m = fault_mailsys(dns_resolver=dns, mx_port=s.port, **FAST)
    pw = m.add_app_password("phone")
    md = real(m.maildir)
    msg = outbound_message("maildir fails", [BOB, OWNER_ADDR])
    # The queue file is committed first; the owner's copy then fails to commit.
    faults.set(delivery_rule(op, err, md, named=False))
    code, text = submit(m, pw, [BOB, OWNER_ADDR], msg)
    assert (code, text[:5]) == REPLY[err], (code, text)
    assert len(faults.log()) == 1
    assert queue_empty(m), queue_files(m)
    assert owner_copies(m) == [] and m.messages("cur") == []
    assert os.listdir(os.path.join(m.maildir, "tmp")) == []

    faults.clear()
    assert submit(m, pw, [BOB, OWNER_ADDR], msg)[0] == 250
    s.wait_messages(1)
    wait_for(lambda: queue_empty(m), what="the queue empty after delivery")
    assert len(s.messages()) == 1
    assert owner_copies(m) == [msg.encode()]
    # Nothing was sent for the refused attempt: the one delivery is the second's.
    assert s.events() == ["accepted 1"]


def state_rule(op, err, qdir):
    """One step of saving the state file (queue_state_save: write, fdatasync, rename
    over the old one, fsync of state/)."""
    return {
        "write": f"write {err} {qdir}/state/ 0 1",
        "fdatasync": f"fdatasync {err} {qdir}/state/ 0 1",
        "rename": f"renameat {err} {qdir}/state/ 0 1",
        "fsync": f"fsync {err} {qdir}/state 0 1",
    }[op]


def delivery_lines(m):
    return [x for x in m.read_log("smtpd").splitlines() if " delivery queue_id=" in x]


@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["write", "fdatasync", "rename", "fsync"])
def test_state_save_fault_after_a_deferral_loses_nothing(fault_mailsys, faults,
                                                         dns_server, sink, op, err):
    s = sink(tempfail_first=1)
    dns = dns_server(mx=[(REMOTE, f"mx.{REMOTE}", 10)], a=[(f"mx.{REMOTE}", "127.0.0.1")])
    m = fault_mailsys(dns_resolver=dns, mx_port=s.port, **FAST)
    pw = m.add_app_password("phone")
    qdir = real(os.path.join(m.state_dir, "queue"))
    faults.set(state_rule(op, err, qdir))
    msg = outbound_message("deferred once", [BOB])
    assert submit(m, pw, [BOB], msg)[0] == 250
    # Attempt 1: 451 from the sink, and its state cannot be saved.
    wait_for(lambda: "cannot save the state" in m.read_log("smtpd"),
             what="the failed state save logged")
    assert len(faults.log()) == 1
    assert [r["call"] for r in faults.log()] == [state_rule(op, err, qdir).split()[0]]
    # Attempt 2 (the old state, none, was kept): delivered, once, and removed.
    ((info, data),) = s.wait_messages(1)
    assert data.endswith(msg.encode())
    wait_for(lambda: queue_empty(m), what="the queue empty after delivery")
    assert s.events() == ["tempfail", "accepted 1"]
    lines = delivery_lines(m)
    assert len(lines) == 2, lines
    assert " result=deferred attempt=1 " in lines[0], lines
    # The count of attempts went with the state: kept only where the new state file
    # had been renamed into place before the fsync of state/ failed.
    assert f" result=sent attempt={2 if op == 'fsync' else 1} " in lines[1], lines
    assert m.messages("new") == []      # no bounce


@pytest.mark.parametrize("err", ERRNOS)
def test_state_save_fault_after_a_250_sends_again(fault_mailsys, faults, dns_server,
                                                  sink, err):
    """Bob's domain takes the message, Carol's is down; the state that says Bob is
    done cannot be saved. Delivery is at least once (queue/queue.h): at the next
    attempt Bob gets it again, exactly once more, and from then on only Carol is
    tried. Carol's copy is never lost."""
    s = sink()
    dns = dns_server(mx=[(REMOTE, f"mx.{REMOTE}", 10), (DOWN, f"mx.{DOWN}", 10)],
                     a=[(f"mx.{REMOTE}", "127.0.0.1"), (f"mx.{DOWN}", "127.0.0.2")])
    m = fault_mailsys(dns_resolver=dns, mx_port=s.port, **FAST)
    pw = m.add_app_password("phone")
    qdir = real(os.path.join(m.state_dir, "queue"))
    faults.set(f"write {err} {qdir}/state/ 0 1")
    assert submit(m, pw, [BOB, CAROL], outbound_message("two domains", [BOB, CAROL]))[0] \
        == 250
    s.wait_messages(2, timeout=30)
    assert len(faults.log()) == 1
    # Attempt 3 tries Carol alone: Bob's second 250 was saved.
    wait_for(lambda: len([x for x in delivery_lines(m) if f"to=<{CAROL}>" in x]) >= 3,
             timeout=30, what="a third attempt for Carol")
    assert len(s.messages()) == 2
    assert [i["rcpt_tos"] for i, _ in s.messages()] == [[BOB], [BOB]]
    bob = [x for x in delivery_lines(m) if f"to=<{BOB}>" in x]
    assert [(" result=sent " in x) for x in bob] == [True, True], bob
    # Still queued for Carol, with its state (a later attempt may be saving a new one).
    files = wait_for(lambda: (lambda f: f["state"] == f["msg"] and f)(queue_files(m)),
                     what="the state file in place")
    assert len(files["msg"]) == 1, files
    with open(os.path.join(qdir, "state", files["state"][0])) as f:
        st = f.read()
    assert "rcpt 0 done " in st and "rcpt 1 deferred " in st, st


# ---------------------------------------------------------------- POP3 UPDATE

def pop3_login(m):
    c = Pop3(m.pop3_port)
    c.stls()
    assert c.login(m.user, m.password) == "+OK Logged in."
    return c


def maildrop(m):
    """{base name: (sub, sha256 of the contents)}; a base name in both new/ and cur/
    fails here."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(m.maildir, sub)
        for n in os.listdir(d):
            b = n.split(":", 1)[0]
            assert b not in out, f"{b} in both new/ and cur/"
            with open(os.path.join(d, n), "rb") as f:
                out[b] = (sub, hashlib.sha256(f.read()).hexdigest())
    return out


def uidls(c):
    assert c.cmd("UIDL").startswith("+OK")
    return [line.decode().split()[1] for line in c.multi()]


def update_rule(op, err, md):
    return {
        "unlink": f"unlinkat {err} {md}/new/ 0 1",
        "rename": f"renameat {err} {md}/new/ 0 1",
        "fsync": f"fsync {err} {md}/cur 0 1",
    }[op]


@pytest.mark.parametrize("err", ERRNOS)
@pytest.mark.parametrize("op", ["unlink", "rename", "fsync"])
def test_pop3_update_fault(fault_mailsys, faults, op, err):
    m = fault_mailsys()
    m.deliver(count=4)
    md = real(m.maildir)
    before = maildrop(m)
    c = pop3_login(m)
    ids = uidls(c)
    assert sorted(ids) == sorted(before)
    assert c.cmd("RETR 1").startswith("+OK")
    c.multi()
    assert c.cmd("DELE 2").startswith("+OK")

    faults.set(update_rule(op, err, md))
    reply = c.cmd("QUIT")
    c.close()
    (rec,) = faults.log()
    assert rec["errno"] == err
    after = maildrop(m)
    # Nothing changed its contents; only the deleted message may be gone.
    assert all(after[b][1] == before[b][1] for b in after)
    kept = [ids[0], ids[2], ids[3]]
    if op == "unlink":
        # The deletion failed: said so, and the message is still there, untouched.
        assert reply == "-ERR [SYS/TEMP] Some deleted messages were not removed.", reply
        assert sorted(after) == sorted(ids) and after[ids[1]][0] == "new"
        assert [after[b][0] for b in kept] == ["cur"] * 3
    elif op == "rename":
        # Every deletion was done (+OK); the move that failed left its message in new/.
        assert reply == "+OK Logging out, 1 messages deleted.", reply
        assert sorted(after) == sorted(kept)
        assert sorted(after[b][0] for b in kept) == ["cur", "cur", "new"]
        assert "cannot move" in m.read_log("pop3d")
    else:
        # Done but not known to be durable: the client is told, and keeps its list.
        assert reply == "-ERR [SYS/TEMP] Some deleted messages were not removed.", reply
        assert sorted(after) == sorted(kept)
        assert [after[b][0] for b in kept] == ["cur"] * 3

    # The next session sees that maildrop, with the same UIDLs, and can finish the job.
    faults.clear()
    c = pop3_login(m)
    now = uidls(c)
    assert now == [b for b in ids if b in after]
    if ids[1] in now:
        assert c.cmd(f"DELE {now.index(ids[1]) + 1}").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK Logging out")
    c.close()
    final = maildrop(m)
    assert sorted(final) == sorted(kept)
    assert all(final[b][1] == before[b][1] for b in final)
    assert len(faults.log()) == 1
