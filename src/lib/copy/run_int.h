/*
 * run_int.h - one run of ferry copy, shared by the files of its phases:
 * copy.c (open, plan, schema, data, report), content.c (the source's
 * content hash, in a thread) and post.c (keys, indexes, foreign keys,
 * sequences and views after the load).
 */
#ifndef FERRY_COPY_RUN_INT_H
#define FERRY_COPY_RUN_INT_H

#include <pthread.h>

#include "copy/planner.h"
#include "copy/relmap.h"
#include "ferry/connector.h"
#include "ferry/progress.h"

/* A table under this many rows (200000; FERRY_TUNE_SMALL_TABLE in tests)
 * builds its indexes in well under a second (tune.c) and is not worth
 * putting in an index's order (copy.c). */
int64_t copy_small_table(void);
/* The builds a table's target gets (its indexes and its key); costly:
 * without SQLite's INTEGER PRIMARY KEY, whose sort is a check (tune.c). */
int copy_table_builds(const struct ferry_table *t, int costly);

/* What a failed content hash (of rows or points) is prefixed with. */
#define COPY_CONTENT_FAIL "cannot check the source for changes"

/* The source's content hash, computed in a thread (content.c). */
struct copy_content {
	ferry_conn *conn;         /* the thread's own connection to the source */
	pthread_t thread;
	int started, joined, rc;
	char out[33];
	struct ferry_error err;
};

struct run {
	const struct ferry_copy_opts *o;
	const char *schema;
	const char *src_url;      /* the source actually read (a snapshot copy) */
	char *snapshot;           /* temp file to remove, or NULL */
	const struct ferry_conn_ops *snap_ops;  /* the snapshot's store */
	ferry_conn *src, *dst;
	const struct ferry_conn_ops *sops, *dops;
	struct ferry_catalog *scat, *tcat;
	struct plan plan;
	struct rejects rej;
	struct rejects abort_rej; /* lines the error budget stopped at (mem) */
	struct ferry_buf abort_mem;
	ferry_progress *progress;
	struct ferry_copy_result *res;
	int jobs;                 /* streams (at most: see ramp) */
	int ramp;                 /* -j auto: start with one, add while they pay */
	int builds;               /* index builds side by side; 0: as -j N has it */
	int readers;              /* readers of ferry's sort scan; 0: as -j N */
	size_t batch_rows;        /* -j auto's rows per batch; 0: the default */
	int server_local;         /* the target server shares this host's cores */
	long build_sort_kb;       /* builds of big tables without parallel workers,
				   * each sorting in this many kB; 0: as decided
				   * elsewhere (tune.c) */
	struct strv decisions;    /* what -j auto decided and why (tune.c) */
	int ckpt;                 /* checkpointed job (FERRY_CAP_CHECKPOINT target) */
	const char *job;
	char worker_id[128];
	struct chunk_spec *chunks;
	size_t nchunks;
	struct strv created;      /* target tables this job creates */
	int resumed;
	int already_done;
	int kept_done;        /* keep_done took a done job whose source changed */
	int created_job;          /* this run created the job */
	int budget_exceeded;
	struct relmap *map;       /* a relational map (--map with tables:), or NULL */
	struct copy_content content;
	struct copy_watch watch;  /* the target's and the source's databases */
};

/* out = the 32 hex digits of the hash of b's text, which the caller
 * built with adds or-ed into berr (FERRY_ENOMEM when one failed); b is
 * released. */
int copy_fingerprint_of(struct ferry_buf *b, int berr, char out[33], struct ferry_error *err);
/* Start hashing the source's content on a connection of its own, in a
 * thread, when the job will need it and the source is cheap to open
 * again; anything that keeps it from starting leaves the hash to
 * copy_content_get. */
void copy_content_start(struct run *r);
/* The content hash a job is created with or resumed against: the
 * thread's result, or computed now. */
int copy_content_get(struct run *r, char out[33], struct ferry_error *err);
/* Wait for the thread, if any (every run's end). */
void copy_content_stop(struct run *r);
/* Run one statement on the target; a failure becomes a warning (returns 1)
 * when soft. */
int copy_run_ddl(struct run *r, const char *sql, int soft, struct ferry_error *err);
/* The SET maintenance_work_mem a build session starts with (empty for
 * the server's own value). */
int copy_mwm_sql(struct run *r, struct ferry_buf *out, struct ferry_error *err);
/* Decide r->jobs, r->ramp and r->builds (tune.c), once the plan is
 * known; each decision is said in r->decisions. */
int copy_tune(struct run *r, struct ferry_error *err);
/* The post-load phase: keys, indexes, foreign keys, identities, views. */
int copy_phase_post(struct run *r, struct ferry_error *err);
/* Views on a target without checkpoints (SQLite), each a soft failure. */
void copy_plain_views(struct run *r);

#endif
