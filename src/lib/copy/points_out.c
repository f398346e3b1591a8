/*
 * points_out.c - ferry copy into a point store: InfluxDB (influx://, 1.x
 * and 2.x) or a line-protocol file (lp://FILE, lp:- for stdout).
 *
 *   source chunks (tm_source_ops plan, independent of -j)
 *     -> points -> the map's points: rules (tm_pmap) -> line protocol
 *     -> batches of about --batch-bytes -> tm_ifx_write | the file
 *
 * InfluxDB has no transactions, so a chunk is done once every point of
 * it was acknowledged or refused; the done chunks go to a small log
 * (points_state.c).  A rerun skips them and writes the others again,
 * which InfluxDB stores as the same points.  -j workers claim chunks in
 * plan order, each with its own source handle and writer.  A file target
 * takes the chunks in plan order from whichever worker read them (one
 * writer at a time, in turn); the log records its size after each chunk
 * and a rerun cuts it back to the last one.  InfluxDB takes them in turn
 * too unless the source is InfluxDB: a file or a table may hold a point
 * (series and time) twice, and the later line must win, as with `influx
 * -import`; the other workers read ahead one batch meanwhile.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "copy/points_int.h"
#include "copy/run_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/hash.h"
#include "ferry/log.h"
#include "ferry/registry.h"
#include "tsmap/tsmap.h"

#define PO_BATCH_BYTES (1u << 20)

/* Counts of one source measurement (name owned).  Sources without a
 * catalog (files) discover no measurements up front, so the names are
 * collected as points arrive: a list per worker, folded into the job's
 * after each chunk. */
struct pcount {
	char *name;
	int64_t read, written, rejected, dropped;
	uint64_t bytes;         /* of its lines of line protocol */
};

struct pcounts {
	struct pcount *v;
	size_t n, cap;
	size_t last;            /* the last one looked up */
};

struct pout {
	struct run *r;
	struct rejects failed;  /* the reject lines of chunks that failed,
				 * written after the others */
	struct ferry_buf failed_mem;
	const struct tm_source_ops *sops;
	ferry_url *src;
	ferry_url *dst;
	struct tm_source_opts so;
	struct tm_schema sch;
	struct tm_chunk *ck;
	size_t nck;
	struct tm_pmap *map;
	int src_lines;          /* source keys are line numbers (a file) */
	int to_file, to_stdout;
	int in_turn;            /* chunks written in plan order (file; a source
				 * that may hold a point twice) */
	int fd;                 /* the lp:// file */
	uint64_t off;           /* its size after the last chunk written */
	struct pstate st;
	int has_state;
	size_t batch_bytes;
	int retries;
	pthread_mutex_t lock;
	pthread_cond_t turn;
	size_t next_claim;      /* the next chunk to claim */
	size_t next_write;      /* in_turn: the chunk whose turn it is */
	int abort;
	struct ferry_error err; /* the first worker error */
	int rc;
	struct pcounts cnt;     /* per measurement, under lock */
	_Atomic int64_t read, rejected;  /* of the chunks folded in */
};

struct pworker {
	struct pout *P;
	pthread_t tid;
	void *src;
	struct tm_ifx_writer *w;
	struct tm_pmap_run *run;
	size_t chunk;
	int has_turn;           /* in_turn: next_write is this chunk */
	int64_t chunk_rej;      /* rejects of this chunk so far */
	struct rejects crej;    /* this chunk's reject lines, held until it
				 * is done (a chunk written again by a rerun
				 * finds its rejects again) */
	struct ferry_buf crej_mem;
	int meas;               /* source measurement of the point at hand */
	struct ferry_buf body;  /* line protocol not yet written */
	struct ferry_buf line;
	int64_t *keys;          /* per line of body: the source key */
	int *meas_of;           /* per line of body: the source measurement */
	const char **file_of;   /* per line of body: the source file */
	size_t nlines, caplines;
	struct pcounts cnt;     /* this chunk's counts, per measurement */
	struct lp_tag *tags;
	size_t captags;
	char why[320];
};

/* ---- rejects -------------------------------------------------------- */

static void key_json(const struct pworker *w, int64_t key, const char *file, char *out,
		     size_t n)
{
	if (file)
		snprintf(out, n, "{\"file\":\"%s\",\"line\":%lld}", file,
			 (long long)TM_KEY_LINE(key));
	else if (w->P->src_lines)
		snprintf(out, n, "{\"line\":%lld}", (long long)key);
	else
		snprintf(out, n, "{\"chunk\":%zu,\"point\":%lld}", w->chunk, (long long)key);
}

/* The index of measurement name[0..n) in c, added when new; -1 when
 * out of memory. */
static int pc_find(struct pcounts *c, const char *name, size_t n)
{
	size_t i;

	if (c->last < c->n && strlen(c->v[c->last].name) == n &&
	    !memcmp(c->v[c->last].name, name, n))
		return (int)c->last;
	for (i = 0; i < c->n; i++)
		if (strlen(c->v[i].name) == n && !memcmp(c->v[i].name, name, n))
			return (int)(c->last = i);
	if (c->n == c->cap) {
		size_t nc = c->cap ? 2 * c->cap : 16;
		struct pcount *v = ferry_realloc(c->v, nc * sizeof(*v));

		if (!v)
			return -1;
		c->v = v;
		c->cap = nc;
	}
	memset(&c->v[c->n], 0, sizeof(c->v[c->n]));
	if (!(c->v[c->n].name = ferry_malloc(n + 1)))
		return -1;
	memcpy(c->v[c->n].name, name, n);
	c->v[c->n].name[n] = '\0';
	return (int)(c->last = c->n++);
}

static void pc_release(struct pcounts *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		ferry_free(c->v[i].name);
	ferry_free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Records that are no point at all (a file's bad lines). */
#define PC_UNPARSED "(not a point)"

static const char *meas_name(const struct pworker *w, int m)
{
	return w->cnt.v[m].name;
}

static int reject(struct pworker *w, int meas, int64_t key, const char *file,
		  const char *why, const void *raw, size_t n, struct ferry_error *err)
{
	int64_t max_errors = w->P->r->o->max_errors;
	char kj[512];

	key_json(w, key, file, kj, sizeof(kj));
	if (meas < 0 && (meas = pc_find(&w->cnt, PC_UNPARSED, strlen(PC_UNPARSED))) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	w->cnt.v[meas].rejected++;
	w->chunk_rej++;
	if (rej_add(&w->crej, meas_name(w, meas), kj, "", why, FERRY_V_TEXT, raw, n, err) < 0)
		return err->code;
	/* --max-errors stops within a chunk; the rate is judged per chunk */
	if (max_errors >= 0 && atomic_load(&w->P->rejected) + w->chunk_rej > max_errors)
		return ferry_error_set(err, FERRY_EABORT, "error budget exceeded");
	return 0;
}

/* ---- points to line protocol --------------------------------------- */

/* p as one line (tm_point_write: tags sorted by key, so that a point is
 * the same line whatever order a source handle gave the tags in, and an
 * lp:// target is the same file from every run). */
static int point_line(struct pworker *w, const struct tm_point *p, struct ferry_buf *b)
{
	return tm_point_write(b, p, &w->tags, &w->captags);
}

static int flush(struct pworker *w, struct ferry_error *err);

/* A point of the target: one line of the body. */
static int emit(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct pworker *w = ud;
	size_t mark = w->body.len;
	int rc;

	if (w->nlines == w->caplines) {
		size_t nc = w->caplines ? 2 * w->caplines : 1024;
		int64_t *k = ferry_realloc(w->keys, nc * sizeof(*k));
		int *m = k ? ferry_realloc(w->meas_of, nc * sizeof(*m)) : NULL;
		const char **f = NULL;

		if (k)
			w->keys = k;
		if (m)
			w->meas_of = m;
		if (m)
			f = ferry_realloc((void *)w->file_of, nc * sizeof(*f));
		if (!f)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		w->file_of = f;
		w->caplines = nc;
	}
	rc = point_line(w, p, &w->body);
	if (rc == FERRY_EINVAL) {
		w->body.len = mark;
		return reject(w, w->meas, p->key, p->file,
			      "a name that line protocol cannot hold (empty, or a measurement "
			      "starting with '#')", p->measurement.p, p->measurement.n, err);
	}
	if (rc < 0 || ferry_buf_addch(&w->body, '\n') < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	w->cnt.v[w->meas].bytes += w->body.len - mark;
	w->keys[w->nlines] = p->key;
	w->meas_of[w->nlines] = w->meas;
	w->file_of[w->nlines] = p->file;
	w->nlines++;
	if (!w->P->to_file && w->body.len >= w->P->batch_bytes)
		return flush(w, err);
	return 0;
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct pworker *w = ud;
	size_t emitted = 0;
	int rc;

	w->meas = pc_find(&w->cnt, p->measurement.p, p->measurement.n);
	if (w->meas < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	w->cnt.v[w->meas].read++;
	if (!w->run)
		return emit(p, w, err);
	rc = tm_pmap_apply(w->run, p, emit, w, &emitted, w->why, sizeof(w->why), err);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		ferry_buf_clear(&w->line);
		if (point_line(w, p, &w->line) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		return reject(w, w->meas, p->key, p->file, w->why, w->line.buf, w->line.len, err);
	}
	if (emitted == 0)
		w->cnt.v[w->meas].dropped++;
	return 0;
}

static int on_bad_record(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
			 struct ferry_error *err)
{
	struct pworker *w = ud;
	char *const *names = NULL;
	size_t nf = 0, f = (size_t)((uint64_t)key >> TM_KEY_FILE_SHIFT);

	/* a directory's key names its file (TM_KEY), as a point's file does */
	if (w->P->sops->files)
		w->P->sops->files(w->src, &names, &nf);
	return reject(w, -1, key, f < nf ? names[f] : NULL, reason, raw, n, err);
}

/* ---- InfluxDB ------------------------------------------------------- */

static int on_refused(void *ud, size_t unit, const char *line, size_t n, const char *why,
		      struct ferry_error *err)
{
	struct pworker *w = ud;
	char reason[1024];

	if (unit >= w->nlines)
		return 0;
	snprintf(reason, sizeof(reason), "influxdb refused the point: %s", why);
	if (w->meas_of[unit] >= 0)
		w->meas_of[unit] = -1 - w->meas_of[unit];  /* not written */
	return reject(w, -1 - w->meas_of[unit], w->keys[unit], w->file_of[unit], reason, line,
		      n, err);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };

	nanosleep(&ts, NULL);
}

/* In turn (P->in_turn): wait until the chunks before w->chunk are
 * written (or were done earlier); 0, or FERRY_EABORT when the job stops. */
static int wait_turn(struct pworker *w, struct ferry_error *err)
{
	struct pout *P = w->P;
	int abort;

	if (!P->in_turn || w->has_turn)
		return 0;
	pthread_mutex_lock(&P->lock);
	while (P->next_write != w->chunk && !P->abort)
		pthread_cond_wait(&P->turn, &P->lock);
	abort = P->abort;
	pthread_mutex_unlock(&P->lock);
	if (abort)
		return ferry_error_set(err, FERRY_EABORT, "stopped");
	w->has_turn = 1;
	return 0;
}

/* Write the body to InfluxDB, retrying a target that does not answer. */
static int flush(struct pworker *w, struct ferry_error *err)
{
	struct pout *P = w->P;
	double wait = 0.5;
	size_t i;
	int rc, attempt;

	if (w->nlines == 0 || P->to_file)
		return 0;
	if ((rc = wait_turn(w, err)) < 0)
		return rc;
	for (attempt = 0;; attempt++) {
		ferry_error_clear(err);
		rc = tm_ifx_write(w->w, NULL, NULL, w->body.buf, w->body.len, NULL, 0, on_refused,
				  w, err);
		if (rc != FERRY_ECONN || attempt >= P->retries)
			break;
		pthread_mutex_lock(&P->lock);
		rc = P->abort;
		pthread_mutex_unlock(&P->lock);
		if (rc)
			return ferry_error_set(err, FERRY_EABORT, "stopped");
		ferry_warn("the target did not take the points (%s); retrying in %.1f s "
			   "(attempt %d of %d)", err->msg, wait, attempt + 1, P->retries);
		sleep_s(wait);
		wait = wait * 2 > 10 ? 10 : wait * 2;
	}
	if (rc == FERRY_ECONN) {
		char first[sizeof(err->msg)];

		snprintf(first, sizeof(first), "%s", err->msg);
		return ferry_error_set(err, FERRY_ECONN,
			"the target did not take the points after %d retries: %s; the chunks "
			"written so far are recorded: rerun the same command to resume",
			P->retries, first);
	}
	if (rc == FERRY_ENOTFOUND)
		ferry_error_prefix(err, "the target");
	if (rc < 0)
		return rc;
	for (i = 0; i < w->nlines; i++)
		if (w->meas_of[i] >= 0)
			w->cnt.v[w->meas_of[i]].written++;
	ferry_buf_clear(&w->body);
	w->nlines = 0;
	ferry_progress_tick(P->r->progress);
	return 0;
}

/* ---- the lp:// file ----------------------------------------------- */

/* Append this chunk's lines to the file in plan order: wait for the
 * turn of w->chunk (the chunks before it written or done earlier). */
static int file_chunk(struct pworker *w, uint64_t *off, struct ferry_error *err)
{
	struct pout *P = w->P;
	size_t i;
	int rc;

	if ((rc = wait_turn(w, err)) < 0)
		return rc;
	/* the file is ours until next_write moves on */
	if (copy_write_all(P->fd, w->body.buf, w->body.len) < 0 ||
	    (!P->to_stdout && fdatasync(P->fd) < 0))
		rc = ferry_error_set(err, FERRY_EIO, "cannot write '%s': %s",
				     P->to_stdout ? "stdout" : P->dst->path, strerror(errno));
	if (rc == 0) {
		P->off += w->body.len;
		*off = P->off;
		for (i = 0; i < w->nlines; i++)
			if (w->meas_of[i] >= 0)
				w->cnt.v[w->meas_of[i]].written++;
		ferry_buf_clear(&w->body);
		w->nlines = 0;
	}
	return rc;
}

/* After chunk c is written (or failed): the next chunk's turn. */
static void next_turn(struct pout *P, size_t c)
{
	pthread_mutex_lock(&P->lock);
	P->next_write = c + 1;
	while (P->has_state && P->next_write < P->nck && P->st.done[P->next_write])
		P->next_write++;
	pthread_cond_broadcast(&P->turn);
	pthread_mutex_unlock(&P->lock);
}

/* ---- workers ---------------------------------------------------------- */

static int over_budget(const struct pout *P, int final)
{
	const struct ferry_copy_opts *o = P->r->o;

	int64_t rd = atomic_load(&P->read), rj = atomic_load(&P->rejected);

	if (o->max_errors >= 0 && rj > o->max_errors)
		return 1;
	if (o->max_error_rate >= 0 && rd > 0 && (final || rd >= 1000) &&
	    (double)rj / (double)rd > o->max_error_rate)
		return 1;
	return 0;
}

/* Fold a chunk's counts into the job's. */
static int chunk_done(struct pworker *w)
{
	struct pout *P = w->P;
	int64_t rd = 0;
	uint64_t by = 0;
	size_t m;
	int over;

	int k, oom = 0;

	pthread_mutex_lock(&P->lock);
	for (m = 0; m < w->cnt.n; m++) {
		struct pcount *c = &w->cnt.v[m];

		k = pc_find(&P->cnt, c->name, strlen(c->name));
		if (k < 0) {
			oom = 1;
		} else {
			P->cnt.v[k].read += c->read;
			P->cnt.v[k].written += c->written;
			P->cnt.v[k].rejected += c->rejected;
			P->cnt.v[k].dropped += c->dropped;
			P->cnt.v[k].bytes += c->bytes;
		}
		by += c->bytes;
		atomic_fetch_add(&P->read, c->read);
		atomic_fetch_add(&P->rejected, c->rejected);
		rd += c->read;
		c->read = c->written = c->rejected = c->dropped = 0;
		c->bytes = 0;
	}
	over = over_budget(P, 0);
	pthread_mutex_unlock(&P->lock);
	if (oom)
		ferry_warn("out of memory: the summary misses some measurements");
	ferry_progress_add(P->r->progress, (uint64_t)rd, by);
	ferry_progress_tick(P->r->progress);
	return over;
}

static int claim(struct pout *P, size_t *c)
{
	int ok = 0;

	pthread_mutex_lock(&P->lock);
	while (!P->abort && P->next_claim < P->nck) {
		size_t k = P->next_claim++;

		if (!P->has_state || !P->st.done[k]) {
			*c = k;
			ok = 1;
			break;
		}
	}
	pthread_mutex_unlock(&P->lock);
	return ok;
}

static int add_lines(void *ud, const char *piece, size_t n, struct ferry_error *err)
{
	return rej_add_lines(ud, piece, n, err);
}

/* The chunk's reject lines to the job's file once the chunk is done, so
 * that a chunk a rerun reads again does not leave its rejects twice (the
 * lines went to the file as they came, and a rerun after a lost server or
 * a kill -9 wrote them again). */
static int keep_rejects(struct pworker *w, struct ferry_error *err)
{
	int rc = rej_chunk_pieces(&w->crej, CK_REJ_PIECE, add_lines, &w->P->r->rej, err);
	struct ferry_error e2 = FERRY_ERROR_INIT;

	if (rej_chunk_reset(&w->crej, rc < 0 ? &e2 : err) < 0 && rc == 0)
		rc = err->code;
	return rc;
}

static int work_chunk(struct pworker *w, struct ferry_error *err)
{
	struct pout *P = w->P;
	uint64_t off = 0;
	int rc;

	ferry_buf_clear(&w->body);
	w->nlines = 0;
	w->chunk_rej = 0;
	w->has_turn = 0;
	if ((rc = rej_chunk_reset(&w->crej, err)) < 0)
		return rc;
	w->crej.chunk = (int64_t)w->chunk;
	rc = P->sops->read(w->src, &P->sch, &P->ck[w->chunk], -1, on_point, on_bad_record, w,
			   err);
	if (rc == 0)
		rc = P->to_file ? file_chunk(w, &off, err) : flush(w, err);
	/* a chunk with nothing left to write takes its turn all the same:
	 * the next one's follows it */
	if (rc == 0)
		rc = wait_turn(w, err);
	/* recorded before the next chunk may follow it into a file, so that
	 * the log's last offset never covers a chunk it does not list; its
	 * rejects on disk first (a rerun keeps the lines of recorded chunks
	 * and drops the others', rej_keep_done) */
	if (rc == 0 && P->has_state) {
		int had = w->crej.count > 0;

		rc = keep_rejects(w, err);
		if (rc == 0 && had)
			rc = rej_sync(&P->r->rej, err);
		if (rc == 0)
			rc = copy_pst_mark(&P->st, w->chunk, off, err);
	} else if (rc == 0) {
		rc = keep_rejects(w, err);
	}
	if (rc < 0) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		/* its rejects say what stopped it (the budget) or what it
		 * found before; a rerun that reads the chunk again drops them
		 * (rej_keep_done) and writes them again */
		if (rej_chunk_pieces(&w->crej, CK_REJ_PIECE, add_lines, &P->failed, &e2) < 0)
			ferry_warn("%s", e2.msg);
		rej_chunk_reset(&w->crej, NULL);
		/* a file must not get the chunks after a missing one */
		pthread_mutex_lock(&P->lock);
		P->abort = 1;
		pthread_cond_broadcast(&P->turn);
		pthread_mutex_unlock(&P->lock);
		chunk_done(w);  /* what it read and rejected, for the summary */
		return rc;
	}
	if (P->in_turn)
		next_turn(P, w->chunk);
	if (chunk_done(w))
		return ferry_error_set(err, FERRY_EABORT, "error budget exceeded");
	return 0;
}

static void *worker_main(void *arg)
{
	struct pworker *w = arg;
	struct pout *P = w->P;
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc = 0;

	if ((rc = P->sops->open(P->src, &P->so, &w->src, &err)) < 0)
		goto out;
	w->crej.mem = &w->crej_mem;
	w->crej.mem_max = CK_REJ_PIECE;
	w->crej.tag_chunk = P->has_state;   /* for a rerun (rej_keep_done) */
	if (!P->to_file && (rc = tm_ifx_writer_open(P->dst, &w->w, &err)) < 0)
		goto out;
	if (P->map && tm_pmap_run_new(P->map, &w->run) < 0) {
		rc = ferry_error_set(&err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	while (rc == 0 && claim(P, &w->chunk))
		rc = work_chunk(w, &err);
out:
	if (rc < 0) {
		pthread_mutex_lock(&P->lock);
		if (P->rc == 0 || (P->rc == FERRY_EABORT && rc != FERRY_EABORT)) {
			P->rc = rc;
			P->err = err;
		}
		P->abort = 1;
		pthread_cond_broadcast(&P->turn);
		pthread_mutex_unlock(&P->lock);
	}
	return NULL;
}

/* ---- the job ----------------------------------------------------------- */

static int chunk_is_done(void *ud, int64_t chunk)
{
	const struct pout *P = ud;

	return chunk >= 0 && (size_t)chunk < P->nck && P->st.done[chunk];
}

/* What a rerun must agree on: the source and its options, the target
 * (without its password), the map's content. */
static int points_fingerprint(struct pout *P, void *h, char out[33], struct ferry_error *err)
{
	const struct ferry_copy_opts *o = P->r->o;
	struct ferry_buf b = FERRY_BUF_INIT;
	int berr = 0;

	berr |= ferry_buf_addstr(&b, "points 2|");
	berr |= ferry_url_redact(o->src, &b);
	berr |= ferry_buf_addch(&b, '|');
	berr |= ferry_url_redact(o->dst, &b);
	berr |= ferry_buf_addf(&b, "|%s|%zu|", P->map ? tm_pmap_digest(P->map) : "-", P->nck);
	/* the files' bytes (a same-size edit too): a rerun over changed
	 * content resumed with "1 done by an earlier run" and copied none of
	 * it.  InfluxDB's identity (counts) is not its content: not here */
	if (berr == 0) {
		int rc = tm_source_content_id(P->sops, h, &b, err);

		if (rc < 0) {
			ferry_buf_release(&b);
			ferry_error_prefix(err, COPY_CONTENT_FAIL);
			return rc;
		}
	}
	return copy_fingerprint_of(&b, berr, out, err);
}

/* The database header of an lp:// file (as influx_inspect export writes
 * it, so that `influx -import` and ferry read it back): the target's
 * ?db= and ?rp=, else the InfluxDB source's database. */
static int file_header(struct pout *P, struct ferry_buf *h, struct ferry_error *err)
{
	const char *db = ferry_url_param(P->dst, "db"), *rp = ferry_url_param(P->dst, "rp");
	struct tm_influx_url iu;
	int berr = 0, have = 0;

	memset(&iu, 0, sizeof(iu));
	if (!db && P->sops == &ifx_source_ops && tm_influx_url(P->src, &iu, err) == 0) {
		have = 1;
		db = iu.db;
		if (!rp)
			rp = iu.rp;
	}
	berr |= ferry_buf_addstr(h, "# DML\n");
	if (db)
		berr |= ferry_buf_addf(h, "# CONTEXT-DATABASE: %s\n", db);
	if (db && rp)
		berr |= ferry_buf_addf(h, "# CONTEXT-RETENTION-POLICY: %s\n", rp);
	if (have)
		tm_influx_url_release(&iu);
	ferry_error_clear(err);
	return berr < 0 ? ferry_error_set(err, FERRY_ENOMEM, "out of memory") : 0;
}

/* Open the lp:// file: created, or cut back to the last done chunk. */
static int open_file(struct pout *P, struct ferry_error *err)
{
	struct ferry_buf h = FERRY_BUF_INIT;
	const char *path = P->dst->path;
	int rc;

	if (P->to_stdout) {
		P->fd = STDOUT_FILENO;
		if ((rc = file_header(P, &h, err)) == 0 && copy_write_all(P->fd, h.buf, h.len) < 0)
			rc = ferry_error_set(err, FERRY_EIO, "cannot write stdout: %s",
					     strerror(errno));
		ferry_buf_release(&h);
		return rc;
	}
	P->fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (P->fd < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open the target '%s': %s", path,
				       strerror(errno));
	if (P->st.ndone > 0) {
		struct stat st;

		P->off = P->st.offset;
		/* a file that lost what the log says it holds would resume
		 * into a hole */
		if (fstat(P->fd, &st) == 0 && (uint64_t)st.st_size < P->off)
			return ferry_error_set(err, FERRY_EUSAGE,
				"the target '%s' is shorter (%lld bytes) than the %llu bytes the "
				"state file '%s' says earlier runs wrote: rerun with --restart to "
				"write it again", path, (long long)st.st_size,
				(unsigned long long)P->off, P->st.path);
	} else {
		if ((rc = file_header(P, &h, err)) < 0) {
			ferry_buf_release(&h);
			return rc;
		}
		P->off = h.len;
	}
	/* a rerun cuts off what came after the last done chunk; a new job
	 * starts the file over with its header */
	if (ftruncate(P->fd, P->st.ndone > 0 ? (off_t)P->off : 0) < 0)
		goto fail;
	if (P->st.ndone == 0 && (copy_write_all(P->fd, h.buf, h.len) < 0 || fdatasync(P->fd) < 0))
		goto fail;
	if (lseek(P->fd, (off_t)P->off, SEEK_SET) < 0)
		goto fail;
	ferry_buf_release(&h);
	return 0;
fail:
	ferry_buf_release(&h);
	return ferry_error_set(err, FERRY_EIO, "cannot write the target '%s': %s", path,
			       strerror(errno));
}

/* The database must be there (or --create-db makes it). */
static int check_db(struct pout *P, struct ferry_error *err)
{
	struct tm_ifx_writer *w = NULL;
	const char *db;
	int rc;

	if ((rc = tm_ifx_writer_open(P->dst, &w, err)) < 0)
		return rc;
	db = tm_ifx_writer_db(w);
	rc = tm_ifx_has_db(w, db, err);
	if (rc == 0 && P->r->o->create_db) {
		rc = tm_ifx_create_db(w, db, tm_ifx_writer_rp(w), err);
		if (rc == 0) {
			char msg[512];

			snprintf(msg, sizeof(msg), "created database '%s'%s%s%s", db,
				 tm_ifx_writer_rp(w) ? " (retention policy '" : "",
				 tm_ifx_writer_rp(w) ? tm_ifx_writer_rp(w) : "",
				 tm_ifx_writer_rp(w) ? "')" : "");
			ferry_progress_note(P->r->progress, msg);
		}
	} else if (rc == 0) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "the target database '%s' does not exist: create it, or add "
				     "--create-db", db);
	} else if (rc == 1 && P->r->o->create_db && tm_ifx_writer_rp(w)) {
		/* the database is there; its retention policy may not be */
		rc = tm_ifx_create_db(w, db, tm_ifx_writer_rp(w), err);
	} else if (rc == 1) {
		rc = 0;
	}
	if (rc < 0 && rc != FERRY_EUSAGE)
		ferry_error_prefix(err, "cannot check the target database");
	tm_ifx_writer_close(w);
	return rc < 0 ? rc : 0;
}

static int load_map(struct pout *P, struct ferry_error *err)
{
	const char *path = ferry_url_param(P->src, "map");
	int rc;

	if (!path)
		return 0;
	rc = tm_pmap_load(path, &P->map, err);
	if (rc == 1)
		return ferry_error_set(err, FERRY_EUSAGE,
				       "map '%s' has no top-level 'points:' list: a point store "
				       "target takes point maps (see the README)", path);
	return rc;
}

/* The summary: per source measurement, what the map dropped, rules that
 * matched nothing, the source's notes (h: its handle that planned, NULL
 * when it did not open). */
static int fill(struct pout *P, void *h, struct ferry_error *err)
{
	struct ferry_copy_result *res = P->r->res;
	size_t m;

	res->tables = ferry_calloc(P->cnt.n ? P->cnt.n : 1, sizeof(*res->tables));
	if (!res->tables)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (m = 0; m < P->cnt.n; m++) {
		struct ferry_copy_table_stats *t = &res->tables[res->ntables++];
		const struct pcount *c = &P->cnt.v[m];

		t->name = ferry_strdup(c->name);
		t->target = ferry_strdup(c->name);
		t->read = c->read;
		t->written = c->written;
		t->rejected = c->rejected;
		t->bytes = c->bytes;
		t->dropped = c->dropped;
		if (c->dropped)
			plan_strv_pushf(&P->r->plan.warnings, "%s: %lld points dropped by the map",
					c->name, (long long)c->dropped);
	}
	if (h && P->sops->notes) {
		struct ferry_buf u = FERRY_BUF_INIT;
		char *line, *save = NULL;

		if (P->sops->notes(h, &u) == 0 && u.buf)
			for (line = strtok_r(u.buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				plan_strv_pushf(&P->r->plan.warnings, "%s", line);
		ferry_buf_release(&u);
	}
	if (P->map) {
		struct ferry_buf u = FERRY_BUF_INIT;
		char *line, *save = NULL;

		if (tm_pmap_unmatched(P->map, &u) == 0 && u.buf)
			for (line = strtok_r(u.buf, "\n", &save); line;
			     line = strtok_r(NULL, "\n", &save))
				plan_strv_pushf(&P->r->plan.warnings, "%s", line);
		ferry_buf_release(&u);
	}
	return 0;
}

/* The state's default place: in the rejects directory of the job, one
 * per target (the job is named after the source, and the same source
 * copied to two targets is two jobs): state-HASH.json. */
static int state_path(struct pout *P, struct ferry_buf *out, struct ferry_buf *key)
{
	struct ferry_buf t = FERRY_BUF_INIT;
	char h[33];

	if (ferry_url_redact(P->r->o->dst, &t) < 0) {
		ferry_buf_release(&t);
		return -1;
	}
	ferry_hash128_hex(t.buf, t.len, h);
	ferry_buf_release(&t);
	h[8] = '\0';
	/* a state table holds the jobs of every target */
	if (ferry_buf_addf(key, "%s@%s", P->r->job, h) < 0)
		return -1;
	if (P->r->o->state)
		return ferry_buf_addstr(out, P->r->o->state);
	if (rej_mkdir(P->r->rej.dir) < 0)
		return -1;
	return ferry_buf_addf(out, "%s/state-%s.json", P->r->rej.dir, h);
}

int copy_points_run(struct run *r, struct ferry_error *err)
{
	const struct ferry_copy_opts *o = r->o;
	struct ferry_buf sp = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	struct pworker *ws = NULL;
	struct pout P;
	void *h = NULL;
	uint64_t total = 0;
	double t0 = 0;
	char fp[33];
	size_t i, nw = 0;
	int rc, jobs;

	memset(&P, 0, sizeof(P));
	P.r = r;
	P.fd = -1;
	pthread_mutex_init(&P.lock, NULL);
	pthread_mutex_init(&P.failed.lock, NULL);
	P.failed.mem = &P.failed_mem;
	pthread_cond_init(&P.turn, NULL);
	P.batch_bytes = o->batch_bytes ? o->batch_bytes : PO_BATCH_BYTES;
	P.retries = o->retries >= 0 ? o->retries : 10;
	P.sops = ferry_point_source(o->src);
	if (!P.sops) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "a copy into a point store reads a point source (influx:, lp: or "
				     "csv:), not '%s'", o->src);
		goto out;
	}
	P.src_lines = (ferry_conn_url_caps(o->src) & FERRY_CAP_FILE) != 0;
	P.to_file = (ferry_conn_url_caps(o->dst) & FERRY_CAP_FILE) != 0;
	P.in_turn = P.to_file || P.sops != &ifx_source_ops;
	if ((rc = ferry_url_parse(o->src, &P.src, err)) < 0 ||
	    (rc = ferry_url_parse(o->dst, &P.dst, err)) < 0) {
		if (rc == FERRY_EPARSE)
			rc = err->code = FERRY_EUSAGE;
		goto out;
	}
	P.to_stdout = P.to_file && P.dst->path && !strcmp(P.dst->path, "-");
	if ((rc = tm_source_opts_from_url(P.src, &P.so, err)) < 0 || (rc = load_map(&P, err)) < 0)
		goto out;
	if (!P.to_file && (rc = check_db(&P, err)) < 0)
		goto out;
	if ((rc = P.sops->open(P.src, &P.so, &h, err)) < 0) {
		ferry_error_prefix(err, "cannot open the source");
		goto out;
	}
	if ((rc = P.sops->discover(h, &P.sch, err)) < 0 ||
	    (rc = P.sops->plan(h, &P.sch, &P.ck, &P.nck, err)) < 0)
		goto out;
	if (!P.to_stdout) {
		if ((rc = points_fingerprint(&P, h, fp, err)) < 0)
			goto out;
		if (state_path(&P, &sp, &key) < 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot make the directory '%s': %s",
					     r->rej.dir, strerror(errno));
			goto out;
		}
		P.has_state = 1;
		/* the reject file is this job's into this target, as its state
		 * is: one job name into two targets keeps two files apart */
		ferry_free(r->rej.job);
		if (!(r->rej.job = ferry_strdup(key.buf))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = copy_pst_open(&P.st, sp.buf, fp, P.nck, o->restart,
					(ferry_conn_url_caps(sp.buf) & FERRY_CAP_CHECKPOINT) ? key.buf :
					r->job, err)) < 0)
			goto out;
		r->resumed = P.st.resumed;
		r->res->totals_of_run = 1;
		if (P.nck && P.st.ndone == P.nck && copy_source_is_stdin(o->src)) {
			/* it said "total 0" and exit 0 to new input */
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"job '%s' is complete, and standard input cannot be compared with "
				"what it copied: give this input its own --job name (or --state), "
				"or --restart to copy it again", r->job);
			goto out;
		}
	}
	if (!r->resumed)  /* the rejects of done chunks stay for a resumed run */
		rej_start_over(&r->rej, &r->plan.warnings);
	/* a resumed run: the lines of chunks not recorded go (written again) */
	if (P.has_state && r->resumed &&
	    (rc = rej_keep_done(&r->rej, chunk_is_done, &P, &r->plan.warnings, err)) < 0)
		goto out;
	if (P.to_file && (rc = open_file(&P, err)) < 0)
		goto out;
	t0 = ferry_now();
	for (i = 0; i < P.nck; i++)
		if ((!P.has_state || !P.st.done[i]) && P.ck[i].est > 0)
			total += (uint64_t)P.ck[i].est;
	{
		char msg[128];

		snprintf(msg, sizeof(msg), "%zu chunk%s planned, %zu done by an earlier run", P.nck,
			 P.nck == 1 ? "" : "s", P.has_state ? P.st.ndone : 0);
		ferry_progress_note(r->progress, msg);
	}
	ferry_progress_reset(r->progress, "points", total);
	/* the first chunk's turn for a file */
	P.next_write = 0;
	while (P.has_state && P.next_write < P.nck && P.st.done[P.next_write])
		P.next_write++;
	jobs = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (jobs < 1)
		jobs = 1;
	if ((size_t)jobs > P.nck)
		jobs = P.nck ? (int)P.nck : 1;
	ws = ferry_calloc((size_t)jobs, sizeof(*ws));
	if (!ws) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (nw = 0; nw < (size_t)jobs; nw++) {
		ws[nw].P = &P;
		pthread_mutex_init(&ws[nw].crej.lock, NULL);
		if (pthread_create(&ws[nw].tid, NULL, worker_main, &ws[nw]) != 0) {
			pthread_mutex_lock(&P.lock);
			P.abort = 1;
			if (!P.rc) {
				P.rc = ferry_error_set(&P.err, FERRY_ENOMEM,
						       "cannot start a worker thread");
			}
			pthread_mutex_unlock(&P.lock);
			break;
		}
	}
	for (i = 0; i < nw; i++)
		pthread_join(ws[i].tid, NULL);
	if (P.failed_mem.len) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		if (rej_add_lines(&r->rej, P.failed_mem.buf, P.failed_mem.len, &e2) < 0)
			ferry_warn("%s", e2.msg);
	}
	ferry_progress_done(r->progress);
	r->res->phase_seconds[FERRY_PHASE_DATA] = ferry_now() - t0;
	rc = P.rc;
	if (rc == FERRY_EABORT || (rc == 0 && over_budget(&P, 1))) {
		r->budget_exceeded = 1;
		rc = ferry_error_set(err, FERRY_EABORT,
			"aborted: %lld of %lld points rejected (%.2f%%) exceeds the error budget "
			"(--max-errors %lld, --max-error-rate %g); the points written so far stay: "
			"rerun with a larger budget to resume",
			(long long)atomic_load(&P.rejected), (long long)atomic_load(&P.read),
			atomic_load(&P.read) ? 100.0 * (double)atomic_load(&P.rejected) /
						       (double)atomic_load(&P.read) : 0.0,
			(long long)o->max_errors, o->max_error_rate);
	} else if (rc < 0) {
		*err = P.err;
	}
out:
	{
		struct ferry_error e2 = FERRY_ERROR_INIT;

		if (fill(&P, h, &e2) < 0 && rc == 0) {
			*err = e2;
			rc = e2.code;
		}
	}
	for (i = 0; i < nw; i++) {
		if (ws[i].src)
			P.sops->close(ws[i].src);
		tm_ifx_writer_close(ws[i].w);
		tm_pmap_run_free(ws[i].run);
		ferry_buf_release(&ws[i].body);
		ferry_buf_release(&ws[i].line);
		ferry_free(ws[i].keys);
		ferry_free(ws[i].meas_of);
		ferry_free((void *)ws[i].file_of);
		pc_release(&ws[i].cnt);
		ferry_free(ws[i].tags);
		if (ws[i].crej.spill)
			fclose(ws[i].crej.spill);
		ferry_buf_release(&ws[i].crej_mem);
		pthread_mutex_destroy(&ws[i].crej.lock);
	}
	ferry_free(ws);
	if (h)
		P.sops->close(h);
	if (P.fd >= 0 && !P.to_stdout)
		close(P.fd);
	if (P.has_state || P.st.path)
		copy_pst_close(&P.st);
	tm_chunks_free(P.ck);
	tm_schema_release(&P.sch);
	tm_pmap_free(P.map);
	pc_release(&P.cnt);
	ferry_buf_release(&P.failed_mem);
	pthread_mutex_destroy(&P.failed.lock);
	ferry_url_free(P.src);
	ferry_url_free(P.dst);
	ferry_buf_release(&sp);
	ferry_buf_release(&key);
	pthread_mutex_destroy(&P.lock);
	pthread_cond_destroy(&P.turn);
	return rc;
}
