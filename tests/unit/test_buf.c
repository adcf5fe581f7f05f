/*
 * test_buf: lib/buf.c — the hard cap, overflow checks, consume and compact.
 */
#include <errno.h>
#include <stdint.h>

#include "lib/buf.h"
#include "tests/unit/t.h"

static void
test_buf_cap(void)
{
	static const struct {
		size_t	max, first, second;
		int	want1, want2;
	} cases[] = {
		{ 10, 10, 0, 0, 0 },		/* exactly at the cap */
		{ 10, 11, 0, -1, 0 },		/* one over */
		{ 10, 5, 5, 0, 0 },
		{ 10, 5, 6, 0, -1 },
		{ 1000, 999, 1, 0, 0 },
		{ 1000, 999, 2, 0, -1 },
		{ 0, 1, 0, -1, 0 },		/* a zero cap takes nothing */
		{ 300, 256, 44, 0, 0 },		/* growth stops at the cap, not at 512 */
	};
	char data[2048];
	struct buf b;
	size_t i;

	memset(data, 'x', sizeof(data));
	test_begin("buf: cap");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_init(&b, cases[i].max);
		errno = 0;
		test_assert_idx(buf_append(&b, data, cases[i].first) == cases[i].want1, i);
		if (cases[i].want1 == -1)
			test_assert_idx(errno == ENOBUFS, i);
		errno = 0;
		test_assert_idx(buf_append(&b, data, cases[i].second) == cases[i].want2, i);
		if (cases[i].want2 == -1)
			test_assert_idx(errno == ENOBUFS, i);
		test_assert_idx(b.cap <= b.max, i);
		test_assert_idx(b.len <= b.cap, i);
		buf_clear(&b);
		test_assert_idx(b.data == NULL && b.len == 0 && b.cap == 0, i);
	}
	test_end();
}

static void
test_buf_overflow(void)
{
	struct buf b;

	test_begin("buf: size_t overflow in reserve");
	buf_init(&b, SIZE_MAX);
	test_assert(buf_append(&b, "abc", 3) == 0);
	/* len + n would wrap: must fail, not allocate a tiny block. */
	errno = 0;
	test_assert(buf_reserve(&b, SIZE_MAX) == -1);
	test_assert(buf_reserve(&b, SIZE_MAX - 1) == -1);
	test_assert(buf_reserve(&b, SIZE_MAX - 2) == -1);
	test_assert(b.len == 3 && memcmp(b.data, "abc", 3) == 0);
	buf_clear(&b);

	buf_init(&b, 100);
	test_assert(buf_append(&b, "abcdefghij", 10) == 0);
	errno = 0;
	test_assert(buf_reserve(&b, SIZE_MAX - 5) == -1 && errno == ENOBUFS);
	test_assert(buf_reserve(&b, 90) == 0);
	test_assert(buf_reserve(&b, 91) == -1);
	buf_clear(&b);
	test_end();
}

static void
test_buf_consume_compact(void)
{
	struct buf b;

	test_begin("buf: consume and compact");
	buf_init(&b, 16);
	test_assert(buf_append(&b, "0123456789", 10) == 0);
	buf_consume(&b, 4);
	test_assert(buf_unread(&b) == 6 && memcmp(buf_head(&b), "456789", 6) == 0);
	test_assert(b.rpos == 4);
	/* 6 unread + 10 more = 16 fits only once the consumed bytes are reclaimed. */
	test_assert(buf_append(&b, "abcdefghij", 10) == 0);
	test_assert(b.rpos == 0 && b.len == 16);
	test_assert(memcmp(buf_head(&b), "456789abcdefghij", 16) == 0);
	test_assert(buf_append(&b, "x", 1) == -1);
	buf_consume(&b, 16);
	/* Consuming everything rewinds to the start. */
	test_assert(b.rpos == 0 && b.len == 0 && buf_unread(&b) == 0);
	test_assert(buf_append(&b, "hello", 5) == 0);
	buf_consume(&b, 2);
	buf_compact(&b);
	test_assert(b.rpos == 0 && b.len == 3 && memcmp(b.data, "llo", 3) == 0);
	buf_compact(&b);	/* nothing consumed: no change */
	test_assert(b.len == 3 && memcmp(b.data, "llo", 3) == 0);
	buf_reset(&b);
	test_assert(b.len == 0 && b.rpos == 0 && b.cap > 0);
	buf_clear(&b);
	test_end();
}

static void
test_buf_printf(void)
{
	struct buf b;

	test_begin("buf: printf");
	buf_init(&b, 16);
	test_assert(buf_printf(&b, "%s=%d", "ab", 42) == 0);
	test_assert(b.len == 5 && memcmp(b.data, "ab=42", 5) == 0);
	test_assert(buf_append_str(&b, "0123456789") == 0);	/* 15 bytes */
	/* One more byte fits in len, but vsnprintf's NUL does not: refused whole. */
	test_assert(buf_printf(&b, "%c", 'z') == -1);
	test_assert(b.len == 15);
	buf_consume(&b, 5);
	test_assert(buf_printf(&b, "%s", "abcde") == 0);
	test_assert(b.len == 15 && memcmp(buf_head(&b), "0123456789abcde", 15) == 0);
	buf_clear(&b);
	test_end();
}

static void
test_buf_growth(void)
{
	struct buf b;
	size_t i;
	int ok = 1;

	test_begin("buf: growth keeps the bytes");
	buf_init(&b, 100000);
	for (i = 0; i < 10000; i++)
		if (buf_append(&b, &"0123456789"[i % 10], 1) == -1)
			ok = 0;
	test_assert(ok);
	test_assert(b.len == 10000 && b.cap <= 100000);
	for (i = 0; i < 10000; i++)
		if (b.data[i] != (char)('0' + i % 10))
			ok = 0;
	test_assert(ok);
	buf_clear(&b);
	test_end();
}

int
main(void)
{
	test_buf_cap();
	test_buf_overflow();
	test_buf_consume_compact();
	test_buf_printf();
	test_buf_growth();
	return test_exit();
}
