/*
 * test_verify.c - unit tests for ferry verify's canonical row encoding
 * and chunk digest (src/lib/verify/canon.c): what must hash equal does,
 * and every difference verify promises to see changes the hash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"
#include "verify/verify_int.h"


/* Hash of a one-column row holding cell c of column type `type`. */
static uint64_t h1(struct ferry_cell c, int type, int32_t typmod, const char *bytes,
		   size_t n)
{
	struct ferry_batch b;
	struct ferry_buf scratch = FERRY_BUF_INIT;
	uint64_t h = 0;
	int t = type;

	assert_int_equal(ferry_batch_init(&b, 1, 1), 0);
	if (bytes)
		assert_int_equal(ferry_cell_set_bytes(&b, &c, c.kind, bytes, n), 0);
	b.cells[0] = c;
	b.nrows = 1;
	assert_int_equal(vf_row_hash(&b, 0, &t, &typmod, &scratch, &h), 0);
	ferry_buf_release(&scratch);
	ferry_batch_release(&b);
	return h;
}

static struct ferry_cell cint(int64_t v)
{
	struct ferry_cell c = { .kind = FERRY_V_INT };

	c.v.i = v;
	return c;
}

static struct ferry_cell cdbl(double v)
{
	struct ferry_cell c = { .kind = FERRY_V_REAL };

	c.v.d = v;
	return c;
}

static struct ferry_cell ckind(int kind)
{
	struct ferry_cell c = { .kind = (uint8_t)kind };

	return c;
}

static void null_vs_empty_text(void **state)
{
	(void)state;
	assert_int_not_equal(h1(ckind(FERRY_V_NULL), FERRY_T_TEXT, -1, NULL, 0),
			     h1(ckind(FERRY_V_TEXT), FERRY_T_TEXT, -1, "", 0));
	/* empty text and empty bytes are different kinds */
	assert_int_not_equal(h1(ckind(FERRY_V_TEXT), FERRY_T_TEXT, -1, "", 0),
			     h1(ckind(FERRY_V_BLOB), FERRY_T_TEXT, -1, "", 0));
}

static void doubles_by_bits(void **state)
{
	double a = 0.1, b = nextafter(0.1, 1.0);

	(void)state;
	assert_int_not_equal(h1(cdbl(0.0), FERRY_T_FLOAT64, -1, NULL, 0),
			     h1(cdbl(-0.0), FERRY_T_FLOAT64, -1, NULL, 0));
	assert_int_not_equal(h1(cdbl(a), FERRY_T_FLOAT64, -1, NULL, 0),
			     h1(cdbl(b), FERRY_T_FLOAT64, -1, NULL, 0));
	assert_int_equal(h1(cdbl(a), FERRY_T_FLOAT64, -1, NULL, 0),
			 h1(cdbl(0.1), FERRY_T_FLOAT64, -1, NULL, 0));
	/* every NaN is one value */
	assert_int_equal(h1(cdbl(NAN), FERRY_T_FLOAT64, -1, NULL, 0),
			 h1(cdbl(-nan("7")), FERRY_T_FLOAT64, -1, NULL, 0));
}

static void type_tag_matters(void **state)
{
	(void)state;
	assert_int_not_equal(h1(cint(1), FERRY_T_INT64, -1, NULL, 0),
			     h1(cdbl(1.0), FERRY_T_INT64, -1, NULL, 0));
	assert_int_not_equal(h1(cint(0), FERRY_T_INT64, -1, NULL, 0),
			     h1(ckind(FERRY_V_NULL), FERRY_T_INT64, -1, NULL, 0));
	assert_int_not_equal(h1(cint(1), FERRY_T_INT64, -1, NULL, 0),
			     h1(cint(2), FERRY_T_INT64, -1, NULL, 0));
}

/* Two rows whose columns would concatenate to the same bytes. */
static void column_boundaries(void **state)
{
	struct ferry_batch b;
	struct ferry_buf s = FERRY_BUF_INIT;
	int types[2] = { FERRY_T_TEXT, FERRY_T_TEXT };
	uint64_t x, y;

	(void)state;
	assert_int_equal(ferry_batch_init(&b, 2, 2), 0);
	ferry_cell_set_bytes(&b, &b.cells[0], FERRY_V_TEXT, "ab", 2);
	ferry_cell_set_bytes(&b, &b.cells[1], FERRY_V_TEXT, "c", 1);
	ferry_cell_set_bytes(&b, &b.cells[2], FERRY_V_TEXT, "a", 1);
	ferry_cell_set_bytes(&b, &b.cells[3], FERRY_V_TEXT, "bc", 2);
	b.nrows = 2;
	assert_int_equal(vf_row_hash(&b, 0, types, NULL, &s, &x), 0);
	assert_int_equal(vf_row_hash(&b, 1, types, NULL, &s, &y), 0);
	assert_int_not_equal(x, y);
	ferry_buf_release(&s);
	ferry_batch_release(&b);
}

static void digest_order_independent(void **state)
{
	struct vf_sum a = { 0 }, b = { 0 }, c = { 0 };
	uint64_t h[4] = { 11, 0x8000000000000000ULL, 42, 7 };
	int i;

	(void)state;
	for (i = 0; i < 4; i++)
		vf_sum_add(&a, h[i]);
	for (i = 3; i >= 0; i--)
		vf_sum_add(&b, h[i]);
	assert_true(vf_sum_eq(&a, &b));
	/* a duplicated row in place of another: xor alone would not see it */
	vf_sum_add(&c, 11);
	vf_sum_add(&c, 11);
	vf_sum_add(&c, 42);
	vf_sum_add(&c, 42);
	b = (struct vf_sum){ 0 };
	vf_sum_add(&b, 7);
	vf_sum_add(&b, 7);
	vf_sum_add(&b, 42);
	vf_sum_add(&b, 42);
	assert_int_equal(c.xor, b.xor);
	assert_false(vf_sum_eq(&c, &b));
	/* one row fewer */
	b = a;
	b.rows--;
	assert_false(vf_sum_eq(&a, &b));
}

static void canon_text(const char *in, int json, int32_t typmod, const char *want)
{
	struct ferry_buf o = FERRY_BUF_INIT;

	if (json)
		assert_int_equal(vf_canon_json(in, strlen(in), &o), 0);
	else
		assert_int_equal(vf_canon_numeric(in, strlen(in), typmod, &o), 0);
	assert_string_equal(o.buf, want);
	ferry_buf_release(&o);
}

static void numeric_forms(void **state)
{
	(void)state;
	canon_text("3.1", 0, 10 << 16 | 2, "3.10");
	canon_text("3.10", 0, 10 << 16 | 2, "3.10");
	canon_text("1.2500", 0, 6 << 16 | 2, "1.25");
	canon_text("-0.00", 0, -1, "0.00");
	canon_text("007", 0, -1, "7");
	canon_text("1.50e1", 0, -1, "15.0");
	canon_text("1e2", 0, -1, "100");
	canon_text("-12.340", 0, -1, "-12.340");
	canon_text(".5", 0, -1, "0.5");
	canon_text("NaN", 0, -1, "NaN");
	/* numeric text is hashed in canonical form: equal values hash equal */
	{
		struct ferry_cell t = ckind(FERRY_V_TEXT);

		assert_int_equal(h1(t, FERRY_T_NUMERIC, 10 << 16 | 2, "3.1", 3),
				 h1(t, FERRY_T_NUMERIC, 10 << 16 | 2, "3.10", 4));
		assert_int_not_equal(h1(t, FERRY_T_NUMERIC, -1, "3.1", 3),
				     h1(t, FERRY_T_NUMERIC, -1, "3.10", 4));
		/* plain text columns keep their bytes */
		assert_int_not_equal(h1(t, FERRY_T_TEXT, -1, "3.1", 3),
				     h1(t, FERRY_T_TEXT, -1, "3.10", 4));
	}
}

static void json_forms(void **state)
{
	struct ferry_buf o = FERRY_BUF_INIT;

	(void)state;
	/* jsonb: keys by length then bytes, last duplicate wins */
	canon_text("{\"b\":1,\"aa\":2,\"a\":3,\"b\":4}", 1, -1, "{\"a\": 3, \"b\": 4, \"aa\": 2}");
	canon_text(" [1, 2.50 ,1e2,\"x\\u00e9\\n\\/\"] ", 1, -1, "[1, 2.50, 100, \"x\xc3\xa9\\u000a/\"]");
	canon_text("{\"a\": {\"c\": null, \"b\": [true, false]}}", 1, -1,
		   "{\"a\": {\"b\": [true, false], \"c\": null}}");
	canon_text("\"\\ud83d\\ude80\"", 1, -1, "\"\xf0\x9f\x9a\x80\"");
	assert_int_not_equal(vf_canon_json("{\"a\":}", 6, &o), 0);
	ferry_buf_release(&o);
	{
		struct ferry_cell t = ckind(FERRY_V_TEXT);
		const char *x = "{\"b\": 1, \"a\": 2}", *y = "{\"a\":2,\"b\":1}";

		assert_int_equal(h1(t, FERRY_T_JSONB, -1, x, strlen(x)),
				 h1(t, FERRY_T_JSONB, -1, y, strlen(y)));
		/* json (not jsonb) is stored as written */
		assert_int_not_equal(h1(t, FERRY_T_JSON, -1, x, strlen(x)),
				     h1(t, FERRY_T_JSON, -1, y, strlen(y)));
	}
}

/*
 * Out of memory at the n-th allocation, for every n until the encoding
 * needs no more: an error every time, never a success with a cut text.
 * out starts with some room so that the failures hit the middle of a run
 * of adds, where only the sticky error tells the result is cut.
 */
typedef int (*canon_fn)(const char *s, size_t n, struct ferry_buf *out);

static int canon_num(const char *s, size_t n, struct ferry_buf *out)
{
	return vf_canon_numeric(s, n, -1, out);
}

static int canon_cell(const char *s, size_t n, struct ferry_buf *out)
{
	struct ferry_batch b;
	struct ferry_cell c = ckind(FERRY_V_TEXT);
	int rc;

	if (ferry_batch_init(&b, 1, 1) < 0)
		return FERRY_ENOMEM;
	rc = ferry_cell_set_bytes(&b, &c, FERRY_V_TEXT, s, n);
	if (rc == 0)
		rc = vf_cell_encode(&b, &c, FERRY_T_JSONB, -1, out);
	ferry_batch_release(&b);
	return rc;
}

static void canon_fails_whole(canon_fn fn, const char *in)
{
	struct ferry_buf want = FERRY_BUF_INIT, got = FERRY_BUF_INIT;
	long n;
	int rc = -1;

	assert_int_equal(fn(in, strlen(in), &want), 0);
	for (n = 1; n < 10000; n++) {
		assert_int_equal(ferry_buf_addstr(&got, "0123456789abcdef"), 0);
		ferry_buf_clear(&got);
		ferry_alloc_fail_after(n);
		rc = fn(in, strlen(in), &got);
		ferry_alloc_fail_after(0);
		if (rc == 0)
			break;
		if (rc != FERRY_ENOMEM)
			fail_msg("n=%ld rc=%d in=%.20s", n, rc, in);
		ferry_buf_release(&got);
	}
	assert_int_equal(rc, 0);
	assert_true(n > 1);  /* some failures did happen */
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.buf, want.buf, want.len);
	ferry_buf_release(&got);
	ferry_buf_release(&want);
}

static void canon_out_of_memory(void **state)
{
	char big[600];

	(void)state;
	memset(big, '7', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	big[300] = '.';
	canon_fails_whole(canon_num, big);
	canon_fails_whole(vf_canon_json, "\"a long string value, long enough to grow the buffer a few times: "
			  "0123456789 0123456789 0123456789 0123456789 0123456789 0123456789 "
			  "\\u00e9\\ud83d\\ude80 0123456789 0123456789 0123456789 0123456789\"");
	canon_fails_whole(vf_canon_json, "{\"zz\": [1, 2.50, 1e2, \"x\"], \"a\": {\"c\": null, "
			  "\"b\": \"0123456789 0123456789 0123456789 0123456789 0123456789\"}, "
			  "\"m\": [\"0123456789 0123456789 0123456789\", 123456789012345678901234567890]}");
	canon_fails_whole(canon_cell, "{\"b\": \"0123456789 0123456789 0123456789 0123456789 "
			  "0123456789 0123456789 0123456789\", \"a\": 2}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(null_vs_empty_text),
		cmocka_unit_test(doubles_by_bits),
		cmocka_unit_test(type_tag_matters),
		cmocka_unit_test(column_boundaries),
		cmocka_unit_test(digest_order_independent),
		cmocka_unit_test(numeric_forms),
		cmocka_unit_test(json_forms),
		cmocka_unit_test(canon_out_of_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
