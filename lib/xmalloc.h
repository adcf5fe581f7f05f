/*
 * xmalloc: allocators for setup code that cannot fail (fatal on ENOMEM).
 * Never used on a path a peer can drive; those use buf with a cap.
 */
#ifndef LB_XMALLOC_H
#define LB_XMALLOC_H

#include <stddef.h>

void	*xmalloc(size_t size);
void	*xcalloc(size_t n, size_t size);
void	*xreallocarray(void *p, size_t n, size_t size);
char	*xstrdup(const char *s);

#endif
