/*
 * test_migrate.c - unit tests for the pure parts of src/lib/migrate:
 * file and folder names, dbmate sections, version ordering, checksum
 * normalization, the statement splitter and the destructive-SQL lint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "migrate/mig_int.h"

static void filename_parsing(void **state)
{
	uint64_t num;
	char *name = NULL;
	const char *ext;

	(void)state;
	assert_int_equal(mig_parse_filename("0001_create_rooms.up.sql", &num, &name, &ext), 0);
	assert_int_equal(num, 1);
	assert_string_equal(name, "create_rooms");
	assert_string_equal(ext, ".up.sql");
	ferry_free(name);
	assert_int_equal(mig_parse_filename("0002_x.down.sql", &num, &name, &ext), 0);
	assert_string_equal(ext, ".down.sql");
	ferry_free(name);
	assert_int_equal(mig_parse_filename("20240101120000_add.users.sql", &num, &name, &ext), 0);
	assert_true(num == 20240101120000ull);
	assert_string_equal(name, "add.users");
	assert_string_equal(ext, ".sql");
	ferry_free(name);
	assert_int_equal(mig_parse_filename("003_fix", &num, &name, &ext), 0);
	assert_string_equal(name, "fix");
	assert_string_equal(ext, "");
	ferry_free(name);
	assert_int_equal(mig_parse_filename("004_r.rewrite.yaml", &num, &name, &ext), 0);
	assert_string_equal(ext, ".rewrite.yaml");
	ferry_free(name);
	assert_int_equal(mig_parse_filename("README.md", &num, &name, &ext), FERRY_EPARSE);
	assert_int_equal(mig_parse_filename("0001-name.sql", &num, &name, &ext), FERRY_EPARSE);
	assert_int_equal(mig_parse_filename("0001_.sql", &num, &name, &ext), FERRY_EPARSE);
	assert_int_equal(mig_parse_filename("99999999999999999999999_x.sql", &num, &name, &ext),
			 FERRY_EPARSE);
}

static void transition_folders(void **state)
{
	char *from = NULL, *to = NULL;

	(void)state;
	assert_int_equal(mig_parse_transition("v0.1.0_to_v0.2.0", &from, &to), 0);
	assert_string_equal(from, "v0.1.0");
	assert_string_equal(to, "v0.2.0");
	ferry_free(from);
	ferry_free(to);
	assert_int_equal(mig_parse_transition("1.9_to_2.0-rc1", &from, &to), 0);
	assert_string_equal(to, "2.0-rc1");
	ferry_free(from);
	ferry_free(to);
	assert_int_equal(mig_parse_transition("helpers", &from, &to), FERRY_EPARSE);
	assert_int_equal(mig_parse_transition("v0.1.0_to_", &from, &to), FERRY_EPARSE);
	assert_int_equal(mig_parse_transition("old_to_new", &from, &to), FERRY_EPARSE);
}

static void version_ordering(void **state)
{
	struct mig_step a, b;

	(void)state;
	assert_true(mig_semver_cmp("v0.9.0", "v0.10.0") < 0);
	assert_true(mig_semver_cmp("v0.10.0", "v0.9.0") > 0);
	assert_true(mig_semver_cmp("0.2.0", "v0.2.0") == 0);
	assert_true(mig_semver_cmp("v1.0.0-rc1", "v1.0.0") < 0);
	assert_true(mig_semver_cmp("v1.0.0", "v1.0.1") < 0);
	assert_true(mig_semver_cmp("v1.2", "v1.2.1") < 0);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.group = b.group = 1;
	a.from_ver = "v0.8.0";
	a.to_ver = "v0.9.0";
	b.from_ver = "v0.9.0";
	b.to_ver = "v0.10.0";
	a.num = 5;
	b.num = 1;
	assert_true(mig_step_cmp(&a, &b) < 0);
	b.to_ver = "v0.9.0";
	b.from_ver = "v0.8.0";
	assert_true(mig_step_cmp(&a, &b) > 0);  /* same folder: by number */
	b.group = 0;
	assert_true(mig_step_cmp(&a, &b) > 0);  /* flat files come first */

	a.group = 1;
	a.to_ver = "v0.10.0";
	assert_true(mig_target_covers("v0.10.0", &a));
	assert_false(mig_target_covers("v0.9.0", &a));
	assert_false(mig_target_covers("3", &a));
	b.num = 3;
	assert_true(mig_target_covers("0003", &b));
	assert_false(mig_target_covers("2", &b));
	assert_true(mig_target_covers("v0.1.0", &b));
}

static void dbmate_sections(void **state)
{
	char *up = NULL, *down = NULL;
	int ntx = -1;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	assert_int_equal(mig_split_sections("-- migrate:up\nCREATE TABLE a(x int);\n"
		"-- migrate:down\nDROP TABLE a;\n", &up, &down, &ntx, &err), 0);
	assert_string_equal(up, "CREATE TABLE a(x int);\n");
	assert_string_equal(down, "DROP TABLE a;\n");
	assert_int_equal(ntx, 0);
	ferry_free(up);
	ferry_free(down);

	/* no markers: all of it is up, no down */
	assert_int_equal(mig_split_sections("SELECT 1;\n", &up, &down, &ntx, &err), 0);
	assert_string_equal(up, "SELECT 1;\n");
	assert_null(down);
	ferry_free(up);

	/* dbmate's transaction:false and ferry's own marker */
	assert_int_equal(mig_split_sections("-- migrate:up transaction:false\n"
		"CREATE INDEX CONCURRENTLY i ON t(x);\n-- migrate:down\nDROP INDEX i;\n",
		&up, &down, &ntx, &err), 0);
	assert_int_equal(ntx, 1);
	ferry_free(up);
	ferry_free(down);
	assert_int_equal(mig_split_sections("-- ferry:no-transaction\nVACUUM;\n",
		&up, &down, &ntx, &err), 0);
	assert_int_equal(ntx, 1);
	ferry_free(up);

	/* a "-- migrate:upgrade" comment is not a marker */
	assert_int_equal(mig_split_sections("-- migrate:upgrade notes\nSELECT 2;\n",
		&up, &down, &ntx, &err), 0);
	assert_null(down);
	assert_non_null(strstr(up, "SELECT 2"));
	ferry_free(up);

	assert_int_equal(mig_split_sections("-- migrate:down\nDROP TABLE a;\n",
		&up, &down, &ntx, &err), FERRY_EPARSE);
	assert_non_null(strstr(err.msg, "without '-- migrate:up'"));
	assert_int_equal(mig_split_sections("-- migrate:up\n-- migrate:up\n",
		&up, &down, &ntx, &err), FERRY_EPARSE);
}

static void checksum_normalization(void **state)
{
	struct ferry_buf a = FERRY_BUF_INIT, b = FERRY_BUF_INIT, c = FERRY_BUF_INIT;
	char ha[33], hb[33], hc[33];

	(void)state;
	assert_int_equal(mig_normalize("SELECT 1;\nSELECT 2;\n", 20, &a), 0);
	assert_int_equal(mig_normalize("\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n", 25, &b), 0);
	assert_string_equal(a.buf, b.buf);
	ferry_hash128_hex(a.buf, a.len, ha);
	ferry_hash128_hex(b.buf, b.len, hb);
	assert_string_equal(ha, hb);
	/* a real change still counts */
	assert_int_equal(mig_normalize("SELECT 1;\nSELECT 3;\n", 20, &c), 0);
	ferry_hash128_hex(c.buf, c.len, hc);
	assert_string_not_equal(ha, hc);
	/* a lone CR is content, not a line ending */
	ferry_buf_clear(&c);
	assert_int_equal(mig_normalize("a\rb", 3, &c), 0);
	assert_int_equal(c.len, 3);
	ferry_buf_release(&a);
	ferry_buf_release(&b);
	ferry_buf_release(&c);
}

struct collected {
	int n;
	char stmts[8][128];
};

static int collect(const char *s, size_t n, void *ud)
{
	struct collected *c = ud;

	while (n && (*s == ' ' || *s == '\n')) {
		s++;
		n--;
	}
	snprintf(c->stmts[c->n++], 128, "%.*s", (int)n, s);
	return 0;
}

static void statement_split(void **state)
{
	struct collected c;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(mig_sql_split(
		"CREATE TABLE a(x text default 'a;b');\n"
		"-- a comment; with a semicolon\n"
		"CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n"
		"/* block; */ CREATE INDEX CONCURRENTLY i ON a(x)\n", collect, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.stmts[0], "CREATE TABLE a(x text default 'a;b')");
	assert_non_null(strstr(c.stmts[1], "$body$ SELECT 1; $body$"));
	assert_non_null(strstr(c.stmts[2], "CREATE INDEX CONCURRENTLY"));
	memset(&c, 0, sizeof(c));
	assert_int_equal(mig_sql_split("-- only a comment\n;\n  ", collect, &c), 0);
	assert_int_equal(c.n, 0);
}

static void lint(void **state)
{
	struct ferry_buf w = FERRY_BUF_INIT;

	(void)state;
	assert_int_equal(mig_sql_lint("CREATE TABLE a(x int);", &w), 0);
	assert_int_equal(mig_sql_lint("drop table old;\nALTER TABLE t DROP COLUMN c;\n"
				      "TRUNCATE events;", &w), 3);
	assert_non_null(strstr(w.buf, "line 1: DROP TABLE"));
	assert_non_null(strstr(w.buf, "line 2: DROP COLUMN"));
	assert_non_null(strstr(w.buf, "line 3: TRUNCATE"));
	ferry_buf_clear(&w);
	/* in comments and strings it is not a statement */
	assert_int_equal(mig_sql_lint("-- DROP TABLE x\nINSERT INTO log VALUES ('truncate');\n"
				      "/* drop column */ SELECT 1;", &w), 0);
	/* DROP INDEX is harmless */
	assert_int_equal(mig_sql_lint("DROP INDEX i;", &w), 0);
	ferry_buf_release(&w);
}

static void pg_conninfo_without_password(void **state)
{
	struct ferry_buf ci = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	char *pw = NULL;

	(void)state;
	assert_int_equal(mig_pg_conninfo("postgres://bob:s%27cret@db.local:5433/ha?sslmode=disable",
					 &ci, &pw, &err), 0);
	assert_string_equal(ci.buf, "host='db.local' port='5433' user='bob' dbname='ha' sslmode='disable'");
	assert_string_equal(pw, "s'cret");
	ferry_free(pw);
	ferry_buf_clear(&ci);
	assert_int_equal(mig_pg_conninfo("postgresql://h/it%27s?password=qp&application_name=x",
					 &ci, &pw, &err), 0);
	assert_null(strstr(ci.buf, "qp"));
	assert_string_equal(ci.buf, "host='h' dbname='it\\'s' application_name='x'");
	assert_string_equal(pw, "qp");
	ferry_free(pw);
	ferry_buf_clear(&ci);
	pw = (char *)"untouched";
	assert_int_equal(mig_pg_conninfo("postgres://h/db", &ci, &pw, &err), 0);
	assert_null(pw);
	ferry_buf_release(&ci);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(filename_parsing),
		cmocka_unit_test(transition_folders),
		cmocka_unit_test(version_ordering),
		cmocka_unit_test(dbmate_sections),
		cmocka_unit_test(checksum_normalization),
		cmocka_unit_test(statement_split),
		cmocka_unit_test(lint),
		cmocka_unit_test(pg_conninfo_without_password),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
