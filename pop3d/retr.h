/*
 * retr: a stored message turned into a POP3 multi-line response body (RFC 1939 §3):
 * every line ends in CRLF (a bare LF from another delivery agent becomes CRLF), a
 * line starting with '.' gets one more, and the caller ends it with ".\r\n". For the
 * clients that real users have:
 *   - NUL bytes become 0x80: Outlook and Outlook Express hang on NUL (clients.md;
 *     Dovecot's outlook-no-nuls does the same);
 *   - a message without the empty line between header and body gets one at its end
 *     (Outlook Express and Netscape break without it; Dovecot's oe-ns-eoh).
 * TOP (§7) stops after the header, the empty line and n body lines. Streaming and pure:
 * input comes in chunks of any size (fuzzed against a one-shot reference).
 */
#ifndef LB_POP3D_RETR_H
#define LB_POP3D_RETR_H

#include <stdbool.h>
#include <stddef.h>

struct retr_state {
	long	body_lines;	/* TOP: body lines still to send; -1 = all (RETR) */
	bool	line_start;	/* the next byte starts a line */
	bool	cr;		/* a CR was seen and not yet sent: CRLF or bare CR? */
	bool	in_header;	/* no empty line yet */
	bool	done;		/* TOP has sent all it should: ignore the rest */
};

/* body_lines: -1 for RETR, n for TOP msg n. */
void	retr_init(struct retr_state *st, long body_lines);
/* Worst-case output bytes for n input bytes. */
#define RETR_OUT_MAX(n)	(2 * (n) + 8)
/*
 * Convert in[0..n) into out (room for RETR_OUT_MAX(n) bytes). Returns the bytes
 * written; st->done tells the caller it may stop reading.
 */
size_t	retr_convert(struct retr_state *st, const unsigned char *in, size_t n, char *out);
/* After the last chunk: the final CRLF and header end where missing, then ".\r\n". */
size_t	retr_finish(struct retr_state *st, char *out);	/* out: 16 bytes */

#endif
