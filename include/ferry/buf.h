/*
 * buf.h - the one growable buffer for all text and bytes (git strbuf,
 * curl dynbuf).
 *
 * Invariants: b->buf is never NULL and always NUL-terminated at b->len,
 * even for binary content.  An initialised but empty buffer points at a
 * shared empty string and owns nothing, so FERRY_BUF_INIT needs no
 * release when nothing was added.  b->cap (0 = none) caps the length:
 * growing past it returns FERRY_ETOOBIG and leaves the content intact.
 * Every function that grows returns 0 or a negative FERRY_E* code.
 *
 * Errors are sticky (stdio's ferror, curl's dynbuf): after the first
 * failed grow or add, every later one does nothing and returns that same
 * code, so a run of adds needs one check at the end (ferry_buf_error()).
 * Only _clear, _release, _init and _detach forget the error.
 */
#ifndef FERRY_BUF_H
#define FERRY_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifndef FERRY_WARN_UNUSED
#define FERRY_WARN_UNUSED __attribute__((warn_unused_result))
#endif

struct ferry_buf {
	char *buf;
	size_t len;
	size_t alloc;  /* 0 while buf points at the shared empty string */
	size_t cap;    /* maximum len, 0 = unlimited */
	int err;       /* the first failure's FERRY_E* code, 0 while none */
};

extern char ferry_buf_empty[];
#define FERRY_BUF_INIT { ferry_buf_empty, 0, 0, 0, 0 }

void ferry_buf_init(struct ferry_buf *b, size_t cap);
/* Free the contents, keep the struct usable (empty). */
void ferry_buf_release(struct ferry_buf *b);
/* Empty the buffer but keep its memory for reuse. */
void ferry_buf_clear(struct ferry_buf *b);
/* Hand the memory to the caller (free with ferry_free); b becomes empty.
 * Returns NULL only on out-of-memory for an empty buffer. */
char *ferry_buf_detach(struct ferry_buf *b, size_t *len);

/* 0, or the sticky FERRY_E* code of the first add or grow that failed. */
static inline int ferry_buf_error(const struct ferry_buf *b)
{
	return b->err;
}

/* Make room for at least extra more bytes beyond len. */
FERRY_WARN_UNUSED int ferry_buf_grow(struct ferry_buf *b, size_t extra);
FERRY_WARN_UNUSED int ferry_buf_setlen(struct ferry_buf *b, size_t len);

FERRY_WARN_UNUSED int ferry_buf_add_slow(struct ferry_buf *b, const void *data, size_t n);

/* Append n bytes.  Inline for the case with room: the copy pipeline adds
 * every value and every length word of a COPY row (12% of ferry's time
 * in calls on wide rows). */
FERRY_WARN_UNUSED static inline int ferry_buf_add(struct ferry_buf *b, const void *data,
						  size_t n)
{
	if (n && !b->err && n < b->alloc - b->len && (!b->cap || b->len + n <= b->cap)) {
		memcpy(b->buf + b->len, data, n);
		b->len += n;
		b->buf[b->len] = '\0';
		return 0;
	}
	return ferry_buf_add_slow(b, data, n);
}
/* Append one byte; inline like ferry_buf_add (a per-cell call in the
 * copy's row hash was 1.9% of ferry's time on wide rows). */
FERRY_WARN_UNUSED static inline int ferry_buf_addch(struct ferry_buf *b, int c)
{
	char ch = (char)c;

	return ferry_buf_add(b, &ch, 1);
}
FERRY_WARN_UNUSED int ferry_buf_addstr(struct ferry_buf *b, const char *s);
FERRY_WARN_UNUSED int ferry_buf_addf(struct ferry_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
FERRY_WARN_UNUSED int ferry_buf_vaddf(struct ferry_buf *b, const char *fmt, va_list ap);

/* Big-endian appends used by binary wire formats. */
FERRY_WARN_UNUSED int ferry_buf_addbe16(struct ferry_buf *b, uint16_t v);
FERRY_WARN_UNUSED int ferry_buf_addbe32(struct ferry_buf *b, uint32_t v);
FERRY_WARN_UNUSED int ferry_buf_addbe64(struct ferry_buf *b, uint64_t v);

/* JSON string literal (with quotes) of n bytes of UTF-8 text. */
FERRY_WARN_UNUSED int ferry_buf_addjson(struct ferry_buf *b, const char *s, size_t n);
/* Standard base64 of n bytes. */
FERRY_WARN_UNUSED int ferry_buf_addbase64(struct ferry_buf *b, const void *data, size_t n);

/* Append the whole file at path.  0; FERRY_ENOTFOUND when it cannot be
 * opened and FERRY_EIO when reading fails (errno says why, for the
 * caller's message); FERRY_ENOMEM (or b's cap) when it does not fit. */
FERRY_WARN_UNUSED int ferry_buf_read_file(struct ferry_buf *b, const char *path);

/* Remove trailing whitespace. */
void ferry_buf_rtrim(struct ferry_buf *b);

#endif
