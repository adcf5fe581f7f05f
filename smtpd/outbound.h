/*
 * outbound: what submission needs besides sessions, set up by smtpd's parent: the
 * state directory, the queue, the DKIM keys, the smarthost password and the TLS client
 * context (as root, before the privilege drop: all may be readable by root alone),
 * then (as the owner) the auth process and the queue runner.
 */
#ifndef LB_SMTPD_OUTBOUND_H
#define LB_SMTPD_OUTBOUND_H

#include <stdbool.h>
#include <sys/types.h>

#include "auth/service.h"
#include "dkim/dkim.h"
#include "lib/helper.h"
#include "queue/runner.h"

struct smtp_server;

struct outbound {
	bool			 on;		/* submission listeners are configured */
	int			 state_fd;
	struct queue		 queue;
	struct dkim_signer	 dkim;
	char			*smarthost_pass;
	struct queue_ctx	 ctx;
	struct auth_service	 auth;
	struct helper		 runner;
	int			 runner_socks[2];	/* [0] the runner reads, [1] sessions */
	const struct listener	*ls;
	size_t			 nls;
};

/* As root, before the drop: fatal on any error. */
void	outbound_prepare(struct outbound *o, const struct settings *cfg, struct maildir *md,
	    uid_t uid, gid_t gid);
/* As the owner: start the auth process and the queue runner; fill srv's descriptors. */
void	outbound_start(struct outbound *o, struct smtp_server *srv, const struct listener *ls,
	    size_t nls);
/* Descriptors session processes must not keep (up to 2); their number. */
size_t	outbound_private_fds(const struct outbound *o, int *fds);
/* A helper died: restart it if it was ours. */
void	outbound_reaped(struct outbound *o, pid_t pid, int status);
void	outbound_tick(struct outbound *o);
void	outbound_stop(struct outbound *o);

#endif
