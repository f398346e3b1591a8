/*
 * registry.c - connectors by URL scheme.  Adding a store means adding its
 * ops table here; nothing else in ferry names a store.
 */
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "connectors/conn_int.h"

extern const struct ferry_conn_ops sq_ops;
extern const struct ferry_conn_ops pg_ops;
extern const struct ferry_conn_ops lpf_ops;
extern const struct ferry_conn_ops ifx_ops;
extern const struct ferry_conn_ops csv_ops;

static const struct ferry_conn_ops *const registry[] = {
	&sq_ops,
	&pg_ops,
	&ifx_ops,
	&lpf_ops,
	&csv_ops,
	NULL
};

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

int ferry_conn_open(const char *url, unsigned flags, ferry_conn **out,
		    struct ferry_error *err)
{
	const struct ferry_conn_ops *ops;
	ferry_url *u = NULL;
	ferry_conn *c = NULL;
	int rc;

	if ((rc = ferry_url_parse(url, &u, err)) < 0)
		return rc;
	ops = ferry_conn_lookup(u->scheme);
	if (!ops) {
		rc = ferry_error_set(err, FERRY_EUNSUPPORTED,
			"unknown endpoint scheme '%s': use sqlite:, postgres:, postgresql:, influx:, lp: or csv:",
			u->scheme);
		ferry_url_free(u);
		return rc;
	}
	if ((rc = ops->open(u, flags, &c, err)) < 0) {
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

const struct ferry_conn_ops *ferry_conn_ops_of(const ferry_conn *c)
{
	return ((const struct ferry_conn_base *)c)->ops;
}

const ferry_url *ferry_conn_url(const ferry_conn *c)
{
	return ((const struct ferry_conn_base *)c)->url;
}

int conn_quote_dq(const char *name, struct ferry_buf *out)
{
	const char *p;
	int rc;

	if ((rc = ferry_buf_addch(out, '"')) < 0)
		return rc;
	for (p = name; *p; p++)
		if ((rc = ferry_buf_addch(out, *p)) < 0 ||
		    (*p == '"' && (rc = ferry_buf_addch(out, '"')) < 0))
			return rc;
	return ferry_buf_addch(out, '"');
}
