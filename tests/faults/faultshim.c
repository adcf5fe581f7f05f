/*
 * faultshim: an LD_PRELOAD library that makes chosen file system calls of the daemons
 * fail with a chosen errno (ENOSPC, EIO, ...), for tests/faults (never linked into
 * Letterbox, never installed).
 *
 *	LD_PRELOAD=build/release/tests/faultshim.so
 *	LB_FAULT_FILE=/dir/control	the rules (below); no file: no faults
 *	LB_FAULT_LOG=/dir/log		one line per injected fault (optional)
 *
 * Both variables are read once, at the first intercepted call. The control file is
 * looked at (one stat) on every intercepted call and read again when it changed
 * (inode, size or mtime: write a new file and rename it over the old one), so a
 * running daemon is switched without a restart. Lines ('#' starts a comment):
 *
 *	CALLS ERRNO PATH SKIP COUNT
 *
 *	CALLS	comma-separated: write pwrite pwrite64 writev fsync fdatasync rename
 *		renameat renameat2 link linkat unlink unlinkat, accept4 (its path is
 *		the listening socket's, "socket:[<inode>]"), or tmpfile (an openat()
 *		with O_TMPFILE: the daemon then falls back to named tmp/ files)
 *	ERRNO	ENOSPC EIO EDQUOT EROFS EOPNOTSUPP EPERM EMFILE ENFILE, or a number
 *	PATH	a substring of the path the call works on ("*": any). For a call on a
 *		descriptor, the path is readlink(/proc/self/fd/N): an unnamed O_TMPFILE
 *		file reads "<dir>/#<inode> (deleted)". For *at() calls it is the
 *		directory's path, "/", the name; for rename and link either name matches.
 *	SKIP	matching calls let through before the first failure
 *	COUNT	failures, then the rule is spent (0: no end)
 *
 *	counters PATH
 *
 * Where SKIP and COUNT are counted. With a counters line, in PATH, a file of at least
 * 4 KiB of zeros that every process maps shared: the counts are then those of all the
 * processes together, whichever session process, helper or delivery process makes
 * the call (write a new file with each new control file). Without one, the counts
 * are per process and start from 0 whenever a process reads the file again: a
 * process forked before the change reads it itself at its next call, one forked
 * after it inherits its parent's counts.
 *
 * The log line is "faultshim pid=N call=C errno=E path=P". Nothing is allocated; a
 * call made while the shim is busy (from a signal handler) goes straight through;
 * the daemons' processes are single-threaded.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHIM_RULES	8
#define SHIM_CALLS	16
#define SHIM_SUBSTR	256
#define SHIM_FILE_MAX	4096
#define SHIM_MAP_SIZE	4096

struct rule {
	char		calls[SHIM_CALLS][16];
	size_t		ncalls;
	int		err;
	char		substr[SHIM_SUBSTR];
	unsigned long	skip, count;
	unsigned long	own[2];		/* seen, failed: without a counters file */
	unsigned long	*n;		/* own, or this rule's pair in the shared map */
};

static struct rule rules[SHIM_RULES];
static size_t nrules;
static volatile sig_atomic_t busy;
static bool inited;
static char ctl_path[PATH_MAX], log_path[PATH_MAX];
static struct stat ctl_st;
static bool ctl_present;
static unsigned long *shared;	/* the counters file, mapped; NULL: none */

static const struct {
	const char	*name;
	int		 err;
} errnames[] = {
	{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EDQUOT", EDQUOT }, { "EROFS", EROFS },
	{ "EOPNOTSUPP", EOPNOTSUPP }, { "EPERM", EPERM }, { "EMFILE", EMFILE },
	{ "ENFILE", ENFILE },
};

/*
 * The next function of that name after this library: libc's. (Under ASan, whose
 * runtime is preloaded before this library, its interceptors come first and call us.)
 */
static void *
shim_real(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (p == NULL)
		abort();
	return p;
}

/* real_NAME: the function NAME that this library's NAME stands in front of. */
#define REAL(name)	static __typeof__(name) *real_##name; \
	if (real_##name == NULL) real_##name = (__typeof__(name) *)shim_real(#name)

static const char *
shim_errname(int e)
{
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == e)
			return errnames[i].name;
	return "?";
}

static int
shim_parse_errno(const char *s)
{
	char *end;
	long v;
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(s, errnames[i].name) == 0)
			return errnames[i].err;
	v = strtol(s, &end, 10);
	return *s != '\0' && *end == '\0' && v > 0 && v < 4096 ? (int)v : 0;
}

/* One "CALLS ERRNO PATH SKIP COUNT" line into r; false if it is not one. */
static bool
shim_parse_line(char *line, struct rule *r)
{
	char *f[5], *save = NULL, *c, *csave = NULL, *end;
	size_t k;

	for (k = 0; k < 5; k++)
		if ((f[k] = strtok_r(k == 0 ? line : NULL, " \t", &save)) == NULL)
			return false;
	memset(r, 0, sizeof(*r));
	for (c = strtok_r(f[0], ",", &csave); c != NULL; c = strtok_r(NULL, ",", &csave)) {
		if (r->ncalls == SHIM_CALLS || strlen(c) >= sizeof(r->calls[0]))
			return false;
		memcpy(r->calls[r->ncalls++], c, strlen(c) + 1);
	}
	if ((r->err = shim_parse_errno(f[1])) == 0 || strlen(f[2]) >= sizeof(r->substr))
		return false;
	memcpy(r->substr, f[2], strlen(f[2]) + 1);
	r->skip = strtoul(f[3], &end, 10);
	if (*end != '\0')
		return false;
	r->count = strtoul(f[4], &end, 10);
	return *end == '\0';
}

static void
shim_load(void)
{
	char buf[SHIM_FILE_MAX + 1], *line, *save = NULL, *hash;
	void *map;
	ssize_t n;
	size_t len = 0, i;
	int fd;

	nrules = 0;
	if (shared != NULL)
		munmap(shared, SHIM_MAP_SIZE);
	shared = NULL;
	if ((fd = open(ctl_path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	while (len < SHIM_FILE_MAX && (n = read(fd, buf + len, SHIM_FILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL && nrules < SHIM_RULES;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if (strncmp(line, "counters ", 9) == 0) {
			if (shared == NULL && (fd = open(line + 9, O_RDWR | O_CLOEXEC)) != -1) {
				map = mmap(NULL, SHIM_MAP_SIZE, PROT_READ | PROT_WRITE,
				    MAP_SHARED, fd, 0);
				close(fd);
				if (map != MAP_FAILED)
					shared = map;
			}
		} else if (shim_parse_line(line, &rules[nrules]))
			nrules++;
	}
	for (i = 0; i < nrules; i++)
		rules[i].n = shared != NULL ? shared + 2 * i : rules[i].own;
}

/* Read the rules again if the control file changed since they were read. */
static void
shim_refresh(void)
{
	const char *p;
	struct stat st;
	bool present;

	if (!inited) {
		inited = true;
		if ((p = getenv("LB_FAULT_FILE")) != NULL && strlen(p) < sizeof(ctl_path))
			memcpy(ctl_path, p, strlen(p) + 1);
		if ((p = getenv("LB_FAULT_LOG")) != NULL && strlen(p) < sizeof(log_path))
			memcpy(log_path, p, strlen(p) + 1);
	}
	if (ctl_path[0] == '\0')
		return;
	present = stat(ctl_path, &st) == 0;
	if (present == ctl_present && (!present || (st.st_ino == ctl_st.st_ino &&
	    st.st_size == ctl_st.st_size && st.st_mtim.tv_sec == ctl_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == ctl_st.st_mtim.tv_nsec)))
		return;
	ctl_present = present;
	nrules = 0;
	if (present) {
		ctl_st = st;
		shim_load();
	}
}

/* Whether any rule names call: only then is a path worth resolving. */
static bool
shim_wanted(const char *call)
{
	size_t i, k;

	for (i = 0; i < nrules; i++)
		for (k = 0; k < rules[i].ncalls; k++)
			if (strcmp(rules[i].calls[k], call) == 0)
				return true;
	return false;
}

static void
shim_fd_path(int fd, char *out, size_t outsz)
{
	char proc[64];
	ssize_t n;

	if (fd == AT_FDCWD)
		snprintf(proc, sizeof(proc), "/proc/self/cwd");
	else
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((n = readlink(proc, out, outsz - 1)) < 0)
		n = 0;
	out[n] = '\0';
}

static void
shim_at_path(int dirfd, const char *name, char *out, size_t outsz)
{
	size_t n;

	if (name == NULL)
		name = "";
	if (name[0] == '/') {
		snprintf(out, outsz, "%s", name);
		return;
	}
	shim_fd_path(dirfd, out, outsz);
	n = strlen(out);
	snprintf(out + n, outsz - n, "/%s", name);
}

static void
shim_log(const char *call, int err, const char *path)
{
	char line[PATH_MAX + 128];
	int fd, n;

	if (log_path[0] == '\0')
		return;
	n = snprintf(line, sizeof(line), "faultshim pid=%ld call=%s errno=%s path=%s\n",
	    (long)getpid(), call, shim_errname(err), path);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if ((fd = open(log_path, O_WRONLY | O_APPEND | O_CLOEXEC)) == -1)
		return;
	REAL(write);
	(void)real_write(fd, line, (size_t)n);
	close(fd);
}

/*
 * The errno to fail call with, or 0 to let it through. p1 and p2 are the paths it
 * works on (p2 may be NULL); each rule counts a call once.
 */
static int
shim_decide(const char *call, const char *p1, const char *p2)
{
	struct rule *r;
	size_t i, k;

	for (i = 0; i < nrules; i++) {
		r = &rules[i];
		for (k = 0; k < r->ncalls && strcmp(r->calls[k], call) != 0; k++)
			;
		if (k == r->ncalls)
			continue;
		if (strcmp(r->substr, "*") != 0 && strstr(p1, r->substr) == NULL &&
		    (p2 == NULL || strstr(p2, r->substr) == NULL))
			continue;
		/* Atomic: with a counters file, other processes count in the same place. */
		if (__atomic_add_fetch(&r->n[0], 1, __ATOMIC_SEQ_CST) <= r->skip ||
		    (__atomic_add_fetch(&r->n[1], 1, __ATOMIC_SEQ_CST) > r->count &&
		    r->count != 0))
			continue;
		shim_log(call, r->err, p2 != NULL && strstr(p1, r->substr) == NULL ? p2 : p1);
		return r->err;
	}
	return 0;
}

/* For a call on a descriptor: the errno to fail with, or 0. */
static int
shim_fd(const char *call, int fd)
{
	char path[PATH_MAX];
	int saved = errno, e = 0;

	if (busy)
		return 0;
	busy = 1;
	shim_refresh();
	if (shim_wanted(call)) {
		shim_fd_path(fd, path, sizeof(path));
		e = shim_decide(call, path, NULL);
	}
	busy = 0;
	errno = saved;
	return e;
}

/* For a call on one or two names relative to directories: the errno, or 0. */
static int
shim_names(const char *call, int d1, const char *n1, int d2, const char *n2)
{
	char p1[PATH_MAX], p2[PATH_MAX];
	int saved = errno, e = 0;

	if (busy)
		return 0;
	busy = 1;
	shim_refresh();
	if (shim_wanted(call)) {
		shim_at_path(d1, n1, p1, sizeof(p1));
		if (n2 != NULL)
			shim_at_path(d2, n2, p2, sizeof(p2));
		e = shim_decide(call, p1, n2 != NULL ? p2 : NULL);
	}
	busy = 0;
	errno = saved;
	return e;
}

/* Fail with the errno decided (evaluated once), else go on to the real call. */
#define FAIL_IF(decide, ret)	do { int e_ = (decide); \
	if (e_ != 0) { errno = e_; return (ret); } } while (0)

ssize_t
write(int fd, const void *buf, size_t n)
{
	REAL(write);
	FAIL_IF(shim_fd("write", fd), -1);
	return real_write(fd, buf, n);
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite);
	FAIL_IF(shim_fd("pwrite", fd), -1);
	return real_pwrite(fd, buf, n, off);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off_t off)
{
	REAL(pwrite64);
	FAIL_IF(shim_fd("pwrite64", fd), -1);
	return real_pwrite64(fd, buf, n, off);
}

ssize_t
writev(int fd, const struct iovec *iov, int iovcnt)
{
	REAL(writev);
	FAIL_IF(shim_fd("writev", fd), -1);
	return real_writev(fd, iov, iovcnt);
}

int
fsync(int fd)
{
	REAL(fsync);
	FAIL_IF(shim_fd("fsync", fd), -1);
	return real_fsync(fd);
}

int
fdatasync(int fd)
{
	REAL(fdatasync);
	FAIL_IF(shim_fd("fdatasync", fd), -1);
	return real_fdatasync(fd);
}

int
rename(const char *from, const char *to)
{
	REAL(rename);
	FAIL_IF(shim_names("rename", AT_FDCWD, from, AT_FDCWD, to), -1);
	return real_rename(from, to);
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	REAL(renameat);
	FAIL_IF(shim_names("renameat", fd1, from, fd2, to), -1);
	return real_renameat(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to, unsigned flags)
{
	REAL(renameat2);
	FAIL_IF(shim_names("renameat2", fd1, from, fd2, to), -1);
	return real_renameat2(fd1, from, fd2, to, flags);
}

int
link(const char *from, const char *to)
{
	REAL(link);
	FAIL_IF(shim_names("link", AT_FDCWD, from, AT_FDCWD, to), -1);
	return real_link(from, to);
}

int
linkat(int fd1, const char *from, int fd2, const char *to, int flags)
{
	REAL(linkat);
	FAIL_IF(shim_names("linkat", fd1, from, fd2, to), -1);
	return real_linkat(fd1, from, fd2, to, flags);
}

int
unlink(const char *path)
{
	REAL(unlink);
	FAIL_IF(shim_names("unlink", AT_FDCWD, path, AT_FDCWD, NULL), -1);
	return real_unlink(path);
}

int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	REAL(accept4);
	FAIL_IF(shim_fd("accept4", fd), -1);
	return real_accept4(fd, addr, len, flags);
}

int
unlinkat(int fd, const char *path, int flags)
{
	REAL(unlinkat);
	FAIL_IF(shim_names("unlinkat", fd, path, AT_FDCWD, NULL), -1);
	return real_unlinkat(fd, path, flags);
}

/* Only O_TMPFILE opens can fail ("tmpfile"); every other open goes straight through. */
int
openat(int fd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	va_list ap;

	REAL(openat);
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	if ((flags & O_TMPFILE) == O_TMPFILE)
		FAIL_IF(shim_names("tmpfile", fd, path, AT_FDCWD, NULL), -1);
	return real_openat(fd, path, flags, mode);
}
