/*
 * walk.h - the files of a directory source (walk.c), shared by lp://DIR
 * and csv://DIR (prefix tm_walk).
 */
#ifndef FERRY_TM_WALK_H
#define FERRY_TM_WALK_H

#include <stddef.h>

#include "ferry/buf.h"
#include "ferry/error.h"

/* Paths relative to the root, bytewise sorted; skipped: what was left out
 * and why ("a.txt (not .lp or .lp.gz)"), for tm_walk_note(). */
struct tm_walk {
	char **files;
	size_t nfiles;
	char **skipped;
	size_t nskipped;
};

/* exts: NULL-terminated name endings, matched without case (".lp"). */
int tm_walk(const char *root, const char *const *exts, struct tm_walk *out,
	    struct ferry_error *err);
void tm_walk_release(struct tm_walk *w);
/* One line for the summary naming what was skipped; nothing when nothing. */
int tm_walk_note(const struct tm_walk *w, const char *root, struct ferry_buf *out);

#endif
