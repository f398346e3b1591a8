/*
 * verify.c - ferry verify: compare a source and a target chunk by chunk.
 *
 *   plan (the copy plan, built against the target catalog, as
 *         `ferry copy --data-only` would map columns)
 *     -> chunks (rowid ranges of --chunk-rows source rows; the same key
 *        ranges on the target's key column; the first and last chunk are
 *        open-ended so target rows outside the source's key span count)
 *     -> workers (--jobs), each with its own source and target
 *        connection; per chunk the target is read on a second thread
 *        while the worker reads and transforms the source
 *     -> per side: row count, sum and xor of XXH3 row hashes (canon.c)
 *     -> a differing chunk is merged by key to name its first differing
 *        row, which is read again on both sides to name the column.
 *
 * Source rows the copy transform rejects are not in the target by design:
 * they are left out of the source digest and counted as rejected.
 * Tables without a rowid alias (WITHOUT ROWID, or no INTEGER PRIMARY
 * KEY) and time-series tables are one chunk, compared as multisets of row
 * hashes: a first read keeps only the sums, in VF_BUCKETS buckets by the
 * hashes' top bits; when they differ, a second read keeps the rows of the
 * first differing bucket to name one.  So memory stays flat however many
 * rows the table has (it was 32 bytes a row: 194 MB for 5.6M rows).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "copy/planner.h"
#include "copy/relmap.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/progress.h"
#include "ferry/registry.h"
#include "ferry/verify.h"
#include "model/value.h"
#include "verify/verify_int.h"

#define VF_DEFAULT_CHUNK_ROWS 500000
#define VF_BATCH_ROWS 10000
#define VF_BATCH_BYTES (4u << 20)
#define VF_BUCKET_BITS 10
#define VF_BUCKETS (1u << VF_BUCKET_BITS)

struct vf_table {
	struct table_plan *tp;
	struct ferry_table dst;      /* target columns in plan order */
	/* an untyped target (SQLite, the copy of a PostgreSQL source): its
	 * cells are converted to the plan's types as a source's are, a
	 * value that does not convert is missing from the target's side */
	struct table_plan *dxf;
	int keyed;
	int *types;
	int32_t *typmods;
	struct ferry_verify_table *st;
};

struct vf_chunk {
	struct vf_table *vt;
	int64_t lo, hi;
	int lo_open, hi_open;
};

struct kh {
	int64_t key;
	uint64_t h;
};

/* A distinct row of the bucket a second read keeps: equal rows (equal
 * hashes) are counted, not kept again. */
struct bh {
	uint64_t h;
	int64_t count;            /* 0: empty slot */
	size_t text;              /* offset of the first one's text in side.text */
};

/* What one side of one chunk produced. */
struct side {
	struct vf_table *vt;
	int is_src;
	struct rejects *rej;
	ferry_progress *progress;
	struct vf_sum sum;
	struct vf_sum *bsum;      /* per bucket, or NULL */
	int keep;                 /* keep rows: 1 all, 2 those of `bucket` */
	unsigned bucket;
	int64_t rejected;
	struct kh *rows;
	size_t n, cap;
	struct bh *bt;            /* keep 2: open addressing by hash, bcap slots */
	size_t bn, bcap;
	struct ferry_buf text;    /* keep 2: their rows as text, NUL-ended */
	struct ferry_buf scratch;
	/* single-row reads (naming the column): canonical cells */
	struct ferry_buf *cells;
	char **shown;
};

struct vf_run {
	const struct ferry_verify_opts *o;
	char *src_url;               /* o->src with the time-series options */
	const char *schema;
	struct plan plan;
	struct vf_table *tables;
	size_t ntables;
	struct vf_chunk *chunks;
	size_t nchunks;
	struct rejects rej;
	char rejdir[256];
	ferry_progress *progress;
	struct copy_watch watch;     /* lock waits, said on progress */
	struct ferry_verify_result *res;
	_Atomic size_t next;
	_Atomic int abort;
	pthread_mutex_t lock;
};

void ferry_verify_result_free(struct ferry_verify_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ntables; i++) {
		ferry_free(r->tables[i].name);
		ferry_free(r->tables[i].target);
	}
	ferry_free(r->tables);
	for (i = 0; i < r->ndiffs; i++) {
		ferry_free(r->diffs[i].table);
		ferry_free(r->diffs[i].what);
		ferry_free(r->diffs[i].column);
		ferry_free(r->diffs[i].row);
		ferry_free(r->diffs[i].range);
	}
	ferry_free(r->diffs);
	ferry_free(r);
}

/* ---- reading one side ---------------------------------------------------- */

/* Render a cell for a message: numbers exactly, text quoted and cut. */
static int show_cell(const struct ferry_batch *b, const struct ferry_cell *c,
		     struct ferry_buf *o)
{
	char num[64];
	size_t i;
	int e = 0;

	switch (c->kind) {
	case FERRY_V_NULL:
		e |= ferry_buf_addstr(o, "NULL");
		break;
	case FERRY_V_INT:
		e |= ferry_buf_addf(o, "%lld", (long long)c->v.i);
		break;
	case FERRY_V_REAL:
		val_format_double(c->v.d, num, sizeof(num));
		e |= ferry_buf_addstr(o, num);
		break;
	case FERRY_V_TEXT: {
		const char *t = ferry_cell_bytes(b, c);
		size_t n = c->len > 80 ? 80 : c->len;

		while (n < c->len && n > 0 && ((unsigned char)t[n] & 0xc0) == 0x80)
			n--;   /* cut before a character, not inside one */
		e |= ferry_buf_addjson(o, t, n);
		if (n < c->len)
			e |= ferry_buf_addstr(o, "...");
		break;
	}
	default:
		e |= ferry_buf_addstr(o, "x'");
		for (i = 0; i < c->len && i < 32; i++)
			e |= ferry_buf_addf(o, "%02x", (unsigned char)ferry_cell_bytes(b, c)[i]);
		e |= ferry_buf_addstr(o, c->len > 32 ? "...'" : "'");
	}
	return e;
}

/* A timestamp cell (microseconds since 2000-01-01 UTC) as UTC text. */
static int show_time(int64_t us, int tz, struct ferry_buf *o)
{
	char tmp[64];

	if (us == INT64_MIN || us == INT64_MAX)   /* PostgreSQL's -infinity, infinity */
		return ferry_buf_addstr(o, us < 0 ? "\"-infinity\"" : "\"infinity\"");
	val_format_timestamp(tmp, sizeof(tmp), us, VAL_TS_PG_EPOCH, tz ? "+00" : NULL);
	return ferry_buf_addf(o, "\"%s\"", tmp);
}

/* Row r as "col=value, ..." (values as show_cell renders them), NUL-ended. */
static int row_text(const struct ferry_batch *b, size_t r, const struct vf_table *vt,
		    struct ferry_buf *o)
{
	size_t i;
	int e = 0;

	for (i = 0; i < b->ncols; i++) {
		const struct ferry_cell *c = ferry_batch_cell((struct ferry_batch *)b, r, i);
		int ty = vt->types[i];

		if (i)
			e |= ferry_buf_addstr(o, ", ");
		e |= ferry_buf_addf(o, "%s=", vt->tp->cols[i].src_name);
		if (c->kind == FERRY_V_INT && (ty == FERRY_T_TIMESTAMP || ty == FERRY_T_TIMESTAMPTZ))
			e |= show_time(c->v.i, ty == FERRY_T_TIMESTAMPTZ, o);
		else
			e |= show_cell(b, c, o);
	}
	e |= ferry_buf_addch(o, '\0');
	return e;
}

/* Count row r (hash h) in the side's bucket table; its text when new. */
static int bucket_add(struct side *s, const struct ferry_batch *b, size_t r, uint64_t h)
{
	size_t j;

	if ((s->bn + 1) * 2 > s->bcap) {
		size_t ncap = s->bcap ? s->bcap * 2 : 1024, i;
		struct bh *nt = ferry_calloc(ncap, sizeof(*nt));

		if (!nt)
			return FERRY_ENOMEM;
		for (i = 0; i < s->bcap; i++) {
			if (!s->bt[i].count)
				continue;
			for (j = s->bt[i].h & (ncap - 1); nt[j].count; j = (j + 1) & (ncap - 1))
				;
			nt[j] = s->bt[i];
		}
		ferry_free(s->bt);
		s->bt = nt;
		s->bcap = ncap;
	}
	for (j = h & (s->bcap - 1); s->bt[j].count; j = (j + 1) & (s->bcap - 1))
		if (s->bt[j].h == h) {
			s->bt[j].count++;
			return 0;
		}
	s->bt[j].h = h;
	s->bt[j].count = 1;
	s->bt[j].text = s->text.len;
	s->bn++;
	return row_text(b, r, s->vt, &s->text);
}

static int take_batch(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct side *s = ud;
	const struct vf_table *vt = s->vt;
	size_t r, i;
	int rc;

	if (s->is_src) {
		int rej = xf_batch(b, vt->tp, s->rej, err);

		if (rej < 0)
			return rej;
		s->rejected += rej;
		ferry_progress_add(s->progress, b->nrows, 0);
		ferry_progress_tick(s->progress);
	} else if (vt->dxf && (rc = xf_batch(b, vt->dxf, s->rej, err)) < 0) {
		return rc;
	}
	if (s->cells) {  /* a single-row read: keep each column's encoding */
		for (r = 0; r < b->nrows; r++) {
			if (b->skip[r])
				continue;
			for (i = 0; i < b->ncols; i++) {
				ferry_buf_clear(&s->cells[i]);
				if ((rc = vf_cell_encode(b, ferry_batch_cell(b, r, i), vt->types[i],
							 vt->typmods[i], &s->cells[i])) < 0)
					return ferry_error_set(err, rc, "out of memory");
				if (!s->shown[i]) {
					struct ferry_buf t = FERRY_BUF_INIT;

					if (show_cell(b, ferry_batch_cell(b, r, i), &t) < 0 ||
					    !(s->shown[i] = ferry_buf_detach(&t, NULL))) {
						ferry_buf_release(&t);
						return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					}
				}
			}
			s->n++;
		}
		return 0;
	}
	if (s->keep == 1 && FERRY_GROW(s->rows, s->cap, s->n + b->nrows) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (r = 0; r < b->nrows; r++) {
		uint64_t h;

		if (b->skip[r])
			continue;
		if ((rc = vf_row_hash(b, r, vt->types, vt->typmods, &s->scratch, &h)) < 0)
			return ferry_error_set(err, rc, "out of memory");
		vf_sum_add(&s->sum, h);
		if (s->bsum)
			vf_sum_add(&s->bsum[h >> (64 - VF_BUCKET_BITS)], h);
		if (s->keep == 1) {
			s->rows[s->n].key = b->keys[r];
			s->rows[s->n].h = h;
			s->n++;
		} else if (s->keep == 2 && h >> (64 - VF_BUCKET_BITS) == s->bucket &&
			   (rc = bucket_add(s, b, r, h)) < 0) {
			return ferry_error_set(err, rc, "out of memory");
		}
	}
	return 0;
}

static void side_release(struct side *s)
{
	ferry_free(s->rows);
	ferry_free(s->bt);
	ferry_free(s->bsum);
	ferry_buf_release(&s->text);
	ferry_buf_release(&s->scratch);
	memset(s, 0, sizeof(*s));
}

struct read_job {
	ferry_conn *c;
	struct ferry_read_spec spec;
	struct side *s;
	int rc;
	struct ferry_error err;
};

static void *read_main(void *arg)
{
	struct read_job *j = arg;

	j->rc = ferry_conn_ops_of(j->c)->read(j->c, &j->spec, take_batch, j->s, &j->err);
	return NULL;
}

/* A source record that never became a row (malformed line protocol):
 * the copy rejected it too, so it counts as rejected, not as a difference. */
static int src_reject(void *ud, int64_t key, const char *column, const char *reason,
		      const void *raw, size_t n, struct ferry_error *err)
{
	struct side *s = ud;

	(void)key;
	(void)column;
	(void)reason;
	(void)raw;
	(void)n;
	(void)err;
	s->rejected++;
	return 0;
}

static void spec_for(struct read_job *j, const struct vf_table *vt, int is_src,
		     int has_range, int64_t lo, int64_t hi)
{
	memset(&j->spec, 0, sizeof(j->spec));
	if (is_src) {
		j->spec.reject = src_reject;
		j->spec.reject_ud = j->s;
	}
	j->spec.table = is_src ? vt->tp->src : &vt->dst;
	j->spec.has_range = has_range;
	j->spec.lo = lo;
	j->spec.hi = hi;
	j->spec.batch_rows = VF_BATCH_ROWS;
	j->spec.batch_bytes = VF_BATCH_BYTES;
}

/* Read both sides of one range at once (the target on a second thread). */
static int read_both(ferry_conn *src, ferry_conn *dst, const struct vf_table *vt,
		     int has_range, int64_t lo, int64_t hi, struct side *ss,
		     struct side *ds, struct ferry_error *err)
{
	struct read_job sj, dj;
	pthread_t th;

	memset(&sj, 0, sizeof(sj));
	memset(&dj, 0, sizeof(dj));
	sj.c = src;
	sj.s = ss;
	dj.c = dst;
	dj.s = ds;
	spec_for(&sj, vt, 1, has_range, lo, hi);
	spec_for(&dj, vt, 0, has_range, lo, hi);
	if (pthread_create(&th, NULL, read_main, &dj) != 0)
		return ferry_error_set(err, FERRY_EIO, "cannot start a reader thread");
	read_main(&sj);
	pthread_join(th, NULL);
	if (sj.rc < 0) {
		*err = sj.err;
		ferry_error_prefix(err, "cannot read the source");
		return sj.rc;
	}
	if (dj.rc < 0) {
		*err = dj.err;
		ferry_error_prefix(err, "cannot read the target");
		return dj.rc;
	}
	return 0;
}

/* ---- the first difference ------------------------------------------------ */

/* Read row `key` on both sides and name the first column that differs. */
static int name_column(ferry_conn *src, ferry_conn *dst, struct rejects *rej,
		       const struct vf_table *vt, int64_t key, struct ferry_verify_diff *d, struct ferry_error *err)
{
	size_t nc = vt->tp->ncols, i;
	struct side ss, ds;
	struct ferry_buf msg = FERRY_BUF_INIT;
	int rc;

	memset(&ss, 0, sizeof(ss));
	memset(&ds, 0, sizeof(ds));
	ss.vt = ds.vt = (struct vf_table *)vt;
	ss.is_src = 1;
	ss.cells = ferry_calloc(nc + 1, sizeof(struct ferry_buf));
	ds.cells = ferry_calloc(nc + 1, sizeof(struct ferry_buf));
	ss.shown = ferry_calloc(nc + 1, sizeof(char *));
	ds.shown = ferry_calloc(nc + 1, sizeof(char *));
	if (!ss.cells || !ds.cells || !ss.shown || !ds.shown) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < nc; i++) {
		ferry_buf_init(&ss.cells[i], 0);
		ferry_buf_init(&ds.cells[i], 0);
	}
	ss.rej = ds.rej = rej;
	if ((rc = read_both(src, dst, vt, 1, key, key, &ss, &ds, err)) < 0)
		goto out;
	if (ss.n != 1 || ds.n != 1) {
		rc = 0;
		goto out;
	}
	for (i = 0; i < nc; i++) {
		if (ss.cells[i].len == ds.cells[i].len &&
		    !memcmp(ss.cells[i].buf, ds.cells[i].buf, ss.cells[i].len))
			continue;
		if (ferry_buf_addf(&msg, "column '%s' differs: source %s, target %s",
				   vt->tp->cols[i].src_name, ss.shown[i], ds.shown[i]) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		ferry_free(d->what);
		d->what = ferry_buf_detach(&msg, NULL);
		d->column = ferry_strdup(vt->tp->cols[i].src_name);
		break;
	}
	rc = 0;
out:
	for (i = 0; i < nc; i++) {
		if (ss.cells)
			ferry_buf_release(&ss.cells[i]);
		if (ds.cells)
			ferry_buf_release(&ds.cells[i]);
		if (ss.shown)
			ferry_free(ss.shown[i]);
		if (ds.shown)
			ferry_free(ds.shown[i]);
	}
	ferry_free(ss.cells);
	ferry_free(ds.cells);
	ferry_free(ss.shown);
	ferry_free(ds.shown);
	ferry_buf_release(&msg);
	return rc;
}

static int bh_by_hash(const void *a, const void *b)
{
	const struct bh *x = a, *y = b;

	return x->h < y->h ? -1 : x->h > y->h;
}

/* The distinct rows of a side's bucket table, packed and sorted by hash. */
static size_t bucket_sorted(struct side *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->bcap; i++)
		if (s->bt[i].count)
			s->bt[n++] = s->bt[i];
	if (n)
		qsort(s->bt, n, sizeof(*s->bt), bh_by_hash);
	return n;
}

/*
 * Unkeyed: the first row (by hash) of the second read's bucket that one
 * side holds more often than the other, named by its columns.  Nothing
 * when both sides came out equal this time: the data changed between the
 * reads.
 */
static int bucket_difference(struct side *ss, struct side *ds, struct ferry_verify_diff *d,
			     struct ferry_error *err)
{
	size_t ns = bucket_sorted(ss), nd = bucket_sorted(ds), i = 0, j = 0;
	const struct side *from = NULL;
	const struct bh *e = NULL;

	while ((i < ns || j < nd) && !e) {
		if (j >= nd || (i < ns && ss->bt[i].h < ds->bt[j].h)) {
			from = ss, e = &ss->bt[i];
		} else if (i >= ns || ds->bt[j].h < ss->bt[i].h) {
			from = ds, e = &ds->bt[j];
		} else if (ss->bt[i].count != ds->bt[j].count) {
			from = ss->bt[i].count > ds->bt[j].count ? ss : ds;
			e = from == ss ? &ss->bt[i] : &ds->bt[j];
		} else {
			i++;
			j++;
		}
	}
	if (!e)
		d->what = ferry_strdup("no row named: a second read found both sides equal "
				       "(did the source or the target change?)");
	else if ((d->what = ferry_strdup(from == ss ? "missing in target" : "extra in target")))
		d->row = ferry_strdup(from->text.buf + e->text);
	if (!d->what || (e && !d->row))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/*
 * Find the first differing row of a chunk.  Keyed: both sides are in key
 * order; merge them.  Unkeyed: bucket_difference() on the second read.
 */
static int first_difference(ferry_conn *src, ferry_conn *dst, struct rejects *rej,
			    const struct vf_table *vt,
			    struct side *ss, struct side *ds, struct ferry_verify_diff *d,
			    struct ferry_error *err)
{
	size_t i = 0, j = 0;
	const char *what = NULL;

	if (!vt->keyed)
		return bucket_difference(ss, ds, d, err);
	while (i < ss->n || j < ds->n) {
		if (j >= ds->n || (i < ss->n && ss->rows[i].key < ds->rows[j].key)) {
			d->key = ss->rows[i].key;
			what = "missing in target";
			break;
		}
		if (i >= ss->n || ds->rows[j].key < ss->rows[i].key) {
			d->key = ds->rows[j].key;
			what = "extra in target";
			break;
		}
		if (ss->rows[i].h != ds->rows[j].h) {
			d->key = ss->rows[i].key;
			what = "row differs";
			break;
		}
		i++;
		j++;
	}
	if (!what)
		return 0;
	d->has_key = 1;
	if (!(d->what = ferry_strdup(what)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (!strcmp(what, "row differs"))
		return name_column(src, dst, rej, vt, d->key, d, err);
	return 0;
}

/* ---- workers ------------------------------------------------------------- */

struct worker {
	struct vf_run *r;
	ferry_conn *src, *dst;
	pthread_t th;
	int rc;
	struct ferry_error err;
};

static int add_diff(struct vf_run *r, struct ferry_verify_diff *d)
{
	struct ferry_verify_result *res = r->res;
	struct ferry_verify_diff *nd;

	pthread_mutex_lock(&r->lock);
	nd = ferry_realloc(res->diffs, (res->ndiffs + 1) * sizeof(*nd));
	if (nd) {
		res->diffs = nd;
		res->diffs[res->ndiffs++] = *d;
	}
	pthread_mutex_unlock(&r->lock);
	return nd ? 0 : FERRY_ENOMEM;
}

/*
 * An unkeyed chunk whose sums differ: read both sides again into s2 and d2
 * keeping the rows of the first bucket whose sums differ, for
 * first_difference().  The source's rejects were counted by the first
 * read (s2 has no reject sink).
 */
static int reread_bucket(struct worker *w, const struct vf_chunk *ck, const struct side *ss,
			 const struct side *ds, struct side *s2, struct side *d2,
			 struct ferry_error *err)
{
	unsigned b;

	for (b = 0; b < VF_BUCKETS && vf_sum_eq(&ss->bsum[b], &ds->bsum[b]); b++)
		;
	if (b == VF_BUCKETS)
		return 0;   /* the sums are the buckets' sums: cannot happen */
	s2->vt = d2->vt = ck->vt;
	d2->rej = &w->r->rej;
	s2->is_src = 1;
	s2->keep = d2->keep = 2;
	s2->bucket = d2->bucket = b;
	return read_both(w->src, w->dst, ck->vt, 0, ck->lo, ck->hi, s2, d2, err);
}

static int check_chunk(struct worker *w, const struct vf_chunk *ck, struct ferry_error *err)
{
	struct vf_run *r = w->r;
	struct vf_table *vt = ck->vt;
	struct side ss, ds, s2, d2;
	struct ferry_verify_diff d;
	int rc;

	memset(&ss, 0, sizeof(ss));
	memset(&ds, 0, sizeof(ds));
	memset(&s2, 0, sizeof(s2));
	memset(&d2, 0, sizeof(d2));
	memset(&d, 0, sizeof(d));
	ss.vt = ds.vt = vt;
	ss.is_src = 1;
	ss.rej = ds.rej = &r->rej;
	ss.progress = r->progress;
	ss.keep = ds.keep = vt->keyed;   /* a keyed chunk's rows are few */
	if (!vt->keyed && (!(ss.bsum = ferry_calloc(VF_BUCKETS, sizeof(*ss.bsum))) ||
			   !(ds.bsum = ferry_calloc(VF_BUCKETS, sizeof(*ds.bsum))))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = read_both(w->src, w->dst, vt, vt->keyed, ck->lo, ck->hi, &ss, &ds, err)) < 0)
		goto out;
	pthread_mutex_lock(&r->lock);
	vt->st->checked++;
	vt->st->src_rows += (int64_t)ss.sum.rows;
	vt->st->dst_rows += (int64_t)ds.sum.rows;
	vt->st->rejected += ss.rejected;
	if (!vf_sum_eq(&ss.sum, &ds.sum))
		vt->st->differing++;
	pthread_mutex_unlock(&r->lock);
	if (vf_sum_eq(&ss.sum, &ds.sum))
		goto out;
	d.keyed = vt->keyed;
	d.lo = ck->lo;
	d.hi = ck->hi;
	d.lo_open = ck->lo_open;
	d.hi_open = ck->hi_open;
	d.src_rows = (int64_t)ss.sum.rows;
	d.dst_rows = (int64_t)ds.sum.rows;
	if (!(d.table = ferry_strdup(vt->tp->src->name))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (!vt->keyed && reread_bucket(w, ck, &ss, &ds, &s2, &d2, err) < 0) {
		/* the difference stands; only the row goes unnamed (stdin, say,
		 * cannot be read twice) */
		struct ferry_buf m = FERRY_BUF_INIT;

		int bad = ferry_buf_addf(&m, "no row named: cannot read it again: %s", err->msg);
		ferry_error_clear(err);
		if (bad < 0 || !(d.what = ferry_buf_detach(&m, NULL))) {
			ferry_buf_release(&m);
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	} else if ((rc = first_difference(w->src, w->dst, &r->rej, vt, vt->keyed ? &ss : &s2,
					  vt->keyed ? &ds : &d2, &d, err)) < 0) {
		goto out;
	}
	if ((rc = add_diff(r, &d)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	memset(&d, 0, sizeof(d));
out:
	ferry_free(d.table);
	ferry_free(d.what);
	ferry_free(d.column);
	ferry_free(d.row);
	side_release(&ss);
	side_release(&ds);
	side_release(&s2);
	side_release(&d2);
	return rc;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct vf_run *r = w->r;
	size_t i;

	while (!atomic_load(&r->abort) && (i = atomic_fetch_add(&r->next, 1)) < r->nchunks) {
		const struct vf_chunk *ck = &r->chunks[i];

		if ((w->rc = check_chunk(w, ck, &w->err)) < 0) {
			ferry_error_prefix(&w->err, "cannot verify table '%s'",
					   ck->vt->tp->src->name);
			atomic_store(&r->abort, 1);
			break;
		}
	}
	return NULL;
}

/* Target connections read the schema's tables by their bare names. */
static int open_target(struct vf_run *r, ferry_conn **out, struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	ferry_conn *c = NULL;
	int rc;

	if ((rc = ferry_conn_open(r->o->dst, FERRY_OPEN_READONLY, &c, err)) < 0) {
		ferry_error_prefix(err, "cannot open the target");
		return rc;
	}
	if (!(ferry_conn_ops_of(c)->caps & FERRY_CAP_SCHEMAS)) {
		*out = c;
		return 0;
	}
	rc = ferry_buf_addstr(&sql, "SET search_path TO ");
	plan_quote_ident(&sql, r->schema);
	if (rc < 0 || ferry_buf_error(&sql))   /* never run a cut statement */
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = ferry_conn_ops_of(c)->exec(c, sql.buf, err);
	ferry_buf_release(&sql);
	if (rc < 0) {
		ferry_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

static int run_workers(struct vf_run *r, int jobs, struct ferry_error *err)
{
	struct worker *ws;
	int i, started = 0, rc = 0;

	if ((size_t)jobs > r->nchunks)
		jobs = r->nchunks ? (int)r->nchunks : 1;
	ws = ferry_calloc((size_t)jobs, sizeof(*ws));
	if (!ws)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < jobs; i++) {
		ws[i].r = r;
		if ((rc = ferry_conn_open(r->src_url, FERRY_OPEN_READONLY, &ws[i].src, err)) < 0) {
			ferry_error_prefix(err, "cannot open the source");
			goto out;
		}
		if ((rc = open_target(r, &ws[i].dst, err)) < 0)
			goto out;
	}
	for (; started < jobs; started++)
		if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start worker threads");
			atomic_store(&r->abort, 1);
			break;
		}
	for (i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
	for (i = 0; i < started && rc == 0; i++)
		if (ws[i].rc < 0) {
			rc = ws[i].rc;
			*err = ws[i].err;
		}
out:
	for (i = 0; i < jobs; i++) {
		ferry_conn_close(ws[i].src);
		ferry_conn_close(ws[i].dst);
	}
	ferry_free(ws);
	return rc;
}

/* ---- planning ------------------------------------------------------------ */

/* A glob that matches exactly name (fnmatch escapes). */
static char *literal_glob(const char *name)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	const char *p;
	int e = 0;

	for (p = name; *p; p++) {
		if (strchr("*?[]\\", *p))
			e |= ferry_buf_addch(&b, '\\');
		e |= ferry_buf_addch(&b, *p);
	}
	if (e < 0) {
		ferry_buf_release(&b);
		return NULL;
	}
	return ferry_buf_detach(&b, NULL);

}

/* Map the plan's columns onto the target table; decide whether ranges
 * can be used (a rowid alias in the source that is an integer column in
 * the target). */
static int setup_table(struct vf_table *vt, const struct ferry_table *target,
		       unsigned src_caps, unsigned dst_caps, struct ferry_error *err)
{
	const struct table_plan *tp = vt->tp;
	const struct ferry_table *st = tp->src;
	size_t i, vis = 0;
	int alias = -1;

	for (i = 0; i < st->ncols; i++) {
		if (st->cols[i].hidden)
			continue;
		if ((int)i == st->rowid_alias)
			alias = (int)vis;
		vis++;
	}
	vt->dst.name = tp->dst_name;
	vt->dst.rowid_alias = -1;
	vt->dst.seq = -1;
	vt->dst.cols = ferry_calloc(tp->ncols + 1, sizeof(*vt->dst.cols));
	vt->types = ferry_calloc(tp->ncols + 1, sizeof(int));
	vt->typmods = ferry_calloc(tp->ncols + 1, sizeof(int32_t));
	if (!vt->dst.cols || !vt->types || !vt->typmods)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	vt->dst.ncols = tp->ncols;
	/* an untyped target holds the key in a column, not its rowid (ferry
	 * copy recreates keys on PostgreSQL only): one chunk, by hashes */
	vt->keyed = alias >= 0 && !st->without_rowid && (src_caps & FERRY_CAP_KEYRANGE) &&
		    (dst_caps & FERRY_CAP_HASH_SQL) &&
		    (tp->cols[alias].type == FERRY_T_INT64 || tp->cols[alias].type == FERRY_T_INT32 ||
		     tp->cols[alias].type == FERRY_T_INT16);
	for (i = 0; i < tp->ncols; i++) {
		int tc = ferry_table_find_column(target, tp->cols[i].dst_name);

		if (tc < 0)
			return ferry_error_set(err, FERRY_ENOTFOUND,
				"target table '%s' has no column '%s'", target->name,
				tp->cols[i].dst_name);
		vt->dst.cols[i] = target->cols[tc];  /* borrowed strings */
		vt->dst.cols[i].hidden = 0;
		vt->dst.cols[i].type = tp->cols[i].type;
		if (vt->keyed)
			vt->dst.cols[i].pk_pos = (int)i == alias;
		vt->types[i] = tp->cols[i].type;
		vt->typmods[i] = tp->cols[i].typmod;
	}
	vt->dst.without_rowid = !vt->keyed;
	if (dst_caps & FERRY_CAP_UNTYPED) {
		if (!(vt->dxf = ferry_calloc(1, sizeof(*vt->dxf))) ||
		    !(vt->dxf->cols = ferry_calloc(tp->ncols + 1, sizeof(*vt->dxf->cols))))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		vt->dxf->src = &vt->dst;
		vt->dxf->ncols = tp->ncols;
		for (i = 0; i < tp->ncols; i++) {
			vt->dxf->cols[i] = tp->cols[i];   /* borrowed names */
			vt->dxf->cols[i].notnull = 0;
			vt->dxf->cols[i].src_type = FERRY_T_UNKNOWN;
		}
	}
	return 0;
}

static int push_chunk(struct vf_run *r, size_t *cap, struct vf_table *vt, int64_t lo,
		      int64_t hi, int lo_open, int hi_open)
{
	struct vf_chunk *ck;

	if (FERRY_GROW(r->chunks, *cap, r->nchunks + 1) < 0)
		return FERRY_ENOMEM;
	ck = &r->chunks[r->nchunks++];
	ck->vt = vt;
	ck->lo = lo_open ? INT64_MIN : lo;
	ck->hi = hi_open ? INT64_MAX : hi;
	ck->lo_open = lo_open;
	ck->hi_open = hi_open;
	return 0;
}

int vf_pick_cmp(const void *a, const void *b)
{
	const struct vf_pick *x = a, *y = b;

	return x->score < y->score ? -1 : x->score > y->score;
}

size_t vf_sample_want(size_t n, double pct)
{
	size_t want = (size_t)((double)n * pct / 100.0 + 0.999999);

	return want < 1 ? 1 : want;
}

static int plan_chunks(struct vf_run *r, ferry_conn *src, uint64_t *total,
		       struct ferry_error *err)
{
	const struct ferry_conn_ops *sops = ferry_conn_ops_of(src);
	size_t cap = 0, t;
	int rc;

	*total = 0;
	for (t = 0; t < r->ntables; t++) {
		struct vf_table *vt = &r->tables[t];
		int64_t lo = 0, hi = 0, count = 0, per, nck, step, a, k;
		size_t first = r->nchunks, n, i;

		if ((rc = sops->key_range(src, vt->tp->src, &lo, &hi, &count, err)) < 0) {
			ferry_error_prefix(err, "cannot verify table '%s'", vt->tp->src->name);
			return rc;
		}
		per = r->o->chunk_rows > 0 ? r->o->chunk_rows : VF_DEFAULT_CHUNK_ROWS;
		nck = vt->keyed ? (count + per - 1) / per : 1;
		if (nck < 1)
			nck = 1;
		if (count == 0 || nck == 1) {
			if (push_chunk(r, &cap, vt, lo, hi, 1, 1) < 0)
				goto nomem;
		} else {
			step = (hi - lo) / nck + 1;
			for (a = lo, k = 0; k < nck; k++, a += step) {
				int last = k == nck - 1 || hi - a < step;

				if (push_chunk(r, &cap, vt, a, last ? hi : a + step - 1, k == 0,
					       last) < 0)
					goto nomem;
				if (last)
					break;
			}
		}
		n = r->nchunks - first;
		vt->st->chunks = (int64_t)n;
		if (r->o->sample_pct > 0 && r->o->sample_pct < 100 && n > 1) {
			struct vf_pick *pk = ferry_calloc(n, sizeof(*pk));
			struct vf_chunk *keep;
			size_t want = vf_sample_want(n, r->o->sample_pct);

			if (!pk)
				goto nomem;
			for (i = 0; i < n; i++) {
				struct ferry_buf b = FERRY_BUF_INIT;

				if (ferry_buf_addf(&b, "%llu/%s/%zu", (unsigned long long)r->o->seed,
						   vt->tp->src->name, i) < 0) {
					ferry_buf_release(&b);
					ferry_free(pk);
					goto nomem;
				}
				pk[i].score = ferry_hash64(b.buf, b.len);

				pk[i].idx = i;
				ferry_buf_release(&b);
			}
			if (n)  /* qsort(NULL, 0) is undefined */
				qsort(pk, n, sizeof(*pk), vf_pick_cmp);
			keep = ferry_calloc(want, sizeof(*keep));
			if (!keep) {
				ferry_free(pk);
				goto nomem;
			}
			for (i = 0; i < want; i++)
				keep[i] = r->chunks[first + pk[i].idx];
			/* back in key order */
			for (i = 0; i < want; i++) {
				size_t m;

				for (m = i + 1; m < want; m++)
					if (keep[m].lo < keep[i].lo) {
						struct vf_chunk tmp = keep[i];

						keep[i] = keep[m];
						keep[m] = tmp;
					}
			}
			memcpy(&r->chunks[first], keep, want * sizeof(*keep));
			r->nchunks = first + want;
			ferry_free(keep);
			ferry_free(pk);
			*total += (uint64_t)(count * (int64_t)want / (int64_t)n);
		} else {
			*total += (uint64_t)count;
		}
	}
	return 0;
nomem:
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}

/* ---- the run ------------------------------------------------------------- */

/* A typed source (PostgreSQL) and an untyped target that can be read
 * (SQLite): the SQLite copy of a PostgreSQL database. */
static int typed_into_untyped(const struct ferry_conn_ops *s, const struct ferry_conn_ops *d)
{
	return s && d && (s->caps & FERRY_CAP_TYPED) && (d->caps & FERRY_CAP_UNTYPED) &&
	       (d->caps & FERRY_CAP_READ) && (d->caps & FERRY_CAP_DESCRIBE);
}

/* An untyped target's columns take the types their declarations name
 * (ferry copy declared them: "double precision", "timestamptz"); one
 * that names none stays unknown, which the plan refuses by name. */
static int type_untyped(const struct ferry_conn_ops *d, struct ferry_catalog *tcat,
			struct ferry_error *err)
{
	size_t i, k;

	for (i = 0; (d->caps & FERRY_CAP_UNTYPED) && i < tcat->ntables; i++)
		for (k = 0; k < tcat->tables[i].ncols; k++) {
			struct ferry_column *c = &tcat->tables[i].cols[k];
			const char *decl = c->decl_type ? c->decl_type : "";

			if (c->type != FERRY_T_UNKNOWN ||
			    plan_parse_type_sql(decl, &c->type, &c->typmod) < 0)
				continue;
			ferry_free(c->type_sql);
			if (!(c->type_sql = ferry_strdup(decl)))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
	return 0;
}

/*
 * verify reads the target as PostgreSQL (search_path, catalogs, hashing
 * SQL), or as the SQLite copy of a PostgreSQL source: refuse any other
 * target before opening anything, and name the likely mistake, SRC and
 * DST given the wrong way round.
 */
static int check_target_store(const char *src, const char *dst,
			      struct ferry_error *err)
{
	const struct ferry_conn_ops *sops = ferry_conn_url_ops(src),
				    *dops = ferry_conn_url_ops(dst);
	const char *dname = dops ? dops->name : NULL;
	struct ferry_buf rs = FERRY_BUF_INIT, rd = FERRY_BUF_INIT;
	int rc = 0;

	if (!dops || (dops->caps & FERRY_CAP_HASH_SQL) || typed_into_untyped(sops, dops))
		return 0;
	ferry_url_redact(src, &rs);
	ferry_url_redact(dst, &rd);
	if (sops && (sops->caps & FERRY_CAP_HASH_SQL))
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot verify into %s '%s': the target must be PostgreSQL, and the source '%s' is PostgreSQL; did you swap them? "
			"try 'ferry verify %s %s'", dname, rd.buf, rs.buf, rd.buf, rs.buf);
	else
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot verify into %s '%s': the target must be PostgreSQL "
			"(verify compares a SQLite, InfluxDB, line protocol or CSV source with its copy in PostgreSQL)",
			dname, rd.buf);
	ferry_buf_release(&rs);
	ferry_buf_release(&rd);
	return rc;
}

static int count_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	(void)ncols, (void)vals, (void)err;
	++*(size_t *)ud;
	return 0;
}

/* 1 with *at the first table of tcat that holds a row, 0 when none does,
 * or an error. */
static int first_with_rows(ferry_conn *dst, const char *schema,
			   const struct ferry_catalog *tcat, size_t *at, struct ferry_error *err)
{
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct ferry_buf sql = FERRY_BUF_INIT;
	size_t i, rows = 0;
	int rc = 0;

	*at = 0;
	for (i = 0; i < tcat->ntables && !rows && rc == 0; i++) {
		ferry_buf_clear(&sql);
		if (ferry_buf_addstr(&sql, "SELECT 1 FROM ") < 0 ||
		    plan_qualified(&sql, (ops->caps & FERRY_CAP_SCHEMAS) ? schema : NULL,
				   tcat->tables[i].name) ||   /* SQLite's has no schema */
		    ferry_buf_addstr(&sql, " LIMIT 1") < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = ops->query(dst, sql.buf, NULL, 0, count_row, &rows, err);
		*at = i;
	}
	ferry_buf_release(&sql);
	return rc < 0 ? rc : rows > 0;
}

int ferry_verify_run(const struct ferry_verify_opts *o, struct ferry_verify_result **out,
		     struct ferry_error *err)
{
	struct vf_run r;
	struct ferry_copy_opts co;
	struct ferry_catalog *scat = NULL, *tcat = NULL;
	ferry_conn *src = NULL, *dst = NULL;
	struct strv excl = { 0 };
	struct ferry_verify_opts mo;
	struct relmap *map = NULL;
	double start = ferry_now();
	uint64_t total = 0;
	size_t i;
	int rc = 0, jobs;

	if (!strncasecmp(o->dst, "influx:", 7))   /* points, not rows */
		return vf_points_run(o, out, err);
	memset(&r, 0, sizeof(r));
	memset(&co, 0, sizeof(co));
	pthread_mutex_init(&r.lock, NULL);
	r.o = o;
	r.schema = o->schema ? o->schema : "public";
	r.res = ferry_calloc(1, sizeof(*r.res));
	if (!r.res) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (o->sample_pct < 0 || o->sample_pct > 100) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--sample must be between 0 and 100");
		goto out;
	}
	/* rows the transform rejects are counted, not kept: their reject
	 * lines go to a private directory removed at the end */
	snprintf(r.rejdir, sizeof(r.rejdir), "%s/ferry-verify-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(r.rejdir)) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot create a temporary directory in '%s'",
				     getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
		r.rejdir[0] = '\0';
		goto out;
	}
	if ((rc = rej_init(&r.rej, r.rejdir, NULL)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	/* a map with tables: compares each target table with its source
	 * query (relmap.h): one chunk per table, as a multiset of rows */
	if (o->ts.map && (rc = copy_relmap_is(o->ts.map, err)) != 0) {
		if (rc < 0 || (rc = copy_relmap_load(o->ts.map, &map, err)) < 0)
			goto out;
		if ((o->include && o->include[0]) || (o->exclude && o->exclude[0])) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "--include and --exclude do not "
					     "apply to map '%s': its tables: names the tables",
					     o->ts.map);
			goto out;
		}
		mo = *o;
		mo.ts.map = NULL;
		o = &mo;
		r.o = o;
	}
	if ((rc = check_target_store(o->src, o->dst, err)) < 0 ||
	    (rc = ferry_ts_url(o->src, &o->ts, &r.src_url, err)) < 0)
		goto out;
	r.progress = ferry_progress_new(o->progress_out ? o->progress_out : stderr,
					o->progress_mode, "verify", 0);
	if ((rc = copy_open_source(r.src_url, "verifying", r.progress, &src, err)) < 0 ||
	    (rc = open_target(&r, &dst, err)) < 0)
		goto out;
	copy_watch_start(&r.watch, dst, src, r.progress, o->progress_mode == FERRY_PROGRESS_QUIET);
	if (!(ferry_conn_ops_of(dst)->caps & FERRY_CAP_HASH_SQL) &&
	    !typed_into_untyped(ferry_conn_ops_of(src), ferry_conn_ops_of(dst))) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
			"cannot verify into '%s': the target must be PostgreSQL",
			ferry_conn_ops_of(dst)->name);
		goto out;
	}
	if ((rc = ferry_conn_ops_of(src)->describe(src, NULL, &scat, err)) < 0 ||
	    (rc = ferry_conn_ops_of(dst)->describe(dst, r.schema, &tcat, err)) < 0 ||
	    (rc = plan_check_filters(o->include, o->exclude, scat, err)) < 0 ||
	    (rc = plan_check_left(o->include, o->exclude, scat, err)) < 0 ||
	    (rc = type_untyped(ferry_conn_ops_of(dst), tcat, err)) < 0)
		goto out;
	/* a target's tables are compared from the source's side: a source
	 * without tables would compare nothing and say "equal" of a target
	 * holding rows (a wrong path, an empty database): a mistake to fix,
	 * as filters that leave no table are.  Empty target tables are equal
	 * to it (the cutover's verify of an old store empty before T0). */
	if (!map && !scat->ntables && (rc = first_with_rows(dst, r.schema, tcat, &i, err))) {
		if (rc > 0)
			rc = ferry_error_set(err, FERRY_EUSAGE, "the source has no tables, and "
					     "table '%s' of the target's schema '%s' has rows: "
					     "there is nothing to compare them with; is the source "
					     "the right one?", tcat->tables[i].name, r.schema);
		goto out;
	}
	/* tables the target lacks are differences, not planning errors */
	r.res->tables = ferry_calloc(scat->ntables + (map ? map->n : 0) + 1,
				     sizeof(*r.res->tables));
	if (!r.res->tables) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; o->exclude && o->exclude[i]; i++)
		plan_strv_push(&excl, ferry_strdup(o->exclude[i]));
	for (i = 0; !map && i < scat->ntables; i++) {
		const struct ferry_table *t = &scat->tables[i];
		struct ferry_verify_table *st;
		struct ferry_verify_diff d;
		int64_t lo, hi, count = 0;

		if ((o->include && o->include[0] && !plan_glob_match(o->include, t->name)) ||
		    plan_glob_match(o->exclude, t->name) || strlen(t->name) > 63 ||
		    ferry_catalog_target(tcat, scat, t->name))
			continue;
		if ((rc = plan_strv_push(&excl, literal_glob(t->name))) < 0) {
			rc = ferry_error_set(err, rc, "out of memory");
			goto out;
		}
		ferry_conn_ops_of(src)->key_range(src, t, &lo, &hi, &count, NULL);
		st = &r.res->tables[r.res->ntables++];
		st->name = ferry_strdup(t->name);
		st->missing = 1;
		st->src_rows = count;
		st->differing = 1;
		memset(&d, 0, sizeof(d));
		d.table = ferry_strdup(t->name);
		d.what = ferry_strdup("table missing in target");
		d.table_missing = 1;
		d.lo_open = d.hi_open = 1;
		d.src_rows = count;
		if (add_diff(&r, &d) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (FERRY_GROW(excl.v, excl.cap, excl.n + 1) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	excl.v[excl.n] = NULL;  /* NULL-terminated for the planner */
	co.src = r.src_url;
	co.dst = o->dst;
	co.schema = r.schema;
	co.data_only = 1;
	co.include = o->include;
	co.exclude = (const char *const *)excl.v;
	if (map) {
		if ((rc = copy_relmap_plan(&r.plan, map, src, scat, tcat, r.schema, 1, err)) < 0)
			goto out;
		for (i = 0; i < r.plan.ntables; i++)
			if ((rc = copy_relmap_lookups(r.plan.tables[i].map, dst, r.schema, err)) < 0)
				goto out;
	} else if ((rc = plan_build(&r.plan, &co, src, scat, tcat, err)) < 0) {
		ferry_error_prefix(err, "cannot map the source onto the target");
		goto out;
	}
	r.tables = ferry_calloc(r.plan.ntables + 1, sizeof(*r.tables));
	if (!r.tables) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < r.plan.ntables; i++) {
		struct vf_table *vt = &r.tables[r.ntables++];
		struct ferry_verify_table *st = &r.res->tables[r.res->ntables++];

		vt->tp = &r.plan.tables[i];
		vt->st = st;
		st->name = ferry_strdup(vt->tp->src->name);
		st->target = ferry_strdup(vt->tp->dst_name);
		if ((rc = setup_table(vt, ferry_catalog_target(tcat, scat, vt->tp->dst_name),
				      ferry_conn_ops_of(src)->caps, ferry_conn_ops_of(dst)->caps,
				      err)) < 0) {
			ferry_error_prefix(err, "cannot verify table '%s'", vt->tp->src->name);
			goto out;
		}
		st->keyed = vt->keyed;
	}
	if ((rc = plan_chunks(&r, src, &total, err)) < 0)
		goto out;
	jobs = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	ferry_progress_reset(r.progress, "verify", total);
	rc = run_workers(&r, jobs, err);
	ferry_progress_done(r.progress);
out:
	ferry_free(r.src_url);
	if (r.res) {
		struct ferry_verify_result *res = r.res;

		for (i = 0; i < res->ntables; i++) {
			res->chunks += res->tables[i].chunks;
			res->checked += res->tables[i].checked;
			res->src_rows += res->tables[i].src_rows;
			res->dst_rows += res->tables[i].dst_rows;
			res->rejected += res->tables[i].rejected;
			res->differing += res->tables[i].differing;
		}
		res->equal = rc == 0 && res->ndiffs == 0;
		res->seconds = ferry_now() - start;
		/* diffs in table, then key order */
		for (i = 0; i < res->ndiffs; i++) {
			size_t m;

			for (m = i + 1; m < res->ndiffs; m++) {
				int c = strcmp(res->diffs[m].table, res->diffs[i].table);

				if (c < 0 || (c == 0 && res->diffs[m].lo < res->diffs[i].lo)) {
					struct ferry_verify_diff tmp = res->diffs[i];

					res->diffs[i] = res->diffs[m];
					res->diffs[m] = tmp;
				}
			}
		}
	}
	copy_watch_stop(&r.watch, NULL);
	ferry_progress_free(r.progress);
	for (i = 0; i < r.ntables; i++) {
		ferry_free(r.tables[i].dst.cols);
		ferry_free(r.tables[i].types);
		ferry_free(r.tables[i].typmods);
		if (r.tables[i].dxf)
			ferry_free(r.tables[i].dxf->cols);
		ferry_free(r.tables[i].dxf);
	}
	ferry_free(r.tables);
	ferry_free(r.chunks);
	plan_release(&r.plan);
	if (r.rej.path)
		unlink(r.rej.path);
	rej_release(&r.rej);
	if (r.rejdir[0])
		rmdir(r.rejdir);
	plan_strv_release(&excl);
	ferry_catalog_free(scat);
	ferry_catalog_free(tcat);
	copy_relmap_free(map);
	ferry_conn_close(src);
	ferry_conn_close(dst);
	pthread_mutex_destroy(&r.lock);
	if (out)
		*out = r.res;
	else
		ferry_verify_result_free(r.res);
	return rc;
}
