/*
 * cutover_live.c - the live-consistency gate of validate: the points the
 * relays wrote in dual (ferry.cutover_samples, see relay.c) read back
 * from both stores and compared.
 *
 * A sample counts once the relay's replay passed its spool record: the
 * new store's position for that spool (ferry.relay_spool) commits with
 * the rows, so a sample at or below it is in the new store or never will
 * be.  For each sampled (measurement, time) the old store's points are
 * read with the InfluxDB point source tsmap has (the one copy and verify
 * read), then written into a scratch table through the relay's own
 * PostgreSQL sink (the same layout, the same mapping, the same DDL), so
 * the rows the new store should hold for them are made by the code that
 * made the real ones; the scratch rows and the real rows of those keys
 * are then compared whole.  A key differs when any row is on one side
 * only: a point missing in either store, or a value that differs.
 *
 * The old store read is InfluxDB's; a PostgreSQL old store, a map and the
 * wide layout are not compared (the gate passes and says so: the verify
 * gate still compares everything before T0).
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
#include "ferry/connector.h"
#include "ferry/url.h"
#include "relay/cutover_int.h"
#include "relay/relay_int.h"
#include "tsmap/tsmap.h"

#define CHECK_TABLE "ferry_cutover_check"
/* at most the 500 latest replayed samples are compared (LIMIT below) */

/* The old store's points of one (measurement, time), as lines. */
struct lines {
	struct ferry_buf lp;
	size_t n;
	struct lp_tag *tags;
	size_t cap;
};

static int take_point(const struct tm_point *p, void *ud, struct ferry_error *err)
{
	struct lines *l = ud;

	if (tm_point_write(&l->lp, p, &l->tags, &l->cap) < 0 || ferry_buf_add(&l->lp, "\n", 1) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "cannot write a point read back");
	l->n++;
	return 0;
}

int relay_cut_old_points(struct cut_ctx *c, const char *table, char **m, const int64_t *lo,
			 const int64_t *hi, size_t n, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_source_opts so;
	struct tm_schema sch;
	struct ferry_ts_opts ts;
	struct relay_store *st = NULL;
	struct lines l;
	struct timespec now;
	char nonce[96];
	ferry_url *u = NULL;
	void *h = NULL;
	size_t i;
	int rc;

	memset(&so, 0, sizeof(so));
	memset(&sch, 0, sizeof(sch));
	memset(&l, 0, sizeof(l));
	ferry_buf_init(&l.lp, 0);
	relay_cut_plan_ts(c->plan, &ts);
	ts.table = table;
	if ((rc = ferry_url_parse(c->plan->old_url, &u, &err)) < 0 ||
	    (rc = ifx_source_ops.open(u, &so, &h, &err)) < 0 ||
	    (rc = ifx_source_ops.discover(h, &sch, &err)) < 0) {
		ferry_error_prefix(&err, "cannot read the old store");
		goto out;
	}
	if ((rc = relay_store_open(c->db, RELAY_NEW, &ts, &st, &err)) < 0)
		goto out;
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(nonce, sizeof(nonce), "ferry cutover %.40s %ld.%09ld %d", table,
		 (long)now.tv_sec, now.tv_nsec, (int)getpid());
	for (i = 0; i < n; i++) {
		int mi = tm_schema_find(&sch, m[i], strlen(m[i]));
		struct tm_chunk ck;
		struct relay_rec rec;

		if (mi < 0)
			continue;    /* the old store has no such measurement */
		memset(&ck, 0, sizeof(ck));
		ck.measurement = mi;
		ck.has_time = 1;
		ck.t_lo = lo[i];
		ck.t_hi = hi[i];
		ck.est = ck.est_values = -1;
		ferry_buf_clear(&l.lp);
		l.n = 0;
		if ((rc = ifx_source_ops.read(h, &sch, &ck, mi, take_point, NULL, &l, &err)) < 0) {
			ferry_error_prefix(&err, "cannot read the old store");
			goto out;
		}
		if (!l.n)
			continue;
		memset(&rec, 0, sizeof(rec));
		/* not the client's database, and one of its own each time: the
		 * sink leaves out a record it has seen (ferry.relay_seen, its
		 * retry guard, hashes the database with the lines), and these
		 * lines may be exactly a write the relay made, or the ones this
		 * gate wrote last time; the narrow rows do not hold the database */
		rec.db = nonce;
		rec.rp = "";
		rec.lp = l.lp.buf;
		rec.n = l.lp.len;
		rec.npoints = l.n;
		if ((rc = relay_store_write(st, &rec, 1, NULL, &err)) < 0)
			goto out;
	}
out:
	if (rc < 0)
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
	if (st)
		relay_store_close(st);
	if (h)
		ifx_source_ops.close(h);
	tm_schema_release(&sch);
	ferry_url_free(u);
	ferry_buf_release(&l.lp);
	ferry_free(l.tags);
	return rc < 0 ? -1 : 0;
}

/* Compare the scratch rows with the real ones at the keys: the keys that
 * differ, and the first differing row into r. */
static int64_t compare(struct cut_ctx *c, const char *mlist, const char *tlist, size_t n,
		       struct cut_result *r, char *first, size_t cap)
{
	const char *t = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	const char *p[2] = { mlist, tlist };
	PGresult *res = NULL;
	int64_t bad = -1;
	char *q;

	(void)n;
	if (!(q = PQescapeIdentifier(c->pg, t, strlen(t)))) {
		snprintf(r->figure, sizeof(r->figure), "cannot quote table name '%s'", t);
		return -1;
	}
	if (ferry_buf_addf(&sql,
			   "WITH k AS (SELECT DISTINCT m, timestamptz 'epoch' + t / 1000 *"
			   "  interval '1 microsecond' AS time"
			   "  FROM unnest($1::text[], $2::bigint[]) AS u(m, t)),"
			   " a AS (SELECT x.measurement, x.time, x::text AS row FROM " CHECK_TABLE " x"
			   "  JOIN k ON x.measurement = k.m AND x.time = k.time),"
			   " b AS (SELECT x.measurement, x.time, x::text AS row FROM %s x"
			   "  JOIN k ON x.measurement = k.m AND x.time = k.time),"
			   " d AS ((SELECT 'old store only' AS side, * FROM (SELECT * FROM a EXCEPT ALL"
			   "  SELECT * FROM b) y) UNION ALL (SELECT 'new store only', * FROM"
			   "  (SELECT * FROM b EXCEPT ALL SELECT * FROM a) z))"
			   " SELECT (SELECT count(*) FROM (SELECT DISTINCT measurement, time FROM d) e),"
			   " (SELECT side || ': ' || row FROM d ORDER BY time, side, row LIMIT 1)", q) < 0)
		snprintf(r->figure, sizeof(r->figure), "out of memory");
	else if (relay_pg_exec(c->pg, sql.buf, 2, p, &res, "cannot compare the samples", &err) < 0)
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
	else {
		bad = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		snprintf(first, cap, "%s", PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	PQfreemem(q);
	ferry_buf_release(&sql);
	return bad;
}

static void drop_check(struct cut_ctx *c)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	relay_pg_exec(c->pg, "DROP TABLE IF EXISTS " CHECK_TABLE, 0, NULL, NULL,
		      "cannot drop the scratch table", &err);
}

void relay_cut_live(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf ml = FERRY_BUF_INIT, tl = FERRY_BUF_INIT;
	char first[512] = "", t0[32], db[256] = "";
	char **m = NULL;
	int64_t *t = NULL, *t1 = NULL, bad, total, pending;
	PGresult *res = NULL, *cnt = NULL;
	ferry_url *u = NULL;
	size_t n, i, nu = 0;
	int e = 0;

	if (strncasecmp(c->plan->old_url, "influx:", 7) ||
	    (c->plan->layout && !strcmp(c->plan->layout, "wide")) ||
	    (c->plan->map && *c->plan->map) || relay_cut_new_influx(c)) {
		r->pass = 1;
		snprintf(r->figure, sizeof(r->figure), "not compared: the samples are read back "
			 "from an InfluxDB old store into PostgreSQL's narrow layout only (the verify "
			 "gate compares everything before T0)");
		return;
	}
	if (ferry_url_parse(c->plan->old_url, &u, &err) == 0 && u->path)
		snprintf(db, sizeof(db), "%s", u->path + (u->path[0] == '/'));
	ferry_url_free(u);
	snprintf(t0, sizeof(t0), "%" PRId64, c->plan->t0_us);
	{
		const char *p[2] = { t0, db };

		/* replayed: at or below the new store's position of that spool */
		if (relay_pg_exec(c->pg, "SELECT count(*), count(*) FILTER (WHERE p.seq IS NULL OR"
				  " s.seq > p.seq) FROM ferry.cutover_samples s LEFT JOIN"
				  " ferry.relay_spool p USING (spool_id) WHERE s.time_ns >= $1::bigint"
				  " * 1000 AND s.db = $2", 2, p, &cnt,
				  "cannot read ferry.cutover_samples", &err) < 0 ||
		    relay_pg_exec(c->pg, "SELECT s.measurement, s.time_ns FROM ferry.cutover_samples s"
				  " JOIN ferry.relay_spool p USING (spool_id) WHERE s.seq <= p.seq"
				  " AND s.time_ns >= $1::bigint * 1000 AND s.db = $2"
				  " ORDER BY s.id DESC LIMIT 500", 2, p, &res,
				  "cannot read ferry.cutover_samples", &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
			goto out;
		}
	}
	total = strtoll(PQgetvalue(cnt, 0, 0), NULL, 10);
	pending = strtoll(PQgetvalue(cnt, 0, 1), NULL, 10);
	n = (size_t)PQntuples(res);
	if (!total) {
		/* an idle store gives nothing to compare: that is no reason to
		 * hold the cutover (the verify gate covers what is before T0) */
		r->pass = 1;
		snprintf(r->figure, sizeof(r->figure), "no write sampled in dual yet (no traffic, "
			 "or relays that do not sample): nothing to compare");
		goto out;
	}
	if (!n) {
		snprintf(r->figure, sizeof(r->figure), "no sample replayed into the new store yet "
			 "(%" PRId64 " taken, %" PRId64 " waiting for the replay): the relays sample "
			 "1 in prepare --sample-every writes in dual", total, pending);
		goto out;
	}
	if (!(m = ferry_calloc(n, sizeof(*m))) || !(t = ferry_calloc(n, sizeof(*t))) ||
	    !(t1 = ferry_calloc(n, sizeof(*t1)))) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	e |= ferry_buf_add(&tl, "{", 1);
	for (i = 0; i < n; i++) {
		m[i] = PQgetvalue(res, (int)i, 0);
		t[i] = strtoll(PQgetvalue(res, (int)i, 1), NULL, 10);
		/* the sample's microsecond: the rows compared are those of it,
		 * and another point of it (sub-us apart) is a row there too */
		t[i] -= ((t[i] % 1000) + 1000) % 1000;
		t1[i] = t[i] + 1000;
		e |= ferry_pg_array_add(&ml, m[i], strlen(m[i]));
		e |= ferry_buf_addf(&tl, "%s%" PRId64, i ? "," : "", t[i]);
	}
	e |= ferry_pg_array_end(&ml);
	e |= ferry_buf_add(&tl, "}", 1);
	if (e < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	/* each (measurement, microsecond) read once: twice, a point that came
	 * in between would be two rows of the old store's */
	for (i = 0; i < n; i++) {
		size_t j;

		for (j = 0; j < nu && (t[j] != t[i] || strcmp(m[j], m[i])); j++)
			;
		if (j == nu) {
			m[nu] = m[i];
			t[nu] = t[i];
			t1[nu++] = t1[i];
		}
	}
	drop_check(c);
	if (relay_cut_old_points(c, CHECK_TABLE, m, t, t1, nu, r) < 0 ||
	    (bad = compare(c, ml.buf, tl.buf, n, r, first, sizeof(first))) < 0)
		goto out;
	r->value = (double)bad / (double)n;
	r->pass = r->value <= g->threshold;
	snprintf(r->figure, sizeof(r->figure), "%.2f%% of %zu sampled points differ between the "
		 "stores (%" PRId64 "), threshold %g%%; %" PRId64 " samples in all, %" PRId64
		 " waiting for the replay%s%s", r->value * 100, n, bad, g->threshold * 100, total,
		 pending, bad ? "; first: " : "", bad ? first : "");
out:
	drop_check(c);
	PQclear(res);
	PQclear(cnt);
	ferry_free(m);
	ferry_free(t);
	ferry_free(t1);
	ferry_buf_release(&ml);
	ferry_buf_release(&tl);
}
