/*
 * mailrec: DKIM key, DMARC and SPF records read without DNS (see mailrec.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "relay/mailrec.h"

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool
is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int
mailrec_tag(const char *rec, const char *name, char *out, size_t outsz, int *pos)
{
	const char *p = rec, *end, *eq, *ns, *ne, *vs, *ve, *q;
	size_t nlen = strlen(name);
	int idx = 0, found = 0;

	for (; *p != '\0'; p = *end != '\0' ? end + 1 : end) {
		if ((end = strchr(p, ';')) == NULL)
			end = p + strlen(p);
		for (ns = p; ns < end && is_ws(*ns); ns++)
			;
		if (ns == end)
			continue;	/* an empty spec, or the optional last ';' */
		if ((eq = memchr(ns, '=', (size_t)(end - ns))) == NULL)
			return -1;
		for (ne = eq; ne > ns && is_ws(ne[-1]); ne--)
			;
		/* RFC 6376 §3.2: tag-name = ALPHA *ALNUMPUNC, ALNUMPUNC = ALPHA / DIGIT / "_" */
		if (!is_alpha(*ns))
			return -1;
		for (q = ns + 1; q < ne; q++)
			if (!is_alpha(*q) && !is_digit(*q) && *q != '_')
				return -1;
		for (vs = eq + 1; vs < end && is_ws(*vs); vs++)
			;
		for (ve = end; ve > vs && is_ws(ve[-1]); ve--)
			;
		if ((size_t)(ne - ns) == nlen && memcmp(ns, name, nlen) == 0) {
			/* §3.2: "Tags with duplicate names MUST NOT occur" */
			if (found || (size_t)(ve - vs) >= outsz)
				return -1;
			memcpy(out, vs, (size_t)(ve - vs));
			out[ve - vs] = '\0';
			if (pos != NULL)
				*pos = idx;
			found = 1;
		}
		idx++;
	}
	return found;
}

int
mailrec_dkim_key(const char *rec, char *out, size_t outsz)
{
	char v[16], *r, *w;
	int pos, rc;

	/* §3.6.1: v= is optional, but when present it is first and "DKIM1". */
	if ((rc = mailrec_tag(rec, "v", v, sizeof(v), &pos)) == -1)
		return -1;
	if (rc == 1 && (pos != 0 || strcmp(v, "DKIM1") != 0))
		return 0;
	if ((rc = mailrec_tag(rec, "p", out, outsz, NULL)) != 1)
		return rc;
	for (r = w = out; *r != '\0'; r++)
		if (!is_ws(*r))
			*w++ = *r;
	*w = '\0';
	return 1;
}

/* Whether rec starts with the tag "v=DMARC1" (RFC 7489 §6.4: it must come first). */
static bool
dmarc_version_first(const char *rec)
{
	const char *p = rec;

	while (is_ws(*p))
		p++;
	if (*p++ != 'v')
		return false;
	while (is_ws(*p))
		p++;
	if (*p++ != '=')
		return false;
	while (is_ws(*p))
		p++;
	if (strncmp(p, "DMARC1", 6) != 0)
		return false;
	for (p += 6; is_ws(*p); p++)
		;
	return *p == ';' || *p == '\0';
}

int
mailrec_dmarc(const char *rec, char *policy, size_t policysz)
{
	static const char *const policies[] = { "none", "quarantine", "reject" };
	char p[16];
	size_t i;

	if (!dmarc_version_first(rec))
		return 0;
	if (mailrec_tag(rec, "p", p, sizeof(p), NULL) != 1)
		return -1;
	for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (strcasecmp(p, policies[i]) == 0) {
			snprintf(policy, policysz, "%s", policies[i]);
			return 1;
		}
	return -1;
}

bool
mailrec_is_spf(const char *text)
{
	return strncasecmp(text, "v=spf1", 6) == 0 && (text[6] == ' ' || text[6] == '\0');
}

/* Host names equal, ASCII case-insensitive, one trailing dot on either ignored. */
static bool
names_eq(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);

	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	return alen == blen && alen > 0 && strncasecmp(a, b, alen) == 0;
}

/* A decimal number of at most 3 digits, at most max, in s[0 .. len-1]. -1 if not. */
static int
small_number(const char *s, size_t len, int max)
{
	int v = 0;
	size_t i;

	if (len == 0 || len > 3)
		return -1;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= max ? v : -1;
}

/* RFC 7208 §5.6 dual-cidr-length: "", "/n", "//m" or "/n//m". */
static bool
dual_cidr_ok(const char *s, size_t len)
{
	const char *dd;
	size_t first;

	if (len == 0)
		return true;
	if (s[0] != '/')
		return false;
	dd = len >= 2 ? strstr(s, "//") : NULL;
	if (dd != NULL && (size_t)(dd - s) >= len)
		dd = NULL;
	first = dd != NULL ? (size_t)(dd - s) : len;
	if (first > 0 && small_number(s + 1, first - 1, 32) == -1)
		return false;
	return dd == NULL || small_number(dd + 2, len - first - 2, 128) != -1;
}

/* Whether addr lies in net/bits (same family). */
static bool
in_network(const struct sockaddr_storage *addr, int family, const unsigned char *net,
    int bits)
{
	const unsigned char *a;
	int full = bits / 8, rest = bits % 8;

	if (addr->ss_family != family)
		return false;
	a = family == AF_INET ?
	    (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr :
	    (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
	if (memcmp(a, net, (size_t)full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ net[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/*
 * "ip4:" / "ip6:" argument arg[0 .. len-1]: 1 one of addrs is inside, 0 none is, -1
 * not a network of that family (a permerror, §5.6).
 */
static int
ip_term(const char *arg, size_t len, int family, const struct sockaddr_storage *addrs,
    size_t naddrs)
{
	char text[INET6_ADDRSTRLEN + 1];
	unsigned char net[16];
	const char *slash = memchr(arg, '/', len);
	size_t alen = slash != NULL ? (size_t)(slash - arg) : len, i;
	int max = family == AF_INET ? 32 : 128, bits;

	if (alen == 0 || alen >= sizeof(text))
		return -1;
	memcpy(text, arg, alen);
	text[alen] = '\0';
	if (inet_pton(family, text, net) != 1)
		return -1;
	bits = slash != NULL ? small_number(slash + 1, len - alen - 1, max) : max;
	if (bits == -1)
		return -1;
	for (i = 0; i < naddrs; i++)
		if (in_network(&addrs[i], family, net, bits))
			return 1;
	return 0;
}

enum term_match {
	TERM_NO,	/* does not match us */
	TERM_YES,	/* matches us: its qualifier decides */
	TERM_UNKNOWN,	/* would need a look-up */
	TERM_BAD,	/* a permerror */
};

/* One mechanism (qualifier removed) t[0 .. len-1]. */
static enum term_match
mechanism(const char *t, size_t len, const char *domain, const char *hostname,
    bool mx_is_us, const struct sockaddr_storage *addrs, size_t naddrs)
{
	size_t nlen, dlen;
	const char *arg, *slash;
	bool is_a;

	for (nlen = 0; nlen < len && t[nlen] != ':' && t[nlen] != '/'; nlen++)
		;
	arg = t + nlen + 1;
	if (nlen == 3 && strncasecmp(t, "all", 3) == 0)
		return nlen == len ? TERM_YES : TERM_BAD;
	if ((nlen == 3 && strncasecmp(t, "ip4", 3) == 0) ||
	    (nlen == 3 && strncasecmp(t, "ip6", 3) == 0)) {
		if (nlen == len || t[nlen] != ':')
			return TERM_BAD;
		switch (ip_term(arg, len - nlen - 1, t[2] == '4' ? AF_INET : AF_INET6, addrs,
		    naddrs)) {
		case 1:
			return TERM_YES;
		case 0:
			return TERM_NO;
		default:
			return TERM_BAD;
		}
	}
	if ((nlen == 7 && strncasecmp(t, "include", 7) == 0) ||
	    (nlen == 6 && strncasecmp(t, "exists", 6) == 0))
		return nlen < len - 1 && t[nlen] == ':' ? TERM_UNKNOWN : TERM_BAD;
	if (nlen == 3 && strncasecmp(t, "ptr", 3) == 0)
		return TERM_UNKNOWN;
	is_a = nlen == 1 && (t[0] == 'a' || t[0] == 'A');
	if (!is_a && !(nlen == 2 && strncasecmp(t, "mx", 2) == 0))
		return TERM_BAD;	/* §5: an unknown mechanism is a permerror */
	/* a / mx [":" domain-spec] [dual-cidr-length] */
	if (nlen < len && t[nlen] == ':') {
		slash = memchr(arg, '/', len - nlen - 1);
		dlen = slash != NULL ? (size_t)(slash - arg) : len - nlen - 1;
		if (dlen == 0)
			return TERM_BAD;
	} else {
		slash = nlen < len ? t + nlen : NULL;
		arg = domain;
		dlen = strlen(domain);
	}
	if (slash != NULL && !dual_cidr_ok(slash, (size_t)(t + len - slash)))
		return TERM_BAD;
	if (memchr(arg, '%', dlen) != NULL)
		return TERM_UNKNOWN;	/* a macro (§7) */
	if (is_a)
		return names_eq(arg, dlen, hostname) ? TERM_YES : TERM_UNKNOWN;
	if (names_eq(arg, dlen, domain))
		return mx_is_us ? TERM_YES : TERM_NO;
	return TERM_UNKNOWN;
}

static void
set_term(struct spf_result *out, const char *t, size_t len)
{
	if (len >= sizeof(out->term))
		len = sizeof(out->term) - 1;
	memcpy(out->term, t, len);
	out->term[len] = '\0';
}

void
mailrec_spf_eval(const char *rec, const char *domain, const char *hostname,
    bool mx_is_us, const struct sockaddr_storage *addrs, size_t naddrs,
    struct spf_result *out)
{
	const char *p, *t, *redirect = NULL;
	size_t len, redirect_len = 0, i, skip;
	char qual;

	memset(out, 0, sizeof(*out));
	out->verdict = SPF_INVALID;
	if (!mailrec_is_spf(rec))
		return;
	for (p = rec + 6; *p != '\0'; p = t + len) {
		while (*p == ' ')
			p++;
		t = p;
		for (len = 0; t[len] != '\0' && t[len] != ' '; len++)
			;
		if (len == 0)
			break;
		/* A modifier: name "=" ..., the name ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
		for (i = 0; i < len && (is_alpha(t[i]) || (i > 0 && (is_digit(t[i]) ||
		    t[i] == '-' || t[i] == '_' || t[i] == '.'))); i++)
			;
		if (i > 0 && i < len && t[i] == '=') {
			if (i == 8 && strncasecmp(t, "redirect", 8) == 0) {
				redirect = t;
				redirect_len = len;
			}
			continue;
		}
		skip = strchr("+-~?", t[0]) != NULL;	/* t[0] is not NUL: len > 0 */
		qual = skip ? t[0] : '+';
		if (skip && len == 1) {
			set_term(out, t, len);
			return;
		}
		switch (mechanism(t + skip, len - skip, domain, hostname, mx_is_us, addrs,
		    naddrs)) {
		case TERM_NO:
			continue;
		case TERM_BAD:
			set_term(out, t, len);
			return;
		case TERM_UNKNOWN:
			out->verdict = SPF_UNKNOWN;
			set_term(out, t, len);
			return;
		case TERM_YES:
			out->verdict = qual == '+' ? SPF_COVERED : SPF_NOT_COVERED;
			set_term(out, t, len);
			out->pass_all = qual == '+' && strcasecmp(out->term +
			    (out->term[0] == '+'), "all") == 0;
			return;
		}
	}
	if (redirect != NULL) {
		out->verdict = SPF_UNKNOWN;
		set_term(out, redirect, redirect_len);
	} else
		out->verdict = SPF_NOT_COVERED;
}
