/*
 * disk-ceiling: how many durable Maildir deliveries per second the disk allows,
 * without any server (bench/run.sh). libc only.
 *
 * One delivery = open DIR/tmp/NAME (O_CREAT|O_EXCL), write BYTES, fsync (or
 * fdatasync, or nothing), close, rename to DIR/new/NAME, fsync(DIR/new). P processes
 * (fork) share N deliveries and start together; each delivery's latency is kept in a
 * shared mapping. The files are removed afterwards, unless -k (keep: deleting
 * thousands of files makes the next allocations slower on an ext4 without a journal,
 * see bench/lib.sh's trash_maildir).
 *
 * Output: one "RESULT key=value ..." line on stdout.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum mode { M_FSYNC, M_FDATASYNC, M_NONE };

static void
writer(int k, int procs, long n, size_t size, enum mode m, int dtmp, int dnew,
    double *lat, int go)
{
	char name[128], *buf = malloc(size), c;
	long i;
	int fd;

	if (buf == NULL)
		_exit(3);
	memset(buf, 'x', size);
	/* wait for the start signal: the parent closes the pipe */
	if (read(go, &c, 1) == -1)
		_exit(3);
	for (i = k; i < n; i += procs) {
		double t0 = now();

		snprintf(name, sizeof(name), "%ld.M%ldP%ldR%d.bench", (long)time(NULL), i,
		    (long)getpid(), k);
		if ((fd = openat(dtmp, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) == -1)
			_exit(4);
		if (write(fd, buf, size) != (ssize_t)size)
			_exit(5);
		if ((m == M_FSYNC && fsync(fd) == -1) || (m == M_FDATASYNC && fdatasync(fd) == -1))
			_exit(6);
		if (close(fd) == -1)
			_exit(7);
		if (renameat(dtmp, name, dnew, name) == -1)
			_exit(8);
		if (m != M_NONE && fsync(dnew) == -1)
			_exit(9);
		lat[i] = now() - t0;
	}
	_exit(0);
}

static void
empty_dir(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd == -1 ? NULL : fdopendir(fd);
	struct dirent *de;

	if (d == NULL)
		return;
	rewinddir(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
}

int
main(int argc, char *argv[])
{
	const char *dir = NULL, *mname = "fsync";
	long n = 2000;
	size_t size = 4096;
	int procs = 1, ch, i, dtmp, dnew, go[2], status, failed = 0, keep = 0;
	enum mode m = M_FSYNC;
	double *lat, t0, t1;
	char path[4096];

	while ((ch = getopt(argc, argv, "d:km:n:p:s:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'k': keep = 1; break;
		case 'm': mname = optarg; break;
		case 'n': n = atol(optarg); break;
		case 'p': procs = atoi(optarg); break;
		case 's': size = (size_t)atol(optarg); break;
		default: goto usage;
		}
	}
	if (dir == NULL || optind != argc || n < 1 || procs < 1 || procs > 256 || size < 1)
		goto usage;
	if (strcmp(mname, "fsync") == 0)
		m = M_FSYNC;
	else if (strcmp(mname, "fdatasync") == 0)
		m = M_FDATASYNC;
	else if (strcmp(mname, "none") == 0)
		m = M_NONE;
	else
		goto usage;
	mkdir(dir, 0700);
	snprintf(path, sizeof(path), "%s/tmp", dir);
	mkdir(path, 0700);
	if ((dtmp = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s: %s", path, strerror(errno));
	snprintf(path, sizeof(path), "%s/new", dir);
	mkdir(path, 0700);
	if ((dnew = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		die("%s: %s", path, strerror(errno));
	empty_dir(dtmp);
	empty_dir(dnew);
	sync();
	lat = mmap(NULL, (size_t)n * sizeof(double), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (lat == MAP_FAILED || pipe(go) == -1)
		die("setup: %s", strerror(errno));
	for (i = 0; i < procs; i++) {
		pid_t pid = fork();

		if (pid == -1)
			die("fork: %s", strerror(errno));
		if (pid == 0) {
			close(go[1]);
			writer(i, procs, n, size, m, dtmp, dnew, lat, go[0]);
		}
	}
	close(go[0]);
	usleep(100000);		/* let every writer reach its read() */
	t0 = now();
	close(go[1]);
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	t1 = now();
	if (failed)
		die("%d writer(s) failed (exit codes 4-9: open, write, sync, close, rename, "
		    "fsync dir)", failed);
	qsort(lat, (size_t)n, sizeof(double), cmp_double);
	printf("RESULT mode=%s procs=%d n=%ld size=%zu s=%.3f rate=%.1f lat_p50_ms=%.3f "
	    "lat_p99_ms=%.3f lat_max_ms=%.3f\n", mname, procs, n, size, t1 - t0,
	    (double)n / (t1 - t0), pct(lat, n, .5) * 1e3, pct(lat, n, .99) * 1e3,
	    pct(lat, n, 1) * 1e3);
	if (!keep) {
		empty_dir(dnew);
		empty_dir(dtmp);
	}
	return 0;
usage:
	fprintf(stderr, "usage: disk-ceiling -d DIR [-k] [-n 2000] [-p PROCS] [-s 4096] "
	    "[-m fsync|fdatasync|none]\n");
	return 2;
}
