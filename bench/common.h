/*
 * common.h: what the bench programs (smtp-load, smtp-submit, pop3-load, count-sink,
 * disk-ceiling) share: the clocks, percentiles, messages and exits, argument numbers,
 * loopback addresses, the test messages, and the client's connection to the server
 * (plain, or TLS where the program defines CONN_TLS before including this file: then
 * it links OpenSSL). Each program is built from one .c file with `cc -pthread prog.c`
 * (bench/lib.sh's build_tools); it defines _GNU_SOURCE first.
 */
#ifndef LB_BENCH_COMMON_H
#define LB_BENCH_COMMON_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifdef CONN_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#endif

/* "prog: message" on stderr; program_invocation_short_name is glibc's argv[0] base. */
extern char *program_invocation_short_name;

static inline void __attribute__((format(printf, 1, 0)))
vwarnx_prog(const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", program_invocation_short_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static inline void __attribute__((format(printf, 1, 2)))
warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx_prog(fmt, ap);
	va_end(ap);
}

/* A mistake in how the program was called or set up: exit status 2. */
static inline void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarnx_prog(fmt, ap);
	va_end(ap);
	exit(2);
}

/*
 * A failure of one message or connection of a client (any thread): as warnx, but only
 * the first 20 of the run are printed; the caller counts them all.
 */
static inline void __attribute__((format(printf, 1, 2)))
client_error(const char *fmt, ...)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static long printed;
	va_list ap;

	pthread_mutex_lock(&lock);
	if (printed++ < 20) {
		va_start(ap, fmt);
		vwarnx_prog(fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&lock);
}

/* A decimal argument in lo..hi, or die. */
static inline long
num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		die("%s: not a number in %ld..%ld", s, lo, hi);
	return v;
}

/*
 * *dst = ADDR:PORT, a numeric loopback address (127.0.0.0/8; also ::1 if v6), or die:
 * the programs talk to, or listen on, loopback only. The address's length.
 */
static inline socklen_t
loopback_addr(const char *addr, int port, bool v6, struct sockaddr_storage *dst)
{
	struct sockaddr_in *s4 = (struct sockaddr_in *)dst;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)dst;
	const char *only = v6 ? "only loopback addresses (127.0.0.0/8, ::1) are allowed" :
	    "only an IPv4 loopback address (127.0.0.0/8)";

	memset(dst, 0, sizeof(*dst));
	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
			die("%s: %s", addr, only);
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return sizeof(*s4);
	}
	if (!v6)
		die("%s: %s", addr, only);
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
		die("%s: not a numeric IPv4 or IPv6 address", addr);
	if (!IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr))
		die("%s: %s", addr, only);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	return sizeof(*s6);
}

/* As many descriptors as the hard limit allows (the idle modes hold many connections). */
static inline void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The first line of the file at path, without its line end, into buf, or die. */
static inline void
read_first_line(const char *path, char *buf, int size)
{
	FILE *f = fopen(path, "re");

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	if (fgets(buf, size, f) == NULL)
		die("%s: empty", path);
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
}

/*
 * The run's id into out: given (-i: letters and digits, at most outsz - 1 of them), or
 * else prefix, the time and 16 bits of the microseconds and the PID, in hex.
 */
static inline void
make_runid(char *out, size_t outsz, const char *given, char prefix)
{
	struct timespec ts;

	if (given != NULL) {
		if (strlen(given) >= outsz || strspn(given,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") !=
		    strlen(given))
			die("-i: letters and digits, at most %zu", outsz - 1);
		snprintf(out, outsz, "%s", given);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(out, outsz, "%c%lx%04lx", prefix, (long)ts.tv_sec,
	    ((long)ts.tv_nsec / 1000 ^ (long)getpid()) & 0xffff);
}

/* "SEQ T" into the file at path for every t[SEQ] > 0 of t[0..n) (bench/queue.sh pairs them). */
static inline void
write_times(const char *path, const double *t, long n)
{
	FILE *f = fopen(path, "w");
	long s;

	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	for (s = 0; s < n; s++)
		if (t[s] > 0)
			fprintf(f, "%ld %.6f\n", s, t[s]);
	fclose(f);
}

/* n threads, thread i running fn((void *)(long)i), or die; join_threads ends them. */
static inline pthread_t *
start_threads(int n, void *(*fn)(void *))
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	int i, rc;

	if (th == NULL)
		die("out of memory");
	for (i = 0; i < n; i++)
		if ((rc = pthread_create(&th[i], NULL, fn, (void *)(long)i)) != 0)
			die("pthread_create: %s", strerror(rc));
	return th;
}

static inline void
join_threads(pthread_t *th, int n)
{
	int i;

	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	free(th);
}

/* This process's CPU seconds (user + system). */
static inline double
cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	    (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/*
 * A TCP connection to dst with send and receive timeouts of io_timeout seconds and
 * Nagle off (the clients write whole commands). The fd, or -1 with errno.
 */
static inline int
connect_timeout(const struct sockaddr_storage *dst, socklen_t dstlen, int io_timeout)
{
	struct timeval tv = { .tv_sec = io_timeout };
	int fd, one = 1, e;

	if ((fd = socket(dst->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)dst, dstlen) == -1) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* ------------------------------------------------------------------ connection */

#ifndef CONN_BUF
#define CONN_BUF	4096	/* the longest line the server may send, + 1 */
#endif

/*
 * A client's connection: the socket (and its TLS session, CONN_TLS), what was read
 * and not used yet, and the last line the server sent or what went wrong, for messages.
 * fd is -1 when closed.
 */
struct conn {
	int fd;
#ifdef CONN_TLS
	SSL *ssl;		/* NULL: plain */
#endif
	size_t len, off;
	char last[256];
	char buf[CONN_BUF];
};

/* Connect (connect_timeout): 0, or -1 with errno. */
static inline int
conn_open(struct conn *c, const struct sockaddr_storage *dst, socklen_t dstlen,
    int io_timeout)
{
	c->len = c->off = 0;
	c->last[0] = '\0';
	return (c->fd = connect_timeout(dst, dstlen, io_timeout)) == -1 ? -1 : 0;
}

static inline void
conn_close(struct conn *c)
{
#ifdef CONN_TLS
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
#endif
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->len = c->off = 0;
}

/* One send(2) or recv(2) of at most n bytes, through TLS if the connection has it. */
static inline ssize_t
conn_send_some(struct conn *c, const char *p, size_t n)
{
#ifdef CONN_TLS
	if (c->ssl != NULL) {
		int r = SSL_write(c->ssl, p, n > (1U << 30) ? 1 << 30 : (int)n);

		return r > 0 ? r : -1;
	}
#endif
	return send(c->fd, p, n, MSG_NOSIGNAL);
}

static inline ssize_t
conn_recv_some(struct conn *c, char *p, size_t n)
{
#ifdef CONN_TLS
	if (c->ssl != NULL) {
		int r, e;

		errno = 0;
		if ((r = SSL_read(c->ssl, p, n > (1U << 30) ? 1 << 30 : (int)n)) > 0)
			return r;
		if ((e = SSL_get_error(c->ssl, r)) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (e != SSL_ERROR_SYSCALL || errno == 0)
			errno = EIO;
		return -1;
	}
#endif
	return recv(c->fd, p, n, 0);
}

/* All of p[0..n): 0, or -1 with errno. */
static inline int
conn_write(struct conn *c, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = conn_send_some(c, p, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A command: the printf format's line and CRLF. 0, or -1 with errno. */
static inline int __attribute__((format(printf, 2, 3)))
conn_cmd(struct conn *c, const char *fmt, ...)
{
	char line[1200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		errno = EMSGSIZE;
		return -1;
	}
	memcpy(line + n, "\r\n", 2);
	return conn_write(c, line, (size_t)n + 2);
}

/* The failure of a read into c->last: "(connection closed)" or "(error)"; errno kept. */
static inline int
conn_read_failed(struct conn *c, ssize_t r)
{
	int e = errno;

	if (r == 0)
		e = ECONNRESET;
	snprintf(c->last, sizeof(c->last), "(%s)", r == 0 ? "connection closed" : strerror(e));
	errno = e;
	return -1;
}

/*
 * The next line, without its CRLF or LF (*line points into the buffer until the next
 * call). 0, or -1 on end of file (errno ECONNRESET), an error, a timeout (EAGAIN), or
 * a line longer than the buffer (EMSGSIZE); c->last then says which.
 */
static inline int
conn_line(struct conn *c, char **line, size_t *len)
{
	char *start, *nl;
	ssize_t r;
	size_t n;

	for (;;) {
		start = c->buf + c->off;
		if ((nl = memchr(start, '\n', c->len - c->off)) != NULL) {
			n = (size_t)(nl - start);
			c->off += n + 1;
			if (n > 0 && start[n - 1] == '\r')
				n--;
			start[n] = '\0';
			*line = start;
			*len = n;
			return 0;
		}
		if (c->off > 0) {
			memmove(c->buf, start, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len >= sizeof(c->buf) - 1) {
			errno = EMSGSIZE;
			return conn_read_failed(c, -1);
		}
		r = conn_recv_some(c, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			return conn_read_failed(c, r);
		c->len += (size_t)r;
	}
}

/* A POP3 status line: 1 for +OK, 0 for anything else (kept in c->last), -1 on I/O error. */
static inline int
conn_pop3_status(struct conn *c)
{
	char *l;
	size_t n;

	if (conn_line(c, &l, &n) == -1)
		return -1;
	snprintf(c->last, sizeof(c->last), "%s", l);
	return n >= 3 && memcmp(l, "+OK", 3) == 0;
}

/*
 * One SMTP reply, of one line or more: its code (c->last: its last line), or -1: no
 * reply (conn_line), or a line that is not one (errno EPROTO, c->last: the line).
 */
static inline int
smtp_reply(struct conn *c)
{
	char *l;
	size_t n;

	for (;;) {
		if (conn_line(c, &l, &n) == -1)
			return -1;
		snprintf(c->last, sizeof(c->last), "%s", l);
		if (n < 3 || l[0] < '1' || l[0] > '5' || l[1] < '0' || l[1] > '9' ||
		    l[2] < '0' || l[2] > '9' || (n > 3 && l[3] != ' ' && l[3] != '-')) {
			errno = EPROTO;
			return -1;
		}
		if (n == 3 || l[3] == ' ')
			return (l[0] - '0') * 100 + (l[1] - '0') * 10 + (l[2] - '0');
	}
}

/* An SMTP command (conn_cmd's arguments) and its reply: the reply's code, or -1 with errno. */
#define smtp_cmd(c, ...)	(conn_cmd((c), __VA_ARGS__) == -1 ? -1 : smtp_reply(c))

/*
 * The idle modes (smtp-load -I, pop3-load -I): hold the open connections of cs[0..n)
 * (fd != -1) until end of file on stdin, then end each with quit() (true: done) and
 * close it. How many failed to quit.
 */
static inline long
hold_then_quit(struct conn *cs, int n, bool (*quit)(struct conn *))
{
	char in[64];
	long failed = 0;
	int i;

	while (read(0, in, sizeof(in)) > 0)
		;
	for (i = 0; i < n; i++) {
		if (cs[i].fd == -1)
			continue;
		if (!quit(&cs[i]))
			failed++;
		conn_close(&cs[i]);
	}
	return failed;
}

/* Monotonic seconds. */
static inline double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qsort order for doubles. */
static inline int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th quantile (0..1) of v[0..n), sorted, by the nearest-rank method. */
static inline double
pct(const double *v, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)n + 0.999999) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i];
}

/*
 * Of n messages sent at t_start[] and acknowledged at t_ack[] (0: never): the first
 * start, the last acknowledgement, and the latencies of the acknowledged ones into lat[],
 * sorted; their number.
 */
static inline long
latencies(const double *t_start, const double *t_ack, long n, double *lat,
    double *t_first, double *t_last)
{
	long s, nl = 0;

	*t_first = *t_last = 0;
	for (s = 0; s < n; s++) {
		if (t_start[s] != 0 && (*t_first == 0 || t_start[s] < *t_first))
			*t_first = t_start[s];
		if (t_ack[s] != 0) {
			lat[nl++] = t_ack[s] - t_start[s];
			if (t_ack[s] > *t_last)
				*t_last = t_ack[s];
		}
	}
	qsort(lat, (size_t)nl, sizeof(double), cmp_double);
	return nl;
}

/* ------------------------------------------------------------------ messages */

/*
 * The test messages of smtp-load and smtp-submit. Message seq: a header (From, To,
 * "Subject: SUBJECT RUNID-SEQ", Date, Message-ID, "X-Bench-Id: RUNID-SEQ"), the body
 * that all messages share, and the trailer: the line "X-Bench-End: RUNID-SEQ" (what
 * pop3-load and count-sink check) and the "." that ends DATA. SEQ has 8 digits.
 */
struct msgfmt {
	const char *from, *to, *subject, *date, *host, *runid;	/* host: of the Message-ID */
};

/* Message seq's header into out; its length. The same length for every seq. */
static inline size_t
msg_header(const struct msgfmt *m, char *out, size_t outsz, long seq)
{
	int n = snprintf(out, outsz,
	    "From: <%s>\r\n"
	    "To: <%s>\r\n"
	    "Subject: %s %s-%08ld\r\n"
	    "Date: %s\r\n"
	    "Message-ID: <%s-%08ld@%s>\r\n"
	    "X-Bench-Id: %s-%08ld\r\n"
	    "\r\n",
	    m->from, m->to, m->subject, m->runid, seq, m->date, m->runid, seq, m->host,
	    m->runid, seq);

	return n < 0 ? 0 : (size_t)n;
}

static inline size_t
msg_trailer(const struct msgfmt *m, char *out, size_t outsz, long seq)
{
	int n = snprintf(out, outsz, "X-Bench-End: %s-%08ld\r\n.\r\n", m->runid, seq);

	return n < 0 ? 0 : (size_t)n;
}

/*
 * The shared body: lines of at most 76 letters + CRLF, so that a message is size
 * bytes. Letters only: no line starts with '.', so nothing needs dot-stuffing.
 * Allocated; its length in *len.
 */
static inline char *
msg_body(const struct msgfmt *m, long size, size_t *len)
{
	char h[1024], t[256], *body;
	size_t fixed = msg_header(m, h, sizeof(h), 0) + msg_trailer(m, t, sizeof(t), 0) - 3;
	size_t r = (size_t)size > fixed ? (size_t)size - fixed : 0, n, j, i = 0;

	if ((body = malloc(r + 1)) == NULL)
		die("out of memory");
	while (r >= 3) {
		n = r > 78 ? 78 : r;
		if (r > 78 && r - 78 < 3)
			n = r - 3;	/* leave room for a last line of at least 3 bytes */
		for (j = 0; j < n - 2; j++)
			body[i + j] = (char)('a' + (char)((i / 79 + j) % 26));
		i += n - 2;
		body[i++] = '\r';
		body[i++] = '\n';
		r -= n;
	}
	*len = i;
	return body;
}

#endif
