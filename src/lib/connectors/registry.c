/*
 * registry.c - connectors by URL scheme.  Adding a store means adding its
 * ops table here; nothing else in ferry names a store.
 */
#include <errno.h>
#include <stdlib.h>
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
		rc = ferry_error_set(err, FERRY_EUSAGE,
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

static int hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

int ferry_key_token(const char **pp, int last, struct ferry_key_token *t,
		    struct ferry_buf *scratch)
{
	const char *p = *pp, *e = strchr(p, ',');
	size_t len = e ? (size_t)(e - p) : strlen(p), i;

	if (len == 0 || last != (e == NULL))
		return -1;
	memset(t, 0, sizeof(*t));
	switch (p[0]) {
	case 'i': {
		char num[32], *end;

		if (len < 2 || len - 1 >= sizeof(num))
			return -1;
		memcpy(num, p + 1, len - 1);
		num[len - 1] = '\0';
		errno = 0;
		t->i = strtoll(num, &end, 10);
		if (*end || errno)
			return -1;
		t->kind = FERRY_V_INT;
		break;
	}
	case 'r': {
		uint64_t u = 0;

		if (len != 17)
			return -1;
		for (i = 1; i < len; i++) {
			int h = hexval((unsigned char)p[i]);

			if (h < 0)
				return -1;
			u = u << 4 | (uint64_t)h;
		}
		memcpy(&t->d, &u, sizeof(t->d));
		t->kind = FERRY_V_REAL;
		break;
	}
	case 't':
	case 'b':
		if ((len - 1) % 2)
			return -1;
		ferry_buf_clear(scratch);
		for (i = 1; i < len; i += 2) {
			int hi = hexval((unsigned char)p[i]), lo = hexval((unsigned char)p[i + 1]);

			if (hi < 0 || lo < 0 || ferry_buf_addch(scratch, hi << 4 | lo) < 0)
				return -1;
		}
		t->kind = p[0] == 't' ? FERRY_V_TEXT : FERRY_V_BLOB;
		t->bytes = scratch->len ? scratch->buf : "";
		t->n = scratch->len;
		break;
	case 'n':
		if (len != 1)
			return -1;
		t->kind = FERRY_V_NULL;
		break;
	default:
		return -1;
	}
	*pp = e ? e + 1 : p + len;
	return 0;
}
