/*
 * outbound: submission's processes and secrets (see outbound.h).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "smtpd/outbound.h"
#include "smtpd/session.h"

/* The smarthost password: the file's first line. */
static char *
outbound_read_password(const char *path)
{
	char *p;
	size_t len;

	if (util_read_file(path, 4096, &p, &len) == -1)
		fatal("smarthost_password_file %s", path);
	p[strcspn(p, "\r\n")] = '\0';
	if (p[0] == '\0')
		fatalx("smarthost_password_file %s: empty", path);
	return p;
}

void
outbound_prepare(struct outbound *o, const struct settings *cfg, struct maildir *md,
    uid_t uid, gid_t gid)
{
	char err[512];

	memset(o, 0, sizeof(o[0]));
	o->state_fd = -1;
	o->runner_socks[0] = o->runner_socks[1] = -1;
	o->on = cfg->submission_listen.n + cfg->submissions_listen.n > 0;
	if (!o->on)
		return;
	if ((o->state_fd = util_mkdirat_open(AT_FDCWD, cfg->state_dir, uid, gid)) == -1)
		fatal("state_dir %s", cfg->state_dir);
	if (queue_open(&o->queue, o->state_fd, cfg->hostname, uid, gid) == -1)
		fatal("queue %s/queue", cfg->state_dir);
	if (!maildir_use_unnamed_tmp(&o->queue.spool))
		log_info("queue: O_TMPFILE not available here; using named tmp/ files");
	if (dkim_signer_load(&o->dkim, cfg->dkim_domain, cfg->dkim_selector,
	    cfg->dkim_ed25519_key, cfg->dkim_rsa_key, err, sizeof(err)) == -1)
		fatalx("dkim: %s", err);
	if (!dkim_signer_active(&o->dkim))
		log_warnx("dkim: no keys (%s, %s): outbound mail goes unsigned; make them with "
		    "\"letterbox dkim keygen\"", cfg->dkim_ed25519_key, cfg->dkim_rsa_key);
	if (cfg->smarthost_password_file != NULL)
		o->smarthost_pass = outbound_read_password(cfg->smarthost_password_file);
	o->ctx.cfg = cfg;
	o->ctx.q = &o->queue;
	o->ctx.md = md;
	o->ctx.dkim = &o->dkim;
	o->ctx.smarthost_pass = o->smarthost_pass;
	if ((o->ctx.tls = tls_client_ctx_new(cfg->tls_ca_file, err, sizeof(err))) == NULL)
		fatalx("tls: %s", err);
}

static pid_t
outbound_runner_spawn(void *arg)
{
	struct outbound *o = arg;
	int close_fds[66];
	size_t i, n = 0;

	for (i = 0; i < o->nls && n < 62; i++)
		close_fds[n++] = o->ls[i].fd;
	close_fds[n++] = o->runner_socks[1];
	close_fds[n++] = auth_service_fd(&o->auth);
	close_fds[n++] = auth_service_private_fd(&o->auth);
	close_fds[n++] = o->state_fd;
	return queue_runner_start(&o->ctx, o->runner_socks[0], close_fds, n);
}

void
outbound_start(struct outbound *o, struct smtp_server *srv, const struct listener *ls,
    size_t nls)
{
	struct timeval tv = { 1, 0 };

	srv->auth_fd = -1;
	srv->queue = NULL;
	srv->queue_fd = -1;
	if (!o->on)
		return;
	o->ls = ls;
	o->nls = nls;
	o->ctx.index_fd = srv->index_fd;
	auth_service_start(&o->auth, srv->cfg, o->state_fd, ls, nls);
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, o->runner_socks) == -1)
		fatal("socketpair");
	/*
	 * A session waits at most this long to tell the runner of a new message (a runner
	 * busy with a long scan lets its socket fill up); past that the message waits for
	 * the runner's next scan of the queue directory.
	 */
	setsockopt(o->runner_socks[1], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	helper_init(&o->runner, "queue runner", outbound_runner_spawn, o);
	helper_spawn(&o->runner);
	srv->auth_fd = auth_service_fd(&o->auth);
	srv->queue = &o->queue;
	srv->queue_fd = o->runner_socks[1];
}

size_t
outbound_private_fds(const struct outbound *o, int *fds)
{
	if (!o->on)
		return 0;
	fds[0] = auth_service_private_fd(&o->auth);
	fds[1] = o->runner_socks[0];
	return 2;
}

void
outbound_reaped(struct outbound *o, pid_t pid, int status)
{
	if (o->on && !helper_reaped(&o->auth.helper, pid, status))
		helper_reaped(&o->runner, pid, status);
}

void
outbound_tick(struct outbound *o)
{
	if (!o->on)
		return;
	helper_tick(&o->auth.helper);
	helper_tick(&o->runner);
}

void
outbound_stop(struct outbound *o)
{
	if (!o->on)
		return;
	helper_stop(&o->runner);
	helper_stop(&o->auth.helper);
}
