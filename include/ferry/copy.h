/*
 * copy.h - ferry copy: move tables and rows from a source store to a
 * target store, translating the schema, exactly.
 *
 * Ownership: options are the caller's and only read; the result is
 * allocated by ferry_copy_run and freed with ferry_copy_result_free.
 */
#ifndef FERRY_COPY_H
#define FERRY_COPY_H

#include <stdint.h>
#include <stdio.h>

#include "ferry/error.h"
#include "ferry/tsmap.h"

struct ferry_copy_opts {
	const char *src;            /* source URL */
	const char *dst;            /* target URL */
	const char *schema;         /* target schema, NULL = public */
	const char *job;            /* job name, NULL = from the source */
	const char *rejects_dir;    /* NULL = ./ferry-rejects/<job> */
	int data_only;
	int schema_only;
	int truncate;
	int drop;
	int force;
	int views;
	const char *const *include; /* table globs, NULL-terminated or NULL */
	const char *const *exclude;
	const char *const *casts;   /* "table.column=type" */
	size_t batch_rows;          /* 0 = default */
	size_t batch_bytes;
	int64_t chunk_rows;         /* rows per committed chunk, 0 = default */
	int jobs;                   /* parallel streams; 0 = auto: decided from
				     * the cores, where the server runs and the
				     * tables, and said in the result's decisions */
	int key_order;              /* never load a table in an index's order */
	const char *maintenance_work_mem; /* for the index builds ("64MB"); NULL =
				     * the server's, raised to 64MB if lower */
	int restart;                /* forget an earlier run of the job, start over */
	int keep_done;              /* a job complete in the target is taken as
				     * it is although the source or the plan
				     * changed since (a resume is refused then):
				     * nothing is read again, its totals are the
				     * result (ferry cutover's backfill, whose
				     * source changes by points its relays wrote
				     * to the target too); PostgreSQL targets */
	int live_tables;            /* a wide point layout into PostgreSQL: before
				     * the load (--data-only), each table of the
				     * source is made or grown as the relays make
				     * theirs (copy/live.h copy_live_grow), so
				     * that relays write them beside the load
				     * (ferry cutover's backfill) */
	int snapshot;               /* read a backup-API copy of a SQLite source */
	int64_t max_errors;         /* abort above this many rejects; -1 = no limit */
	double max_error_rate;      /* abort above this share of rejects; -1 = none */
	int rollback_on_abort;      /* on abort, remove what the job wrote */
	int retries;                /* reconnects after a lost connection; -1 = 10 */
	int progress_mode;          /* enum ferry_progress_mode */
	FILE *progress_out;         /* NULL = stderr */
	struct ferry_ts_opts ts;    /* influx:, lp:, csv: sources */
	/* influx:// and lp:// targets (points out, through ts.map's points:) */
	int create_db;              /* create the target database (and ?rp=) */
	const char *state;          /* where done chunks are kept: a file path
				     * or postgres:// URL; NULL = a file beside
				     * the rejects */
};

struct ferry_copy_table_stats {
	char *name;        /* source table */
	char *target;      /* target table */
	int64_t read;
	int64_t written;
	int64_t rejected;
	int64_t dropped;   /* a point store target: points the map left behind */
	uint64_t bytes;    /* source bytes of text/blob values plus 8 per number */
	double seconds;
	char *order;       /* rows were loaded in the order of this source
			    * index (one stream), NULL: in key ranges */
};

enum ferry_copy_phase {
	FERRY_PHASE_SCHEMA,
	FERRY_PHASE_DATA,
	FERRY_PHASE_INDEXES,
	FERRY_PHASE_CONSTRAINTS,
	FERRY_PHASE_SEQUENCES,
	FERRY_PHASE_COUNT
};

struct ferry_copy_result {
	struct ferry_copy_table_stats *tables;
	size_t ntables;
	double phase_seconds[FERRY_PHASE_COUNT];
	double total_seconds;
	int64_t read, written, rejected;
	int64_t written_run; /* of written, the rows this run wrote (a resumed
			      * job's totals count earlier runs' rows too) */
	uint64_t bytes;
	char **warnings;     /* human lines, in order */
	size_t nwarnings;
	char **decisions;    /* what -j auto decided and why, one line each */
	size_t ndecisions;
	char **renames;      /* "long name -> short name" */
	size_t nrenames;
	char *rejects_path;  /* NULL when nothing was rejected */
	char *job;
	int resumed;         /* an earlier run of the job had committed work */
	int kept_done;       /* keep_done: the job was complete, and the source
			      * or the plan is not what it copied */
	int totals_of_run;   /* the totals count this run only (a point store's
			      * job keeps no counts of what earlier runs wrote) */
};

const char *ferry_copy_phase_name(int phase);

/* Options with their defaults (no limits, automatic jobs). */
void ferry_copy_opts_init(struct ferry_copy_opts *o);

/*
 * Run a copy.  Returns 0 when it completed (check result->rejected), or a
 * negative FERRY_E* with err filled.  *out is set in both cases when
 * non-NULL so partial statistics can be shown.
 */
int ferry_copy_run(const struct ferry_copy_opts *opts,
		   struct ferry_copy_result **out, struct ferry_error *err);
void ferry_copy_result_free(struct ferry_copy_result *r);

#endif
