/*
 * store.h - the two sinks behind struct relay_store (relay_int.h,
 * "stores"): store_pg.c (PostgreSQL, rows by the copy layout) and
 * store_influx.c (InfluxDB 1.x or 2.x, through tsmap's tm_ifx_writer).  relay_store_open() and the
 * other relay_store_* entry points live in store_pg.c and hand an
 * influx:// store to the relay_ifx_* functions below.
 */
#ifndef FERRY_RELAY_STORE_H
#define FERRY_RELAY_STORE_H

#include "relay/relay_int.h"

struct relay_ifx;

/* is_new: the new store writes into its URL's database (when it names
 * one), through the point map of the file map (NULL: none; a file without
 * points: is FERRY_EUSAGE); else into the database each record names. */
int relay_ifx_open(const char *url, int is_new, const char *map, struct relay_ifx **out,
		   struct ferry_error *err);
void relay_ifx_close(struct relay_ifx *x);
int relay_ifx_write(struct relay_ifx *x, struct relay_rec *recs, size_t n,
		    struct ferry_error *err);
int relay_ifx_ping(struct relay_ifx *x);
int relay_ifx_has_db(struct relay_ifx *x, const char *db, struct ferry_error *err);
int relay_ifx_query(struct relay_ifx *x, const struct relay_query *q,
		    struct relay_answer *ans, struct ferry_error *err);

/* An influx:// store is the InfluxDB sink (ifx set), else PostgreSQL. */
struct relay_pg;
struct relay_store {
	struct relay_ifx *ifx;
	struct relay_pg *pg;
};

/* The cutover's seam before T0: a point stamped in it may reach the new
 * store from a relay in dual and from the backfill (cutover_gates.c). */
#define RELAY_SEAM_S 600
/* ferry.relay_spool.min_ns: the earliest time (ns) of the rows a spool's
 * replay wrote into PostgreSQL since `ferry cutover prepare` emptied it,
 * committed with the rows: the cutover's seam reached down to it (what a
 * `ferry cutover` before ferry.relay_late reads).  min_on_ns: the same of
 * the points stamped at most RELAY_SEAM_S before the relay wrote them;
 * late_kept: every row since prepare came from a relay that records the
 * others in ferry.relay_late, so the seam reaches down to min_on_ns only
 * (a relay that went dual long before the last one did). */
#define RELAY_SPOOL_MIN_DDL \
	"ALTER TABLE ferry.relay_spool ADD COLUMN IF NOT EXISTS min_ns bigint," \
	" ADD COLUMN IF NOT EXISTS min_on_ns bigint, ADD COLUMN IF NOT EXISTS late_kept boolean"
/* ferry.relay_late: the (measurement, minute since 1970) of the points
 * stamped more than RELAY_SEAM_S before a spool's replay wrote them (a
 * device with a wrong clock, a backlog sent late), committed with the
 * rows; `prepare` empties it.  The seam looks at those minutes too, rather
 * than widening down to the earliest of them (a clock at 2000 made that
 * the whole table). */
#define RELAY_LATE_DDL \
	"CREATE TABLE IF NOT EXISTS ferry.relay_late (measurement text NOT NULL," \
	" minute bigint NOT NULL, PRIMARY KEY (measurement, minute))"

#endif
