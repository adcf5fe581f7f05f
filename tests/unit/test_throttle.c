/*
 * test_throttle: auth/throttle.c with an explicit clock — the delay sequence, spacing
 * of attempts that wait together, a repeat of the same bad credentials answered at
 * once and counted once, refusal after THROTTLE_REFUSE_AFTER failures and its end,
 * failures forgotten after a quiet THROTTLE_FORGET_MS, a success clearing the address,
 * and the least recently seen address evicted from a full table. The shared table: two
 * handles on one file see each other's failures; a file from another boot, of another
 * layout or of garbage starts empty; one not ours alone is refused; a damaged record
 * (no NUL, impossible times) is neither read past nor trusted.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/throttle.h"
#include "tests/unit/t.h"

#define T0	1000000		/* an arbitrary start time (ms) */

/* Credentials number k: distinct for distinct k. */
static const unsigned char *
cred(unsigned k)
{
	static unsigned char c[8][THROTTLE_CRED_LEN];
	static unsigned next;
	unsigned char *p = c[next++ % 8];

	memset(p, 0xa5, THROTTLE_CRED_LEN);
	memcpy(p, &k, sizeof(k));
	return p;
}

static void
test_delay_sequence(void)
{
	static const int64_t want[] = { 0, 2000, 4000, 8000, 15000, 15000, 15000 };
	unsigned f;

	test_begin("throttle: delays 0, 2, 4, 8, then 15 s");
	for (f = 0; f < sizeof(want) / sizeof(want[0]); f++)
		test_assert_idx(throttle_delay_ms(f) == want[f], f);
	test_assert(throttle_delay_ms(THROTTLE_REFUSE_AFTER) == 15000);
	test_assert(throttle_delay_ms(1000000) == 15000);
	test_end();
}

static void
test_fresh_address(void)
{
	struct throttle *t = throttle_new(16);
	int64_t at = -1;

	test_begin("throttle: an address without failures runs at once");
	test_assert(throttle_failures(t, "192.0.2.1", T0) == 0);
	test_assert(throttle_admit(t, "192.0.2.1", cred(1), T0, &at) == THROTTLE_RUN);
	test_assert(at == T0);
	/* Admitting is not failing: a second attempt is not spaced either. */
	test_assert(throttle_admit(t, "192.0.2.1", cred(2), T0 + 1, &at) == THROTTLE_RUN);
	test_assert(at == T0 + 1);
	test_assert(throttle_failures(t, "192.0.2.1", T0 + 1) == 0);
	/* A success of an unknown address changes nothing. */
	throttle_record(t, "192.0.2.1", cred(1), true, T0 + 2);
	test_assert(throttle_failures(t, "192.0.2.1", T0 + 2) == 0);
	throttle_free(t);
	throttle_free(NULL);
	test_end();
}

/*
 * An attacker that retries as soon as it may: each attempt runs at the earliest time
 * it is given and fails. The runs are spaced 2, 4, 8, 15, 15... s apart.
 */
static void
test_delays_between_failures(void)
{
	struct throttle *t = throttle_new(16);
	int64_t now = T0, at;
	unsigned f;

	test_begin("throttle: each failure delays the next attempt by the next step");
	throttle_record(t, "192.0.2.7", cred(100), false, now);
	test_assert(throttle_failures(t, "192.0.2.7", now) == 1);
	for (f = 1; f < THROTTLE_REFUSE_AFTER; f++) {
		test_assert_idx(throttle_admit(t, "192.0.2.7", cred(100 + f), now, &at) ==
		    THROTTLE_RUN, f);
		test_assert_idx(at == now + throttle_delay_ms(f), f);
		now = at;
		throttle_record(t, "192.0.2.7", cred(100 + f), false, now);
		test_assert_idx(throttle_failures(t, "192.0.2.7", now) == f + 1, f);
	}
	/* Another address is not affected at all. */
	test_assert(throttle_admit(t, "192.0.2.8", cred(1), now, &at) == THROTTLE_RUN);
	test_assert(at == now);
	throttle_free(t);
	test_end();
}

static void
test_spacing_of_waiting_attempts(void)
{
	struct throttle *t = throttle_new(16);
	int64_t at1, at2, at3, at4;

	test_begin("throttle: attempts waiting together are spaced, not released at once");
	throttle_record(t, "192.0.2.9", cred(1), false, T0);
	/* Three attempts arrive while the first delay runs. */
	test_assert(throttle_admit(t, "192.0.2.9", cred(2), T0 + 10, &at1) == THROTTLE_RUN);
	test_assert(throttle_admit(t, "192.0.2.9", cred(3), T0 + 20, &at2) == THROTTLE_RUN);
	test_assert(throttle_admit(t, "192.0.2.9", cred(4), T0 + 30, &at3) == THROTTLE_RUN);
	test_assert(at1 == T0 + 2000);
	test_assert(at2 == at1 + 2000);
	test_assert(at3 == at2 + 2000);
	/* The first runs and fails; one more arriving then queues after the others. */
	throttle_record(t, "192.0.2.9", cred(2), false, at1);
	test_assert(throttle_failures(t, "192.0.2.9", at1) == 2);
	test_assert(throttle_admit(t, "192.0.2.9", cred(5), at1 + 1, &at4) == THROTTLE_RUN);
	test_assert(at4 == at3 + 2000);
	/* The second fails: the next slot is no earlier than its time + 8 s. */
	throttle_record(t, "192.0.2.9", cred(3), false, at2);
	test_assert(throttle_failures(t, "192.0.2.9", at2) == 3);
	test_assert(throttle_admit(t, "192.0.2.9", cred(6), at2 + 1, &at4) == THROTTLE_RUN);
	test_assert(at4 == at2 + throttle_delay_ms(3));
	/* Once the queue has drained, an attempt runs when it comes. */
	test_assert(throttle_admit(t, "192.0.2.9", cred(7), at4 + 60000, &at1) ==
	    THROTTLE_RUN);
	test_assert(at1 == at4 + 60000);
	throttle_free(t);
	test_end();
}

static void
test_repeat_not_counted(void)
{
	struct throttle *t = throttle_new(16);
	int64_t at;

	test_begin("throttle: the same bad credentials again count once, fail at once");
	throttle_record(t, "192.0.2.10", cred(7), false, T0);
	/* Thunderbird: PLAIN failed, now LOGIN, then USER/PASS with the same password. */
	test_assert(throttle_admit(t, "192.0.2.10", cred(7), T0 + 100, &at) ==
	    THROTTLE_REPEAT);
	test_assert(throttle_admit(t, "192.0.2.10", cred(7), T0 + 200, &at) ==
	    THROTTLE_REPEAT);
	test_assert(throttle_failures(t, "192.0.2.10", T0 + 200) == 1);
	/* A repeat takes no slot: a new password still waits only the first step. */
	test_assert(throttle_admit(t, "192.0.2.10", cred(8), T0 + 300, &at) ==
	    THROTTLE_RUN);
	test_assert(at == T0 + 2000);
	/* Checked anyway (it waited with the first): its failure is not counted again. */
	throttle_record(t, "192.0.2.10", cred(7), false, T0 + 400);
	test_assert(throttle_failures(t, "192.0.2.10", T0 + 400) == 1);
	/* Another password is another failure. */
	throttle_record(t, "192.0.2.10", cred(8), false, T0 + 2000);
	test_assert(throttle_failures(t, "192.0.2.10", T0 + 2000) == 2);
	/* Only the last failed credentials are a repeat; an older one runs (delayed). */
	test_assert(throttle_admit(t, "192.0.2.10", cred(7), T0 + 2100, &at) ==
	    THROTTLE_RUN);
	test_assert(at >= T0 + 2000 + throttle_delay_ms(2));
	throttle_free(t);
	test_end();
}

static void
test_repeat_window(void)
{
	struct throttle *t = throttle_new(16);
	int64_t at, end = T0 + THROTTLE_REPEAT_MS;

	test_begin("throttle: a repeat is one within THROTTLE_REPEAT_MS of the failure");
	throttle_record(t, "192.0.2.11", cred(9), false, T0);
	test_assert(throttle_admit(t, "192.0.2.11", cred(9), end - 1, &at) ==
	    THROTTLE_REPEAT);
	test_assert(throttle_admit(t, "192.0.2.11", cred(9), end, &at) == THROTTLE_RUN);
	test_assert(at == end);
	/* Its failure now counts: the client really tried again. */
	throttle_record(t, "192.0.2.11", cred(9), false, end);
	test_assert(throttle_failures(t, "192.0.2.11", end) == 2);
	/* A repeat resets the window: recorded repeats keep it a repeat. */
	throttle_record(t, "192.0.2.11", cred(9), false, end + THROTTLE_REPEAT_MS - 1);
	test_assert(throttle_failures(t, "192.0.2.11", end + THROTTLE_REPEAT_MS - 1) == 2);
	test_assert(throttle_admit(t, "192.0.2.11", cred(9),
	    end + 2 * THROTTLE_REPEAT_MS - 2, &at) == THROTTLE_REPEAT);
	throttle_free(t);
	test_end();
}

/* n failures from addr with distinct credentials, each at its earliest time. */
static int64_t
fail_n(struct throttle *t, const char *addr, unsigned n, int64_t now, unsigned k0)
{
	int64_t at = now;
	unsigned i;

	for (i = 0; i < n; i++) {
		if (throttle_admit(t, addr, cred(k0 + i), now, &at) != THROTTLE_RUN)
			return -1;
		now = at;
		throttle_record(t, addr, cred(k0 + i), false, now);
	}
	return now;
}

static void
test_refusal(void)
{
	struct throttle *t = throttle_new(16);
	int64_t last, at;

	test_begin("throttle: refused after THROTTLE_REFUSE_AFTER failures, for a while");
	last = fail_n(t, "198.51.100.1", THROTTLE_REFUSE_AFTER - 1, T0, 200);
	test_assert(last > T0);
	test_assert(throttle_failures(t, "198.51.100.1", last) == THROTTLE_REFUSE_AFTER - 1);
	/* Not yet refused: the tenth attempt runs (after its delay). */
	test_assert(throttle_admit(t, "198.51.100.1", cred(300), last, &at) ==
	    THROTTLE_RUN);
	last = at;
	throttle_record(t, "198.51.100.1", cred(300), false, last);
	test_assert(throttle_failures(t, "198.51.100.1", last) == THROTTLE_REFUSE_AFTER);
	/* Now refused, whatever the credentials, even a repeat of the last ones. */
	test_assert(throttle_admit(t, "198.51.100.1", cred(301), last + 1, &at) ==
	    THROTTLE_REFUSED);
	test_assert(throttle_admit(t, "198.51.100.1", cred(300), last + 2, &at) ==
	    THROTTLE_REFUSED);
	test_assert(throttle_admit(t, "198.51.100.1", cred(302),
	    last + THROTTLE_REFUSE_MS - 1, &at) == THROTTLE_REFUSED);
	/* Refused attempts are not failures. */
	test_assert(throttle_failures(t, "198.51.100.1", last + THROTTLE_REFUSE_MS - 1) ==
	    THROTTLE_REFUSE_AFTER);
	/* Never a lockout of others. */
	test_assert(throttle_admit(t, "198.51.100.2", cred(303), last + 3, &at) ==
	    THROTTLE_RUN);
	test_assert(at == last + 3);
	/* The pause ends: an attempt runs again, and a right password clears it all. */
	test_assert(throttle_admit(t, "198.51.100.1", cred(304), last + THROTTLE_REFUSE_MS,
	    &at) == THROTTLE_RUN);
	test_assert(at >= last + THROTTLE_REFUSE_MS);
	throttle_record(t, "198.51.100.1", cred(304), true, at);
	test_assert(throttle_failures(t, "198.51.100.1", at) == 0);
	test_assert(throttle_admit(t, "198.51.100.1", cred(305), at + 1, &at) ==
	    THROTTLE_RUN);
	throttle_free(t);
	test_end();
}

static void
test_refusal_again(void)
{
	struct throttle *t = throttle_new(16);
	int64_t last, at;

	test_begin("throttle: a failure after the pause refuses again at once");
	last = fail_n(t, "198.51.100.3", THROTTLE_REFUSE_AFTER, T0, 400);
	test_assert(last > T0);
	test_assert(throttle_admit(t, "198.51.100.3", cred(500), last + THROTTLE_REFUSE_MS,
	    &at) == THROTTLE_RUN);
	throttle_record(t, "198.51.100.3", cred(500), false, at);
	test_assert(throttle_failures(t, "198.51.100.3", at) == THROTTLE_REFUSE_AFTER + 1);
	test_assert(throttle_admit(t, "198.51.100.3", cred(501), at + 1, &at) ==
	    THROTTLE_REFUSED);
	throttle_free(t);
	test_end();
}

static void
test_forget(void)
{
	struct throttle *t = throttle_new(16);
	int64_t last, at;

	test_begin("throttle: failures are forgotten after a quiet THROTTLE_FORGET_MS");
	last = fail_n(t, "203.0.113.5", 3, T0, 600);
	test_assert(last > T0);
	test_assert(throttle_failures(t, "203.0.113.5", last + THROTTLE_FORGET_MS - 1) == 3);
	test_assert(throttle_failures(t, "203.0.113.5", last + THROTTLE_FORGET_MS) == 0);
	test_assert(throttle_admit(t, "203.0.113.5", cred(600),
	    last + THROTTLE_FORGET_MS + 1, &at) == THROTTLE_RUN);
	test_assert(at == last + THROTTLE_FORGET_MS + 1);

	/* Even a refused address, once the refusal is over and it has been quiet. */
	last = fail_n(t, "203.0.113.6", THROTTLE_REFUSE_AFTER, T0, 700);
	test_assert(last > T0);
	/* Refused attempts do not extend the quiet time. */
	test_assert(throttle_admit(t, "203.0.113.6", cred(800), last + 1, &at) ==
	    THROTTLE_REFUSED);
	test_assert(throttle_admit(t, "203.0.113.6", cred(801),
	    last + THROTTLE_REFUSE_MS - 1, &at) == THROTTLE_REFUSED);
	test_assert(throttle_failures(t, "203.0.113.6", last + THROTTLE_FORGET_MS - 1) ==
	    THROTTLE_REFUSE_AFTER);
	test_assert(throttle_failures(t, "203.0.113.6", last + THROTTLE_FORGET_MS) == 0);
	test_assert(throttle_admit(t, "203.0.113.6", cred(802),
	    last + THROTTLE_FORGET_MS + 1, &at) == THROTTLE_RUN);
	test_assert(at == last + THROTTLE_FORGET_MS + 1);
	throttle_free(t);
	test_end();
}

static void
test_success_clears(void)
{
	struct throttle *t = throttle_new(16);
	int64_t last, at;

	test_begin("throttle: a success forgets the address");
	last = fail_n(t, "2001:db8::1", 4, T0, 900);
	test_assert(last > T0);
	test_assert(throttle_failures(t, "2001:db8::1", last) == 4);
	test_assert(throttle_admit(t, "2001:db8::1", cred(950), last, &at) ==
	    THROTTLE_RUN);
	test_assert(at == last + throttle_delay_ms(4));
	throttle_record(t, "2001:db8::1", cred(950), true, at);
	test_assert(throttle_failures(t, "2001:db8::1", at) == 0);
	/* No delay, and the old failed credentials are no longer a repeat. */
	test_assert(throttle_admit(t, "2001:db8::1", cred(903), at + 1, &last) ==
	    THROTTLE_RUN);
	test_assert(last == at + 1);
	/* A failure after that is the first one again: 2 s. */
	throttle_record(t, "2001:db8::1", cred(903), false, at + 2);
	test_assert(throttle_failures(t, "2001:db8::1", at + 2) == 1);
	test_assert(throttle_admit(t, "2001:db8::1", cred(904), at + 3, &last) ==
	    THROTTLE_RUN);
	test_assert(last == at + 2 + throttle_delay_ms(1));
	throttle_free(t);
	test_end();
}

static void
test_eviction(void)
{
	static const char longest[] =
	    "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%interface-name-xx";
	struct throttle *t = throttle_new(2), *one;
	int64_t at;

	test_begin("throttle: a full table forgets the least recently seen address");
	throttle_record(t, "192.0.2.101", cred(1), false, T0 + 1);
	throttle_record(t, "192.0.2.102", cred(2), false, T0 + 2);
	test_assert(throttle_failures(t, "192.0.2.101", T0 + 3) == 1);
	test_assert(throttle_failures(t, "192.0.2.102", T0 + 3) == 1);
	/* .101 is seen again (an attempt), so .102 is now the least recently seen. */
	test_assert(throttle_admit(t, "192.0.2.101", cred(3), T0 + 4, &at) ==
	    THROTTLE_RUN);
	throttle_record(t, "192.0.2.103", cred(4), false, T0 + 5);
	test_assert(throttle_failures(t, "192.0.2.101", T0 + 6) == 1);
	test_assert(throttle_failures(t, "192.0.2.102", T0 + 6) == 0);
	test_assert(throttle_failures(t, "192.0.2.103", T0 + 6) == 1);
	/* Then .101 (seen at +4) goes before .103 (seen at +5). */
	throttle_record(t, "192.0.2.104", cred(5), false, T0 + 7);
	test_assert(throttle_failures(t, "192.0.2.101", T0 + 8) == 0);
	test_assert(throttle_failures(t, "192.0.2.103", T0 + 8) == 1);
	test_assert(throttle_failures(t, "192.0.2.104", T0 + 8) == 1);
	/* A success frees a slot: nobody is evicted for the next one. */
	throttle_record(t, "192.0.2.103", cred(6), true, T0 + 9);
	throttle_record(t, "192.0.2.105", cred(7), false, T0 + 10);
	test_assert(throttle_failures(t, "192.0.2.104", T0 + 11) == 1);
	test_assert(throttle_failures(t, "192.0.2.105", T0 + 11) == 1);
	throttle_free(t);

	/* A table of 0 is one of 1; the longest address the auth process passes fits. */
	one = throttle_new(0);
	test_assert(sizeof(longest) == 64);
	throttle_record(one, longest, cred(8), false, T0);
	throttle_record(one, longest, cred(9), false, T0 + 1);
	test_assert(throttle_failures(one, longest, T0 + 2) == 2);
	throttle_record(one, "192.0.2.1", cred(10), false, T0 + 3);
	test_assert(throttle_failures(one, longest, T0 + 4) == 0);
	test_assert(throttle_failures(one, "192.0.2.1", T0 + 4) == 1);
	throttle_free(one);
	test_end();
}

static char shared_dir[] = "/tmp/lb-t-throttle-XXXXXX";

/* The shared table in dfd, or NULL (err printed). */
static struct throttle *
try_shared(int dfd, size_t n)
{
	char err[256];
	struct throttle *t = throttle_open_shared(dfd, "throttle", n, err, sizeof(err));

	if (t == NULL)
		fprintf(stderr, "throttle_open_shared: %s\n", err);
	return t;
}

/* The shared table in dfd; the test cannot go on without it. */
static struct throttle *
open_shared(int dfd, size_t n)
{
	struct throttle *t = try_shared(dfd, n);

	if (t == NULL) {
		test_assert(!"the shared table opens");
		abort();
	}
	return t;
}

static void
test_shared_table(void)
{
	struct throttle *smtp, *pop3;
	int64_t at;
	struct stat st;
	int dfd;

	test_begin("throttle: a shared table adds up the failures of both daemons");
	test_assert(mkdtemp(shared_dir) != NULL);
	test_assert((dfd = open(shared_dir, O_RDONLY | O_DIRECTORY)) != -1);
	smtp = open_shared(dfd, 64);
	pop3 = open_shared(dfd, 64);
	test_assert(fstatat(dfd, "throttle", &st, 0) == 0 && (st.st_mode & 0777) == 0600);
	throttle_record(smtp, "192.0.2.1", cred(1), false, T0);
	test_assert(throttle_failures(pop3, "192.0.2.1", T0 + 1) == 1);
	/* POP3 waits as if its own port had seen the failure. */
	test_assert(throttle_admit(pop3, "192.0.2.1", cred(2), T0 + 1, &at) == THROTTLE_RUN);
	test_assert(at == T0 + 2000);
	throttle_record(pop3, "192.0.2.1", cred(2), false, at);
	test_assert(throttle_failures(smtp, "192.0.2.1", at + 1) == 2);
	test_assert(throttle_failures(smtp, "192.0.2.2", at + 1) == 0);
	/* The owner's success on one port clears the address for both. */
	throttle_record(smtp, "192.0.2.1", cred(3), true, at + 2);
	test_assert(throttle_failures(pop3, "192.0.2.1", at + 3) == 0);
	throttle_free(smtp);
	/* What one wrote outlives it: a daemon restarted finds the failures counted. */
	throttle_record(pop3, "192.0.2.3", cred(4), false, T0);
	throttle_free(pop3);
	pop3 = open_shared(dfd, 64);
	test_assert(throttle_failures(pop3, "192.0.2.3", T0 + 1) == 1);
	throttle_free(pop3);
	close(dfd);
	test_end();
}

/* Overwrite len bytes of the shared file at off. */
static void
damage(int dfd, off_t off, const void *p, size_t len)
{
	int fd = openat(dfd, "throttle", O_WRONLY);

	test_assert(fd != -1 && pwrite(fd, p, len, off) == (ssize_t)len);
	close(fd);
}

static void
test_shared_table_not_trusted(void)
{
	static const char other_boot[] = "00000000-0000-0000-0000-000000000000";
	unsigned char rec[120];
	struct throttle *t, *old;
	char garbage[100];
	int64_t refuse, at;
	int dfd, fd;

	test_begin("throttle: a shared table from another boot, damaged or not ours");
	test_assert((dfd = open(shared_dir, O_RDONLY | O_DIRECTORY)) != -1);
	/* Another boot's clock: its times mean nothing now. */
	t = open_shared(dfd, 64);
	throttle_record(t, "192.0.2.1", cred(1), false, T0);
	throttle_free(t);
	damage(dfd, 16, other_boot, sizeof(other_boot));
	t = open_shared(dfd, 64);
	test_assert(throttle_failures(t, "192.0.2.1", T0 + 1) == 0);
	throttle_record(t, "192.0.2.1", cred(1), false, T0);
	throttle_free(t);
	/*
	 * Another layout (a table of another size), opened while one of the first
	 * layout is mapped (daemons of two versions, during an upgrade): emptied, never
	 * shortened, so the older mapping reads on without a fault.
	 */
	old = open_shared(dfd, 64);
	t = open_shared(dfd, 32);
	test_assert(throttle_failures(t, "192.0.2.1", T0 + 1) == 0);
	test_assert(throttle_failures(old, "192.0.2.1", T0 + 1) == 0);
	throttle_record(old, "192.0.2.64", cred(5), false, T0);
	test_assert(throttle_failures(old, "192.0.2.64", T0 + 1) == 1);
	throttle_free(t);
	throttle_free(old);
	/* Garbage, shorter than a header. */
	memset(garbage, 0x5a, sizeof(garbage));
	test_assert(unlinkat(dfd, "throttle", 0) == 0);
	test_assert((fd = openat(dfd, "throttle", O_WRONLY | O_CREAT, 0600)) != -1);
	test_assert(write(fd, garbage, sizeof(garbage)) == (ssize_t)sizeof(garbage));
	close(fd);
	t = open_shared(dfd, 64);
	test_assert(throttle_failures(t, "192.0.2.1", T0) == 0);
	/*
	 * Records follow the 56-byte header, 120 bytes each: the address (64), failures
	 * (4, then 4 of padding), last failure, last seen, next and refusal times (8 each),
	 * the credentials' hash (16). Slot 0 loses its NUL: not read past.
	 */
	throttle_record(t, "192.0.2.9", cred(1), false, T0);
	memset(rec, 0x7f, sizeof(rec));
	damage(dfd, 56, rec, sizeof(rec));
	test_assert(throttle_failures(t, "192.0.2.9", T0 + 1) == 0);
	test_assert(throttle_failures(t, "192.0.2.8", T0 + 1) == 0);
	/* Slot 1 is refused for ever: no clock of this boot gave that, so it is dropped. */
	throttle_record(t, "192.0.2.7", cred(2), false, T0);
	memcpy(&refuse, (int64_t[]){ INT64_MAX / 2 }, sizeof(refuse));
	damage(dfd, 56 + 120 + 96, &refuse, sizeof(refuse));
	damage(dfd, 56 + 120 + 64, (unsigned[]){ THROTTLE_REFUSE_AFTER }, sizeof(unsigned));
	test_assert(throttle_admit(t, "192.0.2.7", cred(3), T0 + 1, &at) == THROTTLE_RUN);
	test_assert(at == T0 + 1);
	test_assert(throttle_failures(t, "192.0.2.7", T0 + 1) == 0);
	throttle_free(t);
	/* Not ours alone: readable by others, or a symbolic link. */
	test_assert(fchmodat(dfd, "throttle", 0644, 0) == 0);
	test_assert(try_shared(dfd, 64) == NULL);
	test_assert(unlinkat(dfd, "throttle", 0) == 0);
	test_assert(symlinkat("/etc/passwd", dfd, "throttle") == 0);
	test_assert(try_shared(dfd, 64) == NULL);
	test_assert(unlinkat(dfd, "throttle", 0) == 0);
	close(dfd);
	test_assert(rmdir(shared_dir) == 0);
	test_end();
}

int
main(void)
{
	test_delay_sequence();
	test_fresh_address();
	test_delays_between_failures();
	test_spacing_of_waiting_attempts();
	test_repeat_not_counted();
	test_repeat_window();
	test_refusal();
	test_refusal_again();
	test_forget();
	test_success_clears();
	test_eviction();
	test_shared_table();
	test_shared_table_not_trusted();
	return test_exit();
}
