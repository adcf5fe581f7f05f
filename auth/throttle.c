/*
 * throttle: failed-login bookkeeping per client address (see throttle.h).
 * A small array searched linearly: logins are rare, and the table is bounded.
 *
 * The shared table is a file of a header and the same array, mapped MAP_SHARED by the
 * auth process of each daemon and locked (flock) for each call, so that failures on
 * submission and on POP3 add up. The times in it are CLOCK_MONOTONIC's, which starts
 * again at each boot: the header names the boot (the kernel's boot_id), and a table
 * from another boot, another layout or damaged is cleared, never trusted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "lib/xmalloc.h"

#define THROTTLE_MAGIC	"LBTHROT1"
#define THROTTLE_BOOT_ID	"/proc/sys/kernel/random/boot_id"

struct throttle_addr {
	char		addr[64];	/* "" = free slot */
	unsigned	failures;
	int64_t		last_fail_ms;
	int64_t		last_seen_ms;
	int64_t		next_ms;	/* no attempt runs before this */
	int64_t		refuse_until_ms;
	unsigned char	last_cred[THROTTLE_CRED_LEN];
};

struct throttle_head {
	char		magic[8];
	uint32_t	n;		/* records that follow */
	uint32_t	recsize;	/* sizeof(struct throttle_addr) */
	char		boot[40];	/* boot_id, NUL-terminated */
};

struct throttle {
	size_t			 n;
	struct throttle_addr	*a;
	int			 fd;	/* the shared file, or -1 (in memory) */
	void			*map;
	size_t			 maplen;
};

struct throttle *
throttle_new(size_t max_addrs)
{
	struct throttle *t = xcalloc(1, sizeof(*t));

	t->n = max_addrs > 0 ? max_addrs : 1;
	t->a = xcalloc(t->n, sizeof(*t->a));
	t->fd = -1;
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	if (t->fd != -1) {
		munmap(t->map, t->maplen);
		close(t->fd);
	} else
		free(t->a);
	free(t);
}

/* The shared table's lock, for one call's look and change; none in memory. */
static void
throttle_lock(const struct throttle *t, int op)
{
	if (t->fd != -1)
		while (flock(t->fd, op) == -1 && errno == EINTR)
			;
}

/* This boot's id into boot (NUL-terminated). 0 or -1. */
static int
throttle_boot_id(char boot[40])
{
	ssize_t r;
	int fd;

	memset(boot, 0, 40);
	if ((fd = open(THROTTLE_BOOT_ID, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	r = read(fd, boot, 39);
	close(fd);
	if (r < 32)
		return -1;
	boot[strcspn(boot, "\n")] = '\0';
	return 0;
}

struct throttle *
throttle_open_shared(int dirfd, const char *name, size_t max_addrs, char *err,
    size_t errsz)
{
	struct throttle_head want, have, *head;
	struct throttle *t;
	struct stat st;
	size_t n = max_addrs > 0 ? max_addrs : 1;
	size_t len = sizeof(want) + n * sizeof(struct throttle_addr);
	void *map;
	int fd;

	memset(&want, 0, sizeof(want));
	memcpy(want.magic, THROTTLE_MAGIC, sizeof(want.magic));
	want.n = (uint32_t)n;
	want.recsize = sizeof(struct throttle_addr);
	if (throttle_boot_id(want.boot) == -1) {
		snprintf(err, errsz, "cannot read %s", THROTTLE_BOOT_ID);
		return NULL;
	}
	if ((fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK, 0600)) == -1) {
		snprintf(err, errsz, "%s: %s", name, strerror(errno));
		return NULL;
	}
	while (flock(fd, LOCK_EX) == -1)
		if (errno != EINTR)
			goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	/* Ours alone: another user's file could feed us any table. */
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		snprintf(err, errsz, "%s: not a regular file of ours with mode 0600", name);
		goto fail_msg;
	}
	if (pread(fd, &have, sizeof(have), 0) != (ssize_t)sizeof(have) ||
	    memcmp(&have, &want, sizeof(want)) != 0) {
		/*
		 * New, from another boot or layout, or damaged: start empty, by truncating
		 * (it holds no pages then) and growing again, never to less than it was:
		 * a process of another layout (an older daemon during an upgrade) may
		 * have it mapped, and a mapping past the end of its file faults.
		 */
		if (ftruncate(fd, 0) == -1 || ftruncate(fd, (uintmax_t)st.st_size > len ?
		    st.st_size : (off_t)len) == -1 ||
		    pwrite(fd, &want, sizeof(want), 0) != (ssize_t)sizeof(want))
			goto fail;
	} else if ((uintmax_t)st.st_size < len && ftruncate(fd, (off_t)len) == -1)
		goto fail;
	if ((map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED)
		goto fail;
	head = map;
	flock(fd, LOCK_UN);
	t = xcalloc(1, sizeof(*t));
	t->n = n;
	t->a = (struct throttle_addr *)(head + 1);
	t->fd = fd;
	t->map = map;
	t->maplen = len;
	return t;
fail:
	snprintf(err, errsz, "%s: %s", name, strerror(errno));
fail_msg:
	close(fd);
	return NULL;
}

int64_t
throttle_delay_ms(unsigned f)
{
	static const int64_t steps[] = { 0, 2000, 4000, 8000 };

	return f < sizeof(steps) / sizeof(steps[0]) ? steps[f] : 15000;
}

/* addr's slot, its failures forgotten after a quiet THROTTLE_FORGET_MS; NULL if none. */
static struct throttle_addr *
throttle_find(const struct throttle *t, const char *addr, int64_t now_ms)
{
	struct throttle_addr *e;
	size_t i;

	for (i = 0; i < t->n; i++) {
		e = &t->a[i];
		/* Bounded: a shared table's record may lack its NUL. */
		if (e->addr[0] == '\0' || strncmp(e->addr, addr, sizeof(e->addr)) != 0)
			continue;
		/*
		 * Forgotten after a quiet while; and dropped if its times cannot be from
		 * this clock (a failure is recorded at most seconds ahead, when its reply
		 * is due), which only a damaged shared table would hold.
		 */
		if ((now_ms - e->last_fail_ms >= THROTTLE_FORGET_MS &&
		    now_ms >= e->refuse_until_ms && now_ms >= e->next_ms) ||
		    e->last_fail_ms > now_ms + THROTTLE_FORGET_MS ||
		    e->next_ms > now_ms + THROTTLE_FORGET_MS ||
		    e->refuse_until_ms > now_ms + THROTTLE_REFUSE_MS + THROTTLE_FORGET_MS) {
			memset(e, 0, sizeof(*e));
			return NULL;
		}
		return e;
	}
	return NULL;
}

/* A slot for addr: a free one, or the least recently seen. */
static struct throttle_addr *
throttle_slot(struct throttle *t, const char *addr)
{
	struct throttle_addr *e, *oldest = &t->a[0];
	size_t i;

	for (i = 0; i < t->n; i++) {
		e = &t->a[i];
		if (e->addr[0] == '\0') {
			oldest = e;
			break;
		}
		if (e->last_seen_ms < oldest->last_seen_ms)
			oldest = e;
	}
	memset(oldest, 0, sizeof(*oldest));
	strncpy(oldest->addr, addr, sizeof(oldest->addr) - 1);
	return oldest;
}

static enum throttle_verdict
throttle_admit_held(struct throttle *t, const char *addr,
    const unsigned char cred[THROTTLE_CRED_LEN], int64_t now_ms, int64_t *at_ms)
{
	struct throttle_addr *e = throttle_find(t, addr, now_ms);
	int64_t at;

	*at_ms = now_ms;
	if (e == NULL)
		return THROTTLE_RUN;
	e->last_seen_ms = now_ms;
	if (now_ms < e->refuse_until_ms)
		return THROTTLE_REFUSED;
	if (e->failures > 0 && now_ms - e->last_fail_ms < THROTTLE_REPEAT_MS &&
	    memcmp(e->last_cred, cred, THROTTLE_CRED_LEN) == 0)
		return THROTTLE_REPEAT;
	at = e->next_ms > now_ms ? e->next_ms : now_ms;
	/* Attempts waiting together are spaced out, not released at once. */
	e->next_ms = at + throttle_delay_ms(e->failures);
	*at_ms = at;
	return THROTTLE_RUN;
}

static void
throttle_record_held(struct throttle *t, const char *addr,
    const unsigned char cred[THROTTLE_CRED_LEN], bool ok, int64_t now_ms)
{
	struct throttle_addr *e = throttle_find(t, addr, now_ms);
	int64_t next;

	if (ok) {
		if (e != NULL)
			memset(e, 0, sizeof(*e));
		return;
	}
	if (e == NULL)
		e = throttle_slot(t, addr);
	e->last_seen_ms = now_ms;
	if (e->failures > 0 && now_ms - e->last_fail_ms < THROTTLE_REPEAT_MS &&
	    memcmp(e->last_cred, cred, THROTTLE_CRED_LEN) == 0) {
		e->last_fail_ms = now_ms;
		return;		/* the same wrong password by another mechanism */
	}
	e->failures++;
	e->last_fail_ms = now_ms;
	memcpy(e->last_cred, cred, THROTTLE_CRED_LEN);
	next = now_ms + throttle_delay_ms(e->failures);
	if (next > e->next_ms)
		e->next_ms = next;
	if (e->failures >= THROTTLE_REFUSE_AFTER)
		e->refuse_until_ms = now_ms + THROTTLE_REFUSE_MS;
}

enum throttle_verdict
throttle_admit(struct throttle *t, const char *addr,
    const unsigned char cred[THROTTLE_CRED_LEN], int64_t now_ms, int64_t *at_ms)
{
	enum throttle_verdict v;

	throttle_lock(t, LOCK_EX);
	v = throttle_admit_held(t, addr, cred, now_ms, at_ms);
	throttle_lock(t, LOCK_UN);
	return v;
}

void
throttle_record(struct throttle *t, const char *addr,
    const unsigned char cred[THROTTLE_CRED_LEN], bool ok, int64_t now_ms)
{
	throttle_lock(t, LOCK_EX);
	throttle_record_held(t, addr, cred, ok, now_ms);
	throttle_lock(t, LOCK_UN);
}

unsigned
throttle_failures(const struct throttle *t, const char *addr, int64_t now_ms)
{
	const struct throttle_addr *e;
	unsigned f;

	throttle_lock(t, LOCK_EX);	/* throttle_find may clear a stale record */
	e = throttle_find(t, addr, now_ms);
	f = e != NULL ? e->failures : 0;
	throttle_lock(t, LOCK_UN);
	return f;
}
