/*
 * live.h - ferry copy's plan of one table for rows that arrive a batch at
 * a time (the relay's PostgreSQL sink, live.c): the target table created
 * when missing with copy's own DDL and indexes, and each batch converted
 * exactly as a copy converts it (the same transform, the same rejects).
 * The only header of copy/ the relay includes.
 */
#ifndef FERRY_COPY_LIVE_H
#define FERRY_COPY_LIVE_H

#include <stdint.h>

#include "ferry/connector.h"
#include "ferry/error.h"
#include "ferry/model.h"

struct copy_live;

/*
 * Plan the one table of cat (a point layout's catalog, tm_live_catalog) in
 * schema (NULL: public) of dst: when the table is missing, create the
 * schema, the table, its indexes and its comment in one transaction with
 * the statements `ferry copy` runs; then plan the load as --data-only
 * does, from the target's own columns.  must_exist: the table is the
 * user's (a map file's target), never created: missing is FERRY_ENOTFOUND.
 * cat must outlive the plan.
 */
int copy_live_open(ferry_conn *dst, const struct ferry_catalog *cat, const char *schema,
		   int must_exist, struct copy_live **out, struct ferry_error *err);
void copy_live_close(struct copy_live *cl);
/* The names copy_live_open gives the table of cat and its columns, in the
 * catalog's order (ALTERs that grow the table use them); *cols ends with
 * NULL.  Freed by copy_live_names_free, also after a failure. */
int copy_live_names(const struct ferry_catalog *cat, char **table, char ***cols,
		    struct ferry_error *err);
void copy_live_names_free(char *table, char **cols);
/* copy_live_grow flags */
#define COPY_LIVE_MAY_MISS 0x1  /* the table may be missing (else it exists) */
#define COPY_LIVE_TYPES    0x2  /* a field column the table has must hold the
				 * catalog's type (the backfill's history): a
				 * narrower one is FERRY_EINVAL, naming the
				 * ALTER (a relay's points rather are rejected
				 * one by one when the table cannot hold them) */
/*
 * The one table of cat, a wide point layout's (tm_live_catalog_at), in
 * public of dst as the relays make it: created as copy_live_open creates
 * it when missing (COPY_LIVE_MAY_MISS), then every
 * column from the from-th on added when missing, a tag (a text column of
 * the key) NOT NULL DEFAULT '' (a point without it, and a writer that
 * does not know it yet, give '') and appended to the primary key.  The
 * DDL commits on its own and is idempotent, so writers that grow the same
 * table side by side each just go on.  *pk_name: the key's name (freed by
 * the caller).  A table without a primary key is FERRY_EINVAL.
 */
int copy_live_grow(ferry_conn *dst, const struct ferry_catalog *cat, size_t from, unsigned flags,
		   char **pk_name, struct ferry_error *err);
/* copy_live_grow of each table of scat (a wide point layout's catalog,
 * as a source describes it) the globs keep, as the copy's plan keeps
 * them: ferry copy's live_tables, before a load beside the relays. */
int copy_live_grow_all(ferry_conn *dst, const struct ferry_catalog *scat,
		       const char *const *include, const char *const *exclude,
		       struct ferry_error *err);
/* Where to write a converted batch (valid while cl is). */
void copy_live_spec(const struct copy_live *cl, struct ferry_write_spec *spec);
/* The name the catalog cl was opened with gives column k of the spec (a
 * PostgreSQL name may be cut to 63 bytes with a hash), or NULL. */
const char *copy_live_src_col(const struct copy_live *cl, size_t k);

/* A row the transform refused: its index in the batch, column and reason. */
typedef int (*copy_live_reject_fn)(void *ud, size_t row, const char *column,
				   const char *reason, struct ferry_error *err);
/* Convert b in place for the target; a row with a value the target column
 * cannot take exactly is marked skipped (b->skip) and given to fn.
 * Returns the number of rows refused, or a negative FERRY_E*. */
int copy_live_convert(struct copy_live *cl, struct ferry_batch *b, copy_live_reject_fn fn,
		      void *ud, struct ferry_error *err);

#endif
