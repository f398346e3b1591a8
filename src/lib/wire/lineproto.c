/*
 * lineproto.c - InfluxDB 1.x line protocol: the record splitter, the
 * one-record parser, timestamp precision, the one escaper for names and
 * string values, and a writer used by the tests and the fuzzer to check
 * that parse(write(parse(x))) == parse(x).  Part of wire/: pure, no I/O.
 * The lp:// source, the InfluxDB source and the point layer (tsmap) sit
 * on top; see lineproto.h for the grammar and the ownership rule.
 *
 * Speed: the parser is one pass over the record with a byte-class table;
 * a token without backslashes is returned in place (no copy), only escaped
 * tokens are unescaped into the scratch, which is sized to the line once
 * per call so pointers into it never move while a line is parsed.  Floats
 * take Clinger's exact fast path (<= 2^53 mantissa, |exp10| <= 22) before
 * falling back to strtod.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "wire/lineproto.h"

/* byte classes */
#define C_COMMA 0x01
#define C_EQ    0x02
#define C_SP    0x04
#define C_BS    0x08
#define C_NL    0x10
#define C_DQ    0x20

static const unsigned char cls[256] = {
	[','] = C_COMMA, ['='] = C_EQ, [' '] = C_SP, ['\\'] = C_BS, ['\n'] = C_NL,
	['"'] = C_DQ,
};

#define C_DELIM (C_COMMA | C_EQ | C_SP)

/*
 * Names, per token kind, as influxd 1.x (1.6, checked against the server:
 * written over /write, read back with SHOW MEASUREMENTS and SELECT *
 * GROUP BY *) reads them:
 * - stop: the bytes that end a token (a backslash only starts an escape);
 * - unesc: the bytes a backslash before them escapes: it is dropped.  A
 *   backslash before any other byte is kept, and backslashes do not pair:
 *   "\\," reads as a kept backslash and an escaped comma ("\,");
 * - esc: the bytes lp_escape() writes a backslash before.
 * Measurements and field keys lose the backslash of '\"' and '\=',
 * tag keys and values keep '\"'.
 */
static const struct name_kind {
	unsigned stop, unesc, esc;
} kinds[] = {
	[LP_NAME_TAG] = { C_COMMA | C_EQ | C_SP | C_BS | C_NL, C_DELIM, C_DELIM },
	[LP_NAME_MEAS] = { C_COMMA | C_SP | C_BS | C_NL, C_DELIM | C_DQ, C_COMMA | C_SP },
	[LP_NAME_FIELD] = { C_COMMA | C_EQ | C_SP | C_BS | C_NL, C_DELIM | C_DQ, C_DELIM | C_DQ },
};

void lp_scratch_init(struct lp_scratch *s)
{
	memset(s, 0, sizeof(*s));
}

void lp_scratch_release(struct lp_scratch *s)
{
	ferry_free(s->buf);
	ferry_free(s->tags);
	ferry_free(s->fields);
	ferry_free(s->idx);
	lp_scratch_init(s);
}

/* ------------------------------------------------------------- reasons */

/* Quote a piece of input for a reason: at most 40 bytes, control bytes
 * shown as '?', so a reject file stays one line per reject. */
static const char *show(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i, k = 0, lim = n > 40 ? 37 : n;

	for (i = 0; i < lim && k + 1 < cap; i++)
		dst[k++] = ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
	if (lim < n)
		for (i = 0; i < 3 && k + 1 < cap; i++)
			dst[k++] = '.';
	dst[k] = '\0';
	return dst;
}

static int reject(struct lp_scratch *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int reject(struct lp_scratch *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return FERRY_EREJECT;
}

/* -------------------------------------------------------------- names */

/* End of a name token starting at p (stop: its kind's).  The byte after a
 * backslash, or after a run of them, is part of the token whatever it is
 * (influxd looks only at the byte before a delimiter: "a\\,b" is one
 * token), except a newline.  *esc is set when the token has a backslash. */
static const char *scan_name(const char *p, const char *end, unsigned stop, int *esc)
{
	while (p < end) {
		unsigned c = cls[(unsigned char)*p];

		if (!(c & stop)) {
			p++;
			continue;
		}
		if (c != C_BS)
			break;
		*esc = 1;
		while (++p < end && *p == '\\')
			;
		if (p < end && *p != '\n')
			p++;
	}
	return p;
}

/* What unescape_name() found influxd does not store as it reads. */
enum { NAME_OK, NAME_LOST, NAME_REFUSED };

/*
 * Unescape src[0..n) of kind k into dst (*len its length), as influxd
 * reads it.  NAME_LOST: a measurement with a backslash right before an
 * escape ("a\\,b", "a\\=b"): influxd takes the write and lists the
 * measurement, but SELECT finds no point under any name.  NAME_REFUSED: a
 * field key with an even run of backslashes before ',' ' ' or '=': two
 * of influxd's scans disagree on it, and it answers 400 (or keeps a field
 * key made of two fields: "a\\=1i,b=2i" is a field 'a\=1i,b').  *at is
 * the escaped byte then.
 */
static int unescape_name(char *dst, size_t *len, const char *src, size_t n,
			 enum lp_name k, char *at)
{
	size_t i = 0, j = 0, run = 0;
	int rc = NAME_OK;

	while (i < n) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\\' && i + 1 < n && (cls[(unsigned char)src[i + 1]] & kinds[k].unesc)) {
			if (rc == NAME_OK && k == LP_NAME_MEAS && run) {
				rc = NAME_LOST;
				*at = src[i + 1];
			} else if (rc == NAME_OK && k == LP_NAME_FIELD && run % 2 &&
				   (cls[(unsigned char)src[i + 1]] & C_DELIM)) {
				rc = NAME_REFUSED;
				*at = src[i + 1];
			}
			dst[j++] = src[i + 1];
			i += 2;
			run = 0;
		} else {
			run = c == '\\' ? run + 1 : 0;
			dst[j++] = src[i++];
		}
	}
	*len = j;
	return rc;
}

/* Make *out the token [p, q) of kind k, unescaped into the scratch when
 * esc: 0, or FERRY_EREJECT with the reason when influxd would not keep
 * the name it reads (see unescape_name()). */
static int take_name(struct lp_str *out, const char *p, const char *q, int esc,
		     enum lp_name k, char **sp, struct lp_scratch *s)
{
	char a[48], at = 0;
	int rc;

	if (!esc) {
		out->p = p;
		out->n = (size_t)(q - p);
		return 0;
	}
	rc = unescape_name(*sp, &out->n, p, (size_t)(q - p), k, &at);
	out->p = *sp;
	*sp += out->n;
	if (rc == NAME_LOST)
		return reject(s, "invalid measurement '%s': a backslash right before the escape "
			      "'\\%c' makes a name InfluxDB 1.x cannot read back",
			      show(a, sizeof(a), p, (size_t)(q - p)), at);
	if (rc == NAME_REFUSED)
		return reject(s, "invalid field key '%s': InfluxDB 1.x refuses an even number of "
			      "backslashes before '%c' (an odd number escapes it)",
			      show(a, sizeof(a), p, (size_t)(q - p)), at);
	return 0;
}

/* ------------------------------------------------------------- numbers */

static const double pow10_tab[23] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/* Parse a float token, the InfluxDB grammar: -?digits[.digits][(e|E)[+-]digits]
 * with at least one mantissa digit (".5" and "5." are fine).  Returns 0,
 * -1 (syntax), -2 (out of range).  tmp holds >= n + 1 bytes. */
static int parse_float(const char *p, size_t n, double *out, char *tmp)
{
	size_t i = 0, ndig = 0;
	uint64_t mant = 0;
	int neg = 0, mant_ok = 1, eneg = 0, edig = 0;
	long e = 0, exp10 = 0;
	double d;
	char *endp;

	if (i < n && p[i] == '-') {
		neg = 1;
		i++;
	}
	for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, ndig++) {
		if (mant > (UINT64_C(1) << 53) / 10)
			mant_ok = 0;
		else
			mant = mant * 10 + (uint64_t)(p[i] - '0');
	}
	if (i < n && p[i] == '.') {
		for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, ndig++) {
			if (mant > (UINT64_C(1) << 53) / 10)
				mant_ok = 0;
			else
				mant = mant * 10 + (uint64_t)(p[i] - '0');
			exp10--;
		}
	}
	if (!ndig)
		return -1;
	if (i < n && (p[i] == 'e' || p[i] == 'E')) {
		i++;
		if (i < n && (p[i] == '+' || p[i] == '-'))
			eneg = p[i++] == '-';
		for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, edig++)
			if (e < 100000)
				e = e * 10 + (p[i] - '0');
		if (!edig)
			return -1;
	}
	if (i != n)
		return -1;
	e = eneg ? -e : e;
	/* Clinger: an exact mantissa times an exact power of ten rounds once */
	if (mant_ok && mant <= (UINT64_C(1) << 53) && e + exp10 >= -22 && e + exp10 <= 22) {
		long x = e + exp10;

		d = (double)mant;
		d = x < 0 ? d / pow10_tab[-x] : d * pow10_tab[x];
		*out = neg ? -d : d;
		return 0;
	}
	memcpy(tmp, p, n);
	tmp[n] = '\0';
	errno = 0;
	d = strtod(tmp, &endp);
	if (endp != tmp + n)
		return -1;
	if (errno == ERANGE && (d > 1.0 || d < -1.0))
		return -2;
	*out = d;
	return 0;
}

/* Digits to uint64; -1 syntax, -2 overflow. */
static int parse_digits(const char *p, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (!n)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned dgt = (unsigned)(p[i] - '0');

		if (dgt > 9)
			return -1;
		if (v > (UINT64_MAX - dgt) / 10)
			return -2;
		v = v * 10 + dgt;
	}
	*out = v;
	return 0;
}

static int parse_int64(const char *p, size_t n, int64_t *out)
{
	uint64_t v;
	int neg = n && p[0] == '-', rc;

	rc = parse_digits(p + neg, n - (size_t)neg, &v);
	if (rc < 0)
		return rc;
	if (neg) {
		if (v > (uint64_t)INT64_MAX + 1)
			return -2;
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	} else {
		if (v > (uint64_t)INT64_MAX)
			return -2;
		*out = (int64_t)v;
	}
	return 0;
}

static int token_is(const char *p, size_t n, const char *lit)
{
	return strlen(lit) == n && !memcmp(p, lit, n);
}

static int looks_nan_inf(const char *p, size_t n)
{
	if (n && (p[0] == '-' || p[0] == '+')) {
		p++;
		n--;
	}
	return n >= 3 && (!strncasecmp(p, "nan", 3) || !strncasecmp(p, "inf", 3));
}

/* A field left out of the point (see drop_nonfinite); never handed out. */
#define LP_DROPPED ((enum lp_ftype)-1)

/* Tell field f (its key, its raw value in f->v.s) in s->dropped. */
static void note_dropped(struct lp_scratch *s, const struct lp_field *f)
{
	char a[48], b[48];
	size_t len = strlen(s->dropped);

	if (len < sizeof(s->dropped) - 1)
		snprintf(s->dropped + len, sizeof(s->dropped) - len, "%sfield '%s' value '%s'",
			 len ? "; " : "", show(b, sizeof(b), f->key.p, f->key.n),
			 show(a, sizeof(a), f->v.s.p, f->v.s.n));
	s->ndropped++;
}

/* Leave out field f, whose value [p, p+n) is not a finite number: 1. */
static int drop_field(struct lp_field *f, const char *p, size_t n, struct lp_scratch *s)
{
	f->type = LP_DROPPED;
	f->v.s.p = p;   /* the raw value, for the note */
	f->v.s.n = n;
	note_dropped(s, f);
	return 1;
}

/* One non-string field value [p, p+n). */
static int parse_value(struct lp_field *f, const char *p, size_t n, char *tmp,
		       struct lp_scratch *s)
{
	char a[48], b[48];
	int rc;

	if (!n)
		return reject(s, "missing field value for field '%s'",
			      show(b, sizeof(b), f->key.p, f->key.n));
	switch (p[0]) {
	case 't': case 'T':
		if (token_is(p, n, "t") || token_is(p, n, "T") || token_is(p, n, "true") ||
		    token_is(p, n, "True") || token_is(p, n, "TRUE")) {
			f->type = LP_BOOL;
			f->v.b = 1;
			return 0;
		}
		goto invalid;
	case 'f': case 'F':
		if (token_is(p, n, "f") || token_is(p, n, "F") || token_is(p, n, "false") ||
		    token_is(p, n, "False") || token_is(p, n, "FALSE")) {
			f->type = LP_BOOL;
			f->v.b = 0;
			return 0;
		}
		goto invalid;
	default:
		break;
	}
	if (p[n - 1] == 'i') {
		rc = parse_int64(p, n - 1, &f->v.i);
		f->type = LP_INT;
	} else if (p[n - 1] == 'u') {
		rc = parse_digits(p, n - 1, &f->v.u);
		f->type = LP_UINT;
	} else {
		rc = parse_float(p, n, &f->v.f, tmp);
		f->type = LP_FLOAT;
	}
	if (rc == -2 && f->type == LP_FLOAT && s->drop_nonfinite)
		return drop_field(f, p, n, s);
	if (rc == -2)
		return reject(s, "field value '%s' out of range for field '%s'",
			      show(a, sizeof(a), p, n), show(b, sizeof(b), f->key.p, f->key.n));
	if (rc == 0)
		return 0;
invalid:
	if (looks_nan_inf(p, n) && s->drop_nonfinite)
		return drop_field(f, p, n, s);
	if (looks_nan_inf(p, n))
		return reject(s, "invalid field value '%s' for field '%s': NaN and Inf are not allowed",
			      show(a, sizeof(a), p, n), show(b, sizeof(b), f->key.p, f->key.n));
	return reject(s, "invalid field value '%s' for field '%s'",
		      show(a, sizeof(a), p, n), show(b, sizeof(b), f->key.p, f->key.n));
}

/* ---------------------------------------------------------- duplicates */

static int str_eq(const struct lp_str *a, const struct lp_str *b)
{
	return a->n == b->n && !memcmp(a->p, b->p, a->n);
}

static int cmp_key(const void *x, const void *y)
{
	const struct lp_str *a = *(const struct lp_str *const *)x;
	const struct lp_str *b = *(const struct lp_str *const *)y;
	size_t m = a->n < b->n ? a->n : b->n;
	int c = m ? memcmp(a->p, b->p, m) : 0;

	return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* A key that occurs twice among n elements of stride bytes whose first
 * member is a struct lp_str, or NULL.  Quadratic for the usual handful,
 * sorted above that so a line with 100k fields stays n log n.  *oom is
 * set when the index cannot be allocated. */
static const struct lp_str *find_dup(const void *base, size_t stride, size_t n,
				     struct lp_scratch *s, int *oom)
{
	size_t i, j;

#define KEY(k) ((const struct lp_str *)(const void *)((const char *)base + (k) * stride))
	if (n <= 16) {
		for (i = 1; i < n; i++)
			for (j = 0; j < i; j++)
				if (str_eq(KEY(i), KEY(j)))
					return KEY(i);
		return NULL;
	}
	if (FERRY_GROW(s->idx, s->idxcap, n) < 0) {
		*oom = 1;
		return NULL;
	}
	for (i = 0; i < n; i++)
		s->idx[i] = KEY(i);
	qsort(s->idx, n, sizeof(*s->idx), cmp_key);
	for (i = 1; i < n; i++)
		if (str_eq(s->idx[i], s->idx[i - 1]))
			return s->idx[i];
	return NULL;
#undef KEY
}

static int cmp_key_at(const void *x, const void *y)
{
	const struct lp_str *a = *(const struct lp_str *const *)x;
	const struct lp_str *b = *(const struct lp_str *const *)y;
	int c = cmp_key(x, y);

	return c ? c : (a > b) - (a < b);  /* then in the line's order */
}

const char *lp_ftype_name(enum lp_ftype t)
{
	switch (t) {
	case LP_FLOAT: return "float";
	case LP_INT: return "integer";
	case LP_UINT: return "unsigned";
	case LP_STRING: return "string";
	case LP_BOOL: return "boolean";
	}
	return "";
}

/*
 * A field key given more than once in a point: InfluxDB keeps the last
 * value (v=1,v=2 is v=2) and refuses the point when two of them differ in
 * type.  Keeps each key's last field, in place (a non-finite value that
 * was dropped is a float); the first key given with two types is *bad
 * (with *was, the earlier type, and *is, the later): 1, else 0.
 */
static int last_fields(struct lp_scratch *s, size_t *nfields, struct lp_str *bad,
		       enum lp_ftype *was, enum lp_ftype *is)
{
	struct lp_field *f = s->fields;
	size_t n = *nfields, i, j, k;
	int found = 0, renote = 0;

	if (FERRY_GROW(s->idx, s->idxcap, n) < 0)
		return FERRY_ENOMEM;
	for (i = 0; i < n; i++)
		s->idx[i] = &f[i].key;
	qsort(s->idx, n, sizeof(*s->idx), cmp_key_at);
	for (i = 0; i < n; i = j) {
		const struct lp_field *last;
		enum lp_ftype lt;

		for (j = i + 1; j < n && str_eq(s->idx[j], s->idx[i]); j++)
			;
		last = (const struct lp_field *)(const void *)s->idx[j - 1];
		lt = last->type == LP_DROPPED ? LP_FLOAT : last->type;
		for (k = i; k + 1 < j; k++) {
			struct lp_field *e = (struct lp_field *)(void *)s->idx[k];
			enum lp_ftype et = e->type == LP_DROPPED ? LP_FLOAT : e->type;

			if (et != lt && !found) {
				found = 1;
				*bad = last->key;
				*was = et;
				*is = lt;
			}
			renote |= e->type == LP_DROPPED;  /* not the field's value */
			e->key.p = NULL;    /* left out below */
		}
	}
	for (i = 0, k = 0; i < n; i++)
		if (f[i].key.p)
			f[k++] = f[i];
	*nfields = k;
	if (renote) {   /* the note tells only the values left out now */
		s->dropped[0] = '\0';
		s->ndropped = 0;
		for (i = 0; i < k; i++)
			if (f[i].type == LP_DROPPED)
				note_dropped(s, &f[i]);
	}
	return found;
}

/* --------------------------------------------------------- non-points */

static int has_prefix(const char *p, const char *end, const char *lit)
{
	size_t n = strlen(lit);

	return (size_t)(end - p) >= n && !memcmp(p, lit, n);
}

static struct lp_str trim(const char *p, const char *end)
{
	struct lp_str r;

	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	r.p = p;
	r.n = (size_t)(end - p);
	return r;
}

static int classify_comment(const char *p, const char *end, struct lp_point *pt)
{
	struct lp_str t = trim(p + 1, end);

	memset(pt, 0, sizeof(*pt));
	if (token_is(t.p, t.n, "DDL") || token_is(t.p, t.n, "DML")) {
		pt->text = t;
		return LP_SECTION;
	}
	if (has_prefix(t.p, t.p + t.n, "CONTEXT-DATABASE:")) {
		pt->text = trim(t.p + 17, t.p + t.n);
		return LP_CONTEXT_DB;
	}
	if (has_prefix(t.p, t.p + t.n, "CONTEXT-RETENTION-POLICY:")) {
		pt->text = trim(t.p + 25, t.p + t.n);
		return LP_CONTEXT_RP;
	}
	pt->text = t;
	return LP_COMMENT;
}

/* -------------------------------------------------------------- parser */

int lp_parse_line(const char *line, size_t n, struct lp_point *pt,
		  struct lp_scratch *s, const char **why)
{
	const char *p = line, *end = line + n, *q;
	char *sp, *tmp;
	char a[48], b[48];
	struct lp_str meas;
	size_t ntags = 0, nfields = 0;
	int esc, rc, has_ts = 0, oom = 0;
	int64_t ts = 0;
	const struct lp_str *dup;

	*why = s->why;
	s->why[0] = '\0';
	s->ndropped = 0;
	s->dropped[0] = '\0';
	while (end > p && (end[-1] == '\r'))
		end--;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end) {
		memset(pt, 0, sizeof(*pt));
		return LP_BLANK;
	}
	if (*p == '#')
		return classify_comment(p, end, pt);
	if (has_prefix(p, end, "CREATE DATABASE ") || has_prefix(p, end, "CREATE RETENTION POLICY ")) {
		memset(pt, 0, sizeof(*pt));
		pt->text = trim(p, end);
		return LP_DDL;
	}

	/* unescaped bytes never outgrow the input; the second half holds a
	 * NUL-terminated copy of a long float for strtod */
	if (s->bufcap < 2 * n + 2) {
		size_t want = 2 * n + 2 < 256 ? 256 : 2 * n + 2;
		char *nb = ferry_realloc(s->buf, want);

		if (!nb)
			return FERRY_ENOMEM;
		s->buf = nb;
		s->bufcap = want;
	}
	sp = s->buf;
	tmp = s->buf + n + 1;

	/* measurement */
	esc = 0;
	q = scan_name(p, end, kinds[LP_NAME_MEAS].stop, &esc);
	if (q == p)
		return reject(s, "missing measurement");
	if (take_name(&meas, p, q, esc, LP_NAME_MEAS, &sp, s) < 0)
		return FERRY_EREJECT;
	p = q;

	/* tags */
	while (p < end && *p == ',') {
		struct lp_tag *t;

		if (FERRY_GROW(s->tags, s->tagcap, ntags + 1) < 0)
			return FERRY_ENOMEM;
		t = &s->tags[ntags++];
		p++;
		esc = 0;
		q = scan_name(p, end, kinds[LP_NAME_TAG].stop, &esc);
		if (q == p)
			return reject(s, "missing tag key");
		take_name(&t->key, p, q, esc, LP_NAME_TAG, &sp, s);
		if (q == end || *q != '=')
			return reject(s, "missing tag value for tag '%s'", show(a, sizeof(a), p, (size_t)(q - p)));
		p = q + 1;
		esc = 0;
		q = scan_name(p, end, kinds[LP_NAME_TAG].stop, &esc);
		if (q == p || (q < end && *q == '='))
			return reject(s, "%s tag value for tag '%s'", q == p ? "missing" : "invalid",
				      show(a, sizeof(a), t->key.p, t->key.n));
		take_name(&t->val, p, q, esc, LP_NAME_TAG, &sp, s);
		p = q;
	}
	if (p < end && *p == '\n')
		return reject(s, "newline outside a string field value");
	/* p is at a space or the end here */
	while (p < end && *p == ' ')
		p++;
	if (p == end)
		return reject(s, "missing fields");

	/* fields */
	for (;;) {
		struct lp_field *f;

		if (FERRY_GROW(s->fields, s->fieldcap, nfields + 1) < 0)
			return FERRY_ENOMEM;
		f = &s->fields[nfields++];
		esc = 0;
		q = scan_name(p, end, kinds[LP_NAME_FIELD].stop, &esc);
		if (q == p)
			return reject(s, "missing field key");
		if (take_name(&f->key, p, q, esc, LP_NAME_FIELD, &sp, s) < 0)
			return FERRY_EREJECT;
		if (q == end || *q != '=')
			return reject(s, "missing field value for field '%s'",
				      show(a, sizeof(a), f->key.p, f->key.n));
		p = q + 1;
		if (p < end && *p == '"') {
			const char *v = ++p;

			esc = 0;
			while (p < end && *p != '"') {
				if (*p == '\\' && p + 1 < end) {
					esc |= p[1] == '"' || p[1] == '\\';
					p += 2;
				} else {
					p++;
				}
			}
			if (p >= end)
				return reject(s, "unterminated string for field '%s'",
					      show(a, sizeof(a), f->key.p, f->key.n));
			f->type = LP_STRING;
			if (!esc) {
				f->v.s.p = v;
				f->v.s.n = (size_t)(p - v);
			} else {
				size_t i = 0, k = 0, m = (size_t)(p - v);

				while (i < m) {
					if (v[i] == '\\' && i + 1 < m && (v[i + 1] == '"' || v[i + 1] == '\\')) {
						sp[k++] = v[i + 1];
						i += 2;
					} else {
						sp[k++] = v[i++];
					}
				}
				f->v.s.p = sp;
				f->v.s.n = k;
				sp += k;
			}
			p++;
			if (p < end && *p != ',' && *p != ' ') {
				q = p;
				while (q < end && *q != ',' && *q != ' ' && *q != '\n')
					q++;
				return reject(s, "invalid field value '%s' for field '%s'",
					      show(a, sizeof(a), v - 1, (size_t)(q - v + 1)),
					      show(b, sizeof(b), f->key.p, f->key.n));
			}
		} else {
			q = p;
			while (q < end && !(cls[(unsigned char)*q] & (C_COMMA | C_SP | C_NL)))
				q++;
			rc = parse_value(f, p, (size_t)(q - p), tmp, s);
			if (rc < 0)
				return rc;
			p = q;
		}
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		break;
	}
	if (p < end && *p == '\n')
		return reject(s, "newline outside a string field value");

	/* timestamp */
	while (p < end && *p == ' ')
		p++;
	if (p < end) {
		q = p;
		while (q < end && *q != ' ')
			q++;
		rc = parse_int64(p, (size_t)(q - p), &ts);
		if (rc < 0)
			return reject(s, "invalid timestamp '%s'%s", show(a, sizeof(a), p, (size_t)(q - p)),
				      rc == -2 ? ": out of range" : "");
		has_ts = 1;
		p = q;
		while (p < end && *p == ' ')
			p++;
		if (p < end) {
			return reject(s, "invalid timestamp: unexpected '%s' after it",
				      show(a, sizeof(a), p, (size_t)(end - p)));
		}
	}

	dup = find_dup(s->tags, sizeof(*s->tags), ntags, s, &oom);
	if (dup)
		return reject(s, "duplicate tag '%s'", show(a, sizeof(a), dup->p, dup->n));
	if (!oom)
		dup = find_dup(s->fields, sizeof(*s->fields), nfields, s, &oom);
	if (oom)
		return FERRY_ENOMEM;
	if (dup) {
		/* written by last_fields only when it returns 1; set here so a
		 * Release build (-O3, -Werror=maybe-uninitialized) sees them set */
		struct lp_str bad = { NULL, 0 };
		enum lp_ftype was = LP_FLOAT, is = LP_FLOAT;

		if ((rc = last_fields(s, &nfields, &bad, &was, &is)) < 0)
			return FERRY_ENOMEM;
		if (rc)
			return reject(s, "field '%s' is given twice, as %s and as %s: InfluxDB "
				      "keeps the last value of a field given twice, of one type",
				      show(a, sizeof(a), bad.p, bad.n), lp_ftype_name(was),
				      lp_ftype_name(is));
	}
	if (s->ndropped) {
		size_t i, k = 0;

		for (i = 0; i < nfields; i++)
			if (s->fields[i].type != LP_DROPPED)
				s->fields[k++] = s->fields[i];
		nfields = k;
		if (!nfields)
			return reject(s, "no finite field value (%s)", s->dropped);
	}

	memset(pt, 0, sizeof(*pt));
	pt->measurement = meas;
	pt->tags = ntags ? s->tags : NULL;
	pt->ntags = ntags;
	pt->fields = s->fields;
	pt->nfields = nfields;
	pt->has_ts = has_ts;
	pt->ts = ts;
	return LP_POINT;
}

int lp_line_ts(const char *line, size_t n, int64_t *ts)
{
	size_t i = n, d;

	while (i > 0 && (line[i - 1] == '\n' || line[i - 1] == '\r'))
		i--;
	for (d = i; d > 0 && line[d - 1] != ' '; d--)
		;
	/* the token after the last space, as lp_parse_line reads it */
	if (d == 0 || parse_int64(line + d, i - d, ts) < 0)
		return FERRY_EREJECT;
	return 0;
}

int lp_measurement(const char *line, size_t n, struct ferry_buf *b)
{
	const char *p = line, *end = line + n, *q;
	size_t len;
	char at;
	int esc = 0, rc;

	ferry_buf_clear(b);
	while (end > p && end[-1] == '\r')
		end--;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p == end || *p == '#' || has_prefix(p, end, "CREATE DATABASE ") ||
	    has_prefix(p, end, "CREATE RETENTION POLICY "))
		return 0;
	q = scan_name(p, end, kinds[LP_NAME_MEAS].stop, &esc);
	if (!esc)
		return ferry_buf_add(b, p, (size_t)(q - p));
	if ((rc = ferry_buf_grow(b, (size_t)(q - p))) < 0)
		return rc;
	(void)unescape_name(b->buf, &len, p, (size_t)(q - p), LP_NAME_MEAS, &at);
	return ferry_buf_setlen(b, len);
}

/* ------------------------------------------------------------ splitter */

enum { S_MEAS, S_FKEY, S_FVAL0, S_FVAL, S_STR, S_REST };

/* Per splitter state, the bytes that may change the state; everything
 * else is skipped by one tight loop (S_REST uses memchr). */
static const unsigned char split_stop[S_REST][256] = {
	[S_MEAS] = { ['\\'] = 1, [' '] = 1, ['\n'] = 1 },
	[S_FKEY] = { ['\\'] = 1, [' '] = 1, ['='] = 1, ['\n'] = 1 },
	[S_FVAL0] = { [0 ... 255] = 1 },
	[S_FVAL] = { [','] = 1, [' '] = 1, ['\n'] = 1 },
	[S_STR] = { ['\\'] = 1, ['"'] = 1, ['\n'] = 1 },
};

int lp_next_line(const char *buf, size_t len, struct lp_cursor *cur, int final,
		 const char **line, size_t *n, uint64_t *lineno)
{
	size_t start = cur->off, i = start, end, next, first_nl = (size_t)-1;
	uint64_t nls = 0;
	int st = S_MEAS;

	if (start >= len)
		return 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t'))
		i++;
	if (i < len && buf[i] == '#')
		st = S_REST;
	for (; i < len; i++) {
		char c;

		if (st == S_REST) {
			const char *nl = memchr(buf + i, '\n', len - i);

			i = nl ? (size_t)(nl - buf) : len;
			break;
		} else {
			const unsigned char *stop = split_stop[st];

			while (i < len && !stop[(unsigned char)buf[i]])
				i++;
			if (i == len)
				break;
		}
		c = buf[i];
		if (c == '\n') {
			if (st != S_STR)
				break;
			if (first_nl == (size_t)-1)
				first_nl = i;
			nls++;
			continue;
		}
		switch (st) {
		case S_MEAS:
		case S_FKEY:
			if (c == '\\') {   /* as scan_name(): past the run and the byte after it */
				while (i + 1 < len && buf[i + 1] == '\\')
					i++;
				if (i + 1 < len && buf[i + 1] != '\n')
					i++;
			} else if (c == ' ') {
				st = st == S_MEAS ? S_FKEY : S_REST;
			} else if (c == '=') {
				st = S_FVAL0;
			}
			break;
		case S_FVAL0:
			if (c == '"') {
				st = S_STR;
				break;
			}
			st = S_FVAL;
			if (c == ',')
				st = S_FKEY;
			else if (c == ' ')
				st = S_REST;
			break;
		case S_FVAL:
			st = c == ',' ? S_FKEY : S_REST;
			break;
		default: /* S_STR */
			if (c == '\\' && i + 1 < len) {
				i++;
				if (buf[i] == '\n') {
					if (first_nl == (size_t)-1)
						first_nl = i;
					nls++;
				}
			} else if (c == '"') {
				st = S_FVAL;
			}
			break;
		}
	}
	if (i < len) {
		end = i;
		next = i + 1;
		nls++;
	} else if (!final) {
		return 0;
	} else if (st == S_STR && first_nl != (size_t)-1) {
		/* never closes: give up on the string at its first newline */
		end = first_nl;
		next = first_nl + 1;
		nls = 1;
	} else {
		end = len;
		next = len;
	}
	if (end > start && buf[end - 1] == '\r')
		end--;
	*line = buf + start;
	*n = end - start;
	*lineno = cur->lineno;
	cur->off = next;
	cur->lineno += nls;
	return 1;
}

/* ----------------------------------------------------------- precision */

int lp_precision_parse(const char *s, enum lp_precision *p)
{
	static const struct { const char *name; enum lp_precision p; } tab[] = {
		{ "ns", LP_PREC_NS }, { "n", LP_PREC_NS }, { "us", LP_PREC_US },
		{ "u", LP_PREC_US }, { "ms", LP_PREC_MS }, { "s", LP_PREC_S },
		{ "m", LP_PREC_M }, { "h", LP_PREC_H },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(s, tab[i].name)) {
			*p = tab[i].p;
			return 0;
		}
	return FERRY_EINVAL;
}

int lp_ts_to_ns(int64_t ts, enum lp_precision p, int64_t *ns)
{
	static const int64_t mul[] = {
		[LP_PREC_NS] = 1, [LP_PREC_US] = 1000, [LP_PREC_MS] = 1000000,
		[LP_PREC_S] = 1000000000, [LP_PREC_M] = 60000000000LL,
		[LP_PREC_H] = 3600000000000LL,
	};
	int64_t r;

	if ((unsigned)p >= sizeof(mul) / sizeof(mul[0]))
		return FERRY_EINVAL;
	if (__builtin_mul_overflow(ts, mul[p], &r))
		return FERRY_EREJECT;
	*ns = r;
	return 0;
}

/* -------------------------------------------------------------- writer */

int lp_escape(struct ferry_buf *b, const char *s, size_t n, enum lp_name kind)
{
	unsigned escmask = kinds[kind].esc;
	size_t i, from = 0;
	int rc = 0;

	/* copy the runs between escaped bytes in one add each: series keys
	 * are built per point */
	for (i = 0; i < n && !rc; i++) {
		if (!(cls[(unsigned char)s[i]] & escmask))
			continue;
		if (i > from)
			rc = ferry_buf_add(b, s + from, i - from);
		if (!rc)
			rc = ferry_buf_addch(b, '\\');
		from = i;
	}
	if (!rc && n > from)  /* s may be NULL when n is 0 */
		rc = ferry_buf_add(b, s + from, n - from);
	return rc;
}

int lp_escape_string(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i, from = 0;
	int rc = ferry_buf_addch(b, '"');

	for (i = 0; i < n && !rc; i++) {
		if (s[i] != '"' && s[i] != '\\')
			continue;
		if (i > from)
			rc = ferry_buf_add(b, s + from, i - from);
		if (!rc)
			rc = ferry_buf_addch(b, '\\');
		from = i;
	}
	if (!rc && n > from)  /* s may be NULL when n is 0 */
		rc = ferry_buf_add(b, s + from, n - from);
	return rc ? rc : ferry_buf_addch(b, '"');
}

/*
 * Write a name of kind k with lp_escape() once it is known to have a
 * spelling that influxd (and lp_parse_line()) reads back as the same
 * bytes.  lp_escape() copies a backslash as it is, and the reader keeps a
 * backslash unless an escapable byte follows it, so what cannot be
 * written: an empty name, a newline, a backslash at the end (it would
 * escape the delimiter after the name), in a measurement a backslash
 * before ',' ' ' '=' or '"' (influxd reads "\=" as "=", and "\\,"
 * loses the point, see unescape_name()), in a field key an odd run of
 * backslashes before ',' ' ' or '=' (the escape makes the run even, which
 * influxd refuses).  The parser never produces any of them.
 */
static int put_name(struct ferry_buf *b, const struct lp_str *v, enum lp_name k)
{
	size_t i, run = 0;

	if (!v->n)
		return FERRY_EINVAL;
	for (i = 0; i < v->n; i++) {
		unsigned c = cls[(unsigned char)v->p[i]];

		if ((c & C_NL) ||
		    (run && k == LP_NAME_MEAS && (c & (C_DELIM | C_DQ))) ||
		    (run % 2 && k == LP_NAME_FIELD && (c & C_DELIM)))
			return FERRY_EINVAL;
		run = c == C_BS ? run + 1 : 0;
	}
	if (run)
		return FERRY_EINVAL;
	return lp_escape(b, v->p, v->n, k);
}

int lp_point_write(struct ferry_buf *b, const struct lp_point *pt)
{
	size_t i;
	int rc;

	if (!pt->nfields || !pt->measurement.n || pt->measurement.p[0] == '\t' ||
	    pt->measurement.p[0] == '#')
		return FERRY_EINVAL;
	rc = put_name(b, &pt->measurement, LP_NAME_MEAS);
	for (i = 0; i < pt->ntags && !rc; i++) {
		rc = ferry_buf_addch(b, ',');
		if (!rc)
			rc = put_name(b, &pt->tags[i].key, LP_NAME_TAG);
		if (!rc)
			rc = ferry_buf_addch(b, '=');
		if (!rc)
			rc = put_name(b, &pt->tags[i].val, LP_NAME_TAG);
	}
	for (i = 0; i < pt->nfields && !rc; i++) {
		const struct lp_field *f = &pt->fields[i];

		rc = ferry_buf_addch(b, i ? ',' : ' ');
		if (!rc)
			rc = put_name(b, &f->key, LP_NAME_FIELD);
		if (!rc)
			rc = ferry_buf_addch(b, '=');
		if (rc)
			break;
		switch (f->type) {
		case LP_FLOAT:
			rc = ferry_buf_addf(b, "%.17g", f->v.f);
			break;
		case LP_INT:
			rc = ferry_buf_addf(b, "%lldi", (long long)f->v.i);
			break;
		case LP_UINT:
			rc = ferry_buf_addf(b, "%lluu", (unsigned long long)f->v.u);
			break;
		case LP_BOOL:
			rc = ferry_buf_addstr(b, f->v.b ? "true" : "false");
			break;
		case LP_STRING:
			rc = lp_escape_string(b, f->v.s.p, f->v.s.n);
			break;
		default:
			return FERRY_EINVAL;
		}
	}
	if (!rc && pt->has_ts)
		rc = ferry_buf_addf(b, " %lld", (long long)pt->ts);
	return rc;
}
