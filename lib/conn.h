/*
 * conn: one client connection: fd, optional TLS, input and output buffers, and read
 * and write deadlines enforced with poll(2). Plain and TLS connections look the same
 * to the protocol code. The fd is non-blocking; nothing here ever waits unbounded.
 */
#ifndef LB_CONN_H
#define LB_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <openssl/ssl.h>

#include "lib/buf.h"

struct conn {
	int	 fd;
	SSL	*ssl;
	struct buf in;
	struct buf out;
	int64_t	 deadline_ms;	/* whole-session limit (util_now_ms clock); 0 = none */
	uint64_t bytes_in;
	bool	 peer_closed;	/* conn_fill() saw the client's end (FIN, close_notify) */
	char	 tls_error[160];	/* why conn_tls_connect() failed; "" otherwise */
};

void	conn_init(struct conn *c, int fd, size_t in_max, size_t out_max);

/*
 * Read what is available (at least one byte) into c->in, waiting at most timeout_ms
 * and never past c->deadline_ms. 1 = read, 0 = peer closed, -1 = error with errno
 * (ETIMEDOUT for a timeout, ENOBUFS when c->in is full).
 */
int	conn_fill(struct conn *c, int timeout_ms);
/* Write all of c->out. 0, or -1 with errno (ETIMEDOUT too). */
int	conn_flush(struct conn *c, int timeout_ms);
/* Append a reply to c->out; the caller flushes. -1 only if c->out is full. */
int	conn_write(struct conn *c, const void *p, size_t n);
/* Server side of a TLS handshake on c (STARTTLS or implicit). 0 or -1. */
int	conn_tls_accept(struct conn *c, SSL_CTX *ctx, int timeout_ms);
/*
 * Client side of a TLS handshake on c (STARTTLS or implicit TLS), each wait bounded
 * by timeout_ms. sni (may be NULL; an IP literal is not sent, RFC 6066 §3) goes in
 * the ClientHello. With verify, the chain must lead to the context's trust anchors
 * and the certificate must match verify_name (a DNS name, or an IP address).
 * 0, or -1 with errno and the reason in c->tls_error (c->ssl is then freed).
 */
int	conn_tls_connect(struct conn *c, SSL_CTX *ctx, const char *sni, bool verify,
	    const char *verify_name, int timeout_ms);
/* Whether bytes already received are waiting: buffered or inside TLS. */
bool	conn_has_input(const struct conn *c);
void	conn_close(struct conn *c);
/*
 * The server's close after its last reply. Input from the client that is waiting,
 * or still on its way, would meet a plain close(2) with a reset, which can make the
 * client's kernel drop the replies not yet read: the 421 that says why, say. So,
 * unless the client has gone or ended its side already (peer_closed: it sends
 * nothing more), send the end (close_notify, FIN), read and discard what comes for
 * at most linger_ms (and CONN_LINGER_MAX bytes) until the client closes too, and
 * only then close (Apache's lingering close).
 */
void	conn_close_linger(struct conn *c, int linger_ms);

#endif
