/*
 * t_maildir.h: the directory helpers of the unit tests that deliver into a temporary
 * Maildir (test_maildir, test_maildrop, test_dsn); header only, like t.h.
 *
 *	static char root[] = "/tmp/lb-test-x-XXXXXX";	(made with mkdtemp)
 *	test_assert(t_dir_count(root, "new", first, sizeof(first)) == 1);
 *	t_dir_empty(root, "new");
 *	t_maildir_remove(root);				(at the end)
 */
#ifndef LB_T_MAILDIR_H
#define LB_T_MAILDIR_H

#include <dirent.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

/*
 * The number of non-hidden entries of root/sub, or -1 if it cannot be opened; the
 * first one's name is copied into first unless that is NULL.
 */
static inline int
t_dir_count(const char *root, const char *sub, char *first, size_t firstsz)
{
	char p[300];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(p, sizeof(p), "%s/%s", root, sub);
	if ((d = opendir(p)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == 0 && first != NULL)
			snprintf(first, firstsz, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* Unlink the non-hidden entries of root/sub. */
static inline void
t_dir_empty(const char *root, const char *sub)
{
	char p[300], f[600];
	struct dirent *de;
	DIR *d;

	snprintf(p, sizeof(p), "%s/%s", root, sub);
	if ((d = opendir(p)) == NULL)
		return;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.') {
			snprintf(f, sizeof(f), "%s/%s", p, de->d_name);
			unlink(f);
		}
	closedir(d);
}

/* Remove the Maildir root: the files in tmp/, new/ and cur/, those, then root. */
static inline void
t_maildir_remove(const char *root)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	char p[300];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		t_dir_empty(root, subs[i]);
	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", root, subs[i]);
		rmdir(p);
	}
	rmdir(root);
}

#endif
