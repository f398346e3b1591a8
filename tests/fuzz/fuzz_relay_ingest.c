/*
 * fuzz_relay_ingest.c - the relay's request bodies (src/lib/relay/ingest.c
 * and telemetry.c) on arbitrary bytes.  The first byte picks the body kind
 * (bit 0: a /write body or a device API JSON body) and the precision
 * (bits 1-3); the rest is the body.  Invariants besides memory safety:
 * - /write: the kept text is npoints records for lp_next_line(), each a
 *   point with a timestamp (what the stores and the spool take), every
 *   one ending in '\n'; a refusal has influxd's wording, and there is a
 *   reason exactly when a line was refused;
 * - telemetry: 0 gives one such record, FERRY_EPARSE gives none and a
 *   message; nothing else but FERRY_ENOMEM.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "relay/relay_int.h"
#include "wire/lineproto.h"

/* The records of the kept text: each a point with a timestamp. */
static size_t check_kept(const struct ferry_buf *lp)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	struct lp_scratch sc;
	struct lp_point pt;
	const char *line, *why;
	size_t n, k = 0;
	uint64_t lineno;

	if (lp->len && lp->buf[lp->len - 1] != '\n')
		abort();
	lp_scratch_init(&sc);
	while (lp_next_line(lp->buf, lp->len, &cur, 1, &line, &n, &lineno)) {
		if (lp_parse_line(line, n, &pt, &sc, &why) != LP_POINT || !pt.has_ts)
			abort();
		k++;
	}
	lp_scratch_release(&sc);
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_points pts;
	enum lp_precision p;
	int rc;

	if (size < 1)
		return 0;
	p = (enum lp_precision)((data[0] >> 1) % 6);
	relay_points_init(&pts);
	if (data[0] & 1) {
		rc = relay_ingest_telemetry((const char *)data + 1, size - 1, "telemetry", "dev",
					    1700000000000000000LL, &pts, &err);
		if (rc == 0 && (pts.npoints != 1 || check_kept(&pts.lp) != 1))
			abort();
		if (rc == FERRY_EPARSE && (pts.npoints || pts.lp.len || !err.msg[0]))
			abort();
		if (rc && rc != FERRY_EPARSE && rc != FERRY_ENOMEM)
			abort();
	} else {
		rc = relay_ingest_lp((const char *)data + 1, size - 1, p, 1700000000000000000LL,
				     &pts, &err);
		if (rc == 0) {
			if (check_kept(&pts.lp) != pts.npoints)
				abort();
			if (!pts.nrejected != !pts.why[0])
				abort();
			if (pts.nrejected && strncmp(pts.why, "unable to parse '", 17))
				abort();
		} else if (rc != FERRY_ENOMEM) {
			abort();
		}
	}
	relay_points_release(&pts);
	return 0;
}
