/*
 * smtp_client: outbound SMTP (see smtp_client.h). One connection, one conversation,
 * every wait bounded; the queue's delivery process decides what a reply means.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "lib/log.h"
#include "lib/sasl.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "relay/smtp_client.h"

#define SMTPC_CONNECT_DEFAULT_MS	30000
#define SMTPC_COMMAND_DEFAULT_MS	300000	/* RFC 5321 §4.5.3.2.2 to .6: 5 min */
#define SMTPC_ADDR_MAX			254	/* RFC 5321 §4.5.3.1.3: path <= 256 */

/* A reply we make up: code 0 for "no reply", or a local code (553, 550). */
static void __attribute__((format(printf, 4, 5)))
reply_local(struct smtpc_reply *r, int code, const char *enhanced, const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* The conversation is lost: r gets code 0 and the reason. Always -1. */
static int __attribute__((format(printf, 3, 4)))
smtpc_broke(struct smtpc *c, struct smtpc_reply *r, const char *fmt, ...)
{
	va_list ap;

	memset(r, 0, sizeof(*r));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	if (!c->broken)
		log_info("relay=%s connection lost: %s", c->peer, r->text);
	c->broken = true;
	return -1;
}

static const char *
io_error(int e)
{
	return e == ETIMEDOUT ? "timed out" : strerror(e);
}

static void
wipe_out(struct smtpc *c)
{
	if (c->conn.out.data != NULL)
		sodium_memzero(c->conn.out.data, c->conn.out.cap);
}

/*
 * Queue one command line (CRLF added). shown is what the log gets instead of the line
 * (AUTH payloads), or NULL. A full buffer is written out first: pipelining lets the
 * client send a group in as many writes as it takes, as long as it reads no reply
 * in between (RFC 2920 §3.1).
 */
static int
smtpc_put(struct smtpc *c, struct smtpc_reply *r, const char *line, const char *shown)
{
	char esc[256];
	size_t n = strlen(line);

	log_debug("relay=%s > %s", c->peer, shown != NULL ? shown :
	    log_escape(esc, sizeof(esc), line, n));
	if (buf_unread(&c->conn.out) + n + 2 > c->conn.out.max &&
	    conn_flush(&c->conn, c->o.command_timeout_ms) == -1)
		return smtpc_broke(c, r, "write: %s", io_error(errno));
	if (conn_write(&c->conn, line, n) == -1 || conn_write(&c->conn, "\r\n", 2) == -1)
		return smtpc_broke(c, r, "command too long");
	return 0;
}

static int
smtpc_flush(struct smtpc *c, struct smtpc_reply *r)
{
	if (conn_flush(&c->conn, c->o.command_timeout_ms) == -1)
		return smtpc_broke(c, r, "write: %s", io_error(errno));
	return 0;
}

/*
 * Read one whole reply into r, at most timeout_ms in all (a server that trickles a
 * byte at a time gets no more). ehlo: collect EHLO keywords into c. 0, or -1 with the
 * connection broken and r saying why (code 0).
 */
static int
smtpc_read_reply(struct smtpc *c, struct smtpc_reply *r, bool ehlo, int timeout_ms)
{
	struct smtp_reply_parser p;
	int64_t deadline = util_now_ms() + timeout_ms, left;
	char esc[256], *line;
	size_t len;
	int rc;

	if (c->broken)
		return smtpc_broke(c, r, "connection not usable");
	smtp_reply_parser_init(&p, r);
	if (ehlo)
		p.ehlo = c;
	for (;;) {
		switch (line_next(&c->lr, &c->conn.in, &line, &len)) {
		case LINE_OK:
			log_escape(esc, sizeof(esc), line, len);
			log_debug("relay=%s < %s", c->peer, esc);
			rc = smtp_reply_parse_line(&p, line, len);
			if (rc == 1)
				return 0;
			if (rc == -1)
				return smtpc_broke(c, r, "malformed reply: %s", esc);
			break;
		case LINE_MORE:
			left = deadline - util_now_ms();
			if (left <= 0)
				return smtpc_broke(c, r, "timed out waiting for a reply");
			rc = conn_fill(&c->conn, (int)left);
			if (rc == 0)
				return smtpc_broke(c, r, "connection closed by the server");
			if (rc == -1)
				return smtpc_broke(c, r, "waiting for a reply: %s", io_error(errno));
			break;
		case LINE_TOOLONG:
			return smtpc_broke(c, r, "reply line longer than %d octets",
			    SMTPC_LINE_MAX);
		case LINE_BARELF:
			return smtpc_broke(c, r, "malformed reply: bare LF");
		case LINE_BARECR:
			return smtpc_broke(c, r, "malformed reply: bare CR");
		case LINE_NUL:
			return smtpc_broke(c, r, "malformed reply: NUL byte");
		}
	}
}

/* Send one command and read its reply. 0 (any reply), or -1 (broken). */
static int
smtpc_command(struct smtpc *c, struct smtpc_reply *r, const char *line, const char *shown,
    bool ehlo)
{
	if (smtpc_put(c, r, line, shown) == -1 || smtpc_flush(c, r) == -1)
		return -1;
	if (shown != NULL)
		wipe_out(c);
	return smtpc_read_reply(c, r, ehlo, c->o.command_timeout_ms);
}

/* Non-blocking connect bounded by timeout_ms. The fd, or -1 with errno. */
static int
smtpc_connect(const struct sockaddr *addr, socklen_t addrlen, int timeout_ms)
{
	struct pollfd pfd;
	int64_t deadline = util_now_ms() + timeout_ms, left;
	socklen_t elen = sizeof(int);
	int fd, r, e = 0, one = 1;

	if ((fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	/*
	 * Nagle off: every write is a whole command group, a message chunk or the end of
	 * data. With Nagle, the "." after the message waited for the ACK of the message's
	 * last segment, which the server delays (40 ms on Linux) since it has nothing to
	 * answer before the ".": one message per 40 ms per connection.
	 */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, addr, addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS && errno != EINTR)
		goto fail;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	for (;;) {
		left = deadline - util_now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		r = poll(&pfd, 1, (int)left);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto fail;
		if (r == 1)
			break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		goto fail;
	if (e != 0) {
		errno = e;
		goto fail;
	}
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

/* Our EHLO name: a host name or an address literal, printable, no spaces. */
static bool
helo_ok(const char *s)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > 255)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* QUIT and the reply, best effort, then close. r is not touched. */
static void
smtpc_quit(struct smtpc *c)
{
	struct smtpc_reply q;

	if (c->conn.fd != -1 && !c->broken && smtpc_put(c, &q, "QUIT", NULL) == 0 &&
	    conn_flush(&c->conn, SMTPC_QUIT_TIMEOUT_MS) == 0)
		(void)smtpc_read_reply(c, &q, false, SMTPC_QUIT_TIMEOUT_MS);
	c->broken = true;
	if (c->conn.fd != -1)
		conn_close(&c->conn);
}

/*
 * EHLO, and HELO when EHLO gets a 5xx (RFC 5321 §3.2: a server that does not know
 * EHLO). 0 when one of them got 250; -1 otherwise (r: the reply, or broken).
 */
static int
smtpc_ehlo(struct smtpc *c, struct smtpc_reply *r)
{
	char line[300];

	smtp_ehlo_reset(c);
	snprintf(line, sizeof(line), "EHLO %s", c->o.helo);
	if (smtpc_command(c, r, line, NULL, true) == -1)
		return -1;
	if (r->code == 250) {
		c->esmtp = true;
		return 0;
	}
	smtp_ehlo_reset(c);
	if (r->code / 100 != 5)
		return -1;
	snprintf(line, sizeof(line), "HELO %s", c->o.helo);
	if (smtpc_command(c, r, line, NULL, false) == -1)
		return -1;
	return r->code == 250 ? 0 : -1;
}

/* The TLS handshake on the connection. 0, or -1 (broken; r says why). */
static int
smtpc_handshake(struct smtpc *c, bool verify, struct smtpc_reply *r)
{
	const char *name = c->o.server_name;

	if (c->o.tls_ctx == NULL)
		return smtpc_broke(c, r, "TLS asked for without a TLS context");
	if (conn_tls_connect(&c->conn, c->o.tls_ctx, name, verify, name,
	    c->o.command_timeout_ms) == -1)
		return smtpc_broke(c, r, "%s", c->conn.tls_error);
	c->tls = true;
	tls_describe(c->conn.ssl, c->tls_desc, sizeof(c->tls_desc));
	log_info("relay=%s tls=\"%s\" verified=%s", c->peer, c->tls_desc,
	    verify ? "yes" : "no");
	return 0;
}

/*
 * AUTH PLAIN with an initial response (RFC 4616, RFC 4954 §4), else AUTH LOGIN. 0 on
 * 235; -1 otherwise (r: the server's reply or our reason). The encoded credentials
 * are wiped from our buffers; they are never logged.
 */
static int
smtpc_auth(struct smtpc *c, struct smtpc_reply *r)
{
	unsigned char msg[2 + SASL_USER_MAX + SASL_PASS_MAX];
	char line[sizeof("AUTH PLAIN ") + 4 * ((sizeof(msg) + 2) / 3)];
	const char *user = c->o.auth_user, *pass = c->o.auth_pass != NULL ?
	    c->o.auth_pass : "";
	size_t ulen = strlen(user), plen = strlen(pass), n;
	int rc = -1;

	if (ulen == 0 || ulen > SASL_USER_MAX || plen > SASL_PASS_MAX) {
		reply_local(r, 0, "", "AUTH user name or password empty or too long");
		return -1;
	}
	if (c->auth_plain) {
		log_info("relay=%s AUTH PLAIN user=%s", c->peer, user);
		msg[0] = '\0';
		memcpy(msg + 1, user, ulen);
		msg[1 + ulen] = '\0';
		memcpy(msg + 2 + ulen, pass, plen);
		n = (size_t)snprintf(line, sizeof(line), "AUTH PLAIN ");
		sasl_b64_encode(msg, 2 + ulen + plen, line + n, sizeof(line) - n);
		rc = smtpc_command(c, r, line, "AUTH PLAIN <hidden>", false);
	} else if (c->auth_login) {
		log_info("relay=%s AUTH LOGIN user=%s", c->peer, user);
		if (smtpc_command(c, r, "AUTH LOGIN", NULL, false) == -1 || r->code != 334)
			goto out;
		sasl_b64_encode((const unsigned char *)user, ulen, line, sizeof(line));
		if (smtpc_command(c, r, line, "<user name>", false) == -1 || r->code != 334)
			goto out;
		sasl_b64_encode((const unsigned char *)pass, plen, line, sizeof(line));
		rc = smtpc_command(c, r, line, "<password>", false);
	} else {
		reply_local(r, 0, "", "server offers %s", c->esmtp ?
		    "no AUTH PLAIN or LOGIN" : "no ESMTP (HELO only), so no AUTH");
		return -1;
	}
out:
	sodium_memzero(msg, sizeof(msg));
	sodium_memzero(line, sizeof(line));
	if (rc == 0 && r->code == 235)
		return 0;
	if (!c->broken && r->code == 334) {
		struct smtpc_reply cancel;

		/* A challenge we have no answer to: "*" cancels (RFC 4954 §4). */
		(void)smtpc_command(c, &cancel, "*", NULL, false);
	}
	return -1;
}

/*
 * One connection. 0 ready; -1 failed (closed, r says why); -2 the TLS handshake
 * failed in opportunistic mode (closed; worth a try without STARTTLS).
 */
static int
smtpc_open1(struct smtpc *c, const struct sockaddr *addr, socklen_t addrlen,
    const struct smtpc_opts *o, enum smtpc_tls mode, struct smtpc_reply *r)
{
	struct lb_sockaddr sa;
	bool verify;
	int fd;

	memset(c, 0, sizeof(*c));
	c->conn.fd = -1;
	c->broken = true;
	c->o = *o;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = SMTPC_CONNECT_DEFAULT_MS;
	if (c->o.command_timeout_ms <= 0)
		c->o.command_timeout_ms = SMTPC_COMMAND_DEFAULT_MS;
	memset(&sa, 0, sizeof(sa));
	if (addrlen > sizeof(sa.ss)) {
		reply_local(r, 0, "", "bad address length");
		return -1;
	}
	memcpy(&sa.ss, addr, addrlen);
	util_sockaddr_ntop(&sa.ss, c->peer, sizeof(c->peer));
	if (!helo_ok(o->helo)) {
		reply_local(r, 0, "", "bad HELO name");
		return -1;
	}
	if ((fd = smtpc_connect(addr, addrlen, c->o.connect_timeout_ms)) == -1) {
		reply_local(r, 0, "", "connect to %s: %s", c->peer, io_error(errno));
		return -1;
	}
	conn_init(&c->conn, fd, SMTPC_IN_MAX, SMTPC_OUT_MAX);
	line_reader_init(&c->lr, SMTPC_LINE_MAX);
	c->broken = false;
	log_debug("relay=%s connected", c->peer);

	if (mode == SMTPC_TLS_IMPLICIT && smtpc_handshake(c, o->verify, r) == -1)
		goto fail;
	/* RFC 5321 §4.5.3.2.1: the greeting, bounded like the connect. */
	if (smtpc_read_reply(c, r, false, c->o.connect_timeout_ms) == -1)
		goto fail;
	if (r->code != 220)
		goto fail;	/* 554: QUIT and go (RFC 5321 §3.1) */
	if (smtpc_ehlo(c, r) == -1)
		goto fail;
	if ((mode == SMTPC_TLS_STARTTLS || mode == SMTPC_TLS_OPPORTUNISTIC) && !c->tls) {
		if (!c->has_starttls) {
			if (mode == SMTPC_TLS_STARTTLS) {
				reply_local(r, 0, "", "STARTTLS required but not offered");
				goto fail;
			}
		} else {
			if (smtpc_command(c, r, "STARTTLS", NULL, false) == -1)
				goto fail;
			if (r->code != 220) {
				if (mode == SMTPC_TLS_STARTTLS)
					goto fail;
				log_info("relay=%s STARTTLS refused (%d), going on without TLS",
				    c->peer, r->code);
			} else {
				/*
				 * Anything already here came before TLS yet would be read as
				 * if it came through it (CVE-2011-0411's client side).
				 */
				if (conn_has_input(&c->conn)) {
					smtpc_broke(c, r, "data after the STARTTLS reply");
					goto fail;
				}
				verify = o->verify && mode != SMTPC_TLS_OPPORTUNISTIC;
				if (smtpc_handshake(c, verify, r) == -1) {
					conn_close(&c->conn);
					return mode == SMTPC_TLS_OPPORTUNISTIC ? -2 : -1;
				}
				if (smtpc_ehlo(c, r) == -1)
					goto fail;
			}
		}
	}
	if (o->auth_user != NULL) {
		if (!c->tls) {
			reply_local(r, 0, "", "refusing to AUTH without TLS");
			goto fail;
		}
		if (smtpc_auth(c, r) == -1)
			goto fail;
	}
	return 0;
fail:
	smtpc_quit(c);
	return -1;
}

int
smtpc_open(struct smtpc *c, const struct sockaddr *addr, socklen_t addrlen,
    const struct smtpc_opts *o, struct smtpc_reply *r)
{
	int rc;

	rc = smtpc_open1(c, addr, addrlen, o, o->tls, r);
	if (rc == -2 && o->auth_user == NULL) {
		/* RFC 7435 §3: better unauthenticated plaintext than no delivery at all. */
		log_info("relay=%s %s; trying again without TLS", c->peer, r->text);
		rc = smtpc_open1(c, addr, addrlen, o, SMTPC_TLS_NONE, r);
	}
	return rc == 0 ? 0 : -1;
}

/* Whether a can go between < and > on a command line (empty: the null path). */
static bool
addr_ok(const char *a, bool allow_empty)
{
	size_t n = strlen(a), i;

	if (n == 0)
		return allow_empty;
	if (n > SMTPC_ADDR_MAX)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];

		if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
	}
	return true;
}

static bool
has_8bit(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

static ssize_t
pread_full(int fd, char *p, size_t n, off_t off)
{
	ssize_t r;

	for (;;) {
		r = pread(fd, p, n, off);
		if (r == -1 && errno == EINTR)
			continue;
		return r;
	}
}

/* Whether fd from off to its end holds a byte >= 0x80. 1, 0, or -1 with errno. */
static int
file_has_8bit(int fd, off_t off, char *chunk)
{
	ssize_t r;

	for (;;) {
		if ((r = pread_full(fd, chunk, SMTPC_CHUNK, off)) == -1)
			return -1;
		if (r == 0)
			return 0;
		if (has_8bit(chunk, (size_t)r))
			return 1;
		off += r;
	}
}

void
smtpc_dot_init(struct smtpc_dot *d)
{
	d->line_start = true;
	d->cr = false;
}

size_t
smtpc_dot_feed(struct smtpc_dot *d, const char *in, size_t len, char *out)
{
	size_t i, o = 0;
	char ch;

	for (i = 0; i < len; i++) {
		ch = in[i];
		if (d->cr) {
			/* CR LF, or a bare CR that becomes CR LF. */
			out[o++] = '\r';
			out[o++] = '\n';
			d->cr = false;
			d->line_start = true;
			if (ch == '\n')
				continue;
		}
		if (ch == '\r') {
			d->cr = true;
			continue;
		}
		if (ch == '\n') {
			/* A bare LF. */
			out[o++] = '\r';
			out[o++] = '\n';
			d->line_start = true;
			continue;
		}
		if (d->line_start && ch == '.')
			out[o++] = '.';		/* RFC 5321 §4.5.2 */
		out[o++] = ch;
		d->line_start = false;
	}
	return o;
}

size_t
smtpc_dot_end(struct smtpc_dot *d, char *out)
{
	size_t o = 0;

	if (d->cr || !d->line_start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	o += 3;
	d->cr = false;
	d->line_start = true;
	return o;
}

/* Stuff len bytes into c->conn.out and write them out. 0 or -1 (broken). */
static int
smtpc_data_piece(struct smtpc *c, struct smtpc_dot *d, const char *p, size_t len,
    struct smtpc_reply *r)
{
	if (buf_reserve(&c->conn.out, 2 * len + 8) == -1)
		return smtpc_broke(c, r, "output buffer full");
	buf_commit(&c->conn.out, smtpc_dot_feed(d, p, len, buf_tail(&c->conn.out)));
	return smtpc_flush(c, r);
}

/*
 * The message after 354: prepend, the file from off to its end, the end of data.
 * 0, or -1 with the connection broken (a read error drops it: "." would deliver a
 * truncated message).
 */
static int
smtpc_data(struct smtpc *c, int fd, off_t off, const char *prepend, char *chunk,
    struct smtpc_reply *r)
{
	struct smtpc_dot d;
	unsigned long long total = 0;
	ssize_t n;

	smtpc_dot_init(&d);
	if (prepend != NULL && smtpc_data_piece(c, &d, prepend, strlen(prepend), r) == -1)
		return -1;
	for (;;) {
		if ((n = pread_full(fd, chunk, SMTPC_CHUNK, off)) == -1) {
			smtpc_broke(c, r, "reading the message: %s", strerror(errno));
			conn_close(&c->conn);
			return -1;
		}
		if (n == 0)
			break;
		off += n;
		total += (unsigned long long)n;
		if (smtpc_data_piece(c, &d, chunk, (size_t)n, r) == -1)
			return -1;
	}
	if (buf_reserve(&c->conn.out, 8) == -1)
		return smtpc_broke(c, r, "output buffer full");
	buf_commit(&c->conn.out, smtpc_dot_end(&d, buf_tail(&c->conn.out)));
	log_debug("relay=%s > (%llu octets of message) .", c->peer, total);
	return smtpc_flush(c, r);
}

/* The reply slot of command k: 0 MAIL, 1..n the recipients, n + 1 DATA. */
static struct smtpc_reply *
slot_reply(size_t k, size_t n, struct smtpc_reply *mail, struct smtpc_reply *rcpt,
    struct smtpc_reply *data)
{
	if (k == 0)
		return mail;
	return k <= n ? &rcpt[k - 1] : data;
}

static bool
is_2xx(const struct smtpc_reply *r)
{
	return r->code >= 200 && r->code < 300;
}

int
smtpc_send(struct smtpc *c, const char *from, const char *const *rcpts, size_t n,
    int fd, off_t off, const char *prepend, struct smtpc_reply *rcpt_replies,
    struct smtpc_reply *msg_reply)
{
	struct smtpc_reply mail, data, tmp;
	char line[SMTPC_ADDR_MAX + 128], *chunk = NULL;
	size_t i, k, next_send = 0, next_recv = 0, inflight, valid = 0, accepted = 0;
	size_t window = c->has_pipelining ? SMTPC_PIPELINE_MAX : 1;
	bool utf8, eightbit = false, mail_failed = false, data_sent = false, stop = false;
	unsigned long long size = 0;
	struct stat st;
	int e = 0;

	for (i = 0; i < n; i++)
		memset(&rcpt_replies[i], 0, sizeof(rcpt_replies[i]));
	memset(msg_reply, 0, sizeof(*msg_reply));
	memset(&mail, 0, sizeof(mail));
	memset(&data, 0, sizeof(data));
	if (c->broken || c->conn.fd == -1) {
		reply_local(msg_reply, 0, "", "connection not usable");
		goto lost;
	}
	if (!addr_ok(from, true)) {
		reply_local(msg_reply, 553, "5.1.7", "invalid sender address (not sent)");
		for (i = 0; i < n; i++)
			rcpt_replies[i] = *msg_reply;
		return 0;
	}
	utf8 = has_8bit(from, strlen(from));
	for (i = 0; i < n; i++) {
		if (!addr_ok(rcpts[i], false)) {
			reply_local(&rcpt_replies[i], 553, "5.1.3",
			    "invalid recipient address (not sent)");
			continue;
		}
		valid++;
		utf8 = utf8 || has_8bit(rcpts[i], strlen(rcpts[i]));
	}
	if (valid == 0) {
		reply_local(msg_reply, 0, "", "no recipient to send to");
		return 0;
	}
	if (utf8 && !c->has_smtputf8) {
		/* RFC 6531 §3.4: no downgrade here; the sender gets a bounce. */
		reply_local(msg_reply, 550, "5.6.7", "server lacks SMTPUTF8");
		for (i = 0; i < n; i++)
			if (rcpt_replies[i].code == 0)
				rcpt_replies[i] = *msg_reply;
		return 0;
	}
	if ((chunk = malloc(SMTPC_CHUNK)) == NULL) {
		reply_local(msg_reply, 0, "", "out of memory");
		goto local_fail;
	}
	if (fstat(fd, &st) == -1 || (c->has_8bitmime &&
	    (e = file_has_8bit(fd, off, chunk)) == -1)) {
		reply_local(msg_reply, 0, "", "reading the message: %s", strerror(errno));
		goto local_fail;
	}
	if (c->has_8bitmime)
		eightbit = e == 1 || (prepend != NULL && has_8bit(prepend, strlen(prepend)));
	if (st.st_size > off)
		size = (unsigned long long)(st.st_size - off);
	if (prepend != NULL)
		size += strlen(prepend);

	/*
	 * MAIL, the RCPTs and DATA, in groups of window commands: each group is written,
	 * then all its replies are read in order (RFC 2920 §3.1). DATA goes last in its
	 * group; when every reply before it is known and no recipient was accepted (or
	 * MAIL failed), it is not sent at all.
	 */
	for (;;) {
		inflight = 0;
		while (!stop && next_send <= n + 1 && inflight < window) {
			k = next_send;
			if (k == 0) {
				snprintf(line, sizeof(line), "MAIL FROM:<%s>", from);
				if (c->has_size)
					snprintf(line + strlen(line), sizeof(line) - strlen(line),
					    " SIZE=%llu", size);
				if (eightbit)
					strcat(line, " BODY=8BITMIME");
				if (utf8)
					strcat(line, " SMTPUTF8");
			} else if (k <= n) {
				if (rcpt_replies[k - 1].code != 0) {
					next_send++;	/* refused locally */
					continue;
				}
				snprintf(line, sizeof(line), "RCPT TO:<%s>", rcpts[k - 1]);
			} else {
				if (next_recv == next_send && (mail_failed || accepted == 0)) {
					stop = true;
					break;
				}
				snprintf(line, sizeof(line), "DATA");
				data_sent = true;
			}
			if (smtpc_put(c, msg_reply, line, NULL) == -1)
				goto lost;
			next_send++;
			inflight++;
		}
		if (inflight == 0)
			break;
		if (smtpc_flush(c, msg_reply) == -1)
			goto lost;
		for (; next_recv < next_send; next_recv++) {
			k = next_recv;
			if (k >= 1 && k <= n && rcpt_replies[k - 1].code != 0)
				continue;
			if (smtpc_read_reply(c, &tmp, false, c->o.command_timeout_ms) == -1) {
				*msg_reply = tmp;
				goto lost;
			}
			*slot_reply(k, n, &mail, rcpt_replies, &data) = tmp;
			if (k == 0 && !is_2xx(&tmp))
				mail_failed = stop = true;
			else if (k >= 1 && k <= n && is_2xx(&tmp))
				accepted++;
		}
	}

	if (mail_failed) {
		*msg_reply = mail;
		for (i = 0; i < n; i++)
			if (addr_ok(rcpts[i], false))
				rcpt_replies[i] = mail;
		/* A server that took DATA anyway gets an empty message's end. */
		if (data_sent && data.code == 354 && smtpc_command(c, &tmp, ".", NULL,
		    false) == -1)
			goto lost_after;
		goto done;
	}
	if (!data_sent || data.code != 354 || accepted == 0) {
		if (data_sent && data.code == 354) {
			/* RFC 2920 §3.1: DATA accepted without recipients: a lone ".". */
			if (smtpc_command(c, &tmp, ".", NULL, false) == -1)
				goto lost_after;
			reply_local(msg_reply, 0, "", "no recipient accepted");
			goto done;
		}
		if (data_sent)
			*msg_reply = data;
		else
			reply_local(msg_reply, 0, "", "no recipient accepted");
		/* MAIL was accepted: end the transaction. */
		if (smtpc_command(c, &tmp, "RSET", NULL, false) == -1)
			goto lost_after;
		goto done;
	}
	if (smtpc_data(c, fd, off, prepend, chunk, msg_reply) == -1)
		goto lost;
	/* RFC 5321 §4.5.3.2.6 gives the end of data 10 minutes; the caller decides. */
	if (smtpc_read_reply(c, msg_reply, false, c->o.command_timeout_ms) == -1)
		goto lost;
	log_info("relay=%s from=<%s> rcpts=%zu accepted=%zu size=%llu status=%d%s%s",
	    c->peer, log_escape(line, sizeof(line), from, strlen(from)), n, accepted, size,
	    msg_reply->code,
	    msg_reply->enhanced[0] != '\0' ? " " : "", msg_reply->enhanced);
done:
	free(chunk);
	return 0;
local_fail:
	/* Nothing was sent: the conversation is still in sync. */
	for (i = 0; i < n; i++)
		if (rcpt_replies[i].code == 0)
			rcpt_replies[i] = *msg_reply;
	free(chunk);
	return 0;
lost_after:
	/* The replies are all in; only the clean-up failed. */
	free(chunk);
	return -1;
lost:
	if (mail_failed) {
		*msg_reply = mail;
		for (i = 0; i < n; i++)
			if (addr_ok(rcpts[i], false))
				rcpt_replies[i] = mail;
	}
	/* Every reply not received says why. */
	for (i = 0; i < n; i++)
		if (rcpt_replies[i].code == 0 && rcpt_replies[i].text[0] == '\0')
			rcpt_replies[i] = *msg_reply;
	free(chunk);
	return -1;
}

int
smtpc_cmd(struct smtpc *c, const char *line, struct smtpc_reply *r)
{
	if (c->broken || c->conn.fd == -1)
		return smtpc_broke(c, r, "connection not usable");
	return smtpc_command(c, r, line, NULL, false);
}

int
smtpc_rset(struct smtpc *c)
{
	struct smtpc_reply r;

	if (c->broken || c->conn.fd == -1)
		return -1;
	if (smtpc_command(c, &r, "RSET", NULL, false) == -1)
		return -1;
	return r.code == 250 ? 0 : -1;
}

void
smtpc_close(struct smtpc *c)
{
	if (c->conn.fd == -1)
		return;
	smtpc_quit(c);
}
