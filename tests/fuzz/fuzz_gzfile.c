/*
 * fuzz_gzfile.c - a gzip file that breaks, read by the gzip reader
 * (src/lib/tsmap/sources/gzfile.c) and the lp:// source over it
 * (lpfile.c).  The first 4 input bytes say how to break the rest, which
 * is gzip'd here (one member, or two) and then cut, given a flipped byte,
 * zero padding or trailing bytes; the raw input is read as a file too.
 * Invariants besides memory safety:
 * - the reader always stops, says how, and has handed out exactly
 *   stop.out_off bytes; skipping part of them and reading on gives the
 *   same bytes and the same stop;
 * - a whole, padded or two-member file gives the text and TM_GZ_END, a
 *   cut one a prefix of it, one with trailing bytes all of it and
 *   TM_GZ_TRAILING;
 * - the lp source gives the same points and rejects whether the file is
 *   one chunk or many, read in order or backwards (each chunk alone).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/url.h"
#include "tsmap/sources/gzfile.h"
#include "tsmap/tsmap.h"

#define MAX_TEXT 65536

static int memfile(const void *p, size_t n)
{
	int fd = memfd_create("fuzz-gz", 0);

	if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
		abort();
	return fd;
}

/* Everything a reader gives of fd, skipping skip bytes first. */
static void drain(int fd, uint64_t skip, struct ferry_buf *out, struct tm_gz_stop *st)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_gz g;
	char buf[97];
	size_t step = 1;
	long got;

	/* a dup shares the offset */
	if (lseek(fd, 0, SEEK_SET) != 0 || tm_gz_open(&g, dup(fd), "fuzz", &err) < 0)
		abort();
	if (skip && tm_gz_skip(&g, skip, &err) < 0)
		abort();
	if (g.out > skip || (!g.stop.end && g.out != skip))
		abort();
	while ((got = tm_gz_read(&g, buf, step, &err)) > 0) {
		if (ferry_buf_add(out, buf, (size_t)got) < 0)
			abort();
		step = step % 97 + 1;
	}
	if (got < 0 || !g.stop.end || g.stop.out_off != g.out)
		abort();
	*st = g.stop;
	tm_gz_close(&g);
}

/* The reader's invariants on fd; text: what fd gzip'd, broken by mode. */
static void check_reader(int fd, const struct ferry_buf *text, int mode)
{
	struct ferry_buf all = FERRY_BUF_INIT, tail = FERRY_BUF_INIT;
	struct tm_gz_stop st, st2;

	drain(fd, 0, &all, &st);
	if (st.out_off != all.len)
		abort();
	drain(fd, all.len / 2, &tail, &st2);
	if (tail.len != all.len - all.len / 2 ||
	    (tail.len && memcmp(tail.buf, all.buf + all.len / 2, tail.len)) ||
	    st2.end != st.end || st2.in_off != st.in_off || st2.out_off != st.out_off)
		abort();
	if (text) {
		switch (mode) {
		case 0: case 3:   /* whole, zero padding */
			if (st.end != TM_GZ_END || all.len != text->len ||
			    (all.len && memcmp(all.buf, text->buf, all.len)))
				abort();
			break;
		case 1:           /* cut */
			if (all.len > text->len || (all.len && memcmp(all.buf, text->buf, all.len)))
				abort();
			break;
		case 4:           /* trailing bytes */
			if (st.end != TM_GZ_TRAILING || all.len != text->len ||
			    (all.len && memcmp(all.buf, text->buf, all.len)))
				abort();
			break;
		default:
			break;
		}
	}
	ferry_buf_release(&all);
	ferry_buf_release(&tail);
}

static int on_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	(void)err;
	return ferry_buf_addf(ud, "P %lld %.*s %zu %lld\n", (long long)p->key,
			      (int)p->measurement.n, p->measurement.p, p->nfields,
			      (long long)p->time_ns) < 0;
}

static int on_reject(void *ud, int64_t key, const char *reason, const void *raw, size_t n,
		     struct ferry_error *err)
{
	(void)raw;
	(void)err;
	return ferry_buf_addf(ud, "R %lld %s %zu\n", (long long)key, reason, n) < 0;
}

/* The lp source's transcript of the file, in chunks of cb bytes; 1 when
 * the source refuses it (an export of several databases). */
static int lp_read(const char *url, uint64_t cb, int backwards, struct ferry_buf *out)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts o;
	struct ferry_buf *part;
	struct tm_chunk *c = NULL;
	ferry_url *u = NULL;
	size_t n = 0, i, k;
	void *s = NULL;

	memset(&o, 0, sizeof(o));
	o.chunk_bytes = cb;
	if (ferry_url_parse(url, &u, &err) < 0 || lpf_source_ops.open(u, &o, &s, &err) < 0)
		abort();
	if (lpf_source_ops.plan(s, NULL, &c, &n, &err) < 0) {
		if (err.code != FERRY_EUSAGE)
			abort();
		lpf_source_ops.close(s);
		ferry_url_free(u);
		return 1;
	}
	if (!(part = calloc(n ? n : 1, sizeof(*part))))
		abort();
	for (k = 0; k < n; k++) {
		i = backwards ? n - 1 - k : k;
		if (lpf_source_ops.read(s, NULL, &c[i], -1, on_point, on_reject, &part[i], &err))
			abort();
	}
	for (i = 0; i < n; i++) {
		if (part[i].len && ferry_buf_add(out, part[i].buf, part[i].len) < 0)
			abort();
		ferry_buf_release(&part[i]);
	}
	free(part);
	tm_chunks_free(c);
	lpf_source_ops.close(s);
	ferry_url_free(u);
	return 0;
}

static void check_lp(int fd)
{
	struct ferry_buf one = FERRY_BUF_INIT, many = FERRY_BUF_INIT, back = FERRY_BUF_INIT;
	char url[64];

	snprintf(url, sizeof(url), "lp:///proc/self/fd/%d", fd);
	if (lp_read(url, 0, 0, &one) == 0 &&
	    (lp_read(url, 256, 0, &many) || lp_read(url, 256, 1, &back) ||
	     strcmp(one.buf, many.buf) || strcmp(one.buf, back.buf)))
		abort();
	ferry_buf_release(&one);
	ferry_buf_release(&many);
	ferry_buf_release(&back);
}

/* text gzip'd into out, as two members when split < len */
static void gzip_text(const struct ferry_buf *text, size_t split, struct ferry_buf *out)
{
	size_t parts[2][2] = { { 0, split < text->len ? split : text->len },
			       { split < text->len ? split : text->len, text->len } }, i;

	for (i = 0; i < 2; i++) {
		z_stream z;
		size_t n = parts[i][1] - parts[i][0], cap = compressBound((uLong)n) + 32;

		if (i == 1 && n == 0 && split >= text->len)
			break;
		memset(&z, 0, sizeof(z));
		if (deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
		    ferry_buf_grow(out, cap) < 0)
			abort();
		z.next_in = (Bytef *)(uintptr_t)(text->buf + parts[i][0]);
		z.avail_in = (uInt)n;
		z.next_out = (Bytef *)out->buf + out->len;
		z.avail_out = (uInt)cap;
		if (deflate(&z, Z_FINISH) != Z_STREAM_END)
			abort();
		out->len += cap - z.avail_out;
		deflateEnd(&z);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_buf text = FERRY_BUF_INIT, gz = FERRY_BUF_INIT;
	size_t pos, i;
	int mode, fd;

	if (size < 4 || size > MAX_TEXT)
		return 0;
	mode = data[0] % 5;
	if (ferry_buf_add(&text, data + 4, size - 4) < 0)
		abort();
	gzip_text(&text, (data[1] & 0x80) ? (size_t)(data[1] & 0x7f) * 8 : SIZE_MAX, &gz);
	pos = ((size_t)data[2] << 8 | data[3]) % (gz.len ? gz.len : 1);
	switch (mode) {
	case 1:   /* under 2 bytes it is no gzip file but plain bytes */
		gz.len = pos < 2 ? 2 : pos;
		break;
	case 2:
		if (gz.len)
			gz.buf[pos] ^= (char)(data[1] | 1);
		break;
	case 3:
		for (i = 0; i < pos % 300 + 1; i++)
			if (ferry_buf_addch(&gz, 0) < 0)
				abort();
		break;
	case 4:
		if (ferry_buf_addch(&gz, 0x41 + data[1] % 26) < 0 ||
		    ferry_buf_add(&gz, data + 4, (size - 4) % 40) < 0)
			abort();
		break;
	default:
		break;
	}
	fd = memfile(gz.buf, gz.len);
	check_reader(fd, &text, mode);
	check_lp(fd);
	close(fd);
	/* the input itself as a file: a gzip header that is not */
	fd = memfile(data, size);
	check_reader(fd, NULL, 0);
	check_lp(fd);
	close(fd);
	ferry_buf_release(&text);
	ferry_buf_release(&gz);
	return 0;
}
