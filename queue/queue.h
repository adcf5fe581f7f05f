/*
 * queue: the outbound queue on disk, <state_dir>/queue (design.md §6).
 *
 *	tmp/		messages being written (as Maildir deliveries: maildir.h)
 *	msg/<id>	committed messages: the envelope, an empty line, the message
 *	state/<id>	delivery progress; absent until an attempt left something to keep
 *
 * A message exists once its file is in msg/ and msg/ is fsynced: that is the commit
 * point, reached before the 250 to end-of-DATA. The file never changes afterwards.
 * Its id is its name (a Maildir unique name: it sorts by arrival). The state file is
 * replaced whole (write, fsync, rename, fsync the directory) after each attempt, so a
 * crash leaves the old state or the new one. A message is done when every recipient
 * is delivered or has failed (and been bounced): its files are removed, msg/ first.
 *
 * Delivery is at least once: a crash after a remote 250 and before the state is saved
 * sends that message again (RFC 5321 §6.1 accepts this; nothing in SMTP can stop it).
 *
 * Envelope lines ("key value\n"):
 *	LBQ1			format version, first line
 *	created <unix time>
 *	from <address>		the envelope sender, without angle brackets
 *	user <login>		who submitted it (AUTH identity)
 *	client <ip>
 *	rcpt <address>		one per recipient, in RCPT order; indexes count from 0
 *
 * State lines:
 *	attempts <n>
 *	next <unix time>	the next attempt
 *	warned <0|1>		a delay warning was sent
 *	rcpt <i> <done|failed|deferred> <unix time> <status> <remote host or -> <reply>
 */
#ifndef LB_QUEUE_H
#define LB_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "maildir/maildir.h"

#define QUEUE_ID_MAX		MAILDIR_NAME_MAX
#define QUEUE_ADDR_MAX		512		/* an address as stored (RFC 5321 §4.5.3.1.3: 256) */
#define QUEUE_RCPT_MAX		10000		/* max_recipients' ceiling */
#define QUEUE_ENVELOPE_MAX	(QUEUE_RCPT_MAX * (QUEUE_ADDR_MAX + 8) + 4096)
#define QUEUE_REPLY_MAX		512

struct queue {
	struct maildir	spool;		/* dfd_tmp = tmp/, dfd_new = msg/ */
	int		dfd_state;
};

enum queue_rcpt_status {
	QR_PENDING = 0,		/* not tried, or deferred: try again */
	QR_DEFERRED,		/* a temporary failure; still pending */
	QR_DONE,		/* a remote 2xx */
	QR_FAILED,		/* permanent failure: bounced */
};

struct queue_rcpt {
	char			*addr;
	enum queue_rcpt_status	 status;
	time_t			 last;			/* last attempt, 0: none */
	char			 dsn[16];		/* RFC 3463 status of the last outcome */
	char			 remote[256];		/* host that answered, "" if none */
	char			 reply[QUEUE_REPLY_MAX];	/* its reply or our reason */
};

struct queue_msg {
	char			 id[QUEUE_ID_MAX + 1];
	int			 fd;		/* the msg/ file, read-only */
	off_t			 body_off;	/* where the message starts */
	off_t			 size;		/* message octets (CRLF) */
	time_t			 created;
	char			*from;
	char			*user;
	char			*client;
	struct queue_rcpt	*rcpt;
	size_t			 nrcpt;
	unsigned		 attempts;
	time_t			 next;
	bool			 warned;
};

/*
 * Open (creating for uid:gid unless uid is -1) root/queue and its directories; root
 * is the state_dir's descriptor. 0, or -1 with errno.
 */
int	queue_open(struct queue *q, int root, const char *hostname, uid_t uid, gid_t gid);
void	queue_close(struct queue *q);

/*
 * Start a message: a tmp file holding the envelope; the message itself follows with
 * maildir_delivery_write, and maildir_delivery_commit(&q->spool, ...) commits it (its
 * name is the id). rcpts are n addresses. 0, or -1 with errno.
 */
int	queue_begin(struct queue *q, struct maildir_delivery *d, const char *from,
	    const char *const *rcpts, size_t n, const char *user, const char *client);

/* Parse an envelope (text up to, not including, the empty line) into m. 0 or -1. */
int	queue_envelope_parse(const char *text, size_t len, struct queue_msg *m);
/* Apply a state file's text to m (whose envelope is parsed). 0 or -1. */
int	queue_state_parse(const char *text, size_t len, struct queue_msg *m);

/*
 * Open and read message id: envelope and state. 0; -1 with errno (ENOENT: gone, as
 * after a delete; EINVAL: damaged). queue_msg_free() after either.
 */
int	queue_msg_load(struct queue *q, const char *id, struct queue_msg *m);
void	queue_msg_free(struct queue_msg *m);
/* Replace the state file (durably). 0, or -1 with errno. */
int	queue_state_save(struct queue *q, const struct queue_msg *m);
/* Remove the message (msg/ first, then its state). 0, or -1 with errno. */
int	queue_remove(struct queue *q, const char *id);
/* Whether every recipient is done or failed. */
bool	queue_msg_finished(const struct queue_msg *m);

/*
 * Remove the state files whose message is gone (a removal whose last step failed:
 * queue_remove takes msg/ first). ids: msg/'s, sorted, from queue_list_ids. Returns
 * how many were removed.
 */
size_t	queue_prune_states(struct queue *q, char *const *ids, size_t n);

/* The ids in msg/, sorted (arrival order); *ids is malloc'd, queue_ids_free() it. */
int	queue_list_ids(struct queue *q, char ***ids, size_t *n);
void	queue_ids_free(char **ids, size_t n);
/* qsort/bsearch comparator for that array (its elements are char *). */
int	queue_ids_cmp(const void *a, const void *b);

/* Whether s is a plausible id (a file name: no '/', no leading '.'). */
bool	queue_id_valid(const char *s);

const char *queue_rcpt_status_name(enum queue_rcpt_status st);

#endif
