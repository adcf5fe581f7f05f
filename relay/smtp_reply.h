/*
 * smtp_reply: the SMTP client's reply parser (RFC 5321 §4.2) and EHLO keyword reader
 * (§4.1.1.1). Pure functions over caller memory, fed one line at a time (CRLF already
 * removed); fuzzed by tests/fuzz/fuzz_smtp_reply.c.
 */
#ifndef LB_SMTP_REPLY_H
#define LB_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#define SMTP_REPLY_MAX_LINES	100	/* lines in one reply; more is a protocol error */

struct smtpc_reply {
	/* 250, 451, ...; 0: no reply (network error, timeout, TLS failure) */
	int	code;
	char	enhanced[16];	/* "5.1.1" (RFC 3463) or "" */
	/*
	 * The reply's text, lines joined by ' ', printable ASCII only; or our reason
	 * when code is 0.
	 */
	char	text[512];
};

struct smtpc;

struct smtp_reply_parser {
	struct smtpc_reply *r;
	unsigned	 lines;		/* lines taken so far */
	struct smtpc	*ehlo;		/* non-NULL: an EHLO reply, keywords go there */
	size_t		 textlen;	/* strlen(r->text) */
	bool		 done;		/* the last line was seen, or a line refused */
};

/* Start a reply: *r is cleared (code 0, empty strings). p->ehlo is NULL. */
void	smtp_reply_parser_init(struct smtp_reply_parser *p, struct smtpc_reply *r);

/*
 * One reply line (len bytes, CRLF removed; need not be NUL-terminated). 1 when the
 * reply is complete (the last line is "ddd " or just "ddd"), 0 when more lines follow
 * ("ddd-"), -1 on a malformed line: not three digits (the first 2..5) then ' ' or '-'
 * or the end, a code that differs from the first line's, a line after the reply was
 * complete or refused, or more than SMTP_REPLY_MAX_LINES lines. After -1, *r is
 * incomplete (but its strings are still terminated and printable).
 *
 * r->code comes from the first line; r->enhanced from the start of the first line's
 * text when it is "X.Y.Z" (X in 2, 4, 5; Y and Z 1 to 3 digits) followed by a space or
 * the end. That code is left out of the text on every line that repeats it. The texts
 * are joined by ' ' into r->text, cut at 511 bytes, anything but printable ASCII
 * replaced by '?'. For an EHLO reply (p->ehlo set) whose code is 250, every line after
 * the first (the greeting) goes to smtp_ehlo_keyword().
 */
int	smtp_reply_parse_line(struct smtp_reply_parser *p, const char *line, size_t len);

/* Forget what an earlier EHLO said (before EHLO, and after STARTTLS: RFC 3207 §4.2). */
void	smtp_ehlo_reset(struct smtpc *c);

/*
 * One EHLO keyword line's text, e.g. "SIZE 35882577" or "AUTH LOGIN PLAIN" (also the
 * old "AUTH=LOGIN" form), case-insensitive: sets c->has_pipelining, has_8bitmime,
 * has_size (and max_size: 0 when absent, malformed or over 2^64 - 1), has_smtputf8,
 * has_starttls, auth_plain and auth_login. Unknown keywords are ignored.
 */
void	smtp_ehlo_keyword(struct smtpc *c, const char *line_text);

#endif
