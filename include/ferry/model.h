/*
 * model.h - the typed values, batches and catalogs that flow through the
 * pipeline: reader -> batch -> transform -> encoder -> writer.
 *
 * A batch is a block of rows with one cell per (row, column).  Cells hold
 * fixed-size values inline and variable-size values as (offset, length)
 * into the batch's byte arena, so a batch is two allocations however many
 * values it holds, and filling it allocates per batch, never per value.
 * Ownership: a batch owns its arena; cells never point outside it.
 * Catalog structs are owned by the catalog and freed with it.
 */
#ifndef FERRY_MODEL_H
#define FERRY_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"

/* Value kinds inside a cell. */
enum ferry_vkind {
	FERRY_V_NULL = 0,
	FERRY_V_INT,    /* i: int64 */
	FERRY_V_REAL,   /* d: double */
	FERRY_V_TEXT,   /* bytes in the arena, expected UTF-8 */
	FERRY_V_BLOB    /* bytes in the arena */
};

/* Cell flags. */
#define FERRY_CELL_TEXT_OK 0x01  /* TEXT: its maker checked it is UTF-8
				  * without a NUL byte (the transform need
				  * not look again); cleared by every
				  * ferry_cell_set_bytes */

struct ferry_cell {
	uint8_t kind;    /* enum ferry_vkind */
	uint8_t flags;   /* FERRY_CELL_*, for TEXT/BLOB */
	uint8_t pad[2];
	uint32_t len;    /* TEXT/BLOB: byte length */
	union {
		int64_t i;
		double d;
		uint64_t off;  /* TEXT/BLOB: offset into the arena */
	} v;
};

/* Target-side logical types: what the transform converts cells to. */
enum ferry_type {
	FERRY_T_UNKNOWN = 0,
	FERRY_T_INT16,
	FERRY_T_INT32,
	FERRY_T_INT64,
	FERRY_T_FLOAT32,
	FERRY_T_FLOAT64,
	FERRY_T_NUMERIC,      /* canonical decimal text */
	FERRY_T_TEXT,         /* also varchar(n)/char(n) via typmod */
	FERRY_T_BYTES,
	FERRY_T_BOOL,         /* int 0/1 */
	FERRY_T_DATE,         /* int days since 2000-01-01 */
	FERRY_T_TIMESTAMP,    /* int microseconds since 2000-01-01 */
	FERRY_T_TIMESTAMPTZ,  /* int microseconds since 2000-01-01 UTC */
	FERRY_T_JSON,         /* text */
	FERRY_T_JSONB,        /* text */
	FERRY_T_UUID,         /* 16 bytes */
	FERRY_T_TIME          /* int microseconds since midnight */
};

const char *ferry_type_name(int type);
/* "integer", "real", "text", "blob" or "null" (SQLite's storage class names). */
const char *ferry_vkind_name(int kind);

struct ferry_batch {
	size_t ncols;
	size_t nrows;
	size_t cap;               /* rows allocated */
	struct ferry_cell *cells; /* nrows * ncols, row-major */
	int64_t *keys;            /* per row: rowid or ordinal */
	uint8_t *skip;            /* per row: 1 = rejected, not written */
	size_t nskipped;
	struct ferry_buf arena;
};

int ferry_batch_init(struct ferry_batch *b, size_t ncols, size_t cap);
void ferry_batch_release(struct ferry_batch *b);
void ferry_batch_clear(struct ferry_batch *b);

static inline struct ferry_cell *ferry_batch_cell(const struct ferry_batch *b,
						  size_t row, size_t col)
{
	return &b->cells[row * b->ncols + col];
}

static inline const char *ferry_cell_bytes(const struct ferry_batch *b,
					   const struct ferry_cell *c)
{
	return b->arena.buf + c->v.off;
}

/* Store n bytes as a TEXT or BLOB cell value (copies into the arena);
 * no flags. */
int ferry_cell_set_bytes(struct ferry_batch *b, struct ferry_cell *c,
			 int kind, const void *data, size_t n);

/* ---- catalog ---------------------------------------------------------- */

struct ferry_column {
	char *name;
	char *decl_type;     /* as declared, "" when none */
	int notnull;
	char *default_sql;   /* source default expression, NULL when none */
	int pk_pos;          /* 1-based position in the primary key, 0 = not */
	int hidden;          /* generated/hidden: not copied */
	/* described from a typed store (PostgreSQL) */
	int type;            /* enum ferry_type, FERRY_T_UNKNOWN for SQLite */
	uint32_t type_oid;
	int32_t typmod;
	char *type_sql;      /* "character varying(20)" */
	int identity;        /* identity or serial column */
	int json_made;       /* the connector writes this column's JSON itself
			      * (escaped by ferry_buf_addjson): only its UTF-8
			      * needs checking */
};

struct ferry_index {
	char *name;
	int unique;
	char origin;         /* 'c' CREATE INDEX, 'u' UNIQUE constraint, 'p' PK */
	size_t nparts;
	char **cols;         /* column name, or NULL for an expression part */
	char **exprs;        /* expression text for expression parts, else NULL */
	int *desc;           /* per part: 1 = DESC */
	char *where;         /* partial index predicate, NULL when none */
	char *sql;           /* original CREATE statement, NULL when implicit */
};

struct ferry_fk {
	size_t ncols;
	char **from;
	char *ref_table;
	char **to;           /* NULL entries: the referenced table's PK */
	char *on_update;
	char *on_delete;
	int deferrable;
};

/*
 * A relational map's source (FERRY_CAP_QUERY): the rows of a query in the
 * store's own SQL, one column per expression, read in key order.  A read
 * (ferry_read_spec) of a table with a query selects
 *   key, exprs[0], ... FROM from [WHERE where] [AND key BETWEEN lo AND hi]
 *   ORDER BY key
 * where from is a table name, or a SELECT (from_sql) read as a subquery;
 * the batch keys are the key's values.  key_range gives the smallest and
 * largest key and the row count, and fails (FERRY_EINVAL, naming the key)
 * when a key value is NULL or not an integer.  Without a key the rows
 * come in the query's order as one range, keyed by their ordinal.
 */
struct ferry_query {
	char *from;          /* a table name, or a SELECT when from_sql */
	int from_sql;
	char *key;           /* integer expression over from's columns, or NULL */
	char *where;         /* filter expression, or NULL */
	char **exprs;        /* one per column of the table */
};

struct ferry_table {
	char *name;
	char *sql;
	struct ferry_column *cols;
	size_t ncols;
	int without_rowid;
	int rowid_alias;     /* column index of INTEGER PRIMARY KEY, or -1 */
	int autoincrement;
	int64_t seq;         /* sqlite_sequence value, -1 when none */
	struct ferry_index *idx;
	size_t nidx;
	struct ferry_fk *fks;
	size_t nfks;
	int64_t nrows_est;
	char *key_label;     /* what batch keys are in rejects ("line"); NULL:
			      * rowid, or the row's ordinal without one */
	char **key_files;    /* a directory source's files: a key is then
			      * file index << 40 | line, shown in rejects as
			      * {"file":NAME,"line":N} */
	size_t nkey_files;
	char *chunk_order;   /* FERRY_CAP_CHUNKS: the chunks, in ordinal order,
			      * hold the rows in the order of this index; NULL:
			      * in no index's order */
	char *plan_digest;   /* FERRY_CAP_CHUNKS: a digest of what each chunk
			      * reads, which a resumed job must find again
			      * (chunk N must be the same chunk); NULL: none */
	const struct ferry_query *query;  /* FERRY_CAP_QUERY: read this query,
			      * not a stored table (borrowed; see above) */
};

struct ferry_view {
	char *name;
	char *sql;
};

struct ferry_catalog {
	struct ferry_table *tables;
	size_t ntables;
	struct ferry_view *views;
	size_t nviews;
	char **notes;        /* what describing the source decided and the user
			      * should know (type conflicts, renames) */
	size_t nnotes;
	int exact_names;     /* its names differ by case (PostgreSQL, points):
			      * a target's table is looked up exactly, never
			      * as SQLite's case-blind names are */
};

/* Append a note (copied); 0 or FERRY_ENOMEM. */
int ferry_catalog_add_note(struct ferry_catalog *c, const char *note);

struct ferry_catalog *ferry_catalog_new(void);
void ferry_catalog_free(struct ferry_catalog *c);
/* Append a zeroed table/column/index/fk; returns NULL on out-of-memory. */
struct ferry_table *ferry_catalog_add_table(struct ferry_catalog *c);
struct ferry_view *ferry_catalog_add_view(struct ferry_catalog *c);
struct ferry_column *ferry_table_add_column(struct ferry_table *t);
struct ferry_index *ferry_table_add_index(struct ferry_table *t);
struct ferry_fk *ferry_table_add_fk(struct ferry_table *t);
/* One more part of x (col, or expr when col is NULL), or column of fk (to
 * NULL: the referenced table's key).  Both take the strings (malloc'd, or
 * NULL) and free them on failure; FERRY_ENOMEM also when col and expr, or
 * from, are NULL: a failed copy upstream. */
int ferry_index_add_part(struct ferry_index *x, char *col, char *expr, int desc);
int ferry_fk_add_column(struct ferry_fk *fk, char *from, char *to);
/* The table named name, else (SQLite's names are case-blind) the first
 * whose name differs only by case; _exact: only the table named name. */
struct ferry_table *ferry_catalog_find_exact(const struct ferry_catalog *c, const char *name);
/* The table of target catalog tcat that source scat's table named name
 * lands in: found exactly when scat's names differ by case, else as
 * ferry_catalog_find finds it. */
struct ferry_table *ferry_catalog_target(const struct ferry_catalog *tcat,
					 const struct ferry_catalog *scat, const char *name);
struct ferry_table *ferry_catalog_find(const struct ferry_catalog *c,
				       const char *name);
int ferry_table_find_column(const struct ferry_table *t, const char *name);
/* Is name one of PostgreSQL's system columns (xmin, xmax, cmin, cmax,
 * ctid, tableoid), which no table of its can have a column of?  Quoted
 * names are case-sensitive: "XMIN" is allowed. */
int ferry_pg_system_column(const char *name);

#endif
