/*
 * runner: the queue runner process: the schedule, and the delivery processes (see
 * runner.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/helper.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/runner.h"

#define RUNNER_RESCAN_S		300	/* the files are the truth: re-read them this often */
#define RUNNER_WORKERS_MAX	100

struct entry {
	char	 id[QUEUE_ID_MAX + 1];
	char	 route[256];
	time_t	 next;
	pid_t	 busy;			/* the delivery process that has it, 0: none */
};

struct worker {
	pid_t	 pid;
	int	 fd;			/* its reports */
	char	 buf[4096];
	size_t	 len;
};

struct runner {
	const struct queue_ctx	*ctx;
	int			 notify_fd;
	int			 ctl_fd;
	struct entry		*e;
	size_t			 n, cap;
	/*
	 * RUNNER_WORKERS_MAX of them, calloc()ed: 400 KiB that a zeroed array on the
	 * stack kept resident for the process's life, although most runners never
	 * have more than a few delivery processes (bench/README.md, "Footprint").
	 */
	struct worker		*w;
	size_t			 nw;
	time_t			 last_scan;
};

static volatile sig_atomic_t runner_stop;

static void
runner_on_term(int sig)
{
	(void)sig;
	runner_stop = 1;
}

static struct entry *
runner_find(struct runner *r, const char *id)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->e[i].id, id) == 0)
			return &r->e[i];
	return NULL;
}

static void
runner_drop(struct runner *r, struct entry *e)
{
	*e = r->e[--r->n];
}

/* Learn of message id from its files: its next attempt and route. */
static void
runner_load(struct runner *r, const char *id)
{
	struct queue_msg m;
	struct entry *e;

	if (queue_msg_load(r->ctx->q, id, &m) == -1) {
		if (errno != ENOENT)
			log_warn("queue_id=%s: cannot read; skipped", id);
		queue_msg_free(&m);
		if ((e = runner_find(r, id)) != NULL && e->busy == 0)
			runner_drop(r, e);
		return;
	}
	if ((e = runner_find(r, id)) == NULL) {
		if (r->n == r->cap) {
			r->cap = r->cap ? r->cap * 2 : 256;
			r->e = xreallocarray(r->e, r->cap, sizeof(*r->e));
		}
		e = &r->e[r->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
	}
	if (e->busy == 0) {
		e->next = m.next;
		queue_route(r->ctx->cfg, &m, e->route, sizeof(e->route));
	}
	queue_msg_free(&m);
}

static void
runner_scan(struct runner *r)
{
	char **ids;
	size_t n, i;

	r->last_scan = time(NULL);
	if (queue_list_ids(r->ctx->q, &ids, &n) == -1) {
		log_warn("queue: cannot list");
		return;
	}
	for (i = 0; i < n; i++)
		runner_load(r, ids[i]);
	if ((i = queue_prune_states(r->ctx->q, ids, n)) > 0)
		log_info("queue: removed %zu state file(s) of finished messages", i);
	/* Messages removed by hand ("letterbox queue delete") leave the schedule. */
	for (i = 0; i < r->n; ) {
		if (r->e[i].busy == 0 && bsearch(&(const char *){ r->e[i].id }, ids, n,
		    sizeof(*ids), queue_ids_cmp) == NULL) {
			runner_drop(r, &r->e[i]);
			continue;
		}
		i++;
	}
	queue_ids_free(ids, n);
	if (r->n > 0)
		log_info("queue: %zu message(s) waiting", r->n);
}

/* Fork a delivery process for the batch; the entries are marked busy with its pid. */
static void
runner_spawn(struct runner *r, const size_t *batch, size_t nb)
{
	int p[2], close_fds[3];
	char **ids = xcalloc(nb, sizeof(*ids));
	struct worker *w = &r->w[r->nw];
	sigset_t mask;
	size_t i;
	pid_t pid;

	for (i = 0; i < nb; i++)
		ids[i] = r->e[batch[i]].id;
	if (pipe2(p, O_CLOEXEC) == -1) {
		log_warn("queue: pipe");
		free(ids);
		return;
	}
	close_fds[0] = r->notify_fd;
	close_fds[1] = r->ctl_fd;
	close_fds[2] = p[0];
	if ((pid = helper_fork(close_fds, 3, &mask)) == -1) {
		log_warn("queue: fork");
		close(p[0]);
		close(p[1]);
		free(ids);
		return;
	}
	if (pid == 0) {
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		/* The runner holds them blocked (runner_main): a delivery process must die. */
		sigdelset(&mask, SIGTERM);
		sigdelset(&mask, SIGINT);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		log_set_session("deliver");
		queue_deliver(r->ctx, ids, nb, p[1]);
		free(ids);
		_exit(0);
	}
	close(p[1]);
	free(ids);
	w->pid = pid;
	w->fd = p[0];
	w->len = 0;
	r->nw++;
	for (i = 0; i < nb; i++)
		r->e[batch[i]].busy = pid;
}

/* Hand out due messages: oldest first, each batch one route. */
static void
runner_dispatch(struct runner *r)
{
	const struct settings *cfg = r->ctx->cfg;
	/* On the stack: a delivery process forked below never returns here to free it. */
	size_t batch[QUEUE_BATCH_MAX];
	size_t i, j, nb, due = 0, per;
	time_t now = time(NULL);

	for (i = 0; i < r->n; i++)
		due += r->e[i].busy == 0 && r->e[i].next <= now;
	/* Spread the due messages over the processes allowed, QUEUE_BATCH_MAX at most. */
	per = due / (cfg->queue_concurrency ? cfg->queue_concurrency : 1) + 1;
	if (per > QUEUE_BATCH_MAX)
		per = QUEUE_BATCH_MAX;
	for (i = 0; i < r->n && due > 0 && r->nw < cfg->queue_concurrency &&
	    r->nw < RUNNER_WORKERS_MAX; i++) {
		if (r->e[i].busy != 0 || r->e[i].next > now)
			continue;
		batch[0] = i;
		nb = 1;
		for (j = i + 1; j < r->n && nb < per; j++)
			if (r->e[j].busy == 0 && r->e[j].next <= now &&
			    strcasecmp(r->e[j].route, r->e[i].route) == 0)
				batch[nb++] = j;
		due -= nb;
		runner_spawn(r, batch, nb);
	}
}

/* "<id> <next>\n" lines from a delivery process. */
static void
runner_reports(struct runner *r, struct worker *w)
{
	char *nl, *sp, *line;
	struct entry *e;
	ssize_t n;
	long long next;

	n = read(w->fd, w->buf + w->len, sizeof(w->buf) - 1 - w->len);
	if (n <= 0)
		return;
	w->len += (size_t)n;
	w->buf[w->len] = '\0';
	line = w->buf;
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		if ((sp = strchr(line, ' ')) != NULL) {
			*sp = '\0';
			next = strtoll(sp + 1, NULL, 10);
			if ((e = runner_find(r, line)) != NULL) {
				e->busy = 0;
				if (next == 0)
					runner_drop(r, e);
				else
					e->next = (time_t)next;
			}
		}
		line = nl + 1;
	}
	w->len -= (size_t)(line - w->buf);
	memmove(w->buf, line, w->len);
}

/* Reap delivery processes; what one did not report is read again from its files. */
static void
runner_reap(struct runner *r)
{
	size_t i, k;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (i = 0; i < r->nw; i++)
			if (r->w[i].pid == pid)
				break;
		if (i == r->nw)
			continue;
		runner_reports(r, &r->w[i]);
		close(r->w[i].fd);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_warnx("queue: delivery process %ld died (status %d)", (long)pid,
			    status);
		r->w[i] = r->w[--r->nw];
		for (k = 0; k < r->n; k++)
			if (r->e[k].busy == pid) {
				r->e[k].busy = 0;
				runner_load(r, r->e[k].id);
			}
	}
}

/* A new message (an id), or a command from "letterbox queue" ("flush [ID]"). */
static void
runner_message(struct runner *r, int fd)
{
	char msg[QUEUE_ID_MAX + 16];
	ssize_t n;
	size_t i;

	while ((n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT)) > 0) {
		msg[n] = '\0';
		if (strcmp(msg, "flush") == 0 || strncmp(msg, "flush ", 6) == 0) {
			log_info("queue: flush%s%s", n > 5 ? " " : "", n > 5 ? msg + 6 : "");
			for (i = 0; i < r->n; i++)
				if (n == 5 || strcmp(r->e[i].id, msg + 6) == 0)
					r->e[i].next = 0;
		} else if (strcmp(msg, "rescan") == 0)
			runner_scan(r);
		else if (queue_id_valid(msg))
			runner_load(r, msg);
	}
}

/* The control socket in the queue directory, for the CLI (owner only: mode 0600). */
static int
runner_ctl_socket(const struct queue_ctx *ctx)
{
	struct sockaddr_un sun;
	int fd;

	if (fchdir(ctx->q->spool.dfd_root) == -1)
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", QUEUE_CTL_SOCKET);
	unlink(QUEUE_CTL_SOCKET);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    chmod(QUEUE_CTL_SOCKET, 0600) == -1) {
		close(fd);
		return -1;
	}
	if (chdir("/") == -1)
		log_warn("chdir /");
	return fd;
}

static int
runner_timeout_ms(const struct runner *r)
{
	time_t now = time(NULL), first = r->last_scan + RUNNER_RESCAN_S;
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->e[i].busy == 0 && r->e[i].next < first)
			first = r->e[i].next;
	if (first <= now)
		return r->nw < r->ctx->cfg->queue_concurrency ? 0 : 1000;
	return (int)((first - now) * 1000 > 60000 ? 60000 : (first - now) * 1000);
}

static void
runner_main(const struct queue_ctx *ctx, int notify_fd, const sigset_t *mask)
{
	struct pollfd pfd[2 + RUNNER_WORKERS_MAX];
	struct runner r;
	struct sigaction sa;
	struct timespec ts;
	sigset_t run, waitmask;
	size_t i;
	int ms;

	memset(&r, 0, sizeof(r));
	r.w = xcalloc(RUNNER_WORKERS_MAX, sizeof(*r.w));
	r.ctx = ctx;
	r.notify_fd = notify_fd;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = runner_on_term;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/*
	 * mask is the daemon's, which holds SIGTERM and SIGINT blocked: they stay blocked
	 * but inside ppoll(), so a stop request can neither be lost nor slip past the
	 * loop's check (a daemon killed with -9 kills the runner: helper_fork). A finished delivery
	 * process wakes ppoll() by closing its report pipe.
	 */
	run = *mask;
	sigaddset(&run, SIGTERM);
	sigaddset(&run, SIGINT);
	sigprocmask(SIG_SETMASK, &run, NULL);
	waitmask = *mask;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	if ((r.ctl_fd = runner_ctl_socket(ctx)) == -1)
		log_warn("queue: control socket %s: \"letterbox queue flush\" will not reach "
		    "the runner", QUEUE_CTL_SOCKET);
	log_info("queue runner: route=%s concurrency=%llu dkim=%s", ctx->cfg->smarthost ?
	    ctx->cfg->smarthost : "MX", ctx->cfg->queue_concurrency,
	    dkim_signer_active(ctx->dkim) ? "on" : "off");
	runner_scan(&r);
	while (!runner_stop) {
		runner_dispatch(&r);
		pfd[0].fd = notify_fd;
		pfd[0].events = POLLIN;
		pfd[1].fd = r.ctl_fd;
		pfd[1].events = POLLIN;
		for (i = 0; i < r.nw; i++) {
			pfd[2 + i].fd = r.w[i].fd;
			pfd[2 + i].events = POLLIN;
		}
		ms = runner_timeout_ms(&r);
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		if (ppoll(pfd, 2 + r.nw, &ts, &waitmask) == -1 && errno != EINTR)
			fatal("queue: poll");
		if (pfd[0].revents & POLLIN)
			runner_message(&r, notify_fd);
		if (r.ctl_fd != -1 && (pfd[1].revents & POLLIN))
			runner_message(&r, r.ctl_fd);
		for (i = 0; i < r.nw; i++)
			if (pfd[2 + i].revents & (POLLIN | POLLHUP))
				runner_reports(&r, &r.w[i]);
		runner_reap(&r);
		if (time(NULL) - r.last_scan >= RUNNER_RESCAN_S)
			runner_scan(&r);
	}
	/* Stopping: the delivery processes get SIGTERM and are waited for. */
	for (i = 0; i < r.nw; i++)
		kill(r.w[i].pid, SIGTERM);
	while (r.nw > 0 && wait(NULL) > 0)
		r.nw--;
	exit(0);
}

pid_t
queue_runner_start(const struct queue_ctx *ctx, int notify_fd, const int *close_fds,
    size_t nclose)
{
	sigset_t mask;
	pid_t pid;

	if ((pid = helper_fork(close_fds, nclose, &mask)) != 0)
		return pid;
	log_set_session("queue");
	runner_main(ctx, notify_fd, &mask);
	return 0;
}
