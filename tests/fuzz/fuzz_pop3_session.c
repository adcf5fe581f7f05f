/*
 * fuzz_pop3_session: a whole POP3 session in process, bytes in -> replies out.
 *
 * pop3_session_serve() runs unchanged on one end of a socketpair, as in
 * fuzz_smtp_session: the input (at most SESSION_INPUT_MAX) is written into the other
 * end and its write side shut down before the session starts, a thread reads the
 * replies, nothing forks or exits, log lines are formatted and discarded. The peer is
 * 127.0.0.1 and plaintext_auth_loopback is on, so USER/PASS and AUTH work without TLS;
 * an input whose first byte is 0xff comes from 192.0.2.1 instead, where no login may
 * work (the byte is sent too: it only spoils the first command).
 *
 * The Maildir is real (a temp directory, on /dev/shm when there is one) and holds
 * NFIX messages made at start-up (see fixtures[]): Letterbox CRLF files with ,S=,
 * Dovecot-style LF files with ,W= and flags, foreign files without a size (one with
 * NUL bytes and bare CRs, one without a delivery time), a base name over 70
 * characters, an empty message, one over RETR_READ (32 KiB) whose CRLF straddles the
 * read boundary and that has no empty line after its header, and a dot file and a
 * directory that are no messages. After a session that reached UPDATE they are made
 * again, so every input starts from the same Maildir.
 *
 * The auth process is replaced by fuzz_auth.h's thread: password "right" is AUTH_OK
 * for any user, "tempfail" and "throttled" give those answers, "short" a truncated
 * reply, anything else AUTH_FAIL; a request from any address but 127.0.0.1 aborts.
 *
 * The reply thread checks the reply stream against a model of the session, driven by
 * the input's lines as lib/line.c cuts them (taken beforehand with line_next, which
 * fuzz_line shows does not depend on how reads are cut):
 *   - one reply per line (a closing "-ERR Too many ..." may follow, then nothing), CRLF
 *     only, no NUL, "+OK", "-ERR" or a SASL "+ " continuation;
 *   - in the TRANSACTION state, the exact answer of STAT, LIST, UIDL, RETR, TOP,
 *     DELE, RSET, NOOP and QUIT from the fixtures and the deletions so far: sizes, the
 *     base name or "x-" hash UIDLs, the body as retr.c converts the file (the session
 *     reads it in 32 KiB pieces and flushes in 128 KiB ones), and "+OK" exactly when
 *     the message number is valid and not deleted;
 *   - a login only after the auth thread said AUTH_OK.
 * After the session, the Maildir must be as UPDATE leaves it: without QUIT nothing
 * changed; with it, the deleted messages are gone, the others are in cur/ with
 * ":2,<flags>" (S added in ASCII order once retrieved) and the same content.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_auth.h"
#include "tests/fuzz/fuzz_maildir.h"
#include "auth/auth.h"
#include "lib/buf.h"
#include "lib/cmdtab.h"
#include "lib/line.h"
#include "lib/log.h"
#include "lib/settings.h"
#include "maildir/maildir.h"
#include "pop3d/retr.h"
#include "pop3d/session.h"

#define SESSION_INPUT_MAX	(32 * 1024)
#define BIG_SIZE		33000
#define REPLY_LINE_MAX		1100

static const char session_conf[] =
	"hostname pop.example.org\n"
	"domains example.org\n"
	"maildir /nonexistent/see-fuzz_pop3_session.c\n"
	"smtp_listen 127.0.0.1:2525\n"
	"pop3_listen 127.0.0.1:1110\n"
	"plaintext_auth_loopback yes\n"
	"max_bad_commands 10\n"
	"pop3_idle_timeout 10s\n"
	"pop3_session_timeout 60s\n";

enum { SZ_NONE, SZ_S, SZ_SW };

/* NUL bytes, bare CRs (one at the very end), a dot line after a bare CR. */
#define NUL_MSG	"Subject: nul\r\n\r\na\0b\rc\r\n\0\r\n.\rx\r\n\r"

/* The messages, in the order the maildrop numbers them: delivery time, then name. */
static const struct fixture_def {
	const char	*dir;
	const char	*prefix;	/* base name before the size fields */
	int		 sizes;		/* which of ,S= ,W= the name carries */
	const char	*info;		/* ":2,<flags>" or "" */
	const char	*data;		/* NULL: the big message */
	size_t		 len;
} fixture_defs[] = {
	/* No delivery time: sorts first. LF only, no size: counted. */
	{ "cur", "mutt-export-1", SZ_NONE, ":2,S",
	  "From: a@example.org\nSubject: lf only\n\n.dot line\n.\n"
	  "last line without LF", 0 },
	{ "new", "1700000000.M1P100R1.mx.example.org", SZ_S, "",
	  "Received: x\r\nSubject: crlf\r\n\r\n.leading dot\r\n.\r\n..\r\nend\r\n", 0 },
	/* NUL bytes and bare CRs; same second, later microsecond. */
	{ "new", "1700000000.M2P100R2.mx.example.org", SZ_NONE, "",
	  NUL_MSG, sizeof(NUL_MSG) - 1 },
	{ "cur", "1700000100.M5P7Q3.other.host", SZ_SW, ":2,FT",
	  "Subject: dovecot\n\nbody\n\n", 0 },
	{ "cur", "1700000200.M123456P99999R0123456789abcdef0123456789abcdef."
	  "a-very-long-host-name.example.org", SZ_S, ":2,a",
	  "Subject: long name\r\n\r\nx\r\n", 0 },
	{ "new", "1700000300.M1P1R1.mx.example.org", SZ_S, "", NULL, BIG_SIZE },
	{ "new", "1700000400.M1P1R1.mx.example.org", SZ_S, "", "", 0 },
	{ "cur", "1700000500.M1P1R1.mx.example.org", SZ_S, ":2,S",
	  "Subject: seen\r\n\r\nx\r\n", 0 },
	{ "new", "1700000500.M1P1R2.mx.example.org", SZ_S, "",
	  "Subject: last\r\n\r\n1\r\n2\r\n3\r\n", 0 },
};
#define NFIX	(sizeof(fixture_defs) / sizeof(fixture_defs[0]))

struct fixture {
	const struct fixture_def *def;
	char		*data;
	size_t		 len;
	char		 base[MAILDIR_NAME_MAX + 1];
	char		 name[MAILDIR_NAME_MAX + 1];
	uint64_t	 size;		/* what LIST says */
	char		 uidl[MAILDROP_UIDL_MAX + 1];
	char		*retr;		/* the RETR body, ".\r\n" included */
	size_t		 retrlen;
	unsigned long	 nbody;		/* body lines (TOP with as many = RETR) */
};

static struct settings cfg;
static struct maildir md;
static struct pop3_server srv;
static struct fixture fix[NFIX];
static char mddir[64];
static int ready;

/* ---- the Maildir ---- */

static void
make_big(struct fixture *f)
{
	size_t o = 0, n;
	char *p;

	if ((p = f->data = malloc(BIG_SIZE)) == NULL)
		abort();
	/* 100-byte header lines, every fifth one starting with a dot, up to ~32700. */
	for (n = 0; o + 100 <= 32700; n++) {
		memset(p + o, n % 5 == 0 ? '.' : 'h', 98);
		memcpy(p + o, n % 5 == 0 ? ".X-Dot:" : "X-Filler:", n % 5 == 0 ? 7 : 9);
		p[o + 98] = '\r';
		p[o + 99] = '\n';
		o += 100;
	}
	/* A line whose CR is the last byte of the first 32 KiB read and LF the first of
	 * the next; then a dot line at the start of the second read's first line. */
	memset(p + o, 'y', 32767 - o);
	o = 32767;
	p[o++] = '\r';
	p[o++] = '\n';
	while (o < BIG_SIZE) {
		p[o++] = '.';
		n = BIG_SIZE - o < 50 ? BIG_SIZE - o : 50;
		memset(p + o, 'z', n);
		o += n;
		if (o + 2 <= BIG_SIZE) {
			p[o - 2] = '\r';
			p[o - 1] = '\n';
		}
	}
	f->len = BIG_SIZE;
}

/* The body retr.c makes of f with `lines` body lines (-1: all): malloc'ed. */
static char *
convert(const struct fixture *f, long lines, size_t *len)
{
	struct retr_state st;
	char *out;
	size_t o;

	if ((out = malloc(RETR_OUT_MAX(f->len) + 16)) == NULL)
		abort();
	retr_init(&st, lines);
	o = retr_convert(&st, (const unsigned char *)f->data, f->len, out);
	o += retr_finish(&st, out + o);
	*len = o;
	return out;
}

static void
fixtures_init(void)
{
	unsigned char h[16];
	uint64_t crlf;
	size_t i, k;
	struct fixture *f;
	const char *p;

	for (i = 0; i < NFIX; i++) {
		f = &fix[i];
		f->def = &fixture_defs[i];
		if (f->def->data == NULL)
			make_big(f);
		else {
			f->len = f->def->len ? f->def->len : strlen(f->def->data);
			if ((f->data = malloc(f->len + 1)) == NULL)
				abort();
			memcpy(f->data, f->def->data, f->len);
		}
		/* CRLF octets: every LF not after a CR becomes two bytes. */
		crlf = f->len;
		for (k = 0; k < f->len; k++)
			if (f->data[k] == '\n' && (k == 0 || f->data[k - 1] != '\r'))
				crlf++;
		switch (f->def->sizes) {
		case SZ_NONE:
			snprintf(f->base, sizeof(f->base), "%s", f->def->prefix);
			break;
		case SZ_S:
			snprintf(f->base, sizeof(f->base), "%s,S=%zu", f->def->prefix,
			    f->len);
			break;
		default:
			snprintf(f->base, sizeof(f->base), "%s,S=%zu,W=%llu", f->def->prefix,
			    f->len, (unsigned long long)crlf);
			break;
		}
		snprintf(f->name, sizeof(f->name), "%s%s", f->base, f->def->info);
		f->size = f->def->sizes == SZ_S ? f->len : crlf;
		if (strlen(f->base) <= MAILDROP_UIDL_MAX)
			snprintf(f->uidl, sizeof(f->uidl), "%s", f->base);
		else {
			/* maildrop.h: "x-", 16 bytes of BLAKE2b of the base name in hex. */
			crypto_generichash(h, sizeof(h), (const unsigned char *)f->base,
			    strlen(f->base), NULL, 0);
			f->uidl[0] = 'x';
			f->uidl[1] = '-';
			for (k = 0; k < sizeof(h); k++)
				snprintf(f->uidl + 2 + 2 * k, 3, "%02x", h[k]);
		}
		f->retr = convert(f, -1, &f->retrlen);
		/*
		 * Body lines: the CRLFs after the first empty line (every CR LF in the output
		 * ends a line), but the one of ".\r\n".
		 */
		if (f->retrlen >= 2 && memcmp(f->retr, "\r\n", 2) == 0)
			k = 2;
		else if ((p = memmem(f->retr, f->retrlen, "\r\n\r\n", 4)) != NULL)
			k = (size_t)(p - f->retr) + 4;
		else
			abort();	/* retr.c always ends the header */
		for (f->nbody = 0; k + 1 < f->retrlen; k++)
			f->nbody += f->retr[k] == '\r' && f->retr[k + 1] == '\n';
		f->nbody--;
	}
}

static void
write_file(int dfd, const char *name, const char *data, size_t len)
{
	int fd;

	if ((fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) == -1 ||
	    (len > 0 && write(fd, data, len) != (ssize_t)len))
		abort();
	close(fd);
}

/* Remove every entry of dir but dot files and directories. */
static void
fixtures_write(void)
{
	size_t i;

	fuzz_empty_dir(md.dfd_new);
	fuzz_empty_dir(md.dfd_cur);
	for (i = 0; i < NFIX; i++)
		write_file(strcmp(fix[i].def->dir, "cur") == 0 ? md.dfd_cur : md.dfd_new,
		    fix[i].name, fix[i].data, fix[i].len);
}

static void
cleanup(void)
{
	if (!ready)
		return;
	unlinkat(md.dfd_new, ".hidden-dotfile", 0);
	unlinkat(md.dfd_cur, "subdir", AT_REMOVEDIR);
	unlinkat(md.dfd_root, MAILDROP_LOCK, 0);
	fuzz_maildir_remove(&md, mddir);
	settings_free(&cfg);
	ready = 0;
}

static void
setup(void)
{
	char err[256];
	struct stat st;

	if (ready)
		return;
	log_init("fuzz_pop3_session", 1, 1);
	log_discard(1);
	if (sodium_init() == -1 || settings_parse(&cfg, session_conf,
	    sizeof(session_conf) - 1, "fuzz", err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_pop3_session: %s\n", err);
		abort();
	}
	snprintf(mddir, sizeof(mddir), "%s/lb-fuzz-pop3-XXXXXX",
	    stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp");
	if (mkdtemp(mddir) == NULL ||
	    maildir_open(&md, mddir, cfg.hostname, (uid_t)-1, (gid_t)-1) == -1) {
		perror("fuzz_pop3_session: maildir");
		abort();
	}
	fixtures_init();
	fixtures_write();
	/* Not messages: a dot file in new/ and a directory in cur/. */
	write_file(md.dfd_new, ".hidden-dotfile", "x", 1);
	if (mkdirat(md.dfd_cur, "subdir", 0700) == -1)
		abort();
	srv.cfg = &cfg;
	srv.tls = NULL;
	srv.md = &md;
	srv.auth_fd = fuzz_auth_start("pop3", "127.0.0.1");
	ready = 1;
	atexit(cleanup);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

/* ---- the model of the session, fed with the replies ---- */

struct ev {
	int	 st;		/* enum line_status */
	char	*line;		/* LINE_OK: the line (NUL-terminated, in the copy) */
};

enum mode { M_STATUS, M_LINES, M_BYTES };

struct model {
	int		 fd;
	struct ev	*ev;
	size_t		 nev, next;	/* input lines; the next to be answered */
	bool		 loopback;	/* the peer may log in without TLS */
	bool		 greeted, trans, sasl_pending, ended, update;
	bool		 deleted[NFIX], retrieved[NFIX];
	unsigned	 logins;
	enum mode	 mode;
	char		 line[REPLY_LINE_MAX];	/* the reply line being read */
	size_t		 len;
	const char	*expect;	/* M_BYTES: the bytes still to come */
	size_t		 elen, epos;
	char		*owned;		/* expect, when malloc'ed */
};

static void
expect_bytes(struct model *m, const char *p, size_t n, char *owned)
{
	m->mode = M_BYTES;
	m->expect = p;
	m->elen = n;
	m->epos = 0;
	m->owned = owned;
}

/* cmd_mail.c's message number: digits only, 1..NFIX, not deleted. Index or -1. */
static long
msg_number(const struct model *m, const char *arg)
{
	unsigned long n = 0;
	const char *p;

	if (*arg == '\0')
		return -1;
	for (p = arg; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > (ULONG_MAX - (unsigned long)(*p - '0')) / 10)
			return -1;
		n = n * 10 + (unsigned long)(*p - '0');
	}
	if (n == 0 || n > NFIX || m->deleted[n - 1])
		return -1;
	return (long)n - 1;
}

static bool
is_err(const char *r)
{
	return strncmp(r, "-ERR", 4) == 0 && (r[4] == '\0' || r[4] == ' ');
}

/* The full multi-line LIST or UIDL listing: malloc'ed. */
static char *
listing(const struct model *m, bool uidl, size_t *len)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1 << 20);
	for (i = 0; i < NFIX; i++) {
		if (m->deleted[i])
			continue;
		if (uidl)
			buf_printf(&b, "%zu %s\r\n", i + 1, fix[i].uidl);
		else
			buf_printf(&b, "%zu %llu\r\n", i + 1,
			    (unsigned long long)fix[i].size);
	}
	if (buf_append(&b, ".\r\n", 3) == -1)
		abort();
	*len = b.len;
	return b.data;
}

static unsigned
ndeleted(const struct model *m)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < NFIX; i++)
		n += m->deleted[i];
	return n;
}

/* A command in the TRANSACTION state and its reply r. */
static void
model_transaction(struct model *m, const char *verb, const char *args, const char *r)
{
	char want[REPLY_LINE_MAX], *sp, *body;
	unsigned long long total = 0;
	unsigned long lines;
	size_t i, n;
	long k;
	bool ok;

	want[0] = '\0';
	if (strcasecmp(verb, "STAT") == 0 && *args == '\0') {
		for (i = 0; i < NFIX; i++)
			total += m->deleted[i] ? 0 : fix[i].size;
		snprintf(want, sizeof(want), "+OK %u %llu", (unsigned)NFIX - ndeleted(m),
		    total);
	} else if ((strcasecmp(verb, "LIST") == 0 || strcasecmp(verb, "UIDL") == 0)) {
		bool uidl = strcasecmp(verb, "UIDL") == 0;

		if (*args == '\0') {
			if (strcmp(r, "+OK") != 0)
				abort();
			body = listing(m, uidl, &n);
			expect_bytes(m, body, n, body);
			return;
		}
		if ((k = msg_number(m, args)) == -1) {
			if (!is_err(r))
				abort();
			return;
		}
		if (uidl)
			snprintf(want, sizeof(want), "+OK %ld %s", k + 1, fix[k].uidl);
		else
			snprintf(want, sizeof(want), "+OK %ld %llu", k + 1,
			    (unsigned long long)fix[k].size);
	} else if (strcasecmp(verb, "RETR") == 0 || strcasecmp(verb, "TOP") == 0) {
		bool top = strcasecmp(verb, "TOP") == 0;
		char num[REPLY_LINE_MAX];

		snprintf(num, sizeof(num), "%s", args);
		ok = true;
		lines = 0;
		if (top) {
			/* "TOP msg n": n digits only, within unsigned long. */
			if ((sp = strchr(num, ' ')) == NULL)
				ok = false;
			else {
				*sp++ = '\0';
				if (*sp == '\0' || strspn(sp, "0123456789") != strlen(sp))
					ok = false;
				else {
					errno = 0;
					lines = strtoul(sp, NULL, 10);
					ok = errno == 0;
				}
			}
		}
		if (!ok || (k = msg_number(m, num)) == -1) {
			if (!is_err(r))
				abort();
			return;
		}
		snprintf(want, sizeof(want), "+OK %llu octets",
		    (unsigned long long)fix[k].size);
		if (strcmp(r, want) != 0)
			abort();
		if (!top) {
			m->retrieved[k] = true;
			expect_bytes(m, fix[k].retr, fix[k].retrlen, NULL);
		} else if (lines >= fix[k].nbody) {
			/* The whole body: the RETR bytes (saves converting 33 KB again). */
			expect_bytes(m, fix[k].retr, fix[k].retrlen, NULL);
		} else {
			body = convert(&fix[k], (long)lines, &n);
			expect_bytes(m, body, n, body);
		}
		return;
	} else if (strcasecmp(verb, "DELE") == 0) {
		if ((k = msg_number(m, args)) == -1) {
			if (!is_err(r))
				abort();
			return;
		}
		m->deleted[k] = true;
		snprintf(want, sizeof(want), "+OK Marked to be deleted.");
	} else if (strcasecmp(verb, "RSET") == 0 && *args == '\0') {
		memset(m->deleted, 0, sizeof(m->deleted));
		snprintf(want, sizeof(want), "+OK %u messages.", (unsigned)NFIX);
	} else if (strcasecmp(verb, "NOOP") == 0 && *args == '\0') {
		snprintf(want, sizeof(want), "+OK");
	} else if (strcasecmp(verb, "QUIT") == 0 && *args == '\0') {
		snprintf(want, sizeof(want), "+OK Logging out, %u messages deleted.",
		    ndeleted(m));
		m->update = true;
		m->ended = true;
	} else if (strcasecmp(verb, "CAPA") == 0 && *args == '\0') {
		if (strcmp(r, "+OK Capability list follows.") != 0)
			abort();
		m->mode = M_LINES;
		return;
	}
	if (want[0] == '\0') {
		/* Anything else: unknown, not in this state, or bad arguments. */
		if (!is_err(r))
			abort();
		return;
	}
	if (strcmp(r, want) != 0)
		abort();
}

/* A command in the AUTHORIZATION state and its reply r. */
static void
model_authorization(struct model *m, const char *verb, const char *args, const char *r)
{
	static const char *const trans_only[] = {
		"DELE", "LIST", "RETR", "RSET", "STAT", "TOP", "UIDL",
	};
	size_t i;

	if (is_err(r))
		return;		/* any command may fail here */
	for (i = 0; i < sizeof(trans_only) / sizeof(trans_only[0]); i++)
		if (strcasecmp(verb, trans_only[i]) == 0)
			abort();	/* "-ERR Log in first." */
	if (strcasecmp(verb, "CAPA") == 0 && *args == '\0' &&
	    strcmp(r, "+OK Capability list follows.") == 0)
		m->mode = M_LINES;
	else if (strcasecmp(verb, "NOOP") == 0 && *args == '\0' && strcmp(r, "+OK") == 0)
		;
	else if (strcasecmp(verb, "QUIT") == 0 && *args == '\0' &&
	    strcmp(r, "+OK Logging out.") == 0)
		m->ended = true;
	else if (strcasecmp(verb, "USER") == 0 && *args != '\0' && strcmp(r, "+OK") == 0 &&
	    m->loopback)
		;
	else if (strcasecmp(verb, "AUTH") == 0 && *args == '\0' && strcmp(r, "+OK") == 0 &&
	    m->loopback)
		expect_bytes(m, "PLAIN\r\nLOGIN\r\n.\r\n", 17, NULL);
	else if (strcasecmp(verb, "AUTH") == 0 && strncmp(r, "+ ", 2) == 0 && m->loopback)
		m->sasl_pending = true;
	else if ((strcasecmp(verb, "AUTH") == 0 || strcasecmp(verb, "PASS") == 0) &&
	    strcmp(r, "+OK Logged in.") == 0) {
		if (++m->logins > atomic_load(&fuzz_auth_ok_given) || !m->loopback)
			abort();	/* logged in without the auth process's yes, or TLS */
		m->trans = true;
	} else
		abort();
}

/* One status line of a reply. */
static void
model_reply(struct model *m, const char *r)
{
	char verbuf[REPLY_LINE_MAX];
	const char *args;
	struct ev *e;
	size_t vlen;
	bool foreign;

	if (m->ended)
		abort();	/* nothing after the last reply */
	if (!m->greeted) {
		if (strcmp(r, "+OK Letterbox POP3 ready.") != 0)
			abort();
		m->greeted = true;
		return;
	}
	/* The closing line that follows the reply to the line that reached a limit. */
	if (strcmp(r, "-ERR Too many bad commands, closing connection.") == 0 ||
	    strcmp(r, "-ERR Too many failed logins, closing connection.") == 0) {
		if (m->next == 0)
			abort();
		m->ended = true;
		return;
	}
	if (m->next >= m->nev)
		abort();	/* a reply to no line */
	e = &m->ev[m->next++];
	if (e->st != LINE_OK) {
		/* Too long, bare CR or LF, NUL: refused, and a SASL exchange is over. */
		if (!is_err(r))
			abort();
		m->sasl_pending = false;
		return;
	}
	if (m->sasl_pending) {
		m->sasl_pending = false;
		if (strncmp(r, "+ ", 2) == 0)
			m->sasl_pending = true;
		else if (strcmp(r, "+OK Logged in.") == 0) {
			if (++m->logins > atomic_load(&fuzz_auth_ok_given) || !m->loopback)
				abort();
			m->trans = true;
		} else if (!is_err(r))
			abort();
		return;
	}
	/* As pop3_command splits it: the verb, one space, the arguments. */
	vlen = strcspn(e->line, " ");
	memcpy(verbuf, e->line, vlen < sizeof(verbuf) - 1 ? vlen : sizeof(verbuf) - 1);
	verbuf[vlen < sizeof(verbuf) - 1 ? vlen : sizeof(verbuf) - 1] = '\0';
	args = e->line + vlen;
	if (*args == ' ')
		args++;
	if (strcasecmp(verbuf, "PASS") != 0)
		while (*args == ' ')
			args++;
	/* Another protocol's line (an HTTP verb, a header field name) ends the session. */
	foreign = cmdtab_foreign_verb(e->line, vlen);
	if (foreign != (strcmp(r, "-ERR Not a POP3 command, closing connection.") == 0))
		abort();
	if (foreign) {
		m->ended = true;
		return;
	}
	if (m->trans)
		model_transaction(m, verbuf, args, r);
	else
		model_authorization(m, verbuf, args, r);
}

/* One reply line, CRLF removed. */
static void
model_line(struct model *m)
{
	size_t i;

	m->line[m->len] = '\0';
	for (i = 0; i < m->len; i++)
		if ((unsigned char)m->line[i] < ' ' || (unsigned char)m->line[i] == 0x7f)
			abort();	/* no controls in a status or CAPA line */
	if (m->mode == M_LINES) {
		if (strcmp(m->line, ".") == 0)
			m->mode = M_STATUS;
		else if (m->len == 0 || m->line[0] == '.')
			abort();
		/* Logins are not offered where they would be refused. */
		else if (!m->loopback && (strcmp(m->line, "USER") == 0 ||
		    strncmp(m->line, "SASL", 4) == 0))
			abort();
		return;
	}
	if (strncmp(m->line, "+OK", 3) != 0 && !is_err(m->line) &&
	    strncmp(m->line, "+ ", 2) != 0)
		abort();
	model_reply(m, m->line);
}

static void
model_bytes(struct model *m, const char *b, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (m->mode == M_BYTES) {
			k = m->elen - m->epos < n - i ? m->elen - m->epos : n - i;
			if (memcmp(b + i, m->expect + m->epos, k) != 0)
				abort();	/* not the body or listing it should be */
			m->epos += k;
			i += k - 1;
			if (m->epos == m->elen) {
				free(m->owned);
				m->owned = NULL;
				m->mode = M_STATUS;
			}
			continue;
		}
		if (b[i] == '\n') {
			if (m->len == 0 || m->line[m->len - 1] != '\r')
				abort();	/* replies end in CRLF */
			m->len--;
			model_line(m);
			m->len = 0;
		} else if (m->len < sizeof(m->line) - 1)
			m->line[m->len++] = b[i];
		else
			abort();	/* a reply line far too long */
	}
}

/* The client's reading side: read replies and run the model until the session closes. */
static void *
drain(void *arg)
{
	struct model *m = arg;
	char b[16384];
	ssize_t r;

	for (;;) {
		r = read(m->fd, b, sizeof(b));
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		model_bytes(m, b, (size_t)r);
	}
	if (m->len != 0 || m->mode != M_STATUS || !m->greeted)
		abort();	/* a reply cut short at close */
	/* Every line got its reply, unless the session ended on purpose. */
	if (!m->ended && m->next != m->nev)
		abort();
	return NULL;
}

/*
 * The input's lines, as the session's line reader will see them. b holds a copy of the
 * input; the LINE_OK lines point into it (line_next NUL-terminates them in place).
 */
static size_t
split_lines(struct buf *b, const uint8_t *data, size_t size, struct ev **out)
{
	struct line_reader lr;
	struct ev *ev = NULL, *nv;
	size_t n = 0, cap = 0, len;
	enum line_status st;
	char *line;

	buf_init(b, size + 1);
	if (buf_append(b, data, size) == -1)
		abort();
	line_reader_init(&lr, POP3_LINE_MAX);
	while ((st = line_next(&lr, b, &line, &len)) != LINE_MORE) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			if ((nv = realloc(ev, cap * sizeof(*ev))) == NULL)
				abort();
			ev = nv;
		}
		ev[n].st = st;
		ev[n].line = line;
		n++;
	}
	*out = ev;
	return n;
}

/* After the session: the Maildir is what UPDATE (or its absence) leaves. */
static void
check_maildir(const struct model *m)
{
	char want[MAILDIR_NAME_MAX + 8], got[BIG_SIZE + 1];
	const char *info;
	struct dirent *de;
	size_t i, o, nfiles = 0, nwant = 0;
	ssize_t r;
	DIR *dir;
	int fd, dfd, pass;

	for (i = 0; i < NFIX; i++) {
		if (!m->update) {
			snprintf(want, sizeof(want), "%s", fix[i].name);
			dfd = strcmp(fix[i].def->dir, "cur") == 0 ? md.dfd_cur : md.dfd_new;
		} else if (m->deleted[i]) {
			continue;
		} else {
			/* maildrop.h: kept ones end in cur/, Seen added in ASCII order. */
			info = fix[i].def->info[0] != '\0' ? fix[i].def->info + 3 : "";
			o = (size_t)snprintf(want, sizeof(want), "%s:2,", fix[i].base);
			if (m->retrieved[i] && strchr(info, 'S') == NULL) {
				for (; *info != '\0' && *info < 'S'; info++)
					want[o++] = *info;
				want[o++] = 'S';
			}
			snprintf(want + o, sizeof(want) - o, "%s", info);
			dfd = md.dfd_cur;
		}
		nwant++;
		if ((fd = openat(dfd, want, O_RDONLY | O_CLOEXEC)) == -1)
			abort();	/* a kept message lost or misnamed */
		if (m->update) {
			r = read(fd, got, sizeof(got));
			if (r != (ssize_t)fix[i].len ||
			    memcmp(got, fix[i].data, fix[i].len) != 0)
				abort();
		}
		close(fd);
	}
	/* Nothing else: deleted ones gone, nothing duplicated. */
	for (pass = 0; pass < 2; pass++) {
		dfd = pass == 0 ? md.dfd_new : md.dfd_cur;
		if ((fd = dup(dfd)) == -1 || (dir = fdopendir(fd)) == NULL)
			abort();
		rewinddir(dir);
		while ((de = readdir(dir)) != NULL)
			if (de->d_name[0] != '.' && de->d_type != DT_DIR)
				nfiles++;
		closedir(dir);
	}
	if (nfiles != nwant)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage peer;
	struct sockaddr_in *sin = (struct sockaddr_in *)&peer;
	struct model m;
	pthread_t th;
	struct buf copy;
	int sv[2], buflen = 4 * SESSION_INPUT_MAX;
	size_t off = 0;
	ssize_t w;

	if (size > SESSION_INPUT_MAX)
		return 0;
	setup();
	memset(&m, 0, sizeof(m));
	m.nev = split_lines(&copy, data, size, &m.ev);

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buflen, sizeof(buflen));
	while (off < size) {
		w = write(sv[1], data + off, size - off);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			abort();	/* the socket buffer could not take the input */
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	m.fd = sv[1];
	if (pthread_create(&th, NULL, drain, &m) != 0)
		abort();

	memset(&peer, 0, sizeof(peer));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(40000);
	m.loopback = size == 0 || data[0] != 0xff;
	sin->sin_addr.s_addr = htonl(m.loopback ? INADDR_LOOPBACK : 0xc0000201);
	pop3_session_serve(&srv, sv[0], false, &peer);	/* closes sv[0] */

	pthread_join(th, NULL);
	close(sv[1]);
	check_maildir(&m);
	if (m.update)
		fixtures_write();	/* the next input starts from the same Maildir */
	free(m.owned);
	free(m.ev);
	buf_clear(&copy);
	return 0;
}
