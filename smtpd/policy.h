/*
 * policy: who mail is accepted for. Single user: every configured local part of every
 * configured domain (with subaddresses) is the owner; everything else is refused, so
 * this server is never a relay for an unauthenticated client.
 */
#ifndef LB_POLICY_H
#define LB_POLICY_H

#include "lib/settings.h"
#include "smtpd/address.h"

enum rcpt_verdict {
	RCPT_LOCAL,		/* the owner: deliver to the Maildir */
	RCPT_UNKNOWN_USER,	/* one of our domains, not one of our names: 550 5.1.1 */
	RCPT_RELAY_DENIED,	/* not our domain: 550 5.7.1 */
};

enum rcpt_verdict policy_rcpt(const struct settings *cfg, const struct smtp_path *rcpt);
/*
 * Whether the owner may send as this envelope sender on submission: one of the owner's
 * own addresses (subaddresses included); never the null sender or a literal.
 */
bool	policy_owner_sender(const struct settings *cfg, const struct smtp_path *from);

#endif
