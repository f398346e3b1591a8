/*
 * db.c - the tiny database adapter under `ferry migrate`: run a script,
 * run one parameterised statement, read rows as text.  PostgreSQL through
 * libpq, SQLite through libsqlite3.  Deliberately independent of the copy
 * connectors: migrations need scripts and transactions, not batches.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <string.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "mig_int.h"

/* "primary message (detail) hint: ..." on one line, never a password */
static int pg_fail(struct mig_db *db, PGresult *res, struct ferry_error *err)
{
	const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	struct ferry_buf t = FERRY_BUF_INIT, m = FERRY_BUF_INIT;

	if (prim) {
		ferry_buf_addstr(&t, prim);
		if (detail)
			ferry_buf_addf(&t, " (%s)", detail);
		if (hint)
			ferry_buf_addf(&t, "; hint: %s", hint);
	} else {
		ferry_buf_addstr(&t, res ? PQresultErrorMessage(res) :
				 PQerrorMessage(db->pg));
	}
	ferry_url_redact(t.len ? t.buf : "unknown error", &m);
	ferry_buf_rtrim(&m);
	ferry_pg_advice(prim, PQuser(db->pg), 1, &m);  /* which GRANT is missing */
	ferry_error_set(err, FERRY_ESQL, "%s", m.buf);
	if (state)
		ferry_error_origin(err, "sqlstate %s", state);
	ferry_buf_release(&t);
	ferry_buf_release(&m);
	return FERRY_ESQL;
}

static int sq_fail(struct mig_db *db, struct ferry_error *err)
{
	ferry_error_set(err, FERRY_ESQL, "%s", sqlite3_errmsg(db->sq));
	ferry_error_origin(err, "sqlite %d", sqlite3_extended_errcode(db->sq));
	return FERRY_ESQL;
}

int mig_db_open(const char *url, int read_only, struct mig_db **out,
		struct ferry_error *err)
{
	struct mig_db *db = NULL;
	ferry_url *u = NULL;
	struct ferry_buf red = FERRY_BUF_INIT;
	int rc, missing = 0;

	if ((rc = ferry_url_parse(url, &u, err)) < 0)
		return rc;
	db = ferry_calloc(1, sizeof(*db));
	if (!db || !(db->url = ferry_strdup(url)) ||
	    ferry_url_redact(url, &red) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	db->redacted = ferry_buf_detach(&red, NULL);
	if (!strcmp(u->scheme, "postgres") || !strcmp(u->scheme, "postgresql")) {
		db->kind = MIG_DB_PG;
		db->pg = PQconnectdb(url);
		if (!db->pg || PQstatus(db->pg) != CONNECTION_OK) {
			struct ferry_buf m = FERRY_BUF_INIT;

			ferry_url_redact(db->pg ? PQerrorMessage(db->pg) : "out of memory", &m);
			ferry_buf_rtrim(&m);
			/* a missing database: how to create it (up --create-db) */
			ferry_pg_advice(m.buf, NULL, 1, &m);
			rc = ferry_error_set(err, FERRY_ECONN,
				"cannot connect to '%s': %s; check --db or DATABASE_URL",
				db->redacted, m.buf);
			ferry_buf_release(&m);
			goto out;
		}
		PQclear(PQexec(db->pg, "SET client_min_messages = warning"));
	} else if (!strcmp(u->scheme, "sqlite") || !strcmp(u->scheme, "sqlite3")) {
		db->kind = MIG_DB_SQLITE;
		if (!*u->path) {
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"'%s' names no file: use sqlite:///abs/path.db or sqlite:rel.db",
				db->redacted);
			goto out;
		}
		if (!(db->path = ferry_strdup(u->path))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (access(db->path, F_OK) < 0 && errno == ENOENT) {
			struct ferry_buf hint = FERRY_BUF_INIT;

			/* read-only commands create nothing; nor does a
			 * sqlite:///x.db that likely meant ./x.db */
			ferry_url_sqlite_hint(db->path, &hint);
			rc = 0;
			if (read_only && hint.len)
				rc = ferry_error_set(err, FERRY_ENOTFOUND,
					"SQLite database '%s' does not exist%s",
					db->path, hint.buf);
			else if (read_only)
				missing = 1;
			else if (hint.len)
				rc = ferry_error_set(err, FERRY_EUSAGE,
					"will not create SQLite database '%s'%s; to create it there anyway, create the empty file first (touch '%s')",
					db->path, hint.buf, db->path);
			ferry_buf_release(&hint);
			if (rc < 0)
				goto out;
		}
		/* a database that does not exist yet is read as the empty one
		 * 'up' would start from: status and plan show every migration
		 * pending, and nothing is created */
		if (missing)
			ferry_warn("SQLite database '%s' does not exist yet: read as empty; 'ferry migrate up' creates it",
				   db->path);
		if (sqlite3_open_v2(missing ? ":memory:" : db->path, (sqlite3 **)&db->sq, read_only ?
				    SQLITE_OPEN_READONLY :
				    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
				    NULL) != SQLITE_OK) {
			rc = ferry_error_set(err, FERRY_ECONN,
				"cannot open SQLite database '%s': %s", db->path,
				db->sq ? sqlite3_errmsg(db->sq) : "out of memory");
			goto out;
		}
		sqlite3_busy_timeout(db->sq, 30000);
	} else {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot migrate '%s': scheme '%s' is not a database; use postgres://... or sqlite:...",
			db->redacted, u->scheme);
		goto out;
	}
	rc = 0;
out:
	ferry_url_free(u);
	if (rc < 0) {
		mig_db_close(db);
		return rc;
	}
	*out = db;
	return 0;
}

void mig_db_close(struct mig_db *db)
{
	if (!db)
		return;
	if (db->pg)
		PQfinish(db->pg);
	if (db->sq)
		sqlite3_close(db->sq);
	ferry_free(db->path);
	ferry_free(db->url);
	ferry_free(db->redacted);
	ferry_free(db);
}

int mig_db_exec(struct mig_db *db, const char *sql, struct ferry_error *err)
{
	if (db->kind == MIG_DB_PG) {
		PGresult *res = PQexec(db->pg, sql);
		int st = PQresultStatus(res), rc = 0;

		if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK &&
		    st != PGRES_EMPTY_QUERY)
			rc = pg_fail(db, res, err);
		PQclear(res);
		return rc;
	}
	if (sqlite3_exec(db->sq, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(db, err);
	return 0;
}

struct each_ctx {
	struct mig_db *db;
	struct ferry_error *err;
	size_t done;
	int concurrently;  /* the failing statement builds an index concurrently */
};

static int count_one(const char *stmt, size_t n, void *ud)
{
	(void)stmt;
	(void)n;
	++*(size_t *)ud;
	return 0;
}

static int exec_one(const char *stmt, size_t n, void *ud)
{
	struct each_ctx *c = ud;
	char *s = ferry_strndup(stmt, n);
	int rc;

	if (!s)
		return ferry_error_set(c->err, FERRY_ENOMEM, "out of memory");
	rc = mig_db_exec(c->db, s, c->err);
	if (rc == 0)
		c->done++;
	else
		c->concurrently = strcasestr(s, "concurrently") != NULL;
	ferry_free(s);
	return rc;
}

int mig_db_exec_each(struct mig_db *db, const char *sql, struct mig_partial *p,
		     struct ferry_error *err)
{
	struct each_ctx c = { db, err, 0, 0 };
	const char *tail = sql;
	int rc = 0;

	memset(p, 0, sizeof(*p));
	if (db->kind == MIG_DB_PG) {
		mig_sql_split(sql, count_one, &p->total);
		rc = mig_sql_split(sql, exec_one, &c);
		p->done = c.done;
		p->leftover = c.concurrently;
		return rc;
	}
	/*
	 * SQLite: each statement in autocommit, as sqlite3_exec would, but
	 * counted; SQLite's own parser finds the ends (a trigger body holds
	 * semicolons).  The total is unknown: a later statement may not
	 * prepare before an earlier one ran.
	 */
	while (*tail) {
		sqlite3_stmt *st = NULL;
		const char *next = NULL;
		int s;

		if (sqlite3_prepare_v2(db->sq, tail, -1, &st, &next) != SQLITE_OK) {
			rc = sq_fail(db, err);
			break;
		}
		tail = next;
		if (!st)  /* only whitespace or a comment was left */
			continue;
		while ((s = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (s != SQLITE_DONE) {
			rc = sq_fail(db, err);
			sqlite3_finalize(st);
			break;
		}
		sqlite3_finalize(st);
		p->done++;
	}
	return rc;
}

int mig_db_execp(struct mig_db *db, const char *sql, int n,
		 const char *const *vals, struct ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	int i, rc = 0;

	if (db->kind == MIG_DB_PG) {
		PGresult *res = PQexecParams(db->pg, sql, n, NULL, vals, NULL,
					     NULL, 0);

		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK)
			rc = pg_fail(db, res, err);
		PQclear(res);
		return rc;
	}
	if (sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_fail(db, err);
	for (i = 0; i < n; i++)
		if (vals[i] ? sqlite3_bind_text(st, i + 1, vals[i], -1,
						SQLITE_TRANSIENT) :
			      sqlite3_bind_null(st, i + 1)) {
			rc = sq_fail(db, err);
			goto out;
		}
	if (sqlite3_step(st) != SQLITE_DONE)
		rc = sq_fail(db, err);
out:
	sqlite3_finalize(st);
	return rc;
}

int mig_db_query(struct mig_db *db, const char *sql, mig_row_fn fn, void *ud,
		 struct ferry_error *err)
{
	const char *vals[16];
	int rc = 0;

	if (db->kind == MIG_DB_PG) {
		PGresult *res = PQexec(db->pg, sql);
		int r, c, nc;

		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			rc = pg_fail(db, res, err);
			PQclear(res);
			return rc;
		}
		nc = PQnfields(res) < 16 ? PQnfields(res) : 16;
		for (r = 0; r < PQntuples(res) && rc == 0; r++) {
			for (c = 0; c < nc; c++)
				vals[c] = PQgetisnull(res, r, c) ? NULL :
					  PQgetvalue(res, r, c);
			rc = fn(nc, vals, ud);
		}
		PQclear(res);
		return rc;
	} else {
		sqlite3_stmt *st = NULL;
		int c, nc, s;

		if (sqlite3_prepare_v2(db->sq, sql, -1, &st, NULL) != SQLITE_OK)
			return sq_fail(db, err);
		nc = sqlite3_column_count(st) < 16 ? sqlite3_column_count(st) : 16;
		while ((s = sqlite3_step(st)) == SQLITE_ROW && rc == 0) {
			for (c = 0; c < nc; c++)
				vals[c] = (const char *)sqlite3_column_text(st, c);
			rc = fn(nc, vals, ud);
		}
		if (rc == 0 && s != SQLITE_DONE && s != SQLITE_ROW)
			rc = sq_fail(db, err);
		sqlite3_finalize(st);
		return rc;
	}
}

static int set_flag(int nc, const char *const *v, void *ud)
{
	*(int *)ud = 1;
	return 0;
}

int mig_db_table_exists(struct mig_db *db, const char *table, int *exists,
			struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	int found = 0, rc;

	/* table is a constant of ours, never user input */
	if (db->kind == MIG_DB_PG)
		rc = ferry_buf_addf(&q, "SELECT 1 WHERE to_regclass('%s') IS NOT NULL", table);
	else
		rc = ferry_buf_addf(&q,
			"SELECT 1 FROM sqlite_master WHERE type='table' AND name='%s'", table);
	if (rc < 0)
		return ferry_error_set(err, rc, "out of memory");
	rc = mig_db_query(db, q.buf, set_flag, &found, err);
	ferry_buf_release(&q);
	if (rc == 0)
		*exists = found;
	return rc;
}
