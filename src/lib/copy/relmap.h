/*
 * relmap.h - relational maps (rows -> rows): `ferry copy SRC DST --map
 * FILE.yaml` and `ferry verify ... --map FILE.yaml` with a top-level
 * `tables:`, an application's old schema into its new one.
 *
 *   relmap_load.c  the YAML file -> struct relmap (every error names the
 *                  file and line)
 *   relmap.c       the copy plan of a map (one table_plan per target
 *                  table, its source a ferry_table with a query: see
 *                  FERRY_CAP_QUERY), the load order, and the lookups
 *
 * A mapped table's source is the query the connector runs (model.h's
 * struct ferry_query): the pipeline, the checkpoints, the rejects and
 * verify read it as they read a stored table.  Lookups are resolved in
 * ferry, not in SQL: before its first chunk a table's lookups read the
 * (target column -> returned column) pairs of the looked-up target table,
 * which the load order has loaded completely by then (the gate), and
 * xf_batch replaces each looked-up value with its pair's, or rejects the
 * row naming the value and the map line.
 */
#ifndef FERRY_COPY_RELMAP_H
#define FERRY_COPY_RELMAP_H

#include <pthread.h>

#include "copy/planner.h"

struct rm_dict;

struct relmap_lookup {
	char *table;       /* the target table looked in */
	char *match;       /* its column that holds the value */
	char *get;         /* its column whose value fills ours (NULL: its key) */
	int line;
	size_t col;        /* the column of our table it fills */
	struct rm_dict *dict;
};

struct relmap_col {
	char *name;        /* target column */
	char *expr;        /* source expression (SQL of the source) */
	char *type;        /* the type of a column the map creates, or NULL */
	int line;
	int lookup;        /* index into the table's lookups, or -1 */
};

struct relmap_table {
	char *name;        /* target table */
	int line;
	char *from, *key, *where;
	int from_sql, from_line, key_line, where_line;
	struct relmap_col *cols;
	size_t ncols;
	struct relmap_lookup *lookups;
	size_t nlookups;
	const char *path;  /* the map file (the relmap's) */
	int level;         /* load level: after every table of a lower one */
	/* built by copy_relmap_plan */
	struct ferry_query query;
	struct ferry_table src;
	pthread_mutex_t lock;
	int loaded;        /* lookups read */
};

struct relmap {
	char *path;
	char digest[33];   /* of the file's bytes: part of the job's fingerprint */
	struct relmap_table *t;  /* in load order once copy_relmap_plan ran */
	size_t n;
	const struct ferry_catalog *tcat;  /* the target's, during copy_relmap_plan */
	int locks;         /* the tables' locks are initialized */
	char *gate;        /* SQL on ferry.progress p: may p be claimed yet? NULL
			    * when every table is of level 0 */
};

/* Does the YAML map at path have a top-level `tables:`?  0 no, 1 yes, or
 * a negative FERRY_E* (err names the file, line). */
int copy_relmap_is(const char *path, struct ferry_error *err);
/* Parse it.  FERRY_EUSAGE naming the file and line of what is wrong. */
int copy_relmap_load(const char *path, struct relmap **out, struct ferry_error *err);
void copy_relmap_free(struct relmap *m);

/*
 * The plan of map m against the source src (its catalog scat) and the
 * target (tcat): checks every table, column, expression and lookup (each
 * error naming the map line), puts the tables in load order (lookups and
 * foreign keys; a cycle of lookups is an error naming their lines) and
 * makes m->gate.  verify: every target table must exist.  pl->tables[i].map
 * points into m, which must outlive the plan.
 */
int copy_relmap_plan(struct plan *pl, struct relmap *m, ferry_conn *src,
		const struct ferry_catalog *scat, const struct ferry_catalog *tcat,
		const char *schema, int verify, struct ferry_error *err);
/* Read the lookups of t from the target dst (once; thread-safe). */
int copy_relmap_lookups(struct relmap_table *t, ferry_conn *dst, const char *schema,
			struct ferry_error *err);
/* In xf_batch: replace the looked-up cells of b's rows, rejecting those
 * whose value has no pair.  Returns the rows rejected or a FERRY_E*. */
int copy_relmap_apply(const struct relmap_table *t, const struct table_plan *tp,
		 struct ferry_batch *b, struct rejects *rej, struct ferry_error *err);

#endif
