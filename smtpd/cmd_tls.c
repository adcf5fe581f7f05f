/*
 * cmd_tls: STARTTLS (RFC 3207).
 */
#include <string.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "smtpd/session.h"

void
cmd_starttls(struct smtp_session *s, char *args)
{
	char desc[128];

	(void)args;
	if (s->is_tls) {
		smtp_reply(s, "503 5.5.1 Error: TLS already active");
		smtp_bad_command(s);
		return;
	}
	if (s->srv->tls == NULL) {
		smtp_reply(s, "502 5.5.1 Error: STARTTLS not available");
		smtp_bad_command(s);
		return;
	}
	/*
	 * Plaintext sent after STARTTLS in the same burst would be read as if it came
	 * through TLS (CVE-2011-0411 and kin). Refuse the whole session, as nothing
	 * received in plaintext after this point can be trusted (skarnet rule).
	 */
	if (conn_has_input(&s->conn)) {
		log_info("client=%s STARTTLS with pipelined input: refused", s->peer_ip);
		smtp_reply(s, "554 5.5.1 Error: command pipelined after STARTTLS, closing");
		s->quit = true;
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	if (conn_flush(&s->conn, (int)s->srv->cfg->idle_timeout * 1000) == -1 ||
	    conn_tls_accept(&s->conn, s->srv->tls,
	    (int)s->srv->cfg->idle_timeout * 1000) == -1) {
		log_info("client=%s STARTTLS handshake failed", s->peer_ip);
		/* Nothing more can be said in plaintext after a failed handshake. */
		buf_reset(&s->conn.out);
		s->quit = true;
		return;
	}
	tls_describe(s->conn.ssl, desc, sizeof(desc));
	log_info("client=%s starttls=\"%s\"", s->peer_ip, desc);
	/* RFC 3207 §4.2: forget everything learnt before TLS; the client says EHLO again. */
	s->is_tls = true;
	smtp_tx_reset(s);
	s->helo[0] = '\0';
	s->esmtp = false;
	s->state = SMTP_STATE_CONNECTED;
}
