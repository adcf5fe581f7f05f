/*
 * soak-load: the load, the sink and the Maildir scan of the soak (bench/soak.sh).
 * libc, POSIX threads and OpenSSL; talks to, and listens on, loopback addresses only.
 *
 *   soak-load load -o DIR -t SECONDS [ports, rates: see usage()]
 *   soak-load sink -p PORT -o DIR [-d DEFER] [-x DROP]
 *   soak-load scan MAILDIR
 *
 * Every test message is made from its id (RUNID-KIND-SEQ) and size: a header (From,
 * To, Subject, Date, Message-ID <ID@soak.example.test>), a body of pseudo-random
 * printable lines of 0..998 characters, some of them starting with "." (so that
 * dot-stuffing is exercised both ways), and the last line "X-Soak-End: ID". Its
 * "hash" is FNV-1a 64 over the message as stored (CRLF lines, un-stuffed) from its
 * "From: <" line to its end: what a server prepends (Received:) is left out, every
 * byte of what the sender wrote is in; OCTETS counts the same bytes. The load, the
 * sink and the scan all print "ID OCTETS HASH" for each message they handle, so
 * bench/soak-report.py can join them: nothing lost, nothing twice, every byte the
 * same.
 *
 * load: threads until -t SECONDS have passed (or SIGTERM/SIGINT), then each ends what
 * it is doing and the program exits:
 *   - inbound MX (-c connections at -r messages/s in all, from 127.0.0.1): connect,
 *     STARTTLS on a quarter of the connections, 1..8 messages of 1 KiB..-M bytes
 *     (mostly small), some with an unknown recipient as well (550 for it), pipelined
 *     or not, QUIT (or a close without QUIT);
 *   - submission (-C connections at -s messages/s, implicit TLS, -u): AUTH PLAIN with
 *     the account's password (PAM) or the app password in turn, up to 20 messages
 *     per login to one or two remote recipients (delivered by the queue to the sink),
 *     a few to the owner (into the Maildir), a few to both;
 *   - POP3 (one client: one session per maildrop): STLS or POP3S in turn, USER/PASS
 *     or AUTH PLAIN, STAT, LIST, UIDL, sometimes TOP, RETR + DELE of up to 200
 *     messages, QUIT; one session in 20 is dropped without QUIT and one in 30 ends
 *     with RSET (both must leave every message where it was);
 *   - abuse (-a actions a minute, from 127.0.0.2..127.0.0.61): connections dropped or
 *     stalled mid-DATA (never delivered), idle SMTP and POP3 connections waiting for
 *     the server's timeout, bad commands until 421, TLS handshakes cut short, wrong
 *     passwords (SMTP AUTH and POP3), a SIZE over the limit.
 * Records (DIR/records.log, one line each):
 *   A KIND ID OCTETS HASH RCPTS   acknowledged (250 to the final dot); RCPTS: "L" (the
 *                                 owner) and/or the remote recipients, comma-separated
 *   U KIND ID OCTETS HASH RCPTS   the final dot was sent, no reply came: unknown
 *   R KIND ID CODE                refused at the final dot (never expected)
 *   D ID                          dropped or stalled mid-DATA: must never be delivered
 *   F ID OCTETS HASH UIDL         retrieved, deleted, and the QUIT that deleted it +OK
 *   Q ID OCTETS HASH UIDL         retrieved and deleted, QUIT sent, no reply: unknown
 *   B WHAT DETAIL                 a check that failed (size, UIDL, unknown message...)
 * Counters: DIR/status (key=value lines), rewritten every second and at the end.
 *
 * sink: the queue's next hop (smarthost, no TLS): a thread per connection; accepts
 * every recipient; at the final dot, -d per mille of the transactions get 451 and
 * -x per mille of the DATA phases are cut (the connection closed before the dot) to
 * make the queue retry; everything else gets 250 and a line in DIR/sink.log:
 *   S ID OCTETS HASH RCPT,RCPT...
 * (a line of the last transaction is written before its 250). Counters in DIR/status
 * every second; SIGTERM flushes and exits.
 *
 * scan: one line per file of MAILDIR/new and MAILDIR/cur: "M ID OCTETS HASH SUBDIR/NAME
 * SIZE_OK" (SIZE_OK: 1 if the name's ,S= is the file's size, 0 if not, - if none).
 *
 * Exit status: 0, or 2 on a usage or setup error (the checks are the report's job).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define CONN_TLS		/* common.h: connections with TLS */
#define CONN_BUF	65536
#include "common.h"

#define FNV_INIT	0xcbf29ce484222325ULL
#define OWNER		"alice@example.test"
#define ABUSE_MAX	12	/* abusive connections at once */
#define POP_BATCH	200	/* messages retrieved per POP3 session at most */
#define SUB_PER_LOGIN	20

/* ------------------------------------------------------------------ options */

static struct {
	const char *dir, *runid, *credfile;
	int mx_port, subs_port, pop3_port, pop3s_port;
	int in_conns, sub_conns, io_timeout, server_timeout;
	double in_rate, sub_rate, abuse_per_min, duration;
	long max_size;
	int defer_pm, drop_pm;
} o = {
	.in_conns = 4, .sub_conns = 2, .io_timeout = 60, .server_timeout = 15,
	.in_rate = 30, .sub_rate = 10, .abuse_per_min = 60, .max_size = 1024 * 1024,
	.defer_pm = 20, .drop_pm = 5,
};

static char pam_user[128], pam_pass[256], app_user[128], app_pass[256];
static SSL_CTX *ssl_ctx;
static atomic_int stopping;

/* ------------------------------------------------------------------ small pieces */

static uint64_t
rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A number in lo..hi. */
static long
rnd_in(uint64_t *s, long lo, long hi)
{
	return lo + (long)(rnd(s) % (uint64_t)(hi - lo + 1));
}

static uint64_t
seed(long salt)
{
	uint64_t s = (uint64_t)now() * 1000003ULL ^ (uint64_t)getpid() << 20 ^
	    (uint64_t)salt * 0x9E3779B97F4A7C15ULL;

	return s == 0 ? 1 : s;
}

static uint64_t
fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	while (n-- > 0) {
		h ^= *c++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

static void
sleep_s(double s)
{
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Sleep up to s seconds, in steps, until the load stops; false if it did. */
static bool
nap(double s)
{
	double end = now() + s, left;

	while (!atomic_load(&stopping) && (left = end - now()) > 0)
		sleep_s(left > 0.2 ? 0.2 : left);
	return !atomic_load(&stopping);
}

/* A steady rate shared by the threads of one kind: each takes the next slot. */
struct pace {
	pthread_mutex_t lock;
	double next, gap;
};

/* Wait for the next slot; false if the load stopped meanwhile. */
static bool
pace_wait(struct pace *p)
{
	double t, slot;

	pthread_mutex_lock(&p->lock);
	t = now();
	if (p->next < t - 1)
		p->next = t - 1;	/* a backlog of one second at most */
	slot = p->next;
	p->next += p->gap;
	pthread_mutex_unlock(&p->lock);
	return nap(slot - now());
}

/* ------------------------------------------------------------------ records, counters */

static FILE *records;
static pthread_mutex_t rec_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 1, 2)))
record(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&rec_lock);
	va_start(ap, fmt);
	vfprintf(records, fmt, ap);
	va_end(ap);
	fputc('\n', records);
	fflush(records);
	pthread_mutex_unlock(&rec_lock);
}

enum {
	IN_SENT, IN_ACKED, IN_BYTES, IN_REFUSED, IN_UNKNOWN, IN_CONNS, IN_TLS, IN_CONN_ERR,
	SUB_SENT, SUB_ACKED, SUB_BYTES, SUB_REFUSED, SUB_UNKNOWN, SUB_LOGINS, SUB_LOGIN_ERR,
	SUB_REMOTE_RCPTS, SUB_LOCAL,
	POP_SESSIONS, POP_LOGIN_ERR, POP_IN_USE, POP_RETR, POP_BYTES, POP_DELETED,
	POP_DROPPED, POP_RSET, POP_ERR, POP_BAD,
	AB_MIDDATA, AB_STALL, AB_IDLE_SMTP, AB_BADCMD, AB_TLSCUT, AB_SUB_BADPW,
	AB_POP_IDLE, AB_POP_BADPW, AB_OVERSIZE, AB_OK, AB_UNEXPECTED, AB_SKIPPED,
	NCOUNT
};
static const char *const cname[NCOUNT] = {
	"in_sent", "in_acked", "in_bytes", "in_refused", "in_unknown", "in_conns", "in_tls",
	"in_conn_err",
	"sub_sent", "sub_acked", "sub_bytes", "sub_refused", "sub_unknown", "sub_logins",
	"sub_login_err", "sub_remote_rcpts", "sub_local",
	"pop_sessions", "pop_login_err", "pop_in_use", "pop_retr", "pop_bytes",
	"pop_deleted", "pop_dropped", "pop_rset", "pop_err", "pop_bad",
	"ab_middata", "ab_stall", "ab_idle_smtp", "ab_badcmd", "ab_tlscut", "ab_sub_badpw",
	"ab_pop_idle", "ab_pop_badpw", "ab_oversize", "ab_ok", "ab_unexpected",
	"ab_skipped",
};
static atomic_long cnt[NCOUNT];

static void
count(int which, long n)
{
	atomic_fetch_add(&cnt[which], n);
}

/* DIR/status: the counters, and more (key=value), replaced atomically. */
static void
write_status(const char *extra)
{
	char path[4096], tmp[4200];
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "%s/status", o.dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	for (i = 0; i < NCOUNT; i++)
		if (cname[i] != NULL)
			fprintf(f, "%s=%ld\n", cname[i], atomic_load(&cnt[i]));
	fputs(extra, f);
	fclose(f);
	rename(tmp, path);
}

/* ------------------------------------------------------------------ messages */

struct msg {
	char id[64];
	char *raw;		/* as stored: CRLF lines, un-stuffed */
	size_t rawlen;
	char *wire;		/* dot-stuffed, with the final ".\r\n" */
	size_t wirelen;
	uint64_t hash;
	size_t cap;
};

static void
msg_init(struct msg *m)
{
	m->cap = (size_t)o.max_size + 8192;
	m->raw = malloc(m->cap);
	m->wire = malloc(m->cap * 2);
	if (m->raw == NULL || m->wire == NULL)
		die("out of memory");
}

/* A size: mostly small, a quarter 16..128 KiB, one in 20 up to -M (big). */
static long
pick_size(uint64_t *r, bool big)
{
	long k = rnd_in(r, 0, 99), hi = o.max_size;

	if (k < 70 || hi <= 16384)
		return rnd_in(r, 1024, hi < 16384 ? hi : 16384);
	if (k < 95 || !big || hi <= 131072)
		return rnd_in(r, 16384, hi < 131072 ? hi : 131072);
	return rnd_in(r, 131072, hi);
}

/*
 * Message KIND SEQ of about size bytes into m, the header naming from and to.
 * The body's lines: mostly 1..78 printable characters, some empty, some long (up
 * to 998, RFC 5322's limit), one in 25 starting with '.'.
 */
static void
msg_make(struct msg *m, char kind, long seq, long size, const char *from, const char *to,
    uint64_t *r)
{
	static const char set[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
	char *p = m->raw, *w = m->wire;
	size_t end, n, i, left;
	long k;
	int h;

	snprintf(m->id, sizeof(m->id), "%s-%c-%08ld", o.runid, kind, seq);
	if ((size_t)size + 4096 > m->cap)
		size = (long)m->cap - 4096;
	h = snprintf(p, 1024, "From: <%s>\r\nTo: <%s>\r\nSubject: soak %s\r\n"
	    "Date: Sun, 29 Nov 2026 12:00:00 +0000\r\nMessage-ID: <%s@soak.example.test>\r\n"
	    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
	    from, to, m->id, m->id);
	p += h;
	end = (size_t)size > (size_t)h + 100 ? (size_t)size - 100 : (size_t)h;
	while ((size_t)(p - m->raw) < end) {
		k = rnd_in(r, 0, 99);
		left = end - (size_t)(p - m->raw);
		n = k < 5 ? 0 : k < 10 ? (size_t)rnd_in(r, 79, 998) : (size_t)rnd_in(r, 1, 78);
		if (n > left)
			n = left;
		for (i = 0; i < n; i++)
			p[i] = set[rnd(r) % (sizeof(set) - 1)];
		if (n > 0 && p[0] == ' ')
			p[0] = 'x';	/* no folded-looking lines */
		if (n > 0 && rnd_in(r, 0, 24) == 0)
			p[0] = '.';
		p += n;
		*p++ = '\r';
		*p++ = '\n';
	}
	p += snprintf(p, 128, "X-Soak-End: %s\r\n", m->id);
	m->rawlen = (size_t)(p - m->raw);
	m->hash = fnv(FNV_INIT, m->raw, m->rawlen);
	/* the wire form: a '.' before every line that starts with one (RFC 5321 4.5.2) */
	for (i = 0; i < m->rawlen; i++) {
		if (m->raw[i] == '.' && (i == 0 || m->raw[i - 1] == '\n'))
			*w++ = '.';
		*w++ = m->raw[i];
	}
	memcpy(w, ".\r\n", 3);
	m->wirelen = (size_t)(w - m->wire) + 3;
}

/*
 * A retrieved or stored message, line by line (un-stuffed, without CRLF): octets,
 * the hash from the "From: <" line on, the id of its Message-ID if ours.
 */
struct seen {
	long octets;		/* the whole message (what LIST counts) */
	long mine;		/* from the "From: <" line on: what the sender wrote */
	uint64_t hash;
	bool from_seen, header;
	char id[64];
};

static void
seen_start(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	s->hash = FNV_INIT;
	s->header = true;
}

static void
seen_line(struct seen *s, const char *l, size_t len)
{
	static const char mid[] = "Message-ID: <";
	size_t n;

	s->octets += (long)len + 2;
	if (s->header && !s->from_seen && len >= 7 && memcmp(l, "From: <", 7) == 0)
		s->from_seen = true;
	if (s->from_seen) {
		s->mine += (long)len + 2;
		s->hash = fnv(s->hash, l, len);
		s->hash = fnv(s->hash, "\r\n", 2);
	}
	if (!s->header)
		return;
	if (len == 0) {
		s->header = false;
		return;
	}
	if (s->id[0] == '\0' && len > sizeof(mid) - 1 &&
	    strncasecmp(l, mid, sizeof(mid) - 1) == 0) {
		n = strcspn(l + sizeof(mid) - 1, "@>");
		if (n >= sizeof(s->id))
			n = sizeof(s->id) - 1;
		memcpy(s->id, l + sizeof(mid) - 1, n);
		s->id[n] = '\0';
	}
}

/*
 * The id to record: ours (of this run, if o.runid is set), or "foreign": a message
 * the soak did not send.
 */
static const char *
seen_id(const struct seen *s)
{
	size_t rl = o.runid != NULL ? strlen(o.runid) : 0;

	if (!s->from_seen || s->id[0] == '\0' ||
	    (rl > 0 && (strncmp(s->id, o.runid, rl) != 0 || s->id[rl] != '-')))
		return "foreign";
	return s->id;
}

/* ------------------------------------------------------------------ connections */

/* A TCP connection from src (NULL: any) to 127.0.0.1:port; -1 or 0. */
static int
dial(struct conn *c, const char *src, int port)
{
	struct sockaddr_storage dst, sa;
	socklen_t dl, sl;
	struct timeval tv = { .tv_sec = o.io_timeout };
	int one = 1;

	c->len = c->off = 0;
	c->last[0] = '\0';
	c->ssl = NULL;
	dl = loopback_addr("127.0.0.1", port, false, &dst);
	if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (src != NULL) {
		sl = loopback_addr(src, 0, false, &sa);
		if (bind(c->fd, (struct sockaddr *)&sa, sl) == -1)
			goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&dst, dl) == -1)
		goto fail;
	return 0;
fail:
	snprintf(c->last, sizeof(c->last), "(connect: %s)", strerror(errno));
	close(c->fd);
	c->fd = -1;
	return -1;
}

static int
tls_start(struct conn *c)
{
	c->len = c->off = 0;
	if ((c->ssl = SSL_new(ssl_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_connect(c->ssl) != 1) {
		snprintf(c->last, sizeof(c->last), "(TLS handshake: %s)",
		    ERR_reason_error_string(ERR_get_error()));
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* A receive timeout of s seconds from now on. */
static void
rcv_timeout(struct conn *c, int s)
{
	struct timeval tv = { .tv_sec = s };

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* Close with a RST instead of a FIN (SO_LINGER 0): a client that vanishes. */
static void
conn_reset(struct conn *c)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };

	if (c->ssl != NULL) {
		SSL_free(c->ssl);	/* no close_notify */
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(c->fd);
	}
	c->fd = -1;
}

static void
b64(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	if ((size_t)4 * ((n + 2) / 3) + 1 > outsz)
		die("base64: too long");
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/* "\0user\0pass" in base64 (RFC 4616). */
static void
sasl_plain(const char *user, const char *pass, char *out, size_t outsz)
{
	unsigned char raw[512];
	size_t ul = strlen(user), pl = strlen(pass);

	if (ul + pl + 2 > sizeof(raw))
		die("credentials too long");
	raw[0] = '\0';
	memcpy(raw + 1, user, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, pass, pl);
	b64(raw, ul + pl + 2, out, outsz);
}

/* ------------------------------------------------------------------ SMTP */

/*
 * One transaction on an open session: MAIL (with SIZE), the RCPTs (bad: one more
 * that must get 550), DATA, the message. 1 acknowledged, 0 refused (a record R if
 * at the final dot), -1 connection lost; *dot: the final dot went out.
 */
static int
smtp_send(struct conn *c, const char *kind, const char *from, char rcpt[][96], int nrcpt,
    const char *bad, bool pipelining, const struct msg *m, bool *dot)
{
	char env[2048];
	size_t n = 0;
	int i, code = 0, nrep, ok = 0;
	bool refused = false;

	*dot = false;
	n += (size_t)snprintf(env + n, sizeof(env) - n, "MAIL FROM:<%s> SIZE=%zu\r\n", from,
	    m->rawlen);
	for (i = 0; i < nrcpt; i++)
		n += (size_t)snprintf(env + n, sizeof(env) - n, "RCPT TO:<%s>\r\n", rcpt[i]);
	if (bad != NULL)
		n += (size_t)snprintf(env + n, sizeof(env) - n, "RCPT TO:<%s>\r\n", bad);
	n += (size_t)snprintf(env + n, sizeof(env) - n, "DATA\r\n");
	nrep = nrcpt + (bad != NULL) + 2;
	if (pipelining) {
		if (conn_write(c, env, n) == -1)
			return -1;
	}
	{
		const char *p = env, *nl;

		for (i = 0; i < nrep; i++) {
			if (!pipelining) {
				nl = strchr(p, '\n');
				if (conn_write(c, p, (size_t)(nl - p) + 1) == -1)
					return -1;
				p = nl + 1;
			}
			if ((code = smtp_reply(c)) == -1)
				return -1;
			if (i == 0 && code != 250)
				refused = true;
			else if (i > 0 && i <= nrcpt && code == 250)
				ok++;
			else if (i > 0 && i <= nrcpt)
				refused = true;
			else if (bad != NULL && i == nrcpt + 1 && code != 550)
				record("B badrcpt %s %d", m->id, code);
			if (!pipelining && code >= 400 && i < nrep - 1 && (i == 0 || refused))
				break;
		}
		if (i == nrep && code == 354 && (refused || ok == 0)) {
			/* DATA went through without the recipients: an empty message, refused */
			if (conn_write(c, ".\r\n", 3) == -1 || smtp_reply(c) == -1)
				return -1;
		}
		if (refused || ok == 0 || code != 354) {
			client_error("%s %s: refused before data: %s", kind, m->id, c->last);
			return smtp_cmd(c, "RSET") == -1 ? -1 : 0;
		}
	}
	if (conn_write(c, m->wire, m->wirelen) == -1)
		return -1;
	*dot = true;
	if ((code = smtp_reply(c)) == -1)
		return -1;
	if (code != 250) {
		record("R %s %s %d", kind, m->id, code);
		client_error("%s %s: final dot: %s", kind, m->id, c->last);
		return 0;
	}
	return 1;
}

/* Greeting and EHLO (and STARTTLS + EHLO if tls): 0 or -1. */
static int
smtp_hello(struct conn *c, bool starttls)
{
	if (smtp_reply(c) != 220 || smtp_cmd(c, "EHLO client.soak.test") != 250)
		return -1;
	if (!starttls)
		return 0;
	if (smtp_cmd(c, "STARTTLS") != 220 || tls_start(c) == -1 ||
	    smtp_cmd(c, "EHLO client.soak.test") != 250)
		return -1;
	return 0;
}

static struct pace in_pace = { .lock = PTHREAD_MUTEX_INITIALIZER };
static struct pace sub_pace = { .lock = PTHREAD_MUTEX_INITIALIZER };
static atomic_long in_seq, sub_seq, ab_seq;

static void *
inbound(void *arg)
{
	static const char *const to[] = { OWNER, "alice+soak@example.test",
	    "postmaster@example.test" };
	struct conn *c = calloc(1, sizeof(*c));
	struct msg m;
	uint64_t r = seed((long)arg + 100);
	char rcpt[1][96];
	long seq, size, k, nmsg;
	bool tls, dot;
	int res = 0;

	if (c == NULL)
		die("out of memory");
	msg_init(&m);
	while (pace_wait(&in_pace)) {
		tls = rnd_in(&r, 0, 3) == 0;
		count(IN_CONNS, 1);
		if (dial(c, NULL, o.mx_port) == -1 || smtp_hello(c, tls) == -1) {
			client_error("inbound: connect: %s", c->last);
			count(IN_CONN_ERR, 1);
			conn_close(c);
			nap(1);
			continue;
		}
		if (tls)
			count(IN_TLS, 1);
		nmsg = rnd_in(&r, 1, 8);
		for (k = 0; k < nmsg; k++) {
			if (k > 0 && !pace_wait(&in_pace))
				break;
			seq = atomic_fetch_add(&in_seq, 1);
			size = pick_size(&r, true);
			snprintf(rcpt[0], sizeof(rcpt[0]), "%s", to[rnd_in(&r, 0, 2)]);
			msg_make(&m, 'i', seq, size, "sender@client.soak.test", rcpt[0], &r);
			count(IN_SENT, 1);
			res = smtp_send(c, "inbound", "sender@client.soak.test", rcpt, 1,
			    rnd_in(&r, 0, 19) == 0 ? "nobody@example.test" : NULL,
			    rnd_in(&r, 0, 1) == 0, &m, &dot);
			if (res == 1) {
				record("A in %s %zu %016llx L", m.id, m.rawlen,
				    (unsigned long long)m.hash);
				count(IN_ACKED, 1);
				count(IN_BYTES, (long)m.rawlen);
			} else if (res == 0) {
				count(IN_REFUSED, 1);
			} else {
				if (dot) {
					record("U in %s %zu %016llx L", m.id, m.rawlen,
					    (unsigned long long)m.hash);
					count(IN_UNKNOWN, 1);
				}
				client_error("inbound %s: connection lost: %s", m.id, c->last);
				count(IN_CONN_ERR, 1);
				break;
			}
		}
		if (c->fd != -1 && res != -1 && rnd_in(&r, 0, 9) != 0)
			smtp_cmd(c, "QUIT");
		conn_close(c);
	}
	free(c);
	free(m.raw);
	free(m.wire);
	return NULL;
}

/* Implicit TLS, greeting, EHLO, AUTH PLAIN with one of the two passwords: 0 or -1. */
static int
sub_login(struct conn *c, bool app)
{
	char auth[1024];

	if (dial(c, NULL, o.subs_port) == -1 || tls_start(c) == -1 ||
	    smtp_hello(c, false) == -1)
		return -1;
	sasl_plain(app ? app_user : pam_user, app ? app_pass : pam_pass, auth, sizeof(auth));
	if (smtp_cmd(c, "AUTH PLAIN %s", auth) != 235)
		return -1;
	return 0;
}

static void *
submission(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct msg m;
	uint64_t r = seed((long)arg + 200);
	char rcpt[3][96], list[400], to[100];
	long seq, size, k, kind;
	bool dot, app = (long)arg % 2 == 1;
	int res = 0, i, n, nremote;
	size_t ll;

	if (c == NULL)
		die("out of memory");
	msg_init(&m);
	while (pace_wait(&sub_pace)) {
		app = !app;
		if (sub_login(c, app) == -1) {
			client_error("submission: login (%s): %s", app ? "app password" : "PAM",
			    c->last);
			count(SUB_LOGIN_ERR, 1);
			conn_close(c);
			nap(2);
			continue;
		}
		count(SUB_LOGINS, 1);
		for (k = 0; k < SUB_PER_LOGIN; k++) {
			if (k > 0 && !pace_wait(&sub_pace))
				break;
			seq = atomic_fetch_add(&sub_seq, 1);
			/* 0: the owner only, 1: the owner and a remote one, else remote ones */
			kind = rnd_in(&r, 0, 29);
			n = nremote = 0;
			ll = 0;
			list[0] = '\0';
			if (kind < 4) {
				snprintf(rcpt[n++], sizeof(rcpt[0]), "%s", OWNER);
				ll += (size_t)snprintf(list + ll, sizeof(list) - ll, "L");
			}
			if (kind >= 3) {
				nremote = rnd_in(&r, 0, 3) == 0 ? 2 : 1;
				for (i = 0; i < nremote; i++) {
					snprintf(rcpt[n], sizeof(rcpt[0]), "r%ld@%s",
					    seq % 50, i == 0 ? "remote.test" : "other.test");
					ll += (size_t)snprintf(list + ll, sizeof(list) - ll,
					    "%s%s", ll > 0 ? "," : "", rcpt[n]);
					n++;
				}
			}
			snprintf(to, sizeof(to), "%s", rcpt[0]);
			size = pick_size(&r, rnd_in(&r, 0, 4) == 0);
			msg_make(&m, 's', seq, size, OWNER, to, &r);
			count(SUB_SENT, 1);
			res = smtp_send(c, "submission", OWNER, rcpt, n, NULL,
			    rnd_in(&r, 0, 1) == 0, &m, &dot);
			if (res == 1) {
				record("A sub %s %zu %016llx %s", m.id, m.rawlen,
				    (unsigned long long)m.hash, list);
				count(SUB_ACKED, 1);
				count(SUB_BYTES, (long)m.rawlen);
				count(SUB_REMOTE_RCPTS, nremote);
				if (kind < 4)
					count(SUB_LOCAL, 1);
			} else if (res == 0) {
				count(SUB_REFUSED, 1);
			} else {
				if (dot) {
					record("U sub %s %zu %016llx %s", m.id, m.rawlen,
					    (unsigned long long)m.hash, list);
					count(SUB_UNKNOWN, 1);
				}
				client_error("submission %s: connection lost: %s", m.id, c->last);
				break;
			}
		}
		if (c->fd != -1 && res != -1)
			smtp_cmd(c, "QUIT");
		conn_close(c);
	}
	free(c);
	free(m.raw);
	free(m.wire);
	return NULL;
}

/* ------------------------------------------------------------------ POP3 */


#define pop_cmd(c, ...)	(conn_cmd((c), __VA_ARGS__) == -1 ? -1 : conn_pop3_status(c))

/* The lines of a multi-line response up to ".", un-stuffed, to fn; -1 on I/O error. */
static int
pop_multi(struct conn *c, void (*fn)(void *, const char *, size_t), void *arg)
{
	char *l;
	size_t n;

	for (;;) {
		if (conn_line(c, &l, &n) == -1)
			return -1;
		if (l[0] == '.') {
			if (n == 1)
				return 0;
			l++;
			n--;
		}
		fn(arg, l, n);
	}
}

struct listing {
	long n, cap, bad;
	long *size;
	char **uidl;
};

static void
list_line(void *arg, const char *l, size_t len)
{
	struct listing *ls = arg;
	char *end;
	long i = strtol(l, &end, 10);

	(void)len;
	if (i != ls->n + 1 || *end != ' ') {
		ls->bad++;
		return;
	}
	if (ls->n == ls->cap) {
		ls->cap = ls->cap ? 2 * ls->cap : 1024;
		if ((ls->size = realloc(ls->size, (size_t)ls->cap * sizeof(long))) == NULL ||
		    (ls->uidl = realloc(ls->uidl, (size_t)ls->cap * sizeof(char *))) == NULL)
			die("out of memory");
	}
	ls->size[ls->n] = strtol(end + 1, NULL, 10);
	ls->uidl[ls->n] = NULL;
	ls->n++;
}

struct uidls {
	struct listing *ls;
	long i, bad;
};

static void
uidl_line(void *arg, const char *l, size_t len)
{
	struct uidls *u = arg;
	char *end;
	long i = strtol(l, &end, 10), j;
	size_t ul;

	(void)len;
	if (i != ++u->i || *end != ' ' || i > u->ls->n) {
		u->bad++;
		return;
	}
	ul = strlen(end + 1);
	/* RFC 1939 7: 1..70 characters 0x21..0x7E */
	for (j = 0; j < (long)ul; j++)
		if (end[1 + j] < 0x21 || end[1 + j] > 0x7e)
			u->bad++;
	if (ul < 1 || ul > 70)
		u->bad++;
	if ((u->ls->uidl[i - 1] = strdup(end + 1)) == NULL)
		die("out of memory");
}

static void
seen_cb(void *arg, const char *l, size_t n)
{
	seen_line(arg, l, n);
}

static void
top_cb(void *arg, const char *l, size_t n)
{
	long *lines = arg;

	(void)l;
	(void)n;
	(*lines)++;
}

static int
cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct got {
	char id[64], uidl[80];
	long octets;
	uint64_t hash;
};

/*
 * One POP3 session (n: the how-manyth, which decides TLS, login and its ending).
 * 0 done (or nothing to do), -1 failed.
 */
static int
pop_session(long n, uint64_t *r)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct listing ls = { 0 };
	struct uidls u = { .ls = &ls };
	struct got *got = NULL;
	struct seen s;
	char auth[1024], **sorted;
	long i, k, ngot = 0, lines;
	bool implicit = n % 2 == 0, app = n % 4 >= 2, drop, rset;
	int st, ret = -1;

	if (c == NULL)
		die("out of memory");
	drop = rnd_in(r, 0, 19) == 0;
	rset = !drop && rnd_in(r, 0, 29) == 0;
	if (dial(c, NULL, implicit ? o.pop3s_port : o.pop3_port) == -1 ||
	    (implicit && tls_start(c) == -1) || conn_pop3_status(c) != 1 ||
	    (!implicit && (pop_cmd(c, "STLS") != 1 || tls_start(c) == -1))) {
		client_error("pop3: connect: %s", c->last);
		goto out;
	}
	if (app) {
		sasl_plain(app_user, app_pass, auth, sizeof(auth));
		st = pop_cmd(c, "AUTH PLAIN %s", auth);
	} else {
		st = pop_cmd(c, "USER %s", pam_user);
		if (st == 1)
			st = pop_cmd(c, "PASS %s", pam_pass);
	}
	if (st != 1) {
		if (st == 0 && strstr(c->last, "[IN-USE]") != NULL) {
			count(POP_IN_USE, 1);
			ret = 0;
		} else {
			client_error("pop3: login (%s): %s", app ? "app password" : "PAM",
			    c->last);
			count(POP_LOGIN_ERR, 1);
		}
		goto out;
	}
	count(POP_SESSIONS, 1);
	if (pop_cmd(c, "STAT") != 1 || pop_cmd(c, "LIST") != 1 ||
	    pop_multi(c, list_line, &ls) == -1 || pop_cmd(c, "UIDL") != 1 ||
	    pop_multi(c, uidl_line, &u) == -1)
		goto fail;
	if (ls.bad > 0 || u.bad > 0 || u.i != ls.n)
		record("B list session=%ld list_bad=%ld uidl_bad=%ld uidls=%ld msgs=%ld", n,
		    ls.bad, u.bad, u.i, ls.n);
	if (ls.n > 1 && u.i == ls.n) {
		if ((sorted = malloc((size_t)ls.n * sizeof(char *))) == NULL)
			die("out of memory");
		memcpy(sorted, ls.uidl, (size_t)ls.n * sizeof(char *));
		qsort(sorted, (size_t)ls.n, sizeof(char *), cmp_strp);
		for (i = 1; i < ls.n; i++)
			if (sorted[i - 1] != NULL && sorted[i] != NULL &&
			    strcmp(sorted[i - 1], sorted[i]) == 0)
				record("B uidl_dup %s", sorted[i]);
		free(sorted);
	}
	if (ls.n > 0 && rnd_in(r, 0, 9) == 0) {
		lines = 0;
		if (pop_cmd(c, "TOP 1 0") != 1 || pop_multi(c, top_cb, &lines) == -1)
			goto fail;
	}
	k = ls.n < POP_BATCH ? ls.n : POP_BATCH;
	if ((got = calloc((size_t)k + 1, sizeof(*got))) == NULL)
		die("out of memory");
	for (i = 0; i < k; i++) {
		if (drop && i == k / 2)
			break;
		seen_start(&s);
		if (pop_cmd(c, "RETR %ld", i + 1) != 1 || pop_multi(c, seen_cb, &s) == -1)
			goto fail;
		count(POP_RETR, 1);
		count(POP_BYTES, s.octets);
		if (s.octets != ls.size[i])
			record("B size %s list=%ld retr=%ld", seen_id(&s), ls.size[i], s.octets);
		if (strcmp(seen_id(&s), "foreign") == 0)
			record("B foreign uidl=%s octets=%ld", ls.uidl[i] ? ls.uidl[i] : "-",
			    s.octets);
		snprintf(got[ngot].id, sizeof(got[0].id), "%s", seen_id(&s));
		snprintf(got[ngot].uidl, sizeof(got[0].uidl), "%s", ls.uidl[i] ? ls.uidl[i] : "-");
		got[ngot].octets = s.mine;
		got[ngot].hash = s.hash;
		ngot++;
		if (pop_cmd(c, "DELE %ld", i + 1) != 1)
			goto fail;
	}
	if (drop) {
		/* gone without QUIT: RFC 1939 says nothing is deleted */
		count(POP_DROPPED, 1);
		conn_reset(c);
		ret = 0;
		goto out;
	}
	if (rset) {
		if (pop_cmd(c, "RSET") != 1)
			goto fail;
		count(POP_RSET, 1);
		ngot = 0;
	}
	if (conn_cmd(c, "QUIT") == -1 || (st = conn_pop3_status(c)) == -1) {
		for (i = 0; i < ngot; i++)
			record("Q %s %ld %016llx %s", got[i].id, got[i].octets,
			    (unsigned long long)got[i].hash, got[i].uidl);
		goto fail;
	}
	if (st != 1) {
		client_error("pop3: QUIT: %s", c->last);
		goto fail;
	}
	for (i = 0; i < ngot; i++)
		record("F %s %ld %016llx %s", got[i].id, got[i].octets,
		    (unsigned long long)got[i].hash, got[i].uidl);
	count(POP_DELETED, ngot);
	ret = k == POP_BATCH ? 1 : 0;
	goto out;
fail:
	client_error("pop3: session %ld: %s", n, c->last);
	count(POP_ERR, 1);
out:
	conn_close(c);
	for (i = 0; i < ls.n; i++)
		free(ls.uidl[i]);
	free(ls.uidl);
	free(ls.size);
	free(got);
	free(c);
	return ret;
}

static void *
pop3(void *arg)
{
	uint64_t r = seed(300);
	long n = 0;
	int res;

	(void)arg;
	while (!atomic_load(&stopping)) {
		res = pop_session(n++, &r);
		/* more waiting: at once; else a second or so, as a client polling */
		if (res != 1 && !nap(res == -1 ? 2 : 0.5 + (double)rnd_in(&r, 0, 1000) / 1000))
			break;
	}
	return NULL;
}

/* ------------------------------------------------------------------ abuse */

static atomic_int ab_running;

/* Read until the server closes: true if it did within s seconds, after a line
 * starting with want (NULL: any or none). */
static bool
wait_close(struct conn *c, int s, const char *want)
{
	char *l;
	size_t n;
	bool saw = want == NULL;
	double end = now() + s;

	rcv_timeout(c, s);
	while (now() < end) {
		if (conn_line(c, &l, &n) == -1)
			return saw && errno != EAGAIN && errno != EWOULDBLOCK;
		if (want != NULL && strncmp(l, want, strlen(want)) == 0)
			saw = true;
	}
	return false;
}

static void
ab_result(bool ok, const char *what, const struct conn *c)
{
	count(ok ? AB_OK : AB_UNEXPECTED, 1);
	if (!ok) {
		record("B abuse %s last=\"%s\"", what, c->last);
		client_error("abuse %s: unexpected: %s", what, c->last);
	}
}

static void *
abuser(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct msg m;
	uint64_t r = seed((long)arg + 400);
	long kind = (long)arg % 10, seq;
	char src[32], rcpt[1][96], auth[1024];
	const int tmo = o.server_timeout + 20;
	bool ok = false;
	size_t part;
	int st;

	if (c == NULL)
		die("out of memory");
	c->fd = -1;
	snprintf(src, sizeof(src), "127.0.0.%ld", 2 + (long)arg % 60);
	snprintf(rcpt[0], sizeof(rcpt[0]), "%s", OWNER);
	switch (kind) {
	case 0:		/* dropped mid-DATA, by FIN or RST */
	case 1:		/* stalled mid-DATA until the data timeout */
		count(kind == 0 ? AB_MIDDATA : AB_STALL, 1);
		msg_init(&m);
		seq = atomic_fetch_add(&ab_seq, 1);
		msg_make(&m, 'a', seq, pick_size(&r, true), "abuser@client.soak.test",
		    OWNER, &r);
		if (dial(c, src, o.mx_port) == -1 || smtp_hello(c, rnd_in(&r, 0, 3) == 0) == -1 ||
		    smtp_cmd(c, "MAIL FROM:<abuser@client.soak.test>") != 250 ||
		    smtp_cmd(c, "RCPT TO:<%s>", OWNER) != 250 || smtp_cmd(c, "DATA") != 354) {
			ab_result(false, "middata-setup", c);
		} else {
			record("D %s", m.id);
			part = (size_t)rnd_in(&r, 1, (long)m.wirelen - 4);
			if (conn_write(c, m.wire, part) == -1) {
				ab_result(false, "middata-write", c);
			} else if (kind == 0) {
				if (rnd_in(&r, 0, 1) == 0)
					conn_reset(c);
				count(AB_OK, 1);
			} else {
				ok = wait_close(c, tmo, "421");
				ab_result(ok, "stall", c);
			}
		}
		free(m.raw);
		free(m.wire);
		break;
	case 2:		/* idle before and after EHLO until the idle timeout */
		count(AB_IDLE_SMTP, 1);
		if (dial(c, src, o.mx_port) == -1 || smtp_reply(c) != 220 ||
		    (rnd_in(&r, 0, 1) == 0 && smtp_cmd(c, "EHLO idle.soak.test") != 250))
			ab_result(false, "idle-smtp-setup", c);
		else
			ab_result(wait_close(c, tmo, "421"), "idle-smtp", c);
		break;
	case 3:		/* unknown commands until 421 */
		count(AB_BADCMD, 1);
		if (dial(c, src, o.mx_port) == -1 || smtp_reply(c) != 220) {
			ab_result(false, "badcmd-setup", c);
			break;
		}
		for (st = 0; st < 200; st++)
			if ((ok = (smtp_cmd(c, "XYZZY %d", st) == 421)) || c->last[0] == '(')
				break;
		ab_result(ok, "badcmd", c);
		break;
	case 4:		/* TLS cut short: garbage, or half a handshake, or nothing */
		count(AB_TLSCUT, 1);
		if (dial(c, src, rnd_in(&r, 0, 1) ? o.subs_port : o.pop3s_port) == -1) {
			ab_result(false, "tlscut-connect", c);
			break;
		}
		st = (int)rnd_in(&r, 0, 2);
		if (st == 0)
			conn_write(c, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
		else if (st == 1)
			conn_write(c, "EHLO plain.soak.test\r\n", 22);
		if (st < 2 && rnd_in(&r, 0, 1) == 0)
			sleep_s(0.2);
		conn_reset(c);
		count(AB_OK, 1);
		break;
	case 5:		/* submission: a wrong password, then MAIL: 535, then 530 */
		count(AB_SUB_BADPW, 1);
		if (dial(c, src, o.subs_port) == -1 || tls_start(c) == -1 ||
		    smtp_hello(c, false) == -1) {
			ab_result(false, "sub-badpw-setup", c);
			break;
		}
		sasl_plain(pam_user, "wrong-password", auth, sizeof(auth));
		st = smtp_cmd(c, "AUTH PLAIN %s", auth);
		ok = (st == 535 || st == 454) &&
		    smtp_cmd(c, "MAIL FROM:<%s>", OWNER) == 530;
		ab_result(ok, "sub-badpw", c);
		smtp_cmd(c, "QUIT");
		break;
	case 6:		/* POP3 idle, before STLS or after it, until the idle timeout */
		count(AB_POP_IDLE, 1);
		st = (int)rnd_in(&r, 0, 1);
		if (dial(c, src, o.pop3_port) == -1 || conn_pop3_status(c) != 1 ||
		    (st == 1 && (pop_cmd(c, "STLS") != 1 || tls_start(c) == -1)))
			ab_result(false, "pop-idle-setup", c);
		else
			ab_result(wait_close(c, tmo, NULL), "pop-idle", c);
		break;
	case 7:		/* POP3 wrong password */
		count(AB_POP_BADPW, 1);
		if (dial(c, src, o.pop3s_port) == -1 || tls_start(c) == -1 ||
		    conn_pop3_status(c) != 1 || pop_cmd(c, "USER %s", pam_user) != 1) {
			ab_result(false, "pop-badpw-setup", c);
			break;
		}
		ab_result(pop_cmd(c, "PASS wrong-password") == 0, "pop-badpw", c);
		pop_cmd(c, "QUIT");
		break;
	case 8:		/* a SIZE over max_message_size */
		count(AB_OVERSIZE, 1);
		if (dial(c, src, o.mx_port) == -1 || smtp_hello(c, false) == -1) {
			ab_result(false, "oversize-setup", c);
			break;
		}
		st = smtp_cmd(c, "MAIL FROM:<abuser@client.soak.test> SIZE=2000000000");
		ab_result(st == 552, "oversize", c);
		smtp_cmd(c, "QUIT");
		break;
	default:	/* a connection closed at once, or after the greeting */
		count(AB_TLSCUT, 1);
		if (dial(c, src, rnd_in(&r, 0, 1) ? o.mx_port : o.pop3_port) == -1) {
			ab_result(false, "close-connect", c);
			break;
		}
		if (rnd_in(&r, 0, 1) == 0)
			(void)conn_line(c, &(char *){ NULL }, &(size_t){ 0 });
		conn_reset(c);
		count(AB_OK, 1);
		break;
	}
	conn_close(c);
	free(c);
	atomic_fetch_sub(&ab_running, 1);
	return NULL;
}

static void *
abuse(void *arg)
{
	pthread_attr_t at;
	pthread_t th;
	uint64_t r = seed(500);
	double gap = 60.0 / o.abuse_per_min;
	long n = 0;

	(void)arg;
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	while (nap(gap * (0.5 + (double)rnd_in(&r, 0, 1000) / 1000))) {
		if (atomic_load(&ab_running) >= ABUSE_MAX) {
			count(AB_SKIPPED, 1);
			continue;
		}
		atomic_fetch_add(&ab_running, 1);
		/* the action: n % 10, spread over the source addresses by n / 10 */
		if (pthread_create(&th, &at, abuser, (void *)(n + 10 * rnd_in(&r, 0, 59))) != 0)
			atomic_fetch_sub(&ab_running, 1);
		n++;
	}
	while (atomic_load(&ab_running) > 0)
		sleep_s(0.1);
	pthread_attr_destroy(&at);
	return NULL;
}

/* ------------------------------------------------------------------ load main */

static void
read_creds(void)
{
	FILE *f = fopen(o.credfile, "re");

	if (f == NULL)
		die("%s: %s", o.credfile, strerror(errno));
	if (fscanf(f, "%127s %255s %127s %255s", pam_user, pam_pass, app_user, app_pass) != 4)
		die("%s: \"pam_user pam_password app_user app_password\"", o.credfile);
	fclose(f);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: soak-load load -o DIR -t SECONDS -i RUNID -A CREDFILE -m MX_PORT -u SUBS_PORT\n"
	    "           -q POP3_PORT -Q POP3S_PORT [-r IN_RATE] [-c IN_CONNS] [-s SUB_RATE]\n"
	    "           [-C SUB_CONNS] [-a ABUSE_PER_MIN] [-M MAX_SIZE] [-T SERVER_TIMEOUT]\n"
	    "       soak-load sink -p PORT -o DIR [-d DEFER_PERMILLE] [-x DROP_PERMILLE]\n"
	    "       soak-load scan MAILDIR\n"
	    "CREDFILE: \"pam_user pam_password app_user app_password\"\n");
	exit(2);
}

static int
load_main(int argc, char *argv[])
{
	pthread_t *tin, *tsub, tpop, tab;
	sigset_t sigs;
	struct timespec tick = { .tv_sec = 1 };
	char extra[256];
	double t0;
	int ch;

	while ((ch = getopt(argc, argv, "a:A:c:C:i:m:M:o:q:Q:r:s:t:T:u:")) != -1) {
		switch (ch) {
		case 'a': o.abuse_per_min = (double)num(optarg, 0, 6000); break;
		case 'A': o.credfile = optarg; break;
		case 'c': o.in_conns = (int)num(optarg, 1, 64); break;
		case 'C': o.sub_conns = (int)num(optarg, 1, 8); break;
		case 'i': o.runid = optarg; break;
		case 'm': o.mx_port = (int)num(optarg, 1, 65535); break;
		case 'M': o.max_size = num(optarg, 2048, 64L << 20); break;
		case 'o': o.dir = optarg; break;
		case 'q': o.pop3_port = (int)num(optarg, 1, 65535); break;
		case 'Q': o.pop3s_port = (int)num(optarg, 1, 65535); break;
		case 'r': o.in_rate = (double)num(optarg, 1, 10000); break;
		case 's': o.sub_rate = (double)num(optarg, 1, 10000); break;
		case 't': o.duration = (double)num(optarg, 1, 7 * 86400); break;
		case 'T': o.server_timeout = (int)num(optarg, 1, 3600); break;
		case 'u': o.subs_port = (int)num(optarg, 1, 65535); break;
		default: usage();
		}
	}
	if (optind != argc || o.dir == NULL || o.runid == NULL || o.credfile == NULL ||
	    o.mx_port == 0 || o.subs_port == 0 || o.pop3_port == 0 || o.pop3s_port == 0 ||
	    o.duration == 0)
		usage();
	if (strlen(o.runid) > 24 || strspn(o.runid, "abcdefghijklmnopqrstuvwxyz0123456789") !=
	    strlen(o.runid))
		die("-i: at most 24 lower-case letters and digits");
	read_creds();
	{
		char path[4096];

		snprintf(path, sizeof(path), "%s/records.log", o.dir);
		if ((records = fopen(path, "ae")) == NULL)
			die("%s: %s", path, strerror(errno));
	}
	if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		die("SSL_CTX_new");
	SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);	/* self-signed, loopback */
	in_pace.gap = 1.0 / o.in_rate;
	sub_pace.gap = 1.0 / o.sub_rate;
	in_pace.next = sub_pace.next = now();
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	/* the threads never see SIGTERM/SIGINT: this one waits for them */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	t0 = now();
	tin = start_threads(o.in_conns, inbound);
	tsub = start_threads(o.sub_conns, submission);
	if (pthread_create(&tpop, NULL, pop3, NULL) != 0)
		die("pthread_create");
	if (o.abuse_per_min > 0 && pthread_create(&tab, NULL, abuse, NULL) != 0)
		die("pthread_create");
	printf("ready runid=%s\n", o.runid);
	fflush(stdout);
	while (now() - t0 < o.duration) {
		if (sigtimedwait(&sigs, NULL, &tick) > 0)
			break;
		snprintf(extra, sizeof(extra), "phase=load\nelapsed=%.1f\nabuse_running=%d\n",
		    now() - t0, atomic_load(&ab_running));
		write_status(extra);
	}
	atomic_store(&stopping, 1);
	snprintf(extra, sizeof(extra), "phase=stopping\nelapsed=%.1f\n", now() - t0);
	write_status(extra);
	join_threads(tin, o.in_conns);
	join_threads(tsub, o.sub_conns);
	pthread_join(tpop, NULL);
	if (o.abuse_per_min > 0)
		pthread_join(tab, NULL);
	snprintf(extra, sizeof(extra), "phase=done\nelapsed=%.1f\nload_s=%.1f\ncpu_s=%.2f\n",
	    now() - t0, o.duration, cpu_self());
	write_status(extra);
	fclose(records);
	printf("done\n");
	return 0;
}

/* ------------------------------------------------------------------ sink */

static FILE *sinklog;
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_long s_conns, s_open, s_tx, s_rcpts, s_bytes, s_deferred, s_dropped, s_foreign;

static void
sink_put(int fd, const char *s)
{
	size_t n = strlen(s);
	ssize_t w;

	while (n > 0 && (w = send(fd, s, n, MSG_NOSIGNAL)) > 0) {
		s += w;
		n -= (size_t)w;
	}
}

static void *
sink_session(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct seen s;
	uint64_t r = seed((long)arg);
	char rcpts[4096], *l;
	size_t len, rl = 0;
	bool mail = false, cut;
	long nrcpt = 0, lines;

	if (c == NULL)
		die("out of memory");
	c->fd = (int)(long)arg;
	rcv_timeout(c, 600);
	sink_put(c->fd, "220 soak-sink ESMTP\r\n");
	while (conn_line(c, &l, &len) == 0) {
		if (strncasecmp(l, "EHLO", 4) == 0) {
			sink_put(c->fd, "250-soak-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
			    "250-SIZE 0\r\n250 ENHANCEDSTATUSCODES\r\n");
			mail = false;
		} else if (strncasecmp(l, "HELO", 4) == 0) {
			sink_put(c->fd, "250 soak-sink\r\n");
		} else if (strncasecmp(l, "MAIL FROM:", 10) == 0) {
			mail = true;
			nrcpt = 0;
			rl = 0;
			rcpts[0] = '\0';
			sink_put(c->fd, "250 2.1.0 Ok\r\n");
		} else if (strncasecmp(l, "RCPT TO:", 8) == 0 && mail) {
			char *a = strchr(l, '<'), *b = a ? strchr(a, '>') : NULL;

			if (a != NULL && b != NULL && rl + (size_t)(b - a) + 2 < sizeof(rcpts))
				rl += (size_t)snprintf(rcpts + rl, sizeof(rcpts) - rl, "%s%.*s",
				    rl > 0 ? "," : "", (int)(b - a - 1), a + 1);
			nrcpt++;
			sink_put(c->fd, "250 2.1.5 Ok\r\n");
		} else if (strcasecmp(l, "DATA") == 0 && mail && nrcpt > 0) {
			sink_put(c->fd, "354 End data with <CR><LF>.<CR><LF>\r\n");
			seen_start(&s);
			cut = (long)rnd_in(&r, 0, 999) < o.drop_pm;
			lines = 0;
			for (;;) {
				if (conn_line(c, &l, &len) == -1)
					goto out;
				if (l[0] == '.') {
					if (len == 1)
						break;
					l++;
					len--;
				}
				if (cut && ++lines == 20) {
					atomic_fetch_add(&s_dropped, 1);
					goto out;
				}
				seen_line(&s, l, len);
			}
			mail = false;
			if ((long)rnd_in(&r, 0, 999) < o.defer_pm) {
				atomic_fetch_add(&s_deferred, 1);
				sink_put(c->fd, "451 4.3.0 soak-sink: try again later\r\n");
				continue;
			}
			pthread_mutex_lock(&sink_lock);
			fprintf(sinklog, "S %s %ld %016llx %s\n", seen_id(&s), s.mine,
			    (unsigned long long)s.hash, rcpts);
			fflush(sinklog);
			pthread_mutex_unlock(&sink_lock);
			if (!s.from_seen || s.id[0] == '\0')
				atomic_fetch_add(&s_foreign, 1);
			atomic_fetch_add(&s_tx, 1);
			atomic_fetch_add(&s_rcpts, nrcpt);
			atomic_fetch_add(&s_bytes, s.octets);
			sink_put(c->fd, "250 2.0.0 Ok: queued\r\n");
		} else if (strcasecmp(l, "DATA") == 0) {
			sink_put(c->fd, "554 5.5.1 No valid recipients\r\n");
		} else if (strcasecmp(l, "RSET") == 0) {
			mail = false;
			sink_put(c->fd, "250 2.0.0 Ok\r\n");
		} else if (strncasecmp(l, "NOOP", 4) == 0) {
			sink_put(c->fd, "250 2.0.0 Ok\r\n");
		} else if (strcasecmp(l, "QUIT") == 0) {
			sink_put(c->fd, "221 2.0.0 Bye\r\n");
			break;
		} else {
			sink_put(c->fd, "502 5.5.2 Not implemented\r\n");
		}
	}
out:
	close(c->fd);
	free(c);
	atomic_fetch_sub(&s_open, 1);
	return NULL;
}

static void
sink_status(const char *phase)
{
	char path[4096], tmp[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/status", o.dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		return;
	fprintf(f, "phase=%s\nsink_conns=%ld\nsink_open=%ld\nsink_tx=%ld\nsink_rcpts=%ld\n"
	    "sink_bytes=%ld\nsink_deferred=%ld\nsink_dropped=%ld\nsink_foreign=%ld\n", phase,
	    atomic_load(&s_conns), atomic_load(&s_open), atomic_load(&s_tx),
	    atomic_load(&s_rcpts), atomic_load(&s_bytes), atomic_load(&s_deferred),
	    atomic_load(&s_dropped), atomic_load(&s_foreign));
	fclose(f);
	rename(tmp, path);
}

static void *
sink_accept(void *arg)
{
	pthread_attr_t at;
	pthread_t th;
	int lfd = (int)(long)arg, fd, one = 1;

	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno != EINTR && errno != ECONNABORTED)
				sleep_s(0.1);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		atomic_fetch_add(&s_conns, 1);
		atomic_fetch_add(&s_open, 1);
		if (pthread_create(&th, &at, sink_session, (void *)(long)fd) != 0) {
			close(fd);
			atomic_fetch_sub(&s_open, 1);
		}
	}
	return NULL;
}

static int
sink_main(int argc, char *argv[])
{
	struct sockaddr_storage sa;
	socklen_t salen;
	struct timespec tick = { .tv_sec = 1 };
	sigset_t sigs;
	pthread_t th;
	char path[4096];
	int ch, lfd, one = 1, port = 0;

	while ((ch = getopt(argc, argv, "d:o:p:x:")) != -1) {
		switch (ch) {
		case 'd': o.defer_pm = (int)num(optarg, 0, 1000); break;
		case 'o': o.dir = optarg; break;
		case 'p': port = (int)num(optarg, 1, 65535); break;
		case 'x': o.drop_pm = (int)num(optarg, 0, 1000); break;
		default: usage();
		}
	}
	if (optind != argc || o.dir == NULL || port == 0)
		usage();
	snprintf(path, sizeof(path), "%s/sink.log", o.dir);
	if ((sinklog = fopen(path, "ae")) == NULL)
		die("%s: %s", path, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	salen = loopback_addr("127.0.0.1", port, false, &sa);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, salen) == -1 || listen(lfd, 128) == -1)
		die("127.0.0.1:%d: %s", port, strerror(errno));
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (pthread_create(&th, NULL, sink_accept, (void *)(long)lfd) != 0)
		die("pthread_create");
	sink_status("run");
	printf("ready port=%d\n", port);
	fflush(stdout);
	while (sigtimedwait(&sigs, NULL, &tick) <= 0)
		sink_status("run");
	/* a transaction's line is written before its 250: what is logged is all there is */
	pthread_mutex_lock(&sink_lock);
	fflush(sinklog);
	sink_status("done");
	_exit(0);
}

/* ------------------------------------------------------------------ scan */

static void
scan_dir(const char *maildir, const char *sub)
{
	char path[4096], *buf = NULL, *p, *nl, *sz;
	struct dirent *de;
	struct stat st;
	struct seen s;
	size_t cap = 0, n, len;
	ssize_t rd;
	DIR *d;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	if ((d = opendir(path)) == NULL)
		die("%s: %s", path, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/%s", maildir, sub, de->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
			printf("M unreadable 0 0 %s/%s -\n", sub, de->d_name);
			if (fd != -1)
				close(fd);
			continue;
		}
		if ((size_t)st.st_size + 1 > cap) {
			char *nb = realloc(buf, (size_t)st.st_size + 1);

			if (nb == NULL)
				die("out of memory");
			buf = nb;
			cap = (size_t)st.st_size + 1;
		}
		for (n = 0; n < (size_t)st.st_size; n += (size_t)rd)
			if ((rd = read(fd, buf + n, (size_t)st.st_size - n)) <= 0)
				break;
		close(fd);
		/* lines end in CRLF (Letterbox stores them so); count as RETR would */
		seen_start(&s);
		for (p = buf; p < buf + n; p = nl + 1) {
			if ((nl = memchr(p, '\n', (size_t)(buf + n - p))) == NULL)
				nl = buf + n;
			len = (size_t)(nl - p);
			if (len > 0 && p[len - 1] == '\r')
				len--;
			seen_line(&s, p, len);
		}
		sz = strstr(de->d_name, ",S=");
		printf("M %s %ld %016llx %s/%s %s\n", seen_id(&s), s.mine,
		    (unsigned long long)s.hash, sub, de->d_name, sz == NULL ? "-" :
		    strtol(sz + 3, NULL, 10) == (long)st.st_size ? "1" : "0");
	}
	closedir(d);
	free(buf);
}

static int
scan_main(int argc, char *argv[])
{
	if (argc != 2)
		usage();
	scan_dir(argv[1], "new");
	scan_dir(argv[1], "cur");
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "load") == 0)
		return load_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "sink") == 0)
		return sink_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "scan") == 0)
		return scan_main(argc - 1, argv + 1);
	usage();
}
