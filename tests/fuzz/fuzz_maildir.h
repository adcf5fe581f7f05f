/*
 * fuzz_maildir.h: the temporary Maildir the whole-session fuzzers deliver into or
 * read from, emptied and removed again at exit. Header-only: each harness is one .c.
 */
#ifndef LB_FUZZ_MAILDIR_H
#define LB_FUZZ_MAILDIR_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "maildir/maildir.h"

/* Remove every plain file of the directory dfd (dot files and subdirectories stay). */
static inline void
fuzz_empty_dir(int dfd)
{
	struct dirent *de;
	DIR *dir;
	int fd;

	if ((fd = dup(dfd)) == -1 || (dir = fdopendir(fd)) == NULL)
		abort();
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.' && de->d_type != DT_DIR)
			unlinkat(dfd, de->d_name, 0);
	closedir(dir);
}

/* Empty tmp/, new/ and cur/, close md and remove the directories under dir. */
static inline void
fuzz_maildir_remove(struct maildir *md, const char *dir)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	char p[256];
	size_t i;

	fuzz_empty_dir(md->dfd_tmp);
	fuzz_empty_dir(md->dfd_new);
	fuzz_empty_dir(md->dfd_cur);
	maildir_close(md);
	for (i = 0; i < sizeof(sub) / sizeof(sub[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, sub[i]);
		rmdir(p);
	}
	rmdir(dir);
}

#endif
