/*
 * test_mailrec: relay/mailrec.c: DKIM tag-lists (RFC 6376 §3.2, §3.6.1), DMARC records
 * (RFC 7489 §6.4) and SPF evaluation without DNS (RFC 7208 §4.6, §5) on tables of
 * records as they are published, right and wrong.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "relay/mailrec.h"
#include "tests/unit/t.h"

static void
test_tag(void)
{
	char v[64];
	int pos = -1;

	test_begin("mailrec_tag: values trimmed, positions, absent, malformed");
	test_assert(mailrec_tag(" v = DKIM1 ;k=rsa; p= AB CD ;", "p", v, sizeof(v), &pos)
	    == 1);
	test_assert_str(v, "AB CD");
	test_assert(pos == 2);
	test_assert(mailrec_tag("v=DKIM1; k=rsa", "v", v, sizeof(v), &pos) == 1 && pos == 0);
	test_assert(mailrec_tag("v=DKIM1; k=rsa", "p", v, sizeof(v), NULL) == 0);
	test_assert(mailrec_tag("v=DKIM1;; k=rsa;", "k", v, sizeof(v), &pos) == 1 &&
	    pos == 1);
	test_assert(mailrec_tag("p=", "p", v, sizeof(v), NULL) == 1 && v[0] == '\0');
	test_assert(mailrec_tag("", "p", v, sizeof(v), NULL) == 0);
	test_assert(mailrec_tag("v=DKIM1; junk", "p", v, sizeof(v), NULL) == -1);
	test_assert(mailrec_tag("1x=a", "p", v, sizeof(v), NULL) == -1);
	test_assert(mailrec_tag("a-b=c", "p", v, sizeof(v), NULL) == -1);
	test_assert(mailrec_tag("p=a; p=b", "p", v, sizeof(v), NULL) == -1);
	test_assert(mailrec_tag("P=a", "p", v, sizeof(v), NULL) == 0);	/* case counts */
	test_assert(mailrec_tag("p=abcd", "p", v, 4, NULL) == -1);
	test_assert(mailrec_tag("p=abc", "p", v, 4, NULL) == 1);
	test_end();
}

static void
test_dkim_key(void)
{
	char p[64];

	test_begin("mailrec_dkim_key: p= without whitespace; not a key record");
	test_assert(mailrec_dkim_key("v=DKIM1; k=ed25519; p=ab cd\t\r\n ef", p, sizeof(p))
	    == 1);
	test_assert_str(p, "abcdef");
	test_assert(mailrec_dkim_key("k=rsa; p=XYZ", p, sizeof(p)) == 1);	/* v= optional */
	test_assert_str(p, "XYZ");
	test_assert(mailrec_dkim_key("v=DKIM1; p=", p, sizeof(p)) == 1 && p[0] == '\0');
	test_assert(mailrec_dkim_key("k=rsa; v=DKIM1; p=XYZ", p, sizeof(p)) == 0);
	test_assert(mailrec_dkim_key("v=DKIM2; p=XYZ", p, sizeof(p)) == 0);
	test_assert(mailrec_dkim_key("v=spf1 mx -all", p, sizeof(p)) == 0);
	test_assert(mailrec_dkim_key("v=DKIM1; k=rsa", p, sizeof(p)) == 0);
	test_assert(mailrec_dkim_key("v=DKIM1; garbage", p, sizeof(p)) == -1);
	test_end();
}

static void
test_dmarc(void)
{
	char pol[16];

	test_begin("mailrec_dmarc: v=DMARC1 first, then a valid p=");
	test_assert(mailrec_dmarc("v=DMARC1; p=quarantine; rua=mailto:a@b", pol,
	    sizeof(pol)) == 1);
	test_assert_str(pol, "quarantine");
	test_assert(mailrec_dmarc(" v = DMARC1 ;p=REJECT", pol, sizeof(pol)) == 1);
	test_assert_str(pol, "reject");
	test_assert(mailrec_dmarc("v=DMARC1;p=none;", pol, sizeof(pol)) == 1);
	test_assert(mailrec_dmarc("v=DMARC1; rua=mailto:a@b", pol, sizeof(pol)) == -1);
	test_assert(mailrec_dmarc("v=DMARC1; p=maybe", pol, sizeof(pol)) == -1);
	test_assert(mailrec_dmarc("v=DMARC1; p=none; p=reject", pol, sizeof(pol)) == -1);
	test_assert(mailrec_dmarc("p=none; v=DMARC1", pol, sizeof(pol)) == 0);
	test_assert(mailrec_dmarc("v=DMARC10; p=none", pol, sizeof(pol)) == 0);
	test_assert(mailrec_dmarc("v=spf1 mx", pol, sizeof(pol)) == 0);
	test_assert(mailrec_dmarc("", pol, sizeof(pol)) == 0);
	test_end();
}

static void
addr(struct sockaddr_storage *ss, const char *text)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
}

static void
test_spf(void)
{
	static const struct {
		const char	*rec;
		bool		 mx_is_us;
		enum spf_verdict want;
		const char	*term;
		bool		 pass_all;
	} cases[] = {
		{ "v=spf1 mx -all", true, SPF_COVERED, "mx", false },
		{ "v=spf1 mx -all", false, SPF_NOT_COVERED, "-all", false },
		{ "V=SPF1 MX -ALL", true, SPF_COVERED, "MX", false },
		{ "v=spf1 mx:example.org -all", true, SPF_COVERED, "mx:example.org", false },
		{ "v=spf1 mx:example.org. -all", true, SPF_COVERED, "mx:example.org.", false },
		{ "v=spf1 mx/24//64 -all", true, SPF_COVERED, "mx/24//64", false },
		{ "v=spf1 mx:other.example -all", true, SPF_UNKNOWN, "mx:other.example", false },
		{ "v=spf1 a:mx.example.org -all", false, SPF_COVERED, "a:mx.example.org", false },
		{ "v=spf1 a -all", false, SPF_UNKNOWN, "a", false },
		{ "v=spf1 ip4:192.0.2.0/24 -all", false, SPF_COVERED, "ip4:192.0.2.0/24", false },
		{ "v=spf1 ip4:192.0.2.1 -all", false, SPF_COVERED, "ip4:192.0.2.1", false },
		{ "v=spf1 ip4:192.0.2.128/25 -all", false, SPF_NOT_COVERED, "-all", false },
		{ "v=spf1 ip4:192.0.3.0/23 -all", false, SPF_COVERED, "ip4:192.0.3.0/23", false },
		{ "v=spf1 ip4:0.0.0.0/0", false, SPF_COVERED, "ip4:0.0.0.0/0", false },
		{ "v=spf1 ip6:2001:db8::/32 -all", false, SPF_COVERED, "ip6:2001:db8::/32",
		    false },
		{ "v=spf1 ip6:2001:db9::/32 ~all", false, SPF_NOT_COVERED, "~all", false },
		{ "v=spf1 -mx +all", true, SPF_NOT_COVERED, "-mx", false },
		{ "v=spf1 ?mx -all", true, SPF_NOT_COVERED, "?mx", false },
		{ "v=spf1 +mx -all", true, SPF_COVERED, "+mx", false },
		{ "v=spf1 +all", false, SPF_COVERED, "+all", true },
		{ "v=spf1 all", false, SPF_COVERED, "all", true },
		{ "v=spf1 include:_spf.example.net mx -all", true, SPF_UNKNOWN,
		    "include:_spf.example.net", false },
		{ "v=spf1 mx include:_spf.example.net -all", true, SPF_COVERED, "mx", false },
		{ "v=spf1 exists:%{i}.x.example -all", false, SPF_UNKNOWN,
		    "exists:%{i}.x.example", false },
		{ "v=spf1 ptr -all", false, SPF_UNKNOWN, "ptr", false },
		{ "v=spf1 mx:%{d} -all", true, SPF_UNKNOWN, "mx:%{d}", false },
		{ "v=spf1 redirect=_spf.example.net", false, SPF_UNKNOWN,
		    "redirect=_spf.example.net", false },
		{ "v=spf1 exp=explain.example mx -all", true, SPF_COVERED, "mx", false },
		{ "v=spf1", false, SPF_NOT_COVERED, "", false },
		{ "v=spf1   mx   ", true, SPF_COVERED, "mx", false },
		/* permerrors (§4.6, §5) */
		{ "v=spf1 ip4:192.0.2 -all", false, SPF_INVALID, "ip4:192.0.2", false },
		{ "v=spf1 ip4:192.0.2.0/33 -all", false, SPF_INVALID, "ip4:192.0.2.0/33",
		    false },
		{ "v=spf1 ip6:2001:db8::/129", false, SPF_INVALID, "ip6:2001:db8::/129", false },
		{ "v=spf1 ip4:2001:db8::1", false, SPF_INVALID, "ip4:2001:db8::1", false },
		{ "v=spf1 ip4 -all", false, SPF_INVALID, "ip4", false },
		{ "v=spf1 include -all", false, SPF_INVALID, "include", false },
		{ "v=spf1 all:x", false, SPF_INVALID, "all:x", false },
		{ "v=spf1 frob -all", false, SPF_INVALID, "frob", false },
		{ "v=spf1 mx: -all", true, SPF_INVALID, "mx:", false },
		{ "v=spf1 mx/33 -all", true, SPF_INVALID, "mx/33", false },
		{ "v=spf1 - mx", true, SPF_INVALID, "-", false },
		{ "v=spf10 mx", true, SPF_INVALID, "", false },
		{ "spf1 mx", true, SPF_INVALID, "", false },
	};
	struct sockaddr_storage addrs[2];
	struct spf_result r;
	size_t i;

	addr(&addrs[0], "192.0.2.1");
	addr(&addrs[1], "2001:db8::1");
	test_begin("mailrec_spf_eval: first matching term decides");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mailrec_spf_eval(cases[i].rec, "example.org", "mx.example.org",
		    cases[i].mx_is_us, addrs, 2, &r);
		test_assert_idx(r.verdict == cases[i].want, i);
		test_assert_idx(strcmp(r.term, cases[i].term) == 0, i);
		test_assert_idx(r.pass_all == cases[i].pass_all, i);
	}
	test_end();

	test_begin("mailrec_spf_eval: \"a\" when the domain is the host itself");
	mailrec_spf_eval("v=spf1 a -all", "mx.example.org", "MX.example.org.", false, addrs, 2,
	    &r);
	test_assert(r.verdict == SPF_COVERED);
	test_end();

	test_begin("mailrec_spf_eval: no addresses, a long term cut");
	mailrec_spf_eval("v=spf1 ip4:192.0.2.0/24 include:a-very-long-name-that-goes-on-and-on"
	    ".and-on-and-on.example.net -all", "example.org", "mx.example.org", false, NULL, 0,
	    &r);
	test_assert(r.verdict == SPF_UNKNOWN);
	test_assert(strlen(r.term) == sizeof(r.term) - 1);
	test_assert(strncmp(r.term, "include:a-very-long", 19) == 0);
	test_end();

	test_begin("mailrec_is_spf");
	test_assert(mailrec_is_spf("v=spf1"));
	test_assert(mailrec_is_spf("v=spf1 -all"));
	test_assert(!mailrec_is_spf("v=spf1-all"));
	test_assert(!mailrec_is_spf(" v=spf1"));
	test_assert(!mailrec_is_spf("v=DKIM1"));
	test_end();
}

int
main(void)
{
	test_tag();
	test_dkim_key();
	test_dmarc();
	test_spf();
	return test_exit();
}
