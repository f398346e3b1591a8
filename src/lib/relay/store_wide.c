/*
 * store_wide.c - --layout wide in the relay's PostgreSQL sink (store_pg.c):
 * the tables made and grown as points arrive, the check that a table is
 * the one its plan was made from, and the rows merged by key through a
 * stage table.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/log.h"
#include "relay/store_pg_int.h"
#include "wire/sqltext.h"

void relay_pgsink_wide_release(struct relay_pg *s)
{
	size_t i;

	for (i = 0; i < s->nwt; i++) {
		copy_live_close(s->wt[i].plan);
		ferry_catalog_free(s->wt[i].cat);
		ferry_free(s->wt[i].pk);
		ferry_free(s->wt[i].sig);
	}
	ferry_free(s->wt);
}

/*
 * --layout wide: a table per measurement, as `ferry copy --layout wide`
 * makes it (tm_live_route grows the live layout point by point, with
 * copy's names and types).  A new table is created with copy's DDL
 * (copy_live_open); a new column is added, a tag NOT NULL DEFAULT ''
 * (copy gives '' for a tag a point lacks) and appended to the primary key,
 * which is (time[, time_ns], tags...) as copy makes it.  This DDL commits
 * on its own before the write's transaction: it is idempotent (IF NOT
 * EXISTS, the key checked first), so a relay that finds another's table or
 * columns, or its own after a rolled back write, just goes on.
 *
 * Rows merge as InfluxDB merges points: a point's fields replace those of
 * the row of its key (time and tags), the row's other fields stay.  So the
 * rows go through a stage table and
 *   INSERT ... SELECT ... GROUP BY key ON CONFLICT ON CONSTRAINT pk
 *   DO UPDATE SET f = COALESCE(EXCLUDED.f, t.f), ...
 * where each field of a key in the stage is its last non-NULL value in
 * arrival order (relay_ord), as copy's merge (merge.c) keeps the last
 * write of each field.
 */

/* A table's columns and their types, one text (NULL for a table that is
 * not there): what a plan was made from, checked before each write. */
#define WIDE_SIG "(SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod)," \
	" ',' ORDER BY attnum) FROM pg_attribute WHERE attrelid = to_regclass(%s)" \
	" AND attnum > 0 AND NOT attisdropped)"
/* What a write raises when the table is not the one its plan was made
 * from (an ALTER, a DROP, another writer's column): the plan is made
 * again and the write tried again (wide_table). */
#define WIDE_CHANGED "FR001"

static int sig_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	char **out = ud;

	if (ncols < 1 || !vals[0] || *out)
		return 0;
	if (!(*out = ferry_strdup(vals[0])))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* The public.table of plan's spec, quoted, as a literal for to_regclass */
static int spec_regclass(struct relay_pg *s, const struct ferry_write_spec *spec,
			 struct ferry_buf *out)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	int berr = 0;

	berr |= s->ops->quote_ident(spec->schema, &q);
	berr |= ferry_buf_addch(&q, '.');
	berr |= s->ops->quote_ident(spec->table, &q);
	berr |= ferry_buf_error(&q) ? -1 : wire_sql_literal(out, q.buf);
	ferry_buf_release(&q);
	return berr < 0 ? -1 : 0;
}

static int table_sig(struct relay_pg *s, const struct copy_live *plan, char **sig,
		     struct ferry_error *err)
{
	struct ferry_write_spec spec;
	struct ferry_buf rc_lit = FERRY_BUF_INIT, q = FERRY_BUF_INIT;
	int rc;

	*sig = NULL;
	copy_live_spec(plan, &spec);
	if (spec_regclass(s, &spec, &rc_lit) < 0 ||
	    ferry_buf_addstr(&q, "SELECT ") < 0 || ferry_buf_addf(&q, WIDE_SIG, rc_lit.buf) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = s->ops->query(s->c, q.buf, NULL, 0, sig_row, sig, err);
	if (rc == 0 && !*sig && !(*sig = ferry_strdup("")))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	ferry_buf_release(&rc_lit);
	ferry_buf_release(&q);
	return rc;
}

/*
 * Into b, the statement that checks the table (lit: its name as a
 * literal) against sig before a write, in the write's transaction: the
 * table locked as the write will lock it (an ALTER waits until the write
 * is done, so none comes between the check and the rows), then its
 * columns and types compared, WIDE_CHANGED when they differ.  A DO block,
 * quoted by a dollar tag the body does not hold (names may hold any).
 */
static int check_block(struct ferry_buf *b, const char *lit, const char *sig)
{
	struct ferry_buf body = FERRY_BUF_INIT;
	char tag[32];
	int berr = 0, k;

	berr |= ferry_buf_addf(&body, "BEGIN IF to_regclass(%s) IS NOT NULL THEN EXECUTE"
			       " 'LOCK TABLE ' || %s || ' IN ROW EXCLUSIVE MODE'; END IF; IF ",
			       lit, lit);
	berr |= ferry_buf_addf(&body, WIDE_SIG, lit);
	berr |= ferry_buf_addstr(&body, " IS DISTINCT FROM ");
	berr |= wire_sql_literal(&body, sig);
	berr |= ferry_buf_addstr(&body, " THEN RAISE EXCEPTION USING ERRCODE = '" WIDE_CHANGED
				 "', MESSAGE = 'the table changed since the relay planned it';"
				 " END IF; END");
	if (berr < 0 || ferry_buf_error(&body)) {
		ferry_buf_release(&body);
		return -1;
	}
	for (k = 0;; k++) {
		snprintf(tag, sizeof(tag), "$ferry%d$", k);
		if (!strstr(body.buf, tag))
			break;
	}
	berr |= ferry_buf_addf(b, "DO %s %s %s; ", tag, body.buf, tag);
	ferry_buf_release(&body);
	return berr < 0 ? -1 : 0;
}

/* The field columns of table ti take the types PostgreSQL's table has
 * where those are wider (tm_live_adopt_type): a table the backfill or an
 * earlier relay made from other values, or one altered since.  The
 * number of columns whose type changed. */
static size_t wide_adopt(struct relay_pg *s, size_t ti, const struct copy_live *plan)
{
	struct ferry_write_spec spec;
	size_t k, n = 0;

	copy_live_spec(plan, &spec);
	for (k = 0; k < spec.ncols; k++) {
		const char *name = copy_live_src_col(plan, k);   /* the layout's */

		if (name)
			n += (size_t)tm_live_adopt_type(s->live, ti, name, spec.types[k]);
	}
	return n;
}

/* A transaction in which table cat's columns stay as they are (an ALTER
 * or DROP waits for its end): the plan and the signature read in it
 * describe the same table.  Read one after the other without it, an
 * ALTER between them left a plan of the old types under the new
 * signature, which every write's check then passed: 1.5 stored as 2 in
 * a column altered to bigint, answered 204 (helper-75, two relays). */
static int sync_begin(struct relay_pg *s, const struct ferry_catalog *cat,
		      struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	char *tname = NULL, **cn = NULL;
	int rc, berr = 0;

	if ((rc = copy_live_names(cat, &tname, &cn, err)) < 0)
		return rc;
	berr |= ferry_buf_addstr(&q, "LOCK TABLE public.");
	berr |= s->ops->quote_ident(tname, &q);
	berr |= ferry_buf_addstr(&q, " IN ACCESS SHARE MODE");
	copy_live_names_free(tname, cn);
	if (berr < 0 || ferry_buf_error(&q))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else if ((rc = s->ops->begin(s->c, err)) == 0 && (rc = s->ops->exec(s->c, q.buf, err)) < 0)
		s->ops->rollback(s->c, NULL);
	ferry_buf_release(&q);
	return rc;
}

/* Make table ti in PostgreSQL as the live layout has it now: grown by
 * copy_live_grow (the backfill of a cutover makes the history's tables
 * the same way), then planned for loading as --data-only plans it, with
 * the layout's field types widened to the table's (planned again then:
 * the plan converts from the layout's types).  *adopted (may be NULL):
 * 1 when a type was widened. */
static int wide_sync(struct relay_pg *s, size_t ti, int *adopted, struct ferry_error *err)
{
	struct wtab *w = &s->wt[ti];
	size_t n = tm_live_ncols_at(s->live, ti);
	struct ferry_catalog *cat = NULL;
	struct copy_live *plan = NULL;
	char *pk = NULL, *sig = NULL;
	int rc, txn = 0;

	if (adopted)
		*adopted = 0;
	if ((rc = tm_live_catalog_at(s->live, ti, &cat, err)) < 0 ||
	    /* a table this relay has not planned yet may be missing */
	    (rc = copy_live_grow(s->c, cat, w->synced, w->plan ? 0 : COPY_LIVE_MAY_MISS, &pk, err)) < 0 ||
	    (rc = sync_begin(s, cat, err)) < 0)
		goto out;
	txn = 1;
	/* loaded as --data-only loads it, from the table's own columns */
	if ((rc = copy_live_open(s->c, cat, NULL, 1, &plan, err)) < 0)
		goto out;
	if (wide_adopt(s, ti, plan) > 0) {
		/* the plan converts from the layout's types: again with the
		 * ones just taken */
		copy_live_close(plan);
		ferry_catalog_free(cat);
		plan = NULL;
		cat = NULL;
		if (adopted)
			*adopted = 1;
		if ((rc = tm_live_catalog_at(s->live, ti, &cat, err)) < 0 ||
		    (rc = copy_live_open(s->c, cat, NULL, 1, &plan, err)) < 0)
			goto out;
	}
	if ((rc = table_sig(s, plan, &sig, err)) < 0)
		goto out;
	txn = 0;
	if ((rc = s->ops->commit(s->c, err)) < 0)
		goto out;
	ferry_free(w->pk);
	w->pk = pk;
	pk = NULL;
	ferry_free(w->sig);
	w->sig = sig;
	sig = NULL;
	copy_live_close(w->plan);
	ferry_catalog_free(w->cat);
	w->plan = plan;
	w->cat = cat;
	plan = NULL;
	cat = NULL;
	w->synced = n;
out:
	if (txn)
		s->ops->rollback(s->c, NULL);
	if (rc < 0)
		ferry_error_prefix(err, "cannot make table '%s' for --layout wide",
				   tm_live_table_at(s->live, ti));
	ferry_free(pk);
	ferry_free(sig);
	copy_live_close(plan);
	ferry_catalog_free(cat);
	return rc;
}

/* PostgreSQL refused the DDL for what it says, not for now: class 42
 * (a name or definition it cannot take) or 54 (a limit: 1600 columns).
 * Not a duplicate table, column or object (42P07, 42701, 42710): another
 * relay made it at the same moment, and the write is tried again. */
static int is_ddl_refusal(const struct ferry_error *e)
{
	const char *st = strstr(e->origin, "sqlstate ");

	if (e->code != FERRY_ESQL || !st)
		return 0;
	st += 9;
	if (!strncmp(st, "42P07", 5) || !strncmp(st, "42701", 5) || !strncmp(st, "42710", 5))
		return 0;
	return !strncmp(st, "42", 2) || !strncmp(st, "54", 2);
}

/* s->wt for every table of the layout. */
static int wt_grow(struct relay_pg *s, struct ferry_error *err)
{
	size_t n = tm_live_ntables(s->live);
	struct wtab *wt;

	if (n <= s->nwt)
		return 0;
	if (!(wt = ferry_realloc(s->wt, n * sizeof(*wt))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	memset(wt + s->nwt, 0, (n - s->nwt) * sizeof(*wt));
	s->wt = wt;
	s->nwt = n;
	return 0;
}

/* A field of a type its column in the layout cannot take, in table ti:
 * PostgreSQL's table may hold it (made before from other values, or
 * altered since, as the backfill's type stop asks): once a write, the
 * table is read again and its wider types taken.  1 when one was taken
 * (route the point again), 0, or a negative FERRY_E* (the store). */
static int wide_learn(struct relay_pg *s, size_t ti, struct ferry_error *err)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	int rc, adopted = 0;

	if ((rc = wt_grow(s, err)) < 0 || ti >= s->nwt || s->wt[ti].learned)
		return rc;
	s->wt[ti].learned = 1;
	/* planned before: its types are known (taken at that sync) unless
	 * the table changed since; one query says (a point of a type no
	 * column takes may come in every write) */
	if (s->wt[ti].plan && s->wt[ti].sig) {
		char *sig = NULL;
		int same;

		if ((rc = table_sig(s, s->wt[ti].plan, &sig, &e)) < 0) {
			ferry_error_set(err, rc, "%s", e.msg);
			ferry_error_origin(err, "%s", e.origin);
			return rc;
		}
		same = !strcmp(sig, s->wt[ti].sig);
		ferry_free(sig);
		if (same)
			return 0;
	}
	if ((rc = wide_sync(s, ti, &adopted, &e)) < 0) {
		if (is_ddl_refusal(&e))
			return 0;   /* the point is refused, as the sync below does */
		ferry_error_set(err, rc, "%s", e.msg);
		ferry_error_origin(err, "%s", e.origin);
		return rc;
	}
	return adopted;
}

/* Before the write's transaction: every point to its table, which is made
 * or grown for it; a point refused by the layout is left out for good. */
int relay_pgsink_wide_route(struct relay_pg *s, struct ferry_error *err)
{
	size_t i, n;
	int rc = 0;

	for (i = 0; i < s->nwt; i++)
		s->wt[i].learned = 0;
	for (i = 0; i < s->nlines && rc >= 0; i++) {
		struct line *l = &s->lines[i];
		struct tm_point tp;
		char why[512];

		if (l->bad || relay_pgsink_line_point(s, i, &tp))
			continue;
		rc = tm_live_route(s->live, &tp, &l->table, why, sizeof(why), err);
		if (rc == 1 && l->table != SIZE_MAX) {
			int got = wide_learn(s, l->table, err);

			if (got != 0)   /* 1: a wider type taken, route it again */
				rc = got < 0 ? got : tm_live_route(s->live, &tp, &l->table, why,
								  sizeof(why), err);
		}
		if (rc == 1) {
			relay_pgsink_refuse(s, i, why);
			l->keep = 1;
			rc = 0;
		}
	}
	if (rc < 0 || (rc = wt_grow(s, err)) < 0)
		return rc;
	n = s->nwt;
	for (i = 0; i < n && rc == 0; i++) {
		struct ferry_error e = FERRY_ERROR_INIT;
		size_t k;

		if (tm_live_ncols_at(s->live, i) <= s->wt[i].synced)
			continue;
		if ((rc = wide_sync(s, i, NULL, &e)) == 0)
			continue;
		if (!is_ddl_refusal(&e)) {
			ferry_error_set(err, rc, "%s", e.msg);
			ferry_error_origin(err, "%s", e.origin);
			break;
		}
		/* PostgreSQL cannot make the table so (more than 1600
		 * columns, ...): its points of this write are refused, the
		 * others go on; the next point of the table tries again */
		for (k = 0; k < s->nlines; k++)
			if (!s->lines[k].bad && s->lines[k].table == i) {
				relay_pgsink_refuse(s, k, e.msg);
				s->lines[k].keep = 1;
			}
		rc = 0;
	}
	return rc;
}

/* The stage's column of the arrival order: relay_ord, or relay_ord_N when
 * the table has a column of that name (a field or tag relay_ord). */
static void ord_name(const struct ferry_write_spec *spec, char *out, size_t n)
{
	size_t k, i = 0;

	snprintf(out, n, "relay_ord");
	for (k = 0; k < spec->ncols; k++) {
		if (strcmp(spec->cols[k], out))
			continue;
		/* relay_ord_1, _2, ...: at most ncols of them are taken */
		snprintf(out, n, "relay_ord_%zu", ++i);
		k = (size_t)-1;   /* look again from the first */
	}
}

/* The stage's rows merged into table ti. */
static int wide_merge(struct relay_pg *s, size_t ti, const struct ferry_write_spec *spec,
		      const char *ord, struct ferry_error *err)
{
	const struct ferry_table *ft = &s->wt[ti].cat->tables[0];
	struct ferry_buf b = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	size_t k, nf = 0;
	int berr = 0, rc;

	for (k = 0; k < spec->ncols; k++)
		if (ft->cols[k].pk_pos > 0) {
			berr |= key.len ? ferry_buf_addstr(&key, ", ") : 0;
			berr |= s->ops->quote_ident(spec->cols[k], &key);
		}
	berr |= ferry_buf_addstr(&b, "INSERT INTO ");
	berr |= s->ops->quote_ident(spec->schema, &b);
	berr |= ferry_buf_addch(&b, '.');
	berr |= s->ops->quote_ident(spec->table, &b);
	berr |= ferry_buf_addstr(&b, " AS t (");
	for (k = 0; k < spec->ncols; k++) {
		berr |= k ? ferry_buf_addstr(&b, ", ") : 0;
		berr |= s->ops->quote_ident(spec->cols[k], &b);
	}
	berr |= ferry_buf_addstr(&b, ") SELECT ");
	for (k = 0; k < spec->ncols; k++) {
		berr |= k ? ferry_buf_addstr(&b, ", ") : 0;
		if (ft->cols[k].pk_pos > 0) {
			berr |= s->ops->quote_ident(spec->cols[k], &b);
			continue;
		}
		berr |= ferry_buf_addstr(&b, "(array_agg(");
		berr |= s->ops->quote_ident(spec->cols[k], &b);
		berr |= ferry_buf_addstr(&b, " ORDER BY ");
		berr |= s->ops->quote_ident(ord, &b);
		berr |= ferry_buf_addstr(&b, " DESC) FILTER (WHERE ");
		berr |= s->ops->quote_ident(spec->cols[k], &b);
		berr |= ferry_buf_addstr(&b, " IS NOT NULL))[1]");
	}
	berr |= ferry_buf_addstr(&b, " FROM pg_temp.relay_stage GROUP BY ");
	berr |= ferry_buf_add(&b, key.buf, key.len);
	berr |= ferry_buf_addstr(&b, " ON CONFLICT ON CONSTRAINT ");
	berr |= s->ops->quote_ident(s->wt[ti].pk, &b);
	berr |= ferry_buf_addstr(&b, " DO UPDATE SET ");
	for (k = 0; k < spec->ncols; k++) {
		if (ft->cols[k].pk_pos > 0)
			continue;
		berr |= nf++ ? ferry_buf_addstr(&b, ", ") : 0;
		berr |= s->ops->quote_ident(spec->cols[k], &b);
		berr |= ferry_buf_addstr(&b, " = COALESCE(EXCLUDED.");
		berr |= s->ops->quote_ident(spec->cols[k], &b);
		berr |= ferry_buf_addstr(&b, ", t.");
		berr |= s->ops->quote_ident(spec->cols[k], &b);
		berr |= ferry_buf_addch(&b, ')');
	}
	berr |= ferry_buf_addstr(&b, "; DROP TABLE pg_temp.relay_stage");
	if (berr < 0 || ferry_buf_error(&b) || ferry_buf_error(&key))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = s->ops->exec(s->c, b.buf, err);
	ferry_buf_release(&b);
	ferry_buf_release(&key);
	return rc;
}

/* The rows of lines [lo, hi) of table ti through the stage. */
static int wide_table(struct relay_pg *s, size_t ti, size_t lo, size_t hi,
		      struct ferry_error *err)
{
	struct wtab *w = &s->wt[ti];
	struct ferry_write_spec spec, stage;
	struct ferry_buf b = FERRY_BUF_INIT, lit = FERRY_BUF_INIT;
	ferry_writer *wr = NULL;
	char ord[64];
	size_t k;
	int berr = 0, rc;

	copy_live_spec(w->plan, &spec);
	if (s->b.ncols != spec.ncols) {
		ferry_batch_release(&s->b);
		if (ferry_batch_init(&s->b, spec.ncols, LIVE_ROWS) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	ferry_batch_clear(&s->b);
	/* first, the table is still the one the plan was made from (its
	 * binary rows carry the plan's types, its conversions refuse what the
	 * table's types cannot hold exactly); else WIDE_CHANGED */
	berr |= spec_regclass(s, &spec, &lit);
	berr |= check_block(&b, lit.len ? lit.buf : "NULL", w->sig ? w->sig : "");
	ferry_buf_release(&lit);
	/* the columns of the plan with the types its binary rows carry,
	 * without constraints: NOT NULL is checked by the INSERT, where its
	 * refusal is the point's; the arrival order in a column of a name
	 * no column of the table has */
	berr |= ferry_buf_addstr(&b, "DROP TABLE IF EXISTS pg_temp.relay_stage; "
				 "CREATE TEMP TABLE relay_stage (");
	for (k = 0; k < spec.ncols; k++) {
		berr |= s->ops->quote_ident(spec.cols[k], &b);
		berr |= ferry_buf_addf(&b, " %s, ", ferry_type_name(spec.types[k]));
	}
	ord_name(&spec, ord, sizeof(ord));
	berr |= s->ops->quote_ident(ord, &b);
	berr |= ferry_buf_addstr(&b, " bigserial) ON COMMIT DROP");
	if (berr < 0 || ferry_buf_error(&b))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	else
		rc = s->ops->exec(s->c, b.buf, err);
	ferry_buf_release(&b);
	if (rc < 0 && strstr(err->origin, "sqlstate " WIDE_CHANGED)) {
		/* planned again (and the table made or grown again) before the
		 * write is tried again; spec is the plan's: said first */
		ferry_warn("relay: table '%s' changed since it was planned (an ALTER, a DROP, "
			   "another writer's column): planned again", spec.table);
		copy_live_close(w->plan);
		w->plan = NULL;
		w->synced = 0;
	}
	if (rc < 0)
		return rc;
	stage = spec;
	stage.schema = "pg_temp";
	stage.table = "relay_stage";
	if ((rc = s->ops->write_open(s->c, &stage, &wr, err)) < 0)
		return rc;
	if ((rc = relay_pgsink_copy_lines(s, w->plan, wr, ti, lo, hi, err)) < 0) {
		s->ops->write_close(wr, 0, NULL);
		ferry_batch_clear(&s->b);
		return rc;
	}
	if ((rc = s->ops->write_close(wr, 1, err)) < 0)
		return rc;
	return wide_merge(s, ti, &spec, ord, err);
}

int relay_pgsink_write_wide(struct relay_pg *s, size_t lo, size_t hi, struct ferry_error *err)
{
	size_t ti, i;
	int rc = 0;

	for (ti = 0; ti < s->nwt && rc == 0; ti++) {
		for (i = lo; i < hi; i++)
			if (!s->lines[i].bad && s->lines[i].table == ti)
				break;
		if (i < hi)
			rc = wide_table(s, ti, i, hi, err);
	}
	return rc;
}
