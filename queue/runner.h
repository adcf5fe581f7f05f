/*
 * runner: the queue runner, a helper process of letterbox-smtpd (after the privilege
 * drop, so it runs as the owner), and the delivery processes it forks.
 *
 * The runner keeps the schedule in memory (the files on disk are the truth, and it
 * rebuilds the schedule from them at start and every few minutes): which message is
 * due when, and which is being delivered. Due messages are handed out in batches that
 * share a route (the smarthost, or the recipient domain), at most queue_concurrency
 * delivery processes at a time; a delivery process reuses its connection for the
 * whole batch. Only a delivery process changes a message's files, and the runner
 * never gives one message to two of them at once; each message file is also flock()ed
 * while in delivery, so "letterbox queue delete" cannot pull it away mid-delivery.
 *
 * Sessions tell the runner of a new message with one datagram holding its id;
 * "letterbox queue flush" sends "flush" (or "flush ID") to <queue>/runner.sock.
 */
#ifndef LB_QUEUE_RUNNER_H
#define LB_QUEUE_RUNNER_H

#include <stddef.h>
#include <sys/types.h>
#include <openssl/ssl.h>

#include "dkim/dkim.h"
#include "lib/settings.h"
#include "maildir/maildir.h"
#include "queue/queue.h"

#define QUEUE_CTL_SOCKET	"runner.sock"	/* in the queue directory */
#define QUEUE_BATCH_MAX		100		/* messages per delivery process */

/* What the parent prepared (as root) for the runner and its delivery processes. */
struct queue_ctx {
	const struct settings	*cfg;
	struct queue		*q;
	struct maildir		*md;		/* bounces go to the owner's Maildir */
	int			 index_fd;	/* indexer datagrams; -1: none */
	const struct dkim_signer *dkim;		/* may be inactive: then no signing */
	SSL_CTX			*tls;		/* the client context */
	const char		*smarthost_pass;	/* NULL: no smarthost AUTH */
};

/* Fork the runner; it reads ids on notify_fd and closes close_fds. Its pid, or -1. */
pid_t	queue_runner_start(const struct queue_ctx *ctx, int notify_fd, const int *close_fds,
	    size_t nclose);

/*
 * In a delivery process: try each message of ids once (those not due are tried as
 * well: the runner decides), write "<id> <next attempt or 0 when gone>\n" to report_fd
 * after each.
 */
void	queue_deliver(const struct queue_ctx *ctx, char *const *ids, size_t n, int report_fd);

/* The retry delay after attempts tries: exponential from retry_initial, ±10% jitter. */
time_t	queue_backoff(const struct settings *cfg, unsigned attempts);

/* The route of a message: "" for the smarthost, else its first pending domain. */
void	queue_route(const struct settings *cfg, const struct queue_msg *m, char *out,
	    size_t outsz);

#endif
