/*
 * conn.c - what every connector shares: the handle's header
 * (ferry_conn_base: its ops table and url), double-quoted identifiers and
 * the key tokens of ordered reads.  The registry (src/lib/registry) opens
 * connections and fills the header; connectors only read it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "connectors/conn_int.h"

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

int conn_query_from(struct ferry_buf *sql, const struct ferry_query *q)
{
	int e = 0;

	e |= ferry_buf_addstr(sql, " FROM ");
	if (q->from_sql) {
		e |= ferry_buf_addch(sql, '(');
		e |= ferry_buf_addstr(sql, q->from);
		e |= ferry_buf_addstr(sql, "\n) AS ferry_q");
	} else {
		e |= conn_quote_dq(q->from, sql);
	}
	if (q->where) {
		e |= ferry_buf_addstr(sql, " WHERE (");
		e |= ferry_buf_addstr(sql, q->where);
		e |= ferry_buf_addstr(sql, "\n)");
	}
	return e;
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
