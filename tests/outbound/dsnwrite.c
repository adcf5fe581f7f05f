/*
 * dsnwrite: tests/outbound/test_dsn_format.py's driver for queue/dsn.c. Delivers a
 * report about the message in a file into a Maildir and prints its name in new/.
 *
 *	dsnwrite [-h host] [-s sender] [-q queue-id] [-o offset] MAILDIR MESSAGE \
 *	    ACTION ADDR STATUS MTA DIAG [ACTION ADDR STATUS MTA DIAG ...]
 *
 * ACTION is failed or delayed; MTA "-" means no remote host answered, in which case
 * DIAG is our own reason, else the remote reply; DIAG "-" means none. The message
 * arrived an hour ago, each recipient was last tried a minute ago, and delays are
 * retried until five days after arrival. Exit 0, 1 on a delivery error, 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "maildir/maildir.h"
#include "queue/dsn.h"

#define DSNWRITE_RCPT_MAX	64

static void
usage(void)
{
	fprintf(stderr, "usage: dsnwrite [-h host] [-s sender] [-q queue-id] [-o offset] "
	    "MAILDIR MESSAGE ACTION ADDR STATUS MTA DIAG ...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct dsn_rcpt r[DSNWRITE_RCPT_MAX];
	struct dsn_msg m = {
		.reporting_mta = "mail.example.test",
		.sender = "alice@example.test",
		.queue_id = "QDSNTEST",
	};
	char name[MAILDIR_NAME_MAX + 1];
	struct maildir md;
	time_t now = time(NULL);
	off_t off = 0;
	size_t n = 0;
	int c, fd, i;

	while ((c = getopt(argc, argv, "h:s:q:o:")) != -1) {
		switch (c) {
		case 'h':
			m.reporting_mta = optarg;
			break;
		case 's':
			m.sender = optarg;
			break;
		case 'q':
			m.queue_id = optarg;
			break;
		case 'o':
			off = (off_t)strtoll(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 7 || (argc - 2) % 5 != 0 || (size_t)(argc - 2) / 5 > DSNWRITE_RCPT_MAX)
		usage();
	m.arrival = now - 3600;
	m.will_retry_until = m.arrival + 5 * 86400;
	for (i = 2; i < argc; i += 5, n++) {
		if (strcmp(argv[i], "failed") == 0)
			r[n].action = DSN_FAILED;
		else if (strcmp(argv[i], "delayed") == 0)
			r[n].action = DSN_DELAYED;
		else
			usage();
		r[n].addr = argv[i + 1];
		r[n].status = argv[i + 2];
		r[n].remote_mta = strcmp(argv[i + 3], "-") == 0 ? NULL : argv[i + 3];
		r[n].diagnostic = strcmp(argv[i + 4], "-") == 0 ? NULL : argv[i + 4];
		r[n].remote_reply = r[n].remote_mta != NULL;
		r[n].last_attempt = now - 60;
	}
	if (maildir_open(&md, argv[0], "dsnwrite.example", (uid_t)-1, (gid_t)-1) == -1) {
		fprintf(stderr, "dsnwrite: %s: %s\n", argv[0], strerror(errno));
		return 1;
	}
	if ((fd = open(argv[1], O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "dsnwrite: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (dsn_deliver(&md, &m, r, n, fd, off, name) == -1) {
		fprintf(stderr, "dsnwrite: deliver: %s\n", strerror(errno));
		return 1;
	}
	close(fd);
	maildir_close(&md);
	printf("%s\n", name);
	return 0;
}
