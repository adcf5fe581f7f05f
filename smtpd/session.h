/*
 * session: one SMTP connection in its own process: the state, the reply queue and its
 * flush policy (RFC 2920), and the main loop that switches between command mode and
 * the DATA body mode.
 */
#ifndef LB_SMTPD_SESSION_H
#define LB_SMTPD_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <openssl/ssl.h>

#include "lib/conn.h"
#include "lib/line.h"
#include "lib/sasl.h"
#include "lib/settings.h"
#include "maildir/maildir.h"
#include "queue/queue.h"
#include "smtpd/address.h"
#include "smtpd/dotstuff.h"

#define SMTP_CMD_LINE_MAX	1000	/* RFC 5321 §4.5.3.1.4 asks for 512; we allow 1000 */
/* Submission: an AUTH PLAIN line with the longest credentials (RFC 4954 §4 allows more). */
#define SMTP_AUTH_LINE_MAX	2048
#define SMTP_MAX_AUTH_FAILURES	5	/* then 421 and close */
#define SMTP_HELO_MAX		255
#define SMTP_OUT_MAX		65536	/* queued replies */
#define SMTP_BODY_CHUNK		65536	/* body bytes buffered before a write() */

/* struct listener's kind: who connects there. */
enum {
	SMTP_LISTEN_MX,			/* the world: mail for the owner only */
	SMTP_LISTEN_SUBMISSION,		/* the owner's clients: AUTH, then any recipient */
};

/* What the parent prepared; shared read-only by every session process. */
struct smtp_server {
	const struct settings	*cfg;
	SSL_CTX			*tls;		/* NULL: no STARTTLS, no implicit TLS */
	struct maildir		*md;
	int			 index_fd;	/* datagrams to the indexer; -1: none */
	int			 auth_fd;	/* requests to the auth process; -1: none */
	struct queue		*queue;		/* the outbound queue; NULL: no submission */
	int			 queue_fd;	/* datagrams to the queue runner; -1: none */
};

enum smtp_state {
	SMTP_STATE_CONNECTED	= 1 << 0,	/* before HELO/EHLO */
	SMTP_STATE_GREETED	= 1 << 1,	/* HELO/EHLO done, no transaction */
	SMTP_STATE_MAIL		= 1 << 2,	/* MAIL accepted */
	SMTP_STATE_RCPT		= 1 << 3,	/* at least one RCPT accepted */
};
#define SMTP_STATE_ANY	(SMTP_STATE_CONNECTED | SMTP_STATE_GREETED | SMTP_STATE_MAIL | \
			 SMTP_STATE_RCPT)

struct smtp_session {
	const struct smtp_server *srv;
	struct conn		 conn;
	struct line_reader	 lr;
	enum smtp_state		 state;
	char			 id[17];		/* also the log's session= */
	char			 peer_ip[64];
	char			 helo[SMTP_HELO_MAX + 1];
	bool			 esmtp;			/* EHLO rather than HELO */
	bool			 is_tls;
	bool			 submission;		/* a submission port (RFC 6409) */
	bool			 quit;			/* close after flushing */
	bool			 client_quit;		/* by QUIT: no lingering close */
	unsigned		 bad_commands;
	int64_t			 cmd_wait_start_ms;	/* waiting for a command since */
	unsigned		 messages;		/* delivered in this session */

	/* Submission (RFC 6409): AUTH (RFC 4954) before MAIL. */
	struct sasl_exchange	 sasl;
	bool			 authenticated;
	char			 auth_user[SASL_USER_MAX + 1];
	unsigned		 auth_failures;

	/* The transaction (reset by RSET, HELO/EHLO, STARTTLS and after DATA). */
	struct smtp_path	 from;
	struct smtp_mail_params	 params;
	unsigned		 nrcpt;
	bool			 rcpt_tried;		/* a RCPT was sent, accepted or not */
	char			 rcpt[SMTP_PATH_MAX + 1];	/* the first one */
	unsigned		 nlocal;		/* for the owner's Maildir */
	char			**remote;		/* for the queue (submission) */
	size_t			 nremote;

	/* DATA mode. */
	bool			 in_data;
	struct dot_state	 dot;
	struct buf		 body;
	struct maildir_delivery	 dlv;			/* the Maildir copy (fd -1: none) */
	struct maildir_delivery	 qdlv;			/* the queue copy (fd -1: none) */
	int			 write_errno;		/* first write failure, 0 = none */
};

/* Serve one connection on fd (the listener's session callback). Returns when done. */
void	smtp_session_serve(const struct smtp_server *srv, int fd, bool implicit_tls,
	    bool submission, const struct sockaddr_storage *peer);

/* Queue one reply line (CRLF added). Multi-line replies use "250-" on all but the last. */
void	smtp_reply(struct smtp_session *s, const char *line);
void	smtp_replyf(struct smtp_session *s, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Count a bad command; past max_bad_commands, 421 and close (Dovecot's rule). */
void	smtp_bad_command(struct smtp_session *s);
/* Forget the transaction: MAIL, RCPTs and any unfinished DATA. */
void	smtp_tx_reset(struct smtp_session *s);

/* The command dispatcher (commands.c): one complete command line. */
void	smtp_command(struct smtp_session *s, char *line);

/* Handlers (cmd_*.c). args is the text after the verb and one space, or "". */
void	cmd_ehlo(struct smtp_session *s, char *args);
void	cmd_helo(struct smtp_session *s, char *args);
void	cmd_noop(struct smtp_session *s, char *args);
void	cmd_rset(struct smtp_session *s, char *args);
void	cmd_quit(struct smtp_session *s, char *args);
void	cmd_help(struct smtp_session *s, char *args);
void	cmd_vrfy(struct smtp_session *s, char *args);
void	cmd_expn(struct smtp_session *s, char *args);
void	cmd_starttls(struct smtp_session *s, char *args);
void	cmd_mail(struct smtp_session *s, char *args);
void	cmd_rcpt(struct smtp_session *s, char *args);
void	cmd_data(struct smtp_session *s, char *args);
void	cmd_auth(struct smtp_session *s, char *args);
/* A line of an AUTH exchange in progress (cmd_auth.c). */
void	smtp_sasl_input(struct smtp_session *s, char *line);

/* DATA body mode (cmd_data.c): consume body bytes from c->in. 1 = message done. */
int	smtp_data_input(struct smtp_session *s);
/* The connection dropped or timed out in DATA: throw the partial message away. */
void	smtp_data_abort(struct smtp_session *s, const char *why);

#endif
