/*
 * cmd_data: DATA (RFC 5321 §4.1.1.4) and the body mode that follows 354.
 *
 * The body streams into the Maildir tmp/ file in chunks as it arrives (memory stays
 * bounded for any size); the trace header fields go first. At the end-of-data marker
 * the message is either rejected (bad content, too big, too many hops: the tmp file is
 * unlinked) or committed: fdatasync, rename into new/, fsync(new/). Only then is the
 * 250 queued — a 2xx always means the message is on disk (design.md invariant).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "maildir/indexer.h"
#include "smtpd/session.h"

/* Return-Path: (RFC 5321 §4.4) and Received: (§4.4, with-protocol per RFC 3848). */
static void
smtp_trace_headers(struct smtp_session *s)
{
	const struct settings *cfg = s->srv->cfg;
	char date[64], tlsinfo[160] = "";
	const char *proto;
	struct tm tm;
	time_t now = time(NULL);
	bool v6 = strchr(s->peer_ip, ':') != NULL;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	if (s->params.smtputf8)
		proto = s->is_tls ? "UTF8SMTPS" : "UTF8SMTP";
	else if (!s->esmtp)
		proto = s->is_tls ? "SMTPS" : "SMTP";
	else
		proto = s->is_tls ? "ESMTPS" : "ESMTP";
	if (s->is_tls) {
		char d[128];

		tls_describe(s->conn.ssl, d, sizeof(d));
		snprintf(tlsinfo, sizeof(tlsinfo), " (%s)", d);
	}
	buf_printf(&s->body, "Return-Path: <%s>\r\n", s->from.text);
	buf_printf(&s->body, "Received: from %s ([%s%s])\r\n"
	    "\tby %s (Letterbox) with %s%s id %s.%u\r\n",
	    s->helo[0] ? s->helo : "unknown", v6 ? "IPv6:" : "", s->peer_ip,
	    cfg->hostname, proto, tlsinfo, s->id, s->messages + 1);
	if (s->nrcpt == 1)
		buf_printf(&s->body, "\tfor <%s>; %s\r\n", s->rcpt, date);
	else
		buf_printf(&s->body, "\t; %s\r\n", date);
}

void
cmd_data(struct smtp_session *s, char *args)
{
	(void)args;
	/* RFC 5321 §3.3: no RCPT at all is a bad sequence (503)... */
	if (!s->rcpt_tried) {
		smtp_reply(s, "503 5.5.1 Error: need RCPT command");
		smtp_bad_command(s);
		return;
	}
	/* ...and RFC 2920 §3.1: DATA after every RCPT failed gets 554, not 354. */
	if (s->nrcpt == 0) {
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	buf_reset(&s->body);
	dot_init(&s->dot, s->srv->cfg->max_message_size);
	s->write_errno = 0;
	s->dlv.fd = -1;
	s->dlv.tmpname[0] = '\0';
	smtp_trace_headers(s);
	s->in_data = true;
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* The message will be refused whatever follows: stop storing it. */
static bool
smtp_data_doomed(const struct smtp_session *s)
{
	return s->write_errno != 0 || (s->dot.flags & (DOT_BARE_LF | DOT_BARE_CR | DOT_NUL |
	    DOT_TOOBIG | DOT_LONGLINE)) != 0;
}

/* Write the buffered body to the tmp file, opening it on first use. */
static void
smtp_data_spill(struct smtp_session *s)
{
	if (smtp_data_doomed(s)) {
		buf_reset(&s->body);
		return;
	}
	if (s->dlv.fd == -1 && maildir_delivery_begin(s->srv->md, &s->dlv) == -1) {
		s->write_errno = errno;
		log_warn("cannot create a file in tmp/");
	} else if (maildir_delivery_write(&s->dlv, buf_head(&s->body),
	    buf_unread(&s->body)) == -1) {
		s->write_errno = errno;
		log_warn("write to tmp/%s", s->dlv.tmpname);
	}
	buf_reset(&s->body);
}

void
smtp_data_abort(struct smtp_session *s, const char *why)
{
	if (why != NULL)
		log_info("client=%s message discarded: %s", s->peer_ip, why);
	maildir_delivery_abort(s->srv->md, &s->dlv);
	buf_reset(&s->body);
	s->in_data = false;
}

/* The reply for a message that cannot be accepted, or NULL if it can. */
static const char *
smtp_data_verdict(const struct smtp_session *s)
{
	unsigned f = s->dot.flags;

	if (f & DOT_TOOBIG)
		return "552 5.3.4 Error: message size exceeds fixed maximum message size";
	if (f & (DOT_BARE_LF | DOT_BARE_CR))
		return "554 5.6.0 Error: bare CR or LF in message (RFC 5321 2.3.8)";
	if (f & DOT_NUL)
		return "554 5.6.0 Error: NUL byte in message (RFC 5322 2.3)";
	if (f & DOT_LONGLINE)
		return "554 5.6.0 Error: message has a line over 65536 octets";
	/* RFC 5321 §6.3: too many Received: fields means a loop. */
	if (s->dot.received > s->srv->cfg->max_hops)
		return "554 5.4.6 Error: too many hops, mail loop detected";
	return NULL;
}

static void
smtp_data_finish(struct smtp_session *s)
{
	char name[MAILDIR_NAME_MAX + 1] = "", from[SMTP_PATH_MAX * 4 + 1], to[SMTP_PATH_MAX * 4 + 1];
	const char *refusal = smtp_data_verdict(s);
	int saved;

	s->in_data = false;
	log_escape(from, sizeof(from), s->from.text, strlen(s->from.text));
	log_escape(to, sizeof(to), s->rcpt, strlen(s->rcpt));
	if (refusal == NULL) {
		smtp_data_spill(s);
		if (s->write_errno == 0 &&
		    maildir_delivery_commit(s->srv->md, &s->dlv, name) == -1) {
			s->write_errno = errno;
			log_warn("cannot commit tmp/%s", s->dlv.tmpname);
		}
		if (s->write_errno == ENOSPC || s->write_errno == EDQUOT)
			refusal = "452 4.3.1 Error: insufficient system storage";
		else if (s->write_errno != 0)
			refusal = "451 4.3.0 Error: local error in processing";
	}
	if (refusal != NULL) {
		saved = s->write_errno;
		maildir_delivery_abort(s->srv->md, &s->dlv);
		log_info("refused id=%s.%u client=%s from=<%s> to=<%s> nrcpt=%u size=%llu "
		    "result=%.3s reason=\"%s\"%s%s", s->id, s->messages + 1, s->peer_ip, from,
		    to, s->nrcpt, (unsigned long long)s->dot.size, refusal, refusal + 4,
		    saved ? " errno=" : "", saved ? strerror(saved) : "");
		smtp_reply(s, refusal);
	} else {
		s->messages++;
		log_info("delivered id=%s.%u client=%s from=<%s> to=<%s> nrcpt=%u size=%llu "
		    "result=250 file=%s", s->id, s->messages, s->peer_ip, from, to, s->nrcpt,
		    (unsigned long long)s->dlv.size, name);
		smtp_replyf(s, "250 2.0.0 Ok: delivered as %s.%u", s->id, s->messages);
		/* Durable now; the index learns of it without delaying the reply. */
		indexer_notify(s->srv->index_fd, name, s->dlv.size, (uint64_t)time(NULL));
	}
	buf_reset(&s->body);
	smtp_tx_reset(s);
}

int
smtp_data_input(struct smtp_session *s)
{
	size_t used;
	int r;

	r = dot_feed(&s->dot, buf_head(&s->conn.in), buf_unread(&s->conn.in), &used,
	    &s->body);
	if (r == -1) {
		/* Cannot happen while spills keep the body under its cap; fail safe. */
		s->write_errno = ENOBUFS;
		buf_reset(&s->body);
		return 0;
	}
	buf_consume(&s->conn.in, used);
	if (buf_unread(&s->body) >= SMTP_BODY_CHUNK || smtp_data_doomed(s))
		smtp_data_spill(s);
	if (r == 1) {
		smtp_data_finish(s);
		return 1;
	}
	return 0;
}
