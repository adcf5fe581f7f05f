"""A lost index comes back from the Maildir.

- rm -rf letterbox-index (and its lock file) with the daemon down: the next start
  gives every message the UID it had, because UIDs follow the Maildir names' order
  (nothing was removed since); `letterbox index sync` does the same with the daemon
  down, and `rebuild` too. The POP3 UIDLs (the base names) are the same in any case.
- rm -rf under a running daemon: `letterbox index rebuild` refuses while the daemon's
  indexer has it open, and after a restart the index is whole again.
- After a message was removed, a lost index cannot know the UIDs any more: then
  UIDVALIDITY must change (RFC 3501 2.3.1.1: a UID change must be detectable), the
  names are all there and the UIDs are dense again.
- UIDVALIDITY (index.h): kept by a rebuild while the old meta data is readable, new
  when it is not.
"""
import os
import shutil
import threading
import time

import pytest

from conftest import wait_for
from index_helpers import (INDEX_DIR, MANY, check_consistent, cli, deliver, dump,
                           indexer_pid, indexer_ready, snapshot, verify, wait_verified)


def deliver_parallel(port, senders=8, each=25, prefix="p"):
    threads = [threading.Thread(target=deliver, args=(port, each, f"{prefix}{i}"))
               for i in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)


def remove_index(maildir):
    shutil.rmtree(os.path.join(maildir, INDEX_DIR))
    os.unlink(os.path.join(maildir, INDEX_DIR + ".lock"))


@pytest.mark.parametrize("how", ["daemon", "sync", "rebuild", "verify_then_sync"])
def test_deleted_index_comes_back_with_the_same_uids(make_server, how):
    srv = make_server(with_tls=False, **MANY)
    indexer_ready(srv)
    deliver_parallel(srv.port)
    wait_verified(srv.conf_path)
    before = check_consistent(srv.conf_path, srv.maildir)
    assert len(before.recs) == 201
    srv.stop()
    snap = snapshot(srv.maildir)
    remove_index(srv.maildir)

    if how == "daemon":
        srv2 = make_server(with_tls=False, maildir=srv.maildir)
        indexer_pid(srv2)
        wait_verified(srv2.conf_path)
        srv2.stop()
    elif how == "verify_then_sync":
        # verify on a missing index: it finds every message missing from it.
        rc, out = verify(srv.conf_path)
        assert rc == 1 and "201 mismatch" in out, out
        assert cli(srv.conf_path, "sync").returncode == 0
    else:
        p = cli(srv.conf_path, how)
        assert p.returncode == 0, p.stdout + p.stderr
    assert snapshot(srv.maildir) == snap
    rc, out = verify(srv.conf_path)
    assert rc == 0, out
    after = check_consistent(srv.conf_path, srv.maildir)
    # Same POP3 UIDLs (base names), and the same UID for each of them.
    assert sorted(after.uid_of()) == sorted(before.uid_of())
    assert after.uid_of() == before.uid_of(), "UIDs changed although nothing was removed"
    assert after.next_uid == before.next_uid


def test_deleted_index_under_a_running_daemon(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 10)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    indexer_pid(srv)
    shutil.rmtree(os.path.join(srv.maildir, INDEX_DIR))
    p = cli(srv.conf_path, "rebuild")
    # The indexer holds the (still existing) lock file: no rebuild under it.
    assert p.returncode != 0 and "in use" in p.stderr, p.stdout + p.stderr
    srv.stop()
    srv2 = make_server(with_tls=False, maildir=srv.maildir)
    deliver(srv2.port, 2, prefix="after")
    wait_verified(srv2.conf_path)
    after = check_consistent(srv2.conf_path, srv2.maildir)
    old = before.uid_of()
    assert {n: u for n, u in after.uid_of().items() if n in old} == old


def test_lost_index_after_a_removal_changes_uidvalidity(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 10)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    # Remove the 3rd message (POP3 DELE would), let the index learn it.
    victim = sorted(before.recs)[2][5]
    os.unlink(os.path.join(srv.maildir, "new", victim))
    assert cli(srv.conf_path, "sync").returncode == 0
    srv.stop()
    # UIDVALIDITY comes from the clock: make sure a second has passed since the
    # old one, so that a new value can differ from it.
    wait_for(lambda: int(time.time()) > before.uidvalidity, 3, "the next second")
    remove_index(srv.maildir)
    assert cli(srv.conf_path, "sync").returncode == 0
    after = check_consistent(srv.conf_path, srv.maildir, dense=True)
    assert sorted(after.uid_of()) == sorted(n for n in before.uid_of() if n != victim)
    changed = [n for n, u in after.uid_of().items() if before.uid_of()[n] != u]
    assert changed, "renumbered densely: the later messages moved down"
    assert after.uidvalidity != before.uidvalidity


def test_uidvalidity_is_kept_by_rebuild_while_readable(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 5)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    srv.stop()
    wait_for(lambda: int(time.time()) > before.uidvalidity, 3, "the next second")
    for _ in range(2):
        p = cli(srv.conf_path, "rebuild")
        assert p.returncode == 0 and "5 UIDs kept, 0 new" in p.stdout, p.stdout + p.stderr
        d = dump(srv.conf_path)
        assert d.uidvalidity == before.uidvalidity
        assert d.recs == before.recs and d.next_uid == before.next_uid
    # Unreadable (garbage) meta: a new UIDVALIDITY from the clock.
    with open(os.path.join(srv.maildir, INDEX_DIR, "index.db"), "r+b") as f:
        f.write(os.urandom(os.path.getsize(f.name)))
    p = cli(srv.conf_path, "rebuild")
    assert p.returncode == 0 and "0 UIDs kept, 5 new" in p.stdout, p.stdout + p.stderr
    d = dump(srv.conf_path)
    assert d.uidvalidity != before.uidvalidity
    assert d.uid_of() == before.uid_of()        # arrival order gives the same 1..5
