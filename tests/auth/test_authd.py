"""The auth process as a process: checks run in worker processes, so PAM's deliberate
delay for a wrong password holds up no one else; killed with SIGKILL, it is restarted
by the daemon and logins work again; a login that was being checked when it died gets
a temporary error instead of hanging.

The auth process is found by the pid its own log lines carry (session=auth), checked
in /proc (authutil.authd_pid).
"""
import os
import pwd
import shutil
import signal
import subprocess

import pytest

from authutil import (AUTH_FAILED, LOGGED_IN, TEMPFAIL, Race, attempt, auth_lines,
                      authd_pid, authsys, connect, login, workers)
from conftest import children, process_state, wait_for


def gone(pid):
    return process_state(pid) in (None, "Z")


def warm_up(ms, source="127.0.0.99"):
    """One login, so that the auth process has logged (and so named) itself."""
    assert attempt(ms, source, ms.user, ms.password) == LOGGED_IN
    return authd_pid(ms)


def test_pam_delay_stalls_nobody_else(make_mailsys):
    """A wrong password from 127.0.0.3 is in PAM's failure delay (a worker is busy
    with it) when a right one from 127.0.0.4 arrives: the right one completes first."""
    ms = authsys(make_mailsys)
    pid = warm_up(ms)
    race = Race()
    race.start("wrong", attempt, ms, "127.0.0.3", ms.user, "Wrong-pw-delay")
    wait_for(lambda: workers(pid), what="a worker checking the wrong password")
    race.start("right", attempt, ms, "127.0.0.4", ms.user, ms.password)
    race.join()
    assert race.results == {"wrong": AUTH_FAILED, "right": LOGGED_IN}
    assert race.order == ["right", "wrong"]
    # Both were checked by PAM, by the same auth process.
    assert auth_lines(ms, client="127.0.0.3")[0]["via"].startswith("pam: ")
    assert auth_lines(ms, client="127.0.0.4")[0]["via"] == "pam"
    assert {l["pid"] for l in auth_lines(ms)} == {pid}


def test_killed_auth_process_is_restarted(make_mailsys):
    ms = authsys(make_mailsys)
    old = warm_up(ms)
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: gone(old), what="the auth process gone")
    wait_for(lambda: "auth process exited" in ms.read_log(), what="the restart logged")
    # Logins work again, right and wrong, through a new auth process.
    assert attempt(ms, "127.0.0.5", ms.user, ms.password) == LOGGED_IN
    assert attempt(ms, "127.0.0.6", ms.user, "Wrong-after-restart") == AUTH_FAILED
    new = authd_pid(ms)
    assert new != old
    after = [l for l in auth_lines(ms) if l["client"] in ("127.0.0.5", "127.0.0.6")]
    assert [(l["result"], l["pid"]) for l in after] == [("ok", new), ("fail", new)]
    # And once more: the daemon keeps restarting it.
    os.kill(new, signal.SIGKILL)
    wait_for(lambda: gone(new), what="the second auth process gone")
    wait_for(lambda: ms.read_log().count("auth process exited") == 2,
             what="the second restart logged")
    assert attempt(ms, "127.0.0.7", "alice@example.test", ms.password, "PLAIN") == \
        LOGGED_IN
    assert authd_pid(ms) not in (old, new)
    assert ms.pop3d.poll() is None


def test_login_in_progress_when_killed_gets_a_temporary_error(make_mailsys):
    """The auth process dies while a worker checks a login: the session is told
    [SYS/TEMP] (its reply socket is closed) rather than waiting out AUTH_WAIT_MS, the
    worker dies with its parent, and the same connection can log in afterwards."""
    ms = authsys(make_mailsys)
    pid = warm_up(ms)
    c = connect(ms, "127.0.0.8")
    race = Race()
    race.start("pending", login, c, "USER", ms.user, "Wrong-pw-in-flight")
    busy = wait_for(lambda: workers(pid), what="a worker checking the password")
    os.kill(pid, signal.SIGKILL)
    race.join()
    assert race.results["pending"] == TEMPFAIL
    for w in busy:
        wait_for(lambda: gone(w), what=f"worker {w} gone with its parent")
    # The connection is still in AUTHORIZATION state and usable.
    assert login(c, "PLAIN", ms.user, ms.password) == LOGGED_IN
    assert c.cmd("STAT") == "+OK 0 0"
    assert authd_pid(ms) != pid
    assert "Wrong-pw-in-flight" not in ms.read_log()


def test_auth_process_is_not_a_session(make_mailsys):
    """It holds no client connection and no listening socket, and it runs as the
    account, like the sessions (never as root)."""
    ms = authsys(make_mailsys)
    pid = warm_up(ms)
    assert pid in children(ms.pop3d.pid)
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    uids = status["Uid"].split()
    assert len(set(uids)) == 1 and uids[0] != "0", uids
    assert int(uids[0]) == pwd.getpwnam(ms.user).pw_uid


def test_waiting_for_a_worker_is_not_a_busy_loop(make_mailsys):
    """More attempts than workers (4), all due at once: those left over wait for a
    worker to finish, polling on its pipe. They used to make poll's timeout 0 (their
    time had come) and the auth process spun for as long as PAM's failure delay ran.
    Counted in poll(2) calls (strace), not in time: a handful per attempt, where the
    busy loop made tens of thousands."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed: the poll calls cannot be counted")
    ms = authsys(make_mailsys)
    pid = warm_up(ms)
    out = os.path.join(ms.root, "authd.strace")
    tracer = subprocess.Popen([strace, "-q", "-e", "trace=poll", "-o", out, "-p", str(pid)],
                              stderr=subprocess.PIPE)
    try:
        def attached():
            if tracer.poll() is not None:
                return True
            with open(f"/proc/{pid}/status") as f:
                return any(line.split()[:2] not in (["TracerPid:", "0"], [])
                           for line in f if line.startswith("TracerPid:"))
        wait_for(attached, what="strace attached")
        if tracer.poll() is not None:
            pytest.skip("strace cannot attach here: " + tracer.stderr.read().decode())
        race = Race()
        for i in range(7):
            race.start(f"wrong{i}", attempt, ms, f"127.0.0.{10 + i}", ms.user,
                       f"Wrong-pw-busy-{i}")
        race.join()
        assert set(race.results.values()) == {AUTH_FAILED}
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=10)
    with open(out) as f:
        polls = sum(1 for line in f if line.startswith("poll("))
    # 7 requests and 7 worker exits: each wakes poll once or twice.
    print(f"{polls} poll calls")
    assert 0 < polls < 200, polls
    assert len(auth_lines(ms, result="fail")) == 7
