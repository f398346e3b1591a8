/*
 * pg_int.h - the PostgreSQL connector's private parts, shared by
 * postgres.c (open, target: DDL, binary COPY in, locks; reads through
 * binary COPY out) and pg_source.c (the catalog of a source: columns,
 * keys, indexes, foreign keys, views; and how a table is cut into
 * chunks: primary-key ranges, or ctid ranges without such a key).
 */
#ifndef FERRY_PG_INT_H
#define FERRY_PG_INT_H

#include <libpq-fe.h>
#include <stdatomic.h>

#include "connectors/conn_int.h"
#include "ferry/connector.h"

struct ferry_conn {
	struct ferry_conn_base base;
	PGconn *pg;
	char *schema;     /* the url's ?schema=, NULL: public */
	/* on the list of live connections (pg_watch.c) */
	struct ferry_conn *live_prev, *live_next;
	char *db_key;     /* server and database, which a watch covers; NULL:
			   * not listed */
	int pid;          /* the backend's */
	_Atomic int64_t busy_us;  /* when the statement running now began
				   * (ferry_now() in microseconds), 0: none */
};

/*
 * pg_watch.c: the live connections a lock watch looks at.  pg_live_add
 * lists c once it is connected (out of memory only leaves it off the
 * list: it is then not watched), pg_live_remove before it closes.
 * pg_busy(c, 1) marks the start of a statement of c (a COPY from its
 * start to its end), pg_busy(c, 0) its end: an atomic store, from
 * whichever thread runs c.
 */
void pg_live_add(ferry_conn *c);
void pg_live_remove(ferry_conn *c);
void pg_busy(ferry_conn *c, int on);
/* The ops of a lock watch (ferry_conn_ops V3). */
int pg_watch_start(ferry_conn *c, const struct ferry_watch_opts *o, ferry_watch **out,
		   struct ferry_error *err);
int pg_watch_seen(ferry_watch *w, const ferry_conn *c, double since, struct ferry_buf *out);
void pg_watch_stop(ferry_watch *w, struct ferry_buf *said);

/* Fill err from the connection or a result (see postgres.c); returns
 * the FERRY_E* code. */
int pg_fail(PGconn *pg, PGresult *res, struct ferry_error *err, const char *what);

/* ops->describe (pg_source.c). */
int pg_describe(ferry_conn *c, const char *schema, struct ferry_catalog **out,
		struct ferry_error *err);

/* ops->content_id (pg_source.c): per table, its row count and a sum of
 * row hashes computed by the server. */
int pg_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err);

/*
 * The connection string for libpq of url->raw without ferry's own query
 * parameter schema= (libpq refuses parameters it does not know); the
 * schema's name, decoded, in *schema (NULL when absent), owned by the
 * caller.  0 or FERRY_ENOMEM.
 */
int pg_conninfo(const ferry_url *url, struct ferry_buf *out, char **schema);

/*
 * The key a read of t cuts and names rows by: the index among the
 * visible columns of its single-column integer primary key, or -1.
 */
int pg_key_col(const struct ferry_table *t);

/* FERRY_CAP_QUERY (pg_query.c): a query table's (ferry_table.query) key
 * range, and the COPY statement that reads spec's range of it into out,
 * its columns' decoding types in types (t->ncols of them); with a key,
 * the statement's first field is the key, as a bigint. */
int pg_query_key_range(ferry_conn *c, const struct ferry_table *t, int64_t *lo, int64_t *hi,
		       int64_t *count, struct ferry_error *err);
int pg_query_copy_sql(ferry_conn *c, const struct ferry_read_spec *spec, struct ferry_buf *out,
		      int *types, struct ferry_error *err);

/* A table without such a key that is read in ctid ranges: a batch key
 * is the row's ctid as block << 16 | line (see pg_source.c). */
static inline int pg_by_ctid(const struct ferry_table *t)
{
	return !t->query && !t->without_rowid && pg_key_col(t) < 0;
}

/* The type ferry reads a column of type oid as, FERRY_T_UNKNOWN when it
 * has no binary decoder for it (the column is read as its text). */
int pg_type_of_oid(uint32_t oid);

#endif
