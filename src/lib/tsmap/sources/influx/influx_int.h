/*
 * influx_int.h - the InfluxDB 1.x point source (influx://, prefix ifx_):
 * reads measurements over the HTTP /query API and hands their points to
 * the telemetry mapper (tsmap.h).  Its files, one job each:
 *
 *   http.c       the curl client: one InfluxQL statement, answer streamed
 *   answer.c     the answer parser: MessagePack objects (wire/msgpack.h)
 *                into series and rows, an answer taken whole
 *   source.c     open/close, identity, the ops tables
 *   discovery.c  measurements, keys, types, first/last times on threads,
 *                shard groups
 *   plan.c       chunks by time (and shard group), or in series order
 *   read.c       a chunk's points to the mapper, with a fetch-ahead thread
 *   write.c      the one write path (tm_ifx_writer_*): line protocol to
 *                1.x /write or 2.x /api/v2/write over a keep-alive handle
 *
 *   influx://[user[:password]@]host[:port]/DB[?rp=POLICY&u=USER&p=PASS&ssl=1&gzip=0|1]
 *
 * gzip: answers come gzip'd unless the host is loopback (gzip= decides).
 *
 * Wire format.  Queries ask for MessagePack (Accept: application/x-msgpack,
 * InfluxDB 1.4+), not JSON: it keeps float64, int64 and uint64 apart (JSON
 * prints 2.0 and 2i both as `2`), passes string bytes as stored (Go's JSON
 * encoder replaces invalid UTF-8), and is cheaper to scan.  Responses stream
 * (chunked=true): the curl write callback appends to one buffer and hands
 * every complete top-level object (one response chunk of at most
 * IFX_ROWS_PER_CHUNK rows) to the parser, so memory stays bounded by one
 * chunk whatever the size of the answer.
 *
 * Chunks are (measurement, [t_lo, t_hi)), read with
 *   SELECT * FROM "db"."rp"."m" WHERE time >= lo AND time < hi GROUP BY *
 * which gives one series per tag set (sorted by tag set) with rows in time
 * order, so the same chunk always yields the same points in the same order.
 *
 * For the narrow layout (tm_source_opts.order_tag) the chunks go series by
 * series instead, each query's answer handed on field by field, newest
 * first: a chunk's first ones streamed (ORDER BY time DESC), the rest
 * taken whole (at most whole_max bytes) and fetched ahead: see "plan in
 * series order" in plan.c and read_items in read.c.
 *
 * Field type conflicts: a field has one type per shard but may have another
 * in a different shard group.  A SELECT that spans both picks one type for
 * the column (float > integer > string > boolean), casts integers to float
 * and silently drops the values of the other types (measured on influxd
 * 1.6.7).  So the chunks of a measurement that has a field with more than
 * one type never cross a shard group boundary: inside one shard group every
 * field has a single type and arrives as stored.
 */
#ifndef FERRY_INFLUX_INT_H
#define FERRY_INFLUX_INT_H

#include <curl/curl.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/error.h"
#include "model/value.h"
#include "tsmap/tsmap.h"
#include "wire/msgpack.h"

#define IFX_DEFAULT_PORT 8086
#define IFX_ROWS_PER_CHUNK 10000      /* chunk_size= of streamed answers */
#define IFX_OBJECT_MAX (512u << 20)   /* one response chunk larger than this: refuse */
#define IFX_ERRBODY_MAX 65536         /* bytes kept of a non-200 answer */
#define IFX_TARGET_POINTS 400000      /* the default chunk aims at this many points */
#define IFX_MAX_BOUNDS 10000000       /* shard group bounds, derived without SHOW SHARDS */
#define IFX_WHOLE_MAX (32u << 20)     /* a series-order answer taken whole, at most;
					 * FERRY_INFLUX_ANSWER_MAX (bytes) sets it */
#define IFX_AHEAD_BYTES (8u << 20)    /* series order: answers fetched ahead while
					 * those not freed hold less (read.c);
					 * FERRY_INFLUX_AHEAD_MAX (bytes) sets it */
#define IFX_WHOLE_ROWS 1000000000     /* chunk_size= of an answer taken whole: a
					 * message per series, which max-row-limit
					 * (it caps unchunked answers) does not cut */
#define IFX_HOUR_NS INT64_C(3600000000000)
#define IFX_MAX_ITEMS 1000000        /* series order: queries in all (plan.c) */

/* struct rd's fieldwise: rows as they come (0), or field by field, each
 * field newest first, from an answer taken whole (rows oldest first) or
 * from one streamed newest first (ORDER BY time DESC), whose first field
 * goes on as it comes and the others once its series is whole (read.c). */
#define IFX_FW_WHOLE 1
#define IFX_FW_STREAM 2

/* One series of a result: rows are read from values..vend by the callback. */
struct series {
	struct lp_str name;
	const struct lp_tag *tags;    /* tags with an empty value left out */
	size_t ntags;
	const struct lp_str *cols;
	size_t ncols;
	const unsigned char *values, *vend;   /* the rows, after the array header */
	uint32_t nrows;
	uint64_t id;       /* not 0: this series as read from one answer
			    * message, unique in the process (tm_point's
			    * series_id); 0 for one put together otherwise */
};

typedef int (*series_fn)(void *ud, const struct series *s, struct ferry_error *err);

/* One streamed /query answer. */
struct stream {
	const char *where;            /* "host:port" */
	series_fn fn;
	void *ud;
	struct ferry_buf in;          /* bytes not yet parsed */
	size_t tried;                 /* in.len when an object was last incomplete */
	struct lp_tag *tags;
	size_t tagcap;
	struct lp_str *cols;
	size_t colcap;
	CURL *h;
	long status;
	int checked;                  /* status and content type looked at */
	struct ferry_buf body;        /* a non-200 answer (capped) */
	int partial;                  /* the last result said more follows */
	int64_t objects;              /* top-level objects parsed */
	size_t max_object;            /* a larger message is refused */
	int rc;                       /* error raised inside the write callback */
	struct ferry_error *err;
};

struct ifx_meas {
	int64_t first, last;      /* times of the first and last point; valid if have */
	int have;
	int conflict;             /* a field has more than one type */
};

struct fetch;                 /* read.c: one answer taken whole */
struct ifx_hold;              /* read.c: a streamed series held */

struct ifx {
	char *base;               /* "http://host:port" */
	char *where;              /* "host:port", for messages */
	char *db, *rp;            /* rp: the one given, or the database's default */
	int rp_default;           /* rp is the database's default */
	char *user, *pass;
	struct tm_source_opts o;
	struct tm_schema sch;     /* what discover() gave (own copy) */
	struct ifx_meas *meas;    /* per sch.m[] */
	int64_t *bounds;          /* shard group boundaries of db.rp, sorted, unique */
	size_t nbounds;
	char *order_tag;          /* o.order_tag, owned */
	int gzip;                 /* ask for gzip'd answers */
	size_t whole_max;         /* IFX_WHOLE_MAX or FERRY_INFLUX_ANSWER_MAX */
	size_t ahead_max;         /* IFX_AHEAD_BYTES or FERRY_INFLUX_AHEAD_MAX */
	size_t max_queries;       /* series order: IFX_MAX_ITEMS or
				   * FERRY_INFLUX_MAX_QUERIES */
	const struct tm_chunk *next_ck;  /* the chunk likely read after the next
					  * (tm_source_ops.next_chunk), or NULL */
	struct fetch *carry;      /* the answer of next_ck's first item, fetched
				   * while the chunk before it was read (read.c) */
};


/* Rows of a small answer, cell by cell: the callback gets each row. */
struct rows_ctx {
	const struct ifx *ix;
	int (*row)(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err);
	void *ud;
	struct mp_val *cells;
	size_t cap;
};

struct rd {
	const struct ifx *ix;
	const struct tm_measurement *m;
	tm_point_fn fn;
	tm_reject_fn rej;
	void *ud;
	struct lp_field *fields;
	size_t fcap;
	unsigned *ctypes;
	size_t ccap;
	const unsigned char **rows;  /* fieldwise: where each row starts */
	size_t rcap;
	int *order;               /* fieldwise: field columns, bytewise by name */
	size_t ocap;
	int *rank;                /* fieldwise: rank[column] = its index in order */
	size_t rkcap;
	int in_order;             /* fieldwise: the field columns come bytewise */
	int fieldwise;            /* emit field by field, newest first: IFX_FW_* */
	struct ifx_hold *hold;    /* IFX_FW_STREAM: the series being held (read.c) */
	int64_t key;
	int64_t lo, hi;
	char why[256];
};

/* ---- http.c: the curl client */

/* curl_global_init(), once per process, before any handle. */
void ifx_curl_global(void);
/* The message of an error answer: {"error": ".."} in JSON or MessagePack
 * (1.x), {"code": "..", "message": ".."} (2.x), else the text itself
 * (control bytes shown as '?').  0, or out of memory. */
int ifx_error_text(const struct ferry_buf *b, struct ferry_buf *out);

/* InfluxQL identifier: double quotes, with '"' and '\' escaped. */
int ifx_add_ident(struct ferry_buf *b, const char *s, size_t n);
/* "db"."rp" */
int ifx_add_dbrp(struct ferry_buf *b, const struct ifx *ix);
/* "db"."rp"."m" */
int ifx_add_meas(struct ferry_buf *b, const struct ifx *ix, const char *m);
/*
 * Run one InfluxQL statement q.  whole == 0: stream the answer and hand
 * every series of it to fn.  whole > 0 (fn NULL): take the answer, asked
 * for in a message per series (IFX_WHOLE_ROWS), of at most whole bytes,
 * and hand its bytes over in *raw for ifx_answer_cut() and ifx_parse();
 * FERRY_ETOOBIG, without ctx, when it is larger.  ctx (may be NULL) is
 * put in front of error messages ("cannot read 'm' [..)").
 */
int ifx_query(const struct ifx *ix, const char *q, size_t whole, series_fn fn,
	      void *ud, const char *ctx, struct ferry_buf *raw, struct ferry_error *err);
int ifx_query_rows(const struct ifx *ix, const char *q,
		   int (*row)(struct rows_ctx *, const struct series *, const struct mp_val *,
			      struct ferry_error *),
		   void *ud, const char *ctx, struct ferry_error *err);

/* ---- answer.c: answers into series and rows */

/* Parse every complete object in st->in; keep the unfinished rest.  final:
 * the transfer is over, so a rest is an error. */
int ifx_drain(struct stream *st, int final, struct ferry_error *err);
/* Decode the next row of s at *pp into cells[0..s->ncols); a nested array
 * or map cell is left as its header with its content skipped. */
int ifx_next_row(const struct ifx *ix, const struct series *s, const unsigned char **pp,
		 struct mp_val *cells, struct ferry_error *err);
/* The cell of column col in a row of s, or NULL when s has no such column. */
const struct mp_val *ifx_cell(const struct series *s, const struct mp_val *cells,
			      const char *col);
/* InfluxDB's times ("2024-01-01T00:00:00[.frac]Z", digits past the ninth
 * dropped) are read by model's val_parse_time_ns_mode(IFX_TIME_MODE) and
 * written by val_format_timestamp(IFX_TS_FLAGS, "Z"): one owner each. */
#define IFX_TIME_MODE (VAL_TIME_TRUNC | VAL_TIME_RFC3339)
#define IFX_TS_FLAGS  (VAL_TS_NS | VAL_TS_T | VAL_TS_FRAC_OPT)
/* Whether the whole answer raw was cut: its last message ends with
 * "partial": true (see answer.c). */
int ifx_answer_cut(const struct ferry_buf *raw);
/* Every series of a whole answer (ifx_query with no fn) to fn. */
int ifx_parse(const struct ifx *ix, struct ferry_buf *raw, series_fn fn, void *ud,
	      struct ferry_error *err);

/* ---- discovery.c */

/*
 * Counts (into sch->m[].points and .values) and first/last times (into
 * meas[]).  The count is one query over every measurement; the times are
 * two per measurement.  They run side by side, the times on
 * IFX_STAT_THREADS threads: a database of 600 measurements spent 4.2 s
 * here one query after another.  count_row writes a measurement's counts,
 * the time queries read its name and fields: different members.
 */
int ifx_stats(const struct ifx *ix, struct tm_schema *sch, struct ifx_meas *meas,
	      struct ferry_error *err);
/* from into to; with only, just the measurements i with only[i].have. */
int ifx_schema_copy(const struct tm_schema *from, const struct ifx_meas *only,
		    struct tm_schema *to);
/* --start/--end given: counts, first/last times, the measurements and the
 * narrow plan's series are those of the points inside the window, so a
 * plan (and the identity) does not move as points are written after
 * --end, and a copy stopped by kill -9 resumes. */
#define IFX_WINDOWED(ix) ((ix)->o.has_start || (ix)->o.has_end)
/* " WHERE time >= start AND time < end" (" AND ..." when and_) of the
 * window, or nothing without one. */
int ifx_add_window(struct ferry_buf *q, const struct ifx *ix, int and_);
/* tm_source_ops.discover: measurements, tag and field keys and types, the
 * counts and times, the shard groups; the source keeps its own copy. */
int ifx_discover(void *s, struct tm_schema *out, struct ferry_error *err);

/* ---- plan.c */

/* tm_source_ops.plan: chunks by time (never across a shard group where a
 * field has two types), or in series order for the narrow layout. */
int ifx_plan(void *s, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
	     struct ferry_error *err);

/* ---- read.c */

void ifx_rd_release(struct rd *r);
/* A series_fn: the rows of s as points of r->m to r->fn (field by field,
 * newest first, by r->fieldwise), bad values to r->rej.  IFX_FW_STREAM
 * holds the rest of a series until its last piece: ifx_rd_flush then. */
int ifx_rd_series(void *ud, const struct series *s, struct ferry_error *err);
/* IFX_FW_STREAM: the held fields of the series the answer ended with. */
int ifx_rd_flush(struct rd *r, struct ferry_error *err);
/* tm_source_ops.read. */
int ifx_read(void *s, const struct tm_schema *shared, const struct tm_chunk *ck,
	     int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
	     struct ferry_error *err);
/* tm_source_ops.next_chunk. */
void ifx_next_chunk(void *s, const struct tm_chunk *ck);
/* Free what ix fetched ahead and nothing read (ix->carry). */
void ifx_carry_free(struct ifx *ix);

/* ---- source.c */

extern const struct tm_source_ops ifx_source_ops;

#endif
