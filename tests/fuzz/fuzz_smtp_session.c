/*
 * fuzz_smtp_session: a whole SMTP session in process, bytes in -> replies out.
 *
 * smtp_session_serve() runs unchanged on one end of a socketpair, with settings from a
 * fixed configuration, a Maildir in a temp directory (on /dev/shm when there is one, so
 * the fsyncs cost nothing) and no TLS. The input is written into the other end before
 * the session starts and the write side is shut down, so the session reads the same
 * bytes in the same reads every run and ends at EOF (or QUIT, or the bad-command
 * limit). A thread drains the replies so the session never blocks on a full socket.
 * After each input the Maildir is emptied. Nothing forks, nothing exits; log lines are
 * formatted and discarded (log_discard).
 *
 * Inputs are capped at SESSION_INPUT_MAX so that the whole input fits the socket
 * buffer before the session starts; bigger inputs are ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_maildir.h"
#include "tests/fuzz/fuzz_smtp.h"
#include "lib/log.h"
#include "lib/settings.h"
#include "maildir/maildir.h"
#include "smtpd/session.h"

#define SESSION_INPUT_MAX	(64 * 1024)

static const char session_conf[] =
	"hostname mx.example.org\n"
	"domains example.org example.net\n"
	"local_parts alice bob\n"
	"subaddress_delimiters +-\n"
	"maildir /nonexistent/see-fuzz_smtp_session.c\n"
	"smtp_listen 127.0.0.1:2525\n"
	"max_message_size 8K\n"
	"max_recipients 3\n"
	"max_bad_commands 10\n"
	"max_hops 3\n"
	"idle_timeout 10s\n"
	"data_timeout 10s\n"
	"session_timeout 60s\n";

static struct settings cfg;
static struct maildir md;
static struct smtp_server srv;
static char mddir[64];
static int ready;

static void
cleanup(void)
{
	if (!ready)
		return;
	fuzz_maildir_remove(&md, mddir);
	settings_free(&cfg);
	ready = 0;
}

static void
setup(void)
{
	char err[256];
	struct stat st;

	if (ready)
		return;
	log_init("fuzz_smtp_session", 1, 1);
	log_discard(1);
	if (settings_parse(&cfg, session_conf, sizeof(session_conf) - 1, "fuzz", err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_smtp_session: %s\n", err);
		abort();
	}
	snprintf(mddir, sizeof(mddir), "%s/lb-fuzz-XXXXXX",
	    stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	if (mkdtemp(mddir) == NULL ||
	    maildir_open(&md, mddir, cfg.hostname, (uid_t)-1, (gid_t)-1) == -1) {
		perror("fuzz_smtp_session: maildir");
		abort();
	}
	srv.cfg = &cfg;
	srv.tls = NULL;
	srv.md = &md;
	srv.index_fd = -1;	/* no indexer: deliveries are not announced */
	ready = 1;
	atexit(cleanup);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

struct client {
	int				 fd;
	struct fuzz_smtp_replies	 replies;
};

/* The client's reading side: read and check replies until the session closes. */
static void *
drain(void *arg)
{
	struct client *c = arg;
	char b[4096];
	ssize_t r;

	for (;;) {
		r = read(c->fd, b, sizeof(b));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		fuzz_smtp_replies_feed(&c->replies, b, (size_t)r);
	}
	fuzz_smtp_replies_end(&c->replies);
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage peer;
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
	struct client client;
	pthread_t th;
	int sv[2], buflen = 4 * SESSION_INPUT_MAX;
	size_t off = 0;
	ssize_t w;

	if (size > SESSION_INPUT_MAX)
		return 0;
	setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buflen, sizeof(buflen));
	while (off < size) {
		w = write(sv[1], data + off, size - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			abort();	/* the socket buffer could not take the input */
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	memset(&client, 0, sizeof(client));
	client.fd = sv[1];
	if (pthread_create(&th, NULL, drain, &client) != 0)
		abort();

	memset(&peer, 0, sizeof(peer));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1, RFC 5737 */
	smtp_session_serve(&srv, sv[0], false, false, &peer);	/* closes sv[0] */

	pthread_join(th, NULL);
	close(sv[1]);
	/* Whatever the session did, it left nothing half-written in tmp/. */
	if (fuzz_smtp_drain_dir(md.dfd_tmp, NULL, NULL) != 0)
		abort();
	/*
	 * A 250 to end-of-data means the message is in new/ (design.md invariant); each
	 * file there is well-formed and named after its true size (maildir.h).
	 */
	if (fuzz_smtp_drain_dir(md.dfd_new, fuzz_smtp_check_delivery, NULL) <
	    client.replies.delivered)
		abort();
	return 0;
}
