/*
 * csv_int.h - the csv:// point source (prefix csv_): Apache IoTDB
 * `export-csv` output and plain CSV with a header, as points for the
 * telemetry mapper (tsmap.h).  Its files, one job each:
 *
 *   wire/csv.c   (below tsmap) the record splitter and the cell parser
 *   values.c     what a cell holds: numbers, booleans, text, times
 *   header.c     a file's header: mode (IoTDB aligned, by device, plain),
 *                columns, roles, type suffixes
 *   rows.c       a byte range read in blocks, one record into points
 *   discover.c   the scan that infers types and cuts chunks; the schema
 *   source.c     open/close, plan, read, identity, the ops tables
 *
 * The record splitter, cell parser and time parser are exposed for the
 * unit tests and the fuzz harness; everything else goes through
 * csv_source_ops.
 *
 * URL: csv:///abs/path or csv:rel/path, a file or a directory (every
 * *.csv below it, sorted bytewise by path; each file has its own header).
 * Parameters:
 *   format=auto|iotdb|plain  auto (default): "Time,Device,..." is IoTDB by
 *                     device, "Time,root.x.y,..." (every column a root.
 *                     path) is IoTDB aligned, anything else plain
 *   measurement=NAME  plain: the measurement (default: file name without .csv)
 *   time=COL          plain: the time column (default: the first column
 *                     named time, timestamp or ts, any case)
 *   tags=a,b          plain: columns that become tags (must exist)
 *   precision=ns|us|ms|s|m|h  integer times; default ms (IoTDB's), or the
 *                     copy's --precision when it is not ns
 *   escape=backslash|rfc  backslash escapes (\" \\) inside quoted cells:
 *                     default on for IoTDB files, off for plain files
 *   max_record=BYTES  longest record (default 16 MiB)
 *
 * Points: IoTDB aligned: one point per device with a value in the row
 * (measurement = the device path before the last node, fields = sensors);
 * by device: measurement = the Device cell; plain: one point per row,
 * tags from tags=.  Empty cells are no value; a row without any value
 * gives no point.
 *
 * Types: a header suffix (INT32 INT64 FLOAT DOUBLE BOOLEAN TEXT) wins;
 * otherwise discover() scans every row and infers a type per column: all
 * integers -> int, numbers -> float, true/false -> bool, else string.
 * Decisions: in IoTDB files a quoted cell is text (IoTDB quotes exactly
 * its TEXT values), so a quoted "12" makes the column a string column; in
 * plain files quotes are only syntax.  NaN/Inf cells do not turn a
 * numeric column into text; such a value is a reject ("not a finite
 * number") and the row's other values load, as in the line-protocol
 * source.  A quoted empty cell is an
 * empty string in a string column and no value elsewhere.  Spaces around
 * unquoted numbers, booleans and times are ignored.
 *
 * Rejects: a record with the wrong number of cells, a bad time, a value
 * that does not fit its column, NUL or invalid UTF-8, an unterminated
 * quote (that line only) or more than max_record bytes goes to rej with
 * its physical line number; the whole record is rejected so that fixing
 * and reloading it gives every point once.  Rejects are reported whatever
 * `only` says.  Rows outside [start, end) are skipped before their values
 * are checked.
 *
 * Chunks: discover() scans each file once (types need it) and cuts it at
 * record boundaries about every chunk_bytes; plan() returns those cuts.
 * read() re-reads the header of the chunk's file, then streams the range
 * with a buffer bounded by max_record plus 1 MiB.
 */
#ifndef FERRY_CSV_INT_H
#define FERRY_CSV_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/error.h"
#include "tsmap/sources/walk.h"
#include "tsmap/tsmap.h"
#include "wire/csv.h"

extern const struct tm_source_ops csv_source_ops;

/* Longest record read by default; longer ones are rejected, not loaded. */
#define CSV_MAX_RECORD ((size_t)16 << 20)

#define CSV_BLOCK ((size_t)1 << 20)
#define CSV_DEFAULT_CHUNK ((uint64_t)64 << 20)
#define CSV_RAW_HEAD 4096    /* bytes of an over-long record kept for its reject */

/* What a cell looks like, for inference; bits so a column can collect them. */
enum {
	K_INT = 1, K_FLOAT = 2, K_BOOL = 4, K_TEXT = 8, K_SPECIAL = 16, K_PRESENT = 32
};

enum { MODE_ALIGNED, MODE_BYDEV, MODE_PLAIN };
enum { ROLE_TIME, ROLE_DEVICE, ROLE_TAG, ROLE_FIELD };

struct col {
	char *name;          /* header cell, trimmed, for messages */
	int role;
	char *key;           /* field or tag key */
	size_t keyn;
	int group;           /* aligned: device group */
	enum lp_ftype decl;  /* from a type suffix, 0 = none */
	const char *declname;
	unsigned kinds;      /* K_* seen in accepted rows (discover) */
	enum lp_ftype type;  /* final type, 0 = never a value */
};

struct group {
	char *name;
	size_t n;
	int *cols;           /* field columns in header order */
	size_t ncols;
	int64_t points, values;
	int midx;
	size_t base;         /* first slot of its fields in csv_src.fields */
	size_t cnt;          /* fields of the current row */
};

struct dev {                 /* by-device: one Device value */
	char *name;
	size_t n;
	unsigned char *seen; /* per column */
	int64_t points, values;
};

struct cut {
	uint64_t lo, hi;
	int64_t line0, est;
};

struct cfile {
	char *path;
	uint64_t size;
	int64_t mtime_ns;
	int mode, bs, has_header;
	int tcol, dcol;
	struct col *cols;
	size_t ncols;
	struct group *groups;
	size_t ngroups;
	struct dev *devs;    /* sorted by name */
	size_t ndevs, devcap;
	char *meas;          /* plain */
	int64_t points, values;  /* plain */
	int midx;            /* plain */
	uint64_t data_off;
	int64_t data_line, hdr_line;
	struct cut *cuts;
	size_t ncuts;
};

struct csv_src {
	struct cfile *files;
	size_t nfiles;
	char *root;          /* the URL's path */
	int is_dir;          /* a directory: rejects name their file */
	struct tm_walk walk;  /* its files, and those it skipped */
	int format;          /* -1 auto, else MODE_PLAIN or MODE_ALIGNED (iotdb) */
	int escape;          /* -1 default, 0 rfc, 1 backslash */
	char *measurement, *timecol;
	char **tags;
	size_t ntags;
	enum lp_precision prec;
	size_t limit;
	uint64_t chunk_bytes;
	struct tm_source_opts o;
	int discovered;
	struct tm_schema sch;
	/* per-read scratch, sized to the widest header */
	struct csv_cell *cells;
	size_t cellcap;
	char *scratch;
	size_t scratchcap;
	struct lp_field *fields;
	struct lp_tag *tagv;
	unsigned *rowkinds;
	size_t rowcap;
};

/* A byte range of one file read in blocks. */
struct rd {
	int fd;
	uint64_t pos;        /* file offset of buf[0] */
	uint64_t fpos;       /* next file offset to read */
	uint64_t hi;
	char *buf;
	size_t len, cap, off;
	int final;
	int64_t line;        /* physical line at buf[off] */
	size_t limit;
	int bs;
	char head[CSV_RAW_HEAD];  /* an over-long record's first bytes */
};

struct reader {
	struct csv_src *s;
	struct cfile *f;
	int discover;
	int only;
	tm_point_fn fn;
	tm_reject_fn rej;
	void *ud;
	struct dev *lastdev;
	int lastmidx;
	const char *lastname;
	size_t lastn;
	int lastvalid;
};

/*
 * A time cell to nanoseconds since the epoch: ISO 8601
 * (2024-01-01T00:00:00.000+08:00, 'Z', a space for 'T', 0-9 fraction
 * digits, no zone = UTC, or a date alone) or a signed integer in precision
 * p.  0 or FERRY_EREJECT.
 */
int csv_time_parse(const char *s, size_t n, enum lp_precision p, int64_t *ns);

/* ---- values.c */

/* Spaces and tabs around a cell, gone. */
void csv_trim(const char **s, size_t *n);
/* Strict signed decimal integer; 0 ok, -1 not an integer, -2 overflow. */
int csv_parse_i64(const char *s, size_t n, int64_t *out);
/* true/false in any case; 0 or -1. */
int csv_parse_bool(const char *s, size_t n, int *b);
/* 0 and *d finite, -1 not a number, -2 NaN/Inf or out of range. */
int csv_parse_double(const char *s, size_t n, double *d);
/* The K_* bits of a cell (quoted: it was quoted, which in IoTDB files
 * means text when quoted_is_text). */
unsigned csv_classify(const char *s, size_t n, int quoted_is_text, int quoted);
/* 0 valid UTF-8 without NUL, 1 has NUL, 2 invalid UTF-8. */
int csv_check_text(const char *s, size_t n);

/* ---- header.c */

/* Everything f owns; the struct stays. */
void csv_file_release(struct cfile *f);
/* The per-read scratch of s for ncols cells / records of n bytes. */
int csv_grow_scratch(struct csv_src *s, size_t ncols, struct ferry_error *err);
int csv_grow_text(struct csv_src *s, size_t n, struct ferry_error *err);
/*
 * Read and parse the header of f: its columns, mode and groups, and
 * data_off/data_line.  A file without any record has no header and no
 * data (has_header = 0).
 */
int csv_read_header(struct csv_src *s, struct cfile *f, struct ferry_error *err);

/* ---- rows.c */

/* A byte range [lo, hi) of path from line on, records at most limit. */
void csv_rd_release(struct rd *r);
int csv_rd_open(struct rd *r, const char *path, uint64_t lo, uint64_t hi, int64_t line,
		size_t limit, struct ferry_error *err);
/*
 * The next record: 1 with *rec and *n (pointing into the buffer), *line,
 * *toolong and *end_off (file offset after it); 0 at the end of the
 * range; < 0 on error.  An over-long record comes back as its first
 * CSV_RAW_HEAD bytes only.
 */
int csv_rd_next(struct rd *r, const char *path, const char **rec, size_t *n,
		int64_t *line, int *toolong, uint64_t *end_off, struct ferry_error *err);
/*
 * One record: reject it, skip it, or (read) deliver its points / (discover)
 * count them.  Returns 0, or < 0 to stop.
 */
int csv_do_row(struct reader *rdr, const char *rec, size_t n, int64_t line, int toolong,
	       struct ferry_error *err);

/* ---- discover.c */

/* The schema of everything scanned. */
int csv_build_schema(struct csv_src *s, struct tm_schema *out, struct ferry_error *err);
/* discover() once: the scan that types columns and cuts chunks. */
int csv_ensure_discovered(struct csv_src *s, struct ferry_error *err);

#endif
