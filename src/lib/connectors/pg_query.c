/*
 * pg_query.c - a relational map's source query on PostgreSQL
 * (FERRY_CAP_QUERY, struct ferry_query in model.h): its key range, and
 * the COPY (SELECT ...) TO STDOUT (FORMAT binary) a read of it runs
 * (postgres.c decodes it as it does a stored table).
 *
 * A query's columns have no catalog types: their cells are what a SQLite
 * source gives for the same query, which the copy's transform converts
 * to each target column's type exactly.  Integers, floats, numeric, text,
 * json, bytea and uuid come in binary; dates, times, timestamps,
 * booleans and types without a decoder as their text (the session prints
 * ISO dates, in UTC), which the transform parses.
 */
#include <stdlib.h>
#include <string.h>

#include "connectors/pg_int.h"
#include "ferry/alloc.h"

int pg_query_key_range(ferry_conn *c, const struct ferry_table *t, int64_t *lo, int64_t *hi,
		       int64_t *count, struct ferry_error *err)
{
	const struct ferry_query *q = t->query;
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *res = NULL;
	int rc = 0, e = 0;
	const char *ty;

	*lo = *hi = *count = 0;
	if (q->key) {
		/* a NULL or non-integer key would fall between the chunks */
		e |= ferry_buf_addstr(&sql, "SELECT min(k), max(k), count(*), count(*) - count(k), "
				      "pg_typeof(min(k))::text FROM (SELECT (");
		e |= ferry_buf_addstr(&sql, q->key);
		e |= ferry_buf_addstr(&sql, "\n) AS k");
	} else {
		e |= ferry_buf_addstr(&sql, "SELECT 1, count(*), count(*), 0, 'bigint' FROM (SELECT 1");
	}
	e |= conn_query_from(&sql, q);
	e |= ferry_buf_addstr(&sql, ") AS ferry_k");
	if (e < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	pg_busy(c, 1);
	res = PQexec(c->pg, sql.buf);
	pg_busy(c, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = pg_fail(c->pg, res, err, "the query failed");
		goto out;
	}
	*count = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	ty = PQgetvalue(res, 0, 4);
	if (strcmp(ty, "bigint") && strcmp(ty, "integer") && strcmp(ty, "smallint")) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"key '%s' is %s, not an integer (a key must be an integer expression: an "
			"integer column, extract(epoch FROM ts)::bigint, ...)", q->key, ty);
		goto out;
	}
	if (strtoll(PQgetvalue(res, 0, 3), NULL, 10) > 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"key '%s' is NULL in %s of %lld rows: not an integer for every row",
			q->key, PQgetvalue(res, 0, 3), (long long)*count);
		goto out;
	}
	if (*count > 0) {
		*lo = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*hi = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	}
out:
	PQclear(res);
	ferry_buf_release(&sql);
	return rc;
}

/* Does a column of this type come in binary as a cell the transform
 * takes without knowing the source type? */
static int binary_ok(int type)
{
	switch (type) {
	case FERRY_T_INT16: case FERRY_T_INT32: case FERRY_T_INT64:
	case FERRY_T_FLOAT32: case FERRY_T_FLOAT64: case FERRY_T_NUMERIC:
	case FERRY_T_TEXT: case FERRY_T_BYTES: case FERRY_T_UUID:
	case FERRY_T_JSON: case FERRY_T_JSONB:
		return 1;
	}
	return 0;
}

/* "SELECT [(key)::bigint, ](e0)[::text], ... FROM ... [key range] [ORDER BY key]" */
static int select_sql(struct ferry_buf *sql, const struct ferry_read_spec *spec,
		      const int *as_text)
{
	const struct ferry_table *t = spec->table;
	const struct ferry_query *q = t->query;
	size_t i;
	int e = 0;

	e |= ferry_buf_addstr(sql, "SELECT ");
	if (q->key) {
		e |= ferry_buf_addch(sql, '(');
		e |= ferry_buf_addstr(sql, q->key);
		e |= ferry_buf_addstr(sql, "\n)::bigint");
	}
	for (i = 0; i < t->ncols; i++) {
		e |= ferry_buf_addstr(sql, i || q->key ? ",\n (" : "(");
		e |= ferry_buf_addstr(sql, q->exprs[i]);
		e |= ferry_buf_addstr(sql, as_text && as_text[i] ? "\n)::text" : "\n)");
	}
	if (t->ncols == 0 && !q->key)
		e |= ferry_buf_addstr(sql, "1");
	e |= conn_query_from(sql, q);
	if (q->key && spec->has_range) {
		e |= ferry_buf_addstr(sql, q->where ? " AND (" : " WHERE (");
		e |= ferry_buf_addstr(sql, q->key);
		e |= ferry_buf_addf(sql, "\n) BETWEEN %lld AND %lld", (long long)spec->lo,
				    (long long)spec->hi);
	}
	if (q->key) {
		e |= ferry_buf_addstr(sql, " ORDER BY (");
		e |= ferry_buf_addstr(sql, q->key);
		e |= ferry_buf_addstr(sql, "\n)");
	}
	return e;
}

int pg_query_copy_sql(ferry_conn *c, const struct ferry_read_spec *spec, struct ferry_buf *out,
		      int *types, struct ferry_error *err)
{
	const struct ferry_table *t = spec->table;
	int first = t->query->key != NULL, *as_text;
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *res = NULL;
	size_t i;
	int rc = 0;

	if (!(as_text = ferry_calloc(t->ncols + 1, sizeof(int))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	/* the types of the query's columns, from the server's description */
	if (select_sql(&sql, spec, NULL) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	res = PQprepare(c->pg, "", sql.buf, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_fail(c->pg, res, err, "the query failed");
		goto out;
	}
	PQclear(res);
	res = PQdescribePrepared(c->pg, "");
	if (PQresultStatus(res) != PGRES_COMMAND_OK ||
	    (size_t)PQnfields(res) < t->ncols + (size_t)first) {
		rc = pg_fail(c->pg, res, err, "the query failed");
		goto out;
	}
	for (i = 0; i < t->ncols; i++) {
		types[i] = pg_type_of_oid((uint32_t)PQftype(res, (int)i + first));
		if (!binary_ok(types[i])) {
			as_text[i] = 1;
			types[i] = FERRY_T_TEXT;
		}
	}
	if (ferry_buf_addstr(out, "COPY (") < 0 || select_sql(out, spec, as_text) < 0 ||
	    ferry_buf_addstr(out, ") TO STDOUT (FORMAT binary)") < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	PQclear(res);
	ferry_buf_release(&sql);
	ferry_free(as_text);
	return rc;
}
