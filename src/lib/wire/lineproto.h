/*
 * lineproto.h - InfluxDB 1.x line protocol: a record splitter and a
 * one-record parser, internal to the library (module wire/, prefix lp_:
 * pure parsing and escaping, no I/O, fuzzed).  The lp://
 * connector (issue 5) reads a file or stream in chunks, cuts it into
 * records with lp_next_line(), parses each with lp_parse_line(), and sends
 * a rejected record to the reject file with its line number and reason
 * while the rest loads.
 *
 * Ownership, one rule for the whole module: nothing here allocates per
 * point.  Every pointer lp_parse_line() puts into a struct lp_point points
 * either into the caller's line (a token without escapes) or into the
 * struct lp_scratch (unescaped copies, the tag and field arrays, the reject
 * reason).  They stay valid until the next lp_parse_line() with the same
 * scratch, lp_scratch_release(), or until the caller changes the line's
 * bytes, whichever comes first.  Copy what must outlive that.
 *
 * Syntax accepted (InfluxDB 1.x):
 *   measurement[,tagk=tagv...] fieldk=value[,fieldk=value...] [timestamp]
 * - names, as influxd 1.x reads them (checked against influxd 1.6: SHOW
 *   MEASUREMENTS, SELECT * GROUP BY *): a byte right after a backslash, or
 *   after a run of them, never ends a name ("a\\,b" is one token: influxd
 *   looks only at the byte before a delimiter).  The backslash is dropped
 *   before ',' ' ' '=' and, in measurements and field keys, '"'; it is
 *   kept before any other byte ("\\" stays two backslashes, "\\," reads
 *   "\,": backslashes do not pair).  Tag keys and values keep "\"".
 *   Refused as influxd mishandles them: a measurement with a backslash
 *   right before an escape ("a\\,b": influxd loses the point) and a field
 *   key with an even run of backslashes before ',' ' ' or '=' (influxd
 *   answers 400).  String field values: '\"' '\\' are escapes, a
 *   backslash before any other byte is kept.  A backslash never escapes
 *   a newline: outside a quoted string a newline always ends the record.
 * - field values: float (1, -1.5, 1e10, -1.5E-3; no NaN/Inf), integer
 *   (123i, int64), unsigned (123u, uint64), string ("..", may hold raw
 *   newlines), boolean (t T true True TRUE f F false False FALSE).
 * - timestamp: optional signed int64 in the writer's precision
 *   (lp_ts_to_ns() converts).
 * - a field key given twice: its last value, as InfluxDB keeps it; given
 *   with two types, the record is refused (so is a tag key given twice).
 * - leading spaces/tabs are skipped; several spaces between sections and
 *   trailing spaces are allowed; a trailing '\r' (CRLF files) is dropped.
 * - `influx_inspect export` files: '#' comment lines, the '# DDL' and
 *   '# DML' section headers, '# CONTEXT-DATABASE: db',
 *   '# CONTEXT-RETENTION-POLICY: rp' and 'CREATE DATABASE ...' /
 *   'CREATE RETENTION POLICY ...' lines are reported as their own kinds.
 * Not checked here (the connector's job): UTF-8 validity and NUL bytes,
 * InfluxDB's 64 KiB string limit, field type conflicts across points.
 */
#ifndef FERRY_LINEPROTO_H
#define FERRY_LINEPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"

/* A byte string that is not NUL-terminated. */
struct lp_str {
	const char *p;
	size_t n;
};

struct lp_tag {
	struct lp_str key;
	struct lp_str val;
};

enum lp_ftype {
	LP_FLOAT = 1,
	LP_INT,
	LP_UINT,
	LP_STRING,
	LP_BOOL
};

struct lp_field {
	struct lp_str key;
	enum lp_ftype type;
	union {
		double f;
		int64_t i;
		uint64_t u;
		int b;          /* 0 or 1 */
		struct lp_str s;
	} v;
};

/* InfluxDB's name of a field type, as its type conflicts word it
 * ("float", "integer", "unsigned", "string", "boolean"). */
const char *lp_ftype_name(enum lp_ftype t);

/* What a record is; lp_parse_line() returns one of these (>= 0). */
enum lp_kind {
	LP_POINT = 0,   /* a data point: measurement, tags, fields, ts */
	LP_BLANK,       /* empty or only spaces/tabs */
	LP_COMMENT,     /* '#' line that is none of the below; text = after '#' */
	LP_SECTION,     /* '# DDL' or '# DML'; text = "DDL" / "DML" */
	LP_CONTEXT_DB,  /* '# CONTEXT-DATABASE: x'; text = x */
	LP_CONTEXT_RP,  /* '# CONTEXT-RETENTION-POLICY: x'; text = x */
	LP_DDL          /* 'CREATE DATABASE ..' / 'CREATE RETENTION POLICY ..'; text = line */
};

struct lp_point {
	struct lp_str measurement;
	struct lp_tag *tags;      /* ntags, in input order */
	size_t ntags;
	struct lp_field *fields;  /* nfields >= 1 for LP_POINT, input order */
	size_t nfields;
	int has_ts;
	int64_t ts;               /* as written, see lp_ts_to_ns() */
	struct lp_str text;       /* for the non-point kinds, trimmed */
};

/* Reused across lines; grows to the largest line seen, never per point. */
struct lp_scratch {
	char *buf;                /* unescaped bytes, >= line length */
	size_t bufcap;
	struct lp_tag *tags;
	size_t tagcap;
	struct lp_field *fields;
	size_t fieldcap;
	const struct lp_str **idx; /* duplicate detection on wide lines */
	size_t idxcap;
	char why[256];            /* the last reject reason */
	/* Set by the caller: a NaN or Inf float value (or one out of a
	 * double's range) leaves out that field instead of rejecting the
	 * record, and is listed in dropped ("field 'f' value 'NaN'; ...");
	 * a record left with no field is still a reject.  Files keep the
	 * other fields of the point; a live write is answered as InfluxDB
	 * does (the whole line refused), so the relay leaves it 0. */
	int drop_nonfinite;
	size_t ndropped;          /* fields left out of the last point */
	char dropped[256];
};

void lp_scratch_init(struct lp_scratch *s);
void lp_scratch_release(struct lp_scratch *s);

/*
 * Parse one record (as cut by lp_next_line(); it may hold newlines inside
 * quoted strings).  Returns an enum lp_kind (>= 0) and fills *pt, or
 * FERRY_EREJECT with *why set to a short lower-case reason ("missing
 * fields", "invalid field value 'x' for field 'y'", ...; it lives in the
 * scratch), or FERRY_ENOMEM.  *pt is written only on success.
 */
int lp_parse_line(const char *line, size_t n, struct lp_point *pt,
		  struct lp_scratch *scratch, const char **why);

/* The measurement of record line[0..n) as lp_parse_line() unescapes it,
 * into b (emptied first), without parsing the rest: empty for a record
 * that is no point by its start (blank, '#', CREATE ...).  A record the
 * parser rejects may have one too.  0 or FERRY_ENOMEM. */
int lp_measurement(const char *line, size_t n, struct ferry_buf *b);

/* The timestamp that ends record line[0..n) (its last space-separated
 * token, as written by lp_point_write with has_ts), without parsing the
 * rest: 0 and *ts, or FERRY_EREJECT when the record ends in none. */
int lp_line_ts(const char *line, size_t n, int64_t *ts);

/* Where lp_next_line() is in a buffer. */
struct lp_cursor {
	size_t off;       /* next unread byte */
	uint64_t lineno;  /* physical line number at off, starts at 1 */
};
#define LP_CURSOR_INIT { 0, 1 }

/*
 * Cut the next record out of buf[0..len) from cur->off: up to a newline
 * that is not inside a quoted string field value.  The newline and a '\r'
 * before it are not part of the record.  Returns 1 with *line, *n and
 * *lineno (the physical line the record starts on) set and the cursor
 * advanced past it; 0 when no complete record is left.
 *
 * final = 0: an unfinished record at the end is left alone (returns 0);
 * the caller keeps buf[cur->off..len), appends more input and calls again
 * with off rebased to 0 (lineno carries on).
 * final != 0 (end of input, or the caller's line-size limit is reached):
 * the rest is returned as a record, and a string that never closes does
 * not swallow the input: the record then ends at its first newline, so
 * the parser rejects only that line ("unterminated string").
 */
int lp_next_line(const char *buf, size_t len, struct lp_cursor *cur, int final,
		 const char **line, size_t *n, uint64_t *lineno);

enum lp_precision {
	LP_PREC_NS = 0,
	LP_PREC_US,
	LP_PREC_MS,
	LP_PREC_S,
	LP_PREC_M,
	LP_PREC_H
};

/* "ns"/"n", "us"/"u", "ms", "s", "m", "h" (influx --precision and the
 * HTTP API's precision=).  0 or FERRY_EINVAL. */
int lp_precision_parse(const char *s, enum lp_precision *p);

/* ts in precision p to nanoseconds; 0, or FERRY_EREJECT when it does not
 * fit int64 nanoseconds (*ns untouched). */
int lp_ts_to_ns(int64_t ts, enum lp_precision p, int64_t *ns);

/* The kinds of names; they escape and unescape different bytes. */
enum lp_name {
	LP_NAME_TAG = 0,    /* a tag key or value */
	LP_NAME_MEAS = 1,   /* a measurement */
	LP_NAME_FIELD = 2   /* a field key */
};

/*
 * Append s[0..n) escaped as a line-protocol name of kind k: a backslash
 * before ',' and ' ', and before '=' unless a measurement, and before '"'
 * in a field key, as InfluxDB writes series keys and field keys.  Every
 * other byte, a backslash included, is copied as it is (see
 * lp_point_write() for the names that have no spelling).  The one
 * line-protocol escaper: series keys (tsmap), generated files
 * (generate) and lp_point_write() all use it.  0 or FERRY_ENOMEM.
 */
int lp_escape(struct ferry_buf *b, const char *s, size_t n, enum lp_name k);

/* Append s[0..n) as a quoted string field value: '"', the bytes with '"'
 * and '\' escaped, '"'.  0 or FERRY_ENOMEM. */
int lp_escape_string(struct ferry_buf *b, const char *s, size_t n);

/*
 * Append pt as one line-protocol record (no newline) with every escape
 * needed so that lp_parse_line() and influxd 1.x give the same point
 * back.  Floats are written with 17 significant digits.  Returns 0,
 * FERRY_ENOMEM, or FERRY_EINVAL when a name cannot be written: empty, a
 * newline in it, a backslash at its end, a measurement that starts with
 * a tab or '#' or has a backslash before ',' ' ' '=' or '"', a field key
 * with an odd run of backslashes before ',' ' ' or '='.
 */
int lp_point_write(struct ferry_buf *b, const struct lp_point *pt);

#endif
