/*
 * test_line: lib/line.c — strict CRLF, bare LF/CR, NUL, the cap applied before waiting,
 * skipping the rest of an overlong line over several reads, lines split across reads.
 */
#include "lib/buf.h"
#include "lib/line.h"
#include "tests/unit/t.h"

#define NSTEPS	8

/* Feed the parts one by one, collecting every non-MORE result (and the lines). */
struct step {
	int		st;		/* -1 ends the list */
	const char	*line;		/* for LINE_OK */
};

struct line_case {
	size_t		max;
	const char	*parts[6];	/* NULL-terminated reads */
	struct step	want[NSTEPS];
	size_t		left;		/* bytes left unread at the end */
};

#define END	{ -1, NULL }

static const struct line_case line_cases[] = {
	/* valid */
	{ 100, { "HELO x\r\n" }, { { LINE_OK, "HELO x" }, END }, 0 },
	{ 100, { "\r\n" }, { { LINE_OK, "" }, END }, 0 },
	{ 100, { "A\r\nB\r\nC" }, { { LINE_OK, "A" }, { LINE_OK, "B" }, END }, 1 },
	{ 100, { "HE", "LO", " x\r", "\n" }, { { LINE_OK, "HELO x" }, END }, 0 },
	{ 100, { "NOOP\r", "\nQUIT\r\n" }, { { LINE_OK, "NOOP" }, { LINE_OK, "QUIT" }, END }, 0 },
	/* exactly at the limit: 8 bytes with CRLF */
	{ 8, { "123456\r\n" }, { { LINE_OK, "123456" }, END }, 0 },
	{ 8, { "1234", "56\r", "\n" }, { { LINE_OK, "123456" }, END }, 0 },
	/* one over: too long, consumed, next line fine */
	{ 8, { "1234567\r\nok\r\n" }, { { LINE_TOOLONG, NULL }, { LINE_OK, "ok" }, END }, 0 },
	/* bare LF, bare CR, NUL: reported and consumed */
	{ 100, { "HELO x\nNOOP\r\n" }, { { LINE_BARELF, NULL }, { LINE_OK, "NOOP" }, END }, 0 },
	{ 100, { "\n" }, { { LINE_BARELF, NULL }, END }, 0 },
	{ 100, { "HELO\rx\r\nNOOP\r\n" }, { { LINE_BARECR, NULL }, { LINE_OK, "NOOP" }, END }, 0 },
	{ 100, { "A\r\r\n" }, { { LINE_BARECR, NULL }, END }, 0 },
	{ 100, { "\rA\r\n" }, { { LINE_BARECR, NULL }, END }, 0 },
	{ 100, { "A\n\r\n" }, { { LINE_BARELF, NULL }, { LINE_OK, "" }, END }, 0 },
	{ 100, { "HE~LO\r\nX\r\n" }, { { LINE_NUL, NULL }, { LINE_OK, "X" }, END }, 0 },
	{ 100, { "~\r\n" }, { { LINE_NUL, NULL }, END }, 0 },
	{ 100, { "A\r\n~", "\r\n" }, { { LINE_OK, "A" }, { LINE_NUL, NULL }, END }, 0 },
	/* too long without LF: reported as soon as max bytes are buffered */
	{ 8, { "12345678" }, { { LINE_TOOLONG, NULL }, END }, 0 },
	{ 8, { "1234567" }, { END }, 7 },
	{ 8, { "1234", "5678" }, { { LINE_TOOLONG, NULL }, END }, 0 },
	/* ... and the rest of it skipped over several reads, up to its LF */
	{ 8, { "12345678", "9abcdef", "ghij\r", "\nNOOP\r\n" },
	    { { LINE_TOOLONG, NULL }, { LINE_OK, "NOOP" }, END }, 0 },
	{ 8, { "12345678", "xxxxxxxx", "xx\n", "QUIT\r\n" },
	    { { LINE_TOOLONG, NULL }, { LINE_OK, "QUIT" }, END }, 0 },
	/* the skip ends at the LF even when that line had a bare LF */
	{ 4, { "abcdef", "\nok\r\n" }, { { LINE_TOOLONG, NULL }, { LINE_OK, "ok" }, END }, 0 },
	/* overlong with the LF in the same read: one TOOLONG, no skipping after */
	{ 4, { "abcdef\r\nok\r\n" }, { { LINE_TOOLONG, NULL }, { LINE_OK, "ok" }, END }, 0 },
};

static void
test_line_table(void)
{
	struct line_reader lr;
	struct buf b;
	enum line_status st;
	char *line;
	size_t len, i, p, k;

	test_begin("line: table");
	for (i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];

		line_reader_init(&lr, c->max);
		buf_init(&b, 4096);
		k = 0;
		for (p = 0; c->parts[p] != NULL; p++) {
			/* '~' in a part stands for a NUL byte. */
			char raw[64];
			size_t n = strlen(c->parts[p]), j;

			for (j = 0; j < n && j < sizeof(raw); j++)
				raw[j] = c->parts[p][j] == '~' ? '\0' : c->parts[p][j];
			buf_compact(&b);
			test_assert_idx(buf_append(&b, raw, j) == 0, i);
			while ((st = line_next(&lr, &b, &line, &len)) != LINE_MORE) {
				test_assert_idx(k < NSTEPS && c->want[k].st == (int)st, i);
				if (st == LINE_OK && k < NSTEPS && c->want[k].line != NULL) {
					test_assert_idx(len == strlen(c->want[k].line), i);
					test_assert_idx(strcmp(line, c->want[k].line) == 0, i);
				}
				if (st != LINE_OK)
					test_assert_idx(line == NULL && len == 0, i);
				k++;
			}
		}
		test_assert_idx(k < NSTEPS && c->want[k].st == -1, i);
		test_assert_idx(buf_unread(&b) == c->left, i);
		buf_clear(&b);
	}
	test_end();
}

/* A never-ending line: memory stays bounded by the cap whatever the client sends. */
static void
test_line_flood(void)
{
	struct line_reader lr;
	struct buf b;
	char chunk[100], *line;
	size_t len, i;
	int toolong = 0, bounded = 1;
	enum line_status st;

	test_begin("line: flood without LF stays bounded");
	memset(chunk, 'A', sizeof(chunk));
	line_reader_init(&lr, 512);
	buf_init(&b, 512 + sizeof(chunk));
	for (i = 0; i < 1000; i++) {
		buf_compact(&b);
		if (buf_append(&b, chunk, sizeof(chunk)) == -1)
			bounded = 0;
		while ((st = line_next(&lr, &b, &line, &len)) != LINE_MORE)
			if (st == LINE_TOOLONG)
				toolong++;
		if (buf_unread(&b) >= 512)
			bounded = 0;
	}
	test_assert(bounded);
	test_assert(toolong == 1);	/* one report per overlong line */
	buf_compact(&b);
	test_assert(buf_append(&b, "\r\nQUIT\r\n", 8) == 0);
	test_assert(line_next(&lr, &b, &line, &len) == LINE_OK && strcmp(line, "QUIT") == 0);
	buf_clear(&b);
	test_end();
}

/* Split "MAIL FROM:<a@b>\r\n" at every byte: the same line whatever the split. */
static void
test_line_every_split(void)
{
	static const char in[] = "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n";
	struct line_reader lr;
	struct buf b;
	char *line;
	size_t len, split, n;
	int ok = 1;
	enum line_status st;

	test_begin("line: split at every byte");
	for (split = 0; split <= sizeof(in) - 1; split++) {
		int got = 0;

		line_reader_init(&lr, 64);
		buf_init(&b, 128);
		buf_append(&b, in, split);
		for (n = 0; n < 2; n++) {
			while ((st = line_next(&lr, &b, &line, &len)) != LINE_MORE) {
				if (st != LINE_OK)
					ok = 0;
				else if (strcmp(line, got == 0 ? "MAIL FROM:<a@b>" :
				    "RCPT TO:<c@d>") != 0)
					ok = 0;
				got++;
			}
			if (n == 0) {
				buf_compact(&b);
				buf_append(&b, in + split, sizeof(in) - 1 - split);
			}
		}
		if (got != 2)
			ok = 0;
		buf_clear(&b);
	}
	test_assert(ok);
	test_end();
}

int
main(void)
{
	test_line_table();
	test_line_flood();
	test_line_every_split();
	return test_exit();
}
