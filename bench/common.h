/*
 * common.h: what the bench programs (smtp-load, pop3-load, disk-ceiling) share: the
 * clocks, percentiles, messages and exits, argument numbers and the connection to the
 * server. Each program is built from one .c file with `cc -pthread prog.c`.
 */
#ifndef LB_BENCH_COMMON_H
#define LB_BENCH_COMMON_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

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

#endif
