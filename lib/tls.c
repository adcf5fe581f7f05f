/*
 * tls: OpenSSL server and client contexts (see tls.h).
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

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

SSL_CTX *
tls_server_ctx_new(const char *cert_file, const char *key_file, char *err, size_t errsz)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		tls_error(err, errsz, "SSL_CTX_new", "");
		return NULL;
	}
	/* RFC 8996 deprecates TLS 1.0 and 1.1; RFC 8314 §4.1 asks for 1.2 or later. */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* Let modern clients choose (design.md); no compression, no renegotiation. */
	SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
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
