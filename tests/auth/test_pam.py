"""The owner's login password, checked by real PAM (service letterbox-test, pam_unix,
the system account lbtest) through the auth process: right and wrong over USER/PASS,
AUTH PLAIN and AUTH LOGIN, the owner's address as the login name, an unknown user
failing exactly like a wrong password, and no password in any log line.

Each failing attempt comes from its own 127.0.0.x address: a failure delays the next
attempt from the same address (tests/auth/test_throttle.py).
"""
import pytest

from authutil import (AUTH_FAILED, LOGGED_IN, MECHS, auth_lines, authsys, b64, connect,
                      login, plain)


@pytest.mark.parametrize("mech", MECHS)
def test_right_password(make_mailsys, mech):
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.2")
    assert login(c, mech, ms.user, ms.password) == LOGGED_IN
    assert c.cmd("STAT") == "+OK 0 0"
    assert c.cmd("QUIT").startswith("+OK")
    [line] = auth_lines(ms)
    assert line["result"] == "ok" and line["via"] == "pam" and line["mech"] == mech
    assert line["user"] == ms.user and line["client"] == "127.0.0.2"
    assert line["failures"] == 0 and line["service"] == "pop3"
    assert f'login user="{ms.user}" mech={mech}' in ms.read_log()


@pytest.mark.parametrize("mech", MECHS)
def test_wrong_password(make_mailsys, mech):
    ms = authsys(make_mailsys)
    wrong = f"Wrong-{mech}-pw-8d1e"
    c = connect(ms, "127.0.0.3")
    assert login(c, mech, ms.user, wrong) == AUTH_FAILED
    # Still not logged in, and the connection stays usable.
    assert c.cmd("STAT") == "-ERR Log in first."
    assert c.cmd("NOOP") == "+OK"
    [line] = auth_lines(ms)
    assert line["result"] == "fail" and line["mech"] == mech
    assert line["via"].startswith("pam: "), line
    assert line["user"] == ms.user and line["client"] == "127.0.0.3"
    assert line["failures"] == 1
    log = ms.read_log()
    assert "login user=" not in log
    assert wrong not in log and b64(wrong) not in log
    assert plain(ms.user, wrong) not in log


@pytest.mark.parametrize("mech", MECHS)
def test_owner_address_as_login_name(make_mailsys, mech):
    """Mail clients offer the address as the user name: alice@example.test is the
    owner (local_parts x domains), PAM still checks the account lbtest."""
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.4")
    assert login(c, mech, "alice@example.test", ms.password) == LOGGED_IN
    assert c.cmd("STAT") == "+OK 0 0"
    [line] = auth_lines(ms)
    assert line["result"] == "ok" and line["via"] == "pam"
    assert line["user"] == "alice@example.test"


def test_owner_address_with_a_wrong_password_fails(make_mailsys):
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.5")
    assert login(c, "PLAIN", "alice@example.test", "Not-alices-pw-55") == AUTH_FAILED
    [line] = auth_lines(ms)
    assert line["result"] == "fail" and line["via"].startswith("pam: ")


@pytest.mark.parametrize("mech", MECHS)
def test_unknown_user_fails_like_a_wrong_password(make_mailsys, mech):
    """The right password with a user name that is not the owner: the same reply as a
    wrong password, on a connection that stays just as usable; the log tells why."""
    ms = authsys(make_mailsys)
    replies = {}
    for name, user, pw, src in (("unknown", "bob@example.test", ms.password, "127.0.0.6"),
                                ("nouser", "nobody", ms.password, "127.0.0.7"),
                                ("wrong", ms.user, "Wrong-pw-0c3f", "127.0.0.8")):
        c = connect(ms, src)
        replies[name] = (login(c, mech, user, pw), c.cmd("STAT"), c.cmd("NOOP"))
        c.close()
    assert replies["unknown"] == replies["wrong"] == replies["nouser"] == \
        (AUTH_FAILED, "-ERR Log in first.", "+OK"), replies
    lines = {l["client"]: l for l in auth_lines(ms)}
    assert lines["127.0.0.6"]["result"] == "fail"
    assert lines["127.0.0.6"]["via"] == "unknown user"
    assert lines["127.0.0.6"]["user"] == "bob@example.test"
    assert lines["127.0.0.7"]["via"] == "unknown user"
    # Counted like any failure: the throttle does not care why.
    assert lines["127.0.0.6"]["failures"] == 1
    assert lines["127.0.0.8"]["via"].startswith("pam: ")
    assert "login user=" not in ms.read_log()


def test_user_name_is_escaped_in_the_log(make_mailsys):
    """Peer-supplied text in the attempt line cannot forge fields or lines."""
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.9")
    evil = 'x" result=ok via="pam\x01'
    assert c.cmd("AUTH PLAIN " + plain(evil, "whatever-pw")) == AUTH_FAILED
    [line] = auth_lines(ms)
    assert line["result"] == "fail" and line["via"] == "unknown user"
    assert line["user"] == "x\\x22 result=ok via=\\x22pam\\x01"


def test_passwords_never_in_logs(make_mailsys):
    """Right and wrong passwords by every mechanism, in any encoding a client sends
    them: none in the log (the fixture also checks the right one at teardown)."""
    ms = authsys(make_mailsys)
    secrets = []
    for i, mech in enumerate(MECHS):
        wrong = f"Secret-wrong-{mech}-{i}x"
        secrets.append(wrong)
        c = connect(ms, f"127.0.0.{20 + i}")
        assert login(c, mech, ms.user, wrong) == AUTH_FAILED
        c.close()
        c = connect(ms, f"127.0.0.{30 + i}")
        assert login(c, mech, ms.user, ms.password) == LOGGED_IN
        c.close()
    assert len(auth_lines(ms, result="fail")) == 3
    assert len(auth_lines(ms, result="ok")) == 3
    log = ms.read_log()
    for pw in secrets + [ms.password]:
        assert pw not in log
        assert b64(pw) not in log
        assert plain(ms.user, pw) not in log
