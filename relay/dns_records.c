/*
 * dns_records: MX, TXT and PTR look-ups for `letterbox check` (see dns_records.h).
 */
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "relay/dns_records.h"

struct dns_txt_out {
	struct dns_txt	*out;
	size_t		 max, n;
};

/* RFC 1035 §3.3.14: one or more <character-string>s, each a length octet and text. */
static int
dns_txt_rr(const ns_msg *h, const ns_rr *rr, void *arg)
{
	struct dns_txt_out *o = arg;
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr), i = 0, k, len = 0;
	char *t;
	bool fits = true;

	(void)h;
	if (rdlen == 0)
		return -1;
	t = o->n < o->max ? o->out[o->n].text : NULL;
	while (i < rdlen) {
		k = rd[i++];
		if (k > rdlen - i)
			return -1;
		if (len + k >= DNS_TXT_MAX)
			fits = false;
		for (; k > 0; k--, i++) {
			if (t != NULL && fits)
				t[len++] = rd[i] < ' ' || rd[i] == 0x7f ? '?' : (char)rd[i];
		}
	}
	if (t == NULL || !fits)
		return 0;
	t[len] = '\0';
	o->n++;
	return 0;
}

int
dns_parse_txt(const unsigned char *msg, int len, struct dns_txt *out, size_t max)
{
	struct dns_txt_out o = { out, max, 0 };

	if (dns_each_answer(msg, len, ns_t_txt, dns_txt_rr, &o) == -1)
		return -1;
	return (int)o.n;
}

struct dns_name_out {
	struct dns_name	*out;
	size_t		 max, n;
};

static int
dns_ptr_rr(const ns_msg *h, const ns_rr *rr, void *arg)
{
	struct dns_name_out *o = arg;
	char name[NS_MAXDNAME];
	size_t len;
	int n;

	/* RFC 1035 §3.3.12: the RDATA is one domain name. */
	n = dn_expand(ns_msg_base(*h), ns_msg_end(*h), ns_rr_rdata(*rr), name, sizeof(name));
	if (n < 0 || n != ns_rr_rdlen(*rr))
		return -1;
	if (name[0] == '\0')
		memcpy(name, ".", 2);
	len = strlen(name);
	if (o->n == o->max || len >= sizeof(o->out->host))
		return 0;
	memcpy(o->out[o->n].host, name, len + 1);
	o->n++;
	return 0;
}

int
dns_parse_ptr(const unsigned char *msg, int len, struct dns_name *out, size_t max)
{
	struct dns_name_out o = { out, max, 0 };

	if (dns_each_answer(msg, len, ns_t_ptr, dns_ptr_rr, &o) == -1)
		return -1;
	return (int)o.n;
}

int
dns_reverse_name(const struct sockaddr_storage *addr, char *out, size_t outsz)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b;
	size_t i, o = 0;
	int n;

	if (addr->ss_family == AF_INET) {
		b = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
		n = snprintf(out, outsz, "%u.%u.%u.%u.in-addr.arpa", b[3], b[2], b[1], b[0]);
		return n < 0 || (size_t)n >= outsz ? -1 : 0;
	}
	if (addr->ss_family != AF_INET6 || outsz < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	b = (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
	for (i = 16; i-- > 0;) {
		out[o++] = hex[b[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

/* Ask for name/type and sort the reply into a status; DNS_OK leaves it in r->ans. */
static enum dns_status
dns_ask(struct dns_resolver *r, const char *name, int type, int *len)
{
	char clean[DNS_HOST_MAX];

	if (!dns_name_clean(name, clean))
		return DNS_NOTFOUND;
	switch (dns_query(r, clean, type, len)) {
	case DNS_ANS_RECORDS:
		return DNS_OK;
	case DNS_ANS_NODATA:
	case DNS_ANS_NXDOMAIN:
		return DNS_NOTFOUND;
	case DNS_ANS_TEMP:
		break;
	}
	return DNS_TEMPFAIL;
}

/* A parser's count into a status: -1 is a malformed answer, 0 none of the type. */
static enum dns_status
dns_counted(int count, const char *name, size_t *n_out)
{
	if (count == -1) {
		log_warnx("dns: malformed answer for %s", name);
		return DNS_TEMPFAIL;
	}
	*n_out = (size_t)count;
	return count == 0 ? DNS_NOTFOUND : DNS_OK;
}

static int
dns_mx_pref_cmp(const void *a, const void *b)
{
	const struct dns_mx *x = a, *y = b;

	return x->pref < y->pref ? -1 : x->pref > y->pref;
}

enum dns_status
dns_lookup_mx(struct dns_resolver *r, const char *domain, struct dns_mx *out, size_t max,
    size_t *n_out)
{
	enum dns_status st;
	size_t i, j;
	int len;

	*n_out = 0;
	if ((st = dns_ask(r, domain, ns_t_mx, &len)) != DNS_OK)
		return st;
	st = dns_counted(dns_parse_mx(r->ans, len, out, max), domain, n_out);
	/* Insertion sort: stable, so equal preferences keep the server's order. */
	for (i = 1; i < *n_out; i++)
		for (j = i; j > 0 && dns_mx_pref_cmp(&out[j - 1], &out[j]) > 0; j--) {
			struct dns_mx tmp = out[j];

			out[j] = out[j - 1];
			out[j - 1] = tmp;
		}
	return st;
}

enum dns_status
dns_lookup_txt(struct dns_resolver *r, const char *name, struct dns_txt *out, size_t max,
    size_t *n_out)
{
	enum dns_status st;
	int len;

	*n_out = 0;
	if ((st = dns_ask(r, name, ns_t_txt, &len)) != DNS_OK)
		return st;
	return dns_counted(dns_parse_txt(r->ans, len, out, max), name, n_out);
}

enum dns_status
dns_lookup_ptr(struct dns_resolver *r, const struct sockaddr_storage *addr,
    struct dns_name *out, size_t max, size_t *n_out)
{
	char name[80];
	enum dns_status st;
	int len;

	*n_out = 0;
	if (dns_reverse_name(addr, name, sizeof(name)) == -1)
		return DNS_NOTFOUND;
	if ((st = dns_ask(r, name, ns_t_ptr, &len)) != DNS_OK)
		return st;
	return dns_counted(dns_parse_ptr(r->ans, len, out, max), name, n_out);
}
