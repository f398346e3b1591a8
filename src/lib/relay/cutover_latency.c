/*
 * cutover_latency.c - the query-latency gate of validate, and the user's
 * queries recorded at prepare (--query NAME=SQL, --queries FILE).
 *
 * A set of representative queries runs LAT_RUNS times against the new
 * store (PostgreSQL) and, when it has an InfluxQL twin, against the old
 * one (InfluxDB's /query); the gate passes when every query's p95 on the
 * new store is under the threshold (100 ms), and shows the old store's
 * beside it, so a reader-facing slowdown is seen before the switch.
 *
 * The narrow layout has three by default (one device: the one written
 * last, so a live one): the latest value of every device (a loose index
 * scan over the (series, time) index), the device's last 24 h, and its
 * hourly average over a week.  The wide and map layouts have no tables
 * ferry can guess queries for: there, only the user's run.
 */
#include <curl/curl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "ferry/url.h"
#include "relay/cutover_int.h"
#include "tsmap/tsmap.h"
#include "wire/sqltext.h"
#include "wire/yaml.h"

#define LAT_RUNS 5
#define LAT_ANSWER_MAX (64u << 20)

/* ---- prepare: the user's queries as a JSON array of {name, sql, influxql} -- */

static int add_query(json_t *arr, const char *name, size_t nl, const char *sql,
		     const char *iql, const char *where, struct ferry_error *err)
{
	json_t *o;
	size_t i;
	json_t *v;

	if (!nl)
		return ferry_error_set(err, FERRY_EUSAGE, "%s: a query needs a name", where);
	json_array_foreach(arr, i, v) {
		const char *n = json_string_value(json_object_get(v, "name"));

		if (n && strlen(n) == nl && !memcmp(n, name, nl))
			return ferry_error_set(err, FERRY_EUSAGE, "%s: query '%.*s' is given twice",
					       where, (int)nl, name);
	}
	if (!sql || !*sql)
		return ferry_error_set(err, FERRY_EUSAGE, "%s: query '%.*s' has no SQL (give "
				       "sql: for the new store)", where, (int)nl, name);
	if (!(o = json_pack("{s:s%, s:s, s:s?}", "name", name, nl, "sql", sql, "influxql",
			    iql && *iql ? iql : NULL)) || json_array_append_new(arr, o) < 0)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	return 0;
}

/* FILE: a mapping NAME: {sql: ..., influxql: ...}. */
static int queries_file(json_t *arr, const char *path, struct ferry_error *err)
{
	struct wire_yaml y = { NULL, NULL };
	struct wire_yaml_error ye;
	struct fy_node *root;
	struct fy_node_pair *p;
	void *it = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int rc = 0;

	if (!(f = fopen(path, "rb")))
		return ferry_error_set(err, FERRY_EUSAGE, "cannot read --queries file '%s'", path);
	{
		struct ferry_buf b = FERRY_BUF_INIT;
		char chunk[4096];
		size_t n;

		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			if (ferry_buf_add(&b, chunk, n) < 0)
				break;
		fclose(f);
		if (ferry_buf_error(&b)) {
			ferry_buf_release(&b);
			return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
		}
		text = ferry_buf_detach(&b, &len);
	}
	if ((rc = wire_yaml_parse(text ? text : "", len, &y, &ye)) < 0) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--queries file '%s', line %d: %s", path,
				     ye.line, ye.msg);
		goto out;
	}
	root = y.doc ? fy_document_root(y.doc) : NULL;
	if (!root || fy_node_get_type(root) != FYNT_MAPPING) {
		rc = ferry_error_set(err, FERRY_EUSAGE, "--queries file '%s': give a mapping of "
				     "NAME: {sql: ..., influxql: ...}", path);
		goto out;
	}
	while (rc == 0 && (p = fy_node_mapping_iterate(root, &it)) != NULL) {
		struct fy_node *v = fy_node_pair_value(p);
		char *name = wire_yaml_str(fy_node_pair_key(p)), *sql = NULL, *iql = NULL;
		char where[512];

		snprintf(where, sizeof(where), "--queries file '%s', query '%s'", path,
			 name ? name : "?");
		if (!name || !v || fy_node_get_type(v) != FYNT_MAPPING) {
			rc = ferry_error_set(err, FERRY_EUSAGE, "%s: give sql: (and influxql:) "
					     "under the name", where);
		} else {
			struct fy_node_pair *q;
			void *it2 = NULL;

			while (rc == 0 && (q = fy_node_mapping_iterate(v, &it2)) != NULL) {
				char *k = wire_yaml_str(fy_node_pair_key(q));

				if (k && !strcmp(k, "sql") && !sql)
					sql = wire_yaml_str(fy_node_pair_value(q));
				else if (k && !strcmp(k, "influxql") && !iql)
					iql = wire_yaml_str(fy_node_pair_value(q));
				else
					rc = ferry_error_set(err, FERRY_EUSAGE, "%s: unknown key '%s' "
							     "(sql:, influxql:)", where, k ? k : "?");
				ferry_free(k);
			}
			if (rc == 0)
				rc = add_query(arr, name, strlen(name), sql, iql, where, err);
		}
		ferry_free(name);
		ferry_free(sql);
		ferry_free(iql);
	}
out:
	wire_yaml_release(&y);
	ferry_free(text);
	return rc;
}

int relay_cut_queries(const struct ferry_cutover_opts *o, char **json, struct ferry_error *err)
{
	json_t *arr = json_array();
	size_t i;
	int rc = 0;

	*json = NULL;
	if (!arr)
		return ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	for (i = 0; i < o->nqueries && rc == 0; i++) {
		const char *q = o->queries[i], *eq = strchr(q, '=');

		if (!eq)
			rc = ferry_error_set(err, FERRY_EUSAGE, "--query '%s': give NAME=SQL", q);
		else
			rc = add_query(arr, q, (size_t)(eq - q), eq + 1, NULL, "--query", err);
	}
	if (rc == 0 && o->queries_file)
		rc = queries_file(arr, o->queries_file, err);
	if (rc == 0 && json_array_size(arr) &&
	    !(*json = json_dumps(arr, JSON_COMPACT)))
		rc = ferry_error_set(err, FERRY_ENOMEM, "out of memory");
	json_decref(arr);
	return rc;
}

/* ---- the gate ------------------------------------------------------------------ */

struct lat {
	double p95_ms, med_ms;
	char err[1100];           /* "" when it ran */
};

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest rank */
static void summarize(double *ms, int n, struct lat *l)
{
	qsort(ms, (size_t)n, sizeof(*ms), dbl_cmp);
	l->p95_ms = ms[(int)ceil(0.95 * n) - 1];
	l->med_ms = ms[n / 2];
}

static void time_pg(PGconn *pg, const char *sql, struct lat *l)
{
	double ms[LAT_RUNS];
	int i;

	for (i = 0; i < LAT_RUNS; i++) {
		int64_t t = relay_pg_now_ms();
		struct ferry_error err = FERRY_ERROR_INIT;
		PGresult *res = NULL;

		if (relay_pg_exec(pg, sql, 0, NULL, &res, "the query failed", &err) < 0) {
			snprintf(l->err, sizeof(l->err), "%s", err.msg);
			return;
		}
		PQclear(res);
		ms[i] = (double)(relay_pg_now_ms() - t);
	}
	summarize(ms, LAT_RUNS, l);
}

static void time_ifx(struct tm_ifx_writer *w, const char *iql, struct lat *l)
{
	struct ferry_buf path = FERRY_BUF_INIT, body = FERRY_BUF_INIT, ans = FERRY_BUF_INIT;
	double ms[LAT_RUNS];
	char *enc = curl_easy_escape(NULL, iql, 0), *db;
	char ctype[128];
	int i, e = 0;

	db = curl_easy_escape(NULL, tm_ifx_writer_db(w), 0);
	e |= ferry_buf_addf(&path, "/query?db=%s&epoch=ns", db ? db : "");
	e |= ferry_buf_addf(&body, "q=%s", enc ? enc : "");
	curl_free(enc);
	curl_free(db);
	if (e < 0 || !enc) {
		snprintf(l->err, sizeof(l->err), "out of memory");
		goto out;
	}
	for (i = 0; i < LAT_RUNS; i++) {
		struct ferry_error err = FERRY_ERROR_INIT;
		int64_t t = relay_pg_now_ms();
		long st = 0;
		const struct tm_ifx_req rq = { .method = "POST", .path = path.buf,
					       .body = body.buf, .n = body.len,
					       .content_type = "application/x-www-form-urlencoded",
					       .max = LAT_ANSWER_MAX };

		if (tm_ifx_request(w, &rq, &st, ctype, sizeof(ctype), &ans, &err) < 0) {
			snprintf(l->err, sizeof(l->err), "%s", err.msg);
			goto out;
		}
		if (st != 200 || (ans.len && strstr(ans.buf, "\"error\""))) {
			snprintf(l->err, sizeof(l->err), "InfluxDB answered %ld: %.200s", st,
				 ans.len ? ans.buf : "");
			goto out;
		}
		ms[i] = (double)(relay_pg_now_ms() - t);
	}
	summarize(ms, LAT_RUNS, l);
out:
	ferry_buf_release(&path);
	ferry_buf_release(&body);
	ferry_buf_release(&ans);
}

/* The narrow layout's defaults into arr, for device dev (the series written
 * last); 0, or -1 with the reason in r. */
static int defaults(struct cut_ctx *c, json_t *arr, struct cut_result *r)
{
	const char *t = c->plan->table && *c->plan->table ? c->plan->table : "telemetry_data";
	const char *tag = c->plan->series_tag && *c->plan->series_tag ? c->plan->series_tag :
			  "entity_id";
	struct ferry_error err = FERRY_ERROR_INIT;
	struct ferry_buf q = FERRY_BUF_INIT, s = FERRY_BUF_INIT, x = FERRY_BUF_INIT;
	char *qt = PQescapeIdentifier(c->pg, t, strlen(t)), *lit = NULL, *dev;
	PGresult *res = NULL;
	int e = 0, rc = -1;

	if (!qt) {
		snprintf(r->figure, sizeof(r->figure), "cannot quote table name '%s'", t);
		return -1;
	}
	e |= ferry_buf_addf(&q, "SELECT series FROM %s ORDER BY time DESC LIMIT 1", qt);
	if (e < 0 || relay_pg_exec(c->pg, q.buf, 0, NULL, &res, "cannot pick a device", &err) < 0) {
		snprintf(r->figure, sizeof(r->figure), "%s", e < 0 ? "out of memory" : err.msg);
		goto out;
	}
	if (PQntuples(res) != 1) {
		snprintf(r->figure, sizeof(r->figure), "table %s is empty: nothing to query", t);
		goto out;
	}
	dev = PQgetvalue(res, 0, 0);
	lit = PQescapeLiteral(c->pg, dev, strlen(dev));
	e |= wire_influxql_literal(&x, dev, strlen(dev));
	ferry_buf_clear(&q);
	e |= ferry_buf_addf(&q, "WITH RECURSIVE s AS (SELECT min(series) AS series FROM %s"
			    " UNION ALL SELECT (SELECT min(series) FROM %s WHERE series > s.series)"
			    " FROM s WHERE s.series IS NOT NULL)"
			    " SELECT s.series, l.* FROM s CROSS JOIN LATERAL (SELECT time, field,"
			    " numeric_value FROM %s WHERE series = s.series ORDER BY time DESC"
			    " LIMIT 1) l", qt, qt, qt);
	e |= ferry_buf_addf(&s, "SELECT last(\"value\") FROM /.*/ GROUP BY \"%s\"", tag);
	if (e < 0 || !lit || !q.buf || !s.buf ||
	    json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name", "latest-per-device",
						 "sql", q.buf, "influxql", s.buf)) < 0)
		goto nomem;
	ferry_buf_clear(&q);
	ferry_buf_clear(&s);
	e |= ferry_buf_addf(&q, "SELECT time, field, numeric_value, text_value FROM %s WHERE"
			    " series = %s AND time >= now() - interval '24 hours' ORDER BY time",
			    qt, lit);
	e |= ferry_buf_addf(&s, "SELECT * FROM /.*/ WHERE \"%s\" = %s AND time >= now() - 24h",
			    tag, x.buf);
	if (e < 0 || json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name",
							  "device-last-24h", "sql", q.buf,
							  "influxql", s.buf)) < 0)
		goto nomem;
	ferry_buf_clear(&q);
	ferry_buf_clear(&s);
	e |= ferry_buf_addf(&q, "SELECT date_trunc('hour', time) AS hour, avg(numeric_value)"
			    " FROM %s WHERE series = %s AND field = 'value' AND time >= now() -"
			    " interval '7 days' GROUP BY 1 ORDER BY 1", qt, lit);
	e |= ferry_buf_addf(&s, "SELECT mean(\"value\") FROM /.*/ WHERE \"%s\" = %s AND"
			    " time >= now() - 7d GROUP BY time(1h)", tag, x.buf);
	if (e < 0 || json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "name",
							  "hourly-avg-week", "sql", q.buf,
							  "influxql", s.buf)) < 0)
		goto nomem;
	rc = 0;
	goto out;
nomem:
	snprintf(r->figure, sizeof(r->figure), "out of memory");
out:
	PQclear(res);
	PQfreemem(qt);
	PQfreemem(lit);
	ferry_buf_release(&q);
	ferry_buf_release(&s);
	ferry_buf_release(&x);
	return rc;
}

void relay_cut_g_latency(struct cut_ctx *c, const struct cut_gate *g, struct cut_result *r)
{
	int narrow = !(c->plan->layout && !strcmp(c->plan->layout, "wide")) &&
		     !(c->plan->map && *c->plan->map) && !relay_cut_new_influx(c);
	struct tm_ifx_writer *w = NULL, *nw = NULL;
	struct ferry_buf fig = FERRY_BUF_INIT;
	json_t *qs = NULL, *v;
	ferry_url *u = NULL, *nu = NULL;
	double worst = 0;
	size_t i;
	int e = 0, bad = 0;

	qs = c->plan->queries ? json_loads(c->plan->queries, 0, NULL) : json_array();
	if (!qs) {
		snprintf(r->figure, sizeof(r->figure), "ferry.cutover_plan holds unreadable "
			 "queries");
		return;
	}
	if (narrow && defaults(c, qs, r) < 0)
		goto out;
	if (!json_array_size(qs)) {
		r->pass = 1;
		snprintf(r->figure, sizeof(r->figure), "no queries to time: the %s layout has no "
			 "default ones (give prepare --query NAME=SQL or --queries FILE)",
			 narrow ? "narrow" : c->plan->map && *c->plan->map ? "map" : "wide");
		goto out;
	}
	{
		struct ferry_error err = FERRY_ERROR_INIT;

		/* the old store's side is a comparison, not the gate: without
		 * it the figures say why */
		if (ferry_url_parse(c->plan->old_url, &u, &err) < 0 ||
		    tm_ifx_writer_open(u, &w, &err) < 0)
			e |= ferry_buf_addf(&fig, "(old store not timed: %s) ", err.msg);
		/* an InfluxDB new store: its queries are the influxql ones */
		ferry_error_clear(&err);
		if (relay_cut_new_influx(c) &&
		    (ferry_url_parse(relay_cut_new(c), &nu, &err) < 0 ||
		     tm_ifx_writer_open(nu, &nw, &err) < 0)) {
			snprintf(r->figure, sizeof(r->figure), "cannot reach the new store: %s",
				 err.msg);
			goto out;
		}
	}
	json_array_foreach(qs, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		const char *sql = json_string_value(json_object_get(v, "sql"));
		const char *iql = json_string_value(json_object_get(v, "influxql"));
		struct lat n, o;

		memset(&n, 0, sizeof(n));
		memset(&o, 0, sizeof(o));
		if (!nw)
			time_pg(c->pg, sql ? sql : "", &n);
		else if (iql)
			time_ifx(nw, iql, &n);
		else
			snprintf(n.err, sizeof(n.err), "no influxql: (an InfluxDB new store)");
		if (iql && w)
			time_ifx(w, iql, &o);
		if (n.err[0]) {
			bad = 1;
			e |= ferry_buf_addf(&fig, "%s%s: failed on the new store: %s", i ? "; " : "",
					    name, n.err);
			continue;
		}
		if (n.p95_ms >= g->threshold)
			bad = 1;
		if (n.p95_ms > worst)
			worst = n.p95_ms;
		e |= ferry_buf_addf(&fig, "%s%s p95 %.0f ms", i ? "; " : "", name, n.p95_ms);
		if (iql && w && !o.err[0])
			e |= ferry_buf_addf(&fig, " (old %.0f ms)", o.p95_ms);
		else if (iql && w)
			e |= ferry_buf_addf(&fig, " (old: %s)", o.err);
		else
			e |= ferry_buf_addf(&fig, " (old: no influxql)");
	}
	e |= ferry_buf_addf(&fig, "; %d runs each, threshold p95 < %g ms", LAT_RUNS,
			    g->threshold);
	r->value = worst;
	r->pass = !bad;
	snprintf(r->figure, sizeof(r->figure), "%s", e < 0 ? "out of memory" : fig.buf);
out:
	json_decref(qs);
	tm_ifx_writer_close(w);
	tm_ifx_writer_close(nw);
	ferry_url_free(u);
	ferry_url_free(nu);
	ferry_buf_release(&fig);
}
