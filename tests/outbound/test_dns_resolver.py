"""relay/dns.c against a real DNS server (dnsmasq on 127.0.0.1, outbound/conftest.py),
through tests/outbound/dnsq.c: the order of MX hosts and addresses (RFC 5321 §5.1), the
implicit MX, null MX (RFC 7505), what is permanent and what is temporary, and that
nothing but the configured server is ever asked.

dnsq prints one target per line, "pref host ip port", and exits 0 ok, 2 tempfail,
3 notfound, 4 nullmx.
"""
import socket
import subprocess
import time

import pytest

from outbound.conftest import dnsmasq_queries

OK, TEMPFAIL, NOTFOUND, NULLMX = 0, 2, 3, 4


def lookup(dnsq, server, mode, name, timeout_s=2, port=25, max_targets=None):
    """(exit status, [(pref, host, ip, port), ...]) of dnsq."""
    argv = [dnsq, "-s", server, "-t", str(timeout_s), "-p", str(port)]
    if max_targets is not None:
        argv += ["-n", str(max_targets)]
    p = subprocess.run(argv + [mode, name], capture_output=True, text=True, timeout=60)
    assert p.returncode in (OK, TEMPFAIL, NOTFOUND, NULLMX), p.stderr
    targets = []
    for line in p.stdout.splitlines():
        pref, host, ip, tport = line.split()
        targets.append((int(pref), host, ip, int(tport)))
    if p.returncode != OK:
        assert targets == []
    return p.returncode, targets


EXAMPLE = dict(
    mx=[("example.test", "mx20.example.test", 20),
        ("example.test", "mx5.example.test", 5),
        ("example.test", "mx10.example.test", 10)],
    a=[("mx5.example.test", "192.0.2.5"),
       ("mx10.example.test", "2001:db8::10"),
       ("mx10.example.test", "192.0.2.10"),
       ("mx20.example.test", "192.0.2.20")],
)


def test_mx_by_preference_a_before_aaaa(dnsq, dns_server):
    server = dns_server(EXAMPLE)
    st, targets = lookup(dnsq, server, "mail", "example.test", port=2525)
    assert st == OK
    assert targets == [
        (5, "mx5.example.test", "192.0.2.5", 2525),
        (10, "mx10.example.test", "192.0.2.10", 2525),
        (10, "mx10.example.test", "2001:db8::10", 2525),
        (20, "mx20.example.test", "192.0.2.20", 2525),
    ]


def test_trailing_dot(dnsq, dns_server):
    server = dns_server(EXAMPLE)
    assert lookup(dnsq, server, "mail", "example.test.")[1][0][:3] == \
        (5, "mx5.example.test", "192.0.2.5")
    assert lookup(dnsq, server, "host", "mx5.example.test.")[1] == \
        [(0, "mx5.example.test", "192.0.2.5", 25)]


def test_equal_preferences_shuffled(dnsq, dns_server):
    hosts = [f"mx{i}.shuffle.test" for i in range(4)]
    server = dns_server(
        mx=[("shuffle.test", "first.shuffle.test", 1)] +
           [("shuffle.test", h, 10) for h in hosts],
        a=[("first.shuffle.test", "192.0.2.1")] +
          [(h, f"192.0.2.{10 + i}") for i, h in enumerate(hosts)])
    orders = set()
    for _ in range(20):
        st, targets = lookup(dnsq, server, "mail", "shuffle.test")
        assert st == OK
        assert targets[0][1] == "first.shuffle.test"
        assert sorted(t[1] for t in targets[1:]) == hosts
        orders.add(tuple(t[1] for t in targets[1:]))
    # 20 draws of 24 orders: all equal by chance has probability 24**-19.
    assert len(orders) > 1


def test_implicit_mx(dnsq, dns_server):
    server = dns_server(a=[("implicit.test", "2001:db8::1"), ("implicit.test", "192.0.2.1")])
    assert lookup(dnsq, server, "mail", "implicit.test") == (OK, [
        (0, "implicit.test", "192.0.2.1", 25),
        (0, "implicit.test", "2001:db8::1", 25),
    ])


def test_cname(dnsq, dns_server):
    """An MX host that is a CNAME, and a domain that is one (its MX query answers with
    the CNAME only: no MX, so the implicit MX, through the CNAME)."""
    server = dns_server(mx=[("cn.test", "alias.cn.test", 10)],
                        a=[("real.cn.test", "192.0.2.7")],
                        cname=[("alias.cn.test", "real.cn.test")])
    assert lookup(dnsq, server, "mail", "cn.test") == \
        (OK, [(10, "alias.cn.test", "192.0.2.7", 25)])
    assert lookup(dnsq, server, "mail", "alias.cn.test") == \
        (OK, [(0, "alias.cn.test", "192.0.2.7", 25)])


def test_nxdomain_is_permanent(dnsq, dns_server, tmp_path):
    server = dns_server(EXAMPLE)
    assert lookup(dnsq, server, "mail", "nowhere.test") == (NOTFOUND, [])
    assert lookup(dnsq, server, "host", "nowhere.test") == (NOTFOUND, [])
    # NXDOMAIN for the MX query ends it: no A/AAAA look-up of a name that does not exist.
    assert dnsmasq_queries(tmp_path, server) == [("MX", "nowhere.test"), ("A", "nowhere.test")]


def test_nodata_everywhere_is_permanent(dnsq, dns_server):
    server = dns_server(txt=[("txtonly.test", "v=spf1 -all")])
    assert lookup(dnsq, server, "mail", "txtonly.test") == (NOTFOUND, [])


def test_mx_host_without_address_is_skipped(dnsq, dns_server):
    server = dns_server(mx=[("skip.test", "gone.skip.test", 5),
                            ("skip.test", "there.skip.test", 10),
                            ("dead.test", "gone.dead.test", 5),
                            ("dead.test", "txt.dead.test", 10)],
                        a=[("there.skip.test", "192.0.2.2")],
                        txt=[("txt.dead.test", "x")])
    assert lookup(dnsq, server, "mail", "skip.test") == \
        (OK, [(10, "there.skip.test", "192.0.2.2", 25)])
    # No MX host has an address and nothing failed temporarily: permanent. Above all,
    # no fallback to the domain's own address: it has MX records (RFC 5321 §5.1).
    assert lookup(dnsq, server, "mail", "dead.test") == (NOTFOUND, [])


def test_null_mx(dnsq, dns_server):
    server = dns_server(mx=[("null.test", ".", 0)], a=[("null.test", "192.0.2.3")])
    assert lookup(dnsq, server, "mail", "null.test") == (NULLMX, [])


def test_max_targets_and_large_answer(dnsq, dns_server, tmp_path):
    """40 MX records do not fit a 512-octet UDP answer: the truncated answer is asked
    again over TCP. At most max targets come back, the best ones."""
    hosts = [(f"mx{i:02d}-with-a-rather-long-name-for-size.big.test", 100 - i)
             for i in range(40)]
    server = dns_server(mx=[("big.test", h, p) for h, p in hosts],
                        a=[(h, f"192.0.2.{100 + i}") for i, (h, _) in enumerate(hosts)])
    st, targets = lookup(dnsq, server, "mail", "big.test")
    assert st == OK
    assert len(targets) == 32
    assert [t[0] for t in targets] == list(range(61, 93))
    # Asked twice: over UDP, then over TCP after the truncated answer.
    assert dnsmasq_queries(tmp_path, server).count(("MX", "big.test")) == 2
    st, targets = lookup(dnsq, server, "mail", "big.test", max_targets=3)
    assert [t[0] for t in targets] == [61, 62, 63]


def test_duplicate_addresses_listed_once(dnsq, dns_server):
    server = dns_server(mx=[("dup.test", "a.dup.test", 10), ("dup.test", "b.dup.test", 20)],
                        a=[("a.dup.test", "192.0.2.9"), ("b.dup.test", "192.0.2.9"),
                           ("b.dup.test", "192.0.2.10")])
    assert lookup(dnsq, server, "mail", "dup.test") == (OK, [
        (10, "a.dup.test", "192.0.2.9", 25),
        (20, "b.dup.test", "192.0.2.10", 25),
    ])


def test_no_search_domain(dnsq, dns_server, tmp_path):
    server = dns_server(EXAMPLE)
    assert lookup(dnsq, server, "mail", "example")[0] == NOTFOUND
    assert lookup(dnsq, server, "host", "mx5")[0] == NOTFOUND
    assert {name for _, name in dnsmasq_queries(tmp_path, server)} == {"example", "mx5"}


def test_address_literal_needs_no_dns(dnsq, dns_server, tmp_path):
    server = dns_server(EXAMPLE)
    assert lookup(dnsq, server, "mail", "[192.0.2.44]", port=587) == \
        (OK, [(0, "[192.0.2.44]", "192.0.2.44", 587)])
    assert lookup(dnsq, server, "mail", "[IPv6:2001:db8::44]") == \
        (OK, [(0, "[IPv6:2001:db8::44]", "2001:db8::44", 25)])
    assert lookup(dnsq, server, "mail", "[ipv6:2001:db8::45]")[1][0][2] == "2001:db8::45"
    for bad in ("[192.0.2]", "[2001:db8::1]", "[IPv6:192.0.2.1]", "[]", "[x:y]"):
        assert lookup(dnsq, server, "mail", bad) == (NOTFOUND, []), bad
    assert lookup(dnsq, server, "host", "192.0.2.45") == (OK, [(0, "192.0.2.45", "192.0.2.45", 25)])
    assert lookup(dnsq, server, "host", "2001:db8::46")[1][0][2] == "2001:db8::46"
    assert dnsmasq_queries(tmp_path, server) == []


def test_unreachable_resolver_is_temporary(dnsq):
    """Nothing listens on the port: ICMP port unreachable, an immediate tempfail."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    assert lookup(dnsq, f"127.0.0.1:{port}", "mail", "example.test", timeout_s=1) == \
        (TEMPFAIL, [])
    assert time.monotonic() - start < 1.5
    assert lookup(dnsq, f"127.0.0.1:{port}", "host", "mx.example.test", timeout_s=1) == \
        (TEMPFAIL, [])


def test_silent_resolver_times_out(dnsq):
    """A server that never answers: two tries of timeout_s each, then tempfail."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        start = time.monotonic()
        st, _ = lookup(dnsq, "127.0.0.1:%d" % s.getsockname()[1], "mail", "example.test",
                       timeout_s=1)
        elapsed = time.monotonic() - start
        assert s.recv(512)	# it was asked
    assert st == TEMPFAIL
    assert 1.5 < elapsed < 4


def test_refused_is_temporary(dnsq, dns_server):
    """A resolver that refuses (here: no zone is local and nothing to forward to) is a
    broken resolver, not an answer about the domain."""
    server = dns_server(local=())
    assert lookup(dnsq, server, "mail", "example.test") == (TEMPFAIL, [])


def test_ipv6_resolver(dnsq, dns_server):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    server = dns_server(EXAMPLE, listen="::1")
    assert server.startswith("[::1]:")
    assert lookup(dnsq, server, "mail", "example.test")[1][0][:3] == \
        (5, "mx5.example.test", "192.0.2.5")


def test_bad_resolver_address(dnsq):
    for bad in ("localhost:53", "127.0.0.1", "127.0.0.1:0", "[::1]", "::1:53"):
        p = subprocess.run([dnsq, "-s", bad, "mail", "[192.0.2.1]"], capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 1, bad
        assert "not ADDRESS:PORT" in p.stderr
