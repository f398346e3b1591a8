/*
 * postgres.c - the PostgreSQL connector: target (DDL through exec,
 * rows through binary COPY), transactions and advisory locks, and
 * key-range reads through binary COPY TO STDOUT, decoded straight into
 * cells (a PostgreSQL source, and ferry verify reading a target back).
 * The catalog and the chunking of a source: pg_source.c.  Each statement
 * is marked busy from its start to its end for the lock watch
 * (pg_watch.c), which names who holds a lock one waits for.
 *
 * The encoder writes the COPY binary format directly from typed cells:
 * no text formatting and no parsing on the server for numbers, times or
 * bytes.  The transform before it guarantees every cell already has the
 * representation its column type needs (see copy/transform.c), so the
 * encoder cannot fail on data, only on memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "connectors/pg_int.h"
#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/log.h"
#include "wire/pgcopy.h"
#include "wire/sqltext.h"

struct ferry_writer {
	struct ferry_conn *c;
	size_t ncols;
	int *types;
	struct ferry_buf out;
	struct ferry_buf merge;   /* spec->merge: what moves the stage's rows */
};

/*
 * Fill err from the connection or a result, with SQLSTATE as origin: the
 * one translation of libpq's errors into FERRY_E* codes (copy, verify and
 * migrate all come through here).  The message is "what: primary
 * (detail); hint: ..." on one line, never with a password.
 */
int pg_fail(PGconn *pg, PGresult *res, struct ferry_error *err, const char *what)
{
	const char *prim = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	struct ferry_buf text = FERRY_BUF_INIT, clean = FERRY_BUF_INIT;
	int code = FERRY_ESQL, e = 0;

	if (prim) {
		e |= ferry_buf_addstr(&text, prim);
		if (detail)
			e |= ferry_buf_addf(&text, " (%s)", detail);
		if (hint)
			e |= ferry_buf_addf(&text, "; hint: %s", hint);
	} else {
		const char *msg = res ? PQresultErrorMessage(res) : NULL;

		e |= ferry_buf_addstr(&text, msg && *msg ? msg : PQerrorMessage(pg));
	}
	ferry_url_redact(text.len ? text.buf : "unknown error", &clean);
	ferry_buf_rtrim(&clean);
	if (PQstatus(pg) == CONNECTION_OK)  /* a missing privilege: which GRANT */
		e |= ferry_pg_advice(clean.buf, PQuser(pg), 0, &clean);
	/* a lost server: the connection is gone, the server is shutting down
	 * or restarting (class 08, 57P0x), or libpq saw the socket close */
	if (PQstatus(pg) == CONNECTION_BAD ||
	    (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))) ||
	    (!state && (strstr(clean.buf, "server closed the connection") ||
			strstr(clean.buf, "no connection to the server") ||
			strstr(clean.buf, "terminating connection"))))
		code = FERRY_ECONN;
	/* a lock the statement waited for longer than lock_timeout (or one
	 * NOWAIT would not wait for) */
	else if (state && !strcmp(state, "55P03"))
		code = FERRY_ETIMEOUT;
	ferry_error_set(err, code, "%s: %s", what,
			e < 0 || ferry_buf_error(&clean) ? "out of memory" : clean.buf);
	if (state)
		ferry_error_origin(err, "sqlstate %s", state);
	ferry_buf_release(&text);
	ferry_buf_release(&clean);
	return code;
}

/*
 * A Unix socket sends from a buffer of net.core.wmem_default (208 KiB on
 * Debian), where loopback TCP grows its own to tcp_wmem's 4 MiB: COPY
 * over the socket then stalls ferry and its backend by turns.  InfluxDB
 * -> narrow (6M rows, 750 MB of COPY data), data phase: TCP 10.7-11.0 s,
 * the socket 12.5-13.0 s, the socket with 4 MiB 11.0 s.  Asked for 4 MiB;
 * the kernel gives at most twice net.core.wmem_max.
 */
static void pg_unix_sndbuf(PGconn *pg)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	int fd = PQsocket(pg), size = 4 << 20;

	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0 &&
	    sa.ss_family == AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
}

static int pg_open(const ferry_url *url, unsigned flags, ferry_conn **out,
		   struct ferry_error *err)
{
	struct ferry_conn *c = ferry_calloc(1, sizeof(*c));
	struct ferry_buf conninfo = FERRY_BUF_INIT;
	PGresult *res;
	size_t n;
	int rc = 0;

	if (!c || pg_conninfo(url, &conninfo, &c->schema) < 0) {
		ferry_buf_release(&conninfo);
		if (c)
			ferry_free(c->schema);
		ferry_free(c);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	{
		/* the url first (expanded), then a name for pg_stat_activity
		 * and the lock watch's messages when the url gives none */
		const char *keys[] = { "dbname", "fallback_application_name", NULL };
		const char *vals[] = { conninfo.buf, "ferry", NULL };

		c->pg = PQconnectdbParams(keys, vals, 1);
	}
	ferry_buf_release(&conninfo);
	if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
		struct ferry_buf where = FERRY_BUF_INIT;

		ferry_url_redact(url->raw, &where);
		rc = pg_fail(c->pg, NULL, err, "cannot connect to PostgreSQL");
		ferry_error_prefix(err, "'%s'", where.buf);
		/* a missing target database: how to create it (--create-db on
		 * copy); a reader (verify) is better told nothing than that */
		ferry_buf_clear(&where);
		n = 0;
		if (ferry_buf_addstr(&where, err->msg) == 0) {
			n = where.len;
			if (flags & FERRY_OPEN_CREATE)
				ferry_pg_advice(err->msg, NULL, 1, &where);
		}
		/* out of memory: pg_fail's message stays, without the advice */
		if (where.len > n && !ferry_buf_error(&where))
			ferry_error_set(err, FERRY_ECONN, "%s", where.buf);

		ferry_buf_release(&where);
		rc = FERRY_ECONN;
		err->code = rc;
		goto fail;
	}
	pg_unix_sndbuf(c->pg);
	if (flags & FERRY_OPEN_SESSION_DEFAULTS) {
		/* the user's SQL sees the server's settings; only the notices
		 * below a warning are dropped */
		PQclear(PQexec(c->pg, "SET client_min_messages = warning"));
		pg_live_add(c);
		*out = c;
		return 0;
	}
	res = PQexec(c->pg, "SET client_encoding TO 'UTF8'; "
		     "SET client_min_messages TO warning; "
		     "SET standard_conforming_strings TO on; "
		     "SET DateStyle TO 'ISO, YMD'; SET TimeZone TO 'UTC'");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_fail(c->pg, res, err, "cannot configure the session");
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (c->schema) {
		/* a source's ?schema=: its tables are read by their bare names */
		struct ferry_buf sp = FERRY_BUF_INIT;

		if (ferry_buf_addstr(&sp, "SET search_path TO ") < 0 ||
		    conn_quote_dq(c->schema, &sp) < 0) {
			ferry_buf_release(&sp);
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto fail;
		}
		res = PQexec(c->pg, sp.buf);
		ferry_buf_release(&sp);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = pg_fail(c->pg, res, err, "cannot set the schema");
			PQclear(res);
			goto fail;
		}
		PQclear(res);
	}
	/* a reader gets UTF-8 from any server encoding: the server converts
	 * text to the client encoding */
	if (!(flags & FERRY_OPEN_READONLY) &&
	    strcmp(PQparameterStatus(c->pg, "server_encoding") ?
		   PQparameterStatus(c->pg, "server_encoding") : "", "UTF8")) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
			"target database encoding is '%s', not UTF8: create it with ENCODING 'UTF8'",
			PQparameterStatus(c->pg, "server_encoding"));
		goto fail;
	}
	pg_live_add(c);
	*out = c;
	return 0;
fail:
	PQfinish(c->pg);
	ferry_free(c->schema);
	ferry_free(c);
	return rc;
}

static void pg_close(ferry_conn *c)
{
	if (!c)
		return;
	pg_live_remove(c);
	PQfinish(c->pg);
	ferry_free(c->schema);
	ferry_free(c);
}

static int pg_exec(ferry_conn *c, const char *sql, struct ferry_error *err)
{
	PGresult *res;
	ExecStatusType st;
	int rc = 0;

	pg_busy(c, 1);
	res = PQexec(c->pg, sql);
	pg_busy(c, 0);
	st = PQresultStatus(res);

	/* a script of only comments is an empty query, and no error */
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY)
		rc = pg_fail(c->pg, res, err, "statement failed");
	PQclear(res);
	return rc;
}

static int pg_query(ferry_conn *c, const char *sql, const char *const *params,
		    int nparams, ferry_row_fn fn, void *ud, struct ferry_error *err)
{
	PGresult *res;
	ExecStatusType st;
	const char **vals = NULL;
	int rc = 0, r, k, nc;

	pg_busy(c, 1);
	res = PQexecParams(c->pg, sql, nparams, NULL, params, NULL, NULL, 0);
	pg_busy(c, 0);
	st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		rc = pg_fail(c->pg, res, err, "query failed");
		goto out;
	}
	nc = PQnfields(res);
	if (!fn || PQntuples(res) == 0)
		goto out;
	if (!(vals = ferry_calloc(nc ? (size_t)nc : 1, sizeof(*vals)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (r = 0; r < PQntuples(res) && rc == 0; r++) {
		for (k = 0; k < nc; k++)
			vals[k] = PQgetisnull(res, r, k) ? NULL : PQgetvalue(res, r, k);
		rc = fn(ud, nc, vals, err);
	}
out:
	ferry_free(vals);
	PQclear(res);
	return rc;
}

/* Session-level advisory locks: they span transactions (a step that runs
 * outside any) and die with the connection, so a killed run leaves none. */
static int pg_lock(ferry_conn *c, int64_t key, int *got, struct ferry_error *err)
{
	char k[32];
	const char *v[1] = { k };
	PGresult *res;
	int rc = 0;

	snprintf(k, sizeof(k), "%lld", (long long)key);
	res = PQexecParams(c->pg, "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, v,
			   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(c->pg, res, err, "cannot take the lock");
	else
		*got = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	return rc;
}

static int pg_unlock(ferry_conn *c, int64_t key, struct ferry_error *err)
{
	char k[32];
	const char *v[1] = { k };
	PGresult *res;
	int rc = 0;

	snprintf(k, sizeof(k), "%lld", (long long)key);
	res = PQexecParams(c->pg, "SELECT pg_advisory_unlock($1::bigint)", 1, NULL, v,
			   NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		rc = pg_fail(c->pg, res, err, "cannot release the lock");
	PQclear(res);
	return rc;
}

static int pg_begin(ferry_conn *c, struct ferry_error *err)
{
	return pg_exec(c, "BEGIN", err);
}

static int pg_commit(ferry_conn *c, struct ferry_error *err)
{
	return pg_exec(c, "COMMIT", err);
}

static int pg_rollback(ferry_conn *c, struct ferry_error *err)
{
	if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
		return 0;
	return pg_exec(c, "ROLLBACK", err);
}

/* Session-wide, so a migration's no-transaction statements get it too;
 * a statement that sets lock_timeout itself keeps its own. */
static int pg_lock_timeout(ferry_conn *c, int64_t ms, struct ferry_error *err)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "SET lock_timeout = %lld", (long long)ms);
	return pg_exec(c, sql, err);
}

/* ---- binary COPY ------------------------------------------------------- */

#define MERGE_STAGE "pg_temp.ferry_merge"

/* spec->merge: the stage made (empty, the columns of spec) and into *merge
 * the statement that moves its rows into the table, merged by its primary
 * key; nothing when the table has none (a plain COPY then). */
static int merge_stage(ferry_conn *c, const struct ferry_write_spec *spec,
		       struct ferry_buf *merge, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT, sql = FERRY_BUF_INIT, cols = FERRY_BUF_INIT;
	const char *params[1];
	PGresult *res = NULL;
	size_t i;
	int rc = 0, e = 0;

	if (spec->schema) {
		e |= conn_quote_dq(spec->schema, &q);
		e |= ferry_buf_addch(&q, '.');
	}
	e |= conn_quote_dq(spec->table, &q);
	for (i = 0; i < spec->ncols; i++) {
		e |= i ? ferry_buf_addstr(&cols, ", ") : 0;
		e |= conn_quote_dq(spec->cols[i], &cols);
	}
	if (e < 0 || ferry_buf_error(&q) || ferry_buf_error(&cols)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	params[0] = q.buf;
	res = PQexecParams(c->pg, "SELECT conname FROM pg_constraint WHERE conrelid ="
			   " $1::regclass AND contype = 'p'", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = pg_fail(c->pg, res, err, "cannot read the primary key of the target table");
		goto out;
	}
	if (PQntuples(res) != 1)
		goto out;   /* no key: nothing to merge by */
	e |= ferry_buf_addf(&sql, "DROP TABLE IF EXISTS " MERGE_STAGE "; CREATE TEMP TABLE"
			    " ferry_merge AS SELECT %s FROM %s WITH NO DATA", cols.buf, q.buf);
	e |= ferry_buf_addf(merge, "INSERT INTO %s AS t (%s) SELECT %s FROM " MERGE_STAGE
			    " ON CONFLICT ON CONSTRAINT ", q.buf, cols.buf, cols.buf);
	e |= conn_quote_dq(PQgetvalue(res, 0, 0), merge);
	e |= ferry_buf_addstr(merge, " DO UPDATE SET ");
	for (i = 0; i < spec->ncols; i++) {
		e |= i ? ferry_buf_addstr(merge, ", ") : 0;
		e |= conn_quote_dq(spec->cols[i], merge);
		e |= ferry_buf_addstr(merge, " = COALESCE(t.");
		e |= conn_quote_dq(spec->cols[i], merge);
		e |= ferry_buf_addstr(merge, ", EXCLUDED.");
		e |= conn_quote_dq(spec->cols[i], merge);
		e |= ferry_buf_addch(merge, ')');
	}
	e |= ferry_buf_addstr(merge, "; DROP TABLE " MERGE_STAGE);
	if (e < 0 || ferry_buf_error(&sql) || ferry_buf_error(merge)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	rc = pg_exec(c, sql.buf, err);
out:
	if (rc < 0)
		ferry_buf_release(merge);
	PQclear(res);
	ferry_buf_release(&q);
	ferry_buf_release(&sql);
	ferry_buf_release(&cols);
	return rc;
}

static int pg_write_open(ferry_conn *c, const struct ferry_write_spec *spec,
			 ferry_writer **out, struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_writer *w;
	PGresult *res = NULL;
	size_t i;
	int rc = 0, e = 0;

	w = ferry_calloc(1, sizeof(*w));
	if (!w || !(w->types = ferry_calloc(spec->ncols ? spec->ncols : 1, sizeof(int)))) {
		ferry_free(w);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	w->c = c;
	w->ncols = spec->ncols;
	memcpy(w->types, spec->types, spec->ncols * sizeof(int));
	ferry_buf_init(&w->out, 0);
	ferry_buf_init(&w->merge, 0);
	if (spec->merge && (rc = merge_stage(c, spec, &w->merge, err)) < 0)
		goto out;
	e |= ferry_buf_addstr(&sql, "COPY ");
	if (w->merge.len) {
		e |= ferry_buf_addstr(&sql, MERGE_STAGE);
	} else {
		if (spec->schema) {
			e |= conn_quote_dq(spec->schema, &sql);
			e |= ferry_buf_addch(&sql, '.');
		}
		e |= conn_quote_dq(spec->table, &sql);
	}
	e |= ferry_buf_addstr(&sql, " (");
	for (i = 0; i < spec->ncols; i++) {
		if (i)
			e |= ferry_buf_addstr(&sql, ", ");
		e |= conn_quote_dq(spec->cols[i], &sql);
	}
	e |= ferry_buf_addstr(&sql, ") FROM STDIN (FORMAT binary)");
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* busy until write_close: a COPY waits for its table's lock when it
	 * starts, and for a row's (a unique key another transaction is
	 * writing) at any time */
	pg_busy(c, 1);
	res = PQexec(c->pg, sql.buf);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		pg_busy(c, 0);
		rc = pg_fail(c->pg, res, err, "cannot start COPY");
		goto out;
	}
	if (wire_pgcopy_add_header(&w->out) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
out:
	PQclear(res);
	ferry_buf_release(&sql);
	if (rc < 0) {
		ferry_buf_release(&w->out);
		ferry_buf_release(&w->merge);
		ferry_free(w->types);
		ferry_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

static int flush_out(struct ferry_writer *w, struct ferry_error *err)
{
	if (w->out.len == 0)
		return 0;
	if (PQputCopyData(w->c->pg, w->out.buf, (int)w->out.len) != 1)
		return pg_fail(w->c->pg, NULL, err, "cannot send COPY data");
	ferry_buf_clear(&w->out);
	return 0;
}

static int pg_write_batch(ferry_writer *w, const struct ferry_batch *b,
			  struct ferry_error *err)
{
	size_t r;

	for (r = 0; r < b->nrows; r++) {
		if (b->skip[r])
			continue;
		if (wire_pgcopy_add_row(&w->out, w->types, w->ncols, b, r) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (w->out.len >= (1u << 20)) {
			int rc = flush_out(w, err);

			if (rc < 0)
				return rc;
		}
	}
	return flush_out(w, err);
}

static int pg_write_close(ferry_writer *w, int commit, struct ferry_error *err)
{
	PGresult *res;
	int rc = 0;

	if (!w)
		return 0;
	if (commit) {
		if (wire_pgcopy_add_trailer(&w->out) < 0 || flush_out(w, err) < 0)
			commit = 0;
	}
	if (PQputCopyEnd(w->c->pg, commit ? NULL : "aborted by ferry") != 1 && commit)
		rc = pg_fail(w->c->pg, NULL, err, "cannot finish COPY");
	while ((res = PQgetResult(w->c->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && commit && rc == 0)
			rc = pg_fail(w->c->pg, res, err, "COPY failed");
		PQclear(res);
	}
	/* the stage's rows into the table, merged by its key */
	if (commit && rc == 0 && w->merge.len)
		rc = pg_exec(w->c, w->merge.buf, err);
	pg_busy(w->c, 0);
	if (!commit && rc == 0 && err && err->code == 0)
		rc = 0;
	ferry_buf_release(&w->out);
	ferry_buf_release(&w->merge);
	ferry_free(w->types);
	ferry_free(w);
	return rc;
}

/* ---- reading (binary COPY TO STDOUT) ----------------------------------- */

static const struct ferry_column *visible_col(const struct ferry_table *t, int n)
{
	size_t i;

	for (i = 0; i < t->ncols; i++)
		if (!t->cols[i].hidden && n-- == 0)
			return &t->cols[i];
	return NULL;
}

/* The quoted identifier name as a string literal ('"a""b"'), for
 * ::regclass. */
static int ident_literal(const char *name, struct ferry_buf *out)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	int e = conn_quote_dq(name, &q);

	if (e == 0)
		e = wire_sql_literal(out, q.buf);
	ferry_buf_release(&q);
	return e;
}

/* Tables are named without a schema: the session's search_path picks
 * it (ferry verify sets it to the target schema). */
static int pg_key_range(ferry_conn *c, const struct ferry_table *t, int64_t *lo,
			int64_t *hi, int64_t *count, struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	int kc = pg_key_col(t);
	PGresult *res = NULL;
	int rc = 0, e = 0;

	if (t->query)
		return pg_query_key_range(c, t, lo, hi, count, err);
	if (kc >= 0) {
		const char *k = visible_col(t, kc)->name;

		e |= ferry_buf_addstr(&sql, "SELECT min(");
		e |= conn_quote_dq(k, &sql);
		e |= ferry_buf_addstr(&sql, "), max(");
		e |= conn_quote_dq(k, &sql);
		e |= ferry_buf_addstr(&sql, "), count(*) FROM ");
	} else if (pg_by_ctid(t)) {
		/* ctid ranges: block << 16 | line, up to the last block */
		e |= ferry_buf_addstr(&sql, "SELECT 0, (pg_relation_size(");
		e |= ident_literal(t->name, &sql);
		e |= ferry_buf_addstr(&sql, "::regclass) / current_setting('block_size')::bigint)"
				      " * 65536 - 1, count(*) FROM ");
	} else {
		e |= ferry_buf_addstr(&sql, "SELECT 0, 0, count(*) FROM ");
	}
	e |= conn_quote_dq(t->name, &sql);
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	pg_busy(c, 1);
	res = PQexec(c->pg, sql.buf);
	pg_busy(c, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		rc = pg_fail(c->pg, res, err, "cannot count rows");
		ferry_error_prefix(err, "table '%s'", t->name);
		goto out;
	}
	*lo = PQgetisnull(res, 0, 0) ? 0 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*hi = PQgetisnull(res, 0, 1) ? 0 : strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	*count = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
out:
	PQclear(res);
	ferry_buf_release(&sql);
	return rc;
}

struct copy_reader {
	const struct ferry_table *t;
	int *types;          /* per visible column */
	size_t ncols;
	int keycol;
	int tid;             /* a last field, the ctid, is the row's key */
	int qkey;            /* a first field, a query's key (bigint), is */
	int header_done;
	int ended;           /* trailer seen */
	int64_t ordinal;
	struct ferry_buf tmp;
};

/* Parse one CopyData message (header and/or whole tuples) into b. */
static int parse_copy_msg(struct copy_reader *cr, struct ferry_batch *b,
			  const unsigned char *p, size_t n, size_t maxrows,
			  size_t maxbytes, ferry_batch_fn fn, void *ud,
			  struct ferry_error *err)
{
	const unsigned char *e = p + n;
	size_t i;
	int rc;

	if (!cr->header_done) {
		long hl = wire_pgcopy_header_len(p, n);

		if (hl < 0)
			goto bad;
		p += hl;
		cr->header_done = 1;
	}
	while (p < e) {
		struct ferry_cell *row;
		int16_t nf;

		if (e - p < 2)
			goto bad;
		nf = (int16_t)wire_pgcopy_rd16(p);
		p += 2;
		if (nf == -1) {
			cr->ended = 1;
			return 0;
		}
		if ((size_t)nf != cr->ncols + (cr->tid != 0) + (cr->qkey != 0))
			goto bad;
		row = &b->cells[b->nrows * cr->ncols];
		if (cr->qkey) {  /* its length, then 8 bytes */
			if (e - p < 12 || wire_pgcopy_rd32(p) != 8)
				goto bad;
			b->keys[b->nrows] = (int64_t)wire_pgcopy_rd64(p + 4);
			p += 12;
		}
		for (i = 0; i < cr->ncols; i++) {
			int32_t len;

			if (e - p < 4)
				goto bad;
			len = (int32_t)wire_pgcopy_rd32(p);
			p += 4;
			if (len < 0) {
				row[i].kind = FERRY_V_NULL;
				continue;
			}
			if (e - p < len)
				goto bad;
			rc = wire_pgcopy_decode_field(b, &row[i], cr->types[i], p, (size_t)len, &cr->tmp);
			if (rc == FERRY_EPARSE)
				goto bad;
			if (rc < 0)
				return ferry_error_set(err, rc, "out of memory");
			p += len;
		}
		if (cr->tid) {  /* block (4 bytes), line (2) */
			if (e - p < 10 || wire_pgcopy_rd32(p) != 6)
				goto bad;
			b->keys[b->nrows] = (int64_t)wire_pgcopy_rd32(p + 4) << 16 |
					    wire_pgcopy_rd16(p + 8);
			p += 10;
		} else if (cr->qkey) {
			;
		} else if (cr->keycol >= 0 && row[cr->keycol].kind == FERRY_V_INT)
			b->keys[b->nrows] = row[cr->keycol].v.i;
		else
			b->keys[b->nrows] = ++cr->ordinal;
		b->nrows++;
		if (b->nrows == maxrows || b->arena.len >= maxbytes) {
			if ((rc = fn(b, ud, err)) != 0)
				return rc;
			ferry_batch_clear(b);
		}
	}
	return 0;
bad:
	return ferry_error_set(err, FERRY_EPARSE,
		"cannot decode COPY data of table '%s': unexpected binary layout", cr->t->name);
}

/* Stop a COPY TO STDOUT early: cancel it and drain what is in flight. */
static void abandon_copy(PGconn *pg)
{
	PGcancel *cn = PQgetCancel(pg);
	char eb[256], *buf;
	PGresult *res;

	if (cn) {
		PQcancel(cn, eb, sizeof(eb));
		PQfreeCancel(cn);
	}
	while (PQgetCopyData(pg, &buf, 0) > 0)
		PQfreemem(buf);
	while ((res = PQgetResult(pg)) != NULL)
		PQclear(res);
}

static int pg_read(ferry_conn *c, const struct ferry_read_spec *spec,
		   ferry_batch_fn fn, void *ud, struct ferry_error *err)
{
	const struct ferry_table *t = spec->table;
	size_t maxrows = spec->batch_rows ? spec->batch_rows : 10000;
	size_t maxbytes = spec->batch_bytes ? spec->batch_bytes : (8u << 20);
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct copy_reader cr;
	struct ferry_batch b;
	PGresult *res = NULL;
	size_t i, k;
	int rc = 0, n, in_copy = 0, batch_live = 0, e = 0;
	char *buf;

	memset(&cr, 0, sizeof(cr));
	ferry_buf_init(&cr.tmp, 0);
	cr.t = t;
	cr.keycol = pg_key_col(t);
	cr.tid = pg_by_ctid(t);
	cr.types = ferry_calloc(t->ncols + 1, sizeof(int));
	if (!cr.types) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (t->query) {   /* a relational map's source query (pg_query.c) */
		cr.keycol = -1;
		cr.qkey = t->query->key != NULL;
		cr.ncols = t->ncols;
		if ((rc = pg_query_copy_sql(c, spec, &sql, cr.types, err)) < 0)
			goto out;
		if (cr.ncols == 0 && !cr.qkey)
			cr.types[cr.ncols++] = FERRY_T_INT32;   /* its "SELECT 1" */
		goto run;
	}
	e |= ferry_buf_addstr(&sql, "COPY (SELECT ");
	for (i = 0; i < t->ncols; i++) {
		if (t->cols[i].hidden)
			continue;
		if (cr.ncols)
			e |= ferry_buf_addstr(&sql, ", ");
		e |= conn_quote_dq(t->cols[i].name, &sql);
		/* a type without a decoder is read as its text (pg_source.c) */
		if (t->cols[i].type == FERRY_T_TEXT &&
		    pg_type_of_oid(t->cols[i].type_oid) == FERRY_T_UNKNOWN)
			e |= ferry_buf_addstr(&sql, "::text");
		cr.types[cr.ncols++] = t->cols[i].type;
	}
	if (cr.ncols == 0) {
		e |= ferry_buf_addstr(&sql, "1");  /* keep the row count */
		cr.types[cr.ncols++] = FERRY_T_INT32;
	}
	if (cr.tid)
		e |= ferry_buf_addstr(&sql, ", ctid");
	e |= ferry_buf_addstr(&sql, " FROM ");
	e |= conn_quote_dq(t->name, &sql);
	if (cr.tid && spec->has_range) {
		int64_t lo = spec->lo < 0 ? 0 : spec->lo, hi = spec->hi;

		if (hi > (INT64_C(0xFFFFFFFF) << 16 | 0xFFFF))
			hi = INT64_C(0xFFFFFFFF) << 16 | 0xFFFF;
		e |= ferry_buf_addf(&sql, " WHERE ctid >= '(%lld,%lld)'::tid AND ctid <= '(%lld,%lld)'::tid",
				    (long long)(lo >> 16), (long long)(lo & 0xFFFF),
				    (long long)(hi >> 16), (long long)(hi & 0xFFFF));
	}
	if (cr.keycol >= 0) {
		const char *kn = visible_col(t, cr.keycol)->name;

		if (spec->has_range) {
			e |= ferry_buf_addstr(&sql, " WHERE ");
			e |= conn_quote_dq(kn, &sql);
			e |= ferry_buf_addf(&sql, " BETWEEN %lld AND %lld", (long long)spec->lo,
				       (long long)spec->hi);
		}
		e |= ferry_buf_addstr(&sql, " ORDER BY ");
		e |= conn_quote_dq(kn, &sql);
	} else {
		/* the full primary key, in key order, when there is one */
		int npk = 0, pos;

		for (i = 0; i < t->ncols; i++)
			if (!t->cols[i].hidden && t->cols[i].pk_pos > npk)
				npk = t->cols[i].pk_pos;
		for (pos = 1; pos <= npk; pos++)
			for (k = 0; k < t->ncols; k++)
				if (!t->cols[k].hidden && t->cols[k].pk_pos == pos) {
					e |= ferry_buf_addstr(&sql, pos == 1 ? " ORDER BY " : ", ");
					e |= conn_quote_dq(t->cols[k].name, &sql);
				}
	}
	e |= ferry_buf_addstr(&sql, ") TO STDOUT (FORMAT binary)");
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
run:
	if ((rc = ferry_batch_init(&b, cr.ncols, maxrows)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	batch_live = 1;
	pg_busy(c, 1);
	res = PQexec(c->pg, sql.buf);
	if (PQresultStatus(res) != PGRES_COPY_OUT) {
		rc = pg_fail(c->pg, res, err, "cannot read table");
		ferry_error_prefix(err, "table '%s'", t->name);
		goto out;
	}
	PQclear(res);
	res = NULL;
	in_copy = 1;
	while ((n = PQgetCopyData(c->pg, &buf, 0)) > 0) {
		rc = parse_copy_msg(&cr, &b, (const unsigned char *)buf, (size_t)n, maxrows,
				    maxbytes, fn, ud, err);
		PQfreemem(buf);
		if (rc != 0)
			goto out;
	}
	in_copy = 0;
	if (n == -2) {
		rc = pg_fail(c->pg, NULL, err, "cannot read COPY data");
		goto out;
	}
	while ((res = PQgetResult(c->pg)) != NULL) {
		if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == 0) {
			rc = pg_fail(c->pg, res, err, "cannot read table");
			ferry_error_prefix(err, "table '%s'", t->name);
		}
		PQclear(res);
	}
	if (rc == 0 && !cr.ended)
		rc = ferry_error_set(err, FERRY_EPARSE,
			"COPY data of table '%s' ended without its trailer", t->name);
	if (rc == 0 && b.nrows)
		rc = fn(&b, ud, err);
out:
	if (in_copy)
		abandon_copy(c->pg);
	pg_busy(c, 0);
	PQclear(res);
	if (batch_live)
		ferry_batch_release(&b);
	ferry_free(cr.types);
	ferry_buf_release(&cr.tmp);
	ferry_buf_release(&sql);
	return rc;
}

static int pg_quote_ident(const char *name, struct ferry_buf *out)
{
	return conn_quote_dq(name, out);
}

static const char *const pg_schemes[] = { "postgres", "postgresql", NULL };

const struct ferry_conn_ops pg_ops = {
	.version = FERRY_CONN_OPS_V3,
	.name = "postgres",
	.schemes = pg_schemes,
	.caps = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_DESCRIBE |
		FERRY_CAP_TXN | FERRY_CAP_DDL | FERRY_CAP_LOCK | FERRY_CAP_KEYRANGE |
		FERRY_CAP_CHECKPOINT | FERRY_CAP_SCHEMAS | FERRY_CAP_HASH_SQL |
		FERRY_CAP_TYPED | FERRY_CAP_QUERY,
	.open = pg_open,
	.close = pg_close,
	.describe = pg_describe,
	.key_range = pg_key_range,
	.read = pg_read,
	.exec = pg_exec,
	.query = pg_query,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.write_open = pg_write_open,
	.write_batch = pg_write_batch,
	.write_close = pg_write_close,
	.quote_ident = pg_quote_ident,
	.content_id = pg_content_id,
	.lock = pg_lock,
	.unlock = pg_unlock,
	/* a bulk load is checkpointed by ferry.progress, not by the WAL flush
	 * of each commit */
	.bulk_session_sql = "SET synchronous_commit TO off",
	.watch_start = pg_watch_start,
	.watch_seen = pg_watch_seen,
	.watch_stop = pg_watch_stop,
	.lock_timeout = pg_lock_timeout,
};
