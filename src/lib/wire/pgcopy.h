/*
 * pgcopy.h - the PostgreSQL binary COPY encoder (prefix pgcopy_): pure, no
 * I/O, no libpq.  It appends the "PGCOPY" header, one tuple per batch row
 * and the trailer to a ferry_buf; connectors/postgres.c sends the bytes
 * with PQputCopyData.  The relay's PostgreSQL sink writes through the same
 * encoder, so live and backfilled rows are the same bytes.
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

#include "ferry/buf.h"
#include "ferry/model.h"

/* The 19-byte header: signature, flags 0, no header extension. */
#define PGCOPY_HEADER_LEN 19
extern const char pgcopy_header[PGCOPY_HEADER_LEN];

/* Append the header.  0 or FERRY_ENOMEM. */
int pgcopy_add_header(struct ferry_buf *o);

/* Append the trailer (a tuple field count of -1).  0 or FERRY_ENOMEM. */
int pgcopy_add_trailer(struct ferry_buf *o);

/*
 * Append row r of b (its first ncols cells, column i of type types[i]) as
 * one tuple; a NULL cell is a field length of -1.  The caller skips
 * rejected rows.  0 or FERRY_ENOMEM.
 */
int pgcopy_add_row(struct ferry_buf *o, const int *types, size_t ncols,
		   const struct ferry_batch *b, size_t r);

/*
 * Append canonical decimal text s[0..n) ("-12.340", "NaN") as one numeric
 * field, its 4-byte length first: base-10000 digits around the decimal
 * point, the display scale the fraction digits as written.  0 or
 * FERRY_ENOMEM.
 */
int pgcopy_add_numeric(struct ferry_buf *o, const char *s, size_t n);

#endif
