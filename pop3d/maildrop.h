/*
 * maildrop: the owner's Maildir as one POP3 session sees it (RFC 1939 §8): a locked,
 * numbered list of messages taken when the session logs in, and the UPDATE state
 * that applies its deletions at QUIT.
 *
 *  - Lock: flock on <Maildir>/letterbox-pop3.lock. A second session gets [IN-USE]; the
 *    kernel drops the lock of a session that dies, so a killed session leaves none.
 *  - Sizes: CRLF octets from the name (",W=" as Dovecot writes, else ",S=" as
 *    Letterbox writes, its files being CRLF), so LIST and STAT open no file. A file
 *    named without either is read once to count its lines.
 *  - UIDL: the base name (the name without ":2,flags"), which never changes and does
 *    not depend on the index (design.md §4), when it fits RFC 1939 §7's 1..70
 *    characters 0x21..0x7E; else "x-" and a BLAKE2b hash of it, stable as well.
 *  - UPDATE: every deleted file is unlinked, every kept file from new/ moves to cur/
 *    (with the Seen flag if it was retrieved), as Dovecot does, then both directories
 *    are fsynced. Each step is one atomic rename or unlink, so a crash leaves each
 *    message wholly present or wholly gone. Files that another program (Dovecot over
 *    IMAP) renamed meanwhile are found again by their base name.
 */
#ifndef LB_POP3D_MAILDROP_H
#define LB_POP3D_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maildir/maildir.h"

#define MAILDROP_LOCK		"letterbox-pop3.lock"
#define MAILDROP_UIDL_MAX	70
#define MAILDROP_MAX_MSGS	1000000

struct pop3_msg {
	char		*name;		/* file name as last seen (in the arena or malloc'ed) */
	uint16_t	 baselen;
	bool		 in_cur;
	bool		 deleted;	/* DELE'd in this session */
	bool		 retrieved;	/* RETR'd in this session: Seen at UPDATE */
	bool		 name_owned;	/* name was malloc'ed after a rename: free it */
	uint64_t	 size;		/* CRLF octets */
};

struct maildrop {
	struct maildir	*md;
	int		 lock_fd;	/* -1 when not locked */
	struct pop3_msg	*msgs;
	size_t		 n;
	size_t		 ndeleted;
	uint64_t	 deleted_size;
	uint64_t	 total_size;	/* of all n messages */
	char		*arena;		/* the names as loaded */
};

void	maildrop_init(struct maildrop *m, struct maildir *md);
/* Take the lock: 0, 1 if another session holds it, -1 with errno. */
int	maildrop_lock(struct maildrop *m);
/* List the messages, in arrival order. 0, or -1 with errno. */
int	maildrop_load(struct maildrop *m);
/* Open message i (0-based) for reading, following a rename by another program. fd or -1. */
int	maildrop_open(struct maildrop *m, size_t i);
/* The UIDL of message i into out (MAILDROP_UIDL_MAX + 1 bytes). */
void	maildrop_uidl(const struct maildrop *m, size_t i, char *out);
/* UPDATE state. 0; or -1 if a deletion failed (the others are applied). */
int	maildrop_update(struct maildrop *m, unsigned *removed_out);
/* Unlock and forget the list. */
void	maildrop_close(struct maildrop *m);

#endif
