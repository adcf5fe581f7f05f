/*
 * cmd_passwd: letterbox passwd add|list|remove NAME — the owner's per-device app
 * passwords (auth/apppass.h). The password is printed once, at `add`; only its
 * argon2id hash is kept.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "auth/apppass.h"
#include "cli/cli.h"
#include "lib/privdrop.h"

static void
print_device(const char *name, uint64_t created, void *arg)
{
	char when[32];
	time_t t = (time_t)created;
	struct tm tm;

	(*(int *)arg)++;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&t, &tm));
	printf("%-24s created %s\n", name, when);
}

/*
 * The store belongs to the owner, who runs the auth process: as root, create
 * state_dir for the owner, then work as the owner.
 */
static int
become_owner(const struct settings *cfg)
{
	struct passwd *pw;
	char err[512];

	if (geteuid() == 0 && cfg->user != NULL) {
		if ((pw = getpwnam(cfg->user)) == NULL) {
			fprintf(stderr, "letterbox: user %s does not exist\n", cfg->user);
			return EX_NOUSER;
		}
		if (mkdir(cfg->state_dir, 0700) == 0) {
			if (chown(cfg->state_dir, pw->pw_uid, pw->pw_gid) == -1) {
				perror(cfg->state_dir);
				return EX_CANTCREAT;
			}
		} else if (errno != EEXIST) {
			perror(cfg->state_dir);
			return EX_CANTCREAT;
		}
	}
	if (privdrop(cfg->user, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox: %s\n", err);
		return EX_NOPERM;
	}
	if (mkdir(cfg->state_dir, 0700) == -1 && errno != EEXIST) {
		perror(cfg->state_dir);
		return EX_CANTCREAT;
	}
	return 0;
}

int
cli_passwd(const struct settings *cfg, int argc, char *argv[])
{
	char pw[APPPASS_LEN + 1], err[512];
	int r, n = 0;

	if (argc < 1 || (strcmp(argv[0], "list") == 0 ? argc != 1 : argc != 2)) {
		fprintf(stderr, "usage: letterbox passwd add|remove NAME | list\n");
		return EX_USAGE;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "letterbox: libsodium cannot start\n");
		return EX_SOFTWARE;
	}
	if ((r = become_owner(cfg)) != 0)
		return r;
	if (strcmp(argv[0], "list") == 0) {
		if (apppass_list(cfg->state_dir, print_device, &n, err, sizeof(err)) == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			return EX_IOERR;
		}
		if (n == 0)
			printf("no app passwords\n");
		return 0;
	}
	if (strcmp(argv[0], "add") == 0) {
		r = apppass_add(cfg->state_dir, argv[1], pw, err, sizeof(err));
		if (r == 1) {
			fprintf(stderr, "letterbox: %s already has an app password; remove it "
			    "first\n", argv[1]);
			return EX_DATAERR;
		}
		if (r == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			return EX_IOERR;
		}
		printf("app password for %s: %s\n", argv[1], pw);
		printf("Use it instead of your login password on that device; it is shown "
		    "only now.\n");
		sodium_memzero(pw, sizeof(pw));
		return 0;
	}
	if (strcmp(argv[0], "remove") == 0) {
		r = apppass_remove(cfg->state_dir, argv[1], err, sizeof(err));
		if (r == 1) {
			fprintf(stderr, "letterbox: no app password named %s\n", argv[1]);
			return EX_DATAERR;
		}
		if (r == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			return EX_IOERR;
		}
		printf("removed the app password of %s\n", argv[1]);
		return 0;
	}
	fprintf(stderr, "usage: letterbox passwd add|remove NAME | list\n");
	return EX_USAGE;
}
