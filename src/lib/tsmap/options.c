/*
 * options.c - the point layer's options, read once from the endpoint URL
 * (layout, map, table, series tag, --start/--end, chunk sizes, precision)
 * into struct tm_opts, which travels down as a struct; and the other way,
 * the command's options written into that URL (tm_url_add_opts, for
 * ferry_ts_url in the registry, which knows which stores take them).
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/hash.h"
#include "ferry/size.h"
#include "ferry/tsmap.h"
#include "ferry/url.h"
#include "model/value.h"
#include "tsmap/tm_int.h"

int tm_opts_from_url(const ferry_url *u, struct tm_opts *o, struct ferry_error *err)
{
	const char *v;

	memset(o, 0, sizeof(*o));
	o->layout = ferry_url_param(u, "layout");
	o->map_path = ferry_url_param(u, "map");
	o->table = ferry_url_param(u, "table");
	o->series_tag = ferry_url_param(u, "series_tag");
	/* a map with a table (target:) is its own layout; a point map alone
	 * maps the points before narrow (or --layout's) */
	if (o->map_path) {
		int tab, rc;

		if ((rc = tm_map_kinds(o->map_path, &o->has_points, &tab, err)) < 0)
			return rc;
		if (!o->layout)
			o->layout = tab || !o->has_points ? "map" : "narrow";
		else if (tab && strcmp(o->layout, "map"))
			return ferry_error_set(err, FERRY_EUSAGE, "map '%s' loads into its target: "
					       "table, so --layout %s does not apply", o->map_path,
					       o->layout);
	}
	if (!o->layout)
		o->layout = "narrow";
	if (strcmp(o->layout, "narrow") && strcmp(o->layout, "wide") && strcmp(o->layout, "map"))
		return ferry_error_set(err, FERRY_EUSAGE,
				       "unknown layout '%s': use narrow, wide, or --map FILE",
				       o->layout);
	if (!strcmp(o->layout, "map") && !o->map_path)
		return ferry_error_set(err, FERRY_EUSAGE, "the map layout needs --map FILE");
	if (!o->table)
		o->table = "telemetry_data";
	/* a map sees whole points: a source read in index order may hand
	 * over a point a field at a time */
	if (!strcmp(o->layout, "narrow") && !o->has_points)
		o->src.order_tag = o->series_tag ? o->series_tag : "entity_id";
	v = ferry_url_param(u, "keep_ns");
	o->keep_ns = v && strcmp(v, "0") && strcmp(v, "false");
	if ((v = ferry_url_param(u, "start")) != NULL) {
		if (val_parse_time_ns(v, &o->src.start_ns) < 0)
			return ferry_error_set(err, FERRY_EUSAGE,
				"invalid --start '%s': give an RFC 3339 time "
				"(2024-01-01T00:00:00.123456789Z) or nanoseconds since 1970", v);
		o->src.has_start = 1;
	}
	if ((v = ferry_url_param(u, "end")) != NULL) {
		if (val_parse_time_ns(v, &o->src.end_ns) < 0)
			return ferry_error_set(err, FERRY_EUSAGE,
				"invalid --end '%s': give an RFC 3339 time "
				"(2024-01-01T00:00:00.123456789Z) or nanoseconds since 1970", v);
		o->src.has_end = 1;
	}
	if (o->src.has_start && o->src.has_end && o->src.end_ns <= o->src.start_ns)
		return ferry_error_set(err, FERRY_EUSAGE, "--end must be later than --start");
	if ((v = ferry_url_param(u, "chunk_time")) != NULL &&
	    val_parse_duration(v, &o->src.chunk_ns) < 0)
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid --chunk-time '%s': use e.g. 6h, 1d, 2w", v);
	if ((v = ferry_url_param(u, "chunk_bytes")) != NULL &&
	    (ferry_size_parse(v, &o->src.chunk_bytes) < 0 || !o->src.chunk_bytes))
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid --chunk-bytes '%s': use e.g. 65536, 64M, 1GiB", v);
	o->src.precision = LP_PREC_NS;
	if ((v = ferry_url_param(u, "precision")) != NULL &&
	    lp_precision_parse(v, &o->src.precision) < 0)
		return ferry_error_set(err, FERRY_EUSAGE,
				       "invalid --precision '%s': use ns, us, ms, s, m or h", v);
	o->src.need_types = !strcmp(o->layout, "wide");
	return 0;
}

int tm_source_opts_from_url(const ferry_url *u, struct tm_source_opts *o,
			    struct ferry_error *err)
{
	struct tm_opts t;
	int rc;

	if ((rc = tm_opts_from_url(u, &t, err)) < 0)
		return rc;
	*o = t.src;
	o->order_tag = NULL;
	o->need_types = 0;
	return 0;
}

/* ---- the options into the URL ------------------------------------------ */

int ferry_ts_opts_set(const struct ferry_ts_opts *t)
{
	return t && (t->layout || t->map || t->table || t->series_tag || t->keep_ns ||
		     t->start || t->end || t->chunk_time || t->chunk_bytes || t->precision);
}

static int add_param(struct ferry_buf *b, int *first, const char *k, const char *v)
{
	const char *p;
	int e = 0;

	e |= ferry_buf_addch(b, *first ? '?' : '&');
	*first = 0;
	e |= ferry_buf_addstr(b, k);
	e |= ferry_buf_addch(b, '=');
	for (p = v; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (isalnum(ch) || strchr("-._~:/", ch))
			e |= ferry_buf_addch(b, ch);
		else
			e |= ferry_buf_addf(b, "%%%02X", ch);
	}
	return e;
}

int tm_url_add_opts(const char *src, const struct ferry_ts_opts *t, char **out,
		    struct ferry_error *err)
{
	struct ferry_buf b = FERRY_BUF_INIT;
	int first = strchr(src, '?') == NULL, e = 0;

	e |= ferry_buf_addstr(&b, src);
	if (t->layout)
		e |= add_param(&b, &first, "layout", t->layout);
	if (t->map) {
		char *abs = realpath(t->map, NULL);

		if (!abs) {
			ferry_buf_release(&b);
			return ferry_error_set(err, FERRY_EUSAGE, "cannot open map '%s': %s", t->map,
					       strerror(errno));
		}
		e |= add_param(&b, &first, "map", abs);
		/* the map's content, so that a resume with an edited map (a
		 * different result) is refused: the URL is in the fingerprint */
		{
			ferry_hash_stream *hs = ferry_hash_stream_new();
			char hex[33];

			if (!hs || ferry_hash_stream_file(hs, abs) < 0) {
				ferry_hash_stream_free(hs);
				free(abs);
				ferry_buf_release(&b);
				return hs ? ferry_error_set(err, FERRY_EUSAGE, "cannot read map '%s': %s",
							    t->map, strerror(errno)) :
					    ferry_error_set(err, FERRY_ENOMEM, "out of memory");
			}
			ferry_hash_stream_hex(hs, hex);
			ferry_hash_stream_free(hs);
			e |= add_param(&b, &first, "map_hash", hex);
		}
		free(abs);
	}
	if (t->table)
		e |= add_param(&b, &first, "table", t->table);
	if (t->series_tag)
		e |= add_param(&b, &first, "series_tag", t->series_tag);
	if (t->keep_ns)
		e |= add_param(&b, &first, "keep_ns", "1");
	if (t->start)
		e |= add_param(&b, &first, "start", t->start);
	if (t->end)
		e |= add_param(&b, &first, "end", t->end);
	if (t->chunk_time)
		e |= add_param(&b, &first, "chunk_time", t->chunk_time);
	if (t->chunk_bytes)
		e |= add_param(&b, &first, "chunk_bytes", t->chunk_bytes);
	if (t->precision)
		e |= add_param(&b, &first, "precision", t->precision);
	if (e < 0) {  /* never a cut URL */
		ferry_buf_release(&b);
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	}
	*out = ferry_buf_detach(&b, NULL);
	return *out ? 0 : ferry_error_set(err, FERRY_ENOMEM, "out of memory");
}
