/*
 * keys: the DKIM private keys as PKCS#8 PEM files (what `openssl genpkey` writes):
 * loading them for signing, making new ones, and the public key records to publish.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "dkim/dkim.h"
#include "lib/util.h"

#define KEY_FILE_MAX	(64 * 1024)	/* a PEM key is a few KiB at most */

/* OpenSSL's reason for the last failure, after "what: " (the queue is emptied). */
static void
ssl_err(char *err, size_t errsz, const char *what)
{
	unsigned long e = ERR_get_error();
	char reason[256] = "no reason given";

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	ERR_clear_error();
	snprintf(err, errsz, "%s: %s", what, reason);
}

/* Never ask for a passphrase: an encrypted key is an error, not a prompt. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * The private key in the PEM file at path. NULL with errno ENOENT when there is no
 * file; NULL with the reason in err otherwise.
 */
static EVP_PKEY *
key_read(const char *path, char *err, size_t errsz)
{
	struct stat st;
	EVP_PKEY *pk = NULL;
	FILE *fp;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		snprintf(err, errsz, "%s: not a key file", path);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	if ((pk = PEM_read_PrivateKey(fp, NULL, no_passphrase, NULL)) == NULL) {
		ssl_err(err, errsz, path);
		errno = EINVAL;
	}
	fclose(fp);
	return pk;
}

static int
load_ed25519(struct dkim_signer *d, const char *path, char *err, size_t errsz)
{
	unsigned char seed[crypto_sign_SEEDBYTES], pub[crypto_sign_PUBLICKEYBYTES];
	size_t len = sizeof(seed);
	EVP_PKEY *pk;
	int rc = -1;

	if ((pk = key_read(path, err, errsz)) == NULL)
		return errno == ENOENT ? 0 : -1;
	if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519)
		snprintf(err, errsz, "%s: not an ed25519 key", path);
	else if (EVP_PKEY_get_raw_private_key(pk, seed, &len) != 1 || len != sizeof(seed))
		ssl_err(err, errsz, path);
	/* The 32-byte seed is the private key (RFC 8032 §5.1.5); libsodium expands it. */
	else if (crypto_sign_seed_keypair(pub, d->ed_sk, seed) != 0)
		snprintf(err, errsz, "%s: libsodium refused the key", path);
	else {
		d->has_ed = true;
		rc = 0;
	}
	sodium_memzero(seed, sizeof(seed));
	EVP_PKEY_free(pk);
	return rc;
}

static int
load_rsa(struct dkim_signer *d, const char *path, char *err, size_t errsz)
{
	EVP_PKEY *pk;

	if ((pk = key_read(path, err, errsz)) == NULL)
		return errno == ENOENT ? 0 : -1;
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_RSA) {
		snprintf(err, errsz, "%s: not an RSA key", path);
		EVP_PKEY_free(pk);
		return -1;
	}
	if (EVP_PKEY_get_bits(pk) < DKIM_RSA_MIN_BITS) {
		snprintf(err, errsz, "%s: RSA keys under %d bits are not used (RFC 8301)",
		    path, DKIM_RSA_MIN_BITS);
		EVP_PKEY_free(pk);
		return -1;
	}
	d->rsa = pk;
	return 0;
}

int
dkim_signer_load(struct dkim_signer *d, const char *domain, const char *selector,
    const char *ed25519_pem, const char *rsa_pem, char *err, size_t errsz)
{
	char sel[sizeof(d->selector)];

	memset(d, 0, sizeof(*d));
	/* d= and s= go into a header field: host name syntax only, nothing to inject. */
	if (!util_is_hostname(domain) || strlen(domain) >= sizeof(d->domain)) {
		snprintf(err, errsz, "DKIM domain %s: not a domain name", domain);
		return -1;
	}
	if (!util_is_hostname(selector) ||
	    dkim_selector_name(selector, DKIM_ED25519, sel, sizeof(sel)) == -1 ||
	    dkim_selector_name(selector, DKIM_RSA, sel, sizeof(sel)) == -1) {
		snprintf(err, errsz, "DKIM selector %s: not a domain name of at most %zu "
		    "octets", selector, sizeof(d->selector) - 1 - strlen("-ed25519"));
		return -1;
	}
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	snprintf(d->selector, sizeof(d->selector), "%s", selector);
	if ((ed25519_pem != NULL && load_ed25519(d, ed25519_pem, err, errsz) == -1) ||
	    (rsa_pem != NULL && load_rsa(d, rsa_pem, err, errsz) == -1)) {
		dkim_signer_free(d);
		return -1;
	}
	return 0;
}

bool
dkim_signer_active(const struct dkim_signer *d)
{
	return d->has_ed || d->rsa != NULL;
}

void
dkim_signer_free(struct dkim_signer *d)
{
	sodium_memzero(d->ed_sk, sizeof(d->ed_sk));
	d->has_ed = false;
	EVP_PKEY_free(d->rsa);		/* OpenSSL clears the key's numbers as it frees */
	d->rsa = NULL;
}

/*
 * Open the directory that holds path, not following a symlink in its place (as root,
 * in a directory the owner could change), and point *base at the file name. fd or -1.
 */
static int
open_parent(const char *path, const char **base, char *err, size_t errsz)
{
	char *copy;
	int fd;

	if ((copy = strdup(path)) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		return -1;
	}
	if ((fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		snprintf(err, errsz, "%s: %s", copy, strerror(errno));
	free(copy);
	*base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	if (fd != -1 && **base == '\0') {
		snprintf(err, errsz, "%s: not a file name", path);
		close(fd);
		return -1;
	}
	return fd;
}

int
dkim_key_generate(enum dkim_alg alg, const char *path, uid_t uid, gid_t gid,
    char *err, size_t errsz)
{
	EVP_PKEY *pk = NULL;
	BIO *bio = NULL;
	const char *base;
	int dfd, fd, ok = 0;

	if ((dfd = open_parent(path, &base, err, errsz)) == -1)
		return -1;
	fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		ok = errno == EEXIST ? 0 : -1;
		if (ok == -1)
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		close(dfd);
		return ok;
	}
	if (alg == DKIM_ED25519)
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)DKIM_RSA_BITS);
	if (pk == NULL)
		ssl_err(err, errsz, "cannot make a key");
	else if ((bio = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL ||
	    PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    BIO_flush(bio) != 1)
		ssl_err(err, errsz, path);
	else if (fsync(fd) == -1 ||
	    (uid != (uid_t)-1 && fchown(fd, uid, gid) == -1))
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	else
		ok = 1;
	BIO_free(bio);
	EVP_PKEY_free(pk);
	if (close(fd) == -1 && ok) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		ok = 0;
	}
	/* The new name is durable once its directory is synced too. */
	if (ok && fsync(dfd) == -1) {
		snprintf(err, errsz, "%s: cannot sync its directory: %s", path,
		    strerror(errno));
		ok = 0;
	}
	if (!ok)
		unlinkat(dfd, base, 0);
	close(dfd);
	return ok ? 1 : -1;
}

char *
dkim_key_record(const char *path, enum dkim_alg *alg_out, char *err, size_t errsz)
{
	unsigned char raw[32], *der = NULL;
	const unsigned char *pub = NULL;
	size_t len = sizeof(raw), publen = 0, rlen;
	EVP_PKEY *pk;
	char *rec = NULL;
	enum dkim_alg alg;
	int n;

	if ((pk = key_read(path, err, errsz)) == NULL)
		return NULL;		/* errno ENOENT: no such file */
	if (EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519) {
		/* RFC 8463 §4.2: p= is the raw 32-byte public key, not an SPKI. */
		alg = DKIM_ED25519;
		if (EVP_PKEY_get_raw_public_key(pk, raw, &len) == 1 && len == sizeof(raw)) {
			pub = raw;
			publen = len;
		}
	} else if (EVP_PKEY_get_base_id(pk) == EVP_PKEY_RSA) {
		/* RFC 6376 §3.6.1: p= is the DER SubjectPublicKeyInfo. */
		alg = DKIM_RSA;
		if ((n = i2d_PUBKEY(pk, &der)) > 0) {
			pub = der;
			publen = (size_t)n;
		}
	} else {
		snprintf(err, errsz, "%s: neither an ed25519 nor an RSA key", path);
		goto out;
	}
	if (pub == NULL) {
		ssl_err(err, errsz, path);
		goto out;
	}
	rlen = strlen("v=DKIM1; k=ed25519; p=") + 4 * ((publen + 2) / 3) + 1;
	if ((rec = malloc(rlen)) == NULL) {
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
		goto out;
	}
	n = snprintf(rec, rlen, "v=DKIM1; k=%s; p=", alg == DKIM_ED25519 ? "ed25519" : "rsa");
	EVP_EncodeBlock((unsigned char *)rec + n, pub, (int)publen);
	if (alg_out != NULL)
		*alg_out = alg;
out:
	OPENSSL_free(der);
	EVP_PKEY_free(pk);
	if (rec == NULL)
		errno = EINVAL;
	return rec;
}
