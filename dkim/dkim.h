/*
 * dkim: DKIM signatures (RFC 6376) for outbound mail, ed25519-sha256 (RFC 8463) and
 * rsa-sha256, both relaxed/relaxed. The keys are PKCS#8 PEM files (keys.c); signing
 * reads the queued message from its fd (sign.c) and returns the header fields to put
 * in front of it. Nothing here verifies signatures.
 *
 * Each key has its own selector, "<selector>-ed25519" and "<selector>-rsa": a selector
 * name holds one key record (RFC 6376 §3.6.2.2: several TXT records there give
 * undefined results), and RFC 8463 §3 suggests signing with both algorithms for now.
 */
#ifndef LB_DKIM_H
#define LB_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <openssl/evp.h>
#include <sodium.h>

#define DKIM_RSA_BITS		2048	/* keys we make */
#define DKIM_RSA_MIN_BITS	1024	/* keys we sign with (RFC 8301 §3.2) */
#define DKIM_CHUNK		(64 * 1024)	/* pread size */

enum dkim_alg {
	DKIM_ED25519,
	DKIM_RSA,
};

struct dkim_signer {
	char		 domain[254], selector[64];	/* d=, and the base of s= */
	unsigned char	 ed_sk[crypto_sign_SECRETKEYBYTES];	/* libsodium secret key */
	bool		 has_ed;
	EVP_PKEY	*rsa;				/* NULL: none */
};

/*
 * Load whichever of the two PEM keys exist (a missing file is not an error: that
 * algorithm is skipped; an unreadable or bad one is, with the path in err). Either
 * path may be NULL (skipped). domain and selector must be host names that fit the
 * struct, the selector with its "-ed25519" too (55 octets at most). 0 or -1; on -1
 * nothing stays loaded. Call sodium_init() first.
 */
int	dkim_signer_load(struct dkim_signer *d, const char *domain, const char *selector,
	    const char *ed25519_pem, const char *rsa_pem, char *err, size_t errsz);
/* Any key loaded. */
bool	dkim_signer_active(const struct dkim_signer *d);
/* Wipes the keys; d may be loaded again after. */
void	dkim_signer_free(struct dkim_signer *d);

/*
 * Sign the message read from fd starting at offset off: CRLF lines, the header fields,
 * an empty line, the body (read with pread in DKIM_CHUNK pieces, never all of it in
 * memory; a message without a body is fine). Returns a malloc'd NUL-terminated string
 * of DKIM-Signature header fields, each CRLF-terminated and folded under 78 columns,
 * ed25519 first, then rsa; NULL on error (no key, no From field, a read error, a field
 * over DKIM_FIELD_MAX, over DKIM_FIELDS_MAX fields or DKIM_HEADER_MAX octets of header).
 * now goes into t=.
 */
char	*dkim_sign_fd(const struct dkim_signer *d, int fd, off_t off, time_t now);

/* "<selector>-ed25519" / "<selector>-rsa" into out (outsz). 0, or -1 if it won't fit. */
int	dkim_selector_name(const char *selector, enum dkim_alg alg, char *out, size_t outsz);

/*
 * Make a new private key (ed25519, or RSA of DKIM_RSA_BITS) as a PKCS#8 PEM file at
 * path: created with O_EXCL and mode 0600, written, fsynced, then given to uid:gid
 * unless uid is (uid_t)-1. An existing file is never touched. 1 made, 0 it existed
 * already, -1 with the reason and the path in err (a half-written file is removed).
 */
int	dkim_key_generate(enum dkim_alg alg, const char *path, uid_t uid, gid_t gid,
	    char *err, size_t errsz);

/*
 * The DKIM key record (RFC 6376 §3.6.1) for the private key in the PEM file at path,
 * "v=DKIM1; k=ed25519; p=<raw public key>" or "v=DKIM1; k=rsa; p=<SubjectPublicKeyInfo>"
 * (base64), as a malloc'd string. NULL with the reason in err; errno ENOENT (and the
 * path in err) when there is no such file. alg_out (may be NULL) gets the key type.
 */
char	*dkim_key_record(const char *path, enum dkim_alg *alg_out, char *err, size_t errsz);

#endif
