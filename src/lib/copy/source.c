/*
 * source.c - opening the source of a copy, the one sequence ferry copy
 * and ferry verify share: say why a time-series source keeps the user
 * waiting (it reads its catalog and plans its chunks when it opens), open
 * it read-only, and refuse a store the row path cannot read.
 */
#include <string.h>

#include "copy/planner.h"
#include "ferry/connector.h"
#include "ferry/registry.h"
#include "ferry/url.h"

int copy_open_source(const char *url, const char *doing, ferry_progress *progress,
		     ferry_conn **out, struct ferry_error *err)
{
	const struct ferry_conn_ops *ops;
	ferry_conn *c = NULL;
	int rc;

	/* a time-series source reads its catalog (InfluxDB: a query or more
	 * per measurement) or scans its files when it opens: say so */
	if (ferry_conn_url_caps(url) & FERRY_CAP_CHUNKS)
		ferry_progress_note(progress, "reading the source's catalog and planning its chunks");
	if ((rc = ferry_conn_open(url, FERRY_OPEN_READONLY, &c, err)) < 0) {
		ferry_error_prefix(err, "cannot open the source");
		return rc;
	}
	ops = ferry_conn_ops_of(c);
	/* the planner and transform read SQLite's storage classes, the typed
	 * rows of a time-series source's layout (tsmap), or a typed row
	 * store's (PostgreSQL) */
	if (!(ops->caps & FERRY_CAP_READ) ||
	    !(ops->caps & (FERRY_CAP_UNTYPED | FERRY_CAP_CHUNKS | FERRY_CAP_TYPED))) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
			"%s from '%s' is not supported yet: the source must be sqlite:, "
			"postgres:, influx:, lp: or csv:", doing, ops->name);
		ferry_conn_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

int copy_source_is_stdin(const char *url)
{
	struct ferry_error e = FERRY_ERROR_INIT;
	ferry_url *u = NULL;
	int yes;

	if (ferry_url_parse(url, &u, &e) < 0)
		return 0;
	yes = u->path && !strcmp(u->path, "-") && !strcmp(u->scheme, "lp");
	ferry_url_free(u);
	return yes;
}
