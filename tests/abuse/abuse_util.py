"""Small helpers shared by the abuse tests (tests/abuse only)."""
import base64
import os
import sys

from conftest import Client, greet

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "proto"))
from proto_helpers import replies_until_close  # noqa: E402,F401 (re-exported)

OWNER_ADDR = "alice@example.test"


def b64(data):
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def submission(ms, port=None, tls="starttls", source=None, timeout=10):
    """A client on a submission port of ms (587 unless port is given), EHLO done:
    tls is "none" (in the clear), "starttls" (after STARTTLS and a new EHLO) or
    "implicit" (465)."""
    c = Client(port or ms.sub_port, implicit_tls=tls == "implicit", source=source,
               timeout=timeout)
    greet(c)
    if tls == "starttls":
        assert c.cmd("STARTTLS")[0] == 220
        c.starttls()
        assert c.cmd("EHLO client.example.net")[0] == 250
    return c


def logged_in(ms, password, source=None):
    """A client on 587 after STARTTLS and AUTH PLAIN as the owner."""
    c = submission(ms, source=source)
    assert c.cmd("AUTH PLAIN " + b64(f"\0{ms.user}\0{password}"))[0] == 235
    return c


def queue_files(ms):
    """The names in <state_dir>/queue/msg and /state."""
    out = []
    for sub in ("msg", "state"):
        d = os.path.join(ms.state_dir, "queue", sub)
        if os.path.isdir(d):
            out += os.listdir(d)
    return out
