#!/usr/bin/python3
"""A receiving SMTP server for the outbound tests (aiosmtpd, python3-aiosmtpd): the
remote MX or smarthost that letterbox-smtpd's queue delivers to.

    python3 sink.py --port N --dir D [--tempfail-first K] [--reject RCPT,...]
        [--reject-data] [--delay-data SECONDS [--delay-first K]]
        [--tls-cert C --tls-key K [--implicit-tls] [--require-auth-login USER:PASS]]

Each accepted message is written as D/<n>.eml (the bytes as received, CRLF) and then
D/<n>.json ({"mail_from", "rcpt_tos", "peer", "auth_user", "tls", "n"}); the .json
file appears last and whole (written and renamed), so a test waits for it. Every
transaction's outcome is also one line of D/events.log ("accepted 1", "tempfail",
"rejected-data", "rcpt-rejected ADDR", "auth-ok USER", "auth-fail USER").

--tempfail-first K    the first K transactions get 451 4.3.0 at the end of DATA
--reject A,B          RCPT TO those addresses gets 550 5.1.1
--reject-data         every message gets 554 5.7.1 at the end of DATA
--delay-data S        wait S seconds before answering the end of DATA (a slow server),
                      for the first K transactions with --delay-first K (default all)
--tls-cert/--tls-key  offer STARTTLS with this certificate
--implicit-tls        TLS from the first byte instead (RFC 8314), needs the certificate
--require-auth-login USER:PASS   offer AUTH LOGIN only, only inside TLS, and refuse
                      MAIL without it (530 5.7.0)

Prints "ready" on stdout once listening; stops on SIGTERM or SIGINT. No DNS is ever
asked (the host names are given).
"""
import argparse
import asyncio
import json
import os
import signal
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class Handler:
    def __init__(self, args):
        self.dir = args.dir
        self.tempfail_left = args.tempfail_first
        self.reject = {a.strip().lower() for a in (args.reject or "").split(",")
                       if a.strip()}
        self.reject_data = args.reject_data
        self.delay = args.delay_data
        self.delay_left = args.delay_first
        self.user = self.password = None
        if args.require_auth_login:
            self.user, self.password = args.require_auth_login.split(":", 1)
        self.count = 0

    def event(self, line):
        with open(os.path.join(self.dir, "events.log"), "a") as f:
            f.write(line + "\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            self.event(f"rcpt-rejected {address}")
            return "550 5.1.1 <%s>: Recipient address rejected: no such user" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        if self.delay > 0 and (self.delay_left is None or self.delay_left > 0):
            if self.delay_left is not None:
                self.delay_left -= 1
            self.event("delaying")
            await asyncio.sleep(self.delay)
        if self.tempfail_left > 0:
            self.tempfail_left -= 1
            self.event("tempfail")
            return "451 4.3.0 Error: try again later (sink --tempfail-first)"
        if self.reject_data:
            self.event("rejected-data")
            return "554 5.7.1 Error: message refused (sink --reject-data)"
        self.count += 1
        n = self.count
        base = os.path.join(self.dir, str(n))
        with open(base + ".eml", "wb") as f:
            f.write(envelope.original_content)
        auth = session.auth_data
        info = {
            "n": n,
            "mail_from": envelope.mail_from,
            "mail_options": list(envelope.mail_options),
            "rcpt_tos": list(envelope.rcpt_tos),
            "peer": list(session.peer) if session.peer else None,
            "helo": session.host_name,
            "auth_user": auth.login.decode() if auth is not None and
            getattr(auth, "login", None) is not None else None,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(info, f)
        os.rename(base + ".json.tmp", base + ".json")
        self.event(f"accepted {n}")
        return f"250 2.0.0 Ok: queued as sink-{n}"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        ok = (mechanism == "LOGIN" and login == self.user and
              auth_data.password.decode("utf-8", "replace") == self.password)
        self.event(f"auth-{'ok' if ok else 'fail'} {login}")
        # handled=False: aiosmtpd answers a failure itself (535 5.7.8).
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tempfail-first", type=int, default=0)
    p.add_argument("--reject", default="")
    p.add_argument("--reject-data", action="store_true")
    p.add_argument("--delay-data", type=float, default=0)
    p.add_argument("--delay-first", type=int, default=None)
    p.add_argument("--require-auth-login", metavar="USER:PASS")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--implicit-tls", action="store_true")
    args = p.parse_args()
    if (args.implicit_tls or args.require_auth_login) and not args.tls_cert:
        p.error("--implicit-tls and --require-auth-login need --tls-cert and --tls-key")
    os.makedirs(args.dir, exist_ok=True)

    handler = Handler(args)
    kw = {}
    if args.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.implicit_tls:
            kw["ssl_context"] = ctx
        else:
            kw["tls_context"] = ctx
    if args.require_auth_login:
        kw.update(authenticator=handler.authenticator, auth_required=True,
                  auth_exclude_mechanism=["PLAIN"],
                  # aiosmtpd only knows of STARTTLS: over implicit TLS the whole
                  # connection is already encrypted.
                  auth_require_tls=not args.implicit_tls)
    # server_hostname: aiosmtpd would otherwise ask DNS for this host's FQDN.
    controller = Controller(handler, hostname="127.0.0.1", port=args.port,
                            server_hostname="sink.example.test", **kw)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    try:
        controller.start()
    except Exception as e:      # e.g. the port was taken: the fixture tries another
        print(f"cannot start: {e!r}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
