/*
 * test_address: smtpd/address.c — RFC 5321 paths, ESMTP MAIL parameters, and the
 * "FROM:" / "TO:" keyword split.
 */
#include <stdint.h>

#include "smtpd/address.h"
#include "tests/unit/t.h"

#define NUL_OK	1	/* allow_null */
#define PM_OK	2	/* allow_postmaster */
#define UTF8	4	/* SMTPUTF8 given */

static const struct {
	const char	*in;
	int		 opts;
	enum addr_result want;
	const char	*local, *domain, *text, *rest;
} path_cases[] = {
	/* valid */
	{ "<alice@example.org>", 0, ADDR_OK, "alice", "example.org", "alice@example.org", "" },
	{ "<alice@example.org> SIZE=1", 0, ADDR_OK, "alice", "example.org",
	    "alice@example.org", " SIZE=1" },
	{ "<>", NUL_OK, ADDR_OK, "", "", "", "" },
	{ "<> BODY=8BITMIME", NUL_OK, ADDR_OK, "", "", "", " BODY=8BITMIME" },
	{ "<Postmaster>", PM_OK, ADDR_OK, "Postmaster", "", "Postmaster", "" },
	{ "<POSTMASTER>", PM_OK, ADDR_OK, "POSTMASTER", "", "POSTMASTER", "" },
	{ "<postmaster@example.org>", 0, ADDR_OK, "postmaster", "example.org",
	    "postmaster@example.org", "" },
	{ "<@relay.example:bob@example.net>", 0, ADDR_OK, "bob", "example.net",
	    "bob@example.net", "" },
	{ "<@a.example,@b.example:bob@example.net>", 0, ADDR_OK, "bob", "example.net",
	    "bob@example.net", "" },
	{ "<\"john smith\"@example.com>", 0, ADDR_OK, "john smith", "example.com",
	    "\"john smith\"@example.com", "" },
	{ "<\"a\\\"b\\\\c\"@example.com>", 0, ADDR_OK, "a\"b\\c", "example.com",
	    "\"a\\\"b\\\\c\"@example.com", "" },
	{ "<\"\"@example.com>", 0, ADDR_OK, "", "example.com", "\"\"@example.com", "" },
	{ "<a.b.c@example.com>", 0, ADDR_OK, "a.b.c", "example.com", "a.b.c@example.com", "" },
	{ "<!#$%&'*+-/=?^_`{|}~@example.com>", 0, ADDR_OK, "!#$%&'*+-/=?^_`{|}~",
	    "example.com", NULL, "" },
	{ "<user@[192.0.2.1]>", 0, ADDR_OK, "user", "[192.0.2.1]", "user@[192.0.2.1]", "" },
	{ "<user@[IPv6:2001:db8::1]>", 0, ADDR_OK, "user", "[IPv6:2001:db8::1]", NULL, "" },
	{ "<a@b-c.d1>", 0, ADDR_OK, "a", "b-c.d1", NULL, "" },
	{ "<j\xc3\xb6rg@b\xc3\xbc" "cher.example>", UTF8, ADDR_OK, "j\xc3\xb6rg",
	    "b\xc3\xbc" "cher.example", NULL, "" },
	{ "<\"j\xc3\xb6rg\"@example.com>", UTF8, ADDR_OK, "j\xc3\xb6rg", "example.com", NULL, "" },
	/* invalid: null and postmaster where not allowed */
	{ "<>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<Postmaster>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<\"Postmaster\">", PM_OK, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<postmaster2>", PM_OK, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: brackets and structure */
	{ "alice@example.org", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice@example.org", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice@>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "< alice@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice @example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice@example.org >", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@b@c>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: source routes */
	{ "<@relay.example bob@example.net>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<@:bob@example.net>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<@a,b@example.net>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<@a.example,:bob@example.net>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: dot-string edge cases */
	{ "<.alice@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<alice.@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<al..ice@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<.@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a(b)@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a,b@example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: domains */
	{ "<a@.example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@example.org.>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@example..org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@-example.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@example-.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<a@exa_mple.org>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: quoted strings */
	{ "<\"unterminated@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<\"a\x01\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<\"a\\\x01\"@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<\"ab\\", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },	/* escape then end */
	{ "<\"a\"b@example.com>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* invalid: address literals */
	{ "<user@[]>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<user@[192.0.2.1>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<user@[1 2]>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<user@[a[b]>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	{ "<user@[192.0.2.1]x>", 0, ADDR_SYNTAX, NULL, NULL, NULL, NULL },
	/* UTF-8 without SMTPUTF8 */
	{ "<j\xc3\xb6rg@example.com>", 0, ADDR_UTF8, NULL, NULL, NULL, NULL },
	{ "<a@b\xc3\xbc" "cher.example>", 0, ADDR_UTF8, NULL, NULL, NULL, NULL },
	{ "<\"j\xc3\xb6rg\"@example.com>", 0, ADDR_UTF8, NULL, NULL, NULL, NULL },
	{ "<@r\xc3\xbc.example:a@example.com>", 0, ADDR_UTF8, NULL, NULL, NULL, NULL },
};

static void
test_path_table(void)
{
	struct smtp_path p;
	const char *rest;
	enum addr_result r;
	size_t i;

	test_begin("address: paths");
	for (i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		int o = path_cases[i].opts;

		r = smtp_parse_path(path_cases[i].in, o & NUL_OK, (o & PM_OK) != 0,
		    (o & UTF8) != 0, &p, &rest);
		test_assert_idx(r == path_cases[i].want, i);
		if (r != ADDR_OK || path_cases[i].want != ADDR_OK) {
			test_assert_idx(rest == path_cases[i].in, i);
			continue;
		}
		test_assert_idx(strcmp(p.local, path_cases[i].local) == 0, i);
		test_assert_idx(strcmp(p.domain, path_cases[i].domain) == 0, i);
		if (path_cases[i].text != NULL)
			test_assert_idx(strcmp(p.text, path_cases[i].text) == 0, i);
		test_assert_idx(strcmp(rest, path_cases[i].rest) == 0, i);
		test_assert_idx(p.is_null == (strcmp(path_cases[i].in, "<>") == 0 ||
		    strncmp(path_cases[i].in, "<> ", 3) == 0), i);
		test_assert_idx(p.is_literal == (p.domain[0] == '['), i);
		test_assert_idx(p.is_quoted == (p.text[0] == '"'), i);
	}
	test_end();
}

/* Build "<" local "@" domain ">" with runs of 'a' of the given sizes. */
static void
make_path(char *out, size_t local, size_t domain)
{
	size_t o = 0, i;

	out[o++] = '<';
	for (i = 0; i < local; i++)
		out[o++] = 'a';
	out[o++] = '@';
	/* labels of up to 63, dot-separated, ending with a letter */
	for (i = 0; i < domain; i++)
		out[o++] = (i % 64 == 63) ? '.' : 'b';
	if (domain > 0 && out[o - 1] == '.')
		out[o - 1] = 'c';
	out[o++] = '>';
	out[o] = '\0';
}

static void
test_path_limits(void)
{
	static const struct {
		size_t	local, domain;
		enum addr_result want;
	} cases[] = {
		{ 64, 10, ADDR_OK },		/* local part at its limit */
		{ 65, 10, ADDR_TOOLONG },
		{ 128, 10, ADDR_TOOLONG },
		{ 200, 10, ADDR_TOOLONG },	/* past the local[] buffer: no overflow */
		{ 1, 252, ADDR_OK },		/* 1 + @ + 252 = 254, with <> 256 */
		{ 2, 252, ADDR_TOOLONG },	/* path 257 */
		{ 1, 255, ADDR_TOOLONG },	/* domain at 255: path too long */
		{ 1, 256, ADDR_TOOLONG },	/* domain over 255 */
		{ 1, 1000, ADDR_TOOLONG },
		{ 64, 189, ADDR_OK },		/* 64 + 1 + 189 + 2 = 256 */
		{ 64, 190, ADDR_TOOLONG },
	};
	char in[1200];
	struct smtp_path p;
	const char *rest;
	size_t i;

	test_begin("address: length limits 64/255/256");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		make_path(in, cases[i].local, cases[i].domain);
		test_assert_idx(smtp_parse_path(in, false, false, false, &p, &rest) ==
		    cases[i].want, i);
		if (cases[i].want == ADDR_OK)
			test_assert_idx(strlen(p.text) + 2 <= SMTP_PATH_MAX, i);
	}
	/* A quoted local part is measured as sent, quotes and escapes included. */
	snprintf(in, sizeof(in), "<\"%062d\"@example.com>", 0);	/* 64 as sent */
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_OK);
	snprintf(in, sizeof(in), "<\"%063d\"@example.com>", 0);	/* 65 */
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_TOOLONG);
	/* A long source route is dropped, and not counted in the path kept. */
	snprintf(in, sizeof(in), "<@%050d.%050d.%050d.%050d.example,@r.example:%064d@example.com>",
	    0, 0, 0, 0, 0);
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_OK);
	test_assert(strlen(p.text) == 64 + 1 + 11);
	/* RFC 1035 §2.3.4: a label over 63 octets is too long, in a route too. */
	snprintf(in, sizeof(in), "<a@%064d.example>", 0);
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_TOOLONG);
	snprintf(in, sizeof(in), "<a@%063d.example>", 0);
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_OK);
	snprintf(in, sizeof(in), "<@%064d.example:a@example.com>", 0);
	test_assert(smtp_parse_path(in, false, false, false, &p, &rest) == ADDR_TOOLONG);
	test_end();
}

static void
test_mail_params(void)
{
	static const struct {
		const char	*in;
		enum addr_result want;
		bool		 has_size;
		uint64_t	 size;
		enum smtp_body	 body;
		bool		 utf8;
	} cases[] = {
		{ "", ADDR_OK, false, 0, SMTP_BODY_7BIT, false },
		{ " ", ADDR_OK, false, 0, SMTP_BODY_7BIT, false },
		{ " SIZE=1000", ADDR_OK, true, 1000, SMTP_BODY_7BIT, false },
		{ " size=0", ADDR_OK, true, 0, SMTP_BODY_7BIT, false },
		{ " SIZE=12345678901234567890", ADDR_OK, true, 12345678901234567890ULL,
		    SMTP_BODY_7BIT, false },
		{ " SIZE=99999999999999999999", ADDR_OK, true, UINT64_MAX, SMTP_BODY_7BIT, false },
		{ " BODY=8BITMIME", ADDR_OK, false, 0, SMTP_BODY_8BITMIME, false },
		{ " body=8bitmime", ADDR_OK, false, 0, SMTP_BODY_8BITMIME, false },
		{ " BODY=7BIT", ADDR_OK, false, 0, SMTP_BODY_7BIT, false },
		{ " SMTPUTF8", ADDR_OK, false, 0, SMTP_BODY_7BIT, true },
		{ "  SIZE=5  BODY=8BITMIME  SMTPUTF8 ", ADDR_OK, true, 5, SMTP_BODY_8BITMIME, true },
		/* invalid */
		{ " SIZE=", ADDR_PARAM, false, 0, 0, false },
		{ " SIZE", ADDR_PARAM, false, 0, 0, false },
		{ " SIZE=-1", ADDR_PARAM, false, 0, 0, false },
		{ " SIZE=1k", ADDR_PARAM, false, 0, 0, false },
		{ " SIZE=+5", ADDR_PARAM, false, 0, 0, false },
		{ " SIZE=123456789012345678901", ADDR_PARAM, false, 0, 0, false },	/* 21 digits */
		{ " SIZE=1 SIZE=2", ADDR_PARAM, false, 0, 0, false },	/* duplicate */
		{ " SIZES=1", ADDR_PARAM, false, 0, 0, false },
		{ " BODY=BINARYMIME", ADDR_PARAM, false, 0, 0, false },
		{ " BODY=", ADDR_PARAM, false, 0, 0, false },
		{ " BODY", ADDR_PARAM, false, 0, 0, false },
		{ " BODY=8BITMIMEX", ADDR_PARAM, false, 0, 0, false },
		{ " SMTPUTF8=yes", ADDR_PARAM, false, 0, 0, false },
		{ " FOO=bar", ADDR_PARAM, false, 0, 0, false },
		{ " RET=HDRS", ADDR_PARAM, false, 0, 0, false },		/* DSN not offered */
		{ " AUTH=<>", ADDR_PARAM, false, 0, 0, false },
	};
	struct smtp_mail_params mp;
	enum addr_result r;
	size_t i;

	test_begin("address: MAIL parameters");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = smtp_parse_mail_params(cases[i].in, &mp);
		test_assert_idx(r == cases[i].want, i);
		if (r != ADDR_OK || cases[i].want != ADDR_OK)
			continue;
		test_assert_idx(mp.has_size == cases[i].has_size, i);
		test_assert_idx(mp.size == cases[i].size, i);
		test_assert_idx(mp.body == cases[i].body, i);
		test_assert_idx(mp.smtputf8 == cases[i].utf8, i);
	}
	test_end();
}

static void
test_path_arg(void)
{
	static const struct {
		const char	*args, *kw, *want;	/* want NULL: refused */
	} cases[] = {
		{ "FROM:<x@y.z>", "FROM", "<x@y.z>" },
		{ "from:<x@y.z>", "FROM", "<x@y.z>" },
		{ "From:<>", "FROM", "<>" },
		{ "FROM: <x@y.z>", "FROM", "<x@y.z>" },		/* Outlook */
		{ "from: <x@y.z>", "FROM", "<x@y.z>" },
		{ "FROM:   <x@y.z> SIZE=1", "FROM", "<x@y.z> SIZE=1" },
		{ "FROM:", "FROM", "" },
		{ "TO:<alice@example.org>", "TO", "<alice@example.org>" },
		{ "to: <alice@example.org>", "TO", "<alice@example.org>" },
		/* invalid */
		{ "FROM <x@y.z>", "FROM", NULL },
		{ "FROM<x@y.z>", "FROM", NULL },
		{ "FROM :<x@y.z>", "FROM", NULL },
		{ "FRO:<x@y.z>", "FROM", NULL },
		{ "FROMX:<x@y.z>", "FROM", NULL },
		{ "TO:<x@y.z>", "FROM", NULL },
		{ "FROM:<x@y.z>", "TO", NULL },
		{ "", "FROM", NULL },
	};
	const char *r;
	size_t i;

	test_begin("address: FROM:/TO: keyword");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = smtp_path_arg(cases[i].args, cases[i].kw);
		if (cases[i].want == NULL)
			test_assert_idx(r == NULL, i);
		else
			test_assert_idx(r != NULL && strcmp(r, cases[i].want) == 0, i);
	}
	test_end();
}

int
main(void)
{
	test_path_table();
	test_path_limits();
	test_mail_params();
	test_path_arg();
	return test_exit();
}
