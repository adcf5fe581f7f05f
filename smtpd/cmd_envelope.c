/*
 * cmd_envelope: MAIL and RCPT (RFC 5321 §4.1.1.2-3). The recipient policy lives in
 * policy.c; this file turns its verdicts and the parser's into replies.
 */
#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "smtpd/policy.h"
#include "smtpd/session.h"

static bool
smtp_has_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* The reply for a path the parser refused; who is "sender" or "recipient". */
static void
smtp_reply_path_error(struct smtp_session *s, enum addr_result r, const char *who)
{
	switch (r) {
	case ADDR_TOOLONG:
		/* RFC 5321 §4.5.3.1.10 allows 501 or 553 for a path over the limits. */
		smtp_replyf(s, "501 5.1.%d Error: %s address too long",
		    who[0] == 's' ? 7 : 3, who);
		break;
	case ADDR_UTF8:
		/* RFC 6531 §3.5: a non-ASCII address without SMTPUTF8. */
		smtp_replyf(s, "553 5.6.7 Error: non-ASCII %s address needs SMTPUTF8", who);
		break;
	case ADDR_PARAM:
		smtp_replyf(s, "555 5.5.4 Error: unsupported %s parameter",
		    who[0] == 's' ? "MAIL" : "RCPT");
		break;
	default:
		/* RFC 3463: X.1.7 bad sender syntax, X.1.3 bad recipient syntax. */
		smtp_replyf(s, "501 5.1.%d Error: bad %s address syntax",
		    who[0] == 's' ? 7 : 3, who);
		break;
	}
	smtp_bad_command(s);
}

void
cmd_mail(struct smtp_session *s, char *args)
{
	const struct settings *cfg = s->srv->cfg;
	struct smtp_mail_params params;
	struct smtp_path path;
	const char *arg, *rest;
	enum addr_result r;
	char esc[SMTP_PATH_MAX * 4 + 1];

	/* RFC 4954 §6 / RFC 6409 §4.3: submission is for the authenticated owner only. */
	if (s->submission && !s->authenticated) {
		smtp_reply(s, "530 5.7.0 Authentication required");
		smtp_bad_command(s);
		return;
	}
	if ((arg = smtp_path_arg(args, "FROM")) == NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		smtp_bad_command(s);
		return;
	}
	if ((r = smtp_parse_path(arg, true, false, true, &path, &rest)) != ADDR_OK) {
		smtp_reply_path_error(s, r, "sender");
		return;
	}
	if (*rest != '\0' && *rest != ' ') {
		smtp_reply_path_error(s, ADDR_SYNTAX, "sender");
		return;
	}
	if ((r = smtp_parse_mail_params(rest, &params)) != ADDR_OK) {
		smtp_reply_path_error(s, r, "sender");
		return;
	}
	if (!params.smtputf8 && smtp_has_8bit(path.text)) {
		smtp_reply_path_error(s, ADDR_UTF8, "sender");
		return;
	}
	/* RFC 1870 §6.2: a declared size over our maximum is refused at once. */
	if (params.has_size && params.size > cfg->max_message_size) {
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed maximum message size");
		return;
	}
	/* RFC 6409 §6.1: the submission server may check the sender is the user's own. */
	if (s->submission && !policy_owner_sender(cfg, &path)) {
		log_info("refused client=%s user=\"%s\" from=<%s> reason=not-owner-address",
		    s->peer_ip, s->auth_user, log_escape(esc, sizeof(esc), path.text,
		    strlen(path.text)));
		smtp_reply(s, "553 5.7.1 Error: sender address is not one of yours");
		smtp_bad_command(s);
		return;
	}
	s->from = path;
	s->params = params;
	s->nrcpt = 0;
	s->state = SMTP_STATE_MAIL;
	smtp_reply(s, "250 2.1.0 Ok");
}

void
cmd_rcpt(struct smtp_session *s, char *args)
{
	const struct settings *cfg = s->srv->cfg;
	struct smtp_path path;
	const char *arg, *rest;
	enum addr_result r;
	char esc[SMTP_PATH_MAX * 4 + 1], fesc[SMTP_PATH_MAX * 4 + 1];
	const char *refusal = NULL, *reason = NULL;

	s->rcpt_tried = true;
	if ((arg = smtp_path_arg(args, "TO")) == NULL) {
		smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		smtp_bad_command(s);
		return;
	}
	if ((r = smtp_parse_path(arg, false, true, true, &path, &rest)) != ADDR_OK) {
		smtp_reply_path_error(s, r, "recipient");
		return;
	}
	/* No RCPT parameters are advertised (no DSN): any is unsupported. */
	if (*rest != '\0') {
		r = *rest == ' ' ? ADDR_PARAM : ADDR_SYNTAX;
		while (*rest == ' ')
			rest++;
		if (*rest != '\0') {
			smtp_reply_path_error(s, r, "recipient");
			return;
		}
	}
	if (!s->params.smtputf8 && smtp_has_8bit(path.text)) {
		smtp_reply_path_error(s, ADDR_UTF8, "recipient");
		return;
	}
	/* RFC 5321 §4.5.3.1.10: 452 for too many recipients, the client retries later. */
	if (s->nrcpt >= cfg->max_recipients) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	switch (policy_rcpt(cfg, &path)) {
	case RCPT_LOCAL:
		s->nlocal++;
		break;
	case RCPT_UNKNOWN_USER:
		refusal = "550 5.1.1 Error: no such user here";
		reason = "unknown-user";
		break;
	case RCPT_RELAY_DENIED:
		/* Authenticated submission may send anywhere: the queue takes it. */
		if (s->submission && s->authenticated) {
			s->remote = xreallocarray(s->remote, s->nremote + 1, sizeof(*s->remote));
			s->remote[s->nremote++] = xstrdup(path.text);
			break;
		}
		refusal = "550 5.7.1 Error: relay access denied";
		reason = "relay-denied";
		break;
	}
	if (refusal != NULL) {
		log_info("refused client=%s from=<%s> to=<%s> result=%.3s reason=%s",
		    s->peer_ip, log_escape(fesc, sizeof(fesc), s->from.text,
		    strlen(s->from.text)), log_escape(esc, sizeof(esc), path.text,
		    strlen(path.text)), refusal, reason);
		smtp_reply(s, refusal);
		smtp_bad_command(s);
		return;
	}
	if (s->nrcpt == 0)
		snprintf(s->rcpt, sizeof(s->rcpt), "%s", path.text);
	s->nrcpt++;
	s->state = SMTP_STATE_RCPT;
	smtp_reply(s, "250 2.1.5 Ok");
}
