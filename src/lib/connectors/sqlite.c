/*
 * sqlite.c - the SQLite connector: source (catalog + rowid-range reads
 * straight from sqlite3_column_* into batches) and target (prepared
 * INSERTs inside the caller's transaction); for ferry migrate also
 * parameterised queries, scripts run statement by statement, the lock
 * (a lock file) and the online backup (snapshot).
 *
 * Reads never re-parse values: each cell takes the storage class SQLite
 * reports, and the copy transform decides what that means for the
 * target column.  The catalog (describe) is sqlite_describe.c's.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/conn_int.h"
#include "connectors/sqlite_int.h"
#include "ferry/alloc.h"
#include "ferry/connector.h"
#include "ferry/hash.h"
#include "model/value.h"
#include "ferry/log.h"

/* How long a statement waits for another connection's lock on the file
 * by default: an application may hold a write lock for a while. */
#define SQ_BUSY_MS 120000

struct ferry_writer {
	struct ferry_conn *c;
	sqlite3_stmt *ins;
	size_t ncols;
	int *types;
};

int sq_err(struct ferry_conn *c, struct ferry_error *err, int code,
	   const char *what)
{
	ferry_error_set(err, code, "%s: %s", what,
			c->db ? sqlite3_errmsg(c->db) : "no database");
	if (c->db)
		ferry_error_origin(err, "sqlite %d", sqlite3_extended_errcode(c->db));
	return code;
}

static int sq_open(const ferry_url *url, unsigned flags, ferry_conn **out,
		   struct ferry_error *err)
{
	struct ferry_conn *c;
	int oflags, rc;

	if (!url->path || !url->path[0])
		return ferry_error_set(err, FERRY_EUSAGE,
			"sqlite url has no path: use sqlite:///abs/path.db or sqlite:rel/path.db");
	if (!(flags & FERRY_OPEN_EMPTY) && strcmp(url->path, ":memory:") &&
	    access(url->path, F_OK) < 0 && errno == ENOENT) {
		/* SQLite's "unable to open database file" does not say why;
		 * and sqlite:///x.db (absolute) when ./x.db exists is a typo
		 * that would create an empty database where none was meant */
		struct ferry_buf hint = FERRY_BUF_INIT;

		ferry_url_sqlite_hint(url->path, &hint);
		rc = 0;
		if (!(flags & FERRY_OPEN_CREATE))
			rc = ferry_error_set(err, hint.len ? FERRY_EUSAGE : FERRY_ENOTFOUND,
				"cannot open sqlite database '%s': it does not exist%s",
				url->path, hint.buf);
		else if (hint.len)
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"will not create sqlite database '%s'%s; to create it there anyway, create the empty file first (touch '%s')",
				url->path, hint.buf, url->path);
		ferry_buf_release(&hint);
		if (rc < 0)
			return rc;
	}
	c = ferry_calloc(1, sizeof(*c));
	if (!c)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	c->path = ferry_strdup(url->path);
	c->lock_fd = -1;
	if (!c->path) {
		ferry_free(c);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	if (flags & FERRY_OPEN_READONLY)
		oflags = SQLITE_OPEN_READONLY;
	else
		oflags = SQLITE_OPEN_READWRITE |
			 ((flags & FERRY_OPEN_CREATE) ? SQLITE_OPEN_CREATE : 0);
	/* FERRY_OPEN_EMPTY: the empty database a missing file would be */
	rc = sqlite3_open_v2((flags & FERRY_OPEN_EMPTY) ? ":memory:" : url->path, &c->db,
			     oflags | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot open sqlite database '%s': %s",
				     url->path, c->db ? sqlite3_errmsg(c->db)
						      : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(c->db, SQ_BUSY_MS);
	sqlite3_extended_result_codes(c->db, 1);
	/* Touch the schema now so a non-database file fails here, clearly. */
	rc = sqlite3_exec(c->db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot read sqlite database '%s': %s",
				     url->path, sqlite3_errmsg(c->db));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	sqlite3_close(c->db);
	ferry_free(c->path);
	ferry_free(c);
	return rc;
}

static void sq_close(ferry_conn *c)
{
	if (!c)
		return;
	if (c->lock_fd >= 0)
		close(c->lock_fd);  /* drops the flock */
	sqlite3_close(c->db);
	ferry_free(c->path);
	ferry_free(c);
}

/* ---- read -------------------------------------------------------------- */

/* SELECT of a rowid table's smallest and largest rowid (and its row
 * count): separate subqueries, because min and max are seeks and count(*)
 * alone counts the smallest b-tree's cells, where one SELECT of all three
 * decodes every row (0.6 s at 5M rows). */
static int range_sql(struct ferry_buf *sql, const char *table, int with_count)
{
	int e = 0;

	e |= ferry_buf_addstr(sql, "SELECT (SELECT min(rowid) FROM ");
	e |= conn_quote_dq(table, sql);
	e |= ferry_buf_addstr(sql, "), (SELECT max(rowid) FROM ");
	e |= conn_quote_dq(table, sql);
	if (with_count) {
		e |= ferry_buf_addstr(sql, "), (SELECT count(*) FROM ");
		e |= conn_quote_dq(table, sql);
	}
	e |= ferry_buf_addch(sql, ')');
	return e;
}

static int sq_key_range(ferry_conn *c, const struct ferry_table *t, int64_t *lo,
			int64_t *hi, int64_t *count, struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	sqlite3_stmt *st = NULL;
	int rc = 0, e = 0;

	if (t->query)
		return sq_query_key_range(c, t, lo, hi, count, err);
	if (t->without_rowid) {
		e |= ferry_buf_addstr(&sql, "SELECT 0, 0, count(*) FROM ");
		e |= conn_quote_dq(t->name, &sql);
	} else {
		e |= range_sql(&sql, t->name, 1);
	}
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot count rows");
		goto out;
	}
	*lo = sqlite3_column_int64(st, 0);
	*hi = sqlite3_column_int64(st, 1);
	*count = sqlite3_column_int64(st, 2);
out:
	sqlite3_finalize(st);
	ferry_buf_release(&sql);
	return rc;
}

/* ---- ordered reads ------------------------------------------------------ */

static void free_cols(char **cols, size_t n)
{
	while (n)
		ferry_free(cols[--n]);
	ferry_free(cols);
}

/*
 * A read can follow an index when its parts are plain columns, ascending,
 * compared with BINARY (the index's collation and the column's own, which
 * a WHERE comparison uses), NOT NULL (a row value holding a NULL compares
 * as NULL, so such a row would fall out of every chunk), and the index is
 * not partial.  The order is then (parts..., rowid): total, and exactly
 * what row-value comparisons against bounds taken from the index see.
 * Fills *cols (names, freed by the caller); returns 1 when the index does
 * not qualify.
 */
static int order_cols(struct ferry_conn *c, const struct ferry_table *t,
		      const char *index, char ***cols, size_t *n, struct ferry_error *err)
{
	sqlite3_stmt *il = NULL, *ix = NULL;
	size_t cap = 0;
	int rc = 1, step;

	*cols = NULL;
	*n = 0;
	if (t->without_rowid)
		return 1;
	if (sqlite3_prepare_v2(c->db, "SELECT partial FROM pragma_index_list(?1) WHERE name = ?2",
			       -1, &il, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db, "SELECT cid, name, \"desc\", coll FROM "
			       "pragma_index_xinfo(?1) WHERE key ORDER BY seqno", -1, &ix,
			       NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read indexes");
		goto out;
	}
	sqlite3_bind_text(il, 1, t->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(il, 2, index, -1, SQLITE_STATIC);
	if (sqlite3_step(il) != SQLITE_ROW || sqlite3_column_int(il, 0))
		goto out;  /* not an index of t, or partial */
	sqlite3_bind_text(ix, 1, index, -1, SQLITE_STATIC);
	while ((step = sqlite3_step(ix)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(ix, 1);
		const char *coll = (const char *)sqlite3_column_text(ix, 3);
		const char *ccoll = NULL;
		int notnull = 0;

		if (sqlite3_column_int(ix, 0) < 0 || !name || sqlite3_column_int(ix, 2) ||
		    !coll || strcasecmp(coll, "BINARY"))
			goto out;
		if (sqlite3_table_column_metadata(c->db, NULL, t->name, name, NULL, &ccoll,
						  &notnull, NULL, NULL) != SQLITE_OK ||
		    !notnull || !ccoll || strcasecmp(ccoll, "BINARY"))
			goto out;
		if (FERRY_GROW(*cols, cap, *n + 1) < 0 || !((*cols)[*n] = ferry_strdup(name))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		(*n)++;
	}
	if (step == SQLITE_DONE && *n > 0)
		rc = 0;
out:
	sqlite3_finalize(il);
	sqlite3_finalize(ix);
	if (rc != 0) {
		free_cols(*cols, *n);
		*cols = NULL;
		*n = 0;
	}
	return rc;
}

/* "c1", "c2", rowid */
static int order_list(struct ferry_buf *b, char **cols, size_t n)
{
	size_t i;
	int e = 0;

	for (i = 0; i < n; i++) {
		e |= conn_quote_dq(cols[i], b);
		e |= ferry_buf_addstr(b, ", ");
	}
	e |= ferry_buf_addstr(b, "rowid");
	return e;
}

static const char hexd[] = "0123456789abcdef";

static int key_hex(struct ferry_buf *b, const unsigned char *p, size_t n)
{
	size_t i;
	int e = 0;

	for (i = 0; i < n; i++) {
		e |= ferry_buf_addch(b, hexd[p[i] >> 4]);
		e |= ferry_buf_addch(b, hexd[p[i] & 15]);
	}
	return e;
}

/* Columns 0..n-1 of st as a key: one token per value, joined by ','
 * (i<integer>, r<16 hex digits of the double>, t<hex>, b<hex>, n). */
static int key_encode(struct ferry_buf *b, sqlite3_stmt *st, int n)
{
	int k, e = 0;

	for (k = 0; k < n; k++) {
		if (k)
			e |= ferry_buf_addch(b, ',');
		switch (sqlite3_column_type(st, k)) {
		case SQLITE_INTEGER:
			e |= ferry_buf_addf(b, "i%lld", (long long)sqlite3_column_int64(st, k));
			break;
		case SQLITE_FLOAT: {
			double d = sqlite3_column_double(st, k);
			uint64_t u;

			memcpy(&u, &d, sizeof(u));
			e |= ferry_buf_addf(b, "r%016llx", (unsigned long long)u);
			break;
		}
		case SQLITE_TEXT:
			e |= ferry_buf_addch(b, 't');
			e |= key_hex(b, sqlite3_column_text(st, k), (size_t)sqlite3_column_bytes(st, k));
			break;
		case SQLITE_BLOB:
			e |= ferry_buf_addch(b, 'b');
			e |= key_hex(b, sqlite3_column_blob(st, k), (size_t)sqlite3_column_bytes(st, k));
			break;
		default:
			e |= ferry_buf_addch(b, 'n');
		}
	}
	return e;
}

/* Bind the n values of key to parameters first..first+n-1; -1 when key is
 * not n well-formed tokens. */
static int key_bind(sqlite3_stmt *st, int first, const char *key, size_t n,
		    struct ferry_buf *scratch)
{
	struct ferry_key_token t;
	const char *p = key;
	size_t k;

	for (k = 0; k < n; k++) {
		int at = first + (int)k;

		if (ferry_key_token(&p, k + 1 == n, &t, scratch) < 0)
			return -1;
		switch (t.kind) {
		case FERRY_V_INT:
			sqlite3_bind_int64(st, at, t.i);
			break;
		case FERRY_V_REAL:
			sqlite3_bind_double(st, at, t.d);
			break;
		case FERRY_V_TEXT:
			sqlite3_bind_text(st, at, t.bytes, (int)t.n, SQLITE_TRANSIENT);
			break;
		case FERRY_V_BLOB:
			sqlite3_bind_blob(st, at, t.bytes, (int)t.n, SQLITE_TRANSIENT);
			break;
		default:
			sqlite3_bind_null(st, at);
		}
	}
	return 0;
}

/*
 * The boundaries come from a sample, not a scan of the index: every
 * (count / 8n)-th rowid up to cap, sorted by SQLite in the index's order,
 * cut at its n-quantiles.  Chunks come out within a few percent of equal
 * for a few hundred lookups, where reading the whole index took 0.6 s at
 * 5M rows.  The cut is a function of the data, so every connection that
 * asks gets the same one; copy stores it with the job anyway.
 */
static int sq_order_bounds(ferry_conn *c, const struct ferry_table *t, const char *index,
			   int64_t cap, int64_t nchunks, struct ferry_buf *out,
			   struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	char **cols = NULL, **keys = NULL;
	size_t ncols = 0, nkeys = 0, kcap = 0, i;
	sqlite3_stmt *st = NULL;
	int64_t lo = 0, hi = 0, step, want;
	int rc, s, e = 0;

	if ((rc = order_cols(c, t, index, &cols, &ncols, err)) != 0)
		return rc;
	if (nchunks < 2)
		goto out;
	if (range_sql(&sql, t->name, 0) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot sample an index");
		goto out;
	}
	lo = sqlite3_column_int64(st, 0);
	hi = sqlite3_column_int64(st, 1);
	sqlite3_finalize(st);
	st = NULL;
	ferry_buf_clear(&sql);
	if (hi > cap)
		hi = cap;
	want = nchunks * 8;
	step = hi >= lo ? (hi - lo) / want + 1 : 1;
	e |= ferry_buf_addstr(&sql, "WITH RECURSIVE s(x) AS (VALUES(?1) UNION ALL SELECT x + ?2 FROM s "
			 "WHERE x + ?2 <= ?3) SELECT ");
	e |= order_list(&sql, cols, ncols);
	e |= ferry_buf_addstr(&sql, " FROM ");
	e |= conn_quote_dq(t->name, &sql);
	e |= ferry_buf_addstr(&sql, " WHERE rowid IN s ORDER BY ");
	e |= order_list(&sql, cols, ncols);
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot sample an index");
		goto out;
	}
	sqlite3_bind_int64(st, 1, lo);
	sqlite3_bind_int64(st, 2, step);
	sqlite3_bind_int64(st, 3, hi);
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		ferry_buf_clear(&key);
		if (key_encode(&key, st, (int)ncols + 1) < 0 ||
		    FERRY_GROW(keys, kcap, nkeys + 1) < 0 ||
		    !(keys[nkeys] = ferry_strdup(key.buf))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		nkeys++;
	}
	if (s != SQLITE_DONE) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot sample an index");
		goto out;
	}
	for (i = 1; i < (size_t)nchunks; i++) {
		size_t at = i * nkeys / (size_t)nchunks;

		if (at == 0 || (i > 1 && at == (i - 1) * nkeys / (size_t)nchunks))
			continue;
		e |= ferry_buf_addstr(out, keys[at]);
		e |= ferry_buf_addch(out, '\n');
	}
	if (e < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	sqlite3_finalize(st);
	for (i = 0; i < nkeys; i++)
		ferry_free(keys[i]);
	ferry_free(keys);
	free_cols(cols, ncols);
	ferry_buf_release(&sql);
	ferry_buf_release(&key);
	return rc;
}

/* The statement of an ordered read (see ferry_read_spec). */
static int ordered_stmt(struct ferry_conn *c, const struct ferry_read_spec *spec,
			struct ferry_buf *sql, sqlite3_stmt **st, struct ferry_error *err)
{
	const struct ferry_table *t = spec->table;
	struct ferry_buf scratch = FERRY_BUF_INIT;
	char **cols = NULL;
	size_t ncols = 0, i;
	int rc, at = 1, e = 0;

	if ((rc = order_cols(c, t, spec->order, &cols, &ncols, err)) != 0) {
		if (rc > 0)
			rc = ferry_error_set(err, FERRY_EINVAL,
				"index '%s' of table '%s' cannot order a read (it is gone, "
				"or it now has an expression, a collation or a column that "
				"allows NULL)", spec->order, t->name);
		return rc;
	}
	e |= ferry_buf_addstr(sql, " FROM ");
	e |= conn_quote_dq(t->name, sql);
	e |= ferry_buf_addstr(sql, " INDEXED BY ");
	e |= conn_quote_dq(spec->order, sql);
	e |= ferry_buf_addstr(sql, " WHERE 1");
	if (spec->has_range)
		e |= ferry_buf_addf(sql, " AND rowid <= ?%d", at++);
	for (i = 0; i < 2; i++) {
		const char *k = i ? spec->key_hi : spec->key_lo;
		size_t j;

		if (!k)
			continue;
		e |= ferry_buf_addstr(sql, " AND (");
		e |= order_list(sql, cols, ncols);
		e |= ferry_buf_addstr(sql, i ? ") < (" : ") >= (");
		for (j = 0; j <= ncols; j++)
			e |= ferry_buf_addf(sql, "%s?%d", j ? ", " : "", at + (int)(i * (ncols + 1) + j));
		e |= ferry_buf_addch(sql, ')');
	}
	e |= ferry_buf_addstr(sql, " ORDER BY ");
	e |= order_list(sql, cols, ncols);
	if (e < 0 || ferry_buf_error(sql)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql->buf, -1, st, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read table");
		goto out;
	}
	if (spec->has_range)
		sqlite3_bind_int64(*st, 1, spec->hi);
	for (i = 0; i < 2; i++) {
		const char *k = i ? spec->key_hi : spec->key_lo;

		if (k && key_bind(*st, at + (int)(i * (ncols + 1)), k, ncols + 1, &scratch) < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"malformed bound '%.60s' of an ordered read of table '%s'", k, t->name);
			goto out;
		}
	}
out:
	ferry_buf_release(&scratch);
	free_cols(cols, ncols);
	return rc;
}

/* One value of a row into its cell: the text and blob bytes copied into
 * the batch's arena (SQLite's are gone at the next step).  0, or
 * FERRY_ENOMEM. */
static int take_cell(struct ferry_batch *b, struct ferry_cell *cell, sqlite3_value *v)
{
	switch (sqlite3_value_type(v)) {
	case SQLITE_INTEGER:
		cell->kind = FERRY_V_INT;
		cell->v.i = sqlite3_value_int64(v);
		return 0;
	case SQLITE_FLOAT:
		cell->kind = FERRY_V_REAL;
		cell->v.d = sqlite3_value_double(v);
		return 0;
	case SQLITE_TEXT: {
		const unsigned char *s = sqlite3_value_text(v);

		return ferry_cell_set_bytes(b, cell, FERRY_V_TEXT, s, (size_t)sqlite3_value_bytes(v));
	}
	case SQLITE_BLOB: {
		const void *s = sqlite3_value_blob(v);

		return ferry_cell_set_bytes(b, cell, FERRY_V_BLOB, s, (size_t)sqlite3_value_bytes(v));
	}
	default:
		cell->kind = FERRY_V_NULL;
		return 0;
	}
}

/* A read in progress: the batch being filled, and where it goes. */
struct sq_reader {
	const struct ferry_table *t;
	struct ferry_batch b;
	size_t ncols, maxrows, maxbytes;
	const unsigned char *skip;   /* columns selected as NULL, or NULL */
	int keyed;
	int64_t ordinal;
	ferry_batch_fn fn;
	void *ud;
	struct ferry_error *err;
	int rc;                      /* set when a row could not be taken */
};

/* Row key (v[0]) and cells (v[1..ncols]) into the batch; hands the batch
 * to the reader's fn when it is full.  0, or an error code in rd->rc
 * (and rd->err). */
static int take_row(struct sq_reader *rd, sqlite3_value **v)
{
	struct ferry_batch *b = &rd->b;
	struct ferry_cell *row = &b->cells[b->nrows * rd->ncols];
	size_t i;
	int rc;

	b->keys[b->nrows] = rd->keyed ? sqlite3_value_int64(v[0]) : ++rd->ordinal;
	for (i = 0; i < rd->ncols; i++) {
		if (rd->skip && rd->skip[i]) {
			/* selected as NULL: 20 API calls a row cost more than
			 * the pre-scan's own work on the recorder's states */
			row[i].kind = FERRY_V_NULL;
			continue;
		}
		if ((rc = take_cell(b, &row[i], v[i + 1])) < 0) {
			rd->rc = ferry_error_set(rd->err, rc,
						 "cannot buffer a value of table '%s' (row %lld)",
						 rd->t->name, (long long)b->keys[b->nrows]);
			return rd->rc;
		}
	}
	b->nrows++;
	if (b->nrows == rd->maxrows || b->arena.len >= rd->maxbytes) {
		if ((rc = rd->fn(b, rd->ud, rd->err)) != 0)
			return rd->rc = rc;
		ferry_batch_clear(b);
	}
	return 0;
}

/*
 * The statement's rows reach take_row as the arguments of this function
 * (SELECT ferry_take_row(rowid, a, b, ...) FROM ...) rather than through
 * sqlite3_column_value: that call costs the statement's checks again for
 * every cell.  Reading wide's 5M rows of 10 columns: 2.38-2.65 s of CPU
 * by column, 1.92-2.01 s through the function.  An error stops the
 * statement; its code and message are the reader's.
 */
static void take_row_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	struct sq_reader *rd = sqlite3_user_data(ctx);

	(void)argc;
	if (take_row(rd, argv) < 0 || rd->rc)
		sqlite3_result_error(ctx, "ferry: the read stopped", -1);
}

static int sq_read(ferry_conn *c, const struct ferry_read_spec *spec,
		   ferry_batch_fn fn, void *ud, struct ferry_error *err)
{
	const struct ferry_table *t = spec->table;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct sq_reader rd;
	sqlite3_stmt *st = NULL;
	size_t i, k, ncols = 0;
	int rc = 0, step, e = 0, by_fn = 0;

	memset(&rd, 0, sizeof(rd));
	rd.t = t;
	rd.maxrows = spec->batch_rows ? spec->batch_rows : 10000;
	rd.maxbytes = spec->batch_bytes ? spec->batch_bytes : (8u << 20);
	rd.keyed = !t->without_rowid;
	rd.fn = fn;
	rd.ud = ud;
	rd.err = err;
	if (t->query) {
		if ((rc = ferry_batch_init(&rd.b, t->ncols, rd.maxrows)) < 0)
			return ferry_error_set(err, rc, "out of memory");
		rd.ncols = t->ncols;
		if ((rc = sq_query_stmt(c, spec, &st, &rd.keyed, err)) < 0)
			goto out;
		goto rows;
	}
	rd.skip = spec->unread;
	for (i = 0; i < t->ncols; i++)
		ncols += !t->cols[i].hidden;
	rd.ncols = ncols;
	/* a function takes at most SQLITE_LIMIT_FUNCTION_ARG arguments (127
	 * in most builds): a wider table is read column by column */
	by_fn = ncols + 1 <= (size_t)sqlite3_limit(c->db, SQLITE_LIMIT_FUNCTION_ARG, -1);
	if (by_fn && sqlite3_create_function(c->db, "ferry_take_row", -1,
					     SQLITE_UTF8 | SQLITE_DIRECTONLY, &rd, take_row_fn,
					     NULL, NULL) != SQLITE_OK)
		by_fn = 0;
	e |= ferry_buf_addstr(&sql, by_fn ? "SELECT ferry_take_row(" : "SELECT ");
	e |= ferry_buf_addstr(&sql, rd.keyed ? "rowid" : "NULL");
	for (i = 0, k = 0; i < t->ncols; i++) {
		if (t->cols[i].hidden)
			continue;
		e |= ferry_buf_addstr(&sql, ", ");
		/* SQLite decodes a record's fields only up to the last one a
		 * statement reads: NULL in place of a blob is never copied */
		if (rd.skip && rd.skip[k])
			e |= ferry_buf_addstr(&sql, "NULL");
		else
			e |= conn_quote_dq(t->cols[i].name, &sql);
		k++;
	}
	if (by_fn)
		e |= ferry_buf_addch(&sql, ')');
	if ((rc = ferry_batch_init(&rd.b, ncols, rd.maxrows)) < 0) {
		ferry_buf_release(&sql);
		return ferry_error_set(err, rc, "out of memory");
	}
	if (spec->order) {
		if ((rc = ordered_stmt(c, spec, &sql, &st, err)) < 0)
			goto out;
		goto rows;
	}
	e |= ferry_buf_addstr(&sql, " FROM ");
	e |= conn_quote_dq(t->name, &sql);
	if (rd.keyed && spec->has_range)
		e |= ferry_buf_addstr(&sql, " WHERE rowid BETWEEN ?1 AND ?2");
	if (rd.keyed)
		e |= ferry_buf_addstr(&sql, " ORDER BY rowid");
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &st, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read table");
		goto out;
	}
	if (rd.keyed && spec->has_range) {
		sqlite3_bind_int64(st, 1, spec->lo);
		sqlite3_bind_int64(st, 2, spec->hi);
	}
rows:
	if (by_fn) {
		while ((step = sqlite3_step(st)) == SQLITE_ROW)
			;
	} else {
		sqlite3_value **vp = ferry_calloc(rd.ncols + 1, sizeof(*vp));

		if (!vp) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		/* one column_* call a cell: each costs the statement's checks
		 * again, the value_* calls on its value do not (the
		 * connection is this thread's, NOMUTEX) */
		while ((step = sqlite3_step(st)) == SQLITE_ROW) {
			for (i = 0; i <= rd.ncols; i++)
				vp[i] = (i && rd.skip && rd.skip[i - 1]) ? NULL :
					sqlite3_column_value(st, (int)i);
			if (take_row(&rd, vp) < 0 || rd.rc)
				break;
		}
		ferry_free(vp);
	}
	if (rd.rc) {
		rc = rd.rc;
		goto out;
	}
	if (step != SQLITE_DONE) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot read table");
		goto out;
	}
	if (rd.b.nrows)
		rc = fn(&rd.b, ud, err);
out:
	sqlite3_finalize(st);
	if (by_fn)
		sqlite3_create_function(c->db, "ferry_take_row", -1, SQLITE_UTF8, NULL, NULL,
					NULL, NULL);
	ferry_batch_release(&rd.b);
	ferry_buf_release(&sql);
	return rc;
}

/* ---- write ------------------------------------------------------------- */

static int sq_exec(ferry_conn *c, const char *sql, struct ferry_error *err)
{
	char *msg = NULL;

	if (sqlite3_exec(c->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ferry_error_set(err, FERRY_ESQL, "%s", msg ? msg : "sqlite error");
		ferry_error_origin(err, "sqlite %d", sqlite3_extended_errcode(c->db));
		sqlite3_free(msg);
		return FERRY_ESQL;
	}
	return 0;
}

static int sq_query(ferry_conn *c, const char *sql, const char *const *params,
		    int nparams, ferry_row_fn fn, void *ud, struct ferry_error *err)
{
	sqlite3_stmt *st = NULL;
	const char **vals = NULL;
	int rc = 0, step, i, nc;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sq_err(c, err, FERRY_ESQL, "query failed");
	for (i = 0; i < nparams; i++)
		if ((params[i] ? sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_TRANSIENT) :
				 sqlite3_bind_null(st, i + 1)) != SQLITE_OK) {
			rc = sq_err(c, err, FERRY_ESQL, "query failed");
			goto out;
		}
	nc = sqlite3_column_count(st);
	if (!(vals = ferry_calloc(nc ? (size_t)nc : 1, sizeof(*vals)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		if (!fn)
			continue;
		for (i = 0; i < nc; i++)
			vals[i] = (const char *)sqlite3_column_text(st, i);
		if ((rc = fn(ud, nc, vals, err)) != 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = sq_err(c, err, FERRY_ESQL, "query failed");
out:
	ferry_free(vals);
	sqlite3_finalize(st);
	return rc;
}

/*
 * A script statement by statement, each in autocommit as sqlite3_exec
 * would run it, counting those that took effect; SQLite's own parser
 * finds the ends (a trigger body holds semicolons).
 */
static int sq_exec_each(ferry_conn *c, const char *sql, size_t *done,
			struct ferry_error *err)
{
	const char *tail = sql;

	*done = 0;
	while (*tail) {
		sqlite3_stmt *st = NULL;
		const char *next = NULL;
		int s;

		if (sqlite3_prepare_v2(c->db, tail, -1, &st, &next) != SQLITE_OK)
			return sq_err(c, err, FERRY_ESQL, "statement failed");
		tail = next;
		if (!st)  /* only whitespace or a comment was left */
			continue;
		while ((s = sqlite3_step(st)) == SQLITE_ROW)
			;
		if (s != SQLITE_DONE) {
			sq_err(c, err, FERRY_ESQL, "statement failed");
			sqlite3_finalize(st);
			return FERRY_ESQL;
		}
		sqlite3_finalize(st);
		++*done;
	}
	return 0;
}

/*
 * The lock: flock() on <db>.ferry-lock, a real cross-process lock the
 * kernel drops when the process dies.  SQLite's own locks cannot serve:
 * they end with each transaction, and a locked run is many.  One lock per
 * database, whatever the key.
 */
static int sq_lock(ferry_conn *c, int64_t key, int *got, struct ferry_error *err)
{
	struct ferry_buf path = FERRY_BUF_INIT;
	int rc = 0;

	(void)key;
	*got = 0;
	if (c->lock_fd < 0) {
		if (ferry_buf_addf(&path, "%s.ferry-lock", c->path) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		c->lock_fd = open(path.buf, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
		if (c->lock_fd < 0) {
			rc = ferry_error_set(err, FERRY_EIO, "cannot open lock file '%s': %s",
					     path.buf, strerror(errno));
			goto out;
		}
	}
	if (flock(c->lock_fd, LOCK_EX | LOCK_NB) == 0)
		*got = 1;
	else if (errno != EWOULDBLOCK && errno != EINTR)
		rc = ferry_error_set(err, FERRY_EIO, "cannot lock '%s.ferry-lock': %s",
				     c->path, strerror(errno));
out:
	if (!*got && c->lock_fd >= 0) {
		close(c->lock_fd);
		c->lock_fd = -1;
	}
	ferry_buf_release(&path);
	return rc;
}

static int sq_unlock(ferry_conn *c, int64_t key, struct ferry_error *err)
{
	(void)key;
	(void)err;
	if (c->lock_fd >= 0) {
		flock(c->lock_fd, LOCK_UN);
		close(c->lock_fd);
		c->lock_fd = -1;
	}
	return 0;
}

static int sq_begin(ferry_conn *c, struct ferry_error *err)
{
	return sq_exec(c, "BEGIN IMMEDIATE", err);
}

static int sq_commit(ferry_conn *c, struct ferry_error *err)
{
	return sq_exec(c, "COMMIT", err);
}

static int sq_rollback(ferry_conn *c, struct ferry_error *err)
{
	return sqlite3_get_autocommit(c->db) ? 0 : sq_exec(c, "ROLLBACK", err);
}

/* SQLite's lock wait is the busy handler's; a connection waits
 * SQ_BUSY_MS by default. */
static int sq_lock_timeout(ferry_conn *c, int64_t ms, struct ferry_error *err)
{
	(void)err;
	sqlite3_busy_timeout(c->db, ms <= 0 ? SQ_BUSY_MS : ms > INT_MAX ? INT_MAX : (int)ms);
	return 0;
}

static int sq_write_open(ferry_conn *c, const struct ferry_write_spec *spec,
			 ferry_writer **out, struct ferry_error *err)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_writer *w;
	size_t i;
	int rc = 0, e = 0;

	w = ferry_calloc(1, sizeof(*w));
	if (!w || !(w->types = ferry_calloc(spec->ncols, sizeof(int)))) {
		ferry_free(w);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	w->c = c;
	w->ncols = spec->ncols;
	memcpy(w->types, spec->types, spec->ncols * sizeof(int));
	e |= ferry_buf_addstr(&sql, "INSERT INTO ");
	e |= conn_quote_dq(spec->table, &sql);
	e |= ferry_buf_addstr(&sql, " (");
	for (i = 0; i < spec->ncols; i++) {
		if (i)
			e |= ferry_buf_addstr(&sql, ", ");
		e |= conn_quote_dq(spec->cols[i], &sql);
	}
	e |= ferry_buf_addstr(&sql, ") VALUES (");
	for (i = 0; i < spec->ncols; i++)
		e |= ferry_buf_addstr(&sql, i ? ", ?" : "?");
	e |= ferry_buf_addch(&sql, ')');
	if (e < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		ferry_free(w->types);
		ferry_free(w);
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, sql.buf, -1, &w->ins, NULL) != SQLITE_OK) {
		rc = sq_err(c, err, FERRY_ESQL, "cannot prepare insert");

		ferry_free(w->types);
		ferry_free(w);
		goto out;
	}
	*out = w;
out:
	ferry_buf_release(&sql);
	return rc;
}

static int bind_cell(struct ferry_writer *w, const struct ferry_batch *b,
		     const struct ferry_cell *cell, int col)
{
	sqlite3_stmt *st = w->ins;
	int k = col + 1, type = w->types[col];
	char tmp[64];

	if (cell->kind == FERRY_V_NULL)
		return sqlite3_bind_null(st, k);
	switch (type) {
	case FERRY_T_FLOAT32:
	case FERRY_T_FLOAT64:
		return sqlite3_bind_double(st, k, cell->v.d);
	case FERRY_T_DATE:
	case FERRY_T_TIMESTAMP:
	case FERRY_T_TIMESTAMPTZ: {
		int64_t us = type == FERRY_T_DATE ? cell->v.i * 86400000000LL : cell->v.i;

		/* PostgreSQL's infinity and -infinity, as PostgreSQL writes them */
		if (type == FERRY_T_DATE ? cell->v.i == INT32_MAX || cell->v.i == INT32_MIN :
		    us == INT64_MAX || us == INT64_MIN)
			return sqlite3_bind_text(st, k, cell->v.i > 0 ? "infinity" : "-infinity",
						 -1, SQLITE_STATIC);
		/* day/microsecond counts since 2000-01-01 the way SQLite's own
		 * date functions write them */
		val_format_timestamp(tmp, sizeof(tmp), us,
				     VAL_TS_PG_EPOCH | (type == FERRY_T_DATE ? VAL_TS_DATE : 0),
				     type == FERRY_T_TIMESTAMPTZ ? "+00:00" : NULL);
		return sqlite3_bind_text(st, k, tmp, -1, SQLITE_TRANSIENT);
	}
	case FERRY_T_TIME: {
		/* microseconds since midnight, written the way SQLite's time()
		 * writes it (plus the microseconds), as the source reads it */
		int64_t us = cell->v.i;

		snprintf(tmp, sizeof(tmp), "%02d:%02d:%02d.%06d", (int)(us / 3600000000LL),
			 (int)(us / 60000000 % 60), (int)(us / 1000000 % 60),
			 (int)(us % 1000000));
		return sqlite3_bind_text(st, k, tmp, -1, SQLITE_TRANSIENT);
	}
	case FERRY_T_BYTES:
	case FERRY_T_UUID:
		return sqlite3_bind_blob(st, k, ferry_cell_bytes(b, cell), (int)cell->len,
					 SQLITE_STATIC);
	default:
		break;
	}
	switch (cell->kind) {
	case FERRY_V_INT:
		return sqlite3_bind_int64(st, k, cell->v.i);
	case FERRY_V_REAL:
		return sqlite3_bind_double(st, k, cell->v.d);
	case FERRY_V_TEXT:
		return sqlite3_bind_text(st, k, ferry_cell_bytes(b, cell), (int)cell->len,
					 SQLITE_STATIC);
	default:
		return sqlite3_bind_blob(st, k, ferry_cell_bytes(b, cell), (int)cell->len,
					 SQLITE_STATIC);
	}
}

static int sq_write_batch(ferry_writer *w, const struct ferry_batch *b,
			  struct ferry_error *err)
{
	size_t r, i;

	for (r = 0; r < b->nrows; r++) {
		if (b->skip[r])
			continue;
		for (i = 0; i < w->ncols; i++)
			bind_cell(w, b, ferry_batch_cell(b, r, i), (int)i);
		if (sqlite3_step(w->ins) != SQLITE_DONE) {
			sq_err(w->c, err, FERRY_ESQL, "cannot insert row");
			sqlite3_reset(w->ins);
			return FERRY_ESQL;
		}
		sqlite3_reset(w->ins);
	}
	return 0;
}

static int sq_write_close(ferry_writer *w, int commit, struct ferry_error *err)
{
	if (!w)
		return 0;
	sqlite3_finalize(w->ins);
	ferry_free(w->types);
	ferry_free(w);
	return 0;
}

static int sq_quote_ident(const char *name, struct ferry_buf *out)
{
	return conn_quote_dq(name, out);
}

/* The online backup API: one consistent state even while an application
 * writes to the database. */
static int sq_snapshot(ferry_conn *c, const char *dest_path, struct ferry_buf *dest_url,
		       struct ferry_error *err)
{
	sqlite3 *dst = NULL;
	sqlite3_backup *bk;
	int rc = 0, step;

	if (sqlite3_open_v2(dest_path, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot open '%s' for the snapshot of '%s'",
				     dest_path, c->path);
		goto out;
	}
	bk = sqlite3_backup_init(dst, "main", c->db, "main");
	if (!bk) {
		rc = ferry_error_set(err, FERRY_EIO, "cannot start the snapshot: %s",
				     sqlite3_errmsg(dst));
		goto out;
	}
	/* all pages in one step: a writer in between cannot force a restart */
	while ((step = sqlite3_backup_step(bk, -1)) == SQLITE_BUSY || step == SQLITE_LOCKED)
		sqlite3_sleep(100);
	if (step != SQLITE_DONE)
		rc = ferry_error_set(err, FERRY_EIO, "snapshot of '%s' failed: %s", c->path,
				     sqlite3_errstr(step));
	sqlite3_backup_finish(bk);
	/* the copy is read by several connections at once and then deleted:
	 * no WAL files beside it */
	if (rc == 0)
		sqlite3_exec(dst, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
	if (rc == 0 && ferry_buf_addf(dest_url, "sqlite://%s", dest_path) < 0)
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
out:
	sqlite3_close(dst);
	if (rc < 0)
		unlink(dest_path);
	return rc;
}

static const char *const sq_schemes[] = { "sqlite", "sqlite3", NULL };
static const char *const sq_sides[] = { "", "-journal", "-wal", "-shm", NULL };

const struct ferry_conn_ops sq_ops = {
	.version = FERRY_CONN_OPS_V3,
	.name = "sqlite",
	.schemes = sq_schemes,
	.caps = FERRY_CAP_READ | FERRY_CAP_WRITE | FERRY_CAP_DESCRIBE |
		FERRY_CAP_TXN | FERRY_CAP_DDL | FERRY_CAP_KEYRANGE | FERRY_CAP_ORDERED |
		FERRY_CAP_LOCK | FERRY_CAP_SNAPSHOT | FERRY_CAP_UNTYPED | FERRY_CAP_FILE |
		FERRY_CAP_QUERY,
	.open = sq_open,
	.close = sq_close,
	.describe = sq_describe,
	.key_range = sq_key_range,
	.read = sq_read,
	.order_bounds = sq_order_bounds,
	.exec = sq_exec,
	.query = sq_query,
	.exec_each = sq_exec_each,
	.begin = sq_begin,
	.commit = sq_commit,
	.rollback = sq_rollback,
	.write_open = sq_write_open,
	.write_batch = sq_write_batch,
	.write_close = sq_write_close,
	.quote_ident = sq_quote_ident,
	.content_id = sq_content_id,
	.lock = sq_lock,
	.unlock = sq_unlock,
	.snapshot = sq_snapshot,
	.file_sides = sq_sides,
	.lock_timeout = sq_lock_timeout,
};
