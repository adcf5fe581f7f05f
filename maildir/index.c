/*
 * index: Berkeley DB 5.3 index of a Maildir (see index.h).
 *
 * On disk, <Maildir>/letterbox-index/ is a transactional environment (locking,
 * logging, memory pool; DB_REGISTER so a crashed user is detected and recovery runs at
 * the next open) holding one file, index.db, with three btree databases:
 *
 *   "meta"  "version"     -> u32 BE  INDEX_FORMAT_VERSION (1)
 *           "uidvalidity" -> u32 BE  RFC 3501 UIDVALIDITY of these UIDs
 *           "next_uid"    -> u32 BE  one more than the highest UID ever given
 *   "uid"   u32 BE uid    -> record (below); big-endian keys sort in UID order
 *   "name"  base name     -> u32 BE uid (the base name is the POP3 UIDL)
 *
 *   record, version 1 (all integers little-endian):
 *     0  u8   record version (1)          1  u8   location: 0 new/, 1 cur/
 *     2  u16  base name length n          4  u32  reserved (0)
 *     8  u64  size in CRLF octets        16  u64  arrival time (seconds)
 *    24  u64  flags (maildir_name_flags) 32  n bytes of base name
 *
 * Commits do not wait for the log to reach the disk (DB_TXN_WRITE_NOSYNC): a process
 * crash loses nothing (the log is in the kernel's cache), and after a power loss the
 * Maildir, which is always fsynced, is the truth the index is reconciled with.
 * A second file, <Maildir>/letterbox-index.lock, is held shared by every user of the
 * index and exclusively by a rebuild.
 */
#include <arpa/inet.h>
#include <db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "maildir/index_db.h"

#define INDEX_FORMAT_VERSION	1
#define INDEX_REC_VERSION	1
#define INDEX_DEADLOCK_TRIES	50


/* ---------------------------------------------------------------- records */

static void
put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t
get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

size_t
index_rec_pack(const struct index_rec *rec, unsigned char *out)
{
	size_t n = strlen(rec->name);

	out[0] = INDEX_REC_VERSION;
	out[1] = rec->in_cur ? 1 : 0;
	put_le(out + 2, n, 2);
	put_le(out + 4, 0, 4);
	put_le(out + 8, rec->size, 8);
	put_le(out + 16, rec->arrival, 8);
	put_le(out + 24, rec->flags, 8);
	memcpy(out + INDEX_REC_HDR, rec->name, n);
	return INDEX_REC_HDR + n;
}

int
index_rec_unpack(const unsigned char *p, size_t len, uint32_t uid, struct index_rec *rec)
{
	size_t n;

	if (len < INDEX_REC_HDR || p[0] != INDEX_REC_VERSION || p[1] > 1)
		return -1;
	n = (size_t)get_le(p + 2, 2);
	if (n == 0 || n > MAILDIR_NAME_MAX || len != INDEX_REC_HDR + n ||
	    memchr(p + INDEX_REC_HDR, '\0', n) != NULL ||
	    memchr(p + INDEX_REC_HDR, '/', n) != NULL)
		return -1;
	rec->uid = uid;
	rec->in_cur = p[1] == 1;
	rec->size = get_le(p + 8, 8);
	rec->arrival = get_le(p + 16, 8);
	rec->flags = get_le(p + 24, 8);
	memcpy(rec->name, p + INDEX_REC_HDR, n);
	rec->name[n] = '\0';
	return 0;
}

/* ---------------------------------------------------------------- errors */

void
index_seterr(struct index *ix, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ix->err, sizeof(ix->err), fmt, ap);
	va_end(ap);
}

const char *
index_error(const struct index *ix)
{
	return ix->err;
}

/* A Berkeley DB error that means the files cannot be trusted: rebuild. */
static bool
index_is_corruption(int r)
{
	return r == DB_RUNRECOVERY || r == DB_VERIFY_BAD || r == DB_PAGE_NOTFOUND ||
	    r == DB_SECONDARY_BAD || r == EINVAL || r == DB_OLD_VERSION ||
	    r == DB_VERSION_MISMATCH;
}

int
index_fail(struct index *ix, int r, const char *what)
{
	index_seterr(ix, "%s: %s", what, db_strerror(r));
	return index_is_corruption(r) ? INDEX_CORRUPT : -1;
}

static void
index_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	struct index *ix = env->app_private;

	(void)pfx;
	if (ix != NULL)
		snprintf(ix->err, sizeof(ix->err), "%s", msg);
}

/* ---------------------------------------------------------------- keys */

static void
uid_key(DBT *k, unsigned char buf[4], uint32_t uid)
{
	uint32_t be = htonl(uid);

	memcpy(buf, &be, 4);
	memset(k, 0, sizeof(*k));
	k->data = buf;
	k->size = 4;
}

void
index_dbt_set(DBT *d, const void *p, size_t n)
{
	memset(d, 0, sizeof(*d));
	d->data = (void *)(uintptr_t)p;
	d->size = (u_int32_t)n;
}

int
index_meta_get(DB *meta, DB_TXN *txn, const char *key, uint32_t *v, u_int32_t flags)
{
	DBT k, d;
	uint32_t be;
	int r;

	index_dbt_set(&k, key, strlen(key));
	memset(&d, 0, sizeof(d));
	d.data = &be;
	d.ulen = sizeof(be);
	d.flags = DB_DBT_USERMEM;
	if ((r = meta->get(meta, txn, &k, &d, flags)) != 0)
		return r;
	if (d.size != sizeof(be))
		return DB_VERIFY_BAD;
	*v = ntohl(be);
	return 0;
}

int
index_meta_put(DB *meta, DB_TXN *txn, const char *key, uint32_t v)
{
	DBT k, d;
	uint32_t be = htonl(v);

	index_dbt_set(&k, key, strlen(key));
	index_dbt_set(&d, &be, sizeof(be));
	return meta->put(meta, txn, &k, &d, 0);
}

/* ---------------------------------------------------------------- transactions */

/*
 * Run fn inside a transaction, retrying it from the start when Berkeley DB picks it
 * as a deadlock victim (the detector runs on every conflict: DB_LOCK_DEFAULT).
 */
int
index_txn(struct index *ix, int (*fn)(struct index *, DB_TXN *, void *), void *arg,
    const char *what)
{
	DB_TXN *txn;
	int r, tries;

	for (tries = 0; tries < INDEX_DEADLOCK_TRIES; tries++) {
		if ((r = ix->env->txn_begin(ix->env, NULL, &txn, 0)) != 0)
			return index_fail(ix, r, what);
		r = fn(ix, txn, arg);
		if (r == 0) {
			if ((r = txn->commit(txn, 0)) != 0)
				return index_fail(ix, r, what);
			/*
			 * The indexer keeps the index open for days: without a checkpoint
			 * now and then, DB_LOG_AUTO_REMOVE never drops a log file and they
			 * pile up. Once a log file's worth (set_lg_max) has been written;
			 * a no-op until then. A failure costs only disk space: not fatal.
			 */
			(void)ix->env->txn_checkpoint(ix->env, 1024, 0, 0);
			return 0;
		}
		txn->abort(txn);
		if (r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED)
			return r == -1 ? -1 : index_fail(ix, r, what);
		usleep((useconds_t)(1000 * (tries + 1)));
	}
	index_seterr(ix, "%s: still deadlocked after %d tries", what, tries);
	return -1;
}

/* ---------------------------------------------------------------- open / close */

static int
index_init_meta(struct index *ix, DB_TXN *txn, void *arg)
{
	uint32_t *seed = arg, v;
	int r;

	r = index_meta_get(ix->meta, txn, "version", &v, DB_RMW);
	if (r == DB_NOTFOUND) {
		/* A fresh index: UIDVALIDITY from the clock, as RFC 3501 2.3.1.1 suggests. */
		ix->uidvalidity = *seed != 0 ? *seed : (uint32_t)time(NULL);
		if ((r = index_meta_put(ix->meta, txn, "version", INDEX_FORMAT_VERSION)) != 0 ||
		    (r = index_meta_put(ix->meta, txn, "uidvalidity", ix->uidvalidity)) != 0 ||
		    (r = index_meta_put(ix->meta, txn, "next_uid", 1)) != 0)
			return r;
		return 0;
	}
	if (r != 0)
		return r;
	if (v != INDEX_FORMAT_VERSION) {
		index_seterr(ix, "index format version %u, expected %u", v,
		    INDEX_FORMAT_VERSION);
		return DB_OLD_VERSION;
	}
	if ((r = index_meta_get(ix->meta, txn, "uidvalidity", &ix->uidvalidity, 0)) != 0)
		return r == DB_NOTFOUND ? DB_VERIFY_BAD : r;
	if ((r = index_meta_get(ix->meta, txn, "next_uid", &v, 0)) != 0)
		return r == DB_NOTFOUND ? DB_VERIFY_BAD : r;
	return 0;
}

static int
index_open_db(struct index *ix, DB **db, const char *name)
{
	int r, tries;

	/* The open is a transaction of its own: a deadlock victim tries again. */
	for (tries = 1;; tries++) {
		if ((r = db_create(db, ix->env, 0)) != 0)
			return r;
		r = (*db)->open(*db, NULL, INDEX_FILE, name, DB_BTREE,
		    DB_CREATE | DB_AUTO_COMMIT, 0600);
		if (r == 0 || (r != DB_LOCK_DEADLOCK && r != DB_LOCK_NOTGRANTED) ||
		    tries == INDEX_DEADLOCK_TRIES)
			return r;
		(*db)->close(*db, 0);
		*db = NULL;
		usleep((useconds_t)(1000 * tries));
	}
}

/*
 * Check the structure of index.db (DB->verify, without the environment: after a
 * recovery it is written out in full) in a child process, because Berkeley DB can
 * crash on a damaged file: opening a subdatabase of a file cut short to one page
 * does. 0 fine (or no file yet), INDEX_CORRUPT damaged, -1 error.
 */
static int
index_check_file(struct index *ix, const char *dbpath)
{
	DB *db;
	pid_t pid;
	int status, fd;

	if (access(dbpath, F_OK) == -1 && errno == ENOENT)
		return 0;
	if ((pid = fork()) == -1) {
		index_seterr(ix, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* Damage is expected here: keep Berkeley DB's complaints off stderr. */
		if ((fd = open("/dev/null", O_WRONLY)) != -1)
			dup2(fd, STDERR_FILENO);
		_exit(db_create(&db, NULL, 0) == 0 &&
		    db->verify(db, dbpath, NULL, NULL, 0) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) == -1) {
		if (errno != EINTR) {
			index_seterr(ix, "waitpid: %s", strerror(errno));
			return -1;
		}
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	index_seterr(ix, "%s: damaged (%s)", dbpath, WIFEXITED(status) ?
	    "verification failed" : "verification crashed");
	return INDEX_CORRUPT;
}

/* Open with a given UIDVALIDITY for a fresh index (0: from the clock). */
int
index_open_seed(struct index **out, const char *dir, uint32_t seed, char *err,
    size_t errsz)
{
	struct index *ix;
	char lockpath[PATH_MAX + 8], dbpath[PATH_MAX + 16], regpath[PATH_MAX + 16];
	struct stat st;
	bool alone = false;
	int r, rc = -1;

	*out = NULL;
	if ((ix = calloc(1, sizeof(*ix))) == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	ix->lockfd = -1;
	snprintf(ix->dir, sizeof(ix->dir), "%s", dir);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", dir);
	/* Shared by every user; exclusive (for now) if nobody else has it open. */
	if ((ix->lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) != -1)
		alone = flock(ix->lockfd, LOCK_EX | LOCK_NB) == 0;
	if (ix->lockfd == -1 || (!alone && flock(ix->lockfd, LOCK_SH) == -1)) {
		index_seterr(ix, "%s: %s", lockpath, strerror(errno));
		goto fail;
	}
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		index_seterr(ix, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	/* A file cut short of a whole page is damaged whatever recovery says. */
	snprintf(dbpath, sizeof(dbpath), "%s/" INDEX_FILE, dir);
	if (stat(dbpath, &st) == 0 && (st.st_size == 0 || st.st_size % 512 != 0)) {
		index_seterr(ix, "%s: truncated (%lld bytes)", dbpath, (long long)st.st_size);
		rc = INDEX_CORRUPT;
		goto fail;
	}
	if ((r = db_env_create(&ix->env, 0)) != 0) {
		rc = index_fail(ix, r, "db_env_create");
		goto fail;
	}
	ix->env->app_private = ix;
	ix->env->set_errcall(ix->env, index_errcall);
	ix->env->set_lk_detect(ix->env, DB_LOCK_DEFAULT);
	/*
	 * A sync of a large mailbox is one transaction: room for its page locks (one per
	 * page touched; a sync adding or removing 100,000 messages at once fits in 5,000).
	 * The lock region is resident in full (DB_REGION_INIT below), so its size is the
	 * indexer's memory: 20,000 made it 1.7 MiB, 5,000 0.9 MiB.
	 */
	ix->env->set_lk_max_locks(ix->env, 5000);
	ix->env->set_lk_max_objects(ix->env, 5000);
	ix->env->set_lg_max(ix->env, 1024 * 1024);
	ix->env->set_flags(ix->env, DB_TXN_WRITE_NOSYNC, 1);
	/*
	 * Write the region files out in full when they are made: on a full disk that
	 * fails with ENOSPC here, instead of a SIGBUS when a sparse mmap()ed page is
	 * first touched.
	 */
	ix->env->set_flags(ix->env, DB_REGION_INIT, 1);
	ix->env->log_set_config(ix->env, DB_LOG_AUTO_REMOVE, 1);
	/*
	 * With nobody else in the environment (we hold the lock file exclusively),
	 * recover it: DB_REGISTER then recreates the regions, whose cache may still hold
	 * pages that a damaged index.db no longer has, and would hide the damage. A
	 * missing register file is how DB_REGISTER is told to recover.
	 */
	if (alone) {
		snprintf(regpath, sizeof(regpath), "%s/__db.register", dir);
		if (unlink(regpath) == -1 && errno != ENOENT) {
			index_seterr(ix, "%s: %s", regpath, strerror(errno));
			goto fail;
		}
	}
	r = ix->env->open(ix->env, dir, DB_CREATE | DB_INIT_LOCK | DB_INIT_LOG |
	    DB_INIT_MPOOL | DB_INIT_TXN | DB_REGISTER | DB_RECOVER, 0600);
	if (r != 0) {
		rc = index_fail(ix, r, "open environment");
		goto fail;
	}
	/* Recovered: check the file, then let the others in (they waited for us). */
	if (alone) {
		if ((rc = index_check_file(ix, dbpath)) != 0)
			goto fail;
		rc = -1;
		if (flock(ix->lockfd, LOCK_SH) == -1) {
			index_seterr(ix, "%s: %s", lockpath, strerror(errno));
			goto fail;
		}
	}
	if ((r = index_open_db(ix, &ix->meta, "meta")) != 0 ||
	    (r = index_open_db(ix, &ix->byuid, "uid")) != 0 ||
	    (r = index_open_db(ix, &ix->byname, "name")) != 0) {
		rc = index_fail(ix, r, "open " INDEX_FILE);
		goto fail;
	}
	if ((rc = index_txn(ix, index_init_meta, &seed, "read meta")) != 0)
		goto fail;
	*out = ix;
	return 0;
fail:
	snprintf(err, errsz, "index %s: %s", dir, ix->err);
	index_close(&ix);
	return rc;
}

int
index_open(struct index **out, const char *dir, char *err, size_t errsz)
{
	return index_open_seed(out, dir, 0, err, errsz);
}

void
index_close(struct index **ixp)
{
	struct index *ix = *ixp;

	if (ix == NULL)
		return;
	if (ix->byname != NULL)
		ix->byname->close(ix->byname, 0);
	if (ix->byuid != NULL)
		ix->byuid->close(ix->byuid, 0);
	if (ix->meta != NULL)
		ix->meta->close(ix->meta, 0);
	if (ix->env != NULL) {
		/* Keep the log short: a checkpoint lets DB_LOG_AUTO_REMOVE drop old files. */
		ix->env->txn_checkpoint(ix->env, 0, 0, 0);
		ix->env->close(ix->env, 0);
	}
	if (ix->lockfd != -1)
		close(ix->lockfd);
	free(ix);
	*ixp = NULL;
}

uint32_t
index_uidvalidity(const struct index *ix)
{
	return ix->uidvalidity;
}

static int
index_get_next(struct index *ix, DB_TXN *txn, void *arg)
{
	return index_meta_get(ix->meta, txn, "next_uid", arg, 0);
}

int
index_next_uid(struct index *ix, uint32_t *out)
{
	return index_txn(ix, index_get_next, out, "read next_uid");
}

/* ---------------------------------------------------------------- records in a txn */

int
index_rec_get(struct index *ix, DB_TXN *txn, uint32_t uid, struct index_rec *rec, u_int32_t fl)
{
	unsigned char kb[4], vb[INDEX_REC_HDR + MAILDIR_NAME_MAX];
	DBT k, d;
	int r;

	uid_key(&k, kb, uid);
	memset(&d, 0, sizeof(d));
	d.data = vb;
	d.ulen = sizeof(vb);
	d.flags = DB_DBT_USERMEM;
	if ((r = ix->byuid->get(ix->byuid, txn, &k, &d, fl)) != 0)
		return r == DB_BUFFER_SMALL ? DB_VERIFY_BAD : r;
	if (index_rec_unpack(vb, d.size, uid, rec) == -1)
		return DB_VERIFY_BAD;
	return 0;
}

int
index_rec_put(struct index *ix, DB_TXN *txn, const struct index_rec *rec)
{
	unsigned char kb[4], vb[INDEX_REC_HDR + MAILDIR_NAME_MAX];
	DBT k, d;

	uid_key(&k, kb, rec->uid);
	index_dbt_set(&d, vb, index_rec_pack(rec, vb));
	return ix->byuid->put(ix->byuid, txn, &k, &d, 0);
}

int
index_name_get(struct index *ix, DB_TXN *txn, const char *name, uint32_t *uid, u_int32_t fl)
{
	unsigned char vb[4];
	DBT k, d;
	uint32_t be;
	int r;

	index_dbt_set(&k, name, strlen(name));
	memset(&d, 0, sizeof(d));
	d.data = vb;
	d.ulen = sizeof(vb);
	d.flags = DB_DBT_USERMEM;
	if ((r = ix->byname->get(ix->byname, txn, &k, &d, fl)) != 0)
		return r == DB_BUFFER_SMALL ? DB_VERIFY_BAD : r;
	if (d.size != 4)
		return DB_VERIFY_BAD;
	memcpy(&be, vb, 4);
	*uid = ntohl(be);
	return 0;
}

/* Store rec under a new UID (rec->uid 0) or its own (rec->uid set: a rebuild). */
/* Put rec (its uid set) under its UID and its name; next_uid is the caller's. */
static int
index_rec_store(struct index *ix, DB_TXN *txn, const struct index_rec *rec)
{
	uint32_t be;
	DBT k, d;
	int r;

	if ((r = index_rec_put(ix, txn, rec)) != 0)
		return r;
	be = htonl(rec->uid);
	index_dbt_set(&k, rec->name, strlen(rec->name));
	index_dbt_set(&d, &be, 4);
	return ix->byname->put(ix->byname, txn, &k, &d, 0);
}

int
index_rec_insert(struct index *ix, DB_TXN *txn, struct index_rec *rec)
{
	uint32_t next;
	int r;

	if ((r = index_meta_get(ix->meta, txn, "next_uid", &next, DB_RMW)) != 0)
		return r;
	if (rec->uid == 0)
		rec->uid = next;
	if (rec->uid >= next && (r = index_meta_put(ix->meta, txn, "next_uid", rec->uid + 1)) != 0)
		return r;
	return index_rec_store(ix, txn, rec);
}

int
index_rec_delete(struct index *ix, DB_TXN *txn, const char *name, uint32_t uid)
{
	unsigned char kb[4];
	DBT k;
	int r;

	uid_key(&k, kb, uid);
	if ((r = ix->byuid->del(ix->byuid, txn, &k, 0)) != 0 && r != DB_NOTFOUND)
		return r;
	index_dbt_set(&k, name, strlen(name));
	if ((r = ix->byname->del(ix->byname, txn, &k, 0)) != 0 && r != DB_NOTFOUND)
		return r;
	return 0;
}

/* ---------------------------------------------------------------- add */

struct add_arg {
	const struct index_rec	*recs;
	size_t			 n;
};

/* A whole batch reads and writes next_uid once: the indexer adds hundreds at a time. */
static int
index_add_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	const struct add_arg *a = arg;
	struct index_rec rec;
	uint32_t uid, next, first;
	size_t i;
	int r;

	if ((r = index_meta_get(ix->meta, txn, "next_uid", &next, DB_RMW)) != 0)
		return r;
	first = next;
	for (i = 0; i < a->n; i++) {
		r = index_name_get(ix, txn, a->recs[i].name, &uid, DB_RMW);
		if (r == 0)
			continue;		/* already indexed: delivery is idempotent */
		if (r != DB_NOTFOUND)
			return r;
		rec = a->recs[i];
		rec.uid = next++;
		if ((r = index_rec_store(ix, txn, &rec)) != 0)
			return r;
	}
	if (next != first)
		return index_meta_put(ix->meta, txn, "next_uid", next);
	return 0;
}

int
index_add(struct index *ix, const struct index_rec *recs, size_t n)
{
	struct add_arg a = { recs, n };

	return index_txn(ix, index_add_txn, &a, "add");
}

int
index_lookup(struct index *ix, const char *base, struct index_rec *out)
{
	uint32_t uid;
	int r;

	if ((r = index_name_get(ix, NULL, base, &uid, 0)) == DB_NOTFOUND)
		return 0;
	if (r == 0 && (r = index_rec_get(ix, NULL, uid, out, 0)) == 0)
		return 1;
	return index_fail(ix, r, "lookup");
}

int
index_lookup_uid(struct index *ix, uint32_t uid, struct index_rec *out)
{
	int r;

	if ((r = index_rec_get(ix, NULL, uid, out, 0)) == DB_NOTFOUND)
		return 0;
	if (r == 0)
		return 1;
	return index_fail(ix, r, "lookup");
}

int
index_foreach(struct index *ix, int (*cb)(const struct index_rec *, void *), void *arg)
{
	unsigned char vb[INDEX_REC_HDR + MAILDIR_NAME_MAX];
	struct index_rec rec;
	uint32_t be;
	DBC *c;
	DBT k, d;
	int r, rc = 0;

	if ((r = ix->byuid->cursor(ix->byuid, NULL, &c, 0)) != 0)
		return index_fail(ix, r, "cursor");
	memset(&k, 0, sizeof(k));
	memset(&d, 0, sizeof(d));
	d.data = vb;
	d.ulen = sizeof(vb);
	d.flags = DB_DBT_USERMEM;
	while ((r = c->get(c, &k, &d, DB_NEXT)) == 0) {
		if (k.size != 4) {
			r = DB_VERIFY_BAD;
			break;
		}
		memcpy(&be, k.data, 4);
		if (index_rec_unpack(vb, d.size, ntohl(be), &rec) == -1) {
			r = DB_VERIFY_BAD;
			break;
		}
		if ((rc = cb(&rec, arg)) != 0)
			break;
	}
	c->close(c);
	if (rc != 0)
		return rc;
	if (r != DB_NOTFOUND)
		return index_fail(ix, r, "read records");
	return 0;
}
