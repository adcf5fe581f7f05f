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
