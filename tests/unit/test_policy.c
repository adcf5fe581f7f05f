/*
 * test_policy: smtpd/policy.c — who mail is accepted for: the owner's local parts
 * (with subaddresses) in the owner's domains, postmaster everywhere, nothing else.
 */
#include "lib/settings.h"
#include "smtpd/address.h"
#include "smtpd/policy.h"
#include "tests/unit/t.h"

static const char policy_conf[] =
	"hostname mx.example.org\n"
	"domains example.org Example.NET\n"
	"local_parts alice bob\n"
	"subaddress_delimiters +-\n"
	"maildir /nonexistent\n";

static const struct {
	const char		*rcpt;
	enum rcpt_verdict	 want;
} policy_cases[] = {
	/* ours */
	{ "<alice@example.org>", RCPT_LOCAL },
	{ "<bob@example.net>", RCPT_LOCAL },
	{ "<ALICE@EXAMPLE.ORG>", RCPT_LOCAL },			/* case-insensitive */
	{ "<Bob@example.NET>", RCPT_LOCAL },
	{ "<alice+tag@example.org>", RCPT_LOCAL },		/* subaddress */
	{ "<alice-tag@example.org>", RCPT_LOCAL },		/* second delimiter */
	{ "<alice+@example.org>", RCPT_LOCAL },
	{ "<alice+a+b@example.org>", RCPT_LOCAL },
	{ "<postmaster@example.org>", RCPT_LOCAL },		/* RFC 5321 §4.5.1 */
	{ "<PostMaster@example.net>", RCPT_LOCAL },
	{ "<postmaster+x@example.org>", RCPT_LOCAL },
	{ "<Postmaster>", RCPT_LOCAL },				/* §4.1.1.3 */
	{ "<\"alice\"@example.org>", RCPT_LOCAL },		/* same mailbox, quoted */
	{ "<@relay.example:alice@example.org>", RCPT_LOCAL },	/* route ignored */
	/* our domains, not our names */
	{ "<carol@example.org>", RCPT_UNKNOWN_USER },
	{ "<alicex@example.org>", RCPT_UNKNOWN_USER },
	{ "<ali@example.org>", RCPT_UNKNOWN_USER },
	{ "<+alice@example.org>", RCPT_UNKNOWN_USER },		/* empty base */
	{ "<-@example.org>", RCPT_UNKNOWN_USER },
	{ "<alice.x@example.org>", RCPT_UNKNOWN_USER },
	{ "<alice%evil.example@example.org>", RCPT_UNKNOWN_USER },	/* percent hack */
	{ "<\"alice@evil.example\"@example.org>", RCPT_UNKNOWN_USER },
	{ "<root@example.org>", RCPT_UNKNOWN_USER },
	/* not ours: never relayed */
	{ "<alice@example.com>", RCPT_RELAY_DENIED },
	{ "<alice@sub.example.org>", RCPT_RELAY_DENIED },
	{ "<alice@example.org.evil.example>", RCPT_RELAY_DENIED },
	{ "<alice@exampleXorg>", RCPT_RELAY_DENIED },
	{ "<postmaster@example.com>", RCPT_RELAY_DENIED },
	{ "<alice@[127.0.0.1]>", RCPT_RELAY_DENIED },		/* literals: relaying */
	{ "<alice@[IPv6:::1]>", RCPT_RELAY_DENIED },
	{ "<alice@[example.org]>", RCPT_RELAY_DENIED },
	{ "<alice@ex\xc3\xa4mple.org>", RCPT_RELAY_DENIED },
};

int
main(void)
{
	struct settings cfg;
	struct smtp_path p;
	const char *rest;
	char err[256];
	size_t i;

	test_begin("policy: setup");
	test_assert(settings_parse(&cfg, policy_conf, sizeof(policy_conf) - 1, "t.conf", err,
	    sizeof(err)) == 0);
	test_end();

	test_begin("policy: recipients");
	for (i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		test_assert_idx(smtp_parse_path(policy_cases[i].rcpt, false, true, true, &p,
		    &rest) == ADDR_OK, i);
		test_assert_idx(policy_rcpt(&cfg, &p) == policy_cases[i].want, i);
	}
	test_end();

	test_begin("policy: default local parts are postmaster only");
	{
		static const char conf2[] = "domains example.org\nmaildir /m\n";
		struct settings c2;

		test_assert(settings_parse(&c2, conf2, sizeof(conf2) - 1, "t.conf", err,
		    sizeof(err)) == 0);
		smtp_parse_path("<alice@example.org>", false, true, true, &p, &rest);
		test_assert(policy_rcpt(&c2, &p) == RCPT_UNKNOWN_USER);
		smtp_parse_path("<postmaster@example.org>", false, true, true, &p, &rest);
		test_assert(policy_rcpt(&c2, &p) == RCPT_LOCAL);
		/* Only "+" by default: a hyphen is part of the name. */
		smtp_parse_path("<postmaster-x@example.org>", false, true, true, &p, &rest);
		test_assert(policy_rcpt(&c2, &p) == RCPT_UNKNOWN_USER);
		settings_free(&c2);
	}
	test_end();
	settings_free(&cfg);
	return test_exit();
}
