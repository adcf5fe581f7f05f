/*
 * dotstuff: the DATA body state machine (RFC 5321 §4.5.2 transparency, §4.1.1.4 end of
 * data). Pure: bytes in, unstuffed bytes out; never touches an fd, never exits (fuzzed).
 *
 * The end of data is exactly CRLF "." CRLF, counted from the CRLF that ended the DATA
 * command. Anything else that merely looks like it (LF.LF, CR.CR, LF.CRLF, CRLF.LF) is
 * message content and marks the message bad, so that no other server's reading of the
 * stream can smuggle a second message past us (SMTP smuggling). Bad messages are
 * rejected once the real end arrives (qmail's straynewline rule).
 *
 * While reading, the machine also counts the octets stored (for SIZE), the Received:
 * header fields (for the hop limit, RFC 5321 §6.3) and the longest line.
 */
#ifndef LB_DOTSTUFF_H
#define LB_DOTSTUFF_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

#define SMTP_DATA_LINE_MAX	65536	/* §4.5.3.1.6 says 1000; we accept more, bounded */

enum dot_flag {
	DOT_BARE_LF	= 1 << 0,	/* LF without CR */
	DOT_BARE_CR	= 1 << 1,	/* CR without LF */
	DOT_NUL		= 1 << 2,	/* NUL byte */
	DOT_TOOBIG	= 1 << 3,	/* over max_bytes: output stopped */
	DOT_LONGLINE	= 1 << 4,	/* a line over SMTP_DATA_LINE_MAX */
};

struct dot_state {
	int		st;		/* internal: position in the line */
	unsigned	flags;		/* enum dot_flag */
	uint64_t	size;		/* octets of message content (CRLF, unstuffed) */
	uint64_t	max_bytes;	/* stop storing beyond this */
	size_t		line_len;	/* of the current line */
	unsigned	received;	/* Received: header fields seen */
	int		in_header;	/* still in the header section */
	unsigned	hdr_match;	/* chars of "received:" matched at line start */
};

void	dot_init(struct dot_state *d, uint64_t max_bytes);

/*
 * Consume up to len bytes of in, appending the message content to out (which must be
 * able to take len + 2 more bytes while the size is under the limit). *used gets the
 * number of bytes of in consumed. 1 = the end marker was consumed (bytes after it are
 * the next commands: leave them), 0 = need more input, -1 = out is full (ENOBUFS).
 */
int	dot_feed(struct dot_state *d, const char *in, size_t len, size_t *used,
	    struct buf *out);

#endif
