/*
 * test_queue: the outbound queue's files (queue/queue.c) and the retry schedule.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "t.h"
#include "lib/settings.h"
#include "queue/queue.h"
#include "queue/runner.h"

/* The test's directory: queue/{tmp,msg,state} under it, all empty by then. */
static void
remove_queue_dir(const char *dir)
{
	const char *const subs[] = { "queue/tmp", "queue/msg", "queue/state", "queue", "" };
	char p[300];
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, subs[i]);
		rmdir(p);
	}
}

static void
test_roundtrip(void)
{
	char dir[] = "/tmp/lbq.XXXXXX", id[QUEUE_ID_MAX + 1];
	const char *rcpts[] = { "bob@example.net", "carol@example.com" };
	const char body[] = "From: a@example.org\r\nSubject: x\r\n\r\nhello\r\n";
	struct maildir_delivery d;
	struct queue q;
	struct queue_msg m;
	char **ids;
	size_t n;
	int root;

	test_begin("queue: write, commit, load, state round trip, remove");
	test_assert(mkdtemp(dir) != NULL);
	root = open(dir, O_RDONLY | O_DIRECTORY);
	test_assert(queue_open(&q, root, "host", (uid_t)-1, (gid_t)-1) == 0);
	test_assert(queue_begin(&q, &d, "alice@example.org", rcpts, 2, "alice",
	    "127.0.0.1") == 0);
	test_assert(maildir_delivery_write(&d, body, sizeof(body) - 1) == 0);
	test_assert(maildir_delivery_commit(&q.spool, &d, id) == 0);
	test_assert(queue_list_ids(&q, &ids, &n) == 0 && n == 1);
	test_assert_str(ids[0], id);
	queue_ids_free(ids, n);
	test_assert(queue_msg_load(&q, id, &m) == 0);
	test_assert(m.nrcpt == 2 && m.size == (off_t)sizeof(body) - 1);
	test_assert_str(m.from, "alice@example.org");
	test_assert_str(m.rcpt[1].addr, "carol@example.com");
	test_assert(m.attempts == 0 && !queue_msg_finished(&m));
	m.rcpt[0].status = QR_DONE;
	m.rcpt[1].status = QR_DEFERRED;
	snprintf(m.rcpt[1].reply, sizeof(m.rcpt[1].reply), "451 4.3.0 try\nlater");
	m.attempts = 2;
	m.next = 12345;
	test_assert(queue_state_save(&q, &m) == 0);
	queue_msg_free(&m);
	test_assert(queue_msg_load(&q, id, &m) == 0);
	test_assert(m.attempts == 2 && m.next == 12345);
	test_assert(m.rcpt[0].status == QR_DONE && m.rcpt[1].status == QR_DEFERRED);
	test_assert_str(m.rcpt[1].reply, "451 4.3.0 try later");
	queue_msg_free(&m);
	test_assert(queue_remove(&q, id) == 0);
	test_assert(queue_msg_load(&q, id, &m) == -1);
	queue_msg_free(&m);
	queue_close(&q);
	close(root);
	test_end();
}

/* A state file left by a removal that failed after msg/ went is pruned; others stay. */
static void
test_prune_states(void)
{
	char dir[] = "/tmp/lbq.XXXXXX", id[QUEUE_ID_MAX + 1];
	const char *rcpts[] = { "bob@example.net" };
	struct maildir_delivery d;
	struct queue q;
	struct queue_msg m;
	char **ids;
	size_t n;
	int root, fd;

	test_begin("queue: orphaned state files pruned, live ones kept");
	test_assert(mkdtemp(dir) != NULL);
	root = open(dir, O_RDONLY | O_DIRECTORY);
	test_assert(queue_open(&q, root, "host", (uid_t)-1, (gid_t)-1) == 0);
	test_assert(queue_begin(&q, &d, "alice@example.org", rcpts, 1, "alice",
	    "127.0.0.1") == 0);
	test_assert(maildir_delivery_write(&d, "x\r\n", 3) == 0);
	test_assert(maildir_delivery_commit(&q.spool, &d, id) == 0);
	test_assert(queue_msg_load(&q, id, &m) == 0);
	m.attempts = 1;
	test_assert(queue_state_save(&q, &m) == 0);
	queue_msg_free(&m);
	fd = openat(q.dfd_state, "1700000000.M1P1.gone", O_WRONLY | O_CREAT, 0600);
	test_assert(fd != -1);
	close(fd);
	test_assert(queue_list_ids(&q, &ids, &n) == 0 && n == 1);
	test_assert(queue_prune_states(&q, ids, n) == 1);
	test_assert(faccessat(q.dfd_state, "1700000000.M1P1.gone", F_OK, 0) == -1);
	test_assert(faccessat(q.dfd_state, id, F_OK, 0) == 0);
	/* A message committed after the listing keeps its state. */
	test_assert(queue_prune_states(&q, NULL, 0) == 0);
	test_assert(faccessat(q.dfd_state, id, F_OK, 0) == 0);
	queue_ids_free(ids, n);
	test_assert(queue_remove(&q, id) == 0);
	queue_close(&q);
	close(root);
	remove_queue_dir(dir);
	test_end();
}

/* An envelope of many recipients spans several reads; the body is not read at all. */
static void
test_big_envelope(void)
{
	char dir[] = "/tmp/lbq.XXXXXX", id[QUEUE_ID_MAX + 1], addr[600][80];
	const char *rcpts[600];
	char body[100000];
	struct maildir_delivery d;
	struct queue q;
	struct queue_msg m;
	size_t i;
	int root;

	test_begin("queue: a 40 KiB envelope before a 100 KB body");
	for (i = 0; i < 600; i++) {
		snprintf(addr[i], sizeof(addr[i]), "recipient-number-%03zu@a-rather-long-domain"
		    "-name.example.net", i);
		rcpts[i] = addr[i];
	}
	memset(body, 'x', sizeof(body));
	memcpy(body, "Subject: s\r\n\r\n", 15);
	test_assert(mkdtemp(dir) != NULL);
	root = open(dir, O_RDONLY | O_DIRECTORY);
	test_assert(queue_open(&q, root, "host", (uid_t)-1, (gid_t)-1) == 0);
	test_assert(queue_begin(&q, &d, "alice@example.org", rcpts, 600, "alice",
	    "::1") == 0);
	test_assert(maildir_delivery_write(&d, body, sizeof(body)) == 0);
	test_assert(maildir_delivery_commit(&q.spool, &d, id) == 0);
	test_assert(queue_msg_load(&q, id, &m) == 0);
	test_assert(m.nrcpt == 600 && m.size == (off_t)sizeof(body));
	test_assert_str(m.rcpt[599].addr, addr[599]);
	queue_msg_free(&m);
	test_assert(queue_remove(&q, id) == 0);
	queue_close(&q);
	close(root);
	remove_queue_dir(dir);
	test_end();
}

static void
test_refusals(void)
{
	struct queue_msg m;
	const char *bad[] = {
		"",
		"LBQ2\ncreated 1\nfrom a@b\nuser u\nclient c\nrcpt x@y\n",
		"LBQ1\ncreated 1\nfrom a@b\nuser u\nclient c\n",		/* no rcpt */
		"LBQ1\ncreated 1\nfrom a@b\nfrom b@c\nuser u\nclient c\nrcpt x@y\n",
		"LBQ1\ncreated x\nfrom a@b\nuser u\nclient c\nrcpt x@y\n",
		"LBQ1\ncreated 1\nfrom a@b\nuser u\nclient c\nrcpt x@y\nbogus 1\n",
	};
	size_t i;

	test_begin("queue: damaged envelopes are refused");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&m, 0, sizeof(m));
		m.fd = -1;
		test_assert_idx(queue_envelope_parse(bad[i], strlen(bad[i]), &m) == -1, i);
		queue_msg_free(&m);
	}
	test_assert(!queue_id_valid("../x") && !queue_id_valid(".tmp") && queue_id_valid("1.M2"));
	test_end();
}

static void
test_backoff(void)
{
	struct settings cfg;
	unsigned a;
	time_t d;

	memset(&cfg, 0, sizeof(cfg));
	cfg.retry_initial = 300;
	cfg.retry_max = 3600;
	test_begin("queue: backoff doubles, is capped and jittered by 10% at most");
	for (a = 1; a <= 12; a++) {
		unsigned long long want = 300ULL << (a - 1 > 4 ? 4 : a - 1);

		if (want > 3600)
			want = 3600;
		d = queue_backoff(&cfg, a);
		test_assert_idx(d >= (time_t)(want * 9 / 10) && d <= (time_t)(want * 11 / 10), a);
	}
	test_end();
}

int
main(void)
{
	test_roundtrip();
	test_big_envelope();
	test_prune_states();
	test_refusals();
	test_backoff();
	return test_exit();
}
