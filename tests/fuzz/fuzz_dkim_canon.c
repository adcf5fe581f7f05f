/*
 * fuzz_dkim_canon: dkim/canon.c (the header section split into fields, relaxed header
 * and body canonicalization) and dkim/sign.c's use of them.
 *
 * Input: byte 0 seeds the chunk sizes, the rest is a message. Checked:
 *   - dkim_header_end agrees with a plain search (a leading CRLF, else the first CRLF
 *     CRLF), also when the bytes arrive in chunks and each search starts at the seam;
 *   - the fields from dkim_field_len tile the header section exactly, each non-empty
 *     and ending where a CRLF is not followed by WSP (or at the end);
 *   - each field's dkim_canon_header against a reference that unfolds first (every
 *     CRLF out), then takes the name (ftext, WSP, ':') and squeezes the value; the
 *     output fits len + 2, ends in CRLF, and dkim_field_name agrees;
 *   - the body canonicalizer, fed in chunks of 0..CHUNK_MAX bytes and at once, against
 *     a reference over whole lines (split at CRLF: trailing WSP out, WSP runs to one
 *     SP, a non-empty last line gets a CRLF, trailing empty lines out), both for the
 *     whole input as a body and for the message's body;
 *   - dkim_sign_fd (inputs up to 64 KiB, from a memfd at an offset, a fixed ed25519
 *     key): NULL exactly when no field is named From or there are over
 *     DKIM_FIELDS_MAX fields; otherwise one field, every line CRLF-terminated and
 *     under 78 columns, bh= the reference body hash, h= the reference list, and b= a
 *     signature that libsodium verifies over the reference header hash.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "tests/fuzz/fuzz.h"
#include "dkim/canon.h"
#include "dkim/dkim.h"

#define CHUNK_MAX	67
#define SIGN_MAX	(64 * 1024)
#define OFFSET		5		/* the message starts here in the memfd */

static void
out_emit(void *arg, const unsigned char *p, size_t n)
{
	if (n == 0 || n > DKIM_BODY_OUT)
		abort();
	fuzz_out_add(arg, p, n);
}

static bool
wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static unsigned
next_seed(unsigned *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return *seed >> 16;
}

/* ---- header ---- */

static long
ref_header_end(const uint8_t *s, size_t len)
{
	size_t i;

	if (len >= 2 && s[0] == '\r' && s[1] == '\n')
		return 2;
	for (i = 0; i + 4 <= len; i++)
		if (memcmp(s + i, "\r\n\r\n", 4) == 0)
			return (long)(i + 4);
	return -1;
}

/* The relaxed field by the book: unfold, then name, colon, squeezed value, CRLF. */
static bool
ref_canon_header(const uint8_t *f, size_t len, struct fuzz_out *o)
{
	unsigned char *u = malloc(len + 1);
	size_t n = 0, i, k;
	bool pending = false, started = false;
	unsigned char c;

	if (u == NULL)
		abort();
	for (i = 0; i < len; i++) {
		if (f[i] == '\r' && i + 1 < len && f[i + 1] == '\n') {
			i++;
			continue;
		}
		u[n++] = f[i];
	}
	for (i = 0; i < n && u[i] >= 0x21 && u[i] <= 0x7e && u[i] != ':'; i++)
		;
	for (k = i; k < n && wsp(u[k]); k++)
		;
	if (i == 0 || k >= n || u[k] != ':') {
		free(u);
		return false;
	}
	for (k = 0; k < i; k++) {
		c = u[k] >= 'A' && u[k] <= 'Z' ? (unsigned char)(u[k] + 32) : u[k];
		fuzz_out_add(o, &c, 1);
	}
	fuzz_out_add(o, ":", 1);
	for (k = i; u[k] != ':'; k++)
		;
	for (k++; k < n; k++) {
		if (wsp(u[k])) {
			pending = started;
			continue;
		}
		if (pending)
			fuzz_out_add(o, " ", 1);
		pending = false;
		started = true;
		fuzz_out_add(o, &u[k], 1);
	}
	fuzz_out_add(o, "\r\n", 2);
	free(u);
	return true;
}

/* ---- body ---- */

/* The relaxed body by the book, whole lines at a time. */
static void
ref_body(const uint8_t *s, size_t len, struct fuzz_out *o)
{
	struct fuzz_out line = { NULL, 0, 0 };
	size_t i = 0, j, end, blank = 0, k;
	bool last, sp;
	unsigned char c;

	while (i < len) {
		for (j = i; j + 1 < len && !(s[j] == '\r' && s[j + 1] == '\n'); j++)
			;
		last = j + 1 >= len;
		end = last ? len : j;
		/* Each WSP run one SP (a leading one too), none at the end. */
		line.len = 0;
		for (k = i, sp = false; k < end; k++) {
			c = s[k];
			if (wsp(c)) {
				sp = true;
				continue;
			}
			if (sp)
				fuzz_out_add(&line, " ", 1);
			sp = false;
			fuzz_out_add(&line, &c, 1);
		}
		if (line.len == 0)
			blank++;
		else {
			for (; blank > 0; blank--)
				fuzz_out_add(o, "\r\n", 2);
			fuzz_out_add(o, line.p, line.len);
			fuzz_out_add(o, "\r\n", 2);
		}
		i = last ? len : j + 2;
	}
	free(line.p);
}

static void
canon_body(const uint8_t *s, size_t len, unsigned seed, bool chunked, struct fuzz_out *o)
{
	struct dkim_body b;
	size_t pos = 0, n;

	dkim_body_init(&b, out_emit, o);
	do {
		n = len - pos;
		if (chunked) {
			n = next_seed(&seed) % (CHUNK_MAX + 1);
			if (n > len - pos)
				n = len - pos;
		}
		dkim_body_feed(&b, s + pos, n);
		pos += n;
	} while (pos < len);
	dkim_body_end(&b);
	if (b.out_total != o->len)
		abort();
}

static void
check_body(const uint8_t *s, size_t len, unsigned seed, struct fuzz_out *ref)
{
	struct fuzz_out a = { NULL, 0, 0 }, c = { NULL, 0, 0 };

	ref_body(s, len, ref);
	canon_body(s, len, seed, false, &a);
	canon_body(s, len, seed, true, &c);
	if (a.len != ref->len || c.len != ref->len ||
	    (ref->len > 0 && (memcmp(a.p, ref->p, ref->len) != 0 ||
	    memcmp(c.p, ref->p, ref->len) != 0)))
		abort();
	free(a.p);
	free(c.p);
}

/* ---- signing ---- */

static const char *const sign_names[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding",
};
#define NSIGN	(sizeof(sign_names) / sizeof(sign_names[0]))

struct field {
	const uint8_t	*p;
	size_t		 len;
	int		 name;		/* sign_names index, -1 */
};

static struct dkim_signer signer;
static unsigned char signer_pk[crypto_sign_PUBLICKEYBYTES];
static int memfd = -1;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	(void)argc;
	(void)argv;
	if (sodium_init() < 0 || (memfd = memfd_create("fuzz_dkim", MFD_CLOEXEC)) == -1)
		abort();
	memset(seed, 7, sizeof(seed));
	crypto_sign_seed_keypair(signer_pk, signer.ed_sk, seed);
	signer.has_ed = true;
	snprintf(signer.domain, sizeof(signer.domain), "example.test");
	snprintf(signer.selector, sizeof(signer.selector), "fz");
	return 0;
}

/* The value of tag t in the unfolded field s, without WSP, into a fresh string. */
static char *
tag_value(const char *s, const char *t)
{
	char pat[8], *v;
	const char *p;
	size_t o = 0;

	snprintf(pat, sizeof(pat), " %s=", t);
	if ((p = strstr(s, pat)) == NULL || (v = malloc(strlen(s) + 1)) == NULL)
		abort();
	for (p += strlen(pat); *p != ';' && *p != '\0'; p++)
		if (!wsp((unsigned char)*p))
			v[o++] = *p;
	v[o] = '\0';
	return v;
}

/* Append the relaxed form of f[0..len) to o (less drop octets at its end). */
static void
add_canon(struct fuzz_out *o, const void *f, size_t len, size_t drop)
{
	char *c = malloc(len + 3);
	size_t n;

	if (c == NULL || (n = dkim_canon_header(f, len, c, len + 3)) < 2 || drop > n)
		abort();
	fuzz_out_add(o, c, n - drop);
	free(c);
}

static void
check_sign(const uint8_t *msg, size_t len, const struct field *fields, size_t nfields,
    const struct fuzz_out *body)
{
	unsigned char bh[32], hh[32], sig[96];
	char want_bh[45], *s, *un, *bpos, *v;
	struct fuzz_out hd = { NULL, 0, 0 }, h = { NULL, 0, 0 };
	size_t i, k, col, o;
	unsigned count[NSIGN], j;
	long f;
	unsigned int mdlen;

	if (len > SIGN_MAX)
		return;
	if (ftruncate(memfd, 0) == -1 || pwrite(memfd, "XXXXX", OFFSET, 0) != OFFSET ||
	    (len > 0 && pwrite(memfd, msg, len, OFFSET) != (ssize_t)len))
		abort();
	s = dkim_sign_fd(&signer, memfd, OFFSET, 1700000000);
	memset(count, 0, sizeof(count));
	for (i = 0; i < nfields; i++)
		if (fields[i].name >= 0)
			count[fields[i].name]++;
	if (count[0] == 0 || nfields > DKIM_FIELDS_MAX) {
		if (s != NULL)
			abort();
		return;
	}
	if (s == NULL)
		abort();
	/* Shape: one field of CRLF lines under 78 columns (a tab counted as 8). */
	if (strncmp(s, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;", 57) != 0)
		abort();
	for (i = 0, col = 0; s[i] != '\0'; i++) {
		if (s[i] == '\r') {
			if (s[i + 1] != '\n' || (s[i + 2] != '\t' && s[i + 2] != '\0'))
				abort();
			col = 0;
			i++;
			continue;
		}
		if (s[i] == '\n')
			abort();
		col += s[i] == '\t' ? 8 : 1;
		if (col >= 78)
			abort();
	}
	if (i < 2 || s[i - 1] != '\n' || col != 0)
		abort();
	/* Unfolded, for the tags. */
	if ((un = malloc(i + 1)) == NULL)
		abort();
	for (k = 0, o = 0; k < i; k++)
		if (s[k] != '\r' && s[k] != '\n')
			un[o++] = s[k] == '\t' ? ' ' : s[k];
	un[o] = '\0';

	/* bh=: the reference body's hash. */
	if (EVP_Digest(body->len > 0 ? body->p : "", body->len, bh,
	    &mdlen, EVP_sha256(), NULL) != 1)
		abort();
	EVP_EncodeBlock((unsigned char *)want_bh, bh, 32);
	v = tag_value(un, "bh");
	if (strcmp(v, want_bh) != 0)
		abort();
	free(v);

	/* h=: each name once per instance in sign_names order, From once more. */
	for (k = 0; k < NSIGN; k++)
		for (j = 0; j < count[k] + (k == 0); j++) {
			if (h.len > 0)
				fuzz_out_add(&h, ":", 1);
			fuzz_out_add(&h, sign_names[k], strlen(sign_names[k]));
		}
	fuzz_out_add(&h, "", 1);
	v = tag_value(un, "h");
	if (strcmp(v, (char *)h.p) != 0)
		abort();
	free(v);

	/* b=: verifies over the fields (bottom-up per name), then this field, b= empty. */
	for (k = 0; k < NSIGN; k++)
		for (f = (long)nfields - 1; f >= 0; f--)
			if (fields[f].name == (int)k)
				add_canon(&hd, fields[f].p, fields[f].len, 0);
	if ((bpos = strstr(s, "\r\n\tb=")) == NULL || strchr(bpos, ';') != NULL)
		abort();
	add_canon(&hd, s, (size_t)(bpos - s) + 5, 2);
	v = tag_value(un, "b");
	if (strlen(v) != 88 || EVP_DecodeBlock(sig, (unsigned char *)v, 88) != 66)
		abort();
	free(v);
	if (EVP_Digest(hd.p, hd.len, hh, &mdlen, EVP_sha256(), NULL) != 1 ||
	    crypto_sign_verify_detached(sig, hh, sizeof(hh), signer_pk) != 0)
		abort();
	free(h.p);
	free(hd.p);
	free(un);
	free(s);
}

/* ---- the input ---- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_out ref = { NULL, 0, 0 }, fc = { NULL, 0, 0 }, bref = { NULL, 0, 0 };
	struct field *fields = NULL;
	char name[DKIM_NAME_MAX], *canon;
	const uint8_t *msg;
	size_t len, pos, fend, flen, n, nfields = 0, prev, namelen;
	unsigned seed;
	long hend, e = -1;
	bool named;
	int k;

	if (size < 1)
		return 0;
	seed = data[0];
	msg = data + 1;
	len = size - 1;

	/* The whole input as a body. */
	check_body(msg, len, seed, &ref);
	free(ref.p);

	/* Where the header ends, searched at once and as the bytes arrive. */
	hend = ref_header_end(msg, len);
	if (dkim_header_end((const char *)msg, len, 0) != hend)
		abort();
	for (prev = 0, pos = 0; pos < len && e < 0; prev = pos) {
		pos += 1 + next_seed(&seed) % CHUNK_MAX;
		if (pos > len)
			pos = len;
		e = dkim_header_end((const char *)msg, pos, prev);
	}
	if (e != hend)
		abort();

	/* The fields tile the header section. */
	fend = hend >= 0 ? (size_t)hend - 2 : len;
	if ((fields = calloc(fend + 1, sizeof(*fields))) == NULL)
		abort();
	for (pos = 0; pos < fend; pos += flen) {
		flen = dkim_field_len((const char *)msg + pos, fend - pos);
		if (flen == 0 || flen > fend - pos)
			abort();
		/* It ends at a CRLF not followed by WSP, or at the end. */
		if (pos + flen < fend && (flen < 2 || msg[pos + flen - 2] != '\r' ||
		    msg[pos + flen - 1] != '\n' || wsp(msg[pos + flen])))
			abort();
		for (n = pos; n + 2 < pos + flen; n++)
			if (msg[n] == '\r' && msg[n + 1] == '\n' && !wsp(msg[n + 2]))
				abort();
		fields[nfields].p = msg + pos;
		fields[nfields].len = flen;
		fields[nfields].name = -1;

		fc.len = 0;
		if ((canon = malloc(flen + 3)) == NULL)
			abort();
		n = dkim_canon_header((const char *)msg + pos, flen, canon, flen + 3);
		named = dkim_field_name((const char *)msg + pos, flen, name, sizeof(name));
		if (ref_canon_header(msg + pos, flen, &fc)) {
			if (n != fc.len || memcmp(canon, fc.p, n) != 0 || n > flen + 2 ||
			    canon[n - 2] != '\r' || canon[n - 1] != '\n')
				abort();
			/* The name is the canonical field's up to the colon, if it fits. */
			namelen = (size_t)((char *)memchr(canon, ':', n) - canon);
			if (named != (namelen < sizeof(name)) ||
			    (named && (strlen(name) != namelen || memcmp(name, canon, namelen) != 0)))
				abort();
		} else if (n != 0 || named)
			abort();
		free(canon);
		if (named)
			for (k = 0; k < (int)NSIGN; k++)
				if (strcmp(name, sign_names[k]) == 0)
					fields[nfields].name = k;
		nfields++;
	}

	/* The body of the message. */
	if (hend >= 0)
		check_body(msg + hend, len - (size_t)hend, seed, &bref);
	check_sign(msg, len, fields, nfields, &bref);
	free(bref.p);
	free(fc.p);
	free(fields);
	return 0;
}
