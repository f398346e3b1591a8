/*
 * tsmap.h - time-series sources and the telemetry mapping (prefix tm_).
 *
 * InfluxDB 1.x (influx://), line-protocol files (lp://) and IoTDB/plain
 * CSV (csv://) deliver points, not rows:
 *
 *   point source (tm_source_ops) --points--> mapper (narrow | wide | map)
 *        --rows in ferry_batch--> the copy pipeline (transform, COPY, checkpoints)
 *
 * Each point source (src/lib/tsmap/sources/: influx/, lpfile.c, csv/)
 * implements a struct tm_source_ops; a tm_reader (reader.c) reads it
 * through the chosen layout: the layout's tables as a catalog, and the
 * points of a range of chunks as rows.  The connector layer wraps that
 * into an ordinary ferry connector (src/lib/connectors/points.c: the
 * ops tables of influx:, lp: and csv:), so chunks, checkpoints, rejects,
 * resume, -j workers and verify work for points exactly as for SQLite
 * rows; this layer itself knows nothing of connectors.
 *
 * A chunk is a unit of source work that can be read again with the same
 * result: a (measurement, time range) for InfluxDB, a record-aligned byte
 * range of one file for lp/csv.  The plan of chunks must depend only on
 * the source and the options (never on --jobs), because a resumed run
 * finds its done chunks by their ordinal.
 *
 * Ownership: everything a source hands to a callback (struct tm_point and
 * the strings it points at, reject reasons and raw bytes) is borrowed and
 * dies when the callback returns.  A struct tm_schema and tm_chunk arrays
 * returned by a source are owned by the caller and freed with
 * tm_schema_release() / tm_chunks_free().
 */
#ifndef FERRY_TSMAP_H
#define FERRY_TSMAP_H

#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "ferry/model.h"
#include "ferry/url.h"
#include "wire/lineproto.h"

/* One point.  Tags in any order with distinct keys; fields with distinct
 * keys, nfields >= 1.  key: the source position that a reject names and
 * that orders rows within a chunk: the physical line number for files
 * (TM_KEY(file, line) from a directory), the ordinal of the point inside
 * the chunk for InfluxDB. */
struct tm_point {
	struct lp_str measurement;
	const struct lp_tag *tags;
	size_t ntags;
	const struct lp_field *fields;
	size_t nfields;
	int64_t time_ns;
	int64_t key;
	const char *file;  /* a directory's file the point is from, relative to
			    * it (line numbers restart in each), else NULL:
			    * rejects name it */
	uint64_t series_id;  /* not 0: points with the same series_id have the
			      * same measurement and tags (the source knows it:
			      * one series of an InfluxDB answer), so the rows
			      * need not compare them; 0: not known */
	int again;           /* not 0: more fields of a point (the same series
			      * and time) handed on before with other fields:
			      * the InfluxDB source hands points on field by
			      * field.  What counts points counts it once. */
};

/* A directory source's key: the file's index (into the names the files
 * op gives) above the line number, so that rejects name the file
 * ({"file":NAME,"line":N}, see ferry_table.key_files). */
#define TM_KEY_FILE_SHIFT 40
#define TM_KEY(file, line) (((int64_t)(file) << TM_KEY_FILE_SHIFT) | (int64_t)(line))
#define TM_KEY_LINE(key) ((key) & ((INT64_C(1) << TM_KEY_FILE_SHIFT) - 1))

/* Field types seen, as a bit set of (1u << enum lp_ftype). */
#define TM_TYPE_BIT(t) (1u << (t))

/* The wide layout's column type (enum ferry_type) that holds every value
 * of these field types exactly: integer and float double precision,
 * integer and unsigned numeric, with a string or a boolean among others
 * text; a boolean alone boolean. */
int tm_wide_type(unsigned types);
/* The field types a wide column of type t (enum ferry_type) holds, as
 * TM_TYPE_BIT()s: so that tm_wide_type(a | b) joins two columns' types;
 * 0 for a type outside the wide layout's. */
unsigned tm_wide_types_of(int t);

struct tm_field_info {
	char *name;
	unsigned types;        /* TM_TYPE_BIT()s of every type seen */
};

struct tm_measurement {
	char *name;
	char **tags;           /* tag keys, sorted bytewise */
	size_t ntags;
	struct tm_field_info *fields;  /* sorted bytewise by name */
	size_t nfields;
	int64_t points;        /* estimate, -1 when unknown */
	int64_t values;        /* field values in those points (a narrow row
				* each), estimate, -1 when unknown */
};

struct tm_schema {
	struct tm_measurement *m;  /* sorted bytewise by name */
	size_t n;
	int typed;             /* field types are known (see need_types) */
};

void tm_schema_release(struct tm_schema *s);
/* Find or add measurement/tag/field (kept sorted); NULL on out-of-memory. */
struct tm_measurement *tm_schema_measurement(struct tm_schema *s, const char *name,
					     size_t n);
int tm_measurement_add_tag(struct tm_measurement *m, const char *key, size_t n);
int tm_measurement_add_field(struct tm_measurement *m, const char *key, size_t n,
			     unsigned types);
/* Add measurement m (a copy of its name, tags and fields with their
 * types, joined with what s has of it).  0 or FERRY_ENOMEM. */
int tm_schema_merge(struct tm_schema *s, const struct tm_measurement *m);
/* Index of name in s, or -1. */
int tm_schema_find(const struct tm_schema *s, const char *name, size_t n);

/* One query of a chunk in series order (see tm_source_opts.order_tag). */
struct tm_item {
	int measurement;       /* index into the schema */
	const char *where;     /* the source's condition for the series, or NULL */
	int64_t t_lo, t_hi;    /* ns, half-open; read newest first */
};

struct tm_chunk {
	int measurement;       /* index into the schema; -1: every measurement */
	int has_time;          /* t_lo/t_hi bound the points */
	int64_t t_lo, t_hi;    /* ns, half-open [t_lo, t_hi) */
	int file;              /* lp/csv: index of the file, else 0 */
	uint64_t off_lo, off_hi;  /* lp/csv: byte range, record-aligned, half-open */
	int64_t line0;         /* lp/csv: physical line number at off_lo */
	int cut;               /* lp: the file's (gzip) data breaks at off_hi, and
				* the chunk is the record cut there (maybe
				* empty): read() rejects it, naming the break */
	int64_t est;           /* estimated points, -1 when unknown */
	int64_t est_values;    /* estimated field values (narrow rows), -1 or 0
				* when unknown: est times the schema's values
				* per point */
	const struct tm_item *items;  /* nitems > 0: the chunk is these queries, in
				 * this order (measurement is -1, no time) */
	size_t nitems;
	void *pool;            /* chunk 0 only: the memory of every chunk's items */
};

void tm_chunks_free(struct tm_chunk *c);

/* What the copy options say to a point source. */
struct tm_source_opts {
	int has_start, has_end;
	int64_t start_ns, end_ns;   /* points with start <= time < end */
	int64_t chunk_ns;           /* InfluxDB: time per chunk; 0 = the source's
				     * default (about 400k points, whole hours) */
	uint64_t chunk_bytes;       /* files: bytes per chunk; 0 = default (64 MiB) */
	enum lp_precision precision;   /* lp timestamps; LP_PREC_NS default */
	int need_types;             /* discover() must know every field's types
				     * (wide layout; may cost a full scan) */
	const char *order_tag;      /* narrow layout: plan() may cut chunks that
				     * read the points in the order of the
				     * (series, measurement, field, time desc)
				     * index, the series being this tag's value
				     * (the canonical series key without it);
				     * NULL: any order */
};

/* The source options in url's query (start=, end=, chunk_time=,
 * chunk_bytes=, precision=; see ferry_ts_url), for a reader of raw
 * points (ferry copy into a point store, ferry verify into InfluxDB):
 * no series order, no types; the layout's options are checked too.
 * 0 or FERRY_EUSAGE naming the bad option. */
int tm_source_opts_from_url(const ferry_url *u, struct tm_source_opts *o,
			    struct ferry_error *err);

typedef int (*tm_point_fn)(const struct tm_point *p, void *ud, struct ferry_error *err);
/* A record that is not a valid point: key as in struct tm_point, reason
 * lower-case without a full stop ("invalid field value 'x' for field
 * 'y'"), raw the record's bytes.  Non-zero return stops the read. */
typedef int (*tm_reject_fn)(void *ud, int64_t key, const char *reason,
			    const void *raw, size_t n, struct ferry_error *err);

struct tm_source_ops {
	const char *name;               /* for messages: "influx", "lp", "csv" */
	int (*open)(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err);
	void (*close)(void *s);
	/* Measurements, tag keys and field keys (and types when o->need_types
	 * or cheap).  For sources without a catalog, a scan of the data. */
	int (*discover)(void *s, struct tm_schema *out, struct ferry_error *err);
	/* The chunks, in a deterministic order.  sch is what discover gave. */
	int (*plan)(void *s, const struct tm_schema *sch, struct tm_chunk **out,
		    size_t *n, struct ferry_error *err);
	/* Every point of chunk ck, in a deterministic order, to fn (only the
	 * points of measurement `only` when only >= 0; the index is into sch,
	 * the schema discover() gave on the first connection to the same URL:
	 * a handle that never ran discover() must still understand it);
	 * every malformed record to rej.  Points
	 * outside [start, end) are skipped.  Reading the same chunk again
	 * gives the same calls. */
	int (*read)(void *s, const struct tm_schema *sch, const struct tm_chunk *ck,
		    int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
		    struct ferry_error *err);
	/* Optional: the chunk of the same plan this handle will likely read
	 * after the one its next read() reads (NULL: none known); ck stays
	 * valid until that read() returns.  A source may fetch some of it
	 * ahead during that read(); what it fetched stands only if the read
	 * after asks for the same. */
	void (*next_chunk)(void *s, const struct tm_chunk *ck);
	/* Optional: a short text that changes when the source's data changes
	 * (files: a hash of their bytes; InfluxDB: points counted and first
	 * and last times).  NULL entry = none; returns 1 when it cannot say. */
	int (*identity)(void *s, struct ferry_buf *out, struct ferry_error *err);
	/* identity covers every byte a read could return, so a resumed copy
	 * checks it (connector content_id); InfluxDB's counts do not see an
	 * overwritten point, and would cost a second pass of count queries */
	int identity_is_content;
	/* Optional: lines for the summary (files of a directory left out). */
	int (*notes)(void *s, struct ferry_buf *out);
	/* Optional: a directory's files, relative to it, in the order of the
	 * file index in keys (TM_KEY); *n = 0 for one file or none. */
	void (*files)(void *s, char *const **names, size_t *n);
	/* the source keeps one point per series and time (InfluxDB), so the
	 * narrow layout cannot load a point twice: no note about it */
	int unique_points;
};

/* The point sources (sources/), wrapped into connectors by the
 * connector layer (src/lib/connectors/points.c). */
extern const struct tm_source_ops ifx_source_ops;
extern const struct tm_source_ops lpf_source_ops;
extern const struct tm_source_ops csv_source_ops;

/*
 * A point source read through the layout its URL's options choose
 * (reader.c): the source opened once per reader, its discovery, chunk plan
 * and layout shared by every reader of the same URL in the process.
 * Batches and rejects handed to the callbacks are only valid during the
 * call; a catalog is the caller's (ferry_catalog_free).
 */
struct tm_reader;

/* Called for each filled batch; non-zero return stops the read. */
typedef int (*tm_batch_fn)(struct ferry_batch *b, void *ud, struct ferry_error *err);
/* A record that never became a row (see tm_reject_fn); column may be "". */
typedef int (*tm_row_reject_fn)(void *ud, int64_t key, const char *column,
				const char *reason, const void *raw, size_t n,
				struct ferry_error *err);

/* What to read: one table of the layout, optionally an inclusive range
 * of its chunk ordinals (tm_reader_key_range). */
struct tm_read_spec {
	const char *table;
	int has_range;
	int64_t lo, hi;
	size_t batch_rows;        /* max rows per batch */
	size_t batch_bytes;       /* flush a batch once its arena reaches this */
	tm_row_reject_fn reject;  /* NULL: such records fail the read */
	void *reject_ud;
	int then_next;            /* ferry_read_spec.then_next */
};

int tm_reader_open(const struct tm_source_ops *sops, const ferry_url *url,
		   struct tm_reader **out, struct ferry_error *err);
void tm_reader_close(struct tm_reader *r);
/* The layout's tables (keys of a directory's points name their file). */
int tm_reader_catalog(struct tm_reader *r, struct ferry_catalog **out,
		      struct ferry_error *err);
/* Chunk ordinals lo..hi of table and an estimate of its rows. */
int tm_reader_key_range(struct tm_reader *r, const char *table, int64_t *lo,
			int64_t *hi, int64_t *count, struct ferry_error *err);
int tm_reader_read(struct tm_reader *r, const struct tm_read_spec *spec, tm_batch_fn fn,
		   void *ud, struct ferry_error *err);
/* What reading decided that the user should know, one line each. */
int tm_reader_notes(struct tm_reader *r, struct ferry_buf *out);
/* The source's identity when it covers the content, else 1: of a
 * reader, or of a point source's open handle h (tm_source_content_id). */
int tm_reader_content_id(struct tm_reader *r, struct ferry_buf *out,
			 struct ferry_error *err);
int tm_source_content_id(const struct tm_source_ops *ops, void *h, struct ferry_buf *out,
			 struct ferry_error *err);

/* *out = src with the options t as query parameters (the map path made
 * absolute), for ferry_ts_url, which first checks that src is a point
 * source.  *out is the caller's (ferry_free). */
struct ferry_ts_opts;
int tm_url_add_opts(const char *src, const struct ferry_ts_opts *t, char **out,
		    struct ferry_error *err);
/*
 * The checks of one line-protocol record that `ferry copy lp://` and the
 * relay share (check.c), so that a line one refuses the other refuses
 * with the same reason: the parser, a timestamp (or the default), its
 * range at the precision, UTF-8 and NUL bytes in every name and string,
 * NaN/Inf.  A struct tm_point it gives points into c and dies with the
 * next call.  NaN/Inf: scratch.drop_nonfinite is 0 after tm_check_init(),
 * so such a line is refused whole, as influxd does (the relay); lp://
 * sets it to 1 (the value left out, listed in scratch.dropped).
 */
struct tm_check {
	struct lp_scratch scratch;
	struct lp_point pt;
	enum lp_precision precision;
	int has_default_ns;      /* a point without timestamp gets default_ns */
	int64_t default_ns;      /* (the relay: now); else it is a reject */
	/* lp:// --start/--end: a point outside [start_ns, end_ns) is
	 * TM_CHECK_SKIP, decided before the text checks (0: no bound) */
	int has_start, has_end;
	int64_t start_ns, end_ns;
	/* 1: names and string values are taken as bytes, NUL bytes and
	 * invalid UTF-8 included, as influxd takes them (the relay: the
	 * InfluxDB store keeps them, the PostgreSQL store's conversion
	 * refuses them point by point); 0: they are a reject */
	int bytes_ok;
	char why[320];
};
enum { TM_CHECK_SKIP = 0, TM_CHECK_POINT, TM_CHECK_REJECT };
void tm_check_init(struct tm_check *c, enum lp_precision precision);
void tm_check_release(struct tm_check *c);
/* TM_CHECK_POINT (*tp set; key 0, file NULL), TM_CHECK_SKIP (a blank or
 * comment record), TM_CHECK_REJECT (*why set, lower-case), FERRY_ENOMEM. */
int tm_check_record(struct tm_check *c, const char *rec, size_t n, struct tm_point *tp,
		    const char **why);

/* Append p as one line of line protocol (no newline, its time in ns),
 * its tags sorted by key as InfluxDB keeps them (point.c; *tags, *cap: the
 * caller's room for a sorted copy, grown here).  0, FERRY_EINVAL (a name
 * line protocol cannot hold, see lp_point_write) or FERRY_ENOMEM. */
int tm_point_write(struct ferry_buf *b, const struct tm_point *p, struct lp_tag **tags,
		   size_t *cap);

/*
 * The layout of `ferry copy` for points that arrive one at a time (the
 * relay; live.c): narrow, a map file or wide (ferry_ts_opts as for a
 * copy).  A live row equals the row the backfill writes for the same
 * point.  narrow and map: one table (tm_live_table, tm_live_columns,
 * tm_live_rows); wide: see tm_live_route below.  One thread at a time.
 */
struct tm_live;
int tm_live_open(const struct ferry_ts_opts *o, struct tm_live **out, struct ferry_error *err);
void tm_live_close(struct tm_live *l);
/* The map file's points: rules, NULL when it has none.  The caller maps
 * each point through it (a tm_pmap_run of its own) and hands the points it
 * becomes to the functions below, as the copy does before its layout. */
struct tm_pmap;
const struct tm_pmap *tm_live_pmap(const struct tm_live *l);
/* The table is the user's (a map file with target:): never created. */
int tm_live_user_table(const struct tm_live *l);
/* The table as a catalog (to create it when missing, with copy's DDL). */
int tm_live_catalog(struct tm_live *l, struct ferry_catalog **out, struct ferry_error *err);
/* The table's name, and its columns and types in batch order. */
const char *tm_live_table(const struct tm_live *l);
size_t tm_live_columns(const struct tm_live *l, const char *const **names, const int **types);
/* Append p's rows to b (which has room for p->nfields more rows); a field
 * no column takes goes to rej (NULL: it is an error). */
int tm_live_rows(struct tm_live *l, const struct tm_point *p, struct ferry_batch *b,
		 tm_row_reject_fn rej, void *ud, struct ferry_error *err);
/*
 * The wide layout (tm_live_wide): a table per measurement, made and grown
 * as points arrive.  tm_live_route() first, for every point: *table is the
 * index of its table (0 for narrow and map), which then has a column for
 * each of its tags and fields (tm_live_ncols_at: more than before means
 * the caller must add them; a new index, create the table); 1 when the
 * point is refused (why set, nothing grew; *table is SIZE_MAX but for a
 * field of a type its column cannot take: then the field's table), 0, or
 * a negative FERRY_E*.  Tables are never removed and columns are only
 * appended, so an index and a column count stay valid.
 */
int tm_live_wide(const struct tm_live *l);
size_t tm_live_ntables(const struct tm_live *l);
int tm_live_route(struct tm_live *l, const struct tm_point *p, size_t *table, char *why,
		  size_t nwhy, struct ferry_error *err);
const char *tm_live_table_at(const struct tm_live *l, size_t table);
size_t tm_live_ncols_at(const struct tm_live *l, size_t table);
/* The table as a catalog, as tm_live_catalog (columns in batch order; the
 * primary key's columns have pk_pos: time[, time_ns] and the tags). */
int tm_live_catalog_at(struct tm_live *l, size_t table, struct ferry_catalog **out,
		       struct ferry_error *err);
/* Column `name` of table is of type `type` (enum ferry_type) in the store
 * (which was made before, or altered since): a field column takes that
 * type when it holds every type the column was made for (the wide
 * layout's lattice: a bigint column altered to double precision then
 * takes floats too).  1 when the column's type changed, else 0. */
int tm_live_adopt_type(struct tm_live *l, size_t table, const char *name, int type);
/* p's row in table (after tm_live_route), as tm_live_rows. */
int tm_live_rows_at(struct tm_live *l, size_t table, const struct tm_point *p,
		    struct ferry_batch *b, tm_row_reject_fn rej, void *ud, struct ferry_error *err);

/*
 * An influx:// URL as the InfluxDB source and writer read it
 * (sources/influx/source.c):
 *   influx://[user[:password]@]host[:port]/DB[?rp=POLICY&u=USER&p=PASS&ssl=1&gzip=0|1]
 *   influx://host[:port]/?org=ORG&bucket=BUCKET&token=TOKEN[&ssl=1&gzip=0|1]  (2.x)
 * base "http(s)://host:port", where "host:port" (messages), db, rp (NULL:
 * the database's default), user/pass (NULL: none), gzip (the gzip= value,
 * default on unless the host is loopback).  Strings are owned: release
 * with tm_influx_url_release().  0, FERRY_EINVAL (a bad URL, err says the
 * form) or FERRY_ENOMEM.
 */
struct tm_influx_url {
	char *base, *where, *db, *rp, *user, *pass;
	int gzip;
	/* InfluxDB 2.x (?org=&bucket=&token=, any of them): db is the bucket,
	 * org and token (NULL: none) as given; rp, user and pass unused */
	int v2;
	char *org, *token;
};
int tm_influx_url(const ferry_url *url, struct tm_influx_url *out, struct ferry_error *err);
void tm_influx_url_release(struct tm_influx_url *u);

/*
 * Point maps (pmap.c): the `points:` rules of a map file, point -> points,
 * first matching rule wins, a point no rule matches passes unchanged.
 * A rule: from (measurement name or glob, optional tag conditions), to
 * (template: {measurement}, {tag.NAME}, {field}; {field} makes a point
 * per field), tags (new tag -> template) and drop_tags, fields (new
 * field -> source field, tag.NAME to move a tag to a field, cast int |
 * float | string | bool, scale and offset), field_tags (a field moved
 * to a tag), only_named, drop.  The same map serves `ferry copy` into
 * InfluxDB or lp:// (points out), into PostgreSQL before the narrow,
 * wide or table-map layout (tm_reader, tm_live), the relay's InfluxDB
 * sink and `ferry verify`.
 *
 * A loaded map is read-only and shared between threads; each thread
 * applies it through its own struct tm_pmap_run (the strings of the
 * points it hands to fn live in the run until the next apply).
 */
struct tm_pmap;
struct tm_pmap_run;

/* Load the `points:` list of a YAML file.  0 (*out set); 1 when the file
 * has no top-level `points:` (*out NULL: not a point map); FERRY_EUSAGE
 * naming the file, line and what is wrong; FERRY_EIO; FERRY_ENOMEM. */
int tm_pmap_load(const char *path, struct tm_pmap **out, struct ferry_error *err);
void tm_pmap_free(struct tm_pmap *m);
/* What the map file at path holds: *points a top-level `points:` (a
 * point map), *table `target:`/`columns:` (a table map, which loads into
 * the user's table; without one the layout is --layout's, narrow by
 * default).  0, or FERRY_EUSAGE/EIO/ENOMEM (err names the file, line). */
int tm_map_kinds(const char *path, int *points, int *table, struct ferry_error *err);
/* 32 hex digits over the file's bytes (resume fingerprints). */
const char *tm_pmap_digest(const struct tm_pmap *m);
/* 0 (*out set) or FERRY_ENOMEM. */
int tm_pmap_run_new(const struct tm_pmap *m, struct tm_pmap_run **out);
void tm_pmap_run_free(struct tm_pmap_run *r);
/*
 * Map p: fn gets each point it becomes (*emitted of them: 0 when a rule
 * drops it or leaves it no field; p itself when no rule matches).  The
 * points keep p's time_ns, key and file.  Returns 0; 1 when the point is
 * refused (a cast that cannot convert a value exactly, a template naming
 * a tag the point lacks, ...: why set, lower-case, "map FILE:LINE: field
 * 'F' value 'V' cannot be cast to int exactly"; fn not called); fn's
 * non-zero return as it is; FERRY_ENOMEM.  Thread-safe across runs.
 * Field semantics: a field named in fields: takes its source (a rename:
 * the source is not kept under its old name) and replaces a field of its
 * own name when the point has the source; a tag a field takes
 * (from: tag.NAME) and a field field_tags takes leave their old place.
 */
int tm_pmap_apply(struct tm_pmap_run *r, const struct tm_point *p, tm_point_fn fn,
		  void *ud, size_t *emitted, char *why, size_t nwhy, struct ferry_error *err);
/* One line per rule no point has matched yet in any run of m:
 * "map FILE:LINE: rule from 'X' matched no point\n".  0 or FERRY_ENOMEM. */
int tm_pmap_unmatched(const struct tm_pmap *m, struct ferry_buf *out);
/*
 * The schema the map's points have, from the source's (measurements,
 * tags, fields and field types through the rules).  0; 1 when it cannot
 * be known without the points (to: or tags: use a tag's value): the
 * caller scans the points through the map instead; negative FERRY_E*.
 */
int tm_pmap_schema(const struct tm_pmap *m, const struct tm_schema *in,
		   struct tm_schema *out, struct ferry_error *err);

/*
 * Writing line protocol to InfluxDB (sources/influx/write.c), the one
 * InfluxDB write path: `ferry copy` into influx:// and the relay's sink.
 * One keep-alive libcurl handle per writer, used by one thread at a time.
 *   influx://[user[:pw]@]host[:port]/DB[?rp=RP&u=&p=&ssl=1&gzip=0|1]  (1.x /write)
 *   influx://host[:port]/?org=ORG&bucket=BUCKET&token=TOKEN          (2.x /api/v2/write)
 * Bodies are gzip'd unless the host is loopback (gzip= decides).
 */
struct tm_ifx_writer;
int tm_ifx_writer_open(const ferry_url *url, struct tm_ifx_writer **out,
		       struct ferry_error *err);
void tm_ifx_writer_close(struct tm_ifx_writer *w);
/* The URL's database (2.x: bucket) and retention policy (NULL: default). */
const char *tm_ifx_writer_db(const struct tm_ifx_writer *w);
const char *tm_ifx_writer_rp(const struct tm_ifx_writer *w);
/* A line InfluxDB refused: unit is the index of its unit (see below),
 * why influxd's reason.  Non-zero return stops the write with it. */
typedef int (*tm_ifx_refused_fn)(void *ud, size_t unit, const char *line, size_t n,
				 const char *why, struct ferry_error *err);
/*
 * Write body (records, each ending in '\n', nanosecond timestamps) to
 * db/rp (NULL: the URL's).  units: nunits offsets into body where each
 * unit starts (units[0] == 0), a unit being records the caller accounts
 * for together (the relay: one client write); NULL: each record is its
 * own unit.  On a 400 (partial write, type conflict, unable to parse),
 * a 2.x 422 or a 413 the refused lines are found by halving the units,
 * then line by line within a refused unit, and reported to fn (in body
 * order; fn may be NULL); everything else is written (a point sent twice
 * is stored once by InfluxDB).  Returns 0; FERRY_ENOTFOUND (the database,
 * retention policy, bucket or org does not exist: nothing written, err
 * says which with influxd's words; when it was dropped during the
 * halving, lines told to fn before stay told); FERRY_ECONN (no answer,
 * timeout, 5xx, 401/403, 2.x 429: nothing known to be written, err says
 * what and the server's Retry-After; retry); FERRY_EINVAL (units not
 * starting at 0 and rising); FERRY_ENOMEM; or fn's error.
 */
int tm_ifx_write(struct tm_ifx_writer *w, const char *db, const char *rp, const char *body,
		 size_t n, const size_t *units, size_t nunits, tm_ifx_refused_fn fn, void *ud,
		 struct ferry_error *err);
/* After tm_ifx_write returned FERRY_ENOTFOUND: influxd's HTTP status (404,
 * or 1.x's 500 for a retention policy) and its words (*msg), without where
 * the server is: what a relay answers its own client. */
long tm_ifx_writer_missing(const struct tm_ifx_writer *w, const char **msg);
/* /ping: 1 up, 0 not. */
int tm_ifx_ping(struct tm_ifx_writer *w);
/* One request through a writer's handle (tm_ifx_request). */
struct tm_ifx_req {
	const char *method;         /* GET, POST, HEAD, ...; NULL: GET */
	const char *path;           /* after the base URL: "/query?db=.." */
	const char *body;           /* NULL: none */
	size_t n;                   /* its bytes */
	const char *content_type;   /* the body's; NULL: none */
	const char *accept;         /* the Accept header (application/csv,
				     * application/x-msgpack); NULL: none */
	int own_auth;               /* it carries its own credentials: the
				     * URL's are not added */
	size_t max;                 /* answer bytes at most (FERRY_ETOOBIG) */
};
/*
 * Any other request through w's handle and credentials (the relay's
 * /query pass-through).  The answer as the server gave it: *status, its
 * content type in ctype (cap bytes), its body in ans (cleared first).  0,
 * FERRY_ETOOBIG, or FERRY_ECONN when no answer came.
 */
int tm_ifx_request(struct tm_ifx_writer *w, const struct tm_ifx_req *rq, long *status,
		   char *ctype, size_t cap, struct ferry_buf *ans, struct ferry_error *err);
/* s as an InfluxQL identifier onto b: "..." with " and \ escaped. */
int tm_ifx_add_ident(struct ferry_buf *b, const char *s, size_t n);
/* Does database db exist (2.x: bucket)?  1, 0, or FERRY_ECONN. */
int tm_ifx_has_db(struct tm_ifx_writer *w, const char *db, struct ferry_error *err);
/* CREATE DATABASE db, and CREATE RETENTION POLICY rp ON db (DURATION INF
 * REPLICATION 1) when rp is not NULL and missing.  0 or FERRY_E*. */
int tm_ifx_create_db(struct tm_ifx_writer *w, const char *db, const char *rp,
		     struct ferry_error *err);

/* ---- map files (mapfile.c): shared by every kind of map file ---- */

#include <libfyaml.h>
#include "wire/yaml.h"

struct tm_mapfile {
	const char *path;
	struct ferry_error *err;
};

/* Read and parse the YAML of map file path into y (text keeps the bytes;
 * release both in every case).  0; FERRY_EUSAGE (cannot open, not UTF-8,
 * a YAML error: file and line), FERRY_EIO, FERRY_ENOMEM; err set. */
int tm_yaml_load(const char *path, struct ferry_buf *text, struct wire_yaml *y,
		 struct ferry_error *err);
/* FERRY_EUSAGE "map 'PATH' line N: <fmt>" (n's line), err set. */
int tm_yaml_bad(struct tm_mapfile *c, struct fy_node *n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
