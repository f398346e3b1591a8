/*
 * test_model.c - unit tests for the value helpers of the model layer
 * (src/lib/model/value.c): UTF-8, timestamps and dates, point times and
 * durations, JSON and doubles.  The conversions built on them are tested
 * through the copy transform in test_transform.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ferry/error.h"
#include "model/value.h"

/* 2000-01-01 is day 0; one day in microseconds. */
#define DAY_US 86400000000LL

/* ---- UTF-8 ---------------------------------------------------------------- */

/* The longest valid prefix, with and without NUL bytes: rewrite reports
 * the line of the first bad byte and lets a NUL through. */
static void utf8_prefix(void **state)
{
	const char *why;
	char big[40];

	(void)state;
	assert_int_equal(val_utf8_prefix("abc", 3, 0, NULL), 3);
	assert_int_equal(val_utf8_prefix("", 0, 0, NULL), 0);
	why = NULL;
	assert_int_equal(val_utf8_prefix("ab\0cd", 5, 0, &why), 2);
	assert_string_equal(why, "NUL byte in text");
	assert_int_equal(val_utf8_prefix("ab\0cd", 5, 1, NULL), 5);
	why = NULL;
	assert_int_equal(val_utf8_prefix("ab\xc3\xa4\xff", 5, 1, &why), 4);
	assert_string_equal(why, "invalid UTF-8");
	assert_int_equal(val_utf8_prefix("ab\xf0\x9f\x98", 5, 1, NULL), 2);  /* truncated */
	assert_int_equal(val_utf8_prefix("\xed\xa0\x80", 3, 1, NULL), 0);   /* surrogate */
	/* past the eight-byte fast path, NULs inside it */
	memset(big, 'a', sizeof(big));
	big[3] = '\0';
	big[30] = (char)0x80;
	assert_int_equal(val_utf8_prefix(big, sizeof(big), 1, NULL), 30);
	assert_int_equal(val_utf8_prefix(big, sizeof(big), 0, NULL), 3);
	assert_false(val_utf8_ok(big, sizeof(big), &why));
	assert_true(val_utf8_ok(big + 4, 26, &why));
}

/* A message made text in place: what is not UTF-8 (a NUL, a stray byte, a
 * character cut by a fixed-size buffer) becomes '?', the rest stays. */
static void utf8_scrub(void **state)
{
	char m[] = "caf\xc3\xa9 \xff\0x \xe2\x82";

	(void)state;
	val_utf8_scrub(m, sizeof(m) - 1);
	assert_memory_equal(m, "caf\xc3\xa9 ??x ??", sizeof(m) - 1);
}

/* ---- JSON ----------------------------------------------------------------- */

/* PostgreSQL's jsonb input rejects unpaired UTF-16 surrogate escapes (json
 * keeps the text as it is and accepts them), so jsonb must reject them
 * here rather than fail the whole COPY. */
static void json_surrogates(void **state)
{
	static const char *const unpaired[] = { "\"\\ud83d\"", "\"\\ud83dx\"",
		"\"\\ude00\"", "\"\\ud83d\\ud83d\"", "\"\\ud83d\\n\"",
		"{\"\\uDBFF\":1}", "[\"\\ud800\\u0041\"]" };
	size_t i;

	(void)state;
	assert_true(val_json_ok("\"\\ud83d\\ude00\"", 14, 0));
	assert_true(val_json_ok("\"\\uD83D\\uDE00\"", 14, 1));
	assert_true(val_json_ok("\"\\udbff\\udfff\"", 14, 1));
	for (i = 0; i < sizeof(unpaired) / sizeof(unpaired[0]); i++) {
		if (!val_json_ok(unpaired[i], strlen(unpaired[i]), 0))
			fail_msg("json rejected %s", unpaired[i]);
		if (val_json_ok(unpaired[i], strlen(unpaired[i]), 1))
			fail_msg("jsonb accepted %s", unpaired[i]);
	}
}

static void json_deep_nesting(void **state)
{
	size_t depth, n;
	char *s;

	(void)state;
	for (depth = 1; depth <= 200000; depth *= 10) {
		n = depth * 2;
		s = malloc(n + 1);
		assert_non_null(s);
		memset(s, '[', depth);
		memset(s + depth, ']', depth);
		s[n] = '\0';
		/* must not crash; moderate depth is fine */
		if (depth <= 100)
			assert_true(val_json_ok(s, n, 1));
		else
			(void)val_json_ok(s, n, 1);
		/* unbalanced is never valid at any depth */
		assert_false(val_json_ok(s, n - 1, 0));
		free(s);
	}
	/* the validator's documented ceiling */
	{
		static char deep[2002];

		memset(deep, '[', 1000);
		memset(deep + 1000, ']', 1000);
		assert_true(val_json_ok(deep, 2000, 0));
		memset(deep, '[', 1001);
		memset(deep + 1001, ']', 1001);
		assert_false(val_json_ok(deep, 2002, 0));
	}
}

/* ---- dates and times ------------------------------------------------------ */

static void timestamps(void **state)
{
	int64_t us;
	int tz;
	static const struct { const char *s; int64_t us; int tz; } ok[] = {
		{ "2000-01-01 00:00:00", 0, 0 },
		{ "2000-01-01T00:00:01", 1000000, 0 },
		{ "2000-01-01 00:00", 0, 0 },
		{ "2000-01-02 00:00:00.5", DAY_US + 500000, 0 },
		{ "2000-01-01 00:00:00.1", 100000, 0 },
		{ "2000-01-01 00:00:00.12", 120000, 0 },
		{ "2000-01-01 00:00:00.123", 123000, 0 },
		{ "2000-01-01 00:00:00.1234", 123400, 0 },
		{ "2000-01-01 00:00:00.12345", 123450, 0 },
		{ "2000-01-01 00:00:00.123456", 123456, 0 },
		{ "2000-01-01 00:00:00.1234560", 123456, 0 },
		{ "2000-01-01 00:00:00.123456000", 123456, 0 },
		{ "2000-01-01 00:00:00Z", 0, 1 },
		{ "2000-01-01T02:00:00+02:00", 0, 1 },
		{ "2000-01-01T02:00:00+0200", 0, 1 },
		{ "2000-01-01T02:00:00+02", 0, 1 },
		{ "1999-12-31T22:00:00-02:00", 0, 1 },
		{ "2000-01-01 05:30:00+05:30", 0, 1 },
		{ "1999-12-31 23:59:59.5", -500000, 0 },
		{ "1970-01-01 00:00:00", -946684800000000LL, 0 },
		{ "2024-02-29 12:00:00", 8825 * DAY_US + 12 * 3600000000LL, 0 },
		{ "2000-02-29 00:00:00", 59 * DAY_US, 0 },
		{ "0001-01-01 00:00:00", -730119 * DAY_US, 0 },
		{ "9999-12-31 23:59:59.999999", 2921939 * DAY_US + DAY_US - 1, 0 },
		{ "2023-06-15 10:20:30  ", (8566 * 86400LL + 37230) * 1000000LL, 0 },
	};
	static const char *const bad[] = {
		"2023-02-29 00:00:00", "2023-02-30 00:00:00", "2000-01-01 24:00:00",
		"2000-01-01 23:60:00", "2000-01-01 23:59:60", "0000-01-01 00:00:00",
		"2000-13-01 00:00:00", "2000-00-10 00:00:00", "2000-01-00 00:00:00",
		"2000-01-01 00:00:00.1234567", "2000-01-01 00:00:00.",
		"2000-1-01 00:00:00", "2000-01-01X00:00:00", "2000-01-01 0:00:00",
		"2000-01-01 00:00:00+2", "2000-01-01 00:00:00+16:00",
		"2000-01-01 00:00:00 UTC", "10000-01-01 00:00:00", " 2000-01-01 00:00:00",
		"", "yesterday", "1900-02-29 00:00:00",
	};
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!val_parse_timestamp(ok[i].s, strlen(ok[i].s), &us, &tz, 0))
			fail_msg("timestamp '%s' rejected", ok[i].s);
		if (us != ok[i].us || tz != ok[i].tz)
			fail_msg("timestamp '%s': %lld tz %d, want %lld tz %d", ok[i].s,
				 (long long)us, tz, (long long)ok[i].us, ok[i].tz);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (val_parse_timestamp(bad[i], strlen(bad[i]), &us, &tz, 1))
			fail_msg("timestamp '%s' accepted", bad[i]);
	/* date only: allowed only when asked */
	assert_false(val_parse_timestamp("2000-01-02", 10, &us, &tz, 0));
	assert_true(val_parse_timestamp("2000-01-02", 10, &us, &tz, 1));
	assert_int_equal(us, DAY_US);
	assert_int_equal(tz, 0);
	/* n is honoured: no read past it */
	assert_true(val_parse_timestamp("2000-01-01 00:00:01XYZ", 19, &us, &tz, 0));
	assert_int_equal(us, 1000000);
}

static void dates(void **state)
{
	int32_t d;
	static const struct { const char *s; int32_t days; } ok[] = {
		{ "2000-01-01", 0 }, { "2000-01-02", 1 }, { "1999-12-31", -1 },
		{ "1970-01-01", -10957 }, { "2000-03-01", 60 }, { "2024-02-29", 8825 },
		{ "1900-03-01", -36465 }, { "0001-01-01", -730119 },
		{ "9999-12-31", 2921939 }, { "2100-01-01 ", 36525 },
	};
	static const char *const bad[] = { "2023-02-29", "2023-02-30", "2100-02-29",
		"0000-01-01", "2000-1-1", "2000-01-01x", "20000101", "", "2000-04-31" };
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (!val_parse_date(ok[i].s, strlen(ok[i].s), &d))
			fail_msg("date '%s' rejected", ok[i].s);
		if (d != ok[i].days)
			fail_msg("date '%s' = %d, want %d", ok[i].s, d, ok[i].days);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (val_parse_date(bad[i], strlen(bad[i]), &d))
			fail_msg("date '%s' accepted", bad[i]);
}

/* Point times (--start/--end) and durations (chunk_time) of the point layer. */
static void point_times(void **state)
{
	int64_t ns;

	(void)state;
	assert_int_equal(val_parse_time_ns("2024-01-01T00:00:00Z", &ns), 0);
	assert_int_equal(ns, 1704067200000000000LL);
	assert_int_equal(val_parse_time_ns("1704067200000000001", &ns), 0);
	assert_int_equal(ns, 1704067200000000001LL);
	assert_true(val_parse_time_ns("yesterday", &ns) < 0);
	/* InfluxDB's own output: RFC 3339 with nanoseconds */
	assert_int_equal(val_parse_time_ns("2024-01-01T00:00:00.123456789Z", &ns), 0);
	assert_int_equal(ns, 1704067200123456789LL);
	assert_int_equal(val_parse_time_ns("2024-01-01T00:00:00.1234567Z", &ns), 0);
	assert_int_equal(ns, 1704067200123456700LL);
	assert_int_equal(val_parse_time_ns("2024-01-01T01:00:00.000000001+01:00", &ns), 0);
	assert_int_equal(ns, 1704067200000000001LL);
	assert_int_equal(val_parse_time_ns("2024-01-01T00:00:00.1234567890Z", &ns), 0);
	assert_int_equal(ns, 1704067200123456789LL);
	assert_true(val_parse_time_ns("2024-01-01T00:00:00.1234567891Z", &ns) < 0);
	assert_int_equal(val_parse_duration("6h", &ns), 0);
	assert_int_equal(ns, 6 * 3600000000000LL);
	assert_int_equal(val_parse_duration("90", &ns), 0);
	assert_int_equal(ns, 90000000000LL);
	assert_true(val_parse_duration("-1h", &ns) < 0);
	assert_true(val_parse_duration("1y", &ns) < 0);
	/* val_format_duration: the largest unit that divides it, read back */
	{
		static const struct { int64_t ns; const char *s; } fmt[] = {
			{ 1, "1ns" }, { 1500, "1500ns" }, { 60000000000LL, "1m" },
			{ 90000000000LL, "90s" }, { 129600000000000LL, "36h" },
			{ 1209600000000000LL, "2w" }, { 33554432LL * 60000000000LL, "33554432m" },
		};
		char buf[32];
		size_t i;

		for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
			val_format_duration(fmt[i].ns, buf, sizeof(buf));
			assert_string_equal(buf, fmt[i].s);
			assert_int_equal(val_parse_duration(buf, &ns), 0);
			assert_int_equal(ns, fmt[i].ns);
		}
	}
}

/* val_parse_timestamp_ns(): the timestamp grammar in nanoseconds, plain,
 * VAL_TSP_NS (nine digits, no tenth) and VAL_TSP_LAX (the CSV source's
 * 't', ',', year 0000, offsets to 23 h). */
static void timestamp_ns_flags(void **state)
{
	static const struct {
		const char *s;
		unsigned flags;
		int ok;
		int64_t ns;
	} cases[] = {
		{ "2024-01-01T00:00:00.1234567Z", 0, 0, 0 },
		{ "2024-01-01T00:00:00.1234560Z", 0, 1, 1704067200123456000LL },
		{ "2024-01-01T00:00:00.1234567Z", VAL_TSP_NS, 1, 1704067200123456700LL },
		{ "2024-01-01T00:00:00.123456789Z", VAL_TSP_NS, 1, 1704067200123456789LL },
		{ "2024-01-01T00:00:00.1234567890Z", VAL_TSP_NS, 0, 0 },
		{ "2024-01-01T00:00:00.1234567890Z", 0, 0, 0 },
		{ "2024-01-01t00:00:00Z", 0, 0, 0 },
		{ "2024-01-01t00:00:00Z", VAL_TSP_LAX, 1, 1704067200000000000LL },
		{ "2024-01-01 00:00:00,5", 0, 0, 0 },
		{ "2024-01-01 00:00:00,5", VAL_TSP_LAX, 1, 1704067200500000000LL },
		{ "2024-01-02T08:00:00+2000", 0, 0, 0 },
		{ "2024-01-02T08:00:00+2000", VAL_TSP_LAX, 1, 1704110400000000000LL },
		{ "2024-01-01T08:00:00+0800", 0, 1, 1704067200000000000LL },
		{ "2024-01-01", 0, 1, 1704067200000000000LL },
		{ "1969-12-31T23:59:59.9Z", VAL_TSP_NS, 1, -100000000LL },
		{ "0000-01-01", 0, 0, 0 },
		{ "0000-01-01", VAL_TSP_LAX, 0, 0 },     /* past the int64 range */
		{ "3000-01-01T00:00:00Z", VAL_TSP_NS, 0, 0 },
		{ "2024-02-30", VAL_TSP_LAX, 0, 0 },
	};
	int64_t ns;
	size_t i;
	int tz;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ok = val_parse_timestamp_ns(cases[i].s, strlen(cases[i].s), cases[i].flags,
						&ns, &tz);

		if (ok != cases[i].ok)
			fail_msg("'%s' flags %u: %d, want %d", cases[i].s, cases[i].flags, ok,
				 cases[i].ok);
		if (ok)
			assert_int_equal(ns, cases[i].ns);
	}
}

/* The modes of the point-time parser: InfluxDB's RFC 3339 answers
 * (VAL_TIME_RFC3339) and its truncation of digits past the ninth
 * (VAL_TIME_TRUNC), as the influx source read them with strptime. */
static void point_time_modes(void **state)
{
	const unsigned ifx = VAL_TIME_TRUNC | VAL_TIME_RFC3339;
	static const char *const ifx_bad[] = {
		"1704067200", "2024-01-01", "2024-01-01T00:00Z", "2024-01-01 00:00:00Z",
		"2024-01-01T00:00:00", "2024-01-01T00:00:00+01:00", "2024-13-01T00:00:00Z",
		"2024-01-01T00:00:00ZZ", "",
	};
	const char *s;
	int64_t ns;
	size_t i;

	(void)state;
	s = "2024-01-01T00:00:00.1234567891Z";
	/* mode 0 refuses a non-zero tenth digit, TRUNC drops it */
	assert_true(val_parse_time_ns_mode(s, strlen(s), 0, &ns) < 0);
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), VAL_TIME_TRUNC, &ns), 0);
	assert_int_equal(ns, 1704067200123456789LL);
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), ifx, &ns), 0);
	assert_int_equal(ns, 1704067200123456789LL);
	/* s[0..n) only: what follows n is not read */
	assert_int_equal(val_parse_time_ns_mode("2024-01-01T00:00:00Zjunk", 20, ifx, &ns), 0);
	assert_int_equal(ns, 1704067200000000000LL);
	s = "2024-01-01T00:00:05.Z";
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), ifx, &ns), 0);
	assert_int_equal(ns, 1704067205000000000LL);
	/* the int64 minimum is out of reach (microseconds times 1000
	 * overflow on the way), the maximum is not */
	s = "1677-09-21T00:12:43.145224192Z";
	assert_true(val_parse_time_ns_mode(s, strlen(s), ifx, &ns) < 0);
	s = "1677-09-21T00:12:43.145225Z";
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), ifx, &ns), 0);
	assert_int_equal(ns, INT64_MIN + 808);
	s = "2262-04-11T23:47:16.854775807Z";
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), ifx, &ns), 0);
	assert_int_equal(ns, INT64_MAX);
	s = "2262-04-11T23:47:16.854775808Z";
	assert_true(val_parse_time_ns_mode(s, strlen(s), ifx, &ns) < 0);
	for (i = 0; i < sizeof(ifx_bad) / sizeof(ifx_bad[0]); i++)
		if (val_parse_time_ns_mode(ifx_bad[i], strlen(ifx_bad[i]), ifx, &ns) == 0)
			fail_msg("influx time '%s' accepted", ifx_bad[i]);
	/* mode 0 is val_parse_time_ns() */
	s = "2024-01-01T01:00:00.000000001+01:00";
	assert_int_equal(val_parse_time_ns_mode(s, strlen(s), 0, &ns), 0);
	assert_int_equal(ns, 1704067200000000001LL);
	assert_int_equal(val_parse_time_ns_mode("42", 2, 0, &ns), 0);
	assert_int_equal(ns, 42);
}

/* Go durations as SHOW RETENTION POLICIES prints them (VAL_DUR_GO) beside
 * the plain mode. */
static void duration_modes(void **state)
{
	static const struct { const char *s; int64_t ns; } go[] = {
		{ "168h0m0s", 168 * 3600000000000LL }, { "1h30m0s", 5400000000000LL },
		{ "0s", 0 }, { "1h", 3600000000000LL }, { "90m", 5400000000000LL },
		{ "1500ms", 1500000000LL }, { "3us", 3000 }, { "3\xc2\xb5s", 3000 },
		{ "7ns", 7 }, { "1m1s1ms1us1ns", 61001001001LL },
	};
	static const char *const go_bad[] = { "", "90", "1d", "1w", "h", "1x", "-1h", "1h ",
		"9223372036854775807h" };
	int64_t ns;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(go) / sizeof(go[0]); i++) {
		if (val_parse_duration_mode(go[i].s, strlen(go[i].s), VAL_DUR_GO, &ns) != 0)
			fail_msg("go duration '%s' refused", go[i].s);
		assert_int_equal(ns, go[i].ns);
	}
	for (i = 0; i < sizeof(go_bad) / sizeof(go_bad[0]); i++)
		if (val_parse_duration_mode(go_bad[i], strlen(go_bad[i]), VAL_DUR_GO, &ns) == 0)
			fail_msg("go duration '%s' accepted", go_bad[i]);
	/* mode 0: the plain grammar, s[0..n) only */
	assert_int_equal(val_parse_duration_mode("7dxx", 2, 0, &ns), 0);
	assert_int_equal(ns, 7 * 86400000000000LL);
	assert_true(val_parse_duration_mode("0s", 2, 0, &ns) < 0);
	assert_true(val_parse_duration_mode("168h0m0s", 8, 0, &ns) < 0);
	/* VAL_DUR_DECIMAL (ferry generate): fractions, min, y, microseconds */
	{
		static const struct { const char *s; int64_t us; } dec[] = {
			{ "1.5h", 5400000000LL }, { "45", 45000000 }, { "90min", 5400000000LL },
			{ "1y", 31536000000000LL }, { "0.5ms", 500 }, { "2w", 1209600000000LL },
			{ "1e3s", 1000000000 }, { "3000y", 94608000000000000LL },
		};
		static const char *const dec_bad[] = { "", "0", "-1d", "3x", "1us", "1ns",
			"1e-7s", "4000y", "1 h" };
		char longtext[300];

		for (i = 0; i < sizeof(dec) / sizeof(dec[0]); i++) {
			if (val_parse_duration_mode(dec[i].s, strlen(dec[i].s), VAL_DUR_DECIMAL,
						    &ns) != 0)
				fail_msg("decimal duration '%s' refused", dec[i].s);
			assert_int_equal(ns, dec[i].us);
		}
		for (i = 0; i < sizeof(dec_bad) / sizeof(dec_bad[0]); i++)
			if (val_parse_duration_mode(dec_bad[i], strlen(dec_bad[i]),
						    VAL_DUR_DECIMAL, &ns) == 0)
				fail_msg("decimal duration '%s' accepted", dec_bad[i]);
		/* longer than the stack copy: still read whole */
		memset(longtext, '0', sizeof(longtext));
		memcpy(longtext + sizeof(longtext) - 5, "1.5h", 5);
		assert_int_equal(val_parse_duration_mode(longtext, strlen(longtext),
							 VAL_DUR_DECIMAL, &ns), 0);
		assert_int_equal(ns, 5400000000LL);
		assert_int_equal(val_parse_duration_mode(longtext, strlen(longtext), 0, &ns),
				 FERRY_EINVAL);
		memcpy(longtext + sizeof(longtext) - 5, "7d\0\0", 5);
		assert_int_equal(val_parse_duration_mode(longtext, strlen(longtext), 0, &ns), 0);
		assert_int_equal(ns, 7 * 86400000000000LL);
	}
}

/* val_civil_from_days() inverts val_days_from_civil() */
static void civil_days(void **state)
{
	int64_t z, y;
	unsigned m, d;

	(void)state;
	for (z = -800000; z <= 800000; z += 37) {
		val_civil_from_days(z, &y, &m, &d);
		assert_int_equal(val_days_from_civil(y, m, d), z);
	}
	val_civil_from_days(0, &y, &m, &d);
	assert_true(y == 1970 && m == 1 && d == 1);
	val_civil_from_days(19782, &y, &m, &d);
	assert_true(y == 2024 && m == 2 && d == 29);
	val_civil_from_days(-1, &y, &m, &d);
	assert_true(y == 1969 && m == 12 && d == 31);
	val_civil_from_days(-719528, &y, &m, &d);
	assert_true(y == 0 && m == 1 && d == 1);
}

/* Every form the callers write, byte for byte. */
static void format_timestamps(void **state)
{
	static const struct {
		int64_t t;
		unsigned flags;
		const char *suffix, *want;
	} cases[] = {
		/* the sqlite writer: microseconds since 2000 */
		{ 0, VAL_TS_PG_EPOCH, NULL, "2000-01-01 00:00:00.000000" },
		{ 0, VAL_TS_PG_EPOCH, "+00:00", "2000-01-01 00:00:00.000000+00:00" },
		{ -1, VAL_TS_PG_EPOCH, NULL, "1999-12-31 23:59:59.999999" },
		{ 762758096123456LL, VAL_TS_PG_EPOCH, NULL, "2024-03-03 05:14:56.123456" },
		{ 19782LL * 86400000000LL - 946684800000000LL, VAL_TS_PG_EPOCH | VAL_TS_DATE,
		  NULL, "2024-02-29" },
		{ -63082281600000000LL, VAL_TS_PG_EPOCH | VAL_TS_DATE, NULL, "0001-01-01" },
		{ 252455615999999999LL, VAL_TS_PG_EPOCH, NULL, "9999-12-31 23:59:59.999999" },
		/* verify's row text */
		{ 1, VAL_TS_PG_EPOCH, "+00", "2000-01-01 00:00:00.000001+00" },
		/* gen_sqlite: microseconds since 1970 */
		{ 1704067200250000LL, 0, NULL, "2024-01-01 00:00:00.250000" },
		{ -1, 0, NULL, "1969-12-31 23:59:59.999999" },
		/* influx: nanoseconds since 1970, fraction only when not zero */
		{ 1704067200000000000LL, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z",
		  "2024-01-01T00:00:00Z" },
		{ 1704067200000000001LL, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z",
		  "2024-01-01T00:00:00.000000001Z" },
		{ INT64_MIN, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z",
		  "1677-09-21T00:12:43.145224192Z" },
		{ INT64_MAX, VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT, "Z",
		  "2262-04-11T23:47:16.854775807Z" },
		{ INT64_MAX, VAL_TS_PG_EPOCH, NULL, "294277-01-09 04:00:54.775807" },
		{ INT64_MIN, VAL_TS_PG_EPOCH, NULL, "-290278-12-22 19:59:05.224192" },
	};
	char out[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = val_format_timestamp(out, sizeof(out), cases[i].t, cases[i].flags,
					     cases[i].suffix);

		assert_string_equal(out, cases[i].want);
		assert_int_equal(n, (int)strlen(cases[i].want));
	}
	/* a short buffer: truncated, terminated, the full length returned */
	assert_int_equal(val_format_timestamp(out, 11, 0, VAL_TS_PG_EPOCH, "+00"), 29);
	assert_string_equal(out, "2000-01-01");
}

/* ---- doubles --------------------------------------------------------------- */

/* The printf loop val_format_double always ran, as the reference for
 * its printf-free path. */
static void ref_format(double d, char *out, size_t n)
{
	int prec;

	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
}

/* Decimals of every length and scale, their neighbours one ulp away, and
 * random bit patterns: the same text as the printf loop, every time. */
static void format_double_fast(void **state)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	char got[64], want[64];
	long i;

	(void)state;
	for (i = 0; i < 400000; i++) {
		double d;
		uint64_t bits;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		switch (i % 4) {
		case 0:  /* m / 10^k: what SQLite reals of money and sensors hold */
			d = (double)(x % 1000000000000000ull >> (x % 40)) / pow(10, (double)(x >> 59));
			break;
		case 1:
			d = (double)(int64_t)(x % 2000001) / 100.0 - 10000.0;
			break;
		case 2:  /* a neighbour of a short decimal */
			d = nextafter((double)(x % 100000) / 1000.0, (x & 1) ? 1e300 : -1e300);
			break;
		default:
			bits = x;
			memcpy(&d, &bits, sizeof(d));
			if (isnan(d) || isinf(d))
				continue;
		}
		if (x & 2)
			d = -d;
		val_format_double(d, got, sizeof(got));
		ref_format(d, want, sizeof(want));
		if (strcmp(got, want))
			fail_msg("%.17g formats as '%s', the printf loop as '%s'", d, got, want);
	}
	val_format_double(1e-4, got, sizeof(got));
	assert_string_equal(got, "0.0001");
	val_format_double(-123.45, got, sizeof(got));
	assert_string_equal(got, "-123.45");
	val_format_double(999999999999999.0, got, sizeof(got));
	assert_string_equal(got, "999999999999999");
	val_format_double(1e15, got, sizeof(got));
	assert_string_equal(got, "1e+15");
}

static void format_double(void **state)
{
	static const double ds[] = { 0.0, -0.0, 0.1, 0.2, 0.3, 1.0 / 3.0, 0.1 + 0.2,
		1e308, -1e308, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308,
		123456789012345678.0, 9007199254740993.0, 1e21, 1e-7, 42.0 };
	char buf[64], *end;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(ds) / sizeof(ds[0]); i++) {
		n = val_format_double(ds[i], buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(buf));
		if (strtod(buf, &end) != ds[i] || *end || signbit(strtod(buf, NULL)) != signbit(ds[i]))
			fail_msg("%.17g formats as '%s', which does not round-trip", ds[i], buf);
	}
	val_format_double(0.1, buf, sizeof(buf));
	assert_string_equal(buf, "0.1");
	val_format_double(1e308, buf, sizeof(buf));
	assert_string_equal(buf, "1e+308");
	val_format_double(42.0, buf, sizeof(buf));
	assert_string_equal(buf, "42");
	val_format_double(NAN, buf, sizeof(buf));
	assert_string_equal(buf, "NaN");
	val_format_double(INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "Infinity");
	val_format_double(-INFINITY, buf, sizeof(buf));
	assert_string_equal(buf, "-Infinity");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(utf8_prefix),
		cmocka_unit_test(utf8_scrub),
		cmocka_unit_test(json_surrogates),
		cmocka_unit_test(json_deep_nesting),
		cmocka_unit_test(timestamps),
		cmocka_unit_test(dates),
		cmocka_unit_test(point_times),
		cmocka_unit_test(timestamp_ns_flags),
		cmocka_unit_test(point_time_modes),
		cmocka_unit_test(duration_modes),
		cmocka_unit_test(civil_days),
		cmocka_unit_test(format_timestamps),
		cmocka_unit_test(format_double),
		cmocka_unit_test(format_double_fast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
