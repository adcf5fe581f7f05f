/*
 * test_maildir: maildir/maildir.c — delivery into a temporary Maildir: the file lands
 * in new/ named with ",S=<size>", tmp/ is left empty, abort leaves nothing, names are
 * unique and short enough for a UIDL, clean_tmp removes only stale files.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "maildir/maildir.h"
#include "tests/unit/t.h"
#include "tests/unit/t_maildir.h"

static char root[] = "/tmp/lb-test-maildir-XXXXXX";

static void
test_maildir_deliver(struct maildir *md)
{
	static const char msg[] = "Subject: hi\r\n\r\nhello\r\n";
	struct maildir_delivery d;
	char name[MAILDIR_NAME_MAX + 1], first[300], path[600], want[32];
	struct stat st;

	test_begin("maildir: deliver");
	test_assert(maildir_delivery_begin(md, &d) == 0);
	test_assert(d.fd != -1 && d.tmpname[0] != '\0');
	test_assert(t_dir_count(root, "tmp", NULL, 0) == 1);
	test_assert(maildir_delivery_write(&d, msg, 10) == 0);
	test_assert(maildir_delivery_write(&d, msg + 10, sizeof(msg) - 1 - 10) == 0);
	test_assert(d.size == sizeof(msg) - 1);
	test_assert(maildir_delivery_commit(md, &d, name) == 0);
	test_assert(d.fd == -1);
	test_assert(t_dir_count(root, "tmp", NULL, 0) == 0);
	test_assert(t_dir_count(root, "cur", NULL, 0) == 0);
	test_assert(t_dir_count(root, "new", first, sizeof(first)) == 1);
	test_assert_str(first, name);
	snprintf(want, sizeof(want), ",S=%zu", sizeof(msg) - 1);
	test_assert(strlen(name) > strlen(want) &&
	    strcmp(name + strlen(name) - strlen(want), want) == 0);
	test_assert(strchr(name, '/') == NULL && strchr(name, ':') == NULL);
	snprintf(path, sizeof(path), "%s/new/%s", root, name);
	test_assert(stat(path, &st) == 0 && (size_t)st.st_size == sizeof(msg) - 1);
	test_assert((st.st_mode & 077) == 0);
	/* Abort after commit is harmless. */
	maildir_delivery_abort(md, &d);
	test_assert(t_dir_count(root, "new", NULL, 0) == 1);
	t_dir_empty(root, "new");
	test_end();
}

static void
test_maildir_abort(struct maildir *md)
{
	struct maildir_delivery d;

	test_begin("maildir: abort leaves nothing");
	test_assert(maildir_delivery_begin(md, &d) == 0);
	test_assert(maildir_delivery_write(&d, "partial", 7) == 0);
	maildir_delivery_abort(md, &d);
	test_assert(d.fd == -1 && d.tmpname[0] == '\0');
	maildir_delivery_abort(md, &d);		/* twice is safe */
	test_assert(t_dir_count(root, "tmp", NULL, 0) == 0);
	test_assert(t_dir_count(root, "new", NULL, 0) == 0);
	test_assert(t_dir_count(root, "cur", NULL, 0) == 0);
	/* An empty message is still a message: S=0. */
	test_assert(maildir_delivery_begin(md, &d) == 0);
	{
		char name[MAILDIR_NAME_MAX + 1];

		test_assert(maildir_delivery_commit(md, &d, name) == 0);
		test_assert(strlen(name) > 4 && strcmp(name + strlen(name) - 4, ",S=0") == 0);
	}
	t_dir_empty(root, "new");
	test_end();
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
test_maildir_unique(struct maildir *md)
{
	enum { N = 200 };
	struct maildir_delivery d;
	char *names[N];
	size_t i, dup = 0, made = 0;

	test_begin("maildir: unique names");
	for (i = 0; i < N; i++) {
		names[i] = calloc(1, MAILDIR_NAME_MAX + 1);
		if (names[i] == NULL || maildir_delivery_begin(md, &d) == -1 ||
		    maildir_delivery_write(&d, "x\r\n", 3) == -1 ||
		    maildir_delivery_commit(md, &d, names[i]) == -1)
			break;
		made++;
	}
	test_assert(made == N);
	test_assert(t_dir_count(root, "new", NULL, 0) == (int)made);
	qsort(names, made, sizeof(names[0]), name_cmp);
	for (i = 1; i < made; i++)
		if (strcmp(names[i - 1], names[i]) == 0)
			dup++;
	test_assert(dup == 0);
	for (i = 0; i < N && i <= made; i++)
		free(names[i]);
	t_dir_empty(root, "new");
	test_end();
}

/* maildir(5): no '/' or ':' in the host part; '\\' only in \\057 and \\072. */
static bool
host_is_safe(const char *h)
{
	for (; *h != '\0'; h++) {
		if (*h == '/' || *h == ':' || *h == ',' || (unsigned char)*h <= ' ')
			return false;
		if (*h == '\\') {
			if (strncmp(h, "\\057", 4) != 0 && strncmp(h, "\\072", 4) != 0)
				return false;
			h += 3;
		}
	}
	return true;
}

static void
test_maildir_name_length(void)
{
	/* A long host name with '/' and ':' (encoded as \057, \072) and a big size. */
	static const char *hosts[] = {
		"a-very-long-host-name-that-goes-on-and-on.subdomain.example.org",
		"x/y:z/w:v/u:t/s:r/q:p/o:n",
		"",
		"bad\\host,name with spaces",
	};
	struct maildir md;
	struct maildir_delivery d;
	char name[MAILDIR_NAME_MAX + 1], big[64 * 1024], pid[24];
	size_t h, k;

	test_begin("maildir: name with ,S= fits a UIDL (70)");
	memset(big, 'x', sizeof(big));
	for (h = 0; h < sizeof(hosts) / sizeof(hosts[0]); h++) {
		test_assert_idx(maildir_open(&md, root, hosts[h], (uid_t)-1, (gid_t)-1) == 0, h);
		test_assert_idx(strlen(md.host) > 0 && strlen(md.host) < 20, h);
		test_assert_idx(host_is_safe(md.host), h);
		test_assert_idx(maildir_delivery_begin(&md, &d) == 0, h);
		/* 1 GiB is the largest max_message_size: 10 digits. Write 16 x 64 KiB here. */
		for (k = 0; k < 16; k++)
			maildir_delivery_write(&d, big, sizeof(big));
		test_assert_idx(maildir_delivery_commit(&md, &d, name) == 0, h);
		/*
		 * Worst case: a 7-digit pid (pid_max 4194304) and a 10-digit size (1 GiB
		 * max_message_size plus trace fields); ours are shorter, so add the difference.
		 */
		snprintf(pid, sizeof(pid), "%ld", (long)getpid());
		test_assert_idx(strlen(name) - strlen(pid) + 7 - strlen("1048576") + 10 <= 70, h);
		test_assert_idx(strstr(name, ",S=1048576") != NULL, h);
		test_assert_idx(strchr(name, '/') == NULL && strchr(name, ':') == NULL, h);
		maildir_close(&md);
		t_dir_empty(root, "new");
	}
	test_end();
}

static void
test_maildir_clean_tmp(struct maildir *md)
{
	static const struct {
		const char	*name;
		time_t		 age;
		int		 removed;
	} files[] = {
		{ "old1", 37 * 3600, 1 },
		{ "old2", 400 * 86400, 1 },
		{ "fresh", 60, 0 },
		{ "edge", 36 * 3600 - 60, 0 },	/* not yet 36 h */
		{ "now", 0, 0 },
		{ ".hidden-old", 37 * 3600, 0 },	/* dot files are not ours */
	};
	struct timespec ts[2];
	char p[600], dp[600];
	size_t i;
	int fd, removed, want = 0;

	test_begin("maildir: clean_tmp removes only stale files");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/tmp/%s", root, files[i].name);
		fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600);
		test_assert_idx(fd != -1, i);
		if (fd != -1)
			close(fd);
		ts[0].tv_sec = ts[1].tv_sec = time(NULL) - files[i].age;
		ts[0].tv_nsec = ts[1].tv_nsec = 0;
		test_assert_idx(utimensat(AT_FDCWD, p, ts, 0) == 0, i);
		want += files[i].removed;
	}
	/* An old directory in tmp/ is not a file: left alone. */
	snprintf(dp, sizeof(dp), "%s/tmp/olddir", root);
	test_assert(mkdir(dp, 0700) == 0);
	ts[0].tv_sec = ts[1].tv_sec = time(NULL) - 400 * 86400;
	utimensat(AT_FDCWD, dp, ts, 0);

	removed = maildir_clean_tmp(md, 36 * 3600);
	test_assert(removed == want);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(p, sizeof(p), "%s/tmp/%s", root, files[i].name);
		test_assert_idx((access(p, F_OK) == 0) == !files[i].removed, i);
		unlink(p);
	}
	test_assert(access(dp, F_OK) == 0);
	rmdir(dp);
	/* Nothing left: nothing removed. */
	test_assert(maildir_clean_tmp(md, 36 * 3600) == 0);
	test_end();
}

/* The same with O_TMPFILE deliveries (maildir_use_unnamed_tmp), where supported. */
static void
test_maildir_unnamed(struct maildir *md)
{
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct maildir_delivery d, d2;
	char name[MAILDIR_NAME_MAX + 1], name2[MAILDIR_NAME_MAX + 1], path[600];
	struct stat st;

	test_begin("maildir: unnamed tmp files (O_TMPFILE)");
	if (!maildir_use_unnamed_tmp(md)) {
		printf("test_maildir: O_TMPFILE + linkat not available under /tmp; skipped\n");
		test_end();
		return;
	}
	test_assert(t_dir_count(root, "tmp", NULL, 0) == 0);	/* the probe left nothing */
	test_assert(maildir_delivery_begin(md, &d) == 0);
	test_assert(d.unnamed && d.fd != -1);
	test_assert(t_dir_count(root, "tmp", NULL, 0) == 0);	/* no name until published */
	test_assert(maildir_delivery_write(&d, msg, sizeof(msg) - 1) == 0);
	test_assert(maildir_delivery_begin(md, &d2) == 0);
	test_assert(maildir_delivery_write(&d2, "x", 1) == 0);
	maildir_delivery_abort(md, &d2);	/* vanishes with its fd */
	test_assert(d2.fd == -1);
	test_assert(maildir_delivery_commit(md, &d, name) == 0);
	test_assert(t_dir_count(root, "new", NULL, 0) == 1 &&
	    t_dir_count(root, "tmp", NULL, 0) == 0);
	snprintf(path, sizeof(path), "%s/new/%s", root, name);
	test_assert(stat(path, &st) == 0 && (size_t)st.st_size == sizeof(msg) - 1);
	snprintf(path, sizeof(path), ",S=%zu", sizeof(msg) - 1);
	test_assert(strlen(name) > strlen(path) &&
	    strcmp(name + strlen(name) - strlen(path), path) == 0);
	test_assert(maildir_delivery_begin(md, &d) == 0 &&
	    maildir_delivery_commit(md, &d, name2) == 0);
	test_assert(strcmp(name, name2) != 0 && t_dir_count(root, "new", NULL, 0) == 2);
	t_dir_empty(root, "new");
	md->unnamed_tmp = false;
	test_end();
}

static void
test_maildir_open(void)
{
	struct maildir md;
	char p[300], f[320];
	int fd;

	test_begin("maildir: open creates tmp/new/cur, refuses a file");
	snprintf(p, sizeof(p), "%s/sub", root);
	test_assert(maildir_open(&md, p, "h", (uid_t)-1, (gid_t)-1) == 0);
	maildir_close(&md);
	test_assert(md.dfd_root == -1 && md.dfd_tmp == -1);
	snprintf(f, sizeof(f), "%s/new", p);
	test_assert(access(f, F_OK) == 0);
	rmdir(f);
	snprintf(f, sizeof(f), "%s/cur", p);
	rmdir(f);
	/* tmp is a regular file: open fails, and leaves no fd behind. */
	snprintf(f, sizeof(f), "%s/tmp", p);
	rmdir(f);
	fd = open(f, O_WRONLY | O_CREAT, 0600);
	close(fd);
	test_assert(maildir_open(&md, p, "h", (uid_t)-1, (gid_t)-1) == -1);
	test_assert(md.dfd_root == -1 && md.dfd_tmp == -1 && md.dfd_new == -1);
	unlink(f);
	snprintf(f, sizeof(f), "%s/new", p);
	rmdir(f);
	snprintf(f, sizeof(f), "%s/cur", p);
	rmdir(f);
	rmdir(p);
	test_end();
}

int
main(void)
{
	struct maildir md;

	test_begin("maildir: setup");
	test_assert(mkdtemp(root) != NULL);
	test_assert(maildir_open(&md, root, "test.example.org", (uid_t)-1, (gid_t)-1) == 0);
	test_end();

	test_maildir_deliver(&md);
	test_maildir_abort(&md);
	test_maildir_unique(&md);
	test_maildir_name_length();
	test_maildir_clean_tmp(&md);
	test_maildir_unnamed(&md);
	test_maildir_open();

	maildir_close(&md);
	t_maildir_remove(root);
	return test_exit();
}
