/*
 * dotstuff: DATA body state machine (see dotstuff.h).
 *
 *   BOL  --'.'-->  DOT  --CR-->  DOTCR  --LF-->  END
 *   BOL/TEXT --CR--> CR --LF--> BOL (a line ended by CRLF)
 *
 * Only CRLF leads back to BOL, so only CRLF "." CRLF ends the data. A CR not followed
 * by LF, or an LF not preceded by CR, is kept as content, flagged, and leaves us in
 * TEXT (never in BOL). The stuffing dot of a line that starts with "." is dropped.
 */
#include <string.h>

#include "smtpd/dotstuff.h"

enum { ST_BOL, ST_TEXT, ST_CR, ST_DOT, ST_DOTCR };

static const char received_hdr[] = "received:";

void
dot_init(struct dot_state *d, uint64_t max_bytes)
{
	memset(d, 0, sizeof(*d));
	d->st = ST_BOL;
	d->in_header = 1;
	d->max_bytes = max_bytes;
}

/* Store one content byte, counting it against the size limit. */
static inline void
dot_put(struct dot_state *d, char **o, char c)
{
	d->size++;
	if (d->size > d->max_bytes) {
		d->flags |= DOT_TOOBIG;
		return;
	}
	*(*o)++ = c;
}

/* Track the header section and the line length for one content byte (not CR/LF). */
static inline void
dot_text(struct dot_state *d, char **o, unsigned char c)
{
	if (c == '\0')
		d->flags |= DOT_NUL;
	if (d->in_header && d->hdr_match == d->line_len &&
	    d->hdr_match < sizeof(received_hdr) - 1) {
		unsigned char lc = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;

		if (lc == (unsigned char)received_hdr[d->hdr_match] &&
		    ++d->hdr_match == sizeof(received_hdr) - 1)
			d->received++;
	}
	if (++d->line_len > SMTP_DATA_LINE_MAX)
		d->flags |= DOT_LONGLINE;
	dot_put(d, o, (char)c);
}

/*
 * Store a run of n plain bytes (no CR, LF or NUL) in one copy: the fast path for the
 * bulk of a message, once a line can no longer be a Received: field.
 */
static inline void
dot_run(struct dot_state *d, char **o, const unsigned char *p, size_t n)
{
	uint64_t room = d->size < d->max_bytes ? d->max_bytes - d->size : 0;

	d->line_len += n;
	if (d->line_len > SMTP_DATA_LINE_MAX)
		d->flags |= DOT_LONGLINE;
	d->size += n;
	if (n > room) {
		d->flags |= DOT_TOOBIG;
		n = (size_t)room;
	}
	memcpy(*o, p, n);
	*o += n;
}

/* A line ended by CRLF. */
static inline void
dot_eol(struct dot_state *d)
{
	if (d->line_len == 0)
		d->in_header = 0;	/* the empty line ends the header (RFC 5322 §2.1) */
	d->line_len = 0;
	d->hdr_match = 0;
	d->st = ST_BOL;
}

int
dot_feed(struct dot_state *d, const char *in, size_t len, size_t *used, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in, *end = p + len;
	char *o, *o0;
	unsigned char c;
	int done = 0;

	*used = 0;
	if (buf_reserve(out, len + 2) == -1)
		return -1;
	o = o0 = out->data + out->len;
	while (p < end && !done) {
		if (d->st == ST_TEXT && (!d->in_header || d->hdr_match != d->line_len)) {
			const unsigned char *q = p;

			while (q < end && *q != '\r' && *q != '\n' && *q != '\0')
				q++;
			if (q > p) {
				dot_run(d, &o, p, (size_t)(q - p));
				p = q;
				continue;
			}
		}
		c = *p++;
		switch (d->st) {
		case ST_BOL:
			if (c == '.') {
				d->st = ST_DOT;
				break;
			}
			d->st = ST_TEXT;
			/* FALLTHROUGH */
		case ST_TEXT:
		text:
			if (c == '\r')
				d->st = ST_CR;
			else if (c == '\n') {
				d->flags |= DOT_BARE_LF;
				/*
				 * Line length and the Received: match both restart here, so no
				 * match spans the LF and the result cannot depend on where the
				 * reads were cut (the fast path skips text once they differ).
				 */
				d->line_len = 0;
				d->hdr_match = 0;
				dot_put(d, &o, '\n');
				d->st = ST_TEXT;
			} else
				dot_text(d, &o, c);
			break;
		case ST_CR:
			if (c == '\n') {
				dot_put(d, &o, '\r');
				dot_put(d, &o, '\n');
				dot_eol(d);
				break;
			}
		bare_cr:
			d->flags |= DOT_BARE_CR;
			dot_put(d, &o, '\r');
			d->line_len++;
			d->st = ST_TEXT;
			goto text;
		case ST_DOT:
			if (c == '\r') {
				d->st = ST_DOTCR;
				break;
			}
			/* A stuffed line: the leading dot is dropped (§4.5.2). */
			d->line_len = 0;
			d->st = ST_TEXT;
			goto text;
		case ST_DOTCR:
			if (c == '\n') {
				done = 1;
				break;
			}
			/* ".<CR>x": not the end; the CR was bare. */
			goto bare_cr;
		}
	}
	out->len += (size_t)(o - o0);
	*used = (size_t)(p - (const unsigned char *)in);
	return done;
}
