"""SIGHUP and certificate renewal in letterbox-smtpd (lib/reload.c).

SIGHUP re-reads the configuration and the certificate: new sessions get them,
sessions in progress (mid-DATA, inside TLS) finish with what they had. A broken
configuration, a change that needs a restart, a certificate that does not load: each
is logged and the running one kept. A certificate whose files change is picked up
without a signal at the next look (tls_check_interval, 1 s here).
"""
import os
import re

import pytest

from conftest import Client, greet, message, send_mail, wait_for
from reload_util import (der, hup, install, make_pair, opener_pid, opener_wakeups,
                         own_tls_files, peer_der, served_cert, set_conf, wait_log)

RELOADED = r"reload: .*: configuration( and certificate)? reloaded"


@pytest.fixture
def tls_files(tmp_path):
    return own_tls_files(tmp_path)


def big_message(size):
    return message(subject="big", body="x" * 70 + "\r\n") + ("y" * 70 + "\r\n") * (size // 72)


def test_sighup_applies_to_new_sessions_and_keeps_open_ones(make_server, connect):
    srv = make_server()
    # A plain session in the middle of DATA, and one inside TLS, across the signal.
    mid = connect(srv.port)
    greet(mid)
    assert mid.cmd("MAIL FROM:<sender@example.net>")[0] == 250
    assert mid.cmd("RCPT TO:<alice@example.test>")[0] == 250
    assert mid.cmd("DATA")[0] == 354
    mid.send(message(subject="across the reload", body="first half\r\n").encode())
    tls = connect(srv.tls_port, implicit_tls=True)
    greet(tls)

    set_conf(srv.conf_path, hostname="mx2.example.test", max_message_size="2K",
             max_bad_commands=2)
    hup(srv.proc.pid)
    wait_log(srv.read_log, RELOADED)

    mid.send(b"second half\r\n.\r\n")
    assert mid.reply()[0] == 250
    # That session keeps its own settings: a message over the new 2K limit still goes.
    assert send_mail(mid, big_message(8192))[0] == 250
    assert send_mail(tls, message(subject="tls across the reload"))[0] == 250
    assert mid.cmd("QUIT")[0] == 221
    assert tls.cmd("QUIT")[0] == 221
    bodies = [open(p, "rb").read() for p in srv.messages()]
    assert len(bodies) == 3
    assert any(b"first half\r\nsecond half\r\n" in b for b in bodies)

    # A new session: the new host name, SIZE, limit and bad-command count.
    c = connect(srv.port)
    code, lines = c.reply()
    assert code == 220 and lines[0].startswith("mx2.example.test "), lines
    code, lines = c.cmd("EHLO client.example.net")
    assert "SIZE 2048" in lines, lines
    assert send_mail(c, big_message(8192))[0] == 552
    c = connect(srv.port)
    greet(c)
    assert c.cmd("FOO")[0] == 500
    assert c.cmd("BAR")[0] == 500
    assert c.reply()[0] == 421      # the second bad command was the last


def test_broken_configuration_keeps_the_running_one(make_server, connect):
    srv = make_server()
    with open(srv.conf_path, "a") as f:
        f.write("hostname mx2.example.test\n")     # a repeated key: an error
    hup(srv.proc.pid)
    line = wait_log(srv.read_log, r"reload: (.*); keeping the running configuration$")
    assert re.match(re.escape(srv.conf_path) + r":\d+: ", line[0]), line
    assert not re.search(RELOADED, srv.read_log())
    c = connect(srv.port)
    code, lines = c.reply()
    assert lines[0].startswith("mx.example.test "), lines
    c.cmd("EHLO client.example.net")
    assert send_mail(c, message())[0] == 250


def test_change_that_needs_a_restart_is_logged_and_the_rest_applies(make_server, connect):
    from conftest import free_port
    srv = make_server()
    other = free_port()
    set_conf(srv.conf_path, smtp_listen=f"127.0.0.1:{other}", user="root",
             hostname="mx2.example.test")
    hup(srv.proc.pid)
    wait_log(srv.read_log, RELOADED)
    log = srv.read_log()
    assert "reload: smtp_listen changed; restart to apply" in log
    assert "reload: user changed; restart to apply" in log
    assert "(some changes need a restart)" in log
    # Still on the old port, with the new host name; nothing on the new one.
    c = connect(srv.port)
    code, lines = c.reply()
    assert lines[0].startswith("mx2.example.test "), lines
    with pytest.raises(ConnectionRefusedError):
        Client(other)


def test_renewed_certificate_is_picked_up_without_a_signal(make_server, connect, tls_files,
                                                           tmp_path):
    srv = make_server(tls_check_interval="1s")
    first = der(tls_files[0])
    assert served_cert(srv.tls_port) == first
    old = connect(srv.tls_port, implicit_tls=True)
    greet(old)

    install(tls_files, make_pair(str(tmp_path / "tls"), "second"))
    wait_log(srv.read_log, r"reload: .* changed: certificate reloaded")
    assert served_cert(srv.tls_port) == der(tls_files[0]) != first
    # STARTTLS on the plain port too.
    c = connect(srv.port)
    greet(c)
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    assert peer_der(c.sock) == der(tls_files[0])
    # The session from before keeps its certificate and goes on.
    assert peer_der(old.sock) == first
    assert send_mail(old, message(subject="old tls session"))[0] == 250
    assert srv.proc.poll() is None


def test_bad_certificate_keeps_the_old_one_and_is_logged_once(make_server, tls_files,
                                                              tmp_path):
    srv = make_server(tls_check_interval="1s")
    d = str(tmp_path / "tls")
    first = der(tls_files[0])
    opener = opener_pid(srv.proc.pid)
    assert opener is not None

    # Garbage where the certificate was.
    with open(tls_files[0] + ".new", "w") as f:
        f.write("this is not a certificate\n")
    os.replace(tls_files[0] + ".new", tls_files[0])
    garbage = r"reload: cannot load certificate chain .*; keeping the running certificate"
    wait_log(srv.read_log, garbage)
    # Several more looks at the unchanged files: not logged again.
    woken = opener_wakeups(opener)
    wait_for(lambda: opener_wakeups(opener) >= woken + 6, what="three more looks")
    assert len(re.findall(garbage, srv.read_log())) == 1
    assert served_cert(srv.tls_port) == first

    # A good certificate with a key of another pair.
    cert, _ = make_pair(d, "second")
    _, other_key = make_pair(d, "third")
    install(tls_files, (cert, other_key))
    wait_log(srv.read_log, r"reload: cannot load private key .*key values mismatch; "
             r"keeping the running certificate")
    assert served_cert(srv.tls_port) == first

    # Fixed: picked up. The one reload of this test: a file renamed over while the
    # daemon looked at it must not count as a change of the running one (its unlink
    # changes its ctime), which would reload the old certificate and log it.
    install(tls_files, make_pair(d, "fourth"))
    wait_log(srv.read_log, r"certificate reloaded")
    assert served_cert(srv.tls_port) == der(tls_files[0])
    assert len(re.findall(r"certificate reloaded", srv.read_log())) == 1


def test_sighup_reloads_the_certificate(make_server, tls_files, tmp_path):
    # No looks at the files: only the signal reloads here.
    srv = make_server(tls_check_interval=0)
    d = str(tmp_path / "tls")
    first = der(tls_files[0])
    with open(tls_files[0], "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    hup(srv.proc.pid)
    wait_log(srv.read_log, RELOADED)
    assert re.search(r"reload: cannot load certificate chain .*; keeping the running "
                     r"certificate", srv.read_log())
    assert served_cert(srv.tls_port) == first

    install(tls_files, make_pair(d, "second"))
    hup(srv.proc.pid)
    wait_log(srv.read_log, r"configuration and certificate reloaded")
    assert served_cert(srv.tls_port) == der(tls_files[0]) != first
