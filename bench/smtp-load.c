/*
 * smtp-load: SMTP load generator for Letterbox's benchmark (bench/run.sh).
 * libc and POSIX threads only; talks to loopback addresses only.
 *
 * Load mode (default): N messages of S bytes over C concurrent senders (threads),
 * one message per connection, the pattern of an inbound MX:
 *
 *     connect, 220, EHLO, MAIL FROM, RCPT TO, DATA, 354, body, ".", 250, QUIT, 221
 *
 * one command at a time (no pipelining). Every message carries a unique
 * "X-Bench-Id: RUNID-SEQ" header and ends with the body line "X-Bench-End: RUNID-SEQ".
 * Reports acknowledged/s (250 after DATA), the latency from connect to that 250
 * (p50/p90/p99/max) and the errors.
 *
 * End-to-end mode (-w MAILDIR): after the last reply, count the files in
 * MAILDIR/new every 5 ms until every acknowledged message is there; e2e/s = acked /
 * (time from the first connect to the first count that showed them all). The
 * directory is not scanned while messages are being sent, so the scan costs the
 * server no CPU during the run; a server whose messages are all in new/ when their
 * 250 comes back (Letterbox) is seen complete by the first scan, about 1 ms after
 * the last 250. Then every file in new/ and cur/ is read: every X-Bench-Id that got
 * a 250 must be in exactly one file (lost, dup), none may be missing its end line
 * (truncated); files of other runs (foreign) and messages delivered without a 250
 * (unexpected) are reported too.
 *
 * Idle mode (-I NCONN): open NCONN connections, read the banner and do EHLO on each,
 * print "ready NCONN" on stdout, wait for end of file on stdin, then QUIT them all
 * (used to measure the memory that an idle connection costs the server).
 *
 * Output: a human summary on stderr and one "RESULT key=value ..." line on stdout.
 * Exit status: 0 if every message was acknowledged (and, with -w, delivered exactly
 * once and complete), 1 otherwise, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define POLL_NS		5000000L	/* e2e: scan new/ every 5 ms */
#define HEAD_READ	65536		/* bytes of a file searched for X-Bench-Id */

static struct {
	const char *addr, *from, *rcpt, *helo, *maildir, *runid;
	int port, conc, io_timeout, idle;
	long n, size;
	double wait;
	int verbose;
} o = {
	.addr = "127.0.0.1", .from = "sender@load.test", .rcpt = "lbbench@example.test",
	.helo = "load.test", .conc = 8, .io_timeout = 10, .n = 2000, .size = 4096,
	.wait = 300,
};

static struct sockaddr_storage dst;
static socklen_t dstlen;

static atomic_long next_seq, n_acked, n_rejected, n_errors, n_timeouts, n_quit_errors;
static double *t_start, *t_ack;	/* per message: connect started, 250 received (0: none) */
static char *body;		/* shared body lines, between the header and the end line */
static size_t body_len;
static char runid[32];
static struct msgfmt msg = {
	.subject = "bench", .date = "Sat, 28 Nov 2026 12:00:00 +0000", .host = "load.test",
	.runid = runid,
};

/* ------------------------------------------------------------------ connection */

/* A step that failed: R_TIMEOUT if the server did not answer in time (see send_one). */
enum { R_IO = -1, R_TIMEOUT = -2 };

/* The message, without copying it: 0, or -1 with errno. */
static int
conn_sendv(struct conn *c, const struct iovec *iov, int iovcnt)
{
	struct iovec v[8];
	ssize_t w;
	int i = 0;

	memcpy(v, iov, sizeof(*iov) * (size_t)iovcnt);
	while (i < iovcnt) {
		w = writev(c->fd, v + i, iovcnt - i);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		while (i < iovcnt && (size_t)w >= v[i].iov_len) {
			w -= (ssize_t)v[i].iov_len;
			i++;
		}
		if (i < iovcnt) {
			v[i].iov_base = (char *)v[i].iov_base + w;
			v[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ messages */

/* One message on its own connection. */
static void
send_one(long seq, struct conn *c)
{
	char head[1024], tail[256];
	struct iovec v[3];
	int r, step = 0;
	const char *what = "connect";

	t_start[seq] = now();
	if (conn_open(c, &dst, dstlen, o.io_timeout) == -1) {
		r = errno == EINPROGRESS || errno == EAGAIN || errno == ETIMEDOUT ? R_TIMEOUT :
		    R_IO;
		goto fail;
	}
	what = "banner";
	if ((r = smtp_reply(c)) != 220)
		goto fail;
	step = 1;
	what = "EHLO";
	if ((r = smtp_cmd(c, "EHLO %s", o.helo)) != 250)
		goto fail;
	what = "MAIL";
	if ((r = smtp_cmd(c, "MAIL FROM:<%s>", o.from)) != 250)
		goto fail;
	what = "RCPT";
	if ((r = smtp_cmd(c, "RCPT TO:<%s>", o.rcpt)) != 250 && r != 251)
		goto fail;
	what = "DATA";
	if ((r = smtp_cmd(c, "DATA")) != 354)
		goto fail;
	v[0].iov_base = head;
	v[0].iov_len = msg_header(&msg, head, sizeof(head), seq);
	v[1].iov_base = body;
	v[1].iov_len = body_len;
	v[2].iov_base = tail;
	v[2].iov_len = msg_trailer(&msg, tail, sizeof(tail), seq);
	what = "end of data";
	if ((r = conn_sendv(c, v, 3)) == 0)
		r = smtp_reply(c);
	if (r != 250)
		goto fail;
	t_ack[seq] = now();
	atomic_fetch_add(&n_acked, 1);
	/* QUIT: its failure does not undo the acknowledgement, it is counted apart */
	if (smtp_cmd(c, "QUIT") != 221) {
		atomic_fetch_add(&n_quit_errors, 1);
		client_error("message %ld: QUIT: %s", seq, c->last);
	}
	conn_close(c);
	return;
fail:
	/* -1 (R_IO) from a read or write: errno says whether it timed out */
	if (r == R_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		r = R_TIMEOUT;
	if (r == R_TIMEOUT) {
		atomic_fetch_add(&n_timeouts, 1);
		atomic_fetch_add(&n_errors, 1);
		client_error("message %ld: %s: no reply within %d s", seq, what, o.io_timeout);
	} else if (r == R_IO) {
		atomic_fetch_add(&n_errors, 1);
		client_error("message %ld: %s: %s", seq, what,
		    c->last[0] ? c->last : strerror(errno));
	} else {
		atomic_fetch_add(&n_rejected, 1);
		client_error("message %ld: %s: %s", seq, what, c->last);
		if (step > 0)
			smtp_cmd(c, "QUIT");
	}
	conn_close(c);
}

static void *
worker(void *arg)
{
	struct conn *c = calloc(1, sizeof(*c));
	long seq;

	(void)arg;
	if (c == NULL)
		die("out of memory");
	c->fd = -1;
	while ((seq = atomic_fetch_add(&next_seq, 1)) < o.n)
		send_one(seq, c);
	free(c);
	return NULL;
}

/* ------------------------------------------------------------------ maildir */

/* Number of entries (not starting with '.') in an open directory. */
static long
count_dir(DIR *d)
{
	struct dirent *de;
	long n = 0;

	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	return n;
}

struct check {
	long files, ours, lost, dup, unexpected, truncated, foreign;
};

/* Read one message file and count its X-Bench-Id; cnt[seq]++. */
static void
check_file(int dfd, const char *name, unsigned char *cnt, struct check *k)
{
	static char buf[HEAD_READ + 1];
	char tailbuf[256], want[64], *p, *id;
	struct stat st;
	ssize_t r;
	size_t rl = strlen(runid);
	long seq;
	int fd;

	k->files++;
	if ((fd = openat(dfd, name, O_RDONLY | O_CLOEXEC)) == -1 || fstat(fd, &st) == -1) {
		if (fd != -1)
			close(fd);
		k->foreign++;
		return;
	}
	r = pread(fd, buf, HEAD_READ, 0);
	buf[r > 0 ? r : 0] = '\0';
	id = NULL;
	for (p = buf; p != NULL && *p != '\0'; ) {
		if (strncasecmp(p, "X-Bench-Id: ", 12) == 0) {
			id = p + 12;
			break;
		}
		if (p[0] == '\r' || p[0] == '\n')
			break;	/* end of the header */
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	if (id == NULL || strncmp(id, runid, rl) != 0 || id[rl] != '-') {
		k->foreign++;
		close(fd);
		return;
	}
	seq = strtol(id + rl + 1, NULL, 10);
	if (seq < 0 || seq >= o.n) {
		k->foreign++;
		close(fd);
		return;
	}
	k->ours++;
	if (cnt[seq] < 255)
		cnt[seq]++;
	/* the last line must be the end marker (servers may turn CRLF into LF) */
	snprintf(want, sizeof(want), "X-Bench-End: %s-%08ld", runid, seq);
	r = pread(fd, tailbuf, sizeof(tailbuf) - 1,
	    st.st_size > (off_t)sizeof(tailbuf) - 1 ? st.st_size - (off_t)sizeof(tailbuf) + 1 : 0);
	tailbuf[r > 0 ? r : 0] = '\0';
	if (strstr(tailbuf, want) == NULL)
		k->truncated++;
	close(fd);
}

static void
check_maildir(struct check *k)
{
	static const char *subs[] = { "new", "cur" };
	unsigned char *cnt = calloc((size_t)o.n, 1);
	char path[4096];
	struct dirent *de;
	size_t i;
	long s;

	memset(k, 0, sizeof(*k));
	if (cnt == NULL)
		die("out of memory");
	for (i = 0; i < 2; i++) {
		DIR *d;

		snprintf(path, sizeof(path), "%s/%s", o.maildir, subs[i]);
		if ((d = opendir(path)) == NULL)
			continue;
		while ((de = readdir(d)) != NULL)
			if (de->d_name[0] != '.')
				check_file(dirfd(d), de->d_name, cnt, k);
		closedir(d);
	}
	for (s = 0; s < o.n; s++) {
		bool acked = t_ack[s] != 0;

		if (acked && cnt[s] == 0)
			k->lost++;
		if (cnt[s] > 1)
			k->dup += cnt[s] - 1;
		if (!acked && cnt[s] > 0)
			k->unexpected++;
	}
	free(cnt);
}

/* ------------------------------------------------------------------ modes */

static int
run_load(void)
{
	pthread_t *th;
	double t_first, t_last, t_done, t_e2e = 0, *lat, cpu0, cpu1;
	long acked, nl, in_new_at_end = -1, cnt = 0;
	struct check k = { 0 };
	int e2e_complete = 0;
	DIR *dnew = NULL;

	t_start = calloc((size_t)o.n, sizeof(double));
	t_ack = calloc((size_t)o.n, sizeof(double));
	lat = calloc((size_t)o.n, sizeof(double));
	if (t_start == NULL || t_ack == NULL || lat == NULL)
		die("out of memory");
	body = msg_body(&msg, o.size, &body_len);
	if (o.maildir != NULL) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/new", o.maildir);
		if ((dnew = opendir(path)) == NULL)
			die("%s: %s", path, strerror(errno));
		if ((cnt = count_dir(dnew)) != 0)
			die("%s holds %ld files already: empty the Maildir first", path, cnt);
	}
	cpu0 = cpu_self();
	th = start_threads(o.conc, worker);
	join_threads(th, o.conc);
	t_done = now();
	cpu1 = cpu_self();
	nl = latencies(t_start, t_ack, o.n, lat, &t_first, &t_last);
	acked = atomic_load(&n_acked);
	if (dnew != NULL) {
		/* e2e: scan new/ until it holds every acknowledged message */
		struct timespec ts = { 0, POLL_NS };
		double deadline = t_done + o.wait, t;

		for (;;) {
			t = now();
			cnt = count_dir(dnew);
			if (in_new_at_end < 0)
				in_new_at_end = cnt;
			if (cnt >= acked) {
				t_e2e = t;
				e2e_complete = 1;
				break;
			}
			if (t > deadline)
				break;
			nanosleep(&ts, NULL);
		}
		closedir(dnew);
		check_maildir(&k);
	}

	double send_s = t_last > t_first ? t_last - t_first : 0;
	double e2e_s = e2e_complete ? t_e2e - t_first : 0;

	printf("RESULT runid=%s port=%d n=%ld size=%ld conc=%d acked=%ld rejected=%ld "
	    "errors=%ld timeouts=%ld quit_errors=%ld ack_s=%.3f ack_rate=%.1f "
	    "lat_p50_ms=%.2f lat_p90_ms=%.2f lat_p99_ms=%.2f lat_max_ms=%.2f "
	    "client_cpu_s=%.3f",
	    runid, o.port, o.n, o.size, o.conc, acked, atomic_load(&n_rejected),
	    atomic_load(&n_errors), atomic_load(&n_timeouts), atomic_load(&n_quit_errors),
	    send_s, send_s > 0 ? (double)acked / send_s : 0, pct(lat, nl, .50) * 1e3,
	    pct(lat, nl, .90) * 1e3, pct(lat, nl, .99) * 1e3, pct(lat, nl, 1) * 1e3,
	    cpu1 - cpu0);
	if (o.maildir != NULL)
		printf(" in_new_at_last_ack=%ld e2e_complete=%d e2e_s=%.3f e2e_rate=%.1f "
		    "files=%ld ours=%ld lost=%ld dup=%ld unexpected=%ld truncated=%ld foreign=%ld",
		    in_new_at_end, e2e_complete, e2e_s, e2e_s > 0 ? (double)acked / e2e_s : 0,
		    k.files, k.ours, k.lost, k.dup, k.unexpected, k.truncated, k.foreign);
	printf("\n");
	fflush(stdout);
	if (o.verbose || acked != o.n || k.lost || k.dup || k.truncated || k.unexpected ||
	    (o.maildir != NULL && !e2e_complete))
		fprintf(stderr, "smtp-load: %ld/%ld acknowledged in %.3f s (%.1f/s), %ld rejected, "
		    "%ld errors (%ld timeouts)%s\n", acked, o.n, send_s,
		    send_s > 0 ? (double)acked / send_s : 0, atomic_load(&n_rejected),
		    atomic_load(&n_errors), atomic_load(&n_timeouts),
		    o.maildir == NULL ? "" : e2e_complete ? ", all in new/" :
		    ", NOT all in new/ before the deadline");
	if (o.maildir != NULL && (k.lost || k.dup || k.truncated || k.unexpected))
		fprintf(stderr, "smtp-load: CHECK FAILED: lost=%ld dup=%ld truncated=%ld "
		    "unexpected=%ld\n", k.lost, k.dup, k.truncated, k.unexpected);
	free(lat);
	if (acked != o.n)
		return 1;
	if (o.maildir != NULL && (!e2e_complete || k.lost || k.dup || k.truncated ||
	    k.unexpected))
		return 1;
	return 0;
}

static bool
quit(struct conn *c)
{
	return smtp_cmd(c, "QUIT") == 221;
}

static int
run_idle(void)
{
	struct conn *cs = calloc((size_t)o.idle, sizeof(*cs));
	long ok = 0, fail = 0, quit_fail;
	int i;
	double t0 = now();

	if (cs == NULL)
		die("out of memory");
	for (i = 0; i < o.idle; i++) {
		cs[i].fd = -1;
		if (conn_open(&cs[i], &dst, dstlen, o.io_timeout) == -1 ||
		    smtp_reply(&cs[i]) != 220 || smtp_cmd(&cs[i], "EHLO %s", o.helo) != 250) {
			client_error("message %d: idle connection: %s", i,
			    cs[i].last[0] ? cs[i].last : strerror(errno));
			conn_close(&cs[i]);
			fail++;
			continue;
		}
		ok++;
	}
	printf("ready %ld\n", ok);
	fflush(stdout);
	quit_fail = hold_then_quit(cs, o.idle, quit);
	printf("RESULT mode=idle port=%d nconn=%d open=%ld failed=%ld quit_errors=%ld "
	    "held_s=%.1f\n", o.port, o.idle, ok, fail, quit_fail, now() - t0);
	free(cs);
	return fail == 0 && quit_fail == 0 ? 0 : 1;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: smtp-load -p PORT [-a ADDR] [-n N] [-s BYTES] [-c CONC] [-t RCPT] [-f FROM]\n"
	    "                 [-e HELO] [-w MAILDIR [-W WAIT_S]] [-R REPLY_TIMEOUT_S] [-i RUNID] [-v]\n"
	    "       smtp-load -p PORT -I NCONN [-a ADDR] [-e HELO]\n"
	    "  -a ADDR   server address, loopback only (default 127.0.0.1)\n"
	    "  -n N      messages (default 2000), -s BYTES message size (default 4096)\n"
	    "  -c CONC   concurrent senders (default 8), one message per connection\n"
	    "  -t RCPT   recipient (default lbbench@example.test), -f FROM sender\n"
	    "  -w DIR    end to end: wait until every acknowledged message is in DIR/new,\n"
	    "            then check each file (lost, duplicated, truncated)\n"
	    "  -W S      seconds to wait for that (default 300)\n"
	    "  -R S      seconds to wait for any one reply (default 10)\n"
	    "  -I NCONN  idle mode: open NCONN connections (banner + EHLO), print \"ready N\",\n"
	    "            hold them until end of file on stdin, then QUIT\n");
	exit(2);
}

int
main(int argc, char *argv[])
{
	int ch;

	while ((ch = getopt(argc, argv, "a:c:e:f:i:I:n:p:R:s:t:vw:W:")) != -1) {
		switch (ch) {
		case 'a': o.addr = optarg; break;
		case 'c': o.conc = (int)num(optarg, 1, 4096); break;
		case 'e': o.helo = optarg; break;
		case 'f': o.from = optarg; break;
		case 'i': o.runid = optarg; break;
		case 'I': o.idle = (int)num(optarg, 1, 100000); break;
		case 'n': o.n = num(optarg, 1, 100000000); break;
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'R': o.io_timeout = (int)num(optarg, 1, 3600); break;
		case 's': o.size = num(optarg, 256, 64L << 20); break;
		case 't': o.rcpt = optarg; break;
		case 'v': o.verbose = 1; break;
		case 'w': o.maildir = optarg; break;
		case 'W': o.wait = (double)num(optarg, 1, 86400); break;
		default: usage();
		}
	}
	if (optind != argc || o.port == 0)
		usage();
	if (strlen(o.from) > 256 || strlen(o.rcpt) > 256 || strlen(o.helo) > 255)
		die("sender, recipient or HELO name too long");
	dstlen = loopback_addr(o.addr, o.port, true, &dst);
	make_runid(runid, sizeof(runid), o.runid, 'r');
	msg.from = o.from;
	msg.to = o.rcpt;
	raise_nofile();		/* enough descriptors for the idle mode */
	if (o.idle > 0)
		return run_idle();
	return run_load();
}
