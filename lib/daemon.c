/*
 * daemon: shared start-up steps (see daemon.h).
 */
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/reload.h"
#include "lib/xmalloc.h"

#define DEFAULT_CONFIG	"/etc/letterbox/letterbox.conf"

static void __attribute__((noreturn))
daemon_usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-dnv] [-f config] [-r fd]\n"
	    "  -f file  configuration (default " DEFAULT_CONFIG ")\n"
	    "  -n       check the configuration and exit\n"
	    "  -d       log to stderr instead of syslog\n"
	    "  -v       verbose logging\n"
	    "  -r fd    write a line to fd once ready to accept (readiness notification)\n",
	    prog);
	exit(2);
}

void
daemon_args(const char *prog, int argc, char *argv[], struct daemon_opts *o)
{
	int ch;

	o->config = DEFAULT_CONFIG;
	o->check_only = o->foreground_log = o->verbose = 0;
	o->ready_fd = -1;
	while ((ch = getopt(argc, argv, "df:nr:v")) != -1) {
		switch (ch) {
		case 'd': o->foreground_log = 1; break;
		case 'f': o->config = optarg; break;
		case 'n': o->check_only = 1; break;
		case 'r': o->ready_fd = atoi(optarg); break;
		case 'v': o->verbose = 1; break;
		default: daemon_usage(prog);
		}
	}
	if (optind != argc)
		daemon_usage(prog);
}

void
daemon_config(const char *prog, const struct daemon_opts *o, struct settings *cfg,
    SSL_CTX **tls, const char *(*check)(const struct settings *))
{
	const char *why;
	char err[512];

	if (settings_load(cfg, o->config, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(1);
	}
	if (check != NULL && (why = check(cfg)) != NULL) {
		fprintf(stderr, "%s: %s: %s\n", prog, o->config, why);
		exit(1);
	}
	*tls = NULL;
	if (cfg->tls_cert != NULL &&
	    (*tls = reload_tls_first(cfg, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(1);
	}
	if (o->check_only) {
		printf("%s: configuration OK\n", o->config);
		exit(0);
	}
	log_init(prog, o->foreground_log, o->verbose);
	umask(077);
	/* While root, before the ports, the Maildir and the helpers: the opener (reload.c). */
	reload_start(o->config);
}

void
daemon_owner(const struct settings *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() == 0 && cfg->user != NULL && (pw = getpwnam(cfg->user)) != NULL) {
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
}

void
daemon_hold_stop_signals(void)
{
	sigset_t stopsigs;

	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	/* Kept until listener_run too, where it reloads instead of killing (its default). */
	sigaddset(&stopsigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &stopsigs, NULL);
}

struct listener *
daemon_bind(const struct daemon_port *ports, size_t nports, size_t *n_out)
{
	size_t i, j, n = 0;
	struct listener *ls;
	char err[512];

	for (i = 0; i < nports; i++)
		n += ports[i].addrs->n;
	ls = xcalloc(n ? n : 1, sizeof(*ls));
	n = 0;
	for (i = 0; i < nports; i++)
		for (j = 0; j < ports[i].addrs->n; j++, n++) {
			if (listener_bind(&ls[n], ports[i].addrs->v[j], ports[i].implicit_tls,
			    err, sizeof(err)) == -1)
				fatalx("listen: %s", err);
			ls[n].kind = ports[i].kind;
		}
	*n_out = n;
	return ls;
}

void
daemon_ready(int fd, const struct listener *ls, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		log_info("listening on %s%s", ls[i].addr, ls[i].implicit_tls ? " (TLS)" : "");
	if (fd == -1)
		return;
	if (write(fd, "ready\n", 6) == -1)
		log_warn("readiness fd %d", fd);
	close(fd);
}
