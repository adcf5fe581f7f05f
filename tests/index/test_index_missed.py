"""Reports the indexer missed are picked up within seconds, not at the next resync.

A session tells the indexer of each delivery with one datagram sent without waiting
(maildir/indexer.h). The datagrams wait in the send buffer of the socket all sessions
share (net.core.wmem_default: some hundreds of reports); a burst while the indexer is
busy in a long transaction (a `letterbox index sync` holding the lock, say) overflows
it, and those reports are lost. Each session that loses one raises a flag it shares
with the indexer, and the indexer resyncs with the Maildir about a second after it is
idle again, instead of at index_resync (an hour here), so the index agrees with the
Maildir soon after the burst. Before, it lagged until the next resync: CI once saw
390 messages missing from the index 20 s after such a burst.

The indexer is held with SIGSTOP (this test's daemon's child, found by PID) while
messages arrive, until the daemon's log shows reports lost.
"""
import os
import signal
import threading

from index_helpers import deliver, indexer_pid, indexer_ready, wait_verified

CHUNK = 50              # messages per connection
MAX_MESSAGES = 4000     # bound: far above what the socket buffer holds


def test_lost_reports_are_picked_up_soon(make_server):
    srv = make_server(with_tls=False, index_resync="1h", max_sessions_per_ip=20)
    indexer_ready(srv)
    pid = indexer_pid(srv)
    os.kill(pid, signal.SIGSTOP)
    sent = 0
    try:
        while "index notification dropped" not in srv.read_log():
            assert sent < MAX_MESSAGES, "no report was lost: is the indexer stopped?"
            threads = [threading.Thread(target=deliver, args=(srv.port, CHUNK, f"b{sent}-{i}"))
                       for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            sent += 4 * CHUNK
    finally:
        os.kill(pid, signal.SIGCONT)
    # Well before index_resync (1 h): the prompt resync found what was lost.
    wait_verified(srv.conf_path, timeout=20)
    assert "index resynced: added=" in srv.read_log()
