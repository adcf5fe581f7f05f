/*
 * buf: growable byte buffer with a hard cap (see buf.h). UNSAFE: raw memory work lives
 * here and in line.c only; every growth is overflow-checked against b->max.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

#define BUF_MIN_ALLOC	256

void
buf_init(struct buf *b, size_t max_bytes)
{
	memset(b, 0, sizeof(*b));
	b->max = max_bytes;
}

void
buf_clear(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->rpos = b->len = b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->rpos = b->len = 0;
}

void
buf_compact(struct buf *b)
{
	if (b->rpos == 0)
		return;
	/* UNSAFE: overlapping move of the unread tail to the front. */
	if (b->len > b->rpos)
		memmove(b->data, b->data + b->rpos, b->len - b->rpos);
	b->len -= b->rpos;
	b->rpos = 0;
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n <= b->cap - b->len)
		return 0;
	buf_compact(b);
	if (n <= b->cap - b->len)
		return 0;
	if (n > b->max || b->len > b->max - n) {
		errno = ENOBUFS;
		return -1;
	}
	need = b->len + n;
	ncap = b->cap ? b->cap : BUF_MIN_ALLOC;
	while (ncap < need)
		ncap = ncap > b->max / 2 ? b->max : ncap * 2;
	if (ncap > b->max)
		ncap = b->max;
	if ((p = realloc(b->data, ncap)) == NULL)
		return -1;
	b->data = p;
	b->cap = ncap;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (buf_reserve(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list again;
	int n;

	va_copy(again, ap);
	n = vsnprintf(NULL, 0, fmt, again);
	va_end(again);
	if (n < 0)
		return -1;
	/* +1 for vsnprintf's NUL, which is not counted in len. */
	if (buf_reserve(b, (size_t)n + 1) == -1)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

void
buf_commit(struct buf *b, size_t n)
{
	if (n > b->cap - b->len)
		abort();	/* a caller wrote past buf_reserve(): never continue */
	b->len += n;
}

void
buf_consume(struct buf *b, size_t n)
{
	b->rpos += n;
	if (b->rpos >= b->len)
		b->rpos = b->len = 0;
}
