/*
 * test_dns_records: relay/dns_records.c without a network: the TXT and PTR answer
 * parsers on hand-built messages (several character-strings, empty strings, control
 * bytes, records too long to keep, strings overrunning the RDATA, compressed PTR
 * names, every truncation) and reverse names of IPv4 and IPv6 addresses. The look-ups
 * run against dnsmasq in tests/check/test_check.py.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "lib/log.h"
#include "relay/dns_records.h"
#include "tests/unit/t.h"
#include "tests/unit/t_dnsmsg.h"

/* An answer owned by the question's name; returns where its RDLENGTH goes. */
static int
rr_start(struct msg *m, unsigned type)
{
	int at;

	put16(m, 0xc000 | 12);
	put16(m, type);
	put16(m, ns_c_in);
	put16(m, 0);
	put16(m, 300);
	at = m->len;
	put16(m, 0);
	return at;
}

static void
rr_end(struct msg *m, int at)
{
	unsigned len = (unsigned)(m->len - at - 2);

	m->b[at] = (unsigned char)(len >> 8);
	m->b[at + 1] = (unsigned char)len;
}

/* A TXT record of the given character-strings (NULL-terminated list). */
static void
rr_txt(struct msg *m, const char *const *strs)
{
	int at = rr_start(m, ns_t_txt);
	size_t n;

	for (; *strs != NULL; strs++) {
		n = strlen(*strs);
		put8(m, (unsigned)n);
		memcpy(m->b + m->len, *strs, n);
		m->len += (int)n;
	}
	rr_end(m, at);
}

static void
test_parse_txt(void)
{
	static struct dns_txt txt[4];
	static const char *const spf[] = { "v=spf1 ", "mx -all", NULL };
	static const char *const empty[] = { "", NULL };
	static const char *const ctl[] = { "a\tb\001c\177", NULL };
	char s255[256];
	const char *const long_one[] = { s255, s255, NULL };
	struct msg m;
	int off, at;

	test_begin("dns_parse_txt: strings joined, records in order, controls as '?'");
	msg_start(&m, "example.test", ns_t_txt, 4, 0, 0);
	rr_txt(&m, spf);
	rr_txt(&m, empty);
	rr_txt(&m, ctl);
	at = rr_start(&m, ns_t_a);	/* another type: not taken */
	put16(&m, 0xc000);
	put16(&m, 0x0201);
	rr_end(&m, at);
	test_assert(dns_parse_txt(m.b, m.len, txt, 4) == 3);
	test_assert_str(txt[0].text, "v=spf1 mx -all");
	test_assert_str(txt[1].text, "");
	test_assert_str(txt[2].text, "a?b?c?");
	test_assert(dns_parse_txt(m.b, m.len, txt, 1) == 1);
	test_assert_str(txt[0].text, "v=spf1 mx -all");
	for (off = 0; off < m.len; off++)
		test_assert_idx(dns_parse_txt(m.b, off, txt, 4) == -1, off);
	test_end();

	test_begin("dns_parse_txt: a 510-octet record from two strings");
	memset(s255, 'k', 255);
	s255[255] = '\0';
	msg_start(&m, "sel._domainkey.example.test", ns_t_txt, 1, 0, 0);
	rr_txt(&m, long_one);
	test_assert(dns_parse_txt(m.b, m.len, txt, 4) == 1);
	test_assert(strlen(txt[0].text) == 510);
	test_end();

	test_begin("dns_parse_txt: a record longer than DNS_TXT_MAX is skipped");
	msg_start(&m, "example.test", ns_t_txt, 2, 0, 0);
	at = rr_start(&m, ns_t_txt);
	for (off = 0; off < 17; off++) {	/* 17 * 255 > 4096 */
		put8(&m, 255);
		memset(m.b + m.len, 'x', 255);
		m.len += 255;
	}
	rr_end(&m, at);
	rr_txt(&m, spf);
	test_assert(dns_parse_txt(m.b, m.len, txt, 4) == 1);
	test_assert_str(txt[0].text, "v=spf1 mx -all");
	test_end();

	test_begin("dns_parse_txt: a string overrunning the RDATA, empty RDATA");
	msg_start(&m, "example.test", ns_t_txt, 1, 0, 0);
	at = rr_start(&m, ns_t_txt);
	put8(&m, 5);
	put8(&m, 'a');
	put8(&m, 'b');
	rr_end(&m, at);
	test_assert(dns_parse_txt(m.b, m.len, txt, 4) == -1);
	msg_start(&m, "example.test", ns_t_txt, 1, 0, 0);
	rr_end(&m, rr_start(&m, ns_t_txt));
	test_assert(dns_parse_txt(m.b, m.len, txt, 4) == -1);
	test_end();
}

static void
test_parse_ptr(void)
{
	struct dns_name names[4];
	struct msg m;
	int at, off;

	test_begin("dns_parse_ptr: names, compressed too, without the trailing dot");
	msg_start(&m, "1.2.0.192.in-addr.arpa", ns_t_ptr, 2, 0, 0);
	at = rr_start(&m, ns_t_ptr);
	put_name(&m, "mx.example.test");
	rr_end(&m, at);
	at = rr_start(&m, ns_t_ptr);
	put8(&m, 3);
	memcpy(m.b + m.len, "www", 3);
	m.len += 3;
	put16(&m, 0xc000 | (12 + 2));	/* "2.0.192.in-addr.arpa" */
	rr_end(&m, at);
	test_assert(dns_parse_ptr(m.b, m.len, names, 4) == 2);
	test_assert_str(names[0].host, "mx.example.test");
	test_assert_str(names[1].host, "www.2.0.192.in-addr.arpa");
	test_assert(dns_parse_ptr(m.b, m.len, names, 1) == 1);
	test_assert(dns_parse_txt(m.b, m.len, NULL, 0) == 0);
	for (off = 0; off < m.len; off++)
		test_assert_idx(dns_parse_ptr(m.b, off, names, 4) == -1, off);
	test_end();

	test_begin("dns_parse_ptr: RDATA longer than its name is malformed");
	msg_start(&m, "1.2.0.192.in-addr.arpa", ns_t_ptr, 1, 0, 0);
	at = rr_start(&m, ns_t_ptr);
	put_name(&m, "mx.example.test");
	put8(&m, 0);
	rr_end(&m, at);
	test_assert(dns_parse_ptr(m.b, m.len, names, 4) == -1);
	test_end();
}

static void
test_reverse_name(void)
{
	struct sockaddr_storage ss;
	char out[80];

	test_begin("dns_reverse_name: in-addr.arpa and ip6.arpa");
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &((struct sockaddr_in *)&ss)->sin_addr);
	test_assert(dns_reverse_name(&ss, out, sizeof(out)) == 0);
	test_assert_str(out, "1.2.0.192.in-addr.arpa");
	test_assert(dns_reverse_name(&ss, out, 22) == -1);
	test_assert(dns_reverse_name(&ss, out, 23) == 0);
	ss.ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::abc:1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
	test_assert(dns_reverse_name(&ss, out, sizeof(out)) == 0);
	test_assert_str(out, "1.0.0.0.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2."
	    "ip6.arpa");
	test_assert(strlen(out) == 72);
	test_assert(dns_reverse_name(&ss, out, 72) == -1);
	test_assert(dns_reverse_name(&ss, out, 73) == 0);
	ss.ss_family = AF_UNIX;
	test_assert(dns_reverse_name(&ss, out, sizeof(out)) == -1);
	test_end();
}

int
main(void)
{
	log_discard(1);
	test_parse_txt();
	test_parse_ptr();
	test_reverse_name();
	return test_exit();
}
