/*
 * fuzz_lineproto.c - the line-protocol splitter and parser
 * (src/lib/wire/lineproto.c) on arbitrary bytes.  Invariants besides
 * memory safety:
 * - the splitter makes progress, records tile the input in order and line
 *   numbers never go backwards; splitting in chunks (final only at the
 *   end) gives the same records as splitting the whole buffer;
 * - an accepted point has a measurement and at least one field, and every
 *   reject has a reason;
 * - writing an accepted point back with lp_point_write() and parsing that
 *   gives the same point, and the written record is one record for the
 *   splitter.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/error.h"
#include "wire/lineproto.h"

static int str_same(const struct lp_str *a, const struct lp_str *b)
{
	return a->n == b->n && (!a->n || !memcmp(a->p, b->p, a->n));
}

static int same_point(const struct lp_point *a, const struct lp_point *b)
{
	size_t i;

	if (!str_same(&a->measurement, &b->measurement) || a->ntags != b->ntags ||
	    a->nfields != b->nfields || a->has_ts != b->has_ts || a->ts != b->ts)
		return 0;
	for (i = 0; i < a->ntags; i++)
		if (!str_same(&a->tags[i].key, &b->tags[i].key) ||
		    !str_same(&a->tags[i].val, &b->tags[i].val))
			return 0;
	for (i = 0; i < a->nfields; i++) {
		const struct lp_field *x = &a->fields[i], *y = &b->fields[i];

		if (!str_same(&x->key, &y->key) || x->type != y->type)
			return 0;
		switch (x->type) {
		case LP_FLOAT:
			if (memcmp(&x->v.f, &y->v.f, sizeof(double)))
				return 0;
			break;
		case LP_INT: if (x->v.i != y->v.i) return 0; break;
		case LP_UINT: if (x->v.u != y->v.u) return 0; break;
		case LP_BOOL: if (x->v.b != y->v.b) return 0; break;
		case LP_STRING: if (!str_same(&x->v.s, &y->v.s)) return 0; break;
		}
	}
	return 1;
}

static void check_point(const struct lp_point *pt, struct lp_scratch *s2, struct ferry_buf *w)
{
	struct lp_point again;
	struct lp_cursor cur = LP_CURSOR_INIT;
	const char *why, *line;
	size_t n;
	uint64_t ln;
	int rc;

	if (!pt->measurement.n || pt->nfields < 1)
		abort();
	ferry_buf_clear(w);
	rc = lp_point_write(w, pt);
	if (rc == FERRY_ENOMEM)
		return;
	if (rc < 0)
		abort();  /* the parser produced a point that has no spelling */
	if (lp_parse_line(w->buf, w->len, &again, s2, &why) != LP_POINT)
		abort();
	if (!same_point(pt, &again))
		abort();
	if (!lp_next_line(w->buf, w->len, &cur, 1, &line, &n, &ln) || n != w->len ||
	    cur.off != w->len)
		abort();
	{
		int64_t ts;   /* the relay's sink reads a written line's time so */

		if (pt->has_ts && (lp_line_ts(w->buf, w->len, &ts) != 0 || ts != pt->ts))
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *line, *why;
	struct lp_cursor cur = LP_CURSOR_INIT, cc = LP_CURSOR_INIT;
	struct lp_scratch s, s2;
	struct ferry_buf w = FERRY_BUF_INIT;
	struct lp_point pt;
	size_t n, expect_off = 0, nrec = 0;
	uint64_t ln, last_ln = 0;
	size_t *offs = NULL, *lens = NULL;
	char *cbuf;
	size_t chunk, have = 0, fed = 0, k = 0;
	int rc;

	lp_scratch_init(&s);
	lp_scratch_init(&s2);
	offs = malloc((size + 1) * sizeof(*offs));
	lens = malloc((size + 1) * sizeof(*lens));
	cbuf = malloc(size + 1);
	if (!offs || !lens || !cbuf)
		goto out;
	while (lp_next_line(buf, size, &cur, 1, &line, &n, &ln)) {
		if (line != buf + expect_off || cur.off <= expect_off || cur.off > size ||
		    line + n > buf + cur.off || ln <= last_ln || cur.lineno < ln)
			abort();
		offs[nrec] = (size_t)(line - buf);
		lens[nrec++] = n;
		expect_off = cur.off;
		last_ln = ln;
		rc = lp_parse_line(line, n, &pt, &s, &why);
		if (rc == FERRY_EREJECT && !why[0])
			abort();
		if (rc == LP_POINT)
			check_point(&pt, &s2, &w);
		{
			int64_t ts;   /* any record: reads only its bytes (ASan) */

			(void)lp_line_ts(line, n, &ts);
		}
	}
	if (cur.off != size)
		abort();

	/* the same records when fed in chunks */
	chunk = size ? (size_t)data[0] % 16 + 1 : 1;
	cc.off = 0;
	for (;;) {
		size_t take = size - fed < chunk ? size - fed : chunk;
		int final;

		memcpy(cbuf + have, buf + fed, take);
		have += take;
		fed += take;
		final = fed == size;
		while (lp_next_line(cbuf, have, &cc, final, &line, &n, &ln)) {
			if (k >= nrec || n != lens[k] || memcmp(line, buf + offs[k], n))
				abort();
			k++;
		}
		memmove(cbuf, cbuf + cc.off, have - cc.off);
		have -= cc.off;
		cc.off = 0;
		if (final)
			break;
	}
	if (k != nrec)
		abort();
out:
	free(offs);
	free(lens);
	free(cbuf);
	ferry_buf_release(&w);
	lp_scratch_release(&s);
	lp_scratch_release(&s2);
	return 0;
}
