/*
 * test_xml: lib/xml.c — the five markup characters and tab/LF/CR become references,
 * everything else XML 1.0 allows is copied as it is (UTF-8 of every length, U+007F,
 * the last code point), and what XML 1.0 has no place for is refused (C0 controls,
 * bytes that are not UTF-8, overlong forms, surrogates, U+FFFE/U+FFFF, past
 * U+10FFFF); output limits are exact and nothing is written past them.
 */
#include <string.h>

#include "lib/xml.h"
#include "tests/unit/t.h"

static const struct {
	const char	*in;
	const char	*out;
} good[] = {
	{ "", "" },
	{ "mail.example.org", "mail.example.org" },
	{ "a&b", "a&amp;b" },
	{ "<tag>", "&lt;tag&gt;" },
	{ "o'brien&co@example.org", "o&apos;brien&amp;co@example.org" },
	{ "say \"hi\"", "say &quot;hi&quot;" },
	{ "]]>", "]]&gt;" },				/* the CDATA end in text */
	{ "&amp;", "&amp;amp;" },			/* escaped again, not kept */
	{ "a\tb\nc\rd", "a&#9;b&#10;c&#13;d" },		/* kept in attribute values */
	{ "%EMAILADDRESS%", "%EMAILADDRESS%" },
	{ "\x7f", "\x7f" },				/* DEL is a Char in XML 1.0 */
	{ "Gr\xc3\xbc\xc3\x9f" "e", "Gr\xc3\xbc\xc3\x9f" "e" },	/* 2 octets */
	{ "\xe2\x9c\x93", "\xe2\x9c\x93" },		/* U+2713, 3 octets */
	{ "\xef\xbf\xbd", "\xef\xbf\xbd" },		/* U+FFFD, the last below U+FFFE */
	{ "\xee\x80\x80", "\xee\x80\x80" },		/* U+E000, just past the surrogates */
	{ "\xf0\x9f\x93\xab", "\xf0\x9f\x93\xab" },	/* U+1F4EB, 4 octets */
	{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" },	/* U+10FFFF */
};

static const char *bad[] = {
	"\x01",
	"a\x08" "b",
	"\x1b[0m",
	"\x1f",
	"\x80",				/* a continuation byte alone */
	"\xc3",				/* a sequence cut by the end */
	"\xc3(",			/* ... or by an ASCII byte */
	"\xe2\x9c",
	"\xc0\xaf",			/* overlong "/" */
	"\xc1\xbf",
	"\xe0\x80\xaf",			/* overlong, 3 octets */
	"\xf0\x80\x80\xaf",		/* overlong, 4 octets */
	"\xed\xa0\x80",			/* U+D800, a surrogate */
	"\xed\xbf\xbf",			/* U+DFFF */
	"\xef\xbf\xbe",			/* U+FFFE */
	"\xef\xbf\xbf",			/* U+FFFF */
	"\xf4\x90\x80\x80",		/* U+110000 */
	"\xf5\x80\x80\x80",
	"\xff",
	"ok then \x02",			/* refused wherever it is */
};

static void
test_good(void)
{
	char out[128];
	size_t i;

	test_begin("xml: escaped and copied");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(out, 'X', sizeof(out));
		test_assert_idx(xml_escape(out, sizeof(out), good[i].in) ==
		    (int)strlen(good[i].out), i);
		test_assert_idx(strcmp(out, good[i].out) == 0, i);
	}
	test_end();
}

static void
test_bad(void)
{
	char out[64];
	size_t i;

	test_begin("xml: not XML 1.0 characters refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(xml_escape(out, sizeof(out), bad[i]) == -1, i);
	test_end();
}

static void
test_limits(void)
{
	char out[16];

	test_begin("xml: output limits");
	/* "a&amp;b" is 7 octets: fits in 8 with the NUL, not in 7. */
	memset(out, 'X', sizeof(out));
	test_assert(xml_escape(out, 8, "a&b") == 7);
	test_assert_str(out, "a&amp;b");
	memset(out, 'X', sizeof(out));
	test_assert(xml_escape(out, 7, "a&b") == -1);
	test_assert(out[7] == 'X');		/* nothing past the limit */
	/* An entity that does not fit is not cut in half. */
	memset(out, 'X', sizeof(out));
	test_assert(xml_escape(out, 5, "a&b") == -1);
	test_assert(out[5] == 'X');
	/* A multi-octet character is copied whole or not at all. */
	memset(out, 'X', sizeof(out));
	test_assert(xml_escape(out, 4, "a\xe2\x9c\x93") == -1);
	test_assert(out[4] == 'X');
	test_assert(xml_escape(out, 5, "a\xe2\x9c\x93") == 4);
	test_assert(xml_escape(out, 1, "") == 0 && out[0] == '\0');
	test_assert(xml_escape(out, 1, "a") == -1);
	test_assert(xml_escape(out, 0, "") == -1);
	test_end();
}

int
main(void)
{
	test_good();
	test_bad();
	test_limits();
	return test_exit();
}
