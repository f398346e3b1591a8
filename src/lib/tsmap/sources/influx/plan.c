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
#include "wire/sqltext.h"

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
	__int128 next = (__int128)val_floor_div(t, size) * size + size;

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

/* ------------------------------------------------ pieces without points */

/*
 * A span cut into more than IFX_PRUNE_PIECES pieces (a small --chunk-time
 * over a measurement whose first point is years older than the rest: a
 * device whose clock said 2000) is mostly pieces without a point: a
 * query each that finds nothing, and in series order more than
 * IFX_MAX_ITEMS of them.  Then one count names the pieces that have
 * points,
 *   SELECT count(*) FROM m WHERE time >= lo AND time < hi
 *     GROUP BY time(<size>ns)[, "tag"] fill(none)
 * (InfluxDB answers the windows with points only, in milliseconds however
 * many are empty; its windows start at multiples of the size, as the
 * pieces do), and only those are read.  No admin rights needed.  A point
 * written into an empty piece after the plan was made is not read, as
 * one written before the span is not (a resumed copy then finds the
 * source changed).  Should InfluxDB refuse the count (its
 * max-select-buckets), every piece is read as before.  A window that
 * would start before InfluxDB's earliest time (IFX_MIN_TIME_NS: its
 * points are kept, 1677-09-21) is answered as time 0 (influxd 1.8 clamps
 * its start there, then prints that as 0): the piece at the span's start
 * is then read for every series whatever the answer says.  So is the
 * piece of InfluxDB's last time (IFX_MAX_TIME_NS, 2262-04-11) when the
 * span reaches it: its count leaves a point at that time out (a window
 * holding only that point is not answered), and the copy lost it.
 */
#define IFX_PRUNE_PIECES 10000
#define IFX_MIN_TIME_NS (-INT64_C(9223372036854775806))
#define IFX_MAX_TIME_NS INT64_C(9223372036854775806)

struct busy {
	int64_t *t;               /* starts of the pieces with points, ascending */
	size_t n, cap;
};

/* a unit of the plan in series order (see there) */
struct unit {
	char *series;             /* sort key */
	int m;                    /* index into ix->sch */
	int mi;                   /* index into the schema plan() was given */
	size_t where;             /* offset in the plan's strings; 0: none */
	int64_t est;              /* points, estimated */
	int rest;                 /* the points without a value of their own */
	int pruned;               /* only the pieces in busy are read */
	struct busy busy;
};

struct busy_ctx {
	int64_t size;
	const char *tag;          /* NULL: every row's piece goes to one */
	struct busy *one;
	struct unit **ord;        /* tag: the units with a value of their own, by it */
	size_t nord;
	struct unit *rest;        /* tag: the unit of the points without one, or NULL */
};

static struct busy *busy_of(struct busy_ctx *bc, const struct series *s);

static int busy_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		    struct ferry_error *err)
{
	struct busy_ctx *bc = c->ud;
	struct busy *b;
	__int128 t;

	if (!s->ncols || cells[0].t != MP_INT || !(b = busy_of(bc, s)))
		return 0;
	t = (__int128)val_floor_div(cells[0].v.i, bc->size) * bc->size;
	if (t < INT64_MIN)
		t = INT64_MIN;    /* the piece starts at the span's start anyway */
	if (b->n && b->t[b->n - 1] == (int64_t)t)
		return 0;
	if (FERRY_GROW(b->t, b->cap, b->n + 1))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	b->t[b->n++] = (int64_t)t;
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Sorted, each start once (the rest unit's rows come series by series). */
static void busy_settle(struct busy *b)
{
	size_t i, n = 0;

	if (b->n)
		qsort(b->t, b->n, sizeof(*b->t), cmp_i64);
	for (i = 0; i < b->n; i++)
		if (!n || b->t[n - 1] != b->t[i])
			b->t[n++] = b->t[i];
	b->n = n;
}

/* Piece t read for every unit of bc, whatever the count said. */
static int busy_everywhere(struct busy_ctx *bc, int64_t t, struct ferry_error *err)
{
	size_t k;

	for (k = 0; k <= bc->nord; k++) {
		struct busy *b = !bc->tag ? (k ? NULL : bc->one) :
				 k < bc->nord ? &bc->ord[k]->busy :
				 bc->rest ? &bc->rest->busy : NULL;

		if (b && FERRY_GROW(b->t, b->cap, b->n + 1))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (b)
			b->t[b->n++] = t;
	}
	return 0;
}

/* The count above for measurement j in [lo, hi): 0 with the pieces in
 * bc's lists, 1 when InfluxDB refused it (read every piece), or an
 * error. */
static int busy_query(const struct ifx *ix, int j, int64_t lo, int64_t hi,
		      struct busy_ctx *bc, struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[j];
	struct ferry_buf q = FERRY_BUF_INIT, what = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	int rc;

	if (ferry_buf_addstr(&q, "SELECT count(*) FROM ") < 0 || ifx_add_meas(&q, ix, m->name) < 0 ||
	    ferry_buf_addf(&q, " WHERE time >= %" PRId64 " AND time < %" PRId64 " GROUP BY "
			   "time(%" PRId64 "ns)", lo, hi, bc->size) < 0 ||
	    (bc->tag && (ferry_buf_addstr(&q, ", ") < 0 ||
			 ifx_add_ident(&q, bc->tag, strlen(bc->tag)) < 0)) ||
	    ferry_buf_addstr(&q, " fill(none)") < 0 ||
	    ferry_buf_addf(&what, "cannot find the pieces of measurement '%s' with points",
			   m->name) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = ifx_query_rows(ix, q.buf, busy_row, bc, what.buf, &e);
	if (rc == FERRY_ECONN || rc == FERRY_ENOMEM) {
		*err = e;
	} else if (rc < 0) {
		ferry_debug("influx: every piece of measurement '%s' is read: %s", m->name, e.msg);
		rc = 1;
	} else {
		/* the piece at the span's start: INT64_MIN (it starts at lo) */
		if ((__int128)val_floor_div(lo, bc->size) * bc->size < IFX_MIN_TIME_NS)
			rc = busy_everywhere(bc, INT64_MIN, err);
		if (rc == 0 && hi > IFX_MAX_TIME_NS)
			rc = busy_everywhere(bc, (int64_t)((__int128)val_floor_div(IFX_MAX_TIME_NS,
						bc->size) * bc->size), err);
	}
out:
	ferry_buf_release(&q);
	ferry_buf_release(&what);
	return rc;
}

/* The pieces of [lo, hi) in order: every one, or those of busy (pruned). */
struct pieces {
	const struct ifx *ix;
	int j;
	int64_t lo, hi, size, t, end;
	const struct busy *busy;  /* NULL: every piece */
	size_t bi, bnd;           /* next busy piece; piece_end's cursor */
};

static void pieces_init(struct pieces *p, const struct ifx *ix, int j, int64_t lo, int64_t hi,
			int64_t size, const struct busy *busy)
{
	/* pruned: empty until pieces_next takes the first busy piece */
	*p = (struct pieces){ .ix = ix, .j = j, .lo = lo, .hi = hi, .size = size,
			      .busy = busy, .t = busy ? 0 : lo, .end = busy ? 0 : hi };
}

/* The next piece [*a, *b); 0 when there is none. */
static int pieces_next(struct pieces *p, int64_t *a, int64_t *b)
{
	while (p->t >= p->end) {
		__int128 e;

		if (!p->busy || p->bi >= p->busy->n)
			return 0;
		p->t = p->busy->t[p->bi] < p->lo ? p->lo : p->busy->t[p->bi];
		e = (__int128)p->busy->t[p->bi] + p->size;
		p->end = e > p->hi ? p->hi : (int64_t)e;
		p->bi++;
	}
	*a = p->t;
	*b = p->t = piece_end(p->ix, p->j, p->t, p->size, p->end, &p->bnd);
	return 1;
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
struct units {
	struct unit *u;
	size_t n, cap;
	struct ferry_buf str;     /* conditions, NUL-separated, from offset 1 */
	int m, mi;
	const char *tag;
	int64_t rest;             /* window: points without a usable tag value */
};

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
		rc = v ? wire_influxql_literal(&us->str, v, vn) : 0;
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

static int unit_ptr_cmp(const void *a, const void *b)
{
	return strcmp((*(struct unit *const *)a)->series, (*(struct unit *const *)b)->series);
}

/* The busy list a row of the count goes to: its value's unit, or the
 * rest's (a value without a unit of its own, or none); NULL: no unit
 * (a series that came after the units were listed). */
static struct busy *busy_of(struct busy_ctx *bc, const struct series *s)
{
	const struct lp_str *v = NULL;
	size_t j, lo = 0, hi = bc->nord;

	if (!bc->tag)
		return bc->one;
	for (j = 0; j < s->ntags; j++)
		if (s->tags[j].key.n == strlen(bc->tag) &&
		    !memcmp(s->tags[j].key.p, bc->tag, s->tags[j].key.n))
			v = &s->tags[j].val;
	if (!v || !own_unit(v->p, v->n))
		return bc->rest ? &bc->rest->busy : NULL;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *u = bc->ord[mid]->series;
		size_t un = strlen(u);
		int c = memcmp(u, v->p, un < v->n ? un : v->n);

		if (!c)
			c = (un > v->n) - (un < v->n);
		if (!c)
			return &bc->ord[mid]->busy;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* With --chunk-time, the units us->u[first..] of measurement j read only
 * the pieces with points when their span has more than IFX_PRUNE_PIECES
 * (see "pieces without points"). */
static int prune_units(const struct ifx *ix, int j, struct units *us, size_t first,
		       int has_tag, struct ferry_error *err)
{
	struct busy_ctx bc;
	int64_t lo, hi;
	size_t k;
	int rc;

	memset(&bc, 0, sizeof(bc));
	bc.size = ix->o.chunk_ns;
	if (bc.size <= 0 || us->n == first || !span_of(ix, j, &lo, &hi) ||
	    ((__int128)hi - lo) / bc.size <= IFX_PRUNE_PIECES)
		return 0;
	if (!(bc.ord = ferry_calloc(us->n - first, sizeof(*bc.ord))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (k = first; k < us->n; k++) {
		if (us->u[k].rest)
			bc.rest = &us->u[k];
		else
			bc.ord[bc.nord++] = &us->u[k];
	}
	if (bc.nord)
		qsort(bc.ord, bc.nord, sizeof(*bc.ord), unit_ptr_cmp);
	bc.tag = has_tag ? us->tag : NULL;
	bc.one = has_tag ? NULL : &us->u[first].busy;
	rc = busy_query(ix, j, lo, hi, &bc, err);
	for (k = first; k < us->n; k++) {
		busy_settle(&us->u[k].busy);
		us->u[k].pruned = rc == 0;
	}
	ferry_free(bc.ord);
	return rc < 0 ? rc : 0;
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
		if (us->rest > 0) {
			us->u[us->n - 1].est = us->rest;
			us->u[us->n - 1].rest = 1;
		}
	} else {
		if (lp_escape(&key, m->name, strlen(m->name), LP_NAME_MEAS) < 0 ||
		    ferry_buf_addch(&key, ',') < 0 ||
		    unit_add(us, key.buf, key.len, has_tag ? "" : NULL, 0, first) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		us->u[us->n - 1].rest = 1;
		for (k = first; k < us->n; k++)
			us->u[k].est = m->points / (int64_t)(us->n - first) + 1;
	}
	rc = prune_units(ix, j, us, first, has_tag, err);
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
 * time (those with points when it is pruned), newest first. */
static int unit_items(const struct ifx *ix, const struct unit *u, size_t ui,
		      struct item_tmp **items, size_t *n, size_t *cap, struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[u->m];
	const struct ifx_meas *me = &ix->meas[u->m];
	struct pieces pc;
	int64_t lo, hi, size, a, b, *cut = NULL;
	size_t ncut = 0, ccap = 0, k;
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
	if (!u->pruned && ((__int128)hi - lo) / size > IFX_MAX_CHUNKS)
		return ferry_error_set(err, FERRY_EUSAGE,
			"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
			"use a larger chunk size", size, m->name, IFX_MAX_CHUNKS);
	pieces_init(&pc, ix, u->m, lo, hi, size, u->pruned ? &u->busy : NULL);
	while (pieces_next(&pc, &a, &b)) {
		if (FERRY_GROW(cut, ccap, ncut + 2)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		cut[ncut++] = a;   /* the pieces, oldest first */
		cut[ncut++] = b;
	}
	for (k = ncut; k > 0; k -= 2) {
		struct item_tmp *x;

		if (FERRY_GROW(*items, *cap, *n + 1)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		x = &(*items)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->it.measurement = u->mi;
		x->it.t_lo = cut[k - 2];
		x->it.t_hi = cut[k - 1];
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

/* The queries of these units with pieces of big (a multiple of the
 * --chunk-time given): a pruned unit counts the larger pieces its pieces
 * with points fall in, one that is not every piece of its span. */
static __int128 items_at(const struct ifx *ix, const struct units *us, int64_t big)
{
	__int128 total = 0;
	size_t i, b;

	for (i = 0; i < us->n && total <= (__int128)ix->max_queries; i++) {
		const struct unit *u = &us->u[i];
		int64_t lo, hi;

		if (!span_of(ix, u->m, &lo, &hi))
			continue;
		if (!u->pruned) {
			total += ((__int128)hi - lo) / big + 2;
			continue;
		}
		for (b = 0; b < u->busy.n; b++)
			total += !b || val_floor_div(u->busy.t[b], big) != val_floor_div(u->busy.t[b - 1], big);
	}
	return total;
}

/* The smallest --chunk-time that makes at most ix->max_queries queries of
 * these units: of the round ones that are multiples of the one given,
 * else of 2, 4, 8, ... times it; 0 when none does. */
static int64_t larger_chunk(const struct ifx *ix, const struct units *us)
{
	static const int64_t round[] = {
		60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
		2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400, 91 * 86400, 364 * 86400,
		INT64_C(2) * 364 * 86400, INT64_C(5) * 364 * 86400, INT64_C(10) * 364 * 86400,
		INT64_C(50) * 364 * 86400, INT64_C(100) * 364 * 86400, INT64_C(200) * 364 * 86400,
	};
	int64_t size = ix->o.chunk_ns;
	__int128 big;
	size_t i;
	int k;

	for (i = 0; i < sizeof(round) / sizeof(round[0]); i++) {
		big = (__int128)round[i] * 1000000000;
		if (big > size && big % size == 0 && items_at(ix, us, (int64_t)big) <=
		    (__int128)ix->max_queries)
			return (int64_t)big;
	}
	for (k = 1; k < 48 && (big = (__int128)size << k) <= INT64_MAX / 4; k++)
		if (items_at(ix, us, (int64_t)big) <= (__int128)ix->max_queries)
			return (int64_t)big;
	return 0;
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
	if (nitems > ix->max_queries) {
		char now[32] = "?", more[32] = "", how[96];
		int64_t big = ix->o.chunk_ns > 0 ? larger_chunk(ix, &us) : 0;

		if (ix->o.chunk_ns > 0)
			val_format_duration(ix->o.chunk_ns, now, sizeof(now));
		if (big > 0)
			val_format_duration(big, more, sizeof(more));
		snprintf(how, sizeof(how), big > 0 ? "give --chunk-time %s or more, or leave it "
			 "out" : "leave --chunk-time out", more);
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"reading the narrow layout series by series takes %zu queries "
			"(%zu measurement and series pairs, their points cut in pieces of "
			"--chunk-time %s), more "
			"than %zu: %s (pieces of about %d points)", nitems, us.n, now,
			ix->max_queries, how, IFX_TARGET_POINTS);
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
	for (i = 0; i < us.n; i++) {
		ferry_free(us.u[i].series);
		ferry_free(us.u[i].busy.t);
	}
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
	struct busy busy = { NULL, 0, 0 };
	struct pieces pc;
	size_t nck = 0, cap = 0, i;
	int rc = 0, pruned;

	if (ix->o.order_tag)
		return plan_series(ix, sch, out, n, err);
	for (i = 0; i < sch->n; i++) {
		int j = tm_schema_find(&ix->sch, sch->m[i].name, strlen(sch->m[i].name));
		const struct ifx_meas *me;
		int64_t lo, hi, size, t, next, points;

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
		busy.n = 0;
		pruned = 0;
		if (((__int128)hi - lo) / size > IFX_PRUNE_PIECES) {
			struct busy_ctx bc;

			memset(&bc, 0, sizeof(bc));
			bc.size = size;
			bc.one = &busy;
			if ((rc = busy_query(ix, j, lo, hi, &bc, err)) < 0)
				goto out;
			busy_settle(&busy);
			pruned = rc == 0;
			rc = 0;
		}
		if (!pruned && ((__int128)hi - lo) / size > IFX_MAX_CHUNKS) {
			char more[32];

			val_format_duration((int64_t)(((__int128)hi - lo) / IFX_MAX_CHUNKS /
						      IFX_HOUR_NS + 1) * IFX_HOUR_NS, more, sizeof(more));
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
				"give --chunk-time %s or more", size, sch->m[i].name, IFX_MAX_CHUNKS,
				more);
			goto out;
		}
		pieces_init(&pc, ix, j, lo, hi, size, pruned ? &busy : NULL);
		while (pieces_next(&pc, &t, &next)) {
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
			/* pruned: the points spread over the pieces that have them */
			c->est = pruned ? points / (int64_t)busy.n + 1 :
				(int64_t)((__int128)points * (c->t_hi - c->t_lo) /
					  ((__int128)me->last - me->first + 1));
		}
	}
	*out = ck;
	*n = nck;
	ck = NULL;
out:
	ferry_free(busy.t);
	ferry_free(ck);
	return rc;
}
