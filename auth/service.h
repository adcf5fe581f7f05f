/*
 * service: the auth process as a daemon's parent runs it: the socket pair sessions
 * ask on, and the helper that (re)starts it. Shared by smtpd and pop3d.
 */
#ifndef LB_AUTH_SERVICE_H
#define LB_AUTH_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/helper.h"
#include "lib/listener.h"
#include "lib/settings.h"

struct auth_service {
	int			 socks[2];	/* [0] the auth process reads, [1] sessions */
	struct helper		 helper;
	const struct settings	*cfg;
	int			 state_fd;	/* the state_dir (app passwords), or -1 */
	const struct listener	*ls;		/* closed in the auth process */
	size_t			 nls;
};

/* Make the socket pair and start the auth process (after the privilege drop). */
void	auth_service_start(struct auth_service *a, const struct settings *cfg, int state_fd,
	    const struct listener *ls, size_t nls);
/* The descriptor sessions ask on. */
int	auth_service_fd(const struct auth_service *a);
/* The descriptor sessions must not keep (the auth process's end). */
int	auth_service_private_fd(const struct auth_service *a);

#endif
