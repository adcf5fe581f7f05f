/*
 * address: the RFC 5321 §4.1.2 Path and the ESMTP parameters of MAIL and RCPT.
 * Pure functions over strings: no I/O, no policy, never exits (fuzzed).
 */
#ifndef LB_ADDRESS_H
#define LB_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>

#define SMTP_LOCAL_MAX	64	/* RFC 5321 §4.5.3.1.1 */
#define SMTP_DOMAIN_MAX	255	/* RFC 5321 §4.5.3.1.2 */
#define SMTP_PATH_MAX	256	/* RFC 5321 §4.5.3.1.3, with the angle brackets */

enum addr_result {
	ADDR_OK,
	ADDR_SYNTAX,		/* 501 5.1.7 / 5.1.3 */
	ADDR_TOOLONG,		/* 501 5.1.7 (RFC 5321 §4.5.3.1) */
	ADDR_UTF8,		/* non-ASCII without SMTPUTF8: 553 5.6.7 (RFC 6531 §3.5) */
	ADDR_PARAM,		/* unknown or malformed parameter: 555 5.5.4 */
};

struct smtp_path {
	bool	is_null;			/* <> */
	bool	is_quoted;			/* the local part was a quoted string */
	bool	is_literal;			/* the domain is an address literal */
	char	local[SMTP_LOCAL_MAX * 2 + 1];	/* decoded (quotes and escapes removed) */
	char	domain[SMTP_DOMAIN_MAX + 1];	/* "" for <Postmaster> */
	char	text[SMTP_PATH_MAX + 1];	/* the mailbox as sent, without route, no <> */
};

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };

struct smtp_mail_params {
	bool		has_size;
	uint64_t	size;
	enum smtp_body	body;
	bool		smtputf8;
};

/*
 * Parse "<path>" at the start of in. A source route (@a,@b:) is accepted and dropped
 * (RFC 5321 §4.1.2, §C). With allow_null, "<>" is valid. With allow_postmaster,
 * "<Postmaster>" without a domain is valid (RFC 5321 §4.1.1.3). With utf8, UTF-8
 * is accepted in local part and domain (RFC 6531). *rest points after the '>'.
 */
enum addr_result smtp_parse_path(const char *in, bool allow_null, bool allow_postmaster,
	    bool utf8, struct smtp_path *out, const char **rest);

/*
 * Parse the MAIL FROM parameters after the path: " KEY=VALUE" words, SIZE (RFC 1870),
 * BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531). Anything else: ADDR_PARAM.
 */
enum addr_result smtp_parse_mail_params(const char *in, struct smtp_mail_params *out);

/*
 * Split "FROM:<...> params" / "TO:<...>" after the verb: checks the keyword
 * (case-insensitive) and the colon, and skips blanks after it (Outlook sends
 * "MAIL FROM: <addr>"). NULL if the keyword is wrong.
 */
const char *smtp_path_arg(const char *args, const char *keyword);

#endif
