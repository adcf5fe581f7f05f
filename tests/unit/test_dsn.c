/*
 * test_dsn: queue/dsn.c — status codes from replies, the report for one failed
 * recipient field by field, the returned header (end, bare LF, 64 KiB cut), a mixed
 * failed/delayed report, an all-delayed one, hostile strings (CRLF, 8-bit, long) kept
 * in their lines, and delivery into a temporary Maildir (nothing left on failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "queue/dsn.h"
#include "tests/unit/t.h"
#include "tests/unit/t_maildir.h"

#define T0	1767225600	/* Thu, 1 Jan 2026 00:00:00 +0000 */
#define BOUNDARY	"lb-dsn-0123456789abcdef"

static const char msg1[] =
	"Received: from x\r\n\tby y; Wed, 31 Dec 2025 23:00:00 +0000\r\n"
	"From: Alice <alice@example.org>\r\n"
	"To: bob@example.com\r\n"
	"Subject: Lunch on Friday?\r\n"
	"\r\n"
	"Body line\r\n"
	"Subject: not a header\r\n";

static const struct dsn_msg msg_info = {
	.reporting_mta = "mail.example.org",
	.sender = "alice@example.org",
	.queue_id = "Q1234",
	.arrival = T0,
	.will_retry_until = T0 + 5 * 86400,
};

/* out as a NUL-terminated string (the tests search it with strstr). */
static const char *
str(struct buf *out)
{
	if (buf_reserve(out, 1) == -1)
		abort();
	buf_tail(out)[0] = '\0';
	return buf_head(out);
}

/* Every LF after a CR, every CR before an LF, no NUL, no line over 998 octets. */
static bool
crlf_clean(const char *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n')
			col = 0;
		else if (p[i] != '\r' && ++col > 998)
			return false;
	}
	return n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n';
}

/* p with its wrapped lines joined: a CRLF (and the indent after it) that does not
 * end a paragraph becomes one space. */
static char *
flat(const char *p)
{
	char *r = malloc(strlen(p) + 1), *o = r;

	if (r == NULL)
		abort();
	while (*p != '\0') {
		if (p[0] == '\r' && p[1] == '\n' && p[2] != '\r' && p[2] != '\0') {
			for (p += 2; *p == ' '; p++)
				;
			*o++ = ' ';
		} else
			*o++ = *p++;
	}
	*o = '\0';
	return r;
}

/* The part between "--B\r\n" number k (0-based) and the next delimiter. */
static char *
part(const char *s, int k)
{
	const char *p = s, *e;
	char *r;
	int i;

	for (i = 0; i <= k; i++) {
		if ((p = strstr(p, "\r\n--" BOUNDARY "\r\n")) == NULL)
			return NULL;
		p += strlen("\r\n--" BOUNDARY "\r\n");
	}
	if ((e = strstr(p, "\r\n--" BOUNDARY)) == NULL)
		return NULL;
	if ((r = strndup(p, (size_t)(e - p))) == NULL)
		abort();
	return r;
}

static void
test_dsn_status(void)
{
	static const struct {
		int		 code;
		const char	*text;
		const char	*want;
	} cases[] = {
		{ 550, "5.1.1 <bob@example.com>: no such user", "5.1.1" },
		{ 550, "5.1.10 null MX", "5.1.10" },
		{ 556, "5.1.10", "5.1.10" },
		{ 451, "4.3.0 try later", "4.3.0" },
		{ 450, "5.2.2 mailbox full", "4.2.2" },	/* class from the basic code */
		{ 552, "4.3.4 too big", "5.3.4" },
		{ 250, "2.0.0 Ok", "2.0.0" },
		{ 550, "no such user", "5.0.0" },
		{ 550, NULL, "5.0.0" },
		{ 421, "", "4.0.0" },
		{ 554, "5.7.1\tdenied", "5.7.1" },
		{ 550, "5.1 x", "5.0.0" },
		{ 550, "5.1.1.1 x", "5.0.0" },
		{ 550, "5.1234.1 x", "5.0.0" },
		{ 550, "5.123.1234 x", "5.0.0" },
		{ 550, "5.1.1x y", "5.0.0" },
		{ 550, "3.1.1 x", "5.0.0" },
		{ 550, "5..1 x", "5.0.0" },
		{ 354, "go ahead", "4.0.0" },	/* a protocol error: retried */
		{ 999, NULL, "4.0.0" },
		{ 0, "5.1.1 x", "4.1.1" },
	};
	char buf[DSN_STATUS_SIZE];
	size_t i;

	test_begin("dsn: status from reply");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		test_assert_idx(dsn_status_from_reply(cases[i].code, cases[i].text, buf,
		    sizeof(buf)) == buf, i);
		test_assert_idx(strcmp(buf, cases[i].want) == 0, i);
	}
	test_assert(dsn_status_valid(DSN_STATUS_NO_DOMAIN));
	test_assert(dsn_status_valid(DSN_STATUS_NULL_MX));
	test_assert(dsn_status_valid(DSN_STATUS_DNS_TEMP));
	test_assert(dsn_status_valid(DSN_STATUS_REFUSED));
	test_assert(dsn_status_valid(DSN_STATUS_TIMEOUT));
	test_assert(dsn_status_valid(DSN_STATUS_LOOP));
	test_assert(dsn_status_valid(DSN_STATUS_EXPIRED));
	test_assert(dsn_status_valid("5.123.456"));
	test_assert(!dsn_status_valid("3.0.0"));
	test_assert(!dsn_status_valid("5.0."));
	test_assert(!dsn_status_valid(""));
	test_end();
}

static void
test_dsn_failed(void)
{
	struct dsn_rcpt r = {
		.addr = "bob@example.com",
		.action = DSN_FAILED,
		.status = "5.1.1",
		.remote_mta = "mx.example.com",
		.diagnostic = "550 5.1.1 <bob@example.com>: no such user",
		.remote_reply = true,
		.last_attempt = T0 + 60,
	};
	struct buf out;
	const char *s;
	char *p1, *p2, *p3;

	test_begin("dsn: one failed recipient");
	buf_init(&out, DSN_MSG_MAX);
	test_assert(dsn_format(&out, &msg_info, &r, 1, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0 + 120) == 0);
	s = str(&out);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));
	/* The report's own header (RFC 3464 §2, RFC 3834, RFC 6522). */
	test_assert(strncmp(s, "Return-Path: <>\r\n", 17) == 0);
	test_assert(strstr(s, "\r\nFrom: Mail Delivery System "
	    "<MAILER-DAEMON@mail.example.org>\r\n") != NULL);
	test_assert(strstr(s, "\r\nTo: <alice@example.org>\r\n") != NULL);
	test_assert(strstr(s, "\r\nSubject: Undelivered Mail Returned to Sender\r\n") != NULL);
	test_assert(strstr(s, "\r\nDate: Thu, 1 Jan 2026 00:02:00 +0000\r\n") != NULL);
	test_assert(strstr(s, "\r\nMessage-ID: <20260101000200." BOUNDARY
	    "@mail.example.org>\r\n") != NULL);
	test_assert(strstr(s, "\r\nAuto-Submitted: auto-replied\r\n") != NULL);
	test_assert(strstr(s, "\r\nMIME-Version: 1.0\r\n") != NULL);
	test_assert(strstr(s, "\r\nContent-Type: multipart/report; "
	    "report-type=delivery-status;\r\n\tboundary=\"" BOUNDARY "\"\r\n\r\n") != NULL);
	test_assert(strstr(s, "\r\n--" BOUNDARY "--\r\n") != NULL);

	p1 = part(s, 0);
	p2 = part(s, 1);
	p3 = part(s, 2);
	test_assert(p1 != NULL && p2 != NULL && p3 != NULL);
	test_assert(part(s, 3) == NULL);
	if (p1 == NULL || p2 == NULL || p3 == NULL)
		goto done;
	test_assert(strstr(p1, "Content-Type: text/plain; charset=us-ascii\r\n\r\n") == p1 +
	    strlen("Content-Description: Notification\r\n"));
	test_assert(strstr(p1, "This is the mail system at host mail.example.org.") != NULL);
	test_assert(strstr(p1, "<bob@example.com>: host mx.example.com said: 550 5.1.1\r\n"
	    "    <bob@example.com>: no such user\r\n") != NULL);
	{
		char *f = flat(p1);

		test_assert(strstr(f, "queued on Thu, 1 Jan 2026 00:00:00 +0000 with the queue "
		    "ID Q1234.") != NULL);
		free(f);
	}

	test_assert_str(p2, "Content-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n"
	    "\r\n"
	    "Reporting-MTA: dns; mail.example.org\r\n"
	    "X-Letterbox-Queue-ID: Q1234\r\n"
	    "X-Letterbox-Sender: rfc822; alice@example.org\r\n"
	    "Arrival-Date: Thu, 1 Jan 2026 00:00:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@example.com\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.com\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <bob@example.com>: no such user\r\n"
	    "Last-Attempt-Date: Thu, 1 Jan 2026 00:01:00 +0000\r\n");

	/* The returned header: up to the empty line, not a byte of the body. */
	test_assert_str(p3, "Content-Description: Undelivered Message Headers\r\n"
	    "Content-Type: text/rfc822-headers\r\n"
	    "\r\n"
	    "Received: from x\r\n\tby y; Wed, 31 Dec 2025 23:00:00 +0000\r\n"
	    "From: Alice <alice@example.org>\r\n"
	    "To: bob@example.com\r\n"
	    "Subject: Lunch on Friday?\r\n");
	test_assert(strstr(s, "Body line") == NULL);
done:
	free(p1);
	free(p2);
	free(p3);
	buf_clear(&out);
	test_end();
}

static void
test_dsn_header(void)
{
	struct buf out, big;
	bool trunc;
	size_t i;

	test_begin("dsn: header extent");
	buf_init(&out, DSN_HEADER_MAX);
	/* Bare LF, bare CR and NUL; the header ends at "\n\n". */
	test_assert(dsn_header_extract(&out, "A: 1\nB: x\ry\0z\r\n\nbody\n", 21,
	    DSN_HEADER_MAX, &trunc) == 0);
	test_assert(!trunc);
	test_assert(buf_unread(&out) == 16 &&
	    memcmp(buf_head(&out), "A: 1\r\nB: x y z\r\n", 16) == 0);
	/* No body and no empty line: the last line is ended. */
	buf_reset(&out);
	test_assert(dsn_header_extract(&out, "A: 1\r\nB: 2", 10, DSN_HEADER_MAX,
	    &trunc) == 0 && !trunc);
	test_assert(buf_unread(&out) == 12 && memcmp(buf_head(&out), "A: 1\r\nB: 2\r\n",
	    12) == 0);
	/* An empty header, an empty message. */
	buf_reset(&out);
	test_assert(dsn_header_extract(&out, "\r\nbody", 6, DSN_HEADER_MAX, &trunc) == 0 &&
	    !trunc && buf_unread(&out) == 0);
	test_assert(dsn_header_extract(&out, NULL, 0, DSN_HEADER_MAX, &trunc) == 0 &&
	    !trunc && buf_unread(&out) == 0);
	/* A small cap: "A: 1\r\n" (6) fits in 10, "B: 2\r\n" not: cut at the line. */
	test_assert(dsn_header_extract(&out, "A: 1\r\nB: 2\r\n\r\n", 14, 10, &trunc) == 0 &&
	    trunc && buf_unread(&out) == 6);
	buf_reset(&out);
	/* Exactly the cap fits, and the CR LF of the end is never split. */
	test_assert(dsn_header_extract(&out, "A: 1\r\nB: 2\r\n\r\n", 14, 12, &trunc) == 0 &&
	    !trunc && buf_unread(&out) == 12);
	buf_reset(&out);
	test_assert(dsn_header_extract(&out, "A: 1\r\nB: 2\r\n\r\n", 14, 11, &trunc) == 0 &&
	    trunc && buf_unread(&out) == 6);
	buf_reset(&out);
	/* A first line over the cap is cut inside and ended, not inside a character. */
	test_assert(dsn_header_extract(&out, "Subject: \xc3\xa9t\xc3\xa9\r\n\r\n", 17, 12,
	    &trunc) == 0 && trunc);
	test_assert(buf_unread(&out) == 11 &&
	    memcmp(buf_head(&out), "Subject: \r\n", 11) == 0);
	buf_clear(&out);
	test_end();

	test_begin("dsn: header cut at 64 KiB");
	buf_init(&big, 1 << 20);
	buf_init(&out, DSN_MSG_MAX);
	buf_append_str(&big, "Subject: big\r\n");
	for (i = 0; i < 2000; i++)
		buf_printf(&big, "X-Filler-%04zu: %040zu\r\n", i, i);	/* 57 octets */
	buf_append_str(&big, "\r\nbody\r\n");
	{
		struct dsn_rcpt r = { .addr = "bob@example.com", .action = DSN_FAILED,
		    .status = "5.0.0" };
		const char *s;
		char *p3;
		size_t want = 14 + (DSN_HEADER_MAX - 14) / 57 * 57;

		test_assert(dsn_format(&out, &msg_info, &r, 1, buf_head(&big),
		    buf_unread(&big), BOUNDARY, T0) == 0);
		s = str(&out);
		test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));
		p3 = part(s, 2);
		test_assert(p3 != NULL);
		if (p3 != NULL) {
			const char *h = strstr(p3, "\r\n\r\n") + 4;

			test_assert(strlen(h) == want);
			test_assert(strlen(h) <= DSN_HEADER_MAX);
			test_assert(strncmp(h, "Subject: big\r\n", 14) == 0);
			test_assert(strcmp(h + strlen(h) - 2, "\r\n") == 0);
			test_assert(strstr(h, "X-Filler-1999") == NULL);
		}
		free(p3);
		p3 = flat(s);
		test_assert(strstr(p3, "is longer than 65536 octets: only its first") != NULL);
		free(p3);
		/* Only DSN_HEADER_READ octets are looked at: the same from fewer. */
		buf_reset(&out);
		test_assert(dsn_format(&out, &msg_info, &r, 1, buf_head(&big),
		    DSN_HEADER_READ, BOUNDARY, T0) == 0);
		p3 = part(str(&out), 2);
		test_assert(p3 != NULL && strlen(strstr(p3, "\r\n\r\n") + 4) == want);
		free(p3);
	}
	buf_clear(&big);
	buf_clear(&out);
	test_end();
}

static void
test_dsn_mixed(void)
{
	struct dsn_rcpt r[3] = {
		{ .addr = "carol@example.net", .action = DSN_DELAYED,
		  .status = DSN_STATUS_REFUSED, .remote_mta = "mx.example.net",
		  .diagnostic = "connect to mx.example.net[192.0.2.7]:25: connection refused",
		  .remote_reply = false, .last_attempt = T0 + 3600 },
		{ .addr = "bob@example.com", .action = DSN_FAILED, .status = "5.1.1",
		  .remote_mta = "mx.example.com",
		  .diagnostic = "550 5.1.1 no such user", .remote_reply = true,
		  .last_attempt = T0 + 60 },
		{ .addr = "dave@nowhere.example", .action = DSN_FAILED,
		  .status = DSN_STATUS_NO_DOMAIN },
	};
	struct buf out;
	const char *s;
	char *p1 = NULL, *p2 = NULL;

	test_begin("dsn: failed and delayed");
	buf_init(&out, DSN_MSG_MAX);
	test_assert(dsn_format(&out, &msg_info, r, 3, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0 + 7200) == 0);
	s = str(&out);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));
	test_assert(strstr(s, "\r\nSubject: Undelivered Mail Returned to Sender\r\n") != NULL);
	p1 = part(s, 0);
	p2 = part(s, 1);
	test_assert(p1 != NULL && p2 != NULL);
	if (p1 == NULL || p2 == NULL)
		goto done;
	/* The text: failures first, then what is still tried, and until when. */
	{
		char *f = flat(p1);

		free(p1);
		p1 = f;
	}
	test_assert(strstr(p1, "These recipients will not get your message:") != NULL);
	test_assert(strstr(p1, "Delivery to these recipients is still being tried:") != NULL);
	test_assert(strstr(p1, "Tue, 6 Jan 2026 00:00:00 +0000") != NULL);
	test_assert(strstr(p1, "<bob@example.com>") < strstr(p1, "<carol@example.net>"));
	test_assert(strstr(p1, "<dave@nowhere.example>: the recipient's domain does not "
	    "exist (status 5.1.2)") != NULL);
	test_assert(strstr(p1, "<carol@example.net>: host mx.example.net: connect to") !=
	    NULL);
	/* The report: every recipient in the caller's order, each with its own fields. */
	test_assert(strstr(p2, "\r\n\r\nFinal-Recipient: rfc822; carol@example.net\r\n"
	    "Action: delayed\r\n"
	    "Status: 4.4.1\r\n"
	    "Remote-MTA: dns; mx.example.net\r\n"
	    "Diagnostic-Code: X-Letterbox; connect to mx.example.net[192.0.2.7]:25:\r\n"
	    " connection refused\r\n"
	    "Last-Attempt-Date: Thu, 1 Jan 2026 01:00:00 +0000\r\n"
	    "Will-Retry-Until: Tue, 6 Jan 2026 00:00:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; bob@example.com\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.example.com\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 no such user\r\n"
	    "Last-Attempt-Date: Thu, 1 Jan 2026 00:01:00 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; dave@nowhere.example\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.2\r\n") != NULL);
	test_assert(strstr(p2, "Will-Retry-Until") == strstr(p2, "Will-Retry-Until: Tue"));
	test_assert(strstr(strstr(p2, "Will-Retry-Until") + 1, "Will-Retry-Until") == NULL);
	test_assert(strstr(s, "Content-Description: Undelivered Message Headers") != NULL);
done:
	free(p1);
	free(p2);
	p1 = p2 = NULL;
	test_end();

	test_begin("dsn: all delayed");
	buf_reset(&out);
	test_assert(dsn_format(&out, &msg_info, r, 1, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0 + 7200) == 0);
	s = str(&out);
	test_assert(strstr(s, "\r\nSubject: Delayed Mail (still being retried)\r\n") != NULL);
	test_assert(strstr(s, "THIS IS A WARNING ONLY") != NULL);
	test_assert(strstr(s, "Action: delayed\r\n") != NULL);
	test_assert(strstr(s, "Action: failed\r\n") == NULL);
	test_assert(strstr(s, "Content-Description: Delayed Message Headers") != NULL);
	test_assert(strstr(s, "Subject: Lunch on Friday?\r\n") != NULL);
	/* A delay is transient by definition: a 5.x.x given for it is reported 4.x.x. */
	r[0].status = "5.4.1";
	buf_reset(&out);
	test_assert(dsn_format(&out, &msg_info, r, 1, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0) == 0);
	test_assert(strstr(str(&out), "\r\nStatus: 4.4.1\r\n") != NULL);
	r[0].status = "bogus";
	buf_reset(&out);
	test_assert(dsn_format(&out, &msg_info, r, 1, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0) == 0);
	test_assert(strstr(str(&out), "\r\nStatus: 4.0.0\r\n") != NULL);
	buf_clear(&out);
	test_end();
}

static void
test_dsn_hostile(void)
{
	char longdiag[5000];
	struct dsn_rcpt r = {
		.addr = "b\xc3\xb6rje+x=y@exa\xffmple.com",
		.action = DSN_FAILED,
		.status = "5.1.1",
		.remote_mta = "mx.example.com\r\nX-Injected: 1",
		.diagnostic = "550-5.1.1 first\r\n550 5.1.1 s\xc3\xa9" "cond\x01" "line",
		.remote_reply = true,
	};
	struct dsn_msg m = msg_info;
	struct buf out;
	const char *s, *ds;
	char *p1, *p2;
	size_t i;

	test_begin("dsn: hostile strings");
	buf_init(&out, DSN_MSG_MAX);
	test_assert(dsn_format(&out, &m, &r, 1, msg1, sizeof(msg1) - 1, BOUNDARY, T0) == 0);
	s = str(&out);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));
	test_assert(strstr(s, "\r\nX-Injected") == NULL);
	/* RFC 6533 utf-8-addr-xtext keeps the report 7-bit. */
	test_assert(strstr(s, "\r\nFinal-Recipient: utf-8; b\\x{F6}rje\\x{2B}x\\x{3D}y@exa"
	    "\\x{FFFD}mple.com\r\n") != NULL);
	test_assert(strstr(s, "\r\nRemote-MTA: dns; mx.example.com X-Injected: 1\r\n") != NULL);
	test_assert(strstr(s, "\r\nDiagnostic-Code: smtp; 550-5.1.1 first 550 5.1.1 s?cond?line"
	    "\r\n") != NULL);
	/* The report part is 7-bit whatever came in. */
	p2 = part(s, 1);
	test_assert(p2 != NULL);
	for (i = 0; p2 != NULL && p2[i] != '\0'; i++)
		test_assert_idx((unsigned char)p2[i] < 0x80, i);
	free(p2);
	/* The text part keeps the UTF-8 and says so. */
	p1 = part(s, 0);
	if (p1 != NULL) {
		char *f = flat(p1);

		free(p1);
		p1 = f;
	}
	test_assert(p1 != NULL && strstr(p1, "charset=utf-8 "
	    "Content-Transfer-Encoding: 8bit\r\n") != NULL);
	test_assert(p1 != NULL && strstr(p1, "s\xc3\xa9" "cond?line") != NULL);
	test_assert(p1 != NULL && strstr(p1, "<b\xc3\xb6rje+x=y@exa?mple.com>") != NULL);
	free(p1);

	/* A long diagnostic is folded under 78 where it can be, and cut at 2048. */
	memset(longdiag, 'a', sizeof(longdiag) - 1);
	longdiag[sizeof(longdiag) - 1] = '\0';
	for (i = 10; i < 3000; i += 10)
		longdiag[i] = ' ';
	r.diagnostic = longdiag;
	buf_reset(&out);
	test_assert(dsn_format(&out, &m, &r, 1, msg1, sizeof(msg1) - 1, BOUNDARY, T0) == 0);
	s = str(&out);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));
	ds = strstr(s, "\r\nDiagnostic-Code: smtp; ");
	test_assert(ds != NULL);
	if (ds != NULL) {
		const char *e = strstr(ds + 2, "\r\nLast-Attempt") != NULL ?
		    strstr(ds + 2, "\r\nLast-Attempt") : strstr(ds + 2, "\r\n\r\n");
		const char *l = ds + 2, *nl;

		test_assert(e != NULL);
		while (e != NULL && l < e) {
			nl = strstr(l, "\r\n");
			test_assert(nl - l <= 78);
			l = nl + 2;
		}
		test_assert(strstr(ds, "aaa...\r\n") != NULL);
	}
	/* A word too long to fold is cut so no line passes 998. */
	memset(longdiag, 'b', sizeof(longdiag) - 1);
	buf_reset(&out);
	test_assert(dsn_format(&out, &m, &r, 1, msg1, sizeof(msg1) - 1, BOUNDARY, T0) == 0);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));

	/* Not a host name: localhost instead, so From: and Message-ID: stay valid. */
	m.reporting_mta = "bad host\r\n";
	r.diagnostic = NULL;
	buf_reset(&out);
	test_assert(dsn_format(&out, &m, &r, 1, "", 0, BOUNDARY, T0) == 0);
	s = str(&out);
	test_assert(strstr(s, "<MAILER-DAEMON@localhost>") != NULL);
	test_assert(strstr(s, "Reporting-MTA: dns; localhost\r\n") != NULL);
	test_assert(crlf_clean(buf_head(&out), buf_unread(&out)));

	/* Refusals. */
	test_assert(dsn_format(&out, &m, &r, 0, "", 0, BOUNDARY, T0) == -1 &&
	    errno == EINVAL);
	test_assert(dsn_format(&out, &m, &r, 1, "", 0, "has space", T0) == -1 &&
	    errno == EINVAL);
	test_assert(dsn_format(&out, &m, &r, 1, "", 0, "", T0) == -1 && errno == EINVAL);
	r.addr = NULL;
	test_assert(dsn_format(&out, &m, &r, 1, "", 0, BOUNDARY, T0) == -1 &&
	    errno == EINVAL);
	buf_clear(&out);
	/* Over the output's cap: ENOBUFS, not a partial success. */
	r.addr = "bob@example.com";
	buf_init(&out, 512);
	test_assert(dsn_format(&out, &msg_info, &r, 1, msg1, sizeof(msg1) - 1, BOUNDARY,
	    T0) == -1 && errno == ENOBUFS);
	buf_clear(&out);
	test_end();
}

static char root[] = "/tmp/lb-test-dsn-XXXXXX";

static void
test_dsn_deliver(void)
{
	struct dsn_rcpt r = { .addr = "bob@example.com", .action = DSN_FAILED,
	    .status = "5.1.1", .diagnostic = "550 5.1.1 no", .remote_reply = true };
	char name[MAILDIR_NAME_MAX + 1], first[300], path[600], want[32], *data;
	struct maildir md;
	struct stat st;
	size_t len;
	int fd;

	test_begin("dsn: deliver into a Maildir");
	test_assert(mkdtemp(root) != NULL);
	snprintf(path, sizeof(path), "%s/Maildir", root);
	test_assert(maildir_open(&md, path, "host.example", (uid_t)-1, (gid_t)-1) == 0);
	snprintf(path, sizeof(path), "%s/queued", root);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	test_assert(fd != -1);
	/* The message sits after 7 octets of queue envelope. */
	test_assert(write(fd, "ENVELOP", 7) == 7);
	test_assert(write(fd, msg1, sizeof(msg1) - 1) == (ssize_t)sizeof(msg1) - 1);
	test_assert(dsn_deliver(&md, &msg_info, &r, 1, fd, 7, name) == 0);
	test_assert(t_dir_count(root, "Maildir/tmp", NULL, 0) == 0);
	test_assert(t_dir_count(root, "Maildir/new", first, sizeof(first)) == 1);
	test_assert_str(first, name);
	snprintf(path, sizeof(path), "%s/Maildir/new/%s", root, name);
	test_assert(stat(path, &st) == 0);
	snprintf(want, sizeof(want), ",S=%lld", (long long)st.st_size);
	test_assert(strstr(name, want) != NULL && strcmp(strstr(name, want), want) == 0);
	test_assert(util_read_file(path, 1 << 20, &data, &len) == 0);
	test_assert(len == (size_t)st.st_size && crlf_clean(data, len));
	test_assert(strstr(data, "\r\nSubject: Lunch on Friday?\r\n") != NULL);
	test_assert(strstr(data, "ENVELOP") == NULL);
	free(data);
	unlink(path);

	/* A failed read leaves nothing behind. */
	test_assert(dsn_deliver(&md, &msg_info, &r, 1, -1, 0, name) == -1 &&
	    errno == EBADF);
	test_assert(t_dir_count(root, "Maildir/new", NULL, 0) == 0);
	test_assert(t_dir_count(root, "Maildir/tmp", NULL, 0) == 0);
	test_assert(dsn_deliver(&md, &msg_info, &r, 0, fd, 0, name) == -1 &&
	    errno == EINVAL);
	test_assert(t_dir_count(root, "Maildir/new", NULL, 0) == 0);
	close(fd);
	maildir_close(&md);
	snprintf(path, sizeof(path), "%s/queued", root);
	unlink(path);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	test_assert(system(path) == 0);
	test_end();
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	test_dsn_status();
	test_dsn_failed();
	test_dsn_header();
	test_dsn_mixed();
	test_dsn_hostile();
	test_dsn_deliver();
	return test_exit();
}
