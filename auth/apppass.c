/*
 * apppass: the app-password store (see apppass.h).
 *
 * Record: key = device name (no NUL); data = "1 <created-epoch> <crypto_pwhash_str>"
 * as text, so `db_dump -p` shows what is there. The leading 1 is the format version.
 */
#include <ctype.h>
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/apppass.h"
#include "lib/util.h"

/* 32 letters and digits without the look-alikes l, o, 0 and 1: 5 bits each. */
static const char apppass_alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";

struct apppass_entry {
	char		name[APPPASS_NAME_MAX + 1];
	uint64_t	created;
	char		hash[crypto_pwhash_STRBYTES];
};

bool
apppass_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > APPPASS_NAME_MAX)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && strchr("._-", name[i]) == NULL)
			return false;
	return true;
}

bool
apppass_shape(const char *pass)
{
	size_t i;

	if (strlen(pass) != APPPASS_LEN)
		return false;
	for (i = 0; i < APPPASS_LEN; i++) {
		if (i % 5 == 4) {
			if (pass[i] != '-')
				return false;
		} else if (pass[i] == '\0' || strchr(apppass_alphabet, pass[i]) == NULL)
			return false;
	}
	return true;
}

static void
apppass_generate(char *out)
{
	unsigned char r[20];
	size_t i, o = 0;

	util_random(r, sizeof(r));
	for (i = 0; i < sizeof(r); i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		out[o++] = apppass_alphabet[r[i] & 31];
	}
	out[o] = '\0';
	sodium_memzero(r, sizeof(r));
}

/* dir/name into out; -1 if it does not fit. */
static int
apppass_path(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

/*
 * Berkeley DB's own words on the last failure. Without an errcall it writes them to
 * stderr, which is the daemon's log: a damaged file made hundreds of lines there for
 * every login. Kept here instead, and added to the one error we report.
 */
static char apppass_dbmsg[160];

static void
apppass_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
	(void)env;
	(void)pfx;
	if (apppass_dbmsg[0] == '\0')
		snprintf(apppass_dbmsg, sizeof(apppass_dbmsg), "%s", msg);
}

static void
db_err(char *err, size_t errsz, const char *what, const char *path, int r)
{
	snprintf(err, errsz, "%s %s: %s%s%s%s", what, path,
	    r > 0 ? strerror(r) : db_strerror(r), apppass_dbmsg[0] != '\0' ? " (" : "",
	    apppass_dbmsg, apppass_dbmsg[0] != '\0' ? ")" : "");
	apppass_dbmsg[0] = '\0';
}

/* Every record into e[APPPASS_MAX]; *n set. No file: 0 records. 0 or -1. */
static int
apppass_load(const char *dir, struct apppass_entry *e, size_t *n, char *err, size_t errsz)
{
	char path[PATH_MAX], val[256];
	DB *db = NULL;
	DBC *cur = NULL;
	DBT k, v;
	int r;

	*n = 0;
	if (apppass_path(path, sizeof(path), dir, APPPASS_FILE) == -1) {
		db_err(err, errsz, "path", dir, ENAMETOOLONG);
		return -1;
	}
	if (access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	apppass_dbmsg[0] = '\0';
	if ((r = db_create(&db, NULL, 0)) == 0)
		db->set_errcall(db, apppass_errcall);
	if (r != 0 ||
	    (r = db->open(db, NULL, path, NULL, DB_BTREE, DB_RDONLY, 0)) != 0 ||
	    (r = db->cursor(db, NULL, &cur, 0)) != 0) {
		db_err(err, errsz, "open", path, r);
		if (db != NULL)
			db->close(db, 0);
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((r = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		struct apppass_entry *x = &e[*n];
		unsigned long long created;
		int off = 0;

		if (*n >= APPPASS_MAX || k.size == 0 || k.size > APPPASS_NAME_MAX ||
		    v.size == 0 || v.size >= sizeof(val)) {
			r = EINVAL;
			break;
		}
		memcpy(x->name, k.data, k.size);
		x->name[k.size] = '\0';
		memcpy(val, v.data, v.size);
		val[v.size] = '\0';
		/*
		 * The version exactly, then digits: sscanf alone would read "12 ..." as
		 * version 1, and take a sign or an empty hash.
		 */
		if (strncmp(val, "1 ", 2) != 0 || !isdigit((unsigned char)val[2]) ||
		    sscanf(val + 2, "%llu %n", &created, &off) != 1 || off == 0 ||
		    val[2 + off] == '\0' || strlen(val + 2 + off) >= sizeof(x->hash) ||
		    !apppass_name_ok(x->name)) {
			r = EINVAL;
			break;
		}
		x->created = created;
		strcpy(x->hash, val + 2 + off);
		(*n)++;
	}
	cur->close(cur);
	db->close(db, 0);
	if (r != DB_NOTFOUND) {
		db_err(err, errsz, "read", path, r);
		return -1;
	}
	return 0;
}

/* Write e[0..n) as a new file and rename it over the old one, durably. 0 or -1. */
static int
apppass_store(const char *dir, const struct apppass_entry *e, size_t n, char *err,
    size_t errsz)
{
	char path[PATH_MAX], tmp[PATH_MAX], val[256];
	DB *db = NULL;
	DBT k, v;
	size_t i;
	int r, fd;

	if (apppass_path(path, sizeof(path), dir, APPPASS_FILE) == -1 ||
	    apppass_path(tmp, sizeof(tmp), dir, APPPASS_FILE ".new") == -1) {
		db_err(err, errsz, "path", dir, ENAMETOOLONG);
		return -1;
	}
	unlink(tmp);
	apppass_dbmsg[0] = '\0';
	if ((r = db_create(&db, NULL, 0)) == 0)
		db->set_errcall(db, apppass_errcall);
	if (r != 0 ||
	    (r = db->open(db, NULL, tmp, NULL, DB_BTREE, DB_CREATE | DB_EXCL, 0600)) != 0) {
		db_err(err, errsz, "create", tmp, r);
		goto fail;
	}
	for (i = 0; i < n; i++) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		k.data = (void *)(uintptr_t)e[i].name;
		k.size = (u_int32_t)strlen(e[i].name);
		v.size = (u_int32_t)snprintf(val, sizeof(val), "1 %llu %s",
		    (unsigned long long)e[i].created, e[i].hash);
		v.data = val;
		if ((r = db->put(db, NULL, &k, &v, 0)) != 0) {
			db_err(err, errsz, "write", tmp, r);
			goto fail;
		}
	}
	r = db->close(db, 0);	/* flushes the pages */
	db = NULL;
	if (r != 0) {
		db_err(err, errsz, "close", tmp, r);
		goto fail;
	}
	if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) == -1 || fsync(fd) == -1) {
		db_err(err, errsz, "sync", tmp, errno);
		if (fd != -1)
			close(fd);
		goto fail;
	}
	close(fd);
	if (rename(tmp, path) == -1) {
		db_err(err, errsz, "rename", tmp, errno);
		goto fail;
	}
	/* The new name is durable only once the directory is (POSIX). */
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		r = fsync(fd);
		close(fd);
		if (r == -1) {
			db_err(err, errsz, "sync", dir, errno);
			return -1;
		}
	}
	return 0;
fail:
	if (db != NULL)
		db->close(db, 0);
	unlink(tmp);
	return -1;
}

/* Serialise changes: an exclusive flock on <dir>/app-passwords.db.lock. fd or -1. */
static int
apppass_lock(const char *dir, char *err, size_t errsz)
{
	char path[PATH_MAX];
	int fd;

	if (apppass_path(path, sizeof(path), dir, APPPASS_FILE ".lock") == -1) {
		db_err(err, errsz, "path", dir, ENAMETOOLONG);
		return -1;
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1 ||
	    flock(fd, LOCK_EX) == -1) {
		db_err(err, errsz, "lock", path, errno);
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

int
apppass_add(const char *state_dir, const char *name, char *pw_out, char *err,
    size_t errsz)
{
	struct apppass_entry e[APPPASS_MAX + 1];
	size_t n, i;
	int lock, r = -1;

	if (!apppass_name_ok(name)) {
		snprintf(err, errsz, "bad device name \"%s\": use 1-%d letters, digits, '.', "
		    "'_' or '-'", name, APPPASS_NAME_MAX);
		return -1;
	}
	if ((lock = apppass_lock(state_dir, err, errsz)) == -1)
		return -1;
	if (apppass_load(state_dir, e, &n, err, errsz) == -1)
		goto done;
	for (i = 0; i < n; i++)
		if (strcmp(e[i].name, name) == 0) {
			r = 1;
			goto done;
		}
	if (n >= APPPASS_MAX) {
		snprintf(err, errsz, "already %d app passwords; remove one first", APPPASS_MAX);
		goto done;
	}
	memset(&e[n], 0, sizeof(e[n]));
	strcpy(e[n].name, name);
	e[n].created = (uint64_t)time(NULL);
	apppass_generate(pw_out);
	/* RFC 9106 §4's second recommended profile, as libsodium's "interactive". */
	if (crypto_pwhash_str_alg(e[n].hash, pw_out, APPPASS_LEN,
	    crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE,
	    crypto_pwhash_ALG_ARGON2ID13) != 0) {
		snprintf(err, errsz, "argon2id: out of memory");
		goto done;
	}
	r = apppass_store(state_dir, e, n + 1, err, errsz) == 0 ? 0 : -1;
done:
	if (r != 0)
		sodium_memzero(pw_out, APPPASS_LEN + 1);
	close(lock);
	return r;
}

int
apppass_remove(const char *state_dir, const char *name, char *err, size_t errsz)
{
	struct apppass_entry e[APPPASS_MAX];
	size_t n, i;
	int lock, r = -1;

	if ((lock = apppass_lock(state_dir, err, errsz)) == -1)
		return -1;
	if (apppass_load(state_dir, e, &n, err, errsz) == -1)
		goto done;
	for (i = 0; i < n && strcmp(e[i].name, name) != 0; i++)
		;
	if (i == n) {
		r = 1;
		goto done;
	}
	memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(e[0]));
	r = apppass_store(state_dir, e, n - 1, err, errsz) == 0 ? 0 : -1;
done:
	close(lock);
	return r;
}

int
apppass_list(const char *state_dir, void (*cb)(const char *, uint64_t, void *), void *arg,
    char *err, size_t errsz)
{
	struct apppass_entry e[APPPASS_MAX];
	size_t n, i;

	if (apppass_load(state_dir, e, &n, err, errsz) == -1)
		return -1;
	for (i = 0; i < n; i++)
		cb(e[i].name, e[i].created, arg);
	return 0;
}

int
apppass_verify(const char *state_dir, const char *pass, char *name_out)
{
	struct apppass_entry e[APPPASS_MAX];
	char err[256];
	size_t n, i;
	int found = 0;

	if (!apppass_shape(pass))
		return 0;
	if (apppass_load(state_dir, e, &n, err, sizeof(err)) == -1)
		return -1;
	/* Every hash is tried, so the time taken does not say which device matched. */
	for (i = 0; i < n; i++)
		if (crypto_pwhash_str_verify(e[i].hash, pass, strlen(pass)) == 0 && !found) {
			strcpy(name_out, e[i].name);
			found = 1;
		}
	return found;
}
