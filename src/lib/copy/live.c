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
#include "tsmap/tsmap.h"
#include "wire/sqltext.h"

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
	berr |= wire_sql_literal(&b, "ferry: created by ferry relay");
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

const char *copy_live_src_col(const struct copy_live *cl, size_t k)
{
	const struct table_plan *tp = &cl->plan.tables[0];

	return k < tp->ncols ? tp->cols[k].src_name : NULL;
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

/* ---- growing a wide table as the relays do ---- */

struct pk_ctx {
	struct ferry_buf name, cols;   /* cols: each name NUL-ended */
	size_t ncols;
};

static int pk_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct pk_ctx *pk = ud;

	if (ncols < 2 || !vals[0] || !vals[1])
		return 0;
	if ((!pk->name.len && ferry_buf_add(&pk->name, vals[0], strlen(vals[0]) + 1) < 0) ||
	    ferry_buf_add(&pk->cols, vals[1], strlen(vals[1]) + 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pk->ncols++;
	return 0;
}

/* One value into pk->name (its first row's). */
static int pk_row_one(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct pk_ctx *pk = ud;

	if (ncols < 1 || !vals[0] || pk->name.len)
		return 0;
	if (ferry_buf_add(&pk->name, vals[0], strlen(vals[0]) + 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int pk_has(const struct pk_ctx *pk, const char *col)
{
	size_t at = 0, i;

	for (i = 0; i < pk->ncols; i++) {
		const char *c = pk->cols.buf + at;

		if (!strcmp(c, col))
			return 1;
		at += strlen(c) + 1;
	}
	return 0;
}

/* The primary key of qname (its name, its columns in key order). */
static int pk_read(ferry_conn *dst, const char *qname, struct pk_ctx *pk,
		   struct ferry_error *err)
{
	const char *params[1] = { qname };

	ferry_buf_clear(&pk->name);
	ferry_buf_clear(&pk->cols);
	pk->ncols = 0;
	return ferry_conn_ops_of(dst)->query(dst,
		"SELECT c.conname, a.attname FROM pg_constraint c, "
		"unnest(c.conkey) WITH ORDINALITY AS k(att, ord), pg_attribute a "
		"WHERE c.conrelid = $1::regclass AND c.contype = 'p' "
		"AND a.attrelid = c.conrelid AND a.attnum = k.att ORDER BY k.ord",
		params, 1, pk_row, pk, err);
}

static int is_tag(const struct ferry_column *c)
{
	return c->pk_pos > 0 && c->type == FERRY_T_TEXT;
}

struct col_roles {
	struct ferry_buf names;   /* each NUL-ended */
	struct ferry_buf keyed;   /* per name: '1' in the primary key, else '0' */
	struct ferry_buf types;   /* per name: its type (format_type), NUL-ended */
};

static int role_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct col_roles *cr = ud;

	if (ncols < 3 || !vals[0] || !vals[1] || !vals[2])
		return 0;
	if (ferry_buf_add(&cr->names, vals[0], strlen(vals[0]) + 1) < 0 ||
	    ferry_buf_addch(&cr->keyed, vals[1][0] == 't' ? '1' : '0') < 0 ||
	    ferry_buf_add(&cr->types, vals[2], strlen(vals[2]) + 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* The type of the wide layout (tm_wide_type) that holds the values of a
 * column of type a and one of type b; FERRY_T_UNKNOWN for a type outside
 * it (a column the user made otherwise: left as it is). */
static int field_join(int a, int b)
{
	unsigned ta = tm_wide_types_of(a), tb = tm_wide_types_of(b);

	return ta && tb ? tm_wide_type(ta | tb) : FERRY_T_UNKNOWN;
}

/* The wide layout's type named t (PostgreSQL's format_type), or
 * FERRY_T_UNKNOWN */
static int lattice_of(const char *t)
{
	static const int wide[] = { FERRY_T_INT64, FERRY_T_NUMERIC, FERRY_T_FLOAT64,
				    FERRY_T_BOOL, FERRY_T_TEXT };
	size_t i;

	for (i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (!strcmp(t, ferry_type_name(wide[i])))
			return wide[i];
	return FERRY_T_UNKNOWN;
}

/*
 * The columns from the from-th on that qname has already must play the
 * same part there: a key column (time, a tag) of the points in the key,
 * a field out of it.  InfluxDB keeps a tag and a field of one name apart
 * (a query shows them as x and x_1), but a table that two writers grew in
 * another order has one column x for both (the layout names a clash by
 * what it saw first), and a field's value written into the key (or a ''
 * default set on a number) lost or stopped the points.  Refused as a
 * definition PostgreSQL cannot take (sqlstate 42804), which a relay takes
 * as the refusal of that table's points, not as a reason to retry.
 */
static int roles_agree(ferry_conn *dst, const char *qname, const char *tname,
		       const struct ferry_table *ft, char *const *cn, size_t from, int types,
		       struct ferry_error *err)
{
	const char *params[1] = { qname };
	struct col_roles cr;
	size_t k, at, i, tat;
	int rc;

	memset(&cr, 0, sizeof(cr));
	rc = ferry_conn_ops_of(dst)->query(dst,
		"SELECT a.attname, EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid ="
		" a.attrelid AND c.contype = 'p' AND a.attnum = ANY (c.conkey)),"
		" format_type(a.atttypid, NULL) FROM pg_attribute a WHERE a.attrelid ="
		" $1::regclass AND a.attnum > 0 AND NOT a.attisdropped", params, 1, role_row,
		&cr, err);
	for (k = from; rc == 0 && k < ft->ncols; k++) {
		for (i = 0, at = 0, tat = 0; at < cr.names.len;
		     i++, at += strlen(cr.names.buf + at) + 1, tat += strlen(cr.types.buf + tat) + 1) {
			int keyed = cr.keyed.buf[i] == '1';
			int have = lattice_of(cr.types.buf + tat), want;

			if (strcmp(cr.names.buf + at, cn[k]))
				continue;
			want = field_join(ft->cols[k].type, have);
			if (types && keyed == (ft->cols[k].pk_pos > 0) && !keyed &&
			    want != FERRY_T_UNKNOWN && want != have) {
				/* a relay made it from its points; the history
				 * has values it cannot hold (exactly) */
				struct ferry_buf qc = FERRY_BUF_INIT;

				if (ferry_conn_ops_of(dst)->quote_ident(cn[k], &qc) < 0 ||
				    ferry_buf_error(&qc)) {
					ferry_buf_release(&qc);
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					break;
				}
				rc = ferry_error_set(err, FERRY_EINVAL, "table '%s' has column '%s' of "
					"type %s (a relay makes it from the points it sees first), but "
					"the points here need %s: ALTER TABLE %s ALTER COLUMN %s TYPE "
					"%s (the running relays take the wider type) and go on",
					tname, cn[k], cr.types.buf + tat, ferry_type_name(want), qname,
					qc.buf, ferry_type_name(want));
				ferry_buf_release(&qc);
				break;
			}
			if (keyed == (ft->cols[k].pk_pos > 0))
				continue;
			rc = ferry_error_set(err, FERRY_ESQL, "table '%s' has column '%s' %s, but "
				"the points have '%s' as a %s: a tag and a field of one name (InfluxDB "
				"keeps both) cannot share the wide layout's column; rename one in the "
				"source, or use the narrow layout", tname, cn[k], keyed ?
				"in its primary key (a tag)" : "out of its key (a field)", cn[k],
				ft->cols[k].pk_pos > 0 ? "tag" : "field");
			ferry_error_origin(err, "sqlstate 42804");
			break;
		}
	}
	ferry_buf_release(&cr.names);
	ferry_buf_release(&cr.keyed);
	ferry_buf_release(&cr.types);
	return rc;
}

int copy_live_grow(ferry_conn *dst, const struct ferry_catalog *cat, size_t from, unsigned flags,
		   char **pk_name, struct ferry_error *err)
{
	int may_miss = (flags & COPY_LIVE_MAY_MISS) != 0;
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(dst);
	struct copy_live *plan = NULL;
	struct ferry_buf q = FERRY_BUF_INIT, sql = FERRY_BUF_INIT;
	struct pk_ctx pk;
	const struct ferry_table *ft;
	char *tname = NULL, **cn = NULL;  /* the names copy gives them */
	size_t n, k, i;
	int rc, txn = 0, tags = 0, berr = 0;

	*pk_name = NULL;
	memset(&pk, 0, sizeof(pk));
	if ((rc = copy_live_names(cat, &tname, &cn, err)) < 0)
		goto out;
	ft = &cat->tables[0];
	n = ft->ncols;
	berr |= ferry_buf_addstr(&q, "public.");
	berr |= ops->quote_ident(tname, &q);
	if (berr < 0 || ferry_buf_error(&q)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* created as copy creates it, when missing (its own transaction); one
	 * that exists (a relay's, or the caller's before a restart) is only
	 * extended below */
	if (may_miss) {
		const char *params[1] = { q.buf };

		ferry_buf_clear(&pk.name);
		if ((rc = ops->query(dst, "SELECT 'y' WHERE to_regclass($1) IS NOT NULL",
				     params, 1, pk_row_one, &pk, err)) < 0)
			goto out;
		if (!pk.name.len && (rc = copy_live_open(dst, cat, NULL, 0, &plan, err)) < 0)
			goto out;
		copy_live_close(plan);
		plan = NULL;
	}
	if ((rc = ops->begin(dst, err)) < 0)
		goto out;
	txn = 1;
	/* one grower of a table at a time (writes go on), so that the
	 * columns read here are those the ALTERs below find */
	ferry_buf_clear(&sql);
	if (ferry_buf_addf(&sql, "LOCK TABLE %s IN SHARE UPDATE EXCLUSIVE MODE", q.buf) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ops->exec(dst, sql.buf, err)) < 0 ||
	    (rc = roles_agree(dst, q.buf, tname, ft, cn, from, (flags & COPY_LIVE_TYPES) != 0,
			       err)) < 0)
		goto out;
	for (k = from; k < n; k++) {
		const struct ferry_column *c = &ft->cols[k];

		ferry_buf_clear(&sql);
		berr |= ferry_buf_addf(&sql, "ALTER TABLE %s ADD COLUMN IF NOT EXISTS ", q.buf);
		berr |= ops->quote_ident(cn[k], &sql);
		berr |= ferry_buf_addf(&sql, " %s", ferry_type_name(c->type));
		if (is_tag(c)) {
			/* old rows lack the tag: '' as copy gives a point without
			 * it; and so does a relay that does not know the tag yet */
			berr |= ferry_buf_addstr(&sql, " NOT NULL DEFAULT ''; ALTER TABLE ");
			berr |= ferry_buf_addf(&sql, "%s ALTER COLUMN ", q.buf);
			berr |= ops->quote_ident(cn[k], &sql);
			berr |= ferry_buf_addstr(&sql, " SET DEFAULT ''");
			tags = 1;
		}
		if (berr < 0 || ferry_buf_error(&sql)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = ops->exec(dst, sql.buf, err)) < 0)
			goto out;
	}
	if ((rc = pk_read(dst, q.buf, &pk, err)) < 0)
		goto out;
	if (!pk.ncols) {
		rc = ferry_error_set(err, FERRY_EINVAL, "table '%s' has no primary key: the wide "
				     "layout merges the points of a key into its row; add the key "
				     "(time, tags) or give the relay another table", tname);
		goto out;
	}
	/* a new tag is part of the key: the key is made again with it (one
	 * ALTER, so the table never lacks one; rows are unique already) */
	ferry_buf_clear(&sql);
	for (k = 0; tags && k < n; k++) {
		size_t at = 0;

		if (!is_tag(&ft->cols[k]) || pk_has(&pk, cn[k]))
			continue;
		if (!sql.len) {
			berr |= ferry_buf_addf(&sql, "ALTER TABLE %s DROP CONSTRAINT ", q.buf);
			berr |= ops->quote_ident(pk.name.buf, &sql);
			berr |= ferry_buf_addstr(&sql, ", ADD CONSTRAINT ");
			berr |= ops->quote_ident(pk.name.buf, &sql);
			berr |= ferry_buf_addstr(&sql, " PRIMARY KEY (");
			for (i = 0; i < pk.ncols; i++) {
				berr |= ops->quote_ident(pk.cols.buf + at, &sql);
				berr |= ferry_buf_addstr(&sql, ", ");
				at += strlen(pk.cols.buf + at) + 1;
			}
		}
		berr |= ops->quote_ident(cn[k], &sql);
		berr |= ferry_buf_addstr(&sql, ", ");
	}
	if (sql.len) {
		sql.len -= 2;
		berr |= ferry_buf_addch(&sql, ')');
		if (berr < 0 || ferry_buf_error(&sql)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = ops->exec(dst, sql.buf, err)) < 0)
			goto out;
	}
	rc = ops->commit(dst, err);
	txn = 0;
	if (rc == 0 && !(*pk_name = ferry_strdup(pk.name.buf)))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	if (txn)
		ops->rollback(dst, NULL);
	/* made, or its key made again with a new tag */
	if (rc < 0 && err && strstr(err->origin, "sqlstate 54011"))
		ferry_error_prefix(err, "table '%s' has more tags than a primary key can hold "
				   "(time and 31 tags: the wide layout keys a row by them); use "
				   "the narrow layout", tname);
	copy_live_close(plan);
	copy_live_names_free(tname, cn);
	ferry_buf_release(&q);
	ferry_buf_release(&sql);
	ferry_buf_release(&pk.name);
	ferry_buf_release(&pk.cols);
	return rc;
}

int copy_live_grow_all(ferry_conn *dst, const struct ferry_catalog *scat,
		       const char *const *include, const char *const *exclude,
		       struct ferry_error *err)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < scat->ntables && rc == 0; i++) {
		const struct ferry_table *t = &scat->tables[i];
		struct ferry_catalog one;
		char *pk = NULL;

		if ((include && include[0] && !plan_glob_match(include, t->name)) ||
		    plan_glob_match(exclude, t->name))
			continue;
		memset(&one, 0, sizeof(one));
		one.tables = (struct ferry_table *)t;   /* read only */
		one.ntables = 1;
		one.exact_names = scat->exact_names;
		if ((rc = copy_live_grow(dst, &one, 0, COPY_LIVE_MAY_MISS | COPY_LIVE_TYPES, &pk,
					 err)) < 0)
			ferry_error_prefix(err, "cannot make table '%s' as the relays make it",
					   t->name);
		ferry_free(pk);
	}
	return rc;
}
