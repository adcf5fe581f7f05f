/*
 * maildir: crash-safe delivery into a Maildir (maildir(5); Maildir++ ",S=" sizes).
 *
 * A delivery is: create tmp/<unique> (O_EXCL) -> write -> fdatasync -> rename into
 * new/<unique>,S=<size> without replacing anything -> fsync(new/). Only after the last
 * step does the caller say 250: the name is then durable too (POSIX needs the directory
 * fsync for that). Any failure before it unlinks the tmp file, so nothing partial ever
 * appears in new/ or cur/. Files hold the message exactly as received on the wire,
 * with CRLF line ends, so S= is the size in CRLF octets that POP3 reports.
 */
#ifndef LB_MAILDIR_H
#define LB_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#define MAILDIR_NAME_MAX	255

struct maildir {
	bool	unnamed_tmp;	/* deliveries start as O_TMPFILE files (see below) */
	int	dfd_root;
	int	dfd_tmp;
	int	dfd_new;
	int	dfd_cur;
	char	host[64];	/* hostname with '/' and ':' encoded (maildir(5)) */
};

struct maildir_delivery {
	int	fd;		/* -1 when not open */
	bool	unnamed;	/* an O_TMPFILE file: it has no name until published */
	size_t	size;		/* bytes written */
	char	tmpname[MAILDIR_NAME_MAX + 1];
};

/*
 * Open path/{tmp,new,cur}, creating what is missing; directories it creates are given
 * to uid:gid unless uid is (uid_t)-1 (a root parent creating them for the mail user).
 * 0, or -1 with errno.
 */
int	maildir_open(struct maildir *md, const char *path, const char *hostname, uid_t uid,
	    gid_t gid);
/*
 * The same with other names for tmp/new/cur, under the directory at (AT_FDCWD or an
 * fd): the outbound queue is a spool of the same kind (queue/queue.h).
 */
int	maildir_open_at(struct maildir *md, int at, const char *path,
	    const char *const sub[3], const char *hostname, uid_t uid, gid_t gid);
void	maildir_close(struct maildir *md);

/*
 * Deliveries start as unnamed files in tmp/'s file system (O_TMPFILE) and are linked
 * into new/ once fdatasync'ed: the message is still written before it is visible and
 * fsynced before its name is, but no directory entry is made and removed in tmp/ (one
 * directory lock per delivery instead of three, which matters with many concurrent
 * sessions), and a crash can leave nothing behind: the kernel frees an unnamed file.
 * This probes that the kernel, the file system and /proc allow it, and turns it on.
 * Without it deliveries use named tmp/ files and rename(2), as maildir(5) describes.
 */
bool	maildir_use_unnamed_tmp(struct maildir *md);

/* Start a delivery: a fresh file in tmp/. 0, or -1 with errno. */
int	maildir_delivery_begin(struct maildir *md, struct maildir_delivery *d);
/* Append n bytes. 0, or -1 with errno (ENOSPC, EDQUOT, EIO, ...). */
int	maildir_delivery_write(struct maildir_delivery *d, const void *p, size_t n);
/*
 * Make it durable and visible in new/. name_out (MAILDIR_NAME_MAX + 1 bytes) gets the
 * base name. 0, or -1 with errno; on failure nothing is left in new/ or tmp/.
 */
int	maildir_delivery_commit(struct maildir *md, struct maildir_delivery *d,
	    char *name_out);
/* Give up a delivery: close and unlink the tmp file. Safe to call twice. */
void	maildir_delivery_abort(struct maildir *md, struct maildir_delivery *d);

/* Remove tmp/ files last modified more than max_age seconds ago (maildir(5): 36 h). */
int	maildir_clean_tmp(struct maildir *md, time_t max_age);

#endif
