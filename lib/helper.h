/*
 * helper: a helper process of a daemon (the indexer, the auth process), restarted at
 * once when it dies, unless it keeps dying (HELPER_RESPAWN_MAX times within a minute):
 * then once a minute, from the daemon's housekeeping tick.
 */
#ifndef LB_HELPER_H
#define LB_HELPER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HELPER_RESPAWN_MAX	5

struct helper {
	const char	*name;			/* for the log */
	pid_t		(*start)(void *arg);	/* fork it: its pid or -1 */
	void		*arg;
	pid_t		 pid;			/* -1 when not running */
	int64_t		 window_start;
	int		 deaths;
};

/*
 * Fork a helper process; returns as fork() does. In the child: the kernel sends it
 * SIGKILL when the daemon dies without stopping it (kill -9, a crash), close_fds and
 * the listener's session sockets (listener_forget) and the opener's (reload_forget)
 * are closed, SIGHUP is ignored and SIGCHLD default, and SIGTERM and SIGINT are
 * still blocked, as they were from before the fork: a stop request in between is
 * kept until the child has set its own handlers and unblocked them, instead of
 * running the parent's handler in the child and being lost. *mask_out gets the
 * signal mask from before the fork.
 */
pid_t	helper_fork(const int *close_fds, size_t nclose, sigset_t *mask_out);

void	helper_init(struct helper *h, const char *name, pid_t (*start)(void *), void *arg);
void	helper_spawn(struct helper *h);
/* A child was reaped: true if it was h's (and h was restarted when allowed). */
bool	helper_reaped(struct helper *h, pid_t pid, int status);
/* Housekeeping: start h if it is not running. */
void	helper_tick(struct helper *h);
/* SIGTERM and wait. */
void	helper_stop(struct helper *h);

#endif
