/*
 * test_apppass: auth/apppass.c against a real Berkeley DB file in a temporary state
 * directory — add, list and remove; a duplicate name; bad names; APPPASS_MAX devices;
 * verify with the right, a wrong and a misshapen password; the store replaced whole by
 * rename (no .new left behind, a stale one ignored, concurrent adds not lost); and an
 * unreadable, corrupt or foreign file giving an error, never a crash or a silent reset.
 */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/apppass.h"
#include "tests/unit/t.h"

static char root[] = "/tmp/lb-test-apppass-XXXXXX";

struct listing {
	int		n;
	char		names[APPPASS_MAX + 2][APPPASS_NAME_MAX + 1];
	uint64_t	created[APPPASS_MAX + 2];
};

static void
collect(const char *name, uint64_t created, void *arg)
{
	struct listing *l = arg;

	if (l->n < APPPASS_MAX + 2) {
		snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
		l->created[l->n] = created;
	}
	l->n++;
}

/* A fresh, empty state directory root/name. */
static const char *
state(const char *name)
{
	static char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/%s", root, name);
	if (mkdir(dir, 0700) == -1)
		fprintf(stderr, "mkdir %s: %s\n", dir, strerror(errno));
	return dir;
}

static int
list(const char *dir, struct listing *l)
{
	char err[512];

	memset(l, 0, sizeof(*l));
	return apppass_list(dir, collect, l, err, sizeof(err));
}

static void
path(char *out, const char *dir, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", dir, name);
}

static bool
exists(const char *dir, const char *name)
{
	char p[PATH_MAX];

	path(p, dir, name);
	return access(p, F_OK) == 0;
}

/* The contents of dir/name into buf (bufsz); its length or -1. */
static long
slurp(const char *dir, const char *name, char *buf, size_t bufsz)
{
	char p[PATH_MAX];
	ssize_t n;
	int fd;

	path(p, dir, name);
	if ((fd = open(p, O_RDONLY)) == -1)
		return -1;
	n = read(fd, buf, bufsz);
	close(fd);
	return n;
}

static void
spit(const char *dir, const char *name, const void *data, size_t n)
{
	char p[PATH_MAX];
	int fd;

	path(p, dir, name);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, data, n) != (ssize_t)n)
		fprintf(stderr, "write %s: %s\n", p, strerror(errno));
	if (fd != -1)
		close(fd);
}

/* A store written directly with db(3): n records "key" -> "value". type: DB_BTREE... */
static int
raw_store(const char *dir, DBTYPE type, const char *const *keys, const char *const *vals,
    size_t n)
{
	char p[PATH_MAX];
	DB *db;
	DBT k, v;
	size_t i;
	int r;

	path(p, dir, APPPASS_FILE);
	if ((r = db_create(&db, NULL, 0)) != 0)
		return r;
	if ((r = db->open(db, NULL, p, NULL, type, DB_CREATE | DB_TRUNCATE, 0600)) != 0) {
		db->close(db, 0);
		return r;
	}
	for (i = 0; i < n && r == 0; i++) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = (void *)(uintptr_t)keys[i];
		k.size = (u_int32_t)strlen(keys[i]);
		v.data = (void *)(uintptr_t)vals[i];
		v.size = (u_int32_t)strlen(vals[i]);
		r = db->put(db, NULL, &k, &v, 0);
	}
	return db->close(db, 0) != 0 ? -1 : r;
}

static void
test_names(void)
{
	static const char *const good[] = { "phone", "a", "Z", "0", "laptop-2.home_x",
	    "...", "-", "_" };
	static const char *const bad[] = { "", "a b", "a/b", "../x", "a:b", "a\tb",
	    "j\xc3\xb6rg", "a\nb", "a@b", "a*", "a\"b" };
	char n64[APPPASS_NAME_MAX + 2];
	size_t i;

	test_begin("apppass: device names");
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		test_assert_idx(apppass_name_ok(good[i]), i);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(!apppass_name_ok(bad[i]), i);
	memset(n64, 'n', APPPASS_NAME_MAX);
	n64[APPPASS_NAME_MAX] = '\0';
	test_assert(apppass_name_ok(n64));
	n64[APPPASS_NAME_MAX] = 'n';
	n64[APPPASS_NAME_MAX + 1] = '\0';
	test_assert(!apppass_name_ok(n64));
	test_end();
}

static void
test_shape(void)
{
	static const char *const bad[] = {
		"", "abcd", "abcd-efgh-jkmn-pqrs-tuv", "abcd-efgh-jkmn-pqrs-tuvwx",
		"abcd-efgh-jkmn-pqrs-tuvw-",
		"abcdefghjkmnpqrstuvw2345",				/* no dashes */
		"abcd-efgh-jkmn-pqrs-tuvW", "ABCD-EFGH-JKMN-PQRS-TUVW",	/* case */
		/* look-alikes, not in the alphabet */
		"abcd-efgh-jkmn-pqrs-tuv0", "abcd-efgh-jkmn-pqrs-tuv1",
		"abcd-efgh-jkmn-pqrs-tuvl", "abcd-efgh-jkmn-pqrs-tuvo",
		"abcde-fgh-jkmn-pqrs-tuvw", "abcd_efgh_jkmn_pqrs_tuvw",
		"abcd efgh jkmn pqrs tuvw", "abcd-efgh-jkmn-pqrs--uvw",
		"Lb-test-pw-2026",
	};
	size_t i;

	test_begin("apppass: the shape of a generated password");
	test_assert(apppass_shape("abcd-efgh-jkmn-pqrs-tuvw"));
	test_assert(apppass_shape("2345-6789-xyza-bcde-fghi"));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		test_assert_idx(!apppass_shape(bad[i]), i);
	test_end();
}

static void
test_add_list_verify(void)
{
	const char *dir = state("basic");
	char pw[APPPASS_LEN + 1], pw2[APPPASS_LEN + 1], wrong[APPPASS_LEN + 1];
	char name[APPPASS_NAME_MAX + 1], err[512];
	struct listing l;
	struct stat st;
	char p[PATH_MAX];
	time_t before = time(NULL);

	test_begin("apppass: add, list, verify");
	/* No file yet: no devices, nothing verifies, and that is not an error. */
	test_assert(list(dir, &l) == 0 && l.n == 0);
	test_assert(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == 0);
	test_assert(!exists(dir, APPPASS_FILE));

	memset(pw, 'x', sizeof(pw));
	test_assert(apppass_add(dir, "phone", pw, err, sizeof(err)) == 0);
	test_assert(strlen(pw) == APPPASS_LEN && apppass_shape(pw));
	path(p, dir, APPPASS_FILE);
	test_assert(stat(p, &st) == 0 && S_ISREG(st.st_mode));
	test_assert((st.st_mode & 07777) == 0600);
	test_assert(st.st_uid == geteuid());
	test_assert(!exists(dir, APPPASS_FILE ".new"));
	/* The password itself is nowhere in the file; only its argon2id hash is. */
	{
		char buf[65536];
		long n = slurp(dir, APPPASS_FILE, buf, sizeof(buf));

		test_assert(n > 0 && memmem(buf, (size_t)n, pw, APPPASS_LEN) == NULL);
		test_assert(n > 0 && memmem(buf, (size_t)n, "$argon2id$", 10) != NULL);
	}

	test_assert(list(dir, &l) == 0 && l.n == 1);
	test_assert_str(l.names[0], "phone");
	test_assert(l.created[0] >= (uint64_t)before);
	test_assert(l.created[0] <= (uint64_t)time(NULL));

	memset(name, 'x', sizeof(name));
	test_assert(apppass_verify(dir, pw, name) == 1);
	test_assert_str(name, "phone");
	/* One character changed: same shape, wrong password. */
	memcpy(wrong, pw, sizeof(wrong));
	wrong[0] = wrong[0] == 'a' ? 'b' : 'a';
	test_assert(apppass_verify(dir, wrong, name) == 0);
	/* Not the shape: not even tried (and not an error). */
	test_assert(apppass_verify(dir, "Lb-test-pw-2026", name) == 0);
	test_assert(apppass_verify(dir, "", name) == 0);

	/* A second device: each password verifies as its own device, listed by name. */
	test_assert(apppass_add(dir, "laptop", pw2, err, sizeof(err)) == 0);
	test_assert(strcmp(pw, pw2) != 0);
	test_assert(apppass_verify(dir, pw2, name) == 1);
	test_assert_str(name, "laptop");
	test_assert(apppass_verify(dir, pw, name) == 1);
	test_assert_str(name, "phone");
	test_assert(list(dir, &l) == 0 && l.n == 2);
	test_assert_str(l.names[0], "laptop");
	test_assert_str(l.names[1], "phone");
	test_assert(!exists(dir, APPPASS_FILE ".new"));
	sodium_memzero(pw, sizeof(pw));
	sodium_memzero(pw2, sizeof(pw2));
	test_end();
}

static void
test_duplicate_and_bad_names(void)
{
	const char *dir = state("dup");
	char pw[APPPASS_LEN + 1], again[APPPASS_LEN + 1], name[APPPASS_NAME_MAX + 1];
	char err[512], long_name[APPPASS_NAME_MAX + 2];
	struct listing l;
	size_t i;

	test_begin("apppass: a duplicate name and bad names change nothing");
	test_assert(apppass_add(dir, "tablet", pw, err, sizeof(err)) == 0);
	memset(again, 'x', sizeof(again));
	test_assert(apppass_add(dir, "tablet", again, err, sizeof(err)) == 1);
	for (i = 0; i < sizeof(again); i++)	/* no password handed out */
		test_assert_idx(again[i] == '\0', i);
	test_assert(list(dir, &l) == 0 && l.n == 1);
	/* The first password still works: the name was not re-keyed. */
	test_assert(apppass_verify(dir, pw, name) == 1);
	test_assert_str(name, "tablet");

	err[0] = '\0';
	test_assert(apppass_add(dir, "a/b", again, err, sizeof(err)) == -1);
	test_assert(strstr(err, "a/b") != NULL);
	test_assert(apppass_add(dir, "", again, err, sizeof(err)) == -1);
	test_assert(apppass_add(dir, "two words", again, err, sizeof(err)) == -1);
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	test_assert(apppass_add(dir, long_name, again, err, sizeof(err)) == -1);
	test_assert(list(dir, &l) == 0 && l.n == 1);
	test_assert_str(l.names[0], "tablet");

	/* Names are exact: another case is another device. */
	test_assert(apppass_add(dir, "Tablet", again, err, sizeof(err)) == 0);
	test_assert(list(dir, &l) == 0 && l.n == 2);
	test_assert(apppass_remove(dir, "TABLET", err, sizeof(err)) == 1);
	test_end();
}

static void
test_remove(void)
{
	const char *dir = state("remove");
	char a[APPPASS_LEN + 1], b[APPPASS_LEN + 1], name[APPPASS_NAME_MAX + 1], err[512];
	char p[PATH_MAX];
	struct listing l;
	struct stat st1, st2;

	test_begin("apppass: remove revokes one device; the file is replaced, not edited");
	test_assert(apppass_remove(dir, "phone", err, sizeof(err)) == 1);	/* no file */
	test_assert(apppass_add(dir, "phone", a, err, sizeof(err)) == 0);
	test_assert(apppass_add(dir, "watch", b, err, sizeof(err)) == 0);
	path(p, dir, APPPASS_FILE);
	test_assert(stat(p, &st1) == 0);
	test_assert(apppass_remove(dir, "phone", err, sizeof(err)) == 0);
	test_assert(stat(p, &st2) == 0);
	/* A new file renamed into place (a reader holding the old one sees it whole). */
	test_assert(st1.st_ino != st2.st_ino);
	test_assert((st2.st_mode & 07777) == 0600);
	test_assert(!exists(dir, APPPASS_FILE ".new"));
	test_assert(apppass_verify(dir, a, name) == 0);
	test_assert(apppass_verify(dir, b, name) == 1);
	test_assert_str(name, "watch");
	test_assert(list(dir, &l) == 0 && l.n == 1);
	test_assert_str(l.names[0], "watch");
	test_assert(apppass_remove(dir, "phone", err, sizeof(err)) == 1);	/* gone */
	test_assert(apppass_remove(dir, "nosuch", err, sizeof(err)) == 1);
	test_assert(apppass_remove(dir, "../watch", err, sizeof(err)) == 1);
	/* The last one: an empty store, still a valid file. */
	test_assert(apppass_remove(dir, "watch", err, sizeof(err)) == 0);
	test_assert(list(dir, &l) == 0 && l.n == 0);
	test_assert(exists(dir, APPPASS_FILE));
	test_assert(apppass_verify(dir, b, name) == 0);
	/* And a name removed can be added again, with a new password. */
	test_assert(apppass_add(dir, "phone", b, err, sizeof(err)) == 0);
	test_assert(strcmp(a, b) != 0);
	test_assert(apppass_verify(dir, b, name) == 1);
	test_end();
}

/*
 * A record as apppass_add writes it, for a known password, hashed with libsodium's
 * minimum cost: verify reads the cost from the hash, so a store full of these is
 * checked quickly. The format is the same.
 */
static void
cheap_record(char *out, size_t outsz, const char *pass)
{
	char hash[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(hash, pass, strlen(pass), crypto_pwhash_OPSLIMIT_MIN,
	    crypto_pwhash_MEMLIMIT_MIN, crypto_pwhash_ALG_ARGON2ID13) != 0)
		hash[0] = '\0';
	snprintf(out, outsz, "1 %llu %s", (unsigned long long)time(NULL), hash);
}

static void
test_max(void)
{
	const char *dir = state("max");
	const char *keys[APPPASS_MAX], *vals[APPPASS_MAX];
	char names[APPPASS_MAX][16], recs[APPPASS_MAX][256], pws[APPPASS_MAX][32];
	char pw[APPPASS_LEN + 1], last[APPPASS_LEN + 1];
	char name[APPPASS_NAME_MAX + 1], err[512];
	struct listing l;
	int i;

	test_begin("apppass: at most APPPASS_MAX devices");
	for (i = 0; i < APPPASS_MAX - 1; i++) {
		snprintf(names[i], sizeof(names[i]), "dev%02d", i);
		/* Distinct, and of the shape (letters and digits of the alphabet). */
		snprintf(pws[i], sizeof(pws[i]), "abc%c-defg-hijk-mnpq-rstu",
		    "abcdefghijkmnpqrstuvwxyz23456789"[i]);
		cheap_record(recs[i], sizeof(recs[i]), pws[i]);
		keys[i] = names[i];
		vals[i] = recs[i];
		test_assert_idx(apppass_shape(pws[i]), i);
		test_assert_idx(strstr(recs[i], "$argon2id$") != NULL, i);
	}
	test_assert(raw_store(dir, DB_BTREE, keys, vals, APPPASS_MAX - 1) == 0);
	test_assert(list(dir, &l) == 0 && l.n == APPPASS_MAX - 1);
	/* The last one that fits. */
	test_assert(apppass_add(dir, "dev31", last, err, sizeof(err)) == 0);
	err[0] = '\0';
	memset(pw, 'x', sizeof(pw));
	test_assert(apppass_add(dir, "onemore", pw, err, sizeof(err)) == -1);
	test_assert(strstr(err, "remove one") != NULL);
	test_assert(pw[0] == '\0');
	test_assert(list(dir, &l) == 0 && l.n == APPPASS_MAX);
	test_assert_str(l.names[0], "dev00");
	test_assert_str(l.names[APPPASS_MAX - 1], "dev31");
	/* Every hash is tried: the first and the last device both verify. */
	test_assert(apppass_verify(dir, pws[0], name) == 1);
	test_assert_str(name, "dev00");
	test_assert(apppass_verify(dir, pws[17], name) == 1);
	test_assert_str(name, "dev17");
	test_assert(apppass_verify(dir, last, name) == 1);
	test_assert_str(name, "dev31");
	/* Room again after a removal; the others are kept as they were. */
	test_assert(apppass_remove(dir, "dev05", err, sizeof(err)) == 0);
	test_assert(apppass_add(dir, "onemore", pw, err, sizeof(err)) == 0);
	test_assert(list(dir, &l) == 0 && l.n == APPPASS_MAX);
	test_assert(apppass_verify(dir, pw, name) == 1);
	test_assert_str(name, "onemore");
	test_assert(apppass_verify(dir, pws[5], name) == 0);
	test_assert(apppass_verify(dir, pws[6], name) == 1);
	test_assert_str(name, "dev06");
	test_end();
}

static void
test_stale_new_and_concurrency(void)
{
	const char *dir = state("atomic");
	char pw[APPPASS_LEN + 1], err[512];
	struct listing l;
	pid_t kids[4];
	int i, status, good = 0;

	test_begin("apppass: a stale .new is ignored; concurrent adds are all kept");
	/* What a change killed half-way leaves: it is not the store, and is replaced. */
	spit(dir, APPPASS_FILE ".new", "half a file", 11);
	test_assert(list(dir, &l) == 0 && l.n == 0);
	test_assert(apppass_add(dir, "first", pw, err, sizeof(err)) == 0);
	test_assert(!exists(dir, APPPASS_FILE ".new"));
	test_assert(list(dir, &l) == 0 && l.n == 1);
	/* Four processes add at once: the lock serialises the read-modify-replace. */
	for (i = 0; i < 4; i++) {
		if ((kids[i] = fork()) == 0) {
			char n[16], p[APPPASS_LEN + 1], e[512];

			snprintf(n, sizeof(n), "kid%d", i);
			_exit(apppass_add(dir, n, p, e, sizeof(e)) == 0 ? 0 : 1);
		}
	}
	for (i = 0; i < 4; i++)
		if (kids[i] > 0 && waitpid(kids[i], &status, 0) == kids[i] &&
		    WIFEXITED(status) && WEXITSTATUS(status) == 0)
			good++;
	test_assert(good == 4);
	test_assert(list(dir, &l) == 0 && l.n == 5);
	test_assert(!exists(dir, APPPASS_FILE ".new"));
	test_end();
}

/* Every entry point on a store that cannot be read: -1 with a reason, the file kept. */
static void
assert_store_error(const char *dir, int idx)
{
	static char before[65536], after[65536];
	char pw[APPPASS_LEN + 1], err[512], name[APPPASS_NAME_MAX + 1];
	long nb, na;
	struct listing l;

	nb = slurp(dir, APPPASS_FILE, before, sizeof(before));
	memset(&l, 0, sizeof(l));
	err[0] = '\0';
	test_assert_idx(apppass_list(dir, collect, &l, err, sizeof(err)) == -1, idx);
	test_assert_idx(err[0] != '\0', idx);
	test_assert_idx(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == -1, idx);
	/* A change must not "repair" it by writing an empty store over it. */
	test_assert_idx(apppass_add(dir, "new", pw, err, sizeof(err)) == -1, idx);
	test_assert_idx(pw[0] == '\0', idx);
	test_assert_idx(apppass_remove(dir, "phone", err, sizeof(err)) == -1, idx);
	na = slurp(dir, APPPASS_FILE, after, sizeof(after));
	test_assert_idx(na == nb && (nb <= 0 || memcmp(before, after, (size_t)nb) == 0),
	    idx);
	test_assert_idx(!exists(dir, APPPASS_FILE ".new"), idx);
}

static void
test_corrupt(void)
{
	static const char *const hash_keys[] = { "phone" };
	static const char *const bad_vals[][1] = {
		/* another version */
		{ "2 1795900000 $argon2id$v=19$m=65536,t=2,p=1$xxxx$yyyy" },
		{ "12 1795900000 $argon2id$v=19$m=65536,t=2,p=1$xxxx$yyyy" },
		{ "1 nope $argon2id$" },
		{ "1 -5 $argon2id$v=19$m=65536,t=2,p=1$xxxx$yyyy" },
		{ "1 1795900000 " },				/* no hash */
		{ "1 1795900000" },
		{ "garbage" },
		{ "" },
	};
	static const char *const bad_name[] = { "a/b" };
	static const char *const ok_val[] = { "1 1795900000 $argon2id$v=19$m=65536,t=2,p=1$"
	    "c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG" };
	char junk[4096], buf[65536], dir2[PATH_MAX], pw[APPPASS_LEN + 1], err[512];
	char name[APPPASS_NAME_MAX + 1];
	struct listing l;
	const char *dir;
	long n;
	size_t i;

	test_begin("apppass: corrupt, foreign or truncated stores: errors, kept as they are");
	/* Random bytes. */
	dir = state("corrupt-random");
	randombytes_buf(junk, sizeof(junk));
	spit(dir, APPPASS_FILE, junk, sizeof(junk));
	assert_store_error(dir, 0);
	/* Text. */
	dir = state("corrupt-text");
	spit(dir, APPPASS_FILE, "phone 1 $argon2id$\n", 19);
	assert_store_error(dir, 1);
	/* Berkeley DB's complaint is in err, and nothing on stderr (the daemon's log). */
	{
		char tmp[PATH_MAX];
		struct stat st;
		int saved, fd;

		snprintf(tmp, sizeof(tmp), "%s/stderr", root);
		fflush(stderr);
		saved = dup(2);
		fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC, 0600);
		test_assert(saved != -1 && fd != -1 && dup2(fd, 2) == 2);
		err[0] = '\0';
		memset(&l, 0, sizeof(l));
		n = apppass_list(dir, collect, &l, err, sizeof(err));
		test_assert(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == -1);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		test_assert(n == -1);
		test_assert(fstat(fd, &st) == 0 && st.st_size == 0);
		test_assert(strstr(err, "unexpected file type or format") != NULL);
		close(fd);
	}
	/* A Berkeley DB file of another type. */
	dir = state("corrupt-hash");
	test_assert(raw_store(dir, DB_HASH, hash_keys, ok_val, 1) == 0);
	assert_store_error(dir, 2);
	/* A directory where the file should be. */
	dir = state("corrupt-dir");
	snprintf(dir2, sizeof(dir2), "%s/%s", dir, APPPASS_FILE);
	test_assert(mkdir(dir2, 0700) == 0);
	err[0] = '\0';
	test_assert(list(dir, &l) == -1);
	test_assert(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == -1);
	test_assert(apppass_add(dir, "new", pw, err, sizeof(err)) == -1);
	/* Records that are not ours: each refused. */
	for (i = 0; i < sizeof(bad_vals) / sizeof(bad_vals[0]); i++) {
		char sub[32];

		snprintf(sub, sizeof(sub), "corrupt-record-%zu", i);
		dir = state(sub);
		test_assert_idx(raw_store(dir, DB_BTREE, hash_keys, bad_vals[i], 1) == 0, i);
		assert_store_error(dir, (int)(10 + i));
	}
	dir = state("corrupt-name");
	test_assert(raw_store(dir, DB_BTREE, bad_name, ok_val, 1) == 0);
	assert_store_error(dir, 20);
	/* A well-formed record whose hash is not a valid one: no match, no crash. */
	dir = state("odd-hash");
	{
		static const char *const odd[] = { "1 1795900000 $argon2id$nonsense" };

		test_assert(raw_store(dir, DB_BTREE, hash_keys, odd, 1) == 0);
		test_assert(list(dir, &l) == 0 && l.n == 1);
		test_assert(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == 0);
	}
	/* A real store cut short. */
	dir = state("truncated");
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "d%zu", i);
		test_assert_idx(apppass_add(dir, name, pw, err, sizeof(err)) == 0, i);
	}
	n = slurp(dir, APPPASS_FILE, buf, sizeof(buf));
	test_assert(n > 1024);
	if (n > 1024) {
		spit(dir, APPPASS_FILE, buf, (size_t)n / 2);
		assert_store_error(dir, 30);
		spit(dir, APPPASS_FILE, buf, 100);
		assert_store_error(dir, 31);
	}
	/* An empty file (a crash between create and write, by someone else). */
	dir = state("empty");
	spit(dir, APPPASS_FILE, "", 0);
	assert_store_error(dir, 40);
	test_end();
}

static void
test_too_many_records(void)
{
	const char *keys[APPPASS_MAX + 1], *vals[APPPASS_MAX + 1];
	char names[APPPASS_MAX + 1][16];
	const char *dir = state("too-many");
	struct listing l;
	size_t i;

	test_begin("apppass: a store with more than APPPASS_MAX records is refused whole");
	for (i = 0; i <= APPPASS_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "dev%02zu", i);
		keys[i] = names[i];
		vals[i] = "1 1795900000 $argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$"
		    "RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
	}
	test_assert(raw_store(dir, DB_BTREE, keys, vals, APPPASS_MAX) == 0);
	test_assert(list(dir, &l) == 0 && l.n == APPPASS_MAX);
	test_assert(raw_store(dir, DB_BTREE, keys, vals, APPPASS_MAX + 1) == 0);
	assert_store_error(dir, 0);
	test_end();
}

static void
test_unreadable(void)
{
	const char *dir = state("unreadable");
	char pw[APPPASS_LEN + 1], err[512], p[PATH_MAX];
	struct listing l;
	pid_t pid;
	int status = -1;

	test_begin("apppass: a store this process may not read is an error");
	test_assert(apppass_add(dir, "phone", pw, err, sizeof(err)) == 0);
	path(p, dir, APPPASS_FILE);
	test_assert(chmod(p, 0) == 0);
	/* Root reads anything: then ask as nobody, in a child, with the directory open. */
	if ((pid = fork()) == 0) {
		char name[APPPASS_NAME_MAX + 1], e[512];
		struct listing cl;

		if (geteuid() == 0 && (chmod(root, 0711) == -1 || chmod(dir, 0711) == -1 ||
		    setgid(65534) == -1 || setuid(65534) == -1))
			_exit(2);
		memset(&cl, 0, sizeof(cl));
		if (apppass_list(dir, collect, &cl, e, sizeof(e)) != -1 || e[0] == '\0')
			_exit(3);
		if (apppass_verify(dir, pw, name) != -1)
			_exit(4);
		_exit(0);
	}
	test_assert(pid > 0 && waitpid(pid, &status, 0) == pid);
	test_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	chmod(root, 0700);
	chmod(dir, 0700);
	test_assert(chmod(p, 0600) == 0);
	test_assert(list(dir, &l) == 0 && l.n == 1);
	test_end();
}

static void
test_no_state_dir(void)
{
	char dir[PATH_MAX], pw[APPPASS_LEN + 1], err[512], name[APPPASS_NAME_MAX + 1];
	char longdir[PATH_MAX + 16];
	struct listing l;

	test_begin("apppass: a missing or overlong state directory");
	snprintf(dir, sizeof(dir), "%s/does-not-exist", root);
	test_assert(list(dir, &l) == 0 && l.n == 0);
	test_assert(apppass_verify(dir, "abcd-efgh-jkmn-pqrs-tuvw", name) == 0);
	err[0] = '\0';
	test_assert(apppass_add(dir, "phone", pw, err, sizeof(err)) == -1);
	test_assert(strstr(err, "does-not-exist") != NULL);
	test_assert(access(dir, F_OK) == -1);
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	test_assert(apppass_add(longdir, "phone", pw, err, sizeof(err)) == -1);
	test_assert(apppass_list(longdir, collect, &l, err, sizeof(err)) == -1);
	test_assert(apppass_remove(longdir, "phone", err, sizeof(err)) == -1);
	test_end();
}

int
main(void)
{
	char cmd[128];

	test_begin("apppass: setup");
	test_assert(sodium_init() >= 0);
	test_assert(mkdtemp(root) != NULL);
	test_end();
	test_names();
	test_shape();
	test_add_list_verify();
	test_duplicate_and_bad_names();
	test_remove();
	test_max();
	test_stale_new_and_concurrency();
	test_corrupt();
	test_too_many_records();
	test_unreadable();
	test_no_state_dir();
	chmod(root, 0700);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "test_apppass: could not remove %s\n", root);
	return test_exit();
}
