/*
 * daemon: the start-up steps smtpd and pop3d share: stop signals held until the
 * listener can act on them, listeners bound from the configuration, and the
 * readiness line.
 */
#ifndef LB_DAEMON_H
#define LB_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "lib/conf.h"
#include "lib/listener.h"
#include "lib/settings.h"

/* The command line every daemon takes: [-dnv] [-f config] [-r fd]. */
struct daemon_opts {
	const char	*config;
	int		 check_only;	/* -n */
	int		 foreground_log;	/* -d */
	int		 verbose;	/* -v */
	int		 ready_fd;	/* -r, or -1 */
};

/* Parse argv (usage and exit 2 on a mistake). */
void	daemon_args(const char *prog, int argc, char *argv[], struct daemon_opts *o);
/*
 * Load the configuration and the certificate (NULL in *tls without one); check(cfg)
 * may refuse it with a reason. On -n, say OK and exit; on any error, say why on
 * stderr and exit 1. Then start logging, set the umask and start the opener that
 * reloads read through (reload.h).
 */
void	daemon_config(const char *prog, const struct daemon_opts *o, struct settings *cfg,
	    SSL_CTX **tls, const char *(*check)(const struct settings *));
/* The account the daemon becomes ("user"), for files it creates as root; -1s if none. */
void	daemon_owner(const struct settings *cfg, uid_t *uid, gid_t *gid);

/*
 * SIGTERM and SIGINT wait (blocked) until listener_run(): a stop request during
 * start-up then stops the helpers too, instead of killing the parent alone. So does
 * SIGHUP, which then reloads.
 */
void	daemon_hold_stop_signals(void);
/* One group of listeners: the configured addresses, TLS from the start or not. */
struct daemon_port {
	const struct conf_list	*addrs;
	bool			 implicit_tls;
	int			 kind;		/* copied into each listener */
};
/* Bind every address of every group, in order; fatal on failure. */
struct listener *daemon_bind(const struct daemon_port *ports, size_t nports, size_t *n_out);
/* Log the listeners and write "ready\n" to fd (if not -1), then close it. */
void	daemon_ready(int fd, const struct listener *ls, size_t n);

#endif
