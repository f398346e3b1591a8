/*
 * values.c - what a CSV cell holds, for the csv:// source: strict integers,
 * decimal floats (NaN/Inf told apart), booleans, text that must be UTF-8
 * without NUL, and the time parser (ISO 8601 or an integer in a precision).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "model/value.h"
#include "tsmap/sources/csv/csv_int.h"

void csv_trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Strict signed decimal integer; 0 ok, -1 not an integer, -2 overflow. */
int csv_parse_i64(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0, lim;

	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (lim - d) / 10) {
			for (i++; i < n; i++)
				if ((unsigned char)s[i] - '0' > 9)
					return -1;
			return -2;
		}
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* Decimal float syntax: [+-](digits[.digits]|.digits)[(e|E)[+-]digits]. */
static int is_decimal(const char *s, size_t n)
{
	size_t i = 0, d = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, d++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, d++;
	}
	if (!d)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return 0;
	}
	return i == n;
}

static int is_special(const char *s, size_t n)
{
	if (n && (s[0] == '+' || s[0] == '-')) {
		s++;
		n--;
	}
	return (n == 3 && (!strncasecmp(s, "nan", 3) || !strncasecmp(s, "inf", 3))) ||
	       (n == 8 && !strncasecmp(s, "infinity", 8));
}

int csv_parse_bool(const char *s, size_t n, int *b)
{
	if (n == 4 && !strncasecmp(s, "true", 4))
		return *b = 1, 0;
	if (n == 5 && !strncasecmp(s, "false", 5))
		return *b = 0, 0;
	return -1;
}

/* 0 and *d finite, -1 not a number, -2 NaN/Inf or out of range. */
int csv_parse_double(const char *s, size_t n, double *d)
{
	char tmp[128];

	if (!is_decimal(s, n))
		return is_special(s, n) ? -2 : -1;
	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	*d = strtod(tmp, NULL);
	return isfinite(*d) ? 0 : -2;
}

unsigned csv_classify(const char *s, size_t n, int quoted_is_text, int quoted)
{
	int64_t i;
	int b;

	if (quoted && quoted_is_text)
		return K_TEXT;
	csv_trim(&s, &n);
	switch (csv_parse_i64(s, n, &i)) {
	case 0: return K_INT;
	case -2: return K_FLOAT;
	}
	if (is_decimal(s, n))
		return K_FLOAT;
	if (is_special(s, n))
		return K_SPECIAL;
	if (!csv_parse_bool(s, n, &b))
		return K_BOOL;
	return K_TEXT;
}

/* 0 valid UTF-8 without NUL, 1 has NUL, 2 invalid UTF-8: the answer of
 * model's one validator, at the first bad byte. */
int csv_check_text(const char *s, size_t n)
{
	size_t k = val_utf8_prefix(s, n, 0, NULL);

	/* the validator stops at a NUL only when it starts a character (as
	 * a continuation byte it is invalid UTF-8, here as before) */
	return k == n ? 0 : s[k] == '\0' ? 1 : 2;
}

/* ---- time ---------------------------------------------------------------- */

/* Integers in the column's precision here; text times are model's one
 * timestamp grammar in its nanosecond, lax dialect (IoTDB writes 't',
 * ',' fractions and offsets past 15 h). */
int csv_time_parse(const char *s, size_t n, enum lp_precision prec, int64_t *ns)
{
	int64_t v;
	int rc, tz;

	csv_trim(&s, &n);
	if (!n)
		return FERRY_EREJECT;
	rc = csv_parse_i64(s, n, &v);
	if (rc == 0)
		return lp_ts_to_ns(v, prec, ns);
	if (rc == -2)
		return FERRY_EREJECT;
	if (!val_parse_timestamp_ns(s, n, VAL_TSP_NS | VAL_TSP_LAX, &v, &tz))
		return FERRY_EREJECT;
	*ns = v;
	return 0;
}
