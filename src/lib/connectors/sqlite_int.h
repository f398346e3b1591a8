/*
 * sqlite_int.h - the SQLite connector's private parts, shared by
 * sqlite.c (open, describe, read, write) and sqlite_content.c (the
 * content id a resumed copy compares).
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
/* ops->content_id: a hash of the pages a reader sees (main file + WAL). */
int sq_content_id(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err);

#endif
