/*
 * db.c - the database under `ferry migrate`, opened through the registry
 * like every other store: run a script (whole, or statement by statement
 * and counted), run one parameterised statement, read rows as text.
 *
 * Errors come from the connectors (postgres.c, sqlite.c), so migrate and
 * copy translate a lost server or a refused statement into the same
 * FERRY_E* code.  What stays here is migrate's own policy: which stores
 * can hold migrations (SQL with transactions), the session's defaults
 * left as the user's shell has them, and how a missing database file is
 * treated (read-only commands read it as empty, nothing is created).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/registry.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "mig_int.h"

/*
 * A database file that does not exist: read-only commands create
 * nothing (*empty = 1: read it as the empty database 'up' would start
 * from); nor does a sqlite:///x.db that likely meant ./x.db.
 */
static int missing_file(const char *path, int read_only, int *empty,
			struct ferry_error *err)
{
	struct ferry_buf hint = FERRY_BUF_INIT;
	int rc = 0;

	*empty = 0;
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return 0;
	ferry_url_sqlite_hint(path, &hint);
	if (read_only && hint.len)
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"SQLite database '%s' does not exist%s", path, hint.buf);
	else if (read_only)
		*empty = 1;
	else if (hint.len)
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"will not create SQLite database '%s'%s; to create it there anyway, create the empty file first (touch '%s')",
			path, hint.buf, path);
	ferry_buf_release(&hint);
	if (*empty)
		ferry_warn("SQLite database '%s' does not exist yet: read as empty; 'ferry migrate up' creates it",
			   path);
	return rc;
}

int mig_db_open(const char *url, int read_only, struct mig_db **out,
		struct ferry_error *err)
{
	const struct ferry_conn_ops *ops;
	struct mig_db *db = NULL;
	ferry_url *u = NULL;
	struct ferry_buf red = FERRY_BUF_INIT;
	unsigned flags = FERRY_OPEN_SESSION_DEFAULTS | FERRY_OPEN_CREATE;
	int rc, empty = 0;

	if ((rc = ferry_url_parse(url, &u, err)) < 0)
		return rc;
	db = ferry_calloc(1, sizeof(*db));
	if (!db || !(db->url = ferry_strdup(url)) ||
	    ferry_url_redact(url, &red) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	db->redacted = ferry_buf_detach(&red, NULL);
	ops = ferry_conn_lookup(u->scheme);
	/* migrations are SQL scripts run in transactions */
	if (!ops || (ops->caps & (FERRY_CAP_DDL | FERRY_CAP_TXN)) !=
		    (FERRY_CAP_DDL | FERRY_CAP_TXN) || !ops->query) {
		rc = ferry_error_set(err, FERRY_EUSAGE,
			"cannot migrate '%s': scheme '%s' is not a database; use postgres://... or sqlite:...",
			db->redacted, u->scheme);
		goto out;
	}
	if (ops->caps & FERRY_CAP_FILE) {
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
		if ((rc = missing_file(db->path, read_only, &empty, err)) < 0)
			goto out;
	}
	if (read_only)
		flags |= FERRY_OPEN_READONLY;
	if (empty)
		flags |= FERRY_OPEN_EMPTY;
	if ((rc = ferry_conn_open(url, flags, &db->c, err)) < 0) {
		if (rc == FERRY_ECONN) {
			char *msg = ferry_strdup(err->msg);

			ferry_error_set(err, rc, "%s; check --db or DATABASE_URL",
					msg ? msg : "cannot connect");
			ferry_free(msg);
		}
		goto out;
	}
	db->ops = ferry_conn_ops_of(db->c);
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
	ferry_conn_close(db->c);
	ferry_free(db->path);
	ferry_free(db->url);
	ferry_free(db->redacted);
	ferry_free(db);
}

int mig_db_exec(struct mig_db *db, const char *sql, struct ferry_error *err)
{
	return db->ops->exec(db->c, sql, err);
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
	int rc;

	memset(p, 0, sizeof(*p));
	/*
	 * A store that splits scripts itself (SQLite: a trigger body holds
	 * semicolons) counts as it goes; the total is unknown, since a later
	 * statement may not prepare before an earlier one ran.
	 */
	if (db->ops->exec_each)
		return db->ops->exec_each(db->c, sql, &p->done, err);
	mig_sql_split(sql, count_one, &p->total);
	rc = mig_sql_split(sql, exec_one, &c);
	p->done = c.done;
	p->leftover = c.concurrently;
	return rc;
}

int mig_db_execp(struct mig_db *db, const char *sql, int n,
		 const char *const *vals, struct ferry_error *err)
{
	return db->ops->query(db->c, sql, vals, n, NULL, NULL, err);
}

struct row_ctx {
	mig_row_fn fn;
	void *ud;
};

static int each_row(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct row_ctx *r = ud;

	(void)err;
	return r->fn(ncols, vals, r->ud);
}

int mig_db_query(struct mig_db *db, const char *sql, mig_row_fn fn, void *ud,
		 struct ferry_error *err)
{
	struct row_ctx r = { fn, ud };

	return db->ops->query(db->c, sql, NULL, 0, each_row, &r, err);
}

static int set_flag(int nc, const char *const *v, void *ud)
{
	(void)nc;
	(void)v;
	*(int *)ud = 1;
	return 0;
}

int mig_db_table_exists(struct mig_db *db, const char *table, int *exists,
			struct ferry_error *err)
{
	const char *v[1] = { table };
	int found = 0, rc;

	/* SQLite keeps its catalog in sqlite_master; a server with schemas
	 * finds the table along the search path */
	rc = mig_db_query_p(db, mig_db_untyped(db) ?
			    "SELECT 1 FROM sqlite_master WHERE type='table' AND name=$1" :
			    "SELECT 1 WHERE to_regclass($1) IS NOT NULL", v, 1,
			    set_flag, &found, err);
	if (rc == 0)
		*exists = found;
	return rc;
}

int mig_db_query_p(struct mig_db *db, const char *sql, const char *const *vals, int n,
		   mig_row_fn fn, void *ud, struct ferry_error *err)
{
	struct row_ctx r = { fn, ud };

	return db->ops->query(db->c, sql, vals, n, each_row, &r, err);
}

int mig_db_untyped(const struct mig_db *db)
{
	return (db->ops->caps & FERRY_CAP_UNTYPED) != 0;
}

int mig_db_durable(struct mig_db *db, struct ferry_error *err)
{
	if (db->ops->caps & FERRY_CAP_FILE)
		return 0;
	return db->ops->exec(db->c, FERRY_PG_DURABLE_SQL, err);
}
