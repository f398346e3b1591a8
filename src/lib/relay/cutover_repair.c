/*
 * cutover_repair.c - the old store's points before T0 that the new one
 * misses, copied again (blue-green, immediate).
 *
 * Those strategies keep the relays in old-only from T0 until the switch:
 * a point stamped before T0 that reaches the old store after the
 * backfill read its window (a device's backlog, a client's retry queue)
 * is in the old store alone, and neither the backfill nor the catch-up
 * ([T0, T1)) reads it again.  The verify names the windows that differ;
 * each is copied again from the old store (ferry copy --start --end, job
 * cutover-repair) and only what the new store lacks is added: into
 * PostgreSQL through a scratch schema, a row as many times as the old
 * store makes it and the new one has it fewer (never a row removed: after
 * the switch the new store has points before T0 the old one has not);
 * into InfluxDB written over (one point per series and time).
 *
 * The windows: into InfluxDB, those the verify names (it compares window
 * by window).  Into PostgreSQL's narrow table the verify compares the
 * table as one (no key to cut it by), so the old store's field values
 * are counted per measurement and UTC day (an InfluxQL count a
 * measurement, GROUP BY time(1d) fill(none)) beside the table's rows, and
 * the days where the old store has more are the windows.  A point changed
 * in place (same series and time, another value) is not found that way:
 * the verify still names it; one that also adds a field moves the count,
 * and its changed values are taken before the switch (add_missing).  Other layouts (wide, a map) are not
 * repaired.
 *
 * The same way after the switch, relay_cut_ahead: the day from T1 on,
 * for the points a client whose clock runs ahead stamped after the switch
 * but wrote before it.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/connector.h"
#include "ferry/copy.h"
#include "ferry/progress.h"
#include "ferry/url.h"
#include "ferry/verify.h"
#include "model/value.h"
#include "relay/cutover_int.h"
#include "tsmap/tsmap.h"

#define REPAIR_SCHEMA RELAY_CUT_REPAIR_SCHEMA
#define REPAIR_JOB "cutover-repair"
/* Into InfluxDB, more windows the verify names than this: not points
 * written late (a wrong --chunk-time, another source, a database emptied
 * by hand).  Into PostgreSQL every changed day is copied, however many:
 * the snapshot moves on after them. */
#define REPAIR_MAX_WINDOWS 1000
#define DAY_NS INT64_C(86400000000000)
#define COUNT_ANSWER_MAX (64u << 20)
/* A clock running ahead by up to this much (relay_cut_ahead) */
#define AHEAD_NS DAY_NS

struct win {
	int64_t lo, hi;   /* ns */
};

static int win_cmp(const void *a, const void *b)
{
	const struct win *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* The differing windows, cut at T0, in order, overlapping and adjacent
 * ones merged; how many (0 when none is a time window). */
static size_t windows(const struct ferry_verify_result *v, int64_t t0_ns, struct win *w)
{
	size_t i, n = 0, k;

	for (i = 0; i < v->ndiffs; i++) {
		const struct ferry_verify_diff *d = &v->diffs[i];

		if (!d->timed || d->t_lo >= t0_ns)
			continue;
		w[n].lo = d->t_lo;
		w[n].hi = d->t_hi < t0_ns ? d->t_hi : t0_ns;
		n++;
	}
	if (!n)
		return 0;
	qsort(w, n, sizeof(*w), win_cmp);
	for (i = 1, k = 0; i < n; i++) {
		if (w[i].lo <= w[k].hi) {
			if (w[i].hi > w[k].hi)
				w[k].hi = w[i].hi;
		} else {
			w[++k] = w[i];
		}
	}
	return k + 1;
}

/* ferry copy of the old store's [lo, hi) into the new store (schema NULL)
 * or its scratch schema; the points written, or -1 with r->figure. */
static int64_t copy_window(struct cut_ctx *c, const char *schema, int64_t lo, int64_t hi,
			   struct cut_result *r)
{
	struct ferry_copy_result *res = NULL;
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_copy_opts co;
	char start[32], end[32];
	int64_t n;

	ferry_copy_opts_init(&co);
	co.src = c->plan->old_url;
	co.dst = relay_cut_new(c);
	co.schema = schema;
	co.job = REPAIR_JOB;
	co.state = relay_cut_new_influx(c) ? c->db : NULL;
	co.create_db = relay_cut_new_influx(c);
	/* PostgreSQL: the scratch schema is empty, the copy makes its tables */
	co.data_only = relay_cut_new_influx(c);
	co.restart = 1;
	co.progress_mode = FERRY_PROGRESS_QUIET;
	relay_cut_plan_ts(c->plan, &co.ts);
	snprintf(start, sizeof(start), "%" PRId64, lo);
	snprintf(end, sizeof(end), "%" PRId64, hi);
	co.ts.start = start;
	co.ts.end = end;
	if (ferry_copy_run(&co, &res, &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "job %s (copying the old store's points "
			 "again where the new one misses some) stopped: %s", REPAIR_JOB, err.msg);
		ferry_copy_result_free(res);
		return -1;
	}
	n = res ? res->written : 0;
	ferry_copy_result_free(res);
	return n;
}

/* REPAIR_SCHEMA made anew, empty: the copy makes its tables in it as it
 * makes them in public (only the columns it writes).  0, or -1 with r. */
static int scratch_schema(struct cut_ctx *c, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;

	if (relay_pg_exec(c->pg, "DROP SCHEMA IF EXISTS " REPAIR_SCHEMA " CASCADE;"
			  " CREATE SCHEMA " REPAIR_SCHEMA, 0, NULL, NULL,
			  "cannot make the repair's scratch schema", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return -1;
	}
	return 0;
}

/* The narrow layout's value columns (mapping.c); the others are a
 * row's key: time (time_ns), series, measurement, field, tags. */
#define VALUE_COLS "'numeric_value', 'integer_value', 'text_value', 'boolean_value'"

/*
 * Into public's tables, the scratch rows of [lo, hi) they hold fewer
 * times than the scratch does; rows added and changed, or -1 with r.  A
 * row is its columns as the copy writes them (the scratch table's
 * columns, as text: the seam's identity too), so a column the user added
 * to the table (an id with a default, a note) neither makes every row
 * differ nor is given a NULL: it takes its default.
 *
 * A late point can also change a value the backfill copied (the same
 * series, time and field written again).  The relays never replace a
 * row of this table (a point written again is a second row), so a key
 * the table has as many times as the scratch is a copy of the old store
 * (backfill, catch-up, an earlier repair), stale now: its rows take the
 * old store's values, paired in the order of their values (an UPDATE, so
 * a user's column keeps its value; two points of one series within a
 * microsecond are two rows of one key without --keep-ns).  A key the
 * table has more or fewer times holds the relays' own too: a scratch row
 * is not added where the table has a version of its key the old store
 * has not (else the key would be there once more).
 */
static int64_t add_missing(struct cut_ctx *c, int64_t lo, int64_t hi, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	PGresult *tabs = NULL;
	int64_t added = 0, lo_us = val_floor_div(lo, 1000), hi_us = val_floor_div(hi, 1000);
	int i, step;

#define AGG(pre, cond) "string_agg(" pre "quote_ident(column_name), ', ' ORDER BY" \
	" ordinal_position) FILTER (WHERE column_name " cond " (" VALUE_COLS "))"
	if (relay_pg_exec(c->pg, "SELECT quote_ident(table_name), string_agg(quote_ident("
			  "column_name), ', ' ORDER BY ordinal_position), "
			  AGG("'p.' || ", "NOT IN") ", " AGG("'s.' || ", "NOT IN") ", "
			  AGG("'q.' || ", "NOT IN") ", " AGG("", "IN") ", " AGG("'p.' || ", "IN")
			  ", " AGG("'s.' || ", "IN") ", " AGG("'q.' || ", "IN") " FROM"
			  " information_schema.columns WHERE table_schema = '" REPAIR_SCHEMA "'"
			  " GROUP BY table_name", 0, NULL, &tabs, "cannot read the scratch tables",
			  &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		return -1;
	}
#undef AGG
	for (i = 0; i < PQntuples(tabs) && added >= 0; i++) {
		const char *q = PQgetvalue(tabs, i, 0), *cols = PQgetvalue(tabs, i, 1);
		const char *kp = PQgetvalue(tabs, i, 2), *ks = PQgetvalue(tabs, i, 3);
		const char *kq = PQgetvalue(tabs, i, 4), *v = PQgetvalue(tabs, i, 5);
		const char *vp = PQgetvalue(tabs, i, 6), *vs = PQgetvalue(tabs, i, 7);
		const char *vq = PQgetvalue(tabs, i, 8);
		int narrow = *v && *kp;   /* else no key to match rows by */

		for (step = !narrow; step < 2 && added >= 0; step++) {
			PGresult *res = NULL;
			int e;

			ferry_buf_clear(&sql);
#define WINDOW(a) " " a ".time >= timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond'" \
	" AND " a ".time < timestamptz 'epoch' + %" PRId64 " * interval '1 microsecond'"
			if (step == 0)   /* the old store's values, a key's rows paired */
				e = ferry_buf_addf(&sql,
					"UPDATE public.%s AS p SET (%s) = ROW(%s) FROM (SELECT p.ctid AS"
					" ferry_c, %s, row_number() OVER (PARTITION BY %s ORDER BY"
					" ROW(%s)::text) AS ferry_r, count(*) OVER (PARTITION BY %s) AS"
					" ferry_n FROM public.%s AS p WHERE" WINDOW("p") ") AS q, (SELECT *,"
					" row_number() OVER (PARTITION BY %s ORDER BY ROW(%s)::text) AS"
					" ferry_r, count(*) OVER (PARTITION BY %s) AS ferry_n FROM "
					REPAIR_SCHEMA ".%s AS s) AS s WHERE p.ctid = q.ferry_c AND"
					" (%s) = (%s) AND q.ferry_r = s.ferry_r AND q.ferry_n = s.ferry_n"
					" AND ROW(%s) IS DISTINCT FROM ROW(%s)",
					q, v, vs, kp, kp, vp, kp, q, lo_us, hi_us, ks, vs, ks, q, kq, ks,
					vp, vs);
			else
				e = ferry_buf_addf(&sql,
					"WITH s AS (SELECT %s, ROW(%s)::text AS ferry_k, row_number() OVER"
					" (PARTITION BY ROW(%s)::text) AS ferry_n FROM " REPAIR_SCHEMA ".%s),"
					" d AS (SELECT ROW(%s)::text AS ferry_k, count(*) AS ferry_n"
					" FROM public.%s AS p WHERE" WINDOW("p") " GROUP BY 1)"
					" INSERT INTO public.%s (%s) SELECT %s FROM s LEFT JOIN d USING"
					" (ferry_k) WHERE s.ferry_n > coalesce(d.ferry_n, 0)%s",
					cols, cols, cols, q, cols, q, lo_us, hi_us, q, cols, cols,
					narrow ? "" : " ON CONFLICT DO NOTHING");
			if (e >= 0 && step == 1 && narrow)
				e = ferry_buf_addf(&sql,
					" AND NOT EXISTS (SELECT 1 FROM public.%s AS p WHERE" WINDOW("p")
					" AND (%s) = (%s) AND NOT EXISTS (SELECT 1 FROM " REPAIR_SCHEMA
					".%s AS q WHERE (%s) = (%s) AND ROW(%s) IS NOT DISTINCT FROM"
					" ROW(%s))) ON CONFLICT DO NOTHING",
					q, lo_us, hi_us, kp, ks, q, kq, kp, vq, vp);
#undef WINDOW
			if (e < 0) {
				snprintf(r->figure, sizeof(r->figure), "out of memory");
				added = -1;
			} else if (relay_pg_exec(c->pg, sql.buf, 0, NULL, &res, step ?
						 "cannot add the missing rows" :
						 "cannot correct the rows a late point changed",
						 &err) < 0) {
				snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
				added = -1;
			} else {
				added += strtoll(PQcmdTuples(res), NULL, 10);
			}
			PQclear(res);
		}
	}
	PQclear(tabs);
	ferry_buf_release(&sql);
	return added;
}

/* Whether InfluxDB cut a result short (its max-row-limit): "partial"
 * on the result or on a series. */
static int cut_short(json_t *one)
{
	json_t *s;
	size_t i;

	if (json_is_true(json_object_get(one, "partial")))
		return 1;
	json_array_foreach(json_object_get(one, "series"), i, s)
		if (json_is_true(json_object_get(s, "partial")))
			return 1;
	return 0;
}

/* An InfluxQL query of the old store: its first result (borrowed from
 * *doc, which the caller frees), or NULL with the reason in r.  *partial
 * (may be NULL: then it is an error): InfluxDB cut it short. */
static json_t *ifx_ask(struct tm_ifx_writer *w, const char *iql, json_t **doc, int *partial,
		       struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf path = FERRY_BUF_INIT, body = FERRY_BUF_INIT, ans = FERRY_BUF_INIT;
	char ctype[128], *enc = curl_easy_escape(NULL, iql, 0);
	char *db = curl_easy_escape(NULL, tm_ifx_writer_db(w), 0);
	char *rp = tm_ifx_writer_rp(w) ? curl_easy_escape(NULL, tm_ifx_writer_rp(w), 0) : NULL;
	json_t *one = NULL;
	long st = 0;
	int e = 0;

	*doc = NULL;
	if (partial)
		*partial = 0;
	e |= ferry_buf_addf(&path, "/query?db=%s&epoch=ns%s%s", db ? db : "", rp ? "&rp=" : "",
			    rp ? rp : "");
	e |= ferry_buf_addf(&body, "q=%s", enc ? enc : "");
	if (e < 0 || !enc || !db) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	{
		const struct tm_ifx_req rq = { .method = "POST", .path = path.buf, .body = body.buf,
					       .n = body.len, .content_type =
					       "application/x-www-form-urlencoded",
					       .max = COUNT_ANSWER_MAX };

		if (tm_ifx_request(w, &rq, &st, ctype, sizeof(ctype), &ans, &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "cannot count the old store's "
				 "points: %s", err.msg);
			goto out;
		}
	}
	if (st != 200 || !(*doc = json_loadb(ans.buf, ans.len, 0, NULL)) ||
	    !(one = json_array_get(json_object_get(*doc, "results"), 0)) ||
	    json_object_get(one, "error")) {
		snprintf(r->figure, sizeof(r->figure), "cannot count the old store's points: "
			 "InfluxDB answered %ld to %.120s: %.200s", st, iql, ans.len ? ans.buf : "");
		one = NULL;
	} else if (cut_short(one)) {
		if (partial) {
			*partial = 1;
		} else {
			snprintf(r->figure, sizeof(r->figure), "cannot count the old store's points: "
				 "InfluxDB cut its answer to %.120s short (its max-row-limit)", iql);
			one = NULL;
		}
	}
out:
	curl_free(enc);
	curl_free(db);
	curl_free(rp);
	ferry_buf_release(&path);
	ferry_buf_release(&body);
	ferry_buf_release(&ans);
	return one;
}

/* The old store's counts, as last read (a temporary table of the plan's
 * session), and as read when the backfill began (the snapshot; a row
 * with m = '' marks it taken for that T0). */
#define OLD_NOW "pg_temp.ferry_old_now"
#define OLD_DDL \
	"CREATE TABLE IF NOT EXISTS ferry.cutover_old_days (t0 bigint NOT NULL," \
	" m text NOT NULL, d bigint NOT NULL, n bigint NOT NULL, PRIMARY KEY (t0, m, d))"
/* days an InfluxQL count covers at most (InfluxDB's max-select-buckets) */
#define SLICE_DAYS 1000
/* measurements a SHOW MEASUREMENTS page asks for */
#define MEAS_PAGE 500

/* The field values of measurement m before t0_ns per UTC day into
 * OLD_NOW: counts of at most SLICE_DAYS days each, from the day of its
 * first point.  0, or -1 with r. */
static int count_measurement(struct cut_ctx *c, struct tm_ifx_writer *w, const char *m,
			     int64_t t0_ns, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf iql = FERRY_BUF_INIT, d = FERRY_BUF_INIT, k = FERRY_BUF_INIT;
	json_t *doc = NULL, *one, *vals, *row;
	int64_t lo, hi, slice = SLICE_DAYS;
	size_t j, f;
	int rc = -1, e = 0;

	e |= ferry_buf_addstr(&iql, "SELECT * FROM ");
	e |= tm_ifx_add_ident(&iql, m, strlen(m));
	e |= ferry_buf_addf(&iql, " WHERE time < %" PRId64 " ORDER BY time ASC LIMIT 1", t0_ns);
	if (e < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	if (!(one = ifx_ask(w, iql.buf, &doc, NULL, r)))
		goto out;
	row = json_array_get(json_object_get(json_array_get(json_object_get(one, "series"), 0),
					     "values"), 0);
	if (!row) {
		rc = 0;   /* no point before T0 */
		goto out;
	}
	/* a slice InfluxDB cuts short (a max-row-limit under its days) is
	 * asked again in halves */
	for (lo = val_floor_div(json_integer_value(json_array_get(row, 0)), DAY_NS) * DAY_NS; lo < t0_ns;
	     lo = hi) {
		int partial;

		hi = t0_ns - lo > slice * DAY_NS ? lo + slice * DAY_NS : t0_ns;
		ferry_buf_clear(&iql);
		e |= ferry_buf_addstr(&iql, "SELECT count(*) FROM ");
		e |= tm_ifx_add_ident(&iql, m, strlen(m));
		e |= ferry_buf_addf(&iql, " WHERE time >= %" PRId64 " AND time < %" PRId64
				    " GROUP BY time(1d) fill(none)", lo, hi);
		json_decref(doc);
		doc = NULL;
		if (e < 0) {
			snprintf(r->figure, sizeof(r->figure), "out of memory");
			goto out;
		}
		if (!(one = ifx_ask(w, iql.buf, &doc, slice > 1 ? &partial : NULL, r)))
			goto out;
		if (slice > 1 && partial) {
			slice /= 2;
			hi = lo;
			continue;
		}
		vals = json_object_get(json_array_get(json_object_get(one, "series"), 0), "values");
		json_array_foreach(vals, j, row) {
			int64_t t = json_integer_value(json_array_get(row, 0)), sum = 0;

			for (f = 1; f < json_array_size(row); f++)
				sum += json_integer_value(json_array_get(row, f));
			e |= ferry_buf_addf(&d, "%s%" PRId64, d.len ? "," : "{", val_floor_div(t, DAY_NS));
			e |= ferry_buf_addf(&k, "%s%" PRId64, k.len ? "," : "{", sum);
		}
	}
	e |= ferry_pg_array_end(&d) | ferry_pg_array_end(&k);
	if (e < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	{
		const char *p[3] = { m, d.buf, k.buf };

		if (relay_pg_exec(c->pg, "INSERT INTO " OLD_NOW " SELECT $1, d, n FROM"
				  " unnest($2::bigint[], $3::bigint[]) AS u(d, n)", 3, p, NULL,
				  "cannot keep the old store's counts", &err) < 0) {
			snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(doc);
	ferry_buf_release(&iql);
	ferry_buf_release(&d);
	ferry_buf_release(&k);
	return rc;
}

/* The old store's field values before T0 per measurement and UTC day into
 * OLD_NOW (made anew), measurement by measurement: an answer of one
 * measurement's days in memory at a time.  0, or -1 with r. */
static int count_old(struct cut_ctx *c, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	struct tm_ifx_writer *w = NULL;
	ferry_url *u = NULL;
	json_t *doc = NULL, *one, *row, *vals;
	size_t j, off, n;
	int rc = -1;

	if (relay_pg_exec(c->pg, "DROP TABLE IF EXISTS " OLD_NOW "; CREATE TEMP TABLE"
			  " ferry_old_now (m text NOT NULL, d bigint NOT NULL, n bigint NOT NULL)",
			  0, NULL, NULL, "cannot keep the old store's counts", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		goto out;
	}
	if (ferry_url_parse(c->plan->old_url, &u, &err) < 0 || tm_ifx_writer_open(u, &w, &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "cannot count the old store's points: %s",
			 err.msg);
		goto out;
	}
	/* page by page: an answer InfluxDB cuts short (max-row-limit) would
	 * leave the measurements after it uncounted; a page it cuts goes on
	 * after its last name */
	for (off = 0;; off += n) {
		char q[96];
		int partial;

		snprintf(q, sizeof(q), "SHOW MEASUREMENTS LIMIT %d OFFSET %zu", MEAS_PAGE, off);
		json_decref(doc);
		if (!(one = ifx_ask(w, q, &doc, &partial, r)))
			goto out;
		vals = json_object_get(json_array_get(json_object_get(one, "series"), 0), "values");
		n = json_array_size(vals);
		json_array_foreach(vals, j, row) {
			const char *m = json_string_value(json_array_get(row, 0));

			if (m && count_measurement(c, w, m, c->plan->t0_us * 1000, r) < 0)
				goto out;
		}
		if (!n || (n < MEAS_PAGE && !partial))
			break;
	}
	rc = 0;
out:
	json_decref(doc);
	tm_ifx_writer_close(w);
	ferry_url_free(u);
	return rc;
}

/* OLD_NOW as the snapshot of this T0.  0, or -1 with r. */
static int keep_snapshot(struct cut_ctx *c, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	char t0[32];
	const char *p[1] = { t0 };

	snprintf(t0, sizeof(t0), "%" PRId64, c->plan->t0_us);
	if (relay_pg_exec(c->pg, OLD_DDL, 0, NULL, NULL, "cannot make ferry.cutover_old_days",
			  &err) < 0 ||
	    relay_pg_exec(c->pg, "BEGIN; DELETE FROM ferry.cutover_old_days", 0, NULL, NULL,
			  "cannot keep the old store's counts", &err) < 0 ||
	    relay_pg_exec(c->pg, "INSERT INTO ferry.cutover_old_days SELECT $1::bigint, m, d, n FROM "
			  OLD_NOW " UNION ALL SELECT $1::bigint, '', 0, 0", 1, p, NULL,
			  "cannot keep the old store's counts", &err) < 0 ||
	    relay_pg_exec(c->pg, "COMMIT", 0, NULL, NULL, "cannot keep the old store's counts",
			  &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		if (PQtransactionStatus(c->pg) != PQTRANS_IDLE)
			PQclear(PQexec(c->pg, "ROLLBACK"));
		return -1;
	}
	return 0;
}

/* Into PostgreSQL's narrow table only: its rows are counted as the old
 * store's points are */
static int counted(const struct cut_ctx *c)
{
	return !relay_cut_new_influx(c) &&
	       !(c->plan->layout && !strcmp(c->plan->layout, "wide")) &&
	       !(c->plan->map && *c->plan->map) && !strncasecmp(c->plan->old_url, "influx:", 7);
}

int relay_cut_old_snapshot(struct cut_ctx *c, struct cut_result *r)
{
	if (!counted(c) ||
	    (strcmp(c->plan->strategy, "blue-green") && strcmp(c->plan->strategy, "immediate")))
		return 0;
	return count_old(c, r) < 0 || keep_snapshot(c, r) < 0 ? -1 : 0;
}

/*
 * The days before T0 whose points in the old store changed since the
 * snapshot (their counts differ), as windows (cut at T0, consecutive
 * days as one) into *out; how many, or -1 with r.  *snap: whether there
 * was one (a plan begun by an older ferry has none: then the days where
 * the old store has more points than the table has rows, which the new
 * store's own rows of a day can hide).  OLD_NOW holds the counts read.
 */
static ssize_t changed_days(struct cut_ctx *c, struct win **out, int *snap, struct cut_result *r)
{
	const char *t = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf sql = FERRY_BUF_INIT;
	int64_t t0_ns = c->plan->t0_us * 1000;
	PGresult *res = NULL;
	struct win *win = NULL;
	ssize_t k = -1;
	char t0[32], *q = NULL;
	const char *p[1] = { t0 };
	int i;

	*out = NULL;
	*snap = 0;
	snprintf(t0, sizeof(t0), "%" PRId64, c->plan->t0_us);
	if (relay_pg_exec(c->pg, "SELECT to_regclass('ferry.cutover_old_days') IS NOT NULL AND"
			  " EXISTS (SELECT 1 FROM ferry.cutover_old_days WHERE t0 = $1::bigint"
			  " AND m = '')", 1, p, &res, "cannot read ferry.cutover_old_days", &err) < 0) {
		/* the EXISTS of a table that is not there fails: none */
		PQclear(res);
		res = NULL;
		err = (struct ferry_error)FERRY_ERROR_INIT;
	} else {
		*snap = !strcmp(PQgetvalue(res, 0, 0), "t");
		PQclear(res);
		res = NULL;
	}
	if (count_old(c, r) < 0)
		goto out;
	if (!(q = PQescapeIdentifier(c->pg, t, strlen(t)))) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	if ((*snap ? ferry_buf_addstr(&sql, "SELECT coalesce(a.d, b.d) FROM " OLD_NOW " a FULL JOIN"
				      " (SELECT m, d, n FROM ferry.cutover_old_days WHERE t0 = $1::bigint"
				      " AND m <> '') b USING (m, d) WHERE a.n IS DISTINCT FROM b.n"
				      " GROUP BY 1 ORDER BY 1") :
	     ferry_buf_addf(&sql, "SELECT a.d FROM " OLD_NOW " a LEFT JOIN (SELECT measurement AS m,"
			    " floor(extract(epoch FROM time) / 86400)::bigint AS d, count(*) AS n"
			    " FROM public.%s WHERE time < timestamptz 'epoch' + %" PRId64
			    " * interval '1 microsecond' AND $1::bigint IS NOT NULL GROUP BY 1, 2) p"
			    " USING (m, d) WHERE a.n > coalesce(p.n, 0) GROUP BY 1 ORDER BY 1", q,
			    c->plan->t0_us)) < 0) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	if (relay_pg_exec(c->pg, sql.buf, 1, p, &res, "cannot compare the counts", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		goto out;
	}
	if (PQntuples(res) && !(win = ferry_calloc((size_t)PQntuples(res), sizeof(*win)))) {
		snprintf(r->figure, sizeof(r->figure), "out of memory");
		goto out;
	}
	for (i = 0, k = 0; i < PQntuples(res); i++) {
		int64_t lo = strtoll(PQgetvalue(res, i, 0), NULL, 10) * DAY_NS;
		int64_t hi = lo + DAY_NS < t0_ns ? lo + DAY_NS : t0_ns;

		if (k && win[k - 1].hi == lo)
			win[k - 1].hi = hi;
		else
			win[k++] = (struct win){ lo, hi };
	}
	*out = win;
	win = NULL;
out:
	PQclear(res);
	PQfreemem(q);
	ferry_free(win);
	ferry_buf_release(&sql);
	return k;
}

/* The old store's points of windows w[0..k) added to the new store where
 * it misses them (PostgreSQL: through the scratch schema, made anew for
 * each window; InfluxDB: written over); how many rows (points), or -1
 * with r. */
static int64_t fix_windows(struct cut_ctx *c, const struct win *w, size_t k, struct cut_result *r)
{
	struct ferry_error err = FERRY_ERROR_INIT;
	int pg = !relay_cut_new_influx(c);
	int64_t added = 0, n;
	size_t i;

	for (i = 0; i < k; i++) {
		if (pg)
			n = scratch_schema(c, r) < 0 ||
			    copy_window(c, REPAIR_SCHEMA, w[i].lo, w[i].hi, r) < 0 ? -1 :
			    add_missing(c, w[i].lo, w[i].hi, r);
		else
			n = copy_window(c, NULL, w[i].lo, w[i].hi, r);
		if (n < 0) {
			added = -1;
			break;
		}
		added += n;
	}
	if (pg && relay_pg_exec(c->pg, "DROP SCHEMA IF EXISTS " REPAIR_SCHEMA " CASCADE", 0,
				NULL, NULL, "cannot drop the repair's scratch schema", &err) < 0 &&
	    added >= 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", err.msg);
		added = -1;
	}
	return added;
}

int64_t relay_cut_repair(struct cut_ctx *c, const struct ferry_verify_result *v, size_t *nwin,
			 struct cut_result *r)
{
	int64_t t0_ns = c->plan->t0_us * 1000, added;
	struct win *w = NULL;
	int snap = 0;
	size_t k;

	*nwin = 0;
	if (relay_cut_new_influx(c)) {
		if (!v || !v->ndiffs)
			return 0;
		if (!(w = ferry_calloc(v->ndiffs, sizeof(*w)))) {
			snprintf(r->figure, sizeof(r->figure), "out of memory");
			return -1;
		}
		k = windows(v, t0_ns, w);
	} else if (!counted(c) || (v && !v->ndiffs)) {
		return 0;   /* wide, a map: no count of rows per point to compare */
	} else {
		ssize_t sk = changed_days(c, &w, &snap, r);

		if (sk < 0)
			return -1;
		k = (size_t)sk;
	}
	if (relay_cut_new_influx(c) && k > REPAIR_MAX_WINDOWS) {
		ferry_free(w);
		return 0;   /* not late points: the verify's figure says what differs */
	}
	added = k ? fix_windows(c, w, k, r) : 0;
	/* what was read before the copies is what they added from */
	if (added >= 0 && snap && keep_snapshot(c, r) < 0)
		added = -1;
	if (added >= 0)
		*nwin = k;
	ferry_free(w);
	return added;
}

int64_t relay_cut_ahead(struct cut_ctx *c, struct cut_result *r)
{
	struct win w;

	/* into InfluxDB not: the old store's point would be written over the
	 * new store's of the same series and time, written since */
	if (!c->plan->t1_us || !counted(c))
		return 0;
	w.lo = c->plan->t1_us * 1000;
	w.hi = w.lo + AHEAD_NS;
	return fix_windows(c, &w, 1, r);
}
