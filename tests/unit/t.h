/*
 * t.h: a tiny unit test harness in Dovecot's style (test-common.h), header only.
 *
 *	test_begin("line: bare LF");
 *	test_assert(st == LINE_BARELF);
 *	test_assert_idx(r == cases[i].want, i);	(which table row failed)
 *	test_end();
 *	...
 *	return test_exit();			(from main)
 *
 * A failed assertion prints "file:line: test name: expression" and the test carries on;
 * test_end() prints one line per test only when it failed. test_exit() prints
 * "<binary>: N passed, N failed" and returns non-zero if anything failed.
 */
#ifndef LB_T_H
#define LB_T_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *t_name;
static bool t_ok;
static unsigned t_passed, t_failed;

static inline void
test_begin(const char *name)
{
	t_name = name;
	t_ok = true;
}

static inline void
test_fail(const char *file, int line, const char *expr, long idx)
{
	if (idx >= 0)
		fprintf(stderr, "%s:%d: %s: [%ld] %s\n", file, line, t_name, idx, expr);
	else
		fprintf(stderr, "%s:%d: %s: %s\n", file, line, t_name, expr);
	t_ok = false;
}

#define test_assert(e) \
	do { if (!(e)) test_fail(__FILE__, __LINE__, #e, -1); } while (0)
#define test_assert_idx(e, i) \
	do { if (!(e)) test_fail(__FILE__, __LINE__, #e, (long)(i)); } while (0)
/* Strings equal; prints both on failure. */
#define test_assert_str(a, b) \
	do { const char *t_a_ = (a), *t_b_ = (b); \
	    if (t_a_ == NULL || t_b_ == NULL || strcmp(t_a_, t_b_) != 0) { \
		test_fail(__FILE__, __LINE__, #a " == " #b, -1); \
		fprintf(stderr, "\tgot \"%s\", want \"%s\"\n", t_a_ ? t_a_ : "(null)", \
		    t_b_ ? t_b_ : "(null)"); \
	    } } while (0)

static inline void
test_end(void)
{
	if (t_ok)
		t_passed++;
	else {
		t_failed++;
		fprintf(stderr, "FAIL: %s\n", t_name);
	}
	t_name = NULL;
}

static inline int
test_exit_named(const char *prog)
{
	const char *base = strrchr(prog, '/');

	printf("%s: %u passed, %u failed\n", base ? base + 1 : prog, t_passed, t_failed);
	return t_failed == 0 ? 0 : 1;
}

#define test_exit()	test_exit_named(__FILE__)

#endif
