/*
 * tm_int.h - internals of the telemetry mapping: the options a point
 * reader (reader.c) reads from its URL, the layouts (narrow, wide, a user's map)
 * as lists of target columns with where each value comes from, and the
 * row builder.
 */
#ifndef FERRY_TM_INT_H
#define FERRY_TM_INT_H

#include <stdatomic.h>

#include "ferry/model.h"
#include "tsmap/tsmap.h"

/* Where a target column's value comes from. */
enum tm_from {
	TF_TIME = 1,     /* timestamptz, microseconds (nanoseconds floored) */
	TF_TIME_NS,      /* bigint nanoseconds since 1970 */
	TF_SERIES,       /* --series-tag value, else the canonical series key */
	TF_MEASUREMENT,
	TF_FIELD,        /* field key (one row per field) */
	TF_TAGS,         /* every tag as a JSON object */
	TF_TAG,          /* one tag (arg); wide: '' when absent, map: NULL */
	TF_TEMPLATE,     /* arg with {measurement} {field} {series} {tag.X} */
	TF_NUMERIC,      /* float or integer field value */
	TF_INTEGER,      /* integer or unsigned field value */
	TF_TEXT,         /* string field value */
	TF_BOOL,         /* boolean field value */
	TF_VALUE,        /* the field value as it is */
	TF_JSON,         /* the field value as JSON */
	TF_WIDE_FIELD    /* wide: the value of field arg (cast to the column) */
};

struct tm_col {
	char *name;
	int from;            /* enum tm_from */
	char *arg;
	int type;            /* enum ferry_type for a table ferry creates */
	int notnull;
	unsigned ftypes;     /* TF_WIDE_FIELD: the types seen */
	/* map: bit i set once a point had the tag of the column (TF_TAG, bit
	 * 0) or of its i-th {tag.X} (TF_TEMPLATE): a tag never seen is a
	 * warning.  Set by the row builders of every worker. */
	_Atomic unsigned tag_seen;
};

struct tm_table {
	char *name;
	struct tm_col *cols;
	size_t ncols;
	int per_point;       /* wide: one row per point; else one per field */
	int measurement;     /* wide: schema index; else -1 (all) */
	int exists;          /* a map target: the table is the user's */
	char **inc_m, **exc_m, **inc_f, **exc_f;  /* map filters (globs), NULL-ended */
	size_t *chunks;      /* ordinals into the shared chunk list */
	size_t nchunks;
	int64_t est;
	unsigned value_types;/* per-field tables: TM_TYPE_BIT()s some column takes */
	int merge_all;       /* wide from files: the points of a key may be in any
			      * chunk, so the table is one unit of work (chunk
			      * ordinal 0) whose points are merged together */
	int ordered;         /* the chunks are in the order of the narrow
			      * (series, measurement, field, time desc) index */
};

struct tm_opts {
	const char *layout;   /* "narrow", "wide", "map" */
	const char *map_path;
	int has_points;       /* the map file has points: rules (a point map) */
	const char *table;    /* narrow table name */
	const char *series_tag;  /* NULL: entity_id when present */
	int keep_ns;
	struct tm_source_opts src;
};

/* Read the mapping options from the URL's query (layout=, map=, table=,
 * series_tag=, keep_ns=, start=, end=, chunk_time=, chunk_bytes=,
 * precision=).  Strings are borrowed from the URL. */
int tm_opts_from_url(const ferry_url *u, struct tm_opts *o, struct ferry_error *err);

struct tm_layout {
	struct tm_table *t;
	size_t n;
	char **notes;
	size_t nnotes;
};

/* Build the tables of the chosen layout for a schema and its chunks. */
int tm_layout_build(struct tm_layout *l, const struct tm_opts *o,
		    const struct tm_schema *sch, const struct tm_chunk *ck, size_t nck,
		    struct ferry_error *err);
void tm_layout_release(struct tm_layout *l);
/* mapping.c's builders, shared with tablemap.c: a table added to l (NULL
 * when out of memory); a column added to t (FERRY_ENOMEM); the index of
 * column name in t or -1; t's chunks of measurement m (every one when
 * m < 0) and its estimated rows (per_value: a row per field value). */
struct tm_table *tm_layout_add_table(struct tm_layout *l, const char *name);
int tm_table_add_col(struct tm_table *t, const char *name, int from, const char *arg,
		     int type, int notnull);
int tm_table_col(const struct tm_table *t, const char *name);
int tm_table_chunks(struct tm_table *t, const struct tm_schema *sch, const struct tm_chunk *ck,
		    size_t nck, int m, int per_value);
/* The table of a map file with target: and columns: (tablemap.c). */
int tm_map_load(struct tm_layout *l, const char *path, const struct tm_schema *sch,
		const struct tm_chunk *ck, size_t nck, struct ferry_error *err);
/* The layout as a catalog (typed columns, indexes, keys). */
int tm_layout_catalog(const struct tm_layout *l, const struct tm_opts *o,
		      struct ferry_catalog **out, struct ferry_error *err);

/* The relay's wide layout, which grows as points arrive: *ti = the table
 * of p's measurement in l (added when new), with a column for each of
 * p's tags and fields it lacked, named and typed as build_wide() does
 * for a source whose points are those seen so far.  A field of a type
 * its column cannot take (wide_type() of the types seen would differ)
 * refuses p before anything grows: 1, why set, *ti the table; any other
 * refusal leaves *ti SIZE_MAX.  0, or FERRY_ENOMEM. */
int tm_wide_grow(struct tm_layout *l, const struct tm_opts *o, const struct tm_point *p,
		 size_t *ti, char *why, size_t nwhy);

/* Turns points into rows of one table. */
struct tm_rows {
	const struct tm_table *t;
	const struct tm_opts *o;
	struct ferry_batch *b;
	struct ferry_buf scratch;
	struct ferry_buf series, tags;  /* the current point's, reused */
	struct ferry_buf prev;          /* measurement and tags of the point
					 * before: when this point's are equal,
					 * series and tags above are still right */
	uint64_t prev_id;               /* the series_id of the point before
					 * (0: none), when prev holds its parts */
	int prev_text_ok;               /* prev's parts are UTF-8 without NUL */
	struct ferry_buf fkey;          /* the field name checked last, */
	int fkey_ok;                    /* and whether it is UTF-8 without NUL */
	int have_series, have_tags;     /* built for the point before */
	uint64_t ns_cut;     /* points whose nanoseconds did not fit microseconds */
	/* a point field no column takes: reported through this */
	int (*reject)(void *ud, int64_t key, const char *column, const char *reason,
		      const void *raw, size_t n, struct ferry_error *err);
	void *reject_ud;
};

/* Append the rows of point p to r->b (which has room: the caller flushes
 * when r->b->nrows + p->nfields > cap).  0, or a negative FERRY_E*. */
int tm_rows_add(struct tm_rows *r, const struct tm_point *p, struct ferry_error *err);
/* Free the row builder's buffers (it is zeroed by the caller to start). */
void tm_rows_release(struct tm_rows *r);

/* The point (or only one field of it) as line protocol, for a reject. */
int tm_point_lp(const struct tm_point *p, const struct lp_field *only, struct ferry_buf *b);

/* The wide layout's merge by primary key (merge.c): last write of each
 * field wins, in the order the points are added. */
struct ment;
struct mval;
struct tm_merge {
	const struct tm_table *t;
	struct lp_str measurement;
	int by_ns;                 /* the key's time is time_ns (keep_ns) */
	size_t *tagcol, ntags;     /* column indexes of the tags, in key order */
	size_t *fieldcol, nfields; /* of the fields, in bytewise name order */
	struct ment *ents;
	struct mval *vals;         /* nfields per entry */
	size_t nents, cap;
	size_t *slots, nslots;     /* open addressing: entry index + 1 */
	struct ferry_buf arena, key;
};

/* Where a point that cannot be merged goes (see tm_reject_fn). */
struct tm_merge_sink {
	int (*reject)(void *ud, int64_t key, const char *column, const char *reason,
		      const void *raw, size_t n, struct ferry_error *err);
	void *ud;
	const char *key_label;     /* what keys are: "line", "point" */
};

int tm_merge_init(struct tm_merge *m, const struct tm_table *t, struct lp_str measurement,
		  int by_ns);
/* Merge point p into its key's row; a point that differs from the row's
 * only below the microsecond (by_ns off) goes to sk->reject. */
int tm_merge_add(struct tm_merge *m, const struct tm_point *p, const struct tm_merge_sink *sk,
		 struct ferry_error *err);
/* Every merged point to fn, in the order of their keys' first points;
 * then empty.  A value its column cannot hold is left out of its point
 * and goes to sk->reject with the key (line) of the point that wrote it;
 * a point left without a field is not handed on.  fn's non-zero return
 * is returned. */
int tm_merge_flush(struct tm_merge *m, const struct tm_merge_sink *sk, tm_point_fn fn,
		   void *ud, struct ferry_error *err);
void tm_merge_release(struct tm_merge *m);

/* ---- map files (mapfile.c): what the table map and the point map share ---- */

#include <libfyaml.h>
#include "wire/yaml.h"

/* struct tm_mapfile, tm_yaml_load and tm_yaml_bad: tsmap.h (relational
 * maps in copy/ read their YAML with them too) */
/* A string or a list of strings -> NULL-terminated array (*out is set
 * even on error: free it with tm_strs_free). */
int tm_yaml_list(struct tm_mapfile *c, struct fy_node *n, char ***out);
void tm_strs_free(char **v);
/* Does s[0..n) match one of the NULL-ended fnmatch globs? */
int tm_glob_any(char *const *globs, const char *s, size_t n);

#endif
