/*
 * read.c - the InfluxDB source's reader: the points of one chunk, decoded
 * from the streamed answer row by row (or, in series order, from answers
 * taken whole and fetched ahead on a thread, handed on field by field,
 * newest first), to the mapper; values ferry cannot take to rej.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "tsmap/sources/influx/influx_int.h"

static unsigned field_types(const struct tm_measurement *m, const struct lp_str *name)
{
	size_t lo = 0, hi = m->nfields;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *e = m->fields[mid].name;
		size_t en = strlen(e);
		int c = memcmp(name->p, e, name->n < en ? name->n : en);

		if (!c)
			c = name->n < en ? -1 : name->n > en;
		if (!c)
			return m->fields[mid].types;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/*
 * A series read streamed newest first (IFX_FW_STREAM): its first field
 * (bytewise) goes on as its pieces come; the pieces are held, and the
 * other fields go on from them once the series is whole (its next piece
 * is another series', or the answer ends): the order of an answer taken
 * whole, handed on field by field (fw_emit), with PostgreSQL fed from the
 * first piece on instead of once InfluxDB has made the whole answer.  The
 * same points always; the order differs in two cases: InfluxDB sends a
 * unit's several series last first, and a series held past ix->whole_max
 * bytes has its other fields handed on for the pieces held so far, then
 * goes on from there, field by field in parts (the answer taken whole
 * would have been over whole_max too, and read a field at a time).
 */
struct ifx_hold {
	struct ferry_buf meta;    /* name, tag keys and values, column names */
	struct ferry_buf rows;    /* the rows held, newest first */
	struct lp_tag *tags;
	size_t tagcap, ntags;
	struct lp_str *cols;
	size_t colcap, ncols;
	struct lp_str name;
	uint32_t nrows;
	int have;                 /* a series is held (meta is its) */
	size_t bytes;             /* bytes of rows streamed in this read */
	size_t item0;             /* bytes when this item began */
	struct ahead *a;          /* stream_item's: the rows held count in its
				   budget, and it takes over from item next
				   (see hand_over) */
	size_t next, lead_at;
	int led;
};

/*
 * Whether the thread takes over from the item after this one: once the
 * chunk's streamed items reach lead_at, and this item streamed half as
 * much itself (or the chunk twice as much).  The thread fetches the
 * next items whole, and a big answer comes whole only once InfluxDB has
 * made all of it (5.8 MB: 0.2-0.26 s): handed over on a small item with a
 * big one next, the reader waited that long for it while PostgreSQL
 * idled (bench/influx: once a copy, 0.17-0.22 s); handed over inside a big
 * one, the thread makes the next answers while the rest of it streams.
 */
static int hand_over(const struct ifx_hold *h)
{
	return h->bytes >= h->lead_at &&
	       (h->bytes - h->item0 >= h->lead_at / 2 || h->bytes / 2 >= h->lead_at);
}

struct ahead;
static void ahead_held(struct ahead *a, size_t add, size_t sub);
static void ahead_lead(struct ahead *a, size_t lead);

static void hold_free(struct ifx_hold *h)
{
	if (!h)
		return;
	ferry_buf_release(&h->meta);
	ferry_buf_release(&h->rows);
	ferry_free(h->tags);
	ferry_free(h->cols);
	ferry_free(h);
}

void ifx_rd_release(struct rd *r)
{
	hold_free(r->hold);
	r->hold = NULL;
	ferry_free(r->fields);
	ferry_free(r->ctypes);
	ferry_free(r->rows);
	ferry_free(r->order);
	ferry_free(r->rank);
}

static int bad_row(const struct rd *r, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_EIO,
		"invalid answer from InfluxDB at %s: a row of '%s' is malformed", r->ix->where,
		r->m->name);
}

/* Column j's value v as field f: 1, 0 when null, -1 when ferry cannot
 * take it (r->why says why; the caller skips what v holds). */
static int take_cell(struct rd *r, const struct series *s, size_t j, const struct mp_val *v,
		     struct lp_field *f)
{
	const unsigned f_only = TM_TYPE_BIT(LP_FLOAT);
	const unsigned u_only = TM_TYPE_BIT(LP_UINT);

	f->key = s->cols[j];
	switch (v->t) {
	case MP_NIL:
		return 0;
	case MP_FLOAT:
		f->type = LP_FLOAT;
		f->v.f = v->v.f;
		return 1;
	case MP_INT:
		if (r->ctypes[j] == f_only) {        /* typed by the schema */
			f->type = LP_FLOAT;
			f->v.f = (double)v->v.i;
		} else if (r->ctypes[j] == u_only && v->v.i >= 0) {
			f->type = LP_UINT;
			f->v.u = (uint64_t)v->v.i;
		} else {
			f->type = LP_INT;
			f->v.i = v->v.i;
		}
		return 1;
	case MP_UINT:
		f->type = LP_UINT;
		f->v.u = v->v.u;
		return 1;
	case MP_STR:
		f->type = LP_STRING;
		f->v.s.p = v->s;
		f->v.s.n = v->len;
		return 1;
	case MP_BOOL:
		f->type = LP_BOOL;
		f->v.b = v->v.b;
		return 1;
	default:
		if (!r->why[0])
			snprintf(r->why, sizeof(r->why),
				 "field '%.*s' has a value InfluxDB sent as MessagePack type %d",
				 (int)f->key.n, f->key.p, (int)v->t);
		return -1;
	}
}

/* The start of a row: its array header and time.  A time that is not an
 * integer sets r->why. */
static int row_head(struct rd *r, const struct series *s, const unsigned char **pp, int64_t *t,
		    struct ferry_error *err)
{
	struct mp_val v;

	if (mp_next(pp, s->vend, &v) || v.t != MP_ARRAY || v.v.n != s->ncols ||
	    mp_next(pp, s->vend, &v))
		return bad_row(r, err);
	*t = v.v.i;
	if (v.t != MP_INT) {
		*t = 0;
		snprintf(r->why, sizeof(r->why), "time of a point of measurement '%s' is not an integer",
			 r->m->name);
	}
	return 0;
}

static int time_in_range(const struct rd *r, int64_t t, struct ferry_error *err)
{
	if (!r->why[0] && (t < r->lo || t >= r->hi))
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: a point at %" PRId64
			" outside the range asked for", r->ix->where, t);
	return 0;
}

/*
 * Decode the row at *pp: its time into *t, its non-null fields into
 * r->fields[0..*nf).  A value ferry cannot take sets r->why (the row is
 * rejected whole); a row that is not MessagePack is an error.
 */
static int decode_row(struct rd *r, const struct series *s, const unsigned char **pp,
		      int64_t *t, size_t *nf, struct ferry_error *err)
{
	struct mp_val v;
	size_t j;
	int rc;

	r->why[0] = 0;
	*nf = 0;
	if ((rc = row_head(r, s, pp, t, err)) < 0)
		return rc;
	for (j = 1; j < s->ncols; j++) {
		const unsigned char *at = *pp;
		int k;

		if (mp_next(pp, s->vend, &v))
			return bad_row(r, err);
		k = take_cell(r, s, j, &v, &r->fields[*nf]);
		if (k > 0) {
			(*nf)++;
		} else if (k < 0) {
			*pp = at;
			if (mp_skip(pp, s->vend))
				return bad_row(r, err);
		}
	}
	if (!r->why[0] && *nf == 0)
		snprintf(r->why, sizeof(r->why), "point of measurement '%s' has no field values",
			 r->m->name);
	return time_in_range(r, *t, err);
}

/* Hand one point (nf fields from f; again: more fields of a point handed
 * on before, see tm_point) or one reject on. */
static int emit(struct rd *r, const struct series *s, const unsigned char *start,
		const unsigned char *end, int64_t t, const struct lp_field *f, size_t nf,
		int again, struct ferry_error *err)
{
	struct tm_point pt;
	int rc;

	if (r->why[0]) {
		rc = r->rej ? r->rej(r->ud, r->key, r->why, start, (size_t)(end - start), err) :
			ferry_error_set(err, FERRY_EREJECT, "%s", r->why);
	} else {
		pt.measurement = s->name;
		pt.tags = s->tags;
		pt.ntags = s->ntags;
		pt.fields = f;
		pt.nfields = nf;
		pt.time_ns = t;
		pt.key = r->key;
		pt.file = NULL;
		pt.series_id = s->id;
		pt.again = again;
		rc = r->fn(&pt, r->ud, err);
	}
	if (rc) {
		if (rc > 0 || (err && !err->code))
			rc = ferry_error_set(err, rc < 0 ? rc : FERRY_EABORT, "read stopped");
		return rc;
	}
	r->key++;
	return 0;
}

static int col_cmp(const struct series *s, int a, int b)
{
	const struct lp_str *x = &s->cols[a], *y = &s->cols[b];
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* Where each row of s starts (r->rows[0..nrows]) and its field columns,
 * bytewise by name (r->order[0..*nord), r->rank, r->in_order). */
static int fw_index(struct rd *r, const struct series *s, size_t *nord,
		    struct ferry_error *err)
{
	const unsigned char *p = s->values;
	size_t k, i, n = 0;
	uint32_t row;

	/* every row takes a byte at least: a count beyond that is not real */
	if ((size_t)s->nrows > (size_t)(s->vend - s->values))
		return bad_row(r, err);
	if (FERRY_GROW(r->rows, r->rcap, (size_t)s->nrows + 1) ||
	    FERRY_GROW(r->order, r->ocap, s->ncols) || FERRY_GROW(r->rank, r->rkcap, s->ncols))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (row = 0; row < s->nrows; row++) {
		r->rows[row] = p;
		if (mp_skip(&p, s->vend))
			return bad_row(r, err);
	}
	r->rows[s->nrows] = p;
	for (k = 1; k < s->ncols; k++) {   /* insertion sort: a few columns */
		for (i = n; i > 0 && col_cmp(s, r->order[i - 1], (int)k) > 0; i--)
			r->order[i] = r->order[i - 1];
		r->order[i] = (int)k;
		n++;
	}
	r->in_order = 1;
	for (i = 0; i < n; i++) {
		r->rank[r->order[i]] = (int)i;
		r->in_order &= r->order[i] == (int)i + 1;
	}
	*nord = n;
	return 0;
}

/* Whether the value at p is one take_cell() hands on as a field. */
static int cell_taken(const unsigned char *p, const unsigned char *end)
{
	struct mp_val v;

	if (mp_next(&p, end, &v))
		return 0;
	return v.t == MP_BOOL || v.t == MP_INT || v.t == MP_UINT || v.t == MP_FLOAT ||
	       v.t == MP_STR;
}

/*
 * Fieldwise: fields r->order[k0..k1) of s (fw_index first), each newest
 * first (s's rows come newest first when desc, else oldest first): the
 * order of the narrow layout's (series, measurement, field, time desc)
 * index.  A value ferry cannot take, or a row whose time is not an
 * integer, is rejected field by field, as the query per field of
 * read_items' fallback rejects it.  A row's fields go on in that order
 * whatever k0 (IFX_FW_STREAM hands the first on before the others): a
 * field is again (struct tm_point) when one before it in order was
 * handed on, so a point is counted once.
 */
static int fw_emit(struct rd *r, const struct series *s, size_t k0, size_t k1, int desc,
		   struct ferry_error *err)
{
	size_t k, j;
	uint32_t i;
	int rc;

	for (k = k0; k < k1; k++)
		for (i = 0; i < s->nrows; i++) {
			uint32_t row = desc ? i : s->nrows - 1 - i;
			const unsigned char *q = r->rows[row], *at;
			struct mp_val v;
			int64_t t;
			int got, again = 0;

			r->why[0] = 0;
			if ((rc = row_head(r, s, &q, &t, err)) < 0)
				return rc;
			for (j = 1; j < (size_t)r->order[k]; j++) {
				if (!again && r->rank[j] < (int)k)
					again = cell_taken(q, s->vend);
				if (mp_skip(&q, s->vend))
					return bad_row(r, err);
			}
			at = q;
			if (mp_next(&q, s->vend, &v))
				return bad_row(r, err);
			if ((got = take_cell(r, s, (size_t)r->order[k], &v, &r->fields[0])) == 0)
				continue;
			if (got < 0 && (q = at, mp_skip(&q, s->vend)))
				return bad_row(r, err);
			/* when the columns do not come bytewise, a field before
			 * this one in order may come after it in the row */
			for (j = (size_t)r->order[k] + 1; !r->in_order && !again && j < s->ncols; j++) {
				if (r->rank[j] < (int)k)
					again = cell_taken(q, s->vend);
				if (mp_skip(&q, s->vend))
					return bad_row(r, err);
			}
			if ((rc = time_in_range(r, t, err)) < 0 ||
			    (rc = emit(r, s, r->rows[row], r->rows[row + 1], t, r->fields, 1, again,
				       err)) < 0)
				return rc;
		}
	return 0;
}

/* s is r->m's, with a time column: room for its cells, its column types. */
static int rd_prelude(struct rd *r, const struct series *s, struct ferry_error *err)
{
	size_t j;

	if (s->name.n != strlen(r->m->name) || memcmp(s->name.p, r->m->name, s->name.n) ||
	    s->ncols < 1 || s->cols[0].n != 4 || memcmp(s->cols[0].p, "time", 4))
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: a series of '%.*s' without a time column",
			r->ix->where, (int)s->name.n, s->name.p);
	if (FERRY_GROW(r->fields, r->fcap, s->ncols) ||
	    FERRY_GROW(r->ctypes, r->ccap, s->ncols))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (j = 1; j < s->ncols; j++)
		r->ctypes[j] = field_types(r->m, &s->cols[j]);
	return 0;
}

static int str_eq(const struct lp_str *a, const struct lp_str *b)
{
	return a->n == b->n && !memcmp(a->p, b->p, a->n);
}

/* Whether s is a piece of the series h holds.  Its tags may come in
 * another order (InfluxDB's MessagePack writes a Go map as it iterates). */
static int hold_same(const struct ifx_hold *h, const struct series *s)
{
	size_t i, j;

	if (!str_eq(&h->name, &s->name) || h->ntags != s->ntags || h->ncols != s->ncols)
		return 0;
	for (i = 0; i < s->ntags; i++) {
		for (j = 0; j < h->ntags && !str_eq(&h->tags[j].key, &s->tags[i].key); j++)
			;
		if (j == h->ntags || !str_eq(&h->tags[j].val, &s->tags[i].val))
			return 0;
	}
	for (i = 0; i < s->ncols; i++)
		if (!str_eq(&h->cols[i], &s->cols[i]))
			return 0;
	return 1;
}

/* h holds s's name, tags and columns (own copies), no rows yet. */
static int hold_start(struct ifx_hold *h, const struct series *s)
{
	size_t i, off;
	int rc = 0;

	ferry_buf_clear(&h->meta);
	ferry_buf_clear(&h->rows);
	h->nrows = 0;
	if (FERRY_GROW(h->tags, h->tagcap, s->ntags + 1) ||
	    FERRY_GROW(h->cols, h->colcap, s->ncols + 1))
		return FERRY_ENOMEM;
	rc = ferry_buf_add(&h->meta, s->name.p, s->name.n);
	for (i = 0; rc == 0 && i < s->ntags; i++)
		if ((rc = ferry_buf_add(&h->meta, s->tags[i].key.p, s->tags[i].key.n)) == 0)
			rc = ferry_buf_add(&h->meta, s->tags[i].val.p, s->tags[i].val.n);
	for (i = 0; rc == 0 && i < s->ncols; i++)
		rc = ferry_buf_add(&h->meta, s->cols[i].p, s->cols[i].n);
	if (rc < 0)
		return rc;
	/* pointers once meta stops moving */
	h->name.p = h->meta.buf;
	h->name.n = s->name.n;
	off = s->name.n;
	for (i = 0; i < s->ntags; i++) {
		h->tags[i].key.p = h->meta.buf + off;
		h->tags[i].key.n = s->tags[i].key.n;
		off += s->tags[i].key.n;
		h->tags[i].val.p = h->meta.buf + off;
		h->tags[i].val.n = s->tags[i].val.n;
		off += s->tags[i].val.n;
	}
	for (i = 0; i < s->ncols; i++) {
		h->cols[i].p = h->meta.buf + off;
		h->cols[i].n = s->cols[i].n;
		off += s->cols[i].n;
	}
	h->ntags = s->ntags;
	h->ncols = s->ncols;
	h->have = 1;
	return 0;
}

/* The fields after the first of the rows held; the series stays held
 * unless done. */
static int hold_flush(struct rd *r, int done, struct ferry_error *err)
{
	struct ifx_hold *h = r->hold;
	struct series hs;
	size_t nord;
	int rc = 0;

	if (!h || !h->have)
		return 0;
	if (h->nrows) {
		memset(&hs, 0, sizeof(hs));
		hs.name = h->name;
		hs.tags = h->tags;
		hs.ntags = h->ntags;
		hs.cols = h->cols;
		hs.ncols = h->ncols;
		hs.values = (const unsigned char *)h->rows.buf;
		hs.vend = hs.values + h->rows.len;
		hs.nrows = h->nrows;
		if ((rc = rd_prelude(r, &hs, err)) == 0 && (rc = fw_index(r, &hs, &nord, err)) == 0)
			rc = fw_emit(r, &hs, 1, nord, 1, err);
	}
	if (h->a)
		ahead_held(h->a, 0, h->rows.len);
	ferry_buf_clear(&h->rows);
	h->nrows = 0;
	if (done)
		h->have = 0;
	return rc;
}

int ifx_rd_flush(struct rd *r, struct ferry_error *err)
{
	return hold_flush(r, 1, err);
}

/* IFX_FW_STREAM: a piece of a series, newest first (struct ifx_hold). */
static int rd_streamed(struct rd *r, const struct series *s, struct ferry_error *err)
{
	struct ifx_hold *h = r->hold;
	size_t nord, n = (size_t)(s->vend - s->values);
	int rc;

	if (!h && !(h = r->hold = ferry_calloc(1, sizeof(*h))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (h->have && !hold_same(h, s) && (rc = hold_flush(r, 1, err)) < 0)
		return rc;
	if ((rc = rd_prelude(r, s, err)) < 0 || (rc = fw_index(r, s, &nord, err)) < 0 ||
	    (rc = fw_emit(r, s, 0, nord ? 1 : 0, 1, err)) < 0)
		return rc;
	if (nord > 1 && s->nrows) {
		if (!h->have && hold_start(h, s) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (ferry_buf_add(&h->rows, s->values, n) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (h->a)
			ahead_held(h->a, n, 0);
		h->nrows += s->nrows;
		if (h->rows.len >= r->ix->whole_max && (rc = hold_flush(r, 0, err)) < 0)
			return rc;
	}
	h->bytes += n;
	if (h->a && !h->led && hand_over(h)) {
		ahead_lead(h->a, h->next);
		h->led = 1;
	}
	return 0;
}

int ifx_rd_series(void *ud, const struct series *s, struct ferry_error *err)
{
	struct rd *r = ud;
	const unsigned char *p = s->values;
	uint32_t row;
	size_t nf, nord;
	int64_t t;
	int rc;

	if (r->fieldwise == IFX_FW_STREAM)
		return rd_streamed(r, s, err);
	if ((rc = rd_prelude(r, s, err)) < 0)
		return rc;
	if (r->fieldwise) {
		if ((rc = fw_index(r, s, &nord, err)) < 0)
			return rc;
		return fw_emit(r, s, 0, nord, 0, err);
	}
	for (row = 0; row < s->nrows; row++) {
		const unsigned char *start = p;

		/* a row is a whole point; in read_items' fallback (a query
		 * per field) it holds one field, and no answer tells whether
		 * another field's query handed its point on: counted once a
		 * field there (the nanosecond note counts over, never under) */
		if ((rc = decode_row(r, s, &p, &t, &nf, err)) < 0 ||
		    (rc = emit(r, s, start, p, t, r->fields, nf, 0, err)) < 0)
			return rc;
	}
	return 0;
}

/*
 * The query for the points of measurement m in [lo, hi) (clipped to
 * --start/--end: *clo, *chi), every field or only field f (>= 0), only the
 * series that match where (may be NULL), oldest first or newest first
 * (desc); ctx for its errors.  0 when the range is empty, 1 when built.
 */
static int range_query(const struct ifx *ix, const struct tm_measurement *m, int f,
		       const char *where, int64_t lo, int64_t hi, int desc, struct ferry_buf *q,
		       struct ferry_buf *ctx, int64_t *clo, int64_t *chi)
{
	char a[48], b[48];
	int rc;

	if (ix->o.has_start && ix->o.start_ns > lo)
		lo = ix->o.start_ns;
	if (ix->o.has_end && ix->o.end_ns < hi)
		hi = ix->o.end_ns;
	*clo = lo;
	*chi = hi;
	if (lo >= hi)
		return 0;
	val_format_timestamp(a, sizeof(a), lo, IFX_TS_FLAGS, "Z");
	val_format_timestamp(b, sizeof(b), hi, IFX_TS_FLAGS, "Z");
	ferry_buf_clear(q);
	ferry_buf_clear(ctx);
	rc = ferry_buf_addstr(q, "SELECT ");
	if (rc == 0 && f >= 0) {
		rc = ifx_add_ident(q, m->fields[f].name, strlen(m->fields[f].name));
		if (rc == 0)
			rc = ferry_buf_addstr(q, "::field");
	} else if (rc == 0) {
		rc = ferry_buf_addch(q, '*');
	}
	if (rc == 0)
		rc = ferry_buf_addstr(q, " FROM ");
	if (rc == 0)
		rc = ifx_add_meas(q, ix, m->name);
	if (rc == 0)
		rc = ferry_buf_addstr(q, " WHERE ");
	if (rc == 0 && where)
		rc = ferry_buf_addf(q, "(%s) AND ", where);
	if (rc == 0)
		rc = ferry_buf_addf(q, "time >= %" PRId64 " AND time < %" PRId64 " GROUP BY *%s",
				    lo, hi, desc ? " ORDER BY time DESC" : "");
	if (rc == 0)
		rc = ferry_buf_addf(ctx, "cannot read measurement '%s' from %s to %s", m->name, a, b);
	if (rc == 0 && f >= 0)
		rc = ferry_buf_addf(ctx, ", field '%s'", m->fields[f].name);
	if (rc == 0 && where)
		rc = ferry_buf_addf(ctx, ", series %s", where);
	return rc < 0 ? rc : 1;
}

/* One streamed query (see range_query) to r. */
static int ifx_read_range(struct rd *r, const struct tm_measurement *m, int f, const char *where,
		      int64_t lo, int64_t hi, int desc, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT, ctx = FERRY_BUF_INIT;
	int rc;

	r->m = m;
	rc = range_query(r->ix, m, f, where, lo, hi, desc, &q, &ctx, &r->lo, &r->hi);
	if (rc < 0)
		rc = ferry_error_set(err, rc, "out of memory");
	else if (rc > 0)
		rc = ifx_query(r->ix, q.buf, 0, ifx_rd_series, r, ctx.buf, NULL, err);
	ferry_buf_release(&q);
	ferry_buf_release(&ctx);
	return rc;
}

/*
 * A whole answer, fetched ahead of the reader (see struct ahead).
 */
struct fetch {
	const struct ifx *ix;
	struct ferry_buf q, ctx, raw;
	int64_t lo, hi;
	int empty;            /* nothing to ask: the range is empty */
	int too_big;          /* over ix->whole_max, or cut by the server */
	size_t bytes;         /* raw's length as fetched (parsing consumes raw) */
	int rc;
	struct ferry_error err;
};

static void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	ferry_buf_release(&f->q);
	ferry_buf_release(&f->ctx);
	ferry_buf_release(&f->raw);
	ferry_free(f);
}

/* The answer of item it, fetched whole; NULL when out of memory.  An
 * error is the fetch's (rc, err), for the reader to report in turn. */
static struct fetch *fetch_item(const struct ifx *ix, const struct tm_item *it,
				const struct tm_measurement *m)
{
	struct fetch *f = ferry_calloc(1, sizeof(*f));
	int rc;

	if (!f)
		return NULL;
	f->ix = ix;
	ferry_buf_init(&f->q, 0);
	ferry_buf_init(&f->ctx, 0);
	ferry_buf_init(&f->raw, 0);
	rc = range_query(ix, m, -1, it->where, it->t_lo, it->t_hi, 0, &f->q, &f->ctx, &f->lo,
			 &f->hi);
	if (rc < 0) {
		fetch_free(f);
		return NULL;
	}
	f->empty = rc == 0;
	if (f->empty)
		return f;
	f->rc = ifx_query(ix, f->q.buf, ix->whole_max, NULL, NULL, NULL, &f->raw, &f->err);
	if (f->rc == FERRY_ETOOBIG) {
		ferry_error_clear(&f->err);
		f->rc = 0;
		f->too_big = 1;
		ferry_buf_release(&f->raw);   /* read again field by field */
	} else if (f->rc == 0) {
		f->too_big = ifx_answer_cut(&f->raw);
	}
	f->bytes = f->raw.len;
	return f;
}

/* Hand f's points to r field by field: 0, a negative FERRY_E*, or 1 when
 * the answer was too big (nothing handed on). */
static int fetch_hand(struct fetch *f, struct rd *r, const struct tm_measurement *m,
		      struct ferry_error *err)
{
	int rc;

	if (f->empty)
		return 0;
	if (f->rc < 0) {
		if (err) {
			*err = f->err;
			ferry_error_prefix(err, "%s", f->ctx.buf);
		}
		return f->rc;
	}
	if (f->too_big)
		return 1;
	r->m = m;
	r->lo = f->lo;
	r->hi = f->hi;
	r->fieldwise = IFX_FW_WHOLE;
	rc = ifx_parse(f->ix, &f->raw, ifx_rd_series, r, err);
	r->fieldwise = 0;
	if (rc < 0 && err)
		ferry_error_prefix(err, "%s", f->ctx.buf);
	return rc;
}

/*
 * The answers of a chunk's items, fetched in order on a thread of their
 * own while the reader hands the points of earlier ones on.  It fetches
 * the item after the reader's always, and further ones while the answers
 * fetched and not yet freed (the reader's own included) hold less than
 * ix->ahead_max bytes: a small item followed by a big one would otherwise
 * leave the big one no time.  Measured on bench/influx (2M points): the
 * reader waited 0.2-0.3 s for each of the 5.8 MB answers, which
 * PostgreSQL felt as 0.1-0.3 s stalls, 1.6 s in all, when only the next
 * one was fetched; 0.85 s in all with 8 MiB ahead.  Memory: at most
 * ahead_max plus one answer (whole_max), or two answers.
 *
 * Once it has the chunk's last answer, the thread fetches the first item
 * of the chunk the copy will likely read next on this handle
 * (tm_source_ops.next_chunk), by the rule of an item after the chunk's
 * last, and leaves it in ix->carry: the next chunk then starts with its
 * first answer at hand instead of PostgreSQL waiting for it after each
 * commit (4 stalls of 0.03-0.09 s on bench/influx).  The carry stands
 * only if the next read's first query is the same text (carry_fits);
 * else it is dropped.  The reader joins the thread, so a carry still
 * being fetched when the chunk's last point is handed on delays that
 * chunk's commit by the rest of its fetch: the gain is the part fetched
 * while the reader handed on the last item.
 */
struct ahead {
	const struct ifx *ix;
	const struct tm_schema *sch;
	const struct tm_chunk *ck;
	const size_t *todo;
	size_t n;
	struct fetch **got;   /* got[i]: item todo[i]'s answer, once i < fetched */
	size_t fetched;       /* items fetched (or failed), in order */
	size_t at;            /* the item the reader is on */
	size_t held;          /* bytes of answers fetched and not freed */
	size_t start;         /* got[0..start) came with the chunk (a carry) */
	size_t lead;          /* items before it the reader streams itself;
				 SIZE_MAX: not known yet (the thread waits) */
	const struct tm_item *carry_it;  /* the next chunk's first item, or NULL */
	struct fetch *carry;  /* its answer, once fetched (whole, without error) */
	int stop;             /* the reader is done: fetch no more items */
	int abandon;          /* with stop: the read failed, fetch no carry */
	int done;             /* the thread has stopped */
	pthread_mutex_t mu;
	pthread_cond_t cv;
};

static void *ahead_main(void *arg)
{
	struct ahead *a = arg;
	size_t j, j0;
	int stop = 0, failed = 0;

	pthread_mutex_lock(&a->mu);
	while (!a->stop && a->lead == SIZE_MAX)
		pthread_cond_wait(&a->cv, &a->mu);
	j0 = a->lead == SIZE_MAX ? a->n : a->lead;
	stop = a->lead == SIZE_MAX;   /* the reader stopped before handing over */
	pthread_mutex_unlock(&a->mu);
	for (j = j0; !stop && j < a->n; j++) {
		const struct tm_item *it = &a->ck->items[a->todo[j]];
		struct fetch *f;

		pthread_mutex_lock(&a->mu);
		while (!a->stop && j > a->at + 1 && a->held >= a->ix->ahead_max)
			pthread_cond_wait(&a->cv, &a->mu);
		stop = a->stop;
		pthread_mutex_unlock(&a->mu);
		if (stop)
			break;
		f = fetch_item(a->ix, it, &a->sch->m[it->measurement]);
		/* read before it is handed over: the reader frees it */
		failed = !f || f->rc < 0;
		pthread_mutex_lock(&a->mu);
		a->got[j] = f;
		a->fetched = j + 1;
		if (f)
			a->held += f->bytes;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
		if (failed)
			break;   /* the reader reports it when it gets there */
	}
	/* every item fetched (a reader done early has failed): the carry */
	if (!stop && !failed && a->carry_it) {
		struct fetch *f;
		int skip;

		/* as an item after the last: the next one once the reader is on
		 * the last, before that only within the budget; fetched after
		 * the reader is done too (it joins this thread, and the next
		 * chunk needs the answer anyway), unless its read failed */
		pthread_mutex_lock(&a->mu);
		while (!a->stop && a->n > a->at + 1 && a->held >= a->ix->ahead_max)
			pthread_cond_wait(&a->cv, &a->mu);
		skip = a->abandon;
		pthread_mutex_unlock(&a->mu);
		f = skip ? NULL : fetch_item(a->ix, a->carry_it, &a->sch->m[a->carry_it->measurement]);
		if (f && (f->rc < 0 || f->empty || f->too_big)) {
			fetch_free(f);   /* the next read fetches it again, and says why */
			f = NULL;
		}
		pthread_mutex_lock(&a->mu);
		a->carry = f;
		pthread_mutex_unlock(&a->mu);
	}
	pthread_mutex_lock(&a->mu);
	a->done = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

/* The reader hands the items from lead on to the thread. */
static void ahead_lead(struct ahead *a, size_t lead)
{
	pthread_mutex_lock(&a->mu);
	if (a->lead == SIZE_MAX)
		a->lead = lead;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/* The rows the reader holds (struct ifx_hold) count in the budget. */
static void ahead_held(struct ahead *a, size_t add, size_t sub)
{
	pthread_mutex_lock(&a->mu);
	a->held += add;
	a->held -= sub;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

/*
 * Item i streamed by the reader: a chunk's items from the first (or the
 * one after its carry) until they have streamed ahead_max / 4 bytes and
 * one of them is big, or twice that (hand_over), from when the thread
 * takes over with the next item (or the last item: the thread then
 * fetches the carry meanwhile); the rows held (struct ifx_hold) count in
 * the thread's budget.  Without a thread (one item, and no next chunk to
 * fetch for), every item streams.  Its points go on as they come, newest
 * first, field by field.  A chunk's first answers were otherwise waited for whole
 * while PostgreSQL sat idle: the first one 0.2-0.3 s on bench/influx (a
 * 5.8 MB answer InfluxDB makes whole before it sends a byte, after three
 * small ones), and a big one after a small carry 0.05-0.17 s at two
 * chunks of five; sampled every 2.5 ms, the COPY backend's idle time
 * 0.40-0.60 s -> 0.20-0.29 s.
 */
static int stream_item(struct ahead *a, int threaded, struct rd *r, size_t i,
		       const struct tm_item *it, const struct tm_measurement *m,
		       struct ferry_error *err)
{
	struct ifx_hold *h;
	int rc;

	if (!r->hold && !(r->hold = ferry_calloc(1, sizeof(*r->hold))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	h = r->hold;
	h->have = 0;          /* h->bytes counts on over the chunk's items */
	h->item0 = h->bytes;
	h->a = threaded ? a : NULL;   /* without a thread, every item streams */
	h->next = i + 1;
	h->lead_at = a->ix->ahead_max / 4;
	h->led = 0;
	if (threaded) {
		pthread_mutex_lock(&a->mu);
		a->at = i;    /* the item after it goes ahead whatever the budget */
		pthread_mutex_unlock(&a->mu);
	}
	r->fieldwise = IFX_FW_STREAM;
	rc = ifx_read_range(r, m, -1, it->where, it->t_lo, it->t_hi, 1, err);
	if (rc == 0)
		rc = ifx_rd_flush(r, err);
	r->fieldwise = 0;
	if (h->a)
		ahead_held(a, 0, h->rows.len);   /* what a failed read left */
	ferry_buf_clear(&h->rows);
	h->nrows = 0;
	h->have = 0;
	h->a = NULL;
	return rc;
}

/* Item i's answer (the caller frees it with ahead_free_one): from the
 * thread, or, when there is none (threaded == 0), the carry (without a
 * thread every other item streams); NULL when out of memory. */
static struct fetch *ahead_take(struct ahead *a, size_t i, int threaded)
{
	struct fetch *f;

	if (!threaded) {
		f = a->got[i];
		a->got[i] = NULL;
		return f;
	}
	pthread_mutex_lock(&a->mu);
	a->at = i;
	pthread_cond_broadcast(&a->cv);
	while (a->fetched <= i && !a->done)
		pthread_cond_wait(&a->cv, &a->mu);
	f = i < a->fetched ? a->got[i] : NULL;
	a->got[i] = NULL;
	pthread_mutex_unlock(&a->mu);
	return f;
}

static void ahead_free_one(struct ahead *a, struct fetch *f, int threaded)
{
	if (f && threaded) {
		pthread_mutex_lock(&a->mu);
		a->held -= f->bytes;
		pthread_cond_broadcast(&a->cv);
		pthread_mutex_unlock(&a->mu);
	}
	fetch_free(f);
}

/* Whether c, fetched ahead while the chunk before was read, is the
 * answer of item it: the same query text. */
static int carry_fits(const struct ifx *ix, const struct fetch *c, const struct tm_item *it,
		      const struct tm_measurement *m)
{
	struct ferry_buf q = FERRY_BUF_INIT, ctx = FERRY_BUF_INIT;
	int64_t lo, hi;
	int fits = range_query(ix, m, -1, it->where, it->t_lo, it->t_hi, 0, &q, &ctx, &lo,
			       &hi) == 1 && q.len == c->q.len && !memcmp(q.buf, c->q.buf, q.len);

	ferry_buf_release(&q);
	ferry_buf_release(&ctx);
	return fits;
}

/*
 * The items of a chunk in series order.  Each asks for every field of its
 * unit and piece in one answer (cheaper for InfluxDB than a query per
 * field) and hands the points on field by field, newest first: the first
 * items streamed (stream_item), later items' answers fetched whole
 * meanwhile (struct ahead).  An answer taken whole over ix->whole_max, or
 * one the server cut, is read again a field at a time, streamed, newest
 * first, with the same points and rejects.  A unit of several series
 * gives them last first when streamed (InfluxDB's order for ORDER BY time
 * DESC), first first when taken whole: the same rows either way, in the
 * order of the narrow layout's second index but for the series of such a
 * unit when streamed.  Which items stream depends on the carry and on
 * the answers' sizes, so such a unit may come in either order from one
 * read of a chunk to the next: the same rows, its rejects under other
 * keys.  The first answer may be ix->carry (taken either way); next
 * (NULL: none) is the chunk whose first answer is fetched last and left
 * in ix->carry when the read succeeds.
 */
static int read_items(struct ifx *ix, struct rd *r, const struct tm_schema *sch,
		      const struct tm_chunk *ck, const struct tm_chunk *next, int only,
		      struct ferry_error *err)
{
	struct ahead a;
	size_t *todo = NULL, n = 0, i;
	pthread_t th;
	int rc = 0, threaded = 0;

	memset(&a, 0, sizeof(a));
	for (i = 0; i < ck->nitems; i++)
		if (ck->items[i].measurement < 0 || (size_t)ck->items[i].measurement >= sch->n)
			return ferry_error_set(err, FERRY_EINVAL,
				"chunk names measurement %d of %zu: run discover and plan first",
				ck->items[i].measurement, sch->n);
	if (!(todo = ferry_calloc(ck->nitems + 1, sizeof(*todo))) ||
	    !(a.got = ferry_calloc(ck->nitems + 1, sizeof(*a.got)))) {
		ferry_free(todo);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	for (i = 0; i < ck->nitems; i++)
		if (only < 0 || ck->items[i].measurement == only)
			todo[n++] = i;
	a.ix = ix;
	a.sch = sch;
	a.ck = ck;
	a.todo = todo;
	a.n = n;
	a.lead = SIZE_MAX;
	if (ix->carry) {
		const struct tm_item *it0 = n ? &ck->items[todo[0]] : NULL;

		if (it0 && carry_fits(ix, ix->carry, it0, &sch->m[it0->measurement])) {
			a.got[0] = ix->carry;
			a.held = ix->carry->bytes;
			a.fetched = a.start = 1;
			ferry_debug("influx: the chunk's first answer was fetched ahead");
		} else {
			fetch_free(ix->carry);
		}
		ix->carry = NULL;
	}
	if (only < 0 && next && next->nitems && next->items[0].measurement >= 0 &&
	    (size_t)next->items[0].measurement < sch->n)
		a.carry_it = &next->items[0];
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	/* a thread for items after the reader's, or for the carry alone */
	if ((n > a.start + 1 || (n > 0 && a.carry_it)) &&
	    pthread_create(&th, NULL, ahead_main, &a) == 0)
		threaded = 1;
	for (i = 0; i < n && rc == 0; i++) {
		const struct tm_item *it = &ck->items[todo[i]];
		const struct tm_measurement *m = &sch->m[it->measurement];
		struct fetch *f;
		int k;

		/* on the last item at the latest, the thread takes over: it
		 * fetches the carry meanwhile */
		if (threaded && i + 1 == n)
			ahead_lead(&a, n);
		if (i >= a.start && i < a.lead) {   /* only the reader sets lead */
			rc = stream_item(&a, threaded, r, i, it, m, err);
			continue;
		}
		if (!(f = ahead_take(&a, i, threaded))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			break;
		}
		rc = fetch_hand(f, r, m, err);
		ahead_free_one(&a, f, threaded);
		if (rc == 1)
			for (rc = 0, k = 0; k < (int)m->nfields && rc == 0; k++)
				rc = ifx_read_range(r, m, k, it->where, it->t_lo, it->t_hi, 1, err);
	}
	if (threaded) {
		pthread_mutex_lock(&a.mu);
		a.stop = 1;
		a.abandon = rc != 0;
		pthread_cond_broadcast(&a.cv);
		pthread_mutex_unlock(&a.mu);
		pthread_join(th, NULL);
	}
	if (rc == 0)
		ix->carry = a.carry;
	else
		fetch_free(a.carry);
	for (i = 0; i < n; i++)
		fetch_free(a.got[i]);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
	ferry_free(a.got);
	ferry_free(todo);
	return rc;
}

int ifx_read(void *s, const struct tm_schema *shared, const struct tm_chunk *ck,
	     int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
	     struct ferry_error *err)
{
	struct ifx *ix = s;
	/* a connection that did not discover (a copy worker) reads by the
	 * schema of the one that did */
	const struct tm_schema *sch = ix->sch.n || !shared ? &ix->sch : shared;
	const struct tm_chunk *next = ix->next_ck;   /* for this read only */
	struct rd r;
	int rc = 0;

	ix->next_ck = NULL;
	memset(&r, 0, sizeof(r));
	r.ix = ix;
	r.fn = fn;
	r.rej = rej;
	r.ud = ud;
	if (ck->nitems) {
		rc = read_items(ix, &r, sch, ck, next, only, err);
		goto out;
	}
	if (only >= 0 && only != ck->measurement)
		return 0;
	if (ck->measurement < 0 || (size_t)ck->measurement >= sch->n)
		return ferry_error_set(err, FERRY_EINVAL,
			"chunk names measurement %d of %zu: run discover and plan first",
			ck->measurement, sch->n);
	rc = ifx_read_range(&r, &sch->m[ck->measurement], -1, NULL,
			ck->has_time ? ck->t_lo : INT64_MIN, ck->has_time ? ck->t_hi : INT64_MAX, 0,
			err);
out:
	ifx_rd_release(&r);
	return rc;
}

void ifx_next_chunk(void *s, const struct tm_chunk *ck)
{
	((struct ifx *)s)->next_ck = ck;
}

void ifx_carry_free(struct ifx *ix)
{
	fetch_free(ix->carry);
	ix->carry = NULL;
}
