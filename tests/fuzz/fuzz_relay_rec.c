/*
 * fuzz_relay_rec.c - the spool record payload of `ferry relay`
 * (relay_rec_decode in src/lib/relay/spool.c) on any bytes: a spool file
 * is read back after crashes and by hand-edited restores, so decode must
 * refuse garbage without reading past the buffer, and whatever it accepts
 * must encode back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/relay_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct relay_rec r;
	/* a copy of exactly n bytes, so ASan sees any read past the end */
	uint8_t *p = ferry_malloc(n ? n : 1);
	int to;

	if (!p)
		return 0;
	memcpy(p, data, n);
	memset(&r, 0, sizeof(r));
	if (relay_rec_decode(p, n, &to, &r) == 0) {
		if (relay_rec_encode(&b, to, r.db, r.rp, r.lp, r.n, r.npoints) != 0 ||
		    b.len != n || memcmp(b.buf, p, n) != 0)
			abort();
	}
	ferry_buf_release(&b);
	ferry_free(p);
	return 0;
}
