/*
 * buf.c - the growable buffer (see ferry/buf.h for the invariants).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/error.h"

char ferry_buf_empty[1];

void ferry_buf_init(struct ferry_buf *b, size_t cap)
{
	b->buf = ferry_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
	b->err = 0;
}

void ferry_buf_release(struct ferry_buf *b)
{
	size_t cap = b->cap;

	if (b->alloc)
		ferry_free(b->buf);
	ferry_buf_init(b, cap);
}

void ferry_buf_clear(struct ferry_buf *b)
{
	b->len = 0;
	b->err = 0;
	if (b->alloc)
		b->buf[0] = '\0';
}

char *ferry_buf_detach(struct ferry_buf *b, size_t *len)
{
	char *p;

	if (!b->alloc && ferry_buf_grow(b, 0) < 0)
		return NULL;
	p = b->buf;
	if (len)
		*len = b->len;
	b->buf = ferry_buf_empty;
	b->len = 0;
	b->alloc = 0;
	b->err = 0;
	return p;
}

/* Remember the first failure: every later grow, and so every add, returns it. */
static int fail(struct ferry_buf *b, int rc)
{
	b->err = rc;
	return rc;
}

int ferry_buf_grow(struct ferry_buf *b, size_t extra)
{
	size_t need, nalloc;
	char *p;

	if (b->err)
		return b->err;
	if (extra > ((size_t)-1) - b->len - 1)
		return fail(b, FERRY_ENOMEM);
	need = b->len + extra + 1;
	if (b->cap && b->len + extra > b->cap)
		return fail(b, FERRY_ETOOBIG);
	if (need <= b->alloc)
		return 0;
	nalloc = b->alloc ? b->alloc : 64;
	while (nalloc < need)
		nalloc = nalloc < (1u << 30) ? nalloc * 2 : nalloc + (1u << 30);
	if (!b->alloc) {
		p = ferry_malloc(nalloc);
		if (!p)
			return fail(b, FERRY_ENOMEM);
		p[0] = '\0';
	} else {
		p = ferry_realloc(b->buf, nalloc);
		if (!p)
			return fail(b, FERRY_ENOMEM);
	}
	b->buf = p;
	b->alloc = nalloc;
	return 0;
}

int ferry_buf_setlen(struct ferry_buf *b, size_t len)
{
	int rc;

	if (len > b->len && (rc = ferry_buf_grow(b, len - b->len)) < 0)
		return rc;
	if (!b->alloc)
		return 0;  /* len == 0 on the shared empty string */
	b->len = len;
	b->buf[len] = '\0';
	return 0;
}

int ferry_buf_add_slow(struct ferry_buf *b, const void *data, size_t n)
{
	int rc;

	const char *p = data;
	size_t at = (size_t)-1;

	if (n == 0)
		return b->err;
	/* appending a part of b to itself: growing may move it */
	if (b->alloc && p >= b->buf && p < b->buf + b->alloc)
		at = (size_t)(p - b->buf);
	if ((rc = ferry_buf_grow(b, n)) < 0)
		return rc;
	memcpy(b->buf + b->len, at != (size_t)-1 ? b->buf + at : p, n);
	b->len += n;
	b->buf[b->len] = '\0';
	return 0;
}

int ferry_buf_addstr(struct ferry_buf *b, const char *s)
{
	return ferry_buf_add(b, s, strlen(s));
}

int ferry_buf_vaddf(struct ferry_buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n, rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (b->err)
		return b->err;
	if (n < 0)
		return fail(b, FERRY_EINVAL);
	if ((rc = ferry_buf_grow(b, (size_t)n)) < 0)
		return rc;
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int ferry_buf_addf(struct ferry_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = ferry_buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

int ferry_buf_addbe16(struct ferry_buf *b, uint16_t v)
{
	unsigned char x[2] = { (unsigned char)(v >> 8), (unsigned char)v };

	return ferry_buf_add(b, x, 2);
}

int ferry_buf_addbe32(struct ferry_buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
			       (unsigned char)(v >> 8), (unsigned char)v };

	return ferry_buf_add(b, x, 4);
}

int ferry_buf_addbe64(struct ferry_buf *b, uint64_t v)
{
	unsigned char x[8];
	int i;

	for (i = 7; i >= 0; i--) {
		x[i] = (unsigned char)v;
		v >>= 8;
	}
	return ferry_buf_add(b, x, 8);
}

int ferry_buf_addjson(struct ferry_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;
	int rc;

	if ((rc = ferry_buf_addch(b, '"')) < 0)
		return rc;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t elen = 0;

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			elen = 2;
		} else if (c < 0x20) {
			esc[0] = '\\';
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			elen = 6;
		} else {
			continue;
		}
		if ((rc = ferry_buf_add(b, s + start, i - start)) < 0 ||
		    (rc = ferry_buf_add(b, esc, elen)) < 0)
			return rc;
		start = i + 1;
	}
	if ((rc = ferry_buf_add(b, s + start, n - start)) < 0)
		return rc;
	return ferry_buf_addch(b, '"');
}

int ferry_buf_addbase64(struct ferry_buf *b, const void *data, size_t n)
{
	static const char tbl[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = data;
	size_t i, o;
	int rc;

	if ((rc = ferry_buf_grow(b, (n + 2) / 3 * 4)) < 0)
		return rc;
	o = b->len;
	for (i = 0; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		b->buf[o++] = tbl[v >> 18];
		b->buf[o++] = tbl[(v >> 12) & 63];
		b->buf[o++] = tbl[(v >> 6) & 63];
		b->buf[o++] = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		b->buf[o++] = tbl[v >> 18];
		b->buf[o++] = tbl[(v >> 12) & 63];
		b->buf[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		b->buf[o++] = '=';
	}
	b->len = o;
	b->buf[o] = '\0';
	return 0;
}

int ferry_buf_read_file(struct ferry_buf *b, const char *path)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	int rc = 0, saved;

	if (!f)
		return FERRY_ENOTFOUND;
	while (rc == 0 && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		rc = ferry_buf_add(b, chunk, n);
	if (rc == 0 && ferror(f))
		rc = FERRY_EIO;
	saved = errno;
	fclose(f);
	errno = saved;
	return rc;
}

void ferry_buf_rtrim(struct ferry_buf *b)
{
	while (b->len && (b->buf[b->len - 1] == ' ' || b->buf[b->len - 1] == '\t' ||
			  b->buf[b->len - 1] == '\n' || b->buf[b->len - 1] == '\r'))
		b->len--;
	if (b->alloc)
		b->buf[b->len] = '\0';
}
