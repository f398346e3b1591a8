/*
 * test_conformance.c - one suite every registered connector must pass.
 *
 * For each entry of ferry_conn_list() it checks the ops table against the
 * capability bits, scheme lookup and open errors (never leaking a
 * password), then, on a real store, whatever the capabilities promise:
 * DDL with a column of every ferry type, bulk writes of typical and edge
 * values in exactly the representation copy/transform.c produces
 * (skipped rows must not land), commit and rollback, describe, and for
 * sources key ranges, range reads, WITHOUT ROWID reads and batch sizes.
 *
 * What landed is checked value by value: through read (the values read
 * back go through the same transform and must equal what was written)
 * or, for PostgreSQL, through query with col::text and float8send().
 * The version 2 ops (lock/unlock, query with parameters, snapshot) are
 * checked against their capability bits on the real store; the version 3
 * ones (lock_timeout, a lock watch) where the table has them.
 *
 * A connector for which this file cannot make a test URL is skipped with
 * the reason printed: add a profile below when adding a connector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <curl/curl.h>

#include "connectors/pg_int.h"
#include "copy/copy_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/copy.h"
#include "ferry/registry.h"
#include "ferry/verify.h"
#include "ferry/model.h"
#include "ferry/progress.h"
#include "services_env.h"

#define SECRET "S3cretPassw0rd"

/* ---- the typed test table ---------------------------------------------- */

#define NC 17

static const char *const col_names[NC] = {
	"id", "c_i16", "c_i32", "c_i64", "c_f32", "c_f64", "c_num", "c_text",
	"c_bytes", "c_bool", "c_date", "c_ts", "c_tstz", "c_json", "c_jsonb",
	"c_uuid", "c_time",
};
static const int col_types[NC] = {
	FERRY_T_INT64, FERRY_T_INT16, FERRY_T_INT32, FERRY_T_INT64, FERRY_T_FLOAT32,
	FERRY_T_FLOAT64, FERRY_T_NUMERIC, FERRY_T_TEXT, FERRY_T_BYTES, FERRY_T_BOOL,
	FERRY_T_DATE, FERRY_T_TIMESTAMP, FERRY_T_TIMESTAMPTZ, FERRY_T_JSON,
	FERRY_T_JSONB, FERRY_T_UUID, FERRY_T_TIME,
};
enum { C_ID, C_I16, C_I32, C_I64, C_F32, C_F64, C_NUM, C_TEXT, C_BYTES };

/*
 * One row: source text per column (NULL = SQL NULL) that the transform
 * turns into the target representation, the bytea column as raw bytes,
 * and what PostgreSQL must print for col::text (NULL = must be NULL).
 */
struct row {
	int64_t id;
	int skip;
	const char *src[NC];
	const char *bytes;
	size_t nbytes;
	const char *pg[NC];
};

static const struct row rows[] = {
	{ 1, 0,
	  { "1", "7", "-100000", "123456789012", "0.5", "0.1", "-123.4500",
	    "h\xc3\xa9llo \"q\" 'x' \xe2\x9c\x93", NULL, "t", "1999-12-31",
	    "1999-12-31 23:59:59.5", "2000-01-01 02:00:00+02:00",
	    "{\"a\": [1, 2.50]}", "{\"b\": 1, \"a\": \"x\"}",
	    "123e4567-e89b-12d3-a456-426614174000", "12:34:56.789" },
	  "a\0b\xff", 4,
	  { "1", "7", "-100000", "123456789012", "0.5", "0.1", "-123.4500",
	    "h\xc3\xa9llo \"q\" 'x' \xe2\x9c\x93", "\\x610062ff", "true", "1999-12-31",
	    "1999-12-31 23:59:59.5", "2000-01-01 00:00:00+00",
	    "{\"a\": [1, 2.50]}", "{\"a\": \"x\", \"b\": 1}",
	    "123e4567-e89b-12d3-a456-426614174000", "12:34:56.789" } },
	{ 2, 0, { "2" }, NULL, 0, { "2" } },
	{ 3, 0,
	  { "3", "-32768", "2147483647", "-9223372036854775808", "NaN", "-0", "0.0001",
	    "", NULL, "false", "2024-02-29", "9999-12-31 23:59:59.999999",
	    "0001-01-01 00:00:00Z", "[]", "\"\\u00e4\"",
	    "123E4567E89B12D3A456426614174000", "00:00:00" },
	  "", 0,
	  { "3", "-32768", "2147483647", "-9223372036854775808", "NaN", "-0", "0.0001",
	    "", "\\x", "false", "2024-02-29", "9999-12-31 23:59:59.999999",
	    "0001-01-01 00:00:00+00", "[]", "\"\xc3\xa4\"",
	    "123e4567-e89b-12d3-a456-426614174000", "00:00:00" } },
	{ 4, 0,
	  { "4", "32767", "-2147483648", "9223372036854775807", "-Infinity", "1e308", "NaN",
	    "\xf0\x9f\x98\x80 tab\there\nnew line \\ backslash", NULL, "1", "1970-01-01",
	    "1969-07-20 20:17:40", "2038-01-19 03:14:08.000001+00:00", "null",
	    "[1, \"two\", null, true]", "00000000-0000-0000-0000-000000000000",
	    "23:59:59.999999" },
	  "\0", 1,
	  { "4", "32767", "-2147483648", "9223372036854775807", "-Infinity", "1e+308", "NaN",
	    "\xf0\x9f\x98\x80 tab\there\nnew line \\ backslash", "\\x00", "true", "1970-01-01",
	    "1969-07-20 20:17:40", "2038-01-19 03:14:08.000001+00", "null",
	    "[1, \"two\", null, true]", "00000000-0000-0000-0000-000000000000",
	    "23:59:59.999999" } },
	{ 5, 1, { "5", "5", NULL, NULL, NULL, NULL, NULL, "must not land" }, NULL, 0, { NULL } },
	{ 6, 0,
	  { "6", NULL, NULL, NULL, "3.4028234663852886e38", "5e-324", "1e3" },
	  NULL, 0,
	  { "6", NULL, NULL, NULL, "3.4028235e+38", "5e-324", "1000" } },
	{ 7, 0,
	  { "7", NULL, NULL, NULL, NULL, "Infinity", "12345678901234567890.123456789" },
	  NULL, 0,
	  { "7", NULL, NULL, NULL, NULL, "Infinity", "12345678901234567890.123456789" } },
	{ 8, 0, { "8", NULL, NULL, NULL, "-0", "NaN", "-0.5" }, NULL, 0,
	  { "8", NULL, NULL, NULL, "-0", "NaN", "-0.5" } },
	{ 9, 1, { "9", NULL, NULL, NULL, NULL, "1" }, NULL, 0, { NULL } },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

/* ---- per-store profiles ------------------------------------------------ */

struct cx;

struct profile {
	const char *name;
	/* A URL for a fresh, empty store, or NULL with *why set. */
	char *(*make_url)(struct cx *x, const char **why);
	/* Check open failures; called with the store running. */
	void (*bad_urls)(struct cx *x);
	/* Verify conf_types by SQL when the store has no read. */
	void (*verify_sql)(struct cx *x, const struct ferry_batch *written);
	/*
	 * Values this store is known to lose, "ID:COLUMN:what read returns"
	 * (NULL-terminated).  Each must still happen exactly so (expected
	 * failures, like an XFAIL): when one is fixed the test fails until
	 * its entry is removed.  Every entry is a bug report, not a waiver.
	 */
	const char *const *known_loss;
};

/*
 * SQLite as a target: NUMERIC affinity turns numeric text into REAL
 * (scale lost, and digits past the 15th), sqlite3_bind_double() stores
 * NaN as NULL, and an integral REAL is stored as an integer, so -0.0
 * reads back as 0.0.  Left for the sqlite connector's owner to decide.
 */
static const char *const sq_known_loss[] = {
	"1:c_num:text '\"-123.45\"'",
	"3:c_f32:NULL",
	"3:c_f64:real 0",
	"7:c_num:text '\"12345678901234567000\"'",
	"8:c_f32:real 0",
	"8:c_f64:NULL",
	NULL
};

struct cx {
	const struct ferry_conn_ops *ops;
	const struct profile *prof;
	char *url;
	char path[512];   /* sqlite file */
	char rejdir[512];
	ferry_conn *c;
	const char *skip_why;
};

static const struct ferry_conn_ops *cur_ops;

static const char *tmp_base(void)
{
	const char *b = getenv("FERRY_TEST_TMP");

	if (!b || !*b)
		b = "/tmp";
	mkdir(b, 0755);
	return b;
}

static char *sq_make_url(struct cx *x, const char **why)
{
	char *url;
	int fd;

	snprintf(x->path, sizeof(x->path), "%s/conformance-XXXXXX", tmp_base());
	fd = mkstemp(x->path);
	if (fd < 0) {
		*why = "cannot create a temp file";
		return NULL;
	}
	close(fd);
	url = malloc(strlen(x->path) + 16);
	sprintf(url, "sqlite://%s", x->path);
	return url;
}

static void assert_open_fails(const char *url, const char *must_have,
			      const char *must_not_have)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	ferry_conn *c = NULL;
	char scheme[32] = "";
	const struct ferry_conn_ops *o;
	int rc;

	/* a read-only connector is opened for reading */
	sscanf(url, "%31[a-z]", scheme);
	o = ferry_conn_lookup(scheme);
	rc = ferry_conn_open(url, o && !(o->caps & FERRY_CAP_WRITE) ? FERRY_OPEN_READONLY :
			     FERRY_OPEN_CREATE, &c, &err);

	if (rc == 0) {
		ferry_conn_close(c);
		fail_msg("open of '%s' succeeded", must_have ? must_have : "bad url");
	}
	assert_true(rc < 0);
	assert_int_equal(err.code, rc);
	assert_true(err.msg[0] != '\0');
	print_message("    open failed as expected: %s\n", err.msg);
	if (must_have && !strstr(err.msg, must_have))
		fail_msg("message '%s' does not mention '%s'", err.msg, must_have);
	if (must_not_have && (strstr(err.msg, must_not_have) ||
			      strstr(err.origin, must_not_have)))
		fail_msg("message '%s' leaks '%s'", err.msg, must_not_have);
}

static void sq_bad_urls(struct cx *x)
{
	(void)x;
	assert_open_fails("sqlite:///nonexistent-ferry-dir/a/b.db", "nonexistent-ferry-dir",
			  NULL);
	assert_open_fails("sqlite://", NULL, NULL);
	{
		/* not a database */
		char p[600];
		struct ferry_buf u = FERRY_BUF_INIT;
		FILE *f;

		snprintf(p, sizeof(p), "%s/not-a-db-%d.txt", tmp_base(), (int)getpid());
		f = fopen(p, "w");
		assert_non_null(f);
		fputs("this is not an sqlite database, just some text\n", f);
		fclose(f);
		assert_int_equal(ferry_buf_addf(&u, "sqlite://%s", p), 0);
		assert_open_fails(u.buf, "not-a-db", NULL);
		ferry_buf_release(&u);
		unlink(p);
	}
}

static char *pg_make_url(struct cx *x, const char **why)
{
	char *url;

	(void)x;
	if (svc_load() < 0) {
		*why = "no PostgreSQL: $FERRY_SERVICES_ENV not usable (run through ctest)";
		return NULL;
	}
	url = svc_new_pg_db("conformance");
	if (!url)
		*why = "cannot create a PostgreSQL database";
	return url;
}

static void pg_bad_urls(struct cx *x)
{
	char url[512];

	(void)x;
	/* nothing listens on port 1 */
	assert_open_fails("postgres://ferry:" SECRET "@127.0.0.1:1/nodb", NULL, SECRET);
	assert_open_fails("postgresql://127.0.0.1:1/nodb?password=" SECRET, NULL, SECRET);
	/* the server runs, the database does not exist */
	snprintf(url, sizeof(url), "postgres://postgres:%s@%s:%s/ferry_no_such_db",
		 SECRET, svc_get("FERRY_PG_HOST"), svc_get("FERRY_PG_PORT"));
	assert_open_fails(url, "ferry_no_such_db", SECRET);
}

struct first {
	struct ferry_buf *out;
	int isnull, nrows;
};

static int first_cb(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct first *f = ud;

	(void)err;
	assert_true(ncols >= 1);
	if (f->nrows++ == 0 && vals[0]) {
		f->isnull = 0;
		ferry_buf_clear(f->out);
		assert_int_equal(ferry_buf_addstr(f->out, vals[0]), 0);
	}
	return 0;
}

/* Value of SQL through query (the first column of the first row);
 * returns 1 when NULL or no row. */
static int q1(struct cx *x, struct ferry_buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int q1(struct cx *x, struct ferry_buf *out, const char *fmt, ...)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct first f = { out, 1, 0 };
	va_list ap;

	va_start(ap, fmt);
	assert_int_equal(ferry_buf_vaddf(&sql, fmt, ap), 0);
	va_end(ap);
	if (x->ops->query(x->c, sql.buf, NULL, 0, first_cb, &f, &err) < 0)
		fail_msg("%s: %s", sql.buf, err.msg);
	ferry_buf_release(&sql);
	return f.isnull;
}

static void pg_verify_sql(struct cx *x, const struct ferry_batch *w)
{
	struct ferry_buf v = FERRY_BUF_INIT;
	size_t r, i;

	for (r = 0; r < NROWS; r++) {
		const struct row *rw = &rows[r];

		if (rw->skip) {
			assert_int_equal(q1(x, &v, "SELECT count(*) FROM conf_types WHERE id = %lld",
					    (long long)rw->id), 0);
			assert_string_equal(v.buf, "0");
			continue;
		}
		for (i = 0; i < NC; i++) {
			const struct ferry_cell *c = ferry_batch_cell(w, r, i);
			int isnull = q1(x, &v, "SELECT %s::text FROM conf_types WHERE id = %lld",
					col_names[i], (long long)rw->id);

			if (!rw->pg[i]) {
				if (!isnull)
					fail_msg("row %lld %s: '%s', want NULL", (long long)rw->id,
						 col_names[i], v.buf);
				continue;
			}
			if (isnull)
				fail_msg("row %lld %s: NULL, want '%s'", (long long)rw->id,
					 col_names[i], rw->pg[i]);
			if (strcmp(v.buf, rw->pg[i]))
				fail_msg("row %lld %s: '%s', want '%s'", (long long)rw->id,
					 col_names[i], v.buf, rw->pg[i]);
			/* floats: the exact bits, not just the text */
			if (col_types[i] == FERRY_T_FLOAT64 || col_types[i] == FERRY_T_FLOAT32) {
				char want[32];

				if (col_types[i] == FERRY_T_FLOAT64) {
					uint64_t u;

					memcpy(&u, &c->v.d, 8);
					snprintf(want, sizeof(want), "\\x%016llx", (unsigned long long)u);
				} else {
					float f = (float)c->v.d;
					uint32_t u;

					memcpy(&u, &f, 4);
					snprintf(want, sizeof(want), "\\x%08x", u);
				}
				if (isnan(c->v.d))
					continue;  /* any NaN payload is NaN */
				q1(x, &v, "SELECT %ssend(%s)::text FROM conf_types WHERE id = %lld",
				   col_types[i] == FERRY_T_FLOAT64 ? "float8" : "float4",
				   col_names[i], (long long)rw->id);
				if (strcmp(v.buf, want))
					fail_msg("row %lld %s: bits %s, want %s", (long long)rw->id,
						 col_names[i], v.buf, want);
			}
		}
	}
	ferry_buf_release(&v);
}

/*
 * Point sources (influx, lp, csv) are read-only: each profile stores the
 * same points (POINTS_LP; POINTS_CSV is the same data as plain CSV) and
 * point_reads checks that every one of them gives the same rows.
 */
#define POINTS_N_FIELDS 12
static const char POINTS_LP[] =
	"W,entity_id=sensor.a value=1.5,count=3i,state=\"on\",ok=true 1700000000000000000\n"
	"W,entity_id=sensor.a value=2.25,count=-4i,state=\"a, \\\"q\\\"\",ok=false 1700000001000000000\n"
	"W,entity_id=sensor.b value=-0.125,count=9223372036854775807i,state=\"\",ok=true 1700000002000123000\n";
static const char POINTS_CSV[] =
	"time,entity_id,value,count,state,ok\n"
	"1700000000000000000,sensor.a,1.5,3,on,true\n"
	"1700000001000000000,sensor.a,2.25,-4,\"a, \"\"q\"\"\",false\n"
	"1700000002000123000,sensor.b,-0.125,9223372036854775807,,true\n";

static char *write_tmp(struct cx *x, const char *ext, const char *text)
{
	FILE *f;

	snprintf(x->path, sizeof(x->path), "%s/conformance-%d.%s", tmp_base(), (int)getpid(), ext);
	f = fopen(x->path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return strdup(x->path);
}

static char *lp_make_url(struct cx *x, const char **why)
{
	char *p = write_tmp(x, "lp", POINTS_LP), *url = malloc(strlen(p) + 16);

	(void)why;
	sprintf(url, "lp://%s", p);
	free(p);
	return url;
}

static void lp_bad_urls(struct cx *x)
{
	(void)x;
	assert_open_fails("lp:///nonexistent-ferry-dir/x.lp", "nonexistent-ferry-dir", NULL);
	assert_open_fails("lp:///tmp/x.lp?precision=fortnight", "precision", NULL);
}

static char *csv_make_url(struct cx *x, const char **why)
{
	/* an empty "state" cell is no value in CSV; the lp text has "" */
	char *p = write_tmp(x, "csv", POINTS_CSV), *url = malloc(strlen(p) + 64);

	(void)why;
	sprintf(url, "csv://%s?tags=entity_id&measurement=W&precision=ns", p);
	free(p);
	return url;
}

static void csv_bad_urls(struct cx *x)
{
	(void)x;
	assert_open_fails("csv:///nonexistent-ferry-dir/x.csv", "nonexistent-ferry-dir", NULL);
}

static size_t curl_sink(char *p, size_t s, size_t n, void *ud)
{
	(void)p;
	(void)ud;
	return s * n;
}

static long influx_post(const char *base, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	char url[512];
	long code = 0;

	snprintf(url, sizeof(url), "%s%s", base, path);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, curl_sink);
	if (curl_easy_perform(h) == CURLE_OK)
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(h);
	return code;
}

static char *influx_make_url(struct cx *x, const char **why)
{
	const char *base;
	char db[64], body[128], path[128], *url;

	(void)x;
	if (svc_load() < 0 || !(base = svc_get("FERRY_INFLUX_URL"))) {
		*why = "no InfluxDB started by tests/services";
		return NULL;
	}
	snprintf(db, sizeof(db), "conformance_%d_%ld", (int)getpid(), (long)random());
	snprintf(body, sizeof(body), "q=CREATE DATABASE %s", db);
	if (influx_post(base, "/query", body) != 200) {
		*why = "cannot create an InfluxDB database";
		return NULL;
	}
	snprintf(path, sizeof(path), "/write?db=%s&precision=ns", db);
	if (influx_post(base, path, POINTS_LP) != 204) {
		*why = "cannot write to InfluxDB";
		return NULL;
	}
	url = malloc(strlen(base) + 96);
	sprintf(url, "influx://%s/%s", base + strlen("http://"), db);
	return url;
}

static void influx_bad_urls(struct cx *x)
{
	char url[512];

	(void)x;
	assert_open_fails("influx://ferry:" SECRET "@127.0.0.1:1/db", "127.0.0.1:1", SECRET);
	assert_open_fails("influx://127.0.0.1:1/db?u=ferry&p=" SECRET, NULL, SECRET);
	if (svc_get("FERRY_INFLUX_URL")) {
		snprintf(url, sizeof(url), "influx://%s/ferry_no_such_db",
			 svc_get("FERRY_INFLUX_URL") + strlen("http://"));
		assert_open_fails(url, "ferry_no_such_db", NULL);
	}
}

static const struct profile profiles[] = {
	{ "sqlite", sq_make_url, sq_bad_urls, NULL, sq_known_loss },
	{ "postgres", pg_make_url, pg_bad_urls, pg_verify_sql, NULL },
	{ "lp", lp_make_url, lp_bad_urls, NULL, NULL },
	{ "csv", csv_make_url, csv_bad_urls, NULL, NULL },
	{ "influx", influx_make_url, influx_bad_urls, NULL, NULL },
};

/* ---- helpers ------------------------------------------------------------ */

static void die_err(const char *what, const struct ferry_error *err)
{
	fail_msg("%s: %s [%s]", what, err->msg, err->origin);
}

#define OK(call, what)                                          \
	do {                                                    \
		struct ferry_error e_ = FERRY_ERROR_INIT;       \
		struct ferry_error *err = &e_;                  \
		if ((call) < 0)                                 \
			die_err(what, err);                     \
	} while (0)

static void ddl_for(struct cx *x, const char *table, struct ferry_buf *b)
{
	size_t i;

	assert_int_equal(ferry_buf_addstr(b, "CREATE TABLE "), 0);
	x->ops->quote_ident(table, b);
	assert_int_equal(ferry_buf_addstr(b, " ("), 0);
	for (i = 0; i < NC; i++) {
		if (i)
			assert_int_equal(ferry_buf_addstr(b, ", "), 0);
		x->ops->quote_ident(col_names[i], b);
		assert_int_equal(ferry_buf_addch(b, ' '), 0);
		assert_int_equal(ferry_buf_addstr(b, ferry_type_name(col_types[i])), 0);
	}
	assert_int_equal(ferry_buf_addch(b, ')'), 0);
}

/* A plan for conf_types: what copy would use to write it. */
static void plan_for(struct table_plan *tp, struct col_plan *cp, struct ferry_table *src)
{
	size_t i;

	memset(tp, 0, sizeof(*tp));
	memset(src, 0, sizeof(*src));
	src->name = "conf_types";
	tp->src = src;
	tp->cols = cp;
	tp->ncols = NC;
	for (i = 0; i < NC; i++) {
		memset(&cp[i], 0, sizeof(cp[i]));
		cp[i].src_name = col_names[i];
		cp[i].type = col_types[i];
		cp[i].typmod = -1;
		cp[i].type_sql = (char *)ferry_type_name(col_types[i]);
	}
}

/* Build the rows as the transform delivers them. */
static void make_batch(struct cx *x, struct ferry_batch *b)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct rejects rej;
	struct table_plan tp;
	struct col_plan cp[NC];
	struct ferry_table src;
	size_t r, i;
	int rc;

	plan_for(&tp, cp, &src);
	assert_int_equal(ferry_batch_init(b, NC, NROWS), 0);
	b->nrows = NROWS;
	for (r = 0; r < NROWS; r++) {
		b->keys[r] = rows[r].id;
		for (i = 0; i < NC; i++) {
			struct ferry_cell *c = ferry_batch_cell(b, r, i);

			if (i == C_BYTES && rows[r].bytes)
				assert_int_equal(ferry_cell_set_bytes(b, c, FERRY_V_BLOB,
					rows[r].bytes, rows[r].nbytes), 0);
			else if (rows[r].src[i])
				assert_int_equal(ferry_cell_set_bytes(b, c, FERRY_V_TEXT,
					rows[r].src[i], strlen(rows[r].src[i])), 0);
		}
	}
	assert_int_equal(rej_init(&rej, x->rejdir, NULL), 0);
	rc = xf_batch(b, &tp, &rej, &err);
	if (rc != 0)
		fail_msg("test rows rejected by the transform (%d): %s, see %s", rc,
			 err.msg, x->rejdir);
	rej_release(&rej);
	/* the values the edge cases are about */
	assert_int_equal(ferry_batch_cell(b, 2, C_I64)->v.i, INT64_MIN);
	assert_int_equal(ferry_batch_cell(b, 3, C_I64)->v.i, INT64_MAX);
	assert_true(signbit(ferry_batch_cell(b, 2, C_F64)->v.d));
	assert_true(ferry_batch_cell(b, 5, C_F64)->v.d == 5e-324);
	assert_true(isnan(ferry_batch_cell(b, 7, C_F64)->v.d));
	for (r = 0; r < NROWS; r++)
		if (rows[r].skip) {
			b->skip[r] = 1;
			b->nskipped++;
		}
}

static int64_t count_rows(struct cx *x, const char *table);

static void write_rows(struct cx *x, const char *table, const struct ferry_batch *b,
		       int commit)
{
	struct ferry_write_spec ws = { NULL, table, NC, col_names, col_types, NULL, 0 };
	ferry_writer *w = NULL;

	if (x->ops->caps & FERRY_CAP_TXN)
		OK(x->ops->begin(x->c, err), "begin");
	OK(x->ops->write_open(x->c, &ws, &w, err), "write_open");
	assert_non_null(w);
	OK(x->ops->write_batch(w, b, err), "write_batch");
	OK(x->ops->write_close(w, commit, err), "write_close");
	if (x->ops->caps & FERRY_CAP_TXN) {
		if (commit)
			OK(x->ops->commit(x->c, err), "commit");
		else
			OK(x->ops->rollback(x->c, err), "rollback");
	}
}

/* Read callback state. */
struct got {
	struct ferry_batch all;   /* every row read, in order */
	size_t nbatches, maxrows;
	size_t limit;             /* batch_rows asked for */
};

static int collect(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct got *g = ud;
	size_t r, i;

	(void)err;
	g->nbatches++;
	if (b->nrows > g->maxrows)
		g->maxrows = b->nrows;
	assert_int_equal(b->ncols, g->all.ncols);
	for (r = 0; r < b->nrows; r++) {
		size_t dr = g->all.nrows++;

		assert_true(dr < g->all.cap);
		g->all.keys[dr] = b->keys[r];
		for (i = 0; i < b->ncols; i++) {
			const struct ferry_cell *s = ferry_batch_cell(b, r, i);
			struct ferry_cell *d = ferry_batch_cell(&g->all, dr, i);

			*d = *s;
			if (s->kind == FERRY_V_TEXT || s->kind == FERRY_V_BLOB)
				assert_int_equal(ferry_cell_set_bytes(&g->all, d, s->kind,
					ferry_cell_bytes(b, s), s->len), 0);
		}
	}
	return 0;
}

static void read_all(struct cx *x, const struct ferry_table *t, int has_range,
		     int64_t lo, int64_t hi, size_t batch_rows, struct got *g,
		     size_t ncols, size_t cap)
{
	struct ferry_read_spec rs = { t, has_range, lo, hi, batch_rows, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0 };

	memset(g, 0, sizeof(*g));
	assert_int_equal(ferry_batch_init(&g->all, ncols, cap), 0);
	g->limit = batch_rows;
	OK(x->ops->read(x->c, &rs, collect, g, err), "read");
}

static struct ferry_catalog *describe(struct cx *x)
{
	struct ferry_catalog *cat = NULL;

	OK(x->ops->describe(x->c, NULL, &cat, err), "describe");
	assert_non_null(cat);
	return cat;
}

static int64_t count_rows(struct cx *x, const char *table)
{
	if (x->ops->query) {
		struct ferry_buf v = FERRY_BUF_INIT, q = FERRY_BUF_INIT;
		int64_t n;

		x->ops->quote_ident(table, &q);
		assert_int_equal(q1(x, &v, "SELECT count(*) FROM %s", q.buf), 0);
		n = strtoll(v.buf, NULL, 10);
		ferry_buf_release(&v);
		ferry_buf_release(&q);
		return n;
	}
	if (x->ops->read) {
		struct ferry_catalog *cat = describe(x);
		const struct ferry_table *t = ferry_catalog_find(cat, table);
		struct got g;
		int64_t n;

		assert_non_null(t);
		read_all(x, t, 0, 0, 0, 0, &g, t->ncols, 1000);
		n = (int64_t)g.all.nrows;
		ferry_batch_release(&g.all);
		ferry_catalog_free(cat);
		return n;
	}
	fail_msg("connector '%s' can neither query nor read: cannot count rows",
		 x->ops->name);
	return -1;
}

static int cells_equal(const struct ferry_batch *a, const struct ferry_cell *x,
		       const struct ferry_batch *b, const struct ferry_cell *y)
{
	if (x->kind != y->kind)
		return 0;
	switch (x->kind) {
	case FERRY_V_NULL:
		return 1;
	case FERRY_V_INT:
		return x->v.i == y->v.i;
	case FERRY_V_REAL:
		return (isnan(x->v.d) && isnan(y->v.d)) || !memcmp(&x->v.d, &y->v.d, 8);
	default:
		return x->len == y->len &&
		       !memcmp(ferry_cell_bytes(a, x), ferry_cell_bytes(b, y), x->len);
	}
}

static void describe_cell(const struct ferry_batch *b, const struct ferry_cell *c,
			  struct ferry_buf *out)
{
	ferry_buf_clear(out);
	switch (c->kind) {
	case FERRY_V_NULL: assert_int_equal(ferry_buf_addstr(out, "NULL"), 0); break;
	case FERRY_V_INT: assert_int_equal(ferry_buf_addf(out, "int %lld", (long long)c->v.i), 0); break;
	case FERRY_V_REAL: assert_int_equal(ferry_buf_addf(out, "real %.17g", c->v.d), 0); break;
	default:
		assert_int_equal(ferry_buf_addf(out, "%s '", c->kind == FERRY_V_TEXT ? "text" : "blob"), 0);
		assert_int_equal(ferry_buf_addjson(out, ferry_cell_bytes(b, c), c->len), 0);
		assert_int_equal(ferry_buf_addch(out, '\''), 0);
	}
}

/* Read conf_types back, transform what was read like copy would and
 * compare with what was written, cell by cell. */
static void verify_by_read(struct cx *x, const struct ferry_batch *w)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_catalog *cat = describe(x);
	const struct ferry_table *t = ferry_catalog_find(cat, "conf_types");
	struct ferry_buf da = FERRY_BUF_INIT, db = FERRY_BUF_INIT;
	struct table_plan tp;
	struct col_plan cp[NC];
	struct ferry_table src;
	struct rejects rej;
	struct got g;
	size_t r, i, k = 0;
	int bad = 0, nknown = 0, nk;

	assert_non_null(t);
	read_all(x, t, 0, 0, 0, 0, &g, NC, NROWS + 10);
	assert_int_equal(g.all.nrows, NROWS - 2);
	plan_for(&tp, cp, &src);
	assert_int_equal(rej_init(&rej, x->rejdir, NULL), 0);
	if (xf_batch(&g.all, &tp, &rej, &err) != 0)
		fail_msg("values read back do not convert: %s (see %s/rejects.ndjson)",
			 err.msg, x->rejdir);
	rej_release(&rej);
	for (r = 0; r < NROWS; r++) {
		if (rows[r].skip)
			continue;
		assert_true(k < g.all.nrows);
		for (i = 0; i < NC; i++) {
			const struct ferry_cell *a = ferry_batch_cell(w, r, i);
			const struct ferry_cell *b = ferry_batch_cell(&g.all, k, i);

			if (!cells_equal(w, a, &g.all, b)) {
				char key[256];
				size_t q;
				int known = 0;

				describe_cell(w, a, &da);
				describe_cell(&g.all, b, &db);
				snprintf(key, sizeof(key), "%lld:%s:%s", (long long)rows[r].id,
					 col_names[i], db.buf);
				for (q = 0; x->prof->known_loss && x->prof->known_loss[q]; q++)
					if (!strcmp(x->prof->known_loss[q], key))
						known = 1;
				if (known) {
					print_message("    KNOWN LOSS row %lld column %s: wrote %s, "
						      "read back %s\n", (long long)rows[r].id,
						      col_names[i], da.buf, db.buf);
					nknown++;
					continue;
				}
				print_error("row %lld column %s: wrote %s, read back %s\n",
					    (long long)rows[r].id, col_names[i], da.buf, db.buf);
				bad++;
			}
		}
		k++;
	}
	if (bad)
		fail_msg("%d values did not come back as written", bad);
	for (nk = 0; x->prof->known_loss && x->prof->known_loss[nk]; nk++)
		;
	if (nknown != nk)
		fail_msg("%d of %d known losses of '%s' no longer happen: update known_loss",
			 nk - nknown, nk, x->ops->name);
	ferry_buf_release(&da);
	ferry_buf_release(&db);
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
}

/* ---- the tests ------------------------------------------------------------ */

static int group_setup(void **state)
{
	struct cx *x = calloc(1, sizeof(*x));
	struct ferry_error err = FERRY_ERROR_INIT;
	size_t i;

	x->ops = cur_ops;
	for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++)
		if (!strcmp(profiles[i].name, x->ops->name))
			x->prof = &profiles[i];
	*state = x;
	snprintf(x->rejdir, sizeof(x->rejdir), "%s/conformance-rejects-XXXXXX", tmp_base());
	if (!mkdtemp(x->rejdir))
		return -1;
	if (!x->prof) {
		x->skip_why = "no conformance profile for this connector (add one in "
			      "tests/integration/test_conformance.c)";
		goto skip;
	}
	x->url = x->prof->make_url(x, &x->skip_why);
	if (!x->url)
		goto skip;
	if (ferry_conn_open(x->url, (x->ops->caps & FERRY_CAP_WRITE) ? FERRY_OPEN_CREATE :
			    FERRY_OPEN_READONLY, &x->c, &err) < 0) {
		print_error("cannot open %s: %s\n", x->ops->name, err.msg);
		return -1;
	}
	return 0;
skip:
	print_message("[ SKIP     ] connector '%s': %s\n", x->ops->name, x->skip_why);
	return 0;
}

static int group_teardown(void **state)
{
	struct cx *x = *state;

	ferry_conn_close(x->c);
	if (x->path[0])
		unlink(x->path);
	free(x->url);
	free(x);
	return 0;
}

#define NEED_STORE(x)                                    \
	do {                                             \
		if (!(x)->c)                             \
			skip();                          \
	} while (0)

#define NEED_CAPS(x, want)                                       \
	do {                                                     \
		NEED_STORE(x);                                   \
		if (((x)->ops->caps & (want)) != (want)) {       \
			print_message("    (not promised by the caps)\n"); \
			skip();                                  \
		}                                                \
	} while (0)

static void ops_table(void **state)
{
	struct cx *x = *state;
	const struct ferry_conn_ops *o = x->ops;
	unsigned caps = o->caps;
	size_t i;

	assert_true(o->version == FERRY_CONN_OPS_V1 || o->version == FERRY_CONN_OPS_V2 ||
		    o->version == FERRY_CONN_OPS_V3);
	/* V3's entries: none in an older table; a lock watch is whole */
	if (o->version < FERRY_CONN_OPS_V3)
		assert_true(!o->watch_start && !o->watch_seen && !o->watch_stop &&
			    !o->lock_timeout);
	assert_true(!o->watch_start == !o->watch_stop && !o->watch_start == !o->watch_seen);
	assert_non_null(o->name);
	assert_true(o->name[0] != '\0');
	assert_non_null(o->schemes);
	assert_non_null(o->schemes[0]);
	for (i = 0; o->schemes[i]; i++) {
		assert_true(o->schemes[i][0] != '\0');
		assert_ptr_equal(ferry_conn_lookup(o->schemes[i]), o);
	}
	assert_non_null(o->open);
	assert_non_null(o->close);
	assert_non_null(o->quote_ident);
	/* no bit beyond the last one connector.h defines */
	assert_int_equal(caps & ~(((unsigned)FERRY_CAP_TYPED << 1) - 1u), 0);
	/* a relational map's source: read and key_range of a query table */
	if (caps & FERRY_CAP_QUERY)
		assert_true(o->read && o->key_range && o->query && (caps & FERRY_CAP_READ));
	if (caps & FERRY_CAP_LOCK)
		assert_true(o->lock && o->unlock);
	if (caps & FERRY_CAP_SNAPSHOT)
		assert_non_null(o->snapshot);
	if (caps & FERRY_CAP_FILE)
		assert_true(o->file_sides && o->file_sides[0] && !o->file_sides[0][0]);
	/* the bookkeeping of a checkpointed job and verify's hashing are SQL */
	if (caps & (FERRY_CAP_CHECKPOINT | FERRY_CAP_HASH_SQL | FERRY_CAP_SCHEMAS))
		assert_true((caps & FERRY_CAP_DDL) && (caps & FERRY_CAP_TXN) && o->query);
	if (caps & FERRY_CAP_UNTYPED)
		assert_true(caps & FERRY_CAP_READ);
	if (caps & FERRY_CAP_TYPED)
		assert_true((caps & FERRY_CAP_READ) && (caps & FERRY_CAP_DESCRIBE) &&
			    !(caps & FERRY_CAP_UNTYPED));
	if (caps & FERRY_CAP_DDL)
		assert_non_null(o->query);
	/* what the registry answers for a URL is this table */
	{
		char url[64];

		snprintf(url, sizeof(url), "%s:///x", o->schemes[0]);
		if (ferry_conn_url_ops(url))
			assert_ptr_equal(ferry_conn_url_ops(url), o);
	}
	if (caps & FERRY_CAP_CHUNKS)
		assert_true((caps & FERRY_CAP_KEYRANGE) && o->key_range);
	if (caps & FERRY_CAP_ORDERED)
		assert_true((caps & FERRY_CAP_KEYRANGE) && o->order_bounds);
	if (caps & FERRY_CAP_READ)
		assert_non_null(o->read);
	if (caps & FERRY_CAP_WRITE) {
		assert_non_null(o->write_open);
		assert_non_null(o->write_batch);
		assert_non_null(o->write_close);
	}
	if (caps & FERRY_CAP_DESCRIBE)
		assert_non_null(o->describe);
	if (caps & FERRY_CAP_TXN) {
		assert_non_null(o->begin);
		assert_non_null(o->commit);
		assert_non_null(o->rollback);
	}
	if (caps & FERRY_CAP_DDL)
		assert_non_null(o->exec);
	if (caps & FERRY_CAP_KEYRANGE) {
		assert_true(caps & FERRY_CAP_READ);
		assert_non_null(o->key_range);
	}
	assert_null(ferry_conn_lookup("no-such-scheme"));
	{
		struct ferry_buf q = FERRY_BUF_INIT;

		assert_int_equal(o->quote_ident("a\"b", &q), 0);
		assert_true(q.len > 3);
		assert_non_null(strstr(q.buf, "a"));
		ferry_buf_release(&q);
	}
}

static void bad_urls(void **state)
{
	struct cx *x = *state;

	NEED_STORE(x);
	x->prof->bad_urls(x);
}

static void ddl_all_types(void **state)
{
	struct cx *x = *state;
	struct ferry_buf sql = FERRY_BUF_INIT;

	NEED_CAPS(x, FERRY_CAP_DDL);
	ddl_for(x, "conf_types", &sql);
	OK(x->ops->exec(x->c, sql.buf, err), sql.buf);
	ferry_buf_clear(&sql);
	ddl_for(x, "conf_rollback", &sql);
	OK(x->ops->exec(x->c, sql.buf, err), sql.buf);
	/* a broken statement fails with a message */
	{
		struct ferry_error err = FERRY_ERROR_INIT;

		assert_true(x->ops->exec(x->c, "CREATE TABLE (", &err) < 0);
		assert_true(err.msg[0] != '\0');
	}
	ferry_buf_release(&sql);
}

static void write_and_verify(void **state)
{
	struct cx *x = *state;
	struct ferry_batch b;

	NEED_CAPS(x, FERRY_CAP_WRITE | FERRY_CAP_DDL);
	make_batch(x, &b);
	write_rows(x, "conf_types", &b, 1);
	assert_int_equal(count_rows(x, "conf_types"), NROWS - 2);
	/* A typed store (PostgreSQL) reads back values already in the
	 * target representation, which the transform does not take as
	 * input: its SQL check compares them instead. */
	if (x->prof->verify_sql)
		x->prof->verify_sql(x, &b);
	else if (x->ops->caps & FERRY_CAP_READ)
		verify_by_read(x, &b);
	else
		fail_msg("connector '%s' has no read and no SQL check", x->ops->name);
	ferry_batch_release(&b);
}

static void write_rollback(void **state)
{
	struct cx *x = *state;
	struct ferry_batch b;

	NEED_CAPS(x, FERRY_CAP_WRITE | FERRY_CAP_DDL | FERRY_CAP_TXN);
	make_batch(x, &b);
	write_rows(x, "conf_rollback", &b, 0);
	assert_int_equal(count_rows(x, "conf_rollback"), 0);
	/* the connection is usable afterwards */
	write_rows(x, "conf_rollback", &b, 1);
	assert_int_equal(count_rows(x, "conf_rollback"), NROWS - 2);
	ferry_batch_release(&b);
}

static void describe_tables(void **state)
{
	struct cx *x = *state;
	struct ferry_catalog *cat;
	const struct ferry_table *t;
	size_t i;

	NEED_CAPS(x, FERRY_CAP_DESCRIBE | FERRY_CAP_DDL);
	cat = describe(x);
	t = ferry_catalog_find(cat, "conf_types");
	assert_non_null(t);
	assert_non_null(ferry_catalog_find(cat, "conf_rollback"));
	assert_null(ferry_catalog_find(cat, "no_such_table"));
	assert_int_equal(t->ncols, NC);
	for (i = 0; i < NC; i++) {
		assert_string_equal(t->cols[i].name, col_names[i]);
		assert_int_equal(ferry_table_find_column(t, col_names[i]), (int)i);
		/* typed stores report the ferry type; untyped ones the declaration */
		if (t->cols[i].type != FERRY_T_UNKNOWN)
			assert_int_equal(t->cols[i].type, col_types[i]);
		else
			if (strcasecmp(t->cols[i].decl_type, ferry_type_name(col_types[i])))
				fail_msg("column %s declared '%s', want '%s'", col_names[i],
					 t->cols[i].decl_type, ferry_type_name(col_types[i]));
	}
	if (!strcmp(x->ops->name, "postgres")) {
		for (i = 0; i < NC; i++)
			assert_int_equal(t->cols[i].type, col_types[i]);
		assert_string_equal(t->cols[C_F64].type_sql, "double precision");
		assert_string_equal(t->cols[C_NUM].type_sql, "numeric");
	}
	ferry_catalog_free(cat);
}

/* rowids 5..20 in a rowid table, plus a WITHOUT ROWID table. */
static void source_setup(struct cx *x)
{
	struct ferry_buf sql = FERRY_BUF_INIT;
	int id;

	assert_int_equal(ferry_buf_addstr(&sql, "CREATE TABLE src (id INTEGER PRIMARY KEY, v TEXT);"), 0);
	for (id = 20; id >= 5; id--)
		assert_int_equal(ferry_buf_addf(&sql, "INSERT INTO src VALUES (%d, 'v%d');", id, id), 0);
	/* a table keyed by text: WITHOUT ROWID in SQLite, any such table in
	 * a store without rowids */
	assert_int_equal(ferry_buf_addstr(&sql, "CREATE TABLE wr (k TEXT PRIMARY KEY, n INTEGER)"), 0);
	if (!strcmp(x->ops->name, "sqlite"))
		assert_int_equal(ferry_buf_addstr(&sql, " WITHOUT ROWID"), 0);
	assert_int_equal(ferry_buf_addstr(&sql, ";INSERT INTO wr VALUES ('b', 2), ('c', 3), ('a', 1);"), 0);
	OK(x->ops->exec(x->c, sql.buf, err), sql.buf);
	ferry_buf_release(&sql);
}

static void source_reads(void **state)
{
	struct cx *x = *state;
	struct ferry_catalog *cat;
	const struct ferry_table *t;
	int64_t lo = -1, hi = -1, n = -1, id;
	struct got g;
	size_t r;

	NEED_CAPS(x, FERRY_CAP_READ | FERRY_CAP_KEYRANGE | FERRY_CAP_DDL |
		  FERRY_CAP_DESCRIBE);
	source_setup(x);
	cat = describe(x);
	t = ferry_catalog_find(cat, "src");
	assert_non_null(t);
	assert_int_equal(t->without_rowid, 0);

	OK(x->ops->key_range(x->c, t, &lo, &hi, &n, err), "key_range");
	assert_int_equal(lo, 5);
	assert_int_equal(hi, 20);
	assert_int_equal(n, 16);

	/* the whole table, in key order */
	read_all(x, t, 0, 0, 0, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 16);
	for (r = 0; r < 16; r++) {
		char want[16];
		const struct ferry_cell *v = ferry_batch_cell(&g.all, r, 1);

		assert_int_equal(g.all.keys[r], (int64_t)r + 5);
		assert_int_equal(ferry_batch_cell(&g.all, r, 0)->kind, FERRY_V_INT);
		assert_int_equal(ferry_batch_cell(&g.all, r, 0)->v.i, (int64_t)r + 5);
		snprintf(want, sizeof(want), "v%d", (int)r + 5);
		assert_int_equal(v->kind, FERRY_V_TEXT);
		assert_int_equal(v->len, strlen(want));
		assert_memory_equal(ferry_cell_bytes(&g.all, v), want, v->len);
	}
	ferry_batch_release(&g.all);

	/* an inclusive range, exactly, in order */
	read_all(x, t, 1, 8, 12, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 5);
	for (id = 8; id <= 12; id++)
		assert_int_equal(g.all.keys[id - 8], id);
	ferry_batch_release(&g.all);
	read_all(x, t, 1, 20, 100, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 1);
	assert_int_equal(g.all.keys[0], 20);
	ferry_batch_release(&g.all);
	read_all(x, t, 1, 21, 30, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 0);
	assert_int_equal(g.nbatches, 0);
	ferry_batch_release(&g.all);

	/* batch_rows = 3: 16 rows in 6 batches of at most 3 */
	read_all(x, t, 0, 0, 0, 3, &g, 2, 100);
	assert_int_equal(g.all.nrows, 16);
	assert_int_equal(g.maxrows, 3);
	assert_int_equal(g.nbatches, 6);
	for (r = 0; r < 16; r++)
		assert_int_equal(g.all.keys[r], (int64_t)r + 5);
	ferry_batch_release(&g.all);

	/* no integer key: WITHOUT ROWID, every row in one read, keys are
	 * ordinals; or (a typed store: PostgreSQL's ctid) ranges of the
	 * store's own row address, which key_range spans */
	t = ferry_catalog_find(cat, "wr");
	assert_non_null(t);
	assert_int_equal(t->without_rowid, !(x->ops->caps & FERRY_CAP_TYPED));
	OK(x->ops->key_range(x->c, t, &lo, &hi, &n, err), "key_range");
	assert_int_equal(n, 3);
	if (!t->without_rowid) {
		assert_true(lo <= hi);
		read_all(x, t, 1, hi + 1, hi + 100000, 0, &g, 2, 100);
		assert_int_equal(g.all.nrows, 0);
		ferry_batch_release(&g.all);
	}
	read_all(x, t, !t->without_rowid, lo, hi, 2, &g, 2, 100);
	assert_int_equal(g.all.nrows, 3);
	assert_int_equal(g.nbatches, 2);
	{
		int seen = 0;

		for (r = 0; r < 3; r++) {
			const struct ferry_cell *k = ferry_batch_cell(&g.all, r, 0);
			const struct ferry_cell *v = ferry_batch_cell(&g.all, r, 1);

			if (t->without_rowid)
				assert_int_equal(g.all.keys[r], (int64_t)r + 1);
			else
				assert_true(g.all.keys[r] >= lo && g.all.keys[r] <= hi &&
					    (r == 0 || g.all.keys[r] != g.all.keys[r - 1]));
			assert_int_equal(k->kind, FERRY_V_TEXT);
			assert_int_equal(k->len, 1);
			assert_int_equal(v->kind, FERRY_V_INT);
			assert_int_equal(v->v.i, ferry_cell_bytes(&g.all, k)[0] - 'a' + 1);
			seen |= 1 << v->v.i;
		}
		assert_int_equal(seen, 0xE);
	}
	ferry_batch_release(&g.all);
	ferry_catalog_free(cat);
}

/*
 * A typed row source (FERRY_CAP_TYPED) that is also a checkpointing
 * target: ferry copy of the typed table (every type, the edge values)
 * into a second store of its kind, then ferry verify says equal, and
 * names the key of a row changed in the target.
 */
static void typed_copy_verify(void **state)
{
	struct cx *x = *state, y;
	struct ferry_buf sql = FERRY_BUF_INIT;
	struct ferry_copy_opts co;
	struct ferry_verify_opts vo;
	struct ferry_copy_result *cres = NULL;
	struct ferry_verify_result *vres = NULL;
	struct ferry_error e = FERRY_ERROR_INIT;
	const char *why = NULL;
	const char *only[] = { "conf_copy", NULL };
	ferry_conn *d = NULL;
	struct ferry_batch b;
	char *dst;

	NEED_CAPS(x, FERRY_CAP_TYPED | FERRY_CAP_WRITE | FERRY_CAP_DDL | FERRY_CAP_CHECKPOINT);
	ddl_for(x, "conf_copy", &sql);
	assert_int_equal(ferry_buf_addstr(&sql, "; ALTER TABLE conf_copy ADD PRIMARY KEY (id)"), 0);
	OK(x->ops->exec(x->c, sql.buf, err), sql.buf);
	ferry_buf_release(&sql);
	make_batch(x, &b);
	write_rows(x, "conf_copy", &b, 1);
	ferry_batch_release(&b);
	y = *x;
	y.path[0] = '\0';
	dst = x->prof->make_url(&y, &why);
	assert_non_null(dst);

	memset(&co, 0, sizeof(co));
	co.src = x->url;
	co.dst = dst;
	co.include = only;
	co.rejects_dir = x->rejdir;
	co.chunk_rows = 2;
	co.jobs = 2;
	co.max_errors = -1;
	co.max_error_rate = -1;
	co.retries = -1;
	co.progress_mode = FERRY_PROGRESS_QUIET;
	if (ferry_copy_run(&co, &cres, &e) < 0)
		fail_msg("copy %s -> %s: %s", x->ops->name, x->ops->name, e.msg);
	assert_int_equal(cres->written, NROWS - 2);
	assert_int_equal(cres->rejected, 0);
	ferry_copy_result_free(cres);

	memset(&vo, 0, sizeof(vo));
	vo.src = x->url;
	vo.dst = dst;
	vo.include = only;
	vo.chunk_rows = 3;
	vo.jobs = 2;
	vo.progress_mode = FERRY_PROGRESS_QUIET;
	if (ferry_verify_run(&vo, &vres, &e) < 0)
		fail_msg("verify: %s", e.msg);
	if (!vres->equal)
		fail_msg("verify: not equal: %s", vres->ndiffs ? vres->diffs[0].what : "?");
	assert_int_equal(vres->src_rows, NROWS - 2);
	ferry_verify_result_free(vres);

	if (ferry_conn_open(dst, 0, &d, &e) < 0)
		fail_msg("open %s: %s", dst, e.msg);
	OK(ferry_conn_ops_of(d)->exec(d, "UPDATE conf_copy SET c_f64 = 2 WHERE id = 4", &e),
	   "update");
	ferry_conn_close(d);
	if (ferry_verify_run(&vo, &vres, &e) < 0)
		fail_msg("verify: %s", e.msg);
	assert_int_equal(vres->equal, 0);
	assert_int_equal(vres->ndiffs, 1);
	assert_int_equal(vres->diffs[0].has_key, 1);
	assert_int_equal(vres->diffs[0].key, 4);
	assert_non_null(vres->diffs[0].column);
	assert_string_equal(vres->diffs[0].column, "c_f64");
	ferry_verify_result_free(vres);
	free(dst);
}

/*
 * FERRY_CAP_QUERY (model.h's struct ferry_query): a query table's key
 * range and its rows in key order, a range of them, a query as from:,
 * no key (one range of ordinals), and a key that is not an integer.
 */
static void query_reads(void **state)
{
	struct cx *x = *state;
	struct ferry_buf sql = FERRY_BUF_INIT;
	char *exprs[3] = { (char *)"serial", (char *)"ts + 1", NULL };
	struct ferry_query q = { (char *)"qsrc", 0, (char *)"id", (char *)"serial = 'a'", exprs };
	struct ferry_column cols[2] = { { .name = (char *)"serial" }, { .name = (char *)"ts1" } };
	struct ferry_table t = { .name = (char *)"q", .cols = cols, .ncols = 2, .rowid_alias = -1,
				 .query = &q };
	int64_t lo = -1, hi = -1, n = -1;
	struct got g;
	size_t r;
	int id;

	NEED_CAPS(x, FERRY_CAP_QUERY | FERRY_CAP_DDL);
	assert_int_equal(ferry_buf_addstr(&sql, "CREATE TABLE qsrc (id INTEGER PRIMARY KEY, "
					  "serial TEXT, ts INTEGER);"), 0);
	for (id = 10; id >= 1; id--)
		assert_int_equal(ferry_buf_addf(&sql, "INSERT INTO qsrc VALUES (%d, '%s', %d);", id,
						id % 2 ? "b" : "a", 1000 + id), 0);
	OK(x->ops->exec(x->c, sql.buf, err), sql.buf);
	ferry_buf_release(&sql);

	OK(x->ops->key_range(x->c, &t, &lo, &hi, &n, err), "key_range of a query");
	assert_int_equal(lo, 2);
	assert_int_equal(hi, 10);
	assert_int_equal(n, 5);
	read_all(x, &t, 0, 0, 0, 2, &g, 2, 100);
	assert_int_equal(g.all.nrows, 5);
	for (r = 0; r < 5; r++) {
		const struct ferry_cell *s = ferry_batch_cell(&g.all, r, 0);
		const struct ferry_cell *v = ferry_batch_cell(&g.all, r, 1);

		assert_int_equal(g.all.keys[r], 2 * (int64_t)r + 2);
		assert_int_equal(s->kind, FERRY_V_TEXT);
		assert_memory_equal(ferry_cell_bytes(&g.all, s), "a", 1);
		assert_int_equal(v->kind, FERRY_V_INT);
		assert_int_equal(v->v.i, 1001 + 2 * (int64_t)r + 2);
	}
	ferry_batch_release(&g.all);
	read_all(x, &t, 1, 3, 8, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 3);
	assert_int_equal(g.all.keys[0], 4);
	assert_int_equal(g.all.keys[2], 8);
	ferry_batch_release(&g.all);

	/* a query as from:, keyed by one of its columns */
	q.from = (char *)"SELECT serial, min(ts) AS ts, min(id) AS k FROM qsrc GROUP BY serial";
	q.from_sql = 1;
	q.key = (char *)"k";
	q.where = NULL;
	OK(x->ops->key_range(x->c, &t, &lo, &hi, &n, err), "key_range of a from: query");
	assert_int_equal(lo, 1);
	assert_int_equal(hi, 2);
	assert_int_equal(n, 2);
	read_all(x, &t, 1, 1, 2, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 2);
	assert_int_equal(g.all.keys[0], 1);
	assert_memory_equal(ferry_cell_bytes(&g.all, ferry_batch_cell(&g.all, 0, 0)), "b", 1);
	assert_int_equal(ferry_batch_cell(&g.all, 0, 1)->v.i, 1002);
	ferry_batch_release(&g.all);

	/* no key: every row, keys are ordinals */
	q.key = NULL;
	t.without_rowid = 1;
	OK(x->ops->key_range(x->c, &t, &lo, &hi, &n, err), "key_range without a key");
	assert_int_equal(n, 2);
	read_all(x, &t, 0, 0, 0, 0, &g, 2, 100);
	assert_int_equal(g.all.nrows, 2);
	assert_int_equal(g.all.keys[0], 1);
	assert_int_equal(g.all.keys[1], 2);
	ferry_batch_release(&g.all);

	/* a key that is not an integer cannot cut chunks */
	{
		struct ferry_error e = FERRY_ERROR_INIT;

		q.key = (char *)"serial";
		assert_int_equal(x->ops->key_range(x->c, &t, &lo, &hi, &n, &e), FERRY_EINVAL);
		assert_non_null(strstr(e.msg, "not an integer"));
	}
}

/* A callback's non-zero return stops the read and is passed back. */
static int stop_after_one(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	(void)b;
	(*(int *)ud)++;
	return ferry_error_set(err, FERRY_EABORT, "stop");
}

static void source_stop(void **state)
{
	struct cx *x = *state;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_catalog *cat;
	struct ferry_read_spec rs = { NULL, 0, 0, 0, 2, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0 };
	int calls = 0;

	NEED_CAPS(x, FERRY_CAP_READ | FERRY_CAP_DESCRIBE | FERRY_CAP_DDL);
	cat = describe(x);
	rs.table = ferry_catalog_find(cat, "src");
	if (!rs.table) {
		ferry_catalog_free(cat);
		skip();
	}
	assert_int_equal(x->ops->read(x->c, &rs, stop_after_one, &calls, &err), FERRY_EABORT);
	assert_int_equal(calls, 1);
	ferry_catalog_free(cat);
}

/* Rows as text without their keys (line numbers differ between sources):
 * "kind:value|kind:value|..." per row, sorted. */
struct rowset {
	char **v;
	size_t n;
};

static int rows_text(struct ferry_batch *b, void *ud, struct ferry_error *err)
{
	struct rowset *rs = ud;
	size_t r, i;

	(void)err;
	for (r = 0; r < b->nrows; r++) {
		struct ferry_buf t = FERRY_BUF_INIT;

		for (i = 0; i < b->ncols; i++) {
			const struct ferry_cell *c = ferry_batch_cell(b, r, i);

			if (i)
				assert_int_equal(ferry_buf_addch(&t, '|'), 0);
			if (c->kind == FERRY_V_INT)
				assert_int_equal(ferry_buf_addf(&t, "i:%lld", (long long)c->v.i), 0);
			else if (c->kind == FERRY_V_REAL)
				assert_int_equal(ferry_buf_addf(&t, "d:%.17g", c->v.d), 0);
			else if (c->kind == FERRY_V_TEXT)
				assert_int_equal(ferry_buf_addf(&t, "t:%.*s", (int)c->len, ferry_cell_bytes(b, c)), 0);
			else
				assert_int_equal(ferry_buf_addstr(&t, "null"), 0);
		}
		rs->v = realloc(rs->v, (rs->n + 1) * sizeof(char *));
		rs->v[rs->n++] = ferry_buf_detach(&t, NULL);
	}
	return 0;
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void rowset_free(struct rowset *rs)
{
	size_t i;

	for (i = 0; i < rs->n; i++)
		ferry_free(rs->v[i]);
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

static void read_rows(ferry_conn *c, const struct ferry_table *t, int has_range, int64_t lo,
		      int64_t hi, struct rowset *out)
{
	struct ferry_read_spec rs = { t, has_range, lo, hi, 2, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0 };

	OK(ferry_conn_ops_of(c)->read(c, &rs, rows_text, out, err), "read");
}

/*
 * A point connector: one narrow table whose chunks (key ordinals) read
 * one by one give the rows of a whole read, and the same rows as the
 * line-protocol file of the same points.
 */
static void point_reads(void **state)
{
	struct cx *x = *state;
	struct ferry_catalog *cat;
	const struct ferry_table *t;
	struct rowset whole = { 0 }, parts = { 0 }, ref = { 0 };
	int64_t lo, hi, count, k;
	size_t i;

	NEED_CAPS(x, FERRY_CAP_READ | FERRY_CAP_DESCRIBE | FERRY_CAP_CHUNKS);
	cat = describe(x);
	assert_int_equal(cat->ntables, 1);
	t = &cat->tables[0];
	assert_string_equal(t->name, "telemetry_data");
	OK(x->ops->key_range(x->c, t, &lo, &hi, &count, err), "key_range");
	assert_int_equal(lo, 0);
	assert_true(hi >= 0 && count > 0);
	read_rows(x->c, t, 0, 0, 0, &whole);
	for (k = lo; k <= hi; k++)
		read_rows(x->c, t, 1, k, k, &parts);
	assert_int_equal(whole.n, POINTS_N_FIELDS - (!strcmp(x->ops->name, "csv") ? 1 : 0));
	assert_int_equal(parts.n, whole.n);
	for (i = 0; i < whole.n; i++)
		assert_string_equal(parts.v[i], whole.v[i]);
	{
		/* the reference: the same points as a line-protocol file */
		char p[600];
		ferry_conn *lc;
		struct ferry_catalog *lcat;
		FILE *f;

		snprintf(p, sizeof(p), "%s/conformance-ref-%d.lp", tmp_base(), (int)getpid());
		f = fopen(p, "w");
		fputs(POINTS_LP, f);
		fclose(f);
		memmove(p + 5, p, strlen(p) + 1);
		memcpy(p, "lp://", 5);
		OK(ferry_conn_open(p, FERRY_OPEN_READONLY, &lc, err), "open the lp reference");
		OK(ferry_conn_ops_of(lc)->describe(lc, NULL, &lcat, err), "describe the lp reference");
		read_rows(lc, &lcat->tables[0], 0, 0, 0, &ref);
		ferry_catalog_free(lcat);
		ferry_conn_close(lc);
		unlink(p + 5);
	}
	qsort(whole.v, whole.n, sizeof(char *), strp_cmp);
	qsort(ref.v, ref.n, sizeof(char *), strp_cmp);
	{
		size_t a = 0, b = 0;

		/* csv has no empty-string value: its empty state cell is no field */
		while (a < whole.n && b < ref.n) {
			if (strcmp(whole.v[a], ref.v[b]) == 0) {
				a++;
				b++;
			} else if (!strcmp(x->ops->name, "csv") && strstr(ref.v[b], "|t:state|")) {
				b++;
			} else {
				fail_msg("%s row '%s' differs from the line-protocol row '%s'",
					 x->ops->name, whole.v[a], ref.v[b]);
			}
		}
		assert_int_equal(a, whole.n);
	}
	rowset_free(&whole);
	rowset_free(&parts);
	rowset_free(&ref);
	ferry_catalog_free(cat);
}

/* ---- version 2: query with parameters, lock/unlock, snapshot ----------- */

struct rows_seen {
	int n;
	char text[8][64];
	int nulls;
};

static int rows_cb(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	struct rows_seen *r = ud;

	(void)err;
	assert_int_equal(ncols, 2);
	assert_true(r->n < 8);
	snprintf(r->text[r->n], sizeof(r->text[0]), "%s|%s", vals[0] ? vals[0] : "NULL",
		 vals[1] ? vals[1] : "NULL");
	r->nulls += !vals[1];
	r->n++;
	return 0;
}

static int stop_cb(void *ud, int ncols, const char *const *vals, struct ferry_error *err)
{
	(void)ncols;
	(void)vals;
	++*(int *)ud;
	return ferry_error_set(err, FERRY_EUSAGE, "stop here");
}

static void query_params(void **state)
{
	struct cx *x = *state;
	const char *p[2] = { "it's", NULL }, *p2[2] = { "b", NULL };
	struct rows_seen r;
	int calls = 0;

	NEED_CAPS(x, FERRY_CAP_DDL);
	OK(x->ops->exec(x->c, "DROP TABLE IF EXISTS conf_q; CREATE TABLE conf_q (k text, v text)",
			err), "create conf_q");
	/* parameters travel as values: a quote needs no escaping, NULL is NULL */
	OK(x->ops->query(x->c, "INSERT INTO conf_q (k, v) VALUES ($1, $2)", p, 2, NULL, NULL,
			 err), "insert with parameters");
	OK(x->ops->query(x->c, "INSERT INTO conf_q (k, v) VALUES ($1, $2)", p2, 2, NULL, NULL,
			 err), "insert a second row");
	memset(&r, 0, sizeof(r));
	/* several rows, in order, each column apart: no joining and splitting */
	OK(x->ops->query(x->c, "SELECT k, v FROM conf_q ORDER BY k", NULL, 0, rows_cb, &r, err),
	   "select rows");
	assert_int_equal(r.n, 2);
	assert_string_equal(r.text[0], "b|NULL");
	assert_string_equal(r.text[1], "it's|NULL");
	assert_int_equal(r.nulls, 2);
	memset(&r, 0, sizeof(r));
	OK(x->ops->query(x->c, "SELECT k, v FROM conf_q WHERE k = $1", p, 1, rows_cb, &r, err),
	   "select with a parameter");
	assert_int_equal(r.n, 1);
	assert_string_equal(r.text[0], "it's|NULL");
	/* no rows: the callback is never called */
	memset(&r, 0, sizeof(r));
	p2[0] = "c";
	OK(x->ops->query(x->c, "SELECT k, v FROM conf_q WHERE k = $1", p2, 1, rows_cb, &r,
			 err), "select nothing");
	assert_int_equal(r.n, 0);
	/* a callback's non-zero return stops the query and comes back */
	{
		struct ferry_error e = FERRY_ERROR_INIT;

		assert_int_equal(x->ops->query(x->c, "SELECT k, v FROM conf_q", NULL, 0, stop_cb,
					       &calls, &e), FERRY_EUSAGE);
		assert_int_equal(calls, 1);
		assert_string_equal(e.msg, "stop here");
		/* a refused statement is FERRY_ESQL with the store's message */
		assert_int_equal(x->ops->query(x->c, "SELECT nope FROM conf_no_such_table", NULL, 0,
					       rows_cb, &r, &e), FERRY_ESQL);
		assert_non_null(strstr(e.msg, "conf_no_such_table"));
	}
	OK(x->ops->exec(x->c, "DROP TABLE conf_q", err), "drop conf_q");
}

static void lock_unlock(void **state)
{
	struct cx *x = *state;
	ferry_conn *other = NULL;
	int got = -1;

	NEED_CAPS(x, FERRY_CAP_LOCK);
	OK(ferry_conn_open(x->url, FERRY_OPEN_CREATE, &other, err), "open a second session");
	OK(x->ops->lock(x->c, 7301177, &got, err), "lock");
	assert_int_equal(got, 1);
	/* another session cannot take it while it is held, also not when the
	 * holder runs transactions in between */
	OK(x->ops->begin(x->c, err), "begin");
	OK(x->ops->commit(x->c, err), "commit");
	got = -1;
	OK(x->ops->lock(other, 7301177, &got, err), "lock from the other session");
	assert_int_equal(got, 0);
	OK(x->ops->unlock(x->c, 7301177, err), "unlock");
	got = -1;
	OK(x->ops->lock(other, 7301177, &got, err), "lock after unlock");
	assert_int_equal(got, 1);
	/* closing the holder's connection frees the lock; a server frees it
	 * when the session's backend has ended, which the close does not wait
	 * for: try until it is free (bounded, not timed) */
	ferry_conn_close(other);
	{
		int tries;

		for (tries = 0, got = 0; !got && tries < 600; tries++) {
			OK(x->ops->lock(x->c, 7301177, &got, err), "lock after the holder closed");
			if (!got)
				usleep(50 * 1000);
		}
	}
	assert_int_equal(got, 1);
	OK(x->ops->unlock(x->c, 7301177, err), "unlock again");
}

static void snapshot(void **state)
{
	struct cx *x = *state;
	struct ferry_buf url = FERRY_BUF_INIT, v = FERRY_BUF_INIT;
	char path[600];
	ferry_conn *snap = NULL;
	struct cx y;
	size_t i;

	NEED_CAPS(x, FERRY_CAP_SNAPSHOT | FERRY_CAP_DDL);
	OK(x->ops->exec(x->c, "DROP TABLE IF EXISTS conf_s; CREATE TABLE conf_s (k integer); "
			"INSERT INTO conf_s VALUES (1), (2), (3)", err), "create conf_s");
	snprintf(path, sizeof(path), "%s/conformance-snap-%d", tmp_base(), (int)getpid());
	OK(x->ops->snapshot(x->c, path, &url, err), "snapshot");
	/* a change after the snapshot is not in it */
	OK(x->ops->exec(x->c, "INSERT INTO conf_s VALUES (4)", err), "insert after");
	OK(ferry_conn_open(url.buf, FERRY_OPEN_READONLY, &snap, err), "open the snapshot");
	y = *x;
	y.c = snap;
	assert_int_equal(q1(&y, &v, "SELECT count(*) FROM conf_s"), 0);
	assert_string_equal(v.buf, "3");
	ferry_conn_close(snap);
	for (i = 0; x->ops->file_sides && x->ops->file_sides[i]; i++) {
		char f[700];

		snprintf(f, sizeof(f), "%s%s", path, x->ops->file_sides[i]);
		unlink(f);
	}
	ferry_buf_release(&url);
	ferry_buf_release(&v);
}

struct waiter {
	struct cx *x;
	int rc;
	struct ferry_error err;
};

static void *wait_insert(void *ud)
{
	struct waiter *w = ud;

	w->rc = w->x->ops->exec(w->x->c, "INSERT INTO conf_lk VALUES (2)", &w->err);
	return NULL;
}

static void count_say(void *ud, const char *line)
{
	(void)line;
	__atomic_add_fetch((int *)ud, 1, __ATOMIC_RELAXED);
}

/*
 * A statement that waits on another session's lock: lock_timeout ends
 * the wait with an error (FERRY_ETIMEOUT from a store that can tell who
 * holds it); and a lock watch sees the wait and its holder while it
 * lasts (watch_seen; what it says after FERRY_WATCH_SAY seconds is the
 * shell tests' part), one watch a database.  Nothing here is timed: the
 * holder keeps its lock until the watch has seen the wait.
 */
static void lock_timeout_watch(void **state)
{
	struct cx *x = *state;
	struct ferry_error e = FERRY_ERROR_INIT;
	struct ferry_buf seen = FERRY_BUF_INIT, want = FERRY_BUF_INIT;
	ferry_conn *other = NULL;
	ferry_watch *w = NULL, *w2 = NULL;
	struct ferry_watch_opts o = { 0 };
	struct waiter wt;
	pthread_t th;
	PGconn *h;
	int rc, said = 0, tries;

	NEED_CAPS(x, FERRY_CAP_DDL | FERRY_CAP_TXN);
	if (!x->ops->lock_timeout) {
		print_message("    (no lock_timeout)\n");
		skip();
	}
	OK(x->ops->exec(x->c, "DROP TABLE IF EXISTS conf_lk; CREATE TABLE conf_lk (k integer)",
			err), "create conf_lk");
	/* another session's uncommitted DROP holds the table (a SQLite
	 * file's write lock) */
	OK(ferry_conn_open(x->url, FERRY_OPEN_CREATE, &other, err), "open a second session");
	OK(x->ops->begin(other, err), "begin");
	OK(x->ops->exec(other, "DROP TABLE conf_lk", err), "drop in the other session");
	OK(x->ops->lock_timeout(x->c, 200, err), "lock_timeout 200 ms");
	rc = x->ops->exec(x->c, "INSERT INTO conf_lk VALUES (1)", &e);
	assert_true(rc < 0);
	if (x->ops->watch_start)
		assert_int_equal(rc, FERRY_ETIMEOUT);
	OK(x->ops->lock_timeout(x->c, 0, err), "lock_timeout 0");
	OK(x->ops->rollback(other, err), "rollback the other session");
	ferry_conn_close(other);
	OK(x->ops->exec(x->c, "INSERT INTO conf_lk VALUES (1)", err), "insert once released");
	if (!x->ops->watch_start)
		return;

	/* the holder is no connection of ferry's (those are not the user's
	 * to end): a psql-like session of its own */
	h = PQconnectdb(x->url);
	assert_int_equal(PQstatus(h), CONNECTION_OK);
	PQclear(PQexec(h, "SET application_name = 'conf_holder'"));
	PQclear(PQexec(h, "BEGIN"));
	PQclear(PQexec(h, "LOCK TABLE conf_lk IN ACCESS EXCLUSIVE MODE"));
	o.say = count_say;
	o.ud = &said;
	o.advice = "end it";
	o.look_after = 0.1;
	OK(x->ops->watch_start(x->c, &o, &w, err), "watch_start");
	assert_non_null(w);
	assert_int_equal(x->ops->watch_start(x->c, &o, &w2, &e), 1);
	assert_null(w2);
	assert_int_equal(x->ops->watch_seen(w, x->c, 0, &seen), 1);
	wt.x = x;
	wt.rc = -1;
	wt.err = (struct ferry_error)FERRY_ERROR_INIT;
	assert_int_equal(pthread_create(&th, NULL, wait_insert, &wt), 0);
	for (tries = 0; tries < 3000; tries++) {
		ferry_buf_clear(&seen);
		if (x->ops->watch_seen(w, x->c, 0, &seen) == 0)
			break;
		usleep(20 * 1000);
	}
	PQclear(PQexec(h, "ROLLBACK"));
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(wt.rc, 0);
	assert_int_equal(ferry_buf_addf(&want, "a lock on table 'conf_lk' (INSERT) held by pid %d "
					"(application 'conf_holder', user '", PQbackendPID(h)), 0);
	PQfinish(h);
	if (strncmp(seen.buf, want.buf, want.len))
		fail_msg("the watch saw '%s', not '%s...'", seen.buf, want.buf);
	assert_non_null(strstr(seen.buf, "idle in transaction for "));
	/* a wait seen before a time asked about is not told */
	ferry_buf_clear(&seen);
	assert_int_equal(x->ops->watch_seen(w, x->c, ferry_now() + 1, &seen), 1);
	x->ops->watch_stop(w, NULL);
	ferry_buf_release(&seen);
	ferry_buf_release(&want);
}

/*
 * Over a Unix socket the PostgreSQL connector asks for a 4 MiB send
 * buffer (postgres.c: pg_unix_sndbuf): the kernel's default of 208 KiB
 * made the COPY of 6M rows 2 s slower than over TCP.  The kernel gives
 * twice what it grants, at most net.core.wmem_max.
 */
static void pg_unix_socket_buffer(void **state)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	char url[600];
	ferry_conn *c = NULL;
	long wmem_max = 212992;
	int size = 0;
	socklen_t len = sizeof(size);
	FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");

	(void)state;
	if (f) {
		if (fscanf(f, "%ld", &wmem_max) != 1)
			wmem_max = 212992;
		fclose(f);
	}
	snprintf(url, sizeof(url), "postgres://postgres@/postgres?host=%s&port=%s",
		 svc_get("FERRY_PG_SOCKET_DIR"), svc_get("FERRY_PG_PORT"));
	if (ferry_conn_open(url, 0, &c, &e) < 0)
		fail_msg("%s", e.msg);
	assert_int_equal(getsockopt(PQsocket(((struct ferry_conn *)c)->pg), SOL_SOCKET, SO_SNDBUF,
				    &size, &len), 0);
	assert_true(size >= 2 * (wmem_max < (4L << 20) ? wmem_max : (4L << 20)));
	ferry_conn_close(c);
}

int main(void)
{
	const struct CMUnitTest alone[] = {
		cmocka_unit_test(pg_unix_socket_buffer),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ops_table),
		cmocka_unit_test(bad_urls),
		cmocka_unit_test(ddl_all_types),
		cmocka_unit_test(write_and_verify),
		cmocka_unit_test(write_rollback),
		cmocka_unit_test(describe_tables),
		cmocka_unit_test(source_reads),
		cmocka_unit_test(source_stop),
		cmocka_unit_test(typed_copy_verify),
		cmocka_unit_test(query_reads),
		cmocka_unit_test(point_reads),
		cmocka_unit_test(query_params),
		cmocka_unit_test(lock_unlock),
		cmocka_unit_test(snapshot),
		cmocka_unit_test(lock_timeout_watch),
	};
	const struct ferry_conn_ops *const *list = ferry_conn_list();
	int failed = 0;
	size_t i;

	for (i = 0; list[i]; i++) {
		char name[64];

		cur_ops = list[i];
		snprintf(name, sizeof(name), "conformance_%s", list[i]->name);
		failed += _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]),
						  group_setup, group_teardown);
	}
	failed += cmocka_run_group_tests_name("postgres_transport", alone, NULL, NULL);
	return failed ? 1 : 0;
}
