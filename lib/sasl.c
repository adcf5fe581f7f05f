/*
 * sasl: PLAIN and LOGIN message parsing and strict base64 (see sasl.h).
 */
#include <string.h>
#include <strings.h>
#include <sodium.h>

#include "lib/sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum sasl_mech
sasl_mech_parse(const char *name)
{
	if (strcasecmp(name, "PLAIN") == 0)
		return SASL_PLAIN;
	if (strcasecmp(name, "LOGIN") == 0)
		return SASL_LOGIN;
	return SASL_NONE;
}

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/*
 * RFC 4648 §3.3 and §3.5: anything outside the alphabet is an error, padding is
 * required, and the bits that padding leaves over must be zero, so every value has
 * exactly one encoding.
 */
long
sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsz)
{
	size_t i, o = 0;
	int v[4], pad, k;

	if (inlen % 4 != 0)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		pad = 0;
		for (k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == inlen && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0 || (v[k] = b64_value((unsigned char)in[i + k])) < 0)
				return -1;
		}
		if ((pad == 2 && (v[1] & 0x0f)) || (pad == 1 && (v[2] & 0x03)))
			return -1;
		if (o + 3 - (size_t)pad > outsz)
			return -1;
		out[o++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[o++] = (unsigned char)((v[1] & 0x0f) << 4 | v[2] >> 2);
		if (pad < 1)
			out[o++] = (unsigned char)((v[2] & 0x03) << 6 | v[3]);
	}
	return (long)o;
}

size_t
sasl_b64_encode(const unsigned char *in, size_t n, char *out, size_t outsz)
{
	size_t i, o = 0;
	unsigned long w;

	if (outsz < 4 * ((n + 2) / 3) + 1) {
		if (outsz > 0)
			out[0] = '\0';
		return 0;
	}
	for (i = 0; i < n; i += 3) {
		w = (unsigned long)in[i] << 16;
		if (i + 1 < n)
			w |= (unsigned long)in[i + 1] << 8;
		if (i + 2 < n)
			w |= in[i + 2];
		out[o++] = b64_alphabet[w >> 18 & 63];
		out[o++] = b64_alphabet[w >> 12 & 63];
		out[o++] = i + 1 < n ? b64_alphabet[w >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64_alphabet[w & 63] : '=';
	}
	out[o] = '\0';
	return o;
}

/* Copy the field [p, p + n) into out (cap bytes + NUL). false if too long. */
static bool
plain_field(const unsigned char *p, size_t n, char *out, size_t cap)
{
	if (n > cap)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

bool
sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_creds *c)
{
	const unsigned char *nul1, *nul2, *end = msg + len;
	size_t zlen, ulen, plen;

	/* RFC 4616 §2: message = [authzid] UTF8NUL authcid UTF8NUL passwd */
	if ((nul1 = memchr(msg, '\0', len)) == NULL)
		return false;
	if ((nul2 = memchr(nul1 + 1, '\0', (size_t)(end - nul1 - 1))) == NULL)
		return false;
	zlen = (size_t)(nul1 - msg);
	ulen = (size_t)(nul2 - nul1 - 1);
	plen = (size_t)(end - nul2 - 1);
	if (memchr(nul2 + 1, '\0', plen) != NULL || ulen == 0 || plen == 0)
		return false;
	if (!plain_field(nul1 + 1, ulen, c->user, SASL_USER_MAX) ||
	    !plain_field(nul2 + 1, plen, c->pass, SASL_PASS_MAX)) {
		sasl_creds_wipe(c);
		return false;
	}
	if (zlen != 0 && (zlen != ulen || memcmp(msg, c->user, ulen) != 0)) {
		sasl_creds_wipe(c);
		return false;
	}
	return true;
}

bool
sasl_login_field(const char *line, char *out, size_t outsz)
{
	long n;

	if (outsz == 0)
		return false;
	n = sasl_b64_decode(line, strlen(line), (unsigned char *)out, outsz - 1);
	if (n <= 0 || memchr(out, '\0', (size_t)n) != NULL) {
		sodium_memzero(out, outsz);
		return false;
	}
	out[n] = '\0';
	return true;
}

void
sasl_creds_wipe(struct sasl_creds *c)
{
	sodium_memzero(c, sizeof(*c));
}

void
sasl_exchange_end(struct sasl_exchange *x)
{
	x->step = SASL_STEP_NONE;
	sasl_creds_wipe(&x->creds);
}

/* A base64 PLAIN message, initial or answered. */
static enum sasl_result
sasl_plain_response(struct sasl_exchange *x, const char *b64)
{
	unsigned char msg[SASL_LINE_MAX];
	long n = sasl_b64_decode(b64, strlen(b64), msg, sizeof(msg));
	bool ok = n >= 0 && sasl_plain_parse(msg, (size_t)n, &x->creds);

	sodium_memzero(msg, sizeof(msg));
	x->step = SASL_STEP_NONE;
	if (ok)
		return SASL_R_DONE;
	sasl_creds_wipe(&x->creds);
	/* Malformed, or asks to act as someone else: a failed login (RFC 4616 §2). */
	return n < 0 ? SASL_R_BAD_B64 : SASL_R_FAILED;
}

/* One LOGIN field into out; the next challenge, or the end. */
static enum sasl_result
sasl_login_response(struct sasl_exchange *x, const char *b64, char *out, size_t outsz,
    enum sasl_step next, const char **challenge)
{
	if (!sasl_login_field(b64, out, outsz)) {
		sasl_exchange_end(x);
		return SASL_R_BAD_B64;
	}
	x->step = next;
	if (next == SASL_STEP_NONE)
		return SASL_R_DONE;
	*challenge = SASL_LOGIN_PASSWORD;
	return SASL_R_CHALLENGE;
}

enum sasl_result
sasl_begin(struct sasl_exchange *x, const char *mech, const char *initial,
    const char **challenge)
{
	sasl_exchange_end(x);
	switch (sasl_mech_parse(mech)) {
	case SASL_PLAIN:
		x->mech = "PLAIN";
		break;
	case SASL_LOGIN:
		x->mech = "LOGIN";
		break;
	default:
		return SASL_R_BAD_MECH;
	}
	if (initial != NULL && strcmp(initial, "=") == 0)
		initial = "";
	if (x->mech[0] == 'P') {
		if (initial != NULL)
			return sasl_plain_response(x, initial);
		x->step = SASL_STEP_PLAIN;
		*challenge = "";
		return SASL_R_CHALLENGE;
	}
	if (initial != NULL)
		return sasl_login_response(x, initial, x->creds.user, sizeof(x->creds.user),
		    SASL_STEP_LOGIN_PASS, challenge);
	x->step = SASL_STEP_LOGIN_USER;
	*challenge = SASL_LOGIN_USERNAME;
	return SASL_R_CHALLENGE;
}

enum sasl_result
sasl_continue(struct sasl_exchange *x, const char *line, const char **challenge)
{
	if (strcmp(line, "*") == 0) {
		sasl_exchange_end(x);
		return SASL_R_CANCELLED;
	}
	switch (x->step) {
	case SASL_STEP_PLAIN:
		return sasl_plain_response(x, line);
	case SASL_STEP_LOGIN_USER:
		return sasl_login_response(x, line, x->creds.user, sizeof(x->creds.user),
		    SASL_STEP_LOGIN_PASS, challenge);
	case SASL_STEP_LOGIN_PASS:
		return sasl_login_response(x, line, x->creds.pass, sizeof(x->creds.pass),
		    SASL_STEP_NONE, challenge);
	case SASL_STEP_NONE:
		break;
	}
	return SASL_R_FAILED;
}
