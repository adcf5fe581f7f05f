/*
 * dns: the look-ups of outbound delivery (RFC 5321 §5.1): MX, then A and AAAA, through
 * glibc's resolver (libresolv) asking one recursive server, the configured one or those
 * of /etc/resolv.conf. No cache, no DNSSEC validation, no search domains.
 *
 * Status, not errno: a look-up ends in one enum dns_status. TEMPFAIL means "queue the
 * message and try again later" (timeout, SERVFAIL, REFUSED, a malformed answer);
 * NOTFOUND and NULLMX mean "bounce it" (RFC 5321 §5.1, RFC 7505 §4).
 *
 * A struct dns_resolver is not thread safe (glibc's struct __res_state is not): one per
 * thread or process.
 */
#ifndef LB_DNS_H
#define LB_DNS_H

#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define DNS_TARGETS_MAX	32	/* addresses tried for one domain, at most */
#define DNS_MX_MAX	64	/* MX records of one domain considered, at most */
#define DNS_HOST_MAX	256	/* a host name in presentation form, with its NUL */
#define DNS_ANSWER_MAX	65535	/* NS_MAXMSG: the largest answer (over TCP) */

struct dns_target {
	char			host[DNS_HOST_MAX];	/* the MX host name (or the domain
							 * for an implicit MX) */
	unsigned		pref;			/* MX preference; 0 for implicit MX /
							 * a host look-up */
	struct sockaddr_storage	addr;			/* with the port set */
	socklen_t		addrlen;
};

enum dns_status {
	DNS_OK,
	DNS_TEMPFAIL,	/* timeout, SERVFAIL, no answer: try again later (RFC 5321 §5.1) */
	DNS_NOTFOUND,	/* NXDOMAIN, or neither MX nor A/AAAA: permanent */
	DNS_NULLMX,	/* RFC 7505 null MX ("0 ."): the domain takes no mail: permanent */
};

/* One MX record: the exchange is "." for the root (a null MX, RFC 7505). */
struct dns_mx {
	unsigned	pref;
	char		host[DNS_HOST_MAX];	/* no trailing dot */
};

struct dns_resolver {
	struct __res_state	res;
	bool			ok;	/* initialised: look-ups may be made */
	unsigned char		*ans;	/* DNS_ANSWER_MAX bytes: the last answer */
};

/* The name of a status for logs: "ok", "tempfail", "notfound", "nullmx". */
const char *dns_status_name(enum dns_status st);

/*
 * Prepare r. server is "127.0.0.1:5353" or "[::1]:53": that server alone is asked,
 * whatever /etc/resolv.conf says; NULL uses the name servers of /etc/resolv.conf.
 * timeout_s is the wait for one answer (1..30; 0 counts as 1); each query is sent at
 * most twice, so a dead server costs 2 * timeout_s per query. An IPv6 server works
 * through glibc's extended name server slot (_u._ext.nsaddrs, glibc >= 2.26).
 * 0, or -1 (logged: a server that is not ADDRESS:PORT, or res_ninit failed).
 * dns_resolver_free() releases r, also after a failed init.
 */
int	dns_resolver_init(struct dns_resolver *r, const char *server, unsigned timeout_s);
void	dns_resolver_free(struct dns_resolver *r);

/*
 * The addresses to try for mail to domain, in order (RFC 5321 §5.1), into out[0 ..
 * *n_out - 1], at most max of them, each with port in addr:
 *  - the MX hosts by ascending preference, equal preferences shuffled (§5.1);
 *  - for each host its A addresses, then its AAAA ones;
 *  - no MX record at all (NODATA, or only a CNAME): the domain's own A/AAAA (the
 *    implicit MX, §5.1), pref 0;
 *  - an MX host without an address is skipped; if no MX host has one: DNS_TEMPFAIL if a
 *    look-up failed temporarily, else DNS_NOTFOUND;
 *  - NXDOMAIN for the domain: DNS_NOTFOUND; only MX records for "." (RFC 7505):
 *    DNS_NULLMX;
 *  - an address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]" gives that address, no
 *    DNS (r is not used); an unparsable literal is DNS_NOTFOUND.
 * domain may end in '.'. An address found twice is listed once. *n_out is 0 unless
 * DNS_OK, which always comes with at least one target.
 */
enum dns_status dns_mail_targets(struct dns_resolver *r, const char *domain, unsigned port,
	    struct dns_target *out, size_t max, size_t *n_out);

/*
 * One host's addresses (A, then AAAA) with port, for the smarthost; pref is 0. An IP
 * literal ("192.0.2.1", "2001:db8::1", also "[2001:db8::1]") needs no DNS. Statuses as
 * dns_mail_targets (never DNS_NULLMX).
 */
enum dns_status dns_host_targets(struct dns_resolver *r, const char *host, unsigned port,
	    struct dns_target *out, size_t max, size_t *n_out);

/*
 * Pure parsers of a DNS answer message (fuzzed). They read the answer section only and
 * take every record of the type and class IN, whatever its owner name: the records of a
 * CNAME's target come under the target's name, and the recursive server was asked for
 * that one name. At most max records are stored; the rest of the message is still
 * checked. The count stored, or -1 on a malformed message (bad header or name, a
 * record past the end, trailing bytes, an MX or address RDATA of the wrong length).
 *
 * dns_parse_mx: MX records, exchange names in presentation form without the trailing
 * dot; the root is "."; a name that does not fit DNS_HOST_MAX is skipped.
 * dns_parse_addrs: type is ns_t_a or ns_t_aaaa (anything else: -1); the addresses go
 * into out with port 0.
 */
int	dns_parse_mx(const unsigned char *msg, int len, struct dns_mx *out, size_t max);
int	dns_parse_addrs(const unsigned char *msg, int len, int type,
	    struct sockaddr_storage *out, size_t max);

/*
 * The building blocks of the look-ups, shared with dns_records.c.
 *
 * dns_query: ask r for name/type; the answer is in r->ans[0 .. *len_out - 1] when it
 * says DNS_ANS_RECORDS. glibc's h_errno sorted into what the reply meant.
 * dns_each_answer: the answer section's records of type (class IN), after checking
 * the whole message (ns_initparse fails on a truncated or over-long one); calls
 * fn(msg, rr, arg) for each, which returns 0, or -1 for malformed RDATA. The count of
 * records, or -1.
 * dns_name_clean: name without one trailing dot into out (DNS_HOST_MAX); false for
 * empty names, the root, empty labels, over 253 octets, controls, space, backslash.
 */
enum dns_answer {
	DNS_ANS_RECORDS,	/* an answer section, in r->ans */
	DNS_ANS_NODATA,		/* NOERROR without records: the name exists */
	DNS_ANS_NXDOMAIN,	/* the name does not exist */
	DNS_ANS_TEMP,		/* no usable answer: timeout, SERVFAIL, REFUSED, ... */
};
enum dns_answer dns_query(struct dns_resolver *r, const char *name, int type,
	    int *len_out);
int	dns_each_answer(const unsigned char *msg, int len, int type,
	    int (*fn)(const ns_msg *, const ns_rr *, void *), void *arg);
bool	dns_name_clean(const char *name, char *out);

#endif
