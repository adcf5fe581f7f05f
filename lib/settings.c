/*
 * settings: the Letterbox configuration table (see settings.h, etc/letterbox.conf).
 */
#include <arpa/inet.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/conf.h"
#include "lib/settings.h"
#include "lib/util.h"

#define S(f)	offsetof(struct settings, f)
#define NOLIMIT	0, 0

static const struct conf_key settings_keys[] = {
	{ "hostname",			CONF_STR,	NULL, NOLIMIT, S(hostname) },
	{ "domains",			CONF_LIST,	NULL, NOLIMIT, S(domains) },
	{ "local_parts",		CONF_LIST,	"postmaster", NOLIMIT, S(local_parts) },
	{ "subaddress_delimiters",	CONF_STR,	"+", NOLIMIT, S(subaddress_delimiters) },
	{ "maildir",			CONF_STR,	NULL, NOLIMIT, S(maildir) },
	{ "index",			CONF_BOOL,	"yes", NOLIMIT, S(index) },
	{ "index_dir",			CONF_STR,	NULL, NOLIMIT, S(index_dir) },
	{ "index_resync",		CONF_SECONDS,	"5m", 1, 86400, S(index_resync) },
	{ "user",			CONF_STR,	NULL, NOLIMIT, S(user) },
	{ "smtp_listen",		CONF_LIST,	"127.0.0.1:25", NOLIMIT, S(smtp_listen) },
	{ "smtps_listen",		CONF_LIST,	NULL, NOLIMIT, S(smtps_listen) },
	{ "submission_listen",		CONF_LIST,	NULL, NOLIMIT, S(submission_listen) },
	{ "submissions_listen",		CONF_LIST,	NULL, NOLIMIT, S(submissions_listen) },
	{ "pop3_listen",		CONF_LIST,	NULL, NOLIMIT, S(pop3_listen) },
	{ "pop3s_listen",		CONF_LIST,	NULL, NOLIMIT, S(pop3s_listen) },
	{ "pop3_idle_timeout",		CONF_SECONDS,	"10m", 1, 86400, S(pop3_idle_timeout) },
	{ "pop3_session_timeout",	CONF_SECONDS,	"4h", 1, 7 * 86400, S(pop3_session_timeout) },
	{ "plaintext_auth_loopback",	CONF_BOOL,	"no", NOLIMIT, S(plaintext_auth_loopback) },
	{ "pam_service",		CONF_STR,	"letterbox", NOLIMIT, S(pam_service) },
	{ "state_dir",			CONF_STR,	"/var/lib/letterbox", NOLIMIT, S(state_dir) },
	{ "tls_cert",			CONF_STR,	NULL, NOLIMIT, S(tls_cert) },
	{ "tls_key",			CONF_STR,	NULL, NOLIMIT, S(tls_key) },
	{ "tls_session_tickets",	CONF_BOOL,	"yes", NOLIMIT, S(tls_session_tickets) },
	{ "tls_check_interval",		CONF_SECONDS,	"60s", 0, 86400, S(tls_check_interval) },
	{ "max_message_size",		CONF_SIZE,	"35M", 1024, 1ULL << 30, S(max_message_size) },
	{ "max_recipients",		CONF_UINT,	"100", 1, 10000, S(max_recipients) },
	{ "max_sessions",		CONF_UINT,	"100", 1, 10000, S(max_sessions) },
	{ "max_sessions_per_ip",	CONF_UINT,	"10", 1, 10000, S(max_sessions_per_ip) },
	{ "max_bad_commands",		CONF_UINT,	"20", 1, 1000, S(max_bad_commands) },
	{ "max_hops",			CONF_UINT,	"50", 1, 1000, S(max_hops) },
	{ "idle_timeout",		CONF_SECONDS,	"5m", 1, 86400, S(idle_timeout) },
	{ "data_timeout",		CONF_SECONDS,	"10m", 1, 86400, S(data_timeout) },
	{ "session_timeout",		CONF_SECONDS,	"1h", 1, 7 * 86400, S(session_timeout) },
	{ "tmp_max_age",		CONF_SECONDS,	"36h", 60, 365 * 86400ULL, S(tmp_max_age) },
	{ "dns_resolver",		CONF_STR,	NULL, NOLIMIT, S(dns_resolver) },
	{ "mx_port",			CONF_UINT,	"25", 1, 65535, S(mx_port) },
	{ "smarthost",			CONF_STR,	NULL, NOLIMIT, S(smarthost) },
	{ "smarthost_tls",		CONF_STR,	"starttls", NOLIMIT, S(smarthost_tls) },
	{ "smarthost_user",		CONF_STR,	NULL, NOLIMIT, S(smarthost_user) },
	{ "smarthost_password_file",	CONF_STR,	NULL, NOLIMIT, S(smarthost_password_file) },
	{ "smarthost_verify",		CONF_BOOL,	"yes", NOLIMIT, S(smarthost_verify) },
	{ "tls_ca_file",		CONF_STR,	NULL, NOLIMIT, S(tls_ca_file) },
	{ "queue_concurrency",		CONF_UINT,	"8", 1, 100, S(queue_concurrency) },
	{ "retry_initial",		CONF_SECONDS,	"5m", 1, 86400, S(retry_initial) },
	{ "retry_max",			CONF_SECONDS,	"1h", 1, 7 * 86400, S(retry_max) },
	{ "queue_lifetime",		CONF_SECONDS,	"5d", 1, 60 * 86400, S(queue_lifetime) },
	{ "delay_warning",		CONF_SECONDS,	"4h", 0, 60 * 86400, S(delay_warning) },
	{ "connect_timeout",		CONF_SECONDS,	"30s", 1, 3600, S(connect_timeout) },
	{ "command_timeout",		CONF_SECONDS,	"5m", 1, 3600, S(command_timeout) },
	{ "dkim_domain",		CONF_STR,	NULL, NOLIMIT, S(dkim_domain) },
	{ "dkim_selector",		CONF_STR,	"letterbox", NOLIMIT, S(dkim_selector) },
	{ "dkim_ed25519_key",		CONF_STR,	NULL, NOLIMIT, S(dkim_ed25519_key) },
	{ "dkim_rsa_key",		CONF_STR,	NULL, NOLIMIT, S(dkim_rsa_key) },
	{ "public_address",		CONF_STR,	NULL, NOLIMIT, S(public_address) },
};
#define NKEYS	(sizeof(settings_keys) / sizeof(settings_keys[0]))

/* Every listener address must parse. */
static int
settings_verify_listen(const struct settings *s, const char *name, char *err, size_t errsz)
{
	const struct conf_list *lists[] = { &s->smtp_listen, &s->smtps_listen,
	    &s->submission_listen, &s->submissions_listen, &s->pop3_listen,
	    &s->pop3s_listen };
	struct lb_sockaddr sa;
	size_t i, j;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
		for (j = 0; j < lists[i]->n; j++)
			if (util_parse_listen(lists[i]->v[j], &sa) == -1) {
				snprintf(err, errsz, "%s: \"%.64s\" is not ADDRESS:PORT", name,
				    lists[i]->v[j]);
				return -1;
			}
	return 0;
}

/* Defaults that depend on other keys. -1 when out of memory. */
static int
settings_defaults(struct settings *s)
{
	char p[4096];

	if (s->dkim_domain == NULL && (s->dkim_domain = strdup(s->domains.v[0])) == NULL)
		return -1;
	if (s->dkim_ed25519_key == NULL) {
		snprintf(p, sizeof(p), "%s/dkim/%s.ed25519.pem", s->state_dir, s->dkim_selector);
		if ((s->dkim_ed25519_key = strdup(p)) == NULL)
			return -1;
	}
	if (s->dkim_rsa_key == NULL) {
		snprintf(p, sizeof(p), "%s/dkim/%s.rsa.pem", s->state_dir, s->dkim_selector);
		if ((s->dkim_rsa_key = strdup(p)) == NULL)
			return -1;
	}
	return 0;
}

static int
settings_verify(struct settings *s, const char *name, char *err, size_t errsz)
{
	struct lb_sockaddr sa;
	unsigned char buf[sizeof(struct in6_addr)];
	size_t i;

	if (s->hostname == NULL) {
		char h[256];

		if (gethostname(h, sizeof(h)) == -1)
			snprintf(h, sizeof(h), "localhost");
		h[sizeof(h) - 1] = '\0';
		if ((s->hostname = strdup(h)) == NULL)
			goto nomem;
	}
	if (!util_is_hostname(s->hostname)) {
		snprintf(err, errsz, "%s: hostname \"%.64s\" is not a valid host name", name,
		    s->hostname);
		return -1;
	}
	if (s->domains.n == 0) {
		snprintf(err, errsz, "%s: domains: at least one domain is required", name);
		return -1;
	}
	for (i = 0; i < s->domains.n; i++)
		if (!util_is_hostname(s->domains.v[i])) {
			snprintf(err, errsz, "%s: domains: \"%.64s\" is not a domain name", name,
			    s->domains.v[i]);
			return -1;
		}
	for (i = 0; i < s->local_parts.n; i++)
		if (!util_is_local_part(s->local_parts.v[i])) {
			snprintf(err, errsz, "%s: local_parts: \"%.64s\" is not a plain local part",
			    name, s->local_parts.v[i]);
			return -1;
		}
	if (s->maildir == NULL) {
		snprintf(err, errsz, "%s: maildir: required", name);
		return -1;
	}
	if (s->smtp_listen.n + s->smtps_listen.n + s->submission_listen.n +
	    s->submissions_listen.n == 0) {
		snprintf(err, errsz, "%s: smtp_listen, smtps_listen, submission_listen or "
		    "submissions_listen: nothing to listen on", name);
		return -1;
	}
	if (settings_verify_listen(s, name, err, errsz) == -1)
		return -1;
	if (s->smarthost != NULL && util_parse_hostport(s->smarthost, NULL, 0, NULL) == -1) {
		snprintf(err, errsz, "%s: smarthost: \"%.64s\" is not HOST:PORT", name,
		    s->smarthost);
		return -1;
	}
	if (strcmp(s->smarthost_tls, "starttls") != 0 && strcmp(s->smarthost_tls,
	    "implicit") != 0 && strcmp(s->smarthost_tls, "none") != 0) {
		snprintf(err, errsz, "%s: smarthost_tls: starttls, implicit or none", name);
		return -1;
	}
	if ((s->smarthost_user == NULL) != (s->smarthost_password_file == NULL)) {
		snprintf(err, errsz, "%s: smarthost_user and smarthost_password_file go "
		    "together", name);
		return -1;
	}
	if (s->smarthost_user != NULL && strcmp(s->smarthost_tls, "none") == 0) {
		snprintf(err, errsz, "%s: smarthost_user: AUTH needs smarthost_tls starttls or "
		    "implicit (passwords never travel in the clear)", name);
		return -1;
	}
	if (s->dns_resolver != NULL && util_parse_listen(s->dns_resolver, &sa) == -1) {
		snprintf(err, errsz, "%s: dns_resolver: \"%.64s\" is not ADDRESS:PORT", name,
		    s->dns_resolver);
		return -1;
	}
	if (s->public_address != NULL && inet_pton(AF_INET, s->public_address, buf) != 1 &&
	    inet_pton(AF_INET6, s->public_address, buf) != 1) {
		snprintf(err, errsz, "%s: public_address: \"%.64s\" is not an IPv4 or IPv6 "
		    "address", name, s->public_address);
		return -1;
	}
	if (s->retry_max < s->retry_initial) {
		snprintf(err, errsz, "%s: retry_max must not be less than retry_initial", name);
		return -1;
	}
	if (settings_defaults(s) == -1)
		goto nomem;
	if (!util_is_hostname(s->dkim_domain) || !util_is_hostname(s->dkim_selector)) {
		snprintf(err, errsz, "%s: dkim_domain and dkim_selector must be domain names",
		    name);
		return -1;
	}
	if (s->pam_service[0] == '\0' || strchr(s->pam_service, '/') != NULL) {
		snprintf(err, errsz, "%s: pam_service: a file name in /etc/pam.d", name);
		return -1;
	}
	if (s->state_dir[0] != '/') {
		snprintf(err, errsz, "%s: state_dir: must be an absolute path", name);
		return -1;
	}
	if ((s->tls_cert == NULL) != (s->tls_key == NULL)) {
		snprintf(err, errsz, "%s: tls_cert and tls_key go together", name);
		return -1;
	}
	/* Implicit TLS needs a key; so does submission: AUTH only over TLS (RFC 8314). */
	if (s->tls_cert == NULL && (s->smtps_listen.n || s->pop3s_listen.n ||
	    s->submission_listen.n || s->submissions_listen.n)) {
		snprintf(err, errsz, "%s: %s needs tls_cert and tls_key", name,
		    s->smtps_listen.n ? "smtps_listen" : s->pop3s_listen.n ? "pop3s_listen" :
		    s->submission_listen.n ? "submission_listen" : "submissions_listen");
		return -1;
	}
	return 0;
nomem:
	snprintf(err, errsz, "%s: out of memory", name);
	return -1;
}

int
settings_parse(struct settings *s, const char *text, size_t len, const char *name,
    char *err, size_t errsz)
{
	memset(s, 0, sizeof(*s));
	if (conf_parse(settings_keys, NKEYS, s, text, len, name, err, errsz) == -1)
		return -1;
	return settings_verify(s, name, err, errsz);
}

int
settings_load(struct settings *s, const char *path, char *err, size_t errsz)
{
	memset(s, 0, sizeof(*s));
	if (conf_load(settings_keys, NKEYS, s, path, err, errsz) == -1)
		return -1;
	return settings_verify(s, path, err, errsz);
}

static const struct conf_key *
settings_key(const char *key)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(settings_keys[i].name, key) == 0)
			return &settings_keys[i];
	return NULL;
}

int
settings_key_same(const struct settings *a, const struct settings *b, const char *key)
{
	const struct conf_key *k = settings_key(key);
	const char *pa, *pb;
	const struct conf_list *la, *lb;
	size_t i;

	if (k == NULL)
		return 1;
	pa = (const char *)a + k->offset;
	pb = (const char *)b + k->offset;
	switch (k->type) {
	case CONF_STR:
		pa = *(char *const *)(const void *)pa;
		pb = *(char *const *)(const void *)pb;
		return pa == pb || (pa != NULL && pb != NULL && strcmp(pa, pb) == 0);
	case CONF_LIST:
		la = (const struct conf_list *)(const void *)pa;
		lb = (const struct conf_list *)(const void *)pb;
		if (la->n != lb->n)
			return 0;
		for (i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return 0;
		return 1;
	case CONF_BOOL:
		return *(const int *)(const void *)pa == *(const int *)(const void *)pb;
	default:
		return *(const unsigned long long *)(const void *)pa ==
		    *(const unsigned long long *)(const void *)pb;
	}
}

void
settings_key_swap(struct settings *a, struct settings *b, const char *key)
{
	const struct conf_key *k = settings_key(key);
	unsigned char tmp[sizeof(struct conf_list)], *pa, *pb;
	size_t len;

	if (k == NULL)
		return;
	switch (k->type) {
	case CONF_STR: len = sizeof(char *); break;
	case CONF_LIST: len = sizeof(struct conf_list); break;
	case CONF_BOOL: len = sizeof(int); break;
	default: len = sizeof(unsigned long long); break;
	}
	pa = (unsigned char *)a + k->offset;
	pb = (unsigned char *)b + k->offset;
	memcpy(tmp, pa, len);
	memcpy(pa, pb, len);
	memcpy(pb, tmp, len);
}

void
settings_free(struct settings *s)
{
	conf_free(settings_keys, NKEYS, s);
}
