/*
 * letterbox-pop3d: argv, configuration, binding, TLS key, privilege drop, the auth
 * process, then the listener. Thin on purpose: everything else links into tests.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "auth/service.h"
#include "lib/daemon.h"
#include "lib/helper.h"
#include "lib/listener.h"
#include "lib/log.h"
#include "lib/privdrop.h"
#include "lib/reload.h"
#include "lib/settings.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "maildir/maildir.h"
#include "pop3d/session.h"


static struct pop3_server server;
static struct settings cfg;
static struct maildir mdir;
static struct listener *listeners;
static size_t nlisteners;
static struct auth_service authd;
static int state_fd = -1;
static struct listener_config lc;

/* What SIGHUP cannot change (reload.h, smtpd/main.c); the rest applies to new sessions. */
static const char *const restart_keys[] = {
	"user", "maildir", "state_dir", "tls_cert", "tls_key", "max_sessions",
	"pam_service", "index", "index_dir", "pop3_listen", "pop3s_listen", NULL
};
/* What the auth process reads from the configuration that a reload may change. */
static const char *const auth_keys[] = { "domains", "local_parts", NULL };

static const char *
pop3_config_check(const struct settings *c)
{
	return c->pop3_listen.n + c->pop3s_listen.n == 0 ?
	    "pop3_listen or pop3s_listen: nothing to listen on" : NULL;
}

static void
session_main(int fd, const struct listener *l, const struct sockaddr_storage *peer,
    void *arg)
{
	pop3_session_serve(arg, fd, l->implicit_tls, peer);
}

static void
child_reaped(pid_t pid, int status, void *arg)
{
	(void)arg;
	helper_reaped(&authd.helper, pid, status);
}

/* The listener's own copy of a setting; the auth process if login names changed. */
static void
reloaded(const struct settings *old, void *arg)
{
	(void)arg;
	lc.max_per_ip = (unsigned)cfg.max_sessions_per_ip;
	reload_restart_helper(&authd.helper, old, auth_keys);
}

static void
housekeeping(void *arg)
{
	(void)arg;
	helper_tick(&authd.helper);
}

int
main(int argc, char *argv[])
{
	const struct daemon_port ports[] = {
		{ &cfg.pop3_listen, false, 0 },
		{ &cfg.pop3s_listen, true, 0 },
	};
	struct daemon_opts opt;
	struct reload_spec rs;
	int child_close[3];
	char err[512];
	uid_t owner_uid;
	gid_t owner_gid;

	daemon_args("letterbox-pop3d", argc, argv, &opt);
	daemon_hold_stop_signals();
	daemon_config("letterbox-pop3d", &opt, &cfg, &server.tls, pop3_config_check);
	listeners = daemon_bind(ports, sizeof(ports) / sizeof(ports[0]), &nlisteners);
	daemon_owner(&cfg, &owner_uid, &owner_gid);
	/* Opened before the drop, as in smtpd: the owner needs no access to the parents. */
	if (maildir_open(&mdir, cfg.maildir, cfg.hostname, owner_uid, owner_gid) == -1)
		fatal("maildir %s", cfg.maildir);
	/* The same for the state directory (app passwords), created for the owner. */
	if ((state_fd = util_mkdirat_open(AT_FDCWD, cfg.state_dir, owner_uid, owner_gid)) == -1)
		log_warn("state_dir %s: app passwords cannot be used", cfg.state_dir);
	if (privdrop(cfg.user, err, sizeof(err)) == -1)
		fatalx("%s", err);
	log_info("ready: user=%s maildir=%s pam_service=%s", cfg.user ? cfg.user :
	    "(current)", cfg.maildir, cfg.pam_service);
	/* Said before forking the auth process, which must not hold ready_fd. */
	daemon_ready(opt.ready_fd, listeners, nlisteners);

	server.cfg = &cfg;
	server.md = &mdir;
	auth_service_start(&authd, &cfg, state_fd, listeners, nlisteners);
	server.auth_fd = auth_service_fd(&authd);

	memset(&lc, 0, sizeof(lc));
	lc.max_sessions = (unsigned)cfg.max_sessions;
	lc.max_per_ip = (unsigned)cfg.max_sessions_per_ip;
	lc.busy_reply = "-ERR [SYS/TEMP] Too many connections, try again later.\r\n";
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
	rs.check = pop3_config_check;
	rs.applied = reloaded;
	reload_setup(&rs);
	/* Sessions only write requests; the app passwords are the auth process's. */
	lc.nchild_close = 0;
	child_close[lc.nchild_close++] = auth_service_private_fd(&authd);
	if (state_fd != -1)
		child_close[lc.nchild_close++] = state_fd;
	if (reload_private_fd() != -1)
		child_close[lc.nchild_close++] = reload_private_fd();
	lc.child_close = child_close;
	listener_run(listeners, nlisteners, &lc);
	helper_stop(&authd.helper);
	reload_stop();
	free(listeners);
	return 0;
}
