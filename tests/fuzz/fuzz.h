/*
 * fuzz.h: the libFuzzer entry points, declared for -Wmissing-declarations. Each
 * tests/fuzz/fuzz_*.c defines LLVMFuzzerTestOneInput (and may define
 * LLVMFuzzerInitialize); libFuzzer or replay_main.c calls them.
 */
#ifndef LB_FUZZ_H
#define LB_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

/* A growing buffer for the harnesses' reference models, one spare byte for a NUL. */
struct fuzz_out {
	char	*p;
	size_t	 len, cap;
};

static inline void
fuzz_out_add(struct fuzz_out *o, const void *p, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		o->cap = (o->len + n + 1) * 2 + 64;
		if ((o->p = realloc(o->p, o->cap)) == NULL)
			abort();
	}
	if (n > 0)
		memcpy(o->p + o->len, p, n);
	o->len += n;
}

#endif
