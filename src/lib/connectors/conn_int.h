/*
 * conn_int.h - helpers shared by connector implementations.
 */
#ifndef FERRY_CONN_INT_H
#define FERRY_CONN_INT_H

#include "ferry/buf.h"

/* Append name as a double-quoted SQL identifier ("a""b"). */
int conn_quote_dq(const char *name, struct ferry_buf *out);

#include "ferry/error.h"

/* The files of a directory source (walk.c): paths relative to the root,
 * bytewise sorted; skipped: what was left out and why ("a.txt (not .lp
 * or .lp.gz)"), for conn_walk_note(). */
struct conn_walk {
	char **files;
	size_t nfiles;
	char **skipped;
	size_t nskipped;
};

/* exts: NULL-terminated name endings, matched without case (".lp"). */
int conn_walk(const char *root, const char *const *exts, struct conn_walk *out,
	      struct ferry_error *err);
void conn_walk_release(struct conn_walk *w);
/* One line for the summary naming what was skipped; nothing when nothing. */
int conn_walk_note(const struct conn_walk *w, const char *root, struct ferry_buf *out);

#endif
