/*
 * deliver: one delivery process's work: each message of its batch tried once, to the
 * smarthost or to each recipient domain's MX (RFC 5321 §5.1), then its state saved,
 * its permanent failures bounced (RFC 3464), or its files removed when it is done.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "maildir/indexer.h"
#include "queue/dsn.h"
#include "queue/runner.h"
#include "relay/dns.h"
#include "relay/smtp_client.h"

/* One open connection, kept for the batch: messages of a route share it. */
struct route_conn {
	struct smtpc	c;
	bool		open;
	char		route[DNS_HOST_MAX];	/* the domain, or "" for the smarthost */
	char		host[DNS_HOST_MAX];	/* the host it reached */
};

struct deliver {
	const struct queue_ctx	*ctx;
	struct dns_resolver	 dns;
	struct route_conn	 rc;
	time_t			 now;
};

static const char *
rcpt_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

/* Record one recipient's outcome; the log line is the delivery record (design.md §7). */
static void
deliver_outcome(struct deliver *d, struct queue_msg *m, size_t i, int code,
    const char *enhanced, const char *text, const char *host, bool remote)
{
	struct queue_rcpt *r = &m->rcpt[i];
	char st[DSN_STATUS_SIZE];

	r->last = d->now;
	snprintf(r->remote, sizeof(r->remote), "%s", remote ? host : "");
	if (remote)
		snprintf(r->reply, sizeof(r->reply), "%d %s%s%s", code, enhanced,
		    enhanced[0] ? " " : "", text);
	else
		snprintf(r->reply, sizeof(r->reply), "%s", text);
	if (enhanced[0] != '\0' && dsn_status_valid(enhanced))
		snprintf(r->dsn, sizeof(r->dsn), "%s", enhanced);
	else
		snprintf(r->dsn, sizeof(r->dsn), "%s",
		    dsn_status_from_reply(code, text, st, sizeof(st)));
	if (code >= 200 && code < 300)
		r->status = QR_DONE;
	else if (code >= 500 && code < 600)
		r->status = QR_FAILED;
	else
		r->status = QR_DEFERRED;
	log_info("delivery queue_id=%s to=<%s> relay=%s result=%s attempt=%u reply=\"%s\"",
	    m->id, r->addr, host[0] ? host : "none", r->status == QR_DONE ? "sent" :
	    r->status == QR_FAILED ? "bounced" : "deferred", m->attempts + 1, r->reply);
}

/* Our own failure (no remote reply) for recipients idx[0..n): status says 4 or 5. */
static void
deliver_local_failure(struct deliver *d, struct queue_msg *m, const size_t *idx, size_t n,
    const char *status, const char *why, const char *host)
{
	size_t k;
	int code = status[0] == '5' ? 550 : 451;

	for (k = 0; k < n; k++)
		deliver_outcome(d, m, idx[k], code, status, why, host, false);
}

static void
route_close(struct route_conn *rc)
{
	if (rc->open)
		smtpc_close(&rc->c);
	rc->open = false;
}

/*
 * Connect to route (a domain, or "" for the smarthost), trying its addresses in order.
 * 0, or -1 with a status and reason in status/why for the recipients.
 */
static int
route_open(struct deliver *d, const char *route, const char **status, char *why,
    size_t whysz)
{
	const struct settings *cfg = d->ctx->cfg;
	struct dns_target *t = xcalloc(DNS_TARGETS_MAX, sizeof(*t));
	struct smtpc_opts o;
	struct smtpc_reply r;
	enum dns_status ds;
	char host[DNS_HOST_MAX], ip[64];
	unsigned port = (unsigned)cfg->mx_port;
	size_t n = 0, i;
	int ret = -1;

	route_close(&d->rc);
	memset(&o, 0, sizeof(o));
	o.helo = cfg->hostname;
	o.tls_ctx = d->ctx->tls;
	o.connect_timeout_ms = (int)cfg->connect_timeout * 1000;
	o.command_timeout_ms = (int)cfg->command_timeout * 1000;
	if (route[0] == '\0') {
		/* The smarthost: as configured, certificate checked unless told not to. */
		util_parse_hostport(cfg->smarthost, host, sizeof(host), &port);
		ds = dns_host_targets(&d->dns, host, port, t, DNS_TARGETS_MAX, &n);
		o.tls = strcmp(cfg->smarthost_tls, "implicit") == 0 ? SMTPC_TLS_IMPLICIT :
		    strcmp(cfg->smarthost_tls, "none") == 0 ? SMTPC_TLS_NONE : SMTPC_TLS_STARTTLS;
		o.verify = cfg->smarthost_verify;
		o.server_name = host;
		o.auth_user = cfg->smarthost_user;
		o.auth_pass = d->ctx->smarthost_pass;
	} else {
		/* An MX: STARTTLS when offered, unauthenticated (RFC 7435 opportunistic). */
		snprintf(host, sizeof(host), "%s", route);
		ds = dns_mail_targets(&d->dns, route, port, t, DNS_TARGETS_MAX, &n);
		o.tls = SMTPC_TLS_OPPORTUNISTIC;
	}
	if (ds != DNS_OK) {
		*status = ds == DNS_NOTFOUND ? DSN_STATUS_NO_DOMAIN : ds == DNS_NULLMX ?
		    DSN_STATUS_NULL_MX : DSN_STATUS_DNS_TEMP;
		snprintf(why, whysz, "%s: DNS look-up: %s", host, ds == DNS_NULLMX ?
		    "the domain accepts no mail (null MX)" : ds == DNS_NOTFOUND ?
		    "no such domain" : "temporary failure");
		goto out;
	}
	*status = DSN_STATUS_REFUSED;
	snprintf(why, whysz, "%s: no address to try", host);
	for (i = 0; i < n; i++) {
		if (route[0] != '\0')
			o.server_name = t[i].host;
		if (smtpc_open(&d->rc.c, (struct sockaddr *)&t[i].addr, t[i].addrlen, &o,
		    &r) == 0) {
			d->rc.open = true;
			snprintf(d->rc.route, sizeof(d->rc.route), "%s", route);
			snprintf(d->rc.host, sizeof(d->rc.host), "%s", t[i].host);
			ret = 0;
			goto out;
		}
		util_sockaddr_ntop(&t[i].addr, ip, sizeof(ip));
		if (r.code == 0)
			snprintf(why, whysz, "%s[%s]:%u: %s", t[i].host, ip, port, r.text);
		else
			snprintf(why, whysz, "%s[%s]:%u said: %d %s %s", t[i].host, ip, port,
			    r.code, r.enhanced, r.text);
		*status = r.code == 0 ? DSN_STATUS_REFUSED : "4.0.0";
		log_info("connect relay=%s[%s]:%u failed: %s", t[i].host, ip, port, why);
	}
out:
	free(t);
	return ret;
}

/* Send m to the recipients idx[0..n) over the route's connection. */
static void
deliver_group(struct deliver *d, struct queue_msg *m, const size_t *idx, size_t n,
    const char *route, const char *dkim)
{
	struct smtpc_reply *rr = xcalloc(n, sizeof(*rr)), mr;
	const char **rcpts = xcalloc(n, sizeof(*rcpts));
	const char *status;
	char why[1200];
	size_t k;
	bool reused = d->rc.open && strcasecmp(d->rc.route, route) == 0;

	for (k = 0; k < n; k++)
		rcpts[k] = m->rcpt[idx[k]].addr;
	if (reused && smtpc_rset(&d->rc.c) == -1) {
		route_close(&d->rc);
		reused = false;
	}
	if (!reused && route_open(d, route, &status, why, sizeof(why)) == -1) {
		deliver_local_failure(d, m, idx, n, status, why, "");
		goto out;
	}
	memset(&mr, 0, sizeof(mr));
	if (smtpc_send(&d->rc.c, m->from, rcpts, n, m->fd, m->body_off, dkim, rr, &mr) == -1)
		route_close(&d->rc);
	for (k = 0; k < n; k++) {
		const struct smtpc_reply *r = &rr[k];

		/* An accepted recipient shares the fate of the message (its DATA reply). */
		if (r->code >= 200 && r->code < 300)
			r = &mr;
		if (r->code == 0)
			deliver_outcome(d, m, idx[k], 451, DSN_STATUS_TIMEOUT, r->text[0] ?
			    r->text : "connection lost", d->rc.host, false);
		else
			deliver_outcome(d, m, idx[k], r->code, r->enhanced, r->text,
			    d->rc.host, true);
	}
out:
	free(rr);
	free(rcpts);
}

/* Bounce (or warn of) the recipients matching action. */
static void
deliver_report(struct deliver *d, struct queue_msg *m, const bool *report,
    enum dsn_action action)
{
	const struct settings *cfg = d->ctx->cfg;
	struct dsn_rcpt *r = xcalloc(m->nrcpt, sizeof(*r));
	struct dsn_msg dm;
	char name[MAILDIR_NAME_MAX + 1];
	size_t i, n = 0;

	for (i = 0; i < m->nrcpt; i++) {
		if (!report[i])
			continue;
		r[n].addr = m->rcpt[i].addr;
		r[n].action = action;
		r[n].status = m->rcpt[i].dsn[0] ? m->rcpt[i].dsn : DSN_STATUS_EXPIRED;
		r[n].remote_mta = m->rcpt[i].remote[0] ? m->rcpt[i].remote : NULL;
		r[n].diagnostic = m->rcpt[i].reply[0] ? m->rcpt[i].reply : NULL;
		r[n].remote_reply = m->rcpt[i].remote[0] != '\0';
		r[n].last_attempt = m->rcpt[i].last;
		n++;
	}
	memset(&dm, 0, sizeof(dm));
	dm.reporting_mta = cfg->hostname;
	dm.sender = m->from;
	dm.queue_id = m->id;
	dm.arrival = m->created;
	dm.will_retry_until = m->created + (time_t)cfg->queue_lifetime;
	if (n == 0)
		;
	else if (dsn_deliver(d->ctx->md, &dm, r, n, m->fd, m->body_off, name) == -1)
		log_warn("queue_id=%s: cannot deliver the %s report", m->id,
		    action == DSN_FAILED ? "bounce" : "delay");
	else {
		log_info("queue_id=%s: %s report for %zu recipient(s) delivered as %s", m->id,
		    action == DSN_FAILED ? "bounce" : "delay", n, name);
		indexer_notify(d->ctx->index_fd, name, 0, (uint64_t)d->now);
	}
	free(r);
}

/* After the attempt: bounces, delay warning, give-up, then save or remove. */
static time_t
deliver_settle(struct deliver *d, struct queue_msg *m, const bool *was_failed)
{
	const struct settings *cfg = d->ctx->cfg;
	bool *report = xcalloc(m->nrcpt, sizeof(*report)), any = false;
	bool expired = d->now - m->created >= (time_t)cfg->queue_lifetime;
	size_t i;
	time_t next = 0;

	for (i = 0; i < m->nrcpt; i++) {
		struct queue_rcpt *r = &m->rcpt[i];

		/* Giving up (RFC 5321 §4.5.4.1): the last reason stands, class 5 for DSN. */
		if (expired && (r->status == QR_PENDING || r->status == QR_DEFERRED)) {
			r->status = QR_FAILED;
			if (r->dsn[0] == '\0' || r->dsn[0] == '4')
				snprintf(r->dsn, sizeof(r->dsn), "%s", DSN_STATUS_EXPIRED);
			log_info("delivery queue_id=%s to=<%s> result=expired after %lld s",
			    m->id, r->addr, (long long)(d->now - m->created));
		}
		report[i] = r->status == QR_FAILED && !was_failed[i];
		any |= report[i];
	}
	if (any)
		deliver_report(d, m, report, DSN_FAILED);
	m->attempts++;
	if (!queue_msg_finished(m) && !m->warned && cfg->delay_warning > 0 &&
	    d->now - m->created >= (time_t)cfg->delay_warning) {
		for (i = 0; i < m->nrcpt; i++)
			report[i] = m->rcpt[i].status == QR_DEFERRED;
		deliver_report(d, m, report, DSN_DELAYED);
		m->warned = true;
	}
	free(report);
	if (queue_msg_finished(m)) {
		if (queue_remove(d->ctx->q, m->id) == -1)
			log_warn("queue_id=%s: cannot remove", m->id);
		else
			log_info("queue_id=%s removed: every recipient done", m->id);
		return 0;
	}
	m->next = d->now + queue_backoff(cfg, m->attempts);
	/* Never past the give-up time by much: the last try is at the deadline. */
	if (m->next > m->created + (time_t)cfg->queue_lifetime)
		m->next = m->created + (time_t)cfg->queue_lifetime;
	if (queue_state_save(d->ctx->q, m) == -1)
		log_warn("queue_id=%s: cannot save the state", m->id);
	next = m->next;
	return next;
}

/* One message: every pending recipient, grouped by route. The next time, 0 if gone. */
static time_t
deliver_message(struct deliver *d, const char *id)
{
	struct queue_msg m;
	bool *was_failed, *pending;
	size_t *idx, i, j, n;
	char route[DNS_HOST_MAX];
	char *dkim = NULL;
	time_t next;

	if (queue_msg_load(d->ctx->q, id, &m) == -1) {
		if (errno != ENOENT)
			log_warn("queue_id=%s: cannot load; left for a later run", id);
		queue_msg_free(&m);
		return errno == ENOENT ? 0 : d->now + (time_t)d->ctx->cfg->retry_max;
	}
	/*
	 * "letterbox queue delete" holds this lock while it removes a message, and so
	 * does, for a moment, the delivery process of a runner that was just killed
	 * (helper_fork: SIGKILL, asynchronous). Both let go within moments: look again soon.
	 */
	if (flock(m.fd, LOCK_EX | LOCK_NB) == -1) {
		queue_msg_free(&m);
		return d->now + 5;
	}
	if (dkim_signer_active(d->ctx->dkim) &&
	    (dkim = dkim_sign_fd(d->ctx->dkim, m.fd, m.body_off, time(NULL))) == NULL)
		log_warnx("queue_id=%s: cannot DKIM-sign (no From: field?); sent unsigned",
		    m.id);
	was_failed = xcalloc(m.nrcpt, sizeof(*was_failed));
	pending = xcalloc(m.nrcpt, sizeof(*pending));
	idx = xcalloc(m.nrcpt, sizeof(*idx));
	for (i = 0; i < m.nrcpt; i++) {
		was_failed[i] = m.rcpt[i].status == QR_FAILED;
		pending[i] = m.rcpt[i].status == QR_PENDING || m.rcpt[i].status == QR_DEFERRED;
	}
	/* Recipients of one domain (or all, through the smarthost) go in one transaction. */
	for (i = 0; i < m.nrcpt; i++) {
		if (!pending[i])
			continue;
		snprintf(route, sizeof(route), "%s", d->ctx->cfg->smarthost != NULL ? "" :
		    rcpt_domain(m.rcpt[i].addr));
		for (n = 0, j = i; j < m.nrcpt; j++)
			if (pending[j] && (route[0] == '\0' ||
			    strcasecmp(rcpt_domain(m.rcpt[j].addr), route) == 0)) {
				idx[n++] = j;
				pending[j] = false;
			}
		deliver_group(d, &m, idx, n, route, dkim);
	}
	next = deliver_settle(d, &m, was_failed);
	free(was_failed);
	free(pending);
	free(idx);
	free(dkim);
	queue_msg_free(&m);
	return next;
}

void
queue_deliver(const struct queue_ctx *ctx, char *const *ids, size_t n, int report_fd)
{
	struct deliver d;
	char line[QUEUE_ID_MAX + 32];
	size_t i;
	int len;

	memset(&d, 0, sizeof(d));
	d.ctx = ctx;
	if (dns_resolver_init(&d.dns, ctx->cfg->dns_resolver, 5) == -1)
		log_warnx("DNS resolver: cannot initialise; MX look-ups will fail");
	for (i = 0; i < n; i++) {
		d.now = time(NULL);
		len = snprintf(line, sizeof(line), "%s %lld\n", ids[i],
		    (long long)deliver_message(&d, ids[i]));
		if (write(report_fd, line, (size_t)len) != len)
			log_warn("queue: report to the runner");
	}
	route_close(&d.rc);
	dns_resolver_free(&d.dns);
}

time_t
queue_backoff(const struct settings *cfg, unsigned attempts)
{
	unsigned long long delay = cfg->retry_initial;
	uint32_t rnd;

	while (attempts-- > 1 && delay < cfg->retry_max)
		delay *= 2;
	if (delay > cfg->retry_max)
		delay = cfg->retry_max;
	/* ±10% so that messages deferred together do not all come back together. */
	util_random(&rnd, sizeof(rnd));
	delay = delay * (900 + rnd % 201) / 1000;
	return delay > 0 ? (time_t)delay : 1;
}

void
queue_route(const struct settings *cfg, const struct queue_msg *m, char *out, size_t outsz)
{
	size_t i;

	out[0] = '\0';
	if (cfg->smarthost != NULL)
		return;
	for (i = 0; i < m->nrcpt; i++)
		if (m->rcpt[i].status == QR_PENDING || m->rcpt[i].status == QR_DEFERRED) {
			snprintf(out, outsz, "%s", rcpt_domain(m->rcpt[i].addr));
			return;
		}
}
