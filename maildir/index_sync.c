/*
 * index_sync: reconcile the index with the Maildir (the truth): new files get UIDs in
 * arrival order, vanished files leave the index, moves to cur/ and flag changes are
 * recorded; verify runs the same merge and reports instead of changing (see index.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maildir/index_db.h"
#include "maildir/scan.h"

/* ---------------------------------------------------------------- the Maildir side */


static int
scan_collect(const struct maildir_entry *e, void *arg)
{
	struct index_scan_list *l = arg;
	struct index_scan_item *it, *nv;

	if (e->baselen == 0 || e->baselen > MAILDIR_NAME_MAX)
		return 0;
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;

		if ((nv = realloc(l->v, ncap * sizeof(*nv))) == NULL)
			return -1;
		l->v = nv;
		l->cap = ncap;
	}
	it = &l->v[l->n];
	if ((it->name = strndup(e->name, e->baselen)) == NULL)
		return -1;
	if ((it->file = strdup(e->name)) == NULL) {
		free(it->name);
		return -1;
	}
	it->in_cur = e->in_cur;
	it->flags = maildir_name_flags(e->name);
	if (!maildir_name_time(e->name, &it->sec, &it->usec)) {
		it->sec = 0;
		it->usec = 0;
	}
	l->n++;
	return 0;
}

void
index_scan_free(struct index_scan_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].file);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
scan_by_name(const void *a, const void *b)
{
	return strcmp(((const struct index_scan_item *)a)->name, ((const struct index_scan_item *)b)->name);
}

static int
scan_by_arrival(const void *a, const void *b)
{
	const struct index_scan_item *x = *(struct index_scan_item *const *)a;
	const struct index_scan_item *y = *(struct index_scan_item *const *)b;

	if (x->sec != y->sec)
		return x->sec < y->sec ? -1 : 1;
	if (x->usec != y->usec)
		return x->usec < y->usec ? -1 : 1;
	return strcmp(x->name, y->name);
}

/*
 * Size in CRLF octets of a file that has no ",S=" (delivered by someone else): its
 * length plus one for every LF not preceded by CR, as POP3 will send it.
 */
static int
maildir_file_crlf_size(struct maildir *md, const struct index_scan_item *it, uint64_t *size)
{
	char buf[16384], prev = '\0';
	int fd;
	ssize_t n;
	uint64_t total = 0;

	fd = openat(it->in_cur ? md->dfd_cur : md->dfd_new, it->file,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				total++;
			prev = buf[i];
		}
		total += (uint64_t)n;
	}
	close(fd);
	if (n == -1)
		return -1;
	*size = total;
	return 0;
}

void
index_scan_to_rec(struct maildir *md, const struct index_scan_item *it, struct index_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	snprintf(rec->name, sizeof(rec->name), "%s", it->name);
	rec->in_cur = it->in_cur;
	rec->flags = it->flags;
	rec->arrival = it->sec;
	if (!maildir_name_size(it->name, strlen(it->name), &rec->size) &&
	    maildir_file_crlf_size(md, it, &rec->size) == -1)
		rec->size = 0;
}

/* ---------------------------------------------------------------- sync / verify */

struct sync_arg {
	struct maildir		*md;
	struct index_scan_list	 scan;		/* the Maildir, sorted by base name */
	struct index_sync_stats	*st;
	/* verify mode: report, change nothing */
	void			(*report)(const char *, void *);
	void			*report_arg;
	long			 mismatches;
};

static void
sync_report(struct sync_arg *a, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	a->mismatches++;
	if (a->report == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	a->report(line, a->report_arg);
}

/* An index entry whose file exists: bring location and flags up to date. */
static int
sync_existing(struct index *ix, DB_TXN *txn, struct sync_arg *a, uint32_t uid,
    const struct index_scan_item *it)
{
	struct index_rec rec;
	uint64_t size;
	int r;

	if ((r = index_rec_get(ix, txn, uid, &rec, a->report ? 0 : DB_RMW)) != 0) {
		if (r != DB_NOTFOUND)
			return r;
		/* name -> uid without its record: redo both. */
		if (a->report != NULL) {
			sync_report(a, "uid %u (%s): name entry without a record", uid, it->name);
			return 0;
		}
		index_scan_to_rec(a->md, it, &rec);
		rec.uid = uid;
		a->st->updated++;
		return index_rec_insert(ix, txn, &rec);
	}
	if (strcmp(rec.name, it->name) != 0) {
		if (a->report != NULL) {
			sync_report(a, "uid %u: record names %s, name entry %s", uid, rec.name,
			    it->name);
			return 0;
		}
		return DB_VERIFY_BAD;
	}
	if (rec.in_cur == it->in_cur && rec.flags == it->flags) {
		if (a->report != NULL && maildir_name_size(it->name, strlen(it->name), &size) &&
		    size != rec.size)
			sync_report(a, "uid %u (%s): size %llu in index, %llu in name", uid,
			    it->name, (unsigned long long)rec.size, (unsigned long long)size);
		return 0;
	}
	if (a->report != NULL) {
		sync_report(a, "uid %u (%s): index says %s/ flags %#llx, Maildir %s/ flags %#llx",
		    uid, it->name, rec.in_cur ? "cur" : "new", (unsigned long long)rec.flags,
		    it->in_cur ? "cur" : "new", (unsigned long long)it->flags);
		return 0;
	}
	rec.in_cur = it->in_cur;
	rec.flags = it->flags;
	a->st->updated++;
	return index_rec_put(ix, txn, &rec);
}

static int
index_sync_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct sync_arg *a = arg;
	struct index_scan_list *l = &a->scan;
	struct index_scan_item **fresh = NULL;
	struct index_rec rec;
	unsigned char kb[MAILDIR_NAME_MAX + 1];
	size_t i = 0, nfresh = 0, klen;
	uint32_t be;
	DBC *c = NULL;
	DBT k, d;
	int r, cmp;

	memset(a->st, 0, sizeof(*a->st));
	a->mismatches = 0;
	if ((fresh = calloc(l->n ? l->n : 1, sizeof(*fresh))) == NULL) {
		index_seterr(ix, "out of memory");
		return -1;
	}
	if ((r = ix->byname->cursor(ix->byname, txn, &c, 0)) != 0)
		goto out;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kb;
	k.ulen = sizeof(kb) - 1;
	k.flags = DB_DBT_USERMEM;
	d.data = &be;
	d.ulen = sizeof(be);
	d.flags = DB_DBT_USERMEM;
	/* Merge the name-ordered index with the name-sorted Maildir listing. */
	for (;;) {
		r = c->get(c, &k, &d, a->report ? DB_NEXT : DB_NEXT | DB_RMW);
		if (r == DB_NOTFOUND)
			break;
		if (r == DB_BUFFER_SMALL)
			r = DB_VERIFY_BAD;
		if (r != 0)
			goto out;
		if (d.size != 4 || k.size == 0) {
			r = DB_VERIFY_BAD;
			goto out;
		}
		klen = k.size;
		kb[klen] = '\0';
		while (i < l->n && (cmp = strcmp(l->v[i].name, (char *)kb)) < 0)
			fresh[nfresh++] = &l->v[i++];
		if (i < l->n && strcmp(l->v[i].name, (char *)kb) == 0) {
			if ((r = sync_existing(ix, txn, a, ntohl(be), &l->v[i])) != 0)
				goto out;
			i++;
			continue;
		}
		/*
		 * In the index, not in the listing: expunged or moved away, unless it was
		 * delivered after the listing was read and indexed since (it is in new/).
		 */
		if (faccessat(a->md->dfd_new, (char *)kb, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			continue;
		if (a->report != NULL) {
			sync_report(a, "uid %u (%s): in the index, not in the Maildir", ntohl(be),
			    (char *)kb);
			continue;
		}
		if ((r = c->del(c, 0)) != 0 ||
		    (r = index_rec_delete(ix, txn, (char *)kb, ntohl(be))) != 0)
			goto out;
		a->st->removed++;
	}
	while (i < l->n)
		fresh[nfresh++] = &l->v[i++];
	c->close(c);
	c = NULL;
	/* New mail gets UIDs in the order it arrived. */
	qsort(fresh, nfresh, sizeof(*fresh), scan_by_arrival);
	for (i = 0; i < nfresh; i++) {
		if (a->report != NULL) {
			sync_report(a, "%s: in the Maildir, not in the index", fresh[i]->name);
			continue;
		}
		index_scan_to_rec(a->md, fresh[i], &rec);
		if ((r = index_rec_insert(ix, txn, &rec)) != 0)
			goto out;
		a->st->added++;
	}
	r = 0;
out:
	if (c != NULL)
		c->close(c);
	free(fresh);
	return r;
}

int
index_scan(struct index *ix, struct maildir *md, struct index_scan_list *l)
{
	memset(l, 0, sizeof(*l));
	if (maildir_scan(md, scan_collect, l) != 0) {
		index_seterr(ix, "reading the Maildir: %s", strerror(errno));
		index_scan_free(l);
		return -1;
	}
	if (l->n > 1)	/* an empty Maildir has no array: qsort(NULL, 0) is undefined */
		qsort(l->v, l->n, sizeof(*l->v), scan_by_name);
	return 0;
}

/* List the Maildir and merge it with the index: changing it, or with report, not. */
static int
index_merge(struct index *ix, struct maildir *md, struct sync_arg *a, const char *what)
{
	int r;

	if (index_scan(ix, md, &a->scan) == -1)
		return -1;
	a->md = md;
	r = index_txn(ix, index_sync_txn, a, what);
	index_scan_free(&a->scan);
	return r;
}

int
index_sync(struct index *ix, struct maildir *md, struct index_sync_stats *st)
{
	struct index_sync_stats dummy = { 0 };	/* filled by the txn; zeroed for cppcheck */
	struct sync_arg a;

	memset(&a, 0, sizeof(a));
	a.st = st != NULL ? st : &dummy;
	return index_merge(ix, md, &a, "sync");
}

/* The records must all unpack (index_foreach says DB_VERIFY_BAD if one does not). */
static int
verify_rec_ok(const struct index_rec *rec, void *arg)
{
	(void)rec;
	(void)arg;
	return 0;
}

struct uid_side {
	uint32_t	 next_uid, top;		/* next_uid, and the highest UID in use */
	unsigned long	 nuid, nname;		/* records by uid, entries by name */
};

static int
count_keys(DB *db, DB_TXN *txn, unsigned long *n, uint32_t *top)
{
	unsigned char kb[MAILDIR_NAME_MAX + 1];
	uint32_t be;
	DBC *c;
	DBT k, d;
	int r;

	if ((r = db->cursor(db, txn, &c, 0)) != 0)
		return r;
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	k.data = kb;
	k.ulen = sizeof(kb);
	k.flags = DB_DBT_USERMEM;
	d.flags = DB_DBT_PARTIAL;	/* dlen 0: the keys only */
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		(*n)++;
		if (top != NULL && k.size == 4) {
			memcpy(&be, k.data, 4);
			if (ntohl(be) > *top)
				*top = ntohl(be);
		}
	}
	c->close(c);
	return r == DB_NOTFOUND ? 0 : r == DB_BUFFER_SMALL ? DB_VERIFY_BAD : r;
}

/*
 * next_uid, the highest UID and both counts in one transaction: read one after the
 * other, a delivery indexed in between would look like a mismatch.
 */
static int
verify_uid_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct uid_side *u = arg;
	int r;

	memset(u, 0, sizeof(*u));
	if ((r = index_meta_get(ix->meta, txn, "next_uid", &u->next_uid, 0)) != 0 ||
	    (r = count_keys(ix->byuid, txn, &u->nuid, &u->top)) != 0)
		return r;
	return count_keys(ix->byname, txn, &u->nname, NULL);
}

long
index_verify(struct index *ix, struct maildir *md,
    void (*report)(const char *line, void *arg), void *arg)
{
	struct index_sync_stats st;
	struct sync_arg a;
	struct uid_side u;
	int r;

	memset(&a, 0, sizeof(a));
	a.st = &st;
	a.report = report;
	a.report_arg = arg;
	r = index_merge(ix, md, &a, "verify");
	if (r != 0)
		return r;
	/* Every record readable, every UID below next_uid, as many records as names. */
	if ((r = index_foreach(ix, verify_rec_ok, NULL)) != 0 ||
	    (r = index_txn(ix, verify_uid_txn, &u, "verify")) != 0)
		return r;
	if (u.top >= u.next_uid)
		sync_report(&a, "uid %u: not below next_uid %u", u.top, u.next_uid);
	if (u.nuid != u.nname)
		sync_report(&a, "%lu records by uid, %lu by name", u.nuid, u.nname);
	return a.mismatches;
}
