/*
 * fuzz_index_record: maildir/index.c's record format (index_rec_unpack, index_rec_pack).
 *
 * Input: bytes 0-3 are the UID (the Berkeley DB key the record is stored under), the
 * rest is a stored record. For every record unpack accepts:
 *  - the name is what the record says: non-empty, at most MAILDIR_NAME_MAX bytes, no
 *    NUL and no '/', and NUL-terminated in the struct;
 *  - pack(r) is the same bytes, except the reserved field, which pack writes as 0;
 *  - unpack(pack(r)) is accepted and gives r back, field for field.
 * unpack must never read past len (ASan), whatever it is given.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "maildir/index.h"

static int
rec_equal(const struct index_rec *a, const struct index_rec *b)
{
	return a->uid == b->uid && a->in_cur == b->in_cur && a->size == b->size &&
	    a->arrival == b->arrival && a->flags == b->flags &&
	    strcmp(a->name, b->name) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct index_rec r, r2;
	unsigned char out[INDEX_REC_MAX];
	unsigned char *copy;
	uint32_t uid;
	size_t n, m, namelen;

	if (size < 4)
		return 0;
	uid = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	    (uint32_t)data[3] << 24;
	n = size - 4;
	/* An exact-size heap copy, so that ASan sees any read past the record. */
	if ((copy = malloc(n ? n : 1)) == NULL)
		abort();
	memcpy(copy, data + 4, n);
	memset(&r, 0xa5, sizeof(r));
	if (index_rec_unpack(copy, n, uid, &r) != 0) {
		free(copy);
		return 0;
	}
	namelen = strnlen(r.name, sizeof(r.name));
	if (r.uid != uid || namelen == 0 || namelen > MAILDIR_NAME_MAX ||
	    namelen != n - INDEX_REC_HDR || memchr(r.name, '/', namelen) != NULL ||
	    memcmp(r.name, copy + INDEX_REC_HDR, namelen) != 0)
		abort();

	memset(out, 0x5a, sizeof(out));
	m = index_rec_pack(&r, out);
	if (m != n || m > INDEX_REC_MAX)
		abort();
	/* Byte for byte what was read, but for the reserved u32 at 4 (written as 0). */
	if (memcmp(out, copy, 4) != 0 || memcmp(out + 8, copy + 8, n - 8) != 0 ||
	    out[4] != 0 || out[5] != 0 || out[6] != 0 || out[7] != 0)
		abort();

	memset(&r2, 0x3c, sizeof(r2));
	if (index_rec_unpack(out, m, uid, &r2) != 0 || !rec_equal(&r, &r2))
		abort();
	free(copy);
	return 0;
}
