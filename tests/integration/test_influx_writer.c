/*
 * test_influx_writer.c - the one InfluxDB write path (tm_ifx_writer_*,
 * tsmap/sources/influx/write.c):
 *   - against the influxd (1.x) tests/services started: points written
 *     plain and gzip'd read back; a field type conflict and a line that
 *     does not parse refuse exactly those lines, with influxd's reason and
 *     the unit they came in, while every other line is stored; a missing
 *     database or retention policy is FERRY_ENOTFOUND with nothing
 *     refused; tm_ifx_create_db makes the database and the policy, and
 *     leaves a policy that is there alone;
 *   - a private influxd stopped under a writer: FERRY_ECONN, and the same
 *     writer writes again after start-influx;
 *   - InfluxDB 2.x: no 2.x server can be installed here (Debian ships
 *     influxd 1.6 only), so the 2.x requests are checked against
 *     influx2_fake.py, which answers as InfluxDB OSS 2.x documents it
 *     (204, 400, 401, 404, 422, 429/503 with Retry-After, the buckets and
 *     orgs API).
 * Skips (exit 77) when FERRY_INFLUX_URL is not in the services env.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ferry/buf.h"
#include "ferry/url.h"
#include "services_env.h"
#include "tsmap/tsmap.h"

static char tmpdir[512];
static char influx[512];       /* influx://127.0.0.1:PORT */

/* ------------------------------------------------------------ helpers */

static struct tm_ifx_writer *wopen(const char *url)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_ifx_writer *w = NULL;
	ferry_url *u = NULL;

	if (ferry_url_parse(url, &u, &err) < 0 || tm_ifx_writer_open(u, &w, &err) < 0)
		fail_msg("open %s: %s", url, err.msg);
	ferry_url_free(u);
	return w;
}

/* Lines refused: "unit|line|why\n" each. */
struct refused {
	struct ferry_buf b;
	int n;
};

static int on_refused(void *ud, size_t unit, const char *line, size_t n, const char *why,
		      struct ferry_error *err)
{
	struct refused *r = ud;

	(void)err;
	r->n++;
	return ferry_buf_addf(&r->b, "%zu|%.*s|%s\n", unit, (int)n, line, why);
}

static int wr(struct tm_ifx_writer *w, const char *db, const char *rp, const char *body,
	      const size_t *units, size_t nunits, struct refused *r, struct ferry_error *err)
{
	ferry_error_clear(err);
	return tm_ifx_write(w, db, rp, body, strlen(body), units, nunits, on_refused, r, err);
}

/* GET path through w (tm_ifx_request); the body, status 200 (caller frees). */
static char *get(struct tm_ifx_writer *w, const char *path)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf ans = FERRY_BUF_INIT;
	const struct tm_ifx_req rq = { .path = path, .max = 1u << 20 };
	char ct[128];
	long st;

	if (tm_ifx_request(w, &rq, &st, ct, sizeof(ct), &ans, &err) < 0)
		fail_msg("GET %s: %s", path, err.msg);
	if (st != 200)
		fail_msg("GET %s: HTTP %ld: %s", path, st, ans.buf ? ans.buf : "");
	if (!ans.buf)
		assert_int_equal(ferry_buf_addstr(&ans, ""), 0);
	return ferry_buf_detach(&ans, NULL);
}

/* The JSON answer of InfluxQL q on db (1.x), as text (caller frees). */
static char *q1(struct tm_ifx_writer *w, const char *db, const char *q)
{
	CURL *h = curl_easy_init();
	char *e = curl_easy_escape(h, q, 0), path[2048], *out;

	snprintf(path, sizeof(path), "/query?db=%s&q=%s", db, e);
	curl_free(e);
	curl_easy_cleanup(h);
	out = get(w, path);
	if (strstr(out, "\"error\""))
		fail_msg("%s: %s", q, out);
	return out;
}

static void q1_has(struct tm_ifx_writer *w, const char *db, const char *q, const char *want)
{
	char *got = q1(w, db, q);

	if (!strstr(got, want))
		fail_msg("%s\n got: %s\nwant: ...%s...", q, got, want);
	free(got);
}

static void influxql(struct tm_ifx_writer *w, const char *q)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf ans = FERRY_BUF_INIT, body = FERRY_BUF_INIT;
	CURL *h = curl_easy_init();
	char *e = curl_easy_escape(h, q, 0), ct[128];
	struct tm_ifx_req rq = { 0 };
	long st;

	assert_int_equal(ferry_buf_addf(&body, "q=%s", e), 0);
	curl_free(e);
	curl_easy_cleanup(h);
	rq.method = "POST";
	rq.path = "/query";
	rq.body = body.buf;
	rq.n = body.len;
	rq.content_type = "application/x-www-form-urlencoded";
	rq.max = 1u << 20;
	if (tm_ifx_request(w, &rq, &st, ct, sizeof(ct), &ans, &err) < 0 || st != 200 ||
	    strstr(ans.buf, "\"error\""))
		fail_msg("%s: %s %s", q, err.msg, ans.buf ? ans.buf : "");
	ferry_buf_release(&ans);
	ferry_buf_release(&body);
}

static void new_db(char *db, size_t cap, const char *what)
{
	static int seq;

	snprintf(db, cap, "w_%s_%d_%d", what, (int)getpid(), ++seq);
}

/* tests/services CMD DIR [ARG], its output in tmpdir/services.log */
static int services(const char *cmd, const char *dir, const char *arg)
{
	char log[600];

	snprintf(log, sizeof(log), "%s/services.log", tmpdir);
	return svc_run(cmd, dir, arg, log);
}

/* ------------------------------------------------------------ 1.x */

static void test_write_plain_and_gzip(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w;
	char db[128], url[800];

	(void)state;
	new_db(db, sizeof(db), "plain");
	snprintf(url, sizeof(url), "%s/%s", influx, db);
	w = wopen(url);
	assert_string_equal(tm_ifx_writer_db(w), db);
	assert_null(tm_ifx_writer_rp(w));
	assert_int_equal(tm_ifx_ping(w), 1);
	assert_int_equal(tm_ifx_has_db(w, db, &err), 0);
	if (tm_ifx_create_db(w, db, NULL, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(tm_ifx_has_db(w, db, &err), 1);
	/* NULL db: the URL's; no units: each line its own */
	if (wr(w, NULL, NULL, "cpu,host=a v=1.5 1700000000000000000\n"
	       "cpu,host=b v=2.5,n=3i,s=\"x y\",ok=true 1700000000000000001\n", NULL, 0, &r,
	       &err) < 0)
		fail_msg("write: %s", err.msg);
	tm_ifx_writer_close(w);

	/* gzip'd bodies (gzip=1; on loopback the default is plain), and an
	 * explicit gzip=0 */
	snprintf(url, sizeof(url), "%s/%s?gzip=1", influx, db);
	w = wopen(url);
	if (wr(w, NULL, NULL, "cpu,host=c v=4 1700000000000000002\n", NULL, 0, &r, &err) < 0)
		fail_msg("gzip write: %s", err.msg);
	tm_ifx_writer_close(w);
	snprintf(url, sizeof(url), "%s/%s?gzip=0", influx, db);
	w = wopen(url);
	if (wr(w, db, "", "cpu,host=d v=8 1700000000000000003\n", NULL, 0, &r, &err) < 0)
		fail_msg("plain write: %s", err.msg);
	assert_int_equal(r.n, 0);
	q1_has(w, db, "SELECT sum(v), count(v), sum(n) FROM cpu", ",16,4,3]");
	q1_has(w, db, "SELECT s, ok FROM cpu WHERE host='b'", "\"x y\",true]");
	tm_ifx_writer_close(w);
	ferry_buf_release(&r.b);
}

static void test_refused_lines(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w;
	struct ferry_buf body = FERRY_BUF_INIT;
	size_t units[4];
	char db[128], url[800];
	int i;

	(void)state;
	new_db(db, sizeof(db), "conflict");
	snprintf(url, sizeof(url), "%s/%s", influx, db);
	w = wopen(url);
	assert_int_equal(tm_ifx_create_db(w, db, NULL, &err), 0);
	assert_int_equal(wr(w, NULL, NULL, "cpu,host=a v=1 1700000000000000000\n", NULL, 0, &r,
			    &err), 0);

	/* four units; unit 1 has a type conflict among good lines, unit 2 a
	 * line influxd cannot parse, unit 3 a conflict first */
	units[0] = body.len;
	for (i = 0; i < 3; i++)
		assert_int_equal(ferry_buf_addf(&body, "cpu,host=u0 v=%d 17000000010%08d\n", i, i), 0);
	units[1] = body.len;
	assert_int_equal(ferry_buf_addstr(&body, "cpu,host=u1 v=1 1700000002000000000\n"
					  "cpu,host=u1 v=\"text\" 1700000002000000001\n"
					  "cpu,host=u1 v=3 1700000002000000002\n"), 0);
	units[2] = body.len;
	assert_int_equal(ferry_buf_addstr(&body, "cpu,host=u2 v=1 1700000003000000000\n"
					  "cpu,host=u2 v= 1700000003000000001\n"), 0);
	units[3] = body.len;
	assert_int_equal(ferry_buf_addstr(&body, "cpu,host=u3 v=true 1700000004000000000\n"
					  "cpu,host=u3 v=2 1700000004000000001\n"), 0);
	if (wr(w, NULL, NULL, body.buf, units, 4, &r, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(r.n, 3);
	{
		/* in body order, each with influxd's own reason for that line */
		const char *a = strstr(r.b.buf, "1|cpu,host=u1 v=\"text\" 1700000002000000001|"
				       "field type conflict: input field \"v\" on "
				       "measurement \"cpu\" is type string, already exists as type float");
		const char *b = strstr(r.b.buf, "2|cpu,host=u2 v= 1700000003000000001|");
		const char *c = strstr(r.b.buf, "3|cpu,host=u3 v=true 1700000004000000000|"
				       "field type conflict: input field \"v\" on measurement "
				       "\"cpu\" is type boolean");

		if (!a || !b || !c || !(a < b && b < c))
			fail_msg("refused:\n%s", r.b.buf);
		if (!strstr(b, "unable to parse"))
			fail_msg("the unparsable line's reason:\n%s", b);
	}
	/* every other line is stored: 1 + 3 + 2 + 1 + 1 */
	q1_has(w, db, "SELECT count(v) FROM cpu", ",8]");
	q1_has(w, db, "SELECT count(v) FROM cpu WHERE host='u1'", ",2]");

	/* 64 lines, no units (each line its own): the two conflicts, their
	 * unit being their line's index */
	ferry_buf_clear(&body);
	ferry_buf_clear(&r.b);
	r.n = 0;
	for (i = 0; i < 64; i++)
		assert_int_equal(ferry_buf_addf(&body, i == 9 || i == 50 ?
			"cpu,host=m v=\"s%d\" %d\n" : "cpu,host=m v=%d %d\n", i, 1700000100 + i), 0);
	assert_int_equal(wr(w, NULL, NULL, body.buf, NULL, 0, &r, &err), 0);
	assert_int_equal(r.n, 2);
	if (!strstr(r.b.buf, "9|cpu,host=m v=\"s9\" 1700000109|") ||
	    !strstr(r.b.buf, "50|cpu,host=m v=\"s50\" 1700000150|"))
		fail_msg("refused:\n%s", r.b.buf);
	q1_has(w, db, "SELECT count(v) FROM cpu WHERE host='m'", ",62]");
	/* the count alone told the two conflicts: their reason without it */
	assert_null(strstr(r.b.buf, "dropped="));

	/* two conflicts of different fields in one body: influxd names only
	 * the first, so its lines are not all the dropped ones; each still
	 * refused with its own reason, every other line stored */
	assert_int_equal(wr(w, NULL, NULL, "mem,host=m x=1i 1700000200\n", NULL, 0, &r, &err), 0);
	ferry_buf_clear(&body);
	ferry_buf_clear(&r.b);
	r.n = 0;
	for (i = 0; i < 32; i++)
		assert_int_equal(ferry_buf_addf(&body, i == 3 ? "cpu,host=k v=\"s%d\" %d\n" :
			i == 20 ? "mem,host=k x=%d.5 %d\n" : "cpu,host=k v=%d %d\n", i,
			1700000300 + i), 0);
	assert_int_equal(wr(w, NULL, NULL, body.buf, NULL, 0, &r, &err), 0);
	assert_int_equal(r.n, 2);
	if (!strstr(r.b.buf, "3|cpu,host=k v=\"s3\" 1700000303|field type "
		    "conflict: input field \"v\" on measurement \"cpu\" is type string") ||
	    !strstr(r.b.buf, "20|mem,host=k x=20.5 1700000320|field type "
		    "conflict: input field \"x\" on measurement \"mem\" is type float"))
		fail_msg("refused:\n%s", r.b.buf);
	q1_has(w, db, "SELECT count(v) FROM cpu WHERE host='k'", ",30]");

	/* a string holding a newline (and what looks like a whole point) in a
	 * unit that is halved down to its lines (two conflicts of different
	 * fields): the string's line is one line, stored whole; cut at its
	 * newline, one half would be refused and the other a point of its own */
	units[0] = 0;
	ferry_buf_clear(&r.b);
	r.n = 0;
	assert_int_equal(wr(w, NULL, NULL, "cpu,host=nl v=1 1700000500\n"
			    "cpu,host=nl s=\"a\nb,host=forged v=999 1700000501\" 1700000501\n"
			    "cpu,host=nl v=\"bad\" 1700000502\n"
			    "mem,host=nl x=2.5 1700000503\n"
			    "cpu,host=nl v=5 1700000504\n", units, 1, &r, &err), 0);
	assert_int_equal(r.n, 2);
	if (!strstr(r.b.buf, "0|cpu,host=nl v=\"bad\" 1700000502|field type conflict") ||
	    !strstr(r.b.buf, "0|mem,host=nl x=2.5 1700000503|field type conflict"))
		fail_msg("refused:\n%s", r.b.buf);
	q1_has(w, db, "SELECT s FROM cpu WHERE host='nl'", "\"a\\nb,host=forged v=999 1700000501\"]");
	q1_has(w, db, "SELECT count(v) FROM cpu WHERE host='nl'", ",2]");
	q1_has(w, db, "SELECT count(v) FROM cpu WHERE host='forged'", "{\"statement_id\":0}");

	tm_ifx_writer_close(w);
	ferry_buf_release(&body);
	ferry_buf_release(&r.b);
}

static int refuse_all(void *ud, size_t unit, const char *line, size_t n, const char *why,
		      struct ferry_error *err)
{
	(void)ud;
	(void)unit;
	(void)line;
	(void)n;
	(void)why;
	return ferry_error_set(err, FERRY_EABORT, "stop here");
}

static void test_missing_db_rp_and_fn_error(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w;
	char db[128], url[800];
	static const char line[] = "cpu v=1 1700000000000000000\n";

	(void)state;
	new_db(db, sizeof(db), "missing");
	snprintf(url, sizeof(url), "%s/%s", influx, db);
	w = wopen(url);
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), FERRY_ENOTFOUND);
	assert_int_equal(r.n, 0);
	if (!strstr(err.msg, "database not found") || !strstr(err.msg, db))
		fail_msg("%s", err.msg);
	assert_int_equal(tm_ifx_create_db(w, db, NULL, &err), 0);
	assert_int_equal(wr(w, NULL, "nope", line, NULL, 0, &r, &err), FERRY_ENOTFOUND);
	assert_int_equal(r.n, 0);
	if (!strstr(err.msg, "retention policy not found"))
		fail_msg("%s", err.msg);
	/* the callback's error comes back as it is */
	ferry_error_clear(&err);
	assert_int_equal(tm_ifx_write(w, NULL, NULL, "cpu v=1 1\ncpu v=\"x\" 2\n", 22, NULL, 0,
				      refuse_all, NULL, &err), FERRY_EABORT);
	assert_string_equal(err.msg, "stop here");
	/* units that do not start at 0 or go down: the caller's mistake */
	{
		size_t bad[2] = { 0, 30 };

		assert_int_equal(tm_ifx_write(w, NULL, NULL, "cpu v=\"y\" 3\n", 12, bad, 2,
					      on_refused, &r, &err), FERRY_EINVAL);
	}
	tm_ifx_writer_close(w);
	ferry_buf_release(&r.b);
}

static void test_create_db_rp(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w;
	char db[128], url[800], q[256];

	(void)state;
	new_db(db, sizeof(db), "rp");
	snprintf(url, sizeof(url), "%s/%s?rp=forever", influx, db);
	w = wopen(url);
	assert_string_equal(tm_ifx_writer_rp(w), "forever");
	if (tm_ifx_create_db(w, db, "forever", &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(tm_ifx_has_db(w, db, &err), 1);
	q1_has(w, db, "SHOW RETENTION POLICIES", "[\"forever\",\"0s\",");
	/* again: nothing to do; a policy that is there with other settings is
	 * left as it is (CREATE would fail on it) */
	snprintf(q, sizeof(q), "CREATE RETENTION POLICY \"short\" ON \"%s\" DURATION 2h "
		 "REPLICATION 1", db);
	influxql(w, q);
	if (tm_ifx_create_db(w, db, "forever", &err) < 0 ||
	    tm_ifx_create_db(w, db, "short", &err) < 0)
		fail_msg("create again: %s", err.msg);
	q1_has(w, db, "SHOW RETENTION POLICIES", "[\"short\",\"2h0m0s\",");
	/* NULL rp: the URL's */
	assert_int_equal(wr(w, NULL, NULL, "m v=1 1700000000000000000\n", NULL, 0, &r, &err), 0);
	snprintf(q, sizeof(q), "SELECT count(v) FROM \"%s\".\"forever\".m", db);
	q1_has(w, db, q, ",1]");
	assert_int_equal(wr(w, NULL, "short", "m v=1 1700000000000000000\n", NULL, 0, &r, &err),
			 0);
	tm_ifx_writer_close(w);
	ferry_buf_release(&r.b);
}

static void test_influxd_stopped(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w;
	char dir[600], url[800], where[600];
	int rc;

	(void)state;
	/* a private influxd: the shared one serves the other tests meanwhile */
	snprintf(dir, sizeof(dir), "%s/own-influx", tmpdir);
	if (services("start", dir, "influx") != 0)
		fail_msg("cannot start a private influxd (see %s/services.log)", tmpdir);
	snprintf(where, sizeof(where), "%s", svc_env_of(dir, "FERRY_INFLUX_URL") + 7);
	snprintf(url, sizeof(url), "influx://%s/down", where);
	w = wopen(url);
	assert_int_equal(tm_ifx_create_db(w, "down", NULL, &err), 0);
	assert_int_equal(wr(w, NULL, NULL, "m v=1 1700000000000000000\n", NULL, 0, &r, &err), 0);
	assert_int_equal(services("stop-influx", dir, NULL), 0);
	assert_int_equal(tm_ifx_ping(w), 0);
	rc = wr(w, NULL, NULL, "m v=2 1700000001000000000\n", NULL, 0, &r, &err);
	assert_int_equal(rc, FERRY_ECONN);
	assert_int_equal(r.n, 0);
	if (!strstr(err.msg, where))
		fail_msg("%s", err.msg);
	assert_int_equal(tm_ifx_has_db(w, "down", &err), FERRY_ECONN);
	assert_int_equal(tm_ifx_create_db(w, "other", NULL, &err), FERRY_ECONN);
	assert_int_equal(services("start-influx", dir, NULL), 0);
	/* the same writer, no reopen */
	rc = wr(w, NULL, NULL, "m v=3 1700000002000000000\n", NULL, 0, &r, &err);
	if (rc < 0)
		fail_msg("write after start-influx: %s", err.msg);
	assert_int_equal(tm_ifx_ping(w), 1);
	q1_has(w, "down", "SELECT sum(v), count(v) FROM m", ",4,2]");
	tm_ifx_writer_close(w);
	ferry_buf_release(&r.b);
	assert_int_equal(services("stop", dir, NULL), 0);
}

/* ------------------------------------------------------------ 2.x */

static int fake_pid, fake_port;

static int fake_start(void **state)
{
	(void)state;
	return (fake_pid = svc_fake2_start(tmpdir, &fake_port)) < 0 ? -1 : 0;
}

static int fake_stop(void **state)
{
	(void)state;
	svc_fake2_stop(fake_pid);
	return 0;
}

static struct tm_ifx_writer *v2_open(const char *params)
{
	char url[512];

	snprintf(url, sizeof(url), "influx://127.0.0.1:%d/?%s", fake_port, params);
	return wopen(url);
}

static void test_v2_write(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w = v2_open("org=acme&bucket=ha&token=s3cret");
	size_t units[2];
	char *s;

	(void)state;
	assert_string_equal(tm_ifx_writer_db(w), "ha");
	assert_null(tm_ifx_writer_rp(w));
	assert_int_equal(tm_ifx_ping(w), 1);
	assert_int_equal(tm_ifx_has_db(w, "ha", &err), 1);
	assert_int_equal(tm_ifx_has_db(w, "nope", &err), 0);
	if (wr(w, NULL, NULL, "cpu,host=a v=1.5 1700000000000000000\n"
	       "cpu,host=a n=2i 1700000000000000000\n", NULL, 0, &r, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(r.n, 0);
	s = get(w, "/fake/last");
	if (!strstr(s, "\"path\": \"/api/v2/write?org=acme&bucket=ha&precision=ns\"") ||
	    !strstr(s, "\"content_encoding\": null") ||
	    !strstr(s, "\"authorization\": \"Token s3cret\""))
		fail_msg("last write: %s", s);
	free(s);

	/* 422: a field type conflict, the other lines written; 400: a line
	 * that does not parse, nothing of its body written */
	units[0] = 0;
	units[1] = strlen("cpu,host=b v=1 1700000001000000000\n"
			  "cpu,host=b v=\"str\" 1700000001000000001\n");
	if (wr(w, NULL, NULL, "cpu,host=b v=1 1700000001000000000\n"
	       "cpu,host=b v=\"str\" 1700000001000000001\n"
	       "cpu,host=c v=abc 1700000001000000002\n"
	       "cpu,host=c v=7 1700000001000000003\n", units, 2, &r, &err) < 0)
		fail_msg("write: %s", err.msg);
	assert_int_equal(r.n, 2);
	if (!strstr(r.b.buf, "0|cpu,host=b v=\"str\" 1700000001000000001|failure writing points "
		    "to database: field type conflict: input field \"v\" on "
		    "measurement \"cpu\" is type string, already exists as type float\n") ||
	    !strstr(r.b.buf, "1|cpu,host=c v=abc 1700000001000000002|unable to parse "
		    "'cpu,host=c v=abc 1700000001000000002': invalid number\n"))
		fail_msg("refused:\n%s", r.b.buf);
	s = get(w, "/fake/points?bucket=ha");
	assert_string_equal(s, "cpu,host=a 1700000000000000000 n=2i\n"
			    "cpu,host=a 1700000000000000000 v=1.5\n"
			    "cpu,host=b 1700000001000000000 v=1\n"
			    "cpu,host=c 1700000001000000003 v=7\n");
	free(s);
	tm_ifx_writer_close(w);

	/* gzip=1: the body gzip'd */
	w = v2_open("org=acme&bucket=ha&token=s3cret&gzip=1");
	assert_int_equal(wr(w, NULL, NULL, "gz v=1 5\n", NULL, 0, &r, &err), 0);
	s = get(w, "/fake/last");
	if (!strstr(s, "\"content_encoding\": \"gzip\"") || !strstr(s, "\"lines\": 1"))
		fail_msg("last write: %s", s);
	free(s);
	/* a 1.x database and policy: bucket "db/rp" */
	assert_int_equal(wr(w, "ha", "weekly", "gz v=1 6\n", NULL, 0, &r, &err),
			 FERRY_ENOTFOUND);
	if (!strstr(err.msg, "bucket \"ha/weekly\" not found"))
		fail_msg("%s", err.msg);
	tm_ifx_writer_close(w);
	ferry_buf_release(&r.b);
}

static void test_v2_errors(void **state)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct refused r = { FERRY_BUF_INIT, 0 };
	struct tm_ifx_writer *w = v2_open("org=acme&bucket=nobucket&token=s3cret");
	static const char line[] = "m v=1 1\n";
	ferry_url *u = NULL;
	struct tm_influx_url iu;

	(void)state;
	/* 404: the bucket, then the org */
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), FERRY_ENOTFOUND);
	if (!strstr(err.msg, "bucket \"nobucket\" not found"))
		fail_msg("%s", err.msg);
	/* 429 and 503: try again, when InfluxDB said */
	assert_int_equal(wr(w, "busy", NULL, line, NULL, 0, &r, &err), FERRY_ECONN);
	if (!strstr(err.msg, "HTTP 429") || !strstr(err.msg, "retry after 7 s"))
		fail_msg("%s", err.msg);
	assert_int_equal(wr(w, "down", NULL, line, NULL, 0, &r, &err), FERRY_ECONN);
	if (!strstr(err.msg, "HTTP 503") || !strstr(err.msg, "retry after 3 s"))
		fail_msg("%s", err.msg);
	assert_int_equal(r.n, 0);
	/* create the bucket: then it takes writes */
	if (tm_ifx_create_db(w, "nobucket", NULL, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(tm_ifx_has_db(w, "nobucket", &err), 1);
	assert_int_equal(tm_ifx_create_db(w, "nobucket", NULL, &err), 0);
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), 0);
	tm_ifx_writer_close(w);

	w = v2_open("org=other&bucket=ha&token=s3cret");
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), FERRY_ENOTFOUND);
	if (!strstr(err.msg, "organization name \"other\" not found"))
		fail_msg("%s", err.msg);
	assert_int_equal(tm_ifx_create_db(w, "x", NULL, &err), FERRY_ENOTFOUND);
	tm_ifx_writer_close(w);

	/* 401: a wrong token, or none */
	w = v2_open("org=acme&bucket=ha&token=wrong");
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), FERRY_ECONN);
	if (!strstr(err.msg, "HTTP 401") || !strstr(err.msg, "token"))
		fail_msg("%s", err.msg);
	assert_int_equal(tm_ifx_has_db(w, "ha", &err), FERRY_ECONN);
	tm_ifx_writer_close(w);
	w = v2_open("org=acme&bucket=ha");
	assert_int_equal(wr(w, NULL, NULL, line, NULL, 0, &r, &err), FERRY_ECONN);
	tm_ifx_writer_close(w);

	/* a 2.x URL needs an org and a bucket */
	assert_int_equal(ferry_url_parse("influx://127.0.0.1/?bucket=ha&token=t", &u, &err), 0);
	assert_int_equal(tm_influx_url(u, &iu, &err), FERRY_EINVAL);
	assert_non_null(strstr(err.msg, "org=ORG&bucket=BUCKET"));
	ferry_url_free(u);
	/* the source reads 1.x's /query only: a 2.x URL is refused, clearly */
	{
		void *src = NULL;

		assert_int_equal(ferry_url_parse("influx://127.0.0.1/?org=acme&bucket=ha", &u, &err),
				 0);
		assert_int_equal(ifx_source_ops.open(u, NULL, &src, &err), FERRY_EUNSUPPORTED);
		assert_non_null(strstr(err.msg, "not a 2.x org and bucket"));
		ferry_url_free(u);
	}
	ferry_buf_release(&r.b);
}

int main(void)
{
	const struct CMUnitTest v1[] = {
		cmocka_unit_test(test_write_plain_and_gzip),
		cmocka_unit_test(test_refused_lines),
		cmocka_unit_test(test_missing_db_rp_and_fn_error),
		cmocka_unit_test(test_create_db_rp),
		cmocka_unit_test(test_influxd_stopped),
	};
	const struct CMUnitTest v2[] = {
		cmocka_unit_test(test_v2_write),
		cmocka_unit_test(test_v2_errors),
	};
	const char *t = getenv("FERRY_TEST_TMP"), *u;
	char cmd[700], dir[600];
	int rc;

	if (svc_load() < 0 || !(u = svc_get("FERRY_INFLUX_URL")) || strncmp(u, "http://", 7))
		return 77;
	snprintf(influx, sizeof(influx), "influx://%s", u + 7);
	snprintf(tmpdir, sizeof(tmpdir), "%s/influx_writer.%d", t ? t : "/tmp", (int)getpid());
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmpdir);
	if (system(cmd) != 0)
		return 1;
	rc = cmocka_run_group_tests_name("influx writer: 1.x", v1, NULL, NULL);
	rc |= cmocka_run_group_tests_name("influx writer: 2.x (influx2_fake.py)", v2, fake_start,
					  fake_stop);
	/* the private server of a test that failed half-way (stop is idempotent) */
	snprintf(dir, sizeof(dir), "%s/own-influx", tmpdir);
	services("stop", dir, NULL);
	return rc;
}
