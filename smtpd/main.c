/*
 * letterbox-smtpd: argv, configuration, binding, TLS key, privilege drop, then the
 * listener. Thin on purpose: everything else links into tests unchanged.
 */
#include <limits.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/helper.h"
#include "lib/listener.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lib/reload.h"
#include "lib/settings.h"
#include "lib/tls.h"
#include "lib/xmalloc.h"
#include "lib/util.h"
#include "maildir/indexer.h"
#include "maildir/maildir.h"
#include "smtpd/outbound.h"
#include "smtpd/session.h"


static struct smtp_server server;
static struct helper indexer;
static int indexer_socks[2] = { -1, -1 };	/* [0] indexer reads, [1] sessions write */
static char index_dir[PATH_MAX];
static struct listener *listeners;
static size_t nlisteners;
static struct maildir mdir;
static struct settings cfg;
static struct outbound outbound;
static struct listener_config lc;
static char busy[300];

/*
 * What SIGHUP cannot change (reload.h): set up as root before the drop (ports,
 * user, Maildir, state directory, the certificate's paths, the queue's DKIM keys and
 * smarthost password), sized at start (max_sessions), or used by a helper that a
 * reload does not restart: the indexer, and the queue runner, which would have to
 * stop its deliveries. Everything else (hostname, domains, local_parts, the limits,
 * timeouts and sizes of sessions, the certificate itself) applies to new sessions.
 */
/* What the auth process reads from the configuration that a reload may change. */
static const char *const auth_keys[] = { "domains", "local_parts", NULL };
static const char *const restart_keys[] = {
	"user", "maildir", "state_dir", "tls_cert", "tls_key", "max_sessions",
	"pam_service", "index", "index_dir", "index_resync",
	"smtp_listen", "smtps_listen", "submission_listen", "submissions_listen",
	"dns_resolver", "mx_port", "smarthost", "smarthost_tls", "smarthost_user",
	"smarthost_password_file", "smarthost_verify", "tls_ca_file", "queue_concurrency",
	"retry_initial", "retry_max", "queue_lifetime", "delay_warning", "connect_timeout",
	"command_timeout", "dkim_domain", "dkim_selector", "dkim_ed25519_key",
	"dkim_rsa_key", NULL
};

static void
session_main(int fd, const struct listener *l, const struct sockaddr_storage *peer,
    void *arg)
{
	smtp_session_serve(arg, fd, l->implicit_tls, l->kind == SMTP_LISTEN_SUBMISSION, peer);
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
	if (!helper_reaped(&indexer, pid, status))
		outbound_reaped(&outbound, pid, status);
}

/* The listener's own copies of settings; the auth process if login names changed. */
static void
reloaded(const struct settings *old, void *arg)
{
	(void)arg;
	snprintf(busy, sizeof(busy), "421 4.7.0 %s Error: too many connections, try again "
	    "later\r\n", cfg.hostname);
	lc.max_per_ip = (unsigned)cfg.max_sessions_per_ip;
	if (outbound.on)
		reload_restart_helper(&outbound.auth.helper, old, auth_keys);
}

static void
housekeeping(void *arg)
{
	static int64_t ticks;
	int n;

	(void)arg;
	helper_tick(&indexer);
	outbound_tick(&outbound);
	/* maildir(5): stale tmp/ files go after 36 hours; look once an hour. */
	if (ticks++ % 60 != 0)
		return;
	if ((n = maildir_clean_tmp(&mdir, (time_t)cfg.tmp_max_age)) > 0)
		log_info("removed %d stale file(s) from tmp/", n);
}

int
main(int argc, char *argv[])
{
	const struct daemon_port ports[] = {
		{ &cfg.smtp_listen, false, SMTP_LISTEN_MX },
		{ &cfg.smtps_listen, true, SMTP_LISTEN_MX },
		{ &cfg.submission_listen, false, SMTP_LISTEN_SUBMISSION },
		{ &cfg.submissions_listen, true, SMTP_LISTEN_SUBMISSION },
	};
	struct daemon_opts opt;
	struct listener *ls;
	struct reload_spec rs;
	char err[512];
	uid_t owner_uid;
	gid_t owner_gid;
	size_t n, nclose;
	int child_close[4];

	daemon_args("letterbox-smtpd", argc, argv, &opt);
	daemon_hold_stop_signals();
	daemon_config("letterbox-smtpd", &opt, &cfg, &server.tls, NULL);
	ls = daemon_bind(ports, sizeof(ports) / sizeof(ports[0]), &n);
	daemon_owner(&cfg, &owner_uid, &owner_gid);
	/*
	 * The Maildir's directories are opened before the drop, like the key: the mail
	 * user then needs write access to them, not search access to every parent.
	 */
	if (maildir_open(&mdir, cfg.maildir, cfg.hostname, owner_uid, owner_gid) == -1)
		fatal("maildir %s", cfg.maildir);
	/* Submission: the state directory, queue, keys and secrets, the same way. */
	outbound_prepare(&outbound, &cfg, &mdir, owner_uid, owner_gid);
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
	daemon_ready(opt.ready_fd, ls, n);
	listeners = ls;
	nlisteners = n;
	server.index_fd = -1;
	if (cfg.index) {
		indexer_dir(cfg.index_dir, index_dir, sizeof(index_dir));
		if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, indexer_socks) == -1)
			fatal("socketpair");
		indexer_missed_init();
		server.index_fd = indexer_socks[1];
		helper_init(&indexer, "indexer", indexer_spawn, NULL);
		helper_spawn(&indexer);
	}
	server.cfg = &cfg;
	server.md = &mdir;
	outbound_start(&outbound, &server, ls, n);

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
	lc.reload = reload_sighup;
	lc.watch = reload_watch;
	memset(&rs, 0, sizeof(rs));
	rs.cfg = &cfg;
	rs.tls = &server.tls;
	rs.restart_keys = restart_keys;
	rs.applied = reloaded;
	reload_setup(&rs);
	/* Sessions only write to the indexer, the auth process and the queue runner. */
	nclose = outbound_private_fds(&outbound, child_close);
	if (indexer_socks[0] != -1)
		child_close[nclose++] = indexer_socks[0];
	if (reload_private_fd() != -1)
		child_close[nclose++] = reload_private_fd();
	lc.child_close = child_close;
	lc.nchild_close = nclose;
	listener_run(ls, n, &lc);
	outbound_stop(&outbound);
	helper_stop(&indexer);
	reload_stop();
	free(ls);
	return 0;
}
