/*
 * canon: relaxed canonicalization of header fields and the body (see canon.h). Pure
 * functions over caller buffers; the signer (sign.c) does the reading and hashing.
 */
#include <string.h>

#include "dkim/canon.h"

static inline bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* RFC 5322 §3.6.8 ftext: printable US-ASCII except ':'. */
static inline bool
is_ftext(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ':';
}

static inline unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

long
dkim_header_end(const char *buf, size_t len, size_t from)
{
	const char *hit;
	size_t start;

	/* No header fields at all: the message starts with the empty line. */
	if (len >= 2 && buf[0] == '\r' && buf[1] == '\n')
		return 2;
	start = from > 3 ? from - 3 : 0;
	if (start >= len)
		return -1;
	if ((hit = memmem(buf + start, len - start, "\r\n\r\n", 4)) == NULL)
		return -1;
	return (long)(hit - buf) + 4;
}

size_t
dkim_field_len(const char *p, size_t len)
{
	const char *cr;
	size_t i = 0, e;

	while (i < len) {
		if ((cr = memchr(p + i, '\r', len - i)) == NULL)
			return len;
		e = (size_t)(cr - p) + 1;
		if (e >= len)
			return len;
		if (p[e] != '\n') {
			i = e;			/* a bare CR: part of the line */
			continue;
		}
		e++;
		/* RFC 5322 §2.2.3: a CRLF followed by WSP folds the field onto the next line. */
		if (e < len && is_wsp((unsigned char)p[e])) {
			i = e;
			continue;
		}
		return e;
	}
	return len;
}

/*
 * The name's length (its ftext run), and in *colon where the ':' after it is, past
 * any WSP and folding. 0 when the field does not start with a name and a colon.
 */
static size_t
field_name_span(const char *f, size_t len, size_t *colon)
{
	size_t i = 0, j;

	while (i < len && is_ftext((unsigned char)f[i]))
		i++;
	if (i == 0)
		return 0;
	for (j = i; j < len; ) {
		if (is_wsp((unsigned char)f[j]))
			j++;
		else if (f[j] == '\r' && j + 1 < len && f[j + 1] == '\n')
			j += 2;
		else
			break;
	}
	if (j >= len || f[j] != ':')
		return 0;
	*colon = j;
	return i;
}

bool
dkim_field_name(const char *f, size_t len, char *name, size_t namesz)
{
	size_t n, colon, i;

	if ((n = field_name_span(f, len, &colon)) == 0 || n >= namesz)
		return false;
	for (i = 0; i < n; i++)
		name[i] = (char)lower((unsigned char)f[i]);
	name[n] = '\0';
	return true;
}

size_t
dkim_canon_header(const char *f, size_t len, char *out, size_t outsz)
{
	size_t n, colon, i, o = 0;
	bool started = false, pending = false;
	unsigned char c;

	if (outsz < 3 || outsz - 3 < len || (n = field_name_span(f, len, &colon)) == 0)
		return 0;
	for (i = 0; i < n; i++)
		out[o++] = (char)lower((unsigned char)f[i]);
	out[o++] = ':';
	for (i = colon + 1; i < len; i++) {
		c = (unsigned char)f[i];
		/* Unfold: the CRLF goes, the WSP after it stays (and joins the run). */
		if (c == '\r' && i + 1 < len && f[i + 1] == '\n') {
			i++;
			continue;
		}
		if (is_wsp(c)) {
			pending = started;	/* WSP after the colon is dropped */
			continue;
		}
		if (pending)
			out[o++] = ' ';
		pending = false;
		started = true;
		out[o++] = (char)c;
	}
	/* A WSP run still pending is at the end of the value: dropped. */
	out[o++] = '\r';
	out[o++] = '\n';
	return o;
}

void
dkim_body_init(struct dkim_body *b, dkim_emit_fn *emit, void *arg)
{
	memset(b, 0, sizeof(*b));
	b->emit = emit;
	b->arg = arg;
}

static void
body_flush(struct dkim_body *b)
{
	if (b->outlen > 0)
		b->emit(b->arg, b->out, b->outlen);
	b->outlen = 0;
}

static inline void
body_put(struct dkim_body *b, unsigned char c)
{
	if (b->outlen == sizeof(b->out))
		body_flush(b);
	b->out[b->outlen++] = c;
	b->out_total++;
}

/* A byte that is neither WSP nor a line end: the held-back lines were not trailing. */
static inline void
body_content(struct dkim_body *b, unsigned char c)
{
	if (!b->content) {
		for (; b->blank > 0; b->blank--) {
			body_put(b, '\r');
			body_put(b, '\n');
		}
		b->content = true;
	}
	if (b->wsp)
		body_put(b, ' ');
	b->wsp = false;
	body_put(b, c);
}

/* A CRLF: trailing WSP is dropped; an empty line is held back. */
static inline void
body_eol(struct dkim_body *b)
{
	if (b->content) {
		body_put(b, '\r');
		body_put(b, '\n');
	} else
		b->blank++;
	b->content = false;
	b->wsp = false;
}

void
dkim_body_feed(struct dkim_body *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	unsigned char c;
	size_t i;

	for (i = 0; i < n; i++) {
		c = s[i];
		if (b->cr) {
			b->cr = false;
			if (c == '\n') {
				body_eol(b);
				continue;
			}
			body_content(b, '\r');	/* a bare CR is content */
		}
		if (c == '\r')
			b->cr = true;
		else if (is_wsp(c))
			b->wsp = true;
		else
			body_content(b, c);
	}
}

void
dkim_body_end(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = false;
		body_content(b, '\r');
	}
	/* §3.4.4: a non-empty last line without CRLF gets one; empty lines go. */
	if (b->content)
		body_eol(b);
	b->blank = 0;
	b->wsp = false;
	body_flush(b);
}
