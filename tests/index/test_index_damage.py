"""A damaged index is detected and rebuilt from the Maildir without losing a message,
and a rebuild never touches the Maildir.

Every case starts from a daemon that delivered 200 messages (3 of them then moved to
cur/ with flags), stopped cleanly with its index in agreement. Then one kind of damage,
with the daemon down:

- index.db cut short (sizes that are and are not a multiple of the page size, down to
  nothing), overwritten with random bytes, or with random bytes over its start:
  `verify` exits 1 and says so;
- random bytes in the environment's own files (the __db.00N regions, the log, the
  process register): `verify` reports damage (exit 1), or, if Berkeley DB does not
  need those bytes, the index still reads exactly as before (exit 0, same dump).

Then one way back: the daemon's indexer at start, `letterbox index rebuild`, or
`letterbox index sync`. Afterwards verify exits 0, every file has exactly one UID,
no file was lost, the Maildir (new/ cur/ tmp/, names and contents) is byte for byte
what it was, and UIDs were kept wherever UIDVALIDITY was: a message's UID either is
the old one or is above every old UID (never reused), unless UIDVALIDITY changed.
"""
import glob
import os
import random
import threading
import time

import pytest

from conftest import wait_for
from index_helpers import (INDEX_DIR, MANY, check_consistent, cli, damage_file,
                           deliver, dump, indexer_pid, mismatches, snapshot, verify,
                           wait_verified)

PAGE = 4096
INDEX_DB = ["trunc0", "trunc100", "trunc4095", "trunc4096", "trunc8192", "trunc_half",
            "trunc_minus_page", "trunc_minus_one", "garbage", "scribble"]
ENV_FILES = ["region001", "regions_all", "log_garbage", "register_garbage"]
PATHS = ["daemon", "rebuild", "sync"]


def populated(make_server):
    """A stopped daemon's Maildir with 200 messages, 3 in cur/ with flags, indexed."""
    srv = make_server(with_tls=False, **MANY)
    threads = [threading.Thread(target=deliver, args=(srv.port, 25, f"s{i}"))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    new = srv.messages("new")
    assert len(new) == 200
    wait_verified(srv.conf_path)          # the 200 deliveries, then the moves:
    for path, flags in zip(new[:3], ("S", "RS", "FS")):
        os.rename(path, os.path.join(srv.maildir, "cur",
                                     os.path.basename(path) + ":2," + flags))
    p = cli(srv.conf_path, "sync")
    assert p.returncode == 0 and "updated=3" in p.stdout, p.stdout + p.stderr
    wait_verified(srv.conf_path)
    before = check_consistent(srv.conf_path, srv.maildir)
    srv.stop()
    # UIDVALIDITY comes from the clock (seconds): an index rebuilt from nothing in
    # the second it was made in could get the old value back, with other UIDs.
    wait_for(lambda: int(time.time()) > before.uidvalidity, 3, "the next second")
    return srv, before


def apply_damage(ixdir, kind, rng):
    db = os.path.join(ixdir, "index.db")
    size = os.path.getsize(db)
    assert size >= 8 * PAGE, size       # enough pages for the cuts to mean something
    sizes = {"trunc0": 0, "trunc100": 100, "trunc4095": 4095, "trunc4096": PAGE,
             "trunc8192": 2 * PAGE, "trunc_half": size // 2 // PAGE * PAGE,
             "trunc_minus_page": size - PAGE, "trunc_minus_one": size - 1}
    if kind in sizes:
        damage_file(db, sizes[kind], rng)
    elif kind in ("garbage", "scribble"):
        damage_file(db, kind, rng)
    elif kind == "region001":
        damage_file(os.path.join(ixdir, "__db.001"), "scribble", rng)
    elif kind == "regions_all":
        files = glob.glob(os.path.join(ixdir, "__db.0*"))
        assert files
        for f in files:
            damage_file(f, "garbage", rng)
    elif kind == "log_garbage":
        files = glob.glob(os.path.join(ixdir, "log.*"))
        assert files
        for f in files:
            damage_file(f, "garbage", rng)
    elif kind == "register_garbage":
        with open(os.path.join(ixdir, "__db.register"), "wb") as f:
            f.write(rng.randbytes(200))
    else:
        raise ValueError(kind)


def repair(make_server, srv, path):
    """Bring the index back by one path; returns the config to query it with."""
    if path == "daemon":
        srv2 = make_server(with_tls=False, maildir=srv.maildir)
        indexer_pid(srv2)
        wait_verified(srv2.conf_path, timeout=20)
        snap = snapshot(srv.maildir)
        srv2.stop()           # leave the index to the CLI for the checks below
        return snap, srv2.read_log()
    p = cli(srv.conf_path, path)
    assert p.returncode == 0, p.stdout + p.stderr
    if path == "rebuild":
        assert p.stdout.startswith("rebuilt "), p.stdout
    return snapshot(srv.maildir), p.stdout + p.stderr


def check_after(srv, before, snap_before, snap_after):
    assert snap_after == snap_before, "the Maildir changed"
    rc, out = verify(srv.conf_path)
    assert rc == 0, out
    after = check_consistent(srv.conf_path, srv.maildir, dense=False)
    assert set(after.uid_of()) == set(before.uid_of()), "a message lost its UID"
    assert after.next_uid >= before.next_uid or after.uidvalidity != before.uidvalidity
    if after.uidvalidity == before.uidvalidity:
        old = before.uid_of()
        for name, uid in after.uid_of().items():
            assert uid == old[name] or uid >= before.next_uid, (name, uid, old[name])
    return after


def populated_and_damaged(make_server, kind, path):
    """A populated Maildir whose index then gets damage `kind` (reproducibly per
    kind and repair path); returns the server, the dump and the Maildir before it."""
    rng = random.Random(f"{kind}/{path}")
    srv, before = populated(make_server)
    snap = snapshot(srv.maildir)
    apply_damage(os.path.join(srv.maildir, INDEX_DIR), kind, rng)
    return srv, before, snap


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", INDEX_DB)
def test_damaged_index_db_is_detected_and_rebuilt(make_server, kind, path):
    srv, before, snap = populated_and_damaged(make_server, kind, path)
    rc, out = verify(srv.conf_path)
    assert rc == 1, f"damage ({kind}) not detected: exit {rc}\n{out}"
    assert "damaged" in out or mismatches(out), out

    snap_after, said = repair(make_server, srv, path)
    if path == "daemon":
        assert "index damaged" in said and "index rebuilt" in said, said
    elif path == "sync":
        assert "rebuilding" in said, said
    after = check_after(srv, before, snap, snap_after)
    if kind in ("trunc0", "trunc100", "garbage"):
        # Nothing of the old index can be read: a new UIDVALIDITY is allowed (and
        # the UIDs, given afresh in arrival order, are 1..N).
        check_consistent(srv.conf_path, srv.maildir, dense=True)
    print(kind, path, "uidvalidity kept" if after.uidvalidity == before.uidvalidity
          else "uidvalidity changed")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("kind", ENV_FILES)
def test_garbage_in_environment_files_is_survived(make_server, kind, path):
    srv, before, snap = populated_and_damaged(make_server, kind, path)
    rc, out = verify(srv.conf_path)
    assert rc in (0, 1), out
    if rc == 0:
        # Berkeley DB did not need those bytes: the index reads as it did.
        d = dump(srv.conf_path)
        assert d.recs == before.recs and d.next_uid == before.next_uid, out
    else:
        assert "damaged" in out or mismatches(out), out

    snap_after, _ = repair(make_server, srv, path)
    after = check_after(srv, before, snap, snap_after)
    # index.db itself was intact: every UID survives, under the same UIDVALIDITY.
    assert after.uidvalidity == before.uidvalidity
    assert after.uid_of() == before.uid_of()

    # And the index keeps working: a daemon delivers, its indexer is killed (the
    # respawned one runs recovery over whatever the log now holds), it catches up.
    srv3 = make_server(with_tls=False, maildir=srv.maildir)
    deliver(srv3.port, 3, prefix="later")
    os.kill(indexer_pid(srv3), 9)
    deliver(srv3.port, 2, prefix="later2")
    wait_verified(srv3.conf_path, timeout=20)
    final = check_consistent(srv3.conf_path, srv3.maildir, dense=False)
    assert len(final.recs) == 205
    old = before.uid_of()
    for name, uid in final.uid_of().items():
        if name in old and final.uidvalidity == before.uidvalidity:
            assert uid == old[name] or uid >= before.next_uid


def test_rebuild_of_a_healthy_index_keeps_everything_and_touches_no_mail(make_server):
    srv, before = populated(make_server)
    # Debris in tmp/ is part of the Maildir too: a rebuild must leave it alone.
    with open(os.path.join(srv.maildir, "tmp", "1.M1P1R1.other"), "wb") as f:
        f.write(b"partial")
    snap = snapshot(srv.maildir)
    p = cli(srv.conf_path, "rebuild")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith(f"rebuilt {INDEX_DIR}: 200 UIDs kept, 0 new"), p.stdout
    assert snapshot(srv.maildir) == snap
    after = check_consistent(srv.conf_path, srv.maildir)
    assert after.recs == before.recs
    assert after.uidvalidity == before.uidvalidity
    assert after.next_uid == before.next_uid


def test_rebuild_refuses_while_the_daemon_uses_the_index(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 3)
    wait_verified(srv.conf_path)
    indexer_pid(srv)
    snap = snapshot(srv.maildir)
    before = dump(srv.conf_path)
    p = cli(srv.conf_path, "rebuild")
    assert p.returncode != 0 and "in use" in p.stderr, p.stdout + p.stderr
    assert snapshot(srv.maildir) == snap
    assert dump(srv.conf_path).recs == before.recs
    rc, out = verify(srv.conf_path)
    assert rc == 0, out
