/*
 * test_services.c - the C side of the integration harness works: the env
 * file tests/services wrote parses, and svc_new_pg_db() gives a fresh,
 * empty, reachable PostgreSQL database.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "services_env.h"

static PGconn *connect_ok(const char *url)
{
	PGconn *conn = PQconnectdb(url);

	if (PQstatus(conn) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", url, PQerrorMessage(conn));
	return conn;
}

/* The first column of the first row of SQL's result, copied. */
static char *query_value(PGconn *conn, const char *sql)
{
	PGresult *res = PQexec(conn, sql);
	char *v;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", sql, PQerrorMessage(conn));
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

static void env_has_pg(void **state)
{
	const char *url, *port;
	char want[128];

	(void)state;
	assert_int_equal(svc_load(), 0);
	url = svc_get("FERRY_PG_URL");
	port = svc_get("FERRY_PG_PORT");
	assert_non_null(url);
	assert_non_null(port);
	assert_string_equal(svc_get("FERRY_PG_HOST"), "127.0.0.1");
	assert_string_equal(svc_get("FERRY_PG_USER"), "postgres");
	snprintf(want, sizeof(want), "postgres://postgres@127.0.0.1:%s/postgres", port);
	assert_string_equal(url, want);
	assert_null(svc_get("FERRY_NO_SUCH_KEY"));
}

static void new_db_select_1(void **state)
{
	char *url = svc_new_pg_db("Test Services");
	PGconn *conn;
	char *v;

	(void)state;
	assert_non_null(url);
	assert_non_null(strstr(url, "/test_services_"));
	conn = connect_ok(url);
	v = query_value(conn, "SELECT 1");
	assert_string_equal(v, "1");
	free(v);
	v = query_value(conn, "SELECT current_database()");
	assert_string_equal(v, strrchr(url, '/') + 1);
	free(v);
	v = query_value(conn, "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
			      "ON n.oid = c.relnamespace WHERE n.nspname NOT IN "
			      "('pg_catalog', 'information_schema', 'pg_toast')");
	assert_string_equal(v, "0");
	free(v);
	PQfinish(conn);
	free(url);
}

static void new_dbs_are_distinct(void **state)
{
	char *a = svc_new_pg_db("distinct");
	char *b = svc_new_pg_db("distinct");
	PGconn *conn;
	PGresult *res;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	conn = connect_ok(a);
	res = PQexec(conn, "CREATE TABLE only_in_a (x int)");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(conn);
	conn = connect_ok(b);
	res = PQexec(conn, "SELECT 1 FROM only_in_a");
	assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
	PQclear(res);
	PQfinish(conn);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(env_has_pg),
		cmocka_unit_test(new_db_select_1),
		cmocka_unit_test(new_dbs_are_distinct),
	};

	if (svc_load() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
