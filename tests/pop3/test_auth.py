"""Logging in: USER/PASS (RFC 1939 §7), AUTH PLAIN and LOGIN (RFC 5034, RFC 4616),
APOP refused, the TLS-only rule for passwords (RFC 2595 §2) and its loopback
exception, the login names that mean the owner, and what failures look like.

Failed logins are throttled per client address by the auth process (2 s before the
next attempt after a failure) and PAM delays a wrong password by about 2 s, so each
failing attempt here comes from its own 127.0.0.x address and the wrong-password
ones run in parallel.
"""
import threading

import pytest

from conftest import Pop3
from pop3util import b64, err, is_closed, plain, stat

PLAINTEXT_REFUSED = ("-ERR [AUTH] Plaintext authentication disallowed on non-secure "
                     "(SSL/TLS) connections.")
AUTH_FAILED = "-ERR [AUTH] Authentication failed."
LOGIN_USER_CHALLENGE = "+ VXNlcm5hbWU6"       # base64("Username:")
LOGIN_PASS_CHALLENGE = "+ UGFzc3dvcmQ6"       # base64("Password:")


def tls_client(pop3, ms, source=None):
    c = pop3(ms.pop3_port, source=source)
    c.stls()
    return c


def logged_in(c, ms):
    """The session is in TRANSACTION state and sees the maildrop."""
    assert stat(c)[0] == len(ms.messages("new")) + len(ms.messages("cur"))


# ---------------------------------------------------------------- USER / PASS

def test_user_pass_after_stls(mailsys, pop3):
    mailsys.deliver(count=1)
    c = tls_client(pop3, mailsys)
    assert c.cmd(f"USER {mailsys.user}") == "+OK"
    assert c.cmd(f"PASS {mailsys.password}") == "+OK Logged in."
    logged_in(c, mailsys)
    assert c.cmd("QUIT").startswith("+OK")


def test_user_pass_implicit_tls(mailsys, pop3):
    c = pop3(mailsys.pop3s_port, implicit_tls=True)
    assert c.greeting.startswith(b"+OK")
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    logged_in(c, mailsys)


def test_verbs_are_case_insensitive(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd(f"user {mailsys.user}") == "+OK"
    assert c.cmd(f"pAsS {mailsys.password}") == "+OK Logged in."
    assert c.cmd("stat").startswith("+OK 0 0")


def test_user_pass_argument_errors(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("USER") == "-ERR Invalid arguments."
    assert c.cmd("USER ") == "-ERR Invalid arguments."
    assert c.cmd("PASS") == "-ERR Invalid arguments."
    # PASS before USER: nothing to check it against.
    assert c.cmd(f"PASS {mailsys.password}") == "-ERR No username given."
    # A user name longer than any login name (255 octets).
    assert c.cmd("USER " + "u" * 256) == "-ERR User name too long."
    # ...which was not taken: PASS still has no user.
    assert c.cmd(f"PASS {mailsys.password}") == "-ERR No username given."
    # Still in AUTHORIZATION, and a proper login works on the same connection.
    assert c.cmd("STAT") == "-ERR Log in first."
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."


def test_overlong_password_fails_without_asking(mailsys, pop3):
    c = tls_client(pop3, mailsys, source="127.0.0.21")
    assert c.cmd(f"USER {mailsys.user}") == "+OK"
    long_pw = "Overlong-secret-" + "p" * 600
    assert c.cmd(f"PASS {long_pw}") == AUTH_FAILED
    # USER must be given again (RFC 1939 §7: a new authentication command).
    assert c.cmd(f"PASS {mailsys.password}") == "-ERR No username given."
    assert "Overlong-secret-" not in mailsys.read_log()


def test_user_is_replaced_by_a_second_user(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("USER somebody-else@example.org") == "+OK"
    assert c.cmd(f"USER {mailsys.user}") == "+OK"
    assert c.cmd(f"PASS {mailsys.password}") == "+OK Logged in."


# ---------------------------------------------------------------- TLS-only passwords

def test_plaintext_login_refused_without_tls(mailsys, pop3):
    c = pop3(mailsys.pop3_port)
    assert c.cmd(f"USER {mailsys.user}") == PLAINTEXT_REFUSED
    assert c.cmd(f"PASS {mailsys.password}") == PLAINTEXT_REFUSED
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password)) == PLAINTEXT_REFUSED
    assert c.cmd("AUTH LOGIN") == PLAINTEXT_REFUSED
    assert c.cmd("AUTH") == PLAINTEXT_REFUSED
    # Nothing was checked: still in AUTHORIZATION, and no auth request was made.
    assert c.cmd("STAT") == "-ERR Log in first."
    assert "auth result=" not in mailsys.read_log()
    # The same commands work once TLS is on, on the same connection.
    c.stls()
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."


def test_plaintext_allowed_from_loopback_when_configured(make_mailsys, pop3):
    ms = make_mailsys(plaintext_auth_loopback="yes")
    ms.deliver(count=1)
    c = pop3(ms.pop3_port)
    assert c.cmd(f"USER {ms.user}") == "+OK"
    assert c.cmd(f"PASS {ms.password}") == "+OK Logged in."
    logged_in(c, ms)
    assert c.cmd("QUIT").startswith("+OK")
    # SASL too, and from another loopback address (127.0.0.0/8).
    c = pop3(ms.pop3_port, source="127.0.0.7")
    assert c.cmd("AUTH PLAIN " + plain(ms.user, ms.password)) == "+OK Logged in."
    logged_in(c, ms)


def test_user_given_before_stls_is_forgotten(make_mailsys, pop3):
    """RFC 2595 §4: what was said before STLS is discarded."""
    ms = make_mailsys(plaintext_auth_loopback="yes")
    c = pop3(ms.pop3_port)
    assert c.cmd(f"USER {ms.user}") == "+OK"
    c.stls()
    assert c.cmd(f"PASS {ms.password}") == "-ERR No username given."
    assert c.login(ms.user, ms.password) == "+OK Logged in."


# ---------------------------------------------------------------- AUTH PLAIN

def test_auth_lists_mechanisms(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH") == "+OK"
    assert c.multi() == [b"PLAIN", b"LOGIN"]
    # Still in AUTHORIZATION, nothing pending.
    assert c.cmd("NOOP") == "+OK"


def test_auth_plain_initial_response(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password)) == "+OK Logged in."
    logged_in(c, mailsys)


def test_auth_plain_mechanism_name_any_case(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("auth plain " + plain(mailsys.user, mailsys.password)) == "+OK Logged in."


def test_auth_plain_without_initial_response(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    # RFC 5034 §4: an empty challenge is "+ " (with the space).
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(plain(mailsys.user, mailsys.password)) == "+OK Logged in."
    logged_in(c, mailsys)


def test_auth_plain_authzid_equal_to_user(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    r = c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password, authzid=mailsys.user))
    assert r == "+OK Logged in."


def test_auth_plain_other_authzid_fails(mailsys, pop3):
    """RFC 4616 §2: acting as someone else is refused, even with the right password."""
    c = tls_client(pop3, mailsys)
    r = c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password,
                                    authzid="postmaster@example.test"))
    assert r == AUTH_FAILED
    assert c.cmd("STAT") == "-ERR Log in first."
    # Then the proper login works on the same connection.
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password)) == "+OK Logged in."


def test_auth_plain_empty_initial_response(mailsys, pop3):
    """RFC 5034 §4: "=" is an initial response of zero length; for PLAIN that is not a
    valid message, so it fails at once (no "+ " challenge)."""
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH PLAIN =") == AUTH_FAILED
    assert c.cmd("NOOP") == "+OK"      # not waiting for a SASL response
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password)) == "+OK Logged in."


def test_auth_plain_empty_response_to_challenge(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("") == AUTH_FAILED
    assert c.cmd("NOOP") == "+OK"


def test_auth_plain_cancel(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("*") == "-ERR Authentication cancelled."
    assert c.cmd("STAT") == "-ERR Log in first."
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(plain(mailsys.user, mailsys.password)) == "+OK Logged in."


def test_auth_plain_invalid_base64(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    for bad in ("!!!!", "AGFsaWNlAHg", "AGFsaWNlAH==", "====", "QQ="):
        assert c.cmd("AUTH PLAIN " + bad) == "-ERR Invalid base64 data.", bad
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd("not base64!") == "-ERR Invalid base64 data."
    # Each ended its exchange: commands are commands again.
    assert c.cmd("NOOP") == "+OK"
    # Well-formed base64 of a malformed PLAIN message (no NULs) is a failed login.
    assert c.cmd("AUTH PLAIN " + b64("alice")) == AUTH_FAILED
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.password)) == "+OK Logged in."


def test_auth_unknown_mechanism(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH CRAM-MD5") == "-ERR Unsupported authentication mechanism."
    assert c.cmd("AUTH XOAUTH2 " + b64("x")) == "-ERR Unsupported authentication mechanism."
    assert c.cmd("AUTH PLAINX") == "-ERR Unsupported authentication mechanism."
    assert c.cmd("NOOP") == "+OK"


# ---------------------------------------------------------------- AUTH LOGIN

def test_auth_login_challenges(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    # Exactly these: Thunderbird gives up on anything else.
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd(b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd(b64(mailsys.password)) == "+OK Logged in."
    logged_in(c, mailsys)


def test_auth_login_initial_response(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd(b64(mailsys.password)) == "+OK Logged in."


def test_auth_login_empty_initial_response(mailsys, pop3):
    """"=" is an empty user name: refused, no challenge left pending."""
    c = tls_client(pop3, mailsys)
    assert err(c.cmd("AUTH LOGIN ="))
    assert c.cmd("NOOP") == "+OK"


def test_auth_login_cancel_at_each_step(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd("*") == "-ERR Authentication cancelled."
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd(b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd("*") == "-ERR Authentication cancelled."
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd("*") == "-ERR Authentication cancelled."
    assert c.cmd("STAT") == "-ERR Log in first."
    assert "auth result=" not in mailsys.read_log()
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd(b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd(b64(mailsys.password)) == "+OK Logged in."


def test_auth_login_invalid_base64(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd("@@@@") == "-ERR Invalid base64 data."
    assert c.cmd("AUTH LOGIN " + "abc") == "-ERR Invalid base64 data."
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd(b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd("%%%%") == "-ERR Invalid base64 data."
    # A NUL inside a LOGIN field is refused as well.
    assert c.cmd("AUTH LOGIN " + b64("ali\0ce")) == "-ERR Invalid base64 data."
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
    assert c.cmd(b64(mailsys.password)) == "+OK Logged in."


def test_sasl_exchange_ended_by_a_bad_line(mailsys, pop3):
    """A NUL or an overlong line while a SASL response is awaited ends the exchange."""
    c = tls_client(pop3, mailsys)
    assert c.cmd("AUTH PLAIN") == "+ "
    assert c.cmd(b"AG\0FsaWNl") == "-ERR NUL byte in command."
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
    assert c.cmd("A" * 3000) == "-ERR Line too long."
    assert c.cmd("NOOP") == "+OK"


# ---------------------------------------------------------------- login names

@pytest.mark.parametrize("name", ["{account}", "alice@example.test", "Alice@EXAMPLE.Test",
                                  "alice@example.net", "postmaster@example.test"])
def test_owner_login_names(mailsys, pop3, name):
    c = tls_client(pop3, mailsys)
    assert c.login(name.format(account=mailsys.user), mailsys.password) == "+OK Logged in."
    logged_in(c, mailsys)


def test_other_login_names_fail(mailsys, pop3):
    names = ["bob@example.test", "alice@example.org", "alice", mailsys.user.upper(),
             f"{mailsys.user}@example.test", "alice+tag@example.test", "@example.test",
             "alice@", "alice@example.test.evil.test"]
    for i, name in enumerate(names):
        # One address each: a failure throttles the next attempt from the same one.
        c = tls_client(pop3, mailsys, source=f"127.0.0.{30 + i}")
        assert c.login(name, mailsys.password) == AUTH_FAILED, name
        assert c.cmd("STAT") == "-ERR Log in first."
        assert c.cmd("QUIT") == "+OK Logging out."
    log = mailsys.read_log()
    assert log.count('via="unknown user"') == len(names)
    assert "login user=" not in log


def test_wrong_passwords_fail_and_are_never_logged(mailsys, pop3):
    """One wrong password through each way of logging in, each from its own address
    (PAM delays each failure), in parallel. None of them, nor its base64 form,
    reaches the log."""
    wrong = {"pass": "Wrong-Pass-4f1c9e", "plain": "Wrong-Plain-7a2b5d",
             "login": "Wrong-Login-3e8c0a"}
    results = {}

    def attempt(kind, source):
        c = Pop3(mailsys.pop3_port, source=source)
        try:
            c.stls()
            pw = wrong[kind]
            if kind == "pass":
                assert c.cmd(f"USER {mailsys.user}") == "+OK"
                r = c.cmd(f"PASS {pw}")
            elif kind == "plain":
                r = c.cmd("AUTH PLAIN " + plain(mailsys.user, pw))
            else:
                assert c.cmd("AUTH LOGIN") == LOGIN_USER_CHALLENGE
                assert c.cmd(b64(mailsys.user)) == LOGIN_PASS_CHALLENGE
                r = c.cmd(b64(pw))
            results[kind] = (r, c.cmd("STAT"))
        finally:
            c.close()

    threads = [threading.Thread(target=attempt, args=(k, f"127.0.0.{50 + i}"))
               for i, k in enumerate(wrong)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert set(results) == set(wrong), results
    for kind, (r, after) in results.items():
        assert r == AUTH_FAILED, (kind, r)
        assert after == "-ERR Log in first.", (kind, after)
    log = mailsys.read_log()
    assert log.count("auth result=fail") == 3
    assert "login user=" not in log
    for pw in wrong.values():
        assert pw not in log
        assert b64(pw) not in log
    assert plain(mailsys.user, wrong["plain"]) not in log


def test_repeated_failures_close_the_connection(mailsys, pop3):
    """Five failed logins on one connection: the connection is closed. The same wrong
    credentials again are answered at once by the auth process (a repeat)."""
    c = tls_client(pop3, mailsys, source="127.0.0.70")
    for _ in range(4):
        assert c.login("bob@example.test", "Repeated-Wrong-1") == AUTH_FAILED
    assert c.cmd("USER bob@example.test") == "+OK"
    assert c.cmd("PASS Repeated-Wrong-1") == AUTH_FAILED
    assert c.line() == b"-ERR Too many failed logins, closing connection."
    assert is_closed(c)


def test_refused_plain_authzid_counts_as_failed_login(mailsys, pop3):
    """A PLAIN message that asks to act as someone else is a failed login: five of
    them close the connection like five wrong passwords."""
    c = tls_client(pop3, mailsys)
    bad = "AUTH PLAIN " + plain(mailsys.user, mailsys.password, authzid="bob@example.test")
    for _ in range(4):
        assert c.cmd(bad) == AUTH_FAILED
    assert c.cmd("NOOP") == "+OK"
    assert c.cmd(bad) == AUTH_FAILED
    assert c.line() == b"-ERR Too many failed logins, closing connection."
    assert is_closed(c)


# ---------------------------------------------------------------- APOP and state

def test_apop_refused(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    # The greeting carries no timestamp, so APOP is not on offer (RFC 1939 §7).
    assert b"<" not in c.greeting
    assert c.cmd(f"APOP {mailsys.user} c4c9334bac560ecc979e58001b3e22fb") == \
        "-ERR [AUTH] APOP is not supported."
    assert c.cmd("APOP") == "-ERR Invalid arguments."
    assert c.cmd("STAT") == "-ERR Log in first."


def test_login_commands_refused_in_transaction(mailsys, pop3):
    c = tls_client(pop3, mailsys)
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    for cmd in (f"USER {mailsys.user}", f"PASS {mailsys.password}", "AUTH",
                "AUTH PLAIN " + plain(mailsys.user, mailsys.password), "AUTH LOGIN",
                f"APOP {mailsys.user} c4c9334bac560ecc979e58001b3e22fb", "STLS"):
        assert c.cmd(cmd) == "-ERR Already logged in.", cmd
    assert c.cmd("STAT") == "+OK 0 0"
    assert mailsys.read_log().count("login user=") == 1
