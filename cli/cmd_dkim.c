/*
 * cmd_dkim: letterbox dkim keygen|show — the DKIM signing keys (dkim/dkim.h) and the
 * DNS TXT records that publish their public halves. Keys are made once and never
 * replaced here: a new key means a new selector, published before it is used.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "dkim/dkim.h"
#include "lib/util.h"

#define TXT_STRING_MAX	255	/* RFC 1035 §3.3: one <character-string> */

struct key_file {
	const char	*path;
	enum dkim_alg	 alg;
	const char	*name;
};

static void
key_files(const struct settings *cfg, struct key_file k[2])
{
	k[0] = (struct key_file){ cfg->dkim_ed25519_key, DKIM_ED25519, "ed25519" };
	k[1] = (struct key_file){ cfg->dkim_rsa_key, DKIM_RSA, "rsa" };
}

/*
 * The record as a zone file line, "<selector>._domainkey.<domain>. IN TXT ...", its
 * text cut into 255-octet character-strings inside parentheses when longer, as BIND
 * prints it (a verifier joins them, RFC 6376 §3.6.2.2). `letterbox check` prints it
 * too, for a key that is not published.
 */
void
cli_dkim_print_record(const struct settings *cfg, enum dkim_alg alg, const char *rec)
{
	char sel[64];
	size_t len = strlen(rec), i;

	if (dkim_selector_name(cfg->dkim_selector, alg, sel, sizeof(sel)) == -1)
		snprintf(sel, sizeof(sel), "?");
	printf("%s._domainkey.%s. IN TXT ", sel, cfg->dkim_domain);
	if (len <= TXT_STRING_MAX) {
		printf("\"%s\"\n", rec);
		return;
	}
	printf("(");
	for (i = 0; i < len; i += TXT_STRING_MAX)
		printf(" \"%.*s\"", (int)(len - i < TXT_STRING_MAX ? len - i : TXT_STRING_MAX),
		    rec + i);
	printf(" )\n");
}

/* Print the records of the keys there are. 0 some, 1 none, EX_DATAERR a bad key. */
static int
show_records(const struct settings *cfg)
{
	struct key_file k[2];
	enum dkim_alg alg;
	char err[512], *rec;
	int i, shown = 0, rc = 0;

	key_files(cfg, k);
	for (i = 0; i < 2; i++) {
		if ((rec = dkim_key_record(k[i].path, &alg, err, sizeof(err))) == NULL) {
			if (errno == ENOENT)
				continue;
			fprintf(stderr, "letterbox: %s\n", err);
			rc = EX_DATAERR;
			continue;
		}
		if (alg != k[i].alg) {
			fprintf(stderr, "letterbox: %s: not an %s key\n", k[i].path, k[i].name);
			rc = EX_DATAERR;
		} else {
			cli_dkim_print_record(cfg, alg, rec);
			shown++;
		}
		free(rec);
	}
	if (rc == 0 && shown == 0) {
		fprintf(stderr, "letterbox: no DKIM keys (%s, %s); make them with "
		    "`letterbox dkim keygen`\n", k[0].path, k[1].path);
		return 1;
	}
	return rc;
}

/*
 * Open (creating it, mode 0700, for uid:gid) the directory dir, and its parent too
 * when that is missing (state_dir itself, on a new machine). 0 or -1 with errno.
 */
static int
make_dir(const char *dir, uid_t uid, gid_t gid, int depth)
{
	char *copy;
	int fd, rc;

	if ((fd = util_mkdirat_open(AT_FDCWD, dir, uid, gid)) != -1) {
		close(fd);
		return 0;
	}
	if (errno != ENOENT || depth == 0 || (copy = strdup(dir)) == NULL)
		return -1;
	rc = make_dir(dirname(copy), uid, gid, depth - 1);
	free(copy);
	if (rc == -1)
		return -1;
	if ((fd = util_mkdirat_open(AT_FDCWD, dir, uid, gid)) == -1)
		return -1;
	close(fd);
	return 0;
}

/*
 * Make whichever key is missing. As root the directory and the files go to the
 * configured user: the daemon reads them as root before it drops privileges, and the
 * owner can still run `dkim show`.
 */
static int
keygen(const struct settings *cfg)
{
	struct key_file k[2];
	uid_t uid;
	gid_t gid;
	char err[512], *dir;
	int i, r, rc = 0;

	if ((rc = cli_owner_ids(cfg, &uid, &gid)) != 0)
		return rc;
	key_files(cfg, k);
	for (i = 0; i < 2; i++) {
		if ((dir = strdup(k[i].path)) == NULL) {
			perror("letterbox");
			return EX_OSERR;
		}
		r = make_dir(dirname(dir), uid, gid, 1);
		if (r == -1)
			fprintf(stderr, "letterbox: %s: %s\n", dir, strerror(errno));
		free(dir);
		if (r == -1)
			return EX_CANTCREAT;
		r = dkim_key_generate(k[i].alg, k[i].path, uid, gid, err, sizeof(err));
		if (r == -1) {
			fprintf(stderr, "letterbox: %s\n", err);
			rc = EX_CANTCREAT;
		} else if (r == 0)
			fprintf(stderr, "letterbox: %s exists; kept (a key is never "
			    "replaced: configure another selector for a new one)\n", k[i].path);
		else
			fprintf(stderr, "letterbox: made the %s key %s\n", k[i].name, k[i].path);
	}
	if (rc != 0)
		return rc;
	fprintf(stderr, "letterbox: the DNS records to publish:\n");
	return show_records(cfg);
}

int
cli_dkim(const struct settings *cfg, int argc, char *argv[])
{
	if (argc == 1 && strcmp(argv[0], "keygen") == 0)
		return keygen(cfg);
	if (argc == 1 && strcmp(argv[0], "show") == 0)
		return show_records(cfg);
	fprintf(stderr, "usage: letterbox dkim keygen | show\n");
	return EX_USAGE;
}
