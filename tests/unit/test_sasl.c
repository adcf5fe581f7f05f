/*
 * test_sasl: lib/sasl.c — strict base64 (RFC 4648: the §10 vectors, padding required
 * and only at the end, non-zero pad bits, characters outside the alphabet, lengths,
 * output limits without writing past them), encoding round trips, PLAIN messages
 * (RFC 4616: authzid empty or equal to authcid, empty fields, NULs, overlength, and
 * nothing left behind on refusal) and LOGIN fields.
 */
#include <stdint.h>
#include <string.h>

#include "lib/sasl.h"
#include "tests/unit/t.h"

/* RFC 4648 §10. */
static const struct {
	const char	*plain;
	const char	*b64;
} vectors[] = {
	{ "", "" },
	{ "f", "Zg==" },
	{ "fo", "Zm8=" },
	{ "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" },
	{ "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
};

static long
dec(const char *in, unsigned char *out, size_t outsz)
{
	return sasl_b64_decode(in, strlen(in), out, outsz);
}

static void
test_b64_vectors(void)
{
	unsigned char out[64];
	char enc[64];
	size_t i, n;
	long r;

	test_begin("sasl: base64 RFC 4648 test vectors, both ways");
	for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		n = strlen(vectors[i].plain);
		r = dec(vectors[i].b64, out, sizeof(out));
		test_assert_idx(r == (long)n, i);
		test_assert_idx(r >= 0 && memcmp(out, vectors[i].plain, n) == 0, i);
		test_assert_idx(sasl_b64_encode((const unsigned char *)vectors[i].plain, n,
		    enc, sizeof(enc)) == strlen(vectors[i].b64), i);
		test_assert_str(enc, vectors[i].b64);
	}
	/* The LOGIN challenges are what they claim to be. */
	r = dec(SASL_LOGIN_USERNAME, out, sizeof(out));
	test_assert(r == 9 && memcmp(out, "Username:", 9) == 0);
	r = dec(SASL_LOGIN_PASSWORD, out, sizeof(out));
	test_assert(r == 9 && memcmp(out, "Password:", 9) == 0);
	test_end();
}

static void
test_b64_padding(void)
{
	static const char *const bad[] = {
		/* padding missing, too much of it */
		"Zg", "Zg=", "Zm8", "Zm9vYg", "Zm9vYg=", "Zg===", "Zm9v=", "Zm9v====",
		/* in the wrong place, not at the very end */
		"Z===", "====", "=Zg=", "Zm=v", "Zg==Zg==", "Zm8=Zm9v",
		/* lengths not a multiple of 4 */
		"Z", "Zm9vY", "Zm9vYmF", "=", "==",
	};
	unsigned char out[64];
	size_t i;

	test_begin("sasl: base64 padding is required, and only at the end");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(dec(bad[i], out, sizeof(out)) == -1, i);
	test_end();
}

static void
test_b64_canonical(void)
{
	static const char *const bad[] = {
		"Zh==", "Zn==", "Zv==", "ZB==",		/* "f" with pad bits set */
		"Zm9=", "Zm+=", "Zm/=", "Zm7=",		/* "fo" with pad bits set */
		"Zm9vYh==", "Zm9vYmF=",
	};
	static const char *const good[] = { "Zg==", "Zm8=", "AA==", "AAA=", "//8=", "/w==" };
	unsigned char out[64];
	size_t i;

	test_begin("sasl: base64 with non-zero trailing bits is refused (one encoding)");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(dec(bad[i], out, sizeof(out)) == -1, i);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		test_assert_idx(dec(good[i], out, sizeof(out)) > 0, i);
	test_end();
}

static void
test_b64_bad_chars(void)
{
	static const char *const bad[] = {
		/* all of a length that would otherwise do (a multiple of 4) */
		"Zm9 YmFy", "Zm\r\nYmFy", "Zm9v\tYmF", " Zm9", "Zm9 ", "Zm9v\nAA=",
		"Zm-_", "Zm9v.mFy", "Zm9v*mFy", "Zm9v\xc3\xa9YQ", "Zm9v\x80\x81\x82\x83",
		"Zm9v\x7f" "AAA", "****", "Zm9vYm:y", "Zm9vYm\\y",
	};
	static const char nul[] = "Zm\0v";
	unsigned char out[64];
	unsigned c;
	size_t i;
	char q[5];

	test_begin("sasl: base64 characters outside the alphabet are refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(dec(bad[i], out, sizeof(out)) == -1, i);
	test_assert(sasl_b64_decode(nul, 4, out, sizeof(out)) == -1);
	/* Every byte value in every position of a quantum: the alphabet and nothing else. */
	for (c = 0; c < 256; c++) {
		bool in = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/';

		for (i = 0; i < 4; i++) {
			memcpy(q, "AAAA", 5);
			q[i] = (char)c;
			test_assert_idx((sasl_b64_decode(q, 4, out, sizeof(out)) == 3) == in,
			    c * 4 + i);
		}
	}
	test_end();
}

static void
test_b64_lengths(void)
{
	unsigned char out[64];

	test_begin("sasl: base64 input length is what the caller says");
	test_assert(sasl_b64_decode("Zm9vYmFy", 4, out, sizeof(out)) == 3);
	test_assert(memcmp(out, "foo", 3) == 0);
	test_assert(sasl_b64_decode("Zm9vYmFy", 0, out, sizeof(out)) == 0);
	test_assert(sasl_b64_decode("Zm9vYmFy", 7, out, sizeof(out)) == -1);
	/* No terminator needed after inlen: a buffer exactly 4 long. */
	{
		char exact[4] = { 'Z', 'm', '9', 'v' };

		test_assert(sasl_b64_decode(exact, 4, out, sizeof(out)) == 3);
	}
	test_end();
}

static void
test_b64_output_limits(void)
{
	unsigned char out[16];
	size_t i;

	test_begin("sasl: base64 decoding never writes past outsz");
	memset(out, 0xee, sizeof(out));
	test_assert(dec("Zm9v", out, 3) == 3);
	test_assert(out[3] == 0xee);
	test_assert(dec("Zm9v", out, 2) == -1);
	test_assert(dec("Zm8=", out, 2) == 2);
	test_assert(dec("Zm8=", out, 1) == -1);
	test_assert(dec("Zg==", out, 1) == 1);
	test_assert(dec("Zg==", out, 0) == -1);
	test_assert(dec("", out, 0) == 0);
	memset(out, 0xee, sizeof(out));
	test_assert(dec("Zm9vYmFyYmF6", out, 8) == -1);	/* 9 bytes into 8 */
	for (i = 8; i < sizeof(out); i++)
		test_assert_idx(out[i] == 0xee, i);
	memset(out, 0xee, sizeof(out));
	test_assert(dec("Zm9vYmFyYg==", out, 6) == -1);	/* 7 bytes into 6 */
	for (i = 6; i < sizeof(out); i++)
		test_assert_idx(out[i] == 0xee, i);
	test_assert(dec("Zm9vYmFyYg==", out, 7) == 7);
	test_end();
}

static void
test_b64_roundtrip(void)
{
	unsigned char in[256], out[256];
	char enc[4 * 86 + 1];
	size_t n, i, len;

	test_begin("sasl: base64 encode/decode round trip, every length and byte value");
	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(i * 167 + 13);
	for (n = 0; n <= sizeof(in); n++) {
		len = sasl_b64_encode(in, n, enc, sizeof(enc));
		test_assert_idx(len == 4 * ((n + 2) / 3), n);
		test_assert_idx(strlen(enc) == len, n);
		test_assert_idx(sasl_b64_decode(enc, len, out, n) == (long)n, n);
		test_assert_idx(memcmp(in, out, n) == 0, n);
	}
	/* Exactly enough room, then one byte less: nothing but an empty string. */
	test_assert(sasl_b64_encode((const unsigned char *)"foob", 4, enc, 9) == 8);
	test_assert_str(enc, "Zm9vYg==");
	memset(enc, 'x', sizeof(enc));
	test_assert(sasl_b64_encode((const unsigned char *)"foob", 4, enc, 8) == 0);
	test_assert(enc[0] == '\0' && enc[1] == 'x');
	test_assert(sasl_b64_encode((const unsigned char *)"", 0, enc, 1) == 0);
	test_assert(enc[0] == '\0');
	enc[0] = 'x';
	test_assert(sasl_b64_encode((const unsigned char *)"f", 1, enc, 0) == 0);
	test_assert(enc[0] == 'x');	/* no room, not even for the NUL */
	test_end();
}

static void
test_mech(void)
{
	test_begin("sasl: mechanism names");
	test_assert(sasl_mech_parse("PLAIN") == SASL_PLAIN);
	test_assert(sasl_mech_parse("plain") == SASL_PLAIN);
	test_assert(sasl_mech_parse("Login") == SASL_LOGIN);
	test_assert(sasl_mech_parse("LOGIN") == SASL_LOGIN);
	test_assert(sasl_mech_parse("CRAM-MD5") == SASL_NONE);
	test_assert(sasl_mech_parse("PLAINX") == SASL_NONE);
	test_assert(sasl_mech_parse("PLAI") == SASL_NONE);
	test_assert(sasl_mech_parse("") == SASL_NONE);
	test_end();
}

/* Whether every byte of c is zero (nothing left of refused credentials). */
static bool
wiped(const struct sasl_creds *c)
{
	const unsigned char *p = (const unsigned char *)c;
	size_t i;

	for (i = 0; i < sizeof(*c); i++)
		if (p[i] != 0)
			return false;
	return true;
}

static bool
plain(const void *msg, size_t len, struct sasl_creds *c)
{
	memset(c, 0, sizeof(*c));
	return sasl_plain_parse(msg, len, c);
}

#define PLAIN(lit, c)	plain(lit, sizeof(lit) - 1, c)

static void
test_plain_ok(void)
{
	struct sasl_creds c;

	test_begin("sasl: PLAIN with an empty or equal authzid");
	test_assert(PLAIN("\0alice\0secret", &c));
	test_assert_str(c.user, "alice");
	test_assert_str(c.pass, "secret");
	test_assert(PLAIN("alice@example.test\0alice@example.test\0pw", &c));
	test_assert_str(c.user, "alice@example.test");
	test_assert_str(c.pass, "pw");
	/* Any octets but NUL: spaces, UTF-8, a password that looks like base64 padding. */
	test_assert(PLAIN("\0j\xc3\xb6rg\0 pass word =", &c));
	test_assert_str(c.user, "j\xc3\xb6rg");
	test_assert_str(c.pass, " pass word =");
	test_assert(PLAIN("\0u\0p", &c));
	test_assert_str(c.user, "u");
	test_assert_str(c.pass, "p");
	sasl_creds_wipe(&c);
	test_assert(wiped(&c));
	test_end();
}

static void
test_plain_refused(void)
{
	static const struct {
		const char	*msg;
		size_t		 len;
	} bad[] = {
#define B(lit)	{ lit, sizeof(lit) - 1 }
		B(""),
		B("alice"),
		B("\0alice"),			/* one NUL: no password field */
		B("alice\0secret"),
		B("\0\0secret"),		/* empty authcid */
		B("\0alice\0"),			/* empty password */
		B("\0\0"),
		B("bob\0alice\0secret"),	/* acting for someone else */
		B("Alice\0alice\0secret"),	/* not equal: case counts */
		B("alic\0alice\0secret"),
		B("alicex\0alice\0secret"),
		B("alice\0\0secret"),		/* authzid with an empty authcid */
		B("\0alice\0sec\0ret"),		/* NUL in the password */
		B("\0alice\0secret\0"),		/* trailing NUL */
		B("\0\0alice\0secret"),		/* an extra field */
		B("\0alice\0\0secret"),
#undef B
	};
	struct sasl_creds c;
	size_t i;

	test_begin("sasl: PLAIN refused: fields missing or empty, NULs, another authzid");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		test_assert_idx(!plain(bad[i].msg, bad[i].len, &c), i);
		/* Nothing of a refused message stays in c (the password above all). */
		test_assert_idx(strstr(c.pass, "sec") == NULL, i);
		test_assert_idx(strstr(c.pass, "ret") == NULL, i);
	}
	/* Refused after the fields were copied: the whole struct is wiped. */
	memset(&c, 'x', sizeof(c));
	test_assert(!sasl_plain_parse((const unsigned char *)"bob\0alice\0secret", 16, &c));
	test_assert(wiped(&c));
	test_end();
}

static void
test_plain_lengths(void)
{
	unsigned char msg[2 + SASL_USER_MAX + 1 + SASL_PASS_MAX + 1 + SASL_USER_MAX + 1];
	struct sasl_creds c;
	size_t n;

	test_begin("sasl: PLAIN field caps (SASL_USER_MAX, SASL_PASS_MAX)");
	/* Longest user and password: accepted, copied whole. */
	n = 0;
	msg[n++] = '\0';
	memset(msg + n, 'u', SASL_USER_MAX);
	n += SASL_USER_MAX;
	msg[n++] = '\0';
	memset(msg + n, 'p', SASL_PASS_MAX);
	n += SASL_PASS_MAX;
	test_assert(plain(msg, n, &c));
	test_assert(strlen(c.user) == SASL_USER_MAX && strlen(c.pass) == SASL_PASS_MAX);
	/* One more password octet: refused, and wiped (the user had been copied). */
	msg[n++] = 'p';
	memset(&c, 'x', sizeof(c));
	test_assert(!sasl_plain_parse(msg, n, &c));
	test_assert(wiped(&c));
	/* One more user octet. */
	n = 0;
	msg[n++] = '\0';
	memset(msg + n, 'u', SASL_USER_MAX + 1);
	n += SASL_USER_MAX + 1;
	msg[n++] = '\0';
	memcpy(msg + n, "secret", 6);
	n += 6;
	memset(&c, 'x', sizeof(c));
	test_assert(!sasl_plain_parse(msg, n, &c));
	test_assert(wiped(&c));
	/* An authzid equal to a longest user. */
	n = 0;
	memset(msg + n, 'u', SASL_USER_MAX);
	n += SASL_USER_MAX;
	msg[n++] = '\0';
	memset(msg + n, 'u', SASL_USER_MAX);
	n += SASL_USER_MAX;
	msg[n++] = '\0';
	memcpy(msg + n, "pw", 2);
	n += 2;
	test_assert(plain(msg, n, &c));
	test_assert(strlen(c.user) == SASL_USER_MAX);
	/* An overlong authzid can never equal the user. */
	n = 0;
	memset(msg + n, 'u', SASL_USER_MAX + 1);
	n += SASL_USER_MAX + 1;
	msg[n++] = '\0';
	memset(msg + n, 'u', SASL_USER_MAX);
	n += SASL_USER_MAX;
	msg[n++] = '\0';
	memcpy(msg + n, "pw", 2);
	n += 2;
	test_assert(!plain(msg, n, &c));
	test_end();
}

static void
test_plain_base64_line(void)
{
	unsigned char msg[SASL_LINE_MAX];
	char line[SASL_LINE_MAX + 1];
	unsigned char raw[1 + SASL_USER_MAX + 1 + SASL_PASS_MAX];
	struct sasl_creds c;
	long n;
	size_t len;

	test_begin("sasl: the longest PLAIN response fits SASL_LINE_MAX, both ways");
	raw[0] = '\0';
	memset(raw + 1, 'u', SASL_USER_MAX);
	raw[1 + SASL_USER_MAX] = '\0';
	memset(raw + 2 + SASL_USER_MAX, 'p', SASL_PASS_MAX);
	len = sasl_b64_encode(raw, sizeof(raw), line, sizeof(line));
	test_assert(len > 0 && len <= SASL_LINE_MAX);
	n = sasl_b64_decode(line, len, msg, sizeof(msg));
	test_assert(n == (long)sizeof(raw));
	test_assert(n > 0 && sasl_plain_parse(msg, (size_t)n, &c));
	/* What a client sends for "\0alice\0secret". */
	n = dec("AGFsaWNlAHNlY3JldA==", msg, sizeof(msg));
	test_assert(n == 13 && sasl_plain_parse(msg, (size_t)n, &c));
	test_assert_str(c.user, "alice");
	test_assert_str(c.pass, "secret");
	sasl_creds_wipe(&c);
	test_end();
}

static void
test_login_field(void)
{
	char out[16];
	size_t i;

	test_begin("sasl: LOGIN fields");
	test_assert(sasl_login_field("YWxpY2U=", out, sizeof(out)));
	test_assert_str(out, "alice");
	/* Exactly fits: 15 octets and the NUL. */
	test_assert(sasl_login_field("MDEyMzQ1Njc4OWFiY2Rl", out, sizeof(out)));
	test_assert_str(out, "0123456789abcde");
	/* Refused, and nothing of it left in out. */
	memset(out, 'x', sizeof(out));
	test_assert(!sasl_login_field("MDEyMzQ1Njc4OWFiY2RlZg==", out, sizeof(out)));
	for (i = 0; i < sizeof(out); i++)
		test_assert_idx(out[i] == '\0', i);
	memset(out, 'x', sizeof(out));
	test_assert(!sasl_login_field("", out, sizeof(out)));		/* empty */
	test_assert(out[0] == '\0');
	test_assert(!sasl_login_field("=", out, sizeof(out)));
	/* "*" (cancel) is the caller's to check first: here it is just bad base64. */
	test_assert(!sasl_login_field("*", out, sizeof(out)));
	test_assert(!sasl_login_field("YWxpY2U", out, sizeof(out)));	/* unpadded */
	test_assert(!sasl_login_field("YWxpY2V=", out, sizeof(out)));	/* pad bits */
	test_assert(!sasl_login_field("YWxp Y2U=", out, sizeof(out)));
	memset(out, 'x', sizeof(out));
	test_assert(!sasl_login_field("YQBi", out, sizeof(out)));	/* "a\0b" */
	for (i = 0; i < sizeof(out); i++)
		test_assert_idx(out[i] == '\0', i);
	test_assert(!sasl_login_field("AGFi", out, sizeof(out)));	/* "\0ab" */
	test_assert(!sasl_login_field("YWIA", out, sizeof(out)));	/* "ab\0" */
	test_assert(!sasl_login_field("YWxpY2U=", out, 0));
	test_assert(!sasl_login_field("YWxpY2U=", out, 5));		/* 5 + NUL > 5 */
	test_assert(sasl_login_field("YWxpY2U=", out, 6));
	test_assert_str(out, "alice");
	test_end();
}

int
main(void)
{
	test_b64_vectors();
	test_b64_padding();
	test_b64_canonical();
	test_b64_bad_chars();
	test_b64_lengths();
	test_b64_output_limits();
	test_b64_roundtrip();
	test_mech();
	test_plain_ok();
	test_plain_refused();
	test_plain_lengths();
	test_plain_base64_line();
	test_login_field();
	return test_exit();
}
