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

static void
sasl_reset(struct pop3_session *s)
{
	s->sasl = SASL_STEP_NONE;
	sasl_creds_wipe(&s->creds);
}

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

	r = auth_ask(s->srv->auth_fd, "pop3", mech, s->peer_ip, s->id, &s->creds);
	log_escape(user, sizeof(user), s->creds.user, strlen(s->creds.user));
	sasl_reset(s);
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
	memcpy(s->creds.user, s->user, sizeof(s->creds.user));
	memcpy(s->creds.pass, args, n + 1);
	pop3_login(s, "USER");
}

/* A decoded PLAIN message, initial or answered. */
static void
sasl_plain(struct pop3_session *s, const char *b64)
{
	unsigned char msg[SASL_LINE_MAX];
	long n = sasl_b64_decode(b64, strlen(b64), msg, sizeof(msg));

	if (n < 0) {
		sodium_memzero(msg, sizeof(msg));
		sasl_reset(s);
		pop3_reply(s, "-ERR Invalid base64 data.");
		pop3_bad_command(s);
		return;
	}
	if (!sasl_plain_parse(msg, (size_t)n, &s->creds)) {
		sodium_memzero(msg, sizeof(msg));
		sasl_reset(s);
		/* Malformed, or asks to act as someone else: a failed login (RFC 4616 §2). */
		pop3_auth_failed(s);
		return;
	}
	sodium_memzero(msg, sizeof(msg));
	pop3_login(s, "PLAIN");
}

/* One LOGIN field; false (and the exchange ended) if it is not valid. */
static bool
sasl_login_take(struct pop3_session *s, const char *b64, char *out, size_t outsz)
{
	if (sasl_login_field(b64, out, outsz))
		return true;
	sasl_reset(s);
	pop3_reply(s, "-ERR Invalid base64 data.");
	pop3_bad_command(s);
	return false;
}

void
cmd_auth(struct pop3_session *s, char *args)
{
	char *initial = strchr(args, ' ');
	enum sasl_mech mech;

	if (*args == '\0') {
		/* The pre-RFC 5034 listing some clients still ask for. */
		pop3_reply(s, "+OK\r\nPLAIN\r\nLOGIN\r\n.");
		return;
	}
	if (initial != NULL)
		*initial++ = '\0';
	if ((mech = sasl_mech_parse(args)) == SASL_NONE) {
		pop3_reply(s, "-ERR Unsupported authentication mechanism.");
		pop3_bad_command(s);
		return;
	}
	/* RFC 5034 §4: "=" is an empty initial response. */
	if (initial != NULL && strcmp(initial, "=") == 0)
		initial[0] = '\0';
	if (mech == SASL_PLAIN) {
		if (initial != NULL)
			sasl_plain(s, initial);
		else {
			s->sasl = SASL_STEP_PLAIN;
			pop3_reply(s, "+ ");
		}
		return;
	}
	if (initial != NULL) {
		if (!sasl_login_take(s, initial, s->creds.user, sizeof(s->creds.user)))
			return;
		s->sasl = SASL_STEP_LOGIN_PASS;
		pop3_reply(s, "+ " SASL_LOGIN_PASSWORD);
		return;
	}
	s->sasl = SASL_STEP_LOGIN_USER;
	pop3_reply(s, "+ " SASL_LOGIN_USERNAME);
}

void
pop3_sasl_input(struct pop3_session *s, char *line)
{
	if (strcmp(line, "*") == 0) {
		sasl_reset(s);
		pop3_reply(s, "-ERR Authentication cancelled.");
		return;
	}
	switch (s->sasl) {
	case SASL_STEP_PLAIN:
		s->sasl = SASL_STEP_NONE;
		sasl_plain(s, line);
		break;
	case SASL_STEP_LOGIN_USER:
		if (!sasl_login_take(s, line, s->creds.user, sizeof(s->creds.user)))
			return;
		s->sasl = SASL_STEP_LOGIN_PASS;
		pop3_reply(s, "+ " SASL_LOGIN_PASSWORD);
		break;
	case SASL_STEP_LOGIN_PASS:
		if (!sasl_login_take(s, line, s->creds.pass, sizeof(s->creds.pass)))
			return;
		s->sasl = SASL_STEP_NONE;
		pop3_login(s, "LOGIN");
		break;
	case SASL_STEP_NONE:
		break;
	}
}

void
cmd_apop(struct pop3_session *s, char *args)
{
	(void)args;
	/* No timestamp in the greeting: APOP is not offered (it needs clear passwords). */
	pop3_reply(s, "-ERR [AUTH] APOP is not supported.");
	pop3_bad_command(s);
}
