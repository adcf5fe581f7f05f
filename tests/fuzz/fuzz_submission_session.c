/*
 * fuzz_submission_session: a whole submission session in process (RFC 6409, AUTH
 * inside TLS, RFC 8314 implicit TLS), bytes in -> replies out.
 *
 * smtp_session_serve() runs unchanged, as for a submissions_listen port, on one end of
 * a socketpair: a real TLS handshake (OpenSSL, a P-256 key and certificate made at
 * start-up and loaded through tls_server_ctx_new), then the input, written by a
 * client thread in 16 KiB TLS records (so the session's reads are cut the same way on
 * every run) and ended with close_notify. The client thread reads and checks the
 * replies at the same time (non-blocking, one poll loop: an SSL object is not shared
 * between threads). The auth process is fuzz_auth.h's stand-in (password "right"
 * logs in any user). The owner's Maildir and the outbound queue are real, in temp
 * directories (on /dev/shm when there is one); no indexer, no queue runner. Nothing
 * forks or exits; log lines are formatted and discarded.
 *
 * After each input (fuzz_smtp.h's reply checks included):
 *   - tmp/ of the Maildir and of the queue are empty (committed or unlinked);
 *   - new/ holds at least as many files as "Ok: delivered" replies and msg/ at least
 *     as many as "Ok: queued" replies (2xx means durable), each well-formed;
 *   - every queued message loads (queue_msg_load) with 1..max_recipients recipients,
 *     each one foreign (a local one goes to the Maildir, never the queue), a sender
 *     that is one of the owner's addresses, a login name and the client's address,
 *     and its message part is CRLF-only without NUL;
 *   - nothing was stored, and no 235 came, unless the auth stand-in said AUTH_OK
 *     during this input: no mail without a login.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_auth.h"
#include "tests/fuzz/fuzz_maildir.h"
#include "tests/fuzz/fuzz_smtp.h"
#include "lib/log.h"
#include "lib/settings.h"
#include "lib/tls.h"
#include "maildir/maildir.h"
#include "queue/queue.h"
#include "smtpd/address.h"
#include "smtpd/policy.h"
#include "smtpd/session.h"

#define SESSION_INPUT_MAX	(64 * 1024)
#define TLS_RECORD		16384

static const char session_conf[] =
	"hostname mx.example.org\n"
	"domains example.org example.net\n"
	"local_parts alice bob\n"
	"subaddress_delimiters +-\n"
	"maildir /nonexistent/see-fuzz_submission_session.c\n"
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
static struct queue queue;
static struct smtp_server srv;
static SSL_CTX *client_ctx;
static char topdir[64];
static char mddir[80], statedir[80], certfile[80], keyfile[80];
static int state_fd = -1;
static int ready;

/* A fresh P-256 key and a self-signed certificate for it, as PEM files. */
static void
make_cert(void)
{
	EVP_PKEY *key;
	X509 *x;
	FILE *f;

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		abort();
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"mx.example.org", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	if (X509_sign(x, key, EVP_sha256()) == 0)
		abort();
	if ((f = fopen(certfile, "w")) == NULL || PEM_write_X509(f, x) != 1 || fclose(f) != 0)
		abort();
	if ((f = fopen(keyfile, "w")) == NULL ||
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0)
		abort();
	X509_free(x);
	EVP_PKEY_free(key);
}

static void
cleanup(void)
{
	static const char *const sub[] = { "queue/tmp", "queue/msg", "queue/state", "queue" };
	char p[128];
	size_t i;

	if (!ready)
		return;
	fuzz_smtp_drain_dir(queue.spool.dfd_tmp, NULL, NULL);
	fuzz_smtp_drain_dir(queue.spool.dfd_new, NULL, NULL);
	fuzz_smtp_drain_dir(queue.dfd_state, NULL, NULL);
	queue_close(&queue);
	close(state_fd);
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", statedir, sub[i]);
		rmdir(p);
	}
	rmdir(statedir);
	fuzz_maildir_remove(&md, mddir);
	unlink(certfile);
	unlink(keyfile);
	rmdir(topdir);
	SSL_CTX_free(srv.tls);
	SSL_CTX_free(client_ctx);
	settings_free(&cfg);
	ready = 0;
}

static void
setup(void)
{
	char err[512];
	struct stat st;

	if (ready)
		return;
	/* The client thread writes to a session that may have closed: EPIPE, not death. */
	signal(SIGPIPE, SIG_IGN);
	log_init("fuzz_submission_session", 1, 1);
	log_discard(1);
	if (sodium_init() == -1 || settings_parse(&cfg, session_conf,
	    sizeof(session_conf) - 1, "fuzz", err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_submission_session: %s\n", err);
		abort();
	}
	snprintf(topdir, sizeof(topdir), "%s/lb-fuzz-sub-XXXXXX",
	    stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	if (mkdtemp(topdir) == NULL)
		abort();
	snprintf(mddir, sizeof(mddir), "%s/Maildir", topdir);
	snprintf(statedir, sizeof(statedir), "%s/state", topdir);
	snprintf(certfile, sizeof(certfile), "%s/cert.pem", topdir);
	snprintf(keyfile, sizeof(keyfile), "%s/key.pem", topdir);
	if (mkdir(mddir, 0700) == -1 || mkdir(statedir, 0700) == -1 ||
	    maildir_open(&md, mddir, cfg.hostname, (uid_t)-1, (gid_t)-1) == -1 ||
	    (state_fd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    queue_open(&queue, state_fd, cfg.hostname, (uid_t)-1, (gid_t)-1) == -1) {
		perror("fuzz_submission_session: directories");
		abort();
	}
	make_cert();
	if ((srv.tls = tls_server_ctx_new(certfile, keyfile, 1, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "fuzz_submission_session: %s\n", err);
		abort();
	}
	if ((client_ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		abort();
	SSL_CTX_set_verify(client_ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_mode(client_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	srv.cfg = &cfg;
	srv.md = &md;
	srv.index_fd = -1;	/* no indexer */
	srv.queue = &queue;
	srv.queue_fd = -1;	/* no runner: the queue is only checked */
	srv.auth_fd = fuzz_auth_start("smtp", "127.0.0.1");
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
	const uint8_t			*data;
	size_t				 size;
	struct fuzz_smtp_replies	 replies;
};

/*
 * The client: handshake, send the input in TLS_RECORD pieces, close_notify, and read
 * the replies throughout, until the session closes. A failed handshake is a bug: the
 * client is an ordinary TLS 1.3 client.
 */
static void *
client_run(void *arg)
{
	struct client *c = arg;
	struct pollfd pfd;
	char b[4096];
	size_t off = 0;
	bool closed = false, want_write;
	SSL *ssl;
	int r, e;

	if ((ssl = SSL_new(client_ctx)) == NULL || SSL_set_fd(ssl, c->fd) != 1)
		abort();
	SSL_set_connect_state(ssl);
	for (;;) {
		want_write = false;
		if (!SSL_is_init_finished(ssl)) {
			if ((r = SSL_do_handshake(ssl)) == 1)
				continue;
			e = SSL_get_error(ssl, r);
			if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
				abort();	/* an ordinary client must get in */
			pfd.fd = c->fd;
			pfd.events = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
			if (poll(&pfd, 1, 30000) <= 0)
				abort();
			continue;
		}
		if (off < c->size) {
			r = SSL_write(ssl, c->data + off,
			    (int)(c->size - off < TLS_RECORD ? c->size - off : TLS_RECORD));
			if (r > 0)
				off += (size_t)r;
			else if ((e = SSL_get_error(ssl, r)) == SSL_ERROR_WANT_WRITE)
				want_write = true;
			else if (e != SSL_ERROR_WANT_READ)
				break;	/* the session closed early (QUIT, 421) */
		} else if (!closed) {
			/* End of input: close_notify, the session sees EOF. */
			if ((r = SSL_shutdown(ssl)) >= 0)
				closed = true;
			else if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_WRITE)
				want_write = true;
			else
				break;
		}
		r = SSL_read(ssl, b, sizeof(b));
		if (r > 0) {
			fuzz_smtp_replies_feed(&c->replies, b, (size_t)r);
			continue;
		}
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
			break;	/* the session's end */
		if (off < c->size && !want_write && SSL_is_init_finished(ssl))
			continue;	/* more to write and room for it */
		pfd.fd = c->fd;
		pfd.events = POLLIN | (want_write || e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0);
		if (poll(&pfd, 1, 30000) <= 0)
			abort();	/* the session hangs */
	}
	/* Whatever is still buffered: the last replies before the close. */
	while ((r = SSL_read(ssl, b, sizeof(b))) > 0)
		fuzz_smtp_replies_feed(&c->replies, b, (size_t)r);
	fuzz_smtp_replies_end(&c->replies);
	SSL_free(ssl);
	/* As a client's close: a session that ended first lingers until it sees this. */
	shutdown(c->fd, SHUT_RDWR);
	return NULL;
}

/* "<text>" parsed again as the session parsed it (SMTPUTF8 allowed). */
static void
reparse(const char *text, struct smtp_path *p)
{
	char in[SMTP_PATH_MAX + 3];
	const char *rest;

	if (snprintf(in, sizeof(in), "<%s>", text) >= (int)sizeof(in) ||
	    smtp_parse_path(in, false, false, true, p, &rest) != ADDR_OK || *rest != '\0')
		abort();
}

/* A committed queue message: its envelope as the session must have written it. */
static void
check_queued(int dfd, const char *id, void *arg)
{
	struct queue_msg m;
	struct smtp_path p;
	size_t i;

	(void)dfd;
	(void)arg;
	if (queue_msg_load(&queue, id, &m) == -1)
		abort();
	if (m.nrcpt == 0 || m.nrcpt > cfg.max_recipients || m.user[0] == '\0' ||
	    strcmp(m.client, "127.0.0.1") != 0 || m.attempts != 0)
		abort();
	reparse(m.from, &p);
	if (!policy_owner_sender(&cfg, &p))
		abort();	/* only the owner's addresses may send (RFC 6409 §6.1) */
	for (i = 0; i < m.nrcpt; i++) {
		reparse(m.rcpt[i].addr, &p);
		if (policy_rcpt(&cfg, &p) != RCPT_RELAY_DENIED ||
		    m.rcpt[i].status != QR_PENDING)
			abort();
	}
	fuzz_smtp_check_message(queue.spool.dfd_new, id, m.body_off, (size_t)m.size);
	queue_msg_free(&m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage peer;
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
	struct client client;
	unsigned logins;
	pthread_t th;
	int sv[2], stored;

	if (size > SESSION_INPUT_MAX)
		return 0;
	setup();
	logins = atomic_load(&fuzz_auth_ok_given);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1 ||
	    fcntl(sv[1], F_SETFL, O_NONBLOCK) == -1)
		abort();
	memset(&client, 0, sizeof(client));
	client.fd = sv[1];
	client.data = data;
	client.size = size;
	if (pthread_create(&th, NULL, client_run, &client) != 0)
		abort();

	memset(&peer, 0, sizeof(peer));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	smtp_session_serve(&srv, sv[0], true, true, &peer);	/* closes sv[0] */

	pthread_join(th, NULL);
	close(sv[1]);
	/* Nothing half-written left behind, in either place. */
	if (fuzz_smtp_drain_dir(md.dfd_tmp, NULL, NULL) != 0 ||
	    fuzz_smtp_drain_dir(queue.spool.dfd_tmp, NULL, NULL) != 0)
		abort();
	/* 250 means durable: in new/ or msg/ (design.md invariant), and well-formed. */
	stored = fuzz_smtp_drain_dir(md.dfd_new, fuzz_smtp_check_delivery, NULL);
	if (stored < client.replies.delivered)
		abort();
	if (fuzz_smtp_drain_dir(queue.spool.dfd_new, check_queued, NULL) <
	    client.replies.queued)
		abort();
	stored += client.replies.queued;
	/* No login, no 235 and no mail. */
	if (atomic_load(&fuzz_auth_ok_given) == logins &&
	    (client.replies.authenticated != 0 || stored != 0))
		abort();
	/* A state file would mean a delivery attempt: there is no runner here. */
	if (fuzz_smtp_drain_dir(queue.dfd_state, NULL, NULL) != 0)
		abort();
	return 0;
}
