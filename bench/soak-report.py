#!/usr/bin/env python3
"""soak-report.py: the sampler and the report of bench/soak.sh.

  soak-report.py sample DIR    every SAMPLE seconds (DIR/meta.env) until SIGTERM, then
                               once more: one row of DIR/samples.csv
  soak-report.py report DIR OUT.md
                               the checks and the Markdown report; exit status 0 if
                               nothing was lost and every long-lived series stayed
                               flat, 1 if not

A row: the RSS (VmRSS, KiB) and open descriptors (/proc/PID/fd) of each daemon process
-- letterbox-smtpd's parent, its indexer, auth process and queue runner, the sum and
the largest of its session processes, letterbox-pop3d's parent, auth process and
sessions, the queue runner's delivery processes and the auth workers -- the files in
the Maildir's tmp/, new/, cur/ and the queue's tmp/, msg/, state/, the size of the
index, and the load's and the sink's counters (their DIR/*/status files).

The processes are told apart by what the code makes them do, not by guessing: the
indexer's working directory is the Maildir (maildir/indexer.c fchdir()s there), the
auth process's is state_dir (auth/authd.c), the queue runner holds the socket bound to
queue/runner.sock (queue/runner.c); every other child of a daemon's parent is a
session process.
"""
import csv
import os
import re
import signal
import statistics
import sys
import time

# ------------------------------------------------------------------ sampling

COLUMNS = [
    "t", "phase", "load1",
    "smtpd_rss", "smtpd_fds", "indexer_rss", "indexer_fds", "sauth_rss", "sauth_fds",
    "runner_rss", "runner_fds", "ssess_n", "ssess_rss_sum", "ssess_rss_max",
    "ssess_fds_sum", "ssess_fds_max", "deliver_n", "deliver_rss_sum",
    "pop3d_rss", "pop3d_fds", "pauth_rss", "pauth_fds", "psess_n", "psess_rss_sum",
    "psess_rss_max", "psess_fds_max", "authw_n",
    "helper_restarts",
    "md_tmp", "md_new", "md_cur", "q_tmp", "q_msg", "q_state", "index_kb", "index_logs",
    "in_acked", "sub_acked", "pop_retr", "pop_deleted", "ab_total", "ab_unexpected",
    "sink_tx", "sink_rcpts",
]


def read_env(path):
    d = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                d[k] = v
    return d


def read_status(path):
    try:
        return read_env(path)
    except OSError:
        return {}


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except OSError:
        pass
    return out


def rss_fds1(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = 0
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


def rss_fds(pid, reads=1):
    """(VmRSS KiB, open fds), or None if the process is gone. With reads > 1, the
    smallest of that many readings 50 ms apart: a long-lived process's descriptors
    and memory of the moment (an auth worker's pipe, a session being handed over, a
    buffer about to be freed) are not what a leak is made of."""
    best = None
    try:
        for i in range(reads):
            if i:
                time.sleep(0.05)
            v = rss_fds1(pid)
            best = v if best is None else (min(best[0], v[0]), min(best[1], v[1]))
    except (OSError, ValueError):
        return best
    return best


def cwd(pid):
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return None


def socket_inodes(pid):
    s = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                s.add(int(link[8:-1]))
    except OSError:
        pass
    return s


def runner_sockets():
    """Inodes of the unix sockets bound to a name ending in runner.sock (any instance)."""
    s = set()
    try:
        with open("/proc/net/unix") as f:
            next(f)
            for line in f:
                p = line.split()
                if len(p) >= 8 and p[7].endswith("runner.sock"):
                    s.add(int(p[6]))
    except OSError:
        pass
    return s


def count_dir(path):
    try:
        return sum(1 for e in os.scandir(path) if not e.name.startswith("."))
    except OSError:
        return -1


def index_size(path):
    kb, logs = 0, 0
    try:
        for e in os.scandir(path):
            if e.is_file(follow_symlinks=False):
                kb += e.stat().st_blocks // 2
                if e.name.startswith("log."):
                    logs += 1
    except OSError:
        return -1, -1
    return kb, logs


class Sampler:
    def __init__(self, d):
        self.dir = d
        self.meta = read_env(os.path.join(d, "meta.env"))
        self.maildir = os.path.realpath(self.meta["MAILDIR"])
        self.state = os.path.realpath(self.meta["STATE_DIR"])
        self.queue = os.path.join(self.state, "queue")
        self.smtpd = int(self.meta["SMTPD_PID"])
        self.pop3d = int(self.meta["POP3D_PID"])
        self.t0 = float(self.meta["T0"])
        self.roles = {}          # role -> pid, to notice a restarted helper
        self.restarts = 0

    def role(self, name, pid):
        old = self.roles.get(name)
        if old is not None and old != pid:
            self.restarts += 1
        self.roles[name] = pid

    def sample(self):
        row = dict.fromkeys(COLUMNS, 0)
        row["t"] = f"{time.time() - self.t0:.1f}"
        row["phase"] = read_status(os.path.join(self.dir, "phase")).get("phase", "?")
        with open("/proc/loadavg") as f:
            row["load1"] = f.read().split()[0]
        runners = runner_sockets()

        # smtpd: parent, helpers, sessions
        v = rss_fds(self.smtpd, 3)
        row["smtpd_rss"], row["smtpd_fds"] = v if v else ("", "")
        sess = []
        for c in children(self.smtpd):
            v = rss_fds(c)
            if v is None:
                continue
            wd = cwd(c)
            if wd == self.maildir:
                self.role("indexer", c)
                row["indexer_rss"], row["indexer_fds"] = rss_fds(c, 3) or v
            elif wd == self.state:
                self.role("sauth", c)
                row["sauth_rss"], row["sauth_fds"] = rss_fds(c, 3) or v
                row["authw_n"] += len(children(c))
            elif socket_inodes(c) & runners:
                self.role("runner", c)
                row["runner_rss"], row["runner_fds"] = rss_fds(c, 3) or v
                for g in children(c):
                    w = rss_fds(g)
                    if w:
                        row["deliver_n"] += 1
                        row["deliver_rss_sum"] += w[0]
            else:
                sess.append(v)
        row["ssess_n"] = len(sess)
        row["ssess_rss_sum"] = sum(s[0] for s in sess)
        row["ssess_rss_max"] = max((s[0] for s in sess), default=0)
        row["ssess_fds_sum"] = sum(s[1] for s in sess)
        row["ssess_fds_max"] = max((s[1] for s in sess), default=0)

        # pop3d: parent, auth, sessions
        v = rss_fds(self.pop3d, 3)
        row["pop3d_rss"], row["pop3d_fds"] = v if v else ("", "")
        sess = []
        for c in children(self.pop3d):
            v = rss_fds(c)
            if v is None:
                continue
            if cwd(c) == self.state:
                self.role("pauth", c)
                row["pauth_rss"], row["pauth_fds"] = rss_fds(c, 3) or v
                row["authw_n"] += len(children(c))
            else:
                sess.append(v)
        row["psess_n"] = len(sess)
        row["psess_rss_sum"] = sum(s[0] for s in sess)
        row["psess_rss_max"] = max((s[0] for s in sess), default=0)
        row["psess_fds_max"] = max((s[1] for s in sess), default=0)
        row["helper_restarts"] = self.restarts

        for col, path in (("md_tmp", "tmp"), ("md_new", "new"), ("md_cur", "cur")):
            row[col] = count_dir(os.path.join(self.maildir, path))
        for col, path in (("q_tmp", "tmp"), ("q_msg", "msg"), ("q_state", "state")):
            row[col] = count_dir(os.path.join(self.queue, path))
        row["index_kb"], row["index_logs"] = index_size(
            os.path.join(self.maildir, "letterbox-index"))

        ld = read_status(os.path.join(self.dir, "load", "status"))
        for k in ("in_acked", "sub_acked", "pop_retr", "pop_deleted", "ab_unexpected"):
            row[k] = ld.get(k, 0)
        row["ab_total"] = sum(int(v) for k, v in ld.items()
                              if k.startswith("ab_") and k not in
                              ("ab_ok", "ab_unexpected", "ab_skipped"))
        sk = read_status(os.path.join(self.dir, "sink", "status"))
        row["sink_tx"] = sk.get("sink_tx", 0)
        row["sink_rcpts"] = sk.get("sink_rcpts", 0)
        return row


class Stop(Exception):
    pass


def sample_main(d):
    s = Sampler(d)
    interval = float(s.meta.get("SAMPLE", "10"))
    path = os.path.join(d, "samples.csv")

    def stop(signum, frame):
        raise Stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        f.flush()
        nxt = time.monotonic()
        try:
            while True:
                w.writerow(s.sample())
                f.flush()
                nxt += interval
                time.sleep(max(0.0, nxt - time.monotonic()))
        except Stop:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            w.writerow(s.sample())
            f.flush()


# ------------------------------------------------------------------ report

# the long-lived processes: their RSS and fds must stay flat after the warm-up
LONG_LIVED = [
    ("smtpd", "letterbox-smtpd parent (listener)"),
    ("indexer", "smtpd indexer"),
    ("sauth", "smtpd auth process"),
    ("runner", "smtpd queue runner"),
    ("pop3d", "letterbox-pop3d parent (listener)"),
    ("pauth", "pop3d auth process"),
]
OTHER_SERIES = [
    ("ssess_n", "smtpd session processes"),
    ("ssess_rss_sum", "smtpd sessions, RSS sum (KiB)"),
    ("ssess_rss_max", "smtpd sessions, largest RSS (KiB)"),
    ("ssess_fds_max", "smtpd sessions, most fds"),
    ("deliver_n", "queue delivery processes"),
    ("psess_n", "pop3d session processes"),
    ("psess_rss_max", "pop3d sessions, largest RSS (KiB)"),
    ("psess_fds_max", "pop3d sessions, most fds"),
    ("authw_n", "auth workers"),
    ("md_tmp", "Maildir tmp/ files"),
    ("md_new", "Maildir new/ files"),
    ("md_cur", "Maildir cur/ files"),
    ("q_tmp", "queue tmp/ files"),
    ("q_msg", "queue msg/ files"),
    ("q_state", "queue state/ files"),
    ("index_kb", "index directory (KiB)"),
    ("index_logs", "index log files"),
    ("load1", "load average (1 min)"),
]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return float("nan")


def fds_of(key, s):
    """A process's descriptors; a parent's without the one it holds per session
    process (the control socket it hands connections over), which come and go with
    the pool."""
    per = {"smtpd": "ssess_n", "pop3d": "psess_n"}.get(key)
    return num(s[f"{key}_fds"]) - (num(s[per]) if per else 0)


def slope_per_hour(ts, ys):
    """Least-squares slope of ys over ts (seconds), per hour; nan with < 3 points."""
    pts = [(t, y) for t, y in zip(ts, ys) if y == y]
    if len(pts) < 3:
        return float("nan")
    mt = sum(t for t, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((t - mt) ** 2 for t, _ in pts)
    if sxx == 0:
        return float("nan")
    return sum((t - mt) * (y - my) for t, y in pts) / sxx * 3600


def fmt(v, d=0):
    if v != v:
        return "-"
    return f"{v:,.{d}f}" if d else f"{v:,.0f}"


def read_records(path):
    recs = []
    try:
        with open(path) as f:
            for line in f:
                recs.append(line.split())
    except OSError:
        pass
    return recs


def log_summary(path):
    """Counts of the log's lines by kind (numbers, ids and values taken out)."""
    kinds, notable = {}, []
    try:
        f = open(path, errors="replace")
    except OSError:
        return kinds, notable
    with f:
        for line in f:
            m = re.match(r"^\S+\[\d+\]: (.*)$", line.rstrip("\n"))
            msg = m.group(1) if m else line.rstrip("\n")
            k = re.sub(r"^session=\S+ ", "", msg)
            if k.startswith("auth result="):
                k = " ".join(w for w in k.split()
                             if w.startswith(("auth", "result=", "service=", "mech=")))
            elif k.startswith("delivery "):
                k = " ".join(w for w in k.split()
                             if w.startswith(("delivery", "result=")))
            else:
                k = re.sub(r'="[^"]*"', '="…"', k)
                k = re.sub(r"=[^ ]+", "=…", k)
                k = re.sub(r"\d+", "N", k)
            kinds[k] = kinds.get(k, 0) + 1
            if re.search(r"killed by signal|exited \(status|died|fatal|restarting|"
                         r"assert|sanitizer|corrupt|damaged", msg, re.I):
                notable.append(msg)
    return kinds, notable


def check(d):
    """The nothing-lost checks: (table rows, problems, figures)."""
    recs = read_records(os.path.join(d, "load", "records.log"))
    sink = read_records(os.path.join(d, "sink", "sink.log"))
    scan = read_records(os.path.join(d, "maildir.scan"))
    acked, unknown, refused, dropped, bad = {}, {}, [], set(), []
    fetched, maybe = {}, {}
    for r in recs:
        if r[0] in ("A", "U") and len(r) >= 6:
            (acked if r[0] == "A" else unknown)[r[2]] = {
                "kind": r[1], "octets": int(r[3]), "hash": r[4],
                "rcpts": r[5].split(",")}
        elif r[0] == "R":
            refused.append(r)
        elif r[0] == "D" and len(r) >= 2:
            dropped.add(r[1])
        elif r[0] == "B":
            bad.append(" ".join(r[1:]))
        elif r[0] in ("F", "Q") and len(r) >= 4:
            (fetched if r[0] == "F" else maybe).setdefault(r[1], []).append(
                (int(r[2]), r[3]))
    stored = {}
    size_bad = 0
    for r in scan:
        if len(r) >= 6:
            stored.setdefault(r[1], []).append((int(r[2]), r[3]))
            size_bad += r[5] == "0"
    at_sink = {}
    for r in sink:
        if len(r) >= 5:
            for rc in r[4].split(","):
                at_sink.setdefault((r[1], rc), []).append((int(r[2]), r[3]))

    p = []                                    # problems
    local = {i: a for i, a in acked.items() if "L" in a["rcpts"]}
    remote = [(i, rc, a) for i, a in acked.items() for rc in a["rcpts"] if rc != "L"]
    lost_l = dup_l = bytes_l = fetched_n = stored_n = maybe_n = 0
    for i, a in local.items():
        nf, nm, nq = len(fetched.get(i, [])), len(stored.get(i, [])), len(maybe.get(i, []))
        fetched_n += nf
        stored_n += nm
        if nf + nm == 0 and nq > 0:
            maybe_n += 1
        elif nf + nm == 0:
            lost_l += 1
            if lost_l <= 10:
                p.append(f"lost: {i} ({a['kind']}, {a['octets']} octets) neither "
                         "fetched nor in the Maildir")
        elif nf + nm > 1:
            dup_l += 1
            if dup_l <= 10:
                p.append(f"twice: {i} fetched {nf}x, in the Maildir {nm}x")
        for o, h in fetched.get(i, []) + stored.get(i, []) + maybe.get(i, []):
            if (o, h) != (a["octets"], a["hash"]):
                bytes_l += 1
                if bytes_l <= 10:
                    p.append(f"bytes differ: {i}: sent {a['octets']} {a['hash']}, "
                             f"got {o} {h}")
    lost_r = dup_r = bytes_r = 0
    for i, rc, a in remote:
        got = at_sink.get((i, rc), [])
        if not got:
            lost_r += 1
            if lost_r <= 10:
                p.append(f"lost: {i} for {rc} never reached the sink")
        elif len(got) > 1:
            dup_r += 1
            if dup_r <= 10:
                p.append(f"twice: {i} reached the sink {len(got)}x for {rc}")
        for o, h in got:
            if (o, h) != (a["octets"], a["hash"]):
                bytes_r += 1
                if bytes_r <= 10:
                    p.append(f"bytes differ at the sink: {i}: sent {a['octets']} "
                             f"{a['hash']}, got {o} {h}")
    # what arrived that nobody acknowledged
    known = set(acked) | set(unknown)
    phantom_local = sorted(i for i in set(fetched) | set(stored) | set(maybe)
                           if i not in known)
    phantom_sink = sorted({i for i, _ in at_sink if i not in known})
    drop_seen = sorted(i for i in dropped
                       if i in fetched or i in stored or any(i == k for k, _ in at_sink))
    unk_local = sum(1 for i, u in unknown.items()
                    if len(fetched.get(i, [])) + len(stored.get(i, [])) > 0)
    unk_dup = sum(1 for i, u in unknown.items()
                  if len(fetched.get(i, [])) + len(stored.get(i, [])) > 1 or
                  any(len(at_sink.get((i, rc), [])) > 1 for rc in u["rcpts"]))
    for i in phantom_local[:10]:
        p.append(f"delivered but never acknowledged nor sent: {i} (Maildir/POP3)")
    for i in phantom_sink[:10]:
        p.append(f"reached the sink but never acknowledged: {i}")
    for i in drop_seen[:10]:
        p.append(f"a transaction cut mid-DATA was delivered: {i}")
    if unk_dup:
        p.append(f"{unk_dup} unacknowledged message(s) delivered more than once")
    for r in refused[:10]:
        p.append("refused at the final dot: " + " ".join(r[1:]))
    for b in bad[:20]:
        p.append("client check failed: " + b)
    if size_bad:
        p.append(f"{size_bad} Maildir file(s) whose ,S= is not their size")

    rows = [
        ("acknowledged for the owner (inbound + submission to the owner)", len(local)),
        ("… fetched by POP3 (RETR, DELE, QUIT +OK)", fetched_n),
        ("… still in the Maildir at the end", stored_n),
        ("… deleted by a QUIT whose +OK never came (gone: counted as fetched)", maybe_n),
        ("… **lost**", lost_l),
        ("… **more than once**", dup_l),
        ("… **bytes differ** (octets or FNV-1a hash, per copy)", bytes_l),
        ("acknowledged (message, remote recipient) pairs", len(remote)),
        ("… **lost** (never at the sink)", lost_r),
        ("… **more than once** at the sink", dup_r),
        ("… **bytes differ** at the sink", bytes_r),
        ("final dot sent, no reply (unknown outcome)", len(unknown)),
        ("… of which delivered", unk_local + sum(1 for i, u in unknown.items()
                                                 if any((i, rc) in at_sink
                                                        for rc in u["rcpts"]))),
        ("refused at the final dot", len(refused)),
        ("transactions cut or stalled mid-DATA (must never be delivered)", len(dropped)),
        ("… **delivered**", len(drop_seen)),
        ("delivered, never acknowledged (Maildir/POP3 / sink)",
         f"{len(phantom_local)} / {len(phantom_sink)}"),
        ("client checks failed (LIST vs RETR sizes, UIDLs, replies to abuse)", len(bad)),
    ]
    lost = lost_l + lost_r + dup_l + dup_r + bytes_l + bytes_r + len(phantom_local) + \
        len(phantom_sink) + len(drop_seen) + unk_dup + len(refused) + size_bad + len(bad)
    return rows, p, lost


def report_main(d, out):
    meta = read_env(os.path.join(d, "meta.env"))
    with open(os.path.join(d, "samples.csv")) as f:
        samples = list(csv.DictReader(f))
    load = read_status(os.path.join(d, "load", "status"))
    sink = read_status(os.path.join(d, "sink", "status"))
    warm = float(meta["WARMUP"])
    rss_crit = float(meta["RSS_SLOPE_KB_H"])
    fd_crit = float(meta["FD_SLOPE_H"])
    steady = [s for s in samples if s["phase"] == "load" and num(s["t"]) >= warm]
    tss = [num(s["t"]) for s in steady]
    span = (max(tss) - min(tss)) if tss else 0

    rows, problems, lost = check(d)
    L = []
    w = L.append
    w(f"# Soak: {int(float(meta['DURATION'])) // 60} minutes of mixed SMTP + POP3 load "
      "— bench/soak.sh")
    w("")
    w(f"- date: {meta['DATE']} (UTC); load for {meta['DURATION']} s (its last connections "
      f"ended {int(meta['LOAD_S']) - int(meta['DURATION'])} s later: idle ones wait for "
      f"the server's timeouts), then the queue drained in {meta.get('DRAIN_S', '?')} s")
    w(f"- machine: {meta['MACHINE']}")
    w(f"- Letterbox: {meta['DESC']}")
    w(f"- binaries (sha256/12): {meta['SHA']}")
    w(f"- load average at start / end: {meta['LOAD_START']} / {meta['LOAD_END']}")
    w(f"- settings: DURATION={meta['DURATION']} SAMPLE={meta['SAMPLE']} "
      f"WARMUP={meta['WARMUP']} IN_RATE={meta['IN_RATE']} IN_CONNS={meta['IN_CONNS']} "
      f"SUB_RATE={meta['SUB_RATE']} SUB_CONNS={meta['SUB_CONNS']} "
      f"ABUSE_PER_MIN={meta['ABUSE_PER_MIN']} MAX_SIZE={meta['MAX_SIZE']} "
      f"SINK_DEFER={meta['SINK_DEFER']}‰ SINK_DROP={meta['SINK_DROP']}‰")
    w("")
    w("## Configuration")
    w("")
    w("Generated into a private directory under /var/tmp; the daemons run as the PAM test "
      "account (scripts/test-account.sh, service `letterbox-test`), on 127.0.0.1 only, in a "
      "mount namespace whose resolv.conf names 127.0.0.1; the outbound queue delivers to a "
      "counting sink on loopback (`soak-load sink`), which answers 451 to "
      f"{meta['SINK_DEFER']}‰ of the transactions and cuts {meta['SINK_DROP']}‰ mid-DATA, "
      "so the retry path runs too.")
    w("")
    w("```")
    with open(os.path.join(d, "letterbox.conf")) as f:
        for line in f:
            w(line.rstrip("\n").replace(d, "$SOAK"))
    w("```")
    w("")

    # throughput
    dur = float(meta["DURATION"])
    g = lambda k: int(load.get(k, 0))   # noqa: E731
    w("## Throughput per kind")
    w("")
    w("| kind | what | count | per s | MiB/s |")
    w("|---|---|---|---|---|")
    w(f"| inbound MX | messages acknowledged ({g('in_conns')} connections, "
      f"{g('in_tls')} with STARTTLS) | {g('in_acked')} | {g('in_acked') / dur:.1f} | "
      f"{g('in_bytes') / dur / 1048576:.2f} |")
    w(f"| submission (implicit TLS + AUTH) | messages acknowledged ({g('sub_logins')} "
      f"logins; {g('sub_local')} to the owner) | {g('sub_acked')} | "
      f"{g('sub_acked') / dur:.1f} | {g('sub_bytes') / dur / 1048576:.2f} |")
    sdur = float(meta["LOAD_S"]) + float(meta.get("DRAIN_S", 0) or 0)
    w(f"| queue → sink | transactions accepted ({sink.get('sink_rcpts', 0)} recipients, "
      f"{sink.get('sink_deferred', 0)} deferred with 451, {sink.get('sink_dropped', 0)} "
      f"cut mid-DATA, {sink.get('sink_conns', 0)} connections) | "
      f"{sink.get('sink_tx', 0)} | {int(sink.get('sink_tx', 0)) / sdur:.1f} | "
      f"{int(sink.get('sink_bytes', 0)) / sdur / 1048576:.2f} |")
    w(f"| POP3 | messages retrieved ({g('pop_sessions')} sessions, {g('pop_dropped')} "
      f"dropped without QUIT, {g('pop_rset')} ended with RSET, {g('pop_in_use')} "
      f"[IN-USE]) | {g('pop_retr')} | {g('pop_retr') / dur:.1f} | "
      f"{g('pop_bytes') / dur / 1048576:.2f} |")
    w(f"| POP3 | messages deleted (QUIT +OK) | {g('pop_deleted')} | "
      f"{g('pop_deleted') / dur:.1f} | |")
    ab = {k[3:]: int(v) for k, v in load.items() if k.startswith("ab_")}
    kinds = ", ".join(f"{k} {v}" for k, v in ab.items()
                      if k not in ("ok", "unexpected", "skipped"))
    w(f"| abuse | connections ({kinds}) | "
      f"{sum(v for k, v in ab.items() if k not in ('ok', 'unexpected', 'skipped'))} | "
      f"{sum(v for k, v in ab.items() if k not in ('ok', 'unexpected', 'skipped')) / dur:.2f}"
      f" | |")
    w("")
    w(f"Errors seen by the clients: inbound connections failed {g('in_conn_err')}, "
      f"refused before data {g('in_refused')}, submission logins failed "
      f"{g('sub_login_err')}, refused {g('sub_refused')}, POP3 logins failed "
      f"{g('pop_login_err')}, POP3 sessions failed {g('pop_err')}; abusive connections "
      f"answered as expected {ab.get('ok', 0)}, not {ab.get('unexpected', 0)}; "
      f"CPU: letterbox-smtpd's tree {meta.get('SMTPD_CPU_S', '?')} s, "
      f"letterbox-pop3d's {meta.get('POP3D_CPU_S', '?')} s (with every process they "
      f"reaped), the load client {load.get('cpu_s', '?')} s.")
    w("")

    # nothing lost
    w("## Nothing lost")
    w("")
    w("Each message is identified by its Message-ID; its bytes from its `From:` line to "
      "its end (what the server prepends, `Received:`, left out) by their number and "
      "FNV-1a 64 hash, taken by the sender, by the POP3 client (un-stuffed RETR), by the "
      "sink, and by a scan of the Maildir's files at the end.")
    w("")
    w("| check | count |")
    w("|---|---|")
    for k, v in rows:
        w(f"| {k} | {v} |")
    w("")
    if problems:
        w("Problems (first of each kind):")
        w("")
        for x in problems:
            w(f"- {x}")
        w("")

    # series
    w("## Processes and files over time")
    w("")
    w(f"{len(samples)} samples, one every {meta['SAMPLE']} s (`{os.path.basename(out)[:-3]}"
      f".csv`). Slope: least squares over the {len(steady)} samples of the load after "
      f"the warm-up ({meta['WARMUP']} s), {span / 60:.1f} minutes, in units per hour. "
      f"**Criterion**: a long-lived process is flat if its RSS slope is at most "
      f"{rss_crit:.0f} KiB/h and its descriptor slope at most {fd_crit:g}/h (a leak of "
      f"one 100-byte allocation per message at this load would be "
      f"{(g('in_acked') + g('sub_acked') + g('pop_retr')) / dur * 3600 * 100 / 1024:,.0f}"
      " KiB/h); and the tmp/ directories and the queue end empty (Letterbox writes a "
      "delivery into an unnamed O_TMPFILE inode, which no directory shows: one left "
      "behind would be a descriptor of its session process, counted above). A parent's "
      "descriptors are counted without the one it holds per session process (the "
      "socket it hands connections over), which come and go with the pool. Each "
      "long-lived process is read three times 50 ms apart and the smallest reading "
      "kept, so that what it holds only for a moment (an auth worker's pipe) is not "
      "taken for growth.")
    w("")
    w("| process | RSS KiB first | last | max | slope KiB/h | fds first | last | max | "
      "slope fds/h | flat |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    grew = []
    for key, name in LONG_LIVED:
        r = [num(s[f"{key}_rss"]) for s in samples]
        fd = [fds_of(key, s) for s in samples]
        rs = slope_per_hour(tss, [num(s[f"{key}_rss"]) for s in steady])
        fs = slope_per_hour(tss, [fds_of(key, s) for s in steady])
        ok = (rs == rs and rs <= rss_crit and fs == fs and fs <= fd_crit)
        if not ok:
            grew.append(f"{name}: RSS {fmt(rs)} KiB/h, fds {fmt(fs, 1)}/h")
        vr = [x for x in r if x == x]
        vf = [x for x in fd if x == x]
        w(f"| {name} | {fmt(vr[0]) if vr else '-'} | {fmt(vr[-1]) if vr else '-'} | "
          f"{fmt(max(vr)) if vr else '-'} | {fmt(rs)} | {fmt(vf[0]) if vf else '-'} | "
          f"{fmt(vf[-1]) if vf else '-'} | {fmt(max(vf)) if vf else '-'} | {fmt(fs, 1)} | "
          f"{'yes' if ok else '**no**'} |")
    w("")
    w("| series | first | last | max | mean (load) | slope/h after warm-up |")
    w("|---|---|---|---|---|---|")
    for key, name in OTHER_SERIES:
        v = [num(s[key]) for s in samples]
        vl = [num(s[key]) for s in samples if s["phase"] == "load"]
        d2 = 2 if key == "load1" else 0
        w(f"| {name} | {fmt(v[0], d2)} | {fmt(v[-1], d2)} | {fmt(max(v), d2)} | "
          f"{fmt(statistics.mean(vl), 1) if vl else '-'} | "
          f"{fmt(slope_per_hour(tss, [num(s[key]) for s in steady]), 1)} |")
    w("")
    restarts = int(num(samples[-1]["helper_restarts"])) if samples else 0
    end = samples[-1] if samples else {}
    files_left = {k: int(num(end.get(k))) for k in ("md_tmp", "q_tmp", "q_msg", "q_state")}
    if any(v != 0 for v in files_left.values()):
        grew.append("files left at the end: " +
                    ", ".join(f"{k}={v}" for k, v in files_left.items()))
    if restarts:
        grew.append(f"{restarts} helper process(es) replaced during the run")

    # logs
    w("## Daemon logs")
    w("")
    notable_all = []
    for which in ("smtpd", "pop3d"):
        kinds, notable = log_summary(os.path.join(d, f"{which}.log"))
        notable_all += notable
        w(f"letterbox-{which}: {sum(kinds.values())} lines; by kind:")
        w("")
        w("| lines | kind |")
        w("|---|---|")
        for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[:20]:
            w(f"| {v} | `{k[:150].replace('|', '/')}` |")
        if len(kinds) > 20:
            w(f"| {sum(v for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])[20:])} "
              f"| ({len(kinds) - 20} other kinds) |")
        w("")
    if notable_all:
        w("Notable lines (crashes, restarts, damage):")
        w("")
        for x in notable_all[:20]:
            w(f"- `{x[:200]}`")
        w("")
        grew.append(f"{len(notable_all)} notable log line(s) (crash, restart, damage)")

    # verdict
    w("## Verdict")
    w("")
    if lost == 0:
        w("- **Nothing lost**: every acknowledged message was fetched or is in the Maildir "
          "exactly once, every remote recipient got it exactly once at the sink, every "
          "byte the same; nothing cut mid-DATA was delivered.")
    else:
        w(f"- **FAILED: {lost} problem(s)** with the messages or the clients' checks "
          "(see above).")
    if not grew:
        w("- **Flat**: RSS and descriptors of every long-lived process within the "
          "criterion after the warm-up; Maildir tmp/, queue tmp/, msg/ and state/ empty "
          "at the end; no helper process replaced.")
    else:
        for x in grew:
            w(f"- **NOT FLAT**: {x}")
    if span < 600:
        w(f"- Note: the steady window is {span / 60:.1f} minutes; slopes per hour from "
          "under 10 minutes are rough.")
    w("")
    with open(out, "w") as f:
        f.write("\n".join(L))
    print("\n".join(L))
    return 0 if lost == 0 and not grew else 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "sample":
        sample_main(sys.argv[2])
        return 0
    if len(sys.argv) == 4 and sys.argv[1] == "report":
        return report_main(sys.argv[2], sys.argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
