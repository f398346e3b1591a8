/*
 * test_migrate_errors.c - ferry migrate speaks the connectors' error
 * codes: its database is opened through the registry (migrate/db.c), so
 * a server that drops the session mid-step is FERRY_ECONN there as it is
 * in ferry copy (postgres.c), and a refused statement FERRY_ESQL with its
 * SQLSTATE.  And the user's SQL still runs with the database's own
 * session settings (copy's UTC and ISO dates are copy's, not theirs).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "ferry/connector.h"
#include "ferry/error.h"
#include "ferry/migrate.h"
#include "services_env.h"

/* A project dir with one migration file holding sql; returns its path. */
static char *project(const char *name, const char *sql)
{
	const char *base = getenv("FERRY_TEST_TMP");
	char *dir = malloc(600), path[700];
	FILE *f;

	snprintf(dir, 600, "%s/migrate-errors-XXXXXX", base && *base ? base : "/tmp");
	mkdir(base && *base ? base : "/tmp", 0755);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/migrations", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/migrations/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(sql, f);
	fclose(f);
	return dir;
}

/* Run `migrate up` for dir against db; returns its code, err filled. */
static int up(const char *dir, const char *db, struct ferry_error *err)
{
	struct ferry_migrate_opts o;
	ferry_migrator *m = NULL;
	char mdir[700];
	int rc;

	memset(&o, 0, sizeof(o));
	snprintf(mdir, sizeof(mdir), "%s/migrations", dir);
	o.dir = mdir;
	o.root = dir;
	o.db_url = db;
	o.lock_timeout = 30;
	if ((rc = ferry_migrator_open(&o, &m, err)) < 0)
		return rc;
	rc = ferry_migrate_up(m, NULL, err);
	ferry_migrator_free(m);
	return rc;
}

static char *value(const char *url, const char *sql)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res;
	char *v;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return v;
}

/* The server ends the session in the middle of a step (SQLSTATE 57P01):
 * a connection error, as ferry copy calls it, not a SQL error. */
static void lost_server_is_conn_error(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char *db = svc_new_pg_db("mig_errors_conn");
	char *dir = project("0001_kill.up.sql",
			    "SELECT pg_terminate_backend(pg_backend_pid());\n");
	int rc;

	(void)state;
	assert_non_null(db);
	rc = up(dir, db, &err);
	print_message("    migrate up: %d %s (%s)\n", rc, err.msg, err.origin);
	assert_int_equal(rc, FERRY_ECONN);
	free(db);
	free(dir);
}

/* A refused statement is FERRY_ESQL with the server's SQLSTATE. */
static void refused_statement_is_sql_error(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char *db = svc_new_pg_db("mig_errors_sql");
	char *dir = project("0001_dup.up.sql",
			    "CREATE TABLE t (k int PRIMARY KEY);\n"
			    "INSERT INTO t VALUES (1), (1);\n");
	int rc;

	(void)state;
	assert_non_null(db);
	rc = up(dir, db, &err);
	print_message("    migrate up: %d %s (%s)\n", rc, err.msg, err.origin);
	assert_int_equal(rc, FERRY_ESQL);
	assert_non_null(strstr(err.origin, "23505"));
	assert_non_null(strstr(err.msg, "duplicate key"));
	free(db);
	free(dir);
}

/* Migrations see the database's session settings, not copy's. */
static void session_defaults_kept(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char *db = svc_new_pg_db("mig_errors_tz");
	char *dir = project("0001_tz.up.sql",
			    "CREATE TABLE seen AS SELECT current_setting('TimeZone') AS tz, "
			    "current_setting('DateStyle') AS ds;\n");
	char sql[300], *tz, *ds;
	PGconn *c;

	(void)state;
	assert_non_null(db);
	c = PQconnectdb(db);
	assert_int_equal(PQstatus(c), CONNECTION_OK);
	snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" SET TimeZone TO 'Asia/Tokyo'; "
		 "ALTER DATABASE \"%s\" SET DateStyle TO 'SQL, DMY'", PQdb(c), PQdb(c));
	PQclear(PQexec(c, sql));
	PQfinish(c);
	assert_int_equal(up(dir, db, &err), 0);
	tz = value(db, "SELECT tz FROM seen");
	ds = value(db, "SELECT ds FROM seen");
	assert_string_equal(tz, "Asia/Tokyo");
	assert_string_equal(ds, "SQL, DMY");
	free(tz);
	free(ds);
	free(db);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lost_server_is_conn_error),
		cmocka_unit_test(refused_statement_is_sql_error),
		cmocka_unit_test(session_defaults_kept),
	};

	if (svc_load() < 0)
		return 77;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
