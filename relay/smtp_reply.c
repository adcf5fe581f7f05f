/*
 * smtp_reply: reply lines and EHLO keywords, as the SMTP client reads them (see
 * smtp_reply.h). Every index is checked against len; nothing here trusts the peer.
 */
#include <string.h>
#include <strings.h>

#include "relay/smtp_client.h"
#include "relay/smtp_reply.h"

static bool
is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

void
smtp_reply_parser_init(struct smtp_reply_parser *p, struct smtpc_reply *r)
{
	memset(p, 0, sizeof(*p));
	memset(r, 0, sizeof(*r));
	p->r = r;
}

/*
 * The length of an RFC 3463 status code at the start of s (n bytes): class "."
 * subject "." detail, class 2, 4 or 5, subject and detail 1 to 3 digits, followed by
 * a space or the end. 0 if there is none.
 */
static size_t
enhanced_len(const char *s, size_t n)
{
	size_t i = 0, k, part;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (k = 0; k < 3 && i < n && is_digit(s[i]); k++)
			i++;
		if (k == 0)
			return 0;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < n && s[i] != ' ')
		return 0;
	return i;
}

/* Append n bytes of text to r->text, ' ' between non-empty pieces, capped. */
static void
text_append(struct smtp_reply_parser *p, const char *s, size_t n)
{
	struct smtpc_reply *r = p->r;
	size_t i, room;

	if (n == 0)
		return;
	if (p->textlen > 0 && p->textlen < sizeof(r->text) - 1)
		r->text[p->textlen++] = ' ';
	room = sizeof(r->text) - 1 - p->textlen;
	if (n > room)
		n = room;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		r->text[p->textlen++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	r->text[p->textlen] = '\0';
}

/* One EHLO line's text, NUL-terminated and cut at a NUL or 511 bytes. */
static void
ehlo_line(struct smtpc *c, const char *s, size_t n)
{
	char kw[512];
	const char *nul;

	if ((nul = memchr(s, '\0', n)) != NULL)
		n = (size_t)(nul - s);
	if (n >= sizeof(kw))
		n = sizeof(kw) - 1;
	memcpy(kw, s, n);
	kw[n] = '\0';
	smtp_ehlo_keyword(c, kw);
}

int
smtp_reply_parse_line(struct smtp_reply_parser *p, const char *line, size_t len)
{
	struct smtpc_reply *r = p->r;
	const char *text;
	size_t tlen, elen;
	int code;
	bool last;

	if (p->done)
		return -1;
	if (p->lines >= SMTP_REPLY_MAX_LINES)
		goto bad;
	if (len < 3 || !is_digit(line[0]) || !is_digit(line[1]) || !is_digit(line[2]))
		goto bad;
	/* RFC 5321 §4.2.1: 2yz to 5yz are the only replies; code 0 is ours. */
	if (line[0] < '2' || line[0] > '5')
		goto bad;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		goto bad;
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (p->lines > 0 && code != r->code)
		goto bad;
	last = len == 3 || line[3] == ' ';
	text = len > 4 ? line + 4 : "";
	tlen = len > 4 ? len - 4 : 0;
	if (p->lines == 0) {
		r->code = code;
		if ((elen = enhanced_len(text, tlen)) > 0) {
			memcpy(r->enhanced, text, elen);
			r->enhanced[elen] = '\0';
		}
	}
	/* The status code again at the start of this line: shown once, not per line. */
	elen = strlen(r->enhanced);
	if (elen > 0 && tlen >= elen && memcmp(text, r->enhanced, elen) == 0 &&
	    (tlen == elen || text[elen] == ' ')) {
		text += elen;
		tlen -= elen;
		while (tlen > 0 && text[0] == ' ') {
			text++;
			tlen--;
		}
	}
	text_append(p, text, tlen);
	if (p->ehlo != NULL && code == 250 && p->lines > 0)
		ehlo_line(p->ehlo, len > 4 ? line + 4 : "", len > 4 ? len - 4 : 0);
	p->lines++;
	if (last) {
		p->done = true;
		return 1;
	}
	return 0;
bad:
	/* Final: the lines after a refused one are refused too. */
	p->done = true;
	return -1;
}

void
smtp_ehlo_reset(struct smtpc *c)
{
	c->esmtp = false;
	c->has_pipelining = c->has_8bitmime = c->has_size = c->has_smtputf8 = false;
	c->has_starttls = c->auth_plain = c->auth_login = false;
	c->max_size = 0;
}

/* s (n bytes) is word, in any case. */
static bool
word_is(const char *s, size_t n, const char *word)
{
	return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

/* SIZE's parameter: digits only, at most 2^64 - 1; else 0 (no limit known). */
static unsigned long long
size_param(const char *s)
{
	unsigned long long v = 0;
	unsigned d;

	while (*s == ' ')
		s++;
	if (!is_digit(*s))
		return 0;
	for (; is_digit(*s); s++) {
		d = (unsigned)(*s - '0');
		if (v > (~0ULL - d) / 10)
			return 0;
		v = v * 10 + d;
	}
	while (*s == ' ')
		s++;
	return *s == '\0' ? v : 0;
}

void
smtp_ehlo_keyword(struct smtpc *c, const char *line_text)
{
	const char *s = line_text, *w;
	size_t n;

	while (*s == ' ')
		s++;
	/* ehlo-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") (RFC 5321 §4.1.1.1) */
	for (n = 0; s[n] != '\0' && s[n] != ' ' && s[n] != '='; n++)
		;
	if (word_is(s, n, "PIPELINING"))
		c->has_pipelining = true;
	else if (word_is(s, n, "8BITMIME"))
		c->has_8bitmime = true;
	else if (word_is(s, n, "SMTPUTF8"))
		c->has_smtputf8 = true;
	else if (word_is(s, n, "STARTTLS"))
		c->has_starttls = true;
	else if (word_is(s, n, "SIZE") && s[n] != '=') {
		c->has_size = true;
		c->max_size = size_param(s + n);
	} else if (word_is(s, n, "AUTH")) {
		/* "AUTH PLAIN LOGIN", or the pre-RFC 4954 "AUTH=LOGIN PLAIN". */
		for (w = s + n; *w != '\0';) {
			while (*w == ' ' || *w == '=')
				w++;
			for (n = 0; w[n] != '\0' && w[n] != ' '; n++)
				;
			if (word_is(w, n, "PLAIN"))
				c->auth_plain = true;
			else if (word_is(w, n, "LOGIN"))
				c->auth_login = true;
			w += n;
		}
	}
}
