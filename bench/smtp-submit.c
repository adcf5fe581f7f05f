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
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define CONN_TLS		/* common.h: connections with TLS (-T) */
#define CONN_BUF	65536
#include "common.h"

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
static char runid[40];
static struct msgfmt msg = {
	.subject = "queue bench", .date = "Sun, 29 Nov 2026 12:00:00 +0000",
	.host = "client.example.test", .runid = runid,
};
static char *body;
static size_t body_len;
static char *envelope;		/* MAIL, RCPTs, DATA: the same for every message */
static size_t envelope_len;

static atomic_long next_seq, n_acked, n_rejected, n_errors;
static atomic_int n_logged_in;
static double *t_sent, *t_ack;
static double *login_s;
static pthread_barrier_t barrier;
/*
 * Logins one at a time, as a mail client does: Letterbox's auth process refuses more
 * than a few attempts waiting at once from one address (password guessing).
 */
static pthread_mutex_t loginlock = PTHREAD_MUTEX_INITIALIZER;

/* ------------------------------------------------------------------ connection */

/* connect [TLS] greeting EHLO [AUTH]: 0 or -1. */
static int
conn_login1(struct conn *c)
{
	if (conn_open(c, &dst, dstlen, o.io_timeout) == -1) {
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
	if (smtp_reply(c) != 220 || smtp_cmd(c, "EHLO %s", o.helo) != 250)
		return -1;
	if (o.authfile != NULL && smtp_cmd(c, "AUTH PLAIN %s", auth_b64) != 235)
		return -1;
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
			if ((code = smtp_reply(c)) == -1)
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
			if (conn_write(c, ".\r\n", 3) == -1 || smtp_reply(c) == -1)
				return -1;
		}
		if (bad) {
			client_error("message %ld refused: %s", seq, c->last);
			return smtp_cmd(c, "RSET") == -1 ? -1 : 0;
		}
	} else {
		const char *p = envelope, *nl;

		while ((nl = strchr(p, '\n')) != NULL) {
			if (conn_write(c, p, (size_t)(nl - p) + 1) == -1 ||
			    (code = smtp_reply(c)) == -1)
				return -1;
			if (code >= 400) {
				client_error("message %ld refused: %s", seq, c->last);
				return smtp_cmd(c, "RSET") == -1 ? -1 : 0;
			}
			p = nl + 1;
		}
	}
	h = msg_header(&msg, msgbuf, 1024, seq);
	memcpy(msgbuf + h, body, body_len);
	t = msg_trailer(&msg, msgbuf + h + body_len, 256, seq);
	if (conn_write(c, msgbuf, h + body_len + t) == -1 || (code = smtp_reply(c)) == -1)
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
		smtp_cmd(c, "QUIT");
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
	size_t ul, pl;

	read_first_line(o.authfile, line, sizeof(line));
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
	pthread_t *th;
	double t_first, t_last, cpu0, cpu1, *lat, login_max = 0, login_sum = 0;
	long nl, acked;
	int ch, i;

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
	dstlen = loopback_addr(o.addr, o.port, false, &dst);
	make_runid(runid, sizeof(runid), o.runid, 'q');
	msg.from = o.from;
	msg.to = o.r == 1 ? o.rcpt : "undisclosed-recipients:;";
	signal(SIGPIPE, SIG_IGN);
	if (o.authfile != NULL)
		read_auth();
	if (o.tls) {
		if ((ssl_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
			die("SSL_CTX_new failed");
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	}
	body = msg_body(&msg, o.size, &body_len);
	make_envelope();
	t_sent = calloc((size_t)o.n, sizeof(double));
	t_ack = calloc((size_t)o.n, sizeof(double));
	lat = calloc((size_t)o.n, sizeof(double));
	login_s = calloc((size_t)o.conc, sizeof(double));
	if (t_sent == NULL || t_ack == NULL || lat == NULL || login_s == NULL)
		die("out of memory");
	pthread_barrier_init(&barrier, NULL, (unsigned)o.conc + 1);
	cpu0 = cpu_self();
	th = start_threads(o.conc, worker);
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
	join_threads(th, o.conc);
	cpu1 = cpu_self();
	for (i = 0; i < o.conc; i++) {
		login_sum += login_s[i];
		if (login_s[i] > login_max)
			login_max = login_s[i];
	}
	nl = latencies(t_sent, t_ack, o.n, lat, &t_first, &t_last);
	acked = atomic_load(&n_acked);
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
	if (o.outfile != NULL)
		write_times(o.outfile, t_ack, o.n);
	free(t_sent);
	free(t_ack);
	free(lat);
	free(login_s);
	return acked == o.n ? 0 : 1;
}
