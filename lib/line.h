/*
 * line: the CRLF line reader over a struct buf, shared by every daemon (style.md §5.4).
 * A line ends only at CRLF; bare LF, bare CR and NUL are reported, never guessed at.
 */
#ifndef LB_LINE_H
#define LB_LINE_H

#include <stddef.h>

#include "lib/buf.h"

enum line_status {
	LINE_OK,	/* *line_out is the line, CRLF removed, NUL-terminated */
	LINE_MORE,	/* no complete line yet: read more */
	LINE_TOOLONG,	/* over max_bytes: the rest of that line will be discarded */
	LINE_BARELF,	/* LF without CR: the line is consumed */
	LINE_BARECR,	/* CR not followed by LF inside the line: consumed */
	LINE_NUL,	/* NUL byte inside the line: consumed */
};

struct line_reader {
	size_t	max_bytes;	/* longest accepted line, CRLF included */
	int	skipping;	/* discarding the tail of an overlong line */
};

void	line_reader_init(struct line_reader *lr, size_t max_bytes);

/*
 * Take the next line from b. On LINE_OK, *line_out points into b's storage and stays
 * valid until the next read into b or buf_compact(); *len_out excludes CRLF.
 * The cap is applied before waiting for more input: a client that never sends LF
 * gets LINE_TOOLONG once max_bytes are buffered, and its bytes are dropped up to the
 * next LF (so memory stays bounded whatever it sends).
 */
enum line_status line_next(struct line_reader *lr, struct buf *b, char **line_out,
	    size_t *len_out);

#endif
