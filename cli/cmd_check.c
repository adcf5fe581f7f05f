/*
 * cmd_check: letterbox check — is this server ready to receive and send mail? The
 * configuration (as the daemons load it), the owner and the directories, the
 * certificate (check_cert.c), the Maildir and its index (the code of `index verify`),
 * the DNS records the owner must publish (check_dns.c), and an open-relay test of the
 * running smtpd. Each finding is a line (check.h); exit 0 all ok, 1 warnings, 2
 * failures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/check.h"
#include "cli/cli.h"
#include "lib/util.h"
#include "relay/smtp_client.h"

#define CHECK_OUTPUT_MAX	(64 * 1024)	/* what `index verify` may print */
#define CHECK_DETAIL_LINES	20		/* of it, shown */
#define RELAY_FROM		"check@letterbox.invalid"	/* RFC 2606 */
#define RELAY_TO		"relay-test@example.com"

static void
check_line(struct check *c, const char *tag, const char *fmt, va_list ap)
{
	(void)c;
	printf("%-4s  ", tag);
	vprintf(fmt, ap);
	putchar('\n');
}

void
check_ok(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	check_line(c, "ok", fmt, ap);
	va_end(ap);
}

void
check_warn(struct check *c, const char *fmt, ...)
{
	va_list ap;

	c->warnings++;
	va_start(ap, fmt);
	check_line(c, "WARN", fmt, ap);
	va_end(ap);
}

void
check_fail(struct check *c, const char *fmt, ...)
{
	va_list ap;

	c->failures++;
	va_start(ap, fmt);
	check_line(c, "FAIL", fmt, ap);
	va_end(ap);
}

/*
 * The account the daemons become. As root they refuse to start without one, or with
 * uid 0 (lib/privdrop.c). *pw gets it, or NULL.
 */
static void
check_user(struct check *c, struct passwd **pw)
{
	const char *user = c->cfg->user;

	*pw = NULL;
	if (user == NULL) {
		if (geteuid() == 0)
			check_fail(c, "user: not set; the daemons started as root refuse to run "
			    "without it (set \"user\" to the owner's login)");
		else
			check_ok(c, "user: not set; the daemons run as whoever starts them");
		return;
	}
	errno = 0;
	if ((*pw = getpwnam(user)) == NULL) {
		check_fail(c, "user %s: %s", user, errno ? strerror(errno) : "no such account");
		return;
	}
	if ((*pw)->pw_uid == 0) {
		check_fail(c, "user %s: uid 0; the daemons refuse to run as root", user);
		*pw = NULL;
		return;
	}
	check_ok(c, "user %s exists (uid %lu)", user, (unsigned long)(*pw)->pw_uid);
}

/*
 * One directory the daemons write as the owner: there (else made at the first start,
 * a warning), a directory, the owner's, writable by the owner, and not writable by
 * others; secret (state_dir: app passwords, DKIM keys, the queue) also not readable by
 * others. true if it exists.
 */
static bool
check_dir(struct check *c, const char *what, const char *path, const struct passwd *pw,
    bool secret)
{
	struct stat st;
	mode_t bad = secret ? 077 : 022;

	if (stat(path, &st) == -1) {
		if (errno == ENOENT)
			check_warn(c, "%s %s: missing (made at the daemons' first start)", what,
			    path);
		else
			check_fail(c, "%s %s: %s", what, path, strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		check_fail(c, "%s %s: not a directory", what, path);
		return true;
	}
	if (pw != NULL && st.st_uid != pw->pw_uid) {
		check_fail(c, "%s %s: owned by uid %lu, not by %s (chown -R %s %s)", what, path,
		    (unsigned long)st.st_uid, pw->pw_name, pw->pw_name, path);
		return true;
	}
	if ((st.st_mode & S_IWUSR) == 0) {
		check_fail(c, "%s %s: not writable by its owner (mode %04o)", what, path,
		    (unsigned)(st.st_mode & 07777));
		return true;
	}
	if ((st.st_mode & bad) != 0) {
		check_warn(c, "%s %s: mode %04o; want %04o (chmod %s %s)", what, path,
		    (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & 0777 & ~bad),
		    secret ? "go-rwx" : "go-w", path);
		return true;
	}
	check_ok(c, "%s %s: owner and mode %04o", what, path, (unsigned)(st.st_mode & 07777));
	return true;
}

static bool
check_maildir(struct check *c, const struct passwd *pw)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char path[4096];
	bool there;
	size_t i;

	if (!(there = check_dir(c, "maildir", c->cfg->maildir, pw, false)))
		return false;
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", c->cfg->maildir, subs[i]);
		there = check_dir(c, "maildir", path, pw, false) && there;
	}
	return there;
}

/*
 * `letterbox index verify`, as it is (cmd_index.c), in a child: it becomes the owner,
 * which this process must not (the key files may be root's), and what it prints is
 * kept to be shown as the detail of one finding.
 */
static void
check_index(struct check *c)
{
	char verify[] = "verify", *argv[] = { verify, NULL };
	char *out, *line, *next;
	size_t len = 0;
	ssize_t n;
	int fds[2], status, shown = 0;
	pid_t pid;

	if (!c->cfg->index) {
		check_ok(c, "index: off (\"index no\"): nothing to verify");
		return;
	}
	fflush(stdout);
	if (pipe(fds) == -1 || (pid = fork()) == -1) {
		check_fail(c, "index: cannot run the verification: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		if (dup2(fds[1], STDOUT_FILENO) == -1 || dup2(fds[1], STDERR_FILENO) == -1)
			_exit(EX_OSERR);
		close(fds[1]);
		status = cli_index(c->cfg, 1, argv);
		fflush(stdout);
		fflush(stderr);
		_exit(status);
	}
	close(fds[1]);
	out = malloc(CHECK_OUTPUT_MAX + 1);
	while (out != NULL) {
		n = read(fds[0], out + len, CHECK_OUTPUT_MAX - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if ((len += (size_t)n) == CHECK_OUTPUT_MAX) {
			char sink[4096];	/* the rest is not shown, but read to the end */

			while ((n = read(fds[0], sink, sizeof(sink))) > 0 ||
			    (n == -1 && errno == EINTR))
				;
			break;
		}
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (out == NULL) {
		check_fail(c, "index: out of memory");
		return;
	}
	out[len] = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		check_ok(c, "Maildir and index agree (letterbox index verify)");
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 1)
		check_fail(c, "Maildir and index disagree: run \"letterbox index sync\" "
		    "(or \"index rebuild\" for a damaged index)");
	else
		check_fail(c, "index: letterbox index verify failed (exit %d)",
		    WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		for (line = out; *line != '\0' && shown < CHECK_DETAIL_LINES; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			else
				next = line + strlen(line);
			printf(CHECK_DETAIL "%s\n", line);
			shown++;
		}
	free(out);
}

/* The address to reach a listener at: a wildcard means this host, by loopback. */
static int
relay_target(const char *listen, struct lb_sockaddr *sa)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&sa->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&sa->ss;

	if (util_parse_listen(listen, sa) == -1)
		return -1;
	if (sa->ss.ss_family == AF_INET && sin->sin_addr.s_addr == htonl(INADDR_ANY))
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	else if (sa->ss.ss_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
		sin6->sin6_addr = in6addr_loopback;
	return 0;
}

/*
 * The open-relay test (RFC 5321 §3.9, RFC 2505 §2): on the MX port, without
 * authentication, each way of naming a foreign recipient must be refused: plainly,
 * through the "percent hack" and a quoted local part in our own domain, and as a
 * source route (§4.1.1.3 says to ignore the route: what is left is foreign). Never DATA:
 * a server that accepts a recipient gets RSET.
 */
static void
check_relay(struct check *c, const char *relay_to)
{
	const struct settings *cfg = c->cfg;
	struct smtpc_opts o;
	struct smtpc sc;
	struct smtpc_reply r;
	struct lb_sockaddr sa;
	char addr[INET6_ADDRSTRLEN], local[128], rdomain[256], rcpt[4][800], line[300];
	const char *at, *ours = cfg->domains.v[0];
	size_t i;
	int accepted = 0, unsure = 0;

	if (cfg->smtp_listen.n == 0) {
		check_ok(c, "relay test: no smtp_listen (no MX port) to test");
		return;
	}
	if ((at = strrchr(relay_to, '@')) == NULL || at == relay_to || at[1] == '\0' ||
	    (size_t)(at - relay_to) >= sizeof(local) || strlen(at + 1) >= sizeof(rdomain)) {
		check_fail(c, "relay test: \"%s\" is not local@domain", relay_to);
		return;
	}
	snprintf(local, sizeof(local), "%.*s", (int)(at - relay_to), relay_to);
	snprintf(rdomain, sizeof(rdomain), "%s", at + 1);
	snprintf(rcpt[0], sizeof(rcpt[0]), "RCPT TO:<%s@%s>", local, rdomain);
	snprintf(rcpt[1], sizeof(rcpt[1]), "RCPT TO:<%s%%%s@%s>", local, rdomain, ours);
	snprintf(rcpt[2], sizeof(rcpt[2]), "RCPT TO:<\"%s@%s\"@%s>", local, rdomain, ours);
	snprintf(rcpt[3], sizeof(rcpt[3]), "RCPT TO:<@%s:%s@%s>", ours, local, rdomain);

	if (relay_target(cfg->smtp_listen.v[0], &sa) == -1) {
		check_fail(c, "relay test: smtp_listen %s is not ADDRESS:PORT",
		    cfg->smtp_listen.v[0]);
		return;
	}
	util_sockaddr_ntop(&sa.ss, addr, sizeof(addr));
	memset(&o, 0, sizeof(o));
	o.helo = cfg->hostname;
	o.tls = SMTPC_TLS_NONE;		/* what any client can do: no TLS needed to relay */
	o.connect_timeout_ms = 10000;
	o.command_timeout_ms = 30000;
	signal(SIGPIPE, SIG_IGN);
	if (smtpc_open(&sc, (struct sockaddr *)&sa.ss, sa.len, &o, &r) == -1) {
		smtpc_close(&sc);
		if (r.code == 0)
			check_warn(c, "smtpd not reachable at %s (%s): %s; relay test not made",
			    addr, cfg->smtp_listen.v[0], r.text);
		else
			check_warn(c, "smtpd at %s refused the session (%d %s); relay test not "
			    "made", addr, r.code, r.text);
		return;
	}
	snprintf(line, sizeof(line), "MAIL FROM:<%s>", RELAY_FROM);
	if (smtpc_cmd(&sc, line, &r) == -1 || r.code / 100 != 2) {
		check_warn(c, "relay test at %s: MAIL FROM:<%s> got %d %s; not made", addr,
		    RELAY_FROM, r.code, r.text);
		smtpc_close(&sc);
		return;
	}
	for (i = 0; i < 4; i++) {
		if (smtpc_cmd(&sc, rcpt[i], &r) == -1) {
			check_warn(c, "relay test at %s: %s: %s", addr, rcpt[i], r.text);
			unsure++;
			break;
		}
		if (r.code / 100 == 2) {
			check_fail(c, "OPEN RELAY: smtpd at %s accepted %s without "
			    "authentication (%d %s)", addr, rcpt[i], r.code, r.text);
			accepted++;
		} else if (r.code / 100 != 4 && r.code / 100 != 5) {
			check_warn(c, "relay test at %s: %s got %d %s", addr, rcpt[i], r.code,
			    r.text);
			unsure++;
		}
	}
	/* Whatever was accepted is dropped: RSET, then QUIT (smtpc_close). */
	(void)smtpc_cmd(&sc, "RSET", &r);
	smtpc_close(&sc);
	if (accepted == 0 && unsure == 0)
		check_ok(c, "not an open relay: smtpd at %s refused all 4 ways to relay to %s",
		    addr, relay_to);
}

static void __attribute__((noreturn))
check_usage(void)
{
	fprintf(stderr, "usage: letterbox [-f config] check [--no-dns] [--no-relay-test] "
	    "[--relay-to ADDR]\n");
	exit(EX_USAGE);
}

int
cli_check(const char *config, int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "no-dns",		no_argument,		NULL, 'D' },
		{ "no-relay-test",	no_argument,		NULL, 'R' },
		{ "relay-to",		required_argument,	NULL, 't' },
		{ NULL,			0,			NULL, 0 },
	};
	struct settings cfg;
	struct check c;
	struct passwd *pw;
	const char *relay_to = RELAY_TO;
	char err[512];
	bool dns = true, relay = true, maildir_there;
	int ch;

	optind = 0;	/* glibc: start afresh, argv[0] is "check" */
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'D': dns = false; break;
		case 'R': relay = false; break;
		case 't': relay_to = optarg; break;
		default: check_usage();
		}
	}
	if (optind != argc)
		check_usage();
	memset(&c, 0, sizeof(c));
	c.cfg = &cfg;
	/* The daemons' own loading and cross-field checks (as letterbox-smtpd -n). */
	if (settings_load(&cfg, config, err, sizeof(err)) == -1) {
		settings_free(&cfg);	/* whatever was read before the mistake */
		check_fail(&c, "config: %s", err);
		printf("1 failure(s), 0 warning(s)\n");
		return 2;
	}
	check_ok(&c, "config %s: loads (hostname %s, domains %s%s)", config, cfg.hostname,
	    cfg.domains.v[0], cfg.domains.n > 1 ? " ..." : "");
	check_user(&c, &pw);
	maildir_there = check_maildir(&c, pw);
	(void)check_dir(&c, "state_dir", cfg.state_dir, pw, true);
	check_cert(&c);
	if (maildir_there)
		check_index(&c);
	if (dns)
		check_dns(&c);
	if (relay)
		check_relay(&c, relay_to);
	settings_free(&cfg);
	printf("%u failure(s), %u warning(s)\n", c.failures, c.warnings);
	return c.failures ? 2 : c.warnings ? 1 : 0;
}
