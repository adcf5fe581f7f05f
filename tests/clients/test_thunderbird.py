"""A real Thunderbird (headless, driven over Marionette) fetching from pop3d.

Two ways, both from the shared harness in ../shared/thunderbird (next to the repo;
its README says what it does), which is used from there, never copied:

- test_run_sh: the harness's own run.sh, unchanged, over STLS and over POP3S. It seeds
  3 messages with smtplib, has Thunderbird fetch them ("normal password") and asserts
  its Inbox holds exactly them, then sends one with Thunderbird through submission
  (SUB_PORT: STARTTLS, then AUTH with "normal password") and fetches it back.
- the other tests use tb_test.py's pieces (prefs, the account set-up and fetch
  scripts, the loopback socket audit) and marionette.py with their own steps: mail
  sent with swaks to smtpd arrives in Thunderbird, compared with the Maildir file
  byte for byte; then pop3d's Maildir is empty (Thunderbird deleted the messages), or,
  with "leave messages on server", Thunderbird fetches only what is new by UIDL.
"""
import base64
import os
import re
import ssl
import subprocess

import pytest

from conftest import made_by
from headless_tb import SHARED, TIMEOUT, HeadlessThunderbird, need_thunderbird
from pop3clientutil import lf, log_lines, maildir_contents, maildir_empty
from test_swaks import swaks


RUN_SH = os.path.join(SHARED, "run.sh")


# --- run.sh as it is ------------------------------------------------------------------

@pytest.mark.parametrize("pop3_tls", ["starttls", "ssl"])
def test_run_sh(mailsys, tmp_path, pop3_tls):
    need_thunderbird()
    port = mailsys.pop3_port if pop3_tls == "starttls" else mailsys.pop3s_port
    r = subprocess.run([RUN_SH, "127.0.0.1", str(port), pop3_tls, str(mailsys.sub_port),
                        mailsys.user, mailsys.password, str(mailsys.smtp_port),
                        "alice@example.test"],
                       capture_output=True, text=True, timeout=600,
                       # TMPDIR: the profile, kept if the run fails, lands here.
                       env=dict(os.environ, COUNT="3", TB_TIMEOUT=str(TIMEOUT),
                                TMPDIR=str(tmp_path)))
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "PASS fetch: Thunderbird holds exactly the seeded messages" in out, out
    assert "ALL PASSED" in out, out
    # Thunderbird deleted what it fetched (run.sh leaves nothing on the server).
    assert maildir_empty(mailsys), maildir_contents(mailsys)
    # pop3d's side: every login inside TLS, Thunderbird's by SASL PLAIN (its first
    # choice for "normal password"); the 3 seeded messages and then Thunderbird's own
    # were deleted by Thunderbird.
    logins = log_lines(mailsys, "login user=")
    tls_word = "starttls=" if pop3_tls == "starttls" else ' tls="'
    assert len(log_lines(mailsys, tls_word)) == len(log_lines(mailsys, " connect ")), \
        mailsys.read_log()
    assert any("mech=PLAIN messages=3 " in l for l in logins), logins
    logouts = log_lines(mailsys, "logout ")
    assert any("retrieved=3 deleted=3 left=0" in l for l in logouts), logouts
    assert "retrieved=1 deleted=1 left=0" in logouts[-1], logouts
    # smtpd's side: Thunderbird sent through submission, STARTTLS then AUTH PLAIN (its
    # first choice for "normal password"), as the owner, to the owner's Maildir.
    smtpd = mailsys.read_log("smtpd")
    assert re.search(r"starttls=\"TLSv1\.[23] ", smtpd), smtpd
    assert re.search(r"auth result=ok service=smtp mech=PLAIN user=\"%s\"" %
                     re.escape(mailsys.user), smtpd), smtpd
    assert re.search(r"login user=\"%s\" mech=PLAIN" % re.escape(mailsys.user), smtpd), smtpd
    assert re.search(r"delivered .*from=<alice@example\.test> to=<alice@example\.test> "
                     r"nrcpt=1 local=1 remote=0 ", smtpd), smtpd


# --- our own steps with the shared pieces -----------------------------------------------

class Thunderbird(HeadlessThunderbird):
    """One headless Thunderbird with a fresh profile in tmp_path and a POP3 account
    on pop3d, set up with the shared harness's account script."""

    def __init__(self, tmp_path, mailsys, cert_pem, pop3_tls, leave_on_server):
        super().__init__(tmp_path)
        tb = self.tb
        port = mailsys.pop3_port if pop3_tls == "starttls" else mailsys.pop3s_port
        with open(cert_pem) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        # No message is sent: sub_port only has to be a port number.
        self.cfg = {"host": "127.0.0.1", "pop3_port": port, "pop3_tls": pop3_tls,
                    "sub_port": mailsys.smtp_port, "user": mailsys.user,
                    "password": mailsys.password, "address": "alice@example.test",
                    "overrides": [{"host": "127.0.0.1", "port": port,
                                   "der_b64": base64.b64encode(der).decode()}],
                    "leave_on_server": leave_on_server, "timeout_ms": TIMEOUT * 1000}
        try:
            r = tb.js(self.m, tb.JS_SETUP, [self.cfg], timeout=TIMEOUT + 60)
            assert r.get("ok"), r
            assert r["store"] == "mbox", r     # read_inbox below reads an mbox
            self.version = r["version"]
        except BaseException:
            self.close()
            raise

    def get_messages(self):
        """Thunderbird's "Get Messages"; the Inbox's message DB afterwards."""
        r = self.tb.js(self.m, self.tb.JS_FETCH, [self.cfg], timeout=TIMEOUT + 60)
        assert r.get("ok"), r
        self.inbox_path = r["inboxPath"]
        return r["messages"]

    def set_leave_on_server(self, leave):
        r = self.m.execute_async(SET_LEAVE_ON_SERVER, [self.cfg, leave], timeout=60)
        assert r == {"ok": True}, r

    def popstate(self):
        """The UIDLs Thunderbird remembers for the server (popstate.dat, "k" = kept)."""
        path = os.path.join(os.path.dirname(self.inbox_path), "popstate.dat")
        with open(path) as f:
            return [l.split()[1] for l in f if l.startswith("k ")]


SET_LEAVE_ON_SERVER = """
const resolve = arguments[arguments.length - 1];
const [cfg, leave] = arguments;
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const server = MailServices.accounts.findServer(cfg.user, cfg.host, "pop3");
server.QueryInterface(Ci.nsIPop3IncomingServer).leaveMessagesOnServer = leave;
resolve({ok: true});
"""


@pytest.fixture
def thunderbird(tmp_path, tls_files):
    def start(mailsys, pop3_tls, leave_on_server=False):
        return Thunderbird(tmp_path, mailsys, tls_files[0], pop3_tls, leave_on_server)

    yield from made_by(start, Thunderbird.close)


# The header fields Thunderbird puts on top of each message it stores.
TB_FIELDS = (b"X-Account-Key: ", b"X-UIDL: ", b"X-Mozilla-Status: ",
             b"X-Mozilla-Status2: ", b"X-Mozilla-Keys: ")
TB_FROM_LINE = re.compile(rb"(?m)^From - [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d "
                          rb"\d\d:\d\d:\d\d \d{4}\r?\n")


def read_inbox(path):
    """Thunderbird's Inbox mbox as {X-UIDL: message as it came over POP3, with the
    LF line ends Thunderbird stores it with}."""
    with open(path, "rb") as f:
        data = f.read()
    chunks = TB_FROM_LINE.split(data)
    assert chunks[0] == b"", data[:200]
    out = {}
    for c in chunks[1:]:
        assert c.endswith(b"\n\r\n"), c[-200:]   # the separator line after a message
        c = c[:-2]
        uidl = None
        while c.startswith(TB_FIELDS):
            line, c = c.split(b"\n", 1)
            if line.startswith(b"X-UIDL: "):
                uidl = line[8:].decode()
        assert uidl is not None and uidl not in out, c[:300]
        out[uidl] = c
    return out


def swaks_seed(mailsys, tmp_path, tag, count):
    """count messages sent with swaks over STARTTLS; returns their subjects."""
    subjects = []
    for i in range(count):
        subj = f"{tag} {i} Grüße"
        data = (f"From: Sender <sender@example.net>\r\n"
                f"To: Alice <alice@example.test>\r\n"
                f"Subject: =?UTF-8?B?{base64.b64encode(subj.encode()).decode()}?=\r\n"
                f"Date: Sat, 01 Mar 2025 10:00:00 +0000\r\n"
                f"Message-ID: <{tag}-{i}@example.net>\r\n"
                f"MIME-Version: 1.0\r\n"
                f"Content-Type: text/plain; charset=utf-8\r\n"
                f"Content-Transfer-Encoding: 8bit\r\n"
                f"\r\n"
                f"Hallo Alice, message {i} of {tag}.\r\n"
                f".a line starting with a dot\r\n"
                f"..and one with two\r\n"
                f".\r\n"
                f"Grüße ✓\r\n").encode()
        swaks(mailsys.smtp_port, tmp_path, data, "--tls")
        subjects.append(subj)
    return subjects


def check_inbox(t, messages, subjects, maildir):
    """Thunderbird's Inbox holds exactly the messages of maildir ({UIDL: bytes}),
    byte for byte but for line ends, with exactly these subjects in its DB."""
    assert sorted(x["subject"] for x in messages) == sorted(subjects), messages
    stored = read_inbox(t.inbox_path)
    assert sorted(stored) == sorted(maildir), (sorted(stored), sorted(maildir))
    for uidl, data in maildir.items():
        assert stored[uidl] == lf(data), uidl


@pytest.mark.parametrize("pop3_tls", ["starttls", "ssl"])
def test_swaks_to_thunderbird(mailsys, thunderbird, tmp_path, pop3_tls):
    """Mail sent with swaks to smtpd arrives in Thunderbird, which deletes it on pop3d."""
    subjects = swaks_seed(mailsys, tmp_path, f"tb-{pop3_tls}", 3)
    maildir = maildir_contents(mailsys)
    assert len(maildir) == 3
    t = thunderbird(mailsys, pop3_tls)
    messages = t.get_messages()
    check_inbox(t, messages, subjects, maildir)
    # Not left on the server: the Maildir is empty.
    assert maildir_empty(mailsys), maildir_contents(mailsys)
    # Get Messages again: nothing new, nothing lost.
    assert sorted(x["subject"] for x in t.get_messages()) == sorted(subjects)
    assert t.foreign_peers() == []
    logins = log_lines(mailsys, "login user=")
    assert len(logins) == 2 and all("mech=PLAIN " in l for l in logins), logins
    assert "messages=3 " in logins[0] and "messages=0 " in logins[1], logins
    tls_word = "starttls=" if pop3_tls == "starttls" else ' tls="'
    assert len(log_lines(mailsys, tls_word)) == 2, mailsys.read_log()
    assert "retrieved=3 deleted=3 left=0" in log_lines(mailsys, "logout ")[0]


def test_thunderbird_leave_on_server(mailsys, thunderbird, tmp_path):
    """"Leave messages on server": fetched messages stay in the Maildir (moved to cur/,
    Seen); the next Get Messages fetches only the new one, by UIDL; when the option is
    turned off, Thunderbird deletes what it has without fetching it again."""
    subjects = swaks_seed(mailsys, tmp_path, "tb-leave", 2)
    maildir = maildir_contents(mailsys)
    t = thunderbird(mailsys, "starttls", leave_on_server=True)
    check_inbox(t, t.get_messages(), subjects, maildir)
    assert maildir_contents(mailsys) == maildir
    assert mailsys.messages("new") == []
    assert sorted(os.path.basename(p) for p in mailsys.messages("cur")) == \
        sorted(b + ":2,S" for b in maildir)
    assert sorted(t.popstate()) == sorted(maildir)

    # One more message: only it is fetched (UIDLs unchanged by the move to cur/).
    subjects += swaks_seed(mailsys, tmp_path, "tb-leave-2", 1)
    maildir = maildir_contents(mailsys)
    assert len(maildir) == 3
    check_inbox(t, t.get_messages(), subjects, maildir)
    assert "retrieved=1 deleted=0 left=3" in log_lines(mailsys, "logout ")[-1]
    assert sorted(t.popstate()) == sorted(maildir)

    # Leave on server turned off: the next Get Messages deletes all three on pop3d
    # and fetches nothing twice.
    t.set_leave_on_server(False)
    check_inbox(t, t.get_messages(), subjects, maildir)
    assert maildir_empty(mailsys), maildir_contents(mailsys)
    assert "retrieved=0 deleted=3 left=0" in log_lines(mailsys, "logout ")[-1]
    assert t.foreign_peers() == []
