/*
 * csv.h - the CSV record splitter and cell parser (prefix csv_): pure, no
 * I/O.  The csv:// point source (tsmap/sources/csv/) reads files with it;
 * tests/fuzz/fuzz_csv.c checks that a record-aligned byte range splits
 * into the same records as the whole file.
 *
 * Ownership: nothing here allocates.  Cells point into the caller's record
 * (unquoted cells) or into the caller's scratch (quoted cells, unescaped);
 * they die with either.
 */
#ifndef FERRY_WIRE_CSV_H
#define FERRY_WIRE_CSV_H

#include <stddef.h>
#include <stdint.h>

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

#endif
