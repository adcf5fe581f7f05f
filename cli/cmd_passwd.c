/*
 * cmd_passwd: letterbox passwd add|list|remove NAME — the owner's per-device app
 * passwords (auth/apppass.h). The password is printed once, at `add`; only its
 * argon2id hash is kept.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "lib/util.h"

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
	if ((r = cli_become_owner(cfg)) != 0)
		return r;
	if (strcmp(argv[0], "list") == 0) {
		if (apppass_list(".", print_device, &n, err, sizeof(err)) == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			return EX_IOERR;
		}
		if (n == 0)
			printf("no app passwords\n");
		return 0;
	}
	if (strcmp(argv[0], "add") == 0) {
		r = apppass_add(".", argv[1], pw, err, sizeof(err));
		if (r == 1) {
			fprintf(stderr, "letterbox: %s already has an app password; remove it "
			    "first\n", argv[1]);
			return EX_DATAERR;
		}
		if (r == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			/* A bad name is the caller's data, not an I/O error (sysexits(3)). */
			return apppass_name_ok(argv[1]) ? EX_IOERR : EX_DATAERR;
		}
		printf("app password for %s: %s\n", argv[1], pw);
		printf("Use it instead of your login password on that device; it is shown "
		    "only now.\n");
		sodium_memzero(pw, sizeof(pw));
		return 0;
	}
	if (strcmp(argv[0], "remove") == 0) {
		r = apppass_remove(".", argv[1], err, sizeof(err));
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
