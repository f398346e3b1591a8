/*
 * fuzz_values.c - the value parsers of model/value.c (timestamps, dates,
 * times of day, point times, durations, booleans, JSON, UTF-8) and the
 * full conversion of one text cell to every target type by the copy
 * transform.  Invariants besides memory safety: a cell that converts to
 * TEXT is valid UTF-8 without NUL bytes; the valid UTF-8 prefix is the
 * whole input exactly when val_utf8_ok accepts it; the parse modes agree
 * with the plain parsers where their grammars overlap; a formatted
 * timestamp parses back to the same time.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "copy/copy_int.h"
#include "model/value.h"

/* The modes of the time and duration parsers and the formatter. */
static void modes(const char *s, size_t n)
{
	static const unsigned fl[] = { 0, VAL_TS_NS, VAL_TS_PG_EPOCH, VAL_TS_T | VAL_TS_FRAC_OPT,
		VAL_TS_DATE, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT };
	int64_t a, b, us, t;
	char out[64];
	size_t i;
	int tz, tz2;

	if (val_parse_time_ns_mode(s, n, 0, &a) == 0 &&
	    (val_parse_time_ns_mode(s, n, VAL_TIME_TRUNC, &b) != 0 || a != b))
		abort();  /* truncation only widens */
	if (val_parse_time_ns_mode(s, n, VAL_TIME_TRUNC | VAL_TIME_RFC3339, &a) == 0) {
		/* InfluxDB's form formats back and reads again as itself */
		val_format_timestamp(out, sizeof(out), a, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z");
		if (val_parse_time_ns_mode(out, strlen(out), VAL_TIME_RFC3339, &b) != 0 || a != b)
			abort();
	}
	val_parse_duration_mode(s, n, 0, &a);
	val_parse_duration_mode(s, n, VAL_DUR_GO, &a);
	val_parse_duration_mode(s, n, VAL_DUR_DECIMAL, &a);
	if (val_parse_timestamp_ns(s, n, 0, &a, &tz) &&
	    (!val_parse_timestamp(s, n, &us, &tz2, 1) || tz != tz2 ||
	     a != (us + 946684800000000LL) * 1000))
		abort();  /* the same grammar in another unit */
	val_parse_timestamp_ns(s, n, VAL_TSP_NS, &a, &tz);
	val_parse_timestamp_ns(s, n, VAL_TSP_LAX, &a, &tz);
	val_parse_timestamp_ns(s, n, VAL_TSP_NS | VAL_TSP_LAX, &a, &tz);
	if (n >= 8) {
		memcpy(&t, s, 8);
		for (i = 0; i < sizeof(fl) / sizeof(fl[0]); i++)
			if (val_format_timestamp(out, sizeof(out), t, fl[i], "+00:00") >= (int)sizeof(out))
				abort();
		/* every nanosecond time above the parser's low end reads back */
		if (t > INT64_MIN + 1000000) {
			val_format_timestamp(out, sizeof(out), t, VAL_TS_NS | VAL_TS_T, "Z");
			if (val_parse_time_ns_mode(out, strlen(out), 0, &b) != 0 || b != t)
				abort();
		}
	}
}

static const int types[] = {
	FERRY_T_INT16, FERRY_T_INT32, FERRY_T_INT64, FERRY_T_FLOAT32, FERRY_T_FLOAT64,
	FERRY_T_NUMERIC, FERRY_T_TEXT, FERRY_T_BYTES, FERRY_T_BOOL, FERRY_T_DATE,
	FERRY_T_TIMESTAMP, FERRY_T_TIMESTAMPTZ, FERRY_T_JSON, FERRY_T_JSONB,
	FERRY_T_UUID, FERRY_T_TIME
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	const char *s = (const char *)data, *why;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_table src;
	struct col_plan cp;
	struct table_plan tp;
	struct rejects rej;
	struct ferry_buf mem = FERRY_BUF_INIT;
	int64_t us;
	int32_t days;
	int tz, v;
	size_t i;

	val_parse_timestamp(s, n, &us, &tz, 1);
	val_parse_date(s, n, &days);
	val_parse_bool(s, n, &v);
	val_json_ok(s, n, 1);
	if ((val_utf8_prefix(s, n, 0, &why) == n) != val_utf8_ok(s, n, &why) ||
	    val_utf8_prefix(s, n, 1, NULL) < val_utf8_prefix(s, n, 0, NULL))
		abort();
	val_parse_time_of_day(s, n, &us);
	modes(s, n);
	if (n < 64) {  /* the point-time and duration parsers take C strings */
		char z[64];

		memcpy(z, s, n);
		z[n] = '\0';
		val_parse_time_ns(z, &us);
		val_parse_duration(z, &us);
	}

	memset(&src, 0, sizeof(src));
	src.name = "fuzz";
	memset(&rej, 0, sizeof(rej));
	rej.mem = &mem;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct ferry_batch b;
		struct ferry_cell *c;

		memset(&cp, 0, sizeof(cp));
		cp.src_name = "c";
		cp.type = types[i];
		cp.typmod = types[i] == FERRY_T_NUMERIC ? (10 << 16 | 2) :
			    types[i] == FERRY_T_TEXT ? 8 : -1;
		cp.type_sql = "t";
		memset(&tp, 0, sizeof(tp));
		tp.src = &src;
		tp.cols = &cp;
		tp.ncols = 1;
		if (ferry_batch_init(&b, 1, 1) < 0)
			break;
		c = ferry_batch_cell(&b, 0, 0);
		ferry_cell_set_bytes(&b, c, FERRY_V_TEXT, s, n);
		b.nrows = 1;
		if (xf_batch(&b, &tp, &rej, &err) == 0 && types[i] == FERRY_T_TEXT &&
		    !val_utf8_ok(ferry_cell_bytes(&b, c), c->len, &why))
			abort();  /* accepted text must be clean */
		ferry_batch_release(&b);
	}
	ferry_buf_release(&mem);
	return 0;
}
