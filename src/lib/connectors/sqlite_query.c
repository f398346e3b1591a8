/*
 * sqlite_query.c - a relational map's source query on SQLite
 * (FERRY_CAP_QUERY, struct ferry_query in model.h): its key range and
 * the statement a read of it steps through (sqlite.c's sq_read fills the
 * batches as for a stored table).
 */
#include <string.h>

#include "connectors/sqlite_int.h"
#include "ferry/alloc.h"

/* " FROM <from> [WHERE (<where>)]": a SELECT becomes a subquery. */
static int from_where(struct ferry_buf *sql, const struct ferry_query *q)
{
	int e = 0;

	e |= ferry_buf_addstr(sql, " FROM ");
	if (q->from_sql) {
		e |= ferry_buf_addch(sql, '(');
		e |= ferry_buf_addstr(sql, q->from);
		e |= ferry_buf_addstr(sql, "\n) AS ferry_q");
	} else {
		e |= conn_quote_dq(q->from, sql);
	}
	if (q->where) {
		e |= ferry_buf_addstr(sql, " WHERE (");
		e |= ferry_buf_addstr(sql, q->where);
		e |= ferry_buf_addstr(sql, "\n)");
	}
	return e;
}

int sq_query_key_range(struct ferry_conn *c, const struct ferry_table *t, int64_t *lo,
		       int64_t *hi, int64_t *count, struct ferry_error *err)
{
	const struct ferry_query *q = t->query;
	struct ferry_buf sql = FERRY_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = 0, e = 0;

	*lo = *hi = *count = 0;
	if (q->key) {
		/* a NULL or non-integer key would fall between the chunks */
		e |= ferry_buf_addstr(&sql, "SELECT min(k), max(k), count(*), "
				      "sum(typeof(k) <> 'integer') FROM (SELECT (");
		e |= ferry_buf_addstr(&sql, q->key);
		e |= ferry_buf_addstr(&sql, "\n) AS k");
	} else {
		e |= ferry_buf_addstr(&sql, "SELECT 1, count(*), count(*), 0 FROM (SELECT 1");
	}
	e |= from_where(&sql, q);
	e |= ferry_buf_addch(&sql, ')');
	if (e < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = sq_err(c, err, FERRY_ESQL, "the query failed");
		goto out;
	}
	*count = sqlite3_column_int64(st, 2);
	if (sqlite3_column_int64(st, 3) > 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"key '%s' is NULL or not an integer in %lld of %lld rows (a key must be "
			"an integer expression: rowid, an INTEGER column, unixepoch(...))",
			q->key, (long long)sqlite3_column_int64(st, 3), (long long)*count);
		goto out;
	}
	if (*count > 0) {
		*lo = sqlite3_column_int64(st, 0);
		*hi = sqlite3_column_int64(st, 1);
	}
out:
	sqlite3_finalize(st);
	ferry_buf_release(&sql);
	return rc;
}

int sq_query_stmt(struct ferry_conn *c, const struct ferry_read_spec *spec, sqlite3_stmt **st,
		  int *keyed, struct ferry_error *err)
{
	const struct ferry_table *t = spec->table;
	const struct ferry_query *q = t->query;
	struct ferry_buf sql = FERRY_BUF_INIT;
	size_t i;
	int rc = 0, e = 0;

	*keyed = q->key != NULL;
	e |= ferry_buf_addstr(&sql, "SELECT ");
	e |= ferry_buf_addstr(&sql, q->key ? q->key : "NULL");
	for (i = 0; i < t->ncols; i++) {
		e |= ferry_buf_addstr(&sql, ",\n ");
		e |= ferry_buf_addstr(&sql, q->exprs[i]);
	}
	e |= from_where(&sql, q);
	if (q->key && spec->has_range) {
		e |= ferry_buf_addstr(&sql, q->where ? " AND (" : " WHERE (");
		e |= ferry_buf_addstr(&sql, q->key);
		e |= ferry_buf_addstr(&sql, "\n) BETWEEN ?1 AND ?2");
	}
	if (q->key) {
		e |= ferry_buf_addstr(&sql, " ORDER BY (");
		e |= ferry_buf_addstr(&sql, q->key);
		e |= ferry_buf_addstr(&sql, "\n)");
	}
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, st, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "the query failed");
		goto out;
	}
	if (q->key && spec->has_range) {
		sqlite3_bind_int64(*st, 1, spec->lo);
		sqlite3_bind_int64(*st, 2, spec->hi);
	}
out:
	ferry_buf_release(&sql);
	return rc;
}
