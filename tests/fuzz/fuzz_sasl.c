/*
 * fuzz_sasl: lib/sasl.c, the strict base64 and the PLAIN and LOGIN messages.
 *
 * The input is used whole, several ways:
 *   - as bytes: sasl_b64_encode gives 4 * ceil(n / 3) alphabet characters with at most
 *     two '=' at the end, and decodes back to the same bytes; one byte less room for
 *     either direction is refused (encode writes "" then);
 *   - as base64 text: when sasl_b64_decode accepts it, it is canonical (RFC 4648
 *     §3.5): the length fits n / 4 * 3 minus padding and re-encoding gives the very same
 *     text; the exact room is enough and one byte less is refused;
 *   - as a decoded PLAIN message: sasl_plain_parse is checked against a reference
 *     split at the NULs (three fields, authcid and passwd not empty and within their
 *     caps, authzid empty or equal to authcid); on success the fields are the bytes
 *     between the NULs, on failure the credentials are untouched or all zero (never a
 *     half-copied password);
 *   - as a LOGIN line (cut at the first NUL, as a line would be): sasl_login_field
 *     agrees with decode (non-empty, no NUL, fits), leaves a NUL-terminated value, and
 *     zeroes the whole output on failure; also with a tiny output buffer;
 *   - sasl_mech_parse on it is PLAIN or LOGIN exactly for those names in any case;
 *   - the session's path: the input base64-encoded, decoded, then parsed as PLAIN,
 *     gives the same answer as parsing the input directly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tests/fuzz/fuzz.h"
#include "lib/sasl.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
check_encode(const uint8_t *data, size_t size)
{
	size_t elen = 4 * ((size + 2) / 3), k, npad = 0;
	char *enc;
	unsigned char *dec;
	long n;

	if ((enc = malloc(elen + 1)) == NULL || (dec = malloc(size + 1)) == NULL)
		abort();
	/* One byte short: refused, and an empty string left behind. */
	enc[0] = 'x';
	if (sasl_b64_encode(data, size, enc, elen) != 0 || (elen > 0 && enc[0] != '\0'))
		abort();
	if (sasl_b64_encode(data, size, enc, elen + 1) != elen || enc[elen] != '\0')
		abort();
	for (k = 0; k < elen; k++) {
		if (enc[k] == '=') {
			npad++;
			continue;
		}
		if (npad > 0 || strchr(alphabet, enc[k]) == NULL)
			abort();	/* '=' only at the end */
	}
	if (npad != (3 - size % 3) % 3)
		abort();
	n = sasl_b64_decode(enc, elen, dec, size);
	if (n != (long)size || (size > 0 && memcmp(dec, data, size) != 0))
		abort();
	if (size > 0 && sasl_b64_decode(enc, elen, dec, size - 1) != -1)
		abort();
	free(enc);
	free(dec);
}

static void
check_decode(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	unsigned char *dec;
	char *enc;
	long n;
	size_t pad = 0;

	/* Room for anything: size / 4 * 3 is the most four-character groups can hold. */
	if ((dec = malloc(size / 4 * 3 + 1)) == NULL)
		abort();
	n = sasl_b64_decode(text, size, dec, size / 4 * 3 + 1);
	if (n < 0) {
		free(dec);
		return;
	}
	if (size % 4 != 0)
		abort();
	if (size >= 1 && text[size - 1] == '=')
		pad++;
	if (size >= 2 && text[size - 2] == '=')
		pad++;
	if ((size_t)n != size / 4 * 3 - pad)
		abort();
	if ((enc = malloc(size + 1)) == NULL)
		abort();
	/* Canonical: exactly one encoding per value, so it comes back letter for letter. */
	if (sasl_b64_encode(dec, (size_t)n, enc, size + 1) != size ||
	    memcmp(enc, text, size) != 0)
		abort();
	if (sasl_b64_decode(text, size, dec, (size_t)n) != n)
		abort();
	if (n > 0 && sasl_b64_decode(text, size, dec, (size_t)n - 1) != -1)
		abort();
	free(enc);
	free(dec);
}

/* What sasl_plain_parse should say about msg: 1 and the field bounds, or 0. */
static int
plain_reference(const uint8_t *msg, size_t len, size_t *u, size_t *ulen, size_t *p,
    size_t *plen)
{
	const uint8_t *n1, *n2;
	size_t zlen;

	if ((n1 = memchr(msg, '\0', len)) == NULL)
		return 0;
	zlen = (size_t)(n1 - msg);
	if ((n2 = memchr(n1 + 1, '\0', len - zlen - 1)) == NULL)
		return 0;
	*u = zlen + 1;
	*ulen = (size_t)(n2 - n1 - 1);
	*p = *u + *ulen + 1;
	*plen = len - *p;
	if (memchr(msg + *p, '\0', *plen) != NULL || *ulen == 0 || *plen == 0 ||
	    *ulen > SASL_USER_MAX || *plen > SASL_PASS_MAX)
		return 0;
	if (zlen != 0 && (zlen != *ulen || memcmp(msg, msg + *u, zlen) != 0))
		return 0;
	return 1;
}

static int
all_bytes(const void *p, size_t n, unsigned char c)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != c)
			return 0;
	return 1;
}

static int
check_plain(const uint8_t *msg, size_t len)
{
	struct sasl_creds c;
	size_t u = 0, ulen = 0, p = 0, plen = 0;
	int ok, want;

	memset(&c, 0xa5, sizeof(c));
	ok = sasl_plain_parse(msg, len, &c);
	want = plain_reference(msg, len, &u, &ulen, &p, &plen);
	if (ok != want)
		abort();
	if (ok) {
		if (strlen(c.user) != ulen || memcmp(c.user, msg + u, ulen) != 0 ||
		    strlen(c.pass) != plen || memcmp(c.pass, msg + p, plen) != 0)
			abort();
	} else if (!all_bytes(&c, sizeof(c), 0xa5) && !all_bytes(&c, sizeof(c), 0))
		abort();	/* a field left half-copied */
	sasl_creds_wipe(&c);
	if (!all_bytes(&c, sizeof(c), 0))
		abort();
	return ok;
}

/* line: a NUL-terminated string (the session's line, CRLF removed). */
static void
check_login(const char *line, size_t outsz)
{
	unsigned char dec[SASL_LINE_MAX + 8];
	char *out;
	size_t len = strlen(line);
	long n;
	bool ok;

	if ((out = malloc(outsz)) == NULL)
		abort();
	memset(out, 0xa5, outsz);
	ok = sasl_login_field(line, out, outsz);
	n = len / 4 * 3 <= sizeof(dec) ? sasl_b64_decode(line, len, dec, sizeof(dec)) : -1;
	if (len / 4 * 3 > sizeof(dec)) {
		/* Too long to decode here; only the form of the answer is checked. */
		if (ok && (strlen(out) == 0 || strlen(out) >= outsz))
			abort();
	} else if (ok != (n > 0 && (size_t)n < outsz && memchr(dec, '\0', (size_t)n) == NULL))
		abort();
	if (ok && n > 0 && (strlen(out) != (size_t)n || memcmp(out, dec, (size_t)n) != 0))
		abort();
	if (!ok && !all_bytes(out, outsz, 0))
		abort();	/* a failed field leaves nothing of itself */
	free(out);
}

static void
check_mech(const char *s)
{
	enum sasl_mech m = sasl_mech_parse(s);

	if (m != (strcasecmp(s, "PLAIN") == 0 ? SASL_PLAIN :
	    strcasecmp(s, "LOGIN") == 0 ? SASL_LOGIN : SASL_NONE))
		abort();
}

/* As cmd_auth does it: base64 text -> decoded message -> PLAIN. */
static void
check_plain_roundtrip(const uint8_t *data, size_t size, int direct)
{
	unsigned char msg[SASL_LINE_MAX];
	char b64[SASL_LINE_MAX * 4 / 3 + 8];
	struct sasl_creds c;
	long n;

	if (size > SASL_LINE_MAX)
		return;
	sasl_b64_encode(data, size, b64, sizeof(b64));
	n = sasl_b64_decode(b64, strlen(b64), msg, sizeof(msg));
	if (n != (long)size)
		abort();
	if (sasl_plain_parse(msg, (size_t)n, &c) != direct)
		abort();
	sasl_creds_wipe(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *str;
	int ok;

	check_encode(data, size);
	check_decode(data, size);
	ok = check_plain(data, size);
	check_plain_roundtrip(data, size, ok);

	/* The text up to the first NUL, as a command line carries it. */
	if ((str = malloc(size + 1)) == NULL)
		abort();
	if (size > 0)
		memcpy(str, data, size);
	str[size] = '\0';
	check_login(str, SASL_USER_MAX + 1);
	check_login(str, SASL_PASS_MAX + 1);
	check_login(str, size > 0 ? 1 + data[0] % 8 : 1);
	check_mech(str);
	free(str);
	return 0;
}
