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
#include <sys/socket.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "maildir/indexer.h"
#include "smtpd/session.h"

/* Received: (RFC 5321 §4.4, with-protocol per RFC 3848); Return-Path: is the Maildir's. */
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
	/* RFC 3848 / RFC 6531 §3.7.3: S for TLS, A for AUTH. */
	if (s->authenticated)
		proto = s->params.smtputf8 ? "UTF8SMTPSA" : "ESMTPSA";
	else if (s->params.smtputf8)
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
	buf_printf(&s->body, "Received: from %s ([%s%s])\r\n"
	    "\tby %s (Letterbox) with %s%s id %s.%u\r\n",
	    s->helo[0] ? s->helo : "unknown", v6 ? "IPv6:" : "", s->peer_ip,
	    cfg->hostname, proto, tlsinfo, s->id, s->messages + 1);
	if (s->nrcpt == 1)
		buf_printf(&s->body, "\tfor <%s>; %s\r\n", s->rcpt, date);
	else
		buf_printf(&s->body, "\t; %s\r\n", date);
}

/* The reply for a failure to store, by errno. */
static const char *
smtp_store_error(int e)
{
	if (e == ENOSPC || e == EDQUOT)
		return "452 4.3.1 Error: insufficient system storage";
	return "451 4.3.0 Error: local error in processing";
}

/*
 * Open the files the message goes into: the Maildir for the owner's own recipients
 * (with Return-Path:, RFC 5321 §4.4, added at final delivery), the queue for the
 * others (with its envelope). 0, or -1 with errno and nothing left open.
 */
static int
smtp_data_open(struct smtp_session *s)
{
	char rp[SMTP_PATH_MAX + 32];
	int n, saved;

	if (s->nlocal > 0) {
		n = snprintf(rp, sizeof(rp), "Return-Path: <%s>\r\n", s->from.text);
		if (maildir_delivery_begin(s->srv->md, &s->dlv) == -1 ||
		    maildir_delivery_write(&s->dlv, rp, (size_t)n) == -1)
			goto fail;
	}
	if (s->nremote > 0 && (s->srv->queue == NULL || queue_begin(s->srv->queue, &s->qdlv,
	    s->from.text, (const char *const *)s->remote, s->nremote, s->auth_user,
	    s->peer_ip) == -1))
		goto fail;
	return 0;
fail:
	saved = s->srv->queue == NULL && s->nremote > 0 ? ENOSYS : errno;
	log_warn("cannot start storing a message: %s", strerror(saved));
	maildir_delivery_abort(s->srv->md, &s->dlv);
	errno = saved;
	return -1;
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
	s->dlv.fd = s->qdlv.fd = -1;
	s->dlv.tmpname[0] = s->qdlv.tmpname[0] = '\0';
	/* Refused now rather than after the client has sent the whole body. */
	if (smtp_data_open(s) == -1) {
		smtp_reply(s, smtp_store_error(errno));
		smtp_tx_reset(s);	/* as after a refused message: the client starts over */
		return;
	}
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

/* Write the buffered body to each file the message goes into. */
static void
smtp_data_spill(struct smtp_session *s)
{
	struct maildir_delivery *d[2] = { &s->dlv, &s->qdlv };
	size_t i;

	for (i = 0; i < 2 && !smtp_data_doomed(s); i++)
		if (d[i]->fd != -1 && maildir_delivery_write(d[i], buf_head(&s->body),
		    buf_unread(&s->body)) == -1) {
			s->write_errno = errno;
			log_warn("write to %s tmp file", i == 0 ? "Maildir" : "queue");
		}
	buf_reset(&s->body);
}

void
smtp_data_abort(struct smtp_session *s, const char *why)
{
	if (why != NULL)
		log_info("client=%s message discarded: %s", s->peer_ip, why);
	maildir_delivery_abort(s->srv->md, &s->dlv);
	if (s->srv->queue != NULL)
		maildir_delivery_abort(&s->srv->queue->spool, &s->qdlv);
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

/*
 * Make the message durable wherever it goes: the queue first, then the Maildir; if the
 * second fails the first is taken back, so a 4xx never leaves a copy the client's
 * retry would duplicate. 0, or -1 with errno.
 */
static int
smtp_data_commit(struct smtp_session *s, char *name, char *qname)
{
	struct queue *q = s->srv->queue;
	int saved;

	if (s->qdlv.fd != -1 && maildir_delivery_commit(&q->spool, &s->qdlv, qname) == -1) {
		saved = errno;	/* syslog(3) may change it; it picks 452 or 451 */
		log_warn("cannot commit the queue file");
		errno = saved;
		return -1;
	}
	if (s->dlv.fd != -1 && maildir_delivery_commit(s->srv->md, &s->dlv, name) == -1) {
		saved = errno;
		log_warn("cannot commit tmp/%s", s->dlv.tmpname);
		if (qname[0] != '\0' && queue_remove(q, qname) == -1)
			log_warn("queue: cannot take back %s", qname);
		qname[0] = '\0';
		errno = saved;
		return -1;
	}
	return 0;
}

static void
smtp_data_finish(struct smtp_session *s)
{
	char name[MAILDIR_NAME_MAX + 1] = "", qname[QUEUE_ID_MAX + 1] = "";
	char from[SMTP_PATH_MAX * 4 + 1], to[SMTP_PATH_MAX * 4 + 1];
	const char *refusal = smtp_data_verdict(s);
	int saved;

	s->in_data = false;
	log_escape(from, sizeof(from), s->from.text, strlen(s->from.text));
	log_escape(to, sizeof(to), s->rcpt, strlen(s->rcpt));
	if (refusal == NULL) {
		smtp_data_spill(s);
		if (s->write_errno == 0 && smtp_data_commit(s, name, qname) == -1)
			s->write_errno = errno;
		if (s->write_errno != 0)
			refusal = smtp_store_error(s->write_errno);
	}
	if (refusal != NULL) {
		saved = s->write_errno;
		smtp_data_abort(s, NULL);
		log_info("refused id=%s.%u client=%s from=<%s> to=<%s> nrcpt=%u size=%llu "
		    "result=%.3s reason=\"%s\"%s%s", s->id, s->messages + 1, s->peer_ip, from,
		    to, s->nrcpt, (unsigned long long)s->dot.size, refusal, refusal + 4,
		    saved ? " errno=" : "", saved ? strerror(saved) : "");
		smtp_reply(s, refusal);
	} else {
		s->messages++;
		log_info("%s id=%s.%u client=%s from=<%s> to=<%s> nrcpt=%u local=%u remote=%zu "
		    "size=%llu result=250%s%s%s%s", qname[0] ? "queued" : "delivered", s->id,
		    s->messages, s->peer_ip, from, to, s->nrcpt, s->nlocal, s->nremote,
		    (unsigned long long)s->dot.size, name[0] ? " file=" : "", name,
		    qname[0] ? " queue_id=" : "", qname);
		smtp_replyf(s, "250 2.0.0 Ok: %s as %s.%u", qname[0] ? "queued" : "delivered",
		    s->id, s->messages);
		/* Durable now; the index and the queue runner learn of it without delay. */
		if (name[0] != '\0')
			indexer_notify(s->srv->index_fd, name, s->dlv.size, (uint64_t)time(NULL));
		if (qname[0] != '\0' && s->srv->queue_fd != -1 &&
		    send(s->srv->queue_fd, qname, strlen(qname), 0) == -1)
			log_warn("queue runner not told of %s; its next scan finds it", qname);
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
