/*
 * dsn: bounces and delay warnings (RFC 3464, 6522, 3463) put into the owner's Maildir.
 *
 * dsn_format() is pure: caller strings in, one CRLF message out. Every string that
 * came from elsewhere (a remote server's reply above all) is cleaned before it is
 * written: whitespace runs (CR and LF included) become one space, other control
 * characters '?', and it is folded or wrapped so that no line passes 998 octets.
 * dsn_header_extract() is the only parser here, of the stored message's header; it
 * looks at no more than DSN_HEADER_READ octets, whatever the message's size.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/util.h"
#include "queue/dsn.h"

#define DSN_FOLD	78	/* RFC 5322 §2.1.1: lines SHOULD stay within 78 */
#define DSN_LINE_MAX	998	/* ... and MUST within 998 */
#define DSN_WRAP	72	/* the text part's width */
#define DSN_WORD_MAX	900	/* a longer word is cut to fit DSN_LINE_MAX */
#define DSN_TMP_MAX	(64 * 1024)	/* scratch for one cleaned value or paragraph */

enum dsn_charset { DSN_ASCII, DSN_UTF8 };

static const char *const dsn_days[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char *const dsn_months[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};

/* RFC 5322 §3.3 date-time in local time, without the locale's say in the names. */
static void
dsn_date(time_t t, char *out, size_t outsz)
{
	struct tm tm;
	long off;
	char sign = '+';

	if (localtime_r(&t, &tm) == NULL) {
		t = 0;
		gmtime_r(&t, &tm);
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(out, outsz, "%s, %d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    dsn_days[tm.tm_wday % 7], tm.tm_mday, dsn_months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
}

/*
 * The length of the UTF-8 sequence at p[0..n) (1 for ASCII) and its code point, or 0
 * if it is not well-formed (RFC 3629: no overlong forms, surrogates or > U+10FFFF).
 */
static size_t
dsn_utf8_seq(const unsigned char *p, size_t n, unsigned long *cp_out)
{
	unsigned long cp;
	size_t len, i;

	if (p[0] < 0x80) {
		*cp_out = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return len;
}

/* The bytes of b, or "" for a buffer that has no storage yet (never NULL + 0). */
static const char *
dsn_head(const struct buf *b)
{
	return b->data != NULL ? buf_head(b) : "";
}

static bool
dsn_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Append s cleaned: whitespace runs become one space and none leads or trails, other
 * control characters '?'; non-ASCII characters are kept (DSN_UTF8, which sets
 * *eight_bit) or become one '?' each (DSN_ASCII), and bytes that are not UTF-8 '?'.
 * Past max octets of s, "..." ends it.
 */
static int
dsn_clean(struct buf *out, const char *s, size_t max, enum dsn_charset cs,
    bool *eight_bit)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, k;
	unsigned long cp;
	bool space = false, any = false;

	while (i < len) {
		if (i >= max)
			return buf_append_str(out, "...");
		if (dsn_is_space(p[i])) {
			space = true;
			i++;
			continue;
		}
		if (space && any && buf_append(out, " ", 1) == -1)
			return -1;
		space = false;
		any = true;
		if ((k = dsn_utf8_seq(p + i, len - i, &cp)) == 0) {
			k = 1;
			cp = 0xfffd;	/* not UTF-8: never copied */
		}
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0xfffd ||
		    (cp >= 0x80 && cs == DSN_ASCII)) {
			if (buf_append(out, "?", 1) == -1)
				return -1;
		} else {
			if (buf_append(out, p + i, k) == -1)
				return -1;
			if (cp >= 0x80)
				*eight_bit = true;
		}
		i += k;
	}
	return 0;
}

/*
 * An address as RFC 3464 address-type ";" address: "rfc822; a@b" for printable ASCII
 * without spaces, else RFC 6533's "utf-8;" utf-8-addr-xtext, the form that keeps
 * message/delivery-status 7-bit: "+", "=", "\", spaces, controls and every non-ASCII
 * character as \x{HEX} (a byte that is not UTF-8 as U+FFFD).
 */
static int
dsn_addr_typed(struct buf *out, const char *addr)
{
	const unsigned char *p = (const unsigned char *)addr;
	size_t len = strlen(addr), i, k;
	unsigned long cp;
	bool plain = true;

	for (i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			plain = false;
	if (plain) {
		if (buf_append_str(out, "rfc822; ") == -1)
			return -1;
		if (len > DSN_ADDR_MAX)
			return buf_append(out, addr, DSN_ADDR_MAX) == -1 ? -1 :
			    buf_append_str(out, "...");
		return buf_append(out, addr, len);
	}
	if (buf_append_str(out, "utf-8; ") == -1)
		return -1;
	for (i = 0; i < len; i += k) {
		if (i >= DSN_ADDR_MAX)
			return buf_append_str(out, "...");
		if ((k = dsn_utf8_seq(p + i, len - i, &cp)) == 0) {
			k = 1;
			cp = 0xfffd;
		}
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' && cp != '\\') {
			if (buf_append(out, p + i, 1) == -1)
				return -1;
		} else if (buf_printf(out, "\\x{%02lX}", cp) == -1)
			return -1;
	}
	return 0;
}

/*
 * "name: value" CRLF. value is clean (single spaces between words); it is folded
 * before a space once the line would pass DSN_FOLD (RFC 5322 §2.2.3, so unfolding
 * gives it back), and a word that alone would take a line past DSN_LINE_MAX is cut,
 * which only a pathological value has.
 */
static int
dsn_field(struct buf *out, const char *name, const char *v, size_t vlen)
{
	size_t first = strlen(name) + 1, col = first, i = 0, w, take;

	if (buf_printf(out, "%s:", name) == -1)
		return -1;
	while (i < vlen) {
		for (w = 0; i + w < vlen && v[i + w] != ' '; w++)
			;
		if (col > first && col + 1 + w > DSN_FOLD) {
			if (buf_append(out, "\r\n", 2) == -1)
				return -1;
			col = 0;
		}
		if (buf_append(out, " ", 1) == -1)
			return -1;
		col++;
		while (w > 0) {
			take = w < DSN_LINE_MAX - col ? w : DSN_LINE_MAX - col;
			if (buf_append(out, v + i, take) == -1)
				return -1;
			i += take;
			w -= take;
			col += take;
			if (w > 0) {
				if (buf_append(out, "\r\n ", 3) == -1)
					return -1;
				col = 1;
			}
		}
		i++;	/* the space after the word */
	}
	return buf_append(out, "\r\n", 2);
}

/* A field whose value is printf-formatted, then cleaned (7-bit) and folded. */
static int
dsn_fieldf(struct buf *out, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
dsn_fieldf(struct buf *out, const char *name, const char *fmt, ...)
{
	struct buf raw, val;
	va_list ap;
	bool eight = false;
	int rc;

	buf_init(&raw, DSN_TMP_MAX);
	buf_init(&val, DSN_TMP_MAX);
	va_start(ap, fmt);
	rc = buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	if (rc == 0 && (buf_append(&raw, "", 1) == -1 ||
	    dsn_clean(&val, dsn_head(&raw), buf_unread(&raw), DSN_ASCII, &eight) == -1))
		rc = -1;
	if (rc == 0)
		rc = dsn_field(out, name, dsn_head(&val), buf_unread(&val));
	buf_clear(&raw);
	buf_clear(&val);
	return rc;
}

/*
 * Append text[0..len) (clean: single spaces) wrapped at DSN_WRAP, continuation lines
 * indented by indent, then CRLF. A word over DSN_WORD_MAX is cut at a character
 * boundary so no line passes DSN_LINE_MAX.
 */
static int
dsn_wrap(struct buf *out, const char *text, size_t len, const char *indent)
{
	size_t ind = strlen(indent), col = 0, i = 0, w, take;

	while (i < len) {
		for (w = 0; i + w < len && text[i + w] != ' '; w++)
			;
		if (col > 0 && col + 1 + w > DSN_WRAP) {
			if (buf_append(out, "\r\n", 2) == -1 ||
			    buf_append(out, indent, ind) == -1)
				return -1;
			col = ind;
		} else if (col > 0) {
			if (buf_append(out, " ", 1) == -1)
				return -1;
			col++;
		}
		while (w > 0) {
			take = w;
			if (take > DSN_WORD_MAX) {
				take = DSN_WORD_MAX;
				while (take > 1 && ((unsigned char)text[i + take] & 0xc0) == 0x80)
					take--;
			}
			if (buf_append(out, text + i, take) == -1)
				return -1;
			i += take;
			w -= take;
			col += take;
			if (w > 0) {
				if (buf_append(out, "\r\n", 2) == -1 ||
				    buf_append(out, indent, ind) == -1)
					return -1;
				col = ind;
			}
		}
		i++;
	}
	return buf_append(out, "\r\n", 2);
}

/* A printf-formatted paragraph of our own words (and cleaned values), wrapped. */
static int
dsn_para(struct buf *out, const char *indent, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
dsn_para(struct buf *out, const char *indent, const char *fmt, ...)
{
	struct buf t;
	va_list ap;
	int rc;

	buf_init(&t, DSN_TMP_MAX);
	va_start(ap, fmt);
	rc = buf_vprintf(&t, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = dsn_wrap(out, dsn_head(&t), buf_unread(&t), indent);
	buf_clear(&t);
	return rc;
}

/*
 * A status as reported: the caller's if it is valid, with class 4 for a delay (RFC
 * 3464 §2.3.3: delayed is transient by definition) and never class 2 for a failure;
 * else X.0.0 ("other or undefined", RFC 3463 §3.1).
 */
static void
dsn_status_fix(const char *s, enum dsn_action a, char *out, size_t outsz)
{
	if (s == NULL || !dsn_status_valid(s)) {
		snprintf(out, outsz, "%s", a == DSN_DELAYED ? "4.0.0" : "5.0.0");
		return;
	}
	snprintf(out, outsz, "%s", s);
	if (a == DSN_DELAYED)
		out[0] = '4';
	else if (out[0] == '2')
		out[0] = '5';
}

/* What a status means, for a person, when there is no diagnostic text. */
static const char *
dsn_status_text(const char *status, enum dsn_action a)
{
	static const struct {
		const char *code;	/* subject.detail */
		const char *text;
	} t[] = {
		{ "1.1", "the mailbox does not exist" },
		{ "1.2", "the recipient's domain does not exist" },
		{ "1.10", "the recipient's domain accepts no mail (null MX)" },
		{ "2.2", "the mailbox is full" },
		{ "3.4", "the message is too big" },
		{ "4.1", "the receiving server did not answer" },
		{ "4.2", "the connection failed or timed out" },
		{ "4.3", "the domain name service failed" },
		{ "4.4", "there is no route to the recipient's domain" },
		{ "4.6", "a mail loop was found" },
		{ "4.7", "the message was in the queue for too long" },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(status + 2, t[i].code) == 0)
			return t[i].text;
	return a == DSN_DELAYED ? "delivery was deferred" : "delivery failed";
}

/* One recipient's entry of the text part: a blank line, "<addr>: reason" wrapped. */
static int
dsn_text_rcpt(struct buf *out, const struct dsn_rcpt *r, bool *eight_bit)
{
	struct buf addr, why, host;
	char status[DSN_STATUS_SIZE];
	int rc = -1;

	buf_init(&addr, DSN_TMP_MAX);
	buf_init(&why, DSN_TMP_MAX);
	buf_init(&host, DSN_TMP_MAX);
	dsn_status_fix(r->status, r->action, status, sizeof(status));
	if (dsn_clean(&addr, r->addr, DSN_ADDR_MAX, DSN_UTF8, eight_bit) == -1 ||
	    buf_append(&addr, "", 1) == -1)
		goto done;
	if (r->remote_mta != NULL && (dsn_clean(&host, r->remote_mta, 255, DSN_UTF8,
	    eight_bit) == -1 || buf_append(&host, "", 1) == -1))
		goto done;
	if (r->diagnostic != NULL &&
	    (dsn_clean(&why, r->diagnostic, DSN_DIAG_MAX, DSN_UTF8, eight_bit) == -1 ||
	    buf_append(&why, "", 1) == -1))
		goto done;
	if (buf_append(out, "\r\n", 2) == -1)
		goto done;
	if (r->diagnostic != NULL && r->remote_reply)
		rc = dsn_para(out, "    ", "<%s>: %s%s said: %s", dsn_head(&addr),
		    r->remote_mta != NULL ? "host " : "the receiving server",
		    r->remote_mta != NULL ? dsn_head(&host) : "", dsn_head(&why));
	else if (r->diagnostic != NULL)
		rc = dsn_para(out, "    ", "<%s>: %s%s%s%s", dsn_head(&addr),
		    r->remote_mta != NULL ? "host " : "",
		    r->remote_mta != NULL ? dsn_head(&host) : "",
		    r->remote_mta != NULL ? ": " : "", dsn_head(&why));
	else
		rc = dsn_para(out, "    ", "<%s>: %s (status %s)", dsn_head(&addr),
		    dsn_status_text(status, r->action), status);
done:
	buf_clear(&addr);
	buf_clear(&why);
	buf_clear(&host);
	return rc;
}

/* The text/plain part's body, for a person: what happened and each recipient's why. */
static int
dsn_text(struct buf *out, const struct dsn_msg *m, const struct dsn_rcpt *r, size_t n,
    const char *host, bool truncated, size_t hlen, bool *eight_bit)
{
	char until[64], arrival[64];
	struct buf qid;
	size_t i, nfailed = 0;
	int rc = -1;

	for (i = 0; i < n; i++)
		if (r[i].action == DSN_FAILED)
			nfailed++;
	if (m->will_retry_until != 0)
		dsn_date(m->will_retry_until, until, sizeof(until));
	else
		snprintf(until, sizeof(until), "its time in the queue is over");
	buf_init(&qid, DSN_TMP_MAX);
	if (dsn_clean(&qid, m->queue_id != NULL ? m->queue_id : "", 255, DSN_ASCII,
	    eight_bit) == -1 || buf_append(&qid, "", 1) == -1)
		goto done;

	/* Each paragraph after the first is preceded by its blank line. */
	if (dsn_para(out, "", "This is the mail system at host %s.", host) == -1 ||
	    buf_append(out, "\r\n", 2) == -1)
		goto done;
	if (nfailed == n) {
		if (dsn_para(out, "", "Your message could not be delivered to the "
		    "recipients below, and it will not be tried again. The reasons "
		    "follow; the header of your message is attached.") == -1)
			goto done;
	} else if (nfailed == 0) {
		if (dsn_para(out, "", "THIS IS A WARNING ONLY. You do not need to send "
		    "your message again.") == -1 || buf_append(out, "\r\n", 2) == -1 ||
		    dsn_para(out, "", "Your message has not been delivered yet to the "
		    "recipients below. It will be tried again until %s; if it still "
		    "cannot be delivered by then, you will get another report. The "
		    "reasons follow; the header of your message is attached.",
		    until) == -1)
			goto done;
	} else if (dsn_para(out, "", "Your message could not be delivered to some of "
	    "its recipients, and it will not be tried again for them. Delivery to the "
	    "others is still being tried, until %s: you do not need to send your "
	    "message again for them. The reasons follow; the header of your message "
	    "is attached.", until) == -1)
		goto done;
	if (m->arrival != 0) {
		dsn_date(m->arrival, arrival, sizeof(arrival));
		if (buf_append(out, "\r\n", 2) == -1 ||
		    dsn_para(out, "", "The message was queued on %s%s%s.", arrival,
		    dsn_head(&qid)[0] != '\0' ? " with the queue ID " : "",
		    dsn_head(&qid)) == -1)
			goto done;
	}
	if (truncated && (buf_append(out, "\r\n", 2) == -1 ||
	    dsn_para(out, "", "The header of your message is longer than %d octets: "
	    "only its first %zu octets, in whole lines, are attached.", DSN_HEADER_MAX,
	    hlen) == -1))
		goto done;

	if (nfailed > 0 && nfailed < n && buf_append_str(out,
	    "\r\nThese recipients will not get your message:\r\n") == -1)
		goto done;
	for (i = 0; i < n; i++)
		if (r[i].action == DSN_FAILED && dsn_text_rcpt(out, &r[i], eight_bit) == -1)
			goto done;
	if (nfailed > 0 && nfailed < n && buf_append_str(out,
	    "\r\nDelivery to these recipients is still being tried:\r\n") == -1)
		goto done;
	for (i = 0; i < n; i++)
		if (r[i].action == DSN_DELAYED && dsn_text_rcpt(out, &r[i], eight_bit) == -1)
			goto done;
	rc = 0;
done:
	buf_clear(&qid);
	return rc;
}

/* One per-recipient block of the delivery-status part (RFC 3464 §2.3). */
static int
dsn_status_rcpt(struct buf *out, const struct dsn_msg *m, const struct dsn_rcpt *r)
{
	struct buf v;
	char status[DSN_STATUS_SIZE], date[64];
	bool eight = false;
	int rc = -1;

	buf_init(&v, DSN_TMP_MAX);
	dsn_status_fix(r->status, r->action, status, sizeof(status));
	if (dsn_addr_typed(&v, r->addr) == -1 ||
	    dsn_field(out, "Final-Recipient", dsn_head(&v), buf_unread(&v)) == -1)
		goto done;
	if (buf_printf(out, "Action: %s\r\nStatus: %s\r\n",
	    r->action == DSN_FAILED ? "failed" : "delayed", status) == -1)
		goto done;
	if (r->remote_mta != NULL) {
		buf_reset(&v);
		if (buf_append_str(&v, "dns; ") == -1 ||
		    dsn_clean(&v, r->remote_mta, 255, DSN_ASCII, &eight) == -1 ||
		    dsn_field(out, "Remote-MTA", dsn_head(&v), buf_unread(&v)) == -1)
			goto done;
	}
	if (r->diagnostic != NULL) {
		/* §2.3.6: "smtp" only for an SMTP reply; ours is an X- type, as Postfix's. */
		buf_reset(&v);
		if (buf_append_str(&v, r->remote_reply ? "smtp; " : "X-Letterbox; ") == -1 ||
		    dsn_clean(&v, r->diagnostic, DSN_DIAG_MAX, DSN_ASCII, &eight) == -1 ||
		    dsn_field(out, "Diagnostic-Code", dsn_head(&v), buf_unread(&v)) == -1)
			goto done;
	}
	if (r->last_attempt != 0) {
		dsn_date(r->last_attempt, date, sizeof(date));
		if (buf_printf(out, "Last-Attempt-Date: %s\r\n", date) == -1)
			goto done;
	}
	if (r->action == DSN_DELAYED && m->will_retry_until != 0) {
		dsn_date(m->will_retry_until, date, sizeof(date));
		if (buf_printf(out, "Will-Retry-Until: %s\r\n", date) == -1)
			goto done;
	}
	rc = 0;
done:
	buf_clear(&v);
	return rc;
}

/* The message/delivery-status part's body: per-message fields, then per-recipient. */
static int
dsn_status_part(struct buf *out, const struct dsn_msg *m, const struct dsn_rcpt *r,
    size_t n, const char *host)
{
	struct buf v;
	char date[64];
	size_t i;
	int rc = -1;

	buf_init(&v, DSN_TMP_MAX);
	if (buf_printf(out, "Reporting-MTA: dns; %s\r\n", host) == -1)
		goto done;
	if (m->queue_id != NULL && m->queue_id[0] != '\0' &&
	    dsn_fieldf(out, "X-Letterbox-Queue-ID", "%.255s", m->queue_id) == -1)
		goto done;
	if (m->sender[0] != '\0' && (dsn_addr_typed(&v, m->sender) == -1 ||
	    dsn_field(out, "X-Letterbox-Sender", dsn_head(&v), buf_unread(&v)) == -1))
		goto done;
	if (m->arrival != 0) {
		dsn_date(m->arrival, date, sizeof(date));
		if (buf_printf(out, "Arrival-Date: %s\r\n", date) == -1)
			goto done;
	}
	for (i = 0; i < n; i++)
		if (buf_append(out, "\r\n", 2) == -1 || dsn_status_rcpt(out, m, &r[i]) == -1)
			goto done;
	rc = 0;
done:
	buf_clear(&v);
	return rc;
}

static bool
dsn_boundary_valid(const char *b)
{
	size_t i;

	for (i = 0; b[i] != '\0'; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' && b[i] <= 'Z') ||
		    (b[i] >= '0' && b[i] <= '9') || b[i] == '_' || b[i] == '=' || b[i] == '-'))
			return false;
	return i > 0 && i <= DSN_BOUNDARY_MAX;
}

int
dsn_format(struct buf *out, const struct dsn_msg *m, const struct dsn_rcpt *r,
    size_t n, const char *msg, size_t msglen, const char *boundary, time_t now)
{
	struct buf hdr, text, to;
	char date[64], stamp[32];
	const char *host;
	struct tm tm;
	size_t i, nfailed = 0;
	bool truncated, text8 = false, hdr8 = false, to8 = false;
	int rc = -1;

	if (m == NULL || m->sender == NULL || r == NULL || n == 0 || boundary == NULL ||
	    !dsn_boundary_valid(boundary) || (msg == NULL && msglen > 0)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (r[i].addr == NULL) {
			errno = EINVAL;
			return -1;
		}
		if (r[i].action == DSN_FAILED)
			nfailed++;
	}
	host = m->reporting_mta != NULL && util_is_hostname(m->reporting_mta) ?
	    m->reporting_mta : "localhost";
	buf_init(&hdr, DSN_HEADER_MAX);
	buf_init(&text, DSN_MSG_MAX);
	buf_init(&to, DSN_TMP_MAX);
	if (dsn_header_extract(&hdr, msg, msglen, DSN_HEADER_MAX, &truncated) == -1)
		goto done;
	for (i = 0; i < buf_unread(&hdr); i++)
		if ((unsigned char)dsn_head(&hdr)[i] >= 0x80)
			hdr8 = true;
	if (dsn_text(&text, m, r, n, host, truncated, buf_unread(&hdr), &text8) == -1)
		goto done;
	/* The owner's address is ours, not a stranger's: RFC 6532 UTF-8 may stay. */
	if (dsn_clean(&to, m->sender, DSN_ADDR_MAX, DSN_UTF8, &to8) == -1)
		goto done;

	dsn_date(now, date, sizeof(date));
	if (gmtime_r(&now, &tm) == NULL || strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S",
	    &tm) == 0)
		snprintf(stamp, sizeof(stamp), "0");
	if (buf_append_str(out, "Return-Path: <>\r\n") == -1 ||
	    buf_printf(out, "From: Mail Delivery System <MAILER-DAEMON@%s>\r\n", host) == -1)
		goto done;
	if (buf_unread(&to) == 0) {
		if (buf_append_str(out, "To: undisclosed-recipients:;\r\n") == -1)
			goto done;
	} else if (buf_append_str(out, "To: <") == -1 ||
	    buf_append(out, dsn_head(&to), buf_unread(&to)) == -1 ||
	    buf_append_str(out, ">\r\n") == -1)
		goto done;
	if (buf_printf(out, "Subject: %s\r\n", nfailed > 0 ?
	    "Undelivered Mail Returned to Sender" : "Delayed Mail (still being retried)") == -1 ||
	    buf_printf(out, "Date: %s\r\n", date) == -1 ||
	    buf_printf(out, "Message-ID: <%s.%s@%s>\r\n", stamp, boundary, host) == -1 ||
	    buf_append_str(out, "Auto-Submitted: auto-replied\r\n") == -1 ||
	    buf_append_str(out, "MIME-Version: 1.0\r\n") == -1 ||
	    buf_printf(out, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
	    "\tboundary=\"%s\"\r\n", boundary) == -1 ||
	    buf_append_str(out, "\r\nThis is a MIME-encapsulated message.\r\n") == -1)
		goto done;

	/* RFC 6522 §3: the text for a person, the report, then the returned header. */
	if (buf_printf(out, "\r\n--%s\r\nContent-Description: Notification\r\n"
	    "Content-Type: text/plain; charset=%s\r\n%s\r\n", boundary,
	    text8 ? "utf-8" : "us-ascii",
	    text8 ? "Content-Transfer-Encoding: 8bit\r\n" : "") == -1 ||
	    buf_append(out, dsn_head(&text), buf_unread(&text)) == -1)
		goto done;
	if (buf_printf(out, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
	    "Content-Type: message/delivery-status\r\n\r\n", boundary) == -1 ||
	    dsn_status_part(out, m, r, n, host) == -1)
		goto done;
	if (buf_printf(out, "\r\n--%s\r\nContent-Description: %s\r\n"
	    "Content-Type: text/rfc822-headers\r\n%s\r\n", boundary,
	    nfailed > 0 ? "Undelivered Message Headers" : "Delayed Message Headers",
	    hdr8 ? "Content-Transfer-Encoding: 8bit\r\n" : "") == -1 ||
	    buf_append(out, dsn_head(&hdr), buf_unread(&hdr)) == -1 ||
	    buf_printf(out, "\r\n--%s--\r\n", boundary) == -1)
		goto done;
	rc = 0;
done:
	buf_clear(&hdr);
	buf_clear(&text);
	buf_clear(&to);
	return rc;
}

/* One header line's content (no CR LF) with bare CR and NUL as spaces, then CRLF. */
static int
dsn_header_line(struct buf *out, const char *p, size_t len)
{
	size_t i;
	char *t;

	if (buf_reserve(out, len + 2) == -1)
		return -1;
	t = buf_tail(out);
	for (i = 0; i < len; i++)
		t[i] = p[i] == '\r' || p[i] == '\0' ? ' ' : p[i];
	t[len] = '\r';
	t[len + 1] = '\n';
	buf_commit(out, len + 2);
	return 0;
}

int
dsn_header_extract(struct buf *out, const char *msg, size_t len, size_t max_bytes,
    bool *truncated_out)
{
	bool is_all = len < max_bytes + 2, complete;
	size_t pos = 0, used = 0, content, next, cut;
	const char *nl;

	*truncated_out = false;
	if (!is_all)
		len = max_bytes + 2;
	while (pos < len) {
		nl = memchr(msg + pos, '\n', len - pos);
		if (nl != NULL) {
			next = (size_t)(nl - msg) + 1;
			content = (size_t)(nl - msg) - pos;
			if (content > 0 && msg[pos + content - 1] == '\r')
				content--;
			complete = true;
			if (content == 0)
				return 0;	/* the empty line: the header ends */
		} else {
			/* Up to EOF: the last line, unless more lies beyond what we see. */
			next = len;
			content = len - pos;
			complete = is_all;
		}
		if (!complete || content + 2 > max_bytes - used) {
			*truncated_out = true;
			if (used > 0)
				return 0;
			/* A first line too long alone: its start, not inside a character. */
			cut = max_bytes - 2;
			while (cut > 0 && ((unsigned char)msg[pos + cut] & 0xc0) == 0x80)
				cut--;
			return dsn_header_line(out, msg + pos, cut);
		}
		if (dsn_header_line(out, msg + pos, content) == -1)
			return -1;
		used += content + 2;
		pos = next;
	}
	return 0;
}

bool
dsn_status_valid(const char *s)
{
	size_t i, d;
	int part;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return false;
	i = 1;
	for (part = 0; part < 2; part++) {
		if (s[i++] != '.')
			return false;
		for (d = 0; s[i] >= '0' && s[i] <= '9'; d++, i++)
			if (d == 3)
				return false;
		if (d == 0)
			return false;
	}
	return s[i] == '\0';
}

const char *
dsn_status_from_reply(int code, const char *text, char *buf, size_t bufsz)
{
	char cls = code >= 200 && code < 600 && code / 100 != 3 ? (char)('0' + code / 100) :
	    '4';
	size_t n = 0;

	/* RFC 2034 §4: the enhanced code starts the text and a space follows it. */
	if (text != NULL) {
		while (n < DSN_STATUS_SIZE - 1 && text[n] != '\0' && text[n] != ' ' &&
		    text[n] != '\t' && text[n] != '\r' && text[n] != '\n')
			n++;
	}
	if (bufsz == 0)
		return buf;
	if (n > 0 && n < bufsz) {
		memcpy(buf, text, n);
		buf[n] = '\0';
		if (dsn_status_valid(buf) && (text[n] == '\0' || text[n] == ' ' ||
		    text[n] == '\t' || text[n] == '\r' || text[n] == '\n')) {
			/* RFC 3463 §2: the class must agree with the reply's. */
			buf[0] = cls;
			return buf;
		}
	}
	snprintf(buf, bufsz, "%c.0.0", cls);
	return buf;
}

int
dsn_deliver(struct maildir *md, const struct dsn_msg *m, const struct dsn_rcpt *r,
    size_t n, int fd, off_t off, char *name_out)
{
	struct maildir_delivery d;
	struct buf out;
	char boundary[48], rnd[33], *msg;
	size_t got = 0;
	ssize_t k;
	int saved, rc = -1;

	if ((msg = malloc(DSN_HEADER_READ)) == NULL)
		return -1;
	buf_init(&out, DSN_MSG_MAX);
	while (got < DSN_HEADER_READ) {
		k = pread(fd, msg + got, DSN_HEADER_READ - got, off + (off_t)got);
		if (k == -1 && errno == EINTR)
			continue;
		if (k == -1)
			goto done;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	/* 128 random bits: no data, the remote reply included, can guess it. */
	util_random_hex(rnd, 16);
	snprintf(boundary, sizeof(boundary), "lb-dsn-%s", rnd);
	if (dsn_format(&out, m, r, n, msg, got, boundary, time(NULL)) == -1)
		goto done;
	if (maildir_delivery_begin(md, &d) == -1)
		goto done;
	if (maildir_delivery_write(&d, dsn_head(&out), buf_unread(&out)) == -1) {
		saved = errno;
		maildir_delivery_abort(md, &d);
		errno = saved;
		goto done;
	}
	if (maildir_delivery_commit(md, &d, name_out) == -1)
		goto done;	/* commit has cleaned up */
	rc = 0;
done:
	saved = errno;
	free(msg);
	buf_clear(&out);
	errno = saved;
	return rc;
}
