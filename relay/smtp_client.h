/*
 * smtp_client: the outbound SMTP client the queue's delivery processes speak to an MX
 * or a smarthost with (RFC 5321), with PIPELINING (RFC 2920), SIZE (RFC 1870),
 * 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC 3207), implicit TLS
 * (RFC 8314) and AUTH PLAIN / LOGIN (RFC 4954) towards a smarthost.
 *
 * Blocking calls on a non-blocking socket: every wait is bounded (poll through
 * lib/conn.c), every line and reply is capped, and the message is streamed from its
 * file in 64 KiB pieces, never held in memory whole.
 *
 * The caller ignores SIGPIPE: a TLS write to a server that has gone raises it
 * (plaintext writes use MSG_NOSIGNAL), as the listener does for the daemons.
 *
 * Timeouts: RFC 5321 §4.5.3.2 suggests 5 minutes for the greeting, MAIL, RCPT and
 * DATA, 3 minutes per data block and 10 minutes for the reply to the end of data.
 * Here the caller's connect_timeout_ms bounds the TCP connect and the greeting, and
 * command_timeout_ms every other wait, the end of data included (the queue passes
 * the RFC's values or its configuration's).
 */
#ifndef LB_SMTP_CLIENT_H
#define LB_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "lib/conn.h"
#include "lib/line.h"
#include "relay/smtp_reply.h"

#define SMTPC_LINE_MAX		2048		/* a reply line, CRLF included */
#define SMTPC_IN_MAX		(64 * 1024)	/* input buffer */
#define SMTPC_OUT_MAX		(256 * 1024)	/* output: commands, a stuffed chunk */
#define SMTPC_CHUNK		(64 * 1024)	/* message bytes read at a time */
/*
 * Commands in one pipelined write (RFC 2920 §3.1). Their replies (about 60 octets
 * each) then fit the socket buffers, so neither side can block the other: a longer
 * recipient list goes out in several groups, each read before the next is sent.
 */
#define SMTPC_PIPELINE_MAX	128
#define SMTPC_QUIT_TIMEOUT_MS	5000		/* QUIT is best effort */

enum smtpc_tls {
	SMTPC_TLS_NONE,		/* never (tests, or a smarthost on loopback) */
	SMTPC_TLS_OPPORTUNISTIC,	/* STARTTLS if offered, no certificate check (MX, RFC 7435) */
	SMTPC_TLS_STARTTLS,	/* STARTTLS required: fail (temporary) if not offered */
	SMTPC_TLS_IMPLICIT,	/* TLS from the first byte (RFC 8314) */
};

struct smtpc_opts {
	const char	*helo;		/* our host name */
	enum smtpc_tls	 tls;
	SSL_CTX		*tls_ctx;	/* client context (tls_client_ctx_new) */
	bool		 verify;	/* check the certificate chain and name (not in
					   OPPORTUNISTIC mode) */
	const char	*server_name;	/* SNI + the name checked */
	const char	*auth_user, *auth_pass;	/* NULL: no AUTH */
	int		 connect_timeout_ms;	/* <= 0: 30 s */
	int		 command_timeout_ms;	/* <= 0: 5 min (RFC 5321 §4.5.3.2) */
};

struct smtpc {
	struct conn	 conn;
	struct line_reader lr;
	struct smtpc_opts o;		/* a copy; the strings remain the caller's */
	char		 peer[64];	/* the server's address, for the log */
	bool		 broken;	/* out of sync or closed: only smtpc_close() */
	bool		 esmtp;		/* EHLO accepted (else HELO) */
	/* What the last EHLO offered (RFC 3207 §4.2: asked again after STARTTLS). */
	bool		 has_pipelining, has_8bitmime, has_size, has_smtputf8;
	bool		 has_starttls, auth_plain, auth_login;
	unsigned long long max_size;	/* SIZE's value; 0: none given */
	bool		 tls;		/* TLS is on */
	char		 tls_desc[128];	/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
};

/*
 * Connect to addr, read the greeting, EHLO (HELO if EHLO gets 5xx), STARTTLS per
 * o->tls and EHLO again, AUTH per o (PLAIN if offered, else LOGIN: Microsoft's relays
 * offer LOGIN only; never AUTH without TLS: refused with code 0 and a reason).
 * 0 = ready for mail (*r: the last reply, EHLO's or AUTH's); -1 = failed and closed,
 * *r says why: the server's reply, or code 0 and our reason (connect, timeout, TLS,
 * STARTTLS required but not offered, protocol error).
 *
 * In OPPORTUNISTIC mode a failed TLS handshake after STARTTLS is retried once on a
 * new connection without STARTTLS (RFC 7435 §3; as Postfix's "may" level does),
 * unless AUTH is asked for. smtpc_close() is safe after either result.
 */
int	smtpc_open(struct smtpc *c, const struct sockaddr *addr, socklen_t addrlen,
	    const struct smtpc_opts *o, struct smtpc_reply *r);

/*
 * One mail transaction: MAIL FROM:<from> ("" for the null sender) with SIZE=n when
 * the server has SIZE, BODY=8BITMIME when the message (prepend included) has 8-bit
 * bytes and the server has 8BITMIME, SMTPUTF8 when an address is non-ASCII (without
 * server support nothing is sent and every reply is a local 550 5.6.7 "server lacks
 * SMTPUTF8"); RCPT TO:<rcpts[i]> for each of n recipients; DATA; then prepend (CRLF-
 * terminated header fields, e.g. DKIM-Signature; may be NULL) and the message in fd (a
 * regular file, read with pread from off to its end in SMTPC_CHUNK pieces) with dot-
 * stuffing, bare CR or LF made CRLF, a CRLF added to a last line without one, and
 * "." CRLF.
 *
 * With PIPELINING, MAIL, the RCPTs and DATA go in one write (groups of
 * SMTPC_PIPELINE_MAX) and the replies are read in order; without it, one at a time.
 * rcpt_replies[i] gets each RCPT's reply. msg_reply gets MAIL's reply if MAIL failed
 * (every rcpt_replies[i] is then a copy of it), else DATA's or the end of data's.
 * When no RCPT was accepted no message is sent: RSET instead (with pipelining the
 * DATA reply, 503/554, is msg_reply; without, msg_reply has code 0 and "no recipient
 * accepted"). An address with a control character, '<' or '>', or over 254 octets is
 * not sent: its reply is a local 553 5.1.3 (the sender's 553 5.1.7, for all).
 *
 * 0 when the conversation is still in sync (the connection can carry another
 * transaction after smtpc_rset()); -1 when the connection broke or the message file
 * could not be read part way (the connection is then dropped, never ended with "."):
 * replies not received have code 0 and the reason.
 */
int	smtpc_send(struct smtpc *c, const char *from, const char *const *rcpts, size_t n,
	    int fd, off_t off, const char *prepend, struct smtpc_reply *rcpt_replies,
	    struct smtpc_reply *msg_reply);

/*
 * One command line (CRLF added) and its reply, nothing else: for callers that speak
 * a conversation of their own (`letterbox check`'s relay test, which must never send
 * DATA). 0 with any reply in *r, or -1 (broken, *r says why).
 */
int	smtpc_cmd(struct smtpc *c, const char *line, struct smtpc_reply *r);

/* RSET between transactions on a reused connection: 0 (250), or -1. */
int	smtpc_rset(struct smtpc *c);

/* QUIT (best effort, SMTPC_QUIT_TIMEOUT_MS at most) and close. Safe to call twice. */
void	smtpc_close(struct smtpc *c);

/*
 * The DATA transparency of smtpc_send(), exposed for the unit tests and the fuzzer:
 * feed the message in any pieces; each call writes at most 2 * len + 4 bytes to out
 * and returns how many. smtpc_dot_end() writes the end (at most 7 bytes: a missing
 * CRLF, then "." CRLF). Lines starting with '.' get another '.' (RFC 5321 §4.5.2);
 * CR not before LF, and LF not after CR, become CRLF, so nothing but CRLF ends a line
 * and no "." line can appear before the end whatever the file holds.
 */
struct smtpc_dot {
	bool	line_start;	/* the next byte starts a line */
	bool	cr;		/* a CR is pending */
};
void	smtpc_dot_init(struct smtpc_dot *d);
size_t	smtpc_dot_feed(struct smtpc_dot *d, const char *in, size_t len, char *out);
size_t	smtpc_dot_end(struct smtpc_dot *d, char *out);

#endif
