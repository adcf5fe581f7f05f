/*
 * fuzz_conf: lib/conf.c and lib/settings.c on arbitrary file contents.
 *
 * settings_parse runs on the bytes and settings_free always follows (whatever the
 * result, so leaks on error paths show). The same bytes also go through conf_parse
 * with a table that has every type (settings has no CONF_BOOL). Checked: the error
 * message is set on failure and NUL-terminated, numbers respect their bounds, lists
 * hold non-empty words without separators.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "lib/conf.h"
#include "lib/settings.h"

struct all {
	char			*s;
	unsigned long long	 u, sz, sec;
	int			 b;
	struct conf_list	 l;
};

#define A(f)	offsetof(struct all, f)
static const struct conf_key all_keys[] = {
	{ "str",	CONF_STR,	"x", 0, 0, A(s) },
	{ "uint",	CONF_UINT,	"5", 1, 100, A(u) },
	{ "size",	CONF_SIZE,	"1K", 0, 1ULL << 40, A(sz) },
	{ "secs",	CONF_SECONDS,	NULL, 10, 86400, A(sec) },
	{ "bool",	CONF_BOOL,	"no", 0, 0, A(b) },
	{ "list",	CONF_LIST,	"a b", 0, 0, A(l) },
};
#define NALL	(sizeof(all_keys) / sizeof(all_keys[0]))

static void
check_list(const struct conf_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->v[i][0] == '\0' || strpbrk(l->v[i], " \t,\n") != NULL)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings s;
	struct all a;
	char err[256];
	int r;

	err[0] = '\0';
	r = settings_parse(&s, (const char *)data, size, "fuzz.conf", err, sizeof(err));
	if (r == 0) {
		if (s.domains.n == 0 || s.maildir == NULL || s.hostname == NULL ||
		    s.max_message_size < 1024 || s.max_message_size > (1ULL << 30) ||
		    s.max_recipients < 1 || s.tmp_max_age < 60 ||
		    (s.tls_cert == NULL) != (s.tls_key == NULL))
			abort();
		check_list(&s.domains);
		check_list(&s.local_parts);
		check_list(&s.smtp_listen);
	} else if (r != -1 || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	settings_free(&s);

	memset(&a, 0, sizeof(a));
	err[0] = '\0';
	r = conf_parse(all_keys, NALL, &a, (const char *)data, size, "all.conf", err,
	    sizeof(err));
	if (r == 0) {
		if (a.s == NULL || a.u < 1 || a.u > 100 || a.sz > (1ULL << 40) ||
		    (a.sec != 0 && a.sec < 10) || a.sec > 86400 || (a.b != 0 && a.b != 1))
			abort();
		check_list(&a.l);
	} else if (err[0] == '\0')
		abort();
	conf_free(all_keys, NALL, &a);
	return 0;
}
