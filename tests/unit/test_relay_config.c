/*
 * test_relay_config.c - `ferry relay`'s options from a YAML file and from
 * FERRY_RELAY_* variables: every key, the precedence CLI > env > file,
 * unknown keys named with their line, bad sizes and values, and the phase
 * names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ferry/relay.h"

static char path[256];

static const char *write_cfg(const char *text)
{
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/ferry_test_relay_config_%d.yaml", (int)getpid());
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	fclose(f);
	return path;
}

static const char *const env_names[] = {
	"FERRY_RELAY_LISTEN", "FERRY_RELAY_OLD", "FERRY_RELAY_NEW", "FERRY_RELAY_SPOOL",
	"FERRY_RELAY_SPOOL_MAX", "FERRY_RELAY_PHASE", "FERRY_RELAY_LAYOUT", "FERRY_RELAY_MAP",
	"FERRY_RELAY_TABLE", "FERRY_RELAY_SERIES_TAG", "FERRY_RELAY_KEEP_NS",
	"FERRY_RELAY_MAX_BODY", "FERRY_RELAY_THREADS", "FERRY_RELAY_DATABASES",
	"FERRY_RELAY_AUTH_USER", "FERRY_RELAY_AUTH_PASSWORD", "FERRY_RELAY_DEVICES_TABLE",
	"FERRY_RELAY_DEVICES_KEY_COLUMN", "FERRY_RELAY_DEVICES_ID_COLUMN",
	"FERRY_RELAY_DEVICES_MEASUREMENT", "FERRY_RELAY_COMMIT_WINDOW_US", "FERRY_RELAY_CUTOVER_DB",
};

static int clean_env(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
	return 0;
}

static int teardown(void **state)
{
	unlink(path);
	return clean_env(state);
}

static void test_phase_names(void **state)
{
	int p = -1, i;

	(void)state;
	for (i = FERRY_PHASE_OLD_ONLY; i <= FERRY_PHASE_NEW_ONLY; i++) {
		assert_non_null(ferry_phase_name(i));
		assert_int_equal(ferry_phase_parse(ferry_phase_name(i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_string_equal(ferry_phase_name(FERRY_PHASE_DUAL), "dual");
	assert_string_equal(ferry_phase_name(FERRY_PHASE_NEW_PRIMARY), "new-primary");
	assert_null(ferry_phase_name(4));
	assert_null(ferry_phase_name(-1));
	assert_int_equal(ferry_phase_parse("Dual", &p), FERRY_EUSAGE);
	assert_int_equal(ferry_phase_parse("new_only", &p), FERRY_EUSAGE);
	assert_int_equal(ferry_phase_parse("", &p), FERRY_EUSAGE);
	assert_int_equal(ferry_phase_parse(NULL, &p), FERRY_EUSAGE);
}

static void test_file_every_key(void **state)
{
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	write_cfg("# the relay in front of influxd\n"
		  "listen: 127.0.0.1:8087\n"
		  "old: influx://127.0.0.1:8086/home_assistant\n"
		  "new: postgres://app@db/ha\n"
		  "spool: /var/lib/ferry/spool\n"
		  "spool-max: 1GiB\n"
		  "phase: new-primary\n"
		  "cutover-db: postgresql://app@db/cutover\n"
		  "layout: wide\n"
		  "table: readings\n"
		  "series-tag: sensor\n"
		  "keep-ns: true\n"
		  "max-body: 25MB\n"
		  "threads: 8\n"
		  "databases: [home_assistant, telegraf]\n"
		  "auth:\n"
		  "  user: ha\n"
		  "  password: 's3cret:x'\n"
		  "devices:\n"
		  "  table: iot.devices\n"
		  "  key-column: token\n"
		  "  id-column: id\n"
		  "  measurement: readings\n"
		  "commit-window-us: 0\n");
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), 0);
	assert_string_equal(o.listen, "127.0.0.1:8087");
	assert_string_equal(o.old_url, "influx://127.0.0.1:8086/home_assistant");
	assert_string_equal(o.new_url, "postgres://app@db/ha");
	assert_string_equal(o.spool_dir, "/var/lib/ferry/spool");
	assert_true(o.spool_max == 1ULL << 30);
	assert_string_equal(o.phase, "new-primary");
	assert_string_equal(o.cutover_db, "postgresql://app@db/cutover");
	assert_string_equal(o.ts.layout, "wide");
	assert_string_equal(o.ts.table, "readings");
	assert_string_equal(o.ts.series_tag, "sensor");
	assert_int_equal(o.ts.keep_ns, 1);
	assert_int_equal(o.max_body, 25000000);
	assert_int_equal(o.threads, 8);
	assert_non_null(o.databases);
	assert_string_equal(o.databases[0], "home_assistant");
	assert_string_equal(o.databases[1], "telegraf");
	assert_null(o.databases[2]);
	assert_string_equal(o.auth_user, "ha");
	assert_string_equal(o.auth_password, "s3cret:x");
	assert_string_equal(o.devices_table, "iot.devices");
	assert_string_equal(o.devices_key_column, "token");
	assert_string_equal(o.devices_id_column, "id");
	assert_string_equal(o.telemetry_measurement, "readings");
	assert_int_equal(o.commit_window_us, -1);   /* 0 in the file: no window */
	ferry_relay_opts_release(&o);
	assert_null(o.owned);
	assert_null(o.listen);

	/* a lone database as a scalar, map instead of layout, an empty file */
	write_cfg("databases: telegraf\nmap: /etc/ferry/map.yaml\ncommit-window-us: 500\n");
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), 0);
	assert_string_equal(o.databases[0], "telegraf");
	assert_null(o.databases[1]);
	assert_string_equal(o.ts.map, "/etc/ferry/map.yaml");
	assert_int_equal(o.commit_window_us, 500);
	ferry_relay_opts_release(&o);
	write_cfg("# nothing set\n");
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), 0);
	assert_null(o.listen);
	ferry_relay_opts_release(&o);
}

static void test_env(void **state)
{
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	setenv("FERRY_RELAY_LISTEN", ":9999", 1);
	setenv("FERRY_RELAY_SPOOL_MAX", "500MB", 1);
	setenv("FERRY_RELAY_DATABASES", "a, b,c", 1);
	setenv("FERRY_RELAY_AUTH_USER", "u", 1);
	setenv("FERRY_RELAY_AUTH_PASSWORD", "p", 1);
	setenv("FERRY_RELAY_DEVICES_KEY_COLUMN", "k", 1);
	setenv("FERRY_RELAY_KEEP_NS", "yes", 1);
	setenv("FERRY_RELAY_THREADS", "3", 1);
	setenv("FERRY_RELAY_PHASE", "old-only", 1);
	setenv("FERRY_RELAY_CUTOVER_DB", "postgres://env/cutover", 1);
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_env_load(&o, &err), 0);
	assert_string_equal(o.listen, ":9999");
	assert_true(o.spool_max == 500000000ULL);
	assert_string_equal(o.databases[0], "a");
	assert_string_equal(o.databases[1], "b");
	assert_string_equal(o.databases[2], "c");
	assert_null(o.databases[3]);
	assert_string_equal(o.auth_user, "u");
	assert_string_equal(o.auth_password, "p");
	assert_string_equal(o.devices_key_column, "k");
	assert_int_equal(o.ts.keep_ns, 1);
	assert_int_equal(o.threads, 3);
	assert_string_equal(o.phase, "old-only");
	assert_string_equal(o.cutover_db, "postgres://env/cutover");
	ferry_relay_opts_release(&o);
	unsetenv("FERRY_RELAY_CUTOVER_DB");

	/* a bad value names the variable */
	setenv("FERRY_RELAY_MAX_BODY", "huge", 1);
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_env_load(&o, &err), FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "FERRY_RELAY_MAX_BODY"));
	assert_non_null(strstr(err.msg, "huge"));
	ferry_relay_opts_release(&o);
	unsetenv("FERRY_RELAY_MAX_BODY");
	setenv("FERRY_RELAY_PHASE", "half", 1);
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_env_load(&o, &err), FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "FERRY_RELAY_PHASE"));
	ferry_relay_opts_release(&o);
}

static void test_precedence(void **state)
{
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;
	static const char *const cli_dbs[] = { "from_cli", NULL };

	(void)state;
	write_cfg("listen: file:3\nold: influx://file/old\nnew: postgres://file/new\n"
		  "spool: /file/spool\nthreads: 2\ndatabases: [from_file]\n"
		  "auth: {user: fileuser, password: filepw}\n");
	setenv("FERRY_RELAY_LISTEN", "env:2", 1);
	setenv("FERRY_RELAY_OLD", "influx://env/old", 1);
	setenv("FERRY_RELAY_THREADS", "5", 1);
	setenv("FERRY_RELAY_AUTH_PASSWORD", "envpw", 1);
	ferry_relay_opts_init(&o);
	o.listen = "cli:1";             /* the command line */
	o.databases = cli_dbs;
	assert_int_equal(ferry_relay_env_load(&o, &err), 0);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), 0);
	assert_string_equal(o.listen, "cli:1");            /* CLI > env > file */
	assert_string_equal(o.old_url, "influx://env/old"); /* env > file */
	assert_string_equal(o.new_url, "postgres://file/new");
	assert_string_equal(o.spool_dir, "/file/spool");
	assert_int_equal(o.threads, 5);
	assert_ptr_equal(o.databases, cli_dbs);
	assert_string_equal(o.auth_user, "fileuser");
	assert_string_equal(o.auth_password, "envpw");
	ferry_relay_opts_release(&o);

	/* a value that looks unset still wins: keep-ns false from the
	 * environment over the file's true; an empty variable is unset */
	write_cfg("keep-ns: true\ncommit-window-us: 100\nnew: postgres://file/new\n");
	setenv("FERRY_RELAY_KEEP_NS", "false", 1);
	setenv("FERRY_RELAY_NEW", "", 1);
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_env_load(&o, &err), 0);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), 0);
	assert_int_equal(o.ts.keep_ns, 0);
	assert_int_equal(o.commit_window_us, 100);
	assert_string_equal(o.new_url, "postgres://file/new");
	ferry_relay_opts_release(&o);
}

static void expect_error(const char *yaml, const char *const *needles)
{
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;

	write_cfg(yaml);
	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_config_load(&o, path, &err), FERRY_EUSAGE);
	for (; *needles; needles++)
		if (!strstr(err.msg, *needles))
			fail_msg("'%s' lacks '%s'", err.msg, *needles);
	assert_non_null(strstr(err.msg, path));
	ferry_relay_opts_release(&o);
}

static void test_file_errors(void **state)
{
	struct ferry_relay_opts o;
	struct ferry_error err = FERRY_ERROR_INIT;

	(void)state;
	expect_error("listen: :8086\nold: influx://x/db\nlisen: :1\n",
		     (const char *const[]){ "line 3", "unknown key 'lisen'",
					    "listen, old, new, spool, spool-max, phase",
					    "auth, devices, commit-window-us", NULL });
	expect_error("auth:\n  user: a\n  pasword: b\n",
		     (const char *const[]){ "line 3", "unknown key 'pasword'",
					    "use user, password", NULL });
	expect_error("devices: [a]\n",
		     (const char *const[]){ "line 1", "'devices' takes a mapping",
					    "table, key-column, id-column, measurement", NULL });
	expect_error("threads: 4\nspool-max: lots\n",
		     (const char *const[]){ "line 2", "invalid spool-max 'lots'", "1GiB", NULL });
	expect_error("max-body: 1.5MB\n",
		     (const char *const[]){ "line 1", "invalid max-body '1.5MB'", NULL });
	expect_error("threads: -2\n", (const char *const[]){ "invalid threads '-2'", NULL });
	expect_error("phase: half\n",
		     (const char *const[]){ "invalid phase 'half'", "new-primary", NULL });
	/* cutover-db names where the phase lives: a PostgreSQL URL, not a database
	 * /write accepts (that is databases:) */
	expect_error("cutover-db: home_assistant\n",
		     (const char *const[]){ "line 1", "invalid cutover-db 'home_assistant'",
					    "postgres:// URL", NULL });
	expect_error("layout: tall\n", (const char *const[]){ "narrow or wide", NULL });
	expect_error("keep-ns: maybe\n", (const char *const[]){ "true or false", NULL });
	expect_error("old:\n", (const char *const[]){ "line 1", "'old' needs a value", NULL });
	expect_error("databases: [a, [b]]\n", (const char *const[]){ "databases", NULL });
	expect_error("listen: [unclosed\n", (const char *const[]){ "cannot parse", "line", NULL });
	expect_error("- a\n- b\n", (const char *const[]){ "expected a mapping", NULL });
	expect_error("listen: \"\xff\xfe\"\n", (const char *const[]){ "cannot read", NULL });

	ferry_relay_opts_init(&o);
	assert_int_equal(ferry_relay_config_load(&o, "/nonexistent/relay.yaml", &err),
			 FERRY_EUSAGE);
	assert_non_null(strstr(err.msg, "/nonexistent/relay.yaml"));
	ferry_relay_opts_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_phase_names),
		cmocka_unit_test_setup_teardown(test_file_every_key, clean_env, teardown),
		cmocka_unit_test_setup_teardown(test_env, clean_env, teardown),
		cmocka_unit_test_setup_teardown(test_precedence, clean_env, teardown),
		cmocka_unit_test_setup_teardown(test_file_errors, clean_env, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
