/*
 * count-sink: a counting SMTP sink for the queue benchmark (bench/queue.sh), the one
 * next hop both Letterbox (smarthost) and Postfix (relayhost) deliver to.
 * libc only; one thread, epoll; listens on a loopback address only.
 *
 * It accepts everything (EHLO offers PIPELINING, 8BITMIME, SIZE, ENHANCEDSTATUSCODES;
 * no STARTTLS, no AUTH), discards the message and counts:
 *
 *   - per message of this run (its "X-Bench-Id: RUNID-SEQ" header field): the
 *     recipients accepted in the transactions that carried it. A server may split a
 *     message's recipients over several transactions (Postfix sends at most
 *     smtp_destination_recipient_limit = 50 per transaction); the message is
 *     complete once R recipients have been delivered in all, and the time of the
 *     250 that completed it is kept;
 *   - the run is complete when all N messages are: the time of that last 250 is
 *     "t_done", printed at once on stdout in a "RESULT" line (CLOCK_MONOTONIC
 *     seconds, the clock bench/smtp-submit prints too, so the two can be subtracted);
 *   - transactions, recipients, connections, and what should never happen:
 *     transactions of other runs or without an id (foreign), messages whose last body
 *     line is not their "X-Bench-End: RUNID-SEQ" (truncated), recipients beyond R for
 *     a message (dup_rcpts: a message delivered twice).
 *
 * stdin: "at T" (a CLOCK_MONOTONIC time) prints "AT t=T complete=K rcpts=J": how many
 * messages were complete, and recipients delivered, by then. End of file on stdin
 * prints a "FINAL" line with every count and, with -o FILE, writes "SEQ T" for each
 * complete message into FILE; then the sink exits. With -T S, if the run is not
 * complete S seconds after start, a RESULT line with complete=0 is printed (the sink
 * keeps running until end of file).
 *
 * The time kept for a 250 is taken right after it was written to the socket.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

#define IN_MAX		65536
#define OUT_MAX		65536
#define CONN_MAX	4096

struct session {	/* one client connection */
	int	 fd;
	bool	 data;		/* reading message data */
	bool	 header;	/* in the message's header */
	bool	 end_ok;	/* the last body line seen was the end marker */
	bool	 overlong;	/* the current line did not fit the buffer */
	long	 seq;		/* this message's id, -1: none or foreign */
	long	 tx_rcpts;	/* recipients of the current transaction */
	bool	 mail;		/* MAIL given */
	size_t	 inlen, outlen;
	char	 in[IN_MAX];
	char	 out[OUT_MAX];
};

static struct {
	const char *addr, *runid, *outfile;
	int port;
	long n, r;
	double timeout;
} o = { .addr = "127.0.0.1", .n = 1000, .r = 1 };

static long *rc;		/* recipients delivered, per message */
static double *t_complete;	/* when message seq became complete; 0: not yet */
static long complete, total_rcpts, transactions, foreign, truncated, dup_rcpts, conns,
    max_conns, open_conns, bad_commands;
static double t_start, t_first_ack, t_done;
static bool reported;
static char ids[64];		/* "X-Bench-Id: RUNID-" */
static char ends[64];		/* "X-Bench-End: RUNID-" */
static int ep;
static long *pend;		/* messages completed by the 250s being written now */
static size_t npend, pend_cap;
static bool acked_now;		/* a 250 to end of data is being written */

static void
result_line(void)
{
	printf("RESULT kind=sink complete=%d n=%ld r=%ld msgs_complete=%ld delivered_rcpts=%ld "
	    "transactions=%ld conns=%ld max_conns=%ld foreign=%ld truncated=%ld "
	    "dup_rcpts=%ld t_first_ack=%.6f t_done=%.6f\n", complete == o.n, o.n, o.r,
	    complete, total_rcpts, transactions, conns, max_conns, foreign, truncated,
	    dup_rcpts, t_first_ack, t_done);
	fflush(stdout);
	reported = true;
}

static void
put(struct session *c, const char *s)
{
	size_t n = strlen(s);

	if (c->outlen + n <= sizeof(c->out)) {
		memcpy(c->out + c->outlen, s, n);
		c->outlen += n;
	}
}

static void
conn_free(struct session *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	open_conns--;
}

/* Write what is queued; -1 if the connection is gone. */
static int
flush_out(struct session *c)
{
	size_t off = 0;
	ssize_t w;

	while (off < c->outlen) {
		w = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (w == -1)
			return -1;
		off += (size_t)w;
	}
	memmove(c->out, c->out + off, c->outlen - off);
	c->outlen -= off;
	return 0;
}

/* The end of a message: count it. */
static void
end_of_data(struct session *c)
{
	long seq = c->seq;

	transactions++;
	total_rcpts += c->tx_rcpts;
	if (seq < 0) {
		foreign++;
	} else {
		if (!c->end_ok)
			truncated++;
		if (rc[seq] + c->tx_rcpts > o.r)
			dup_rcpts += rc[seq] + c->tx_rcpts - (rc[seq] > o.r ? rc[seq] : o.r);
		rc[seq] += c->tx_rcpts;
		if (rc[seq] >= o.r && t_complete[seq] == 0) {
			/* stamped once the 250 is written */
			if (npend == pend_cap) {
				pend_cap = pend_cap ? 2 * pend_cap : 64;
				if ((pend = realloc(pend, pend_cap * sizeof(*pend))) == NULL)
					die("out of memory");
			}
			pend[npend++] = seq;
			t_complete[seq] = -1;
			complete++;
		}
	}
	acked_now = true;
	c->data = c->mail = false;
	c->tx_rcpts = 0;
	c->seq = -1;
}

/* One data line (with its CRLF). */
static void
data_line(struct session *c, const char *line, size_t len)
{
	size_t il = strlen(ids), el = strlen(ends);

	if (len == 3 && memcmp(line, ".\r\n", 3) == 0) {
		end_of_data(c);
		put(c, "250 2.0.0 Ok: queued\r\n");
		return;
	}
	if (c->header) {
		if (len <= 2 && (line[0] == '\r' || line[0] == '\n'))
			c->header = false;
		else if (c->seq < 0 && len > il && strncasecmp(line, ids, il) == 0) {
			char *end;
			long seq = strtol(line + il, &end, 10);

			if (end != line + il && seq >= 0 && seq < o.n)
				c->seq = seq;
		}
		return;
	}
	c->end_ok = false;
	if (c->seq >= 0 && len > el && strncasecmp(line, ends, el) == 0) {
		char *end;
		long seq = strtol(line + el, &end, 10);

		c->end_ok = end != line + el && seq == c->seq;
	}
}

/* One command line (with its CRLF or LF). */
static int
command(struct session *c, char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		line[--len] = '\0';
	if (strncasecmp(line, "EHLO", 4) == 0) {
		put(c, "250-count-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
		    "250-SIZE 0\r\n250 ENHANCEDSTATUSCODES\r\n");
		c->mail = false;
		c->tx_rcpts = 0;
	} else if (strncasecmp(line, "HELO", 4) == 0) {
		put(c, "250 count-sink\r\n");
	} else if (strncasecmp(line, "MAIL FROM:", 10) == 0) {
		c->mail = true;
		c->tx_rcpts = 0;
		put(c, "250 2.1.0 Ok\r\n");
	} else if (strncasecmp(line, "RCPT TO:", 8) == 0) {
		if (!c->mail) {
			put(c, "503 5.5.1 MAIL first\r\n");
		} else {
			c->tx_rcpts++;
			put(c, "250 2.1.5 Ok\r\n");
		}
	} else if (strcasecmp(line, "DATA") == 0) {
		if (!c->mail || c->tx_rcpts == 0) {
			put(c, "554 5.5.1 No valid recipients\r\n");
		} else {
			c->data = c->header = true;
			c->end_ok = false;
			c->seq = -1;
			put(c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		}
	} else if (strcasecmp(line, "RSET") == 0) {
		c->mail = false;
		c->tx_rcpts = 0;
		put(c, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "NOOP", 4) == 0) {
		put(c, "250 2.0.0 Ok\r\n");
	} else if (strcasecmp(line, "QUIT") == 0) {
		put(c, "221 2.0.0 Bye\r\n");
		return -1;
	} else {
		bad_commands++;
		put(c, "502 5.5.2 Not implemented\r\n");
	}
	return 0;
}

static void
conn_input(struct session *c)
{
	ssize_t r;
	int quit = 0;
	size_t i;

	for (;;) {
		char *p, *nl;
		size_t left;

		r = read(c->fd, c->in + c->inlen, sizeof(c->in) - c->inlen);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r <= 0) {
			quit = 1;
			break;
		}
		c->inlen += (size_t)r;
		p = c->in;
		left = c->inlen;
		while (!quit && (nl = memchr(p, '\n', left)) != NULL) {
			size_t len = (size_t)(nl - p) + 1;

			if (c->overlong)
				c->overlong = false;	/* the tail of a long line */
			else if (c->data)
				data_line(c, p, len);
			else if (command(c, p, len) == -1)
				quit = 1;
			p += len;
			left -= len;
		}
		if (left == sizeof(c->in)) {
			/* a line longer than the buffer: its rest is skipped */
			c->overlong = true;
			left = 0;
		}
		memmove(c->in, p, left);
		c->inlen = left;
		if (quit)
			break;
	}
	if (flush_out(c) == -1)
		quit = 1;
	if (acked_now) {
		double t = now();

		if (t_first_ack == 0)
			t_first_ack = t;
		for (i = 0; i < npend; i++)
			t_complete[pend[i]] = t;
		npend = 0;
		acked_now = false;
		if (complete == o.n && !reported) {
			t_done = t;
			result_line();
		}
	}
	if (quit)
		conn_free(c);
	else if (c->outlen > 0) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };

		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

static void
stdin_line(char *line)
{
	double t;
	long k = 0, j = 0, i;

	if (sscanf(line, "at %lf", &t) == 1) {
		for (i = 0; i < o.n; i++)
			if (t_complete[i] > 0 && t_complete[i] <= t) {
				k++;
				j += rc[i];
			}
		printf("AT t=%.6f complete=%ld rcpts=%ld\n", t, k, j);
		fflush(stdout);
	}
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: count-sink -p PORT [-a ADDR] [-n N] [-r R] [-i RUNID] [-T S] [-o FILE]\n"
	    "  -n N      messages of the run (default 1000), each with R recipients (-r, 1)\n"
	    "  -i RUNID  the run's id (X-Bench-Id: RUNID-SEQ); others count as foreign\n"
	    "  -T S      print RESULT complete=0 if not complete after S seconds\n"
	    "  -o FILE   at the end, \"SEQ T\" for every complete message\n"
	    "stdin: \"at T\" -> \"AT t=T complete=K rcpts=J\"; end of file -> FINAL, exit\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	struct sockaddr_storage sa;
	socklen_t salen;
	struct epoll_event ev, evs[64];
	char sbuf[4096];
	size_t slen = 0;
	int lfd, ch, one = 1, i, n, stdin_ok;
	bool eof = false;

	while ((ch = getopt(argc, argv, "a:i:n:o:p:r:T:")) != -1) {
		switch (ch) {
		case 'a': o.addr = optarg; break;
		case 'i': o.runid = optarg; break;
		case 'n': o.n = num(optarg, 1, 10000000); break;
		case 'o': o.outfile = optarg; break;
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'r': o.r = num(optarg, 1, 10000); break;
		case 'T': o.timeout = (double)num(optarg, 1, 86400); break;
		default: usage();
		}
	}
	if (optind != argc || o.port == 0 || o.runid == NULL)
		usage();
	if (strlen(o.runid) > 40)
		die("-i: at most 40 characters");
	snprintf(ids, sizeof(ids), "X-Bench-Id: %s-", o.runid);
	snprintf(ends, sizeof(ends), "X-Bench-End: %s-", o.runid);
	rc = calloc((size_t)o.n, sizeof(*rc));
	t_complete = calloc((size_t)o.n, sizeof(*t_complete));
	if (rc == NULL || t_complete == NULL)
		die("out of memory");
	signal(SIGPIPE, SIG_IGN);
	salen = loopback_addr(o.addr, o.port, false, &sa);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, salen) == -1 || listen(lfd, 1024) == -1)
		die("%s:%d: %s", o.addr, o.port, strerror(errno));
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll: %s", strerror(errno));
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev.events = EPOLLIN;
	ev.data.ptr = &ep;	/* marks stdin */
	stdin_ok = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) == 0;
	t_start = now();
	printf("ready port=%d\n", o.port);
	fflush(stdout);
	while (!eof) {
		n = epoll_wait(ep, evs, 64, 100);
		if (n == -1 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		for (i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				int fd;

				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK |
				    SOCK_CLOEXEC)) != -1) {
					struct session *c;

					if (open_conns >= CONN_MAX ||
					    (c = calloc(1, sizeof(*c))) == NULL) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->seq = -1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					conns++;
					if (++open_conns > max_conns)
						max_conns = open_conns;
					put(c, "220 count-sink ESMTP\r\n");
					ev.events = EPOLLIN;
					ev.data.ptr = c;
					if (flush_out(c) == -1 ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
						close(fd);
						free(c);
						open_conns--;
					}
				}
			} else if (evs[i].data.ptr == &ep) {
				ssize_t r = read(0, sbuf + slen, sizeof(sbuf) - 1 - slen);
				char *nl, *p;

				if (r <= 0) {
					eof = true;
					break;
				}
				slen += (size_t)r;
				sbuf[slen] = '\0';
				p = sbuf;
				while ((nl = strchr(p, '\n')) != NULL) {
					*nl = '\0';
					stdin_line(p);
					p = nl + 1;
				}
				slen -= (size_t)(p - sbuf);
				memmove(sbuf, p, slen);
			} else {
				struct session *c = evs[i].data.ptr;

				if ((evs[i].events & EPOLLOUT) && c->outlen > 0) {
					if (flush_out(c) == -1) {
						conn_free(c);
						continue;
					}
					if (c->outlen == 0) {
						ev.events = EPOLLIN;
						ev.data.ptr = c;
						epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					}
				}
				if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
					conn_input(c);
			}
		}
		if (!reported && o.timeout > 0 && now() - t_start > o.timeout)
			result_line();
		if (!stdin_ok && complete == o.n)
			break;	/* stdin is not a pipe: nothing would ever end it */
	}
	if (!reported)
		result_line();
	printf("FINAL kind=sink complete=%d msgs_complete=%ld delivered_rcpts=%ld transactions=%ld "
	    "conns=%ld max_conns=%ld foreign=%ld truncated=%ld dup_rcpts=%ld "
	    "bad_commands=%ld t_first_ack=%.6f t_done=%.6f cpu_s=%.3f\n", complete == o.n,
	    complete, total_rcpts, transactions, conns, max_conns, foreign, truncated,
	    dup_rcpts, bad_commands, t_first_ack, t_done, cpu_self());
	fflush(stdout);
	if (o.outfile != NULL)
		write_times(o.outfile, t_complete, o.n);
	return 0;
}
