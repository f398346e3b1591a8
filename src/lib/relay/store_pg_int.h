/*
 * store_pg_int.h - what the relay's PostgreSQL sink (store_pg.c) shares
 * with its wide layout (store_wide.c).
 */
#ifndef FERRY_RELAY_STORE_PG_INT_H
#define FERRY_RELAY_STORE_PG_INT_H

#include <pthread.h>
#include <stddef.h>

#include "copy/live.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/model.h"
#include "ferry/tsmap.h"
#include "relay/store.h"
#include "tsmap/tsmap.h"
#include "wire/lineproto.h"

#define LIVE_ROWS 4096
#define LIVE_BYTES (4u << 20)

/* One line of the records of a write. */
struct line {
	const char *p;
	size_t n;
	size_t rec;
	int bad;            /* refused: by the mapper, the transform or the server;
			     * LINE_SEEN: its record was written before (a retry) */
	int keep;           /* refused before the transaction (wide: a field type
			     * its column cannot take): whatever the redo does */
	size_t table;       /* the live layout's table of its point */
	size_t moff;        /* a point map's point: its text at s->mapped + moff */
	int mapped;
};

/* The wide layout's table ti as this relay last made it in PostgreSQL. */
struct wtab {
	size_t synced;                /* its columns PostgreSQL has (0: not looked at) */
	struct ferry_catalog *cat;    /* of the live table, for the plan */
	struct copy_live *plan;
	char *pk;                     /* the primary key constraint's name */
	char *sig;                    /* its columns and types as the plan found them
				       * (WIDE_SIG), which each write checks first */
	int learned;                  /* read again for a field's type this write */
};
#define LINE_SEEN 2
#define SEEN_KEEP "6 hours"      /* how long a write's identity is remembered */
#define SEEN_PRUNE_EVERY 1000    /* writes between prunes of the old ones */

struct relay_pg {
	pthread_mutex_t lock;         /* a ping from another thread waits for a write */
	char *url;
	ferry_conn *c;                /* NULL: connect on the next use */
	const struct ferry_conn_ops *ops;
	struct tm_live *live;
	struct ferry_catalog *cat;    /* the live table, for the plan */
	int must_exist;               /* a map file's table: the user's */
	struct copy_live *plan;       /* NULL until the first connection */
	struct ferry_batch b;
	struct lp_scratch scratch;
	struct lp_point pt;
	struct line *lines;
	size_t nlines, lcap;
	struct relay_rec *recs;       /* of the write in progress */
	struct ferry_buf seen;        /* the records' identities, for SQL */
	unsigned writes;              /* since the last prune */
	int wide;                     /* --layout wide: a table per measurement */
	int spool_made;               /* the ferry schema's tables exist */
	struct wtab *wt;              /* wide: per table of the live layout */
	size_t nwt;
	/* a point map (the map file's points:): each line's point becomes the
	 * lines of the points it maps to, as `ferry copy` maps them */
	struct tm_pmap_run *run;
	struct line *olines;          /* the lines as the client wrote them */
	size_t nolines, olcap;
	struct ferry_buf mapped;      /* the mapped points' lines */
	size_t cur;                   /* the client's line being mapped */
};

/* Line `line` refused for reason (its record's first reason is its why). */
void relay_pgsink_refuse(struct relay_pg *s, size_t line, const char *reason);
/* Line i's point: 0, or 1 when it is none. */
int relay_pgsink_line_point(struct relay_pg *s, size_t i, struct tm_point *tp);
/* COPY the rows of the lines [lo, hi) of table ti (those not refused yet)
 * with plan's spec to w. */
int relay_pgsink_copy_lines(struct relay_pg *s, struct copy_live *plan, ferry_writer *w, size_t ti,
			    size_t lo, size_t hi, struct ferry_error *err);

/* store_wide.c */
void relay_pgsink_wide_release(struct relay_pg *s);
/* Before the write's transaction: every point to its table, made or grown
 * for it; a point the layout refuses is left out for good. */
int relay_pgsink_wide_route(struct relay_pg *s, struct ferry_error *err);
/* In the write's transaction: the rows of lines [lo, hi), table by table. */
int relay_pgsink_write_wide(struct relay_pg *s, size_t lo, size_t hi, struct ferry_error *err);

#endif
