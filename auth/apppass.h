/*
 * apppass: per-device app passwords (design.md §5). Each is 100 random bits shown to
 * the owner once, in the shape "abcd-efgh-jkmn-pqrs-tuvw", and stored only as an
 * argon2id hash (libsodium crypto_pwhash_str) under the device's name in a Berkeley
 * DB file, <state_dir>/app-passwords.db.
 *
 * The file is never changed in place: a change writes a complete new file, syncs it
 * and renames it over the old one (under a lock file, so two changes cannot race).
 * The auth process opens the file read-only for each check, so it always sees one
 * whole version, and a crash in the middle of a change leaves the previous one.
 */
#ifndef LB_AUTH_APPPASS_H
#define LB_AUTH_APPPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define APPPASS_FILE		"app-passwords.db"
#define APPPASS_NAME_MAX	64
#define APPPASS_MAX		32	/* devices; each check costs one argon2id */
#define APPPASS_LEN		24	/* "xxxx-xxxx-xxxx-xxxx-xxxx" */

/* A device name: 1..APPPASS_NAME_MAX of letters, digits, '.', '_', '-'. */
bool	apppass_name_ok(const char *name);
/* Whether pass has the shape of a generated app password (a cheap pre-check). */
bool	apppass_shape(const char *pass);

/*
 * Make a password for a new device name, store its hash, and put the password in
 * pw_out (APPPASS_LEN + 1 bytes). 0; 1 if the name exists; -1 with err.
 */
int	apppass_add(const char *state_dir, const char *name, char *pw_out, char *err,
	    size_t errsz);
/* 0 removed; 1 no such name; -1 with err. */
int	apppass_remove(const char *state_dir, const char *name, char *err, size_t errsz);
/* cb for every device in name order. 0, or -1 with err (no file: no devices, 0). */
int	apppass_list(const char *state_dir, void (*cb)(const char *name, uint64_t created,
	    void *arg), void *arg, char *err, size_t errsz);
/*
 * Whether pass is the app password of a device: 1 with its name in name_out
 * (APPPASS_NAME_MAX + 1 bytes), 0 if none matches (or there is no file), -1 on error.
 */
int	apppass_verify(const char *state_dir, const char *pass, char *name_out);

#endif
