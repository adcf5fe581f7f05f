/*
 * cmd_index: letterbox index verify|sync|rebuild|dump.
 */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/privdrop.h"
#include "maildir/index.h"
#include "maildir/indexer.h"
#include "maildir/maildir.h"

static void
print_line(const char *line, void *arg)
{
	(void)arg;
	printf("mismatch: %s\n", line);
}

static int
print_rec(const struct index_rec *r, void *arg)
{
	char flags[53];
	size_t n = 0;

	(void)arg;
	for (int b = 0; b < 52; b++)
		if (r->flags & (1ULL << b))
			flags[n++] = (char)(b < 26 ? 'A' + b : 'a' + (b - 26));
	flags[n] = '\0';
	printf("%u %llu %llu %s %s %s\n", r->uid, (unsigned long long)r->size,
	    (unsigned long long)r->arrival, r->in_cur ? "cur" : "new",
	    n ? flags : "-", r->name);
	return 0;
}

int
cli_index(const struct settings *cfg, int argc, char *argv[])
{
	struct index_sync_stats st;
	struct maildir md;
	struct index *ix = NULL;
	char dir[4096], err[512];
	uint32_t next;
	long bad;
	int r, rc = EX_SOFTWARE;

	if (argc != 1) {
		fprintf(stderr, "usage: letterbox index verify|sync|rebuild|dump\n");
		return EX_USAGE;
	}
	indexer_dir(cfg->index_dir, dir, sizeof(dir));
	if (maildir_open(&md, cfg->maildir, cfg->hostname, (uid_t)-1, (gid_t)-1) == -1) {
		perror(cfg->maildir);
		return EX_NOINPUT;
	}
	/*
	 * Work as the mail user, from inside the Maildir, as the daemons do: files the
	 * index creates must belong to them, and the path above may be closed to them.
	 */
	if (fchdir(md.dfd_root) == -1 || privdrop(cfg->user, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox: %s\n", fchdir(md.dfd_root) == -1 ?
		    "cannot enter the Maildir" : err);
		maildir_close(&md);
		return EX_NOPERM;
	}
	if (strcmp(argv[0], "rebuild") == 0) {
		if (index_rebuild(dir, &md, &st, err, sizeof(err)) != 0) {
			fprintf(stderr, "letterbox: %s\n", err);
			rc = strstr(err, "in use") ? EX_UNAVAILABLE : EX_SOFTWARE;
		} else {
			printf("rebuilt %s: %u UIDs kept, %u new\n", dir, st.kept, st.added);
			rc = 0;
		}
		maildir_close(&md);
		return rc;
	}
	r = index_open(&ix, dir, err, sizeof(err));
	if (r == INDEX_CORRUPT && strcmp(argv[0], "sync") == 0) {
		fprintf(stderr, "letterbox: %s: rebuilding\n", err);
		if (index_rebuild(dir, &md, &st, err, sizeof(err)) == 0)
			r = index_open(&ix, dir, err, sizeof(err));
	}
	if (r != 0) {
		fprintf(stderr, "letterbox: %s%s\n", err, r == INDEX_CORRUPT ?
		    " (damaged: run \"letterbox index rebuild\")" : "");
		maildir_close(&md);
		return r == INDEX_CORRUPT ? 1 : EX_SOFTWARE;
	}
	if (strcmp(argv[0], "verify") == 0) {
		bad = index_verify(ix, &md, print_line, NULL);
		if (bad < 0)
			fprintf(stderr, "letterbox: verify: %s%s\n", index_error(ix),
			    bad == INDEX_CORRUPT ?
			    " (damaged: run \"letterbox index rebuild\")" : "");
		else
			printf("%s: %ld mismatch(es)\n", dir, bad);
		/* Damage found on the way is a disagreement too (exit 1), as at open. */
		rc = bad == 0 ? 0 : bad > 0 || bad == INDEX_CORRUPT ? 1 : EX_SOFTWARE;
	} else if (strcmp(argv[0], "sync") == 0) {
		if (index_sync(ix, &md, &st) != 0)
			fprintf(stderr, "letterbox: sync: %s\n", index_error(ix));
		else {
			printf("synced %s: added=%u removed=%u updated=%u\n", dir, st.added,
			    st.removed, st.updated);
			rc = 0;
		}
	} else if (strcmp(argv[0], "dump") == 0) {
		if (index_next_uid(ix, &next) != 0) {
			fprintf(stderr, "letterbox: %s\n", index_error(ix));
		} else {
			printf("uidvalidity %u\nnext_uid %u\n", index_uidvalidity(ix), next);
			printf("# uid size arrival dir flags name\n");
			rc = index_foreach(ix, print_rec, NULL) == 0 ? 0 : EX_SOFTWARE;
		}
	} else {
		fprintf(stderr, "letterbox: index: unknown command \"%s\"\n", argv[0]);
		rc = EX_USAGE;
	}
	index_close(&ix);
	maildir_close(&md);
	return rc;
}
