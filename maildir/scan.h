/*
 * scan: read a Maildir's new/ and cur/ and take its file names apart (maildir(5),
 * Maildir++): base name "time.M<usec>P<pid>R<rand>.host,S=<size>" and, in cur/, the
 * info suffix ":2,<flags>". Pure name parsing plus readdir; never opens a message.
 */
#ifndef LB_MAILDIR_SCAN_H
#define LB_MAILDIR_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maildir/maildir.h"

struct maildir_entry {
	const char	*name;		/* the file name as it is in new/ or cur/ */
	size_t		 baselen;	/* length of the base name (before ':') */
	bool		 in_cur;
};

/*
 * Call cb for every message file in new/ and then cur/ (dot files skipped). A non-zero
 * return from cb stops the scan and is returned. -1 with errno if a directory cannot
 * be read.
 */
int	maildir_scan(struct maildir *md, int (*cb)(const struct maildir_entry *, void *),
	    void *arg);

/* The ",S=<n>" size in the base name (name[0..baselen)). false if there is none. */
bool	maildir_name_size(const char *name, size_t baselen, uint64_t *size_out);
/*
 * Any numeric ",<key>=<n>" field of the base name: 'S' is the file size (Maildir++),
 * 'W' the size with CRLF line ends (Dovecot writes it for LF files). false if absent.
 */
bool	maildir_name_field(const char *name, size_t baselen, char key, uint64_t *value_out);
/* Delivery time from the leading "<seconds>.M<usec>" (usec 0 if absent). */
bool	maildir_name_time(const char *name, uint64_t *sec_out, uint32_t *usec_out);
/* Flags of the ":2,<flags>" suffix as a bit set: 'A'..'Z' bits 0-25, 'a'..'z' 26-51. */
uint64_t maildir_name_flags(const char *name);

#endif
