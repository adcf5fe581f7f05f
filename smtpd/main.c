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

#include "lib/daemon.h"
#include "lib/helper.h"
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

static struct smtp_server server;
static struct helper indexer;
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

static pid_t
indexer_spawn(void *arg)
{
	int *fds = xcalloc(nlisteners + 1, sizeof(*fds));
	size_t i;
	pid_t pid;

	(void)arg;
	for (i = 0; i < nlisteners; i++)
		fds[i] = listeners[i].fd;
	fds[nlisteners] = indexer_socks[1];
	pid = indexer_start(index_dir, &mdir, indexer_socks[0],
	    (int64_t)cfg.index_resync * 1000, fds, nlisteners + 1);
	free(fds);
	return pid;
}

static void
child_reaped(pid_t pid, int status, void *arg)
{
	(void)arg;
	helper_reaped(&indexer, pid, status);
}

static void
housekeeping(void *arg)
{
	static int64_t ticks;
	int n;

	(void)arg;
	helper_tick(&indexer);
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
	size_t n;

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
	daemon_hold_stop_signals();
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

	ls = daemon_bind(&cfg.smtp_listen, &cfg.smtps_listen, &n);
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
	log_info("ready: user=%s maildir=%s", cfg.user ? cfg.user : "(current)", cfg.maildir);
	/* Ready: the ports accept. Said before forking helpers, which must not hold ready_fd. */
	daemon_ready(ready_fd, ls, n);
	listeners = ls;
	nlisteners = n;
	server.index_fd = -1;
	if (cfg.index) {
		indexer_dir(cfg.index_dir, index_dir, sizeof(index_dir));
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, indexer_socks) == -1)
			fatal("socketpair");
		server.index_fd = indexer_socks[1];
		helper_init(&indexer, "indexer", indexer_spawn, NULL);
		helper_spawn(&indexer);
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
	helper_stop(&indexer);
	free(ls);
	return 0;
}
