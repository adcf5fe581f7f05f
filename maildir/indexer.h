/*
 * indexer: the one process that writes deliveries into the index. Sessions tell it
 * about each message they delivered with one datagram, sent without waiting, after
 * the 250: the index can never fail or slow a delivery. What it misses (a full
 * socket buffer, a restart) the next sync picks up from the Maildir: a report lost
 * to a full queue makes that sync come within seconds.
 */
#ifndef LB_INDEXER_H
#define LB_INDEXER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "maildir/maildir.h"

/*
 * Fork the indexer: it changes to the Maildir's directory, opens (rebuilding if
 * damaged) the index in dir, syncs it with the Maildir, then adds what arrives on
 * sock, and syncs again after every resync_ms idle, until SIGTERM or its parent's
 * death. close_fds[0..nclose) are closed in the child. Returns its pid or -1.
 */
pid_t	indexer_start(const char *dir, struct maildir *md, int sock, int64_t resync_ms,
	    const int *close_fds, size_t nclose);

/*
 * In the daemon, before it forks the indexer and the sessions: the flag by which a
 * session that could not report a delivery asks the indexer for a prompt resync.
 */
void	indexer_missed_init(void);

/* From a session: message name (the base name in new/) was delivered. Never blocks. */
void	indexer_notify(int sock, const char *name, uint64_t size, uint64_t arrival);

/*
 * The index directory: the configured one, or INDEX_DIRNAME, which is relative to the
 * Maildir: users of the index fchdir() to the Maildir first.
 */
void	indexer_dir(const char *index_dir, char *out, size_t outsz);

#endif
