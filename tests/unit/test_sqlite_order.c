/*
 * test_sqlite_order.c - ordered reads of the SQLite connector
 * (FERRY_CAP_ORDERED, src/lib/connectors/sqlite.c): the boundaries
 * order_bounds draws cut a table read in an index's order into chunks
 * whose concatenation is exactly the whole ordered read, with ties on the
 * index columns, integers and reals mixed in one column, empty and
 * non-ASCII text, text holding a NUL, a row-key cap; indexes that cannot
 * order a read are refused; a malformed bound is an error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/registry.h"
#include "ferry/error.h"
#include "ferry/model.h"

static char dbpath[512];

static void exec_sql(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/ferry-sqorder-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(dbpath, sizeof(dbpath), "%s/o.db", tmpl);
	/* 20000 rows: 37 names (a few with NUL, empty, UTF-8), values that tie
	 * often and mix integers and reals */
	exec_sql("CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT NOT NULL, v REAL NOT NULL, "
		 "note TEXT, n2 TEXT);"
		 "CREATE INDEX t_name_v ON t(name, v);"
		 "CREATE INDEX t_note ON t(note);"
		 "CREATE INDEX t_desc ON t(name DESC);"
		 "CREATE INDEX t_nocase ON t(name COLLATE NOCASE);"
		 "CREATE INDEX t_expr ON t(lower(name));"
		 "CREATE INDEX t_part ON t(name) WHERE v > 0;"
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
		 "INSERT INTO t SELECT i, "
		 "  CASE i % 37 WHEN 0 THEN '' WHEN 1 THEN 'caf' || char(233) "
		 "  WHEN 2 THEN CAST(x'61006200' AS TEXT) ELSE 'sensor.' || (i % 37) END, "
		 "  CASE WHEN i % 3 = 0 THEN (i / 7) ELSE (i / 7) + 0.5 END, "
		 "  'n' || i, NULL FROM n;"
		 /* a gap in the rowids and rows past the cap */
		 "DELETE FROM t WHERE id BETWEEN 5000 AND 6999;");
	return 0;
}

static int teardown(void **state)
{
	char dir[512];

	(void)state;
	unlink(dbpath);
	snprintf(dir, sizeof(dir), "%s", dbpath);
	*strrchr(dir, '/') = '\0';
	rmdir(dir);
	return 0;
}

struct keys {
	int64_t *v;
	size_t n, cap;
};

static int collect(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct keys *k = ud;
	size_t i;

	(void)err;
	for (i = 0; i < b->nrows; i++) {
		if (k->n == k->cap) {
			k->cap = k->cap ? 2 * k->cap : 1024;
			k->v = realloc(k->v, k->cap * sizeof(*k->v));
			assert_non_null(k->v);
		}
		k->v[k->n++] = b->keys[i];
	}
	return 0;
}

static ferry_conn *open_src(struct ferry_catalog **cat, const struct ferry_table **t)
{
	char url[600];
	ferry_conn *c = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;

	snprintf(url, sizeof(url), "sqlite://%s", dbpath);
	assert_int_equal(ferry_conn_open(url, FERRY_OPEN_READONLY, &c, &err), 0);
	assert_true(ferry_conn_ops_of(c)->caps & FERRY_CAP_ORDERED);
	assert_int_equal(ferry_conn_ops_of(c)->describe(c, NULL, cat, &err), 0);
	*t = ferry_catalog_find(*cat, "t");
	assert_non_null(*t);
	return c;
}

static void read_range(ferry_conn *c, const struct ferry_table *t, const char *index,
		       int64_t cap, const char *lo, const char *hi, size_t batch, struct keys *out)
{
	struct ferry_read_spec rs;
	struct ferry_error err = FERRY_ERROR_INIT;

	memset(&rs, 0, sizeof(rs));
	rs.table = t;
	rs.has_range = 1;
	rs.hi = cap;
	rs.batch_rows = batch;
	rs.order = index;
	rs.key_lo = lo;
	rs.key_hi = hi;
	if (ferry_conn_ops_of(c)->read(c, &rs, collect, out, &err) != 0)
		fail_msg("ordered read: %s", err.msg);
}

/* every cut equals the whole ordered read, for several chunk counts */
static void test_chunks_equal_whole(void **state)
{
	struct ferry_catalog *cat;
	const struct ferry_table *t;
	ferry_conn *c = open_src(&cat, &t);
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(c);
	struct keys whole = { 0 };
	int64_t caps[] = { 20000, 15000, 4321 };
	int64_t ns[] = { 2, 3, 7, 50, 400 };
	size_t ci, ni, i;

	(void)state;
	for (ci = 0; ci < sizeof(caps) / sizeof(caps[0]); ci++) {
		sqlite3 *db;
		sqlite3_stmt *st;

		/* the reference: SQLite's own ORDER BY, without the index */
		whole.n = 0;
		assert_int_equal(sqlite3_open(dbpath, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM t NOT INDEXED WHERE id <= ?1 "
						    "ORDER BY name, v, id", -1, &st, NULL), SQLITE_OK);
		sqlite3_bind_int64(st, 1, caps[ci]);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (whole.n == whole.cap) {
				whole.cap = whole.cap ? 2 * whole.cap : 1024;
				whole.v = realloc(whole.v, whole.cap * sizeof(*whole.v));
			}
			whole.v[whole.n++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
		sqlite3_close(db);
		{
			struct keys one = { 0 };

			read_range(c, t, "t_name_v", caps[ci], NULL, NULL, 333, &one);
			assert_int_equal(one.n, whole.n);
			assert_memory_equal(one.v, whole.v, whole.n * sizeof(int64_t));
			free(one.v);
		}
		for (ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++) {
			struct ferry_buf b = FERRY_BUF_INIT;
			struct ferry_error err = FERRY_ERROR_INIT;
			struct keys got = { 0 };
			char *prev = NULL, *line, *nl;
			size_t nb = 0;

			assert_int_equal(ops->order_bounds(c, t, "t_name_v", caps[ci], ns[ni], &b, &err),
					 0);
			for (line = b.buf; b.len && (nl = strchr(line, '\n')); line = nl + 1) {
				*nl = '\0';
				assert_null(strchr(line, ' '));
				read_range(c, t, "t_name_v", caps[ci], prev, line, 97, &got);
				prev = line;
				nb++;
			}
			read_range(c, t, "t_name_v", caps[ci], prev, NULL, 97, &got);
			assert_true(nb + 1 <= (size_t)ns[ni]);
			if (ns[ni] <= 50)
				assert_true(nb + 1 >= (size_t)ns[ni] / 2);  /* the sample found cuts */
			assert_int_equal(got.n, whole.n);
			for (i = 0; i < whole.n; i++)
				if (got.v[i] != whole.v[i])
					fail_msg("cap %lld, %lld chunks: row %zu is %lld, want %lld",
						 (long long)caps[ci], (long long)ns[ni], i,
						 (long long)got.v[i], (long long)whole.v[i]);
			free(got.v);
			ferry_buf_release(&b);
		}
	}
	free(whole.v);
	ferry_catalog_free(cat);
	ferry_conn_close(c);
}

/* indexes a read cannot follow: nullable, DESC, NOCASE, expression,
 * partial, unknown; and a malformed bound */
static void test_refused(void **state)
{
	struct ferry_catalog *cat;
	const struct ferry_table *t;
	ferry_conn *c = open_src(&cat, &t);
	const struct ferry_conn_ops *ops = ferry_conn_ops_of(c);
	const char *bad[] = { "t_note", "t_desc", "t_nocase", "t_expr", "t_part", "nope" };
	const char *malformed[] = { "x1", "i1", "t6,r1,i1", "tzz,r0000000000000000,i1",
				    "t61,r00,i1", "t61,r0000000000000000,i1,i2" };
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_read_spec rs;
	struct keys got = { 0 };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ferry_buf b = FERRY_BUF_INIT;

		assert_int_equal(ops->order_bounds(c, t, bad[i], 20000, 4, &b, &err), 1);
		assert_int_equal(b.len, 0);
		ferry_buf_release(&b);
	}
	memset(&rs, 0, sizeof(rs));
	rs.table = t;
	rs.order = "t_note";
	assert_true(ops->read(c, &rs, collect, &got, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot order a read"));
	rs.order = "t_name_v";
	for (i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		ferry_error_clear(&err);
		rs.key_lo = malformed[i];
		assert_true(ops->read(c, &rs, collect, &got, &err) < 0);
		assert_non_null(strstr(err.msg, "malformed bound"));
	}
	assert_int_equal(got.n, 0);
	ferry_catalog_free(cat);
	ferry_conn_close(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunks_equal_whole),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
