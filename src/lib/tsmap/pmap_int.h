/*
 * pmap_int.h - a loaded point map (pmap.c loads it, pmap_apply.c applies
 * it): the rules as parsed, read-only once loaded but for the hit counts.
 */
#ifndef FERRY_PMAP_INT_H
#define FERRY_PMAP_INT_H

#include <stdatomic.h>

#include "tsmap/tm_int.h"

enum { PM_LIT, PM_MEAS, PM_TAG, PM_FIELD };

struct pm_part {
	int kind;            /* PM_* */
	char *s;             /* PM_LIT: the text; PM_TAG: the tag's name */
	size_t n;
};

struct pm_tpl {
	struct pm_part *p;
	size_t n, cap;
	char *text;          /* as written, for messages */
	int uses_field, uses_tag;
};

enum { PM_CAST_NONE, PM_CAST_INT, PM_CAST_FLOAT, PM_CAST_STRING, PM_CAST_BOOL };

struct pm_field {
	char *name;          /* the new field */
	char *src;           /* the source field, or tag (src_tag) */
	int src_tag;
	int cast;            /* PM_CAST_* */
	int has_scale, has_offset;
	double scale, offset;  /* scale is 1 when not given */
	int line;
};

struct pm_cond {
	char *key;
	char **globs;        /* NULL-ended: the tag's value matches one */
};

struct pm_tagmap {
	char *name;
	struct pm_tpl tpl;
};

struct pm_ftag {
	char *tag, *field;   /* field_tags: tag <- field */
};

struct pm_rule {
	int line;
	char *from_text;     /* from: as the unmatched warning shows it */
	char **mglob;        /* the measurement glob, NULL-ended */
	struct pm_cond *conds;
	size_t nconds;
	int has_to, per_field;
	struct pm_tpl to;
	struct pm_tagmap *tags;
	size_t ntags;
	char **drop_tags;    /* NULL-ended, or NULL */
	int drop_all;
	struct pm_field *fields;
	size_t nfields;
	struct pm_ftag *ftags;
	size_t nftags;
	int only_named, drop;
	_Atomic uint64_t hits;
};

struct tm_pmap {
	char *path;
	char digest[33];
	struct pm_rule *r;
	size_t n;
};

#endif
