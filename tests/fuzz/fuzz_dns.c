/*
 * fuzz_dns: relay/dns.c's answer parsers, dns_parse_mx and dns_parse_addrs, on the input
 * as a DNS message (the bytes a server, or anyone spoofing one, can send back).
 *
 * Checked, beyond no crash and no read outside the message (it is copied into a buffer
 * of exactly its size; glibc's ns_initparse/dn_expand are not instrumented, so only
 * relay/dns.c's own reads are bounds-checked by ASan, and coverage is relay/dns.c's):
 *  - results are -1 or a count within max; a message ns_initparse refuses is -1 for
 *    every parser, and a type that is not A or AAAA is -1 for dns_parse_addrs;
 *  - a smaller max gives the same leading records, exactly min(count, max) of them;
 *  - MX hosts are non-empty, NUL-terminated, under DNS_HOST_MAX, with no trailing dot
 *    except the root "."; addresses have the family of the type asked, port 0;
 *  - the MX records, written back into a fresh message with dn_comp, parse again to the
 *    same preferences and names (presentation form is stable);
 *  - relay/dns_records.c: dns_parse_txt and dns_parse_ptr likewise give -1 or a count
 *    within max, -1 whenever ns_initparse refuses, the same leading records with a
 *    smaller max; TXT texts are NUL-terminated inside DNS_TXT_MAX with no control
 *    byte; PTR names are non-empty, under DNS_HOST_MAX, no trailing dot but the root.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <resolv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "relay/dns.h"
#include "relay/dns_records.h"

#define FUZZ_DNS_MAX	16

static struct dns_mx mx[FUZZ_DNS_MAX], mx2[FUZZ_DNS_MAX];
static struct sockaddr_storage ss[FUZZ_DNS_MAX], ss2[FUZZ_DNS_MAX];
static unsigned char again[DNS_ANSWER_MAX];
static struct dns_txt txt[FUZZ_DNS_MAX], txt2[2];
static struct dns_name ptr[FUZZ_DNS_MAX], ptr2[2];

static void
check_mx(const unsigned char *msg, int len)
{
	int n, m, i, wlen, k;
	size_t hl;
	unsigned char *p;

	n = dns_parse_mx(msg, len, mx, FUZZ_DNS_MAX);
	if (n < -1 || n > FUZZ_DNS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		hl = strnlen(mx[i].host, sizeof(mx[i].host));
		if (hl == 0 || hl >= sizeof(mx[i].host) || mx[i].pref > 65535)
			abort();
		if (mx[i].host[hl - 1] == '.' && strcmp(mx[i].host, ".") != 0 &&
		    (hl < 2 || mx[i].host[hl - 2] != '\\'))
			abort();
	}
	for (k = 0; k < 3; k++) {
		m = dns_parse_mx(msg, len, mx2, (size_t)k);
		if (n == -1 ? m != -1 : m != (n < k ? n : k))
			abort();
		for (i = 0; i < m; i++)
			if (mx2[i].pref != mx[i].pref || strcmp(mx2[i].host, mx[i].host) != 0)
				abort();
	}
	if (n <= 0)
		return;

	/* Round trip: header, the root as question, then n MX records owned by the root. */
	memset(again, 0, NS_HFIXEDSZ);
	again[2] = 0x81;
	again[3] = 0x80;
	again[5] = 1;
	again[7] = (unsigned char)n;
	p = again + NS_HFIXEDSZ;
	*p++ = 0;
	NS_PUT16(ns_t_mx, p);
	NS_PUT16(ns_c_in, p);
	for (i = 0; i < n; i++) {
		*p++ = 0;
		NS_PUT16(ns_t_mx, p);
		NS_PUT16(ns_c_in, p);
		NS_PUT32(0, p);
		wlen = dn_comp(mx[i].host, p + 4, (int)(again + sizeof(again) - (p + 4)), NULL,
		    NULL);
		if (wlen < 0)
			abort();	/* dn_expand's output must be valid dn_comp input */
		NS_PUT16((unsigned)wlen + 2, p);
		NS_PUT16(mx[i].pref, p);
		p += wlen;
	}
	if (dns_parse_mx(again, (int)(p - again), mx2, FUZZ_DNS_MAX) != n)
		abort();
	for (i = 0; i < n; i++)
		if (mx2[i].pref != mx[i].pref || strcmp(mx2[i].host, mx[i].host) != 0)
			abort();
}

static int
check_addrs(const unsigned char *msg, int len, int type)
{
	int n, m, i;

	n = dns_parse_addrs(msg, len, type, ss, FUZZ_DNS_MAX);
	if (n < -1 || n > FUZZ_DNS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		if (ss[i].ss_family != (type == ns_t_a ? AF_INET : AF_INET6))
			abort();
		if ((type == ns_t_a ? ((struct sockaddr_in *)&ss[i])->sin_port :
		    ((struct sockaddr_in6 *)&ss[i])->sin6_port) != 0)
			abort();
	}
	m = dns_parse_addrs(msg, len, type, ss2, 1);
	if (n == -1 ? m != -1 : m != (n < 1 ? n : 1))
		abort();
	if (m == 1 && memcmp(&ss[0], &ss2[0], sizeof(ss[0])) != 0)
		abort();
	return n;
}

static int
check_txt(const unsigned char *msg, int len)
{
	size_t tl, j;
	int n, m, i;

	n = dns_parse_txt(msg, len, txt, FUZZ_DNS_MAX);
	if (n < -1 || n > FUZZ_DNS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		tl = strnlen(txt[i].text, sizeof(txt[i].text));
		if (tl >= sizeof(txt[i].text))
			abort();
		for (j = 0; j < tl; j++)
			if ((unsigned char)txt[i].text[j] < ' ' || txt[i].text[j] == 0x7f)
				abort();
	}
	m = dns_parse_txt(msg, len, txt2, 2);
	if (n == -1 ? m != -1 : m != (n < 2 ? n : 2))
		abort();
	for (i = 0; i < m; i++)
		if (strcmp(txt2[i].text, txt[i].text) != 0)
			abort();
	return n;
}

static int
check_ptr(const unsigned char *msg, int len)
{
	size_t hl;
	int n, m, i;

	n = dns_parse_ptr(msg, len, ptr, FUZZ_DNS_MAX);
	if (n < -1 || n > FUZZ_DNS_MAX)
		abort();
	for (i = 0; i < n; i++) {
		hl = strnlen(ptr[i].host, sizeof(ptr[i].host));
		if (hl == 0 || hl >= sizeof(ptr[i].host))
			abort();
		if (ptr[i].host[hl - 1] == '.' && strcmp(ptr[i].host, ".") != 0 &&
		    (hl < 2 || ptr[i].host[hl - 2] != '\\'))
			abort();
	}
	m = dns_parse_ptr(msg, len, ptr2, 2);
	if (n == -1 ? m != -1 : m != (n < 2 ? n : 2))
		abort();
	for (i = 0; i < m; i++)
		if (strcmp(ptr2[i].host, ptr[i].host) != 0)
			abort();
	return n;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *msg;
	ns_msg h;
	int len, a, aaaa, mxn, tx, pt;

	if (size > DNS_ANSWER_MAX)
		return 0;
	len = (int)size;
	/* An exact-size copy, so that ASan sees any read past the end. */
	if ((msg = malloc(size > 0 ? size : 1)) == NULL)
		return 0;
	memcpy(msg, data, size);

	check_mx(msg, len);
	mxn = dns_parse_mx(msg, len, mx, FUZZ_DNS_MAX);
	a = check_addrs(msg, len, ns_t_a);
	aaaa = check_addrs(msg, len, ns_t_aaaa);
	if (dns_parse_addrs(msg, len, ns_t_mx, ss, FUZZ_DNS_MAX) != -1 ||
	    dns_parse_addrs(msg, len, 0, ss, FUZZ_DNS_MAX) != -1)
		abort();
	tx = check_txt(msg, len);
	pt = check_ptr(msg, len);
	if (ns_initparse(msg, len, &h) == -1 && (mxn != -1 || a != -1 || aaaa != -1 ||
	    tx != -1 || pt != -1))
		abort();
	free(msg);
	return 0;
}
