/*
 * smtp-submit: the submission client of the queue benchmark (bench/queue.sh): many
 * messages over a few long-lived connections, as a mail client or a web application
 * hands its outgoing mail to its server. libc, POSIX threads and OpenSSL (for -T);
 * talks to loopback addresses only.
 *
 * C connections (threads), each: connect, [TLS from the first byte (-T, RFC 8314),]
 * greeting, EHLO, [AUTH PLAIN (-A FILE: "user password" on its first line)], one
 * connection after the other (as a mail client logs in); then
 * all wait for each other (and, with -G, for a line on stdin after "ready C" was
 * printed, so that the caller can read the server's CPU before the messages start);
 * then they share N messages, each:
 *
 *     MAIL FROM, R x RCPT TO, DATA   (pipelined, RFC 2920; -1: one at a time)
 *     the message, ".", 250
 *
 * and QUIT at the end. Message SEQ has "X-Bench-Id: RUNID-SEQ" in its header and ends
 * with the body line "X-Bench-End: RUNID-SEQ" (what bench/count-sink counts); SIZE
 * bytes in all. One recipient (-r 1): -t RCPT (default rcpt@remote.test); R > 1:
 * r0@DOMAIN .. r{R-1}@DOMAIN (-d, default remote.test).
 *
 * Prints "RESULT key=value ..." on stdout: acked, errors, t_first (CLOCK_MONOTONIC
 * seconds when the first MAIL was sent), t_last_ack (the last 250 to end of data),
 * accept_s / accept_rate between the two, per-message latency (MAIL sent -> 250),
 * login_ms (connect .. AUTH done, excluding the wait for the other logins), client CPU. With -o FILE,
 * "SEQ T_ACK" per acknowledged message. Exit status 0 if all N were acknowledged, 1
 * if not, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "common.h"

#define REPLY_MAX	65536

static struct {
	const char *addr, *from, *rcpt, *domain, *helo, *authfile, *runid, *outfile;
	int port, conc, io_timeout, tls, go, pipelining;
	long n, size, r;
} o = {
	.addr = "127.0.0.1", .from = "alice@example.test", .rcpt = "rcpt@remote.test",
	.domain = "remote.test", .helo = "client.example.test", .conc = 8,
	.io_timeout = 60, .n = 1000, .size = 4096, .r = 1, .pipelining = 1,
};

static struct sockaddr_storage dst;
static socklen_t dstlen;
static SSL_CTX *ssl_ctx;
static char auth_b64[1024];
static char runid[48];
static char *body;
static size_t body_len;
static char *envelope;		/* MAIL, RCPTs, DATA: the same for every message */
static size_t envelope_len;

static atomic_long next_seq, n_acked, n_rejected, n_errors;
static atomic_int n_logged_in;
static double *t_sent, *t_ack;
static double *login_s;
static pthread_barrier_t barrier;
static pthread_mutex_t errlock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Logins one at a time, as a mail client does: Letterbox's auth process refuses more
 * than a few attempts waiting at once from one address (password guessing).
 */
static pthread_mutex_t loginlock = PTHREAD_MUTEX_INITIALIZER;
static long errors_printed;

static void __attribute__((format(printf, 1, 2)))
client_error(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&errlock);
	if (errors_printed++ < 20) {
		fprintf(stderr, "smtp-submit: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	pthread_mutex_unlock(&errlock);
}

/* ------------------------------------------------------------------ connection */

struct conn {
	int fd;
	SSL *ssl;
	size_t len, off;
	char buf[REPLY_MAX];
	char last[256];
};

static int
conn_write(struct conn *c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, p, n > (1U << 30) ? 1 << 30 : (int)n);

			if (r <= 0)
				return -1;
			w = r;
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1)
				return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static ssize_t
conn_read(struct conn *c, char *p, size_t n)
{
	ssize_t r;

	if (c->ssl != NULL) {
		int k = SSL_read(c->ssl, p, (int)n);

		return k > 0 ? k : -1;
	}
	do
		r = read(c->fd, p, n);
	while (r == -1 && errno == EINTR);
	return r;
}

/* One (possibly multi-line) reply: its code, or -1. */
static int
conn_reply(struct conn *c)
{
	char *nl;
	ssize_t r;

	for (;;) {
		while ((nl = memchr(c->buf + c->off, '\n', c->len - c->off)) != NULL) {
			char *line = c->buf + c->off;
			size_t ll = (size_t)(nl - line) + 1;

			c->off += ll;
			snprintf(c->last, sizeof(c->last), "%.*s", (int)(ll > 2 ? ll - 2 : 0),
			    line);
			if (ll < 5 || line[0] < '1' || line[0] > '5')
				return -1;
			if (line[3] == ' ' || line[3] == '\r')
				return (line[0] - '0') * 100 + (line[1] - '0') * 10 +
				    (line[2] - '0');
			if (line[3] != '-')
				return -1;
		}
		if (c->off > 0) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		if ((r = conn_read(c, c->buf + c->len, sizeof(c->buf) - c->len)) <= 0) {
			snprintf(c->last, sizeof(c->last), "%s", r == 0 ?
			    "(connection closed)" : "(read error or timeout)");
			return -1;
		}
		c->len += (size_t)r;
	}
}

static int
conn_cmd(struct conn *c, const char *line)
{
	char b[1200];
	int n = snprintf(b, sizeof(b), "%s\r\n", line);

	return conn_write(c, b, (size_t)n);
}

static void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->len = c->off = 0;
}

/* connect [TLS] greeting EHLO [AUTH]: 0 or -1. */
static int
conn_login1(struct conn *c)
{
	char line[1200];

	c->len = c->off = 0;
	c->last[0] = '\0';
	if ((c->fd = connect_timeout(&dst, dstlen, o.io_timeout)) == -1) {
		snprintf(c->last, sizeof(c->last), "connect: %s", strerror(errno));
		return -1;
	}
	if (o.tls) {
		if ((c->ssl = SSL_new(ssl_ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
		    SSL_connect(c->ssl) != 1) {
			snprintf(c->last, sizeof(c->last), "TLS handshake failed: %s",
			    ERR_reason_error_string(ERR_get_error()));
			return -1;
		}
	}
	if (conn_reply(c) != 220)
		return -1;
	snprintf(line, sizeof(line), "EHLO %s", o.helo);
	if (conn_cmd(c, line) == -1 || conn_reply(c) != 250)
		return -1;
	if (o.authfile != NULL) {
		snprintf(line, sizeof(line), "AUTH PLAIN %s", auth_b64);
		if (conn_cmd(c, line) == -1 || conn_reply(c) != 235)
			return -1;
	}
	return 0;
}

static int
conn_login(struct conn *c, double *took)
{
	double t0;
	int r;

	pthread_mutex_lock(&loginlock);
	t0 = now();
	r = conn_login1(c);
	*took = now() - t0;
	pthread_mutex_unlock(&loginlock);
	return r;
}

/* ------------------------------------------------------------------ messages */

static size_t
msg_header(char *out, size_t outsz, long seq)
{
	int n = snprintf(out, outsz,
	    "From: <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: queue bench %s-%08ld\r\n"
	    "Date: Sun, 29 Nov 2026 12:00:00 +0000\r\n"
	    "Message-ID: <%s-%08ld@client.example.test>\r\n"
	    "X-Bench-Id: %s-%08ld\r\n"
	    "\r\n",
	    o.from, o.r == 1 ? o.rcpt : "undisclosed-recipients:;", runid, seq, runid,
	    seq, runid, seq);

	return n < 0 ? 0 : (size_t)n;
}

static size_t
msg_trailer(char *out, size_t outsz, long seq)
{
	int n = snprintf(out, outsz, "X-Bench-End: %s-%08ld\r\n.\r\n", runid, seq);

	return n < 0 ? 0 : (size_t)n;
}

/* Body lines of letters (nothing to dot-stuff), so that a message is o.size bytes. */
static void
make_body(void)
{
	char h[1024], t[256];
	size_t fixed = msg_header(h, sizeof(h), 0) + msg_trailer(t, sizeof(t), 0) - 3;
	size_t r = (size_t)o.size > fixed ? (size_t)o.size - fixed : 0, len, j, i = 0;

	if ((body = malloc(r + 1)) == NULL)
		die("out of memory");
	while (r >= 3) {
		len = r > 78 ? 78 : r;
		if (r > 78 && r - 78 < 3)
			len = r - 3;
		for (j = 0; j < len - 2; j++)
			body[i + j] = (char)('a' + (char)((i / 79 + j) % 26));
		i += len - 2;
		body[i++] = '\r';
		body[i++] = '\n';
		r -= len;
	}
	body_len = i;
}

static void
make_envelope(void)
{
	size_t cap = 600 + (size_t)o.r * 300, n = 0;
	long k;

	if ((envelope = malloc(cap)) == NULL)
		die("out of memory");
	n += (size_t)snprintf(envelope + n, cap - n, "MAIL FROM:<%s>\r\n", o.from);
	for (k = 0; k < o.r; k++) {
		if (o.r == 1)
			n += (size_t)snprintf(envelope + n, cap - n, "RCPT TO:<%s>\r\n", o.rcpt);
		else
			n += (size_t)snprintf(envelope + n, cap - n, "RCPT TO:<r%ld@%s>\r\n", k,
			    o.domain);
	}
	n += (size_t)snprintf(envelope + n, cap - n, "DATA\r\n");
	envelope_len = n;
}

/* One message on an open connection: 1 acknowledged, 0 refused, -1 connection lost. */
static int
send_one(struct conn *c, long seq, char *msgbuf)
{
	size_t h, t;
	int code, bad = 0;
	long k;

	t_sent[seq] = now();
	if (o.pipelining) {
		if (conn_write(c, envelope, envelope_len) == -1)
			return -1;
		for (k = 0; k < o.r + 2; k++) {
			if ((code = conn_reply(c)) == -1)
				return -1;
			if (k == 0 && code != 250)
				bad = 1;
			else if (k > 0 && k <= o.r && code != 250 && code != 251)
				bad = 1;
			else if (k == o.r + 1 && code != 354)
				bad = 2;
		}
		if (bad == 1 && code == 354) {
			/* DATA went through anyway: end it empty */
			if (conn_write(c, ".\r\n", 3) == -1 || conn_reply(c) == -1)
				return -1;
		}
		if (bad) {
			client_error("message %ld refused: %s", seq, c->last);
			if (conn_cmd(c, "RSET") == -1 || conn_reply(c) == -1)
				return -1;
			return 0;
		}
	} else {
		const char *p = envelope, *nl;

		while ((nl = strchr(p, '\n')) != NULL) {
			if (conn_write(c, p, (size_t)(nl - p) + 1) == -1 ||
			    (code = conn_reply(c)) == -1)
				return -1;
			if (code >= 400) {
				client_error("message %ld refused: %s", seq, c->last);
				if (conn_cmd(c, "RSET") == -1 || conn_reply(c) == -1)
					return -1;
				return 0;
			}
			p = nl + 1;
		}
	}
	h = msg_header(msgbuf, 1024, seq);
	memcpy(msgbuf + h, body, body_len);
	t = msg_trailer(msgbuf + h + body_len, 256, seq);
	if (conn_write(c, msgbuf, h + body_len + t) == -1 || (code = conn_reply(c)) == -1)
		return -1;
	if (code != 250) {
		client_error("message %ld: end of data: %s", seq, c->last);
		return 0;
	}
	t_ack[seq] = now();
	return 1;
}

static void *
worker(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	char *msgbuf = malloc(body_len + 1024 + 256);
	long seq;
	double took;
	int r, up;

	if (c == NULL || msgbuf == NULL)
		die("out of memory");
	c->fd = -1;
	up = conn_login(c, &took) == 0;
	login_s[(long)arg] = took;
	atomic_fetch_add(&n_logged_in, 1);
	if (!up) {
		client_error("connection %ld: login: %s", (long)arg, c->last);
		conn_close(c);
	}
	pthread_barrier_wait(&barrier);
	while ((seq = atomic_fetch_add(&next_seq, 1)) < o.n) {
		if (!up) {
			if (conn_login(c, &took) == -1) {
				client_error("message %ld: login: %s", seq, c->last);
				conn_close(c);
				atomic_fetch_add(&n_errors, 1);
				continue;
			}
			up = 1;
		}
		r = send_one(c, seq, msgbuf);
		if (r == 1)
			atomic_fetch_add(&n_acked, 1);
		else if (r == 0)
			atomic_fetch_add(&n_rejected, 1);
		else {
			client_error("message %ld: connection lost: %s", seq, c->last);
			atomic_fetch_add(&n_errors, 1);
			conn_close(c);
			up = 0;
		}
	}
	if (up) {
		if (conn_cmd(c, "QUIT") == 0)
			conn_reply(c);
		conn_close(c);
	}
	free(msgbuf);
	free(c);
	return NULL;
}

/* ------------------------------------------------------------------ main */

static void
read_auth(void)
{
	char line[600], *sp, raw[600];
	FILE *f = fopen(o.authfile, "r");
	size_t ul, pl;

	if (f == NULL)
		die("%s: %s", o.authfile, strerror(errno));
	if (fgets(line, sizeof(line), f) == NULL)
		die("%s: empty", o.authfile);
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	if ((sp = strchr(line, ' ')) == NULL)
		die("%s: want \"user password\"", o.authfile);
	*sp++ = '\0';
	ul = strlen(line);
	pl = strlen(sp);
	if (ul + pl + 2 > sizeof(raw) || (ul + pl + 2 + 2) / 3 * 4 + 1 > sizeof(auth_b64))
		die("%s: too long", o.authfile);
	raw[0] = '\0';
	memcpy(raw + 1, line, ul);
	raw[1 + ul] = '\0';
	memcpy(raw + 2 + ul, sp, pl);
	EVP_EncodeBlock((unsigned char *)auth_b64, (unsigned char *)raw, (int)(ul + pl + 2));
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: smtp-submit -p PORT [-a ADDR] [-n N] [-s BYTES] [-c CONC] [-r R]\n"
	    "                   [-t RCPT] [-d DOMAIN] [-f FROM] [-e HELO] [-T] [-A FILE]\n"
	    "                   [-G] [-1] [-i RUNID] [-o FILE] [-R S]\n"
	    "  -n N      messages (default 1000) of BYTES (-s, 4096) over CONC connections (-c, 8)\n"
	    "  -r R      recipients per message: 1 is RCPT (-t, rcpt@remote.test), more are\n"
	    "            r0@DOMAIN .. (-d, remote.test); -f FROM (alice@example.test)\n"
	    "  -T        TLS from the first byte (RFC 8314; the certificate is not checked)\n"
	    "  -A FILE   AUTH PLAIN with \"user password\" from FILE's first line\n"
	    "  -G        after every connection logged in, print \"ready C\" and wait for a\n"
	    "            line on stdin before sending\n"
	    "  -1        no pipelining: one command, one reply\n"
	    "  -o FILE   \"SEQ T_ACK\" (CLOCK_MONOTONIC) per acknowledged message\n"
	    "  -R S      seconds to wait for any one reply (default 60)\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)&dst;
	pthread_t *th;
	double t_first = 0, t_last = 0, cpu0, cpu1, *lat, login_max = 0, login_sum = 0;
	long s, nl = 0, acked;
	int ch, i, rc;

	while ((ch = getopt(argc, argv, "1a:A:c:d:e:f:Gi:n:o:p:r:R:s:t:T")) != -1) {
		switch (ch) {
		case '1': o.pipelining = 0; break;
		case 'a': o.addr = optarg; break;
		case 'A': o.authfile = optarg; break;
		case 'c': o.conc = (int)num(optarg, 1, 1024); break;
		case 'd': o.domain = optarg; break;
		case 'e': o.helo = optarg; break;
		case 'f': o.from = optarg; break;
		case 'G': o.go = 1; break;
		case 'i': o.runid = optarg; break;
		case 'n': o.n = num(optarg, 1, 100000000); break;
		case 'o': o.outfile = optarg; break;
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'r': o.r = num(optarg, 1, 10000); break;
		case 'R': o.io_timeout = (int)num(optarg, 1, 3600); break;
		case 's': o.size = num(optarg, 256, 64L << 20); break;
		case 't': o.rcpt = optarg; break;
		case 'T': o.tls = 1; break;
		default: usage();
		}
	}
	if (optind != argc || o.port == 0)
		usage();
	if (strlen(o.from) > 256 || strlen(o.rcpt) > 256 || strlen(o.domain) > 200 ||
	    strlen(o.helo) > 255)
		die("sender, recipient, domain or HELO name too long");
	memset(&dst, 0, sizeof(dst));
	if (inet_pton(AF_INET, o.addr, &s4->sin_addr) != 1 ||
	    (ntohl(s4->sin_addr.s_addr) >> 24) != 127)
		die("%s: only an IPv4 loopback address (127.0.0.0/8)", o.addr);
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)o.port);
	dstlen = sizeof(*s4);
	if (o.runid != NULL) {
		if (strlen(o.runid) >= 40 || strspn(o.runid,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
		    strlen(o.runid))
			die("-i: letters and digits, at most 39");
		snprintf(runid, sizeof(runid), "%s", o.runid);
	} else {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(runid, sizeof(runid), "q%lx%04lx", (long)ts.tv_sec,
		    ((long)ts.tv_nsec / 1000 ^ (long)getpid()) & 0xffff);
	}
	signal(SIGPIPE, SIG_IGN);
	if (o.authfile != NULL)
		read_auth();
	if (o.tls) {
		if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	make_body();
	make_envelope();
	t_sent = calloc((size_t)o.n, sizeof(double));
	t_ack = calloc((size_t)o.n, sizeof(double));
	lat = calloc((size_t)o.n, sizeof(double));
	login_s = calloc((size_t)o.conc, sizeof(double));
	th = calloc((size_t)o.conc, sizeof(*th));
	if (t_sent == NULL || t_ack == NULL || lat == NULL || login_s == NULL || th == NULL)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, (unsigned)o.conc + 1);
	cpu0 = cpu_self();
	for (i = 0; i < o.conc; i++)
		if ((rc = pthread_create(&th[i], NULL, worker, (void *)(long)i)) != 0)
			die("pthread_create: %s", strerror(rc));
	/* every connection has logged in (or failed to) before the first message */
	if (o.go) {
		char in[64];

		while (atomic_load(&n_logged_in) < o.conc)
			usleep(1000);
		printf("ready %d\n", o.conc);
		fflush(stdout);
		if (fgets(in, sizeof(in), stdin) == NULL)
			die("stdin closed before the go");
	}
	pthread_barrier_wait(&barrier);
	for (i = 0; i < o.conc; i++)
		pthread_join(th[i], NULL);
	cpu1 = cpu_self();
	for (i = 0; i < o.conc; i++) {
		login_sum += login_s[i];
		if (login_s[i] > login_max)
			login_max = login_s[i];
	}
	for (s = 0; s < o.n; s++) {
		if (t_sent[s] != 0 && (t_first == 0 || t_sent[s] < t_first))
			t_first = t_sent[s];
		if (t_ack[s] != 0) {
			lat[nl++] = t_ack[s] - t_sent[s];
			if (t_ack[s] > t_last)
				t_last = t_ack[s];
		}
	}
	acked = atomic_load(&n_acked);
	qsort(lat, (size_t)nl, sizeof(double), cmp_double);
	{
		double a = t_last > t_first ? t_last - t_first : 0;

		printf("RESULT kind=submit runid=%s port=%d n=%ld r=%ld size=%ld conc=%d tls=%d "
		    "auth=%d pipelining=%d acked=%ld rejected=%ld errors=%ld t_first=%.6f "
		    "t_last_ack=%.6f accept_s=%.4f accept_rate=%.1f lat_p50_ms=%.2f "
		    "lat_p99_ms=%.2f lat_max_ms=%.2f login_ms_max=%.1f login_ms_mean=%.1f "
		    "client_cpu_s=%.3f\n", runid, o.port, o.n, o.r, o.size, o.conc, o.tls,
		    o.authfile != NULL, o.pipelining, acked, atomic_load(&n_rejected),
		    atomic_load(&n_errors), t_first, t_last, a, a > 0 ? (double)acked / a : 0,
		    pct(lat, nl, .50) * 1e3, pct(lat, nl, .99) * 1e3, pct(lat, nl, 1) * 1e3,
		    login_max * 1e3, login_sum * 1e3 / o.conc, cpu1 - cpu0);
	}
	fflush(stdout);
	if (o.outfile != NULL) {
		FILE *f = fopen(o.outfile, "w");

		if (f == NULL)
			die("%s: %s", o.outfile, strerror(errno));
		for (s = 0; s < o.n; s++)
			if (t_ack[s] != 0)
				fprintf(f, "%ld %.6f\n", s, t_ack[s]);
		fclose(f);
	}
	free(t_sent);
	free(t_ack);
	free(lat);
	free(login_s);
	free(th);
	return acked == o.n ? 0 : 1;
}
