/*
 * mailrec: reading the mail records an owner publishes in DNS TXT, for `letterbox
 * check`: DKIM key records (RFC 6376 §3.6.1), SPF (RFC 7208) and DMARC (RFC 7489).
 * Pure functions over NUL-terminated texts (dns_parse_txt's output), fuzzed by
 * tests/fuzz/fuzz_mailrec.c. Nothing here looks anything up: where SPF would need
 * another query (include:, a:other, exists:, ...) the answer is "cannot tell".
 */
#ifndef LB_MAILREC_H
#define LB_MAILREC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/*
 * The tag name of a tag-list (RFC 6376 §3.2, also DMARC's, RFC 7489 §6.4):
 * "name=value" specs separated by ';', whitespace around names and values ignored,
 * empty specs skipped. The value of the tag name (case-sensitive, as §3.2 says) into
 * out, trimmed; *pos (may be NULL) gets its index among the specs (0 is the first).
 * 1 found, 0 absent, -1 malformed: a spec without '=', a tag name that is not ALPHA
 * *(ALNUM / "_"), a name seen twice, or a value that does not fit outsz.
 */
int	mailrec_tag(const char *rec, const char *name, char *out, size_t outsz, int *pos);

/*
 * The public key of a DKIM key record: p= with every whitespace removed (base64 may be
 * folded, §3.6.1). 1 found (out may be "" for a revoked key), 0 not a key record (v=
 * present but not first or not "DKIM1", or no p=), -1 malformed (as mailrec_tag).
 */
int	mailrec_dkim_key(const char *rec, char *out, size_t outsz);

/*
 * A DMARC record (RFC 7489 §6.4: v=DMARC1 first, then p=none|quarantine|reject). 1
 * valid, with p's value into policy (policysz >= 16); 0 not a DMARC record (no v=DMARC1
 * first); -1 a DMARC record without a valid p= (or a malformed tag-list).
 */
int	mailrec_dmarc(const char *rec, char *policy, size_t policysz);

/* Whether text is an SPF record: "v=spf1" then a space or the end (RFC 7208 §4.5). */
bool	mailrec_is_spf(const char *text);

enum spf_verdict {
	SPF_COVERED,		/* a term that passes matches our host or address */
	SPF_NOT_COVERED,	/* no term matches, or the first that does fails/softfails */
	SPF_UNKNOWN,		/* a term before any match needs another look-up */
	SPF_INVALID,		/* not SPF, or a term that makes it a permerror (§4.6) */
};

struct spf_result {
	enum spf_verdict verdict;
	bool		 pass_all;	/* "all" or "+all" decided: anyone may send */
	char		 term[64];	/* the deciding or undecidable term, cut */
};

/*
 * Evaluate SPF record rec as a receiver would for mail from domain sent by our host
 * hostname at addrs[0..naddrs-1], without asking DNS: terms left to right, the first
 * that matches decides (RFC 7208 §4.6.2). Known to match: "all"; "mx" and
 * "mx:<domain>" when mx_is_us (domain's MX names hostname); "a" when domain is
 * hostname, "a:<hostname>"; "ip4:"/"ip6:" networks holding one of addrs. Unknown:
 * include:, exists:, ptr, a:/mx: of other names (a term without a match before it
 * makes the verdict SPF_UNKNOWN), and a redirect= when nothing matched. Names compare
 * case-insensitively, a trailing dot ignored. A dual-CIDR suffix on a/mx is allowed.
 */
void	mailrec_spf_eval(const char *rec, const char *domain, const char *hostname,
	    bool mx_is_us, const struct sockaddr_storage *addrs, size_t naddrs,
	    struct spf_result *out);

#endif
