/*
 * csv.c - the csv:// point source: Apache IoTDB `export-csv` output and
 * plain CSV with a header, as points for the telemetry mapper (tsmap.h).
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
#include <dirent.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "connectors/conn_int.h"
#include "tsmap/sources/csv/csv_int.h"
#include "copy/copy_int.h"
#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/hash.h"

#define BLOCK ((size_t)1 << 20)
#define DEFAULT_CHUNK ((uint64_t)64 << 20)
#define RAW_HEAD 4096    /* bytes of an over-long record kept for its reject */

/* ---- the record splitter and the cell parser ---------------------------- */

int csv_split(const char *buf, size_t len, size_t off, int final, int bs, size_t limit,
	      struct csv_rec *r)
{
	size_t end = len - off > limit ? off + limit : len;
	size_t i = off;
	uint64_t nl = 0;
	int open = 0;    /* the scan stopped inside a quoted cell */
	const char *p;

	while (i < end) {
		const char *q, *stop;

		/* unquoted: the record ends at the next newline unless a quote
		 * opens a cell before it */
		p = memchr(buf + i, '\n', end - i);
		stop = p ? p : buf + end;
		q = memchr(buf + i, '"', (size_t)(stop - (buf + i)));
		while (q && !(q == buf + off || q[-1] == ','))
			q = memchr(q + 1, '"', (size_t)(stop - (q + 1)));
		if (!q) {
			if (!p)
				break;
			r->off = off;
			r->n = (size_t)(p - (buf + off));
			if (r->n && buf[off + r->n - 1] == '\r')
				r->n--;
			r->next = (size_t)(p - buf) + 1;
			r->nl = nl;
			r->toolong = 0;
			return CSV_REC;
		}
		/* quoted: up to a quote not followed by a quote */
		open = 1;
		for (i = (size_t)(q - buf) + 1; i < end; i++) {
			char c = buf[i];

			if (c == '"') {
				if (i + 1 >= end) {
					/* closes only if nothing can follow */
					if (end == len && final) {
						open = 0;
						i = end;
					}
					break;
				}
				if (buf[i + 1] != '"') {
					open = 0;
					i++;
					break;
				}
				i++;
			} else if (c == '\\' && bs) {
				i++;
				if (i < end && buf[i] == '\n')
					nl++;
			} else if (c == '\n') {
				nl++;
			}
		}
		if (open)
			break;
	}
	if (!open && final && end == len) {
		/* the last record, without a newline */
		r->off = off;
		r->n = len - off;
		if (r->n && buf[len - 1] == '\r')
			r->n--;
		r->next = len;
		r->nl = nl;
		r->toolong = 0;
		return CSV_REC;
	}
	/* no end within the window: wait for more, or end at the first newline */
	if (len - off <= limit && !final)
		return CSV_MORE;
	p = memchr(buf + off, '\n', len - off);
	if (!p && !final)
		return CSV_SKIP;
	r->off = off;
	r->n = p ? (size_t)(p - (buf + off)) : len - off;
	r->next = p ? (size_t)(p - buf) + 1 : len;
	if (r->n && buf[off + r->n - 1] == '\r')
		r->n--;
	r->nl = 0;
	r->toolong = r->n > limit;
	return CSV_REC;
}

int csv_cells(const char *rec, size_t n, int bs, char *scratch, struct csv_cell *cells,
	      size_t cap, const char **why, size_t *bad)
{
	size_t i = 0, k = 0;
	char *w = scratch;

	for (;;) {
		struct csv_cell c;

		if (i < n && rec[i] == '"') {
			int closed = 0;

			c.p = w;
			c.quoted = 1;
			for (i++; i < n; i++) {
				if (rec[i] == '"') {
					if (i + 1 < n && rec[i + 1] == '"') {
						*w++ = '"';
						i++;
						continue;
					}
					i++;
					closed = 1;
					break;
				}
				if (bs && rec[i] == '\\' && i + 1 < n &&
				    (rec[i + 1] == '"' || rec[i + 1] == '\\')) {
					*w++ = rec[++i];
					continue;
				}
				*w++ = rec[i];
			}
			c.n = (size_t)(w - c.p);
			if (!closed) {
				*why = "unterminated quoted value";
				*bad = k;
				return FERRY_EREJECT;
			}
			if (i < n && rec[i] != ',') {
				*why = "unexpected text after a quoted value";
				*bad = k;
				return FERRY_EREJECT;
			}
		} else {
			const char *e = memchr(rec + i, ',', n - i);

			c.p = rec + i;
			c.n = e ? (size_t)(e - (rec + i)) : n - i;
			c.quoted = 0;
			i += c.n;
		}
		if (k < cap)
			cells[k] = c;
		k++;
		if (i >= n)
			break;
		i++;    /* the comma */
		if (i == n) {   /* a trailing comma: one more empty cell */
			if (k < cap) {
				cells[k].p = rec + n;
				cells[k].n = 0;
				cells[k].quoted = 0;
			}
			k++;
			break;
		}
	}
	return (int)(k > (size_t)INT32_MAX ? INT32_MAX : k);
}

/* ---- values ------------------------------------------------------------- */

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Strict signed decimal integer; 0 ok, -1 not an integer, -2 overflow. */
static int parse_i64(const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	int neg = 0;
	uint64_t v = 0, lim;

	if (n && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		i++;
	}
	if (i == n)
		return -1;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (lim - d) / 10) {
			for (i++; i < n; i++)
				if ((unsigned char)s[i] - '0' > 9)
					return -1;
			return -2;
		}
		v = v * 10 + d;
	}
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* What a cell looks like, for inference; bits so a column can collect them. */
enum {
	K_INT = 1, K_FLOAT = 2, K_BOOL = 4, K_TEXT = 8, K_SPECIAL = 16, K_PRESENT = 32
};

/* Decimal float syntax: [+-](digits[.digits]|.digits)[(e|E)[+-]digits]. */
static int is_decimal(const char *s, size_t n)
{
	size_t i = 0, d = 0;

	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++, d++;
	if (i < n && s[i] == '.') {
		i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, d++;
	}
	if (!d)
		return 0;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++, e++;
		if (!e)
			return 0;
	}
	return i == n;
}

static int is_special(const char *s, size_t n)
{
	if (n && (s[0] == '+' || s[0] == '-')) {
		s++;
		n--;
	}
	return (n == 3 && (!strncasecmp(s, "nan", 3) || !strncasecmp(s, "inf", 3))) ||
	       (n == 8 && !strncasecmp(s, "infinity", 8));
}

static int parse_bool(const char *s, size_t n, int *b)
{
	if (n == 4 && !strncasecmp(s, "true", 4))
		return *b = 1, 0;
	if (n == 5 && !strncasecmp(s, "false", 5))
		return *b = 0, 0;
	return -1;
}

/* 0 and *d finite, -1 not a number, -2 NaN/Inf or out of range. */
static int parse_double(const char *s, size_t n, double *d)
{
	char tmp[128];

	if (!is_decimal(s, n))
		return is_special(s, n) ? -2 : -1;
	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	*d = strtod(tmp, NULL);
	return isfinite(*d) ? 0 : -2;
}

static unsigned classify(const char *s, size_t n, int quoted_is_text, int quoted)
{
	int64_t i;
	int b;

	if (quoted && quoted_is_text)
		return K_TEXT;
	trim(&s, &n);
	switch (parse_i64(s, n, &i)) {
	case 0: return K_INT;
	case -2: return K_FLOAT;
	}
	if (is_decimal(s, n))
		return K_FLOAT;
	if (is_special(s, n))
		return K_SPECIAL;
	if (!parse_bool(s, n, &b))
		return K_BOOL;
	return K_TEXT;
}

/* 0 valid UTF-8 without NUL, 1 has NUL, 2 invalid UTF-8. */
static int check_text(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *e = p + n;

	while (p < e) {
		unsigned c = *p;

		if (c >= 1 && c < 0x80) {
			p++;
			continue;
		}
		if (!c)
			return 1;
		if (c >= 0xc2 && c <= 0xdf) {
			if (e - p < 2 || (p[1] & 0xc0) != 0x80)
				return 2;
			p += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			if (e - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
			    (c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
				return 2;
			p += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			if (e - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
			    (p[3] & 0xc0) != 0x80 || (c == 0xf0 && p[1] < 0x90) ||
			    (c == 0xf4 && p[1] > 0x8f))
				return 2;
			p += 4;
		} else {
			return 2;
		}
	}
	return 0;
}

/* ---- time ---------------------------------------------------------------- */

static int digits(const char *s, size_t n, size_t at, size_t k, int *v)
{
	size_t i;

	if (at + k > n)
		return -1;
	*v = 0;
	for (i = 0; i < k; i++) {
		unsigned d = (unsigned char)s[at + i] - '0';

		if (d > 9)
			return -1;
		*v = *v * 10 + (int)d;
	}
	return 0;
}

int csv_time_parse(const char *s, size_t n, enum lp_precision prec, int64_t *ns)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int Y, M, D, h = 0, mi = 0, sec = 0, oh = 0, om = 0;
	int64_t frac = 0, secs, out, v;
	size_t i;
	int rc;

	trim(&s, &n);
	if (!n)
		return FERRY_EREJECT;
	rc = parse_i64(s, n, &v);
	if (rc == 0)
		return lp_ts_to_ns(v, prec, ns);
	if (rc == -2)
		return FERRY_EREJECT;
	if (digits(s, n, 0, 4, &Y) || n < 10 || s[4] != '-' || digits(s, n, 5, 2, &M) ||
	    s[7] != '-' || digits(s, n, 8, 2, &D))
		return FERRY_EREJECT;
	if (M < 1 || M > 12 || D < 1 || D > mdays[M - 1] ||
	    (M == 2 && D == 29 && !((Y % 4 == 0 && Y % 100 != 0) || Y % 400 == 0)))
		return FERRY_EREJECT;
	i = 10;
	if (i < n) {
		if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
			return FERRY_EREJECT;
		if (digits(s, n, i + 1, 2, &h) || i + 3 >= n || s[i + 3] != ':' ||
		    digits(s, n, i + 4, 2, &mi))
			return FERRY_EREJECT;
		i += 6;
		if (i < n && s[i] == ':') {
			if (digits(s, n, i + 1, 2, &sec))
				return FERRY_EREJECT;
			i += 3;
			if (i < n && (s[i] == '.' || s[i] == ',')) {
				size_t k = 0;

				for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, k++) {
					if (k >= 9)
						return FERRY_EREJECT;
					frac = frac * 10 + (s[i] - '0');
				}
				if (!k)
					return FERRY_EREJECT;
				for (; k < 9; k++)
					frac *= 10;
			}
		}
		if (h > 23 || mi > 59 || sec > 59)
			return FERRY_EREJECT;
		if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
			i++;
		} else if (i < n && (s[i] == '+' || s[i] == '-')) {
			int sign = s[i] == '-' ? -1 : 1;

			if (digits(s, n, i + 1, 2, &oh))
				return FERRY_EREJECT;
			i += 3;
			if (i < n && s[i] == ':')
				i++;
			if (i < n) {
				if (digits(s, n, i, 2, &om))
					return FERRY_EREJECT;
				i += 2;
			}
			if (oh > 23 || om > 59)
				return FERRY_EREJECT;
			oh *= sign;
			om *= sign;
		}
		if (i != n)
			return FERRY_EREJECT;
	}
	secs = xf_days_from_civil(Y, (unsigned)M, (unsigned)D) * 86400 + h * 3600 + mi * 60 + sec -
	       (int64_t)oh * 3600 - (int64_t)om * 60;
	if (__builtin_mul_overflow(secs, (int64_t)1000000000, &out) ||
	    __builtin_add_overflow(out, frac, &out))
		return FERRY_EREJECT;
	*ns = out;
	return 0;
}

/* ---- the source ----------------------------------------------------------- */

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
	struct conn_walk walk;  /* its files, and those it skipped */
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
	char head[RAW_HEAD];  /* an over-long record's first bytes */
};

static void rd_release(struct rd *r)
{
	if (r->fd >= 0)
		close(r->fd);
	ferry_free(r->buf);
	r->fd = -1;
	r->buf = NULL;
}

static int rd_open(struct rd *r, const char *path, uint64_t lo, uint64_t hi, int64_t line,
		   size_t limit, struct ferry_error *err)
{
	memset(r, 0, sizeof(*r));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", path,
				       strerror(errno));
	r->pos = r->fpos = lo;
	r->hi = hi;
	r->line = line;
	r->limit = limit;
	r->final = lo >= hi;
	return 0;
}

/* Read more bytes behind buf[off..len). */
static int rd_fill(struct rd *r, const char *path, struct ferry_error *err)
{
	size_t want, keep = r->len - r->off;
	ssize_t got;

	if (r->off) {
		memmove(r->buf, r->buf + r->off, keep);
		r->pos += r->off;
		r->len = keep;
		r->off = 0;
	}
	if (r->cap - r->len < BLOCK / 2) {
		size_t ncap = r->cap ? r->cap * 2 : 2 * BLOCK;
		char *nb;

		if (ncap > r->limit + 2 * BLOCK)
			ncap = r->limit + 2 * BLOCK;
		if (ncap <= r->cap)
			return ferry_error_set(err, FERRY_EIO, "internal: csv buffer full");
		if (!(nb = ferry_realloc(r->buf, ncap)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		r->buf = nb;
		r->cap = ncap;
	}
	want = r->cap - r->len;
	if (want > r->hi - r->fpos)
		want = (size_t)(r->hi - r->fpos);
	do
		got = pread(r->fd, r->buf + r->len, want, (off_t)r->fpos);
	while (got < 0 && errno == EINTR);
	if (got < 0)
		return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s", path,
				       strerror(errno));
	if (got == 0 && want)
		return ferry_error_set(err, FERRY_EIO,
			"cannot read '%s': file shrank while reading (offset %llu)", path,
			(unsigned long long)r->fpos);
	r->len += (size_t)got;
	r->fpos += (uint64_t)got;
	r->final = r->fpos >= r->hi;
	return 0;
}

/*
 * The next record: 1 with *rec and *n (pointing into the buffer), *line,
 * *toolong and *end_off (file offset after it); 0 at the end of the
 * range; < 0 on error.  An over-long record comes back as its first
 * RAW_HEAD bytes only.
 */
static int rd_next(struct rd *r, const char *path, const char **rec, size_t *n,
		   int64_t *line, int *toolong, uint64_t *end_off, struct ferry_error *err)
{
	struct csv_rec cr;
	int rc;

	for (;;) {
		if (r->off >= r->len && r->final)
			return 0;
		rc = r->off < r->len
			? csv_split(r->buf, r->len, r->off, r->final, r->bs, r->limit, &cr)
			: CSV_MORE;
		if (rc == CSV_REC) {
			*rec = r->buf + cr.off;
			*n = cr.toolong && cr.n > RAW_HEAD ? RAW_HEAD : cr.n;
			*toolong = cr.toolong;
			*line = r->line;
			r->line += (int64_t)cr.nl + (r->buf[cr.next - 1] == '\n');
			r->off = cr.next;
			*end_off = r->pos + cr.next;
			return 1;
		}
		if (rc == CSV_SKIP) {
			/* a line longer than the buffer: keep its head, drop the
			 * rest up to and including its newline */
			size_t hn = r->len - r->off < RAW_HEAD ? r->len - r->off : RAW_HEAD;
			const char *nlp = NULL;

			memcpy(r->head, r->buf + r->off, hn);
			r->off = r->len;
			while (!r->final) {
				if ((rc = rd_fill(r, path, err)) < 0)
					return rc;
				if ((nlp = memchr(r->buf, '\n', r->len))) {
					r->off = (size_t)(nlp - r->buf) + 1;
					break;
				}
				r->off = r->len;
			}
			*rec = r->head;
			*n = hn;
			*toolong = 1;
			*line = r->line;
			r->line += nlp != NULL;
			*end_off = r->pos + r->off;
			return 1;
		}
		if ((rc = rd_fill(r, path, err)) < 0)
			return rc;
	}
}

/* ---- headers -------------------------------------------------------------- */

static const struct {
	const char *name;
	enum lp_ftype t;
} suffixes[] = {
	{ "BOOLEAN", LP_BOOL }, { "INT32", LP_INT }, { "INT64", LP_INT },
	{ "FLOAT", LP_FLOAT }, { "DOUBLE", LP_FLOAT }, { "TEXT", LP_STRING },
	{ "STRING", LP_STRING },
};

static void strip_suffix(struct col *c, size_t *n)
{
	size_t i;

	for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		size_t k = strlen(suffixes[i].name);

		if (*n > k + 2 && c->name[*n - 1] == ')' && c->name[*n - k - 2] == '(' &&
		    !memcmp(c->name + *n - k - 1, suffixes[i].name, k)) {
			*n -= k + 2;
			c->decl = suffixes[i].t;
			c->declname = suffixes[i].name;
			return;
		}
	}
}

/* Offset of the last '.' outside backquotes in an IoTDB path, or -1. */
static long last_dot(const char *s, size_t n)
{
	long dot = -1;
	size_t i;
	int inq = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '`') {
			if (inq && i + 1 < n && s[i + 1] == '`')
				i++;
			else
				inq = !inq;
		} else if (s[i] == '.' && !inq) {
			dot = (long)i;
		}
	}
	return inq ? -1 : dot;
}

static void file_release(struct cfile *f)
{
	size_t i;

	for (i = 0; i < f->ncols; i++) {
		ferry_free(f->cols[i].name);
		ferry_free(f->cols[i].key);
	}
	ferry_free(f->cols);
	for (i = 0; i < f->ngroups; i++) {
		ferry_free(f->groups[i].name);
		ferry_free(f->groups[i].cols);
	}
	ferry_free(f->groups);
	for (i = 0; i < f->ndevs; i++) {
		ferry_free(f->devs[i].name);
		ferry_free(f->devs[i].seen);
	}
	ferry_free(f->devs);
	ferry_free(f->meas);
	ferry_free(f->cuts);
	ferry_free(f->path);
	memset(f, 0, sizeof(*f));
}

/* Forget what a previous header parse or scan left, keep path/size/mtime. */
static void file_reset(struct cfile *f)
{
	struct cfile keep = { 0 };

	keep.path = f->path;
	keep.size = f->size;
	keep.mtime_ns = f->mtime_ns;
	f->path = NULL;
	file_release(f);
	*f = keep;
}

static int hdr_err(struct cfile *f, struct ferry_error *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int hdr_err(struct cfile *f, struct ferry_error *err, const char *fmt, ...)
{
	char tail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	ferry_error_set(err, FERRY_EPARSE, "invalid csv header in '%s': %s", f->path, tail);
	ferry_error_origin(err, "%s:%lld", f->path, (long long)f->hdr_line);
	return FERRY_EPARSE;
}

static int grow_scratch(struct csv_src *s, size_t ncols, struct ferry_error *err)
{
	if (ncols > s->rowcap) {
		struct csv_cell *c = ferry_realloc(s->cells, ncols * sizeof(*c));
		struct lp_field *fl;
		struct lp_tag *tg;
		unsigned *rk;

		if (c)
			s->cells = c;
		fl = c ? ferry_realloc(s->fields, ncols * sizeof(*fl)) : NULL;
		if (fl)
			s->fields = fl;
		tg = fl ? ferry_realloc(s->tagv, ncols * sizeof(*tg)) : NULL;
		if (tg)
			s->tagv = tg;
		rk = tg ? ferry_realloc(s->rowkinds, ncols * sizeof(*rk)) : NULL;
		if (!rk)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		s->rowkinds = rk;
		s->rowcap = s->cellcap = ncols;
	}
	return 0;
}

static int grow_text(struct csv_src *s, size_t n, struct ferry_error *err)
{
	if (n + 1 > s->scratchcap) {
		size_t ncap = s->scratchcap ? s->scratchcap : 4096;
		char *b;

		while (ncap < n + 1)
			ncap *= 2;
		if (!(b = ferry_realloc(s->scratch, ncap)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		s->scratch = b;
		s->scratchcap = ncap;
	}
	return 0;
}

static int name_is(const char *a, const char *b)
{
	return !strcasecmp(a, b);
}

/*
 * Read and parse the header of f: its columns, mode and groups, and
 * data_off/data_line.  A file without any record has no header and no
 * data (has_header = 0).
 */
static int read_header(struct csv_src *s, struct cfile *f, struct ferry_error *err)
{
	struct rd r;
	const char *rec, *why;
	size_t n, i, k, bad;
	int64_t line;
	int toolong, rc, ncells;
	uint64_t end;
	unsigned char bom[3];
	uint64_t start = 0;

	file_reset(f);
	if ((rc = rd_open(&r, f->path, 0, f->size, 1, s->limit, err)) < 0)
		return rc;
	if (f->size >= 3 && pread(r.fd, bom, 3, 0) == 3 && bom[0] == 0xef && bom[1] == 0xbb &&
	    bom[2] == 0xbf)
		start = 3;
	r.pos = r.fpos = start;
	r.final = start >= f->size;
	r.bs = 1;
	do {
		rc = rd_next(&r, f->path, &rec, &n, &line, &toolong, &end, err);
		if (rc < 0)
			goto out;
		if (rc == 0) {   /* no header: nothing to read */
			f->has_header = 0;
			f->data_off = f->size;
			f->data_line = r.line;
			rc = 0;
			goto out;
		}
	} while (!toolong && n == 0);   /* blank lines before the header */
	if (toolong) {
		rc = ferry_error_set(err, FERRY_EPARSE,
			"invalid csv header in '%s': longer than %zu bytes", f->path, s->limit);
		goto out;
	}
	f->data_off = end;
	f->data_line = r.line;
	f->hdr_line = line;
	if ((rc = grow_text(s, n, err)) < 0)
		goto out;
	ncells = csv_cells(rec, n, 1, s->scratch, NULL, 0, &why, &bad);
	if (ncells < 0) {
		rc = hdr_err(f, err, "%s", why);
		goto out;
	}
	if ((rc = grow_scratch(s, (size_t)ncells, err)) < 0)
		goto out;
	csv_cells(rec, n, 1, s->scratch, s->cells, (size_t)ncells, &why, &bad);
	if (!(f->cols = ferry_calloc((size_t)ncells, sizeof(*f->cols)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	f->ncols = (size_t)ncells;
	for (i = 0; i < f->ncols; i++) {
		const char *p = s->cells[i].p;
		size_t m = s->cells[i].n;

		trim(&p, &m);
		if (check_text(p, m)) {
			rc = hdr_err(f, err, "column %zu has a NUL byte or invalid UTF-8", i + 1);
			goto out;
		}
		if (!(f->cols[i].name = ferry_strndup(p, m))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if (!m) {
			rc = hdr_err(f, err, "column %zu has no name", i + 1);
			goto out;
		}
	}
	/* the mode */
	f->mode = MODE_PLAIN;
	if (s->format != MODE_PLAIN && f->ncols >= 2 && name_is(f->cols[0].name, "time")) {
		int allroot = 1;

		for (i = 1; i < f->ncols; i++)
			if (strncmp(f->cols[i].name, "root.", 5))
				allroot = 0;
		if (!strcmp(f->cols[1].name, "Device"))
			f->mode = MODE_BYDEV;
		else if (allroot)
			f->mode = MODE_ALIGNED;
	}
	if (s->format == MODE_ALIGNED && f->mode == MODE_PLAIN) {
		rc = hdr_err(f, err, "format=iotdb needs 'Time,Device,...' or "
			     "'Time,root.path,...' columns");
		goto out;
	}
	f->bs = s->escape >= 0 ? s->escape : f->mode != MODE_PLAIN;
	f->tcol = 0;
	f->dcol = -1;
	if (f->mode == MODE_PLAIN) {
		const char *base;
		size_t bl;

		f->tcol = -1;
		for (i = 0; i < f->ncols && f->tcol < 0; i++)
			if (s->timecol ? !strcmp(f->cols[i].name, s->timecol)
				       : (name_is(f->cols[i].name, "time") ||
					  name_is(f->cols[i].name, "timestamp") ||
					  name_is(f->cols[i].name, "ts")))
				f->tcol = (int)i;
		if (f->tcol < 0) {
			if (s->timecol)
				rc = hdr_err(f, err, "no column '%s' for time=", s->timecol);
			else
				rc = hdr_err(f, err, "no time column (time, timestamp or ts): "
					     "name one with ?time=COLUMN");
			goto out;
		}
		for (i = 0; i < f->ncols; i++)
			f->cols[i].role = (int)i == f->tcol ? ROLE_TIME : ROLE_FIELD;
		for (k = 0; k < s->ntags; k++) {
			for (i = 0; i < f->ncols; i++)
				if (!strcmp(f->cols[i].name, s->tags[k]))
					break;
			if (i == f->ncols || (int)i == f->tcol) {
				rc = hdr_err(f, err, "no tag column '%s' for tags=", s->tags[k]);
				goto out;
			}
			f->cols[i].role = ROLE_TAG;
		}
		if (s->measurement) {
			f->meas = ferry_strdup(s->measurement);
		} else {
			base = strrchr(f->path, '/');
			base = base ? base + 1 : f->path;
			bl = strlen(base);
			if (bl > 4 && !strcasecmp(base + bl - 4, ".csv"))
				bl -= 4;
			f->meas = ferry_strndup(base, bl);
		}
		if (!f->meas) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < f->ncols; i++) {
			struct col *c = &f->cols[i];

			c->keyn = strlen(c->name);
			if (!(c->key = ferry_strdup(c->name))) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
		}
	} else {
		f->cols[0].role = ROLE_TIME;
		if (f->mode == MODE_BYDEV) {
			f->dcol = 1;
			f->cols[1].role = ROLE_DEVICE;
		}
		for (i = 1; i < f->ncols; i++) {
			struct col *c = &f->cols[i];
			size_t m = strlen(c->name);
			const char *key = c->name;
			size_t keyn;

			if (c->role == ROLE_DEVICE)
				continue;
			c->role = ROLE_FIELD;
			strip_suffix(c, &m);
			c->name[m] = 0;   /* messages name the path without its type */
			keyn = m;
			if (f->mode == MODE_ALIGNED) {
				long dot = last_dot(c->name, m);
				struct group *g = NULL;
				int *gc;

				if (dot <= 0 || (size_t)dot + 1 >= m) {
					rc = hdr_err(f, err, "column '%s' is not a device.sensor path",
						     c->name);
					goto out;
				}
				key = c->name + dot + 1;
				keyn = m - (size_t)dot - 1;
				for (k = 0; k < f->ngroups; k++)
					if (f->groups[k].n == (size_t)dot &&
					    !memcmp(f->groups[k].name, c->name, (size_t)dot))
						g = &f->groups[k];
				if (!g) {
					struct group *ng = ferry_realloc(f->groups,
						(f->ngroups + 1) * sizeof(*ng));

					if (!ng) {
						rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
						goto out;
					}
					f->groups = ng;
					g = &ng[f->ngroups];
					memset(g, 0, sizeof(*g));
					if (!(g->name = ferry_strndup(c->name, (size_t)dot))) {
						rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
						goto out;
					}
					g->n = (size_t)dot;
					g->midx = -1;
					f->ngroups++;
				}
				gc = ferry_realloc(g->cols, (g->ncols + 1) * sizeof(*gc));
				if (!gc) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				g->cols = gc;
				gc[g->ncols++] = (int)i;
				c->group = (int)(g - f->groups);
			}
			if (!(c->key = ferry_strndup(key, keyn))) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c->keyn = keyn;
			/* `s.1` -> s.1, `` -> ` */
			if (keyn >= 2 && key[0] == '`' && key[keyn - 1] == '`') {
				size_t a, b = 0;

				for (a = 1; a + 1 < keyn; a++) {
					c->key[b++] = key[a];
					if (key[a] == '`' && key[a + 1] == '`')
						a++;
				}
				c->key[b] = 0;
				c->keyn = b;
			}
			if (!c->keyn) {
				rc = hdr_err(f, err, "column '%s' has an empty sensor name", c->name);
				goto out;
			}
		}
	}
	/* duplicates: the same field (or tag) of the same measurement twice */
	for (i = 0; i < f->ncols; i++)
		for (k = i + 1; k < f->ncols; k++) {
			struct col *a = &f->cols[i], *b = &f->cols[k];

			if (a->role < ROLE_TAG || b->role < ROLE_TAG || a->keyn != b->keyn ||
			    memcmp(a->key, b->key, a->keyn) ||
			    (f->mode == MODE_ALIGNED && a->group != b->group))
				continue;
			rc = hdr_err(f, err, "column '%s' appears twice", b->name);
			goto out;
		}
	for (i = 0, k = 0; i < f->ngroups; i++) {
		f->groups[i].base = k;
		k += f->groups[i].ncols;
	}
	f->has_header = 1;
	rc = 0;
out:
	rd_release(&r);
	return rc;
}

/* ---- rows ----------------------------------------------------------------- */

/* Find or add a by-device entry (sorted by name; last one cached by caller). */
static int dev_get(struct cfile *f, const char *p, size_t n, struct dev **out)
{
	size_t lo = 0, hi = f->ndevs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		struct dev *d = &f->devs[mid];
		int c = memcmp(p, d->name, n < d->n ? n : d->n);

		if (!c)
			c = n < d->n ? -1 : n > d->n;
		if (!c) {
			*out = d;
			return 0;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (FERRY_GROW(f->devs, f->devcap, f->ndevs + 1) < 0)
		return FERRY_ENOMEM;
	memmove(&f->devs[lo + 1], &f->devs[lo], (f->ndevs - lo) * sizeof(*f->devs));
	memset(&f->devs[lo], 0, sizeof(*f->devs));
	f->devs[lo].name = ferry_strndup(p, n);
	f->devs[lo].seen = ferry_calloc(f->ncols ? f->ncols : 1, 1);
	if (!f->devs[lo].name || !f->devs[lo].seen) {
		ferry_free(f->devs[lo].name);
		ferry_free(f->devs[lo].seen);
		memmove(&f->devs[lo], &f->devs[lo + 1], (f->ndevs - lo) * sizeof(*f->devs));
		return FERRY_ENOMEM;
	}
	f->devs[lo].n = n;
	f->ndevs++;
	*out = &f->devs[lo];
	return 0;
}

static const char *type_name(const struct col *c)
{
	if (c->declname)
		return c->declname;
	switch (c->type) {
	case LP_INT: return "INT64";
	case LP_FLOAT: return "DOUBLE";
	case LP_BOOL: return "BOOLEAN";
	default: return "TEXT";
	}
}

/* A reject reason that quotes a value: at most 64 bytes of it, printable. */
static void quote_val(char *dst, size_t cap, const char *p, size_t n)
{
	size_t i, k = 0, max = n > 64 ? 64 : n;
	int bad;

	/* cut at a character boundary */
	while (max < n && max > 0 && ((unsigned char)p[max] & 0xc0) == 0x80)
		max--;
	bad = check_text(p, max) != 0;
	for (i = 0; i < max && k + 4 < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		dst[k++] = c < 0x20 || c == 0x7f || (bad && c >= 0x80) ? '?' : (char)c;
	}
	if (max < n && k + 4 < cap) {
		memcpy(dst + k, "...", 3);
		k += 3;
	}
	dst[k] = 0;
}

/* Convert cell v to field fl of column c's final type: 0; 1 when the value
 * is NaN/Inf (why names the column and value); or a reject reason in why. */
static int convert(const struct col *c, const struct csv_cell *v, struct lp_field *fl,
		   char *why, size_t whycap)
{
	const char *p = v->p;
	size_t n = v->n;
	char q[96];
	int r;

	fl->key.p = c->key;
	fl->key.n = c->keyn;
	fl->type = c->type;
	if (c->type == LP_STRING) {
		fl->v.s.p = p;
		fl->v.s.n = n;
		return 0;
	}
	trim(&p, &n);
	switch (c->type) {
	case LP_INT:
		if (parse_i64(p, n, &fl->v.i) == 0 &&
		    !(c->declname && !strcmp(c->declname, "INT32") &&
		      (fl->v.i < INT32_MIN || fl->v.i > INT32_MAX)))
			return 0;
		break;
	case LP_FLOAT:
		r = parse_double(p, n, &fl->v.f);
		if (r == 0)
			return 0;
		if (r == -2) {  /* that value alone is a reject (do_row) */
			quote_val(q, sizeof(q), v->p, v->n);
			snprintf(why, whycap, "column '%s' value '%s'", c->name, q);
			return 1;
		}
		break;
	case LP_BOOL:
		if (!parse_bool(p, n, &fl->v.b))
			return 0;
		break;
	default:
		break;
	}
	quote_val(q, sizeof(q), v->p, v->n);
	snprintf(why, whycap, "value '%s' in column '%s' is not %s %s", q, c->name,
		 c->type == LP_INT ? "an" : "a", type_name(c));
	return FERRY_EREJECT;
}

static int cell_empty(const struct cfile *f, const struct col *c, const struct csv_cell *v)
{
	if (v->n)
		return 0;
	/* a quoted empty cell is text in IoTDB files (so an inferred column
	 * holding one is a string column): an empty string */
	return !(v->quoted && f->mode != MODE_PLAIN && (c->decl == LP_STRING || !c->decl));
}

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

/* The key of a record at line: a directory's files each count their
 * lines from 1, so the file is in the key (TM_KEY). */
static int64_t row_key(const struct reader *rdr, int64_t line)
{
	return rdr->s->is_dir ? TM_KEY(rdr->f - rdr->s->files, line) : line;
}

/* Reject record rec (or values of it) for why. */
static int reject_row(struct reader *rdr, const char *why, const char *rec, size_t n,
		      int64_t line, struct ferry_error *err)
{
	int rc = rdr->rej(rdr->ud, row_key(rdr, line), why, rec, n, err);

	return rc ? (rc < 0 ? rc : FERRY_EABORT) : 0;
}

/*
 * One record: reject it, skip it, or (read) deliver its points / (discover)
 * count them.  Returns 0, or < 0 to stop.
 */
static int do_row(struct reader *rdr, const char *rec, size_t n, int64_t line, int toolong,
		  struct ferry_error *err)
{
	struct csv_src *s = rdr->s;
	struct cfile *f = rdr->f;
	char why[512], dropped[512];
	const char *w;
	size_t i, bad, nf = 0, nt = 0, ndropped = 0;
	int ncells, rc, any = 0;
	int64_t t;
	struct csv_cell *cells = s->cells;
	const struct csv_cell *dcell = NULL;
	struct lp_field *dst;

	why[0] = 0;
	dropped[0] = 0;
	if (toolong) {
		snprintf(why, sizeof(why), "record longer than %zu bytes (max_record=)",
			 s->limit);
		goto reject;
	}
	if (!n)
		return 0;   /* blank line */
	if ((rc = grow_text(s, n, err)) < 0)
		return rc;
	ncells = csv_cells(rec, n, f->bs, s->scratch, cells, f->ncols, &w, &bad);
	if (ncells < 0) {
		snprintf(why, sizeof(why), "%s in column '%s'", w,
			 bad < f->ncols ? f->cols[bad].name : "(extra)");
		goto reject;
	}
	if ((size_t)ncells != f->ncols) {
		snprintf(why, sizeof(why), "wrong number of columns: %d, header has %zu", ncells,
			 f->ncols);
		goto reject;
	}
	{
		const struct csv_cell *tc = &cells[f->tcol];
		char q[96];

		if (!tc->n) {
			snprintf(why, sizeof(why), "missing time in column '%s'",
				 f->cols[f->tcol].name);
			goto reject;
		}
		if (csv_time_parse(tc->p, tc->n, s->prec, &t) < 0) {
			quote_val(q, sizeof(q), tc->p, tc->n);
			snprintf(why, sizeof(why), "invalid time '%s'", q);
			goto reject;
		}
	}
	if ((s->o.has_start && t < s->o.start_ns) || (s->o.has_end && t >= s->o.end_ns))
		return 0;
	if (f->dcol >= 0) {
		dcell = &cells[f->dcol];
		if (!dcell->n) {
			snprintf(why, sizeof(why), "missing device in column 'Device'");
			goto reject;
		}
	}
	/* check every cell before anything is delivered */
	for (i = 0; i < f->ngroups; i++)
		f->groups[i].cnt = 0;
	for (i = 0; i < f->ncols; i++) {
		struct col *c = &f->cols[i];
		const struct csv_cell *v = &cells[i];
		int bad8;

		s->rowkinds[i] = 0;
		if (c->role == ROLE_TIME || (c->role != ROLE_DEVICE && cell_empty(f, c, v)))
			continue;
		if ((bad8 = check_text(v->p, v->n))) {
			snprintf(why, sizeof(why), "%s in column '%s'",
				 bad8 == 1 ? "NUL byte" : "invalid UTF-8", c->name);
			goto reject;
		}
		if (c->role == ROLE_TAG)
			s->rowkinds[i] = K_PRESENT;
		if (c->role != ROLE_FIELD)
			continue;
		if (rdr->discover && !c->decl) {
			s->rowkinds[i] = classify(v->p, v->n, f->mode != MODE_PLAIN, v->quoted);
			continue;
		}
		if (rdr->discover)
			c->type = c->decl;
		if (f->mode == MODE_ALIGNED) {
			struct group *g = &f->groups[c->group];

			dst = &s->fields[g->base + g->cnt++];
		} else {
			dst = &s->fields[nf];
		}
		if ((rc = convert(c, v, dst, why, sizeof(why))) < 0)
			goto reject;
		if (rc > 0) {
			/* NaN/Inf: that value is a reject, the row's others load,
			 * as in line protocol */
			size_t len = strlen(dropped);

			/* a long list is cut: the first values say enough */
			if (len < sizeof(dropped) - 1 &&
			    snprintf(dropped + len, sizeof(dropped) - len, "%s%s",
				     len ? "; " : "", why) < 0)
				dropped[len] = '\0';
			/* reported by the read of the value's measurement */
			if (rdr->only < 0 ||
			    (f->mode == MODE_ALIGNED && f->groups[c->group].midx == rdr->only) ||
			    (f->mode == MODE_BYDEV && dcell &&
			     tm_schema_find(&s->sch, dcell->p, dcell->n) == rdr->only) ||
			    (f->mode == MODE_PLAIN && f->midx == rdr->only))
				ndropped++;
			if (f->mode == MODE_ALIGNED)
				f->groups[c->group].cnt--;
			continue;
		}
		s->rowkinds[i] = K_PRESENT;
		nf++;
	}
	if (ndropped && !rdr->discover && rdr->rej) {
		if (snprintf(why, sizeof(why), "not a finite number, left out (the row's "
			     "other values load): %s", dropped) < 0)
			why[0] = '\0';
		if ((rc = reject_row(rdr, why, rec, n, line, err)) != 0)
			return rc;
	}
	if (rdr->discover) {
		/* accepted: remember what it held */
		if (f->mode == MODE_ALIGNED) {
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];
				size_t k, has = 0;

				for (k = 0; k < g->ncols; k++)
					has += s->rowkinds[g->cols[k]] != 0;
				g->points += has != 0;
				g->values += (int64_t)has;
			}
			any = 1;
		} else {
			struct dev *d = NULL;
			int64_t vals = 0;

			for (i = 0; i < f->ncols; i++)
				if (f->cols[i].role == ROLE_FIELD && s->rowkinds[i])
					vals++;
			any = vals > 0;
			if (f->mode == MODE_BYDEV) {
				if (rdr->lastdev && rdr->lastdev->n == dcell->n &&
				    !memcmp(rdr->lastdev->name, dcell->p, dcell->n))
					d = rdr->lastdev;
				else if (dev_get(f, dcell->p, dcell->n, &d) < 0)
					return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				rdr->lastdev = d;
				d->points += any;
				d->values += vals;
			} else {
				f->points += any;
				f->values += vals;
			}
			for (i = 0; i < f->ncols && d; i++)
				if (s->rowkinds[i])
					d->seen[i] = 1;
		}
		for (i = 0; i < f->ncols; i++)
			if (f->cols[i].role == ROLE_FIELD || any)
				f->cols[i].kinds |= s->rowkinds[i];
		return 0;
	}
	/* deliver; rowkinds marks the columns converted into fields[] */
	{
		struct tm_point pt;
		int midx;

		pt.time_ns = t;
		pt.key = row_key(rdr, line);
		pt.file = NULL;
		if (s->is_dir)
			for (pt.file = f->path + strlen(s->root); *pt.file == '/'; pt.file++)
				;
		pt.tags = s->tagv;
		pt.ntags = 0;
		if (f->mode == MODE_ALIGNED) {
			/* devices in header order, each with its fields */
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];

				if (!g->cnt || (rdr->only >= 0 && g->midx != rdr->only))
					continue;
				pt.measurement.p = g->name;
				pt.measurement.n = g->n;
				pt.fields = s->fields + g->base;
				pt.nfields = g->cnt;
				if ((rc = rdr->fn(&pt, rdr->ud, err)))
					return rc < 0 ? rc : FERRY_EABORT;
			}
			return 0;
		}
		if (!nf)
			return 0;
		if (f->mode == MODE_BYDEV) {
			pt.measurement.p = dcell->p;
			pt.measurement.n = dcell->n;
			if (rdr->only >= 0) {
				if (!rdr->lastvalid || rdr->lastn != dcell->n ||
				    memcmp(rdr->lastname, dcell->p, dcell->n)) {
					rdr->lastmidx = tm_schema_find(&s->sch, dcell->p, dcell->n);
					/* cache by name; points into the schema */
					rdr->lastname = rdr->lastmidx >= 0
						? s->sch.m[rdr->lastmidx].name : NULL;
					rdr->lastn = dcell->n;
					rdr->lastvalid = rdr->lastmidx >= 0;
				}
				midx = rdr->lastvalid ? rdr->lastmidx : -1;
				if (midx != rdr->only)
					return 0;
			}
		} else {
			if (rdr->only >= 0 && f->midx != rdr->only)
				return 0;
			pt.measurement.p = f->meas;
			pt.measurement.n = strlen(f->meas);
			for (i = 0; i < f->ncols; i++) {
				struct col *c = &f->cols[i];

				if (c->role != ROLE_TAG || !cells[i].n)
					continue;
				s->tagv[nt].key.p = c->key;
				s->tagv[nt].key.n = c->keyn;
				s->tagv[nt].val.p = cells[i].p;
				s->tagv[nt].val.n = cells[i].n;
				nt++;
			}
			pt.ntags = nt;
		}
		pt.fields = s->fields;
		pt.nfields = nf;
		rc = rdr->fn(&pt, rdr->ud, err);
		return rc ? (rc < 0 ? rc : FERRY_EABORT) : 0;
	}
reject:
	if (rdr->discover || !rdr->rej)
		return 0;
	return reject_row(rdr, why, rec, n, line, err);
}

/* ---- discover ------------------------------------------------------------- */

static enum lp_ftype infer(unsigned k)
{
	if (k & K_TEXT)
		return LP_STRING;
	if (k & K_BOOL)
		return (k & (K_INT | K_FLOAT | K_SPECIAL)) ? LP_STRING : LP_BOOL;
	if (k & (K_FLOAT | K_SPECIAL))
		return LP_FLOAT;
	if (k & K_INT)
		return LP_INT;
	return 0;
}

/* Scan one file: header, kinds per column, devices, points, chunk cuts. */
static int scan_file(struct csv_src *s, struct cfile *f, struct ferry_error *err)
{
	struct reader rdr;
	struct rd r;
	const char *rec;
	size_t n, i;
	int64_t line, est = 0;
	int toolong, rc;
	uint64_t end, lo, cap = 0;

	if ((rc = read_header(s, f, err)) < 0)
		return rc;
	if (!f->has_header)
		return 0;
	if ((rc = grow_scratch(s, f->ncols, err)) < 0)
		return rc;
	memset(&rdr, 0, sizeof(rdr));
	rdr.s = s;
	rdr.f = f;
	rdr.discover = 1;
	rdr.only = -1;
	if ((rc = rd_open(&r, f->path, f->data_off, f->size, f->data_line, s->limit, err)) < 0)
		return rc;
	r.bs = f->bs;
	lo = f->data_off;
	line = f->data_line;
	{
		int64_t lo_line = f->data_line;

		for (;;) {
			int64_t recline;

			rc = rd_next(&r, f->path, &rec, &n, &recline, &toolong, &end, err);
			if (rc < 0)
				goto out;
			if (rc == 0)
				break;
			est++;
			if ((rc = do_row(&rdr, rec, n, recline, toolong, err)) < 0)
				goto out;
			if (end - lo >= s->chunk_bytes || end >= f->size) {
				if (FERRY_GROW(f->cuts, cap, f->ncuts + 1) < 0) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				f->cuts[f->ncuts].lo = lo;
				f->cuts[f->ncuts].hi = end;
				f->cuts[f->ncuts].line0 = lo_line;
				f->cuts[f->ncuts].est = est;
				f->ncuts++;
				lo = end;
				lo_line = r.line;
				est = 0;
			}
		}
		(void)line;
	}
	for (i = 0; i < f->ncols; i++) {
		struct col *c = &f->cols[i];

		if (c->role == ROLE_FIELD)
			c->type = c->decl ? c->decl : infer(c->kinds);
	}
	rc = 0;
out:
	rd_release(&r);
	return rc;
}

static int add_field(struct tm_measurement *m, const struct col *c)
{
	return tm_measurement_add_field(m, c->key, c->keyn, TM_TYPE_BIT(c->type));
}

static void add_points(struct tm_measurement *m, int64_t pts, int64_t vals)
{
	if (m->points < 0)
		m->points = 0;
	if (m->values < 0)
		m->values = 0;
	m->points += pts;
	m->values += vals;
}

/* The schema of everything scanned. */
static int build_schema(struct csv_src *s, struct tm_schema *out, struct ferry_error *err)
{
	struct tm_schema sch = { 0 };
	size_t fi, i, k;
	int rc = 0;

	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];
		struct tm_measurement *m;

		if (!f->has_header)
			continue;
		if (f->mode == MODE_ALIGNED) {
			for (i = 0; i < f->ngroups; i++) {
				struct group *g = &f->groups[i];
				int any = 0;

				for (k = 0; k < g->ncols; k++)
					any |= f->cols[g->cols[k]].kinds != 0;
				if (!any)
					continue;
				if (!(m = tm_schema_measurement(&sch, g->name, g->n)))
					goto nomem;
				add_points(m, g->points, g->values);
				for (k = 0; k < g->ncols; k++)
					if (f->cols[g->cols[k]].kinds &&
					    add_field(m, &f->cols[g->cols[k]]) < 0)
						goto nomem;
			}
		} else if (f->mode == MODE_BYDEV) {
			for (i = 0; i < f->ndevs; i++) {
				struct dev *d = &f->devs[i];

				if (!d->points)
					continue;
				if (!(m = tm_schema_measurement(&sch, d->name, d->n)))
					goto nomem;
				add_points(m, d->points, d->values);
				for (k = 0; k < f->ncols; k++)
					if (d->seen[k] && add_field(m, &f->cols[k]) < 0)
						goto nomem;
			}
		} else {
			if (!f->points)
				continue;
			if (!(m = tm_schema_measurement(&sch, f->meas, strlen(f->meas))))
				goto nomem;
			add_points(m, f->points, f->values);
			for (k = 0; k < f->ncols; k++) {
				struct col *c = &f->cols[k];

				if (!c->kinds)
					continue;
				if (c->role == ROLE_TAG &&
				    tm_measurement_add_tag(m, c->key, c->keyn) < 0)
					goto nomem;
				if (c->role == ROLE_FIELD && add_field(m, c) < 0)
					goto nomem;
			}
		}
	}
	sch.typed = 1;
	*out = sch;
	return 0;
nomem:
	tm_schema_release(&sch);
	rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return rc;
}

static int ensure_discovered(struct csv_src *s, struct ferry_error *err)
{
	size_t fi, i;
	int rc;

	if (s->discovered)
		return 0;
	for (fi = 0; fi < s->nfiles; fi++)
		if ((rc = scan_file(s, &s->files[fi], err)) < 0)
			return rc;
	tm_schema_release(&s->sch);
	if ((rc = build_schema(s, &s->sch, err)) < 0)
		return rc;
	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];

		for (i = 0; i < f->ngroups; i++)
			f->groups[i].midx = tm_schema_find(&s->sch, f->groups[i].name,
							   f->groups[i].n);
		f->midx = f->meas ? tm_schema_find(&s->sch, f->meas, strlen(f->meas)) : -1;
	}
	s->discovered = 1;
	return 0;
}

/* ---- the ops --------------------------------------------------------------- */

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct cfile *)a)->path, ((const struct cfile *)b)->path);
}

static int add_file(struct csv_src *s, const char *path, const struct stat *st,
		    size_t *cap)
{
	struct cfile *f;

	if (FERRY_GROW(s->files, *cap, s->nfiles + 1) < 0)
		return FERRY_ENOMEM;
	f = &s->files[s->nfiles];
	memset(f, 0, sizeof(*f));
	if (!(f->path = ferry_strdup(path)))
		return FERRY_ENOMEM;
	f->size = (uint64_t)st->st_size;
	f->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
	s->nfiles++;
	return 0;
}

static void src_close(void *v)
{
	struct csv_src *s = v;
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->nfiles; i++)
		file_release(&s->files[i]);
	ferry_free(s->files);
	ferry_free(s->root);
	conn_walk_release(&s->walk);
	ferry_free(s->measurement);
	ferry_free(s->timecol);
	for (i = 0; i < s->ntags; i++)
		ferry_free(s->tags[i]);
	ferry_free(s->tags);
	tm_schema_release(&s->sch);
	ferry_free(s->cells);
	ferry_free(s->scratch);
	ferry_free(s->fields);
	ferry_free(s->tagv);
	ferry_free(s->rowkinds);
	ferry_free(s);
}

static int src_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	struct csv_src *s;
	struct stat st;
	const char *v;
	size_t cap = 0;
	int rc = 0;

	if (url->host && url->host[0])
		return ferry_error_set(err, FERRY_EINVAL,
			"csv URL '%s' names a host: use csv:///abs/path or csv:rel/path",
			url->path);
	if (!url->path || !url->path[0])
		return ferry_error_set(err, FERRY_EINVAL,
			"csv URL has no path: use csv:///abs/path or csv:rel/path");
	if (!(s = ferry_calloc(1, sizeof(*s))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	s->o = *o;
	s->chunk_bytes = o->chunk_bytes ? o->chunk_bytes : DEFAULT_CHUNK;
	s->limit = CSV_MAX_RECORD;
	s->format = -1;
	s->escape = -1;
	s->prec = o->precision != LP_PREC_NS ? o->precision : LP_PREC_MS;
	if ((v = ferry_url_param(url, "precision")) && lp_precision_parse(v, &s->prec) < 0) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"invalid precision '%s' in csv URL: use ns, us, ms, s, m or h", v);
		goto out;
	}
	if ((v = ferry_url_param(url, "format"))) {
		if (!strcmp(v, "iotdb"))
			s->format = MODE_ALIGNED;
		else if (!strcmp(v, "plain"))
			s->format = MODE_PLAIN;
		else if (strcmp(v, "auto")) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid format '%s' in csv URL: use auto, iotdb or plain", v);
			goto out;
		}
	}
	if ((v = ferry_url_param(url, "escape"))) {
		if (!strcmp(v, "backslash"))
			s->escape = 1;
		else if (!strcmp(v, "rfc"))
			s->escape = 0;
		else {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid escape '%s' in csv URL: use backslash or rfc", v);
			goto out;
		}
	}
	if ((v = ferry_url_param(url, "max_record"))) {
		char *e;
		unsigned long long m = strtoull(v, &e, 10);

		if (*e || m < 16 || m > ((size_t)1 << 30)) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"invalid max_record '%s' in csv URL: bytes from 16 to 1073741824", v);
			goto out;
		}
		s->limit = (size_t)m;
	}
	if (((v = ferry_url_param(url, "measurement")) && !(s->measurement = ferry_strdup(v))) ||
	    ((v = ferry_url_param(url, "time")) && !(s->timecol = ferry_strdup(v)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (s->measurement && !s->measurement[0]) {
		rc = ferry_error_set(err, FERRY_EINVAL, "empty measurement= in csv URL");
		goto out;
	}
	if ((v = ferry_url_param(url, "tags")) && *v) {
		const char *p = v;

		for (;;) {
			const char *c = strchr(p, ',');
			size_t l = c ? (size_t)(c - p) : strlen(p);
			char **t;

			if (l) {
				if (!(t = ferry_realloc(s->tags, (s->ntags + 1) * sizeof(*t))) ||
				    !(s->tags = t, t[s->ntags] = ferry_strndup(p, l))) {
					rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
					goto out;
				}
				s->ntags++;
			}
			if (!c)
				break;
			p = c + 1;
		}
	}
	if (stat(url->path, &st) < 0) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND, "cannot open '%s': %s", url->path,
				     strerror(errno));
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		static const char *const exts[] = { ".csv", NULL };
		struct ferry_buf p = FERRY_BUF_INIT;
		size_t i;

		if ((rc = conn_walk(url->path, exts, &s->walk, err)) < 0)
			goto out;
		if (!(s->root = ferry_strdup(url->path))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		s->is_dir = 1;
		for (i = 0; i < s->walk.nfiles && rc == 0; i++) {
			struct stat fst;

			ferry_buf_clear(&p);
			if (ferry_buf_addf(&p, "%s/%s", url->path, s->walk.files[i]) < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			else if (stat(p.buf, &fst) < 0)  /* files[i] is key file i */
				rc = ferry_error_set(err, FERRY_EIO, "cannot open '%s': %s", p.buf,
						     strerror(errno));
			else if (add_file(s, p.buf, &fst, &cap) < 0)
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		ferry_buf_release(&p);
		if (rc < 0)
			goto out;
		if (!s->nfiles) {
			rc = ferry_error_set(err, FERRY_ENOTFOUND, "no *.csv files under '%s'",
					     url->path);
			goto out;
		}
		qsort(s->files, s->nfiles, sizeof(*s->files), cmp_path);
	} else if (add_file(s, url->path, &st, &cap) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
out:
	if (rc < 0) {
		src_close(s);
		return rc;
	}
	*out = s;
	return 0;
}

static int src_discover(void *v, struct tm_schema *out, struct ferry_error *err)
{
	struct csv_src *s = v;
	int rc;

	if ((rc = ensure_discovered(s, err)) < 0)
		return rc;
	return build_schema(s, out, err);
}

static int src_plan(void *v, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
		    struct ferry_error *err)
{
	struct csv_src *s = v;
	struct tm_chunk *c = NULL;
	size_t fi, k, cnt = 0, at = 0;
	int rc;

	(void)sch;
	if ((rc = ensure_discovered(s, err)) < 0)
		return rc;
	for (fi = 0; fi < s->nfiles; fi++)
		cnt += s->files[fi].ncuts;
	if (cnt && !(c = ferry_calloc(cnt, sizeof(*c))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (fi = 0; fi < s->nfiles; fi++) {
		struct cfile *f = &s->files[fi];
		double recs = 0, vals = (double)f->values;

		/* field values (narrow rows) per record, from discover()'s scan:
		 * an aligned record holds points of several devices */
		for (k = 0; k < f->ngroups; k++)
			vals += (double)f->groups[k].values;
		for (k = 0; k < f->ndevs; k++)
			vals += (double)f->devs[k].values;
		for (k = 0; k < f->ncuts; k++)
			recs += (double)f->cuts[k].est;
		for (k = 0; k < f->ncuts; k++, at++) {
			c[at].measurement = f->mode == MODE_PLAIN ? f->midx : -1;
			c[at].file = (int)fi;
			c[at].off_lo = f->cuts[k].lo;
			c[at].off_hi = f->cuts[k].hi;
			c[at].line0 = f->cuts[k].line0;
			c[at].est = f->cuts[k].est;
			if (recs > 0)
				c[at].est_values = (int64_t)((double)f->cuts[k].est * vals / recs);
		}
	}
	*out = c;
	*n = cnt;
	return 0;
}

static int src_read(void *v, const struct tm_schema *sch, const struct tm_chunk *ck,
		    int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
		    struct ferry_error *err)
{
	struct csv_src *s = v;
	struct cfile *f;
	struct reader rdr;
	struct rd r;
	const char *rec;
	size_t n;
	int64_t line;
	int toolong, rc;
	uint64_t end;

	(void)sch;  /* each handle discovers the same schema from the same files */
	if ((rc = ensure_discovered(s, err)) < 0)
		return rc;
	if (ck->file < 0 || (size_t)ck->file >= s->nfiles)
		return ferry_error_set(err, FERRY_EINVAL, "csv chunk names file %d of %zu",
				       ck->file, s->nfiles);
	f = &s->files[ck->file];
	if (!f->has_header || ck->off_lo < f->data_off || ck->off_hi > f->size ||
	    ck->off_lo > ck->off_hi)
		return ferry_error_set(err, FERRY_EINVAL,
			"csv chunk [%llu, %llu) does not fit '%s'",
			(unsigned long long)ck->off_lo, (unsigned long long)ck->off_hi, f->path);
	if ((rc = grow_scratch(s, f->ncols, err)) < 0)
		return rc;
	memset(&rdr, 0, sizeof(rdr));
	rdr.s = s;
	rdr.f = f;
	rdr.only = only;
	rdr.fn = fn;
	rdr.rej = rej;
	rdr.ud = ud;
	if ((rc = rd_open(&r, f->path, ck->off_lo, ck->off_hi, ck->line0, s->limit, err)) < 0)
		return rc;
	r.bs = f->bs;
	for (;;) {
		rc = rd_next(&r, f->path, &rec, &n, &line, &toolong, &end, err);
		if (rc <= 0)
			break;
		if ((rc = do_row(&rdr, rec, n, line, toolong, err)) < 0)
			break;
	}
	if (rc < 0 && !err->msg[0])
		ferry_error_set(err, rc, "reading '%s' stopped", f->path);
	if (rc < 0)
		ferry_error_origin(err, "%s:%lld", f->path, (long long)r.line);
	rd_release(&r);
	return rc < 0 ? rc : 0;
}

/* Each file's name, size and a hash of its bytes: a same-size edit whose
 * mtime was put back changes the hash (one more read of the files, about
 * 0.02 s for 57 MB from the page cache). */
static int src_identity(void *v, struct ferry_buf *out, struct ferry_error *err)
{
	struct csv_src *s = v;
	size_t i;

	for (i = 0; i < s->nfiles; i++) {
		ferry_hash_stream *h = ferry_hash_stream_new();
		char hex[33];

		if (!h)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		if (ferry_hash_stream_file(h, s->files[i].path) < 0) {
			int e = errno;

			ferry_hash_stream_free(h);
			return ferry_error_set(err, FERRY_EIO, "cannot read '%s': %s",
					       s->files[i].path, strerror(e));
		}
		ferry_hash_stream_hex(h, hex);
		ferry_hash_stream_free(h);
		if (ferry_buf_addf(out, "%s %llu %s\n", s->files[i].path,
				   (unsigned long long)s->files[i].size, hex) < 0)
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	return 0;
}

/* The directory's files in key order: s->files (sorted by path, as the
 * walk's names are). */
static void src_files(void *v, char *const **names, size_t *n)
{
	struct csv_src *s = v;

	*names = s->walk.files;
	*n = s->is_dir ? s->walk.nfiles : 0;
}

static int src_notes(void *v, struct ferry_buf *out)
{
	struct csv_src *s = v;

	return s->is_dir ? conn_walk_note(&s->walk, s->root, out) : 0;
}

static const char *const csv_schemes[] = { "csv", NULL };

const struct tm_source_ops csv_source_ops = {
	.name = "csv",
	.schemes = csv_schemes,
	.open = src_open,
	.close = src_close,
	.discover = src_discover,
	.plan = src_plan,
	.read = src_read,
	.identity = src_identity,
	.identity_is_content = 1,
	.notes = src_notes,
	.files = src_files,
};

/* The connector: the point source behind the telemetry mapping. */
static int csv_conn_open(const ferry_url *url, unsigned flags, ferry_conn **out,
			 struct ferry_error *err)
{
	return tm_conn_open(&csv_source_ops, url, flags, out, err);
}

const struct ferry_conn_ops csv_ops = TM_CONN_OPS("csv", csv_schemes, csv_conn_open);
