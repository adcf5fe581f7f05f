/*
 * cmd_queue: "letterbox queue list | flush [ID] | delete ID" — the outbound queue as
 * an administrator sees it (Postfix's mailq, postqueue -f, postsuper -d).
 *
 * list reads the files (queue/queue.h), so it works whether smtpd runs or not. flush
 * asks the running queue runner (a datagram to queue/runner.sock) to try now. delete
 * takes the message's lock, which a delivery process holds while it works on it, so a
 * message is never pulled away in the middle of a delivery; no bounce is sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "queue/queue.h"
#include "queue/runner.h"

static void
print_time(const char *label, time_t t)
{
	char when[64];
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
	printf("  %s %s\n", label, when);
}

static int
queue_cmd_list(struct queue *q)
{
	struct queue_msg m;
	char **ids;
	size_t n, i, j;

	if (queue_list_ids(q, &ids, &n) == -1) {
		perror("queue");
		return EX_IOERR;
	}
	for (i = 0; i < n; i++) {
		if (queue_msg_load(q, ids[i], &m) == -1) {
			if (errno != ENOENT)
				printf("%s  (unreadable: %s)\n", ids[i], strerror(errno));
			queue_msg_free(&m);
			continue;
		}
		printf("%s  %lld octets  from <%s>  attempts %u\n", m.id, (long long)m.size,
		    m.from, m.attempts);
		print_time("queued", m.created);
		print_time("next attempt", m.next);
		for (j = 0; j < m.nrcpt; j++) {
			const struct queue_rcpt *r = &m.rcpt[j];

			printf("  to <%s>  %s", r->addr, queue_rcpt_status_name(r->status));
			if (r->reply[0] != '\0')
				printf("  (%s%s%s)", r->remote[0] ? r->remote : "",
				    r->remote[0] ? ": " : "", r->reply);
			printf("\n");
		}
		queue_msg_free(&m);
	}
	printf("%zu message(s) in the queue\n", n);
	queue_ids_free(ids, n);
	return 0;
}

/* Tell the runner; the socket lives in the queue directory (our working directory). */
static int
queue_cmd_flush(const char *id)
{
	struct sockaddr_un sun;
	char msg[QUEUE_ID_MAX + 8];
	int fd, n;

	n = snprintf(msg, sizeof(msg), "flush%s%s", id ? " " : "", id ? id : "");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "queue/%s", QUEUE_CTL_SOCKET);
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    sendto(fd, msg, (size_t)n, 0, (struct sockaddr *)&sun, sizeof(sun)) != n) {
		fprintf(stderr, "letterbox: the queue runner is not reachable (is "
		    "letterbox-smtpd running with submission?): %s\n", strerror(errno));
		if (fd != -1)
			close(fd);
		return EX_UNAVAILABLE;
	}
	close(fd);
	printf("asked the queue runner to try %s now\n", id ? id : "every message");
	return 0;
}

static int
queue_cmd_delete(struct queue *q, const char *id)
{
	int fd;

	if (!queue_id_valid(id) ||
	    (fd = openat(q->spool.dfd_new, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		fprintf(stderr, "letterbox: no message %s in the queue\n", id);
		return EX_DATAERR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		fprintf(stderr, "letterbox: %s is being delivered right now; try again in a "
		    "moment\n", id);
		close(fd);
		return EX_TEMPFAIL;
	}
	if (queue_remove(q, id) == -1) {
		fprintf(stderr, "letterbox: cannot remove %s: %s\n", id, strerror(errno));
		close(fd);
		return EX_IOERR;
	}
	close(fd);
	printf("deleted %s (no bounce sent)\n", id);
	return 0;
}

int
cli_queue(const struct settings *cfg, int argc, char *argv[])
{
	struct queue q;
	int r, dfd;

	if (argc < 1 || !((strcmp(argv[0], "list") == 0 && argc == 1) ||
	    (strcmp(argv[0], "flush") == 0 && argc <= 2) ||
	    (strcmp(argv[0], "delete") == 0 && argc == 2))) {
		fprintf(stderr, "usage: letterbox queue list | flush [ID] | delete ID\n");
		return EX_USAGE;
	}
	if ((r = cli_become_owner(cfg)) != 0)
		return r;
	if (strcmp(argv[0], "flush") == 0)
		return queue_cmd_flush(argc == 2 ? argv[1] : NULL);
	if ((dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    queue_open(&q, dfd, cfg->hostname, (uid_t)-1, (gid_t)-1) == -1) {
		perror("queue");
		return EX_IOERR;
	}
	close(dfd);
	r = strcmp(argv[0], "list") == 0 ? queue_cmd_list(&q) : queue_cmd_delete(&q, argv[1]);
	queue_close(&q);
	return r;
}
