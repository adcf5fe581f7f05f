/*
 * privdrop: drop root to the mail user (see privdrop.h).
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/privdrop.h"

int
privdrop(const char *user, char *err, size_t errsz)
{
	struct passwd *pw;

	if (user == NULL) {
		if (geteuid() == 0) {
			snprintf(err, errsz, "running as root needs \"user\" in the config");
			return -1;
		}
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errsz, "user %s: %s", user, errno ? strerror(errno) : "no such user");
		return -1;
	}
	if (geteuid() != 0) {
		if (pw->pw_uid != geteuid()) {
			snprintf(err, errsz, "not root: cannot become user %s", user);
			return -1;
		}
		return 0;
	}
	if (pw->pw_uid == 0) {
		snprintf(err, errsz, "user %s: refusing to run as uid 0", user);
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		snprintf(err, errsz, "cannot become %s: %s", user, strerror(errno));
		return -1;
	}
	/* Paranoia: the drop must be irreversible. */
	if (setuid(0) != -1 || seteuid(0) != -1) {
		snprintf(err, errsz, "could regain root after dropping to %s", user);
		return -1;
	}
	return 0;
}
