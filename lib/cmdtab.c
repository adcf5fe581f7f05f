/*
 * cmdtab: verb look-up with bsearch (see cmdtab.h).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cmdtab.h"

#define CMDTAB_VERB_MAX	16	/* no verb of ours is longer */

static int
cmdtab_cmp(const void *key, const void *row)
{
	return strcasecmp(key, *(const char *const *)row);
}

const void *
cmdtab_find(const void *table, size_t nrows, size_t rowsize, char *line,
    size_t *vlen_out, char **args_out)
{
	char verb[CMDTAB_VERB_MAX];
	size_t vlen = strcspn(line, " ");
	char *args = line + vlen;

	if (*args == ' ')
		args++;
	*vlen_out = vlen;
	*args_out = args;
	if (vlen == 0 || vlen >= sizeof(verb))
		return NULL;
	memcpy(verb, line, vlen);
	verb[vlen] = '\0';
	return bsearch(verb, table, nrows, rowsize, cmdtab_cmp);
}

bool
cmdtab_foreign_verb(const char *verb, size_t vlen)
{
	static const char *const http[] = { "CONNECT", "GET", "POST" };
	size_t i;

	for (i = 0; i < sizeof(http) / sizeof(http[0]); i++)
		if (vlen == strlen(http[i]) && strncasecmp(verb, http[i], vlen) == 0)
			return true;
	/* RFC 5322 §2.2: field-name = 1*ftext (33-126 but ':'), then ':'. */
	if (vlen < 2 || verb[vlen - 1] != ':')
		return false;
	for (i = 0; i < vlen - 1; i++)
		if (verb[i] < 33 || verb[i] > 126 || verb[i] == ':')
			return false;
	return true;
}
