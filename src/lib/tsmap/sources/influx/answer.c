/*
 * answer.c - the InfluxDB source's answer parser: top-level MessagePack
 * objects ({"results":[{"series":[...]}]}, wire/msgpack.h) into struct
 * series handed to a callback, rows decoded cell by cell, an answer taken
 * whole checked for being cut, and the RFC 3339 times of SHOW answers.
 * No I/O: http.c feeds it; tests/unit/test_influx_answer.c and
 * tests/fuzz/fuzz_influx_msgpack.c drive it directly.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "tsmap/sources/influx/influx_int.h"

static int bad_answer(const struct stream *st, const char *what, struct ferry_error *err)
{
	return ferry_error_set(err, FERRY_EIO, "invalid answer from InfluxDB at %s: %s",
			       st->where, what);
}

static int server_error(const struct stream *st, const struct mp_val *msg,
			struct ferry_error *err)
{
	static const char down[] = "query engine shutdown";
	int rc;

	if (msg->t != MP_STR)
		return bad_answer(st, "'error' is not a string", err);
	/* influxd stopping ends the queries it runs with this: the server
	 * went away, as a lost connection (the copy waits for it) */
	if (msg->len == sizeof(down) - 1 && !memcmp(msg->s, down, msg->len)) {
		rc = ferry_error_set(err, FERRY_ECONN, "InfluxDB at %s is shutting down (%s)",
				     st->where, down);
		ferry_error_origin(err, "influxd shutdown");
		return rc;
	}
	return ferry_error_set(err, FERRY_ESQL, "InfluxDB at %s: %.*s", st->where,
			       (int)(msg->len > 600 ? 600 : msg->len), msg->s);
}

/* Where series ids come from: one counter for every stream and thread,
 * so that two series never share an id (tm_rows_add trusts equal ids). */
static _Atomic uint64_t series_ids;

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
		if (mp_key_is(&k, "name")) {
			if (mp_next(pp, end, &v) || v.t != MP_STR)
				return bad_answer(st, "a series name is not a string", err);
			s.name.p = v.s;
			s.name.n = v.len;
			continue;
		}
		if (mp_key_is(&k, "tags"))
			tags_at = *pp;
		else if (mp_key_is(&k, "columns"))
			cols_at = *pp;
		else if (mp_key_is(&k, "values"))
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
	s.id = atomic_fetch_add(&series_ids, 1) + 1;
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
		if (mp_key_is(&k, "series")) {
			if (mp_next(pp, end, &v) || v.t != MP_ARRAY)
				return bad_answer(st, "'series' is not an array", err);
			for (m = v.v.n, j = 0; j < m; j++)
				if ((rc = parse_series(st, pp, end, err)) < 0)
					return rc;
		} else if (mp_key_is(&k, "error")) {
			if (mp_next(pp, end, &v))
				return bad_answer(st, "a result is truncated", err);
			return server_error(st, &v, err);
		} else if (mp_key_is(&k, "partial")) {
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
		if (mp_key_is(&k, "results")) {
			if (mp_next(&p, end, &v) || v.t != MP_ARRAY)
				return bad_answer(st, "'results' is not an array", err);
			for (m = v.v.n, j = 0; j < m; j++)
				if ((rc = parse_result(st, &p, end, err)) < 0)
					return rc;
		} else if (mp_key_is(&k, "error")) {
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
int ifx_drain(struct stream *st, int final, struct ferry_error *err)
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
					"answer from InfluxDB at %s was cut short: its last %zu "
					"bytes are an unfinished message (the connection closed "
					"early: rerun; if it repeats, see InfluxDB's log and any "
					"proxy's timeout)", st->where, (size_t)(end - p));
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
		/* shorter: fails only when st->in is already out of memory */
		if ((rc = ferry_buf_setlen(&st->in, rest)) < 0)
			rc = ferry_error_set(err, rc, "out of memory");
		st->tried = rest;

	}
	return rc;
}

/* ---------------------------------------------------------- rows of answers */

/* Decode the next row of s at *pp into cells[0..s->ncols); a nested array
 * or map cell is left as its header with its content skipped. */
int ifx_next_row(const struct ifx *ix, const struct series *s, const unsigned char **pp,
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

const struct mp_val *ifx_cell(const struct series *s, const struct mp_val *cells,
			      const char *col)
{
	int j = col_index(s, col);

	return j < 0 ? NULL : &cells[j];
}

/*
 * Was the whole answer raw cut?  Asked with a chunk size no answer under
 * whole_max reaches, a series comes whole, in a message of its own: the
 * result of every message but the last says "partial": true.  An answer
 * that stops short says so last: its last result, or the series it cut
 * (as max-row-limit marks those of unchunked answers; chunked ones it
 * does not cut), ends with "partial": true (InfluxDB writes a result's
 * keys in the order statement_id, series, messages, partial), the bytes
 * below in MessagePack, at the very end.  None was seen cut so on
 * influxd 1.6; the check costs nothing.  (Any "partial" key was once
 * taken for a cut: an answer of several series was then read again a
 * field at a time.)  A string value ending in the bytes, last in the
 * answer, only sends the item to the query per field, slower, never
 * wrong; reading the answer's structure instead cost as much as handing
 * its points on.
 */
int ifx_answer_cut(const struct ferry_buf *raw)
{
	static const char partial_true[] = "\xa7partial\xc3";
	const size_t n = sizeof(partial_true) - 1;

	return raw->len >= n && !memcmp(raw->buf + raw->len - n, partial_true, n);
}

/* Every series of a whole answer (ifx_query with no fn) to fn. */
int ifx_parse(const struct ifx *ix, struct ferry_buf *raw, series_fn fn, void *ud,
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
	rc = ifx_drain(&st, 1, err);
	*raw = st.in;
	if (rc == 0 && st.objects == 0)
		rc = ferry_error_set(err, FERRY_EIO, "answer from InfluxDB at %s was empty: "
				     "not one message (the connection closed early: rerun; if "
				     "it repeats, see InfluxDB's log and any proxy's timeout)",
				     ix->where);
	ferry_free(st.tags);
	ferry_free(st.cols);
	return rc;
}
