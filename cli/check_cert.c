/*
 * check_cert: the certificate part of `letterbox check`. The pair must load as the
 * daemons load it (lib/tls.c, as `letterbox-smtpd -n` does); then the chain is
 * verified the way a client would (the leaf, the intermediates that follow it in
 * tls_cert, the trust anchors of tls_ca_file or the system's store), its dates
 * are compared with today, and its names with hostname, which MX clients and the
 * owner's mail programs connect to (RFC 6125 through X509_check_host).
 */
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli/check.h"
#include "lib/tls.h"

#define CERT_WARN_DAYS	14	/* renewals (certbot) run 30 days ahead: 14 is late */

/* An ASN1_TIME as "2026-11-29 05:19:12 UTC"-like text (OpenSSL's ISO 8601 form). */
static void
time_text(const ASN1_TIME *t, char *out, size_t outsz)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	out[0] = '\0';
	if (b == NULL)
		return;
	if (ASN1_TIME_print_ex(b, t, ASN1_DTFLGS_ISO8601) == 1)
		n = BIO_read(b, out, (int)outsz - 1);
	out[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* The DNS names of the subjectAltName (or the CN when it has none), for the reader. */
static void
cert_names(X509 *x, char *out, size_t outsz)
{
	GENERAL_NAMES *names;
	const GENERAL_NAME *g;
	size_t len = 0;
	int i, n;

	out[0] = '\0';
	if ((names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL)) == NULL) {
		X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, out,
		    (int)outsz);
		return;
	}
	for (i = 0; i < sk_GENERAL_NAME_num(names) && len < outsz; i++) {
		g = sk_GENERAL_NAME_value(names, i);
		if (g->type != GEN_DNS)
			continue;
		n = snprintf(out + len, outsz - len, "%s%.*s", len ? ", " : "",
		    ASN1_STRING_length(g->d.dNSName),
		    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
		if (n < 0)
			break;
		len += (size_t)n;
	}
	GENERAL_NAMES_free(names);
}

/* tls_cert: the leaf first, then the intermediates the daemons send with it. */
static X509 *
read_chain(const char *path, STACK_OF(X509) **rest)
{
	BIO *b;
	X509 *leaf, *x;

	*rest = NULL;
	if ((b = BIO_new_file(path, "r")) == NULL)
		return NULL;
	if ((leaf = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL &&
	    (*rest = sk_X509_new_null()) != NULL)
		while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(*rest, x))
				X509_free(x);
	ERR_clear_error();	/* the end of the file reads as an error */
	BIO_free(b);
	return leaf;
}

/*
 * The chain to a trust anchor, for a TLS server, whatever the dates (they are a
 * finding of their own).
 */
static void
check_chain(struct check *c, X509 *leaf, STACK_OF(X509) *rest)
{
	const char *ca = c->cfg->tls_ca_file;
	X509_STORE *store;
	X509_STORE_CTX *ctx = NULL;
	char subject[256] = "", issuer[256] = "";
	int ok = 0, err, depth;

	if ((store = X509_STORE_new()) == NULL ||
	    (ca != NULL ? X509_STORE_load_file(store, ca) : X509_STORE_set_default_paths(
	    store)) != 1) {
		check_fail(c, "certificate chain: cannot load the trust anchors of %s",
		    ca != NULL ? ca : "the system's store");
		X509_STORE_free(store);
		return;
	}
	if ((ctx = X509_STORE_CTX_new()) != NULL &&
	    X509_STORE_CTX_init(ctx, store, leaf, rest) == 1) {
		X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx),
		    X509_V_FLAG_NO_CHECK_TIME);
		ok = X509_verify_cert(ctx) == 1;
	}
	X509_NAME_oneline(X509_get_issuer_name(leaf), issuer, sizeof(issuer));
	if (ok)
		check_ok(c, "certificate chain verifies against %s (issuer %s)",
		    ca != NULL ? ca : "the system's trust store", issuer);
	else {
		err = ctx != NULL ? X509_STORE_CTX_get_error(ctx) : X509_V_ERR_UNSPECIFIED;
		depth = ctx != NULL ? X509_STORE_CTX_get_error_depth(ctx) : 0;
		X509_NAME_oneline(X509_get_subject_name(leaf), subject, sizeof(subject));
		check_fail(c, "certificate chain does not verify against %s: %s (depth %d)",
		    ca != NULL ? ca : "the system's trust store",
		    X509_verify_cert_error_string(err), depth);
		if (X509_check_issued(leaf, leaf) == X509_V_OK)
			printf(CHECK_DETAIL "%s is self-signed: MX clients accept it (RFC 7435), "
			    "mail programs will not; get one from a CA (Let's Encrypt)\n",
			    subject);
		else
			printf(CHECK_DETAIL "issuer %s: are the intermediates in %s after the "
			    "certificate (fullchain.pem)?\n", issuer, c->cfg->tls_cert);
	}
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static void
check_dates(struct check *c, X509 *leaf)
{
	const ASN1_TIME *nb = X509_get0_notBefore(leaf), *na = X509_get0_notAfter(leaf);
	char when[64];
	int days, secs;

	if (X509_cmp_current_time(nb) >= 0) {
		time_text(nb, when, sizeof(when));
		check_fail(c, "certificate not valid before %s", when);
		return;
	}
	time_text(na, when, sizeof(when));
	if (ASN1_TIME_diff(&days, &secs, NULL, na) != 1) {
		check_fail(c, "certificate: unreadable expiry date");
		return;
	}
	if (days < 0 || secs < 0 || (days == 0 && secs == 0))
		check_fail(c, "certificate expired on %s", when);
	else if (days < CERT_WARN_DAYS)
		check_warn(c, "certificate expires in %d day(s), on %s: renew it", days, when);
	else
		check_ok(c, "certificate valid until %s (%d days)", when, days);
}

void
check_cert(struct check *c)
{
	const struct settings *cfg = c->cfg;
	STACK_OF(X509) *rest;
	SSL_CTX *ctx;
	X509 *leaf;
	char err[512], names[512];

	if (cfg->tls_cert == NULL) {
		check_warn(c, "no tls_cert/tls_key: STARTTLS is not offered on port 25, and "
		    "submission and POP3 need them");
		return;
	}
	/* As the daemons load it: the chain file, the key, and that the two match. */
	if ((ctx = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, cfg->tls_session_tickets,
	    err, sizeof(err))) == NULL)
		check_fail(c, "certificate: %s", err);
	else {
		check_ok(c, "certificate %s loads with its key %s", cfg->tls_cert, cfg->tls_key);
		SSL_CTX_free(ctx);
	}
	if ((leaf = read_chain(cfg->tls_cert, &rest)) == NULL) {
		if (ctx != NULL)
			check_fail(c, "certificate %s: no PEM certificate", cfg->tls_cert);
		return;
	}
	check_chain(c, leaf, rest);
	check_dates(c, leaf);
	cert_names(leaf, names, sizeof(names));
	if (X509_check_host(leaf, cfg->hostname, 0, 0, NULL) == 1)
		check_ok(c, "certificate names hostname %s", cfg->hostname);
	else
		check_fail(c, "certificate does not name hostname %s (it names: %s)",
		    cfg->hostname, names[0] ? names : "nothing");
	X509_free(leaf);
	sk_X509_pop_free(rest, X509_free);
}
