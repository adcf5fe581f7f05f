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
	    "       letterbox [-f config] check [--no-dns] [--no-relay-test] [--relay-to ADDR]\n"
	    "       letterbox [-f config] client-config thunderbird | outlook [EMAIL] | manual\n"
	    "                 [--host NAME]\n"
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
	    "  check        the configuration, certificate, Maildir and index, the DNS records\n"
	    "               to publish (printed in zone file syntax when missing or wrong)\n"
	    "               and an open-relay test of smtp_listen (exit 0: all ok,\n"
	    "               1: warnings, 2: failures)\n"
	    "  dkim show    print the DNS records of the existing keys (exit 1: none)\n"
	    "  client-config thunderbird  Thunderbird's autoconfig file (config-v1.1.xml)\n"
	    "  client-config outlook      Outlook's Autodiscover response (autodiscover.xml)\n"
	    "  client-config manual       the settings to type into a client by hand\n"
	    "                 --host: the server name clients use (default: hostname)\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	const char *config = DEFAULT_CONFIG;
	struct settings cfg;
	char err[512];
	int ch, rc;

	/* "+": options end at the subcommand, whose own (client-config --host) follow it. */
	while ((ch = getopt(argc, argv, "+f:")) != -1) {
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
	/* check loads the file itself: a configuration that does not load is its finding. */
	if (strcmp(argv[0], "check") == 0)
		return cli_check(config, argc, argv);
	if (settings_load(&cfg, config, err, sizeof(err)) == -1) {
		fprintf(stderr, "letterbox: %s\n", err);
		settings_free(&cfg);	/* what was parsed before the error (LeakSanitizer) */
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
	else if (strcmp(argv[0], "client-config") == 0)
		rc = cli_client(&cfg, argc - 1, argv + 1);
	else
		usage();
	settings_free(&cfg);
	return rc;
}
