/*
 * value.c - the value helpers of value.h: UTF-8, dates and timestamps,
 * point times and durations, booleans, JSON and doubles.  One owner for
 * each, so the copy transform, the planner's pre-scan, the point layer,
 * verify and rewrite all accept exactly the same text.
 *
 * These run per cell on the copy's hot path: nothing there allocates, and the
 * UTF-8 check takes eight ASCII bytes at a time.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "model/value.h"

#define PG_EPOCH_US 946684800000000LL  /* 2000-01-01 - 1970-01-01 */

/* ---- UTF-8 --------------------------------------------------------------- */

/* Inline so the two callers get a copy each with nul_ok a constant: the
 * copy's check (nul_ok 0) stays as fast as a check with no flag. */
static inline size_t utf8_prefix(const char *s, size_t n, int nul_ok, const char **reason)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;
	const char *why = "invalid UTF-8";

	while (p < e) {
		unsigned c;

		/* eight ASCII bytes (without a NUL unless nul_ok) at a time:
		 * most text is that */
		while (e - p >= 8) {
			uint64_t w;

			memcpy(&w, p, 8);
			if ((w & 0x8080808080808080ULL) ||
			    (!nul_ok &&
			     ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL)))
				break;
			p += 8;
		}
		if (p == e)
			break;
		c = *p;
		if (c < 0x80) {
			if (c == 0 && !nul_ok) {
				why = "NUL byte in text";
				goto bad;
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
				goto bad;
			}
			if ((size_t)(e - p) <= need)
				goto bad;
			for (k = 1; k <= need; k++) {
				if ((p[k] & 0xC0) != 0x80)
					goto bad;
				cp = cp << 6 | (p[k] & 0x3F);
			}
			/* overlong forms, surrogates, beyond U+10FFFF */
			if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
			    (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
				goto bad;
			p += need + 1;
		}
	}
	return n;
bad:
	if (reason)
		*reason = why;
	return (size_t)(p - (const unsigned char *)s);
}

size_t val_utf8_prefix(const char *s, size_t n, int nul_ok, const char **reason)
{
	return nul_ok ? utf8_prefix(s, n, 1, reason) : utf8_prefix(s, n, 0, reason);
}

int val_utf8_ok(const char *s, size_t n, const char **reason)
{
	return utf8_prefix(s, n, 0, reason) == n;
}

void val_utf8_scrub(char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *why;

		i += val_utf8_prefix(s + i, n - i, 0, &why);
		if (i < n)
			s[i++] = '?';
	}
}

/* ---- dates and timestamps ------------------------------------------------ */

int64_t val_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian, H. Hinnant). */
int64_t val_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The inverse of val_days_from_civil() (H. Hinnant's civil_from_days). */
void val_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
	*m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int val_format_timestamp(char *out, size_t cap, int64_t t, unsigned flags,
			 const char *suffix)
{
	int64_t per_sec = flags & VAL_TS_NS ? 1000000000 : 1000000;
	int64_t frac, sec, days, sod, y;
	unsigned m, d;
	int n;

	/* floor division, and the epoch moved on the day count, not on t:
	 * the whole int64 range is formatted without an overflow */
	frac = t % per_sec;
	sec = t / per_sec;
	if (frac < 0) {
		frac += per_sec;
		sec--;
	}
	days = sec / 86400;
	sod = sec % 86400;
	if (sod < 0) {
		sod += 86400;
		days--;
	}
	if (flags & VAL_TS_PG_EPOCH)
		days += 10957;
	val_civil_from_days(days, &y, &m, &d);
	if (flags & VAL_TS_DATE)
		return snprintf(out, cap, "%04lld-%02u-%02u%s", (long long)y, m, d,
				suffix ? suffix : "");
	n = snprintf(out, cap, "%04lld-%02u-%02u%c%02d:%02d:%02d", (long long)y, m, d,
		     flags & VAL_TS_T ? 'T' : ' ', (int)(sod / 3600), (int)(sod / 60 % 60),
		     (int)(sod % 60));
	if (n < 0)
		return n;
	if (frac || !(flags & VAL_TS_FRAC_OPT))
		n += snprintf((size_t)n < cap ? out + n : NULL, (size_t)n < cap ? cap - (size_t)n : 0,
			      flags & VAL_TS_NS ? ".%09lld" : ".%06lld", (long long)frac);
	if (suffix)
		n += snprintf((size_t)n < cap ? out + n : NULL, (size_t)n < cap ? cap - (size_t)n : 0,
			      "%s", suffix);
	return n;
}

static int mdays(int y, int m)
{
	static const int md[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return md[m - 1];
}

/* count ASCII digits at s[*i] -> *out; inline, and no isdigit(): the
 * pre-scan and every copied date or timestamp cell come through here */
static inline int digits(const char *s, size_t n, size_t *i, int count, int *out)
{
	int v = 0, k;

	for (k = 0; k < count; k++, (*i)++) {
		unsigned dv = *i < n ? (unsigned)(unsigned char)s[*i] - '0' : 10;

		if (dv > 9)
			return 0;
		v = v * 10 + (int)dv;
	}
	*out = v;
	return 1;
}

/*
 * The one timestamp grammar: YYYY-MM-DD[( |T)HH:MM[:SS[.f]]][Z|(+|-)HH[:MM]]
 * -> *sec (seconds since 1970, the offset applied), *frac (nanoseconds),
 * *has_tz.  Plain: years 0001-9999, up to six significant fraction digits
 * (past them only zeros), offsets to 15 h.  VAL_TSP_NS: up to nine
 * fraction digits and no more.  VAL_TSP_LAX: also 't', a ',' before the
 * fraction, year 0000 and offsets to 23 h.  Always inlined: with fl a
 * constant the copy's per-cell parse costs nothing for the flags.
 */
static inline __attribute__((always_inline)) int
ts_parse(const char *s, size_t n, unsigned fl, int date_only_ok, int64_t *sec,
	 int64_t *frac_ns, int *has_tz)
{
	size_t i = 0;
	int y, mo, d, h = 0, mi = 0, se = 0, fd = 0;
	int64_t off = 0, frac = 0;
	const int maxfd = fl & VAL_TSP_NS ? 9 : 6;

	*has_tz = 0;
	while (n && s[n - 1] == ' ')
		n--;
	if (!digits(s, n, &i, 4, &y) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &mo) || i >= n || s[i++] != '-' ||
	    !digits(s, n, &i, 2, &d))
		return 0;
	if (y < (fl & VAL_TSP_LAX ? 0 : 1) || mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo))
		return 0;
	if (i == n) {
		if (!date_only_ok)
			return 0;
		goto done;
	}
	if (s[i] != ' ' && s[i] != 'T' && !(s[i] == 't' && (fl & VAL_TSP_LAX)))
		return 0;
	i++;
	if (!digits(s, n, &i, 2, &h) || i >= n || s[i++] != ':' ||
	    !digits(s, n, &i, 2, &mi))
		return 0;
	if (i < n && s[i] == ':') {
		i++;
		if (!digits(s, n, &i, 2, &se))
			return 0;
		if (i < n && (s[i] == '.' || (s[i] == ',' && (fl & VAL_TSP_LAX)))) {
			i++;
			if (i >= n || !isdigit((unsigned char)s[i]))
				return 0;
			for (; i < n && isdigit((unsigned char)s[i]); i++) {
				if (fd < maxfd)
					frac = frac * 10 + (s[i] - '0');
				else if ((fl & VAL_TSP_NS) || s[i] != '0')
					return 0;  /* finer than the unit */
				else
					continue;  /* a zero past the unit */
				fd++;
			}
			for (; fd < 9; fd++)
				frac *= 10;
		}
	}
	if (h > 23 || mi > 59 || se > 59)
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
		if (oh > (fl & VAL_TSP_LAX ? 23 : 15) || om > 59)
			return 0;
		off = sign * ((int64_t)oh * 3600 + om * 60);
		*has_tz = 1;
	}
	if (i != n)
		return 0;
done:
	*sec = val_days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400LL +
	       h * 3600LL + mi * 60LL + se - off;
	*frac_ns = frac;
	return 1;
}

int val_parse_timestamp(const char *s, size_t n, int64_t *us, int *has_tz,
		       int date_only_ok)
{
	int64_t sec, frac;

	if (!ts_parse(s, n, 0, date_only_ok, &sec, &frac, has_tz))
		return 0;
	*us = (sec - 946684800LL) * 1000000LL + frac / 1000;
	return 1;
}

int val_parse_timestamp_ns(const char *s, size_t n, unsigned flags, int64_t *ns,
			   int *has_tz)
{
	int64_t sec, frac, v;

	if (!ts_parse(s, n, flags, 1, &sec, &frac, has_tz) ||
	    __builtin_mul_overflow(sec, (int64_t)1000000000, &v) ||
	    __builtin_add_overflow(v, frac, &v))
		return 0;
	*ns = v;
	return 1;
}

int val_parse_date(const char *s, size_t n, int32_t *days)
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
	*days = (int32_t)(val_days_from_civil(y, (unsigned)mo, (unsigned)d) - 10957);
	return 1;
}

int val_parse_time_of_day(const char *s, size_t n, int64_t *us)
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

/* ---- point times and durations ----------------------------------------- */

int val_parse_time_ns(const char *s, int64_t *ns)
{
	char *end;
	long long v;

	if (!s || !*s)
		return FERRY_EINVAL;
	/* integers first, of any length (the mode parser copies at most 79
	 * bytes) */
	errno = 0;
	v = strtoll(s, &end, 10);
	if (!*end && errno == 0) {
		*ns = v;
		return 0;
	}
	return val_parse_time_ns_mode(s, strlen(s), 0, ns);
}

int val_parse_time_ns_mode(const char *s, size_t n, unsigned mode, int64_t *ns)
{
	char *end, tmp[80];
	const char *dot;
	long long v;
	int64_t us, sub = 0;
	size_t k;
	int tz;

	if (!s || !n || n >= sizeof(tmp))
		return FERRY_EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	if (strlen(tmp) != n)  /* a NUL inside */
		return FERRY_EINVAL;
	if (!(mode & VAL_TIME_RFC3339)) {
		errno = 0;
		v = strtoll(tmp, &end, 10);
		if (!*end && errno == 0) {
			*ns = v;
			return 0;
		}
	} else {
		/* InfluxDB's own form: the 'T', seconds and a 'Z' are required */
		if (n < 20 || tmp[10] != 'T' || tmp[13] != ':' || tmp[16] != ':' ||
		    tmp[n - 1] != 'Z')
			return FERRY_EINVAL;
	}
	/* InfluxDB writes nanoseconds (2024-01-01T00:00:00.123456789Z): the
	 * timestamp parser keeps microseconds, the digits past them are
	 * taken here (a tenth one and on must be zero unless VAL_TIME_TRUNC) */
	if ((dot = strchr(tmp, '.')) != NULL) {
		size_t at = (size_t)(dot - tmp) + 1, nd = 0;

		while (tmp[at + nd] >= '0' && tmp[at + nd] <= '9')
			nd++;
		if (nd == 0 && (mode & VAL_TIME_RFC3339)) {
			/* "...:05.Z": strptime's old reading took it */
			memmove(tmp + at - 1, tmp + at, n + 1 - at);
			n--;
		}
		for (k = 6; k < nd; k++) {
			if (k < 9)
				sub = sub * 10 + (tmp[at + k] - '0');
			else if (tmp[at + k] != '0' && !(mode & VAL_TIME_TRUNC))
				return FERRY_EINVAL;
		}
		for (k = nd; k < 9 && nd > 6; k++)
			sub *= 10;
		if (nd > 6)
			memmove(tmp + at + 6, tmp + at + nd, n + 1 - (at + nd));
	}
	if (!val_parse_timestamp(tmp, strlen(tmp), &us, &tz, !(mode & VAL_TIME_RFC3339)))
		return FERRY_EINVAL;
	/* a time without an offset is UTC */
	if (__builtin_add_overflow(us, PG_EPOCH_US, &us) ||
	    __builtin_mul_overflow(us, 1000, ns) || __builtin_add_overflow(*ns, sub, ns))
		return FERRY_EINVAL;
	return 0;
}

/* The units of a duration, smallest first. */
static const struct { const char *u; int64_t ns; } plain_units[] = {
	{ "ns", 1 }, { "us", 1000 }, { "ms", 1000000 }, { "s", 1000000000LL },
	{ "m", 60000000000LL }, { "h", 3600000000000LL }, { "d", 86400000000000LL },
	{ "w", 604800000000000LL }
};

void val_format_duration(int64_t ns, char *buf, size_t n)
{
	size_t i = sizeof(plain_units) / sizeof(plain_units[0]);

	while (--i > 0 && ns % plain_units[i].ns)
		;
	snprintf(buf, n, "%lld%s", (long long)(ns / plain_units[i].ns), plain_units[i].u);
}

/* "90s", "7d" or a bare number of seconds, from a C string. */
static int plain_duration(const char *s, int64_t *ns)
{
	char *end;
	long long v;
	size_t i;

	if (!s || !*s)
		return FERRY_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || v <= 0 || end == s)
		return FERRY_EINVAL;
	if (!*end) {  /* bare number: seconds */
		end = (char *)"s";
	}
	for (i = 0; i < sizeof(plain_units) / sizeof(plain_units[0]); i++)
		if (!strcmp(end, plain_units[i].u))
			return __builtin_mul_overflow(v, plain_units[i].ns, ns) ? FERRY_EINVAL : 0;
	return FERRY_EINVAL;
}

int val_parse_duration(const char *s, int64_t *ns)
{
	return plain_duration(s, ns);
}

/* Go's duration text: <digits><unit> repeated; -1 when it is not one. */
static int64_t go_duration(const char *p, size_t n)
{
	static const struct {
		const char *u;
		int64_t ns;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 },
		      { "h", 3600000000000LL }, { "m", 60000000000LL }, { "s", 1000000000 } };
	const char *e = p + n;
	int64_t total = 0;

	if (p == e)
		return -1;
	while (p < e) {
		int64_t v = 0;
		size_t k, ul = 0;

		if (*p < '0' || *p > '9')
			return -1;
		for (; p < e && *p >= '0' && *p <= '9'; p++) {
			if (v > (INT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (*p - '0');
		}
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			ul = strlen(units[k].u);
			if ((size_t)(e - p) >= ul && !memcmp(p, units[k].u, ul))
				break;
		}
		if (k == sizeof(units) / sizeof(units[0]) || v > (INT64_MAX - total) / units[k].ns)
			return -1;
		total += v * units[k].ns;
		p += ul;
	}
	return total;
}

/* The decimal grammar of VAL_DUR_DECIMAL, from a C string, in us. */
static int decimal_duration(const char *s, int64_t *us)
{
	char *end;
	double v, mul = 1.0;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !(v > 0))
		return FERRY_EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mul = 1.0;
	else if (!strcmp(end, "ms"))
		mul = 1e-3;
	else if (!strcmp(end, "m") || !strcmp(end, "min"))
		mul = 60.0;
	else if (!strcmp(end, "h"))
		mul = 3600.0;
	else if (!strcmp(end, "d"))
		mul = 86400.0;
	else if (!strcmp(end, "w"))
		mul = 7 * 86400.0;
	else if (!strcmp(end, "y"))
		mul = 365 * 86400.0;
	else
		return FERRY_EINVAL;
	v *= mul * 1e6;
	if (v < 1 || v > 1e17)
		return FERRY_EINVAL;
	*us = (int64_t)v;
	return 0;
}

int val_parse_duration_mode(const char *s, size_t n, unsigned mode, int64_t *out)
{
	char tmp[128], *cs = tmp;
	int64_t t;
	int rc;

	if (!s)
		return FERRY_EINVAL;
	if (mode & VAL_DUR_GO) {
		if ((t = go_duration(s, n)) < 0)
			return FERRY_EINVAL;
		*out = t;
		return 0;
	}
	/* the text grammars read a C string (strtod, strtoll); a NUL inside
	 * is no duration.  Longer text than tmp (zero padding: strtod takes
	 * any length) gets a heap copy, the one allocation in this file. */
	if (!n || memchr(s, 0, n))
		return FERRY_EINVAL;
	if (n >= sizeof(tmp) && !(cs = ferry_malloc(n + 1)))
		return FERRY_ENOMEM;
	memcpy(cs, s, n);
	cs[n] = 0;
	rc = mode & VAL_DUR_DECIMAL ? decimal_duration(cs, out) : plain_duration(cs, out);
	if (cs != tmp)
		ferry_free(cs);
	return rc;
}

/* ---- other values ------------------------------------------------------ */

int val_parse_bool(const char *s, size_t n, int *v)
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

int val_json_ok(const char *s, size_t n, int for_jsonb)
{
	struct jv j = { s, s + n, for_jsonb, 0 };
	const char *reason;

	if (!val_utf8_ok(s, n, &reason) || !jvalue(&j))
		return 0;
	jws(&j);
	return j.p == j.e;
}

/*
 * The common case without printf: a value in [1e-4, 1e15) that some
 * decimal m / 10^k with m < 10^15 reads back as.  The smallest such k
 * gives the digits "%.15g" prints (a double is within half an ulp,
 * ~1e-16 relative, of that decimal: far inside the 15th digit's
 * rounding), and m / 10^k is the double strtod makes of that decimal
 * (both exact, the quotient correctly rounded).  snprintf plus strtod
 * took ~0.5 us a value, a fifth of ferry's time on a numeric(10,2)
 * column read from SQLite reals.  -1 when the value is not such a one.
 */
static int format_short_fixed(double d, char *out, size_t n)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
				      1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19 };
	double a = fabs(d), m = 0;
	char dig[24], *o = out;
	int k, nd = 0, i;
	uint64_t u;

	if (!(a >= 1e-4 && a < 1e15) || n < 32)
		return -1;
	for (k = 0; k < 20; k++) {
		m = nearbyint(a * p10[k]);
		if (m >= 1e15)
			return -1;
		if (m / p10[k] == a)
			break;
	}
	if (k == 20)
		return -1;
	for (u = (uint64_t)m; u; u /= 10)
		dig[nd++] = (char)('0' + u % 10);  /* reversed; m >= 1 */
	if (d < 0)
		*o++ = '-';
	if (nd <= k) {
		*o++ = '0';
		*o++ = '.';
		for (i = nd; i < k; i++)
			*o++ = '0';
		while (nd)
			*o++ = dig[--nd];
	} else {
		while (nd > k)
			*o++ = dig[--nd];
		if (k) {
			*o++ = '.';
			while (nd)
				*o++ = dig[--nd];
		}
	}
	*o = '\0';
	return (int)(o - out);
}

int val_int_fits_double(int64_t v)
{
	double d = (double)v;

	/* 2^63 is a double but no int64: INT64_MAX rounds up to it */
	return d < 9223372036854775808.0 && (int64_t)d == v;
}

int val_uint_fits_double(uint64_t v)
{
	double d = (double)v;

	/* 2^64 likewise for UINT64_MAX */
	return d < 18446744073709551616.0 && (uint64_t)d == v;
}

int val_format_double(double d, char *out, size_t n)
{
	int prec;

	if ((prec = format_short_fixed(d, out, n)) >= 0)
		return prec;

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
