/*
 * gzfile.c - a gzip file read as its inflated bytes, for the file
 * sources (lp:// today): member after member, up to where its data stops.
 *
 * zlib's gzread() cannot be used for a damaged file: at a corrupt block
 * or a bad CRC it drops the bytes it inflated in that call (up to its
 * buffer, hundreds of KiB of good lines), and it cannot say at which
 * compressed byte it stopped.  Here inflate() writes straight into the
 * caller's buffer, so every byte inflated before a break is delivered,
 * and the reader counts the compressed bytes it consumed.
 *
 * What counts as the end (as gzip(1) and zcat see a file):
 *  - after a member, another one follows when the next bytes are the
 *    gzip magic (cat a.gz b.gz);
 *  - zero bytes up to the end of the file are padding (a preallocated or
 *    block-padded file): ignored, as gzip -d does without a word;
 *  - anything else after a member is TM_GZ_TRAILING: gzip -d warns
 *    "trailing garbage ignored" and exits 2, and it may be a further
 *    member whose header is damaged, so it is a break, not silence;
 *  - a file that ends inside a member is TM_GZ_TRUNCATED, a member that
 *    does not inflate (or whose CRC or length does not match) is
 *    TM_GZ_CORRUPT.
 * A corrupt block can inflate to wrong bytes for a while before zlib sees
 * it; only the CRC at the member's end proves them, which is why a CRC
 * mismatch is a break too although every byte inflated.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "tsmap/sources/gzfile.h"

#define GZ_IN ((size_t)256 << 10)     /* compressed bytes per read() */
#define GZ_SKIP ((size_t)128 << 10)   /* inflated bytes per step of a skip */

static voidpf gz_alloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return ferry_malloc((size_t)items * size);
}

static void gz_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	ferry_free(p);
}

/* Read more compressed bytes behind the unread ones. */
static int fill(struct tm_gz *g, struct ferry_error *err)
{
	size_t keep = g->z.avail_in;
	ssize_t got;

	if (g->in_eof)
		return 0;
	if (keep && g->z.next_in != g->in)
		memmove(g->in, g->z.next_in, keep);
	g->z.next_in = g->in;
	if (keep == g->incap)
		return 0;
	do
		got = read(g->fd, g->in + keep, g->incap - keep);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", g->path,
				       strerror(errno));
	if (got == 0)
		g->in_eof = 1;
	g->nread += (uint64_t)got;
	g->z.avail_in = (uInt)(keep + (size_t)got);
	return 0;
}

static void set_stop(struct tm_gz *g, enum tm_gz_end end, const char *why)
{
	g->stop.end = end;
	g->stop.in_off = g->nread - g->z.avail_in;
	g->stop.out_off = g->out;
	g->stop.member_out = g->member_out;
	if (why)
		snprintf(g->stop.why, sizeof(g->stop.why), "%s", why);
}

int tm_gz_open(struct tm_gz *g, int fd, const char *path, struct ferry_error *err)
{
	struct stat st;
	int rc = 0;

	memset(g, 0, sizeof(*g));
	g->fd = fd;
	g->path = path;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		g->size = (uint64_t)st.st_size;
	g->incap = GZ_IN;
	if (!(g->in = ferry_malloc(g->incap))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	g->z.next_in = g->in;
	while (g->z.avail_in < 2 && !g->in_eof)
		if ((rc = fill(g, err)) < 0)
			goto out;
	if (g->z.avail_in < 2 || g->in[0] != 0x1f || g->in[1] != 0x8b) {
		g->direct = 1;
		goto out;
	}
	g->z.zalloc = gz_alloc;
	g->z.zfree = gz_free;
	if (inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	g->zinit = 1;
out:
	if (rc < 0)
		tm_gz_close(g);
	return rc;
}

void tm_gz_close(struct tm_gz *g)
{
	if (g->zinit)
		inflateEnd(&g->z);
	g->zinit = 0;
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
	ferry_free(g->in);
	g->in = NULL;
}

/* A member ended: another one, zero padding up to the end, or trailing
 * bytes that are neither. */
static int next_member(struct tm_gz *g, struct ferry_error *err)
{
	uint64_t at;
	int rc;

	while (g->z.avail_in < 2 && !g->in_eof)
		if ((rc = fill(g, err)) < 0)
			return rc;
	if (!g->z.avail_in) {
		set_stop(g, TM_GZ_END, NULL);
		return 0;
	}
	/* a lone 0x1f at the end starts a member that is cut */
	if (g->z.next_in[0] == 0x1f && (g->z.avail_in == 1 || g->z.next_in[1] == 0x8b)) {
		if (inflateReset(&g->z) != Z_OK)
			return ferry_error_set(err, FERRY_EIO,
					       "cannot read '%s': zlib cannot start its next gzip member",
					       g->path);
		g->between = 0;
		g->member_out = g->out;
		return 0;
	}
	at = g->nread - g->z.avail_in;
	while (g->z.avail_in && g->z.next_in[0] == 0) {
		g->z.next_in++;
		g->z.avail_in--;
		if (!g->z.avail_in && (rc = fill(g, err)) < 0)
			return rc;
	}
	if (!g->z.avail_in) {
		set_stop(g, TM_GZ_END, NULL);
		g->stop.rest = g->stop.in_off - at;
		g->stop.in_off = at;
		return 0;
	}
	set_stop(g, TM_GZ_TRAILING, NULL);
	g->stop.in_off = at;
	g->stop.rest = g->size > at ? g->size - at : 0;
	return 0;
}

static long read_direct(struct tm_gz *g, void *buf, size_t n, struct ferry_error *err)
{
	ssize_t got;

	if (g->z.avail_in) {   /* the bytes looked at for the magic */
		size_t k = n < g->z.avail_in ? n : g->z.avail_in;

		memcpy(buf, g->z.next_in, k);
		g->z.next_in += k;
		g->z.avail_in -= (uInt)k;
		g->out += k;
		return (long)k;
	}
	if (g->in_eof) {
		set_stop(g, TM_GZ_END, NULL);
		return 0;
	}
	do
		got = read(g->fd, buf, n);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", g->path,
				       strerror(errno));
	if (got == 0) {
		g->in_eof = 1;
		set_stop(g, TM_GZ_END, NULL);
		return 0;
	}
	g->nread += (uint64_t)got;
	g->out += (uint64_t)got;
	return (long)got;
}

long tm_gz_read(struct tm_gz *g, void *buf, size_t n, struct ferry_error *err)
{
	int rc;

	if (n > UINT_MAX)
		n = UINT_MAX;
	if (g->stop.end)
		return 0;
	if (g->direct)
		return read_direct(g, buf, n, err);
	g->z.next_out = buf;
	g->z.avail_out = (uInt)n;
	while (g->z.avail_out && !g->stop.end) {
		uInt aout;
		int zr;

		if (g->between) {
			if ((rc = next_member(g, err)) < 0)
				return rc;
			continue;
		}
		if (!g->z.avail_in && (rc = fill(g, err)) < 0)
			return rc;
		aout = g->z.avail_out;
		zr = inflate(&g->z, Z_NO_FLUSH);
		g->out += aout - g->z.avail_out;
		switch (zr) {
		case Z_OK:
			break;
		case Z_STREAM_END:
			g->between = 1;
			break;
		case Z_BUF_ERROR:   /* no progress: input is needed */
			if (!g->z.avail_in && g->in_eof)
				set_stop(g, TM_GZ_TRUNCATED, NULL);
			else if (g->z.avail_in)   /* cannot happen; never spin on it */
				set_stop(g, TM_GZ_CORRUPT, "invalid compressed data");
			break;
		case Z_MEM_ERROR:
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		default:            /* Z_DATA_ERROR, Z_NEED_DICT, Z_STREAM_ERROR */
			set_stop(g, TM_GZ_CORRUPT, g->z.msg ? g->z.msg : "invalid compressed data");
			break;
		}
	}
	return (long)(n - g->z.avail_out);
}

int tm_gz_skip(struct tm_gz *g, uint64_t n, struct ferry_error *err)
{
	char *tmp;
	long got = 0;

	if (!n)
		return 0;
	if (!(tmp = ferry_malloc(GZ_SKIP)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	while (n && (got = tm_gz_read(g, tmp, n < GZ_SKIP ? (size_t)n : GZ_SKIP, err)) > 0)
		n -= (uint64_t)got;
	ferry_free(tmp);
	return got < 0 ? (int)got : 0;
}

int tm_gz_broken(const struct tm_gz_stop *st)
{
	return st->end == TM_GZ_TRUNCATED || st->end == TM_GZ_CORRUPT ||
	       st->end == TM_GZ_TRAILING;
}

int tm_gz_describe(const struct tm_gz_stop *st, const char *path, struct ferry_buf *out)
{
	unsigned long long in = st->in_off, o = st->out_off;
	int rc = 0;

	switch (st->end) {
	case TM_GZ_TRUNCATED:
		rc = ferry_buf_addf(out, "the gzip stream of '%s' ends early at compressed byte "
				    "%llu (uncompressed byte %llu)", path, in, o);
		break;
	case TM_GZ_CORRUPT:
		rc = ferry_buf_addf(out, "the gzip stream of '%s' is corrupt at compressed byte "
				    "%llu (uncompressed byte %llu: %s)", path, in, o, st->why);
		break;
	case TM_GZ_TRAILING:
		if (st->rest)
			rc = ferry_buf_addf(out, "the gzip data of '%s' ends at compressed byte %llu "
					    "(uncompressed byte %llu), and the %llu bytes after it "
					    "are not gzip", path, in, o,
					    (unsigned long long)st->rest);
		else
			rc = ferry_buf_addf(out, "the gzip data of '%s' ends at compressed byte %llu "
					    "(uncompressed byte %llu), and the bytes after it are "
					    "not gzip", path, in, o);
		break;
	default:
		break;
	}
	return rc < 0 ? FERRY_ENOMEM : 0;
}
