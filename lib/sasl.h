/*
 * sasl: the server side of the SASL mechanisms both daemons offer, PLAIN (RFC 4616)
 * and LOGIN (draft-murchison-sasl-login), with the strict base64 (RFC 4648 §4) they
 * are carried in. Pure functions over caller buffers: fuzzed, and shared by POP3
 * AUTH (RFC 5034) and SMTP AUTH (RFC 4954).
 */
#ifndef LB_SASL_H
#define LB_SASL_H

#include <stdbool.h>
#include <stddef.h>

#define SASL_USER_MAX	255	/* authcid octets */
#define SASL_PASS_MAX	511	/* password octets */
/* Longest base64 client response we read: PLAIN of the longest user and password. */
#define SASL_LINE_MAX	2048

/* The exact LOGIN challenges: Thunderbird aborts on anything else (clients.md). */
#define SASL_LOGIN_USERNAME	"VXNlcm5hbWU6"	/* "Username:" */
#define SASL_LOGIN_PASSWORD	"UGFzc3dvcmQ6"	/* "Password:" */

enum sasl_mech {
	SASL_NONE,
	SASL_PLAIN,
	SASL_LOGIN,
};

struct sasl_creds {
	char	user[SASL_USER_MAX + 1];
	char	pass[SASL_PASS_MAX + 1];
};

/* "PLAIN" / "LOGIN", any case; SASL_NONE otherwise. */
enum sasl_mech sasl_mech_parse(const char *name);

/*
 * Decode base64 in (inlen chars, no whitespace, padding required) into out (outsz).
 * The decoded length, or -1 if the input is not canonical base64 or does not fit.
 */
long	sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outsz);
/* Encode n bytes into out (outsz >= 4 * ((n + 2) / 3) + 1). The length written. */
size_t	sasl_b64_encode(const unsigned char *in, size_t n, char *out, size_t outsz);

/*
 * A decoded PLAIN message "authzid NUL authcid NUL passwd" into c. The authorization
 * identity must be empty or equal to the authentication identity: we never act on
 * behalf of someone else. No NUL inside the fields, none of them over its cap, user
 * and password not empty. false otherwise.
 */
bool	sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_creds *c);

/*
 * One base64 line of a LOGIN exchange (user name or password) into out (outsz, NUL-
 * terminated). "*" means the client cancelled (RFC 4954 §4, RFC 5034 §4): the caller
 * checks that first. false on bad base64, an empty value, NUL bytes or overlength.
 */
bool	sasl_login_field(const char *line, char *out, size_t outsz);

/* Wipe the credentials (sodium_memzero: the compiler cannot drop it). */
void	sasl_creds_wipe(struct sasl_creds *c);

#endif
