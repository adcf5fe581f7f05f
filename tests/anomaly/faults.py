"""Helpers for the anomaly suite: looking inside running session processes."""
import os

from conftest import process_state


def delivery_files(srv):
    """{(pid, fd): (path, size)} of the files the server's sessions hold open in
    Maildir/tmp/ with data in them. Works for named tmp/ files and for unnamed
    O_TMPFILE ones (whose link reads "<tmp>/#<ino> (deleted)" or "/<tmp>/ (deleted)")."""
    tmp = os.path.join(os.path.realpath(srv.maildir), "tmp")
    found = {}
    for pid in srv.session_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except (FileNotFoundError, ProcessLookupError):
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if not target.startswith(tmp + "/"):
                    continue
                st = os.stat(f"/proc/{pid}/fd/{fd}")
            except (FileNotFoundError, ProcessLookupError):
                continue
            if st.st_size > 0 and (st.st_mode & 0o170000) == 0o100000:
                found[(pid, int(fd))] = (target, st.st_size)
    return found


def named_tmp(srv):
    """True if the daemon delivers through named tmp/ files (no O_TMPFILE here)."""
    return "using named tmp/ files" in srv.read_log()


def alive(pid):
    """True if pid exists and is not a zombie."""
    return process_state(pid) not in (None, "Z")
