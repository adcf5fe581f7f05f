/*
 * daemon: the start-up steps smtpd and pop3d share: stop signals held until the
 * listener can act on them, listeners bound from the configuration, and the
 * readiness line.
 */
#ifndef LB_DAEMON_H
#define LB_DAEMON_H

#include <stddef.h>

#include "lib/conf.h"
#include "lib/listener.h"

/*
 * SIGTERM and SIGINT wait (blocked) until listener_run(): a stop request during
 * start-up then stops the helpers too, instead of killing the parent alone.
 */
void	daemon_hold_stop_signals(void);
/* Bind plain's addresses, then tls's (implicit TLS); fatal on failure. */
struct listener *daemon_bind(const struct conf_list *plain, const struct conf_list *tls,
	    size_t *n_out);
/* Log the listeners and write "ready\n" to fd (if not -1), then close it. */
void	daemon_ready(int fd, const struct listener *ls, size_t n);

#endif
