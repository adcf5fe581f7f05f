"""The POP3 path end to end: delivered by smtpd, read and deleted over POP3 with STLS."""
import os

from conftest import RCPT


def test_deliver_list_retrieve_delete(mailsys, pop3):
    subjects = mailsys.deliver(count=2)
    c = pop3(mailsys.pop3_port)
    c.stls()
    assert c.login(mailsys.user, mailsys.password) == "+OK Logged in."
    assert c.cmd("STAT").split()[:2] == ["+OK", "2"]
    assert c.cmd("RETR 1").startswith("+OK")
    body = b"\r\n".join(c.multi())
    assert subjects[0].encode() in body and RCPT.encode() in body
    assert c.cmd("DELE 1").startswith("+OK")
    assert c.cmd("QUIT").startswith("+OK")
    # The deleted one is gone; the other moved from new/ to cur/ as Dovecot expects.
    assert mailsys.messages("new") == []
    cur = mailsys.messages("cur")
    assert len(cur) == 1 and os.path.basename(cur[0]).endswith(":2,")
