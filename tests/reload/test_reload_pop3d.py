"""SIGHUP and certificate renewal in letterbox-pop3d: the same shared code
(lib/reload.c) as smtpd, with pop3d's own check of a configuration and its own keys
that need a restart. Runs smtpd and pop3d as the test account (make_mailsys)."""
import re

import pytest

from conftest import free_port, Pop3
from reload_util import (der, hup, install, make_pair, own_tls_files, peer_der,
                         served_cert, set_conf, wait_log)

RELOADED = r"reload: .*: configuration( and certificate)? reloaded"


@pytest.fixture
def tls_files(tmp_path):
    return own_tls_files(tmp_path)


def pop3d_log(ms):
    return lambda: ms.read_log("pop3d")


def logged_in(ms, port, implicit_tls=False):
    c = Pop3(port, implicit_tls=implicit_tls)
    if not implicit_tls:
        c.stls()
    assert c.login(ms.user, ms.password) == "+OK Logged in."
    return c


def test_renewed_certificate_reaches_new_sessions_only(make_mailsys, tls_files, tmp_path):
    ms = make_mailsys(tls_check_interval="1s")
    ms.deliver(count=2)
    first = der(tls_files[0])
    old = logged_in(ms, ms.pop3_port)           # STLS, before the renewal
    assert peer_der(old.sock) == first

    install(tls_files, make_pair(str(tmp_path / "tls"), "second"))
    wait_log(pop3d_log(ms), r"reload: .* changed: certificate reloaded")
    second = der(tls_files[0])
    assert served_cert(ms.pop3s_port) == second != first
    c = Pop3(ms.pop3_port)
    c.stls()
    assert peer_der(c.sock) == second
    c.close()

    # The session from before goes on to the end, UPDATE included.
    assert old.cmd("STAT").startswith("+OK 2 ")
    assert old.cmd("RETR 1").startswith("+OK")
    old.multi()
    assert old.cmd("DELE 1").startswith("+OK")
    assert old.cmd("QUIT").startswith("+OK")
    assert len(ms.messages("new") + ms.messages("cur")) == 1
    # The other daemon, on the same files, did the same.
    assert served_cert(ms.smtps_port) == second


def test_sighup_configuration_checks_and_restart_keys(make_mailsys):
    ms = make_mailsys(tls_check_interval=0)
    read = pop3d_log(ms)
    # Nothing left to listen on: pop3d's own check refuses it, as at start.
    set_conf(ms.conf_path, pop3_listen=None, pop3s_listen=None)
    hup(ms.pop3d.pid)
    line = wait_log(read, r"reload: (.*); keeping the running configuration$")
    assert "nothing to listen on" in line[0], line
    assert logged_in(ms, ms.pop3s_port, implicit_tls=True).cmd("QUIT").startswith("+OK")

    # Another port needs a restart; max_bad_commands applies to new sessions.
    other = free_port()
    set_conf(ms.conf_path, pop3_listen=f"127.0.0.1:{other}",
             pop3s_listen=f"127.0.0.1:{ms.pop3s_port}", max_bad_commands=2)
    hup(ms.pop3d.pid)
    wait_log(read, RELOADED)
    assert "reload: pop3_listen changed; restart to apply" in read()
    c = Pop3(ms.pop3_port)
    assert c.cmd("FOO").startswith("-ERR")
    assert c.cmd("BAR").startswith("-ERR")
    assert c.closed()
    with pytest.raises(ConnectionRefusedError):
        Pop3(other)


def test_broken_configuration_keeps_everything(make_mailsys):
    ms = make_mailsys()
    read = pop3d_log(ms)
    with open(ms.conf_path, "a") as f:
        f.write("no_such_key yes\n")
    hup(ms.pop3d.pid)
    line = wait_log(read, r"reload: (.*); keeping the running configuration$")
    assert re.match(re.escape(ms.conf_path) + r":\d+: ", line[0]), line
    assert not re.search(RELOADED, read())
    c = logged_in(ms, ms.pop3_port)
    assert c.cmd("QUIT").startswith("+OK")


def test_new_login_names_restart_the_auth_process(make_mailsys):
    ms = make_mailsys(tls_check_interval=0)
    read = pop3d_log(ms)
    c = Pop3(ms.pop3_port)
    c.stls()
    assert c.login("bob@example.test", ms.password).startswith("-ERR [AUTH]")
    c.close()
    set_conf(ms.conf_path, local_parts="alice postmaster bob")
    hup(ms.pop3d.pid)
    wait_log(read, RELOADED)
    assert "reload: local_parts changed: restarting the auth process" in read()
    c = Pop3(ms.pop3_port)
    c.stls()
    assert c.login("bob@example.test", ms.password) == "+OK Logged in."
    assert c.cmd("QUIT").startswith("+OK")
