/*
 * plan.c - the InfluxDB source's chunks: (measurement, time range) pieces
 * of about IFX_TARGET_POINTS points that never cross a shard group where
 * a field has two types, or, for the narrow layout, queries in series
 * order (see "plan in series order").  The plan depends only on the
 * source and the options, never on --jobs.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "model/value.h"
#include "tsmap/sources/influx/influx_int.h"

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* About IFX_TARGET_POINTS points per chunk at the measurement's average
 * rate, in whole hours, at least one: the same for the same data. */
static int64_t default_chunk(int64_t points, int64_t first, int64_t last)
{
	__int128 span = (__int128)last - first + 1, size;

	if (points <= 0)
		points = 1;
	size = span * IFX_TARGET_POINTS / points;
	size = (size + IFX_HOUR_NS / 2) / IFX_HOUR_NS * IFX_HOUR_NS;
	if (size < IFX_HOUR_NS)
		size = IFX_HOUR_NS;
	if (size > INT64_MAX / 2)
		size = INT64_MAX / 2 / IFX_HOUR_NS * IFX_HOUR_NS;
	return (int64_t)size;
}

#define IFX_MAX_CHUNKS 10000000
#define IFX_MAX_ITEMS 1000000        /* series order: queries in all */

/* The part of measurement j's time span to read: [*lo, *hi); 0 when
 * nothing is (no points, or outside --start/--end). */
static int span_of(const struct ifx *ix, int j, int64_t *lo, int64_t *hi)
{
	const struct ifx_meas *me = &ix->meas[j];

	if (!me->have)
		return 0;         /* no points in this retention policy */
	*lo = ix->o.has_start && ix->o.start_ns > me->first ? ix->o.start_ns : me->first;
	*hi = me->last == INT64_MAX ? INT64_MAX : me->last + 1;
	if (ix->o.has_end && ix->o.end_ns < *hi)
		*hi = ix->o.end_ns;
	return *lo < *hi;
}

/* The end of the time piece that starts at t: a multiple of size, at most
 * hi, and never across a shard group boundary when the measurement has a
 * field of several types (*b: the caller's cursor into ix->bounds). */
static int64_t piece_end(const struct ifx *ix, int j, int64_t t, int64_t size, int64_t hi,
			 size_t *b)
{
	__int128 next = (__int128)floor_div(t, size) * size + size;

	if (next > hi)
		next = hi;
	if (ix->meas[j].conflict) {
		while (*b < ix->nbounds && ix->bounds[*b] <= t)
			(*b)++;
		if (*b < ix->nbounds && ix->bounds[*b] < next)
			next = ix->bounds[*b];
	}
	return (int64_t)next;
}

/* ---------------------------------------------------- plan in series order */

/*
 * The narrow layout's indexes are (series, time desc) and (series,
 * measurement, field, time desc).  PostgreSQL builds an index several
 * times faster from rows already in its order (on 2 cores, 6M narrow rows,
 * both indexes side by side: 6-7 s against 17-27 s for the rows as the
 * time chunks deliver them).  So with o.order_tag the chunks read the
 * points series by series:
 *
 *   a unit   = one value of the tag in one measurement (SHOW TAG VALUES),
 *              or the points of a measurement without that tag (their
 *              series is the canonical key, which starts "measurement,");
 *   an item  = one query: a unit in a piece of time,
 *                SELECT * FROM m WHERE "tag"::tag = 'v'
 *                  AND time >= lo AND time < hi GROUP BY *
 *              answered in a message per series, handed on field by field,
 *              newest first (read_items, fw_emit in read.c; a chunk's
 *              first items streamed newest first), or, should the
 *              answer be over IFX_WHOLE_MAX, a query per field with
 *              ORDER BY time DESC;
 *   a chunk  = consecutive items of about IFX_TARGET_POINTS points (one
 *              item with --chunk-time).
 *
 * Units go by series then measurement (bytewise, the order of a C or
 * C.UTF-8 collation), pieces newest first, fields bytewise.  The copy
 * loads such chunks one after the other on one stream, so the rows reach
 * the heap in the second index's order.
 */
struct unit {
	char *series;             /* sort key */
	int m;                    /* index into ix->sch */
	int mi;                   /* index into the schema plan() was given */
	size_t where;             /* offset in the plan's strings; 0: none */
	int64_t est;              /* points, estimated */
};

struct units {
	struct unit *u;
	size_t n, cap;
	struct ferry_buf str;     /* conditions, NUL-separated, from offset 1 */
	int m, mi;
	const char *tag;
	int64_t rest;             /* window: points without a usable tag value */
};

/* InfluxQL string literal: single quotes, with '\'' and '\' escaped and a
 * newline as \n (its scanner refuses a raw one).  It cannot hold a NUL:
 * the scanner takes that for the end of the query. */
static int add_strlit(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = ferry_buf_addch(b, '\'');

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] == '\'' || s[i] == '\\' || s[i] == '\n')
			rc = ferry_buf_addch(b, '\\');
		if (rc == 0)
			rc = ferry_buf_addch(b, s[i] == '\n' ? 'n' : s[i]);
	}
	if (rc == 0)
		rc = ferry_buf_addch(b, '\'');
	return rc;
}

/* Does a value of the tag get a unit of its own?  Not when a string
 * literal cannot hold it (a NUL: InfluxQL's scanner ends the query
 * there) or InfluxDB cannot match it by it (bytes that are not UTF-8:
 * InfluxDB reads the query as UTF-8, and "tag"::tag = 'v' with such
 * bytes in v matched nothing, so ferry read none of its points and said
 * nothing).  Those are read with the points without the tag. */
static int own_unit(const char *v, size_t n)
{
	const char *why;

	return n > 0 && val_utf8_ok(v, n, &why);
}

/* "U+FFFD" in UTF-8: what InfluxDB's regular expressions see for each
 * byte that is not UTF-8 */
#define REPLACEMENT_UTF8 "\xef\xbf\xbd"

/* "tag"::tag then test, then v as a string literal when v is not NULL:
 * test is " = ", " != " or a whole regular-expression match */
static int add_tag_test(struct units *us, const char *test, const char *v, size_t vn)
{
	int rc = ifx_add_ident(&us->str, us->tag, strlen(us->tag));

	if (rc == 0)
		rc = ferry_buf_addstr(&us->str, test);
	if (rc == 0)
		rc = v ? add_strlit(&us->str, v, vn) : 0;
	return rc;
}

/*
 * A unit of measurement us->m: series key, condition "tag"::tag = 'v'.
 * v "" takes the values without a unit of their own (own_unit): those
 * with a NUL, by "tag"::tag =~ /\x00/, and those that are not UTF-8, by
 * "tag"::tag =~ /\x{FFFD}/ (InfluxDB's regular expressions see U+FFFD
 * for such a byte).  That also matches UTF-8 values holding a real
 * U+FFFD, which have units of their own (us->u[first..]): they are left
 * out by name.  v NULL: no condition.
 */
static int unit_add(struct units *us, const char *series, size_t n, const char *v, size_t vn,
		    size_t first)
{
	struct unit *u;
	size_t at = us->str.len, k;
	int rc = 0;

	if (FERRY_GROW(us->u, us->cap, us->n + 1))
		return FERRY_ENOMEM;
	if (v && vn > 0) {
		rc = add_tag_test(us, "::tag = ", v, vn);
	} else if (v) {
		rc = ferry_buf_addch(&us->str, '(');
		if (rc == 0)
			rc = add_tag_test(us, "::tag = ", "", 0);
		if (rc == 0 && (rc = ferry_buf_addstr(&us->str, " OR ")) == 0)
			rc = add_tag_test(us, "::tag =~ /\\x00/", NULL, 0);
		if (rc == 0 && (rc = ferry_buf_addstr(&us->str, " OR ")) == 0)
			rc = add_tag_test(us, "::tag =~ /\\x{FFFD}/", NULL, 0);
		if (rc == 0)
			rc = ferry_buf_addch(&us->str, ')');
		for (k = first; k < us->n && rc == 0; k++) {
			const char *sv = us->u[k].series;

			if (strstr(sv, REPLACEMENT_UTF8) &&
			    (rc = ferry_buf_addstr(&us->str, " AND ")) == 0)
				rc = add_tag_test(us, "::tag != ", sv, strlen(sv));
		}
	}
	if (v) {
		if (rc == 0)
			rc = ferry_buf_addch(&us->str, '\0');
		if (rc < 0)
			return rc;
	}
	u = &us->u[us->n];
	memset(u, 0, sizeof(*u));
	if (!(u->series = ferry_strndup(series, n)))
		return FERRY_ENOMEM;
	u->m = us->m;
	u->mi = us->mi;
	u->where = v ? at : 0;
	us->n++;
	return 0;
}

static int tagval_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		      struct ferry_error *err)
{
	struct units *us = c->ud;
	const struct mp_val *v = ifx_cell(s, cells, "value");

	if (!v || v->t != MP_STR || !own_unit(v->s, v->len))
		return 0;   /* read with the points without the tag */
	if (unit_add(us, v->s, v->len, v->s, v->len, 0) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/*
 * With --start/--end: the values of the tag that have points inside the
 * window, each with its count (SELECT count(*) ... GROUP BY "tag").
 * SHOW TAG VALUES takes no time filter on InfluxDB 1.x, so a device that
 * first wrote after --end would add a unit, move the plan, and a stopped
 * copy would not resume.  A series without the tag, or with a value
 * without a unit of its own (own_unit), counts into us->rest.
 */
static int tagcount_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
			struct ferry_error *err)
{
	struct units *us = c->ud;
	const struct lp_str *v = NULL;
	int64_t n = 0;
	size_t j;

	for (j = 1; j < s->ncols; j++)
		if (cells[j].t == MP_INT && cells[j].v.i > n)
			n = cells[j].v.i;
	if (n <= 0)
		return 0;
	for (j = 0; j < s->ntags; j++)
		if (s->tags[j].key.n == strlen(us->tag) &&
		    !memcmp(s->tags[j].key.p, us->tag, s->tags[j].key.n))
			v = &s->tags[j].val;
	if (!v || !own_unit(v->p, v->n)) {
		us->rest += n;
		return 0;
	}
	if (unit_add(us, v->p, v->n, v->p, v->n, 0) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	us->u[us->n - 1].est = n;
	return 0;
}

/* The units of measurement j (i in the plan's schema). */
static int units_of(const struct ifx *ix, int j, int i, struct units *us,
		    struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[j];
	struct ferry_buf q = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	size_t first = us->n, k;
	int rc = 0, has_tag = 0;

	for (k = 0; k < m->ntags; k++)
		if (!strcmp(m->tags[k], us->tag))
			has_tag = 1;
	us->m = j;
	us->mi = i;
	us->rest = has_tag ? 0 : m->points;
	if (has_tag && IFX_WINDOWED(ix)) {
		if (ferry_buf_addstr(&q, "SELECT count(*) FROM ") < 0 || ifx_add_meas(&q, ix, m->name) < 0 ||
		    ifx_add_window(&q, ix, 0) < 0 || ferry_buf_addstr(&q, " GROUP BY ") < 0 ||
		    ifx_add_ident(&q, us->tag, strlen(us->tag)) < 0 ||
		    ferry_buf_addf(&key, "cannot count the points per value of tag '%s' in "
				   "measurement '%s'", us->tag, m->name) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = ifx_query_rows(ix, q.buf, tagcount_row, us, key.buf, err)) < 0)
			goto out;
		ferry_buf_clear(&key);
	} else if (has_tag) {
		if (ferry_buf_addstr(&q, "SHOW TAG VALUES ON ") < 0 ||
		    ifx_add_ident(&q, ix->db, strlen(ix->db)) < 0 || ferry_buf_addstr(&q, " FROM ") < 0 ||
		    ifx_add_ident(&q, ix->rp, strlen(ix->rp)) < 0 || ferry_buf_addch(&q, '.') < 0 ||
		    ifx_add_ident(&q, m->name, strlen(m->name)) < 0 ||
		    ferry_buf_addstr(&q, " WITH KEY = ") < 0 ||
		    ifx_add_ident(&q, us->tag, strlen(us->tag)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		ferry_buf_clear(&key);
		if (ferry_buf_addf(&key, "cannot list the values of tag '%s' in measurement '%s'",
				   us->tag, m->name) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = ifx_query_rows(ix, q.buf, tagval_row, us, key.buf, err)) < 0)
			goto out;
		ferry_buf_clear(&key);
	}
	/* the points without the tag (all of them when the measurement has
	 * no such tag key): their canonical keys start "measurement," */
	if (IFX_WINDOWED(ix)) {
		/* counted: only the units with points in the window */
		if (us->rest > 0 && (lp_escape(&key, m->name, strlen(m->name), LP_NAME_MEAS) < 0 ||
				     ferry_buf_addch(&key, ',') < 0 ||
				     unit_add(us, key.buf, key.len, has_tag ? "" : NULL, 0, first) < 0)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (us->rest > 0)
			us->u[us->n - 1].est = us->rest;
		goto out;
	}
	if (lp_escape(&key, m->name, strlen(m->name), LP_NAME_MEAS) < 0 || ferry_buf_addch(&key, ',') < 0 ||
	    unit_add(us, key.buf, key.len, has_tag ? "" : NULL, 0, first) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (k = first; k < us->n; k++)
		us->u[k].est = m->points / (int64_t)(us->n - first) + 1;
out:
	ferry_buf_release(&q);
	ferry_buf_release(&key);
	return rc;
}

static int unit_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;
	int c = strcmp(x->series, y->series);

	return c ? c : (x->m > y->m) - (x->m < y->m);
}

struct item_tmp {
	struct tm_item it;
	size_t where;      /* offset in the plan's strings; 0: none */
	size_t unit;
};

/* The items of unit u (number ui), appended to *items: its pieces of
 * time, newest first. */
static int unit_items(const struct ifx *ix, const struct unit *u, size_t ui,
		      struct item_tmp **items, size_t *n, size_t *cap, struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[u->m];
	const struct ifx_meas *me = &ix->meas[u->m];
	int64_t lo, hi, size, t, *cut = NULL;
	size_t ncut = 0, ccap = 0, b = 0, k;
	int rc = 0;

	if (!span_of(ix, u->m, &lo, &hi))
		return 0;
	/* a piece's answer is taken whole: fewer points when they have more
	 * fields (about 50 bytes a point with 3 fields) */
	{
		__int128 w = (__int128)u->est * (m->nfields > 4 ? m->nfields : 4) / 4;

		size = ix->o.chunk_ns > 0 ? ix->o.chunk_ns :
			default_chunk(w > INT64_MAX ? INT64_MAX : (int64_t)w, me->first, me->last);
	}
	if (((__int128)hi - lo) / size > IFX_MAX_CHUNKS)
		return ferry_error_set(err, FERRY_EINVAL,
			"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
			"use a larger chunk size", size, m->name, IFX_MAX_CHUNKS);
	for (t = lo; t < hi; t = piece_end(ix, u->m, t, size, hi, &b)) {
		if (FERRY_GROW(cut, ccap, ncut + 1)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		cut[ncut++] = t;   /* the pieces' starts, oldest first */
	}
	for (k = ncut; k-- > 0;) {
		struct item_tmp *x;

		if (FERRY_GROW(*items, *cap, *n + 1)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		x = &(*items)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->it.measurement = u->mi;
		x->it.t_lo = cut[k];
		x->it.t_hi = k + 1 < ncut ? cut[k + 1] : hi;
		x->where = u->where;
		x->unit = ui;
	}
out:
	ferry_free(cut);
	return rc;
}

/* Estimated points of an item: its unit's, spread evenly over time. */
static int64_t item_est(const struct ifx *ix, const struct unit *u, const struct tm_item *it)
{
	const struct ifx_meas *me = &ix->meas[u->m];

	return (int64_t)((__int128)u->est * ((__int128)it->t_hi - it->t_lo) /
			 ((__int128)me->last - me->first + 1)) + 1;
}

static int plan_series(struct ifx *ix, const struct tm_schema *sch, struct tm_chunk **out,
		       size_t *n, struct ferry_error *err)
{
	struct units us;
	struct item_tmp *items = NULL;
	struct tm_chunk *ck = NULL;
	size_t nitems = 0, icap = 0, nck = 0, cap = 0, i, k;
	char *pool = NULL;
	int rc = 0;

	memset(&us, 0, sizeof(us));
	us.tag = ix->o.order_tag;
	if (ferry_buf_addch(&us.str, '\0') < 0) {   /* offset 0 means none */
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sch->n; i++) {
		int j = tm_schema_find(&ix->sch, sch->m[i].name, strlen(sch->m[i].name));
		int64_t lo, hi;

		if (j < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"measurement '%s' was not discovered in database '%s'",
				sch->m[i].name, ix->db);
			goto out;
		}
		if (span_of(ix, j, &lo, &hi) && (rc = units_of(ix, j, (int)i, &us, err)) < 0)
			goto out;
	}
	if (us.n)
		qsort(us.u, us.n, sizeof(*us.u), unit_cmp);
	for (i = 0; i < us.n; i++)
		if ((rc = unit_items(ix, &us.u[i], i, &items, &nitems, &icap, err)) < 0)
			goto out;
	if (nitems > IFX_MAX_ITEMS) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"reading the narrow layout series by series takes %zu queries "
			"(%zu series, each cut in pieces of --chunk-time); give a larger "
			"--chunk-time, at most %d queries", nitems, us.n, IFX_MAX_ITEMS);
		goto out;
	}
	if (nitems) {
		struct tm_item *it;
		char *str;

		/* one block: the items, then the conditions */
		if (!(pool = ferry_malloc(nitems * sizeof(*it) + us.str.len))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		it = (struct tm_item *)(void *)pool;
		str = pool + nitems * sizeof(*it);
		memcpy(str, us.str.buf, us.str.len);
		for (k = 0; k < nitems; k++) {
			it[k] = items[k].it;
			it[k].where = items[k].where ? str + items[k].where : NULL;
		}
		/* chunks of consecutive items, about IFX_TARGET_POINTS points;
		 * with --chunk-time, one piece of time of one series each */
		for (k = 0; k < nitems;) {
			struct tm_chunk *c;
			int64_t est = 0;
			size_t e = k;

			while (e < nitems && (e == k || (est < IFX_TARGET_POINTS &&
							 ix->o.chunk_ns <= 0))) {
				est += item_est(ix, &us.u[items[e].unit], &it[e]);
				e++;
			}
			if (FERRY_GROW(ck, cap, nck + 1)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c = &ck[nck++];
			memset(c, 0, sizeof(*c));
			c->measurement = -1;
			c->est = est;
			c->items = it + k;
			c->nitems = e - k;
			k = e;
		}
		ck[0].pool = pool;
		pool = NULL;
	}
	*out = ck;
	*n = nck;
	ck = NULL;
out:
	for (i = 0; i < us.n; i++)
		ferry_free(us.u[i].series);
	ferry_free(us.u);
	ferry_buf_release(&us.str);
	ferry_free(items);
	ferry_free(pool);
	ferry_free(ck);
	return rc;
}

int ifx_plan(void *s, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
	     struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_chunk *ck = NULL;
	size_t nck = 0, cap = 0, i;
	int rc = 0;

	if (ix->o.order_tag)
		return plan_series(ix, sch, out, n, err);
	for (i = 0; i < sch->n; i++) {
		int j = tm_schema_find(&ix->sch, sch->m[i].name, strlen(sch->m[i].name));
		const struct ifx_meas *me;
		int64_t lo, hi, size, t, points;
		size_t b = 0;

		if (j < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"measurement '%s' was not discovered in database '%s'",
				sch->m[i].name, ix->db);
			goto out;
		}
		me = &ix->meas[j];
		if (!span_of(ix, j, &lo, &hi))
			continue;
		points = ix->sch.m[j].points;
		size = ix->o.chunk_ns > 0 ? ix->o.chunk_ns :
			default_chunk(points, me->first, me->last);
		if (((__int128)hi - lo) / size > IFX_MAX_CHUNKS) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
				"use a larger chunk size", size, sch->m[i].name, IFX_MAX_CHUNKS);
			goto out;
		}
		for (t = lo; t < hi;) {
			int64_t next = piece_end(ix, j, t, size, hi, &b);
			struct tm_chunk *c;

			if (FERRY_GROW(ck, cap, nck + 1)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c = &ck[nck++];
			memset(c, 0, sizeof(*c));
			c->measurement = (int)i;
			c->has_time = 1;
			c->t_lo = t;
			c->t_hi = next;
			c->est = (int64_t)((__int128)points * (c->t_hi - c->t_lo) /
					   ((__int128)me->last - me->first + 1));
			t = next;
		}
	}
	*out = ck;
	*n = nck;
	ck = NULL;
out:
	ferry_free(ck);
	return rc;
}
