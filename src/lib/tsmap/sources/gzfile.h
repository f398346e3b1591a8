/*
 * gzfile.h - a gzip file read as its inflated bytes (gzfile.c), for the
 * file sources (prefix tm_gz): member after member (cat a.gz b.gz), up
 * to where its data stops, and how and where it stopped, so that a
 * source keeps every byte before a break and can say where it is.
 */
#ifndef FERRY_TM_GZFILE_H
#define FERRY_TM_GZFILE_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "ferry/buf.h"
#include "ferry/error.h"

/* How the data stopped. */
enum tm_gz_end {
	TM_GZ_MORE = 0,     /* not yet */
	TM_GZ_END,          /* after whole members (zero bytes after them ignored) */
	TM_GZ_TRUNCATED,    /* the file ends inside a member */
	TM_GZ_CORRUPT,      /* a header, the deflate data or a trailer (CRC,
			     * length) is wrong */
	TM_GZ_TRAILING      /* bytes after the last member that are neither a
			     * gzip member nor zeros */
};

struct tm_gz_stop {
	enum tm_gz_end end;
	uint64_t in_off;    /* compressed bytes before the stop (file offset) */
	uint64_t out_off;   /* bytes inflated before it */
	uint64_t member_out;  /* TM_GZ_CORRUPT: where its member's bytes begin
			       * (uncompressed): from there on, bytes may be
			       * wrong that inflated before zlib saw the damage */
	uint64_t rest;      /* TM_GZ_END: zero bytes ignored after the last
			     * member; TM_GZ_TRAILING: bytes after it (0: not
			     * known, a pipe) */
	char why[80];       /* TM_GZ_CORRUPT: zlib's words ("incorrect data check") */
};

struct tm_gz {
	int fd;
	const char *path;   /* for messages; the caller's, outlives the reader */
	int direct;         /* no gzip magic: the bytes as they are (stdin) */
	int zinit;
	int between;        /* a member ended, the next one not begun */
	int in_eof;
	z_stream z;
	unsigned char *in;
	size_t incap;
	uint64_t size;      /* of a regular file, else 0 */
	uint64_t nread;     /* bytes read from fd */
	uint64_t out;       /* bytes handed out (or dropped by tm_gz_skip) */
	uint64_t member_out;  /* out when the current member began */
	struct tm_gz_stop stop;
};

/* Start reading fd (the reader owns it from here, also when this fails).
 * A file that does not start with the gzip magic is read as it is.
 * 0, FERRY_ENOMEM or FERRY_EIO. */
int tm_gz_open(struct tm_gz *g, int fd, const char *path, struct ferry_error *err);
void tm_gz_close(struct tm_gz *g);

/* Up to n inflated bytes: > 0, 0 once the data stopped (g->stop says
 * how: a break delivers every byte inflated before it first), or
 * FERRY_EIO / FERRY_ENOMEM for a read error. */
long tm_gz_read(struct tm_gz *g, void *buf, size_t n, struct ferry_error *err);

/* Inflate and drop n bytes (a chunk in the middle of the file cannot be
 * entered otherwise); fewer when the data stops first: check out_off. */
int tm_gz_skip(struct tm_gz *g, uint64_t n, struct ferry_error *err);

/* Did the data stop at a break (not at the end of whole members)? */
int tm_gz_broken(const struct tm_gz_stop *st);

/* A break of file path in words: "the gzip stream of 'F' ends early at
 * compressed byte N (uncompressed byte M)", "... is corrupt at ...", "the
 * gzip data of 'F' ends at compressed byte N (uncompressed byte M), and
 * the K bytes after it are not gzip"; nothing when st is no break.
 * 0 or FERRY_ENOMEM. */
int tm_gz_describe(const struct tm_gz_stop *st, const char *path, struct ferry_buf *out);

#endif
