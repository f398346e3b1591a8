/*
 * copy_int.h - internals of ferry copy: the plan the planner makes from
 * the source catalog, the transform that converts cells exactly (or
 * rejects them), and the reject writer.
 */
#ifndef FERRY_COPY_INT_H
#define FERRY_COPY_INT_H

#include <pthread.h>
#include <stdio.h>

#include "ferry/connector.h"
#include "ferry/copy.h"
#include "ferry/progress.h"
#include "model/value.h"

struct relmap_table;

/* One target column. */
struct col_plan {
	const char *src_name;  /* borrowed from the source catalog */
	char *dst_name;        /* possibly shortened */
	int type;              /* enum ferry_type */
	int32_t typmod;        /* varchar(n): n; numeric(p,s): p << 16 | s; -1 */
	char *type_sql;
	int notnull;
	char *default_sql;     /* translated default, NULL when none */
	int identity;          /* becomes an identity column after the load */
	int json_made;         /* the source column's json_made */
	int src_type;          /* enum ferry_type of a typed source column (its
				* cells already hold that type's representation,
				* e.g. TIMESTAMPTZ microseconds), else UNKNOWN */
	int map_line;          /* a relational map's column: its line, named in
				* the reason of a reject */
};

struct table_plan {
	int index;              /* position in the plan: the stream number */
	const struct ferry_table *src;
	char *dst_name;
	struct col_plan *cols;  /* in batch order (the source's visible columns) */
	size_t ncols;
	int exists;             /* target table exists (data-only/truncate) */
	int skip;               /* not copied (excluded) */
	int64_t lo, hi, count;  /* source key range */
	const char *order;      /* rows go in the order of this source index
				 * (borrowed), NULL: in key ranges */
	char **pieces;          /* ordered: finer boundaries (owned), the
				 * chunks' among them; readers share a chunk */
	size_t npieces;
	/* ordered, sorted by ferry (spill.c): the rows of pieces spill_first
	 * and after, the pieces' bounds as sort keys, the index's columns */
	struct spill *spill;
	size_t spill_first;
	struct ferry_buf *bkeys;
	int *kpos;
	size_t nkpos;
	int spill_off;          /* cannot spill: read through the index */
	int src_ordered;        /* ordered by the source's own chunks
				 * (ferry_table.chunk_order): a plain read */
	struct ferry_copy_table_stats *stats;
	struct relmap_table *map;  /* a relational map's table (relmap.h): src
				    * is its query; NULL otherwise */
};

/* A chunk's reject lines: held in memory up to CK_REJ_PIECE bytes (more
 * go to a temporary file), kept in ferry.rejects in pieces of about that
 * size, read back CK_REJ_PAGE bytes at a time. */
#define CK_REJ_PIECE (4u << 20)
#define CK_REJ_PAGE (8u << 20)

/* Reject writer: one NDJSON file, created on the first reject, or (mem
 * set) a buffer that the chunk commits into the target with its rows.
 * With mem_max, the lines held in mem move to spill, a temporary file,
 * whenever the next would take mem past mem_max: a chunk whose every row
 * is a reject holds mem_max bytes of them, not the chunk's. */
struct rejects {
	pthread_mutex_t lock;
	struct ferry_buf *mem;
	size_t mem_max;       /* 0: mem grows as it needs */
	FILE *spill;          /* the lines before mem's, in order (or NULL) */
	char *dir;
	char *path;
	FILE *f;
	int64_t count;
	char *job;            /* whose file it is (DIR/job), or NULL: verify's */
	int tag_chunk;        /* each line begins {"chunk":chunk, (rej_keep_done) */
	int64_t chunk;
};

/* job: the copy's (its name goes beside the file it makes, see
 * rej_start_over), or NULL */
int rej_init(struct rejects *r, const char *dir, const char *job);
/* The file of r->dir is r->job's: DIR/job written (the directory exists). */
void rej_own(const struct rejects *r);
/* mkdir -p; 0 or -1 (errno) */
int rej_mkdir(const char *path);
void rej_release(struct rejects *r);
/*
 * A run that starts its job over (its first run, --restart, a target that
 * keeps no job): the reject file an earlier run left in r's directory is
 * removed, before this run's first reject, so a run without rejects
 * leaves none to be read as its own.  A file that cannot be removed is a
 * warning in warnings (the job has started; out of memory: nothing).
 */
struct strv;
void rej_start_over(struct rejects *r, struct strv *warnings);
/* A chunk's rejects (mem set) start again: mem and spill emptied. */
int rej_chunk_reset(struct rejects *r, struct ferry_error *err);
/* Each piece of a chunk's reject lines (spill's, then mem's), in order:
 * whole lines, about piece_max bytes each (more for a longer line);
 * fn(ud, piece, n) returns 0 or a negative FERRY_E*. */
int rej_chunk_pieces(struct rejects *r, size_t piece_max,
		     int (*fn)(void *ud, const char *piece, size_t n, struct ferry_error *err),
		     void *ud, struct ferry_error *err);
/* r's file flushed to disk (before the chunk whose lines it holds is
 * recorded done). */
int rej_sync(struct rejects *r, struct ferry_error *err);
/* A copy into a point store records its chunks done one at a time, and
 * no transaction holds a chunk's rejects with its rows: each line names
 * its chunk (tag_chunk), and a resumed run keeps the lines of the chunks
 * done(ud, chunk) and those without a chunk, and drops the others and a
 * line cut short (the rerun writes them again).  A file of another job
 * (DIR/job) is moved aside first, and this job's own taken back from
 * where another's start moved it (warnings say so).  0 or a FERRY_E*. */
int rej_keep_done(struct rejects *r, int (*done)(void *ud, int64_t chunk), void *ud,
		  struct strv *warnings, struct ferry_error *err);
/* DIR/rejects.ndjson removed (an earlier run's, before this run's first
 * line goes there) */
void rej_remove_file(struct rejects *r);
/* Whole reject lines (a chunk's, rej_chunk_pieces) to r's file, or to
 * r->mem when set (no spill). */
int rej_add_lines(struct rejects *r, const char *lines, size_t n, struct ferry_error *err);
/* Record one rejected row (r NULL: nowhere). */
int rej_add(struct rejects *r, const char *table, const char *key_json,
	    const char *column, const char *reason, int vkind,
	    const void *value, size_t n, struct ferry_error *err);

/*
 * Convert every cell of b in place to the representation of its target
 * column (see struct col_plan); rows with a value that cannot be
 * converted exactly are marked skipped and written to rej.  Returns the
 * number of rows rejected, or a negative FERRY_E* on failure.
 */
int xf_batch(struct ferry_batch *b, const struct table_plan *tp,
	     struct rejects *rej, struct ferry_error *err);

/* The reject key of row key in table t: {"rowid":N}, {"line":N}, ... */
void xf_key_json(const struct ferry_table *t, int64_t key, char *out, size_t n);

/* The value parsers (UTF-8, timestamps, dates, booleans, JSON, doubles)
 * are model's: model/value.h, included above for all of copy/ and for
 * verify.c. */

/* ---- an ordered table sorted by ferry (spill.c) ---- */

struct spill;

/* Sort key of row r of b (source cells): the index columns at cols[0..n-1]
 * then the rowid, as bytes that compare with memcmp in SQLite's order. */
int spill_row_key(struct ferry_buf *out, const struct ferry_batch *b, size_t r,
		  const int *cols, size_t n);
/* The same for a bound of n values and a rowid in the connector's key
 * tokens (i<int>, r<hex>, t<hex>, b<hex>, n); -1 when malformed. */
int spill_bound_key(struct ferry_buf *out, const char *key, size_t n);
/* A spill of npieces pieces of rows of ncols cells, in an unlinked
 * temporary file under $TMPDIR (or /tmp). */
int spill_open(struct spill **out, size_t npieces, size_t ncols, struct ferry_error *err);
/* A temporary file in $TMPDIR (else /tmp), named PREFIX-XXXXXX and
 * unlinked at once (gone with the process, however it ends): its
 * descriptor, or a negative FERRY_E* with err set. */
int copy_temp_fd(const char *prefix, struct ferry_error *err);
int spill_add(struct spill *sp, size_t piece, const void *key, size_t klen,
	      const struct ferry_batch *b, size_t r, struct ferry_error *err);
/* After the last spill_add: write out what is buffered. */
int spill_finish(struct spill *sp, struct ferry_error *err);
/* Piece's rows in key order, in batches b (cleared first) to fn. */
int spill_emit(struct spill *sp, size_t piece, struct ferry_batch *b, size_t batch_rows,
	       size_t batch_bytes, ferry_batch_fn fn, void *ud, struct ferry_error *err);
/* Did the temporary file refuse a write (a full disk)? */
int spill_write_failed(const struct spill *sp);
/* Forget a piece (its rows are committed). */
void spill_drop(struct spill *sp, size_t piece);
void spill_free(struct spill *sp);

/* ---- checkpoints in the target (checkpoint.c) ---- */

struct chunk_spec;
struct chunk_stats;
struct strv;

int ck_setup(ferry_conn *dst, struct ferry_error *err);
/* The first column of the first row of sql ($1..$n: params) into out;
 * *isnull = 1 when there is no row or the value is NULL. */
int copy_query_value(ferry_conn *c, const char *sql, const char *const *params, int n,
		     struct ferry_buf *out, int *isnull, struct ferry_error *err);
int ck_job_get(ferry_conn *dst, const char *job, int *exists, struct ferry_buf *state,
	       struct ferry_buf *fingerprint, struct ferry_error *err);
int ck_job_create(ferry_conn *dst, const char *job, const char *source,
		  const char *schema, const char *fingerprint,
		  const struct strv *created, struct ferry_error *err);
int ck_job_set_state(ferry_conn *dst, const char *job, const char *state,
		     struct ferry_error *err);
int ck_job_created_tables(ferry_conn *dst, const char *job, struct strv *out,
			  struct ferry_error *err);
int ck_job_delete(ferry_conn *dst, const char *job, struct ferry_error *err);
int ck_chunks_insert(ferry_conn *dst, const char *job, const struct chunk_spec *ck,
		     size_t n, struct ferry_error *err);
int ck_claim(ferry_conn *dst, const char *job, const char *gate, int *found, int *stream_no,
	     int64_t *lo, int64_t *hi, int *has_range, char **key_lo, char **key_hi,
	     struct ferry_error *err);
int ck_chunk_done(ferry_conn *dst, const char *job, int stream_no, int64_t lo,
		  const struct chunk_stats *cs, uint64_t hash, const char *worker,
		  struct rejects *rejects, struct ferry_error *err);
int ck_pending(ferry_conn *dst, const char *job, int64_t *n, struct ferry_error *err);
/* Chunks a worker could take now: pending and held by no one (a commit the
 * target lost in a crash, since chunks commit with synchronous_commit off). */
int ck_unheld(ferry_conn *dst, const char *job, int64_t *n, struct ferry_error *err);
int ck_stream_totals(ferry_conn *dst, const char *job, int stream_no,
		     struct chunk_stats *cs, struct ferry_error *err);
int ck_write_rejects(ferry_conn *dst, const char *job, const char *path,
		     int64_t *count, struct ferry_error *err);
int ck_steps_insert(ferry_conn *dst, const char *job, const struct strv *stmts,
		    const int *stages, struct ferry_error *err);
int ck_step_claim(ferry_conn *dst, const char *job, int max_stage, int *found,
		  int *wait, int *step, int *stage, struct ferry_buf *stmt,
		  struct ferry_error *err);
/* Pending steps of stages up to max_stage. */
int ck_steps_pending(ferry_conn *dst, const char *job, int max_stage, int64_t *n,
		     struct ferry_error *err);
int ck_step_done(ferry_conn *dst, const char *job, int step, const char *note,
		 struct ferry_error *err);
int ck_step_notes(ferry_conn *dst, const char *job, struct strv *out,
		  struct ferry_error *err);
int ck_step_fail(ferry_conn *dst, const char *job, int step, const char *note,
		 struct ferry_error *err);
/* A rerun makes the failed steps pending again; ck_steps_check fails
 * (FERRY_ESQL, naming them) when the job has failed steps. */
int ck_steps_retry(ferry_conn *dst, const char *job, struct ferry_error *err);
int ck_steps_check(ferry_conn *dst, const char *job, struct ferry_error *err);
/* Failed steps of the job whose statement contains prefix. */
int ck_steps_failed_like(ferry_conn *dst, const char *job, const char *prefix, int64_t *n,
			 struct ferry_error *err);
int ck_takeoff(ferry_conn *dst, const char *job, const struct strv *tables,
	       const struct strv *empty, int64_t *nfks, int64_t *nidx, struct ferry_error *err);
/* Inside forget_job's transaction: run the restores not done yet. */
int ck_restores_run(ferry_conn *dst, const char *job, struct strv *warnings,
		    struct ferry_error *err);

/* ---- the data phase (pipeline.c) ---- */

/* A chunk: an inclusive key range lo..hi, or in an ordered table
 * (tp->order) the rows with key_lo <= index key < key_hi and a key of at
 * most hi, lo then being the chunk's ordinal.  Keys are owned. */
struct chunk_spec {
	struct table_plan *tp;
	int has_range;
	int64_t lo, hi;
	char *key_lo, *key_hi;
};

struct chunk_stats {
	int64_t read, written, rejected;
	uint64_t bytes;
};

struct load_ctx {
	const char *src_url, *dst_url;
	const char *job;          /* checkpointed job in the target, or NULL */
	const char *worker_id;    /* host:pid, recorded with each chunk */
	struct table_plan *tables;
	size_t ntables;
	int64_t max_errors;       /* -1 = no limit */
	double max_error_rate;    /* -1 = no limit */
	int retries;              /* reconnect attempts after a lost connection */
	_Atomic int64_t read_total, rejected_total;
	_Atomic int budget_exceeded;
	const char *schema;       /* target schema or NULL */
	const char *session_sql;  /* run on each new target connection */
	struct rejects *rej;
	int merge;                /* rows merge into those of their key the
				   * target has (ferry_write_spec.merge) */
	struct rejects *abort_rej;  /* job: the reject lines of the chunks the
				     * error budget stopped (rolled back with
				     * them), for the file to say why */
	struct ferry_progress *progress;
	size_t batch_rows, batch_bytes;
	int jobs;                 /* workers (with ramp: at most) */
	int ramp;                 /* start one, add while the rows/s rise (tune.c) */
	int readers;              /* readers of the scan into ferry's sort; 0: jobs */
	_Atomic int allowed;      /* with ramp: workers below this number claim */
	_Atomic int ramp_final;   /* the ramp has decided: parked workers end */
	_Atomic int drained;      /* a worker found no chunk left to claim */
	_Atomic int running;      /* workers not yet ended */
	char ramp_note[256];      /* what the ramp measured and kept */
	struct chunk_spec *chunks;
	size_t nchunks;
	const char *claim_gate;   /* a relational map's load order (ck_claim), or NULL */
	_Atomic size_t next;
	_Atomic int abort;
	pthread_mutex_t stats_lock;
	pthread_mutex_t spill_lock;  /* the tables' spill state (spill_prepare) */
};

/* The ramp of the data phase (tune.c): runs until the load ends or it has
 * decided how many of the n workers copy; fills lc->ramp_note. */
void copy_ramp(struct load_ctx *lc, int n);

/* Load every chunk with lc->jobs parallel workers; the first failure stops
 * the others (their open chunks roll back) and is returned. */
int copy_load_chunks(struct load_ctx *lc, struct ferry_error *err);

/* Stages of post-load steps: each waits for the one before.  Key indexes
 * are built in STAGE_KEYS with the other indexes and attached as
 * constraints in STAGE_ATTACH.  The numbers are stored in ferry.steps;
 * STEPS_FORMAT in the job's fingerprint changes when they do. */
enum {
	STAGE_KEYS = 1, STAGE_ATTACH = 2, STAGE_FKEYS = 3, STAGE_SEQUENCES = 4,
	STAGE_VIEWS = 5
};
#define STEPS_FORMAT 4
/* Steps recorded with the job (the restores of what ck_takeoff took off)
 * are numbered from here, the post-load steps from 0. */
#define STEP_RESTORE_BASE 1000000

/* Run the job's pending post-load steps up to max_stage on up to jobs
 * connections, each
 * step committed with its done mark.  A failing step is recorded with a
 * note (a foreign key is retried NOT VALID); a lost connection fails. */
int copy_run_steps(const char *dst_url, const char *session_sql, const char *job,
	      int max_stage, int jobs, struct ferry_error *err);

#endif
