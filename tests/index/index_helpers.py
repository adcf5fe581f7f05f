"""Helpers for the index suite (tests/index only): the `letterbox index` CLI, dump
parsing, the Maildir as it is on disk, parallel senders and the indexer process.

Every wait here is bounded; none of them is an assertion about speed.
"""
import hashlib
import os
import random
import signal
import socket
import subprocess
import threading
import time

from conftest import (BUILD, TOP, Client, children, greet, process_state, send_mail,
                      wait_for)

CLI = os.path.join(TOP, BUILD, "letterbox")
INDEX_DIR = "letterbox-index"
# Limits raised so that the parallel senders are never turned away with a 421.
MANY = {"max_sessions": 200, "max_sessions_per_ip": 200}


# ---------------------------------------------------------------- the CLI

def cli(conf, *args, timeout=60):
    """Run `letterbox -f conf index ARGS`; a hang fails the test (timeout)."""
    return subprocess.run([CLI, "-f", conf, "index", *args], capture_output=True,
                          text=True, timeout=timeout)


def verify(conf):
    p = cli(conf, "verify")
    return p.returncode, p.stdout + p.stderr


def mismatches(out):
    return [l[len("mismatch: "):] for l in out.splitlines() if l.startswith("mismatch: ")]


class Dump:
    def __init__(self, text):
        lines = text.splitlines()
        assert lines[0].startswith("uidvalidity "), text[:500]
        assert lines[1].startswith("next_uid "), text[:500]
        self.uidvalidity = int(lines[0].split()[1])
        self.next_uid = int(lines[1].split()[1])
        self.recs = []
        for l in lines[2:]:
            if l.startswith("#") or not l:
                continue
            uid, size, arrival, where, flags, name = l.split(" ", 5)
            assert where in ("new", "cur"), l
            self.recs.append((int(uid), int(size), int(arrival), where, flags, name))

    def by_name(self):
        return {r[5]: r for r in self.recs}

    def uid_of(self):
        return {r[5]: r[0] for r in self.recs}

    def uids(self):
        return [r[0] for r in self.recs]


def dump(conf):
    p = cli(conf, "dump")
    assert p.returncode == 0, p.stdout + p.stderr
    return Dump(p.stdout)


def wait_verified(conf, timeout=20.0):
    """Poll `verify` until it exits 0 (the indexer has caught up); fail with the last
    report after timeout. Returns the last output."""
    deadline = time.monotonic() + timeout
    while True:
        rc, out = verify(conf)
        if rc == 0:
            return out
        assert rc == 1, f"verify exited {rc}:\n{out}"
        if time.monotonic() > deadline:
            raise AssertionError(f"index still disagrees after {timeout}s:\n{out[-3000:]}")
        time.sleep(0.1)


# ---------------------------------------------------------------- the Maildir

def base(name):
    return name.split(":", 1)[0]


def name_size(name):
    """The ,S=<n> of a base name, or None."""
    for field in base(name).split(",")[1:]:
        if field.startswith("S=") and field[2:].isdigit():
            return int(field[2:])
    return None


def maildir_files(maildir):
    """{base name: (sub, file name, size on disk)} for new/ and cur/. A base name in
    both (which Letterbox never makes) fails here."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for n in os.listdir(d):
            if n.startswith("."):
                continue
            b = base(n)
            assert b not in out, f"{b} twice in the Maildir"
            out[b] = (sub, n, os.path.getsize(os.path.join(d, n)))
    return out


def snapshot(maildir):
    """{sub/name: sha256 of the contents} of everything in new/, cur/ and tmp/."""
    out = {}
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        for n in sorted(os.listdir(d)):
            with open(os.path.join(d, n), "rb") as f:
                out[f"{sub}/{n}"] = hashlib.sha256(f.read()).hexdigest()
    return out


def flags_of(name):
    """The flags of a cur/ name's ":2," info, sorted as dump prints them ("-": none)."""
    if ":2," not in name:
        return "-"
    f = "".join(sorted(set(c for c in name.split(":2,", 1)[1] if c.isalpha()),
                       key=lambda c: (c.islower(), c)))
    return f or "-"


def check_consistent(conf, maildir, dense=True):
    """The index and the Maildir agree, as seen by `dump` (not only by verify): every
    file has exactly one UID, UIDs are unique (1..N if dense), all below next_uid
    (= N+1 if dense), sizes equal ,S= and the file's size, location and flags match.
    Returns the Dump."""
    d = dump(conf)
    files = maildir_files(maildir)
    names = [r[5] for r in d.recs]
    uids = d.uids()
    assert len(set(names)) == len(names), "a name has two UIDs"
    assert len(set(uids)) == len(uids), "a UID is given twice"
    assert set(names) == set(files), (
        f"in the Maildir only: {sorted(set(files) - set(names))[:5]}, "
        f"in the index only: {sorted(set(names) - set(files))[:5]}")
    assert all(0 < u < d.next_uid for u in uids), (d.next_uid, max(uids, default=0))
    if dense:
        assert sorted(uids) == list(range(1, len(uids) + 1))
        assert d.next_uid == len(uids) + 1
    for uid, size, arrival, where, flags, name in d.recs:
        sub, fname, disk = files[name]
        assert where == sub, (name, where, sub)
        assert flags == flags_of(fname), (fname, flags)
        s = name_size(name)
        if s is not None:
            assert size == s == disk, (name, size, s, disk)
        assert arrival == int(name.split(".", 1)[0]), (name, arrival)
    return d


def token_counts(maildir):
    """{X-Token value: number of files in new/ and cur/ that carry it}."""
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(maildir, sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                head = f.read(4096)
            for line in head.split(b"\r\n"):
                if line.startswith(b"X-Token: "):
                    t = line[9:].decode()
                    out[t] = out.get(t, 0) + 1
                    break
    return out


def damage_file(path, how, rng):
    """Truncate path to an int size, or overwrite it with random bytes ("garbage",
    same size, at least one page) or random bytes over its first 64 KiB ("scribble")."""
    if isinstance(how, int):
        os.truncate(path, how)
    elif how == "garbage":
        n = max(os.path.getsize(path), 4096)
        with open(path, "wb") as f:
            f.write(rng.randbytes(n))
    elif how == "scribble":
        n = min(os.path.getsize(path), 65536)
        with open(path, "r+b") as f:
            f.write(rng.randbytes(n))
    else:
        raise ValueError(how)


# ---------------------------------------------------------------- processes

def indexer_pid(srv, timeout=10.0):
    """The daemon's indexer: its child whose working directory is the Maildir."""
    want = os.path.realpath(srv.maildir)

    def find():
        for pid in children(srv.proc.pid):
            try:
                if os.readlink(f"/proc/{pid}/cwd") == want and \
                        process_state(pid) not in (None, "Z"):
                    return pid
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                pass
        return None
    return wait_for(find, timeout, "the indexer process")


def is_indexer_of(pid, maildir):
    """pid is alive and is an indexer working in maildir (guards against PID reuse)."""
    try:
        return (os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(maildir) and
                process_state(pid) not in (None, "Z"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def stop_leftover_indexers(pids, maildir):
    """SIGTERM (then SIGKILL) indexers this test's daemons left behind, by PID."""
    for pid in pids:
        if is_indexer_of(pid, maildir):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for pid in pids:
        while is_indexer_of(pid, maildir) and time.monotonic() < deadline:
            time.sleep(0.02)
        if is_indexer_of(pid, maildir):
            os.kill(pid, signal.SIGKILL)


def kill_child(pid, parent, sig=signal.SIGKILL):
    """Send sig to pid only while it is still parent's child (a pidfd pins the
    process, so a PID reused after a reap is never hit). True if it was sent."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        if ppid != parent:
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except (FileNotFoundError, ProcessLookupError):
        return False
    finally:
        os.close(fd)


def session_kill_lines(srv):
    """The signals of the log's "session process N killed by signal S" lines."""
    return [int(l.rsplit(" ", 1)[1]) for l in srv.read_log().splitlines()
            if "killed by signal" in l]


# ---------------------------------------------------------------- senders

def token_message(token, body_lines=3):
    body = "".join(f"line {i} of {token}\r\n" for i in range(body_lines))
    return (f"From: <sender@example.net>\r\nTo: <alice@example.test>\r\n"
            f"Subject: {token}\r\nX-Token: {token}\r\n"
            f"Message-ID: <{token}@example.net>\r\n\r\n{body}")


def deliver(port, n, prefix="m"):
    """Send n messages over one connection; returns their tokens (all got 250)."""
    c = Client(port)
    try:
        greet(c)
        toks = []
        for i in range(n):
            t = f"{prefix}-{i}"
            code, lines = send_mail(c, token_message(t))
            assert code == 250, lines
            toks.append(t)
        c.cmd("QUIT")
        return toks
    finally:
        c.close()


def indexer_ready(srv):
    """Deliver one message and wait until it is indexed: the indexer has then done
    its start-up sync. Deliveries racing that sync may get UIDs a little out of name
    order (the sync sees a later-named file linked before an earlier-named one), so
    tests that compare UIDs with a rebuild from scratch start after it."""
    toks = deliver(srv.port, 1, prefix="warmup")
    wait_verified(srv.conf_path)
    return toks


class Senders:
    """n threads delivering messages with unique X-Token headers to port() (a callable:
    the port can change when a test restarts the daemon), 1 to per_conn messages per
    connection, until `total` messages were acknowledged or stop() is called.
    Connection failures (a killed server) are retried; only 250 counts as acknowledged.
    """

    def __init__(self, port, n, total=None, per_conn=3, seed=0, prefix="t",
                 tolerate_errors=False, big_ratio=0.0):
        """big_ratio: the share of messages of about 60 KB (longer sessions)."""
        self.port = port
        self.big_ratio = big_ratio
        self.total = total
        self.per_conn = per_conn
        self.prefix = prefix
        self.tolerate_errors = tolerate_errors
        self.lock = threading.Lock()
        self.acked = []            # tokens that got a 250
        self.sent = 0              # tokens handed out
        self.refused = []          # (token, reply) other than 250 on a live connection
        self.errors = []           # unexpected exceptions
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(seed * 1000 + i,),
                                         daemon=True) for i in range(n)]
        for t in self.threads:
            t.start()

    def _next_token(self):
        with self.lock:
            if self.total is not None and self.sent >= self.total:
                return None
            self.sent += 1
            return f"{self.prefix}{self.sent:06d}"

    def _run(self, seed):
        rng = random.Random(seed)
        while not self.stopping.is_set():
            try:
                c = Client(self.port(), timeout=15)
            except OSError:
                time.sleep(0.01)            # the daemon is being restarted
                continue
            try:
                greet(c)
                for _ in range(rng.randint(1, self.per_conn)):
                    if self.stopping.is_set():
                        break
                    tok = self._next_token()
                    if tok is None:
                        return
                    big = rng.random() < self.big_ratio
                    code, lines = send_mail(c, token_message(tok, 3000 if big else 3))
                    with self.lock:
                        if code == 250:
                            self.acked.append(tok)
                        else:
                            self.refused.append((tok, code, lines))
                try:
                    c.cmd("QUIT")
                except (OSError, ConnectionError):
                    pass
            except (OSError, ConnectionError, AssertionError, ValueError, IndexError) as e:
                # A session or daemon killed under us: the message in flight may or
                # may not have been delivered; it was not acknowledged.
                if not self.tolerate_errors:
                    with self.lock:
                        self.errors.append(repr(e))
            finally:
                c.close()

    def stop(self, timeout=60):
        self.stopping.set()
        self.join(timeout)

    def join(self, timeout=60):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        alive = [t for t in self.threads if t.is_alive()]
        assert not alive, f"{len(alive)} sender thread(s) hung"
