/*
 * daemon: shared start-up steps (see daemon.h).
 */
#include <signal.h>
#include <unistd.h>

#include "lib/daemon.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

void
daemon_hold_stop_signals(void)
{
	sigset_t stopsigs;

	sigemptyset(&stopsigs);
	sigaddset(&stopsigs, SIGTERM);
	sigaddset(&stopsigs, SIGINT);
	sigprocmask(SIG_BLOCK, &stopsigs, NULL);
}

struct listener *
daemon_bind(const struct conf_list *plain, const struct conf_list *tls, size_t *n_out)
{
	size_t i, n = plain->n + tls->n;
	struct listener *ls = xcalloc(n ? n : 1, sizeof(*ls));
	char err[512];

	for (i = 0; i < n; i++) {
		bool implicit = i >= plain->n;
		const char *a = implicit ? tls->v[i - plain->n] : plain->v[i];

		if (listener_bind(&ls[i], a, implicit, err, sizeof(err)) == -1)
			fatalx("listen: %s", err);
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
