/*
 * plan_default.c - a source column's default as PostgreSQL SQL: literals,
 * numbers, SQLite's CURRENT_* and strftime() forms; NULL when a default
 * has no faithful translation (the column then gets none, and a warning).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copy/planner.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "wire/sqltext.h"

static void squeeze(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s && k + 1 < n; s++)
		if (!isspace((unsigned char)*s))
			out[k++] = (char)tolower((unsigned char)*s);
	out[k] = '\0';
}

/* The text built in b, or NULL (b released, as for out of memory) when
 * an add to it failed (berr < 0): never a text cut short. */
static char *whole(struct ferry_buf *b, int berr)
{
	if (berr < 0) {
		ferry_buf_release(b);
		return NULL;
	}
	return ferry_buf_detach(b, NULL);
}

enum { NUM_NO, NUM_INT, NUM_REAL, NUM_HEX };

/* What SQLite takes as a numeric literal: decimal digits with an optional
 * sign, fraction and exponent, or a hexadecimal integer (0x10).  strtod()
 * alone also takes inf, nan and hex floats, which PostgreSQL does not. */
static int num_kind(const char *s)
{
	const char *p = s + (*s == '+' || *s == '-');
	int digits = 0, real = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		size_t n = strlen(p + 2);

		return n && n <= 16 && strspn(p + 2, "0123456789abcdefABCDEF") == n ? NUM_HEX
										     : NUM_NO;
	}
	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (real = 1, p++; isdigit((unsigned char)*p); p++)
			digits++;
	if (!digits)
		return NUM_NO;
	if (*p == 'e' || *p == 'E') {
		real = 1;
		p += 1 + (p[1] == '+' || p[1] == '-');
		if (!isdigit((unsigned char)*p))
			return NUM_NO;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return *p ? NUM_NO : real ? NUM_REAL : NUM_INT;
}

/*
 * Numeric literal lit (kind k) as a default of a column of cp->type, the
 * value SQLite would store: a hex integer in decimal (SQLite reads 0x10
 * as 16; PostgreSQL 15 refuses the form), a real that overflows a double
 * as Infinity (SQLite's 1e400); NULL when the column cannot hold it as
 * SQLite does (1.5 in an integer column stays 1.5 there, PostgreSQL would
 * round it).
 */
static char *num_default(const struct col_plan *cp, const char *lit, int k)
{
	char out[64];
	int is_int = cp->type == FERRY_T_INT64 || cp->type == FERRY_T_INT32 ||
		     cp->type == FERRY_T_INT16;

	if (k == NUM_HEX) {
		int neg = lit[0] == '-';
		uint64_t u = strtoull(lit + (lit[0] == '+' || neg) + 2, NULL, 16);
		int64_t v = (int64_t)u;  /* 64-bit two's complement, as SQLite */

		if (neg && v == INT64_MIN)
			return NULL;
		snprintf(out, sizeof(out), "%lld", (long long)(neg ? -v : v));
	} else if (k == NUM_INT && (is_int || cp->type == FERRY_T_BOOL)) {
		char *end;

		errno = 0;
		(void)strtoll(lit, &end, 10);
		if (errno)   /* SQLite makes it a real */
			return NULL;
		snprintf(out, sizeof(out), "%s", lit);
	} else {
		double d;
		int under;

		errno = 0;
		d = strtod(lit, NULL);
		under = errno == ERANGE && !isinf(d);  /* SQLite's 1e-400 is 0.0 */
		if (is_int) {
			if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
			    d != (double)(int64_t)d)
				return NULL;
			snprintf(out, sizeof(out), "%lld", (long long)(int64_t)d);
		} else if (isinf(d)) {
			return cp->type == FERRY_T_FLOAT64
				       ? ferry_strdup(d > 0 ? "'Infinity'::double precision"
							    : "'-Infinity'::double precision")
				       : NULL;
		} else if (cp->type == FERRY_T_FLOAT64 && under) {
			snprintf(out, sizeof(out), "%.17g", d);
		} else if (cp->type == FERRY_T_FLOAT64 || cp->type == FERRY_T_NUMERIC) {
			return ferry_strdup(lit);
		} else {
			snprintf(out, sizeof(out), "%.17g", d);
		}
	}
	if (cp->type == FERRY_T_BOOL)
		return !strcmp(out, "0") || !strcmp(out, "1") ?
		       ferry_strdup(out[0] == '1' ? "true" : "false") : NULL;
	if (cp->type == FERRY_T_TEXT || cp->type == FERRY_T_JSON || cp->type == FERRY_T_JSONB) {
		struct ferry_buf q = FERRY_BUF_INIT;

		return whole(&q, wire_sql_literal(&q, k == NUM_HEX ? out : lit));
	}
	if (cp->type == FERRY_T_BYTES || cp->type == FERRY_T_TIMESTAMP ||
	    cp->type == FERRY_T_TIMESTAMPTZ || cp->type == FERRY_T_DATE ||
	    cp->type == FERRY_T_UUID || cp->type == FERRY_T_TIME)
		return NULL;
	return ferry_strdup(out);
}

/* strftime format to to_char format, or NULL when a directive has no
 * equivalent. */
static char *strftime_to_char(const char *fmt)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	const char *p;

	for (p = fmt; *p; p++) {
		if (*p != '%') {
			if (*p == '"' || isalpha((unsigned char)*p)) {
				berr |= ferry_buf_addch(&b, '"');
				berr |= ferry_buf_addch(&b, *p);
				berr |= ferry_buf_addch(&b, '"');
			} else {
				berr |= ferry_buf_addch(&b, *p);
			}
			continue;
		}
		switch (*++p) {
		case 'Y': berr |= ferry_buf_addstr(&b, "YYYY"); break;
		case 'm': berr |= ferry_buf_addstr(&b, "MM"); break;
		case 'd': berr |= ferry_buf_addstr(&b, "DD"); break;
		case 'H': berr |= ferry_buf_addstr(&b, "HH24"); break;
		case 'M': berr |= ferry_buf_addstr(&b, "MI"); break;
		case 'S': berr |= ferry_buf_addstr(&b, "SS"); break;
		case 'f': berr |= ferry_buf_addstr(&b, "SS.MS"); break;
		case 'j': berr |= ferry_buf_addstr(&b, "DDD"); break;
		case '%': berr |= ferry_buf_addch(&b, '%'); break;
		default:
			ferry_buf_release(&b);
			return NULL;
		}
	}
	return whole(&b, berr);
}

/* SQLite's CURRENT_TIMESTAMP, CURRENT_DATE and CURRENT_TIME are UTC: a
 * column without a time zone gets UTC's wall clock, not the session's. */
static const char *utc_now(int type)
{
	switch (type) {
	case FERRY_T_TIMESTAMPTZ: return "CURRENT_TIMESTAMP";
	case FERRY_T_DATE: return "((now() AT TIME ZONE 'UTC')::date)";
	case FERRY_T_TIME: return "((now() AT TIME ZONE 'UTC')::time(0))";
	default: return "(now() AT TIME ZONE 'UTC')";
	}
}

/* Translate a SQLite default for a column of type cp->type; NULL when it
 * cannot be (the caller warns and drops it). */
char *plan_translate_default(const struct col_plan *cp, const char *d)
{
	int berr = 0;
	struct ferry_buf b = FERRY_BUF_INIT;
	char sq[512];
	const char *v = d;
	int is_time = cp->type == FERRY_T_TIMESTAMP || cp->type == FERRY_T_TIMESTAMPTZ;

	squeeze(d, sq, sizeof(sq));
	/* strip one level of parentheses: DEFAULT (0) */
	while (sq[0] == '(' && sq[strlen(sq) - 1] == ')') {
		memmove(sq, sq + 1, strlen(sq));
		sq[strlen(sq) - 1] = '\0';
	}
	if (!strcmp(sq, "null"))
		return NULL;
	if (!strcmp(sq, "current_timestamp") || !strcmp(sq, "datetime('now')") ||
	    !strcmp(sq, "datetime(\"now\")")) {
		if (is_time || cp->type == FERRY_T_DATE)
			return ferry_strdup(utc_now(cp->type));
		if (cp->type == FERRY_T_TEXT)
			return ferry_strdup("to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')");
		return NULL;
	}
	if (!strcmp(sq, "datetime('now','localtime')") && is_time)
		return ferry_strdup("LOCALTIMESTAMP");
	if (!strcmp(sq, "current_date") || !strcmp(sq, "date('now')")) {
		if (cp->type == FERRY_T_DATE || is_time)
			return ferry_strdup(cp->type == FERRY_T_TIMESTAMPTZ ?
					    "date_trunc('day', now(), 'UTC')" : utc_now(FERRY_T_DATE));
		if (cp->type == FERRY_T_TEXT)
			return ferry_strdup("to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
		return NULL;
	}
	if (!strcmp(sq, "current_time"))
		return cp->type == FERRY_T_TIME ? ferry_strdup(utc_now(FERRY_T_TIME)) :
		       cp->type == FERRY_T_TEXT ?
		       ferry_strdup("to_char(now() AT TIME ZONE 'UTC', 'HH24:MI:SS')") : NULL;
	if (!strcmp(sq, "strftime('%s','now')")) {
		if (cp->type == FERRY_T_INT64 || cp->type == FERRY_T_INT32)
			return ferry_strdup("(extract(epoch FROM now())::bigint)");
		if (cp->type == FERRY_T_FLOAT64 || cp->type == FERRY_T_NUMERIC)
			return ferry_strdup("floor(extract(epoch FROM now()))");
		if (cp->type == FERRY_T_TEXT)
			return ferry_strdup("(extract(epoch FROM now())::bigint)::text");
		return NULL;
	}
	if (!strcmp(sq, "(julianday('now')-2440587.5)*86400.0") ||
	    !strcmp(sq, "(julianday('now')-2440587.5)*86400")) {
		if (cp->type == FERRY_T_FLOAT64 || cp->type == FERRY_T_NUMERIC)
			return ferry_strdup("extract(epoch FROM clock_timestamp())::double precision");
		return NULL;
	}
	if (!strncmp(sq, "strftime('", 10) && strstr(sq, "','now')")) {
		/* strftime('<fmt>', 'now'): the format from the original text */
		const char *q1 = strchr(d, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
		char fmt[256];
		char *tc;

		if (!q2 || (size_t)(q2 - q1) >= sizeof(fmt))
			return NULL;
		memcpy(fmt, q1 + 1, (size_t)(q2 - q1 - 1));
		fmt[q2 - q1 - 1] = '\0';
		if (is_time)
			return ferry_strdup(utc_now(cp->type));
		if (cp->type != FERRY_T_TEXT || !(tc = strftime_to_char(fmt)))
			return NULL;
		berr |= ferry_buf_addstr(&b, "to_char(now() AT TIME ZONE 'UTC', ");
		berr |= wire_sql_literal(&b, tc);
		berr |= ferry_buf_addch(&b, ')');
		ferry_free(tc);
		return whole(&b, berr);
	}
	/* literals */
	while (*v == '(' || isspace((unsigned char)*v))
		v++;
	{
		char lit[512];
		size_t n = strlen(v);

		while (n && (v[n - 1] == ')' || isspace((unsigned char)v[n - 1])))
			n--;
		if (n >= sizeof(lit))
			return NULL;
		memcpy(lit, v, n);
		lit[n] = '\0';
		int nk = num_kind(lit);

		if (nk != NUM_NO)
			return num_default(cp, lit, nk);
		if (!strcasecmp(lit, "true") || !strcasecmp(lit, "false"))
			return cp->type == FERRY_T_BOOL ? ferry_strdup(lit) :
			       (cp->type == FERRY_T_INT64 || cp->type == FERRY_T_INT32 ||
				cp->type == FERRY_T_INT16) ?
			       ferry_strdup(!strcasecmp(lit, "true") ? "1" : "0") : NULL;
		if (n >= 2 && lit[0] == '\'' && lit[n - 1] == '\'') {
			/* a single-quoted SQLite string is the same in PostgreSQL;
			 * make sure the target type takes it */
			char inner[512];
			size_t i, k = 0;
			int32_t days;
			int64_t us;
			int tz, bv;

			for (i = 1; i + 1 < n; i++) {
				inner[k++] = lit[i];
				if (lit[i] == '\'')
					i++;
			}
			inner[k] = '\0';
			if ((cp->type == FERRY_T_DATE && !val_parse_date(inner, k, &days)) ||
			    (is_time && !val_parse_timestamp(inner, k, &us, &tz, 1)) ||
			    (cp->type == FERRY_T_BOOL && !val_parse_bool(inner, k, &bv)) ||
			    ((cp->type == FERRY_T_JSON || cp->type == FERRY_T_JSONB) &&
			     !val_json_ok(inner, k, 1)))
				return NULL;
			if (cp->type == FERRY_T_INT64 || cp->type == FERRY_T_FLOAT64 ||
			    cp->type == FERRY_T_NUMERIC) {
				/* SQLite's affinity makes '12' a number, not '0x10' */
				int ik = num_kind(inner);

				return ik == NUM_INT || ik == NUM_REAL ? num_default(cp, inner, ik)
								       : NULL;
			}
			if (cp->type == FERRY_T_BYTES)
				return NULL;
			return ferry_strdup(lit);
		}
		if ((lit[0] == 'x' || lit[0] == 'X') && lit[1] == '\'' && cp->type == FERRY_T_BYTES) {
			berr |= ferry_buf_addstr(&b, "'\\x");
			berr |= ferry_buf_add(&b, lit + 2, n - 3);
			berr |= ferry_buf_addstr(&b, "'::bytea");
			return whole(&b, berr);
		}
	}
	return NULL;
}
