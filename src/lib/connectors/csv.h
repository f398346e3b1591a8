/*
 * csv.h - the CSV point source (csv://, src/lib/connectors/csv.c): Apache
 * IoTDB `export-csv` files (aligned by time or by device, with or without
 * data-type suffixes) and plain CSV with a header.  The record splitter,
 * cell parser and time parser are exposed (prefix csv_) for the unit tests
 * and the fuzz harness; everything else goes through csv_source_ops.
 *
 * Ownership: nothing here allocates.  Cells point into the caller's record
 * (unquoted cells) or into the caller's scratch (quoted cells, unescaped);
 * they die with either.
 */
#ifndef FERRY_CSV_H
#define FERRY_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "tsmap/tsmap.h"
#include "wire/lineproto.h"

extern const struct tm_source_ops csv_source_ops;

/* Longest record read by default; longer ones are rejected, not loaded. */
#define CSV_MAX_RECORD ((size_t)16 << 20)

/* One record as csv_split() cut it out of buf. */
struct csv_rec {
	size_t off;       /* first byte */
	size_t n;         /* bytes, without the newline and a '\r' before it */
	size_t next;      /* where the next record starts */
	uint64_t nl;      /* newlines inside the record (quoted cells) */
	int toolong;      /* n > limit: reject it, do not parse it */
};

enum {
	CSV_MORE = 0,     /* no complete record yet: append input, call again */
	CSV_REC = 1,      /* *r is a record */
	CSV_SKIP = 2      /* the record at off is longer than limit and has no
			   * newline in buf: drop buf[off..len) and end the
			   * record at the next newline of later input */
};

/*
 * Cut the record that starts at buf[off] (off < len): up to a newline
 * outside a quoted cell.  A quote opens a quoted cell only at the start of
 * a cell; inside, "" is a quote and, when bs, a backslash escapes the next
 * byte (IoTDB).  A record that has no such end within `limit` bytes, or
 * before the end of input when final, ends at its first newline instead
 * (so an unterminated quote costs one rejected line, not the rest of the
 * file).  The result depends only on buf[off..min(len, off+limit+1)) and
 * on whether that is the end of input, which is what makes reading a
 * record-aligned byte range give the same records as reading the file.
 */
int csv_split(const char *buf, size_t len, size_t off, int final, int bs, size_t limit,
	      struct csv_rec *r);

struct csv_cell {
	const char *p;
	size_t n;
	int quoted;
};

/*
 * Split one record into cells.  Quoted cells are unescaped into scratch
 * (at least n bytes).  Stores up to cap cells and returns how many the
 * record has (>= 1), or FERRY_EREJECT with *why ("unterminated quoted
 * value", "unexpected '\"' after a quoted value") and *bad (0-based cell).
 */
int csv_cells(const char *rec, size_t n, int bs, char *scratch, struct csv_cell *cells,
	      size_t cap, const char **why, size_t *bad);

/*
 * A time cell to nanoseconds since the epoch: ISO 8601
 * (2024-01-01T00:00:00.000+08:00, 'Z', a space for 'T', 0-9 fraction
 * digits, no zone = UTC, or a date alone) or a signed integer in precision
 * p.  0 or FERRY_EREJECT.
 */
int csv_time_parse(const char *s, size_t n, enum lp_precision p, int64_t *ns);

#endif
