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
};

struct table_plan {
	const struct ferry_table *src;
	char *dst_name;
	struct col_plan *cols;  /* in batch order (the source's visible columns) */
	size_t ncols;
	int exists;             /* target table exists (data-only/truncate) */
	int skip;               /* not copied (excluded) */
	int64_t lo, hi, count;  /* source key range */
	struct ferry_copy_table_stats *stats;
};

/* Reject writer: one NDJSON file, created on the first reject. */
struct rejects {
	pthread_mutex_t lock;
	char *dir;
	char *path;
	FILE *f;
	int64_t count;
};

int rej_init(struct rejects *r, const char *dir);
void rej_release(struct rejects *r);
/* Record one rejected row. */
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

/* Shared parsers (also used by the planner's pre-scan). */
int xf_utf8_ok(const char *s, size_t n, const char **reason);
int xf_parse_timestamp(const char *s, size_t n, int64_t *us, int *has_tz,
		       int date_only_ok);
int xf_parse_date(const char *s, size_t n, int32_t *days);
int xf_json_ok(const char *s, size_t n, int for_jsonb);
int xf_parse_bool(const char *s, size_t n, int *v);
/* Shortest text that reads back as the same double. */
int xf_format_double(double d, char *out, size_t n);

/* ---- the data phase (pipeline.c) ---- */

struct chunk_spec {
	struct table_plan *tp;
	int has_range;
	int64_t lo, hi;
};

struct chunk_stats {
	int64_t read, written, rejected;
	uint64_t bytes;
};

struct load_ctx {
	const char *src_url, *dst_url;
	const char *schema;       /* target schema or NULL */
	const char *session_sql;  /* run on each new target connection */
	struct rejects *rej;
	struct ferry_progress *progress;
	size_t batch_rows, batch_bytes;
	int jobs;
	struct chunk_spec *chunks;
	size_t nchunks;
	_Atomic size_t next;
	_Atomic int abort;
	pthread_mutex_t stats_lock;
};

/* Load every chunk with lc->jobs parallel workers; the first failure stops
 * the others (their open chunks roll back) and is returned. */
int load_chunks(struct load_ctx *lc, struct ferry_error *err);

/* Run independent statements on up to jobs connections.  A statement that
 * fails gets its message in (*errors)[i] (free each and the array); a
 * lost connection is returned as an error. */
int run_ddl_parallel(const char *dst_url, const char *session_sql, int jobs,
		     char **stmts, size_t n, char ***errors, struct ferry_error *err);

#endif
