/*
 * auth: the authentication process and how sessions ask it (design.md §5).
 *
 * One auth process per daemon, started by the daemon's parent after it has dropped
 * root. Sessions never run PAM or read the app-password store themselves: a session
 * sends one request datagram on the shared socket, with one end of a fresh socket
 * pair attached (SCM_RIGHTS) for the answer, and waits on the other end. The auth
 * process throttles per client address, runs each check in a worker process (at most
 * AUTHD_WORKERS at a time), answers, and logs one line per attempt; the password is
 * never logged and is wiped wherever it was held.
 */
#ifndef LB_AUTH_AUTH_H
#define LB_AUTH_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/verify.h"
#include "lib/sasl.h"
#include "lib/settings.h"

#define AUTH_REQUEST_MAGIC	0x4c42410aU	/* "LBA" v10: bump on a layout change */
#define AUTH_WAIT_MS		(90 * 1000)	/* throttle (15 s) + PAM + worker limit */

struct auth_request {
	uint32_t	magic;
	char		session[17];	/* the session's log id */
	char		service[8];	/* "pop3", "smtp" */
	char		mech[8];	/* "PLAIN", "LOGIN", "USER" */
	char		ip[64];		/* the client's address */
	char		user[SASL_USER_MAX + 1];
	char		pass[SASL_PASS_MAX + 1];
};

struct auth_reply {
	int32_t		result;		/* enum auth_result */
	char		method[96];	/* "pam", "app:phone", or why it failed */
};

/*
 * Session side: ask the auth process on fd. service/mech/ip/session go into the log;
 * the credentials are wiped from the request copy afterwards. AUTH_TEMPFAIL when the
 * auth process cannot be reached or does not answer within AUTH_WAIT_MS.
 */
enum auth_result auth_ask(int fd, const char *service, const char *mech,
	    const char *ip, const char *session, const struct sasl_creds *c);

/*
 * Start the auth process: it reads requests on req_fd, works from state_fd (the
 * state_dir, opened before the privilege drop, so the owner needs no access to its
 * parents; -1: no app passwords), and closes the descriptors in close_fds (the
 * listeners, the other end of its socket). Its pid, or -1.
 */
pid_t	authd_start(const struct settings *cfg, int state_fd, int req_fd,
	    const int *close_fds, size_t nclose);

#endif
