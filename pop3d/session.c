/*
 * session: the life of one POP3 connection (see session.h).
 *
 * Replies are queued and sent when the input runs dry (RFC 2449 §6.6 PIPELINING: a
 * client may send many commands at once; answering them in one write is the point).
 * Long responses (RETR, LIST of many messages) go out in POP3_OUT_FLUSH pieces.
 */
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "lib/util.h"
#include "pop3d/session.h"

static void
pop3_send_failed(struct pop3_session *s)
{
	log_info("client=%s cannot send replies; closing: %s", s->peer_ip,
	    errno == ETIMEDOUT ? "timeout" : strerror(errno));
	buf_reset(&s->conn.out);
	s->quit = true;
}

void
pop3_write(struct pop3_session *s, const void *p, size_t n)
{
	if (conn_write(&s->conn, p, n) == -1) {
		log_warnx("reply queue full; closing");
		buf_reset(&s->conn.out);
		s->quit = true;
	}
}

void
pop3_flush_some(struct pop3_session *s)
{
	if (buf_unread(&s->conn.out) >= POP3_OUT_FLUSH &&
	    conn_flush(&s->conn, (int)s->srv->cfg->pop3_idle_timeout * 1000) == -1)
		pop3_send_failed(s);
}

void
pop3_reply(struct pop3_session *s, const char *line)
{
	pop3_flush_some(s);
	pop3_write(s, line, strlen(line));
	pop3_write(s, "\r\n", 2);
}

void
pop3_replyf(struct pop3_session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pop3_reply(s, line);
}

void
pop3_bad_command(struct pop3_session *s)
{
	if (++s->bad_commands < s->srv->cfg->max_bad_commands)
		return;
	log_info("client=%s closing: too many bad commands", s->peer_ip);
	pop3_reply(s, "-ERR Too many bad commands, closing connection.");
	s->quit = true;
}

bool
pop3_login_allowed(const struct pop3_session *s)
{
	/* RFC 2595 §2 and design.md: passwords only inside TLS, unless loopback is allowed. */
	return s->is_tls || (s->peer_loopback && s->srv->cfg->plaintext_auth_loopback);
}

static void
pop3_bad_line(struct pop3_session *s, enum line_status st)
{
	switch (st) {
	case LINE_TOOLONG:
		pop3_reply(s, "-ERR Line too long.");
		break;
	case LINE_BARELF:
	case LINE_BARECR:
		pop3_reply(s, "-ERR Lines end with CRLF.");
		break;
	case LINE_NUL:
		pop3_reply(s, "-ERR NUL byte in command.");
		break;
	default:
		return;
	}
	if (s->sasl.step != SASL_STEP_NONE)
		sasl_exchange_end(&s->sasl);
	pop3_bad_command(s);
}

static void
pop3_commands_input(struct pop3_session *s)
{
	enum line_status st;
	char *line;
	size_t len;

	while (!s->quit) {
		st = line_next(&s->lr, &s->conn.in, &line, &len);
		if (st == LINE_MORE)
			return;
		if (st != LINE_OK) {
			pop3_bad_line(s, st);
			continue;
		}
		if (s->sasl.step != SASL_STEP_NONE)
			pop3_sasl_input(s, line);
		else
			pop3_command(s, line, len);
		/* The line may have held a password (PASS, AUTH): gone from memory now. */
		sodium_memzero(line, len);
	}
}

/* The idle timeout runs from the end of the previous command (slowloris). */
static int
pop3_command_wait_ms(struct pop3_session *s, int idle_ms)
{
	int64_t now = util_now_ms(), left;

	if (buf_unread(&s->conn.in) == 0 && !s->lr.skipping)
		s->cmd_wait_start_ms = now;
	left = s->cmd_wait_start_ms + idle_ms - now;
	return left > 0 ? (int)left : 0;
}

static bool
sockaddr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) &&
		    a->s6_addr[12] == 127);
	}
	return false;
}

void
pop3_session_serve(const struct pop3_server *srv, int fd, bool implicit_tls,
    const struct sockaddr_storage *peer)
{
	struct pop3_session sess, *s = &sess;
	const struct settings *cfg = srv->cfg;
	char tlsdesc[128];
	int idle_ms = (int)cfg->pop3_idle_timeout * 1000;
	int r;

	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->state = POP3_AUTHORIZATION;
	maildrop_init(&s->drop, srv->md);
	util_random_hex(s->id, 8);
	log_set_session(s->id);
	util_sockaddr_ntop(peer, s->peer_ip, sizeof(s->peer_ip));
	s->peer_loopback = sockaddr_is_loopback(peer);
	conn_init(&s->conn, fd, POP3_IN_MAX, POP3_OUT_MAX);
	s->conn.deadline_ms = util_now_ms() + (int64_t)cfg->pop3_session_timeout * 1000;
	line_reader_init(&s->lr, POP3_LINE_MAX);
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
	/* No APOP timestamp: APOP needs the password in clear on the server (RFC 1939 §7). */
	pop3_reply(s, "+OK Letterbox POP3 ready.");

	while (!s->quit) {
		pop3_commands_input(s);
		if (s->quit)
			break;
		if (conn_flush(&s->conn, idle_ms) == -1) {
			pop3_send_failed(s);
			goto done;
		}
		r = conn_fill(&s->conn, pop3_command_wait_ms(s, idle_ms));
		if (r == 1)
			continue;
		if (r == 0) {
			log_info("client=%s disconnected without QUIT%s", s->peer_ip,
			    s->state == POP3_TRANSACTION ? "; nothing deleted" : "");
			goto done;
		}
		if (errno == ETIMEDOUT) {
			/* RFC 1939 §3: an autologout timer; no UPDATE state, nothing deleted. */
			log_info("client=%s timeout%s", s->peer_ip,
			    s->state == POP3_TRANSACTION ? "; nothing deleted" : "");
			pop3_reply(s, "-ERR Disconnected for inactivity.");
			break;
		}
		log_info("client=%s read error: %s", s->peer_ip,
		    errno == EPROTO ? "TLS error" : strerror(errno));
		goto done;
	}
	conn_flush(&s->conn, idle_ms);
done:
	sasl_exchange_end(&s->sasl);
	sodium_memzero(s->user, sizeof(s->user));
	log_info("disconnect client=%s retrieved=%u", s->peer_ip, s->retrieved);
	maildrop_close(&s->drop);
	/*
	 * Closed by us ("-ERR Too many ...", a timeout): a client still sending gets to
	 * read the last reply. After its QUIT a client sends nothing more.
	 */
	if (s->client_quit)
		conn_close(&s->conn);
	else
		conn_close_linger(&s->conn, 2000);
#ifdef __GLIBC__
	/*
	 * The process now waits in the pool for the next connection: return the heap
	 * its session used (the message list, RETR's output buffer) to the system.
	 */
	malloc_trim(0);
#endif
}
