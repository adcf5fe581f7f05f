/*
 * fuzz_line: lib/line.c, the CRLF line reader.
 *
 * Input: byte 0 picks the line cap (2..257), byte 1 seeds the read sizes, the rest is
 * the stream. The stream is read twice: all at once into an unbounded buffer, and in
 * small reads into a buffer capped at cap + largest read, as a session would. Both
 * must report the same sequence of results and lines (the reader's answer cannot
 * depend on how TCP cut the bytes), and every line must be clean: no CR, LF or NUL,
 * NUL-terminated, shorter than the cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "lib/buf.h"
#include "lib/line.h"

#define CHUNK_MAX	64

/* One result of the reader: status plus a hash of the line for LINE_OK. */
struct ev {
	int		st;
	size_t		len;
	uint64_t	h;
};

struct evlog {
	struct ev	*v;
	size_t		 n, cap;
};

static uint64_t
fnv(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;

	while (n-- > 0)
		h = (h ^ (unsigned char)*p++) * 1099511628211ULL;
	return h;
}

static void
ev_add(struct evlog *l, int st, const char *line, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof(*l->v));
		if (l->v == NULL)
			abort();
	}
	l->v[l->n].st = st;
	l->v[l->n].len = len;
	l->v[l->n].h = st == LINE_OK ? fnv(line, len) : 0;
	l->n++;
}

/* Take every line out of b; check each; log them. */
static void
drain(struct line_reader *lr, struct buf *b, struct evlog *l)
{
	enum line_status st;
	char *line;
	size_t len;

	for (;;) {
		st = line_next(lr, b, &line, &len);
		if (st == LINE_MORE) {
			/* The cap is applied before waiting for more. */
			if (!lr->skipping && buf_unread(b) >= lr->max_bytes)
				abort();
			return;
		}
		if (st == LINE_OK) {
			if (line == NULL || line[len] != '\0' || len + 2 > lr->max_bytes ||
			    memchr(line, '\r', len) || memchr(line, '\n', len) ||
			    memchr(line, '\0', len))
				abort();
		} else if (line != NULL || len != 0)
			abort();
		ev_add(l, st, line, len);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct line_reader lr;
	struct evlog one = { 0 }, many = { 0 };
	struct buf b;
	size_t cap, pos, n, i;
	unsigned seed;

	if (size < 2)
		return 0;
	cap = 2 + (size_t)data[0];
	seed = data[1];
	data += 2;
	size -= 2;

	/* All at once. */
	line_reader_init(&lr, cap);
	buf_init(&b, size + 1);
	if (size > 0 && buf_append(&b, data, size) == -1)
		abort();
	drain(&lr, &b, &one);
	buf_clear(&b);

	/* In reads of 1..CHUNK_MAX bytes, into a buffer no bigger than a session's. */
	line_reader_init(&lr, cap);
	buf_init(&b, cap + CHUNK_MAX);
	for (pos = 0; pos < size; pos += n) {
		seed = seed * 1103515245u + 12345u;
		n = 1 + (seed >> 16) % CHUNK_MAX;
		if (n > size - pos)
			n = size - pos;
		buf_compact(&b);
		if (buf_append(&b, data + pos, n) == -1)
			abort();	/* the reader let the buffer grow past its cap */
		drain(&lr, &b, &many);
	}
	buf_clear(&b);

	if (one.n != many.n)
		abort();
	for (i = 0; i < one.n; i++)
		if (one.v[i].st != many.v[i].st || one.v[i].len != many.v[i].len ||
		    one.v[i].h != many.v[i].h)
			abort();
	free(one.v);
	free(many.v);
	return 0;
}
