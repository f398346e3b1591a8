/*
 * value.h - the one owner of the value helpers every layer above model
 * shares (prefix val_): UTF-8 validation, dates and timestamps, the
 * RFC 3339 / nanosecond times and durations of the point layer, booleans,
 * JSON validation and the shortest round-trip text of a double.
 *
 * Library-internal (not in include/ferry): the copy transform, the
 * planner's pre-scan, the point layer (tsmap and its sources), verify and
 * rewrite call these instead of keeping their own copies, so a value means
 * the same thing wherever it is read.  Nothing here does I/O or allocates
 * (but val_parse_duration_mode() on text over 127 bytes);
 * every parser takes a length and never reads past it.
 */
#ifndef FERRY_MODEL_VALUE_H
#define FERRY_MODEL_VALUE_H

#include <stddef.h>
#include <stdint.h>

/* ---- UTF-8 ---- */

/*
 * Length of the longest valid UTF-8 prefix of s[0..n): n when all of it
 * is valid.  Overlong forms, surrogates and code points past U+10FFFF are
 * invalid, and so is a NUL byte unless nul_ok.  When the result is short
 * of n, *reason (if not NULL) says why: "NUL byte in text" or
 * "invalid UTF-8".
 */
size_t val_utf8_prefix(const char *s, size_t n, int nul_ok, const char **reason);

/* 1 when s[0..n) is valid UTF-8 without a NUL byte, else 0 with *reason
 * set (see val_utf8_prefix). */
int val_utf8_ok(const char *s, size_t n, const char **reason);

/* s[0..n) made text in place: each byte that is not part of valid UTF-8
 * (a NUL, a sequence cut short by a fixed-size message) becomes '?', so
 * that a message holding what a client or a server sent stays JSON. */
void val_utf8_scrub(char *s, size_t n);

/* ---- dates and times ---- */

/* a / b rounded toward minus infinity (b != 0): the window, bucket or
 * day a time before 1970 falls in, where C's division rounds to zero. */
int64_t val_floor_div(int64_t a, int64_t b);

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian).  Linear in d, so
 * a day past the month's end counts on into the next month. */
int64_t val_days_from_civil(int64_t y, unsigned m, unsigned d);

/* The inverse: days since 1970-01-01 -> year, month 1-12, day 1-31. */
void val_civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d);

/* val_format_timestamp() flags */
#define VAL_TS_NS        0x01  /* t counts nanoseconds (else microseconds) */
#define VAL_TS_PG_EPOCH  0x02  /* t counts from 2000-01-01 (else 1970-01-01) */
#define VAL_TS_T         0x04  /* 'T' between date and time (else ' ') */
#define VAL_TS_FRAC_OPT  0x08  /* the fraction only when it is not zero */
#define VAL_TS_DATE      0x10  /* the date alone: YYYY-MM-DD */

/*
 * The one timestamp formatter: t (UTC) as YYYY-MM-DD(T| )HH:MM:SS.ffffff
 * (nine fraction digits with VAL_TS_NS), then suffix ("Z", "+00:00", ...;
 * NULL for none).  The year is written "%04lld" (more digits or a minus
 * sign outside 0000-9999); every t of the int64 range is formatted.
 * snprintf's contract: returns the length it wanted, out is truncated
 * and NUL-terminated when cap is short.
 */
int val_format_timestamp(char *out, size_t cap, int64_t t, unsigned flags,
			 const char *suffix);

/*
 * YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|(+|-)HH[:MM]] (trailing spaces
 * ignored) -> microseconds since 2000-01-01 00:00 UTC in *us; *has_tz says
 * whether an offset or Z was given.  A bare date only when date_only_ok.
 * Fraction digits past the sixth must be zero (anything else would be
 * silently rounded).  Years 0001-9999.  1 when parsed, else 0.
 */
int val_parse_timestamp(const char *s, size_t n, int64_t *us, int *has_tz,
			int date_only_ok);
/* val_parse_timestamp_ns() flags */
#define VAL_TSP_NS   0x01  /* up to nine fraction digits, a tenth refused */
#define VAL_TSP_LAX  0x02  /* IoTDB/CSV exports: also a 't' separator, a ','
			    * before the fraction, year 0000, offsets to 23 h */

/*
 * The grammar of val_parse_timestamp() (a bare date allowed) with flags,
 * -> nanoseconds since 1970 (an offset applied; none is UTC).  Without
 * VAL_TSP_NS, fraction digits past the sixth must be zero.  1, or 0 when
 * it is no timestamp or out of the int64 range.
 */
int val_parse_timestamp_ns(const char *s, size_t n, unsigned flags, int64_t *ns,
			   int *has_tz);

/* YYYY-MM-DD (trailing spaces ignored) -> days since 2000-01-01; 1 or 0. */
int val_parse_date(const char *s, size_t n, int32_t *days);
/* HH:MM[:SS[.ffffff]] -> microseconds since midnight; 1 or 0. */
int val_parse_time_of_day(const char *s, size_t n, int64_t *us);

/*
 * A point time (--start/--end of a time-series source): signed integer
 * nanoseconds since 1970, or a val_parse_timestamp() time (date only
 * allowed, no offset = UTC) with up to nine fraction digits (a tenth one
 * and on must be zero) -> nanoseconds since 1970.  0 or FERRY_EINVAL.
 */
int val_parse_time_ns(const char *s, int64_t *ns);

/* val_parse_time_ns_mode() modes (bits) */
#define VAL_TIME_TRUNC    0x01  /* fraction digits past the ninth are dropped
				 * (else they must be zero) */
#define VAL_TIME_RFC3339  0x02  /* only YYYY-MM-DDTHH:MM:SS[.f]Z, as InfluxDB
				 * writes its times: no integer, no date alone,
				 * no offset; a '.' without digits is taken */

/* val_parse_time_ns() of s[0..n) (no NUL needed) with the mode bits above;
 * mode 0 is val_parse_time_ns(). */
int val_parse_time_ns_mode(const char *s, size_t n, unsigned mode, int64_t *ns);

/* "90s", "1h", "7d", "500ms", "2w" (ns us ms s m h d w; a bare positive
 * integer is seconds) -> ns.  0 or FERRY_EINVAL. */
int val_parse_duration(const char *s, int64_t *ns);
/* ns > 0 as val_parse_duration() reads it back: a whole number of the
 * largest of its units that divides it ("90s", "36h", "2w"). */
void val_format_duration(int64_t ns, char *buf, size_t n);

/* val_parse_duration_mode() modes */
#define VAL_DUR_GO  0x01  /* Go's time.Duration text as InfluxDB prints it
			   * ("168h0m0s", "1h30m", "0s"): one or more
			   * <digits><unit>, units ns us (or U+00B5 s) ms s m h, zero
			   * allowed, no bare number, no d or w */

#define VAL_DUR_DECIMAL 0x02 /* `ferry generate --duration`: a positive decimal
			   * number (strtod: fraction, exponent) of ms, s,
			   * m or min, h, d, w, y (365 d), a bare number is
			   * seconds; the result in MICROseconds, truncated,
			   * 1 us to 1e17 us (past int64 nanoseconds) */

/* val_parse_duration() of s[0..n) with a mode; mode 0 is
 * val_parse_duration().  *out is in nanoseconds, except for
 * VAL_DUR_DECIMAL (microseconds).  0, FERRY_EINVAL, or FERRY_ENOMEM for
 * text over 127 bytes when its copy cannot be allocated. */
int val_parse_duration_mode(const char *s, size_t n, unsigned mode, int64_t *out);

/* ---- other values ---- */

/* t true 1 yes y on / f false 0 no n off, any case; 1 with *v, else 0. */
int val_parse_bool(const char *s, size_t n, int *v);

/* 1 when s[0..n) is one strict JSON value (valid UTF-8, nesting at most
 * 1000 deep); for_jsonb also refuses \u0000 and unpaired surrogates, as
 * PostgreSQL's jsonb does. */
int val_json_ok(const char *s, size_t n, int for_jsonb);

/* The shortest text ("%.15g" to "%.17g") that reads back as the same
 * double; NaN, Infinity, -Infinity.  Returns the length written to out. */
int val_format_double(double d, char *out, size_t n);

/* 1 when a double holds v exactly (every integer up to 2^53 in size, and
 * larger ones with enough trailing zero bits: 2^53+2, 2^60, -2^63), else
 * 0.  2^63 (2^64) is no int64 (uint64): the cast back would be undefined. */
int val_int_fits_double(int64_t v);
int val_uint_fits_double(uint64_t v);

#endif
