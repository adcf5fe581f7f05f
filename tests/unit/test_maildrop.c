/*
 * test_maildrop: pop3d/maildrop.c — the lock (a second session is refused, closing the
 * fd releases it), the message list in delivery order, sizes from ",W=" then ",S=" then
 * counted, UIDLs for short and long names, and UPDATE: deleted files unlinked, kept ones
 * moved from new/ to cur/ with ":2,", Seen added in ASCII order once retrieved, and
 * messages that another program renamed meanwhile found again by their base name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sodium.h>

#include "maildir/maildir.h"
#include "pop3d/maildrop.h"
#include "tests/unit/t.h"
#include "tests/unit/t_maildir.h"

static char root[] = "/tmp/lb-test-maildrop-XXXXXX";

static void
put(const char *sub, const char *name, const char *data)
{
	char p[600];
	int fd;

	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1) {
		perror(p);
		exit(1);
	}
	if (write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		perror(p);
		exit(1);
	}
	close(fd);
}

static bool
exists(const char *sub, const char *name)
{
	char p[600];

	snprintf(p, sizeof(p), "%s/%s/%s", root, sub, name);
	return access(p, F_OK) == 0;
}

static void
test_maildrop_lock(struct maildir *md)
{
	struct maildrop a, b;

	test_begin("maildrop: lock");
	maildrop_init(&a, md);
	maildrop_init(&b, md);
	test_assert(a.lock_fd == -1);
	test_assert(maildrop_lock(&a) == 0 && a.lock_fd != -1);
	test_assert(maildrop_lock(&b) == 1 && b.lock_fd == -1);	/* [IN-USE] */
	test_assert(exists(".", MAILDROP_LOCK));
	/* Closing the fd releases it, as the kernel does for a session that dies. */
	maildrop_close(&a);
	test_assert(a.lock_fd == -1);
	test_assert(maildrop_lock(&b) == 0);
	test_assert(maildrop_lock(&a) == 1);
	close(b.lock_fd);
	b.lock_fd = -1;
	test_assert(maildrop_lock(&a) == 0);
	maildrop_close(&a);
	maildrop_close(&b);
	test_end();
}

/* The names below, in the order the maildrop must list them. */
static const struct {
	const char	*sub;
	const char	*name;
	const char	*data;
	uint64_t	 size;
} order_files[] = {
	/* No delivery time: first. No size in the name: counted (2 bare LFs). */
	{ "cur", "foreign-file:2,S", "a\nb\r\nc\n", 9 },
	{ "new", "1700000001.M9P1.h,S=3", "x\r\n", 3 },
	/* Microseconds compared as numbers: M10 after M9 (strcmp would say before). */
	{ "cur", "1700000001.M10P1.h,S=3:2,", "y\r\n", 3 },
	/* Same time: by name. ",W=" wins over ",S=" (Dovecot, LF files). */
	{ "new", "1700000002.M5P1.a,S=4,W=6", "z\nz\n", 6 },
	{ "cur", "1700000002.M5P1.b,S=5:2,FS", "hello", 5 },
	/* An empty foreign file, and one with only CRLF: counted as is. */
	{ "new", "1700000003.nosize", "", 0 },
	{ "new", "1700000004.crlf", "a\r\nb\r\n", 6 },
	/* Seconds compared as numbers too. */
	{ "new", "10000000000.M1P1.h,S=1", "1", 1 },
};
#define NORDER	(sizeof(order_files) / sizeof(order_files[0]))

static void
test_maildrop_load(struct maildir *md)
{
	struct maildrop m;
	char p[300];
	uint64_t total = 0;
	size_t i;

	test_begin("maildrop: load order and sizes");
	for (i = 0; i < NORDER; i++) {
		put(order_files[i].sub, order_files[i].name, order_files[i].data);
		total += order_files[i].size;
	}
	/* Neither a dot file nor a directory is a message. */
	put("new", ".hidden", "x");
	snprintf(p, sizeof(p), "%s/cur/adir", root);
	test_assert(mkdir(p, 0700) == 0);
	maildrop_init(&m, md);
	test_assert(maildrop_load(&m) == 0);
	test_assert(m.n == NORDER);
	for (i = 0; i < m.n && i < NORDER; i++) {
		test_assert_idx(strcmp(m.msgs[i].name, order_files[i].name) == 0, i);
		test_assert_idx(m.msgs[i].size == order_files[i].size, i);
		test_assert_idx(m.msgs[i].in_cur ==
		    (strcmp(order_files[i].sub, "cur") == 0), i);
		test_assert_idx(!m.msgs[i].deleted && !m.msgs[i].retrieved, i);
	}
	test_assert(m.total_size == total);
	maildrop_close(&m);
	test_assert(m.msgs == NULL && m.n == 0);
	rmdir(p);
	t_dir_empty(root, "new");
	t_dir_empty(root, "cur");
	test_end();
}

static void
test_maildrop_uidl(struct maildir *md)
{
	/* 70 characters exactly; then 71. */
	static const char n70[] =
	    "1700000000.M1P1R1.012345678901234567890123456789012345678901234567,S=1";
	static const char n71[] =
	    "1700000001.M1P1R1.0123456789012345678901234567890123456789012345678,S=1";
	static const char nsp[] = "1700000002.M1P1 space,S=1";
	struct maildrop m;
	char uid[MAILDROP_UIDL_MAX + 1], again[MAILDROP_UIDL_MAX + 1];
	char want[MAILDROP_UIDL_MAX + 1];
	unsigned char h[16];
	size_t i;

	test_begin("maildrop: UIDL");
	test_assert(strlen(n70) == 70 && strlen(n71) == 71);
	put("cur", "1699999999.M1P1.short,S=1:2,S", "x");
	put("new", n70, "x");
	put("new", n71, "x");
	put("new", nsp, "x");
	maildrop_init(&m, md);
	test_assert(maildrop_load(&m) == 0 && m.n == 4);
	if (m.n == 4) {
		/* The base name: without ":2,flags", so it does not change with the flags. */
		maildrop_uidl(&m, 0, uid);
		test_assert_str(uid, "1699999999.M1P1.short,S=1");
		maildrop_uidl(&m, 1, uid);
		test_assert_str(uid, n70);
		/* Too long, or a character outside 0x21..0x7e: "x-" and BLAKE2b of it. */
		maildrop_uidl(&m, 2, uid);
		crypto_generichash(h, sizeof(h), (const unsigned char *)n71, strlen(n71),
		    NULL, 0);
		snprintf(want, sizeof(want), "x-");
		for (i = 0; i < sizeof(h); i++)
			snprintf(want + 2 + 2 * i, 3, "%02x", h[i]);
		test_assert_str(uid, want);
		test_assert(strlen(uid) == 34);
		maildrop_uidl(&m, 3, uid);
		test_assert(strncmp(uid, "x-", 2) == 0 && strlen(uid) == 34);
		maildrop_uidl(&m, 3, again);
		test_assert_str(uid, again);
	}
	maildrop_close(&m);
	/* Stable: the same after the file moved to cur/ with flags, in a new session. */
	snprintf(want, sizeof(want), "%s", uid);
	{
		char from[600], to[600];

		snprintf(from, sizeof(from), "%s/new/%s", root, nsp);
		snprintf(to, sizeof(to), "%s/cur/%s:2,RS", root, nsp);
		test_assert(rename(from, to) == 0);
	}
	maildrop_init(&m, md);
	test_assert(maildrop_load(&m) == 0 && m.n == 4);
	if (m.n == 4) {
		maildrop_uidl(&m, 3, uid);
		test_assert_str(uid, want);
	}
	maildrop_close(&m);
	t_dir_empty(root, "new");
	t_dir_empty(root, "cur");
	test_end();
}

/* Index of the message named name in m, or m->n. */
static size_t
find(const struct maildrop *m, const char *name)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->msgs[i].name, name) == 0)
			break;
	return i;
}

static void
test_maildrop_update(struct maildir *md)
{
	static const struct {
		const char	*sub;
		const char	*name;
		int		 retr;		/* RETR'd in the session */
		int		 dele;		/* DELE'd */
		const char	*after;		/* in cur/ after UPDATE; NULL: gone */
	} files[] = {
		{ "new", "1700000001.M1P1.h,S=1", 0, 0, "1700000001.M1P1.h,S=1:2," },
		{ "new", "1700000002.M1P1.h,S=1", 1, 0, "1700000002.M1P1.h,S=1:2,S" },
		{ "new", "1700000003.M1P1.h,S=1", 1, 1, NULL },
		{ "cur", "1700000004.M1P1.h,S=1:2,", 0, 1, NULL },
		{ "cur", "1700000005.M1P1.h,S=1:2,FT", 1, 0, "1700000005.M1P1.h,S=1:2,FST" },
		{ "cur", "1700000006.M1P1.h,S=1:2,a", 1, 0, "1700000006.M1P1.h,S=1:2,Sa" },
		{ "cur", "1700000007.M1P1.h,S=1:2,DFRT", 1, 0,
		  "1700000007.M1P1.h,S=1:2,DFRST" },
		{ "cur", "1700000008.M1P1.h,S=1:2,RS", 1, 0, "1700000008.M1P1.h,S=1:2,RS" },
		{ "cur", "1700000009.M1P1.h,S=1:2,T", 0, 0, "1700000009.M1P1.h,S=1:2,T" },
		{ "cur", "1700000010.M1P1.h,S=1:2,", 1, 0, "1700000010.M1P1.h,S=1:2,S" },
	};
	struct maildrop m;
	unsigned removed = 99;
	size_t i, k;

	test_begin("maildrop: UPDATE");
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		put(files[i].sub, files[i].name, "x");
	maildrop_init(&m, md);
	test_assert(maildrop_lock(&m) == 0);
	test_assert(maildrop_load(&m) == 0 && m.n == sizeof(files) / sizeof(files[0]));
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((k = find(&m, files[i].name)) == m.n) {
			test_assert_idx(false, i);
			continue;
		}
		m.msgs[k].retrieved = files[i].retr;
		m.msgs[k].deleted = files[i].dele;
		m.ndeleted += (size_t)files[i].dele;
	}
	test_assert(maildrop_update(&m, &removed) == 0);
	test_assert(removed == 2);
	maildrop_close(&m);
	test_assert(t_dir_count(root, "new", NULL, 0) == 0);
	test_assert(t_dir_count(root, "cur", NULL, 0) == 8);
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if (files[i].after != NULL)
			test_assert_idx(exists("cur", files[i].after), i);
		if (files[i].after == NULL || strcmp(files[i].after, files[i].name) != 0)
			test_assert_idx(!exists(files[i].sub, files[i].name), i);
	}
	t_dir_empty(root, "cur");
	test_end();
}

/* Dovecot (IMAP) moves and flags messages while a POP3 session holds its list. */
static void
test_maildrop_renamed(struct maildir *md)
{
	static const char a[] = "1700000001.M1P1.h,S=5";	/* read after a move */
	static const char b[] = "1700000002.M1P1.h,S=5";	/* deleted after a move */
	static const char c[] = "1700000003.M1P1.h,S=5";	/* kept, moved */
	static const char d[] = "1700000004.M1P1.h,S=5";	/* gone for good */
	char from[600], to[600], buf[8];
	struct maildrop m;
	unsigned removed = 0;
	const char *const *np;
	static const char *const names[] = { a, b, c, d, NULL };
	int fd;

	test_begin("maildrop: messages renamed by another program");
	for (np = names; *np != NULL; np++)
		put("new", *np, "hello");
	maildrop_init(&m, md);
	test_assert(maildrop_load(&m) == 0 && m.n == 4);
	/* Now the other program moves a, b, c to cur/ with flags, and removes d. */
	for (np = names; *np != d; np++) {
		snprintf(from, sizeof(from), "%s/new/%s", root, *np);
		snprintf(to, sizeof(to), "%s/cur/%s:2,T", root, *np);
		test_assert(rename(from, to) == 0);
	}
	snprintf(from, sizeof(from), "%s/new/%s", root, d);
	unlink(from);

	/* RETR a: found in cur/ by its base name. */
	fd = maildrop_open(&m, 0);
	test_assert(fd != -1);
	if (fd != -1) {
		test_assert(read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "hello", 5) == 0);
		close(fd);
	}
	test_assert(m.n == 4 && m.msgs[0].in_cur);
	test_assert(m.n == 4 && m.msgs[0].name_owned &&
	    strcmp(m.msgs[0].name, "1700000001.M1P1.h,S=5:2,T") == 0);
	m.msgs[0].retrieved = true;
	/* d is gone: ENOENT, which the session reports as removed by another program. */
	errno = 0;
	test_assert(maildrop_open(&m, 3) == -1 && errno == ENOENT);

	/*
	 * DELE b and d. UPDATE removes b where it is now; d is already gone, which is
	 * what deleting it asked for: both count as removed, and nothing failed.
	 */
	m.msgs[1].deleted = true;
	m.msgs[3].deleted = true;
	m.ndeleted = 2;
	test_assert(maildrop_update(&m, &removed) == 0);
	test_assert(removed == 2);
	maildrop_close(&m);
	snprintf(to, sizeof(to), "%s:2,T", b);
	test_assert(!exists("cur", to));
	/* a was retrieved: Seen added to the flags it has now. */
	snprintf(to, sizeof(to), "%s:2,ST", a);
	test_assert(exists("cur", to));
	/* c stays as the other program left it. */
	snprintf(to, sizeof(to), "%s:2,T", c);
	test_assert(exists("cur", to));
	test_assert(t_dir_count(root, "cur", NULL, 0) == 2 &&
	    t_dir_count(root, "new", NULL, 0) == 0);
	t_dir_empty(root, "cur");
	test_end();
}

int
main(void)
{
	struct maildir md;
	char p[300];

	test_begin("maildrop: setup");
	test_assert(sodium_init() != -1);
	test_assert(mkdtemp(root) != NULL);
	test_assert(maildir_open(&md, root, "test.example.org", (uid_t)-1, (gid_t)-1) == 0);
	test_end();

	test_maildrop_lock(&md);
	test_maildrop_load(&md);
	test_maildrop_uidl(&md);
	test_maildrop_update(&md);
	test_maildrop_renamed(&md);

	maildir_close(&md);
	snprintf(p, sizeof(p), "%s/%s", root, MAILDROP_LOCK);
	unlink(p);
	t_maildir_remove(root);
	return test_exit();
}
