/*
 * test_index: maildir/index.c — a fresh index in a temporary directory: UIDs given in
 * order and never reused, look-ups by name and by UID, idempotent adds, records that
 * survive a close and reopen, pack/unpack of the on-disk record, and a transaction
 * log that stays short while the index stays open (as the indexer keeps it).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "maildir/index.h"
#include "tests/unit/t.h"

static void
rec_init(struct index_rec *r, const char *name, uint64_t size)
{
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	r->size = size;
	r->arrival = 1795900000;
}

static void
test_index_add_lookup(const char *dir)
{
	struct index_rec recs[3], out;
	struct index *ix = NULL;
	char err[512];
	uint32_t next = 0, uv;

	test_begin("index: add, look up by name and by UID, reopen");
	test_assert(index_open(&ix, dir, err, sizeof(err)) == 0);
	uv = index_uidvalidity(ix);
	test_assert(uv != 0);
	rec_init(&recs[0], "1795900000.M1P1R1.host,S=10", 10);
	rec_init(&recs[1], "1795900000.M2P1R2.host,S=20", 20);
	rec_init(&recs[2], "1795900001.M1P1R3.host,S=30", 30);
	test_assert(index_add(ix, recs, 3) == 0);
	/* Adding the same names again changes nothing: a delivery is reported once. */
	test_assert(index_add(ix, recs, 2) == 0);
	test_assert(index_next_uid(ix, &next) == 0 && next == 4);
	test_assert(index_lookup(ix, recs[1].name, &out) == 1);
	test_assert(out.uid == 2 && out.size == 20 && !out.in_cur);
	test_assert_str(out.name, recs[1].name);
	test_assert(index_lookup_uid(ix, 3, &out) == 1);
	test_assert_str(out.name, recs[2].name);
	test_assert(index_lookup_uid(ix, 4, &out) == 0);
	test_assert(index_lookup(ix, "no-such-name", &out) == 0);
	index_close(&ix);
	test_assert(ix == NULL);
	/* Reopened: the same UIDVALIDITY and records. */
	test_assert(index_open(&ix, dir, err, sizeof(err)) == 0);
	test_assert(index_uidvalidity(ix) == uv);
	test_assert(index_lookup_uid(ix, 1, &out) == 1);
	test_assert_str(out.name, recs[0].name);
	index_close(&ix);
	test_end();
}

static void
test_index_record_format(void)
{
	unsigned char buf[INDEX_REC_MAX];
	struct index_rec in, out;
	size_t n;

	test_begin("index: record pack/unpack and malformed records");
	rec_init(&in, "1795900000.M1P1R1.host,S=10", 10);
	in.in_cur = true;
	in.flags = 1ULL << ('S' - 'A');
	n = index_rec_pack(&in, buf);
	test_assert(n == INDEX_REC_HDR + strlen(in.name));
	test_assert(index_rec_unpack(buf, n, 7, &out) == 0);
	test_assert(out.uid == 7 && out.in_cur && out.flags == in.flags && out.size == 10);
	test_assert_str(out.name, in.name);
	test_assert(index_rec_unpack(buf, n - 1, 7, &out) == -1);	/* short */
	test_assert(index_rec_unpack(buf, INDEX_REC_HDR - 1, 7, &out) == -1);
	buf[0] = 2;							/* version */
	test_assert(index_rec_unpack(buf, n, 7, &out) == -1);
	buf[0] = 1;
	buf[INDEX_REC_HDR] = '/';					/* no paths */
	test_assert(index_rec_unpack(buf, n, 7, &out) == -1);
	test_end();
}

/* The log.* files of the environment in dir. */
static int
log_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "log.", 4) == 0)
			n++;
	closedir(d);
	return n;
}

/*
 * The indexer keeps the index open for its whole life (days): its log files (1 MiB
 * each) must be removed as it goes, not only when it closes the index, or they pile
 * up in letterbox-index/ without bound (bench/soak.sh saw one more a minute).
 */
static void
test_index_log_bounded(const char *dir)
{
	struct index_rec recs[100];
	struct index *ix = NULL;
	char err[512], name[64];
	int i, j, most = 0, n;

	test_begin("index: the log stays short while the index is open");
	test_assert(index_open(&ix, dir, err, sizeof(err)) == 0);
	/* ~10 MiB of log: batches of 100 deliveries, as the indexer commits them */
	for (i = 0; i < 250 && ix != NULL; i++) {
		for (j = 0; j < 100; j++) {
			snprintf(name, sizeof(name), "1795901%03d.M%dP42R%d.host,S=4096", i, j,
			    i * 100 + j);
			rec_init(&recs[j], name, 4096);
		}
		test_assert(index_add(ix, recs, 100) == 0);
		if ((n = log_files(dir)) > most)
			most = n;
	}
	test_assert(most >= 1);
	test_assert(most <= 3);
	index_close(&ix);
	test_end();
}

int
main(void)
{
	char root[] = "/tmp/lb-test-index-XXXXXX", dir[64], cmd[128];

	test_begin("index: setup");
	test_assert(mkdtemp(root) != NULL);
	test_end();
	snprintf(dir, sizeof(dir), "%s/letterbox-index", root);
	test_index_add_lookup(dir);
	test_index_record_format();
	snprintf(dir, sizeof(dir), "%s/log-index", root);
	test_index_log_bounded(dir);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "test_index: could not remove %s\n", root);
	return test_exit();
}
