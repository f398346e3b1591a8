/*
 * conn_int.h - helpers shared by connector implementations.
 */
#ifndef FERRY_CONN_INT_H
#define FERRY_CONN_INT_H

#include "ferry/buf.h"

/* Append name as a double-quoted SQL identifier ("a""b"). */
int conn_quote_dq(const char *name, struct ferry_buf *out);

#include "ferry/error.h"
#include "ferry/model.h"

/* A relational map's source query (struct ferry_query): append
 * " FROM <from> [WHERE (<where>)]", a from: SELECT as a subquery; SQLite
 * and PostgreSQL read it the same way.  0 or the buffer's error. */
int conn_query_from(struct ferry_buf *sql, const struct ferry_query *q);


#endif
