/*
 * listener: accept loop with per-process sessions (see listener.h).
 *
 * The parent never reads from a client: it accepts, checks the limits, forks, and
 * forgets the fd. Over a limit it writes one short reply on the non-blocking socket
 * and closes it, so a flood of connections costs it almost nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/listener.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define LISTENER_TICK_MS	60000
#define LISTENER_BURST		32

struct child {
	pid_t			pid;	/* 0 = free slot */
	struct sockaddr_storage	peer;
};

static volatile sig_atomic_t listener_stop;
static struct listener *listeners;	/* closed in each child */
static size_t nlisteners;
static int sigpipe_fds[2] = { -1, -1 };

static void
listener_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		listener_stop = 1;
	/* Wake poll(); a full pipe already means "wake up". */
	if (write(sigpipe_fds[1], &c, 1) == -1) {
		/* nothing to do */
	}
	errno = saved;
}

int
listener_bind(struct listener *l, const char *addr, bool implicit_tls, char *err,
    size_t errsz)
{
	struct lb_sockaddr sa;
	int one = 1;

	l->fd = -1;
	l->implicit_tls = implicit_tls;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	if (util_parse_listen(addr, &sa) == -1) {
		snprintf(err, errsz, "%s: not ADDRESS:PORT", addr);
		return -1;
	}
	if ((l->fd = socket(sa.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa.ss.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (struct sockaddr *)&sa.ss, sa.len) == -1)
		goto fail;
	/* A deep backlog: a burst of senders must not see dropped SYNs (bench-kit). */
	if (listen(l->fd, SOMAXCONN) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errsz, "%s: %s", addr, strerror(errno));
	if (l->fd != -1)
		close(l->fd);
	l->fd = -1;
	return -1;
}

static void
listener_reap(const struct listener_config *cfg, struct child *kids, unsigned *active)
{
	pid_t pid;
	int status;
	unsigned i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < cfg->max_sessions; i++)
			if (kids[i].pid == pid) {
				kids[i].pid = 0;
				(*active)--;
				break;
			}
		if (i == cfg->max_sessions) {
			if (cfg->reaped != NULL)
				cfg->reaped(pid, status, cfg->arg);
			continue;
		}
		if (WIFSIGNALED(status) && WTERMSIG(status) != SIGTERM)
			log_warnx("session process %ld killed by signal %d", (long)pid,
			    WTERMSIG(status));
	}
}

static void
listener_refuse(int fd, const char *reply, const char *why, const char *ip)
{
	log_info("refused client=%s reason=\"%s\"", ip, why);
	if (send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT) == -1) {
		/* The client is gone or its buffer is full: either way we close. */
	}
	close(fd);
}

/* One accept(); 1 if a connection was taken (served or refused), 0 if none waits. */
static int
listener_accept(struct listener *l, const struct listener_config *cfg,
    struct child *kids, unsigned *active)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char ip[64];
	unsigned i, same = 0, slot = cfg->max_sessions;
	pid_t pid;
	int fd;

	fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept on %s", l->addr);
		return 0;
	}
	util_sockaddr_ntop(&peer, ip, sizeof(ip));
	for (i = 0; i < cfg->max_sessions; i++) {
		if (kids[i].pid == 0) {
			if (slot == cfg->max_sessions)
				slot = i;
		} else if (util_sockaddr_same_ip(&kids[i].peer, &peer))
			same++;
	}
	if (slot == cfg->max_sessions) {
		listener_refuse(fd, cfg->busy_reply, "too many sessions", ip);
		return 1;
	}
	if (same >= cfg->max_per_ip) {
		listener_refuse(fd, cfg->busy_reply, "too many sessions from this address", ip);
		return 1;
	}
	pid = fork();
	if (pid == -1) {
		log_warn("fork");
		listener_refuse(fd, cfg->busy_reply, "cannot fork", ip);
		return 1;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		/* A session must not keep the ports bound after the parent is gone. */
		for (i = 0; i < nlisteners; i++)
			if (&listeners[i] != l)
				close(listeners[i].fd);
		close(l->fd);
		for (i = 0; i < cfg->nchild_close; i++)
			close(cfg->child_close[i]);
		cfg->session(fd, l, &peer, cfg->arg);
		_exit(0);
	}
	kids[slot].pid = pid;
	kids[slot].peer = peer;
	(*active)++;
	close(fd);
	return 1;
}

void
listener_run(struct listener *ls, size_t n, const struct listener_config *cfg)
{
	struct pollfd *pfd = xcalloc(n + 1, sizeof(*pfd));
	struct child *kids = xcalloc(cfg->max_sessions, sizeof(*kids));
	struct sigaction sa;
	unsigned active = 0, i;
	int64_t next_tick = util_now_ms() + LISTENER_TICK_MS;
	char drain[64];
	size_t k;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	listeners = ls;
	nlisteners = n;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = listener_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* The caller may have held these back until the handlers were in place. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);

	for (k = 0; k < n; k++) {
		pfd[k].fd = ls[k].fd;
		pfd[k].events = POLLIN;
	}
	pfd[n].fd = sigpipe_fds[0];
	pfd[n].events = POLLIN;
	while (!listener_stop) {
		int64_t now = util_now_ms();
		int timeout = next_tick > now ? (int)(next_tick - now) : 0;

		if (poll(pfd, n + 1, timeout) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[n].revents & POLLIN)
			while (read(sigpipe_fds[0], drain, sizeof(drain)) > 0)
				;
		listener_reap(cfg, kids, &active);
		/* Drain a burst, but boundedly so signals and reaping still get a turn. */
		for (k = 0; k < n && !listener_stop; k++)
			for (i = 0; (pfd[k].revents & POLLIN) && i < LISTENER_BURST; i++)
				if (!listener_accept(&ls[k], cfg, kids, &active))
					break;
		if (util_now_ms() >= next_tick) {
			if (cfg->tick != NULL)
				cfg->tick(cfg->arg);
			next_tick = util_now_ms() + LISTENER_TICK_MS;
		}
	}
	log_info("stopping: %u session(s) ended", active);
	for (k = 0; k < n; k++)
		close(ls[k].fd);
	for (i = 0; i < cfg->max_sessions; i++)
		if (kids[i].pid != 0)
			kill(kids[i].pid, SIGTERM);
	/* Only the sessions: a helper child (the indexer) is the caller's to stop. */
	for (i = 0; i < cfg->max_sessions; i++)
		if (kids[i].pid != 0)
			waitpid(kids[i].pid, NULL, 0);
	free(kids);
	free(pfd);
}
