/*
 * retr: message bytes to POP3 response bytes (see retr.h).
 */
#include <string.h>

#include "pop3d/retr.h"

void
retr_init(struct retr_state *st, long body_lines)
{
	memset(st, 0, sizeof(*st));
	st->body_lines = body_lines;
	st->line_start = true;
	st->in_header = true;
}

/* A line ended (CRLF written). Was it the empty line that ends the header? */
static void
retr_line_end(struct retr_state *st, bool empty)
{
	if (st->in_header) {
		if (empty) {
			st->in_header = false;
			if (st->body_lines == 0)
				st->done = true;
		}
	} else if (st->body_lines > 0 && --st->body_lines == 0)
		st->done = true;
	st->line_start = true;
}

size_t
retr_convert(struct retr_state *st, const unsigned char *in, size_t n, char *out)
{
	size_t i = 0, o = 0;
	unsigned char c;

	while (i < n && !st->done) {
		c = in[i];
		if (st->cr) {
			st->cr = false;
			if (c == '\n') {
				out[o++] = '\r';
				out[o++] = '\n';
				i++;
				/* line_start still set means nothing came before the CR. */
				retr_line_end(st, st->line_start);
				continue;
			}
			out[o++] = '\r';	/* a bare CR: kept inside the line */
			st->line_start = false;
		}
		if (st->line_start && c == '.')
			out[o++] = '.';		/* RFC 1939 §3: byte-stuffing */
		switch (c) {
		case '\r':
			st->cr = true;
			i++;
			continue;
		case '\n':			/* a bare LF: the line ends here too */
			out[o++] = '\r';
			out[o++] = '\n';
			i++;
			retr_line_end(st, st->line_start);
			continue;
		case '\0':
			out[o++] = (char)0x80;
			break;
		default:
			out[o++] = (char)c;
			break;
		}
		st->line_start = false;
		i++;
		/* The rest of an ordinary line in one go. */
		while (i < n && in[i] != '\r' && in[i] != '\n' && in[i] != '\0')
			out[o++] = (char)in[i++];
	}
	return o;
}

size_t
retr_finish(struct retr_state *st, char *out)
{
	size_t o = 0;

	if (st->cr) {			/* the file ended in a bare CR */
		out[o++] = '\r';
		st->cr = false;
		st->line_start = false;
	}
	if (!st->done) {
		if (!st->line_start) {
			out[o++] = '\r';
			out[o++] = '\n';
			st->line_start = true;
		}
		if (st->in_header) {	/* no empty line after the header: add it */
			out[o++] = '\r';
			out[o++] = '\n';
		}
	}
	memcpy(out + o, ".\r\n", 3);
	return o + 3;
}
