/*
 * cmd_mail: the TRANSACTION state (RFC 1939 §5, §7): STAT, LIST, UIDL, RETR, TOP,
 * DELE, RSET. Message numbers are 1-based in the protocol, 0-based in the maildrop.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "pop3d/retr.h"
#include "pop3d/session.h"

#define RETR_READ	32768

/* A decimal number, digits only: 0 .. max. false otherwise. */
static bool
parse_number(const char *p, unsigned long max, unsigned long *out)
{
	unsigned long n = 0;

	if (*p == '\0')
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (max - (unsigned long)(*p - '0')) / 10)
			return false;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	*out = n;
	return true;
}

/*
 * The message numbered by arg: its index in *idx. Replies -ERR and returns false for
 * a bad number, a message that does not exist or one marked deleted (RFC 1939 §5).
 */
static bool
msg_arg(struct pop3_session *s, const char *arg, size_t *idx)
{
	unsigned long n;

	if (!parse_number(arg, ULONG_MAX, &n) || n == 0 || n > s->drop.n) {
		pop3_reply(s, "-ERR No such message.");
		return false;
	}
	if (s->drop.msgs[n - 1].deleted) {
		pop3_reply(s, "-ERR Message is deleted.");
		return false;
	}
	*idx = n - 1;
	return true;
}

void
cmd_stat(struct pop3_session *s, char *args)
{
	(void)args;
	pop3_replyf(s, "+OK %zu %llu", s->drop.n - s->drop.ndeleted,
	    (unsigned long long)(s->drop.total_size - s->drop.deleted_size));
}

/* LIST and UIDL: one message, or every one not deleted (one space: clients.md). */
static void
list_or_uidl(struct pop3_session *s, char *args, bool uidl)
{
	char uid[MAILDROP_UIDL_MAX + 1], line[MAILDROP_UIDL_MAX + 48];
	size_t i;
	int n;

	if (*args != '\0') {
		if (!msg_arg(s, args, &i))
			return;
		if (uidl) {
			maildrop_uidl(&s->drop, i, uid);
			pop3_replyf(s, "+OK %zu %s", i + 1, uid);
		} else
			pop3_replyf(s, "+OK %zu %llu", i + 1,
			    (unsigned long long)s->drop.msgs[i].size);
		return;
	}
	pop3_reply(s, "+OK");
	for (i = 0; i < s->drop.n && !s->quit; i++) {
		if (s->drop.msgs[i].deleted)
			continue;
		if (uidl) {
			maildrop_uidl(&s->drop, i, uid);
			n = snprintf(line, sizeof(line), "%zu %s\r\n", i + 1, uid);
		} else
			n = snprintf(line, sizeof(line), "%zu %llu\r\n", i + 1,
			    (unsigned long long)s->drop.msgs[i].size);
		pop3_flush_some(s);
		pop3_write(s, line, (size_t)n);
	}
	pop3_reply(s, ".");
}

void
cmd_list(struct pop3_session *s, char *args)
{
	list_or_uidl(s, args, false);
}

void
cmd_uidl(struct pop3_session *s, char *args)
{
	list_or_uidl(s, args, true);
}

/*
 * Send message i: all of it (lines = -1) or its header and `lines` body lines. Once
 * "+OK" is out, a read error cannot be reported any more: the connection is closed
 * without the final ".", so the client never takes a partial message for whole.
 * true if the whole response was queued.
 */
static bool
send_message(struct pop3_session *s, size_t i, long lines)
{
	unsigned char in[RETR_READ];
	struct retr_state st;
	struct buf *out = &s->conn.out;
	ssize_t n = 0;
	int fd, e;

	if ((fd = maildrop_open(&s->drop, i)) == -1) {
		e = errno;	/* before logging, which may change it */
		log_warn("message %zu (%s)", i + 1, s->drop.msgs[i].name);
		pop3_reply(s, e == ENOENT ? "-ERR Message was removed by another program." :
		    "-ERR [SYS/TEMP] Cannot read the message.");
		return false;
	}
	pop3_replyf(s, "+OK %llu octets", (unsigned long long)s->drop.msgs[i].size);
	retr_init(&st, lines);
	while (!st.done && !s->quit) {
		if ((n = read(fd, in, sizeof(in))) <= 0)
			break;
		pop3_flush_some(s);
		/* No room: close rather than end a cut message with "." later. */
		if (!s->quit && buf_reserve(out, RETR_OUT_MAX((size_t)n)) == -1)
			s->quit = true;
		if (s->quit)
			break;
		buf_commit(out, retr_convert(&st, in, (size_t)n, buf_tail(out)));
	}
	if (n == -1) {
		log_warn("reading message %zu (%s); closing", i + 1, s->drop.msgs[i].name);
		s->quit = true;
	}
	close(fd);
	if (!s->quit && buf_reserve(out, 16) == -1)
		s->quit = true;
	if (s->quit)
		return false;
	buf_commit(out, retr_finish(&st, buf_tail(out)));
	return true;
}

void
cmd_retr(struct pop3_session *s, char *args)
{
	size_t i;

	if (!msg_arg(s, args, &i))
		return;
	/* Seen at UPDATE only if the client got it all (not after -ERR). */
	if (send_message(s, i, -1) && !s->drop.msgs[i].retrieved) {
		s->drop.msgs[i].retrieved = true;
		s->retrieved++;
	}
}

void
cmd_top(struct pop3_session *s, char *args)
{
	unsigned long lines;
	char *sp = strchr(args, ' ');
	size_t i;

	if (sp == NULL) {
		pop3_reply(s, "-ERR Usage: TOP message lines");
		pop3_bad_command(s);
		return;
	}
	*sp++ = '\0';
	if (!parse_number(sp, ULONG_MAX, &lines)) {
		pop3_reply(s, "-ERR Invalid number of lines.");
		pop3_bad_command(s);
		return;
	}
	if (!msg_arg(s, args, &i))
		return;
	send_message(s, i, lines > LONG_MAX ? LONG_MAX : (long)lines);
}

void
cmd_dele(struct pop3_session *s, char *args)
{
	size_t i;

	if (!msg_arg(s, args, &i))
		return;
	s->drop.msgs[i].deleted = true;
	s->drop.ndeleted++;
	s->drop.deleted_size += s->drop.msgs[i].size;
	pop3_reply(s, "+OK Marked to be deleted.");
}

void
cmd_rset(struct pop3_session *s, char *args)
{
	size_t i;

	(void)args;
	for (i = 0; i < s->drop.n; i++)
		s->drop.msgs[i].deleted = false;
	s->drop.ndeleted = 0;
	s->drop.deleted_size = 0;
	pop3_replyf(s, "+OK %zu messages.", s->drop.n);
}
