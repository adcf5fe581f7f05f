/*
 * settings: the Letterbox configuration table (see settings.h, etc/letterbox.conf).
 */
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
	{ "pop3_listen",		CONF_LIST,	NULL, NOLIMIT, S(pop3_listen) },
	{ "pop3s_listen",		CONF_LIST,	NULL, NOLIMIT, S(pop3s_listen) },
	{ "pop3_idle_timeout",		CONF_SECONDS,	"10m", 1, 86400, S(pop3_idle_timeout) },
	{ "pop3_session_timeout",	CONF_SECONDS,	"4h", 1, 7 * 86400, S(pop3_session_timeout) },
	{ "plaintext_auth_loopback",	CONF_BOOL,	"no", NOLIMIT, S(plaintext_auth_loopback) },
	{ "pam_service",		CONF_STR,	"letterbox", NOLIMIT, S(pam_service) },
	{ "state_dir",			CONF_STR,	"/var/lib/letterbox", NOLIMIT, S(state_dir) },
	{ "tls_cert",			CONF_STR,	NULL, NOLIMIT, S(tls_cert) },
	{ "tls_key",			CONF_STR,	NULL, NOLIMIT, S(tls_key) },
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
};
#define NKEYS	(sizeof(settings_keys) / sizeof(settings_keys[0]))

static int
settings_verify(struct settings *s, const char *name, char *err, size_t errsz)
{
	struct lb_sockaddr sa;
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
	if (s->smtp_listen.n + s->smtps_listen.n == 0) {
		snprintf(err, errsz, "%s: smtp_listen or smtps_listen: nothing to listen on", name);
		return -1;
	}
	for (i = 0; i < s->smtp_listen.n + s->smtps_listen.n; i++) {
		const char *a = i < s->smtp_listen.n ? s->smtp_listen.v[i] :
		    s->smtps_listen.v[i - s->smtp_listen.n];

		if (util_parse_listen(a, &sa) == -1) {
			snprintf(err, errsz, "%s: \"%.64s\" is not ADDRESS:PORT", name, a);
			return -1;
		}
	}
	for (i = 0; i < s->pop3_listen.n + s->pop3s_listen.n; i++) {
		const char *a = i < s->pop3_listen.n ? s->pop3_listen.v[i] :
		    s->pop3s_listen.v[i - s->pop3_listen.n];

		if (util_parse_listen(a, &sa) == -1) {
			snprintf(err, errsz, "%s: \"%.64s\" is not ADDRESS:PORT", name, a);
			return -1;
		}
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
	if (s->smtps_listen.n > 0 && s->tls_cert == NULL) {
		snprintf(err, errsz, "%s: smtps_listen needs tls_cert and tls_key", name);
		return -1;
	}
	if (s->pop3s_listen.n > 0 && s->tls_cert == NULL) {
		snprintf(err, errsz, "%s: pop3s_listen needs tls_cert and tls_key", name);
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

void
settings_free(struct settings *s)
{
	conf_free(settings_keys, NKEYS, s);
}
