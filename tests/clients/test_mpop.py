"""mpop (a small POP3 client, the receiving sibling of msmtp) against the real pop3d,
over STLS and over implicit TLS, trusting the test certificate (tls_trust_file).

mpop delivers into a Maildir or an mbox of our own and keeps a list of the UIDLs it
has retrieved. As a user would: --keep (everything fetched, nothing removed), again
(its UIDL list says nothing is new: nothing fetched), then without --keep (the
messages it already has are deleted on the server). mpop stores mail with LF line
ends, as Unix mail files are (it converts the CRLF of POP3; received_header off
keeps it from adding a Received: field), so a delivered message must equal the
Maildir file it came from with CRLF turned into LF, byte for byte.

Each run uses another login method, read back from pop3d's log: SASL PLAIN (mpop's
own choice), SASL LOGIN and USER/PASS.
"""
import os
import re
import subprocess

import pytest

from clientutil import need
from pop3clientutil import (lf, log_lines, maildir_contents, maildir_empty,
                            owner_reachable, seed)  # noqa: F401 (owner_reachable is a fixture)


class Mpop:
    def __init__(self, tmp_path, mailsys, cert, implicit_tls, password, delivery, auth):
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.mailsys, self.implicit_tls, self.delivery = mailsys, implicit_tls, delivery
        self.uidls = self.home / "uidls"
        if delivery == "maildir":
            self.target = tmp_path / "Mail"
            for sub in ("cur", "new", "tmp"):
                os.makedirs(self.target / sub)
        else:
            self.target = tmp_path / "mbox"
        self.conf = self.home / "mpoprc"
        self.conf.write_text(f"""defaults
account test
host 127.0.0.1
port {mailsys.pop3s_port if implicit_tls else mailsys.pop3_port}
user {mailsys.user}
password {password}
{'auth ' + auth if auth else ''}
tls on
tls_starttls {'off' if implicit_tls else 'on'}
tls_trust_file {cert}
delivery {delivery} {self.target}
uidls_file {self.uidls}
received_header off
""")
        os.chmod(self.conf, 0o600)   # mpop refuses a file with a password others can read

    def run(self, keep):
        """One mpop run; (exit code, output)."""
        argv = [need("mpop"), "-C", str(self.conf), f"--keep={'on' if keep else 'off'}",
                "test"]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, HOME=str(self.home),
                                    TMPDIR=str(self.home)))
        return r.returncode, r.stdout + r.stderr

    def delivered(self):
        """The messages mpop has delivered so far (bytes, in no particular order)."""
        if self.delivery == "maildir":
            out = []
            for sub in ("new", "cur"):
                d = self.target / sub
                for name in sorted(os.listdir(d)):
                    with open(d / name, "rb") as f:
                        out.append(f.read())
            assert os.listdir(self.target / "tmp") == []
            return out
        if not self.target.exists():
            return []
        return read_mboxrd(self.target.read_bytes())


def read_mboxrd(data):
    """The messages of an MBOXRD file (what mpop writes): each starts with a "From "
    line and is followed by an empty line; inside a message every line that starts
    with ">"s and "From " got one more ">" (so only separators start with "From ")."""
    chunks = re.split(rb"(?m)^From [^\n]*\n", data)
    assert chunks[0] == b"", data[:100]
    out = []
    for c in chunks[1:]:
        assert c.endswith(b"\n\n"), c[-100:]
        out.append(re.sub(rb"(?m)^>(>*From )", rb"\1", c[:-1]))
    return out


def check_cycle(mailsys, mp, tag):
    seeded = seed(mailsys, tag)
    want = sorted(lf(m) for m in seeded.values())

    # 1. --keep: everything fetched and still on the server, moved to cur/ and Seen.
    code, out = mp.run(keep=True)
    assert code == 0, out
    assert sorted(mp.delivered()) == want, out
    assert maildir_contents(mailsys) == seeded
    assert mailsys.messages("new") == []
    assert sorted(os.path.basename(p) for p in mailsys.messages("cur")) == \
        sorted(b + ":2,S" for b in seeded)
    # The UIDs mpop keeps are the Maildir base names.
    assert set(seeded) <= set(mp.uidls.read_text().split()), mp.uidls.read_text()

    # 2. --keep again: mpop's UIDL list says nothing is new; nothing fetched.
    code, out = mp.run(keep=True)
    assert code == 0, out
    assert sorted(mp.delivered()) == want, out
    assert maildir_contents(mailsys) == seeded
    retrs = [l for l in log_lines(mailsys, "logout ")]
    assert "retrieved=0 deleted=0 left=3" in retrs[-1], retrs

    # 3. without --keep: what it already has is deleted on the server.
    code, out = mp.run(keep=False)
    assert code == 0, out
    assert sorted(mp.delivered()) == want, out
    assert maildir_empty(mailsys)
    logouts = log_lines(mailsys, "logout ")
    assert len(logouts) == 3 and "deleted=3 left=0" in logouts[-1], logouts
    tls_word = ' tls="' if mp.implicit_tls else "starttls="
    assert len(log_lines(mailsys, tls_word)) == 3, mailsys.read_log()
    # A fourth run finds an empty mailbox and delivers nothing more.
    code, out = mp.run(keep=False)
    assert code == 0, out
    assert sorted(mp.delivered()) == want, out


@pytest.mark.parametrize("implicit_tls,delivery,auth,mech", [
    (False, "maildir", None, "PLAIN"),
    (True, "mbox", "login", "LOGIN"),
], ids=["stls-maildir-auto", "implicit-tls-mbox-login"])
def test_mpop_keep_uidl_delete(mailsys, tls_files, tmp_path, implicit_tls, delivery,
                               auth, mech):
    mp = Mpop(tmp_path, mailsys, tls_files[0], implicit_tls, mailsys.password,
              delivery, auth)
    check_cycle(mailsys, mp, "mpop")
    logins = log_lines(mailsys, "login user=")
    assert len(logins) == 4 and all(f"mech={mech} " in l for l in logins), logins
    auths = log_lines(mailsys, "auth result=")
    assert all('result=ok' in l and 'via="pam"' in l for l in auths), auths


def test_mpop_app_password(owner_reachable, mailsys, tls_files, tmp_path):
    """The same cycle with an app password, logging in with USER/PASS."""
    app = mailsys.add_app_password("phone")
    assert app != mailsys.password
    mp = Mpop(tmp_path, mailsys, tls_files[0], True, app, "maildir", "user")
    check_cycle(mailsys, mp, "mpop-app")
    logins = log_lines(mailsys, "login user=")
    assert len(logins) == 4 and all("mech=USER " in l for l in logins), logins
    auths = log_lines(mailsys, "auth result=")
    assert len(auths) == 4 and all('result=ok' in l and 'via="app:phone"' in l
                                   for l in auths), auths
    assert app not in mailsys.read_log("pop3d")
