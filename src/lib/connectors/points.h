/*
 * points.h - the point sources as row-store connectors (points.c, prefix
 * pt_): a tsmap reader (src/lib/tsmap/reader.c) behind a connector handle.
 * The registry knows the ops tables (ifx_ops, lpf_ops, csv_ops) by name;
 * pt_conn_open and the ops are here for a point source of one's own (the
 * unit tests' in-memory source).  Ownership as in ferry/connector.h.
 */
#ifndef FERRY_CONN_POINTS_H
#define FERRY_CONN_POINTS_H

#include "ferry/connector.h"
#include "tsmap/tsmap.h"

/* Open sops at url (read-only: FERRY_OPEN_CREATE is refused). */
int pt_conn_open(const struct tm_source_ops *sops, const ferry_url *url,
		 unsigned flags, ferry_conn **out, struct ferry_error *err);
void pt_conn_close(ferry_conn *c);
int pt_conn_describe(ferry_conn *c, const char *schema, struct ferry_catalog **out,
		     struct ferry_error *err);
int pt_conn_key_range(ferry_conn *c, const struct ferry_table *t, int64_t *lo,
		      int64_t *hi, int64_t *count, struct ferry_error *err);
int pt_conn_read(ferry_conn *c, const struct ferry_read_spec *spec, ferry_batch_fn fn,
		 void *ud, struct ferry_error *err);
int pt_conn_notes(ferry_conn *c, struct ferry_buf *out);
int pt_conn_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err);

#endif
