/*
 * buf: a growable byte buffer with a hard cap. The only place that does raw memory
 * arithmetic (with lib/line.c); every size computation is checked against the cap.
 *
 * Bytes live in data[rpos .. len): rpos advances as the reader consumes, and
 * buf_compact() moves the unread bytes to the front before more is read in.
 */
#ifndef LB_BUF_H
#define LB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct buf {
	char	*data;
	size_t	 rpos;		/* first unread byte */
	size_t	 len;		/* end of valid bytes */
	size_t	 cap;		/* allocated */
	size_t	 max;		/* hard cap on cap */
};

/* A buffer that never grows beyond max_bytes. Allocates nothing yet. */
void	buf_init(struct buf *b, size_t max_bytes);
void	buf_clear(struct buf *b);		/* frees the storage */

/* Make room for n more bytes after len. 0, or -1 with errno ENOBUFS over the cap. */
int	buf_reserve(struct buf *b, size_t n);
int	buf_append(struct buf *b, const void *p, size_t n);
int	buf_append_str(struct buf *b, const char *s);
int	buf_printf(struct buf *b, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* buf_printf() with a va_list, which the caller still va_end()s. */
int	buf_vprintf(struct buf *b, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));

static inline size_t	buf_unread(const struct buf *b) { return b->len - b->rpos; }
static inline char	*buf_head(const struct buf *b) { return b->data + b->rpos; }
static inline size_t	buf_room(const struct buf *b) { return b->cap - b->len; }

void	buf_consume(struct buf *b, size_t n);	/* n <= buf_unread() */
/* The free space after the data (buf_reserve first), and n bytes written into it. */
static inline char	*buf_tail(const struct buf *b) { return b->data + b->len; }
void	buf_commit(struct buf *b, size_t n);		/* n <= buf_room() */
void	buf_compact(struct buf *b);		/* move unread bytes to data[0] */
void	buf_reset(struct buf *b);		/* drop all bytes, keep storage */

#endif
