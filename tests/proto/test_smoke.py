"""The shortest path: one message in, one file in new/ with trace headers."""
from conftest import greet, message, send_mail, RCPT


def test_one_message_lands_in_new(server, connect):
    c = connect(server.port)
    greet(c)
    code, text = send_mail(c, message("smoke"))
    assert code == 250, text
    files = server.messages("new")
    assert len(files) == 1
    data = open(files[0], "rb").read()
    assert data.startswith(b"Return-Path: <sender@example.net>\r\nReceived: from client.example.net ([127.0.0.1])")
    assert f"for <{RCPT}>".encode() in data
    assert data.endswith(b"\r\nHello.\r\n")
    assert files[0].endswith(",S=%d" % len(data))
    assert c.cmd("QUIT")[0] == 221
