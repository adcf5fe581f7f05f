/*
 * letterbox-smtpd: argv, configuration, binding, TLS key, privilege drop, then the
 * listener. Thin on purpose: everything else links into tests unchanged.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/listener.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lib/settings.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"
#include "lib/util.h"
#include "maildir/indexer.h"
#include "maildir/maildir.h"
#include "smtpd/session.h"

#define DEFAULT_CONFIG	"/etc/letterbox/letterbox.conf"
#define INDEXER_RESPAWN_MAX	5

static struct smtp_server server;
static pid_t indexer_pid = -1;
static int indexer_socks[2] = { -1, -1 };	/* [0] indexer reads, [1] sessions write */
static char index_dir[PATH_MAX];
static struct listener *listeners;
static size_t nlisteners;
static struct maildir mdir;
static struct settings cfg;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: letterbox-smtpd [-dnv] [-f config] [-r fd]\n"
	    "  -f file  configuration (default " DEFAULT_CONFIG ")\n"
	    "  -n       check the configuration and exit\n"
	    "  -d       log to stderr instead of syslog\n"
	    "  -v       verbose logging\n"
	    "  -r fd    write a line to fd once ready to accept (readiness notification)\n");
	exit(2);
}

static void
session_main(int fd, const struct listener *l, const struct sockaddr_storage *peer,
    void *arg)
{
	smtp_session_serve(arg, fd, l->implicit_tls, peer);
}

static void
indexer_spawn(void)
{
	int *fds = xcalloc(nlisteners + 1, sizeof(*fds));
	size_t i;

	for (i = 0; i < nlisteners; i++)
		fds[i] = listeners[i].fd;
	fds[nlisteners] = indexer_socks[1];
	if ((indexer_pid = indexer_start(index_dir, &mdir, indexer_socks[0],
	    (int64_t)cfg.index_resync * 1000, fds, nlisteners + 1)) == -1)
		log_warn("cannot start the indexer");
	free(fds);
}

/*
 * A helper child ended: the indexer is restarted at once, unless it keeps dying
 * (INDEXER_RESPAWN_MAX times within a minute): then once a minute, from housekeeping.
 */
static void
child_reaped(pid_t pid, int status, void *arg)
{
	static int64_t window_start;
	static int deaths;
	int64_t now = util_now_ms();

	(void)arg;
	if (pid != indexer_pid)
		return;
	indexer_pid = -1;
	if (now - window_start > 60000) {
		window_start = now;
		deaths = 0;
	}
	if (++deaths <= INDEXER_RESPAWN_MAX) {
		log_warnx("indexer exited (status %#x); restarting", status);
		indexer_spawn();
	} else
		log_warnx("indexer exited (status %#x) %d times in a minute; retrying in a "
		    "minute", status, deaths);
}

static void
housekeeping(void *arg)
{
	static int64_t ticks;
	int n;

	(void)arg;
	if (indexer_socks[0] != -1 && indexer_pid == -1)
		indexer_spawn();
	/* maildir(5): stale tmp/ files go after 36 hours; look once an hour. */
	if (ticks++ % 60 != 0)
		return;
	if ((n = maildir_clean_tmp(&mdir, (time_t)cfg.tmp_max_age)) > 0)
		log_info("removed %d stale file(s) from tmp/", n);
}

int
main(int argc, char *argv[])
{
	const char *config = DEFAULT_CONFIG;
	struct listener *ls;
	struct listener_config lc;
	char err[512], busy[300];
	uid_t owner_uid = (uid_t)-1;
	gid_t owner_gid = (gid_t)-1;
	struct passwd *pw;
	int ch, check_only = 0, foreground_log = 0, verbose = 0, ready_fd = -1;
	sigset_t stopsigs;
	size_t i, n;

	while ((ch = getopt(argc, argv, "df:nr:v")) != -1) {
		switch (ch) {
		case 'd': foreground_log = 1; break;
		case 'f': config = optarg; break;
		case 'n': check_only = 1; break;
		case 'r': ready_fd = atoi(optarg); break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	/*
	 * A stop request during start-up (even just after the readiness line) waits
	 * until listener_run() can act on it and stop the helpers too; by default it
	 * would kill this process alone and orphan the indexer.
	 */
	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, NULL);
	if (settings_load(&cfg, config, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox-smtpd: %s\n", err);
		return 1;
	}
	if (cfg.tls_cert != NULL &&
	    (server.tls = tls_server_ctx_new(cfg.tls_cert, cfg.tls_key, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "letterbox-smtpd: %s\n", err);
		return 1;
	}
	if (check_only) {
		printf("%s: configuration OK\n", config);
		return 0;
	}
	log_init("letterbox-smtpd", foreground_log, verbose);
	umask(077);

	n = cfg.smtp_listen.n + cfg.smtps_listen.n;
	ls = xcalloc(n, sizeof(*ls));
	for (i = 0; i < n; i++) {
		bool tls = i >= cfg.smtp_listen.n;
		const char *a = tls ? cfg.smtps_listen.v[i - cfg.smtp_listen.n] :
		    cfg.smtp_listen.v[i];

		if (listener_bind(&ls[i], a, tls, err, sizeof(err)) == -1)
			fatalx("listen: %s", err);
	}
	if (geteuid() == 0 && cfg.user != NULL && (pw = getpwnam(cfg.user)) != NULL) {
		owner_uid = pw->pw_uid;
		owner_gid = pw->pw_gid;
	}
	/*
	 * The Maildir's directories are opened before the drop, like the key: the mail
	 * user then needs write access to them, not search access to every parent.
	 */
	if (maildir_open(&mdir, cfg.maildir, cfg.hostname, owner_uid, owner_gid) == -1)
		fatal("maildir %s", cfg.maildir);
	if (privdrop(cfg.user, err, sizeof(err)) == -1)
		fatalx("%s", err);
	if (faccessat(mdir.dfd_tmp, ".", W_OK, 0) == -1 ||
	    faccessat(mdir.dfd_new, ".", W_OK, 0) == -1)
		fatal("maildir %s: tmp/ and new/ must be writable by user %s", cfg.maildir,
		    cfg.user ? cfg.user : "(current)");
	if (!maildir_use_unnamed_tmp(&mdir))
		log_info("maildir: O_TMPFILE not available here; using named tmp/ files");
	housekeeping(NULL);	/* stale tmp/ files go before anything is said to be ready */
	for (i = 0; i < n; i++)
		log_info("listening on %s%s", ls[i].addr, ls[i].implicit_tls ? " (TLS)" : "");
	log_info("ready: user=%s maildir=%s", cfg.user ? cfg.user : "(current)", cfg.maildir);

	/* Ready: the ports accept. Said before forking helpers, which must not hold ready_fd. */
	if (ready_fd != -1) {
		if (write(ready_fd, "ready\n", 6) == -1)
			log_warn("readiness fd %d", ready_fd);
		close(ready_fd);
	}
	listeners = ls;
	nlisteners = n;
	server.index_fd = -1;
	if (cfg.index) {
		indexer_dir(cfg.index_dir, index_dir, sizeof(index_dir));
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, indexer_socks) == -1)
			fatal("socketpair");
		server.index_fd = indexer_socks[1];
		indexer_spawn();
	}
	server.cfg = &cfg;
	server.md = &mdir;

	snprintf(busy, sizeof(busy), "421 4.7.0 %s Error: too many connections, try again "
	    "later\r\n", cfg.hostname);
	memset(&lc, 0, sizeof(lc));
	lc.max_sessions = (unsigned)cfg.max_sessions;
	lc.max_per_ip = (unsigned)cfg.max_sessions_per_ip;
	lc.busy_reply = busy;
	lc.session = session_main;
	lc.arg = &server;
	lc.tick = housekeeping;
	lc.reaped = child_reaped;
	lc.child_close = &indexer_socks[0];	/* sessions only write to the indexer */
	lc.nchild_close = indexer_socks[0] != -1 ? 1 : 0;
	listener_run(ls, n, &lc);
	if (indexer_pid != -1) {
		kill(indexer_pid, SIGTERM);
		waitpid(indexer_pid, NULL, 0);
	}
	free(ls);
	return 0;
}
