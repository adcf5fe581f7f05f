/*
 * fuzz_dotstuff: smtpd/dotstuff.c, the DATA body state machine.
 *
 * Input: byte 0 picks the size limit, byte 1 seeds the chunk sizes, the rest is the
 * body as it follows "354". The body is fed twice: in chunks of 1..97 bytes (sizes from
 * the seed, as reads would cut it) and in one call. Checked:
 *   - used <= len on every call, and output per call <= len + 2 (dot_feed's contract);
 *   - both feeds agree on result, bytes consumed, output, flags, size and hop count;
 *   - against a small reference model: the data ends exactly at the first CRLF "." CRLF
 *     counted from the DATA command's CRLF; the output is the consumed bytes minus the
 *     stuffing dots and the final ".CRLF", cut at the size limit; bare CR, bare LF and
 *     NUL are flagged exactly when present.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "lib/buf.h"
#include "smtpd/dotstuff.h"

#define CHUNK_MAX	97

struct run {
	int		r;
	size_t		used;
	struct buf	out;
	struct dot_state d;
};

static void
feed(struct run *run, const uint8_t *in, size_t len, uint64_t max, unsigned seed,
    int chunked)
{
	size_t pos = 0, n, used, before;
	int r = 0;

	dot_init(&run->d, max);
	buf_init(&run->out, (size_t)-1);
	while (pos < len || (!chunked && pos == 0)) {
		n = len - pos;
		if (chunked) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % CHUNK_MAX;
			if (n > len - pos)
				n = len - pos;
		}
		before = run->out.len;
		r = dot_feed(&run->d, (const char *)in + pos, n, &used, &run->out);
		if (r == -1 || used > n || run->out.len - before > n + 2)
			abort();
		/* All of a chunk is consumed unless the end marker is in it. */
		if (r == 0 && used != n)
			abort();
		pos += used;
		if (r == 1 || len == 0)
			break;
	}
	run->r = r;
	run->used = pos;
}

static int
is_end(const uint8_t *s, size_t len, size_t i)
{
	/* CRLF "." CRLF at i in the stream prefixed by the DATA command's CRLF. */
	static const char m[] = "\r\n.\r\n";
	size_t k;

	for (k = 0; k < 5; k++) {
		size_t j = i + k;	/* index in the prefixed stream */
		int c;

		if (j < 2)
			c = j == 0 ? '\r' : '\n';
		else if (j - 2 < len)
			c = s[j - 2];
		else
			return 0;
		if (c != m[k])
			return 0;
	}
	return 1;
}

/*
 * For a message of clean CRLF lines (no bare CR or LF) that ended at s[end]: the
 * Received: fields are the lines of the header section (up to the first empty line)
 * that start with "received:" in any case, after the stuffing dot; and a line over
 * SMTP_DATA_LINE_MAX octets is flagged.
 */
static void
clean_lines(const uint8_t *s, size_t end, const struct run *run)
{
	static const char rcv[] = "received:";
	size_t i = 0, j, n, k;
	unsigned received = 0;
	int in_header = 1, longline = 0;

	while (i < end) {
		for (j = i; !(s[j] == '\r' && s[j + 1] == '\n'); j++)
			;
		n = j - i;
		k = i;
		if (n > 0 && s[i] == '.') {
			k++;	/* the stuffing dot */
			n--;
		}
		if (n > SMTP_DATA_LINE_MAX)
			longline = 1;
		if (n == 0)
			in_header = 0;
		else if (in_header && n >= sizeof(rcv) - 1) {
			size_t m;

			for (m = 0; m < sizeof(rcv) - 1; m++)
				if ((s[k + m] >= 'A' && s[k + m] <= 'Z' ? s[k + m] + 32 :
				    s[k + m]) != rcv[m])
					break;
			if (m == sizeof(rcv) - 1)
				received++;
		}
		i = j + 2;
	}
	if (run->d.received != received || run->d.in_header != in_header ||
	    ((run->d.flags & DOT_LONGLINE) != 0) != longline)
		abort();
}

static void
reference(const uint8_t *s, size_t len, const struct run *run)
{
	size_t i, end = (size_t)-1, o = 0, bol;
	uint64_t size = 0;
	unsigned flags = 0;
	char *ref;

	for (i = 0; i + 3 <= len + 2; i++)
		if (is_end(s, len, i)) {
			end = i;	/* ".CRLF" starts at s[end] */
			break;
		}
	if (end == (size_t)-1) {
		if (run->r != 0 || run->used != len)
			abort();
		return;
	}
	if (run->r != 1 || run->used != end + 3)
		abort();
	if ((ref = malloc(end + 1)) == NULL)
		abort();
	for (i = 0; i < end; i++) {
		bol = i == 0 || (i >= 2 && s[i - 2] == '\r' && s[i - 1] == '\n');
		if (s[i] == '.' && bol)
			continue;	/* the stuffing dot */
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			flags |= DOT_BARE_LF;
		if (s[i] == '\r' && s[i + 1] != '\n')
			flags |= DOT_BARE_CR;
		if (s[i] == '\0')
			flags |= DOT_NUL;
		size++;
		if (size <= run->d.max_bytes)
			ref[o++] = (char)s[i];
	}
	if (run->d.size != size || run->out.len != o || (o > 0 &&
	    memcmp(run->out.data, ref, o) != 0))
		abort();
	if ((run->d.flags & (DOT_BARE_LF | DOT_BARE_CR | DOT_NUL)) != flags)
		abort();
	if (((run->d.flags & DOT_TOOBIG) != 0) != (size > run->d.max_bytes))
		abort();
	if (flags == 0)
		clean_lines(s, end, run);
	free(ref);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t limits[] = { 0, 1, 2, 5, 16, 100, 1000, UINT64_MAX };
	struct run a, b;
	uint64_t max;
	unsigned seed;

	if (size < 2)
		return 0;
	max = (data[0] & 0x80) ? limits[data[0] & 7] : (uint64_t)data[0] * 3;
	seed = data[1];
	data += 2;
	size -= 2;

	feed(&a, data, size, max, seed, 1);
	feed(&b, data, size, max, seed, 0);
	if (a.r != b.r || a.used != b.used || a.out.len != b.out.len ||
	    (a.out.len > 0 && memcmp(a.out.data, b.out.data, a.out.len) != 0) ||
	    a.d.flags != b.d.flags || a.d.size != b.d.size || a.d.received != b.d.received ||
	    a.d.in_header != b.d.in_header)
		abort();
	/* Output never exceeds the limit; size counts what the limit cut off too. */
	if (a.out.len > a.d.max_bytes || a.out.len > a.d.size)
		abort();
	reference(data, size, &b);
	buf_clear(&a.out);
	buf_clear(&b.out);
	return 0;
}
