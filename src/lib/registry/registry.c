/*
 * registry.c - the one place that names every store: URL scheme -> the
 * connector's ops table (golang-migrate's driver registry, curl's vtls
 * backends).  Adding a store means adding its ops table here; everything
 * else asks the table's capability bits, never a store's name.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/registry.h"
#include "ferry/tsmap.h"
#include "tsmap/tsmap.h"

extern const struct ferry_conn_ops sq_ops;    /* connectors/sqlite.c */
extern const struct ferry_conn_ops pg_ops;    /* connectors/postgres.c */
extern const struct ferry_conn_ops pt_lpf_ops;   /* connectors/points.c */
extern const struct ferry_conn_ops pt_ifx_ops;   /* connectors/points.c */
extern const struct ferry_conn_ops pt_csv_ops;   /* connectors/points.c */

static const struct ferry_conn_ops *const registry[] = {
	&sq_ops,
	&pg_ops,
	&pt_ifx_ops,
	&pt_lpf_ops,
	&pt_csv_ops,
	NULL
};

/* The point sources behind the point connectors. */
static const struct {
	const struct ferry_conn_ops *conn;
	const struct tm_source_ops *points;
} point_sources[] = {
	{ &pt_ifx_ops, &ifx_source_ops },
	{ &pt_lpf_ops, &lpf_source_ops },
	{ &pt_csv_ops, &csv_source_ops },
};

const struct tm_source_ops *ferry_point_source(const char *url)
{
	const struct ferry_conn_ops *ops = ferry_conn_url_ops(url);
	size_t i;

	for (i = 0; ops && i < sizeof(point_sources) / sizeof(point_sources[0]); i++)
		if (point_sources[i].conn == ops)
			return point_sources[i].points;
	return NULL;
}

const struct ferry_conn_ops *const *ferry_conn_list(void)
{
	return registry;
}

const struct ferry_conn_ops *ferry_conn_lookup(const char *scheme)
{
	size_t i, j;

	for (i = 0; registry[i]; i++)
		for (j = 0; registry[i]->schemes[j]; j++)
			if (!strcmp(registry[i]->schemes[j], scheme))
				return registry[i];
	return NULL;
}

const struct ferry_conn_ops *ferry_conn_url_ops(const char *url)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	const struct ferry_conn_ops *ops;
	ferry_url *u = NULL;

	if (ferry_url_parse(url, &u, &err) < 0)
		return NULL;
	ops = ferry_conn_lookup(u->scheme);
	ferry_url_free(u);
	return ops;
}

unsigned ferry_conn_url_caps(const char *url)
{
	const struct ferry_conn_ops *ops = ferry_conn_url_ops(url);

	return ops ? ops->caps : 0;
}

/*
 * The schemes of the connectors that have every capability in caps, as
 * "a:, b: or c:" (last: the word before the last one).
 */
static int scheme_list(unsigned caps, const char *last, struct ferry_buf *out)
{
	size_t i, j, n = 0, k = 0;
	int rc = 0;

	for (i = 0; registry[i]; i++)
		for (j = 0; (registry[i]->caps & caps) == caps && registry[i]->schemes[j]; j++)
			n++;
	for (i = 0; registry[i]; i++)
		for (j = 0; (registry[i]->caps & caps) == caps && registry[i]->schemes[j]; j++) {
			k++;
			if (k > 1 && rc == 0)
				rc = k == n ? ferry_buf_addf(out, " %s ", last) :
					      ferry_buf_addstr(out, ", ");
			if (rc == 0)
				rc = ferry_buf_addf(out, "%s:", registry[i]->schemes[j]);
		}
	return rc;
}

/*
 * A file store (SQLite, line protocol, CSV: FERRY_CAP_FILE) opened to be read, whose file
 * is not there: a path to fix before running again, so a usage error
 * (exit 2) whatever the connector made of it.  The connector's message
 * already names the file.
 */
static int missing_file(const struct ferry_conn_ops *ops, const ferry_url *u,
			unsigned flags)
{
	struct stat st;

	if ((flags & FERRY_OPEN_CREATE) || !(ops->caps & FERRY_CAP_FILE))
		return 0;
	if (!u->path || !u->path[0] || !strcmp(u->path, "-") || !strcmp(u->path, ":memory:"))
		return 0;
	return stat(u->path, &st) < 0 && errno == ENOENT;
}

int ferry_conn_open(const char *url, unsigned flags, ferry_conn **out,
		    struct ferry_error *err)
{
	const struct ferry_conn_ops *ops;
	ferry_url *u = NULL;
	ferry_conn *c = NULL;
	int rc;

	/* a URL that does not parse or names no store is the user's to fix:
	 * a usage error (exit 2), not a failed run */
	if ((rc = ferry_url_parse(url, &u, err)) < 0) {
		if (rc == FERRY_EPARSE)
			rc = err ? (err->code = FERRY_EUSAGE) : FERRY_EUSAGE;
		return rc;
	}
	ops = ferry_conn_lookup(u->scheme);
	if (!ops) {
		struct ferry_buf list = FERRY_BUF_INIT;

		if (scheme_list(0, "or", &list) < 0) {
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		} else {
			rc = ferry_error_set(err, FERRY_EUSAGE,
					     "unknown endpoint scheme '%s': use %s", u->scheme,
					     list.buf);
		}
		ferry_buf_release(&list);
		ferry_url_free(u);
		return rc;
	}
	if ((rc = ops->open(u, flags, &c, err)) < 0) {
		if (rc != FERRY_EUSAGE && rc != FERRY_ENOMEM && missing_file(ops, u, flags))
			rc = err ? (err->code = FERRY_EUSAGE) : FERRY_EUSAGE;
		ferry_url_free(u);
		return rc;
	}
	((struct ferry_conn_base *)c)->ops = ops;
	((struct ferry_conn_base *)c)->url = u;
	*out = c;
	return 0;
}

void ferry_conn_close(ferry_conn *c)
{
	struct ferry_conn_base *b = (struct ferry_conn_base *)c;
	ferry_url *u;

	if (!c)
		return;
	u = b->url;
	b->ops->close(c);
	ferry_url_free(u);
}

/*
 * The time-series options go into the URL of a point source (a connector
 * with FERRY_CAP_CHUNKS) and are refused for any other store.  Only the
 * text before the first ':' is looked at (as a scheme, in any case), so a
 * URL that does not parse still gets its options and the open says what
 * is wrong with it.
 */
int ferry_ts_url(const char *src, const struct ferry_ts_opts *t, char **out,
		 struct ferry_error *err)
{
	const struct ferry_conn_ops *ops = NULL;
	const char *colon = strchr(src, ':');
	char scheme[32];
	size_t i, sl = colon ? (size_t)(colon - src) : 0;
	int rc;

	if (sl && sl < sizeof(scheme)) {
		for (i = 0; i < sl; i++)
			scheme[i] = (char)tolower((unsigned char)src[i]);
		scheme[sl] = '\0';
		ops = ferry_conn_lookup(scheme);
	}
	if (!ferry_ts_opts_set(t)) {
		if (!(*out = ferry_strdup(src)))
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		return 0;
	}
	if (!ops || !(ops->caps & FERRY_CAP_CHUNKS)) {
		struct ferry_buf list = FERRY_BUF_INIT;

		if (scheme_list(FERRY_CAP_CHUNKS, "and", &list) < 0)
			rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		else
			rc = ferry_error_set(err, FERRY_EUSAGE,
				"--layout, --map, --series-tag, --keep-ns, --start, --end, "
				"--chunk-time and --precision are for %s sources", list.buf);
		ferry_buf_release(&list);
		return rc;
	}
	return tm_url_add_opts(src, t, out, err);
}
