"""kill -9 during deliveries and index updates, and the restarts that follow.

- 50 rounds of kill -9, at a random moment while 6 senders deliver, of the indexer,
  of a session, or of the whole daemon (restarted on the same Maildir): afterwards
  every acknowledged message is in the Maildir exactly once and in the index exactly
  once, and the running daemon's indexer gets there by itself (no `index sync`). No
  restart needed a rebuild (Berkeley DB recovery suffices after a kill) and none hung.
- The indexer dies with its daemon: a daemon killed with -9 leaves no indexer behind
  to hold the index (an orphan would keep the index's lock, so that no rebuild could
  ever run, and would pile up with every crash). The restarted daemon recovers.
- A daemon killed with -9 and its index damaged before the restart: the new indexer
  rebuilds it by itself.
"""
import os
import random
import signal
import time

from conftest import children, process_state, wait_for
from index_helpers import (INDEX_DIR, MANY, Senders, check_consistent, damage_file,
                           deliver, kill_child, dump, indexer_pid, is_indexer_of, session_kill_lines,
                           stop_leftover_indexers, token_counts, verify, wait_verified)

ROUNDS = 50


def kill9_daemon(srv, session_kills=0):
    """kill -9 the daemon; returns the PIDs of the children it leaves behind.
    session_kills: how many of its sessions we killed (its log is final now)."""
    kids = children(srv.proc.pid)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    settle_session_kills(srv, session_kills)
    return kids


def alive(pid):
    return process_state(pid) not in (None, "Z")


def session_candidates(srv, timeout=0.5):
    """Live session processes of the daemon (its children other than the indexer);
    sessions are short, so look for one for a little while."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in children(srv.proc.pid)
                if alive(p) and not is_indexer_of(p, srv.maildir)]
        if pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.002)


def settle_session_kills(srv, sent):
    """The harness counts "killed by signal" lines: each must be one of our SIGKILLs."""
    sigs = session_kill_lines(srv)
    assert all(s == signal.SIGKILL for s in sigs), sigs
    assert len(sigs) <= sent, (sigs, sent)
    srv.expected_kills = len(sigs)


def test_kill9_rounds_lose_nothing_and_index_everything_once(make_server):
    rng = random.Random(20240607)
    srv = make_server(with_tls=False, **MANY)
    maildir = srv.maildir
    state = {"srv": srv}
    senders = Senders(lambda: state["srv"].port, 6, per_conn=3, seed=7,
                      tolerate_errors=True, big_ratio=0.2)
    indexers = set()             # every indexer PID seen, to clean up orphans
    kills = {"indexer": 0, "session": 0, "daemon": 0}
    session_kills_sent = 0
    indexer_kills_this_daemon = 0
    logs = []
    try:
        for rnd in range(ROUNDS):
            time.sleep(rng.uniform(0.05, 0.6))
            srv = state["srv"]
            choices = ["session", "daemon"]
            # The daemon restarts a dying indexer at once 5 times a minute, then
            # waits a minute: stay within the budget of one daemon.
            if indexer_kills_this_daemon < 4:
                choices.append("indexer")
            target = rng.choice(choices)
            if target == "indexer":
                pid = indexer_pid(srv)
                indexers.add(pid)
                assert kill_child(pid, srv.proc.pid)
                indexer_kills_this_daemon += 1
            elif target == "session":
                pids = session_candidates(srv)
                if not pids:
                    continue
                if not kill_child(rng.choice(pids), srv.proc.pid):
                    continue
                session_kills_sent += 1
            else:
                indexers.add(indexer_pid(srv))
                orphans = kill9_daemon(srv, session_kills_sent)
                session_kills_sent = 0
                # The old daemon's sessions finish what they were doing (their
                # clients get their 250s) before the new daemon starts.
                for pid in orphans:
                    if not is_indexer_of(pid, maildir):
                        wait_for(lambda: not alive(pid), 20, f"orphan session {pid}")
                logs.append(srv)
                state["srv"] = make_server(with_tls=False, maildir=maildir, **MANY)
                indexer_kills_this_daemon = 0
            kills[target] += 1
        senders.stop()
        srv = state["srv"]
        assert senders.acked, "no message was acknowledged"
        assert not senders.refused, senders.refused[:5]

        # Every acknowledged message is in the Maildir exactly once; nothing is
        # there twice (a message without a 250 may or may not be there).
        counts = token_counts(maildir)
        missing = [t for t in senders.acked if t not in counts]
        assert not missing, f"{len(missing)} acknowledged message(s) lost: {missing[:5]}"
        twice = {t: n for t, n in counts.items() if n != 1}
        assert not twice, twice

        # The running daemon's indexer catches up by itself.
        wait_verified(srv.conf_path, timeout=20)
        d = check_consistent(srv.conf_path, maildir, dense=False)
        assert len(d.recs) == len(counts)
        before = d.uid_of()

        # The next start recovers, keeping every UID (a clean restart after crashes).
        indexers.add(indexer_pid(srv))
        kill9_daemon(srv, session_kills_sent)
        logs.append(srv)
        srv = state["srv"] = make_server(with_tls=False, maildir=maildir, **MANY)
        indexers.add(indexer_pid(srv))
        wait_verified(srv.conf_path, timeout=20)
        d2 = check_consistent(srv.conf_path, maildir, dense=False)
        assert d2.uid_of() == before
        assert d2.uidvalidity == d.uidvalidity
        logs.append(srv)
        for s in logs:
            log = s.read_log()
            assert "index damaged" not in log, log[-3000:]
            # One indexer at a time uses the index here, so the recovery a restarted
            # indexer runs never pulls the environment from under another user.
            assert "DB_RUNRECOVERY" not in log, log[-3000:]
        print("kills:", kills, "acknowledged:", len(senders.acked))
        assert kills["daemon"] > 0 and kills["indexer"] > 0 and kills["session"] > 0, kills
    finally:
        senders.stop()
        stop_leftover_indexers(indexers, maildir)


def test_indexer_exits_when_its_daemon_is_killed(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 3)
    wait_verified(srv.conf_path)
    ix = indexer_pid(srv)
    try:
        kill9_daemon(srv)
        # A SIGKILLed parent cannot tell its children: the indexer must notice.
        wait_for(lambda: not is_indexer_of(ix, srv.maildir), 10,
                 "the indexer of a killed daemon to exit")
        # Nothing holds the index now: a rebuild can run.
        rc, out = verify(srv.conf_path)
        assert rc == 0, out
    finally:
        stop_leftover_indexers([ix], srv.maildir)


def test_damage_while_daemon_dead_is_rebuilt_at_restart(make_server):
    srv = make_server(with_tls=False)
    deliver(srv.port, 10)
    wait_verified(srv.conf_path)
    before = dump(srv.conf_path)
    ix = indexer_pid(srv)
    new_ix = None
    try:
        kill9_daemon(srv)
        wait_for(lambda: not is_indexer_of(ix, srv.maildir), 10,
                 "the indexer of a killed daemon to exit")
        damage_file(os.path.join(srv.maildir, INDEX_DIR, "index.db"), "garbage",
                    random.Random(3))
        rc, out = verify(srv.conf_path)
        assert rc == 1, out
        srv2 = make_server(with_tls=False, maildir=srv.maildir)
        new_ix = indexer_pid(srv2)
        deliver(srv2.port, 2, prefix="after")
        wait_verified(srv2.conf_path)
        d = check_consistent(srv2.conf_path, srv2.maildir, dense=False)
        assert len(d.recs) == 12
        assert set(before.uid_of()) <= set(d.uid_of())
        assert "rebuilt" in srv2.read_log()
    finally:
        stop_leftover_indexers([ix] + ([new_ix] if new_ix else []), srv.maildir)
