/*
 * sqlite_int.h - the SQLite connector's private parts, shared by
 * sqlite.c (open, read, write), sqlite_describe.c (the catalog) and
 * sqlite_content.c (the content id a resumed copy compares).
 */
#ifndef FERRY_SQLITE_INT_H
#define FERRY_SQLITE_INT_H

#include <sqlite3.h>

#include "connectors/conn_int.h"
#include "ferry/connector.h"

struct ferry_conn {
	struct ferry_conn_base base;
	sqlite3 *db;
	char *path;
	int lock_fd;      /* the lock file's, -1 when no lock is held */
};

/* Fill err with what failed and SQLite's message; returns code. */
int sq_err(struct ferry_conn *c, struct ferry_error *err, int code,
	   const char *what);
/* ops->describe (sqlite_describe.c): the catalog of the main database. */
int sq_describe(ferry_conn *c, const char *schema, struct ferry_catalog **out,
		struct ferry_error *err);
/* ops->content_id: a hash of the pages a reader sees (main file + WAL). */
int sq_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err);

/* A relational map's source query (sqlite_query.c, FERRY_CAP_QUERY):
 * key_range of t->query, and the prepared statement of a read of it
 * (*keyed: its first column is the key, else NULL). */
int sq_query_key_range(struct ferry_conn *c, const struct ferry_table *t, int64_t *lo,
		       int64_t *hi, int64_t *count, struct ferry_error *err);
int sq_query_stmt(struct ferry_conn *c, const struct ferry_read_spec *spec, sqlite3_stmt **st,
		  int *keyed, struct ferry_error *err);

#endif
