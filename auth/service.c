/*
 * service: starting and restarting the auth process (see service.h).
 */
#include <sys/socket.h>
#include <sys/time.h>

#include "auth/auth.h"
#include "auth/service.h"
#include "lib/log.h"

static pid_t
auth_service_spawn(void *arg)
{
	struct auth_service *a = arg;
	int close_fds[64];
	size_t i, n = 0;

	for (i = 0; i < a->nls && n < 63; i++)
		close_fds[n++] = a->ls[i].fd;
	close_fds[n++] = a->socks[1];
	return authd_start(a->cfg, a->state_fd, a->socks[0], close_fds, n);
}

void
auth_service_start(struct auth_service *a, const struct settings *cfg, int state_fd,
    const struct listener *ls, size_t nls)
{
	struct timeval tv = { 10, 0 };

	a->cfg = cfg;
	a->state_fd = state_fd;
	a->ls = ls;
	a->nls = nls;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, a->socks) == -1)
		fatal("socketpair");
	/* A session waits at most this long to hand its request over. */
	setsockopt(a->socks[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	helper_init(&a->helper, "auth process", auth_service_spawn, a);
	helper_spawn(&a->helper);
}

int
auth_service_fd(const struct auth_service *a)
{
	return a->socks[1];
}

int
auth_service_private_fd(const struct auth_service *a)
{
	return a->socks[0];
}
