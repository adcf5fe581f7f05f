/*
 * cmd_auth: logging in. USER/PASS (RFC 1939 §7), AUTH PLAIN and LOGIN with and without
 * an initial response (RFC 5034), and what follows a verdict of the auth process:
 * the maildrop lock and list, or the error with its response code (RFC 2449, 3206).
 */
#include <string.h>
#include <sodium.h>

#include "auth/auth.h"
#include "lib/log.h"
#include "pop3d/session.h"

/*
 * A failed login, whoever found it (the auth process, or the PLAIN parser for a
 * message asking to act as someone else): [AUTH] (RFC 3206 §4), and the connection
 * closed after POP3_MAX_AUTH_FAILURES of them.
 */
static void
pop3_auth_failed(struct pop3_session *s)
{
	pop3_reply(s, "-ERR [AUTH] Authentication failed.");
	if (++s->auth_failures >= POP3_MAX_AUTH_FAILURES) {
		pop3_reply(s, "-ERR Too many failed logins, closing connection.");
		s->quit = true;
	}
}

/* The auth process decides; then the maildrop is locked and listed (RFC 1939 §8). */
static void
pop3_login(struct pop3_session *s, const char *mech)
{
	char user[96];
	enum auth_result r;
	int lk;

	r = auth_ask(s->srv->auth_fd, "pop3", mech, s->peer_ip, s->id, &s->sasl.creds);
	log_escape(user, sizeof(user), s->sasl.creds.user, strlen(s->sasl.creds.user));
	sasl_exchange_end(&s->sasl);
	sodium_memzero(s->user, sizeof(s->user));
	switch (r) {
	case AUTH_OK:
		break;
	case AUTH_FAIL:
		pop3_auth_failed(s);
		return;
	case AUTH_THROTTLED:
		pop3_reply(s, "-ERR [SYS/TEMP] Too many failed logins from your address, "
		    "try again later.");
		return;
	case AUTH_TEMPFAIL:
		pop3_reply(s, "-ERR [SYS/TEMP] Authentication is not available now, try "
		    "again later.");
		return;
	}
	if ((lk = maildrop_lock(&s->drop)) == 1) {
		log_info("login user=\"%s\" refused: mailbox in use", user);
		pop3_reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 session.");
		return;
	}
	if (lk == -1 || maildrop_load(&s->drop) == -1) {
		log_warn("login user=\"%s\": cannot open the maildrop", user);
		maildrop_close(&s->drop);
		pop3_reply(s, "-ERR [SYS/TEMP] Cannot open the mailbox, try again later.");
		return;
	}
	s->state = POP3_TRANSACTION;
	log_info("login user=\"%s\" mech=%s messages=%zu size=%llu", user, mech,
	    s->drop.n, (unsigned long long)s->drop.total_size);
	pop3_reply(s, "+OK Logged in.");
}

void
cmd_user(struct pop3_session *s, char *args)
{
	if (strlen(args) > SASL_USER_MAX) {
		pop3_reply(s, "-ERR User name too long.");
		pop3_bad_command(s);
		return;
	}
	strcpy(s->user, args);
	pop3_reply(s, "+OK");
}

void
cmd_pass(struct pop3_session *s, char *args)
{
	size_t n = strlen(args);

	if (s->user[0] == '\0') {
		pop3_reply(s, "-ERR No username given.");
		pop3_bad_command(s);
		return;
	}
	if (n > SASL_PASS_MAX) {
		sodium_memzero(s->user, sizeof(s->user));
		pop3_auth_failed(s);
		return;
	}
	memcpy(s->sasl.creds.user, s->user, sizeof(s->sasl.creds.user));
	memcpy(s->sasl.creds.pass, args, n + 1);
	pop3_login(s, "USER");
}

/* What the exchange says next, as POP3 replies (RFC 5034 §4). */
static void
pop3_sasl_result(struct pop3_session *s, enum sasl_result r, const char *challenge)
{
	switch (r) {
	case SASL_R_CHALLENGE:
		pop3_replyf(s, "+ %s", challenge);
		break;
	case SASL_R_DONE:
		pop3_login(s, s->sasl.mech);
		break;
	case SASL_R_BAD_MECH:
		pop3_reply(s, "-ERR Unsupported authentication mechanism.");
		pop3_bad_command(s);
		break;
	case SASL_R_BAD_B64:
		pop3_reply(s, "-ERR Invalid base64 data.");
		pop3_bad_command(s);
		break;
	case SASL_R_FAILED:
		pop3_auth_failed(s);
		break;
	case SASL_R_CANCELLED:
		pop3_reply(s, "-ERR Authentication cancelled.");
		break;
	}
}

void
cmd_auth(struct pop3_session *s, char *args)
{
	char *initial = strchr(args, ' ');
	const char *challenge = "";
	enum sasl_result r;

	if (*args == '\0') {
		/* The pre-RFC 5034 listing some clients still ask for. */
		pop3_reply(s, "+OK\r\nPLAIN\r\nLOGIN\r\n.");
		return;
	}
	if (initial != NULL)
		*initial++ = '\0';
	r = sasl_begin(&s->sasl, args, initial, &challenge);
	pop3_sasl_result(s, r, challenge);
}

void
pop3_sasl_input(struct pop3_session *s, char *line)
{
	const char *challenge = "";
	enum sasl_result r = sasl_continue(&s->sasl, line, &challenge);

	pop3_sasl_result(s, r, challenge);
}

void
cmd_apop(struct pop3_session *s, char *args)
{
	(void)args;
	/* No timestamp in the greeting: APOP is not offered (it needs clear passwords). */
	pop3_reply(s, "-ERR [AUTH] APOP is not supported.");
	pop3_bad_command(s);
}
