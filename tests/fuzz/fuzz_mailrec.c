/*
 * fuzz_mailrec: relay/mailrec.c, the readers of published DKIM, DMARC and SPF TXT
 * records, on the input as a record text (what anyone controlling a zone, or spoofing
 * its answers, can publish). Byte 0 is flags (bit 0: the MX names us; bit 1: no
 * addresses), the rest the text, copied NUL-terminated into a buffer of its size.
 *
 * Checked, beyond no crash and no read outside the text:
 *  - mailrec_tag is -1, 0 or 1; a found value fits, has no surrounding whitespace, is
 *    a piece of the text, and its position is >= 0; a smaller buffer never finds more;
 *  - mailrec_dkim_key is -1, 0 or 1; its key has no whitespace; 1 means p= is a tag;
 *  - mailrec_dmarc is -1, 0 or 1, and 1 comes with one of the three policies;
 *  - mailrec_spf_eval: a known verdict, a terminated term of at most 63 octets that is
 *    a piece of the text, SPF_INVALID with no term when mailrec_is_spf says no,
 *    pass_all only with SPF_COVERED.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "relay/mailrec.h"

#define FUZZ_MAILREC_MAX	8192

static char value[FUZZ_MAILREC_MAX + 1], small[8];

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
check_tag(const char *rec, const char *name)
{
	size_t vl;
	int r, r2, pos = -1;

	r = mailrec_tag(rec, name, value, sizeof(value), &pos);
	if (r < -1 || r > 1)
		abort();
	if (r == 1) {
		vl = strlen(value);
		if (pos < 0 || (vl > 0 && (is_ws(value[0]) || is_ws(value[vl - 1]))))
			abort();
		if (strstr(rec, value) == NULL)
			abort();
	}
	r2 = mailrec_tag(rec, name, small, sizeof(small), NULL);
	if (r2 == 1 && r != 1)
		abort();
	if (r == 0 && r2 != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage addrs[2];
	struct spf_result res;
	char *rec, pol[16];
	const char *p;
	int r;

	if (size < 1 || size > FUZZ_MAILREC_MAX)
		return 0;
	if ((rec = malloc(size)) == NULL)
		return 0;
	memcpy(rec, data + 1, size - 1);
	rec[size - 1] = '\0';

	check_tag(rec, "p");
	check_tag(rec, "v");

	r = mailrec_dkim_key(rec, value, sizeof(value));
	if (r < -1 || r > 1)
		abort();
	if (r == 1) {
		for (p = value; *p != '\0'; p++)
			if (is_ws(*p))
				abort();
		if (mailrec_tag(rec, "p", small, sizeof(small), NULL) == 0)
			abort();
	}

	memset(pol, 0, sizeof(pol));
	r = mailrec_dmarc(rec, pol, sizeof(pol));
	if (r < -1 || r > 1)
		abort();
	if (r == 1 && strcmp(pol, "none") != 0 && strcmp(pol, "quarantine") != 0 &&
	    strcmp(pol, "reject") != 0)
		abort();

	memset(addrs, 0, sizeof(addrs));
	addrs[0].ss_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &((struct sockaddr_in *)&addrs[0])->sin_addr);
	addrs[1].ss_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &((struct sockaddr_in6 *)&addrs[1])->sin6_addr);
	mailrec_spf_eval(rec, "example.org", "mx.example.org", data[0] & 1, addrs,
	    data[0] & 2 ? 0 : 2, &res);
	if (res.verdict != SPF_COVERED && res.verdict != SPF_NOT_COVERED &&
	    res.verdict != SPF_UNKNOWN && res.verdict != SPF_INVALID)
		abort();
	if (strnlen(res.term, sizeof(res.term)) >= sizeof(res.term))
		abort();
	if (res.term[0] != '\0' && strstr(rec, res.term) == NULL)
		abort();
	if (!mailrec_is_spf(rec) && (res.verdict != SPF_INVALID || res.term[0] != '\0'))
		abort();
	if (res.pass_all && res.verdict != SPF_COVERED)
		abort();
	free(rec);
	return 0;
}
