"""Shared harness for the outbound (relay/) tests: a real DNS server on 127.0.0.1.

A test that needs DNS asks for the `dns_server` fixture and calls it with the records
it wants; it gets "127.0.0.1:PORT", the value of the resolver setting
(`dns_resolver`, or `-s` of tests/outbound/dnsq.c):

    def test_x(dns_server):
        server = dns_server(mx=[("example.test", "mx1.example.test", 10)],
                            a=[("mx1.example.test", "192.0.2.1")])

dnsmasq answers from those records only (--no-resolv --no-hosts, --local=/#/): every
other name is NXDOMAIN, and nothing is ever forwarded, so no test depends on, or asks,
the system's resolver. Each server is started and stopped by its PID. Outside pytest
fixtures, `start_dnsmasq()` does the same and returns (proc, "127.0.0.1:PORT").

This directory is a package (see __init__.py) so that this file is imported as
`outbound.conftest` and `from conftest import ...` still means tests/conftest.py for
every directory; import from here as `from outbound.conftest import ...`.
"""
import itertools
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

import pytest

from conftest import BUILD, TOP, free_port, made_by

DNSMASQ = "/usr/sbin/dnsmasq"
DNSQ = os.path.join(TOP, BUILD, "tests", "dnsq")
PROBE_NAME = "ready.dnsmasq.probe.invalid"	# asked until dnsmasq answers

# Record kinds of start_dnsmasq(), each a list of tuples, and their dnsmasq option.
#   mx     (domain, host, pref)   host "." is the RFC 7505 null MX
#   a      (host, ip)             IPv4 or IPv6; several tuples for one host add up
#   cname  (alias, target)        target must be one of these records' names
#   txt    (name, text)           text with commas: several <character-string>s
#   ptr    (reverse name, host)   "1.2.0.192.in-addr.arpa"; overrides a's own PTR
#   addr   (host, ip)             A or AAAA like "a", but with no PTR record made
_KINDS = {
    "mx": lambda d, h, p: f"--mx-host={d},{h},{p}",
    "a": lambda h, ip: f"--host-record={h},{ip}",
    "cname": lambda alias, target: f"--cname={alias},{target}",
    "txt": lambda name, text: f"--txt-record={name},{text}",
    "ptr": lambda name, host: f"--ptr-record={name},{host}",
    "addr": lambda host, ip: f"--address=/{host}/{ip}",
}


def _dnsmasq_argv(port, records, local, listen):
    argv = [DNSMASQ, "--no-resolv", "--no-hosts", "--no-daemon", f"--port={port}",
            f"--listen-address={listen}", "--bind-interfaces", "--conf-file=/dev/null",
            "--log-facility=-", "--log-queries"]
    for kind, rows in records.items():
        if kind not in _KINDS:
            raise ValueError(f"unknown record kind {kind!r} (want one of {sorted(_KINDS)})")
        argv += [_KINDS[kind](*row) for row in rows]
    argv += [f"--local=/{zone}/" for zone in local]
    return argv


def _dns_probe(listen, port, timeout=0.2):
    """Whether anything answers a DNS query on listen:port (UDP)."""
    qname = b"".join(bytes([len(p)]) + p
                     for p in PROBE_NAME.encode().split(b".")) + b"\0"
    query = struct.pack("!HHHHHH", 0x4c42, 0x0100, 1, 0, 0, 0) + qname + \
        struct.pack("!HH", 1, 1)
    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(query, (listen, port))
            reply = s.recv(512)
        except OSError:
            return False
    return reply[:2] == query[:2]


def start_dnsmasq(tmp_path, mx=(), a=(), cname=(), txt=(), ptr=(), addr=(), local=("#",),
                  listen="127.0.0.1", tries=3):
    """Start dnsmasq on 127.0.0.1:<free port> serving the records given (see _KINDS);
    return (proc, "127.0.0.1:PORT") once it answers. local: the zones answered only
    from these records (NXDOMAIN for other names); ("#",) is every name, () makes
    unknown names REFUSED instead. listen="::1" serves on IPv6 loopback instead and
    returns "[::1]:PORT". Its log (every query) is dnsmasq_log(tmp_path, address). The
    caller stops it with stop_dnsmasq(proc)."""
    records = {"mx": mx, "a": a, "cname": cname, "txt": txt, "ptr": ptr, "addr": addr}
    for attempt in range(tries):
        port = free_port()
        log_path = os.path.join(str(tmp_path), f"dnsmasq-{port}.log")
        with open(log_path, "w") as log:
            proc = subprocess.Popen(_dnsmasq_argv(port, records, local, listen),
                                    stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if _dns_probe(listen, port):
                return proc, f"[{listen}]:{port}" if ":" in listen else f"{listen}:{port}"
            time.sleep(0.01)
        stop_dnsmasq(proc)
        with open(log_path) as f:
            text = f.read()
        # free_port() only says the port was free; something may have taken it since.
        if "Address already in use" not in text or attempt == tries - 1:
            raise RuntimeError(f"dnsmasq did not start on port {port}:\n{text}")
    raise AssertionError("not reached")


def dnsmasq_log(tmp_path, address):
    """The log of the dnsmasq start_dnsmasq(tmp_path, ...) started at address."""
    port = address.rsplit(":", 1)[1]
    with open(os.path.join(str(tmp_path), f"dnsmasq-{port}.log")) as f:
        return f.read()


def dnsmasq_queries(tmp_path, address):
    """The questions that server was asked, in order: [("MX", "example.test"), ...],
    without start_dnsmasq's readiness probes."""
    out = []
    for line in dnsmasq_log(tmp_path, address).splitlines():
        m = re.search(r"query\[(\w+)\] (\S+) from ", line)
        if m and m.group(2) != PROBE_NAME:
            out.append((m.group(1), m.group(2)))
    return out


def stop_dnsmasq(proc):
    """Stop one dnsmasq by its PID: SIGTERM, then SIGKILL after 5 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def dns_server(tmp_path):
    """A factory: dns_server(records=None, **kinds) -> "127.0.0.1:PORT". records is a
    dict {"mx": [...], "a": [...], ...} and/or the same kinds as keyword arguments (and
    local=, see start_dnsmasq). Every server started is stopped after the test."""
    def start(records=None, **kinds):
        args = dict(records or {})
        args.update(kinds)
        return start_dnsmasq(tmp_path, **args)

    # start_dnsmasq() gives (proc, addr): the test gets addr, proc is stopped after it.
    yield from made_by(start, lambda started: stop_dnsmasq(started[0]),
                       give=lambda started: started[1])


@pytest.fixture(scope="session")
def dnsq():
    """The path of tests/outbound/dnsq.c's binary, built (or brought up to date) by
    make for the build tree in LB_BUILD."""
    argv = ["make", "-s", "-C", TOP]
    if BUILD == "build/asan":
        argv.append("SANITIZE=address,undefined")
    subprocess.run(argv + [os.path.join(BUILD, "tests", "dnsq")], check=True)
    return DNSQ


# --- sink: a receiving SMTP server (tests/outbound/sink.py) in a process of its own --

SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sink.py")


class SinkServer:
    """A running sink.py: .port, .dir (where D/<n>.eml and D/<n>.json land), .proc."""

    def __init__(self, port, dirpath, proc):
        self.port, self.dir, self.proc = port, dirpath, proc

    def messages(self):
        """[(info dict from <n>.json, raw bytes of <n>.eml)] of every accepted message,
        in arrival order."""
        out = []
        names = [n for n in os.listdir(self.dir) if n.endswith(".json")]
        for name in sorted(names, key=lambda n: int(n.split(".")[0])):
            with open(os.path.join(self.dir, name)) as f:
                info = json.load(f)
            with open(os.path.join(self.dir, name[:-5] + ".eml"), "rb") as f:
                out.append((info, f.read()))
        return out

    def events(self):
        """The lines of events.log: "accepted N", "tempfail", "rcpt-rejected A", ..."""
        try:
            with open(os.path.join(self.dir, "events.log")) as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []

    def wait_messages(self, n=1, timeout=20.0):
        """Wait until at least n messages were accepted; return messages()."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(f"sink on port {self.port}: {len(msgs)} message(s) "
                                     f"after {timeout}s, wanted {n}; events "
                                     f"{self.events()}")
            time.sleep(0.02)

    def stop(self):
        """SIGTERM by PID, SIGKILL after 5 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_sink(dirpath, port=None, tempfail_first=0, reject=(), reject_data=False,
               delay_data=0, delay_first=None, require_auth_login=None, tls_files=None,
               implicit_tls=False, tries=3):
    """Start sink.py on 127.0.0.1 (port, or a free one, tried again with another if it
    was taken meanwhile) writing into dirpath; returns a SinkServer once it says ready.
    tls_files is (cert, key); require_auth_login is "USER:PASS"."""
    for attempt in range(tries):
        p = port or free_port()
        argv = [sys.executable, SINK, "--port", str(p), "--dir", str(dirpath)]
        if tempfail_first:
            argv += ["--tempfail-first", str(tempfail_first)]
        if reject:
            argv += ["--reject", ",".join(reject)]
        if reject_data:
            argv.append("--reject-data")
        if delay_data:
            argv += ["--delay-data", str(delay_data)]
        if delay_first is not None:
            argv += ["--delay-first", str(delay_first)]
        if tls_files:
            argv += ["--tls-cert", tls_files[0], "--tls-key", tls_files[1]]
        if implicit_tls:
            argv.append("--implicit-tls")
        if require_auth_login:
            argv += ["--require-auth-login", require_auth_login]
        log_path = os.path.join(str(dirpath), "sink.log")     # its stderr
        with open(log_path, "a") as log:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                                    stdin=subprocess.DEVNULL, text=True)
        line = proc.stdout.readline()
        if line == "ready\n":
            return SinkServer(p, str(dirpath), proc)
        proc.kill()
        proc.wait()
        with open(log_path) as f:
            err = f.read()
        if port is not None or attempt == tries - 1:
            raise RuntimeError(f"sink.py did not start on port {p}:\n{line}{err}")
    raise AssertionError("not reached")


@pytest.fixture
def sink(tmp_path):
    """A factory: sink(**options of start_sink) -> a running SinkServer, each in its
    own directory under tmp_path; every one is stopped (by PID) after the test."""
    n = itertools.count()

    def start(**kw):
        d = tmp_path / f"sink{next(n)}"
        d.mkdir()
        return start_sink(d, **kw)

    yield from made_by(start, SinkServer.stop)
