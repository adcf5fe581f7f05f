/*
 * dns_records: the look-ups `letterbox check` makes to see what the owner published:
 * a domain's MX list as it stands (not resolved, not shuffled), TXT records (SPF,
 * DKIM, DMARC) and PTR records (reverse DNS). Same resolver as delivery (dns.h): one
 * configured server or resolv.conf's, no search domains.
 *
 * Statuses: DNS_OK with at least one record; DNS_NOTFOUND for NXDOMAIN or a name
 * without records of that type; DNS_TEMPFAIL when no usable answer came.
 */
#ifndef LB_DNS_RECORDS_H
#define LB_DNS_RECORDS_H

#include <stddef.h>
#include <sys/socket.h>

#include "relay/dns.h"

#define DNS_TXT_MAX	4096	/* one TXT record's text, joined, with its NUL */
#define DNS_RECORDS_MAX	16	/* records of one name and type considered */

struct dns_txt {
	char	text[DNS_TXT_MAX];
};

struct dns_name {
	char	host[DNS_HOST_MAX];	/* presentation form, no trailing dot */
};

/* The MX records of domain by ascending preference (ties in answer order). */
enum dns_status dns_lookup_mx(struct dns_resolver *r, const char *domain,
	    struct dns_mx *out, size_t max, size_t *n_out);
/* The TXT records of name, each one's character-strings joined. */
enum dns_status dns_lookup_txt(struct dns_resolver *r, const char *name,
	    struct dns_txt *out, size_t max, size_t *n_out);
/* The PTR records of addr's reverse name (dns_reverse_name). */
enum dns_status dns_lookup_ptr(struct dns_resolver *r, const struct sockaddr_storage *addr,
	    struct dns_name *out, size_t max, size_t *n_out);

/*
 * Pure, fuzzed (tests/fuzz/fuzz_dns.c), as dns_parse_mx: the answer section's records
 * of the type, class IN, whatever their owner name; the count stored (at most max), or
 * -1 on a malformed message.
 *
 * dns_parse_txt: each record's <character-string>s (RFC 1035 §3.3.14) joined without
 * separator, as SPF (RFC 7208 §3.3) and DKIM (RFC 6376 §3.6.2.2) read them; NUL and
 * other control bytes become '?', so a text is a C string and prints safely. A record
 * whose text does not fit DNS_TXT_MAX is skipped; one whose strings overrun its RDATA
 * makes the message malformed.
 * dns_parse_ptr: PTR names in presentation form without the trailing dot (the root is
 * "."); a name that does not fit is skipped; RDATA that is not exactly one name is
 * malformed.
 */
int	dns_parse_txt(const unsigned char *msg, int len, struct dns_txt *out, size_t max);
int	dns_parse_ptr(const unsigned char *msg, int len, struct dns_name *out, size_t max);

/*
 * The reverse-mapping name of addr (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5
 * ip6.arpa, nibbles), without trailing dot, into out. 0, or -1 (not AF_INET or
 * AF_INET6, or outsz too small: 73 octets hold any).
 */
int	dns_reverse_name(const struct sockaddr_storage *addr, char *out, size_t outsz);

#endif
