/*
 * indexer: the index-writing process (see indexer.h).
 *
 * Datagram: "<size> <arrival> <base name>" (one message per datagram, so a partial
 * message can never be read). The indexer drains what is queued, adds it in one
 * transaction, and waits again; under load one transaction covers many deliveries.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/helper.h"
#include "lib/log.h"
#include "lib/util.h"
#include "maildir/index.h"
#include "maildir/indexer.h"
#include "maildir/scan.h"

/*
 * Deliveries pending at once. Reaching it forces everything pending in, settled or
 * not, which can give UIDs out of name order: keep it well above what arrives within
 * INDEXER_SETTLE_MS at full speed (the memory is only touched when used).
 */
#define INDEXER_BATCH		4096
#define INDEXER_DGRAM_MAX	(MAILDIR_NAME_MAX + 48)
#define INDEXER_RETRY_MS	1000
#define INDEXER_SETTLE_MS	500
#define INDEXER_NAP_MS		20
/*
 * After a report was lost, the resync comes this soon once the indexer is idle: late
 * enough that one Maildir scan serves a whole burst, soon enough that the index
 * agrees with the Maildir within seconds rather than at the next resync_ms.
 */
#define INDEXER_MISSED_RESYNC_MS	1000

/*
 * Set by a session whose report found the queue full (the reports wait in the send
 * buffer of the socket all sessions share, net.core.wmem_default: some hundreds of
 * them); the indexer clears it and resyncs. In memory shared by the daemon and
 * everything it forks.
 */
static atomic_uint *indexer_missed;

static volatile sig_atomic_t indexer_stop;
/* The signal mask while waiting: SIGTERM and SIGINT are blocked at all other times. */
static sigset_t indexer_waitmask;

static void
indexer_signal(int sig)
{
	(void)sig;
	indexer_stop = 1;
}

void
indexer_dir(const char *index_dir, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s", index_dir != NULL ? index_dir : INDEX_DIRNAME);
}

void
indexer_missed_init(void)
{
	void *p = mmap(NULL, sizeof(*indexer_missed), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		fatal("mmap");
	indexer_missed = p;
	atomic_init(indexer_missed, 0);
}

void
indexer_notify(int sock, const char *name, uint64_t size, uint64_t arrival)
{
	char msg[INDEXER_DGRAM_MAX];
	int n;

	if (sock == -1)
		return;
	n = snprintf(msg, sizeof(msg), "%llu %llu %s", (unsigned long long)size,
	    (unsigned long long)arrival, name);
	if (n < 0 || (size_t)n >= sizeof(msg))
		return;
	if (send(sock, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)n)
		return;
	log_debug("index notification dropped: %s", strerror(errno));
	/*
	 * A full queue or a missing indexer only delays the index: the indexer resyncs
	 * soon when told. Flag first, then try once more: if the queue still is full, the
	 * indexer has reports to wake for and sees the flag after them; if not, this one
	 * wakes it. Either way the flag cannot sit unseen until the next resync_ms.
	 */
	if (indexer_missed != NULL) {
		atomic_store(indexer_missed, 1);
		(void)send(sock, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
}

static int
indexer_parse(const char *msg, size_t len, struct index_rec *rec)
{
	unsigned long long size, arrival;
	char buf[INDEXER_DGRAM_MAX + 1];
	int off = 0;

	if (len == 0 || len > INDEXER_DGRAM_MAX)
		return -1;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	memset(rec, 0, sizeof(*rec));
	if (sscanf(buf, "%llu %llu %n", &size, &arrival, &off) != 2 || off == 0)
		return -1;
	if (buf[off] == '\0' || strlen(buf + off) > MAILDIR_NAME_MAX ||
	    strpbrk(buf + off, "/:\n") != NULL)
		return -1;
	snprintf(rec->name, sizeof(rec->name), "%s", buf + off);
	rec->size = size;
	rec->arrival = arrival;
	/* The name's own time, as a sync or rebuild would read it. */
	{
		uint64_t sec;
		uint32_t usec;

		if (maildir_name_time(rec->name, &sec, &usec))
			rec->arrival = sec;
	}
	return 0;
}

/*
 * poll() that a stop request cannot slip past: SIGTERM/SIGINT are unblocked only
 * inside ppoll(), so one that arrived earlier (while opening the index, say) ends the
 * wait at once instead of being handled just before an endless poll().
 */
static int
indexer_wait(struct pollfd *pfd, nfds_t n, int64_t ms)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	return ppoll(pfd, n, ms < 0 ? NULL : &ts, &indexer_waitmask);
}

/* Open the index, rebuilding it if it is damaged, and reconcile it with the Maildir. */
static struct index *
indexer_open(const char *dir, struct maildir *md)
{
	struct index_sync_stats st;
	struct index *ix = NULL;
	char err[512];
	int r;

	r = index_open(&ix, dir, err, sizeof(err));
	if (r == INDEX_CORRUPT) {
		log_warnx("index damaged (%s): rebuilding from the Maildir", err);
		if (index_rebuild(dir, md, &st, err, sizeof(err)) == -1) {
			log_warnx("index rebuild: %s", err);
			return NULL;
		}
		log_info("index rebuilt: %u UIDs kept, %u new", st.kept, st.added);
		r = index_open(&ix, dir, err, sizeof(err));
	}
	if (r != 0) {
		log_warnx("%s", err);
		return NULL;
	}
	if (index_sync(ix, md, &st) != 0) {
		log_warnx("index sync: %s", index_error(ix));
		index_close(&ix);
		return NULL;
	}
	if (st.added || st.removed || st.updated)
		log_info("index synced: added=%u removed=%u updated=%u", st.added, st.removed,
		    st.updated);
	return ix;
}

/*
 * Reports waiting to settle, kept in arrival (name) order: p[head..n). A report is
 * inserted from the end, where it nearly always belongs, so keeping the order costs
 * little more than an append; the time in its name is parsed once, on arrival.
 */
struct pending {
	struct index_rec	rec;
	uint64_t		sec;		/* from the name: the sort key */
	uint32_t		usec;
	int64_t			ripe_ms;	/* monotonic time from which it may be added */
};

struct pending_list {
	struct pending	*p;
	size_t		 head, n;
};

static bool
pending_before(const struct pending *a, const struct pending *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec;
	if (a->usec != b->usec)
		return a->usec < b->usec;
	return strcmp(a->rec.name, b->rec.name) < 0;
}

/* Take the report in pl->p[pl->n] into the list, in order. */
static void
pending_insert(struct pending_list *pl)
{
	struct pending it = pl->p[pl->n];
	size_t i = pl->n;

	if (!maildir_name_time(it.rec.name, &it.sec, &it.usec)) {
		it.sec = 0;
		it.usec = 0;
	}
	while (i > pl->head && pending_before(&it, &pl->p[i - 1])) {
		pl->p[i] = pl->p[i - 1];
		i--;
	}
	pl->p[i] = it;
	pl->n++;
}

struct locate {
	struct index_rec	*rec;
	size_t			 len;
	bool			 found;
};

static int
indexer_locate_cb(const struct maildir_entry *e, void *arg)
{
	struct locate *l = arg;

	if (!e->in_cur || e->baselen != l->len || memcmp(e->name, l->rec->name, l->len) != 0)
		return 0;
	l->rec->in_cur = true;
	l->rec->flags = maildir_name_flags(e->name);
	l->found = true;
	return 1;
}

/*
 * Where a reported message is now: still in new/ (nearly always), moved to cur/ by a
 * client since (then with its flags), or gone (expunged, and perhaps already removed
 * from the index by a sync): false, and it must not be added.
 */
static bool
indexer_locate(struct maildir *md, struct index_rec *rec)
{
	struct locate l = { rec, strlen(rec->name), false };

	if (faccessat(md->dfd_new, rec->name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
		return true;
	return maildir_scan(md, indexer_locate_cb, &l) == 1 && l.found;
}

/*
 * Add the pending deliveries that have settled, in name (arrival) order: a session
 * names its file, fsyncs, then reports, so reports can arrive out of order. Waiting
 * INDEXER_SETTLE_MS before giving a UID lets the earlier-named ones catch up, which
 * keeps UIDs in Maildir name order, the order a rebuild from scratch would give.
 * With force, everything pending is added.
 */
static int
indexer_flush(struct index *ix, struct maildir *md, struct pending_list *pl,
    struct index_rec *batch, bool force)
{
	int64_t now = util_now_ms();
	size_t k, nb = 0;

	for (k = pl->head; k < pl->n && (force || pl->p[k].ripe_ms <= now); k++)
		if (indexer_locate(md, &pl->p[k].rec))
			batch[nb++] = pl->p[k].rec;
	if (k == pl->head)
		return 0;
	if (nb > 0 && index_add(ix, batch, nb) != 0)
		return -1;
	pl->head = k;
	if (pl->head == pl->n)
		pl->head = pl->n = 0;
	return 0;
}

/*
 * Now and then, when idle, reconcile with the Maildir: reports can be lost (a full
 * socket buffer, sessions that outlived a previous indexer) and other programs
 * (Dovecot, a user's mv) change the Maildir without telling us.
 */
static int
indexer_resync(struct index *ix, struct maildir *md)
{
	struct index_sync_stats st;

	if (index_sync(ix, md, &st) != 0)
		return -1;
	if (st.added || st.removed || st.updated)
		log_info("index resynced: added=%u removed=%u updated=%u", st.added,
		    st.removed, st.updated);
	return 0;
}

static void __attribute__((noreturn))
indexer_main(const char *dir, struct maildir *md, int sock, int64_t resync_ms)
{
	struct pending_list pl = { NULL, 0, 0 };
	struct index_rec *batch;
	struct index *ix = NULL;
	struct pollfd pfd = { .fd = sock, .events = POLLIN };
	char msg[INDEXER_DGRAM_MAX];
	int64_t wait, next_resync = 0;
	ssize_t n;
	size_t np;

	if ((pl.p = calloc(INDEXER_BATCH, sizeof(*pl.p))) == NULL ||
	    (batch = calloc(INDEXER_BATCH, sizeof(*batch))) == NULL)
		fatal("calloc");
	while (!indexer_stop) {
		if (ix == NULL) {
			if ((ix = indexer_open(dir, md)) == NULL) {
				/* Deliveries go on without it; try again shortly. */
				indexer_wait(NULL, 0, INDEXER_RETRY_MS);
				continue;
			}
			next_resync = util_now_ms() + resync_ms;
		}
		/*
		 * Idle: wake for the next resync. Busy: when the oldest report settles (the
		 * ones behind it wait for it anyway, to keep UIDs in order).
		 */
		np = pl.n - pl.head;
		if (np == 0)
			wait = next_resync - util_now_ms();
		else
			wait = pl.p[pl.head].ripe_ms - util_now_ms();
		if (wait < 0)
			wait = 0;
		if (indexer_wait(&pfd, 1, wait) == -1 && errno != EINTR)
			fatal("poll");
		while (pl.n < INDEXER_BATCH) {
			n = recv(sock, msg, sizeof(msg), MSG_DONTWAIT);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			if (indexer_parse(msg, (size_t)n, &pl.p[pl.n].rec) == 0) {
				pl.p[pl.n].ripe_ms = util_now_ms() + INDEXER_SETTLE_MS;
				pending_insert(&pl);
			}
		}
		if (indexer_flush(ix, md, &pl, batch, pl.n == INDEXER_BATCH) != 0 ||
		    (pl.n == 0 && util_now_ms() >= next_resync &&
		    indexer_resync(ix, md) != 0)) {
			/* Damage or a recovery by another process: reopen (and sync). */
			log_warnx("index: %s; reopening", index_error(ix));
			index_close(&ix);
			pl.head = pl.n = 0;	/* the sync at reopen finds them */
		} else if (pl.n == 0 && util_now_ms() >= next_resync)
			next_resync = util_now_ms() + resync_ms;
		if (indexer_missed != NULL && atomic_exchange(indexer_missed, 0) != 0 &&
		    next_resync > util_now_ms() + INDEXER_MISSED_RESYNC_MS)
			next_resync = util_now_ms() + INDEXER_MISSED_RESYNC_MS;
		/*
		 * Busy: let reports gather for a moment, so that one wake-up and one
		 * transaction serve many deliveries instead of one each (the queue holds
		 * some hundreds of reports, far more than a nap's worth; what a long
		 * transaction makes overflow, the prompt resync picks up).
		 */
		if (pl.n > pl.head)
			indexer_wait(NULL, 0, INDEXER_NAP_MS);
	}
	if (ix != NULL)
		indexer_flush(ix, md, &pl, batch, true);
	index_close(&ix);
	free(batch);
	free(pl.p);
	_exit(0);
}

pid_t
indexer_start(const char *dir, struct maildir *md, int sock, int64_t resync_ms,
    const int *close_fds, size_t nclose)
{
	struct sigaction sa;
	sigset_t saved;
	pid_t pid;

	/*
	 * A daemon killed with -9 cannot stop its indexer: helper_fork has the kernel
	 * send a SIGKILL. Else the orphan would keep the index open for good, and its
	 * lock would refuse every rebuild. Stop signals stay blocked until indexer_wait().
	 */
	if ((pid = helper_fork(close_fds, nclose, &saved)) != 0)
		return pid;
	indexer_waitmask = saved;
	sigdelset(&indexer_waitmask, SIGTERM);
	sigdelset(&indexer_waitmask, SIGINT);
	/*
	 * A relative index directory is inside the Maildir. Working from the Maildir's
	 * own descriptor means the mail user needs no search access to its parents.
	 */
	if (fchdir(md->dfd_root) == -1)
		fatal("fchdir to the Maildir");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = indexer_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	log_set_session("indexer");
	indexer_main(dir, md, sock, resync_ms);
}
