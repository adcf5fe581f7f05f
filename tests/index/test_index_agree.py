"""The index agrees with the Maildir after parallel deliveries; `index no` keeps none.

- 1,000 messages from 16 parallel senders (after one that shows the indexer is up): once the indexer has caught up (verify
  exits 0), `dump` gives every file in new/ exactly one UID, the UIDs are 1..N without
  a gap or a repeat, next_uid is N+1, and each size is the ,S= of the name and the
  file's size; every acknowledged message is in new/ exactly once.
- The UIDs follow the Maildir names' (arrival) order, the order a rebuild from
  scratch gives: that is what keeps UIDs the same when the index is lost.
- `index no`: no letterbox-index directory or lock file, no indexer process, and
  deliveries work as before.
"""
import os

from conftest import children
from index_helpers import (INDEX_DIR, MANY, Senders, check_consistent, deliver,
                           indexer_pid, indexer_ready, token_counts, verify,
                           wait_verified)


def arrival_key(name):
    sec, rest = name.split(".", 1)
    usec = rest[1:].split("P", 1)[0] if rest.startswith("M") else "0"
    return (int(sec), int(usec), name)


def test_thousand_parallel_deliveries_are_indexed_once_each(make_server):
    srv = make_server(with_tls=False, **MANY)
    warmup = indexer_ready(srv)
    senders = Senders(lambda: srv.port, 16, total=1000)
    senders.join(timeout=120)
    assert not senders.errors, senders.errors[:5]
    assert not senders.refused, senders.refused[:5]
    assert len(senders.acked) == 1000

    wait_verified(srv.conf_path, timeout=20)
    files = os.listdir(os.path.join(srv.maildir, "new"))
    assert len(files) == 1001
    d = check_consistent(srv.conf_path, srv.maildir, dense=True)
    assert d.next_uid == 1002
    assert all(r[3] == "new" and r[4] == "-" for r in d.recs)
    counts = token_counts(srv.maildir)
    assert sorted(counts) == sorted(senders.acked + warmup)
    assert set(counts.values()) == {1}
    # UIDs in arrival order (the name's time, then the name).
    by_uid = [r[5] for r in sorted(d.recs)]
    assert by_uid == sorted(by_uid, key=arrival_key), "UIDs out of arrival order"


def test_index_no_keeps_no_index(make_server):
    srv = make_server(with_tls=False, index="no")
    toks = deliver(srv.port, 5)
    assert len(srv.messages("new")) == 5
    assert sorted(token_counts(srv.maildir)) == sorted(toks)
    assert not os.path.exists(os.path.join(srv.maildir, INDEX_DIR))
    assert not os.path.exists(os.path.join(srv.maildir, INDEX_DIR + ".lock"))
    # No helper child: the only children are sessions (none left once they quit).
    maildir = os.path.realpath(srv.maildir)
    for pid in children(srv.proc.pid):
        try:
            assert os.readlink(f"/proc/{pid}/cwd") != maildir, "an indexer runs"
        except FileNotFoundError:
            pass
    # The daemon never wrote an index; the log says nothing about one.
    log = srv.read_log()
    assert "indexer" not in log and INDEX_DIR not in log, log


def test_index_yes_is_the_default(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 3)
    assert indexer_pid(srv)
    wait_verified(srv.conf_path)
    assert os.path.isdir(os.path.join(srv.maildir, INDEX_DIR))
    rc, out = verify(srv.conf_path)
    assert rc == 0 and "0 mismatch" in out, out
    check_consistent(srv.conf_path, srv.maildir)
