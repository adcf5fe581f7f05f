/*
 * fuzz_smtp_reply: relay/smtp_reply.c (the SMTP client's reply parser and EHLO
 * keywords) and relay/smtp_client.c's DATA transparency (smtpc_dot_*).
 *
 * The input is used whole, three ways:
 *   - as server output: cut at LF (a CR before it dropped) into lines, fed to the
 *     parser reply after reply, EHLO collection on when the first byte is odd. Each
 *     result is checked against a reference (three digits, the first 2..5, then ' ',
 *     '-' or the end; the first line's code throughout; at most 100 lines; nothing
 *     after the end). Whatever the result: code 0 or 200..599, text NUL-terminated,
 *     under 512 bytes and printable ASCII, enhanced "" or class.subject.detail with
 *     class 2, 4 or 5 and 1 to 3 digits each;
 *   - each line's text also goes to smtp_ehlo_keyword() on a fresh struct smtpc: a
 *     flag is set exactly when the first word is that keyword (any case), SIZE's
 *     value is the number when the rest is digits that fit, else 0, and AUTH's
 *     mechanisms are found as whole words only;
 *   - as a message file: smtpc_dot_feed() in pieces (sizes from the input) must give
 *     the same bytes as in one piece and as a reference (bare CR and LF made CRLF, a
 *     last CRLF added, a '.' doubled at each line start, then "." CRLF); the output
 *     has no CR or LF outside CRLF and no "." line before the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "relay/smtp_client.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_MAX_INPUT	(64 * 1024)

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

static void
check_enhanced(const char *e)
{
	size_t i = 0, k, part;

	if (e[0] == '\0')
		return;
	if ((e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.')
		abort();
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; e[i] >= '0' && e[i] <= '9'; k++, i++)
			;
		if (k < 1 || k > 3)
			abort();
		if (part == 0 && e[i++] != '.')
			abort();
	}
	if (e[i] != '\0')
		abort();
}

static void
check_reply(const struct smtpc_reply *r)
{
	if (memchr(r->text, '\0', sizeof(r->text)) == NULL ||
	    memchr(r->enhanced, '\0', sizeof(r->enhanced)) == NULL)
		abort();
	if (!printable(r->text))
		abort();
	if (r->code != 0 && (r->code < 200 || r->code > 599))
		abort();
	check_enhanced(r->enhanced);
}

/* The reference verdict on one line: -1 malformed, else its code; *last set. */
static int
ref_line(const char *s, size_t n, bool *last)
{
	if (n < 3 || s[0] < '2' || s[0] > '5' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return -1;
	if (n > 3 && s[3] != ' ' && s[3] != '-')
		return -1;
	*last = n == 3 || s[3] == ' ';
	return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static bool
word_eq(const char *s, size_t n, const char *w)
{
	return n == strlen(w) && strncasecmp(s, w, n) == 0;
}

/* smtp_ehlo_keyword on text against a reference. */
static void
check_keyword(const char *text)
{
	struct smtpc *c;
	const char *s = text, *rest, *w;
	size_t n, k;
	bool plain = false, login = false, digits;
	unsigned long long v = 0, want = 0;
	int overflow = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		abort();
	smtp_ehlo_keyword(c, text);
	while (*s == ' ')
		s++;
	for (n = 0; s[n] != '\0' && s[n] != ' ' && s[n] != '='; n++)
		;
	rest = s + n;
	if (c->has_pipelining != word_eq(s, n, "PIPELINING") ||
	    c->has_8bitmime != word_eq(s, n, "8BITMIME") ||
	    c->has_smtputf8 != word_eq(s, n, "SMTPUTF8") ||
	    c->has_starttls != word_eq(s, n, "STARTTLS") ||
	    c->has_size != (word_eq(s, n, "SIZE") && *rest != '='))
		abort();
	if (c->has_size) {
		for (w = rest; *w == ' '; w++)
			;
		digits = *w >= '0' && *w <= '9';
		for (; *w >= '0' && *w <= '9'; w++) {
			if (v > (~0ULL - (unsigned)(*w - '0')) / 10)
				overflow = 1;
			v = v * 10 + (unsigned)(*w - '0');
		}
		while (*w == ' ')
			w++;
		if (digits && !overflow && *w == '\0')
			want = v;
		if (c->max_size != want)
			abort();
	} else if (c->max_size != 0)
		abort();
	if (word_eq(s, n, "AUTH")) {
		for (w = rest; *w != '\0'; w += k) {
			while (*w == ' ' || *w == '=')
				w++;
			for (k = 0; w[k] != '\0' && w[k] != ' '; k++)
				;
			plain = plain || word_eq(w, k, "PLAIN");
			login = login || word_eq(w, k, "LOGIN");
		}
	}
	if (c->auth_plain != plain || c->auth_login != login)
		abort();
	free(c);
}

static void
check_replies(const uint8_t *data, size_t size)
{
	struct smtp_reply_parser p;
	struct smtpc_reply r;
	struct smtpc *ehlo;
	const char *s = (const char *)data, *lf;
	char *text;
	size_t pos = 0, n, tn;
	int rc, code, first = 0;
	unsigned lines = 0;
	bool last = false, fresh = true;

	if ((ehlo = calloc(1, sizeof(*ehlo))) == NULL)
		abort();
	while (pos < size) {
		lf = memchr(s + pos, '\n', size - pos);
		n = lf != NULL ? (size_t)(lf - (s + pos)) : size - pos;
		if (n > 0 && s[pos + n - 1] == '\r')
			n--;
		if (fresh) {
			smtp_reply_parser_init(&p, &r);
			if (size > 0 && (data[0] & 1))
				p.ehlo = ehlo;
			lines = 0;
			fresh = false;
		}
		rc = smtp_reply_parse_line(&p, s + pos, n);
		code = ref_line(s + pos, n, &last);
		if (code == -1 || (lines > 0 && code != first) ||
		    lines >= SMTP_REPLY_MAX_LINES) {
			if (rc != -1)
				abort();
		} else {
			if (rc != (last ? 1 : 0))
				abort();
			if (lines == 0)
				first = code;
			if (r.code != first || p.lines != lines + 1)
				abort();
		}
		check_reply(&r);
		if (rc != 0) {
			/* Done: another line is refused, and changes nothing. */
			if (smtp_reply_parse_line(&p, "250 x", 5) != -1)
				abort();
			fresh = true;
		} else
			lines++;
		/* The line's text as an EHLO keyword line. */
		tn = n > 4 ? n - 4 : 0;
		if ((text = malloc(tn + 1)) == NULL)
			abort();
		if (tn > 0)
			memcpy(text, s + pos + 4, tn);
		text[tn] = '\0';
		check_keyword(text);
		free(text);
		pos += lf != NULL ? (size_t)(lf - (s + pos)) + 1 : n;
		if (lf == NULL)
			break;
	}
	free(ehlo);
}

/* The reference transparency: normalize line ends, end with CRLF, stuff, ".". */
static size_t
ref_dot(const char *in, size_t n, char *out)
{
	size_t i, o = 0;
	bool start = true;

	for (i = 0; i < n; i++) {
		if (in[i] == '\r' || in[i] == '\n') {
			if (in[i] == '\r' && i + 1 < n && in[i + 1] == '\n')
				i++;
			out[o++] = '\r';
			out[o++] = '\n';
			start = true;
			continue;
		}
		if (start && in[i] == '.')
			out[o++] = '.';
		out[o++] = in[i];
		start = false;
	}
	if (!start) {
		out[o++] = '\r';
		out[o++] = '\n';
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}

static void
check_dot(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct smtpc_dot d;
	char *one, *pieces, *ref;
	size_t cap = 2 * size + 16, n1, n2, nr, i, step, k, got;
	unsigned seed = size > 0 ? data[size - 1] : 0;

	if ((one = malloc(cap)) == NULL || (pieces = malloc(cap)) == NULL ||
	    (ref = malloc(cap)) == NULL)
		abort();
	smtpc_dot_init(&d);
	n1 = smtpc_dot_feed(&d, in, size, one);
	if (n1 > 2 * size + 4)
		abort();
	n1 += smtpc_dot_end(&d, one + n1);

	smtpc_dot_init(&d);
	n2 = 0;
	for (i = 0, k = 0; i < size; i += step, k++) {
		step = 1 + (size_t)((data[k % size] ^ seed) % 37);
		if (step > size - i)
			step = size - i;
		got = smtpc_dot_feed(&d, in + i, step, pieces + n2);
		if (got > 2 * step + 4)
			abort();
		n2 += got;
	}
	got = smtpc_dot_end(&d, pieces + n2);
	if (got > 7)
		abort();
	n2 += got;

	nr = ref_dot(in, size, ref);
	if (n1 != nr || n2 != nr || memcmp(one, ref, nr) != 0 || memcmp(pieces, ref, nr) != 0)
		abort();
	/* Only CRLF ends a line; "." alone only at the very end. */
	for (i = 0; i < nr; i++) {
		if (ref[i] == '\r' && (i + 1 >= nr || ref[i + 1] != '\n'))
			abort();
		if (ref[i] == '\n' && (i == 0 || ref[i - 1] != '\r'))
			abort();
		if (ref[i] == '.' && (i == 0 || ref[i - 1] == '\n') && i + 3 < nr &&
		    ref[i + 1] == '\r')
			abort();
	}
	if (nr < 3 || memcmp(ref + nr - 3, ".\r\n", 3) != 0 ||
	    (nr > 3 && memcmp(ref + nr - 5, "\r\n", 2) != 0))
		abort();
	free(one);
	free(pieces);
	free(ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FUZZ_MAX_INPUT)
		return 0;
	check_replies(data, size);
	check_dot(data, size);
	return 0;
}
