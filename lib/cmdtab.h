/*
 * cmdtab: the verb look-up both daemons' command tables share (style.md §5.3).
 * A table is an array of rows sorted by verb whose first member is the verb
 * (const char *); matching ignores ASCII case (RFC 5321 §2.4, RFC 1939 §3).
 */
#ifndef LB_CMDTAB_H
#define LB_CMDTAB_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Split line at its first space: *vlen_out is the verb's length and *args_out points
 * after the verb and one space (at most). The row of the verb, or NULL.
 */
const void *cmdtab_find(const void *table, size_t nrows, size_t rowsize, char *line,
	    size_t *vlen_out, char **args_out);

/*
 * Whether the verb (vlen bytes) is one no SMTP or POP3 client sends but another
 * protocol's client does: an HTTP request (a browser or proxy aimed at a mail port,
 * the cross-protocol attack in which an HTML form's body carries commands) or a
 * header field name (a client that lost track of DATA). Postfix's
 * smtpd_forbidden_commands (CONNECT, GET, POST) and its is_header() test end the
 * session at once for the same reason: nothing after such a line should be read as
 * a command.
 */
bool	cmdtab_foreign_verb(const char *verb, size_t vlen);

#endif
