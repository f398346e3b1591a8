/*
 * check.c - the checks of one line-protocol record, shared by `ferry copy
 * lp://` (sources/lpfile.c) and the relay's /write (relay/ingest.c), so
 * that a line one refuses the other refuses with the same reason.
 *
 *   parser (lp_parse_line)  ->  timestamp, or the default (the relay: now),
 *   else "missing timestamp"  ->  its range at the precision  ->  the
 *   caller's time range (a point outside it is skipped, before the text
 *   checks: lp:// --start/--end never reads it)  ->  UTF-8 and NUL bytes
 *   in every name and string value (not with bytes_ok: the relay takes
 *   them, as influxd does).
 *
 * NaN/Inf are the parser's (struct lp_scratch.drop_nonfinite): 0 after
 * tm_check_init(), the whole line is refused as influxd refuses it; lp://
 * sets it to 1 and loads the point's other fields.
 *
 * What a file source alone knows stays with it: records over its size
 * limit (lpfile.c cuts them without loading them), line numbers and files.
 */
#include <stdio.h>
#include <string.h>

#include "model/value.h"
#include "tsmap/tsmap.h"

void tm_check_init(struct tm_check *c, enum lp_precision precision)
{
	memset(c, 0, sizeof(*c));
	lp_scratch_init(&c->scratch);
	c->precision = precision;
}

void tm_check_release(struct tm_check *c)
{
	lp_scratch_release(&c->scratch);
}

static const char *prec_name(enum lp_precision p)
{
	static const char *const names[] = { "ns", "us", "ms", "s", "m", "h" };

	return (unsigned)p < sizeof(names) / sizeof(names[0]) ? names[p] : "?";
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_len(const char *p, size_t n)
{
	unsigned c = (unsigned char)*p;
	size_t k = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
	const char *why;

	return k <= n && val_utf8_ok(p, k, &why) ? k : 0;
}

/* A name for a reason: at most 40 bytes, control bytes and bytes that
 * are not UTF-8 as '?' (a reason is text in a one-line reject record). */
static const char *show(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i = 0, k = 0, lim = n > 40 ? 37 : n;

	while (i < lim && k + 5 < cap) {
		size_t u = utf8_len(p + i, lim - i);

		if (u > 1) {
			memcpy(dst + k, p + i, u);
			k += u;
			i += u;
			continue;
		}
		dst[k++] = (u == 0 || (unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
		i++;
	}
	if (lim < n)
		for (i = 0; i < 3 && k + 1 < cap; i++)
			dst[k++] = '.';
	dst[k] = '\0';
	return dst;
}

/* Whether n bytes are all ASCII and none is NUL (8 at a time). */
static int plain_ascii(const char *s, size_t n)
{
	const uint64_t hi = 0x8080808080808080ull, lo = 0x0101010101010101ull;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v;

		memcpy(&v, s + i, 8);
		if ((v & hi) || ((v - lo) & ~v & hi))
			return 0;
	}
	for (; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || !s[i])
			return 0;
	return 1;
}

/* 0 when s is valid UTF-8 without NUL, else the reason's first words. */
static const char *text_problem(const struct lp_str *s)
{
	const char *why;

	if (val_utf8_ok(s->p, s->n, &why))
		return NULL;
	return memchr(s->p, 0, s->n) ? "NUL byte" : "invalid UTF-8";
}

/* 1 with c->why set when a name or string of the point is not text. */
static int check_text(struct tm_check *c, const char *raw, size_t rawn)
{
	const struct lp_point *pt = &c->pt;
	const char *w;
	char a[48];
	size_t i;

	if (plain_ascii(raw, rawn))
		return 0;
	if ((w = text_problem(&pt->measurement))) {
		snprintf(c->why, sizeof(c->why), "%s in measurement", w);
		return 1;
	}
	for (i = 0; i < pt->ntags; i++) {
		if ((w = text_problem(&pt->tags[i].key))) {
			snprintf(c->why, sizeof(c->why), "%s in tag key '%s'", w,
				 show(a, sizeof(a), pt->tags[i].key.p, pt->tags[i].key.n));
			return 1;
		}
		if ((w = text_problem(&pt->tags[i].val))) {
			snprintf(c->why, sizeof(c->why), "%s in tag value of '%s'", w,
				 show(a, sizeof(a), pt->tags[i].key.p, pt->tags[i].key.n));
			return 1;
		}
	}
	for (i = 0; i < pt->nfields; i++) {
		const struct lp_field *f = &pt->fields[i];

		if ((w = text_problem(&f->key))) {
			snprintf(c->why, sizeof(c->why), "%s in field key '%s'", w,
				 show(a, sizeof(a), f->key.p, f->key.n));
			return 1;
		}
		if (f->type == LP_STRING && (w = text_problem(&f->v.s))) {
			snprintf(c->why, sizeof(c->why), "%s in string value of field '%s'", w,
				 show(a, sizeof(a), f->key.p, f->key.n));
			return 1;
		}
	}
	return 0;
}

int tm_check_record(struct tm_check *c, const char *rec, size_t n, struct tm_point *tp,
		    const char **why)
{
	int64_t ns;
	int k;

	k = lp_parse_line(rec, n, &c->pt, &c->scratch, why);
	if (k == FERRY_EREJECT)
		return TM_CHECK_REJECT;
	if (k < 0)
		return k;
	if (k != LP_POINT)
		return TM_CHECK_SKIP;
	*why = c->why;
	if (!c->pt.has_ts) {
		if (!c->has_default_ns) {
			snprintf(c->why, sizeof(c->why), "missing timestamp");
			return TM_CHECK_REJECT;
		}
		ns = c->default_ns;
	} else if (lp_ts_to_ns(c->pt.ts, c->precision, &ns) < 0) {
		snprintf(c->why, sizeof(c->why), "timestamp %lld out of range at precision '%s'",
			 (long long)c->pt.ts, prec_name(c->precision));
		return TM_CHECK_REJECT;
	}
	if ((c->has_start && ns < c->start_ns) || (c->has_end && ns >= c->end_ns))
		return TM_CHECK_SKIP;
	if (!c->bytes_ok && check_text(c, rec, n))
		return TM_CHECK_REJECT;
	tp->measurement = c->pt.measurement;
	tp->tags = c->pt.tags;
	tp->ntags = c->pt.ntags;
	tp->fields = c->pt.fields;
	tp->nfields = c->pt.nfields;
	tp->time_ns = ns;
	tp->key = 0;
	tp->file = NULL;
	tp->series_id = 0;
	tp->again = 0;
	return TM_CHECK_POINT;
}
