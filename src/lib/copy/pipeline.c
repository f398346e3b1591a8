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
 * Each chunk is one target transaction: its rows are all there or none.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/log.h"

#define QDEPTH 4

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
};

/* Reader callback: swap the filled batch for an empty one from the pool. */
static int hand_over(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct bqueue *q = ud;
	struct ferry_batch *slot, tmp;

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
	int rc = ferry_conn_ops_of(ra->src)->read(ra->src, &ra->spec, hand_over,
						  ra->q, &err);

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

/* ---- one chunk ---------------------------------------------------------- */

struct worker {
	struct load_ctx *lc;
	ferry_conn *src, *dst;
	pthread_t th;
	int rc;
	struct ferry_error err;
};

static int process(struct worker *w, struct table_plan *tp, ferry_writer *wr,
		   struct ferry_batch *b, struct chunk_stats *cs,
		   struct ferry_error *err)
{
	size_t i, n = b->nrows * b->ncols, numbers = 0;
	uint64_t bytes;
	int rej;

	for (i = 0; i < n; i++)
		numbers += b->cells[i].kind == FERRY_V_INT || b->cells[i].kind == FERRY_V_REAL;
	bytes = b->arena.len + 8 * numbers;
	cs->bytes += bytes;
	cs->read += (int64_t)b->nrows;
	rej = xf_batch(b, tp, w->lc->rej, err);
	if (rej < 0)
		return rej;
	cs->rejected += rej;
	cs->written += (int64_t)(b->nrows - b->nskipped);
	if (b->nrows > b->nskipped) {
		int rc = ferry_conn_ops_of(w->dst)->write_batch(wr, b, err);

		if (rc < 0)
			return rc;
	}
	ferry_progress_add(w->lc->progress, b->nrows, bytes);
	ferry_progress_tick(w->lc->progress);
	return 0;
}

static int load_chunk(struct worker *w, const struct chunk_spec *ck,
		      struct ferry_error *err)
{
	const struct ferry_conn_ops *dops = ferry_conn_ops_of(w->dst);
	struct load_ctx *lc = w->lc;
	struct table_plan *tp = ck->tp;
	struct ferry_write_spec ws = { 0 };
	struct reader_args ra;
	struct bqueue q;
	struct ferry_batch pool[QDEPTH + 1];
	struct chunk_stats cs = { 0 };
	const char **cols;
	int *types;
	int32_t *typmods;
	ferry_writer *wr = NULL;
	struct ferry_batch *b;
	size_t i, npool = 0, batch_rows;
	pthread_t th;
	int rc = 0, started = 0, in_txn = 0;

	memset(&q, 0, sizeof(q));
	pthread_mutex_init(&q.lock, NULL);
	pthread_cond_init(&q.cond, NULL);
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
	batch_rows = lc->batch_rows;
	for (npool = 0; npool < QDEPTH + 1; npool++) {
		if (ferry_batch_init(&pool[npool], tp->ncols, batch_rows) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		q.free[q.nfree++] = &pool[npool];
	}
	ra.q = &q;
	ra.src = w->src;
	memset(&ra.spec, 0, sizeof(ra.spec));
	ra.spec.table = tp->src;
	ra.spec.has_range = ck->has_range;
	ra.spec.lo = ck->lo;
	ra.spec.hi = ck->hi;
	ra.spec.batch_rows = batch_rows;
	ra.spec.batch_bytes = lc->batch_bytes;
	if ((rc = dops->begin(w->dst, err)) < 0)
		goto out;
	in_txn = 1;
	if ((rc = dops->write_open(w->dst, &ws, &wr, err)) < 0)
		goto out;
	if (pthread_create(&th, NULL, reader_main, &ra) != 0) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot start a reader thread");
		goto out;
	}
	started = 1;
	while ((b = take(&q)) != NULL) {
		if (rc == 0 && !atomic_load(&lc->abort))
			rc = process(w, tp, wr, b, &cs, err);
		give_back(&q, b);
		if (rc < 0 || atomic_load(&lc->abort)) {
			pthread_mutex_lock(&q.lock);
			q.stop = 1;
			pthread_cond_broadcast(&q.cond);
			pthread_mutex_unlock(&q.lock);
		}
	}
	pthread_join(th, NULL);
	started = 0;
	if (rc == 0 && q.rc < 0) {
		rc = q.rc;
		*err = q.err;
	}
	if (rc == 0 && atomic_load(&lc->abort))
		rc = FERRY_EABORT;
	{
		int wrc = dops->write_close(wr, rc == 0, rc == 0 ? err : NULL);

		wr = NULL;
		if (rc == 0)
			rc = wrc;
	}
	if (rc == 0 && (rc = dops->commit(w->dst, err)) == 0) {
		in_txn = 0;
		pthread_mutex_lock(&lc->stats_lock);
		tp->stats->read += cs.read;
		tp->stats->written += cs.written;
		tp->stats->rejected += cs.rejected;
		tp->stats->bytes += cs.bytes;
		pthread_mutex_unlock(&lc->stats_lock);
	}
out:
	if (started) {
		pthread_mutex_lock(&q.lock);
		q.stop = 1;
		pthread_cond_broadcast(&q.cond);
		pthread_mutex_unlock(&q.lock);
		while ((b = take(&q)) != NULL)
			give_back(&q, b);
		pthread_join(th, NULL);
	}
	if (wr)
		dops->write_close(wr, 0, NULL);
	if (in_txn)
		dops->rollback(w->dst, NULL);
	for (i = 0; i < npool; i++)
		ferry_batch_release(&pool[i]);
	pthread_mutex_destroy(&q.lock);
	pthread_cond_destroy(&q.cond);
	ferry_free(cols);
	ferry_free(types);
	ferry_free(typmods);
	return rc;
}

/* ---- workers ------------------------------------------------------------ */

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct load_ctx *lc = w->lc;

	for (;;) {
		size_t i;
		const struct chunk_spec *ck;
		double t0;

		if (atomic_load(&lc->abort))
			break;
		i = atomic_fetch_add(&lc->next, 1);
		if (i >= lc->nchunks)
			break;
		ck = &lc->chunks[i];
		t0 = ferry_now();
		w->rc = load_chunk(w, ck, &w->err);
		pthread_mutex_lock(&lc->stats_lock);
		ck->tp->stats->seconds += ferry_now() - t0;
		pthread_mutex_unlock(&lc->stats_lock);
		if (w->rc < 0) {
			if (w->rc != FERRY_EABORT)
				ferry_error_prefix(&w->err, "cannot copy table '%s' (rows %lld..%lld)",
						   ck->tp->src->name, (long long)ck->lo,
						   (long long)ck->hi);
			atomic_store(&lc->abort, 1);
			break;
		}
	}
	return NULL;
}

int load_chunks(struct load_ctx *lc, struct ferry_error *err)
{
	struct worker *ws;
	int i, n = lc->jobs, rc = 0, started = 0;

	if (n < 1)
		n = 1;
	if ((size_t)n > lc->nchunks)
		n = lc->nchunks ? (int)lc->nchunks : 1;
	ws = ferry_calloc((size_t)n, sizeof(*ws));
	if (!ws)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pthread_mutex_init(&lc->stats_lock, NULL);
	for (i = 0; i < n; i++) {
		ws[i].lc = lc;
		if ((rc = ferry_conn_open(lc->src_url, FERRY_OPEN_READONLY, &ws[i].src, err)) < 0 ||
		    (rc = ferry_conn_open(lc->dst_url, FERRY_OPEN_CREATE, &ws[i].dst, err)) < 0)
			goto out;
		if (lc->session_sql &&
		    (rc = ferry_conn_ops_of(ws[i].dst)->exec(ws[i].dst, lc->session_sql, err)) < 0)
			goto out;
	}
	for (started = 0; started < n; started++)
		if (pthread_create(&ws[started].th, NULL, worker_main, &ws[started]) != 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot start worker threads");
			atomic_store(&lc->abort, 1);
			break;
		}
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
	for (i = 0; i < n; i++) {
		ferry_conn_close(ws[i].src);
		ferry_conn_close(ws[i].dst);
	}
	ferry_free(ws);
	pthread_mutex_destroy(&lc->stats_lock);
	return rc;
}

/* ---- parallel DDL -------------------------------------------------------- */

struct ddl_ctx {
	const char *dst_url;
	const char *session_sql;
	char **stmts;
	size_t n;
	_Atomic size_t next;
	pthread_mutex_t lock;
	char **errors;      /* per statement: NULL or the error message */
	int fatal;
	struct ferry_error err;
};

static void *ddl_main(void *arg)
{
	struct ddl_ctx *d = arg;
	struct ferry_error e = FERRY_ERROR_INIT;
	ferry_conn *c = NULL;
	size_t i;

	if (ferry_conn_open(d->dst_url, FERRY_OPEN_CREATE, &c, &e) < 0 ||
	    (d->session_sql && ferry_conn_ops_of(c)->exec(c, d->session_sql, &e) < 0)) {
		pthread_mutex_lock(&d->lock);
		if (!d->fatal) {
			d->fatal = 1;
			d->err = e;
		}
		pthread_mutex_unlock(&d->lock);
		ferry_conn_close(c);
		return NULL;
	}
	while ((i = atomic_fetch_add(&d->next, 1)) < d->n) {
		ferry_error_clear(&e);
		ferry_debug("sql: %s", d->stmts[i]);
		if (ferry_conn_ops_of(c)->exec(c, d->stmts[i], &e) < 0) {
			if (e.code == FERRY_ECONN) {
				pthread_mutex_lock(&d->lock);
				if (!d->fatal) {
					d->fatal = 1;
					d->err = e;
				}
				pthread_mutex_unlock(&d->lock);
				break;
			}
			d->errors[i] = ferry_strdup(e.msg[0] ? e.msg : "failed");
		}
	}
	ferry_conn_close(c);
	return NULL;
}

int run_ddl_parallel(const char *dst_url, const char *session_sql, int jobs,
		     char **stmts, size_t n, char ***errors, struct ferry_error *err)
{
	struct ddl_ctx d;
	pthread_t th[64];
	int i, started = 0;

	*errors = NULL;
	if (n == 0)
		return 0;
	memset(&d, 0, sizeof(d));
	d.dst_url = dst_url;
	d.session_sql = session_sql;
	d.stmts = stmts;
	d.n = n;
	pthread_mutex_init(&d.lock, NULL);
	d.errors = ferry_calloc(n, sizeof(char *));
	if (!d.errors)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (jobs < 1)
		jobs = 1;
	if (jobs > 64)
		jobs = 64;
	if ((size_t)jobs > n)
		jobs = (int)n;
	for (i = 0; i < jobs; i++)
		if (pthread_create(&th[i], NULL, ddl_main, &d) == 0)
			started++;
	for (i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&d.lock);
	if (started == 0 || d.fatal) {
		size_t k;

		for (k = 0; k < n; k++)
			ferry_free(d.errors[k]);
		ferry_free(d.errors);
		if (started == 0)
			return ferry_error_set(err, FERRY_EIO, "cannot start threads");
		*err = d.err;
		return d.err.code ? d.err.code : FERRY_ECONN;
	}
	*errors = d.errors;
	return 0;
}
