/*
 * test_sqlite_content.c - the SQLite connector's content id
 * (src/lib/connectors/sqlite.c), what a resumed copy compares with the run
 * that started its job: it changes with a committed change still in the
 * WAL, stays when a checkpoint moves the WAL into the file (also one that
 * shrinks it) and when the WAL goes, ignores frames of a transaction not
 * committed yet, and changes in rollback-journal mode too.
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

static char dir[64], dbpath[128];

static void run(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* The content id a fresh read-only connection sees. */
static void content_id(char *out, size_t cap)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf b = FERRY_BUF_INIT;
	char url[160];
	ferry_conn *c = NULL;

	snprintf(url, sizeof(url), "sqlite://%s", dbpath);
	assert_int_equal(ferry_conn_open(url, FERRY_OPEN_READONLY, &c, &err), 0);
	assert_non_null(ferry_conn_ops_of(c)->content_id);
	assert_int_equal(ferry_conn_ops_of(c)->content_id(c, &b, &err), 0);
	assert_true(b.len > 0 && b.len < cap);
	snprintf(out, cap, "%s", b.buf);
	ferry_buf_release(&b);
	ferry_conn_close(c);
}

static int wal_exists(void)
{
	char p[160];

	snprintf(p, sizeof(p), "%s-wal", dbpath);
	return access(p, F_OK) == 0;
}

static int setup(void **state)
{
	char tmpl[] = "/tmp/ferry-sqcontent-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(tmpl));
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(dbpath, sizeof(dbpath), "%s/c.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char p[160];

	(void)state;
	unlink(dbpath);
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	rmdir(dir);
	return 0;
}

static void fill(sqlite3 *db)
{
	run(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
		"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) "
		"INSERT INTO t SELECT i, 'value ' || i FROM n;");
}

static void test_wal(void **state)
{
	char a[128], b[128], x[128];
	sqlite3 *w, *w2;

	(void)state;
	assert_int_equal(sqlite3_open(dbpath, &w), SQLITE_OK);
	run(w, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0");
	fill(w);
	run(w, "PRAGMA wal_checkpoint(TRUNCATE)");
	content_id(a, sizeof(a));
	content_id(x, sizeof(x));
	assert_string_equal(a, x);

	/* a committed change that sits in the WAL: the file is as before */
	run(w, "UPDATE t SET v = 'valuE 7' WHERE id = 7");
	assert_true(wal_exists());
	content_id(b, sizeof(b));
	assert_string_not_equal(a, b);

	/* the frames of a transaction not committed do not count */
	assert_int_equal(sqlite3_open(dbpath, &w2), SQLITE_OK);
	run(w2, "PRAGMA cache_size=2; BEGIN; UPDATE t SET v = v || 'x'");
	content_id(x, sizeof(x));
	assert_string_equal(x, b);
	run(w2, "ROLLBACK");
	sqlite3_close(w2);

	/* a checkpoint moves the pages into the file: the same content */
	run(w, "PRAGMA wal_checkpoint(PASSIVE)");
	content_id(x, sizeof(x));
	assert_string_equal(x, b);

	/* the file shrinks only at a checkpoint: before, the WAL's commit
	 * says how many of its pages count */
	run(w, "DELETE FROM t WHERE id > 100; VACUUM");
	content_id(b, sizeof(b));
	run(w, "PRAGMA wal_checkpoint(TRUNCATE)");
	content_id(x, sizeof(x));
	assert_string_equal(x, b);

	/* the last connection checkpoints and removes the WAL */
	run(w, "UPDATE t SET v = 'again' WHERE id = 8");
	content_id(b, sizeof(b));
	sqlite3_close(w);
	assert_false(wal_exists());
	content_id(x, sizeof(x));
	assert_string_equal(x, b);
}

static void test_rollback_journal(void **state)
{
	char a[128], b[128];
	sqlite3 *w;

	(void)state;
	teardown(NULL);
	setup(NULL);
	assert_int_equal(sqlite3_open(dbpath, &w), SQLITE_OK);
	run(w, "PRAGMA journal_mode=DELETE");
	fill(w);
	content_id(a, sizeof(a));
	run(w, "UPDATE t SET v = 'valuE 7' WHERE id = 7");
	content_id(b, sizeof(b));
	assert_string_not_equal(a, b);
	run(w, "UPDATE t SET v = 'value 7' WHERE id = 7");
	content_id(a, sizeof(a));
	assert_string_not_equal(a, b);   /* the change counter moved too */
	sqlite3_close(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal),
		cmocka_unit_test(test_rollback_journal),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
