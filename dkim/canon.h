/*
 * canon: DKIM "relaxed" canonicalization (RFC 6376 §3.4.2, §3.4.4) of header fields and
 * of the body, and the splitting of a header section into fields. Pure: bytes in,
 * bytes out; never touches an fd, never allocates, never exits (fuzzed).
 *
 * Lines end only at CRLF. A bare CR or a bare LF is an ordinary character (the queue
 * stores CRLF-only messages; anything else is signed as it is and may not verify).
 * WSP is SP and HTAB only.
 */
#ifndef LB_DKIM_CANON_H
#define LB_DKIM_CANON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DKIM_FIELD_MAX		(64 * 1024)	/* octets of one header field */
#define DKIM_FIELDS_MAX		1000		/* header fields in a message */
#define DKIM_HEADER_MAX		(1024 * 1024)	/* octets of the header section */
#define DKIM_NAME_MAX		64		/* a field name we could sign */

/*
 * Where the header section of buf[0..len) ends: the offset of the first body byte
 * (just past the empty line), or -1 if the empty line is not there (yet). from is
 * where to start looking again after more bytes were appended (the previous len; the
 * search backs up 3 bytes itself so a CRLF CRLF across the seam is found).
 */
long	dkim_header_end(const char *buf, size_t len, size_t from);

/*
 * The length of the header field at the start of p[0..len): its first line and every
 * continuation line (one starting with SP or HTAB), through the CRLF that ends the last
 * one, or all of len when no CRLF ends it. 0 only when len is 0.
 */
size_t	dkim_field_len(const char *p, size_t len);

/*
 * The name of the field f[0..len), lowercased, NUL-terminated into name (namesz).
 * The field must start with 1*ftext (RFC 5322 §3.6.8: 0x21-0x7e except ':'), then
 * optional WSP (folding allowed), then ':'. false when it does not or the name does not
 * fit; such a field is never signed.
 */
bool	dkim_field_name(const char *f, size_t len, char *name, size_t namesz);

/*
 * The relaxed form of the field f[0..len) (RFC 6376 §3.4.2): the name lowercased, no WSP
 * around the colon, the value unfolded (every CRLF dropped), each WSP run one SP, none
 * at either end, then CRLF. Into out (outsz >= len + 3). Its length, or 0 when the
 * field has no valid name (dkim_field_name) or out is too small.
 */
size_t	dkim_canon_header(const char *f, size_t len, char *out, size_t outsz);

/*
 * The relaxed body canonicalizer (RFC 6376 §3.4.4), streaming: feed the body in pieces
 * of any size, then dkim_body_end(). The canonical bytes go to emit() in pieces of at
 * most DKIM_BODY_OUT, so a body of many empty lines never needs a buffer of its size:
 *   - WSP at the end of a line is dropped, other WSP runs become one SP;
 *   - empty lines at the end are dropped (held back as a count until a non-empty line
 *     shows they were not at the end);
 *   - a last line without CRLF gets one (its trailing WSP dropped as on any line);
 *   - an empty body stays empty: only a non-empty body gets a CRLF added (§3.4.4 b),
 *     unlike "simple" (§3.4.3), so its hash is that of no octets at all.
 */
#define DKIM_BODY_OUT	4096

typedef void dkim_emit_fn(void *arg, const unsigned char *p, size_t n);

struct dkim_body {
	uint64_t	 blank;		/* empty lines held back */
	bool		 wsp;		/* a WSP run is pending in this line */
	bool		 cr;		/* the last byte was a CR */
	bool		 content;	/* this line has content */
	uint64_t	 out_total;	/* canonical octets emitted so far */
	dkim_emit_fn	*emit;
	void		*arg;
	size_t		 outlen;
	unsigned char	 out[DKIM_BODY_OUT];
};

void	dkim_body_init(struct dkim_body *b, dkim_emit_fn *emit, void *arg);
void	dkim_body_feed(struct dkim_body *b, const void *p, size_t n);
void	dkim_body_end(struct dkim_body *b);

#endif
