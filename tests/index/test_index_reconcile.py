"""Changes made behind the daemon's back are reconciled with the index.

A file copied into new/ (with and without ,S=), a file removed, a file moved from
new/ to cur/ with ":2,S": `verify` reports each one as its own mismatch and changes
nothing; `sync` (with the daemon running) or a daemon restart fixes them all; new
files get UIDs above every existing one, in arrival order; a removed message's UID is
never given again, not even when it was the highest one.

A message reported to the indexer but expunged (or read) before the indexer acts on
the report: no entry and no UID for a file that is gone; a read one is indexed in
cur/ with its flags.
"""
import os
import shutil
import signal
import time

import pytest

from conftest import wait_for
from index_helpers import (check_consistent, cli, deliver, dump, indexer_pid,
                           kill_child, mismatches, verify, wait_verified)


def foreign_name(sec, usec, tag, size=None):
    n = f"{sec}.M{usec}P4242R{tag}.elsewhere.example"
    return n + (f",S={size}" if size is not None else "")


@pytest.mark.parametrize("fix", ["sync", "restart"])
def test_files_added_removed_and_moved_behind_the_daemon(make_server, fix):
    srv = make_server(with_tls=False)
    deliver(srv.port, 6)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    recs = sorted(before.recs)
    new = os.path.join(srv.maildir, "new")
    cur = os.path.join(srv.maildir, "cur")
    if fix == "restart":
        srv.stop()

    # 1. A copy of a message under a new name (what another MDA would deliver),
    # named later than everything, and one without ,S= whose lines end in LF only.
    now = int(time.time()) + 5
    data = open(os.path.join(new, recs[0][5]), "rb").read()
    added = foreign_name(now, 1, "a1", len(data))
    shutil.copyfile(os.path.join(new, recs[0][5]), os.path.join(new, added))
    lf_body = b"From: <x@example.net>\nSubject: lf\n\nline one\nline two\r\n"
    added_lf = foreign_name(now, 2, "a2")
    with open(os.path.join(new, added_lf), "wb") as f:
        f.write(lf_body)
    # 2. The highest UID's file removed (its UID must not come back), and another.
    removed_top, removed_mid = recs[-1][5], recs[2][5]
    os.unlink(os.path.join(new, removed_top))
    os.unlink(os.path.join(new, removed_mid))
    # 3. One read by a client: new/ -> cur/ with the Seen flag.
    moved = recs[1][5]
    os.rename(os.path.join(new, moved), os.path.join(cur, moved + ":2,S"))

    rc, out = verify(srv.conf_path)
    assert rc == 1, out
    lines = mismatches(out)
    assert len(lines) == 5, out
    assert any(l.startswith(added + ":") and "not in the index" in l for l in lines), out
    assert any(l.startswith(added_lf + ":") for l in lines), out
    for name in (removed_top, removed_mid):
        uid = before.uid_of()[name]
        assert any(l.startswith(f"uid {uid} ({name})") and "not in the Maildir" in l
                   for l in lines), out
    uid = before.uid_of()[moved]
    assert any(l.startswith(f"uid {uid} ({moved})") and "cur/" in l for l in lines), out
    # verify changed nothing.
    assert dump(srv.conf_path).recs == before.recs

    if fix == "sync":
        p = cli(srv.conf_path, "sync")
        assert p.returncode == 0, p.stdout + p.stderr
        assert "added=2 removed=2 updated=1" in p.stdout, p.stdout
        conf = srv.conf_path
    else:
        srv2 = make_server(with_tls=False, maildir=srv.maildir)
        indexer_pid(srv2)
        wait_verified(srv2.conf_path)
        assert "index synced: added=2 removed=2 updated=1" in srv2.read_log()
        conf = srv2.conf_path
        srv = srv2
    rc, out = verify(conf)
    assert rc == 0, out
    after = check_consistent(conf, srv.maildir, dense=False)
    uids = after.uid_of()
    # New files: above every UID ever given, in arrival order (added before added_lf).
    assert uids[added] == before.next_uid and uids[added_lf] == before.next_uid + 1
    assert after.next_uid == before.next_uid + 2
    assert removed_top not in uids and removed_mid not in uids
    # The moved one keeps its UID and is now in cur/ with S.
    rec = after.by_name()[moved]
    assert rec[0] == before.uid_of()[moved] and rec[3] == "cur" and rec[4] == "S"
    # The LF-only file's size is counted in CRLF octets, as POP3 will send it.
    assert after.by_name()[added_lf][1] == len(lf_body) + lf_body.count(b"\n") - 1
    # Everyone else is untouched.
    for name, uid in before.uid_of().items():
        if name not in (removed_top, removed_mid):
            assert uids[name] == uid

    # The removed UIDs are never reused: fresh deliveries go above next_uid.
    deliver(srv.port, 2, prefix="later")
    wait_verified(conf)
    final = check_consistent(conf, srv.maildir, dense=False)
    fresh = sorted(u for n, u in final.uid_of().items() if n not in uids)
    assert fresh == [after.next_uid, after.next_uid + 1]
    gone = {before.uid_of()[removed_top], before.uid_of()[removed_mid]}
    assert not gone & set(final.uids())


def test_flag_changes_in_cur_are_picked_up(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 2)
    wait_verified(srv.conf_path)
    name = sorted(dump(srv.conf_path).recs)[0][5]
    cur = os.path.join(srv.maildir, "cur")
    os.rename(os.path.join(srv.maildir, "new", name), os.path.join(cur, name + ":2,S"))
    assert cli(srv.conf_path, "sync").returncode == 0
    # A client marks it replied and flagged, then trashed.
    os.rename(os.path.join(cur, name + ":2,S"), os.path.join(cur, name + ":2,FRST"))
    rc, out = verify(srv.conf_path)
    assert rc == 1 and len(mismatches(out)) == 1, out
    p = cli(srv.conf_path, "sync")
    assert "updated=1" in p.stdout, p.stdout + p.stderr
    d = check_consistent(srv.conf_path, srv.maildir)
    assert d.by_name()[name][4] == "FRST"


def test_sync_is_idempotent(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 4)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    for _ in range(3):
        p = cli(srv.conf_path, "sync")
        assert p.returncode == 0 and "added=0 removed=0 updated=0" in p.stdout, p.stdout
    assert dump(srv.conf_path).recs == before.recs


class PausedIndexer:
    """SIGSTOP the daemon's indexer for a while (reports queue up in its socket)."""

    def __init__(self, srv):
        self.srv = srv
        self.pid = indexer_pid(srv)

    def __enter__(self):
        assert kill_child(self.pid, self.srv.proc.pid, signal.SIGSTOP)
        return self

    def __exit__(self, *exc):
        kill_child(self.pid, self.srv.proc.pid, signal.SIGCONT)


def test_message_gone_before_its_uid_never_gets_one(make_server):
    """A report the indexer acts on after the message was expunged (a POP3 client
    fast enough, or a sync that has seen the whole story) must not create an entry
    for a file that does not exist, nor spend a UID on it."""
    srv = make_server(with_tls=False)
    deliver(srv.port, 2)
    wait_verified(srv.conf_path)
    with PausedIndexer(srv):
        deliver(srv.port, 3, prefix="quick")
        names = sorted(set(os.listdir(os.path.join(srv.maildir, "new"))) -
                       set(dump(srv.conf_path).uid_of()))
        assert len(names) == 3
        # One is expunged before anything indexed it; one is indexed by a sync and
        # then expunged and synced away; one is read (moved to cur/, flag S).
        os.unlink(os.path.join(srv.maildir, "new", names[0]))
        p = cli(srv.conf_path, "sync")
        assert "added=2" in p.stdout, p.stdout + p.stderr
        os.unlink(os.path.join(srv.maildir, "new", names[1]))
        p = cli(srv.conf_path, "sync")
        assert "removed=1" in p.stdout, p.stdout + p.stderr
        os.rename(os.path.join(srv.maildir, "new", names[2]),
                  os.path.join(srv.maildir, "cur", names[2] + ":2,S"))
        p = cli(srv.conf_path, "sync")
        assert "updated=1" in p.stdout, p.stdout + p.stderr
        mid = dump(srv.conf_path)
    # The indexer now reads the three old reports, then one for a later message;
    # once that one has its UID, the old ones have been dealt with.
    marker = deliver(srv.port, 1, prefix="marker")
    wait_for(lambda: len(dump(srv.conf_path).recs) == len(mid.recs) + 1, 20,
             "the marker message to be indexed")
    rc, out = verify(srv.conf_path)
    assert rc == 0, out
    d = check_consistent(srv.conf_path, srv.maildir, dense=False)
    assert names[0] not in d.uid_of() and names[1] not in d.uid_of()
    assert d.by_name()[names[2]][3:5] == ("cur", "S")
    # No UID was spent on a ghost: the marker got the next one.
    assert d.next_uid == mid.next_uid + 1, (mid.next_uid, d.next_uid, marker)


def test_message_read_before_its_uid_is_indexed_in_cur(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 1)
    wait_verified(srv.conf_path)
    with PausedIndexer(srv):
        deliver(srv.port, 1, prefix="read")
        name = sorted(set(os.listdir(os.path.join(srv.maildir, "new"))) -
                      set(dump(srv.conf_path).uid_of()))[0]
        os.rename(os.path.join(srv.maildir, "new", name),
                  os.path.join(srv.maildir, "cur", name + ":2,RS"))
    wait_verified(srv.conf_path)
    d = check_consistent(srv.conf_path, srv.maildir)
    assert d.by_name()[name][3:5] == ("cur", "RS")


def test_idle_indexer_resyncs_by_itself(make_server):
    # With nobody telling it, the indexer still finds what other programs did to the
    # Maildir: it reconciles every index_resync while idle (here 1 s instead of 5 min).
    srv = make_server(with_tls=False, index_resync="1s")
    deliver(srv.port, 3)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    new = os.path.join(srv.maildir, "new")
    recs = sorted(before.recs)
    added = foreign_name(int(time.time()) + 5, 7, "r1")
    shutil.copyfile(os.path.join(new, recs[0][5]), os.path.join(new, added))
    os.unlink(os.path.join(new, recs[1][5]))
    rc, out = verify(srv.conf_path)
    assert rc == 1 and len(mismatches(out)) == 2, out
    wait_verified(srv.conf_path)          # no sync, no restart: the indexer did it
    after = dump(srv.conf_path).uid_of()
    assert recs[1][5] not in after
    assert after[added] == before.next_uid
    assert "index resynced: added=1 removed=1" in srv.read_log()
