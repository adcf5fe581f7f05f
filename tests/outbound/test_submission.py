"""Submission (RFC 6409) as a mail client meets it: port 587 with STARTTLS and port 465
with implicit TLS (RFC 8314), AUTH PLAIN and LOGIN (RFC 4954, RFC 4616) only inside
TLS, MAIL only after AUTH and only from the owner's addresses, local recipients into
the Maildir and remote ones into the queue; and port 25, which never offers AUTH and
never relays. Raw sockets (tests/conftest.py's Client) for the exact replies, smtplib
for what a library client does.

The auth process answers a failed login after about 2 s and throttles failures per
client address, so only one test here makes the auth process say no; the other
refusals (bad base64, "*", "=") are decided in the session without asking it.
"""
import base64
import os
import smtplib

from conftest import client_tls_context, greet, wait_for

DOMAIN = "example.test"
OWNER_ADDR = f"alice@{DOMAIN}"
REMOTE = "bob@remote.example.org"
EHLO_NAME = "client.example.net"
LOGIN_USER_CHALLENGE = "VXNlcm5hbWU6"       # base64("Username:")
LOGIN_PASS_CHALLENGE = "UGFzc3dvcmQ6"       # base64("Password:")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, password, authzid=""):
    return b64(f"{authzid}\0{user}\0{password}")


def ehlo_keywords(lines):
    """The EHLO reply's keyword lines (the first is the greeting host)."""
    return lines[1:]


def tls_client(connect, port):
    """A client on port (587) after STARTTLS and a new EHLO; (client, EHLO lines)."""
    c = connect(port)
    before = greet(c)
    assert "STARTTLS" in before
    code, _ = c.cmd("STARTTLS")
    assert code == 220
    c.starttls()
    code, lines = c.cmd(f"EHLO {EHLO_NAME}")
    assert code == 250
    return c, lines


def logged_in(connect, m, password):
    """A client on 587, after STARTTLS and AUTH PLAIN as the owner."""
    c, _ = tls_client(connect, m.sub_port)
    code, text = c.cmd("AUTH PLAIN " + plain(m.user, password))
    assert (code, text) == (235, ["2.7.0 Authentication successful"])
    return c


def submit(c, rcpts, body, mail_from=f"<{OWNER_ADDR}>"):
    """MAIL, RCPTs, DATA and body (without the final dot); the final reply."""
    assert c.cmd(f"MAIL FROM:{mail_from}")[0] == 250
    for r in rcpts:
        code, text = c.cmd(f"RCPT TO:<{r}>")
        assert code == 250, (r, code, text)
    assert c.cmd("DATA")[0] == 354
    c.send(body.encode() if isinstance(body, str) else body)
    c.send(b".\r\n")
    return c.reply()


def owner_message(subject, to=OWNER_ADDR):
    return (f"From: Alice <{OWNER_ADDR}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '-')}@example.test>\r\n\r\nHello.\r\n")


def queue_files(m, sub="msg"):
    d = os.path.join(m.state_dir, "queue", sub)
    return sorted(os.path.join(d, n) for n in os.listdir(d)) if os.path.isdir(d) else []


# ---------------------------------------------------------------- capabilities, TLS

def test_ehlo_before_tls_offers_starttls_and_no_auth(mailsys, connect):
    c = connect(mailsys.sub_port)
    lines = greet(c)
    kw = ehlo_keywords(lines)
    assert "STARTTLS" in kw
    assert not any(k.upper().startswith("AUTH") for k in kw), kw


def test_auth_before_starttls_refused(mailsys, connect):
    c = connect(mailsys.sub_port)
    greet(c)
    # Whatever the credentials: they are refused before being looked at.
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, "not-the-password")) == \
        (530, ["5.7.0 Must issue a STARTTLS command first"])
    assert c.cmd("AUTH LOGIN") == (530, ["5.7.0 Must issue a STARTTLS command first"])
    # Nothing pending: the next line is a command, and MAIL still wants AUTH.
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>") == (530, ["5.7.0 Authentication required"])
    assert "auth result=" not in mailsys.read_log("smtpd")


def test_ehlo_after_starttls_offers_auth(mailsys, connect):
    c, lines = tls_client(connect, mailsys.sub_port)
    kw = ehlo_keywords(lines)
    assert "AUTH PLAIN LOGIN" in kw
    assert "STARTTLS" not in kw
    # After AUTH, EHLO no longer offers it (RFC 4954 §4: one AUTH per session).
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, mailsys.add_app_password("x")))[0] \
        == 235
    code, lines = c.cmd(f"EHLO {EHLO_NAME}")
    assert code == 250
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(lines))
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, "x"))[0] == 503


def test_port_465_implicit_tls(mailsys, connect):
    pw = mailsys.add_app_password("phone")
    c = connect(mailsys.subs_port, implicit_tls=True)
    lines = greet(c)
    kw = ehlo_keywords(lines)
    assert "AUTH PLAIN LOGIN" in kw
    assert "STARTTLS" not in kw
    assert c.cmd("AUTH LOGIN")[1] == [LOGIN_USER_CHALLENGE]
    assert c.cmd(b64(OWNER_ADDR))[1] == [LOGIN_PASS_CHALLENGE]
    assert c.cmd(b64(pw))[0] == 235
    code, text = submit(c, [OWNER_ADDR], owner_message("over 465"))
    assert code == 250, text
    (path,) = wait_for(lambda: mailsys.messages("new"), what="delivery")
    with open(path, "rb") as f:
        data = f.read()
    assert b"Subject: over 465\r\n" in data
    assert b" with ESMTPSA (" in data


# ---------------------------------------------------------------- AUTH mechanisms

def test_auth_login_exact_challenges(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    # Exactly these lines: some clients (Outlook, Thunderbird) match the text.
    c.send(b"AUTH LOGIN\r\n")
    assert c._line() == "334 " + LOGIN_USER_CHALLENGE
    c.send(b64(mailsys.user).encode() + b"\r\n")
    assert c._line() == "334 " + LOGIN_PASS_CHALLENGE
    assert c.cmd(b64(pw)) == (235, ["2.7.0 Authentication successful"])
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250


def test_auth_login_with_initial_response(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == (334, [LOGIN_PASS_CHALLENGE])
    assert c.cmd(b64(pw))[0] == 235


def test_auth_plain_with_initial_response(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, pw)) == \
        (235, ["2.7.0 Authentication successful"])
    log = mailsys.read_log("smtpd")
    assert "auth result=ok" in log and 'via="app:laptop"' in log, log


def test_auth_plain_without_initial_response(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    # RFC 4954 §4: an empty challenge is "334 " (a space, then nothing).
    c.send(b"AUTH PLAIN\r\n")
    assert c._line() == "334 "
    # The owner's address is a login name as good as the account's.
    assert c.cmd(plain(OWNER_ADDR, pw))[0] == 235


def test_auth_plain_with_authzid_of_the_user(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, pw, authzid=mailsys.user))[0] == 235


def test_empty_initial_response(mailsys, connect):
    """RFC 4954 §4: "=" is an initial response of zero length. For PLAIN that is no
    valid message: a failed login at once (no 334, no auth process asked); for LOGIN
    an empty user name: refused. Neither leaves an exchange pending."""
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH PLAIN =") == (535, ["5.7.8 Error: authentication failed"])
    assert c.cmd("NOOP")[0] == 250
    code, _ = c.cmd("AUTH LOGIN =")
    assert 500 <= code < 600, code
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, pw))[0] == 235
    assert "auth result=fail" not in mailsys.read_log("smtpd")


def test_cancel_with_star(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    cancelled = (501, ["5.0.0 Error: authentication cancelled"])
    assert c.cmd("AUTH PLAIN")[0] == 334
    assert c.cmd("*") == cancelled
    assert c.cmd("AUTH LOGIN") == (334, [LOGIN_USER_CHALLENGE])
    assert c.cmd("*") == cancelled
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == (334, [LOGIN_PASS_CHALLENGE])
    assert c.cmd("*") == cancelled
    # Still not logged in; then a login works on the same connection.
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>") == (530, ["5.7.0 Authentication required"])
    assert c.cmd("AUTH LOGIN") == (334, [LOGIN_USER_CHALLENGE])
    assert c.cmd(b64(mailsys.user)) == (334, [LOGIN_PASS_CHALLENGE])
    assert c.cmd(b64(pw))[0] == 235
    assert "auth result=" in mailsys.read_log("smtpd")


def test_bad_base64(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c, _ = tls_client(connect, mailsys.sub_port)
    bad = (501, ["5.5.2 Error: cannot decode response"])
    for junk in ("!!!!", "AGFsaWNlAHg", "QQ=", "===="):
        assert c.cmd("AUTH PLAIN " + junk) == bad, junk
    assert c.cmd("AUTH LOGIN") == (334, [LOGIN_USER_CHALLENGE])
    assert c.cmd("not base64!") == bad
    assert c.cmd("AUTH LOGIN " + b64(mailsys.user)) == (334, [LOGIN_PASS_CHALLENGE])
    assert c.cmd("#$%") == bad
    # Each ended its exchange; the connection is still good for a login.
    assert c.cmd("NOOP")[0] == 250
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, pw))[0] == 235
    assert "auth result=fail" not in mailsys.read_log("smtpd")


def test_unknown_mechanism(mailsys, connect):
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH CRAM-MD5")[0] == 504
    assert c.cmd("AUTH XOAUTH2 " + b64("x"))[0] == 504
    assert c.cmd("NOOP")[0] == 250


def test_wrong_password(mailsys, connect):
    """The one test where the auth process says no (about 2 s)."""
    wrong = "Wrong-Pa55word-xyzzy"
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, wrong)) == \
        (535, ["5.7.8 Error: authentication failed"])
    # Not logged in: MAIL is still refused.
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>") == (530, ["5.7.0 Authentication required"])
    log = mailsys.read_log("smtpd")
    assert "auth result=fail" in log, log
    assert wrong not in log


# ---------------------------------------------------------------- MAIL FROM

def test_mail_before_auth(mailsys, connect):
    # Before TLS...
    c = connect(mailsys.sub_port)
    greet(c)
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>") == (530, ["5.7.0 Authentication required"])
    # ...and inside TLS, before AUTH.
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>") == (530, ["5.7.0 Authentication required"])
    assert c.cmd(f"RCPT TO:<{REMOTE}>")[0] == 503


def test_mail_from_with_space_after_colon(mailsys, connect):
    """Outlook writes "MAIL FROM: <addr>"."""
    c = logged_in(connect, mailsys, mailsys.add_app_password("outlook"))
    assert c.cmd(f"MAIL FROM: <{OWNER_ADDR}>") == (250, ["2.1.0 Ok"])
    assert c.cmd(f"RCPT TO: <{OWNER_ADDR}>")[0] == 250


def test_mail_from_owner_addresses(mailsys, connect):
    c = logged_in(connect, mailsys, mailsys.add_app_password("laptop"))
    for addr in (OWNER_ADDR, "postmaster@example.test", "alice+lists@example.test",
                 "alice@example.net", "ALICE@EXAMPLE.TEST"):
        assert c.cmd(f"MAIL FROM:<{addr}>")[0] == 250, addr
        assert c.cmd("RSET")[0] == 250


def test_mail_from_not_owner(mailsys, connect):
    c = logged_in(connect, mailsys, mailsys.add_app_password("laptop"))
    for addr in ("someone@example.org", "bob@example.test", ""):
        assert c.cmd(f"MAIL FROM:<{addr}>") == \
            (553, ["5.7.1 Error: sender address is not one of yours"]), addr
    assert "reason=not-owner-address" in mailsys.read_log("smtpd")
    # The session goes on.
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250


# ---------------------------------------------------------------- port 25

def test_port_25_never_offers_auth(mailsys, connect):
    c = connect(mailsys.smtp_port)
    lines = greet(c)
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(lines))
    assert c.cmd("AUTH PLAIN " + plain(mailsys.user, "not-the-password")) == \
        (503, ["5.5.1 Error: authentication not enabled"])
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    code, lines = c.cmd(f"EHLO {EHLO_NAME}")
    assert code == 250
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(lines))
    assert c.cmd("AUTH LOGIN")[0] == 503
    # Implicit TLS on the MX side (smtps_listen) does not offer it either.
    c = connect(mailsys.smtps_port, implicit_tls=True)
    lines = greet(c)
    assert not any(k.startswith("AUTH") for k in ehlo_keywords(lines))
    assert c.cmd("AUTH LOGIN")[0] == 503


def test_port_25_still_refuses_relaying(mailsys, connect):
    c = connect(mailsys.smtp_port)
    greet(c)
    # Even with the owner's own address as the sender.
    assert c.cmd(f"MAIL FROM:<{OWNER_ADDR}>")[0] == 250
    assert c.cmd(f"RCPT TO:<{REMOTE}>") == (550, ["5.7.1 Error: relay access denied"])
    assert c.cmd(f"RCPT TO:<{OWNER_ADDR}>")[0] == 250
    assert queue_files(mailsys) == []


# ---------------------------------------------------------------- logins and delivery

def test_pam_login(mailsys, connect):
    """The account's own password, checked by real PAM (scripts/test-account.sh)."""
    c = logged_in(connect, mailsys, mailsys.password)
    code, text = submit(c, [OWNER_ADDR], owner_message("via pam"))
    assert code == 250, text
    log = mailsys.read_log("smtpd")
    assert "auth result=ok" in log and 'via="pam"' in log, log
    assert mailsys.password not in log


def test_received_says_esmtpsa(mailsys, connect):
    pw = mailsys.add_app_password("laptop")
    c = logged_in(connect, mailsys, pw)
    code, text = submit(c, [OWNER_ADDR], owner_message("trace"))
    assert code == 250 and "delivered" in text[0], text
    (path,) = wait_for(lambda: mailsys.messages("new"), what="delivery")
    with open(path, "rb") as f:
        data = f.read()
    assert data.startswith(f"Return-Path: <{OWNER_ADDR}>\r\nReceived: from {EHLO_NAME} "
                           f"([127.0.0.1])\r\n\tby mx.example.test (Letterbox) with "
                           f"ESMTPSA (".encode()), data[:300]
    assert pw.encode() not in data


def test_local_and_remote_recipient(mailsys, connect):
    """One message, two destinations: the Maildir copy gets Return-Path (final delivery,
    RFC 5321 §4.4), the queued copy does not (it is not delivered yet); both carry the
    same Received: and the same message."""
    pw = mailsys.add_app_password("laptop")
    c = logged_in(connect, mailsys, pw)
    body = owner_message("two ways", to=REMOTE)
    code, text = submit(c, [OWNER_ADDR, REMOTE], body)
    assert code == 250 and "queued" in text[0], text
    (local,) = wait_for(lambda: mailsys.messages("new"), what="delivery")
    (queued,) = queue_files(mailsys)      # DNS (127.0.0.1:9) fails: it stays queued
    with open(local, "rb") as f:
        ldata = f.read()
    with open(queued, "rb") as f:
        qdata = f.read()
    envelope, qmsg = qdata.split(b"\n\n", 1)
    env = envelope.decode().split("\n")
    assert env[0] == "LBQ1"
    assert f"from {OWNER_ADDR}" in env
    assert f"user {mailsys.user}" in env
    assert "client 127.0.0.1" in env
    # Only the remote recipient is queued; the local one is delivered already.
    assert [x for x in env if x.startswith("rcpt ")] == [f"rcpt {REMOTE}"]
    assert not qmsg.startswith(b"Return-Path:")
    assert b"Return-Path:" not in qmsg.split(b"\r\n\r\n", 1)[0]
    assert qmsg.startswith(b"Received: from ")
    assert ldata.startswith(f"Return-Path: <{OWNER_ADDR}>\r\n".encode())
    assert ldata.split(b"\r\n", 1)[1] == qmsg
    assert qmsg.endswith(body.encode())
    log = mailsys.read_log("smtpd")
    assert "queued id=" in log and "local=1 remote=1" in log, log
    assert pw not in log


def test_password_never_logged(mailsys, connect):
    """Every way a password travels (PLAIN, LOGIN, initial response or not, app or PAM
    password) and none of them reaches the log."""
    pw = mailsys.add_app_password("laptop")
    c = logged_in(connect, mailsys, pw)
    c.cmd("QUIT")
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH LOGIN")[0] == 334
    assert c.cmd(b64(mailsys.user))[0] == 334
    assert c.cmd(b64(mailsys.password))[0] == 235
    c, _ = tls_client(connect, mailsys.sub_port)
    assert c.cmd("AUTH PLAIN")[0] == 334
    assert c.cmd(plain(mailsys.user, pw))[0] == 235
    log = wait_for(lambda: (lambda t: t if t.count("auth result=ok") >= 3 else None)(
        mailsys.read_log("smtpd")), what="three logins logged")
    for secret in (pw, mailsys.password, b64(pw), b64(mailsys.password),
                   plain(mailsys.user, pw), plain(mailsys.user, mailsys.password)):
        assert secret not in log


# ---------------------------------------------------------------- smtplib

def test_smtplib_starttls_login(mailsys):
    pw = mailsys.add_app_password("script")
    # local_hostname given: smtplib would otherwise ask DNS for this host's name.
    with smtplib.SMTP("127.0.0.1", mailsys.sub_port, local_hostname=EHLO_NAME,
                      timeout=10) as s:
        s.ehlo()
        assert not s.has_extn("auth")
        s.starttls(context=client_tls_context())
        s.ehlo()
        assert s.has_extn("auth")
        assert set(s.esmtp_features["auth"].split()) == {"PLAIN", "LOGIN"}
        s.login(mailsys.user, pw)
        refused = s.sendmail(OWNER_ADDR, [OWNER_ADDR], owner_message("smtplib"))
        assert refused == {}
    wait_for(lambda: mailsys.messages("new"), what="delivery")


def test_smtplib_ssl_login_each_mechanism(mailsys):
    pw = mailsys.add_app_password("script")
    for mech in ("PLAIN", "LOGIN"):
        with smtplib.SMTP_SSL("127.0.0.1", mailsys.subs_port, local_hostname=EHLO_NAME,
                              context=client_tls_context(), timeout=10) as s:
            s.ehlo()
            s.user, s.password = OWNER_ADDR, pw
            code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower()),
                             initial_response_ok=mech == "PLAIN")
            assert code == 235, mech
            s.sendmail(OWNER_ADDR, [OWNER_ADDR], owner_message(f"smtplib {mech}"))
    wait_for(lambda: len(mailsys.messages("new")) == 2, what="two deliveries")


def test_smtplib_login_before_starttls_fails(mailsys):
    with smtplib.SMTP("127.0.0.1", mailsys.sub_port, local_hostname=EHLO_NAME,
                      timeout=10) as s:
        s.ehlo()
        try:
            s.login(mailsys.user, "not-the-password")
        except smtplib.SMTPNotSupportedError:
            pass                # no AUTH offered: smtplib does not even try
        else:
            raise AssertionError("login without TLS succeeded")
        code, msg = s.docmd("AUTH", "PLAIN " + plain(mailsys.user, "not-the-password"))
        assert code == 530
