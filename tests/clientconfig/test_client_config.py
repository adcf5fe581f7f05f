"""`letterbox client-config thunderbird | outlook | manual`: the files mail clients read to
set up the owner's account, and the text for setting it up by hand.

- Thunderbird's config-v1.1.xml is parsed with xml.etree and every field compared with
  the configuration it came from (several: all listeners, implicit TLS only, STARTTLS
  only on odd ports, one port bound twice, loopback-only listeners), then checked
  against what Thunderbird's own reader requires (thunderbird_accepts below follows
  readFromXML.sys.mjs of the installed Thunderbird, read from its omni.ja).
- Outlook's Autodiscover response: the two namespaces exactly, AccountType/Action,
  one POP3 and one SMTP Protocol, SPA off, the TLS kind in Encryption.
- Names that would need escaping: a hostname with "&" in the configuration is refused
  by the configuration check, --host with markup is refused, and a local part with
  "&" and "'" (legal atext) comes back intact through an XML parser.
- Against the real daemons (root, PAM test account): every server entry of both files
  is a working endpoint of the kind it names (TLS from the first byte, or STLS /
  STARTTLS offered in the clear), and every user name the manual text lists, and
  Outlook's LoginName, logs in with an app password made as the text says.
"""
import base64
import re
import socket
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import CLI, client_tls_context

EX_USAGE, EX_CONFIG = 64, 78
AD_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OL_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def write_conf(tmp_path, *lines, name="letterbox.conf"):
    base = ["hostname mail.example.org", "domains example.org example.net",
            "local_parts alice postmaster", f"maildir {tmp_path}/Maildir",
            "smtp_listen 0.0.0.0:25"]
    path = tmp_path / name
    path.write_text("\n".join(base + list(lines)) + "\n")
    return str(path)


def tls_lines(tls_files):
    return [f"tls_cert {tls_files[0]}", f"tls_key {tls_files[1]}"]


def run(conf, *args):
    return subprocess.run([CLI, "-f", conf, "client-config", *args], capture_output=True,
                          text=True)


def ok(conf, *args):
    r = run(conf, *args)
    assert r.returncode == 0, r.stderr
    return r


# --- what Thunderbird reads -----------------------------------------------------------

HOST_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                     r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
IN_AUTH = {"password-cleartext", "plain", "password-encrypted", "secure", "GSSAPI",
           "NTLM", "OAuth2"}
OUT_AUTH = IN_AUTH | {"none", "client-IP-address", "smtp-after-pop"}


def thunderbird_accepts(root):
    """What readFromXML (Thunderbird 153, modules/accountcreation/readFromXML.sys.mjs)
    throws on: no clientConfig/emailProvider; no valid <domain>; no incomingServer
    whose type is known and that has a hostname, a port in 1..65535, a username, a
    socketType of plain|SSL|STARTTLS and a known authentication; the same for an
    outgoingServer of type smtp. A first one that fails is skipped silently, so this
    checks every one: a bad alternative would be a bug too."""
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    prov = root.find("emailProvider")
    assert prov is not None and HOST_RE.match(prov.get("id") or "")
    assert prov.findall("domain") and all(HOST_RE.match(d.text) for d in prov.findall("domain"))
    for kind, types, auths in (("incomingServer", {"pop3", "imap"}, IN_AUTH),
                               ("outgoingServer", {"smtp"}, OUT_AUTH)):
        servers = prov.findall(kind)
        assert servers, kind
        for s in servers:
            assert s.get("type") in types
            host = s.findtext("hostname")
            assert host and (HOST_RE.match(host) or host in ("127.0.0.1", "::1")), host
            assert 1 <= int(s.findtext("port")) <= 65535
            assert s.findtext("socketType") in ("plain", "SSL", "STARTTLS")
            assert s.findtext("authentication") in auths
            assert s.findtext("username")


def servers(root, kind):
    """[(type, hostname, port, socketType)] of the incoming or outgoing servers."""
    return [(s.get("type"), s.findtext("hostname"), int(s.findtext("port")),
             s.findtext("socketType")) for s in root.find("emailProvider").findall(kind)]


def tb_xml(conf, *args):
    root = ET.fromstring(ok(conf, "thunderbird", *args).stdout)
    thunderbird_accepts(root)
    return root


def test_thunderbird_all_listeners(tmp_path, tls_files):
    conf = write_conf(tmp_path, *tls_lines(tls_files),
                      "submission_listen 0.0.0.0:587", "submissions_listen 0.0.0.0:465",
                      "pop3_listen 0.0.0.0:110", "pop3s_listen 0.0.0.0:995")
    r = ok(conf, "thunderbird")
    assert r.stdout.startswith('<?xml version="1.0" encoding="UTF-8"?>\n')
    assert r.stderr == ""           # nothing is loopback-only
    root = ET.fromstring(r.stdout)
    thunderbird_accepts(root)
    prov = root.find("emailProvider")
    assert prov.get("id") == "example.org"
    assert [d.text for d in prov.findall("domain")] == ["example.org", "example.net"]
    assert prov.findtext("displayName") and prov.findtext("displayShortName") == "example.org"
    # Implicit TLS first (RFC 8314), then STARTTLS; Thunderbird takes the first and
    # offers the others as alternatives.
    assert servers(root, "incomingServer") == [("pop3", "mail.example.org", 995, "SSL"),
                                               ("pop3", "mail.example.org", 110, "STARTTLS")]
    assert servers(root, "outgoingServer") == [("smtp", "mail.example.org", 465, "SSL"),
                                               ("smtp", "mail.example.org", 587, "STARTTLS")]
    for s in prov.findall("incomingServer") + prov.findall("outgoingServer"):
        # Any of the owner's addresses is a login (auth/verify.c): the one typed in.
        assert s.findtext("username") == "%EMAILADDRESS%"
        assert s.findtext("authentication") == "password-cleartext"
    for s in prov.findall("incomingServer"):
        assert s.findtext("pop3/leaveMessagesOnServer") == "true"
        assert s.findtext("pop3/daysToLeaveMessagesOnServer") == "14"
    assert root.find("clientConfigUpdate").get("url") == \
        "https://autoconfig.example.org/mail/config-v1.1.xml"
    # Port 25 (the MX) is never offered: it takes no AUTH.
    assert "<port>25<" not in r.stdout
    assert [c.tag for c in root] == ["emailProvider", "clientConfigUpdate"]


def test_thunderbird_implicit_tls_only(tmp_path, tls_files):
    conf = write_conf(tmp_path, *tls_lines(tls_files),
                      "submissions_listen 0.0.0.0:465", "submissions_listen [::]:465",
                      "pop3s_listen 0.0.0.0:995", "pop3s_listen [::]:995")
    root = tb_xml(conf)
    # One entry per port, however many addresses it is bound on.
    assert servers(root, "incomingServer") == [("pop3", "mail.example.org", 995, "SSL")]
    assert servers(root, "outgoingServer") == [("smtp", "mail.example.org", 465, "SSL")]


def test_thunderbird_starttls_odd_ports_and_host(tmp_path, tls_files):
    conf = write_conf(tmp_path, *tls_lines(tls_files),
                      "submission_listen 192.0.2.7:2587", "pop3_listen [2001:db8::7]:2110",
                      "pop3_listen 192.0.2.7:2111")
    root = tb_xml(conf, "--host", "Mail.Example.NET")
    assert servers(root, "incomingServer") == [("pop3", "Mail.Example.NET", 2110, "STARTTLS"),
                                               ("pop3", "Mail.Example.NET", 2111, "STARTTLS")]
    assert servers(root, "outgoingServer") == [("smtp", "Mail.Example.NET", 2587, "STARTTLS")]
    # An IP literal is a host Thunderbird takes too.
    root = tb_xml(conf, "--host", "192.0.2.7")
    assert {s[1] for s in servers(root, "incomingServer")} == {"192.0.2.7"}


def test_loopback_only_listeners_are_offered_with_a_warning(tmp_path, tls_files):
    """make run and the tests listen on 127.0.0.1: offered, but the administrator is
    told that no other machine can reach them."""
    conf = write_conf(tmp_path, *tls_lines(tls_files),
                      "submission_listen 127.0.0.1:10587", "pop3s_listen 127.0.0.1:10995",
                      "pop3s_listen 0.0.0.0:995")
    r = ok(conf, "thunderbird")
    root = ET.fromstring(r.stdout)
    assert [s[2] for s in servers(root, "incomingServer")] == [10995, 995]
    assert "POP3 port 10995 listens on loopback only" in r.stderr
    assert "submission port 10587 listens on loopback only" in r.stderr
    assert "port 995 " not in r.stderr
    assert "(loopback only)" in ok(conf, "manual").stdout


def test_missing_servers_refused(tmp_path, tls_files):
    # No certificate: a plain POP3 listener cannot offer STLS, so it is not offered
    # (logins only inside TLS), and there is no submission without a certificate.
    conf = write_conf(tmp_path, "pop3_listen 0.0.0.0:110")
    for kind in ("thunderbird", "outlook"):
        r = run(conf, kind)
        assert r.returncode == EX_CONFIG and r.stdout == "", r
        assert "nothing to fetch mail from" in r.stderr
    r = ok(conf, "manual")
    assert r.stdout.count("none configured") == 2, r.stdout
    # POP3 but no submission.
    conf = write_conf(tmp_path, *tls_lines(tls_files), "pop3s_listen 0.0.0.0:995",
                      name="b.conf")
    r = run(conf, "thunderbird")
    assert r.returncode == EX_CONFIG and r.stdout == ""
    assert "nothing to send mail through" in r.stderr


# --- names that would need escaping -----------------------------------------------------

def test_odd_hostnames_refused(tmp_path, tls_files):
    listeners = ["submissions_listen 0.0.0.0:465", "pop3s_listen 0.0.0.0:995"]
    conf = write_conf(tmp_path, *tls_lines(tls_files), *listeners)
    for bad in ['mail"><x a="', "a&b.example", "a<b", "-a.example", "a..b", "a b", "",
                "mail.example.org\n"]:
        for kind in ("thunderbird", "outlook", "manual"):
            r = run(conf, kind, "--host", bad)
            assert r.returncode == EX_USAGE and r.stdout == "", (bad, r)
    # In the configuration, the configuration check refuses it before anything runs.
    path = tmp_path / "bad.conf"
    path.write_text(open(conf).read().replace("hostname mail.example.org",
                                              "hostname mail&x.example.org"))
    r = run(str(path), "thunderbird")
    assert r.returncode == EX_CONFIG and r.stdout == ""
    assert "is not a valid host name" in r.stderr


def test_odd_local_part_escaped(tmp_path, tls_files):
    """RFC 5322 atext allows & and ' in a local part (settings accepts them): they are
    escaped, and an XML parser gives back exactly the address."""
    lp = "o'brien&co"
    conf = write_conf(tmp_path, *tls_lines(tls_files), "submissions_listen 0.0.0.0:465",
                      "pop3s_listen 0.0.0.0:995")
    path = tmp_path / "odd.conf"
    path.write_text(open(conf).read().replace("local_parts alice postmaster",
                                              f"local_parts {lp}"))
    r = ok(str(path), "outlook")
    assert "o&apos;brien&amp;co@example.org" in r.stdout
    root = ET.fromstring(r.stdout)
    logins = [e.text for e in root.iter(f"{{{OL_NS}}}LoginName")]
    assert logins == [f"{lp}@example.org"] * 2
    r = ok(str(path), "outlook", "O'Brien&Co@Example.NET")
    assert [e.text for e in ET.fromstring(r.stdout).iter(f"{{{OL_NS}}}LoginName")] == \
        ["O'Brien&Co@Example.NET"] * 2
    tb_xml(str(path))
    assert f"{lp}@example.org" in ok(str(path), "manual").stdout


# --- what Outlook reads -----------------------------------------------------------------

def protocols(root):
    acct = root.find(f"{{{OL_NS}}}Response/{{{OL_NS}}}Account")
    return acct, acct.findall(f"{{{OL_NS}}}Protocol")


def field(p, name):
    return p.findtext(f"{{{OL_NS}}}{name}")


@pytest.mark.parametrize("implicit", [True, False])
def test_outlook(tmp_path, tls_files, implicit):
    lines = (["submissions_listen 0.0.0.0:465", "pop3s_listen 0.0.0.0:995",
              "submission_listen 0.0.0.0:587", "pop3_listen 0.0.0.0:110"] if implicit else
             ["submission_listen 0.0.0.0:2587", "pop3_listen 0.0.0.0:2110"])
    conf = write_conf(tmp_path, *tls_lines(tls_files), *lines)
    r = ok(conf, "outlook")
    assert r.stdout.startswith('<?xml version="1.0" encoding="utf-8"?>\n')
    # The namespaces exactly: the outer one of every Autodiscover response, the inner
    # one the "outlook" response schema Outlook asks for (AcceptableResponseSchema).
    assert f'<Autodiscover xmlns="{AD_NS}">' in r.stdout
    assert f'<Response xmlns="{OL_NS}">' in r.stdout
    root = ET.fromstring(r.stdout)
    assert root.tag == f"{{{AD_NS}}}Autodiscover"
    assert [c.tag for c in root] == [f"{{{OL_NS}}}Response"]
    acct, protos = protocols(root)
    assert field(acct, "AccountType") == "email" and field(acct, "Action") == "settings"
    # One POP3 and one SMTP, the preferred of each.
    assert [field(p, "Type") for p in protos] == ["POP3", "SMTP"]
    want_ports = (995, 465) if implicit else (2110, 2587)
    for p, port in zip(protos, want_ports):
        assert field(p, "Server") == "mail.example.org"
        assert int(field(p, "Port")) == port
        assert field(p, "LoginName") == "alice@example.org"
        assert field(p, "SPA") == "off"       # default on = NTLM, which we never offer
        assert field(p, "SSL") == "on"
        assert field(p, "Encryption") == ("SSL" if implicit else "TLS")
        assert field(p, "AuthRequired") == "on"
        assert field(p, "DomainRequired") == "off"
    assert field(protos[1], "UsePOPAuth") == "on"
    assert field(protos[1], "SMTPLast") == "off"
    assert field(protos[0], "UsePOPAuth") is None


def test_outlook_email_argument(tmp_path, tls_files):
    conf = write_conf(tmp_path, *tls_lines(tls_files), "submissions_listen 0.0.0.0:465",
                      "pop3s_listen 0.0.0.0:995")
    root = ET.fromstring(ok(conf, "outlook", "--host", "mx.example.net",
                            "postmaster@example.net").stdout)
    _, protos = protocols(root)
    assert [field(p, "LoginName") for p in protos] == ["postmaster@example.net"] * 2
    assert [field(p, "Server") for p in protos] == ["mx.example.net"] * 2
    # Not an address of the owner: the server would refuse the login, so no file.
    for bad in ("bob@example.org", "alice@example.com", "alice+tag@example.org", "alice@"):
        r = run(conf, "outlook", bad)
        assert r.returncode == EX_USAGE and r.stdout == "", (bad, r)
        assert "not one of the owner's addresses" in r.stderr
    # Only outlook takes an address; and one at most.
    assert run(conf, "thunderbird", "alice@example.org").returncode == EX_USAGE
    assert run(conf, "outlook", "alice@example.org", "alice@example.net").returncode == EX_USAGE
    assert run(conf, "mutt").returncode == EX_USAGE
    assert run(conf, "outlook", "--host").returncode == EX_USAGE


# --- the manual text ----------------------------------------------------------------------

def test_manual(tmp_path, tls_files):
    conf = write_conf(tmp_path, *tls_lines(tls_files), "user nobody",
                      "submission_listen 0.0.0.0:587", "submissions_listen 0.0.0.0:465",
                      "pop3_listen 0.0.0.0:110", "pop3s_listen 0.0.0.0:995")
    out = ok(conf, "manual").stdout
    pop3, smtp = out.split("Incoming mail: POP3\n")[1].split("Outgoing mail: SMTP submission\n")
    smtp, rest = smtp.split("User name\n")
    for part, first, second in ((pop3, "995", "110"), (smtp, "465", "587")):
        assert "server          mail.example.org" in part
        assert re.search(rf"port {first} +SSL/TLS .*preferred", part), part
        assert re.search(rf"port {second} +STARTTLS$", part, re.M), part
        assert part.index(f"port {first}") < part.index(f"port {second}")
        assert "SPA off" in part and "Normal password" in part
    assert rest.splitlines()[0] == "  alice@example.org"
    assert "example.net" in rest and 'account name "nobody"' in rest
    assert "letterbox passwd add" in rest
    assert "only accepted inside TLS" in rest


# --- against the real daemons ---------------------------------------------------------------

def endpoint_works(port, socket_type, user, password):
    """Connect as a client configured with (port, socketType) would, and log in."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        if socket_type == "SSL":        # TLS from the first byte
            s = client_tls_context().wrap_socket(s, server_hostname="localhost")
            f = s.makefile("rwb")
            greeting = f.readline()
        else:                           # the clear first, then STLS / STARTTLS
            f = s.makefile("rwb")
            greeting = f.readline()
        pop3 = greeting.startswith(b"+OK")
        if socket_type == "STARTTLS":
            f.write(b"STLS\r\n" if pop3 else b"EHLO client.example\r\n")
            f.flush()
            if not pop3:
                lines = [f.readline()]
                while lines[-1][3:4] == b"-":
                    lines.append(f.readline())
                assert any(b"STARTTLS" in l for l in lines), lines
                f.write(b"STARTTLS\r\n")
                f.flush()
            assert f.readline()[:3] in (b"+OK", b"220")
            s = client_tls_context().wrap_socket(s, server_hostname="localhost")
            f = s.makefile("rwb")
        if pop3:
            for line, want in ((f"USER {user}", b"+OK"), (f"PASS {password}", b"+OK")):
                f.write(line.encode() + b"\r\n")
                f.flush()
                reply = f.readline()
                assert reply.startswith(want), (user, reply)
        else:
            assert greeting.startswith(b"220") or socket_type == "STARTTLS"
            f.write(b"EHLO client.example\r\n")
            f.flush()
            while f.readline()[3:4] == b"-":
                pass
            cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
            f.write(f"AUTH PLAIN {cred}\r\n".encode())
            f.flush()
            reply = f.readline()
            assert reply.startswith(b"235"), (user, reply)
        # QUIT and its reply: the POP3 maildrop lock is free before the next login.
        f.write(b"QUIT\r\n")
        f.flush()
        assert f.readline()[:3] in (b"+OK", b"221")
        return True
    finally:
        s.close()


def test_every_entry_is_a_working_endpoint(mailsys):
    """Both files generated from a running system's own configuration: every server
    they name answers in the TLS mode they say, and takes the login they give (the
    owner's address for %EMAILADDRESS%) with an app password made as the manual says."""
    password = mailsys.add_app_password("laptop")
    r = mailsys.cli("client-config", "thunderbird", "--host", "127.0.0.1")
    root = ET.fromstring(r.stdout)
    thunderbird_accepts(root)
    ins, outs = servers(root, "incomingServer"), servers(root, "outgoingServer")
    assert [(p, t) for _, _, p, t in ins] == [(mailsys.pop3s_port, "SSL"),
                                             (mailsys.pop3_port, "STARTTLS")]
    assert [(p, t) for _, _, p, t in outs] == [(mailsys.subs_port, "SSL"),
                                              (mailsys.sub_port, "STARTTLS")]
    # The test system listens on 127.0.0.1: said, for every port.
    assert r.stderr.count("listens on loopback only") == 4, r.stderr
    for _, host, port, kind in ins + outs:
        assert host == "127.0.0.1"
        assert endpoint_works(port, kind, "alice@example.test", password)

    root = ET.fromstring(mailsys.cli("client-config", "outlook", "--host", "127.0.0.1").stdout)
    _, protos = protocols(root)
    for p in protos:
        kind = "SSL" if field(p, "Encryption") == "SSL" else "STARTTLS"
        assert endpoint_works(int(field(p, "Port")), kind, field(p, "LoginName"), password)
    auth = [l for l in mailsys.read_log().splitlines() + mailsys.read_log("smtpd").splitlines()
            if "auth result=" in l]
    assert auth and all("auth result=ok" in l and 'via="app:laptop"' in l for l in auth), auth


def test_manual_user_names_log_in(mailsys):
    """Every user name the manual lists is one the auth process takes."""
    out = mailsys.cli("client-config", "manual").stdout
    block = out.split("User name\n")[1].split("\n\n")[0]
    names = re.findall(r"[^\s,:\"]+@[^\s,\"]+", block) + re.findall(r'account name "([^"]+)"',
                                                                    block)
    assert "alice@example.test" in names and mailsys.user in names, block
    assert len(names) == 5, names   # the address, the 3 others, the account
    password = mailsys.add_app_password("phone")
    for name in names:
        assert endpoint_works(mailsys.pop3s_port, "SSL", name, password)
