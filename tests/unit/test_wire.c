/*
 * test_wire.c - unit tests for src/lib/wire/pgcopy.c, the PostgreSQL
 * binary COPY encoder, byte for byte against what PostgreSQL 15 itself
 * writes: the whole stream of COPY (SELECT ...) TO STDOUT (FORMAT binary)
 * for one row of every type the encoder knows, and numeric_send() of a
 * set of numerics (sign, weight, scale, NaN, zero, padding).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/buf.h"
#include "ferry/model.h"
#include "wire/pgcopy.h"

static size_t unhex(const char *h, unsigned char *out)
{
	size_t n = 0;

	for (; h[0] && h[1]; h += 2) {
		unsigned v;

		sscanf(h, "%2x", &v);
		out[n++] = (unsigned char)v;
	}
	return n;
}

static void assert_bytes(const struct ferry_buf *b, const char *hex)
{
	unsigned char want[512];
	size_t n = unhex(hex, want), i;

	for (i = 0; i < n && i < b->len; i++)
		if ((unsigned char)b->buf[i] != want[i])
			fail_msg("byte %zu: %02x, want %02x (want %s)", i,
				 (unsigned char)b->buf[i], want[i], hex);
	assert_int_equal(b->len, n);
}

static void set_int(struct ferry_batch *b, size_t col, int64_t v)
{
	struct ferry_cell *c = ferry_batch_cell(b, 0, col);

	c->kind = FERRY_V_INT;
	c->v.i = v;
}

static void set_real(struct ferry_batch *b, size_t col, double v)
{
	struct ferry_cell *c = ferry_batch_cell(b, 0, col);

	c->kind = FERRY_V_REAL;
	c->v.d = v;
}

static void set_bytes(struct ferry_batch *b, size_t col, int kind, const void *p, size_t n)
{
	assert_int_equal(ferry_cell_set_bytes(b, ferry_batch_cell(b, 0, col), kind, p, n), 0);
}

/*
 * psql: \copy (select -2::int2, null::int4, 1234567890123::int8, true,
 * 1.5::float4, -0.1::float8, '2024-02-29'::date,
 * '2024-01-01 00:00:00.000001'::timestamp, the same timestamptz at +00,
 * '12:34:56.789'::time, 'h\u00e9llo'::text, '{"a": 1}'::jsonb,
 * '-12.340'::numeric, '\x00ff'::bytea,
 * 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{"b":2}'::json)
 * to FILE with (format binary)
 */
static void copy_stream(void **state)
{
	static const int types[] = {
		FERRY_T_INT16, FERRY_T_INT32, FERRY_T_INT64, FERRY_T_BOOL, FERRY_T_FLOAT32,
		FERRY_T_FLOAT64, FERRY_T_DATE, FERRY_T_TIMESTAMP, FERRY_T_TIMESTAMPTZ,
		FERRY_T_TIME, FERRY_T_TEXT, FERRY_T_JSONB, FERRY_T_NUMERIC, FERRY_T_BYTES,
		FERRY_T_UUID, FERRY_T_JSON,
	};
	static const unsigned char uuid[16] = {
		0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8,
		0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
	};
	const size_t ncols = sizeof(types) / sizeof(types[0]);
	struct ferry_batch b;
	struct ferry_buf o = FERRY_BUF_INIT;

	(void)state;
	assert_int_equal(ferry_batch_init(&b, ncols, 1), 0);
	b.nrows = 1;
	set_int(&b, 0, -2);
	/* column 1 stays NULL */
	set_int(&b, 2, 1234567890123LL);
	set_int(&b, 3, 1);
	set_real(&b, 4, 1.5);
	set_real(&b, 5, -0.1);
	set_int(&b, 6, 8825);                 /* days since 2000-01-01 */
	set_int(&b, 7, 757382400000001LL);    /* us since 2000-01-01 */
	set_int(&b, 8, 757382400000001LL);
	set_int(&b, 9, 45296789000LL);        /* us since midnight */
	set_bytes(&b, 10, FERRY_V_TEXT, "h\\u00e9llo", 10);
	set_bytes(&b, 11, FERRY_V_TEXT, "{\"a\": 1}", 8);
	set_bytes(&b, 12, FERRY_V_TEXT, "-12.340", 7);
	set_bytes(&b, 13, FERRY_V_BLOB, "\0\377", 2);
	set_bytes(&b, 14, FERRY_V_BLOB, uuid, 16);
	set_bytes(&b, 15, FERRY_V_TEXT, "{\"b\":2}", 7);
	assert_int_equal(pgcopy_add_header(&o), 0);
	assert_int_equal(pgcopy_add_row(&o, types, ncols, &b, 0), 0);
	assert_int_equal(pgcopy_add_trailer(&o), 0);
	assert_bytes(&o,
		"5047434f50590aff0d0a00"                     /* signature */
		"0000000000000000"                           /* flags, extension */
		"0010"                                       /* 16 fields */
		"00000002fffe"
		"ffffffff"
		"000000080000011f71fb04cb"
		"0000000101"
		"000000043fc00000"
		"00000008bfb999999999999a"
		"0000000400002279"
		"000000080002b0d5d4e94001"
		"000000080002b0d5d4e94001"
		"000000080000000a8be62608"
		"0000000a685c75303065396c6c6f"
		"00000009017b2261223a20317d"
		"0000000c0002000040000003000c0d48"
		"0000000200ff"
		"00000010a0eebc999c0b4ef8bb6d6bb9bd380a11"
		"000000077b2262223a327d"
		"ffff");                                     /* trailer */
	ferry_buf_release(&o);
	ferry_batch_release(&b);
}

/* select encode(numeric_send(x::numeric), 'hex') for each x; the field
 * length comes first in COPY. */
static void numerics(void **state)
{
	static const struct { const char *text, *send; } cases[] = {
		{ "-12.340", "0002000040000003000c0d48" },
		{ "NaN", "00000000c0000000" },
		{ "nan", "00000000c0000000" },
		{ "0", "0000000000000000" },
		{ "0.001", "0001ffff00000003000a" },
		{ "10000", "00010001000000000001" },
		{ "123456789.000000001", "0006000200000009000109291a850000000003e8" },
		{ "-0.5", "0001ffff400000011388" },
		{ "0.00000001", "0001fffe000000080001" },
	};
	struct ferry_buf o = FERRY_BUF_INIT;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char hex[128];

		ferry_buf_clear(&o);
		assert_int_equal(pgcopy_add_numeric(&o, cases[i].text, strlen(cases[i].text)), 0);
		snprintf(hex, sizeof(hex), "%08zx%s", strlen(cases[i].send) / 2, cases[i].send);
		assert_bytes(&o, hex);
	}
	ferry_buf_release(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copy_stream),
		cmocka_unit_test(numerics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
