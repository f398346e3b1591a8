/*
 * value.h - the one owner of the value helpers every layer above model
 * shares (prefix val_): UTF-8 validation, dates and timestamps, the
 * RFC 3339 / nanosecond times and durations of the point layer, booleans,
 * JSON validation and the shortest round-trip text of a double.
 *
 * Library-internal (not in include/ferry): the copy transform, the
 * planner's pre-scan, the point layer (tsmap and its sources), verify and
 * rewrite call these instead of keeping their own copies, so a value means
 * the same thing wherever it is read.  Nothing here allocates or does I/O;
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

/* ---- dates and times ---- */

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
int64_t val_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|(+|-)HH[:MM]] (trailing spaces
 * ignored) -> microseconds since 2000-01-01 00:00 UTC in *us; *has_tz says
 * whether an offset or Z was given.  A bare date only when date_only_ok.
 * Fraction digits past the sixth must be zero (anything else would be
 * silently rounded).  Years 0001-9999.  1 when parsed, else 0.
 */
int val_parse_timestamp(const char *s, size_t n, int64_t *us, int *has_tz,
			int date_only_ok);
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

/* "90s", "1h", "7d", "500ms", "2w" (ns us ms s m h d w; a bare positive
 * integer is seconds) -> ns.  0 or FERRY_EINVAL. */
int val_parse_duration(const char *s, int64_t *ns);

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

#endif
