/*
 * index: the Berkeley DB index of one Maildir: stable UIDs, sizes, flags, arrival
 * times. Derived data: the Maildir is the truth, and the index can be rebuilt from it
 * at any time (keeping the UIDs it can still read). Its on-disk format is described at
 * the top of index.c.
 *
 * Return conventions: 0 success, -1 error (message in the index's last error),
 * INDEX_CORRUPT when the files cannot be used and a rebuild is needed.
 */
#ifndef LB_INDEX_H
#define LB_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maildir/maildir.h"

#define INDEX_CORRUPT	(-2)
#define INDEX_DIRNAME	"letterbox-index"	/* inside the Maildir, ignored by Dovecot */

struct index;

struct index_rec {
	uint32_t	uid;
	bool		in_cur;			/* the file is in cur/ (else new/) */
	uint64_t	size;			/* CRLF octets (POP3 LIST/STAT) */
	uint64_t	arrival;		/* seconds since the epoch */
	uint64_t	flags;			/* maildir_name_flags() bits */
	char		name[MAILDIR_NAME_MAX + 1];	/* base name: the POP3 UIDL */
};

/* A packed record is INDEX_REC_HDR bytes and the base name (format: index.c). */
#define INDEX_REC_HDR	32
#define INDEX_REC_MAX	(INDEX_REC_HDR + MAILDIR_NAME_MAX)
size_t	index_rec_pack(const struct index_rec *rec, unsigned char *out);
/* -1 if p is not a well-formed record (pure: fuzzed). */
int	index_rec_unpack(const unsigned char *p, size_t len, uint32_t uid,
	    struct index_rec *rec);

struct index_sync_stats {
	unsigned	added;		/* files that got a UID */
	unsigned	removed;	/* entries whose file is gone */
	unsigned	updated;	/* moved new/ -> cur/ or flags changed */
	unsigned	kept;		/* rebuild: UIDs carried over from the old index */
};

/*
 * Open (creating) the index in dir. Recovery after a crashed user runs by itself
 * (DB_REGISTER | DB_RECOVER). INDEX_CORRUPT: rebuild with index_rebuild().
 */
int	index_open(struct index **out, const char *dir, char *err, size_t errsz);
void	index_close(struct index **ix);
const char *index_error(const struct index *ix);

uint32_t index_uidvalidity(const struct index *ix);
/* The next UID to be given (one more than the highest ever given). */
int	index_next_uid(struct index *ix, uint32_t *out);

/* Give UIDs, in array order, to the names not yet indexed. */
int	index_add(struct index *ix, const struct index_rec *recs, size_t n);
/* Reconcile with the Maildir: new files get UIDs in arrival order, gone ones go. */
int	index_sync(struct index *ix, struct maildir *md, struct index_sync_stats *st);
/*
 * Compare without changing anything; report(line) for every mismatch. Returns the
 * number of mismatches, or -1.
 */
long	index_verify(struct index *ix, struct maildir *md,
	    void (*report)(const char *line, void *arg), void *arg);
/* Every record in UID order; a non-zero return from cb stops and is returned. */
int	index_foreach(struct index *ix, int (*cb)(const struct index_rec *, void *),
	    void *arg);
/* By base name (the POP3 UIDL) or by UID: 1 found, 0 not found, -1 error. */
int	index_lookup(struct index *ix, const char *base, struct index_rec *out);
int	index_lookup_uid(struct index *ix, uint32_t uid, struct index_rec *out);

/*
 * Rebuild dir from the Maildir: read what can still be read of the old index (UIDs,
 * UIDVALIDITY), replace it with a fresh one holding those UIDs for the files that
 * still exist, then sync. UIDVALIDITY changes only if the old one could not be read.
 * The Maildir is never modified. Fails if another process has the index open.
 */
int	index_rebuild(const char *dir, struct maildir *md, struct index_sync_stats *st,
	    char *err, size_t errsz);

#endif
