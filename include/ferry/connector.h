/*
 * connector.h - the store abstraction.
 *
 * A connector is a versioned table of function pointers registered by URL
 * scheme (golang-migrate's driver registry, curl's vtls backends).  Every
 * entry may be NULL when the capability bit says the store cannot do it.
 * Connections are opened and closed through the registry (ferry/registry.h):
 * a ferry_conn is owned by whoever opened it and closed with
 * ferry_conn_close(); catalogs returned by describe are owned by the
 * caller.  Batches handed to a ferry_batch_fn are only valid during the
 * call.
 */
#ifndef FERRY_CONNECTOR_H
#define FERRY_CONNECTOR_H

#include <stdint.h>

#include "ferry/error.h"
#include "ferry/model.h"
#include "ferry/url.h"

#define FERRY_CONN_OPS_V1 1
/* V2: capability bits instead of store names (CHECKPOINT ... FILE),
 * snapshot, lock/unlock, query with parameters and rows (no query1). */
#define FERRY_CONN_OPS_V2 2
/* V3: a lock watch (watch_start, watch_seen, watch_stop) and
 * lock_timeout; a V2 table leaves them NULL. */
#define FERRY_CONN_OPS_V3 3

enum ferry_conn_caps {
	FERRY_CAP_READ = 1 << 0,      /* can be a source */
	FERRY_CAP_WRITE = 1 << 1,     /* can be a target */
	FERRY_CAP_DESCRIBE = 1 << 2,  /* has a catalog */
	FERRY_CAP_TXN = 1 << 3,       /* transactions */
	FERRY_CAP_DDL = 1 << 4,       /* accepts SQL DDL through exec */
	FERRY_CAP_KEYRANGE = 1 << 5,  /* read can be cut into key ranges */
	FERRY_CAP_LOCK = 1 << 6,      /* advisory locks */
	FERRY_CAP_CHUNKS = 1 << 7,    /* key_range gives chunk ordinals: the source
				       * is read one chunk per key (a point source,
				       * whose url takes the mapping options of
				       * ferry_ts_url) */
	FERRY_CAP_ORDERED = 1 << 8,   /* read can follow an index (order_bounds) */
	FERRY_CAP_CHECKPOINT = 1 << 9,  /* a target that can hold ferry.jobs,
					 * ferry.progress and ferry.steps: resumable
					 * jobs and several writers (workers) */
	FERRY_CAP_SNAPSHOT = 1 << 10, /* snapshot: a consistent online backup */
	FERRY_CAP_UNTYPED = 1 << 11,  /* cells carry their own storage class
				       * (SQLite): the planner scans the values */
	FERRY_CAP_SCHEMAS = 1 << 12,  /* named schemas (CREATE SCHEMA, qualified
				       * names), table comments, TRUNCATE and
				       * DROP TABLE ... CASCADE */
	FERRY_CAP_HASH_SQL = 1 << 13, /* computes ferry's canonical row hashes in
				       * SQL: a target ferry verify can read */
	FERRY_CAP_FILE = 1 << 14,     /* the url's path is a local file (a database,
				       * or lp/csv data: a file or a directory)
				       * that a read needs (see file_sides) */
	FERRY_CAP_POINTS = 1 << 15,   /* a point store: ferry copy writes points
				       * into it (copy/points_out.c), not rows */
	FERRY_CAP_QUERY = 1 << 16,    /* key_range and read take a ferry_table
				       * whose query is set (model.h: a relational
				       * map's source query, in this store's SQL) */
	FERRY_CAP_TYPED = 1 << 17     /* a typed row source (PostgreSQL): describe
				       * gives each column's exact type, keys,
				       * indexes and foreign keys, and read gives
				       * each cell in that type's representation
				       * (see enum ferry_type): ferry copy and
				       * verify take the types as they are */
};

/* Open flags. */
enum {
	FERRY_OPEN_READONLY = 1 << 0,
	FERRY_OPEN_CREATE = 1 << 1,
	/* keep the server's session settings (time zone, date style,
	 * encoding): the user's own SQL (migrations) runs as in its shell */
	FERRY_OPEN_SESSION_DEFAULTS = 1 << 2,
	/* FERRY_CAP_FILE: open an empty in-memory database instead of the
	 * file (a read-only look at a database that does not exist yet) */
	FERRY_OPEN_EMPTY = 1 << 3
};

/* One row of ops->query: vals[i] is column i as text, NULL for SQL NULL;
 * valid only during the call.  Non-zero return stops the query and is
 * returned by it. */
typedef int (*ferry_row_fn)(void *ud, int ncols, const char *const *vals,
			    struct ferry_error *err);

typedef struct ferry_conn ferry_conn;
typedef struct ferry_writer ferry_writer;
typedef struct ferry_watch ferry_watch;

/*
 * A lock watch (ops->watch_start): what it says, and when it looks.
 * say is called from the watch's own thread, once per holder of a lock
 * (a transaction, and the lock) that a statement of this process has
 * waited for FERRY_WATCH_SAY seconds, with one line: "waiting 5 s for a
 * lock on table 'states' (COPY) held by pid 4242 (application 'psql',
 * user 'ha', 127.0.0.1, idle in transaction for 3 min): ADVICE"; the
 * line is only valid during the call.
 */
#define FERRY_WATCH_SAY 5
struct ferry_watch_opts {
	void (*say)(void *ud, const char *line);
	void *ud;
	const char *advice;   /* what the user can do, after the line (copied) */
	/* how long a statement runs before the watch asks the server about
	 * it, in seconds: 0 (or more than FERRY_WATCH_SAY) is FERRY_WATCH_SAY;
	 * less makes the watch see (watch_seen) a wait that a lock timeout
	 * ends before it is said */
	double look_after;
};

/* A source record that never became a row (malformed line protocol, a
 * CSV row with the wrong number of cells): key names its place (the
 * table's key_label: line number, point ordinal), column may be "" and
 * raw holds its bytes.  Non-zero return stops the read. */
typedef int (*ferry_reject_fn)(void *ud, int64_t key, const char *column,
			       const char *reason, const void *raw, size_t n,
			       struct ferry_error *err);

/* What to read: one table, optionally one inclusive key range.
 * An ordered read (order set, FERRY_CAP_ORDERED) returns the rows in the
 * order of that index instead: those with key_lo <= index key < key_hi
 * (NULL bound: open; the bounds come from order_bounds) and, with
 * has_range, a row key of at most hi. */
struct ferry_read_spec {
	const struct ferry_table *table;
	int has_range;
	int64_t lo, hi;
	size_t batch_rows;   /* max rows per batch */
	size_t batch_bytes;  /* flush a batch once its arena reaches this */
	ferry_reject_fn reject;  /* NULL: such records fail the read */
	void *reject_ud;
	const char *order;       /* index name, NULL: key order */
	const char *key_lo, *key_hi;
	/* per batch column, nonzero: the caller never looks at it, the
	 * source may deliver NULL there without reading it (a pre-scan of a
	 * few columns of a wide table); NULL: every column */
	const unsigned char *unread;
	/* nonzero: the range after hi is likely the next this connection
	 * reads (one stream, or a table whose chunks go one after the
	 * other): a source may fetch some of it ahead */
	int then_next;
};

/*
 * An index-key bound (order_bounds, ferry_read_spec.key_lo/key_hi): the
 * index's values, then the row key, joined by ','; each value a token:
 * i<decimal int64>, r<16 hex digits: the double's bits>, t<hex of the
 * text's bytes>, b<hex of the blob's bytes>, n (NULL); hex in lower case.
 */
struct ferry_key_token {
	int kind;                 /* enum ferry_vkind */
	int64_t i;
	double d;
	const char *bytes;        /* TEXT/BLOB: in the scratch buffer */
	size_t n;
};

/* Decode the token at *p into t (text and blob bytes into scratch) and
 * step past it and its ','; last: it must end the bound.  0, or -1 when
 * malformed. */
int ferry_key_token(const char **p, int last, struct ferry_key_token *t,
		    struct ferry_buf *scratch);

/* Called for each filled batch; return non-zero to stop reading. */
typedef int (*ferry_batch_fn)(struct ferry_batch *b, void *ud,
			      struct ferry_error *err);

/* Where to write: the target table and its typed columns in batch order. */
struct ferry_write_spec {
	const char *schema;      /* NULL: the store's default */
	const char *table;
	size_t ncols;
	const char *const *cols; /* target column names */
	const int *types;        /* enum ferry_type per column */
	const int32_t *typmods;  /* per column, -1 when none; may be NULL */
	int merge;               /* PostgreSQL: a row whose primary key the table
				  * has already is merged into that row, each
				  * column the row has NULL taken from the
				  * batch (through a temporary table; ferry
				  * cutover's backfill beside relays that write
				  * the same keys); a table without one: plain */
};

struct ferry_conn_ops {
	int version;                 /* FERRY_CONN_OPS_V2 */
	const char *name;            /* "sqlite" */
	const char *const *schemes;  /* NULL-terminated */
	unsigned caps;

	int (*open)(const ferry_url *url, unsigned flags, ferry_conn **out,
		    struct ferry_error *err);
	void (*close)(ferry_conn *c);
	/* Catalog of a source, or of a target for --data-only. */
	int (*describe)(ferry_conn *c, const char *schema,
			struct ferry_catalog **out, struct ferry_error *err);
	/* Smallest and largest key and a row count (estimate allowed). */
	int (*key_range)(ferry_conn *c, const struct ferry_table *t,
			 int64_t *lo, int64_t *hi, int64_t *count,
			 struct ferry_error *err);
	int (*read)(ferry_conn *c, const struct ferry_read_spec *spec,
		    ferry_batch_fn fn, void *ud, struct ferry_error *err);
	/* Cut an ordered read of t along index into about nchunks chunks of
	 * rows with a key of at most cap: appends the boundaries, each the
	 * first index key of the next chunk, one per line to out (key tokens,
	 * see ferry_key_token, for ferry_read_spec.key_lo/key_hi).  Returns 1 and
	 * appends nothing when the index cannot order a read (an expression,
	 * a collation, a column that allows NULL); may be NULL. */
	int (*order_bounds)(ferry_conn *c, const struct ferry_table *t,
			    const char *index, int64_t cap, int64_t nchunks,
			    struct ferry_buf *out, struct ferry_error *err);
	/* Run one or more SQL statements (DDL, SET, ...). */
	int (*exec)(ferry_conn *c, const char *sql, struct ferry_error *err);
	/* One statement with nparams text parameters $1..$n (NULL: SQL NULL;
	 * on SQLite each is used once, in order), fn called on each row it
	 * returns (fn may be NULL: rows are dropped). */
	int (*query)(ferry_conn *c, const char *sql, const char *const *params,
		     int nparams, ferry_row_fn fn, void *ud,
		     struct ferry_error *err);
	/* Run a script statement by statement outside any transaction;
	 * *done counts those that took effect, also on failure.  NULL: the
	 * caller splits the script and runs each statement through exec. */
	int (*exec_each)(ferry_conn *c, const char *sql, size_t *done,
			 struct ferry_error *err);
	int (*begin)(ferry_conn *c, struct ferry_error *err);
	int (*commit)(ferry_conn *c, struct ferry_error *err);
	int (*rollback)(ferry_conn *c, struct ferry_error *err);
	/* Bulk write: open, any number of batches (skipped rows are left
	 * out), close.  close with commit = 0 abandons what was sent. */
	int (*write_open)(ferry_conn *c, const struct ferry_write_spec *spec,
			  ferry_writer **out, struct ferry_error *err);
	int (*write_batch)(ferry_writer *w, const struct ferry_batch *b,
			   struct ferry_error *err);
	int (*write_close)(ferry_writer *w, int commit, struct ferry_error *err);
	/* Quote an identifier for this store's SQL into out. */
	int (*quote_ident)(const char *name, struct ferry_buf *out);
	/* What reading decided that the user should know, one line each
	 * (nanoseconds cut to microseconds, ...); may be NULL. */
	int (*notes)(ferry_conn *c, struct ferry_buf *out);
	/* A short text that changes whenever anything a read could return
	 * changes: a hash of the content, not sizes and times (which a
	 * same-size edit keeps); for the resume check of a copy job.  May be
	 * NULL, and returns 1 appending nothing when the source cannot say. */
	int (*content_id)(ferry_conn *c, struct ferry_buf *out, struct ferry_error *err);
	/* FERRY_CAP_LOCK: try once to take the advisory lock key for this
	 * connection's session (*got = 1 when taken, 0 when another session
	 * holds it); it spans transactions and dies with the connection or
	 * the process.  A store without lock keys (SQLite: a lock file
	 * beside the database) has one lock per database. */
	int (*lock)(ferry_conn *c, int64_t key, int *got, struct ferry_error *err);
	int (*unlock)(ferry_conn *c, int64_t key, struct ferry_error *err);
	/* FERRY_CAP_SNAPSHOT: write one consistent state of the store to the
	 * new file dest_path, even while others write to it, and append the
	 * url that opens the copy to dest_url. */
	int (*snapshot)(ferry_conn *c, const char *dest_path, struct ferry_buf *dest_url,
			struct ferry_error *err);
	/* FERRY_CAP_FILE: suffixes of the files that make up the database at
	 * path (the file itself is ""), NULL-terminated. */
	const char *const *file_sides;
	/* Run once on each bulk-load connection (NULL: none). */
	const char *bulk_session_sql;

	/* V3.  Watch this process's connections to c's database (every one
	 * this connector opened, in any thread, c's among them) for
	 * statements that wait on a lock another session holds, and say who
	 * holds it (ferry_watch_opts): a thread, and only once a statement
	 * has run look_after seconds, a connection of its own, which asks
	 * the server one light query every few seconds at most while one
	 * does.  The watched connections are never touched.  Returns 1 with
	 * *out NULL when another watch of this process covers that database;
	 * NULL when the store cannot tell who holds a lock. */
	int (*watch_start)(ferry_conn *c, const struct ferry_watch_opts *o,
			   ferry_watch **out, struct ferry_error *err);
	/* Append what the watch last saw c's session wait for ("a lock on
	 * table 'x' (ALTER TABLE) held by pid 4242 (...)", said or not yet)
	 * if it saw it at ferry_now() since or later: 0, or 1 appending
	 * nothing when it saw no such wait of c's. */
	int (*watch_seen)(ferry_watch *w, const ferry_conn *c, double since,
			  struct ferry_buf *out);
	/* Stop the watch and free it (NULL: nothing); append to said, when
	 * not NULL, one line per wait it said: "waited at least 37 s for a
	 * lock on table ... held by ...". */
	void (*watch_stop)(ferry_watch *w, struct ferry_buf *said);
	/* Make each later statement of c's session fail once it has waited
	 * ms milliseconds for a lock (PostgreSQL's lock_timeout, SQLite's
	 * busy timeout); 0: wait as long as the store waits by default. */
	int (*lock_timeout)(ferry_conn *c, int64_t ms, struct ferry_error *err);
};



/*
 * PostgreSQL administration (connectors/pg_admin.c).
 * ferry_pg_create_database: when the database url names does not exist,
 * connect to the "postgres" maintenance database with the same host, port,
 * user and password and CREATE DATABASE it (quoted name), as dbmate does.
 * *created says whether it did; 0 when it existed or url is not
 * PostgreSQL (the real open then reports any other problem).
 * ferry_pg_advice: append to out what to do about a server message msg:
 * a missing database (createdb; --create-db when offer_create), a missing
 * CREATE privilege on a database or schema (the GRANT for role user).
 * Returns 0, or out's sticky error when an add failed.
 */

int ferry_pg_create_database(const char *url, int *created,
			     struct ferry_error *err);

/* A PostgreSQL session whose commits must be durable once they say so,
 * whatever the server's default (many a Raspberry Pi runs with
 * synchronous_commit off: a crash then takes back what was reported
 * committed): run this first.  It raises the setting from off only, so a
 * server's remote_apply or remote_write is kept. */
#define FERRY_PG_DURABLE_SQL "SELECT set_config('synchronous_commit', 'on', false)" \
	" WHERE current_setting('synchronous_commit') = 'off'"
int ferry_pg_advice(const char *msg, const char *user, int offer_create,
		    struct ferry_buf *out);

/* A PostgreSQL text[] literal built in b, for a $n::text[] parameter:
 * ferry_pg_array_add appends s[0..n) (no NUL in it: text cannot hold
 * one) as an element, quoted, '{' first when b is empty; then
 * ferry_pg_array_end closes it ("{}" when nothing was added).  0, or
 * FERRY_ENOMEM. */
int ferry_pg_array_add(struct ferry_buf *b, const char *s, size_t n);
int ferry_pg_array_end(struct ferry_buf *b);

const struct ferry_conn_ops *ferry_conn_ops_of(const ferry_conn *c);
const ferry_url *ferry_conn_url(const ferry_conn *c);

/* Every connector's handle starts with this header. */
struct ferry_conn_base {
	const struct ferry_conn_ops *ops;
	ferry_url *url;
};

#endif
