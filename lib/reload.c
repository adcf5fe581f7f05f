/*
 * reload: SIGHUP and certificate renewal (see reload.h).
 *
 * The parent drops root right after start-up (privdrop), and a key is usually
 * readable by root alone (0600, or under /etc/letsencrypt/archive, 0700): after the
 * drop, the parent could neither reload its certificate nor, often, re-read its
 * configuration. Keeping the parent root for this is what we will not do. So
 * before the drop it forks the opener, a process that stays root and does one
 * thing: open the three files named at start (the configuration, tls_cert, tls_key)
 * read-only and hand the descriptor back (SCM_RIGHTS). It takes no path from its
 * peer and reads nothing itself, so its socket gives nothing the parent did not
 * have: the key is in the parent's memory anyway (its SSL_CTX). Only the parent
 * holds that socket; helpers and sessions close it, so the opener sees EOF and goes
 * when the parent does, however it ends (a SIGKILL, a crash). It is forked twice,
 * so that it is not the parent's child: the parent's children stay its sessions and
 * helpers. The rest of the parent stays unprivileged (nginx keeps its whole master
 * as root for this; Postfix and Dovecot read keys in processes that start as root).
 * A new path for tls_cert or tls_key, like everything else set up as root before
 * the drop, needs a restart.
 *
 * The files are read through descriptors, so what is loaded is exactly the file
 * whose identity (device, inode, size, mtime, ctime, by fstat) is remembered: a
 * renewal, whether it rewrites the file, renames a new one over it or moves a
 * symbolic link (certbot), changes that identity, and the next look notices it. (A
 * file renamed over between our open and fstat has been unlinked, which changed its
 * ctime though not its content: it is opened again, by path, to get the new one.) A
 * certificate that does not load (a half-written file, a key that does not match
 * yet) is logged once; its files' identity is remembered, and it is tried again
 * only when they change once more, or on SIGHUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "lib/fdpass.h"
#include "lib/listener.h"
#include "lib/log.h"
#include "lib/reload.h"
#include "lib/tls.h"

#define RELOAD_FILE_MAX	(1024 * 1024)	/* as the configuration parser's limit */
#define RELOAD_REOPEN_TRIES	3	/* a file renamed over while we open it */

enum { F_CONFIG, F_CERT, F_KEY, NFILES };

struct file_id {
	dev_t		dev;
	ino_t		ino;
	off_t		size;
	struct timespec	mtime, ctime;
};

static struct {
	char			*path[NFILES];
	int			 sock;		/* to the opener; -1: open them ourselves */
	bool			 opener_gone;
	struct file_id		 loaded[2];	/* cert, key of the running context */
	struct file_id		 failed[2];	/* of the last that did not load */
	bool			 have_failed;
	char			 watch_err[512];	/* last logged by the watch */
	struct reload_spec	 spec;
} rl = { .sock = -1 };

/* The opener: open what the parent asks for, by number, until it goes away. */
static void __attribute__((noreturn))
reload_opener(int sock)
{
	sigset_t none;
	unsigned char which;
	ssize_t r;
	int fd, e;

	if (sock != 3) {
		if (dup2(sock, 3) == -1)
			_exit(1);
		sock = 3;
	}
	closefrom(4);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (;;) {
		r = recv(sock, &which, 1, 0);
		if (r == -1 && errno == EINTR)
			continue;
		if (r != 1 || which >= NFILES)
			_exit(0);
		e = 0;
		fd = -1;
		/* O_NONBLOCK: a FIFO put there must not hang us (the parent refuses it). */
		if (rl.path[which] == NULL)
			e = ENOENT;
		else if ((fd = open(rl.path[which], O_RDONLY | O_CLOEXEC | O_NOCTTY |
		    O_NONBLOCK)) == -1)
			e = errno;
		if (fdpass_send(sock, &e, sizeof(e), fd, 0) == -1)
			_exit(0);
		if (fd != -1)
			close(fd);
	}
}

/* Open file which, through the opener if there is one. The fd, or -1 with err. */
static int
reload_open(int which, char *err, size_t errsz)
{
	unsigned char w = (unsigned char)which;
	int fd = -1, e = 0;

	if (rl.sock != -1 && !rl.opener_gone) {
		if (send(rl.sock, &w, 1, MSG_NOSIGNAL) == 1 &&
		    fdpass_recv(rl.sock, &e, sizeof(e), &fd, 0) == (ssize_t)sizeof(e)) {
			if (e == 0 && fd != -1)
				return fd;
			if (fd != -1)
				close(fd);
			errno = e ? e : EBADF;
			goto fail;
		}
		/*
		 * Killed: it cannot be started again without root. Its socket stays open
		 * (sessions are told to close that descriptor number).
		 */
		log_warnx("reload: the opener is gone (%s); files are read as the daemon's "
		    "user until a restart", strerror(errno));
		rl.opener_gone = true;
	}
	if ((fd = open(rl.path[which], O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) != -1)
		return fd;
fail:
	snprintf(err, errsz, "%s: %s", rl.path[which], strerror(errno));
	return -1;
}

/*
 * fd's identity into id: 0; 1 if the file was unlinked since it was opened (renamed
 * over: the path names a newer file, and the unlink changed this one's ctime, so it
 * would look changed though its content is the running one); -1 with err.
 */
static int
reload_identify(int fd, int which, struct file_id *id, char *err, size_t errsz)
{
	struct stat st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errsz, "%s: %s", rl.path[which], strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > RELOAD_FILE_MAX) {
		snprintf(err, errsz, "%s: not a regular file of at most %d bytes",
		    rl.path[which], RELOAD_FILE_MAX);
		return -1;
	}
	memset(id, 0, sizeof(*id));
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->size = st.st_size;
	id->mtime = st.st_mtim;
	id->ctime = st.st_ctim;
	return st.st_nlink == 0;
}

static bool
reload_same(const struct file_id *a, const struct file_id *b)
{
	return memcmp(a, b, 2 * sizeof(*a)) == 0;
}

/* All of fd (at most RELOAD_FILE_MAX), NUL-terminated, into *out. 0 or -1 with err. */
static int
reload_read(int fd, int which, char **out, size_t *len, char *err, size_t errsz)
{
	size_t cap = 8192, got = 0;
	char *p = malloc(cap), *q;
	ssize_t r;

	for (;;) {
		if (p == NULL) {
			snprintf(err, errsz, "%s: out of memory", rl.path[which]);
			return -1;
		}
		if (got + 1 == cap) {
			if (cap > RELOAD_FILE_MAX) {
				snprintf(err, errsz, "%s: larger than %d bytes", rl.path[which],
				    RELOAD_FILE_MAX);
				free(p);
				return -1;
			}
			if ((q = realloc(p, cap * 2)) == NULL) {
				free(p);
				p = NULL;
				continue;
			}
			p = q;
			cap *= 2;
		}
		r = read(fd, p + got, cap - 1 - got);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(err, errsz, "%s: %s", rl.path[which], strerror(errno));
			free(p);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	p[got] = '\0';
	*out = p;
	*len = got;
	return 0;
}

/* Open the certificate and the key; fds[] and ids[] of both. 0 or -1 with err. */
static int
reload_tls_open(int fds[2], struct file_id ids[2], char *err, size_t errsz)
{
	int i, r, tries;

	fds[0] = fds[1] = -1;
	for (i = 0; i < 2; i++) {
		/*
		 * Replaced while we opened it: the path names the new file; open that. The
		 * last try is taken as it is (a file system may show no links at all).
		 */
		for (tries = 1;; tries++) {
			if ((fds[i] = reload_open(F_CERT + i, err, errsz)) == -1 ||
			    (r = reload_identify(fds[i], F_CERT + i, &ids[i], err, errsz)) == -1)
				goto fail;
			if (r == 0 || tries == RELOAD_REOPEN_TRIES)
				break;
			close(fds[i]);
		}
	}
	return 0;
fail:
	for (i = 0; i < 2; i++)
		if (fds[i] != -1)
			close(fds[i]);
	return -1;
}

/* A server context from the open files (closed here). NULL with err. */
static SSL_CTX *
reload_tls_build(int fds[2], int session_tickets, char *err, size_t errsz)
{
	char *cert = NULL, *key = NULL;
	size_t certlen = 0, keylen = 0;
	SSL_CTX *ctx = NULL;

	if (reload_read(fds[0], F_CERT, &cert, &certlen, err, errsz) == 0 &&
	    reload_read(fds[1], F_KEY, &key, &keylen, err, errsz) == 0)
		ctx = tls_server_ctx_new_pem(rl.path[F_CERT], cert, certlen, rl.path[F_KEY],
		    key, keylen, session_tickets, err, errsz);
	if (key != NULL) {
		OPENSSL_cleanse(key, keylen);
		free(key);
	}
	free(cert);
	close(fds[0]);
	close(fds[1]);
	return ctx;
}

SSL_CTX *
reload_tls_first(const struct settings *cfg, char *err, size_t errsz)
{
	int fds[2];
	struct file_id ids[2];
	SSL_CTX *ctx;

	if ((rl.path[F_CERT] = strdup(cfg->tls_cert)) == NULL ||
	    (rl.path[F_KEY] = strdup(cfg->tls_key)) == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	if (reload_tls_open(fds, ids, err, errsz) == -1 ||
	    (ctx = reload_tls_build(fds, cfg->tls_session_tickets, err, errsz)) == NULL)
		return NULL;
	memcpy(rl.loaded, ids, sizeof(rl.loaded));
	return ctx;
}

void
reload_start(const char *config)
{
	int sv[2], status;
	pid_t pid;

	if ((rl.path[F_CONFIG] = strdup(config)) == NULL)
		fatal("strdup");
	/* Not root: there is nothing the opener could open that we cannot. */
	if (geteuid() != 0)
		return;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		fatal("socketpair");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid == 0) {
		close(sv[0]);
		if ((pid = fork()) != 0)
			_exit(pid == -1);
		reload_opener(sv[1]);
	}
	close(sv[1]);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fatalx("cannot start the opener");
	rl.sock = sv[0];
}

void
reload_setup(const struct reload_spec *spec)
{
	rl.spec = *spec;
}

int
reload_private_fd(void)
{
	return rl.sock;
}

void
reload_forget(void)
{
	if (rl.sock != -1)
		close(rl.sock);
	rl.sock = -1;
}

void
reload_stop(void)
{
	reload_forget();	/* the opener sees EOF and goes */
}

void
reload_restart_helper(struct helper *h, const struct settings *old,
    const char *const *keys)
{
	for (; *keys != NULL; keys++)
		if (!settings_key_same(old, rl.spec.cfg, *keys)) {
			log_info("reload: %s changed: restarting the %s", *keys, h->name);
			helper_stop(h);
			helper_spawn(h);
			return;
		}
}

/* The configuration file, parsed and checked into next. 0, or -1 with err. */
static int
reload_config(struct settings *next, char *err, size_t errsz)
{
	const char *why;
	char *text;
	size_t len;
	int fd, rc;

	memset(next, 0, sizeof(*next));
	if ((fd = reload_open(F_CONFIG, err, errsz)) == -1)
		return -1;
	rc = reload_read(fd, F_CONFIG, &text, &len, err, errsz);
	close(fd);
	if (rc == -1)
		return -1;
	rc = settings_parse(next, text, len, rl.path[F_CONFIG], err, errsz);
	free(text);
	if (rc == 0 && rl.spec.check != NULL && (why = rl.spec.check(next)) != NULL) {
		snprintf(err, errsz, "%s: %s", rl.path[F_CONFIG], why);
		rc = -1;
	}
	if (rc == -1)
		settings_free(next);
	return rc;
}

/* Put ctx in service; sessions started from now on use it. */
static void
reload_tls_use(SSL_CTX *ctx, const struct file_id ids[2])
{
	SSL_CTX_free(*rl.spec.tls);	/* busy sessions have their own copy */
	*rl.spec.tls = ctx;
	memcpy(rl.loaded, ids, sizeof(rl.loaded));
	rl.have_failed = false;
}

void
reload_sighup(void *arg)
{
	struct settings next, old;
	struct file_id ids[2];
	const char *const *k;
	SSL_CTX *ctx = NULL;
	char err[512];
	unsigned kept = 0;
	int fds[2];

	(void)arg;
	if (reload_config(&next, err, sizeof(err)) == -1) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return;
	}
	old = *rl.spec.cfg;
	for (k = rl.spec.restart_keys; k != NULL && *k != NULL; k++)
		if (!settings_key_same(&old, &next, *k)) {
			log_warnx("reload: %s changed; restart to apply", *k);
			settings_key_swap(&old, &next, *k);
			kept++;
		}
	if (*rl.spec.tls != NULL) {
		if (reload_tls_open(fds, ids, err, sizeof(err)) == -1)
			log_warnx("reload: %s; keeping the running certificate", err);
		else if ((ctx = reload_tls_build(fds, next.tls_session_tickets, err,
		    sizeof(err))) == NULL) {
			log_warnx("reload: %s; keeping the running certificate", err);
			memcpy(rl.failed, ids, sizeof(rl.failed));
			rl.have_failed = true;
		} else
			reload_tls_use(ctx, ids);
	}
	*rl.spec.cfg = next;
	if (rl.spec.applied != NULL)
		rl.spec.applied(&old, rl.spec.arg);
	settings_free(&old);
	rl.watch_err[0] = '\0';
	listener_renew();
	log_info("reload: %s: configuration%s reloaded%s", rl.path[F_CONFIG],
	    ctx != NULL ? " and certificate" : "", kept ? " (some changes need a restart)" : "");
}

int64_t
reload_watch(void *arg)
{
	struct file_id ids[2];
	SSL_CTX *ctx;
	char err[512];
	int fds[2];

	(void)arg;
	if (rl.spec.tls == NULL || *rl.spec.tls == NULL ||
	    rl.spec.cfg->tls_check_interval == 0)
		return -1;
	if (reload_tls_open(fds, ids, err, sizeof(err)) == -1) {
		/* Gone for a moment while being replaced, say: once per reason. */
		if (strcmp(err, rl.watch_err) != 0) {
			log_warnx("reload: %s; keeping the running certificate", err);
			snprintf(rl.watch_err, sizeof(rl.watch_err), "%s", err);
		}
		goto out;
	}
	rl.watch_err[0] = '\0';
	if (reload_same(ids, rl.loaded) || (rl.have_failed && reload_same(ids, rl.failed))) {
		close(fds[0]);
		close(fds[1]);
		goto out;
	}
	if ((ctx = reload_tls_build(fds, rl.spec.cfg->tls_session_tickets, err,
	    sizeof(err))) == NULL) {
		log_warnx("reload: %s; keeping the running certificate", err);
		memcpy(rl.failed, ids, sizeof(rl.failed));
		rl.have_failed = true;
		goto out;
	}
	reload_tls_use(ctx, ids);
	listener_renew();
	log_info("reload: %s or %s changed: certificate reloaded", rl.path[F_CERT],
	    rl.path[F_KEY]);
out:
	return (int64_t)rl.spec.cfg->tls_check_interval * 1000;
}
