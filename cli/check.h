/*
 * check: what the parts of `letterbox check` share (cmd_check.c drives them). Every
 * finding is one line, "ok    what", "WARN  what" or "FAIL  what"; a record to publish
 * follows as a zone file line of its own, unindented so that it can be pasted as it
 * is (an indented line in a zone file would belong to the name before it); other
 * details are indented by six spaces.
 */
#ifndef LB_CHECK_H
#define LB_CHECK_H

#include "lib/settings.h"

#define CHECK_DETAIL	"      "	/* the indent of a detail line */

struct check {
	const struct settings	*cfg;
	unsigned		 warnings, failures;
};

void	check_ok(struct check *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	check_warn(struct check *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	check_fail(struct check *c, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* The certificate: loads with its key, chain, dates, names (check_cert.c). */
void	check_cert(struct check *c);
/* The DNS records of hostname, the domains and the DKIM keys (check_dns.c). */
void	check_dns(struct check *c);

#endif
