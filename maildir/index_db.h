/*
 * index_db: what the index's source files share and nothing else needs: the handle,
 * the Berkeley DB record and transaction helpers, and the Maildir listing used by
 * sync and rebuild. Not for use outside maildir/index*.c.
 */
#ifndef LB_INDEX_DB_H
#define LB_INDEX_DB_H

#include <db.h>

#include "maildir/index.h"

#define INDEX_FILE	"index.db"

struct index {
	DB_ENV		*env;
	DB		*meta;
	DB		*byuid;
	DB		*byname;
	int		 lockfd;
	uint32_t	 uidvalidity;
	char		 dir[PATH_MAX];
	char		 err[512];
};

struct index_scan_item {
	char		*name;		/* base name */
	char		*file;		/* the file name in new/ or cur/ */
	bool		 in_cur;
	uint64_t	 flags;
	uint64_t	 sec;
	uint32_t	 usec;
};

struct index_scan_list {
	struct index_scan_item	*v;
	size_t			 n, cap;
};

/* index.c: errors, keys, transactions, records */
void	index_seterr(struct index *ix, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Record a Berkeley DB error; INDEX_CORRUPT if it means damage, else -1. */
int	index_fail(struct index *ix, int r, const char *what);
void	index_dbt_set(DBT *d, const void *p, size_t n);
int	index_meta_get(DB *meta, DB_TXN *txn, const char *key, uint32_t *v,
	    u_int32_t flags);
int	index_meta_put(DB *meta, DB_TXN *txn, const char *key, uint32_t v);
/* Run fn in a transaction, retried when chosen as a deadlock victim. */
int	index_txn(struct index *ix, int (*fn)(struct index *, DB_TXN *, void *),
	    void *arg, const char *what);
int	index_open_seed(struct index **out, const char *dir, uint32_t seed, char *err,
	    size_t errsz);
int	index_rec_get(struct index *ix, DB_TXN *txn, uint32_t uid, struct index_rec *rec,
	    u_int32_t fl);
int	index_rec_put(struct index *ix, DB_TXN *txn, const struct index_rec *rec);
int	index_name_get(struct index *ix, DB_TXN *txn, const char *name, uint32_t *uid,
	    u_int32_t fl);
/* Store rec under a new UID (rec->uid 0) or under its own (a rebuild). */
int	index_rec_insert(struct index *ix, DB_TXN *txn, struct index_rec *rec);
int	index_rec_delete(struct index *ix, DB_TXN *txn, const char *name, uint32_t uid);

/* index_sync.c: the Maildir listing, sorted by base name */
int	index_scan(struct index *ix, struct maildir *md, struct index_scan_list *l);
void	index_scan_free(struct index_scan_list *l);
void	index_scan_to_rec(struct maildir *md, const struct index_scan_item *it,
	    struct index_rec *rec);

#endif
