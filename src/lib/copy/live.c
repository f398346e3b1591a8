/*
 * live.c - copy's plan of one table for the relay (see live.h): the DDL
 * of phase_schema() and post.c's indexes for a table that is missing, and
 * xf_batch() for every batch, so that a relayed row is the row `ferry copy`
 * writes for the same point.
 */
#include <jansson.h>
#include <string.h>

#include "copy/copy_int.h"
#include "copy/live.h"
#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"

struct copy_live {
	struct plan plan;
	struct ferry_catalog *tcat;     /* the target's catalog the plan borrows from */
	char *schema;
	const char **names;
	int *types;
	int32_t *typmods;
	struct ferry_buf mem;           /* the rejects of one convert, NDJSON */
};

void copy_live_close(struct copy_live *cl)
{
	if (!cl)
		return;
	plan_release(&cl->plan);
	ferry_catalog_free(cl->tcat);
	ferry_free(cl->schema);
	ferry_free(cl->names);
	ferry_free(cl->types);
	ferry_free(cl->typmods);
	ferry_buf_release(&cl->mem);
	ferry_free(cl);
}

static int run_sql(ferry_conn *dst, struct ferry_buf *b, int berr, struct ferry_error *err)
{
	if (berr < 0 || ferry_buf_error(b))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return ferry_conn_ops_of(dst)->exec(dst, b->buf, err);
}

/* The table of the plan is missing: create it as a copy does (schema,
 * table, comment, then the indexes post.c builds after a load; the table
 * is empty, so they cost nothing now), all in one transaction so that a
 * concurrent relay finds it whole or not at all. */
static int create_table(ferry_conn *dst, struct plan *pl, const char *schema,
			struct ferry_error *err)
{
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct table_plan *tp = &pl->tables[0];
	struct strv keys = { 0 }, idx = { 0 }, attach = { 0 }, fks = { 0 };
	struct ferry_buf b = FERRY_BUF_INIT;
	size_t i;
	int berr = 0, rc;

	if ((rc = ops->begin(dst, err)) < 0)
		return rc;
	if (strcmp(schema, "public")) {
		berr |= ferry_buf_addstr(&b, "CREATE SCHEMA IF NOT EXISTS ");
		berr |= plan_quote_ident(&b, schema);
		if ((rc = run_sql(dst, &b, berr, err)) < 0)
			goto out;
	}
	ferry_buf_clear(&b);
	berr |= plan_ddl_create_table(pl, tp, schema, &b);
	if ((rc = run_sql(dst, &b, berr, err)) < 0)
		goto out;
	ferry_buf_clear(&b);
	berr |= ferry_buf_addstr(&b, "COMMENT ON TABLE ");
	berr |= plan_qualified(&b, schema, tp->dst_name);
	berr |= ferry_buf_addstr(&b, " IS ");
	berr |= plan_quote_literal(&b, "ferry: created by ferry relay");
	if ((rc = run_sql(dst, &b, berr, err)) < 0)
		goto out;
	if (plan_ddl_post_load(pl, tp, schema, &keys, &idx, &attach, &fks, NULL, NULL) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < keys.n && rc == 0; i++)
		rc = ops->exec(dst, keys.v[i], err);
	for (i = 0; i < idx.n && rc == 0; i++)
		rc = ops->exec(dst, idx.v[i], err);
	for (i = 0; i < attach.n && rc == 0; i++)
		rc = ops->exec(dst, attach.v[i], err);
	for (i = 0; i < fks.n && rc == 0; i++)
		rc = ops->exec(dst, fks.v[i], err);
	if (rc == 0)
		rc = ops->commit(dst, err);
out:
	if (rc < 0)
		ops->rollback(dst, NULL);
	plan_strv_release(&keys);
	plan_strv_release(&idx);
	plan_strv_release(&attach);
	plan_strv_release(&fks);
	ferry_buf_release(&b);
	return rc;
}

static int make_plan(struct copy_live *cl, ferry_conn *dst, const struct ferry_catalog *cat,
		     int data_only, struct ferry_error *err)
{
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct ferry_copy_opts o;
	char *table = NULL, **cols = NULL;
	int rc, found = 0;

	plan_release(&cl->plan);
	ferry_catalog_free(cl->tcat);
	cl->tcat = NULL;
	if ((rc = ops->describe(dst, cl->schema, &cl->tcat, err)) < 0)
		return rc;
	/* a table that exists (by the name a copy gives it, exactly: points'
	 * names differ by case) is loaded as --data-only loads it */
	if ((rc = copy_live_names(cat, &table, &cols, err)) == 0)
		found = ferry_catalog_find_exact(cl->tcat, table) != NULL;
	copy_live_names_free(table, cols);
	if (rc < 0)
		return rc;
	if (found)
		data_only = 1;
	ferry_copy_opts_init(&o);
	o.schema = cl->schema;
	o.data_only = data_only;
	if ((rc = plan_build(&cl->plan, &o, NULL, cat, cl->tcat, err)) < 0)
		return rc;
	if (cl->plan.ntables != 1)
		return ferry_error_set(err, FERRY_EINVAL, "the live layout planned %zu tables, not one",
				       cl->plan.ntables);
	return 0;
}

int copy_live_open(ferry_conn *dst, const struct ferry_catalog *cat, const char *schema,
		   int must_exist, struct copy_live **out, struct ferry_error *err)
{
	struct copy_live *cl = ferry_calloc(1, sizeof(*cl));
	const struct table_plan *tp;
	size_t k;
	int rc;

	*out = NULL;
	if (!cl || !(cl->schema = ferry_strdup(schema ? schema : "public"))) {
		ferry_free(cl);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (cat->ntables != 1) {
		rc = ferry_error_set(err, FERRY_EINVAL, "the live layout has %zu tables, not one",
				     cat->ntables);
		goto fail;
	}
	/* a map file loads into the user's table, which must exist (data-only) */
	if ((rc = make_plan(cl, dst, cat, must_exist, err)) < 0)
		goto fail;
	if (rc == 0 && !cl->plan.tables[0].exists &&
	    (rc = create_table(dst, &cl->plan, cl->schema, err)) < 0) {
		ferry_error_prefix(err, "cannot create table '%s'", cat->tables[0].name);
		goto fail;
	}
	if ((rc = make_plan(cl, dst, cat, 1, err)) < 0)
		goto fail;
	tp = &cl->plan.tables[0];
	cl->names = ferry_calloc(tp->ncols + 1, sizeof(*cl->names));
	cl->types = ferry_calloc(tp->ncols + 1, sizeof(*cl->types));
	cl->typmods = ferry_calloc(tp->ncols + 1, sizeof(*cl->typmods));
	if (!cl->names || !cl->types || !cl->typmods) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto fail;
	}
	for (k = 0; k < tp->ncols; k++) {
		cl->names[k] = tp->cols[k].dst_name;
		cl->types[k] = tp->cols[k].type;
		cl->typmods[k] = tp->cols[k].typmod;
	}
	*out = cl;
	return 0;
fail:
	copy_live_close(cl);
	return rc;
}

int copy_live_names(const struct ferry_catalog *cat, char **table, char ***cols,
		    struct ferry_error *err)
{
	*table = NULL;
	*cols = NULL;
	if (cat->ntables != 1)
		return ferry_error_set(err, FERRY_EINVAL, "the live layout has %zu tables, not one",
				       cat->ntables);
	if (plan_names(&cat->tables[0], table, cols) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

void copy_live_names_free(char *table, char **cols)
{
	plan_names_free(table, cols);
}

void copy_live_spec(const struct copy_live *cl, struct ferry_write_spec *spec)
{
	const struct table_plan *tp = &cl->plan.tables[0];

	memset(spec, 0, sizeof(*spec));
	spec->schema = cl->schema;
	spec->table = tp->dst_name;
	spec->ncols = tp->ncols;
	spec->cols = cl->names;
	spec->types = cl->types;
	spec->typmods = cl->typmods;
}

int copy_live_convert(struct copy_live *cl, struct ferry_batch *b, copy_live_reject_fn fn,
		      void *ud, struct ferry_error *err)
{
	struct rejects rej;
	uint8_t *before = NULL;
	size_t r, at = 0;
	int n, rc = 0;

	memset(&rej, 0, sizeof(rej));
	if ((rc = pthread_mutex_init(&rej.lock, NULL)) != 0)
		return ferry_error_set(err, FERRY_ENOMEM, "cannot make a mutex");
	ferry_buf_clear(&cl->mem);
	rej.mem = &cl->mem;
	if (b->nrows && !(before = ferry_malloc(b->nrows))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (b->nrows)
		memcpy(before, b->skip, b->nrows);
	if ((n = xf_batch(b, &cl->plan.tables[0], &rej, err)) < 0) {
		rc = n;
		goto out;
	}
	/* xf_batch() goes through the rows in order and writes one reject
	 * line for each row it skips: the k-th line is the k-th new skip */
	for (r = 0; r < b->nrows && rc == 0; r++) {
		json_t *j = NULL;
		const char *nl, *reason = "value rejected", *column = "";
		json_error_t je;

		if (!b->skip[r] || before[r])
			continue;
		nl = at < cl->mem.len ? memchr(cl->mem.buf + at, '\n', cl->mem.len - at) : NULL;
		if (nl) {
			j = json_loadb(cl->mem.buf + at, (size_t)(nl - cl->mem.buf) - at, 0, &je);
			at = (size_t)(nl - cl->mem.buf) + 1;
		}
		if (j) {
			const char *s = json_string_value(json_object_get(j, "reason"));
			const char *c = json_string_value(json_object_get(j, "column"));

			reason = s ? s : reason;
			column = c ? c : column;
		}
		if (fn)
			rc = fn(ud, r, column, reason, err);
		json_decref(j);
	}
	if (rc == 0)
		rc = n;
out:
	ferry_free(before);
	pthread_mutex_destroy(&rej.lock);
	return rc;
}
