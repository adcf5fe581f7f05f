"""Helpers for the fault injection suite (tests/faults only): the LD_PRELOAD shim
(faultshim.c), its control file and log, and daemons started with it.

A test asks for `faults` (the control of one shim instance) and starts its daemons
through `fault_server` / `fault_mailsys`, which are make_server / make_mailsys with
the shim preloaded. faults.set("CALLS ERRNO PATH SKIP COUNT", ...) switches the
running daemons at once (each process reads the file again at its next intercepted
call); faults.log() is what the shim injected, so a test proves that it fired.
"""
import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import BUILD, SMTPD, TOP

SHIM = os.path.join(TOP, BUILD, "tests", "faultshim.so")


def _index_helpers():
    """tests/index/index_helpers.py (the index CLI, dump checks), under the name the
    index suite imports it by, so that a run of both shares one module."""
    if "index_helpers" not in sys.modules:
        path = os.path.join(TOP, "tests", "index", "index_helpers.py")
        spec = importlib.util.spec_from_file_location("index_helpers", path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules["index_helpers"] = mod
        spec.loader.exec_module(mod)
    return sys.modules["index_helpers"]


index_helpers = _index_helpers()


@pytest.fixture(scope="session")
def shim():
    """The path of faultshim.so, built (or brought up to date) by make for LB_BUILD."""
    argv = ["make", "-s", "-C", TOP]
    if BUILD == "build/asan":
        argv.append("SANITIZE=address,undefined")
    subprocess.run(argv + [os.path.join(BUILD, "tests", "faultshim.so")], check=True)
    return SHIM


def preload(shim_path):
    """LD_PRELOAD for the daemons: ASan's runtime must come first in the list of
    libraries, so an ASan build preloads it before the shim (its interceptors, write()
    for one, then call the shim's, which call libc's)."""
    out = subprocess.run(["ldd", SMTPD], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^\s*libasan\.so\S*\s+=>\s+(\S+)", out, re.M)
    return f"{m.group(1)} {shim_path}" if m else shim_path


class Faults:
    """One control file and one log, in a directory the daemons' unprivileged
    processes can read (the control file) and append to (the log)."""

    def __init__(self, shim_path):
        self.dir = tempfile.mkdtemp(prefix="lbfault-")
        os.chmod(self.dir, 0o755)
        self.ctl = os.path.join(self.dir, "control")
        self.log_path = os.path.join(self.dir, "injected.log")
        with open(self.log_path, "w"):
            pass
        os.chmod(self.log_path, 0o666)
        self.env = {"LD_PRELOAD": preload(shim_path), "LB_FAULT_FILE": self.ctl,
                    "LB_FAULT_LOG": self.log_path}
        self.rules = []
        self.generation = 0

    def set(self, *rules):
        """Replace the rules ("CALLS ERRNO PATH SKIP COUNT" each): a new file renamed
        over the old one, so every process sees a new inode and reads it again. SKIP
        and COUNT are counted over all the processes together, in a new counters
        file."""
        self.rules = list(rules)
        self.generation += 1
        counters = os.path.join(self.dir, f"counters.{self.generation}")
        with open(counters, "wb") as f:
            f.write(bytes(4096))
        os.chmod(counters, 0o666)
        tmp = self.ctl + ".new"
        with open(tmp, "w") as f:
            f.write(f"counters {counters}\n" + "".join(r + "\n" for r in rules))
        os.chmod(tmp, stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
        os.replace(tmp, self.ctl)

    def clear(self):
        self.set()

    def log(self, call=None):
        """The injected faults so far: [{"pid", "call", "errno", "path"}], optionally
        of one call only."""
        out = []
        with open(self.log_path) as f:
            for line in f:
                if not line.endswith("\n"):
                    # Still being written: one write(2), but a line across a page
                    # boundary becomes visible a page at a time. Read next time.
                    break
                m = re.match(r"faultshim pid=(\d+) call=(\S+) errno=(\S+) path=(.*)$",
                             line.rstrip("\n"))
                assert m, f"bad shim log line {line!r}"
                rec = {"pid": int(m.group(1)), "call": m.group(2), "errno": m.group(3),
                       "path": m.group(4)}
                if call is None or rec["call"] == call:
                    out.append(rec)
        return out

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def faults(shim):
    if os.environ.get("LB_VALGRIND") == "1":
        pytest.skip("LB_VALGRIND=1: the fault shim is not preloaded into valgrind (valgrind runs its own preloads)")
    f = Faults(shim)
    yield f
    f.remove()


def _with_env(env, start):
    """start() with env added to this process's environment, which the daemon it
    starts inherits (conftest's start_daemon passes the environment on)."""
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        return start()


@pytest.fixture
def fault_server(make_server, faults):
    """fault_server(**settings): make_server with the shim preloaded."""
    return lambda **kw: _with_env(faults.env, lambda: make_server(**kw))


@pytest.fixture
def fault_mailsys(make_mailsys, faults):
    """fault_mailsys(**settings): make_mailsys (smtpd + pop3d) with the shim."""
    return lambda **kw: _with_env(faults.env, lambda: make_mailsys(**kw))


def session_tmp_fds(pids, maildir):
    """(pid, fd, target) of the files the processes pids hold open in maildir/tmp/:
    a refused message must leave none (an unnamed O_TMPFILE file would stay alive)."""
    tmp = os.path.join(os.path.realpath(maildir), "tmp") + "/"
    out = []
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if target.startswith(tmp):
                out.append((pid, int(fd), target))
    return out
