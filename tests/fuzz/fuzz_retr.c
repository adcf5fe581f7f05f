/*
 * fuzz_retr: pop3d/retr.c, a stored message turned into a RETR or TOP response body.
 *
 * Input: byte 0 picks RETR (high bit set) or TOP with 0..14 body lines (0x7f: TOP with
 * LONG_MAX), byte 1 seeds the chunk sizes, the rest is the message file. It is
 * converted twice: in chunks of 0..CHUNK_MAX bytes (sizes from the seed, as read(2)
 * would cut the file), each into a buffer of exactly RETR_OUT_MAX(n) bytes so ASan
 * sees any write past the promised bound, and in one call. Checked:
 *   - both agree byte for byte, and on the state after the last chunk;
 *   - once st.done is set, later chunks produce nothing;
 *   - against a reference written line by line: a line ends at CRLF or bare LF, a bare
 *     CR stays inside its line, NUL becomes 0x80, a line starting with "." gets one
 *     more, the header ends at the first empty line (one is added at the end if there
 *     is none), TOP stops after the header and n body lines;
 *   - the output itself: no NUL, every LF after a CR, no line that starts with "."
 *     but the final one unless stuffed (".."), an empty line (the header/body
 *     separator) before the end, ".\r\n" at the end, at most n body lines for TOP.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "pop3d/retr.h"

#define CHUNK_MAX	67

/* Convert in[0..len) with retr_convert in chunks (chunked) or at once, then finish. */
static void
convert(struct fuzz_out *o, struct retr_state *st, const uint8_t *in, size_t len,
    long lines, unsigned seed, int chunked)
{
	size_t pos = 0, n, w;
	char *tmp;
	int was_done;

	retr_init(st, lines);
	do {
		n = len - pos;
		if (chunked) {
			seed = seed * 1103515245u + 12345u;
			n = (seed >> 16) % (CHUNK_MAX + 1);	/* 0 is a valid chunk too */
			if (n > len - pos)
				n = len - pos;
		}
		/* Exactly the promised room: one byte more written is a heap overflow. */
		if ((tmp = malloc(RETR_OUT_MAX(n))) == NULL)
			abort();
		was_done = st->done;
		w = retr_convert(st, in + pos, n, tmp);
		if (w > RETR_OUT_MAX(n) || (was_done && w != 0))
			abort();
		fuzz_out_add(o, tmp, w);
		free(tmp);
		pos += n;
	} while (pos < len);
	if ((tmp = malloc(16)) == NULL)
		abort();
	w = retr_finish(st, tmp);
	if (w > 16)
		abort();
	fuzz_out_add(o, tmp, w);
	free(tmp);
}

/*
 * The reference, one whole line at a time. A line is the bytes up to CRLF or a bare LF
 * (the terminator not included), or the bytes after the last terminator.
 */
static void
reference(struct fuzz_out *o, const uint8_t *s, size_t len, long lines)
{
	size_t i = 0, j, end, next, k;
	int in_header = 1;
	long body = 0;
	char c;

	while (i < len) {
		for (j = i; j < len && s[j] != '\n'; j++)
			;
		if (j < len) {		/* a terminated line: CRLF or bare LF */
			end = j > i && s[j - 1] == '\r' ? j - 1 : j;
			next = j + 1;
		} else {		/* the last, unterminated line */
			end = len;
			next = len;
		}
		if (!in_header && lines >= 0 && body >= lines)
			break;
		if (end > i && s[i] == '.')
			fuzz_out_add(o, ".", 1);
		for (k = i; k < end; k++) {
			c = s[k] == '\0' ? (char)0x80 : (char)s[k];
			fuzz_out_add(o, &c, 1);
		}
		fuzz_out_add(o, "\r\n", 2);
		if (in_header) {
			if (end == i)
				in_header = 0;
		} else
			body++;
		i = next;
		/* TOP 0: nothing after the empty line. */
		if (!in_header && lines >= 0 && body >= lines)
			break;
	}
	if (in_header)
		fuzz_out_add(o, "\r\n", 2);
	fuzz_out_add(o, ".\r\n", 3);
}

/* The shape of any RETR/TOP body, whatever the input. */
static void
check_output(const struct fuzz_out *o, long lines)
{
	size_t i, ls = 0, n = o->len;
	long body = 0;
	int in_header = 1, empty_seen = 0;

	if (n < 5 || memcmp(o->p + n - 5, "\r\n.\r\n", 5) != 0) {
		/* Only "\r\n.\r\n" can be that short (an empty header, nothing else). */
		abort();
	}
	for (i = 0; i < n; i++) {
		if (o->p[i] == '\0')
			abort();
		if (o->p[i] != '\n')
			continue;
		if (i == 0 || o->p[i - 1] != '\r')
			abort();
		/* The line [ls, i - 1) ended. */
		if (i + 1 == n) {
			if (i - 1 - ls != 1 || o->p[ls] != '.')
				abort();	/* the terminator is exactly "." */
		} else {
			if (i - 1 > ls && o->p[ls] == '.' &&
			    (i - 1 - ls < 2 || o->p[ls + 1] != '.'))
				abort();	/* a dot line not stuffed */
			if (i - 1 == ls) {
				if (in_header)
					empty_seen = 1;
				else
					body++;
				in_header = 0;
			} else if (!in_header)
				body++;
		}
		ls = i + 1;
	}
	if (!empty_seen || (lines >= 0 && body > lines))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct retr_state a, b;
	struct fuzz_out oa = { 0 }, ob = { 0 }, oref = { 0 };
	long lines;
	unsigned seed;

	if (size < 2)
		return 0;
	if (data[0] & 0x80)
		lines = -1;
	else if (data[0] == 0x7f)
		lines = LONG_MAX;
	else
		lines = data[0] % 15;
	seed = data[1];
	data += 2;
	size -= 2;

	convert(&oa, &a, data, size, lines, seed, 1);
	convert(&ob, &b, data, size, lines, seed, 0);
	if (oa.len != ob.len || memcmp(oa.p, ob.p, oa.len) != 0 ||
	    a.done != b.done || a.in_header != b.in_header || a.body_lines != b.body_lines)
		abort();
	reference(&oref, data, size, lines);
	if (oref.len != ob.len || memcmp(oref.p, ob.p, ob.len) != 0)
		abort();
	check_output(&ob, lines);
	free(oa.p);
	free(ob.p);
	free(oref.p);
	return 0;
}
