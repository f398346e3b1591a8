/*
 * influx.c - the InfluxDB 1.x point source (influx://, prefix ifx_): reads
 * measurements over the HTTP /query API and hands their points to the
 * telemetry mapper (tsmap.h).
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
 * series instead, each query's answer taken whole (at most whole_max
 * bytes) and handed on field by field, newest first: see "plan in series
 * order" below.
 *
 * Field type conflicts: a field has one type per shard but may have another
 * in a different shard group.  A SELECT that spans both picks one type for
 * the column (float > integer > string > boolean), casts integers to float
 * and silently drops the values of the other types (measured on influxd
 * 1.6.7).  So the chunks of a measurement that has a field with more than
 * one type never cross a shard group boundary: inside one shard group every
 * field has a single type and arrives as stored.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/log.h"
#include "tsmap/tsmap.h"

#define IFX_DEFAULT_PORT 8086
#define IFX_ROWS_PER_CHUNK 10000      /* chunk_size= of streamed answers */
#define IFX_OBJECT_MAX (512u << 20)   /* one response chunk larger than this: refuse */
#define IFX_ERRBODY_MAX 65536         /* bytes kept of a non-200 answer */
#define IFX_TARGET_POINTS 400000      /* the default chunk aims at this many points */
#define IFX_MAX_BOUNDS 10000000       /* shard group bounds, derived without SHOW SHARDS */
#define IFX_WHOLE_MAX (32u << 20)     /* a series-order answer taken whole, at most;
					 * FERRY_INFLUX_ANSWER_MAX (bytes) sets it */
#define IFX_AHEAD 1                   /* series order: answers fetched ahead */
#define IFX_WHOLE_ROWS 1000000000     /* chunk_size= of an answer taken whole: one
					 * message, which max-row-limit (it caps
					 * unchunked answers) does not cut */
#define IFX_HOUR_NS INT64_C(3600000000000)

/* ------------------------------------------------------------ MessagePack */

enum mp_type { MP_NIL, MP_BOOL, MP_INT, MP_UINT, MP_FLOAT, MP_STR, MP_BIN, MP_ARRAY,
	       MP_MAP, MP_EXT };
#define MP_TRUNC 1   /* the input ends inside the value */
#define MP_BAD 2     /* not MessagePack (the never-used byte 0xc1) */

struct mp_val {
	enum mp_type t;
	union {
		int64_t i;     /* MP_INT (fits int64) */
		uint64_t u;    /* MP_UINT (> INT64_MAX) */
		double f;
		int b;
		uint32_t n;    /* MP_ARRAY elements, MP_MAP pairs */
	} v;
	const char *s;         /* MP_STR/MP_BIN/MP_EXT payload */
	size_t len;
};

static uint64_t load_be(const unsigned char *p, int n)
{
	uint64_t x = 0;
	int i;

	for (i = 0; i < n; i++)
		x = (x << 8) | p[i];
	return x;
}

/* Decode the value at *pp: a scalar whole, an array or map only its header
 * (the elements follow).  0 and *pp advanced, or MP_TRUNC / MP_BAD. */
static int mp_next(const unsigned char **pp, const unsigned char *end, struct mp_val *v)
{
	const unsigned char *p = *pp;
	unsigned c;
	int lb = 0;            /* bytes of a length prefix */
	size_t len = 0, extra = 0;

	if (p >= end)
		return MP_TRUNC;
	c = *p++;
	if (c <= 0x7f) {
		v->t = MP_INT;
		v->v.i = c;
		goto done;
	}
	if (c >= 0xe0) {
		v->t = MP_INT;
		v->v.i = (int64_t)c - 256;
		goto done;
	}
	if (c <= 0x8f || (c >= 0x90 && c <= 0x9f)) {
		v->t = c <= 0x8f ? MP_MAP : MP_ARRAY;
		v->v.n = c & 0x0f;
		goto done;
	}
	if (c <= 0xbf) {       /* fixstr */
		v->t = MP_STR;
		len = c & 0x1f;
		goto payload;
	}
	switch (c) {
	case 0xc0:
		v->t = MP_NIL;
		goto done;
	case 0xc2: case 0xc3:
		v->t = MP_BOOL;
		v->v.b = c & 1;
		goto done;
	case 0xc4: case 0xc5: case 0xc6:
		v->t = MP_BIN;
		lb = 1 << (c - 0xc4);
		goto lenpfx;
	case 0xd9: case 0xda: case 0xdb:
		v->t = MP_STR;
		lb = 1 << (c - 0xd9);
		goto lenpfx;
	case 0xc7: case 0xc8: case 0xc9:
		v->t = MP_EXT;
		lb = 1 << (c - 0xc7);
		extra = 1;
		goto lenpfx;
	case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8:
		v->t = MP_EXT;
		len = (size_t)1 << (c - 0xd4);
		extra = 1;
		goto payload;
	case 0xca:
		if (end - p < 4)
			return MP_TRUNC;
		{
			uint32_t u = (uint32_t)load_be(p, 4);
			float f;

			memcpy(&f, &u, 4);
			v->t = MP_FLOAT;
			v->v.f = f;
		}
		p += 4;
		goto done;
	case 0xcb:
		if (end - p < 8)
			return MP_TRUNC;
		{
			uint64_t u = load_be(p, 8);

			memcpy(&v->v.f, &u, 8);
			v->t = MP_FLOAT;
		}
		p += 8;
		goto done;
	case 0xcc: case 0xcd: case 0xce: case 0xcf: {
		int n = 1 << (c - 0xcc);
		uint64_t u;

		if (end - p < n)
			return MP_TRUNC;
		u = load_be(p, n);
		p += n;
		if (u > INT64_MAX) {
			v->t = MP_UINT;
			v->v.u = u;
		} else {
			v->t = MP_INT;
			v->v.i = (int64_t)u;
		}
		goto done;
	}
	case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
		int n = 1 << (c - 0xd0);
		uint64_t u;

		if (end - p < n)
			return MP_TRUNC;
		u = load_be(p, n);
		p += n;
		if (n < 8 && (u >> (n * 8 - 1)))   /* sign-extend */
			u |= ~(uint64_t)0 << (n * 8);
		v->t = MP_INT;
		v->v.i = (int64_t)u;
		goto done;
	}
	case 0xdc: case 0xdd: case 0xde: case 0xdf: {
		int n = c & 1 ? 4 : 2;

		if (end - p < n)
			return MP_TRUNC;
		v->t = c <= 0xdd ? MP_ARRAY : MP_MAP;
		v->v.n = (uint32_t)load_be(p, n);
		p += n;
		goto done;
	}
	default:               /* 0xc1 */
		return MP_BAD;
	}
lenpfx:
	if (end - p < lb)
		return MP_TRUNC;
	len = (size_t)load_be(p, lb);
	p += lb;
payload:
	if ((size_t)(end - p) < extra || (size_t)(end - p) - extra < len)
		return MP_TRUNC;
	v->s = (const char *)p + extra;
	v->len = len;
	p += extra + len;
done:
	*pp = p;
	return 0;
}

/* Skip one whole value (iteratively: no recursion on hostile nesting). */
static int mp_skip(const unsigned char **pp, const unsigned char *end)
{
	uint64_t left = 1;
	struct mp_val v;
	int rc;

	while (left) {
		if ((rc = mp_next(pp, end, &v)))
			return rc;
		left--;
		if (v.t == MP_ARRAY)
			left += v.v.n;
		else if (v.t == MP_MAP)
			left += 2 * (uint64_t)v.v.n;
	}
	return 0;
}

static int key_is(const struct mp_val *k, const char *s)
{
	size_t n = strlen(s);

	return k->t == MP_STR && k->len == n && !memcmp(k->s, s, n);
}

/* ------------------------------------------------------ response objects */

/* One series of a result: rows are read from values..vend by the callback. */
struct series {
	struct lp_str name;
	const struct lp_tag *tags;    /* tags with an empty value left out */
	size_t ntags;
	const struct lp_str *cols;
	size_t ncols;
	const unsigned char *values, *vend;   /* the rows, after the array header */
	uint32_t nrows;
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

static int bad_answer(const struct stream *st, const char *what, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_EIO, "invalid answer from InfluxDB at %s: %s",
			       st->where, what);
}

static int server_error(const struct stream *st, const struct mp_val *msg,
			struct ferry_error *err)
{
	if (msg->t != MP_STR)
		return bad_answer(st, "'error' is not a string", err);
	return ferry_error_set(err, FERRY_ESQL, "InfluxDB at %s: %.*s", st->where,
			       (int)(msg->len > 600 ? 600 : msg->len), msg->s);
}

static int parse_series(struct stream *st, const unsigned char **pp,
			const unsigned char *end, struct ferry_error *err)
{
	struct series s;
	struct mp_val v, k;
	const unsigned char *tags_at = NULL, *cols_at = NULL, *vals_at = NULL;
	const unsigned char *p;
	uint32_t i, n;

	memset(&s, 0, sizeof(s));
	s.name.p = "";
	if (mp_next(pp, end, &v) || v.t != MP_MAP)
		return bad_answer(st, "a series is not a map", err);
	for (n = v.v.n, i = 0; i < n; i++) {
		if (mp_next(pp, end, &k) || k.t != MP_STR)
			return bad_answer(st, "a series key is not a string", err);
		if (key_is(&k, "name")) {
			if (mp_next(pp, end, &v) || v.t != MP_STR)
				return bad_answer(st, "a series name is not a string", err);
			s.name.p = v.s;
			s.name.n = v.len;
			continue;
		}
		if (key_is(&k, "tags"))
			tags_at = *pp;
		else if (key_is(&k, "columns"))
			cols_at = *pp;
		else if (key_is(&k, "values"))
			vals_at = *pp;
		if (mp_skip(pp, end))
			return bad_answer(st, "a series is truncated", err);
	}
	if ((p = tags_at)) {
		if (mp_next(&p, end, &v) || v.t != MP_MAP)
			return bad_answer(st, "series tags are not a map", err);
		if (FERRY_GROW(st->tags, st->tagcap, v.v.n))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		for (n = v.v.n, i = 0; i < n; i++) {
			struct mp_val tv;

			if (mp_next(&p, end, &k) || k.t != MP_STR || mp_next(&p, end, &tv) ||
			    (tv.t != MP_STR && tv.t != MP_NIL))
				return bad_answer(st, "a series tag is not a string", err);
			if (tv.t == MP_NIL || tv.len == 0)
				continue;     /* GROUP BY * gives "" for an absent tag */
			st->tags[s.ntags].key.p = k.s;
			st->tags[s.ntags].key.n = k.len;
			st->tags[s.ntags].val.p = tv.s;
			st->tags[s.ntags].val.n = tv.len;
			s.ntags++;
		}
	}
	if ((p = cols_at)) {
		if (mp_next(&p, end, &v) || v.t != MP_ARRAY)
			return bad_answer(st, "series columns are not an array", err);
		if (FERRY_GROW(st->cols, st->colcap, v.v.n))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		for (n = v.v.n, i = 0; i < n; i++) {
			if (mp_next(&p, end, &k) || k.t != MP_STR)
				return bad_answer(st, "a column name is not a string", err);
			st->cols[i].p = k.s;
			st->cols[i].n = k.len;
		}
		s.ncols = n;
	}
	if ((p = vals_at)) {
		if (mp_next(&p, end, &v) || v.t != MP_ARRAY)
			return bad_answer(st, "series values are not an array", err);
		s.values = p;
		s.nrows = v.v.n;
		if (mp_skip(&vals_at, end))
			return bad_answer(st, "series values are truncated", err);
		s.vend = vals_at;
	}
	s.tags = st->tags;
	s.cols = st->cols;
	return st->fn(st->ud, &s, err);
}

static int parse_result(struct stream *st, const unsigned char **pp,
			const unsigned char *end, struct ferry_error *err)
{
	struct mp_val v, k;
	uint32_t i, j, n, m;
	int rc;

	if (mp_next(pp, end, &v) || v.t != MP_MAP)
		return bad_answer(st, "a result is not a map", err);
	st->partial = 0;
	for (n = v.v.n, i = 0; i < n; i++) {
		if (mp_next(pp, end, &k) || k.t != MP_STR)
			return bad_answer(st, "a result key is not a string", err);
		if (key_is(&k, "series")) {
			if (mp_next(pp, end, &v) || v.t != MP_ARRAY)
				return bad_answer(st, "'series' is not an array", err);
			for (m = v.v.n, j = 0; j < m; j++)
				if ((rc = parse_series(st, pp, end, err)) < 0)
					return rc;
		} else if (key_is(&k, "error")) {
			if (mp_next(pp, end, &v))
				return bad_answer(st, "a result is truncated", err);
			return server_error(st, &v, err);
		} else if (key_is(&k, "partial")) {
			if (mp_next(pp, end, &v) || v.t != MP_BOOL)
				return bad_answer(st, "'partial' is not a boolean", err);
			st->partial = v.v.b;
		} else if (mp_skip(pp, end)) {
			return bad_answer(st, "a result is truncated", err);
		}
	}
	return 0;
}

/* One complete top-level object: {"results": [...]} or {"error": ".."}. */
static int parse_object(struct stream *st, const unsigned char *p, const unsigned char *end,
			struct ferry_error *err)
{
	struct mp_val v, k;
	uint32_t i, j, n, m;
	int rc;

	if (mp_next(&p, end, &v) || v.t != MP_MAP)
		return bad_answer(st, "the answer is not a map", err);
	st->objects++;
	for (n = v.v.n, i = 0; i < n; i++) {
		if (mp_next(&p, end, &k) || k.t != MP_STR)
			return bad_answer(st, "a key is not a string", err);
		if (key_is(&k, "results")) {
			if (mp_next(&p, end, &v) || v.t != MP_ARRAY)
				return bad_answer(st, "'results' is not an array", err);
			for (m = v.v.n, j = 0; j < m; j++)
				if ((rc = parse_result(st, &p, end, err)) < 0)
					return rc;
		} else if (key_is(&k, "error")) {
			if (mp_next(&p, end, &v))
				return bad_answer(st, "the answer is truncated", err);
			return server_error(st, &v, err);
		} else if (mp_skip(&p, end)) {
			return bad_answer(st, "the answer is truncated", err);
		}
	}
	return 0;
}

/* Parse every complete object in st->in; keep the unfinished rest.  final:
 * the transfer is over, so a rest is an error. */
static int drain(struct stream *st, int final, struct ferry_error *err)
{
	const unsigned char *buf = (const unsigned char *)st->in.buf;
	const unsigned char *end = buf + st->in.len, *p = buf, *q;
	int rc = 0;

	while (p < end) {
		q = p;
		rc = mp_skip(&q, end);
		if (rc == MP_TRUNC) {
			rc = 0;
			if (final) {
				rc = ferry_error_set(err, FERRY_EIO,
					"answer from InfluxDB at %s ends in the middle of a message",
					st->where);
				goto out;
			}
			if ((size_t)(end - p) > st->max_object) {
				rc = ferry_error_set(err, FERRY_ETOOBIG,
					"answer from InfluxDB at %s has a message over %zu MiB",
					st->where, st->max_object >> 20);
				goto out;
			}
			break;
		}
		if (rc == MP_BAD) {
			rc = bad_answer(st, "not MessagePack", err);
			goto out;
		}
		if ((rc = parse_object(st, p, q, err)) < 0)
			goto out;
		p = q;
	}
out:
	if (rc == 0) {
		size_t rest = (size_t)(end - p);

		memmove(st->in.buf, p, rest);
		ferry_buf_setlen(&st->in, rest);
		st->tried = rest;
	}
	return rc;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud)
{
	struct stream *st = ud;
	size_t n = size * nmemb;

	if (!st->checked) {
		const char *ct = NULL;

		st->checked = 1;
		curl_easy_getinfo(st->h, CURLINFO_RESPONSE_CODE, &st->status);
		curl_easy_getinfo(st->h, CURLINFO_CONTENT_TYPE, &ct);
		if (st->status == 200 &&
		    (!ct || strncmp(ct, "application/x-msgpack", 21))) {
			st->rc = ferry_error_set(st->err, FERRY_EUNSUPPORTED,
				"InfluxDB at %s answered in '%s', not MessagePack: "
				"ferry needs InfluxDB 1.4 or later", st->where, ct ? ct : "?");
			return 0;
		}
	}
	if (st->status != 200) {
		size_t room = IFX_ERRBODY_MAX - st->body.len;

		if (ferry_buf_add(&st->body, data, n < room ? n : room) < 0) {
			st->rc = ferry_error_set(st->err, FERRY_ENOMEM, "out of memory");
			return 0;
		}
		return n;
	}
	if ((st->rc = ferry_buf_add(&st->in, data, n)) < 0) {
		ferry_error_set(st->err, st->rc, "out of memory reading from InfluxDB at %s",
				st->where);
		return 0;
	}
	if (!st->fn) {   /* kept whole for ifx_parse() */
		if (st->in.len > st->max_object) {
			st->rc = ferry_error_set(st->err, FERRY_ETOOBIG,
				"answer from InfluxDB at %s has a message over %zu MiB",
				st->where, st->max_object >> 20);
			return 0;
		}
		return n;
	}
	/* Re-scan an unfinished object only once it has doubled: linear work. */
	if (st->in.len >= 2 * st->tried && (st->rc = drain(st, 0, st->err)) < 0)
		return 0;
	return n;
}

/* The message of an error answer: {"error": ".."} in JSON or MessagePack,
 * else the text itself (control bytes shown as '?'). */
static void error_text(const struct ferry_buf *b, struct ferry_buf *out)
{
	json_t *j = json_loadb(b->buf, b->len, 0, NULL);
	const unsigned char *p = (const unsigned char *)b->buf, *end = p + b->len;
	struct mp_val v, k;
	uint32_t i;
	size_t n;

	if (j) {
		json_t *e = json_object_get(j, "error");

		if (json_is_string(e)) {
			ferry_buf_addstr(out, json_string_value(e));
			json_decref(j);
			return;
		}
		json_decref(j);
	}
	if (!mp_next(&p, end, &v) && v.t == MP_MAP) {
		for (i = 0; i < v.v.n; i++) {
			if (mp_next(&p, end, &k))
				break;
			if (key_is(&k, "error") && !mp_next(&p, end, &v) && v.t == MP_STR) {
				ferry_buf_add(out, v.s, v.len);
				return;
			}
			if (mp_skip(&p, end))
				break;
		}
	}
	for (n = 0; n < b->len && n < 300; n++) {
		unsigned char c = (unsigned char)b->buf[n];

		ferry_buf_addch(out, c < 0x20 || c == 0x7f ? '?' : c);
	}
	ferry_buf_rtrim(out);
	if (!out->len)
		ferry_buf_addstr(out, "empty answer");
}

/* --------------------------------------------------------------- the source */

struct ifx_meas {
	int64_t first, last;      /* times of the first and last point; valid if have */
	int have;
	int conflict;             /* a field has more than one type */
};

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
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* InfluxQL identifier: double quotes, with '"' and '\' escaped. */
static int add_ident(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = ferry_buf_addch(b, '"');

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] == '"' || s[i] == '\\')
			rc = ferry_buf_addch(b, '\\');
		if (rc == 0)
			rc = ferry_buf_addch(b, s[i]);
	}
	if (rc == 0)
		rc = ferry_buf_addch(b, '"');
	return rc;
}

/* "db"."rp" */
static int add_dbrp(struct ferry_buf *b, const struct ifx *ix)
{
	int rc = add_ident(b, ix->db, strlen(ix->db));

	if (rc == 0)
		rc = ferry_buf_addch(b, '.');
	if (rc == 0)
		rc = add_ident(b, ix->rp, strlen(ix->rp));
	return rc;
}

/*
 * Run one InfluxQL statement q.  whole == 0: stream the answer and hand
 * every series of it to fn.  whole > 0 (fn NULL): take the answer, asked
 * for in one message (IFX_WHOLE_ROWS), of at most whole bytes and hand
 * its bytes over in *raw for
 * answer_cut() and ifx_parse(); FERRY_ETOOBIG, without ctx, when it is
 * larger.  ctx (may be NULL) is put in front of error messages ("cannot
 * read 'm' [..)").
 */
static int ifx_query(const struct ifx *ix, const char *q, size_t whole, series_fn fn,
		     void *ud, const char *ctx, struct ferry_buf *raw, struct ferry_error *err)
{
	struct stream st;
	struct ferry_buf body = FERRY_BUF_INIT, url = FERRY_BUF_INIT, msg = FERRY_BUF_INIT;
	struct curl_slist *hdr = NULL;
	char cerr[CURL_ERROR_SIZE] = "";
	char *eq = NULL, *edb = NULL;
	CURL *h = NULL;
	CURLcode cc;
	int rc;

	pthread_once(&curl_once, curl_setup);
	memset(&st, 0, sizeof(st));
	st.where = ix->where;
	st.fn = fn;
	st.ud = ud;
	st.err = err;
	st.max_object = whole ? whole : IFX_OBJECT_MAX;
	ferry_buf_init(&st.in, 0);
	ferry_buf_init(&st.body, 0);
	if (!(h = curl_easy_init())) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "cannot start a curl handle");
		goto out;
	}
	if (!(eq = curl_easy_escape(h, q, 0)) || !(edb = curl_easy_escape(h, ix->db, 0))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = ferry_buf_addf(&body, "db=%s&epoch=ns&q=%s", edb, eq)) < 0 ||
	    (rc = ferry_buf_addf(&body, "&chunked=true&chunk_size=%d",
				 whole ? IFX_WHOLE_ROWS : IFX_ROWS_PER_CHUNK)) < 0 ||
	    (rc = ferry_buf_addf(&url, "%s/query", ix->base)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if (!(hdr = curl_slist_append(NULL, "Accept: application/x-msgpack"))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url.buf);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.buf);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &st);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 15L);
	/* A server that sends nothing for 5 minutes is taken for dead. */
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 300L);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (ix->gzip)
		curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	if (ix->user) {
		curl_easy_setopt(h, CURLOPT_USERNAME, ix->user);
		curl_easy_setopt(h, CURLOPT_PASSWORD, ix->pass ? ix->pass : "");
	}
	st.h = h;
	cc = curl_easy_perform(h);
	if (st.rc < 0) {
		rc = st.rc;
		if (whole && rc == FERRY_ETOOBIG)
			goto out;
		goto fail;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st.status);
	if (cc != CURLE_OK) {
		rc = ferry_error_set(err, FERRY_ECONN, st.status ?
			"connection to InfluxDB at %s broke: %s" :
			"cannot reach InfluxDB at %s: %s",
			ix->where, cerr[0] ? cerr : curl_easy_strerror(cc));
		ferry_error_origin(err, "curl %d", (int)cc);
		goto fail;
	}
	if (st.status != 200) {
		error_text(&st.body, &msg);
		if (st.status == 401 || st.status == 403)
			rc = ferry_error_set(err, FERRY_ECONN,
				"InfluxDB at %s refused the credentials (HTTP %ld: %s): give a user "
				"and password as influx://USER:PASSWORD@%s/%s or ?u=USER&p=PASSWORD",
				ix->where, st.status, msg.buf, ix->where, ix->db);
		else
			rc = ferry_error_set(err, FERRY_ESQL, "InfluxDB at %s answered HTTP %ld: %s",
					     ix->where, st.status, msg.buf);
		ferry_error_origin(err, "http %ld", st.status);
		goto fail;
	}
	if (!fn) {
		ferry_buf_release(raw);
		*raw = st.in;
		ferry_buf_init(&st.in, 0);
		rc = 0;
		goto out;
	}
	if ((rc = drain(&st, 1, err)) < 0)
		goto fail;
	if (st.partial || st.objects == 0) {
		rc = ferry_error_set(err, FERRY_EIO,
			"answer from InfluxDB at %s ended before its last part", ix->where);
		goto fail;
	}
	rc = 0;
	goto out;
fail:
	if (ctx)
		ferry_error_prefix(err, "%s", ctx);
out:
	if (eq)
		curl_free(eq);
	if (edb)
		curl_free(edb);
	curl_slist_free_all(hdr);
	if (h)
		curl_easy_cleanup(h);
	ferry_buf_release(&st.in);
	ferry_buf_release(&st.body);
	ferry_free(st.tags);
	ferry_free(st.cols);
	ferry_buf_release(&body);
	ferry_buf_release(&url);
	ferry_buf_release(&msg);
	return rc;
}

/* ------------------------------------------------------------ small queries */

/* Decode the next row of s at *pp into cells[0..s->ncols); a nested array
 * or map cell is left as its header with its content skipped. */
static int next_row(const struct ifx *ix, const struct series *s, const unsigned char **pp,
		    struct mp_val *cells, struct ferry_error *err)
{
	struct mp_val v;
	uint32_t j;

	if (mp_next(pp, s->vend, &v) || v.t != MP_ARRAY || v.v.n != s->ncols)
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: a row of '%.*s' does not match its columns",
			ix->where, (int)s->name.n, s->name.p);
	for (j = 0; j < v.v.n; j++) {
		const unsigned char *at = *pp;

		if (mp_next(pp, s->vend, &cells[j]))
			goto bad;
		if (cells[j].t == MP_ARRAY || cells[j].t == MP_MAP) {
			*pp = at;
			if (mp_skip(pp, s->vend))
				goto bad;
		}
	}
	return 0;
bad:
	return ferry_error_set(err, FERRY_EIO, "invalid answer from InfluxDB at %s: a row of '%.*s' is truncated",
			       ix->where, (int)s->name.n, s->name.p);
}

static int col_index(const struct series *s, const char *name)
{
	size_t j, n = strlen(name);

	for (j = 0; j < s->ncols; j++)
		if (s->cols[j].n == n && !memcmp(s->cols[j].p, name, n))
			return (int)j;
	return -1;
}

/* Rows of a small answer, cell by cell: the callback gets each row. */
struct rows_ctx {
	const struct ifx *ix;
	int (*row)(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err);
	void *ud;
	struct mp_val *cells;
	size_t cap;
};

static int rows_series(void *ud, const struct series *s, struct ferry_error *err)
{
	struct rows_ctx *c = ud;
	const unsigned char *p = s->values;
	uint32_t r;
	int rc;

	if (FERRY_GROW(c->cells, c->cap, s->ncols + 1))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (r = 0; r < s->nrows; r++) {
		if ((rc = next_row(c->ix, s, &p, c->cells, err)) < 0)
			return rc;
		if ((rc = c->row(c, s, c->cells, err)) < 0)
			return rc;
	}
	return 0;
}

static int query_rows(const struct ifx *ix, const char *q,
		      int (*row)(struct rows_ctx *, const struct series *, const struct mp_val *,
				 struct ferry_error *),
		      void *ud, const char *ctx, struct ferry_error *err)
{
	struct rows_ctx c = { ix, row, ud, NULL, 0 };
	int rc = ifx_query(ix, q, 0, rows_series, &c, ctx, NULL, err);

	ferry_free(c.cells);
	return rc;
}

static const struct mp_val *cell(const struct series *s, const struct mp_val *cells,
				 const char *col)
{
	int j = col_index(s, col);

	return j < 0 ? NULL : &cells[j];
}

/* "2024-01-01T00:00:00[.frac]Z" to ns; 0 or -1. */
static int parse_rfc3339(const char *s, size_t n, int64_t *ns)
{
	char tmp[64];
	struct tm tm;
	const char *p;
	int64_t frac = 0, scale = 1000000000;
	time_t t;

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	memset(&tm, 0, sizeof(tm));
	if (!(p = strptime(tmp, "%Y-%m-%dT%H:%M:%S", &tm)))
		return -1;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (scale > 1) {
				scale /= 10;
				frac += (*p - '0') * scale;
			}
	if (strcmp(p, "Z"))
		return -1;
	t = timegm(&tm);
	if (t < -9223372036LL || t > 9223372035LL)
		return -1;
	*ns = (int64_t)t * 1000000000 + frac;
	return 0;
}

/* ns as "2024-01-01T00:00:00.000000001Z" (fraction only when non-zero). */
static void fmt_time(int64_t ns, char *out, size_t cap)
{
	int64_t sec = ns / 1000000000, frac = ns % 1000000000;
	time_t t;
	struct tm tm;
	size_t n;

	if (frac < 0) {
		frac += 1000000000;
		sec--;
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm)) {
		snprintf(out, cap, "%" PRId64, ns);
		return;
	}
	n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		snprintf(out + n, cap - n, ".%09" PRId64 "Z", frac);
	else
		snprintf(out + n, cap - n, "Z");
}

/* ---------------------------------------------------------------- open */

struct names {
	struct ferry_buf list;   /* "a, b, c" for messages */
	const char *want;
	int found;
	char *dflt;              /* retention policies: the default one */
};

static void names_add(struct names *nm, const struct mp_val *v)
{
	if (nm->list.len)
		ferry_buf_addstr(&nm->list, ", ");
	ferry_buf_add(&nm->list, v->s, v->len);
	if (nm->want && strlen(nm->want) == v->len && !memcmp(nm->want, v->s, v->len))
		nm->found = 1;
}

static int db_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		  struct ferry_error *err)
{
	const struct mp_val *v = cell(s, cells, "name");

	(void)err;
	if (v && v->t == MP_STR)
		names_add(c->ud, v);
	return 0;
}

static int rp_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		  struct ferry_error *err)
{
	struct names *nm = c->ud;
	const struct mp_val *v = cell(s, cells, "name"), *d = cell(s, cells, "default");

	if (!v || v->t != MP_STR)
		return 0;
	names_add(nm, v);
	if (d && d->t == MP_BOOL && d->v.b && !nm->dflt &&
	    !(nm->dflt = ferry_strndup(v->s, v->len)))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static void ifx_close(void *s)
{
	struct ifx *ix = s;

	if (!ix)
		return;
	ferry_free(ix->base);
	ferry_free(ix->where);
	ferry_free(ix->db);
	ferry_free(ix->rp);
	ferry_free(ix->user);
	ferry_free(ix->pass);
	tm_schema_release(&ix->sch);
	ferry_free(ix->meas);
	ferry_free(ix->bounds);
	ferry_free(ix->order_tag);
	ferry_free(ix);
}

static int is_loopback(const char *host)
{
	return !strcasecmp(host, "localhost") || !strncmp(host, "127.", 4) ||
	       !strcmp(host, "::1");
}

static int truthy(const char *v)
{
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		     !strcasecmp(v, "on"));
}

static int ifx_open(const ferry_url *url, const struct tm_source_opts *o, void **out,
		    struct ferry_error *err)
{
	struct ifx *ix = NULL;
	struct names nm;
	struct ferry_buf q = FERRY_BUF_INIT;
	const char *db, *rp, *u, *p, *ssl, *gz;
	int port, rc;

	memset(&nm, 0, sizeof(nm));
	ferry_buf_init(&nm.list, 0);
	db = url->path ? url->path : "";
	while (*db == '/')
		db++;
	if (!url->host || !*url->host || !*db) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"influx URL needs a host and a database: "
			"influx://[user[:password]@]host[:port]/DATABASE[?rp=POLICY&ssl=1]");
		goto out;
	}
	if (strchr(db, '/')) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"influx URL path '%s' is not a database name: "
			"influx://host[:port]/DATABASE[?rp=POLICY] (give the retention policy as ?rp=)",
			db);
		goto out;
	}
	rp = ferry_url_param(url, "rp");
	u = ferry_url_param(url, "u");
	p = ferry_url_param(url, "p");
	ssl = ferry_url_param(url, "ssl");
	gz = ferry_url_param(url, "gzip");
	port = url->port ? url->port : IFX_DEFAULT_PORT;
	if (!(ix = ferry_calloc(1, sizeof(*ix)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if (o)
		ix->o = *o;
	if (ix->o.order_tag && !(ix->order_tag = ferry_strdup(ix->o.order_tag))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	ix->o.order_tag = ix->order_tag;
	/* gzip costs InfluxDB about as much CPU as the query itself (a 6 MB
	 * answer: 0.15-0.23 s plain, 0.31-0.45 s gzip'd); worth it over a
	 * network, not over loopback */
	ix->gzip = gz ? truthy(gz) : !is_loopback(url->host);
	ix->whole_max = IFX_WHOLE_MAX;
	{
		const char *v = getenv("FERRY_INFLUX_ANSWER_MAX");
		char *end;
		unsigned long long n = v ? strtoull(v, &end, 10) : 0;

		if (v && *v && !*end && n > 0 && n <= IFX_OBJECT_MAX)
			ix->whole_max = (size_t)n;
		else if (v)
			ferry_warn("ignoring FERRY_INFLUX_ANSWER_MAX='%s': give a number of "
				   "bytes from 1 to %u", v, IFX_OBJECT_MAX);
	}
	{
		struct ferry_buf b = FERRY_BUF_INIT, w = FERRY_BUF_INIT;
		int ipv6 = strchr(url->host, ':') != NULL;

		rc = ferry_buf_addf(&w, ipv6 ? "[%s]:%d" : "%s:%d", url->host, port);
		if (rc == 0)
			rc = ferry_buf_addf(&b, "%s://%s", truthy(ssl) ? "https" : "http", w.buf);
		if (rc < 0) {
			ferry_buf_release(&b);
			ferry_buf_release(&w);
			rc = ferry_error_set(err, rc, "out of memory");
			goto out;
		}
		ix->base = ferry_buf_detach(&b, NULL);
		ix->where = ferry_buf_detach(&w, NULL);
	}
	ix->db = ferry_strdup(db);
	if (u || url->user)
		ix->user = ferry_strdup(u ? u : url->user);
	if (p || url->password)
		ix->pass = ferry_strdup(p ? p : url->password);
	if (!ix->base || !ix->where || !ix->db || ((u || url->user) && !ix->user) ||
	    ((p || url->password) && !ix->pass)) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	/* Reachable, credentials accepted, the database exists. */
	nm.want = ix->db;
	if ((rc = query_rows(ix, "SHOW DATABASES", db_row, &nm, NULL, err)) < 0)
		goto out;
	if (!nm.found) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"database '%s' not found on %s (it has: %s)", ix->db, ix->where,
			nm.list.len ? nm.list.buf : "no databases");
		goto out;
	}
	ferry_buf_clear(&nm.list);
	nm.found = 0;
	nm.want = rp;
	if ((rc = ferry_buf_addstr(&q, "SHOW RETENTION POLICIES ON ")) < 0 ||
	    (rc = add_ident(&q, ix->db, strlen(ix->db))) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = query_rows(ix, q.buf, rp_row, &nm, NULL, err)) < 0)
		goto out;
	if (rp && !nm.found) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"retention policy '%s' not found in database '%s' on %s (it has: %s)",
			rp, ix->db, ix->where, nm.list.len ? nm.list.buf : "none");
		goto out;
	}
	if (!rp && !nm.dflt) {
		rc = ferry_error_set(err, FERRY_ENOTFOUND,
			"database '%s' on %s has no default retention policy: name one with ?rp= (it has: %s)",
			ix->db, ix->where, nm.list.len ? nm.list.buf : "none");
		goto out;
	}
	ix->rp_default = nm.dflt && (!rp || !strcmp(rp, nm.dflt));
	if (!(ix->rp = ferry_strdup(rp ? rp : nm.dflt))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	*out = ix;
	ix = NULL;
	rc = 0;
out:
	ifx_close(ix);
	ferry_free(nm.dflt);
	ferry_buf_release(&nm.list);
	ferry_buf_release(&q);
	return rc;
}

/* ------------------------------------------------------------- discover */

static unsigned type_bit(const struct mp_val *v)
{
	static const struct { const char *n; enum lp_ftype t; } map[] = {
		{ "float", LP_FLOAT }, { "integer", LP_INT }, { "unsigned", LP_UINT },
		{ "string", LP_STRING }, { "boolean", LP_BOOL },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (key_is(v, map[i].n))
			return TM_TYPE_BIT(map[i].t);
	return 0;
}

static int field_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	const struct ifx *ix = c->ix;
	struct tm_schema *sch = c->ud;
	const struct mp_val *k = cell(s, cells, "fieldKey"), *t = cell(s, cells, "fieldType");
	struct tm_measurement *m;
	unsigned bit;

	if (!k || !t || k->t != MP_STR || t->t != MP_STR)
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: SHOW FIELD KEYS without fieldKey/fieldType",
			ix->where);
	if (!(bit = type_bit(t)))
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"field '%.*s' of measurement '%.*s' has type '%.*s', which ferry does not know",
			(int)k->len, k->s, (int)s->name.n, s->name.p, (int)t->len, t->s);
	if (!(m = tm_schema_measurement(sch, s->name.p, s->name.n)) ||
	    tm_measurement_add_field(m, k->s, k->len, bit) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int tag_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err)
{
	struct tm_schema *sch = c->ud;
	const struct mp_val *k = cell(s, cells, "tagKey");
	int i = tm_schema_find(sch, s->name.p, s->name.n);

	/* Tag keys come from the database-wide index: keep those of
	 * measurements that have fields in this retention policy. */
	if (i < 0 || !k || k->t != MP_STR)
		return 0;
	if (tm_measurement_add_tag(&sch->m[i], k->s, k->len) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

static int count_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	struct tm_schema *sch = c->ud;
	int i = tm_schema_find(sch, s->name.p, s->name.n);
	size_t j;

	(void)err;
	if (i < 0)
		return 0;
	/* Points with a value in any field: at least the largest count_<f>.
	 * Field values: the sum. */
	for (j = 1; j < s->ncols; j++)
		if (cells[j].t == MP_INT && cells[j].v.i > 0) {
			if (cells[j].v.i > sch->m[i].points)
				sch->m[i].points = cells[j].v.i;
			if (cells[j].v.i <= INT64_MAX - sch->m[i].values)
				sch->m[i].values += cells[j].v.i;
		}
	return 0;
}

struct time_ctx {
	int64_t t;
	int have;
};

static int time_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		    struct ferry_error *err)
{
	struct time_ctx *tc = c->ud;

	(void)err;
	if (s->ncols && cells[0].t == MP_INT) {
		tc->t = cells[0].v.i;
		tc->have = 1;
	}
	return 0;
}

/*
 * The time of the first (desc = 0) or last point of measurement m.  One
 * column per field and kind of type: "f"::float also gives integers (cast)
 * but "f"::string only strings and "f"::boolean only booleans, and a plain
 * SELECT * would drop the values of a field's less favoured types.
 */
static int edge_time(const struct ifx *ix, const struct tm_measurement *m, int desc,
		     struct time_ctx *tc, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	const unsigned num = TM_TYPE_BIT(LP_FLOAT) | TM_TYPE_BIT(LP_INT) | TM_TYPE_BIT(LP_UINT);
	size_t k;
	int rc = ferry_buf_addstr(&q, "SELECT ");

	for (k = 0; k < m->nfields && rc == 0; k++) {
		const struct tm_field_info *f = &m->fields[k];
		unsigned nt = f->types & num;
		const char *casts[3];
		size_t t, nc = 0;

		if (nt)
			casts[nc++] = nt == TM_TYPE_BIT(LP_INT) ? "integer" :
				nt == TM_TYPE_BIT(LP_UINT) ? "unsigned" : "float";
		if (f->types & TM_TYPE_BIT(LP_STRING))
			casts[nc++] = "string";
		if (f->types & TM_TYPE_BIT(LP_BOOL))
			casts[nc++] = "boolean";
		for (t = 0; t < nc && rc == 0; t++) {
			if (q.len > 7)
				rc = ferry_buf_addstr(&q, ", ");
			if (rc == 0)
				rc = add_ident(&q, f->name, strlen(f->name));
			if (rc == 0)
				rc = ferry_buf_addf(&q, "::%s", casts[t]);
		}
	}
	if (rc == 0)
		rc = ferry_buf_addstr(&q, " FROM ");
	if (rc == 0)
		rc = add_dbrp(&q, ix);
	if (rc == 0)
		rc = ferry_buf_addch(&q, '.');
	if (rc == 0)
		rc = add_ident(&q, m->name, strlen(m->name));
	if (rc == 0)
		rc = ferry_buf_addstr(&q, desc ? " ORDER BY time DESC LIMIT 1" : " LIMIT 1");
	if (rc < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	tc->have = 0;
	rc = query_rows(ix, q.buf, time_row, tc, NULL, err);
	if (rc < 0)
		ferry_error_prefix(err, "cannot find the %s point of measurement '%s'",
				   desc ? "last" : "first", m->name);
out:
	ferry_buf_release(&q);
	return rc;
}

#define IFX_STAT_THREADS 4   /* first/last queries at once (discovery) */

/* The count query or the first/last queries of a share of the
 * measurements, on one thread of stats(). */
struct stat_job {
	const struct ifx *ix;
	struct tm_schema *sch;
	struct ifx_meas *meas;
	const char *count_q;      /* this thread counts; else it takes edges */
	_Atomic size_t *next;     /* the next measurement to take */
	_Atomic int *stop;
	int rc;
	struct ferry_error err;
};

static void *stat_main(void *arg)
{
	struct stat_job *j = arg;
	size_t i;

	if (j->count_q) {
		j->rc = query_rows(j->ix, j->count_q, count_row, j->sch, "cannot count points",
				   &j->err);
	} else {
		while (!atomic_load(j->stop) && (i = atomic_fetch_add(j->next, 1)) < j->sch->n) {
			struct time_ctx a, b;

			if ((j->rc = edge_time(j->ix, &j->sch->m[i], 0, &a, &j->err)) < 0 ||
			    (j->rc = edge_time(j->ix, &j->sch->m[i], 1, &b, &j->err)) < 0)
				break;
			j->meas[i].have = a.have && b.have;
			j->meas[i].first = a.t;
			j->meas[i].last = b.t;
		}
	}
	if (j->rc < 0)
		atomic_store(j->stop, 1);
	return NULL;
}

/*
 * Counts (into sch->m[].points and .values) and first/last times (into
 * meas[]).  The count is one query over every measurement; the times are
 * two per measurement.  They run side by side, the times on
 * IFX_STAT_THREADS threads: a database of 600 measurements spent 4.2 s
 * here one query after another.  count_row writes a measurement's counts,
 * the time queries read its name and fields: different members.
 */
static int stats(const struct ifx *ix, struct tm_schema *sch, struct ifx_meas *meas,
		 struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT;
	struct stat_job job[IFX_STAT_THREADS + 1];
	pthread_t th[IFX_STAT_THREADS + 1];
	_Atomic size_t next = 0;
	_Atomic int stop = 0;
	size_t i, n, started = 0;
	int rc;

	if ((rc = ferry_buf_addstr(&q, "SELECT count(*) FROM ")) < 0 ||
	    (rc = add_dbrp(&q, ix)) < 0 || (rc = ferry_buf_addstr(&q, "./.*/")) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	for (i = 0; i < sch->n; i++)
		sch->m[i].points = sch->m[i].values = 0;
	n = 1 + (sch->n < IFX_STAT_THREADS ? sch->n : IFX_STAT_THREADS);
	for (i = 0; i < n; i++) {
		memset(&job[i], 0, sizeof(job[i]));
		job[i].ix = ix;
		job[i].sch = sch;
		job[i].meas = meas;
		job[i].count_q = i == 0 ? q.buf : NULL;
		job[i].next = &next;
		job[i].stop = &stop;
	}
	for (started = 1; started < n; started++)
		if (pthread_create(&th[started], NULL, stat_main, &job[started]) != 0)
			break;
	stat_main(&job[0]);   /* the count, on this thread */
	for (i = started; i < n; i++)   /* jobs whose thread did not start */
		stat_main(&job[i]);
	for (i = 1; i < started; i++)
		pthread_join(th[i], NULL);
	rc = 0;
	for (i = 0; i < n && rc == 0; i++)
		if (job[i].rc < 0) {
			rc = job[i].rc;
			*err = job[i].err;
		}
out:
	ferry_buf_release(&q);
	return rc;
}

static int qsort_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

struct shard_ctx {
	struct ifx *ix;
	size_t cap;
};

static int shard_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		     struct ferry_error *err)
{
	struct shard_ctx *sc = c->ud;
	struct ifx *ix = sc->ix;
	const struct mp_val *db = cell(s, cells, "database"), *rp = cell(s, cells, "retention_policy");
	const struct mp_val *tv[2] = { cell(s, cells, "start_time"), cell(s, cells, "end_time") };
	int k;

	if (!db || !rp || !key_is(db, ix->db) || !key_is(rp, ix->rp))
		return 0;
	for (k = 0; k < 2; k++) {
		int64_t t;

		if (!tv[k])
			continue;
		if (tv[k]->t == MP_INT)
			t = tv[k]->v.i;
		else if (tv[k]->t != MP_STR || parse_rfc3339(tv[k]->s, tv[k]->len, &t) < 0)
			return ferry_error_set(err, FERRY_EIO,
				"invalid answer from InfluxDB at %s: SHOW SHARDS time is not RFC 3339",
				ix->where);
		if (FERRY_GROW(ix->bounds, sc->cap, ix->nbounds + 1))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		ix->bounds[ix->nbounds++] = t;
	}
	return 0;
}

/* A Go duration as SHOW RETENTION POLICIES prints it ("168h0m0s",
 * "1h30m0s", "0s") in ns; -1 when it is not one. */
static int64_t go_duration(const char *p, size_t n)
{
	static const struct {
		const char *u;
		int64_t ns;
	} units[] = { { "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 },
		      { "h", 3600000000000LL }, { "m", 60000000000LL }, { "s", 1000000000 } };
	const char *e = p + n;
	int64_t total = 0;

	if (p == e)
		return -1;
	while (p < e) {
		int64_t v = 0;
		size_t k, ul = 0;

		if (*p < '0' || *p > '9')
			return -1;
		for (; p < e && *p >= '0' && *p <= '9'; p++) {
			if (v > (INT64_MAX - 9) / 10)
				return -1;
			v = v * 10 + (*p - '0');
		}
		for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
			ul = strlen(units[k].u);
			if ((size_t)(e - p) >= ul && !memcmp(p, units[k].u, ul))
				break;
		}
		if (k == sizeof(units) / sizeof(units[0]) || v > (INT64_MAX - total) / units[k].ns)
			return -1;
		total += v * units[k].ns;
		p += ul;
	}
	return total;
}

struct sgd_ctx {
	const char *rp;
	int64_t ns;               /* the policy's shard group duration; 0: not seen */
};

static int sgd_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		   struct ferry_error *err)
{
	struct sgd_ctx *g = c->ud;
	const struct mp_val *v = cell(s, cells, "name"), *d = cell(s, cells, "shardGroupDuration");

	(void)err;
	if (v && key_is(v, g->rp) && d && d->t == MP_STR)
		g->ns = go_duration(d->s, d->len);
	return 0;
}

/*
 * SHOW SHARDS needs an admin user.  For anyone else, the shard groups'
 * bounds follow from the policy's shard group duration: InfluxDB starts a
 * group at a point's time truncated to a multiple of it, counted from Go's
 * zero time (0001-01-01, 62135596800 s before 1970).  Every such multiple
 * in the span of a measurement with a field of several types is a bound.
 * Exact unless the duration was changed after data was written, which the
 * warning says.
 */
static int shards_from_duration(struct ifx *ix, const struct ifx_meas *meas, size_t nm,
				struct shard_ctx *sc, struct ferry_error *err)
{
	const __int128 zero = (__int128)62135596800LL * 1000000000LL;
	struct sgd_ctx g = { ix->rp, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	size_t i;
	int rc;

	if ((rc = ferry_buf_addstr(&q, "SHOW RETENTION POLICIES ON ")) < 0 ||
	    (rc = add_ident(&q, ix->db, strlen(ix->db))) < 0) {
		ferry_buf_release(&q);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	rc = query_rows(ix, q.buf, sgd_row, &g, "cannot read the retention policies", err);
	ferry_buf_release(&q);
	if (rc < 0)
		return rc;
	if (g.ns < 3600000000000LL)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
			"cannot find the shard groups of %s.%s: SHOW SHARDS needs an admin user, "
			"and the policy's shard duration is not known; give an admin user",
			ix->db, ix->rp);
	ferry_warn("InfluxDB user is not an admin, so SHOW SHARDS is refused: measurements with "
		   "a field of several types are cut at every %lld h, the shard duration of "
		   "%s.%s; if that duration was changed after data was written, a value of a "
		   "less favoured type may be lost: give an admin user to be sure",
		   (long long)(g.ns / 3600000000000LL), ix->db, ix->rp);
	for (i = 0; i < nm; i++) {
		__int128 t, end;

		if (!meas[i].conflict || !meas[i].have)
			continue;
		/* (t + zero) a multiple of ns, from at or before first */
		t = (__int128)meas[i].first + zero;
		t = t - ((t % g.ns) + g.ns) % g.ns - zero;
		end = (__int128)meas[i].last + g.ns;
		for (; t <= end; t += g.ns) {
			if (ix->nbounds >= IFX_MAX_BOUNDS)
				return ferry_error_set(err, FERRY_EINVAL,
					"more than %d shard groups in %s.%s", IFX_MAX_BOUNDS,
					ix->db, ix->rp);
			if (FERRY_GROW(ix->bounds, sc->cap, ix->nbounds + 1))
				return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			ix->bounds[ix->nbounds++] = (int64_t)t;
		}
	}
	return 0;
}

static int load_shards(struct ifx *ix, const struct ifx_meas *meas, size_t nm,
		       struct ferry_error *err)
{
	struct shard_ctx sc = { ix, 0 };
	size_t i, n = 0;
	int rc;

	ferry_free(ix->bounds);
	ix->bounds = NULL;
	ix->nbounds = 0;
	rc = query_rows(ix, "SHOW SHARDS", shard_row, &sc,
			"cannot list the shard groups (needed for fields with several types)", err);
	if (rc == FERRY_ECONN && !strcmp(err->origin, "http 403")) {
		ferry_error_clear(err);
		ix->nbounds = 0;
		rc = shards_from_duration(ix, meas, nm, &sc, err);
	}
	if (rc < 0)
		return rc;
	qsort(ix->bounds, ix->nbounds, sizeof(*ix->bounds), qsort_i64);
	for (i = 0; i < ix->nbounds; i++)
		if (n == 0 || ix->bounds[n - 1] != ix->bounds[i])
			ix->bounds[n++] = ix->bounds[i];
	ix->nbounds = n;
	return 0;
}

static int schema_copy(const struct tm_schema *from, struct tm_schema *to)
{
	size_t i, k;

	for (i = 0; i < from->n; i++) {
		const struct tm_measurement *a = &from->m[i];
		struct tm_measurement *b = tm_schema_measurement(to, a->name, strlen(a->name));

		if (!b)
			return FERRY_ENOMEM;
		b->points = a->points;
		b->values = a->values;
		for (k = 0; k < a->ntags; k++)
			if (tm_measurement_add_tag(b, a->tags[k], strlen(a->tags[k])) < 0)
				return FERRY_ENOMEM;
		for (k = 0; k < a->nfields; k++)
			if (tm_measurement_add_field(b, a->fields[k].name, strlen(a->fields[k].name),
						     a->fields[k].types) < 0)
				return FERRY_ENOMEM;
	}
	to->typed = from->typed;
	return 0;
}

/* q = SHOW <what> KEYS ON "db" FROM "rp" and a regex matching every
 * measurement of the retention policy, or with m, measurement m only. */
static int show_keys(const struct ifx *ix, const char *what, const char *m, struct ferry_buf *q)
{
	int rc;

	ferry_buf_clear(q);
	if ((rc = ferry_buf_addf(q, "SHOW %s KEYS ON ", what)) < 0 ||
	    (rc = add_ident(q, ix->db, strlen(ix->db))) < 0 ||
	    (rc = ferry_buf_addstr(q, " FROM ")) < 0 ||
	    (rc = add_ident(q, ix->rp, strlen(ix->rp))) < 0 ||
	    (rc = ferry_buf_addch(q, '.')) < 0)
		return rc;
	return m ? add_ident(q, m, strlen(m)) : ferry_buf_addstr(q, "/.*/");
}

static int meas_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		    struct ferry_error *err)
{
	const struct mp_val *v = cell(s, cells, "name");

	if (v && v->t == MP_STR && !tm_schema_measurement(c->ud, v->s, v->len))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/*
 * The field keys and types of every measurement of db.rp, into *sch.
 * InfluxDB 1.6 answers SHOW FIELD KEYS FROM "rp" and the regex .* in time
 * that grows faster than the measurements (42 s for 600 measurements over
 * 15 shards, as Home Assistant writes an entity without a unit to its own
 * measurement; a list of names is slower still), and the form without
 * FROM, which reads the default retention policy, in 0.06 s.  So that
 * form for the default policy, and a query per measurement (10 ms each)
 * for another one.  Both give every type a field has in some shard.
 */
static int field_keys(const struct ifx *ix, struct tm_schema *sch, struct ferry_error *err)
{
	struct tm_schema names = { NULL, 0, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	size_t i;
	int rc = 0;

	if (ix->rp_default) {
		if (ferry_buf_addstr(&q, "SHOW FIELD KEYS ON ") < 0 ||
		    add_ident(&q, ix->db, strlen(ix->db)) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = query_rows(ix, q.buf, field_row, sch, "cannot list field keys", err);
		goto out;
	}
	if (ferry_buf_addstr(&q, "SHOW MEASUREMENTS ON ") < 0 ||
	    add_ident(&q, ix->db, strlen(ix->db)) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = query_rows(ix, q.buf, meas_row, &names, "cannot list measurements", err)) < 0)
		goto out;
	for (i = 0; i < names.n && rc == 0; i++) {
		if (show_keys(ix, "FIELD", names.m[i].name, &q) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else if ((rc = query_rows(ix, q.buf, field_row, sch, "cannot list field keys",
					  err)) < 0)
			ferry_error_prefix(err, "measurement '%s'", names.m[i].name);
	}
out:
	tm_schema_release(&names);
	ferry_buf_release(&q);
	return rc;
}

static int ifx_discover(void *s, struct tm_schema *out, struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_schema sch = { NULL, 0, 0 };
	struct ferry_buf q = FERRY_BUF_INIT;
	struct ifx_meas *meas = NULL;
	int rc, conflicts = 0;
	size_t i, k;

	if ((rc = field_keys(ix, &sch, err)) < 0)
		goto out;
	if ((rc = show_keys(ix, "TAG", NULL, &q)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if ((rc = query_rows(ix, q.buf, tag_row, &sch, "cannot list tag keys", err)) < 0)
		goto out;
	sch.typed = 1;
	if (sch.n && !(meas = ferry_calloc(sch.n, sizeof(*meas)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = stats(ix, &sch, meas, err)) < 0)
		goto out;
	for (i = 0; i < sch.n; i++)
		for (k = 0; k < sch.m[i].nfields; k++) {
			unsigned t = sch.m[i].fields[k].types;

			if (t & (t - 1)) {
				meas[i].conflict = 1;
				conflicts = 1;
			}
		}
	if (conflicts && (rc = load_shards(ix, meas, sch.n, err)) < 0)
		goto out;
	tm_schema_release(&ix->sch);
	ferry_free(ix->meas);
	ix->sch = sch;
	ix->meas = meas;
	meas = NULL;
	memset(&sch, 0, sizeof(sch));
	if ((rc = schema_copy(&ix->sch, out)) < 0) {
		tm_schema_release(out);
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	rc = 0;
out:
	tm_schema_release(&sch);
	ferry_free(meas);
	ferry_buf_release(&q);
	return rc;
}

/* ------------------------------------------------------------------ plan */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* About IFX_TARGET_POINTS points per chunk at the measurement's average
 * rate, in whole hours, at least one: the same for the same data. */
static int64_t default_chunk(int64_t points, int64_t first, int64_t last)
{
	__int128 span = (__int128)last - first + 1, size;

	if (points <= 0)
		points = 1;
	size = span * IFX_TARGET_POINTS / points;
	size = (size + IFX_HOUR_NS / 2) / IFX_HOUR_NS * IFX_HOUR_NS;
	if (size < IFX_HOUR_NS)
		size = IFX_HOUR_NS;
	if (size > INT64_MAX / 2)
		size = INT64_MAX / 2 / IFX_HOUR_NS * IFX_HOUR_NS;
	return (int64_t)size;
}

#define IFX_MAX_CHUNKS 10000000
#define IFX_MAX_ITEMS 1000000        /* series order: queries in all */

/* The part of measurement j's time span to read: [*lo, *hi); 0 when
 * nothing is (no points, or outside --start/--end). */
static int span_of(const struct ifx *ix, int j, int64_t *lo, int64_t *hi)
{
	const struct ifx_meas *me = &ix->meas[j];

	if (!me->have)
		return 0;         /* no points in this retention policy */
	*lo = ix->o.has_start && ix->o.start_ns > me->first ? ix->o.start_ns : me->first;
	*hi = me->last == INT64_MAX ? INT64_MAX : me->last + 1;
	if (ix->o.has_end && ix->o.end_ns < *hi)
		*hi = ix->o.end_ns;
	return *lo < *hi;
}

/* The end of the time piece that starts at t: a multiple of size, at most
 * hi, and never across a shard group boundary when the measurement has a
 * field of several types (*b: the caller's cursor into ix->bounds). */
static int64_t piece_end(const struct ifx *ix, int j, int64_t t, int64_t size, int64_t hi,
			 size_t *b)
{
	__int128 next = (__int128)floor_div(t, size) * size + size;

	if (next > hi)
		next = hi;
	if (ix->meas[j].conflict) {
		while (*b < ix->nbounds && ix->bounds[*b] <= t)
			(*b)++;
		if (*b < ix->nbounds && ix->bounds[*b] < next)
			next = ix->bounds[*b];
	}
	return (int64_t)next;
}

/* ---------------------------------------------------- plan in series order */

/*
 * The narrow layout's indexes are (series, time desc) and (series,
 * measurement, field, time desc).  PostgreSQL builds an index several
 * times faster from rows already in its order (on 2 cores, 6M narrow rows,
 * both indexes side by side: 6-7 s against 17-27 s for the rows as the
 * time chunks deliver them).  So with o.order_tag the chunks read the
 * points series by series:
 *
 *   a unit   = one value of the tag in one measurement (SHOW TAG VALUES),
 *              or the points of a measurement without that tag (their
 *              series is the canonical key, which starts "measurement,");
 *   an item  = one query: a unit in a piece of time,
 *                SELECT * FROM m WHERE "tag"::tag = 'v'
 *                  AND time >= lo AND time < hi GROUP BY *
 *              answered in one message and handed on field by field,
 *              newest first (read_range, rd_fieldwise), or, should the
 *              answer be over IFX_WHOLE_MAX, a query per field with
 *              ORDER BY time DESC;
 *   a chunk  = consecutive items of about IFX_TARGET_POINTS points (one
 *              item with --chunk-time).
 *
 * Units go by series then measurement (bytewise, the order of a C or
 * C.UTF-8 collation), pieces newest first, fields bytewise.  The copy
 * loads such chunks one after the other on one stream, so the rows reach
 * the heap in the second index's order.
 */
struct unit {
	char *series;             /* sort key */
	int m;                    /* index into ix->sch */
	int mi;                   /* index into the schema plan() was given */
	size_t where;             /* offset in the plan's strings; 0: none */
	int64_t est;              /* points, estimated */
};

struct units {
	struct unit *u;
	size_t n, cap;
	struct ferry_buf str;     /* conditions, NUL-separated, from offset 1 */
	int m, mi;
	const char *tag;
};

/* InfluxQL string literal: single quotes, with '\'' and '\' escaped and a
 * newline as \n (its scanner refuses a raw one).  It cannot hold a NUL:
 * the scanner takes that for the end of the query. */
static int add_strlit(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = ferry_buf_addch(b, '\'');

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] == '\'' || s[i] == '\\' || s[i] == '\n')
			rc = ferry_buf_addch(b, '\\');
		if (rc == 0)
			rc = ferry_buf_addch(b, s[i] == '\n' ? 'n' : s[i]);
	}
	if (rc == 0)
		rc = ferry_buf_addch(b, '\'');
	return rc;
}

/* Line-protocol escaping of a measurement name, as in a series key. */
static int add_lp_escaped(struct ferry_buf *b, const char *s, size_t n)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < n && rc == 0; i++) {
		if (s[i] == ',' || s[i] == ' ')
			rc = ferry_buf_addch(b, '\\');
		if (rc == 0)
			rc = ferry_buf_addch(b, s[i]);
	}
	return rc;
}

/*
 * A unit of measurement us->m: series key, condition "tag"::tag = 'v'.
 * v "" takes the values with a NUL too, which a string literal cannot
 * hold (tagval_row leaves them out): "tag"::tag = '' OR "tag"::tag =~
 * /\x00/.  v NULL: no condition.
 */
static int unit_add(struct units *us, const char *series, size_t n, const char *v, size_t vn)
{
	struct unit *u;
	size_t at = us->str.len;
	int rc = 0;

	if (FERRY_GROW(us->u, us->cap, us->n + 1))
		return FERRY_ENOMEM;
	if (v) {
		rc = add_ident(&us->str, us->tag, strlen(us->tag));
		if (rc == 0)
			rc = ferry_buf_addstr(&us->str, "::tag = ");
		if (rc == 0)
			rc = add_strlit(&us->str, v, vn);
		if (rc == 0 && vn == 0 && (rc = ferry_buf_addstr(&us->str, " OR ")) == 0 &&
		    (rc = add_ident(&us->str, us->tag, strlen(us->tag))) == 0)
			rc = ferry_buf_addstr(&us->str, "::tag =~ /\\x00/");
		if (rc == 0)
			rc = ferry_buf_addch(&us->str, '\0');
		if (rc < 0)
			return rc;
	}
	u = &us->u[us->n];
	memset(u, 0, sizeof(*u));
	if (!(u->series = ferry_strndup(series, n)))
		return FERRY_ENOMEM;
	u->m = us->m;
	u->mi = us->mi;
	u->where = v ? at : 0;
	us->n++;
	return 0;
}

static int tagval_row(struct rows_ctx *c, const struct series *s, const struct mp_val *cells,
		      struct ferry_error *err)
{
	struct units *us = c->ud;
	const struct mp_val *v = cell(s, cells, "value");

	if (!v || v->t != MP_STR || v->len == 0 || memchr(v->s, 0, v->len))
		return 0;   /* with a NUL: read with the points without the tag */
	if (unit_add(us, v->s, v->len, v->s, v->len) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* The units of measurement j (i in the plan's schema). */
static int units_of(const struct ifx *ix, int j, int i, struct units *us,
		    struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[j];
	struct ferry_buf q = FERRY_BUF_INIT, key = FERRY_BUF_INIT;
	size_t first = us->n, k;
	int rc = 0, has_tag = 0;

	for (k = 0; k < m->ntags; k++)
		if (!strcmp(m->tags[k], us->tag))
			has_tag = 1;
	us->m = j;
	us->mi = i;
	if (has_tag) {
		if (ferry_buf_addstr(&q, "SHOW TAG VALUES ON ") < 0 ||
		    add_ident(&q, ix->db, strlen(ix->db)) < 0 || ferry_buf_addstr(&q, " FROM ") < 0 ||
		    add_ident(&q, ix->rp, strlen(ix->rp)) < 0 || ferry_buf_addch(&q, '.') < 0 ||
		    add_ident(&q, m->name, strlen(m->name)) < 0 ||
		    ferry_buf_addstr(&q, " WITH KEY = ") < 0 ||
		    add_ident(&q, us->tag, strlen(us->tag)) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		ferry_buf_clear(&key);
		if (ferry_buf_addf(&key, "cannot list the values of tag '%s' in measurement '%s'",
				   us->tag, m->name) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		if ((rc = query_rows(ix, q.buf, tagval_row, us, key.buf, err)) < 0)
			goto out;
		ferry_buf_clear(&key);
	}
	/* the points without the tag (all of them when the measurement has
	 * no such tag key): their canonical keys start "measurement," */
	if (add_lp_escaped(&key, m->name, strlen(m->name)) < 0 || ferry_buf_addch(&key, ',') < 0 ||
	    unit_add(us, key.buf, key.len, has_tag ? "" : NULL, 0) < 0) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (k = first; k < us->n; k++)
		us->u[k].est = m->points / (int64_t)(us->n - first) + 1;
out:
	ferry_buf_release(&q);
	ferry_buf_release(&key);
	return rc;
}

static int unit_cmp(const void *a, const void *b)
{
	const struct unit *x = a, *y = b;
	int c = strcmp(x->series, y->series);

	return c ? c : (x->m > y->m) - (x->m < y->m);
}

struct item_tmp {
	struct tm_item it;
	size_t where;      /* offset in the plan's strings; 0: none */
	size_t unit;
};

/* The items of unit u (number ui), appended to *items: its pieces of
 * time, newest first. */
static int unit_items(const struct ifx *ix, const struct unit *u, size_t ui,
		      struct item_tmp **items, size_t *n, size_t *cap, struct ferry_error *err)
{
	const struct tm_measurement *m = &ix->sch.m[u->m];
	const struct ifx_meas *me = &ix->meas[u->m];
	int64_t lo, hi, size, t, *cut = NULL;
	size_t ncut = 0, ccap = 0, b = 0, k;
	int rc = 0;

	if (!span_of(ix, u->m, &lo, &hi))
		return 0;
	/* a piece's answer is taken whole: fewer points when they have more
	 * fields (about 50 bytes a point with 3 fields) */
	{
		__int128 w = (__int128)u->est * (m->nfields > 4 ? m->nfields : 4) / 4;

		size = ix->o.chunk_ns > 0 ? ix->o.chunk_ns :
			default_chunk(w > INT64_MAX ? INT64_MAX : (int64_t)w, me->first, me->last);
	}
	if (((__int128)hi - lo) / size > IFX_MAX_CHUNKS)
		return ferry_error_set(err, FERRY_EINVAL,
			"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
			"use a larger chunk size", size, m->name, IFX_MAX_CHUNKS);
	for (t = lo; t < hi; t = piece_end(ix, u->m, t, size, hi, &b)) {
		if (FERRY_GROW(cut, ccap, ncut + 1)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		cut[ncut++] = t;   /* the pieces' starts, oldest first */
	}
	for (k = ncut; k-- > 0;) {
		struct item_tmp *x;

		if (FERRY_GROW(*items, *cap, *n + 1)) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		x = &(*items)[(*n)++];
		memset(x, 0, sizeof(*x));
		x->it.measurement = u->mi;
		x->it.t_lo = cut[k];
		x->it.t_hi = k + 1 < ncut ? cut[k + 1] : hi;
		x->where = u->where;
		x->unit = ui;
	}
out:
	ferry_free(cut);
	return rc;
}

/* Estimated points of an item: its unit's, spread evenly over time. */
static int64_t item_est(const struct ifx *ix, const struct unit *u, const struct tm_item *it)
{
	const struct ifx_meas *me = &ix->meas[u->m];

	return (int64_t)((__int128)u->est * ((__int128)it->t_hi - it->t_lo) /
			 ((__int128)me->last - me->first + 1)) + 1;
}

static int plan_series(struct ifx *ix, const struct tm_schema *sch, struct tm_chunk **out,
		       size_t *n, struct ferry_error *err)
{
	struct units us;
	struct item_tmp *items = NULL;
	struct tm_chunk *ck = NULL;
	size_t nitems = 0, icap = 0, nck = 0, cap = 0, i, k;
	char *pool = NULL;
	int rc = 0;

	memset(&us, 0, sizeof(us));
	us.tag = ix->o.order_tag;
	if (ferry_buf_addch(&us.str, '\0') < 0) {   /* offset 0 means none */
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sch->n; i++) {
		int j = tm_schema_find(&ix->sch, sch->m[i].name, strlen(sch->m[i].name));
		int64_t lo, hi;

		if (j < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"measurement '%s' was not discovered in database '%s'",
				sch->m[i].name, ix->db);
			goto out;
		}
		if (span_of(ix, j, &lo, &hi) && (rc = units_of(ix, j, (int)i, &us, err)) < 0)
			goto out;
	}
	if (us.n)
		qsort(us.u, us.n, sizeof(*us.u), unit_cmp);
	for (i = 0; i < us.n; i++)
		if ((rc = unit_items(ix, &us.u[i], i, &items, &nitems, &icap, err)) < 0)
			goto out;
	if (nitems > IFX_MAX_ITEMS) {
		rc = ferry_error_set(err, FERRY_EINVAL,
			"reading the narrow layout series by series takes %zu queries "
			"(%zu series, each cut in pieces of --chunk-time); give a larger "
			"--chunk-time, at most %d queries", nitems, us.n, IFX_MAX_ITEMS);
		goto out;
	}
	if (nitems) {
		struct tm_item *it;
		char *str;

		/* one block: the items, then the conditions */
		if (!(pool = ferry_malloc(nitems * sizeof(*it) + us.str.len))) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
		it = (struct tm_item *)(void *)pool;
		str = pool + nitems * sizeof(*it);
		memcpy(str, us.str.buf, us.str.len);
		for (k = 0; k < nitems; k++) {
			it[k] = items[k].it;
			it[k].where = items[k].where ? str + items[k].where : NULL;
		}
		/* chunks of consecutive items, about IFX_TARGET_POINTS points;
		 * with --chunk-time, one piece of time of one series each */
		for (k = 0; k < nitems;) {
			struct tm_chunk *c;
			int64_t est = 0;
			size_t e = k;

			while (e < nitems && (e == k || (est < IFX_TARGET_POINTS &&
							 ix->o.chunk_ns <= 0))) {
				est += item_est(ix, &us.u[items[e].unit], &it[e]);
				e++;
			}
			if (FERRY_GROW(ck, cap, nck + 1)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c = &ck[nck++];
			memset(c, 0, sizeof(*c));
			c->measurement = -1;
			c->est = est;
			c->items = it + k;
			c->nitems = e - k;
			k = e;
		}
		ck[0].pool = pool;
		pool = NULL;
	}
	*out = ck;
	*n = nck;
	ck = NULL;
out:
	for (i = 0; i < us.n; i++)
		ferry_free(us.u[i].series);
	ferry_free(us.u);
	ferry_buf_release(&us.str);
	ferry_free(items);
	ferry_free(pool);
	ferry_free(ck);
	return rc;
}

static int ifx_plan(void *s, const struct tm_schema *sch, struct tm_chunk **out, size_t *n,
		    struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_chunk *ck = NULL;
	size_t nck = 0, cap = 0, i;
	int rc = 0;

	if (ix->o.order_tag)
		return plan_series(ix, sch, out, n, err);
	for (i = 0; i < sch->n; i++) {
		int j = tm_schema_find(&ix->sch, sch->m[i].name, strlen(sch->m[i].name));
		const struct ifx_meas *me;
		int64_t lo, hi, size, t, points;
		size_t b = 0;

		if (j < 0) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"measurement '%s' was not discovered in database '%s'",
				sch->m[i].name, ix->db);
			goto out;
		}
		me = &ix->meas[j];
		if (!span_of(ix, j, &lo, &hi))
			continue;
		points = ix->sch.m[j].points;
		size = ix->o.chunk_ns > 0 ? ix->o.chunk_ns :
			default_chunk(points, me->first, me->last);
		if (((__int128)hi - lo) / size > IFX_MAX_CHUNKS) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"chunk size %" PRId64 " ns cuts measurement '%s' into more than %d chunks: "
				"use a larger chunk size", size, sch->m[i].name, IFX_MAX_CHUNKS);
			goto out;
		}
		for (t = lo; t < hi;) {
			int64_t next = piece_end(ix, j, t, size, hi, &b);
			struct tm_chunk *c;

			if (FERRY_GROW(ck, cap, nck + 1)) {
				rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
				goto out;
			}
			c = &ck[nck++];
			memset(c, 0, sizeof(*c));
			c->measurement = (int)i;
			c->has_time = 1;
			c->t_lo = t;
			c->t_hi = next;
			c->est = (int64_t)((__int128)points * (c->t_hi - c->t_lo) /
					   ((__int128)me->last - me->first + 1));
			t = next;
		}
	}
	*out = ck;
	*n = nck;
	ck = NULL;
out:
	ferry_free(ck);
	return rc;
}

/* ------------------------------------------------------------------ read */

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
	int fieldwise;            /* emit field by field, newest first */
	int64_t key;
	int64_t lo, hi;
	char why[256];
};

static unsigned field_types(const struct tm_measurement *m, const struct lp_str *name)
{
	size_t lo = 0, hi = m->nfields;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const char *e = m->fields[mid].name;
		size_t en = strlen(e);
		int c = memcmp(name->p, e, name->n < en ? name->n : en);

		if (!c)
			c = name->n < en ? -1 : name->n > en;
		if (!c)
			return m->fields[mid].types;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static void rd_release(struct rd *r)
{
	ferry_free(r->fields);
	ferry_free(r->ctypes);
	ferry_free(r->rows);
	ferry_free(r->order);
}

static int bad_row(const struct rd *r, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_EIO,
		"invalid answer from InfluxDB at %s: a row of '%s' is malformed", r->ix->where,
		r->m->name);
}

/* Column j's value v as field f: 1, 0 when null, -1 when ferry cannot
 * take it (r->why says why; the caller skips what v holds). */
static int take_cell(struct rd *r, const struct series *s, size_t j, const struct mp_val *v,
		     struct lp_field *f)
{
	const unsigned f_only = TM_TYPE_BIT(LP_FLOAT);
	const unsigned u_only = TM_TYPE_BIT(LP_UINT);

	f->key = s->cols[j];
	switch (v->t) {
	case MP_NIL:
		return 0;
	case MP_FLOAT:
		f->type = LP_FLOAT;
		f->v.f = v->v.f;
		return 1;
	case MP_INT:
		if (r->ctypes[j] == f_only) {        /* typed by the schema */
			f->type = LP_FLOAT;
			f->v.f = (double)v->v.i;
		} else if (r->ctypes[j] == u_only && v->v.i >= 0) {
			f->type = LP_UINT;
			f->v.u = (uint64_t)v->v.i;
		} else {
			f->type = LP_INT;
			f->v.i = v->v.i;
		}
		return 1;
	case MP_UINT:
		f->type = LP_UINT;
		f->v.u = v->v.u;
		return 1;
	case MP_STR:
		f->type = LP_STRING;
		f->v.s.p = v->s;
		f->v.s.n = v->len;
		return 1;
	case MP_BOOL:
		f->type = LP_BOOL;
		f->v.b = v->v.b;
		return 1;
	default:
		if (!r->why[0])
			snprintf(r->why, sizeof(r->why),
				 "field '%.*s' has a value InfluxDB sent as MessagePack type %d",
				 (int)f->key.n, f->key.p, (int)v->t);
		return -1;
	}
}

/* The start of a row: its array header and time.  A time that is not an
 * integer sets r->why. */
static int row_head(struct rd *r, const struct series *s, const unsigned char **pp, int64_t *t,
		    struct ferry_error *err)
{
	struct mp_val v;

	if (mp_next(pp, s->vend, &v) || v.t != MP_ARRAY || v.v.n != s->ncols ||
	    mp_next(pp, s->vend, &v))
		return bad_row(r, err);
	*t = v.v.i;
	if (v.t != MP_INT) {
		*t = 0;
		snprintf(r->why, sizeof(r->why), "time of a point of measurement '%s' is not an integer",
			 r->m->name);
	}
	return 0;
}

static int time_in_range(const struct rd *r, int64_t t, struct ferry_error *err)
{
	if (!r->why[0] && (t < r->lo || t >= r->hi))
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: a point at %" PRId64
			" outside the range asked for", r->ix->where, t);
	return 0;
}

/*
 * Decode the row at *pp: its time into *t, its non-null fields into
 * r->fields[0..*nf).  A value ferry cannot take sets r->why (the row is
 * rejected whole); a row that is not MessagePack is an error.
 */
static int decode_row(struct rd *r, const struct series *s, const unsigned char **pp,
		      int64_t *t, size_t *nf, struct ferry_error *err)
{
	struct mp_val v;
	size_t j;
	int rc;

	r->why[0] = 0;
	*nf = 0;
	if ((rc = row_head(r, s, pp, t, err)) < 0)
		return rc;
	for (j = 1; j < s->ncols; j++) {
		const unsigned char *at = *pp;
		int k;

		if (mp_next(pp, s->vend, &v))
			return bad_row(r, err);
		k = take_cell(r, s, j, &v, &r->fields[*nf]);
		if (k > 0) {
			(*nf)++;
		} else if (k < 0) {
			*pp = at;
			if (mp_skip(pp, s->vend))
				return bad_row(r, err);
		}
	}
	if (!r->why[0] && *nf == 0)
		snprintf(r->why, sizeof(r->why), "point of measurement '%s' has no field values",
			 r->m->name);
	return time_in_range(r, *t, err);
}

/* Hand one point (nf fields from f) or one reject on. */
static int emit(struct rd *r, const struct series *s, const unsigned char *start,
		const unsigned char *end, int64_t t, const struct lp_field *f, size_t nf,
		struct ferry_error *err)
{
	struct tm_point pt;
	int rc;

	if (r->why[0]) {
		rc = r->rej ? r->rej(r->ud, r->key, r->why, start, (size_t)(end - start), err) :
			ferry_error_set(err, FERRY_EREJECT, "%s", r->why);
	} else {
		pt.measurement = s->name;
		pt.tags = s->tags;
		pt.ntags = s->ntags;
		pt.fields = f;
		pt.nfields = nf;
		pt.time_ns = t;
		pt.key = r->key;
		pt.file = NULL;
		rc = r->fn(&pt, r->ud, err);
	}
	if (rc) {
		if (rc > 0 || (err && !err->code))
			rc = ferry_error_set(err, rc < 0 ? rc : FERRY_EABORT, "read stopped");
		return rc;
	}
	r->key++;
	return 0;
}

static int col_cmp(const struct series *s, int a, int b)
{
	const struct lp_str *x = &s->cols[a], *y = &s->cols[b];
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c ? c : (x->n > y->n) - (x->n < y->n);
}

/*
 * Fieldwise: the rows of s (oldest first) go out field by field, fields
 * bytewise by name, each newest first: the order of the narrow layout's
 * (series, measurement, field, time desc) index.  A value ferry cannot
 * take, or a row whose time is not an integer, is rejected field by
 * field, as the query per field of read_items' fallback rejects it.
 */
static int rd_fieldwise(struct rd *r, const struct series *s, struct ferry_error *err)
{
	const unsigned char *p = s->values;
	size_t k, i, j, nord = 0;
	uint32_t row;
	int rc;

	/* every row takes a byte at least: a count beyond that is not real */
	if ((size_t)s->nrows > (size_t)(s->vend - s->values))
		return bad_row(r, err);
	if (FERRY_GROW(r->rows, r->rcap, (size_t)s->nrows + 1) ||
	    FERRY_GROW(r->order, r->ocap, s->ncols))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (row = 0; row < s->nrows; row++) {
		r->rows[row] = p;
		if (mp_skip(&p, s->vend))
			return bad_row(r, err);
	}
	r->rows[s->nrows] = p;
	for (k = 1; k < s->ncols; k++) {   /* insertion sort: a few columns */
		for (i = nord; i > 0 && col_cmp(s, r->order[i - 1], (int)k) > 0; i--)
			r->order[i] = r->order[i - 1];
		r->order[i] = (int)k;
		nord++;
	}
	for (k = 0; k < nord; k++)
		for (row = s->nrows; row-- > 0;) {
			const unsigned char *q = r->rows[row], *at;
			struct mp_val v;
			int64_t t;
			int got;

			r->why[0] = 0;
			if ((rc = row_head(r, s, &q, &t, err)) < 0)
				return rc;
			for (j = 1; j < (size_t)r->order[k]; j++)
				if (mp_skip(&q, s->vend))
					return bad_row(r, err);
			at = q;
			if (mp_next(&q, s->vend, &v))
				return bad_row(r, err);
			if ((got = take_cell(r, s, (size_t)r->order[k], &v, &r->fields[0])) == 0)
				continue;
			if (got < 0 && (q = at, mp_skip(&q, s->vend)))
				return bad_row(r, err);
			if ((rc = time_in_range(r, t, err)) < 0 ||
			    (rc = emit(r, s, r->rows[row], r->rows[row + 1], t, r->fields, 1, err)) < 0)
				return rc;
		}
	return 0;
}

static int rd_series(void *ud, const struct series *s, struct ferry_error *err)
{
	struct rd *r = ud;
	const unsigned char *p = s->values;
	uint32_t row;
	size_t j, nf;
	int64_t t;
	int rc;

	if (s->name.n != strlen(r->m->name) || memcmp(s->name.p, r->m->name, s->name.n) ||
	    s->ncols < 1 || s->cols[0].n != 4 || memcmp(s->cols[0].p, "time", 4))
		return ferry_error_set(err, FERRY_EIO,
			"invalid answer from InfluxDB at %s: a series of '%.*s' without a time column",
			r->ix->where, (int)s->name.n, s->name.p);
	if (FERRY_GROW(r->fields, r->fcap, s->ncols) ||
	    FERRY_GROW(r->ctypes, r->ccap, s->ncols))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (j = 1; j < s->ncols; j++)
		r->ctypes[j] = field_types(r->m, &s->cols[j]);
	if (r->fieldwise)
		return rd_fieldwise(r, s, err);
	for (row = 0; row < s->nrows; row++) {
		const unsigned char *start = p;

		if ((rc = decode_row(r, s, &p, &t, &nf, err)) < 0 ||
		    (rc = emit(r, s, start, p, t, r->fields, nf, err)) < 0)
			return rc;
	}
	return 0;
}

/*
 * The query for the points of measurement m in [lo, hi) (clipped to
 * --start/--end: *clo, *chi), every field or only field f (>= 0), only the
 * series that match where (may be NULL), oldest first or newest first
 * (desc); ctx for its errors.  0 when the range is empty, 1 when built.
 */
static int range_query(const struct ifx *ix, const struct tm_measurement *m, int f,
		       const char *where, int64_t lo, int64_t hi, int desc, struct ferry_buf *q,
		       struct ferry_buf *ctx, int64_t *clo, int64_t *chi)
{
	char a[48], b[48];
	int rc;

	if (ix->o.has_start && ix->o.start_ns > lo)
		lo = ix->o.start_ns;
	if (ix->o.has_end && ix->o.end_ns < hi)
		hi = ix->o.end_ns;
	*clo = lo;
	*chi = hi;
	if (lo >= hi)
		return 0;
	fmt_time(lo, a, sizeof(a));
	fmt_time(hi, b, sizeof(b));
	ferry_buf_clear(q);
	ferry_buf_clear(ctx);
	rc = ferry_buf_addstr(q, "SELECT ");
	if (rc == 0 && f >= 0) {
		rc = add_ident(q, m->fields[f].name, strlen(m->fields[f].name));
		if (rc == 0)
			rc = ferry_buf_addstr(q, "::field");
	} else if (rc == 0) {
		rc = ferry_buf_addch(q, '*');
	}
	if (rc == 0)
		rc = ferry_buf_addstr(q, " FROM ");
	if (rc == 0)
		rc = add_dbrp(q, ix);
	if (rc == 0)
		rc = ferry_buf_addch(q, '.');
	if (rc == 0)
		rc = add_ident(q, m->name, strlen(m->name));
	if (rc == 0)
		rc = ferry_buf_addstr(q, " WHERE ");
	if (rc == 0 && where)
		rc = ferry_buf_addf(q, "(%s) AND ", where);
	if (rc == 0)
		rc = ferry_buf_addf(q, "time >= %" PRId64 " AND time < %" PRId64 " GROUP BY *%s",
				    lo, hi, desc ? " ORDER BY time DESC" : "");
	if (rc == 0)
		rc = ferry_buf_addf(ctx, "cannot read measurement '%s' from %s to %s", m->name, a, b);
	if (rc == 0 && f >= 0)
		rc = ferry_buf_addf(ctx, ", field '%s'", m->fields[f].name);
	if (rc == 0 && where)
		rc = ferry_buf_addf(ctx, ", series %s", where);
	return rc < 0 ? rc : 1;
}

/* One streamed query (see range_query) to r. */
static int read_range(struct rd *r, const struct tm_measurement *m, int f, const char *where,
		      int64_t lo, int64_t hi, int desc, struct ferry_error *err)
{
	struct ferry_buf q = FERRY_BUF_INIT, ctx = FERRY_BUF_INIT;
	int rc;

	r->m = m;
	rc = range_query(r->ix, m, f, where, lo, hi, desc, &q, &ctx, &r->lo, &r->hi);
	if (rc < 0)
		rc = ferry_error_set(err, rc, "out of memory");
	else if (rc > 0)
		rc = ifx_query(r->ix, q.buf, 0, rd_series, r, ctx.buf, NULL, err);
	ferry_buf_release(&q);
	ferry_buf_release(&ctx);
	return rc;
}

/*
 * Is the whole answer raw in more than one message?  Asked with a chunk
 * size no answer under whole_max reaches, it is one message; a series
 * that goes on in another says "partial": true, the bytes below in
 * MessagePack.  (An unchunked answer would not do: max-row-limit cuts
 * those, and InfluxDB 1.6 marks their series over 10000 rows partial
 * even when whole.)  A field value holding the bytes only sends the item
 * to the query per field, slower, never wrong; reading the answer's
 * structure instead cost as much as handing its points on.
 */
static int answer_cut(const struct ferry_buf *raw)
{
	static const char partial_true[] = "\xa7partial\xc3";

	return memmem(raw->buf, raw->len, partial_true, sizeof(partial_true) - 1) != NULL;
}

/* Every series of a whole answer (ifx_query with no fn) to fn. */
static int ifx_parse(const struct ifx *ix, struct ferry_buf *raw, series_fn fn, void *ud,
		     struct ferry_error *err)
{
	struct stream st;
	int rc;

	memset(&st, 0, sizeof(st));
	st.where = ix->where;
	st.fn = fn;
	st.ud = ud;
	st.err = err;
	st.in = *raw;
	st.max_object = IFX_OBJECT_MAX;
	rc = drain(&st, 1, err);
	*raw = st.in;
	if (rc == 0 && st.objects == 0)
		rc = ferry_error_set(err, FERRY_EIO, "answer from InfluxDB at %s was empty",
				     ix->where);
	ferry_free(st.tags);
	ferry_free(st.cols);
	return rc;
}

/*
 * A whole answer fetched on a thread of its own, so that InfluxDB works
 * on the next item of a chunk while the points of this one are handed on.
 */
struct fetch {
	const struct ifx *ix;
	struct ferry_buf q, ctx, raw;
	int64_t lo, hi;
	int empty;            /* nothing to ask: the range is empty */
	int too_big;          /* over ix->whole_max, or cut by the server */
	int rc;
	struct ferry_error err;
	pthread_t th;
	int started;
};

/* The fetch itself, on its thread or in line. */
static void fetch_run(struct fetch *f)
{
	f->rc = ifx_query(f->ix, f->q.buf, f->ix->whole_max, NULL, NULL, NULL, &f->raw, &f->err);
	if (f->rc == FERRY_ETOOBIG) {
		ferry_error_clear(&f->err);
		f->rc = 0;
		f->too_big = 1;
	} else if (f->rc == 0) {
		f->too_big = answer_cut(&f->raw);
	}
}

static void *fetch_main(void *arg)
{
	fetch_run(arg);
	return NULL;
}

/* Start fetching the answer of item it (in line later should no thread
 * start). */
static int fetch_start(struct fetch *f, const struct ifx *ix, const struct tm_item *it,
		       const struct tm_measurement *m, struct ferry_error *err)
{
	int rc;

	f->ix = ix;
	f->rc = 0;
	f->too_big = 0;
	f->started = 0;
	ferry_error_clear(&f->err);
	rc = range_query(ix, m, -1, it->where, it->t_lo, it->t_hi, 0, &f->q, &f->ctx, &f->lo,
			 &f->hi);
	if (rc < 0)
		return ferry_error_set(err, rc, "out of memory");
	f->empty = rc == 0;
	if (!f->empty && pthread_create(&f->th, NULL, fetch_main, f) == 0)
		f->started = 1;
	return 0;
}

/* Wait for f and hand its points to r field by field: 0, a negative
 * FERRY_E*, or 1 when the answer was too big (nothing handed on). */
static int fetch_finish(struct fetch *f, struct rd *r, const struct tm_measurement *m,
			struct ferry_error *err)
{
	int rc = 0;

	if (f->empty)
		return 0;
	if (f->started) {
		pthread_join(f->th, NULL);
		f->started = 0;
	} else {
		fetch_run(f);
	}
	if (f->rc < 0) {
		rc = f->rc;
		if (err) {
			*err = f->err;
			ferry_error_prefix(err, "%s", f->ctx.buf);
		}
		goto out;
	}
	if (f->too_big) {
		rc = 1;
		goto out;
	}
	r->m = m;
	r->lo = f->lo;
	r->hi = f->hi;
	r->fieldwise = 1;
	rc = ifx_parse(f->ix, &f->raw, rd_series, r, err);
	r->fieldwise = 0;
	if (rc < 0 && err)
		ferry_error_prefix(err, "%s", f->ctx.buf);
out:
	return rc;
}

static void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	if (f->started)
		pthread_join(f->th, NULL);
	ferry_buf_release(&f->q);
	ferry_buf_release(&f->ctx);
	ferry_buf_release(&f->raw);
	ferry_free(f);
}

static struct fetch *fetch_new(void)
{
	struct fetch *f = ferry_calloc(1, sizeof(*f));

	if (f) {
		ferry_buf_init(&f->q, 0);
		ferry_buf_init(&f->ctx, 0);
		ferry_buf_init(&f->raw, 0);
	}
	return f;
}

/*
 * The items of a chunk in series order.  Each asks for every field of its
 * unit and piece in one answer (cheaper for InfluxDB than a query per
 * field) and hands the points on field by field, newest first; the next
 * item's answer is fetched meanwhile.  An answer over ix->whole_max, or
 * one the server cut, is read again a field at a time, streamed, newest
 * first, with the same points and rejects.  Its size decides, so a chunk
 * read again gives the same rows.
 */
static int read_items(struct rd *r, const struct tm_schema *sch, const struct tm_chunk *ck,
		      int only, struct ferry_error *err)
{
	struct fetch *fe[IFX_AHEAD + 1] = { NULL };
	size_t *todo = NULL, n = 0, i, asked = 0;
	int rc = 0;

	for (i = 0; i < ck->nitems; i++)
		if (ck->items[i].measurement < 0 || (size_t)ck->items[i].measurement >= sch->n) {
			rc = ferry_error_set(err, FERRY_EINVAL,
				"chunk names measurement %d of %zu: run discover and plan first",
				ck->items[i].measurement, sch->n);
			goto out;
		}
	if (!(todo = ferry_calloc(ck->nitems + 1, sizeof(*todo)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < ck->nitems; i++)
		if (only < 0 || ck->items[i].measurement == only)
			todo[n++] = i;
	for (i = 0; i <= IFX_AHEAD && i < n; i++)
		if (!(fe[i] = fetch_new())) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			goto out;
		}
	/* item todo[i]'s answer in fe[i % (IFX_AHEAD + 1)], up to IFX_AHEAD
	 * later ones on their way */
	for (i = 0; i < n && rc == 0; i++) {
		const struct tm_item *it = &ck->items[todo[i]];
		const struct tm_measurement *m = &sch->m[it->measurement];
		int f;

		for (; asked < n && asked <= i + IFX_AHEAD; asked++) {
			const struct tm_item *a = &ck->items[todo[asked]];

			if ((rc = fetch_start(fe[asked % (IFX_AHEAD + 1)], r->ix, a,
					      &sch->m[a->measurement], err)) < 0)
				goto out;
		}
		rc = fetch_finish(fe[i % (IFX_AHEAD + 1)], r, m, err);
		if (rc == 1)
			for (rc = 0, f = 0; f < (int)m->nfields && rc == 0; f++)
				rc = read_range(r, m, f, it->where, it->t_lo, it->t_hi, 1, err);
	}
out:
	for (i = 0; i <= IFX_AHEAD; i++)
		fetch_free(fe[i]);
	ferry_free(todo);
	return rc;
}

static int ifx_read(void *s, const struct tm_schema *shared, const struct tm_chunk *ck,
		    int only, tm_point_fn fn, tm_reject_fn rej, void *ud,
		    struct ferry_error *err)
{
	struct ifx *ix = s;
	/* a connection that did not discover (a copy worker) reads by the
	 * schema of the one that did */
	const struct tm_schema *sch = ix->sch.n || !shared ? &ix->sch : shared;
	struct rd r;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	r.ix = ix;
	r.fn = fn;
	r.rej = rej;
	r.ud = ud;
	if (ck->nitems) {
		rc = read_items(&r, sch, ck, only, err);
		goto out;
	}
	if (only >= 0 && only != ck->measurement)
		return 0;
	if (ck->measurement < 0 || (size_t)ck->measurement >= sch->n)
		return ferry_error_set(err, FERRY_EINVAL,
			"chunk names measurement %d of %zu: run discover and plan first",
			ck->measurement, sch->n);
	rc = read_range(&r, &sch->m[ck->measurement], -1, NULL,
			ck->has_time ? ck->t_lo : INT64_MIN, ck->has_time ? ck->t_hi : INT64_MAX, 0,
			err);
out:
	rd_release(&r);
	return rc;
}

/* -------------------------------------------------------------- identity */

/* Per measurement: points counted and first/last time.  Changes when
 * points are added or deleted (not when a point is overwritten in place). */
static int ifx_identity(void *s, struct ferry_buf *out, struct ferry_error *err)
{
	struct ifx *ix = s;
	struct tm_schema sch = { NULL, 0, 0 };
	struct ifx_meas *meas = NULL;
	size_t i;
	int rc;

	if (!ix->meas) {          /* not discovered yet */
		struct tm_schema tmp = { NULL, 0, 0 };

		rc = ifx_discover(ix, &tmp, err);
		tm_schema_release(&tmp);
		if (rc < 0)
			return rc;
	}
	if ((rc = schema_copy(&ix->sch, &sch)) < 0) {
		rc = ferry_error_set(err, rc, "out of memory");
		goto out;
	}
	if (sch.n && !(meas = ferry_calloc(sch.n, sizeof(*meas)))) {
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = stats(ix, &sch, meas, err)) < 0)
		goto out;
	rc = ferry_buf_addf(out, "influx %s/%s.%s", ix->where, ix->db, ix->rp);
	for (i = 0; i < sch.n && rc == 0; i++)
		rc = ferry_buf_addf(out, " %s:%" PRId64 ":%" PRId64 ":%" PRId64, sch.m[i].name,
				    sch.m[i].points, meas[i].have ? meas[i].first : 0,
				    meas[i].have ? meas[i].last : 0);
	if (rc < 0)
		rc = ferry_error_set(err, rc, "out of memory");
out:
	tm_schema_release(&sch);
	ferry_free(meas);
	return rc;
}

static const char *const ifx_schemes[] = { "influx", NULL };

const struct tm_source_ops ifx_source_ops = {
	.name = "influx",
	.schemes = ifx_schemes,
	.open = ifx_open,
	.close = ifx_close,
	.discover = ifx_discover,
	.plan = ifx_plan,
	.read = ifx_read,
	.identity = ifx_identity,
};

/* The connector: the point source behind the telemetry mapping. */
static int ifx_conn_open(const ferry_url *url, unsigned flags, ferry_conn **out,
			 struct ferry_error *err)
{
	return tm_conn_open(&ifx_source_ops, url, flags, out, err);
}

const struct ferry_conn_ops ifx_ops = TM_CONN_OPS("influx", ifx_schemes, ifx_conn_open);
