/*
 * test_dkim: dkim/ — relaxed header and body canonicalization (RFC 6376 §3.4.2,
 * §3.4.4 and the §3.4.5 example), the header section split into fields, the body fed
 * in pieces cut at every position, and dkim_sign_fd's limits, offsets, folding and
 * h= list with keys made by dkim_key_generate. The signatures themselves are checked
 * by an independent verifier in tests/outbound/test_dkim.py.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "dkim/canon.h"
#include "dkim/dkim.h"
#include "tests/unit/t.h"

static char root[] = "/tmp/lb-test-dkim-XXXXXX";

/* ---- header fields ---- */

/* The relaxed form of the first field of s, as a string (static buffer). */
static const char *
canon_hdr(const char *s)
{
	static char out[4096];
	size_t n, flen;

	flen = dkim_field_len(s, strlen(s));
	n = dkim_canon_header(s, flen, out, sizeof(out) - 1);
	out[n] = '\0';
	return n == 0 ? NULL : out;
}

static void
test_header_canon(void)
{
	static const struct {
		const char	*in, *want;
	} cases[] = {
		/* RFC 6376 §3.4.5. */
		{ "A: X\r\n", "a:X\r\n" },
		{ "B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n" },
		{ "Subject: hello\r\n   world\r\n", "subject:hello world\r\n" },
		{ "SUBJECT:no space\r\n", "subject:no space\r\n" },
		{ "Subject:\t  a \t b\t\r\n", "subject:a b\r\n" },
		{ "Subject:\r\n\tfolded first\r\n", "subject:folded first\r\n" },
		{ "Subject:\r\n", "subject:\r\n" },
		{ "Subject:   \r\n \r\n", "subject:\r\n" },
		{ "Subject: no CRLF at the end", "subject:no CRLF at the end\r\n" },
		{ "Subject \r\n : folded before the colon\r\n", "subject:folded before the colon\r\n" },
		{ "X-8bit: caf\xc3\xa9  au lait\r\n", "x-8bit:caf\xc3\xa9 au lait\r\n" },
		{ "X-Bare: a\rb\r\n", "x-bare:a\rb\r\n" },
		{ "Mixed-Case-Name: Keeps Value Case\r\n", "mixed-case-name:Keeps Value Case\r\n" },
	};
	static const char *const bad[] = {
		"no colon\r\n", ": no name\r\n", " Leading: space\r\n", "\tTab: x\r\n",
		"Na\x80me: 8-bit name\r\n", "",
	};
	char out[64];
	size_t i;

	test_begin("dkim: relaxed header canonicalization");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = canon_hdr(cases[i].in);

		test_assert_idx(got != NULL && strcmp(got, cases[i].want) == 0, i);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(canon_hdr(bad[i]) == NULL, i);
	/* The output must hold len + 3 bytes: exactly that works, one less is refused. */
	test_assert(dkim_canon_header("A:b", 3, out, 6) == 5);
	test_assert(dkim_canon_header("A:b", 3, out, 5) == 0);
	test_end();
}

static void
test_field_name(void)
{
	char name[DKIM_NAME_MAX];

	test_begin("dkim: field names");
	test_assert(dkim_field_name("From: a\r\n", 9, name, sizeof(name)));
	test_assert_str(name, "from");
	test_assert(dkim_field_name("Message-ID : <x>", 16, name, sizeof(name)));
	test_assert_str(name, "message-id");
	test_assert(dkim_field_name("To\r\n : x\r\n", 10, name, sizeof(name)));
	test_assert_str(name, "to");
	test_assert(!dkim_field_name("From", 4, name, sizeof(name)));
	test_assert(!dkim_field_name("From x: y", 9, name, sizeof(name)));
	test_assert(!dkim_field_name(" From: y", 8, name, sizeof(name)));
	test_assert(!dkim_field_name("From: a", 7, name, 4));	/* "from" + NUL: 5 */
	test_assert(dkim_field_name("From: a", 7, name, 5));
	test_end();
}

static void
test_header_split(void)
{
	const char *h = "From: a\r\nSubject: b\r\n c\r\n\td\r\nTo: e\r\n\r\nbody\r\n";
	size_t len = strlen(h), n;

	test_begin("dkim: header section and fields");
	test_assert(dkim_header_end(h, len, 0) == (long)(strstr(h, "body") - h));
	test_assert(dkim_header_end("\r\nbody", 6, 0) == 2);
	test_assert(dkim_header_end("From: a\r\n", 9, 0) == -1);
	test_assert(dkim_header_end("From: a\r\n\r", 10, 0) == -1);
	/* Found across a seam: appended after 10 bytes were searched already. */
	test_assert(dkim_header_end("From: a\r\n\r\n", 11, 10) == 11);
	test_assert(dkim_header_end("From: a\r\n\r\n", 11, 7) == 11);
	test_assert(dkim_header_end("From: a\r\n\r\n", 11, 11) == -1);	/* searched */
	test_assert(dkim_header_end("", 0, 0) == -1);

	n = dkim_field_len(h, len);
	test_assert(n == strlen("From: a\r\n"));
	h += n;
	n = dkim_field_len(h, strlen(h));
	test_assert(n == strlen("Subject: b\r\n c\r\n\td\r\n"));
	h += n;
	test_assert(dkim_field_len(h, strlen(h)) == strlen("To: e\r\n"));
	test_assert(dkim_field_len("A: b", 4) == 4);
	test_assert(dkim_field_len("A: b\r\n", 6) == 6);
	test_assert(dkim_field_len("A: b\r\n ", 7) == 7);	/* folding up to the end */
	test_assert(dkim_field_len("A: b\rc\r\nD: e", 12) == 8);	/* bare CR */
	test_assert(dkim_field_len("A: b\r", 5) == 5);
	test_assert(dkim_field_len("", 0) == 0);
	test_end();
}

/* ---- body ---- */

struct sink {
	char	*buf;
	size_t	 len, cap;
	size_t	 calls;
};

static void
sink_emit(void *arg, const unsigned char *p, size_t n)
{
	struct sink *s = arg;

	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		if ((s->buf = realloc(s->buf, s->cap)) == NULL)
			abort();
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
	s->calls++;
}

/* The canonical body of in[0..n) fed in pieces of step bytes (0: all at once). */
static struct sink
canon_body(const char *in, size_t n, size_t step)
{
	struct dkim_body b;
	struct sink s = { NULL, 0, 0, 0 };
	size_t i, k;

	sink_emit(&s, (const unsigned char *)"", 0);
	dkim_body_init(&b, sink_emit, &s);
	if (step == 0)
		dkim_body_feed(&b, in, n);
	else
		for (i = 0; i < n; i += k) {
			k = n - i < step ? n - i : step;
			dkim_body_feed(&b, in + i, k);
		}
	dkim_body_end(&b);
	if (b.out_total != s.len)
		abort();
	return s;
}

static void
test_body_canon(void)
{
	static const struct {
		const char	*in, *want;
	} cases[] = {
		/* RFC 6376 §3.4.5. */
		{ " C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n" },
		/* §3.4.4 b: trailing empty lines go, inner ones stay. */
		{ "a\r\n\r\n\r\nb\r\n\r\n", "a\r\n\r\n\r\nb\r\n" },
		/* A line of WSP only is empty once its trailing WSP goes. */
		{ "a\r\n  \t\r\nb\r\n \r\n\t\r\n", "a\r\n\r\nb\r\n" },
		/* Empty bodies stay empty; so do bodies of empty lines. */
		{ "", "" },
		{ "\r\n", "" },
		{ "\r\n\r\n\r\n", "" },
		{ "  \r\n\t\r\n", "" },
		{ " ", "" },
		/* A last line without CRLF gets one; its trailing WSP goes as on any line. */
		{ "abc", "abc\r\n" },
		{ "abc\r\n\r\nx", "abc\r\n\r\nx\r\n" },
		{ "abc  ", "abc\r\n" },
		/* Leading WSP becomes one SP; WSP runs inside a line too. */
		{ "\t\tindented\r\n", " indented\r\n" },
		{ "a  b\t\tc \t d\r\n", "a b c d\r\n" },
		/* Bare CR and bare LF are content, not line ends. */
		{ "a\rb\r\n", "a\rb\r\n" },
		{ "a\nb\r\n", "a\nb\r\n" },
		{ "a \r\n", "a\r\n" },
		{ "a \r", "a \r\r\n" },
		{ "\r", "\r\r\n" },
		{ "\r\r\n", "\r\r\n" },
		{ "\n", "\n\r\n" },
		/* 8-bit octets are plain content. */
		{ "caf\xc3\xa9 \xff\r\n", "caf\xc3\xa9 \xff\r\n" },
	};
	struct sink s;
	size_t i;

	test_begin("dkim: relaxed body canonicalization");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = canon_body(cases[i].in, strlen(cases[i].in), 0);
		test_assert_idx(s.len == strlen(cases[i].want) &&
		    memcmp(s.buf, cases[i].want, s.len) == 0, i);
		free(s.buf);
	}
	test_end();
}

static void
sha256_b64(const void *p, size_t n, char out[45])
{
	unsigned char md[32];
	unsigned int len;

	if (EVP_Digest(p, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
		abort();
	EVP_EncodeBlock((unsigned char *)out, md, 32);
}

static void
test_body_chunks(void)
{
	const char *body = "Hello  there \r\n\r\n \t\r\nline\twith\t tabs\r\n.\r\n\r\n"
	    "a\rbare\nCR LF\r\n\r\r\n  lead\r\nend  \r\n\r\n\r\n";
	size_t n = strlen(body), cut, step;
	struct sink whole, s;
	struct dkim_body b;
	char want[45], got[45];

	test_begin("dkim: body in pieces cut at every position, same hash");
	whole = canon_body(body, n, 0);
	sha256_b64(whole.buf, whole.len, want);
	for (cut = 0; cut <= n; cut++) {
		s.buf = NULL;
		s.len = s.cap = s.calls = 0;
		sink_emit(&s, (const unsigned char *)"", 0);
		dkim_body_init(&b, sink_emit, &s);
		dkim_body_feed(&b, body, cut);
		dkim_body_feed(&b, body + cut, n - cut);
		dkim_body_end(&b);
		sha256_b64(s.buf, s.len, got);
		test_assert_idx(strcmp(got, want) == 0, cut);
		free(s.buf);
	}
	for (step = 1; step <= 7; step++) {
		s = canon_body(body, n, step);
		test_assert_idx(s.len == whole.len && memcmp(s.buf, whole.buf, s.len) == 0, step);
		free(s.buf);
	}
	free(whole.buf);
	/* The hash of an empty body is that of no octets (not of a CRLF). */
	whole = canon_body("\r\n\r\n", 4, 1);
	sha256_b64(whole.buf, whole.len, got);
	test_assert_str(got, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
	free(whole.buf);
	test_end();
}

static void
test_body_many_blank_lines(void)
{
	size_t nblank = 100000, n = nblank * 2 + 3, i;
	char *in = malloc(n);
	struct sink s;

	test_begin("dkim: 100,000 held-back empty lines, then content");
	test_assert(in != NULL);
	for (i = 0; i < nblank; i++)
		memcpy(in + 2 * i, "\r\n", 2);
	memcpy(in + 2 * nblank, "x\r\n", 3);
	s = canon_body(in, n, 65536);
	test_assert(s.len == n);
	test_assert(s.len == n && memcmp(s.buf, in, n) == 0);
	test_assert(s.calls > n / DKIM_BODY_OUT);	/* emitted in bounded pieces */
	free(s.buf);
	/* The same lines at the end: nothing at all. */
	s = canon_body(in, 2 * nblank, 4096);
	test_assert(s.len == 0);
	free(s.buf);
	free(in);
	test_end();
}

/* ---- signing ---- */

static struct dkim_signer signer;
static char ed_path[256], rsa_path[256];

static int
write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd == -1 || write(fd, data, n) != (ssize_t)n) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return close(fd);
}

/* dkim_sign_fd on data[0..n) written to a file after prefix octets of junk. */
static char *
sign_buf(const struct dkim_signer *d, const char *data, size_t n, size_t prefix)
{
	char path[300], *s;
	size_t i;
	int fd;

	snprintf(path, sizeof(path), "%s/msg", root);
	if ((fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1)
		abort();
	for (i = 0; i < prefix; i++)
		if (write(fd, "J", 1) != 1)
			abort();
	if (write(fd, data, n) != (ssize_t)n)
		abort();
	s = dkim_sign_fd(d, fd, (off_t)prefix, 1700000000);
	close(fd);
	return s;
}

static char *
sign_str(const char *msg)
{
	return sign_buf(&signer, msg, strlen(msg), 0);
}

static void
test_keys(void)
{
	struct dkim_signer d;
	char err[512], path[300], *rec;
	enum dkim_alg alg;
	struct stat st;

	test_begin("dkim: keys made, loaded, refused");
	snprintf(ed_path, sizeof(ed_path), "%s/s.ed25519.pem", root);
	snprintf(rsa_path, sizeof(rsa_path), "%s/s.rsa.pem", root);
	test_assert(dkim_key_generate(DKIM_ED25519, ed_path, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)) == 1);
	test_assert(dkim_key_generate(DKIM_RSA, rsa_path, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)) == 1);
	/* Never replaced. */
	test_assert(dkim_key_generate(DKIM_RSA, rsa_path, (uid_t)-1, (gid_t)-1, err,
	    sizeof(err)) == 0);
	test_assert(stat(ed_path, &st) == 0 && (st.st_mode & 0777) == 0600);

	test_assert(dkim_signer_load(&signer, "example.test", "s", ed_path, rsa_path, err,
	    sizeof(err)) == 0);
	test_assert(signer.has_ed && signer.rsa != NULL && dkim_signer_active(&signer));

	rec = dkim_key_record(ed_path, &alg, err, sizeof(err));
	test_assert(rec != NULL && alg == DKIM_ED25519 &&
	    strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0 && strlen(rec) == 22 + 44);
	free(rec);
	rec = dkim_key_record(rsa_path, &alg, err, sizeof(err));
	test_assert(rec != NULL && alg == DKIM_RSA &&
	    strncmp(rec, "v=DKIM1; k=rsa; p=MIIBIjAN", 26) == 0);
	free(rec);

	/* Missing files: skipped, nothing active. */
	snprintf(path, sizeof(path), "%s/missing.pem", root);
	test_assert(dkim_signer_load(&d, "example.test", "s", path, NULL, err,
	    sizeof(err)) == 0);
	test_assert(!dkim_signer_active(&d));
	test_assert(dkim_sign_fd(&d, 0, 0, 0) == NULL);
	dkim_signer_free(&d);
	errno = 0;
	test_assert(dkim_key_record(path, NULL, err, sizeof(err)) == NULL && errno == ENOENT);
	/* Only RSA. */
	test_assert(dkim_signer_load(&d, "example.test", "s", path, rsa_path, err,
	    sizeof(err)) == 0);
	test_assert(!d.has_ed && d.rsa != NULL);
	dkim_signer_free(&d);
	/* The wrong kind of key at a path, garbage, a directory: errors naming the path. */
	test_assert(dkim_signer_load(&d, "example.test", "s", rsa_path, NULL, err,
	    sizeof(err)) == -1);
	test_assert(strstr(err, rsa_path) != NULL && strstr(err, "ed25519") != NULL);
	test_assert(!dkim_signer_active(&d));
	test_assert(dkim_signer_load(&d, "example.test", "s", NULL, ed_path, err,
	    sizeof(err)) == -1);
	test_assert(strstr(err, ed_path) != NULL);
	snprintf(path, sizeof(path), "%s/garbage.pem", root);
	test_assert(write_file(path, "-----BEGIN PRIVATE KEY-----\nAAAA\n", 33) == 0);
	test_assert(dkim_signer_load(&d, "example.test", "s", path, NULL, err,
	    sizeof(err)) == -1 && strstr(err, path) != NULL);
	test_assert(dkim_signer_load(&d, "example.test", "s", root, NULL, err,
	    sizeof(err)) == -1 && strstr(err, root) != NULL);
	/* d= and s= are host names that fit (s= with its "-ed25519"). */
	test_assert(dkim_signer_load(&d, "exa;mple.test", "s", NULL, NULL, err,
	    sizeof(err)) == -1);
	test_assert(dkim_signer_load(&d, "example.test", "s;x=1", NULL, NULL, err,
	    sizeof(err)) == -1);
	test_assert(dkim_signer_load(&d, "example.test",
	    "a2345678901234567890123456789012345678901234567890123456", NULL, NULL, err,
	    sizeof(err)) == -1);
	test_assert(dkim_signer_load(&d, "example.test",
	    "a234567890123456789012345678901234567890123456789012345", NULL, NULL, err,
	    sizeof(err)) == 0);
	test_end();
}

/* Every line CRLF-terminated and under 78 columns (a tab counted as 8). */
static bool
folded_ok(const char *s)
{
	size_t col = 0;

	for (; *s != '\0'; s++) {
		if (s[0] == '\r' && s[1] == '\n') {
			col = 0;
			s++;
			continue;
		}
		if (*s == '\r' || *s == '\n')
			return false;
		col += *s == '\t' ? 8 : 1;
		if (col >= 78)
			return false;
	}
	return col == 0;
}

/* The h= value (after "h=") of the n-th signature in s (from 0), unfolded, into out. */
static const char *
h_tag(const char *s, int n, char *out, size_t outsz)
{
	const char *p = s;
	size_t o = 0;

	for (; n >= 0; n--)
		if ((p = strstr(p, " h=")) == NULL)
			return "";
		else
			p += 3;
	for (; *p != ';' && *p != '\0' && o + 1 < outsz; p++)
		if (*p != '\r' && *p != '\n' && *p != '\t' && *p != ' ')
			out[o++] = *p;
	out[o] = '\0';
	return out;
}

static void
test_sign(void)
{
	const char *msg = "Received: from a\r\nFrom: Alice <alice@example.test>\r\n"
	    "To: bob@example.org\r\nSubject: hi\r\nTo: carol@example.org\r\n"
	    "X-Unsigned: yes\r\nReceived: from b\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "\r\nbody\r\n";
	char h[512], *s, *s2, *e;

	test_begin("dkim: sign, h= list, folding, offsets");
	s = sign_str(msg);
	test_assert(s != NULL);
	if (s == NULL) {
		test_end();
		return;
	}
	test_assert(strncmp(s, "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;",
	    57) == 0);
	e = strstr(s + 1, "\r\nDKIM-Signature: v=1; a=rsa-sha256;");
	test_assert(e != NULL);
	test_assert(strstr(s, "s=s-ed25519;") != NULL && strstr(s, "s=s-rsa;") != NULL);
	test_assert(strstr(s, "d=example.test;") != NULL && strstr(s, "t=1700000000;") != NULL);
	test_assert(strstr(s, " l=") == NULL);
	test_assert(folded_ok(s));
	/* Both To fields, From once more than it occurs, no unlisted or Received. */
	test_assert_str(h_tag(s, 0, h, sizeof(h)), "from:from:subject:date:to:to");
	test_assert_str(h_tag(s, 1, h, sizeof(h)), "from:from:subject:date:to:to");
	/* Deterministic (Ed25519 and PKCS#1 v1.5 both): the same at an offset. */
	s2 = sign_buf(&signer, msg, strlen(msg), 70000);
	test_assert(s2 != NULL && strcmp(s, s2) == 0);
	free(s2);
	free(s);

	/* No From: refused. A From-like field that is not one does not count. */
	test_assert(sign_str("To: bob@example.org\r\nSubject: x\r\n\r\nbody\r\n") == NULL);
	test_assert(sign_str(" From: a@example.test\r\nTo: b\r\n\r\nbody\r\n") == NULL);
	test_assert(sign_str("From a@example.test\r\n\r\nbody\r\n") == NULL);
	test_assert(sign_str("") == NULL);
	test_assert(sign_str("\r\nFrom: a@example.test\r\n") == NULL);

	/* No body, and no empty line either: signed, bh= of nothing. */
	s = sign_str("From: a@example.test\r\nSubject: x\r\n");
	test_assert(s != NULL && strstr(s, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
	free(s);
	s = sign_str("From: a@example.test");
	test_assert(s != NULL && strstr(s, "bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"));
	free(s);
	/* Two From fields: both signed, and one more. */
	s = sign_str("From: a@example.test\r\nFrom: b@example.test\r\n\r\nx\r\n");
	test_assert(s != NULL && strcmp(h_tag(s, 0, h, sizeof(h)), "from:from:from") == 0);
	free(s);
	test_end();
}

static void
test_sign_limits(void)
{
	size_t n, i, big = DKIM_FIELD_MAX + 1;
	char *m, *s;

	test_begin("dkim: header limits refuse instead of growing");
	/* DKIM_FIELDS_MAX fields are fine, one more is not. */
	m = malloc(16 * (DKIM_FIELDS_MAX + 2));
	test_assert(m != NULL);
	n = (size_t)sprintf(m, "From: a@b.c\r\n");
	for (i = 1; i < DKIM_FIELDS_MAX; i++)
		n += (size_t)sprintf(m + n, "X-N: %zu\r\n", i);
	s = sign_buf(&signer, m, n, 0);
	test_assert(s != NULL);
	free(s);
	n += (size_t)sprintf(m + n, "X-N: last\r\n\r\nbody\r\n");
	test_assert(sign_buf(&signer, m, n, 0) == NULL);
	free(m);

	/* A field of DKIM_FIELD_MAX octets is fine, one octet more is not. */
	m = malloc(big + 64);
	test_assert(m != NULL);
	n = (size_t)sprintf(m, "From: a@b.c\r\nSubject: ");
	memset(m + n, 'x', big - 11);
	n += big - 11;
	memcpy(m + n, "\r\n\r\nbody\r\n", 10);
	test_assert(sign_buf(&signer, m, n + 10, 0) == NULL);
	memcpy(m + n - 1, "\r\n\r\nbody\r\n", 10);
	s = sign_buf(&signer, m, n - 1 + 10, 0);
	test_assert(s != NULL);
	free(s);
	free(m);

	/* A header section over DKIM_HEADER_MAX, in few fields (2,000 octets each). */
	n = DKIM_HEADER_MAX + 4000;
	m = malloc(n + 2064);
	test_assert(m != NULL);
	i = (size_t)sprintf(m, "From: a@b.c\r\n");
	while (i < n) {
		memcpy(m + i, "X: ", 3);
		memset(m + i + 3, 'y', 1995);
		memcpy(m + i + 1998, "\r\n", 2);
		i += 2000;
	}
	test_assert(i / 2000 < DKIM_FIELDS_MAX);
	test_assert(sign_buf(&signer, m, i, 0) == NULL);
	/* Just under it, with a body: fine. */
	memcpy(m + DKIM_HEADER_MAX - 2000, "\r\nbody\r\n", 8);
	s = sign_buf(&signer, m, DKIM_HEADER_MAX - 2000 + 8, 0);
	test_assert(s != NULL);
	free(s);
	free(m);
	test_end();
}

static void
cleanup(void)
{
	static const char *const names[] = {
		"s.ed25519.pem", "s.rsa.pem", "msg", "garbage.pem",
	};
	char p[300];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, names[i]);
		unlink(p);
	}
	rmdir(root);
}

int
main(void)
{
	if (sodium_init() < 0 || mkdtemp(root) == NULL)
		return 1;
	test_header_canon();
	test_field_name();
	test_header_split();
	test_body_canon();
	test_body_chunks();
	test_body_many_blank_lines();
	test_keys();
	test_sign();
	test_sign_limits();
	dkim_signer_free(&signer);
	cleanup();
	return test_exit();
}
