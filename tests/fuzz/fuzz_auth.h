/*
 * fuzz_auth.h: the auth process stand-in of the whole-session fuzzers. A thread
 * answers the requests on a datagram socket (struct auth_request + SCM_RIGHTS reply
 * socket, as auth/client.c sends them): password "right" is AUTH_OK for any user,
 * "tempfail" and "throttled" give those answers, "short" a truncated reply, anything
 * else AUTH_FAIL. Each request must be well-formed and come from the expected service
 * and client address, or the harness aborts. Header-only: each harness is one .c.
 */
#ifndef LB_FUZZ_AUTH_H
#define LB_FUZZ_AUTH_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/auth.h"

static int fuzz_auth_socks[2] = { -1, -1 };
static atomic_uint fuzz_auth_ok_given;	/* AUTH_OK answers so far */
static const char *fuzz_auth_service;
static const char *fuzz_auth_ip;

static inline void *
fuzz_auth_responder(void *arg)
{
	struct auth_request q;
	struct auth_reply rep;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec iov;
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	(void)arg;
	for (;;) {
		iov.iov_base = &q;
		iov.iov_len = sizeof(q);
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = cm.buf;
		mh.msg_controllen = sizeof(cm.buf);
		if ((n = recvmsg(fuzz_auth_socks[0], &mh, MSG_CMSG_CLOEXEC)) == -1) {
			if (errno == EINTR)
				continue;
			return NULL;	/* closed at exit */
		}
		fd = -1;
		if ((c = CMSG_FIRSTHDR(&mh)) != NULL && c->cmsg_level == SOL_SOCKET &&
		    c->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(c), sizeof(int));
		/* What auth_ask sends: the whole request, a reply socket, sane fields. */
		if (n != (ssize_t)sizeof(q) || fd == -1 || q.magic != AUTH_REQUEST_MAGIC ||
		    strcmp(q.service, fuzz_auth_service) != 0 ||
		    (strcmp(q.mech, "USER") != 0 && strcmp(q.mech, "PLAIN") != 0 &&
		    strcmp(q.mech, "LOGIN") != 0) || strcmp(q.ip, fuzz_auth_ip) != 0 ||
		    memchr(q.user, '\0', sizeof(q.user)) == NULL || q.user[0] == '\0' ||
		    memchr(q.pass, '\0', sizeof(q.pass)) == NULL || q.pass[0] == '\0')
			abort();
		memset(&rep, 0, sizeof(rep));
		rep.result = AUTH_FAIL;
		if (strcmp(q.pass, "right") == 0)
			rep.result = AUTH_OK;
		else if (strcmp(q.pass, "tempfail") == 0)
			rep.result = AUTH_TEMPFAIL;
		else if (strcmp(q.pass, "throttled") == 0)
			rep.result = AUTH_THROTTLED;
		snprintf(rep.method, sizeof(rep.method), "fuzz");
		if (rep.result == AUTH_OK)
			atomic_fetch_add(&fuzz_auth_ok_given, 1);
		(void)send(fd, &rep, strcmp(q.pass, "short") == 0 ? 3 : sizeof(rep),
		    MSG_NOSIGNAL);
		sodium_memzero(&q, sizeof(q));
		close(fd);
	}
}

/* Start the stand-in for service requests from ip; returns the fd sessions ask on. */
static inline int
fuzz_auth_start(const char *service, const char *ip)
{
	pthread_t th;

	fuzz_auth_service = service;
	fuzz_auth_ip = ip;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fuzz_auth_socks) == -1 ||
	    pthread_create(&th, NULL, fuzz_auth_responder, NULL) != 0)
		abort();
	pthread_detach(th);
	return fuzz_auth_socks[1];
}

#endif
