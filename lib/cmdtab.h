/*
 * cmdtab: the verb look-up both daemons' command tables share (style.md §5.3).
 * A table is an array of rows sorted by verb whose first member is the verb
 * (const char *); matching ignores ASCII case (RFC 5321 §2.4, RFC 1939 §3).
 */
#ifndef LB_CMDTAB_H
#define LB_CMDTAB_H

#include <stddef.h>

/*
 * Split line at its first space: *vlen_out is the verb's length and *args_out points
 * after the verb and one space (at most). The row of the verb, or NULL.
 */
const void *cmdtab_find(const void *table, size_t nrows, size_t rowsize, char *line,
	    size_t *vlen_out, char **args_out);

#endif
