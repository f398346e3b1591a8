/*
 * test_relay_phase.c - the cutover phase and the device keys of `ferry
 * relay` against real PostgreSQL: a watcher hears set-phase through
 * NOTIFY, relays starting at once create ferry.cutover once, the watcher
 * keeps its phase while PostgreSQL is down and follows again after a
 * restart (a private server of this test: the shared one is never
 * stopped), heartbeats add up in the status, and API keys resolve.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <libpq-fe.h>

#include "ferry/relay.h"
#include "relay/relay_int.h"
#include "services_env.h"

/* ---- helpers ---- */

/* A heartbeat as relay.c sends it: writes cumulative writes to the new
 * store, a tenth of them failed. */
static int report(struct relay_phase *w, const char *id, const char *listen,
		  uint64_t records, double lag, uint64_t writes, struct ferry_error *err)
{
	struct relay_beat b;

	memset(&b, 0, sizeof(b));
	b.relay_id = id;
	b.listen = listen;
	b.phase = relay_phase_get(w);
	b.phase_since_us = 1700000000000000;
	b.ready = 1;
	b.spool_ok = 1;
	b.spool_records = records;
	b.lag_s = lag;
	b.writes[RELAY_NEW] = writes;
	b.errors[RELAY_NEW] = writes / 10;
	return relay_phase_report(w, &b, err);
}

static void sql(const char *url, const char *q)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res;

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", url, PQerrorMessage(c));
	res = PQexec(c, q);
	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", q, PQerrorMessage(c));
	PQclear(res);
	PQfinish(c);
}

static char *value(const char *url, const char *q)
{
	PGconn *c = PQconnectdb(url);
	PGresult *res;
	char *v;

	assert_int_equal(PQstatus(c), CONNECTION_OK);
	res = PQexec(c, q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", q, PQerrorMessage(c));
	v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(c);
	return v;
}

static void assert_value(const char *url, const char *q, const char *want)
{
	char *v = value(url, q);

	if (strcmp(v, want))
		fail_msg("%s gave '%s', want '%s'", q, v, want);
	free(v);
}

/* Poll until the watcher reports something other than "no change" (at most
 * tries polls of 500 ms: a bound on a hang, not a timing assertion). */
static int poll_until_news(struct relay_phase *w, int tries)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc = 0;

	while (tries-- > 0 && (rc = relay_phase_poll(w, 500, &err)) == 0)
		;
	return rc;
}

/* ---- a watcher hears set-phase; heartbeats; status ---- */

static void watcher_follows_set_phase(void **state)
{
	char *url = svc_new_pg_db("relay_phase");
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_phase *w = NULL, *w2 = NULL;
	struct ferry_cutover_status st;

	(void)state;
	assert_non_null(url);
	assert_int_equal(relay_phase_open(url, FERRY_PHASE_DUAL, &w, &err), 0);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_DUAL);
	assert_int_equal(relay_phase_poll(w, 0, &err), 0);
	assert_int_equal(ferry_cutover_status(url, &st, &err), 0);
	assert_int_equal(st.phase, FERRY_PHASE_DUAL);
	assert_string_equal(st.changed_at, "");     /* a relay made the row: no change */
	assert_int_equal(st.relays, 0);

	assert_int_equal(ferry_cutover_set_phase(url, FERRY_PHASE_NEW_PRIMARY, "tester", &err), 0);
	assert_int_equal(poll_until_news(w, 40), 1);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_NEW_PRIMARY);
	assert_int_equal(ferry_cutover_status(url, &st, &err), 0);
	assert_int_equal(st.phase, FERRY_PHASE_NEW_PRIMARY);
	assert_string_equal(st.changed_by, "tester");
	assert_true(strlen(st.changed_at) >= 20 && st.changed_at[strlen(st.changed_at) - 1] == 'Z');
	assert_value(url, "SELECT previous || '>' || phase || ' by ' || changed_by "
		     "FROM ferry.cutover_log", "dual>new-primary by tester");

	/* a relay starting later keeps the stored phase, not its --phase */
	assert_int_equal(relay_phase_open(url, FERRY_PHASE_OLD_ONLY, &w2, &err), 0);
	assert_int_equal(relay_phase_get(w2), FERRY_PHASE_NEW_PRIMARY);

	/* both hear the next change */
	assert_int_equal(ferry_cutover_set_phase(url, FERRY_PHASE_DUAL, "back", &err), 0);
	assert_int_equal(poll_until_news(w, 40), 1);
	assert_int_equal(poll_until_news(w2, 40), 1);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_DUAL);
	assert_int_equal(relay_phase_get(w2), FERRY_PHASE_DUAL);

	/* heartbeats: counted, summed, the largest lag */
	assert_int_equal(report(w, "r1", "127.0.0.1:8086", 12, 3.5, 100, &err), 0);
	assert_int_equal(report(w2, "r2", ":8087", 3, 1.25, 0, &err), 0);
	assert_int_equal(report(w, "r1", "127.0.0.1:8086", 10, 2.5, 130, &err), 0);
	assert_int_equal(ferry_cutover_status(url, &st, &err), 0);
	assert_int_equal(st.relays, 2);
	assert_int_equal(st.spool_records, 13);
	assert_true(st.replay_lag_s == 2.5);
	/* the cutover's figures: the phase and the writes of the window (the
	 * difference of the cumulative counters), errors of the new store */
	assert_value(url, "SELECT phase || ' ' || new_writes || ' ' || new_errors || ' ' || "
		     "spool_ok FROM ferry.relays WHERE relay_id = 'r1'", "dual 30 3 true");
	sql(url, "UPDATE ferry.relays SET last_seen = now() - interval '2 minutes' "
		 "WHERE relay_id = 'r2'");
	assert_int_equal(ferry_cutover_status(url, &st, &err), 0);
	assert_int_equal(st.relays, 1);
	assert_int_equal(st.spool_records, 10);

	/* the CHECK keeps a bad phase out even when written by hand */
	{
		PGconn *c = PQconnectdb(url);
		PGresult *res = PQexec(c, "UPDATE ferry.cutover SET phase = 'half'");

		assert_int_equal(PQresultStatus(res), PGRES_FATAL_ERROR);
		PQclear(res);
		PQfinish(c);
	}
	assert_int_equal(ferry_cutover_set_phase(url, 9, "x", &err), FERRY_EUSAGE);
	relay_phase_close(w);
	relay_phase_close(w2);
	free(url);
}

static void status_without_cutover(void **state)
{
	char *url = svc_new_pg_db("relay_nostatus");
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_cutover_status st;

	(void)state;
	assert_int_equal(ferry_cutover_status(url, &st, &err), FERRY_ENOTFOUND);
	assert_non_null(strstr(err.msg, "ferry.cutover"));
	assert_int_equal(ferry_cutover_status("postgres://postgres@127.0.0.1:1/none", &st, &err),
			 FERRY_ECONN);
	free(url);
}

/* ---- relays starting at once ---- */

#define NOPEN 6

struct opener {
	const char *url;
	int initial, rc;
	pthread_barrier_t *go;
	struct relay_phase *w;
	struct ferry_error err;
};

static void *open_one(void *arg)
{
	struct opener *o = arg;

	pthread_barrier_wait(o->go);
	o->rc = relay_phase_open(o->url, o->initial, &o->w, &o->err);
	return NULL;
}

static void concurrent_opens(void **state)
{
	char *url = svc_new_pg_db("relay_race");
	struct opener op[NOPEN];
	pthread_t th[NOPEN];
	pthread_barrier_t go;
	char want[16];
	int i;

	(void)state;
	pthread_barrier_init(&go, NULL, NOPEN);
	for (i = 0; i < NOPEN; i++) {
		memset(&op[i], 0, sizeof(op[i]));
		op[i].url = url;
		op[i].initial = i % 4;      /* they disagree on the first phase */
		op[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, open_one, &op[i]), 0);
	}
	for (i = 0; i < NOPEN; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < NOPEN; i++)
		if (op[i].rc != 0)
			fail_msg("open %d: %s", i, op[i].err.msg);
	/* one row, and every relay follows the phase it holds */
	assert_value(url, "SELECT count(*) FROM ferry.cutover", "1");
	snprintf(want, sizeof(want), "%s", ferry_phase_name(relay_phase_get(op[0].w)));
	assert_value(url, "SELECT phase FROM ferry.cutover", want);
	for (i = 0; i < NOPEN; i++)
		assert_int_equal(relay_phase_get(op[i].w), relay_phase_get(op[0].w));
	for (i = 0; i < NOPEN; i++)
		relay_phase_close(op[i].w);
	pthread_barrier_destroy(&go);
	free(url);
}

/* ---- device keys ---- */

struct looker {
	struct relay_devices *d;
	int bad;
};

/* Many threads asking at once each get their own right answers. */
static void *look_many(void *arg)
{
	struct looker *l = arg;
	struct ferry_error err = FERRY_ERROR_INIT;
	char id[64], key[32];
	int i;

	for (i = 0; i < 300; i++) {
		int k = i % 3, rc;

		snprintf(key, sizeof(key), k == 2 ? "unknown-%d" : "k%d", k == 2 ? i : k + 1);
		rc = relay_devices_lookup(l->d, key, id, sizeof(id), &err);
		if (k == 2 ? rc != 0 : rc != 1 || strcmp(id, k ? "dev-2" : "dev-1"))
			l->bad++;
	}
	return NULL;
}

static void devices_lookup(void **state)
{
	char *url = svc_new_pg_db("relay_devices");
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_relay_opts o;
	struct relay_devices *d = NULL;
	char id[64];

	(void)state;
	sql(url, "CREATE TABLE devices (api_key text PRIMARY KEY, device_id text);"
		 "INSERT INTO devices VALUES ('k1', 'dev-1'), ('k2', 'dev-2');"
		 "CREATE SCHEMA iot;"
		 "CREATE TABLE iot.\"Device Keys\" (\"Key\" uuid PRIMARY KEY, \"Id\" int);"
		 "INSERT INTO iot.\"Device Keys\" VALUES "
		 " ('7d0c1b8e-6f1e-4b8e-9a39-2f1d8c2b9e01', 42)");
	ferry_relay_opts_init(&o);
	assert_int_equal(relay_devices_open(url, &o, &d, &err), 0);
	assert_int_equal(relay_devices_lookup(d, "k1", id, sizeof(id), &err), 1);
	assert_string_equal(id, "dev-1");
	assert_int_equal(relay_devices_lookup(d, "k2", id, sizeof(id), &err), 1);
	assert_string_equal(id, "dev-2");
	assert_int_equal(relay_devices_lookup(d, "nope", id, sizeof(id), &err), 0);
	assert_string_equal(id, "");
	assert_int_equal(relay_devices_lookup(d, "k1'; DROP TABLE devices; --", id, sizeof(id),
					      &err), 0);
	/* answers come again the same (from the cache) */
	assert_int_equal(relay_devices_lookup(d, "k1", id, sizeof(id), &err), 1);
	assert_string_equal(id, "dev-1");
	assert_int_equal(relay_devices_lookup(d, "nope", id, sizeof(id), &err), 0);
	{
		struct looker l[4];
		pthread_t th[4];
		int i;

		for (i = 0; i < 4; i++) {
			l[i].d = d;
			l[i].bad = 0;
			assert_int_equal(pthread_create(&th[i], NULL, look_many, &l[i]), 0);
		}
		for (i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			assert_int_equal(l[i].bad, 0);
		}
	}
	relay_devices_close(d);

	/* quoted names, schema-qualified table, a uuid key column */
	o.devices_table = "iot.Device Keys";
	o.devices_key_column = "Key";
	o.devices_id_column = "Id";
	assert_int_equal(relay_devices_open(url, &o, &d, &err), 0);
	assert_int_equal(relay_devices_lookup(d, "7d0c1b8e-6f1e-4b8e-9a39-2f1d8c2b9e01", id,
					      sizeof(id), &err), 1);
	assert_string_equal(id, "42");
	assert_int_equal(relay_devices_lookup(d, "not-a-uuid", id, sizeof(id), &err), 0);
	relay_devices_close(d);

	/* a table that is not there is an error, not an unknown key */
	o.devices_table = "no_such_table";
	assert_int_equal(relay_devices_open(url, &o, &d, &err), 0);
	assert_true(relay_devices_lookup(d, "k1", id, sizeof(id), &err) < 0);
	assert_non_null(strstr(err.msg, "no_such_table"));
	relay_devices_close(d);
	free(url);
}

/* ---- a PostgreSQL restart (a private server) ---- */

static char own_dir[600];
static char own_url[512];

static int services(const char *args)
{
	const char *src = getenv("FERRY_SRC");
	char cmd[1400];

	snprintf(cmd, sizeof(cmd), "'%s/tests/services' %s '%s' >>'%s.log' 2>&1",
		 src && *src ? src : ".", args, own_dir, own_dir);
	return system(cmd);
}

static int own_pg_start(void **state)
{
	const char *base = getenv("FERRY_TEST_TMP");
	char env[700], line[512];
	FILE *f;

	(void)state;
	snprintf(own_dir, sizeof(own_dir), "%s/relay-phase-XXXXXX", base && *base ? base : "/tmp");
	mkdir(base && *base ? base : "/tmp", 0755);
	if (!mkdtemp(own_dir))
		return -1;
	{
		const char *src = getenv("FERRY_SRC");
		char cmd[1400];

		snprintf(cmd, sizeof(cmd), "'%s/tests/services' start '%s' pg >'%s.log' 2>&1",
			 src && *src ? src : ".", own_dir, own_dir);
		if (system(cmd) != 0) {
			fprintf(stderr, "cannot start a private PostgreSQL (see %s.log)\n", own_dir);
			return -1;
		}
	}
	snprintf(env, sizeof(env), "%s/env", own_dir);
	if (!(f = fopen(env, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "FERRY_PG_URL=", 13)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(own_url, sizeof(own_url), "%s", line + 13);
		}
	fclose(f);
	return own_url[0] ? 0 : -1;
}

static int own_pg_stop(void **state)
{
	(void)state;
	if (own_dir[0])
		services("stop");
	return 0;
}

static void survives_restart(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_phase *w = NULL;
	struct relay_devices *d = NULL;
	struct ferry_relay_opts o;
	char id[64];
	int i, rc = 0;

	(void)state;
	sql(own_url, "CREATE TABLE devices (api_key text, device_id text);"
		     "INSERT INTO devices VALUES ('k1', 'dev-1'), ('k2', 'dev-2')");
	ferry_relay_opts_init(&o);
	assert_int_equal(relay_devices_open(own_url, &o, &d, &err), 0);
	assert_int_equal(relay_devices_lookup(d, "k1", id, sizeof(id), &err), 1);
	assert_int_equal(relay_phase_open(own_url, FERRY_PHASE_DUAL, &w, &err), 0);
	assert_int_equal(ferry_cutover_set_phase(own_url, FERRY_PHASE_NEW_PRIMARY, "t", &err), 0);
	assert_int_equal(poll_until_news(w, 40), 1);

	/* down: poll says so, the phase is kept */
	assert_int_equal(services("stop-pg"), 0);
	for (i = 0; i < 20 && (rc = relay_phase_poll(w, 500, &err)) >= 0; i++)
		;
	assert_int_equal(rc, FERRY_ECONN);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_NEW_PRIMARY);
	assert_int_equal(relay_phase_poll(w, 200, &err), FERRY_ECONN);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_NEW_PRIMARY);
	assert_true(report(w, "r", ":1", 0, 0, 0, &err) < 0);
	assert_int_equal(relay_devices_lookup(d, "k2", id, sizeof(id), &err), FERRY_ECONN);
	/* a cached answer still comes while the database is down */
	assert_int_equal(relay_devices_lookup(d, "k1", id, sizeof(id), &err), 1);

	/* back: a phase set after the restart is followed */
	assert_int_equal(services("start-pg"), 0);
	assert_int_equal(ferry_cutover_set_phase(own_url, FERRY_PHASE_NEW_ONLY, "t", &err), 0);
	assert_int_equal(poll_until_news(w, 40), 1);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_NEW_ONLY);
	assert_int_equal(report(w, "r", ":1", 0, 0, 0, &err), 0);
	assert_int_equal(relay_devices_lookup(d, "k2", id, sizeof(id), &err), 1);
	assert_string_equal(id, "dev-2");

	/* a fast restart between two polls: the connection is found dead,
	 * replaced, and the next change heard */
	assert_int_equal(services("restart-pg"), 0);
	assert_int_equal(ferry_cutover_set_phase(own_url, FERRY_PHASE_DUAL, "t", &err), 0);
	for (i = 0; i < 40 && (rc = relay_phase_poll(w, 500, &err)) != 1; i++)
		;
	assert_int_equal(rc, 1);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_DUAL);
	/* and NOTIFY works again on the new connection */
	assert_int_equal(ferry_cutover_set_phase(own_url, FERRY_PHASE_OLD_ONLY, "t", &err), 0);
	assert_int_equal(poll_until_news(w, 40), 1);
	assert_int_equal(relay_phase_get(w), FERRY_PHASE_OLD_ONLY);
	relay_phase_close(w);
	relay_devices_close(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(watcher_follows_set_phase),
		cmocka_unit_test(status_without_cutover),
		cmocka_unit_test(concurrent_opens),
		cmocka_unit_test(devices_lookup),
	};
	const struct CMUnitTest restart[] = {
		cmocka_unit_test(survives_restart),
	};
	int rc;

	if (svc_load() < 0)
		return 77;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rc |= cmocka_run_group_tests_name("restart", restart, own_pg_start, own_pg_stop);
	return rc;
}
