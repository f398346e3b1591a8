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
#include "copy/relmap.h"
#include "ferry/buf.h"
#include "model/value.h"

/* ---- text ------------------------------------------------------------- */

static size_t utf8_chars(const char *s, size_t n)
{
	size_t i, k = 0;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			k++;
	return k;
}

/* ---- numeric ----------------------------------------------------------- */

/*
 * Normalize decimal text (optional sign, digits, optional fraction,
 * optional exponent) to plain "-123.45" form in out.  Returns 0 when s is
 * not a decimal number, -1 when out of memory.  The digit count is bounded (1000) so the
 * encoder's fixed buffers always hold the value.
 */
static int normalize_decimal(const char *s, size_t n, struct ferry_buf *out,
			     int *int_digits, int *frac_digits)
{
	int berr = 0;
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
		berr |= ferry_buf_addch(out, '-');
	*int_digits = 0;
	if (point <= 0) {
		berr |= ferry_buf_addch(out, '0');
	} else {
		int started = 0;

		for (k = 0; k < point; k++) {
			char c = k < (int)nm ? mant[k] : '0';

			if (c == '0' && !started && k < point - 1)
				continue;
			started = 1;
			berr |= ferry_buf_addch(out, c);
			(*int_digits)++;
		}
		if (berr < 0)
			return -1;
		if (*int_digits == 1 && out->buf[out->len - 1] == '0')
			*int_digits = 0;
	}
	*frac_digits = 0;
	if ((int)nm > point) {
		berr |= ferry_buf_addch(out, '.');
		for (k = point; k < (int)nm; k++) {
			berr |= ferry_buf_addch(out, k < 0 ? '0' : mant[k]);
			(*frac_digits)++;
		}
	}
	return berr < 0 ? -1 : out->len < 2100;
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

/*
 * A typed source's date, time, timestamp, boolean or uuid cell as the
 * text PostgreSQL prints for it (a --cast to text): 1 when c was one and
 * is now its text, 0 when it is not such a cell, -1 out of memory.
 */
static int typed_as_text(struct ferry_batch *b, struct ferry_cell *c, int src_type)
{
	char tmp[64];
	int n = -1;

	if (c->kind == FERRY_V_INT) {
		int64_t v = c->v.i;

		if (src_type == FERRY_T_BOOL)
			n = snprintf(tmp, sizeof(tmp), "%s", v ? "true" : "false");
		else if (src_type == FERRY_T_TIME)
			n = snprintf(tmp, sizeof(tmp), "%02d:%02d:%02d.%06d", (int)(v / 3600000000LL),
				     (int)(v / 60000000 % 60), (int)(v / 1000000 % 60),
				     (int)(v % 1000000));
		else if (src_type == FERRY_T_DATE && (v == INT32_MAX || v == INT32_MIN))
			n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "infinity" : "-infinity");
		else if ((src_type == FERRY_T_TIMESTAMP || src_type == FERRY_T_TIMESTAMPTZ) &&
			 (v == INT64_MAX || v == INT64_MIN))
			n = snprintf(tmp, sizeof(tmp), "%s", v > 0 ? "infinity" : "-infinity");
		else if (src_type == FERRY_T_DATE)
			n = val_format_timestamp(tmp, sizeof(tmp), v * 86400000000LL,
						 VAL_TS_PG_EPOCH | VAL_TS_DATE, NULL);
		else if (src_type == FERRY_T_TIMESTAMP || src_type == FERRY_T_TIMESTAMPTZ)
			n = val_format_timestamp(tmp, sizeof(tmp), v, VAL_TS_PG_EPOCH,
						 src_type == FERRY_T_TIMESTAMPTZ ? "+00" : NULL);
	} else if (c->kind == FERRY_V_BLOB && src_type == FERRY_T_UUID && c->len == 16) {
		const unsigned char *u = (const unsigned char *)ferry_cell_bytes(b, c);
		int i, k = 0;

		for (i = 0; i < 16; i++) {
			if (i == 4 || i == 6 || i == 8 || i == 10)
				tmp[k++] = '-';
			k += snprintf(tmp + k, sizeof(tmp) - (size_t)k, "%02x", u[i]);
		}
		n = k;
	}
	if (n < 0 || n >= (int)sizeof(tmp))
		return 0;
	if (c->kind == FERRY_V_INT && src_type != FERRY_T_BOOL) {
		/* PostgreSQL prints the fraction without its trailing zeros */
		char *dot = strchr(tmp, '.'), *end;

		if (dot) {
			for (end = dot + 1; *end >= '0' && *end <= '9'; end++)
				;
			while (end[-1] == '0')
				end--;
			if (end[-1] == '.')
				end--;
			memmove(end, dot + 7, strlen(dot + 7) + 1);
			n = (int)strlen(tmp);
		}
	}
	return set_text(b, c, tmp, (size_t)n) < 0 ? -1 : 1;
}

/* Does s hold the escape \u0000?  memchr for the backslashes: JSON the
 * source made (InfluxDB's tags) seldom has one, and memmem's set-up per
 * call cost 7% of ferry's CPU on 6M short tag objects (bench/influx). */
static int has_u0000(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	while ((p = memchr(p, '\\', (size_t)(end - p))) != NULL) {
		if (end - p >= 6 && !memcmp(p + 1, "u0000", 5))
			return 1;
		p++;
	}
	return 0;
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

/* PostgreSQL's "infinity" or "-infinity" of a date or timestamp. */
static int is_infinity(const char *s, size_t n)
{
	return (n == 8 && !strncmp(s, "infinity", 8)) || (n == 9 && !strncmp(s, "-infinity", 9));
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
			if (!val_int_fits_double(c->v.i)) {
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
			sn = (size_t)val_format_double(c->v.d, num, sizeof(num));
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
		/* a PostgreSQL (14+) source's numeric infinity: its target takes it */
		if (cp->src_type == FERRY_T_NUMERIC && c->kind == FERRY_V_TEXT &&
		    ((sn == 8 && !strncmp(src, "Infinity", 8)) ||
		     (sn == 9 && !strncmp(src, "-Infinity", 9))))
			return 1;
		ok = normalize_decimal(src, sn, &tmp, &idig, &fdig);
		if (ok <= 0) {
			ferry_buf_release(&tmp);
			if (ok < 0)
				return -1;
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
		int tt = cp->type == FERRY_T_TEXT ? typed_as_text(b, c, cp->src_type) : 0;

		if (tt < 0)
			return -1;
		if (tt > 0) {
			s = ferry_cell_bytes(b, c);
			n = c->len;
		} else if (c->kind == FERRY_V_INT || c->kind == FERRY_V_REAL) {
			char num[64];
			int k;

			if (cp->type != FERRY_T_TEXT) {
				/* a bare number is valid JSON */
				if (c->kind == FERRY_V_REAL && (isnan(c->v.d) || isinf(c->v.d)))
					goto mismatch;
			}
			k = c->kind == FERRY_V_INT ?
			    snprintf(num, sizeof(num), "%lld", (long long)c->v.i) :
			    val_format_double(c->v.d, num, sizeof(num));
			if (set_text(b, c, num, (size_t)k) < 0)
				return -1;
			s = ferry_cell_bytes(b, c);
			n = c->len;
		}
		/* text its maker checked (the time-series sources' names and
		 * tags: once a series, not once a row) is not checked again */
		if (!(c->kind == FERRY_V_TEXT && (c->flags & FERRY_CELL_TEXT_OK)) &&
		    !val_utf8_ok(s, n, &why)) {
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
		    (!cp->json_made || has_u0000(s, n)) &&
		    !val_json_ok(s, n, cp->type == FERRY_T_JSONB)) {
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
		else if (c->kind == FERRY_V_TEXT && val_parse_bool(s, n, &v))
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

		if (c->kind == FERRY_V_INT && cp->src_type == FERRY_T_DATE)
			return 1;   /* already days since 2000-01-01 */
		if (c->kind != FERRY_V_TEXT)
			goto mismatch;
		if (is_infinity(s, n)) {   /* as a PostgreSQL source wrote it */
			c->kind = FERRY_V_INT;
			c->v.i = s[0] == '-' ? INT32_MIN : INT32_MAX;
			return 1;
		}
		if (!val_parse_date(s, n, &days)) {
			/* a timestamp at midnight is an exact date */
			if (val_parse_timestamp(s, n, &us, &tz, 0) && !tz &&
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
		if (is_infinity(s, n)) {
			c->kind = FERRY_V_INT;
			c->v.i = s[0] == '-' ? INT64_MIN : INT64_MAX;
			return 1;
		}
		if (!val_parse_timestamp(s, n, &us, &tz, 1)) {
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

		if (c->kind == FERRY_V_INT && cp->src_type == FERRY_T_TIME)
			return precision_ok(c->v.i, cp, reason, rn);
		if (c->kind != FERRY_V_TEXT || !val_parse_time_of_day(s, n, &us))
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

/* {"rowid":N} for rowid tables, {"row":N} (ordinal) otherwise (xf_batch
 * adds a WITHOUT ROWID table's "primary_key" values), or the
 * source's own key name ({"line":N}); from a directory source
 * {"file":"sub/a.lp","line":N} (see ferry_table.key_files). */
void xf_key_json(const struct ferry_table *t, int64_t key, char *out, size_t n)
{
	int berr = 0;
	uint64_t file = (uint64_t)key >> 40;

	if (t->key_files && key >= 0 && file < t->nkey_files) {
		struct ferry_buf b = FERRY_BUF_INIT;

		/* a name that does not fit (or out of memory) gives the file's
		 * number instead, the JSON stays whole */
		berr |= ferry_buf_addstr(&b, "{\"file\":");
		berr |= ferry_buf_addjson(&b, t->key_files[file], strlen(t->key_files[file]));
		berr |= ferry_buf_addf(&b, ",\"%s\":%lld}", t->key_label ? t->key_label : "line",
			       (long long)(key & ((INT64_C(1) << 40) - 1)));
		if (berr == 0 && b.len < n) {
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

#define XF_PK_MAX 16

/* The batch columns of a WITHOUT ROWID table's primary key, in key order;
 * 0 for other tables, and when the key has more than XF_PK_MAX columns or
 * one the copy leaves out (a part of a key names no row). */
static size_t pk_columns(const struct table_plan *tp, size_t *pk)
{
	const struct ferry_table *t = tp->src;
	size_t i, k, n = 0, want = 0;

	if (!t->without_rowid)
		return 0;
	for (k = 0; k < t->ncols; k++)
		want += t->cols[k].pk_pos > 0;
	if (want > XF_PK_MAX)
		return 0;
	for (n = 0; n < want; n++) {
		int found = 0;

		for (k = 0; k < t->ncols && !found; k++)
			if (t->cols[k].pk_pos == (int)n + 1)
				for (i = 0; i < tp->ncols && !found; i++)
					if (tp->cols[i].src_name == t->cols[k].name) {
						pk[n] = i;
						found = 1;
					}
		if (!found)
			return 0;
	}
	return n;
}

/* A source cell as a JSON value: a number, a string, or {"base64": ...}
 * for bytes that are not text. */
static int cell_json(struct ferry_buf *o, const struct ferry_batch *b, const struct ferry_cell *c)
{
	const char *s, *why;
	char num[64];

	switch (c->kind) {
	case FERRY_V_NULL:
		return ferry_buf_addstr(o, "null");
	case FERRY_V_INT:
		return ferry_buf_addf(o, "%lld", (long long)c->v.i);
	case FERRY_V_REAL:
		val_format_double(c->v.d, num, sizeof(num));
		return isfinite(c->v.d) ? ferry_buf_addstr(o, num) : ferry_buf_addjson(o, num,
										    strlen(num));
	case FERRY_V_TEXT:
		s = ferry_cell_bytes(b, c);
		if (val_utf8_ok(s, c->len, &why))
			return ferry_buf_addjson(o, s, c->len);
		break;
	default:
		s = ferry_cell_bytes(b, c);
		break;
	}
	return ferry_buf_addstr(o, "{\"base64\":\"") | ferry_buf_addbase64(o, s, c->len) |
	       ferry_buf_addstr(o, "\"}");
}

/* key with "primary_key": the primary key's values of a WITHOUT ROWID table's
 * row (the source cells pkv of the columns pk), in o; 0 or FERRY_ENOMEM. */
static int key_with_values(struct ferry_buf *o, const char *key, const struct table_plan *tp,
			   const struct ferry_batch *b, const size_t *pk,
			   const struct ferry_cell *pkv, size_t npk)
{
	size_t j, kl = strlen(key);
	int e = 0;

	ferry_buf_clear(o);
	e |= ferry_buf_add(o, key, kl && key[kl - 1] == '}' ? kl - 1 : kl);
	e |= ferry_buf_addstr(o, ",\"primary_key\":{");
	for (j = 0; j < npk; j++) {
		const char *name = tp->cols[pk[j]].src_name;

		e |= j ? ferry_buf_addch(o, ',') : 0;
		e |= ferry_buf_addjson(o, name, strlen(name));
		e |= ferry_buf_addch(o, ':');
		e |= cell_json(o, b, &pkv[j]);
	}
	e |= ferry_buf_addstr(o, "}}");
	return e ? FERRY_ENOMEM : 0;
}

int xf_batch(struct ferry_batch *b, const struct table_plan *tp,
	     struct rejects *rej, struct ferry_error *err)
{
	struct ferry_buf kv = FERRY_BUF_INIT;
	struct ferry_cell pkv[XF_PK_MAX];
	size_t pk[XF_PK_MAX], npk = pk_columns(tp, pk);
	size_t r, i, j;
	int rejected = 0, rc;

	if (tp->map && (rejected = copy_relmap_apply(tp->map, tp, b, rej, err)) < 0)
		return rejected;
	for (r = 0; r < b->nrows; r++) {
		if (b->skip[r])  /* a lookup found nothing */
			continue;
		/* the key's cells as the source has them: cells convert in place */
		for (j = 0; j < npk; j++)
			pkv[j] = *ferry_batch_cell(b, r, pk[j]);
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
					goto oom;
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
					vn = (size_t)val_format_double(orig.v.d, num, sizeof(num));
					val = num;
				}
				xf_key_json(tp->src, b->keys[r], key, sizeof(key));
				if (npk && key_with_values(&kv, key, tp, b, pk, pkv, npk) < 0)
					goto oom;
				if (cp->map_line) {  /* a relational map's column */
					size_t rl = strlen(reason);

					snprintf(reason + rl, sizeof(reason) - rl, " (map %s line %d)",
						 tp->map->path, cp->map_line);
				}
				if ((rc = rej_add(rej, tp->src->name, npk ? kv.buf : key,
						  cp->src_name, reason, orig.kind, val, vn, err)) < 0) {
					ferry_buf_release(&kv);
					return rc;
				}
			}
			b->skip[r] = 1;
			b->nskipped++;
			rejected++;
			break;
		}
	}
	ferry_buf_release(&kv);
	return rejected;
oom:
	ferry_buf_release(&kv);
	return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}
