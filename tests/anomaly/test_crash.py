"""kill -9 at awkward moments, restarts, and the stale tmp/ cleaner.

- A session killed mid-DATA delivers nothing; whatever it leaves in tmp/ (a named
  partial file, or nothing with O_TMPFILE) is dealt with at the next start.
- The parent killed while sessions run: every message that got a 250 (before the kill,
  and from sessions that outlive their parent) is in new/ exactly once, and a new
  daemon starts on the same Maildir and the same port while the orphans still run.
- At start, tmp/ files older than tmp_max_age are removed and nothing else is: not a
  fresh tmp/ file, not a directory, not an old message in new/ or cur/.
"""
import os
import shutil
import signal
import time

from conftest import children, greet, message, send_mail, wait_for, strip_trace, RCPT
from faults import alive, delivery_files, named_tmp

HOUR = 3600


def start_data(c):
    assert c.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert c.cmd(f"RCPT TO:<{RCPT}>")[0] == 250
    assert c.cmd("DATA")[0] == 354


def big_body(subject, size=200 * 1024):
    line = b"The quick brown fox jumps over the lazy dog, again and again and again.\r\n"
    return message(subject).encode() + line * (size // len(line))


def tmp_dir(srv):
    return os.path.join(srv.maildir, "tmp")


def backdate(path, seconds):
    t = time.time() - seconds
    os.utime(path, (t, t))


def by_message_id(srv):
    """{Message-ID: [file contents]} for every file in new/."""
    out = {}
    for f in srv.messages("new"):
        data = open(f, "rb").read()
        mid = [l for l in data.split(b"\r\n") if l.startswith(b"Message-ID: ")][0]
        out.setdefault(mid, []).append(data)
    return out


def msg_id(msg):
    return [l for l in msg.split(b"\r\n") if l.startswith(b"Message-ID: ")][0]


def test_session_killed_in_data_delivers_nothing_and_leaves_no_debris(make_server, connect):
    srv = make_server()
    c = connect(srv.port)
    greet(c)
    start_data(c)
    c.send(big_body("killed"))
    open_files = wait_for(lambda: delivery_files(srv), what="a session writing in tmp/")
    (pid, _), (path, _) = next(iter(open_files.items()))
    os.kill(pid, signal.SIGKILL)
    srv.expected_kills = 1
    wait_for(lambda: pid not in srv.session_pids(), what="the killed session to be reaped")
    assert c.closed()

    assert srv.messages("new") == [] and srv.messages("cur") == []
    left = os.listdir(tmp_dir(srv))
    if named_tmp(srv):
        # maildir(5): the partial file stays until the stale-file cleaner takes it.
        assert left == [os.path.basename(path)]
        assert os.path.getsize(os.path.join(tmp_dir(srv), left[0])) > 0
    else:
        # O_TMPFILE: the kernel freed the unnamed file with the process.
        assert left == []

    # The daemon goes on serving.
    c2 = connect(srv.port)
    greet(c2)
    good = message("after the kill")
    assert send_mail(c2, good)[0] == 250
    assert c2.cmd("QUIT")[0] == 221
    srv.stop()

    # At the next start, an old partial file goes; a fresh one (someone else's delivery
    # in progress) stays. Plant both, whatever this machine's delivery mode left.
    stale = os.path.join(tmp_dir(srv), "1000000000.M1P1R1.crashed")
    fresh = os.path.join(tmp_dir(srv), f"{int(time.time())}.M2P2R2.in-progress")
    for p in (stale, fresh):
        with open(p, "wb") as f:
            f.write(b"Subject: partial\r\n\r\nhalf a mess")
    backdate(stale, 2 * HOUR)
    for name in left:
        backdate(os.path.join(tmp_dir(srv), name), 2 * HOUR)

    srv2 = make_server(maildir=srv.maildir, tmp_max_age="60s")
    assert sorted(os.listdir(tmp_dir(srv2))) == [os.path.basename(fresh)]
    assert f"removed {len(left) + 1} stale file(s) from tmp/" in srv2.read_log()
    files = srv2.messages("new")
    assert len(files) == 1 and strip_trace(open(files[0], "rb").read()) == good.encode()


def test_parent_killed_acknowledged_mail_survives_and_restart_works(make_server, connect):
    srv = make_server(idle_timeout="30s")
    port = srv.port
    acked = []                         # messages that got a 250

    # Session A: three messages acknowledged, then it stays connected.
    a = connect(port)
    greet(a)
    for i in range(3):
        m = message(f"A{i}").encode()
        code, text = send_mail(a, m)
        assert code == 250, text
        acked.append(m)
    # Session B: in the middle of DATA when the parent dies; it finishes afterwards.
    b = connect(port)
    greet(b)
    start_data(b)
    b_msg = big_body("B")
    b.send(b_msg[:100 * 1024])
    # Session C: in the middle of DATA; its client vanishes after the parent dies.
    cc = connect(port)
    greet(cc)
    start_data(cc)
    cc.send(big_body("C")[:150 * 1024])
    # Session D: idle after RCPT.
    d = connect(port)
    greet(d)
    assert d.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert d.cmd(f"RCPT TO:<{RCPT}>")[0] == 250

    wait_for(lambda: len(delivery_files(srv)) == 2, what="sessions B and C writing")
    orphans = srv.session_pids()
    assert len(orphans) == 4
    srv.proc.kill()
    srv.proc.wait()
    try:
        # B's session outlives its parent: its message is acknowledged as usual.
        b.send(b_msg[100 * 1024:] + b".\r\n")
        code, text = b.reply()
        assert code == 250, text
        acked.append(b_msg)
        cc.close()

        # A new daemon on the same Maildir and the same port, orphans still running
        # (sessions must not hold the listening sockets).
        srv2 = make_server(maildir=srv.maildir, smtp_listen=f"127.0.0.1:{port}")
        assert f"listening on 127.0.0.1:{port}" in srv2.read_log()
        for p in (port, srv2.port):
            e = connect(p)
            greet(e)
            m = message(f"after restart via {p}").encode()
            code, text = send_mail(e, m)
            assert code == 250, text
            acked.append(m)
            assert e.cmd("QUIT")[0] == 221
        # The old sessions still answer, and a transaction in one still completes.
        assert a.cmd("NOOP")[0] == 250
        assert d.cmd("DATA")[0] == 354
        d_msg = message("D").encode()
        d.send(d_msg + b".\r\n")
        assert d.reply()[0] == 250
        acked.append(d_msg)
        assert a.cmd("QUIT")[0] == 221
        assert d.cmd("QUIT")[0] == 221
        b.close()
        wait_for(lambda: not any(alive(p) for p in orphans), what="orphaned sessions to end")
    finally:
        for p in orphans:              # only if the test failed half-way
            if alive(p):
                os.kill(p, signal.SIGKILL)

    got = by_message_id(srv2)
    assert len(srv2.messages("new")) == len(acked)
    for m in acked:
        copies = got.get(msg_id(m), [])
        assert len(copies) == 1, (msg_id(m), len(copies))
        assert strip_trace(copies[0]) == m
    assert os.listdir(tmp_dir(srv2)) == [] or named_tmp(srv2)


def test_restart_keeps_messages_and_cleans_only_stale_tmp_files(make_server, connect):
    srv = make_server()
    c = connect(srv.port)
    greet(c)
    sent = []
    for i in range(3):
        m = message(f"before restart {i}").encode()
        assert send_mail(c, m)[0] == 250
        sent.append(m)
    assert c.cmd("QUIT")[0] == 221
    srv.stop()

    md = srv.maildir
    before = {os.path.basename(f): open(f, "rb").read() for f in srv.messages("new")}
    assert len(before) == 3
    # One message read by a client (moved to cur/ with flags), both old.
    first = sorted(before)[0]
    shutil.move(os.path.join(md, "new", first), os.path.join(md, "cur", first + ":2,S"))
    for sub in ("new", "cur"):
        for n in os.listdir(os.path.join(md, sub)):
            backdate(os.path.join(md, sub, n), 48 * HOUR)
    # tmp/: a stale file, a fresh file, and an old directory (not ours to remove).
    tmp = os.path.join(md, "tmp")
    for name, age in (("stale", 2 * HOUR), ("fresh", 0), ("just-over", 61)):
        with open(os.path.join(tmp, name), "wb") as f:
            f.write(b"x")
        backdate(os.path.join(tmp, name), age)
    os.mkdir(os.path.join(tmp, "olddir"))
    backdate(os.path.join(tmp, "olddir"), 2 * HOUR)

    srv2 = make_server(maildir=md, tmp_max_age="60s")
    assert sorted(os.listdir(tmp)) == ["fresh", "olddir"]
    assert "removed 2 stale file(s) from tmp/" in srv2.read_log()
    after = {os.path.basename(f): open(f, "rb").read() for f in srv2.messages("new")}
    cur = {os.path.basename(f): open(f, "rb").read() for f in srv2.messages("cur")}
    assert cur == {first + ":2,S": before[first]}
    assert after == {k: v for k, v in before.items() if k != first}

    c = connect(srv2.port)
    greet(c)
    m = message("after restart").encode()
    assert send_mail(c, m)[0] == 250
    assert len(srv2.messages("new")) == 3
    bodies = sorted(strip_trace(open(f, "rb").read()) for f in srv2.messages("new") +
                    srv2.messages("cur"))
    assert bodies == sorted(sent + [m])


def test_sigterm_right_after_start_stops_the_daemon(make_server):
    """A stop request that arrives while the daemon's helpers are still starting (the
    indexer opening its index) is not lost: the daemon exits by itself, cleanly.
    (It used to hang in waitpid() on an indexer that had handled SIGTERM just before
    an endless poll().)"""
    for _ in range(10):
        srv = make_server(with_tls=False)
        srv.proc.send_signal(signal.SIGTERM)
        try:
            assert srv.proc.wait(timeout=20) == 0
        finally:
            srv.stop()
        assert "stopping" in srv.read_log()


def idle_session_pids(srv):
    """Session processes waiting for their next connection: children that are neither
    serving a connection nor the indexer (whose working directory is the Maildir)."""
    busy = set(srv.session_pids())
    out = []
    for pid in children(srv.proc.pid):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if pid not in busy and os.path.realpath(cwd) != os.path.realpath(srv.maildir):
            out.append(pid)
    return out


def test_session_processes_are_reused_and_replaced(make_server, connect):
    # Connections are handed to idle session processes: many sessions, few processes.
    # Killing the idle ones loses nothing: the next connection gets a new process.
    srv = make_server(with_tls=False)
    for i in range(5):
        c = connect(srv.port)
        greet(c)
        assert send_mail(c, message(f"reuse {i}"))[0] == 250
        assert c.cmd("QUIT")[0] == 221
        assert c.closed()
    pids = {int(l.split("[")[1].split("]")[0]) for l in srv.read_log().splitlines()
            if " delivered " in l}
    assert len(pids) < 5, pids                 # five sessions, fewer processes
    idle = idle_session_pids(srv)
    assert idle, "no idle session process kept for reuse"
    for pid in idle:
        os.kill(pid, signal.SIGKILL)
        srv.expected_kills += 1
    wait_for(lambda: not set(idle) & set(children(srv.proc.pid)),
             what="killed session processes reaped")
    c = connect(srv.port)
    greet(c)
    assert send_mail(c, message("after the kill"))[0] == 250
    assert len(srv.messages("new")) == 6
