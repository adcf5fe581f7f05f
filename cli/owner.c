/*
 * owner: what the subcommands that work in state_dir share.
 */
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/privdrop.h"
#include "lib/util.h"

/*
 * state_dir belongs to the owner, who runs the daemons' helpers: it is opened (and
 * created for the owner) first, as root, then the work is done as the owner from
 * inside it, so the owner needs no access to its parent directories.
 */
int
cli_owner_ids(const struct settings *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (geteuid() == 0 && cfg->user != NULL) {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			fprintf(stderr, "letterbox: user %s does not exist\n", cfg->user);
			return EX_NOUSER;
		}
		*uid = pw->pw_uid;
		*gid = pw->pw_gid;
	}
	return 0;
}

int
cli_become_owner(const struct settings *cfg)
{
	uid_t uid;
	gid_t gid;
	char err[512];
	int fd;

	if ((fd = cli_owner_ids(cfg, &uid, &gid)) != 0)
		return fd;
	if ((fd = util_mkdirat_open(AT_FDCWD, cfg->state_dir, uid, gid)) == -1) {
		perror(cfg->state_dir);
		return EX_CANTCREAT;
	}
	if (privdrop(cfg->user, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox: %s\n", err);
		return EX_NOPERM;
	}
	if (fchdir(fd) == -1) {
		perror(cfg->state_dir);
		return EX_NOPERM;
	}
	close(fd);
	return 0;
}

