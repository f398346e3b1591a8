/*
 * test_relay_stores.c - the relay's two sinks (src/lib/relay/store_pg.c,
 * store_influx.c) against the PostgreSQL and InfluxDB tests/services
 * started:
 *   - narrow rows written by relay_store_write() equal the rows
 *     `ferry copy lp://` writes for the same lines (EXCEPT ALL both ways),
 *     and the spool position is committed with them;
 *   - a map file likewise; a point the map's integer column cannot take
 *     (copy's transform) and a point a CHECK constraint refuses (the
 *     server, redone record by record and point by point) are the only
 *     ones left out, with their reasons and lines;
 *   - a stopped PostgreSQL (a private one) is FERRY_ECONN, and the same
 *     handle writes again after start-pg;
 *   - InfluxDB: written points read back through relay_influx_query(), a
 *     field type conflict refuses exactly its line, an unknown database
 *     refuses the record (so does a missing retention policy), gzip'd
 *     bodies, /query GET and POST passed through, a closed port is
 *     FERRY_ECONN; with auth-enabled (a private influxd) the URL's
 *     credentials are used, and refused ones are FERRY_ECONN;
 *   - InfluxDB 2.x (influx2_fake.py, no real 2.x here): the same through
 *     /api/v2/write with the URL's token.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/registry.h"
#include "relay/relay_int.h"
#include "services_env.h"
#include "tsmap/tsmap.h"

static char tmpdir[512];

/* ------------------------------------------------------------ helpers */

struct qout {
	struct ferry_buf b;
};

static int qrow(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct ferry_buf *b = ud;
	int i, e = 0;

	(void)err;
	for (i = 0; i < ncols; i++) {
		if (i)
			e |= ferry_buf_addch(b, '|');
		e |= ferry_buf_addstr(b, vals[i] ? vals[i] : "NULL");
	}
	e |= ferry_buf_addch(b, '\n');
	return e;
}

/* The rows of sql on url as text: "a|b\n" per row (the caller frees). */
static char *sql(const char *url, const char *q)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf b = FERRY_BUF_INIT;
	ferry_conn *c = NULL;

	if (ferry_conn_open(url, 0, &c, &err) < 0)
		fail_msg("connect %s: %s", url, err.msg);
	if (ferry_conn_ops_of(c)->query(c, q, NULL, 0, qrow, &b, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	ferry_conn_close(c);
	if (b.len && b.buf[b.len - 1] == '\n')
		b.buf[--b.len] = '\0';
	return ferry_buf_detach(&b, NULL);
}

static void sql_exec(const char *url, const char *q)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_conn *c = NULL;

	if (ferry_conn_open(url, 0, &c, &err) < 0)
		fail_msg("connect %s: %s", url, err.msg);
	if (ferry_conn_ops_of(c)->exec(c, q, &err) < 0)
		fail_msg("%s: %s", q, err.msg);
	ferry_conn_close(c);
}

static void sql_eq(const char *url, const char *q, const char *want)
{
	char *got = sql(url, q);

	if (strcmp(got, want))
		fail_msg("%s\n got: %s\nwant: %s", q, got, want);
	free(got);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* ferry copy ARGS; its exit code. */
static int ferry_copy(const char *args)
{
	char cmd[4096];
	int st;

	snprintf(cmd, sizeof(cmd), "\"%s\" copy -q %s >%s/copy.log 2>&1", getenv("FERRY_BIN"),
		 args, tmpdir);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Rows of a in b and of b in a (EXCEPT ALL both ways): "0|0" when equal. */
static void tables_equal(const char *url, const char *a, const char *b, const char *nrows)
{
	char q[1024];

	snprintf(q, sizeof(q), "SELECT (SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL "
		 "SELECT * FROM %s) x), (SELECT count(*) FROM (SELECT * FROM %s EXCEPT ALL "
		 "SELECT * FROM %s) y)", a, b, b, a);
	sql_eq(url, q, "0|0");
	snprintf(q, sizeof(q), "SELECT count(*) FROM %s", a);
	sql_eq(url, q, nrows);
}

static void rec_set(struct relay_rec *r, uint64_t seq, const char *db, const char *lp,
		    size_t npoints, struct ferry_buf *bad)
{
	memset(r, 0, sizeof(*r));
	r->seq = seq;
	r->db = db;
	r->rp = "";
	r->lp = lp;
	r->n = strlen(lp);
	r->npoints = npoints;
	r->bad = bad;
}

/* ------------------------------------------------------------ PostgreSQL */

/* Two records, tags with and without entity_id, every field type,
 * escapes, nanoseconds below the microsecond, a negative time. */
static const char rec1[] =
	"temp,entity_id=sensor.kitchen,domain=sensor value=21.5,ok=true 1700000000123456789\n"
	"temp,entity_id=sensor.kitchen,domain=sensor value=22i,note=\"a \\\"q\\\" b\" 1700000001000000000\n"
	"power,host=a\\ b,region=eu-1 w=18446744073709551615u,v=-3i 1700000002000000001\n";
static const char rec2[] =
	"state,entity_id=light.hall on=false,level=0.25 -1000\n"
	"weird\\,m,k\\=x=v\\ w f\\ 1=\"ünïcode ✓\" 1700000003000000000\n";

static void test_pg_narrow_equals_copy(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;
	struct relay_rec recs[2];
	struct ferry_buf bad = FERRY_BUF_INIT;
	char *url = svc_new_pg_db("relay_narrow");
	char path[600], args[2048];
	uint64_t seq = 99;

	(void)state;
	assert_non_null(url);
	memset(&ts, 0, sizeof(ts));
	if (relay_store_open(url, RELAY_OLD, &ts, &s, &err) < 0)
		fail_msg("open: %s", err.msg);
	assert_string_equal(relay_store_kind(s), "postgres");
	assert_int_equal(relay_store_position(s, "spool-a", &seq, &err), 0);
	assert_int_equal(seq, 0);
	rec_set(&recs[0], 5, "home", rec1, 3, &bad);
	rec_set(&recs[1], 7, "home", rec2, 2, &bad);
	if (relay_store_write(s, recs, 2, "spool-a", &err) < 0)
		fail_msg("write: %s", err.msg);
	/* the unsigned 2^64-1 does not fit integer_value: copy refuses it too */
	assert_int_equal(recs[0].nbad, 1);
	assert_non_null(strstr(recs[0].why, "does not fit integer_value"));
	assert_int_equal(recs[1].nbad, 0);
	assert_non_null(strstr(bad.buf, "power,host=a\\ b"));
	assert_int_equal(relay_store_position(s, "spool-a", &seq, &err), 0);
	assert_int_equal(seq, 7);
	assert_int_equal(relay_store_ping(s), 1);
	/* the server dropped the idle connection (a restart, an admin): the
	 * next write connects again by itself */
	sql_eq(url, "SELECT count(pg_terminate_backend(pid)) > 0 FROM pg_stat_activity WHERE "
	       "datname = current_database() AND pid <> pg_backend_pid()", "t");
	rec_set(&recs[0], 8, "home", "late,entity_id=x v=1 1700000009000000000\n", 1, &bad);
	if (relay_store_write(s, recs, 1, "spool-a", &err) < 0)
		fail_msg("write after the backend was terminated: %s", err.msg);
	sql_eq(url, "SELECT count(*) FROM telemetry_data WHERE measurement = 'late'", "1");
	sql_exec(url, "DELETE FROM telemetry_data WHERE measurement = 'late'");
	assert_int_equal(relay_store_position(s, "spool-a", &seq, &err), 0);
	assert_int_equal(seq, 8);

	snprintf(path, sizeof(path), "%s/narrow.lp", tmpdir);
	{
		struct ferry_buf all = FERRY_BUF_INIT;

		assert_int_equal(ferry_buf_addstr(&all, rec1), 0);
		assert_int_equal(ferry_buf_addstr(&all, rec2), 0);
		write_file(path, all.buf);
		ferry_buf_release(&all);
	}
	snprintf(args, sizeof(args), "--rejects %s/rej-narrow --schema copied lp://%s %s",
		 tmpdir, path, url);
	assert_int_equal(ferry_copy(args), 3);   /* 3: with rejects (the unsigned) */
	/* 2 + 2 + 1 (of the power line: v; w is refused, as copy refuses it)
	 * + 2 + 1 values */
	tables_equal(url, "public.telemetry_data", "copied.telemetry_data", "8");
	/* the same DDL: columns, types, not-null, and the indexes */
	sql_eq(url, "SELECT count(*) FROM (SELECT column_name, data_type, is_nullable, "
	       "ordinal_position FROM information_schema.columns WHERE table_name = "
	       "'telemetry_data' GROUP BY 1, 2, 3, 4 HAVING count(*) = 2) x", "9");
	sql_eq(url, "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
	       "WHERE schemaname = 'public' AND tablename = 'telemetry_data'",
	       "telemetry_data_series_field_time_idx,telemetry_data_series_time_idx");
	/* a second store on the same database finds the table and the position */
	relay_store_close(s);
	s = NULL;
	assert_int_equal(relay_store_open(url, RELAY_OLD, &ts, &s, &err), 0);
	assert_int_equal(relay_store_position(s, "spool-a", &seq, &err), 0);
	assert_int_equal(seq, 8);
	assert_int_equal(relay_store_position(s, "spool-b", &seq, &err), 0);
	assert_int_equal(seq, 0);
	relay_store_close(s);
	ferry_buf_release(&bad);
	free(url);
}

/* The options of the layout (table, series tag, keep_ns) as copy's. */
static void test_pg_narrow_options(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;
	struct relay_rec recs[2];
	char *url = svc_new_pg_db("relay_opts");
	char path[600], args[2048];

	(void)state;
	assert_non_null(url);
	memset(&ts, 0, sizeof(ts));
	ts.table = "tele";
	ts.series_tag = "host";
	ts.keep_ns = 1;
	ts.layout = "narrow";
	if (relay_store_open(url, RELAY_OLD, &ts, &s, &err) < 0)
		fail_msg("open: %s", err.msg);
	rec_set(&recs[0], 1, "home", rec1, 3, NULL);
	rec_set(&recs[1], 2, "home", rec2, 2, NULL);
	if (relay_store_write(s, recs, 2, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	relay_store_close(s);
	snprintf(path, sizeof(path), "%s/opts.lp", tmpdir);
	{
		struct ferry_buf all = FERRY_BUF_INIT;

		assert_int_equal(ferry_buf_addstr(&all, rec1), 0);
		assert_int_equal(ferry_buf_addstr(&all, rec2), 0);
		write_file(path, all.buf);
		ferry_buf_release(&all);
	}
	snprintf(args, sizeof(args), "--rejects %s/rej-opts --schema copied --table tele "
		 "--series-tag host --keep-ns --layout narrow lp://%s %s", tmpdir, path, url);
	assert_int_equal(ferry_copy(args), 3);
	tables_equal(url, "public.tele", "copied.tele", "8");
	/* the series is the host tag where there is one; time_ns is exact */
	sql_eq(url, "SELECT series || '|' || time_ns FROM tele WHERE measurement = 'power'",
	       "a b|1700000002000000001");
	free(url);
}

/* The wide layout opens without a table (each measurement's is made when
 * its first point comes: relay_wide.sh), even with the server down; an
 * unknown layout is a usage error that names the ones there are. */
static void test_pg_layouts(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;

	(void)state;
	memset(&ts, 0, sizeof(ts));
	ts.layout = "wide";
	assert_int_equal(relay_store_open("postgres://127.0.0.1:1/x", RELAY_OLD, &ts, &s, &err), 0);
	assert_non_null(s);
	relay_store_close(s);
	s = NULL;
	ts.layout = "tall";
	assert_int_equal(relay_store_open("postgres://127.0.0.1:1/x", RELAY_OLD, &ts, &s, &err),
			 FERRY_EUSAGE);
	assert_null(s);
	assert_non_null(strstr(err.msg, "narrow, wide"));
}

static const char map_yaml[] =
	"target: readings\n"
	"columns:\n"
	"  ts: time\n"
	"  entity: tag.entity_id\n"
	"  field: \"{measurement}.{field}\"\n"
	"  value: value.numeric\n";

static const char map_rec1[] =
	"temp,entity_id=a v=1 1700000000000000000\n"
	"temp,entity_id=b v=1.5 1700000001000000000\n"     /* not an integer */
	"temp,entity_id=c v=42i 1700000002000000000\n";
static const char map_rec2[] =
	"hum,entity_id=a v=7 1700000003000000000\n";

static void test_pg_map(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;
	struct relay_rec recs[3];
	struct ferry_buf bad = FERRY_BUF_INIT;
	char *url = svc_new_pg_db("relay_map"), *q;
	char map[600], path[600], args[2048];
	uint64_t seq = 0;

	(void)state;
	assert_non_null(url);
	sql_exec(url, "CREATE SCHEMA copied; "
		 "CREATE TABLE public.readings (ts timestamptz NOT NULL, entity text, field text, "
		 "value integer CHECK (value >= 0)); "
		 "CREATE TABLE copied.readings (ts timestamptz NOT NULL, entity text, field text, "
		 "value integer CHECK (value >= 0))");
	snprintf(map, sizeof(map), "%s/map.yaml", tmpdir);
	write_file(map, map_yaml);
	memset(&ts, 0, sizeof(ts));
	ts.map = map;
	if (relay_store_open(url, RELAY_OLD, &ts, &s, &err) < 0)
		fail_msg("open: %s", err.msg);
	rec_set(&recs[0], 1, "home", map_rec1, 3, &bad);
	rec_set(&recs[1], 2, "home", map_rec2, 1, &bad);
	if (relay_store_write(s, recs, 2, "sp", &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 1);
	assert_int_equal(recs[1].nbad, 0);
	assert_non_null(strstr(recs[0].why, "value"));
	assert_string_equal(bad.buf, "temp,entity_id=b v=1.5 1700000001000000000\n");

	snprintf(path, sizeof(path), "%s/map.lp", tmpdir);
	{
		struct ferry_buf all = FERRY_BUF_INIT;

		assert_int_equal(ferry_buf_addstr(&all, map_rec1), 0);
		assert_int_equal(ferry_buf_addstr(&all, map_rec2), 0);
		write_file(path, all.buf);
		ferry_buf_release(&all);
	}
	snprintf(args, sizeof(args), "--rejects %s/rej-map --schema copied --map %s lp://%s %s",
		 tmpdir, map, path, url);
	assert_int_equal(ferry_copy(args), 3);   /* the 1.5 is a reject there too */
	tables_equal(url, "public.readings", "copied.readings", "3");

	/* the server refuses one point (the CHECK): only that one is left out,
	 * found record by record and point by point; the position commits */
	ferry_buf_clear(&bad);
	rec_set(&recs[0], 3, "home", "hum,entity_id=x v=1 1700000010000000000\n", 1, &bad);
	rec_set(&recs[1], 4, "home",
		"hum,entity_id=y v=2 1700000011000000000\n"
		"hum,entity_id=z v=-5 1700000012000000000\n"
		"hum,entity_id=w v=3 1700000013000000000\n", 3, &bad);
	rec_set(&recs[2], 5, "home", "hum,entity_id=v v=4 1700000014000000000\n", 1, &bad);
	if (relay_store_write(s, recs, 3, "sp", &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 0);
	assert_int_equal(recs[1].nbad, 1);
	assert_int_equal(recs[2].nbad, 0);
	assert_non_null(strstr(recs[1].why, "check constraint"));
	assert_string_equal(bad.buf, "hum,entity_id=z v=-5 1700000012000000000\n");
	q = sql(url, "SELECT string_agg(entity || '=' || value, ',' ORDER BY ts) FROM readings "
		"WHERE ts >= '2023-11-14 22:13:30+00'");
	assert_string_equal(q, "x=1,y=2,w=3,v=4");
	free(q);
	assert_int_equal(relay_store_position(s, "sp", &seq, &err), 0);
	assert_int_equal(seq, 5);
	relay_store_close(s);

	/* a map whose table is missing: the user's table is never made */
	sql_exec(url, "DROP TABLE public.readings");
	assert_true(relay_store_open(url, RELAY_OLD, &ts, &s, &err) < 0);
	assert_non_null(strstr(err.msg, "readings"));
	ferry_buf_release(&bad);
	free(url);
}

/* tests/services CMD DIR [ARG], its output in tmpdir/services.log */
static int services(const char *cmd, const char *dir, const char *arg)
{
	char log[600];

	snprintf(log, sizeof(log), "%s/services.log", tmpdir);
	return svc_run(cmd, dir, arg, log);
}

static void test_pg_down_and_back(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;
	struct relay_rec rec;
	char dir[600], envp[700], line[1024], url[1024] = "";
	uint64_t seq = 0;
	FILE *f;
	int rc;

	(void)state;
	/* a private server: the shared one serves the other tests meanwhile */
	snprintf(dir, sizeof(dir), "%s/own-pg", tmpdir);
	if (services("start", dir, "pg") != 0)
		fail_msg("cannot start a private PostgreSQL (see %s/services.log)", tmpdir);
	snprintf(envp, sizeof(envp), "%s/env", dir);
	assert_non_null(f = fopen(envp, "r"));
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "FERRY_PG_URL=", 13)) {
			snprintf(url, sizeof(url), "%s", line + 13);
			url[strcspn(url, "\n")] = '\0';
		}
	fclose(f);
	assert_true(url[0] != '\0');

	memset(&ts, 0, sizeof(ts));
	if (relay_store_open(url, RELAY_OLD, &ts, &s, &err) < 0) {
		services("stop", dir, NULL);
		fail_msg("open: %s", err.msg);
	}
	rec_set(&rec, 1, "home", "m,entity_id=a v=1 1700000000000000000\n", 1, NULL);
	rc = relay_store_write(s, &rec, 1, "sp", &err);
	assert_int_equal(services("stop-pg", dir, "fast"), 0);
	assert_int_equal(rc, 0);
	assert_int_equal(relay_store_ping(s), 0);
	rec_set(&rec, 2, "home", "m,entity_id=a v=2 1700000001000000000\n", 1, NULL);
	ferry_error_clear(&err);
	rc = relay_store_write(s, &rec, 1, "sp", &err);
	assert_int_equal(services("start-pg", dir, NULL), 0);
	assert_int_equal(rc, FERRY_ECONN);
	/* the same handle, no reopen: the failed write left no position */
	assert_int_equal(relay_store_position(s, "sp", &seq, &err), 0);
	assert_int_equal(seq, 1);
	rec_set(&rec, 3, "home", "m,entity_id=a v=3 1700000002000000000\n", 1, NULL);
	rc = relay_store_write(s, &rec, 1, "sp", &err);
	if (rc != 0) {
		services("stop", dir, NULL);
		fail_msg("write after start-pg: %s", err.msg);
	}
	assert_int_equal(relay_store_position(s, "sp", &seq, &err), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(relay_store_ping(s), 1);
	relay_store_close(s);
	sql_eq(url, "SELECT string_agg(numeric_value::text, ',' ORDER BY time) FROM telemetry_data",
	       "1,3");
	assert_int_equal(services("stop", dir, NULL), 0);
}

/* A store on a server that is down at open is not an error. */
static void test_pg_down_at_open(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_ts_opts ts;
	struct relay_store *s = NULL;
	struct relay_rec rec;

	(void)state;
	memset(&ts, 0, sizeof(ts));
	assert_int_equal(relay_store_open("postgres://127.0.0.1:1/nothing", RELAY_OLD, &ts, &s, &err), 0);
	assert_int_equal(relay_store_ping(s), 0);
	rec_set(&rec, 1, "home", "m v=1 1\n", 1, NULL);
	assert_int_equal(relay_store_write(s, &rec, 1, NULL, &err), FERRY_ECONN);
	relay_store_close(s);
}

/* ------------------------------------------------------------ InfluxDB */

static char influx_url[512];   /* influx://127.0.0.1:PORT */

static int influx_setup(void **state)
{
	const char *u = svc_get("FERRY_INFLUX_URL");

	(void)state;
	if (!u || strncmp(u, "http://", 7))
		return -1;
	snprintf(influx_url, sizeof(influx_url), "influx://%s", u + 7);
	return 0;
}


/* relay_influx_query() with a query of these parts (body NUL-ended). */
static int iq(struct relay_store *s, const char *method, const char *query, const char *body,
	      const char *ctype, const char *accept, struct relay_answer *ans,
	      struct ferry_error *err)
{
	const struct relay_query q = { method, query, body, body ? strlen(body) : 0, ctype,
				       accept };

	return relay_influx_query(s, &q, ans, err);
}
/* An InfluxQL statement through the pass-through; the body (caller frees). */
static char *ifx_q(struct relay_store *s, const char *db, const char *q, int *status)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_answer ans;
	struct ferry_buf qs = FERRY_BUF_INIT;
	const char *p;

	memset(&ans, 0, sizeof(ans));
	ferry_buf_init(&ans.body, 0);
	if (db)
		assert_int_equal(ferry_buf_addf(&qs, "db=%s&", db), 0);
	assert_int_equal(ferry_buf_addstr(&qs, "q="), 0);
	for (p = q; *p; p++) {
		if (*p == ' ')
			assert_int_equal(ferry_buf_addstr(&qs, "%20"), 0);
		else if (*p == '"')
			assert_int_equal(ferry_buf_addstr(&qs, "%22"), 0);
		else
			assert_int_equal(ferry_buf_addch(&qs, *p), 0);
	}
	if (iq(s, "GET", qs.buf, NULL, NULL, NULL, &ans, &err) < 0)
		fail_msg("query %s: %s", q, err.msg);
	ferry_buf_release(&qs);
	*status = ans.status;
	assert_non_null(strstr(ans.content_type, "json"));
	return ferry_buf_detach(&ans.body, NULL);
}

static void test_influx(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_store *s = NULL;
	struct relay_rec recs[3];
	struct ferry_buf bad = FERRY_BUF_INIT;
	char url[700], db[64], *body;
	int st;

	(void)state;
	snprintf(db, sizeof(db), "relay_%d", (int)getpid());
	snprintf(url, sizeof(url), "%s/%s", influx_url, db);
	if (relay_store_open(url, RELAY_OLD, NULL, &s, &err) < 0)
		fail_msg("open %s: %s", url, err.msg);
	assert_string_equal(relay_store_kind(s), "influx");
	assert_int_equal(relay_store_ping(s), 1);
	{
		char q[128];

		snprintf(q, sizeof(q), "CREATE DATABASE \"%s\"", db);
		free(ifx_q(s, NULL, q, &st));
		assert_int_equal(st, 200);
	}
	assert_int_equal(relay_store_has_db(s, db, &err), 1);
	assert_int_equal(relay_store_has_db(s, "no_such_db_here", &err), 0);

	/* two records of one database in one body, and one of an unknown one */
	rec_set(&recs[0], 0, db, "cpu,host=a v=1.5 1700000000000000000\n"
		"cpu,host=b v=2.5 1700000000000000000\n", 2, &bad);
	rec_set(&recs[1], 0, db, "cpu,host=a v=3.5 1700000001000000000\n", 1, &bad);
	rec_set(&recs[2], 0, "no_such_db_here", "cpu,host=a v=9 1700000001000000000\n", 1, &bad);
	if (relay_store_write(s, recs, 3, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 0);
	assert_int_equal(recs[1].nbad, 0);
	assert_int_equal(recs[2].nbad, 1);
	/* influxd's status and words, not where the relay's InfluxDB is */
	assert_int_equal(recs[0].missing, 0);
	assert_int_equal(recs[2].missing, 404);
	assert_string_equal(recs[2].why, "database not found: \"no_such_db_here\"");
	assert_string_equal(bad.buf, "cpu,host=a v=9 1700000001000000000\n");
	/* a retention policy that is not there (influxd: a 500) is bad input too */
	ferry_buf_clear(&bad);
	rec_set(&recs[0], 0, db, "cpu,host=z v=1 1700000000000000000\n", 1, &bad);
	recs[0].rp = "nope";
	if (relay_store_write(s, recs, 1, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 1);
	assert_int_equal(recs[0].missing, 500);
	assert_string_equal(recs[0].why, "retention policy not found: nope");
	body = ifx_q(s, db, "SELECT sum(v) FROM cpu", &st);
	assert_int_equal(st, 200);
	if (!strstr(body, ",7.5]"))
		fail_msg("sum: %s", body);
	free(body);

	/* a field type conflict among good lines: only that line */
	ferry_buf_clear(&bad);
	rec_set(&recs[0], 0, db, "cpu,host=c v=1 1700000002000000000\n"
		"cpu,host=c v=\"text\" 1700000003000000000\n"
		"cpu,host=c v=2 1700000004000000000\n", 3, &bad);
	if (relay_store_write(s, recs, 1, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 1);
	assert_non_null(strstr(recs[0].why, "field type conflict"));
	assert_string_equal(bad.buf, "cpu,host=c v=\"text\" 1700000003000000000\n");
	body = ifx_q(s, db, "SELECT count(v) FROM cpu WHERE host='c'", &st);
	if (!strstr(body, ",2]"))
		fail_msg("count: %s", body);
	free(body);

	/* 40 lines, two in conflict, in the second of two records of one
	 * body: exactly those two, in order, found by halving */
	ferry_buf_clear(&bad);
	{
		struct ferry_buf many = FERRY_BUF_INIT;
		int i;

		for (i = 0; i < 40; i++)
			assert_int_equal(ferry_buf_addf(&many, i == 7 || i == 30 ?
				"cpu,host=d v=\"t%d\" %d\n" : "cpu,host=d v=%d %d\n", i,
				1700000100 + i), 0);
		rec_set(&recs[0], 0, db, "cpu,host=e v=1 1700000100000000000\n", 1, &bad);
		rec_set(&recs[1], 0, db, many.buf, 40, &bad);
		if (relay_store_write(s, recs, 2, NULL, &err) < 0)
			fail_msg("write: %s", err.msg);
		ferry_buf_release(&many);
	}
	assert_int_equal(recs[0].nbad, 0);
	assert_int_equal(recs[1].nbad, 2);
	assert_non_null(strstr(recs[1].why, "field type conflict"));
	assert_string_equal(bad.buf, "cpu,host=d v=\"t7\" 1700000107\n"
			    "cpu,host=d v=\"t30\" 1700000130\n");
	body = ifx_q(s, db, "SELECT count(v) FROM cpu WHERE host='d' OR host='e'", &st);
	if (!strstr(body, ",39]"))
		fail_msg("count: %s", body);
	free(body);
	relay_store_close(s);

	/* a gzip'd body (gzip=1: on loopback the default is plain), and a
	 * /query POST with a form body passed through */
	snprintf(url, sizeof(url), "%s/%s?gzip=1", influx_url, db);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	rec_set(&recs[0], 0, db, "gz,host=a v=5 1700000005000000000\n", 1, NULL);
	if (relay_store_write(s, recs, 1, NULL, &err) < 0)
		fail_msg("gzip write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 0);
	{
		struct relay_answer ans;
		char qs[128];
		static const char form[] = "q=SELECT%20v%20FROM%20gz";

		memset(&ans, 0, sizeof(ans));
		ferry_buf_init(&ans.body, 0);
		snprintf(qs, sizeof(qs), "db=%s", db);
		assert_int_equal(iq(s, "POST", qs, form, "application/x-www-form-urlencoded", NULL,
				    &ans, &err), 0);
		assert_int_equal(ans.status, 200);
		if (!strstr(ans.body.buf, ",5]"))
			fail_msg("gz: %s", ans.body.buf);
		/* an InfluxQL error comes back as influxd gave it */
		assert_int_equal(iq(s, "GET", "q=SELEC", NULL, NULL, NULL, &ans, &err), 0);
		assert_int_equal(ans.status, 400);
		assert_non_null(strstr(ans.body.buf, "error"));
		/* the client's Accept goes along: influxd answers CSV */
		assert_int_equal(iq(s, "POST", qs, form, "application/x-www-form-urlencoded",
				    "application/csv", &ans, &err), 0);
		assert_int_equal(ans.status, 200);
		assert_string_equal(ans.content_type, "text/csv");
		if (strncmp(ans.body.buf, "name,tags,time,v\n", 16) || !strstr(ans.body.buf, ",5\n"))
			fail_msg("csv: %s", ans.body.buf);
		ferry_buf_release(&ans.body);
	}
	relay_store_close(s);

	/* nobody listening: FERRY_ECONN, nothing refused */
	assert_int_equal(relay_store_open("influx://127.0.0.1:1/x", RELAY_OLD, NULL, &s, &err), 0);
	assert_int_equal(relay_store_ping(s), 0);
	rec_set(&recs[0], 0, "x", "cpu v=1 1\n", 1, NULL);
	assert_int_equal(relay_store_write(s, recs, 1, NULL, &err), FERRY_ECONN);
	assert_int_equal(recs[0].nbad, 0);
	assert_non_null(strstr(err.msg, "127.0.0.1:1"));
	assert_int_equal(relay_store_has_db(s, "x", &err), FERRY_ECONN);
	relay_store_close(s);
	ferry_buf_release(&bad);
}

/* An influxd with auth-enabled (a private one): the URL's credentials go
 * as Basic auth; refused credentials and a user without write permission
 * are FERRY_ECONN (configuration: the spool keeps the points), never bad
 * input. */
static void test_influx_auth(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_store *s = NULL;
	struct relay_rec rec;
	struct relay_answer ans;
	char dir[600], base[600], url[800], cmd[2048];
	int st;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/auth-influx", tmpdir);
	snprintf(cmd, sizeof(cmd), "FERRY_INFLUX_AUTH=true \"%s/tests/services\" start \"%s\" influx "
		 ">>%s/services.log 2>&1", getenv("FERRY_SRC"), dir, tmpdir);
	st = system(cmd);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("cannot start an influxd with auth (see %s/services.log)", tmpdir);
	snprintf(base, sizeof(base), "%s", svc_env_of(dir, "FERRY_INFLUX_URL") + 7);
	/* the first user may be made without credentials */
	snprintf(url, sizeof(url), "influx://%s/x", base);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	memset(&ans, 0, sizeof(ans));
	ferry_buf_init(&ans.body, 0);
	assert_int_equal(iq(s, "POST", "q=CREATE%20USER%20admin%20WITH%20PASSWORD"
		"%20%27adminpw%27%20WITH%20ALL%20PRIVILEGES", NULL, NULL, NULL, &ans, &err), 0);
	assert_int_equal(ans.status, 200);
	relay_store_close(s);

	snprintf(url, sizeof(url), "influx://admin:adminpw@%s/ha", base);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	/* no credentials from the client: the URL's */
	assert_int_equal(iq(s, "POST", "q=CREATE%20DATABASE%20ha", NULL, NULL, NULL, &ans, &err), 0);
	assert_int_equal(ans.status, 200);
	assert_int_equal(iq(s, "POST", "q=CREATE%20USER%20reader%20WITH%20PASSWORD"
		"%20%27readpw%27", NULL, NULL, NULL, &ans, &err), 0);
	assert_int_equal(ans.status, 200);
	assert_int_equal(relay_store_has_db(s, "ha", &err), 1);
	rec_set(&rec, 0, "ha", "m v=1 1700000000000000000\n", 1, NULL);
	if (relay_store_write(s, &rec, 1, NULL, &err) < 0)
		fail_msg("write as admin: %s", err.msg);
	assert_int_equal(rec.nbad, 0);
	/* the client's own credentials are passed as given */
	assert_int_equal(iq(s, "GET", "u=admin&p=wrong&q=SHOW%20DATABASES", NULL, NULL, NULL,
				    &ans, &err), 0);
	assert_int_equal(ans.status, 401);
	relay_store_close(s);

	snprintf(url, sizeof(url), "influx://admin:nope@%s/ha", base);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	assert_int_equal(relay_store_write(s, &rec, 1, NULL, &err), FERRY_ECONN);
	assert_non_null(strstr(err.msg, "credentials"));
	assert_int_equal(rec.nbad, 0);
	relay_store_close(s);

	snprintf(url, sizeof(url), "influx://reader:readpw@%s/ha", base);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	assert_int_equal(relay_store_write(s, &rec, 1, NULL, &err), FERRY_ECONN);
	assert_non_null(strstr(err.msg, "HTTP 403"));
	relay_store_close(s);
	ferry_buf_release(&ans.body);
	assert_int_equal(services("stop", dir, NULL), 0);
}

static int fake2_pid;   /* stopped by main when a test failed half-way */

/* An InfluxDB 2.x store (influx2_fake.py: no 2.x server can be installed
 * here): records of one bucket in one /api/v2/write, a type conflict
 * (2.x: 422) refuses exactly its line into the record, an unknown bucket
 * refuses the record (dead letters), and the pass-through carries the
 * token. */
static void test_influx2(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_store *s = NULL;
	struct relay_rec recs[3];
	struct relay_answer ans;
	struct ferry_buf bad = FERRY_BUF_INIT;
	char url[256];
	int port, pid;

	(void)state;
	if ((pid = fake2_pid = svc_fake2_start(tmpdir, &port)) < 0)
		fail_msg("cannot start influx2_fake.py");
	snprintf(url, sizeof(url), "influx://127.0.0.1:%d/?org=acme&bucket=ha&token=s3cret", port);
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	assert_int_equal(relay_store_ping(s), 1);
	assert_int_equal(relay_store_has_db(s, "ha", &err), 1);
	rec_set(&recs[0], 0, "ha", "m,e=a v=1 1700000000000000000\n", 1, &bad);
	rec_set(&recs[1], 0, "ha", "m,e=a v=2 1700000001000000000\n"
		"m,e=a v=\"s\" 1700000002000000000\n", 2, &bad);
	rec_set(&recs[2], 0, "gone", "m,e=a v=3 1700000003000000000\n", 1, &bad);
	if (relay_store_write(s, recs, 3, NULL, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(recs[0].nbad, 0);
	assert_int_equal(recs[1].nbad, 1);
	assert_non_null(strstr(recs[1].why, "field type conflict"));
	assert_int_equal(recs[2].nbad, 1);
	assert_non_null(strstr(recs[2].why, "bucket \"gone\" not found"));
	assert_string_equal(bad.buf, "m,e=a v=\"s\" 1700000002000000000\n"
			    "m,e=a v=3 1700000003000000000\n");
	memset(&ans, 0, sizeof(ans));
	ferry_buf_init(&ans.body, 0);
	if (iq(s, "GET", NULL, NULL, NULL, NULL, &ans, &err) < 0)
		fail_msg("query: %s", err.msg);
	ferry_buf_release(&ans.body);
	relay_store_close(s);
	/* what the stand-in stored: the good lines of both records */
	assert_int_equal(relay_store_open(url, RELAY_OLD, NULL, &s, &err), 0);
	{
		struct tm_ifx_writer *w;
		ferry_url *u = NULL;
		struct ferry_buf pts = FERRY_BUF_INIT;
		const struct tm_ifx_req rq = { .path = "/fake/points?bucket=ha", .max = 1u << 20 };
		char ct[64];
		long st;

		assert_int_equal(ferry_url_parse(url, &u, &err), 0);
		assert_int_equal(tm_ifx_writer_open(u, &w, &err), 0);
		assert_int_equal(tm_ifx_request(w, &rq, &st, ct, sizeof(ct), &pts, &err), 0);
		assert_string_equal(pts.buf, "m,e=a 1700000000000000000 v=1\n"
				    "m,e=a 1700000001000000000 v=2\n");
		tm_ifx_writer_close(w);
		ferry_url_free(u);
		ferry_buf_release(&pts);
	}
	relay_store_close(s);
	svc_fake2_stop(pid);
	fake2_pid = 0;
	ferry_buf_release(&bad);
}

int main(void)
{
	const struct CMUnitTest pg[] = {
		cmocka_unit_test(test_pg_layouts),
		cmocka_unit_test(test_pg_down_at_open),
		cmocka_unit_test(test_pg_narrow_equals_copy),
		cmocka_unit_test(test_pg_narrow_options),
		cmocka_unit_test(test_pg_map),
		cmocka_unit_test(test_pg_down_and_back),
	};
	const struct CMUnitTest ifx[] = {
		cmocka_unit_test(test_influx),
		cmocka_unit_test(test_influx_auth),
		cmocka_unit_test(test_influx2),
	};
	const char *t = getenv("FERRY_TEST_TMP");
	int rc;

	if (svc_load() < 0)
		return 77;
	snprintf(tmpdir, sizeof(tmpdir), "%s/relay_stores.%d", t ? t : "/tmp", (int)getpid());
	{
		char cmd[700];

		snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmpdir);
		if (system(cmd) != 0)
			return 1;
	}
	rc = cmocka_run_group_tests_name("relay stores: postgres", pg, NULL, NULL);
	if (svc_get("FERRY_INFLUX_URL"))
		rc |= cmocka_run_group_tests_name("relay stores: influx", ifx, influx_setup, NULL);
	/* private servers of a test that failed half-way (stop is idempotent) */
	{
		char dir[600];

		snprintf(dir, sizeof(dir), "%s/own-pg", tmpdir);
		services("stop", dir, NULL);
		snprintf(dir, sizeof(dir), "%s/auth-influx", tmpdir);
		services("stop", dir, NULL);
		svc_fake2_stop(fake2_pid);
	}
	return rc;
}
