/*
 * dns: MX and A/AAAA look-ups for outbound delivery through libresolv (see dns.h).
 * It only asks and orders; connecting, and deciding what a failure means for the
 * queue, are the caller's.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "relay/dns.h"

#define DNS_TIMEOUT_MAX	30	/* RES_MAXRETRANS */
#define DNS_TRIES	2	/* each query is sent at most twice */

const char *
dns_status_name(enum dns_status st)
{
	switch (st) {
	case DNS_OK:
		return "ok";
	case DNS_TEMPFAIL:
		return "tempfail";
	case DNS_NOTFOUND:
		return "notfound";
	case DNS_NULLMX:
		return "nullmx";
	}
	return "unknown";
}

int
dns_resolver_init(struct dns_resolver *r, const char *server, unsigned timeout_s)
{
	struct lb_sockaddr sa;
	struct sockaddr_in6 *sin6;
	int i;

	memset(r, 0, sizeof(*r));
	if (server != NULL && util_parse_listen(server, &sa) == -1) {
		log_warnx("dns: resolver \"%s\" is not ADDRESS:PORT", server);
		return -1;
	}
	if (res_ninit(&r->res) == -1) {
		log_warnx("dns: res_ninit failed");
		return -1;
	}
	/*
	 * res_nquery never appends search domains, but say so anyway; no round robin
	 * (one server), and no reload of resolv.conf behind our back (RES_NORELOAD) once
	 * its name servers are replaced below.
	 */
	r->res.options &= ~(unsigned long)(RES_DEFNAMES | RES_DNSRCH | RES_ROTATE);
	r->res.options |= RES_RECURSE | RES_NORELOAD;
	r->res.retry = DNS_TRIES;
	r->res.retrans = (int)(timeout_s == 0 ? 1 :
	    timeout_s > DNS_TIMEOUT_MAX ? DNS_TIMEOUT_MAX : timeout_s);
	if (server != NULL) {
		/*
		 * Replace resolv.conf's servers by ours. An IPv6 one of resolv.conf lives in
		 * a malloc'ed _u._ext.nsaddrs[i] (nsaddr_list[i].sin_family is 0), which
		 * res_nclose frees only below nscount, so it is freed here (r was zeroed,
		 * so slots past resolv.conf's servers are NULL). The private
		 * copy res_send keeps is rebuilt when _u._ext.nscount is 0.
		 */
		for (i = 0; i < MAXNS; i++) {
			free(r->res._u._ext.nsaddrs[i]);
			r->res._u._ext.nsaddrs[i] = NULL;
			r->res._u._ext.nssocks[i] = -1;
		}
		r->res._u._ext.nscount = 0;
		memset(r->res.nsaddr_list, 0, sizeof(r->res.nsaddr_list));
		r->res.nscount = 1;
		if (sa.ss.ss_family == AF_INET)
			memcpy(&r->res.nsaddr_list[0], &sa.ss, sizeof(struct sockaddr_in));
		else {
			/*
			 * IPv6 does not fit nsaddr_list: glibc (>= 2.26, __res_get_nsaddr)
			 * uses _u._ext.nsaddrs[n] when nsaddr_list[n].sin_family is 0, and
			 * res_nclose frees it.
			 */
			sin6 = xmalloc(sizeof(*sin6));
			memcpy(sin6, &sa.ss, sizeof(*sin6));
			r->res._u._ext.nsaddrs[0] = sin6;
		}
	}
	r->ans = xmalloc(DNS_ANSWER_MAX);
	r->ok = true;
	return 0;
}

void
dns_resolver_free(struct dns_resolver *r)
{
	if (r->ok)
		res_nclose(&r->res);
	free(r->ans);
	memset(r, 0, sizeof(*r));
}

/*
 * Ask for name/type; the answer is in r->ans[0 .. *len_out - 1]. glibc sets
 * res_h_errno from the reply code (res_query.c): NXDOMAIN is HOST_NOT_FOUND, NOERROR
 * without records NO_DATA, SERVFAIL and no reply at all TRY_AGAIN, FORMERR, NOTIMP and
 * REFUSED NO_RECOVERY. The last two are temporary for mail: a resolver that refuses
 * today is misconfigured, not proof that the domain takes no mail.
 */
enum dns_answer
dns_query(struct dns_resolver *r, const char *name, int type, int *len_out)
{
	int n;

	*len_out = 0;
	if (!r->ok)
		return DNS_ANS_TEMP;
	n = res_nquery(&r->res, name, ns_c_in, type, r->ans, DNS_ANSWER_MAX);
	if (n < 0) {
		switch (r->res.res_h_errno) {
		case HOST_NOT_FOUND:
			return DNS_ANS_NXDOMAIN;
		case NO_DATA:
			return DNS_ANS_NODATA;
		default:
			log_debug("dns: %s type %d: %s", name, type,
			    hstrerror(r->res.res_h_errno));
			return DNS_ANS_TEMP;
		}
	}
	/* A longer answer than the buffer comes back cut, with its real length. */
	*len_out = n > DNS_ANSWER_MAX ? DNS_ANSWER_MAX : n;
	return DNS_ANS_RECORDS;
}

/* The answer section's records of type, after checking the whole message (dns.h). */
int
dns_each_answer(const unsigned char *msg, int len, int type,
    int (*fn)(const ns_msg *, const ns_rr *, void *), void *arg)
{
	ns_msg h;
	ns_rr rr;
	int i, count, found = 0;

	if (msg == NULL || len <= 0 || ns_initparse(msg, len, &h) == -1)
		return -1;
	count = ns_msg_count(h, ns_s_an);
	for (i = 0; i < count; i++) {
		if (ns_parserr(&h, ns_s_an, i, &rr) == -1)
			return -1;
		if ((int)ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in)
			continue;
		if (fn(&h, &rr, arg) == -1)
			return -1;
		found++;
	}
	return found;
}

struct dns_mx_out {
	struct dns_mx	*out;
	size_t		 max, n;
};

static int
dns_mx_rr(const ns_msg *h, const ns_rr *rr, void *arg)
{
	struct dns_mx_out *o = arg;
	const unsigned char *rd = ns_rr_rdata(*rr);
	char name[NS_MAXDNAME];
	size_t len;
	int n;

	/* RFC 1035 §3.3.9: a 16-bit preference, then the exchange, filling the RDATA. */
	if (ns_rr_rdlen(*rr) < 3)
		return -1;
	n = dn_expand(ns_msg_base(*h), ns_msg_end(*h), rd + 2, name, sizeof(name));
	if (n < 0 || n != ns_rr_rdlen(*rr) - 2)
		return -1;
	/* dn_expand writes the root as "" (and never a trailing dot). */
	if (name[0] == '\0')
		memcpy(name, ".", 2);
	len = strlen(name);
	if (o->n == o->max || len >= sizeof(o->out->host))
		return 0;
	o->out[o->n].pref = ns_get16(rd);
	memcpy(o->out[o->n].host, name, len + 1);
	o->n++;
	return 0;
}

int
dns_parse_mx(const unsigned char *msg, int len, struct dns_mx *out, size_t max)
{
	struct dns_mx_out o = { out, max, 0 };

	if (dns_each_answer(msg, len, ns_t_mx, dns_mx_rr, &o) == -1)
		return -1;
	return (int)o.n;
}

struct dns_addr_out {
	struct sockaddr_storage	*out;
	size_t			 max, n;
};

static int
dns_a_rr(const ns_msg *h, const ns_rr *rr, void *arg)
{
	struct dns_addr_out *o = arg;
	struct sockaddr_in *sin;

	(void)h;
	if (ns_rr_rdlen(*rr) != NS_INADDRSZ)
		return -1;
	if (o->n == o->max)
		return 0;
	memset(&o->out[o->n], 0, sizeof(o->out[o->n]));
	sin = (struct sockaddr_in *)&o->out[o->n];
	sin->sin_family = AF_INET;
	memcpy(&sin->sin_addr, ns_rr_rdata(*rr), NS_INADDRSZ);
	o->n++;
	return 0;
}

static int
dns_aaaa_rr(const ns_msg *h, const ns_rr *rr, void *arg)
{
	struct dns_addr_out *o = arg;
	struct sockaddr_in6 *sin6;

	(void)h;
	if (ns_rr_rdlen(*rr) != NS_IN6ADDRSZ)
		return -1;
	if (o->n == o->max)
		return 0;
	memset(&o->out[o->n], 0, sizeof(o->out[o->n]));
	sin6 = (struct sockaddr_in6 *)&o->out[o->n];
	sin6->sin6_family = AF_INET6;
	memcpy(&sin6->sin6_addr, ns_rr_rdata(*rr), NS_IN6ADDRSZ);
	o->n++;
	return 0;
}

int
dns_parse_addrs(const unsigned char *msg, int len, int type, struct sockaddr_storage *out,
    size_t max)
{
	struct dns_addr_out o = { out, max, 0 };

	if (type != ns_t_a && type != ns_t_aaaa)
		return -1;
	if (dns_each_answer(msg, len, type, type == ns_t_a ? dns_a_rr : dns_aaaa_rr,
	    &o) == -1)
		return -1;
	return (int)o.n;
}

/*
 * name without one trailing dot into out (DNS_HOST_MAX). Refused: empty names, the
 * root, empty labels, over 253 octets, and bytes that are not part of a host name in
 * presentation form (controls, space, backslash escapes, DEL).
 */
bool
dns_name_clean(const char *name, char *out)
{
	size_t len = strlen(name), i;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253 || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c == '\\' || c == 0x7f || (c == '.' && name[i + 1] == '.'))
			return false;
	}
	memcpy(out, name, len);
	out[len] = '\0';
	return true;
}

static socklen_t
dns_sockaddr_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

static void
dns_set_port(struct sockaddr_storage *ss, unsigned port)
{
	if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
	else
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
}

/* Append addr as a target unless it is there already (an address of two MX hosts). */
static void
dns_add_target(const struct sockaddr_storage *addr, const char *host, unsigned pref,
    unsigned port, struct dns_target *out, size_t max, size_t *n)
{
	struct dns_target *t;
	size_t i;

	for (i = 0; i < *n; i++)
		if (util_sockaddr_same_ip(&out[i].addr, addr))
			return;
	if (*n >= max)
		return;
	t = &out[(*n)++];
	memset(t, 0, sizeof(*t));
	snprintf(t->host, sizeof(t->host), "%s", host);
	t->pref = pref;
	t->addr = *addr;
	t->addrlen = dns_sockaddr_len(addr);
	dns_set_port(&t->addr, port);
}

/*
 * host's A addresses, then its AAAA ones, appended to out. A comes first on purpose:
 * a home or small-office network often has an IPv6 route that is announced but broken,
 * and every connection to an AAAA address would then wait for its timeout before the
 * next address; IPv4 works nearly everywhere. NXDOMAIN for A ends the look-up (the
 * name does not exist, so no AAAA either). DNS_OK if the host has an address (even
 * one already listed), DNS_TEMPFAIL if not and a query failed temporarily, else
 * DNS_NOTFOUND.
 */
static enum dns_status
dns_lookup_host(struct dns_resolver *r, const char *host, unsigned pref, unsigned port,
    struct dns_target *out, size_t max, size_t *n)
{
	static const int types[] = { ns_t_a, ns_t_aaaa };
	struct sockaddr_storage addrs[DNS_TARGETS_MAX];
	bool found = false, temp = false;
	int len, count, j;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]) && *n < max; i++) {
		switch (dns_query(r, host, types[i], &len)) {
		case DNS_ANS_NXDOMAIN:
			return temp ? DNS_TEMPFAIL : DNS_NOTFOUND;
		case DNS_ANS_NODATA:
			continue;
		case DNS_ANS_TEMP:
			temp = true;
			continue;
		case DNS_ANS_RECORDS:
			break;
		}
		count = dns_parse_addrs(r->ans, len, types[i], addrs, DNS_TARGETS_MAX);
		if (count == -1) {
			log_warnx("dns: malformed answer for %s type %d", host, types[i]);
			temp = true;
			continue;
		}
		for (j = 0; j < count; j++) {
			found = true;
			dns_add_target(&addrs[j], host, pref, port, out, max, n);
		}
	}
	if (found)
		return DNS_OK;
	return temp ? DNS_TEMPFAIL : DNS_NOTFOUND;
}

/* An RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
static bool
dns_parse_literal(const char *s, struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(s);

	memset(ss, 0, sizeof(*ss));
	if (len < 3 || s[0] != '[' || s[len - 1] != ']' || len - 2 >= sizeof(text))
		return false;
	memcpy(text, s + 1, len - 2);
	text[len - 2] = '\0';
	if (strncasecmp(text, "IPv6:", 5) == 0) {
		ss->ss_family = AF_INET6;
		return inet_pton(AF_INET6, text + 5,
		    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1;
	}
	ss->ss_family = AF_INET;
	return inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1;
}

static int
dns_mx_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

/* RFC 5321 §5.1: lowest preference first, hosts of equal preference in random order. */
static void
dns_mx_order(struct dns_mx *mx, size_t n)
{
	struct dns_mx tmp;
	size_t start, end, i, j;
	uint32_t rnd;

	qsort(mx, n, sizeof(*mx), dns_mx_cmp);
	for (start = 0; start < n; start = end) {
		for (end = start + 1; end < n && mx[end].pref == mx[start].pref; end++)
			;
		for (i = end - 1; i > start; i--) {	/* Fisher-Yates */
			util_random(&rnd, sizeof(rnd));
			j = start + rnd % (i - start + 1);
			if (j != i) {
				tmp = mx[i];
				mx[i] = mx[j];
				mx[j] = tmp;
			}
		}
	}
}

enum dns_status
dns_mail_targets(struct dns_resolver *r, const char *domain, unsigned port,
    struct dns_target *out, size_t max, size_t *n_out)
{
	struct dns_mx mx[DNS_MX_MAX];
	struct sockaddr_storage lit;
	char name[DNS_HOST_MAX];
	bool temp = false;
	int len, nmx = 0, i, usable;

	*n_out = 0;
	if (max == 0)
		return DNS_TEMPFAIL;
	if (domain[0] == '[') {
		if (!dns_parse_literal(domain, &lit))
			return DNS_NOTFOUND;
		dns_add_target(&lit, domain, 0, port, out, max, n_out);
		return DNS_OK;
	}
	if (!dns_name_clean(domain, name))
		return DNS_NOTFOUND;
	switch (dns_query(r, name, ns_t_mx, &len)) {
	case DNS_ANS_NXDOMAIN:
		return DNS_NOTFOUND;
	case DNS_ANS_TEMP:
		return DNS_TEMPFAIL;
	case DNS_ANS_NODATA:
		break;
	case DNS_ANS_RECORDS:
		if ((nmx = dns_parse_mx(r->ans, len, mx, DNS_MX_MAX)) == -1) {
			log_warnx("dns: malformed MX answer for %s", name);
			return DNS_TEMPFAIL;
		}
		break;
	}
	if (nmx == 0)	/* RFC 5321 §5.1: no MX at all, the domain is its own MX */
		return dns_lookup_host(r, name, 0, port, out, max, n_out);

	/*
	 * RFC 7505 §3: "0 ." says the domain takes no mail. A "." among real hosts breaks
	 * §3's rule that it stands alone; it is merely skipped, the others are tried.
	 */
	for (i = 0, usable = 0; i < nmx; i++)
		if (strcmp(mx[i].host, ".") != 0)
			mx[usable++] = mx[i];
	if (usable == 0)
		return DNS_NULLMX;
	dns_mx_order(mx, (size_t)usable);
	for (i = 0; i < usable && *n_out < max; i++) {
		char host[DNS_HOST_MAX];

		if (!dns_name_clean(mx[i].host, host))
			continue;
		if (dns_lookup_host(r, host, mx[i].pref, port, out, max, n_out) ==
		    DNS_TEMPFAIL)
			temp = true;
	}
	if (*n_out > 0)
		return DNS_OK;
	return temp ? DNS_TEMPFAIL : DNS_NOTFOUND;
}

enum dns_status
dns_host_targets(struct dns_resolver *r, const char *host, unsigned port,
    struct dns_target *out, size_t max, size_t *n_out)
{
	struct sockaddr_storage lit;
	struct sockaddr_in *sin = (struct sockaddr_in *)&lit;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&lit;
	char name[DNS_HOST_MAX], text[INET6_ADDRSTRLEN + 2];
	size_t len = strlen(host);

	*n_out = 0;
	if (max == 0)
		return DNS_TEMPFAIL;
	memset(&lit, 0, sizeof(lit));
	if (len > 2 && host[0] == '[' && host[len - 1] == ']' && len - 2 < sizeof(text)) {
		memcpy(text, host + 1, len - 2);
		text[len - 2] = '\0';
	} else
		snprintf(text, sizeof(text), "%s", len < sizeof(text) ? host : "");
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1)
		lit.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1)
		lit.ss_family = AF_INET6;
	if (lit.ss_family != 0) {
		dns_add_target(&lit, host, 0, port, out, max, n_out);
		return DNS_OK;
	}
	if (host[0] == '[' || !dns_name_clean(host, name))
		return DNS_NOTFOUND;
	return dns_lookup_host(r, name, 0, port, out, max, n_out);
}
