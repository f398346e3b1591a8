/*
 * cutover_gates.c - the gates of `ferry cutover advance`, as a table.
 *
 * Each step's exit gates are rows of relay_cut_gates[] below, evaluated in
 * order.  The relays' figures come from their heartbeats in ferry.relays
 * (phase, phase_since, ready, spool_ok, replay lag, per store writes and
 * failed writes of the last 5 min); a relay counts when it reported in the
 * last CUT_LIVE_S seconds.  A row applies to the strategies of its CUT_*
 * bits.  Five gates do work: backfill runs the copy of everything before
 * T0 (job "cutover-backfill", resumable), verify compares both stores
 * before T0, query-latency times queries on both (cutover_latency.c),
 * live-consistency reads the relays' samples back from both
 * (cutover_live.c), and catchup (blue-green, immediate) copies T0 to the
 * switch.  For those two, verify and catchup first copy again the windows
 * before T0 where the old store holds points the new one misses
 * (cutover_repair.c: written late, while the relays wrote the old store
 * alone).  A work gate
 * after a failed gate is skipped: a verify while the spool is behind would
 * only report the lag.
 *
 * The backfill and the live writes meet at T0.  A point stamped just
 * before T0 that reached a relay after it switched to dual is in the new
 * store twice: once from the relay, once from the backfill.  In a table
 * without a primary key (the narrow layout) the seam, the RELAY_SEAM_S
 * before T0 or from the earliest row a relay's spool replayed into it
 * during the plan (ferry.relay_spool.min_on_ns) when that is earlier, and
 * the minutes of the points relays wrote late (ferry.relay_late: stamped
 * more than RELAY_SEAM_S before they were written), are cleared of rows
 * that are there more often than the old store's points make them, after
 * the backfill and again before the verify (two points less than 1 us
 * apart can be two equal rows: see dedupe()).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/copy.h"
#include "ferry/log.h"
#include "ferry/url.h"
#include "ferry/verify.h"
#include "model/value.h"
#include "relay/cutover_int.h"
#include "relay/store.h"
#include "tsmap/tsmap.h"

#define WINDOW_SCHEMA "ferry_cutover_window"   /* the rows before T0, for verify */
#define SEAM_TABLE "ferry_cutover_seam"        /* the old store's rows of duplicates */
#define BACKFILL_JOB "cutover-backfill"
#define CATCHUP_JOB "cutover-catchup"

void relay_cut_time_text(int64_t us, char *buf, size_t n)
{
	time_t s = (time_t)(us / 1000000);
	struct tm tm;
	char d[24];

	gmtime_r(&s, &tm);
	if (!strftime(d, sizeof(d), "%Y-%m-%dT%H:%M:%S", &tm))
		d[0] = '\0';
	snprintf(buf, n, "%.19s.%06uZ", d, (unsigned)(us % 1000000) % 1000000u);
}

void relay_cut_plan_ts(const struct cut_plan *p, struct ferry_ts_opts *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->layout = p->layout && *p->layout ? p->layout : NULL;
	ts->map = p->map && *p->map ? p->map : NULL;
	ts->table = p->table && *p->table ? p->table : NULL;
	ts->series_tag = p->series_tag && *p->series_tag ? p->series_tag : NULL;
	ts->keep_ns = p->keep_ns;
	ts->chunk_time = p->chunk_time && *p->chunk_time ? p->chunk_time : NULL;
}

const char *relay_cut_new(const struct cut_ctx *c)
{
	return c->plan->new_url && *c->plan->new_url ? c->plan->new_url : c->db;
}

int relay_cut_new_influx(const struct cut_ctx *c)
{
	return !ferry_relay_is_pg_url(relay_cut_new(c));
}

int relay_cut_ifx_db(const char *url, int create, char *msg, size_t n)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_ifx_writer *w = NULL;
	ferry_url *u = NULL;
	const char *db;
	int rc;

	if ((rc = ferry_url_parse(url, &u, &err)) < 0 ||
	    (rc = tm_ifx_writer_open(u, &w, &err)) < 0) {
		snprintf(msg, n, "the new store: %s", err.msg);
		ferry_url_free(u);
		return rc;
	}
	db = tm_ifx_writer_db(w);
	rc = tm_ifx_has_db(w, db, &err);
	if (rc == 0 && create && (rc = tm_ifx_create_db(w, db, tm_ifx_writer_rp(w), &err)) == 0) {
		snprintf(msg, n, "created database '%s' in the new InfluxDB", db);
		rc = 1;
	} else if (rc < 0) {
		snprintf(msg, n, "cannot look for database '%s' in the new InfluxDB: %s", db,
			 err.msg);
	} else {
		snprintf(msg, n, rc ? "database '%s' exists in the new InfluxDB" :
			 "database '%s' is missing in the new InfluxDB: run ferry cutover "
			 "prepare again (it creates it)", db);
	}
	tm_ifx_writer_close(w);
	ferry_url_free(u);
	return rc;
}

/* One row of numbers about the live relays (sql selects them). */
static int live_row(struct cut_ctx *c, const char *sql, PGresult **res, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	if (relay_pg_exec(c->pg, sql, 0, NULL, res, "cannot read ferry.relays", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return -1;
	}
	return 0;
}

static int64_t num(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? 0 : strtoll(PQgetvalue(res, 0, col), NULL, 10);
}

static int no_relay(struct cut_result *r, int64_t n)
{
	if (n > 0)
		return 0;
	snprintf(r->figure, sizeof(r->figure), "no relay reported in the last %d s: start "
		 "ferry relay with --new pointing at this database (it reports every 10 s)",
		 CUT_LIVE_S);
	return 1;
}

/* ---- prepare ---------------------------------------------------------------- */

static void g_schema(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	const char *t = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	const char *p[1] = { t };
	struct ferry_error err = FERRY_ERROR_INIT;
	PGresult *res = NULL;

	(void)g;
	if (relay_cut_new_influx(c)) {
		r->pass = relay_cut_ifx_db(relay_cut_new(c), 0, r->figure, sizeof(r->figure)) == 1;
		return;
	}
	if ((c->plan->layout && !strcmp(c->plan->layout, "wide")) ||
	    (c->plan->map && *c->plan->map)) {
		/* wide: a table per measurement, made as its first point comes;
		 * a map: the user's tables, which prepare's copy checked */
		r->pass = 1;
		snprintf(r->figure, sizeof(r->figure), "%s: the tables are made (or checked) "
			 "by the relay and the backfill as points come",
			 c->plan->map && *c->plan->map ? "map" : "wide");
		return;
	}
	if (relay_pg_exec(c->pg, "SELECT to_regclass(quote_ident($1)) IS NOT NULL", 1, p, &res,
			  "cannot look for the target table", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return;
	}
	r->pass = !strcmp(PQgetvalue(res, 0, 0), "t");
	snprintf(r->figure, sizeof(r->figure), r->pass ? "table %s exists" :
		 "table %s is missing: run ferry cutover prepare again", t);
	PQclear(res);
}

/* How many live relays report column true; pass when all of them do. */
static void all_live(struct cut_ctx *c, const char *column, const char *what,
		     const char *why, struct cut_result *r)
{
	char sql[512];
	PGresult *res = NULL;
	int64_t n, ok;

	snprintf(sql, sizeof(sql), "SELECT count(*), count(*) FILTER (WHERE %s)"
		 CUT_LIVE_RELAYS, column);
	if (live_row(c, sql, &res, r) < 0)
		return;
	n = num(res, 0);
	ok = num(res, 1);
	PQclear(res);
	r->value = (double)ok;
	if (no_relay(r, n))
		return;
	r->pass = ok == n;
	snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live relays %s%s",
		 ok, n, what, r->pass ? "" : why);
}

static void g_relays_ready(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	(void)g;
	all_live(c, "ready", "ready", " (see their /ready and logs)", r);
}

static void g_spool_writable(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	(void)g;
	all_live(c, "spool_ok", "have a writable spool with room",
		 " (a relay without --spool, or its spool is full)", r);
}

/* ---- every relay in the step's phase ---------------------------------------- */

void relay_cut_relays_in(struct cut_ctx *c, int phase, struct cut_result *r)
{
	const char *name = ferry_phase_name(phase);
	struct ferry_error err = FERRY_ERROR_INIT;
	const char *p[1] = { name };
	PGresult *res = NULL;
	int64_t n, in;

	if (relay_pg_exec(c->pg, "SELECT count(*), count(*) FILTER (WHERE phase = $1),"
			  " (extract(epoch FROM max(phase_since)) * 1000000)::bigint,"
			  " string_agg(CASE WHEN phase IS DISTINCT FROM $1 THEN relay_id || ' in ' ||"
			  " coalesce(phase, 'an unknown phase') END, ', ')" CUT_LIVE_RELAYS, 1, p, &res,
			  "cannot read ferry.relays", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return;
	}
	n = num(res, 0);
	in = num(res, 1);
	r->value = (double)in;
	if (!no_relay(r, n)) {
		char gone[1024];
		int64_t k = relay_cut_unseen(c, "phase", name, gone, sizeof(gone), r);

		if (k < 0)
			goto out;
		r->pass = in == n && k == 0;
		if (k > 0) {
			snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live "
				 "relays in %s, but %s went silent without stopping: cut off "
				 "from this database, it may still acknowledge writes in its "
				 "phase; start it again (or stop it: it then says so), or, if "
				 "it will not run again, ferry cutover forget-relay ID", in, n,
				 name, gone);
		} else if (r->pass) {
			char t0[64];

			c->t0_us = num(res, 2);
			relay_cut_time_text(c->t0_us, t0, sizeof(t0));
			snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live "
				 "relays in %s, the last since %s", in, n, name, t0);
		} else {
			snprintf(r->figure, sizeof(r->figure), "%" PRId64 " of %" PRId64 " live "
				 "relays in %s (%s): they follow within a second and report "
				 "every 10 s", in, n, name, PQgetvalue(res, 0, 3));
		}
	}
out:
	PQclear(res);
}

int64_t relay_cut_unseen(struct cut_ctx *c, const char *column, const char *want, char *list,
			 size_t n, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	const char *p[1] = { want };
	PGresult *res = NULL;
	int64_t k = -1;

	list[0] = '\0';
	/* the first three by name, then how many more: the figure is short */
	if (ferry_buf_addf(&sql, "SELECT count(*), string_agg(CASE WHEN n <= 3 THEN relay_id ||"
			   " ' (' || coalesce(nullif(c, ''), 'none') || ', last seen ' ||"
			   " round(extract(epoch FROM now() - last_seen)) || ' s ago)' END, ', '"
			   " ORDER BY relay_id) || CASE WHEN count(*) > 3 THEN ' and ' ||"
			   " (count(*) - 3) || ' more (ferry cutover status lists them)' ELSE '' END"
			   " FROM (SELECT relay_id, %s::text AS c, last_seen, row_number() OVER"
			   " (ORDER BY relay_id) AS n FROM ferry.relays r"
			   " WHERE NOT " CUT_LIVE("r")
			   " AND to_jsonb(r) ->> 'stopped_at' IS NULL"
			   " AND %s IS DISTINCT FROM $1) s", column, column) < 0)
		snprintf(r->figure, sizeof(r->figure), "out of memory");
	else if (relay_pg_exec(c->pg, sql.buf, 1, p, &res, "cannot read ferry.relays", &err) < 0)
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
	else {
		k = num(res, 0);
		snprintf(list, n, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	ferry_buf_release(&sql);
	return k;
}

static void g_relays_dual(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	(void)g;
	relay_cut_relays_in(c, FERRY_PHASE_DUAL, r);
}

static void g_relays_new_primary(struct cut_ctx *c, const struct cut_gate *g,
				 struct cut_result *r)
{
	(void)g;
	relay_cut_relays_in(c, FERRY_PHASE_NEW_PRIMARY, r);
}

static void g_relays_new_only(struct cut_ctx *c, const struct cut_gate *g,
			      struct cut_result *r)
{
	(void)g;
	relay_cut_relays_in(c, FERRY_PHASE_NEW_ONLY, r);
}

/* ---- rates and lag ----------------------------------------------------------- */

static void error_rate(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r,
		       const char *store)
{
	char sql[512];
	PGresult *res = NULL;
	int64_t n, w, e;

	snprintf(sql, sizeof(sql), "SELECT count(*), sum(%s_writes), sum(%s_errors)"
		 CUT_LIVE_RELAYS, store, store);
	if (live_row(c, sql, &res, r) < 0)
		return;
	n = num(res, 0);
	w = num(res, 1);
	e = num(res, 2);
	PQclear(res);
	if (no_relay(r, n))
		return;
	r->value = w ? (double)e / (double)w : 0;
	r->pass = r->value < g->threshold;
	if (!w)
		snprintf(r->figure, sizeof(r->figure), "no writes to the %s store in the last "
			 "5 min", store);
	else
		snprintf(r->figure, sizeof(r->figure), "%.2f%% of %" PRId64 " writes to the %s "
			 "store failed in the last 5 min (%" PRId64 "), threshold %g%%",
			 r->value * 100, w, store, e, g->threshold * 100);
}

static void g_errors_old(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	error_rate(c, g, r, "old");
}

static void g_errors_new(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	error_rate(c, g, r, "new");
}

static void g_spool_drained(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	PGresult *res = NULL;
	int64_t n, rec;

	if (live_row(c, "SELECT count(*), coalesce(sum(spool_records), 0),"
		     " coalesce(max(replay_lag_s), 0)" CUT_LIVE_RELAYS, &res, r) < 0)
		return;
	n = num(res, 0);
	rec = num(res, 1);
	r->value = strtod(PQgetvalue(res, 0, 2), NULL);
	PQclear(res);
	if (no_relay(r, n))
		return;
	/* a relay of this plan that is not live with records its spool still
	 * holds, and whose spool no later relay took: they reach the new store
	 * only when it runs again.  One that stopped says how many; one that
	 * ended without a word (kill -9, or its last report failed) in a
	 * phase that spools may have spooled more since its last heartbeat
	 * (the database was down meanwhile): counted as holding some */
	if (live_row(c, "SELECT count(*), coalesce(sum(spool_records), 0), string_agg(relay_id,"
		     " ', ' ORDER BY relay_id) FROM ferry.relays r, ferry.cutover_plan p"
		     " WHERE r.last_seen >= p.created_at AND (spool_records > 0 OR"
		     " (to_jsonb(r) ->> 'stopped_at' IS NULL AND r.phase IN ('dual',"
		     " 'new-primary'))) AND NOT " CUT_LIVE("r") " AND NOT EXISTS (SELECT 1"
		     " FROM ferry.relays l WHERE to_jsonb(l) ->> 'spool_id' = to_jsonb(r) ->>"
		     " 'spool_id' AND l.relay_id <> r.relay_id AND l.last_seen > r.last_seen)",
		     &res, r) < 0)
		return;
	if (num(res, 0)) {
		snprintf(r->figure, sizeof(r->figure), "records not yet replayed (%" PRId64 " at "
			 "its last report) may be in the spool of a relay that is not running "
			 "(%s): start it again with the same --spool (to give them up: ferry "
			 "cutover forget-relay ID)", num(res, 1), PQgetvalue(res, 0, 2));
		PQclear(res);
		return;
	}
	PQclear(res);
	r->pass = r->value < g->threshold;
	snprintf(r->figure, sizeof(r->figure), "replay lag %.1f s, %" PRId64 " records not yet "
		 "replayed, threshold %g s", r->value, rec, g->threshold);
}

static void g_soak(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	(void)g;
	r->value = c->plan->step_age_s;
	r->pass = r->value >= c->plan->soak_s;
	snprintf(r->figure, sizeof(r->figure), "%.0f s %s of the %.0f s soak "
		 "(prepare --soak)", r->value, c->waves.n ? "since the last wave switched" :
		 "in switchover", c->plan->soak_s);
}

/* ---- the work: backfill and verify ------------------------------------------- */

static void drop_seam(struct cut_ctx *c)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	relay_pg_exec(c->pg, "DROP TABLE IF EXISTS " SEAM_TABLE, 0, NULL, NULL,
		      "cannot drop the scratch table", &err);
}

/* The (measurement, ns range) of the rows that are in the narrow table x
 * more than once in [lo, hi) (us), a range per measurement and minute:
 * one read of the old store each, of at most a minute of a measurement. */
#define DUP_RANGES \
	"SELECT measurement, min(us) * 1000, (max(us) + 1) * 1000 FROM (SELECT" \
	" x.measurement, (extract(epoch FROM x.time) * 1000000)::bigint AS us FROM %s x" \
	" WHERE " IN_WINDOW " GROUP BY x::text, x.measurement, x.time HAVING count(*) > 1) d" \
	" GROUP BY measurement, us / 60000000"
#define IN_WINDOW \
	"time >= (timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond')" \
	" AND time < (timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond')"
/* InfluxDB's earliest time (models.MinNanoTime): the minute of a point
 * there starts before what a bigint of nanoseconds holds */
#define LATE_MIN_NS "-9223372036854775806"
/* The minutes relays wrote late points of (RELAY_LATE_DDL) before lo
 * (us), consecutive ones of a measurement within 10 minutes as one
 * (measurement, ns range), cut at lo: the window's rows are the window's.
 * (10 minutes at most: relay_cut_old_points holds a range's points in
 * memory, every series of the measurement.) */
#define LATE_RANGES \
	"SELECT measurement, greatest(min(minute)::numeric * 60000000000," \
	" " LATE_MIN_NS ")::bigint, least((max(minute) + 1) *" \
	" 60000000000, %" PRId64 "::bigint * 1000) FROM (SELECT measurement, minute," \
	" minute - row_number() OVER (PARTITION BY measurement ORDER BY minute) AS g" \
	" FROM ferry.relay_late WHERE minute * 60000000 < %" PRId64 ") l" \
	" GROUP BY measurement, g, floor(minute / 10.0)"
/* The rows of table x in those minutes (before lo, us): by the series
 * the old store's points of them have (in SEAM_TABLE), a series' runs of
 * consecutive minutes as one range, each range an index scan (LATERAL,
 * kept from being flattened by OFFSET 0: as a join, thousands of minutes
 * of a backlog were a merge join comparing every row of a series with
 * every minute of it); or, when the old store is not read, by
 * measurement (a scan of the table). */
#define LATE_ROWS_BY_SERIES \
	" UNION ALL SELECT y.ctid, y.row FROM (SELECT series, measurement, min(mi) AS lo," \
	" max(mi) + interval '1 minute' AS hi FROM (SELECT series, measurement, mi," \
	" mi - row_number() OVER (PARTITION BY series, measurement ORDER BY mi) *" \
	" interval '1 minute' AS g FROM (SELECT DISTINCT s.series, s.measurement," \
	" timestamptz 'epoch' + floor(extract(epoch FROM s.time) / 60) * interval '1 minute'" \
	" AS mi FROM " SEAM_TABLE " s WHERE s.time < (timestamptz 'epoch' + %" PRId64 \
	" * interval '1 microsecond')) a) b GROUP BY series, measurement, g) k," \
	" LATERAL (SELECT x.ctid, x::text AS row FROM %s x WHERE x.series = k.series" \
	" AND x.measurement = k.measurement AND x.time >= k.lo AND x.time < k.hi" \
	" AND x.time < (timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond')" \
	" OFFSET 0) y"
#define LATE_ROWS_BY_MEASUREMENT \
	" UNION ALL SELECT x.ctid, x::text FROM ferry.relay_late l JOIN %s x" \
	" ON x.measurement = l.measurement" \
	" AND x.time >= timestamptz 'epoch' + l.minute * interval '1 minute'" \
	" AND x.time < timestamptz 'epoch' + (l.minute + 1) * interval '1 minute'" \
	" AND x.time < (timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond')"

/* Rows of the narrow table in [lo, hi) (us) that are there more often
 * than the old store has points that make them, removed; the number
 * removed, or -1 with the reason in r.  A narrow row keeps microseconds,
 * so two points of a series less than 1 us apart with the same value are
 * two equal rows, and both are real: the old store's points of the
 * duplicates' ranges are made into rows again (relay_cut_old_points, the
 * live-consistency gate's way) and each row is kept as many times as
 * they hold it, at least once (an old store that is not InfluxDB: once). */
static int64_t dedupe(struct cut_ctx *c, int64_t lo, int64_t hi, int late,
		      struct cut_result *r)
{
	const char *t = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *res = NULL, *keys = NULL, *lk = NULL;
	char **m = NULL;
	int64_t *klo = NULL, *khi = NULL;
	int64_t n = -1;
	size_t nk = 0, nl = 0, i;
	int e, made = 0, counted = 0;
	char *q;

	if ((c->plan->layout && !strcmp(c->plan->layout, "wide")) ||
	    (c->plan->map && *c->plan->map) || relay_cut_new_influx(c))
		return 0;   /* a primary key (wide), the user's table (map), InfluxDB */
	if (!(q = PQescapeIdentifier(c->pg, t, strlen(t)))) {
		snprintf(r->figure, sizeof(r->figure), "cannot quote table name '%s'", t);
		return -1;
	}
	if (ferry_buf_addf(&sql, DUP_RANGES, q, lo, hi) < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	if (relay_pg_exec(c->pg, sql.buf, 0, NULL, &keys, "cannot look for rows written twice",
			  &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		goto out;
	}
	nk = (size_t)PQntuples(keys);
	if (late) {
		/* the late minutes: none when no relay of this database wrote
		 * through a version that records them */
		if (relay_pg_exec(c->pg, "SELECT to_regclass('ferry.relay_late') IS NOT NULL", 0,
				  NULL, &lk, "cannot look for ferry.relay_late", &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
			goto out;
		}
		late = !strcmp(PQgetvalue(lk, 0, 0), "t");
		PQclear(lk);
		lk = NULL;
		ferry_buf_clear(&sql);
		if (late && (ferry_buf_addf(&sql, LATE_RANGES, lo, lo) < 0 ||
			     relay_pg_exec(c->pg, sql.buf, 0, NULL, &lk,
					   "cannot read ferry.relay_late", &err) < 0)) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.code ? err.msg :
				 "out of memory");
			goto out;
		}
		nl = lk ? (size_t)PQntuples(lk) : 0;
		late = nl > 0;
	}
	if (!nk && !nl) {
		n = 0;
		goto out;
	}
	if (!strncasecmp(c->plan->old_url, "influx:", 7)) {
		if (!(m = ferry_calloc(nk + nl, sizeof(*m))) ||
		    !(klo = ferry_calloc(nk + nl, sizeof(*klo))) ||
		    !(khi = ferry_calloc(nk + nl, sizeof(*khi)))) {
			snprintf(r->figure, sizeof(r->figure), "out of memory");
			goto out;
		}
		for (i = 0; i < nk + nl; i++) {
			PGresult *k = i < nk ? keys : lk;
			int row = (int)(i < nk ? i : i - nk);

			m[i] = PQgetvalue(k, row, 0);
			klo[i] = strtoll(PQgetvalue(k, row, 1), NULL, 10);
			khi[i] = strtoll(PQgetvalue(k, row, 2), NULL, 10);
		}
		drop_seam(c);
		made = 1;   /* dropped on every way out, also when the read fails */
		if (relay_cut_old_points(c, SEAM_TABLE, m, klo, khi, nk + nl, r) < 0)
			goto out;
		counted = 1;
	}
	ferry_buf_clear(&sql);
	e = ferry_buf_addf(&sql, "WITH c AS (SELECT x.ctid, x::text AS row FROM %s x"
			   " WHERE " IN_WINDOW, q, lo, hi);
	if (late && counted)
		e |= ferry_buf_addf(&sql, LATE_ROWS_BY_SERIES, lo, q, lo);
	else if (late)
		e |= ferry_buf_addf(&sql, LATE_ROWS_BY_MEASUREMENT, q, lo);
	e |= ferry_buf_addf(&sql, "), d AS (SELECT ctid, row, row_number() OVER"
			    " (PARTITION BY row ORDER BY ctid) AS n FROM c),"
			    " k AS (%s)"
			    " DELETE FROM %s t USING d LEFT JOIN k USING (row)"
			    " WHERE t.ctid = d.ctid AND d.n > greatest(coalesce(k.n, 0), 1)",
			    counted ? "SELECT x::text AS row, count(*) AS n FROM "
			    SEAM_TABLE " x GROUP BY 1" : "SELECT NULL::text AS row, 0 AS n", q);
	if (e < 0)
		snprintf(r->figure, sizeof(r->figure), "out of memory");
	else if (relay_pg_exec(c->pg, sql.buf, 0, NULL, &res,
			       "cannot clear the seam of the backfill", &err) < 0)
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
	else
		n = strtoll(PQcmdTuples(res), NULL, 10);
out:
	if (made)
		drop_seam(c);
	PQclear(res);
	PQclear(keys);
	PQclear(lk);
	PQfreemem(q);
	ferry_free(m);
	ferry_free(klo);
	ferry_free(khi);
	ferry_buf_release(&sql);
	return n;
}

/* Whether a work gate's copy passes on its rejected rows: at most
 * advance's --max-errors (0 by default).  note: what the figure says of
 * them (how many, where; "" when none). */
static int rejects_ok(const struct cut_ctx *c, const struct ferry_copy_result *res, char *note,
		      size_t n)
{
	int64_t rej = res ? res->rejected : 0;
	int ok = rej <= c->o->max_errors;

	note[0] = '\0';
	if (rej)
		snprintf(note, n, "; %" PRId64 " rows rejected (the new store cannot hold them: "
			 "%s)%s", rej, res->rejects_path ? res->rejects_path : "the rejects file",
			 ok ? ", within --max-errors" : "; the file says why (e.g. --keep-ns at "
			 "prepare for points less than a microsecond apart); advance "
			 "--max-errors N accepts them, and they stay out of the new store");
	return ok;
}

/* The seam before T0 (see the top of this file): RELAY_SEAM_S, or down
 * to the earliest row the relays' spools replayed into the new store
 * during this plan (RELAY_SPOOL_MIN_DDL: a relay that went dual long
 * before the last one did) when that is earlier, and the minutes of the
 * points relays wrote late (RELAY_LATE_DDL). */
static int64_t seam_repair(struct cut_ctx *c, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	int64_t lo = c->plan->t0_us - (int64_t)RELAY_SEAM_S * 1000000;
	PGresult *res = NULL;

	if (relay_pg_exec(c->pg, "SELECT to_regclass('ferry.relay_spool') IS NOT NULL", 0, NULL,
			  &res, "cannot look for ferry.relay_spool", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return -1;
	}
	if (!strcmp(PQgetvalue(res, 0, 0), "t")) {
		PQclear(res);
		res = NULL;
		/* a row written by relays that record late minutes: its points
		 * on time; else (an older relay) all of them */
		if (relay_pg_exec(c->pg, "SELECT floor(min((to_jsonb(s) ->> CASE WHEN"
				  " (to_jsonb(s) ->> 'late_kept')::boolean THEN 'min_on_ns'"
				  " ELSE 'min_ns' END)::numeric) / 1000) FROM ferry.relay_spool s",
				  0, NULL, &res,
				  "cannot read ferry.relay_spool", &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
			return -1;
		}
		if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) && num(res, 0) < lo)
			lo = num(res, 0);
	}
	PQclear(res);
	return dedupe(c, lo, c->plan->t0_us, 1, r);
}

/* The --chunk-time an error of the copy's plan names ("give --chunk-time
 * 6h or more"), or "T". */
static void chunk_hint(const char *msg, char *out, size_t n)
{
	const char *p = strstr(msg, "give --chunk-time ");

	snprintf(out, n, "T");
	if (p && sscanf(p + strlen("give --chunk-time "), "%31[0-9a-z]", out) != 1)
		snprintf(out, n, "T");
}

static void g_backfill(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf dbr = FERRY_BUF_INIT;
	struct ferry_copy_opts co;
	const char *tbl = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	char end[32], us[32], t0[64], bt0[64], rn[600], hint[32];
	const char *p[1] = { us };
	int64_t seam;
	int rc, restarted = 0;

	(void)g;
	relay_cut_time_text(c->plan->t0_us, t0, sizeof(t0));
	/* the exact commands the figures give; never a password */
	if (ferry_url_redact(c->db, &dbr) < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	if (!c->plan->t0_us) {
		snprintf(r->figure, sizeof(r->figure), "no T0 recorded: roll back to dual-write "
			 "and advance again");
		goto out;
	}
	if (c->plan->backfill_t0_us && c->plan->backfill_t0_us != c->plan->t0_us) {
		/* the relays left dual (a rollback to prepare) and came back:
		 * the new store misses the writes in between */
		relay_cut_time_text(c->plan->backfill_t0_us, bt0, sizeof(bt0));
		snprintf(r->figure, sizeof(r->figure), "the backfill ran up to T0 %s, but T0 is "
			 "now %s (the relays left dual): the new store misses the writes in "
			 "between; start over (the old store has every point the new one "
			 "holds): ferry cutover abort --db %s, then ferry cutover prepare "
			 "--truncate with this plan's options (it empties table %s)", bt0, t0,
			 dbr.buf, tbl);
		goto out;
	}
	ferry_copy_opts_init(&co);
	co.src = c->plan->old_url;
	co.dst = relay_cut_new(c);
	co.job = BACKFILL_JOB;
	co.data_only = 1;
	/* the wide layout: the relays make a measurement's table (and its
	 * columns) as its first live point comes; the history's other
	 * measurements and tags are made here the same way (keys first, a
	 * tag NOT NULL DEFAULT ''), so relays write them beside the load */
	co.live_tables = !relay_cut_new_influx(c) && c->plan->layout &&
			 !strcmp(c->plan->layout, "wide");
	/* InfluxDB: the done chunks are kept beside the plan, so an advance
	 * from any machine resumes them (prepare made the database) */
	co.state = relay_cut_new_influx(c) ? c->db : NULL;
	co.create_db = relay_cut_new_influx(c);
	co.progress_mode = c->o->progress_mode;
	co.progress_out = c->o->progress_out;
	relay_cut_plan_ts(c->plan, &co.ts);
	snprintf(end, sizeof(end), "%" PRId64 "000", c->plan->t0_us);
	co.ts.end = end;
	snprintf(us, sizeof(us), "%" PRId64, c->plan->t0_us);
	/* this plan's first run: a job of an earlier (aborted) plan ran with
	 * another T0 and is not this one's to resume */
	co.restart = !c->plan->backfill_t0_us;
	/* blue-green, immediate: the old store's counts before the backfill
	 * reads it, so later points before T0 are found (cutover_repair.c) */
	if (co.restart && relay_cut_old_snapshot(c, r) < 0)
		goto out;
	/* recorded before the copy: a rerun after kill -9 resumes the same
	 * job, never one with another end */
	if (relay_pg_exec(c->pg, "UPDATE ferry.cutover_plan SET backfill_t0 ="
			  " to_timestamp($1::bigint / 1e6)", 1, p, NULL,
			  "cannot record the backfill's T0", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		goto out;
	}
	c->plan->backfill_t0_us = c->plan->t0_us;
	/* the InfluxDB source plans --end T0 by the points before T0 only:
	 * the live writes after T0 leave the job resumable.  Points stamped
	 * before T0 that reach the old store later (late, through the
	 * relays, which write them to the new store too) change that plan:
	 * a job complete before them stands (a rollback to dual-write and
	 * the way forward again run this gate again), nothing of it is read
	 * again; the verify gate compares the whole window after */
	co.keep_done = 1;
	rc = ferry_copy_run(&co, &res, &err);
	if (rc == FERRY_EUSAGE && strstr(err.msg, "another source state") &&
	    relay_cut_new_influx(c)) {
		/* an unfinished job: its chunks are numbered in a plan the
		 * source no longer makes.  InfluxDB keeps one point per series
		 * and time, so the job started over writes what is there
		 * again and nothing twice */
		ferry_copy_result_free(res);
		res = NULL;
		err = (struct ferry_error)FERRY_ERROR_INIT;
		co.restart = 1;
		restarted = 1;
		rc = ferry_copy_run(&co, &res, &err);
	}
	if (rc == FERRY_EUSAGE && strstr(err.msg, "another source state")) {
		/* PostgreSQL: the rows of its done chunks cannot be told from
		 * the relays' (no key), so it cannot start over in place */
		snprintf(r->figure, sizeof(r->figure), "job %s stopped before it was complete, and "
			 "the old store changed before T0 %s since it began (points stamped before "
			 "T0 written since, e.g. late through the relays): its remaining chunks "
			 "were cut from the points as they were and cannot be resumed; start over "
			 "(the old store has every point the new one holds): ferry cutover abort "
			 "--db %s, then ferry cutover prepare --truncate with this plan's options "
			 "(it empties table %s)", BACKFILL_JOB, t0, dbr.buf, tbl);
		goto out;
	}
	if (rc == FERRY_EUSAGE) {
		/* the plan's options cannot copy the old store as it is: no
		 * advance helps, other options do */
		chunk_hint(err.msg, hint, sizeof(hint));
		if (strstr(err.msg, "--chunk-time"))
			snprintf(r->figure, sizeof(r->figure), "job %s cannot run with this plan's "
				 "--chunk-time %s: %s; to change it: ferry cutover advance --db %s "
				 "--chunk-time %s", BACKFILL_JOB, c->plan->chunk_time &&
				 *c->plan->chunk_time ? c->plan->chunk_time : "(none)", err.msg,
				 dbr.buf, hint);
		else
			snprintf(r->figure, sizeof(r->figure), "job %s cannot run with this plan: "
				 "%s", BACKFILL_JOB, err.msg);
		goto out;
	}
	if (rc < 0 && co.live_tables && strstr(err.msg, "as the relays make it")) {
		/* a definition that cannot be: nothing an advance mends */
		snprintf(r->figure, sizeof(r->figure), "job %s cannot make the wide layout's "
			 "tables: %s", BACKFILL_JOB, err.msg);
		goto out;
	}
	if (rc < 0) {
		snprintf(r->figure, sizeof(r->figure), "job %s stopped: %s (advance again "
			 "resumes it)", BACKFILL_JOB, err.msg);
		goto out;
	}
	c->backfilled = res ? res->written : 0;
	r->value = (double)c->backfilled;
	if ((seam = seam_repair(c, r)) < 0)
		goto out;
	r->pass = rejects_ok(c, res, rn, sizeof(rn));
	snprintf(r->figure, sizeof(r->figure), "job %s %s: %" PRId64 " rows before T0 %s%s"
		 "%s%s%s", BACKFILL_JOB, r->pass ? "complete" : "rejected rows",
		 res ? res->written : 0, t0, restarted ? " (started over: the old store "
		 "changed before T0 since it began)" : res && res->resumed ? " (resumed)" : "",
		 res && res->kept_done ? "; complete since an earlier advance, taken as it is "
		 "(the old store changed before T0 since: points written late, which the "
		 "relays wrote here too; the verify gate compares all)" : "",
		 seam ? "; rows written twice at the seam removed" : "", rn);
out:
	ferry_copy_result_free(res);
	ferry_buf_release(&dbr);
}

/*
 * blue-green, immediate: the relays wrote only the old store from T0 until
 * they switched; T1 is when the last one did (recorded at the first run,
 * so a rerun copies the same window).  ferry copy [T0, T1) as job
 * cutover-catchup (started over when T1 is new: a rollback before the
 * switch and the way forward again give a later one), then the rows of
 * the window written twice removed (dedupe()): a point of it written by
 * a relay that switched early, or by a catch-up before a rollback, is
 * there already (narrow; the wide layout's key refuses it, see the
 * README).
 */
static int late_sweep(struct cut_ctx *c, char *note, size_t n, struct cut_result *r);

static void g_catchup(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_copy_opts co;
	char start[32], end[32], us[32], t0[64], t1[64], rn[600], late[640];
	const char *p[1] = { us };
	int first = 0, rc;
	int64_t dup, ahead = 0;

	(void)g;
	if (!c->plan->t0_us) {
		snprintf(r->figure, sizeof(r->figure), "no T0 recorded");
		return;
	}
	if (!c->plan->t1_us) {
		relay_cut_relays_in(c, relay_cut_phase(c->plan, FERRY_STEP_SWITCHOVER), r);
		if (!r->pass)
			return;
		r->pass = 0;
		snprintf(us, sizeof(us), "%" PRId64, c->t0_us);
		if (relay_pg_exec(c->pg, "UPDATE ferry.cutover_plan SET t1 = (timestamptz 'epoch' +"
				  " $1::bigint * interval '1 microsecond')", 1, p, NULL,
				  "cannot record the switch time", &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
			return;
		}
		c->plan->t1_us = c->t0_us;
		first = 1;
	}
	relay_cut_time_text(c->plan->t0_us, t0, sizeof(t0));
	relay_cut_time_text(c->plan->t1_us, t1, sizeof(t1));
	ferry_copy_opts_init(&co);
	co.src = c->plan->old_url;
	co.dst = relay_cut_new(c);
	co.job = CATCHUP_JOB;
	co.state = relay_cut_new_influx(c) ? c->db : NULL;
	co.create_db = relay_cut_new_influx(c);
	co.data_only = 1;
	co.restart = first;
	co.progress_mode = c->o->progress_mode;   /* a work gate: advance only */
	co.progress_out = c->o->progress_out;
	relay_cut_plan_ts(c->plan, &co.ts);
	snprintf(start, sizeof(start), "%" PRId64 "000", c->plan->t0_us);
	snprintf(end, sizeof(end), "%" PRId64 "000", c->plan->t1_us);
	co.ts.start = start;
	co.ts.end = end;
	if ((rc = ferry_copy_run(&co, &res, &err)) < 0) {
		/* a usage error (the plan's options) is not one an advance mends */
		snprintf(r->figure, sizeof(r->figure), rc == FERRY_EUSAGE ? "job %s cannot run "
			 "with this plan: %s" : "job %s stopped: %s (advance again resumes it)",
			 CATCHUP_JOB, err.msg);
		ferry_copy_result_free(res);
		return;
	}
	if ((dup = dedupe(c, c->plan->t0_us, c->plan->t1_us, 0, r)) < 0 ||
	    (ahead = relay_cut_ahead(c, r)) < 0 || late_sweep(c, late, sizeof(late), r) < 0) {
		ferry_copy_result_free(res);
		return;
	}
	if (ahead > 0) {
		size_t l = strlen(late);

		/* (PostgreSQL only: relay_cut_ahead) */
		snprintf(late + l, sizeof(late) - l, "; %" PRId64 " rows stamped after the switch, "
			 "written to the old store before it (a clock running ahead), added", ahead);
	}
	r->value = res ? (double)res->written : 0;
	r->pass = rejects_ok(c, res, rn, sizeof(rn));
	snprintf(r->figure, sizeof(r->figure), "job %s %s: %" PRId64 " rows of T0 %s to the "
		 "switch %s%s%s%s%s", CATCHUP_JOB, r->pass ? "complete" : "rejected rows",
		 res ? res->written : 0, t0, t1, res && res->resumed ? " (resumed)" : "",
		 dup ? "; rows there already removed" : "", rn, late);
	ferry_copy_result_free(res);
}

/* The target's time-series tables cut at T0, in a schema of their own, so
 * the verify compares what the backfill promised: every table of the
 * public schema with a timestamptz column "time".  Copies (unlogged,
 * dropped after the verify), not views: ferry verify reads tables only.
 * That costs a read and a write of the window; a verify that takes a
 * target window itself would spare it. */
static int window_views(struct cut_ctx *c, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int rc = -1;

	if (ferry_buf_addf(&sql,
			   "DO $$ DECLARE t text; BEGIN"
			   " DROP SCHEMA IF EXISTS " WINDOW_SCHEMA " CASCADE;"
			   " CREATE SCHEMA " WINDOW_SCHEMA ";"
			   " FOR t IN SELECT c.table_name::text FROM information_schema.columns c"
			   "  JOIN information_schema.tables b USING (table_schema, table_name)"
			   "  WHERE c.table_schema = 'public' AND c.column_name = 'time'"
			   "  AND b.table_type = 'BASE TABLE'"
			   "  AND c.data_type = 'timestamp with time zone' LOOP"
			   "  EXECUTE format('CREATE UNLOGGED TABLE " WINDOW_SCHEMA ".%%I AS SELECT * FROM"
			   "   public.%%I WHERE time < (timestamptz ''epoch'' + %" PRId64
			   "   * interval ''1 microsecond'')', t, t);"
			   " END LOOP; END $$", c->plan->t0_us) < 0)
		snprintf(r->figure, sizeof(r->figure), "out of memory");
	else if (relay_pg_exec(c->pg, sql.buf, 0, NULL, NULL,
			       "cannot copy the window before T0 for the verify", &err) < 0)
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
	else
		rc = 0;
	ferry_buf_release(&sql);
	return rc;
}

/* ferry verify of both stores before T0 (PostgreSQL: the seam cleared,
 * the window copied); 0 and *res, or -1 with the reason in r (the
 * caller drops the window's copy). */
static int verify_t0(struct cut_ctx *c, struct ferry_verify_result **res, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_verify_opts vo;
	char end[32];
	int rc;

	*res = NULL;
	/* InfluxDB: the verify reads the window itself (--end) */
	if (!relay_cut_new_influx(c) && (seam_repair(c, r) < 0 || window_views(c, r) < 0))
		return -1;
	memset(&vo, 0, sizeof(vo));
	vo.src = c->plan->old_url;
	vo.dst = relay_cut_new(c);
	vo.schema = relay_cut_new_influx(c) ? NULL : WINDOW_SCHEMA;
	vo.include = c->include;
	vo.progress_mode = c->o->progress_mode;
	vo.progress_out = c->o->progress_out;
	relay_cut_plan_ts(c->plan, &vo.ts);
	snprintf(end, sizeof(end), "%" PRId64 "000", c->plan->t0_us);
	vo.ts.end = end;
	rc = ferry_verify_run(&vo, res, &err);
	if (rc == FERRY_EUSAGE && c->include && strstr(err.msg, "matches no measurement")) {
		/* a wave of measurements with no point before T0 */
		ferry_verify_result_free(*res);
		*res = NULL;
		return 0;
	}
	if (rc < 0) {
		snprintf(r->figure, sizeof(r->figure), "ferry verify failed: %s", err.msg);
		ferry_verify_result_free(*res);
		*res = NULL;
		return -1;
	}
	return 0;
}

static void drop_window(struct cut_ctx *c)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	/* and a repair's scratch tables a killed advance left */
	if (relay_pg_exec(c->pg, "DROP SCHEMA IF EXISTS " WINDOW_SCHEMA " CASCADE;"
			  " DROP SCHEMA IF EXISTS " RELAY_CUT_REPAIR_SCHEMA " CASCADE", 0, NULL,
			  NULL, "cannot drop the window's copy", &err) < 0)
		ferry_warn("cutover: %s", err.msg);
}

/* blue-green and immediate: the relays write only the old store until
 * the switch, so a difference before T0 can be points stamped before it
 * that reached the old store after the backfill read their window
 * (cutover_repair.c): copied again, and *res verified again.  A note of
 * it into note ("" when nothing was copied); -1 with the reason in r. */
static int late_repair(struct cut_ctx *c, struct ferry_verify_result **res, int again,
		       char *note, size_t n, struct cut_result *r)
{
	size_t nwin;
	int64_t added;

	note[0] = '\0';
	if ((*res && (*res)->equal) || (!*res && relay_cut_new_influx(c)) || c->include ||
	    (strcmp(c->plan->strategy, "blue-green") && strcmp(c->plan->strategy, "immediate")))
		return 0;
	if ((added = relay_cut_repair(c, *res, &nwin, r)) < 0)
		return -1;
	if (!nwin)
		return 0;
	snprintf(note, n, "; %" PRId64 " %s of %zu window%s copied again from the old store "
		 "(stamped before T0, written to it after the backfill read them: the relays "
		 "write only it until the switch)", added, relay_cut_new_influx(c) ? "points" :
		 "missing or changed rows", nwin, nwin == 1 ? "" : "s");
	if (!again)
		return 0;
	ferry_verify_result_free(*res);
	return verify_t0(c, res, r);
}

void relay_cut_verify(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_verify_result *res = NULL;
	char t0[64], note[400];

	(void)g;
	if (!c->plan->t0_us) {
		snprintf(r->figure, sizeof(r->figure), "no T0 recorded");
		return;
	}
	relay_cut_time_text(c->plan->t0_us, t0, sizeof(t0));
	if (verify_t0(c, &res, r) < 0 || late_repair(c, &res, 1, note, sizeof(note), r) < 0)
		goto out;
	if (!res) {
		/* a wave of measurements with no point before T0 */
		r->pass = 1;
		snprintf(r->figure, sizeof(r->figure), "no point of these measurements before "
			 "T0 %s in the old store: nothing to compare", t0);
		goto out;
	}
	r->pass = res->equal;
	r->value = (double)res->differing;
	if (res->equal)
		snprintf(r->figure, sizeof(r->figure), "equal before T0 %s: %" PRId64
			 " rows in both stores%s", t0, res->dst_rows, note);
	else
		snprintf(r->figure, sizeof(r->figure), "%" PRId64 " rows in the old store, "
			 "%" PRId64 " in the new before T0 %s; first difference: %s%s%s%s%s",
			 res->src_rows, res->dst_rows, t0,
			 res->ndiffs ? res->diffs[0].table : "?",
			 res->ndiffs && res->diffs[0].what ? ": " : "",
			 res->ndiffs && res->diffs[0].what ? res->diffs[0].what : "",
			 res->dst_rows > res->src_rows ? " (rows the old store has not: "
			 "written to the new one by hand or before this plan, or a point "
			 "written again through the relays with another value (dual, "
			 "new-primary), which the narrow layout keeps twice; ferry verify "
			 "OLD NEW --end T0 names where: delete them and advance again)" :
			 res->dst_rows == res->src_rows ? " (as many rows, other values: a "
			 "point written to the old store again with another value after "
			 "the backfill read it keeps the counts and is not copied again; "
			 "ferry verify OLD NEW --end T0 names the rows: set them to the old "
			 "store's values in the new one and advance again)" : " (rows the "
			 "new store misses; ferry verify OLD NEW --end T0 names where)",
			 note);
out:
	ferry_verify_result_free(res);
	drop_window(c);
}

/* After the switch (catch-up): the points stamped before T0 written to
 * the old store alone since the verify gate read them, added to the new
 * (late_repair, not verified again: the new store may now have points
 * before T0 the old one has not, written by the relays since).  Into
 * PostgreSQL the days whose count changed in the old store since the
 * last look find them, and only missing rows are added.  Into InfluxDB
 * not: a point can only be written over there, and the new store's own
 * since the switch (a value corrected) would go back to the old one.  A
 * note into note; -1 with the reason in r. */
static int late_sweep(struct cut_ctx *c, char *note, size_t n, struct cut_result *r)
{
	struct ferry_verify_result *res = NULL;   /* none: not verified again */

	note[0] = '\0';
	if (relay_cut_new_influx(c))
		return 0;   /* its points would be written over the relays' since */
	return late_repair(c, &res, 0, note, n, r);
}

/* ---- the table ----------------------------------------------------------------- */

const struct cut_gate relay_cut_gates[] = {
	{ "schema", FERRY_STEP_PREPARE, CUT_ALL, 0, 0,
	  "the target tables exist (made at prepare as ferry copy makes them)", g_schema, NULL },
	{ "relays-ready", FERRY_STEP_PREPARE, CUT_ALL, 0, 0,
	  "at least one relay reported in the last 30 s, every one ready", g_relays_ready, NULL },
	{ "spool-writable", FERRY_STEP_PREPARE, CUT_ALL, 0, 0,
	  "every live relay has a spool with room", g_spool_writable, NULL },
	{ "relays-dual", FERRY_STEP_DUAL_WRITE, CUT_DUAL | CUT_GRAD, 0, 0,
	  "every live relay writes both stores; T0 is when the last one began", g_relays_dual, NULL },
	{ "backfill", FERRY_STEP_BACKFILL, CUT_ALL, 1, 0,
	  "ferry copy of everything before T0 complete (job cutover-backfill)", g_backfill, NULL },
	{ "spool-drained", FERRY_STEP_VALIDATE, CUT_ALL, 0, 5,
	  "replay lag of every live relay under 5 s", g_spool_drained, NULL },
	{ "error-rate-old", FERRY_STEP_VALIDATE, CUT_ALL, 0, 0.01,
	  "failed writes to the old store in the last 5 min under 1%", g_errors_old, NULL },
	{ "error-rate-new", FERRY_STEP_VALIDATE, CUT_ALL, 0, 0.01,
	  "failed writes to the new store in the last 5 min under 1%", g_errors_new, NULL },
	{ "verify", FERRY_STEP_VALIDATE, CUT_ALL, 1, 0,
	  "ferry verify: both stores equal before T0", relay_cut_verify, NULL },
	{ "query-latency", FERRY_STEP_VALIDATE, CUT_ALL, 1, 100,
	  "representative queries on the new store: p95 under 100 ms (the old store's "
	  "beside it)", relay_cut_g_latency, NULL },
	{ "live-consistency", FERRY_STEP_VALIDATE, CUT_DUAL | CUT_GRAD, 1, 0.001,
	  "points the relays wrote in dual, read back from both stores: under 0.1% differ",
	  relay_cut_live, NULL },
	{ "relays-new-primary", FERRY_STEP_SWITCHOVER, CUT_DUAL | CUT_BLUE, 0, 0,
	  "every live relay writes the new store first", g_relays_new_primary, NULL },
	{ "relays-waves", FERRY_STEP_SWITCHOVER, CUT_GRAD, 0, 0,
	  "gradual: every live relay writes each wave by its phase",
	  relay_cut_g_relays_waves, NULL },
	{ "relays-new-primary", FERRY_STEP_SWITCHOVER, CUT_GRAD, 0, 0,
	  "gradual, every wave switched: every live relay writes the new store first",
	  g_relays_new_primary, relay_cut_waves_all },
	{ "wave-error-rate", FERRY_STEP_SWITCHOVER, CUT_GRAD, 0, 0.01,
	  "gradual: the last wave switched: failed writes of its points to the new store "
	  "(the primary) in the last 5 min under 1%", relay_cut_g_wave_errors, NULL },
	{ "relays-new-only", FERRY_STEP_SWITCHOVER, CUT_IMM, 0, 0,
	  "immediate: every live relay writes only the new store", g_relays_new_only, NULL },
	{ "catchup", FERRY_STEP_SWITCHOVER, CUT_BLUE | CUT_IMM, 1, 0,
	  "blue-green, immediate: ferry copy of T0 to the switch complete (job "
	  "cutover-catchup)", g_catchup, NULL },
	{ "error-rate-new", FERRY_STEP_SWITCHOVER, CUT_ALL, 0, 0.01,
	  "failed writes to the new store in the last 5 min under 1%", g_errors_new, NULL },
	{ "spool-drained", FERRY_STEP_SWITCHOVER, CUT_ALL, 0, 5,
	  "the old store caught up: replay lag under 5 s", g_spool_drained, NULL },
	{ "soak", FERRY_STEP_SWITCHOVER, CUT_DUAL | CUT_BLUE | CUT_GRAD, 0, 0,
	  "the soak period (prepare --soak, default 1h) has passed (gradual: since "
	  "the last wave switched)", g_soak, NULL },
	{ "wave-verify", FERRY_STEP_SWITCHOVER, CUT_GRAD, 1, 0,
	  "gradual: ferry verify of the next wave's measurements: equal before T0",
	  relay_cut_g_wave_verify, relay_cut_waves_left },
};
const size_t relay_cut_ngates = sizeof(relay_cut_gates) / sizeof(relay_cut_gates[0]);

/* The last recorded result of a work gate (status runs no copy). */
static json_t *last_of(json_t *last, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(last, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));

		if (n && !strcmp(n, name))
			return v;
	}
	return NULL;
}

static int strategy_bit(const struct cut_plan *p)
{
	return !strcmp(p->strategy, "blue-green") ? CUT_BLUE :
	       !strcmp(p->strategy, "immediate") ? CUT_IMM :
	       !strcmp(p->strategy, "gradual") ? CUT_GRAD : CUT_DUAL;
}

int relay_cut_catchup_now(struct cut_ctx *c, FILE *out)
{
	int phase = relay_cut_phase(c->plan, FERRY_STEP_SWITCHOVER), i;
	struct cut_result r;
	size_t k;

	/* the relays follow within a second and report every 10 s */
	for (i = 0; i < 30; i++) {
		memset(&r, 0, sizeof(r));
		relay_cut_relays_in(c, phase, &r);
		if (r.pass)
			break;
		sleep(1);
	}
	for (k = 0; k < relay_cut_ngates; k++)
		if (relay_cut_gates[k].fn == g_catchup)
			break;
	memset(&r, 0, sizeof(r));
	g_catchup(c, &relay_cut_gates[k], &r);
	if (out) {
		fprintf(out, "  %-6s %-20s %s\n", r.pass ? "pass" : "fail", "catchup", r.figure);
		fflush(out);
	}
	/* status shows it as the catchup gate's last result */
	{
		json_t *a = json_pack("[{s:s, s:s, s:s, s:f, s:f}]", "name", "catchup", "state",
				      r.pass ? "pass" : "fail", "figure", r.figure, "value",
				      r.value, "threshold", 0.0);
		char *g = a ? json_dumps(a, JSON_COMPACT) : NULL;
		const char *p[1] = { g };
		struct ferry_error err = FERRY_ERROR_INIT;

		if (g && relay_pg_exec(c->pg, "UPDATE ferry.cutover_plan SET last_gates ="
				       " $1::jsonb", 1, p, NULL, "cannot record the catch-up",
				       &err) < 0)
			ferry_warn("cutover: %s", err.msg);
		free(g);
		json_decref(a);
	}
	return r.pass ? 0 : -1;
}

int relay_cut_gates_eval(struct cut_ctx *c, json_t *arr, FILE *out)
{
	int all = 1, bit = strategy_bit(c->plan);
	size_t i;

	for (i = 0; i < relay_cut_ngates; i++) {
		const struct cut_gate *g = &relay_cut_gates[i];
		struct cut_result r;
		const char *state;
		json_t *o, *prev;

		if (g->step != c->plan->step || !(g->strategies & bit) || (g->when && !g->when(c)))
			continue;
		memset(&r, 0, sizeof(r));
		r.ran = 1;
		if (g->work && !c->work) {
			prev = c->last ? last_of(c->last, g->name) : NULL;
			if (prev) {
				json_array_append(arr, prev);
				if (strcmp(json_string_value(json_object_get(prev, "state")), "pass"))
					all = 0;
				continue;
			}
			r.ran = 0;
			snprintf(r.figure, sizeof(r.figure), "not run yet: advance runs it");
		} else if (g->work && !all) {
			r.ran = 0;
			snprintf(r.figure, sizeof(r.figure), "skipped: a gate above failed");
		} else {
			g->fn(c, g, &r);
		}
		state = !r.ran ? (g->work && c->work ? "skipped" : "not-run") :
			r.pass ? "pass" : "fail";
		if (!r.pass)
			all = 0;
		/* a figure quotes messages, cut to its size: text for JSON */
		val_utf8_scrub(r.figure, strlen(r.figure));
		o = json_pack("{s:s, s:s, s:s, s:f, s:f}", "name", g->name, "state", state,
			      "figure", r.figure, "value", r.value, "threshold", g->threshold);
		if (!o || json_array_append_new(arr, o) < 0)
			return FERRY_ENOMEM;
		if (out) {
			fprintf(out, "  %-6s %-20s %s\n", state, g->name, r.figure);
			fflush(out);
		}
	}
	return all;
}
