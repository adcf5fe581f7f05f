/*
 * cmd_session: the commands that manage the session rather than a message:
 * EHLO HELO NOOP RSET QUIT HELP VRFY EXPN (RFC 5321 §4.1.1).
 */
#include <stdio.h>
#include <string.h>

#include "smtpd/session.h"

/* Keep the first word of the HELO/EHLO argument, made safe for Received: and logs. */
static void
smtp_set_helo(struct smtp_session *s, const char *args)
{
	size_t i, n = strcspn(args, " ");

	if (n > SMTP_HELO_MAX)
		n = SMTP_HELO_MAX;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)args[i];

		/* No comment delimiters or controls inside the Received: "from" clause. */
		s->helo[i] = (c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '\\') ?
		    '?' : (char)c;
	}
	s->helo[n] = '\0';
}

void
cmd_ehlo(struct smtp_session *s, char *args)
{
	const struct settings *cfg = s->srv->cfg;

	/* RFC 5321 §4.1.4: EHLO resets the state as RSET would. */
	smtp_tx_reset(s);
	smtp_set_helo(s, args);
	s->esmtp = true;
	s->state = SMTP_STATE_GREETED;
	smtp_replyf(s, "250-%s", cfg->hostname);
	smtp_reply(s, "250-PIPELINING");				/* RFC 2920 */
	smtp_replyf(s, "250-SIZE %llu", cfg->max_message_size);		/* RFC 1870 */
	if (s->srv->tls != NULL && !s->is_tls)
		smtp_reply(s, "250-STARTTLS");				/* RFC 3207 */
	/* RFC 4954: AUTH on submission inside TLS only; "AUTH=" for Outlook 2003 (clients.md). */
	if (s->submission && s->is_tls && !s->authenticated) {
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
		smtp_reply(s, "250-AUTH=PLAIN LOGIN");
	}
	smtp_reply(s, "250-8BITMIME");					/* RFC 6152 */
	smtp_reply(s, "250-SMTPUTF8");					/* RFC 6531 */
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");			/* RFC 2034 */
}

void
cmd_helo(struct smtp_session *s, char *args)
{
	smtp_tx_reset(s);
	smtp_set_helo(s, args);
	s->esmtp = false;
	s->state = SMTP_STATE_GREETED;
	smtp_replyf(s, "250 %s", s->srv->cfg->hostname);
}

void
cmd_noop(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "250 2.0.0 Ok");
}

void
cmd_rset(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_tx_reset(s);
	smtp_reply(s, "250 2.0.0 Ok");
}

void
cmd_quit(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_replyf(s, "221 2.0.0 %s closing connection", s->srv->cfg->hostname);
	s->quit = true;
	s->client_quit = true;
}

void
cmd_help(struct smtp_session *s, char *args)
{
	(void)args;
	smtp_reply(s, "214-2.0.0 Letterbox: mail for this domain's owner (RFC 5321)");
	smtp_replyf(s, "214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP%s%s",
	    s->srv->tls != NULL && !s->is_tls ? " STARTTLS" : "",
	    s->submission && s->is_tls ? " AUTH" : "");
}

void
cmd_vrfy(struct smtp_session *s, char *args)
{
	(void)args;
	/* RFC 5321 §3.5.3: 252 discloses nothing about who exists. */
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
}

void
cmd_expn(struct smtp_session *s, char *args)
{
	(void)args;
	/* RFC 5321 §3.5.2: EXPN may be disabled; there are no lists to expand. */
	smtp_reply(s, "502 5.5.1 Error: EXPN not available");
}
