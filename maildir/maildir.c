/*
 * maildir: crash-safe Maildir delivery (see maildir.h for the protocol on disk).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "lib/util.h"
#include "maildir/maildir.h"

/*
 * Unique names are time.M<usec>P<pid>R<random>.host (maildir(5), Dovecot's form).
 * The host part is cut so that the whole base name with ",S=<size>" stays within the
 * 70 characters RFC 1939 §7 allows for a UIDL, which is this name (design.md).
 */
#define MAILDIR_HOST_MAX	20
#define MAILDIR_NAME_TRIES	5

int
maildir_open(struct maildir *md, const char *path, const char *hostname, uid_t uid,
    gid_t gid)
{
	const char *const sub[3] = { "tmp", "new", "cur" };

	return maildir_open_at(md, AT_FDCWD, path, sub, hostname, uid, gid);
}

int
maildir_open_at(struct maildir *md, int at, const char *path, const char *const sub[3],
    const char *hostname, uid_t uid, gid_t gid)
{
	size_t o = 0;
	const char *h;

	md->unnamed_tmp = false;
	md->dfd_root = md->dfd_tmp = md->dfd_new = md->dfd_cur = -1;
	if ((md->dfd_root = util_mkdirat_open(at, path, uid, gid)) == -1)
		goto fail;
	if ((md->dfd_tmp = util_mkdirat_open(md->dfd_root, sub[0], uid, gid)) == -1 ||
	    (md->dfd_new = util_mkdirat_open(md->dfd_root, sub[1], uid, gid)) == -1 ||
	    (md->dfd_cur = util_mkdirat_open(md->dfd_root, sub[2], uid, gid)) == -1)
		goto fail;
	/* maildir(5): '/' and ':' in the host name are written as \057 and \072. */
	for (h = hostname; *h != '\0' && o + 4 < MAILDIR_HOST_MAX; h++) {
		if (*h == '/' || *h == ':') {
			snprintf(md->host + o, sizeof(md->host) - o, "\\%03o",
			    (unsigned char)*h);
			o += 4;
		} else if ((unsigned char)*h > ' ' && (unsigned char)*h < 0x7f &&
		    *h != '\\' && *h != ',')
			md->host[o++] = *h;
	}
	if (o == 0)
		md->host[o++] = 'x';
	md->host[o] = '\0';
	return 0;
fail:
	maildir_close(md);
	return -1;
}

void
maildir_close(struct maildir *md)
{
	int *fds[] = { &md->dfd_root, &md->dfd_tmp, &md->dfd_new, &md->dfd_cur };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] != -1)
			/* There is no outer fds: a cppcheck 2.10 false positive. */
			/* cppcheck-suppress shadowVariable */
			close(*fds[i]);
		*fds[i] = -1;
	}
}

static void
maildir_unique(const struct maildir *md, char *out, size_t outsz)
{
	struct timeval tv;
	char rnd[9];

	gettimeofday(&tv, NULL);
	util_random_hex(rnd, 4);
	snprintf(out, outsz, "%lld.M%06ldP%ldR%s.%s", (long long)tv.tv_sec,
	    (long)tv.tv_usec, (long)getpid(), rnd, md->host);
}

/* A link to an open unnamed file (O_TMPFILE), through the process's own fd table. */
static int
maildir_link_fd(int fd, int dfd, const char *name)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return linkat(AT_FDCWD, path, dfd, name, AT_SYMLINK_FOLLOW);
}

bool
maildir_use_unnamed_tmp(struct maildir *md)
{
	char name[MAILDIR_NAME_MAX + 1];
	int fd;

	md->unnamed_tmp = false;
	fd = openat(md->dfd_tmp, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
	if (fd == -1)
		return false;
	/* Linking must work too: it needs /proc and the file system's support. */
	maildir_unique(md, name, sizeof(name));
	if (maildir_link_fd(fd, md->dfd_tmp, name) == 0) {
		unlinkat(md->dfd_tmp, name, 0);
		md->unnamed_tmp = true;
	}
	close(fd);
	return md->unnamed_tmp;
}

int
maildir_delivery_begin(struct maildir *md, struct maildir_delivery *d)
{
	int i;

	d->size = 0;
	d->fd = -1;
	d->unnamed = false;
	if (md->unnamed_tmp) {
		d->fd = openat(md->dfd_tmp, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (d->fd != -1) {
			d->unnamed = true;
			d->tmpname[0] = '\0';	/* named when published */
			return 0;
		}
	}
	for (i = 0; i < MAILDIR_NAME_TRIES; i++) {
		maildir_unique(md, d->tmpname, sizeof(d->tmpname));
		d->fd = openat(md->dfd_tmp, d->tmpname,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (d->fd != -1)
			return 0;
		if (errno != EEXIST)
			break;
	}
	d->tmpname[0] = '\0';
	return -1;
}

int
maildir_delivery_write(struct maildir_delivery *d, const void *p, size_t n)
{
	const char *c = p;
	ssize_t w;

	while (n > 0) {
		w = write(d->fd, c, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
		d->size += (size_t)w;
	}
	return 0;
}

/* Move tmp/<tmpname> to new/<name> without ever replacing an existing message. */
static int
maildir_publish(struct maildir *md, const char *tmpname, const char *name)
{
	if (renameat2(md->dfd_tmp, tmpname, md->dfd_new, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without RENAME_NOREPLACE: link() refuses to replace too. */
	if (linkat(md->dfd_tmp, tmpname, md->dfd_new, name, 0) == -1)
		return -1;
	unlinkat(md->dfd_tmp, tmpname, 0);
	return 0;
}

/*
 * Publish an unnamed file as new/<name>,S=<size>; a taken name gets a fresh one. The
 * name is made now, not when the file was opened, so that the names' time order is
 * the order in which messages became visible (the index gives UIDs in that order).
 */
static int
maildir_publish_unnamed(struct maildir *md, struct maildir_delivery *d, char *name,
    size_t namesz)
{
	int i, n;

	for (i = 0; i < MAILDIR_NAME_TRIES; i++) {
		maildir_unique(md, d->tmpname, sizeof(d->tmpname));
		n = snprintf(name, namesz, "%s,S=%zu", d->tmpname, d->size);
		if (n < 0 || (size_t)n >= namesz) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (maildir_link_fd(d->fd, md->dfd_new, name) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
	}
	return -1;
}

int
maildir_delivery_commit(struct maildir *md, struct maildir_delivery *d, char *name_out)
{
	char name[MAILDIR_NAME_MAX + 1];
	int saved, n;

	if (fdatasync(d->fd) == -1)
		goto fail;
	if (d->unnamed) {
		if (maildir_publish_unnamed(md, d, name, sizeof(name)) == -1)
			goto fail;
		close(d->fd);
		d->fd = -1;
	} else {
		if (close(d->fd) == -1) {
			d->fd = -1;
			goto fail;
		}
		d->fd = -1;
		n = snprintf(name, sizeof(name), "%s,S=%zu", d->tmpname, d->size);
		if (n < 0 || (size_t)n >= sizeof(name)) {
			errno = ENAMETOOLONG;
			goto fail;
		}
		if (maildir_publish(md, d->tmpname, name) == -1)
			goto fail;
	}
	d->tmpname[0] = '\0';
	/* The new name itself is durable only once the directory is (POSIX fsync). */
	if (fsync(md->dfd_new) == -1) {
		saved = errno;
		/* Not acknowledged, so take it back rather than risk a duplicate later. */
		unlinkat(md->dfd_new, name, 0);
		errno = saved;
		return -1;
	}
	memcpy(name_out, name, strlen(name) + 1);
	return 0;
fail:
	saved = errno;
	maildir_delivery_abort(md, d);
	errno = saved;
	return -1;
}

void
maildir_delivery_abort(struct maildir *md, struct maildir_delivery *d)
{
	if (d->fd != -1)
		close(d->fd);
	d->fd = -1;
	/* An unnamed file vanishes with its last fd; a named one must be unlinked. */
	if (d->tmpname[0] != '\0' && !d->unnamed)
		unlinkat(md->dfd_tmp, d->tmpname, 0);
	d->tmpname[0] = '\0';
}

int
maildir_clean_tmp(struct maildir *md, time_t max_age)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	time_t now = time(NULL);
	int fd, removed = 0;

	if ((fd = dup(md->dfd_tmp)) == -1)
		return -1;
	if ((dir = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(dir);
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(md->dfd_tmp, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (!S_ISREG(st.st_mode) || now - st.st_mtime < max_age)
			continue;
		if (unlinkat(md->dfd_tmp, de->d_name, 0) == 0)
			removed++;
	}
	closedir(dir);
	return removed;
}
