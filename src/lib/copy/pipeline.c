/*
 * pipeline.c - the data phase: chunks of rows moved by parallel workers.
 *
 *   chunk queue --> worker 1: reader thread --[bounded batch queue]--> transform + COPY
 *               \-> worker 2: ...
 *
 * Each worker has its own source and target connection and takes the next
 * chunk (a table's rowid range) from a shared queue, so one big table uses
 * every job.  Inside a worker the source is read by a separate thread that
 * hands filled batches over a bounded queue of QDEPTH batches: reading
 * SQLite, converting and encoding, and the server's COPY ingestion all
 * proceed at once, and memory is bounded by jobs * (QDEPTH + 2) batches
 * whatever the table size.  Batches change hands by swapping their
 * buffers, never by copying rows.
 *
 * A table loaded in the order of an index (copy.c: pick_order) goes one
 * chunk at a time; its rows are scanned once in rowid order into a
 * temporary file and each chunk's are sorted on the way out (spill.c).
 *
 * Each chunk is one target transaction: its rows are all there or none.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "copy/planner.h"
#include "copy/relmap.h"
#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/registry.h"

#define QDEPTH 4
#define MAXREADERS 4

struct bqueue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct ferry_batch *full[QDEPTH + 1];  /* FIFO of filled batches */
	size_t head, count;
	struct ferry_batch *free[QDEPTH + 1];  /* empty batches */
	size_t nfree;
	int done;      /* reader finished (rc says how) */
	int stop;      /* writer wants the reader to stop */
	int rc;
	struct ferry_error err;
};

struct reader_args {
	struct bqueue *q;
	ferry_conn *src;
	struct ferry_read_spec spec;
	const char **bounds;   /* ordered pieces (see load_chunk), or NULL */
	size_t npieces, first, stride, ncols;
};

/* Reader callback: swap the filled batch for an empty one from the pool. */
static int hand_over(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct bqueue *q = ud;
	struct ferry_batch *slot, tmp;

	(void)err;
	pthread_mutex_lock(&q->lock);
	while (q->nfree == 0 && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->stop) {
		pthread_mutex_unlock(&q->lock);
		return 1;
	}
	slot = q->free[--q->nfree];
	pthread_mutex_unlock(&q->lock);
	tmp = *slot;
	*slot = *b;
	*b = tmp;
	pthread_mutex_lock(&q->lock);
	q->full[(q->head + q->count) % (QDEPTH + 1)] = slot;
	q->count++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

static void *reader_main(void *arg)
{
	struct reader_args *ra = arg;
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(ra->src);
	int rc = 0;

	if (!ra->bounds) {
		rc = ops->read(ra->src, &ra->spec, hand_over, ra->q, &err);
	} else {
		struct ferry_batch end;
		size_t j;

		if (ferry_batch_init(&end, ra->ncols, ra->spec.batch_rows) < 0)
			rc = ferry_error_set(&err, FERRY_ENOMEM, "out of memory");
		for (j = ra->first; rc == 0 && j < ra->npieces; j += ra->stride) {
			ra->spec.key_lo = ra->bounds[j];
			ra->spec.key_hi = ra->bounds[j + 1];
			if ((rc = ops->read(ra->src, &ra->spec, hand_over, ra->q, &err)) == 0)
				rc = hand_over(&end, ra->q, &err);  /* the piece's end */
		}
		ferry_batch_release(&end);
	}
	pthread_mutex_lock(&ra->q->lock);
	ra->q->done = 1;
	ra->q->rc = rc < 0 ? rc : 0;
	if (rc < 0)
		ra->q->err = err;
	pthread_cond_broadcast(&ra->q->cond);
	pthread_mutex_unlock(&ra->q->lock);
	return NULL;
}

/* Next filled batch, or NULL when the reader is done. */
static struct ferry_batch *take(struct bqueue *q)
{
	struct ferry_batch *b = NULL;

	pthread_mutex_lock(&q->lock);
	while (q->count == 0 && !q->done)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->count) {
		b = q->full[q->head];
		q->head = (q->head + 1) % (QDEPTH + 1);
		q->count--;
	}
	pthread_mutex_unlock(&q->lock);
	return b;
}

static void give_back(struct bqueue *q, struct ferry_batch *b)
{
	ferry_batch_clear(b);
	pthread_mutex_lock(&q->lock);
	q->free[q->nfree++] = b;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Tell the first n readers to stop, drain their queues, join them. */
static void stop_readers(struct bqueue *qs, pthread_t *th, int n)
{
	struct ferry_batch *b;
	int r;

	for (r = 0; r < n; r++) {
		pthread_mutex_lock(&qs[r].lock);
		qs[r].stop = 1;
		pthread_cond_broadcast(&qs[r].cond);
		pthread_mutex_unlock(&qs[r].lock);
	}
	for (r = 0; r < n; r++) {
		while ((b = take(&qs[r])) != NULL)
			give_back(&qs[r], b);
		pthread_join(th[r], NULL);
	}
}

/* ---- one chunk ---------------------------------------------------------- */

struct worker {
	struct load_ctx *lc;
	ferry_conn *src, *dst;
	ferry_conn *xsrc[MAXREADERS];  /* more readers of an ordered chunk */
	pthread_t th;
	int idx;                  /* 0..jobs-1: the ramp lets the first ones claim */
	int rc;
	struct ferry_error err;
	struct rejects *rej;      /* where this chunk's rejects go */
	uint64_t hash;            /* of the current chunk's rows */
};

/* Order-independent hash of the rows written: the sum of one hash per
 * row over its converted cells (kind, then 8 bytes or length + bytes),
 * gathered on the stack and hashed with XXH3 a kilobyte at a time, each
 * piece seeded with the hash of the ones before.  Gathered with ferry_buf
 * calls per cell it took 7-12% of ferry's CPU (wide rows, InfluxDB's
 * narrow rows); a seeded hash per cell took more on wide rows. */
static void rows_hash(const struct ferry_batch *b, uint64_t *hp)
{
	unsigned char tmp[1024];
	uint64_t h = 0;
	size_t r, i;

	for (r = 0; r < b->nrows; r++) {
		uint64_t rh = 0;
		size_t at = 0;

		if (b->skip[r])
			continue;
		for (i = 0; i < b->ncols; i++) {
			const struct ferry_cell *c = ferry_batch_cell(b, r, i);
			int num = c->kind == FERRY_V_INT || c->kind == FERRY_V_REAL;
			size_t len = num ? 8 : c->kind == FERRY_V_NULL ? 0 : 4 + (size_t)c->len;
			uint32_t n32 = c->len;

			if (at + 1 + len > sizeof(tmp)) {
				rh = ferry_hash64_seed(tmp, at, rh);
				at = 0;
			}
			tmp[at++] = (unsigned char)c->kind;
			if (num) {
				memcpy(tmp + at, &c->v, 8);
				at += 8;
			} else if (c->kind == FERRY_V_NULL) {
				continue;
			} else if (1 + len <= sizeof(tmp)) {
				memcpy(tmp + at, &n32, 4);
				memcpy(tmp + at + 4, ferry_cell_bytes(b, c), c->len);
				at += len;
			} else {   /* a long value: hashed where it is */
				memcpy(tmp + at, &n32, 4);
				rh = ferry_hash64_seed(tmp, at + 4, rh);
				rh = ferry_hash64_seed(ferry_cell_bytes(b, c), c->len, rh);
				at = 0;
			}
		}
		h += ferry_hash64_seed(tmp, at, rh);
	}
	*hp += h;
}

/* Has the job rejected more than --max-errors / --max-error-rate allow? */
static int over_budget(struct load_ctx *lc, int final)
{
	int64_t rd = atomic_load(&lc->read_total), rj = atomic_load(&lc->rejected_total);

	if (lc->max_errors >= 0 && rj > lc->max_errors)
		return 1;
	/* a rate over a handful of rows means little: judge it once 1000
	 * rows were read, or at the end */
	if (lc->max_error_rate >= 0 && rd > 0 && (final || rd >= 1000) &&
	    (double)rj / (double)rd > lc->max_error_rate)
		return 1;
	return 0;
}

static int process(struct worker *w, struct table_plan *tp, ferry_writer *wr,
		   struct ferry_batch *b, struct chunk_stats *cs,
		   struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	size_t i, n = b->nrows * b->ncols, numbers = 0;
	uint64_t bytes;
	int rej;

	for (i = 0; i < n; i++)
		numbers += b->cells[i].kind == FERRY_V_INT || b->cells[i].kind == FERRY_V_REAL;
	bytes = b->arena.len + 8 * numbers;
	cs->bytes += bytes;
	cs->read += (int64_t)b->nrows;
	rej = xf_batch(b, tp, w->rej, err);
	if (rej < 0)
		return rej;
	cs->rejected += rej;
	cs->written += (int64_t)(b->nrows - b->nskipped);
	atomic_fetch_add(&lc->read_total, (int64_t)b->nrows);
	if (rej) {
		atomic_fetch_add(&lc->rejected_total, rej);
		if (over_budget(lc, 0)) {
			atomic_store(&lc->budget_exceeded, 1);
			return ferry_error_set(err, FERRY_EABORT, "error budget exceeded");
		}
	}
	if (lc->job)
		rows_hash(b, &w->hash);
	if (b->nrows > b->nskipped) {
		int rc = ferry_conn_ops_of(w->dst)->write_batch(wr, b, err);

		if (rc < 0)
			return rc;
	}
	ferry_progress_add(w->lc->progress, b->nrows, bytes);
	ferry_progress_tick(w->lc->progress);
	return 0;
}

/* Records the source could not turn into rows (malformed line protocol):
 * into the chunk's rejects from the reader thread, counted as read and
 * rejected. */
struct reader_rej {
	struct worker *w;
	const struct table_plan *tp;
	_Atomic int64_t n;
};

static int reader_reject(void *ud, int64_t key, const char *column, const char *reason,
			 const void *raw, size_t n, struct ferry_error *err)
{
	struct reader_rej *rr = ud;
	struct load_ctx *lc = rr->w->lc;
	char kj[512];
	int rc;

	xf_key_json(rr->tp->src, key, kj, sizeof(kj));
	rc = rej_add(rr->w->rej, rr->tp->src->name, kj, column ? column : "", reason,
		     FERRY_V_TEXT, raw, n, err);
	if (rc < 0)
		return rc;
	atomic_fetch_add(&rr->n, 1);
	atomic_fetch_add(&lc->read_total, 1);
	atomic_fetch_add(&lc->rejected_total, 1);
	if (over_budget(lc, 0)) {
		atomic_store(&lc->budget_exceeded, 1);
		return ferry_error_set(err, FERRY_EABORT, "error budget exceeded");
	}
	return 0;
}

/* Where bound key sits among the table's piece boundaries, or -1. */
static long piece_bound(const struct table_plan *tp, const char *key)
{
	size_t j;

	for (j = 0; j < tp->npieces; j++)
		if (!strcmp(tp->pieces[j], key))
			return (long)j;
	return -1;
}

/* The chunk's pieces among its table's boundaries: *first .. *last, piece
 * p lying between boundaries p - 1 and p.  0 when the chunk's bounds are
 * not among them (a job started by another process, from another
 * sample). */
static int chunk_span(const struct chunk_spec *ck, size_t *first, size_t *last)
{
	const struct table_plan *tp = ck->tp;
	long lo = ck->key_lo ? piece_bound(tp, ck->key_lo) : -1;
	long hi = ck->key_hi ? piece_bound(tp, ck->key_hi) : (long)tp->npieces;

	if ((ck->key_lo && lo < 0) || hi < lo + 1)
		return 0;
	*first = (size_t)(lo + 1);
	*last = (size_t)hi;
	return 1;
}

/* The bounds an ordered chunk is read in: bounds[j] .. bounds[j + 1] for
 * j < *n, the boundaries of its pieces between the chunk's own two; *n = 1
 * (the chunk whole) when chunk_span does not know them. */
static const char **chunk_pieces(const struct chunk_spec *ck, size_t *n)
{
	const struct table_plan *tp = ck->tp;
	size_t a = 0, b = 0, j;
	const char **out;

	if (!chunk_span(ck, &a, &b))
		a = b = 0;
	if (!(out = ferry_calloc(b - a + 2, sizeof(*out))))
		return NULL;
	out[0] = ck->key_lo;
	for (j = a; j < b; j++)
		out[j - a + 1] = tp->pieces[j];
	out[b - a + 1] = ck->key_hi;
	*n = b - a + 1;
	return out;
}

/* ---- an ordered chunk sorted by ferry (spill.c) ------------------------ */

/* Up to nr readers of tp: the extra source connections (kept by the
 * worker), QDEPTH + 1 batches each, the common part of their specs. */
static int readers_setup(struct worker *w, const struct table_plan *tp, size_t nr,
			 struct bqueue *qs, struct ferry_batch (*pool)[QDEPTH + 1],
			 size_t *npool, struct reader_args *ra, struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	size_t r;
	int rc;

	for (r = 1; r < nr; r++)
		if (!w->xsrc[r] &&
		    (rc = ferry_conn_open(lc->src_url, FERRY_OPEN_READONLY, &w->xsrc[r], err)) < 0)
			return rc;
	for (r = 0; r < nr; r++) {
		for (npool[r] = 0; npool[r] < QDEPTH + 1; npool[r]++) {
			if (ferry_batch_init(&pool[r][npool[r]], tp->ncols, lc->batch_rows) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			qs[r].free[qs[r].nfree++] = &pool[r][npool[r]];
		}
		memset(&ra[r], 0, sizeof(ra[r]));
		ra[r].q = &qs[r];
		ra[r].src = r ? w->xsrc[r] : w->src;
		ra[r].spec.table = tp->src;
		ra[r].spec.batch_rows = lc->batch_rows;
		ra[r].spec.batch_bytes = lc->batch_bytes;
		ra[r].ncols = tp->ncols;
	}
	return 0;
}


/* Global piece of a row key: how many boundaries are at or below it. */
static size_t piece_of(const struct table_plan *tp, const struct ferry_buf *key)
{
	size_t lo = 0, hi = tp->npieces;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ferry_buf *b = &tp->bkeys[mid];
		size_t n = b->len < key->len ? b->len : key->len;
		int c = memcmp(b->buf, key->buf, n);

		if (c < 0 || (c == 0 && b->len <= key->len))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index's columns as batch positions and the boundaries as sort
 * keys, once per table; -1 (and spill_off) when that cannot be done. */
static int spill_keys(struct table_plan *tp)
{
	const struct ferry_index *ix = NULL;
	size_t i, j;

	if (tp->kpos)
		return 0;
	for (i = 0; i < tp->src->nidx; i++)
		if (!strcmp(tp->src->idx[i].name, tp->order))
			ix = &tp->src->idx[i];
	if (!ix || !ix->nparts || !(tp->kpos = ferry_calloc(ix->nparts, sizeof(*tp->kpos))))
		goto off;
	tp->nkpos = ix->nparts;
	for (i = 0; i < ix->nparts; i++) {
		for (j = 0; ix->cols[i] && j < tp->ncols; j++)
			if (!strcmp(tp->cols[j].src_name, ix->cols[i]))
				break;
		if (!ix->cols[i] || j == tp->ncols)
			goto off;
		tp->kpos[i] = (int)j;
	}
	if (!(tp->bkeys = ferry_calloc(tp->npieces + 1, sizeof(*tp->bkeys))))
		goto off;
	for (j = 0; j < tp->npieces; j++) {
		ferry_buf_init(&tp->bkeys[j], 0);
		if (spill_bound_key(&tp->bkeys[j], tp->pieces[j], tp->nkpos) < 0)
			goto off;
	}
	return 0;
off:
	tp->spill_off = 1;
	return -1;
}

/*
 * Scan the table in rowid ranges (up to MAXREADERS readers, one per job,
 * or as -j auto decided: no COPY of this table runs meanwhile)
 * and file every row from piece `first` on in the table's spill.
 */
static int spill_scan(struct worker *w, struct table_plan *tp, size_t first,
		      struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	struct reader_args ra[MAXREADERS];
	struct bqueue qs[MAXREADERS];
	struct ferry_batch pool[MAXREADERS][QDEPTH + 1];
	struct ferry_buf key = FERRY_BUF_INIT;
	size_t r, i, nr, npool[MAXREADERS] = { 0 }, live;
	pthread_t th[MAXREADERS];
	int64_t span = tp->hi - tp->lo + 1, step;
	int rc = 0, started = 0, done[MAXREADERS] = { 0 };

	memset(qs, 0, sizeof(qs));
	for (r = 0; r < MAXREADERS; r++) {
		pthread_mutex_init(&qs[r].lock, NULL);
		pthread_cond_init(&qs[r].cond, NULL);
	}
	nr = lc->readers > 0 ? (size_t)lc->readers : lc->jobs < 1 ? 1 : (size_t)lc->jobs;
	if (nr > MAXREADERS)
		nr = MAXREADERS;
	if ((int64_t)nr > span)
		nr = 1;
	step = (span + (int64_t)nr - 1) / (int64_t)nr;
	if ((rc = readers_setup(w, tp, nr, qs, pool, npool, ra, err)) < 0)
		goto out;
	for (r = 0; r < nr; r++) {
		/* the first range is open below: an ordered chunk holds every row
		 * with a key up to the cap, as a read through the index does */
		ra[r].spec.has_range = 1;
		ra[r].spec.lo = r ? tp->lo + (int64_t)r * step : INT64_MIN;
		ra[r].spec.hi = r + 1 == nr ? tp->hi : tp->lo + (int64_t)(r + 1) * step - 1;
	}
	for (started = 0; (size_t)started < nr; started++)
		if (pthread_create(&th[started], NULL, reader_main, &ra[started]) != 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start a reader thread");
			goto out;
		}
	for (live = nr, r = 0; live && rc == 0; r = (r + 1) % nr) {
		struct ferry_batch *b;

		if (done[r])
			continue;
		if (!(b = take(&qs[r]))) {
			done[r] = 1;
			live--;
			continue;
		}
		for (i = 0; i < b->nrows && rc == 0; i++) {
			size_t p;

			ferry_buf_clear(&key);
			if (spill_row_key(&key, b, i, tp->kpos, tp->nkpos) < 0) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				break;
			}
			if ((p = piece_of(tp, &key)) >= first)
				rc = spill_add(tp->spill, p, key.buf, key.len, b, i, err);
		}
		give_back(&qs[r], b);
		if (atomic_load(&lc->abort))
			rc = FERRY_EABORT;
	}
	stop_readers(qs, th, started);
	started = 0;
	for (r = 0; r < nr && rc == 0; r++)
		if (qs[r].rc < 0) {
			rc = qs[r].rc;
			*err = qs[r].err;
		}
	if (rc == 0)
		rc = spill_finish(tp->spill, err);
out:
	stop_readers(qs, th, started);
	for (r = 0; r < MAXREADERS; r++) {
		for (i = 0; i < npool[r]; i++)
			ferry_batch_release(&pool[r][i]);
		pthread_mutex_destroy(&qs[r].lock);
		pthread_cond_destroy(&qs[r].cond);
	}
	ferry_buf_release(&key);
	return rc;
}

/*
 * Ready the spill for an ordered chunk: its pieces are *a..*b.  The first
 * chunk this process takes of the table scans it (every later chunk's rows
 * too); pieces before the chunk are committed and forgotten.  Returns 1
 * when the chunk is to be read from the spill, 0 when through the index
 * (bounds from another process's sample, no temporary file), or an error.
 */
static int spill_prepare_locked(struct worker *w, const struct chunk_spec *ck, size_t *a,
				size_t *b, struct ferry_error *err)
{
	struct table_plan *tp = ck->tp;
	struct ferry_error e = FERRY_ERROR_INIT;
	size_t j;
	double t0;
	int rc;

	if (tp->spill_off || !chunk_span(ck, a, b) || spill_keys(tp) < 0)
		return 0;
	if (tp->spill && *a < tp->spill_first)
		return 0;
	if (tp->spill) {
		for (j = tp->spill_first; j < *a; j++)
			spill_drop(tp->spill, j);
		tp->spill_first = *a;
		return 1;
	}
	if (spill_open(&tp->spill, tp->npieces + 1, tp->ncols, &e) < 0) {
		ferry_warn("table '%s': %s; reading it through index '%s' instead",
			   tp->src->name, e.msg, tp->order);
		tp->spill_off = 1;
		return 0;
	}
	t0 = ferry_now();
	if ((rc = spill_scan(w, tp, *a, err)) < 0) {
		int full = spill_write_failed(tp->spill);

		spill_free(tp->spill);
		tp->spill = NULL;
		if (!full)
			return rc;
		/* a full disk is no reason to stop: the index still reads */
		ferry_warn("table '%s': %s; reading it through index '%s' instead",
			   tp->src->name, err->msg, tp->order);
		ferry_error_clear(err);
		tp->spill_off = 1;
		return 0;
	}
	tp->spill_first = *a;
	ferry_info("table '%s': read in rowid order into a temporary file for index '%s' in %.2f s",
		   tp->src->name, tp->order, ferry_now() - t0);
	return 1;
}

/* One worker at a time holds a table's ordered chunk (ck_claim), but the
 * next may be another thread: the lock hands the spill state over. */
static int spill_prepare(struct worker *w, const struct chunk_spec *ck, size_t *a, size_t *b,
			 struct ferry_error *err)
{
	int rc;

	pthread_mutex_lock(&w->lc->spill_lock);
	rc = spill_prepare_locked(w, ck, a, b, err);
	pthread_mutex_unlock(&w->lc->spill_lock);
	return rc;
}

struct emit_ctx {
	struct worker *w;
	struct table_plan *tp;
	ferry_writer *wr;
	struct chunk_stats *cs;
};

static int emit_batch(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct emit_ctx *ec = ud;

	if (atomic_load(&ec->w->lc->abort))
		return FERRY_EABORT;
	return process(ec->w, ec->tp, ec->wr, b, ec->cs, err);
}

/*
 * Move one chunk's rows inside the transaction the caller opened; cs gets
 * the chunk's counts.  The caller commits (with the checkpoint) or rolls
 * back.
 *
 * An ordered chunk comes from the table's spill, piece by piece, sorted
 * (spill_prepare).  When it cannot (another process's bounds, no usable
 * temporary file) it is read through the index by up to MAXREADERS
 * threads, each on its own source connection: reader r reads pieces r,
 * r + R, r + 2R ... and ends each with an empty batch; the writer takes
 * the pieces in order, so the rows reach COPY in the index's order while
 * the lookups an index-order read costs (a table seek per row) run in
 * parallel.
 */
static int load_chunk(struct worker *w, const struct chunk_spec *ck,
		      struct chunk_stats *csp, struct ferry_error *err)
{
	const struct ferry_conn_ops *dops = ferry_conn_ops_of(w->dst);
	struct load_ctx *lc = w->lc;
	struct table_plan *tp = ck->tp;
	struct ferry_write_spec ws = { 0 };
	struct reader_args ra[MAXREADERS];
	struct reader_rej rr;
	struct bqueue qs[MAXREADERS];
	struct ferry_batch pool[MAXREADERS][QDEPTH + 1];
	struct chunk_stats cs = { 0 };
	const char **cols, **bounds = NULL;
	int *types;
	int32_t *typmods;
	ferry_writer *wr = NULL;
	struct ferry_batch *b;
	size_t i, r, nr = 1, npool[MAXREADERS] = { 0 }, batch_rows, npieces = 1, piece = 0;
	size_t pa = 0, pb = 0;
	pthread_t th[MAXREADERS];
	int rc = 0, started = 0, spilled = 0;

	memset(qs, 0, sizeof(qs));
	for (r = 0; r < MAXREADERS; r++) {
		pthread_mutex_init(&qs[r].lock, NULL);
		pthread_cond_init(&qs[r].cond, NULL);
	}
	cols = ferry_calloc(tp->ncols + 1, sizeof(*cols));
	types = ferry_calloc(tp->ncols + 1, sizeof(*types));
	typmods = ferry_calloc(tp->ncols + 1, sizeof(*typmods));
	if (!cols || !types || !typmods) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < tp->ncols; i++) {
		cols[i] = tp->cols[i].dst_name;
		types[i] = tp->cols[i].type;
		typmods[i] = tp->cols[i].typmod;
	}
	ws.schema = lc->schema;
	ws.table = tp->dst_name;
	ws.ncols = tp->ncols;
	ws.cols = cols;
	ws.types = types;
	ws.typmods = typmods;
	ws.merge = lc->merge;
	batch_rows = lc->batch_rows;
	if (tp->order && !tp->src_ordered && (spilled = spill_prepare(w, ck, &pa, &pb, err)) < 0) {
		rc = spilled;
		goto out;
	}
	if (tp->order && !tp->src_ordered && !spilled) {
		if (!(bounds = chunk_pieces(ck, &npieces))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		nr = lc->jobs < 1 ? 1 : (size_t)lc->jobs;
		if (nr > MAXREADERS)
			nr = MAXREADERS;
		if (nr > npieces)
			nr = npieces;
	}
	rr.w = w;
	rr.tp = tp;
	atomic_init(&rr.n, 0);
	if ((rc = readers_setup(w, tp, nr, qs, pool, npool, ra, err)) < 0)
		goto out;
	for (r = 0; r < nr; r++) {
		ra[r].spec.has_range = ck->has_range;
		ra[r].spec.lo = ck->lo;
		ra[r].spec.hi = ck->hi;
		if (!tp->src_ordered) {
			ra[r].spec.order = tp->order;
			ra[r].spec.key_lo = ck->key_lo;
			ra[r].spec.key_hi = ck->key_hi;
		}
		ra[r].spec.reject = reader_reject;
		ra[r].spec.reject_ud = &rr;
		/* the chunk after this one is this worker's next: with one
		 * stream, and with a table loaded in an index's order, whose
		 * chunks go one after the other (a worker that finds none it
		 * may take ends) */
		ra[r].spec.then_next = nr == 1 && (lc->jobs == 1 || tp->order);
		ra[r].bounds = bounds;
		ra[r].npieces = npieces;
		ra[r].first = r;
		ra[r].stride = nr;
	}
	if ((rc = dops->write_open(w->dst, &ws, &wr, err)) < 0)
		goto out;
	if (spilled) {
		struct emit_ctx ec = { w, tp, wr, &cs };

		for (i = pa; i <= pb && rc == 0; i++)
			rc = spill_emit(tp->spill, i, &pool[0][0], batch_rows, lc->batch_bytes,
					emit_batch, &ec, err);
		nr = 0;  /* no readers */
	}
	for (started = 0; (size_t)started < nr; started++)
		if (pthread_create(&th[started], NULL, reader_main, &ra[started]) != 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start a reader thread");
			goto out;
		}
	/* pieces in order, piece j from reader j % nr, each ended by an empty
	 * batch; a plain read is one piece without that end */
	while (nr && (b = take(&qs[piece % nr])) != NULL) {
		if (bounds && b->nrows == 0) {
			give_back(&qs[piece % nr], b);
			if (++piece == npieces)
				break;
			continue;
		}
		if (rc == 0 && !atomic_load(&lc->abort))
			rc = process(w, tp, wr, b, &cs, err);
		give_back(&qs[piece % nr], b);
		if (rc < 0 || atomic_load(&lc->abort))
			break;
	}
	if (rc == 0 && bounds && piece < npieces && !atomic_load(&lc->abort) &&
	    qs[piece % nr].rc == 0)
		rc = ferry_error_set(err, FERRY_EIO, "a reader of table '%s' ended early",
				     tp->src->name);
	stop_readers(qs, th, started);
	started = 0;
	for (r = 0; r < nr && rc == 0; r++)
		if (qs[r].rc < 0) {
			rc = qs[r].rc;
			*err = qs[r].err;
		}
	if (rc == 0 && atomic_load(&lc->abort))
		rc = FERRY_EABORT;
	{
		int wrc = dops->write_close(wr, rc == 0, rc == 0 ? err : NULL);

		wr = NULL;
		if (rc == 0)
			rc = wrc;
	}
	if (rc == 0) {
		cs.read += atomic_load(&rr.n);
		cs.rejected += atomic_load(&rr.n);
		*csp = cs;
	}
out:
	stop_readers(qs, th, started);
	if (wr)
		dops->write_close(wr, 0, NULL);
	for (r = 0; r < MAXREADERS; r++) {
		for (i = 0; i < npool[r]; i++)
			ferry_batch_release(&pool[r][i]);
		pthread_mutex_destroy(&qs[r].lock);
		pthread_cond_destroy(&qs[r].cond);
	}
	ferry_free(bounds);
	ferry_free(cols);
	ferry_free(types);
	ferry_free(typmods);
	return rc;
}

/* ---- workers ------------------------------------------------------------ */

/* The pause before attempt n of a retry: 0.5, 1, 2 ... 10 s. */
static double retry_wait(int n)
{
	return n > 5 ? 10 : 0.5 * (double)(1 << (n - 1));
}

/* Sleep retry_wait(n) in slices that see an abort: 0, or FERRY_EABORT. */
static int retry_pause(struct load_ctx *lc, int n)
{
	double t, wait = retry_wait(n);

	for (t = 0; t < wait; t += 0.1) {
		struct timespec ts = { 0, 100000000 };

		if (atomic_load(&lc->abort))
			return FERRY_EABORT;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* Reconnect the target after a lost connection, backing off as
 * retry_wait() says for lc->retries attempts. */
static int reconnect(struct worker *w, struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	int i, rc = FERRY_ECONN;

	ferry_conn_close(w->dst);
	w->dst = NULL;
	for (i = 1; i <= lc->retries && !atomic_load(&lc->abort); i++) {
		ferry_warn("lost the target connection; reconnecting in %.1f s (attempt %d of %d)",
			   retry_wait(i), i, lc->retries);
		if (retry_pause(lc, i) < 0)
			break;
		ferry_error_clear(err);
		rc = ferry_conn_open(lc->dst_url, FERRY_OPEN_CREATE, &w->dst, err);
		if (rc == 0 && lc->session_sql)
			rc = ferry_conn_ops_of(w->dst)->exec(w->dst, lc->session_sql, err);
		if (rc == 0)
			return 0;
		ferry_conn_close(w->dst);
		w->dst = NULL;
	}
	return rc;
}

/* After the source was lost: a row source's connections (PostgreSQL's
 * session died with it) are opened again, while it keeps refusing up to
 * the retries left (*failures counts on); a time-series source asks anew
 * with each read (InfluxDB's HTTP), and opening it would plan it again. */
static int reopen_source(struct worker *w, int *failures, struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	int r, rc;

	if (ferry_conn_ops_of(w->src)->caps & FERRY_CAP_CHUNKS)
		return 0;
	for (r = 0; r < MAXREADERS; r++) {
		ferry_conn_close(w->xsrc[r]);
		w->xsrc[r] = NULL;
	}
	ferry_conn_close(w->src);
	w->src = NULL;
	for (;;) {
		ferry_error_clear(err);
		rc = ferry_conn_open(lc->src_url, FERRY_OPEN_READONLY, &w->src, err);
		if (rc != FERRY_ECONN || ++*failures > lc->retries)
			return rc;
		ferry_warn("cannot reach the source again: %s; trying again in %.1f s "
			   "(attempt %d of %d)", err->msg, retry_wait(*failures), *failures,
			   lc->retries);
		if ((rc = retry_pause(lc, *failures)) < 0)
			return rc;
	}
}

/* Take the next chunk: from the job's checkpoint table (locked for this
 * transaction) or, without checkpoints, from the in-memory list. */
static int claim(struct worker *w, struct chunk_spec *out, int *found,
		 struct ferry_error *err)
{
	struct load_ctx *lc = w->lc;
	int stream, has_range, rc;
	int64_t lo, hi;
	size_t i;

	*found = 0;
	if (!lc->job) {
		i = atomic_fetch_add(&lc->next, 1);
		if (i < lc->nchunks) {
			*out = lc->chunks[i];
			out->key_lo = out->key_lo ? ferry_strdup(out->key_lo) : NULL;
			out->key_hi = out->key_hi ? ferry_strdup(out->key_hi) : NULL;
			*found = 1;
		}
		return 0;
	}
	rc = ck_claim(w->dst, lc->job, lc->claim_gate, found, &stream, &lo, &hi, &has_range, &out->key_lo,
		      &out->key_hi, err);
	if (rc == 0 && *found) {
		if (stream < 0 || (size_t)stream >= lc->ntables ||
		    (!lc->tables[stream].order && (out->key_lo || out->key_hi))) {
			ferry_free(out->key_lo);
			ferry_free(out->key_hi);
			out->key_lo = out->key_hi = NULL;
			*found = 0;
			return ferry_error_set(err, FERRY_EINVAL,
				"checkpoint table of job '%s' has a chunk of stream %d that this plan "
				"does not have; rerun with --restart", lc->job, stream);
		}
		out->tp = &lc->tables[stream];
		out->lo = lo;
		out->hi = hi;
		out->has_range = has_range;
	}
	return rc;
}

static void chunk_keys_free(struct chunk_spec *ck)
{
	ferry_free(ck->key_lo);
	ferry_free(ck->key_hi);
	ck->key_lo = ck->key_hi = NULL;
}

/*
 * With the ramp (-j auto): wait while this worker is not among the ones
 * allowed to claim; 0 when it never will be (the ramp has decided, or the
 * chunks ran out), and the worker ends.  Its connections stay open until
 * the data phase closes them: an idle backend costs the server nothing.
 */
static int may_claim(struct worker *w)
{
	struct load_ctx *lc = w->lc;

	while (w->idx >= atomic_load(&lc->allowed)) {
		struct timespec ts = { 0, 50000000 };

		if (atomic_load(&lc->ramp_final) || atomic_load(&lc->drained) ||
		    atomic_load(&lc->abort))
			return 0;
		nanosleep(&ts, NULL);
	}
	return 1;
}

static int keep_aside(void *ud, const char *piece, size_t n, struct ferry_error *err)
{
	return rej_add_lines(ud, piece, n, err);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct load_ctx *lc = w->lc;
	struct ferry_buf rejbuf = FERRY_BUF_INIT;
	struct rejects chunk_rej;
	int failures = 0;

	memset(&chunk_rej, 0, sizeof(chunk_rej));
	chunk_rej.mem = &rejbuf;
	chunk_rej.mem_max = CK_REJ_PIECE;
	w->rej = lc->job ? &chunk_rej : lc->rej;
	for (;;) {
		const struct ferry_conn_ops *dops;
		struct chunk_spec ck = { NULL, 0, 0, 0, NULL, NULL };
		struct chunk_stats cs = { 0 };
		int found = 0, rc, target_ok;
		double t0;

		if (atomic_load(&lc->abort))
			break;
		if (lc->ramp && !may_claim(w))
			break;
		if (!w->dst && (rc = reconnect(w, &w->err)) < 0) {
			w->rc = rc;
			break;
		}
		dops = ferry_conn_ops_of(w->dst);
		ferry_error_clear(&w->err);
		if ((rc = rej_chunk_reset(&chunk_rej, &w->err)) < 0) {
			w->rc = rc;
			atomic_store(&lc->abort, 1);
			break;
		}
		w->hash = 0;
		t0 = ferry_now();
		if ((rc = dops->begin(w->dst, &w->err)) < 0)
			goto failed;
		if ((rc = claim(w, &ck, &found, &w->err)) < 0)
			goto failed;
		if (!found) {
			int64_t pending = 0;

			dops->commit(w->dst, NULL);
			/* a relational map's later tables wait for the chunks of
			 * the tables they look up, which others are loading */
			if (lc->claim_gate && lc->job &&
			    (rc = ck_pending(w->dst, lc->job, &pending, &w->err)) < 0)
				goto failed;
			if (pending > 0 && lc->claim_gate) {
				struct timespec ts = { 0, 200000000 };

				nanosleep(&ts, NULL);
				continue;
			}
			atomic_store(&lc->drained, 1);
			break;
		}
		if (ck.tp->map && (rc = copy_relmap_lookups(ck.tp->map, w->dst, lc->schema,
							    &w->err)) < 0)
			goto failed;
		rc = load_chunk(w, &ck, &cs, &w->err);
		if (rc == 0 && lc->job)
			rc = ck_chunk_done(w->dst, lc->job, ck.tp->index, ck.lo, &cs, w->hash,
					   lc->worker_id, &chunk_rej, &w->err);
		if (rc == 0)
			rc = dops->commit(w->dst, &w->err);
		if (rc == 0) {
			pthread_mutex_lock(&lc->stats_lock);
			ck.tp->stats->read += cs.read;
			ck.tp->stats->written += cs.written;
			ck.tp->stats->rejected += cs.rejected;
			ck.tp->stats->bytes += cs.bytes;
			ck.tp->stats->seconds += ferry_now() - t0;
			pthread_mutex_unlock(&lc->stats_lock);
			failures = 0;
			chunk_keys_free(&ck);
			continue;
		}
failed:
		target_ok = dops->rollback(w->dst, NULL) == 0;
		/* the source went away (InfluxDB or PostgreSQL restarting): the
		 * target took the rollback, the chunk is pending again; claim
		 * it again once the source had time to come back (it said
		 * "lost the target connection", always attempt 1).  An HTTP
		 * answer (InfluxDB refusing the credentials) is no loss. */
		if (rc == FERRY_ECONN && lc->job && target_ok && strncmp(w->err.origin, "http ", 5) &&
		    ++failures <= lc->retries) {
			ferry_warn("lost the source: %s; copying the chunk again in %.1f s "
				   "(attempt %d of %d)", w->err.msg, retry_wait(failures), failures,
				   lc->retries);
			chunk_keys_free(&ck);
			if ((rc = retry_pause(lc, failures)) == 0)
				rc = reopen_source(w, &failures, &w->err);
			if (rc == 0)
				continue;
			if (rc == FERRY_EABORT)   /* the code and the message agree */
				ferry_error_set(&w->err, FERRY_EABORT, "stopped while waiting for "
						"the source to come back");
			w->rc = rc;
			atomic_store(&lc->abort, 1);
			break;
		}
		if (rc == FERRY_ECONN && lc->job && ++failures <= lc->retries) {
			/* the chunk rolled back with the connection and is pending
			 * again: reconnect and claim again */
			ferry_conn_close(w->dst);
			w->dst = NULL;
			chunk_keys_free(&ck);
			continue;
		}
		/* the rejects the budget stopped at roll back with the chunk:
		 * kept aside for the file, which otherwise would not say what
		 * went over it */
		if (rc == FERRY_EABORT && lc->abort_rej && atomic_load(&lc->budget_exceeded)) {
			struct ferry_error e2 = FERRY_ERROR_INIT;

			if (rej_chunk_pieces(&chunk_rej, CK_REJ_PIECE, keep_aside, lc->abort_rej,
					     &e2) < 0)
				ferry_warn("%s", e2.msg);
		}
		w->rc = rc;
		if (rc != FERRY_EABORT && found && ck.tp->order)
			ferry_error_prefix(&w->err, "cannot copy table '%s' (chunk %lld in the "
					   "order of index '%s')", ck.tp->src->name,
					   (long long)ck.lo, ck.tp->order);
		else if (rc != FERRY_EABORT && found)
			ferry_error_prefix(&w->err, "cannot copy table '%s' (rows %lld..%lld)",
					   ck.tp->src->name, (long long)ck.lo, (long long)ck.hi);
		chunk_keys_free(&ck);
		atomic_store(&lc->abort, 1);
		break;
	}
	ferry_buf_release(&rejbuf);
	if (chunk_rej.spill)
		fclose(chunk_rej.spill);
	atomic_fetch_sub(&lc->running, 1);
	return NULL;
}

int copy_load_chunks(struct load_ctx *lc, struct ferry_error *err)
{
	struct worker *ws;
	size_t k, j;
	int i, n = lc->jobs, rc = 0, started = 0;

	if (n < 1)
		n = 1;
	if ((size_t)n > lc->nchunks)
		n = lc->nchunks ? (int)lc->nchunks : 1;
	ws = ferry_calloc((size_t)n, sizeof(*ws));
	if (!ws)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pthread_mutex_init(&lc->stats_lock, NULL);
	pthread_mutex_init(&lc->spill_lock, NULL);
	atomic_store(&lc->allowed, lc->ramp ? 1 : n);
	atomic_store(&lc->ramp_final, !lc->ramp);
	atomic_store(&lc->drained, 0);
	atomic_store(&lc->running, 0);
	lc->ramp_note[0] = 0;
	for (i = 0; i < n; i++) {
		ws[i].lc = lc;
		ws[i].idx = i;
		if ((rc = ferry_conn_open(lc->src_url, FERRY_OPEN_READONLY, &ws[i].src, err)) < 0 ||
		    (rc = ferry_conn_open(lc->dst_url, FERRY_OPEN_CREATE, &ws[i].dst, err)) < 0)
			goto out;
		if (lc->session_sql &&
		    (rc = ferry_conn_ops_of(ws[i].dst)->exec(ws[i].dst, lc->session_sql, err)) < 0)
			goto out;
	}
	for (started = 0; started < n; started++) {
		atomic_fetch_add(&lc->running, 1);
		if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0) {
			atomic_fetch_sub(&lc->running, 1);
			rc = ferry_error_set(err, FERRY_EIO, "cannot start worker threads");
			atomic_store(&lc->abort, 1);
			break;
		}
	}
	if (lc->ramp && n > 1 && started == n)
		copy_ramp(lc, n);
	else if (lc->ramp)
		snprintf(lc->ramp_note, sizeof(lc->ramp_note), "%d stream%s: %zu chunk%s",
			 n, n == 1 ? "" : "s", lc->nchunks, lc->nchunks == 1 ? "" : "s");
	atomic_store(&lc->ramp_final, 1);
	for (i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
	for (i = 0; i < started && rc == 0; i++)
		if (ws[i].rc < 0 && ws[i].rc != FERRY_EABORT) {
			rc = ws[i].rc;
			*err = ws[i].err;
		}
	for (i = 0; i < started && rc == 0; i++)
		if (ws[i].rc < 0) {
			rc = ws[i].rc;
			*err = ws[i].err;
		}
out:
	for (k = 0; k < lc->ntables; k++) {
		struct table_plan *tp = &lc->tables[k];

		spill_free(tp->spill);
		tp->spill = NULL;
		for (j = 0; tp->bkeys && j < tp->npieces; j++)
			ferry_buf_release(&tp->bkeys[j]);
		ferry_free(tp->bkeys);
		ferry_free(tp->kpos);
		tp->bkeys = NULL;
		tp->kpos = NULL;
	}
	for (i = 0; i < n; i++) {
		int r;

		ferry_conn_close(ws[i].src);
		ferry_conn_close(ws[i].dst);
		for (r = 0; r < MAXREADERS; r++)
			ferry_conn_close(ws[i].xsrc[r]);
	}
	ferry_free(ws);
	pthread_mutex_destroy(&lc->stats_lock);
	pthread_mutex_destroy(&lc->spill_lock);
	return rc;
}

/* ---- post-load steps ----------------------------------------------------- */

struct steps_ctx {
	const char *dst_url, *session_sql, *job;
	int max_stage;
	pthread_mutex_t lock;
	int failed;
	struct ferry_error err;
};

static int is_retryable(const struct ferry_error *e)
{
	return strstr(e->origin, "40P01") || strstr(e->origin, "40001") ||
	       strstr(e->origin, "55P03");
}

static int one_step(ferry_conn *c, struct steps_ctx *sc, int *more,
		    struct ferry_error *err)
{
	int berr = 0;
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(c);
	struct ferry_buf stmt = FERRY_BUF_INIT, note = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	int found, wait, step = 0, stage = 0, rc, failed = 0;

	*more = 0;
	if ((rc = ops->begin(c, err)) < 0)
		goto out;
	if ((rc = ck_step_claim(c, sc->job, sc->max_stage, &found, &wait, &step, &stage, &stmt, err)) < 0)
		goto out;
	if (!found) {
		rc = ops->commit(c, err);
		if (rc == 0 && wait) {
			/* others hold this stage's last steps and a later
			 * stage's steps wait for them: a short nap, as a small
			 * table's build takes milliseconds */
			struct timespec ts = { 0, 20000000 };

			nanosleep(&ts, NULL);
			*more = 1;
		}
		goto out;
	}
	*more = 1;
	ferry_debug("step %d: %s", step, stmt.buf);
	if (!strncmp(stmt.buf, "VACUUM ", 7)) {
		/*
		 * VACUUM cannot run inside a transaction: the step is done
		 * once claimed, then runs on its own.  It only makes what
		 * follows cheaper (post.c), and autovacuum does it later
		 * anyway, so one cut short by a kill is not run again and
		 * one that fails is a warning.  The claim commits
		 * synchronously: the chunks committed without waiting for
		 * their WAL, and until it is flushed VACUUM cannot tell their
		 * rows visible to all, nor set the visibility map.
		 */
		if ((rc = ops->exec(c, "SET LOCAL synchronous_commit TO on", err)) < 0 ||
		    (rc = ck_step_done(c, sc->job, step, NULL, err)) < 0 ||
		    (rc = ops->commit(c, err)) < 0)
			goto out;
		if (ops->exec(c, stmt.buf, &e) < 0) {
			if (e.code == FERRY_ECONN) {
				rc = e.code;
				*err = e;
			} else {
				ferry_warn("%s failed (%s): the foreign keys are validated without it, more slowly",
					   stmt.buf, e.msg);
			}
		}
		goto out;
	}
	if ((rc = ops->exec(c, "SAVEPOINT ferry_step", err)) < 0)
		goto out;
	if (ops->exec(c, stmt.buf, &e) < 0) {
		if (e.code == FERRY_ECONN || is_retryable(&e)) {
			/* leave the step pending: this or another worker retries */
			ops->rollback(c, NULL);
			rc = e.code == FERRY_ECONN ? e.code : 0;
			if (rc)
				*err = e;
			goto out;
		}
		ops->exec(c, "ROLLBACK TO SAVEPOINT ferry_step", NULL);
		if (strstr(stmt.buf, " VALIDATE CONSTRAINT ")) {
			/* SQLite often runs with foreign keys off and holds
			 * orphans: the key stays, for new rows, unvalidated */
			berr |= ferry_buf_addf(&note, "foreign key added NOT VALID because existing rows "
				       "violate it (%s); fix the rows, then run %.300s", e.msg, stmt.buf);
		} else if (stage == STAGE_FKEYS && strstr(stmt.buf, " NOT VALID")) {
			failed = 1;
			berr |= ferry_buf_addf(&note, "cannot add '%.300s': %s", stmt.buf, e.msg);
		} else if (stage == STAGE_FKEYS) {
			/* SQLite often runs with foreign keys off and holds orphans:
			 * keep the constraint for new rows, unvalidated */
			struct ferry_buf nv = FERRY_BUF_INIT;
			struct ferry_error e2 = FERRY_ERROR_INIT;

			if (ferry_buf_addf(&nv, "%s NOT VALID", stmt.buf) < 0) {
				/* never run cut short; the step stays pending */
				ferry_buf_release(&nv);
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			if (ops->exec(c, nv.buf, &e2) == 0) {
				berr |= ferry_buf_addf(&note, "foreign key added NOT VALID because existing rows "
					       "violate it: %.200s; fix the rows, then run ALTER TABLE ... "
					       "VALIDATE CONSTRAINT", stmt.buf);
			} else {
				ops->exec(c, "ROLLBACK TO SAVEPOINT ferry_step", NULL);
				failed = 1;
				berr |= ferry_buf_addf(&note, "cannot add '%.300s': %s", stmt.buf, e2.msg);
			}
			ferry_buf_release(&nv);
		} else if (!strncmp(e.origin, "sqlstate 23", 11) || step >= STEP_RESTORE_BASE) {
			/* the rows break a key (in SQLite integer 1 and text '1' are
			 * two keys, in a text column one), or what was taken off for
			 * the load does not come back: the copy is not what the
			 * source was, so it fails rather than warns */
			failed = 1;
			berr |= ferry_buf_addf(&note, "cannot build '%.300s': %s", stmt.buf, e.msg);
		} else if (stage == STAGE_ATTACH) {
			/* a primary key or UNIQUE constraint, never a warning; when
			 * its index failed, that step says why: a rerun tries both */
			const char *ix = strstr(stmt.buf, " USING INDEX ");
			struct ferry_buf like = FERRY_BUF_INIT;
			int64_t n = 0;

			failed = 1;
			if (ix) {
				if (ferry_buf_addf(&like, "CREATE UNIQUE INDEX %s ", ix + 13) < 0)
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				else
					rc = ck_steps_failed_like(c, sc->job, like.buf, &n, err);
				if (rc < 0) {
					ferry_buf_release(&like);
					goto out;
				}
			}
			ferry_buf_release(&like);
			if (!n)
				berr |= ferry_buf_addf(&note, "cannot add '%.300s': %s", stmt.buf, e.msg);
		} else {
			berr |= ferry_buf_addf(&note, "skipped '%.300s': %s", stmt.buf, e.msg);
		}
	}
	if (berr < 0) {  /* a note cut short is not recorded: the step stays pending */
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = (failed ? ck_step_fail : ck_step_done)(c, sc->job, step,
							 note.len ? note.buf : NULL, err)) < 0)
		goto out;
	rc = ops->commit(c, err);
out:
	if (rc < 0)
		ops->rollback(c, NULL);
	ferry_buf_release(&stmt);
	ferry_buf_release(&note);
	return rc;
}

static void *steps_main(void *arg)
{
	struct steps_ctx *sc = arg;
	struct ferry_error e = FERRY_ERROR_INIT;
	ferry_conn *c = NULL;
	int more = 1, rc;

	rc = ferry_conn_open(sc->dst_url, FERRY_OPEN_CREATE, &c, &e);
	if (rc == 0 && sc->session_sql &&
	    (rc = ferry_conn_ops_of(c)->exec(c, sc->session_sql, &e)) < 0)
		ferry_error_prefix(&e, "cannot set up a session for the index and key builds (%s)",
				   sc->session_sql);
	while (rc == 0 && more) {
		pthread_mutex_lock(&sc->lock);
		more = !sc->failed;
		pthread_mutex_unlock(&sc->lock);
		if (more)
			rc = one_step(c, sc, &more, &e);
	}
	if (rc < 0) {
		pthread_mutex_lock(&sc->lock);
		if (!sc->failed) {
			sc->failed = 1;
			sc->err = e;
		}
		pthread_mutex_unlock(&sc->lock);
	}
	ferry_conn_close(c);
	return NULL;
}

int copy_run_steps(const char *dst_url, const char *session_sql, const char *job,
	      int max_stage, int jobs, struct ferry_error *err)
{
	struct steps_ctx sc;
	pthread_t th[64];
	int i, started = 0;

	memset(&sc, 0, sizeof(sc));
	sc.dst_url = dst_url;
	sc.session_sql = session_sql;
	sc.job = job;
	sc.max_stage = max_stage;
	pthread_mutex_init(&sc.lock, NULL);
	if (jobs < 1)
		jobs = 1;
	if (jobs > 64)
		jobs = 64;
	for (i = 0; i < jobs; i++)
		if (pthread_create(&th[i], NULL, steps_main, &sc) == 0)
			started++;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&sc.lock);
	if (started == 0)
		return ferry_error_set(err, FERRY_EIO, "cannot start threads");
	if (sc.failed) {
		*err = sc.err;
		return sc.err.code ? sc.err.code : FERRY_ESQL;
	}
	return 0;
}
