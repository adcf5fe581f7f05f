/*
 * test_retr: pop3d/retr.c — a stored message as a RETR/TOP body: CRLF kept, bare LF
 * made CRLF, bare CR kept, NUL made 0x80, dot-stuffing (also when a read ends right
 * before the dot or between CR and LF), the header end added when missing, TOP 0/k,
 * the empty message; the same output for every way of cutting the input.
 */
#include <limits.h>

#include "pop3d/retr.h"
#include "tests/unit/t.h"

#define RUN_MAX	1024

static const struct {
	const char	*in;		/* '~' is a NUL byte */
	long		 lines;		/* -1: RETR */
	const char	*out;		/* without the final ".\r\n" */
} retr_cases[] = {
	/* line ends */
	{ "Subject: x\r\n\r\nbody\r\n", -1, "Subject: x\r\n\r\nbody\r\n" },
	{ "A: b\n\nc\n", -1, "A: b\r\n\r\nc\r\n" },			/* bare LF */
	{ "A: b\r\n\r\nx\ry\r\n", -1, "A: b\r\n\r\nx\ry\r\n" },	/* bare CR kept */
	{ "A: b\r\n\r\nx\r", -1, "A: b\r\n\r\nx\r\r\n" },		/* bare CR at the end */
	{ "A\r\r\n\r\nx\r\n", -1, "A\r\r\n\r\nx\r\n" },		/* CR CR LF */
	{ "A: b\r\n\r\nbody", -1, "A: b\r\n\r\nbody\r\n" },		/* no final CRLF */
	{ "A: b\n\r\nc\r\n", -1, "A: b\r\n\r\nc\r\n" },		/* LF then CRLF */
	/* NUL */
	{ "A: b\r\n\r\na~b\r\n", -1, "A: b\r\n\r\na\x80" "b\r\n" },
	{ "A: b\r\n\r\n~\r\n~", -1, "A: b\r\n\r\n\x80\r\n\x80\r\n" },
	/* dot-stuffing */
	{ "A: b\r\n\r\n.x\r\n.\r\n..\r\nx.y\r\n", -1,
	  "A: b\r\n\r\n..x\r\n..\r\n...\r\nx.y\r\n" },
	{ ".A: b\r\n\r\n", -1, "..A: b\r\n\r\n" },			/* at the very start */
	{ "A\n\n.\n", -1, "A\r\n\r\n..\r\n" },			/* after a bare LF */
	/* after a bare CR: still mid-line */
	{ "A\r\n\r\nx\r.y\r\n", -1, "A\r\n\r\nx\r.y\r\n" },
	{ "A\r\n\r\n.", -1, "A\r\n\r\n..\r\n" },			/* a last line "." */
	/* header end */
	{ "A: b\r\nC: d\r\n", -1, "A: b\r\nC: d\r\n\r\n" },		/* missing: added */
	{ "A: b", -1, "A: b\r\n\r\n" },
	{ "A: b\r\n.\r\n", -1, "A: b\r\n..\r\n\r\n" },
	{ "\r\nbody\r\n", -1, "\r\nbody\r\n" },			/* empty header */
	/* empty message */
	{ "", -1, "\r\n" },
	{ "\r\n", -1, "\r\n" },
	/* TOP */
	{ "A: b\r\n\r\nl1\r\nl2\r\n", 0, "A: b\r\n\r\n" },
	{ "A: b\r\n\r\nl1\r\nl2\r\n", 1, "A: b\r\n\r\nl1\r\n" },
	{ "A: b\r\n\r\nl1\r\nl2\r\n", 2, "A: b\r\n\r\nl1\r\nl2\r\n" },
	{ "A: b\r\n\r\nl1", 5, "A: b\r\n\r\nl1\r\n" },		/* fewer than asked */
	{ "A: b\r\n", 0, "A: b\r\n\r\n" },				/* no header end */
	{ "A\n\n1\n2\n", 1, "A\r\n\r\n1\r\n" },
	{ "A\r\n\r\n\r\nx\r\n", 1, "A\r\n\r\n\r\n" },		/* an empty line counts */
	{ "A\r\n\r\n.\r\n..\r\nz\r\n", 2, "A\r\n\r\n..\r\n...\r\n" },
	{ "A\r\n\r\nx\r", 1, "A\r\n\r\nx\r\r\n" },
	{ "", 0, "\r\n" },
	{ "A\r\n\r\nl1\r\n", LONG_MAX, "A\r\n\r\nl1\r\n" },
};

/* '~' in the table is a NUL byte. */
static size_t
unescape(char *dst, const char *src)
{
	size_t n;

	for (n = 0; src[n] != '\0'; n++)
		dst[n] = src[n] == '~' ? '\0' : src[n];
	dst[n] = '\0';
	return n;
}

/*
 * Convert in (len bytes) cut at the offsets in cuts (ascending, ending with 0), or in
 * one piece; then finish. The output length, or (size_t)-1 if it overran a bound.
 */
static size_t
run(const char *in, size_t len, long lines, const size_t *cuts, char *out)
{
	struct retr_state st;
	size_t pos = 0, next, o = 0, w;

	retr_init(&st, lines);
	do {
		next = (cuts != NULL && *cuts != 0 && *cuts < len) ? *cuts++ : len;
		w = retr_convert(&st, (const unsigned char *)in + pos, next - pos, out + o);
		if (w > RETR_OUT_MAX(next - pos))
			return (size_t)-1;
		o += w;
		pos = next;
	} while (pos < len);
	w = retr_finish(&st, out + o);
	if (w > 16)
		return (size_t)-1;
	return o + w;
}

static void
test_retr_table(void)
{
	char in[256], want[300], out[RUN_MAX];
	size_t i, inlen, wlen, n;

	test_begin("retr: table, in one piece");
	for (i = 0; i < sizeof(retr_cases) / sizeof(retr_cases[0]); i++) {
		inlen = unescape(in, retr_cases[i].in);
		wlen = (size_t)snprintf(want, sizeof(want), "%s.\r\n", retr_cases[i].out);
		n = run(in, inlen, retr_cases[i].lines, NULL, out);
		test_assert_idx(n == wlen && memcmp(out, want, wlen) == 0, i);
	}
	test_end();
}

/* Every case cut at every offset, and byte by byte: the same output. */
static void
test_retr_splits(void)
{
	char in[256], want[300], out[RUN_MAX];
	size_t i, inlen, wlen, cut, k, n, cuts[257];

	test_begin("retr: table, cut at every offset and byte by byte");
	for (i = 0; i < sizeof(retr_cases) / sizeof(retr_cases[0]); i++) {
		inlen = unescape(in, retr_cases[i].in);
		wlen = (size_t)snprintf(want, sizeof(want), "%s.\r\n", retr_cases[i].out);
		for (cut = 1; cut < inlen; cut++) {
			cuts[0] = cut;
			cuts[1] = 0;
			n = run(in, inlen, retr_cases[i].lines, cuts, out);
			test_assert_idx(n == wlen && memcmp(out, want, wlen) == 0,
			    i * 1000 + cut);
		}
		for (k = 1; k < inlen; k++)
			cuts[k - 1] = k;
		cuts[inlen > 0 ? inlen - 1 : 0] = 0;
		test_assert_idx(run(in, inlen, retr_cases[i].lines, cuts, out) == wlen &&
		    memcmp(out, want, wlen) == 0, i);
	}
	test_end();
}

/* The reads of send_message() end anywhere: right before a dot, between CR and LF. */
static void
test_retr_dot_at_boundary(void)
{
	static const char in[] = "A: b\r\n\r\nx\r\n.y\r\n.\r\n";
	static const char want[] = "A: b\r\n\r\nx\r\n..y\r\n..\r\n.\r\n";
	static const size_t cut_sets[][3] = {
		{ 11, 0 },		/* "...x\r\n" | ".y" */
		{ 10, 11, 0 },		/* CR | LF | ".y" */
		{ 10, 12, 0 },		/* CR | LF "." | "y" */
		{ 14, 15, 0 },		/* ".y" CR | LF | ".\r\n" */
		{ 15, 16, 0 },		/* ".y\r\n" | "." | "\r\n" */
	};
	char out[RUN_MAX];
	size_t i, n;

	test_begin("retr: dot-stuffing across read boundaries");
	for (i = 0; i < sizeof(cut_sets) / sizeof(cut_sets[0]); i++) {
		n = run(in, sizeof(in) - 1, -1, cut_sets[i], out);
		test_assert_idx(n == sizeof(want) - 1 && memcmp(out, want, n) == 0, i);
	}
	test_end();
}

static void
test_retr_done(void)
{
	static const char in[] = "A\r\n\r\n1\r\n2\r\n3\r\n";
	struct retr_state st;
	char out[RUN_MAX];
	size_t n;

	test_begin("retr: TOP stops reading once done");
	retr_init(&st, 1);
	n = retr_convert(&st, (const unsigned char *)in, sizeof(in) - 1, out);
	test_assert(st.done);
	test_assert(n == 8 && memcmp(out, "A\r\n\r\n1\r\n", 8) == 0);
	/* Later chunks are ignored; finish adds only the terminator. */
	test_assert(retr_convert(&st, (const unsigned char *)"more\r\n", 6, out) == 0);
	test_assert(retr_finish(&st, out) == 3 && memcmp(out, ".\r\n", 3) == 0);
	/* TOP 0 is done at the empty line; RETR never is. */
	retr_init(&st, 0);
	retr_convert(&st, (const unsigned char *)in, 5, out);
	test_assert(st.done);
	retr_init(&st, -1);
	retr_convert(&st, (const unsigned char *)in, sizeof(in) - 1, out);
	test_assert(!st.done && st.body_lines == -1);
	test_end();
}

/* The worst cases for RETR_OUT_MAX: every byte doubled, plus what finish adds. */
static void
test_retr_bounds(void)
{
	static const char *const worst[] = { "\n\n\n\n", ".\n.\n.\n", "\r.\r.", "\r" };
	struct retr_state st;
	char out[RUN_MAX];
	size_t i, n, len;

	test_begin("retr: output within RETR_OUT_MAX and 16 bytes for finish");
	for (i = 0; i < sizeof(worst) / sizeof(worst[0]); i++) {
		len = strlen(worst[i]);
		retr_init(&st, -1);
		n = retr_convert(&st, (const unsigned char *)worst[i], len, out);
		test_assert_idx(n <= RETR_OUT_MAX(len), i);
		test_assert_idx(retr_finish(&st, out + n) <= 16, i);
	}
	/* Header unfinished, bare CR pending: the longest finish, 1 + 2 + 2 + 3. */
	retr_init(&st, -1);
	n = retr_convert(&st, (const unsigned char *)"A\r", 2, out);
	test_assert(n == 1);
	test_assert(retr_finish(&st, out) == 8 && memcmp(out, "\r\r\n\r\n.\r\n", 8) == 0);
	test_end();
}

int
main(void)
{
	test_retr_table();
	test_retr_splits();
	test_retr_dot_at_boundary();
	test_retr_done();
	test_retr_bounds();
	return test_exit();
}
