/*
 * session: the life of one SMTP connection (see session.h).
 *
 * Replies are queued in conn.out and flushed when the input runs dry, after a command
 * that ends a pipelined group, and before closing: RFC 2920 §3.1's batching rule,
 * which is qmail's "flush before read".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "smtpd/session.h"

/* Command lines in flight plus one DATA read chunk. */
#define SMTP_IN_MAX	(64 * 1024)

/* After conn_flush() failed: the client does not read, or is gone. */
static void
smtp_log_send_failure(const struct smtp_session *s)
{
	log_info("client=%s cannot send replies; closing: %s", s->peer_ip,
	    errno == ETIMEDOUT ? "timeout" : strerror(errno));
}

void
smtp_reply(struct smtp_session *s, const char *line)
{
	size_t n = strlen(line);

	/*
	 * RFC 2920 §3.1: a long pipelined group fills the queue; send it now rather
	 * than drop a client that reads its replies. One that does not read fails the
	 * flush within idle_timeout.
	 */
	if (buf_unread(&s->conn.out) + n + 2 > SMTP_OUT_MAX &&
	    conn_flush(&s->conn, (int)s->srv->cfg->idle_timeout * 1000) == -1) {
		buf_reset(&s->conn.out);
		smtp_log_send_failure(s);
		s->quit = true;
		return;
	}
	if (conn_write(&s->conn, line, n) == -1 ||
	    conn_write(&s->conn, "\r\n", 2) == -1) {
		/* The client does not read its replies: stop talking to it. */
		log_warnx("reply queue full; closing");
		s->quit = true;
	}
}

void
smtp_replyf(struct smtp_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	smtp_reply(s, line);
}

void
smtp_bad_command(struct smtp_session *s)
{
	if (++s->bad_commands < s->srv->cfg->max_bad_commands)
		return;
	log_info("client=%s closing: too many bad commands", s->peer_ip);
	smtp_replyf(s, "421 4.7.0 %s Error: too many bad commands, closing connection",
	    s->srv->cfg->hostname);
	s->quit = true;
}

void
smtp_tx_reset(struct smtp_session *s)
{
	if (s->in_data)
		smtp_data_abort(s, NULL);
	memset(&s->from, 0, sizeof(s->from));
	memset(&s->params, 0, sizeof(s->params));
	while (s->nremote > 0)
		free(s->remote[--s->nremote]);
	free(s->remote);
	s->remote = NULL;
	s->nlocal = 0;
	s->nrcpt = 0;
	s->rcpt_tried = false;
	s->rcpt[0] = '\0';
	if (s->state & (SMTP_STATE_MAIL | SMTP_STATE_RCPT))
		s->state = SMTP_STATE_GREETED;
}

/* One line in command mode that the line reader could not accept. */
static void
smtp_bad_line(struct smtp_session *s, enum line_status st)
{
	switch (st) {
	case LINE_TOOLONG:
		/* RFC 5321 §4.5.3.1.4 and §4.2.2: 500 "line too long". */
		smtp_reply(s, "500 5.5.2 Error: line too long");
		break;
	case LINE_BARELF:
		smtp_reply(s, "500 5.5.2 Error: bare LF in command (RFC 5321 2.3.8)");
		break;
	case LINE_BARECR:
		smtp_reply(s, "500 5.5.2 Error: bare CR in command (RFC 5321 2.3.8)");
		break;
	case LINE_NUL:
		smtp_reply(s, "500 5.5.2 Error: NUL byte in command");
		break;
	default:
		return;
	}
	sasl_exchange_end(&s->sasl);	/* a broken line ends an AUTH exchange too */
	smtp_bad_command(s);
}

/* Handle the complete commands in the input buffer, until DATA, QUIT or a partial line. */
static void
smtp_commands_input(struct smtp_session *s)
{
	enum line_status st;
	char *line;
	size_t len;

	while (!s->quit && !s->in_data) {
		st = line_next(&s->lr, &s->conn.in, &line, &len);
		if (st == LINE_MORE)
			return;
		if (st != LINE_OK)
			smtp_bad_line(s, st);
		else if (s->sasl.step != SASL_STEP_NONE)
			smtp_sasl_input(s, line);
		else
			smtp_command(s, line);
		/* The line may have held credentials (AUTH): gone from memory now. */
		if (st == LINE_OK && s->submission)
			sodium_memzero(line, len);
	}
}

/*
 * How long to wait for the rest of a command. The idle timeout runs from the moment
 * the previous command was done, not from the last byte: a command trickled in one
 * byte at a time (slowloris) must still be complete within idle_timeout.
 */
static int
smtp_command_wait_ms(struct smtp_session *s, int idle_ms)
{
	int64_t now = util_now_ms(), left;

	if (buf_unread(&s->conn.in) == 0 && !s->lr.skipping)
		s->cmd_wait_start_ms = now;
	left = s->cmd_wait_start_ms + idle_ms - now;
	return left > 0 ? (int)left : 0;
}

static void
smtp_timeout(struct smtp_session *s)
{
	log_info("client=%s timeout%s", s->peer_ip, s->in_data ? " in DATA" : "");
	if (s->in_data)
		smtp_data_abort(s, "timeout");
	smtp_replyf(s, "421 4.4.2 %s Error: timeout exceeded", s->srv->cfg->hostname);
}

void
smtp_session_serve(const struct smtp_server *srv, int fd, bool implicit_tls,
    bool submission, const struct sockaddr_storage *peer)
{
	struct smtp_session sess, *s = &sess;
	const struct settings *cfg = srv->cfg;
	char tlsdesc[128];
	int idle_ms = (int)cfg->idle_timeout * 1000;
	int r;

	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->submission = submission;
	s->state = SMTP_STATE_CONNECTED;
	s->dlv.fd = -1;
	s->qdlv.fd = -1;
	util_random_hex(s->id, 8);
	log_set_session(s->id);
	util_sockaddr_ntop(peer, s->peer_ip, sizeof(s->peer_ip));
	conn_init(&s->conn, fd, SMTP_IN_MAX, SMTP_OUT_MAX);
	s->conn.deadline_ms = util_now_ms() + (int64_t)cfg->session_timeout * 1000;
	line_reader_init(&s->lr, submission ? SMTP_AUTH_LINE_MAX : SMTP_CMD_LINE_MAX);
	buf_init(&s->body, SMTP_BODY_CHUNK + SMTP_IN_MAX + 2);
	log_info("connect client=%s tls=%s", s->peer_ip, implicit_tls ? "implicit" : "no");

	if (implicit_tls) {
		if (srv->tls == NULL || conn_tls_accept(&s->conn, srv->tls, idle_ms) == -1) {
			log_info("client=%s TLS handshake failed", s->peer_ip);
			goto done;
		}
		s->is_tls = true;
		tls_describe(s->conn.ssl, tlsdesc, sizeof(tlsdesc));
		log_info("client=%s tls=\"%s\"", s->peer_ip, tlsdesc);
	}
	smtp_replyf(s, "220 %s ESMTP Letterbox", cfg->hostname);

	while (!s->quit) {
		if (s->in_data) {
			if (smtp_data_input(s) == 1)
				continue;	/* message done: commands may follow */
		} else {
			smtp_commands_input(s);
			if (s->in_data)
				continue;	/* DATA: body bytes may be buffered already */
		}
		if (s->quit)
			break;
		/* Input ran dry: send what is queued, then wait (RFC 2920 §3.1). */
		if (conn_flush(&s->conn, idle_ms) == -1) {
			smtp_log_send_failure(s);
			goto done;
		}
		r = conn_fill(&s->conn, s->in_data ? (int)cfg->data_timeout * 1000 :
		    smtp_command_wait_ms(s, idle_ms));
		if (r == 1)
			continue;
		if (r == 0) {
			if (s->in_data)
				smtp_data_abort(s, "connection closed in DATA");
			else
				log_info("client=%s disconnected without QUIT", s->peer_ip);
			goto done;
		}
		if (errno == ETIMEDOUT) {
			smtp_timeout(s);
			break;
		}
		if (s->in_data)
			smtp_data_abort(s, "read error in DATA");
		log_info("client=%s read error: %s", s->peer_ip,
		    errno == EPROTO ? "TLS error" : strerror(errno));
		goto done;
	}
	conn_flush(&s->conn, idle_ms);
done:
	if (s->in_data)
		smtp_data_abort(s, NULL);
	smtp_tx_reset(s);
	sasl_exchange_end(&s->sasl);
	log_info("disconnect client=%s messages=%u", s->peer_ip, s->messages);
	buf_clear(&s->body);
	/*
	 * Closed by us (a 421, a timeout): a client still sending gets to read the last
	 * reply. After its QUIT a client sends nothing more: the process is free at once.
	 */
	if (s->client_quit)
		conn_close(&s->conn);
	else
		conn_close_linger(&s->conn, 2000);
}
