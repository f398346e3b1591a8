/*
 * pgcopy.c - PostgreSQL's binary COPY format (see pgcopy.h): typed cells
 * to tuples, the copy's hot path into PostgreSQL (a row's room is
 * reserved once and its fields are stored through a pointer), and fields
 * back to cells for verify's reads of the target.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"
#include "wire/pgcopy.h"

const char wire_pgcopy_header[PGCOPY_HEADER_LEN] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

int wire_pgcopy_add_header(struct ferry_buf *o)
{
	return ferry_buf_add(o, wire_pgcopy_header, sizeof(wire_pgcopy_header));
}

int wire_pgcopy_add_trailer(struct ferry_buf *o)
{
	return ferry_buf_addbe16(o, 0xFFFF);
}

/* Canonical decimal text ("-12.340", "NaN", "-Infinity": PostgreSQL 14's
 * numeric infinities) to PostgreSQL's binary numeric: base-10000 digits
 * around the decimal point. */
int wire_pgcopy_add_numeric(struct ferry_buf *o, const char *s, size_t n)
{
	uint16_t digits[1100];
	char ip[2100], fp[2100];
	size_t ni = 0, nf = 0, i, nd = 0, first = 0;
	int neg = 0, weight, rc, e = 0, special = 0;

	if (n == 3 && !strncasecmp(s, "NaN", 3))
		special = 0xC000;
	else if (n == 8 && !strncmp(s, "Infinity", 8))
		special = 0xD000;
	else if (n == 9 && !strncmp(s, "-Infinity", 9))
		special = 0xF000;
	if (special) {
		if ((rc = ferry_buf_addbe32(o, 8)) < 0)
			return rc;
		e |= ferry_buf_addbe16(o, 0);
		e |= ferry_buf_addbe16(o, 0);
		e |= ferry_buf_addbe16(o, (uint16_t)special);
		e |= ferry_buf_addbe16(o, 0);
		return e;  /* 0, or o's sticky error */
	}
	i = 0;
	if (i < n && (s[i] == '-' || s[i] == '+'))
		neg = s[i++] == '-';
	while (i < n && s[i] != '.' && ni < sizeof(ip) - 4)
		ip[ni++] = s[i++];
	if (i < n && s[i] == '.')
		for (i++; i < n && nf < sizeof(fp) - 4; i++)
			fp[nf++] = s[i];
	/* pad the integer part on the left, the fraction on the right */
	{
		size_t lead = (4 - ni % 4) % 4, k;
		char tmp[2110];

		memset(tmp, '0', lead);
		memcpy(tmp + lead, ip, ni);
		ni += lead;
		memcpy(ip, tmp, ni);
		while (nf % 4)
			fp[nf++] = '0';
		for (k = 0; k < ni; k += 4)
			digits[nd++] = (uint16_t)((ip[k] - '0') * 1000 + (ip[k + 1] - '0') * 100 +
					(ip[k + 2] - '0') * 10 + (ip[k + 3] - '0'));
		for (k = 0; k < nf && nd < 1100; k += 4)
			digits[nd++] = (uint16_t)((fp[k] - '0') * 1000 + (fp[k + 1] - '0') * 100 +
					(fp[k + 2] - '0') * 10 + (fp[k + 3] - '0'));
	}
	weight = (int)(ni / 4) - 1;
	{
		/* dscale: fraction digits as written (before padding) */
		const char *dot = memchr(s, '.', n);
		int dscale = dot ? (int)(n - (size_t)(dot - s) - 1) : 0;

		while (first < nd && digits[first] == 0) {
			first++;
			weight--;
		}
		while (nd > first && digits[nd - 1] == 0)
			nd--;
		if (nd == first) {
			weight = 0;
			neg = 0;
		}
		if ((rc = ferry_buf_addbe32(o, (uint32_t)(8 + 2 * (nd - first)))) < 0)
			return rc;
		e |= ferry_buf_addbe16(o, (uint16_t)(nd - first));
		e |= ferry_buf_addbe16(o, (uint16_t)(int16_t)weight);
		e |= ferry_buf_addbe16(o, neg ? 0x4000 : 0);
		e |= ferry_buf_addbe16(o, (uint16_t)dscale);
		for (i = first; i < nd; i++)
			e |= ferry_buf_addbe16(o, digits[i]);
		return e;  /* 0, or o's sticky error */
	}
}

static unsigned char *be16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
	return p + 2;
}

static unsigned char *be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return p + 4;
}

static unsigned char *be64(unsigned char *p, uint64_t v)
{
	return be32(be32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

/*
 * One row in binary COPY format.  The room a row can take is reserved
 * once (every field at most 4 + max(8, length + 1) bytes) and the fields
 * are stored through a pointer: at 5M rows a call or two per field was a
 * visible share of ferry's CPU.  NUMERIC, whose size depends on its
 * digits, goes through the buffer calls.
 */
int wire_pgcopy_add_row(struct ferry_buf *o, const int *types, size_t ncols,
		   const struct ferry_batch *b, size_t r)
{
	const struct ferry_cell *row = ferry_batch_cell(b, r, 0);
	size_t i, need = 2;
	unsigned char *p;
	int rc;

	for (i = 0; i < ncols; i++)  /* len counts for TEXT and BLOB only */
		need += 4 + (row[i].kind >= FERRY_V_TEXT && row[i].len > 8 ? row[i].len + 1 : 9);
	if ((rc = ferry_buf_grow(o, need)) < 0)
		return rc;
	p = be16((unsigned char *)o->buf + o->len, (uint16_t)ncols);
	for (i = 0; i < ncols; i++) {
		const struct ferry_cell *c = &row[i];

		if (c->kind == FERRY_V_NULL) {
			p = be32(p, 0xFFFFFFFFu);
			continue;
		}
		switch (types[i]) {
		case FERRY_T_INT16:
			p = be16(be32(p, 2), (uint16_t)(int16_t)c->v.i);
			break;
		case FERRY_T_INT32:
		case FERRY_T_DATE:
			p = be32(be32(p, 4), (uint32_t)(int32_t)c->v.i);
			break;
		case FERRY_T_INT64:
		case FERRY_T_TIMESTAMP:
		case FERRY_T_TIMESTAMPTZ:
		case FERRY_T_TIME:
			p = be64(be32(p, 8), (uint64_t)c->v.i);
			break;
		case FERRY_T_BOOL:
			p = be32(p, 1);
			*p++ = c->v.i ? 1 : 0;
			break;
		case FERRY_T_FLOAT32: {
			float f = (float)c->v.d;
			uint32_t u;

			memcpy(&u, &f, 4);
			p = be32(be32(p, 4), u);
			break;
		}
		case FERRY_T_FLOAT64: {
			uint64_t u;

			memcpy(&u, &c->v.d, 8);
			p = be64(be32(p, 8), u);
			break;
		}
		case FERRY_T_NUMERIC:
			o->len = (size_t)(p - (unsigned char *)o->buf);
			if ((rc = wire_pgcopy_add_numeric(o, ferry_cell_bytes(b, c), c->len)) < 0)
				return rc;
			/* the rest of the row still fits: wire_pgcopy_add_numeric grew the
			 * buffer for its own bytes only */
			if ((rc = ferry_buf_grow(o, need)) < 0)
				return rc;
			p = (unsigned char *)o->buf + o->len;
			break;
		case FERRY_T_JSONB:
			p = be32(p, c->len + 1);
			*p++ = 1;  /* jsonb's binary format version */
			memcpy(p, ferry_cell_bytes(b, c), c->len);
			p += c->len;
			break;
		default:  /* text, varchar, json, bytea, uuid: raw bytes */
			p = be32(p, c->len);
			memcpy(p, ferry_cell_bytes(b, c), c->len);
			p += c->len;
		}
	}
	o->len = (size_t)(p - (unsigned char *)o->buf);
	o->buf[o->len] = '\0';
	return 0;
}

/* ---- decoding ------------------------------------------------------------ */

long wire_pgcopy_header_len(const unsigned char *p, size_t n)
{
	uint32_t ext;

	if (n < PGCOPY_HEADER_LEN || memcmp(p, wire_pgcopy_header, 11))
		return -1;
	ext = wire_pgcopy_rd32(p + 15);
	if (n - PGCOPY_HEADER_LEN < (size_t)ext)
		return -1;
	return (long)(PGCOPY_HEADER_LEN + (size_t)ext);
}

/*
 * PostgreSQL's binary numeric (base-10000 digits, weight, sign, display
 * scale) to the decimal text numeric_out prints: "-12.340", "0.00",
 * "NaN", "Infinity".  Returns 0, or -1 when the value is malformed.
 */
int wire_pgcopy_numeric_text(const unsigned char *p, size_t n, struct ferry_buf *o)
{
	int nd, weight, sign, dscale, k, f, e = 0;

	ferry_buf_clear(o);
	if (n < 8)
		return -1;
	nd = wire_pgcopy_rd16(p);
	weight = (int16_t)wire_pgcopy_rd16(p + 2);
	sign = wire_pgcopy_rd16(p + 4);
	dscale = wire_pgcopy_rd16(p + 6) & 0x3FFF;
	if (n != 8 + 2 * (size_t)nd)
		return -1;
	p += 8;
	if (sign == 0xC000)
		return ferry_buf_addstr(o, "NaN");
	if (sign == 0xD000)
		return ferry_buf_addstr(o, "Infinity");
	if (sign == 0xF000)
		return ferry_buf_addstr(o, "-Infinity");
	if (sign == 0x4000)
		e |= ferry_buf_addch(o, '-');  /* e: 0, or o's sticky error */
	if (weight < 0) {
		e |= ferry_buf_addch(o, '0');
	} else {
		for (k = 0; k <= weight; k++) {
			unsigned d = k < nd ? wire_pgcopy_rd16(p + 2 * k) : 0;

			if (k == 0)
				e |= ferry_buf_addf(o, "%u", d);
			else
				e |= ferry_buf_addf(o, "%04u", d);
		}
	}
	if (dscale > 0) {
		e |= ferry_buf_addch(o, '.');
		for (f = 0; f < dscale; f += 4) {
			int idx = weight + 1 + f / 4, j;
			unsigned d = idx >= 0 && idx < nd ? wire_pgcopy_rd16(p + 2 * idx) : 0;
			char g[12];

			snprintf(g, sizeof(g), "%04u", d);
			for (j = 0; j < 4 && f + j < dscale; j++)
				e |= ferry_buf_addch(o, g[j]);
		}
	}
	if (e < 0)
		return e;
	return o->len ? 0 : -1;

}

int wire_pgcopy_decode_field(struct ferry_batch *b, struct ferry_cell *cell, int type,
			const unsigned char *v, size_t n, struct ferry_buf *tmp)
{
	switch (type) {
	case FERRY_T_INT16:
		if (n != 2)
			return FERRY_EPARSE;
		cell->kind = FERRY_V_INT;
		cell->v.i = (int16_t)wire_pgcopy_rd16(v);
		return 0;
	case FERRY_T_INT32:
	case FERRY_T_DATE:
		if (n != 4)
			return FERRY_EPARSE;
		cell->kind = FERRY_V_INT;
		cell->v.i = (int32_t)wire_pgcopy_rd32(v);
		return 0;
	case FERRY_T_INT64:
	case FERRY_T_TIMESTAMP:
	case FERRY_T_TIMESTAMPTZ:
	case FERRY_T_TIME:
		if (n != 8)
			return FERRY_EPARSE;
		cell->kind = FERRY_V_INT;
		cell->v.i = (int64_t)wire_pgcopy_rd64(v);
		return 0;
	case FERRY_T_BOOL:
		if (n != 1)
			return FERRY_EPARSE;
		cell->kind = FERRY_V_INT;
		cell->v.i = v[0] != 0;
		return 0;
	case FERRY_T_FLOAT32: {
		uint32_t u;
		float f;

		if (n != 4)
			return FERRY_EPARSE;
		u = wire_pgcopy_rd32(v);
		memcpy(&f, &u, 4);
		cell->kind = FERRY_V_REAL;
		cell->v.d = (double)f;
		return 0;
	}
	case FERRY_T_FLOAT64: {
		uint64_t u;

		if (n != 8)
			return FERRY_EPARSE;
		u = wire_pgcopy_rd64(v);
		cell->kind = FERRY_V_REAL;
		memcpy(&cell->v.d, &u, 8);
		return 0;
	}
	case FERRY_T_NUMERIC:
		if (wire_pgcopy_numeric_text(v, n, tmp) < 0)
			return FERRY_EPARSE;
		return ferry_cell_set_bytes(b, cell, FERRY_V_TEXT, tmp->buf, tmp->len);
	case FERRY_T_JSONB:  /* version byte 1, then the text form */
		if (n < 1 || v[0] != 1)
			return FERRY_EPARSE;
		return ferry_cell_set_bytes(b, cell, FERRY_V_TEXT, v + 1, n - 1);
	case FERRY_T_TEXT:
	case FERRY_T_JSON:
		return ferry_cell_set_bytes(b, cell, FERRY_V_TEXT, v, n);
	default:  /* bytea, uuid, and types ferry does not map: raw bytes */
		return ferry_cell_set_bytes(b, cell, FERRY_V_BLOB, v, n);
	}
}
