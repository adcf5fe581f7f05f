"""Installing and operating (issue 7): `make install` and `make uninstall`, the man
pages, the sample configuration, the systemd units and the fail2ban filter and jail,
each against the real thing: make, mandoc and groff, the installed daemons started by
the units' own command lines under the units' own restrictions (tests/install/
unitsandbox.py, as systemd is not PID 1 here), systemd-analyze, fail2ban-regex and
fail2ban-client on the log lines of real logins.
"""
import base64
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import pytest

from conftest import (BUILD, STOP_WAIT, TOP, Client, Pop3, children, free_port, greet,
                      message, send_mail, wait_for)

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, "unitsandbox.py")
MAKE_ARGS = ["SANITIZE=address,undefined"] if BUILD == "build/asan" else []
PROGRAMS = ("letterbox-smtpd", "letterbox-pop3d", "letterbox")
MAN_PAGES = {"man8": ("letterbox-smtpd.8", "letterbox-pop3d.8", "letterbox.8"),
             "man5": ("letterbox.conf.5",)}
UNITS = ("letterbox-smtpd.service", "letterbox-pop3d.service")
CONF = "/etc/letterbox/letterbox.conf"
# Every file `make install DESTDIR=d PREFIX=/usr` puts in d, and its mode.
TREE = {
    **{f"usr/sbin/{p}": 0o755 for p in PROGRAMS},
    **{f"usr/share/man/{d}/{p}": 0o644 for d, ps in MAN_PAGES.items() for p in ps},
    **{f"usr/lib/systemd/system/{u}": 0o644 for u in UNITS},
    "etc/letterbox/letterbox.conf.sample": 0o644,
    "etc/letterbox/letterbox.conf": 0o644,
    "etc/pam.d/letterbox": 0o644,
    "etc/fail2ban/filter.d/letterbox.conf": 0o644,
    "etc/fail2ban/jail.d/letterbox.conf": 0o644,
}


def plain(user, password):
    """An AUTH PLAIN initial response (RFC 4616)."""
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def files_under(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            out[os.path.relpath(p, root)] = os.stat(p).st_mode & 0o7777
    return out


def make(*args, user=None):
    """make args... in the source tree, as user (a pwd entry) if given."""
    argv = ["make", "-s", "--no-print-directory", *MAKE_ARGS, *args]
    if user is not None:
        argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                "--clear-groups", *argv]
    return subprocess.run(argv, cwd=TOP, capture_output=True, text=True)


def installer():
    """Who runs the staged installs: not root. The test account when root (CI)."""
    if os.geteuid() != 0:
        return None
    subprocess.run([os.path.join(TOP, "scripts", "test-account.sh")], check=True,
                   capture_output=True)
    return pwd.getpwnam(os.environ.get("LB_TEST_USER", "lbtest"))


@pytest.fixture(scope="module")
def built():
    """The programs, built as by `make` before the suite (a no-op when up to date), so
    that the staged installs by a non-root user do not need to write build/."""
    r = make("all")
    assert r.returncode == 0, r.stderr
    return installer()


@pytest.fixture
def destdir(built):
    """An empty DESTDIR that the installing user owns, outside pytest's private tmp."""
    d = tempfile.mkdtemp(prefix="lb-install-")
    os.chmod(d, 0o755)
    if built is not None:
        os.chown(d, built.pw_uid, built.pw_gid)
    yield d
    shutil.rmtree(d)


def staged_install(destdir, user):
    r = make("install", f"DESTDIR={destdir}", "PREFIX=/usr", user=user)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_staged_install_tree(built, destdir):
    """A non-root install into DESTDIR with PREFIX=/usr puts exactly these files there,
    with these modes: programs executable, admin's files straight from etc/, the units
    pointing at /usr/sbin and /etc/letterbox/letterbox.conf."""
    staged_install(destdir, built)
    assert files_under(destdir) == TREE
    for p in PROGRAMS:
        assert os.access(os.path.join(destdir, "usr/sbin", p), os.X_OK)
    for src, dst in (("etc/letterbox.conf", "etc/letterbox/letterbox.conf.sample"),
                     ("etc/letterbox.conf", "etc/letterbox/letterbox.conf"),
                     ("etc/pam.d/letterbox", "etc/pam.d/letterbox"),
                     ("etc/fail2ban/filter.d/letterbox.conf",
                      "etc/fail2ban/filter.d/letterbox.conf"),
                     ("etc/fail2ban/jail.d/letterbox.conf",
                      "etc/fail2ban/jail.d/letterbox.conf")):
        with open(os.path.join(TOP, src), "rb") as a, \
                open(os.path.join(destdir, dst), "rb") as b:
            assert a.read() == b.read(), dst
    for u in UNITS:
        text = open(os.path.join(destdir, "usr/lib/systemd/system", u)).read()
        assert "@SBINDIR@" not in text and "@CONFDIR@" not in text, u
        prog = u.replace(".service", "")
        assert f"\nExecStart=/usr/sbin/{prog} -f {CONF}\n" in text
        assert f"\nExecStartPre=/usr/sbin/{prog} -n -f {CONF}\n" in text


def test_reinstall_keeps_the_admins_files_and_uninstall_removes_the_rest(built, destdir):
    """letterbox.conf, pam.d/letterbox and the jail are the administrator's once
    installed: a second install keeps them as they are; uninstall removes every file
    it installed, and those three only while unchanged."""
    staged_install(destdir, built)
    conf = os.path.join(destdir, "etc/letterbox/letterbox.conf")
    with open(conf, "a") as f:
        f.write("max_recipients 7\n")
    r = staged_install(destdir, built)
    assert f"kept {conf}" in r.stdout
    assert open(conf).read().endswith("max_recipients 7\n")
    assert files_under(destdir) == TREE
    r = make("uninstall", f"DESTDIR={destdir}", "PREFIX=/usr", user=built)
    assert r.returncode == 0, r.stderr
    assert f"kept {conf} (changed)" in r.stdout
    assert list(files_under(destdir)) == ["etc/letterbox/letterbox.conf"]
    # An unchanged install goes entirely, its own directory with it.
    os.unlink(conf)
    staged_install(destdir, built)
    r = make("uninstall", f"DESTDIR={destdir}", "PREFIX=/usr", user=built)
    assert r.returncode == 0, r.stderr
    assert files_under(destdir) == {}
    assert not os.path.exists(os.path.join(destdir, "etc/letterbox"))


# --- man pages --------------------------------------------------------------------

def man_paths():
    return [os.path.join(TOP, "man", p) for ps in MAN_PAGES.values() for p in ps]


def test_man_pages_are_all_there():
    assert sorted(os.listdir(os.path.join(TOP, "man"))) == sorted(
        p for ps in MAN_PAGES.values() for p in ps)


@pytest.mark.parametrize("page", man_paths(), ids=os.path.basename)
def test_man_page_lints_and_renders(page):
    """mandoc -T lint -W warning says nothing; groff (what man(1) uses) renders it
    without a warning; man -l shows its NAME."""
    r = subprocess.run(["mandoc", "-T", "lint", "-W", "warning", page],
                       capture_output=True, text=True)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    for device in (["-Tutf8"], []):
        r = subprocess.run(["groff", "-mandoc", *device, "-ww", "-z", page],
                           capture_output=True, text=True)
        assert (r.returncode, r.stderr) == (0, ""), device
    r = subprocess.run(["man", "-l", page], capture_output=True, text=True,
                       env={**os.environ, "MANWIDTH": "80", "MANPAGER": "cat"})
    assert r.returncode == 0 and r.stderr == ""
    name = os.path.basename(page).rsplit(".", 1)[0]
    assert re.search(rf"^NAME\n\s+{re.escape(name)} \u2014 ", r.stdout, re.M), \
        r.stdout[:300]


def settings_table():
    """[(key, default or None)] of lib/settings.c's table, in its order."""
    src = open(os.path.join(TOP, "lib", "settings.c")).read()
    rows = re.findall(r'^\s*\{\s*"([a-z0-9_]+)",\s*CONF_[A-Z]+,\s*(NULL|"[^"]*")', src,
                      re.M)
    assert len(rows) > 40, "the table's format changed: fix this parser"
    return [(k, None if d == "NULL" else d.strip('"')) for k, d in rows]


def man_entries():
    """{key: its text} of letterbox.conf.5's `.It Ic key` entries."""
    text = open(os.path.join(TOP, "man", "letterbox.conf.5")).read()
    parts = re.split(r"^\.It Ic ([a-z0-9_]+)\b.*$", text, flags=re.M)
    return {parts[i]: re.split(r"^\.(?:It|El)\b", parts[i + 1], flags=re.M)[0]
            for i in range(1, len(parts), 2)}


def test_every_key_is_documented_with_its_default():
    """Each key of the table has an entry in letterbox.conf(5) that states its default,
    and a line (set or commented out) in etc/letterbox.conf; neither names a key that
    does not exist."""
    table = settings_table()
    keys = [k for k, _ in table]
    entries = man_entries()
    assert sorted(entries) == sorted(keys)
    for k, default in table:
        if default is not None:
            assert "Default:" in entries[k] and default in entries[k], (k, default)
    sample = open(os.path.join(TOP, "etc", "letterbox.conf")).read()
    in_sample = set(re.findall(r"^#?([a-z0-9_]+) \S", sample, re.M))
    assert [k for k in keys if k not in in_sample] == []


# --- the sample configuration -------------------------------------------------------

def test_installed_programs_accept_the_sample(built, destdir, tls_files):
    """The installed daemons take the sample as it is installed (smtpd; pop3d has no
    listener in it until one is uncommented), and with every commented-out key line
    uncommented (the certificate pointed at a real one): every value it shows parses."""
    staged_install(destdir, built)
    sbin = os.path.join(destdir, "usr/sbin")
    sample = os.path.join(destdir, "etc/letterbox/letterbox.conf.sample")
    r = subprocess.run([f"{sbin}/letterbox-smtpd", "-n", "-f", sample],
                       capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"{sample}: configuration OK\n"), r.stderr
    keys = {k for k, _ in settings_table()}
    lines = []
    for line in open(sample):
        m = re.match(r"^#([a-z0-9_]+) (.*)$", line)
        if m and m.group(1) in keys:
            value = {"tls_cert": tls_files[0], "tls_key": tls_files[1]}.get(m.group(1),
                                                                          m.group(2))
            line = f"{m.group(1)} {value}\n"
        lines.append(line)
    full = os.path.join(destdir, "all-keys.conf")
    with open(full, "w") as f:
        f.writelines(lines)
    for prog in ("letterbox-smtpd", "letterbox-pop3d"):
        r = subprocess.run([f"{sbin}/{prog}", "-n", "-f", full], capture_output=True,
                           text=True)
        assert (r.returncode, r.stdout) == (0, f"{full}: configuration OK\n"), r.stderr


# --- systemd units --------------------------------------------------------------------

def unit_service(path):
    sys.path.insert(0, HERE)
    try:
        import unitsandbox
    finally:
        sys.path.pop(0)
    return unitsandbox.service_section(path)


@pytest.fixture
def prefix_install(built):
    """An install with PREFIX in a temporary directory and no DESTDIR, so that the
    units' paths exist on this machine (systemd-analyze verify checks them)."""
    d = tempfile.mkdtemp(prefix="lb-prefix-")
    os.chmod(d, 0o755)
    r = make("install", f"PREFIX={d}", f"SYSCONFDIR={d}/etc")
    assert r.returncode == 0, r.stdout + r.stderr
    yield d
    shutil.rmtree(d)


def test_units_verify(prefix_install):
    """systemd-analyze verify finds nothing to say about either unit (it checks every
    directive, the programs' paths and the man pages of Documentation=); the same
    tool on a unit with a misspelt directive does complain."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    env = {**os.environ, "MANPATH": os.path.join(prefix_install, "share/man")}
    units = [os.path.join(prefix_install, "lib/systemd/system", u) for u in UNITS]
    r = subprocess.run(["systemd-analyze", "verify", *units], capture_output=True,
                       text=True, env=env, cwd=prefix_install)
    assert (r.returncode, r.stdout + r.stderr) == (0, "")
    bad = os.path.join(prefix_install, "letterbox-bad.service")
    with open(units[0]) as f, open(bad, "w") as g:
        g.write(f.read().replace("PrivateTmp=yes", "PrivateTmpp=yes"))
    r = subprocess.run(["systemd-analyze", "verify", bad], capture_output=True,
                       text=True, env=env, cwd=prefix_install)
    assert "PrivateTmpp" in r.stderr


def test_unit_sandbox_emulation_bites():
    """The restrictions unitsandbox.py applies are real: inside them a netlink socket,
    writable+executable memory and a system call outside @system-service fail, and
    root has only the unit's capabilities."""
    unit = os.path.join(TOP, "etc/systemd", UNITS[0])
    probe = (
        "import ctypes, errno, mmap, os, socket\n"
        "try:\n"
        "    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0); print('netlink ok')\n"
        "except OSError as e: print('netlink', errno.errorcode[e.errno])\n"
        "try:\n"
        "    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "    print('wx ok')\n"
        "except OSError as e: print('wx', errno.errorcode[e.errno])\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = libc.syscall(155, b'/', b'/')   # pivot_root: @mount, not @system-service\n"
        "print('pivot_root', errno.errorcode[ctypes.get_errno()])\n"
        "print(open('/proc/self/status').read().split('CapBnd:')[1].split()[0])\n")
    r = subprocess.run([sys.executable, SANDBOX, unit, "--", sys.executable, "-c", probe],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[:3] == ["netlink EAFNOSUPPORT", "wx EPERM", "pivot_root EPERM"]
    caps = " ".join(unit_service(unit)["CapabilityBoundingSet"]).split()
    want = sum(1 << n for name, n in capability_numbers().items() if name in caps)
    assert int(out[3], 16) == want


def capability_numbers():
    names = subprocess.run(["setpriv", "--list-caps"], check=True, capture_output=True,
                           text=True).stdout.split()
    return {"CAP_" + n.upper(): i for i, n in enumerate(names)}


def low_ports(n):
    """n free ports below 1024 on 127.0.0.1: binding one takes CAP_NET_BIND_SERVICE."""
    out = []
    for port in range(990, 700, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        out.append(port)
        if len(out) == n:
            return out
    pytest.skip("no free ports below 1024")


class UnitRun:
    """The staged daemons started by their units' command lines, under the units'
    restrictions, as root, on a config whose Maildir and state_dir are still to be
    made inside the owner's own 0700 directory."""

    def __init__(self, destdir, tls_files, account):
        self.destdir = destdir
        self.user, self.password = account
        self.pw = pwd.getpwnam(self.user)
        self.root = tempfile.mkdtemp(prefix="lb-unit-")
        os.chmod(self.root, 0o755)
        self.home = os.path.join(self.root, "home")
        os.mkdir(self.home, 0o700)
        os.chown(self.home, self.pw.pw_uid, self.pw.pw_gid)
        self.maildir = os.path.join(self.home, "Maildir")
        self.state_dir = os.path.join(self.home, "state")
        self.smtp_port, self.pop3_port = low_ports(2)
        self.sub_port = free_port()
        self.conf = os.path.join(self.root, "letterbox.conf")
        self.procs = {}
        self.tls_files = tls_files

    def write_conf(self):
        lines = ["hostname mx.example.test", "domains example.test",
                 "local_parts alice postmaster", f"maildir {self.maildir}",
                 f"user {self.user}", f"smtp_listen 127.0.0.1:{self.smtp_port}",
                 f"submission_listen 127.0.0.1:{self.sub_port}",
                 f"pop3_listen 127.0.0.1:{self.pop3_port}",
                 f"tls_cert {self.tls_files[0]}", f"tls_key {self.tls_files[1]}",
                 "pam_service letterbox-test", f"state_dir {self.state_dir}",
                 "dns_resolver 127.0.0.1:9"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def unit(self, prog):
        return os.path.join(self.destdir, "usr/lib/systemd/system", prog + ".service")

    def argv(self, prog, key):
        """The unit's command line(s) for key, with the staged paths and test config."""
        out = []
        for line in unit_service(self.unit(prog))[key]:
            argv = [a.replace(CONF, self.conf) for a in shlex.split(line)]
            if argv[0].startswith("/usr/sbin/"):
                argv[0] = os.path.join(self.destdir, argv[0][1:])
            out.append(argv)
        return out

    def sandboxed(self, prog, argv, *flags):
        return [sys.executable, SANDBOX, *flags, self.unit(prog), "--", *argv]

    def start(self, prog, port):
        for argv in self.argv(prog, "ExecStartPre"):
            r = subprocess.run(self.sandboxed(prog, argv), capture_output=True, text=True)
            assert (r.returncode, r.stdout) == (0, f"{self.conf}: configuration OK\n"), \
                r.stderr
        (argv,) = self.argv(prog, "ExecStart")
        proc = subprocess.Popen(self.sandboxed(prog, argv), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.procs[prog] = proc

        def accepting():
            if proc.poll() is not None:     # it logged why to syslog: ask again, -d
                r = subprocess.run(self.sandboxed(prog, argv + ["-d"]), timeout=60,
                                   capture_output=True, text=True)
                raise AssertionError(f"{prog} exited {proc.returncode}: {r.stderr}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_for(accepting, what=f"{prog} to accept on {port}")
        return proc

    def stop(self):
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.root)


@pytest.fixture
def unit_run(built, destdir, tls_files, test_account):
    staged_install(destdir, built)
    u = UnitRun(destdir, tls_files, test_account)
    u.write_conf()
    yield u
    u.stop()


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    return None


def test_units_run_the_daemons(unit_run):
    """Both daemons, started as root by their units' ExecStartPre and ExecStart under
    the units' restrictions: they bind ports below 1024, make the Maildir and
    state_dir for the owner inside the owner's 0700 directory, drop to the owner with
    no capability left, take mail on the MX, take the owner's PAM login on
    submission and POP3 (unix_chkpwd works: NoNewPrivileges is off), queue outgoing
    mail, and stop with status 0 on SIGTERM to the main process alone (KillMode=mixed),
    leaving no process behind."""
    u = unit_run
    smtpd = u.start("letterbox-smtpd", u.smtp_port)
    pop3d = u.start("letterbox-pop3d", u.pop3_port)
    for proc in (smtpd, pop3d):
        # The ports accept (into the backlog) from bind on; the drop follows at once.
        wait_for(lambda: status_field(proc.pid, "Uid")[:3] == [str(u.pw.pw_uid)] * 3,
                 what="the daemon to drop to the owner")
        assert int(status_field(proc.pid, "CapEff")[0], 16) == 0
    for d in (u.maildir, u.state_dir):
        st = os.stat(d)
        assert (st.st_uid, st.st_mode & 0o777) == (u.pw.pw_uid, 0o700), d

    c = Client(u.smtp_port)
    greet(c)
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    assert c.cmd("EHLO client.example.net")[0] == 250
    assert send_mail(c, message(subject="via the unit"))[0] == 250
    c.cmd("QUIT")
    c.close()

    c = Client(u.sub_port)
    greet(c)
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    assert c.cmd("EHLO client.example.net")[0] == 250
    assert c.cmd("AUTH PLAIN " + plain(u.user, u.password))[0] == 235
    assert send_mail(c, message(subject="out"), mail_from="<alice@example.test>",
                     rcpt="<bob@example.net>")[0] == 250
    c.cmd("QUIT")
    c.close()
    r = subprocess.run([os.path.join(u.destdir, "usr/sbin/letterbox"), "-f", u.conf,
                        "queue", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "to <bob@example.net>" in r.stdout, r.stdout + r.stderr

    p = Pop3(u.pop3_port)
    p.stls()
    assert p.login(u.user, u.password) == "+OK Logged in."
    assert p.cmd("STAT").startswith("+OK 1 ")
    assert p.cmd("RETR 1").startswith("+OK")
    assert any(b"Subject: via the unit" in line for line in p.multi())
    assert p.cmd("QUIT").startswith("+OK")
    p.close()

    for prog, proc in (("letterbox-smtpd", smtpd), ("letterbox-pop3d", pop3d)):
        kids = children(proc.pid)
        assert kids, prog
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_WAIT) == 0, proc.stdout.read()
        wait_for(lambda: not any(os.path.exists(f"/proc/{k}") for k in kids),
                 what=f"{prog}'s processes to end")


def test_unit_reload(unit_run):
    """systemctl reload: ExecReload checks the file (-n) and sends SIGHUP to the main
    process, which goes on serving."""
    u = unit_run
    for prog, port in (("letterbox-smtpd", u.smtp_port), ("letterbox-pop3d", u.pop3_port)):
        proc = u.start(prog, port)
        check, hup = u.argv(prog, "ExecReload")
        r = subprocess.run(u.sandboxed(prog, check), capture_output=True, text=True)
        assert (r.returncode, r.stdout) == (0, f"{u.conf}: configuration OK\n"), r.stderr
        assert hup[0] == "/bin/kill" and hup[1:] == ["-HUP", "$MAINPID"]
        subprocess.run([hup[0], "-HUP", str(proc.pid)], check=True)
        if prog == "letterbox-smtpd":
            c = Client(port)
            assert c.reply()[0] == 220
            c.close()
        else:
            p = Pop3(port)
            assert p.greeting.startswith(b"+OK")
            p.close()
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_WAIT) == 0


@pytest.mark.parametrize("cap,why", [
    ("CAP_NET_BIND_SERVICE", "listen: 127.0.0.1:"),
    ("CAP_DAC_OVERRIDE", "Permission denied"),
    ("CAP_CHOWN", "Operation not permitted"),
    ("CAP_SETUID", "cannot become"),
    ("CAP_SETGID", "cannot become"),
])
def test_every_capability_of_the_unit_is_needed(unit_run, cap, why):
    """CapabilityBoundingSet holds nothing to spare: without any one of its
    capabilities letterbox-smtpd does not start, and says why (-d)."""
    u = unit_run
    assert cap in " ".join(unit_service(u.unit("letterbox-smtpd"))[
        "CapabilityBoundingSet"]).split()
    (argv,) = u.argv("letterbox-smtpd", "ExecStart")
    r = subprocess.run(u.sandboxed("letterbox-smtpd", argv + ["-d"], "--drop-cap", cap),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert why in r.stderr, r.stderr


# --- fail2ban -------------------------------------------------------------------------

def fail2ban_conf(tmp_path):
    """A copy of this machine's /etc/fail2ban with Letterbox's filter and jail in it,
    the jail enabled."""
    if shutil.which("fail2ban-regex") is None:
        pytest.skip("fail2ban is not installed")
    d = tmp_path / "fail2ban"
    shutil.copytree("/etc/fail2ban", d)
    shutil.copy(os.path.join(TOP, "etc/fail2ban/filter.d/letterbox.conf"),
                d / "filter.d/letterbox.conf")
    jail = open(os.path.join(TOP, "etc/fail2ban/jail.d/letterbox.conf")).read()
    assert "\nenabled  = false\n" in jail
    (d / "jail.d/letterbox.conf").write_text(jail.replace("\nenabled  = false\n",
                                                          "\nenabled  = true\n"))
    return d


def banned_hosts(conf, lines, tmp_path):
    """The host fail2ban-regex reads from each line the filter counts, in order."""
    log = tmp_path / "mail.log"
    log.write_text("".join(line + "\n" for line in lines))
    r = subprocess.run(["fail2ban-regex", "-o", "ip", str(log),
                        str(conf / "filter.d/letterbox.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_fail2ban_jail_loads(tmp_path):
    """fail2ban-client reads the jail with the filter: the journal of both units, the
    submission and POP3 ports (never 25), the filter's regexes."""
    conf = fail2ban_conf(tmp_path)
    r = subprocess.run(["fail2ban-client", "-c", str(conf), "-d"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "['add', 'letterbox', 'systemd']" in out
    assert ("['set', 'letterbox', 'addjournalmatch', "
            "'_SYSTEMD_UNIT=letterbox-smtpd.service', '+', "
            "'_SYSTEMD_UNIT=letterbox-pop3d.service']") in out
    assert "['port', '587,465,110,995']" in out
    assert "'addfailregex', '^result=(?:fail|throttled) " in out


def auth_lines(log):
    return [line for line in log.splitlines() if " session=auth auth result=" in line]


def test_fail2ban_filter_on_real_logins(make_mailsys, tmp_path):
    """The filter on the auth lines of real logins, as syslog writes them into
    mail.log (and as fail2ban's journal backend renders them), as the journal keeps
    them from -d (the program's own prefix twice): a wrong password over POP3 STLS and
    over submission AUTH counts against the client's address; a good login, the same
    wrong password again and a user name that carries ' client=6.6.6.6' do not yield
    a host of their own."""
    conf = fail2ban_conf(tmp_path)
    m = make_mailsys()
    evil = 'x" client=6.6.6.6 via="'

    p = Pop3(m.pop3_port, source="127.0.0.2")
    p.stls()
    assert p.login(m.user, "wrong-1").startswith("-ERR [AUTH]")
    assert p.login(m.user, "wrong-1").startswith("-ERR [AUTH]")     # a repeat
    p.close()
    c = Client(m.sub_port, source="127.0.0.3")
    greet(c)
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    assert c.cmd("EHLO client.example.net")[0] == 250
    assert c.cmd("AUTH PLAIN " + plain(m.user, "wrong-2"))[0] == 535
    c.close()
    p = Pop3(m.pop3_port, source="127.0.0.4")
    p.stls()
    assert p.login(m.user, m.password) == "+OK Logged in."
    p.cmd("QUIT")
    p.close()
    p = Pop3(m.pop3_port, source="127.0.0.5")
    p.stls()
    assert p.cmd("AUTH PLAIN " + plain(evil, "wrong-3")).startswith("-ERR [AUTH]")
    p.close()

    pop3 = wait_for(lambda: len(auth_lines(m.read_log("pop3d"))) == 4 and
                    auth_lines(m.read_log("pop3d")), what="4 POP3 auth lines")
    smtp = wait_for(lambda: auth_lines(m.read_log("smtpd")), what="the SMTP auth line")
    real = pop3 + smtp
    assert [re.search(r"result=(\w+)", x).group(1) for x in real] == \
        ["fail", "fail", "ok", "fail", "fail"]
    assert 'via="repeat of a failed password"' in real[1]
    assert 'user="x\\x22 client=6.6.6.6 via=\\x22"' in real[3]
    want = ["127.0.0.2", "127.0.0.5", "127.0.0.3"]
    syslog = [f"Nov 29 05:19:12 mx {x}" for x in real]
    assert banned_hosts(conf, syslog, tmp_path) == want
    rfc3339 = [f"2026-11-29T05:19:12.123456+00:00 mx {x}" for x in real]
    assert banned_hosts(conf, rfc3339, tmp_path) == want
    journal_d = [f"Nov 29 05:19:12 mx {x.split(': ', 1)[0]}: {x}" for x in real]
    assert banned_hosts(conf, journal_d, tmp_path) == want


def test_no_new_privileges_would_break_pam_logins(unit_run, tmp_path):
    """Why the units leave NoNewPrivileges off: with it, unix_chkpwd loses its
    set-group-id and the owner's right password gets a temporary failure, logged as
    result=tempfail, which the fail2ban filter does not count."""
    u = unit_run
    (argv,) = u.argv("letterbox-pop3d", "ExecStart")
    proc = subprocess.Popen(u.sandboxed("letterbox-pop3d", argv + ["-d"],
                                        "--no-new-privs"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    u.procs["nnp"] = proc
    wait_for(lambda: proc.poll() is not None or _accepts(u.pop3_port),
             what="pop3d to accept")
    assert proc.poll() is None
    p = Pop3(u.pop3_port, source="127.0.0.6")
    p.stls()
    assert p.login(u.user, u.password) == (
        "-ERR [SYS/TEMP] Authentication is not available now, try again later.")
    p.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=STOP_WAIT) == 0
    lines = auth_lines(proc.stdout.read())
    assert len(lines) == 1 and "result=tempfail" in lines[0] and \
        "client=127.0.0.6" in lines[0], lines
    conf = fail2ban_conf(tmp_path)
    assert banned_hosts(conf, [f"Nov 29 05:19:12 mx {lines[0]}"], tmp_path) == []


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
