/*
 * canon.c - the canonical encoding ferry verify hashes on both sides.
 *
 * The source side has been through the copy transform and the target
 * side was decoded from PostgreSQL's binary COPY, so both hold the same
 * cell kinds for the same column; what remains are values PostgreSQL
 * stores in a normalized form: numeric (scale of the column) and jsonb
 * (key order, duplicates, whitespace, escapes, numbers).  Those are put
 * in one canonical form here, applied to both sides alike, so an equal
 * value always encodes to equal bytes and any other difference - one
 * ulp of a double, one byte of text, one microsecond - does not.
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferry/alloc.h"
#include "ferry/error.h"
#include "ferry/hash.h"
#include "verify/verify_int.h"

/* ---- numeric ----------------------------------------------------------- */

int vf_canon_numeric(const char *s, size_t n, int32_t typmod, struct ferry_buf *out)
{
	size_t i = 0, nd = 0, lead;
	int neg = 0, dot = -1, exp = 0, point, scale, k, nonzero = 0;
	const char *digs = NULL;
	char *mant;
	int rc = FERRY_EPARSE, e = 0;

	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	while (i < n && isspace((unsigned char)s[i]))
		i++;
	if (n - i == 3 && !strncasecmp(s + i, "NaN", 3))
		return ferry_buf_addstr(out, "NaN");
	if (i < n && (s[i] == '+' || s[i] == '-'))
		neg = s[i++] == '-';
	if (n - i == 8 && !strncasecmp(s + i, "Infinity", 8))
		return ferry_buf_addstr(out, neg ? "-Infinity" : "Infinity");
	mant = ferry_malloc(n + 1);
	if (!mant)
		return FERRY_ENOMEM;
	digs = mant;
	for (; i < n && (isdigit((unsigned char)s[i]) || s[i] == '.'); i++) {
		if (s[i] == '.') {
			if (dot >= 0)
				goto out;
			dot = (int)nd;
			continue;
		}
		mant[nd++] = s[i];
		nonzero |= s[i] != '0';
	}
	if (nd == 0)
		goto out;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		int eneg = 0;
		size_t start;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		for (start = i; i < n && isdigit((unsigned char)s[i]); i++)
			if ((exp = exp * 10 + (s[i] - '0')) > 100000)
				goto out;
		if (i == start)
			goto out;
		if (eneg)
			exp = -exp;
	}
	if (i != n)
		goto out;
	point = (dot < 0 ? (int)nd : dot) + exp;  /* digits before the point */
	/* PostgreSQL's display scale: fraction digits as written, less the
	 * exponent; a typmod fixes it to the column's scale */
	scale = (int)nd - (dot < 0 ? (int)nd : dot) - exp;
	if (scale < 0)
		scale = 0;
	if (typmod >= 0)
		scale = typmod & 0xFFFF;
	if (neg && nonzero)
		e |= ferry_buf_addch(out, '-');
	for (lead = 0; (int)lead < point && lead < nd && digs[lead] == '0'; lead++)
		;
	if (point <= 0 || (int)lead == point) {
		e |= ferry_buf_addch(out, '0');
	} else {
		for (k = (int)lead; k < point; k++)
			e |= ferry_buf_addch(out, k < (int)nd ? digs[k] : '0');
	}
	if (scale > 0) {
		e |= ferry_buf_addch(out, '.');
		for (k = point; k < point + scale; k++)
			e |= ferry_buf_addch(out, k >= 0 && k < (int)nd ? digs[k] : '0');
	}
	rc = e;  /* 0, or the sticky error of out */
out:
	ferry_free(mant);
	return rc;
}

/* ---- JSON -------------------------------------------------------------- */

struct jc {
	const char *p, *e;
	int depth;
};

static void jc_ws(struct jc *j)
{
	while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
			       *j->p == '\r'))
		j->p++;
}

static int jc_value(struct jc *j, struct ferry_buf *out);

static int hex4(const char *p, unsigned *u)
{
	int k;

	*u = 0;
	for (k = 0; k < 4; k++) {
		unsigned char c = (unsigned char)p[k];

		if (!isxdigit(c))
			return 0;
		*u = *u << 4 | (unsigned)(isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return 1;
}

static int put_utf8(struct ferry_buf *o, unsigned cp)
{
	int e = 0;

	if (cp < 0x80) {
		e |= ferry_buf_addch(o, (int)cp);
	} else if (cp < 0x800) {
		e |= ferry_buf_addch(o, (int)(0xC0 | cp >> 6));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		e |= ferry_buf_addch(o, (int)(0xE0 | cp >> 12));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp >> 6 & 0x3F)));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp & 0x3F)));
	} else {
		e |= ferry_buf_addch(o, (int)(0xF0 | cp >> 18));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp >> 12 & 0x3F)));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp >> 6 & 0x3F)));
		e |= ferry_buf_addch(o, (int)(0x80 | (cp & 0x3F)));
	}
	return e;
}

/* Decode a JSON string at j->p (the opening quote) into raw UTF-8. */
static int jc_string_raw(struct jc *j, struct ferry_buf *raw)
{
	int e = 0;

	j->p++;
	while (j->p < j->e) {
		unsigned char c = (unsigned char)*j->p;

		if (c == '"') {
			j->p++;
			return e;
		}
		if (c < 0x20)
			return FERRY_EPARSE;
		if (c != '\\') {
			e |= ferry_buf_addch(raw, c);
			j->p++;
			continue;
		}
		if (++j->p >= j->e)
			return FERRY_EPARSE;
		switch (*j->p) {
		case '"': case '\\': case '/': e |= ferry_buf_addch(raw, *j->p); break;
		case 'b': e |= ferry_buf_addch(raw, '\b'); break;
		case 'f': e |= ferry_buf_addch(raw, '\f'); break;
		case 'n': e |= ferry_buf_addch(raw, '\n'); break;
		case 'r': e |= ferry_buf_addch(raw, '\r'); break;
		case 't': e |= ferry_buf_addch(raw, '\t'); break;
		case 'u': {
			unsigned u, lo;

			if (j->e - j->p < 5 || !hex4(j->p + 1, &u))
				return FERRY_EPARSE;
			j->p += 4;
			if (u >= 0xD800 && u <= 0xDBFF && j->e - j->p >= 7 && j->p[1] == '\\' &&
			    j->p[2] == 'u' && hex4(j->p + 3, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
				u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				j->p += 6;
			}
			e |= put_utf8(raw, u);
			break;
		}
		default:
			return FERRY_EPARSE;
		}
		j->p++;
	}
	return FERRY_EPARSE;
}

/* Re-escape raw UTF-8 as a JSON string, minimally. */
static int put_jstring(struct ferry_buf *o, const char *s, size_t n)
{
	size_t i;
	int e = 0;

	e |= ferry_buf_addch(o, '"');
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			e |= ferry_buf_addch(o, '\\');
			e |= ferry_buf_addch(o, c);
		} else if (c < 0x20) {
			e |= ferry_buf_addf(o, "\\u%04x", c);
		} else {
			e |= ferry_buf_addch(o, c);
		}
	}
	e |= ferry_buf_addch(o, '"');
	return e;
}

struct member {
	size_t koff, klen, voff, vlen, order;
};

static int member_cmp(const void *a, const void *b, void *ud)
{
	const struct member *x = a, *y = b;
	const char *base = ud;
	int c;

	if (x->klen != y->klen)
		return x->klen < y->klen ? -1 : 1;
	c = memcmp(base + x->koff, base + y->koff, x->klen);
	if (c)
		return c;
	return x->order < y->order ? -1 : 1;
}

static int jc_object(struct jc *j, struct ferry_buf *out)
{
	struct ferry_buf tmp = FERRY_BUF_INIT;
	struct member *m = NULL;
	size_t nm = 0, cap = 0, i;
	int rc = FERRY_EPARSE, e = 0;

	j->p++;
	jc_ws(j);
	if (j->p < j->e && *j->p == '}') {
		j->p++;
		return ferry_buf_addstr(out, "{}");
	}
	for (;;) {
		jc_ws(j);
		if (j->p >= j->e || *j->p != '"')
			goto out;
		if (FERRY_GROW(m, cap, nm + 1) < 0) {
			rc = FERRY_ENOMEM;
			goto out;
		}
		m[nm].order = nm;
		m[nm].koff = tmp.len;
		if ((rc = jc_string_raw(j, &tmp)) < 0)  /* FERRY_EPARSE or FERRY_ENOMEM */
			goto out;
		rc = FERRY_EPARSE;
		m[nm].klen
 = tmp.len - m[nm].koff;
		jc_ws(j);
		if (j->p >= j->e || *j->p++ != ':')
			goto out;
		m[nm].voff = tmp.len;
		if ((rc = jc_value(j, &tmp)) < 0)
			goto out;
		rc = FERRY_EPARSE;
		m[nm].vlen = tmp.len - m[nm].voff;
		nm++;
		jc_ws(j);
		if (j->p < j->e && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->e && *j->p == '}') {
			j->p++;
			break;
		}
		goto out;
	}
	qsort_r(m, nm, sizeof(*m), member_cmp, tmp.buf);
	e |= ferry_buf_addch(out, '{');
	for (i = 0; i < nm; i++) {
		/* jsonb keeps the last of duplicate keys */
		if (i + 1 < nm && m[i + 1].klen == m[i].klen &&
		    !memcmp(tmp.buf + m[i].koff, tmp.buf + m[i + 1].koff, m[i].klen))
			continue;
		if (out->buf[out->len - 1] != '{')
			e |= ferry_buf_addstr(out, ", ");
		e |= put_jstring(out, tmp.buf + m[i].koff, m[i].klen);
		e |= ferry_buf_addstr(out, ": ");
		e |= ferry_buf_add(out, tmp.buf + m[i].voff, m[i].vlen);
	}
	e |= ferry_buf_addch(out, '}');
	rc = e;
out:
	ferry_free(m);
	ferry_buf_release(&tmp);
	return rc;
}

static int jc_value(struct jc *j, struct ferry_buf *out)
{
	int rc, e = 0;

	jc_ws(j);
	if (j->p >= j->e || ++j->depth > 1000)
		return FERRY_EPARSE;
	switch (*j->p) {
	case '{':
		rc = jc_object(j, out);
		break;
	case '[': {
		int first = 1;

		j->p++;
		e |= ferry_buf_addch(out, '[');
		jc_ws(j);
		if (j->p < j->e && *j->p == ']') {
			j->p++;
			rc = ferry_buf_addch(out, ']');
			break;
		}
		for (;;) {
			if (!first)
				e |= ferry_buf_addstr(out, ", ");
			first = 0;
			if ((rc = jc_value(j, out)) < 0)
				return rc;
			jc_ws(j);
			if (j->p < j->e && *j->p == ',') {
				j->p++;
				continue;
			}
			if (j->p < j->e && *j->p == ']') {
				j->p++;
				break;
			}
			return FERRY_EPARSE;
		}
		rc = ferry_buf_addch(out, ']');
		break;
	}
	case '"': {
		struct ferry_buf raw = FERRY_BUF_INIT;

		rc = jc_string_raw(j, &raw);
		if (rc == 0)
			rc = put_jstring(out, raw.buf, raw.len);
		ferry_buf_release(&raw);
		break;
	}
	case 't': case 'f': case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		size_t w;

		rc = FERRY_EPARSE;
		for (w = 0; w < 3; w++) {
			size_t wl = strlen(words[w]);

			if ((size_t)(j->e - j->p) >= wl && !strncmp(j->p, words[w], wl)) {
				j->p += wl;
				rc = ferry_buf_addstr(out, words[w]);
				break;
			}
		}
		break;
	}
	default: {
		const char *s = j->p;

		while (j->p < j->e && (isdigit((unsigned char)*j->p) || *j->p == '-' ||
				       *j->p == '+' || *j->p == '.' || *j->p == 'e' ||
				       *j->p == 'E'))
			j->p++;
		rc = j->p > s ? vf_canon_numeric(s, (size_t)(j->p - s), -1, out) : FERRY_EPARSE;
	}
	}
	j->depth--;
	return rc < 0 ? rc : e;
}

int vf_canon_json(const char *s, size_t n, struct ferry_buf *out)
{
	struct jc j = { s, s + n, 0 };
	int rc = jc_value(&j, out);

	if (rc < 0)
		return rc;
	jc_ws(&j);
	return j.p == j.e ? 0 : FERRY_EPARSE;
}

/* ---- cells and rows ---------------------------------------------------- */

static int put_be64(struct ferry_buf *o, uint64_t v)
{
	unsigned char b[8];
	int k;

	for (k = 7; k >= 0; k--) {
		b[k] = (unsigned char)v;
		v >>= 8;
	}
	return ferry_buf_add(o, b, 8);
}


int vf_cell_encode(const struct ferry_batch *b, const struct ferry_cell *c,
		   int type, int32_t typmod, struct ferry_buf *out)
{
	int rc, e = 0;

	/* room for every fixed-size part, so only the canonical forms below
	 * can fail to grow the buffer */
	if ((rc = ferry_buf_grow(out, 16 + (c->kind >= FERRY_V_TEXT ? c->len : 0))) < 0)
		return rc;
	e |= ferry_buf_addch(out, c->kind);
	switch (c->kind) {
	case FERRY_V_INT:
		e |= put_be64(out, (uint64_t)c->v.i);
		break;
	case FERRY_V_REAL: {
		uint64_t u = 0x7FF8000000000000ULL;

		if (!isnan(c->v.d))
			memcpy(&u, &c->v.d, 8);
		e |= put_be64(out, u);

		break;
	}
	case FERRY_V_TEXT:
	case FERRY_V_BLOB: {
		const char *s = ferry_cell_bytes(b, c);
		size_t at = out->len;
		uint32_t n = c->len;
		unsigned char len[4];

		e |= ferry_buf_add(out, "\0\0\0\0", 4);
		if (c->kind == FERRY_V_TEXT && type == FERRY_T_NUMERIC)
			rc = vf_canon_numeric(s, n, typmod, out);
		else if (c->kind == FERRY_V_TEXT && type == FERRY_T_JSONB)
			rc = vf_canon_json(s, n, out);
		else
			rc = ferry_buf_add(out, s, n);
		if (rc == FERRY_EPARSE) {  /* not canonicalizable: its bytes */
			e |= ferry_buf_setlen(out, at + 4);
			rc = ferry_buf_add(out, s, n);
		}
		if (rc < 0)
			return rc;
		n = (uint32_t)(out->len - at - 4);
		len[0] = (unsigned char)(n >> 24);
		len[1] = (unsigned char)(n >> 16);
		len[2] = (unsigned char)(n >> 8);
		len[3] = (unsigned char)n;
		memcpy(out->buf + at, len, 4);
		break;
	}
	default:
		break;
	}
	return e;  /* 0, or the sticky error of out */
}

int vf_row_hash(
const struct ferry_batch *b, size_t r, const int *types,
		const int32_t *typmods, struct ferry_buf *scratch, uint64_t *h)
{
	size_t i;
	int rc = 0;

	ferry_buf_clear(scratch);
	for (i = 0; i < b->ncols && rc == 0; i++)
		rc = vf_cell_encode(b, ferry_batch_cell(b, r, i), types[i],
				    typmods ? typmods[i] : -1, scratch);
	if (rc < 0)
		return rc;
	*h = ferry_hash64(scratch->buf, scratch->len);
	return 0;
}
