/*
 * throttle: failed-login bookkeeping per client address (see throttle.h).
 * A small array searched linearly: logins are rare, and the table is bounded.
 */
#include <stdlib.h>
#include <string.h>

#include "auth/throttle.h"
#include "lib/xmalloc.h"

struct throttle_addr {
	char		addr[64];	/* "" = free slot */
	unsigned	failures;
	int64_t		last_fail_ms;
	int64_t		last_seen_ms;
	int64_t		next_ms;	/* no attempt runs before this */
	int64_t		refuse_until_ms;
	unsigned char	last_cred[THROTTLE_CRED_LEN];
};

struct throttle {
	size_t			 n;
	struct throttle_addr	*a;
};

struct throttle *
throttle_new(size_t max_addrs)
{
	struct throttle *t = xcalloc(1, sizeof(*t));

	t->n = max_addrs > 0 ? max_addrs : 1;
	t->a = xcalloc(t->n, sizeof(*t->a));
	return t;
}

void
throttle_free(struct throttle *t)
{
	if (t == NULL)
		return;
	free(t->a);
	free(t);
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
		if (e->addr[0] == '\0' || strcmp(e->addr, addr) != 0)
			continue;
		if (now_ms - e->last_fail_ms >= THROTTLE_FORGET_MS &&
		    now_ms >= e->refuse_until_ms && now_ms >= e->next_ms) {
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

enum throttle_verdict
throttle_admit(struct throttle *t, const char *addr,
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

void
throttle_record(struct throttle *t, const char *addr,
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

unsigned
throttle_failures(const struct throttle *t, const char *addr, int64_t now_ms)
{
	const struct throttle_addr *e = throttle_find(t, addr, now_ms);

	return e != NULL ? e->failures : 0;
}
