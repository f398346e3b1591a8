/*
 * test_wire.c - unit tests for src/lib/wire/pgcopy.c, the PostgreSQL
 * binary COPY encoder, byte for byte against what PostgreSQL 15 itself
 * writes: the whole stream of COPY (SELECT ...) TO STDOUT (FORMAT binary)
 * for one row of every type the encoder knows, and numeric_send() of a
 * set of numerics (sign, weight, scale, NaN, zero, padding); and the
 * decoder reading the same bytes back into the same cells and text.
 * And src/lib/wire/msgpack.c: mp_skip against a skip made of mp_next
 * calls (what it was before it sized the common bytes itself), on a
 * value holding every type byte and on every cut of it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"
#include "wire/msgpack.h"
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
 * to FILE with (format binary): signature, flags and extension length,
 * 16 fields (the second NULL), the trailer.
 */
#define PG_ROW_HEX \
	"5047434f50590aff0d0a00" \
	"0000000000000000" \
	"0010" \
	"00000002fffe" \
	"ffffffff" \
	"000000080000011f71fb04cb" \
	"0000000101" \
	"000000043fc00000" \
	"00000008bfb999999999999a" \
	"0000000400002279" \
	"000000080002b0d5d4e94001" \
	"000000080002b0d5d4e94001" \
	"000000080000000a8be62608" \
	"0000000a685c75303065396c6c6f" \
	"00000009017b2261223a20317d" \
	"0000000c0002000040000003000c0d48" \
	"0000000200ff" \
	"00000010a0eebc999c0b4ef8bb6d6bb9bd380a11" \
	"000000077b2262223a327d" \
	"ffff"

/* The encoder writes PostgreSQL's own bytes. */
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
	assert_int_equal(wire_pgcopy_add_header(&o), 0);
	assert_int_equal(wire_pgcopy_add_row(&o, types, ncols, &b, 0), 0);
	assert_int_equal(wire_pgcopy_add_trailer(&o), 0);
	assert_bytes(&o, PG_ROW_HEX);
	ferry_buf_release(&o);
	ferry_batch_release(&b);
}

static void copy_stream_decode(void **state)
{
	static const int types[] = {
		FERRY_T_INT16, FERRY_T_INT32, FERRY_T_INT64, FERRY_T_BOOL, FERRY_T_FLOAT32,
		FERRY_T_FLOAT64, FERRY_T_DATE, FERRY_T_TIMESTAMP, FERRY_T_TIMESTAMPTZ,
		FERRY_T_TIME, FERRY_T_TEXT, FERRY_T_JSONB, FERRY_T_NUMERIC, FERRY_T_BYTES,
		FERRY_T_UUID, FERRY_T_JSON,
	};
	static const int64_t ints[] = { -2, 0, 1234567890123LL, 1, 0, 0, 8825,
		757382400000001LL, 757382400000001LL, 45296789000LL };
	static const char *const texts[] = { "h\\u00e9llo", "{\"a\": 1}", "-12.340",
		"\0\377", "\xa0\xee\xbc\x99\x9c\x0b\x4e\xf8\xbb\x6d\x6b\xb9\xbd\x38\x0a\x11",
		"{\"b\":2}" };
	static const size_t tlen[] = { 10, 8, 7, 2, 16, 7 };
	unsigned char in[512];
	size_t n = unhex(PG_ROW_HEX, in), i;
	const unsigned char *p = in;
	struct ferry_batch b;
	struct ferry_buf tmp = FERRY_BUF_INIT;
	long hl;

	(void)state;
	assert_int_equal(ferry_batch_init(&b, 16, 1), 0);
	b.nrows = 1;
	hl = wire_pgcopy_header_len(p, n);
	assert_int_equal(hl, PGCOPY_HEADER_LEN);
	assert_int_equal(wire_pgcopy_header_len(p, 18), -1);
	p += hl;
	assert_int_equal(wire_pgcopy_rd16(p), 16);
	p += 2;
	for (i = 0; i < 16; i++) {
		struct ferry_cell *c = ferry_batch_cell(&b, 0, i);
		int32_t len = (int32_t)wire_pgcopy_rd32(p);

		p += 4;
		if (len < 0) {
			assert_int_equal(i, 1);
			continue;
		}
		assert_int_equal(wire_pgcopy_decode_field(&b, c, types[i], p, (size_t)len, &tmp), 0);
		p += len;
		if (i == 4 || i == 5) {
			assert_int_equal(c->kind, FERRY_V_REAL);
			assert_true(c->v.d == (i == 4 ? 1.5 : -0.1));
		} else if (i < 10) {
			assert_int_equal(c->kind, FERRY_V_INT);
			assert_int_equal(c->v.i, ints[i]);
		} else {
			assert_int_equal(c->len, tlen[i - 10]);
			assert_memory_equal(ferry_cell_bytes(&b, c), texts[i - 10], tlen[i - 10]);
			assert_int_equal(c->kind, i == 13 || i == 14 ? FERRY_V_BLOB : FERRY_V_TEXT);
		}
	}
	assert_int_equal((int16_t)wire_pgcopy_rd16(p), -1);  /* the trailer */
	assert_int_equal((size_t)(p + 2 - in), n);
	/* a field that does not have its type's layout */
	assert_int_equal(wire_pgcopy_decode_field(&b, ferry_batch_cell(&b, 0, 0), FERRY_T_INT16,
					     (const unsigned char *)"\0\0\0\1", 4, &tmp),
			 FERRY_EPARSE);
	assert_int_equal(wire_pgcopy_decode_field(&b, ferry_batch_cell(&b, 0, 0), FERRY_T_JSONB,
					     (const unsigned char *)"\2{}", 3, &tmp),
			 FERRY_EPARSE);
	ferry_buf_release(&tmp);
	ferry_batch_release(&b);
}

/* select encode(numeric_send(x::numeric), 'hex') for each x; the field
 * length comes first in COPY. */
static void numerics(void **state)
{
	static const struct { const char *text, *send, *out; } cases[] = {
		{ "-12.340", "0002000040000003000c0d48", "-12.340" },
		{ "NaN", "00000000c0000000", "NaN" },
		{ "nan", "00000000c0000000", "NaN" },
		{ "0", "0000000000000000", "0" },
		{ "0.001", "0001ffff00000003000a", "0.001" },
		{ "10000", "00010001000000000001", "10000" },
		{ "123456789.000000001", "0006000200000009000109291a850000000003e8",
		  "123456789.000000001" },
		{ "-0.5", "0001ffff400000011388", "-0.5" },
		{ "0.00000001", "0001fffe000000080001", "0.00000001" },
		{ "Infinity", "00000000d0000000", "Infinity" },
		{ "-Infinity", "00000000f0000000", "-Infinity" },
	};
	/* two malformed ones */
	static const struct { const char *send, *out; } decode_only[] = {
		{ "0002000040000003000c", NULL }, { "000000000000", NULL },
	};
	struct ferry_buf o = FERRY_BUF_INIT;
	unsigned char in[64];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char hex[128];

		ferry_buf_clear(&o);
		assert_int_equal(wire_pgcopy_add_numeric(&o, cases[i].text, strlen(cases[i].text)), 0);
		snprintf(hex, sizeof(hex), "%08zx%s", strlen(cases[i].send) / 2, cases[i].send);
		assert_bytes(&o, hex);
		/* and back, as numeric_out prints it */
		n = unhex(cases[i].send, in);
		assert_int_equal(wire_pgcopy_numeric_text(in, n, &o), 0);
		assert_string_equal(o.buf, cases[i].out);
	}
	for (i = 0; i < sizeof(decode_only) / sizeof(decode_only[0]); i++) {
		n = unhex(decode_only[i].send, in);
		if (!decode_only[i].out) {
			assert_int_equal(wire_pgcopy_numeric_text(in, n, &o), -1);
			continue;
		}
		assert_int_equal(wire_pgcopy_numeric_text(in, n, &o), 0);
		assert_string_equal(o.buf, decode_only[i].out);
	}
	ferry_buf_release(&o);
}

/* Out of memory at the n-th allocation, for each n until none fails: the
 * numeric's text and its binary form are an error or whole, never cut
 * (their buffer starts with some room, so failures hit mid-number). */
static void numerics_out_of_memory(void **state)
{
	static const char text[] = "-123456789012345678901234567890123456789012345678901234567890."
		"00000000000000000000000000000000000000000000000000000000000000000000000001";
	struct ferry_buf bin = FERRY_BUF_INIT, want = FERRY_BUF_INIT, got = FERRY_BUF_INIT;
	long n;
	int rc = -1, pass;

	(void)state;
	assert_int_equal(wire_pgcopy_add_numeric(&bin, text, strlen(text)), 0);
	assert_int_equal(wire_pgcopy_numeric_text((const unsigned char *)bin.buf + 4, bin.len - 4,
						  &want), 0);
	assert_string_equal(want.buf, text);
	for (pass = 0; pass < 2; pass++) {
		for (n = 1; n < 1000; n++) {
			assert_int_equal(ferry_buf_addstr(&got, "0123456789abcdef"), 0);
			ferry_buf_clear(&got);
			ferry_alloc_fail_after(n);
			rc = pass ? wire_pgcopy_add_numeric(&got, text, strlen(text)) :
			     wire_pgcopy_numeric_text((const unsigned char *)bin.buf + 4,
						      bin.len - 4, &got);
			ferry_alloc_fail_after(0);
			if (rc == 0)
				break;
			assert_int_equal(rc, FERRY_ENOMEM);
			ferry_buf_release(&got);
		}
		assert_int_equal(rc, 0);
		assert_true(n > 1);  /* some failures did happen */
		if (pass)
			assert_memory_equal(got.buf, bin.buf, bin.len);
		else
			assert_string_equal(got.buf, want.buf);
		ferry_buf_release(&got);
	}
	ferry_buf_release(&bin);
	ferry_buf_release(&want);
}

/* A skip made of mp_next calls only: what mp_skip must agree with. */
static int ref_skip(const unsigned char **pp, const unsigned char *end)
{
	uint64_t left = 1;
	struct mp_val v;
	int rc;

	while (left) {
		if ((rc = mp_next(pp, end, &v)))
			return rc;
		left--;
		if (v.t == MP_ARRAY)
			left += v.v.n;
		else if (v.t == MP_MAP)
			left += 2 * (uint64_t)v.v.n;
	}
	return 0;
}

static void msgpack_skip(void **state)
{
	/* an array of 3: a map of every scalar kind by key, an array of
	 * every container header, an array of the long forms */
	static const char *const hex =
		"93"
		"8f"                                    /* fixmap of 15 */
		"a161" "05" "a162" "e0" "a163" "c0" "a164" "c2" "a165" "c3"
		"a166" "ca3fc00000" "a167" "cb3ff8000000000000"
		"a168" "cc" "ff" "a169" "cd" "ffff" "a16a" "ce" "ffffffff"
		"a16b" "cf" "ffffffffffffffff" "a16c" "d0" "80" "a16d" "d1" "8000"
		"a16e" "d2" "80000000" "a16f" "d3" "8000000000000000"
		"99"                                    /* fixarray of 9 */
		"90" "80" "dc0001" "01" "dd00000001" "02" "de0001" "a0" "c0"
		"df00000001" "03" "04" "9f" "01" "02" "03" "04" "05" "06" "07" "08"
		"09" "0a" "0b" "0c" "0d" "0e" "0f"
		"bf" "41414141414141414141414141414141414141414141414141414141414141"
		"a0"
		"9b"                                    /* fixarray of 11 */
		"d903" "616263" "da0002" "6465" "db00000001" "66"
		"c402" "0102" "c50001" "03" "c600000000"
		"d4" "01" "02" "d5" "01" "0203" "d6" "01" "04050607"
		"d7" "01" "0102030405060708"
		"c701" "05" "09";
	unsigned char buf[256], bad[8];
	size_t n = unhex(hex, buf), cut;

	(void)state;
	assert_true(n > 100 && n < sizeof(buf));
	for (cut = 0; cut <= n; cut++) {
		const unsigned char *p = buf, *q = buf;
		int rc = mp_skip(&p, buf + cut), want = ref_skip(&q, buf + cut);

		assert_int_equal(rc, want);
		assert_int_equal(rc, cut == n ? 0 : MP_TRUNC);
		assert_ptr_equal(p, q);
	}
	/* every first byte, followed by enough bytes for any length it
	 * names (0x01: fixint, and a length of 0x0101... for prefixes) */
	{
		unsigned char one[1 + 5 + 300];
		unsigned c;

		for (c = 0; c < 256; c++) {
			memset(one, 0x01, sizeof(one));
			one[0] = (unsigned char)c;
			/* a 16- or 32-bit length or count of 0x0101...: cut it to
			 * 1 so the value fits */
			if (c == 0xc5 || c == 0xc8 || c == 0xda || c == 0xdc || c == 0xde)
				one[1] = 0;
			if (c == 0xc6 || c == 0xc9 || c == 0xdb || c == 0xdd || c == 0xdf)
				one[1] = one[2] = one[3] = 0;
			for (cut = 0; cut <= sizeof(one); cut++) {
				const unsigned char *p = one, *q = one;
				int rc = mp_skip(&p, one + cut), want = ref_skip(&q, one + cut);

				if (rc != want || p != q)
					fail_msg("first byte 0x%02x, %zu bytes: mp_skip %d at %td, "
						 "mp_next %d at %td", c, cut, rc, p - one, want, q - one);
			}
		}
	}
	/* the never-used byte, inside a container and alone */
	memcpy(bad, "\x92\x01\xc1\x02", 4);
	{
		const unsigned char *p = bad, *q = bad;

		assert_int_equal(mp_skip(&p, bad + 4), MP_BAD);
		assert_int_equal(ref_skip(&q, bad + 4), MP_BAD);
		assert_ptr_equal(p, bad + 2);
		assert_ptr_equal(q, bad + 2);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(copy_stream),
		cmocka_unit_test(copy_stream_decode),
		cmocka_unit_test(numerics),
		cmocka_unit_test(numerics_out_of_memory),
		cmocka_unit_test(msgpack_skip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
