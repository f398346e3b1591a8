/*
 * test_transform.c - unit tests for the exact-conversion layer of ferry
 * copy (src/lib/copy/transform.c) and the planner's type parser: every
 * value either converts to exactly what the source meant or its row is
 * skipped and written to the reject file, which is checked line by line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "copy/copy_int.h"
#include "copy/planner.h"
#include "ferry/buf.h"
#include "ferry/model.h"
#include "model/value.h"

/* 2000-01-01 is day 0; one day in microseconds. */
#define DAY_US 86400000000LL

/* ---- fixture: one table, one row batch, a reject dir ------------------- */

struct fx {
	char dir[256];
	struct rejects rej;
	struct ferry_table src;
	struct col_plan cols[4];
	struct table_plan tp;
	struct ferry_batch b;
	int batch_live;
};

static int fx_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *base = getenv("FERRY_TEST_TMP");

	if (!f)
		return -1;
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0755);
	snprintf(f->dir, sizeof(f->dir), "%s/xfXXXXXX", base);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	if (rej_init(&f->rej, f->dir, NULL) < 0)
		return -1;
	f->src.name = "states";
	f->src.without_rowid = 0;
	f->tp.src = &f->src;
	f->tp.cols = f->cols;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;
	char path[300];

	if (f->batch_live)
		ferry_batch_release(&f->b);
	rej_release(&f->rej);
	snprintf(path, sizeof(path), "%s/rejects.ndjson", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Describe column i of the plan. */
static void col(struct fx *f, size_t i, int type, int32_t typmod,
		const char *type_sql, int notnull, const char *name)
{
	f->cols[i].type = type;
	f->cols[i].typmod = typmod;
	f->cols[i].type_sql = (char *)type_sql;
	f->cols[i].notnull = notnull;
	f->cols[i].src_name = name;
	if (f->tp.ncols < i + 1)
		f->tp.ncols = i + 1;
}

/* Start a fresh batch of nrows x tp.ncols, keys 1.. (rowids). */
static void fresh_batch(struct fx *f, size_t nrows)
{
	size_t r;

	if (f->batch_live)
		ferry_batch_release(&f->b);
	assert_int_equal(ferry_batch_init(&f->b, f->tp.ncols, nrows), 0);
	f->batch_live = 1;
	f->b.nrows = nrows;
	for (r = 0; r < nrows; r++)
		f->b.keys[r] = (int64_t)r + 1;
}

static struct ferry_cell *cell(struct fx *f, size_t r, size_t c)
{
	return ferry_batch_cell(&f->b, r, c);
}

static void set_int(struct fx *f, size_t r, size_t c, int64_t v)
{
	cell(f, r, c)->kind = FERRY_V_INT;
	cell(f, r, c)->v.i = v;
}

static void set_real(struct fx *f, size_t r, size_t c, double d)
{
	cell(f, r, c)->kind = FERRY_V_REAL;
	cell(f, r, c)->v.d = d;
}

static void set_bytes(struct fx *f, size_t r, size_t c, int kind,
		      const void *p, size_t n)
{
	assert_int_equal(ferry_cell_set_bytes(&f->b, cell(f, r, c), kind, p, n), 0);
}

static void set_text(struct fx *f, size_t r, size_t c, const char *s)
{
	set_bytes(f, r, c, FERRY_V_TEXT, s, strlen(s));
}

static int run(struct fx *f)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	int rc = xf_batch(&f->b, &f->tp, &f->rej, &err);

	if (rc < 0)
		fail_msg("xf_batch failed: %s", err.msg);
	if (f->rej.f)
		fflush(f->rej.f);
	return rc;
}

/* Single column, single value conversions.  Return 1 when accepted. */
static int one_int(struct fx *f, int type, int32_t tm, const char *tsql, int64_t v)
{
	f->tp.ncols = 0;
	col(f, 0, type, tm, tsql, 0, "v");
	fresh_batch(f, 1);
	set_int(f, 0, 0, v);
	return run(f) == 0;
}

static int one_real(struct fx *f, int type, int32_t tm, const char *tsql, double d)
{
	f->tp.ncols = 0;
	col(f, 0, type, tm, tsql, 0, "v");
	fresh_batch(f, 1);
	set_real(f, 0, 0, d);
	return run(f) == 0;
}

static int one_bytes(struct fx *f, int type, int32_t tm, const char *tsql,
		     int kind, const void *p, size_t n)
{
	f->tp.ncols = 0;
	col(f, 0, type, tm, tsql, 0, "v");
	fresh_batch(f, 1);
	set_bytes(f, 0, 0, kind, p, n);
	return run(f) == 0;
}

static int one_text(struct fx *f, int type, int32_t tm, const char *tsql, const char *s)
{
	return one_bytes(f, type, tm, tsql, FERRY_V_TEXT, s, strlen(s));
}

/* The converted value of the single cell. */
static const struct ferry_cell *out0(struct fx *f)
{
	return cell(f, 0, 0);
}

static void assert_cell_text(struct fx *f, const struct ferry_cell *c, const char *want)
{
	assert_int_equal(c->kind, FERRY_V_TEXT);
	if (c->len != strlen(want) || memcmp(ferry_cell_bytes(&f->b, c), want, c->len))
		fail_msg("cell text '%.*s' != '%s'", (int)c->len,
			 ferry_cell_bytes(&f->b, c), want);
}

/* Read every line of the reject file as JSON. */
static json_t *read_rejects(struct fx *f)
{
	char path[300], line[8192];
	json_t *arr = json_array();
	FILE *in;

	snprintf(path, sizeof(path), "%s/rejects.ndjson", f->dir);
	in = fopen(path, "r");
	if (!in)
		return arr;
	while (fgets(line, sizeof(line), in)) {
		json_error_t je;
		json_t *o = json_loads(line, 0, &je);

		if (!o)
			fail_msg("reject line is not JSON: %s (%s)", line, je.text);
		json_array_append_new(arr, o);
	}
	fclose(in);
	return arr;
}

static void b64(const void *p, size_t n, struct ferry_buf *out)
{
	ferry_buf_clear(out);
	assert_int_equal(ferry_buf_addbase64(out, p, n), 0);
}

/* ---- integers ---------------------------------------------------------- */

static void int_from_text(void **state)
{
	struct fx *f = *state;

	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "7"));
	assert_int_equal(out0(f)->kind, FERRY_V_INT);
	assert_int_equal(out0(f)->v.i, 7);
	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "-42"));
	assert_int_equal(out0(f)->v.i, -42);
	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "+5"));
	assert_int_equal(out0(f)->v.i, 5);
	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "9223372036854775807"));
	assert_int_equal(out0(f)->v.i, INT64_MAX);
	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "-9223372036854775808"));
	assert_int_equal(out0(f)->v.i, INT64_MIN);

	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", " 7"));
	assert_int_equal(f->b.skip[0], 1);
	assert_int_equal(f->b.nskipped, 1);
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "7 "));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "7a"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", ""));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "-"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "7.0"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "1e3"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "0x10"));
	/* 2^63 */
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "9223372036854775808"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint", "-9223372036854775809"));
	assert_false(one_text(f, FERRY_T_INT64, -1, "bigint",
			      "123456789012345678901234567890123"));
	assert_int_equal(f->rej.count, 11);
}

static void int_from_real(void **state)
{
	struct fx *f = *state;

	assert_true(one_real(f, FERRY_T_INT64, -1, "bigint", 3.0));
	assert_int_equal(out0(f)->kind, FERRY_V_INT);
	assert_int_equal(out0(f)->v.i, 3);
	assert_true(one_real(f, FERRY_T_INT64, -1, "bigint", -0.0));
	assert_int_equal(out0(f)->v.i, 0);
	assert_true(one_real(f, FERRY_T_INT64, -1, "bigint", -9223372036854775808.0));
	assert_int_equal(out0(f)->v.i, INT64_MIN);
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", 3.5));
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", 9223372036854775808.0));
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", NAN));
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", INFINITY));
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", -INFINITY));
	assert_false(one_real(f, FERRY_T_INT64, -1, "bigint", 1e-300));
}

static void int_ranges(void **state)
{
	struct fx *f = *state;

	assert_true(one_int(f, FERRY_T_INT16, -1, "smallint", 32767));
	assert_int_equal(out0(f)->v.i, 32767);
	assert_true(one_int(f, FERRY_T_INT16, -1, "smallint", -32768));
	assert_false(one_int(f, FERRY_T_INT16, -1, "smallint", 32768));
	assert_false(one_int(f, FERRY_T_INT16, -1, "smallint", -32769));
	assert_true(one_int(f, FERRY_T_INT32, -1, "integer", 2147483647));
	assert_true(one_int(f, FERRY_T_INT32, -1, "integer", -2147483648LL));
	assert_false(one_int(f, FERRY_T_INT32, -1, "integer", 2147483648LL));
	assert_false(one_int(f, FERRY_T_INT32, -1, "integer", -2147483649LL));
	assert_false(one_text(f, FERRY_T_INT32, -1, "integer", "3000000000"));
	assert_true(one_int(f, FERRY_T_INT64, -1, "bigint", INT64_MIN));
	assert_int_equal(out0(f)->v.i, INT64_MIN);
	assert_true(one_int(f, FERRY_T_INT64, -1, "bigint", INT64_MAX));
	/* other kinds do not fit an integer */
	assert_false(one_bytes(f, FERRY_T_INT64, -1, "bigint", FERRY_V_BLOB, "7", 1));
}

/* ---- floats ------------------------------------------------------------ */

static void float_exactness(void **state)
{
	struct fx *f = *state;
	const int64_t p53 = 9007199254740992LL;  /* 2^53 */

	assert_true(one_int(f, FERRY_T_FLOAT64, -1, "double precision", p53));
	assert_int_equal(out0(f)->kind, FERRY_V_REAL);
	assert_true(out0(f)->v.d == 9007199254740992.0);
	assert_false(one_int(f, FERRY_T_FLOAT64, -1, "double precision", p53 + 1));
	assert_true(one_int(f, FERRY_T_FLOAT64, -1, "double precision", -p53));
	assert_false(one_int(f, FERRY_T_FLOAT64, -1, "double precision", -p53 - 1));
	assert_false(one_int(f, FERRY_T_FLOAT64, -1, "double precision", INT64_MAX));
	assert_true(one_int(f, FERRY_T_FLOAT64, -1, "double precision", INT64_MIN));
	assert_true(one_int(f, FERRY_T_FLOAT64, -1, "double precision", 12345));
	assert_true(out0(f)->v.d == 12345.0);

	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "0.1"));
	assert_int_equal(out0(f)->kind, FERRY_V_REAL);
	assert_true(out0(f)->v.d == 0.1);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "-2.5e-3"));
	assert_true(out0(f)->v.d == -2.5e-3);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "NaN"));
	assert_true(isnan(out0(f)->v.d));
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "Infinity"));
	assert_true(isinf(out0(f)->v.d) && out0(f)->v.d > 0);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "-Infinity"));
	assert_true(isinf(out0(f)->v.d) && out0(f)->v.d < 0);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1e308"));
	assert_true(out0(f)->v.d == 1e308);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "5e-324"));
	assert_true(out0(f)->v.d == 5e-324);
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", " 1"));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1 "));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1,5"));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", ""));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "abc"));
	assert_true(one_real(f, FERRY_T_FLOAT64, -1, "double precision", -0.0));
	assert_true(signbit(out0(f)->v.d));

	/* float32: only values a float holds exactly */
	assert_true(one_real(f, FERRY_T_FLOAT32, -1, "real", 0.5));
	assert_true(out0(f)->v.d == 0.5);
	assert_false(one_real(f, FERRY_T_FLOAT32, -1, "real", 0.1));
	assert_true(one_real(f, FERRY_T_FLOAT32, -1, "real", (double)0.1f));
	assert_true(one_real(f, FERRY_T_FLOAT32, -1, "real", NAN));
	assert_true(one_real(f, FERRY_T_FLOAT32, -1, "real", INFINITY));
	assert_false(one_real(f, FERRY_T_FLOAT32, -1, "real", 1e300));
	assert_true(one_int(f, FERRY_T_FLOAT32, -1, "real", 16777216));
	assert_false(one_int(f, FERRY_T_FLOAT32, -1, "real", 16777217));
	assert_false(one_text(f, FERRY_T_FLOAT32, -1, "real", "0.1"));
}

/* Text that does not fit a double must not become Infinity or 0. */
static void float_text_out_of_range(void **state)
{
	struct fx *f = *state;

	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1e400"));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "-1e400"));
	assert_false(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1e-400"));
	/* "0" and subnormals are not an underflow to reject */
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "0"));
	assert_true(out0(f)->v.d == 0.0);
	assert_true(one_text(f, FERRY_T_FLOAT64, -1, "double precision", "1e-310"));
	assert_true(out0(f)->v.d == 1e-310);
}

/* ---- numeric ----------------------------------------------------------- */

static void numeric_normalize(void **state)
{
	struct fx *f = *state;
	int32_t n10_2 = 10 << 16 | 2;
	static const struct { const char *in, *out; } ok[] = {
		{ "12.30", "12.30" }, { "-0.001", "-0.001" }, { "1e3", "1000" },
		{ "1.5e-3", "0.0015" }, { "007", "7" }, { ".5", "0.5" },
		{ "5.", "5" }, { "+3.25", "3.25" }, { "-123.4500", "-123.4500" },
		{ "0.0001", "0.0001" }, { "0", "0" }, { "12E+2", "1200" },
	};
	static const char *const bad[] = { "", "abc", "1.2.3", "1e", "--1", "1e5000",
		"Infinity", "0x10", "1 2" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!one_text(f, FERRY_T_NUMERIC, -1, "numeric", ok[i].in))
			fail_msg("numeric '%s' rejected", ok[i].in);
		assert_cell_text(f, out0(f), ok[i].out);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (one_text(f, FERRY_T_NUMERIC, -1, "numeric", bad[i]))
			fail_msg("numeric '%s' accepted", bad[i]);
	assert_true(one_text(f, FERRY_T_NUMERIC, -1, "numeric", "NaN"));
	assert_cell_text(f, out0(f), "NaN");
	assert_true(one_text(f, FERRY_T_NUMERIC, -1, "numeric", "nan"));
	assert_cell_text(f, out0(f), "NaN");

	assert_true(one_int(f, FERRY_T_NUMERIC, -1, "numeric", INT64_MIN));
	assert_cell_text(f, out0(f), "-9223372036854775808");
	assert_true(one_real(f, FERRY_T_NUMERIC, -1, "numeric", 0.1));
	assert_cell_text(f, out0(f), "0.1");
	assert_true(one_real(f, FERRY_T_NUMERIC, -1, "numeric", 1e20));
	assert_cell_text(f, out0(f), "100000000000000000000");
	assert_true(one_real(f, FERRY_T_NUMERIC, -1, "numeric", NAN));
	assert_cell_text(f, out0(f), "NaN");
	assert_false(one_real(f, FERRY_T_NUMERIC, -1, "numeric", INFINITY));

	/* numeric(10,2) */
	assert_false(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "12.345"));
	assert_true(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "12.340"));
	assert_cell_text(f, out0(f), "12.340");
	assert_true(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "12345678.99"));
	assert_false(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "123456789.1"));
	assert_false(one_int(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", 123456789));
	assert_true(one_int(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", 12345678));
	assert_true(one_real(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", 0.1));
	assert_cell_text(f, out0(f), "0.1");
	assert_false(one_real(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", 0.001));
	assert_true(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "-0.01"));
	assert_true(one_text(f, FERRY_T_NUMERIC, n10_2, "numeric(10,2)", "NaN"));
}

/* A cell is (offset, length) in the arena, not a C string: the bytes of
 * the next cell follow it and must not be parsed as part of it. */
static void numeric_exponent_within_cell(void **state)
{
	struct fx *f = *state;

	f->tp.ncols = 0;
	col(f, 0, FERRY_T_NUMERIC, -1, "numeric", 0, "a");
	col(f, 1, FERRY_T_TEXT, -1, "text", 0, "b");
	fresh_batch(f, 3);
	set_text(f, 0, 0, "1e3");
	set_text(f, 0, 1, "7 follows");
	set_text(f, 1, 0, "2.5E-2");
	set_text(f, 1, 1, "99");
	set_text(f, 2, 0, "1e");
	set_text(f, 2, 1, "5");
	assert_int_equal(run(f), 1);
	assert_cell_text(f, cell(f, 0, 0), "1000");
	assert_cell_text(f, cell(f, 1, 0), "0.025");
	assert_int_equal(f->b.skip[2], 1);
}

/* ---- text, varchar, UTF-8 ---------------------------------------------- */

static void text_and_varchar(void **state)
{
	struct fx *f = *state;
	char buf[64];

	assert_true(one_text(f, FERRY_T_TEXT, 3, "varchar(3)", "abc"));
	assert_cell_text(f, out0(f), "abc");
	assert_false(one_text(f, FERRY_T_TEXT, 3, "varchar(3)", "abcd"));
	assert_true(one_text(f, FERRY_T_TEXT, 3, "varchar(3)", "\xc3\xa4\xc3\xb6\xc3\xbc"));
	assert_cell_text(f, out0(f), "äöü");
	assert_false(one_text(f, FERRY_T_TEXT, 3, "varchar(3)", "äöüx"));
	assert_true(one_text(f, FERRY_T_TEXT, 1, "varchar(1)", "\xf0\x9f\x98\x80"));
	assert_true(one_text(f, FERRY_T_TEXT, -1, "text", ""));
	assert_cell_text(f, out0(f), "");

	/* int and real into text */
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", 123));
	assert_cell_text(f, out0(f), "123");
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", INT64_MIN));
	assert_cell_text(f, out0(f), "-9223372036854775808");
	assert_false(one_int(f, FERRY_T_TEXT, 2, "varchar(2)", 123));
	{
		static const double ds[] = { 0.1, 1e308, 5e-324, -0.0, 1.0 / 3.0,
					     0.1 + 0.2, 123456789.125, -2.5e-7 };
		size_t i;

		for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
			const struct ferry_cell *c;
			char *end;

			assert_true(one_real(f, FERRY_T_TEXT, -1, "text", ds[i]));
			c = out0(f);
			assert_int_equal(c->kind, FERRY_V_TEXT);
			assert_true(c->len < sizeof(buf));
			memcpy(buf, ferry_cell_bytes(&f->b, c), c->len);
			buf[c->len] = '\0';
			if (strtod(buf, &end) != ds[i] || *end ||
			    signbit(strtod(buf, NULL)) != signbit(ds[i]))
				fail_msg("real %.17g as text '%s' does not round-trip", ds[i], buf);
		}
		assert_true(one_real(f, FERRY_T_TEXT, -1, "text", 0.1));
		assert_cell_text(f, out0(f), "0.1");
		assert_true(one_real(f, FERRY_T_TEXT, -1, "text", NAN));
		assert_cell_text(f, out0(f), "NaN");
	}

	/* blob into text: only valid UTF-8 */
	assert_true(one_bytes(f, FERRY_T_TEXT, -1, "text", FERRY_V_BLOB, "h\xc3\xa9", 3));
	assert_cell_text(f, out0(f), "hé");
	assert_false(one_bytes(f, FERRY_T_TEXT, -1, "text", FERRY_V_BLOB, "h\xe9", 2));
	/* bytes: text and blob, with NULs, as they are */
	assert_true(one_bytes(f, FERRY_T_BYTES, -1, "bytea", FERRY_V_TEXT, "a\0b", 3));
	assert_int_equal(out0(f)->kind, FERRY_V_BLOB);
	assert_int_equal(out0(f)->len, 3);
	assert_memory_equal(ferry_cell_bytes(&f->b, out0(f)), "a\0b", 3);
	assert_false(one_int(f, FERRY_T_BYTES, -1, "bytea", 1));
}

static void utf8_validation(void **state)
{
	struct fx *f = *state;
	static const struct { const char *s; size_t n; int ok; } cases[] = {
		{ "plain", 5, 1 },
		{ "\xc3\xa4", 2, 1 },
		{ "\xe2\x82\xac", 3, 1 },           /* euro */
		{ "\xf0\x9f\x98\x80", 4, 1 },       /* emoji */
		{ "\xf4\x8f\xbf\xbf", 4, 1 },       /* U+10FFFF */
		{ "\xed\x9f\xbf", 3, 1 },           /* U+D7FF */
		{ "\xee\x80\x80", 3, 1 },           /* U+E000 */
		{ "a\0b", 3, 0 },                   /* NUL */
		{ "\xc0\x80", 2, 0 },               /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },               /* overlong */
		{ "\xe0\x80\xaf", 3, 0 },           /* overlong 3-byte */
		{ "\xf0\x80\x80\xaf", 4, 0 },       /* overlong 4-byte */
		{ "\xed\xa0\x80", 3, 0 },           /* surrogate D800 */
		{ "\xed\xbf\xbf", 3, 0 },           /* surrogate DFFF */
		{ "\xe2\x82", 2, 0 },               /* truncated */
		{ "ab\xf0\x9f\x98", 5, 0 },         /* truncated at end */
		{ "\xc3", 1, 0 },
		{ "\xf5\x80\x80\x80", 4, 0 },       /* > U+10FFFF lead */
		{ "\xf4\x90\x80\x80", 4, 0 },       /* U+110000 */
		{ "\xff", 1, 0 },
		{ "\x80", 1, 0 },                   /* lone continuation */
		{ "\xc3\x28", 2, 0 },               /* bad continuation */
	};
	size_t i;
	const char *why;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		if (val_utf8_ok(cases[i].s, cases[i].n, &why) != cases[i].ok)
			fail_msg("utf8 case %zu: expected %d", i, cases[i].ok);
		if (!cases[i].ok)
			assert_non_null(why);
		if (one_bytes(f, FERRY_T_TEXT, -1, "text", FERRY_V_TEXT, cases[i].s,
			      cases[i].n) != cases[i].ok)
			fail_msg("text case %zu: expected %d", i, cases[i].ok);
	}
	why = NULL;
	assert_false(val_utf8_ok("a\0", 2, &why));
	assert_string_equal(why, "NUL byte in text");
	assert_true(val_utf8_ok("", 0, &why));
	/* text its maker checked (FERRY_CELL_TEXT_OK) is taken as it is;
	 * storing bytes into the cell again clears the mark */
	f->tp.ncols = 0;
	col(f, 0, FERRY_T_TEXT, -1, "text", 0, "v");
	fresh_batch(f, 1);
	set_bytes(f, 0, 0, FERRY_V_TEXT, "\xff", 1);
	cell(f, 0, 0)->flags |= FERRY_CELL_TEXT_OK;
	assert_int_equal(run(f), 0);   /* not looked at: its maker said so */
	fresh_batch(f, 1);
	set_bytes(f, 0, 0, FERRY_V_TEXT, "a", 1);
	cell(f, 0, 0)->flags |= FERRY_CELL_TEXT_OK;
	set_bytes(f, 0, 0, FERRY_V_TEXT, "\xff", 1);
	assert_int_equal(cell(f, 0, 0)->flags, 0);
	assert_int_equal(run(f), 1);
}

/* ---- JSON -------------------------------------------------------------- */

static void json_validation(void **state)
{
	struct fx *f = *state;
	static const char *const good[] = {
		"{}", "[]", "0", "-0.5e+10", "\"x\"", "null", "true", "false",
		" {\"a\": [1, 2.5, \"\\u00e4\\n\", null, {\"b\": false}]} ",
		"\"\\ud83d\\ude00\"", "\"\xc3\xa4\"", "[1e3,-1E-2]",
	};
	static const char *const bad[] = {
		"", " ", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "01", "1.", ".5", "+1",
		"'x'", "\"\\x\"", "\"\\u12\"", "tru", "nul", "[1 2]", "{} {}",
		"NaN", "Infinity", "\"a\tb\"", "{a:1}", "\"\xc3\"",
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!val_json_ok(good[i], strlen(good[i]), 0) ||
		    !val_json_ok(good[i], strlen(good[i]), 1))
			fail_msg("valid JSON rejected: %s", good[i]);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (val_json_ok(bad[i], strlen(bad[i]), 0))
			fail_msg("invalid JSON accepted: %s", bad[i]);
	/* jsonb cannot store U+0000; json can */
	assert_true(val_json_ok("\"a\\u0000b\"", 10, 0));
	assert_false(val_json_ok("\"a\\u0000b\"", 10, 1));
	assert_true(one_text(f, FERRY_T_JSON, -1, "json", "\"\\u0000\""));
	assert_false(one_text(f, FERRY_T_JSONB, -1, "jsonb", "\"\\u0000\""));
	assert_true(one_text(f, FERRY_T_JSONB, -1, "jsonb", "{\"a\":1}"));
	assert_cell_text(f, out0(f), "{\"a\":1}");
	assert_false(one_text(f, FERRY_T_JSONB, -1, "jsonb", "{\"a\":1"));
	/* a NUL byte is never valid */
	assert_false(val_json_ok("\"a\0\"", 4, 0));
	/* numbers are JSON; NaN/Infinity are not */
	assert_true(one_int(f, FERRY_T_JSON, -1, "json", 42));
	assert_cell_text(f, out0(f), "42");
	assert_true(one_real(f, FERRY_T_JSONB, -1, "jsonb", 0.25));
	assert_cell_text(f, out0(f), "0.25");
	assert_false(one_real(f, FERRY_T_JSONB, -1, "jsonb", NAN));
	assert_false(one_real(f, FERRY_T_JSON, -1, "json", INFINITY));
}

/* ---- dates and times ---------------------------------------------------- */

static void time_columns(void **state)
{
	struct fx *f = *state;

	assert_true(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp", "2000-01-01 00:00:01"));
	assert_int_equal(out0(f)->kind, FERRY_V_INT);
	assert_int_equal(out0(f)->v.i, 1000000);
	assert_true(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp", "1999-12-31"));
	assert_int_equal(out0(f)->v.i, -DAY_US);
	assert_false(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp", "2000-01-01 00:00:00Z"));
	assert_true(one_text(f, FERRY_T_TIMESTAMPTZ, -1, "timestamptz",
			     "2000-01-01 02:00:00+02:00"));
	assert_int_equal(out0(f)->v.i, 0);
	assert_true(one_text(f, FERRY_T_TIMESTAMPTZ, -1, "timestamptz", "2000-01-01 00:00:00"));
	assert_int_equal(out0(f)->v.i, 0);
	assert_false(one_int(f, FERRY_T_TIMESTAMP, -1, "timestamp", 1700000000));
	assert_false(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp", "2023-02-30 00:00:00"));

	assert_true(one_text(f, FERRY_T_DATE, -1, "date", "1999-12-31"));
	assert_int_equal(out0(f)->kind, FERRY_V_INT);
	assert_int_equal(out0(f)->v.i, -1);
	assert_true(one_text(f, FERRY_T_DATE, -1, "date", "1969-07-20"));
	assert_int_equal(out0(f)->v.i, -11122);
	/* a timestamp at midnight is an exact date, any other time is not */
	assert_true(one_text(f, FERRY_T_DATE, -1, "date", "1999-12-31 00:00:00"));
	assert_int_equal(out0(f)->v.i, -1);
	assert_false(one_text(f, FERRY_T_DATE, -1, "date", "1999-12-31 00:00:01"));
	assert_false(one_text(f, FERRY_T_DATE, -1, "date", "2000-01-01 00:00:00Z"));
	assert_false(one_text(f, FERRY_T_DATE, -1, "date", "2023-02-29"));

	assert_true(one_text(f, FERRY_T_TIME, -1, "time", "23:59:59.999999"));
	assert_int_equal(out0(f)->v.i, DAY_US - 1);
	assert_true(one_text(f, FERRY_T_TIME, -1, "time", "00:00"));
	assert_int_equal(out0(f)->v.i, 0);
	assert_false(one_text(f, FERRY_T_TIME, -1, "time", "24:00:00"));
	assert_false(one_text(f, FERRY_T_TIME, -1, "time", "12:00:00.1234567"));
}

/*
 * A typed source (PostgreSQL) hands dates, times and timestamps over as
 * its own integers; only such a source's integers are taken as they are.
 * PostgreSQL's infinity, as text (a SQLite copy of it), is infinity.
 */
static void typed_time_columns(void **state)
{
	struct fx *f = *state;

	f->cols[0].src_type = FERRY_T_DATE;
	assert_true(one_int(f, FERRY_T_DATE, -1, "date", -11122));
	assert_int_equal(out0(f)->v.i, -11122);
	f->cols[0].src_type = FERRY_T_TIME;
	assert_true(one_int(f, FERRY_T_TIME, -1, "time", DAY_US - 1));
	assert_int_equal(out0(f)->v.i, DAY_US - 1);
	assert_false(one_int(f, FERRY_T_TIME, 3, "time(3)", 1));  /* 1 us: precision */
	f->cols[0].src_type = FERRY_T_TIMESTAMPTZ;
	assert_true(one_int(f, FERRY_T_TIMESTAMPTZ, -1, "timestamptz", INT64_MAX));
	f->cols[0].src_type = FERRY_T_UNKNOWN;
	assert_false(one_int(f, FERRY_T_DATE, -1, "date", 5));   /* a SQLite integer */
	assert_false(one_int(f, FERRY_T_TIME, -1, "time", 5));

	assert_true(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp", "infinity"));
	assert_int_equal(out0(f)->v.i, INT64_MAX);
	assert_true(one_text(f, FERRY_T_TIMESTAMPTZ, -1, "timestamptz", "-infinity"));
	assert_int_equal(out0(f)->v.i, INT64_MIN);
	assert_true(one_text(f, FERRY_T_DATE, -1, "date", "infinity"));
	assert_int_equal(out0(f)->v.i, INT32_MAX);
	assert_false(one_text(f, FERRY_T_DATE, -1, "date", "Infinity"));

	/* --cast to text: the text PostgreSQL prints, not the integer */
	f->cols[0].src_type = FERRY_T_TIMESTAMPTZ;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", 1500000));
	assert_cell_text(f, out0(f), "2000-01-01 00:00:01.5+00");
	f->cols[0].src_type = FERRY_T_TIMESTAMP;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", -DAY_US));
	assert_cell_text(f, out0(f), "1999-12-31 00:00:00");
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", INT64_MAX));
	assert_cell_text(f, out0(f), "infinity");
	f->cols[0].src_type = FERRY_T_DATE;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", -11122));
	assert_cell_text(f, out0(f), "1969-07-20");
	f->cols[0].src_type = FERRY_T_TIME;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", 45296789000));
	assert_cell_text(f, out0(f), "12:34:56.789");
	f->cols[0].src_type = FERRY_T_BOOL;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", 1));
	assert_cell_text(f, out0(f), "true");
	f->cols[0].src_type = FERRY_T_UUID;
	assert_true(one_bytes(f, FERRY_T_TEXT, -1, "text", FERRY_V_BLOB,
			      "\x12\x3e\x45\x67\xe8\x9b\x12\xd3\xa4\x56\x42\x66\x14\x17\x40\x00", 16));
	assert_cell_text(f, out0(f), "123e4567-e89b-12d3-a456-426614174000");
	f->cols[0].src_type = FERRY_T_UNKNOWN;
	assert_true(one_int(f, FERRY_T_TEXT, -1, "text", 1));   /* a SQLite integer */
	assert_cell_text(f, out0(f), "1");
}

/* ---- bool, uuid --------------------------------------------------------- */

static void bools(void **state)
{
	struct fx *f = *state;
	static const struct { const char *s; int v; } words[] = {
		{ "t", 1 }, { "TRUE", 1 }, { "1", 1 }, { "yes", 1 }, { "Y", 1 }, { "on", 1 },
		{ "f", 0 }, { "False", 0 }, { "0", 0 }, { "NO", 0 }, { "n", 0 }, { "off", 0 },
	};
	size_t i;
	int v;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		v = -1;
		assert_true(val_parse_bool(words[i].s, strlen(words[i].s), &v));
		assert_int_equal(v, words[i].v);
		assert_true(one_text(f, FERRY_T_BOOL, -1, "boolean", words[i].s));
		assert_int_equal(out0(f)->kind, FERRY_V_INT);
		assert_int_equal(out0(f)->v.i, words[i].v);
	}
	assert_false(val_parse_bool("2", 1, &v));
	assert_false(val_parse_bool("", 0, &v));
	assert_false(val_parse_bool("tru", 3, &v));
	assert_false(val_parse_bool("true ", 5, &v));
	assert_false(val_parse_bool("yes", 2, &v) && v != 1);  /* "ye" */
	assert_true(one_int(f, FERRY_T_BOOL, -1, "boolean", 1));
	assert_int_equal(out0(f)->v.i, 1);
	assert_true(one_int(f, FERRY_T_BOOL, -1, "boolean", 0));
	assert_int_equal(out0(f)->v.i, 0);
	assert_false(one_int(f, FERRY_T_BOOL, -1, "boolean", 2));
	assert_false(one_int(f, FERRY_T_BOOL, -1, "boolean", -1));
	assert_true(one_real(f, FERRY_T_BOOL, -1, "boolean", 1.0));
	assert_int_equal(out0(f)->v.i, 1);
	assert_false(one_real(f, FERRY_T_BOOL, -1, "boolean", 0.5));
	assert_false(one_text(f, FERRY_T_BOOL, -1, "boolean", "maybe"));
}

static void uuids(void **state)
{
	struct fx *f = *state;
	static const unsigned char want[16] = { 0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b,
		0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00 };

	assert_true(one_text(f, FERRY_T_UUID, -1, "uuid",
			     "123e4567-e89b-12d3-a456-426614174000"));
	assert_int_equal(out0(f)->kind, FERRY_V_BLOB);
	assert_int_equal(out0(f)->len, 16);
	assert_memory_equal(ferry_cell_bytes(&f->b, out0(f)), want, 16);
	assert_true(one_text(f, FERRY_T_UUID, -1, "uuid", "123E4567E89B12D3A456426614174000"));
	assert_memory_equal(ferry_cell_bytes(&f->b, out0(f)), want, 16);
	assert_true(one_bytes(f, FERRY_T_UUID, -1, "uuid", FERRY_V_BLOB, want, 16));
	assert_memory_equal(ferry_cell_bytes(&f->b, out0(f)), want, 16);
	assert_false(one_text(f, FERRY_T_UUID, -1, "uuid",
			      "123e4567-e89b-12d3-a456-42661417400g"));
	assert_false(one_text(f, FERRY_T_UUID, -1, "uuid",
			      "123e4567e-89b-12d3-a456-426614174000"));
	assert_false(one_text(f, FERRY_T_UUID, -1, "uuid",
			      "{123e4567-e89b-12d3-a456-426614174000}"));
	assert_false(one_text(f, FERRY_T_UUID, -1, "uuid", "123e4567"));
	assert_false(one_bytes(f, FERRY_T_UUID, -1, "uuid", FERRY_V_BLOB, want, 15));
}

/* ---- whole batches and the reject file ---------------------------------- */

static void batch_rejects_file(void **state)
{
	struct fx *f = *state;
	struct ferry_buf want = FERRY_BUF_INIT;
	json_t *arr, *o;

	f->tp.ncols = 0;
	col(f, 0, FERRY_T_INT64, -1, "bigint", 1, "id");
	col(f, 1, FERRY_T_TIMESTAMP, -1, "timestamp", 0, "last_updated");
	col(f, 2, FERRY_T_TEXT, 3, "varchar(3)", 0, "state");
	fresh_batch(f, 5);
	f->b.keys[0] = 10;
	f->b.keys[1] = 11;
	f->b.keys[2] = 12;
	f->b.keys[3] = 13;
	f->b.keys[4] = 14;
	/* row 0: fine */
	set_text(f, 0, 0, "1");
	set_text(f, 0, 1, "2000-01-01 00:00:00.25");
	set_text(f, 0, 2, "on");
	/* row 1: NULL in NOT NULL */
	set_text(f, 1, 1, "2000-01-01 00:00:00");
	/* row 2: bad timestamp (and a bad varchar after it: only the first
	 * failing column is reported) */
	set_int(f, 2, 0, 3);
	set_text(f, 2, 1, "2023-02-30 00:00:00");
	set_text(f, 2, 2, "toolong");
	/* row 3: fine, NULLs where allowed */
	set_int(f, 3, 0, 4);
	/* row 4: real in bigint */
	set_real(f, 4, 0, 3.5);

	assert_int_equal(run(f), 3);
	assert_int_equal(f->b.nskipped, 3);
	assert_int_equal(f->b.skip[0], 0);
	assert_int_equal(f->b.skip[1], 1);
	assert_int_equal(f->b.skip[2], 1);
	assert_int_equal(f->b.skip[3], 0);
	assert_int_equal(f->b.skip[4], 1);
	assert_int_equal(cell(f, 0, 0)->kind, FERRY_V_INT);
	assert_int_equal(cell(f, 0, 0)->v.i, 1);
	assert_int_equal(cell(f, 0, 1)->v.i, 250000);
	assert_cell_text(f, cell(f, 0, 2), "on");
	assert_int_equal(cell(f, 3, 1)->kind, FERRY_V_NULL);
	assert_int_equal(cell(f, 3, 2)->kind, FERRY_V_NULL);
	assert_int_equal(f->rej.count, 3);

	arr = read_rejects(f);
	assert_int_equal(json_array_size(arr), 3);

	o = json_array_get(arr, 0);
	assert_string_equal(json_string_value(json_object_get(o, "table")), "states");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "key"),
							    "rowid")), 11);
	assert_string_equal(json_string_value(json_object_get(o, "column")), "id");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "null"));
	assert_true(json_is_null(json_object_get(o, "value_base64")));

	o = json_array_get(arr, 1);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "key"),
							    "rowid")), 12);
	assert_string_equal(json_string_value(json_object_get(o, "column")), "last_updated");
	assert_non_null(strstr(json_string_value(json_object_get(o, "reason")), "timestamp"));
	assert_string_equal(json_string_value(json_object_get(o, "storage_class")), "text");
	b64("2023-02-30 00:00:00", 19, &want);
	assert_string_equal(json_string_value(json_object_get(o, "value_base64")), want.buf);

	o = json_array_get(arr, 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "key"),
							    "rowid")), 14);
	assert_string_equal(json_string_value(json_object_get(o, "column")), "id");
	assert_string_equal(json_string_value(json_object_get(o, "storage_class")), "real");
	b64("3.5", 3, &want);
	assert_string_equal(json_string_value(json_object_get(o, "value_base64")), want.buf);
	json_decref(arr);
	ferry_buf_release(&want);
}

/* The original bytes, not a converted form, go to the reject file. */
static void reject_keeps_original_bytes(void **state)
{
	struct fx *f = *state;
	struct ferry_buf want = FERRY_BUF_INIT;
	static const char bad[] = "ok\xc0\x80x";
	json_t *arr, *o;

	f->src.without_rowid = 1;
	f->tp.ncols = 0;
	col(f, 0, FERRY_T_INT64, -1, "bigint", 0, "n");
	col(f, 1, FERRY_T_TEXT, -1, "text", 0, "note \"q\"");
	fresh_batch(f, 2);
	set_text(f, 0, 0, "5");
	set_bytes(f, 0, 1, FERRY_V_BLOB, bad, sizeof(bad) - 1);
	set_int(f, 1, 0, 6);
	set_text(f, 1, 1, "fine");
	assert_int_equal(run(f), 1);
	assert_int_equal(f->b.skip[0], 1);
	assert_int_equal(f->b.skip[1], 0);
	arr = read_rejects(f);
	assert_int_equal(json_array_size(arr), 1);
	o = json_array_get(arr, 0);
	/* WITHOUT ROWID tables are keyed by ordinal */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "key"),
							    "row")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "column")), "note \"q\"");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "invalid UTF-8");
	assert_string_equal(json_string_value(json_object_get(o, "storage_class")), "blob");
	b64(bad, sizeof(bad) - 1, &want);
	assert_string_equal(json_string_value(json_object_get(o, "value_base64")), want.buf);
	json_decref(arr);
	ferry_buf_release(&want);
	f->src.without_rowid = 0;
}

static void no_rejects_no_file(void **state)
{
	struct fx *f = *state;
	char path[300];

	assert_true(one_text(f, FERRY_T_INT64, -1, "bigint", "1"));
	snprintf(path, sizeof(path), "%s/rejects.ndjson", f->dir);
	assert_int_equal(access(path, F_OK), -1);
	assert_null(f->rej.path);
}

/* ---- planner: parse_type_sql -------------------------------------------- */

static void type_sql(void **state)
{
	static const struct { const char *sql; int type; int32_t typmod; } ok[] = {
		{ "bigint", FERRY_T_INT64, -1 }, { "INT8", FERRY_T_INT64, -1 },
		{ "integer", FERRY_T_INT32, -1 }, { "int", FERRY_T_INT32, -1 },
		{ "int4", FERRY_T_INT32, -1 }, { "smallint", FERRY_T_INT16, -1 },
		{ "int2", FERRY_T_INT16, -1 },
		{ "double precision", FERRY_T_FLOAT64, -1 }, { "float8", FERRY_T_FLOAT64, -1 },
		{ "real", FERRY_T_FLOAT32, -1 }, { "float4", FERRY_T_FLOAT32, -1 },
		{ "numeric", FERRY_T_NUMERIC, -1 },
		{ "numeric(10,2)", FERRY_T_NUMERIC, 10 << 16 | 2 },
		{ "NUMERIC( 12 , 4 )", FERRY_T_NUMERIC, 12 << 16 | 4 },
		{ "decimal(5)", FERRY_T_NUMERIC, 5 << 16 },
		{ "text", FERRY_T_TEXT, -1 }, { "varchar", FERRY_T_TEXT, -1 },
		{ "varchar(20)", FERRY_T_TEXT, 20 },
		{ "character varying(255)", FERRY_T_TEXT, 255 },
		{ "character varying", FERRY_T_TEXT, -1 },
		{ "character(8)", FERRY_T_TEXT, 8 },
		{ "bytea", FERRY_T_BYTES, -1 }, { "boolean", FERRY_T_BOOL, -1 },
		{ "bool", FERRY_T_BOOL, -1 }, { "date", FERRY_T_DATE, -1 },
		{ "timestamp", FERRY_T_TIMESTAMP, -1 },
		{ "timestamp without time zone", FERRY_T_TIMESTAMP, -1 },
		{ "timestamptz", FERRY_T_TIMESTAMPTZ, -1 },
		{ "timestamp with time zone", FERRY_T_TIMESTAMPTZ, -1 },
		{ "json", FERRY_T_JSON, -1 }, { "jsonb", FERRY_T_JSONB, -1 },
		{ "uuid", FERRY_T_UUID, -1 }, { "time", FERRY_T_TIME, -1 },
		{ "time without time zone", FERRY_T_TIME, -1 },
		{ "Double Precision", FERRY_T_FLOAT64, -1 },
	};
	static const char *const bad[] = { "interval", "money", "integer[]", "",
		"timetz", "time with time zone", "xml", "serial" };
	size_t i;
	int type;
	int32_t tm;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		type = -99;
		tm = -99;
		if (plan_parse_type_sql(ok[i].sql, &type, &tm) != 0)
			fail_msg("type '%s' not parsed", ok[i].sql);
		if (type != ok[i].type || tm != ok[i].typmod)
			fail_msg("type '%s' -> %d/%d, want %d/%d", ok[i].sql, type, tm,
				 ok[i].type, ok[i].typmod);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (plan_parse_type_sql(bad[i], &type, &tm) == 0)
			fail_msg("type '%s' parsed as %d", bad[i], type);
}

/* format_type() spells a precision in the middle of the name, and
 * PostgreSQL rounds to that precision silently, so it must reach the
 * transform as typmod and values it would round must be rejected. */
static void type_sql_precision(void **state)
{
	struct fx *f = *state;
	int type;
	int32_t tm;

	assert_int_equal(plan_parse_type_sql("timestamp(3) with time zone", &type, &tm), 0);
	assert_int_equal(type, FERRY_T_TIMESTAMPTZ);
	assert_int_equal(tm, 3);
	assert_int_equal(plan_parse_type_sql("timestamp(0) without time zone", &type, &tm), 0);
	assert_int_equal(type, FERRY_T_TIMESTAMP);
	assert_int_equal(tm, 0);
	assert_int_equal(plan_parse_type_sql("time(2) without time zone", &type, &tm), 0);
	assert_int_equal(type, FERRY_T_TIME);
	assert_int_equal(tm, 2);
	assert_int_equal(plan_parse_type_sql("timestamptz(6)", &type, &tm), 0);
	assert_int_equal(type, FERRY_T_TIMESTAMPTZ);
	assert_int_equal(tm, -1);
	assert_int_equal(plan_parse_type_sql("timestamp with time zone", &type, &tm), 0);
	assert_int_equal(tm, -1);

	assert_true(one_text(f, FERRY_T_TIMESTAMP, 3, "timestamp(3)",
			     "2023-01-01 00:00:00.123"));
	assert_true(one_text(f, FERRY_T_TIMESTAMP, 3, "timestamp(3)",
			     "2023-01-01 00:00:00.123000"));
	assert_false(one_text(f, FERRY_T_TIMESTAMP, 3, "timestamp(3)",
			      "2023-01-01 00:00:00.123456"));
	assert_false(one_text(f, FERRY_T_TIMESTAMPTZ, 0, "timestamptz(0)",
			      "1999-12-31 23:59:59.5"));
	assert_true(one_text(f, FERRY_T_TIMESTAMPTZ, 0, "timestamptz(0)",
			     "1999-12-31 23:59:59"));
	assert_int_equal(out0(f)->v.i, -1000000);
	assert_true(one_text(f, FERRY_T_TIME, 2, "time(2)", "12:00:00.25"));
	assert_false(one_text(f, FERRY_T_TIME, 2, "time(2)", "12:00:00.255"));
	assert_true(one_text(f, FERRY_T_TIMESTAMP, -1, "timestamp",
			     "2023-01-01 00:00:00.123456"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(int_from_text, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(int_from_real, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(int_ranges, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(float_exactness, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(float_text_out_of_range, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(numeric_normalize, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(numeric_exponent_within_cell, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(text_and_varchar, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(utf8_validation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(json_validation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(time_columns, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(typed_time_columns, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(bools, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(uuids, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(batch_rejects_file, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(reject_keeps_original_bytes, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(no_rejects_no_file, fx_setup, fx_teardown),
		cmocka_unit_test(type_sql),
		cmocka_unit_test_setup_teardown(type_sql_precision, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
