"""A real Thunderbird (headless, over Marionette) sets up the owner's account from what
`letterbox client-config` generates, then fetches and sends mail with it.

Thunderbird's account hub looks up https://autoconfig.<domain>/mail/config-v1.1.xml (and
the .well-known and plain-http variants) and, for Outlook's format, POSTs to
autodiscover.<domain>/autodiscover/autodiscover.xml. Here a small HTTP proxy on
127.0.0.1 (Thunderbird's network.proxy.* prefs point at it, so no name is looked up in
DNS) answers those URLs with the generated files, and refuses CONNECT, so only the
plain-http URLs succeed (mailnews.auto_config.fetchFromISP.sslOnly is off, its default
in Thunderbird 153). Thunderbird's own code does the rest, as the account hub does
(views/email.mjs): FetchConfig.fromISP (fetch, DOMParser, readFromXML),
AccountConfig.replaceVariables (%EMAILADDRESS% becomes the address typed in), and
CreateInBackend.createAccountInBackend.
The account it made must then fetch (POP3 with implicit TLS, the file's first choice,
leaving the mail on the server as the file says) and send (submission with implicit
TLS) with an app password, against the real daemons.

Thunderbird also reads Outlook's Autodiscover response (ExchangeAutoDiscover.sys.mjs,
fetchConfigFromExchange): the generated autodiscover.xml must give it the same POP3
and SMTP servers with "normal password" (SPA off). That function also asks DNS for
_autodiscover._tcp.<domain> SRV records through the system's resolver; tests never ask
it, so that one call is replaced by a refusal in Thunderbird before the lookup runs.

The shared harness (../shared/thunderbird, README.md there) provides the prefs that
keep Thunderbird off the network, the Marionette client, the fetch and send scripts and
the socket audit (every peer of Thunderbird's processes must be a loopback address).
"""
import base64
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "clients"))
from headless_tb import TIMEOUT, HeadlessThunderbird, tb_harness  # noqa: E402

DOMAIN = "example.test"
ADDRESS = f"alice@{DOMAIN}"
AUTOCONFIG_URL = f"http://autoconfig.{DOMAIN}/mail/config-v1.1.xml"
AUTODISCOVER_URL = f"http://autodiscover.{DOMAIN}/autodiscover/autodiscover.xml"


class Publisher(ThreadingHTTPServer):
    """The web server of autoconfig.<domain> and autodiscover.<domain>, reached as
    Thunderbird's HTTP proxy: it sees the absolute URL of each request."""
    daemon_threads = True

    def __init__(self, files):
        self.files = files          # (method, url) -> (content type, bytes)
        self.requests = []          # (method, url, body)
        super().__init__(("127.0.0.1", 0), PublisherHandler)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.shutdown()
        self.server_close()


class PublisherHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, method):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        self.server.requests.append((method, self.path, body))
        url = self.path.split("?", 1)[0]
        if (method, url) not in self.server.files:
            self.send_error(404)
            return
        ctype, data = self.server.files[(method, url)]
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")

    def do_CONNECT(self):           # the https:// URLs: no TLS to give here
        self.server.requests.append(("CONNECT", self.path, b""))
        self.send_error(403)


EXTRA_PREFS = """
user_pref("mailnews.auto_config.fetchFromISP.enabled", true);
user_pref("mailnews.auto_config.fetchFromISP.sslOnly", false);
user_pref("mailnews.auto_config.fetchFromExchange.enabled", true);
user_pref("network.proxy.type", 1);
user_pref("network.proxy.http", "127.0.0.1");
user_pref("network.proxy.http_port", {pport});
user_pref("network.proxy.ssl", "127.0.0.1");
user_pref("network.proxy.ssl_port", {pport});
user_pref("network.proxy.no_proxies_on", "");
user_pref("network.proxy.allow_hijacking_localhost", true);
"""

JS_DESCRIBE = """
function describe(c) {
  const srv = s => ({type: s.type, hostname: s.hostname, port: s.port,
                     socketType: s.socketType, auth: s.auth, username: s.username,
                     leave: s.leaveMessagesOnServer, days: s.daysToLeaveMessagesOnServer});
  return {subSource: c.subSource, incoming: srv(c.incoming),
          incomingAlternatives: c.incomingAlternatives.map(srv),
          outgoing: srv(c.outgoing), outgoingAlternatives: c.outgoingAlternatives.map(srv),
          SSL: Ci.nsMsgSocketType.SSL, STARTTLS: Ci.nsMsgSocketType.alwaysSTARTTLS,
          cleartext: Ci.nsMsgAuthMethod.passwordCleartext};
}
"""

# Autoconfig as the account hub does it, then the account made from it.
JS_AUTOCONFIG = """
const resolve = arguments[arguments.length - 1];
const [cfg] = arguments;
const { MailServices } = ChromeUtils.importESModule("resource:///modules/MailServices.sys.mjs");
const { FetchConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/FetchConfig.sys.mjs");
const { AccountConfig } = ChromeUtils.importESModule("resource:///modules/accountcreation/AccountConfig.sys.mjs");
const { CreateInBackend } = ChromeUtils.importESModule("resource:///modules/accountcreation/CreateInBackend.sys.mjs");
""" + JS_DESCRIBE + """
(async () => {
  Services.io.offline = false;
  const certdb = Cc["@mozilla.org/security/x509certdb;1"].getService(Ci.nsIX509CertDB);
  const overrides = Cc["@mozilla.org/security/certoverride;1"].getService(Ci.nsICertOverrideService);
  for (const o of cfg.overrides) {
    overrides.rememberValidityOverride(o.host, o.port, {},
                                       certdb.constructX509FromBase64(o.der_b64), false);
  }
  let haveLocal = false;
  try { haveLocal = !!MailServices.accounts.localFoldersServer; } catch (e) {}
  if (!haveLocal) {
    MailServices.accounts.createLocalMailAccount();
  }
  const config = await FetchConfig.fromISP(cfg.domain, cfg.address,
                                           AbortSignal.timeout(cfg.timeout_ms));
  const found = describe(config);
  AccountConfig.replaceVariables(config, "Alice", cfg.address, cfg.password);
  const account = await CreateInBackend.createAccountInBackend(config);
  MailServices.accounts.defaultAccount = account;
  const inServer = account.incomingServer;
  inServer.doBiff = false;      // no fetch of its own in the middle of the test
  const pop = inServer.QueryInterface(Ci.nsIPop3IncomingServer);
  const out = MailServices.outgoingServer.getServerByIdentity(account.defaultIdentity);
  const smtp = out.QueryInterface(Ci.nsISmtpServer);
  return {ok: true, found,
          incoming: {username: inServer.username, hostName: inServer.hostname,
                     port: inServer.port, socketType: inServer.socketType,
                     authMethod: inServer.authMethod, leave: pop.leaveMessagesOnServer,
                     days: pop.numDaysToLeaveOnServer},
          outgoing: {username: out.username, hostname: smtp.hostname, port: smtp.port,
                     socketType: out.socketType, authMethod: out.authMethod},
          identity: account.defaultIdentity.email};
})().then(resolve, e => resolve({ok: false, error: String(e), stack: e.stack}));
"""

# Outlook's file, through Thunderbird's Autodiscover reader.
JS_AUTODISCOVER = """
const resolve = arguments[arguments.length - 1];
const [cfg] = arguments;
const { DNS } = ChromeUtils.importESModule("resource:///modules/DNS.sys.mjs");
const { fetchConfigFromExchange } = ChromeUtils.importESModule("resource:///modules/accountcreation/ExchangeAutoDiscover.sys.mjs");
""" + JS_DESCRIBE + """
// No DNS look-up from a test: the SRV query is refused before it is made.
DNS.srv = async name => { throw new Error("no SRV look-up in tests: " + name); };
fetchConfigFromExchange(cfg.domain, cfg.address, AbortSignal.timeout(cfg.timeout_ms),
                        null, cfg.password,
                        () => Promise.reject(new Error("no redirect expected")))
  .then(c => resolve({ok: true, found: describe(c)}),
        e => resolve({ok: false, error: String(e), stack: e.stack}));
"""


class Thunderbird(HeadlessThunderbird):
    """Thunderbird with the publisher as its HTTP proxy (EXTRA_PREFS)."""

    def __init__(self, tmp_path, publisher):
        super().__init__(tmp_path, EXTRA_PREFS.replace("{pport}",
                                                       str(publisher.server_address[1])))


def wait_for(pred, what, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_thunderbird_sets_up_from_the_generated_files(mailsys, tmp_path, tls_files):
    tb_harness()        # skips, saying why, where there is no Thunderbird
    password = mailsys.add_app_password("thunderbird")
    tb_xml = mailsys.cli("client-config", "thunderbird", "--host", "127.0.0.1").stdout
    ol_xml = mailsys.cli("client-config", "outlook", "--host", "127.0.0.1").stdout
    publisher = Publisher({("GET", AUTOCONFIG_URL): ("application/xml", tb_xml.encode()),
                           ("POST", AUTODISCOVER_URL): ("text/xml", ol_xml.encode())})
    subjects = mailsys.deliver(count=2, subject="autoconfig")
    with open(tls_files[0]) as f:
        der = base64.b64encode(ssl.PEM_cert_to_DER_cert(f.read())).decode()
    cfg = {"domain": DOMAIN, "address": ADDRESS, "password": password,
           "user": ADDRESS, "host": "127.0.0.1", "timeout_ms": TIMEOUT * 1000,
           "overrides": [{"host": "127.0.0.1", "port": p, "der_b64": der}
                         for p in (mailsys.pop3s_port, mailsys.subs_port)]}
    t = Thunderbird(tmp_path, publisher)
    try:
        r = t.run(JS_AUTOCONFIG, cfg)
        assert r.get("ok"), r
        found = r["found"]
        # Read from the plain-http autoconfig URL (https was refused at the proxy).
        assert found["subSource"] == "xml-from-isp-http", found
        gets = [u for m, u, _ in publisher.requests if m == "GET"]
        assert any(u == f"{AUTOCONFIG_URL}?emailaddress=alice%40example.test" for u in gets), \
            publisher.requests
        SSL, STARTTLS, cleartext = found["SSL"], found["STARTTLS"], found["cleartext"]
        srv = lambda s: (s["type"], s["hostname"], s["port"], s["socketType"], s["auth"],
                         s["username"])
        assert srv(found["incoming"]) == ("pop3", "127.0.0.1", mailsys.pop3s_port, SSL,
                                          cleartext, "%EMAILADDRESS%")
        assert [srv(s) for s in found["incomingAlternatives"]] == \
            [("pop3", "127.0.0.1", mailsys.pop3_port, STARTTLS, cleartext, "%EMAILADDRESS%")]
        assert srv(found["outgoing"]) == ("smtp", "127.0.0.1", mailsys.subs_port, SSL,
                                          cleartext, "%EMAILADDRESS%")
        assert [srv(s) for s in found["outgoingAlternatives"]] == \
            [("smtp", "127.0.0.1", mailsys.sub_port, STARTTLS, cleartext, "%EMAILADDRESS%")]
        # The account Thunderbird made from it.
        assert r["incoming"] == {"username": ADDRESS, "hostName": "127.0.0.1",
                                 "port": mailsys.pop3s_port, "socketType": SSL,
                                 "authMethod": cleartext, "leave": True, "days": 14}, r
        assert r["outgoing"] == {"username": ADDRESS, "hostname": "127.0.0.1",
                                 "port": mailsys.subs_port, "socketType": SSL,
                                 "authMethod": cleartext}, r
        assert r["identity"] == ADDRESS

        # Get Messages with that account: both messages, left on the server.
        f = t.run(t.tb.JS_FETCH, cfg)
        assert f.get("ok"), f
        assert sorted(x["subject"] for x in f["messages"]) == sorted(subjects), f
        assert mailsys.messages("new") == [] and len(mailsys.messages("cur")) == 2

        # Send with it (submission, implicit TLS), to the owner: it lands in the
        # Maildir, and the next Get Messages brings it, and only it.
        s = t.run(t.tb.JS_SEND, {"to": ADDRESS, "subject": "sent by autoconfig",
                                 "body": "from the account autoconfig made",
                                 "timeout_ms": TIMEOUT * 1000})
        assert s.get("ok"), s
        wait_for(lambda: len(mailsys.messages("new")) == 1, "the sent message")
        f = t.run(t.tb.JS_FETCH, cfg)
        assert f.get("ok"), f
        assert sorted(x["subject"] for x in f["messages"]) == \
            sorted(subjects + ["sent by autoconfig"]), f
        assert len(mailsys.messages("cur")) == 3

        # Outlook's file through Thunderbird's Autodiscover reader: the same servers.
        a = t.run(JS_AUTODISCOVER, cfg)
        assert a.get("ok"), a
        posts = [(u, b) for m, u, b in publisher.requests if m == "POST"]
        assert posts and posts[-1][0] == AUTODISCOVER_URL
        assert b"<EMailAddress>alice@example.test</EMailAddress>" in posts[-1][1]
        found = a["found"]
        assert found["subSource"] == "exchange-from-url3", found
        assert srv(found["incoming"]) == ("pop3", "127.0.0.1", mailsys.pop3s_port, SSL,
                                          cleartext, ADDRESS)
        assert srv(found["outgoing"]) == ("smtp", "127.0.0.1", mailsys.subs_port, SSL,
                                          cleartext, ADDRESS)
        assert found["incomingAlternatives"] == [] and found["outgoingAlternatives"] == []
        # Nothing else was fetched over the network: only the proxy and the daemons.
        assert t.foreign_peers() == []
    finally:
        t.close()
        publisher.close()
    # The daemons' side: implicit TLS, AUTH with the app password, as the address.
    pop3d, smtpd = mailsys.read_log(), mailsys.read_log("smtpd")
    assert 'auth result=ok service=pop3' in pop3d and 'via="app:thunderbird"' in pop3d
    assert f'user="{ADDRESS}"' in pop3d
    assert 'auth result=ok service=smtp' in smtpd and 'via="app:thunderbird"' in smtpd
    assert "auth result=fail" not in pop3d + smtpd
