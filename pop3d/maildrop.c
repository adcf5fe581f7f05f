/*
 * maildrop: the locked message list of a POP3 session and its UPDATE (see maildrop.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>
#include <sodium.h>

#include "lib/log.h"
#include "maildir/scan.h"
#include "pop3d/maildrop.h"

struct load_ent {
	size_t		off;		/* name in the arena */
	uint16_t	baselen;
	bool		in_cur;
	uint64_t	sec;
	uint32_t	usec;
};

struct loader {
	struct load_ent	*e;
	size_t		 n, cap;
	char		*arena;
	size_t		 alen, acap;
	int		 err;
};

void
maildrop_init(struct maildrop *m, struct maildir *md)
{
	memset(m, 0, sizeof(*m));
	m->md = md;
	m->lock_fd = -1;
}

int
maildrop_lock(struct maildrop *m)
{
	int fd;

	fd = openat(m->md->dfd_root, MAILDROP_LOCK, O_RDWR | O_CREAT | O_CLOEXEC |
	    O_NOFOLLOW, 0600);
	if (fd == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		int e = errno;

		close(fd);
		if (e == EWOULDBLOCK)
			return 1;
		errno = e;
		return -1;
	}
	m->lock_fd = fd;
	return 0;
}

static int
load_one(const struct maildir_entry *de, void *arg)
{
	struct loader *l = arg;
	struct load_ent *x;
	size_t len = strlen(de->name) + 1;

	if (l->n == MAILDROP_MAX_MSGS) {
		l->err = EFBIG;
		return 1;
	}
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		struct load_ent *e = reallocarray(l->e, cap, sizeof(*l->e));

		if (e == NULL)
			goto nomem;
		l->e = e;
		l->cap = cap;
	}
	if (l->alen + len > l->acap) {
		size_t cap = l->acap ? l->acap : 16384;
		char *a;

		while (l->alen + len > cap)
			cap *= 2;
		if ((a = realloc(l->arena, cap)) == NULL)
			goto nomem;
		l->arena = a;
		l->acap = cap;
	}
	x = &l->e[l->n++];
	memset(x, 0, sizeof(*x));
	x->off = l->alen;
	x->baselen = (uint16_t)de->baselen;
	x->in_cur = de->in_cur;
	memcpy(l->arena + l->alen, de->name, len);
	l->alen += len;
	if (!maildir_name_time(de->name, &x->sec, &x->usec))
		x->sec = x->usec = 0;
	return 0;
nomem:
	l->err = ENOMEM;
	return 1;
}

/* Arrival order: the delivery time in the name, then the name (as the indexer does). */
static const char *sort_arena;

static int
load_cmp(const void *a, const void *b)
{
	const struct load_ent *x = a, *y = b;

	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	return strcmp(sort_arena + x->off, sort_arena + y->off);
}

/* CRLF size of a file named without ",W=" or ",S=": its bytes plus one per bare LF. */
static int
maildrop_count_size(struct maildrop *m, const struct pop3_msg *msg, uint64_t *out)
{
	char buf[65536];
	uint64_t size = 0;
	bool cr = false;
	ssize_t n, i;
	int fd;

	fd = openat(msg->in_cur ? m->md->dfd_cur : m->md->dfd_new, msg->name,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] == '\n' && !cr)
				size++;
			cr = buf[i] == '\r';
		}
		size += (uint64_t)n;
	}
	close(fd);
	if (n == -1)
		return -1;
	*out = size;
	return 0;
}

int
maildrop_load(struct maildrop *m)
{
	struct loader l;
	struct pop3_msg *msg;
	size_t i;

	memset(&l, 0, sizeof(l));
	if (maildir_scan(m->md, load_one, &l) != 0 || l.err != 0) {
		int e = l.err ? l.err : errno;

		free(l.e);
		free(l.arena);
		errno = e;
		return -1;
	}
	sort_arena = l.arena;
	if (l.n > 1)
		qsort(l.e, l.n, sizeof(l.e[0]), load_cmp);
	m->arena = l.arena;
	if ((m->msgs = calloc(l.n ? l.n : 1, sizeof(*m->msgs))) == NULL) {
		free(l.e);
		errno = ENOMEM;
		return -1;
	}
	m->n = 0;
	for (i = 0; i < l.n; i++) {
		msg = &m->msgs[m->n];
		msg->name = l.arena + l.e[i].off;
		msg->baselen = l.e[i].baselen;
		msg->in_cur = l.e[i].in_cur;
		if (!maildir_name_field(msg->name, msg->baselen, 'W', &msg->size) &&
		    !maildir_name_size(msg->name, msg->baselen, &msg->size) &&
		    maildrop_count_size(m, msg, &msg->size) == -1)
			continue;	/* gone since the scan: not part of this session */
		m->total_size += msg->size;
		m->n++;
	}
	free(l.e);
#ifdef __GLIBC__
	/*
	 * The loader's array and the arena's outgrown copies are free now but still
	 * resident: give them back, or an idle session of a 2,000-message maildrop holds
	 * ~150 KiB more than its list (bench/README.md, "POP3").
	 */
	malloc_trim(0);
#endif
	return 0;
}

struct find_arg {
	const char	*base;
	size_t		 baselen;
	char		*found;
};

static int
find_base(const struct maildir_entry *de, void *arg)
{
	struct find_arg *f = arg;

	if (!de->in_cur || de->baselen != f->baselen ||
	    memcmp(de->name, f->base, f->baselen) != 0)
		return 0;
	f->found = strdup(de->name);
	return 1;
}

/*
 * The file of msg is not where we saw it: another program (Dovecot) moved it to cur/
 * or changed its flags. Find it by base name. true and msg->name updated, or false.
 */
static bool
maildrop_refind(struct maildrop *m, struct pop3_msg *msg)
{
	struct find_arg f = { msg->name, msg->baselen, NULL };

	if (maildir_scan(m->md, find_base, &f) != 1 || f.found == NULL)
		return false;
	if (msg->name_owned)
		free(msg->name);
	msg->name = f.found;
	msg->name_owned = true;
	msg->in_cur = true;
	return true;
}

int
maildrop_open(struct maildrop *m, size_t i)
{
	struct pop3_msg *msg = &m->msgs[i];
	int fd, tries;

	for (tries = 0; tries < 2; tries++) {
		fd = openat(msg->in_cur ? m->md->dfd_cur : m->md->dfd_new, msg->name,
		    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd != -1 || errno != ENOENT)
			return fd;
		if (!maildrop_refind(m, msg))
			break;
	}
	errno = ENOENT;		/* removed: not whatever the scan left in errno */
	return -1;
}

void
maildrop_uidl(const struct maildrop *m, size_t i, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const struct pop3_msg *msg = &m->msgs[i];
	unsigned char h[16];
	size_t k;
	bool ok = msg->baselen >= 1 && msg->baselen <= MAILDROP_UIDL_MAX;

	for (k = 0; ok && k < msg->baselen; k++)
		ok = msg->name[k] >= 0x21 && msg->name[k] <= 0x7e;
	if (ok) {
		memcpy(out, msg->name, msg->baselen);
		out[msg->baselen] = '\0';
		return;
	}
	crypto_generichash(h, sizeof(h), (const unsigned char *)msg->name, msg->baselen,
	    NULL, 0);
	out[0] = 'x';
	out[1] = '-';
	for (k = 0; k < sizeof(h); k++) {
		out[2 + 2 * k] = hex[h[k] >> 4];
		out[3 + 2 * k] = hex[h[k] & 15];
	}
	out[2 + 2 * sizeof(h)] = '\0';
}

/* The cur/ name of msg with the Seen flag (maildir(5): flags in ASCII order). */
static void
seen_name(const struct pop3_msg *msg, char *out, size_t outsz)
{
	const char *info = msg->in_cur ? strstr(msg->name + msg->baselen, ":2,") : NULL;
	const char *f;
	size_t o;
	bool put = false;

	o = (size_t)snprintf(out, outsz, "%.*s:2,", (int)msg->baselen, msg->name);
	for (f = info ? info + 3 : ""; *f != '\0' && o + 2 < outsz; f++) {
		if (!put && *f > 'S') {
			out[o++] = 'S';
			put = true;
		}
		if (*f != 'S')
			out[o++] = *f;
		else
			put = true;
	}
	if (!put && o + 1 < outsz)
		out[o++] = 'S';
	out[o] = '\0';
}

int
maildrop_update(struct maildrop *m, unsigned *removed_out)
{
	char name[MAILDIR_NAME_MAX + 8];
	struct pop3_msg *msg;
	bool changed = false;
	unsigned removed = 0;
	int rc = 0, dfd;
	size_t i;

	for (i = 0; i < m->n; i++) {
		msg = &m->msgs[i];
		dfd = msg->in_cur ? m->md->dfd_cur : m->md->dfd_new;
		if (msg->deleted) {
			if (unlinkat(dfd, msg->name, 0) == 0 || (errno == ENOENT &&
			    (!maildrop_refind(m, msg) ||
			    unlinkat(m->md->dfd_cur, msg->name, 0) == 0))) {
				removed++;
				changed = true;
			} else
				rc = -1;
			continue;
		}
		/* Kept: new/ -> cur/, and Seen once retrieved (Dovecot's behaviour). */
		if (msg->in_cur && (!msg->retrieved || strchr(msg->name + msg->baselen, 'S')))
			continue;
		if (msg->in_cur)
			seen_name(msg, name, sizeof(name));
		else
			snprintf(name, sizeof(name), "%.*s:2,%s", (int)msg->baselen, msg->name,
			    msg->retrieved ? "S" : "");
		if (strlen(name) <= MAILDIR_NAME_MAX &&
		    renameat(dfd, msg->name, m->md->dfd_cur, name) == 0)
			changed = true;
		/*
		 * Failing that (moved by another program, say) it stays as it is: whole,
		 * so no -ERR, which RFC 1939 §6 keeps for deletions; but a disk error is
		 * worth a line.
		 */
		else if (strlen(name) <= MAILDIR_NAME_MAX && errno != ENOENT)
			log_warn("cannot move %s%s to cur/", msg->in_cur ? "cur/" : "new/",
			    msg->name);
	}
	/* The unlinks and renames are durable only once the directories are. */
	if (changed && (fsync(m->md->dfd_cur) == -1 || fsync(m->md->dfd_new) == -1))
		rc = -1;
	*removed_out = removed;
	return rc;
}

void
maildrop_close(struct maildrop *m)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (m->msgs[i].name_owned)
			free(m->msgs[i].name);
	free(m->msgs);
	free(m->arena);
	if (m->lock_fd != -1)
		close(m->lock_fd);	/* releases the flock */
	maildrop_init(m, m->md);
}
