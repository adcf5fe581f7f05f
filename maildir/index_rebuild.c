/*
 * index_rebuild: replace a damaged or lost index by one made from the Maildir,
 * carrying over every UID (and the UIDVALIDITY) the old files still yield (index.h).
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

/* ---------------------------------------------------------------- rebuild */

struct salvage {
	uint32_t	 uidvalidity;	/* 0 if unreadable */
	uint32_t	 next_uid;
	struct salvage_pair {
		uint32_t uid;
		char	*name;
	}		*v;
	size_t		 n, cap;
};

/*
 * Read what can be read of an old index.db, in a child process: a damaged file may
 * take Berkeley DB down with it, and then we salvage nothing rather than crash. The
 * child writes "V <uidvalidity>", "N <next_uid>" and "U <uid> <name>" lines.
 */
static void
salvage_child(const char *dbpath, int out)
{
	FILE *f = fdopen(out, "w");
	DB *db = NULL;
	DBC *c;
	DBT k, d;
	uint32_t be;
	char name[MAILDIR_NAME_MAX + 1];

	if (f == NULL)
		_exit(1);
	/* Damage is expected here: keep Berkeley DB's complaints off stderr. */
	fclose(stderr);
	if (db_create(&db, NULL, 0) == 0 &&
	    db->open(db, NULL, dbpath, "meta", DB_UNKNOWN, DB_RDONLY, 0) == 0) {
		const char *keys[] = { "uidvalidity", "next_uid" };

		for (int i = 0; i < 2; i++) {
			memset(&d, 0, sizeof(d));
			index_dbt_set(&k, keys[i], strlen(keys[i]));
			if (db->get(db, NULL, &k, &d, 0) == 0 && d.size == 4) {
				memcpy(&be, d.data, 4);
				fprintf(f, "%c %u\n", i == 0 ? 'V' : 'N', ntohl(be));
			}
		}
	}
	if (db != NULL)
		db->close(db, 0);
	if (db_create(&db, NULL, 0) == 0 &&
	    db->open(db, NULL, dbpath, "name", DB_UNKNOWN, DB_RDONLY, 0) == 0 &&
	    db->cursor(db, NULL, &c, 0) == 0) {
		memset(&k, 0, sizeof(k));
		memset(&d, 0, sizeof(d));
		while (c->get(c, &k, &d, DB_NEXT) == 0) {
			if (d.size != 4 || k.size == 0 || k.size > MAILDIR_NAME_MAX)
				continue;
			memcpy(name, k.data, k.size);
			name[k.size] = '\0';
			if (strpbrk(name, " \n/") != NULL || strlen(name) != k.size)
				continue;
			memcpy(&be, d.data, 4);
			fprintf(f, "U %u %s\n", ntohl(be), name);
		}
		c->close(c);
	}
	fclose(f);
	_exit(0);
}

static void
salvage_read(const char *dir, struct salvage *sv)
{
	char dbpath[PATH_MAX + 16], line[MAILDIR_NAME_MAX + 32], name[MAILDIR_NAME_MAX + 1];
	int fds[2];
	pid_t pid;
	FILE *f;
	unsigned u;

	memset(sv, 0, sizeof(*sv));
	snprintf(dbpath, sizeof(dbpath), "%s/" INDEX_FILE, dir);
	if (access(dbpath, R_OK) == -1 || pipe2(fds, O_CLOEXEC) == -1)
		return;
	if ((pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		salvage_child(dbpath, fds[1]);
	}
	close(fds[1]);
	if ((f = fdopen(fds[0], "r")) == NULL) {
		close(fds[0]);
		waitpid(pid, NULL, 0);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "V %u", &u) == 1)
			sv->uidvalidity = u;
		else if (sscanf(line, "N %u", &u) == 1)
			sv->next_uid = u;
		else if (sscanf(line, "U %u %255s", &u, name) == 2 && u != 0) {
			if (sv->n == sv->cap) {
				size_t ncap = sv->cap ? sv->cap * 2 : 256;
				struct salvage_pair *nv = realloc(sv->v, ncap * sizeof(*nv));

				if (nv == NULL)
					break;
				sv->v = nv;
				sv->cap = ncap;
			}
			if ((sv->v[sv->n].name = strdup(name)) == NULL)
				break;
			sv->v[sv->n++].uid = u;
		}
	}
	fclose(f);
	waitpid(pid, NULL, 0);
}

static void
salvage_free(struct salvage *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i].name);
	free(sv->v);
}

/* Remove dir and the files in it (an environment has no subdirectories). */
static int
remove_env_dir(const char *dir)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	return rmdir(dir);
}

struct restore_arg {
	struct maildir		*md;
	struct index_scan_list	*scan;
	struct salvage		*sv;
	unsigned		 kept;
};

static int
salvage_by_name(const void *a, const void *b)
{
	return strcmp(((const struct salvage_pair *)a)->name,
	    ((const struct salvage_pair *)b)->name);
}

/* Put back the old UIDs of the files that still exist, and the old next_uid. */
static int
index_restore_txn(struct index *ix, DB_TXN *txn, void *arg)
{
	struct restore_arg *a = arg;
	struct index_rec rec;
	struct salvage_pair key = { 0 }, *p;	/* only .name is compared */
	uint32_t next = a->sv->next_uid, dummy;
	size_t i;
	int r;

	a->kept = 0;
	for (i = 0; i < a->scan->n; i++) {
		key.name = a->scan->v[i].name;
		/* Nothing salvaged: no array (bsearch(NULL, 0) is undefined). */
		p = a->sv->n == 0 ? NULL :
		    bsearch(&key, a->sv->v, a->sv->n, sizeof(*a->sv->v), salvage_by_name);
		if (p == NULL)
			continue;
		/* A UID given twice (damage) is kept only for the first name. */
		if (index_rec_get(ix, txn, p->uid, &rec, 0) == 0)
			continue;
		if ((r = index_name_get(ix, txn, p->name, &dummy, 0)) == 0)
			continue;
		index_scan_to_rec(a->md, &a->scan->v[i], &rec);
		rec.uid = p->uid;
		if ((r = index_rec_insert(ix, txn, &rec)) != 0)
			return r;
		a->kept++;
	}
	if (index_meta_get(ix->meta, txn, "next_uid", &dummy, DB_RMW) == 0 && next > dummy &&
	    (r = index_meta_put(ix->meta, txn, "next_uid", next)) != 0)
		return r;
	return 0;
}

int
index_rebuild(const char *dir, struct maildir *md, struct index_sync_stats *st,
    char *err, size_t errsz)
{
	char lockpath[PATH_MAX + 8];
	struct index_sync_stats dummy;
	struct restore_arg ra = { 0 };
	struct index_scan_list l;
	struct salvage sv;
	struct index *ix = NULL;
	int lockfd, r = -1;

	if (st == NULL)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	snprintf(lockpath, sizeof(lockpath), "%s.lock", dir);
	if ((lockfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errsz, "%s: %s", lockpath, strerror(errno));
		return -1;
	}
	if (flock(lockfd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errsz, "index %s is in use by another process", dir);
		close(lockfd);
		return -1;
	}
	salvage_read(dir, &sv);
	if (sv.n > 1)	/* nothing salvaged: no array (qsort(NULL, 0) is undefined) */
		qsort(sv.v, sv.n, sizeof(*sv.v), salvage_by_name);
	if (remove_env_dir(dir) == -1) {
		snprintf(err, errsz, "cannot remove %s: %s", dir, strerror(errno));
		goto out;
	}
	/* Our exclusive lock would block index_open's shared one: hand over. */
	flock(lockfd, LOCK_UN);
	if ((r = index_open_seed(&ix, dir, sv.uidvalidity, err, errsz)) != 0)
		goto out;
	memset(&l, 0, sizeof(l));
	if ((r = index_scan(ix, md, &l)) == 0) {
		ra.md = md;
		ra.scan = &l;
		ra.sv = &sv;
		r = index_txn(ix, index_restore_txn, &ra, "restore UIDs");
		st->kept = ra.kept;
		index_scan_free(&l);
	}
	if (r == 0)
		r = index_sync(ix, md, st);
	if (r == 0)
		st->kept = ra.kept;
	if (r != 0)
		snprintf(err, errsz, "index %s: %s", dir, index_error(ix));
	index_close(&ix);
out:
	salvage_free(&sv);
	close(lockfd);
	return r;
}
