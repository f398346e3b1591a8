/*
 * test_relay_ingest.c - the relay's ingest of request bodies
 * (src/lib/relay/ingest.c, telemetry.c) and the record checks it shares
 * with lp:// (src/lib/tsmap/check.c): a line that `ferry copy lp://`
 * rejects is refused by /write with the same reason (read through the lp
 * source on a temp file and compared); missing timestamps get now,
 * precisions, NaN refused whole, bad UTF-8 and NUL taken (as influxd
 * takes them), partial bodies,
 * influxd's wording; the device API's JSON bodies.
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

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/url.h"
#include "relay/relay_int.h"
#include "tsmap/tsmap.h"

extern const struct tm_source_ops lpf_source_ops;

#define NOW 1700000000123456789LL

/* Ingest body at precision p into a fresh pts (released by the caller). */
static void ingest(const char *body, size_t n, enum lp_precision p, struct relay_points *pts)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	relay_points_init(pts);
	if (relay_ingest_lp(body, n, p, NOW, pts, &err) != 0)
		fail_msg("ingest: %s", err.msg);
}

static void ingest_str(const char *body, enum lp_precision p, struct relay_points *pts)
{
	ingest(body, strlen(body), p, pts);
}

/* ------------------------------------------------- same reasons as lp:// */

struct rejects {
	char reason[32][320];
	size_t n;
};

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	return 0;
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	struct rejects *r = ud;

	assert_true(r->n < 32);
	snprintf(r->reason[r->n++], sizeof(r->reason[0]), "%s", reason);
	return 0;
}

/* Every line of data through `ferry copy lp://` (precision s): the reject
 * reasons in order. */
static void lp_rejects(const char *data, size_t n, struct rejects *out)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o;
	char dir[512], path[600], url[700];
	const char *base = getenv("FERRY_TEST_TMP");
	struct tm_chunk *ck = NULL;
	size_t nck = 0, i;
	ferry_url *u = NULL;
	void *s = NULL;
	FILE *f;

	if (base)
		mkdir(base, 0700);
	snprintf(dir, sizeof(dir), "%s/relay-ingest-XXXXXX", base ? base : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.lp", dir);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	snprintf(url, sizeof(url), "lp://%s?precision=s", path);
	assert_int_equal(ferry_url_parse(url, &u, &err), 0);
	memset(&o, 0, sizeof(o));
	o.precision = LP_PREC_S;
	if (lpf_source_ops.open(u, &o, &s, &err) != 0)
		fail_msg("open: %s", err.msg);
	assert_int_equal(lpf_source_ops.plan(s, NULL, &ck, &nck, &err), 0);
	memset(out, 0, sizeof(*out));
	for (i = 0; i < nck; i++)
		if (lpf_source_ops.read(s, NULL, &ck[i], -1, on_point, on_reject, out, &err) != 0)
			fail_msg("read: %s", err.msg);
	tm_chunks_free(ck);
	lpf_source_ops.close(s);
	ferry_url_free(u);
	unlink(path);
	rmdir(dir);
}

/* lp:// refuses all of these; the relay the ones not marked TEXT (a
 * line whose only fault is a NUL byte or bytes that are not UTF-8 is
 * taken, as influxd takes it: the PostgreSQL store refuses it later) */
static const char *const bad_lines[] = {
	"broken",
	"ok,entity_id=\xff\xfe v=3 3",
	"ok s=\"nul\0here\" 5",
	"ok v=1 99999999999999999",
	"\xc3(bad v=1 7",
	"ok,k\xed\xa0\x80=1 v=1 8",
	"ok f\xc0\xaf=1 9",
	"ok,t=\"\xe2\x82\xac\" v=\"\xe2\x82\" 12",
	"ok v=1i,v=2 3",
	"ok v=12x 4",
	"ok v=1 12abc",
	",t=1 v=1 5",
	"ok,t v=1 5",
	"ok v=\"unterminated 10",   /* last: an open string would take the next lines */
};
static const int text_only[] = { 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0 };
/* the NUL line's length: it holds a NUL byte */
static size_t line_len(size_t i)
{
	return i == 2 ? sizeof("ok s=\"nul\0here\" 5") - 1 : strlen(bad_lines[i]);
}

static void test_same_reasons_as_lp(void **state)
{
	struct ferry_buf file = FERRY_BUF_INIT;
	struct rejects rj;
	size_t i, n = sizeof(bad_lines) / sizeof(bad_lines[0]);

	for (i = 0; i < n; i++) {
		assert_int_equal(ferry_buf_add(&file, bad_lines[i], line_len(i)), 0);
		assert_int_equal(ferry_buf_addch(&file, '\n'), 0);
	}
	lp_rejects(file.buf, file.len, &rj);
	if (rj.n != n) {     /* lp:// refuses every one of them */
		for (i = 0; i < rj.n; i++)
			print_message("lp:// reject %zu: %s\n", i, rj.reason[i]);
		fail_msg("lp:// refused %zu of the %zu lines", rj.n, n);
	}
	for (i = 0; i < n; i++) {
		struct relay_points pts;
		char want[400];
		size_t wl, gl;

		ingest(bad_lines[i], line_len(i), LP_PREC_S, &pts);
		if (text_only[i]) {
			if (pts.npoints != 1 || pts.nrejected)
				fail_msg("line %zu: the relay refused it: %s", i, pts.why);
			relay_points_release(&pts);
			continue;
		}
		assert_int_equal(pts.npoints, 0);
		assert_int_equal(pts.nrejected, 1);
		assert_int_equal(pts.lp.len, 0);
		assert_true(!strncmp(pts.why, "unable to parse '", 17));
		snprintf(want, sizeof(want), "': %s", rj.reason[i]);
		wl = strlen(want);
		gl = strlen(pts.why);
		if (gl < wl || strcmp(pts.why + gl - wl, want))
			fail_msg("line %zu: relay says \"%s\", lp:// says \"%s\"", i, pts.why,
				 rj.reason[i]);
		relay_points_release(&pts);
	}
	ferry_buf_release(&file);
}

/* ------------------------------------------------------------- lines */

static void test_good_ns_copied(void **state)
{
	struct relay_points pts;
	const char *in = "cpu,host=a\\ b,region=eu usage=0.1,n=3i,s=\"x y\",ok=t 1700000000000000001\n"
			 "mem free=1e300 -5\n";

	ingest_str(in, LP_PREC_NS, &pts);
	assert_int_equal(pts.npoints, 2);
	assert_int_equal(pts.nrejected, 0);
	assert_string_equal(pts.lp.buf, in);   /* the client's bytes, as sent */
	assert_string_equal(pts.why, "");
	relay_points_release(&pts);
}

static void test_missing_ts_gets_now(void **state)
{
	struct relay_points pts;
	struct lp_scratch sc;
	struct lp_point pt;
	const char *why;

	ingest_str("m,t=1 v=2i\r\n", LP_PREC_NS, &pts);
	assert_int_equal(pts.npoints, 1);
	assert_string_equal(pts.lp.buf, "m,t=1 v=2i 1700000000123456789\n");
	relay_points_release(&pts);

	/* also at another precision: now is nanoseconds already */
	ingest_str("m v=2i", LP_PREC_S, &pts);
	lp_scratch_init(&sc);
	assert_int_equal(lp_parse_line(pts.lp.buf, pts.lp.len - 1, &pt, &sc, &why), LP_POINT);
	assert_true(pt.has_ts);
	assert_int_equal(pt.ts, NOW);
	lp_scratch_release(&sc);
	relay_points_release(&pts);
}

static void test_precisions(void **state)
{
	static const struct {
		enum lp_precision p;
		int64_t want;
	} t[] = {
		{ LP_PREC_US, 7000 }, { LP_PREC_MS, 7000000 }, { LP_PREC_S, 7000000000LL },
		{ LP_PREC_M, 420000000000LL }, { LP_PREC_H, 25200000000000LL },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct relay_points pts;
		struct lp_scratch sc;
		struct lp_point pt;
		const char *why;

		ingest_str("w,k=v a=1.5,b=\"q\\\"x\",c=-3i,d=4u,e=F 7\n", t[i].p, &pts);
		assert_int_equal(pts.npoints, 1);
		assert_true(pts.lp.len && pts.lp.buf[pts.lp.len - 1] == '\n');
		lp_scratch_init(&sc);
		assert_int_equal(lp_parse_line(pts.lp.buf, pts.lp.len - 1, &pt, &sc, &why),
				 LP_POINT);
		assert_int_equal(pt.ts, t[i].want);
		assert_int_equal(pt.nfields, 5);
		assert_true(pt.fields[0].type == LP_FLOAT && pt.fields[0].v.f == 1.5);
		assert_true(pt.fields[1].type == LP_STRING && pt.fields[1].v.s.n == 3 &&
			    !memcmp(pt.fields[1].v.s.p, "q\"x", 3));
		assert_true(pt.fields[2].type == LP_INT && pt.fields[2].v.i == -3);
		assert_true(pt.fields[3].type == LP_UINT && pt.fields[3].v.u == 4);
		assert_true(pt.fields[4].type == LP_BOOL && pt.fields[4].v.b == 0);
		assert_int_equal(pt.ntags, 1);
		lp_scratch_release(&sc);
		relay_points_release(&pts);
	}
}

static void test_out_of_range(void **state)
{
	struct relay_points pts;

	ingest_str("m v=1 9223372036854775\n", LP_PREC_MS, &pts);
	assert_int_equal(pts.npoints, 0);
	assert_int_equal(pts.nrejected, 1);
	assert_string_equal(pts.why, "unable to parse 'm v=1 9223372036854775': "
				     "timestamp 9223372036854775 out of range at precision 'ms'");
	relay_points_release(&pts);
}

static void test_nan_refused_whole(void **state)
{
	static const char *const lines[] = { "m a=1,v=NaN 1", "m v=Inf,a=1 1", "m v=-Inf 1",
					     "m v=1e999 1" };
	size_t i;

	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		struct relay_points pts;
		char want[64];

		ingest_str(lines[i], LP_PREC_NS, &pts);
		/* influxd refuses the line; lp:// would keep field a */
		assert_int_equal(pts.npoints, 0);
		assert_int_equal(pts.nrejected, 1);
		snprintf(want, sizeof(want), "unable to parse '%s': ", lines[i]);
		assert_true(!strncmp(pts.why, want, strlen(want)));
		relay_points_release(&pts);
	}
}

static void test_partial(void **state)
{
	struct relay_points pts;

	ingest_str("# a comment\n\n  \na v=1 1\nbroken\nb v=2 2\nc v=\"\xff\" 3\nd v=3 3",
		   LP_PREC_NS, &pts);
	assert_int_equal(pts.npoints, 4);
	assert_int_equal(pts.nrejected, 1);
	assert_string_equal(pts.lp.buf, "a v=1 1\nb v=2 2\nc v=\"\xff\" 3\nd v=3 3\n");
	assert_string_equal(pts.why, "unable to parse 'broken': missing fields");
	relay_points_release(&pts);

	/* empty and comment-only bodies: nothing, and no refusal */
	ingest_str("", LP_PREC_NS, &pts);
	assert_int_equal(pts.npoints + pts.nrejected, 0);
	relay_points_release(&pts);
	ingest_str("# x\n\n", LP_PREC_NS, &pts);
	assert_int_equal(pts.npoints + pts.nrejected, 0);
	relay_points_release(&pts);
}

static void test_long_line_quoted(void **state)
{
	struct relay_points pts;
	struct ferry_buf b = FERRY_BUF_INIT;
	int i;

	/* 70 bytes of measurement then invalid UTF-8 and a control byte, in a
	 * line refused for its timestamp */
	for (i = 0; i < 60; i++)
		assert_int_equal(ferry_buf_addch(&b, 'm'), 0);
	assert_int_equal(ferry_buf_addstr(&b, "\x01\xe2\x82\xac\xff,t=1 v=1 1x"), 0);
	ingest(b.buf, b.len, LP_PREC_NS, &pts);
	assert_int_equal(pts.nrejected, 1);
	/* the quoted line: 64 bytes at most, '?' for what is not text */
	assert_string_equal(pts.why,
		"unable to parse 'mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm?\xe2\x82\xac': "
		"invalid timestamp '1x'");
	relay_points_release(&pts);
	ferry_buf_release(&b);
}

/* ------------------------------------------------------------- telemetry */

static int tele(const char *json, struct relay_points *pts, struct ferry_error *err)
{
	relay_points_init(pts);
	return relay_ingest_telemetry(json, strlen(json), "telemetry", "dev 1", NOW, pts, err);
}

static void tele_ok(const char *json, const char *want)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_points pts;

	if (tele(json, &pts, &err) != 0)
		fail_msg("telemetry %s: %s", json, err.msg);
	assert_int_equal(pts.npoints, 1);
	assert_string_equal(pts.lp.buf, want);
	relay_points_release(&pts);
}

static void tele_bad(const char *json, const char *want)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct relay_points pts;

	assert_int_equal(tele(json, &pts, &err), FERRY_EPARSE);
	assert_int_equal(pts.npoints, 0);
	assert_int_equal(pts.lp.len, 0);
	if (!strstr(err.msg, want))
		fail_msg("telemetry %s: '%s' does not say '%s'", json, err.msg, want);
	relay_points_release(&pts);
}

static void test_telemetry_point(void **state)
{
	tele_ok("{\"data\":{\"temp\":21.5,\"n\":3,\"on\":true,\"name\":\"k\\\"1\"},"
		"\"metadata\":{\"site\":\"b 7\",\"fw\":12,\"device_id\":\"spoof\",\"gone\":null,"
		"\"e\":\"\"},\"timestamp\":1700000000}",
		"telemetry,device_id=dev\\ 1,site=b\\ 7,fw=12 temp=21.5,n=3,on=true,"
		"name=\"k\\\"1\" 1700000000000000000\n");
	/* nested objects flattened with '.', arrays as JSON text, nulls left out */
	tele_ok("{\"data\":{\"door\":{\"open\":false,\"lock\":{\"ok\":1}},\"rgb\":[1,2,{\"a\":3}],"
		"\"x\":null}}",
		"telemetry,device_id=dev\\ 1 door.open=false,door.lock.ok=1,"
		"rgb=\"[1,2,{\\\"a\\\":3}]\" 1700000000123456789\n");
}

static void test_telemetry_timestamps(void **state)
{
	static const struct {
		const char *ts;
		const char *want;
	} t[] = {
		{ "1700000000", "1700000000000000000" },          /* s */
		{ "1700000000.25", "1700000000250000000" },       /* fractional s */
		{ "1700000000123", "1700000000123000000" },       /* ms */
		{ "1700000000123456", "1700000000123456000" },    /* us */
		{ "1700000000123456789", "1700000000123456789" }, /* ns */
		{ "\"2023-11-14T22:13:20Z\"", "1700000000000000000" },
		{ "\"2023-11-14T23:13:20.5+01:00\"", "1700000000500000000" },
		{ "null", "1700000000123456789" },                /* now */
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char json[200], want[200];

		snprintf(json, sizeof(json), "{\"data\":{\"v\":1},\"timestamp\":%s}", t[i].ts);
		snprintf(want, sizeof(want), "telemetry,device_id=dev\\ 1 v=1 %s\n", t[i].want);
		tele_ok(json, want);
	}
}

static void test_telemetry_bad(void **state)
{
	tele_bad("{\"data\":{\"v\":1,}", "bad JSON at byte 16");
	tele_bad("", "bad JSON at byte 0");
	tele_bad("[1]", "a JSON object");
	tele_bad("{\"metadata\":{}}", "no \"data\" object");
	tele_bad("{\"data\":5}", "\"data\" must be an object");
	tele_bad("{\"data\":{}}", "\"data\" is empty");
	tele_bad("{\"data\":{\"a\":null}}", "only nulls");
	tele_bad("{\"data\":{\"v\":1},\"metadata\":{\"m\":{}}}", "\"metadata\" value of 'm' is an object");
	tele_bad("{\"data\":{\"v\":1},\"metadata\":[]}", "\"metadata\" must be an object");
	tele_bad("{\"data\":{\"v\":1},\"timestamp\":\"yesterday\"}", "not an RFC 3339 time");
	tele_bad("{\"data\":{\"v\":1},\"timestamp\":true}", "must be a number or an RFC 3339");
	tele_bad("{\"data\":{\"v\":1},\"timestamp\":1e300}", "out of range");
	tele_bad("{\"data\":{\"\":1}}", "cannot be written");
	tele_bad("{\"data\":{\"v\":1,\"v\":2}}", "duplicate");
	tele_bad("{\"data\":{\"s\":\"a\\u0000b\"}}", "bad JSON");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_reasons_as_lp),
		cmocka_unit_test(test_good_ns_copied),
		cmocka_unit_test(test_missing_ts_gets_now),
		cmocka_unit_test(test_precisions),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_nan_refused_whole),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_long_line_quoted),
		cmocka_unit_test(test_telemetry_point),
		cmocka_unit_test(test_telemetry_timestamps),
		cmocka_unit_test(test_telemetry_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
