/*
 * tls: the OpenSSL server context: TLS 1.2 minimum, Mozilla's "intermediate" ciphers
 * in the client's preference (design.md), certificate chain and key from PEM files.
 * Loaded by the parent (at start as root, at a reload through the opener, reload.c);
 * session processes inherit it by fork. Also the client context that outbound
 * delivery (relay/) connects with.
 */
#ifndef LB_TLS_H
#define LB_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

/*
 * cert_file holds the leaf certificate, then the intermediates. session_tickets 0:
 * no session tickets, TLS 1.2 or 1.3. NULL with the reason in err (OpenSSL's error
 * queue included).
 */
SSL_CTX	*tls_server_ctx_new(const char *cert_file, const char *key_file,
	    int session_tickets, char *err, size_t errsz);
/*
 * The same from PEM text already read (a reload reads the files through a
 * descriptor, see reload.c); the names are for the error. An encrypted key is refused.
 */
SSL_CTX	*tls_server_ctx_new_pem(const char *cert_name, const char *cert, size_t certlen,
	    const char *key_name, const char *key, size_t keylen, int session_tickets,
	    char *err, size_t errsz);
/*
 * A client context for outbound SMTP: TLS 1.2 minimum, trust anchors from ca_file
 * (PEM) or, when it is NULL, OpenSSL's default paths (the system's store). Whether
 * to verify is decided per connection (conn_tls_connect). NULL with the reason in err.
 */
SSL_CTX	*tls_client_ctx_new(const char *ca_file, char *err, size_t errsz);
/* The negotiated protocol and cipher of ssl, for Received: and the log. */
void	 tls_describe(SSL *ssl, char *out, size_t outsz);

#endif
