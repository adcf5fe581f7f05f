"""A helper restarted while sessions run holds none of the sessions' sockets.

The daemon's ends of its session processes' control sockets are how an idle session
learns that the daemon died (EOF). A helper forked from inside the accept loop (the
indexer restarted after it died) inherits them unless it closes them
(listener_forget); one that kept them would keep every idle session orphaned by a
kill -9 of the daemon alive for as long as the helper lives. A helper started with the
daemon, before any session, is the reference: the restarted one may share no more of
the daemon's sockets than it does.
"""
import os
import signal
import sys

from conftest import greet, process_socket_inodes, wait_for

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "index"))
from index_helpers import indexer_pid  # noqa: E402


def shared_with_daemon(srv, pid):
    return process_socket_inodes(srv.proc.pid) & process_socket_inodes(pid)


def test_restarted_indexer_holds_no_session_socket(make_server, connect):
    srv = make_server()
    first = indexer_pid(srv)
    assert first is not None
    clients = [connect(srv.port) for _ in range(3)]
    for c in clients:
        greet(c)
    wait_for(lambda: len(srv.session_pids()) >= 3, what="three sessions")
    reference = shared_with_daemon(srv, first)
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: indexer_pid(srv) not in (None, first), what="the new indexer")
    again = indexer_pid(srv)
    leaked = shared_with_daemon(srv, again) - reference
    assert not leaked, f"the restarted indexer holds {len(leaked)} of the daemon's sockets"
    # The sessions are still served.
    for c in clients:
        assert c.cmd("NOOP")[0] == 250
