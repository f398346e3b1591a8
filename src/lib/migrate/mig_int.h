/*
 * mig_int.h - internals of the migrate module, shared by its layers:
 *
 *   discover.c  walk the tree, parse names/sections/versions, checksums, lint
 *   db.c        a tiny adapter over libpq and libsqlite3
 *   journal.c   the ferry_migrations table, or <root>/.ferry/migrations.jsonl
 *   lock.c      advisory lock (PostgreSQL) or flock beside the file
 *   steps.c     one ops table per step kind (sql, exec, python)
 *   step_rewrite.c  the rewrite kind: ferry rewrite recipes as steps
 *   backup.c    sqlite3_backup / pg_dump and project file snapshots
 *   lockwait.c  a step waiting on another session's lock: the lock watch,
 *               --statement-lock-timeout
 *   runner.c    status, plan, up, down, baseline, repair, validate
 */
#ifndef FERRY_MIG_INT_H
#define FERRY_MIG_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/error.h"
#include "ferry/migrate.h"

enum mig_kind { MIG_SQL = 0, MIG_EXEC, MIG_PYTHON, MIG_REWRITE, MIG_NKINDS };

/* Where a step stands according to the journal (last row of its version). */
enum mig_state {
	MIG_PENDING = 0,  /* never applied, reverted, rolled back or repaired */
	MIG_APPLIED,      /* applied, baseline or accepted */
	MIG_FAILED,       /* last attempt failed and was rolled back cleanly */
	MIG_DIRTY         /* half-applied or a revert failed: blocks up/down */
};

struct mig_jrow {
	long id;
	char *version, *name, *kind, *checksum, *applied_at, *outcome, *error;
	char *run_id;
	double duration;  /* seconds */
};

struct mig_step {
	char *version;    /* journal key: "0001" or "v0.2.0/001" */
	char *name;       /* "create_rooms" */
	char *label;      /* "0001_create_rooms", "v0.1.0_to_v0.2.0/001_update" */
	int kind;         /* enum mig_kind */
	char *path;       /* the up / exec / python file */
	char *down_path;  /* golang-migrate .down.sql, or NULL */
	char *up_sql;     /* SQL kinds: the up section (normalized) */
	char *down_sql;   /* SQL kinds: the down section, NULL when none */
	int no_tx;        /* -- ferry:no-transaction or transaction:false */
	char checksum[33];

	/* sort key: flat files (group 0) by number, then folders by version */
	int group;
	uint64_t num;
	char *from_ver, *to_ver;

	/* metadata (Python MIGRATION_INFO), loaded on demand */
	int info_loaded;
	char *description;
	int backup_required;
	int breaking;
	double est_seconds;
	json_t *restart;  /* list of service names, or NULL */

	/* journal view */
	int state;
	const struct mig_jrow *last;     /* newest row, or NULL */
	const struct mig_jrow *applied;  /* newest applied-type row, or NULL */
};

/* The target database: a connection from the registry (db.c). */
struct mig_db {
	struct ferry_conn *c;
	const struct ferry_conn_ops *ops;
	char *path;       /* the database file (FERRY_CAP_FILE), else NULL */
	char *url;        /* as given (may hold a password: never print) */
	char *redacted;   /* printable */
};

struct mig_lock {
	int fd;           /* project-only: the lock file's */
	int held;         /* the database's lock (ops->lock) */
	int64_t key;
};

/* How far a script run outside a transaction got. */
struct mig_partial {
	size_t done;    /* statements that took effect */
	size_t total;   /* statements in all; 0 = unknown (SQLite) */
	int leftover;   /* the failing statement leaves something behind
			 * (CREATE INDEX CONCURRENTLY: an invalid index) */
};

struct ferry_migrator {
	char *dir, *root, *db_url, *to, *test_cmd, *restart_cmd, *python;
	double lock_timeout;
	int backup, dry_run, count;
	FILE *out;

	struct mig_db *db;       /* NULL when project-only */
	char *journal_file;      /* project-only journal */
	struct mig_lock lock;

	struct mig_step *steps;
	size_t nsteps, stepcap;
	char **skipped;          /* files discovery skipped with a reason */
	size_t nskipped, skippedcap;

	struct mig_jrow *rows;   /* journal rows, oldest first */
	size_t nrows, rowcap;
	int journal_exists;

	char run_id[64];
	char *shim_path;         /* temp file holding the Python shim */
	struct mig_partial partial;  /* the last no-transaction SQL run */

	int64_t stmt_lock_ms;    /* --statement-lock-timeout, 0: none */
	ferry_watch *watch;      /* the database's lock watch (lockwait.c) */
	int watch_tried;
	/* out is written by the watch's thread too: a wait is said while a
	 * step's "-> label ... " line is open (line_open), which it cuts
	 * (line_cut: the step's result prints the label again) */
	pthread_mutex_t out_lock;
	int line_open, line_cut;
};

struct mig_step_ops {
	const char *name;        /* journal "kind" */
	int supported;           /* 0: discovered but cannot run yet */
	/* read the files: contents, sections, checksum */
	int (*load)(struct ferry_migrator *m, struct mig_step *s,
		    struct ferry_error *err);
	/* fill description/backup_required/restart (may run code) */
	int (*info)(struct ferry_migrator *m, struct mig_step *s,
		    struct ferry_error *err);
	/* 1 if the step runs inside the journal's transaction */
	int (*transactional)(const struct mig_step *s);
	/* 1 if the step can be reverted */
	int (*has_down)(const struct mig_step *s);
	/* run forward (1) or backward (0); output collects child output */
	int (*run)(struct ferry_migrator *m, struct mig_step *s, int forward,
		   struct ferry_buf *output, struct ferry_error *err);
	/* append what would run (for plan) */
	int (*describe)(struct ferry_migrator *m, const struct mig_step *s,
			int forward, struct ferry_buf *out);
};

extern const struct mig_step_ops *const mig_ops[MIG_NKINDS];
/* step_rewrite.c: .rewrite.yaml steps (ferry rewrite recipes) */
extern const struct mig_step_ops mig_rewrite_ops;

/* discover.c */
int mig_discover(struct ferry_migrator *m, struct ferry_error *err);
void mig_step_release(struct mig_step *s);
int mig_step_cmp(const struct mig_step *a, const struct mig_step *b);
/* -1/0/1; "v0.9.0" < "v0.10.0"; leading 'v' optional. */
int mig_semver_cmp(const char *a, const char *b);
/* Parse "0001_name.up.sql" etc.: number, name, suffix after the name. */
int mig_parse_filename(const char *fname, uint64_t *num, char **name,
		       const char **ext);
/* Parse "v0.1.0_to_v0.2.0" into two versions. */
int mig_parse_transition(const char *dname, char **from, char **to);
/* Strip a UTF-8 BOM, turn CRLF into LF. */
int mig_normalize(const char *data, size_t n, struct ferry_buf *out);
/* Split a dbmate file into its sections; *down is NULL when absent. */
int mig_split_sections(const char *text, char **up, char **down, int *no_tx,
		       struct ferry_error *err);
/* Append one warning line per DROP TABLE / DROP COLUMN / TRUNCATE. */
int mig_sql_lint(const char *sql, struct ferry_buf *warnings);
/* Call fn on every statement (comments and quotes respected). */
int mig_sql_split(const char *sql,
		  int (*fn)(const char *stmt, size_t n, void *ud), void *ud);
/* Does a target version cover a step? (`--to`) */
int mig_target_covers(const char *target, const struct mig_step *s);
int mig_read_file(const char *path, struct ferry_buf *out,
		  struct ferry_error *err);

/* db.c */
/* read_only: a SQLite file is opened read-only and must exist (status,
 * plan and dry runs change nothing, not even by creating an empty file). */
int mig_db_open(const char *url, int read_only, struct mig_db **out,
		struct ferry_error *err);
void mig_db_close(struct mig_db *db);
int mig_db_exec(struct mig_db *db, const char *sql, struct ferry_error *err);
/* Statement by statement, outside any transaction; p says how far it got. */
int mig_db_exec_each(struct mig_db *db, const char *sql, struct mig_partial *p,
		     struct ferry_error *err);
/* One statement with $1..$n text parameters (each used once, in order). */
int mig_db_execp(struct mig_db *db, const char *sql, int n,
		 const char *const *vals, struct ferry_error *err);
typedef int (*mig_row_fn)(int ncols, const char *const *vals, void *ud);
int mig_db_query(struct mig_db *db, const char *sql, mig_row_fn fn, void *ud,
		 struct ferry_error *err);
int mig_db_table_exists(struct mig_db *db, const char *table, int *exists,
			struct ferry_error *err);
/* mig_db_query with $1..$n text parameters. */
int mig_db_query_p(struct mig_db *db, const char *sql, const char *const *vals, int n,
		   mig_row_fn fn, void *ud, struct ferry_error *err);
/* Does the store keep values untyped (SQLite's dialect: the journal's
 * times as text)?  Else a typed SQL server (PostgreSQL's dialect). */
int mig_db_untyped(const struct mig_db *db);
/* Make the session's next commit durable whatever the server's default: a
 * server database's synchronous_commit from off to on (it stays on for the
 * session, which the user's later steps then see); a SQLite file's commits
 * are synchronous already. */
int mig_db_durable(struct mig_db *db, struct ferry_error *err);

/* journal.c */
int mig_journal_load(struct ferry_migrator *m, int create,
		     struct ferry_error *err);
int mig_journal_add(struct ferry_migrator *m, const struct mig_step *s,
		    const char *outcome, double duration, const char *error,
		    const char *checksum, struct ferry_error *err);
void mig_journal_release(struct ferry_migrator *m);
/* Set state/last/applied on every step; returns rows without a step. */
void mig_journal_apply_states(struct ferry_migrator *m);
int mig_outcome_state(const char *outcome);
void mig_now_iso(char out[32]);

/* lock.c */
int mig_lock_acquire(struct ferry_migrator *m, struct ferry_error *err);
void mig_lock_release(struct ferry_migrator *m);

/* lockwait.c */
/* Start the database's lock watch once (a store that has one), saying
 * each wait through say(m, line) from the watch's thread. */
void mig_watch_start(struct ferry_migrator *m, void (*say)(void *m, const char *line));
/* Stop it; the waits it said go to the report's "warnings". */
void mig_watch_stop(struct ferry_migrator *m, json_t *report);
/* Before a step: its statements wait at most --statement-lock-timeout
 * for a lock (set again each step: a step may reset it for its own). */
int mig_lock_timeout_apply(struct ferry_migrator *m, struct ferry_error *err);
/* A statement of who ("'0002_floor'", "reading the journal table ...")
 * that failed because it waited out the timeout: err says so, naming who,
 * the lock and who held it when the watch saw them (since t0), then tail
 * ("" or "; no step ran"): 1.  Any other failure is left as it is: 0. */
int mig_lock_timeout_explain(struct ferry_migrator *m, const char *who, const char *tail,
			     double t0, struct ferry_error *err);
/* "2 s", "1.5 s", "500 ms": a timeout as the messages give it. */
void mig_timeout_text(int64_t ms, char *out, size_t n);

/* steps.c */
int mig_run_child(struct ferry_migrator *m, char *const argv[],
		  struct ferry_buf *output, struct ferry_buf *result,
		  struct ferry_error *err);
/* The same with extra environment for the child: { name, value, ..., NULL }
 * (the way to hand a child a secret: never on its command line). */
int mig_run_child_env(struct ferry_migrator *m, char *const argv[],
		      const char *const env[], struct ferry_buf *output,
		      struct ferry_buf *result, struct ferry_error *err);
int mig_shell(struct ferry_migrator *m, const char *cmd, const char *arg,
	      struct ferry_buf *output, struct ferry_error *err);
int mig_step_info(struct ferry_migrator *m, struct mig_step *s,
		  struct ferry_error *err);

/* backup.c */
struct mig_backup {
	char *db_file;           /* backup of the database, or NULL */
	char *db_restore;        /* restore command (redacted) */
	char *files_dir;         /* snapshot of the project files, or NULL */
	char **files;            /* files the run changed (relative to root) */
	size_t nfiles, filescap;
	/* snapshot of the project files taken before the run */
	char **snap_rel;
	char (*snap_hash)[33];
	size_t nsnap, snapcap, hashcap;
	long long snap_bytes;
};
int mig_backup_take(struct ferry_migrator *m, struct mig_backup *b,
		    struct ferry_error *err);
/* After the run: keep only changed files in the snapshot. */
int mig_backup_finish(struct ferry_migrator *m, struct mig_backup *b,
		      struct ferry_error *err);
void mig_backup_release(struct mig_backup *b);
/* libpq conninfo of a postgres URL without its password; *password gets
 * the password (caller frees; NULL when none) for PGPASSWORD. */
int mig_pg_conninfo(const char *url, struct ferry_buf *conninfo,
		    char **password, struct ferry_error *err);

#endif
