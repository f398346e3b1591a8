/*
 * verify.h - ferry verify: prove that a target holds exactly what the
 * source holds, without trusting the copy that put it there.
 *
 * Both ends are read in the same key ranges (chunks).  Source values go
 * through the copy transform, so each side yields the representation the
 * target column stores; every row becomes a canonical byte encoding and
 * a 64-bit hash, and each chunk's row count plus the sum and xor of its
 * row hashes are compared.  A chunk that differs is walked row by row to
 * name the first differing key and column.
 *
 * Ownership: options are the caller's and only read; the result is
 * allocated by ferry_verify_run and freed with ferry_verify_result_free.
 */
#ifndef FERRY_VERIFY_H
#define FERRY_VERIFY_H

#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"
#include "ferry/tsmap.h"

struct ferry_verify_opts {
	const char *src;            /* source URL (SQLite) */
	const char *dst;            /* target URL (PostgreSQL) */
	const char *schema;         /* target schema, NULL = public */
	const char *const *include; /* table globs, NULL-terminated or NULL */
	const char *const *exclude;
	int64_t chunk_rows;         /* source rows per chunk, 0 = 500000 */
	double sample_pct;          /* 0 or 100 = every chunk */
	uint64_t seed;              /* picks the sampled chunks */
	int jobs;                   /* parallel workers, 0 = one per core */
	int progress_mode;          /* enum ferry_progress_mode */
	FILE *progress_out;         /* NULL = stderr */
	struct ferry_ts_opts ts;    /* influx:, lp:, csv: sources: as given to copy */
};

/* One differing chunk (or a table missing from the target). */
struct ferry_verify_diff {
	char *table;         /* source table */
	int keyed;           /* ranges are rowid/key ranges */
	int64_t lo, hi;      /* inclusive key range (keyed only) */
	int lo_open, hi_open;/* first/last chunk: open below/above */
	int64_t src_rows, dst_rows;
	int has_key;         /* key below names the first differing row */
	int64_t key;         /* keyed: the key; else the row's ordinal/rowid */
	char *what;          /* "missing in target", "extra in target",
			      * "column 'v' differs: source 0.1, target 0.2",
			      * "table missing in target" */
	char *column;        /* the first differing column, or NULL */
	int table_missing;   /* the target has no such table */
	char *row;           /* unkeyed: that row's columns as text
			      * ("time=..., series='a', ..."), or NULL;
			      * an InfluxDB target: the point as line
			      * protocol ("m,tag=a field=1.5 2024-...Z") */
	char *range;         /* an InfluxDB target: the time window
			      * ("time 2024-01-01T00:00:00Z..2024-01-01T06:00:00Z"),
			      * table the measurement; else NULL */
	int timed;           /* a time-series source: the window below */
	int64_t t_lo, t_hi;  /* [t_lo, t_hi) in ns, the compared window */
};

struct ferry_verify_table {
	char *name;          /* source table */
	char *target;        /* target table */
	int keyed;
	int64_t chunks;      /* chunks the table was cut into */
	int64_t checked;     /* chunks compared (fewer with --sample) */
	int64_t src_rows;    /* source rows in the checked chunks */
	int64_t dst_rows;
	int64_t rejected;    /* source rows the copy transform rejects */
	int64_t differing;   /* differing chunks */
	int missing;         /* the target has no such table */
};

struct ferry_verify_result {
	struct ferry_verify_table *tables;
	size_t ntables;
	struct ferry_verify_diff *diffs;
	size_t ndiffs;
	int64_t chunks, checked, src_rows, dst_rows, rejected, differing;
	double seconds;
	int equal;           /* 1 when nothing differs */
};

/*
 * Compare src and dst.  Returns 0 when the comparison ran (check
 * result->equal), or a negative FERRY_E* with err filled.  *out is set
 * in both cases when non-NULL.
 */
int ferry_verify_run(const struct ferry_verify_opts *opts,
		     struct ferry_verify_result **out, struct ferry_error *err);
void ferry_verify_result_free(struct ferry_verify_result *r);

#endif
