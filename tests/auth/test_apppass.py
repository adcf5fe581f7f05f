"""Per-device app passwords end to end: `letterbox passwd add|list|remove` run as root
(as an administrator would), the store it leaves in state_dir (a real Berkeley DB file
owned by the mail user, mode 0600), logins with an app password checked by the auth
process (logged as via="app:NAME"), revocation, and the PAM password working alongside.
Neither kind of password, nor a hash, ever shows in a log or a listing.

pytest's temporary tree is 0700 root, so these tests also show that the account needs
no access to state_dir's parent directories (the CLI and the auth process open it
before dropping root, as the daemons do the Maildir).
"""
import os
import pwd
import re
import stat

import pytest

from authutil import (AUTH_FAILED, LOGGED_IN, MECHS, auth_lines, authsys, attempt, b64,
                      connect, login, plain)

APP_PW = re.compile(r"^app password for (\S+): ([a-z2-9]{4}(?:-[a-z2-9]{4}){4})$", re.M)
EX_DATAERR = 65


def add(ms, device):
    """`passwd add device` as root: the password it prints once."""
    r = ms.cli("passwd", "add", device)
    m = APP_PW.search(r.stdout)
    assert m and m.group(1) == device, r.stdout
    assert "shown only now" in r.stdout
    return m.group(2)


def store_path(ms, name="app-passwords.db"):
    return os.path.join(ms.state_dir, name)


def assert_owned_by_account(ms, path, mode):
    st = os.stat(path)
    pw = pwd.getpwnam(ms.user)
    assert (st.st_uid, st.st_gid) == (pw.pw_uid, pw.pw_gid), (path, st.st_uid)
    assert stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))


def test_add_creates_the_store_for_the_account(make_mailsys):
    ms = authsys(make_mailsys)
    assert not os.path.exists(store_path(ms))
    pw = add(ms, "phone")
    assert len(pw) == 24 and not set(pw) & set("lo01")
    # Owned by the account the daemons run as (the CLI drops root), private.
    assert_owned_by_account(ms, ms.state_dir, 0o700)
    assert_owned_by_account(ms, store_path(ms), 0o600)
    assert_owned_by_account(ms, store_path(ms, "app-passwords.db.lock"), 0o600)
    assert not os.path.exists(store_path(ms, "app-passwords.db.new"))
    # A real Berkeley DB btree holding the argon2id hash, never the password.
    data = open(store_path(ms), "rb").read()
    assert data[12:16] == b"\x62\x31\x05\x00"       # btree magic, little-endian
    assert pw.encode() not in data
    assert b"$argon2id$" in data
    # Each add prints a new password.
    pw2 = add(ms, "laptop")
    assert pw2 != pw


def test_add_creates_a_missing_state_dir(make_mailsys):
    """Run as root, the command makes state_dir for the account before dropping root."""
    ms = authsys(make_mailsys)
    os.rmdir(ms.state_dir)
    add(ms, "tablet")
    assert_owned_by_account(ms, ms.state_dir, 0o700)
    assert_owned_by_account(ms, store_path(ms), 0o600)


@pytest.mark.parametrize("mech", MECHS)
def test_login_with_an_app_password(make_mailsys, mech):
    """Added while the daemon runs: the auth process reads the store at each check."""
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    c = connect(ms, "127.0.0.2")
    assert login(c, mech, ms.user, pw) == LOGGED_IN
    assert c.cmd("STAT") == "+OK 0 0"
    c.close()
    # The owner's address as the login name works with it too.
    assert attempt(ms, "127.0.0.3", "alice@example.test", pw, mech) == LOGGED_IN
    lines = auth_lines(ms)
    assert [l["result"] for l in lines] == ["ok", "ok"]
    assert [l["via"] for l in lines] == ["app:phone", "app:phone"]
    assert lines[0]["user"] == ms.user and lines[0]["mech"] == mech


def test_each_device_logs_in_as_itself(make_mailsys):
    ms = authsys(make_mailsys)
    pws = {d: add(ms, d) for d in ("phone", "laptop", "tablet-2")}
    for i, (d, pw) in enumerate(pws.items()):
        assert attempt(ms, f"127.0.0.{10 + i}", ms.user, pw) == LOGGED_IN
    assert [l["via"] for l in auth_lines(ms)] == ["app:phone", "app:laptop",
                                                  "app:tablet-2"]


def test_app_password_is_for_the_owner_only(make_mailsys):
    """An app password with a name that is not the owner fails like any wrong login."""
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    assert attempt(ms, "127.0.0.4", "bob@example.test", pw, "PLAIN") == AUTH_FAILED
    [line] = auth_lines(ms)
    assert line["result"] == "fail" and line["via"] == "unknown user"


def test_list_shows_names_never_secrets(make_mailsys):
    ms = authsys(make_mailsys)
    r = ms.cli("passwd", "list")
    assert r.stdout == "no app passwords\n" and r.returncode == 0
    pws = [add(ms, "zeta-phone"), add(ms, "alpha.laptop")]
    r = ms.cli("passwd", "list")
    lines = r.stdout.splitlines()
    # In name order, with the creation time; nothing else.
    assert [l.split()[0] for l in lines] == ["alpha.laptop", "zeta-phone"], r.stdout
    for l in lines:
        assert re.fullmatch(r"\S+ +created \d{4}-\d\d-\d\d \d\d:\d\d UTC", l), l
    out = r.stdout + r.stderr
    for pw in pws:
        assert pw not in out
        for group in pw.split("-"):
            assert group not in out
    assert "argon2" not in out and "$" not in out


def test_remove_revokes_and_pam_still_works(make_mailsys):
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    keep = add(ms, "laptop")
    assert attempt(ms, "127.0.0.5", ms.user, pw) == LOGGED_IN
    r = ms.cli("passwd", "remove", "phone")
    assert r.stdout == "removed the app password of phone\n"
    assert not os.path.exists(store_path(ms, "app-passwords.db.new"))
    assert_owned_by_account(ms, store_path(ms), 0o600)
    # Revoked at once, without restarting anything.
    assert attempt(ms, "127.0.0.6", ms.user, pw) == AUTH_FAILED
    fail = auth_lines(ms, client="127.0.0.6")
    assert fail[0]["result"] == "fail" and fail[0]["via"].startswith("pam: ")
    # The other device and the PAM password are untouched.
    assert attempt(ms, "127.0.0.7", ms.user, keep) == LOGGED_IN
    assert attempt(ms, "127.0.0.8", ms.user, ms.password) == LOGGED_IN
    assert auth_lines(ms, client="127.0.0.7")[0]["via"] == "app:laptop"
    assert auth_lines(ms, client="127.0.0.8")[0]["via"] == "pam"
    assert [l.split()[0] for l in ms.cli("passwd", "list").stdout.splitlines()] == \
        ["laptop"]
    # Gone means gone.
    r = ms.cli("passwd", "remove", "phone", check=False)
    assert r.returncode == EX_DATAERR and "no app password named phone" in r.stderr


def test_pam_password_alongside_app_passwords(make_mailsys):
    ms = authsys(make_mailsys)
    add(ms, "phone")
    for i, mech in enumerate(MECHS):
        assert attempt(ms, f"127.0.0.{40 + i}", ms.user, ms.password, mech) == LOGGED_IN
    assert [l["via"] for l in auth_lines(ms)] == ["pam"] * 3
    # A wrong password is still wrong (and tried against PAM after the store).
    assert attempt(ms, "127.0.0.50", ms.user, "abcd-efgh-jkmn-pqrs-tuvw") == AUTH_FAILED
    assert auth_lines(ms, client="127.0.0.50")[0]["via"].startswith("pam: ")


def test_cli_refusals_change_nothing(make_mailsys):
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    before = open(store_path(ms), "rb").read()
    r = ms.cli("passwd", "add", "phone", check=False)
    assert r.returncode == EX_DATAERR and "already has an app password" in r.stderr
    assert "app password for" not in r.stdout
    for bad in ("a/b", "two words", "", "x" * 65, "../../etc/passwd"):
        r = ms.cli("passwd", "add", bad, check=False)
        assert r.returncode == EX_DATAERR and "bad device name" in r.stderr, (bad, r)
        assert "app password for" not in r.stdout
    r = ms.cli("passwd", "remove", "nosuch", check=False)
    assert r.returncode == EX_DATAERR
    for args in (("passwd",), ("passwd", "add"), ("passwd", "list", "x"),
                 ("passwd", "frobnicate", "x")):
        r = ms.cli(*args, check=False)
        assert r.returncode == 64 and "usage" in r.stderr, (args, r)
    assert open(store_path(ms), "rb").read() == before
    assert attempt(ms, "127.0.0.9", ms.user, pw) == LOGGED_IN


def test_damaged_store_falls_back_to_pam(make_mailsys):
    """An unreadable store is an error for the CLI and a warning for the auth process,
    which still lets PAM decide: the owner is not locked out by a damaged file."""
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    with open(store_path(ms), "r+b") as f:
        f.write(b"\xff" * 4096)
    r = ms.cli("passwd", "list", check=False)
    assert r.returncode == 74 and "app-passwords.db" in r.stderr, r
    assert attempt(ms, "127.0.0.11", ms.user, ms.password) == LOGGED_IN
    assert attempt(ms, "127.0.0.12", ms.user, pw) == AUTH_FAILED
    log = ms.read_log()
    assert "cannot be read; trying PAM" in log
    assert [l["via"] for l in auth_lines(ms)][0] == "pam"
    # The CLI does not paper over it by writing a new, empty store.
    r = ms.cli("passwd", "add", "laptop", check=False)
    assert r.returncode == 74
    assert open(store_path(ms), "rb").read(4096) == b"\xff" * 4096


def test_app_passwords_never_in_logs(make_mailsys):
    ms = authsys(make_mailsys)
    pw = add(ms, "phone")
    revoked = add(ms, "old")
    for i, mech in enumerate(MECHS):
        assert attempt(ms, f"127.0.0.{60 + i}", "alice@example.test", pw, mech) == \
            LOGGED_IN
    ms.cli("passwd", "remove", "old")
    assert attempt(ms, "127.0.0.70", ms.user, revoked, "PLAIN") == AUTH_FAILED
    assert len(auth_lines(ms)) == 4
    log = ms.read_log()
    for secret in (pw, revoked):
        assert secret not in log
        assert b64(secret) not in log
        assert plain(ms.user, secret) not in log
        assert plain("alice@example.test", secret) not in log
