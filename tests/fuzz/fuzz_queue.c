/*
 * fuzz_queue: queue/queue.c's readers of the envelope and state files (the files are
 * ours, but a damaged disk, a hand edit or a future version may hand them anything).
 *
 * The input is split at its first 0xff byte: envelope text before, state text after.
 *   - queue_envelope_parse accepts or refuses without crashing; when it accepts, there
 *     is at least one recipient, every field is set and no value holds a control byte;
 *   - queue_state_parse on the accepted envelope only ever marks recipients that exist,
 *     with one of the three recorded statuses, and every text it keeps is terminated;
 *   - queue_msg_finished agrees with a count of done and failed recipients.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "queue/queue.h"

static void
check_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *cut = memchr(data, 0xff, size);
	size_t elen = cut != NULL ? (size_t)(cut - data) : size, i, settled = 0;
	struct queue_msg m;

	memset(&m, 0, sizeof(m));
	m.fd = -1;
	if (queue_envelope_parse((const char *)data, elen, &m) == 0) {
		if (m.nrcpt == 0 || m.from == NULL || m.user == NULL || m.client == NULL ||
		    m.created <= 0)
			abort();
		for (i = 0; i < m.nrcpt; i++)
			check_clean(m.rcpt[i].addr);
		if (cut != NULL && queue_state_parse((const char *)cut + 1, size - elen - 1,
		    &m) == 0) {
			for (i = 0; i < m.nrcpt; i++) {
				const struct queue_rcpt *r = &m.rcpt[i];

				if (r->status > QR_FAILED ||
				    memchr(r->dsn, '\0', sizeof(r->dsn)) == NULL ||
				    memchr(r->remote, '\0', sizeof(r->remote)) == NULL ||
				    memchr(r->reply, '\0', sizeof(r->reply)) == NULL)
					abort();
				settled += r->status == QR_DONE || r->status == QR_FAILED;
			}
			if (queue_msg_finished(&m) != (settled == m.nrcpt))
				abort();
		}
	}
	queue_msg_free(&m);
	return 0;
}
