/*
 * migrate.h - versioned up/down migrations with a journal, a lock,
 * checksums and rollback (`ferry migrate`).
 *
 * A migrations tree holds SQL files (golang-migrate NNNN_name.up.sql /
 * .down.sql pairs and dbmate single files with -- migrate:up / -- migrate:down
 * sections), executable steps, Python migration files (migrate_forward /
 * migrate_backward / MIGRATION_INFO) and version-transition folders
 * (v0.1.0_to_v0.2.0/001_name.ext).  The journal lives in the target
 * database (table ferry_migrations) or, without a database, in
 * <root>/.ferry/migrations.jsonl.
 *
 * Ownership: a ferry_migrator copies every string in its options, so the
 * options struct and its strings may die after ferry_migrator_open().  The
 * migrator owns its database connection and lock; ferry_migrator_free()
 * releases them.  Report buffers are caller memory: each command appends
 * one JSON document to `json` (when not NULL) and writes human-readable
 * progress lines to opts.out (when not NULL).  No URL is ever written with
 * its password.
 */
#ifndef FERRY_MIGRATE_H
#define FERRY_MIGRATE_H

#include <stdint.h>
#include <stdio.h>

#include "ferry/buf.h"
#include "ferry/error.h"

typedef struct ferry_migrator ferry_migrator;

struct ferry_migrate_opts {
	const char *dir;          /* migrations tree; NULL = "migrations" */
	const char *root;         /* project root for exec/python steps; NULL = "." */
	const char *db_url;       /* sqlite:..., postgres://...; NULL = project-only */
	double lock_timeout;      /* seconds to wait for the lock; 0 = 60 */
	/* up, down: each step's statements wait at most this long for a lock
	 * another session holds (PostgreSQL's lock_timeout, SQLite's busy
	 * timeout), then the step fails and the run is rolled back; 0 = as
	 * long as the store waits by default */
	int64_t statement_lock_timeout_ms;
	int backup;               /* back up before `up` even if no step asks */
	int dry_run;              /* `up`/`down`: print the plan, change nothing */
	const char *to;           /* target version for up/down, or NULL */
	int count;                /* `down`: number of steps (0 = 1) */
	const char *test_cmd;     /* shell command run after `up`; failure rolls back */
	const char *restart_cmd;  /* shell command run per service to restart ($1) */
	const char *python;       /* interpreter for Python steps; NULL = "python3" */
	FILE *out;                /* human output, or NULL */
	int read_only;            /* status, plan, dry runs: open a SQLite file
				   * read-only; a missing one is an error,
				   * never created */
};

/* Step kinds for ferry_migrate_new(). */
enum ferry_migrate_kind {
	FERRY_MIGRATE_SQL = 0,
	FERRY_MIGRATE_EXEC,
	FERRY_MIGRATE_PYTHON
};

/*
 * Open a migrator: scan the tree and connect to the database (if any).
 * Nothing is created or locked yet.  Returns 0 or a negative FERRY_E* code.
 */
int ferry_migrator_open(const struct ferry_migrate_opts *opts,
			ferry_migrator **out, struct ferry_error *err);
void ferry_migrator_free(ferry_migrator *m);

/*
 * The commands.  Each returns 0 when done (or already up to date) and a
 * negative FERRY_E* code on failure, with err filled.  FERRY_EDRIFT means
 * an applied migration's file changed; FERRY_ELOCKED that another run held
 * the lock for longer than the timeout.
 */
int ferry_migrate_status(ferry_migrator *m, struct ferry_buf *json,
			 struct ferry_error *err);
/* The ordered steps with their SQL, lint warnings and the rollback plan. */
int ferry_migrate_plan(ferry_migrator *m, struct ferry_buf *json,
		       struct ferry_error *err);
int ferry_migrate_up(ferry_migrator *m, struct ferry_buf *json,
		     struct ferry_error *err);
int ferry_migrate_down(ferry_migrator *m, struct ferry_buf *json,
		       struct ferry_error *err);
/* Record every migration up to and including version as applied, run nothing. */
int ferry_migrate_baseline(ferry_migrator *m, const char *version,
			   struct ferry_buf *json, struct ferry_error *err);
/*
 * Resolve a failed run after the user fixed it by hand: a step left
 * half-applied is recorded as not applied (as_applied = 0) or applied
 * (as_applied = 1); a step whose revert failed stays applied; drifted
 * checksums are accepted.
 */
int ferry_migrate_repair(ferry_migrator *m, int as_applied,
			 struct ferry_buf *json, struct ferry_error *err);
/* Compare checksums; accept = record the current files as the new truth. */
int ferry_migrate_validate(ferry_migrator *m, int accept,
			   struct ferry_buf *json, struct ferry_error *err);

/*
 * Create the next migration in dir (created if missing) named
 * NNNN_name.sql (dbmate sections), NNNN_name.sh (executable) or
 * NNNN_name.py (Python format).  The created path(s) are appended to
 * created, one per line.
 */
int ferry_migrate_new(const char *dir, const char *name, int kind,
		      struct ferry_buf *created, struct ferry_error *err);

#endif
