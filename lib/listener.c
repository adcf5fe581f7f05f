/*
 * listener: accept loop with one process per session (see listener.h).
 *
 * The parent never reads from a client: it accepts, checks the limits, and hands the
 * connection to a session process over that process's control socket (SCM_RIGHTS).
 * A session process serves one connection at a time and, when done, says so and
 * waits for the next: forking and tearing down a process per connection was the
 * largest single cost per message (bench/README.md), so processes are reused, up to
 * LISTENER_MAX_USE connections each (as Postfix's max_use), and once a minute idle
 * ones beyond LISTENER_SPARE are told to go. A new process is forked only when none is idle.
 * After a reload (SIGHUP, a renewed certificate: listener_renew) the processes
 * started before it, which hold the old configuration and TLS context, take no new
 * connection: idle ones go at once, busy ones when their connection ends.
 * Over a limit the parent writes one short reply on the non-blocking socket and
 * closes it, so a flood of connections costs it almost nothing.
 *
 * Control messages: parent -> session process, struct ctl_msg (op SERVE with the
 * connection's fd attached, or QUIT); session process -> parent, one byte 'd' when a
 * connection is done, sent before that connection's socket is finally closed, so
 * the parent has always heard "done" before the client sees the close.
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
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/fdpass.h"
#include "lib/listener.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define LISTENER_TICK_MS	60000
#define LISTENER_BURST		32
/*
 * Out of descriptors (EMFILE, ENFILE) or kernel memory, accept() keeps failing and the
 * listening socket stays readable: without a pause, poll() returns at once and the
 * loop spins, logging each turn. So stop accepting for a second (OpenSMTPD's
 * pause_accept); the waiting clients stay in the backlog, and sessions ending
 * meanwhile free what was short.
 */
#define LISTENER_PAUSE_MS	1000
#define LISTENER_MAX_USE	100	/* connections per session process */
#define LISTENER_SPARE		8	/* idle session processes kept past a minute */

struct child {
	pid_t			pid;	/* 0 = free slot */
	int			ctl;	/* parent's end of the control socket; -1: retiring */
	bool			busy;	/* serving a connection */
	unsigned		served;
	unsigned		generation;	/* listener_renew() count at its start */
	struct sockaddr_storage	peer;	/* of the connection being served */
};

enum { CTL_SERVE = 1, CTL_QUIT = 2 };

struct ctl_msg {
	int			op;
	unsigned		listener;	/* index into listeners[] */
	struct sockaddr_storage	peer;
};

static volatile sig_atomic_t listener_stop;
static volatile sig_atomic_t listener_hup;
/* Bumped by listener_renew(): processes of an older one take no new connection. */
static unsigned generation;
static struct listener *listeners;	/* closed in each child */
static size_t nlisteners;
static int sigpipe_fds[2] = { -1, -1 };
/* listener_run's session table, for listener_forget() in a forked helper. */
static struct child *run_kids;
static unsigned run_nkids;

static void
listener_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (sig == SIGTERM || sig == SIGINT)
		listener_stop = 1;
	if (sig == SIGHUP)
		listener_hup = 1;
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
listener_reap(const struct listener_config *cfg, struct child *kids)
{
	pid_t pid;
	int status;
	unsigned i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < cfg->max_sessions; i++)
			if (kids[i].pid == pid) {
				if (kids[i].ctl != -1)
					close(kids[i].ctl);
				memset(&kids[i], 0, sizeof(kids[i]));
				kids[i].ctl = -1;
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

/* Send a control message, with fd attached unless it is -1. 0 or -1. */
static int
ctl_send(int ctl, const struct ctl_msg *m, int fd)
{
	return fdpass_send(ctl, m, sizeof(*m), fd, 0) == (ssize_t)sizeof(*m) ? 0 : -1;
}

/* Receive a control message; *fd gets an attached descriptor or -1. 1, 0 EOF, -1. */
static int
ctl_recv(int ctl, struct ctl_msg *m, int *fd)
{
	ssize_t r = fdpass_recv(ctl, m, sizeof(*m), fd, 0);

	if (r <= 0)
		return (int)r;
	if (r != (ssize_t)sizeof(*m) || m->listener >= nlisteners) {
		if (*fd != -1)
			close(*fd);
		return -1;
	}
	return 1;
}

/*
 * A session process: serve what the parent sends until it says QUIT or goes away.
 * The connection's socket is held open (a dup) until the parent has been told the
 * session is done, so a client that saw the close and reconnects finds it counted.
 */
static void __attribute__((noreturn))
listener_child(int ctl, const struct listener_config *cfg)
{
	struct ctl_msg m;
	int fd, hold;
	char done = 'd';

	for (;;) {
		memset(&m, 0, sizeof(m));
		if (ctl_recv(ctl, &m, &fd) != 1 || m.op != CTL_SERVE || fd == -1)
			_exit(0);
		hold = dup(fd);
		cfg->session(fd, &listeners[m.listener], &m.peer, cfg->arg);
		if (write(ctl, &done, 1) != 1)
			_exit(0);
		if (hold != -1)
			close(hold);
	}
}

/*
 * Fork a session process into the free slot. client is the connection being handed
 * over, which the new process must not inherit as well. 0, or -1 (logged).
 */
static int
listener_spawn(const struct listener_config *cfg, struct child *kids, unsigned slot,
    int client)
{
	int sv[2];
	unsigned i;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		signal(SIGHUP, SIG_IGN);
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		close(sv[0]);
		close(client);		/* it arrives again, through sv[1] */
		/* A session must not keep the ports bound after the parent is gone... */
		for (i = 0; i < nlisteners; i++)
			close(listeners[i].fd);
		/* ...nor its siblings' control sockets open (they see EOF when it dies). */
		for (i = 0; i < cfg->max_sessions; i++)
			if (kids[i].ctl != -1)
				close(kids[i].ctl);
		free(kids);	/* the parent's table, of no use here */
		for (i = 0; i < cfg->nchild_close; i++)
			close(cfg->child_close[i]);
		listener_child(sv[1], cfg);
	}
	close(sv[1]);
	memset(&kids[slot], 0, sizeof(kids[slot]));
	kids[slot].pid = pid;
	kids[slot].ctl = sv[0];
	kids[slot].generation = generation;
	return 0;
}

/* Tell a session process to go (it exits when it reads this). */
static void
listener_retire(struct child *k)
{
	struct ctl_msg m;

	memset(&m, 0, sizeof(m));
	m.op = CTL_QUIT;
	ctl_send(k->ctl, &m, -1);
	close(k->ctl);
	k->ctl = -1;
}

static unsigned
listener_idle(const struct listener_config *cfg, const struct child *kids)
{
	unsigned i, n = 0;

	for (i = 0; i < cfg->max_sessions; i++)
		if (kids[i].pid != 0 && kids[i].ctl != -1 && !kids[i].busy)
			n++;
	return n;
}

/* A control socket is readable: "done" messages, or EOF when the process died. */
static void
listener_child_input(struct child *kids, unsigned i)
{
	char buf[16];
	ssize_t r;

	r = read(kids[i].ctl, buf, sizeof(buf));
	if (r == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		/* Gone (killed, crashed): the slot is freed when it is reaped. */
		close(kids[i].ctl);
		kids[i].ctl = -1;
		return;
	}
	if (!kids[i].busy)
		return;
	kids[i].busy = false;
	/* Worn out, or started before a reload: its configuration is the old one. */
	if (++kids[i].served >= LISTENER_MAX_USE || kids[i].generation != generation)
		listener_retire(&kids[i]);
}

/*
 * Once a minute: idle session processes beyond LISTENER_SPARE go. Not at once when a
 * session ends: under load many are idle for an instant between two connections,
 * and retiring them then only means forking them again.
 */
static void
listener_prune(const struct listener_config *cfg, struct child *kids)
{
	unsigned i, idle = listener_idle(cfg, kids);

	for (i = 0; i < cfg->max_sessions && idle > LISTENER_SPARE; i++)
		if (kids[i].pid != 0 && kids[i].ctl != -1 && !kids[i].busy) {
			listener_retire(&kids[i]);
			idle--;
		}
}

/*
 * One accept(); 1 if a connection was taken (served or refused), 0 if none waits, -1
 * if accept() failed for want of descriptors or memory (pause: LISTENER_PAUSE_MS).
 */
static int
listener_accept(unsigned li, const struct listener_config *cfg, struct child *kids)
{
	struct listener *l = &listeners[li];
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	struct ctl_msg m;
	char ip[64];
	unsigned i, same = 0, busy = 0, worker = cfg->max_sessions;
	unsigned slot = cfg->max_sessions;
	int fd;

	/*
	 * accept4 fills only plen bytes of peer, and all of it goes to the session process
	 * in the control message: the rest must not be whatever the stack held.
	 */
	memset(&peer, 0, sizeof(peer));
	fd = accept4(l->fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			log_warn("accept on %s, pausing for %d ms", l->addr, LISTENER_PAUSE_MS);
			return -1;
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("accept on %s", l->addr);
		return 0;
	}
	util_sockaddr_ntop(&peer, ip, sizeof(ip));
	for (i = 0; i < cfg->max_sessions; i++) {
		if (kids[i].busy) {
			busy++;
			if (util_sockaddr_same_ip(&kids[i].peer, &peer))
				same++;
		} else if (kids[i].pid == 0) {
			if (slot == cfg->max_sessions)
				slot = i;
		} else if (kids[i].ctl != -1 && worker == cfg->max_sessions)
			worker = i;
	}
	if (busy >= cfg->max_sessions) {
		listener_refuse(fd, cfg->busy_reply, "too many sessions", ip);
		return 1;
	}
	if (same >= cfg->max_per_ip) {
		listener_refuse(fd, cfg->busy_reply, "too many sessions from this address", ip);
		return 1;
	}
	memset(&m, 0, sizeof(m));
	m.op = CTL_SERVE;
	m.listener = li;
	m.peer = peer;
	/* An idle process first; one that died meanwhile is skipped. */
	while (worker != cfg->max_sessions) {
		if (ctl_send(kids[worker].ctl, &m, fd) == 0)
			goto served;
		close(kids[worker].ctl);
		kids[worker].ctl = -1;
		for (worker = 0; worker < cfg->max_sessions; worker++)
			if (!kids[worker].busy && kids[worker].pid != 0 &&
			    kids[worker].ctl != -1)
				break;
	}
	if (slot == cfg->max_sessions || listener_spawn(cfg, kids, slot, fd) == -1 ||
	    ctl_send(kids[slot].ctl, &m, fd) == -1) {
		listener_refuse(fd, cfg->busy_reply, slot == cfg->max_sessions ?
		    "too many session processes" : "cannot start a session", ip);
		return 1;
	}
	worker = slot;
served:
	kids[worker].busy = true;
	kids[worker].peer = peer;
	close(fd);
	return 1;
}

void
listener_renew(void)
{
	unsigned i;

	generation++;
	for (i = 0; i < run_nkids; i++)
		if (run_kids[i].pid != 0 && run_kids[i].ctl != -1 && !run_kids[i].busy)
			listener_retire(&run_kids[i]);
}

void
listener_forget(void)
{
	unsigned i;

	if (sigpipe_fds[0] != -1) {
		close(sigpipe_fds[0]);
		close(sigpipe_fds[1]);
		sigpipe_fds[0] = sigpipe_fds[1] = -1;
	}
	for (i = 0; i < run_nkids; i++)
		if (run_kids[i].ctl != -1)
			close(run_kids[i].ctl);
	run_kids = NULL;	/* the copy of the parent's table; a second call does nothing */
	run_nkids = 0;
}

void
listener_run(struct listener *ls, size_t n, const struct listener_config *cfg)
{
	struct pollfd *pfd = xcalloc(n + 1 + cfg->max_sessions, sizeof(*pfd));
	unsigned *pfd_kid = xcalloc(n + 1 + cfg->max_sessions, sizeof(*pfd_kid));
	struct child *kids = xcalloc(cfg->max_sessions, sizeof(*kids));
	struct sigaction sa;
	unsigned busy, i;
	int64_t next_tick = util_now_ms() + LISTENER_TICK_MS, paused_until = 0;
	int64_t next_watch = cfg->watch != NULL ? util_now_ms() : INT64_MAX;
	char drain[64];
	size_t k, np;

	if (pipe2(sigpipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	listeners = ls;
	nlisteners = n;
	for (i = 0; i < cfg->max_sessions; i++)
		kids[i].ctl = -1;
	run_kids = kids;
	run_nkids = cfg->max_sessions;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = listener_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	if (cfg->reload != NULL)
		sigaction(SIGHUP, &sa, NULL);
	else
		signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	/* The caller may have held these back until the handlers were in place. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	sigaddset(&sa.sa_mask, SIGCHLD);
	sigaddset(&sa.sa_mask, SIGHUP);
	sigprocmask(SIG_UNBLOCK, &sa.sa_mask, NULL);

	while (!listener_stop) {
		int64_t now = util_now_ms();
		int timeout = next_tick > now ? (int)(next_tick - now) : 0;
		bool paused = now < paused_until;

		if (paused && paused_until - now < timeout)
			timeout = (int)(paused_until - now);
		if (next_watch - now < timeout)
			timeout = next_watch > now ? (int)(next_watch - now) : 0;
		/* A negative fd is skipped by poll(): no accepting while paused. */
		for (k = 0; k < n; k++) {
			pfd[k].fd = paused ? -1 : ls[k].fd;
			pfd[k].events = POLLIN;
			pfd[k].revents = 0;
		}
		pfd[n].fd = sigpipe_fds[0];
		pfd[n].events = POLLIN;
		np = n + 1;
		for (i = 0; i < cfg->max_sessions; i++)
			if (kids[i].ctl != -1) {
				pfd[np].fd = kids[i].ctl;
				pfd[np].events = POLLIN;
				pfd_kid[np++] = i;
			}
		if (poll(pfd, np, timeout) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[n].revents & POLLIN)
			while (read(sigpipe_fds[0], drain, sizeof(drain)) > 0)
				;
		listener_reap(cfg, kids);
		/* Before accepting more: what is accepted after SIGHUP gets the new settings. */
		if (listener_hup) {
			listener_hup = 0;
			cfg->reload(cfg->arg);
			next_watch = cfg->watch != NULL ? util_now_ms() : INT64_MAX;
		}
		if (util_now_ms() >= next_watch) {
			int64_t ms = cfg->watch(cfg->arg);

			next_watch = ms < 0 ? INT64_MAX : util_now_ms() + ms;
		}
		/* "Done" before new connections: a client that saw its close is not over. */
		for (k = n + 1; k < np; k++)
			if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    kids[pfd_kid[k]].ctl == pfd[k].fd)
				listener_child_input(kids, pfd_kid[k]);
		/* Drain a burst, but boundedly so signals and reaping still get a turn. */
		for (k = 0; k < n && !listener_stop && paused_until <= now; k++)
			for (i = 0; (pfd[k].revents & POLLIN) && i < LISTENER_BURST; i++) {
				int r = listener_accept((unsigned)k, cfg, kids);

				if (r == -1)
					paused_until = util_now_ms() + LISTENER_PAUSE_MS;
				if (r != 1)
					break;
			}
		if (util_now_ms() >= next_tick) {
			listener_prune(cfg, kids);
			if (cfg->tick != NULL)
				cfg->tick(cfg->arg);
			next_tick = util_now_ms() + LISTENER_TICK_MS;
		}
	}
	for (busy = 0, i = 0; i < cfg->max_sessions; i++)
		busy += kids[i].busy;
	log_info("stopping: %u session(s) ended", busy);
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
	free(pfd_kid);
	free(pfd);
}
