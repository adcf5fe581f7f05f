/*
 * session: one POP3 connection (RFC 1939) in a session process: the state, the
 * reply queue (flushed when the input runs dry: RFC 2449 PIPELINING), SASL exchanges
 * in progress (RFC 5034), and the main loop.
 */
#ifndef LB_POP3D_SESSION_H
#define LB_POP3D_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "lib/conn.h"
#include "lib/line.h"
#include "lib/sasl.h"
#include "lib/settings.h"
#include "maildir/maildir.h"
#include "pop3d/maildrop.h"

/* RFC 2449 §4: 255 octets for a command; SASL responses (RFC 5034 §4) are longer. */
#define POP3_LINE_MAX		(SASL_LINE_MAX + 2)
#define POP3_IN_MAX		(16 * 1024)
#define POP3_OUT_MAX		(512 * 1024)
#define POP3_OUT_FLUSH		(128 * 1024)	/* RETR output is sent in pieces this big */
#define POP3_MAX_AUTH_FAILURES	5		/* per connection; the throttle does the rest */

/* What the parent prepared; shared read-only by every session process. */
struct pop3_server {
	const struct settings	*cfg;
	SSL_CTX			*tls;		/* NULL: no STLS, no implicit TLS */
	struct maildir		*md;
	int			 auth_fd;	/* requests to the auth process */
};

enum pop3_state {
	POP3_AUTHORIZATION	= 1 << 0,
	POP3_TRANSACTION	= 1 << 1,
};

struct pop3_session {
	const struct pop3_server *srv;
	struct conn		 conn;
	struct line_reader	 lr;
	enum pop3_state		 state;
	char			 id[17];
	char			 peer_ip[64];
	bool			 peer_loopback;
	bool			 is_tls;
	bool			 quit;
	bool			 client_quit;	/* by QUIT: no lingering close */
	unsigned		 bad_commands;
	unsigned		 auth_failures;
	int64_t			 cmd_wait_start_ms;

	/* AUTHORIZATION: USER given, SASL in progress. */
	char			 user[SASL_USER_MAX + 1];
	struct sasl_exchange	 sasl;

	/* TRANSACTION. */
	struct maildrop		 drop;
	unsigned		 retrieved;
};

void	pop3_session_serve(const struct pop3_server *srv, int fd, bool implicit_tls,
	    const struct sockaddr_storage *peer);

/* Queue a reply line (CRLF added). */
void	pop3_reply(struct pop3_session *s, const char *line);
void	pop3_replyf(struct pop3_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Queue raw bytes (multi-line bodies). */
void	pop3_write(struct pop3_session *s, const void *p, size_t n);
/* Send what is queued if it is more than POP3_OUT_FLUSH (long responses). */
void	pop3_flush_some(struct pop3_session *s);
void	pop3_bad_command(struct pop3_session *s);
/* Whether USER/PASS and AUTH are allowed on this connection now. */
bool	pop3_login_allowed(const struct pop3_session *s);

/* The command dispatcher (commands.c): one complete line in command mode. */
void	pop3_command(struct pop3_session *s, char *line, size_t len);
/* A line while a SASL exchange waits for the client (cmd_auth.c). */
void	pop3_sasl_input(struct pop3_session *s, char *line);

/* Handlers; args is the text after the verb and one space, or "". */
void	cmd_capa(struct pop3_session *s, char *args);
void	cmd_stls(struct pop3_session *s, char *args);
void	cmd_user(struct pop3_session *s, char *args);
void	cmd_pass(struct pop3_session *s, char *args);
void	cmd_auth(struct pop3_session *s, char *args);
void	cmd_apop(struct pop3_session *s, char *args);
void	cmd_quit(struct pop3_session *s, char *args);
void	cmd_noop(struct pop3_session *s, char *args);
void	cmd_stat(struct pop3_session *s, char *args);
void	cmd_list(struct pop3_session *s, char *args);
void	cmd_uidl(struct pop3_session *s, char *args);
void	cmd_retr(struct pop3_session *s, char *args);
void	cmd_top(struct pop3_session *s, char *args);
void	cmd_dele(struct pop3_session *s, char *args);
void	cmd_rset(struct pop3_session *s, char *args);

#endif
