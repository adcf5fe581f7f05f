/*
 * conn: buffered, deadline-bounded I/O over a plain or TLS socket (see conn.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "lib/conn.h"
#include "lib/util.h"

#define CONN_READ_CHUNK	16384

void
conn_init(struct conn *c, int fd, size_t in_max, size_t out_max)
{
	int fl;

	memset(c, 0, sizeof(*c));
	c->fd = fd;
	buf_init(&c->in, in_max);
	buf_init(&c->out, out_max);
	if ((fl = fcntl(fd, F_GETFL)) != -1)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Wait for events on c->fd for at most timeout_ms, capped by the session deadline. */
static int
conn_wait(struct conn *c, short events, int timeout_ms)
{
	struct pollfd pfd;
	int64_t now, left;
	int r;

	pfd.fd = c->fd;
	pfd.events = events;
	for (;;) {
		if (c->deadline_ms != 0) {
			now = util_now_ms();
			left = c->deadline_ms - now;
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (left < timeout_ms)
				timeout_ms = (int)left;
		}
		r = poll(&pfd, 1, timeout_ms);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		return 0;
	}
}

int
conn_fill(struct conn *c, int timeout_ms)
{
	size_t want;
	ssize_t r;
	int n, e;

	/* A peer that never stops sending never waits in poll(): check here too. */
	if (c->deadline_ms != 0 && util_now_ms() >= c->deadline_ms) {
		errno = ETIMEDOUT;
		return -1;
	}
	if (buf_room(&c->in) < 512 || buf_unread(&c->in) == 0) {
		buf_compact(&c->in);
		want = c->in.max - c->in.len < CONN_READ_CHUNK ?
		    c->in.max - c->in.len : CONN_READ_CHUNK;
		/*
		 * want is 0 when c->in is full of unread bytes; cppcheck 2.10 wrongly
		 * concludes it is always 0.
		 */
		/* cppcheck-suppress knownConditionTrueFalse */
		if (want == 0 || buf_reserve(&c->in, want) == -1) {
			errno = ENOBUFS;
			return -1;
		}
	}
	for (;;) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			n = SSL_read(c->ssl, c->in.data + c->in.len, (int)buf_room(&c->in));
			if (n > 0) {
				c->in.len += (size_t)n;
				c->bytes_in += (uint64_t)n;
				return 1;
			}
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_ZERO_RETURN) {
				c->peer_closed = true;	/* close_notify */
				return 0;
			}
			if (e == SSL_ERROR_WANT_READ) {
				if (conn_wait(c, POLLIN, timeout_ms) == -1)
					return -1;
				continue;
			}
			if (e == SSL_ERROR_WANT_WRITE) {
				if (conn_wait(c, POLLOUT, timeout_ms) == -1)
					return -1;
				continue;
			}
			if (e == SSL_ERROR_SYSCALL && n == 0) {
				c->peer_closed = true;	/* EOF without close_notify */
				return 0;
			}
			errno = EPROTO;
			return -1;
		}
		r = read(c->fd, c->in.data + c->in.len, buf_room(&c->in));
		if (r > 0) {
			c->in.len += (size_t)r;
			c->bytes_in += (uint64_t)r;
			return 1;
		}
		if (r == 0) {
			c->peer_closed = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (conn_wait(c, POLLIN, timeout_ms) == -1)
			return -1;
	}
}

int
conn_flush(struct conn *c, int timeout_ms)
{
	ssize_t r;
	int n, e;

	while (buf_unread(&c->out) > 0) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			n = SSL_write(c->ssl, buf_head(&c->out), (int)buf_unread(&c->out));
			if (n > 0) {
				buf_consume(&c->out, (size_t)n);
				continue;
			}
			e = SSL_get_error(c->ssl, n);
			if (e == SSL_ERROR_WANT_WRITE) {
				if (conn_wait(c, POLLOUT, timeout_ms) == -1)
					return -1;
				continue;
			}
			if (e == SSL_ERROR_WANT_READ) {
				if (conn_wait(c, POLLIN, timeout_ms) == -1)
					return -1;
				continue;
			}
			errno = EPIPE;
			return -1;
		}
		r = send(c->fd, buf_head(&c->out), buf_unread(&c->out), MSG_NOSIGNAL);
		if (r > 0) {
			buf_consume(&c->out, (size_t)r);
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (conn_wait(c, POLLOUT, timeout_ms) == -1)
			return -1;
	}
	buf_reset(&c->out);
	return 0;
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	return buf_append(&c->out, p, n);
}

int
conn_tls_accept(struct conn *c, SSL_CTX *ctx, int timeout_ms)
{
	int r, e;

	if ((c->ssl = SSL_new(ctx)) == NULL)
		return -1;
	if (SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	for (;;) {
		ERR_clear_error();
		r = SSL_accept(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ) {
			if (conn_wait(c, POLLIN, timeout_ms) == -1)
				return -1;
		} else if (e == SSL_ERROR_WANT_WRITE) {
			if (conn_wait(c, POLLOUT, timeout_ms) == -1)
				return -1;
		} else {
			errno = EPROTO;
			return -1;
		}
	}
}

static bool
conn_is_ip_literal(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

/* Why the handshake failed, into c->tls_error; c->ssl is freed. Always -1. */
static int
conn_tls_connect_fail(struct conn *c, int e, int err_no)
{
	char ebuf[128];
	unsigned long oe = ERR_peek_error();
	long vr = c->ssl != NULL ? SSL_get_verify_result(c->ssl) : X509_V_OK;

	if (vr != X509_V_OK)
		snprintf(c->tls_error, sizeof(c->tls_error), "certificate verify failed: %s",
		    X509_verify_cert_error_string(vr));
	else if (err_no == ETIMEDOUT)
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS handshake timed out");
	else if (oe != 0) {
		ERR_error_string_n(oe, ebuf, sizeof(ebuf));
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS handshake failed: %s", ebuf);
	} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN)
		snprintf(c->tls_error, sizeof(c->tls_error),
		    "TLS handshake failed: connection closed by peer%s%s",
		    err_no != 0 ? ": " : "", err_no != 0 ? strerror(err_no) : "");
	else
		snprintf(c->tls_error, sizeof(c->tls_error), "TLS handshake failed: %s",
		    err_no != 0 ? strerror(err_no) : "unknown error");
	ERR_clear_error();
	if (c->ssl != NULL) {
		/* No close_notify after a failed handshake: just drop the state. */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	errno = err_no == ETIMEDOUT ? ETIMEDOUT : EPROTO;
	return -1;
}

int
conn_tls_connect(struct conn *c, SSL_CTX *ctx, const char *sni, bool verify,
    const char *verify_name, int timeout_ms)
{
	X509_VERIFY_PARAM *vp;
	int r, e;

	c->tls_error[0] = '\0';
	ERR_clear_error();
	if ((c->ssl = SSL_new(ctx)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		return conn_tls_connect_fail(c, SSL_ERROR_SSL, 0);
	if (sni != NULL && sni[0] != '\0' && !conn_is_ip_literal(sni) &&
	    SSL_set_tlsext_host_name(c->ssl, sni) != 1)
		return conn_tls_connect_fail(c, SSL_ERROR_SSL, 0);
	if (verify) {
		if (verify_name == NULL || verify_name[0] == '\0') {
			SSL_free(c->ssl);
			c->ssl = NULL;
			snprintf(c->tls_error, sizeof(c->tls_error),
			    "no name to verify the certificate against");
			errno = EINVAL;
			return -1;
		}
		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
		vp = SSL_get0_param(c->ssl);
		X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (conn_is_ip_literal(verify_name)) {
			if (X509_VERIFY_PARAM_set1_ip_asc(vp, verify_name) != 1)
				return conn_tls_connect_fail(c, SSL_ERROR_SSL, 0);
		} else if (SSL_set1_host(c->ssl, verify_name) != 1)
			return conn_tls_connect_fail(c, SSL_ERROR_SSL, 0);
	} else
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	for (;;) {
		ERR_clear_error();
		errno = 0;
		r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ) {
			if (conn_wait(c, POLLIN, timeout_ms) == -1)
				return conn_tls_connect_fail(c, e, errno);
		} else if (e == SSL_ERROR_WANT_WRITE) {
			if (conn_wait(c, POLLOUT, timeout_ms) == -1)
				return conn_tls_connect_fail(c, e, errno);
		} else
			return conn_tls_connect_fail(c, e, e == SSL_ERROR_SYSCALL ? errno : 0);
	}
}

bool
conn_has_input(const struct conn *c)
{
	return buf_unread(&c->in) > 0 || (c->ssl != NULL && SSL_pending(c->ssl) > 0);
}

#define CONN_LINGER_MAX	(1024 * 1024)

void
conn_close_linger(struct conn *c, int linger_ms)
{
	char scratch[4096], peek;
	int64_t deadline = util_now_ms() + linger_ms, left;
	size_t drained = 0;
	struct pollfd pfd;
	ssize_t r;

	/*
	 * Gone already, or done sending (its FIN or close_notify was read, or an error):
	 * nothing to wait for. Otherwise linger even with nothing waiting yet: input still
	 * on its way would meet a closed socket.
	 */
	if (c->fd == -1 || c->peer_closed || (!conn_has_input(c) &&
	    (r = recv(c->fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT)) != 1 &&
	    !(r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)))) {
		conn_close(c);
		return;
	}
	if (c->ssl != NULL) {
		SSL_shutdown(c->ssl);	/* close_notify; what follows is not read as TLS */
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	shutdown(c->fd, SHUT_WR);
	pfd.fd = c->fd;
	pfd.events = POLLIN;
	while (drained < CONN_LINGER_MAX && (left = deadline - util_now_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) <= 0)
			break;
		if ((r = recv(c->fd, scratch, sizeof(scratch), MSG_DONTWAIT)) <= 0) {
			if (r == -1 && (errno == EINTR || errno == EAGAIN))
				continue;
			break;	/* the client's end, or its reset */
		}
		drained += (size_t)r;
	}
	conn_close(c);
}

void
conn_close(struct conn *c)
{
	if (c->ssl != NULL) {
		/* Best effort close_notify; the peer may be gone. */
		SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	buf_clear(&c->in);
	buf_clear(&c->out);
}
