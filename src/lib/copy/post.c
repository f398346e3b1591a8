/*
 * post.c - ferry copy after the load: the statements that build keys,
 * indexes, foreign keys, identities and views, recorded as steps in the
 * target's ferry.steps (checkpoint.c) and run side by side, one build per
 * core, foreign keys last so that load order never matters.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "copy/run_int.h"
#include "ferry/alloc.h"
#include "ferry/log.h"
#include "wire/sqltext.h"

/* Text after the top-level AS of CREATE VIEW. */
static const char *view_body(const char *sql)
{
	const char *p = sql;
	int depth = 0;

	for (; *p; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')')
			depth--;
		else if (depth == 0 && (p[0] == 'A' || p[0] == 'a') &&
			 (p[1] == 'S' || p[1] == 's') && p > sql &&
			 isspace((unsigned char)p[-1]) && isspace((unsigned char)p[2]))
			return p + 3;
	}
	return NULL;
}

/*
 * Builds list->v[from..to) run without parallel workers.  They are the
 * builds of a table ferry loaded in the order of one of its indexes, two
 * or more of them, side by side: their sorts are cheap (that index's input
 * is presorted, the others are keys) and a parallel build adds a merge on
 * one core.  Measured on 2 cores, 5M telemetry rows loaded in (entity_id,
 * ts) order, PK and that index side by side: 2.7-3.0 s without workers,
 * 3.0-3.8 s with 2 each.  Other tables keep the server's workers: two
 * costly text-led sorts of 6M narrow rows took 26 s without them and
 * 17-19 s with them.  A table in its source's own order (the narrow layout
 * read series by series) has such a sort beside the presorted one: only
 * the presorted build goes without workers; the other keeps them, and
 * with them the core the first leaves idle when it ends (6M narrow rows by
 * hand, 4 rounds: 6.67-6.88 s, against 6.85-7.50 s with workers for both
 * and 7.18-7.56 s for neither).  With sort_kb (run.build_sort_kb, tune.c:
 * a big table with two sorts that cost, on a server on this host) every
 * build of such a table goes without workers and sorts in sort_kb (a big
 * table with one, or sorted by ferry, keeps its workers).
 */
static void no_workers(struct strv *list, size_t from, size_t to, long sort_kb)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;

	for (i = from; i < to && i < list->n; i++) {
		char *s;

		ferry_buf_clear(&b);
		if (ferry_buf_addstr(&b, "SET LOCAL max_parallel_maintenance_workers TO 0; ") < 0 ||
		    (sort_kb > 0 && ferry_buf_addf(&b, "SET LOCAL maintenance_work_mem TO '%ldkB'; ",
						   sort_kb) < 0) ||
		    ferry_buf_addstr(&b, list->v[i]) < 0 || !(s = ferry_buf_detach(&b, NULL)))
			break;  /* out of memory: the build keeps the workers */
		ferry_free(list->v[i]);
		list->v[i] = s;
	}
	ferry_buf_release(&b);
}

/*
 * The tables on both sides of tp's foreign keys get VACUUM (ANALYZE) on
 * the key columns before the keys are validated (one_step runs it
 * outside a transaction).  Freshly loaded, they have no statistics, and
 * PostgreSQL 15 plans each validation as a hash anti join that hashes
 * the whole referenced table: 40 tables referencing one of 233k rows
 * took 30-50 ms each however small they were (bench/run's appdb shape).
 * End to end on that shape, three runs each: 6.5-6.7 s with the ANALYZE
 * steps (constraints 1.9-2.1 s), 7.5-7.9 s without (constraints 3.5-3.7
 * s).  The VACUUM sets the visibility map, so a validation reads the two
 * keys' indexes alone (index-only scans, merge anti joins) rather than
 * their rows: at 5M rows, appdb's 78 validations took 4.7-6.5 s before
 * and 2.1-2.6 s after, for 0.9 s of VACUUM; the recorder's took 2.6 s
 * before and 1.0-1.1 s after, for 0.26 s.  Autovacuum does the same
 * VACUUM moments after the copy anyway.  Only the key columns are
 * analyzed: the statistics of text columns cost the most to compute,
 * and an ANALYZE with a column list leaves the table's count of changes
 * alone, so autovacuum still analyzes the whole table after the copy as
 * it would have.  cols[t] collects table t's columns.
 */
static int add_col(struct strv *cols, const struct table_plan *tp, const char *src_name)
{
	size_t i, k;

	for (k = 0; k < tp->ncols; k++)
		if (!strcmp(tp->cols[k].src_name, src_name))
			break;
	if (k == tp->ncols)
		return 0;
	for (i = 0; i < cols->n; i++)
		if (!strcmp(cols->v[i], tp->cols[k].dst_name))
			return 0;
	return plan_strv_push(cols, ferry_strdup(tp->cols[k].dst_name));
}

static int mark_fk_cols(const struct run *r, const struct table_plan *tp, struct strv *cols)
{
	int berr = 0;
	size_t i, k;

	for (i = 0; i < tp->src->nfks; i++) {
		const struct ferry_fk *f = &tp->src->fks[i];
		const struct table_plan *rt = plan_find(&r->plan, f->ref_table);
		struct strv *rc;

		if (!rt || rt->exists)
			continue;
		rc = &cols[rt - r->plan.tables];
		for (k = 0; k < f->ncols; k++) {
			berr |= add_col(&cols[tp - r->plan.tables], tp, f->from[k]);
			if (f->to && f->to[0]) {
				if (f->to[k])
					berr |= add_col(rc, rt, f->to[k]);
			} else {  /* the referenced table's primary key */
				size_t j;

				for (j = 0; j < rt->src->ncols; j++)
					if (rt->src->cols[j].pk_pos == (int)k + 1)
						berr |= add_col(rc, rt, rt->src->cols[j].name);
			}
		}
	}
	return berr;
}

/* The post-load statements, in stages: key indexes and other indexes
 * (*nbuilds of them), the keys attached to their indexes, foreign keys,
 * identities and sequences, views.  FERRY_ENOMEM when one of them could
 * not be built whole: then none of them may be recorded. */
static int post_steps(struct run *r, struct strv *stmts, int **stages, size_t *nbuilds,
		      int side_by_side)
{
	int berr = 0;
	struct strv keys = { 0 }, idx = { 0 }, attach = { 0 }, fks = { 0 }, checks = { 0 },
		    seqs = { 0 },
		    views = { 0 }, resets = { 0 };
	struct ferry_buf b = FERRY_BUF_INIT;
	const char *schema = r->schema;
	size_t i, k, n = 0;
	int *st;
	struct strv *analyze = ferry_calloc(r->plan.ntables + 1, sizeof(*analyze));

	if (!analyze)
		berr = FERRY_ENOMEM;
	for (i = 0; i < r->plan.ntables; i++) {
		struct table_plan *tp = &r->plan.tables[i];
		struct ferry_buf tname = FERRY_BUF_INIT;

		berr |= plan_qualified(&tname, schema, tp->dst_name);
		if (!tp->exists && !r->o->data_only) {
			size_t k0 = keys.n, i0 = idx.n, f0 = fks.n, at = SIZE_MAX;

			berr |= plan_ddl_post_load(&r->plan, tp, schema, &keys, &idx, &attach, &fks,
						   &checks, &at);
			/* autovacuum back on (copy.c created the table without) */
			ferry_buf_clear(&b);
			berr |= ferry_buf_addstr(&b, "ALTER TABLE ");
			berr |= ferry_buf_addstr(&b, tname.buf);
			berr |= ferry_buf_addstr(&b, " RESET (autovacuum_enabled, "
						 "toast.autovacuum_enabled)");
			berr |= plan_strv_push(&resets, ferry_strdup(b.buf));
			if (analyze && fks.n > f0)
				berr |= mark_fk_cols(r, tp, analyze);
			if (side_by_side && r->build_sort_kb > 0 && tp->count >= copy_small_table() &&
			    !(tp->order && !tp->src_ordered) && copy_table_builds(tp->src, 1) >= 2) {
				no_workers(&keys, k0, keys.n, r->build_sort_kb);
				no_workers(&idx, i0, idx.n, r->build_sort_kb);
			} else if (side_by_side && tp->order && keys.n - k0 + idx.n - i0 >= 2) {
				if (!tp->src_ordered) {
					no_workers(&keys, k0, keys.n, 0);
					no_workers(&idx, i0, idx.n, 0);
				} else if (at != SIZE_MAX) {
					no_workers(&idx, at, at + 1, 0);
					plan_strv_pushf(&r->decisions, "index '%s' of table '%s' builds "
							"without parallel workers beside the others: its "
							"rows came from the source in its order", tp->order,
							tp->dst_name);
				}
			}
		}
		for (k = 0; k < tp->ncols; k++) {
			struct col_plan *cp = &tp->cols[k];
			int64_t floor_v = tp->src->seq;

			if (cp->type != FERRY_T_INT64 && cp->type != FERRY_T_INT32 &&
			    cp->type != FERRY_T_INT16)
				continue;
			/* the key: past the source's highest too (its key range): a
			 * row rejected on the way keeps its key, as SQLite does, and
			 * fixed and put back later meets no new row there */
			if (tp->src->rowid_alias >= 0 && tp->count > 0 && tp->hi > floor_v &&
			    !strcmp(cp->src_name, tp->src->cols[tp->src->rowid_alias].name))
				floor_v = tp->hi;
			ferry_buf_clear(&b);
			if (cp->identity && !tp->exists) {
				/* next value: past the highest key and, for AUTOINCREMENT,
				 * past the highest key ever handed out */
				berr |= ferry_buf_addstr(&b, "ALTER TABLE ");
				berr |= ferry_buf_addstr(&b, tname.buf);
				berr |= ferry_buf_addstr(&b, " ALTER COLUMN ");
				berr |= plan_quote_ident(&b, cp->dst_name);
				berr |= ferry_buf_addstr(&b, " ADD GENERATED BY DEFAULT AS IDENTITY; "
						 "SELECT setval(pg_get_serial_sequence(");
				berr |= wire_sql_literal(&b, tname.buf);
				berr |= ferry_buf_addstr(&b, ", ");
				berr |= wire_sql_literal(&b, cp->dst_name);
				berr |= ferry_buf_addstr(&b, "), GREATEST(coalesce((SELECT max(");
				berr |= plan_quote_ident(&b, cp->dst_name);
				berr |= ferry_buf_addstr(&b, ") FROM ");
				berr |= ferry_buf_addstr(&b, tname.buf);
				berr |= ferry_buf_addf(&b, "), 0), %lld, 0) + 1, false)",
					       (long long)(floor_v > 0 ? floor_v : 0));
			} else if (tp->exists) {
				/* an existing serial/identity column must move past the keys */
				berr |= ferry_buf_addstr(&b, "SELECT setval(s, GREATEST(coalesce((SELECT max(");
				berr |= plan_quote_ident(&b, cp->dst_name);
				berr |= ferry_buf_addstr(&b, ") FROM ");
				berr |= ferry_buf_addstr(&b, tname.buf);
				berr |= ferry_buf_addstr(&b, "), 0), 0) + 1, false) FROM pg_get_serial_sequence(");
				berr |= wire_sql_literal(&b, tname.buf);
				berr |= ferry_buf_addstr(&b, ", ");
				berr |= wire_sql_literal(&b, cp->dst_name);
				berr |= ferry_buf_addstr(&b, ") AS s WHERE s IS NOT NULL");
			} else {
				continue;
			}
			berr |= plan_strv_push(&seqs, ferry_strdup(b.buf));
		}
		ferry_buf_release(&tname);
	}
	/* after the attach steps of the same stage, before the foreign keys */
	for (i = 0; analyze && i < r->plan.ntables; i++) {
		if (!analyze[i].n)
			continue;
		ferry_buf_clear(&b);
		berr |= ferry_buf_addstr(&b, "VACUUM (ANALYZE) ");
		berr |= plan_qualified(&b, schema, r->plan.tables[i].dst_name);
		for (k = 0; k < analyze[i].n; k++) {
			berr |= ferry_buf_addstr(&b, k ? ", " : " (");
			berr |= plan_quote_ident(&b, analyze[i].v[k]);
		}
		berr |= ferry_buf_addch(&b, ')');
		berr |= plan_strv_push(&attach, ferry_strdup(b.buf));
		plan_strv_release(&analyze[i]);
	}
	ferry_free(analyze);
	for (i = 0; !r->o->data_only && r->o->views && i < r->scat->nviews; i++) {
		const struct ferry_view *v = &r->scat->views[i];
		const char *body = v->sql ? view_body(v->sql) : NULL;

		if (!body)
			continue;
		ferry_buf_clear(&b);
		berr |= ferry_buf_addstr(&b, "CREATE VIEW ");
		berr |= plan_qualified(&b, schema, v->name);
		berr |= ferry_buf_addstr(&b, " AS ");
		berr |= ferry_buf_addstr(&b, body);
		berr |= plan_strv_push(&views, ferry_strdup(b.buf));
	}
	*nbuilds = keys.n + idx.n;
	st = ferry_calloc(keys.n + idx.n + attach.n + fks.n + checks.n + seqs.n + views.n +
			 resets.n + 1,
			 sizeof(int));
#define TAKE(list, stage) \
	for (i = 0; i < (list).n; i++) { \
		plan_strv_push(stmts, (list).v[i]); \
		if (st) \
			st[n] = (stage); \
		n++; \
		(list).v[i] = NULL; \
	}
	TAKE(keys, STAGE_KEYS)
	TAKE(idx, STAGE_KEYS)
	TAKE(attach, STAGE_ATTACH)
	TAKE(fks, STAGE_FKEYS)
	TAKE(checks, STAGE_SEQUENCES)  /* the validations, after every key is added */
	TAKE(seqs, STAGE_SEQUENCES)
	TAKE(views, STAGE_VIEWS)
	TAKE(resets, STAGE_VIEWS)  /* after every step that locks the table */
#undef TAKE
	*stages = st;
	plan_strv_release(&keys);
	plan_strv_release(&idx);
	plan_strv_release(&attach);
	plan_strv_release(&fks);
	plan_strv_release(&checks);
	plan_strv_release(&seqs);
	plan_strv_release(&views);
	plan_strv_release(&resets);
	ferry_buf_release(&b);
	return berr < 0 ? FERRY_ENOMEM : 0;
}

int copy_phase_post(struct run *r, struct ferry_error *err)
{
	struct strv stmts = { 0 };
	struct ferry_buf mwm = FERRY_BUF_INIT;
	int *stages = NULL;
	size_t nbuilds = 0;
	double t0 = ferry_now();
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int rc, n;

	if ((rc = copy_mwm_sql(r, &mwm, err)) < 0)
		goto out;
	/*
	 * Each build scans the heap from its first page.  With synchronized
	 * scans (the default, for tables over a quarter of shared_buffers) a
	 * build started beside another joins that one's scan midway and
	 * sees the rows rotated, so a presorted input is no longer one run.
	 */
	if ((rc = ferry_buf_addstr(&mwm, "; SET synchronize_seqscans TO off")) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	/*
	 * Builds run side by side: as many as copy_tune decided (-j auto),
	 * or one per core, at most -j.  Side by side, a table loaded in the
	 * order of an index builds without parallel workers (no_workers);
	 * one at a time, every build runs as the server runs it by default.
	 */
	if (cores < 1)
		cores = 1;
	n = r->builds > 0 ? r->builds : (int)(cores < r->jobs ? cores : r->jobs);
	if (n < 1)
		n = 1;
	if (post_steps(r, &stmts, &stages, &nbuilds, n > 1) < 0 || (!stages && stmts.n)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ck_steps_insert(r->dst, r->job, &stmts, stages, err)) < 0 ||
	    (rc = ck_steps_retry(r->dst, r->job, err)) < 0)
		goto out;
	/*
	 * Side by side, each build keeps the server's parallel workers.
	 * Fewer workers per build looked better on two cheap sorts (5M
	 * telemetry rows, PK + (text, double) index, 2 cores: no workers side
	 * by side 2.5-3.3 s, 2 workers each 2.9-3.9 s side by side, 3.4-3.9 s
	 * one after the other) but much worse on two costly ones (6M narrow
	 * rows, 2 text-led indexes: 26 s against 17-19 s): a parallel build
	 * sorts smaller runs.  Smaller runs without workers, in a share of
	 * the CPU's cache, are faster still (run.build_sort_kb, tune.c).
	 */
	{
		if (nbuilds > 0 && (size_t)n > nbuilds)
			n = (int)nbuilds;
		/*
		 * Stage by stage, so each phase reports its own time.  The
		 * foreign keys are added NOT VALID (a moment each, but under a
		 * lock on both tables that serialized every key to one
		 * referenced table) and validated in the next stage, which
		 * locks only the referencing table: validations of keys of
		 * different tables run side by side, one per core whatever the
		 * builds were (appdb's 78 keys, 39 of them to one table:
		 * 1.5-1.7 s one after the other, 0.6-1.0 s two at a time).
		 * That stage also sets identities and sequences (milliseconds):
		 * its time counts as constraints.
		 */
		static const struct { int stage, phase, per_core; } order[] = {
			{ STAGE_KEYS, FERRY_PHASE_INDEXES, 0 },
			{ STAGE_ATTACH, FERRY_PHASE_INDEXES, 0 },
			{ STAGE_FKEYS, FERRY_PHASE_CONSTRAINTS, 1 },
			{ STAGE_SEQUENCES, FERRY_PHASE_CONSTRAINTS, 1 },
			{ STAGE_VIEWS, FERRY_PHASE_SEQUENCES, 0 },
		};
		size_t i;

		for (i = 0; i < sizeof(order) / sizeof(order[0]) && rc == 0; i++) {
			int k = order[i].per_core && cores > n ? (int)cores : n;
			int64_t left = 0;

			/* a worker per step at most, none for a stage with
			 * nothing to run: each opens a session (InfluxDB ->
			 * narrow: 4 such stages took 0.1 s) */
			t0 = ferry_now();
			if ((rc = ck_steps_pending(r->dst, r->job, order[i].stage, &left, err)) < 0)
				break;
			if (left < k)
				k = (int)left;
			ferry_debug("post-load stage %d: %lld step%s pending, %d worker%s",
				    order[i].stage, (long long)left, left == 1 ? "" : "s", k,
				    k == 1 ? "" : "s");
			if (k > 0)
				rc = copy_run_steps(r->o->dst, mwm.buf, r->job, order[i].stage, k, err);
			r->res->phase_seconds[order[i].phase] += ferry_now() - t0;
		}
	}
	if (rc == 0)
		rc = ck_steps_check(r->dst, r->job, err);
out:
	ferry_free(stages);
	plan_strv_release(&stmts);
	ferry_buf_release(&mwm);
	return rc;
}

/* Views on a target without checkpoints (SQLite): best effort. */
void copy_plain_views(struct run *r)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	size_t i;

	for (i = 0; r->o->views && i < r->scat->nviews; i++) {
		const struct ferry_view *v = &r->scat->views[i];
		const char *body = v->sql ? view_body(v->sql) : NULL;

		if (!body)
			continue;
		ferry_buf_clear(&b);
		berr = ferry_buf_addstr(&b, "CREATE VIEW ");
		berr |= plan_quote_ident(&b, v->name);
		berr |= ferry_buf_addstr(&b, " AS ");
		berr |= ferry_buf_addstr(&b, body);
		if (berr < 0)  /* as a view the target refuses: a warning */
			plan_strv_pushf(&r->plan.warnings, "skipped view '%s': out of memory",
					v->name);
		else
			copy_run_ddl(r, b.buf, 1, &e);
	}
	ferry_buf_release(&b);
}

