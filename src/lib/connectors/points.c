/*
 * points.c - the point sources (InfluxDB, line-protocol files, CSV) as
 * row-store connectors: the influx:, lp: and csv: ops tables.
 *
 * Each wraps a tsmap reader (src/lib/tsmap/reader.c) of its point source
 * (tm_source_ops, src/lib/tsmap/sources/): describe() gives the tables of
 * the layout the URL's options choose; key_range() gives chunk ordinals
 * (FERRY_CAP_CHUNKS: the copy makes one checkpointed chunk per ordinal);
 * read() reads those chunks and turns their points into rows.  This file
 * only translates between the connector interface and the reader, so the
 * point layer below knows nothing of connectors.
 */
#include <stdlib.h>

#include "ferry/alloc.h"
#include "connectors/conn_int.h"
#include "connectors/points.h"

struct pt_conn {
	struct ferry_conn_base base;
	struct tm_reader *rd;
};

int pt_conn_open(const struct tm_source_ops *sops, const ferry_url *url, unsigned flags,
		 ferry_conn **out, struct ferry_error *err)
{
	struct pt_conn *c;
	int rc;

	if (flags & FERRY_OPEN_CREATE)
		return ferry_error_set(err, FERRY_EUNSUPPORTED,
				       "'%s' sources can only be read, not written", sops->name);
	if (!(c = ferry_calloc(1, sizeof(*c))))
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	if ((rc = tm_reader_open(sops, url, &c->rd, err)) < 0) {
		ferry_free(c);
		return rc;
	}
	*out = (ferry_conn *)c;
	return 0;
}

void pt_conn_close(ferry_conn *fc)
{
	struct pt_conn *c = (struct pt_conn *)fc;

	if (!c)
		return;
	tm_reader_close(c->rd);
	ferry_free(c);
}

int pt_conn_describe(ferry_conn *fc, const char *schema, struct ferry_catalog **out,
		     struct ferry_error *err)
{
	(void)schema;
	return tm_reader_catalog(((struct pt_conn *)fc)->rd, out, err);
}

int pt_conn_key_range(ferry_conn *fc, const struct ferry_table *t, int64_t *lo, int64_t *hi,
		      int64_t *count, struct ferry_error *err)
{
	return tm_reader_key_range(((struct pt_conn *)fc)->rd, t->name, lo, hi, count, err);
}

int pt_conn_read(ferry_conn *fc, const struct ferry_read_spec *spec, ferry_batch_fn fn,
		 void *ud, struct ferry_error *err)
{
	struct tm_read_spec rs = {
		.table = spec->table->name,
		.has_range = spec->has_range,
		.lo = spec->lo,
		.hi = spec->hi,
		.batch_rows = spec->batch_rows,
		.batch_bytes = spec->batch_bytes,
		.reject = spec->reject,
		.reject_ud = spec->reject_ud,
		.then_next = spec->then_next,
	};

	return tm_reader_read(((struct pt_conn *)fc)->rd, &rs, fn, ud, err);
}

int pt_conn_notes(ferry_conn *fc, struct ferry_buf *out)
{
	return tm_reader_notes(((struct pt_conn *)fc)->rd, out);
}

int pt_conn_content_id(ferry_conn *fc, struct ferry_buf *out, struct ferry_error *err)
{
	return tm_reader_content_id(((struct pt_conn *)fc)->rd, out, err);
}

/* InfluxQL quotes identifiers as SQL does. */
static int quote_ident(const char *name, struct ferry_buf *out)
{
	return conn_quote_dq(name, out);
}

/* ---- the ops tables ------------------------------------------------------ */

static int ifx_conn_open(const ferry_url *url, unsigned flags, ferry_conn **out,
			 struct ferry_error *err)
{
	return pt_conn_open(&ifx_source_ops, url, flags, out, err);
}

static int lpf_conn_open(const ferry_url *url, unsigned flags, ferry_conn **out,
			 struct ferry_error *err)
{
	return pt_conn_open(&lpf_source_ops, url, flags, out, err);
}

static int csv_conn_open(const ferry_url *url, unsigned flags, ferry_conn **out,
			 struct ferry_error *err)
{
	return pt_conn_open(&csv_source_ops, url, flags, out, err);
}

/* Read-only sources of typed rows cut into chunks of points; lp and csv
 * read a local file or directory (FERRY_CAP_FILE: the path itself, no
 * files beside it). */
#define PT_CAPS (FERRY_CAP_READ | FERRY_CAP_DESCRIBE | FERRY_CAP_KEYRANGE | FERRY_CAP_CHUNKS)

static const char *const pt_file_sides[] = { "", NULL };

#define PT_OPS(nm, sch, op, caps_, sides)		\
	{						\
		.version = FERRY_CONN_OPS_V2,		\
		.name = nm,				\
		.schemes = sch,				\
		.caps = caps_,				\
		.open = op,				\
		.close = pt_conn_close,			\
		.describe = pt_conn_describe,		\
		.key_range = pt_conn_key_range,		\
		.read = pt_conn_read,			\
		.quote_ident = quote_ident,		\
		.notes = pt_conn_notes,			\
		.content_id = pt_conn_content_id,	\
		.file_sides = sides,			\
	}

static const char *const ifx_schemes[] = { "influx", NULL };
static const char *const lpf_schemes[] = { "lp", NULL };
static const char *const csv_schemes[] = { "csv", NULL };

const struct ferry_conn_ops pt_ifx_ops = PT_OPS("influx", ifx_schemes, ifx_conn_open,
					     PT_CAPS | FERRY_CAP_POINTS, NULL);
const struct ferry_conn_ops pt_lpf_ops = PT_OPS("lp", lpf_schemes, lpf_conn_open,
					     PT_CAPS | FERRY_CAP_FILE | FERRY_CAP_POINTS,
					     pt_file_sides);
const struct ferry_conn_ops pt_csv_ops = PT_OPS("csv", csv_schemes, csv_conn_open,
					     PT_CAPS | FERRY_CAP_FILE, pt_file_sides);
