/*
 * metrics.c - the relay's counters and latency histograms, rendered as
 * Prometheus text (/metrics) and as one JSON object (/stats).
 *
 * Every number is a C11 atomic bumped with relaxed order: the HTTP pool's
 * threads and the committer threads add concurrently, and a scrape needs
 * no lock (a scrape may see one counter a request ahead of another; each
 * is exact on its own).  A histogram keeps per-bucket (not cumulative)
 * counts and its sum in nanoseconds, so an observation is two adds; the
 * renderer accumulates the buckets and takes the count from them, so +Inf
 * always equals _count even while observations land mid-scrape.
 *
 * Names follow Prometheus' conventions: ferry_relay_ prefix, base units
 * (seconds, bytes), counters end in _total, labels store="old"|"new" and
 * kind="influx"|"postgres" (the few series are fixed: no per-device or
 * per-database labels, whose cardinality a client would control).
 */
#include <jansson.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ferry/alloc.h"
#include "ferry/buf.h"
#include "relay/mqtt_int.h"
#include "relay/relay_int.h"

/* Upper bounds in seconds; the last bucket is +Inf. */
static const double bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
				 0.5, 1, 2.5, 5, 10 };
static const char *const bound_text[] = { "0.001", "0.0025", "0.005", "0.01", "0.025",
					  "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
					  "10", "+Inf" };
#define NBOUNDS (sizeof(bounds) / sizeof(bounds[0]))
#define NBUCKETS (NBOUNDS + 1)

struct hist {
	_Atomic uint64_t bucket[NBUCKETS];   /* not cumulative */
	_Atomic uint64_t sum_ns;
};

struct relay_metrics {
	_Atomic uint64_t c[RELAY_C_N];
	_Atomic uint64_t s[2][RELAY_S_N];
	struct hist store[2];
	struct hist request;
};

int relay_metrics_new(struct relay_metrics **out)
{
	struct relay_metrics *m = ferry_calloc(1, sizeof(*m));
	size_t i, j;

	if (!m)
		return FERRY_ENOMEM;
	/* calloc's zeroes are valid atomics on every platform we build on,
	 * but say it the standard way */
	for (i = 0; i < RELAY_C_N; i++)
		atomic_init(&m->c[i], 0);
	for (i = 0; i < 2; i++)
		for (j = 0; j < RELAY_S_N; j++)
			atomic_init(&m->s[i][j], 0);
	*out = m;
	return 0;
}

void relay_metrics_free(struct relay_metrics *m)
{
	ferry_free(m);
}

void relay_metrics_add(struct relay_metrics *m, int counter, uint64_t n)
{
	if (m && counter >= 0 && counter < RELAY_C_N)
		atomic_fetch_add_explicit(&m->c[counter], n, memory_order_relaxed);
}

void relay_metrics_store_add(struct relay_metrics *m, int store, int counter, uint64_t n)
{
	if (m && (store == RELAY_OLD || store == RELAY_NEW) && counter >= 0 &&
	    counter < RELAY_S_N)
		atomic_fetch_add_explicit(&m->s[store][counter], n, memory_order_relaxed);
}

uint64_t relay_metrics_store_get(struct relay_metrics *m, int store, int counter)
{
	if (!m || (store != RELAY_OLD && store != RELAY_NEW) || counter < 0 ||
	    counter >= RELAY_S_N)
		return 0;
	return atomic_load_explicit(&m->s[store][counter], memory_order_relaxed);
}

void relay_metrics_observe(struct relay_metrics *m, int store, double seconds)
{
	struct hist *h;
	size_t i;

	if (!m)
		return;
	if (store == RELAY_OLD || store == RELAY_NEW)
		h = &m->store[store];
	else if (store == -1)
		h = &m->request;
	else
		return;
	if (!(seconds >= 0))   /* also NaN */
		seconds = 0;
	for (i = 0; i < NBOUNDS && seconds > bounds[i]; i++)
		;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9 + 0.5),
				  memory_order_relaxed);
}

/* ---- reading -------------------------------------------------------------- */

/* A histogram read once: cumulative counts, count and sum. */
struct hsnap {
	uint64_t cum[NBUCKETS];
	uint64_t count;
	double sum;
};

static void hist_snap(struct hist *h, struct hsnap *s)
{
	uint64_t run = 0;
	size_t i;

	for (i = 0; i < NBUCKETS; i++) {
		run += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		s->cum[i] = run;
	}
	s->count = run;
	s->sum = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
}

/* Prometheus' histogram_quantile(): linear inside the bucket holding rank
 * q*count; in the +Inf bucket the largest finite bound.  NAN when empty. */
static double hist_quantile(const struct hsnap *s, double q)
{
	double rank, lo = 0, prev = 0;
	size_t i;

	if (!s->count)
		return NAN;
	rank = q * (double)s->count;
	for (i = 0; i < NBOUNDS; i++) {
		if ((double)s->cum[i] >= rank) {
			double in = (double)s->cum[i] - prev;

			return in > 0 ? lo + (bounds[i] - lo) * (rank - prev) / in : bounds[i];
		}
		prev = (double)s->cum[i];
		lo = bounds[i];
	}
	return bounds[NBOUNDS - 1];
}

static const char *const store_label[2] = { "old", "new" };

static uint64_t ld(_Atomic uint64_t *a)
{
	return atomic_load_explicit(a, memory_order_relaxed);
}

/* ---- Prometheus text ------------------------------------------------------ */

static int head(struct ferry_buf *b, const char *name, const char *type, const char *help)
{
	return ferry_buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int hist_lines(struct ferry_buf *b, const char *name, const char *labels,
		      const struct hsnap *s)
{
	size_t i;
	int e = 0;

	for (i = 0; i < NBUCKETS; i++)
		e |= ferry_buf_addf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels,
				    *labels ? "," : "", bound_text[i],
				    (unsigned long long)s->cum[i]);
	e |= ferry_buf_addf(b, "%s_sum%s%s%s %.9g\n", name, *labels ? "{" : "", labels,
			    *labels ? "}" : "", s->sum);
	e |= ferry_buf_addf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
			    *labels ? "}" : "", (unsigned long long)s->count);
	return e;
}

int relay_metrics_prometheus(struct relay_metrics *m, const struct relay_gauges *g,
			     struct ferry_buf *out)
{
	static const struct { int c; const char *name, *help; } counters[] = {
		{ RELAY_C_REQUESTS, "ferry_relay_requests_total",
		  "Write requests received." },
		{ RELAY_C_POINTS_RECEIVED, "ferry_relay_points_received_total",
		  "Points in write requests that passed the checks." },
		{ RELAY_C_REJECTS, "ferry_relay_rejects_total",
		  "Lines refused by the checks." },
		{ RELAY_C_WRITE_ERRORS, "ferry_relay_write_errors_total",
		  "Write requests answered with a 5xx status." },
		{ RELAY_C_DEAD_LETTERS, "ferry_relay_dead_letters_total",
		  "Spooled points the secondary store refused, kept in dead-letters.ndjson." },
	};
	static const struct { int c; const char *name, *help; } scounters[] = {
		{ RELAY_S_POINTS_WRITTEN, "ferry_relay_points_written_total",
		  "Points a store committed." },
		{ RELAY_S_WRITES, "ferry_relay_store_writes_total",
		  "Writes to a store (requests or replay batches)." },
		{ RELAY_S_ERRORS, "ferry_relay_store_errors_total",
		  "Failed writes to a store." },
	};
	const char *phase = ferry_phase_name(g->phase);
	char labels[2][96];
	struct hsnap hs;
	size_t i;
	int st, e = 0;

	for (st = 0; st < 2; st++)
		if (g->store_kind[st])
			snprintf(labels[st], sizeof(labels[st]), "store=\"%s\",kind=\"%s\"",
				 store_label[st], g->store_kind[st]);
	for (i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		e |= head(out, counters[i].name, "counter", counters[i].help);
		e |= ferry_buf_addf(out, "%s %llu\n", counters[i].name,
				    (unsigned long long)ld(&m->c[counters[i].c]));
	}
	for (i = 0; i < sizeof(scounters) / sizeof(scounters[0]); i++) {
		e |= head(out, scounters[i].name, "counter", scounters[i].help);
		for (st = 0; st < 2; st++)
			if (g->store_kind[st])
				e |= ferry_buf_addf(out, "%s{%s} %llu\n", scounters[i].name,
						    labels[st], (unsigned long long)
						    ld(&m->s[st][scounters[i].c]));
	}
	e |= head(out, "ferry_relay_write_duration_seconds", "histogram",
		  "Latency of writes into a store.");
	for (st = 0; st < 2; st++)
		if (g->store_kind[st]) {
			hist_snap(&m->store[st], &hs);
			e |= hist_lines(out, "ferry_relay_write_duration_seconds", labels[st], &hs);
		}
	e |= head(out, "ferry_relay_request_duration_seconds", "histogram",
		  "Latency of write requests, received to answered.");
	hist_snap(&m->request, &hs);
	e |= hist_lines(out, "ferry_relay_request_duration_seconds", "", &hs);

	e |= head(out, "ferry_relay_spool_bytes", "gauge",
		  "Bytes of spooled records the secondary store has not taken yet.");
	e |= ferry_buf_addf(out, "ferry_relay_spool_bytes %llu\n",
			    (unsigned long long)g->spool_bytes);
	e |= head(out, "ferry_relay_spool_records", "gauge",
		  "Spooled records the secondary store has not taken yet.");
	e |= ferry_buf_addf(out, "ferry_relay_spool_records %llu\n",
			    (unsigned long long)g->spool_records);
	e |= head(out, "ferry_relay_replay_lag_seconds", "gauge",
		  "Age of the oldest spooled record not yet replayed.");
	e |= ferry_buf_addf(out, "ferry_relay_replay_lag_seconds %.9g\n", g->replay_lag_s);
	e |= head(out, "ferry_relay_ready", "gauge", "1 when the relay takes writes.");
	e |= ferry_buf_addf(out, "ferry_relay_ready %d\n", g->ready ? 1 : 0);
	e |= head(out, "ferry_relay_store_up", "gauge", "1 when a store takes writes.");
	for (st = 0; st < 2; st++)
		if (g->store_kind[st])
			e |= ferry_buf_addf(out, "ferry_relay_store_up{%s} %d\n", labels[st],
					    g->store_up[st] ? 1 : 0);
	e |= head(out, "ferry_relay_phase", "gauge",
		  "The cutover phase the relay follows (always 1; the phase is the label).");
	e |= ferry_buf_addf(out, "ferry_relay_phase{phase=\"%s\"} 1\n",
			    phase ? phase : "unknown");
	if (g->mqtt)
		e |= relay_mqtt_prometheus(g->mqtt, out);
	return e < 0 ? ferry_buf_error(out) : 0;
}

/* ---- JSON -------------------------------------------------------------------- */

static json_t *hist_json(struct hist *h)
{
	static const struct { const char *name; double q; } qs[] = {
		{ "p50", 0.5 }, { "p95", 0.95 }, { "p99", 0.99 }
	};
	struct hsnap s;
	json_t *o = json_object();
	size_t i;
	int e = 0;

	if (!o)
		return NULL;
	hist_snap(h, &s);
	e |= json_object_set_new(o, "count", json_integer((json_int_t)s.count));
	e |= json_object_set_new(o, "sum", json_real(s.sum));
	for (i = 0; i < 3; i++) {
		double v = hist_quantile(&s, qs[i].q);

		/* no observations: no estimate, null rather than a made-up 0 */
		e |= json_object_set_new(o, qs[i].name, isnan(v) ? json_null() : json_real(v));
	}
	if (e) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int set_u64(json_t *o, const char *k, uint64_t v)
{
	return json_object_set_new(o, k, json_integer((json_int_t)v));
}

int relay_metrics_json(struct relay_metrics *m, const struct relay_gauges *g,
		       struct ferry_buf *out)
{
	json_t *root = json_object(), *stores = json_object();
	const char *phase = ferry_phase_name(g->phase);
	char *text = NULL;
	int st, e = 0, rc;

	if (!root || !stores) {
		e = -1;
		goto out;
	}
	e |= json_object_set_new(root, "phase", json_string(phase ? phase : "unknown"));
	e |= json_object_set_new(root, "ready", json_boolean(g->ready));
	e |= set_u64(root, "requests", ld(&m->c[RELAY_C_REQUESTS]));
	e |= set_u64(root, "points_received", ld(&m->c[RELAY_C_POINTS_RECEIVED]));
	e |= set_u64(root, "rejects", ld(&m->c[RELAY_C_REJECTS]));
	e |= set_u64(root, "write_errors", ld(&m->c[RELAY_C_WRITE_ERRORS]));
	e |= set_u64(root, "dead_letters", ld(&m->c[RELAY_C_DEAD_LETTERS]));
	/* flat, named as the Prometheus gauges: scripts read them as
	 * .spool_records */
	e |= set_u64(root, "spool_bytes", g->spool_bytes);
	e |= set_u64(root, "spool_records", g->spool_records);
	e |= json_object_set_new(root, "replay_lag_seconds", json_real(g->replay_lag_s));
	for (st = 0; st < 2; st++) {
		json_t *s;

		if (!g->store_kind[st])
			continue;
		if (!(s = json_object())) {
			e = -1;
			break;
		}
		e |= json_object_set_new(s, "kind", json_string(g->store_kind[st]));
		e |= json_object_set_new(s, "up", json_boolean(g->store_up[st]));
		e |= set_u64(s, "points_written", ld(&m->s[st][RELAY_S_POINTS_WRITTEN]));
		e |= set_u64(s, "writes", ld(&m->s[st][RELAY_S_WRITES]));
		e |= set_u64(s, "errors", ld(&m->s[st][RELAY_S_ERRORS]));
		e |= json_object_set_new(s, "write_duration_seconds", hist_json(&m->store[st]));
		e |= json_object_set_new(stores, store_label[st], s);
	}
	e |= json_object_set(root, "stores", stores);
	e |= json_object_set_new(root, "request_duration_seconds", hist_json(&m->request));
	if (g->mqtt)
		e |= json_object_set_new(root, "mqtt", relay_mqtt_json(g->mqtt));
	if (!e && !(text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(9))))
		e = -1;
out:
	rc = e ? FERRY_ENOMEM : ferry_buf_addstr(out, text);
	free(text);
	json_decref(root);
	json_decref(stores);
	return rc;
}
