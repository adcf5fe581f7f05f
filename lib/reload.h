/*
 * reload: SIGHUP and certificate renewal in a daemon's parent, shared by smtpd and
 * pop3d. SIGHUP re-reads the configuration and the certificate; a changed
 * certificate or key file is also noticed without a signal (every
 * tls_check_interval). What is wrong is logged and the running configuration or
 * certificate kept. New sessions get the new ones; sessions in progress keep theirs
 * (each is a process with its own copy): the listener retires its idle session
 * processes and lets the busy ones finish (listener_renew).
 */
#ifndef LB_RELOAD_H
#define LB_RELOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "lib/helper.h"
#include "lib/settings.h"

/*
 * At start (from daemon_config, as root): load the certificate named in cfg, and
 * remember which files it came from. NULL with the reason in err.
 */
SSL_CTX	*reload_tls_first(const struct settings *cfg, char *err, size_t errsz);
/*
 * Still at start, after -n: remember the configuration file, and if running as root,
 * fork the opener, the process that opens the configuration and the certificate's
 * files for the parent once it has dropped root.
 */
void	reload_start(const char *config);

struct reload_spec {
	struct settings		*cfg;		/* the running configuration, replaced in place */
	SSL_CTX			**tls;		/* the running server context; NULL inside: no TLS */
	/* NULL-terminated: keys set up at start, kept as they are until a restart. */
	const char *const	*restart_keys;
	/* The daemon's own check of a configuration (as at start); may be NULL. */
	const char		*(*check)(const struct settings *);
	/* After a new configuration took effect (old is about to be freed); may be NULL. */
	void			(*applied)(const struct settings *old, void *arg);
	void			*arg;
};

/* The rest of the daemon's part, before listener_run. */
void	reload_setup(const struct reload_spec *spec);
/*
 * From the applied hook: stop and start h again (a helper forked from the parent,
 * which reads the running configuration when it starts) if one of keys (NULL-
 * terminated) differs between old and the running configuration.
 */
void	reload_restart_helper(struct helper *h, const struct settings *old,
	    const char *const *keys);
/* The listener's reload callback (SIGHUP). */
void	reload_sighup(void *arg);
/* The listener's watch callback: look at the certificate's files; ms to the next look. */
int64_t	reload_watch(void *arg);
/* The opener's end descriptor, for session processes to close; -1 if none. */
int	reload_private_fd(void);
/* In a forked helper: close the opener's socket. */
void	reload_forget(void);
/* At the end: the opener goes. */
void	reload_stop(void);

#endif
