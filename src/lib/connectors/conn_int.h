/*
 * conn_int.h - helpers shared by connector implementations.
 */
#ifndef FERRY_CONN_INT_H
#define FERRY_CONN_INT_H

#include "ferry/buf.h"

/* Append name as a double-quoted SQL identifier ("a""b"). */
int conn_quote_dq(const char *name, struct ferry_buf *out);

#include "ferry/error.h"

/* Copy the SQLite database at src_url to dest_path with the online backup
 * API: one consistent state even while an application writes to it. */
int sq_snapshot(const char *src_url, const char *dest_path, struct ferry_error *err);

#endif
