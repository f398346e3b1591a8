/*
 * msgpack.c - the MessagePack decoder of msgpack.h: one value at a time,
 * bounds-checked against the end of the input, never recursive (a hostile
 * nesting depth costs a counter, not the stack).
 */
#include <string.h>

#include "wire/msgpack.h"

static uint64_t load_be(const unsigned char *p, int n)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < n; i++)
		x = (x << 8) | p[i];
	return x;
}

/* Decode the value at *pp: a scalar whole, an array or map only its header
 * (the elements follow).  0 and *pp advanced, or MP_TRUNC / MP_BAD. */
int mp_next(const unsigned char **pp, const unsigned char *end, struct mp_val *v)
{
	const unsigned char *p = *pp;
	unsigned c;
	int lb = 0;            /* bytes of a length prefix */
	size_t len = 0, extra = 0;

	if (p >= end)
		return MP_TRUNC;
	c = *p++;
	if (c <= 0x7f) {
		v->t = MP_INT;
		v->v.i = c;
		goto done;
	}
	if (c >= 0xe0) {
		v->t = MP_INT;
		v->v.i = (int64_t)c - 256;
		goto done;
	}
	if (c <= 0x8f || (c >= 0x90 && c <= 0x9f)) {
		v->t = c <= 0x8f ? MP_MAP : MP_ARRAY;
		v->v.n = c & 0x0f;
		goto done;
	}
	if (c <= 0xbf) {       /* fixstr */
		v->t = MP_STR;
		len = c & 0x1f;
		goto payload;
	}
	switch (c) {
	case 0xc0:
		v->t = MP_NIL;
		goto done;
	case 0xc2: case 0xc3:
		v->t = MP_BOOL;
		v->v.b = c & 1;
		goto done;
	case 0xc4: case 0xc5: case 0xc6:
		v->t = MP_BIN;
		lb = 1 << (c - 0xc4);
		goto lenpfx;
	case 0xd9: case 0xda: case 0xdb:
		v->t = MP_STR;
		lb = 1 << (c - 0xd9);
		goto lenpfx;
	case 0xc7: case 0xc8: case 0xc9:
		v->t = MP_EXT;
		lb = 1 << (c - 0xc7);
		extra = 1;
		goto lenpfx;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		v->t = MP_EXT;
		len = (size_t)1 << (c - 0xd4);
		extra = 1;
		goto payload;
	case 0xca:
		if (end - p < 4)
			return MP_TRUNC;
		{
			uint32_t u = (uint32_t)load_be(p, 4);
			float f;

			memcpy(&f, &u, 4);
			v->t = MP_FLOAT;
			v->v.f = f;
		}
		p += 4;
		goto done;
	case 0xcb:
		if (end - p < 8)
			return MP_TRUNC;
		{
			uint64_t u = load_be(p, 8);

			memcpy(&v->v.f, &u, 8);
			v->t = MP_FLOAT;
		}
		p += 8;
		goto done;
	case 0xcc: case 0xcd: case 0xce: case 0xcf: {
		int n = 1 << (c - 0xcc);
		uint64_t u;

		if (end - p < n)
			return MP_TRUNC;
		u = load_be(p, n);
		p += n;
		if (u > INT64_MAX) {
			v->t = MP_UINT;
			v->v.u = u;
		} else {
			v->t = MP_INT;
			v->v.i = (int64_t)u;
		}
		goto done;
	}
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int n = 1 << (c - 0xd0);
		uint64_t u;

		if (end - p < n)
			return MP_TRUNC;
		u = load_be(p, n);
		p += n;
		if (n < 8 && (u >> (n * 8 - 1)))   /* sign-extend */
			u |= ~(uint64_t)0 << (n * 8);
		v->t = MP_INT;
		v->v.i = (int64_t)u;
		goto done;
	}
	case 0xdc: case 0xdd: case 0xde: case 0xdf: {
		int n = c & 1 ? 4 : 2;

		if (end - p < n)
			return MP_TRUNC;
		v->t = c <= 0xdd ? MP_ARRAY : MP_MAP;
		v->v.n = (uint32_t)load_be(p, n);
		p += n;
		goto done;
	}
	default:               /* 0xc1 */
		return MP_BAD;
	}
lenpfx:
	if (end - p < lb)
		return MP_TRUNC;
	len = (size_t)load_be(p, lb);
	p += lb;
payload:
	if ((size_t)(end - p) < extra || (size_t)(end - p) - extra < len)
		return MP_TRUNC;
	v->s = (const char *)p + extra;
	v->len = len;
	p += extra + len;
done:
	*pp = p;
	return 0;
}

/* The whole length of a value by its first byte when that alone says
 * it (0: a container, a length prefix, or 0xc1). */
#define R8(x) x, x, x, x, x, x, x, x
#define R64(x) R8(x), R8(x), R8(x), R8(x), R8(x), R8(x), R8(x), R8(x)
static const unsigned char fixed_len[] = {
	R64(1), R64(1),                                           /* fixint */
	R8(0), R8(0), R8(0), R8(0),                               /* fixmap, fixarray */
	1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,    /* fixstr */
	17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32,
	1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9,           /* 0xc0-0xcf */
	2, 3, 5, 9, 3, 4, 6, 10, 18, 0, 0, 0, 0, 0, 0, 0,         /* 0xd0-0xdf */
	R8(1), R8(1), R8(1), R8(1),                               /* negative fixint */
};
#undef R64
#undef R8
_Static_assert(sizeof(fixed_len) == 256, "fixed_len has one entry per byte");

/* Skip one whole value (iteratively: no recursion on hostile nesting).
 * Values whose first byte gives their length, and small arrays and
 * maps, are sized here without a struct mp_val; the rest go through
 * mp_next.  The InfluxDB source skips each answer message whole before
 * it parses it (to know it is all there): through mp_next for every
 * value, that was 14 % of ferry's instructions on bench/influx's data
 * (callgrind, 200000 points). */
int mp_skip(const unsigned char **pp, const unsigned char *end)
{
	const unsigned char *p = *pp;
	uint64_t left = 1;
	size_t n;
	int rc = 0;

	while (left) {
		unsigned c;

		if (p >= end) {
			rc = MP_TRUNC;
			break;
		}
		c = *p;
		n = fixed_len[c];
		if (!n && c <= 0x9f) {                    /* fixmap, fixarray */
			left += c <= 0x8f ? 2 * (uint64_t)(c & 0x0f) : (uint64_t)(c & 0x0f);
			n = 1;
		} else if (!n) {
			const unsigned char *q = p;
			struct mp_val v;

			if ((rc = mp_next(&q, end, &v)))
				break;
			if (v.t == MP_ARRAY)
				left += v.v.n;
			else if (v.t == MP_MAP)
				left += 2 * (uint64_t)v.v.n;
			n = (size_t)(q - p);
		}
		if ((size_t)(end - p) < n) {
			rc = MP_TRUNC;
			break;
		}
		p += n;
		left--;
	}
	*pp = p;
	return rc;
}

int mp_key_is(const struct mp_val *k, const char *s)
{
	size_t n = strlen(s);

	return k->t == MP_STR && k->len == n && !memcmp(k->s, s, n);
}
