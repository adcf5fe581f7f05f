/*
 * cmd_auth: SMTP AUTH (RFC 4954) on the submission ports, PLAIN and LOGIN with and
 * without an initial response, only inside TLS. The exchange itself is lib/sasl.c's;
 * the verdict is the auth process's (auth/), throttling included.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "smtpd/session.h"

/* A failed login: 535 (RFC 4954 §6), and the connection closed after too many. */
static void
smtp_auth_failed(struct smtp_session *s)
{
	smtp_reply(s, "535 5.7.8 Error: authentication failed");
	if (++s->auth_failures >= SMTP_MAX_AUTH_FAILURES) {
		smtp_replyf(s, "421 4.7.0 %s Error: too many failed logins, closing connection",
		    s->srv->cfg->hostname);
		s->quit = true;
	}
}

/* The credentials are complete: the auth process decides. */
static void
smtp_login(struct smtp_session *s)
{
	char user[96];
	enum auth_result r;

	r = auth_ask(s->srv->auth_fd, "smtp", s->sasl.mech, s->peer_ip, s->id,
	    &s->sasl.creds);
	log_escape(user, sizeof(user), s->sasl.creds.user, strlen(s->sasl.creds.user));
	switch (r) {
	case AUTH_OK:
		s->authenticated = true;
		snprintf(s->auth_user, sizeof(s->auth_user), "%s", s->sasl.creds.user);
		log_info("login user=\"%s\" mech=%s", user, s->sasl.mech);
		smtp_reply(s, "235 2.7.0 Authentication successful");
		break;
	case AUTH_FAIL:
		smtp_auth_failed(s);
		break;
	case AUTH_THROTTLED:
		smtp_reply(s, "454 4.7.0 Error: too many failed logins from your address, try "
		    "again later");
		break;
	case AUTH_TEMPFAIL:
		smtp_reply(s, "454 4.7.0 Error: temporary authentication failure");
		break;
	}
	sasl_exchange_end(&s->sasl);
}

/* What the exchange says next, as SMTP replies (RFC 4954 §4, §6). */
static void
smtp_sasl_result(struct smtp_session *s, enum sasl_result r, const char *challenge)
{
	switch (r) {
	case SASL_R_CHALLENGE:
		smtp_replyf(s, "334 %s", challenge);
		break;
	case SASL_R_DONE:
		smtp_login(s);
		break;
	case SASL_R_BAD_MECH:
		smtp_reply(s, "504 5.5.4 Error: unsupported authentication mechanism");
		smtp_bad_command(s);
		break;
	case SASL_R_BAD_B64:
		smtp_reply(s, "501 5.5.2 Error: cannot decode response");
		smtp_bad_command(s);
		break;
	case SASL_R_FAILED:
		smtp_auth_failed(s);
		break;
	case SASL_R_CANCELLED:
		smtp_reply(s, "501 5.0.0 Error: authentication cancelled");
		break;
	}
}

void
cmd_auth(struct smtp_session *s, char *args)
{
	const char *challenge = "";
	enum sasl_result r;
	char *initial;

	/* Port 25 never offers AUTH: relaying is for the owner's clients only. */
	if (!s->submission) {
		smtp_reply(s, "503 5.5.1 Error: authentication not enabled");
		smtp_bad_command(s);
		return;
	}
	/* RFC 3207 §4 and design.md: no password ever travels in the clear. */
	if (!s->is_tls) {
		smtp_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		smtp_bad_command(s);
		return;
	}
	/* RFC 4954 §4: AUTH is not allowed once authenticated. */
	if (s->authenticated) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		smtp_bad_command(s);
		return;
	}
	if ((initial = strchr(args, ' ')) != NULL)
		*initial++ = '\0';
	/* Two statements: the order of evaluation of function arguments is unspecified. */
	r = sasl_begin(&s->sasl, args, initial, &challenge);
	smtp_sasl_result(s, r, challenge);
}

void
smtp_sasl_input(struct smtp_session *s, char *line)
{
	const char *challenge = "";
	enum sasl_result r = sasl_continue(&s->sasl, line, &challenge);

	smtp_sasl_result(s, r, challenge);
}
