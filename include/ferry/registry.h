/*
 * registry.h - the one place that names every store: URL scheme -> the
 * connector's ops table (src/lib/registry/registry.c).  Everything above
 * it (copy, verify, migrate, the CLI) opens stores through here and asks
 * the ops table's capability bits (FERRY_CAP_*), never a store's name.
 *
 * A ferry_conn returned by ferry_conn_open is owned by the caller and
 * closed with ferry_conn_close; ops tables are static and never freed.
 */
#ifndef FERRY_REGISTRY_H
#define FERRY_REGISTRY_H

#include "ferry/connector.h"
#include "ferry/error.h"
#include "ferry/tsmap.h"

/* Look up the connector for a scheme ("postgresql" -> postgres); NULL if none. */
const struct ferry_conn_ops *ferry_conn_lookup(const char *scheme);
/* The connector url names, NULL when it does not parse or names none;
 * nothing is opened. */
const struct ferry_conn_ops *ferry_conn_url_ops(const char *url);
/* The capabilities (FERRY_CAP_*) of the connector url names, 0 when it
 * names none; nothing is opened. */
unsigned ferry_conn_url_caps(const char *url);
/* The point source (tsmap.h) behind the connector url names, NULL when
 * it is not a point source (FERRY_CAP_CHUNKS); nothing is opened. */
struct tm_source_ops;
const struct tm_source_ops *ferry_point_source(const char *url);
/* All registered connectors, NULL-terminated. */
const struct ferry_conn_ops *const *ferry_conn_list(void);

/* Parse url, find its connector and open it.  On failure the message never
 * contains a password; a connection problem is FERRY_ECONN, a refused
 * statement FERRY_ESQL (one translation, in the connector). */
int ferry_conn_open(const char *url, unsigned flags, ferry_conn **out,
		    struct ferry_error *err);
void ferry_conn_close(ferry_conn *c);

/*
 * *out = src with the time-series options t appended as query parameters
 * (the map path made absolute; ferry/tsmap.h), or a copy of src when t
 * sets none.  Fails with FERRY_EUSAGE when options are given for a source
 * that is not a point source (FERRY_CAP_CHUNKS).  *out is the caller's
 * (ferry_free).
 */
int ferry_ts_url(const char *src, const struct ferry_ts_opts *t, char **out,
		 struct ferry_error *err);

#endif
