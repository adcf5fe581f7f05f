/*
 * cmd_session: the commands of both states: CAPA (RFC 2449), STLS (RFC 2595), NOOP
 * and QUIT with the UPDATE state (RFC 1939 §6).
 */
#include <string.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "pop3d/session.h"

void
cmd_capa(struct pop3_session *s, char *args)
{
	bool authz = s->state == POP3_AUTHORIZATION;

	(void)args;
	pop3_reply(s, "+OK Capability list follows.");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "PIPELINING");
	pop3_reply(s, "EXPIRE NEVER");
	/* Thunderbird reads USER and SASL from here to choose how to log in (clients.md). */
	if (authz && pop3_login_allowed(s)) {
		pop3_reply(s, "USER");
		pop3_reply(s, "SASL PLAIN LOGIN");
	}
	if (authz && s->srv->tls != NULL && !s->is_tls)
		pop3_reply(s, "STLS");
	pop3_reply(s, "IMPLEMENTATION Letterbox");
	pop3_reply(s, ".");
}

void
cmd_stls(struct pop3_session *s, char *args)
{
	char tlsdesc[128];

	(void)args;
	if (s->is_tls) {
		pop3_reply(s, "-ERR TLS is already active.");
		pop3_bad_command(s);
		return;
	}
	if (s->srv->tls == NULL) {
		pop3_reply(s, "-ERR STLS is not available.");
		pop3_bad_command(s);
		return;
	}
	/*
	 * Anything sent after STLS and before the handshake would be taken as sent inside
	 * TLS: the command injection of CVE-2011-0411. Such a client is refused.
	 */
	if (conn_has_input(&s->conn)) {
		log_info("client=%s sent data after STLS; closing", s->peer_ip);
		pop3_reply(s, "-ERR Data after STLS, closing connection.");
		s->quit = true;
		return;
	}
	pop3_reply(s, "+OK Begin TLS negotiation.");
	if (conn_flush(&s->conn, (int)s->srv->cfg->pop3_idle_timeout * 1000) == -1 ||
	    conn_tls_accept(&s->conn, s->srv->tls,
	    (int)s->srv->cfg->pop3_idle_timeout * 1000) == -1) {
		log_info("client=%s TLS handshake failed", s->peer_ip);
		buf_reset(&s->conn.out);
		s->quit = true;
		return;
	}
	s->is_tls = true;
	/* RFC 2595 §4: forget what was said in the clear. */
	memset(s->user, 0, sizeof(s->user));
	tls_describe(s->conn.ssl, tlsdesc, sizeof(tlsdesc));
	log_info("client=%s starttls=\"%s\"", s->peer_ip, tlsdesc);
}

void
cmd_noop(struct pop3_session *s, char *args)
{
	(void)args;
	pop3_reply(s, "+OK");
}

void
cmd_quit(struct pop3_session *s, char *args)
{
	unsigned removed = 0;

	(void)args;
	s->quit = true;
	s->client_quit = true;
	if (s->state != POP3_TRANSACTION) {
		pop3_reply(s, "+OK Logging out.");
		return;
	}
	/* RFC 1939 §6: the UPDATE state; only now do deletions take effect. */
	if (maildrop_update(&s->drop, &removed) == -1) {
		log_warn("logout: some deletions or moves failed (removed=%u of %zu)", removed,
		    s->drop.ndeleted);
		pop3_reply(s, "-ERR [SYS/TEMP] Some deleted messages were not removed.");
		return;
	}
	log_info("logout retrieved=%u deleted=%u left=%zu", s->retrieved, removed,
	    s->drop.n - s->drop.ndeleted);
	pop3_replyf(s, "+OK Logging out, %u messages deleted.", removed);
}
