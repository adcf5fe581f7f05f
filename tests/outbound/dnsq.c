/*
 * dnsq: relay/dns.c from the command line, for tests/outbound (never run by `make unit`).
 *
 *	dnsq [-s 127.0.0.1:5353] [-t timeout_s] [-p port] [-n max] mail|host NAME
 *
 * Prints one target per line, "pref host ip port", in the order delivery would try
 * them. Exit 0 (ok), 2 (tempfail), 3 (notfound), 4 (nullmx), 1 (resolver set-up
 * failed), 64 (usage); the status name also goes to stderr.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "relay/dns.h"

static void
usage(void)
{
	fprintf(stderr, "usage: dnsq [-s server] [-t timeout_s] [-p port] [-n max] "
	    "mail|host NAME\n");
	exit(64);
}

static unsigned
number(const char *s, unsigned max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v > max)
		usage();
	return (unsigned)v;
}

int
main(int argc, char **argv)
{
	struct dns_target t[DNS_TARGETS_MAX];
	struct dns_resolver r;
	const char *server = NULL;
	unsigned timeout_s = 5, port = 25;
	size_t max = DNS_TARGETS_MAX, n, i;
	enum dns_status st;
	char ip[INET6_ADDRSTRLEN];
	int c;

	log_init("dnsq", 1, 0);
	while ((c = getopt(argc, argv, "s:t:p:n:")) != -1) {
		switch (c) {
		case 's':
			server = optarg;
			break;
		case 't':
			timeout_s = number(optarg, 30);
			break;
		case 'p':
			port = number(optarg, 65535);
			break;
		case 'n':
			max = number(optarg, DNS_TARGETS_MAX);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2)
		usage();
	if (dns_resolver_init(&r, server, timeout_s) == -1) {
		dns_resolver_free(&r);
		return 1;
	}
	if (strcmp(argv[optind], "mail") == 0)
		st = dns_mail_targets(&r, argv[optind + 1], port, t, max, &n);
	else if (strcmp(argv[optind], "host") == 0)
		st = dns_host_targets(&r, argv[optind + 1], port, t, max, &n);
	else
		usage();
	for (i = 0; i < n; i++) {
		util_sockaddr_ntop(&t[i].addr, ip, sizeof(ip));
		printf("%u %s %s %u\n", t[i].pref, t[i].host, ip,
		    ntohs(t[i].addr.ss_family == AF_INET6 ?
		    ((struct sockaddr_in6 *)&t[i].addr)->sin6_port :
		    ((struct sockaddr_in *)&t[i].addr)->sin_port));
	}
	fprintf(stderr, "%s\n", dns_status_name(st));
	dns_resolver_free(&r);
	switch (st) {
	case DNS_OK:
		return 0;
	case DNS_TEMPFAIL:
		return 2;
	case DNS_NOTFOUND:
		return 3;
	case DNS_NULLMX:
		return 4;
	}
	return 1;
}
