/*
 * client: a session asks the auth process (see auth.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/auth.h"
#include "lib/fdpass.h"
#include "lib/util.h"

enum auth_result
auth_ask(int fd, const char *service, const char *mech, const char *ip,
    const char *session, const struct sasl_creds *c)
{
	struct auth_request q;
	struct auth_reply rep;
	struct pollfd pfd;
	enum auth_result r = AUTH_TEMPFAIL;
	int64_t deadline = util_now_ms() + AUTH_WAIT_MS, left;
	int sp[2];

	if (fd == -1 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) == -1)
		return AUTH_TEMPFAIL;
	memset(&q, 0, sizeof(q));
	q.magic = AUTH_REQUEST_MAGIC;
	snprintf(q.session, sizeof(q.session), "%s", session);
	snprintf(q.service, sizeof(q.service), "%s", service);
	snprintf(q.mech, sizeof(q.mech), "%s", mech);
	snprintf(q.ip, sizeof(q.ip), "%s", ip);
	memcpy(q.user, c->user, sizeof(q.user));
	memcpy(q.pass, c->pass, sizeof(q.pass));
	/* The shared socket is blocking: a full queue waits, bounded by SO_SNDTIMEO. */
	if (fdpass_send(fd, &q, sizeof(q), sp[1], 0) != (ssize_t)sizeof(q))
		goto done;
	close(sp[1]);
	sp[1] = -1;
	pfd.fd = sp[0];
	pfd.events = POLLIN;
	for (;;) {
		left = deadline - util_now_ms();
		if (left <= 0)
			goto done;
		if (poll(&pfd, 1, (int)left) == -1) {
			if (errno == EINTR)
				continue;
			goto done;
		}
		if (pfd.revents)
			break;
	}
	if (recv(sp[0], &rep, sizeof(rep), 0) == (ssize_t)sizeof(rep) &&
	    rep.result >= AUTH_OK && rep.result <= AUTH_THROTTLED)
		r = (enum auth_result)rep.result;
done:
	sodium_memzero(&q, sizeof(q));
	close(sp[0]);
	if (sp[1] != -1)
		close(sp[1]);
	return r;
}
