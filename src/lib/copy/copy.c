/*
 * copy.c - ferry copy: open both ends, plan, create the schema, load the
 * rows chunk by chunk (each chunk its own target transaction), then build
 * keys, indexes, foreign keys and sequences, and report.
 *
 * Order matters for speed and for correctness: rows go into bare tables
 * (no index maintenance during COPY), keys and indexes are built once at
 * the end, and foreign keys last so that load order between tables does
 * not matter.
 */
#include <ctype.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/log.h"
#include "ferry/progress.h"

#define DEFAULT_CHUNK_ROWS 500000
#define DEFAULT_BATCH_ROWS 10000
#define DEFAULT_BATCH_BYTES (4u << 20)

const char *ferry_copy_phase_name(int phase)
{
	static const char *names[] = { "schema", "data", "indexes", "constraints",
				       "sequences" };

	return phase >= 0 && phase < FERRY_PHASE_COUNT ? names[phase] : "?";
}

void ferry_copy_result_free(struct ferry_copy_result *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->ntables; i++) {
		ferry_free(r->tables[i].name);
		ferry_free(r->tables[i].target);
	}
	ferry_free(r->tables);
	for (i = 0; i < r->nwarnings; i++)
		ferry_free(r->warnings[i]);
	ferry_free(r->warnings);
	for (i = 0; i < r->nrenames; i++)
		ferry_free(r->renames[i]);
	ferry_free(r->renames);
	ferry_free(r->rejects_path);
	ferry_free(r->job);
	ferry_free(r);
}

struct run {
	const struct ferry_copy_opts *o;
	const char *schema;
	ferry_conn *src, *dst;
	const struct ferry_conn_ops *sops, *dops;
	struct ferry_catalog *scat, *tcat;
	struct plan plan;
	struct rejects rej;
	ferry_progress *progress;
	struct ferry_copy_result *res;
	int jobs;
};

static int is_pg(const struct run *r)
{
	return !strcmp(r->dops->name, "postgres");
}

/*
 * Cut every table into chunks: rowid ranges of about rows_per_chunk rows
 * (fewer, larger ranges would leave jobs idle on one big table; more,
 * smaller ones cost a transaction each).  Tables without rowids are one
 * chunk.
 */
static int plan_chunks(struct run *r, struct load_ctx *lc, uint64_t *total,
		       struct ferry_error *err)
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
		if (r->o->chunk_rows <= 0 && lc->jobs > 1 && count / lc->jobs < per)
			per = count / lc->jobs > 10000 ? (count + lc->jobs - 1) / lc->jobs : per;
		nck = (count + per - 1) / per;
		if (tp->src->without_rowid || !(r->sops->caps & FERRY_CAP_KEYRANGE))
			nck = 1;
		span = hi - lo + 1;
		step = nck > 1 ? (span + nck - 1) / nck : span;
		for (a = lo; ; a += step) {
			struct chunk_spec *ck;

			if (FERRY_GROW(lc->chunks, cap, lc->nchunks + 1) < 0)
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ck = &lc->chunks[lc->nchunks++];
			ck->tp = tp;
			ck->has_range = nck > 1 || !tp->src->without_rowid;
			ck->lo = a;
			ck->hi = (nck <= 1 || hi - a < step) ? hi : a + step - 1;
			if (tp->src->without_rowid)
				ck->has_range = 0;
			if (ck->hi >= hi || nck <= 1)
				break;
		}
	}
	return 0;
}

static int phase_data(struct run *r, struct ferry_error *err)
{
	struct load_ctx lc;
	uint64_t total = 0;
	int rc;

	memset(&lc, 0, sizeof(lc));
	lc.src_url = r->o->src;
	lc.dst_url = r->o->dst;
	lc.schema = is_pg(r) ? r->schema : NULL;
	lc.session_sql = is_pg(r) ? "SET synchronous_commit TO off" : NULL;
	lc.rej = &r->rej;
	lc.progress = r->progress;
	lc.batch_rows = r->o->batch_rows ? r->o->batch_rows : DEFAULT_BATCH_ROWS;
	lc.batch_bytes = r->o->batch_bytes ? r->o->batch_bytes : DEFAULT_BATCH_BYTES;
	lc.jobs = r->jobs;
	if ((rc = plan_chunks(r, &lc, &total, err)) < 0)
		goto out;
	ferry_progress_reset(r->progress, "copy", total);
	rc = load_chunks(&lc, err);
	ferry_progress_done(r->progress);
out:
	ferry_free(lc.chunks);
	return rc;
}

/* Run one statement; a failure becomes a warning (returns 1) when soft. */
static int run_ddl(struct run *r, const char *sql, int soft, struct ferry_error *err)
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
	strv_pushf(&r->plan.warnings, "skipped '%.300s': %s", sql, e.msg);
	return 1;
}

/* Is the target table one that ferry created (its comment says so)? */
static int created_by_ferry(struct run *r, const char *table)
{
	struct ferry_buf q = FERRY_BUF_INIT, name = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	struct ferry_error e = FERRY_ERROR_INIT;
	int isnull = 1, yes = 0;

	if (!is_pg(r))
		return 0;
	qualified(&name, r->schema, table);
	ferry_buf_addstr(&q, "SELECT obj_description(to_regclass(");
	quote_literal(&q, name.buf);
	ferry_buf_addstr(&q, "), 'pg_class')");
	if (r->dops->query1(r->dst, q.buf, &out, &isnull, &e) == 0 && !isnull)
		yes = !strncmp(out.buf, "ferry:", 6);
	ferry_buf_release(&q);
	ferry_buf_release(&name);
	ferry_buf_release(&out);
	return yes;
}

static int phase_schema(struct run *r, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT, src = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	ferry_url_redact(r->o->src, &src);
	if (is_pg(r) && strcmp(r->schema, "public")) {
		ferry_buf_addstr(&b, "CREATE SCHEMA IF NOT EXISTS ");
		quote_ident(&b, r->schema);
		if ((rc = run_ddl(r, b.buf, 0, err)) < 0)
			goto out;
	}
	for (i = 0; i < r->plan.ntables; i++) {
		struct table_plan *tp = &r->plan.tables[i];

		if (tp->exists && r->o->drop) {
			if (!r->o->force && !created_by_ferry(r, tp->dst_name)) {
				rc = ferry_error_set(err, FERRY_EEXIST,
					"refusing to drop table '%s': ferry did not create it; "
					"add --force to drop it anyway", tp->dst_name);
				goto out;
			}
			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "DROP TABLE ");
			qualified(&b, is_pg(r) ? r->schema : NULL, tp->dst_name);
			ferry_buf_addstr(&b, is_pg(r) ? " CASCADE" : "");
			if ((rc = run_ddl(r, b.buf, 0, err)) < 0)
				goto out;
			tp->exists = 0;
		} else if (tp->exists && r->o->truncate) {
			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "TRUNCATE ");
			qualified(&b, is_pg(r) ? r->schema : NULL, tp->dst_name);
			if (!is_pg(r)) {
				ferry_buf_clear(&b);
				ferry_buf_addstr(&b, "DELETE FROM ");
				qualified(&b, NULL, tp->dst_name);
			}
			if ((rc = run_ddl(r, b.buf, 0, err)) < 0)
				goto out;
			continue;
		} else if (tp->exists && !r->o->data_only) {
			rc = ferry_error_set(err, FERRY_EEXIST,
				"table '%s' already exists in the target: use --data-only to load "
				"into it, --truncate to empty it first, or --drop to recreate it",
				tp->dst_name);
			goto out;
		}
		if (r->o->data_only)
			continue;
		ferry_buf_clear(&b);
		ddl_create_table(&r->plan, tp, is_pg(r) ? r->schema : NULL, &b);
		if ((rc = run_ddl(r, b.buf, 0, err)) < 0)
			goto out;
		if (is_pg(r)) {
			struct ferry_buf c = FERRY_BUF_INIT;

			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "COMMENT ON TABLE ");
			qualified(&b, r->schema, tp->dst_name);
			ferry_buf_addstr(&b, " IS ");
			ferry_buf_addf(&c, "ferry: created by ferry copy from %s table %s",
				       src.buf, tp->src->name);
			quote_literal(&b, c.buf);
			ferry_buf_release(&c);
			if ((rc = run_ddl(r, b.buf, 0, err)) < 0)
				goto out;
		}
	}
out:
	ferry_buf_release(&b);
	ferry_buf_release(&src);
	return rc;
}

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

static int phase_views(struct run *r, struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	for (i = 0; i < r->scat->nviews; i++) {
		const struct ferry_view *v = &r->scat->views[i];
		const char *body = v->sql ? view_body(v->sql) : NULL;

		if (!r->o->views) {
			strv_pushf(&r->plan.warnings,
				"view '%s' skipped: add --views to try creating it", v->name);
			continue;
		}
		if (!body) {
			strv_pushf(&r->plan.warnings, "view '%s' skipped: cannot read its query",
				   v->name);
			continue;
		}
		ferry_buf_clear(&b);
		ferry_buf_addstr(&b, "CREATE VIEW ");
		qualified(&b, is_pg(r) ? r->schema : NULL, v->name);
		ferry_buf_addstr(&b, " AS ");
		ferry_buf_addstr(&b, body);
		if ((rc = run_ddl(r, b.buf, 1, err)) < 0)
			break;
		rc = 0;
	}
	ferry_buf_release(&b);
	return rc;
}

/*
 * Run two lists of statements in parallel; failures become warnings.  For
 * foreign keys (fk = 1) a failure is retried NOT VALID: SQLite often runs
 * with foreign keys off and holds orphans, and the constraint should still
 * guard new rows.
 */
static int ddl_batch(struct run *r, struct strv *a, struct strv *b, int fk,
		     struct ferry_error *err)
{
	struct strv all = { 0 }, retry = { 0 };
	char **errors = NULL;
	size_t i;
	int rc;

	for (i = 0; a && i < a->n; i++)
		strv_push(&all, ferry_strdup(a->v[i]));
	for (i = 0; b && i < b->n; i++)
		strv_push(&all, ferry_strdup(b->v[i]));
	rc = run_ddl_parallel(r->o->dst, "SET maintenance_work_mem TO '512MB'", r->jobs,
			      all.v, all.n, &errors, err);
	if (rc < 0)
		goto out;
	for (i = 0; i < all.n; i++) {
		if (!errors[i])
			continue;
		if (fk)
			strv_pushf(&retry, "%s NOT VALID", all.v[i]);
		else
			strv_pushf(&r->plan.warnings, "skipped '%.300s': %s", all.v[i], errors[i]);
	}
	for (i = 0; i < retry.n; i++) {
		struct ferry_error e = FERRY_ERROR_INIT;

		if (r->dops->exec(r->dst, retry.v[i], &e) == 0)
			strv_pushf(&r->plan.warnings,
				"foreign key added NOT VALID because existing rows violate it: "
				"%.200s; fix the rows, then run ALTER TABLE ... VALIDATE CONSTRAINT",
				retry.v[i]);
		else
			strv_pushf(&r->plan.warnings, "skipped '%.300s': %s", retry.v[i], e.msg);
	}
out:
	if (errors)
		for (i = 0; i < all.n; i++)
			ferry_free(errors[i]);
	ferry_free(errors);
	strv_release(&all);
	strv_release(&retry);
	return rc;
}

/* After the load: keys, indexes, foreign keys; identity and sequences. */
static int phase_post(struct run *r, struct ferry_error *err)
{
	struct strv keys = { 0 }, idx = { 0 }, fks = { 0 };
	struct ferry_buf b = FERRY_BUF_INIT, out = FERRY_BUF_INIT;
	const char *schema = is_pg(r) ? r->schema : NULL;
	double t0;
	size_t i, k;
	int rc = 0;

	if (!is_pg(r)) {
		strv_pushf(&r->plan.warnings,
			"keys, indexes and foreign keys are only recreated on PostgreSQL targets");
		return 0;
	}
	for (i = 0; i < r->plan.ntables; i++)
		if (!r->plan.tables[i].exists && !r->o->data_only)
			ddl_post_load(&r->plan, &r->plan.tables[i], schema, &keys, &idx, &fks);
	/* keys and indexes are independent of each other: build them on
	 * parallel connections (a table's statements serialise on its lock);
	 * foreign keys need the referenced keys, so they come after */
	t0 = ferry_now();
	if ((rc = ddl_batch(r, &keys, &idx, 0, err)) < 0)
		goto out;
	r->res->phase_seconds[FERRY_PHASE_INDEXES] = ferry_now() - t0;
	t0 = ferry_now();
	if ((rc = ddl_batch(r, &fks, NULL, 1, err)) < 0)
		goto out;
	r->res->phase_seconds[FERRY_PHASE_CONSTRAINTS] = ferry_now() - t0;
	rc = 0;
	t0 = ferry_now();
	for (i = 0; i < r->plan.ntables && rc >= 0; i++) {
		struct table_plan *tp = &r->plan.tables[i];
		int isnull;

		for (k = 0; k < tp->ncols && rc >= 0; k++) {
			struct col_plan *cp = &tp->cols[k];
			struct ferry_buf tname = FERRY_BUF_INIT;
			int64_t floor_v = tp->src->seq;

			if (!cp->identity || tp->exists)
				continue;
			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "ALTER TABLE ");
			qualified(&b, schema, tp->dst_name);
			ferry_buf_addstr(&b, " ALTER COLUMN ");
			quote_ident(&b, cp->dst_name);
			ferry_buf_addstr(&b, " ADD GENERATED BY DEFAULT AS IDENTITY");
			if ((rc = run_ddl(r, b.buf, 1, err)) != 0)
				continue;
			/* next value: past both the highest key and, for
			 * AUTOINCREMENT, the highest key ever handed out */
			qualified(&tname, schema, tp->dst_name);
			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "SELECT setval(pg_get_serial_sequence(");
			quote_literal(&b, tname.buf);
			ferry_buf_addstr(&b, ", ");
			quote_literal(&b, cp->dst_name);
			ferry_buf_addf(&b, "), GREATEST(coalesce((SELECT max(");
			quote_ident(&b, cp->dst_name);
			ferry_buf_addstr(&b, ") FROM ");
			ferry_buf_addstr(&b, tname.buf);
			ferry_buf_addf(&b, "), 0), %lld, 0) + 1, false)",
				       (long long)(floor_v > 0 ? floor_v : 0));
			rc = r->dops->query1(r->dst, b.buf, &out, &isnull, err);
			ferry_buf_release(&tname);
		}
	}
	/* --data-only: existing serial/identity columns must move past the keys */
	for (i = 0; i < r->plan.ntables && rc >= 0 && (r->o->data_only || r->o->truncate); i++) {
		struct table_plan *tp = &r->plan.tables[i];
		struct ferry_buf tname = FERRY_BUF_INIT;
		int isnull;

		if (!tp->exists)
			continue;
		qualified(&tname, schema, tp->dst_name);
		for (k = 0; k < tp->ncols; k++) {
			ferry_buf_clear(&b);
			ferry_buf_addstr(&b, "SELECT CASE WHEN s IS NULL THEN NULL ELSE setval(s, "
					 "GREATEST(coalesce((SELECT max(");
			quote_ident(&b, tp->cols[k].dst_name);
			ferry_buf_addstr(&b, ") FROM ");
			ferry_buf_addstr(&b, tname.buf);
			ferry_buf_addstr(&b, "), 0), 0) + 1, false) END FROM pg_get_serial_sequence(");
			quote_literal(&b, tname.buf);
			ferry_buf_addstr(&b, ", ");
			quote_literal(&b, tp->cols[k].dst_name);
			ferry_buf_addstr(&b, ") AS s");
			if (tp->cols[k].type != FERRY_T_INT64 && tp->cols[k].type != FERRY_T_INT32 &&
			    tp->cols[k].type != FERRY_T_INT16)
				continue;
			if ((rc = r->dops->query1(r->dst, b.buf, &out, &isnull, err)) < 0)
				break;
		}
		ferry_buf_release(&tname);
	}
	r->res->phase_seconds[FERRY_PHASE_SEQUENCES] = ferry_now() - t0;
	if (rc > 0)
		rc = 0;
out:
	strv_release(&keys);
	strv_release(&idx);
	strv_release(&fks);
	ferry_buf_release(&b);
	ferry_buf_release(&out);
	return rc;
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

static int fill_result(struct run *r)
{
	struct ferry_copy_result *res = r->res;
	size_t i;

	res->warnings = r->plan.warnings.v;
	res->nwarnings = r->plan.warnings.n;
	memset(&r->plan.warnings, 0, sizeof(r->plan.warnings));
	res->renames = r->plan.renames.v;
	res->nrenames = r->plan.renames.n;
	memset(&r->plan.renames, 0, sizeof(r->plan.renames));
	for (i = 0; i < res->ntables; i++) {
		res->read += res->tables[i].read;
		res->written += res->tables[i].written;
		res->rejected += res->tables[i].rejected;
		res->bytes += res->tables[i].bytes;
	}
	if (r->rej.path)
		res->rejects_path = ferry_strdup(r->rej.path);
	return 0;
}

int ferry_copy_run(const struct ferry_copy_opts *o, struct ferry_copy_result **out,
		   struct ferry_error *err)
{
	struct run r;
	struct ferry_buf rejdir = FERRY_BUF_INIT;
	double start = ferry_now(), t0;
	size_t i;
	int rc;

	memset(&r, 0, sizeof(r));
	r.o = o;
	r.schema = o->schema ? o->schema : "public";
	r.res = ferry_calloc(1, sizeof(*r.res));
	if (!r.res)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = plan_check_casts(o, err)) < 0)
		goto out;
	if (o->data_only && o->schema_only) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
				     "--data-only and --schema-only exclude each other");
		goto out;
	}
	r.res->job = o->job ? ferry_strdup(o->job) : job_name(o->src);
	if (o->rejects_dir)
		ferry_buf_addstr(&rejdir, o->rejects_dir);
	else
		ferry_buf_addf(&rejdir, "ferry-rejects/%s", r.res->job);
	if ((rc = rej_init(&r.rej, rejdir.buf)) < 0) {
		ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = ferry_conn_open(o->src, FERRY_OPEN_READONLY, &r.src, err)) < 0) {
		ferry_error_prefix(err, "cannot open the source");
		goto out;
	}
	if ((rc = ferry_conn_open(o->dst, FERRY_OPEN_CREATE, &r.dst, err)) < 0) {
		ferry_error_prefix(err, "cannot open the target");
		goto out;
	}
	r.sops = ferry_conn_ops_of(r.src);
	r.dops = ferry_conn_ops_of(r.dst);
	r.jobs = o->jobs > 0 ? o->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (r.jobs < 1)
		r.jobs = 1;
	if (!is_pg(&r))
		r.jobs = 1;  /* SQLite has one writer */
	if (!(r.sops->caps & FERRY_CAP_READ)) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "'%s' cannot be a copy source",
				     r.sops->name);
		goto out;
	}
	if (!(r.dops->caps & FERRY_CAP_WRITE)) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED, "'%s' cannot be a copy target",
				     r.dops->name);
		goto out;
	}
	t0 = ferry_now();
	if ((rc = r.sops->describe(r.src, NULL, &r.scat, err)) < 0)
		goto out;
	if (r.dops->describe && (rc = r.dops->describe(r.dst, r.schema, &r.tcat, err)) < 0)
		goto out;
	if ((rc = plan_build(&r.plan, o, r.src, r.scat, r.tcat, err)) < 0)
		goto out;
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
	if ((rc = phase_schema(&r, err)) < 0)
		goto out;
	r.res->phase_seconds[FERRY_PHASE_SCHEMA] = ferry_now() - t0;
	r.progress = ferry_progress_new(o->progress_out, o->progress_mode, "copy", 0);
	t0 = ferry_now();
	if (!o->schema_only && (rc = phase_data(&r, err)) < 0)
		goto out;
	r.res->phase_seconds[FERRY_PHASE_DATA] = ferry_now() - t0;
	if ((rc = phase_post(&r, err)) < 0)
		goto out;
	if (!o->data_only && (rc = phase_views(&r, err)) < 0)
		goto out;
out:
	if (r.res)
		fill_result(&r);
	r.res->total_seconds = ferry_now() - start;
	ferry_progress_free(r.progress);
	plan_release(&r.plan);
	rej_release(&r.rej);
	ferry_catalog_free(r.scat);
	ferry_catalog_free(r.tcat);
	ferry_conn_close(r.src);
	ferry_conn_close(r.dst);
	ferry_buf_release(&rejdir);
	if (out)
		*out = r.res;
	else
		ferry_copy_result_free(r.res);
	return rc;
}
