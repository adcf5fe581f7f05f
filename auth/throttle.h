/*
 * throttle: polite per-address throttling of failed logins (design.md §5). No clock of
 * its own: the auth process passes the time in (unit-tested). The table is in memory,
 * or in a file that both daemons' auth processes share.
 *
 * An address with f counted failures waits before each further attempt: 2, 4, 8, then
 * 15 s; after THROTTLE_REFUSE_AFTER failures its attempts are refused for
 * THROTTLE_REFUSE_MS (a temporary error, never a lockout: other addresses are not
 * affected, and a correct password works again after the pause). A success forgets
 * the address. The same wrong credentials sent again soon (Thunderbird tries PLAIN,
 * then LOGIN, then USER/PASS with one password, clients.md) count once and are
 * answered at once, without asking PAM again.
 */
#ifndef LB_AUTH_THROTTLE_H
#define LB_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_CRED_LEN	16		/* keyed hash of user and password */
#define THROTTLE_REFUSE_AFTER	10
#define THROTTLE_REFUSE_MS	(10 * 60 * 1000)
#define THROTTLE_FORGET_MS	(15 * 60 * 1000)	/* quiet time that clears failures */
#define THROTTLE_REPEAT_MS	(2 * 60 * 1000)	/* a repeat of the same bad credentials */

struct throttle;

enum throttle_verdict {
	THROTTLE_RUN,		/* check the password at *at_ms */
	THROTTLE_REPEAT,	/* these credentials just failed from here: fail now */
	THROTTLE_REFUSED,	/* too many failures: temporary refusal */
};

/* A table of at most max_addrs addresses (the least recently seen one is forgotten). */
struct throttle *throttle_new(size_t max_addrs);
/*
 * The same table in the file name under dirfd (created 0600), shared by every process
 * that opens it: the auth processes of smtpd and pop3d count one address's failures
 * together, so an attacker does not get the allowance once per port. NULL with err
 * when the file cannot be used (the caller falls back to throttle_new).
 */
struct throttle *throttle_open_shared(int dirfd, const char *name, size_t max_addrs,
	    char *err, size_t errsz);
void	throttle_free(struct throttle *t);

/*
 * An attempt from addr with credentials cred arrives at now_ms. On THROTTLE_RUN,
 * *at_ms is when to check it (now_ms when the address has no failures), and later
 * attempts from addr are spaced after it.
 */
enum throttle_verdict throttle_admit(struct throttle *t, const char *addr,
	    const unsigned char cred[THROTTLE_CRED_LEN], int64_t now_ms, int64_t *at_ms);
/* The outcome of a checked attempt. */
void	throttle_record(struct throttle *t, const char *addr,
	    const unsigned char cred[THROTTLE_CRED_LEN], bool ok, int64_t now_ms);
/* Counted failures of addr (tests and logs). */
unsigned throttle_failures(const struct throttle *t, const char *addr, int64_t now_ms);
/* The wait after the f-th failure, in ms: 2, 4, 8, 15, 15... s. */
int64_t	throttle_delay_ms(unsigned f);

#endif
