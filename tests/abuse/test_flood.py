"""Abuse (issue 6): 1,000 connections at once, with the default limits
(max_sessions 100, max_sessions_per_ip 10, lib/settings.c), on SMTP and on POP3.

The limits hold exactly (so many greetings, every other connection one refusal line
and a close), the daemon's listener holds no connection it has refused (its open
descriptors are counted in /proc), the session processes stay bounded, and a normal
client from another loopback address is served during the flood and after it, as is
one from the flooding address once it stops. And when the daemon's own descriptor
limit is the bound (EMFILE), it refuses cleanly and survives.

Where the issue's list is covered (existing tests included):
  1,000 connections at once ...... this file; 200 at once against max_sessions:
      tests/anomaly/test_limits.py::test_connection_burst; each limit alone:
      test_limits.py::test_max_sessions, ::test_max_sessions_per_ip
  slowloris ...................... tests/anomaly/test_limits.py::test_slowloris_*,
      ::test_trickled_command_is_bounded_by_the_idle_timeout, ::test_idle_timeout*;
      POP3: tests/pop3/test_robustness.py::test_idle_timeout
  a 10 MB line ................... tests/abuse/test_long_lines.py; 1 MB and 1,001
      octets: tests/proto/test_input_strictness.py::test_one_megabyte_line_*,
      test_command_line_over_1000_*; POP3: test_robustness.py::test_line_length_limit
  NUL and random bytes ........... tests/abuse/test_garbage.py (25, 587 in the clear
      and in TLS, 110 in the clear and in TLS; TLS ClientHello, HTTP);
      tests/proto/test_input_strictness.py (test_nul_*, test_random_bytes_*,
      test_protocol_junk); tests/pop3/test_robustness.py (test_nul_bare_lf_bare_cr,
      test_random_bytes_never_crash)
  auth brute force ............... tests/abuse/test_brute_force.py (587 and 110, the
      owner logging in meanwhile); ten failures then refusal:
      tests/auth/test_throttle.py::test_refused_after_ten_failures_others_unaffected
  STARTTLS command injection ..... tests/proto/test_starttls.py::
      test_starttls_command_injection_refused (25), tests/pop3/test_capa_tls.py
      (STLS), tests/abuse/test_garbage.py::test_starttls_injection_on_submission
  SMTP smuggling ................. tests/abuse/test_smuggling.py (587 after AUTH),
      tests/proto/test_input_strictness.py::test_smuggling_* (25)
  open-relay battery ............. tests/abuse/test_open_relay.py (every SMTP port,
      before and after failed AUTH, with a live MX); tests/proto/test_envelope.py::
      test_open_relay_tricks_never_get_250, ::test_relay_tricks_exact_codes;
      tests/outbound/test_submission.py (MAIL before AUTH, foreign senders)
"""
import os
import resource
import socket

import pytest

from conftest import (Client, Pop3, children, greet, message, process_socket_inodes,
                      process_state, send_mail, tcp_connection_inodes, wait_for)

FLOOD = 1000
MAX_SESSIONS = 100          # lib/settings.c defaults
MAX_PER_IP = 10
SMTP_BUSY = "4.7.0"
POP3_BUSY = b"-ERR [SYS/TEMP] Too many connections, try again later."


@pytest.fixture(autouse=True)
def enough_descriptors():
    """1,000 client sockets plus the harness's own: raise this process's soft limit
    (the daemons started by the test inherit it, so theirs is not the bound here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FLOOD * 2 + 256
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want}")
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def fd_baseline(pid, warm_up):
    """(descriptors, live children) of the listener pid once warm_up() has run one
    session (the listener opens its signal pipe and helpers' sockets lazily). Each
    session process added later adds exactly one descriptor: its control socket."""
    warm_up()
    return fd_count(pid), len(live_children(pid))


def fds_bounded(pid, baseline):
    fds, kids = baseline
    now = fd_count(pid)
    assert now <= fds + len(live_children(pid)) - kids, (baseline, now,
                                                          sorted(fd_links(pid)))


def fd_links(pid):
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return out


def held_connections(pid):
    """How many TCP connections (not listening sockets) pid holds open."""
    return len(process_socket_inodes(pid) & tcp_connection_inodes())


def live_children(pid):
    return [p for p in children(pid) if process_state(p) not in (None, "Z")]


def sessions(pid):
    """How many children of pid hold a client connection: sessions being served."""
    conns = tcp_connection_inodes()
    return sum(1 for p in children(pid) if process_socket_inodes(p) & conns)


def raw_connect(port, source="127.0.0.1"):
    """A connected socket that has read nothing yet."""
    return socket.create_connection(("127.0.0.1", port), timeout=30,
                                    source_address=(source, 0))


def first_line(sock):
    """The first line the server sends (bytes, without CRLF), or b"" if it closes
    first."""
    data = b""
    while b"\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            return data
        data += more
    return data.split(b"\r\n", 1)[0]


def closed_after(sock):
    """True if, after the first line, the server closed the connection."""
    sock.settimeout(10)
    rest = b""
    try:
        while True:
            more = sock.recv(4096)
            if not more:
                break
            rest += more
    except ConnectionResetError:
        pass
    return rest == b""


def smtp_delivers(port, source, subject):
    c = Client(port, source=source, timeout=30)
    try:
        greet(c)
        code, text = send_mail(c, message(subject))
        assert code == 250, text
        assert c.cmd("QUIT")[0] == 221
    finally:
        c.close()


def flood(port, sources, during=None):
    """FLOOD connections, round-robin over sources, all held open; during() runs after
    the first half. Returns [(socket, first line)] once every one has its first line."""
    socks = []
    try:
        for i in range(FLOOD):
            if i == FLOOD // 2 and during is not None:
                during()
            socks.append(raw_connect(port, sources[i % len(sources)]))
        return [(s, first_line(s)) for s in socks]
    except BaseException:
        for s in socks:
            s.close()
        raise


def test_smtp_1000_connections_from_one_address(make_server):
    srv = make_server()         # the default limits
    pid = srv.proc.pid
    baseline = fd_baseline(pid, lambda: smtp_delivers(srv.port, "127.0.0.3", "warm-up"))
    normal = []

    def normal_client():
        # In the middle of the flood: served although 127.0.0.1 is at its limit.
        smtp_delivers(srv.port, "127.0.0.2", "during the flood")
        normal.append(True)

    got = flood(srv.port, ["127.0.0.1"], during=normal_client)
    try:
        assert normal == [True]
        served = [s for s, line in got if line.startswith(b"220 ")]
        refused = [(s, line) for s, line in got if not line.startswith(b"220 ")]
        assert len(served) == MAX_PER_IP
        assert len(refused) == FLOOD - MAX_PER_IP
        for s, line in refused:
            assert line.startswith(b"421 " + SMTP_BUSY.encode() + b" "), line
            assert closed_after(s)
        # The listener holds no client connection itself: each is a session's or
        # closed. Its descriptors: a control socket per session process at most.
        assert held_connections(pid) == 0
        assert sessions(pid) == MAX_PER_IP
        fds_bounded(pid, baseline)
        assert srv.proc.poll() is None
        # Another address is still served while the flood holds its sessions.
        smtp_delivers(srv.port, "127.0.0.2", "while held")
        # The held sessions are real ones.
        for s in served:
            s.sendall(b"NOOP\r\n")
            assert first_line(s).startswith(b"250 ")
    finally:
        for s, _ in got:
            s.close()
    wait_for(lambda: len(srv.session_pids()) == 0, timeout=30, what="sessions gone")
    assert srv.proc.poll() is None
    # Idle session processes wait for the next connection (a control socket each);
    # nothing else is left behind.
    assert held_connections(pid) == 0
    fds_bounded(pid, baseline)
    smtp_delivers(srv.port, "127.0.0.1", "after the flood")
    assert len(srv.messages("new")) == 4
    log = srv.read_log()
    assert log.count('reason="too many sessions from this address"') == \
        FLOOD - MAX_PER_IP


def test_smtp_1000_connections_from_many_addresses(make_server):
    """200 addresses, 5 connections each: the per-address limit never bites, the
    total one does, exactly. A client from yet another address is refused while the
    100 sessions are held (the total is the total) and served once they end."""
    srv = make_server()
    pid = srv.proc.pid
    sources = [f"127.0.1.{i}" for i in range(1, 201)]
    got = flood(srv.port, sources)
    try:
        served = [s for s, line in got if line.startswith(b"220 ")]
        refused = [line for s, line in got if not line.startswith(b"220 ")]
        assert len(served) == MAX_SESSIONS
        assert all(r.startswith(b"421 4.7.0 ") for r in refused), set(refused)
        assert len(refused) == FLOOD - MAX_SESSIONS
        assert sessions(pid) == MAX_SESSIONS
        s = raw_connect(srv.port, "127.0.0.2")
        try:
            assert first_line(s).startswith(b"421 4.7.0 ")
        finally:
            s.close()
        assert held_connections(pid) == 0
    finally:
        for s, _ in got:
            s.close()
    wait_for(lambda: len(srv.session_pids()) == 0, timeout=30, what="sessions gone")
    smtp_delivers(srv.port, "127.0.0.2", "after the flood")
    assert srv.read_log().count('reason="too many sessions"') == FLOOD - MAX_SESSIONS + 1


def pop3_logs_in(ms, source):
    c = Pop3(ms.pop3_port, source=source)
    try:
        assert c.greeting.startswith(b"+OK"), c.greeting
        c.stls()
        assert c.login(ms.user, ms.password) == "+OK Logged in."
        assert c.cmd("STAT").startswith("+OK ")
        assert c.cmd("QUIT").startswith("+OK")
    finally:
        c.close()


def test_pop3_1000_connections_from_one_address(make_mailsys):
    ms = make_mailsys()
    pid = ms.pop3d.pid
    baseline = fd_baseline(pid, lambda: pop3_logs_in(ms, "127.0.0.3"))
    normal = []

    def normal_client():
        pop3_logs_in(ms, "127.0.0.2")
        normal.append(True)

    got = flood(ms.pop3_port, ["127.0.0.1"], during=normal_client)
    try:
        assert normal == [True]
        served = [s for s, line in got if line.startswith(b"+OK")]
        refused = [(s, line) for s, line in got if not line.startswith(b"+OK")]
        assert len(served) == MAX_PER_IP
        assert len(refused) == FLOOD - MAX_PER_IP
        for s, line in refused:
            assert line == POP3_BUSY, line
            assert closed_after(s)
        assert held_connections(pid) == 0
        assert sessions(pid) == MAX_PER_IP
        fds_bounded(pid, baseline)
        assert ms.pop3d.poll() is None
        pop3_logs_in(ms, "127.0.0.2")
        for s in served:
            s.sendall(b"NOOP\r\n")
            assert first_line(s) == b"+OK"
    finally:
        for s, _ in got:
            s.close()
    wait_for(lambda: sessions(pid) == 0, timeout=30, what="sessions gone")
    assert ms.pop3d.poll() is None
    fds_bounded(pid, baseline)
    pop3_logs_in(ms, "127.0.0.1")
    assert ms.read_log("pop3d").count('reason="too many sessions from this address"') \
        == FLOOD - MAX_PER_IP


def test_emfile_listener_refuses_and_survives(make_server):
    """The daemon's own descriptor limit as the bound: smtpd started with a soft
    RLIMIT_NOFILE of 64 (inherited from this process) and limits far above it. Each
    connection it cannot hand to a session process gets the one 421 line and a close
    (the socketpair(2) for a new session process fails with EMFILE before accept(2)
    can: lib/listener.c), none is left hanging, the listener neither dies nor logs
    more than one line per refusal, and it serves again once sessions end."""
    if os.environ.get("LB_VALGRIND") == "1":
        pytest.skip("valgrind keeps descriptors of its own below the limit")
    low = 64
    # New descriptors take the lowest free numbers: enough must be free below low.
    if sum(int(fd) < low for fd in os.listdir("/proc/self/fd")) >= low - 16:
        pytest.skip("this process already holds descriptors near the low limit")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (low, hard))
    try:
        srv = make_server(max_sessions=1000, max_sessions_per_ip=1000)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    with open(f"/proc/{srv.proc.pid}/limits") as f:
        assert any(line.startswith("Max open files") and line.split()[3] == str(low)
                   for line in f), "the daemon did not inherit the low limit"
    socks = [raw_connect(srv.port) for _ in range(2 * low)]
    try:
        lines = [first_line(s) for s in socks]
        served = [s for s, line in zip(socks, lines) if line.startswith(b"220 ")]
        refused = [line for line in lines if not line.startswith(b"220 ")]
        assert served and refused, lines
        assert all(r.startswith(b"421 4.7.0 ") for r in refused), set(refused)
        assert len(served) + len(refused) == len(socks)
        assert srv.proc.poll() is None
        log = srv.read_log()
        assert 0 < log.count("Too many open files") <= len(refused)
        assert log.count('reason="cannot start a session"') == len(refused)
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: len(srv.session_pids()) == 0, timeout=30, what="sessions gone")
    smtp_delivers(srv.port, "127.0.0.1", "after running out of descriptors")
    assert srv.proc.poll() is None
