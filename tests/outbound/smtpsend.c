/*
 * smtpsend: relay/smtp_client.c from the command line, for tests/outbound/
 * test_smtp_client.py. One connection, one transaction (or two with -2, RSET between),
 * every reply printed:
 *
 *	smtpsend [-t none|opportunistic|starttls|implicit] [-v] [-c cafile] [-n servername]
 *	    [-u user -p pass] [-2] [-d] [-m] [-H field] [-o offset] [-T timeout_ms]
 *	    HOST_IP PORT FROM FILE RCPT...
 *
 *	open <code> <enhanced> <text>	(smtpc_open's reply; enhanced "-" when empty)
 *	tls <protocol> <cipher>		(when TLS is on)
 *	caps pipelining=0|1 8bitmime= size= smtputf8= starttls= auth_plain= auth_login=
 *	rcpt <addr> <code> <enhanced> <text>
 *	msg <code> <enhanced> <text>
 *	send <0|-1>			(smtpc_send's result)
 *	rset <0|-1>			(with -2)
 *	vmhwm_kb <n>			(with -m: the peak RSS, /proc/self/status VmHWM)
 *
 * Exit 0 whatever the server said (the lines tell), 2 on a usage or local error.
 * -d logs the conversation to stderr (log_debug); -H adds "field" CRLF as prepend.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/tls.h"
#include "relay/smtp_client.h"

static void
usage(void)
{
	fprintf(stderr, "usage: smtpsend [-t none|opportunistic|starttls|implicit] [-v] "
	    "[-c cafile] [-n servername] [-u user -p pass] [-2] [-d] [-m] [-H field] "
	    "[-o offset] [-T timeout_ms] HOST_IP PORT FROM FILE RCPT...\n");
	exit(2);
}

/* The peak resident set of this process image (not of the one before exec). */
static void
print_vmhwm(void)
{
	char line[256];
	FILE *f;

	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmHWM:", 6) == 0)
			printf("vmhwm_kb %ld\n", strtol(line + 6, NULL, 10));
	fclose(f);
}

static void
print_reply(const char *what, const char *addr, const struct smtpc_reply *r)
{
	if (addr != NULL)
		printf("%s %s %d %s %s\n", what, addr, r->code,
		    r->enhanced[0] != '\0' ? r->enhanced : "-", r->text);
	else
		printf("%s %d %s %s\n", what, r->code,
		    r->enhanced[0] != '\0' ? r->enhanced : "-", r->text);
}

int
main(int argc, char **argv)
{
	struct smtpc_opts o;
	struct smtpc c;
	struct smtpc_reply r, msg, *rr;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen;
	const char *cafile = NULL, *from, *path;
	const char *const *rcpts;
	char err[512], *prepend = NULL;
	size_t n, i;
	off_t off = 0;
	int ch, fd, rounds = 1, debug = 0, measure = 0, round, rc;
	long port;

	memset(&o, 0, sizeof(o));
	o.helo = "client.example.net";
	o.tls = SMTPC_TLS_NONE;
	o.connect_timeout_ms = 10000;
	o.command_timeout_ms = 10000;
	while ((ch = getopt(argc, argv, "t:vc:n:u:p:2dmH:o:T:h:")) != -1) {
		switch (ch) {
		case 't':
			if (strcmp(optarg, "none") == 0)
				o.tls = SMTPC_TLS_NONE;
			else if (strcmp(optarg, "opportunistic") == 0)
				o.tls = SMTPC_TLS_OPPORTUNISTIC;
			else if (strcmp(optarg, "starttls") == 0)
				o.tls = SMTPC_TLS_STARTTLS;
			else if (strcmp(optarg, "implicit") == 0)
				o.tls = SMTPC_TLS_IMPLICIT;
			else
				usage();
			break;
		case 'v':
			o.verify = true;
			break;
		case 'c':
			cafile = optarg;
			break;
		case 'n':
			o.server_name = optarg;
			break;
		case 'u':
			o.auth_user = optarg;
			break;
		case 'p':
			o.auth_pass = optarg;
			break;
		case '2':
			rounds = 2;
			break;
		case 'd':
			debug = 1;
			break;
		case 'm':
			measure = 1;
			break;
		case 'H':
			if ((prepend = malloc(strlen(optarg) + 3)) == NULL)
				return 2;
			snprintf(prepend, strlen(optarg) + 3, "%s\r\n", optarg);
			break;
		case 'o':
			off = (off_t)strtoll(optarg, NULL, 10);
			break;
		case 'T':
			o.command_timeout_ms = atoi(optarg);
			break;
		case 'h':
			o.helo = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 5)
		usage();
	log_init("smtpsend", 1, debug);
	signal(SIGPIPE, SIG_IGN);	/* as smtp_client.h asks */
	memset(&ss, 0, sizeof(ss));
	port = strtol(argv[1], NULL, 10);
	if (port < 1 || port > 65535)
		usage();
	if (inet_pton(AF_INET, argv[0], &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		sslen = sizeof(*sin);
	} else if (inet_pton(AF_INET6, argv[0], &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*sin6);
	} else
		usage();
	from = argv[2];
	path = argv[3];
	rcpts = (const char *const *)(argv + 4);
	n = (size_t)(argc - 4);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		perror(path);
		return 2;
	}
	if (o.tls != SMTPC_TLS_NONE &&
	    (o.tls_ctx = tls_client_ctx_new(cafile, err, sizeof(err))) == NULL) {
		fprintf(stderr, "smtpsend: %s\n", err);
		return 2;
	}
	if ((rr = calloc(n, sizeof(*rr))) == NULL)
		return 2;

	rc = smtpc_open(&c, (struct sockaddr *)&ss, sslen, &o, &r);
	print_reply("open", NULL, &r);
	if (rc == 0) {
		if (c.tls)
			printf("tls %s\n", c.tls_desc);
		printf("caps pipelining=%d 8bitmime=%d size=%d smtputf8=%d starttls=%d "
		    "auth_plain=%d auth_login=%d\n", c.has_pipelining, c.has_8bitmime,
		    c.has_size, c.has_smtputf8, c.has_starttls, c.auth_plain, c.auth_login);
		for (round = 0; round < rounds; round++) {
			if (round > 0)
				printf("rset %d\n", smtpc_rset(&c));
			rc = smtpc_send(&c, from, rcpts, n, fd, off, prepend, rr, &msg);
			for (i = 0; i < n; i++)
				print_reply("rcpt", rcpts[i], &rr[i]);
			print_reply("msg", NULL, &msg);
			printf("send %d\n", rc);
			fflush(stdout);
		}
	}
	smtpc_close(&c);
	if (measure)
		print_vmhwm();
	if (o.tls_ctx != NULL)
		SSL_CTX_free(o.tls_ctx);
	free(rr);
	free(prepend);
	close(fd);
	return 0;
}
