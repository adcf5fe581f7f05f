"""Abuse (issue 6): password brute force from one address, on submission (AUTH PLAIN
and LOGIN after STARTTLS) and on POP3 (USER/PASS and AUTH PLAIN after STLS).

Ten connections from 127.0.0.20 (max_sessions_per_ip) fire distinct wrong passwords,
each thread again once it has its answer (after a pause of PACE: a refusal comes at
once, and the log need not fill). What is asserted is counted in answers, not time:
  - no attempt succeeds;
  - the auth process checks at most two attempts of one address at a time
    (auth/authd.c AUTHD_PENDING_PER_ADDR); the others are answered at once with the
    temporary refusal (454 4.7.0 / -ERR [SYS/TEMP]), so of the many attempts made
    while the owner logs in, only a handful were checked at all (< REFUSE_AFTER);
  - the owner logs in from other addresses while the attack goes on, with the PAM
    password and with an app password, and submits or reads mail;
  - no password, wrong or right, reaches a log.
One address's failures on submission and on POP3 add up (the auth processes share
one table): test_failures_on_submission_and_pop3_add_up.
The refusal of every attempt after ten counted failures (which takes about two
minutes of the throttle's 2-4-8-15 s steps) is tests/auth/test_throttle.py::
test_refused_after_ten_failures_others_unaffected.

The map of the whole abuse list to its tests is in tests/abuse/test_flood.py.
"""
import os
import re
import stat
import threading

from abuse_util import OWNER_ADDR, b64, submission
from conftest import Client, Pop3, message, send_mail

ATTACKER = "127.0.0.20"
OWNER_PAM_FROM = "127.0.0.21"
OWNER_APP_FROM = "127.0.0.22"
PARALLEL = 10               # max_sessions_per_ip
PACE = 0.1                  # seconds between one thread's attempts
MIN_ANSWERS = 30            # the attack has given this many answers before the owner
REFUSE_AFTER = 10           # auth/throttle.h THROTTLE_REFUSE_AFTER
PER_CONNECTION = 4          # attempts on one connection: below the 5 failures after
                            # which smtpd and pop3d close it (SMTP_MAX_AUTH_FAILURES)

POP3_FAILED = "-ERR [AUTH] Authentication failed."
POP3_THROTTLED = ("-ERR [SYS/TEMP] Too many failed logins from your address, "
                  "try again later.")
SMTP_FAILED = (535, ("5.7.8 Error: authentication failed",))
SMTP_THROTTLED = (454, ("4.7.0 Error: too many failed logins from your address, "
                        "try again later",))


class Busy(Exception):
    """The daemon refused the connection (max_sessions_per_ip)."""


class Attack:
    """PARALLEL threads, each on its own connection (a new one every PER_CONNECTION
    attempts, or when the server closes it), trying password guess-<thread>-<n>
    until stop is set."""

    def __init__(self, connect, try_password):
        self.connect, self.try_password = connect, try_password
        self.answers, self.guesses, self.errors = [], [], []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.enough = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,))
                        for i in range(PARALLEL)]

    def run(self, i):
        n = 0
        conn = None
        try:
            while not self.stop.is_set():
                if conn is not None and n % PER_CONNECTION == 0:
                    conn.close()
                    conn = None
                if conn is None:
                    try:
                        conn = self.connect()
                    except Busy:
                        # The previous connection's session has not ended yet: over
                        # max_sessions_per_ip for an instant. Try again.
                        self.stop.wait(PACE)
                        continue
                guess = f"guess-{i}-{n}-Zq"
                n += 1
                try:
                    answer = self.try_password(conn, guess)
                except (ConnectionError, OSError):
                    conn.close()
                    conn = None
                    continue
                with self.lock:
                    self.answers.append(answer)
                    self.guesses.append(guess)
                    if len(self.answers) >= MIN_ANSWERS:
                        self.enough.set()
                # A refusal comes at once: pace the retries (ten a second a thread),
                # or the attack only fills the log while the owner logs in.
                self.stop.wait(PACE)
        except Exception as e:          # reported by finish()
            with self.lock:
                self.errors.append(e)
            self.enough.set()
        finally:
            if conn is not None:
                conn.close()

    def start(self):
        for t in self.threads:
            t.start()
        assert self.enough.wait(60), "the attack got no answers"

    def count(self):
        with self.lock:
            return len(self.answers)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
            assert not t.is_alive()
        assert not self.errors, self.errors
        return self.answers


def check_attack(answers, failed, throttled, logs, guesses):
    assert len(answers) >= MIN_ANSWERS
    assert set(answers) <= {failed, throttled}, set(map(str, answers))
    checked = answers.count(failed)
    # Checked at most two at a time, each answered after 2 s at the soonest: while
    # the owner logged in, only a few were checked; the rest were refused at once.
    assert checked < REFUSE_AFTER, checked
    assert answers.count(throttled) == len(answers) - checked
    for log in logs:
        for guess in guesses:
            assert guess not in log, "a password in the log"


# ------------------------------------------------------------------------ submission

def smtp_tls(ms, source):
    return submission(ms, source=source, timeout=60)


def attacker_smtp(ms, source=ATTACKER):
    """A client on 587 from source after STARTTLS; Busy if refused (421)."""
    c = Client(ms.sub_port, source=source, timeout=60)
    code, text = c.reply()
    if code == 421:
        c.close()
        raise Busy(text)
    assert code == 220, text
    assert c.cmd("EHLO attacker.example")[0] == 250
    assert c.cmd("STARTTLS")[0] == 220
    c.starttls()
    assert c.cmd("EHLO attacker.example")[0] == 250
    return c


def smtp_try(ms, c, password, plain):
    if plain:
        return c.cmd("AUTH PLAIN " + b64(f"\0{ms.user}\0{password}"))
    code, _ = c.cmd("AUTH LOGIN")
    assert code == 334
    code, _ = c.cmd(b64(ms.user))
    assert code == 334
    return c.cmd(b64(password))


def test_submission_brute_force(make_mailsys):
    ms = make_mailsys()
    app_pw = ms.add_app_password("laptop")
    counter = iter(range(10 ** 9))

    def try_password(c, guess):
        code, text = smtp_try(ms, c, guess, plain=next(counter) % 2 == 0)
        return (code, tuple(text))

    attack = Attack(lambda: attacker_smtp(ms), try_password)
    attack.start()
    try:
        # The owner, meanwhile, from other addresses: PAM password, then app password.
        answered_before = attack.count()
        for source, pw in ((OWNER_PAM_FROM, ms.password), (OWNER_APP_FROM, app_pw)):
            c = smtp_tls(ms, source)
            try:
                assert smtp_try(ms, c, pw, plain=source == OWNER_PAM_FROM) == \
                    (235, ["2.7.0 Authentication successful"])
                code, text = send_mail(c, message(f"sent from {source}"),
                                       mail_from=f"<{OWNER_ADDR}>",
                                       rcpt=f"<{OWNER_ADDR}>")
                assert code == 250, text
            finally:
                c.close()
        # The attack went on answering while the owner logged in.
        assert attack.count() > answered_before
    finally:
        answers = attack.finish()
    log = ms.read_log("smtpd")
    check_attack(answers, SMTP_FAILED, SMTP_THROTTLED, [log], attack.guesses)
    assert app_pw not in log
    assert len(ms.messages("new")) == 2
    ok = [line for line in log.splitlines() if "auth result=ok" in line]
    assert len(ok) == 2 and all(f"client={ATTACKER}" not in line for line in ok)


# ------------------------------------------------------------------------------ POP3

def pop3_tls(ms, source):
    c = Pop3(ms.pop3_port, source=source, timeout=60)
    assert c.greeting.startswith(b"+OK")
    c.stls()
    return c


def attacker_pop3(ms):
    c = Pop3(ms.pop3_port, source=ATTACKER, timeout=60)
    if c.greeting.startswith(b"-ERR [SYS/TEMP] Too many connections"):
        c.close()
        raise Busy(c.greeting)
    assert c.greeting.startswith(b"+OK"), c.greeting
    c.stls()
    return c


def pop3_try(ms, c, password, plain):
    if plain:
        return c.cmd("AUTH PLAIN " + b64(f"\0{ms.user}\0{password}"))
    assert c.cmd(f"USER {ms.user}") == "+OK"
    return c.cmd(f"PASS {password}")


def test_pop3_brute_force(make_mailsys):
    ms = make_mailsys()
    ms.deliver(count=1)
    app_pw = ms.add_app_password("phone")
    counter = iter(range(10 ** 9))
    attack = Attack(lambda: attacker_pop3(ms),
                    lambda c, guess: pop3_try(ms, c, guess, next(counter) % 2 == 0))
    attack.start()
    try:
        answered_before = attack.count()
        for source, pw in ((OWNER_PAM_FROM, ms.password), (OWNER_APP_FROM, app_pw)):
            c = pop3_tls(ms, source)
            try:
                assert pop3_try(ms, c, pw, plain=source == OWNER_APP_FROM) == \
                    "+OK Logged in."
                assert c.cmd("STAT").startswith("+OK 1 ")
                assert c.cmd("QUIT").startswith("+OK")
            finally:
                c.close()
        assert attack.count() > answered_before
    finally:
        answers = attack.finish()
    log = ms.read_log("pop3d")
    check_attack(answers, POP3_FAILED, POP3_THROTTLED, [log, ms.read_log("smtpd")],
                 attack.guesses)
    assert app_pw not in log
    ok = [line for line in log.splitlines() if "auth result=ok" in line]
    assert len(ok) == 2 and all(f"client={ATTACKER}" not in line for line in ok)


# ------------------------------------------------------------------ both ports at once

FAILURES = r"auth result=(\w+) service=\S+ .* client={} .* failures=(\d+)$"


def counted(log, source):
    """(result, failures) of each auth line of source in log, in order."""
    rx = re.compile(FAILURES.format(re.escape(source)), re.M)
    return [(m[1], int(m[2])) for m in rx.finditer(log)]


def smtp_once(ms, source, password, plain):
    """One AUTH on a new 587 connection from source: the reply code."""
    c = attacker_smtp(ms, source)
    try:
        return smtp_try(ms, c, password, plain)[0]
    finally:
        c.close()


def pop3_once(ms, source, password, plain):
    """One login on a new POP3 connection (STLS) from source: the status line."""
    c = pop3_tls(ms, source)
    try:
        return pop3_try(ms, c, password, plain)
    finally:
        c.close()


def test_failures_on_submission_and_pop3_add_up(make_mailsys):
    """The two daemons' auth processes keep one table (state_dir/auth-throttle), so an
    attacker does not get the allowance once per port: failures from one address on
    587 and on 110 are counted together. Another address is not concerned, and the
    owner's success clears the address on both ports."""
    ms = make_mailsys()
    source = "127.0.0.23"
    assert smtp_once(ms, source, "guess-smtp-1-Zq", plain=True) == 535
    assert pop3_once(ms, source, "guess-pop3-2-Zq", plain=False) == POP3_FAILED
    assert smtp_once(ms, source, "guess-smtp-3-Zq", plain=False) == 535
    # The failures counted so far, as each daemon logged them: one count.
    smtp, pop3 = counted(ms.read_log("smtpd"), source), counted(ms.read_log("pop3d"), source)
    assert smtp == [("fail", 1), ("fail", 3)], smtp
    assert pop3 == [("fail", 2)], pop3
    # Not another address's.
    assert pop3_once(ms, OWNER_PAM_FROM, ms.password, plain=False) == "+OK Logged in."
    assert counted(ms.read_log("pop3d"), OWNER_PAM_FROM) == [("ok", 0)]
    # The owner at that address, on POP3: the address is clear for submission too.
    assert pop3_once(ms, source, ms.password, plain=True) == "+OK Logged in."
    assert smtp_once(ms, source, "guess-smtp-4-Zq", plain=True) == 535
    assert counted(ms.read_log("smtpd"), source)[-1] == ("fail", 1)
    st = os.stat(os.path.join(ms.state_dir, "auth-throttle"))
    assert stat.S_IMODE(st.st_mode) == 0o600
