/*
 * test_dotstuff: smtpd/dotstuff.c — unstuffing, the one true end marker, smuggling
 * variants, splits at every byte, bytes after the end, size limit, hop counting, flags.
 */
#include <stdint.h>

#include "lib/buf.h"
#include "smtpd/dotstuff.h"
#include "tests/unit/t.h"

struct feed_result {
	int	 r;
	size_t	 used;
	char	 out[512];
	size_t	 outlen;
};

/* Feed in (len bytes) in pieces cut at the given offsets (ascending, ends with 0). */
static struct feed_result
feed_split(struct dot_state *d, const char *in, size_t len, const size_t *cuts)
{
	struct feed_result fr = { 0 };
	struct buf out;
	size_t pos = 0, next, used;

	buf_init(&out, 1 << 20);
	for (;;) {
		next = (cuts != NULL && *cuts != 0 && *cuts < len) ? *cuts++ : len;
		fr.r = dot_feed(d, in + pos, next - pos, &used, &out);
		pos += used;
		if (fr.r != 0 || next == len)
			break;
	}
	fr.used = pos;
	/* dot_feed always reserved room, so out.data is not NULL here. */
	fr.outlen = out.len < sizeof(fr.out) ? out.len : sizeof(fr.out);
	memcpy(fr.out, out.data, fr.outlen);
	buf_clear(&out);
	return fr;
}

static struct feed_result
feed(struct dot_state *d, const char *in, uint64_t max)
{
	dot_init(d, max);
	return feed_split(d, in, strlen(in), NULL);
}

static const struct {
	const char	*in;
	int		 r;
	const char	*out;
	size_t		 used;		/* 0 = all */
	unsigned	 flags;
} dot_cases[] = {
	/* valid */
	{ ".\r\n", 1, "", 0, 0 },				/* end at the very start */
	{ "\r\n.\r\n", 1, "\r\n", 0, 0 },
	{ "a\r\n.\r\n", 1, "a\r\n", 0, 0 },
	{ "..\r\n.\r\n", 1, ".\r\n", 0, 0 },			/* a stuffed lone dot */
	{ "..a\r\n...b\r\n.\r\n", 1, ".a\r\n..b\r\n", 0, 0 },	/* one dot stripped */
	{ "a.b\r\n.c\r\n.\r\n", 1, "a.b\r\nc\r\n", 0, 0 },	/* a dot in mid-line stays */
	{ "x\r\n.\r\nQUIT\r\n", 1, "x\r\n", 6, 0 },		/* bytes after the end stay */
	{ ".\r\n.\r\n", 1, "", 3, 0 },
	{ "no end\r\n", 0, "no end\r\n", 0, 0 },
	{ "no end\r\n.", 0, "no end\r\n", 0, 0 },		/* a dot pending */
	{ "no end\r\n.\r", 0, "no end\r\n", 0, 0 },
	/* smuggling: each is content, flagged, and does NOT end the data */
	{ "a\n.\nb\r\n.\r\n", 1, "a\n.\nb\r\n", 0, DOT_BARE_LF },
	{ "a\n.\r\nb\r\n.\r\n", 1, "a\n.\r\nb\r\n", 0, DOT_BARE_LF },
	{ "a\r\n.\nb\r\n.\r\n", 1, "a\r\n\nb\r\n", 0, DOT_BARE_LF },
	{ "a\r.\rb\r\n.\r\n", 1, "a\r.\rb\r\n", 0, DOT_BARE_CR },
	{ "a\r.\r\nb\r\n.\r\n", 1, "a\r.\r\nb\r\n", 0, DOT_BARE_CR },
	{ "a\r\n.\rb\r\n.\r\n", 1, "a\r\n\rb\r\n", 0, DOT_BARE_CR },
	{ "a\r\n.\r\r\n.\r\n", 1, "a\r\n\r\r\n", 0, DOT_BARE_CR },
	{ "\n.\n", 0, "\n.\n", 0, DOT_BARE_LF },
	{ "\n.\r\n", 0, "\n.\r\n", 0, DOT_BARE_LF },
	{ ".\n", 0, "\n", 0, DOT_BARE_LF },			/* at the very start */
	{ ".\rX", 0, "\rX", 0, DOT_BARE_CR },
	{ "a\n\r\n.\r\n", 1, "a\n\r\n", 0, DOT_BARE_LF },	/* CRLF after it is real */
	{ "a\r\r\n.\r\n", 1, "a\r\r\n", 0, DOT_BARE_CR },
	/* NUL */
	{ "a~b\r\n.\r\n", 1, "a~b\r\n", 0, DOT_NUL },
	{ ".~\r\n.\r\n", 1, "~\r\n", 0, DOT_NUL },
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

static void
test_dot_table(void)
{
	struct dot_state d;
	struct feed_result fr;
	char in[256], want[256];
	size_t i, inlen, wlen;

	test_begin("dotstuff: table");
	for (i = 0; i < sizeof(dot_cases) / sizeof(dot_cases[0]); i++) {
		inlen = unescape(in, dot_cases[i].in);
		wlen = unescape(want, dot_cases[i].out);
		dot_init(&d, 1 << 20);
		fr = feed_split(&d, in, inlen, NULL);
		test_assert_idx(fr.r == dot_cases[i].r, i);
		test_assert_idx(fr.used == (dot_cases[i].used ? dot_cases[i].used : inlen), i);
		test_assert_idx(fr.outlen == wlen && memcmp(fr.out, want, wlen) == 0, i);
		test_assert_idx(d.flags == dot_cases[i].flags, i);
		test_assert_idx(d.size == wlen, i);
	}
	test_end();
}

/* Every table case fed byte by byte gives the same answer. */
static void
test_dot_bytewise(void)
{
	struct dot_state d;
	struct feed_result fr;
	size_t cuts[256], i, k, inlen, wlen;
	char in[256], want[256];

	test_begin("dotstuff: table fed one byte at a time");
	for (i = 0; i < sizeof(dot_cases) / sizeof(dot_cases[0]); i++) {
		inlen = unescape(in, dot_cases[i].in);
		wlen = unescape(want, dot_cases[i].out);
		for (k = 0; k + 1 < inlen && k < 254; k++)
			cuts[k] = k + 1;
		cuts[k] = 0;
		dot_init(&d, 1 << 20);
		fr = feed_split(&d, in, inlen, cuts);
		test_assert_idx(fr.r == dot_cases[i].r, i);
		test_assert_idx(fr.used == (dot_cases[i].used ? dot_cases[i].used : inlen), i);
		test_assert_idx(fr.outlen == wlen && memcmp(fr.out, want, wlen) == 0, i);
		test_assert_idx(d.flags == dot_cases[i].flags, i);
	}
	test_end();
}

/* The end marker (and a stuffed line, and a smuggling try) split at every point. */
static void
test_dot_every_split(void)
{
	static const struct {
		const char	*in;
		const char	*out;
		size_t		 used;
		unsigned	 flags;
	} msgs[] = {
		{ "Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\nMAIL FROM:<a@b>\r\n",
		    "Subject: x\r\n\r\nbody\r\n.dot\r\n", 30, 0 },
		{ ".\r\nQUIT\r\n", "", 3, 0 },
		{ "a\n.\nb\r\n.\r\nNOOP\r\n", "a\n.\nb\r\n", 10, DOT_BARE_LF },
		{ "a\r.\rb\r\n.\r\nNOOP\r\n", "a\r.\rb\r\n", 10, DOT_BARE_CR },
	};
	struct dot_state d;
	struct feed_result fr;
	size_t m, s1, s2, cuts[3], len;
	int ok = 1;

	test_begin("dotstuff: end marker split at every byte boundary");
	for (m = 0; m < sizeof(msgs) / sizeof(msgs[0]); m++) {
		len = strlen(msgs[m].in);
		/* Two cut points: every pair, so the marker is split into up to 3 reads. */
		for (s1 = 1; s1 < len; s1++)
			for (s2 = s1; s2 < len; s2++) {
				cuts[0] = s1;
				cuts[1] = s2 > s1 ? s2 : 0;
				cuts[2] = 0;
				dot_init(&d, 1 << 20);
				fr = feed_split(&d, msgs[m].in, len, cuts);
				if (fr.r != 1 || fr.used != msgs[m].used ||
				    fr.outlen != strlen(msgs[m].out) ||
				    memcmp(fr.out, msgs[m].out, fr.outlen) != 0 ||
				    d.flags != msgs[m].flags) {
					ok = 0;
					fprintf(stderr, "\tmsg %zu split %zu,%zu: r=%d used=%zu\n",
					    m, s1, s2, fr.r, fr.used);
				}
			}
	}
	test_assert(ok);
	test_end();
}

static void
test_dot_size(void)
{
	struct dot_state d;
	struct feed_result fr;

	test_begin("dotstuff: size limit");
	fr = feed(&d, "0123456789\r\n.\r\n", 5);
	test_assert(fr.r == 1 && fr.outlen == 5 && memcmp(fr.out, "01234", 5) == 0);
	test_assert(d.size == 12);			/* counted beyond the limit */
	test_assert(d.flags == DOT_TOOBIG);
	fr = feed(&d, "0123456789\r\n.\r\n", 12);	/* exactly at the limit */
	test_assert(fr.r == 1 && fr.outlen == 12 && d.flags == 0);
	fr = feed(&d, "0123456789\r\n.\r\n", 11);
	test_assert(fr.r == 1 && fr.outlen == 11 && d.flags == DOT_TOOBIG);
	fr = feed(&d, "..\r\n.\r\n", 3);		/* the stuffing dot is not counted */
	test_assert(fr.r == 1 && d.size == 3 && d.flags == 0);
	fr = feed(&d, ".\r\n", 0);
	test_assert(fr.r == 1 && d.size == 0 && d.flags == 0);
	test_end();
}

static void
test_dot_hops(void)
{
	static const struct {
		const char	*in;
		unsigned	 received;
	} cases[] = {
		{ "Received: a\r\nReceived: b\r\n\r\nbody\r\n.\r\n", 2 },
		{ "received: a\r\nRECEIVED: b\r\nReCeIvEd: c\r\n\r\n.\r\n", 3 },
		{ "Subject: x\r\n\r\nReceived: in body\r\n.\r\n", 0 },
		{ "X-Received: a\r\nReceived : b\r\nReceived\r\n Received: c\r\n\r\n.\r\n", 0 },
		{ "Received:\r\n\r\n.\r\n", 1 },
		{ "..Received: a\r\n.\r\n", 0 },	/* ".Received:" is another field */
		{ ".Received: a\r\n.\r\n", 1 },		/* the stuffing dot is not content */
		{ "\r\nReceived: a\r\n.\r\n", 0 },	/* empty header section */
		/* A bare LF restarts the match (the message is refused for it anyway)... */
		{ "Received: a\nReceived: b\r\n\r\n.\r\n", 2 },
		/* ...and no match spans it, whatever the reads (fuzz_dotstuff found that). */
		{ "Rec\nXXXeived: xxxxxxxxxxxx\r\n\r\n.\r\n", 0 },
	};
	struct dot_state d;
	struct feed_result fr;
	size_t i, k, len, cuts[128];

	test_begin("dotstuff: Received: hops in the header only, any case");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fr = feed(&d, cases[i].in, 1 << 20);
		test_assert_idx(fr.r == 1, i);
		test_assert_idx(d.received == cases[i].received, i);
		/* The same byte by byte. */
		len = strlen(cases[i].in);
		for (k = 0; k + 1 < len && k < 126; k++)
			cuts[k] = k + 1;
		cuts[k] = 0;
		dot_init(&d, 1 << 20);
		fr = feed_split(&d, cases[i].in, len, cuts);
		test_assert_idx(fr.r == 1 && d.received == cases[i].received, i);
	}
	test_end();
}

static void
test_dot_longline(void)
{
	struct dot_state d;
	struct buf out;
	char *big;
	size_t used;
	int r;

	test_begin("dotstuff: long line flag");
	big = malloc(SMTP_DATA_LINE_MAX + 8);
	test_assert(big != NULL);
	if (big == NULL)
		return;
	/* Exactly SMTP_DATA_LINE_MAX octets before CRLF: fine. */
	memset(big, 'x', SMTP_DATA_LINE_MAX);
	memcpy(big + SMTP_DATA_LINE_MAX, "\r\n.\r\n", 5);
	buf_init(&out, 1 << 20);
	dot_init(&d, 1 << 20);
	r = dot_feed(&d, big, SMTP_DATA_LINE_MAX + 5, &used, &out);
	test_assert(r == 1 && d.flags == 0 && out.len == SMTP_DATA_LINE_MAX + 2);
	/* One more: flagged, and the data still ends normally. */
	buf_reset(&out);
	memset(big, 'x', SMTP_DATA_LINE_MAX + 1);
	memcpy(big + SMTP_DATA_LINE_MAX + 1, "\r\n.\r\n", 5);
	dot_init(&d, 1 << 20);
	r = dot_feed(&d, big, SMTP_DATA_LINE_MAX + 6, &used, &out);
	test_assert(r == 1 && d.flags == DOT_LONGLINE && used == SMTP_DATA_LINE_MAX + 6);
	buf_clear(&out);
	free(big);
	test_end();
}

static void
test_dot_outfull(void)
{
	struct dot_state d;
	struct buf out;
	size_t used = 99;

	test_begin("dotstuff: output buffer full");
	buf_init(&out, 8);
	dot_init(&d, 1 << 20);
	test_assert(dot_feed(&d, "0123456789\r\n.\r\n", 15, &used, &out) == -1);
	test_assert(used == 0 && out.len == 0);
	buf_clear(&out);
	test_end();
}

int
main(void)
{
	test_dot_table();
	test_dot_bytewise();
	test_dot_every_split();
	test_dot_size();
	test_dot_hops();
	test_dot_longline();
	test_dot_outfull();
	return test_exit();
}
