"""fetchmail (the classic POP3 collector) against the real pop3d, over STLS and over
implicit TLS, trusting the test certificate (sslcertck + sslcertfile; the name it
checks is "localhost", the certificate's, while it connects to 127.0.0.1).

fetchmail logs in with USER/PASS. It delivers each message to an MDA we control that
writes it to a file of its own; "no stripcr" and "invisible" make it hand the MDA the
message exactly as RETR returned it (no CR stripping, no Received: field of its own),
so what it delivers is compared byte for byte with the Maildir file it came from.

Each test runs fetchmail three times, as a user would: keep + UIDL (all fetched,
nothing removed), again (its UIDL list says nothing is new: nothing fetched), then
without keep (all fetched and deleted: the Maildir is empty).
"""
import os
import subprocess

import pytest

from clientutil import need
from pop3clientutil import (log_lines, maildir_contents, maildir_empty, owner_reachable,
                            seed)  # noqa: F401 (owner_reachable is a fixture)


class Fetchmail:
    def __init__(self, tmp_path, mailsys, cert, implicit_tls, password):
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.out = tmp_path / "delivered"
        self.out.mkdir()
        self.mailsys, self.cert, self.implicit_tls = mailsys, cert, implicit_tls
        self.password = password
        self.runs = 0

    def run(self, keep, fetchall=False):
        """One fetchmail run; returns (exit code, output, [delivered message bytes])."""
        self.runs += 1
        m = self.mailsys
        port = m.pop3s_port if self.implicit_tls else m.pop3_port
        out = self.out / f"run{self.runs}"
        out.mkdir()
        rc = self.home / f"fetchmailrc{self.runs}"
        rc.write_text(f"""set no syslog
set invisible
set idfile "{self.home / 'fetchids'}"
poll 127.0.0.1 protocol pop3 service {port} uidl
    user "{m.user}" password "{self.password}"
    {'ssl' if self.implicit_tls else ''} sslproto tls1.2+
    sslcertck sslcertfile "{self.cert}" sslcommonname localhost
    {'keep' if keep else 'no keep'} {'fetchall' if fetchall else 'no fetchall'}
    no rewrite no stripcr no mimedecode
    mda "cat > $(mktemp -p {out} msg.XXXXXX)"
""")
        os.chmod(rc, 0o600)   # fetchmail refuses a run control file others can read
        argv = [need("fetchmail"), "-f", str(rc), "--nodetach", "-v",
                "--pidfile", str(self.home / "fetchmail.pid")]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=str(self.home),
                                    FETCHMAILHOME=str(self.home)))
        got = []
        for name in sorted(os.listdir(out)):
            with open(out / name, "rb") as f:
                got.append(f.read())
        return r.returncode, r.stdout + r.stderr, got


def check_cycle(mailsys, fm, tag):
    seeded = seed(mailsys, tag)
    want = sorted(seeded.values())

    # 1. keep: everything fetched, byte for byte, and still on the server.
    code, out, got = fm.run(keep=True, fetchall=True)
    assert code == 0, out
    assert sorted(got) == want, out
    assert "3 messages for " in out, out
    assert maildir_contents(mailsys) == seeded
    # The UIDs fetchmail keeps are the Maildir base names, and at QUIT pop3d moved the
    # retrieved messages from new/ to cur/ with the Seen flag.
    ids = fm.home.joinpath("fetchids").read_text().split("\n")
    assert sorted(l.split()[1] for l in ids if l) == sorted(seeded), ids
    assert mailsys.messages("new") == []
    assert sorted(os.path.basename(p) for p in mailsys.messages("cur")) == \
        sorted(b + ":2,S" for b in seeded)

    # 2. keep again: fetchmail's UIDL list says nothing is new; it fetches nothing
    #    (exit 1 is fetchmail's "no mail").
    code, out, got = fm.run(keep=True)
    assert code == 1, out
    assert got == [], out
    assert "3 messages (3 seen)" in out, out
    assert maildir_contents(mailsys) == seeded

    # 3. no keep: everything fetched again and deleted on the server.
    code, out, got = fm.run(keep=False, fetchall=True)
    assert code == 0, out
    assert sorted(got) == want, out
    assert maildir_empty(mailsys), os.listdir(mailsys.maildir + "/cur")
    # What the server did, from its own log: three logins by USER/PASS, all of them
    # inside TLS, and the last one deleted the three messages.
    logins = log_lines(mailsys, "login user=")
    assert len(logins) == 3 and all("mech=USER" in l for l in logins), logins
    assert log_lines(mailsys, "logout ")[-1].split()[-3:] == \
        ["retrieved=3", "deleted=3", "left=0"], log_lines(mailsys, "logout ")
    tls_word = ' tls="' if fm.implicit_tls else "starttls="
    assert len(log_lines(mailsys, tls_word)) == 3, mailsys.read_log()


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["stls", "implicit-tls"])
def test_fetchmail_keep_uidl_delete(mailsys, tls_files, tmp_path, implicit_tls):
    fm = Fetchmail(tmp_path, mailsys, tls_files[0], implicit_tls, mailsys.password)
    check_cycle(mailsys, fm, "fetchmail")
    auths = log_lines(mailsys, "auth result=")
    assert len(auths) == 3 and all('via="pam"' in l for l in auths), auths


def test_fetchmail_app_password(owner_reachable, mailsys, tls_files, tmp_path):
    """The same cycle with an app password instead of the account's PAM password."""
    app = mailsys.add_app_password("phone")
    assert app != mailsys.password
    fm = Fetchmail(tmp_path, mailsys, tls_files[0], True, app)
    check_cycle(mailsys, fm, "fetchmail-app")
    # The auth process took it as the app password of "phone", not the PAM password.
    auths = log_lines(mailsys, "auth result=")
    assert len(auths) == 3 and all('result=ok' in l and 'via="app:phone"' in l
                                   for l in auths), auths
    assert app not in mailsys.read_log("pop3d")
