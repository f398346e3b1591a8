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

/* ferry.relay_spool.min_ns: the earliest time (ns) of the rows a spool's
 * replay wrote into PostgreSQL since `ferry cutover prepare` emptied it,
 * committed with the rows: the cutover's seam reaches down to it (a point
 * sent late in dual is in the new store from the relay and the backfill). */
#define RELAY_SPOOL_MIN_DDL \
	"ALTER TABLE ferry.relay_spool ADD COLUMN IF NOT EXISTS min_ns bigint"

#endif
