"""Shared harness for the protocol and client tests: real daemons on 127.0.0.1.

Every server runs from a generated config in its own temporary directory, with its
own Maildir, and is stopped by its PID. Readiness comes from the daemon's -r fd, so
no test sleeps. As root, the daemon drops to `nobody` as it would in production.
"""
import itertools
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("LB_BUILD", "build/release")
SMTPD = os.path.join(TOP, BUILD, "letterbox-smtpd")
DOMAIN = "example.test"
OWNER = "alice"
RCPT = f"{OWNER}@{DOMAIN}"


def retry_port_race(start, tries=3):
    """start() a daemon, again with fresh ports if one was taken in between: free_port()
    can only say a port was free, and an outgoing connection may take it before the
    daemon binds (ephemeral ports come from the same range)."""
    for attempt in range(tries):
        try:
            return start()
        except RuntimeError as e:
            if "Address already in use" not in str(e) or attempt == tries - 1:
                raise


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def made_by(make, finish, give=lambda x: x):
    """The body of a factory fixture, as `yield from made_by(make, finish)`: the test
    gets a function that calls make(...) and returns what it made (or give() of it);
    after the test, finish(x) runs for each x made, in order."""
    made = []

    def factory(*args, **kw):
        x = make(*args, **kw)
        made.append(x)
        return give(x)

    yield factory
    for x in made:
        finish(x)


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


# LB_VALGRIND=1 (make check-valgrind): every daemon runs under valgrind's memcheck.
# Valgrind follows fork() itself, so sessions, helpers and auth workers are checked
# too, each process into its own log (%p); what PAM executes (unix_chkpwd) runs
# natively. A stop under valgrind waits longer: the leak check of every process first.
VALGRIND = os.environ.get("LB_VALGRIND") == "1"
STOP_WAIT = 120 if VALGRIND else 10
_valgrind_dirs = {}     # a daemon's root -> the directory of its processes' logs


def valgrind_argv(root):
    """The valgrind prefix for a daemon whose files are in root. The logs go to a
    directory of /tmp that children which dropped root can write and reach (the
    test's tmp_path is 0700), made once per root."""
    if root not in _valgrind_dirs:
        _valgrind_dirs[root] = tempfile.mkdtemp(prefix="lb-valgrind-")
        os.chmod(_valgrind_dirs[root], 0o1777)
    return ["valgrind", "--trace-children=no", "--child-silent-after-fork=no",
            "--error-exitcode=97", f"--log-file={_valgrind_dirs[root]}/vg.%p.log",
            "--track-fds=no", "--vgdb=no", "--leak-check=full",
            "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
            "--num-callers=30",
            "--suppressions=" + os.path.join(TOP, "tests", "valgrind.supp")]


def start_daemon(program, conf_path, log_path):
    """Start program -d -v -f conf; return the Popen once it says it is ready."""
    rfd, wfd = os.pipe()
    log = open(log_path, "w")
    argv = [program, "-d", "-v", "-f", conf_path, "-r", str(wfd)]
    if VALGRIND:
        argv = valgrind_argv(os.path.dirname(log_path)) + argv
    proc = subprocess.Popen(argv, pass_fds=(wfd,), stdout=log, stderr=subprocess.STDOUT)
    os.close(wfd)
    with os.fdopen(rfd) as r:
        ready = r.readline()
    if ready != "ready\n":
        proc.wait(timeout=STOP_WAIT)
        log.close()
        with open(log_path) as f:
            raise RuntimeError(f"{program} did not start:\n" + f.read())
    return proc, log


class Server:
    """A running letterbox-smtpd. Stop it with stop(); logs in .log_path."""

    def __init__(self, root, tls_files, extra, with_tls=True, maildir=None):
        self.root = root
        # Sessions a test kills on purpose: the teardown expects exactly this many
        # "killed by signal" lines in the log instead of none.
        self.expected_kills = 0
        self.port = free_port()
        self.tls_port = free_port()
        self.maildir = maildir or os.path.join(root, "Maildir")
        self.log_path = os.path.join(root, "smtpd.log")
        self.conf_path = os.path.join(root, "letterbox.conf")
        lines = [
            "hostname mx.example.test",
            f"domains {DOMAIN} example.net",
            f"local_parts {OWNER} postmaster",
            f"maildir {self.maildir}",
            f"smtp_listen 127.0.0.1:{self.port}",
        ]
        if with_tls:
            lines += [f"smtps_listen 127.0.0.1:{self.tls_port}",
                      f"tls_cert {tls_files[0]}", f"tls_key {tls_files[1]}"]
        if os.geteuid() == 0:
            lines.append("user nobody")
        lines += [f"{k} {v}" for k, v in extra.items()]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc, self.log = start_daemon(SMTPD, self.conf_path, self.log_path)

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def messages(self, sub="new"):
        """Full paths of the files in Maildir/<sub>, sorted."""
        d = os.path.join(self.maildir, sub)
        return sorted(os.path.join(d, n) for n in os.listdir(d))

    def session_pids(self):
        """PIDs of the daemon's session processes: children that hold a connected TCP
        socket, plus exited ones not yet reaped (their slot is still taken). Helper
        children (the indexer) are left out."""
        conns = tcp_connection_inodes()
        out = []
        for pid in children(self.proc.pid):
            if process_state(pid) in ("Z", None) or process_socket_inodes(pid) & conns:
                out.append(pid)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def assert_log_clean(log, expected_kills):
    """A session that died of a bug shows up here even if its test passed: exactly the
    kills the test made on purpose, and no UBSan or ASan report."""
    assert log.count("killed by signal") == expected_kills, log
    assert "runtime error" not in log, log        # UBSan
    assert "AddressSanitizer" not in log, log


# A valgrind error's first line (the rest is its stack), for a log cut short before its
# ERROR SUMMARY (a process killed with SIGKILL writes none).
VALGRIND_ERROR = re.compile(
    r"^==\d+== (Invalid (read|write|free)|Mismatched free|Conditional jump|"
    r"Use of uninitialised|Syscall param|Source and destination overlap|"
    r"Argument '.*' of function|Jump to the invalid address|"
    r".* are definitely lost in loss record)", re.M)


def assert_valgrind_clean(root):
    """Under LB_VALGRIND=1: no memcheck error and no definitely lost block in any process
    the daemons in root ran (their logs: vg.PID.log, see valgrind_argv). A process
    still running (a helper finishing its leak check) is waited for; one killed with
    SIGKILL has only what it wrote until then."""
    vg = _valgrind_dirs.pop(root, None)
    if vg is None:
        return
    logs = [os.path.join(vg, n) for n in sorted(os.listdir(vg)) if n.endswith(".log")]

    def finished(path):
        with open(path) as f:
            if "ERROR SUMMARY:" in f.read():
                return True
        return process_state(int(os.path.basename(path).split(".")[1])) in (None, "Z")

    wait_for(lambda: all(finished(p) for p in logs), timeout=STOP_WAIT,
             what="valgrind's summaries")
    for path in logs:
        with open(path) as f:
            text = f.read()
        errors = [int(n) for n in re.findall(r"ERROR SUMMARY: (\d+) errors", text)]
        lost = [int(n.replace(",", ""))
                for n in re.findall(r"definitely lost: ([\d,]+) bytes", text)]
        assert not any(errors) and not any(lost) and not VALGRIND_ERROR.search(text), \
            f"valgrind: {path}\n{text}"
    shutil.rmtree(vg)


@pytest.fixture(scope="session", autouse=True)
def valgrind_leftovers():
    """Daemons a test started with start_daemon() itself, outside make_server and
    make_mailsys, have their valgrind logs checked at the end of the run."""
    yield
    for root in list(_valgrind_dirs):
        assert_valgrind_clean(root)


@pytest.fixture
def make_server(tmp_path, tls_files):
    """make_server(**settings) starts a daemon with those config keys added."""
    n = itertools.count()

    def start(with_tls=True, maildir=None, **extra):
        root = tmp_path / f"srv{next(n)}"
        root.mkdir()
        os.chmod(root, 0o755)
        return retry_port_race(lambda: Server(str(root), tls_files, extra, with_tls,
                                              maildir))

    def stop(s):
        s.stop()
        assert_log_clean(s.read_log(), s.expected_kills)
        assert_valgrind_clean(s.root)

    yield from made_by(start, stop)


@pytest.fixture
def server(make_server):
    return make_server()


class Closed(ConnectionError):
    """The peer closed the connection before the end of a line."""


class LineConn:
    """One end of a line-based connection: .sock (which STARTTLS may replace) and .buf,
    what was read past the last line."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        """One line without CRLF (bytes); Closed at EOF."""
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise Closed("closed; buffered %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def closed(self):
        """True if the peer has closed the connection (after any buffered data)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self):
        self.sock.close()


def _client_socket(port, implicit_tls, timeout, source):
    """A TCP connection to 127.0.0.1:port from source (a local address, e.g.
    "127.0.0.2") if given, inside TLS from the start if implicit_tls."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    if implicit_tls:
        sock = client_tls_context().wrap_socket(sock, server_hostname="localhost")
    return sock


class Client(LineConn):
    """A raw SMTP client: exact bytes out, parsed replies in."""

    def __init__(self, port, implicit_tls=False, timeout=10, source=None):
        """source: a local address to connect from (e.g. "127.0.0.2")."""
        super().__init__(_client_socket(port, implicit_tls, timeout, source))

    def cmd(self, line):
        """Send one command line (CRLF added) and return its reply."""
        self.send(line.encode() + b"\r\n" if isinstance(line, str) else line + b"\r\n")
        return self.reply()

    def _line(self):
        return self.line().decode("utf-8", "replace")

    def reply(self):
        """(code, [text lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), lines

    def starttls(self):
        self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="localhost")


def children(pid):
    """PIDs of pid's child processes (zombies included until they are reaped)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def process_state(pid):
    """The state letter of pid ("R", "S", "Z", ...), or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def process_socket_inodes(pid):
    """Inodes of the sockets pid holds open."""
    out = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except (FileNotFoundError, ProcessLookupError):
        return out
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if link.startswith("socket:["):
            out.add(int(link[8:-1]))
    return out


def tcp_connection_inodes():
    """Inodes of this host's TCP sockets that are not listening."""
    out = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] != "0A":          # 0A = LISTEN
                        out.add(int(fields[9]))
        except FileNotFoundError:
            pass
    return out


def wait_for(predicate, timeout=10.0, what="condition"):
    """Poll predicate() until it is true (returning its value) or fail after timeout.
    For observable events only (a process gone, a file appeared), never for timing."""
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.01)


def strip_trace(data):
    """A delivered file without the Return-Path: and Received: fields smtpd prepends:
    the message bytes exactly as the client sent them (after dot-unstuffing)."""
    assert data.startswith(b"Return-Path: <"), data[:200]
    rest = data.split(b"\r\n", 1)[1]
    assert rest.startswith(b"Received: "), rest[:200]
    lines = rest.split(b"\r\n")
    i = 1
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    return b"\r\n".join(lines[i:])


def client_tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture
def connect():
    """connect(port, implicit_tls=False, source=None) -> a connected Client."""
    yield from made_by(Client, Client.close)


def greet(c):
    code, _ = c.reply()
    assert code == 220
    code, lines = c.cmd("EHLO client.example.net")
    assert code == 250
    return lines


def message(subject="test", body="Hello.\r\n", extra_headers=""):
    return (f"From: <sender@example.net>\r\nTo: <{RCPT}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{time.time_ns()}@example.net>\r\n{extra_headers}\r\n{body}")


def send_mail(c, body, mail_from="<sender@example.net>", rcpt=f"<{RCPT}>"):
    """MAIL, RCPT, DATA, body (already dot-stuffed bytes/str, without the final dot).

    The reply to the end of data; or the reply to DATA itself when that refuses (a
    server that cannot even start storing says 452 there, RFC 5321 §4.5.3.1.10)."""
    assert c.cmd(f"MAIL FROM:{mail_from}")[0] == 250
    assert c.cmd(f"RCPT TO:{rcpt}")[0] == 250
    reply = c.cmd("DATA")
    if reply[0] != 354:
        assert 400 <= reply[0] < 600, reply
        return reply
    if isinstance(body, str):
        body = body.encode()
    c.send(body + b".\r\n")
    return c.reply()


# --- POP3 and authentication ------------------------------------------------------
# The POP3 tests run smtpd and pop3d together on one config, as the owner would, with
# a real system account checked by real PAM (scripts/test-account.sh creates it and
# the PAM service letterbox-test). Both need root; CI runs as root.

POP3D = os.path.join(TOP, BUILD, "letterbox-pop3d")
CLI = os.path.join(TOP, BUILD, "letterbox")
TEST_PAM_SERVICE = "letterbox-test"


@pytest.fixture(scope="session")
def test_account():
    """(user, password) of the test account, created with its PAM service."""
    if os.geteuid() != 0:
        pytest.skip("POP3 and PAM tests need root: they create a system account")
    out = subprocess.run([os.path.join(TOP, "scripts", "test-account.sh")], check=True,
                         capture_output=True, text=True).stdout.split()
    return out[0], out[1]


class MailSystem:
    """smtpd + pop3d on one generated config, running as the test account.

    Ports: .smtp_port, .smtps_port, .pop3_port (STLS), .pop3s_port (implicit TLS),
    .sub_port (submission, STARTTLS), .subs_port (submission, implicit TLS).
    Logs: .smtpd_log, .pop3d_log. The app passwords and the queue are in .state_dir.
    DNS goes to 127.0.0.1:9 (nothing) unless dns_resolver is given: no test ever asks
    the system's resolver."""

    def __init__(self, root, tls_files, account, extra, smtpd=True):
        self.root = root
        self.user, self.password = account
        self.expected_kills = 0
        self.smtp_port, self.smtps_port = free_port(), free_port()
        self.pop3_port, self.pop3s_port = free_port(), free_port()
        self.sub_port, self.subs_port = free_port(), free_port()
        self.maildir = os.path.join(root, "Maildir")
        self.state_dir = os.path.join(root, "state")
        self.conf_path = os.path.join(root, "letterbox.conf")
        self.smtpd_log = os.path.join(root, "smtpd.log")
        self.pop3d_log = os.path.join(root, "pop3d.log")
        pw = pwd.getpwnam(self.user)
        os.makedirs(self.state_dir, 0o700, exist_ok=True)
        os.chown(self.state_dir, pw.pw_uid, pw.pw_gid)
        lines = [
            "hostname mx.example.test",
            f"domains {DOMAIN} example.net",
            f"local_parts {OWNER} postmaster",
            f"maildir {self.maildir}",
            f"user {self.user}",
            f"smtp_listen 127.0.0.1:{self.smtp_port}",
            f"smtps_listen 127.0.0.1:{self.smtps_port}",
            f"pop3_listen 127.0.0.1:{self.pop3_port}",
            f"pop3s_listen 127.0.0.1:{self.pop3s_port}",
            f"tls_cert {tls_files[0]}", f"tls_key {tls_files[1]}",
            f"pam_service {TEST_PAM_SERVICE}",
            f"state_dir {self.state_dir}",
            f"submission_listen 127.0.0.1:{self.sub_port}",
            f"submissions_listen 127.0.0.1:{self.subs_port}",
        ]
        defaults = {"dns_resolver": "127.0.0.1:9"}
        lines += [f"{k} {v}" for k, v in {**defaults, **extra}.items()]
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.procs = []
        if smtpd:
            self.smtpd, log = start_daemon(SMTPD, self.conf_path, self.smtpd_log)
            self.procs.append((self.smtpd, log))
        try:
            self.pop3d, log = start_daemon(POP3D, self.conf_path, self.pop3d_log)
        except Exception:
            self.stop()     # the smtpd started above (retried with new ports, or not)
            raise
        self.procs.append((self.pop3d, log))

    def read_log(self, which="pop3d"):
        with open(self.pop3d_log if which == "pop3d" else self.smtpd_log) as f:
            return f.read()

    def messages(self, sub="new"):
        d = os.path.join(self.maildir, sub)
        return sorted(os.path.join(d, n) for n in os.listdir(d))

    def deliver(self, body=None, count=1, subject="test"):
        """Deliver count messages through smtpd; returns their subjects."""
        subjects = []
        for i in range(count):
            c = Client(self.smtp_port)
            greet(c)
            subj = f"{subject} {i} {time.time_ns()}"
            code, _ = send_mail(c, body if body is not None else message(subject=subj))
            assert code == 250
            c.cmd("QUIT")
            c.close()
            subjects.append(subj)
        return subjects

    def cli(self, *args, check=True):
        """Run `letterbox -f conf args...` (as root, as an administrator would)."""
        return subprocess.run([CLI, "-f", self.conf_path, *args], capture_output=True,
                              text=True, check=check)

    def add_app_password(self, device):
        out = self.cli("passwd", "add", device).stdout
        return out.split(": ", 1)[1].split()[0]

    def stop(self):
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=STOP_WAIT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.close()


@pytest.fixture
def make_mailsys(tmp_path, tls_files, test_account):
    """make_mailsys(**settings): smtpd + pop3d with those config keys added."""
    n = itertools.count()

    def start(smtpd=True, **extra):
        root = tmp_path / f"sys{next(n)}"
        root.mkdir()
        os.chmod(root, 0o755)
        return retry_port_race(lambda: MailSystem(str(root), tls_files, test_account,
                                                  extra, smtpd=smtpd))

    def stop(m):
        m.stop()
        for which in ("pop3d", "smtpd"):
            try:
                log = m.read_log(which)
            except FileNotFoundError:
                continue
            assert_log_clean(log, m.expected_kills)
            # The password must never reach a log, whatever happened.
            assert m.password not in log, "password in the log"
        assert_valgrind_clean(m.root)

    yield from made_by(start, stop)


@pytest.fixture
def mailsys(make_mailsys):
    return make_mailsys()


class Pop3(LineConn):
    """A raw POP3 client: exact lines out, status lines and multi-line bodies in."""

    def __init__(self, port, implicit_tls=False, timeout=30, source=None):
        super().__init__(_client_socket(port, implicit_tls, timeout, source))
        self.greeting = self.line()

    def cmd(self, line):
        """Send one command (CRLF added); return its status line as str."""
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.line().decode("utf-8", "replace")

    def multi(self):
        """The lines of a multi-line body up to the final ".", dot-unstuffed."""
        out = []
        while True:
            line = self.line()
            if line == b".":
                return out
            out.append(line[1:] if line.startswith(b"..") else line)

    def stls(self):
        assert self.cmd("STLS").startswith("+OK")
        self.sock = client_tls_context().wrap_socket(self.sock, server_hostname="localhost")

    def login(self, user, password):
        assert self.cmd(f"USER {user}").startswith("+OK")
        return self.cmd(f"PASS {password}")


@pytest.fixture
def pop3():
    """pop3(port, implicit_tls=False, source=None) -> a connected Pop3 client."""
    yield from made_by(Pop3, Pop3.close)
