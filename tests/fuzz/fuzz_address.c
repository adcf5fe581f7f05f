/*
 * fuzz_address: smtpd/address.c: smtp_parse_path, smtp_parse_mail_params and
 * smtp_path_arg, on the input as a C string (cut at the first NUL, as the line reader
 * would have refused the rest).
 *
 * Checked: *rest stays inside the string; an accepted path respects the RFC 5321 limits
 * (local part 64, domain 255, path 256) and holds no NUL, CR or LF; the accepted text,
 * put back in angle brackets, parses again to the same mailbox (no route, so the
 * parser is stable on its own output); parameter results are consistent.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "smtpd/address.h"

static void
check_path(const char *in, bool allow_null, bool allow_pm, bool utf8)
{
	struct smtp_path p, q;
	const char *rest, *rest2;
	char again[SMTP_PATH_MAX + 3];
	enum addr_result r;
	size_t inlen = strlen(in);

	r = smtp_parse_path(in, allow_null, allow_pm, utf8, &p, &rest);
	if (rest < in || rest > in + inlen)
		abort();
	if (r != ADDR_OK) {
		if (rest != in || r > ADDR_PARAM)
			abort();
		return;
	}
	if (rest[-1] != '>')
		abort();
	if (p.is_null) {
		if (!allow_null || p.text[0] != '\0' || p.local[0] != '\0')
			abort();
		return;
	}
	if (strlen(p.text) + 2 > SMTP_PATH_MAX || strlen(p.domain) > SMTP_DOMAIN_MAX ||
	    strpbrk(p.text, "\r\n") != NULL || (p.local[0] == '\0' && !p.is_quoted))
		abort();
	if (p.domain[0] == '\0' && !allow_pm)
		abort();
	if (!utf8)
		for (const char *c = p.text; *c != '\0'; c++)
			if ((unsigned char)*c >= 0x80)
				abort();
	/* Round trip: "<text>" means the same mailbox. */
	again[0] = '<';
	memcpy(again + 1, p.text, strlen(p.text));
	again[strlen(p.text) + 1] = '>';
	again[strlen(p.text) + 2] = '\0';
	if (smtp_parse_path(again, allow_null, allow_pm, utf8, &q, &rest2) != ADDR_OK ||
	    *rest2 != '\0' || strcmp(p.local, q.local) != 0 ||
	    strcmp(p.domain, q.domain) != 0 || strcmp(p.text, q.text) != 0 ||
	    p.is_quoted != q.is_quoted || p.is_literal != q.is_literal)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_mail_params mp;
	const char *arg;
	char *s;
	int i;

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';

	for (i = 0; i < 8; i++)
		check_path(s, i & 1, (i & 2) != 0, (i & 4) != 0);

	if (smtp_parse_mail_params(s, &mp) == ADDR_OK) {
		if (mp.body != SMTP_BODY_7BIT && mp.body != SMTP_BODY_8BITMIME)
			abort();
		if (!mp.has_size && mp.size != 0)
			abort();
	}

	/* As cmd_mail / cmd_rcpt use them. */
	if ((arg = smtp_path_arg(s, "FROM")) != NULL) {
		if (arg < s + 5 || arg > s + strlen(s) || *arg == ' ')
			abort();
		check_path(arg, true, false, true);
	}
	if ((arg = smtp_path_arg(s, "TO")) != NULL) {
		if (arg < s + 3 || arg > s + strlen(s) || *arg == ' ')
			abort();
		check_path(arg, false, true, true);
	}
	free(s);
	return 0;
}
