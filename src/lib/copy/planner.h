/*
 * planner.h - the copy plan (see planner.c).
 */
#ifndef FERRY_PLANNER_H
#define FERRY_PLANNER_H

#include <stdarg.h>

#include "copy/copy_int.h"
#include "ferry/connector.h"
#include "ferry/progress.h"

struct strv {
	char **v;
	size_t n, cap;
};

int plan_strv_push(struct strv *v, char *s);  /* takes ownership of s */
int plan_strv_pushf(struct strv *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void plan_strv_release(struct strv *v);

struct plan {
	struct table_plan *tables;
	size_t ntables;
	struct strv warnings;
	struct strv renames;
	struct strv keynames;  /* names given to primary and unique keys */
};

/* Open a copy's or a verify's source read-only (source.c), telling
 * progress when a time-series source plans its chunks first; a store the
 * row path cannot read is FERRY_EUNSUPPORTED, "<doing> from 'name' is not
 * supported yet".  *out is set only on success. */
int copy_open_source(const char *url, const char *doing, ferry_progress *progress,
		     ferry_conn **out, struct ferry_error *err);
/*
 * The lock watches of a copy's or a verify's databases (waits.c): a
 * statement of the run that waits on a lock another session holds is
 * said, once it has waited FERRY_WATCH_SAY seconds, on progress (a
 * warning when quiet: no progress shown).  copy_watch_start watches a's
 * database and b's (either may be NULL, or of a store without a watch);
 * one that cannot start leaves the run as it was, silent while it waits.
 * copy_watch_stop stops them and, when warnings is not NULL, adds one
 * warning per wait they said.
 */
struct copy_watch {
	ferry_watch *w[2];
	const struct ferry_conn_ops *ops[2];
	ferry_progress *progress;
	int quiet;
};
void copy_watch_start(struct copy_watch *cw, ferry_conn *a, ferry_conn *b,
		      ferry_progress *progress, int quiet);
void copy_watch_stop(struct copy_watch *cw, struct strv *warnings);
/* Whether url reads standard input (lp:-): read once, so a rerun
 * cannot tell whether it is what an earlier run of the job copied. */
int copy_source_is_stdin(const char *url);

/* Does name match one of the NULL-terminated fnmatch globs? */
int plan_glob_match(const char *const *globs, const char *name);
/* FERRY_EUSAGE when a glob of include or exclude matches no table of scat. */
/* The user's --include and --exclude, each matching, leave no table of
 * scat (which has some): a usage error, there is nothing to do. */
int plan_check_left(const char *const *include, const char *const *exclude,
		    const struct ferry_catalog *scat, struct ferry_error *err);
int plan_check_filters(const char *const *include, const char *const *exclude,
		       const struct ferry_catalog *scat, struct ferry_error *err);
int plan_check_casts(const struct ferry_copy_opts *o, struct ferry_error *err);
/* Build the plan; tcat (the target's catalog) may be NULL. */
int plan_build(struct plan *pl, const struct ferry_copy_opts *o, ferry_conn *src,
	       const struct ferry_catalog *scat, const struct ferry_catalog *tcat,
	       struct ferry_error *err);
void plan_release(struct plan *pl);
/* The names a copy into tables it makes gives t (alone in its catalog)
 * and its columns that are not hidden, in order: cut to PostgreSQL's 63
 * bytes, a system column's name suffixed.  *cols ends with NULL; both are
 * freed by plan_names_free, also after a failure (FERRY_ENOMEM). */
int plan_names(const struct ferry_table *t, char **table, char ***cols);
void plan_names_free(char *table, char **cols);
const struct table_plan *plan_find(const struct plan *pl, const char *src_name);
int plan_parse_type_sql(const char *t, int *type, int32_t *typmod);
/* cp's source default d as PostgreSQL SQL (plan_default.c); NULL when it
 * has no faithful translation or memory ran out */
char *plan_translate_default(const struct col_plan *cp, const char *d);
/* Set a column's type (and its type_sql); or the type of a SQLite
 * declared type (a column without one: bytes). */
void plan_col_type(struct col_plan *cp, int type, int32_t typmod);
void plan_col_decl(struct col_plan *cp, const char *decl);

/* What a pre-scan (prescan.c) must look at for a candidate type. */
enum {
	SCAN_NONE = 0,
	SCAN_DATE,
	SCAN_TIMESTAMP,
	SCAN_JSON,
	SCAN_BOOL,
	SCAN_VARCHAR,
	SCAN_UUID,
	SCAN_UNTYPED,
	SCAN_NUMERIC    /* a type name SQLite gives NUMERIC affinity (STRING, TIME) */
};

/* One table's pre-scan: kinds[i] is the SCAN_* of column i of tp. */
struct plan_scan {
	struct table_plan *tp;
	int *kinds;
	void *state;  /* prescan.c's, between the scan and the decisions */
	int rc;
	struct ferry_error err;
};

/* Scan every table of jobs (side by side on their own connections to
 * src_url when there are several and the cores to run them); src is the
 * plan's own source connection.  Then plan_prescan_decide each job, in
 * order: the scanned columns' types, warnings added to pl. */
int plan_prescan(struct plan *pl, const char *src_url, ferry_conn *src,
		 struct plan_scan *jobs, size_t n, struct ferry_error *err);
void plan_prescan_decide(struct plan *pl, struct plan_scan *job);
void plan_prescan_release(struct plan_scan *job);

int plan_ddl_create_table(const struct plan *pl, const struct table_plan *tp,
		     const char *schema, struct ferry_buf *b);
/*
 * What to run after the load: key indexes (PK, UNIQUE) and other indexes,
 * which can be built at the same time, then the statements that attach the
 * key indexes as constraints, then foreign keys.  With validates, each
 * foreign key is named and added NOT VALID in fks, and validated by its
 * statement in validates, to run after every one of fks has committed
 * (validations then run side by side: see post.c); without, fks add and
 * validate in one.  FERRY_ENOMEM when a statement could not be built whole
 * (the lists then hold only whole ones).  With order_at, on success,
 * *order_at is the position in indexes of the build of index tp->order,
 * or SIZE_MAX.
 */
int plan_ddl_post_load(struct plan *pl, const struct table_plan *tp, const char *schema,
		  struct strv *keys, struct strv *indexes, struct strv *attach,
		  struct strv *fks, struct strv *validates, size_t *order_at);

/* Quoted names onto b: 0, or the buffer's sticky error (a literal:
 * wire_sql_literal). */
int plan_quote_ident(struct ferry_buf *b, const char *name);
int plan_qualified(struct ferry_buf *b, const char *schema, const char *name);

#endif
