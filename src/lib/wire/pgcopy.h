/*
 * pgcopy.h - the PostgreSQL binary COPY format (prefix wire_pgcopy_): pure, no
 * I/O, no libpq.  The encoder appends the "PGCOPY" header, one tuple per
 * batch row and the trailer to a ferry_buf; connectors/postgres.c sends
 * the bytes with PQputCopyData.  The relay's PostgreSQL sink writes
 * through the same encoder, so live and backfilled rows are the same
 * bytes.  The decoder reads a header and single fields back into cells
 * (postgres.c walks the tuples of COPY TO STDOUT with it for verify).
 *
 * Each cell is encoded in the binary send format of its column type
 * (types[] holds FERRY_T_* values): integers, dates, times and timestamps
 * as big-endian integers, floats as their IEEE bits, numeric from its
 * canonical decimal text, jsonb with its version byte, everything else
 * (text, json, bytea, uuid) as raw bytes.  The copy transform has already
 * given every cell the representation its type needs, so encoding fails
 * only on memory.
 */
#ifndef FERRY_WIRE_PGCOPY_H
#define FERRY_WIRE_PGCOPY_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/model.h"

/* The 19-byte header: signature, flags 0, no header extension. */
#define PGCOPY_HEADER_LEN 19
extern const char wire_pgcopy_header[PGCOPY_HEADER_LEN];

/* Append the header.  0 or FERRY_ENOMEM. */
int wire_pgcopy_add_header(struct ferry_buf *o);

/* Append the trailer (a tuple field count of -1).  0 or FERRY_ENOMEM. */
int wire_pgcopy_add_trailer(struct ferry_buf *o);

/*
 * Append row r of b (its first ncols cells, column i of type types[i]) as
 * one tuple; a NULL cell is a field length of -1.  The caller skips
 * rejected rows.  0 or FERRY_ENOMEM.
 */
int wire_pgcopy_add_row(struct ferry_buf *o, const int *types, size_t ncols,
		   const struct ferry_batch *b, size_t r);

/*
 * Append canonical decimal text s[0..n) ("-12.340", "NaN") as one numeric
 * field, its 4-byte length first: base-10000 digits around the decimal
 * point, the display scale the fraction digits as written.  0 or
 * FERRY_ENOMEM.
 */
int wire_pgcopy_add_numeric(struct ferry_buf *o, const char *s, size_t n);

/* Big-endian readers for the field counts and lengths of a tuple. */
static inline uint16_t wire_pgcopy_rd16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t wire_pgcopy_rd32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t wire_pgcopy_rd64(const unsigned char *p)
{
	return (uint64_t)wire_pgcopy_rd32(p) << 32 | wire_pgcopy_rd32(p + 4);
}

/* The length of the header at p[0..n) with its extension area, or -1
 * when p does not start with a whole header. */
long wire_pgcopy_header_len(const unsigned char *p, size_t n);

/*
 * PostgreSQL's binary numeric (base-10000 digits, weight, sign, display
 * scale) to the decimal text numeric_out prints ("-12.340", "0.00",
 * "NaN", "Infinity") in o, which is cleared first.  0, or -1 when the
 * value is malformed.
 */
int wire_pgcopy_numeric_text(const unsigned char *p, size_t n, struct ferry_buf *o);

/*
 * Decode the field v[0..n) of a column of type (FERRY_T_*) into cell, its
 * bytes into b's arena; tmp is scratch for numerics.  0, FERRY_EPARSE
 * when the field does not have the type's layout, or FERRY_ENOMEM.
 */
int wire_pgcopy_decode_field(struct ferry_batch *b, struct ferry_cell *cell, int type,
			const unsigned char *v, size_t n, struct ferry_buf *tmp);

#endif
