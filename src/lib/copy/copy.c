/*
 * copy.c - ferry copy: open both ends, plan, create the schema, load the
 * rows chunk by chunk (each chunk its own target transaction), then build
 * keys, indexes, foreign keys and sequences, and report.
 *
 * On a PostgreSQL target the job is checkpointed in the target (see
 * checkpoint.c): the schema, the job row and the chunk list commit
 * together, each chunk commits with its "done" mark, each post-load step
 * with its own, so rerunning the same command after a crash resumes
 * exactly where the target says it stopped.
 *
 * Order matters for speed and for correctness: rows go into bare tables
 * (no index maintenance during COPY), keys and indexes are built once at
 * the end, and foreign keys last so that load order between tables does
 * not matter.  Tables that exist already (--data-only, --truncate) get
 * the same: their foreign keys and plain indexes come off for the load
 * and go back as steps (takeoff).
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "copy/live.h"
#include "copy/planner.h"
#include "copy/points_int.h"
#include "copy/run_int.h"
#include "ferry/alloc.h"
#include "ferry/log.h"
#include "ferry/hash.h"
#include "ferry/progress.h"
#include "ferry/registry.h"
#include "ferry/url.h"
#include "tsmap/tsmap.h"
#include "wire/sqltext.h"

#define DEFAULT_CHUNK_ROWS 250000
#define DEFAULT_BATCH_ROWS 10000
#define DEFAULT_BATCH_BYTES (4u << 20)

const char *ferry_copy_phase_name(int phase)
{
	static const char *names[] = { "schema", "data", "indexes", "constraints",
				       "sequences" };

	return phase >= 0 && phase < FERRY_PHASE_COUNT ? names[phase] : "?";
}

void ferry_copy_opts_init(struct ferry_copy_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->max_errors = -1;
	o->max_error_rate = -1;
	o->retries = -1;
}

void ferry_copy_result_free(struct ferry_copy_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ntables; i++) {
		ferry_free(r->tables[i].name);
		ferry_free(r->tables[i].target);
		ferry_free(r->tables[i].order);
	}
	ferry_free(r->tables);
	for (i = 0; i < r->nwarnings; i++)
		ferry_free(r->warnings[i]);
	ferry_free(r->warnings);
	for (i = 0; i < r->nrenames; i++)
		ferry_free(r->renames[i]);
	ferry_free(r->renames);
	for (i = 0; i < r->ndecisions; i++)
		ferry_free(r->decisions[i]);
	ferry_free(r->decisions);
	ferry_free(r->rejects_path);
	ferry_free(r->job);
	ferry_free(r);
}


/* A target with named schemas, table comments, TRUNCATE and CASCADE. */
static int has_schemas(const struct run *r)
{
	return (r->dops->caps & FERRY_CAP_SCHEMAS) != 0;
}

/*
 * The source index a table is loaded in the order of, or NULL.
 *
 * PostgreSQL sorts every index it builds after the load.  An index led by
 * a text column sorts slowly from rows in any other order: its 8-byte
 * abbreviated keys tie on common prefixes ("sensor.") and every tie is a
 * full comparison through a cache miss.  From rows already in its order
 * the sort is one pass (quicksort checks for presorted input first).
 * Measured on 5M telemetry rows, (entity_id text, ts) index: 7.3-13 s to
 * build after a load in rowid order, 2.4 s after a load in index order;
 * the primary key on the then unordered id took 1.5 s against 1.6 s.
 * Keeping that order takes one COPY stream for the table (two streams
 * interleave their pages: 4.9 s).  The rows are put in order by ferry
 * (pipeline.c, spill.c: a rowid scan into a temporary file, 1.6-2.1 s
 * here, then each key range sorted in memory), which costs far less than
 * reading SQLite through the index (a table seek per row: ferry's CPU
 * 5-6 s against 9-10 s).  With 64MB sort memory the index then took
 * 1.8-2.4 s against 4.2-5.4 s; end to end, medians of 3, 12.8 s against
 * 14.4 s before ferry sorted (bench/RESULTS.md).
 *
 * So: a table whose target gets an index led by a text column, when ferry
 * creates the table and builds its indexes (not --data-only, --truncate),
 * and the source can read in that order (its connector says which
 * indexes can).  Not a small table (copy_small_table): its sort is
 * quick either way, and the rowid scan into the file runs before its
 * COPY while the server waits (bench/run's appdb, 40 tables of 10 to
 * 233k rows, each with a UNIQUE text column: data phase 2.0-2.4 s
 * ordered, 1.95-2.1 s in key ranges).
 */
static const char *pick_order(const struct run *r, const struct table_plan *tp)
{
	const struct ferry_table *t = tp->src;
	size_t i, k;

	/* not tp->exists: a resumed job finds the table it created */
	if (!r->ckpt || r->o->key_order || r->o->data_only || r->o->truncate ||
	    r->o->schema_only || !(r->sops->caps & FERRY_CAP_ORDERED) || !r->sops->order_bounds)
		return NULL;
	for (i = 0; i < t->nidx; i++) {
		const struct ferry_index *x = &t->idx[i];

		if (!x->nparts || x->where)
			continue;
		for (k = 0; k < x->nparts && x->cols[k]; k++)
			;
		if (k < x->nparts)
			continue;
		for (k = 0; k < tp->ncols; k++)
			if (!strcmp(tp->cols[k].src_name, x->cols[0]))
				break;
		if (k < tp->ncols && tp->cols[k].type == FERRY_T_TEXT)
			return x->name;
	}
	return NULL;
}

/*
 * A table whose source chunks already hold its rows in an index's order
 * (the narrow layout of an InfluxDB source, read series by series) is
 * loaded chunk after chunk on one stream, like an ordered table, when its
 * indexes are to be built after the load.
 */
static int source_order(const struct run *r, const struct table_plan *tp)
{
	return tp->src->chunk_order && r->ckpt && !r->o->key_order && !r->o->data_only &&
	       !r->o->truncate && !r->o->schema_only && (r->sops->caps & FERRY_CAP_CHUNKS);
}

/* An ordered table's chunks: between every PIECES-th of the boundaries
 * the source drew, the ordinal in lo, the highest key to read in hi.  All
 * boundaries stay in tp->pieces: the readers of a chunk split it there. */
#define PIECES 16

static int ordered_chunks(struct run *r, struct table_plan *tp, int64_t nck, size_t *cap,
			  struct ferry_error *err)
{
	struct ferry_buf bounds = FERRY_BUF_INIT;
	char *line, *nl;
	size_t pcap = 0, j;
	int64_t ord = 0;
	int rc;

	rc = r->sops->order_bounds(r->src, tp->src, tp->order, tp->hi, nck * PIECES, &bounds,
				   err);
	if (rc < 0) {
		ferry_error_prefix(err, "cannot copy table '%s'", tp->src->name);
		goto out;
	}
	if (rc > 0) {  /* the source cannot read in that order: key ranges */
		tp->order = NULL;
		rc = 0;
		goto out;
	}
	for (line = bounds.buf; bounds.len && (nl = strchr(line, '\n')); line = nl + 1) {
		*nl = '\0';
		if (FERRY_GROW(tp->pieces, pcap, tp->npieces + 1) < 0 ||
		    !(tp->pieces[tp->npieces] = ferry_strdup(line))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		tp->npieces++;
	}
	/* chunk k: from boundary k * PIECES - 1 (none for the first) to
	 * boundary (k + 1) * PIECES - 1 (none for the last) */
	for (j = 0;; j += PIECES) {
		struct chunk_spec *ck;
		const char *lo = j ? tp->pieces[j - 1] : NULL;
		const char *hi = j + PIECES - 1 < tp->npieces ? tp->pieces[j + PIECES - 1] : NULL;

		if (FERRY_GROW(r->chunks, *cap, r->nchunks + 1) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		ck = &r->chunks[r->nchunks++];
		memset(ck, 0, sizeof(*ck));
		ck->tp = tp;
		ck->has_range = 1;
		ck->lo = ord++;
		ck->hi = tp->hi;
		if ((lo && !(ck->key_lo = ferry_strdup(lo))) || (hi && !(ck->key_hi = ferry_strdup(hi)))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!hi)
			break;
	}
out:
	ferry_buf_release(&bounds);
	return rc;
}

/* Cut every table into chunks: rowid ranges of about chunk_rows rows, or
 * index-key ranges of an ordered table.  The cut depends only on the
 * source and --chunk-rows, never on --jobs, so a rerun with other
 * settings resumes the same chunks. */
static int plan_chunks(struct run *r, uint64_t *total, struct ferry_error *err)
{
	size_t cap = 0, i;
	int rc = 0;

	*total = 0;
	for (i = 0; i < r->plan.ntables; i++) {
		struct table_plan *tp = &r->plan.tables[i];
		int64_t lo = 0, hi = 0, count = 0, per, nck, span, step, a;

		if ((rc = r->sops->key_range(r->src, tp->src, &lo, &hi, &count, err)) < 0) {
			ferry_error_prefix(err, "cannot copy table '%s'", tp->src->name);
			return rc;
		}
		tp->lo = lo;
		tp->hi = hi;
		tp->count = count;
		*total += (uint64_t)count;
		if (count == 0)
			continue;
		per = r->o->chunk_rows > 0 ? r->o->chunk_rows : DEFAULT_CHUNK_ROWS;
		nck = (count + per - 1) / per;
		if (count >= copy_small_table() && (tp->order = pick_order(r, tp))) {
			if ((rc = ordered_chunks(r, tp, nck, &cap, err)) < 0)
				return rc;
			if (tp->order) {
				if (!(tp->stats->order = ferry_strdup(tp->order)))
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				continue;
			}
		} else if (source_order(r, tp)) {
			tp->order = tp->src->chunk_order;
			tp->src_ordered = 1;
			if (!(tp->stats->order = ferry_strdup(tp->order)))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		if (tp->src->without_rowid || !(r->sops->caps & FERRY_CAP_KEYRANGE))
			nck = 1;
		span = hi - lo + 1;
		if (r->sops->caps & FERRY_CAP_CHUNKS)  /* the source cut it: one per key */
			nck = span;
		step = nck > 1 ? (span + nck - 1) / nck : span;
		for (a = lo; ; a += step) {
			struct chunk_spec *ck;

			if (FERRY_GROW(r->chunks, cap, r->nchunks + 1) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ck = &r->chunks[r->nchunks++];
			memset(ck, 0, sizeof(*ck));
			ck->tp = tp;
			ck->has_range = !tp->src->without_rowid;
			ck->lo = a;
			ck->hi = (nck <= 1 || hi - a < step) ? hi : a + step - 1;
			/* a bound makes the chunk wait for the ones before it */
			if (tp->src_ordered && a > lo) {
				char k[32];

				snprintf(k, sizeof(k), "c%lld", (long long)a);
				if (!(ck->key_lo = ferry_strdup(k)))
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			if (ck->hi >= hi)
				break;
		}
	}
	return 0;
}

/* What a resumed run must agree on with the run that started the job:
 * the source (tables, columns, key ranges, row counts), the target types
 * and the options that shape the result. */
static int fingerprint(struct run *r, char out[33], struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	const struct ferry_copy_opts *o = r->o;
	size_t i, k;

	berr |= ferry_url_redact(o->src, &b);
	berr |= ferry_buf_addf(&b, "|steps %d|%s|%d%d%d|%lld|", STEPS_FORMAT, r->schema, o->data_only,
		       o->schema_only, o->views, (long long)o->chunk_rows);
	for (i = 0; o->include && o->include[i]; i++)
		berr |= ferry_buf_addf(&b, "i:%s|", o->include[i]);
	for (i = 0; o->exclude && o->exclude[i]; i++)
		berr |= ferry_buf_addf(&b, "x:%s|", o->exclude[i]);
	for (i = 0; o->casts && o->casts[i]; i++)
		berr |= ferry_buf_addf(&b, "c:%s|", o->casts[i]);
	if (r->map)
		berr |= ferry_buf_addf(&b, "map:%s|", r->map->digest);
	for (i = 0; i < r->plan.ntables; i++) {
		const struct table_plan *tp = &r->plan.tables[i];

		berr |= ferry_buf_addf(&b, "t:%s>%s:%lld:%lld:%lld|", tp->src->name, tp->dst_name,
			       (long long)tp->lo, (long long)tp->hi, (long long)tp->count);
		if (tp->order)
			berr |= ferry_buf_addf(&b, "o:%s|", tp->order);
		if (tp->src->plan_digest)
			berr |= ferry_buf_addf(&b, "p:%s|", tp->src->plan_digest);
		for (k = 0; k < tp->ncols; k++)
			berr |= ferry_buf_addf(&b, "%s>%s:%s|", tp->cols[k].src_name, tp->cols[k].dst_name,
				       tp->cols[k].type_sql);
	}
	return copy_fingerprint_of(&b, berr, out, err);
}

int copy_fingerprint_of(struct ferry_buf *b, int berr, char out[33], struct ferry_error *err)
{
	/* the hash of a text cut short would refuse (or accept) a resume wrongly */
	if (berr < 0 || ferry_buf_error(b)) {
		ferry_buf_release(b);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	ferry_hash128_hex(b->buf, b->len, out);
	ferry_buf_release(b);
	return 0;
}

/* Run one statement; a failure becomes a warning (returns 1) when soft. */
int copy_run_ddl(struct run *r, const char *sql, int soft, struct ferry_error *err)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	int rc;

	ferry_debug("sql: %s", sql);
	rc = r->dops->exec(r->dst, sql, &e);
	if (rc == 0)
		return 0;
	if (!soft || rc == FERRY_ECONN) {
		*err = e;
		ferry_error_prefix(err, "cannot run '%.200s'", sql);
		return rc;
	}
	plan_strv_pushf(&r->plan.warnings, "skipped '%.300s': %s", sql, e.msg);
	return 1;
}

/* copy_run_ddl of a statement built in b, unless an add to it failed
 * (berr < 0, or the sticky error): a statement cut short never runs. */
static int run_built(struct run *r, const struct ferry_buf *b, int berr,
		     struct ferry_error *err)
{
	if (berr < 0 || ferry_buf_error(b))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return copy_run_ddl(r, b->buf, 0, err);
}

/* Is the target table one that ferry created (its comment says so)? */
static int created_by_ferry(struct run *r, const char *table)
{
	int berr = 0;
	struct ferry_buf name = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	const char *v[1];
	int isnull = 1, yes = 0;

	if (!has_schemas(r))
		return 0;
	berr |= plan_qualified(&name, r->schema, table);
	v[0] = name.buf;
	/* a name cut short by out-of-memory asks nothing: "no" refuses the drop */
	if (berr == 0 &&
	    copy_query_value(r->dst, "SELECT obj_description(to_regclass($1), 'pg_class')",
			     v, 1, &out, &isnull, &e) == 0 && !isnull)
		yes = !strncmp(out.buf, "ferry:", 6);
	ferry_buf_release(&name);
	ferry_buf_release(&out);
	return yes;
}

/* --drop without --force: refused (FERRY_EEXIST, exit 2) when a table of
 * the plan exists and ferry did not create it (its comment).  Checked in
 * the transaction that makes the schema, after a rerun forgot the job
 * before it (dropping that job's own tables, whatever their comments say
 * now): a refusal rolls all of it back. */
static int check_drop(struct run *r, struct ferry_error *err)
{
	size_t i;

	for (i = 0; r->o->drop && !r->o->force && i < r->plan.ntables; i++) {
		const struct table_plan *tp = &r->plan.tables[i];

		if (tp->exists && !created_by_ferry(r, tp->dst_name))
			return ferry_error_set(err, FERRY_EEXIST,
				"refusing to drop table '%s': ferry did not create it; "
				"add --force to drop it anyway", tp->dst_name);
	}
	return 0;
}

/* Drop, truncate or create the target tables (inside the caller's
 * transaction on PostgreSQL, so the schema appears whole or not at all). */
static int phase_schema(struct run *r, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT, src = FERRY_BUF_INIT;
	const char *schema = has_schemas(r) ? r->schema : NULL;
	size_t i;
	int rc = 0;

	berr |= ferry_url_redact(r->o->src, &src);
	if (has_schemas(r) && strcmp(r->schema, "public")) {
		berr |= ferry_buf_addstr(&b, "CREATE SCHEMA IF NOT EXISTS ");
		berr |= plan_quote_ident(&b, r->schema);
		if ((rc = run_built(r, &b, berr, err)) < 0)
			goto out;
	}
	if ((rc = check_drop(r, err)) < 0)
		goto out;
	for (i = 0; i < r->plan.ntables; i++) {
		struct table_plan *tp = &r->plan.tables[i];

		if (tp->exists && r->o->drop) {
			ferry_buf_clear(&b);
			berr |= ferry_buf_addstr(&b, "DROP TABLE ");
			berr |= plan_qualified(&b, schema, tp->dst_name);
			berr |= ferry_buf_addstr(&b, has_schemas(r) ? " CASCADE" : "");
			if ((rc = run_built(r, &b, berr, err)) < 0)
				goto out;
			tp->exists = 0;
		} else if (tp->exists && r->o->truncate) {
			ferry_buf_clear(&b);
			berr |= ferry_buf_addstr(&b, has_schemas(r) ? "TRUNCATE " : "DELETE FROM ");
			berr |= plan_qualified(&b, schema, tp->dst_name);
			if ((rc = run_built(r, &b, berr, err)) < 0)
				goto out;
			continue;
		} else if (tp->exists && !r->o->data_only && !r->map) {
			rc = ferry_error_set(err, FERRY_EEXIST,
				"table '%s' already exists in the target: use --data-only to load "
				"into it, --truncate to empty it first, or --drop to recreate it",
				tp->dst_name);
			goto out;
		}
		/* a map loads the tables that exist as they are */
		if (r->o->data_only || (r->map && tp->exists))
			continue;
		ferry_buf_clear(&b);
		berr |= plan_ddl_create_table(&r->plan, tp, schema, &b);
		/*
		 * No autovacuum until the post-load steps are done (the last
		 * stage resets this, post.c).  Rows committed by the data phase
		 * start a VACUUM ANALYZE of the table; every index build, key
		 * and validation that then needs a lock on it waits out
		 * deadlock_timeout (1 s) before the server cancels the
		 * autovacuum, which moves on to the next table, the next step
		 * there waits again: 10-16 s of 17-27 s on appdb (40 tables).
		 */
		if (has_schemas(r))
			berr |= ferry_buf_addstr(&b, " WITH (autovacuum_enabled = off, "
						 "toast.autovacuum_enabled = off)");
		if ((rc = run_built(r, &b, berr, err)) < 0)
			goto out;
		plan_strv_push(&r->created, ferry_strdup(tp->dst_name));
		if (has_schemas(r)) {
			struct ferry_buf c = FERRY_BUF_INIT;

			ferry_buf_clear(&b);
			berr |= ferry_buf_addstr(&b, "COMMENT ON TABLE ");
			berr |= plan_qualified(&b, r->schema, tp->dst_name);
			berr |= ferry_buf_addstr(&b, " IS ");
			berr |= ferry_buf_addf(&c, "ferry: created by ferry copy job %s from %s table %s",
				       r->job, src.buf, tp->src->name);
			berr |= wire_sql_literal(&b, c.buf);
			ferry_buf_release(&c);
			if ((rc = run_built(r, &b, berr, err)) < 0)
				goto out;
		}
	}
out:
	ferry_buf_release(&b);
	ferry_buf_release(&src);
	return rc;
}

/* Drop the tables a job created and forget the job, inside the caller's
 * transaction (a rerun's --restart, --drop, --truncate: in the one that
 * makes the new job, so that a failure there leaves the old job whole).
 * --data-only makes no table and drops none: a table an earlier run of
 * the job made stays, and the job's rows come out of it by chunk, as out
 * of any table it did not make. */
static int forget_in(struct run *r, int delete_rows, struct ferry_error *err)
{
	int berr = 0;
	struct strv tables = { 0 };
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	if (r->o->data_only)
		delete_rows = 1;
	else if ((rc = ck_job_created_tables(r->dst, r->job, &tables, err)) < 0)
		goto out;
	for (i = 0; i < tables.n && rc == 0; i++) {
		ferry_buf_clear(&b);
		berr |= ferry_buf_addstr(&b, "DROP TABLE IF EXISTS ");
		berr |= plan_qualified(&b, r->schema, tables.v[i]);
		berr |= ferry_buf_addstr(&b, " CASCADE");
		rc = run_built(r, &b, berr, err);
	}
	/* rows this job inserted into tables it did not create: by chunk,
	 * through the column that carries the source rowid */
	for (i = 0; delete_rows && i < r->plan.ntables && rc == 0; i++) {
		struct table_plan *tp = &r->plan.tables[i];
		const char *key = NULL;
		size_t k;

		int dropped = 0;

		for (k = 0; k < tables.n; k++)
			dropped |= !strcmp(tables.v[k], tp->dst_name);
		if (!tp->exists || dropped)
			continue;
		if (tp->src->rowid_alias >= 0)
			for (k = 0; k < tp->ncols; k++)
				if (!strcmp(tp->cols[k].src_name, tp->src->cols[tp->src->rowid_alias].name))
					key = tp->cols[k].dst_name;
		if (!key && r->map && !r->o->truncate)
			plan_strv_pushf(&r->plan.warnings,
				"rows job '%s' wrote into '%s' stay: a map's rows carry no source key "
				"to find them by (--truncate empties the table first)", r->job,
				tp->dst_name);
		else if (!key && !r->o->truncate)
			plan_strv_pushf(&r->plan.warnings,
				"rows written to '%s' cannot be removed by chunk: the table has no "
				"integer key; it is left as it is", tp->dst_name);
		if (!key)
			continue;
		ferry_buf_clear(&b);
		berr |= ferry_buf_addstr(&b, "DELETE FROM ");
		berr |= plan_qualified(&b, r->schema, tp->dst_name);
		berr |= ferry_buf_addstr(&b, " t USING ferry.progress p WHERE p.state = 'done' AND p.job = ");
		berr |= wire_sql_literal(&b, r->job);
		berr |= ferry_buf_addf(&b, " AND p.stream_no = %d AND t.", tp->index);
		berr |= plan_quote_ident(&b, key);
		berr |= ferry_buf_addstr(&b, " BETWEEN p.range_lo AND p.range_hi");
		rc = run_built(r, &b, berr, err);
	}
	if (rc == 0)
		rc = ck_restores_run(r->dst, r->job, &r->plan.warnings, err);
	if (rc == 0)
		rc = ck_job_delete(r->dst, r->job, err);
out:
	plan_strv_release(&tables);
	ferry_buf_release(&b);
	return rc;
}

/* forget_in in a transaction of its own (--rollback-on-abort). */
static int forget_job(struct run *r, int delete_rows, struct ferry_error *err)
{
	int rc = r->dops->begin(r->dst, err);

	if (rc < 0)
		return rc;
	if ((rc = forget_in(r, delete_rows, err)) == 0)
		return r->dops->commit(r->dst, err);
	r->dops->rollback(r->dst, NULL);
	return rc;
}

/* After forget_in: which tables of the plan exist now. */
static int refresh_exists(struct run *r, struct ferry_error *err)
{
	size_t i;

	for (i = 0; i < r->plan.ntables; i++) {
		struct ferry_buf name = FERRY_BUF_INIT, o = FERRY_BUF_INIT;
		const char *v[1];
		int isnull = 1, rc;

		if (plan_qualified(&name, r->schema, r->plan.tables[i].dst_name) < 0) {
			ferry_buf_release(&name);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		v[0] = name.buf;
		rc = copy_query_value(r->dst, "SELECT to_regclass($1)::text", v, 1, &o, &isnull,
				      err);
		ferry_buf_release(&name);
		ferry_buf_release(&o);
		if (rc < 0)
			return rc;
		r->plan.tables[i].exists = !isnull;
	}
	return 0;
}

/*
 * The statement that sets the sort memory of the index builds' sessions.
 * More is not faster here: on 2 cores, 5M rows, the (entity_id, ts) index
 * took 4.2-5.4 s with 64MB, 5.4-5.7 s with 128MB, 5.9 s with 256MB and
 * 6.5-7.6 s with 512MB (from rows in index order 1.8-2.4 s against 2.9 s).
 * Each participant sorts its share of the memory in one quicksort; small
 * runs stay in the CPU cache and merge cheaply, one big sort misses it on
 * every compare.  So the server's value stands unless it is under
 * PostgreSQL's default; opts->maintenance_work_mem sets it.
 */
int copy_mwm_sql(struct run *r, struct ferry_buf *out, struct ferry_error *err)
{
	const char *v = r->o->maintenance_work_mem;

	if (!v)
		return ferry_buf_addstr(out, "SELECT set_config('maintenance_work_mem', '64MB', "
					"false) WHERE pg_size_bytes(current_setting("
					"'maintenance_work_mem')) < 67108864");
	if (!*v || strspn(v, "0123456789kKMGTB") != strlen(v))
		return ferry_error_set(err, FERRY_EINVAL, "invalid maintenance_work_mem '%s': "
				       "expected a size such as 256MB", v);
	return ferry_buf_addf(out, "SET maintenance_work_mem TO '%s'", v);
}

/*
 * Loading into tables that exist (--data-only, --truncate, a map file):
 * their foreign keys, and those of other tables pointing at them (pass
 * 0, before a truncate, which they would refuse), and the plain indexes
 * of the ones still empty (pass 1: cheaper built once after the load than
 * kept up row by row) come off for the load, in the transaction that
 * creates the job, and go back as its steps (ck_takeoff).  Without that a
 * chunk whose rows point at rows of a later chunk (Home Assistant's
 * states.old_state_id) fails whenever chunks load side by side.
 */
static int takeoff(struct run *r, int pass, struct ferry_error *err)
{
	int berr = 0;
	struct strv tables = { 0 }, none = { 0 };
	struct ferry_buf q = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	int64_t nfks = 0, nidx = 0;
	size_t i;
	int rc = 0;

	if (r->o->schema_only || r->o->drop)
		return 0;
	for (i = 0; i < r->plan.ntables && rc == 0; i++) {
		const struct table_plan *tp = &r->plan.tables[i];
		struct ferry_buf name = FERRY_BUF_INIT;
		int isnull = 1;

		if (!tp->exists)
			continue;
		berr |= plan_qualified(&name, r->schema, tp->dst_name);
		if (pass == 1) {
			if (tp->count <= 0) {
				ferry_buf_release(&name);
				continue;
			}
			ferry_buf_clear(&q);
			berr |= ferry_buf_addf(&q, "SELECT NOT EXISTS (SELECT 1 FROM %s)", name.buf);
			if (berr < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			else
				rc = copy_query_value(r->dst, q.buf, NULL, 0, &out, &isnull, err);
			if (rc < 0 || isnull || strcmp(out.buf, "t")) {
				ferry_buf_release(&name);
				continue;
			}
		}
		if (berr < 0)
			rc = FERRY_ENOMEM;
		else
			rc = plan_strv_push(&tables, ferry_buf_detach(&name, NULL));
		if (rc < 0)
			rc = ferry_error_set(err, rc, "out of memory");
		ferry_buf_release(&name);
	}
	if (rc == 0 && tables.n)
		rc = ck_takeoff(r->dst, r->job, pass == 0 ? &tables : &none,
				pass == 0 ? &none : &tables, &nfks, &nidx, err);
	if (rc == 0 && nfks)
		plan_strv_pushf(&r->plan.warnings, "%lld foreign key%s from or to the tables loaded into "
			   "%s taken off for the load and put back after it, validated (a rerun of an "
			   "interrupted copy puts them back)", (long long)nfks,
			   nfks == 1 ? "" : "s", nfks == 1 ? "was" : "were");
	if (rc == 0 && nidx)
		plan_strv_pushf(&r->plan.warnings, "%lld index%s of the empty tables loaded into %s "
			   "dropped for the load and built after it (a rerun of an interrupted copy "
			   "builds them)", (long long)nidx, nidx == 1 ? "" : "es",
			   nidx == 1 ? "was" : "were");
	plan_strv_release(&tables);
	ferry_buf_release(&q);
	ferry_buf_release(&out);
	return rc;
}

/*
 * Find or create the job in the target.  Creation (schema, job row, chunk
 * list) is one transaction under an advisory lock, so concurrent workers
 * see either no job or a complete one.
 */
static int prepare_job(struct run *r, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf state = FERRY_BUF_INIT, fp = FERRY_BUF_INIT, lock = FERRY_BUF_INIT,
			 src = FERRY_BUF_INIT;
	char plan_fp[33], content[33], want[68];
	const char *had;
	int exists = 0, rc, locked = 0, forget = 0;

	/* stored as "PLAN CONTENT" (jobs of older versions: "PLAN") */
	if ((rc = fingerprint(r, plan_fp, err)) < 0 ||
	    (rc = copy_content_get(r, content, err)) < 0)
		goto out;
	snprintf(want, sizeof(want), "%s %s", plan_fp, content);
	/* a sort memory the server refuses fails now, not after the load */
	if ((rc = copy_mwm_sql(r, &lock, err)) < 0 ||
	    (rc = r->dops->exec(r->dst, lock.buf, err)) < 0) {
		ferry_error_prefix(err, "cannot use the index builds' maintenance_work_mem");
		goto out;
	}
	ferry_buf_clear(&lock);
	if ((rc = ck_setup(r->dst, err)) < 0)
		goto out;
	berr |= ferry_buf_addstr(&lock, "SELECT pg_advisory_lock(7301162, hashtext(");
	berr |= wire_sql_literal(&lock, r->job);
	berr |= ferry_buf_addstr(&lock, "))");
	if (berr < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = r->dops->exec(r->dst, lock.buf, err)) < 0)
		goto out;
	locked = 1;
	if ((rc = ck_job_get(r->dst, r->job, &exists, &state, &fp, err)) < 0)
		goto out;
	/* a rerun that starts over forgets the job in the transaction that
	 * makes the new one (below): a refused --drop (phase_schema's
	 * check_drop, once the old job's own tables are gone) or any failure
	 * there leaves the old job and its rows as they were.  An allowed
	 * --drop drops every table of the plan that exists, so the job's rows
	 * need not come out of them first (a foreign key into one made that
	 * fail) */
	if (exists && (r->o->restart || r->o->drop || r->o->truncate)) {
		exists = 0;
		forget = 1;
	}
	if (exists) {
		/* keep_done: a complete job stands as it is; nothing of the
		 * source is read again, so nothing of two versions meets */
		int as_is = r->o->keep_done && !strcmp(state.buf, "done");

		had = strchr(fp.buf, ' ');
		if (as_is) {
			r->kept_done = strcmp(fp.buf, want) != 0;
		} else if (had && strcmp(had + 1, content)) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"the source changed since job '%s' started: its content is not what "
				"the earlier run copied from, and resuming would leave rows of both "
				"versions in the target; rerun with --restart to start the job over "
				"from the source as it is now, or give this copy another --job name",
				r->job);
			goto out;
		} else if (strcmp(fp.buf, want)) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"job '%s' in the target was started with another source state or other "
				"options (the source changed, a table, type or option differs, or another "
				"version of ferry started it); rerun with --restart to start it over, "
				"or give this copy another --job name",
				r->job);
			goto out;
		}
		r->resumed = 1;
		r->already_done = !strcmp(state.buf, "done");
		if (r->already_done && copy_source_is_stdin(r->o->src)) {
			/* it said "nothing to do" and exit 0 to new input */
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"job '%s' is complete in the target, and standard input cannot be "
				"compared with what it copied: give this input its own --job name "
				"(with --data-only to add its rows to the tables there), or --restart "
				"to copy it in place of the job's rows", r->job);
			goto out;
		}
		/* tables this job created are its own, not pre-existing ones */
		{
			struct strv mine = { 0 };
			size_t i, k;

			if ((rc = ck_job_created_tables(r->dst, r->job, &mine, err)) < 0)
				goto out;
			for (i = 0; i < r->plan.ntables; i++)
				for (k = 0; k < mine.n; k++)
					if (!strcmp(mine.v[k], r->plan.tables[i].dst_name))
						r->plan.tables[i].exists = 0;
			plan_strv_release(&mine);
		}
		goto out;
	}
	if (ferry_url_redact(r->o->src, &src) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = r->dops->begin(r->dst, err)) < 0)
		goto out;
	/* the job row first: the restores of what comes off before a
	 * truncate are its steps.  Committed durably (the session's chunks
	 * commit without waiting for their WAL): a crash that took back the
	 * job, its tables and its chunk list after the workers started left
	 * them nothing to claim and the post-load steps no job to belong to. */
	if ((rc = r->dops->exec(r->dst, "SET LOCAL synchronous_commit TO on", err)) < 0 ||
	    (forget && ((rc = forget_in(r, !r->o->drop, err)) < 0 ||
			(rc = refresh_exists(r, err)) < 0)) ||
	    (rc = ck_job_create(r->dst, r->job, src.buf, r->schema, want, &r->created, err)) < 0 ||
	    (rc = takeoff(r, 0, err)) < 0 || (rc = phase_schema(r, err)) < 0 ||
	    (rc = ck_job_create(r->dst, r->job, src.buf, r->schema, want, &r->created, err)) < 0 ||
	    (rc = takeoff(r, 1, err)) < 0 ||
	    (rc = ck_chunks_insert(r->dst, r->job, r->chunks, r->o->schema_only ? 0 : r->nchunks,
				   err)) < 0) {
		r->dops->rollback(r->dst, NULL);
		goto out;
	}
	if ((rc = r->dops->commit(r->dst, err)) < 0)
		goto out;
	r->created_job = 1;
	/* the job's reject file is rebuilt from ferry.rejects at the end,
	 * but only when it has rejects: the old job's must not stay */
	rej_start_over(&r->rej, &r->plan.warnings);
out:
	if (locked) {
		struct ferry_buf un = FERRY_BUF_INIT;

		/* out of memory here leaves the lock to the session's end */
		if (ferry_buf_addstr(&un, "SELECT pg_advisory_unlock(7301162, hashtext(") == 0 &&
		    wire_sql_literal(&un, r->job) == 0 && ferry_buf_addstr(&un, "))") == 0)
			r->dops->exec(r->dst, un.buf, NULL);
		ferry_buf_release(&un);
	}
	ferry_buf_release(&state);
	ferry_buf_release(&fp);
	ferry_buf_release(&lock);
	ferry_buf_release(&src);
	return rc;
}

static int phase_data(struct run *r, uint64_t total, struct ferry_error *err)
{
	struct load_ctx lc;
	int rc;

	memset(&lc, 0, sizeof(lc));
	lc.src_url = r->src_url;
	lc.dst_url = r->o->dst;
	lc.schema = has_schemas(r) ? r->schema : NULL;
	lc.session_sql = r->dops->bulk_session_sql;
	lc.rej = &r->rej;
	lc.abort_rej = r->ckpt ? &r->abort_rej : NULL;
	/* the relays' tables: they may hold a key of the load already (a
	 * point stamped before the cutover's T0 they wrote late, in dual) */
	lc.merge = r->o->live_tables;
	lc.progress = r->progress;
	lc.batch_rows = r->o->batch_rows ? r->o->batch_rows :
			r->batch_rows ? r->batch_rows : DEFAULT_BATCH_ROWS;
	lc.batch_bytes = r->o->batch_bytes ? r->o->batch_bytes : DEFAULT_BATCH_BYTES;
	lc.jobs = r->jobs;
	lc.ramp = r->ramp;
	lc.readers = r->readers;
	lc.job = r->ckpt ? r->job : NULL;
	lc.worker_id = r->worker_id;
	lc.tables = r->plan.tables;
	lc.ntables = r->plan.ntables;
	lc.chunks = r->chunks;
	lc.nchunks = r->nchunks;
	lc.claim_gate = r->map ? r->map->gate : NULL;
	lc.max_errors = r->o->max_errors;
	lc.max_error_rate = r->o->max_error_rate;
	lc.retries = r->o->retries >= 0 ? r->o->retries : 10;
	if (r->ckpt) {
		/* rows and rejects already committed by earlier runs count */
		size_t i;
		uint64_t done = 0;

		for (i = 0; i < r->plan.ntables; i++) {
			struct chunk_stats cs;

			if ((rc = ck_stream_totals(r->dst, r->job, (int)i, &cs, err)) < 0)
				return rc;
			done += (uint64_t)cs.read;
			atomic_fetch_add(&lc.read_total, cs.read);
			atomic_fetch_add(&lc.rejected_total, cs.rejected);
		}
		ferry_progress_reset(r->progress, "copy", total);
		ferry_progress_add(r->progress, done, 0);
	} else {
		ferry_progress_reset(r->progress, "copy", total);
	}
	rc = copy_load_chunks(&lc, err);
	ferry_progress_done(r->progress);
	if (lc.ramp && lc.ramp_note[0])
		plan_strv_pushf(&r->decisions, "streams: %s", lc.ramp_note);
	if (rc == 0 && (lc.max_errors >= 0 || lc.max_error_rate >= 0)) {
		int64_t rd = atomic_load(&lc.read_total), rj = atomic_load(&lc.rejected_total);

		if ((lc.max_errors >= 0 && rj > lc.max_errors) ||
		    (lc.max_error_rate >= 0 && rd > 0 && (double)rj / (double)rd > lc.max_error_rate))
			atomic_store(&lc.budget_exceeded, 1);
	}
	if (atomic_load(&lc.budget_exceeded)) {
		int64_t rd = atomic_load(&lc.read_total), rj = atomic_load(&lc.rejected_total);

		r->budget_exceeded = 1;
		rc = ferry_error_set(err, FERRY_EABORT,
			"aborted: %lld of %lld rows rejected (%.2f%%) exceeds the error budget "
			"(--max-errors %lld, --max-error-rate %g)%s",
			(long long)rj, (long long)rd, rd ? 100.0 * (double)rj / (double)rd : 0.0,
			(long long)lc.max_errors, lc.max_error_rate,
			r->o->rollback_on_abort ? "" : "; the rows copied so far stay: rerun with a "
			"larger budget to resume, or with --rollback-on-abort to remove them");
	}
	return rc;
}

/* The main connection sat idle through the data phase; the server may
 * have restarted meanwhile.  Open a fresh one, retrying like the workers. */
static int reopen_target(struct run *r, struct ferry_error *err)
{
	double wait = 0.5;
	int i, rc = 0, tries = r->o->retries >= 0 ? r->o->retries : 10;

	ferry_conn_close(r->dst);
	r->dst = NULL;
	for (i = 0; i <= tries; i++) {
		ferry_error_clear(err);
		if ((rc = ferry_conn_open(r->o->dst, FERRY_OPEN_CREATE, &r->dst, err)) == 0)
			return 0;
		if (rc != FERRY_ECONN || i == tries)
			break;
		{
			struct timespec ts = { (time_t)wait,
					       (long)((wait - (double)(time_t)wait) * 1e9) };

			nanosleep(&ts, NULL);
		}
		wait = wait * 2 > 10 ? 10 : wait * 2;
	}
	ferry_error_prefix(err, "cannot reconnect to the target; rerun the same command to resume");
	return rc;
}

/*
 * Wait until chunks held by other workers of the job are committed.  *unheld
 * tells the caller to copy again: chunks are pending that no worker holds.
 * Chunks commit with synchronous_commit off, so a target that crashes can
 * lose a commit it acknowledged after every worker here ran out of chunks.
 */
static int wait_for_others(struct run *r, int64_t *unheld, struct ferry_error *err)
{
	int64_t pending = 0;
	int rc, said = 0;

	for (;;) {
		struct timespec ts = { 0, 500000000 };

		if ((rc = ck_pending(r->dst, r->job, &pending, err)) < 0 || pending == 0)
			return rc;
		if ((rc = ck_unheld(r->dst, r->job, unheld, err)) < 0 || *unheld > 0)
			return rc;
		if (!said++)
			ferry_info("waiting for %lld chunks other workers are copying", (long long)pending);
		nanosleep(&ts, NULL);
	}
}

/* Job name from the source: its file name without extension. */
static char *job_name(const char *src)
{
	ferry_url *u = NULL;
	struct ferry_error e = FERRY_ERROR_INIT;
	char *out = NULL, *dup, *base, *dot, *p;

	if (ferry_url_parse(src, &u, &e) < 0)
		return ferry_strdup("copy");
	dup = ferry_strdup(u->path && u->path[0] ? u->path : "copy");
	ferry_url_free(u);
	if (!dup)
		return NULL;
	base = basename(dup);
	if ((dot = strrchr(base, '.')) && dot != base)
		*dot = '\0';
	for (p = base; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
			*p = '_';
	out = ferry_strdup(*base ? base : "copy");
	ferry_free(dup);
	return out;
}

/* Totals over every run of the job (a resumed run reports the whole job),
 * the rejects file rebuilt from what the target committed, step notes. */
static int collect(struct run *r, struct ferry_error *err)
{
	struct ferry_copy_result *res = r->res;
	struct strv notes = { 0 };
	size_t i;
	int rc = 0;

	if (r->ckpt) {
		for (i = 0; i < r->plan.ntables && rc == 0; i++) {
			struct chunk_stats cs;

			rc = ck_stream_totals(r->dst, r->job, (int)i, &cs, err);
			if (rc == 0) {
				res->tables[i].read = cs.read;
				res->tables[i].written = cs.written;
				res->tables[i].rejected = cs.rejected;
				res->tables[i].bytes = cs.bytes;
			}
		}
		if (rc == 0) {
			int64_t n = 0;

			ferry_free(r->rej.path);
			r->rej.path = NULL;
			if (r->res->tables && rc == 0) {
				int64_t rejected = 0;

				for (i = 0; i < res->ntables; i++)
					rejected += res->tables[i].rejected;
				if (rejected) {
					struct ferry_buf p = FERRY_BUF_INIT;

					if (ferry_buf_addf(&p, "%s/rejects.ndjson", r->rej.dir) < 0) {
						rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					} else {
						rej_mkdir(r->rej.dir);
						rej_own(&r->rej);
						rc = ck_write_rejects(r->dst, r->job, p.buf, &n, err);
					}
					if (rc == 0 && n)
						r->rej.path = ferry_buf_detach(&p, NULL);
					ferry_buf_release(&p);
				}
			}
		}
		if (rc == 0)
			rc = ck_step_notes(r->dst, r->job, &notes, err);
		for (i = 0; i < notes.n; i++) {
			plan_strv_push(&r->plan.warnings, notes.v[i]);
			notes.v[i] = NULL;
		}
		plan_strv_release(&notes);
	}
	return rc;
}

static void fill_result(struct run *r)
{
	struct ferry_copy_result *res = r->res;
	size_t i;

	res->warnings = r->plan.warnings.v;
	res->nwarnings = r->plan.warnings.n;
	memset(&r->plan.warnings, 0, sizeof(r->plan.warnings));
	res->decisions = r->decisions.v;
	res->ndecisions = r->decisions.n;
	memset(&r->decisions, 0, sizeof(r->decisions));
	res->renames = r->plan.renames.v;
	res->nrenames = r->plan.renames.n;
	memset(&r->plan.renames, 0, sizeof(r->plan.renames));
	res->read = res->written = res->rejected = 0;
	res->bytes = 0;
	for (i = 0; i < res->ntables; i++) {
		res->read += res->tables[i].read;
		res->written += res->tables[i].written;
		res->rejected += res->tables[i].rejected;
		res->bytes += res->tables[i].bytes;
	}
	/* the rejects the error budget stopped at, in the file too (their
	 * chunks rolled back: in no table's count) */
	res->rejected += r->abort_rej.count;
	if (r->rej.path)
		res->rejects_path = ferry_strdup(r->rej.path);
	res->resumed = r->resumed;
	res->kept_done = r->kept_done;
}

/* --snapshot: copy the source with its online backup first (SQLite), so
 * the copy reads one consistent state even while the application writes. */
static int take_snapshot(struct run *r, struct ferry_error *err)
{
	int berr = 0;
	struct ferry_buf path = FERRY_BUF_INIT, url = FERRY_BUF_INIT;
	const char *tmp = getenv("TMPDIR");
	ferry_conn *c = NULL;
	int rc;

	berr |= ferry_buf_addf(&path, "%s/ferry-snapshot-%ld.db", tmp && *tmp ? tmp : "/tmp",
		       (long)getpid());
	if (berr < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else if ((rc = ferry_conn_open(r->o->src, FERRY_OPEN_READONLY, &c, err)) == 0)
		rc = ferry_conn_ops_of(c)->snapshot(c, path.buf, &url, err);
	ferry_conn_close(c);
	if (rc == 0) {
		r->snapshot = ferry_buf_detach(&path, NULL);
		r->snap_ops = ferry_conn_url_ops(url.buf);
		r->src_url = ferry_buf_detach(&url, NULL);
	}
	ferry_buf_release(&path);
	ferry_buf_release(&url);
	return rc;
}

/*
 * The path of the database file url names when it does not exist yet
 * (this run will create it), else NULL.  A run that fails removes what it
 * created, and nothing else: a file that was there stays.
 */
static char *file_to_create(const char *url)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	const struct ferry_conn_ops *ops;
	ferry_url *u = NULL;
	char *path = NULL;

	if (ferry_url_parse(url, &u, &e) < 0)
		return NULL;
	ops = ferry_conn_lookup(u->scheme);
	if (ops && (ops->caps & FERRY_CAP_FILE) && (ops->caps & FERRY_CAP_WRITE) && *u->path &&
	    access(u->path, F_OK) < 0 && errno == ENOENT)
		path = ferry_strdup(u->path);
	ferry_url_free(u);
	return path;
}

/* Remove the database file at path and the files beside it that make up
 * the database (ops->file_sides: a journal, a WAL). */
static void remove_db_file(const struct ferry_conn_ops *ops, const char *path)
{
	struct ferry_buf f = FERRY_BUF_INIT;
	size_t i;

	for (i = 0; ops && ops->file_sides && ops->file_sides[i]; i++) {
		ferry_buf_clear(&f);
		if (ferry_buf_addf(&f, "%s%s", path, ops->file_sides[i]) == 0)
			unlink(f.buf);
	}
	ferry_buf_release(&f);
}

int ferry_copy_run(const struct ferry_copy_opts *o, struct ferry_copy_result **out,
		   struct ferry_error *err)
{
	int berr = 0;
	struct run r;
	struct ferry_copy_opts lo, mo;
	char *ts_url = NULL;
	struct ferry_buf rejdir = FERRY_BUF_INIT;
	char *made = NULL;  /* a SQLite target file this run creates */
	double start = ferry_now(), t0, topen;
	uint64_t total = 0;
	char host[64] = "";
	size_t i;
	int rc, ts;

	memset(&r, 0, sizeof(r));
	pthread_mutex_init(&r.abort_rej.lock, NULL);
	r.abort_rej.mem = &r.abort_mem;
	if (out)
		*out = NULL;
	/* a map with tables: reshapes a relational source (relmap.h); the
	 * other maps are for time-series sources */
	if (o->ts.map && (rc = copy_relmap_is(o->ts.map, err)) != 0) {
		if (rc < 0 || (rc = copy_relmap_load(o->ts.map, &r.map, err)) < 0)
			return rc;
		if ((o->include && o->include[0]) || (o->exclude && o->exclude[0]) ||
		    (o->casts && o->casts[0]) || o->views) {
			copy_relmap_free(r.map);
			return ferry_error_set(err, FERRY_EUSAGE, "--include, --exclude, --cast and "
					       "--views do not apply to map '%s': its tables: names "
					       "the tables, their columns and types", o->ts.map);
		}
		mo = *o;
		mo.ts.map = NULL;
		o = &mo;
	}
	/* a time-series source carries its mapping options in its URL, so
	 * every connection and the resume fingerprint see them; a table map
	 * (target:) loads into the user's existing table, a point map alone
	 * into the tables of --layout, which copy creates */
	if ((rc = ferry_ts_url(o->src, &o->ts, &ts_url, err)) < 0) {
		copy_relmap_free(r.map);
		return rc;
	}
	lo = *o;
	lo.src = ts_url;
	if (o->ts.map) {
		int pts, tab;

		if ((rc = tm_map_kinds(o->ts.map, &pts, &tab, err)) < 0) {
			ferry_free(ts_url);
			return rc;
		}
		lo.data_only = tab || !pts;
	}
	o = &lo;
	r.o = o;
	r.schema = o->schema ? o->schema : "public";
	r.src_url = o->src;
	r.res = ferry_calloc(1, sizeof(*r.res));
	if (!r.res) {
		ferry_free(ts_url);
		copy_relmap_free(r.map);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(r.worker_id, sizeof(r.worker_id), "%s:%ld", host, (long)getpid());
	if ((rc = plan_check_casts(o, err)) < 0)
		goto out;
	if (o->data_only && o->schema_only) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "--data-only and --schema-only exclude each other");
		goto out;
	}
	if (o->schema && !strcmp(o->schema, "ferry")) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--schema ferry: that schema holds ferry's "
				     "own tables (jobs, progress, steps, rejects); copy into another");
		goto out;
	}
	r.res->job = o->job ? ferry_strdup(o->job) : job_name(o->src);
	/* --schema-only, then --data-only (the README's recipe for a schema
	 * made before the load): two jobs, so the second is not refused as
	 * the first one with other options */
	if (!o->job && o->schema_only && r.res->job) {
		struct ferry_buf jn = FERRY_BUF_INIT;

		if (ferry_buf_addf(&jn, "%s-schema", r.res->job) < 0) {
			ferry_buf_release(&jn);
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		ferry_free(r.res->job);
		r.res->job = ferry_buf_detach(&jn, NULL);
	}
	r.job = r.res->job;
	if (o->rejects_dir)
		berr |= ferry_buf_addstr(&rejdir, o->rejects_dir);
	else
		berr |= ferry_buf_addf(&rejdir, "ferry-rejects/%s", r.res->job);
	rc = berr < 0 ? FERRY_ENOMEM : rej_init(&r.rej, rejdir.buf, r.res->job);
	if (rc < 0) {
		ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	/* InfluxDB and line-protocol files take points, not rows */
	if (ferry_conn_url_caps(o->dst) & FERRY_CAP_POINTS) {
		r.progress = ferry_progress_new(o->progress_out, o->progress_mode, "copy", 0);
		rc = copy_points_run(&r, err);
		goto out;
	}
	if (o->state) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--state is for influx: and lp: targets; "
				     "a PostgreSQL target keeps its job in schema 'ferry'");
		goto out;
	}
	if (o->snapshot && !(ferry_conn_url_caps(o->src) & FERRY_CAP_SNAPSHOT)) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--snapshot is for sqlite: sources");
		goto out;
	}
	if (o->snapshot && (rc = take_snapshot(&r, err)) < 0) {
		ferry_error_prefix(err, "cannot take a snapshot of the source");
		goto out;
	}
	topen = ferry_now();
	r.progress = ferry_progress_new(o->progress_out, o->progress_mode, "copy", 0);
	ts = (ferry_conn_url_caps(r.src_url) & FERRY_CAP_CHUNKS) != 0;
	if ((rc = copy_open_source(r.src_url, "copying", r.progress, &r.src, err)) < 0)
		goto out;
	made = file_to_create(o->dst);
	if ((rc = ferry_conn_open(o->dst, FERRY_OPEN_CREATE, &r.dst, err)) < 0) {
		ferry_error_prefix(err, "cannot open the target");
		goto out;
	}
	r.sops = ferry_conn_ops_of(r.src);
	r.dops = ferry_conn_ops_of(r.dst);
	copy_watch_start(&r.watch, r.dst, r.src, r.progress,
			 o->progress_mode == FERRY_PROGRESS_QUIET);
	r.jobs = 1;  /* copy_tune decides, once the plan is known */
	r.ckpt = (r.dops->caps & FERRY_CAP_CHECKPOINT) != 0;
	if (!(r.dops->caps & FERRY_CAP_WRITE)) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "'%s' cannot be a copy target",
				     r.dops->name);
		goto out;
	}
	t0 = ferry_now();
	if ((rc = r.sops->describe(r.src, NULL, &r.scat, err)) < 0)
		goto out;
	/* the relays' tables, made or grown before the target is described */
	if (o->live_tables && (strcmp(r.dops->name, "postgres") || strcmp(r.schema, "public")))
		rc = ferry_error_set(err, FERRY_EUSAGE, "the relays' tables are made in a "
				     "PostgreSQL target's public schema only");
	else if (o->live_tables)
		rc = copy_live_grow_all(r.dst, r.scat, o->include, o->exclude, err);
	if (rc < 0)
		goto out;
	if (r.dops->describe && (rc = r.dops->describe(r.dst, r.schema, &r.tcat, err)) < 0)
		goto out;
	if (r.map)
		rc = copy_relmap_plan(&r.plan, r.map, r.src, r.scat, r.tcat, r.schema, 0, err);
	else if ((rc = plan_check_left(o->include, o->exclude, r.scat, err)) == 0)
		rc = plan_build(&r.plan, o, r.src, r.scat, r.tcat, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < r.plan.ntables; i++)
		r.plan.tables[i].index = (int)i;
	r.res->tables = ferry_calloc(r.plan.ntables ? r.plan.ntables : 1,
				     sizeof(*r.res->tables));
	if (!r.res->tables) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < r.plan.ntables; i++) {
		struct ferry_copy_table_stats *st = &r.res->tables[i];

		st->name = ferry_strdup(r.plan.tables[i].src->name);
		st->target = ferry_strdup(r.plan.tables[i].dst_name);
		r.plan.tables[i].stats = st;
		r.res->ntables++;
	}
	copy_content_start(&r);  /* side by side with plan_chunks' row counts */
	if ((rc = plan_chunks(&r, &total, err)) < 0)
		goto out;
	if ((rc = copy_tune(&r, err)) < 0)
		goto out;
	if (ts) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%zu chunk%s planned in %.1f s", r.nchunks,
			 r.nchunks == 1 ? "" : "s", ferry_now() - topen);
		ferry_progress_note(r.progress, msg);
	}
	if (r.ckpt) {
		if ((rc = prepare_job(&r, err)) < 0)
			goto out;
	} else if ((rc = phase_schema(&r, err)) < 0) {
		goto out;
	} else {
		rej_start_over(&r.rej, &r.plan.warnings);  /* no job: every run starts over */
	}
	r.res->phase_seconds[FERRY_PHASE_SCHEMA] = ferry_now() - t0;
	if (r.already_done) {
		plan_strv_pushf(&r.plan.warnings,
			"job '%s' is already complete in the target: nothing to do "
			"(use --restart to copy again)", r.job);
		goto out;
	}
	t0 = ferry_now();
	for (;;) {
		int64_t unheld = 0;

		if (!o->schema_only && (rc = phase_data(&r, total, err)) < 0)
			goto out;
		if (r.ckpt && (rc = reopen_target(&r, err)) < 0)
			goto out;
		if (r.ckpt && (rc = wait_for_others(&r, &unheld, err)) < 0)
			goto out;
		if (unheld == 0 || o->schema_only)
			break;
		ferry_warn("%lld chunks are pending again and no worker holds them (the target "
			   "lost their commit?): copying them again", (long long)unheld);
	}
	r.res->phase_seconds[FERRY_PHASE_DATA] = ferry_now() - t0;
	if (r.sops->notes) {
		struct ferry_buf nb = FERRY_BUF_INIT;
		char *line, *save = NULL;

		r.sops->notes(r.src, &nb);
		for (line = strtok_r(nb.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			plan_strv_pushf(&r.plan.warnings, "%s", line);
		ferry_buf_release(&nb);
	}
	if (r.ckpt) {
		if ((rc = copy_phase_post(&r, err)) < 0)
			goto out;
		/*
		 * Durably: chunks and builds committed without waiting for
		 * their WAL, and a server whose default is the same (or that
		 * crashes) could still take back rows the exit status called
		 * copied.  Flushing this commit flushes all the WAL before it.
		 */
		if ((rc = r.dops->exec(r.dst, "SET synchronous_commit TO on", err)) < 0 ||
		    (rc = ck_job_set_state(r.dst, r.job, "done", err)) < 0)
			goto out;
	} else {
		plan_strv_pushf(&r.plan.warnings,
			"keys, indexes and foreign keys are only recreated on PostgreSQL targets");
		copy_plain_views(&r);
	}
	for (i = 0; !o->views && !r.map && i < r.scat->nviews; i++)
		plan_strv_pushf(&r.plan.warnings, "view '%s' skipped: add --views to try creating it",
			   r.scat->views[i].name);
out:
	/* the rows this run wrote, before collect() puts the job's totals
	 * in their place */
	for (i = 0; r.res && r.res->tables && i < r.res->ntables; i++)
		r.res->written_run += r.res->tables[i].written;
	if (rc < 0 && r.budget_exceeded && o->rollback_on_abort && r.ckpt) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		if (forget_job(&r, 1, &e2) == 0)
			plan_strv_pushf(&r.plan.warnings,
				"--rollback-on-abort: removed every table and row job '%s' wrote", r.job);
		else
			plan_strv_pushf(&r.plan.warnings, "--rollback-on-abort failed: %s", e2.msg);
	} else if (r.ckpt && r.dst && r.res->tables) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		if (collect(&r, &e2) < 0 && rc == 0) {
			*err = e2;
			rc = e2.code;
		}
	}
	/* after the committed ones (collect() wrote them, or there are none:
	 * then a file there is an earlier run's), those the budget stopped at */
	if (r.ckpt && r.abort_mem.len) {
		struct ferry_error e2 = FERRY_ERROR_INIT;

		if (!r.rej.path)
			rej_remove_file(&r.rej);
		if (rej_add_lines(&r.rej, r.abort_mem.buf, r.abort_mem.len, &e2) < 0)
			plan_strv_pushf(&r.plan.warnings, "%s", e2.msg);
	}
	copy_content_stop(&r);
	copy_watch_stop(&r.watch, &r.plan.warnings);
	if (r.res)
		fill_result(&r);
	r.res->total_seconds = ferry_now() - start;
	ferry_progress_free(r.progress);
	plan_release(&r.plan);
	rej_release(&r.rej);
	rej_release(&r.abort_rej);
	ferry_buf_release(&r.abort_mem);
	plan_strv_release(&r.created);
	plan_strv_release(&r.decisions);
	for (i = 0; i < r.nchunks; i++) {
		ferry_free(r.chunks[i].key_lo);
		ferry_free(r.chunks[i].key_hi);
	}
	ferry_free(r.chunks);
	ferry_catalog_free(r.scat);
	ferry_catalog_free(r.tcat);
	copy_relmap_free(r.map);
	ferry_conn_close(r.src);
	ferry_conn_close(r.dst);
	if (rc < 0 && made && access(made, F_OK) == 0) {
		struct ferry_error first = *err;

		remove_db_file(ferry_conn_url_ops(o->dst), made);
		ferry_error_set(err, first.code, "%s; removed '%s', which this run had created",
				first.msg, made);
		if (first.origin[0])
			ferry_error_origin(err, "%s", first.origin);
	}
	ferry_free(made);
	if (r.snapshot) {
		remove_db_file(r.snap_ops, r.snapshot);
		ferry_free(r.snapshot);
		ferry_free((char *)r.src_url);
	}
	ferry_buf_release(&rejdir);
	ferry_free(ts_url);
	if (out)
		*out = r.res;
	else
		ferry_copy_result_free(r.res);
	return rc;
}
