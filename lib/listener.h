/*
 * listener: bound sockets and the accept loop. Hands each connection to a session
 * process, keeps the session limits in total and per client address, and reaps children.
 * Knows no protocol: the caller gives the session function and the "busy" reply.
 */
#ifndef LB_LISTENER_H
#define LB_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct listener {
	int	fd;
	bool	implicit_tls;	/* TLS from the first byte (RFC 8314) */
	int	kind;		/* what the daemon serves here (smtpd: MX or submission) */
	char	addr[64];	/* as configured, for logs */
};

struct listener_config {
	unsigned	max_sessions;
	unsigned	max_per_ip;
	const char	*busy_reply;	/* sent by the parent when over a limit */
	/* Runs in the child with the accepted fd; its return ends the child. */
	void		(*session)(int fd, const struct listener *l,
			    const struct sockaddr_storage *peer, void *arg);
	void		*arg;
	/* Called about once a minute in the parent (housekeeping), may be NULL. */
	void		(*tick)(void *arg);
	/* SIGHUP in the parent (reload.c); may be NULL: then SIGHUP is ignored. */
	void		(*reload)(void *arg);
	/*
	 * Called in the parent at start, after each reload, and again after the ms it
	 * returns (-1: not until the next reload); may be NULL. The certificate's files.
	 */
	int64_t		(*watch)(void *arg);
	/* Called for a child that is not a session (a helper process), may be NULL. */
	void		(*reaped)(pid_t pid, int status, void *arg);
	/* Descriptors of the parent that session children must not keep. */
	const int	*child_close;
	size_t		 nchild_close;
};

/* Bind and listen on addr ("127.0.0.1:25"). 0, or -1 with the reason in err. */
int	listener_bind(struct listener *l, const char *addr, bool implicit_tls, char *err,
	    size_t errsz);
/*
 * In a child forked from inside listener_run that is not a session (a helper): close
 * the sessions' control sockets and the signal pipe it inherited. Otherwise an idle
 * session orphaned by a dead daemon never sees EOF while the helper lives.
 */
void	listener_forget(void);
/*
 * From inside listener_run (a reload): the session processes started so far serve
 * no new connection. Idle ones are told to go at once; busy ones finish their
 * connection first, with what they had.
 */
void	listener_renew(void);
/* Accept until SIGTERM or SIGINT; then stop the children and return. */
void	listener_run(struct listener *ls, size_t n, const struct listener_config *cfg);

#endif
