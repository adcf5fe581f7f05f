"""accept() failing for want of descriptors (EMFILE, ENFILE), injected by the shim.

The listening socket stays readable while accept() fails, so a daemon that simply
retries spins: one poll() wake-up, one failed accept() and one log line per turn, as
fast as the CPU goes. Letterbox pauses accepting instead (lib/listener.c,
LISTENER_PAUSE_MS, OpenSMTPD's pause_accept): a handful of log lines while the fault
lasts, and the client waiting in the backlog is served once it is over.
"""
import time

import pytest

from conftest import Client, greet, send_mail, message, wait_for
from faultutil import faults, fault_server, shim  # noqa: F401 (fixtures)

WINDOW = 3.0    # seconds of failing accept(); the pause is 1 s


@pytest.mark.parametrize("err", ["EMFILE", "ENFILE"])
def test_accept_failure_pauses_instead_of_spinning(fault_server, faults, err):
    srv = fault_server()
    faults.set(f"accept4 {err} socket: 0 0")
    c = Client(srv.port, timeout=30)        # queued in the backlog, not accepted
    try:
        wait_for(lambda: faults.log("accept4"), what="the first failed accept")
        # Not a timing assertion: the window only bounds how many turns a spinning
        # loop could take; a slow machine makes fewer, never more.
        time.sleep(WINDOW)
        failed = len(faults.log("accept4"))
        logged = srv.read_log().count("pausing for")
        # A spin makes thousands of attempts in this window; a 1 s pause makes ~4.
        assert 1 <= failed <= 20, failed
        assert logged == failed
        assert srv.proc.poll() is None
        faults.clear()
        # The waiting client is accepted when the pause ends, and served.
        greet(c)            # asserts the 220 and the EHLO's 250
        code, _ = send_mail(c, message("after the pause"))
        assert code == 250
        c.cmd("QUIT")
    finally:
        c.close()
    wait_for(lambda: len(srv.messages("new")) == 1, what="the delivery")
