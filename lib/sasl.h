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

/*
 * One server-side exchange (RFC 4422 §3), the same in POP3 AUTH and SMTP AUTH: the
 * daemons only turn its results into their own replies ("+ " / "334 ", -ERR / 5xx).
 */
enum sasl_step {
	SASL_STEP_NONE,		/* no exchange in progress */
	SASL_STEP_PLAIN,	/* empty challenge sent, waiting for the PLAIN message */
	SASL_STEP_LOGIN_USER,	/* "Username:" sent */
	SASL_STEP_LOGIN_PASS,	/* "Password:" sent */
};

struct sasl_exchange {
	enum sasl_step		step;
	const char		*mech;		/* "PLAIN" or "LOGIN", for the log */
	struct sasl_creds	creds;
};

enum sasl_result {
	SASL_R_CHALLENGE,	/* send *challenge (base64, may be ""), read the next line */
	SASL_R_DONE,		/* x->creds are complete: ask the auth process */
	SASL_R_BAD_MECH,	/* not a mechanism we offer */
	SASL_R_BAD_B64,		/* a response that is not base64: a syntax error */
	SASL_R_FAILED,		/* decoded but unusable (PLAIN as someone else): a failed login */
	SASL_R_CANCELLED,	/* the client sent "*" */
};

/*
 * AUTH mech [initial]: initial is NULL without an initial response; "=" is an empty
 * one (RFC 4954 §4, RFC 5034 §4). Anything but CHALLENGE ends the exchange (DONE
 * leaves the credentials in x until sasl_exchange_end()).
 */
enum sasl_result sasl_begin(struct sasl_exchange *x, const char *mech, const char *initial,
	    const char **challenge);
/* The client's line while x->step != SASL_STEP_NONE. */
enum sasl_result sasl_continue(struct sasl_exchange *x, const char *line,
	    const char **challenge);
/* Forget the exchange and wipe the credentials. */
void	sasl_exchange_end(struct sasl_exchange *x);

#endif
