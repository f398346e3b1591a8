/*
 * ingest.c - a /write body -> struct relay_points: the good points as
 * '\n'-terminated line protocol with nanosecond timestamps, the bad lines
 * counted with the first reason, worded as influxd words it.
 *
 * The checks are tsmap's tm_check_record(), the ones `ferry copy lp://`
 * runs on a file, so a line one refuses the other refuses with the same
 * reason.  Three differences, all influxd's behaviour for a live write: a
 * point without a timestamp gets the server's time (a file has no "now"),
 * a NaN/Inf value refuses the whole line (scratch.drop_nonfinite 0; a
 * file keeps the point's other fields), and NUL bytes or invalid UTF-8 in
 * a name or string value are taken (bytes_ok: influxd 1.x stores them;
 * the PostgreSQL store, which cannot, refuses those points one by one:
 * dead letters while it is the secondary, a partial write while it is
 * the primary).  Comment and blank lines are skipped as influxd skips
 * them.
 *
 * A point is written back as the client sent it when that is already what
 * the later stages want (a timestamp in nanoseconds): the original bytes
 * are copied, which is faster than formatting and keeps floats exact.
 * Otherwise lp_point_write() formats it with the timestamp converted.
 */
#include <stdio.h>
#include <string.h>

#include "model/value.h"
#include "relay/relay_int.h"
#include "tsmap/tsmap.h"

#define RELAY_WHY_LINE 64    /* bytes of a refused line quoted in the reason */

/* The first RELAY_WHY_LINE bytes of a line for a message that becomes a
 * JSON string and an HTTP header: cut on a character boundary, control
 * bytes and bytes that are not UTF-8 as '?'. */
static void quote_line(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i = 0, k = 0;

	if (n > RELAY_WHY_LINE)
		n = RELAY_WHY_LINE;
	while (i < n && k + 5 < cap) {
		const char *why;
		size_t ok = val_utf8_prefix(p + i, n - i, 0, &why);

		for (; ok && k + 5 < cap; ok--, i++, k++) {
			unsigned char ch = (unsigned char)p[i];

			dst[k] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
		}
		if (i < n && k + 5 < cap) {
			/* a broken sequence, or a whole one cut by the limit */
			dst[k++] = '?';
			i++;
			while (i < n && ((unsigned char)p[i] & 0xC0) == 0x80)
				i++;
		}
	}
	dst[k] = '\0';
}

static void refuse(struct relay_points *out, const char *line, size_t n, const char *why)
{
	char q[RELAY_WHY_LINE * 2 + 8];

	if (!out->nrejected++) {
		quote_line(q, sizeof(q), line, n);
		snprintf(out->why, sizeof(out->why), "unable to parse '%s': %s", q, why);
	}
}

int relay_ingest_lp(const char *body, size_t n, enum lp_precision precision,
		    int64_t now_ns, struct relay_points *out, struct ferry_error *err)
{
	struct lp_cursor cur = LP_CURSOR_INIT;
	struct tm_check c;
	struct tm_point tp;
	const char *line, *why;
	size_t len;
	uint64_t lineno;
	int rc = 0;

	tm_check_init(&c, precision);
	c.has_default_ns = 1;
	c.default_ns = now_ns;
	c.scratch.drop_nonfinite = 0;    /* NaN/Inf: the line is refused, as influxd */
	c.bytes_ok = 1;                  /* NUL bytes, invalid UTF-8: taken, as influxd */
	while (lp_next_line(body, n, &cur, 1, &line, &len, &lineno)) {
		int k = tm_check_record(&c, line, len, &tp, &why);

		if (k < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (k == TM_CHECK_SKIP)
			continue;
		if (k == TM_CHECK_REJECT) {
			refuse(out, line, len, why);
			continue;
		}
		if (c.pt.has_ts && precision == LP_PREC_NS) {
			if (ferry_buf_add(&out->lp, line, len) < 0)
				goto oom;
		} else {
			struct lp_point p = c.pt;
			size_t mark = out->lp.len;
			int w;

			p.has_ts = 1;
			p.ts = tp.time_ns;
			if ((w = lp_point_write(&out->lp, &p)) == FERRY_EINVAL) {
				/* a name the parser took but line protocol cannot say
				 * again (a trailing lone backslash): refused as a
				 * reader of the stored lines would refuse it */
				if (ferry_buf_setlen(&out->lp, mark) < 0)
					goto oom;
				refuse(out, line, len, "a name that cannot be written back as line protocol");
				continue;
			}
			if (w < 0)
				goto oom;
		}
		if (ferry_buf_addch(&out->lp, '\n') < 0)
			goto oom;
		out->npoints++;
	}
	goto out;
oom:
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	tm_check_release(&c);
	return rc;
}
