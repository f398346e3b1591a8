/*
 * transform.c - exact conversion of source cells to target columns.
 *
 * This is where "never lose a value" is enforced.  Each conversion either
 * produces a value that means exactly what the source meant ('7' into an
 * integer column is 7, an integer into a double column only when the
 * double holds it exactly) or rejects the row with a reason.  Cells are
 * converted in place; new bytes go to the batch arena, so nothing here
 * allocates per value.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "copy/copy_int.h"
#include "ferry/buf.h"

/* ---- parsers ----------------------------------------------------------- */

int xf_utf8_ok(const char *s, size_t n, const char **reason)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;

	while (p < e) {
		unsigned c;

		/* eight ASCII bytes without a NUL at a time: most text is that */
		while (e - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if ((w & 0x8080808080808080ULL) ||
			    ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL))
				break;
			p += 8;
		}
		if (p == e)
			break;
		c = *p;
		if (c < 0x80) {
			if (c == 0) {
				*reason = "NUL byte in text";
				return 0;
			}
			p++;
			continue;
		}
		{
			size_t need;
			unsigned cp, k;

			if (c >= 0xC2 && c <= 0xDF) {
				need = 1;
				cp = c & 0x1F;
			} else if (c >= 0xE0 && c <= 0xEF) {
				need = 2;
				cp = c & 0x0F;
			} else if (c >= 0xF0 && c <= 0xF4) {
				need = 3;
				cp = c & 0x07;
			} else {
				*reason = "invalid UTF-8";
				return 0;
			}
			if ((size_t)(e - p) <= need) {
				*reason = "invalid UTF-8";
				return 0;
			}
			for (k = 1; k <= need; k++) {
				if ((p[k] & 0xC0) != 0x80) {
					*reason = "invalid UTF-8";
					return 0;
				}
				cp = cp << 6 | (p[k] & 0x3F);
			}
			if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			    (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))) {
				*reason = "invalid UTF-8";
				return 0;
			}
			p += need + 1;
		}
	}
	return 1;
}

static size_t utf8_chars(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			k++;
	return k;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, H. Hinnant). */
int64_t xf_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int mdays(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return md[m - 1];
}

static int digits(const char *s, size_t n, size_t *i, int count, int *out)
{
	int v = 0, k;

	for (k = 0; k < count; k++, (*i)++) {
		if (*i >= n || !isdigit((unsigned char)s[*i]))
			return 0;
		v = v * 10 + (s[*i] - '0');
	}
	*out = v;
	return 1;
}

/*
 * YYYY-MM-DD[( |T)HH:MM[:SS[.ffffff]]][Z|(+|-)HH[:MM]] -> microseconds
 * since 2000-01-01 00:00 UTC.  Fraction digits past the sixth must be
 * zero (anything else would be silently rounded).  Years 0001-9999.
 */
int xf_parse_timestamp(const char *s, size_t n, int64_t *us, int *has_tz,
		       int date_only_ok)
{
	size_t i = 0;
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0, fd = 0;
	int64_t off = 0, v;

	*has_tz = 0;
	while (n && s[n - 1] == ' ')
		n--;
	if (!digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &d))
		return 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo))
		return 0;
	if (i == n) {
		if (!date_only_ok)
			return 0;
		goto done;
	}
	if (s[i] != ' ' && s[i] != 'T')
		return 0;
	i++;
	if (!digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
	    !digits(s, n, &i, 2, &mi))
		return 0;
	if (i < n && s[i] == ':') {
		i++;
		if (!digits(s, n, &i, 2, &sec))
			return 0;
		if (i < n && s[i] == '.') {
			i++;
			if (i >= n || !isdigit((unsigned char)s[i]))
				return 0;
			while (i < n && isdigit((unsigned char)s[i])) {
				if (fd < 6)
					frac = frac * 10 + (s[i] - '0');
				else if (s[i] != '0')
					return 0;  /* sub-microsecond precision */
				fd++;
				i++;
			}
			while (fd < 6) {
				frac *= 10;
				fd++;
			}
		}
	}
	if (h > 23 || mi > 59 || sec > 59)
		return 0;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		*has_tz = 1;
		i++;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1, oh, om = 0;

		i++;
		if (!digits(s, n, &i, 2, &oh))
			return 0;
		if (i < n && s[i] == ':')
			i++;
		if (i < n && !digits(s, n, &i, 2, &om))
			return 0;
		if (oh > 15 || om > 59)
			return 0;
		off = sign * ((int64_t)oh * 3600 + om * 60);
		*has_tz = 1;
	}
	if (i != n)
		return 0;
done:
	v = (xf_days_from_civil(y, (unsigned)mo, (unsigned)d) - 10957) * 86400LL +
	    h * 3600LL + mi * 60LL + sec - off;
	*us = v * 1000000LL + frac;
	return 1;
}

int xf_parse_date(const char *s, size_t n, int32_t *days)
{
	size_t i = 0;
	int y, mo, d;

	while (n && s[n - 1] == ' ')
		n--;
	if (!digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &d) || i != n)
		return 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo))
		return 0;
	*days = (int32_t)(xf_days_from_civil(y, (unsigned)mo, (unsigned)d) - 10957);
	return 1;
}

static int parse_time(const char *s, size_t n, int64_t *us)
{
	size_t i = 0;
	int h, mi, sec = 0, frac = 0, fd = 0;

	if (!digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
	    !digits(s, n, &i, 2, &mi))
		return 0;
	if (i < n && s[i] == ':') {
		i++;
		if (!digits(s, n, &i, 2, &sec))
			return 0;
		if (i < n && s[i] == '.') {
			for (i++; i < n && isdigit((unsigned char)s[i]); i++, fd++) {
				if (fd < 6)
					frac = frac * 10 + (s[i] - '0');
				else if (s[i] != '0')
					return 0;
			}
		}
		for (; fd < 6; fd++)
			frac *= 10;
	}
	if (i != n || h > 23 || mi > 59 || sec > 59)
		return 0;
	*us = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000LL + frac;
	return 1;
}

int xf_parse_bool(const char *s, size_t n, int *v)
{
	static const struct { const char *w; int v; } words[] = {
		{ "t", 1 }, { "true", 1 }, { "1", 1 }, { "yes", 1 }, { "y", 1 }, { "on", 1 },
		{ "f", 0 }, { "false", 0 }, { "0", 0 }, { "no", 0 }, { "n", 0 }, { "off", 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].w) == n && !strncasecmp(s, words[i].w, n)) {
			*v = words[i].v;
			return 1;
		}
	return 0;
}

/* ---- a strict JSON validator (no tree, no allocation) ------------------ */

struct jv {
	const char *p, *e;
	int jsonb;
	int depth;
};

static void jws(struct jv *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
			       *j->p == '\r'))
		j->p++;
}

static int jvalue(struct jv *j);

/* p points at the 'u' of a \uXXXX escape: 1 with the code unit in *u,
 * or 0 when the escape is malformed. */
static int jhex4(const char *p, const char *e, unsigned *u)
{
	int k;

	if (e - p < 5 || p[0] != 'u')
		return 0;
	*u = 0;
	for (k = 1; k <= 4; k++) {
		unsigned char c = (unsigned char)p[k];

		if (!isxdigit(c))
			return 0;
		*u = *u << 4 | (unsigned)(isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return 1;
}

static int jstring(struct jv *j)
{
	j->p++;
	while (j->p < j->e) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return 1;
		}
		if (c < 0x20)
			return 0;
		if (c == '\\') {
			j->p++;
			if (j->p >= j->e)
				return 0;
			if (*j->p == 'u') {
				unsigned u;

				if (!jhex4(j->p, j->e, &u))
					return 0;
				j->p += 5;
				/* jsonb cannot store U+0000 and, unlike json, refuses
				 * a UTF-16 surrogate that is not part of a pair */
				if (j->jsonb && u == 0)
					return 0;
				if (j->jsonb && u >= 0xDC00 && u <= 0xDFFF)
					return 0;
				if (j->jsonb && u >= 0xD800 && u <= 0xDBFF) {
					unsigned lo;

					if (j->e - j->p < 6 || j->p[0] != '\\' ||
					    !jhex4(j->p + 1, j->e, &lo) ||
					    lo < 0xDC00 || lo > 0xDFFF)
						return 0;
					j->p += 6;
				}
				continue;
			}
			if (!strchr("\"\\/bfnrt", *j->p))
				return 0;
		}
		j->p++;
	}
	return 0;
}

static int jnumber(struct jv *j)
{
	const char *s = j->p;

	if (j->p < j->e && *j->p == '-')
		j->p++;
	if (j->p >= j->e || !isdigit((unsigned char)*j->p))
		return 0;
	if (*j->p == '0')
		j->p++;
	else
		while (j->p < j->e && isdigit((unsigned char)*j->p))
			j->p++;
	if (j->p < j->e && *j->p == '.') {
		j->p++;
		if (j->p >= j->e || !isdigit((unsigned char)*j->p))
			return 0;
		while (j->p < j->e && isdigit((unsigned char)*j->p))
			j->p++;
	}
	if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (j->p >= j->e || !isdigit((unsigned char)*j->p))
			return 0;
		while (j->p < j->e && isdigit((unsigned char)*j->p))
			j->p++;
	}
	return j->p > s;
}

static int jword(struct jv *j, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(j->e - j->p) < n || strncmp(j->p, w, n))
		return 0;
	j->p += n;
	return 1;
}

static int jcontainer(struct jv *j, char close)
{
	int first = 1;

	if (++j->depth > 1000)
		return 0;
	j->p++;
	for (;;) {
		jws(j);
		if (j->p < j->e && *j->p == close && first) {
			j->p++;
			break;
		}
		if (close == '}') {
			if (j->p >= j->e || *j->p != '"' || !jstring(j))
				return 0;
			jws(j);
			if (j->p >= j->e || *j->p++ != ':')
				return 0;
		}
		if (!jvalue(j))
			return 0;
		jws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			first = 0;
			jws(j);
			continue;
		}
		if (j->p < j->e && *j->p == close) {
			j->p++;
			break;
		}
		return 0;
	}
	j->depth--;
	return 1;
}

static int jvalue(struct jv *j)
{
	jws(j);
	if (j->p >= j->e)
		return 0;
	switch (*j->p) {
	case '{': return jcontainer(j, '}');
	case '[': return jcontainer(j, ']');
	case '"': return jstring(j);
	case 't': return jword(j, "true");
	case 'f': return jword(j, "false");
	case 'n': return jword(j, "null");
	default: return jnumber(j);
	}
}

int xf_json_ok(const char *s, size_t n, int for_jsonb)
{
	struct jv j = { s, s + n, for_jsonb, 0 };
	const char *reason;

	if (!xf_utf8_ok(s, n, &reason) || !jvalue(&j))
		return 0;
	jws(&j);
	return j.p == j.e;
}

int xf_format_double(double d, char *out, size_t n)
{
	int prec;

	if (isnan(d))
		return snprintf(out, n, "NaN");
	if (isinf(d))
		return snprintf(out, n, d > 0 ? "Infinity" : "-Infinity");
	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, n, "%.*g", prec, d);
		if (strtod(out, NULL) == d)
			break;
	}
	return (int)strlen(out);
}

/* ---- numeric ----------------------------------------------------------- */

/*
 * Normalize decimal text (optional sign, digits, optional fraction,
 * optional exponent) to plain "-123.45" form in out.  Returns 0 when s is
 * not a decimal number.  The digit count is bounded (1000) so the
 * encoder's fixed buffers always hold the value.
 */
static int normalize_decimal(const char *s, size_t n, struct ferry_buf *out,
			     int *int_digits, int *frac_digits)
{
	char mant[1100];
	size_t i = 0, nm = 0;
	int neg = 0, dot = -1, exp = 0, point, k;

	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	for (; i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'); i++) {
		if (s[i] == '.') {
			if (dot >= 0)
				return 0;
			dot = (int)nm;
			continue;
		}
		if (nm >= 1000)
			return 0;
		mant[nm++] = s[i];
	}
	if (nm == 0)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		/* Parse within n: s is a cell in the batch arena, not a C
		 * string, and the next cell's bytes follow it directly. */
		int eneg = 0, e = 0;
		size_t start;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (start = i; i < n && isdigit((unsigned char)s[i]); i++) {
			e = e * 10 + (s[i] - '0');
			if (e > 1000)
				return 0;
		}
		if (i == start)
			return 0;
		exp = eneg ? -e : e;
	}
	if (i != n)
		return 0;
	point = (dot < 0 ? (int)nm : dot) + exp;  /* digits before the point */
	/* integer part */
	if (neg)
		ferry_buf_addch(out, '-');
	*int_digits = 0;
	if (point <= 0) {
		ferry_buf_addch(out, '0');
	} else {
		int started = 0;

		for (k = 0; k < point; k++) {
			char c = k < (int)nm ? mant[k] : '0';

			if (c == '0' && !started && k < point - 1)
				continue;
			started = 1;
			ferry_buf_addch(out, c);
			(*int_digits)++;
		}
		if (*int_digits == 1 && out->buf[out->len - 1] == '0')
			*int_digits = 0;
	}
	*frac_digits = 0;
	if ((int)nm > point) {
		ferry_buf_addch(out, '.');
		for (k = point; k < (int)nm; k++) {
			ferry_buf_addch(out, k < 0 ? '0' : mant[k]);
			(*frac_digits)++;
		}
	}
	return out->len < 2100;
}

/* Keep the decimal text as written but check it fits numeric(p,s). */
static int numeric_fits(int32_t typmod, int int_digits, int frac_digits,
			const char *txt, size_t n)
{
	int p, s, k, nz_frac = frac_digits;

	if (typmod < 0)
		return 1;
	p = typmod >> 16;
	s = typmod & 0xFFFF;
	/* trailing zeros in the fraction are not lost precision */
	for (k = (int)n - 1; k >= 0 && nz_frac > 0 && txt[k] == '0'; k--)
		nz_frac--;
	return nz_frac <= s && int_digits <= p - s;
}

/* ---- the conversions --------------------------------------------------- */

static int set_text(struct ferry_batch *b, struct ferry_cell *c, const char *s,
		    size_t n)
{
	return ferry_cell_set_bytes(b, c, FERRY_V_TEXT, s, n);
}

static int parse_int64_text(const char *s, size_t n, int64_t *v)
{
	char tmp[32], *end;
	size_t i = 0;

	if (n == 0 || n >= sizeof(tmp))
		return 0;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (tmp[0] == '+' || tmp[0] == '-')
		i++;
	if (!tmp[i])
		return 0;
	for (; tmp[i]; i++)
		if (!isdigit((unsigned char)tmp[i]))
			return 0;
	errno = 0;
	*v = strtoll(tmp, &end, 10);
	return errno == 0 && *end == '\0';
}

/* Does a microsecond count survive timestamp(p)/time(p) unrounded?
 * typmod is the precision 0..5, or -1 (or 6) for full microseconds. */
static int fits_precision(int64_t us, int32_t typmod)
{
	static const int64_t unit[] = { 1000000, 100000, 10000, 1000, 100, 10 };

	return typmod < 0 || typmod > 5 || us % unit[typmod] == 0;
}

/* 1, or 0 with the reason when cp's precision (timestamp(p), time(p))
 * cannot keep every fractional digit of us. */
static int precision_ok(int64_t us, const struct col_plan *cp, char *reason, size_t rn)
{
	if (fits_precision(us, cp->typmod))
		return 1;
	snprintf(reason, rn, "more fractional-second digits than %s keeps", cp->type_sql);
	return 0;
}

/* Convert one cell; on failure fill reason (up to 200 bytes) and return 0. */
static int conv(struct ferry_batch *b, struct ferry_cell *c,
		const struct col_plan *cp, char *reason, size_t rn)
{
	const char *why = NULL;
	const char *s = c->kind == FERRY_V_TEXT || c->kind == FERRY_V_BLOB ?
			ferry_cell_bytes(b, c) : NULL;
	size_t n = c->len;

	switch (cp->type) {
	case FERRY_T_INT16:
	case FERRY_T_INT32:
	case FERRY_T_INT64: {
		int64_t v = 0, lo, hi;

		if (c->kind == FERRY_V_INT) {
			v = c->v.i;
		} else if (c->kind == FERRY_V_REAL) {
			double d = c->v.d;

			if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) ||
			    d != floor(d))
				goto mismatch;
			v = (int64_t)d;
		} else if (c->kind == FERRY_V_TEXT) {
			if (!parse_int64_text(s, n, &v))
				goto mismatch;
		} else {
			goto mismatch;
		}
		lo = cp->type == FERRY_T_INT16 ? -32768 : cp->type == FERRY_T_INT32 ?
		     -2147483648LL : INT64_MIN;
		hi = cp->type == FERRY_T_INT16 ? 32767 : cp->type == FERRY_T_INT32 ?
		     2147483647LL : INT64_MAX;
		if (v < lo || v > hi) {
			snprintf(reason, rn, "value %lld out of range for %s",
				 (long long)v, cp->type_sql);
			return 0;
		}
		c->kind = FERRY_V_INT;
		c->v.i = v;
		return 1;
	}
	case FERRY_T_FLOAT32:
	case FERRY_T_FLOAT64: {
		double d;

		if (c->kind == FERRY_V_REAL) {
			d = c->v.d;
		} else if (c->kind == FERRY_V_INT) {
			d = (double)c->v.i;
			if (d >= 9223372036854775808.0 || (int64_t)d != c->v.i) {
				snprintf(reason, rn, "integer %lld cannot be stored exactly in %s",
					 (long long)c->v.i, cp->type_sql);
				return 0;
			}
		} else if (c->kind == FERRY_V_TEXT) {
			char tmp[400], *end;

			if (n == 0 || n >= sizeof(tmp))
				goto mismatch;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			if (isspace((unsigned char)tmp[0]))
				goto mismatch;
			errno = 0;
			d = strtod(tmp, &end);
			if (*end)
				goto mismatch;
			/* "1e400" overflows to Infinity and "1e-400" underflows
			 * to 0: neither is the value written.  Subnormal results
			 * also set ERANGE but are what PostgreSQL stores too. */
			if (errno == ERANGE && (d == 0.0 || isinf(d))) {
				snprintf(reason, rn, "value %.60s is out of range for %s",
					 tmp, cp->type_sql);
				return 0;
			}
		} else {
			goto mismatch;
		}
		if (cp->type == FERRY_T_FLOAT32 && !isnan(d) && (double)(float)d != d) {
			snprintf(reason, rn, "value %.17g would lose precision in real", d);
			return 0;
		}
		c->kind = FERRY_V_REAL;
		c->v.d = d;
		return 1;
	}
	case FERRY_T_NUMERIC: {
		struct ferry_buf tmp = FERRY_BUF_INIT;
		char num[64];
		const char *src;
		size_t sn;
		int idig = 0, fdig = 0, ok;

		if (c->kind == FERRY_V_INT) {
			sn = (size_t)snprintf(num, sizeof(num), "%lld", (long long)c->v.i);
			src = num;
		} else if (c->kind == FERRY_V_REAL) {
			if (isinf(c->v.d)) {
				snprintf(reason, rn, "infinite value does not fit %s", cp->type_sql);
				return 0;
			}
			sn = (size_t)xf_format_double(c->v.d, num, sizeof(num));
			src = num;
		} else if (c->kind == FERRY_V_TEXT) {
			src = s;
			sn = n;
		} else {
			goto mismatch;
		}
		if (sn == 3 && !strncasecmp(src, "NaN", 3)) {
			ok = set_text(b, c, "NaN", 3) == 0;
			return ok ? 1 : -1;
		}
		ok = normalize_decimal(src, sn, &tmp, &idig, &fdig);
		if (!ok) {
			ferry_buf_release(&tmp);
			goto mismatch;
		}
		if (!numeric_fits(cp->typmod, idig, fdig, tmp.buf, tmp.len)) {
			snprintf(reason, rn, "value %.60s does not fit %s", tmp.buf, cp->type_sql);
			ferry_buf_release(&tmp);
			return 0;
		}
		ok = set_text(b, c, tmp.buf, tmp.len) == 0;
		ferry_buf_release(&tmp);
		return ok ? 1 : -1;
	}
	case FERRY_T_TEXT:
	case FERRY_T_JSON:
	case FERRY_T_JSONB: {
		if (c->kind == FERRY_V_INT || c->kind == FERRY_V_REAL) {
			char num[64];
			int k;

			if (cp->type != FERRY_T_TEXT) {
				/* a bare number is valid JSON */
				if (c->kind == FERRY_V_REAL && (isnan(c->v.d) || isinf(c->v.d)))
					goto mismatch;
			}
			k = c->kind == FERRY_V_INT ?
			    snprintf(num, sizeof(num), "%lld", (long long)c->v.i) :
			    xf_format_double(c->v.d, num, sizeof(num));
			if (set_text(b, c, num, (size_t)k) < 0)
				return -1;
			s = ferry_cell_bytes(b, c);
			n = c->len;
		}
		if (!xf_utf8_ok(s, n, &why)) {
			snprintf(reason, rn, "%s", why);
			return 0;
		}
		if (cp->type == FERRY_T_TEXT && cp->typmod > 0 &&
		    utf8_chars(s, n) > (size_t)cp->typmod) {
			snprintf(reason, rn, "value of %zu characters is longer than %s",
				 utf8_chars(s, n), cp->type_sql);
			return 0;
		}
		/* JSON the source wrote itself is well formed (its UTF-8 is
		 * checked above); only a U+0000, which jsonb refuses, needs
		 * the full check */
		if (cp->type != FERRY_T_TEXT &&
		    (!cp->json_made || memmem(s, n, "\\u0000", 6)) &&
		    !xf_json_ok(s, n, cp->type == FERRY_T_JSONB)) {
			snprintf(reason, rn, "invalid JSON for %s", cp->type_sql);
			return 0;
		}
		c->kind = FERRY_V_TEXT;
		return 1;
	}
	case FERRY_T_BYTES:
		if (c->kind != FERRY_V_TEXT && c->kind != FERRY_V_BLOB)
			goto mismatch;
		c->kind = FERRY_V_BLOB;
		return 1;
	case FERRY_T_BOOL: {
		int v;

		if (c->kind == FERRY_V_INT && (c->v.i == 0 || c->v.i == 1))
			v = (int)c->v.i;
		else if (c->kind == FERRY_V_REAL && (c->v.d == 0.0 || c->v.d == 1.0))
			v = c->v.d == 1.0;
		else if (c->kind == FERRY_V_TEXT && xf_parse_bool(s, n, &v))
			;
		else
			goto mismatch;
		c->kind = FERRY_V_INT;
		c->v.i = v;
		return 1;
	}
	case FERRY_T_DATE: {
		int32_t days;
		int64_t us;
		int tz;

		if (c->kind != FERRY_V_TEXT)
			goto mismatch;
		if (!xf_parse_date(s, n, &days)) {
			/* a timestamp at midnight is an exact date */
			if (xf_parse_timestamp(s, n, &us, &tz, 0) && !tz &&
			    us % 86400000000LL == 0) {
				days = (int32_t)(us / 86400000000LL);
			} else {
				snprintf(reason, rn, "invalid or out-of-range date");
				return 0;
			}
		}
		c->kind = FERRY_V_INT;
		c->v.i = days;
		return 1;
	}
	case FERRY_T_TIMESTAMP:
	case FERRY_T_TIMESTAMPTZ: {
		int64_t us;
		int tz;

		if (c->kind == FERRY_V_INT && (cp->src_type == FERRY_T_TIMESTAMPTZ ||
					       cp->src_type == FERRY_T_TIMESTAMP)) {
			/* already microseconds since 2000-01-01 (UTC for tz) */
			return precision_ok(c->v.i, cp, reason, rn);
		}
		if (c->kind != FERRY_V_TEXT)
			goto mismatch;
		if (!xf_parse_timestamp(s, n, &us, &tz, 1)) {
			snprintf(reason, rn, "invalid or out-of-range timestamp");
			return 0;
		}
		if (tz && cp->type == FERRY_T_TIMESTAMP) {
			snprintf(reason, rn, "timestamp with a time zone offset in a %s column",
				 cp->type_sql);
			return 0;
		}
		if (!precision_ok(us, cp, reason, rn))
			return 0;
		c->kind = FERRY_V_INT;
		c->v.i = us;
		return 1;
	}
	case FERRY_T_TIME: {
		int64_t us;

		if (c->kind != FERRY_V_TEXT || !parse_time(s, n, &us))
			goto mismatch;
		if (!precision_ok(us, cp, reason, rn))
			return 0;
		c->kind = FERRY_V_INT;
		c->v.i = us;
		return 1;
	}
	case FERRY_T_UUID: {
		unsigned char u[16];
		size_t i, k = 0;

		if (c->kind == FERRY_V_BLOB && n == 16)
			return 1;
		if (c->kind != FERRY_V_TEXT || (n != 36 && n != 32))
			goto mismatch;
		for (i = 0; i < n && k < 32; i++) {
			int hv;

			if (s[i] == '-' && n == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
				continue;
			hv = isdigit((unsigned char)s[i]) ? s[i] - '0' :
			     (s[i] >= 'a' && s[i] <= 'f') ? s[i] - 'a' + 10 :
			     (s[i] >= 'A' && s[i] <= 'F') ? s[i] - 'A' + 10 : -1;
			if (hv < 0)
				goto mismatch;
			if (k % 2 == 0)
				u[k / 2] = (unsigned char)(hv << 4);
			else
				u[k / 2] |= (unsigned char)hv;
			k++;
		}
		if (k != 32 || i != n)
			goto mismatch;
		return ferry_cell_set_bytes(b, c, FERRY_V_BLOB, u, 16) == 0 ? 1 : -1;
	}
	}
mismatch:
	snprintf(reason, rn, "%s value does not fit %s", ferry_vkind_name(c->kind),
		 cp->type_sql);
	return 0;
}

/* {"rowid":N} for rowid tables, {"row":N} (ordinal) otherwise, or the
 * source's own key name ({"line":N}); from a directory source
 * {"file":"sub/a.lp","line":N} (see ferry_table.key_files). */
void xf_key_json(const struct ferry_table *t, int64_t key, char *out, size_t n)
{
	uint64_t file = (uint64_t)key >> 40;

	if (t->key_files && key >= 0 && file < t->nkey_files) {
		struct ferry_buf b = FERRY_BUF_INIT;

		/* a name that does not fit is cut, the JSON stays whole */
		ferry_buf_addstr(&b, "{\"file\":");
		ferry_buf_addjson(&b, t->key_files[file], strlen(t->key_files[file]));
		ferry_buf_addf(&b, ",\"%s\":%lld}", t->key_label ? t->key_label : "line",
			       (long long)(key & ((INT64_C(1) << 40) - 1)));
		if (b.buf && b.len < n) {
			memcpy(out, b.buf, b.len + 1);
			ferry_buf_release(&b);
			return;
		}
		ferry_buf_release(&b);
		snprintf(out, n, "{\"file_no\":%llu,\"%s\":%lld}", (unsigned long long)file + 1,
			 t->key_label ? t->key_label : "line",
			 (long long)(key & ((INT64_C(1) << 40) - 1)));
		return;
	}
	if (t->key_label)
		snprintf(out, n, "{\"%s\":%lld}", t->key_label, (long long)key);
	else
		snprintf(out, n, t->without_rowid ? "{\"row\":%lld}" : "{\"rowid\":%lld}",
			 (long long)key);
}

int xf_batch(struct ferry_batch *b, const struct table_plan *tp,
	     struct rejects *rej, struct ferry_error *err)
{
	size_t r, i;
	int rejected = 0, rc;

	for (r = 0; r < b->nrows; r++) {
		for (i = 0; i < tp->ncols; i++) {
			struct ferry_cell *c = ferry_batch_cell(b, r, i);
			const struct col_plan *cp = &tp->cols[i];
			char reason[256];
			struct ferry_cell orig = *c;

			if (c->kind == FERRY_V_NULL) {
				if (!cp->notnull)
					continue;
				snprintf(reason, sizeof(reason),
					 "null value in not-null column");
			} else {
				rc = conv(b, c, cp, reason, sizeof(reason));
				if (rc > 0)
					continue;
				if (rc < 0)
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			{
				char key[512];
				char num[64];
				const void *val = NULL;
				size_t vn = 0;

				if (orig.kind == FERRY_V_TEXT || orig.kind == FERRY_V_BLOB) {
					val = b->arena.buf + orig.v.off;
					vn = orig.len;
				} else if (orig.kind == FERRY_V_INT) {
					vn = (size_t)snprintf(num, sizeof(num), "%lld",
							      (long long)orig.v.i);
					val = num;
				} else if (orig.kind == FERRY_V_REAL) {
					vn = (size_t)xf_format_double(orig.v.d, num, sizeof(num));
					val = num;
				}
				xf_key_json(tp->src, b->keys[r], key, sizeof(key));
				if ((rc = rej_add(rej, tp->src->name, key, cp->src_name, reason,
						  orig.kind, val, vn, err)) < 0)
					return rc;
			}
			b->skip[r] = 1;
			b->nskipped++;
			rejected++;
			break;
		}
	}
	return rejected;
}
