/*
 * tls: OpenSSL server and client contexts (see tls.h).
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "lib/tls.h"

static void
tls_error(char *err, size_t errsz, const char *what, const char *file)
{
	char ebuf[256];
	unsigned long e = ERR_get_error();

	if (e != 0)
		ERR_error_string_n(e, ebuf, sizeof(ebuf));
	else
		snprintf(ebuf, sizeof(ebuf), "unknown error");
	snprintf(err, errsz, "%s %s: %s", what, file, ebuf);
	ERR_clear_error();
}

/*
 * Mozilla's "intermediate" profile (ssl-config.mozilla.org, guidelines 6.0): for
 * TLS 1.2 only ECDHE key exchange (forward secrecy) with an AEAD cipher, AES-GCM or
 * ChaCha20-Poly1305; no CBC or SHA-1 MAC, no RSA key exchange, no DHE (no DH
 * parameters to keep; no client that matters lacks ECDHE), and so no RC4, 3DES,
 * NULL, EXPORT or anonymous suite either. TLS 1.3's three suites, all AEAD. Groups
 * X25519, P-256, P-384 (no 112-bit ffdhe2048). Thunderbird, Outlook 2016 and later,
 * Python's ssl, msmtp, fetchmail and mpop all do TLS 1.2 ECDHE with AES-GCM.
 */
#define TLS12_CIPHERS	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
			"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
			"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
			"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

/* The settings every server context has, before its certificate and key. */
static SSL_CTX *
tls_server_ctx_base(int session_tickets, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errsz, "SSL_CTX_new", "");
		return NULL;
	}
	/* RFC 8996 deprecates TLS 1.0 and 1.1; RFC 8314 §4.1 asks for 1.2 or later. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		tls_error(err, errsz, "cannot set", "ciphers");
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* Let modern clients choose (design.md); no compression, no renegotiation. */
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/*
	 * Tickets (RFC 5077, RFC 8446 §4.6.1) are sealed with a key made here, in the
	 * parent, so every session process can resume every other one's sessions; it
	 * lives as long as the context (a reload makes a new one: sessions of the old
	 * certificate are not resumed under the new one). Off: none at all.
	 * SSL_OP_NO_TICKET alone would still send TLS 1.3 clients stateful tickets
	 * (SSL_CTX_set_options(3)).
	 */
	if (!session_tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file, int session_tickets,
    char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = tls_server_ctx_base(session_tickets, err, errsz)) == NULL)
		return NULL;
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_error(err, errsz, "cannot load certificate chain", cert_file);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
		tls_error(err, errsz, "cannot load private key", key_file);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errsz, "key does not match certificate", key_file);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* No passphrase prompt on a terminal: an encrypted key is an error. */
static int
tls_no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

/*
 * The leaf, then any intermediates, from PEM text: what
 * SSL_CTX_use_certificate_chain_file() does with a file. 1, or 0 with OpenSSL's
 * error queue saying why.
 */
static int
tls_use_chain_pem(SSL_CTX *ctx, const char *pem, size_t len)
{
	BIO *bio;
	X509 *x;
	unsigned long e;
	int ok = 0;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return 0;
	if ((x = PEM_read_bio_X509_AUX(bio, NULL, tls_no_password, NULL)) == NULL ||
	    SSL_CTX_use_certificate(ctx, x) != 1)
		goto out;
	X509_free(x);
	SSL_CTX_clear_chain_certs(ctx);
	while ((x = PEM_read_bio_X509(bio, NULL, tls_no_password, NULL)) != NULL)
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1)
			goto out;
	/* The end of the text is "no start line"; anything else is a broken PEM block. */
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
		ERR_clear_error();
		ok = 1;
	}
out:
	X509_free(x);
	BIO_free(bio);
	return ok;
}

SSL_CTX *
tls_server_ctx_new_pem(const char *cert_name, const char *cert, size_t certlen,
    const char *key_name, const char *key, size_t keylen, int session_tickets, char *err,
    size_t errsz)
{
	SSL_CTX *ctx;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;

	if ((ctx = tls_server_ctx_base(session_tickets, err, errsz)) == NULL)
		return NULL;
	if (tls_use_chain_pem(ctx, cert, certlen) != 1) {
		tls_error(err, errsz, "cannot load certificate chain", cert_name);
		goto fail;
	}
	if (keylen > INT_MAX || (bio = BIO_new_mem_buf(key, (int)keylen)) == NULL ||
	    (pkey = PEM_read_bio_PrivateKey(bio, NULL, tls_no_password, NULL)) == NULL ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1) {
		tls_error(err, errsz, "cannot load private key", key_name);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error(err, errsz, "key does not match certificate", key_name);
		goto fail;
	}
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return ctx;
fail:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	SSL_CTX_free(ctx);
	return NULL;
}

SSL_CTX *
tls_client_ctx_new(const char *ca_file, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		tls_error(err, errsz, "SSL_CTX_new", "");
		return NULL;
	}
	/* RFC 8996, RFC 8314 §4.1: TLS 1.2 or later, as the server side. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	/* Off unless conn_tls_connect() is asked to verify (opportunistic TLS, RFC 7435). */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca_file != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, ca_file, NULL) != 1) {
			tls_error(err, errsz, "cannot load CA file", ca_file);
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_error(err, errsz, "cannot load the default CA paths", "");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void
tls_describe(SSL *ssl, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s %s", SSL_get_version(ssl),
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
}
