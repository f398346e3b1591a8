/*
 * test_influx_answer.c - the InfluxDB source's handling of an answer taken
 * whole in series order (src/lib/tsmap/sources/influx/answer.c and
 * read.c, through the functions of influx_int.h): a cut answer is found
 * before any point goes out, points go out field by field, newest first,
 * a bad value is rejected in its own field's pass only, and a row count
 * the bytes cannot hold is an error, not a write past the end.
 */
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "tsmap/sources/influx/influx_int.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

/* ---- a small MessagePack writer ---- */

static void mp_raw(struct ferry_buf *b, unsigned c)
{
	assert_int_equal(ferry_buf_addch(b, (int)c), 0);
}

static void mp_str(struct ferry_buf *b, const char *s)
{
	size_t n = strlen(s);

	assert_true(n < 32);
	mp_raw(b, 0xa0 | (unsigned)n);
	assert_int_equal(ferry_buf_add(b, s, n), 0);
}

static void mp_int(struct ferry_buf *b, int64_t v)
{
	int i;

	mp_raw(b, 0xd3);
	for (i = 7; i >= 0; i--)
		mp_raw(b, (unsigned)(((uint64_t)v >> (8 * i)) & 0xff));
}

static void mp_f64(struct ferry_buf *b, double d)
{
	uint64_t u;
	int i;

	memcpy(&u, &d, sizeof(u));
	mp_raw(b, 0xcb);
	for (i = 7; i >= 0; i--)
		mp_raw(b, (unsigned)((u >> (8 * i)) & 0xff));
}

/* {"results":[{"series":[{"name":"m","columns":["time","b","a"],
 *   "values":[rows...] (, "partial":true)}] (, "partial":true)}]}
 * rows: time t, b, a; nrows_claimed replaces the row count when not 0. */
static void answer(struct ferry_buf *b, int series_partial, int result_partial,
		   uint32_t nrows_claimed)
{
	ferry_buf_clear(b);
	mp_raw(b, 0x81);
	mp_str(b, "results");
	mp_raw(b, 0x91);
	mp_raw(b, result_partial ? 0x82 : 0x81);
	mp_str(b, "series");
	mp_raw(b, 0x91);
	mp_raw(b, series_partial ? 0x84 : 0x83);
	mp_str(b, "name");
	mp_str(b, "m");
	mp_str(b, "columns");
	mp_raw(b, 0x93);
	mp_str(b, "time");
	mp_str(b, "b");
	mp_str(b, "a");
	mp_str(b, "values");
	if (nrows_claimed) {
		mp_raw(b, 0xdd);
		mp_raw(b, nrows_claimed >> 24);
		mp_raw(b, (nrows_claimed >> 16) & 0xff);
		mp_raw(b, (nrows_claimed >> 8) & 0xff);
		mp_raw(b, nrows_claimed & 0xff);
	} else {
		mp_raw(b, 0x93);
	}
	/* t=1: b=10, a=1.5 */
	mp_raw(b, 0x93);
	mp_int(b, 1);
	mp_int(b, 10);
	mp_f64(b, 1.5);
	/* t=2: b is an array (ferry cannot take it), a=2.5 */
	mp_raw(b, 0x93);
	mp_int(b, 2);
	mp_raw(b, 0x91);
	mp_int(b, 7);
	mp_f64(b, 2.5);
	/* t=3: b=30, a=nil */
	mp_raw(b, 0x93);
	mp_int(b, 3);
	mp_int(b, 30);
	mp_raw(b, 0xc0);
	if (series_partial) {
		mp_str(b, "partial");
		mp_raw(b, 0xc3);
	}
	if (result_partial) {
		mp_str(b, "partial");
		mp_raw(b, 0xc3);
	}
}

struct seen {
	char text[512];
};

static int on_pt(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct seen *s = ud;
	size_t n = strlen(s->text);

	(void)err;
	assert_int_equal(p->nfields, 1);
	snprintf(s->text + n, sizeof(s->text) - n, "%.*s@%lld#%lld ", (int)p->fields[0].key.n,
		 p->fields[0].key.p, (long long)p->time_ns, (long long)p->key);
	return 0;
}

static int on_rej(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		  struct ferry_error *err)
{
	struct seen *s = ud;
	size_t len = strlen(s->text);

	(void)raw; (void)n; (void)err;
	assert_non_null(strstr(reason, "field 'b'"));
	snprintf(s->text + len, sizeof(s->text) - len, "reject#%lld ", (long long)key);
	return 0;
}

static char name_m[] = "m", fa[] = "a", fb[] = "b";
static struct tm_field_info fields[2] = { { fa, TM_TYPE_BIT(LP_FLOAT) },
					  { fb, TM_TYPE_BIT(LP_INT) } };
static struct tm_measurement meas = { name_m, NULL, 0, fields, 2, -1, -1 };

static int parse_fieldwise(struct ferry_buf *raw, struct seen *s, struct ferry_error *err)
{
	struct ifx ix;
	struct rd r;
	int rc;

	memset(&ix, 0, sizeof(ix));
	ix.where = (char *)"test";
	memset(&r, 0, sizeof(r));
	r.ix = &ix;
	r.m = &meas;
	r.fn = on_pt;
	r.rej = on_rej;
	r.ud = s;
	r.lo = 0;
	r.hi = 100;
	r.fieldwise = 1;
	rc = ifx_parse(&ix, raw, ifx_rd_series, &r, err);
	ifx_rd_release(&r);
	return rc;
}

static void cut_answers(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT, b2 = FERRY_BUF_INIT;

	(void)state;
	answer(&b, 0, 0, 0);
	assert_false(ifx_answer_cut(&b));
	/* max-row-limit marks the series, not the result */
	answer(&b, 1, 0, 0);
	assert_true(ifx_answer_cut(&b));
	answer(&b, 0, 1, 0);
	assert_true(ifx_answer_cut(&b));
	/* a series a message (GROUP BY *): every result but the last says
	 * partial, and the answer is whole */
	answer(&b2, 0, 1, 0);
	answer(&b, 0, 0, 0);
	assert_int_equal(ferry_buf_add(&b2, b.buf, b.len), 0);
	assert_false(ifx_answer_cut(&b2));
	answer(&b, 1, 0, 0);
	assert_int_equal(ferry_buf_add(&b2, b.buf, b.len), 0);
	assert_true(ifx_answer_cut(&b2));
	ferry_buf_release(&b);
	ferry_buf_release(&b2);
}

static void field_by_field(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	answer(&b, 0, 0, 0);
	assert_int_equal(parse_fieldwise(&b, &s, &err), 0);
	/* a (bytewise first) newest first, its null at t=3 left out; then b,
	 * whose array at t=2 is rejected in b's pass only */
	assert_string_equal(s.text, "a@2#0 a@1#1 b@3#2 reject#3 b@1#4 ");
	ferry_buf_release(&b);
}

static void impossible_row_count(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	answer(&b, 0, 0, 0xffffffffu);
	assert_true(parse_fieldwise(&b, &s, &err) < 0);
	assert_non_null(strstr(err.msg, "InfluxDB at test"));
	assert_string_equal(s.text, "");
	ferry_buf_release(&b);
}

/* An answer the connection cut (curl may still call it complete): cut
 * inside its message, or no byte at all; the message says so, and no
 * point goes on. */
static void cut_by_the_connection(void **state)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct seen s;

	(void)state;
	memset(&s, 0, sizeof(s));
	answer(&b, 0, 0, 0);
	b.len /= 2;
	assert_int_equal(parse_fieldwise(&b, &s, &err), FERRY_EIO);
	assert_non_null(strstr(err.msg, "answer from InfluxDB at test was cut short: its last "));
	assert_non_null(strstr(err.msg, " bytes are an unfinished message"));
	assert_string_equal(s.text, "");
	ferry_error_clear(&err);
	b.len = 0;
	assert_int_equal(parse_fieldwise(&b, &s, &err), FERRY_EIO);
	assert_non_null(strstr(err.msg, "answer from InfluxDB at test was empty: not one message"));
	assert_string_equal(s.text, "");
	ferry_buf_release(&b);
}

/* {"results":[{"error":MSG}]}: influxd stopping answers its queries with
 * "query engine shutdown", a server going away (FERRY_ECONN: the copy
 * waits for it); any other error is the query's (FERRY_ESQL). */
static void server_errors(void **state)
{
	static const char *const msgs[2] = { "query engine shutdown", "database not found: x" };
	struct ferry_buf b = FERRY_BUF_INIT;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct seen s;
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		memset(&s, 0, sizeof(s));
		ferry_buf_clear(&b);
		mp_raw(&b, 0x81);
		mp_str(&b, "results");
		mp_raw(&b, 0x91);
		mp_raw(&b, 0x81);
		mp_str(&b, "error");
		mp_str(&b, msgs[i]);
		ferry_error_clear(&err);
		assert_int_equal(parse_fieldwise(&b, &s, &err), i ? FERRY_ESQL : FERRY_ECONN);
		assert_non_null(strstr(err.msg, msgs[i]));
		assert_string_equal(s.text, "");
	}
	ferry_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cut_answers),
		cmocka_unit_test(field_by_field),
		cmocka_unit_test(impossible_row_count),
		cmocka_unit_test(cut_by_the_connection),
		cmocka_unit_test(server_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
