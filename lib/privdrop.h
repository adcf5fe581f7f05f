/*
 * privdrop: every step of giving up root, in one audited function.
 */
#ifndef LB_PRIVDROP_H
#define LB_PRIVDROP_H

/*
 * Become user (supplementary groups, gid, uid; real, effective and saved), then
 * verify root cannot be regained. As non-root: nothing to drop; a user other than the
 * current one is an error. 0, or -1 with the reason in err.
 */
int	privdrop(const char *user, char *err, size_t errsz);

#endif
