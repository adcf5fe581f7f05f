/*
 * fuzz_dsn: queue/dsn.c, the returned header's extent and the whole report.
 *
 * Input: byte 0 holds flags (actions, remote_reply, which fields are NULL, the reply
 * code's class), byte 1 picks a small header cap (2..257); then up to six
 * NUL-separated strings (two recipients' address and diagnostic, the first's remote
 * MTA, a status) and the stored message, which is the rest and may hold NULs.
 * Checked:
 *   - dsn_header_extract() under the small cap and under DSN_HEADER_MAX against a
 *     reference built from a list of lines: the lines before the first empty one,
 *     CR and NUL as spaces, CRLF-ended, whole lines while they fit, a first line too
 *     long cut (not inside a UTF-8 character), the truncated flag; and the output
 *     itself: within the cap, CRLF only, no NUL;
 *   - dsn_format(): it succeeds; CRLF only, no NUL; exactly three parts and the
 *     closing delimiter; the report's header and the message/delivery-status part
 *     7-bit with no line over 998 octets, the latter made of "Name: value" fields
 *     (known names only), continuation lines and 1 + n blocks each starting right;
 *     the text part within 998 octets a line and 7-bit or valid UTF-8 as its charset
 *     says; the third part exactly the extracted header;
 *   - dsn_status_from_reply() always gives a valid status of the reply's class.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "lib/buf.h"
#include "queue/dsn.h"

#define NFIELDS	6

struct line {
	const char	*p;
	size_t		 len;	/* without the CR LF */
	bool		 complete;
};

/* The reference for dsn_header_extract(), written from a list of the lines. */
static void
ref_extract(struct buf *out, const char *msg, size_t len, size_t max, bool *trunc)
{
	struct line *lines;
	size_t n = 0, i, s = 0, used = 0, cut, k;
	bool is_all = len < max + 2;

	if (!is_all)
		len = max + 2;
	if ((lines = calloc(len + 1, sizeof(*lines))) == NULL)
		abort();
	for (i = 0; i < len; i++)
		if (msg[i] == '\n') {
			lines[n].p = msg + s;
			lines[n].len = i - s - (i > s && msg[i - 1] == '\r');
			lines[n].complete = true;
			n++;
			s = i + 1;
		}
	if (s < len) {
		lines[n].p = msg + s;
		lines[n].len = len - s;
		lines[n].complete = is_all;
		n++;
	}
	*trunc = false;
	for (i = 0; i < n; i++) {
		if (lines[i].complete && lines[i].len == 0)
			break;
		if (!lines[i].complete || used + lines[i].len + 2 > max) {
			*trunc = true;
			if (used == 0) {
				cut = max - 2;
				while (cut > 0 && ((unsigned char)lines[i].p[cut] & 0xc0) == 0x80)
					cut--;
				for (k = 0; k < cut; k++)
					buf_append(out, lines[i].p[k] == '\r' ||
					    lines[i].p[k] == '\0' ? " " : lines[i].p + k, 1);
				buf_append(out, "\r\n", 2);
			}
			break;
		}
		for (k = 0; k < lines[i].len; k++)
			buf_append(out, lines[i].p[k] == '\r' || lines[i].p[k] == '\0' ? " " :
			    lines[i].p + k, 1);
		buf_append(out, "\r\n", 2);
		used += lines[i].len + 2;
	}
	free(lines);
}

/* CRLF only, no NUL. */
static void
check_crlf(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			abort();
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			abort();
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			abort();
	}
}

static void
check_extract(const char *msg, size_t len, size_t max)
{
	struct buf a, b;
	bool ta, tb;

	buf_init(&a, max);
	buf_init(&b, 4 * (max + 2) + 16);
	if (dsn_header_extract(&a, msg, len, max, &ta) != 0)
		abort();
	ref_extract(&b, msg, len, max, &tb);
	if (ta != tb || buf_unread(&a) != buf_unread(&b) || buf_unread(&a) > max ||
	    (buf_unread(&a) > 0 && memcmp(buf_head(&a), buf_head(&b), buf_unread(&a)) != 0))
		abort();
	if (buf_unread(&a) > 0)
		check_crlf(buf_head(&a), buf_unread(&a));
	buf_clear(&a);
	buf_clear(&b);
}

/* Well-formed UTF-8 (RFC 3629). */
static bool
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0, k, j;
	unsigned long cp;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
			continue;
		}
		if (p[i] >= 0xc2 && p[i] <= 0xdf)
			k = 2, cp = p[i] & 0x1f;
		else if (p[i] >= 0xe0 && p[i] <= 0xef)
			k = 3, cp = p[i] & 0x0f;
		else if (p[i] >= 0xf0 && p[i] <= 0xf4)
			k = 4, cp = p[i] & 0x07;
		else
			return false;
		if (i + k > n)
			return false;
		for (j = 1; j < k; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + j] & 0x3f);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

/* Lines of p[0..n) (CRLF-separated) within 998 octets; 7-bit if ascii. */
static void
check_lines(const char *p, size_t n, bool ascii)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (ascii && (unsigned char)p[i] >= 0x80)
			abort();
		if (p[i] == '\r')
			col = 0;
		else if (p[i] != '\n' && ++col > 998)
			abort();
	}
}

static const char *
find(const char *h, size_t hn, const char *needle)
{
	return memmem(h, hn, needle, strlen(needle));
}

/* The message/delivery-status body: fields, continuations, 1 + n blocks. */
static void
check_status(const char *p, size_t len, size_t n)
{
	static const char *const names[] = {
		"Reporting-MTA", "X-Letterbox-Queue-ID", "X-Letterbox-Sender",
		"Arrival-Date", "Final-Recipient", "Action", "Status", "Remote-MTA",
		"Diagnostic-Code", "Last-Attempt-Date", "Will-Retry-Until",
	};
	const char *e = p + len, *nl, *colon;
	size_t blocks = 1, i, nl_len;
	bool start = true, known;

	check_lines(p, len, true);
	if (len < 2 || memcmp(p + len - 2, "\r\n", 2) != 0)
		abort();
	while (p < e) {
		nl = find(p, (size_t)(e - p), "\r\n");
		nl_len = (size_t)(nl - p);
		if (nl_len == 0) {
			blocks++;
			start = true;
		} else if (p[0] == ' ' || p[0] == '\t') {
			if (start)
				abort();	/* a continuation with nothing to continue */
		} else {
			if ((colon = memchr(p, ':', nl_len)) == NULL)
				abort();
			known = false;
			for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if ((size_t)(colon - p) == strlen(names[i]) &&
				    memcmp(p, names[i], strlen(names[i])) == 0)
					known = true;
			if (!known)
				abort();
			if (start && blocks == 1 && memcmp(p, "Reporting-MTA:", 14) != 0)
				abort();
			if (start && blocks > 1 && memcmp(p, "Final-Recipient:", 16) != 0)
				abort();
			start = false;
		}
		p = nl + 2;
	}
	if (blocks != 1 + n)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *f[NFIELDS] = { "bob@example.com", NULL, "mx.example.com",
	    "carol@example.net", NULL, "5.1.1" };
	char *copy, *s, status[DSN_STATUS_SIZE], boundary[DSN_BOUNDARY_MAX + 1], delim[96];
	const char *msg, *p, *q, *hdr_end;
	struct dsn_rcpt r[2];
	struct dsn_msg m = {
		.reporting_mta = "mail.example.org", .sender = "alice@example.org",
		.queue_id = "Q1", .arrival = 1767225600, .will_retry_until = 1767657600,
	};
	struct buf out, hdr;
	size_t msglen, i, n, off, blen;
	unsigned flags;
	bool trunc;
	int nf = 0, code;

	if (size < 2)
		return 0;
	flags = data[0];
	/* Strings: a copy with a NUL after the rest, so every field is a C string. */
	if ((copy = malloc(size - 2 + 1)) == NULL)
		abort();
	memcpy(copy, data + 2, size - 2);
	copy[size - 2] = '\0';
	s = copy;
	off = 0;
	while (nf < NFIELDS && off < size - 2) {
		f[nf++] = s;
		off += strlen(s) + 1;
		s = copy + off;
		if (off > size - 2)
			off = size - 2;
	}
	msg = (const char *)data + 2 + off;
	msglen = size - 2 - off;

	check_extract(msg, msglen, 2 + data[1]);
	check_extract(msg, msglen, DSN_HEADER_MAX);

	code = (flags & 0x40) ? 450 : 550;
	dsn_status_from_reply(code, f[5], status, sizeof(status));
	if (!dsn_status_valid(status) || status[0] != (char)('0' + code / 100))
		abort();

	memset(r, 0, sizeof(r));
	r[0].addr = f[0];
	r[0].action = (flags & 1) ? DSN_DELAYED : DSN_FAILED;
	r[0].status = (flags & 0x80) ? status : f[5];
	r[0].remote_mta = (flags & 4) ? NULL : f[2];
	r[0].diagnostic = f[1];
	r[0].remote_reply = (flags & 8) != 0;
	r[0].last_attempt = (flags & 0x10) ? 0 : 1767229200;
	r[1].addr = f[3];
	r[1].action = (flags & 2) ? DSN_DELAYED : DSN_FAILED;
	r[1].status = f[5];
	r[1].diagnostic = f[4];
	r[1].remote_reply = (flags & 0x20) != 0;
	n = (flags & 0x30) == 0x30 ? 1 : 2;

	/* A boundary found nowhere in the input, so it is nowhere in the output either. */
	memcpy(boundary, "fz", 3);
	for (blen = 2; blen < DSN_BOUNDARY_MAX &&
	    memmem(data, size, boundary, blen) != NULL; blen++) {
		boundary[blen] = 'Z';
		boundary[blen + 1] = '\0';
	}
	if (memmem(data, size, boundary, blen) != NULL)
		goto done;
	buf_init(&out, DSN_MSG_MAX);
	if (dsn_format(&out, &m, r, n, msg, msglen, boundary, 1767312000) != 0)
		abort();
	p = buf_head(&out);
	check_crlf(p, buf_unread(&out));
	/* The report's own header: 7-bit, short lines. */
	if ((hdr_end = find(p, buf_unread(&out), "\r\n\r\n")) == NULL)
		abort();
	check_lines(p, (size_t)(hdr_end - p), true);
	/* Three parts, each after "\r\n--B\r\n", then "\r\n--B--\r\n" at the very end. */
	snprintf(delim, sizeof(delim), "\r\n--%s", boundary);
	{
		const char *part[4];
		const char *end = p + buf_unread(&out), *x = p;
		size_t dl = strlen(delim), k = 0;

		while ((q = find(x, (size_t)(end - x), delim)) != NULL) {
			if (k == 4)
				abort();
			part[k++] = q;
			x = q + dl;
		}
		if (k != 4 || (size_t)(end - part[3]) != dl + 4 ||
		    memcmp(part[3] + dl, "--\r\n", 4) != 0)
			abort();
		for (i = 0; i < 3; i++)
			if (memcmp(part[i] + dl, "\r\n", 2) != 0)
				abort();
		/* Part 1: text, utf-8 or us-ascii as it says. */
		q = part[0] + dl + 2;
		if ((x = find(q, (size_t)(part[1] - q), "\r\n\r\n")) == NULL)
			abort();
		x += 4;
		if (find(q, (size_t)(x - q), "charset=utf-8") != NULL) {
			if (!utf8_valid((const unsigned char *)x, (size_t)(part[1] - x)))
				abort();
			check_lines(x, (size_t)(part[1] - x), false);
		} else
			check_lines(x, (size_t)(part[1] - x), true);
		/* Part 2: the report. */
		q = part[1] + dl + 2;
		if ((x = find(q, (size_t)(part[2] - q), "\r\n\r\n")) == NULL)
			abort();
		x += 4;
		check_status(x, (size_t)(part[2] - x), n);
		/* Part 3: exactly the extracted header. */
		q = part[2] + dl + 2;
		if ((x = find(q, (size_t)(part[3] - q), "\r\n\r\n")) == NULL)
			abort();
		x += 4;
		buf_init(&hdr, DSN_HEADER_MAX);
		if (dsn_header_extract(&hdr, msg, msglen, DSN_HEADER_MAX, &trunc) != 0)
			abort();
		/* The delimiter's CRLF follows the header's own last CRLF. */
		if ((size_t)(part[3] - x) != buf_unread(&hdr) ||
		    (buf_unread(&hdr) > 0 && memcmp(x, buf_head(&hdr), buf_unread(&hdr)) != 0))
			abort();
		buf_clear(&hdr);
	}
	buf_clear(&out);
done:
	free(copy);
	return 0;
}
