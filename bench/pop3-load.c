/*
 * pop3-load: POP3 download client for Letterbox's benchmark (bench/pop3.sh).
 * libc only; talks to loopback addresses only.
 *
 * Fetch mode (default): one session that downloads the whole maildrop, as a mail
 * client that leaves mail on the server does:
 *
 *     connect, +OK, USER, PASS, LIST, UIDL, RETR 1 .. RETR n, QUIT
 *
 * one command at a time (-d 1, the default), or with up to D RETR commands in flight
 * (-d D: RFC 2449 PIPELINING). Nothing is deleted. Every response is checked: LIST
 * numbers 1..n; UIDL gives n unique values of 1..70 characters 0x21..0x7E (RFC 1939
 * §7); each RETR body, once un-stuffed, has exactly the octets LIST announced, carries
 * an "X-Bench-Id: RUNID-SEQ" header (as bench/smtp-load writes them) that no other
 * message carries, and ends with its "X-Bench-End: RUNID-SEQ" line. Times are taken
 * at: connect, +OK to PASS (login), end of LIST, end of UIDL, end of the last RETR,
 * +OK to QUIT.
 *
 * Idle mode (-I NCONN): log NCONN sessions in (greeting, USER, PASS), print
 * "ready OK FAILED" on stdout, hold them until end of file on stdin, then QUIT each.
 * Used to measure the memory an idle authenticated session costs the server. A server
 * that allows one session per maildrop refuses the second ([IN-USE]): that is
 * counted as failed, not as an error of the program.
 *
 * The password is read from a file (-P FILE, first line), never from the command line.
 * Output: one "RESULT key=value ..." line on stdout, problems on stderr. Exit status
 * 0 if every check passed, 1 otherwise, 2 on a usage or setup error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define CONN_BUF	(64 * 1024)
#include "common.h"

#define UIDL_MAX	70

static struct {
	const char *addr, *user, *passfile, *runid;
	int port, depth, io_timeout, idle;
	long expect;
	int verbose;
} o = {
	.addr = "127.0.0.1", .depth = 1, .io_timeout = 30, .expect = -1,
};

static struct sockaddr_storage dst;
static socklen_t dstlen;
static char password[512];

/* ------------------------------------------------------------------ connection */

/* Greeting, USER, PASS: 1 logged in, 0 refused (c->last says why), -1 I/O error. */
static int
login(struct conn *c)
{
	int r;

	if (conn_open(c, &dst, dstlen, o.io_timeout) == -1) {
		snprintf(c->last, sizeof(c->last), "(connect: %s)", strerror(errno));
		return -1;
	}
	if ((r = conn_pop3_status(c)) != 1)
		return r;
	if (conn_cmd(c, "USER %s", o.user) == -1)
		return -1;
	if ((r = conn_pop3_status(c)) != 1)
		return r;
	if (conn_cmd(c, "PASS %s", password) == -1)
		return -1;
	return conn_pop3_status(c);
}

/* ------------------------------------------------------------------ fetch mode */

struct check {
	long ids_ok, ids_dup, ids_missing, ids_foreign, truncated, size_mismatch;
	long uidl_bad, uidl_dup, list_bad;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The body of one RETR response, up to ".": the octets once un-stuffed (CRLF counted
 * as 2), and the X-Bench-Id / X-Bench-End checks. -1 on I/O error.
 */
static long
read_message(struct conn *c, unsigned char *seen, long n, struct check *k)
{
	char *l, id[128] = "", endline[160], last[160] = "";
	size_t len, rl;
	bool header = true;
	long bytes = 0, seq;

	for (;;) {
		if (conn_line(c, &l, &len) == -1)
			return -1;
		if (l[0] == '.') {
			if (len == 1)
				break;
			l++;	/* RFC 1939 §3: byte-stuffed */
			len--;
		}
		bytes += (long)len + 2;
		if (header) {
			if (len == 0)
				header = false;
			else if (id[0] == '\0' && len > 12 && strncasecmp(l, "X-Bench-Id: ", 12) == 0)
				snprintf(id, sizeof(id), "%s", l + 12);
		}
		if (len > 0)
			snprintf(last, sizeof(last), "%s", l);
	}
	if (id[0] == '\0') {
		k->ids_missing++;
		return bytes;
	}
	snprintf(endline, sizeof(endline), "X-Bench-End: %s", id);
	if (strcmp(last, endline) != 0)
		k->truncated++;
	rl = strcspn(id, "-");
	if (id[rl] != '-' || (o.runid != NULL && (strlen(o.runid) != rl ||
	    strncmp(id, o.runid, rl) != 0))) {
		k->ids_foreign++;
		return bytes;
	}
	seq = strtol(id + rl + 1, NULL, 10);
	if (seq < 0 || seq >= n) {
		k->ids_foreign++;
		return bytes;
	}
	if (seen[seq]++)
		k->ids_dup++;
	else
		k->ids_ok++;
	return bytes;
}

static int
run_fetch(void)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct check k;
	double t0, t_login = 0, t_list = 0, t_uidl = 0, t_retr = 0, t_quit = 0, cpu0, cpu1;
	long n = 0, cap = 0, i, retrieved = 0, errors = 0, next, inflight;
	long *sizes = NULL, bytes = 0, b;
	char **uids = NULL, *l, *sp;
	unsigned char *seen = NULL;
	const char *what = "login";
	size_t len;
	int r;

	if (c == NULL)
		die("out of memory");
	memset(&k, 0, sizeof(k));
	c->fd = -1;
	cpu0 = cpu_self();
	t0 = now();
	if ((r = login(c)) != 1)
		goto fail;
	t_login = now();

	what = "LIST";
	if (conn_cmd(c, "LIST") == -1 || conn_pop3_status(c) != 1)
		goto fail;
	for (;;) {
		if (conn_line(c, &l, &len) == -1)
			goto fail;
		if (len == 1 && l[0] == '.')
			break;
		if (n == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((sizes = realloc(sizes, (size_t)cap * sizeof(*sizes))) == NULL)
				die("out of memory");
		}
		if (strtol(l, &sp, 10) != n + 1 || *sp != ' ')
			k.list_bad++;
		sizes[n++] = sp != NULL && *sp == ' ' ? strtol(sp + 1, NULL, 10) : -1;
	}
	t_list = now();

	what = "UIDL";
	if ((uids = calloc((size_t)n + 1, sizeof(*uids))) == NULL ||
	    (seen = calloc((size_t)n + 1, 1)) == NULL)
		die("out of memory");
	if (conn_cmd(c, "UIDL") == -1 || conn_pop3_status(c) != 1)
		goto fail;
	for (i = 0;; i++) {
		size_t ul, j;
		bool ok;

		if (conn_line(c, &l, &len) == -1)
			goto fail;
		if (len == 1 && l[0] == '.')
			break;
		sp = strchr(l, ' ');
		ul = sp != NULL ? strlen(sp + 1) : 0;
		ok = i < n && sp != NULL && strtol(l, NULL, 10) == i + 1 && ul >= 1 &&
		    ul <= UIDL_MAX;
		for (j = 0; ok && j < ul; j++)
			ok = sp[1 + j] >= 0x21 && sp[1 + j] <= 0x7e;
		if (!ok) {
			k.uidl_bad++;
			continue;
		}
		if ((uids[i] = strdup(sp + 1)) == NULL)
			die("out of memory");
	}
	if (i != n)
		k.uidl_bad++;
	t_uidl = now();
	{
		long m = 0;

		for (i = 0; i < n; i++)
			if (uids[i] != NULL)
				uids[m++] = uids[i];
		qsort(uids, (size_t)m, sizeof(*uids), cmp_str);
		for (i = 1; i < m; i++)
			if (strcmp(uids[i - 1], uids[i]) == 0)
				k.uidl_dup++;
		for (i = 0; i < m; i++)
			free(uids[i]);
	}

	/* RETR 1..n, up to o.depth in flight; responses come back in order */
	what = "RETR";
	for (next = 1, inflight = 0, i = 1; i <= n; i++) {
		while (inflight < o.depth && next <= n) {
			if (conn_cmd(c, "RETR %ld", next) == -1)
				goto fail;
			next++;
			inflight++;
		}
		if ((r = conn_pop3_status(c)) != 1)
			goto fail;
		if ((b = read_message(c, seen, n, &k)) < 0)
			goto fail;
		inflight--;
		if (b != sizes[i - 1]) {
			if (k.size_mismatch++ < 5)
				warnx("message %ld: %ld octets retrieved, LIST said %ld", i, b,
				    sizes[i - 1]);
		}
		bytes += b;
		retrieved++;
	}
	t_retr = now();

	what = "QUIT";
	if (conn_cmd(c, "QUIT") == -1 || conn_pop3_status(c) != 1)
		goto fail;
	t_quit = now();
	conn_close(c);
	goto out;
fail:
	errors++;
	warnx("%s: %s", what, c->last[0] ? c->last : strerror(errno));
	conn_close(c);
out:
	cpu1 = cpu_self();
	if (o.expect >= 0 && n != o.expect) {
		warnx("LIST gave %ld messages, %ld expected", n, o.expect);
		errors++;
	}
	{
		double fetch = t_retr > t_login ? t_retr - t_login : 0;
		double session = t_quit > t0 ? t_quit - t0 : 0;

		printf("RESULT mode=fetch port=%d depth=%d msgs=%ld retrieved=%ld bytes=%ld "
		    "login_ms=%.2f list_ms=%.2f uidl_ms=%.2f retr_ms=%.2f quit_ms=%.2f "
		    "fetch_s=%.4f session_s=%.4f fetch_rate=%.1f session_rate=%.1f "
		    "ids_ok=%ld ids_dup=%ld ids_missing=%ld ids_foreign=%ld truncated=%ld "
		    "size_mismatch=%ld list_bad=%ld uidl_bad=%ld uidl_dup=%ld errors=%ld "
		    "client_cpu_s=%.3f\n",
		    o.port, o.depth, n, retrieved, bytes,
		    t_login ? (t_login - t0) * 1e3 : 0, t_list ? (t_list - t_login) * 1e3 : 0,
		    t_uidl ? (t_uidl - t_list) * 1e3 : 0, t_retr ? (t_retr - t_uidl) * 1e3 : 0,
		    t_quit ? (t_quit - t_retr) * 1e3 : 0, fetch, session,
		    fetch > 0 ? (double)retrieved / fetch : 0,
		    session > 0 ? (double)retrieved / session : 0,
		    k.ids_ok, k.ids_dup, k.ids_missing, k.ids_foreign, k.truncated,
		    k.size_mismatch, k.list_bad, k.uidl_bad, k.uidl_dup, errors, cpu1 - cpu0);
	}
	fflush(stdout);
	free(sizes);
	free(uids);
	free(seen);
	free(c);
	if (errors || retrieved != n || k.ids_ok != n || k.ids_dup || k.ids_missing ||
	    k.ids_foreign || k.truncated || k.size_mismatch || k.list_bad || k.uidl_bad ||
	    k.uidl_dup) {
		if (!errors)
			warnx("CHECK FAILED: retrieved=%ld/%ld ids_ok=%ld dup=%ld missing=%ld "
			    "foreign=%ld truncated=%ld size_mismatch=%ld list_bad=%ld uidl_bad=%ld "
			    "uidl_dup=%ld", retrieved, n, k.ids_ok, k.ids_dup, k.ids_missing,
			    k.ids_foreign, k.truncated, k.size_mismatch, k.list_bad, k.uidl_bad,
			    k.uidl_dup);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ idle mode */

static bool
quit(struct conn *c)
{
	return conn_cmd(c, "QUIT") == 0 && conn_pop3_status(c) == 1;
}

static int
run_idle(void)
{
	struct conn *cs = calloc((size_t)o.idle, sizeof(*cs));
	long ok = 0, refused = 0, failed = 0, quit_fail, printed = 0;
	double t0 = now();
	int i, r;

	if (cs == NULL)
		die("out of memory");
	for (i = 0; i < o.idle; i++) {
		cs[i].fd = -1;
		if ((r = login(&cs[i])) == 1) {
			ok++;
			continue;
		}
		if (r == 0)
			refused++;
		else
			failed++;
		if (printed++ < 3)
			warnx("session %d not logged in: %s", i + 1, cs[i].last);
		conn_close(&cs[i]);
	}
	printf("ready %ld %ld\n", ok, refused + failed);
	fflush(stdout);
	quit_fail = hold_then_quit(cs, o.idle, quit);
	printf("RESULT mode=idle port=%d nconn=%d ok=%ld refused=%ld failed=%ld "
	    "quit_errors=%ld held_s=%.1f\n", o.port, o.idle, ok, refused, failed, quit_fail,
	    now() - t0);
	free(cs);
	return failed == 0 && quit_fail == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ main */

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: pop3-load -p PORT -u USER -P PASSFILE [-a ADDR] [-d DEPTH] [-n EXPECT]\n"
	    "                 [-i RUNID] [-R TIMEOUT_S]\n"
	    "       pop3-load -p PORT -u USER -P PASSFILE -I NCONN [-a ADDR]\n"
	    "  -a ADDR   server address, loopback only (default 127.0.0.1)\n"
	    "  -P FILE   the password: the first line of FILE\n"
	    "  -d DEPTH  RETR commands in flight (default 1: request/response)\n"
	    "  -n N      the maildrop must hold exactly N messages\n"
	    "  -i RUNID  every X-Bench-Id must be RUNID-SEQ with SEQ < number of messages\n"
	    "  -R S      seconds to wait for any read or write (default 30)\n"
	    "  -I NCONN  idle mode: log NCONN sessions in, print \"ready OK FAILED\",\n"
	    "            hold them until end of file on stdin, then QUIT\n");
	exit(2);
}

static void
read_password(void)
{
	read_first_line(o.passfile, password, sizeof(password));
	if (password[0] == '\0')
		die("%s: empty password", o.passfile);
}

int
main(int argc, char *argv[])
{
	int ch;

	while ((ch = getopt(argc, argv, "a:d:i:I:n:p:P:R:u:v")) != -1) {
		switch (ch) {
		case 'a': o.addr = optarg; break;
		case 'd': o.depth = (int)num(optarg, 1, 1000); break;
		case 'i': o.runid = optarg; break;
		case 'I': o.idle = (int)num(optarg, 1, 100000); break;
		case 'n': o.expect = num(optarg, 0, 100000000); break;
		case 'p': o.port = (int)num(optarg, 1, 65535); break;
		case 'P': o.passfile = optarg; break;
		case 'R': o.io_timeout = (int)num(optarg, 1, 3600); break;
		case 'u': o.user = optarg; break;
		case 'v': o.verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc || o.port == 0 || o.user == NULL || o.passfile == NULL)
		usage();
	if (strlen(o.user) > 255 || strpbrk(o.user, " \r\n") != NULL)
		die("bad user name");
	read_password();
	dstlen = loopback_addr(o.addr, o.port, true, &dst);
	raise_nofile();		/* enough descriptors for the idle mode */
	if (o.idle > 0)
		return run_idle();
	return run_fetch();
}
