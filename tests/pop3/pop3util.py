"""Helpers for the POP3 suite (tests/pop3 only): logging in, raw multi-line bodies,
the Maildir as it is on disk, messages placed by hand as another delivery agent
would, and the session process that serves a given connection.

Every wait here is bounded and waits for an observable event, never for a time.
"""
import base64
import os
import pwd
import re
import socket
import ssl

from conftest import children, process_socket_inodes, process_state, wait_for

# The base name of a file: the name without the ":2,flags" info (maildir(5)).
INFO_RE = re.compile(rb":2,[^/]*$")


def b64(data):
    """base64 of str/bytes as str (what a SASL client sends)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def plain(user, password, authzid=""):
    """A PLAIN (RFC 4616) initial response."""
    return b64(f"{authzid}\0{user}\0{password}")


def ok(reply):
    return reply.startswith("+OK")


def err(reply):
    return reply.startswith("-ERR")


def login(c, ms, user=None, tls=True):
    """STLS (unless the connection is already TLS or tls=False) and USER/PASS."""
    if tls:
        c.stls()
    r = c.login(user or ms.user, ms.password)
    assert r == "+OK Logged in.", r
    return c


def open_session(pop3, ms, user=None, source=None):
    """A new connection, through STLS, logged in: the client in TRANSACTION state."""
    return login(pop3(ms.pop3_port, source=source), ms, user=user)


def capa(c):
    """The CAPA lines (without the status line and the final dot), as str."""
    r = c.cmd("CAPA")
    assert r.startswith("+OK"), r
    return [line.decode() for line in c.multi()]


def raw_body(c):
    """The bytes of a multi-line response body exactly as sent, up to and without
    the final ".\\r\\n" (still dot-stuffed)."""
    while True:
        if c.buf.startswith(b".\r\n"):
            c.buf = c.buf[3:]
            return b""
        i = c.buf.find(b"\r\n.\r\n")
        if i != -1:
            body, c.buf = c.buf[:i + 2], c.buf[i + 5:]
            return body
        data = c.sock.recv(65536)
        if not data:
            raise ConnectionError("closed in a multi-line body; buffered %r" % c.buf[:200])
        c.buf += data


def unstuff(raw):
    """A dot-stuffed body (CRLF lines) back to the message octets (RFC 1939 §3)."""
    lines = raw.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


def retr(c, n):
    """RETR n: (status line, raw stuffed body)."""
    r = c.cmd(f"RETR {n}")
    assert r.startswith("+OK"), r
    return r, raw_body(c)


def listing(c, verb):
    """LIST or UIDL without argument: {number: value} (value as str)."""
    r = c.cmd(verb)
    assert r.startswith("+OK"), r
    out = {}
    for line in c.multi():
        # One space between the number and the value: Thunderbird splits on it.
        num, value = line.decode("ascii").split(" ")
        out[int(num)] = value
    return out


def stat(c):
    r = c.cmd("STAT")
    m = re.fullmatch(r"\+OK (\d+) (\d+)", r)
    assert m, r
    return int(m.group(1)), int(m.group(2))


def base_name(name):
    """The base name of a Maildir file name (str)."""
    return name.split(":2,", 1)[0]


def maildir_state(ms):
    """{"new": [names], "cur": [names]} of the Maildir, sorted."""
    return {sub: sorted(os.listdir(os.path.join(ms.maildir, sub)))
            for sub in ("new", "cur")}


def all_files(ms):
    """{base name: (sub, full name)} of every message file in new/ and cur/."""
    out = {}
    for sub, names in maildir_state(ms).items():
        for n in names:
            out[base_name(n)] = (sub, n)
    return out


def place(ms, name, data, sub="new"):
    """Put a message file in new/ or cur/ by hand, as another delivery agent would
    (written whole, then renamed into place), owned by the mail user."""
    pw = pwd.getpwnam(ms.user)
    tmp = os.path.join(ms.maildir, "tmp", "hand." + str(os.getpid()))
    with open(tmp, "wb") as f:
        f.write(data)
    os.chown(tmp, pw.pw_uid, pw.pw_gid)
    os.chmod(tmp, 0o600)
    dst = os.path.join(ms.maildir, sub, name)
    os.rename(tmp, dst)
    return dst


def read_file(ms, sub, name):
    with open(os.path.join(ms.maildir, sub, name), "rb") as f:
        return f.read()


def _server_inode(local_port, peer_port):
    """The inode of the server-side TCP socket 127.0.0.1:local_port <- peer_port."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    lport = int(fields[1].rsplit(":", 1)[1], 16)
                    rport = int(fields[2].rsplit(":", 1)[1], 16)
                    if lport == local_port and rport == peer_port and fields[3] != "0A":
                        return int(fields[9])
        except FileNotFoundError:
            pass
    return None


def session_pid(ms, c):
    """The pid of the pop3d session process that serves client c's connection: the
    child of the daemon that holds the server end of that very TCP connection."""
    peer_port = c.sock.getsockname()[1]
    server_port = c.sock.getpeername()[1]

    def find():
        inode = _server_inode(server_port, peer_port)
        if inode is None:
            return None
        for pid in children(ms.pop3d.pid):
            if inode in process_socket_inodes(pid):
                return pid
        return None
    return wait_for(find, what="the session process of the connection")


def gone(pid):
    """True once pid has exited (a zombie not yet reaped counts as gone)."""
    return process_state(pid) in (None, "Z")


def log_count(ms, text):
    return ms.read_log("pop3d").count(text)


def wait_log(ms, text, count=1):
    """Wait until the pop3d log holds text at least count times."""
    wait_for(lambda: log_count(ms, text) >= count, what=f"{text!r} in the pop3d log")


def is_closed(c):
    """True if the server has closed the connection (nothing more buffered)."""
    if c.buf:
        return False
    try:
        return c.sock.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
        return True
    except socket.timeout:
        return False
