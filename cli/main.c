/*
 * letterbox: the administration command (see cli.h). Reads the same configuration
 * file as the daemons to find the Maildir and the index.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cli/cli.h"
#include "lib/log.h"

#define DEFAULT_CONFIG	"/etc/letterbox/letterbox.conf"

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: letterbox [-f config] index verify|sync|rebuild|dump\n"
	    "       letterbox [-f config] passwd add|remove NAME | list\n"
	    "       letterbox [-f config] dkim keygen | show\n"
	    "       letterbox [-f config] queue list | flush [ID] | delete ID\n"
	    "  index verify   compare the index with the Maildir, change nothing\n"
	    "                 (exit 0: they agree, 1: mismatches were listed)\n"
	    "  index sync     bring the index up to date with the Maildir\n"
	    "  index rebuild  recreate the index from the Maildir, keeping readable UIDs\n"
	    "  index dump     print UIDVALIDITY, the next UID and every record\n"
	    "  passwd add NAME     make an app password for device NAME and print it once\n"
	    "  passwd remove NAME  revoke it\n"
	    "  passwd list         the devices that have one\n"
	    "  dkim keygen  make the DKIM keys that are missing (never replacing one) and\n"
	    "               print the DNS records to publish\n"
	    "  queue list          the outbound queue: messages, recipients, last replies\n"
	    "  queue flush [ID]    ask the queue runner to try (that message) now\n"
	    "  queue delete ID     remove a message from the queue, without a bounce\n"
	    "  dkim show    print the DNS records of the existing keys (exit 1: none)\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	const char *config = DEFAULT_CONFIG;
	struct settings cfg;
	char err[512];
	int ch, rc;

	while ((ch = getopt(argc, argv, "f:")) != -1) {
		switch (ch) {
		case 'f': config = optarg; break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	log_init("letterbox", 1, 0);
	if (settings_load(&cfg, config, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox: %s\n", err);
		return EX_CONFIG;
	}
	if (strcmp(argv[0], "index") == 0)
		rc = cli_index(&cfg, argc - 1, argv + 1);
	else if (strcmp(argv[0], "passwd") == 0)
		rc = cli_passwd(&cfg, argc - 1, argv + 1);
	else if (strcmp(argv[0], "queue") == 0)
		rc = cli_queue(&cfg, argc - 1, argv + 1);
	else if (strcmp(argv[0], "dkim") == 0)
		rc = cli_dkim(&cfg, argc - 1, argv + 1);
	else
		usage();
	settings_free(&cfg);
	return rc;
}
