/*
 * policy: recipient acceptance (see policy.h).
 */
#include <string.h>
#include <strings.h>

#include "smtpd/policy.h"

static bool
policy_our_domain(const struct settings *cfg, const char *domain)
{
	size_t i;

	for (i = 0; i < cfg->domains.n; i++)
		if (strcasecmp(cfg->domains.v[i], domain) == 0)
			return true;
	return false;
}

static bool
policy_our_local_part(const struct settings *cfg, const char *local)
{
	char base[SMTP_LOCAL_MAX * 2 + 1];
	size_t i, n;

	/* alice+tag is alice: the base is what precedes the first delimiter. */
	n = strcspn(local, cfg->subaddress_delimiters);
	if (n == 0)
		return false;
	memcpy(base, local, n);
	base[n] = '\0';
	/* RFC 5321 §4.5.1: every domain must accept postmaster. */
	if (strcasecmp(base, "postmaster") == 0)
		return true;
	for (i = 0; i < cfg->local_parts.n; i++)
		if (strcasecmp(cfg->local_parts.v[i], base) == 0)
			return true;
	return false;
}

enum rcpt_verdict
policy_rcpt(const struct settings *cfg, const struct smtp_path *rcpt)
{
	/* <Postmaster> without a domain is ours by definition (RFC 5321 §4.1.1.3). */
	if (rcpt->domain[0] == '\0')
		return RCPT_LOCAL;
	/* Address literals and foreign domains: relaying, never for the unauthenticated. */
	if (rcpt->is_literal || !policy_our_domain(cfg, rcpt->domain))
		return RCPT_RELAY_DENIED;
	if (!policy_our_local_part(cfg, rcpt->local))
		return RCPT_UNKNOWN_USER;
	return RCPT_LOCAL;
}

bool
policy_owner_sender(const struct settings *cfg, const struct smtp_path *from)
{
	return from->domain[0] != '\0' && policy_rcpt(cfg, from) == RCPT_LOCAL;
}
