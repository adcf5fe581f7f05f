/*
 * test_dns: relay/dns.c without a network: the answer parsers on hand-built messages
 * (compression, CNAME, other sections and classes, every truncation, bad RDATA, pointer
 * loops), address literals, and names refused before any query. The look-ups themselves
 * run against dnsmasq in tests/outbound/test_dns_resolver.py.
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "lib/log.h"
#include "relay/dns.h"
#include "tests/unit/t.h"
#include "tests/unit/t_dnsmsg.h"

/* Owner as a pointer to the question name, then type, class, TTL; rdlength follows. */
static void
rr_start(struct msg *m, unsigned type, unsigned class)
{
	put_ptr(m, 12);
	put16(m, type);
	put16(m, class);
	put32(m, 300);
}

/* msg_start() with one answer of type, class IN, RDATA of rdlen octets to follow. */
static void
msg_one_answer(struct msg *m, const char *qname, unsigned type, unsigned rdlen)
{
	msg_start(m, qname, type, 1, 0, 0);
	rr_start(m, type, ns_c_in);
	put16(m, rdlen);
}

/* rr_start() and an rdlength that rr_end() fills in; returns where the RDATA starts. */
static int
rr_begin(struct msg *m, unsigned type)
{
	rr_start(m, type, ns_c_in);
	put16(m, 0);
	return m->len;
}

static void
rr_end(struct msg *m, int rdata)
{
	unsigned n = (unsigned)(m->len - rdata);

	m->b[rdata - 2] = (unsigned char)(n >> 8);
	m->b[rdata - 1] = (unsigned char)(n & 0xff);
}

static void
rr_mx(struct msg *m, unsigned pref, const char *host)
{
	int rdata = rr_begin(m, ns_t_mx);

	put16(m, pref);
	put_name(m, host);
	rr_end(m, rdata);
}

static void
rr_cname(struct msg *m, const char *target)
{
	int rdata = rr_begin(m, ns_t_cname);

	put_name(m, target);
	rr_end(m, rdata);
}

/* An A record, or an AAAA record for an address with a ':'. */
static void
rr_addr(struct msg *m, const char *ip)
{
	bool v6 = strchr(ip, ':') != NULL;
	int rdata = rr_begin(m, v6 ? ns_t_aaaa : ns_t_a);

	inet_pton(v6 ? AF_INET6 : AF_INET, ip, m->b + m->len);
	m->len += v6 ? 16 : 4;
	rr_end(m, rdata);
}

static const char *
ntop(const struct sockaddr_storage *ss, char *buf, size_t bufsz)
{
	const void *a = ss->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ss)->sin_addr;

	return inet_ntop(ss->ss_family, a, buf, (socklen_t)bufsz);
}

static unsigned
port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)ss)->sin6_port :
	    ((const struct sockaddr_in *)ss)->sin_port);
}

static void
test_parse_mx(void)
{
	struct dns_mx mx[8];
	struct msg m;
	int n, off;

	test_begin("dns_parse_mx: records, compression, root, max");
	msg_start(&m, "example.test", ns_t_mx, 4, 0, 0);
	rr_mx(&m, 20, "mx2.example.test");
	/* An exchange compressed against the question: "mx1" + pointer to example.test. */
	rr_start(&m, ns_t_mx, ns_c_in);
	put16(&m, 2 + 4 + 2);
	put16(&m, 10);
	put8(&m, 3);
	memcpy(m.b + m.len, "mx1", 3);
	m.len += 3;
	put_ptr(&m, 12);
	rr_mx(&m, 0, "");
	rr_mx(&m, 65535, "Mixed-Case.Example.TEST");
	n = dns_parse_mx(m.b, m.len, mx, 8);
	test_assert(n == 4);
	test_assert(mx[0].pref == 20);
	test_assert_str(mx[0].host, "mx2.example.test");
	test_assert(mx[1].pref == 10);
	test_assert_str(mx[1].host, "mx1.example.test");
	test_assert(mx[2].pref == 0);
	test_assert_str(mx[2].host, ".");
	test_assert(mx[3].pref == 65535);
	test_assert_str(mx[3].host, "Mixed-Case.Example.TEST");
	/* At most max stored; the rest is still checked. */
	test_assert(dns_parse_mx(m.b, m.len, mx, 2) == 2);
	test_assert(dns_parse_mx(m.b, m.len, mx, 0) == 0);
	/* Every proper prefix is malformed (the counts promise more). */
	for (off = 0; off < m.len; off++)
		test_assert_idx(dns_parse_mx(m.b, off, mx, 8) == -1, off);
	/* So is a byte too many. */
	m.b[m.len] = 0;
	test_assert(dns_parse_mx(m.b, m.len + 1, mx, 8) == -1);
	test_assert(dns_parse_mx(NULL, 0, mx, 8) == -1);
	test_assert(dns_parse_mx(m.b, -1, mx, 8) == -1);
	test_end();

	test_begin("dns_parse_mx: only MX of class IN in the answer section");
	msg_start(&m, "alias.test", ns_t_mx, 3, 1, 1);
	/* A CNAME first, as a recursive server answers an alias, then the target's MX. */
	rr_cname(&m, "real.test");
	rr_mx(&m, 5, "mx.real.test");
	rr_start(&m, ns_t_mx, ns_c_chaos);
	put16(&m, 2 + 1);
	put16(&m, 1);
	put8(&m, 0);
	/* authority and additional: not answers. */
	rr_mx(&m, 7, "ns.test");
	rr_addr(&m, "192.0.2.1");
	n = dns_parse_mx(m.b, m.len, mx, 8);
	test_assert(n == 1);
	test_assert(mx[0].pref == 5);
	test_assert_str(mx[0].host, "mx.real.test");
	test_end();

	test_begin("dns_parse_mx: NODATA and NXDOMAIN messages hold no MX");
	msg_start(&m, "none.test", ns_t_mx, 0, 0, 0);
	test_assert(dns_parse_mx(m.b, m.len, mx, 8) == 0);
	m.b[3] = 0x83;	/* rcode NXDOMAIN: still a well-formed message */
	test_assert(dns_parse_mx(m.b, m.len, mx, 8) == 0);
	test_end();
}

static void
test_parse_mx_malformed(void)
{
	struct dns_mx mx[4];
	struct msg m;
	int off;

	test_begin("dns_parse_mx: RDATA shorter than preference + root");
	msg_one_answer(&m, "x.test", ns_t_mx, 2);
	put16(&m, 10);
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	test_end();

	test_begin("dns_parse_mx: exchange shorter than the RDATA");
	msg_one_answer(&m, "x.test", ns_t_mx, 2 + 1 + 2);
	put16(&m, 10);
	put8(&m, 0);	/* the root, then two stray bytes */
	put16(&m, 0);
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	test_end();

	test_begin("dns_parse_mx: exchange running past the RDATA");
	msg_one_answer(&m, "x.test", ns_t_mx, 2 + 3);
	put16(&m, 10);
	put_name(&m, "mx.test");	/* 9 octets in a 3-octet slot */
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	test_end();

	test_begin("dns_parse_mx: compression loop and pointer out of the message");
	msg_one_answer(&m, "x.test", ns_t_mx, 2 + 2);
	put16(&m, 10);
	put_ptr(&m, (unsigned)m.len);	/* points at itself */
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	m.b[m.len - 1] = 0xff;		/* far past the end */
	m.b[m.len - 2] = 0xc3;
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	test_end();

	test_begin("dns_parse_mx: rdlength past the end, counts too high");
	msg_start(&m, "x.test", ns_t_mx, 1, 0, 0);
	off = m.len;
	rr_mx(&m, 1, "mx.x.test");
	m.b[off + 10] = 0x40;		/* rdlength high byte: 16 KiB */
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	msg_start(&m, "x.test", ns_t_mx, 2, 0, 0);
	rr_mx(&m, 1, "mx.x.test");
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == -1);
	test_end();

	test_begin("dns_parse_mx: an exchange too long for DNS_HOST_MAX is skipped");
	msg_start(&m, "x.test", ns_t_mx, 2, 0, 0);
	/*
	 * 3 labels of 63 octets of '.' (193 on the wire), each escaped as "\." in
	 * presentation form: 380 characters.
	 */
	rr_start(&m, ns_t_mx, ns_c_in);
	put16(&m, 2 + 3 * 64 + 1);
	put16(&m, 1);
	for (int l = 0; l < 3; l++) {
		put8(&m, 63);
		memset(m.b + m.len, '.', 63);
		m.len += 63;
	}
	put8(&m, 0);
	rr_mx(&m, 2, "ok.x.test");
	test_assert(dns_parse_mx(m.b, m.len, mx, 4) == 1);
	test_assert_str(mx[0].host, "ok.x.test");
	test_end();
}

static void
test_parse_addrs(void)
{
	struct sockaddr_storage ss[4];
	struct msg m;
	char buf[INET6_ADDRSTRLEN];
	int off;

	test_begin("dns_parse_addrs: A and AAAA of the answer section");
	msg_start(&m, "h.test", ns_t_a, 4, 0, 1);
	rr_cname(&m, "real.test");
	rr_addr(&m, "192.0.2.1");
	rr_addr(&m, "2001:db8::1");
	rr_addr(&m, "192.0.2.2");
	rr_addr(&m, "198.51.100.1");	/* additional section */
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_a, ss, 4) == 2);
	test_assert(ss[0].ss_family == AF_INET);
	test_assert_str(ntop(&ss[0], buf, sizeof(buf)), "192.0.2.1");
	test_assert_str(ntop(&ss[1], buf, sizeof(buf)), "192.0.2.2");
	test_assert(port_of(&ss[0]) == 0);
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_aaaa, ss, 4) == 1);
	test_assert(ss[0].ss_family == AF_INET6);
	test_assert_str(ntop(&ss[0], buf, sizeof(buf)), "2001:db8::1");
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_a, ss, 1) == 1);
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_mx, ss, 4) == -1);
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_cname, ss, 4) == -1);
	for (off = 0; off < m.len; off++)
		test_assert_idx(dns_parse_addrs(m.b, off, ns_t_a, ss, 4) == -1, off);
	test_end();

	test_begin("dns_parse_addrs: address RDATA of the wrong length");
	msg_one_answer(&m, "h.test", ns_t_a, 5);
	put32(&m, 0xc0000201);
	put8(&m, 0);
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_a, ss, 4) == -1);
	/* The same record is not looked at when AAAA is asked for. */
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_aaaa, ss, 4) == 0);
	msg_one_answer(&m, "h.test", ns_t_aaaa, 4);
	put32(&m, 0x20010db8);
	test_assert(dns_parse_addrs(m.b, m.len, ns_t_aaaa, ss, 4) == -1);
	test_end();
}

static void
test_literals(void)
{
	static const char *bad[] = {
		"[192.0.2]", "[192.0.2.256]", "[2001:db8::1]", "[IPv6:192.0.2.1]",
		"[IPv6:]", "[]", "[", "[x:y]", "[192.0.2.1", "[ 192.0.2.1]",
		"[IPv6:2001:db8::1:2:3:4:5:6:7]",
	};
	struct dns_target t[4];
	struct dns_resolver r;
	char buf[INET6_ADDRSTRLEN];
	size_t n, i;

	/* A resolver that is never asked: the literal paths make no query. */
	test_assert(dns_resolver_init(&r, "127.0.0.1:1", 1) == 0);

	test_begin("dns_mail_targets: address literals");
	test_assert(dns_mail_targets(&r, "[192.0.2.1]", 2525, t, 4, &n) == DNS_OK);
	test_assert(n == 1);
	test_assert_str(t[0].host, "[192.0.2.1]");
	test_assert(t[0].pref == 0);
	test_assert(t[0].addr.ss_family == AF_INET);
	test_assert(t[0].addrlen == sizeof(struct sockaddr_in));
	test_assert_str(ntop(&t[0].addr, buf, sizeof(buf)), "192.0.2.1");
	test_assert(port_of(&t[0].addr) == 2525);
	test_assert(dns_mail_targets(&r, "[IPv6:2001:db8::1]", 25, t, 4, &n) == DNS_OK);
	test_assert(n == 1);
	test_assert(t[0].addr.ss_family == AF_INET6);
	test_assert(t[0].addrlen == sizeof(struct sockaddr_in6));
	test_assert_str(ntop(&t[0].addr, buf, sizeof(buf)), "2001:db8::1");
	test_assert(port_of(&t[0].addr) == 25);
	test_assert(dns_mail_targets(&r, "[ipv6:::1]", 25, t, 4, &n) == DNS_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		test_assert_idx(dns_mail_targets(&r, bad[i], 25, t, 4, &n) == DNS_NOTFOUND, i);
		test_assert_idx(n == 0, i);
	}
	test_assert(dns_mail_targets(&r, "[192.0.2.1]", 25, t, 0, &n) == DNS_TEMPFAIL);
	test_end();

	test_begin("dns_host_targets: IP literals");
	test_assert(dns_host_targets(&r, "192.0.2.7", 587, t, 4, &n) == DNS_OK);
	test_assert(n == 1);
	test_assert_str(ntop(&t[0].addr, buf, sizeof(buf)), "192.0.2.7");
	test_assert(port_of(&t[0].addr) == 587);
	test_assert(dns_host_targets(&r, "2001:db8::7", 465, t, 4, &n) == DNS_OK);
	test_assert(n == 1 && t[0].addr.ss_family == AF_INET6);
	test_assert(port_of(&t[0].addr) == 465);
	test_assert(dns_host_targets(&r, "[2001:db8::8]", 25, t, 4, &n) == DNS_OK);
	test_assert_str(ntop(&t[0].addr, buf, sizeof(buf)), "2001:db8::8");
	test_assert(dns_host_targets(&r, "[not-an-ip]", 25, t, 4, &n) == DNS_NOTFOUND);
	test_end();

	test_begin("names refused before any query");
	test_assert(dns_mail_targets(&r, "", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, ".", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, "a..test", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, "a.test..", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, ".a.test", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, "a b.test", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_mail_targets(&r, "a\\.b.test", 25, t, 4, &n) == DNS_NOTFOUND);
	test_assert(dns_host_targets(&r, "a\r\n.test", 25, t, 4, &n) == DNS_NOTFOUND);
	{
		char longname[300];

		memset(longname, 'a', sizeof(longname) - 1);
		longname[sizeof(longname) - 1] = '\0';
		test_assert(dns_mail_targets(&r, longname, 25, t, 4, &n) == DNS_NOTFOUND);
	}
	test_end();
	dns_resolver_free(&r);

	test_begin("an uninitialised resolver fails temporarily, without a query");
	memset(&r, 0, sizeof(r));
	n = 99;
	test_assert(dns_mail_targets(&r, "example.test", 25, t, 4, &n) == DNS_TEMPFAIL);
	test_assert(n == 0);
	test_assert(dns_host_targets(&r, "mx.example.test.", 25, t, 4, &n) == DNS_TEMPFAIL);
	test_end();
}

static void
test_resolver_init(void)
{
	struct dns_resolver r;

	test_begin("dns_resolver_init: server syntax");
	test_assert(dns_resolver_init(&r, "127.0.0.1:5353", 0) == 0);
	test_assert(r.ok);
	test_assert(r.res.nscount == 1);
	test_assert(r.res.nsaddr_list[0].sin_port == htons(5353));
	test_assert(r.res.retrans == 1);
	test_assert(r.res.retry == 2);
	test_assert((r.res.options & (RES_DEFNAMES | RES_DNSRCH)) == 0);
	dns_resolver_free(&r);
	test_assert(!r.ok);
	test_assert(dns_resolver_init(&r, "[::1]:53", 99) == 0);
	test_assert(r.res.nscount == 1 && r.res.nsaddr_list[0].sin_family == 0);
	test_assert(r.res._u._ext.nsaddrs[0] != NULL &&
	    r.res._u._ext.nsaddrs[0]->sin6_port == htons(53));
	test_assert(r.res.retrans == 30);
	dns_resolver_free(&r);
	test_assert(dns_resolver_init(&r, "localhost:53", 1) == -1);
	dns_resolver_free(&r);
	test_assert(dns_resolver_init(&r, "127.0.0.1", 1) == -1);
	dns_resolver_free(&r);
	test_assert(dns_resolver_init(&r, "127.0.0.1:0", 1) == -1);
	dns_resolver_free(&r);
	test_end();

	test_begin("dns_status_name");
	test_assert_str(dns_status_name(DNS_OK), "ok");
	test_assert_str(dns_status_name(DNS_TEMPFAIL), "tempfail");
	test_assert_str(dns_status_name(DNS_NOTFOUND), "notfound");
	test_assert_str(dns_status_name(DNS_NULLMX), "nullmx");
	test_end();
}

int
main(void)
{
	log_discard(1);
	test_parse_mx();
	test_parse_mx_malformed();
	test_parse_addrs();
	test_literals();
	test_resolver_init();
	return test_exit();
}
