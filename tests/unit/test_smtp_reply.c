/*
 * test_smtp_reply: relay/smtp_reply.c — the SMTP client's reply parser (single and
 * multi-line replies, "ddd" alone, RFC 3463 enhanced codes and their repetition,
 * malformed lines, a code changing mid-reply, the 100-line cap, the text cap and
 * non-printable bytes, lines that are not NUL-terminated) and the EHLO keywords
 * (case, SIZE values, AUTH in both forms, look-alikes, a refused EHLO). Also the
 * client's DATA transparency (relay/smtp_client.c smtpc_dot_*): stuffing, bare CR
 * and LF, a missing last CRLF, and pieces cut anywhere.
 */
#include <stdio.h>
#include <string.h>

#include "relay/smtp_client.h"
#include "tests/unit/t.h"

/* Feed NULL-terminated lines; the last parse result (or -2 if none). */
static int
feed(struct smtpc_reply *r, struct smtpc *ehlo, const char *const *lines)
{
	struct smtp_reply_parser p;
	int rc = -2;

	smtp_reply_parser_init(&p, r);
	p.ehlo = ehlo;
	for (; *lines != NULL; lines++) {
		rc = smtp_reply_parse_line(&p, *lines, strlen(*lines));
		if (rc != 0)
			break;
	}
	return rc;
}

static void
test_single(void)
{
	struct smtpc_reply r;
	const char *ok[] = { "250 OK", NULL };
	const char *bare[] = { "354", NULL };
	const char *empty[] = { "220 ", NULL };

	test_begin("smtp_reply: single line, code alone, empty text");
	test_assert(feed(&r, NULL, ok) == 1);
	test_assert(r.code == 250);
	test_assert_str(r.enhanced, "");
	test_assert_str(r.text, "OK");
	test_assert(feed(&r, NULL, bare) == 1);
	test_assert(r.code == 354);
	test_assert_str(r.text, "");
	test_assert(feed(&r, NULL, empty) == 1);
	test_assert(r.code == 220);
	test_assert_str(r.text, "");
	test_end();
}

static void
test_multi(void)
{
	struct smtp_reply_parser p;
	struct smtpc_reply r;
	const char *lines[] = { "250-mx.example.com Hello", "250-", "250-PIPELINING",
	    "250 HELP" };
	size_t i;

	test_begin("smtp_reply: multi-line, joined with one space, empty lines skipped");
	smtp_reply_parser_init(&p, &r);
	for (i = 0; i < 3; i++)
		test_assert_idx(smtp_reply_parse_line(&p, lines[i], strlen(lines[i])) == 0, i);
	test_assert(smtp_reply_parse_line(&p, lines[3], strlen(lines[3])) == 1);
	test_assert(p.lines == 4);
	test_assert(r.code == 250);
	test_assert_str(r.text, "mx.example.com Hello PIPELINING HELP");
	/* Complete: another line is an error, not a new reply. */
	test_assert(smtp_reply_parse_line(&p, "250 more", 8) == -1);
	test_end();
}

static void
test_enhanced(void)
{
	static const struct {
		const char	*line;
		const char	*enh;
		const char	*text;
	} cases[] = {
		{ "550 5.1.1 User unknown", "5.1.1", "User unknown" },
		{ "250 2.0.0 Ok: queued as 4F2", "2.0.0", "Ok: queued as 4F2" },
		{ "451 4.7.1", "4.7.1", "" },
		{ "452 4.3.1  Insufficient", "4.3.1", "Insufficient" },
		{ "554 5.123.456 x", "5.123.456", "x" },
		{ "250 2.0 ok", "", "2.0 ok" },
		{ "250 3.0.0 no", "", "3.0.0 no" },
		{ "250 6.0.0 no", "", "6.0.0 no" },
		{ "250 2.0.0x no", "", "2.0.0x no" },
		{ "250 2.1000.0 no", "", "2.1000.0 no" },
		{ "250 2..0 no", "", "2..0 no" },
		{ "250 2.0. no", "", "2.0. no" },
		{ "250 x 2.0.0", "", "x 2.0.0" },
	};
	struct smtpc_reply r;
	const char *lines[2] = { NULL, NULL };
	const char *gmail[] = {
		"550-5.1.1 The email account that you tried to reach does not exist.",
		"550-5.1.1 Please try",
		"550 5.1.1 https://support.example/?p=NoSuchUser x1si",
		NULL };
	const char *other[] = { "451-4.3.0 first", "451 4.7.0 second", NULL };
	size_t i;

	test_begin("smtp_reply: RFC 3463 enhanced codes, shown once");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lines[0] = cases[i].line;
		test_assert_idx(feed(&r, NULL, lines) == 1, i);
		test_assert_idx(strcmp(r.enhanced, cases[i].enh) == 0, i);
		test_assert_idx(strcmp(r.text, cases[i].text) == 0, i);
	}
	test_assert(feed(&r, NULL, gmail) == 1);
	test_assert(r.code == 550);
	test_assert_str(r.enhanced, "5.1.1");
	test_assert_str(r.text, "The email account that you tried to reach does not exist. "
	    "Please try https://support.example/?p=NoSuchUser x1si");
	/* A different code on a later line stays in the text; the first one counts. */
	test_assert(feed(&r, NULL, other) == 1);
	test_assert_str(r.enhanced, "4.3.0");
	test_assert_str(r.text, "first 4.7.0 second");
	test_end();
}

static void
test_malformed(void)
{
	static const char *bad[] = {
		"", "2", "25", "25 OK", "2500 OK", "abc", "25a OK", "250_OK", "250\tOK",
		"150 continue", "650 no", "000", "099 x", "-250 x", " 250 x",
	};
	struct smtpc_reply r;
	struct smtp_reply_parser p;
	size_t i;

	test_begin("smtp_reply: malformed lines");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		smtp_reply_parser_init(&p, &r);
		test_assert_idx(smtp_reply_parse_line(&p, bad[i], strlen(bad[i])) == -1, i);
	}
	/* A malformed continuation line, after a good first one. */
	smtp_reply_parser_init(&p, &r);
	test_assert(smtp_reply_parse_line(&p, "250-ok", 6) == 0);
	test_assert(smtp_reply_parse_line(&p, "250+no", 6) == -1);
	/* Refused for good: a good line after it does not resume the reply. */
	test_assert(smtp_reply_parse_line(&p, "250 ok", 6) == -1);
	test_end();
}

static void
test_code_change(void)
{
	struct smtpc_reply r;
	const char *changes[] = { "250-first", "251 second", NULL };
	const char *class[] = { "250-first", "550 second", NULL };

	test_begin("smtp_reply: a code that changes mid-reply");
	test_assert(feed(&r, NULL, changes) == -1);
	test_assert(feed(&r, NULL, class) == -1);
	test_end();
}

static void
test_too_many(void)
{
	struct smtp_reply_parser p;
	struct smtpc_reply r;
	unsigned i;
	int rc = 0;

	test_begin("smtp_reply: at most 100 lines");
	smtp_reply_parser_init(&p, &r);
	for (i = 0; i < SMTP_REPLY_MAX_LINES - 1; i++)
		rc |= smtp_reply_parse_line(&p, "250-x", 5);
	test_assert(rc == 0);
	test_assert(smtp_reply_parse_line(&p, "250 last", 8) == 1);
	test_assert(p.lines == 100);

	smtp_reply_parser_init(&p, &r);
	for (i = 0, rc = 0; i < SMTP_REPLY_MAX_LINES; i++)
		rc |= smtp_reply_parse_line(&p, "250-x", 5);
	test_assert(rc == 0);
	test_assert(smtp_reply_parse_line(&p, "250 last", 8) == -1);
	test_end();
}

static void
test_text_cap(void)
{
	struct smtp_reply_parser p;
	struct smtpc_reply r;
	char line[1100];
	size_t i;

	test_begin("smtp_reply: text capped at 511, printable only, length not NUL");
	memset(line, 'a', sizeof(line));
	memcpy(line, "250-", 4);
	smtp_reply_parser_init(&p, &r);
	test_assert(smtp_reply_parse_line(&p, line, 1000) == 0);
	test_assert(strlen(r.text) == sizeof(r.text) - 1);
	test_assert(smtp_reply_parse_line(&p, "250 more", 8) == 1);
	test_assert(strlen(r.text) == sizeof(r.text) - 1);

	smtp_reply_parser_init(&p, &r);
	test_assert(smtp_reply_parse_line(&p, "550 a\x01" "b\x7f" "c\xc3\xa9" "d\te", 14) == 1);
	test_assert_str(r.text, "a?b?c??d?e");
	for (i = 0; r.text[i] != '\0'; i++)
		test_assert_idx(r.text[i] >= 0x20 && r.text[i] < 0x7f, i);

	/* Only len bytes count: "250 OKgarbage" cut at 6. */
	smtp_reply_parser_init(&p, &r);
	test_assert(smtp_reply_parse_line(&p, "250 OKgarbage", 6) == 1);
	test_assert_str(r.text, "OK");
	smtp_reply_parser_init(&p, &r);
	test_assert(smtp_reply_parse_line(&p, "250-OK", 3) == 1);
	test_end();
}

static void
test_ehlo(void)
{
	struct smtpc c;
	struct smtpc_reply r;
	const char *ehlo[] = {
		"250-PIPELINING mx.example.com greets you",	/* the greeting: no keyword */
		"250-size 35882577",
		"250-8bitmime",
		"250-ENHANCEDSTATUSCODES",
		"250-SmtpUtf8",
		"250-STARTTLS",
		"250-AUTH LOGIN XOAUTH2",
		"250 AUTH=PLAIN",
		NULL };
	const char *plain[] = { "250-mx", "250-PIPELININGX", "250-SIZE", "250-XSTARTTLS",
	    "250-AUTH CRAM-MD5 PLAINX LOGINX", "250 SMTPUTF8 extra", NULL };
	const char *refused[] = { "550-mx", "550-PIPELINING", "550 STARTTLS", NULL };

	test_begin("smtp_reply: EHLO keywords");
	memset(&c, 0, sizeof(c));
	test_assert(feed(&r, &c, ehlo) == 1);
	test_assert(c.has_pipelining == false);
	test_assert(c.has_size && c.max_size == 35882577ULL);
	test_assert(c.has_8bitmime);
	test_assert(c.has_smtputf8);
	test_assert(c.has_starttls);
	test_assert(c.auth_login && c.auth_plain);
	test_assert_str(r.text, "PIPELINING mx.example.com greets you size 35882577 "
	    "8bitmime ENHANCEDSTATUSCODES SmtpUtf8 STARTTLS AUTH LOGIN XOAUTH2 AUTH=PLAIN");

	smtp_ehlo_reset(&c);
	test_assert(!c.has_size && !c.has_starttls && !c.auth_login && c.max_size == 0);
	test_assert(feed(&r, &c, plain) == 1);
	test_assert(!c.has_pipelining);
	test_assert(c.has_size && c.max_size == 0);
	test_assert(!c.has_starttls);
	test_assert(!c.auth_plain && !c.auth_login);
	test_assert(c.has_smtputf8);	/* parameters after a keyword are its own */

	smtp_ehlo_reset(&c);
	test_assert(feed(&r, &c, refused) == 1);
	test_assert(r.code == 550);
	test_assert(!c.has_pipelining && !c.has_starttls);

	/* SIZE values. */
	memset(&c, 0, sizeof(c));
	smtp_ehlo_keyword(&c, "SIZE 18446744073709551615");
	test_assert(c.has_size && c.max_size == 18446744073709551615ULL);
	smtp_ehlo_keyword(&c, "SIZE 18446744073709551616");
	test_assert(c.has_size && c.max_size == 0);
	smtp_ehlo_keyword(&c, "SIZE 12abc");
	test_assert(c.max_size == 0);
	smtp_ehlo_keyword(&c, "SIZE  100 ");
	test_assert(c.max_size == 100);
	smtp_ehlo_keyword(&c, "SIZE -1");
	test_assert(c.max_size == 0);
	smtp_ehlo_keyword(&c, "");
	smtp_ehlo_keyword(&c, "   ");
	smtp_ehlo_keyword(&c, "=");
	smtp_ehlo_keyword(&c, "AUTH");
	smtp_ehlo_keyword(&c, "AUTH=");
	test_assert(!c.auth_login && !c.auth_plain);
	smtp_ehlo_keyword(&c, "auth  login  ");
	test_assert(c.auth_login && !c.auth_plain);
	test_end();
}

/* Stuff msg cut into pieces of step bytes; the whole output into out. */
static size_t
stuff(const char *msg, size_t len, size_t step, char *out)
{
	struct smtpc_dot d;
	size_t i, n, o = 0;

	smtpc_dot_init(&d);
	for (i = 0; i < len; i += n) {
		n = len - i < step ? len - i : step;
		o += smtpc_dot_feed(&d, msg + i, n, out + o);
	}
	o += smtpc_dot_end(&d, out + o);
	out[o] = '\0';
	return o;
}

static void
test_dot(void)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ "a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r\n..b\r\n.c", "a\r\n...b\r\n..c\r\n.\r\n" },
		{ "a.b\r\n", "a.b\r\n.\r\n" },
		{ "a\n.\nb", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r.\rb\r", "a\r\n..\r\nb\r\n.\r\n" },
		{ "a\r\r\n", "a\r\n\r\n.\r\n" },
		{ "\r\n\r\n", "\r\n\r\n.\r\n" },
		{ "x\r\n.", "x\r\n..\r\n.\r\n" },
	};
	char out[256];
	size_t i, step, n, len;

	test_begin("smtp_client: DATA transparency in pieces of any size");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = strlen(cases[i].in);
		for (step = 1; step <= len + 1; step++) {
			n = stuff(cases[i].in, len, step, out);
			test_assert_idx(n == strlen(cases[i].out), i * 100 + step);
			test_assert_idx(strcmp(out, cases[i].out) == 0, i * 100 + step);
			test_assert_idx(n <= 2 * len + 7, i);
		}
	}
	test_end();
}

int
main(void)
{
	test_single();
	test_multi();
	test_enhanced();
	test_malformed();
	test_code_change();
	test_too_many();
	test_text_cap();
	test_ehlo();
	test_dot();
	return test_exit();
}
