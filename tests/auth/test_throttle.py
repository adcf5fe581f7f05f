"""Throttling of failed logins per client address, by the real auth process: after a
failure the next attempt from that address waits (2 s, then 4, 8, 15), the same wrong
password retried by Thunderbird's PLAIN -> LOGIN -> USER/PASS counts once, other
addresses are not affected, and after 10 counted failures the address gets a
temporary error until the pause is over.

Only lower bounds of these deliberate delays are asserted (measured with a margin);
that something is not delayed is shown by the order in which logins complete.
"""
import time

from authutil import (AUTH_FAILED, LOGGED_IN, THROTTLED, Race, attempt, auth_lines,
                      authsys, connect, login, slow, timed_attempt)

FIRST_DELAY = 2.0       # throttle_delay_ms(1)
MARGIN = 0.75           # measured lower bounds: at least 3/4 of the deliberate delay


def test_failure_delays_the_next_attempt(make_mailsys):
    ms = authsys(make_mailsys)
    assert attempt(ms, "127.0.0.2", ms.user, "Wrong-pw-1a") == AUTH_FAILED
    failed_at = time.monotonic()
    # The right password, at once, from the same address: it works, after the delay.
    r, took = timed_attempt(ms, "127.0.0.2", ms.user, ms.password)
    assert r == LOGGED_IN
    assert time.monotonic() - failed_at >= FIRST_DELAY * MARGIN, took
    lines = auth_lines(ms, client="127.0.0.2")
    assert [(l["result"], l["failures"]) for l in lines] == [("fail", 1), ("ok", 0)]
    # The success cleared the address: a new failure is the first again.
    assert attempt(ms, "127.0.0.2", ms.user, "Wrong-pw-1b") == AUTH_FAILED
    assert auth_lines(ms, client="127.0.0.2")[-1]["failures"] == 1


def test_delay_applies_on_the_same_connection(make_mailsys):
    """Reconnecting or not makes no difference: the address is what counts."""
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.3")
    assert login(c, "PLAIN", ms.user, "Wrong-pw-2a") == AUTH_FAILED
    failed_at = time.monotonic()
    assert login(c, "LOGIN", ms.user, ms.password) == LOGGED_IN
    assert time.monotonic() - failed_at >= FIRST_DELAY * MARGIN
    assert c.cmd("STAT") == "+OK 0 0"


def test_thunderbird_retries_count_once(make_mailsys):
    """Thunderbird tries one password by PLAIN, then LOGIN, then USER/PASS (clients.md):
    one failure, not three, and the retries are answered at once without PAM."""
    ms = authsys(make_mailsys)
    wrong = "Thunderbird-wrong-3c"
    c = connect(ms, "127.0.0.4")
    assert login(c, "PLAIN", ms.user, wrong) == AUTH_FAILED
    failed_at = time.monotonic()
    assert login(c, "LOGIN", ms.user, wrong) == AUTH_FAILED
    assert login(c, "USER", ms.user, wrong) == AUTH_FAILED
    lines = auth_lines(ms, client="127.0.0.4")
    assert [l["mech"] for l in lines] == ["PLAIN", "LOGIN", "USER"]
    assert [l["result"] for l in lines] == ["fail"] * 3
    assert [l["failures"] for l in lines] == [1, 1, 1]
    assert lines[0]["via"].startswith("pam: ")
    assert [l["via"] for l in lines[1:]] == ["repeat of a failed password"] * 2
    # The retries did not add delay: the right password comes after the first step.
    assert login(c, "USER", ms.user, ms.password) == LOGGED_IN
    assert time.monotonic() - failed_at >= FIRST_DELAY * MARGIN
    assert auth_lines(ms, client="127.0.0.4")[-1]["result"] == "ok"
    assert wrong not in ms.read_log()


def test_another_wrong_password_counts_again(make_mailsys):
    ms = authsys(make_mailsys)
    c = connect(ms, "127.0.0.5")
    assert login(c, "USER", ms.user, "Wrong-pw-4a") == AUTH_FAILED
    t1 = time.monotonic()
    assert login(c, "USER", ms.user, "Wrong-pw-4b") == AUTH_FAILED
    t2 = time.monotonic()
    assert [l["failures"] for l in auth_lines(ms, client="127.0.0.5")] == [1, 2]
    # The second failure waited the first step; the next attempt waits the second.
    assert t2 - t1 >= FIRST_DELAY * MARGIN
    assert login(c, "USER", ms.user, ms.password) == LOGGED_IN
    assert time.monotonic() - t2 >= 4.0 * MARGIN


def test_other_addresses_are_not_delayed(make_mailsys):
    """After a failure from 127.0.0.6, logins from 127.0.0.6 and 127.0.0.7 start
    together: 127.0.0.7's completes first, 127.0.0.6's only after the delay."""
    ms = authsys(make_mailsys)
    assert attempt(ms, "127.0.0.6", ms.user, "Wrong-pw-5") == AUTH_FAILED
    failed_at = time.monotonic()
    race = Race()
    race.start("throttled", timed_attempt, ms, "127.0.0.6", ms.user, ms.password)
    race.start("other", timed_attempt, ms, "127.0.0.7", ms.user, ms.password)
    race.join()
    assert race.results["throttled"][0] == LOGGED_IN
    assert race.results["other"][0] == LOGGED_IN
    assert race.order == ["other", "throttled"], race.results
    assert time.monotonic() - failed_at >= FIRST_DELAY * MARGIN
    [other] = auth_lines(ms, client="127.0.0.7")
    assert other["result"] == "ok" and other["failures"] == 0


@slow
def test_refused_after_ten_failures_others_unaffected(make_mailsys):
    """Ten distinct wrong passwords from 127.0.0.8, each as soon as it may run: the
    eleventh attempt, even with the right password, gets [SYS/TEMP] at once, while
    127.0.0.9 still logs in. About two minutes: the delays add up to 104 s."""
    ms = authsys(make_mailsys)
    start = time.monotonic()
    for i in range(10):
        r = attempt(ms, "127.0.0.8", ms.user, f"Guess-{i}-x9")
        assert r == AUTH_FAILED, (i, r)
    elapsed = time.monotonic() - start
    fails = auth_lines(ms, client="127.0.0.8")
    assert [l["failures"] for l in fails] == list(range(1, 11))
    assert all(l["result"] == "fail" for l in fails)
    # Nine waits before attempts 2..10: 2 + 4 + 8 + 6 x 15 s.
    assert elapsed >= (2 + 4 + 8 + 6 * 15) * MARGIN, elapsed
    # Now refused, right password or not, on any mechanism.
    for mech in ("USER", "PLAIN", "LOGIN"):
        assert attempt(ms, "127.0.0.8", ms.user, ms.password, mech) == THROTTLED
    assert attempt(ms, "127.0.0.8", ms.user, "Guess-new") == THROTTLED
    refused = auth_lines(ms, client="127.0.0.8", result="throttled")
    assert len(refused) == 4
    assert all(l["failures"] == 10 and l["via"] == "too many failures" for l in refused)
    # Nobody else is affected.
    assert attempt(ms, "127.0.0.9", ms.user, ms.password) == LOGGED_IN
    assert auth_lines(ms, client="127.0.0.9")[0]["failures"] == 0
    log = ms.read_log()
    assert all(f"Guess-{i}-x9" not in log for i in range(10))
