/*
 * sign: DKIM-Signature header fields for a queued message (RFC 6376 §5), one per key:
 * ed25519-sha256 (RFC 8463) and rsa-sha256, c=relaxed/relaxed. The header section is
 * kept in memory (bounded by DKIM_HEADER_MAX); the body is hashed as it is read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "dkim/canon.h"
#include "dkim/dkim.h"
#include "lib/buf.h"

/*
 * The header fields we sign (RFC 6376 §5.4.1), in h= order. Each is listed once per
 * instance, and the instances are hashed from the bottom up (§5.4.2). From is listed
 * once more than it occurs (§8.15, "oversigning"): the extra entry hashes as nothing,
 * so a From added in transit breaks the signature instead of riding on it.
 */
static const char *const sign_names[] = {
	"from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to",
	"references", "mime-version", "content-type", "content-transfer-encoding",
};
#define NSIGN		(sizeof(sign_names) / sizeof(sign_names[0]))
#define FROM		0		/* sign_names[FROM] */

#define FOLD_COLS	77		/* longest line, CRLF not counted (< 78) */
#define TAB_COLS	8		/* where a continuation line's text starts */
#define SIG_OUT_MAX	(256 * 1024)	/* the returned header fields */

struct field {
	size_t		off, len;	/* in the header buffer */
	unsigned	name;		/* index into sign_names */
};

struct msg {
	struct buf	 hdr;		/* the header section, as read */
	struct field	*fields;	/* the ones we sign, in message order */
	size_t		 nfields;
	unsigned	 count[NSIGN];	/* instances of each name */
	unsigned char	 bh[EVP_MAX_MD_SIZE];	/* body hash */
};

struct body_sink {
	EVP_MD_CTX	*md;
	bool		 failed;
};

int
dkim_selector_name(const char *selector, enum dkim_alg alg, char *out, size_t outsz)
{
	int n;

	n = snprintf(out, outsz, "%s-%s", selector, alg == DKIM_ED25519 ? "ed25519" : "rsa");
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int
read_full(int fd, void *p, size_t n, off_t off, size_t *got)
{
	ssize_t r;

	do
		r = pread(fd, p, n, off);
	while (r == -1 && errno == EINTR);
	if (r < 0)
		return -1;
	*got = (size_t)r;
	return 0;
}

static void
body_emit(void *arg, const unsigned char *p, size_t n)
{
	struct body_sink *s = arg;

	if (EVP_DigestUpdate(s->md, p, n) != 1)
		s->failed = true;
}

static int
name_index(const char *name, unsigned *idx)
{
	unsigned i;

	for (i = 0; i < NSIGN; i++)
		if (strcmp(name, sign_names[i]) == 0) {
			*idx = i;
			return 0;
		}
	return -1;
}

/* The signable fields of the header section hdr[0..end). 0, or -1 over a limit. */
static int
msg_fields(struct msg *m, size_t end)
{
	const char *h = m->hdr.data;
	char name[DKIM_NAME_MAX];
	size_t pos = 0, flen, n = 0;
	unsigned idx;

	if ((m->fields = calloc(DKIM_FIELDS_MAX, sizeof(*m->fields))) == NULL)
		return -1;
	while (pos < end) {
		flen = dkim_field_len(h + pos, end - pos);
		if (++n > DKIM_FIELDS_MAX || flen > DKIM_FIELD_MAX)
			return -1;
		if (dkim_field_name(h + pos, flen, name, sizeof(name)) &&
		    name_index(name, &idx) == 0) {
			m->fields[m->nfields].off = pos;
			m->fields[m->nfields].len = flen;
			m->fields[m->nfields].name = idx;
			m->nfields++;
			m->count[idx]++;
		}
		pos += flen;
	}
	return 0;
}

/*
 * Read the message: the header section into m->hdr, the body through the canonicalizer
 * into the body hash. 0 or -1.
 */
static int
msg_read(struct msg *m, int fd, off_t off)
{
	struct body_sink sink = { NULL, false };
	struct dkim_body *body = NULL;
	unsigned char *chunk = NULL;
	size_t got, prev, hend = 0, fend;
	unsigned int bhlen;
	long e = -1;
	int rc = -1;

	buf_init(&m->hdr, DKIM_HEADER_MAX + DKIM_CHUNK);
	for (;;) {
		prev = m->hdr.len;
		if (buf_reserve(&m->hdr, DKIM_CHUNK) == -1 ||
		    read_full(fd, buf_tail(&m->hdr), DKIM_CHUNK, off + (off_t)prev, &got) == -1)
			return -1;
		buf_commit(&m->hdr, got);
		if ((e = dkim_header_end(m->hdr.data, m->hdr.len, prev)) >= 0) {
			hend = (size_t)e;
			break;
		}
		if (got == 0)
			break;			/* no empty line: all header, no body */
		if (m->hdr.len > DKIM_HEADER_MAX)
			return -1;
	}
	if (e >= 0 && hend > DKIM_HEADER_MAX)
		return -1;
	/* The fields end with the CRLF of the last one, before the empty line. */
	fend = e >= 0 ? hend - 2 : m->hdr.len;
	if (msg_fields(m, fend) == -1)
		return -1;

	if ((sink.md = EVP_MD_CTX_new()) == NULL || (body = malloc(sizeof(*body))) == NULL ||
	    (chunk = malloc(DKIM_CHUNK)) == NULL ||
	    EVP_DigestInit_ex(sink.md, EVP_sha256(), NULL) != 1)
		goto out;
	dkim_body_init(body, body_emit, &sink);
	if (e >= 0) {
		dkim_body_feed(body, m->hdr.data + hend, m->hdr.len - hend);
		for (prev = m->hdr.len;; prev += got) {
			if (read_full(fd, chunk, DKIM_CHUNK, off + (off_t)prev, &got) == -1)
				goto out;
			if (got == 0)
				break;
			dkim_body_feed(body, chunk, got);
		}
	}
	dkim_body_end(body);
	if (!sink.failed && EVP_DigestFinal_ex(sink.md, m->bh, &bhlen) == 1 && bhlen == 32)
		rc = 0;
out:
	free(chunk);
	free(body);
	EVP_MD_CTX_free(sink.md);
	return rc;
}

/* The signed header fields, canonicalized, in h= order (bottom-up within a name). */
static int
msg_canon_headers(const struct msg *m, struct buf *out)
{
	const struct field *f;
	unsigned k;
	size_t i, n;

	for (k = 0; k < NSIGN; k++)
		for (i = m->nfields; i-- > 0; ) {
			f = &m->fields[i];
			if (f->name != k)
				continue;
			if (buf_reserve(out, f->len + 3) == -1)
				return -1;
			n = dkim_canon_header(m->hdr.data + f->off, f->len, buf_tail(out),
			    buf_room(out));
			if (n == 0)
				return -1;
			buf_commit(out, n);
		}
	return 0;
}

/* A header field under construction, folded before FOLD_COLS. */
struct fold {
	struct buf	*b;
	size_t		 col;
};

/*
 * Append word (n octets), after a space if sp, on a new line if it would not fit (or if
 * newline). A word longer than a line gets a line of its own.
 */
static int
fold_word(struct fold *f, const char *word, size_t n, bool sp, bool newline)
{
	if (newline || f->col + (sp ? 1 : 0) + n > FOLD_COLS) {
		if (buf_append(f->b, "\r\n\t", 3) == -1)
			return -1;
		f->col = TAB_COLS;
	} else if (sp) {
		if (buf_append(f->b, " ", 1) == -1)
			return -1;
		f->col++;
	}
	if (buf_append(f->b, word, n) == -1)
		return -1;
	f->col += n;
	return 0;
}

/* A base64 value, cut wherever the line is full (FWS may go anywhere inside it). */
static int
fold_b64(struct fold *f, const char *s, size_t n)
{
	size_t room, k;

	while (n > 0) {
		room = f->col < FOLD_COLS ? FOLD_COLS - f->col : 0;
		if (room == 0) {
			if (buf_append(f->b, "\r\n\t", 3) == -1)
				return -1;
			f->col = TAB_COLS;
			continue;
		}
		k = n < room ? n : room;
		if (buf_append(f->b, s, k) == -1)
			return -1;
		f->col += k;
		s += k;
		n -= k;
	}
	return 0;
}

static int
fold_str(struct fold *f, const char *s, bool sp)
{
	return fold_word(f, s, strlen(s), sp, false);
}

/* The header field up to and including "b=" (the value comes after signing). */
static int
sig_prefix(const struct dkim_signer *d, const struct msg *m, enum dkim_alg alg,
    time_t now, struct buf *b)
{
	struct fold f = { b, 0 };
	char word[320], sel[64], bh[64];
	unsigned k, i, n, j = 0, total = 0;

	if (dkim_selector_name(d->selector, alg, sel, sizeof(sel)) == -1)
		return -1;
	if (buf_append_str(b, "DKIM-Signature:") == -1)
		return -1;
	f.col = strlen("DKIM-Signature:");
	if (fold_str(&f, "v=1;", true) == -1 ||
	    fold_str(&f, alg == DKIM_ED25519 ? "a=ed25519-sha256;" : "a=rsa-sha256;",
		true) == -1 ||
	    fold_str(&f, "c=relaxed/relaxed;", true) == -1)
		return -1;
	snprintf(word, sizeof(word), "d=%s;", d->domain);
	if (fold_str(&f, word, true) == -1)
		return -1;
	snprintf(word, sizeof(word), "s=%s;", sel);
	if (fold_str(&f, word, true) == -1)
		return -1;
	snprintf(word, sizeof(word), "t=%lld;", (long long)now);
	if (fold_str(&f, word, true) == -1)
		return -1;
	/* h=: the lines may break after any ':' (RFC 6376 §3.5, sig-h-tag). */
	for (k = 0; k < NSIGN; k++)
		total += m->count[k] + (k == FROM ? 1 : 0);
	for (k = 0; k < NSIGN; k++) {
		n = m->count[k] + (k == FROM ? 1 : 0);
		for (i = 0; i < n; i++, j++) {
			snprintf(word, sizeof(word), "%s%s%c", j == 0 ? "h=" : "", sign_names[k],
			    j + 1 == total ? ';' : ':');
			if (fold_str(&f, word, j == 0) == -1)
				return -1;
		}
	}
	EVP_EncodeBlock((unsigned char *)bh, m->bh, 32);
	snprintf(word, sizeof(word), "bh=%s;", bh);
	if (fold_str(&f, word, true) == -1)
		return -1;
	/* b= starts a line: what a verifier blanks out is then all after "b=". */
	if (fold_word(&f, "b=", 2, false, true) == -1)
		return -1;
	return (int)f.col;
}

/* Sign data (the canonical header fields, then the canonical prefix) for alg. */
static int
sig_compute(const struct dkim_signer *d, enum dkim_alg alg, const struct buf *hd,
    const char *pfx, size_t pfxlen, unsigned char *sig, size_t *siglen)
{
	unsigned char hash[32];
	unsigned int hlen;
	EVP_MD_CTX *md;
	int rc = -1;

	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	if (alg == DKIM_ED25519) {
		/* RFC 8463 §3: Ed25519 signs the SHA-256 hash of the header data (pure). */
		if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
		    EVP_DigestUpdate(md, hd->data, hd->len) == 1 &&
		    EVP_DigestUpdate(md, pfx, pfxlen) == 1 &&
		    EVP_DigestFinal_ex(md, hash, &hlen) == 1 && hlen == sizeof(hash) &&
		    *siglen >= crypto_sign_BYTES &&
		    crypto_sign_detached(sig, NULL, hash, sizeof(hash), d->ed_sk) == 0) {
			*siglen = crypto_sign_BYTES;
			rc = 0;
		}
	} else {
		/* RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376 §3.3.1), OpenSSL's RSA default. */
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, d->rsa) == 1 &&
		    EVP_DigestSignUpdate(md, hd->data, hd->len) == 1 &&
		    EVP_DigestSignUpdate(md, pfx, pfxlen) == 1 &&
		    EVP_DigestSignFinal(md, sig, siglen) == 1)
			rc = 0;
	}
	EVP_MD_CTX_free(md);
	return rc;
}

/* One DKIM-Signature field, appended to out. */
static int
sign_one(const struct dkim_signer *d, const struct msg *m, const struct buf *hd,
    enum dkim_alg alg, time_t now, struct buf *out)
{
	struct buf pfx;
	struct fold f = { out, 0 };
	unsigned char sig[1024];
	char *canon = NULL, b64[4 * ((sizeof(sig) + 2) / 3) + 1];
	size_t siglen = sizeof(sig), clen;
	int col, rc = -1;

	buf_init(&pfx, SIG_OUT_MAX);
	if ((col = sig_prefix(d, m, alg, now, &pfx)) == -1 ||
	    (canon = malloc(pfx.len + 3)) == NULL)
		goto out;
	/* §3.7: the field itself, b= empty, canonicalized, without its final CRLF. */
	if ((clen = dkim_canon_header(pfx.data, pfx.len, canon, pfx.len + 3)) < 2)
		goto out;
	if (alg == DKIM_RSA && (size_t)EVP_PKEY_get_size(d->rsa) > sizeof(sig))
		goto out;
	if (sig_compute(d, alg, hd, canon, clen - 2, sig, &siglen) == -1)
		goto out;
	EVP_EncodeBlock((unsigned char *)b64, sig, (int)siglen);
	f.col = (size_t)col;
	if (buf_append(out, pfx.data, pfx.len) == -1 || fold_b64(&f, b64, strlen(b64)) == -1 ||
	    buf_append(out, "\r\n", 2) == -1)
		goto out;
	rc = 0;
out:
	free(canon);
	buf_clear(&pfx);
	return rc;
}

char *
dkim_sign_fd(const struct dkim_signer *d, int fd, off_t off, time_t now)
{
	struct msg m;
	struct buf hd, out;
	char *s = NULL;

	if (!dkim_signer_active(d))
		return NULL;
	memset(&m, 0, sizeof(m));
	buf_init(&hd, DKIM_HEADER_MAX + 4 * DKIM_FIELDS_MAX);
	buf_init(&out, SIG_OUT_MAX);
	if (msg_read(&m, fd, off) == -1 || m.count[FROM] == 0 ||
	    msg_canon_headers(&m, &hd) == -1)
		goto out;
	if (d->has_ed && sign_one(d, &m, &hd, DKIM_ED25519, now, &out) == -1)
		goto out;
	if (d->rsa != NULL && sign_one(d, &m, &hd, DKIM_RSA, now, &out) == -1)
		goto out;
	if (buf_append(&out, "", 1) == -1)
		goto out;
	s = out.data;			/* handed to the caller */
	buf_init(&out, 0);
out:
	buf_clear(&out);
	buf_clear(&hd);
	buf_clear(&m.hdr);
	free(m.fields);
	return s;
}
