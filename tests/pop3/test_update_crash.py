"""A crash in the middle of the UPDATE state (RFC 1939 §6): every message is afterwards
either wholly present (once, in new/ or cur/, its bytes unchanged) or wholly gone, and
only messages the client deleted can be gone. The session process is killed with
SIGKILL at the Nth unlink or rename of its UPDATE by strace's syscall fault injection,
so the crash lands exactly between two steps."""
import os
import shutil
import subprocess

import pytest

from conftest import wait_for
from pop3util import all_files, gone, open_session, place, session_pid, stat, wait_log

MESSAGES = 6
DELETED = (1, 2, 3)


def messages(ms):
    """Place MESSAGES messages in new/ in delivery order; {base name: bytes}."""
    out = {}
    for i in range(1, MESSAGES + 1):
        name = f"17959000{i:02d}.M{i:06d}P4242R{i:08x}.mx.example.test,S=0"
        data = (f"Subject: message {i}\r\n\r\nbody {i}\r\n" + "x" * (100 * i) + "\r\n").encode()
        name = name.replace("S=0", f"S={len(data)}")
        place(ms, name, data)
        out[name] = data
    return out


def check_each_whole_or_gone(ms, before, deleted_names):
    now = all_files(ms)
    for base, data in before.items():
        if base not in now:
            assert base in deleted_names, f"{base} vanished but was never deleted"
            continue
        sub, name = now[base]
        with open(os.path.join(ms.maildir, sub, name), "rb") as f:
            assert f.read() == data, f"{base} changed"
    # Nothing new appeared, nothing twice (all_files keys are base names: check counts).
    count = sum(len(os.listdir(os.path.join(ms.maildir, s))) for s in ("new", "cur"))
    assert count == len(now) and set(now) <= set(before)
    return now


@pytest.mark.parametrize("syscalls,when", [
    ("unlinkat", 1), ("unlinkat", 2), ("unlinkat", 3),
    ("renameat,renameat2", 1), ("renameat,renameat2", 3),
])
def test_kill9_during_update(make_mailsys, pop3, tmp_path, syscalls, when):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed: the crash cannot be placed in UPDATE")
    ms = make_mailsys(smtpd=False)
    before = messages(ms)
    names = list(before)
    deleted_names = {names[i - 1] for i in DELETED}
    c = open_session(pop3, ms)
    for i in DELETED:
        assert c.cmd(f"DELE {i}").startswith("+OK")
    pid = session_pid(ms, c)
    err = tmp_path / "strace.err"
    with open(err, "w") as e:
        tracer = subprocess.Popen(
            ["strace", "-p", str(pid), "-o", "/dev/null", "-e", f"trace={syscalls}",
             "-e", f"inject={syscalls}:signal=SIGKILL:when={when}"], stderr=e)
    try:
        wait_for(lambda: "attached" in err.read_text(), what="strace attached")
        c.send("QUIT\r\n")
        ms.expected_kills = 1
        wait_log(ms, "killed by signal")
        assert gone(pid)
    finally:
        tracer.wait(timeout=10)
    now = check_each_whole_or_gone(ms, before, deleted_names)
    # Steps run in message order: deletions of 1-3 first, then moves of 4-6.
    removed = set(before) - set(now)
    if syscalls == "unlinkat":
        assert len(removed) == when - 1
    else:
        assert removed == deleted_names
        assert sum(1 for sub, _ in now.values() if sub == "cur") == when - 1
    # The lock died with the process; a new session sees exactly what is left and
    # finishes the job.
    d = open_session(pop3, ms, source="127.0.0.2")
    assert stat(d)[0] == len(now)
    for i in range(1, len(now) + 1):
        if sorted(now)[i - 1] in deleted_names:
            assert d.cmd(f"DELE {i}").startswith("+OK")
    assert d.cmd("QUIT").startswith("+OK")
    final = check_each_whole_or_gone(ms, before, deleted_names)
    assert set(final) == set(before) - deleted_names
    assert all(sub == "cur" for sub, _ in final.values())
