"""A full disk under the Maildir (a small tmpfs mounted for the test, root only).

The message that does not fit gets 452 4.3.1 (or 451), never 250; nothing partial is
left in new/, cur/ or tmp/; every message that got a 250 is complete; once space is
freed, delivery works again on the same connection. A message larger than all the free
space is written in chunks (body > 64 KiB) and fails the same way, giving the space back.
"""
import errno
import os
import re
import subprocess

import pytest

from conftest import greet, message, send_mail, strip_trace

DISK = 2 * 1024 * 1024


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs; requested before make_server so it is unmounted after the
    server has stopped."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK},mode=0755", "tmpfs",
                        str(d)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr.strip()}")
    yield str(d)
    if subprocess.run(["umount", str(d)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(d)], check=True)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def ballast(disk, name, leave):
    """A file that fills the disk until about `leave` bytes are free (or it is full:
    the indexer may be writing at the same time)."""
    p = os.path.join(disk, name)
    with open(p, "wb", buffering=0) as f:
        try:
            while free_bytes(disk) > leave:
                f.write(b"\0" * min(64 * 1024, free_bytes(disk) - leave))
        except OSError as e:
            assert e.errno == errno.ENOSPC, e
    return p


def body(subject, size):
    line = b"Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.\r\n"
    return message(subject).encode() + line * (size // len(line))


def assert_refused_for_space(code, text):
    assert code in (452, 451), (code, text)
    if code == 452:
        assert text[0].startswith("4.3.1"), text


def assert_clean(srv, delivered):
    """new/ holds exactly the acknowledged messages, complete; cur/ and tmp/ are empty."""
    assert os.listdir(os.path.join(srv.maildir, "tmp")) == []
    assert srv.messages("cur") == []
    files = srv.messages("new")
    got = sorted(strip_trace(open(f, "rb").read()) for f in files)
    assert got == sorted(delivered)
    for f in files:
        assert f.endswith(",S=%d" % os.path.getsize(f))


@pytest.mark.parametrize("index", ["no", "yes"], ids=["no-index", "index-in-maildir"])
def test_disk_fills_up_then_recovers(small_disk, make_server, connect, index):
    # With the index on, its files share the small disk: its writes failing must never
    # make a delivery fail or leave debris, only delay the index.
    srv = make_server(maildir=os.path.join(small_disk, "Maildir"), index=index)
    spare = ballast(small_disk, "ballast", 160 * 1024)
    c = connect(srv.port)
    greet(c)
    delivered = []
    for i in range(40):            # 160 KiB can never hold 40 messages of 20 KiB
        m = body(f"fill {i}", 20 * 1024)
        code, text = send_mail(c, m)
        if code != 250:
            break
        delivered.append(m)
    else:
        pytest.fail("the disk never filled up")
    assert_refused_for_space(code, text)
    if index == "no":
        # With the index on, the indexer may take the free space first: then the
        # very first message is the one refused, which proves the same things.
        assert delivered, "not even one message fitted"
    assert_clean(srv, delivered)
    # The session survives the refusal; still full, still refused.
    code, text = send_mail(c, body("still full", 20 * 1024))
    assert_refused_for_space(code, text)
    assert_clean(srv, delivered)

    os.unlink(spare)
    m = body("after freeing space", 20 * 1024)
    code, text = send_mail(c, m)
    assert code == 250, text
    delivered.append(m)
    assert_clean(srv, delivered)
    assert c.cmd("QUIT")[0] == 221
    # The indexer may fail on the full disk, but cleanly: never killed by a signal
    # (Berkeley DB's mmap()ed region files used to give it a SIGBUS).
    for status in re.findall(r"indexer exited \(status (0x[0-9a-f]+|0)\)", srv.read_log()):
        assert int(status, 0) & 0x7f == 0, srv.read_log()


def test_message_larger_than_free_space_is_refused_in_chunks(small_disk, make_server,
                                                            connect):
    # No index on this disk, so that the free space can be compared exactly.
    srv = make_server(maildir=os.path.join(small_disk, "Maildir"), index="no")
    ballast(small_disk, "ballast", 128 * 1024)
    free = free_bytes(small_disk)
    assert 64 * 1024 < free < 200 * 1024
    c = connect(srv.port)
    greet(c)
    code, text = send_mail(c, body("too big for the disk", 3 * free))
    assert_refused_for_space(code, text)
    assert_clean(srv, [])
    assert free_bytes(small_disk) == free, "the partial file's space was not given back"
    m = body("small enough", 16 * 1024)
    code, text = send_mail(c, m)
    assert code == 250, text
    assert_clean(srv, [m])
    assert c.cmd("QUIT")[0] == 221
