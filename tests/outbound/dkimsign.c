/*
 * dkimsign: sign a message file with the keys a configuration names, for
 * tests/outbound/test_dkim.py. Prints the DKIM-Signature fields, then the message from
 * the offset on, byte for byte.
 *
 *	dkimsign [-o offset] [-t unixtime] letterbox.conf message
 *
 * Exit 0 signed, 1 dkim_sign_fd refused (NULL), 2 no key loaded, 64 usage, 78 config.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <sodium.h>

#include "dkim/dkim.h"
#include "lib/settings.h"

int
main(int argc, char *argv[])
{
	struct dkim_signer d;
	struct settings cfg;
	char err[512], buf[65536], *sig;
	time_t now = time(NULL);
	off_t off = 0;
	ssize_t n;
	int ch, fd = -1, rc;

	while ((ch = getopt(argc, argv, "o:t:")) != -1) {
		switch (ch) {
		case 'o': off = (off_t)strtoll(optarg, NULL, 10); break;
		case 't': now = (time_t)strtoll(optarg, NULL, 10); break;
		default: return EX_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "usage: dkimsign [-o offset] [-t time] config message\n");
		return EX_USAGE;
	}
	if (sodium_init() < 0)
		return EX_SOFTWARE;
	if (settings_load(&cfg, argv[optind], err, sizeof(err)) == -1) {
		fprintf(stderr, "dkimsign: %s\n", err);
		return EX_CONFIG;
	}
	if (dkim_signer_load(&d, cfg.dkim_domain, cfg.dkim_selector, cfg.dkim_ed25519_key,
	    cfg.dkim_rsa_key, err, sizeof(err)) == -1) {
		fprintf(stderr, "dkimsign: %s\n", err);
		rc = EX_CONFIG;
	} else if (!dkim_signer_active(&d)) {
		fprintf(stderr, "dkimsign: no key\n");
		rc = 2;
	} else if ((fd = open(argv[optind + 1], O_RDONLY)) == -1) {
		perror(argv[optind + 1]);
		rc = EX_NOINPUT;
	} else if ((sig = dkim_sign_fd(&d, fd, off, now)) == NULL) {
		fprintf(stderr, "dkimsign: not signed\n");
		rc = 1;
	} else {
		fputs(sig, stdout);
		free(sig);
		while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
			fwrite(buf, 1, (size_t)n, stdout);
			off += n;
		}
		rc = fflush(stdout) == 0 && n == 0 ? 0 : EX_IOERR;
	}
	if (fd != -1)
		close(fd);
	dkim_signer_free(&d);
	settings_free(&cfg);
	return rc;
}
