/*
 * line: CRLF line reader (see line.h). UNSAFE: scans and NUL-terminates in place.
 */
#include <string.h>

#include "lib/line.h"

void
line_reader_init(struct line_reader *lr, size_t max_bytes)
{
	lr->max_bytes = max_bytes;
	lr->skipping = 0;
}

enum line_status
line_next(struct line_reader *lr, struct buf *b, char **line_out, size_t *len_out)
{
	char *head, *lf;
	size_t avail, linelen;

	*line_out = NULL;
	*len_out = 0;
	for (;;) {
		/* Empty first: an empty buffer may have no storage, and NULL + 0 is UB. */
		avail = buf_unread(b);
		if (avail == 0)
			return LINE_MORE;
		head = buf_head(b);
		lf = memchr(head, '\n', avail);
		if (lr->skipping) {
			/* Drop the rest of an overlong line, up to and including its LF. */
			if (lf == NULL) {
				buf_consume(b, avail);
				return LINE_MORE;
			}
			buf_consume(b, (size_t)(lf - head) + 1);
			lr->skipping = 0;
			continue;
		}
		break;
	}
	if (lf == NULL) {
		if (avail >= lr->max_bytes) {
			buf_consume(b, avail);
			lr->skipping = 1;
			return LINE_TOOLONG;
		}
		return LINE_MORE;
	}
	linelen = (size_t)(lf - head) + 1;	/* with the LF */
	buf_consume(b, linelen);
	if (linelen > lr->max_bytes)
		return LINE_TOOLONG;
	if (linelen < 2 || head[linelen - 2] != '\r')
		return LINE_BARELF;
	linelen -= 2;
	if (memchr(head, '\r', linelen) != NULL)
		return LINE_BARECR;
	if (memchr(head, '\0', linelen) != NULL)
		return LINE_NUL;
	head[linelen] = '\0';		/* overwrites the CR */
	*line_out = head;
	*len_out = linelen;
	return LINE_OK;
}
