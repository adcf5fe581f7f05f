/*
 * dsn: delivery status notifications for the owner's queued mail: bounces and delay
 * warnings as an RFC 6522 multipart/report of an RFC 3464 message/delivery-status
 * with the returned message's header (text/rfc822-headers), put into the owner's
 * Maildir. It decides neither when to report (the queue does: RFC 3461 NOTIFY,
 * queue_lifetime, delay_warning) nor what failed (the delivery process does); it never
 * sends mail, so a report can never bounce in turn.
 */
#ifndef LB_DSN_H
#define LB_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "lib/buf.h"
#include "maildir/maildir.h"

/* The returned header, CRLF included; a longer one is cut at a line end (and said so). */
#define DSN_HEADER_MAX		65536
/* How much of the stored message dsn_format() looks at (see there). */
#define DSN_HEADER_READ		(DSN_HEADER_MAX + 2)
/* Octets of a diagnostic or an address kept; the rest becomes "...". */
#define DSN_DIAG_MAX		2048
#define DSN_ADDR_MAX		512
/* A whole report; more (thousands of recipients) fails with ENOBUFS. */
#define DSN_MSG_MAX		(16 * 1024 * 1024)
/* "5.123.456" and its NUL. */
#define DSN_STATUS_SIZE		10
/* RFC 2046 §5.1.1: a boundary has at most 70 characters. */
#define DSN_BOUNDARY_MAX	70

/*
 * RFC 3463 status codes for failures found here, with no reply from a server to take
 * one from. RFC 3463 §3.5 asks that a message given up for its age carry the code of
 * the last actual problem (4.4.1 for a host that never answered, say) with
 * Action: failed, as Postfix does; DSN_STATUS_EXPIRED is for when there was none.
 */
#define DSN_STATUS_NO_DOMAIN	"5.1.2"		/* NXDOMAIN: bad destination system */
#define DSN_STATUS_NULL_MX	"5.1.10"	/* RFC 7505 §4.1: "MX 0 ." */
#define DSN_STATUS_DNS_TEMP	"4.4.3"		/* SERVFAIL, DNS timeout */
#define DSN_STATUS_REFUSED	"4.4.1"		/* refused, unreachable: no answer from host */
#define DSN_STATUS_TIMEOUT	"4.4.2"		/* timed out or dropped: bad connection */
#define DSN_STATUS_LOOP		"5.4.6"		/* the MX is this host: routing loop */
#define DSN_STATUS_EXPIRED	"4.4.7"		/* queue_lifetime over, nothing better known */

enum dsn_action { DSN_FAILED, DSN_DELAYED };

struct dsn_rcpt {
	const char	*addr;		/* the original recipient */
	enum dsn_action	 action;
	const char	*status;	/* RFC 3463 "5.1.1", "4.4.1" */
	const char	*remote_mta;	/* the host that answered; NULL if none did */
	/*
	 * The remote reply "550 5.1.1 <x>: no such user" (remote_reply set; a multiline
	 * reply may keep its CRLFs) or our own reason "connect to mx.example.com:
	 * connection refused" (remote_reply clear). NULL: none.
	 */
	const char	*diagnostic;
	bool		 remote_reply;	/* Diagnostic-Code "smtp;" rather than "X-Letterbox;" */
	time_t		 last_attempt;	/* 0: never tried */
};

struct dsn_msg {
	const char	*reporting_mta;	/* our host name */
	const char	*sender;	/* the original envelope sender (the owner) */
	const char	*queue_id;
	time_t		 arrival;	/* 0: unknown (no Arrival-Date) */
	time_t		 will_retry_until; /* for DELAYED: the give-up time; 0: unknown */
};

/*
 * Build the report for the message stored in fd from offset off (CRLF lines: header,
 * empty line, body) and deliver it into md's new/ through maildir_delivery_*, fsynced
 * like any mail; name_out (MAILDIR_NAME_MAX + 1 bytes) gets its base name. The caller
 * tells the indexer, as for any delivery. 0, or -1 with errno (EINVAL: n == 0 or a
 * NULL field that must be there; ENOBUFS: over DSN_MSG_MAX); on failure nothing is
 * left in new/ or tmp/.
 */
int	dsn_deliver(struct maildir *md, const struct dsn_msg *m, const struct dsn_rcpt *r,
	    size_t n, int fd, off_t off, char *name_out);

/*
 * The whole report (header fields and the three parts), appended to out. Pure: the
 * date and the MIME boundary come from the caller. boundary: 1..DSN_BOUNDARY_MAX of
 * [A-Za-z0-9_=-], random enough never to appear in the data; it also makes the
 * Message-ID. msg: the start of the stored message; only its first DSN_HEADER_READ
 * octets are looked at, and a shorter msglen means that is all of it (a header
 * without a body). 0, or -1 with errno (EINVAL, ENOBUFS: over out's cap).
 *
 * Everything out of the caller's strings is made safe: CR, LF and control characters
 * never get through into a line of their own, the delivery-status part is 7-bit
 * (RFC 3464; a non-ASCII address is given as RFC 6533 "utf-8;" with \x{HEX}), the
 * text part is UTF-8 only when it must be, and every line stays under 998 octets but
 * for long lines of the returned header, which go in as they are.
 */
int	dsn_format(struct buf *out, const struct dsn_msg *m, const struct dsn_rcpt *r,
	    size_t n, const char *msg, size_t msglen, const char *boundary, time_t now);

/*
 * The header of the stored message msg[0..len) as it is returned: the lines before
 * the first empty one (or all of them), each ended by CRLF (a bare LF becomes CRLF;
 * a CR not before LF, and NUL, become a space, so the report is CRLF text without
 * NUL like every file in the Maildir), at most max_bytes of it, cut after the last
 * whole line that fits (a first line longer than that alone is cut inside and ended).
 * len < max_bytes + 2 means msg is the whole message; otherwise what lies beyond
 * does not matter. *truncated_out: whether anything of the header was left out.
 * 0, or -1 with errno (ENOBUFS over out's cap); max_bytes >= 2.
 */
int	dsn_header_extract(struct buf *out, const char *msg, size_t len, size_t max_bytes,
	    bool *truncated_out);

/*
 * The RFC 3463 status for an SMTP reply: the enhanced code at the start of text
 * ("5.1.1 <x>: no such user", RFC 2034; text may be NULL) when there is one, with the
 * class of the basic code if the two disagree; else "2.0.0", "4.0.0" or "5.0.0" from
 * the basic code; "4.0.0" for a code outside 2xx/4xx/5xx (a protocol error is
 * retried, not bounced). Written into buf (bufsz >= DSN_STATUS_SIZE), returned.
 */
const char *dsn_status_from_reply(int code, const char *text, char *buf, size_t bufsz);

/* RFC 3463 §2 syntax: class 2, 4 or 5 "." 1*3digit "." 1*3digit. */
bool	dsn_status_valid(const char *s);

#endif
