/*
 * scan: Maildir directory listing and file name parsing (see scan.h).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir/scan.h"

static int
maildir_scan_dir(int dfd, bool in_cur, int (*cb)(const struct maildir_entry *, void *),
    void *arg)
{
	struct maildir_entry e;
	struct dirent *de;
	DIR *dir;
	int fd, rc = 0, saved;

	if ((fd = dup(dfd)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	rewinddir(dir);
	errno = 0;
	while (rc == 0 && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
			continue;
		e.name = de->d_name;
		e.baselen = strcspn(de->d_name, ":");
		e.in_cur = in_cur;
		rc = cb(&e, arg);
		errno = 0;
	}
	saved = errno;
	closedir(dir);
	if (rc == 0 && saved != 0) {
		errno = saved;
		return -1;
	}
	return rc;
}

int
maildir_scan(struct maildir *md, int (*cb)(const struct maildir_entry *, void *), void *arg)
{
	int rc;

	if ((rc = maildir_scan_dir(md->dfd_new, false, cb, arg)) != 0)
		return rc;
	return maildir_scan_dir(md->dfd_cur, true, cb, arg);
}

bool
maildir_name_field(const char *name, size_t baselen, char key, uint64_t *value_out)
{
	const char *p = name, *end = name + baselen;
	uint64_t n;

	/* Maildir++: ",S=<size>" among the comma-separated fields after the host. */
	while ((p = memchr(p, ',', (size_t)(end - p))) != NULL) {
		p++;
		if (end - p >= 3 && p[0] == key && p[1] == '=' && p[2] >= '0' && p[2] <= '9') {
			n = 0;
			for (p += 2; p < end && *p >= '0' && *p <= '9'; p++) {
				if (n > (UINT64_MAX - 9) / 10)
					return false;
				n = n * 10 + (uint64_t)(*p - '0');
			}
			*value_out = n;
			return true;
		}
	}
	return false;
}

bool
maildir_name_size(const char *name, size_t baselen, uint64_t *size_out)
{
	return maildir_name_field(name, baselen, 'S', size_out);
}

bool
maildir_name_time(const char *name, uint64_t *sec_out, uint32_t *usec_out)
{
	uint64_t sec = 0;
	uint32_t usec = 0;
	const char *p = name;

	if (*p < '0' || *p > '9')
		return false;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (sec > UINT64_MAX / 10 - 9)
			return false;
		sec = sec * 10 + (uint64_t)(*p - '0');
	}
	if (p[0] == '.' && p[1] == 'M')
		for (p += 2; *p >= '0' && *p <= '9' && usec < 100000000; p++)
			usec = usec * 10 + (uint32_t)(*p - '0');
	*sec_out = sec;
	*usec_out = usec;
	return true;
}

uint64_t
maildir_name_flags(const char *name)
{
	const char *info = strstr(name, ":2,");
	uint64_t f = 0;

	if (info == NULL)
		return 0;
	for (info += 3; *info != '\0'; info++) {
		if (*info >= 'A' && *info <= 'Z')
			f |= 1ULL << (*info - 'A');
		else if (*info >= 'a' && *info <= 'z')
			f |= 1ULL << (26 + (*info - 'a'));
	}
	return f;
}
