"""`letterbox index sync` and `verify` in a loop while 8 senders deliver.

Each run finishes (bounded: a hang fails), sync always succeeds, verify only ever
exits 0 or 1 and only reports the mismatches a live Maildir can show (a message
delivered between its look at the Maildir and its look at the index); nothing in
their output is an error. Afterwards the indexer and the syncs together have given
every message exactly one UID, 1..N without a gap.
"""
import threading

from index_helpers import (MANY, Senders, check_consistent, cli, mismatches,
                           token_counts, wait_verified)


def test_sync_and_verify_loop_during_deliveries(make_server):
    srv = make_server(with_tls=False, **MANY)
    senders = Senders(lambda: srv.port, 8, total=2000, seed=3)
    runs = {"sync": 0, "verify": 0, "verify_mismatch": 0}
    problems = []
    done = threading.Event()

    def loop():
        i = 0
        while not done.is_set():
            what = "sync" if i % 2 == 0 else "verify"
            i += 1
            p = cli(srv.conf_path, what, timeout=30)
            out = p.stdout + p.stderr
            if what == "sync":
                if p.returncode != 0 or p.stderr:
                    problems.append((what, p.returncode, out))
            elif p.returncode == 1:
                runs["verify_mismatch"] += 1
                for l in mismatches(p.stdout):
                    if not (l.endswith("in the Maildir, not in the index") or
                            l.endswith("in the index, not in the Maildir")):
                        problems.append((what, p.returncode, l))
                if p.stderr:
                    problems.append((what, p.returncode, p.stderr))
            elif p.returncode != 0 or p.stderr:
                problems.append((what, p.returncode, out))
            runs[what] += 1

    loopers = [threading.Thread(target=loop, daemon=True) for _ in range(2)]
    for t in loopers:
        t.start()
    try:
        senders.join(timeout=120)
    finally:
        done.set()
        for t in loopers:
            t.join(60)
    assert not any(t.is_alive() for t in loopers), "a sync or verify hung"
    assert not problems, problems[:5]
    assert not senders.errors and not senders.refused, (senders.errors[:3],
                                                        senders.refused[:3])
    assert len(senders.acked) == 2000
    assert runs["sync"] >= 2 and runs["verify"] >= 2, runs

    wait_verified(srv.conf_path, timeout=20)
    d = check_consistent(srv.conf_path, srv.maildir, dense=True)
    assert len(d.recs) == 2000
    counts = token_counts(srv.maildir)
    assert sorted(counts) == sorted(senders.acked) and set(counts.values()) == {1}
    print(runs)
